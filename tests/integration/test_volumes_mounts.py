"""Containers with bind mounts, named and anonymous volumes and tmpfs mounts (real mounts
in real containers), through the docker CLI against a private ketchd."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, api, docker, ok, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def mounts(kd: Ketchd, name: str) -> list[dict[str, object]]:
    result: list[dict[str, object]] = json.loads(
        ok(docker(kd, "inspect", "-f", "{{json .Mounts}}", name)))
    return result


def test_bind_mount_read_only_and_created_source(kd: Ketchd, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("hello from the host\n")
    out = ok(docker(kd, "run", "--rm", "-v", f"{site}:/www:ro", "busybox", "sh", "-c",
                    "cat /www/index.html; echo x > /www/new 2>/dev/null || echo refused"))
    assert out == "hello from the host\nrefused\n"
    (site / "index.html").write_text("changed\n")  # the same files, not a copy
    assert ok(docker(kd, "run", "--rm", "-v", f"{site}:/www", "busybox", "cat",
                     "/www/index.html")) == "changed\n"
    made = tmp_path / "made" / "here"  # -v creates a missing host directory
    ok(docker(kd, "run", "--rm", "-v", f"{made}:/m", "busybox", "touch", "/m/f"))
    assert (made / "f").exists()
    ok(docker(kd, "create", "--name", "b1", "-v", f"{site}:/www:ro", "busybox"))
    assert mounts(kd, "b1") == [{"Type": "bind", "Source": str(site), "Destination": "/www",
                                 "Mode": "ro", "RW": False, "Propagation": "rprivate"}]
    ok(docker(kd, "rm", "b1"))


def test_named_volume_keeps_data_and_is_filled_from_the_image(kd: Ketchd) -> None:
    ok(docker(kd, "run", "--rm", "-v", "data1:/data", "busybox", "sh", "-c",
              "echo kept > /data/f"))
    assert ok(docker(kd, "run", "--rm", "-v", "data1:/data", "busybox", "cat",
                     "/data/f")) == "kept\n"
    # copy-up: an empty volume gets what the image has there, owners and modes too
    out = ok(docker(kd, "run", "--rm", "-v", "etc1:/etc", "busybox", "sh", "-c",
                    "ls /etc/passwd && stat -c '%u %a' /etc"))
    assert out.splitlines()[0] == "/etc/passwd"
    volume = json.loads(ok(docker(kd, "volume", "inspect", "etc1")))[0]
    assert os.path.exists(os.path.join(volume["Mountpoint"], "passwd"))
    ok(docker(kd, "create", "--name", "v1", "-v", "data1:/data", "busybox"))
    [point] = mounts(kd, "v1")
    assert point["Name"] == "data1" and point["Mode"] == "z" and point["Driver"] == "local"
    busy = docker(kd, "volume", "rm", "data1")
    assert busy.returncode == 1 and "volume is in use" in busy.stderr
    ok(docker(kd, "rm", "v1"))
    ok(docker(kd, "volume", "rm", "data1", "etc1"))


def test_anonymous_volumes_and_rm_v(kd: Ketchd) -> None:
    ok(docker(kd, "run", "--name", "img-src", "busybox", "true"))
    ok(docker(kd, "commit", "-c", "VOLUME /data", "img-src", "withvol:1"))
    ok(docker(kd, "rm", "img-src"))
    ok(docker(kd, "create", "--name", "a1", "withvol:1", "true"))
    [point] = mounts(kd, "a1")
    name = str(point["Name"])
    assert len(name) == 64 and point["Destination"] == "/data" and point["Mode"] == ""
    assert name in ok(docker(kd, "volume", "ls", "-q")).split()
    ok(docker(kd, "rm", "-v", "a1"))
    assert name not in ok(docker(kd, "volume", "ls", "-q")).split()
    # --rm takes its anonymous volumes along too
    before = set(ok(docker(kd, "volume", "ls", "-q")).split())
    ok(docker(kd, "run", "--rm", "withvol:1", "true"))
    assert set(ok(docker(kd, "volume", "ls", "-q")).split()) == before
    ok(docker(kd, "rmi", "withvol:1"))


def test_tmpfs_mounts(kd: Ketchd) -> None:
    out = ok(docker(kd, "run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
                    "--tmpfs", "/run2", "busybox", "sh", "-c",
                    "grep -E ' /t | /run2 ' /proc/mounts | cut -d' ' -f2,3"))
    assert sorted(out.split("\n")[:-1]) == ["/run2 tmpfs", "/t tmpfs"]


def test_bad_mounts_are_one_line_and_leave_nothing(kd: Ketchd) -> None:
    before = ok(docker(kd, "volume", "ls", "-q")), ok(docker(kd, "ps", "-aq"))
    for args, words in (
            (["-v", "/tmp:rel"], "mount path must be absolute"),
            (["-v", "/tmp:/x", "-v", "somevol:/x"], "Duplicate mount point: /x"),
            (["--mount", "type=bind,source=/nope-ketch,target=/x"],
             "bind source path does not exist"),
            (["-v", "/tmp:/x:bogus"], "invalid mode: bogus")):
        proc = docker(kd, "run", "--rm", *args, "busybox")  # run: 125, as with dockerd
        assert proc.returncode == 125 and words in proc.stderr, (args, proc.stderr)
    status, body = api(kd, "POST", "/containers/create",
                       json.dumps({"Image": "busybox",
                                   "HostConfig": {"Binds": ["./rel:/x"]}}).encode(),
                       headers="Content-Type: application/json\r\n")
    assert status == 400 and b"If you intended to pass a host directory" in body
    assert (ok(docker(kd, "volume", "ls", "-q")), ok(docker(kd, "ps", "-aq"))) == before


def test_a_tmpfs_volume_is_let_go_after_a_daemon_restart(kd: Ketchd) -> None:
    """The store counts a volume's users in memory: a new ketchd counts its running
    containers' volumes again, so the last exit still unmounts."""
    ok(docker(kd, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "tv1"))
    ok(docker(kd, "run", "-d", "--name", "t1", "-v", "tv1:/t", "busybox", "sleep", "60"))
    mountpoint = json.loads(ok(docker(kd, "volume", "inspect", "tv1")))[0]["Mountpoint"]

    def mounted() -> bool:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == mountpoint for line in f)

    assert mounted()
    kd.kill9()
    kd.start()
    assert mounted()  # the container still runs, its volume stays
    ok(docker(kd, "rm", "-f", "t1"))
    assert not mounted()
    ok(docker(kd, "volume", "rm", "tv1"))


