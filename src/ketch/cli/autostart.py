"""Start ketchd in the background when nothing answers on the default socket.

A new user's first `ketch run` should just work, as with Docker Desktop. Only as root, only
for the default socket, never when KETCH_NO_AUTOSTART is set (tests want determinism).
"""

from __future__ import annotations

import os
import sys
import time

from ketch.client.host import DEFAULT_HOST, socket_path

LOG_DIR = "/var/log/ketch"
WAIT_SECONDS = 5.0


def should_autostart(host: str) -> bool:
    if os.environ.get("KETCH_NO_AUTOSTART", "") not in ("", "0"):
        return False
    return host == DEFAULT_HOST and os.geteuid() == 0


def find_ketchd() -> str | None:
    """`ketchd` next to the running interpreter (a venv's bin), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "ketchd")
    if os.access(here, os.X_OK):
        return here
    import shutil

    return shutil.which("ketchd")


def _ping(path: str) -> bool:
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(path)
            sock.sendall(b"HEAD /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/1.1 2")
    except OSError:
        return False


def start_daemon(host: str) -> bool:
    """Launch ketchd detached (its own session, output to the log) and wait for /_ping."""
    exe = find_ketchd()
    if exe is None:
        return False
    import subprocess

    try:
        os.makedirs(LOG_DIR, exist_ok=True)
        log = open(os.path.join(LOG_DIR, "ketchd.log"), "ab")  # noqa: SIM115 - handed to the child
    except OSError:
        log = open(os.devnull, "ab")  # noqa: SIM115
    with log:
        proc = subprocess.Popen([exe], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    path = socket_path(host)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if _ping(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False
