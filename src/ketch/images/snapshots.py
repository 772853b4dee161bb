"""Container snapshots: a writable root filesystem for each container, on its image's layers.

Two storage drivers behind one interface (snapshotbase.SnapshotDriver):
    overlay2   overlayfs: the layers shared read-only, one upper directory per container
    vfs        a full copy of the layers per container, for hosts without overlayfs

The daemon configuration picks one ("storage-driver" in daemon.json); unset, a driver that
already has snapshots is kept (so containers survive a restart), else overlay2 if an
overlayfs test mount works on the data root's filesystem, else vfs.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

from ketch.errors import HostError, InvalidParameter
from ketch.images.image import Image
from ketch.images.mount import mount_overlay, unmount
from ketch.images.overlay import OverlayDriver
from ketch.images.snapshotbase import SnapshotDriver, recorded_layers
from ketch.images.treediff import Change
from ketch.images.vfs import VfsDriver
from ketch.util.fswalk import remove_tree

DRIVERS: dict[str, type[SnapshotDriver]] = {"overlay2": OverlayDriver, "vfs": VfsDriver}
log = logging.getLogger("ketchd")


def snapshot_layers(data_root: str) -> set[str]:
    """Every layer chainID some snapshot under data_root (of any driver) stands on."""
    used: set[str] = set()
    for driver in DRIVERS.values():
        root = os.path.join(data_root, driver.directory)
        try:
            keys = os.listdir(root)
        except FileNotFoundError:
            continue
        for key in keys:
            used.update(recorded_layers(os.path.join(root, key)))
    return used


def overlay_problem(data_root: str) -> str | None:
    """Why overlayfs cannot hold snapshots under data_root (a test mount), or None."""
    os.makedirs(data_root, mode=0o711, exist_ok=True)
    probe = tempfile.mkdtemp(prefix=".overlay-probe-", dir=data_root)
    try:
        parts = [os.path.join(probe, name) for name in ("lower", "upper", "work", "merged")]
        for part in parts:
            os.mkdir(part, 0o700)
        try:
            mount_overlay(parts[3], [parts[0]], parts[1], parts[2])
        except OSError as e:
            return str(e)
        unmount(parts[3])
        return None
    finally:
        remove_tree(probe)


def _has_snapshots(data_root: str, name: str) -> bool:
    try:
        return bool(os.listdir(os.path.join(data_root, DRIVERS[name].directory)))
    except FileNotFoundError:
        return False


def choose_driver(data_root: str, configured: str | None = None) -> str:
    """The storage driver to use: the configured one (it must work), else see above."""
    if configured:
        if configured not in DRIVERS:
            raise InvalidParameter(f"error initializing graphdriver: driver not supported: "
                                   f"{configured} (ketch has {', '.join(DRIVERS)})")
        if configured == "overlay2":
            problem = overlay_problem(data_root)
            if problem is not None:
                raise HostError(f"error initializing graphdriver: overlay2 is not supported "
                                f"on this host: {problem}")
        return configured
    prior = [name for name in DRIVERS if _has_snapshots(data_root, name)]
    if prior == ["vfs"]:
        return "vfs"
    problem = overlay_problem(data_root)
    if problem is None:
        return "overlay2"
    log.warning("overlayfs does not work on %s (%s): using the vfs storage driver, which "
                "copies each container's layers", data_root, problem)
    return "vfs"


class Snapshotter:
    """The engine's snapshots, through the chosen driver (see choose_driver)."""

    def __init__(self, root: str, driver: str | None = None) -> None:
        self.driver = choose_driver(root, driver)
        self._impl = DRIVERS[self.driver](root)
        self.root = self._impl.root

    def path(self, key: str) -> str:
        return self._impl.path(key)

    def upper(self, key: str) -> str:
        return self._impl.upper(key)

    def exists(self, key: str) -> bool:
        return self._impl.exists(key)

    def prepare(self, key: str, image: Image) -> str:
        return self._impl.prepare(key, image)

    def mounted(self, key: str) -> bool:
        return self._impl.mounted(key)

    def mount(self, key: str, image: Image | None = None) -> str:
        return self._impl.mount(key, image)

    def unmount(self, key: str) -> None:
        self._impl.unmount(key)

    def remove(self, key: str) -> None:
        self._impl.remove(key)

    def diff_size(self, key: str) -> int:
        return self._impl.diff_size(key)

    def changes(self, key: str) -> list[Change]:
        return self._impl.changes(key)

    def diff_tar(self, key: str, sink: Callable[[bytes], object],
                 mtime_clamp: int | None = None) -> None:
        self._impl.diff_tar(key, sink, mtime_clamp)

    def graph_driver(self, key: str, image: Image) -> dict[str, Any]:
        return self._impl.graph_driver(key, image)
