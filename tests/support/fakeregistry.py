"""A hostile registry for tests: serves one small valid image under any repository name,
and misbehaves as the name asks — bytes that do not match their digest, a manifest too
large or malformed, a blob redirected to another host, a blob that hangs, a blob cut
short once (to be resumed with a range request). It records what it was asked."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_image(files: dict[str, bytes]) -> tuple[bytes, bytes, bytes]:
    """(layer blob (tar.gz), config, manifest) of a one-layer image."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    blob = gzip.compress(plain, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/hello"]},
                         "rootfs": {"type": "layers", "diff_ids": [_digest(plain)]},
                         "history": [{"created_by": "fake"}]}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config), "digest": _digest(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(blob), "digest": _digest(blob)}]}).encode()
    return blob, config, manifest


class FakeRegistry:
    def __init__(self, files: dict[str, bytes], redirect_to: str = "",
                 password: str = "") -> None:
        self.blob, self.config, self.manifest = make_image(files)
        self.redirect_to = redirect_to  # "http://127.0.0.1:PORT" of a second FakeRegistry
        self.password = password  # basic auth (any user) when set
        self.seen: list[dict[str, Any]] = []
        self.cut_once: set[str] = set()
        self.hang = threading.Event()  # set: hanging requests may end
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._get(self, head=False)

            def do_HEAD(self) -> None:
                server._get(self, head=True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.hang.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _send(self, request: BaseHTTPRequestHandler, status: int, body: bytes = b"",
              headers: dict[str, str] | None = None, head: bool = False) -> None:
        request.send_response(status)
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if not head:
            request.wfile.write(body)

    def _get(self, request: BaseHTTPRequestHandler, head: bool) -> None:
        path = request.path.split("?")[0]
        self.seen.append({"path": path, "auth": request.headers.get("Authorization", ""),
                          "range": request.headers.get("Range", "")})
        if self.password and not request.headers.get("Authorization", "").startswith("Basic"):
            self._send(request, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":'
                       b'"authentication required"}]}',
                       {"WWW-Authenticate": 'Basic realm="fake"'}, head)
            return
        if path == "/v2/":
            self._send(request, 200, b"{}", head=head)
            return
        parts = path.split("/")
        if len(parts) < 5:
            self._send(request, 404, head=head)
            return
        name, kind, ref = "/".join(parts[2:-2]), parts[-2], parts[-1]
        if kind == "manifests":
            self._manifest(request, name, ref, head)
        elif kind == "blobs":
            self._blob(request, name, ref, head)
        else:
            self._send(request, 404, head=head)

    def index(self) -> bytes:
        """An OCI index naming the image for linux/amd64 and a missing one for arm64."""
        return json.dumps({"schemaVersion": 2, "mediaType":
                           "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "size": 10, "digest": "sha256:" + "0" * 64,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "size": len(self.manifest), "digest": _digest(self.manifest),
             "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()

    def _manifest(self, request: BaseHTTPRequestHandler, name: str, ref: str,
                  head: bool) -> None:
        body = self.manifest
        if name == "multi" and not ref.startswith("sha256:"):
            self._send(request, 200, self.index(), {
                "Content-Type": "application/vnd.oci.image.index.v1+json"}, head)
            return
        if ref.startswith("sha256:") and ref not in (_digest(self.manifest),) \
                and name != "baddigest":
            self._send(request, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":'
                       b'"manifest unknown"}]}', {"Content-Type": "application/json"}, head)
            return
        if name == "bigmanifest":
            body = b" " * (5 << 20) + body
        elif name == "malformed":
            body = b'{"schemaVersion": 2, "layers": "nope"'
        elif name == "baddigest" and ref.startswith("sha256:"):
            body = body.replace(b'"schemaVersion": 2', b'"schemaVersion":  2')
        self._send(request, 200, body, {
            "Content-Type": "application/vnd.docker.distribution.manifest.v2+json",
            "Docker-Content-Digest": _digest(self.manifest)}, head)

    def _blob(self, request: BaseHTTPRequestHandler, name: str, digest: str,
              head: bool) -> None:
        data = self.config if digest == _digest(self.config) else self.blob
        if digest not in (_digest(self.config), _digest(self.blob)):
            self._send(request, 404, head=head)
            return
        if data is self.blob and name == "badblob":
            data = data[:-8] + b"\0" * 8
        if data is self.blob and name == "redirect" and self.redirect_to:
            self._send(request, 307, headers={"Location": f"{self.redirect_to}{request.path}"},
                       head=head)
            return
        if data is self.blob and name == "hang":
            request.send_response(200)
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data[:10])
            request.wfile.flush()
            self.hang.wait(120)
            return
        start = 0
        spec = request.headers.get("Range", "")
        if spec.startswith("bytes="):
            start = int(spec[6:].split("-")[0])
        if data is self.blob and name == "resume" and digest not in self.cut_once:
            self.cut_once.add(digest)  # the first answer: half of it, then the connection ends
            request.send_response(200)
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data[: len(data) // 2])
            request.wfile.flush()
            time.sleep(0.05)
            request.close_connection = True
            request.connection.shutdown(2)  # type: ignore[attr-defined]
            return
        status = 206 if start else 200
        headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if start \
            else {}
        self._send(request, status, data[start:], headers, head)
