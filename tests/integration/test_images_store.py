"""Integration tests for the image store and container snapshots (root, real overlayfs).

They import the real busybox base image tarball, exercise Docker's lookup, tag and rmi
rules, and mount real overlay snapshots on the stored layers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.bootstrap import build, import_base_images, read_metadata
from ketch.errors import Conflict, InvalidParameter, NotFound
from ketch.images import Image, ImageStore, Snapshotter
from ketch.images.mount import is_mountpoint, mount_overlay, unmount

pytestmark = pytest.mark.integration

BASE = Path("/var/cache/ketch/base")


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installed base images, or a fresh busybox one if bootstrap has not run here."""
    if (BASE / "busybox.tar").is_file() and read_metadata(BASE / "busybox.json"):
        return BASE
    out = tmp_path_factory.mktemp("base")
    build("busybox", out)
    return out


@pytest.fixture
def busybox_tar(base_dir: Path) -> Path:
    return base_dir / "busybox.tar"


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    data_root = tmp_path / "root"
    yield data_root
    overlay = data_root / "overlay"
    if overlay.is_dir():  # never leave a mount behind, even when a test failed
        snapshots = Snapshotter(str(data_root))
        for key in os.listdir(overlay):
            snapshots.remove(key)


@pytest.fixture
def store(root: Path) -> ImageStore:
    return ImageStore(str(root))


def _import(store: ImageStore, tar: Path, **kwargs: object) -> Image:
    with open(tar, "rb") as f:
        return store.import_tar(f, **kwargs)  # type: ignore[arg-type]


