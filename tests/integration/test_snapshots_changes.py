"""Integration tests for container snapshots with both storage drivers (overlay2 and vfs)
on the real busybox image: changes as Docker lists them, diff_tar as the layer a commit
stores, and the vfs copy as faithful as overlayfs' view.

The expected change lists were observed from Docker 20.10 (overlay2 and vfs alike) for
the same operations done by `docker run busybox sh -c '...'`; Docker's order between
sibling subtrees is random, ours is by name, deletions last in each directory.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ketch.errors import Conflict, NotFound
from ketch.images import Image, ImageStore, Snapshotter
from ketch.images.mount import is_mountpoint
from ketch.images.treediff import ADDED, DELETED, MODIFIED, Change
from ketch.util.tarball.extract import apply_layer

pytestmark = pytest.mark.integration

BUSYBOX_TAR = Path("/var/cache/ketch/base/busybox.tar")
MOUNT_TARGETS = ("etc/hostname", "etc/hosts", "etc/resolv.conf")  # made by the runtime


def _touch(path: Path) -> None:
    path.write_bytes(b"")


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def _cc(root: Path) -> None:  # mkdir /x; echo > /x/y; rm /etc/passwd; echo >> /etc/group;
    (root / "x").mkdir()  #     touch /bin/busybox
    (root / "x/y").write_bytes(b"\n")
    (root / "etc/passwd").unlink()
    _append(root / "etc/group", b"\n")
    os.utime(root / "bin/busybox")


def _t3(root: Path) -> None:  # rm -r /var/www; mkdir /var/www; touch /var/www/a
    shutil.rmtree(root / "var/www")
    (root / "var/www").mkdir()
    _touch(root / "var/www/a")


def _u1(root: Path) -> None:  # rm -r /usr/sbin; mkdir /usr/sbin; touch chroot new
    shutil.rmtree(root / "usr/sbin")
    (root / "usr/sbin").mkdir()
    _touch(root / "usr/sbin/chroot")
    _touch(root / "usr/sbin/new")


def _t6(root: Path) -> None:  # chmod 700 /tmp; ln -s /x /tmp/l; mkfifo /tmp/f;
    (root / "tmp").chmod(0o700)  # ln /bin/busybox /tmp/h
    os.symlink("/x", root / "tmp/l")
    os.mkfifo(root / "tmp/f")
    os.link(root / "bin/busybox", root / "tmp/h")


def _t10(root: Path) -> None:  # echo x > /etc/newf; rm /etc/newf
    (root / "etc/newf").write_bytes(b"x\n")
    (root / "etc/newf").unlink()


def _u3(root: Path) -> None:  # chmod 600 /etc/group; chown 5 /etc/shadow; chown -h 7 /bin/sh
    (root / "etc/group").chmod(0o600)
    os.chown(root / "etc/shadow", 5, -1)
    os.chown(root / "bin/sh", 7, -1, follow_symlinks=False)


USR_SBIN = ["arping", "brctl", "crond", "fsfreeze", "httpd", "i2cdetect", "i2cdump", "i2cget",
            "i2cset", "i2ctransfer", "loadfont", "mim", "nologin", "partprobe", "rdate",
            "telnetd", "ubirename", "udhcpd"]
SCENARIOS: dict[str, tuple[Callable[[Path], None], list[Change]]] = {
    "cc": (_cc, [("/bin", MODIFIED), ("/bin/busybox", MODIFIED), ("/etc", MODIFIED),
                 ("/etc/group", MODIFIED), ("/etc/passwd", DELETED), ("/x", ADDED),
                 ("/x/y", ADDED)]),
    "t1": (lambda r: _touch(r / "usr/bin/newfile"),
           [("/usr", MODIFIED), ("/usr/bin", MODIFIED), ("/usr/bin/newfile", ADDED)]),
    "t2": (lambda r: shutil.rmtree(r / "var/spool"), [("/var", MODIFIED),
                                                       ("/var/spool", DELETED)]),
    "t3": (_t3, [("/var", MODIFIED), ("/var/www", MODIFIED), ("/var/www/a", ADDED)]),
    "u1": (_u1, [("/usr", MODIFIED), ("/usr/sbin", MODIFIED),
                 ("/usr/sbin/chroot", MODIFIED), ("/usr/sbin/new", ADDED),
                 *((f"/usr/sbin/{n}", DELETED) for n in USR_SBIN)]),
    "t6": (_t6, [("/tmp", MODIFIED), ("/tmp/f", ADDED), ("/tmp/h", ADDED), ("/tmp/l", ADDED)]),
    "t9": (lambda r: os.rename(r / "etc/group", r / "etc/group2"),
           [("/etc", MODIFIED), ("/etc/group2", ADDED), ("/etc/group", DELETED)]),
    "t10": (_t10, []),
    "u3": (_u3, [("/bin", MODIFIED), ("/bin/sh", MODIFIED), ("/etc", MODIFIED),
                 ("/etc/group", MODIFIED), ("/etc/shadow", MODIFIED)]),
}


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(str(tmp_path / "root"))


@pytest.fixture
def busybox(store: ImageStore) -> Image:
    with open(BUSYBOX_TAR, "rb") as f:
        return store.import_tar(f, reference="busybox")


@pytest.fixture(params=["overlay2", "vfs"])
def snapshots(request: pytest.FixtureRequest, store: ImageStore) -> Iterator[Snapshotter]:
    snaps = Snapshotter(store.root, request.param)
    yield snaps
    for key in os.listdir(snaps.root):  # never leave a mount behind
        snaps.remove(key)


def _new_container(snapshots: Snapshotter, key: str, image: Image) -> Path:
    """A snapshot as the engine makes it: prepared, with the runtime's mount targets."""
    root = Path(snapshots.prepare(key, image))
    for name in MOUNT_TARGETS:
        _touch(root / name)
    return root


