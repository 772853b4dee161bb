"""A canned Engine API daemon on a unix socket (for client and CLI unit tests), and the
client's wire behaviour against it: negotiation, errors, keep-alive, streams, hijack."""

from __future__ import annotations

import io
import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ketch.client import APIError, Client, DaemonUnavailable
from ketch.client.stream import frame


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    conn: int


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None  # chunked body
    hijack: Callable[[Any], None] | None = None  # gets the handler after 101


Route = Callable[[Request], Reply]
REASONS = {101: "UPGRADED", 200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified",
           400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}


class FakeDaemon:
    """Serves `routes[(METHOD, path-without-version-and-query)]`; records every request."""

    def __init__(self, path: Path, api_version: str = "1.41") -> None:
        self.path = path
        self.api_version = api_version
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[Request] = []
        self.connections = 0
        daemon = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                daemon.connections += 1
                conn_id = daemon.connections
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    method, target, _ = line.decode().split(" ", 2)
                    headers: dict[str, str] = {}
                    while True:
                        raw = self.rfile.readline().decode()
                        if raw in ("\r\n", "\n", ""):
                            break
                        k, _, v = raw.partition(":")
                        headers[k.strip().lower()] = v.strip()
                    body = b""
                    if headers.get("transfer-encoding") == "chunked":
                        while True:
                            size = int(self.rfile.readline().strip(), 16)
                            if size == 0:
                                self.rfile.readline()
                                break
                            body += self.rfile.read(size)
                            self.rfile.readline()
                    elif "content-length" in headers:
                        body = self.rfile.read(int(headers["content-length"]))
                    req = Request(method, target, headers, body, conn_id)
                    daemon.requests.append(req)
                    if not self.respond(req):
                        return

            def respond(self, req: Request) -> bool:
                path = req.path.split("?", 1)[0]
                version = None
                if path.startswith("/v1."):
                    version, path = path[2:].split("/", 1)
                    path = "/" + path
                newer = version is not None and (
                    tuple(map(int, version.split("."))) >
                    tuple(map(int, daemon.api_version.split("."))))
                if newer:  # what dockerd answers a client newer than itself
                    reply = Reply(400, {"message": f"client version {version} is too new. "
                                        "Maximum supported API version is "
                                        f"{daemon.api_version}"})
                elif path == "/_ping":
                    reply = Reply(200, b"" if req.method == "HEAD" else b"OK")
                else:
                    route = daemon.routes.get((req.method, path))
                    reply = route(req) if route else Reply(404, {"message": "page not found"})
                head = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'X')}",
                        f"Api-Version: {daemon.api_version}", "Ostype: linux"]
                head += [f"{k}: {v}" for k, v in reply.headers.items()]
                if reply.hijack is not None:
                    head += ["Connection: Upgrade", "Upgrade: tcp",
                             "Content-Type: application/vnd.docker.raw-stream"]
                    self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())
                    self.wfile.flush()
                    reply.hijack(self)
                    return False
                if reply.chunks is not None:
                    head.append("Transfer-Encoding: chunked")
                    self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())
                    for chunk in reply.chunks:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return True
                data = reply.body if isinstance(reply.body, bytes) else (
                    b"" if reply.body is None else json.dumps(reply.body).encode() + b"\n")
                if reply.status not in (204, 304):
                    head.append(f"Content-Length: {len(data)}")
                    if not isinstance(reply.body, bytes):
                        head.append("Content-Type: application/json")
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
                self.wfile.flush()
                return True

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(str(path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def route(self, method: str, path: str, reply: Reply | Route) -> None:
        self.routes[(method, path)] = reply if callable(reply) else (lambda _req: reply)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    daemon = FakeDaemon(tmp_path / "fake.sock")
    yield daemon
    daemon.stop()


# -- the client against it -------------------------------------------------------------------
def test_older_daemon_refuses_then_ping_negotiates(fake_daemon: FakeDaemon) -> None:
    fake_daemon.route("GET", "/version", Reply(200, {"Version": "x"}))
    client = Client(fake_daemon.host)
    assert client.version() == {"Version": "x"}
    assert client.version() == {"Version": "x"}
    assert [(r.method, r.path, r.conn) for r in fake_daemon.requests] == [
        ("GET", "/v1.44/version", 1), ("HEAD", "/_ping", 1), ("GET", "/v1.41/version", 1),
        ("GET", "/v1.41/version", 1)]
    assert fake_daemon.requests[0].headers["host"] == "api.moby.localhost"


def test_same_version_daemon_needs_no_ping(tmp_path: Path) -> None:
    daemon = FakeDaemon(tmp_path / "same.sock", api_version="1.44")
    daemon.route("GET", "/version", Reply(200, {"Version": "x"}))
    try:
        client = Client(daemon.host)
        client.check_reachable()
        client.version()
        assert client.api_version == "1.44"
        assert [(r.method, r.path, r.conn) for r in daemon.requests] == [
            ("GET", "/v1.44/version", 1)]
    finally:
        daemon.stop()


def test_streams_negotiate_before_sending(fake_daemon: FakeDaemon) -> None:
    fake_daemon.route("POST", "/images/create", Reply(200, chunks=[b'{"status":"ok"}\n']))
    resp = Client(fake_daemon.host).stream("POST", "/images/create", {"fromSrc": "-"},
                                           source=io.BytesIO(b"tar"))
    resp.conn.close()
    assert [(r.method, r.path.split("?")[0]) for r in fake_daemon.requests] == [
        ("HEAD", "/_ping"), ("POST", "/v1.41/images/create")]
    assert fake_daemon.requests[1].body == b"tar"


def test_caps_version_at_its_own(tmp_path: Path) -> None:
    daemon = FakeDaemon(tmp_path / "new.sock", api_version="1.99")
    try:
        assert Client(daemon.host).api_version == "1.44"
    finally:
        daemon.stop()


def test_keep_alive_reuses_one_connection(fake_daemon: FakeDaemon) -> None:
    fake_daemon.route("GET", "/containers/json", Reply(200, []))
    client = Client(fake_daemon.host)
    for _ in range(3):
        assert client.containers(all=True) == []
    assert {r.conn for r in fake_daemon.requests} == {1}
    assert fake_daemon.requests[-1].path == "/v1.41/containers/json?all=1"


def test_error_json_becomes_api_error(fake_daemon: FakeDaemon) -> None:
    fake_daemon.route("DELETE", "/containers/nope",
                      Reply(404, {"message": "No such container: nope"}))
    with pytest.raises(APIError) as info:
        Client(fake_daemon.host).remove_container("nope")
    assert info.value.status == 404
    assert str(info.value) == "Error response from daemon: No such container: nope"


def test_filters_are_encoded_like_the_cli(fake_daemon: FakeDaemon) -> None:
    fake_daemon.route("GET", "/containers/json", Reply(200, []))
    Client(fake_daemon.host).containers(all=True, filters={"label": ["cap=1"]})
    assert fake_daemon.requests[-1].path == (
        "/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%7B%22cap%3D1%22%3Atrue%7D%7D")


def test_streams_chunked_bodies(fake_daemon: FakeDaemon) -> None:
    fake_daemon.route("GET", "/containers/c/logs",
                      Reply(200, chunks=[frame(1, b"tick\n"), frame(2, b"err\n")[:5],
                                         frame(2, b"err\n")[5:]]))
    from ketch.client import demux

    resp = Client(fake_daemon.host).logs("c", follow=True)
    assert list(demux(resp.iter_chunks())) == [(1, b"tick\n"), (2, b"err\n")]
    assert "follow=1" in fake_daemon.requests[-1].path


def test_wait_headers_then_body(fake_daemon: FakeDaemon) -> None:
    fake_daemon.route("POST", "/containers/c/wait",
                      Reply(200, chunks=[b'{"Error":null,"StatusCode":3}\n']))
    assert Client(fake_daemon.host).wait("c", "next-exit").result()["StatusCode"] == 3
    assert fake_daemon.requests[-1].path.endswith("/wait?condition=next-exit")


def test_hijack_upgrades_and_half_closes(fake_daemon: FakeDaemon) -> None:
    def echo(handler: Any) -> None:
        data = handler.rfile.read()  # until the client half-closes
        handler.wfile.write(frame(1, data.upper()))
        handler.wfile.flush()

    fake_daemon.route("POST", "/containers/c/attach", Reply(101, hijack=echo))
    stream = Client(fake_daemon.host).attach("c", stdin=True)
    req = fake_daemon.requests[-1]
    assert req.headers["upgrade"] == "tcp" and req.headers["connection"] == "Upgrade"
    assert req.path.endswith("/attach?stderr=1&stdin=1&stdout=1&stream=1")
    stream.write(b"hi\n")
    stream.close_write()
    assert b"".join(stream) == frame(1, b"HI\n")


def test_import_sends_the_tarball_chunked(fake_daemon: FakeDaemon, tmp_path: Path) -> None:
    fake_daemon.route("POST", "/images/create", Reply(200, chunks=[b'{"status":"sha256:ab"}\n']))
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(b"x" * 100_000)
    with tar.open("rb") as fh:
        out = list(Client(fake_daemon.host).import_image(fh, "-", "img:1", None,
                                                         ["CMD [\"sh\"]"], "msg"))
    assert out == [{"status": "sha256:ab"}]
    req = fake_daemon.requests[-1]
    assert len(req.body) == 100_000
    assert req.path == ("/v1.41/images/create?changes=CMD%20%5B%22sh%22%5D&fromSrc=-"
                        "&message=msg&repo=img%3A1")


def test_no_daemon(tmp_path: Path) -> None:
    client = Client(f"unix://{tmp_path}/none.sock")
    with pytest.raises(DaemonUnavailable) as info:
        client.containers()
    assert str(info.value) == (f"Cannot connect to the ketch daemon at unix://{tmp_path}/none.sock."
                               " Is the ketch daemon running?")


def test_docker_api_version_pins_the_version(fake_daemon: FakeDaemon,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_API_VERSION", "1.30")
    fake_daemon.route("GET", "/version", Reply(200, {"Version": "x"}))
    Client(fake_daemon.host).version()
    assert [r.path for r in fake_daemon.requests] == ["/v1.30/version"]
