"""Tutorial Example 1 against a private ketchd, driven by the real docker CLI."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, docker, running_ketchd

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not Path("/usr/local/bin/docker").exists()
                                 and not Path("/usr/bin/docker").exists(),
                                 reason="the docker CLI is not installed")]


@pytest.fixture(scope="module")
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def test_hello_world(ketchd: Ketchd) -> None:
    proc = docker(ketchd, "run", "busybox", "/bin/echo", "Hello world")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "Hello world\n", "")


def test_exit_codes(ketchd: Ketchd) -> None:
    assert docker(ketchd, "run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    missing = docker(ketchd, "run", "--rm", "busybox", "no-such-command")
    assert missing.returncode == 127
    assert "executable file not found" in missing.stderr


def test_daemon_container_lifecycle(ketchd: Ketchd) -> None:
    run = docker(ketchd, "run", "--name", "daemon", "-d", "busybox", "/bin/sh", "-c",
                 "while true; do echo hello world; sleep 1; done")
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    assert len(cid) == 64
    ps = docker(ketchd, "ps")
    assert "daemon" in ps.stdout and cid[:12] in ps.stdout and "Up " in ps.stdout
    time.sleep(1.5)
    logs = docker(ketchd, "logs", "daemon")
    assert logs.stdout.startswith("hello world\nhello world\n")
    follow = subprocess.Popen(["docker", "logs", "-f", "daemon"], env=ketchd.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert follow.stdout is not None
        seen = b""
        deadline = time.monotonic() + 5
        while seen.count(b"hello world\n") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([follow.stdout], [], [], 0.5)
            if ready:
                seen += os.read(follow.stdout.fileno(), 4096)
        assert seen.count(b"hello world\n") >= 3
    finally:
        follow.kill()
        follow.wait()
    stop = docker(ketchd, "stop", "-t", "1", "daemon")
    assert (stop.returncode, stop.stdout) == (0, "daemon\n"), stop.stderr
    ps = docker(ketchd, "ps", "-a")
    assert "Exited (137)" in ps.stdout
    assert docker(ketchd, "start", "daemon").stdout == "daemon\n"
    assert "Up " in docker(ketchd, "ps").stdout
    refused = docker(ketchd, "rm", "daemon")
    assert refused.returncode == 1 and "cannot remove a running container" in refused.stderr
    ids = docker(ketchd, "ps", "-aq").stdout.split()
    gone = docker(ketchd, "rm", "-f", *ids)
    assert gone.returncode == 0 and gone.stdout.split() == ids
    assert docker(ketchd, "ps", "-aq").stdout == ""


def test_interactive_shell_through_a_pty(ketchd: Ketchd) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes the docker CLI
        os.execvpe("docker", ["docker", "run", "-i", "-t", "--rm", "busybox", "/bin/sh"],
                   ketchd.env())
    try:
        out = b""

        def expect(marker: bytes, timeout: float = 10) -> None:
            nonlocal out
            deadline = time.monotonic() + timeout
            while marker not in out and time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    try:
                        out += os.read(fd, 4096)
                    except OSError:
                        break
            assert marker in out, out

        expect(b"# ")
        os.write(fd, b"echo hi-$((40+2))\r")
        expect(b"hi-42")
        os.write(fd, b"exit 5\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        os.close(fd)


def test_piped_stdin_without_tty(ketchd: Ketchd) -> None:
    proc = docker(ketchd, "run", "-i", "--rm", "busybox", "cat", input="hi there\n")
    assert proc.stdout == "hi there\n"


def test_inspect_and_errors(ketchd: Ketchd) -> None:
    docker(ketchd, "create", "--name", "inspected", "busybox", "true")
    status = docker(ketchd, "inspect", "--format", "{{.State.Status}}", "inspected")
    assert status.stdout.strip() == "created"
    missing = docker(ketchd, "rm", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error response from daemon: No such container: nope"
    dup = docker(ketchd, "create", "--name", "inspected", "busybox", "true")
    assert dup.returncode == 1 and "already in use" in dup.stderr  # docker 28: create exits 1
    dup_run = docker(ketchd, "run", "--name", "inspected", "busybox", "true")
    assert dup_run.returncode == 125 and "already in use" in dup_run.stderr
    noimage = docker(ketchd, "run", "no-such-image:1.0", "true")
    assert noimage.returncode == 125
    docker(ketchd, "rm", "inspected")


def test_restart_start_attach_and_rename(ketchd: Ketchd) -> None:
    run = docker(ketchd, "run", "-d", "--name", "again", "busybox", "sh", "-c",
                 "echo run; sleep 0.2")
    assert run.returncode == 0
    assert docker(ketchd, "wait", "again").stdout == "0\n"
    attached = docker(ketchd, "start", "-a", "again")
    assert (attached.returncode, attached.stdout) == (0, "run\n")
    assert docker(ketchd, "logs", "again").stdout == "run\nrun\n"
    assert docker(ketchd, "restart", "-t", "1", "again").returncode == 0
    assert docker(ketchd, "rename", "again", "renamed").returncode == 0
    assert docker(ketchd, "wait", "renamed").stdout == "0\n"
    assert docker(ketchd, "ps", "-a", "--format", "{{.Names}}").stdout.split() == ["renamed"]
    assert docker(ketchd, "rm", "renamed").returncode == 0
