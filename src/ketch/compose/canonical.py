"""`ketch compose config`'s output: the canonical model as YAML (or JSON), laid out as
`docker compose config` lays it out.

Top-level `name` first, then services, networks, volumes, secrets, configs; services
and other user-named keys sorted; a service's keys and those of its long-syntax
entries in the specification's order (that of docker compose's model), extension
keys (`x-*`) last; sequences indented under their key; file modes in octal.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

_TOP = ("name", "services", "networks", "volumes", "secrets", "configs", "models")

SERVICE_ORDER = (
    "profiles", "annotations", "attach", "build", "develop", "blkio_config", "cap_add",
    "cap_drop", "cgroup_parent", "cgroup", "cpu_count", "cpu_percent", "cpu_period",
    "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpus", "cpuset", "cpu_shares",
    "command", "configs", "container_name", "credential_spec", "depends_on", "deploy",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname",
    "entrypoint", "provider", "environment", "env_file", "expose", "external_links",
    "extra_hosts", "group_add", "gpus", "hostname", "healthcheck", "image", "init", "ipc",
    "isolation", "labels", "label_file", "links", "logging", "mem_limit",
    "mem_reservation", "memswap_limit", "mem_swappiness", "mac_address", "models",
    "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
    "platform", "ports", "privileged", "pull_policy", "read_only", "restart", "runtime",
    "scale", "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period",
    "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket",
    "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir", "post_start",
    "pre_stop",
)

# key -> order of the fields of that kind of entry ("*" marks a mapping of user keys)
_ORDERS: dict[str, tuple[str, ...]] = {
    "build": ("context", "dockerfile", "dockerfile_inline", "entitlements", "args", "ssh",
              "labels", "cache_from", "cache_to", "no_cache", "additional_contexts",
              "network", "provenance", "sbom", "pull", "target", "shm_size", "extra_hosts",
              "isolation", "privileged", "secrets", "tags", "ulimits", "platforms"),
    "depends_on": ("condition", "restart", "required"),
    "port": ("name", "mode", "host_ip", "target", "published", "protocol", "app_protocol"),
    "mount": ("type", "source", "target", "read_only", "consistency", "bind", "volume",
              "tmpfs", "image"),
    "bind": ("selinux", "propagation", "create_host_path", "recursive"),
    "healthcheck": ("test", "timeout", "interval", "retries", "start_period",
                    "start_interval", "disable"),
    "deploy": ("mode", "replicas", "labels", "update_config", "rollback_config",
               "resources", "restart_policy", "placement", "endpoint_mode"),
    "resources": ("limits", "reservations"),
    "resource": ("cpus", "memory", "pids", "devices", "generic_resources"),
    "network": ("name", "driver", "driver_opts", "ipam", "external", "internal",
                "attachable", "labels", "enable_ipv4", "enable_ipv6"),
    "volume": ("name", "driver", "driver_opts", "external", "labels"),
    "file_object": ("name", "file", "environment", "content", "external", "labels",
                    "driver", "driver_opts", "template_driver"),
    "service_network": ("aliases", "driver_opts", "gw_priority", "interface_name",
                        "ipv4_address", "ipv6_address", "link_local_ips", "mac_address",
                        "priority"),
    "reference": ("source", "target", "uid", "gid", "mode"),
    "logging": ("driver", "options"),
    "env_file": ("path", "required", "format"),
    "ulimit": ("soft", "hard"),
    "ipam": ("driver", "config", "options"),
    "pool": ("subnet", "gateway", "ip_range", "aux_addresses"),
    "device": ("source", "target", "permissions"),
    "restart_policy": ("condition", "delay", "max_attempts", "window"),
}


def _ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """`mapping` with known keys in `order`, unknown ones sorted, `x-*` keys last."""
    rank = {key: index for index, key in enumerate(order)}

    def key(name: str) -> tuple[int, int, str]:
        if name.startswith("x-"):
            return (2, 0, name)
        if name in rank:
            return (0, rank[name], name)
        return (1, 0, name)

    return {name: mapping[name] for name in sorted(mapping, key=key)}


def _sorted(mapping: dict[str, Any] | None) -> dict[str, Any]:
    mapping = mapping or {}
    return {name: mapping[name] for name in sorted(mapping)}


def _octal(mode: Any) -> Any:
    return f"0{mode:o}" if isinstance(mode, int) and not isinstance(mode, bool) else mode


def _reference(entry: dict[str, Any]) -> dict[str, Any]:
    out = _ordered(entry, _ORDERS["reference"])
    if "mode" in out:
        out["mode"] = _octal(out["mode"])
    return out


def _service(service: dict[str, Any]) -> dict[str, Any]:
    out = _ordered(service, SERVICE_ORDER)
    for key, value in list(out.items()):
        if key in ("environment", "labels", "annotations", "sysctls", "storage_opt"):
            out[key] = _sorted(value)
        elif key == "build" and isinstance(value, dict):
            build = _ordered(value, _ORDERS["build"])
            for sub in ("args", "labels", "additional_contexts"):
                if sub in build:
                    build[sub] = _sorted(build[sub])
            if "secrets" in build:
                build["secrets"] = [_reference(s) for s in build["secrets"]]
            out[key] = build
        elif key == "depends_on":
            out[key] = {name: _ordered(entry, _ORDERS["depends_on"])
                        for name, entry in _sorted(value).items()}
        elif key == "ports":
            out[key] = [_ordered(entry, _ORDERS["port"]) for entry in value]
        elif key == "volumes":
            out[key] = [_mount(entry) for entry in value]
        elif key == "healthcheck":
            out[key] = _ordered(value, _ORDERS["healthcheck"])
        elif key == "deploy" and isinstance(value, dict):
            out[key] = _deploy(value)
        elif key == "networks":
            out[key] = {name: None if entry is None else
                        _ordered(entry, _ORDERS["service_network"])
                        for name, entry in _sorted(value).items()}
        elif key in ("secrets", "configs"):
            out[key] = [_reference(entry) for entry in value]
        elif key == "logging":
            logging = _ordered(value, _ORDERS["logging"])
            if "options" in logging:
                logging["options"] = _sorted(logging["options"])
            out[key] = logging
        elif key == "env_file":
            out[key] = [_ordered(entry, _ORDERS["env_file"]) for entry in value]
        elif key == "ulimits":
            out[key] = {name: _ordered(limit, _ORDERS["ulimit"]) if isinstance(limit, dict)
                        else limit for name, limit in _sorted(value).items()}
        elif key == "devices":
            out[key] = [_ordered(entry, _ORDERS["device"]) for entry in value]
    return out


def _mount(entry: dict[str, Any]) -> dict[str, Any]:
    out = _ordered(entry, _ORDERS["mount"])
    if isinstance(out.get("bind"), dict):
        out["bind"] = _ordered(out["bind"], _ORDERS["bind"])
    return out


def _deploy(deploy: dict[str, Any]) -> dict[str, Any]:
    out = _ordered(deploy, _ORDERS["deploy"])
    if isinstance(out.get("labels"), dict):
        out["labels"] = _sorted(out["labels"])
    if isinstance(out.get("resources"), dict):
        resources = _ordered(out["resources"], _ORDERS["resources"])
        out["resources"] = {k: _ordered(v, _ORDERS["resource"]) if isinstance(v, dict) else v
                            for k, v in resources.items()}
    if isinstance(out.get("restart_policy"), dict):
        out["restart_policy"] = _ordered(out["restart_policy"], _ORDERS["restart_policy"])
    return out


def _network(network: dict[str, Any]) -> dict[str, Any]:
    out = _ordered(network, _ORDERS["network"])
    ipam = out.get("ipam")
    if isinstance(ipam, dict):
        ipam = _ordered(ipam, _ORDERS["ipam"])
        if isinstance(ipam.get("config"), list):
            ipam["config"] = [_ordered(pool, _ORDERS["pool"]) if isinstance(pool, dict)
                              else pool for pool in ipam["config"]]
        out["ipam"] = ipam
    return out


def canonical(model: dict[str, Any]) -> dict[str, Any]:
    """The model (a Project.to_dict()) with every mapping in output order."""
    out = _ordered(model, _TOP)
    if "services" in out:
        out["services"] = {name: _service(service)
                           for name, service in _sorted(out["services"]).items()}
    if "networks" in out:
        out["networks"] = {name: _network(n) for name, n in _sorted(out["networks"]).items()}
    if "volumes" in out:
        out["volumes"] = {name: _ordered(v, _ORDERS["volume"])
                          for name, v in _sorted(out["volumes"]).items()}
    for kind in ("secrets", "configs"):
        if kind in out:
            out[kind] = {name: _ordered(v, _ORDERS["file_object"])
                         for name, v in _sorted(out[kind]).items()}
    return out


class _Dumper(yaml.SafeDumper):
    """Block style, sequences indented under their key, mappings in given order."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_STR = "tag:yaml.org,2002:str"


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Plain when the text reads back as the same string, else double-quoted (as
    docker compose quotes `"8080"`); several lines as a literal block."""
    if "\n" in value.rstrip("\n") and not value.endswith(" "):
        return dumper.represent_scalar(_STR, value, style="|")
    analysis = dumper.analyze_scalar(value)
    plain = (value != "" and analysis.allow_block_plain
             and dumper.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
             == _STR)
    return dumper.represent_scalar(_STR, value, style=None if plain else '"')


_Dumper.add_representer(str, _represent_str)


def to_yaml(model: dict[str, Any]) -> str:
    return yaml.dump(canonical(model), Dumper=_Dumper, sort_keys=False,
                     default_flow_style=False, allow_unicode=True, width=1 << 20, indent=2)


def to_json(model: dict[str, Any]) -> str:
    return json.dumps(canonical(model), indent=2, ensure_ascii=False) + "\n"
