"""`ketch build` against a canned daemon: the POST /build request is the docker CLI 28's
(query and headers recorded from it with DOCKER_BUILDKIT=0), the context tar holds what it
should, and the answer's JSON messages are printed as docker prints them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.cli.commands.build import is_archive, sending_line
from ketch.cli.resourceflags import ram_in_bytes
from ketch.client.api import build_query
from unit.test_client_fakedaemon import FakeDaemon, Reply, Request

ID = "sha256:" + "ab" * 32
OK_STREAM = [b'{"stream":"Step 1/1 : FROM busybox\\n"}\r\n{"stream":" ---> 64ccade1256b\\n"}\r\n',
             b'{"aux":{"ID":"' + ID.encode() + b'"}}\r\n',
             b'{"stream":"Successfully built abababababab\\n"}\r\n']


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    fake = FakeDaemon(tmp_path / "d.sock", api_version="1.44")
    yield fake
    fake.stop()


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY a.txt /\n")
    (ctx / "a.txt").write_text("A\n")
    (ctx / "skip.log").write_text("x\n")
    (ctx / ".dockerignore").write_text("*.log\n")
    return ctx


def ketch(host: str, *args: str, cwd: Path | None = None, stdin: bytes = b"",
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    full = {**os.environ, "KETCH_HOST": host, "KETCH_NO_AUTOSTART": "1", **(env or {})}
    full.pop("DOCKER_HOST", None)
    full["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", *args], input=stdin,
                          capture_output=True, env=full, cwd=cwd, timeout=30, check=False)


def builds(daemon: FakeDaemon) -> list[Request]:
    return [r for r in daemon.requests if r.method == "POST"]


def entries(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                for m in tar}


# -- the request ------------------------------------------------------------------------
def test_plain_build_request_and_output(daemon: FakeDaemon, context: Path) -> None:
    daemon.route("POST", "/build", Reply(200, chunks=OK_STREAM))
    proc = ketch(daemon.host, "build", "-t", "x:1", "-t", "y", ".", cwd=context)
    assert (proc.returncode, proc.stderr) == (0, b"")
    [req] = builds(daemon)
    # the docker CLI 28 sends exactly this (but at /v1.50, its version)
    assert req.path == "/v1.44/build?dockerfile=Dockerfile&t=x%3A1&t=y&version=1"
    assert req.headers["content-type"] == "application/x-tar"
    assert req.headers["transfer-encoding"] == "chunked"
    assert req.headers["x-registry-config"] == "e30="
    files = entries(req.body)
    assert sorted(files) == [".dockerignore", "Dockerfile", "a.txt"]
    assert files["a.txt"] == b"A\n"
    assert proc.stdout.decode() == (
        sending_line(len(req.body)) + "Step 1/1 : FROM busybox\n ---> 64ccade1256b\n"
        "Successfully built abababababab\n")
    assert sending_line(3072) == "Sending build context to Docker daemon  3.072kB\r\r\n"


def test_every_flag_in_the_query(daemon: FakeDaemon, context: Path) -> None:
    daemon.route("POST", "/build", Reply(200, chunks=OK_STREAM))
    proc = ketch(daemon.host, "build", "--build-arg", "FOO", "--build-arg", "A=b",
                 "--build-arg", "UNSET_KT", "--label", "l=v", "--label", "k", "--target", "t",
                 "--network", "host", "--shm-size", "64m", "--cache-from", "a,b",
                 "--cache-from", "c", "--add-host", "h:1.2.3.4", "--platform", "linux/amd64",
                 "-f", "Dockerfile", "--no-cache", "--pull", "--force-rm", "--rm=false",
                 "-q", ".", cwd=context, env={"FOO": "bar"})
    assert proc.returncode == 0, proc.stderr
    # recorded from `docker build` with the same flags
    assert builds(daemon)[0].path == (
        "/v1.44/build?buildargs=%7B%22A%22%3A%22b%22%2C%22FOO%22%3A%22bar%22%2C%22UNSET_KT"
        "%22%3Anull%7D&cachefrom=%5B%22a%22%2C%22b%22%2C%22c%22%5D&dockerfile=Dockerfile&"
        "extrahosts=h%3A1.2.3.4&forcerm=1&labels=%7B%22k%22%3A%22%22%2C%22l%22%3A%22v%22%7D&"
        "networkmode=host&nocache=1&platform=linux%2Famd64&pull=1&q=1&rm=0&shmsize=67108864"
        "&target=t&version=1")


def test_query_encoding_like_go() -> None:
    assert build_query(labels={"a": "c d"}, build_args={"k": "v w"}, network_mode="default",
                       tags=["x"]) == ("buildargs=%7B%22k%22%3A%22v+w%22%7D&"
                                       "labels=%7B%22a%22%3A%22c+d%22%7D&t=x&version=1")
    assert build_query(labels={"a": "<&>"}) == (
        "labels=%7B%22a%22%3A%22%5Cu003c%5Cu0026%5Cu003e%22%7D&version=1")


def test_dockerfile_from_stdin_joins_the_context(daemon: FakeDaemon, context: Path) -> None:
    daemon.route("POST", "/build", Reply(200, chunks=OK_STREAM))
    proc = ketch(daemon.host, "build", "-f", "-", ".", cwd=context, stdin=b"FROM scratch\n")
    assert proc.returncode == 0, proc.stderr
    [req] = builds(daemon)
    name = req.path.split("dockerfile=")[1].split("&")[0]
    assert name.startswith(".dockerfile.") and len(name) == 32
    files = entries(req.body)
    assert files[name] == b"FROM scratch\n"
    assert files[".dockerignore"] == f"*.log\n\n{name}\n".encode()


def test_stdin_dockerfile_or_tar_as_context(daemon: FakeDaemon, context: Path) -> None:
    daemon.route("POST", "/build", Reply(200, chunks=OK_STREAM))
    proc = ketch(daemon.host, "build", "-", stdin=b"FROM busybox\n")
    assert proc.returncode == 0, proc.stderr
    req = builds(daemon)[-1]
    assert req.path == "/v1.44/build?dockerfile=Dockerfile&version=1"
    assert entries(req.body) == {"Dockerfile": b"FROM busybox\n"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(context / "Dockerfile", "Dockerfile")
    proc = ketch(daemon.host, "build", "-", stdin=buf.getvalue())
    assert proc.returncode == 0, proc.stderr
    req = builds(daemon)[-1]
    assert req.path == "/v1.44/build?version=1"  # no -f: the daemon's default
    assert req.body == buf.getvalue()


# -- the answer -------------------------------------------------------------------------
def test_quiet_prints_only_the_id_and_iidfile(daemon: FakeDaemon, context: Path,
                                              tmp_path: Path) -> None:
    daemon.route("POST", "/build", Reply(200, chunks=[
        b'{"stream":"' + ID.encode() + b'\\n"}\r\n', b'{"aux":{"ID":"' + ID.encode() + b'"}}\r\n']))
    iid = tmp_path / "iid"
    proc = ketch(daemon.host, "build", "-q", "--iidfile", str(iid), ".", cwd=context)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, ID.encode() + b"\n", b"")
    assert iid.read_text() == ID + "\n"  # docker writes what -q printed
    daemon.route("POST", "/build", Reply(200, chunks=OK_STREAM))
    proc = ketch(daemon.host, "build", "--iidfile", str(iid), ".", cwd=context)
    assert proc.returncode == 0
    assert iid.read_text() == ID  # the aux ID, no newline


def test_error_detail_is_the_message_and_exit_code(daemon: FakeDaemon, context: Path) -> None:
    message = "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    daemon.route("POST", "/build", Reply(200, chunks=[
        b'{"stream":"Step 1/2 : FROM busybox\\n"}\r\n',
        json.dumps({"errorDetail": {"code": 3, "message": message},
                    "error": message}).encode() + b"\r\n"]))
    proc = ketch(daemon.host, "build", ".", cwd=context)
    assert proc.returncode == 3
    assert proc.stdout.decode().endswith("Step 1/2 : FROM busybox\n")
    assert proc.stderr.decode() == message + "\n"
    proc = ketch(daemon.host, "build", "-q", ".", cwd=context)
    assert (proc.returncode, proc.stdout) == (3, b"")
    assert proc.stderr.decode().endswith("Step 1/2 : FROM busybox\n" + message + "\n")
    daemon.route("POST", "/build", Reply(200, chunks=[b'{"errorDetail":{"message":"x"}}\n']))
    assert ketch(daemon.host, "build", ".", cwd=context).returncode == 1


def test_daemon_error_status(daemon: FakeDaemon, context: Path) -> None:
    daemon.route("POST", "/build", Reply(500, {"message": "Cannot locate specified Dockerfile"}))
    proc = ketch(daemon.host, "build", ".", cwd=context)
    assert proc.returncode == 1
    assert proc.stderr == b"Error response from daemon: Cannot locate specified Dockerfile\n"


# -- refusals -----------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "code", "line"), [
    (["https://example.com/x.git"], 1, "ketch build: remote contexts are not supported yet"),
    (["/nonexistent-kt"], 1, 'unable to prepare context: path "/nonexistent-kt" not found'),
    (["-f", "-", "-"], 1,
     "invalid argument: can't use stdin for both build context and dockerfile"),
    (["-t", "Bad:Tag", "."], 125, 'invalid argument "Bad:Tag" for "-t, --tag" flag: invalid '
     "reference format: repository name (library/Bad) must be lowercase"),
    (["--shm-size", "12x", "."], 125,
     'invalid argument "12x" for "--shm-size" flag: invalid suffix: \'x\''),
    (["--build-arg", "=x", "."], 125,
     'invalid argument "=x" for "--build-arg" flag: invalid environment variable: =x'),
])
def test_refusals(tmp_path: Path, context: Path, args: list[str], code: int,
                  line: str) -> None:
    proc = ketch(f"unix://{tmp_path}/none.sock", "build", *args, cwd=context)
    assert proc.returncode == code
    assert proc.stderr.decode().splitlines()[0] == line


def test_helpers() -> None:
    assert ram_in_bytes("64m", "--shm-size") == 64 << 20
    assert ram_in_bytes("1.5KiB", "--shm-size") == 1536
    assert ram_in_bytes("100", "--shm-size") == 100
    assert is_archive(b"\x1f\x8b\x08\x00")
    assert not is_archive(b"FROM busybox\n")
