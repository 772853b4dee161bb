"""What both snapshot drivers share: one directory per snapshot under <data root>/<driver>,
named by its key, with a `lower` record of the image layers (chainIDs, top first) it
stands on. The record lets a snapshot come back after a reboot and keeps its layers from
being deleted while it exists, even if its image is removed with force.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ketch.errors import Conflict, InvalidParameter, NotFound
from ketch.images.fsutil import atomic_write, hex_of
from ketch.images.image import Image
from ketch.images.treediff import Change
from ketch.util.files import mark_top_directory

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", re.ASCII)
LOWER = "lower"
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def recorded_layers(directory: str) -> list[str]:
    """The chainIDs a snapshot directory records, top first ([] if none)."""
    try:
        with open(os.path.join(directory, LOWER)) as f:
            return [line.strip() for line in f if line.strip()]
    except (FileNotFoundError, NotADirectoryError):
        return []


class SnapshotDriver(ABC):
    """The interface the engine uses; overlay.py and vfs.py fill it in."""

    name = ""  # Docker's storage driver name: "overlay2", "vfs"
    directory = ""  # under the data root

    def __init__(self, data_root: str) -> None:
        self.root = os.path.join(data_root, self.directory)
        self._layers = os.path.join(data_root, "image", "layers")  # where LayerStore keeps them
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        mark_top_directory(self.root)

    def _dir(self, key: str) -> str:
        if not _KEY.fullmatch(key):
            raise InvalidParameter(f"invalid snapshot key: {key!r}")
        return os.path.join(self.root, key)

    def exists(self, key: str) -> bool:
        return os.path.isdir(self._dir(key))

    def _new(self, key: str, image: Image) -> str:
        """The snapshot's directory, made with its `lower` record."""
        directory = self._dir(key)
        if not image.layers:
            raise InvalidParameter(f"image {image.short_id} has no layers")
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise Conflict(f"snapshot {key} already exists") from None
        atomic_write(os.path.join(directory, LOWER),
                     "".join(f"{c}\n" for c in reversed(image.chain_ids)).encode())
        return directory

    def layer_dirs(self, key: str, image: Image | None = None) -> list[str]:
        """The diff directories of the layers the snapshot stands on, top first. Given an
        image, it must be the one the snapshot was made from."""
        directory = self._dir(key)
        if not os.path.isdir(directory):
            raise NotFound(f"no such snapshot: {key}")
        recorded = recorded_layers(directory)
        if image is not None and recorded != list(reversed(image.chain_ids)):
            raise Conflict(f"snapshot {key} does not stand on image {image.short_id}")
        if not recorded:
            raise NotFound(f"snapshot {key} has no layers recorded")
        return [os.path.join(self._layers, hex_of(chain), "diff") for chain in recorded]

    # -- each driver's own -------------------------------------------------------------------

    @abstractmethod
    def path(self, key: str) -> str:
        """The container's root filesystem (where it is, or will be, mounted)."""

    @abstractmethod
    def upper(self, key: str) -> str:
        """The directory the container's writes land in."""

    @abstractmethod
    def prepare(self, key: str, image: Image) -> str:
        """A new writable snapshot of image, ready to use; returns its root filesystem."""

    @abstractmethod
    def mounted(self, key: str) -> bool:
        """Is the root filesystem ready to run in (mounted, for a driver that mounts)?"""

    @abstractmethod
    def mount(self, key: str, image: Image | None = None) -> str:
        """Make an existing snapshot ready again (after a reboot, say); returns its root
        filesystem. Given an image, it must be the one the snapshot stands on."""

    @abstractmethod
    def unmount(self, key: str) -> None:
        """Undo mount(); the snapshot stays."""

    @abstractmethod
    def remove(self, key: str) -> None:
        """Delete the snapshot and everything the container wrote; gone already is fine."""

    @abstractmethod
    def diff_size(self, key: str) -> int:
        """Bytes the container added or changed (hard links once): Docker's SizeRw."""

    @abstractmethod
    def changes(self, key: str) -> list[Change]:
        """The container's changes to its image, as `docker diff` lists them."""

    @abstractmethod
    def diff_tar(self, key: str, sink: Callable[[bytes], object],
                 mtime_clamp: int | None = None) -> None:
        """The container's changes as an image layer tar (what `commit` stores), written
        to sink: relative names in lexical order, deletions as `.wh.` whiteouts; no mtime
        later than mtime_clamp (SOURCE_DATE_EPOCH) if given."""

    @abstractmethod
    def graph_driver(self, key: str, image: Image) -> dict[str, Any]:
        """`GraphDriver` of the container's inspect document."""
