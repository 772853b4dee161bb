"""Merging compose files (`-f a.yml -f b.yml`, `compose.override.yaml`) and a service
with the one it `extends`, by the compose specification's rules.

- Mappings are merged key by key; a scalar of the later file replaces the earlier one.
- `command`, `entrypoint` and `healthcheck.test` are replaced, never appended.
- `environment`, `labels`, `annotations`, `sysctls`, `build.args`, ... are mappings
  whether written as a list or a map: merged by key, the later value winning.
- `ports`, `volumes`, `secrets`, `configs`, `devices`, `env_file` are sequences of
  unique resources: an entry with the same key as an earlier one (a port's
  {ip, target, published, protocol}, a mount's target, an env file's path) replaces
  it in place; others are appended.
- `depends_on` and `networks` (a list or a map) are merged as maps.
- Other sequences (`dns`, `cap_add`, `profiles`, ...) are appended without duplicates.
- `logging` is merged when both files name the same driver (or one names none), else
  replaced; each `ulimits` entry is replaced whole.
- `!reset` removes the key; `!override` replaces it without merging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ketch.compose.convert import Path, to_str
from ketch.compose.mounts import MountError, parse_volume
from ketch.compose.ports import normalize_ports, port_key
from ketch.compose.yamlload import Override, Reset

Merger = Callable[[Any, Any, Path], Any]


def strip_markers(value: Any) -> Any:
    """A value with `!override` unwrapped and `!reset` keys dropped (a first file, or a
    key that only the later file has)."""
    if isinstance(value, Override):
        return strip_markers(value.value)
    if isinstance(value, dict):
        return {k: strip_markers(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [strip_markers(v) for v in value if not isinstance(v, Reset)]
    return value


def deep_merge(base: Any, other: Any, path: Path = ()) -> Any:
    """The generic rule: mappings merged, sequences appended, scalars replaced."""
    if isinstance(other, Override):
        return strip_markers(other.value)
    if isinstance(base, dict) and isinstance(other, dict):
        return _merge_mapping(base, other, path, {})
    if isinstance(base, list) and isinstance(other, list):
        return [*base, *strip_markers(other)]
    if other is None and isinstance(base, dict):
        return base  # `name:` with nothing under it declares, and changes nothing
    return strip_markers(other)


def _merge_mapping(base: dict[str, Any], other: dict[str, Any], path: Path,
                   rules: dict[str, Merger]) -> dict[str, Any]:
    result = dict(base)
    for key, value in other.items():
        if isinstance(value, Reset):
            result.pop(key, None)
        elif isinstance(value, Override) or key not in result or key.startswith("x-"):
            result[key] = strip_markers(value)
        else:
            rule = rules.get(key, deep_merge)
            result[key] = rule(result[key], value, (*path, key))
    return result


# -- the special rules -------------------------------------------------------------------

def _replace(base: Any, other: Any, path: Path) -> Any:
    return strip_markers(other)


def _pairs(value: Any) -> dict[str, Any]:
    """A `KEY=VALUE` list or a mapping as a mapping of raw values (a bare KEY: None);
    `!reset` values are kept for the merge to act on."""
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                key, sep, rest = item.partition("=")
                out[key] = rest if sep else None
    return out


def _merge_pairs(base: Any, other: Any, path: Path) -> Any:
    result = {k: v for k, v in _pairs(base).items() if not isinstance(v, Reset)}
    for key, value in _pairs(other).items():
        if isinstance(value, Reset):
            result.pop(key, None)
        else:
            result[key] = strip_markers(value)
    return result


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _merge_unique(base: Any, other: Any, path: Path) -> Any:
    result: list[Any] = []
    seen: set[str] = set()
    for item in [*_as_list(base), *_as_list(strip_markers(other))]:
        key = to_str(item) if not isinstance(item, dict | list) else repr(item)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


def _keyed(key_of: Callable[[Any], Any]) -> Merger:
    """Sequences of unique resources: same key replaces in place, else appended."""

    def merge(base: Any, other: Any, path: Path) -> Any:
        result: list[Any] = []
        index: dict[Any, int] = {}
        for item in [*_as_list(base), *_as_list(strip_markers(other))]:
            for entry in _expand(item, key_of):
                key = key_of(entry)
                if key in index:
                    result[index[key]] = entry
                else:
                    index[key] = len(result)
                    result.append(entry)
        return result

    return merge


def _expand(item: Any, key_of: Callable[[Any], Any]) -> list[Any]:
    """Ports in the short syntax may stand for several entries."""
    if key_of is _port_of and not isinstance(item, dict):
        try:
            return list(normalize_ports([item], ()))
        except Exception:  # left for normalize to report, with its place
            return [item]
    return [item]


def _port_of(entry: Any) -> Any:
    if isinstance(entry, dict) and "target" in entry:
        try:
            return port_key(normalize_ports([entry], ())[0])
        except Exception:
            return repr(entry)
    return repr(entry)


def _mount_target(entry: Any) -> Any:
    if isinstance(entry, str):
        try:
            return parse_volume(entry).get("target", entry)
        except MountError:
            return entry
    if isinstance(entry, dict):
        return entry.get("target", repr(entry))
    return repr(entry)


def _device_target(entry: Any) -> Any:
    if isinstance(entry, str):
        parts = entry.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    if isinstance(entry, dict):
        return entry.get("target") or entry.get("source")
    return repr(entry)


def _reference_target(default_dir: str) -> Callable[[Any], Any]:
    def key(entry: Any) -> Any:
        if isinstance(entry, str):
            return default_dir + entry
        if isinstance(entry, dict):
            target = entry.get("target")
            if not target:
                return default_dir + str(entry.get("source"))
            target = str(target)
            return target if target.startswith("/") else default_dir + target
        return repr(entry)

    return key


def _env_file_path(entry: Any) -> Any:
    if isinstance(entry, dict):
        return entry.get("path")
    return entry


def _as_mapping(value: Any) -> dict[str, Any]:
    """`depends_on` / `networks`: a list of names is a mapping of names to nothing."""
    if isinstance(value, list):
        return {str(name): None for name in value}
    return dict(value) if isinstance(value, dict) else {}


def _merge_named_entries(base: Any, other: Any, path: Path) -> Any:
    result = _as_mapping(base)
    for key, value in _as_mapping(other).items():
        if isinstance(value, Reset):
            result.pop(key, None)
        elif key in result and isinstance(result[key], dict) and isinstance(value, dict):
            result[key] = deep_merge(result[key], value, (*path, key))
        elif value is None and key in result:
            continue
        else:
            result[key] = strip_markers(value)
    return result


def _hosts(value: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for host, ips in value.items():
            out[host] = [to_str(ip) for ip in _as_list(ips)]
    elif isinstance(value, list):
        for item in value:
            text = str(item)
            sep = "=" if "=" in text else ":"
            host, _, ip = text.partition(sep)
            out.setdefault(host, []).append(ip)
    return out


def _merge_hosts(base: Any, other: Any, path: Path) -> Any:
    result = _hosts(base)
    result.update(_hosts(strip_markers(other)))
    return [f"{host}={ip}" for host, ips in result.items() for ip in ips]


def _merge_logging(base: Any, other: Any, path: Path) -> Any:
    if not isinstance(base, dict) or not isinstance(other, dict):
        return strip_markers(other)
    if "driver" in base and "driver" in other and base["driver"] != other["driver"]:
        return strip_markers(other)
    return _merge_mapping(base, other, path, {"options": _merge_pairs})


def _merge_ulimits(base: Any, other: Any, path: Path) -> Any:
    if not isinstance(base, dict) or not isinstance(other, dict):
        return strip_markers(other)
    return _merge_mapping(base, other, path, dict.fromkeys(other, _replace))


def _merge_build(base: Any, other: Any, path: Path) -> Any:
    base_map = {"context": base} if isinstance(base, str) else base
    other_map = {"context": other} if isinstance(other, str) else other
    if not isinstance(base_map, dict) or not isinstance(other_map, dict):
        return strip_markers(other)
    return _merge_mapping(base_map, other_map, path, _BUILD_RULES)


def _merge_healthcheck(base: Any, other: Any, path: Path) -> Any:
    if not isinstance(base, dict) or not isinstance(other, dict):
        return strip_markers(other)
    return _merge_mapping(base, other, path, {"test": _replace})


def _merge_deploy(base: Any, other: Any, path: Path) -> Any:
    if not isinstance(base, dict) or not isinstance(other, dict):
        return deep_merge(base, other, path)
    return _merge_mapping(base, other, path, {"labels": _merge_pairs})


def _merge_blkio(base: Any, other: Any, path: Path) -> Any:
    if not isinstance(base, dict) or not isinstance(other, dict):
        return strip_markers(other)
    by_path = _keyed(lambda entry: entry.get("path") if isinstance(entry, dict) else entry)
    return _merge_mapping(base, other, path, dict.fromkeys(
        ("device_read_bps", "device_read_iops", "device_write_bps", "device_write_iops",
         "weight_device"), by_path))


_UNIQUE = ("cap_add", "cap_drop", "dns", "dns_opt", "dns_search", "tmpfs", "security_opt",
           "expose", "links", "external_links", "profiles", "group_add",
           "device_cgroup_rules", "volumes_from", "label_file")
_PAIRS = ("environment", "labels", "annotations", "sysctls", "storage_opt")

_BUILD_RULES: dict[str, Merger] = {
    "args": _merge_pairs, "labels": _merge_pairs, "additional_contexts": _merge_pairs,
    "extra_hosts": _merge_hosts, "ssh": _merge_unique, "cache_from": _merge_unique,
    "cache_to": _merge_unique, "tags": _merge_unique, "platforms": _merge_unique,
    "entitlements": _merge_unique,
}

SERVICE_RULES: dict[str, Merger] = {
    "command": _replace,
    "entrypoint": _replace,
    "healthcheck": _merge_healthcheck,
    **dict.fromkeys(_PAIRS, _merge_pairs),
    **dict.fromkeys(_UNIQUE, _merge_unique),
    "ports": _keyed(_port_of),
    "volumes": _keyed(_mount_target),
    "secrets": _keyed(_reference_target("/run/secrets/")),
    "configs": _keyed(_reference_target("/")),
    "devices": _keyed(_device_target),
    "env_file": _keyed(_env_file_path),
    "depends_on": _merge_named_entries,
    "networks": _merge_named_entries,
    "extra_hosts": _merge_hosts,
    "logging": _merge_logging,
    "ulimits": _merge_ulimits,
    "build": _merge_build,
    "deploy": _merge_deploy,
    "blkio_config": _merge_blkio,
}


def merge_service(base: dict[str, Any], other: dict[str, Any], path: Path = ()
                  ) -> dict[str, Any]:
    """`other` (the later file, or the extending service) over `base`."""
    return _merge_mapping(base, other, path, SERVICE_RULES)


def _merge_named(base: Any, other: Any, path: Path, merge: Merger) -> Any:
    if not isinstance(other, dict):
        return strip_markers(other)
    result = dict(base) if isinstance(base, dict) else {}
    for name, value in other.items():
        if isinstance(value, Reset):
            result.pop(name, None)
        elif isinstance(value, Override) or name not in result:
            result[name] = strip_markers(value)
        elif value is None:
            continue
        elif result[name] is None:
            result[name] = strip_markers(value)
        else:
            result[name] = merge(result[name], value, (*path, name))
    return result


def merge_models(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """A later compose file over the model of the files before it."""
    result = dict(base)
    for key, value in other.items():
        if isinstance(value, Reset):
            result.pop(key, None)
        elif isinstance(value, Override) or key not in result:
            result[key] = strip_markers(value)
        elif key == "services":
            result[key] = _merge_named(
                result[key], value, (key,),
                lambda b, o, p: merge_service(b, o, p) if isinstance(b, dict)
                and isinstance(o, dict) else strip_markers(o))
        elif key in ("networks", "volumes", "secrets", "configs", "models"):
            result[key] = _merge_named(result[key], value, (key,), deep_merge)
        else:
            result[key] = strip_markers(value)
    return result
