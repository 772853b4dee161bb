"""What a compose file may contain: the compose specification's schema, as data.

Written here with a few helpers rather than loaded from JSON, so that each rule reads
in one line. Values may be strings where a number or a boolean is expected (they may
come from variables); `normalize` converts them, and says where when it cannot.
`schemacheck` applies these rules.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

NAME = r"^[a-zA-Z0-9._-]+$"  # services, networks, volumes, secrets, configs
EXTENSION = r"^x-"


def typed(*names: str, **rules: Any) -> Schema:
    return {"type": names, **rules}


def one_of(*options: Schema) -> Schema:
    return {"oneOf": options}


def mapping(properties: dict[str, Schema] | None = None, *, required: tuple[str, ...] = (),
            patterns: dict[str, Schema] | None = None, closed: bool = True,
            extensions: bool = True, nullable: bool = False) -> Schema:
    """An object; `closed` refuses keys that are neither properties nor patterns;
    `extensions` allows `x-*` keys."""
    allowed = dict(patterns or {})
    if extensions:
        allowed[EXTENSION] = {}
    schema: Schema = {"type": ("object", "null") if nullable else ("object",),
                      "properties": properties or {}, "patternProperties": allowed}
    if closed:
        schema["additionalProperties"] = False
    if required:
        schema["required"] = required
    return schema


def sequence(items: Schema, unique: bool = False) -> Schema:
    return {"type": ("array",), "items": items, "uniqueItems": unique}


STRING = typed("string")
BOOL = typed("boolean", "string")
INT = typed("integer", "string")
NUMBER = typed("number", "string")
ANY: Schema = {}
LIST_OF_STRINGS = sequence(STRING, unique=True)
STRING_OR_LIST = one_of(STRING, LIST_OF_STRINGS)
LIST_OR_DICT = one_of(
    mapping(patterns={".+": typed("string", "number", "boolean", "null")}, extensions=False),
    sequence(STRING, unique=True))
COMMAND = one_of(typed("null"), STRING, sequence(STRING))
DRIVER_OPTS = mapping(patterns={"^.+$": typed("string", "number")}, extensions=False)
EXTRA_HOSTS = one_of(
    mapping(patterns={".+": one_of(STRING, sequence(STRING))}, extensions=False),
    sequence(STRING, unique=True))
ULIMITS = mapping(patterns={"^[a-z]+$": one_of(
    typed("integer", "string"),
    mapping({"hard": INT, "soft": INT}, required=("soft", "hard")))},
    closed=False, extensions=False)
EXTERNAL = one_of(typed("boolean", "string"), mapping({"name": STRING}))
FILE_REFERENCES = sequence(one_of(STRING, mapping({
    "source": STRING, "target": STRING, "uid": STRING, "gid": STRING,
    "mode": NUMBER})))
ENV_FILE = one_of(STRING, sequence(one_of(STRING, mapping(
    {"path": STRING, "format": STRING, "required": BOOL},
    required=("path",), extensions=False))))
DEVICE_REQUESTS = sequence(mapping({
    "capabilities": LIST_OF_STRINGS, "count": typed("string", "integer"),
    "device_ids": LIST_OF_STRINGS, "driver": STRING, "options": LIST_OR_DICT}))
BLKIO_LIMIT = mapping({"path": STRING, "rate": INT}, extensions=False)
BLKIO_WEIGHT = mapping({"path": STRING, "weight": INT}, extensions=False)
SERVICE_HOOK = mapping({"command": COMMAND, "user": STRING, "privileged": BOOL,
                        "working_dir": STRING, "environment": LIST_OR_DICT},
                       required=("command",))

BUILD = one_of(STRING, mapping({
    "context": STRING, "dockerfile": STRING, "dockerfile_inline": STRING,
    "entitlements": sequence(STRING), "args": LIST_OR_DICT, "ssh": LIST_OR_DICT,
    "labels": LIST_OR_DICT, "cache_from": sequence(STRING), "cache_to": sequence(STRING),
    "no_cache": BOOL, "additional_contexts": LIST_OR_DICT, "network": STRING,
    "provenance": typed("string", "boolean"), "sbom": typed("string", "boolean"),
    "pull": BOOL, "target": STRING, "shm_size": typed("integer", "string"),
    "extra_hosts": EXTRA_HOSTS, "isolation": STRING, "privileged": BOOL,
    "secrets": FILE_REFERENCES, "tags": sequence(STRING), "ulimits": ULIMITS,
    "platforms": sequence(STRING),
}))

DEPENDS_ON = one_of(LIST_OF_STRINGS, mapping(patterns={NAME: mapping({
    "restart": BOOL, "required": typed("boolean"),
    "condition": typed("string", enum=["service_started", "service_healthy",
                                       "service_completed_successfully"]),
}, required=("condition",))}, extensions=False))

SERVICE_NETWORK = one_of(mapping({
    "aliases": LIST_OF_STRINGS, "interface_name": STRING, "ipv4_address": STRING,
    "ipv6_address": STRING, "link_local_ips": LIST_OF_STRINGS, "mac_address": STRING,
    "driver_opts": DRIVER_OPTS, "priority": typed("number"), "gw_priority": typed("number"),
}), typed("null"))

PORT = one_of(typed("number"), STRING, mapping({
    "name": STRING, "mode": STRING, "host_ip": STRING, "target": INT,
    "published": typed("string", "integer"), "protocol": STRING, "app_protocol": STRING,
}))

VOLUME_MOUNT = one_of(STRING, mapping({
    "type": typed("string", enum=["bind", "volume", "tmpfs", "cluster", "npipe", "image"]),
    "source": STRING, "target": STRING, "read_only": BOOL, "consistency": STRING,
    "bind": mapping({
        "propagation": STRING, "create_host_path": BOOL,
        "recursive": typed("string", enum=["enabled", "disabled", "writable", "readonly"]),
        "selinux": typed("string", enum=["z", "Z"])}),
    "volume": mapping({"labels": LIST_OR_DICT, "nocopy": BOOL, "subpath": STRING}),
    "tmpfs": mapping({"size": one_of(typed("integer", minimum=0), STRING), "mode": NUMBER}),
    "image": mapping({"subpath": STRING}),
}, required=("type",)))

HEALTHCHECK = mapping({
    "disable": BOOL, "interval": STRING, "retries": NUMBER,
    "test": one_of(STRING, sequence(STRING)), "timeout": STRING, "start_period": STRING,
    "start_interval": STRING,
})

_RESOURCE_LIMITS = mapping({"cpus": NUMBER, "memory": STRING, "pids": INT})
_RESOURCE_RESERVATIONS = mapping({
    "cpus": NUMBER, "memory": STRING,
    "generic_resources": sequence(mapping({"discrete_resource_spec": mapping({
        "kind": STRING, "value": NUMBER})})),
    "devices": DEVICE_REQUESTS,
})
_UPDATE_CONFIG = mapping({
    "parallelism": INT, "delay": STRING, "failure_action": STRING, "monitor": STRING,
    "max_failure_ratio": NUMBER,
    "order": typed("string", enum=["start-first", "stop-first"]),
})
DEPLOY = mapping({
    "mode": STRING, "endpoint_mode": STRING, "replicas": INT, "labels": LIST_OR_DICT,
    "rollback_config": _UPDATE_CONFIG, "update_config": _UPDATE_CONFIG,
    "resources": mapping({"limits": _RESOURCE_LIMITS,
                          "reservations": _RESOURCE_RESERVATIONS}),
    "restart_policy": mapping({"condition": STRING, "delay": STRING, "max_attempts": INT,
                               "window": STRING}),
    "placement": mapping({
        "constraints": sequence(STRING),
        "preferences": sequence(mapping({"spread": STRING})),
        "max_replicas_per_node": INT}),
}, nullable=True)

SERVICE = mapping({
    "develop": mapping({"watch": sequence(mapping({
        "ignore": STRING_OR_LIST, "include": STRING_OR_LIST, "path": STRING,
        "action": typed("string", enum=["rebuild", "sync", "restart", "sync+restart",
                                        "sync+exec"]),
        "target": STRING, "exec": SERVICE_HOOK}, required=("path", "action")))},
        nullable=True),
    "deploy": DEPLOY,
    "annotations": LIST_OR_DICT,
    "attach": BOOL,
    "build": BUILD,
    "blkio_config": mapping({
        "device_read_bps": sequence(BLKIO_LIMIT), "device_read_iops": sequence(BLKIO_LIMIT),
        "device_write_bps": sequence(BLKIO_LIMIT), "device_write_iops": sequence(BLKIO_LIMIT),
        "weight": INT, "weight_device": sequence(BLKIO_WEIGHT)}, extensions=False),
    "cap_add": LIST_OF_STRINGS,
    "cap_drop": LIST_OF_STRINGS,
    "cgroup": typed("string", enum=["host", "private"]),
    "cgroup_parent": STRING,
    "command": COMMAND,
    "configs": FILE_REFERENCES,
    "container_name": typed("string", pattern=r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"),
    "cpu_count": one_of(STRING, typed("integer", minimum=0)),
    "cpu_percent": one_of(STRING, typed("integer", minimum=0, maximum=100)),
    "cpu_shares": NUMBER,
    "cpu_quota": NUMBER,
    "cpu_period": NUMBER,
    "cpu_rt_period": NUMBER,
    "cpu_rt_runtime": NUMBER,
    "cpus": NUMBER,
    "cpuset": STRING,
    "credential_spec": mapping({"config": STRING, "file": STRING, "registry": STRING}),
    "depends_on": DEPENDS_ON,
    "device_cgroup_rules": LIST_OF_STRINGS,
    "devices": sequence(one_of(STRING, mapping(
        {"source": STRING, "target": STRING, "permissions": STRING}, required=("source",)))),
    "dns": STRING_OR_LIST,
    "dns_opt": sequence(STRING, unique=True),
    "dns_search": STRING_OR_LIST,
    "domainname": STRING,
    "entrypoint": COMMAND,
    "env_file": ENV_FILE,
    "label_file": one_of(STRING, sequence(STRING)),
    "environment": LIST_OR_DICT,
    "expose": sequence(typed("string", "number"), unique=True),
    "extends": one_of(STRING, mapping({"service": STRING, "file": STRING},
                                      required=("service",), extensions=False)),
    "provider": mapping({"type": STRING, "options": mapping(
        patterns={"^.+$": ANY}, extensions=False)}, required=("type",)),
    "external_links": sequence(STRING, unique=True),
    "extra_hosts": EXTRA_HOSTS,
    "gpus": one_of(typed("string", enum=["all"]), DEVICE_REQUESTS),
    "group_add": sequence(typed("string", "number"), unique=True),
    "healthcheck": HEALTHCHECK,
    "hostname": STRING,
    "image": STRING,
    "init": BOOL,
    "ipc": STRING,
    "isolation": STRING,
    "labels": LIST_OR_DICT,
    "links": sequence(STRING, unique=True),
    "logging": mapping({"driver": STRING, "options": mapping(
        patterns={"^.+$": typed("string", "number", "null")}, extensions=False)}),
    "mac_address": STRING,
    "mem_limit": NUMBER,
    "mem_reservation": typed("string", "integer"),
    "mem_swappiness": INT,
    "memswap_limit": NUMBER,
    "network_mode": STRING,
    "models": one_of(LIST_OF_STRINGS, mapping(patterns={NAME: mapping(
        {"endpoint_var": STRING, "model_var": STRING})}, extensions=False)),
    "networks": one_of(LIST_OF_STRINGS, mapping(patterns={NAME: SERVICE_NETWORK},
                                                extensions=False)),
    "oom_kill_disable": BOOL,
    "oom_score_adj": one_of(STRING, typed("integer", minimum=-1000, maximum=1000)),
    "pid": typed("string", "null"),
    "pids_limit": NUMBER,
    "platform": STRING,
    "ports": sequence(PORT, unique=True),
    "post_start": sequence(SERVICE_HOOK),
    "pre_stop": sequence(SERVICE_HOOK),
    "privileged": BOOL,
    "profiles": LIST_OF_STRINGS,
    "pull_policy": typed("string", pattern=r"always|never|build|if_not_present|missing|"
                                           r"refresh|daily|weekly|every_([0-9]+[wdhms])+"),
    "pull_refresh_after": STRING,
    "read_only": BOOL,
    "restart": STRING,
    "runtime": STRING,
    "scale": INT,
    "security_opt": sequence(STRING, unique=True),
    "shm_size": NUMBER,
    "secrets": FILE_REFERENCES,
    "sysctls": LIST_OR_DICT,
    "stdin_open": BOOL,
    "stop_grace_period": STRING,
    "stop_signal": STRING,
    "storage_opt": mapping(closed=False, extensions=False),
    "tmpfs": STRING_OR_LIST,
    "tty": BOOL,
    "ulimits": ULIMITS,
    "use_api_socket": typed("boolean"),
    "user": STRING,
    "uts": STRING,
    "userns_mode": STRING,
    "volumes": sequence(VOLUME_MOUNT, unique=True),
    "volumes_from": sequence(STRING, unique=True),
    "working_dir": STRING,
})

NETWORK = mapping({
    "name": STRING, "driver": STRING, "driver_opts": DRIVER_OPTS,
    "ipam": mapping({
        "driver": STRING,
        "config": sequence(mapping({
            "subnet": STRING, "ip_range": STRING, "gateway": STRING,
            "aux_addresses": mapping(patterns={"^.+$": STRING}, extensions=False)})),
        "options": mapping(patterns={"^.+$": STRING}, extensions=False)}),
    "external": EXTERNAL, "internal": BOOL, "enable_ipv4": BOOL, "enable_ipv6": BOOL,
    "attachable": BOOL, "labels": LIST_OR_DICT,
}, nullable=True)

VOLUME = mapping({
    "name": STRING, "driver": STRING, "driver_opts": DRIVER_OPTS, "external": EXTERNAL,
    "labels": LIST_OR_DICT,
}, nullable=True)

SECRET = mapping({
    "name": STRING, "environment": STRING, "file": STRING, "external": EXTERNAL,
    "labels": LIST_OR_DICT, "driver": STRING, "driver_opts": DRIVER_OPTS,
    "template_driver": STRING,
})

CONFIG = mapping({
    "name": STRING, "content": STRING, "environment": STRING, "file": STRING,
    "external": EXTERNAL, "labels": LIST_OR_DICT, "template_driver": STRING,
})

MODEL = mapping({"name": STRING, "model": STRING, "context_size": typed("integer"),
                 "runtime_flags": sequence(STRING)}, required=("model",))

INCLUDE = one_of(STRING, mapping({"path": STRING_OR_LIST, "env_file": STRING_OR_LIST,
                                  "project_directory": STRING}, extensions=False))


def _named(item: Schema, closed: bool = True) -> Schema:
    return mapping(patterns={NAME: item}, extensions=False, closed=closed)


COMPOSE_FILE = mapping({
    "version": typed("string", "number"),  # ignored; `version: 3.8` is common unquoted
    "name": STRING,
    "include": sequence(INCLUDE),
    "services": _named(SERVICE),
    "models": _named(MODEL, closed=False),
    "networks": _named(NETWORK, closed=False),
    "volumes": _named(VOLUME),
    "secrets": _named(SECRET),
    "configs": _named(CONFIG),
})
