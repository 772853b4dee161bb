"""Named volumes through a private ketchd: the Engine API routes, the ketch CLI beside the
real docker CLI (byte for byte), docker-py, and the local driver's tmpfs and bind options
really mounted (root)."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import docker as docker_py
import pytest

from ketch.volumes import VolumeStore
from support.daemon import Ketchd, api, docker, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("vol"), busybox=False) as daemon:
        yield daemon


def ketch(kd: Ketchd, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", *args], input=stdin,
                          capture_output=True, text=True, env=kd.env(), timeout=60,
                          check=False)


def post_create(kd: Ketchd, body: object) -> tuple[int, dict[str, object]]:
    status, raw = api(kd, "POST", "/v1.44/volumes/create", json.dumps(body).encode(),
                      "Content-Type: application/json\r\n")
    return status, json.loads(raw)


def test_api_create_inspect_list_remove(kd: Ketchd) -> None:
    status, doc = post_create(kd, {"Name": "apivol", "Labels": {"k": "v"}})
    assert status == 201
    assert list(doc) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options",
                         "Scope"]
    assert doc["Labels"] == {"k": "v"} and doc["Options"] is None
    assert doc["Mountpoint"] == str(kd.data_root / "volumes" / "apivol" / "_data")
    status, raw = api(kd, "GET", "/v1.44/volumes/apivol")
    assert status == 200 and json.loads(raw) == doc
    status, raw = api(kd, "GET", "/volumes")
    listing = json.loads(raw)
    assert status == 200 and listing["Warnings"] is None and doc in listing["Volumes"]
    filters = quote(json.dumps({"label": {"k=v": True}}))
    status, raw = api(kd, "GET", f"/volumes?filters={filters}")
    assert [v["Name"] for v in json.loads(raw)["Volumes"]] == ["apivol"]
    status, raw = api(kd, "DELETE", "/volumes/apivol")
    assert status == 204
    status, raw = api(kd, "GET", "/volumes/apivol")
    assert (status, json.loads(raw)) == (404, {"message": "get apivol: no such volume"})
    status, raw = api(kd, "DELETE", "/volumes/apivol")
    assert status == 404
    assert api(kd, "DELETE", "/volumes/apivol?force=1")[0] == 204


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"Name": "a b"}, 400, 'create a b: "a b" includes invalid characters for a local volume '
                           'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended '
                           "to pass a host directory, use absolute path"),
    ({"Name": "x1", "DriverOpts": {"foo": "bar"}}, 400, 'create x1: invalid option: "foo"'),
    ({"Name": "x1", "DriverOpts": {"type": "tmpfs"}}, 400,
     'create x1: missing required option: "device"'),
    ({"Name": "x1", "Driver": "nfs"}, 404,
     'create x1: error looking up volume plugin nfs: plugin "nfs" not found'),
    ({"Name": 5}, 400, "invalid Name: must be a string"),
    ({"Name": "x1", "Labels": {"k": 5}}, 400, "invalid Labels: must be an object of strings"),
    ([], 400, "invalid JSON: the body must be an object"),
])
def test_api_refusals(kd: Ketchd, body: object, status: int, message: str) -> None:
    assert post_create(kd, body) == (status, {"message": message})
    assert not (kd.data_root / "volumes" / "x1").exists()


def test_api_empty_body_and_bad_filters(kd: Ketchd) -> None:
    status, raw = api(kd, "POST", "/volumes/create")
    assert (status, json.loads(raw)["message"]) == (400, "got EOF while reading request body")
    status, raw = api(kd, "GET", "/volumes?filters=" + quote(json.dumps({"bogus": ["1"]})))
    assert (status, json.loads(raw)["message"]) == (400, "Invalid filter 'bogus'")
    dangling = quote(json.dumps({"dangling": ["1"]}))
    status, raw = api(kd, "POST", "/volumes/prune?filters=" + dangling)
    assert (status, json.loads(raw)["message"]) == (400, "Invalid filter 'dangling'")


def test_api_anonymous_and_prune_by_version(kd: Ketchd) -> None:
    status, doc = post_create(kd, {})
    anon = str(doc["Name"])
    assert re.fullmatch(r"[0-9a-f]{64}", anon)
    assert doc["Labels"] == {"com.docker.volume.anonymous": ""}
    post_create(kd, {"Name": "keepme"})
    status, raw = api(kd, "POST", "/v1.44/volumes/prune")
    assert status == 200 and json.loads(raw) == {"VolumesDeleted": [anon], "SpaceReclaimed": 0}
    status, raw = api(kd, "POST", "/v1.41/volumes/prune")  # before 1.42: named ones too
    assert json.loads(raw)["VolumesDeleted"] == ["keepme"]


def _normalise(text: str) -> str:
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", "TIME", text)
    # the docker CLI joins a volume's labels in Go map order: random
    text = re.sub(r'"Labels":"([^"]*)"',
                  lambda m: '"Labels":"' + ",".join(sorted(m.group(1).split(","))) + '"', text)
    return re.sub(r"[0-9a-f]{64}", "ANON", text)


CLI_SCRIPT: list[tuple[list[str], str]] = [
    (["volume", "create", "cli-b10"], ""),
    (["volume", "create", "--label", "tier=db", "--label", "bare", "-o", "type=tmpfs",
      "-o", "device=tmpfs", "-o", "o=size=1m", "cli-b9"], ""),
    (["volume", "create", "--name", "cli-c"], ""),
    (["volume", "create", "--name", "x", "y"], ""),
    (["volume", "create", "-o", "foo=bar", "cli-bad"], ""),
    (["volume", "create", "-d", "nfs", "cli-bad"], ""),
    (["volume", "create", "bad name"], ""),
    (["volume", "ls"], ""),
    (["volume", "ls", "-q"], ""),
    (["volume", "ls", "-f", "label=tier=db"], ""),
    (["volume", "ls", "-f", "name=cli-b", "--format", "json"], ""),
    (["volume", "ls", "--format", "table {{.Name}}\t{{.Label \"tier\"}}"], ""),
    (["volume", "ls", "-f", "dangling=maybe"], ""),
    (["volume", "ls", "extra"], ""),
    (["volume", "inspect", "cli-b9", "cli-b10"], ""),
    (["volume", "inspect", "-f", "{{.Name}} {{json .Labels}} {{.Options}}", "cli-b9"], ""),
    (["volume", "inspect", "-f", "json", "cli-b10", "cli-c"], ""),
    (["volume", "inspect", "cli-c", "nope"], ""),
    (["volume", "inspect"], ""),
    (["volume", "create"], ""),  # anonymous: its random name would change ls's order
    (["volume", "prune"], "n\n"),
    (["volume", "prune"], "y\n"),
    (["volume", "prune", "-a", "--filter", "all=1"], ""),
    (["volume", "prune", "-f", "-a", "--filter", "label=tier"], ""),
    (["volume", "rm", "cli-b10", "nope"], ""),
    (["volume", "rm", "-f", "cli-c", "nope"], ""),
    (["volume", "rm"], ""),
    (["volume", "ls"], ""),
]


def test_ketch_cli_matches_docker_cli(kd: Ketchd) -> None:
    api(kd, "POST", "/volumes/prune?filters=" + quote(json.dumps({"all": ["true"]})))
    outputs = {}
    for name, run in (("ketch", ketch), ("docker", None)):
        results = []
        for args, stdin in CLI_SCRIPT:
            proc = docker(kd, *args, input=stdin) if run is None else run(kd, *args,
                                                                           stdin=stdin)
            results.append((args, proc.returncode, _normalise(proc.stdout),
                            _normalise(proc.stderr).replace("docker", "ketch")))
        outputs[name] = results
    for mine, theirs in zip(outputs["ketch"], outputs["docker"], strict=True):
        args = mine[0]
        if args in (["volume", "inspect"], ["volume", "ls", "extra"],
                    ["volume", "create", "--name", "x", "y"], ["volume", "rm"]):
            assert mine[1] == theirs[1], args  # usage text differs in wording (ketch's help)
            continue
        assert mine == theirs


def test_docker_py(kd: Ketchd) -> None:
    client = docker_py.DockerClient(base_url=kd.host)
    try:
        volume = client.volumes.create("pyvol", driver="local", labels={"app": "py"},
                                       driver_opts={"type": "tmpfs", "device": "tmpfs"})
        assert volume.name == "pyvol"
        assert volume.attrs["Options"] == {"device": "tmpfs", "type": "tmpfs"}
        assert client.volumes.get("pyvol").attrs["Labels"] == {"app": "py"}
        assert [v.name for v in client.volumes.list(filters={"label": "app=py"})] == ["pyvol"]
        with pytest.raises(docker_py.errors.NotFound):
            client.volumes.get("nope")
        with pytest.raises(docker_py.errors.APIError, match="invalid option"):
            client.volumes.create("pybad", driver_opts={"bogus": "1"})
        anon = client.volumes.create()
        report = client.volumes.prune()
        assert report["VolumesDeleted"] == [anon.name]
        client.volumes.get("pyvol").remove()
        assert "pyvol" not in [v.name for v in client.volumes.list()]
    finally:
        client.close()


def _mounted(path: str) -> str | None:
    """The filesystem type mounted at path, per /proc/self/mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                return fields[fields.index("-") + 1]
    return None


