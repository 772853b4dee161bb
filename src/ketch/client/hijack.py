"""A hijacked connection: after `101 UPGRADED` (or `200 OK`), the socket is a raw byte pipe.

Attach and exec start use it: stdin goes up the socket, the container's output comes down
(multiplexed frames without a tty, raw bytes with one). Half-closing the write side tells
the daemon that stdin is finished.
"""

from __future__ import annotations

import _socket

from ketch.client.http import Connection


class HijackedStream:
    """The raw stream of an upgraded connection. Reads may return bytes buffered while the
    response headers were parsed, so always read through this object, not the socket."""

    def __init__(self, conn: Connection, content_type: str = "") -> None:
        self.conn = conn
        self.content_type = content_type
        self._write_closed = False

    @property
    def multiplexed(self) -> bool:
        """True when the daemon announced the multiplexed stream type."""
        return self.content_type == "application/vnd.docker.multiplexed-stream"

    def read(self, size: int = 65536) -> bytes:
        """Up to `size` bytes as soon as some are available; b"" at the end of the stream."""
        try:
            return self.conn.reader.read1(size)
        except (OSError, ValueError):
            return b""

    def __iter__(self) -> HijackedStream:
        return self

    def __next__(self) -> bytes:
        data = self.read()
        if not data:
            raise StopIteration
        return data

    def write(self, data: bytes) -> None:
        self.conn.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: the daemon sees EOF on the container's stdin, output keeps coming."""
        if self._write_closed:
            return
        self._write_closed = True
        try:
            self.conn.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def shutdown(self) -> None:
        """End both directions; a read blocked in another thread returns b""."""
        try:
            self.conn.sock.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.shutdown()
        self.conn.close()
