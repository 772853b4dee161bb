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
from types import TracebackType

from ketch.errors import Conflict

OPAQUE_XATTR = "trusted.overlay.opaque"
CAPABILITY_XATTR = "security.capability"
WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
MAX_DEPTH = 4096  # directory levels a walk goes down before it gives up (TreeTooDeep)
_TIER = 16  # a DirPath keeps its last 16 levels open, every 16th of the 256 above, ...
_BLOCK = tarfile.BLOCKSIZE
_FLUSH = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)  # changed under us: skip it
_TYPES = {stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
          stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE,
          stat.S_IFIFO: tarfile.FIFOTYPE, stat.S_IFREG: tarfile.REGTYPE}

Sink = Callable[[bytes], object]


class TarWriter:
    """Tar entries written to sink in chunks of about 1 MiB; close() ends the archive."""

    def __init__(self, sink: Sink, *, whiteouts: bool = False,
                 owner: tuple[int, int] | None = None) -> None:
        self._sink = sink
        self._buffer = bytearray()
        self.whiteouts = whiteouts
        self.owner = owner  # (uid, gid) written for every entry instead of the files' own
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
        info.uid, info.gid = self.owner if self.owner else (st.st_uid, st.st_gid)
        info.uname = info.gname = ""
        info.mtime = int(st.st_mtime)
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
            if e.errno in _GONE:
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
                if e.errno in _GONE:
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
                if e.errno in _GONE or e.errno == errno.EINVAL:
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


# -- reading a tree that may change under us --------------------------------------------------


class TreeTooDeep(Conflict):
    """A directory tree deeper than a walk goes (MAX_DEPTH levels)."""


def open_regular(dir_fd: int, name: str) -> tuple[int, os.stat_result] | None:
    """The regular file `name` of the directory dir_fd, opened for reading, and its fstat;
    None if it is gone or is not a regular file (a symlink is not followed).

    Two steps, because a plain open runs the driver's open of a device node (or blocks on
    a FIFO) before any fstat could refuse it, and a running container can swap one in
    after the caller's stat: an O_PATH open runs no driver code, and the reopen through
    /proc/self/fd reaches exactly the inode found to be a regular file."""
    try:
        handle = os.open(name, _PATH_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in _GONE:
            return None
        raise
    try:
        st = os.fstat(handle)
        if not stat.S_ISREG(st.st_mode):
            return None
        return os.open(f"/proc/self/fd/{handle}", _READ_FLAGS), st
    finally:
        os.close(handle)


def sorted_names(fd: int) -> list[str]:
    """The entries of the directory fd sorted by name, the order walks visit them in."""
    with os.scandir(fd) as it:
        return sorted(entry.name for entry in it)


class DirPath:
    """The directories down one path of a tree from its root fd, the path a depth-first
    walk is on: each opened from its parent by name with O_NOFOLLOW, so nothing outside
    the tree is reached even if a running container swaps a directory for a symlink.

    However deep the path, few fds stay open: a level d levels above the current one is
    kept while d < 16, or d < 256 and it is a multiple of 16, or d < 4096 and it is a
    multiple of 256, and so on: under 50 fds for 4096 levels. A level whose fd was closed
    is opened again when the walk is back in it, from the nearest open level above it, by
    name, and must be the very directory it was (device and inode); if it is not (moved or
    removed meanwhile), fd() is None and the walk skips the rest of it, as it skips
    anything that vanishes under it. That costs about one open per directory of the tree.
    Deeper than max_depth, enter() raises TreeTooDeep.
    """

    def __init__(self, root: int, max_depth: int = MAX_DEPTH) -> None:
        self.max_depth = max_depth
        self._fds: list[int | None] = [root]  # the caller's root, never closed here
        self._names = [""]
        self._ids = [(0, 0)]  # (st_dev, st_ino) of each level, to know it again

    def __enter__(self) -> DirPath:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    @property
    def depth(self) -> int:
        return len(self._fds) - 1

    @property
    def name(self) -> str:
        """The current directory's name in its parent ("" at the root)."""
        return self._names[-1]

    def fd(self) -> int | None:
        """The current directory (opened again if it was closed); None if it went away."""
        fd = self._fds[-1]
        return fd if fd is not None else self._reopen()

    def enter(self, name: str) -> tuple[int, os.stat_result] | None:
        """Go down into the subdirectory `name`: its fd and fstat, or None (and stay) if it
        is gone or not a directory (a symlink to one is not)."""
        parent = self.fd()
        if parent is None:
            return None
        if self.depth >= self.max_depth:
            raise TreeTooDeep(f"the directory tree is deeper than {self.max_depth} levels")
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as e:
            if e.errno in _GONE:
                return None
            raise
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fds.append(fd)
        self._names.append(name)
        self._ids.append((st.st_dev, st.st_ino))
        span = _TIER  # the levels now this far up are kept only at multiples of it
        while span < self.depth:
            if (self.depth - span) % span:
                self._close(self.depth - span)
            span *= _TIER
        return fd, st

    def leave(self) -> None:
        """Back up to the parent directory."""
        if not self.depth:
            raise ValueError("leave() at the root of a DirPath")
        self._ids.pop()
        self._names.pop()
        fd = self._fds.pop()
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        """Close every fd opened here (the root stays the caller's)."""
        while self.depth:
            self.leave()

    def _close(self, level: int) -> None:
        fd = self._fds[level]
        if fd is not None:
            self._fds[level] = None
            os.close(fd)

    def _reopen(self) -> int | None:
        level = kept = self.depth
        while self._fds[kept] is None:
            kept -= 1
        parent = self._fds[kept]
        assert parent is not None
        for i in range(kept + 1, level + 1):
            try:
                fd = os.open(self._names[i], _DIR_FLAGS, dir_fd=parent)
            except OSError as e:
                if e.errno not in _GONE:
                    raise
                fd = -1
            if fd >= 0:
                try:
                    st = os.fstat(fd)
                except BaseException:
                    os.close(fd)
                    raise
                if (st.st_dev, st.st_ino) != self._ids[i]:
                    os.close(fd)
                    fd = -1
            if i - 1 > kept and not _kept(i - 1, level):
                self._close(i - 1)  # only needed to open level i
            if fd < 0:
                return None
            self._fds[i] = parent = fd
        return parent


def _kept(level: int, depth: int) -> bool:
    """Whether a DirPath at depth keeps level open (see DirPath)."""
    span = 1
    while depth - level >= span * _TIER:
        span *= _TIER
    return level % span == 0
