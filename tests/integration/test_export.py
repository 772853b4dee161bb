"""`export` against a private ketchd: GET /containers/{id}/export, `ketch export` and the
real `docker export`, for running, created and exited containers."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, running_ketchd

pytestmark = pytest.mark.integration

KETCH = "/opt/ketch/bin/ketch"


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd-export")) as daemon:
        yield daemon


def run(kd: Ketchd, *argv: str, stdin: bytes = b"", cwd: Path | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(argv), input=stdin, capture_output=True, env=kd.env(),
                          cwd=cwd, timeout=60, check=False)


def cli(kd: Ketchd, which: str, *args: str, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    return run(kd, KETCH if which == "ketch" else "docker", *args, cwd=cwd)


def entries(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {info.name + ("/" if info.isdir() else ""): info for info in tar.getmembers()}


def content(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


@pytest.fixture(scope="module")
def running(kd: Ketchd) -> str:
    proc = cli(kd, "docker", "run", "-d", "--name", "live", "busybox", "sh", "-c",
               "echo marker > /marker; mkdir -p /d; ln -s / /d/root; ln -s ../../../.. /d/up; "
               "ln /marker /d/hard; touch /ready; exec sleep 1000")
    assert proc.returncode == 0, proc.stderr
    for _ in range(200):
        if b"ready" in cli(kd, "ketch", "export", "live").stdout:
            break
    return "live"


def test_export_is_the_whole_filesystem_relative(kd: Ketchd, running: str) -> None:
    data = cli(kd, "ketch", "export", running).stdout
    found = entries(data)
    assert "bin/" in found and "bin/busybox" in found and "marker" in found
    assert not any(name.startswith(("/", "./")) for name in found)  # relative, no root entry
    assert content(data, "d/hard") == b"marker\n"
    assert found["d/root"].issym() and found["d/root"].linkname == "/"  # never followed
    assert found["d/up"].linkname == "../../../.."
    assert found["marker"].islnk() and found["marker"].linkname == "d/hard"  # first name
    assert found["bin/busybox"].mode == 0o755 and found["bin/busybox"].size > 100_000


def test_docker_cli_and_ketch_cli_get_the_same_bytes(kd: Ketchd, running: str,
                                                      tmp_path: Path) -> None:
    ours = cli(kd, "ketch", "export", running)
    theirs = cli(kd, "docker", "export", running)
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout
    for which in ("ketch", "docker"):
        proc = cli(kd, which, "export", "-o", f"{which}.tar", running, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout == b"", proc.stderr
        assert (tmp_path / f"{which}.tar").read_bytes() == ours.stdout
        assert (tmp_path / f"{which}.tar").stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ["docker.tar", "ketch.tar"]  # no temporary left


def test_created_and_exited_containers(kd: Ketchd) -> None:
    assert cli(kd, "docker", "create", "--name", "fresh", "busybox", "true").returncode == 0
    assert cli(kd, "docker", "run", "--name", "done", "busybox", "sh", "-c",
               "echo bye > /bye").returncode == 0
    assert "bin/sh" in entries(cli(kd, "ketch", "export", "fresh").stdout)
    assert content(cli(kd, "docker", "export", "done").stdout, "bye") == b"bye\n"


def test_export_reimports_as_an_image(kd: Ketchd, running: str) -> None:
    data = cli(kd, "ketch", "export", running).stdout
    assert run(kd, KETCH, "import", "-", "exported:1", stdin=data).returncode == 0
    out = cli(kd, "docker", "run", "--rm", "exported:1", "cat", "/marker")
    assert out.stdout == b"marker\n", out.stderr


def test_errors_are_dockers(kd: Ketchd, running: str, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("target")
    (tmp_path / "file").write_text("x")
    cases = {
        ("-o", "/nonexistent/x.tar", running):
            "failed to export container: invalid output path: stat /nonexistent: no such "
            "file or directory",
        ("-o", "file/x.tar", running):
            "failed to export container: invalid output path: stat file: not a directory",
        ("-o", "dir", running): "failed to export container: cannot write to a directory",
        ("-o", "fifo", running):
            "failed to export container: cannot write to a named pipe (FIFO)",
        ("-o", "link", running):
            "failed to export container: cannot write to a symbolic link directly",
        ("-o", "/dev/null", running):
            "failed to export container: cannot write to a character device file",
        ("nosuch",): "Error response from daemon: No such container: nosuch",
    }
    for which in ("ketch", "docker"):
        for args, message in cases.items():
            proc = cli(kd, which, "export", *args, cwd=tmp_path)
            assert (proc.returncode, proc.stderr.decode().strip()) == (1, message), \
                (which, args)
        terminal = run(kd, "script", "-qec", f"{KETCH if which == 'ketch' else 'docker'} "
                       f"export {running}", "/dev/null")
        assert terminal.stdout.decode().strip() == \
            "cowardly refusing to save to a terminal. Use the -o flag or redirect"
    assert sorted(os.listdir(tmp_path)) == ["dir", "fifo", "file", "link"]
