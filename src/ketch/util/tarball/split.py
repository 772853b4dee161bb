"""Keep a layer's exact tar bytes without keeping the tar: the idea of Docker's tar-split.

A layer's diffID is the sha256 of its uncompressed tar, so `save` and `push` must give back
those exact bytes. While a layer is extracted, everything of the stream that is not the
content of a regular file (headers, PAX records, padding, the end marker and whatever
follows it) is recorded, with a reference to the extracted file in place of its content.
Reassembling reads the headers from the record and the content from the layer's files.

Record format (zlib-compressed): a sequence of
    b"R" <u32 length> <bytes>                   raw stream bytes
    b"F" <u64 size> <u16 length> <path bytes>   `size` bytes of content from the file `path`

Memory stays bounded both ways, whatever the stream holds: raw bytes are written out as
soon as the extraction is past them, and the record is read back a piece at a time.
"""

from __future__ import annotations

import errno
import hashlib
import os
import struct
import zlib
from collections.abc import Callable, Generator
from typing import BinaryIO

from ketch.errors import HostError

_RAW = b"R"
_FILE = b"F"
_RAW_MAX = 1 << 20
_CHUNK = 1 << 20
_FLUSH_AT = 64 << 10  # raw bytes gathered before they are written (fewer, larger records)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Recorder:
    """Sees every byte of the uncompressed stream, in order (feed), and is told which
    ranges are file content the extraction wrote to disk (content, before those bytes
    are fed past), where the next entry's header starts (flush: nothing before it can be
    content any more) and when the archive has ended (end: nothing after is content)."""

    def __init__(self, path: str) -> None:
        self._out = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._zip = zlib.compressobj(1)
        # raw bytes not written yet: the stream's bytes [base, base + len(pending)), always
        # contiguous (content is skipped before it is kept, or cut out in content())
        self._pending = bytearray()
        self._base = 0
        self._skip_from = 0  # bytes in [skip_from, skip_to) are content: not kept
        self._skip_to = 0
        self._ended = False

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        packed = self._zip.compress(data)
        if packed:
            self._out.write(packed)

    def _emit_raw(self, data: bytes | bytearray) -> None:
        with memoryview(data) as view:
            for start in range(0, len(view), _RAW_MAX):
                part = view[start:start + _RAW_MAX]
                self._emit(_RAW + struct.pack(">I", len(part)) + part)
                part.release()

    def _emit_pending(self, count: int) -> None:
        self._emit_raw(self._pending[:count])
        del self._pending[:count]
        self._base += count

    def feed(self, data: bytes, offset: int) -> None:
        """data was read from the stream at offset."""
        if self._ended:  # after the end marker: straight through, nothing kept
            self._emit_raw(data)
            return
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

    def flush(self, offset: int) -> None:
        """The extraction is past the stream's offset (where the next header starts): the
        bytes before it are headers, padding or unrecorded content, never a file's
        recorded content. Write them once a worthwhile amount has gathered."""
        count = min(len(self._pending), offset - self._base)
        if count >= _FLUSH_AT:
            self._emit_pending(count)

    def end(self) -> None:
        """The archive's end marker was read: everything from here on is raw."""
        self._emit_pending(len(self._pending))
        self._ended = True

    def close(self) -> None:
        self._emit_pending(len(self._pending))
        self._out.write(self._zip.flush())
        self._out.close()

    def abort(self) -> None:
        self._out.close()


class _Unpacker:
    """A record's bytes, inflated a bounded piece at a time."""

    def __init__(self, source: BinaryIO, what: str) -> None:
        self._source = source
        self._what = what
        self._zip = zlib.decompressobj()
        self._buffer = bytearray()
        self._pos = 0

    def _corrupt(self, why: str) -> HostError:
        return HostError(f"layer {self._what} has no usable tar record: {why}")

    def _more(self) -> bool:
        """Inflate some more into the buffer; False at the end of the record."""
        unzip = self._zip
        try:
            if unzip.unconsumed_tail:
                data = unzip.decompress(unzip.unconsumed_tail, _CHUNK)
            elif unzip.eof:
                return False
            else:
                packed = self._source.read(_CHUNK)
                if not packed:
                    raise self._corrupt("truncated")
                data = unzip.decompress(packed, _CHUNK)
        except zlib.error as e:
            raise self._corrupt(str(e)) from None
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data
        return True

    def _fill(self, size: int) -> bool:
        """At least size bytes are buffered; False if the record ends before any."""
        while len(self._buffer) - self._pos < size:
            if not self._more():
                if len(self._buffer) == self._pos:
                    return False
                raise self._corrupt("truncated")
        return True

    def take(self, size: int) -> bytes:
        """The next size bytes (b"" at the end of the record)."""
        if size == 0 or not self._fill(size):
            return b""
        data = bytes(self._buffer[self._pos:self._pos + size])
        self._pos += size
        return data

    def skip(self, size: int) -> None:
        while size:
            if not self._fill(1):
                raise self._corrupt("truncated")
            step = min(size, len(self._buffer) - self._pos)
            self._pos += step
            size -= step


def _entries(record: str, what: str,
             raw: bool = True) -> Generator[tuple[bytes | None, int, str], None, None]:
    """(raw bytes, their length, "") or (None, size, path of a file), in order; with
    raw=False the raw bytes are skipped (b"" in their place)."""
    try:
        source = open(record, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise HostError(f"layer {what} has no usable tar record: {e.strerror}") from None
    with source:
        packed = _Unpacker(source, what)
        while kind := packed.take(1):
            if kind == _RAW:
                (size,) = struct.unpack(">I", _exactly(packed, 4))
                if raw:
                    yield _exactly(packed, size), size, ""
                else:
                    packed.skip(size)
                    yield b"", size, ""
            elif kind == _FILE:
                size, name_length = struct.unpack(">QH", _exactly(packed, 10))
                yield None, size, os.fsdecode(_exactly(packed, name_length))
            else:
                raise HostError("corrupt tar record")


def _exactly(packed: _Unpacker, size: int) -> bytes:
    data = packed.take(size)
    if len(data) != size:
        raise HostError("corrupt tar record")
    return data


def length(record: str) -> int:
    """The size of the tar a record reassembles to, without reading the layer's files."""
    return sum(size for _, size, _ in _entries(record, record, raw=False))


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

    entries = _entries(record, diff)
    root_fd = os.open(diff, _DIR_FLAGS)
    try:
        for raw, size, path in entries:
            if raw is not None:
                out(raw)
            else:
                _copy_file(root_fd, path, size, out)
    finally:
        os.close(root_fd)
        entries.close()
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
