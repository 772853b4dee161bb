"""The canonical form of a merged compose model: what `ketch compose config` prints and
what `up` reads.

Every short syntax becomes the long one (ports, volumes, depends_on, networks, build,
devices, secrets, configs), lists of `KEY=VALUE` become mappings (environment,
labels, sysctls, build args), strings become the types their keys mean (booleans,
integers, byte sizes, Go-style durations), commands become argument lists, host paths
become absolute, env files are read into `environment`, and resources get their
Docker names (`<project>_<key>`). Every error names the key path.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ketch.compose.convert import (
    Path,
    fail,
    key_values,
    labels,
    number,
    string_list,
    to_bool,
    to_float,
    to_int,
    to_str,
)
from ketch.compose.envfile import parse_env, read_env_file
from ketch.compose.errors import ComposeError
from ketch.compose.model import Service
from ketch.compose.mounts import file_mode, normalize_mounts
from ketch.compose.paths import resolve_context, resolve_host_path
from ketch.compose.ports import normalize_ports
from ketch.compose.units import UnitError, canonical_duration, parse_duration, parse_size

DROP = object()  # a converter's answer for "leave the key out"


@dataclass
class Context:
    """What normalisation needs to know about the project."""

    project: str
    working_dir: str
    environment: Mapping[str, str] = field(default_factory=dict)
    resolve_paths: bool = True

    def lookup(self, name: str) -> str | None:
        return self.environment.get(name)

    def host_path(self, path: str) -> str:
        return resolve_host_path(path, self.working_dir) if self.resolve_paths else path


Converter = Callable[[Any, Path, Context], Any]


# -- scalar kinds -------------------------------------------------------------------------

def _bool(value: Any, path: Path, ctx: Context) -> Any:
    return to_bool(value, path)


def _int(value: Any, path: Path, ctx: Context) -> Any:
    return to_int(value, path)


def _float(value: Any, path: Path, ctx: Context) -> Any:
    return number(to_float(value, path))


def _size(value: Any, path: Path, ctx: Context) -> Any:
    try:
        return parse_size(value)
    except UnitError as exc:
        raise fail(path, str(exc)) from None


def _duration(value: Any, path: Path, ctx: Context) -> Any:
    try:
        return canonical_duration(value)
    except UnitError as exc:
        raise fail(path, str(exc)) from None


def _microseconds(value: Any, path: Path, ctx: Context) -> Any:
    """An integer of microseconds, or a duration (`cpu_rt_runtime: 400ms`)."""
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        try:
            return parse_duration(value) // 1000
        except UnitError as exc:
            raise fail(path, str(exc)) from None
    return to_int(value, path)


def _strings(value: Any, path: Path, ctx: Context) -> Any:
    return string_list(value, path)


def _string(value: Any, path: Path, ctx: Context) -> Any:
    return DROP if value is None else to_str(value)


def _labels(value: Any, path: Path, ctx: Context) -> Any:
    return labels(value, path)


def _mapping_of_strings(value: Any, path: Path, ctx: Context) -> Any:
    return {k: "" if v is None else v for k, v in key_values(value, path).items()}


def _command(value: Any, path: Path, ctx: Context) -> Any:
    """A command: a list as is; a string split as a shell would (no shell runs it)."""
    if value is None:
        return DROP
    if isinstance(value, list):
        return [to_str(item) for item in value]
    try:
        return shlex.split(str(value))
    except ValueError as exc:
        raise fail(path, f"cannot split {value!r}: {exc}") from None


# -- service keys -------------------------------------------------------------------------

def _environment(value: Any, path: Path, ctx: Context) -> Any:
    return key_values(value, path, bare=ctx.lookup)


def _env_files(value: Any, path: Path, ctx: Context) -> Any:
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(value if isinstance(value, list) else [value]):
        where = (*path, index)
        if isinstance(entry, dict):
            item: dict[str, Any] = {"path": ctx.host_path(str(entry.get("path", "")))}
            item["required"] = to_bool(entry.get("required", True), (*where, "required"))
            if entry.get("format"):
                item["format"] = str(entry["format"])
        else:
            item = {"path": ctx.host_path(str(entry)), "required": True}
        out.append(item)
    return out


def _extra_hosts(value: Any, path: Path, ctx: Context) -> Any:
    out: list[str] = []
    if isinstance(value, dict):
        for host, ips in value.items():
            for ip in ips if isinstance(ips, list) else [ips]:
                out.append(f"{host}={_bare_ip(to_str(ip))}")
        return out
    for index, item in enumerate(value or []):
        text = str(item)
        separator = "=" if "=" in text else ":"
        host, sep, ip = text.partition(separator)
        if not sep or not host or not ip:
            raise fail((*path, index), f'invalid extra host "{text}": '
                                       "expected HOST=IP (or HOST:IP)")
        out.append(f"{host}={_bare_ip(ip)}")
    return out


def _bare_ip(ip: str) -> str:
    return ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip


def _depends_on(value: Any, path: Path, ctx: Context) -> Any:
    out: dict[str, dict[str, Any]] = {}
    if isinstance(value, list):
        for name in value:
            out[str(name)] = {"condition": "service_started", "required": True}
        return out
    for name, entry in (value or {}).items():
        entry = entry or {}
        where = (*path, name)
        dependency: dict[str, Any] = {"condition": str(entry.get("condition")
                                                       or "service_started")}
        if "restart" in entry:
            dependency["restart"] = to_bool(entry["restart"], (*where, "restart"))
        dependency["required"] = to_bool(entry.get("required", True), (*where, "required"))
        out[name] = dependency
    return out


def _networks(value: Any, path: Path, ctx: Context) -> Any:
    if isinstance(value, list):
        return {str(name): None for name in value}
    out: dict[str, Any] = {}
    for name, entry in (value or {}).items():
        if entry is None:
            out[name] = None
            continue
        where = (*path, name)
        network: dict[str, Any] = {}
        for key, item in entry.items():
            if key in ("aliases", "link_local_ips"):
                network[key] = string_list(item, (*where, key))
            elif key == "driver_opts":
                network[key] = {k: to_str(v) for k, v in (item or {}).items()}
            elif key in ("priority", "gw_priority"):
                network[key] = to_int(item, (*where, key))
            elif item is not None:
                network[key] = item if key.startswith("x-") else to_str(item)
        out[name] = network
    return out


def _build(value: Any, path: Path, ctx: Context) -> Any:
    raw = {"context": value} if isinstance(value, str) else dict(value or {})
    out: dict[str, Any] = {}
    context = str(raw.get("context") or ".")
    out["context"] = resolve_context(context, ctx.working_dir) if ctx.resolve_paths \
        else context
    if raw.get("dockerfile") or "dockerfile_inline" not in raw:
        out["dockerfile"] = str(raw.get("dockerfile") or "Dockerfile")
    for key, item in raw.items():
        where = (*path, key)
        if key in ("context", "dockerfile") or item is None:
            continue
        if key == "args":
            out[key] = key_values(item, where, bare=ctx.lookup)
        elif key == "labels":
            out[key] = labels(item, where)
        elif key == "additional_contexts":
            out[key] = {k: resolve_context(str(v), ctx.working_dir) if ctx.resolve_paths
                        else str(v) for k, v in key_values(item, where).items()}
        elif key == "ssh":
            out[key] = [f"{k}={v}" if v is not None else k
                        for k, v in key_values(item, where).items()]
        elif key in ("cache_from", "cache_to", "tags", "platforms", "entitlements"):
            out[key] = string_list(item, where)
        elif key in ("no_cache", "pull", "privileged"):
            out[key] = to_bool(item, where)
        elif key == "shm_size":
            out[key] = _size(item, where, ctx)
        elif key == "extra_hosts":
            out[key] = _extra_hosts(item, where, ctx)
        elif key == "secrets":
            out[key] = _file_references(item, where, ctx, "/run/secrets/")
        elif key == "ulimits":
            out[key] = _ulimits(item, where, ctx)
        else:
            out[key] = item
    return out


def _healthcheck(value: Any, path: Path, ctx: Context) -> Any:
    out: dict[str, Any] = {}
    for key, item in (value or {}).items():
        where = (*path, key)
        if item is None:
            continue
        if key == "test":
            out[key] = ["CMD-SHELL", item] if isinstance(item, str) else \
                [to_str(part) for part in item]
        elif key in ("interval", "timeout", "start_period", "start_interval"):
            out[key] = _duration(item, where, ctx)
        elif key == "retries":
            out[key] = to_int(item, where)
        elif key == "disable":
            out[key] = to_bool(item, where)
        else:
            out[key] = item
    return out


def _update_config(value: Any, path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in (value or {}).items():
        where = (*path, key)
        if key == "parallelism":
            out[key] = to_int(item, where)
        elif key in ("delay", "monitor"):
            out[key] = _duration(item, where, _NO_CONTEXT)
        elif key == "max_failure_ratio":
            out[key] = number(to_float(item, where))
        else:
            out[key] = item
    return out


def _resource(value: Any, path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in (value or {}).items():
        where = (*path, key)
        if key == "cpus":
            out[key] = number(to_float(item, where))
        elif key == "memory":
            out[key] = _size(item, where, _NO_CONTEXT)
        elif key == "pids":
            out[key] = to_int(item, where)
        else:
            out[key] = item
    return out


def _deploy(value: Any, path: Path, ctx: Context) -> Any:
    if value is None:
        return DROP
    out: dict[str, Any] = {}
    for key, item in value.items():
        where = (*path, key)
        if key == "replicas":
            out[key] = to_int(item, where)
        elif key == "labels":
            out[key] = labels(item, where)
        elif key in ("update_config", "rollback_config"):
            out[key] = _update_config(item, where)
        elif key == "resources":
            out[key] = {k: _resource(v, (*where, k)) if k in ("limits", "reservations")
                        else v for k, v in (item or {}).items()}
        elif key == "restart_policy":
            policy: dict[str, Any] = {}
            for k, v in (item or {}).items():
                if k in ("delay", "window"):
                    policy[k] = _duration(v, (*where, k), ctx)
                elif k == "max_attempts":
                    policy[k] = to_int(v, (*where, k))
                else:
                    policy[k] = v
            out[key] = policy
        elif key == "placement" and isinstance(item, dict):
            out[key] = {k: to_int(v, (*where, k)) if k == "max_replicas_per_node" else v
                        for k, v in item.items()}
        else:
            out[key] = item
    return out


def _logging(value: Any, path: Path, ctx: Context) -> Any:
    out: dict[str, Any] = {}
    if (value or {}).get("driver"):
        out["driver"] = str(value["driver"])
    if (value or {}).get("options") is not None:
        out["options"] = key_values(value["options"], (*path, "options"))
    out.update({k: v for k, v in (value or {}).items() if k.startswith("x-")})
    return out


def _ulimits(value: Any, path: Path, ctx: Context) -> Any:
    out: dict[str, Any] = {}
    for name, item in (value or {}).items():
        where = (*path, name)
        if isinstance(item, dict):
            out[name] = {"soft": to_int(item.get("soft"), (*where, "soft")),
                         "hard": to_int(item.get("hard"), (*where, "hard"))}
        else:
            out[name] = to_int(item, where)
    return out


def _devices(value: Any, path: Path, ctx: Context) -> Any:
    out: list[dict[str, Any]] = []
    for index, item in enumerate(value or []):
        where = (*path, index)
        if isinstance(item, dict):
            device = {"source": str(item["source"]),
                      "target": str(item.get("target") or item["source"]),
                      "permissions": str(item.get("permissions") or "rwm")}
        else:
            parts = str(item).split(":")
            if len(parts) > 3:
                raise fail(where, f'confusing device mapping "{item}", use the long syntax')
            device = {"source": parts[0], "target": parts[1] if len(parts) > 1 else parts[0],
                      "permissions": parts[2] if len(parts) > 2 else "rwm"}
        out.append(device)
    return out


def _file_references(value: Any, path: Path, ctx: Context, directory: str) -> Any:
    """`secrets` / `configs` of a service: each `{source, target, ...}`, the target
    absolute (`/run/secrets/<name>` for a secret, `/<name>` for a config)."""
    out: list[dict[str, Any]] = []
    for index, item in enumerate(value or []):
        where = (*path, index)
        entry = {"source": item} if isinstance(item, str) else dict(item)
        if not entry.get("source"):
            raise fail(where, "source is required")
        reference: dict[str, Any] = {"source": str(entry["source"])}
        target = str(entry.get("target") or entry["source"])
        reference["target"] = target if target.startswith("/") else directory + target
        for key in ("uid", "gid"):
            if entry.get(key) is not None:
                reference[key] = to_str(entry[key])
        if entry.get("mode") is not None:
            reference["mode"] = file_mode(entry["mode"], (*where, "mode"))
        reference.update({k: v for k, v in entry.items() if k.startswith("x-")})
        out.append(reference)
    return out


def _secrets(value: Any, path: Path, ctx: Context) -> Any:
    return _file_references(value, path, ctx, "/run/secrets/")


def _configs(value: Any, path: Path, ctx: Context) -> Any:
    return _file_references(value, path, ctx, "/")


def _ports(value: Any, path: Path, ctx: Context) -> Any:
    return normalize_ports(value, path)


def _volumes(value: Any, path: Path, ctx: Context) -> Any:
    return normalize_mounts(value, path, ctx.working_dir if ctx.resolve_paths else None)


def _label_files(value: Any, path: Path, ctx: Context) -> Any:
    return [ctx.host_path(item) for item in string_list(value, path)]


def _blkio(value: Any, path: Path, ctx: Context) -> Any:
    out: dict[str, Any] = {}
    for key, item in (value or {}).items():
        where = (*path, key)
        if key == "weight":
            out[key] = to_int(item, where)
        elif key == "weight_device":
            out[key] = [{"path": str(d.get("path")),
                         "weight": to_int(d.get("weight"), (*where, i, "weight"))}
                        for i, d in enumerate(item or [])]
        elif key in ("device_read_bps", "device_write_bps"):
            out[key] = [{"path": str(d.get("path")),
                         "rate": _size(d.get("rate"), (*where, i, "rate"), ctx)}
                        for i, d in enumerate(item or [])]
        elif key in ("device_read_iops", "device_write_iops"):
            out[key] = [{"path": str(d.get("path")),
                         "rate": to_int(d.get("rate"), (*where, i, "rate"))}
                        for i, d in enumerate(item or [])]
    return out


def _hooks(value: Any, path: Path, ctx: Context) -> Any:
    out: list[dict[str, Any]] = []
    for index, hook in enumerate(value or []):
        where = (*path, index)
        entry: dict[str, Any] = {}
        for key, item in hook.items():
            if key == "command":
                entry[key] = _command(item, (*where, key), ctx)
            elif key == "privileged":
                entry[key] = to_bool(item, (*where, key))
            elif key == "environment":
                entry[key] = key_values(item, (*where, key), bare=ctx.lookup)
            else:
                entry[key] = item
        out.append(entry)
    return out


_NO_CONTEXT = Context(project="", working_dir="/")

SERVICE_CONVERTERS: dict[str, Converter] = {
    **dict.fromkeys(("attach", "init", "privileged", "read_only", "stdin_open", "tty",
                     "oom_kill_disable", "use_api_socket"), _bool),
    **dict.fromkeys(("cpu_count", "cpu_shares", "oom_score_adj", "pids_limit", "scale",
                     "mem_swappiness"), _int),
    **dict.fromkeys(("cpu_quota", "cpu_period", "cpu_rt_period", "cpu_rt_runtime"),
                    _microseconds),
    **dict.fromkeys(("cpus", "cpu_percent"), _float),
    **dict.fromkeys(("mem_limit", "mem_reservation", "memswap_limit", "shm_size"), _size),
    **dict.fromkeys(("cap_add", "cap_drop", "dns", "dns_opt", "dns_search",
                     "external_links", "links", "security_opt", "tmpfs", "volumes_from",
                     "device_cgroup_rules", "profiles", "group_add", "expose"), _strings),
    **dict.fromkeys(("labels", "annotations"), _labels),
    **dict.fromkeys(("sysctls", "storage_opt"), _mapping_of_strings),
    **dict.fromkeys(("command", "entrypoint"), _command),
    **dict.fromkeys(("post_start", "pre_stop"), _hooks),
    **dict.fromkeys(("pid", "image", "container_name", "hostname", "domainname", "user",
                     "working_dir", "restart", "stop_signal", "network_mode", "ipc", "uts",
                     "userns_mode", "platform", "runtime", "pull_policy", "cgroup",
                     "cgroup_parent", "cpuset", "isolation", "mac_address"), _string),
    "stop_grace_period": _duration,
    "environment": _environment,
    "env_file": _env_files,
    "label_file": _label_files,
    "extra_hosts": _extra_hosts,
    "depends_on": _depends_on,
    "networks": _networks,
    "build": _build,
    "healthcheck": _healthcheck,
    "deploy": _deploy,
    "logging": _logging,
    "ulimits": _ulimits,
    "devices": _devices,
    "secrets": _secrets,
    "configs": _configs,
    "ports": _ports,
    "volumes": _volumes,
    "blkio_config": _blkio,
}


def normalize_service(name: str, raw: Any, ctx: Context) -> Service:
    """One service in the canonical form."""
    path: Path = ("services", name)
    if not isinstance(raw, dict):
        raise fail(path, "must be a mapping")
    out: Service = {}
    for key, value in raw.items():
        if key == "extends":
            continue
        converter = SERVICE_CONVERTERS.get(key)
        converted = converter(value, (*path, key), ctx) if converter else value
        if converted is not DROP:
            out[key] = converted
    _read_env_files(out, ctx)
    _read_label_files(out, ctx)
    _check_service(name, raw, out)
    _implicit_dependencies(out)
    if "networks" not in out and "network_mode" not in out:
        out["networks"] = {"default": None}
    return out


def _read_env_files(service: Service, ctx: Context) -> None:
    """`env_file` read into `environment` (whose own values win, even empty)."""
    files = service.get("env_file")
    if not files:
        return
    values: dict[str, str] = {}

    def lookup(name: str) -> str | None:
        return values.get(name, ctx.environment.get(name))

    for entry in files:
        path = entry["path"]
        if not os.path.exists(path):
            if entry.get("required", True):
                raise ComposeError(f"env file {path} not found: stat {path}: "
                                   "no such file or directory")
            continue
        if entry.get("format") == "raw":
            values.update(_read_raw(path))
        else:
            values.update(read_env_file(path, lookup, file_first=True))
    service["environment"] = {**values, **service.get("environment", {})}


def _read_raw(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


def _read_label_files(service: Service, ctx: Context) -> None:
    files = service.get("label_file")
    if not files:
        return
    values: dict[str, str] = {}
    for path in files:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ComposeError(f"label file {path}: {(exc.strerror or str(exc)).lower()}"
                               ) from None
        values.update(parse_env(text, path, lambda _name: None))
    service["labels"] = {**values, **service.get("labels", {})}


def _check_service(name: str, raw: dict[str, Any], service: Service) -> None:
    where = f"services.{name}"
    if "network_mode" in service and "networks" in raw:
        raise ComposeError(f"{where}: network_mode and networks cannot be combined")
    deploy = service.get("deploy") or {}
    pairs = [("scale", service.get("scale"), "deploy.replicas", deploy.get("replicas"))]
    limits = (deploy.get("resources") or {}).get("limits") or {}
    pairs += [("mem_limit", service.get("mem_limit"), "deploy.resources.limits.memory",
               limits.get("memory")),
              ("cpus", service.get("cpus"), "deploy.resources.limits.cpus",
               limits.get("cpus")),
              ("pids_limit", service.get("pids_limit"), "deploy.resources.limits.pids",
               limits.get("pids"))]
    for first, first_value, second, second_value in pairs:
        if first_value is not None and second_value is not None and \
                first_value != second_value:
            raise ComposeError(f"{where}: can't set distinct values on '{first}' and "
                               f"'{second}'")


def _implicit_dependencies(service: Service) -> None:
    """`links`, `volumes_from` and `service:NAME` namespaces depend on those services,
    as `depends_on` entries with the default condition (as docker compose adds them)."""
    names: list[str] = []
    names += [link.split(":")[0] for link in service.get("links", [])]
    names += [source.split(":")[0] for source in service.get("volumes_from", [])
              if not source.startswith("container:")]
    for key in ("network_mode", "ipc", "pid"):
        value = service.get(key)
        if isinstance(value, str) and value.startswith("service:"):
            names.append(value[len("service:"):])
    if not names:
        return
    depends_on = service.setdefault("depends_on", {})
    for dependency in names:
        depends_on.setdefault(dependency, {"condition": "service_started", "required": True})


# -- top-level resources ------------------------------------------------------------------

def _external(value: Any, path: Path) -> tuple[bool, str | None]:
    """`external: true`, or the older `external: {name: x}` (external, named x)."""
    if value is None:
        return False, None
    if isinstance(value, dict):
        name = value.get("name")
        return True, None if name is None else str(name)
    return to_bool(value, path), None


def _resource_common(kind: str, key: str, raw: Any, ctx: Context) -> dict[str, Any]:
    path: Path = (kind, key)
    raw = raw or {}
    external, external_name = _external(raw.get("external"), (*path, "external"))
    if external_name and raw.get("name") and external_name != raw.get("name"):
        raise fail(path, "external.name and name conflict; use name only")
    out: dict[str, Any] = {}
    default = key if external else f"{ctx.project}_{key}"
    out["name"] = str(raw.get("name") or external_name or default)
    if external:
        for conflicting in ("driver", "driver_opts", "ipam"):
            if raw.get(conflicting):
                raise ComposeError(f'conflicting parameters "external" and "{conflicting}" '
                                   f'specified for {kind[:-1]} "{key}"')
    for item_key, value in raw.items():
        where = (*path, item_key)
        if item_key in ("name", "external") or value is None:
            continue
        if item_key == "driver_opts":
            out[item_key] = {k: to_str(v) for k, v in value.items()}
        elif item_key == "labels":
            out[item_key] = labels(value, where)
        elif item_key in ("internal", "attachable", "enable_ipv4", "enable_ipv6"):
            out[item_key] = to_bool(value, where)
        elif item_key == "file":
            out[item_key] = ctx.host_path(str(value))
        else:
            out[item_key] = value
    if external:
        out["external"] = True
    return out


def normalize_networks(raw: Any, ctx: Context) -> dict[str, dict[str, Any]]:
    return {key: _resource_common("networks", key, value, ctx)
            for key, value in (raw or {}).items()}


def normalize_volumes(raw: Any, ctx: Context) -> dict[str, dict[str, Any]]:
    return {key: _resource_common("volumes", key, value, ctx)
            for key, value in (raw or {}).items()}


def normalize_files(kind: str, raw: Any, ctx: Context) -> dict[str, dict[str, Any]]:
    """Top-level `secrets` or `configs`."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in (raw or {}).items():
        entry = _resource_common(kind, key, value, ctx)
        sources = ("file", "environment", "content") if kind == "configs" else \
            ("file", "environment")
        if not entry.get("external") and not any(entry.get(s) for s in sources):
            raise fail((kind, key), f"one of {', '.join(sources)} or external is required")
        out[key] = entry
    return out


def add_default_network(networks: dict[str, dict[str, Any]], services: dict[str, Service],
                        project: str) -> None:
    """The implicit `default` network, when a service is on it and the file did not
    declare it."""
    if "default" in networks:
        return
    if any("default" in (service.get("networks") or {}) for service in services.values()):
        networks["default"] = {"name": f"{project}_default"}
