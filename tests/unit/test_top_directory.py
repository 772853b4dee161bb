"""The stores' directories carry ext4's top-directory flag (chattr +T), so that each new
layer, snapshot or volume is placed in a block group of its own."""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

import pytest

from ketch.images.layers import LayerStore
from ketch.images.vfs import VfsDriver
from ketch.util.files import mark_top_directory
from ketch.volumes.store import VolumeStore

_GETFLAGS, _TOPDIR_FL = 0x80086601, 0x00020000


def flags(path: Path) -> int | None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, _GETFLAGS, b"\0" * 4))[0])
    except OSError:
        return None  # a filesystem without inode flags (tmpfs)
    finally:
        os.close(fd)


def test_mark_top_directory_sets_only_the_flag(tmp_path: Path) -> None:
    before = flags(tmp_path)
    if before is None:
        pytest.skip("the temporary directory's filesystem has no inode flags")
    mark_top_directory(str(tmp_path))
    after = flags(tmp_path)
    assert after == before | _TOPDIR_FL
    mark_top_directory(str(tmp_path))  # again: unchanged
    assert flags(tmp_path) == after


def test_the_stores_mark_their_directories(tmp_path: Path) -> None:
    if flags(tmp_path) is None:
        pytest.skip("the temporary directory's filesystem has no inode flags")
    LayerStore(str(tmp_path / "image" / "layers"))
    VfsDriver(str(tmp_path))
    VolumeStore(str(tmp_path))
    for path in (tmp_path / "image" / "layers", tmp_path / VfsDriver.directory,
                 tmp_path / "volumes"):
        assert (flags(path) or 0) & _TOPDIR_FL, path


def test_a_missing_or_flagless_directory_is_no_error(tmp_path: Path) -> None:
    mark_top_directory(str(tmp_path / "missing"))
    mark_top_directory("/proc")
