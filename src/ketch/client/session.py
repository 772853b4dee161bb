"""The wire layer of the client: connections, API version negotiation, requests, errors.

The `Api-Version` header decides the version (capped at ours) and every path is prefixed
with `/vX.Y`. Unlike the docker CLI we do not spend a `HEAD /_ping` round trip on it: a
first plain request goes out at our own version and the answer's header settles it; an
older daemon refuses that request ("client version ... is too new") before acting on it,
and then we ping and send it again. Streams and hijacks, whose bodies cannot be resent,
ping first. Sequential calls reuse one keep-alive connection; streams and hijacks get a
connection of their own.
"""

from __future__ import annotations

from ketch.client.errors import APIError, DaemonUnavailable, ProtocolError
from ketch.client.host import resolve_host, socket_path
from ketch.client.http import Connection, Response
from ketch.util import jsonio
from ketch.util.environ import getenv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, BinaryIO

    from ketch.client.hijack import HijackedStream

    QueryValue = str | int | bool | None

MAX_API_VERSION = "1.44"
"""The newest Engine API version this client speaks (ketchd reports 1.44)."""

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str) -> str:
    """Percent-encode a query value (what url.Values.Encode does, space as %20)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode())


def encode_query(query: Mapping[str, QueryValue] | None) -> str:
    """`a=1&b=x` from a mapping; booleans become 1/0 and None values are left out."""
    if not query:
        return ""
    parts = []
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "1" if value else "0"
        parts.append(f"{quote(key)}={quote(str(value))}")
    return "&".join(parts)


def version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


def error_message(status: int, body: bytes) -> str:
    """The daemon's `{"message": ...}`, else its text, else the status."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = jsonio.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    return text or f"HTTP status {status}"


