"""`GET /images/{name}/history`: one record per entry of the image config's `history`,
newest first, each with the size of the layer it made (0 for an empty_layer entry).

The top record carries the image's ID and tags, the ones below those of its local parents
(images built or committed here), and the rest "<missing>" with no tags, as Docker shows
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ketch.errors import KetchError
from ketch.images.image import ZERO_TIME, Image, unix_time

if TYPE_CHECKING:
    from ketch.images.store import ImageStore

MISSING = "<missing>"


def records(image: Image, layer_sizes: list[int]) -> list[dict[str, Any]]:
    """The history of `image` whose layers (lowest first) have these sizes."""
    entries = image.config.get("history") or []
    found: list[dict[str, Any]] = []
    layer = 0
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        size = 0
        if not entry.get("empty_layer"):
            if layer >= len(layer_sizes):
                raise KetchError("too many non-empty layers in History section")
            size = layer_sizes[layer]
            layer += 1
        found.append({
            "Comment": str(entry.get("comment") or ""),
            "Created": unix_time(str(entry.get("created") or ZERO_TIME)),
            "CreatedBy": str(entry.get("created_by") or ""),
            "Id": MISSING,
            "Size": size,
            "Tags": None,
        })
    found.reverse()
    if found:
        found[0]["Id"] = image.id
        found[0]["Tags"] = list(image.repo_tags) or None
    return found


def history(store: ImageStore, ref: str) -> list[dict[str, Any]]:
    image = store.get(ref)
    found = records(image, [store.layers.get(chain).size for chain in image.chain_ids])
    parent = image.parent  # records below the top get their local parents' IDs, as moby
    for record in found[1:]:
        if not parent:
            break
        try:
            ancestor = store.get(parent)
        except KetchError:
            break
        record["Id"], record["Tags"] = ancestor.id, list(ancestor.repo_tags) or None
        parent = ancestor.parent
    return found
