"""Stream framing of the Engine API: the 8-byte multiplexed frames and JSON lines.

Without a tty, attach/logs/exec bodies are frames `[stream, 0, 0, 0, size (BE32)]` +
payload, stream 0 = stdin, 1 = stdout, 2 = stderr. With a tty they are raw bytes.
Progress bodies (import, pull, build, events) are JSON objects one after another.
"""

from __future__ import annotations

from ketch.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

STDIN, STDOUT, STDERR = 0, 1, 2
HEADER_SIZE = 8


def frame(stream: int, payload: bytes) -> bytes:
    """One multiplexed frame (what a daemon sends; handy for tests)."""
    return bytes((stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


class Demuxer:
    """Incremental decoder: feed bytes as they come, get (stream, payload) pairs out."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while len(self._buf) >= HEADER_SIZE:
            size = int.from_bytes(self._buf[4:8], "big")
            if len(self._buf) < HEADER_SIZE + size:
                break
            stream = self._buf[0]
            out.append((stream, bytes(self._buf[HEADER_SIZE:HEADER_SIZE + size])))
            del self._buf[:HEADER_SIZE + size]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered."""
        return len(self._buf)


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(stream, payload) for each frame of a multiplexed byte stream."""
    demuxer = Demuxer()
    for chunk in chunks:
        yield from demuxer.feed(chunk)


def json_lines(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Each JSON object of a progress stream (newline-separated or simply concatenated)."""
    buf = ""
    for chunk in chunks:
        buf += chunk.decode("utf-8", "replace")
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                obj, end = jsonio.raw_decode(buf)
            except ValueError:
                break  # incomplete: wait for more
            buf = buf[end:]
            if isinstance(obj, dict):
                yield obj
