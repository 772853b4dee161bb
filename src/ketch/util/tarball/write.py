"""Write a directory tree as a tar stream, the way Docker's archive package does.

Used for `export`, `cp` out of a container, `commit` (a container's upper layer) and
anything else that turns files into a tar. The tree is walked from an open directory fd
with O_NOFOLLOW at every step, so a symlink inside the tree is archived as a symlink and
never followed, even if the tree changes while it is read (a running container's). The
walk is a loop over a DirPath (below), not recursion: a container makes its tree as deep as
it likes, and neither Python's stack nor the daemon's fds may run out on it. A regular file
is opened for reading only once it is known to be one (open_regular).

Headers as Docker writes them: PAX format, mtime in whole seconds, no user or group names
(never the host's), hard links as links to the first path of the inode, the
security.capability xattr kept, sockets skipped. In `whiteouts` mode the tree is an
overlayfs upper layer: a 0:0 character device becomes a `.wh.<name>` file and an opaque
directory gets a `.wh..wh..opq` entry, the layer format every image tool reads.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections.abc import Callable

from ketch.util.fswalk import GONE, DirPath, open_regular, sorted_names
from ketch.util.tarball import CAPABILITY_XATTR, OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX

_BLOCK = tarfile.BLOCKSIZE
_FLUSH = 1 << 20
_TYPES = {stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
          stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE,
          stat.S_IFIFO: tarfile.FIFOTYPE, stat.S_IFREG: tarfile.REGTYPE}

Sink = Callable[[bytes], object]


class TarWriter:
    """Tar entries written to sink in chunks of about 1 MiB; close() ends the archive."""

    def __init__(self, sink: Sink, *, whiteouts: bool = False,
                 owner: tuple[int, int] | None = None, mode: int | None = None,
                 mtime_clamp: int | None = None) -> None:
        self._sink = sink
        self._buffer = bytearray()
        self.whiteouts = whiteouts
        self.owner = owner  # (uid, gid) written for every entry instead of the files' own
        self.mode = mode  # permission bits for every file and directory (COPY --chmod)
        self.mtime_clamp = mtime_clamp  # no mtime later than this (SOURCE_DATE_EPOCH)
        self._links: dict[tuple[int, int], str] = {}
        self.bytes_written = 0

    # -- output -----------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if len(data) >= _FLUSH:  # big file chunks go out as they are, not copied twice
            self.flush()
            self.bytes_written += len(data)
            self._sink(data)
            return
        self._buffer += data
        if len(self._buffer) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self.bytes_written += len(self._buffer)
            self._sink(bytes(self._buffer))
            self._buffer.clear()

    def close(self) -> None:
        """The end-of-archive marker (two zero blocks), then everything is flushed."""
        self._write(b"\0" * (2 * _BLOCK))
        self.flush()

    def _header(self, info: tarfile.TarInfo) -> None:
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    # -- entries ----------------------------------------------------------------------------

    def _info(self, name: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        if self.mode is not None and not stat.S_ISLNK(st.st_mode):
            info.mode = self.mode
        info.uid, info.gid = self.owner if self.owner else (st.st_uid, st.st_gid)
        info.uname = info.gname = ""
        info.mtime = int(st.st_mtime)
        if self.mtime_clamp is not None:
            info.mtime = min(info.mtime, self.mtime_clamp)
        info.type = _TYPES.get(stat.S_IFMT(st.st_mode), tarfile.REGTYPE)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        return info

    def add_whiteout(self, name: str) -> None:
        """A deletion in layer format: `dir/.wh.<base>`, an empty file."""
        parent, _, base = name.rstrip("/").rpartition("/")
        info = tarfile.TarInfo(f"{parent}/{WHITEOUT_PREFIX}{base}" if parent
                               else f"{WHITEOUT_PREFIX}{base}")
        info.mode = 0o600
        info.uname = info.gname = ""
        self._header(info)

    def add_directory(self, name: str, mtime: int = 0, mode: int = 0o755) -> None:
        """A directory entry made up here (not from a file), e.g. in an image archive."""
        info = tarfile.TarInfo(name.rstrip("/") + "/")
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, mtime
        info.uname = info.gname = ""
        self._header(info)

    def add_stream(self, name: str, size: int, produce: Callable[[Sink], object],
                   mtime: int = 0, mode: int = 0o644) -> None:
        """A file of exactly size bytes that produce(write) writes."""
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, mode, mtime
        info.uname = info.gname = ""
        self._header(info)
        before = self.bytes_written + len(self._buffer)
        produce(self._write)
        if self.bytes_written + len(self._buffer) - before != size:
            raise ValueError(f"{name}: wrote a different size than announced")
        if size % _BLOCK:
            self._write(b"\0" * (_BLOCK - size % _BLOCK))

    def add_bytes(self, name: str, data: bytes, mtime: int = 0, mode: int = 0o644) -> None:
        self.add_stream(name, len(data), lambda write: write(data), mtime, mode)

    def add(self, parent_fd: int, base: str, name: str, *, recursive: bool = True) -> None:
        """The entry `base` of the directory parent_fd, archived as `name` (and, for a
        directory, everything under it when recursive). A name that vanished is skipped."""
        try:
            st = os.stat(base, dir_fd=parent_fd, follow_symlinks=False)
        except OSError as e:
            if e.errno in GONE:
                return
            raise
        if not stat.S_ISDIR(st.st_mode):
            self._entry(parent_fd, base, name, st)
            return
        with DirPath(parent_fd) as path:
            opened = path.enter(base)
            if opened is not None:
                self._directory(opened[0], name + "/", opened[1])
                if recursive:
                    self._walk(path, name + "/")

    def add_root(self, dir_fd: int, name: str = "", *, recursive: bool = True) -> None:
        """The directory dir_fd itself as `name` ("" leaves the root out: entries are
        relative, as in a layer or `docker export`), then its contents."""
        st = os.fstat(dir_fd)
        if name:
            self._directory(dir_fd, name.rstrip("/") + "/", st)
        if recursive:
            with DirPath(dir_fd) as path:
                self._walk(path, name.rstrip("/") + "/" if name else "")

    def _walk(self, path: DirPath, prefix: str) -> None:
        """Everything under the current directory of path, depth first in name order, each
        directory before its contents. A loop, not recursion: a container makes its tree
        as deep as it likes. Only the current path is held: its directories' sorted names
        and where each one's prefix ends."""
        current = path.fd()
        if current is None:
            return
        pending = [iter(sorted_names(current))]
        ends = [len(prefix)]
        while pending:
            base = next(pending[-1], None)
            if base is None:
                pending.pop()
                ends.pop()
                if ends:
                    path.leave()
                    prefix = prefix[:ends[-1]]
                continue
            parent_fd = path.fd()
            if parent_fd is None:  # moved away meanwhile: the rest of it is skipped
                pending[-1] = iter(())
                continue
            try:
                st = os.stat(base, dir_fd=parent_fd, follow_symlinks=False)
            except OSError as e:
                if e.errno in GONE:
                    continue
                raise
            if not stat.S_ISDIR(st.st_mode):
                self._entry(parent_fd, base, prefix + base, st)
                continue
            opened = path.enter(base)
            if opened is None:
                continue
            prefix += base + "/"
            self._directory(opened[0], prefix, opened[1])
            pending.append(iter(sorted_names(opened[0])))
            ends.append(len(prefix))

    def _entry(self, parent_fd: int, base: str, name: str, st: os.stat_result) -> None:
        """Anything but a directory."""
        mode = st.st_mode
        if stat.S_ISREG(mode):
            self._regular(parent_fd, base, name, st)
        elif stat.S_ISLNK(mode):
            info = self._info(name, st)
            try:
                info.linkname = os.readlink(base, dir_fd=parent_fd)
            except OSError as e:
                if e.errno in GONE or e.errno == errno.EINVAL:
                    return
                raise
            self._header(info)
        elif stat.S_ISCHR(mode) and self.whiteouts and st.st_rdev == 0:
            self.add_whiteout(name)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            self._header(self._info(name, st))
        # sockets (and anything else) have no tar form: skipped, as Docker does

    def _directory(self, fd: int, name: str, st: os.stat_result) -> None:
        self._header(self._info(name, st))
        if self.whiteouts:
            try:
                opaque = os.getxattr(fd, OPAQUE_XATTR)
            except OSError:
                opaque = b""
            if opaque == b"y":
                info = self._info(name + WHITEOUT_OPAQUE, st)
                info.type, info.mode = tarfile.REGTYPE, 0o600
                self._header(info)

    def _regular(self, parent_fd: int, base: str, name: str, st: os.stat_result) -> None:
        info = self._info(name, st)
        if st.st_nlink > 1:
            first = self._links.get((st.st_dev, st.st_ino))
            if first is not None:
                info.type, info.linkname = tarfile.LNKTYPE, first
                self._header(info)
                return
        opened = open_regular(parent_fd, base)
        if opened is None:
            return  # gone, or swapped for something else since the stat
        fd, st = opened
        try:
            info = self._info(name, st)
            info.size = st.st_size
            try:
                capability = os.getxattr(fd, CAPABILITY_XATTR)
            except OSError:
                pass
            else:
                info.pax_headers = {"SCHILY.xattr." + CAPABILITY_XATTR: capability.decode(
                    "utf-8", "surrogateescape")}
            if st.st_nlink > 1:
                self._links[(st.st_dev, st.st_ino)] = name
            self._header(info)
            self._content(fd, st.st_size)
        finally:
            os.close(fd)

    def _content(self, fd: int, size: int) -> None:
        """Exactly size bytes (a file that shrank meanwhile is padded with zeros, one
        that grew is cut), then the padding to a whole block."""
        remaining = size
        while remaining:
            chunk = os.read(fd, min(remaining, _FLUSH))
            if not chunk:
                chunk = b"\0" * min(remaining, _FLUSH)
            self._write(chunk)
            remaining -= len(chunk)
        if size % _BLOCK:
            self._write(b"\0" * (_BLOCK - size % _BLOCK))
