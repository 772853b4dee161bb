"""Unit tests for the pieces under both snapshot drivers: the layers' merged view
(lowerview), the change lists (treediff) and copying layers (dircopy).

Layers are built by hand in overlay format (0:0 character devices, trusted.overlay.opaque),
which needs root; trees are compared entry by entry, metadata included.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from ketch.images import lowerview
from ketch.images.dircopy import copy_layer
from ketch.images.treediff import ADDED, DELETED, MODIFIED, tree_changes, upper_changes

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, trusted xattrs)")

T0 = 1_600_000_000_123_456_789  # an mtime with nanoseconds, to see they are kept
CAP_NET_RAW = bytes.fromhex("01000002" "00200000" "00000000" "00000000" "00000000")


def write(path: Path, data: bytes = b"", mode: int = 0o644, mtime: int = T0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, ns=(mtime, mtime))


def whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def opaque(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.setxattr(path, lowerview.OPAQUE_XATTR, b"y")


def symlink(target: str, path: Path, mtime: int = T0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)
    os.utime(path, ns=(mtime, mtime), follow_symlinks=False)


Entry = tuple[int, int, int, int, int, int, "str | None", tuple[tuple[str, bytes], ...],
              "str | None"]


def tree(root: Path) -> dict[str, Entry]:
    """Everything about each entry a container could see (inode numbers aside): mode,
    owner, device, mtime, size, content or target, xattrs, first name of its inode."""
    result: dict[str, Entry] = {}
    inodes: dict[int, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        xattrs = tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False))
                              for n in os.listxattr(path, follow_symlinks=False)))
        kind = stat.S_IFMT(st.st_mode)
        content: str | None = None
        if kind == stat.S_IFREG:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        elif kind == stat.S_IFLNK:
            content = os.readlink(path)
        link = inodes.setdefault(st.st_ino, rel) if kind != stat.S_IFDIR else None
        result[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_mtime_ns,
                       st.st_size if kind != stat.S_IFDIR else 0, content, xattrs, link)
    return result


@pytest.fixture
def layers(tmp_path: Path) -> list[str]:
    """Two layers, top first. Bottom: a small busybox-like tree; top: deletes etc/shadow,
    replaces usr/sbin (opaque) and var/www (a file now), adds opt/x."""
    base = tmp_path / "base"
    write(base / "bin/busybox", b"\x7fELF busybox", 0o4755)
    os.link(base / "bin/busybox", base / "bin/su")
    symlink("busybox", base / "bin/sh")
    write(base / "etc/group", b"root:x:0:\n")
    write(base / "etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
    write(base / "etc/shadow", b"root:*:::::::\n", 0o600)
    os.chown(base / "etc/shadow", 0, 42)
    write(base / "usr/sbin/a", b"a")
    write(base / "usr/sbin/b", b"b")
    (base / "var/www/html").mkdir(parents=True)
    (base / "var/spool/mail").mkdir(parents=True)
    os.mkfifo(base / "var/spool/fifo")
    os.mknod(base / "var/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.setxattr(base / "etc/group", "user.origin", b"base")
    (base / "home").mkdir()
    top = tmp_path / "top"
    (top / "etc").mkdir(parents=True)
    whiteout(top / "etc/shadow")
    opaque(top / "usr/sbin")
    write(top / "usr/sbin/c", b"c")
    write(top / "var/www", b"now a file")
    write(top / "opt/x", b"x")
    for layer in (base, top):  # directories as a layer store leaves them
        for path in sorted(layer.rglob("*"), reverse=True):
            if path.is_dir() and not path.is_symlink():
                os.utime(path, ns=(T0, T0))
    return [str(top), str(base)]


def merged(tmp_path: Path, layers: list[str]) -> Path:
    target = tmp_path / "merged"
    target.mkdir()
    for layer in reversed(layers):
        copy_layer(layer, str(target))
    return target


def changes_of(root: Path, layers: list[str], *, upper: bool = False) -> list[tuple[str, int]]:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return (upper_changes if upper else tree_changes)(fd, layers)[0]
    finally:
        os.close(fd)


# -- lowerview ---------------------------------------------------------------------------------


def test_lowerview_follows_whiteouts_and_opaque_directories(layers: list[str]) -> None:
    top, base = layers
    root = lowerview.root_dirs(layers)
    assert root == layers
    etc = lowerview.descend(root, "etc")
    assert etc == [f"{top}/etc", f"{base}/etc"]
    assert lowerview.lookup(etc, "shadow") is None
    found = lowerview.lookup(etc, "group")
    assert found is not None and found[1] == f"{base}/etc/group"
    assert sorted(lowerview.listing(etc)) == ["group", "passwd"]
    sbin = lowerview.descend(lowerview.descend(root, "usr"), "sbin")
    assert sbin == [f"{top}/usr/sbin"]  # opaque: the base's sbin is hidden
    assert sorted(lowerview.listing(sbin)) == ["c"]
    var = lowerview.descend(root, "var")
    assert lowerview.descend(var, "www") == []  # a file on top hides the directory
    www = lowerview.lookup(var, "www")
    assert www is not None and stat.S_ISREG(www[0].st_mode)


# -- dircopy -----------------------------------------------------------------------------------


def test_copying_layers_makes_the_merged_view(tmp_path: Path, layers: list[str]) -> None:
    target = merged(tmp_path, layers)
    state = tree(target)
    base = tree(Path(layers[1]))
    for rel in ("bin/busybox", "bin/sh", "etc/group", "etc/passwd", "var/spool/fifo",
                "var/null", "home"):
        assert state[rel][:-1] == base[rel][:-1], rel  # all metadata, mtime in ns too
    assert state["bin/su"][-1] == "bin/busybox"  # still one file, two names
    assert state["bin/busybox"][0] == stat.S_IFREG | 0o4755  # setuid survives the chown
    assert dict(state["etc/group"][7])["user.origin"] == b"base"
    assert "etc/shadow" not in state
    assert sorted(os.listdir(target / "usr/sbin")) == ["c"]
    assert (target / "var/www").read_bytes() == b"now a file"
    assert (target / "opt/x").read_bytes() == b"x"
    assert not [rel for rel, st in state.items() if stat.S_ISCHR(int(st[0])) and st[3] == 0]
    assert not lowerview.is_opaque(str(target / "usr/sbin"))  # overlayfs' marks stay behind
    assert state["usr/sbin"][4] == T0 and state["etc"][4] == T0  # directory mtimes last


def test_a_layer_replaces_what_is_below_without_following_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    lower = tmp_path / "lower"
    symlink(str(outside), lower / "lib")  # a symlink where the next layer has a directory
    write(lower / "data/keep", b"k")
    write(lower / "data/old", b"o")
    upper = tmp_path / "upper"
    write(upper / "lib/libc.so", b"libc")
    write(upper / "data", b"a file replaces the directory")
    target = tmp_path / "target"
    target.mkdir()
    copy_layer(str(lower), str(target))
    copy_layer(str(upper), str(target))
    assert os.listdir(outside) == []
    assert (target / "lib").is_dir() and not (target / "lib").is_symlink()
    assert (target / "data").read_bytes() == b"a file replaces the directory"


# -- changes of a complete tree (vfs) ------------------------------------------------------------


def test_an_untouched_copy_has_no_changes(tmp_path: Path, layers: list[str]) -> None:
    assert changes_of(merged(tmp_path, layers), layers) == []


def test_changes_of_a_tree_as_docker_lists_them(tmp_path: Path, layers: list[str]) -> None:
    root = merged(tmp_path, layers)
    (root / "x").mkdir()
    write(root / "x/y", b"\n")
    (root / "etc/passwd").unlink()
    with open(root / "etc/group", "ab") as f:
        f.write(b"\n")
    os.utime(root / "bin/busybox")  # touch: a new mtime only (su is the same file)
    (root / "home").chmod(0o700)  # a directory's own change
    os.utime(root / "var/spool")  # a directory's mtime alone is no change
    (root / "var/spool/mail").rmdir()
    os.symlink("/bin/busybox", root / "sh2")
    # the runtime's mount targets are not the container's changes
    for name in ("etc/hosts", "etc/hostname", "etc/resolv.conf"):
        write(root / name)
    (root / "proc").mkdir()
    assert changes_of(root, layers) == [
        ("/bin", MODIFIED), ("/bin/busybox", MODIFIED), ("/bin/su", MODIFIED),
        ("/etc", MODIFIED), ("/etc/group", MODIFIED), ("/etc/passwd", DELETED),
        ("/home", MODIFIED),
        ("/sh2", ADDED),
        ("/var", MODIFIED), ("/var/spool", MODIFIED), ("/var/spool/mail", DELETED),
        ("/x", ADDED), ("/x/y", ADDED),
    ]


def test_changes_that_keep_size_and_mtime(tmp_path: Path, layers: list[str]) -> None:
    root = merged(tmp_path, layers)
    (root / "bin/sh").unlink()
    symlink("busyboy", root / "bin/sh")  # same length, same mtime: the target differs
    os.setxattr(root / "etc/passwd", "security.capability", CAP_NET_RAW)
    os.chown(root / "etc/group", 0, 5)
    assert changes_of(root, layers) == [
        ("/bin", MODIFIED), ("/bin/sh", MODIFIED),
        ("/etc", MODIFIED), ("/etc/group", MODIFIED), ("/etc/passwd", MODIFIED),
    ]


def test_a_replaced_directory_lists_what_it_lost(tmp_path: Path, layers: list[str]) -> None:
    root = merged(tmp_path, layers)
    for name in os.listdir(root / "etc"):
        (root / "etc" / name).unlink()
    write(root / "etc/passwd", b"new\n")
    assert changes_of(root, layers) == [
        ("/etc", MODIFIED), ("/etc/passwd", MODIFIED), ("/etc/group", DELETED),
    ]


def test_mount_target_parents_the_image_lacks_are_not_added(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    write(layer / "app", b"#!/app")
    root = tmp_path / "root"
    root.mkdir()
    copy_layer(str(layer), str(root))
    write(root / "etc/hosts")  # made as a mount target: etc is Docker's init layer's
    (root / "dev").mkdir()
    assert changes_of(root, [str(layer)]) == []
    write(root / "etc/motd", b"hi")
    assert changes_of(root, [str(layer)]) == [("/etc", MODIFIED), ("/etc/motd", ADDED)]


# -- changes of an overlayfs upper directory ------------------------------------------------------


def _copy_up(lower: Path, upper: Path) -> None:
    """What overlayfs does before a change: the directory with the lower's metadata."""
    upper.mkdir(parents=True, exist_ok=True)
    st = lower.stat()
    os.chmod(upper, stat.S_IMODE(st.st_mode))
    os.utime(upper, ns=(st.st_mtime_ns, st.st_mtime_ns))


