"""Unit tests for ketch.bootstrap.tarball: reproducible layer tars of a directory tree."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from ketch.bootstrap.tarball import sha256_file, write_tree_tar


def _tree(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    (root / "bin/busybox").write_bytes(b"\x7fELF fake")
    (root / "bin/busybox").chmod(0o755)
    (root / "bin/sh").symlink_to("busybox")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/passwd").chmod(0o644)
    (root / "a-file").write_text("sorted before bin")
    (root / "a-file").chmod(0o600)


def _tar(root: Path, mtime: int = 1234) -> bytes:
    out = io.BytesIO()
    write_tree_tar(root, out, mtime)
    return out.getvalue()


def test_members_are_sorted_depth_first_and_owned_by_root(tmp_path: Path) -> None:
    _tree(tmp_path / "root")
    with tarfile.open(fileobj=io.BytesIO(_tar(tmp_path / "root"))) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [
            "a-file",
            "bin",
            "bin/busybox",
            "bin/sh",
            "etc",
            "etc/passwd",
            "tmp",
        ]
        for m in members:
            assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 1234)
        by_name = {m.name: m for m in members}
        assert by_name["tmp"].isdir() and by_name["tmp"].mode == 0o1777
        assert by_name["bin/sh"].issym() and by_name["bin/sh"].linkname == "busybox"
        assert by_name["bin/busybox"].mode == 0o755 and by_name["a-file"].mode == 0o600
        data = tar.extractfile("etc/passwd")
        assert data is not None and data.read() == b"root:x:0:0:root:/root:/bin/sh\n"


def test_same_tree_gives_same_bytes_whatever_the_disk_times(tmp_path: Path) -> None:
    _tree(tmp_path / "one")
    _tree(tmp_path / "two")
    os.utime(tmp_path / "two/etc/passwd", (1, 1))
    os.utime(tmp_path / "two/bin", (99999, 99999))
    assert _tar(tmp_path / "one") == _tar(tmp_path / "two")
    assert _tar(tmp_path / "one") != _tar(tmp_path / "one", mtime=5678)


def test_special_files_are_refused(tmp_path: Path) -> None:
    _tree(tmp_path / "root")
    os.mkfifo(tmp_path / "root/etc/fifo")
    with pytest.raises(ValueError, match="fifo"):
        _tar(tmp_path / "root")


def test_sha256_file_is_the_diff_id_form(tmp_path: Path) -> None:
    path = tmp_path / "layer.tar"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_file(path) == "sha256:" + hashlib.sha256(b"x" * 3_000_000).hexdigest()