def _tree(root: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[object, ...]]:
    """What a container sees of each entry (directory mtimes aside: only Docker's overlay
    layer keeps them; hard link counts aside: a naive diff does not keep them)."""
    result: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel in skip:
            continue
        st = path.lstat()
        kind = stat.S_IFMT(st.st_mode)
        content: object = None
        if kind == stat.S_IFREG:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        elif kind == stat.S_IFLNK:
            content = os.readlink(path)
        mtime = None if kind == stat.S_IFDIR else st.st_mtime_ns // 10**9
        result[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, mtime,
                       st.st_size if kind != stat.S_IFDIR else 0, content)
    return result


def _diff_tar(snapshots: Snapshotter, key: str) -> bytes:
    out = io.BytesIO()
    snapshots.diff_tar(key, out.write)
    return out.getvalue()


def _as_changed(name: str) -> tuple[str, ...]:
    """The path a tar entry stands for, to sort by: a whiteout by what it deletes, an
    opaque marker right after its directory."""
    parts = name.split("/")
    if parts[-1] == ".wh..wh..opq":
        parts[-1] = ""
    elif parts[-1].startswith(".wh."):
        parts[-1] = parts[-1][4:]
    return tuple(parts)


def _reconstruct(tmp_path: Path, image: Image, layer_tar: bytes, target: Path) -> None:
    """The image with the layer on top, as a container would see it: the tar applied by
    the layer store's own code, the layers stacked by a read-only overlayfs mount."""
    layer = tmp_path / "new-layer"
    layer.mkdir()
    apply_layer(io.BytesIO(layer_tar), str(layer))
    target.mkdir()
    lowers = ":".join([str(layer), *reversed(image.layers)])
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lowers}",
                    str(target)], check=True)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_changes_are_the_ones_docker_reports(snapshots: Snapshotter, busybox: Image,
                                             scenario: str) -> None:
    act, expected = SCENARIOS[scenario]
    root = _new_container(snapshots, scenario, busybox)
    assert snapshots.changes(scenario) == []
    act(root)
    assert snapshots.changes(scenario) == expected


@pytest.mark.parametrize("scenario", ["cc", "u1", "t6", "t9", "u3"])
def test_diff_tar_on_the_image_gives_the_container_tree(
        snapshots: Snapshotter, busybox: Image, tmp_path: Path, scenario: str) -> None:
    root = _new_container(snapshots, "c1", busybox)
    SCENARIOS[scenario][0](root)
    data = _diff_tar(snapshots, "c1")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = [m.name for m in tar]
    assert names == sorted(names, key=_as_changed)
    assert not [n for n in names if n.startswith("/") or n.rstrip("/") in MOUNT_TARGETS]
    if scenario == "cc":  # what Docker's commit of the same container stores
        assert names == ["bin", "bin/busybox", "etc", "etc/group", "etc/.wh.passwd", "x", "x/y"]
    if scenario == "u1" and snapshots.driver == "overlay2":
        assert names[:4] == ["usr", "usr/sbin", "usr/sbin/.wh..wh..opq", "usr/sbin/chroot"]
    rebuilt = tmp_path / "rebuilt"
    _reconstruct(tmp_path, busybox, data, rebuilt)
    try:
        assert _tree(rebuilt) == _tree(root, skip=MOUNT_TARGETS)
    finally:
        subprocess.run(["umount", str(rebuilt)], check=True)


def test_an_untouched_container_commits_an_empty_layer(snapshots: Snapshotter,
                                                      busybox: Image) -> None:
    _new_container(snapshots, "c1", busybox)
    data = _diff_tar(snapshots, "c1")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmembers() == []
    assert len(data) == 1024  # just the end-of-archive blocks


