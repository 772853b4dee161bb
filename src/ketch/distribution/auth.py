"""Registry authentication, as Docker's client does it: the credentials a client sends
(X-Registry-Auth, /auth's body), the challenges a registry answers 401 with
(WWW-Authenticate: Basic or Bearer), and bearer tokens fetched from the challenge's realm
for a scope, cached until they expire and fetched again when refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from ketch.errors import InvalidParameter

_PARAM = re.compile(r'\s*([a-zA-Z0-9_\-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')
MIN_TOKEN_LIFETIME = 60  # seconds, as the token spec says to assume at least


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth refresh token from an earlier login
    registry_token: str = ""  # a bearer token to use as it is

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or
                    self.registry_token)


def decode_registry_auth(header: str) -> Credentials:
    """X-Registry-Auth: base64url JSON (AuthConfig). Docker ignores a header it cannot
    read (anonymous access), and so does ketch."""
    if not header:
        return Credentials()
    text = header.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return Credentials()
    return credentials_of(doc) if isinstance(doc, dict) else Credentials()


def credentials_of(doc: dict[str, Any]) -> Credentials:
    def text(key: str) -> str:
        value = doc.get(key)
        return value if isinstance(value, str) else ""

    username, password = text("username"), text("password")
    if not username and text("auth"):  # the config.json form: base64 of user:password
        try:
            username, _, password = base64.b64decode(text("auth")).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidParameter("invalid auth configuration") from None
    return Credentials(username, password, text("identitytoken"), text("registrytoken"))


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer"
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """WWW-Authenticate: `Bearer realm="...",service="...",scope="..."` or `Basic ...`."""
    found = []
    for part in re.split(r",\s*(?=[A-Za-z]+\s+[a-zA-Z0-9_\-]+=)", header.strip()):
        scheme, _, rest = part.strip().partition(" ")
        if not scheme:
            continue
        params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
                  .replace('\\"', '"') for m in _PARAM.finditer(rest)}
        found.append(Challenge(scheme.lower(), params))
    return found


def basic_header(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


@dataclass
class Token:
    value: str
    expires: float


class TokenCache:
    """Bearer tokens by (realm, service, scope); one per scope, reused until it expires."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], Token] = {}

    def get(self, key: tuple[str, str, str]) -> str | None:
        token = self._tokens.get(key)
        if token is None or token.expires < time.monotonic():
            return None
        return token.value

    def put(self, key: tuple[str, str, str], answer: Any) -> str:
        """Keep the token of a token endpoint's JSON answer; returns it."""
        if not isinstance(answer, dict):
            raise InvalidParameter("invalid token response: not a JSON object")
        value = answer.get("token") or answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise InvalidParameter("invalid token response: no token")
        lifetime = answer.get("expires_in")
        if not isinstance(lifetime, int) or lifetime < MIN_TOKEN_LIFETIME:
            lifetime = MIN_TOKEN_LIFETIME
        self._tokens[key] = Token(value, time.monotonic() + lifetime - 5)
        return value

    def drop(self, key: tuple[str, str, str]) -> None:
        self._tokens.pop(key, None)
