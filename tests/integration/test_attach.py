"""`attach` with ketch's CLI and the docker CLI against a private ketchd: output and the
container's exit code, a stopped container refused, signals forwarded (--sig-proxy),
stdin into an interactive container, and the detach keys on a terminal."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration
KETCH = "/opt/ketch/bin/ketch"


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def _cli(which: str) -> str:
    return KETCH if which == "ketch" else "docker"


@pytest.mark.parametrize("which", ["ketch", "docker"])
def test_output_exit_code_and_signals(kd: Ketchd, which: str) -> None:
    name = f"out-{which}"
    ok(docker_cli(kd, "run", "-d", "--name", name, "--network", "none", "busybox", "sh",
                  "-c", "sleep 1; echo out; echo err >&2; exit 3"))
    proc = subprocess.run([_cli(which), "attach", name], env=kd.env(), capture_output=True,
                          text=True, timeout=30, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")
    proc = subprocess.run([_cli(which), "attach", name], env=kd.env(), capture_output=True,
                          text=True, timeout=30, check=False)
    assert (proc.returncode, proc.stderr) == (
        1, "You cannot attach to a stopped container, start it first\n")
    trapped = f"trap-{which}"
    ok(docker_cli(kd, "run", "-d", "--name", trapped, "--network", "none", "busybox", "sh",
                  "-c", 'trap "echo got; exit 5" TERM; while :; do sleep 0.1; done'))
    attached = subprocess.Popen([_cli(which), "attach", trapped], env=kd.env(),
                                stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    attached.send_signal(signal.SIGTERM)  # forwarded to the container (--sig-proxy)
    out, _ = attached.communicate(timeout=30)
    assert (attached.returncode, out) == (5, "got\n")


@pytest.mark.parametrize("which", ["ketch", "docker"])
def test_stdin_and_detach_keys(kd: Ketchd, which: str) -> None:
    name = f"tty-{which}"
    ok(docker_cli(kd, "run", "-d", "-i", "-t", "--name", name, "--network", "none",
                  "busybox", "sh"))
    primary, secondary = pty.openpty()
    attached = subprocess.Popen([_cli(which), "attach", "--detach-keys", "ctrl-x", name],
                                env=kd.env(), stdin=secondary, stdout=secondary,
                                stderr=secondary, close_fds=True)
    os.close(secondary)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 15
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(primary, 4096)
                except OSError:
                    return
        assert marker in seen, seen

    time.sleep(0.5)
    os.write(primary, b"echo hel''lo-$((6*7))\r")
    read_until(b"hello-42")
    os.write(primary, b"\x18")  # ctrl-x: detach, the container keeps running
    assert attached.wait(timeout=15) == 1  # as the docker CLI 28 ends an attach
    read_until(b"read escape sequence")
    os.close(primary)
    assert ok(docker_cli(kd, "inspect", "-f", "{{.State.Running}}", name)) == "true\n"
    ok(docker_cli(kd, "rm", "-f", name))
