"""What the images' layers cost on disk, as `docker system df` and `images?shared-size=1`
count it: each layer once (LayersSize), and per image the part of its size that lies in
layers other images use too (SharedSize)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ketch.errors import NotFound
from ketch.images.image import Image

if TYPE_CHECKING:
    from ketch.images.store import ImageStore


def layer_sizes(store: ImageStore, images: list[Image]) -> dict[str, int]:
    """The size of each layer (by chainID) that these images use."""
    sizes: dict[str, int] = {}
    for image in images:
        for chain in image.chain_ids:
            if chain not in sizes:
                try:
                    sizes[chain] = store.layers.get(chain).size
                except NotFound:
                    sizes[chain] = 0  # deleted meanwhile
    return sizes


def layers_size(sizes: dict[str, int]) -> int:
    """LayersSize: every layer an image uses, counted once."""
    return sum(sizes.values())


def shared_sizes(images: list[Image], sizes: dict[str, int]) -> dict[str, int]:
    """Image ID -> the bytes of its layers that more than one of these images use."""
    uses: dict[str, int] = {}
    for image in images:
        for chain in set(image.chain_ids):
            uses[chain] = uses.get(chain, 0) + 1
    return {image.id: sum(sizes.get(c, 0) for c in image.chain_ids if uses[c] > 1)
            for image in images}
