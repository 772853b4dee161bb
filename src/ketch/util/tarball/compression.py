"""A layer tar stream as it arrives: compression recognised by magic bytes, decompressed
while streaming, and the diffID (sha256 of the uncompressed tar) computed on the way.

Plain tar, gzip, bzip2 and xz come from the standard library; zstd from `zstandard`.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

_CHUNK = 1 << 20
# what reading a damaged stream raises, by compression (gzip and bz2: OSError without errno)
ERRORS: tuple[type[Exception], ...] = (EOFError, ValueError, lzma.LZMAError, zlib.error)
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


class Prefixed(io.RawIOBase):
    """A stream with bytes already read from it put back in front; counts what it gives."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            self.count += n
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        self.count += len(data)
        return len(data)


class DigestReader(io.RawIOBase):
    """Reads through to a stream, hashing and counting every byte (the layer's diffID)."""

    def __init__(self, stream: BinaryIO,
                 observer: Callable[[bytes, int], None] | None = None,
                 hashing: bool = True) -> None:
        self._stream = stream
        self._hash = hashlib.sha256() if hashing else None
        self._observer = observer  # sees (bytes, their offset), e.g. a tar-split recorder
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        if self._hash is not None:
            self._hash.update(data)
        if self._observer is not None:
            self._observer(data, self.count)
        self.count += n
        return n

    def drain(self) -> None:
        """Read (and hash) whatever follows the tar's end marker, up to EOF."""
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return f"sha256:{self._hash.hexdigest()}" if self._hash is not None else ""


def compression(head: bytes) -> str:
    """'gzip', 'bzip2', 'xz', 'zstd' or '' (plain) from a stream's first bytes."""
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return ""


def _read_head(stream: BinaryIO, size: int = 6) -> bytes:
    head = b""
    while len(head) < size:
        data = stream.read(size - len(head))
        if not data:
            break
        head += data
    return head


@contextmanager
def decompressed(stream: BinaryIO) -> Iterator[tuple[BinaryIO, Prefixed]]:
    """The uncompressed tar bytes of stream, whatever its compression (never all in
    memory), and the reader of the stream itself (its count: bytes read, compressed)."""
    head = _read_head(stream)
    counted = Prefixed(head, stream)
    raw: BinaryIO = io.BufferedReader(counted, _CHUNK)
    kind = compression(head)
    if kind == "gzip":
        with gzip.GzipFile(fileobj=raw, mode="rb") as f:
            yield f, counted  # type: ignore[misc]
    elif kind == "bzip2":
        with bz2.BZ2File(raw, "rb") as f:
            yield f, counted  # type: ignore[misc]
    elif kind == "xz":
        with lzma.LZMAFile(raw, "rb") as f:
            yield f, counted  # type: ignore[misc]
    elif kind == "zstd":
        with _zstd(raw) as f:
            yield f, counted
    else:
        yield raw, counted


class _Zstd(io.RawIOBase):
    """zstandard's reader, its errors as ValueError like the standard library's codecs."""

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard  # only for zstd streams: the CLI starts without it

        self._error = zstandard.ZstdError
        self._reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self._reader.readinto(buffer))
        except self._error as e:
            raise ValueError(f"invalid zstd data: {e}") from None


@contextmanager
def _zstd(raw: BinaryIO) -> Iterator[BinaryIO]:
    with io.BufferedReader(_Zstd(raw), _CHUNK) as f:
        yield f
