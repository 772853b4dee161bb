"""Unit tests for applying layer tars: hostile archives, attributes, whiteouts, compression.

Archives are built in memory with tarfile; each hostile one must fail with one clear line
(or be confined) and leave everything outside the layer directory untouched.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.errors import InvalidParameter, KetchError
from ketch.util.tarball.extract import Limits, apply_layer

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root")


Entry = tuple[tarfile.TarInfo, bytes]


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", *, linkname: str = "",
          mode: int = 0o644, uid: int = 0, gid: int = 0, mtime: int = 1_600_000_000,
          pax: dict[str, str] | None = None, dev: tuple[int, int] = (0, 0)) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode if kind != tarfile.DIRTYPE or mode != 0o644 else 0o755
    info.uid, info.gid, info.mtime = uid, gid, mtime
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.devmajor, info.devminor = dev
    if pax:
        info.pax_headers = dict(pax)
    return info, data


def make_tar(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A layer dir and a canary tree beside it that no archive may touch."""
    layer = tmp_path / "layer"
    layer.mkdir()
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "passwd").write_text("root:x:0:0\n")
    before = _tree(tmp_path, skip=layer)
    yield layer, canary
    assert _tree(tmp_path, skip=layer) == before, "something outside the layer changed"


def _tree(top: Path, skip: Path) -> dict[str, tuple[int, int, bytes]]:
    result = {}
    for path in sorted(top.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        st = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        result[str(path)] = (st.st_mode, st.st_mtime_ns, content)
    return result


def apply(data: bytes, layer: Path, limits: Limits | None = None) -> str:
    return apply_layer(io.BytesIO(data), str(layer), limits).diff_id


# -- hostile archives --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([entry("../x", data=b"evil")], "path escapes the layer"),
        ([entry("a/../../canary/passwd", data=b"evil")], "path escapes the layer"),
        ([entry("/abs/x", data=b"evil")], "absolute path"),
        (
            [entry("evil", tarfile.SYMTYPE, linkname="../canary"),
             entry("evil/passwd", data=b"evil")],
            "a parent is a symlink or not a directory",
        ),
        (
            [entry("evil", tarfile.SYMTYPE, linkname="/"), entry("evil/etc/passwd", data=b"x")],
            "a parent is a symlink or not a directory",
        ),
        (
            [entry("up", tarfile.SYMTYPE, linkname=".."), entry("up/canary/new", data=b"x")],
            "a parent is a symlink or not a directory",
        ),
        ([entry("file", data=b"x"), entry("file/child", data=b"x")],
         "a parent is a symlink or not a directory"),
        ([entry("h", tarfile.LNKTYPE, linkname="../canary/passwd")], "path escapes the layer"),
        ([entry("h", tarfile.LNKTYPE, linkname="/etc/shadow")], "absolute path"),
        ([entry("h", tarfile.LNKTYPE, linkname="etc/shadow")], "is not in the layer"),
        (
            [entry("l", tarfile.SYMTYPE, linkname="/etc"), entry("h", tarfile.LNKTYPE,
                                                              linkname="l/passwd")],
            "a parent is a symlink or not a directory",
        ),
        ([entry("d", tarfile.DIRTYPE), entry("h", tarfile.LNKTYPE, linkname="d")],
         "hard link to a directory"),
        ([entry("a/.wh..", data=b"")], "invalid whiteout"),
        ([entry("a/.wh.", data=b"")], "invalid whiteout"),
        ([entry(".wh.../../x", data=b"")], "path escapes the layer"),
    ],
    ids=["dotdot", "dotdot-deep", "absolute", "symlink-parent", "symlink-root",
         "symlink-dotdot", "file-parent", "hardlink-out", "hardlink-abs", "hardlink-missing",
         "hardlink-via-symlink", "hardlink-dir", "whiteout-dotdot", "whiteout-empty",
         "whiteout-escape"],
)
def test_hostile_archives_fail_and_touch_nothing_outside(
    sandbox: tuple[Path, Path], entries: list[tuple[tarfile.TarInfo, bytes]], message: str
) -> None:
    layer, _ = sandbox
    with pytest.raises(InvalidParameter) as caught:
        apply(make_tar(*entries), layer)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_symlinks_may_point_anywhere_but_are_never_followed(sandbox: tuple[Path, Path]) -> None:
    layer, canary = sandbox
    apply(make_tar(
        entry("etc", tarfile.DIRTYPE),
        entry("etc/passwd", tarfile.SYMTYPE, linkname=str(canary / "passwd")),
        entry("etc/passwd", data=b"replaced\n"),  # replaces the symlink, not its target
        entry("abs", tarfile.SYMTYPE, linkname="/etc/shadow"),
        entry("rel", tarfile.SYMTYPE, linkname="../../../../etc/shadow"),
    ), layer)
    assert (layer / "etc/passwd").read_bytes() == b"replaced\n"
    assert os.readlink(layer / "abs") == "/etc/shadow"
    assert os.readlink(layer / "rel") == "../../../../etc/shadow"


