"""Image history, prune, system df, the image list's extra fields, rmi and tag against a
private ketchd: the API's JSON, ketch's CLI, and the real docker CLI printing the same."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from ketch.cli.units import human_size
from ketch.images import ImageStore
from support.daemon import Ketchd, api, docker, running_ketchd

pytestmark = pytest.mark.integration

OLD = "2020-03-01T10:00:00Z"  # far enough back that "N years ago" holds for the whole test
LONG_RUN = ("/bin/sh -c echo hello > /hello.txt && dd if=/dev/zero of=/big bs=1k count=1500 "
            "2>/dev/null")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("admin")) as daemon:
        yield daemon


@pytest.fixture
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("admin1")) as daemon:
        yield daemon


def ketch(kd: Ketchd, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", *args], input=stdin,
                          capture_output=True, text=True, env=kd.env(), timeout=60, check=False)


def dock(kd: Ketchd, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The docker CLI against the same ketchd (same environment, so the same time zone)."""
    return docker(kd, *args, input=stdin)


def _filters(value: dict[str, dict[str, bool]]) -> str:
    return "filters=" + quote(json.dumps(value))


def _tar(*files: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def layered(kd: Ketchd, reference: str | None, *layers: bytes,
            history: list[dict[str, Any]], labels: dict[str, str] | None = None,
            created: str = OLD) -> str:
    """An image of busybox's layer and these ones, put in the daemon's store beside it (as
    a bootstrap import does); returns its ID."""
    store = ImageStore(str(kd.data_root))
    base = store.get("busybox")
    parent = base.chain_ids[-1]
    diff_ids = list(base.diff_ids)
    for data in layers:
        layer = store.layers.commit(store.layers.extract(io.BytesIO(data)), parent)
        parent = layer.chain_id
        diff_ids.append(layer.diff_id)
    config = {"architecture": "amd64", "os": "linux", "created": created,
              "config": {"Cmd": ["sh"], "Labels": labels},
              "history": history, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    return store.create(config, reference).id


def _json(kd: Ketchd, method: str, path: str) -> Any:
    status, body = api(kd, method, path)
    assert status == 200, body
    return json.loads(body)


# -- history ---------------------------------------------------------------------------------

def test_history(shared: Ketchd) -> None:
    history: list[dict[str, Any]] = [
        {"created": OLD, "comment": "Imported from -"},
        {"created": OLD, "created_by": "/bin/sh -c #(nop)  LABEL a=b", "empty_layer": True},
        {"created": OLD, "created_by": LONG_RUN},
        {"created": OLD, "created_by": "/bin/sh -c #(nop)  ENV FOO=bar", "empty_layer": True},
        {"created": OLD, "created_by": "/bin/sh -c echo x > /x"},
        {"created": OLD, "created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
    ]
    image_id = layered(shared, "built:v1", _tar(("big", b"\0" * 1536000), ("hello.txt", b"hi\n")),
                       _tar(("x", b"x" * 84)), history=history)
    records = _json(shared, "GET", "/images/built:v1/history")
    busybox = _json(shared, "GET", "/images/busybox/json")["Size"]
    assert [r["Size"] for r in records] == [0, 84, 0, 1536003, 0, busybox]
    assert records[0] == {"Comment": "", "Created": 1583056800,
                          "CreatedBy": '/bin/sh -c #(nop)  CMD ["sh"]', "Id": image_id,
                          "Size": 0, "Tags": ["built:v1"]}
    assert all(r["Id"] == "<missing>" and r["Tags"] is None for r in records[1:])
    assert records[-1]["Comment"] == "Imported from -"
    versioned = _json(shared, "GET", "/v1.41/images/built:v1/history")
    assert versioned == records
    # an imported image: its own record, the comment Docker's import writes
    [top] = _json(shared, "GET", "/images/busybox/history")
    assert (top["Tags"], top["Comment"], top["CreatedBy"]) == (["busybox:latest"],
                                                                "Imported from -", "")

    # ketch and the docker CLI print the same tables
    for args in ([], ["--no-trunc"], ["-H=false"], ["-q"], ["--format", "json"],
                 ["--format", "table {{.ID}}\t{{.CreatedBy}}"]):
        ours = ketch(shared, "history", *args, "built:v1")
        theirs = dock(shared, "history", *args, "built:v1")
        assert ours.returncode == theirs.returncode == 0, ours.stderr
        assert ours.stdout == theirs.stdout, args
    table = ketch(shared, "image", "history", "built:v1").stdout.splitlines()
    assert table[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert table[2].startswith("<missing>      ") and " 84B " in table[2]
    assert "/bin/sh -c echo hello > /hello.txt && dd if=…   1.54MB" in table[4]

    missing = ketch(shared, "history", "nope")
    assert (missing.returncode, missing.stderr) == (
        1, "Error response from daemon: No such image: nope:latest\n")
    assert dock(shared, "history", "nope").stderr == missing.stderr


# -- the image list: Containers, SharedSize, digests -----------------------------------------

def test_image_list_fields_per_api_version(shared: Ketchd) -> None:
    status, _ = api(shared, "POST", "/images/busybox/tag?repo=twin&tag=1")
    assert status == 201
    dangling = layered(shared, None, history=[{"created": OLD}])  # busybox's layer alone
    images = {i["Id"]: i for i in _json(shared, "GET", "/images/json")}
    busybox_id = _json(shared, "GET", "/images/busybox/json")["Id"]
    plain = images[busybox_id]
    assert plain["Containers"] == -1 and plain["SharedSize"] == -1
    assert plain["RepoDigests"] == [] and "VirtualSize" not in plain  # API 1.44
    assert images[dangling]["RepoTags"] == [] and images[dangling]["RepoDigests"] == []

    # Docker 20.10's shapes at API 1.41 (seen on a private dockerd)
    old = {i["Id"]: i for i in _json(shared, "GET", "/v1.41/images/json")}
    assert old[busybox_id]["RepoDigests"] is None
    assert old[busybox_id]["VirtualSize"] == old[busybox_id]["Size"]
    assert old[dangling]["RepoTags"] == ["<none>:<none>"]
    assert old[dangling]["RepoDigests"] == ["<none>@<none>"]

    # shared-size (API 1.42+): busybox's layer is in every image here
    sized = {i["Id"]: i for i in _json(shared, "GET", "/images/json?shared-size=1")}
    assert sized[busybox_id]["SharedSize"] == plain["Size"]
    assert sized[busybox_id]["Containers"] == -1
    assert all(i["SharedSize"] == -1 for i in _json(shared, "GET",
                                                    "/v1.41/images/json?shared-size=1"))
    only = _json(shared, "GET", "/images/json?shared-size=1&" +
                 _filters({"reference": {"twin": True}}))
    assert [i["SharedSize"] for i in only] == [0]  # shared among the listed images only

    ours = ketch(shared, "images", "--digests")
    theirs = dock(shared, "images", "--digests")
    # the docker CLI groups an image's tags in a Go map: their order is random. The two
    # run a moment apart, so an image just made may be "Less than a second ago" in one
    # and "1 second ago" in the other (and the column as wide as that): CREATED aside,
    # every cell is the same
    def cells(text: str) -> list[list[str]]:
        rows = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]
        return sorted(row[:4] + row[5:] for row in rows)

    assert cells(ours.stdout) == cells(theirs.stdout)
    assert ours.stdout.splitlines()[0].split()[:3] == ["REPOSITORY", "TAG", "DIGEST"]
    assert all(line.split()[2] == "<none>" for line in ours.stdout.splitlines()[1:])


# -- prune -----------------------------------------------------------------------------------

def test_prune_dangling_and_all(kd: Ketchd) -> None:
    unused = layered(kd, None, _tar(("u", b"u" * 5000)), history=[{"created": OLD}, {}])
    used = layered(kd, None, _tar(("v", b"v" * 7000)), history=[{"created": OLD}, {}])
    tagged = layered(kd, "keep:1", _tar(("k", b"k" * 3000)), history=[{"created": OLD}, {}])
    assert docker(kd, "create", "--name", "user", used[7:19], "true").returncode == 0

    report = _json(kd, "POST", "/images/prune")
    deleted = report["ImagesDeleted"]
    assert deleted[0] == {"Deleted": unused} and len(deleted) == 2  # the image, its layer
    assert report["SpaceReclaimed"] == 5000
    ids = {i["Id"] for i in _json(kd, "GET", "/images/json")}
    assert unused not in ids and used in ids and tagged in ids
    assert _json(kd, "POST", "/images/prune") == {"ImagesDeleted": None, "SpaceReclaimed": 0}

    # -a: every image no container uses; busybox's layer stays for the container
    out = ketch(kd, "image", "prune", "-a", "-f")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Deleted Images:"
    assert "untagged: busybox:latest" in lines and "untagged: keep:1" in lines
    assert f"deleted: {tagged}" in lines
    assert lines[-2:] == ["", "Total reclaimed space: 3kB"]
    assert {i["Id"] for i in _json(kd, "GET", "/images/json")} == {used}
    assert docker(kd, "start", "-a", "user").returncode == 0  # its layers are all there

    again = dock(kd, "image", "prune", "-a", "-f")
    assert (again.returncode, again.stdout) == (0, "Total reclaimed space: 0B\n")


def test_prune_prompt_filters_and_errors(kd: Ketchd) -> None:
    old = layered(kd, None, _tar(("o", b"o" * 100)), history=[{}, {}], labels={"team": "a"},
                  created="2020-01-01T00:00:00Z")
    new = layered(kd, None, _tar(("n", b"n" * 200)), history=[{}, {}], labels={"team": "b"},
                  created="2026-01-01T00:00:00Z")
    cancelled = ketch(kd, "image", "prune", stdin="n\n")
    assert cancelled.returncode == 0
    assert cancelled.stdout == ("WARNING! This will remove all dangling images.\n"
                                "Are you sure you want to continue? [y/N] ")
    assert dock(kd, "image", "prune", stdin="n\n").stdout == cancelled.stdout
    everything = ketch(kd, "image", "prune", "-a", stdin="")
    assert everything.stdout.startswith("WARNING! This will remove all images without at "
                                        "least one container associated to them.\n")

    by_label = ketch(kd, "image", "prune", "-f", "--filter", "label!=team=b").stdout
    assert by_label.startswith(f"Deleted Images:\ndeleted: {old}\ndeleted: sha256:")  # + layer
    assert by_label.endswith("\n\nTotal reclaimed space: 100B\n")
    assert dock(kd, "image", "prune", "-f", "--filter", "until=2025-01-01").stdout == (
        "Total reclaimed space: 0B\n")
    answered = ketch(kd, "image", "prune", stdin=" Y \n").stdout
    assert f"[y/N] Deleted Images:\ndeleted: {new}\n" in answered
    assert answered.endswith("\n\nTotal reclaimed space: 200B\n")

    for filters, message in ((["foo=bar"], "Invalid filter 'foo'"),
                             (["until=xyz"], 'failed to parse value as time or duration: "xyz"'),
                             (["until=1h", "until=2h"], "more than one until filter specified")):
        args = [a for f in filters for a in ("--filter", f)]
        ours = ketch(kd, "image", "prune", "-f", *args)
        assert (ours.returncode, ours.stderr) == (1, f"Error response from daemon: {message}\n")
        assert dock(kd, "image", "prune", "-f", *args).stderr == ours.stderr
    status, body = api(kd, "POST", "/images/prune?" + _filters({"dangling": {"maybe": True}}))
    assert (status, json.loads(body)) == (400, {"message": "Invalid filter 'dangling=[maybe]'"})


# -- system df -------------------------------------------------------------------------------

_SINCE = re.compile(r"(Less than a second|About a minute|\d+ seconds?|\d+ minutes)")


def _masked(text: str) -> str:
    """Durations that may tick between two runs out, and the column padding they move."""
    return re.sub(r" {2,}", "  ", _SINCE.sub("X", text))


def test_system_df(kd: Ketchd) -> None:
    assert docker(kd, "tag", "busybox", "other:1").returncode == 0
    dangling = layered(kd, None, history=[{"created": OLD}])
    mine = layered(kd, "mine:1", _tar(("m", b"m" * 4000)), history=[{}, {}])
    assert docker(kd, "run", "--name", "c1", "busybox", "sh", "-c",
                  "head -c 20000 /dev/zero > /f").returncode == 0
    assert docker(kd, "run", "-d", "--name", "c2", "busybox", "sleep", "60").returncode == 0
    usage = _json(kd, "GET", "/system/df")
    assert set(usage) == {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    base = _json(kd, "GET", "/images/busybox/json")
    assert usage["LayersSize"] == base["Size"] + 4000
    by_id = {i["Id"]: i for i in usage["Images"]}
    assert (by_id[base["Id"]]["Containers"], by_id[base["Id"]]["SharedSize"]) == (2, base["Size"])
    assert by_id[base["Id"]]["RepoTags"] == ["busybox:latest", "other:1"]
    assert (by_id[dangling]["Containers"], by_id[dangling]["SharedSize"]) == (0, base["Size"])
    assert by_id[mine]["Size"] == base["Size"] + 4000 and by_id[mine]["SharedSize"] == base["Size"]
    containers = {c["Names"][0]: c for c in usage["Containers"]}
    assert containers["/c1"]["SizeRw"] == 20000
    assert containers["/c1"]["SizeRootFs"] == base["Size"] + 20000
    assert "SizeRw" not in containers["/c2"]  # nothing written: left out, as Docker does
    assert (usage["Volumes"], usage["BuildCache"]) == ([], None)
    old = _json(kd, "GET", "/v1.41/system/df")
    assert old["BuilderSize"] == 0 and {i["Id"]: i for i in old["Images"]}[dangling][
        "RepoTags"] == ["<none>:<none>"]
    only = _json(kd, "GET", "/system/df?type=container")
    assert (only["Images"], only["LayersSize"], len(only["Containers"])) == (None, 0, 2)
    status, body = api(kd, "GET", "/system/df?type=nope")
    assert (status, json.loads(body)) == (400, {"message": "unknown object type: nope"})

    summary = ketch(kd, "system", "df")
    assert summary.stdout == dock(kd, "system", "df").stdout
    layers = human_size(float(usage["LayersSize"]), 4)
    assert [line.split() for line in summary.stdout.splitlines()[1:3]] == [
        ["Images", "3", "1", layers, layers, "(100%)"],  # the used image shares all it has
        ["Containers", "2", "1", "20kB", "20kB", "(100%)"]]
    for args in (["-v"], ["--format", "json"], ["--format", "{{.Type}}: {{.Size}}"],
                 ["-v", "--format", "{{range .Images}}{{.Containers}} {{end}}"]):
        ours, theirs = ketch(kd, "system", "df", *args), dock(kd, "system", "df", *args)
        assert ours.returncode == theirs.returncode == 0, ours.stderr
        assert _masked(ours.stdout) == _masked(theirs.stdout), args


# -- rmi, as Docker answers it ------------------------------------------------------------------

def test_rmi_fidelity(kd: Ketchd) -> None:
    short = _json(kd, "GET", "/images/busybox/json")["Id"][7:19]
    for name in ("t1", "t2", "other:1"):
        assert docker(kd, "tag", "busybox", name).returncode == 0
    assert ketch(kd, "rmi", "t1").stdout == "Untagged: t1:latest\n"
    by_id = ketch(kd, "rmi", short)
    assert (by_id.returncode, by_id.stderr) == (
        1, f"Error response from daemon: conflict: unable to delete {short} (must be forced) "
           "- image is referenced in multiple repositories\n")
    cid = docker(kd, "create", "busybox", "true").stdout.strip()
    several = ketch(kd, "rmi", "busybox", "nope", "t2", "other:1")
    assert several.returncode == 1
    assert several.stdout == "Untagged: busybox:latest\nUntagged: t2:latest\n"
    assert several.stderr == (
        "Error response from daemon: No such image: nope:latest\n"
        f'Error response from daemon: conflict: unable to remove repository reference "other:1" '
        f"(must force) - container {cid[:12]} is using its referenced image {short}\n")
    # -f: a missing image is reported, not a failure; a stopped container's image goes
    forced = ketch(kd, "rmi", "-f", "nope", "other:1")
    assert (forced.returncode, forced.stderr) == (
        0, "Error response from daemon: No such image: nope:latest\n")
    assert forced.stdout.startswith(f"Untagged: other:1\nDeleted: sha256:{short}")
    assert dock(kd, "rmi", "-f", "nope").returncode == 0

    # a running container's image: untagged with -f, never deleted
    kd.import_busybox()
    running_short = _json(kd, "GET", "/images/busybox/json")["Id"][7:19]
    assert docker(kd, "tag", "busybox", "bb3").returncode == 0
    assert docker(kd, "run", "-d", "busybox", "sleep", "60").returncode == 0
    assert ketch(kd, "rmi", "-f", "busybox").stdout == "Untagged: busybox:latest\n"
    assert ketch(kd, "rmi", "-f", "bb3").stdout == "Untagged: bb3:latest\n"
    refused = ketch(kd, "rmi", "-f", running_short)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"Error response from daemon: conflict: unable to delete "
                                     f"{running_short} (cannot be forced) - image is being used "
                                     "by running container ")
    assert dock(kd, "rmi", "-f", running_short).stderr == refused.stderr


def test_tag_references(shared: Ketchd) -> None:
    for target, message in (
            ("UPPER", 'Error parsing reference: "UPPER" is not a valid repository/tag: invalid '
                      "reference format: repository name (library/UPPER) must be lowercase"),
            ("a:b:c", 'Error parsing reference: "a:b:c" is not a valid repository/tag: invalid '
                      "reference format"),
            ("x@sha256:" + "f" * 64, "refusing to create a tag with a digest reference"),
            ("sha256:abc", "Error response from daemon: refusing to create an ambiguous tag "
                           "using digest algorithm as name")):
        ours, theirs = ketch(shared, "tag", "busybox", target), dock(shared, "tag", "busybox",
                                                                     target)
        assert (ours.returncode, ours.stderr) == (1, message + "\n")
        assert theirs.stderr == ours.stderr
    for target in ("localhost:5000/x", "docker.io/busybox:d", "index.docker.io/library/bb:i"):
        assert ketch(shared, "tag", "busybox", target).returncode == 0
    tags = _json(shared, "GET", "/images/busybox/json")["RepoTags"]
    assert {"localhost:5000/x:latest", "busybox:d", "bb:i"} <= set(tags)
    status, body = api(shared, "POST", "/images/busybox/tag?repo=x&tag=" + "t" * 129)
    assert (status, json.loads(body)) == (400, {"message": "invalid tag format"})
    assert api(shared, "POST", "/images/busybox/tag?repo=a:b&tag=c")[0] == 201
    assert "a:c" in _json(shared, "GET", "/images/busybox/json")["RepoTags"]


def test_verbs_are_registered(tmp_path: Path) -> None:
    env = {**os.environ, "KETCH_HOST": f"unix://{tmp_path}/none.sock", "KETCH_NO_AUTOSTART": "1"}
    for verb in (["history"], ["image", "history"], ["image", "prune"], ["system", "df"]):
        proc = subprocess.run([sys.executable, "-m", "ketch.cli.main", *verb, "--help"],
                              capture_output=True, text=True, env=env, timeout=30, check=False)
        assert proc.returncode == 0 and proc.stdout.startswith("\nUsage:  ketch "), verb
