"""The `ketch` CLI through tutorial Example 1 against a real engine, compared with what the
real docker CLI prints against the same engine.

The engine is a private ketchd; with KETCH_TEST_AGAINST_DOCKERD=1 a private dockerd
(Debian's docker.io), and KETCH_TEST_ENGINE_HOST names any other running engine: the
`engine_host` fixture is the only engine-specific bit.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BUSYBOX_TAR = Path("/var/cache/ketch/base/busybox.tar")
DOCKER = shutil.which("docker")


def _wait_for_socket(path: Path, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            probe = subprocess.run([sys.executable, "-m", "ketch.cli.main", "-H",
                                    f"unix://{path}", "version"], capture_output=True,
                                   check=False, env={**os.environ, "KETCH_NO_AUTOSTART": "1"})
            if probe.returncode == 0:
                return
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited with {proc.returncode}")
        time.sleep(0.2)
    raise RuntimeError("dockerd did not answer")


@pytest.fixture(scope="module")
def engine_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The daemon under test: KETCH_TEST_ENGINE_HOST, a private ketchd, or dockerd."""
    host = os.environ.get("KETCH_TEST_ENGINE_HOST")
    if host:
        yield host
        return
    if not os.environ.get("KETCH_TEST_AGAINST_DOCKERD"):
        from support.daemon import Ketchd

        daemon = Ketchd(Path(tmp_path_factory.mktemp("ketchd")))
        daemon.start()
        try:
            yield daemon.host
        finally:
            daemon.stop()
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.skip("dockerd is not installed (apt-get install docker.io) and "
                    "KETCH_TEST_ENGINE_HOST is not set")
    if not BUSYBOX_TAR.exists():
        pytest.skip(f"{BUSYBOX_TAR} is missing")
    base = Path(tmp_path_factory.mktemp("dockerd"))
    # unix socket paths are limited to 108 bytes: keep them short
    short = Path(f"/tmp/kcli-{os.getpid()}")
    short.mkdir(exist_ok=True)
    sock = short / "d.sock"
    log = (base / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        [dockerd, "--data-root", str(base / "root"), "--exec-root", str(short / "exec"),
         "--pidfile", str(base / "dockerd.pid"), "-H", f"unix://{sock}", "--iptables=false",
         "--ip-masq=false", "--bridge=none"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_socket(sock, proc)
        yield f"unix://{sock}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(short, ignore_errors=True)


def _env(host: str) -> dict[str, str]:
    env = {**os.environ, "KETCH_HOST": host, "DOCKER_HOST": host, "KETCH_NO_AUTOSTART": "1"}
    env.pop("DOCKER_CONTEXT", None)
    return env


KETCH = [sys.executable, "-m", "ketch.cli.main"]


class Runner:
    """Runs one CLI (`argv0`) against the engine under test."""

    def __init__(self, argv0: list[str], host: str) -> None:
        self.argv0 = argv0
        self.host = host

    def __call__(self, *args: str, stdin: str | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.argv0, *args], input=stdin, capture_output=True,
                              text=True, env=_env(self.host), timeout=timeout, check=False)


@pytest.fixture(scope="module")
def ketch(engine_host: str) -> Runner:
    return Runner(KETCH, engine_host)


@pytest.fixture(scope="module")
def docker(engine_host: str) -> Runner:
    if DOCKER is None:
        pytest.skip("no docker CLI to compare with")
    return Runner([DOCKER], engine_host)


@pytest.fixture(scope="module", autouse=True)
def busybox(ketch: Runner) -> None:
    """busybox:latest in the engine, imported with our own `ketch import`."""
    if ketch("image", "inspect", "busybox:latest").returncode == 0:
        return
    proc = ketch("import", "-c", 'CMD ["sh"]', "-m", "ketch tests", str(BUSYBOX_TAR),
                 "busybox:latest")
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", proc.stdout)


def _same(docker_out: str, ketch_out: str) -> str:
    return docker_out.replace("docker", "ketch").replace("Docker", "ketch")


# -- tutorial Example 1 --------------------------------------------------------------------
def test_hello_world(ketch: Runner, docker: Runner) -> None:
    mine = ketch("run", "--rm", "busybox", "echo", "Hello world")
    theirs = docker("run", "--rm", "busybox", "echo", "Hello world")
    assert (mine.returncode, mine.stdout, mine.stderr) == (0, "Hello world\n", "")
    assert (theirs.returncode, theirs.stdout) == (mine.returncode, mine.stdout)


def test_daemonized_hello_world(ketch: Runner, docker: Runner) -> None:
    ketch("rm", "-f", "daemon")
    run = ketch("run", "--name", "daemon", "-d", "busybox", "sh", "-c",
                "while true; do echo hello world; sleep 1; done")
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", run.stdout)
    cid = run.stdout.strip()
    try:
        # ps -a: same table as docker's (retry across a second boundary)
        for _ in range(5):
            mine, theirs = ketch("ps", "-a"), docker("ps", "-a")
            if mine.stdout == theirs.stdout:
                break
        assert mine.stdout == theirs.stdout
        assert mine.stdout.startswith("CONTAINER ID   IMAGE     COMMAND ")
        assert f"{cid[:12]}   busybox   \"sh -c 'while true; …\"" in mine.stdout
        assert "   daemon\n" in mine.stdout
        assert ketch("ps", "-q", "--no-trunc", "--filter", "name=daemon").stdout == cid + "\n"
        assert ketch("inspect", "-f", "{{.State.Status}} {{.Name}}", "daemon").stdout == \
            "running /daemon\n"

        # logs -f: read a few lines, then stop following
        follow = subprocess.Popen([*KETCH, "logs", "-f", "daemon"], stdout=subprocess.PIPE,
                                  env=_env(ketch.host))
        assert follow.stdout is not None
        lines = [follow.stdout.readline() for _ in range(3)]
        follow.terminate()
        follow.wait(10)
        assert lines == [b"hello world\n"] * 3

        tail = ketch("logs", "--tail", "2", "-t", "daemon")
        assert re.fullmatch(r"(\d{4}-\d\d-\d\dT[\d:.]+Z hello world\n){2}", tail.stdout)
        assert tail.stdout == docker("logs", "--tail", "2", "-t", "daemon").stdout

        assert (ketch("stop", "-t", "1", "daemon").stdout) == "daemon\n"
        assert ketch("inspect", "-f", "{{.State.Running}}", "daemon").stdout == "false\n"
        assert ketch("start", "daemon").stdout == "daemon\n"
        assert ketch("inspect", "-f", "{{.State.Running}}", "daemon").stdout == "true\n"

        busy = ketch("rm", "daemon")
        assert busy.returncode == 1 and busy.stdout == ""
        assert busy.stderr == _same(docker("rm", "daemon").stderr, busy.stderr)
    finally:
        assert ketch("rm", "-f", "daemon").stdout == "daemon\n"


def test_rm_f_of_ps_aq(ketch: Runner) -> None:
    made = [ketch("create", "busybox", "true").stdout.strip() for _ in range(2)]
    made.append(ketch("run", "-d", "busybox", "sleep", "100").stdout.strip())
    ids = ketch("ps", "-aq").stdout.split()
    assert {m[:12] for m in made} <= set(ids)
    proc = ketch("rm", "-f", *ids)
    assert proc.returncode == 0 and proc.stdout.split() == ids
    assert ketch("ps", "-aq").stdout == ""


def test_interactive_shell_through_a_pty(ketch: Runner, docker: Runner) -> None:
    def drive(argv: list[str]) -> tuple[bytes, int]:
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once
            os.execvpe(argv[0], argv, _env(ketch.host))
        out = b""

        def pump(seconds: float) -> None:
            nonlocal out
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if ready:
                    try:
                        data = os.read(fd, 4096)
                    except OSError:
                        return
                    if not data:
                        return
                    out += data

        pump(2.0)
        os.write(fd, b"echo hi\r")
        pump(1.0)
        os.write(fd, b"exit\r")
        pump(3.0)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return out, os.waitstatus_to_exitcode(status)

    mine = drive([*KETCH, "run", "-i", "-t", "--rm", "busybox", "sh"])
    assert mine[1] == 0
    assert b"echo hi\r\nhi\r\n" in mine[0]
    if DOCKER:
        theirs = drive([DOCKER, "run", "-i", "-t", "--rm", "busybox", "sh"])
        assert theirs == mine


def test_piped_stdin(ketch: Runner, docker: Runner) -> None:
    mine = ketch("run", "-i", "--rm", "busybox", "cat", stdin="hi\n")
    assert (mine.returncode, mine.stdout, mine.stderr) == (0, "hi\n", "")
    theirs = docker("run", "-i", "--rm", "busybox", "cat", stdin="hi\n")
    assert (theirs.returncode, theirs.stdout) == (0, "hi\n")


@pytest.mark.parametrize(("cmd", "code"), [
    (["sh", "-c", "echo out; echo err >&2; exit 3"], 3),
    (["nonexistent-command"], 127),
    (["/etc/passwd"], 126),
])
def test_exit_codes_like_docker(ketch: Runner, docker: Runner, cmd: list[str],
                                code: int) -> None:
    mine = ketch("run", "--rm", "busybox", *cmd)
    theirs = docker("run", "--rm", "busybox", *cmd)
    assert mine.returncode == theirs.returncode == code
    assert mine.stdout == theirs.stdout
    assert mine.stderr == _same(theirs.stderr, mine.stderr)


@pytest.mark.parametrize("args", [
    ["rm", "cap-does-not-exist"],
    ["stop", "cap-does-not-exist"],
    ["logs", "cap-does-not-exist"],
    ["inspect", "cap-does-not-exist"],
    ["rmi", "cap-does-not-exist:1"],
    ["ps", "--bogus"],
    ["run", "--bogus", "busybox"],
])
def test_errors_like_docker(ketch: Runner, docker: Runner, args: list[str]) -> None:
    mine, theirs = ketch(*args), docker(*args)
    assert mine.returncode == theirs.returncode
    assert (mine.stdout, mine.stderr) == (theirs.stdout, _same(theirs.stderr, mine.stderr))


def test_listing_commands_like_docker(ketch: Runner, docker: Runner) -> None:
    for args in (["images"], ["images", "-q"], ["ps", "-a", "--format", "{{.Names}}"],
                 ["inspect", "--format", "{{json .Config.Cmd}}", "busybox"],
                 # size asked for when the template shows it, Platform null: as the CLI
                 ["ps", "-a", "--format", "{{json .}}"], ["ps", "-a", "--format", "json"],
                 ["ps", "-a", "--format", "table {{.Names}}\t{{.Size}}\t{{.Platform}}"],
                 ["images", "--format", "{{json .}}"],
                 ["volume", "ls", "--format", "{{json .}}"],
                 ["network", "ls", "--format", "table {{.Name}}\t{{.Driver}}"]):
        mine, theirs = ketch(*args), docker(*args)
        assert mine.returncode == theirs.returncode == 0
        # the two listings are taken a moment apart: "10 seconds ago" may become "11"
        assert _ages(mine.stdout) == _ages(theirs.stdout), args


def _ages(text: str) -> str:
    return re.sub(r"\b\d+ seconds( ago)?", r"N seconds\1", text)


def test_create_rename_wait_and_env(ketch: Runner, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n")
    ketch("rm", "-f", "kc-env", "kc-env2")
    created = ketch("create", "--name", "kc-env", "--env-file", str(env_file), "-e", "A=b",
                    "-w", "/tmp", "-l", "k=v", "busybox", "sh", "-c",
                    'echo "$FROM_FILE $A $(pwd)"; exit 4')
    assert created.returncode == 0, created.stderr
    assert ketch("rename", "kc-env", "kc-env2").returncode == 0
    assert ketch("start", "-a", "kc-env2").stdout == "1 b /tmp\n"
    assert ketch("wait", "kc-env2").stdout == "4\n"
    assert ketch("inspect", "-f", '{{index .Config.Labels "k"}}', "kc-env2").stdout == "v\n"
    assert ketch("rm", "kc-env2").stdout == "kc-env2\n"


def test_exec(ketch: Runner) -> None:
    ketch("rm", "-f", "kc-exec")
    assert ketch("run", "-d", "--name", "kc-exec", "busybox", "sleep", "100").returncode == 0
    try:
        proc = ketch("exec", "kc-exec", "sh", "-c", "echo out; echo err >&2; exit 3")
        assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")
        proc = ketch("exec", "-i", "kc-exec", "cat", stdin="piped\n")
        assert (proc.returncode, proc.stdout) == (0, "piped\n")
    finally:
        ketch("rm", "-f", "kc-exec")


def test_tag_and_rmi(ketch: Runner, docker: Runner) -> None:
    assert ketch("tag", "busybox", "kc-tag:v2").returncode == 0
    proc = ketch("rmi", "kc-tag:v2")
    assert (proc.returncode, proc.stdout) == (0, "Untagged: kc-tag:v2\n")


def test_version(ketch: Runner, docker: Runner) -> None:
    mine, theirs = ketch("version"), docker("version")
    assert mine.returncode == 0
    assert mine.stdout.split("\n\n", 1)[1] == theirs.stdout.split("\n\n", 1)[1]