def test_system_df_counts_volumes(kd: Ketchd) -> None:
    ok(docker(kd, "run", "--name", "dfv", "-v", "dfvol:/d", "busybox", "sh", "-c",
              "head -c 5000 /dev/zero > /d/a && ln /d/a /d/b && mkdir /d/sub"))
    status, body = api(kd, "GET", "/system/df")
    assert status == 200
    [volume] = [v for v in json.loads(body)["Volumes"] if v["Name"] == "dfvol"]
    assert volume["UsageData"] == {"Size": 5000, "RefCount": 1}  # a hard link counts once
    assert "dfvol" in ok(docker(kd, "system", "df", "-v"))
    ok(docker(kd, "rm", "dfv"))
    ok(docker(kd, "volume", "rm", "dfvol"))


def test_ketch_inspect_finds_volumes(kd: Ketchd) -> None:
    import subprocess

    ok(docker(kd, "volume", "create", "insp1"))
    for args in (["inspect", "insp1"], ["inspect", "--type", "volume", "insp1"]):
        proc = subprocess.run(["ketch", *args, "-f", "{{.Name}} {{.Driver}}"],
                              env=kd.env(), capture_output=True, text=True, timeout=30,
                              check=False)
        assert (proc.returncode, proc.stdout) == (0, "insp1 local\n"), proc.stderr
    ok(docker(kd, "volume", "rm", "insp1"))


def test_volumes_from(kd: Ketchd, tmp_path: Path) -> None:
    ok(docker(kd, "create", "--name", "vf-src", "-v", "vfdata:/data", "-v",
              f"{tmp_path}:/host", "busybox"))
    (tmp_path / "f").write_text("from the host\n")
    out = ok(docker(kd, "run", "--rm", "--volumes-from", "vf-src", "busybox", "sh", "-c",
                    "echo shared > /data/x; cat /host/f"))
    assert out == "from the host\n"
    assert ok(docker(kd, "run", "--rm", "-v", "vfdata:/d", "busybox", "cat", "/d/x")) == \
        "shared\n"
    ro = docker(kd, "run", "--rm", "--volumes-from", "vf-src:ro", "busybox", "sh", "-c",
                "touch /data/y")
    assert ro.returncode != 0
    # dockerd's answer: a 404 (the docker CLI then even tries to pull the image)
    status, body = api(kd, "POST", "/containers/create",
                       json.dumps({"Image": "busybox",
                                   "HostConfig": {"VolumesFrom": ["nope"]}}).encode(),
                       headers="Content-Type: application/json\r\n")
    assert status == 404 and b"No such container: nope" in body
    ok(docker(kd, "rm", "vf-src"))
    ok(docker(kd, "volume", "rm", "vfdata"))
