"""A small bearer-token server for registry tests (the distribution token spec): issues
RS256 JWTs with the access asked for in `scope`, signed by a key whose self-signed
certificate the registry trusts (`rootcertbundle`), carried in the token's x5c header.
It checks basic credentials when given users, counts requests, and can be told to fail."""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SERVICE = "ketch-test-registry"
ISSUER = "ketch-test-issuer"


class TokenServer:
    def __init__(self, top: Path, users: dict[str, str] | None = None,
                 lifetime: int = 300) -> None:
        self.users = users or {}
        self.lifetime = lifetime
        self.fail = False  # answer 500
        self.requests: list[dict[str, Any]] = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ketch test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))
        self.bundle = top / "token.crt"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def registry_config(self) -> dict[str, str]:
        """The registry's `auth: token:` section."""
        return {"realm": f"http://127.0.0.1:{self.port}/token", "service": SERVICE,
                "issuer": ISSUER, "rootcertbundle": str(self.bundle)}

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(request.path).query)
        header = request.headers.get("Authorization", "")
        self.requests.append({"scope": query.get("scope", []), "auth": header})
        if self.fail:
            self._send(request, 500, {"details": "token service broken"})
            return
        subject = ""
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(user) != password:
                self._send(request, 401, {"details": "incorrect username or password"})
                return
            subject = user
        elif self.users and not query.get("scope"):
            self._send(request, 401, {"details": "authentication required"})
            return
        access = []
        for scope in query.get("scope", []):
            for item in scope.split(" "):
                kind, _, rest = item.partition(":")
                name, _, actions = rest.rpartition(":")
                allowed = actions.split(",") if subject or not self.users else ["pull"]
                access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + self.lifetime,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        der = self.cert.public_bytes(serialization.Encoding.DER)
        token = jwt.encode(claims, self.key, algorithm="RS256",
                           headers={"x5c": [base64.b64encode(der).decode()]})
        self._send(request, 200, {"token": token, "expires_in": self.lifetime})

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
