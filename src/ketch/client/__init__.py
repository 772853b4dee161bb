"""ketch.client: a small Docker Engine API client (stdlib only, HTTP/1.1 over a unix socket).

`Client` settles the API version from the daemon's `Api-Version` header (see session),
sends JSON requests, streams chunked bodies and hijacks connections for attach/exec.
It imports nothing of ketch but the base modules, so the CLI, compose and tests can use it.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.client.api import Client
    from ketch.client.errors import APIError, DaemonUnavailable
    from ketch.client.hijack import HijackedStream
    from ketch.client.host import DEFAULT_HOST, resolve_host
    from ketch.client.stream import STDERR, STDIN, STDOUT, demux, json_lines

# Each name is imported on first use (PEP 562): `ketch images` needs neither the hijack
# nor the stream module, and every module is ~0.1 ms of a CLI start.
_WHERE = {"Client": "api", "APIError": "errors", "DaemonUnavailable": "errors",
          "HijackedStream": "hijack", "DEFAULT_HOST": "host", "resolve_host": "host",
          "STDERR": "stream", "STDIN": "stream", "STDOUT": "stream", "demux": "stream",
          "json_lines": "stream"}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ketch.client' has no attribute {name!r}")
    return getattr(__import__(f"ketch.client.{module}", fromlist=[name]), name)


__all__ = [
    "DEFAULT_HOST",
    "STDERR",
    "STDIN",
    "STDOUT",
    "APIError",
    "Client",
    "DaemonUnavailable",
    "HijackedStream",
    "demux",
    "json_lines",
    "resolve_host",
]
