"""`cp` (the archive API) sees a container's volumes and bind mounts, running or not, as
Docker does: for the time of the call they are mounted over its root filesystem in a
private view, read-only ones refused for PUT ("mounted volume is marked read-only"),
tmpfs mounts not there (a copy under one goes to the root filesystem), paths still
resolved inside the container (a planted symlink never leads a mount to the host), and
nothing is left mounted afterwards. Through the docker CLI, docker-py and the raw API.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import docker as docker_py
import pytest

from support.daemon import Ketchd, api, docker, ok, running_ketchd

pytestmark = pytest.mark.integration

TAR = "Content-Type: application/x-tar\r\n"


# -- helpers ----------------------------------------------------------------------------


def make_tar(**files: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def contents(data: bytes) -> dict[str, bytes]:
    """name -> content of the regular files of a tar."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        for info in tar:
            if info.isreg():
                f = tar.extractfile(info)
                found[info.name] = f.read() if f else b""
    return found


def url(container: str, path: str) -> str:
    return f"/v1.44/containers/{container}/archive?path={quote(path)}"


def put(kd: Ketchd, container: str, path: str, data: bytes) -> tuple[int, bytes]:
    return api(kd, "PUT", url(container, path), data, TAR)


def get(kd: Ketchd, container: str, path: str) -> dict[str, bytes]:
    status, body = api(kd, "GET", url(container, path))
    assert status == 200, body
    return contents(_dechunk(body))


