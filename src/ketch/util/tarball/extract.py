"""Apply a layer tar to a directory, treating the archive as hostile.

Every path is resolved one component at a time from an open directory fd with O_NOFOLLOW,
so nothing is ever written through a symlink and nothing lands outside the layer: names
that are absolute or contain `..` are refused, a parent that is a symlink or a file is
refused, hard links must point at files already in the same layer. Symlinks themselves may
point anywhere (they are only followed inside a container's root). Ownership, modes
(setuid included), xattrs and mtimes are kept; device nodes only when running as root.

AUFS-style whiteouts become overlayfs whiteouts: `.wh.name` a 0:0 character device named
`name`, `.wh..wh..opq` the xattr trusted.overlay.opaque=y on its directory.
The archive is read once, as a stream; its diffID is computed on the way.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import struct
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar, cast

from ketch.errors import Conflict, HostError, InvalidParameter, KetchError
from ketch.util.tarball import OPAQUE_XATTR, WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from ketch.util.tarball.compression import ERRORS, DigestReader, Prefixed, decompressed
from ketch.util.tarball.split import Recorder

_XATTR_PAX = "SCHILY.xattr."
_CHUNK = 1 << 20
T = TypeVar("T")
_ANCESTORS = 64  # directories kept open as starting points of walks
_SPACE_CHECK_EVERY = 64 << 20
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# xattr failures that mean "this filesystem or user cannot keep it": dropped, like Docker does
_XATTR_IGNORED = {errno.ENOTSUP, errno.EPERM, errno.EACCES, errno.EINVAL, errno.ERANGE, errno.E2BIG}
# tarfile reads a header's records whole: Go's archive/tar (so Docker) refuses PAX records
# and GNU long names over 1 MiB; the same bound holds for GNU sparse maps here
MAX_RECORD = 1 << 20
# extended headers before one entry: tarfile nests a call per header (recursion, and each
# level holds its record), so a chain of them is bounded too
_MAX_CHAIN = 8
# global PAX headers stay in force and are copied into every later entry
_MAX_GLOBAL = 64 << 10
_CHAIN = "_ketch_header_chain"  # how deep in a chain the TarFile's reader is
_INT64 = 1 << 63
_ID_MAX = (1 << 32) - 2  # uid_t/gid_t; (1 << 32) - 1 is -1, "leave unchanged", to chown
_MAJOR_LIMIT, _MINOR_LIMIT = 1 << 12, 1 << 20  # what Linux's mknod can store


@dataclass(frozen=True)
class Limits:
    """Bounds on what one layer may make, against archive and decompression bombs."""

    max_entries: int = 4_000_000
    max_bytes: int = 1 << 40  # file content, uncompressed
    max_depth: int = 512
    min_free_bytes: int = 256 << 20  # stop before the filesystem fills up
    # a compressed layer may expand this many times, once it has made ratio_floor bytes
    max_ratio: int = 1000
    ratio_floor: int = 256 << 20


@dataclass(frozen=True)
class AppliedLayer:
    diff_id: str  # "sha256:<hex>" of the uncompressed tar stream
    size: int  # bytes of content (regular files once per inode, symlink targets)
    entries: int


class StrictTarInfo(tarfile.TarInfo):
    """tarfile's TarInfo for archives that may be hostile (the `tarinfo=` of tarfile.open).

    tarfile silently ends the archive at a corrupt or cut header: refused instead. It also
    reads the records that come before an entry (PAX headers, GNU long names and sparse
    maps) whole into memory, several copies of them: each is refused past MAX_RECORD
    before it is read, as Go's archive/tar does. Otherwise this is Python 3.11's parsing.
    """

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> StrictTarInfo:
        depth: int = getattr(tarfile_, _CHAIN, 0)
        if depth > _MAX_CHAIN:
            raise InvalidParameter(
                f"invalid tar header: more than {_MAX_CHAIN} extended headers for one entry")
        setattr(tarfile_, _CHAIN, depth + 1)
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.HeaderError as e:
            if type(e).__name__ in ("EOFHeaderError", "EmptyHeaderError"):
                raise  # the end-of-archive marker, or EOF right after a member (as Go's reader)
            raise InvalidParameter(f"invalid tar header: {e}") from None
        finally:
            setattr(tarfile_, _CHAIN, depth)

    def _record_size(self, what: str) -> None:
        """Refuse the record this header announces if it is too big to read whole."""
        if not 0 <= self.size <= MAX_RECORD:
            raise InvalidParameter(f"invalid tar header: {what} of {self.size} bytes "
                                   f"(at most {MAX_RECORD})")

    # tarfile's own processing, once the size is known to be reasonable (the _proc_*
    # methods are tarfile's documented extension point, but not in its type stubs)

    def _proc_gnulong(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        self._record_size("GNU long name")
        return cast(tarfile.TarInfo, cast(Any, super())._proc_gnulong(tarfile_))

    def _proc_pax(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        self._record_size("PAX header")
        member = cast(tarfile.TarInfo, cast(Any, super())._proc_pax(tarfile_))
        if self.type == tarfile.XGLTYPE and _pax_size(tarfile_.pax_headers) > _MAX_GLOBAL:
            raise InvalidParameter(f"invalid tar header: global PAX headers over "
                                   f"{_MAX_GLOBAL} bytes")
        return member

    def _proc_sparse(self, tarfile_: tarfile.TarFile) -> StrictTarInfo:
        """An old GNU sparse header (Python 3.11's code): its map may continue in any
        number of extension blocks, read here up to MAX_RECORD."""
        structs, isextended, origsize = self._sparse_structs  # type: ignore[attr-defined]
        del self._sparse_structs  # type: ignore[attr-defined]
        read = 0
        while isextended:
            read += tarfile.BLOCKSIZE
            if read > MAX_RECORD:
                raise InvalidParameter(f"invalid tar header: GNU sparse map over "
                                       f"{MAX_RECORD} bytes")
            buf = _read_block(tarfile_)
            pos = 0
            for _ in range(21):
                try:
                    offset = tarfile.nti(buf[pos:pos + 12])  # type: ignore[attr-defined]
                    numbytes = tarfile.nti(buf[pos + 12:pos + 24])  # type: ignore[attr-defined]
                except ValueError:
                    break
                if offset and numbytes:
                    structs.append((offset, numbytes))
                pos += 24
            isextended = bool(buf[504])
        self.sparse = structs
        self.offset_data = cast(Any, tarfile_.fileobj).tell()
        tarfile_.offset = self.offset_data + self._block(self.size)  # type: ignore[attr-defined]
        self.size = origsize
        return self

    def _proc_gnusparse_10(self, next_: tarfile.TarInfo, pax_headers: dict[str, str],
                           tarfile_: tarfile.TarFile) -> None:
        """A GNU 1.0 sparse map, in the data blocks before the content (Python 3.11's
        code): numbers, one a line, read here up to MAX_RECORD."""
        sparse: list[int] = []
        buf = _read_block(tarfile_)
        read = len(buf)
        try:
            fields, buf = buf.split(b"\n", 1)
            count = int(fields)
            while len(sparse) < count * 2:
                if b"\n" not in buf:
                    read += tarfile.BLOCKSIZE
                    if read > MAX_RECORD:
                        raise InvalidParameter(f"invalid tar header: GNU sparse map over "
                                               f"{MAX_RECORD} bytes")
                    buf += _read_block(tarfile_)
                number, buf = buf.split(b"\n", 1)
                sparse.append(int(number))
        except ValueError:
            raise InvalidParameter("invalid tar header: bad GNU sparse map") from None
        next_.offset_data = cast(Any, tarfile_.fileobj).tell()
        next_.sparse = list(zip(sparse[::2], sparse[1::2], strict=True))  # type: ignore[assignment]


def _next(tar: tarfile.TarFile, end_at_eof: bool) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except tarfile.ReadError as e:
        if end_at_eof and str(e) == "unexpected end of data":  # a member was whole
            return None
        raise


def _read_block(tarfile_: tarfile.TarFile) -> bytes:
    buf: bytes = cast(Any, tarfile_.fileobj).read(tarfile.BLOCKSIZE)
    if len(buf) != tarfile.BLOCKSIZE:
        raise InvalidParameter("invalid tar header: unexpected end of archive")
    return buf


def _pax_size(headers: Any) -> int:
    return sum(len(key) + len(value) for key, value in headers.items())


def check_numbers(member: tarfile.TarInfo) -> None:
    """Refuse numbers a header may hold but nothing can use (Go's reader refuses most of
    them too): they would otherwise fail deep down, as OverflowError."""
    # mtime is an int from the header, a float from a PAX record: inf and NaN fail the test
    fields = {"size": (member.size, 0, _INT64), "uid": (member.uid, 0, _ID_MAX + 1),
              "gid": (member.gid, 0, _ID_MAX + 1), "mtime": (member.mtime, 1 - _INT64, _INT64)}
    if member.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        fields["device major"] = (member.devmajor, 0, _MAJOR_LIMIT)
        fields["device minor"] = (member.devminor, 0, _MINOR_LIMIT)
    for what, (value, low, high) in fields.items():
        if not low <= value < high:
            raise InvalidParameter(
                f"invalid tar entry {member.name!r}: {what} {value} out of range")


def split_name(name: str) -> tuple[str, ...]:
    """A member name -> its path components inside the layer; InvalidParameter if it escapes."""
    if "\x00" in name:
        raise InvalidParameter(f"invalid tar entry {name!r}: NUL in name")
    if name.startswith("/") and name.strip("/"):
        raise InvalidParameter(f"invalid tar entry {name!r}: absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InvalidParameter(f"invalid tar entry {name!r}: path escapes the layer")
    return parts


@dataclass(frozen=True)
class Options:
    """How to extract: a layer (the default) or files copied into a container."""

    whiteouts: bool = True  # `.wh.` entries are deletions (layers), else plain files (cp)
    owner: tuple[int, int] | None = None  # (uid, gid) for every entry instead of the tar's
    tar_split: str | None = None  # where to record the stream for exact reassembly
    diff_id: bool = True  # compute the stream's digest (a layer's diffID; cp needs none)
    # `cp` into a directory, with Docker's untar rules: a `.` entry leaves the destination
    # alone and a relative symlink may not lead out of it; errors name paths under cp_dest
    cp_dest: str | None = None
    no_overwrite_dir_nondir: bool = False  # a directory and a non-directory never replace
    # each other (the API's noOverwriteDirNonDir)
    # the stream may end right after a member's content, with no padding and no end
    # blocks, as Go's reader allows and the docker CLI's build contexts sometimes do
    end_at_eof: bool = False
    # device nodes and FIFOs are made (not in a build context: the daemon reads its files,
    # and a node there would let a client have it read a host device or block on a FIFO)
    nodes: bool = True


def apply_layer(stream: BinaryIO, dest: str, limits: Limits | None = None,
                options: Options | None = None) -> AppliedLayer:
    """Extract the tar (plain or compressed) read from stream into the directory dest."""
    return apply_to(stream, os.open(dest, _DIR_FLAGS), limits, options)


def apply_to(stream: BinaryIO, dest_fd: int, limits: Limits | None = None,
             options: Options | None = None) -> AppliedLayer:
    """As apply_layer, into the directory dest_fd (closed when done)."""
    options = options or Options()
    try:
        recorder = Recorder(options.tar_split) if options.tar_split else None
    except BaseException:
        os.close(dest_fd)
        raise
    applier: _Applier | None = None
    try:
        with decompressed(stream) as (plain, compressed):
            reader = DigestReader(plain, recorder.feed if recorder else None, options.diff_id)
            applier = _Applier(dest_fd, limits or Limits(), options, recorder, reader, compressed)
            try:
                with tarfile.open(fileobj=reader, mode="r|", tarinfo=StrictTarInfo) as tar:
                    while (member := _next(tar, options.end_at_eof)) is not None:
                        tar.members.clear()  # type: ignore[attr-defined]  # a stream needs no index; keep memory flat
                        check_numbers(member)
                        applier.apply(member, tar)
                        applier.advance(tar)
                if recorder is not None:
                    recorder.end()
                applier.finish()
                applier.drain()
                if recorder is not None:
                    recorder.close()
                    recorder = None
            except tarfile.TarError as e:
                raise InvalidParameter(f"invalid tar archive: {e}") from None
            except (OverflowError, struct.error) as e:  # a number out of range check_numbers missed
                raise InvalidParameter(f"invalid tar archive: {e}") from None
            except ERRORS as e:
                raise InvalidParameter(f"invalid archive: {e}") from None
            except OSError as e:
                if e.errno is None:  # gzip and bz2 report bad data this way
                    raise InvalidParameter(f"invalid archive: {e}") from None
                raise HostError(f"failed to extract layer: {e.strerror}") from None
            finally:
                applier.close()
                if recorder is not None:
                    recorder.abort()
    except BaseException:
        if applier is None:  # failed before the applier took dest_fd and the recorder
            os.close(dest_fd)
            if recorder is not None:
                recorder.abort()
        raise
    return AppliedLayer(reader.digest, applier.size, applier.entries)


class _Applier:
    def __init__(self, root_fd: int, limits: Limits, options: Options,
                 recorder: Recorder | None, reader: DigestReader, compressed: Prefixed) -> None:
        self.limits = limits
        self.compressed = compressed
        self.options = options
        self.recorder = recorder
        self.reader = reader
        self.root_fd = root_fd
        self.privileged = os.geteuid() == 0
        self.size = 0
        self.entries = 0
        self._bytes = 0
        self._next_space_check = _SPACE_CHECK_EVERY
        # path -> (mode, mtime ns), set last; once a path, however often the archive has it
        self._dirs: dict[tuple[str, ...], tuple[int, int]] = {}
        self._cached: tuple[tuple[str, ...], int] | None = None
        # directories opened on the way down (path -> fd), where the next walk starts:
        # a layer's entries come directory by directory, and walking from the root for
        # each new one costs an open per level
        self._ancestors: dict[tuple[str, ...], int] = {}
    def close(self) -> None:
        self._invalidate()
        self._forget()
        os.close(self.root_fd)

    # -- walking ----------------------------------------------------------------------------

    def _invalidate(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def _forget(self, path: tuple[str, ...] = ()) -> None:
        """Drop the walks' starting points at path and below (all, for ())."""
        for key in [k for k in self._ancestors if k[: len(path)] == path]:
            os.close(self._ancestors.pop(key))

    def _remember(self, parts: tuple[str, ...], fd: int) -> None:
        if len(self._ancestors) >= _ANCESTORS:
            os.close(self._ancestors.pop(next(iter(self._ancestors))))  # the oldest
        self._ancestors[parts] = os.dup(fd)

    def _walk(self, parts: tuple[str, ...], name: str, create: bool) -> int:
        """A new fd for the directory at parts, never following a symlink (each level
        opened O_NOFOLLOW from the one above, or from one opened so before)."""
        start = len(parts)
        while start and parts[:start] not in self._ancestors:
            start -= 1
        fd = os.dup(self._ancestors[parts[:start]] if start else self.root_fd)
        try:
            for depth in range(start, len(parts)):
                part = parts[depth]
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise InvalidParameter(
                            f"invalid tar entry {name!r}: a parent is a symlink or not a directory"
                        ) from None
                    raise
                os.close(fd)
                fd = child
                self._remember(parts[:depth + 1], fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _parent(self, parts: tuple[str, ...], name: str) -> int:
        if self._cached is not None and self._cached[0] == parts:
            return self._cached[1]
        fd = self._walk(parts, name, create=True)
        self._invalidate()
        self._cached = (parts, fd)
        return fd

    def _fresh(self, parent_fd: int, path: tuple[str, ...], create: Callable[[], T]) -> T:
        """create() the entry at path; if the name is taken, make room and create again.
        (Trying first saves a lookup per entry: in a new layer, names are new.)"""
        try:
            return create()
        except FileExistsError:
            self._clear(parent_fd, path, keep_dir=False)
            return create()

    def _clear(self, parent_fd: int, path: tuple[str, ...], keep_dir: bool) -> bool:
        """Make room for a new entry at path; returns True if a directory stays in place."""
        base = path[-1]
        try:
            st = os.stat(base, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            if self._cached is not None and self._cached[0][: len(path)] == path:
                self._invalidate()  # the cached directory is inside the one going away
            self._forget(path)
            shutil.rmtree(base, dir_fd=parent_fd)
        else:
            os.unlink(base, dir_fd=parent_fd)
        return False

    # -- entries ----------------------------------------------------------------------------

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise InvalidParameter(f"layer has more than {self.limits.max_entries} entries")
        parts = split_name(member.name)
        if len(parts) > self.limits.max_depth:
            raise InvalidParameter(f"invalid tar entry {member.name!r}: path too deep")
        try:
            if not parts and self.options.cp_dest is not None:
                if self.options.no_overwrite_dir_nondir and not member.isdir():
                    self._no_overwrite(self.root_fd, ("",), member)
                return  # the destination keeps its own owner and mode, as Docker's untar
            if not parts:
                if not member.isdir():
                    raise InvalidParameter(f"invalid tar entry {member.name!r}: not a directory")
                self._attributes(member, fd=self.root_fd)
                self._dirs[()] = (member.mode, _mtime_ns(member))
                return
            if self.options.whiteouts and parts[-1].startswith(WHITEOUT_PREFIX):
                self._whiteout(parts, member)
                return
            parent_fd = self._parent(parts[:-1], member.name)
            self._entry(parent_fd, parts, member, tar)
        except KetchError:
            raise
        except OSError as e:
            raise _entry_error(e, member) from None
        except (OverflowError, struct.error) as e:  # a number out of range check_numbers missed
            raise InvalidParameter(f"invalid tar entry {member.name!r}: {e}") from None

    def advance(self, tar: tarfile.TarFile) -> None:
        """Read on to where the next header starts (what tarfile's next() would do, but in
        bounded pieces, counted against the bomb ratio, with the tar-split record written
        out on the way: a sparse entry may leave any amount of its data unread)."""
        stream: Any = tar.fileobj
        offset: int = tar.offset
        while (left := offset - stream.tell()) > 0:
            if not stream.read(min(left, _CHUNK)):
                break  # tarfile reports the cut archive
            self._check_ratio()
            if self.recorder is not None:
                self.recorder.flush(offset)
        self._check_ratio()  # headers and their records count too
        if self.recorder is not None:
            self.recorder.flush(offset)

    def drain(self) -> None:
        """Read (and hash) whatever follows the end marker, up to EOF: the layer's diffID
        covers it. Counted against the bomb ratio like the rest of the stream."""
        while self.reader.read(_CHUNK):
            self._check_ratio()

    def _entry(self, parent_fd: int, parts: tuple[str, ...], member: tarfile.TarInfo,
               tar: tarfile.TarFile) -> None:
        base = parts[-1]
        if self.options.no_overwrite_dir_nondir:
            self._no_overwrite(parent_fd, parts, member)
        if self.options.cp_dest is not None and member.issym():
            self._contained_link(parts, member)
        if member.isdir():
            try:
                os.mkdir(base, 0o700, dir_fd=parent_fd)
            except FileExistsError:
                if not self._clear(parent_fd, parts, keep_dir=True):
                    os.mkdir(base, 0o700, dir_fd=parent_fd)
            fd = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
            try:
                self._attributes(member, fd=fd)
            finally:
                os.close(fd)
            self._dirs[parts] = (member.mode, _mtime_ns(member))
        elif member.isreg():
            self._regular(parent_fd, base, member, tar, parts)
        elif member.issym():
            self._fresh(parent_fd, parts,
                        lambda: os.symlink(member.linkname, base, dir_fd=parent_fd))
            self.size += len(os.fsencode(member.linkname))
            self._attributes(member, parent_fd=parent_fd, base=base)
        elif member.islnk():
            self._hardlink(parent_fd, parts, member)
        elif member.ischr() or member.isblk() or member.isfifo():
            if not self.options.nodes:
                return
            if not member.isfifo() and not self.privileged:
                return  # device nodes need CAP_MKNOD; skipped like a rootless Docker does
            kind = stat.S_IFIFO if member.isfifo() else (
                stat.S_IFCHR if member.ischr() else stat.S_IFBLK)
            device = os.makedev(member.devmajor, member.devminor)
            self._fresh(parent_fd, parts,
                        lambda: os.mknod(base, kind | 0o600, device, dir_fd=parent_fd))
            self._node_attributes(parent_fd, base, kind, member)
        else:
            raise InvalidParameter(
                f"invalid tar entry {member.name!r}: unsupported type {member.type!r}"
            )

    def _cp_path(self, parts: tuple[str, ...]) -> str:
        return posixpath.join(self.options.cp_dest or "/", *parts)

    def _no_overwrite(self, parent_fd: int, parts: tuple[str, ...],
                      member: tarfile.TarInfo) -> None:
        try:
            st = os.stat(parts[-1] or ".", dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode) == member.isdir():
            return
        old, new = ("directory", "non-directory") if member.isdir() is False else (
            "non-directory", "directory")
        raise InvalidParameter(f'cannot overwrite {old} "{self._cp_path(parts)}" with {new} '
                               f'"{self.options.cp_dest or "/"}"')

    def _contained_link(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        """Docker's breakout check: the link, read from where it is, stays in cp_dest."""
        dest = posixpath.normpath(self.options.cp_dest or "/")
        target = posixpath.normpath("/".join((dest, *parts[:-1], member.linkname)))
        if target != dest and not target.startswith(dest.rstrip("/") + "/"):
            raise InvalidParameter(f'invalid symlink "{self._cp_path(parts)}" -> '
                                   f'"{member.linkname}"')

    def _regular(self, parent_fd: int, base: str, member: tarfile.TarInfo,
                 tar: tarfile.TarFile, parts: tuple[str, ...]) -> None:
        if member.size > self.limits.max_bytes - self._bytes:
            raise InvalidParameter(f"layer is larger than {self.limits.max_bytes} bytes")
        fd = self._fresh(parent_fd, parts, lambda: os.open(
            base, _CREATE_FLAGS, 0o600, dir_fd=parent_fd))
        try:
            if self.recorder is not None and member.sparse is None:
                self.recorder.content(member.offset_data, member.size, "/".join(parts),
                                      self.reader.count)
            read = content_reader(tar, member)
            # a sparse entry's content is not recorded as such: what of it was read is raw
            flush = self.recorder.flush if self.recorder is not None and \
                member.sparse is not None else None
            remaining = member.size
            while remaining:
                data = read(min(_CHUNK, remaining))
                if not data:
                    raise InvalidParameter(f"unexpected end of archive in {member.name!r}")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                remaining -= len(data)
                self._account(len(data))
                if flush is not None:
                    flush(tar.offset)
            self.size += member.size
            self._attributes(member, fd=fd)
        finally:
            os.close(fd)

    def _account(self, written: int) -> None:
        self._bytes += written
        self._check_ratio()
        if self._bytes >= self._next_space_check:
            self._next_space_check = self._bytes + _SPACE_CHECK_EVERY
            fs = os.fstatvfs(self.root_fd)
            if fs.f_bavail * fs.f_frsize < self.limits.min_free_bytes:
                raise HostError("no space left on device for the layer")

    def _check_ratio(self) -> None:
        """Every byte of the uncompressed stream counts (content, headers and records,
        what follows the end marker), not only what is written to disk."""
        expanded = self.reader.count
        if expanded > self.limits.ratio_floor and \
                expanded > self.limits.max_ratio * max(self.compressed.count, 1):
            raise InvalidParameter(
                f"layer expands to more than {self.limits.max_ratio} times its compressed "
                "size: refused as a decompression bomb")

    def _hardlink(self, parent_fd: int, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        base = parts[-1]
        target = split_name(member.linkname)
        if not target:
            raise InvalidParameter(f"invalid tar entry {member.name!r}: hard link to the root")
        if target == parts:
            return  # a link to itself: nothing to do
        try:
            target_fd = self._walk(target[:-1], member.name, create=False)
        except FileNotFoundError:
            target_fd = -1
        try:
            if target_fd < 0 or not _exists(target[-1], target_fd):
                raise InvalidParameter(
                    f"invalid tar entry {member.name!r}: hard link target "
                    f"{member.linkname!r} is not in the layer"
                )
            if stat.S_ISDIR(os.stat(target[-1], dir_fd=target_fd, follow_symlinks=False).st_mode):
                raise InvalidParameter(
                    f"invalid tar entry {member.name!r}: hard link to a directory"
                )
            self._fresh(parent_fd, parts, lambda: os.link(
                target[-1], base, src_dir_fd=target_fd, dst_dir_fd=parent_fd,
                follow_symlinks=False))
        finally:
            if target_fd >= 0:
                os.close(target_fd)

    def _whiteout(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        base = parts[-1]
        parent_fd = self._parent(parts[:-1], member.name)
        if base == WHITEOUT_OPAQUE:
            try:
                os.setxattr(parent_fd, OPAQUE_XATTR, b"y")
            except OSError as e:
                raise HostError(f"cannot mark an opaque directory: {e.strerror}") from None
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", ".."):
            raise InvalidParameter(f"invalid tar entry {member.name!r}: invalid whiteout")
        self._fresh(parent_fd, (*parts[:-1], name),
                    lambda: os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent_fd))
        if self.privileged:
            os.chown(name, member.uid, member.gid, dir_fd=parent_fd, follow_symlinks=False)

    # -- attributes -------------------------------------------------------------------------

    def _node_attributes(self, parent_fd: int, base: str, kind: int,
                         member: tarfile.TarInfo) -> None:
        """The attributes of a FIFO or device node just made, never through a symlink.

        Copied into a running container, the container may swap the new node for a
        symlink (to a host file) between mknod and chmod; chmod has no form that leaves a
        symlink alone, and fchmod needs the node open for I/O (a FIFO blocks, a device
        acts). So the node is held by an O_PATH|O_NOFOLLOW descriptor (a symlink would be
        held itself), checked to be a node of the kind made, and changed through
        /proc/self/fd/N: that names the held inode, whatever has become of its name."""
        fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
        try:
            if stat.S_IFMT(os.fstat(fd).st_mode) != kind:
                raise Conflict(f"{member.name!r} was replaced while it was being extracted")
            self._attributes(member, node=f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)

    def _attributes(self, member: tarfile.TarInfo, *, fd: int = -1, node: str = "",
                    parent_fd: int = -1, base: str = "") -> None:
        """Owner, mode, xattrs and mtime, in the order that keeps setuid bits and caps.
        Of an open file or directory (fd), a held node (node: its /proc/self/fd path,
        followed) or a symlink (base in parent_fd, never followed)."""
        symlink = member.issym()
        assert fd >= 0 or node or symlink  # only a symlink is changed by its name
        if self.privileged:
            uid, gid = self.options.owner or (member.uid, member.gid)
            if fd >= 0:
                os.fchown(fd, uid, gid)
            elif node:
                os.chown(node, uid, gid)
            else:
                os.chown(base, uid, gid, dir_fd=parent_fd, follow_symlinks=False)
        if not member.isdir() and not symlink:
            if fd >= 0:
                os.fchmod(fd, member.mode & 0o7777)
            else:
                os.chmod(node, member.mode & 0o7777)
        target: Any = fd if fd >= 0 else node or f"/proc/self/fd/{parent_fd}/{base}"
        for key, value in member.pax_headers.items():
            if not key.startswith(_XATTR_PAX):
                continue
            name = key[len(_XATTR_PAX):]
            if name.startswith("trusted.overlay."):
                continue  # overlayfs metadata is ours to write, never the archive's
            try:
                os.setxattr(target, name, value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=not symlink)
            except OSError as e:
                if e.errno not in _XATTR_IGNORED:
                    raise
        if not member.isdir():
            try:
                ns = _mtime_ns(member)
                if fd >= 0:
                    os.utime(fd, ns=(ns, ns))
                elif node:
                    os.utime(node, ns=(ns, ns))
                else:
                    os.utime(base, ns=(ns, ns), dir_fd=parent_fd, follow_symlinks=False)
            except (OverflowError, ValueError):
                pass

    def finish(self) -> None:
        """Directory modes and mtimes last (children change them), deepest first."""
        self._invalidate()
        for parts, (mode, ns) in sorted(self._dirs.items(), key=lambda d: -len(d[0])):
            try:
                fd = self._walk(parts, "", create=False)
            except (OSError, InvalidParameter):
                continue  # replaced by a later entry
            try:
                os.fchmod(fd, mode & 0o7777)
                os.utime(fd, ns=(ns, ns))
            except (OverflowError, ValueError):
                pass
            finally:
                os.close(fd)


def _entry_error(e: OSError, member: tarfile.TarInfo) -> KetchError:
    """What an entry's failure means: a bad name or a conflict in the archive (400), or
    the host's trouble."""
    if e.errno in (errno.ENAMETOOLONG, errno.EEXIST, errno.EISDIR, errno.ENOTDIR,
                   errno.ELOOP, errno.ENOENT):
        return InvalidParameter(f"invalid tar entry {member.name!r}: {e.strerror}")
    if e.errno == errno.ENOSPC:
        return HostError("no space left on device")
    return HostError(f"failed to extract {member.name!r}: {e.strerror}")


def content_reader(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[int], bytes]:
    """read(n) of the member's content. A plain member is read straight from the archive
    stream (what tarfile's own reader does, minus a buffer copy), with the stream's read
    size raised to the request: its default of 10 KiB costs a Python call per 10 KiB."""
    stream: Any = tar.fileobj
    if member.sparse is not None or not hasattr(stream, "bufsize"):
        source = tar.extractfile(member)
        assert source is not None
        return source.read
    small = stream.bufsize

    def read(n: int) -> bytes:
        stream.bufsize = max(small, n)
        try:
            data: bytes = stream.read(n)
        finally:
            stream.bufsize = small  # header reads stay small: a big buffer is sliced each time
        return data

    return read


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _mtime_ns(member: tarfile.TarInfo) -> int:
    """The mtime in ns; past what a timespec holds, the epoch (Docker's Chtimes does so)."""
    ns = int(member.mtime * 1_000_000_000)  # finite: check_numbers
    return ns if -_INT64 <= ns < _INT64 else 0