def test_duplicate_entry_symlink_replaces_directory(sandbox: tuple[Path, Path]) -> None:
    layer, canary = sandbox
    apply(make_tar(
        entry("d", tarfile.DIRTYPE), entry("d/f", data=b"x"),
        entry("d", tarfile.SYMTYPE, linkname=str(canary)),
    ), layer)
    assert os.readlink(layer / "d") == str(canary)


def test_a_name_too_long_is_refused(sandbox: tuple[Path, Path]) -> None:
    layer, _ = sandbox
    with pytest.raises(InvalidParameter, match="File name too long"):
        apply(make_tar(entry("x" * 300, data=b"x")), layer)


def test_limits_bound_entries_and_bytes(sandbox: tuple[Path, Path]) -> None:
    layer, _ = sandbox
    many = make_tar(*(entry(f"f{i}", data=b"x") for i in range(20)))
    with pytest.raises(InvalidParameter, match="more than 10 entries"):
        apply(many, layer, Limits(max_entries=10))
    big = make_tar(entry("big", data=b"x" * 5000))
    with pytest.raises(InvalidParameter, match="larger than 4096 bytes"):
        apply(big, layer, Limits(max_bytes=4096))


def test_truncated_and_garbage_archives_fail(sandbox: tuple[Path, Path]) -> None:
    layer, _ = sandbox
    data = make_tar(entry("a", data=b"a" * 3000), entry("b", data=b"b" * 3000))
    for cut in (700, 1024 + 100, 4096 + 200):
        shutil.rmtree(layer)
        layer.mkdir()
        with pytest.raises(InvalidParameter):
            apply(data[:cut], layer)
    for garbage in (b"", b"not a tar at all" * 100, data[:512] + b"\xff" * 1024):
        with pytest.raises(InvalidParameter):
            apply(garbage, layer)


# -- what a layer keeps ------------------------------------------------------------------


def test_attributes_modes_mtimes_hardlinks_and_diff_id(tmp_path: Path) -> None:
    data = make_tar(
        entry("./", tarfile.DIRTYPE, mode=0o755, mtime=1_500_000_000),
        entry("bin", tarfile.DIRTYPE, mode=0o555, mtime=1_400_000_000),
        entry("bin/tool", data=b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000),
        entry("bin/alias", tarfile.LNKTYPE, linkname="bin/tool"),
        entry("bin/sh", tarfile.SYMTYPE, linkname="tool", mtime=1_300_000_000),
        entry("implied/deep/file", data=b"x", mode=0o600),
        entry("fifo", tarfile.FIFOTYPE, mode=0o620),
        entry("caps", data=b"x", pax={"SCHILY.xattr.user.note": "hello",
                                      "SCHILY.xattr.trusted.overlay.opaque": "y"}),
    )
    layer = tmp_path / "layer"
    layer.mkdir()
    diff_id = apply(data, layer)
    assert diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    tool = (layer / "bin/tool").stat()
    assert stat.S_IMODE(tool.st_mode) == 0o4755
    assert tool.st_mtime == 1_600_000_000
    assert (layer / "bin/alias").stat().st_ino == tool.st_ino
    assert stat.S_IMODE((layer / "bin").stat().st_mode) == 0o555
    assert (layer / "bin").stat().st_mtime == 1_400_000_000
    assert layer.stat().st_mtime == 1_500_000_000
    assert (layer / "bin/sh").lstat().st_mtime == 1_300_000_000
    assert stat.S_IMODE((layer / "implied").stat().st_mode) == 0o755
    assert stat.S_ISFIFO((layer / "fifo").lstat().st_mode)
    assert stat.S_IMODE((layer / "fifo").lstat().st_mode) == 0o620
    if ROOT:
        assert (tool.st_uid, tool.st_gid) == (1000, 1000)
        assert "trusted.overlay.opaque" not in os.listxattr(layer / "caps")
    try:
        assert os.getxattr(layer / "caps", "user.note") == b"hello"
    except OSError:
        pytest.skip("filesystem without user xattrs")


