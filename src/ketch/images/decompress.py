"""A layer tar stream as it arrives: compression recognised by magic bytes, decompressed
while streaming, and the diffID (sha256 of the uncompressed tar) computed on the way.

Plain tar, gzip, bzip2 and xz come from the standard library; zstd uses the `zstandard`
module when installed, else the `zstd` program, else it is refused with one clear line.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from ketch.errors import InvalidParameter

_CHUNK = 1 << 20
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read from it put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


class DigestReader(io.RawIOBase):
    """Reads through to a stream, hashing and counting every byte (the layer's diffID)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        self._hash.update(data)
        self.count += n
        return n

    def drain(self) -> None:
        """Read (and hash) whatever follows the tar's end marker, up to EOF."""
        while self._stream.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return f"sha256:{self._hash.hexdigest()}"


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
def decompressed(stream: BinaryIO) -> Iterator[BinaryIO]:
    """The uncompressed tar bytes of stream, whatever its compression; never all in memory."""
    head = _read_head(stream)
    raw: BinaryIO = io.BufferedReader(_Prefixed(head, stream), _CHUNK)
    kind = compression(head)
    if kind == "gzip":
        with gzip.GzipFile(fileobj=raw, mode="rb") as f:
            yield f  # type: ignore[misc]
    elif kind == "bzip2":
        with bz2.BZ2File(raw, "rb") as f:
            yield f  # type: ignore[misc]
    elif kind == "xz":
        with lzma.LZMAFile(raw, "rb") as f:
            yield f  # type: ignore[misc]
    elif kind == "zstd":
        with _zstd(raw) as f:
            yield f
    else:
        yield raw


@contextmanager
def _zstd(raw: BinaryIO) -> Iterator[BinaryIO]:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        with zstandard.ZstdDecompressor().stream_reader(raw) as f:
            yield f
        return
    program = shutil.which("zstd")
    if program is None:
        raise InvalidParameter("zstd-compressed archives need the zstd program or module")
    proc = subprocess.Popen(
        [program, "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def feed() -> None:
        try:
            while data := raw.read(_CHUNK):
                stdin.write(data)
        except (OSError, ValueError):
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    feeder = threading.Thread(target=feed, name="zstd-feed", daemon=True)
    feeder.start()
    try:
        yield proc.stdout  # type: ignore[misc]
        if proc.wait() != 0:
            raise InvalidParameter("invalid zstd-compressed archive")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        feeder.join(timeout=5)  # it may wait on a slow client; it is a daemon thread
