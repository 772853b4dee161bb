"""The real Docker engine, privately, for interchange tests: own data root, exec root,
socket, no bridge and no iptables, so it touches nothing of the host's networking.

If dockerd is missing it is installed (apt-get install docker.io) once; where it cannot be
installed or started, the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _ensure_installed() -> str | None:
    """The dockerd binary, installed if need be; None if it cannot be had."""
    found = shutil.which("dockerd")
    if found:
        return found
    # Debian's policy-rc.d: the package's own service is not started (tests run a
    # private dockerd; a system one would set up its bridge and firewall rules)
    policy = "/usr/sbin/policy-rc.d"
    made_policy = not os.path.exists(policy)
    try:
        if made_policy:
            with open(policy, "w") as f:
                f.write("#!/bin/sh\nexit 101\n")
            os.chmod(policy, 0o755)
        subprocess.run(["apt-get", "install", "-y", "-q", "docker.io"], check=True,
                       capture_output=True, timeout=600,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        if made_policy:
            os.unlink(policy)
    return shutil.which("dockerd")


class Dockerd:
    def __init__(self, top: Path, binary: str) -> None:
        self.top = top
        self.socket = top / "docker.sock"
        self.log = top / "dockerd.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, "--data-root", str(top / "data"), "--exec-root", str(top / "exec"),
                 "--pidfile", str(top / "dockerd.pid"), "-H", f"unix://{self.socket}",
                 "--iptables=false", "--ip-masq=false", "--bridge=none"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}",
                "DOCKER_CLI_HINTS": "false", "DOCKER_BUILDKIT": "0"}

    def __call__(self, *args: str, timeout: float = 120,
                 **kwargs: object) -> subprocess.CompletedProcess[str]:
        proc: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
            ["docker", *args], env=self.env(), capture_output=True, text=True,
            timeout=timeout, check=False, **kwargs)
        return proc

    def import_busybox(self) -> None:
        """busybox:latest from the base image tar, as ketch's tests have it."""
        from support.daemon import BUSYBOX_TAR

        proc = self("import", "-c", 'CMD ["sh"]', str(BUSYBOX_TAR), "busybox:latest")
        assert proc.returncode == 0, proc.stderr

    def wait_ready(self, seconds: float = 30) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.socket.exists() and self("version").returncode == 0:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        subprocess.run(["umount", "-R", "-l", str(self.top / "data")], capture_output=True,
                       check=False)
        subprocess.run(["umount", "-R", "-l", str(self.top / "exec")], capture_output=True,
                       check=False)


@contextmanager
def running_dockerd(top: Path) -> Iterator[Dockerd]:
    binary = _ensure_installed()
    if binary is None:
        pytest.skip("the Docker engine (docker.io) cannot be installed here")
    top.mkdir(parents=True, exist_ok=True)
    daemon = Dockerd(top, binary)
    try:
        if not daemon.wait_ready():
            pytest.skip(f"dockerd does not start here: {daemon.log.read_text()[-500:]}")
        yield daemon
    finally:
        daemon.stop()