def test_layer_size_counts_content_once(tmp_path: Path) -> None:
    from ketch.util.tarball.extract import apply_layer as apply_

    data = make_tar(entry("a", data=b"x" * 100), entry("b", tarfile.LNKTYPE, linkname="a"),
                    entry("c", tarfile.SYMTYPE, linkname="abc"))
    (tmp_path / "l").mkdir()
    assert apply_(io.BytesIO(data), str(tmp_path / "l")).size == 103


@needs_root
def test_device_nodes_as_root(tmp_path: Path) -> None:
    data = make_tar(entry("null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
                    entry("loop9", tarfile.BLKTYPE, mode=0o660, dev=(7, 9)))
    apply(data, tmp_path)
    null = (tmp_path / "null").lstat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_ISBLK((tmp_path / "loop9").lstat().st_mode)


@needs_root
def test_device_nodes_are_skipped_when_not_root() -> None:
    """Run the apply as nobody: devices are skipped, the rest is extracted."""
    data = make_tar(entry("null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
                    entry("fifo", tarfile.FIFOTYPE), entry("file", data=b"ok"))
    top = Path(tempfile.mkdtemp(prefix="ketch-test-"))
    try:
        top.chmod(0o755)
        layer = top / "layer"
        layer.mkdir()
        os.chown(layer, 65534, 65534)
        script = (
            "import sys; from ketch.util.tarball.extract import apply_layer; "
            "apply_layer(sys.stdin.buffer, sys.argv[1])"
        )
        src = Path(__file__).resolve().parents[2] / "src"
        subprocess.run([sys.executable, "-c", script, str(layer)], input=data, user=65534,
                       group=65534, check=True, timeout=30, cwd="/",
                       env={**os.environ, "PYTHONPATH": str(src)})
        assert sorted(os.listdir(layer)) == ["fifo", "file"]
        assert (layer / "file").stat().st_uid == 65534
    finally:
        shutil.rmtree(top)


# -- whiteouts -----------------------------------------------------------------------------


@needs_root
def test_whiteouts_become_overlayfs_whiteouts(tmp_path: Path) -> None:
    data = make_tar(
        entry("etc", tarfile.DIRTYPE),
        entry("etc/.wh.motd", data=b""),
        entry("var/cache/.wh..wh..opq", data=b""),
        entry("var/cache/kept", data=b"k"),
        entry(".wh..wh.plnk", tarfile.DIRTYPE),  # AUFS bookkeeping: ignored
        entry("opt/new", data=b"n"),
        entry("opt/.wh.new", data=b""),  # a whiteout replaces an entry of the same layer
    )
    apply(data, tmp_path)
    motd = (tmp_path / "etc/motd").lstat()
    assert stat.S_ISCHR(motd.st_mode) and motd.st_rdev == 0
    assert not (tmp_path / "etc/.wh.motd").exists()
    assert os.getxattr(tmp_path / "var/cache", "trusted.overlay.opaque") == b"y"
    assert not (tmp_path / "var/cache/.wh..wh..opq").exists()
    assert (tmp_path / "var/cache/kept").read_bytes() == b"k"
    assert not (tmp_path / ".wh..wh.plnk").exists()
    assert stat.S_ISCHR((tmp_path / "opt/new").lstat().st_mode)


@needs_root
def test_opaque_whiteout_in_a_first_layer_is_harmless(tmp_path: Path) -> None:
    apply(make_tar(entry(".wh..wh..opq", data=b""), entry("a", data=b"a")), tmp_path)
    assert os.getxattr(tmp_path, "trusted.overlay.opaque") == b"y"
    assert (tmp_path / "a").read_bytes() == b"a"


# -- compression ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "gzip", "bzip2", "xz", "zstd"])
def test_compressed_archives_and_diff_id_of_the_uncompressed_stream(
    tmp_path: Path, kind: str
) -> None:
    data = make_tar(entry("hello", data=b"hello world\n" * 1000))
    packed = {
        "plain": lambda d: d,
        "gzip": gzip.compress,
        "bzip2": bz2.compress,
        "xz": lzma.compress,
        "zstd": _zstd,
    }[kind](data)
    diff_id = apply(packed, tmp_path)
    assert diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (tmp_path / "hello").read_bytes() == b"hello world\n" * 1000


def _zstd(data: bytes) -> bytes:
    if shutil.which("zstd") is None:
        pytest.skip("no zstd program")
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                          check=True).stdout


def test_corrupt_compressed_stream_is_one_clear_error(tmp_path: Path) -> None:
    packed = gzip.compress(make_tar(entry("a", data=b"a" * 10000)))
    with pytest.raises(KetchError) as caught:
        apply(packed[: len(packed) // 2], tmp_path)
    assert isinstance(caught.value, InvalidParameter)
