"""Small helpers the tests share for published ports: a free port, and a page fetched
once the server behind it answers."""

from __future__ import annotations

import socket
import time
import urllib.request


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def fetch(url: str, timeout: float = 10, poll: float = 0.2) -> str:
    """The body at url, retried until the server answers or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return str(answer.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(poll)