def _dechunk(body: bytes) -> bytes:
    """support.daemon.api gives the raw body: undo a chunked transfer encoding."""
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def head(kd: Ketchd, container: str, path: str) -> tuple[int, dict[str, object]]:
    with subprocess.Popen(["curl", "-sI", "--unix-socket", str(kd.socket),
                           "http://x" + url(container, path)],
                          stdout=subprocess.PIPE) as proc:
        out, _ = proc.communicate(timeout=30)
    lines = out.decode().splitlines()
    status = int(lines[0].split()[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "x-docker-container-path-stat":
            return status, json.loads(b64decode(value.strip()))
    return status, {}


def cid(kd: Ketchd, name: str) -> str:
    return ok(docker(kd, "inspect", "-f", "{{.Id}}", name)).strip()


def mount_points() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd-cpmounts")) as daemon:
        yield daemon


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host directory to bind, with a file in it."""
    path = tmp_path / "bound"
    path.mkdir()
    (path / "f.txt").write_bytes(b"from the host\n")
    return path


# -- volumes ----------------------------------------------------------------------------


def test_cp_into_the_anonymous_volume_of_a_created_container(kd: Ketchd, tmp_path: Path
                                                             ) -> None:
    ok(docker(kd, "create", "--name", "anon", "-v", "/vol1", "busybox", "cat",
              "/vol1/in.txt"))
    (tmp_path / "in.txt").write_bytes(b"copied in\n")
    ok(docker(kd, "cp", str(tmp_path / "in.txt"), "anon:/vol1/"))
    status, st = head(kd, "anon", "/vol1")
    assert status == 200 and st["name"] == "vol1" and int(str(st["mode"])) & (1 << 31)
    assert get(kd, "anon", "/vol1/in.txt") == {"in.txt": b"copied in\n"}
    # the file is in the volume, not under it in the root filesystem
    assert ok(docker(kd, "start", "-a", "anon")) == "copied in\n"
    shared = docker(kd, "run", "--rm", "--volumes-from", "anon", "busybox", "cat",
                    "/vol1/in.txt")
    assert ok(shared) == "copied in\n"
    assert "vol1/in.txt" not in ok(docker(kd, "diff", "anon"))


def test_cp_out_of_a_volume_after_the_container_ran(kd: Ketchd, tmp_path: Path) -> None:
    ok(docker(kd, "run", "--name", "writer", "-v", "/vol1", "busybox", "sh", "-c",
              "echo data > /vol1/data.txt; mkdir /vol1/d; echo deep > /vol1/d/e"))
    assert get(kd, "writer", "/vol1/data.txt") == {"data.txt": b"data\n"}
    assert get(kd, "writer", "/vol1") == {"vol1/data.txt": b"data\n", "vol1/d/e": b"deep\n"}
    # and with the whole root: the volume is in it, as Docker's archive of "/" has it
    assert get(kd, "writer", "/")["/vol1/data.txt"] == b"data\n"
    ok(docker(kd, "cp", "writer:/vol1/data.txt", str(tmp_path / "out.txt")))
    assert (tmp_path / "out.txt").read_bytes() == b"data\n"
    # export is the root filesystem alone, as Docker's
    exported = subprocess.run(["docker", "export", "writer"], env=kd.env(),
                              capture_output=True, check=True, timeout=60).stdout
    assert "vol1/data.txt" not in contents(exported)


def test_a_named_volume(kd: Ketchd, tmp_path: Path) -> None:
    ok(docker(kd, "volume", "create", "named"))
    ok(docker(kd, "create", "--name", "withnamed", "-v", "named:/data", "busybox", "cat",
              "/data/x.txt"))
    (tmp_path / "x.txt").write_bytes(b"in the named volume\n")
    ok(docker(kd, "cp", str(tmp_path / "x.txt"), "withnamed:/data/x.txt"))
    assert ok(docker(kd, "start", "-a", "withnamed")) == "in the named volume\n"
    other = docker(kd, "run", "--rm", "-v", "named:/elsewhere", "busybox", "cat",
                   "/elsewhere/x.txt")
    assert ok(other) == "in the named volume\n"
    mountpoint = ok(docker(kd, "volume", "inspect", "-f", "{{.Mountpoint}}", "named")).strip()
    assert Path(mountpoint, "x.txt").read_bytes() == b"in the named volume\n"


def test_a_running_container_too(kd: Ketchd, host: Path) -> None:
    ok(docker(kd, "run", "-d", "--name", "live", "-v", "/vol1", "-v", f"{host}:/mnt",
              "busybox", "sh", "-c", "echo live > /vol1/l.txt; exec sleep 1000"))
    try:
        for _ in range(100):
            if head(kd, "live", "/vol1/l.txt")[0] == 200:
                break
            time.sleep(0.1)
        assert get(kd, "live", "/vol1/l.txt") == {"l.txt": b"live\n"}
        assert get(kd, "live", "/mnt/f.txt") == {"f.txt": b"from the host\n"}
        assert put(kd, "live", "/vol1", make_tar(**{"p.txt": b"put\n"}))[0] == 200
        assert ok(docker(kd, "exec", "live", "cat", "/vol1/p.txt")) == "put\n"
    finally:
        docker(kd, "rm", "-f", "live")


# -- bind mounts ------------------------------------------------------------------------


def test_a_bind_mount_of_a_stopped_container(kd: Ketchd, host: Path, tmp_path: Path) -> None:
    ok(docker(kd, "run", "--name", "bound", "-v", f"{host}:/mnt", "busybox", "true"))
    assert head(kd, "bound", "/mnt/f.txt")[1]["size"] == len(b"from the host\n")
    assert get(kd, "bound", "/mnt/f.txt") == {"f.txt": b"from the host\n"}
    ok(docker(kd, "cp", "bound:/mnt/f.txt", str(tmp_path / "back.txt")))
    assert (tmp_path / "back.txt").read_bytes() == b"from the host\n"
    assert put(kd, "bound", "/mnt", make_tar(**{"api.txt": b"by the API\n"}))[0] == 200
    assert (host / "api.txt").read_bytes() == b"by the API\n"
    (tmp_path / "cli.txt").write_bytes(b"by the CLI\n")
    ok(docker(kd, "cp", str(tmp_path / "cli.txt"), "bound:/mnt/"))
    assert (host / "cli.txt").read_bytes() == b"by the CLI\n"
    # a bind of a single file
    (tmp_path / "single").write_bytes(b"one file\n")
    ok(docker(kd, "create", "--name", "onefile", "-v", f"{tmp_path / 'single'}:/etc/one",
              "busybox"))
    assert get(kd, "onefile", "/etc/one") == {"one": b"one file\n"}


def test_a_read_only_bind_is_refused_for_put(kd: Ketchd, host: Path, tmp_path: Path) -> None:
    ok(docker(kd, "create", "--name", "robind", "-v", f"{host}:/ro:ro", "-v", "/vol1",
              "busybox", "true"))
    assert get(kd, "robind", "/ro/f.txt") == {"f.txt": b"from the host\n"}
    status, body = put(kd, "robind", "/ro", make_tar(**{"no.txt": b"no\n"}))
    assert (status, json.loads(body)["message"]) == (400, "mounted volume is marked read-only")
    status, body = put(kd, "robind", "/ro/.", make_tar(**{"no.txt": b"no\n"}))
    assert status == 400
    (tmp_path / "no.txt").write_bytes(b"no\n")
    refused = docker(kd, "cp", str(tmp_path / "no.txt"), "robind:/ro/")
    assert refused.returncode != 0
    assert refused.stderr.strip() == "Error response from daemon: mounted volume is marked " \
                                     "read-only"
    # through the root: the mount is read-only in the view itself
    status, _ = put(kd, "robind", "/", make_tar(**{"ro/no.txt": b"no\n"}))
    assert status >= 400
    assert sorted(os.listdir(host)) == ["f.txt"]
    # the container's other mounts, and its root, stay writable
    assert put(kd, "robind", "/vol1", make_tar(**{"yes.txt": b"yes\n"}))[0] == 200
    assert put(kd, "robind", "/", make_tar(**{"top.txt": b"top\n"}))[0] == 200


def test_a_read_only_root_with_a_volume(kd: Ketchd) -> None:
    ok(docker(kd, "create", "--name", "rootro", "--read-only", "-v", "/vol1", "busybox",
              "cat", "/vol1/v.txt"))
    assert put(kd, "rootro", "/vol1", make_tar(**{"v.txt": b"in the volume\n"}))[0] == 200
    status, body = put(kd, "rootro", "/", make_tar(**{"r.txt": b"no\n"}))
    assert (status, json.loads(body)["message"]) == (400, "container rootfs is marked "
                                                          "read-only")
    assert ok(docker(kd, "start", "-a", "rootro")) == "in the volume\n"


def test_tmpfs_mounts_are_not_there_when_stopped(kd: Ketchd) -> None:
    """As Docker: a tmpfs is not part of the view, so a copy under its destination goes to
    the root filesystem, where the container (with its tmpfs over it) never sees it."""
    ok(docker(kd, "create", "--name", "tmpfs", "--mount", "type=tmpfs,dst=/tm", "busybox",
              "sh", "-c", "ls -A /tm"))
    status, body = put(kd, "tmpfs", "/tm", make_tar(**{"t.txt": b"t\n"}))
    assert status == 404, body  # the mount point is not in the root filesystem yet
    assert ok(docker(kd, "start", "-a", "tmpfs")) == ""
    assert put(kd, "tmpfs", "/tm", make_tar(**{"t.txt": b"t\n"}))[0] == 200
    assert get(kd, "tmpfs", "/tm/t.txt") == {"t.txt": b"t\n"}
    assert ok(docker(kd, "start", "-a", "tmpfs")) == ""  # under the tmpfs: not seen


# -- docker-py --------------------------------------------------------------------------


def test_docker_py_put_and_get_archive(kd: Ketchd, host: Path) -> None:
    client = docker_py.DockerClient(base_url=kd.host)
    try:
        box = client.containers.create("busybox", ["cat", "/vol1/py.txt"],
                                       volumes=[f"{host}:/mnt:ro", "/vol1"])
        assert box.put_archive("/vol1", make_tar(**{"py.txt": b"docker-py\n"})) is True
        stream, st = box.get_archive("/vol1/py.txt")
        assert st["name"] == "py.txt" and st["size"] == len(b"docker-py\n")
        assert contents(b"".join(stream)) == {"py.txt": b"docker-py\n"}
        stream, _ = box.get_archive("/mnt/f.txt")
        assert contents(b"".join(stream)) == {"f.txt": b"from the host\n"}
        with pytest.raises(docker_py.errors.APIError) as refused:
            box.put_archive("/mnt", make_tar(**{"no.txt": b"no\n"}))
        assert refused.value.status_code == 400
        assert refused.value.explanation == "mounted volume is marked read-only"
        box.start()
        assert box.wait()["StatusCode"] == 0
        assert box.logs() == b"docker-py\n"
        box.remove(v=True)
    finally:
        client.close()


# -- paths stay inside the container -------------------------------------------------------


def test_a_planted_symlink_does_not_lead_a_mount_to_the_host(kd: Ketchd, host: Path,
                                                             tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "secret").write_bytes(b"secret\n")
    ok(docker(kd, "run", "--name", "planter", "busybox", "ln", "-s",
              f"/../../../../../..{canary}", "/link"))
    ok(docker(kd, "commit", "planter", "planted"))
    ok(docker(kd, "create", "--name", "victim", "-v", f"{host}:/link/sub", "planted"))
    assert put(kd, "victim", "/link/sub", make_tar(**{"in.txt": b"in\n"}))[0] == 200
    assert (host / "in.txt").read_bytes() == b"in\n"
    assert get(kd, "victim", "/link/sub/f.txt") == {"f.txt": b"from the host\n"}
    assert sorted(os.listdir(canary)) == ["secret"]  # the mount point is in the container
    assert f"{canary}/sub".lstrip("/") in ok(docker(kd, "diff", "victim"))


# -- nothing left behind ------------------------------------------------------------------


def test_nothing_is_left_mounted(kd: Ketchd, host: Path) -> None:
    ok(docker(kd, "create", "--name", "leaves", "-v", "/vol1", "-v", f"{host}:/mnt",
              "-v", f"{host}:/ro:ro", "busybox"))
    assert put(kd, "leaves", "/vol1", make_tar(**{"a.txt": b"a\n"}))[0] == 200
    assert get(kd, "leaves", "/mnt/f.txt") == {"f.txt": b"from the host\n"}
    assert put(kd, "leaves", "/ro", make_tar(**{"a.txt": b"a\n"}))[0] == 400
    ids = ok(docker(kd, "ps", "-aq", "--no-trunc")).split()
    assert cid(kd, "leaves") in ids
    points = mount_points()
    for container in ids:  # its root filesystem, nothing on it
        assert not [p for p in points if container in p and not p.endswith("/merged")]
    assert not [p for p in points if p.startswith(str(kd.data_root / "volumes"))]
    assert not [p for p in points if p.startswith(str(host))]
    pid = kd.proc.pid if kd.proc else 0
    mine = os.readlink(f"/proc/{pid}/ns/mnt")
    for task in os.listdir(f"/proc/{pid}/task"):  # no thread left in a view's namespace
        assert os.readlink(f"/proc/{pid}/task/{task}/ns/mnt") == mine
    for fd in os.listdir(f"/proc/{pid}/fd"):  # and no namespace held open
        try:
            assert not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("mnt:")
        except FileNotFoundError:
            pass


def test_the_daemon_logged_no_traceback(kd: Ketchd) -> None:
    assert "Traceback" not in kd.log.read_text()
