"""Just enough HTTP/1.1 for the Engine API over a unix socket.

http.client costs ~15 ms of imports (email.*); `ketch ps` must start as fast as `docker ps`,
so this module speaks the protocol itself: requests with Content-Length, responses with
Content-Length, chunked or close-delimited bodies, keep-alive, and the raw socket left
over after `101 UPGRADED` for hijacked streams.
"""

from __future__ import annotations

import _socket
import os

from ketch.client.errors import ProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

USER_AGENT = "ketch-client"
_CHUNK = 65536


class SocketReader:
    """Buffered reads from a socket (`readline`, `read1`), without the `socket`/`io` wrappers:
    `_socket` alone spares the CLI the import of enum, selectors and friends."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(_CHUNK)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit: int = 65537) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line, self.buf = self.buf[:end + 1], self.buf[end + 1:]
                return line
            if len(self.buf) >= limit or not self._fill():
                line, self.buf = self.buf, b""
                return line

    def read1(self, size: int = _CHUNK) -> bytes:
        """Buffered bytes if any, else what one recv brings; b"" at EOF."""
        if not self.buf and not self._fill():
            return b""
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def close(self) -> None:
        self.buf = b""


class Connection:
    """One HTTP/1.1 connection to a unix socket."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        self.path = path
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self.reader = SocketReader(self.sock)
        self.reused = False

    def send(self, method: str, target: str, headers: dict[str, str] | None = None,
             body: bytes | None = None) -> None:
        lines = [f"{method} {target} HTTP/1.1", "Host: api.moby.localhost",
                 f"User-Agent: {USER_AGENT}"]
        hdrs = dict(headers or {})
        chunked = hdrs.get("Transfer-Encoding") == "chunked"
        if (body is not None or method in ("POST", "PUT")) and not chunked:
            # never both: a server must reject Content-Length with Transfer-Encoding
            hdrs.setdefault("Content-Length", str(len(body or b"")))
        lines.extend(f"{k}: {v}" for k, v in hdrs.items())
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body:
            data += body
        self.sock.sendall(data)

    def send_body_stream(self, method: str, target: str, headers: dict[str, str],
                         source: BinaryIO) -> None:
        """A request whose body is read from `source` and sent chunked (imports, builds);
        a regular file goes with its length, by sendfile (no copy through Python)."""
        size = _file_size(source)
        if size is not None:
            self.send(method, target, {**headers, "Content-Length": str(size)})
            offset, end = source.tell(), source.tell() + size
            while offset < end:
                sent = os.sendfile(self.sock.fileno(), source.fileno(), offset,
                                   min(end - offset, 1 << 30))
                if not sent:
                    raise ConnectionResetError("the file shrank while it was sent")
                offset += sent
            return
        hdrs = dict(headers)
        hdrs["Transfer-Encoding"] = "chunked"
        self.send(method, target, hdrs)
        while True:
            block = source.read(_CHUNK)
            if not block:
                break
            self.sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
        self.sock.sendall(b"0\r\n\r\n")

    def read_response(self, method: str = "GET") -> Response:
        line = self.reader.readline(65537)
        if not line:
            raise ConnectionResetError("the daemon closed the connection")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ProtocolError(f"malformed status line from the daemon: {line!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        while True:
            raw = self.reader.readline(65537)
            if not raw:
                raise ProtocolError("the daemon closed the connection inside the headers")
            if raw in (b"\r\n", b"\n"):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(self, status, headers, method)

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


class Response:
    """Status, headers (lower-case names) and a body read on demand."""

    def __init__(self, conn: Connection, status: int, headers: dict[str, str],
                 method: str) -> None:
        self.conn = conn
        self.status = status
        self.headers = headers
        self.done = False
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: int | None = int(length) if length is not None else None
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        if no_body:
            self._remaining = 0
            self._chunked = False
        self.keep_alive = (headers.get("connection", "").lower() != "close"
                           and (self._chunked or self._remaining is not None))

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def iter_chunks(self) -> Iterator[bytes]:
        """The body as it arrives (chunked decoding done), until it ends."""
        reader = self.conn.reader
        if self._chunked:
            while True:
                size_line = reader.readline(1024)
                if not size_line:
                    raise ProtocolError("the daemon closed the connection inside a chunk")
                try:
                    size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                except ValueError:
                    raise ProtocolError("the daemon sent a malformed chunk") from None
                if size == 0:
                    while reader.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                while size > 0:
                    data = reader.read1(min(size, _CHUNK))
                    if not data:
                        raise ProtocolError("the daemon closed the connection inside a chunk")
                    size -= len(data)
                    yield data
                reader.readline(3)
        elif self._remaining is not None:
            while self._remaining > 0:
                data = reader.read1(min(self._remaining, _CHUNK))
                if not data:
                    raise ProtocolError("the daemon closed the connection inside a body")
                self._remaining -= len(data)
                yield data
        else:
            while True:
                data = reader.read1(_CHUNK)
                if not data:
                    break
                yield data
        self.done = True

    def read(self) -> bytes:
        return b"".join(self.iter_chunks())


def _file_size(source: BinaryIO) -> int | None:
    """What is left of a regular file to send (None for a pipe, a terminal, a socket)."""
    import stat

    try:
        st = os.fstat(source.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        return max(0, st.st_size - source.tell())
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both
        return None