def test_tmpfs_option_is_mounted_and_refcounted(tmp_path: Path) -> None:
    store = VolumeStore(str(tmp_path))
    volume = store.create("tmpvol", driver_opts={"type": "tmpfs", "device": "tmpfs",
                                                 "o": "size=1m,mode=0750"})
    path = volume.mountpoint
    try:
        assert store.mount("tmpvol") == path and _mounted(path) == "tmpfs"
        assert os.stat(path).st_mode & 0o777 == 0o750
        assert store.mount("tmpvol") == path  # a second user
        store.unmount("tmpvol")
        assert _mounted(path) == "tmpfs"  # still used by the first
        store.unmount("tmpvol")
        assert _mounted(path) is None
    finally:
        if _mounted(path):
            subprocess.run(["umount", "-l", path], check=False)


def test_bind_option_read_only_and_removal_keeps_the_host_directory(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "keep.txt").write_text("precious")
    store = VolumeStore(str(tmp_path / "root"))
    volume = store.create("bindvol", driver_opts={"type": "none", "o": "bind,ro",
                                                  "device": str(host)})
    path = volume.mountpoint
    try:
        store.mount("bindvol")
        assert Path(path, "keep.txt").read_text() == "precious"
        with pytest.raises(OSError) as e:
            Path(path, "new").write_text("x")
        assert e.value.errno == errno.EROFS
        store.unmount("bindvol")
        assert _mounted(path) is None
        store.remove("bindvol")
        # a read-write bind left mounted by an earlier daemon is detached before the
        # volume's files go: the host directory keeps its files
        rw = store.create("bindrw", driver_opts={"type": "none", "o": "bind",
                                                 "device": str(host)})
        store.mount("bindrw")
        assert _mounted(rw.mountpoint)
        VolumeStore(str(tmp_path / "root")).remove("bindrw")
        assert (host / "keep.txt").read_text() == "precious"
        assert not Path(path).exists() and not Path(rw.mountpoint).exists()
        assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()
    finally:
        if _mounted(path):
            subprocess.run(["umount", "-l", path], check=False)


def test_bind_to_a_missing_device_fails_with_mobys_words(tmp_path: Path) -> None:
    store = VolumeStore(str(tmp_path))
    volume = store.create("ghost", driver_opts={"type": "none", "o": "bind",
                                                "device": "/nonexistent-ketch"})
    with pytest.raises(Exception, match=re.escape(
            f"failed to mount local volume: mount /nonexistent-ketch:{volume.mountpoint}, "
            "flags: 0x1000: no such file or directory")):
        store.mount("ghost")
    assert _mounted(volume.mountpoint) is None
    store.remove("ghost")