class Session:
    """Connections to one daemon and the negotiated API version."""

    def __init__(self, host: str | None = None, version: str | None = None,
                 timeout: float | None = None) -> None:
        self.host = resolve_host(host)
        self.path = socket_path(self.host)
        self.timeout = timeout
        # DOCKER_API_VERSION pins the version, as it does for the docker CLI
        self._version = version or getenv("DOCKER_API_VERSION") or None
        self._idle: list[Connection] = []

    # -- connections ---------------------------------------------------------------------
    def connect(self) -> Connection:
        try:
            return Connection(self.path, self.timeout)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonUnavailable(self.host) from exc
        except PermissionError as exc:
            raise DaemonUnavailable(self.host) from exc

    def _checkout(self) -> Connection:
        try:
            conn = self._idle.pop()  # list.pop is atomic: no lock needed across threads
        except IndexError:
            return self.connect()
        conn.reused = True
        return conn

    def _checkin(self, conn: Connection) -> None:
        self._idle.append(conn)

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- version negotiation ---------------------------------------------------------------
    def ping(self) -> dict[str, str]:
        """HEAD /_ping (GET if HEAD is refused); the headers of the answer."""
        resp = self._exchange("HEAD", "/_ping")
        if resp.status >= 400:
            resp = self._exchange("GET", "/_ping")
        if resp.status >= 400:
            raise APIError(resp.status, error_message(resp.status, resp.body))
        return resp.headers

    @property
    def api_version(self) -> str:
        """The version every path is prefixed with, negotiated by ping if no answer has
        told it yet."""
        if self._version is None:
            self._settle_version(self.ping())
        assert self._version is not None
        return self._version

    def _settle_version(self, headers: Mapping[str, str]) -> None:
        server = headers.get("api-version", "")
        if server and version_tuple(server) < version_tuple(MAX_API_VERSION):
            self._version = server
        else:
            self._version = MAX_API_VERSION

    def check_reachable(self) -> None:
        """Connect once (DaemonUnavailable if nobody answers) and keep the connection."""
        if not self._idle:
            self._checkin(self.connect())

    def target(self, path: str, query: Mapping[str, QueryValue] | None = None,
               version: str | None = None) -> str:
        qs = encode_query(query)
        return f"/v{version or self.api_version}{path}" + (f"?{qs}" if qs else "")

    # -- requests --------------------------------------------------------------------------
    def _exchange(self, method: str, target: str, body: bytes | None = None,
                  headers: dict[str, str] | None = None) -> _FullResponse:
        """Send on a pooled connection, read the whole answer, give the connection back."""
        for attempt in (0, 1):
            conn = self._checkout()
            try:
                conn.send(method, target, headers, body)
                resp = conn.read_response(method)
                data = resp.read()
            except (ConnectionResetError, BrokenPipeError, ProtocolError) as exc:
                conn.close()
                if conn.reused and attempt == 0 and not isinstance(exc, ProtocolError):
                    continue  # the daemon closed an idle keep-alive connection: retry once
                if isinstance(exc, ProtocolError):
                    raise
                raise DaemonUnavailable(self.host) from exc
            if resp.keep_alive:
                self._checkin(conn)
            else:
                conn.close()
            return _FullResponse(resp.status, resp.headers, data)
        raise DaemonUnavailable(self.host)  # not reached

    def request(self, method: str, path: str, query: Mapping[str, QueryValue] | None = None,
                body: Any = None, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> _FullResponse:
        """A versioned request; `body` is sent as JSON. Raises APIError for 4xx/5xx."""
        hdrs = dict(headers or {})
        if body is not None:
            data = jsonio.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if self._version is not None:
            resp = self._exchange(method, self.target(path, query), data, hdrs)
        else:
            resp = self._exchange(method, self.target(path, query, MAX_API_VERSION), data, hdrs)
            if resp.status == 400 and b"is too new" in resp.body:
                resp = self._exchange(method, self.target(path, query), data, hdrs)  # pings
            elif "api-version" in resp.headers:
                self._settle_version(resp.headers)
        if resp.status >= 400:
            raise APIError(resp.status, error_message(resp.status, resp.body))
        return resp

    def json(self, method: str, path: str, query: Mapping[str, QueryValue] | None = None,
             body: Any = None) -> Any:
        """The decoded JSON answer of a request (None for an empty body)."""
        resp = self.request(method, path, query, body)
        return jsonio.loads(resp.body) if resp.body.strip() else None

    def stream(self, method: str, path: str, query: Mapping[str, QueryValue] | None = None,
               body: Any = None, source: BinaryIO | None = None,
               headers: dict[str, str] | None = None) -> Response:
        """A request on a connection of its own whose body is read as it comes
        (`resp.iter_chunks()`); close it with `resp.conn.close()`. `source`, if given, is
        sent as a chunked request body."""
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        return self._open(method, path, query, body, source, hdrs)

    def hijack(self, path: str, query: Mapping[str, QueryValue] | None = None,
               body: Any = None) -> HijackedStream:
        """POST with `Connection: Upgrade` / `Upgrade: tcp`; on 101 (or 200) the socket
        becomes the raw stream."""
        hdrs = {"Connection": "Upgrade", "Upgrade": "tcp",
                "Content-Type": "text/plain" if body is None else "application/json"}
        resp = self._open("POST", path, query, body, None, hdrs)
        if resp.status not in (101, 200):
            resp.conn.close()
            raise ProtocolError(f"unexpected status {resp.status} for a hijacked stream")
        from ketch.client.hijack import HijackedStream

        return HijackedStream(resp.conn, resp.header("content-type"))

    def _open(self, method: str, path: str, query: Mapping[str, QueryValue] | None,
              body: Any, source: BinaryIO | None, headers: dict[str, str]) -> Response:
        """Send on a new connection and read the answer's head; 4xx/5xx raise APIError.
        The version is settled first (by ping if need be): these bodies cannot be resent."""
        target = self.target(path, query)
        conn = self.connect()
        data = None if body is None else jsonio.dumps(body).encode()
        try:
            if source is not None:
                conn.send_body_stream(method, target, headers, source)
            else:
                conn.send(method, target, headers, data)
            resp = conn.read_response(method)
        except (ConnectionResetError, BrokenPipeError) as exc:
            conn.close()
            raise DaemonUnavailable(self.host) from exc
        if resp.status >= 400:
            message = error_message(resp.status, resp.read())
            conn.close()
            raise APIError(resp.status, message)
        return resp


class _FullResponse:
    """A response whose body has been read."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return jsonio.loads(self.body) if self.body.strip() else None
