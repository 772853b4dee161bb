"""Integration tests for busybox:latest made from the host's busybox-static package.

They use the real /bin/busybox (apt-get install busybox-static) and check facts about the
tree and the tarball without entering them; running `rootfs/bin/sh` straight from the
host works because busybox is static and the applet links are relative.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from ketch.bootstrap import build, make_busybox_rootfs, read_metadata
from ketch.bootstrap.busybox import BINARY, PACKAGE, applet_paths
from ketch.bootstrap.dpkg import installed_package
from ketch.bootstrap.metadata import DEFAULT_PATH, oci_platform
from ketch.errors import Conflict

pytestmark = pytest.mark.integration


def test_rootfs_has_busybox_and_every_applet(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    make_busybox_rootfs(rootfs)
    busybox = rootfs / "bin/busybox"
    assert busybox.read_bytes() == BINARY.read_bytes()
    assert stat.S_IMODE(busybox.stat().st_mode) == 0o755
    assert os.readlink(rootfs / "bin/sh") == "busybox"
    assert os.readlink(rootfs / "usr/bin/env") == "../../bin/busybox"
    assert (rootfs / "bin/ls").resolve() == busybox.resolve()
    applets = applet_paths()
    assert len(applets) > 200
    for applet in applets:
        link = rootfs / applet
        assert link.is_symlink(), applet
        assert link.resolve() == busybox.resolve(), applet  # stays inside the rootfs
    assert not (rootfs / "linuxrc").exists()


def test_rootfs_has_dockers_busybox_skeleton(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    make_busybox_rootfs(rootfs)
    modes = {
        name: stat.S_IMODE((rootfs / name).stat().st_mode)
        for name in ("tmp", "root", "home", "var", "dev", "proc", "sys", "etc")
    }
    assert modes["tmp"] == 0o1777 and modes["root"] == 0o700
    assert all((rootfs / name).is_dir() for name in modes)
    assert not any((rootfs / "dev").iterdir())
    passwd = (rootfs / "etc/passwd").read_text().splitlines()
    assert "root:x:0:0:root:/root:/bin/sh" in passwd
    assert any(line.startswith("nobody:x:65534:65534:") for line in passwd)
    group = (rootfs / "etc/group").read_text().splitlines()
    assert "root:x:0:" in group and "nogroup:x:65534:" in group


def test_rootfs_shell_runs(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    make_busybox_rootfs(rootfs)
    result = subprocess.run(
        [str(rootfs / "bin/sh"), "-c", "echo hello from $0; ls --help 2>&1 | head -1"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert result.stdout.startswith("hello from ")
    assert "BusyBox" in result.stdout


def test_rootfs_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "precious").write_text("keep me")
    with pytest.raises(Conflict, match="not empty"):
        make_busybox_rootfs(tmp_path)
    assert (tmp_path / "precious").read_text() == "keep me"


def test_build_makes_a_reproducible_sorted_root_owned_tarball(tmp_path: Path) -> None:
    start = time.monotonic()
    result = build("busybox", tmp_path)
    elapsed = time.monotonic() - start
    assert result.built and elapsed < 1.0, elapsed
    tar_path = tmp_path / "busybox.tar"
    assert result.tarball == tar_path
    image = read_metadata(tmp_path / "busybox.json")
    assert image == result.image
    digest = hashlib.sha256(tar_path.read_bytes()).hexdigest()
    assert image.diff_id == f"sha256:{digest}" and image.size == tar_path.stat().st_size
    version, dpkg_arch = installed_package(PACKAGE)
    assert (image.reference, image.package, image.version) == ("busybox:latest", PACKAGE, version)
    assert (image.architecture, image.variant) == oci_platform(dpkg_arch)
    assert image.cmd == ("sh",) and image.env == (DEFAULT_PATH,)
    with tarfile.open(tar_path) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert [tuple(n.split("/")) for n in names] == sorted(tuple(n.split("/")) for n in names)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert {m.mtime for m in members} == {int(BINARY.stat().st_mtime)}
    by_name = {m.name: m for m in members}
    assert by_name["bin/sh"].issym() and by_name["bin/sh"].linkname == "busybox"
    assert by_name["bin/ls"].issym() and by_name["bin/busybox"].isreg()
    assert not any(m.isdev() for m in members)

    again = build("busybox", tmp_path, force=True)
    assert again.built and again.image.diff_id == image.diff_id  # same bytes every time


def test_build_is_idempotent_and_rebuilds_when_the_package_changes(tmp_path: Path) -> None:
    first = build("busybox:latest", tmp_path)
    tar_inode = (tmp_path / "busybox.tar").stat().st_ino
    start = time.monotonic()
    second = build("busybox", tmp_path)
    assert not second.built and time.monotonic() - start < 0.5
    assert second.image == first.image
    assert (tmp_path / "busybox.tar").stat().st_ino == tar_inode

    # metadata recording another package version: the package was upgraded since
    record = json.loads((tmp_path / "busybox.json").read_text())
    record["version"] = "0.1"
    (tmp_path / "busybox.json").write_text(json.dumps(record))
    assert build("busybox", tmp_path).built

    # a tarball without metadata (crash between the two writes) is rebuilt
    (tmp_path / "busybox.json").unlink()
    assert build("busybox", tmp_path).built
    assert read_metadata(tmp_path / "busybox.json") == first.image


def test_build_sweeps_partial_files_of_killed_builds(tmp_path: Path) -> None:
    stale = tmp_path / ".busybox.tar.abc123.partial"
    stale.write_bytes(b"half a tar")
    build("busybox", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busybox.json", "busybox.tar"]


def test_command_prints_one_line_per_image(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ketch.bootstrap", "--out", str(tmp_path), "busybox"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    image = read_metadata(tmp_path / "busybox.json")
    assert image is not None
    [line] = result.stdout.splitlines()
    assert line.startswith("busybox:latest ") and image.diff_id[:19] in line
    assert "MB" in line and "built in" in line


def test_command_failure_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ketch.bootstrap", "--out", "/proc/ketch-no-such-dir", "busybox"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("ketch: ") and result.stderr.count("\n") == 1
