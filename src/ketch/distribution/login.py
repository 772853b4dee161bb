"""`docker login` on the daemon's side (`POST /auth`): the registry's /v2/ asked with the
credentials, answered as Docker answers (a token endpoint or basic auth decides)."""

from __future__ import annotations

import aiohttp

from ketch.distribution.auth import Credentials, TokenCache
from ketch.distribution.client import AuthFailed, Repository, Unreachable, timeouts
from ketch.distribution.registries import RegistryConfig
from ketch.errors import KetchError, Unauthorized
from ketch.util.reference import DEFAULT_DOMAIN


def domain_of(server: str) -> str:
    """The registry a login names: "https://index.docker.io/v1/" is Docker Hub."""
    host = server.removeprefix("https://").removeprefix("http://").split("/")[0]
    if not host or host in ("index.docker.io", "registry-1.docker.io", "docker.io"):
        return DEFAULT_DOMAIN
    return host


async def check_login(config: RegistryConfig, server: str, credentials: Credentials) -> None:
    domain = domain_of(server)
    last: KetchError | None = None
    async with aiohttp.ClientSession(timeout=timeouts()) as http:
        for endpoint in config.endpoints(domain):
            if endpoint.mirror:
                continue
            # a token for some scope proves the credentials where /v2/ alone does not
            repo = Repository(http, endpoint, "", credentials, TokenCache(), actions="")
            try:
                await repo.login()
            except Unreachable as e:
                last = e
                continue
            except AuthFailed as e:
                raise Unauthorized(str(e)) from None
            return
    assert last is not None
    raise last