def test_changes_of_an_upper_directory(tmp_path: Path, layers: list[str]) -> None:
    top, base = (Path(p) for p in layers)
    upper = tmp_path / "upper"
    upper.mkdir()
    assert changes_of(upper, layers, upper=True) == []
    _copy_up(base / "etc", upper / "etc")
    whiteout(upper / "etc/passwd")
    whiteout(upper / "etc/shadow")  # already deleted below: not a change of the container
    write(upper / "etc/group", b"root:x:0:\n\n")
    write(upper / "etc/hosts")  # a mount target
    _copy_up(base / "bin", upper / "bin")
    os.link(base / "bin/busybox", upper / "bin/busybox")  # a copy-up that changed nothing
    opaque(upper / "usr/sbin")
    _copy_up(top / "usr", upper / "usr")
    write(upper / "usr/sbin/new", b"n")
    (upper / "x").mkdir()
    write(upper / "x/y", b"\n")
    assert changes_of(upper, layers, upper=True) == [
        ("/etc", MODIFIED), ("/etc/group", MODIFIED), ("/etc/passwd", DELETED),
        ("/usr", MODIFIED), ("/usr/sbin", MODIFIED), ("/usr/sbin/new", ADDED),
        ("/usr/sbin/c", DELETED),
        ("/x", ADDED), ("/x/y", ADDED),
    ]
