"""An image as the engine sees it: its config, tags and layers, and the two JSON shapes
the Engine API returns for it (`GET /images/{name}/json` and an item of `GET /images/json`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"

# Docker's container.Config with nothing set: what `Config` looks like for an empty image
_EMPTY_CONFIG: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def unix_time(rfc3339: str) -> int:
    """"2026-05-07T20:33:45.123456789Z" -> seconds since the epoch (0 if unparseable)."""
    match = _RFC3339.fullmatch(rfc3339)
    if match is None:
        return 0
    base, _, zone = match.groups()
    parsed = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return int(parsed.timestamp())


def now_rfc3339() -> str:
    """The current time as Docker writes it (UTC, nanoseconds)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


@dataclass(frozen=True)
class Image:
    id: str  # "sha256:<hex>" of the config bytes
    config: dict[str, Any]  # the full image config JSON
    repo_tags: list[str] = field(default_factory=list)  # ["busybox:latest"]
    repo_digests: list[str] = field(default_factory=list)  # ["busybox@sha256:..."]
    size: int = 0  # bytes in its layers
    layers: list[str] = field(default_factory=list)  # layer diff dirs, lowest first
    chain_ids: list[str] = field(default_factory=list)  # lowest first
    last_tag_time: str = ZERO_TIME
    parent: str = ""  # the local image it was made from (commit, build), if any

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    @property
    def created(self) -> str:
        return str(self.config.get("created", ZERO_TIME))

    @property
    def container_config(self) -> dict[str, Any]:
        """The image's defaults for containers (Cmd, Env, WorkingDir, Entrypoint, ...)."""
        return dict(self.config.get("config") or {})

    def inspect(self) -> dict[str, Any]:
        """`GET /images/{name}/json`"""
        graph: dict[str, str] = {}
        if self.layers:
            graph["UpperDir"] = self.layers[-1]
            if len(self.layers) > 1:
                graph["LowerDir"] = ":".join(reversed(self.layers[:-1]))
        result: dict[str, Any] = {
            "Id": self.id,
            "RepoTags": list(self.repo_tags),
            "RepoDigests": list(self.repo_digests),
            "Parent": self.parent,
            "Comment": self.config.get("comment", ""),
            "Created": self.created,
            "Container": self.config.get("container", ""),
            "ContainerConfig": {**_EMPTY_CONFIG, **(self.config.get("container_config") or {})},
            "DockerVersion": self.config.get("docker_version", ""),
            "Author": self.config.get("author", ""),
            "Config": {**_EMPTY_CONFIG, **self.container_config},
            "Architecture": self.config.get("architecture", ""),
        }
        if self.config.get("variant"):
            result["Variant"] = self.config["variant"]
        result.update(
            Os=self.config.get("os", ""),
            Size=self.size,
            VirtualSize=self.size,
            GraphDriver={"Data": graph, "Name": "overlay2"},
            RootFS={"Type": "layers", "Layers": self.diff_ids},
            Metadata={"LastTagTime": self.last_tag_time},
        )
        return result

    def summary(self) -> dict[str, Any]:
        """An item of `GET /images/json` (untagged images as Docker 20.10 lists them)."""
        return {
            "Containers": -1,
            "Created": unix_time(self.created),
            "Id": self.id,
            "Labels": self.container_config.get("Labels"),
            "ParentId": self.parent,
            "RepoDigests": list(self.repo_digests) or ([] if self.repo_tags
                                                       else ["<none>@<none>"]),
            "RepoTags": list(self.repo_tags) or ["<none>:<none>"],
            "SharedSize": -1,
            "Size": self.size,
            "VirtualSize": self.size,
        }
