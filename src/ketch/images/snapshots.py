"""Container snapshots: a writable overlayfs layer on top of an image's read-only layers.

    overlay/<key>/upper    the container's changes (overlayfs upperdir)
                 /work     overlayfs workdir
                 /merged   the mounted root filesystem the runtime uses
                 /lower    the image layers (chainIDs, top first) this snapshot stands on

The `lower` record lets a snapshot be remounted after a reboot and keeps its layers from
being deleted while the snapshot exists, even if its image is removed with force.
"""

from __future__ import annotations

import os
import re

from ketch.errors import Conflict, HostError, InvalidParameter, NotFound
from ketch.images.fsutil import atomic_write, hex_of, remove_tree
from ketch.images.image import Image
from ketch.images.mount import is_mountpoint, mount_overlay, unmount

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", re.ASCII)


def snapshot_layers(data_root: str) -> set[str]:
    """Every layer chainID some snapshot under data_root stands on."""
    root = os.path.join(data_root, "overlay")
    used: set[str] = set()
    try:
        keys = os.listdir(root)
    except FileNotFoundError:
        return used
    for key in keys:
        try:
            with open(os.path.join(root, key, "lower")) as f:
                used.update(line.strip() for line in f if line.strip())
        except (FileNotFoundError, NotADirectoryError):
            continue
    return used


class Snapshotter:
    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "overlay")
        self._layers = os.path.join(root, "image", "layers")  # where LayerStore keeps them
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    def _dir(self, key: str) -> str:
        if not _KEY.fullmatch(key):
            raise InvalidParameter(f"invalid snapshot key: {key!r}")
        return os.path.join(self.root, key)

    def path(self, key: str) -> str:
        """Where the snapshot is (or will be) mounted: overlay/<key>/merged."""
        return os.path.join(self._dir(key), "merged")

    def upper(self, key: str) -> str:
        return os.path.join(self._dir(key), "upper")

    def exists(self, key: str) -> bool:
        return os.path.isdir(self._dir(key))

    def prepare(self, key: str, image: Image) -> str:
        """Make the writable layer for a new container and mount it; returns the mountpoint."""
        directory = self._dir(key)
        if not image.layers:
            raise InvalidParameter(f"image {image.short_id} has no layers")
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise Conflict(f"snapshot {key} already exists") from None
        try:
            top = os.stat(image.layers[-1])
            upper = os.path.join(directory, "upper")
            os.mkdir(upper, 0o755)
            os.chown(upper, top.st_uid, top.st_gid)
            os.chmod(upper, top.st_mode & 0o7777)
            os.mkdir(os.path.join(directory, "work"), 0o700)
            os.mkdir(os.path.join(directory, "merged"), 0o755)
            atomic_write(os.path.join(directory, "lower"),
                         "".join(f"{c}\n" for c in reversed(image.chain_ids)).encode())
            return self.mount(key, image)
        except BaseException:
            self.remove(key)
            raise

    def mounted(self, key: str) -> bool:
        return is_mountpoint(self.path(key))

    def mount(self, key: str, image: Image | None = None) -> str:
        """Mount an existing snapshot (again, e.g. after a reboot); returns the mountpoint.

        The layers come from the snapshot's own record, so this works even after its image
        was removed with force; given an image, it must be the one the snapshot stands on.
        """
        directory = self._dir(key)
        merged = os.path.join(directory, "merged")
        if not os.path.isdir(merged):
            raise NotFound(f"no such snapshot: {key}")
        if self.mounted(key):
            return merged
        try:
            with open(os.path.join(directory, "lower")) as f:
                recorded = [line.strip() for line in f if line.strip()]  # top first
        except FileNotFoundError:
            recorded = []
        if image is not None and recorded != list(reversed(image.chain_ids)):
            raise Conflict(f"snapshot {key} does not stand on image {image.short_id}")
        if not recorded:
            raise NotFound(f"snapshot {key} has no layers recorded")
        lowers = [os.path.join(self._layers, hex_of(chain), "diff") for chain in recorded]
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
        """Bytes the container wrote (its upper layer; hard links counted once)."""
        seen: set[int] = set()
        total = 0
        for top, dirs, files in os.walk(self.upper(key)):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
                try:
                    st = os.lstat(os.path.join(top, name))
                except FileNotFoundError:
                    continue
                if st.st_nlink > 1:
                    if st.st_ino in seen:
                        continue
                    seen.add(st.st_ino)
                total += st.st_size
        return total
