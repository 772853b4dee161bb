"""`GET /system/df`: disk usage by images, containers, volumes and the build cache.

Images are the image list's summaries with the two fields only df fills in: Containers
(how many containers use each) and SharedSize. Containers are `ps -a -s`'s summaries.
Volumes with their UsageData (size, how many containers use each). ketch has no build
cache yet: null, as an engine without one answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ketch.errors import InvalidParameter
from ketch.images.usage import layer_sizes, layers_size, shared_sizes

if TYPE_CHECKING:
    from ketch.engine.engine import Engine

TYPES = ("container", "image", "volume", "build-cache")


def disk_usage(engine: Engine, types: list[str] | None = None) -> dict[str, Any]:
    """Docker's DiskUsage; `types` (API 1.42+) limits what is computed, None means all."""
    for kind in types or []:
        if kind not in TYPES:
            raise InvalidParameter(f"unknown object type: {kind}")
    wanted = set(types) if types else set(TYPES)
    usage: dict[str, Any] = {"LayersSize": 0, "Images": None, "Containers": None,
                             "Volumes": None, "BuildCache": None}
    if "image" in wanted:
        images = engine.images.list()
        sizes = layer_sizes(engine.images, images)
        shared = shared_sizes(images, sizes)
        users: dict[str, int] = {}
        for c in engine.containers.all():
            users[c.record["Image"]] = users.get(c.record["Image"], 0) + 1
        summaries = []
        for image in images:
            summary = image.summary()
            summary["Containers"] = users.get(image.id, 0)
            summary["SharedSize"] = shared[image.id]
            summaries.append(summary)
        usage["LayersSize"] = layers_size(sizes)
        usage["Images"] = summaries
    if "container" in wanted:
        usage["Containers"] = engine.list(all_=True, limit=-1, filters={}, size=True)
    if "volume" in wanted:
        usage["Volumes"] = [
            {**volume.inspect(), "UsageData": {"Size": engine.volumes.size(volume.name),
                                               "RefCount": len(engine.volume_users(volume.name))}}
            for volume in engine.volumes.list()]
    return usage
