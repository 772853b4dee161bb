"""The vfs snapshot driver, for hosts without overlayfs: each container gets its own full
copy of its image's layers, as Docker's vfs driver does. Slower to create and heavier on
disk, but it needs nothing from the kernel beyond a plain filesystem.

    vfs/<key>/rootfs   the container's root filesystem (its writes land here too)
             /lower    the image layers (chainIDs, top first) it was copied from

The layers stay the reference: changes and commits compare the copy with them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ketch.errors import NotFound
from ketch.images import treediff
from ketch.images.dircopy import copy_layer
from ketch.images.image import Image
from ketch.images.snapshotbase import DIR_FLAGS, SnapshotDriver
from ketch.images.treediff import DELETED, Change
from ketch.util.fswalk import DirPath, remove_tree
from ketch.util.tarball.write import TarWriter


class VfsDriver(SnapshotDriver):
    name = "vfs"
    directory = "vfs"

    def path(self, key: str) -> str:
        return os.path.join(self._dir(key), "rootfs")

    def upper(self, key: str) -> str:
        """The container writes into its own copy: the root filesystem itself."""
        return self.path(key)

    def prepare(self, key: str, image: Image) -> str:
        """Copy the image's layers, lowest first, into the container's own directory."""
        directory = self._new(key, image)
        try:
            rootfs = os.path.join(directory, "rootfs")
            os.mkdir(rootfs, 0o755)
            for layer in image.layers:
                copy_layer(layer, rootfs)
            return rootfs
        except BaseException:
            self.remove(key)
            raise

    def mounted(self, key: str) -> bool:
        return os.path.isdir(self.path(key))  # nothing to mount: ready once copied

    def mount(self, key: str, image: Image | None = None) -> str:
        self.layer_dirs(key, image)  # it must stand on that image
        rootfs = self.path(key)
        if not os.path.isdir(rootfs):
            raise NotFound(f"no such snapshot: {key}")
        return rootfs

    def unmount(self, key: str) -> None:
        self._dir(key)

    def remove(self, key: str) -> None:
        remove_tree(self._dir(key))

    def _open_rootfs(self, key: str) -> int:
        try:
            return os.open(self.path(key), DIR_FLAGS)
        except FileNotFoundError:
            raise NotFound(f"no such snapshot: {key}") from None

    def _diff(self, key: str) -> tuple[list[Change], int]:
        layers = self.layer_dirs(key)
        fd = self._open_rootfs(key)
        try:
            return treediff.tree_changes(fd, layers)
        finally:
            os.close(fd)

    def changes(self, key: str) -> list[Change]:
        """The copy against the layers it came from (Docker's naive diff)."""
        return self._diff(key)[0]

    def diff_size(self, key: str) -> int:
        """Sizes of what was added or changed (hard links once), as Docker's vfs counts."""
        return self._diff(key)[1]

    def diff_tar(self, key: str, sink: Callable[[bytes], object],
                 mtime_clamp: int | None = None) -> None:
        """Each change by path, as Docker's ExportChanges writes them: an added or changed
        entry itself (an added directory's contents are changes of their own), a deleted
        one as a whiteout."""
        changes = sorted(self.changes(key), key=lambda c: os.fsencode(c[0]))
        root = self._open_rootfs(key)
        parents = _Parents(root)
        try:
            writer = TarWriter(sink, mtime_clamp=mtime_clamp)
            for path, kind in changes:
                name = path.lstrip("/")
                if kind == DELETED:
                    writer.add_whiteout(name)
                    continue
                parent, _, base = name.rpartition("/")
                fd = parents.open(parent)
                if fd is not None:
                    writer.add(fd, base, name, recursive=False)
            writer.close()
        finally:
            parents.close()
            os.close(root)

    def graph_driver(self, key: str, image: Image) -> dict[str, Any]:
        return {"Name": self.name, "Data": None}  # as Docker's vfs: nothing to show


class _Parents:
    """The directory of the last entry archived, kept open: entries come by directory, in
    path order, so going from one to the next is mostly a step down or up (a DirPath)."""

    def __init__(self, root: int) -> None:
        self._path = DirPath(root)
        self._parts: list[str] = []  # the names down to the DirPath's current directory

    def open(self, path: str) -> int | None:
        """The directory at path (relative to the root), None if it is gone or is no
        longer a directory: its entries are skipped."""
        parts = path.split("/") if path else []
        common = 0
        for have, want in zip(self._parts, parts, strict=False):
            if have != want:
                break
            common += 1
        while len(self._parts) > common:
            self._path.leave()
            self._parts.pop()
        for part in parts[common:]:
            if self._path.enter(part) is None:
                return None
            self._parts.append(part)
        return self._path.fd()

    def close(self) -> None:
        self._path.close()
        self._parts.clear()
