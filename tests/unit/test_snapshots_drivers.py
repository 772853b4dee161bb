"""Unit tests for choosing a storage driver, the layer records every driver keeps, and the
`ketch diff` lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ketch.cli.commands.diff import format_changes
from ketch.errors import InvalidParameter
from ketch.images.snapshots import choose_driver, overlay_problem, snapshot_layers

ROOT = os.geteuid() == 0
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def test_an_unknown_storage_driver_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="driver not supported: aufs"):
        choose_driver(str(tmp_path), "aufs")


def test_vfs_when_configured_or_when_it_holds_the_snapshots(tmp_path: Path) -> None:
    assert choose_driver(str(tmp_path), "vfs") == "vfs"
    (tmp_path / "vfs" / "c1").mkdir(parents=True)  # containers made before a restart
    assert choose_driver(str(tmp_path)) == "vfs"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".overlay-probe")]


@pytest.mark.skipif(not ROOT, reason="the overlayfs test mount needs root")
def test_overlay2_where_a_test_mount_works(tmp_path: Path) -> None:
    assert overlay_problem(str(tmp_path)) is None
    assert choose_driver(str(tmp_path)) == "overlay2"
    assert choose_driver(str(tmp_path), "overlay2") == "overlay2"
    assert os.listdir(tmp_path) == []  # the probe leaves nothing behind


def test_snapshot_layers_come_from_every_driver(tmp_path: Path) -> None:
    for driver, key, chains in (("overlay", "c1", [A]), ("vfs", "c2", [B, A])):
        directory = tmp_path / driver / key
        directory.mkdir(parents=True)
        (directory / "lower").write_text("".join(f"{c}\n" for c in chains))
    (tmp_path / "vfs" / "half-made").mkdir()  # no record yet: stands on nothing
    assert snapshot_layers(str(tmp_path)) == {A, B}
    assert snapshot_layers(str(tmp_path / "nothing")) == set()


def test_diff_lines_as_docker_prints_them() -> None:
    changes = [{"Path": "/etc", "Kind": 0}, {"Path": "/etc/passwd", "Kind": 2},
               {"Path": "/x", "Kind": 1}]
    assert format_changes(changes) == "C /etc\nD /etc/passwd\nA /x\n"
    assert format_changes([]) == ""
