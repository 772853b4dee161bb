"""Integration tests for a host where overlayfs cannot hold snapshots: the data root is
itself on an overlayfs mount, which the kernel refuses as an upper directory. Without a
configured driver ketch falls back to copying (vfs) and says so; asked for overlay2 it
refuses, as Docker does."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.errors import HostError
from ketch.images import ImageStore, Snapshotter
from ketch.images.snapshots import overlay_problem
from ketch.images.treediff import ADDED, MODIFIED
from support.daemon import docker, running_ketchd

pytestmark = pytest.mark.integration

BUSYBOX_TAR = Path("/var/cache/ketch/base/busybox.tar")


@pytest.fixture
def no_overlay_root(tmp_path: Path) -> Iterator[Path]:
    """A directory on an overlayfs mount: no overlay snapshots can be made in it."""
    for name in ("lower", "upper", "work", "fs"):
        (tmp_path / name).mkdir()
    fs = tmp_path / "fs"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={tmp_path}/lower,upperdir={tmp_path}/upper,"
                    f"workdir={tmp_path}/work", str(fs)], check=True)
    try:
        yield fs
    finally:
        subprocess.run(["umount", "-l", str(fs)], check=False, capture_output=True)


def test_the_snapshotter_falls_back_to_copies(no_overlay_root: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    data_root = str(no_overlay_root / "data")
    assert overlay_problem(data_root) is not None
    with pytest.raises(HostError, match="overlay2 is not supported on this host"):
        Snapshotter(data_root, "overlay2")
    with caplog.at_level(logging.WARNING, logger="ketchd"):
        snapshots = Snapshotter(data_root)
    assert snapshots.driver == "vfs"
    assert "using the vfs storage driver" in caplog.text
    store = ImageStore(data_root)
    with open(BUSYBOX_TAR, "rb") as f:
        image = store.import_tar(f, reference="busybox")
    root = Path(snapshots.prepare("c1", image))
    try:
        (root / "etc/motd").write_text("hello\n")
        assert snapshots.changes("c1") == [("/etc", MODIFIED), ("/etc/motd", ADDED)]
        out = io.BytesIO()
        snapshots.diff_tar("c1", out.write)
        assert b"etc/motd" in out.getvalue()
    finally:
        snapshots.remove("c1")
    assert os.listdir(snapshots.root) == []


def test_ketchd_runs_containers_on_copies_there(no_overlay_root: Path) -> None:
    with running_ketchd(no_overlay_root) as kd:
        assert "using the vfs storage driver" in kd.log.read_text()
        assert docker(kd, "info", "--format", "{{.Driver}}").stdout.strip() == "vfs"
        run = docker(kd, "run", "--name", "c1", "busybox", "sh", "-c",
                     "echo hi > /greeting; cat /greeting")
        assert (run.returncode, run.stdout) == (0, "hi\n"), run.stderr
        assert docker(kd, "diff", "c1").stdout == "A /greeting\n"
        graph = json.loads(docker(kd, "inspect", "--format", "{{json .GraphDriver}}",
                                  "c1").stdout)
        assert graph == {"Data": None, "Name": "vfs"}
        assert docker(kd, "rm", "c1").returncode == 0
        deadline = time.monotonic() + 20  # the files go after the answer
        while os.listdir(kd.data_root / "vfs") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.listdir(kd.data_root / "vfs") == []
