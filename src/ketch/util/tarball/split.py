"""Keep a layer's exact tar bytes without keeping the tar: the idea of Docker's tar-split.

A layer's diffID is the sha256 of its uncompressed tar, so `save` and `push` must give back
those exact bytes. While a layer is extracted, everything of the stream that is not the
content of a regular file (headers, PAX records, padding, the end marker and whatever
follows it) is recorded, with a reference to the extracted file in place of its content.
Reassembling reads the headers from the record and the content from the layer's files.

Record format (zlib-compressed): a sequence of
    b"R" <u32 length> <bytes>                   raw stream bytes
    b"F" <u64 size> <u16 length> <path bytes>   `size` bytes of content from the file `path`
"""

from __future__ import annotations

import errno
import hashlib
import os
import struct
import zlib
from collections.abc import Callable, Iterator

from ketch.errors import HostError

_RAW = b"R"
_FILE = b"F"
_RAW_MAX = 1 << 20
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Recorder:
    """Sees every byte of the uncompressed stream, in order (feed), and is told which
    ranges are file content the extraction wrote to disk (content, before those bytes
    are fed past)."""

    def __init__(self, path: str) -> None:
        self._out = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._zip = zlib.compressobj(6)
        self._pending = bytearray()  # raw bytes from stream offset self._base on
        self._base = 0
        self._skip_from = 0  # bytes in [skip_from, skip_to) are content: not kept
        self._skip_to = 0

    def _emit(self, data: bytes) -> None:
        self._out.write(self._zip.compress(data))

    def _emit_raw(self, data: bytes | bytearray) -> None:
        for start in range(0, len(data), _RAW_MAX):
            part = data[start:start + _RAW_MAX]
            self._emit(_RAW + struct.pack(">I", len(part)) + bytes(part))

    def feed(self, data: bytes, offset: int) -> None:
        """data was read from the stream at offset."""
        end = offset + len(data)
        if end <= self._skip_from or offset >= self._skip_to:
            self._pending += data
            return
        if offset < self._skip_from:
            self._pending += data[: self._skip_from - offset]
        if end > self._skip_to:
            self._pending += data[self._skip_to - offset:]

    def content(self, start: int, size: int, path: str, read_so_far: int) -> None:
        """The stream's bytes [start, start+size) are the content of the file at path
        (relative to the layer); read_so_far bytes of the stream were fed already."""
        if size == 0:
            return
        keep = start - self._base  # raw bytes before the content, all fed already
        self._emit_raw(self._pending[:keep])
        encoded = os.fsencode(path)
        self._emit(_FILE + struct.pack(">QH", size, len(encoded)) + encoded)
        fed_content = max(0, min(read_so_far, start + size) - start)
        del self._pending[: keep + fed_content]
        self._base = start + size
        self._skip_from, self._skip_to = start, start + size

    def close(self) -> None:
        self._emit_raw(self._pending)
        self._pending.clear()
        self._out.write(self._zip.flush())
        self._out.close()

    def abort(self) -> None:
        self._out.close()


def length(record: str) -> int:
    """The size of the tar a record reassembles to, without reading the layer's files."""
    return sum(len(raw) if raw is not None else size
               for raw, size, _ in _entries(_read(record, record)))


def _read(record: str, what: str) -> bytes:
    try:
        with open(record, "rb") as f:
            return zlib.decompress(f.read())
    except (OSError, zlib.error) as e:
        raise HostError(f"layer {what} has no usable tar record: {e}") from None


def _entries(packed: bytes) -> Iterator[tuple[bytes | None, int, str]]:
    """(raw bytes, 0, "") or (None, size, path of a file) in order."""
    view, i = memoryview(packed), 0
    while i < len(view):
        kind = bytes(view[i:i + 1])
        if kind == _RAW:
            (size,) = struct.unpack_from(">I", view, i + 1)
            yield bytes(view[i + 5:i + 5 + size]), 0, ""
            i += 5 + size
        elif kind == _FILE:
            size, name_length = struct.unpack_from(">QH", view, i + 1)
            yield None, size, os.fsdecode(bytes(view[i + 11:i + 11 + name_length]))
            i += 11 + name_length
        else:
            raise HostError("corrupt tar record")


def _open_beneath(root_fd: int, path: str) -> int:
    """The file at path under root_fd, never through a symlink (a later entry of the layer
    may have replaced a directory with one)."""
    parts = path.split("/")
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)


def assemble(record: str, diff: str, sink: Callable[[bytes], object],
             expected: str | None = None) -> int:
    """Write the layer's original tar to sink; returns its length. With expected (the
    diffID), a result with another digest is an error (a layer changed on disk)."""
    digest = hashlib.sha256()
    total = 0

    def out(data: bytes) -> None:
        nonlocal total
        digest.update(data)
        total += len(data)
        sink(data)

    packed = _read(record, diff)
    root_fd = os.open(diff, _DIR_FLAGS)
    try:
        for raw, size, path in _entries(packed):
            if raw is not None:
                out(raw)
            else:
                _copy_file(root_fd, path, size, out)
    finally:
        os.close(root_fd)
    if expected is not None and f"sha256:{digest.hexdigest()}" != expected:
        raise HostError(f"layer {expected} changed on disk: its content no longer matches")
    return total


def _copy_file(root_fd: int, path: str, size: int, out: Callable[[bytes], None]) -> None:
    try:
        fd = _open_beneath(root_fd, path)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            raise HostError(f"layer file {path!r} is missing: the layer cannot be "
                            "reproduced") from None
        raise
    try:
        if os.fstat(fd).st_size != size:
            raise HostError(f"layer file {path!r} changed size: the layer cannot be "
                            "reproduced")
        remaining = size
        while remaining:
            chunk = os.read(fd, min(remaining, _CHUNK))
            if not chunk:
                raise HostError(f"layer file {path!r} is short")
            out(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
