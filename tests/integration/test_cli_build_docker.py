"""`ketch build` side by side with `docker build` (DOCKER_BUILDKIT=0, the legacy builder)
against one private dockerd: same output shape, same image, same -q/--iidfile, same
failure; and against a recording daemon: the same request (query and headers)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dockerd import Dockerd, running_dockerd
from unit.test_client_fakedaemon import FakeDaemon, Reply

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).resolve().parents[2] / "src")
DEPRECATED = re.compile(r"DEPRECATED: The legacy builder.*?environment-variable\.\n\n", re.S)


def ketch(host: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KETCH_NO_AUTOSTART": "1", "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", "-H", host, *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
                          check=False)


def shape(proc: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    """Exit code and outputs, with IDs and the legacy builder's notice taken out."""
    def norm(text: str) -> str:
        return re.sub(r"\b[0-9a-f]{12}\b|sha256:[0-9a-f]{64}", "ID", text)
    return proc.returncode, norm(proc.stdout), norm(DEPRECATED.sub("", proc.stderr))


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    with running_dockerd(tmp_path_factory.mktemp("dockerd")) as daemon:
        daemon.import_busybox()
        yield daemon


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM busybox\nRUN echo hello > /f\nCOPY a.txt /a.txt\n'
                                    'CMD ["cat", "/f"]\n')
    (ctx / "bad.Dockerfile").write_text("FROM busybox\nRUN echo no; exit 3\n")
    (ctx / "a.txt").write_text("A\n")
    return ctx


def test_build_like_docker(dockerd: Dockerd, context: Path, tmp_path: Path) -> None:
    host = f"unix://{dockerd.socket}"
    theirs = dockerd("build", "--no-cache", "-t", "dk:latest", ".", cwd=context)
    ours = ketch(host, "build", "--no-cache", "-t", "kt", ".", cwd=context)
    assert ours.returncode == 0, ours.stderr
    code, out, err = shape(theirs)
    assert shape(ours) == (code, out.replace("dk:latest", "kt:latest"), err)
    lines = [line for line in ours.stdout.split("\n") if line]  # text mode: "\r\r\n" is 2
    assert lines[0].startswith("Sending build context to Docker daemon")
    assert lines[1] == "Step 1/4 : FROM busybox" and lines[-1] == "Successfully tagged kt:latest"
    built = lines[-2].split()[-1]
    inspect = json.loads(dockerd("image", "inspect", "kt:latest").stdout)[0]
    assert inspect["Id"].startswith("sha256:" + built)
    assert inspect["Config"]["Cmd"] == ["cat", "/f"]
    run = dockerd("run", "--rm", "--network", "none", "kt", "cat", "/f", "/a.txt")
    assert run.stdout == "hello\nA\n"

    # -q and --iidfile: the same bytes as docker's
    ours_q = ketch(host, "build", "-q", "--iidfile", str(tmp_path / "k.iid"), ".", cwd=context)
    theirs_q = dockerd("build", "-q", "--iidfile", str(tmp_path / "d.iid"), ".", cwd=context)
    assert (ours_q.returncode, ours_q.stdout) == (theirs_q.returncode, theirs_q.stdout)
    assert ours_q.stdout == inspect["Id"] + "\n"
    assert (tmp_path / "k.iid").read_text() == (tmp_path / "d.iid").read_text()
    ketch(host, "build", "--iidfile", str(tmp_path / "k.iid"), ".", cwd=context)
    dockerd("build", "--iidfile", str(tmp_path / "d.iid"), ".", cwd=context)
    assert (tmp_path / "k.iid").read_text() == (tmp_path / "d.iid").read_text() == inspect["Id"]


def test_failing_run_like_docker(dockerd: Dockerd, context: Path) -> None:
    host = f"unix://{dockerd.socket}"
    for extra in ([], ["-q"]):
        theirs = dockerd("build", *extra, "-f", "bad.Dockerfile", ".", cwd=context)
        ours = ketch(host, "build", *extra, "-f", "bad.Dockerfile", ".", cwd=context)
        assert shape(ours) == shape(theirs)
        assert ours.returncode == 3
        assert ours.stderr.endswith(
            "The command '/bin/sh -c echo no; exit 3' returned a non-zero code: 3\n")


def test_same_request_as_docker(tmp_path: Path, context: Path) -> None:
    fake = FakeDaemon(tmp_path / "rec.sock", api_version="1.44")
    fake.route("POST", "/build", Reply(200, chunks=[b'{"aux":{"ID":"sha256:ab"}}\n']))
    env = {**os.environ, "DOCKER_HOST": fake.host, "DOCKER_BUILDKIT": "0",
           "DOCKER_CONFIG": str(tmp_path / "cfg")}
    args = ["build", "-t", "a/b:c", "-t", "d", "--build-arg", "A=1 2", "--label", "k=v",
            "--target", "t", "--network", "host", "--no-cache", "--pull", "--force-rm",
            "--rm=false", "--shm-size", "1g", "--cache-from", "x,y", "--add-host",
            "h:10.0.0.1", "--platform", "Linux/amd64", "-f", "Dockerfile", "."]
    try:
        proc = subprocess.run(["docker", *args], env=env, cwd=context, capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        assert ketch(fake.host, *args, cwd=context).returncode == 0
    finally:
        fake.stop()
    theirs, ours = [r for r in fake.requests if r.method == "POST"]
    assert ours.path == theirs.path  # same API version here: the whole target matches
    for name in ("content-type", "transfer-encoding", "x-registry-config"):
        assert ours.headers[name] == theirs.headers[name]
    assert set(theirs.headers) - set(ours.headers) <= {"accept-encoding"}
    assert len(ours.body) == len(theirs.body)
