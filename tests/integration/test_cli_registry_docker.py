"""`ketch pull/push/login/logout` and run's pull of a missing image, side by side with the
docker CLI against one private dockerd and real registries on loopback (Debian's
docker-registry, one open, one behind htpasswd): same output, same exit code, same
config.json; and against a recording daemon: the same requests (path, query,
X-Registry-Auth, /auth body)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, running_ketchd
from support.dockerd import Dockerd, running_dockerd
from support.registry import REGISTRY, Registry, running_registry
from unit.test_client_fakedaemon import FakeDaemon, Reply

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).resolve().parents[2] / "src")
Shape = tuple[int, str, str]
Daemon = Dockerd | Ketchd


def docker(daemon: Daemon, config: Path, *args: str,
           stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**daemon.env(), "DOCKER_CONFIG": str(config)}
    return subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def ketch(daemon: Daemon, config: Path, *args: str,
          stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**daemon.env(), "DOCKER_CONFIG": str(config), "KETCH_NO_AUTOSTART": "1",
           "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", "-H",
                           f"unix://{daemon.socket}", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120, check=False)


# a single layer's "Waiting"/"Verifying Checksum" lines depend on download timing
_TIMING = re.compile(r"^[0-9a-f]{12}: (Waiting|Verifying Checksum)\n", re.M)


def shape(proc: subprocess.CompletedProcess[str], config: Path) -> Shape:
    """Exit code and outputs with the config path, container IDs and the program's own
    name ("docker: ...", "'docker logout'") made the same."""
    def norm(text: str) -> str:
        text = text.replace(str(config), "CONFIG")
        text = re.sub(r"^[0-9a-f]{64}$", "ID", text, flags=re.M)
        text = re.sub(r"(?<![.\w/-])docker(?![.\w-])", "ketch", text)
        return _TIMING.sub("", text)
    return proc.returncode, norm(proc.stdout), norm(proc.stderr)


class Sides:
    """The docker CLI and ketch, each with a client config directory of its own."""

    def __init__(self, daemon: Daemon, top: Path) -> None:
        self.daemon = daemon
        self.docker_config = top / "docker-config"
        self.ketch_config = top / "ketch-config"

    def both(self, *args: str, stdin: str = "",
             before: Callable[[], object] | None = None) -> tuple[Shape, Shape]:
        """(docker's shape, ketch's), `before` run ahead of each so both start alike."""
        if before:
            before()
        theirs = docker(self.daemon, self.docker_config, *args, stdin=stdin)
        if before:
            before()
        ours = ketch(self.daemon, self.ketch_config, *args, stdin=stdin)
        return shape(theirs, self.docker_config), shape(ours, self.ketch_config)

    def same(self, *args: str, stdin: str = "",
             before: Callable[[], object] | None = None) -> Shape:
        theirs, ours = self.both(*args, stdin=stdin, before=before)
        assert ours == theirs, args
        return ours

    def config_files(self) -> tuple[str, str]:
        return ((self.docker_config / "config.json").read_text(),
                (self.ketch_config / "config.json").read_text())


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    if not os.path.exists(REGISTRY):
        pytest.skip("docker-registry is not installed")
    with running_dockerd(tmp_path_factory.mktemp("dockerd")) as daemon:
        daemon.import_busybox()
        yield daemon


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, dockerd: Dockerd) -> Iterator[Registry]:
    """An open registry holding bb:v1, bb:v2 and bb:latest (busybox), pushed by docker."""
    with running_registry(tmp_path_factory.mktemp("registry")) as reg:
        for tag in ("v1", "v2", "latest"):
            assert dockerd("tag", "busybox", f"{reg.host}/bb:{tag}").returncode == 0
            proc = dockerd("push", f"{reg.host}/bb:{tag}")
            assert proc.returncode == 0, proc.stderr
        yield reg


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("private"),
                          users={"alice": "s3cret"}) as reg:
        yield reg


@pytest.fixture
def sides(dockerd: Dockerd, tmp_path: Path) -> Sides:
    return Sides(dockerd, tmp_path)


def untag(daemon: Daemon, *refs: str) -> Callable[[], None]:
    def remove() -> None:
        subprocess.run(["docker", "rmi", *refs], env=daemon.env(), capture_output=True,
                       timeout=60, check=False)
    return remove


def digest_of(daemon: Dockerd, ref: str) -> str:
    proc = daemon("image", "inspect", "-f", "{{index .RepoDigests 0}}", ref)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().rsplit("@", 1)[1]


def test_pull_like_docker(sides: Sides, dockerd: Dockerd, registry: Registry) -> None:
    repo = f"{registry.host}/bb"
    code, out, _ = sides.same("pull", f"{repo}:v1", before=untag(dockerd, f"{repo}:v1"))
    assert code == 0 and out.endswith(f"Status: Downloaded newer image for {repo}:v1\n"
                                      f"{repo}:v1\n")
    assert dockerd("image", "inspect", f"{repo}:v1").returncode == 0
    # up to date, the default tag, -q, every tag
    assert sides.same("pull", f"{repo}:v1")[1].endswith(f"Image is up to date for {repo}:v1\n"
                                                        f"{repo}:v1\n")
    out = sides.same("pull", repo, before=untag(dockerd, f"{repo}:latest"))[1]
    assert out.startswith("Using default tag: latest\nlatest: Pulling from bb\n")
    assert sides.same("pull", "-q", f"{repo}:v2") == (0, f"{repo}:v2\n", "")
    out = sides.same("pull", "--all-tags", repo,
                     before=untag(dockerd, f"{repo}:v1", f"{repo}:v2", f"{repo}:latest"))[1]
    assert "v1: Pulling from bb\n" in out and "v2: Pulling from bb\n" in out
    assert out.endswith(f"\n{repo}\n")
    digest = digest_of(dockerd, f"{repo}:v1")
    assert sides.same("pull", f"{repo}@{digest}")[1].endswith(f"{repo}@{digest}\n")


def test_pull_fresh_layers_like_docker(sides: Sides, dockerd: Dockerd, registry: Registry,
                                       tmp_path: Path) -> None:
    """A layer the daemon lacks: its "Pulling fs layer ... Pull complete" lines."""
    import tarfile

    tar = tmp_path / "tiny.tar"
    with tarfile.open(tar, "w") as t:
        data = tmp_path / "hello.txt"
        data.write_bytes(os.urandom(4096).hex().encode())
        t.add(data, "hello.txt")
    ref = f"{registry.host}/tiny:1"
    assert dockerd("import", str(tar), ref).returncode == 0
    assert dockerd("push", ref).returncode == 0
    code, out, err = sides.same("pull", ref, before=untag(dockerd, ref))
    assert code == 0, err
    assert re.search(r"^[0-9a-f]{12}: Pull complete$", out, re.M), out


def test_pull_failures_like_docker(sides: Sides, registry: Registry) -> None:
    repo = f"{registry.host}/bb"
    for args in (["pull", f"{registry.host}/nosuch"], ["pull", f"{repo}:nosuch"],
                 ["pull", "-q", f"{registry.host}/nosuch"], ["pull", "-a", f"{repo}:v1"],
                 ["pull", "-a", f"{registry.host}/nosuch"], ["pull", "Bad/Name"],
                 ["pull", f"{repo}@sha256:12"], ["pull"]):
        code, _, err = sides.same(*args)
        assert code == 1 and err, args


def test_push_like_docker(sides: Sides, dockerd: Dockerd, registry: Registry) -> None:
    repo = f"{registry.host}/bb"
    out = sides.same("push", f"{repo}:v1")[1]
    assert out.startswith(f"The push refers to repository [{repo}]\n")
    assert re.search(r"^[0-9a-f]{12}: Layer already exists$", out, re.M)
    assert re.search(r"^v1: digest: sha256:[0-9a-f]{64} size: \d+$", out, re.M)
    out = sides.same("push", "--all-tags", repo)[1]
    assert all(f"{tag}: digest: sha256:" in out for tag in ("v1", "v2", "latest"))
    assert sides.same("push", "-q", f"{repo}:v2") == (0, f"{repo}:v2\n", "")
    assert sides.same("push", repo)[1].startswith("Using default tag: latest\n")
    for args in (["push", f"{registry.host}/nope"], ["push", "-q", f"{registry.host}/nope"],
                 ["push", "-a", f"{repo}:v1"], ["push", f"{repo}@{digest_of(dockerd, repo)}"],
                 ["push", "--platform", "linux/amd64", f"{repo}:v1"], ["push", "UP"]):
        code, _, err = sides.same(*args)
        assert code == 1 and err, args


def test_ketch_push_reaches_the_registry(sides: Sides, dockerd: Dockerd,
                                         registry: Registry) -> None:
    ref = f"{registry.host}/fresh:1"
    assert dockerd("tag", "busybox", ref).returncode == 0
    proc = ketch(dockerd, sides.ketch_config, "push", ref)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^[0-9a-f]{12}: (Pushed|Mounted from bb)$", proc.stdout, re.M)
    with urllib.request.urlopen(f"http://{registry.host}/v2/fresh/tags/list") as resp:
        assert json.load(resp) == {"name": "fresh", "tags": ["1"]}


def test_login_logout_like_docker(sides: Sides, dockerd: Dockerd, private: Registry) -> None:
    host = private.host
    ref = f"{host}/bb:v1"
    assert dockerd("tag", "busybox", ref).returncode == 0
    # without credentials
    assert sides.same("push", ref)[2] == "no basic auth credentials\n"
    assert sides.same("pull", ref)[0] == 1
    assert sides.same("login", host)[2] == ("Error: Cannot perform an interactive login from "
                                            "a non TTY device\n")
    for flags in (["--password-stdin"], ["-u", "alice", "-p", "x", "--password-stdin"],
                  ["-u", "", "-p", "x"], ["-u", "alice", "-p", ""]):
        assert sides.same("login", *flags, host)[0] == 1
    # a wrong password: the daemon's error, nothing stored
    code, _, err = sides.same("login", "-u", "alice", "-p", "wrong", host)
    assert code == 1 and "Error response from daemon: " in err
    assert not (sides.ketch_config / "config.json").exists()

    code, out, err = sides.same("login", "-u", "alice", "--password-stdin", host,
                                stdin="s3cret\n")
    assert (code, out) == (0, "Login Succeeded\n")
    assert "WARNING! Your credentials are stored unencrypted in 'CONFIG/config.json'." in err
    theirs, ours = sides.config_files()
    assert ours == theirs
    assert json.loads(ours) == {"auths": {host: {"auth": "YWxpY2U6czNjcmV0"}}}
    assert ours.startswith('{\n\t"auths": {\n\t\t"') and not ours.endswith("\n")
    config = sides.ketch_config / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    # the stored credentials: a login without flags, a push, a pull, a run
    assert sides.same("login", host)[2].startswith(
        "Authenticating with existing credentials... [Username: alice]\n")
    assert sides.same("login", "-u", "alice", "-p", "s3cret", f"http://{host}/v2/")[1] == \
        "Login Succeeded\n"
    assert docker(dockerd, sides.docker_config, "push", ref).returncode == 0  # then both
    assert sides.same("push", ref)[0] == 0                               # find it there
    assert sides.same("pull", ref, before=untag(dockerd, ref))[0] == 0
    assert sides.same("run", "--rm", ref, "echo", "hi", before=untag(dockerd, ref))[:2] == \
        (0, "hi\n")

    code, out, err = sides.same("logout", host)
    assert (code, out, err) == (0, f"Removing login credentials for {host}\n", "")
    theirs, ours = sides.config_files()
    assert ours == theirs == '{\n\t"auths": {}\n}'
    assert sides.same("logout", f"https://{host}/")[0] == 0  # not logged in: no error
    assert sides.same("pull", ref, before=untag(dockerd, ref))[0] == 1


def on_tty(argv: list[str], env: dict[str, str],
           answers: list[tuple[str, str]]) -> subprocess.CompletedProcess[str]:
    """Run with a terminal as stdin, typing each answer once its prompt is on stdout."""
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    os.close(slave)
    try:
        assert proc.stdout is not None
        out = b""
        for prompt, answer in answers:
            while prompt.encode() not in out:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
            os.write(master, answer.encode())
        rest, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, (out + rest).decode(),
                                       err.decode())


def test_interactive_login_like_docker(dockerd: Dockerd, private: Registry,
                                       tmp_path: Path) -> None:
    """On a terminal the missing user and password are asked for (the password unechoed)."""
    programs = {"docker": ["docker"], "ketch": [sys.executable, "-m", "ketch.cli.main"]}
    cases: list[tuple[list[str], list[tuple[str, str]]]] = [
        (["login", private.host], [("Username: ", "alice\n"), ("Password: ", "s3cret\n")]),
        (["login", "-u", "alice", "-p", " ", private.host], [("Password: ", "s3cret\n")]),
        (["logout", private.host], []),
        (["login", private.host], [("Username: ", "\n")]),
        (["login", "-u", "bob", private.host], [("Password: ", "\n")]),
    ]
    results: dict[str, list[Shape]] = {}
    for name, program in programs.items():
        config = tmp_path / name
        env = {**dockerd.env(), "DOCKER_CONFIG": str(config), "KETCH_NO_AUTOSTART": "1",
               "PYTHONPATH": SRC}
        results[name] = [shape(on_tty([*program, *args], env, answers), config)
                         for args, answers in cases]
    assert results["ketch"] == results["docker"]
    assert results["ketch"][0][:2] == (0, "Username: Password: \nLogin Succeeded\n")
    assert results["ketch"][3][2] == "Error: Non-null Username Required\n"


def test_config_flag_like_docker(sides: Sides, dockerd: Dockerd, private: Registry,
                                 tmp_path: Path) -> None:
    theirs = docker(dockerd, tmp_path / "unused", "--config", str(tmp_path / "d"), "login",
                    "-u", "alice", "-p", "s3cret", private.host)
    ours = ketch(dockerd, tmp_path / "unused", "--config", str(tmp_path / "k"), "login",
                 "-u", "alice", "-p", "s3cret", private.host)
    assert shape(ours, tmp_path / "k") == shape(theirs, tmp_path / "d")
    assert (tmp_path / "k" / "config.json").read_text() == \
        (tmp_path / "d" / "config.json").read_text()
    assert not (tmp_path / "unused").exists()


def test_run_pulls_a_missing_image_like_docker(sides: Sides, dockerd: Dockerd,
                                               registry: Registry) -> None:
    repo = f"{registry.host}/bb"
    code, out, err = sides.same("run", "--rm", f"{repo}:v2", "echo", "hi",
                                before=untag(dockerd, f"{repo}:v2"))
    assert (code, out) == (0, "hi\n")
    assert err.startswith(f"Unable to find image '{repo}:v2' locally\nv2: Pulling from bb\n")
    sides.same("run", "--rm", "-q", f"{repo}:v2", "true", before=untag(dockerd, f"{repo}:v2"))
    sides.same("run", "--rm", "--pull", "always", f"{repo}:v2", "true")
    for args in (["run", "--rm", f"{repo}:v9"], ["run", "-q", f"{registry.host}/nosuch"],
                 ["run", "--pull", "never", f"{repo}:v9"], ["run", "--pull", "bad", "busybox"],
                 ["create", f"{repo}:v9"], ["create", "-q", f"{repo}:v9"],
                 ["create", "--pull", "bad", "busybox"], ["create", "--pull=", f"{repo}:v9"]):
        code, _, err = sides.same(*args)
        assert code != 0 and err, args
    code, out, _ = sides.same("create", f"{repo}:v1", before=untag(dockerd, f"{repo}:v1"))
    assert code == 0 and out == "ID\n"


def test_same_requests_as_docker(tmp_path: Path) -> None:
    """What goes to the daemon, recorded: docker's and ketch's requests must match."""
    fake = FakeDaemon(tmp_path / "rec.sock", api_version="1.44")
    fake.route("POST", "/images/create", Reply(200, chunks=[b'{"status":"ok"}\n']))
    fake.route("POST", "/auth", Reply(200, {"Status": "Login Succeeded", "IdentityToken": ""}))
    for name in ("docker.io/library/busybox", "127.0.0.1:5000/app"):
        fake.route("POST", f"/images/{name}/push", Reply(200, chunks=[b'{"status":"ok"}\n']))
    config = {"auths": {"127.0.0.1:5000": {"auth": "YWxpY2U6czNjcmV0"},
                        "https://index.docker.io/v1/": {"auth": "dTpwJjw+",
                                                        "identitytoken": "tok"}}}
    digest = "sha256:" + "a" * 64
    commands = [["pull", "busybox"], ["pull", "-a", "127.0.0.1:5000/app"],
                ["pull", "--platform", "linux/ARM64", f"127.0.0.1:5000/app@{digest}"],
                ["pull", "ghcr.io/o/app:1"], ["push", "busybox"], ["push", "-a",
                                                                   "127.0.0.1:5000/app"],
                ["push", "127.0.0.1:5000/app:v2"],
                ["login", "-u", "bob", "-p", "pw", "http://127.0.0.1:5000/"]]
    recorded: dict[str, list[list[tuple[str, str, str, str, bytes]]]] = {}
    try:
        for side in ("docker", "ketch"):
            cfg = tmp_path / side
            cfg.mkdir()
            (cfg / "config.json").write_text(json.dumps(config))
            env = {**os.environ, "DOCKER_HOST": fake.host, "DOCKER_CONFIG": str(cfg),
                   "KETCH_NO_AUTOSTART": "1", "PYTHONPATH": SRC}
            program = ["docker"] if side == "docker" else [sys.executable, "-m",
                                                           "ketch.cli.main"]
            recorded[side] = []
            for args in commands:
                start = len(fake.requests)
                proc = subprocess.run([*program, *args], env=env, capture_output=True,
                                      text=True, timeout=60, check=False)
                assert proc.returncode == 0, (side, args, proc.stderr)
                recorded[side].append([
                    (r.method, r.path, r.headers.get("x-registry-auth", ""),
                     r.headers.get("content-type", ""), r.body)
                    for r in fake.requests[start:] if not r.path.endswith("/_ping")])
    finally:
        fake.stop()
    for args, theirs, ours in zip(commands, recorded["docker"], recorded["ketch"],
                                  strict=True):
        assert ours == theirs, args


@pytest.fixture(scope="module")
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def test_against_ketchd_like_docker(ketchd: Ketchd, registry: Registry, private: Registry,
                                    tmp_path: Path) -> None:
    """Both CLIs against ketchd's own /images/create, /images/{name}/push and /auth."""
    sides = Sides(ketchd, tmp_path)
    repo = f"{registry.host}/bb"
    assert sides.same("pull", f"{repo}:v1", before=untag(ketchd, f"{repo}:v1"))[0] == 0
    assert sides.same("pull", "-q", f"{repo}:v2")[0] == 0
    assert sides.same("pull", "-a", repo, before=untag(ketchd, *(f"{repo}:{tag}" for tag in
                                                              ("v1", "v2", "latest"))))[0] == 0
    assert sides.same("pull", f"{registry.host}/nosuch")[0] == 1
    assert sides.same("push", f"{repo}:v1")[0] == 0
    assert sides.same("push", f"{registry.host}/nope")[0] == 1
    code, out, err = sides.same("run", "--rm", f"{repo}:v2", "echo", "hi",
                                before=untag(ketchd, f"{repo}:v2"))
    assert (code, out) == (0, "hi\n") and err.startswith("Unable to find image")

    ref = f"{private.host}/bb:v1"
    assert sides.same("pull", ref)[0] == 1
    assert sides.same("login", "-u", "alice", "-p", "wrong", private.host)[0] == 1
    assert sides.same("login", "-u", "alice", "--password-stdin", private.host,
                      stdin="s3cret")[:2] == (0, "Login Succeeded\n")
    assert sides.same("login", private.host)[:2] == (0, "Login Succeeded\n")
    subprocess.run(["docker", "tag", "busybox", ref], env=ketchd.env(), check=True,
                   capture_output=True)
    assert docker(ketchd, sides.docker_config, "push", ref).returncode == 0
    assert sides.same("push", ref)[0] == 0
    assert sides.same("pull", ref, before=untag(ketchd, ref))[0] == 0
    assert sides.same("logout", private.host)[0] == 0
    theirs, ours = sides.config_files()
    assert ours == theirs
