"""The compose application model once loaded: a project, its services and resources.

A service is kept as the canonical mapping that `ketch compose config` prints (every
short syntax written long, paths absolute, defaults filled in): it is what gets
compared to decide whether a container must be recreated, and what `up` reads. The
typed dicts below document the shape of its long-syntax entries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, TypedDict

Service = dict[str, Any]


class PortConfig(TypedDict, total=False):
    """`ports` entry: `target` always; `published` ("8080" or a range "8000-8010")
    when the host port is chosen, else the engine picks one."""

    name: str
    mode: str  # "ingress" (the default) or "host"
    host_ip: str
    target: int
    published: str
    protocol: str  # "tcp", "udp", "sctp"
    app_protocol: str


class BindOptions(TypedDict, total=False):
    selinux: str
    propagation: str
    create_host_path: bool
    recursive: str


class VolumeOptions(TypedDict, total=False):
    labels: dict[str, str]
    nocopy: bool
    subpath: str


class TmpfsOptions(TypedDict, total=False):
    size: int
    mode: int


class ServiceMount(TypedDict, total=False):
    """`volumes` entry. `source`: an absolute host path (bind), a volume key of the
    project's top-level `volumes` (volume; absent for an anonymous volume)."""

    type: str  # "bind", "volume", "tmpfs", "npipe", "cluster", "image"
    source: str
    target: str
    read_only: bool
    consistency: str
    bind: BindOptions
    volume: VolumeOptions
    tmpfs: TmpfsOptions
    image: dict[str, str]


class Dependency(TypedDict, total=False):
    """`depends_on` entry."""

    condition: str  # service_started, service_healthy, service_completed_successfully
    restart: bool
    required: bool


class FileReference(TypedDict, total=False):
    """`secrets` / `configs` entry of a service."""

    source: str
    target: str
    uid: str
    gid: str
    mode: int


@dataclass
class Project:
    """A loaded, validated compose project."""

    name: str
    working_dir: str
    config_files: list[str]
    services: dict[str, Service] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)  # top-level x-* keys
    disabled_services: dict[str, Service] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)  # what variables resolved from
    profiles: list[str] = field(default_factory=list)  # the active profiles
    warnings: list[str] = field(default_factory=list)

    def service_names(self) -> list[str]:
        return sorted(self.services)

    def all_profiles(self) -> list[str]:
        """Every profile a service (enabled or not) declares."""
        found = {profile for service in (*self.services.values(),
                                         *self.disabled_services.values())
                 for profile in service.get("profiles", ())}
        return sorted(found)

    def to_dict(self) -> dict[str, Any]:
        """The canonical model (what `config` prints), in the specification's order."""
        out: dict[str, Any] = {"name": self.name,
                               "services": {n: self.services[n] for n in self.service_names()}}
        for key in ("networks", "volumes", "secrets", "configs"):
            value: dict[str, Any] = getattr(self, key)
            if value:
                out[key] = {n: value[n] for n in sorted(value)}
        for key in sorted(self.extensions):
            out[key] = self.extensions[key]
        return out

    def dependency_order(self, names: list[str] | None = None) -> list[str]:
        """Services in the order to start them (dependencies first), limited to
        `names` and what they depend on when given."""
        ordered: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen or name not in self.services:
                return
            seen.add(name)
            for dependency in sorted(self.services[name].get("depends_on", {})):
                visit(dependency)
            ordered.append(name)

        for name in (names if names is not None else self.service_names()):
            visit(name)
        return ordered


def scale(service: Service) -> int:
    """How many containers the service runs: `scale`, else `deploy.replicas`, else 1."""
    if "scale" in service:
        return int(service["scale"])
    replicas = (service.get("deploy") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def image_name(project: Project, service_name: str) -> str:
    """The image a service runs: its `image`, else the one `build` makes, named
    `<project>-<service>` as docker compose names it."""
    service = project.services.get(service_name) or project.disabled_services[service_name]
    image = service.get("image")
    return str(image) if image else f"{project.name}-{service_name}"


def config_hash(service: Service) -> str:
    """A digest of a service's configuration, for the `com.docker.compose.config-hash`
    label: it changes when, and only when, something that shapes the container does
    (`scale` and `deploy.replicas` do not; dependencies' conditions do not)."""
    shaped = {key: value for key, value in service.items()
              if key not in ("scale", "depends_on", "profiles")}
    if isinstance(shaped.get("deploy"), dict):
        shaped["deploy"] = {k: v for k, v in shaped["deploy"].items() if k != "replicas"}
    text = json.dumps(shaped, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