def test_prepare_remount_remove(snapshots: Snapshotter, busybox: Image, store: ImageStore,
                                tmp_path: Path) -> None:
    root = _new_container(snapshots, "c1", busybox)
    assert snapshots.root == os.path.join(store.root, {"overlay2": "overlay",
                                                       "vfs": "vfs"}[snapshots.driver])
    assert snapshots.mounted("c1") and (root / "bin/busybox").is_file()
    assert snapshots.path("c1") == str(root)
    (root / "etc/hello").write_text("hi\n")
    assert Path(snapshots.upper("c1"), "etc/hello").read_text() == "hi\n"
    assert not Path(busybox.layers[0], "etc/hello").exists()  # the layer is untouched
    assert snapshots.diff_size("c1") >= 3
    with pytest.raises(Conflict):
        snapshots.prepare("c1", busybox)
    snapshots.unmount("c1")
    assert snapshots.mount("c1", busybox) == str(root)
    assert (root / "etc/hello").read_text() == "hi\n"
    other = store.import_tar(io.BytesIO(_tar_of({"only": b"x"})), reference="other")
    with pytest.raises(Conflict):
        snapshots.mount("c1", other)
    # the snapshot's layers survive a forced rmi until the snapshot goes
    store.remove("busybox", force=True, in_use=lambda _: ("c1" + "0" * 62, False))
    assert busybox.chain_ids[0] not in store.gc()
    assert (root / "bin/busybox").is_file()
    snapshots.remove("c1")
    assert not Path(snapshots.root, "c1").exists()
    assert busybox.chain_ids[0] in store.gc()
    with pytest.raises(NotFound):
        snapshots.changes("c1")


def _tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# -- the vfs copy is what overlayfs shows ---------------------------------------------------------


def _layer(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644,
           **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, 1_600_000_000.5
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _full_tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every attribute, mtimes in ns, xattrs and hard links included."""
    result: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        xattrs = sorted((n, os.getxattr(path, n, follow_symlinks=False))
                        for n in os.listxattr(path, follow_symlinks=False))
        link = None if stat.S_ISDIR(st.st_mode) else inodes.setdefault(st.st_ino, rel)
        content = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) \
            else os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
        result[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_mtime_ns,
                       0 if stat.S_ISDIR(st.st_mode) else st.st_size, content, xattrs, link,
                       st.st_nlink if not stat.S_ISDIR(st.st_mode) else None)
    return result


def test_a_vfs_copy_equals_the_overlay_view(store: ImageStore) -> None:
    d, f = tarfile.DIRTYPE, tarfile.REGTYPE
    image_layers = [
        _layer(_entry("bin/", d, mode=0o755), _entry("bin/tool", f, b"tool", 0o4755),
               _entry("bin/alias", tarfile.LNKTYPE, linkname="bin/tool", mode=0o4755),
               _entry("bin/sh", tarfile.SYMTYPE, linkname="tool", mode=0o777),
               _entry("etc/", d, mode=0o755),
               _entry("etc/secret", f, b"s", 0o600, uid=7, gid=8,
                      pax_headers={"SCHILY.xattr.user.note": "kept"}),
               _entry("etc/gone", f, b"g"), _entry("lib/", d, mode=0o755),
               _entry("lib/old", f, b"o"), _entry("dev/", d, mode=0o755),
               _entry("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
               _entry("run/", d, mode=0o1777), _entry("run/pipe", tarfile.FIFOTYPE)),
        _layer(_entry("etc/", d, mode=0o755), _entry("etc/.wh.gone", f),
               _entry("lib/", d, mode=0o700), _entry("lib/.wh..wh..opq", f),
               _entry("lib/new", f, b"n"), _entry("run/", d, mode=0o1777),
               _entry("run/pipe", f, b"now a file")),
    ]
    parent = None
    diff_ids = []
    for data in image_layers:
        layer = store.layers.commit(store.layers.extract(io.BytesIO(data)), parent)
        parent = layer.chain_id
        diff_ids.append(layer.diff_id)
    image = store.create({"architecture": "amd64", "os": "linux", "config": {},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids}}, "layered")
    overlay = Snapshotter(store.root, "overlay2")
    vfs = Snapshotter(store.root, "vfs")
    try:
        view = Path(overlay.prepare("o1", image))
        copy = Path(vfs.prepare("v1", image))
        assert not is_mountpoint(str(copy))
        assert sorted(os.listdir(copy / "lib")) == ["new"]
        assert not (copy / "etc/gone").exists()
        assert _full_tree(copy) == _full_tree(view)
        assert vfs.changes("v1") == [] and vfs.diff_size("v1") == 0
    finally:
        overlay.remove("o1")
        vfs.remove("v1")
