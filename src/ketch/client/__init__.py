"""ketch.client: a small Docker Engine API client (stdlib only, HTTP/1.1 over a unix socket).

`Client` negotiates the API version like the docker CLI (HEAD /_ping, `Api-Version`),
sends JSON requests, streams chunked bodies and hijacks connections for attach/exec.
It imports nothing of ketch but the base modules, so the CLI, compose and tests can use it.
"""

from ketch.client.api import Client
from ketch.client.errors import APIError, DaemonUnavailable
from ketch.client.hijack import HijackedStream
from ketch.client.host import DEFAULT_HOST, resolve_host
from ketch.client.stream import STDERR, STDIN, STDOUT, demux, json_lines

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
