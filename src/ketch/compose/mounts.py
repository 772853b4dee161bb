"""A service's `volumes`: the short syntax `[SOURCE:]TARGET[:MODE]` read as docker
compose reads it, the long syntax completed, host paths made absolute.

    "/data"             -> anonymous volume at /data
    "db:/var/lib/db:ro" -> the project volume `db`, read-only
    "./src:/app"        -> bind mount of <project dir>/src (the host path is created)
    "~/x:/x"            -> bind mount of $HOME/x

A source is a host path when it starts with `.`, `/` or `~`; anything else names a
volume. MODE is a comma-separated list of `ro`, `rw`, `nocopy`, `z`, `Z` and the
propagation modes; other words are ignored, as docker compose does.
"""

from __future__ import annotations

from typing import Any

from ketch.compose.convert import Path, fail, labels, to_bool, to_int
from ketch.compose.model import BindOptions, ServiceMount, TmpfsOptions, VolumeOptions
from ketch.compose.paths import resolve_host_path
from ketch.compose.units import UnitError, parse_size

PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


class MountError(ValueError):
    """A short syntax that cannot be read; the message says why."""


def is_host_path(source: str) -> bool:
    return source[:1] in (".", "/", "~")


def parse_volume(spec: str) -> ServiceMount:
    """One short-syntax entry, host paths left as written."""
    if not spec:
        raise MountError("invalid empty volume spec")
    parts = spec.split(":")
    if any(part == "" for part in parts):
        raise MountError("empty section between colons")
    if len(parts) > 3:
        raise MountError("too many colons")
    mount: ServiceMount = {}
    if len(parts) == 1:
        mount["type"] = "volume"
        mount["target"] = parts[0]
        mount["volume"] = {}
        return mount
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    mount["type"] = "bind" if is_host_path(source) else "volume"
    mount["source"] = source
    mount["target"] = target
    bind: BindOptions = {}
    volume: VolumeOptions = {}
    for option in options:
        if option == "ro":
            mount["read_only"] = True
        elif option == "rw":
            mount.pop("read_only", None)
        elif option == "nocopy":
            volume["nocopy"] = True
        elif option in ("z", "Z"):
            bind["selinux"] = option
        elif option in PROPAGATIONS:
            bind["propagation"] = option
    if mount["type"] == "bind":
        bind["create_host_path"] = True
        mount["bind"] = bind
    else:
        mount["volume"] = volume
    return mount


def normalize_long(item: dict[str, Any], path: Path) -> ServiceMount:
    """A long-syntax entry with its values typed and its defaults."""
    kind = item.get("type")
    if not isinstance(kind, str):
        raise fail(path, "type is required")
    mount: ServiceMount = {"type": kind}
    if item.get("source") not in (None, ""):
        mount["source"] = str(item["source"])
    if item.get("target") not in (None, ""):
        mount["target"] = str(item["target"])
    elif kind != "npipe":
        raise fail(path, "target is required")
    if "read_only" in item and to_bool(item["read_only"], (*path, "read_only")):
        mount["read_only"] = True
    if item.get("consistency"):
        mount["consistency"] = str(item["consistency"])
    raw_bind = item.get("bind")
    if kind == "bind" or isinstance(raw_bind, dict):
        bind: BindOptions = {}
        raw = raw_bind if isinstance(raw_bind, dict) else {}
        if raw.get("selinux"):
            bind["selinux"] = str(raw["selinux"])
        if raw.get("propagation"):
            bind["propagation"] = str(raw["propagation"])
        bind["create_host_path"] = to_bool(raw.get("create_host_path", True),
                                           (*path, "bind", "create_host_path"))
        if raw.get("recursive"):
            bind["recursive"] = str(raw["recursive"])
        mount["bind"] = bind
    raw_volume = item.get("volume")
    if isinstance(raw_volume, dict):
        volume: VolumeOptions = {}
        if raw_volume.get("labels") is not None:
            volume["labels"] = labels(raw_volume["labels"], (*path, "volume", "labels"))
        if "nocopy" in raw_volume and to_bool(raw_volume["nocopy"], (*path, "volume", "nocopy")):
            volume["nocopy"] = True
        if raw_volume.get("subpath"):
            volume["subpath"] = str(raw_volume["subpath"])
        mount["volume"] = volume
    raw_tmpfs = item.get("tmpfs")
    if isinstance(raw_tmpfs, dict):
        tmpfs: TmpfsOptions = {}
        if raw_tmpfs.get("size") is not None:
            try:
                tmpfs["size"] = parse_size(raw_tmpfs["size"])
            except UnitError as exc:
                raise fail((*path, "tmpfs", "size"), str(exc)) from None
        if raw_tmpfs.get("mode") is not None:
            tmpfs["mode"] = file_mode(raw_tmpfs["mode"], (*path, "tmpfs", "mode"))
        mount["tmpfs"] = tmpfs
    if isinstance(item.get("image"), dict):
        mount["image"] = {k: str(v) for k, v in item["image"].items()}
    for key, value in item.items():
        if key.startswith("x-"):
            mount[key] = value  # type: ignore[literal-required]
    return mount


def file_mode(value: Any, path: Path) -> int:
    """A permission mode: a number (YAML reads 0755 as octal), or an octal string."""
    if isinstance(value, str):
        try:
            return int(value.strip(), 8)
        except ValueError:
            raise fail(path, f'must be an octal mode, not "{value}"') from None
    return to_int(value, path)


def normalize_mounts(value: Any, path: Path, base_dir: str | None) -> list[ServiceMount]:
    """A service's `volumes`, every entry long; bind sources made absolute against
    `base_dir` (left as written when it is None)."""
    out: list[ServiceMount] = []
    if value is None:
        return out
    if not isinstance(value, list):
        raise fail(path, "must be a list")
    for index, item in enumerate(value):
        where = (*path, index)
        if isinstance(item, str):
            try:
                mount = parse_volume(item)
            except MountError as exc:
                raise fail(where, f'invalid volume specification "{item}": {exc}') from None
        elif isinstance(item, dict):
            mount = normalize_long(item, where)
        else:
            raise fail(where, "must be a string or mapping")
        if base_dir is not None and mount.get("type") == "bind" and "source" in mount:
            mount["source"] = resolve_host_path(mount["source"], base_dir)
        out.append(mount)
    return out
