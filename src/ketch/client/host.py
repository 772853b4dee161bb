"""Where the daemon listens: `-H`, then `KETCH_HOST`, then `DOCKER_HOST`, then the default."""

from __future__ import annotations

from ketch.util.environ import getenv

DEFAULT_HOST = "unix:///run/ketch/ketch.sock"


def resolve_host(flag: str | None = None) -> str:
    """The daemon address to use, in the order the docker CLI uses (flag before environment).

    `DOCKER_HOST` is honoured only when it names a unix socket: a tcp:// DOCKER_HOST left
    in a shell for some other engine should not redirect ketch.
    """
    if flag:
        return flag
    host = getenv("KETCH_HOST")
    if host:
        return host
    host = getenv("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host
    return DEFAULT_HOST


def socket_path(host: str) -> str:
    """The filesystem path of a `unix://` host (a bare path is accepted too)."""
    if host.startswith("unix://"):
        return host[len("unix://"):]
    if host.startswith("/"):
        return host
    raise ValueError(f"unsupported daemon host {host!r}: ketch speaks unix:// only")
