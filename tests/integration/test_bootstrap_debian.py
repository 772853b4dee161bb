"""Integration test for debian:bookworm-slim made by mmdebstrap.

Building takes a while and downloads packages, so the test builds (into a temporary
directory) only when KETCH_TEST_DEBIAN=1; otherwise it checks the tarball already in the
default output directory (or $KETCH_BASE_IMAGES, as install.sh), and is skipped when
there is none.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.bootstrap import DEFAULT_OUT, build, read_metadata
from ketch.bootstrap.debian import TARBALL, installed_versions
from ketch.bootstrap.metadata import BaseImage

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
INSTALLED = Path(os.environ.get("KETCH_BASE_IMAGES", DEFAULT_OUT))


@pytest.fixture(scope="module")
def debian(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, BaseImage]]:
    if os.environ.get("KETCH_TEST_DEBIAN") == "1":
        if os.geteuid() != 0:
            pytest.skip("mmdebstrap's root mode needs root")
        out = tmp_path_factory.mktemp("base")
        result = build("debian:bookworm-slim", out)
        assert result.built
        print(f"debian:bookworm-slim built in {result.seconds:.1f}s")
    elif (INSTALLED / TARBALL).exists():
        out = INSTALLED
    else:
        pytest.skip(f"set KETCH_TEST_DEBIAN=1 or build {INSTALLED / TARBALL} first")
    image = read_metadata(out / "debian-bookworm-slim.json")
    assert image is not None
    yield out / TARBALL, image
    if out != INSTALLED:
        shutil.rmtree(out)  # 80 MB: not left for pytest's rotation


@pytest.fixture(scope="module")
def members(debian: tuple[Path, BaseImage]) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(debian[0]) as tar:
        return {m.name: m for m in tar.getmembers()}


def _read(tar_path: Path, name: str) -> str:
    with tarfile.open(tar_path) as tar:
        data = tar.extractfile(name)
        assert data is not None
        return data.read().decode()


def test_metadata_matches_the_tarball(debian: tuple[Path, BaseImage]) -> None:
    tar_path, image = debian
    digest = hashlib.sha256(tar_path.read_bytes()).hexdigest()
    assert image.diff_id == f"sha256:{digest}" and image.size == tar_path.stat().st_size
    assert (image.reference, image.os, image.package) == (
        "debian:bookworm-slim",
        "linux",
        "base-files",
    )
    assert image.cmd == ("bash",)
    versions = installed_versions(_read(tar_path, "var/lib/dpkg/status"))
    assert image.version == versions["base-files"]
    assert "usrmerge" not in versions and "perl" not in versions  # merged /usr by the hook


def test_is_a_bookworm_rootfs_with_bash(
    debian: tuple[Path, BaseImage], members: dict[str, tarfile.TarInfo]
) -> None:
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert members["usr/bin/bash"].isreg() and members["usr/bin/bash"].mode & 0o111
    assert _read(debian[0], "etc/debian_version").startswith("12.")


def test_is_slim(members: dict[str, tarfile.TarInfo], debian: tuple[Path, BaseImage]) -> None:
    docs = [n for n in members if n.startswith("usr/share/doc/") and not members[n].isdir()]
    assert docs and all(n.endswith("/copyright") for n in docs), docs[:5]
    assert not any(n.startswith("usr/share/man/") and not members[n].isdir() for n in members)
    assert "usr/share/doc/bash/copyright" in members
    dpkg_filters = _read(debian[0], "etc/dpkg/dpkg.cfg.d/docker")
    assert "path-exclude=/usr/share/doc/*" in dpkg_filters
    assert "path-include=/usr/share/doc/*/copyright" in dpkg_filters
    assert "usr/sbin/policy-rc.d" in members
    assert "etc/apt/apt.conf.d/docker-clean" in members
    assert not [n for n in members if n.startswith(("var/lib/apt/lists/", "var/cache/apt/"))]
    assert debian[1].size < 120_000_000


def test_has_no_devices_or_host_leftovers(members: dict[str, tarfile.TarInfo]) -> None:
    assert not [n for n, m in members.items() if m.isdev()]
    assert members["dev"].isdir() and not [n for n in members if n.startswith("dev/")]
    for leftover in ("etc/resolv.conf", "etc/hostname", "var/log/dpkg.log"):
        assert leftover not in members
    assert not [n for n in members if n.startswith(("/", "./")) or ".." in n.split("/")]
    assert {(m.uname, m.gname) for m in members.values()} == {("", "")}  # numeric owners
