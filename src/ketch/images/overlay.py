"""The overlay2 snapshot driver: the image layers, shared and read-only, under one writable
overlayfs upper directory per container.

    overlay/<key>/upper    the container's changes (overlayfs upperdir)
                 /work     overlayfs workdir
                 /merged   the mounted root filesystem the runtime uses
                 /lower    the image layers (chainIDs, top first) this snapshot stands on
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ketch.errors import HostError, NotFound
from ketch.images import lowerview, treediff
from ketch.images.image import Image
from ketch.images.mount import is_mountpoint, mount_overlay, unmount
from ketch.images.snapshotbase import DIR_FLAGS, SnapshotDriver
from ketch.images.treediff import INIT_PARENTS, INIT_PATHS, Change
from ketch.util.fswalk import remove_tree, sorted_names, tree_size
from ketch.util.tarball.write import TarWriter


class OverlayDriver(SnapshotDriver):
    name = "overlay2"
    directory = "overlay"

    def path(self, key: str) -> str:
        """Where the snapshot is (or will be) mounted: overlay/<key>/merged."""
        return os.path.join(self._dir(key), "merged")

    def upper(self, key: str) -> str:
        return os.path.join(self._dir(key), "upper")

    def prepare(self, key: str, image: Image) -> str:
        """Make the writable layer for a new container and mount it; returns the mountpoint."""
        directory = self._new(key, image)
        try:
            top = os.stat(image.layers[-1])
            upper = os.path.join(directory, "upper")
            os.mkdir(upper, 0o755)
            os.chown(upper, top.st_uid, top.st_gid)
            os.chmod(upper, top.st_mode & 0o7777)
            os.mkdir(os.path.join(directory, "work"), 0o700)
            os.mkdir(os.path.join(directory, "merged"), 0o755)
            return self.mount(key, image)
        except BaseException:
            self.remove(key)
            raise

    def mounted(self, key: str) -> bool:
        return is_mountpoint(self.path(key))

    def mount(self, key: str, image: Image | None = None) -> str:
        """Mount an existing snapshot (again, e.g. after a reboot); returns the mountpoint.

        The layers come from the snapshot's own record, so this works even after its image
        was removed with force.
        """
        directory = self._dir(key)
        merged = os.path.join(directory, "merged")
        if not os.path.isdir(merged):
            raise NotFound(f"no such snapshot: {key}")
        lowers = self.layer_dirs(key, image)
        if self.mounted(key):
            return merged
        try:
            mount_overlay(merged, lowers, os.path.join(directory, "upper"),
                          os.path.join(directory, "work"))
        except OSError as e:
            raise HostError(f"cannot mount the container's root filesystem: {e.strerror}") from e
        return merged

    def unmount(self, key: str) -> None:
        merged = self.path(key)
        for _ in range(8):  # stacked mounts, if something mounted twice
            if not self.mounted(key):
                return
            try:
                unmount(merged)
            except OSError as e:
                raise HostError(f"cannot unmount {merged}: {e.strerror}") from e
        raise HostError(f"cannot unmount {merged}")

    def remove(self, key: str) -> None:
        """Unmount and delete the snapshot (its upper layer is gone for good)."""
        directory = self._dir(key)
        if not os.path.isdir(directory):
            return
        self.unmount(key)
        remove_tree(directory)

    def diff_size(self, key: str) -> int:
        """Bytes the container wrote (its upper layer; hard links counted once), as
        Docker's overlay2 counts them: the sizes of everything but directories. Walked from
        open directory fds (a DirPath), never by path: a running container can swap a
        directory for a symlink meanwhile. Deeper than MAX_DEPTH levels nothing is counted: a
        size is not worth failing a container listing over."""
        try:
            fd = self._open_upper(key)
        except NotFound:
            return 0
        try:
            return tree_size(fd)
        finally:
            os.close(fd)

    def _open_upper(self, key: str) -> int:
        try:
            return os.open(self.upper(key), DIR_FLAGS)
        except FileNotFoundError:
            raise NotFound(f"no such snapshot: {key}") from None

    def changes(self, key: str) -> list[Change]:
        """From the upper directory against the layers: what Docker reports."""
        layers = self.layer_dirs(key)
        fd = self._open_upper(key)
        try:
            return treediff.upper_changes(fd, layers)[0]
        finally:
            os.close(fd)

    def diff_tar(self, key: str, sink: Callable[[bytes], object],
                 mtime_clamp: int | None = None) -> None:
        """The upper directory as a layer tar (overlay whiteouts and opaque directories
        become `.wh.` entries), without the runtime's mount targets (see treediff)."""
        layers = self.layer_dirs(key)
        fd = self._open_upper(key)
        try:
            writer = TarWriter(sink, whiteouts=True, mtime_clamp=mtime_clamp)
            _archive(writer, fd, "", lowerview.root_dirs(layers))
            writer.close()
        finally:
            os.close(fd)

    def graph_driver(self, key: str, image: Image) -> dict[str, Any]:
        directory = self._dir(key)
        return {"Name": self.name, "Data": {
            "LowerDir": ":".join(reversed(image.layers)),
            "MergedDir": os.path.join(directory, "merged"),
            "UpperDir": os.path.join(directory, "upper"),
            "WorkDir": os.path.join(directory, "work")}}


def _archive(writer: TarWriter, fd: int, rel: str, dirs: lowerview.LayerDirs) -> None:
    """Everything in the upper directory fd but the init paths. It recurses only into the
    parents of init paths (a level or two, see INIT_PARENTS); TarWriter walks the rest."""
    for name in sorted_names(fd):
        path = f"{rel}/{name}" if rel else name
        if path in INIT_PATHS:
            continue
        child = treediff.open_dir(fd, name) if path in INIT_PARENTS else None
        if child is None:
            writer.add(fd, name, path)
            continue
        try:
            if _worth_archiving(fd, name, path, child, dirs):
                writer.add(fd, name, path, recursive=False)
                _archive(writer, child, path, lowerview.descend(dirs, name))
        finally:
            os.close(child)


def _worth_archiving(parent_fd: int, name: str, path: str, fd: int,
                     dirs: lowerview.LayerDirs) -> bool:
    """A directory holding init paths may be in the upper layer only because of them; it
    belongs in the layer if it holds more, or if the container changed it."""
    with os.scandir(fd) as it:
        if any(f"{path}/{entry.name}" not in INIT_PATHS for entry in it):
            return True
    if lowerview.is_opaque(fd):
        return True
    old = lowerview.lookup(dirs, name)
    if old is None:
        return False  # made for the mount targets: Docker's init layer has it
    return treediff.different(old[0], old[1], os.fstat(fd), f"/proc/self/fd/{parent_fd}/{name}")
