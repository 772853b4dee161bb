"""`system df` rows from `GET /system/df`, computed as Docker's CLI does: one summary row per
type (TYPE TOTAL ACTIVE SIZE RECLAIMABLE), or with -v a table per type."""

from __future__ import annotations

from ketch.cli.containers_format import ContainerRow
from ketch.cli.images_format import ImageRow, is_dangling
from ketch.cli.units import human_size
from ketch.cli.volumes_format import VolumeRow

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUMMARY_FORMAT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
RAW_FORMAT = ("type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\nsize: {{.Size}}\n"
              "reclaimable: {{.Reclaimable}}\n")
SUMMARY_TITLES = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
                  "Reclaimable": "RECLAIMABLE"}
IMAGE_FORMAT = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                "\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}")
CONTAINER_FORMAT = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}"
                    "\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}")
VOLUME_FORMAT = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
BUILD_CACHE_FORMAT = ("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}"
                      "\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}")
VOLUME_TITLES = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE", "Driver": "DRIVER"}
BUILD_CACHE_TITLES = {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE",
                      "CreatedSince": "CREATED", "LastUsedSince": "LAST USED",
                      "UsageCount": "USAGE", "Shared": "SHARED"}
_ACTIVE_STATES = ("running", "paused", "restarting")


def _reclaimable(reclaimable: int, total: int) -> str:
    if total > 0:
        percent = abs(reclaimable * 100) // total * (1 if reclaimable >= 0 else -1)
        return f"{human_size(float(reclaimable), 4)} ({percent}%)"
    return human_size(float(reclaimable), 4)


class UsageRow:
    """One line of the summary: a type, how many, how many in use, their size and what
    could be reclaimed."""

    def __init__(self, kind: str, total: int, active: int, size: int, reclaimable: str) -> None:
        self.Type = kind
        self.TotalCount = str(total)
        self.Active = str(active)
        self.Size = human_size(float(size), 4)
        self.Reclaimable = reclaimable

    def to_json(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in sorted(SUMMARY_TITLES)}


def summary_rows(usage: dict[str, Any]) -> list[UsageRow]:
    images = usage.get("Images") or []
    total = int(usage.get("LayersSize") or 0)
    used = sum(i.get("Size", 0) - i.get("SharedSize", 0) for i in images
               if i.get("Containers") and i.get("Size", -1) != -1
               and i.get("SharedSize", -1) != -1)
    in_use = sum(1 for i in images if (i.get("Containers") or 0) > 0)
    rows = [UsageRow("Images", len(images), in_use, total, _reclaimable(total - used, total))]

    containers = usage.get("Containers") or []
    active = [c for c in containers if any(s in str(c.get("State", "")) for s in _ACTIVE_STATES)]
    written = sum(int(c.get("SizeRw") or 0) for c in containers)
    idle = written - sum(int(c.get("SizeRw") or 0) for c in active)
    rows.append(UsageRow("Containers", len(containers), len(active), written,
                         _reclaimable(idle, written)))

    volumes = usage.get("Volumes") or []
    sized = [v for v in volumes if (v.get("UsageData") or {}).get("Size", -1) != -1]
    volume_size = sum(int(v["UsageData"]["Size"]) for v in sized)
    unused = sum(int(v["UsageData"]["Size"]) for v in sized
                 if not v["UsageData"].get("RefCount"))
    linked = sum(1 for v in volumes if (v.get("UsageData") or {}).get("RefCount", 0) > 0)
    rows.append(UsageRow("Local Volumes", len(volumes), linked, volume_size,
                         _reclaimable(unused, volume_size)))

    cache = usage.get("BuildCache") or []
    cache_size = build_cache_size(cache)
    busy = sum(int(b.get("Size") or 0) for b in cache if b.get("InUse") and not b.get("Shared"))
    rows.append(UsageRow("Build Cache", len(cache), sum(1 for b in cache if b.get("InUse")),
                         cache_size, human_size(float(cache_size - busy), 4)))
    return rows


def build_cache_size(cache: list[dict[str, Any]]) -> int:
    return sum(int(b.get("Size") or 0) for b in cache if not b.get("Shared"))


class BuildCacheRow:
    def __init__(self, data: dict[str, Any], trunc: bool = True) -> None:
        ident = str(data.get("ID", ""))
        self.ID = ident[:12] if trunc else ident
        self.CacheType = str(data.get("Type", ""))
        self.Size = human_size(float(data.get("Size") or 0), 4)
        self.CreatedSince = str(data.get("CreatedAt", ""))
        self.LastUsedSince = str(data.get("LastUsedAt", ""))
        self.UsageCount = str(data.get("UsageCount", 0))
        self.Shared = "true" if data.get("Shared") else "false"

    def to_json(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in sorted(BUILD_CACHE_TITLES)}


def _repo_tag(image: dict[str, Any]) -> tuple[str, str] | None:
    """The first tag as (familiar repository, tag); None if it does not parse."""
    from ketch.util.reference import ReferenceError, parse_normalized_named

    tags = image.get("RepoTags") or []
    if not tags or is_dangling(image):
        return "<none>", "<none>"
    try:
        named = parse_normalized_named(str(tags[0]))
    except ReferenceError:
        return None
    return (named.familiar_name, named.tag) if named.tag else ("<none>", "<none>")


class Verbose:
    """`df -v`: the rows of each type, for its tables or a template over all of them."""

    def __init__(self, usage: dict[str, Any], trunc: bool) -> None:
        self.Images: list[ImageRow] = []
        for image in usage.get("Images") or []:
            names = _repo_tag(image)
            if names is not None:
                self.Images.append(ImageRow(image, names[0], names[1], "", trunc))
        self.Containers = [ContainerRow({**c, "SizeRootFs": 0}, trunc=trunc)  # no virtual size
                           for c in usage.get("Containers") or []]
        self.Volumes = [VolumeRow(v) for v in usage.get("Volumes") or []]
        self.BuildCache = [BuildCacheRow(b, trunc)
                           for b in sorted(usage.get("BuildCache") or [],
                                           key=lambda b: str(b.get("LastUsedAt", "")),
                                           reverse=True)]
        self.cache_size = build_cache_size(usage.get("BuildCache") or [])

    def to_json(self) -> dict[str, Any]:
        return {"Images": self.Images, "Containers": self.Containers, "Volumes": self.Volumes,
                "BuildCache": self.BuildCache}
