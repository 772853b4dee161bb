"""In-root path resolution: symlinks and `..` never leave the container root."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from ketch.runtime import paths


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc/hosts").write_text("x")
    (r / "var").mkdir()
    (r / "var/run").symlink_to("/run")  # absolute: means <root>/run
    (r / "run").mkdir()
    (r / "up").symlink_to("../../../../../")
    (r / "escape").symlink_to(str(tmp_path / "outside"))
    (r / "loop").symlink_to("loop")
    (tmp_path / "outside").mkdir()
    return r


def where(root: Path, path: str, **kwargs: object) -> str:
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = paths.resolve(root_fd, path, **kwargs)  # type: ignore[arg-type]
    finally:
        os.close(root_fd)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_plain_and_dotdot_paths(root: Path) -> None:
    assert where(root, "/etc/hosts") == str(root / "etc/hosts")
    assert where(root, "/../../etc/../etc/hosts") == str(root / "etc/hosts")
    assert where(root, "/") == str(root)


def test_symlinks_resolve_inside_the_root(root: Path, tmp_path: Path) -> None:
    assert where(root, "/var/run") == str(root / "run")
    assert where(root, "/up/etc") == str(root / "etc")
    with pytest.raises(FileNotFoundError):
        where(root, "/escape")  # names <root>/<tmp>/outside, which does not exist
    made = where(root, "/escape/new", create="dir")
    assert made.startswith(str(root) + "/") and not (tmp_path / "outside/new").exists()


def test_create_files_and_directories(root: Path) -> None:
    assert where(root, "/a/b/c", create="dir") == str(root / "a/b/c")
    assert where(root, "/a/f", create="file") == str(root / "a/f")
    assert (root / "a/f").is_file()
    with pytest.raises(NotADirectoryError):
        where(root, "/etc/hosts/x", create="dir")


def test_symlink_loops_and_last_component(root: Path) -> None:
    with pytest.raises(OSError) as e:
        where(root, "/loop")
    assert e.value.errno == errno.ELOOP


def test_last_symlink_not_followed_when_asked(root: Path) -> None:
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = paths.resolve(root_fd, "/var/run", follow_last=False)
        try:
            assert stat.S_ISLNK(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)