def _tar(*files: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def _layered(store: ImageStore, *layers: bytes, reference: str | None = None) -> Image:
    """An image of several layers (what issue 4's builder and pulls will make)."""
    parent = None
    diff_ids = []
    for data in layers:
        layer = store.layers.commit(store.layers.extract(io.BytesIO(data)), parent)
        parent = layer.chain_id
        diff_ids.append(layer.diff_id)
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
              "created": "2026-01-01T00:00:00Z",
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    return store.create(config, reference)


# -- import, get, list ---------------------------------------------------------------------


def test_import_busybox(store: ImageStore, root: Path, busybox_tar: Path) -> None:
    image = _import(store, busybox_tar, reference="busybox", changes=['CMD ["sh"]'],
                    message="Imported from -")
    diff_id = "sha256:" + hashlib.sha256(busybox_tar.read_bytes()).hexdigest()
    assert image.diff_ids == [diff_id]
    assert image.repo_tags == ["busybox:latest"]
    config_bytes = (root / "image/content/sha256" / image.id[7:]).read_bytes()
    assert image.id == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert json.loads(config_bytes)["config"] == {"Cmd": ["sh"]}
    layer = root / "image/layers" / diff_id[7:]
    assert (layer / "diff/bin/busybox").is_file()
    assert (layer / "diff_id").read_text() == diff_id
    assert not (layer / "parent").exists()
    assert os.stat(layer).st_mode & 0o077 == 0  # setuid files in layers stay private
    assert image.layers == [str(layer / "diff")]

    inspect = image.inspect()
    assert inspect["Id"] == image.id and inspect["RepoTags"] == ["busybox:latest"]
    assert inspect["Config"]["Cmd"] == ["sh"] and inspect["Config"]["Hostname"] == ""
    assert inspect["RootFS"] == {"Type": "layers", "Layers": [diff_id]}
    assert inspect["Comment"] == "Imported from -"
    assert inspect["Size"] == image.size > 1_000_000
    assert inspect["GraphDriver"]["Name"] == "overlay2"
    assert inspect["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    summary = image.summary()
    assert summary["RepoTags"] == ["busybox:latest"] and summary["Containers"] == -1
    assert isinstance(summary["Created"], int) and summary["Created"] > 1_700_000_000


def test_lookups_like_docker(store: ImageStore, busybox_tar: Path) -> None:
    image = _import(store, busybox_tar, reference="busybox")
    hex_id = image.id[7:]
    for ref in ("busybox", "busybox:latest", "docker.io/library/busybox", image.id, hex_id,
                hex_id[:12], hex_id[:1], f"sha256:{hex_id[:5]}"):
        assert store.get(ref).id == image.id, ref
    with pytest.raises(NotFound) as caught:
        store.get("nothere")
    assert str(caught.value) == "No such image: nothere:latest"
    with pytest.raises(NotFound) as caught:
        store.get("busybox:1.0")
    assert str(caught.value) == "No such image: busybox:1.0"
    with pytest.raises(NotFound) as caught:
        store.get("0" * 64)
    assert str(caught.value) == f"No such image: sha256:{'0' * 64}"
    with pytest.raises(InvalidParameter) as invalid:
        store.get("BusyBox")
    assert str(invalid.value) == ("invalid reference format: repository name (library/BusyBox) "
                                  "must be lowercase")


def test_a_second_store_sees_changes_made_by_another(store: ImageStore, root: Path,
                                                     busybox_tar: Path) -> None:
    other = ImageStore(str(root))
    assert other.list() == []
    image = _import(store, busybox_tar, reference="busybox")
    assert [i.id for i in other.list()] == [image.id]
    store.tag("busybox", "mine:1")
    assert other.get("mine:1").id == image.id


def test_identical_layers_are_stored_once(store: ImageStore, root: Path,
                                          busybox_tar: Path) -> None:
    first = _import(store, busybox_tar, reference="one")
    second = _import(store, busybox_tar, reference="two", changes=["ENV A=1"])
    assert first.id != second.id
    assert first.chain_ids == second.chain_ids
    assert len(os.listdir(root / "image/layers")) == 1
    assert [i.id for i in store.list()] == [second.id, first.id]  # newest first
    assert store.remove("one") == [{"Untagged": "one:latest"}, {"Deleted": first.id}]
    assert len(os.listdir(root / "image/layers")) == 1
    records = store.remove("two")
    assert records[-1] == {"Deleted": second.chain_ids[0]}
    assert os.listdir(root / "image/layers") == []


# -- tag and rmi ---------------------------------------------------------------------------


def test_tag_untag_and_delete(store: ImageStore, busybox_tar: Path) -> None:
    image = _import(store, busybox_tar, reference="busybox")
    store.tag("busybox", "team/app:v1")
    store.tag(image.id[7:19], "localhost:5000/app")
    # Docker's order: by full name (docker.io/library/busybox, docker.io/team/app, localhost...)
    assert store.get("busybox").repo_tags == [
        "busybox:latest", "team/app:v1", "localhost:5000/app:latest"]
    with pytest.raises(InvalidParameter):
        store.tag("busybox", "Bad")
    with pytest.raises(NotFound):
        store.tag("missing", "x")

    # by ID with several tags: must be forced
    with pytest.raises(Conflict) as caught:
        store.remove(image.id)
    assert str(caught.value) == (f"conflict: unable to delete {image.id[7:19]} (must be forced)"
                                 " - image is referenced in multiple repositories")
    assert store.remove("team/app:v1") == [{"Untagged": "team/app:v1"}]
    assert store.remove("localhost:5000/app") == [{"Untagged": "localhost:5000/app:latest"}]
    # by ID with a single tag: untag and delete
    records = store.remove(image.id[7:12])
    assert records[:2] == [{"Untagged": "busybox:latest"}, {"Deleted": image.id}]
    assert store.list() == []
    with pytest.raises(NotFound):
        store.remove("busybox")


def test_retag_leaves_a_dangling_image(store: ImageStore, busybox_tar: Path) -> None:
    old = _import(store, busybox_tar, reference="app")
    new = _import(store, busybox_tar, reference="app", changes=["ENV V=2"])
    dangling = store.get(old.id)
    assert dangling.repo_tags == []
    assert dangling.summary()["RepoTags"] == ["<none>:<none>"]
    assert store.get("app").id == new.id
    assert store.remove(old.id) == [{"Deleted": old.id}]


def test_rmi_respects_containers(store: ImageStore, busybox_tar: Path) -> None:
    image = _import(store, busybox_tar, reference="busybox")
    container = "c0ffee" + "0" * 58

    def stopped(image_id: str) -> tuple[str, bool] | None:
        return (container, False) if image_id == image.id else None

    def running(image_id: str) -> tuple[str, bool] | None:
        return (container, True) if image_id == image.id else None

    with pytest.raises(Conflict) as caught:
        store.remove("busybox", in_use=stopped)
    assert str(caught.value) == (
        'conflict: unable to remove repository reference "busybox" (must force) - container '
        f"c0ffee000000 is using its referenced image {image.id[7:19]}"
    )
    with pytest.raises(Conflict) as caught:
        store.remove(image.id, in_use=stopped)
    assert str(caught.value) == (f"conflict: unable to delete {image.id[7:19]} (must be forced)"
                                 " - image is being used by stopped container c0ffee000000")
    with pytest.raises(Conflict) as caught:
        store.remove(image.id, force=True, in_use=running)
    assert "(cannot be forced) - image is being used by running container c0ffee000000" in str(
        caught.value)
    assert store.get("busybox").id == image.id  # nothing changed so far

    # forced by name while it runs: the tag goes, the image stays for its container
    assert store.remove("busybox", force=True, in_use=running) == [
        {"Untagged": "busybox:latest"}]
    assert store.get(image.id).repo_tags == []
    # simpler callers may answer a bare container ID (or True): read as a stopped container
    with pytest.raises(Conflict, match="being used by stopped container c0ffee000000"):
        store.remove(image.id, in_use=lambda _: container)
    with pytest.raises(Conflict, match="must be forced"):
        store.remove(image.id, in_use=lambda _: True)
    # forced by ID when only a stopped container uses it: deleted
    assert store.remove(image.id, force=True, in_use=stopped)[0] == {"Deleted": image.id}


# -- failures leave nothing ----------------------------------------------------------------


def _state(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_failed_import_leaves_nothing(store: ImageStore, root: Path,
                                        busybox_tar: Path) -> None:
    _import(store, busybox_tar, reference="busybox")
    before = _state(root)
    tags_before = (root / "image/repositories.json").read_bytes()
    data = busybox_tar.read_bytes()
    for cut in (len(data) // 2, 1000, 512 * 7 + 3):
        with pytest.raises(InvalidParameter):
            store.import_tar(io.BytesIO(data[:cut]), reference="broken")
    with pytest.raises(InvalidParameter):
        store.import_tar(io.BytesIO(data), reference="Broken")
    with pytest.raises(InvalidParameter):
        store.import_tar(io.BytesIO(data), reference="ok", changes=["RUN rm -rf /"])
    assert _state(root) == before
    assert (root / "image/repositories.json").read_bytes() == tags_before
    with pytest.raises(NotFound):
        store.get("broken")


def test_leftovers_of_a_killed_import_are_swept(root: Path, busybox_tar: Path) -> None:
    ImageStore(str(root))
    leftover = root / "image/layers/.tmp-999999999-abc/diff"
    leftover.mkdir(parents=True)
    ImageStore(str(root))
    assert not leftover.parent.exists()


# -- snapshots -----------------------------------------------------------------------------


def test_snapshot_prepare_write_remount_remove(store: ImageStore, root: Path,
                                               busybox_tar: Path) -> None:
    image = _import(store, busybox_tar, reference="busybox")
    snapshots = Snapshotter(str(root))
    merged = Path(snapshots.prepare("c1", image))
    assert merged == root / "overlay/c1/merged"
    assert snapshots.mounted("c1") and is_mountpoint(str(merged))
    assert (merged / "bin/busybox").is_file()
    (merged / "etc/hello").write_text("hi\n")
    (merged / "bin/busybox").chmod(0o700)  # a copy-up; the layer stays as it was
    upper = root / "overlay/c1/upper"
    assert (upper / "etc/hello").read_text() == "hi\n"
    assert not (Path(image.layers[0]) / "etc/hello").exists()
    assert os.stat(Path(image.layers[0]) / "bin/busybox").st_mode & 0o777 == 0o755
    assert snapshots.diff_size("c1") >= 3
    with pytest.raises(Conflict):
        snapshots.prepare("c1", image)

    snapshots.unmount("c1")
    assert not snapshots.mounted("c1") and not (merged / "bin").exists()
    assert snapshots.mount("c1", image) == str(merged)
    assert (merged / "etc/hello").read_text() == "hi\n"
    assert snapshots.mount("c1", image) == str(merged)  # already mounted: fine

    snapshots.remove("c1")
    assert not (root / "overlay/c1").exists()
    assert (Path(image.layers[0]) / "bin/busybox").is_file()
    with pytest.raises(InvalidParameter):
        snapshots.prepare("../escape", image)


def test_snapshot_keeps_its_layers_after_a_forced_rmi(store: ImageStore, root: Path,
                                                      busybox_tar: Path) -> None:
    image = _import(store, busybox_tar, reference="busybox")
    snapshots = Snapshotter(str(root))
    merged = Path(snapshots.prepare("c2", image))
    records = store.remove("busybox", force=True, in_use=lambda _: ("c2" + "0" * 62, False))
    assert {"Deleted": image.id} in records
    assert {"Deleted": image.chain_ids[0]} not in records
    assert (merged / "bin/busybox").is_file()
    snapshots.unmount("c2")  # e.g. a reboot: the image is gone, the snapshot still mounts
    assert snapshots.mount("c2") == str(merged)
    assert (merged / "bin/busybox").is_file()
    snapshots.remove("c2")
    assert store.gc() == [image.chain_ids[0]]
    assert os.listdir(root / "image/layers") == []


def test_whiteouts_hide_lower_files_in_a_snapshot(store: ImageStore, root: Path) -> None:
    image = _layered(
        store,
        _tar(("a/", b""), ("a/x", b"x"), ("a/y", b"y"), ("d/", b""), ("d/old", b"o")),
        _tar(("a/", b""), ("a/.wh.x", b""), ("d/", b""), ("d/.wh..wh..opq", b""),
             ("d/new", b"n")),
        reference="layered",
    )
    assert len(image.layers) == 2 and image.chain_ids[1] != image.diff_ids[1]
    assert image.inspect()["GraphDriver"]["Data"]["LowerDir"] == image.layers[0]
    merged = Path(Snapshotter(str(root)).prepare("c3", image))
    assert sorted(os.listdir(merged / "a")) == ["y"]
    assert sorted(os.listdir(merged / "d")) == ["new"]


def test_many_layers_mount_with_the_new_mount_api(store: ImageStore, root: Path) -> None:
    layers = [_tar((f"f{i:03d}", str(i).encode())) for i in range(60)]
    image = _layered(store, *layers)
    assert sum(len(p) + 1 for p in image.layers) > 4096  # too long for one mount(2) string
    merged = Path(Snapshotter(str(root)).prepare("many", image))
    assert len(os.listdir(merged)) == 60
    assert (merged / "f000").read_text() == "0" and (merged / "f059").read_text() == "59"


def test_legacy_mount_path_works_and_refuses_overlong_options(tmp_path: Path) -> None:
    lowers = []
    for i in range(2):
        lower = tmp_path / f"l{i}"
        lower.mkdir()
        (lower / f"f{i}").write_text(str(i))
        lowers.append(str(lower))
    for name in ("upper", "work", "merged"):
        (tmp_path / name).mkdir()
    merged = str(tmp_path / "merged")
    mount_overlay(merged, lowers, str(tmp_path / "upper"), str(tmp_path / "work"), legacy=True)
    try:
        assert sorted(os.listdir(merged)) == ["f0", "f1"]
    finally:
        unmount(merged)
    assert not is_mountpoint(merged)
    with pytest.raises(OSError, match="too many layers"):
        mount_overlay(merged, lowers * 200, str(tmp_path / "upper"), str(tmp_path / "work"),
                      legacy=True)


# -- bootstrap -----------------------------------------------------------------------------


def test_bootstrap_imports_base_images_once(root: Path, base_dir: Path) -> None:
    first = import_base_images(str(root), base_dir)
    assert "busybox:latest" in [r.reference for r in first]
    assert all(r.imported for r in first)
    again = import_base_images(str(root), base_dir)
    assert [(r.reference, r.image_id, r.imported) for r in again] == [
        (r.reference, r.image_id, False) for r in first
    ]
    store = ImageStore(str(root))
    busybox = store.get("busybox")
    metadata = read_metadata(base_dir / "busybox.json")
    assert metadata is not None
    assert busybox.diff_ids == [metadata.diff_id]
    assert busybox.created == metadata.created
    assert busybox.inspect()["Config"]["Cmd"] == list(metadata.cmd)
    assert busybox.inspect()["Config"]["Env"] == list(metadata.env)
    assert busybox.config["architecture"] == metadata.architecture
    # the same tarball always makes the same image
    other = root.parent / "other-root"
    assert import_base_images(str(other), base_dir)[0].image_id == first[0].image_id


def test_bootstrap_command_line_imports(root: Path, base_dir: Path) -> None:
    command = [sys.executable, "-m", "ketch.bootstrap", "--out", str(base_dir), "busybox",
               "--import-into", str(root)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("busybox:latest") and lines[1].endswith("(imported)")
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    assert again.stdout.splitlines()[1].endswith("(already there)")
    assert ImageStore(str(root)).get("busybox").repo_tags == ["busybox:latest"]
