"""The OCI distribution API client for one repository of one registry endpoint: ping,
manifests by tag or digest, blobs (streamed, with range resume and redirects that never
carry credentials to another host), existence checks, cross-repository mounts, uploads
(monolithic or chunked), manifest put, tag lists. Authentication answers the registry's
challenge (basic, or a bearer token for the repository's scope).

Registries are hostile: every answer has a size bound and a timeout, and every byte that
is trusted is checked against its digest by the caller (manifest.py, pull.py).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp

from ketch import __version__
from ketch.distribution.auth import (
    Challenge,
    Credentials,
    TokenCache,
    basic_header,
    parse_challenges,
)
from ketch.errors import InvalidParameter, KetchError, NotFound

USER_AGENT = f"ketch/{__version__}"
MAX_REDIRECTS = 10
MAX_ERROR_BODY = 64 << 10
MAX_TOKEN_BODY = 1 << 20
CHUNK = 1 << 20


@dataclass(frozen=True)
class Endpoint:
    domain: str      # as references name it: "docker.io", "127.0.0.1:5000"
    url: str         # where to reach it: "https://registry-1.docker.io"
    mirror: bool = False


class RegistryError(KetchError):
    """An error answer of a registry, with its code ("MANIFEST_UNKNOWN", ...)."""

    def __init__(self, message: str, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status if status in (400, 401, 403, 404, 409) else 500
        self.code = code


class AuthFailed(KetchError):
    """The registry refused us (or asked for credentials we lack). A pull or push reports
    it as an ordinary error (500), as dockerd does (a 401 would make the docker CLI prompt
    for a login); a login reports it as 401. `denied`: the registry itself said no to
    what we sent (a repository that is not there looks the same on Docker Hub)."""

    def __init__(self, message: str, denied: bool = False, reason: str = "") -> None:
        super().__init__(message)
        self.denied = denied
        self.reason = reason or message


class Unreachable(KetchError):
    """The endpoint could not be talked to (refused, TLS, timeout): another may serve."""


def timeouts() -> aiohttp.ClientTimeout:
    """No bound on a whole transfer (layers are large), but on connecting and on each wait
    for data: a registry that hangs is an error, not a stuck pull. KETCH_REGISTRY_TIMEOUT
    (seconds, in ketchd's environment) sets both waits; 30 s to connect, 60 s of silence
    otherwise."""
    connect, read = 30.0, 60.0
    try:
        connect = read = float(os.environ["KETCH_REGISTRY_TIMEOUT"])
    except (KeyError, ValueError):
        pass
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect,
                                 sock_read=read)


async def _error(response: aiohttp.ClientResponse, what: str) -> RegistryError:
    """The registry's error as Docker words it: "<code lower>: <message>"."""
    body = await response.content.read(MAX_ERROR_BODY)
    code, text = "", ""
    try:
        doc = json.loads(body)
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code") or "")
            text = f"{code.lower().replace('_', ' ')}: {errors[0].get('message') or ''}"
            text = text.rstrip(": ")
    except (ValueError, RecursionError):
        pass
    if not text:
        text = f"unexpected status from {what} request to {response.url}: " \
               f"{response.status} {response.reason}"
    return RegistryError(text, response.status, code)


class Repository:
    """One repository (`library/busybox`) at one endpoint, with credentials."""

    def __init__(self, http: aiohttp.ClientSession, endpoint: Endpoint, path: str,
                 credentials: Credentials, tokens: TokenCache, actions: str = "pull") -> None:
        self.http = http
        self.endpoint = endpoint
        self.path = path
        self.credentials = credentials
        self.tokens = tokens
        self.actions = actions  # "pull" or "pull,push": the scope asked for
        self.challenge: Challenge | None = None
        self.extra_scopes: list[str] = []  # a mount's source repository, for its token

    # -- requests with auth and redirects -------------------------------------------------

    def url(self, tail: str) -> str:
        return f"{self.endpoint.url}/v2/{self.path}/{tail}"

    def _scopes(self) -> list[str]:
        here = [f"repository:{self.path}:{self.actions}"] if self.path else []
        return [*here, *self.extra_scopes]

    async def _authorization(self, fresh: bool = False) -> str | None:
        challenge = self.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if not self.credentials.username:
                raise AuthFailed("no basic auth credentials")
            return basic_header(self.credentials)
        if challenge.scheme != "bearer":
            raise AuthFailed(f"unsupported authentication scheme {challenge.scheme}")
        if self.credentials.registry_token:
            return f"Bearer {self.credentials.registry_token}"
        key = (challenge.params.get("realm", ""), challenge.params.get("service", ""),
               " ".join(self._scopes()))
        if fresh:
            self.tokens.drop(key)
        token = self.tokens.get(key)
        if token is None:
            token = self.tokens.put(key, await self._fetch_token(challenge))
        return f"Bearer {token}"

    async def _fetch_token(self, challenge: Challenge) -> Any:
        realm = challenge.params.get("realm", "")
        if urlsplit(realm).scheme not in ("http", "https"):
            raise AuthFailed(f"invalid token realm {realm!r}")
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        query += [("scope", scope) for scope in self._scopes()]
        headers = {"User-Agent": USER_AGENT}
        creds = self.credentials
        try:
            if creds.identity_token:  # OAuth2 refresh-token grant, as Docker does
                form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                        "service": challenge.params.get("service", ""),
                        "scope": " ".join(self._scopes()), "client_id": "ketch"}
                response = await self.http.post(realm, data=form, headers=headers,
                                                 allow_redirects=False)
            else:
                if creds.username:  # else anonymous, as for a public repository
                    headers["Authorization"] = basic_header(creds)
                response = await self.http.get(f"{realm}?{urlencode(query)}", headers=headers,
                                               allow_redirects=False)
            async with response:
                if response.status in (401, 403):
                    raise AuthFailed(f"failed to authorize: {await _reason(response)}")
                if response.status != 200:
                    raise KetchError(f"failed to fetch token from {realm}: "
                                     f"{response.status} {response.reason}")
                body = await response.content.read(MAX_TOKEN_BODY + 1)
        except (TimeoutError, aiohttp.ClientError) as e:
            raise KetchError(f"failed to fetch token from {realm}: {_describe(e)}") from None
        if len(body) > MAX_TOKEN_BODY:
            raise KetchError(f"failed to fetch token from {realm}: answer too large")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise KetchError(f"failed to fetch token from {realm}: not JSON") from None

    async def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                      data: Any = None, expect: tuple[int, ...] = (200,),
                      what: str = "") -> aiohttp.ClientResponse:
        """The response (to be closed by the caller) of a request with the registry's
        auth, following redirects itself: credentials go only to the registry's own host.
        Raises on any status not in expect."""
        home = urlsplit(self.endpoint.url).netloc
        for attempt in (0, 1):
            target, sent = url, 0
            try:
                auth = await self._authorization(fresh=attempt == 1)
            except AuthFailed as e:
                raise AuthFailed(f"{_verb(method)} \"{url}\": {e}") from None
            while True:
                request_headers = {"User-Agent": USER_AGENT, **(headers or {})}
                if auth and urlsplit(target).netloc == home:
                    request_headers["Authorization"] = auth
                try:
                    response = await self.http.request(method, target, headers=request_headers,
                                                       data=data, allow_redirects=False)
                except (TimeoutError, aiohttp.ClientError) as e:
                    raise Unreachable(f"{_verb(method)} \"{target}\": {_describe(e)}") from None
                if response.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                    location = response.headers.get("Location", "")
                    response.release()
                    sent += 1
                    if not location or sent > MAX_REDIRECTS:
                        raise KetchError(f"{_verb(method)} \"{target}\": too many redirects")
                    target = urljoin(target, location)
                    continue
                break
            if response.status == 401 and attempt == 0:
                header = response.headers.get("WWW-Authenticate", "")
                response.release()
                challenges = parse_challenges(header)
                if not challenges:
                    raise AuthFailed(f"{_verb(method)} \"{url}\": unauthorized")
                bearer = [c for c in challenges if c.scheme == "bearer"]
                self.challenge = bearer[0] if bearer else challenges[0]
                continue
            if response.status in expect:
                return response
            error = await _error(response, what or method)
            response.release()
            if response.status == 401 or error.code == "DENIED":
                raise AuthFailed(f"{_verb(method)} \"{url}\": {error}", denied=True,
                                 reason=str(error))
            raise error
        raise AuthFailed(f"{_verb(method)} \"{url}\": unauthorized")

    # -- the API ------------------------------------------------------------------------------

    async def ping(self) -> None:
        """GET /v2/ (with credentials when the registry asks for them)."""
        response = await self.request("GET", f"{self.endpoint.url}/v2/", what="ping")
        response.release()

    async def login(self) -> None:
        """GET /v2/ with the credentials (a token without a scope for a bearer registry):
        refused credentials raise AuthFailed."""
        response = await self.request("GET", f"{self.endpoint.url}/v2/", what="login")
        response.release()

    async def manifest(self, reference: str, accept: str, limit: int
                       ) -> tuple[bytes, str]:
        """(bytes, media type) of a manifest by tag or digest; at most limit bytes."""
        try:
            response = await self.request("GET", self.url(f"manifests/{reference}"),
                                          headers={"Accept": accept}, what="manifest")
        except RegistryError as e:
            if e.status == 404 or e.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"):
                raise NotFound(str(e)) from None
            raise
        async with response:
            length = int(response.headers.get("Content-Length") or 0)
            if length > limit:
                raise InvalidParameter(f"manifest too large: {length} bytes")
            data = await response.content.read(limit + 1)
            if len(data) > limit:
                raise InvalidParameter(f"manifest too large: over {limit} bytes")
            return data, response.headers.get("Content-Type", "")

    async def blob(self, digest: str, offset: int = 0) -> aiohttp.ClientResponse:
        """A blob's response from offset on (a range request when resuming)."""
        headers = {"Range": f"bytes={offset}-"} if offset else None
        return await self.request("GET", self.url(f"blobs/{digest}"), headers=headers,
                                  expect=(200, 206), what="blob")

    async def blob_bytes(self, digest: str, limit: int) -> bytes:
        response = await self.blob(digest)
        async with response:
            data = await response.content.read(limit + 1)
        if len(data) > limit:
            raise InvalidParameter(f"blob {digest} too large: over {limit} bytes")
        return data

    async def has_blob(self, digest: str) -> bool:
        response = await self.request("HEAD", self.url(f"blobs/{digest}"), expect=(200, 404),
                                      what="blob")
        response.release()
        return response.status == 200

    async def mount(self, digest: str, source: str) -> bool:
        """Ask for the blob from another repository of the registry (no upload)."""
        query = urlencode({"mount": digest, "from": source})
        response = await self.request("POST", self.url(f"blobs/uploads/?{query}"),
                                      expect=(201, 202), what="mount")
        response.release()
        if response.status == 202:  # not mounted: an upload session was opened; drop it
            location = response.headers.get("Location")
            if location:
                gone = await self.request("DELETE", urljoin(self.url(""), location),
                                          expect=(204, 404, 405, 400), what="upload")
                gone.release()
        return response.status == 201

    async def upload(self, digest: str | Callable[[], str], chunks: AsyncIterator[bytes],
                     monolithic: bool) -> None:
        """Upload a blob: one PUT with the body (monolithic), or PATCHes of the chunks then
        the closing PUT. digest may be a function: the digest known once the chunks
        have all gone through (a stream compressed on the way)."""
        start = await self.request("POST", self.url("blobs/uploads/"), expect=(202,),
                                   what="upload")
        location = start.headers.get("Location", "")
        start.release()
        if not location:
            raise KetchError("the registry gave no upload location")
        location = urljoin(self.url(""), location)
        if monolithic:
            body = b"".join([chunk async for chunk in chunks])
            final = digest() if callable(digest) else digest
            done = await self.request("PUT", _with_digest(location, final), data=body,
                                      headers={"Content-Type": "application/octet-stream"},
                                      expect=(201,), what="upload")
            done.release()
            return
        offset = 0
        async for chunk in chunks:
            patch = await self.request(
                "PATCH", location, data=chunk, expect=(202,), what="upload",
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
            location = urljoin(location, patch.headers.get("Location", location))
            patch.release()
            offset += len(chunk)
        final = digest() if callable(digest) else digest
        done = await self.request("PUT", _with_digest(location, final), expect=(201,),
                                  headers={"Content-Length": "0"}, what="upload")
        done.release()

    async def put_manifest(self, reference: str, data: bytes, media_type: str) -> None:
        response = await self.request("PUT", self.url(f"manifests/{reference}"), data=data,
                                      headers={"Content-Type": media_type}, expect=(201,),
                                      what="manifest")
        response.release()

    async def tags(self) -> list[str]:
        response = await self.request("GET", self.url("tags/list"), what="tags")
        async with response:
            body = await response.content.read(MAX_TOKEN_BODY * 8)
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            raise KetchError("invalid tag list from the registry") from None
        tags = doc.get("tags") if isinstance(doc, dict) else None
        return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + urlencode({"digest": digest})


def _verb(method: str) -> str:
    return method[0] + method[1:].lower()


def _describe(e: BaseException) -> str:
    """Go's words for the common failures, as Docker's messages have them."""
    if isinstance(e, TimeoutError):
        return "timeout: the registry did not answer in time"
    if isinstance(e, aiohttp.ClientConnectorError) and isinstance(e.os_error, socket.gaierror):
        return f"dial tcp: lookup {e.host}: no such host"
    if isinstance(e, aiohttp.ClientConnectorError):
        number = e.os_error.errno
        reason = (os.strerror(number) if number else str(e.os_error)).lower()
        if isinstance(e, aiohttp.ClientSSLError):
            return f"tls: {reason}"
        return f"dial tcp {e.host}:{e.port}: connect: {reason}"
    return str(e) or type(e).__name__


async def _reason(response: aiohttp.ClientResponse) -> str:
    body = await response.content.read(MAX_ERROR_BODY)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return f"{response.status} {response.reason}"
    if isinstance(doc, dict):
        errors = doc.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or response.reason)
        if isinstance(doc.get("details"), str):
            return str(doc["details"])
    return f"{response.status} {response.reason}"
