"""The volume store without mounts: Docker's name rules and messages, the record, the
refusals, and that a failed or interrupted create or remove leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ketch.errors import Conflict, InvalidParameter, NotFound
from ketch.volumes import ANONYMOUS_LABEL, VolumeStore
from ketch.volumes import store as store_module


@pytest.fixture
def store(tmp_path: Path) -> VolumeStore:
    return VolumeStore(str(tmp_path))


def test_create_layout_and_inspect(store: VolumeStore, tmp_path: Path) -> None:
    volume = store.create("data1", labels={"b": "2", "a": "1"})
    path = tmp_path / "volumes" / "data1"
    assert (path / "_data").is_dir()
    assert json.loads((path / "volume.json").read_text())["Name"] == "data1"
    doc = volume.inspect()
    assert list(doc) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options",
                         "Scope"]
    assert doc["Mountpoint"] == str(path / "_data")
    assert list(doc["Labels"]) == ["a", "b"]  # Go's sorted maps
    assert doc["Options"] is None and doc["Scope"] == "local" and doc["Driver"] == "local"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", doc["CreatedAt"])
    assert store.get("data1").inspect() == doc


def test_null_versus_empty_maps(store: VolumeStore) -> None:
    assert store.create("v1").inspect()["Labels"] is None
    doc = store.create("v2", labels={}, driver_opts={}).inspect()
    assert doc["Labels"] == {} and doc["Options"] == {}


def test_existing_name_is_returned_as_it_was(store: VolumeStore) -> None:
    first = store.create("same", labels={"x": "1"})
    again = store.create("same", labels={"y": "2"}, driver_opts={"bogus": "1"})
    assert again.inspect() == first.inspect()
    assert [v.name for v in store.list()] == ["same"]


def test_anonymous_volume(store: VolumeStore) -> None:
    volume = store.create()
    assert re.fullmatch(r"[0-9a-f]{64}", volume.name)
    assert volume.labels == {ANONYMOUS_LABEL: ""} and volume.anonymous


@pytest.mark.parametrize("name", ["a b", "_ab", ".hidden", "../x", "a/b", "é1", "ab:c"])
def test_invalid_names(store: VolumeStore, name: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        store.create(name)
    assert str(e.value) == (
        f'create {name}: "{name}" includes invalid characters for a local volume name, only '
        '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
        "use absolute path")


def test_short_name(store: VolumeStore) -> None:
    with pytest.raises(InvalidParameter, match=r"^create a: volume name is too short, names "
                                               r"should be at least two alphanumeric"):
        store.create("a")


def test_other_driver(store: VolumeStore) -> None:
    with pytest.raises(NotFound, match=r'^create v1: error looking up volume plugin nfs: '
                                       'plugin "nfs" not found$'):
        store.create("v1", driver="nfs")


@pytest.mark.parametrize(("opts", "message"), [
    ({"foo": "bar", "device": "x"}, 'invalid option: "foo"'),
    ({"Type": "tmpfs"}, 'invalid option: "Type"'),
    ({"type": "tmpfs"}, 'missing required option: "device"'),
    ({"type": "tmpfs", "o": "size=1m"}, 'missing required option: "device"'),
    ({"device": "/tmp"}, 'missing required option: "type"'),
    ({"o": "bind"}, 'missing required option: "device"'),
    ({"type": "tmpfs", "device": "tmpfs", "size": "1m"},
     "quota size requested but no quota support"),
])
def test_refused_options_leave_nothing(store: VolumeStore, tmp_path: Path,
                                       opts: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParameter) as e:
        store.create("vol1", driver_opts=opts)
    assert str(e.value) == f"create vol1: {message}"
    assert os.listdir(tmp_path / "volumes") == []


def test_failed_create_leaves_nothing(store: VolumeStore, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: str, data: bytes) -> None:
        Path(path).write_bytes(data[:3])  # half a record, then the disk fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "_write_new", broken)
    with pytest.raises(Exception, match="create vol1: No space left on device"):
        store.create("vol1")
    assert os.listdir(tmp_path / "volumes") == []
    with pytest.raises(NotFound):
        store.get("vol1")


def test_leftovers_are_swept_on_open(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    (root / ".tmp-0123" / "_data").mkdir(parents=True)
    (root / ".trash-4567" / "_data").mkdir(parents=True)
    (root / ".trash-4567" / "_data" / "file").write_text("x")
    store = VolumeStore(str(tmp_path))
    assert os.listdir(root) == [] and store.list() == []


def test_get_and_remove(store: VolumeStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"^get nope: no such volume$"):
        store.get("nope")
    with pytest.raises(NotFound, match=r"^get ../etc: no such volume$"):
        store.get("../etc")
    with pytest.raises(NotFound, match=r"^get nope: no such volume$"):
        store.remove("nope")
    store.remove("nope", force=True)  # Docker: no error with force
    volume = store.create("gone")
    Path(volume.mountpoint, "file").write_text("data")
    store.remove("gone")
    assert os.listdir(tmp_path / "volumes") == []


def test_remove_in_use_is_refused(store: VolumeStore) -> None:
    store.create("used")
    with pytest.raises(Conflict, match=r"^remove used: volume is in use - \[abc, def\]$"):
        store.remove("used", force=True, in_use=lambda name: ["abc", "def"])
    assert store.get("used")


def test_prune_anonymous_only_unless_all(store: VolumeStore) -> None:
    anon = store.create()
    Path(anon.mountpoint, "f").write_bytes(b"x" * 1000)
    store.create("named", labels={"keep": "no"})
    used = store.create()
    removed, space = store.prune({}, lambda name: ["c1"] if name == used.name else [])
    assert removed == [anon.name] and space == 1000
    removed, _ = store.prune({"all": ["true"], "label": ["keep=yes"]})
    assert removed == []
    removed, _ = store.prune({"all": ["1"], "label!": ["keep"]},
                             lambda name: ["c1"] if name == used.name else [])
    assert removed == []
    removed, _ = store.prune({"all": ["true"]}, lambda name: [])
    assert sorted(removed) == sorted(["named", used.name])


def test_filters(store: VolumeStore) -> None:
    store.create("alpha", labels={"tier": "db"})
    store.create("beta")
    store.create("gamma", labels={"tier": "web"})
    names = lambda f, used=None: [v.name for v in store.select(f, used)]  # noqa: E731
    assert names({"name": ["^a"]}) == ["alpha"]
    assert names({"name": ["ta"]}) == ["beta"]
    assert names({"label": ["tier"]}) == ["alpha", "gamma"]
    assert names({"label": ["tier=web"]}) == ["gamma"]
    assert names({"label!": ["tier"]}) == ["beta"]
    assert names({"driver": ["local"]}) == ["alpha", "beta", "gamma"]
    assert names({"dangling": ["true"]}, {"beta"}) == ["alpha", "gamma"]
    assert names({"dangling": ["0"]}, {"beta"}) == ["beta"]
    with pytest.raises(InvalidParameter, match=r"^Invalid filter 'bogus'$"):
        names({"bogus": ["1"]})
    with pytest.raises(InvalidParameter, match=r"^Invalid filter 'dangling=\[maybe\]'$"):
        names({"dangling": ["maybe"]})
    with pytest.raises(InvalidParameter, match=r"^Invalid filter 'dangling'$"):
        store.prune({"dangling": ["true"]})


def test_plain_volume_mount_is_its_data(store: VolumeStore) -> None:
    volume = store.create("plain")
    assert store.mount("plain") == volume.mountpoint
    store.unmount("plain")
    with pytest.raises(NotFound):
        store.mount("nope")
