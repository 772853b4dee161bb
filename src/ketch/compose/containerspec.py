"""A service's canonical definition -> the body of `POST /containers/create`.

What docker compose v2 sends for each container of a service (its getCreateConfigs):
Config + HostConfig + NetworkingConfig in the Engine API's field names, the compose
labels that record the project's state, each network's endpoint with the service name
as an alias (so that the embedded DNS answers the service name with every replica).
Pure data in, data out: no engine is asked anything here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ketch.compose import labels as L
from ketch.compose.errors import ComposeError
from ketch.compose.model import Project, Service, config_hash
from ketch.compose.units import parse_duration

NANO = 1_000_000_000


@dataclass
class ContainerSpec:
    """What makes one container of a service besides the service itself."""

    name: str  # the container's name
    number: int  # com.docker.compose.container-number
    image: str  # the image reference to create from
    oneoff: bool = False
    image_id: str = ""  # recorded in com.docker.compose.image when known
    # `network_mode: service:x` / `volumes_from: x`: x's container (name or ID)
    service_containers: dict[str, str] = field(default_factory=dict)
    # overrides of `run`
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    extra_labels: dict[str, str] = field(default_factory=dict)
    tty: bool | None = None
    stdin_open: bool | None = None
    user: str | None = None
    working_dir: str | None = None
    publish: bool = True  # `run` publishes the service's ports only with --service-ports
    publish_specs: list[str] = field(default_factory=list)  # `run -p`
    attach_stdin: bool = False  # `run` attached with stdin
    auto_remove: bool = False


def container_name(project: str, service: str, number: int, legacy: bool = False) -> str:
    """docker compose v2's `<project>-<service>-<n>` (1.29's `<project>_<service>_<n>`)."""
    sep = "_" if legacy else "-"
    return f"{project}{sep}{service}{sep}{number}"


def environment_list(environment: dict[str, Any]) -> list[str]:
    """`K=V` entries; a `null` value is a bare `K` (unset in the container)."""
    return [key if value is None else f"{key}={value}"
            for key, value in sorted(environment.items())]


def compose_labels(project: Project, service_name: str, service: Service,
                   number: int, oneoff: bool) -> dict[str, str]:
    """The compose labels of a container of this service."""
    labels = {
        L.PROJECT: project.name,
        L.SERVICE: service_name,
        L.NUMBER: str(number),
        L.ONEOFF: "True" if oneoff else "False",
        L.CONFIG_HASH: config_hash(service),
        L.WORKING_DIR: project.working_dir,
        L.CONFIG_FILES: ",".join(project.config_files),
        L.VERSION: L.COMPOSE_VERSION,
    }
    depends = service.get("depends_on") or {}
    if depends:
        labels[L.DEPENDS_ON] = ",".join(
            f"{name}:{entry.get('condition', 'service_started')}:"
            f"{str(bool(entry.get('restart', False))).lower()}"
            for name, entry in sorted(depends.items()))
    return labels


def port_specs(service: Service) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """(ExposedPorts, PortBindings) of `ports` and `expose`."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for entry in service.get("ports") or []:
        key = f"{entry['target']}/{entry.get('protocol') or 'tcp'}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": str(entry.get("host_ip") or ""),
                                             "HostPort": str(entry.get("published") or "")})
    for item in service.get("expose") or []:
        text = str(item)
        port, _, proto = text.partition("/")
        start, _, end = port.partition("-")
        low, high = int(start), int(end or start)
        for number in range(low, high + 1):
            exposed.setdefault(f"{number}/{proto or 'tcp'}", {})
    return exposed, bindings


def mounts(project: Project, service: Service) -> tuple[list[str], list[dict[str, Any]]]:
    """(Binds, Mounts): binds that create their host path go in Binds as docker
    compose sends them; volumes, tmpfs and the other binds in Mounts."""
    binds: list[str] = []
    out: list[dict[str, Any]] = []
    for entry in service.get("volumes") or []:
        kind = entry.get("type", "volume")
        target = entry["target"]
        read_only = bool(entry.get("read_only"))
        if kind == "bind":
            bind = entry.get("bind") or {}
            if bind.get("create_host_path") and not bind.get("recursive"):
                options = ["ro" if read_only else "rw"]
                if bind.get("selinux"):
                    options.append(bind["selinux"])
                if bind.get("propagation"):
                    options.append(bind["propagation"])
                binds.append(f"{entry['source']}:{target}:{','.join(options)}")
                continue
            mount: dict[str, Any] = {"Type": "bind", "Source": entry["source"],
                                     "Target": target, "ReadOnly": read_only}
            if bind.get("propagation"):
                mount["BindOptions"] = {"Propagation": bind["propagation"]}
            out.append(mount)
        elif kind == "volume":
            source = entry.get("source")
            mount = {"Type": "volume", "Target": target, "ReadOnly": read_only}
            if source:
                declared = project.volumes.get(source)
                mount["Source"] = declared["name"] if declared else source
            volume = entry.get("volume") or {}
            volume_options: dict[str, Any] = {}
            if volume.get("nocopy"):
                volume_options["NoCopy"] = True
            if volume.get("subpath"):
                volume_options["Subpath"] = volume["subpath"]
            if volume_options:
                mount["VolumeOptions"] = volume_options
            out.append(mount)
        elif kind == "tmpfs":
            tmpfs = entry.get("tmpfs") or {}
            mount = {"Type": "tmpfs", "Target": target, "ReadOnly": read_only}
            tmpfs_options: dict[str, Any] = {}
            if tmpfs.get("size"):
                tmpfs_options["SizeBytes"] = int(tmpfs["size"])
            if tmpfs.get("mode"):
                tmpfs_options["Mode"] = int(tmpfs["mode"])
            if tmpfs_options:
                mount["TmpfsOptions"] = tmpfs_options
            out.append(mount)
        else:
            raise ComposeError(f"volume type {kind} is not supported by ketch compose")
    for kind, directory in (("secrets", "/run/secrets/"), ("configs", "/")):
        declared_files = getattr(project, kind)
        for reference in service.get(kind) or []:
            source = declared_files.get(reference["source"]) or {}
            if not source.get("file"):
                raise ComposeError(f"{kind[:-1]} {reference['source']}: only file-based "
                                   f"{kind} are supported by ketch compose")
            target = reference.get("target") or directory + reference["source"]
            out.append({"Type": "bind", "Source": source["file"], "Target": target,
                        "ReadOnly": True})
    return binds, out


def healthcheck(service: Service) -> dict[str, Any] | None:
    check = service.get("healthcheck")
    if not check:
        return None
    if check.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    if check.get("test"):
        out["Test"] = list(check["test"])
    for key, name in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start_period", "StartPeriod"), ("start_interval", "StartInterval")):
        if check.get(key) is not None:
            out[name] = parse_duration(str(check[key]))
    if check.get("retries") is not None:
        out["Retries"] = int(check["retries"])
    return out


def restart_policy(service: Service) -> dict[str, Any]:
    text = service.get("restart")
    if not text:
        policy = (service.get("deploy") or {}).get("restart_policy")
        if policy:
            condition = {"any": "always", "on-failure": "on-failure",
                         "none": "no"}.get(str(policy.get("condition") or "any"), "always")
            return {"Name": condition,
                    "MaximumRetryCount": int(policy.get("max_attempts") or 0)}
        return {"Name": "no", "MaximumRetryCount": 0}
    name, _, count = str(text).partition(":")
    return {"Name": name, "MaximumRetryCount": int(count) if count.isdigit() else 0}


def resources(service: Service) -> dict[str, Any]:
    """The HostConfig resource fields of mem_limit, cpus, ... and deploy.resources."""
    out: dict[str, Any] = {}
    deploy = (service.get("deploy") or {}).get("resources") or {}
    limits = deploy.get("limits") or {}
    reservations = deploy.get("reservations") or {}
    memory = service.get("mem_limit") or limits.get("memory")
    if memory:
        out["Memory"] = int(memory)
    cpus = service.get("cpus") or limits.get("cpus")
    if cpus:
        out["NanoCpus"] = round(float(cpus) * NANO)
    pids = service.get("pids_limit") or limits.get("pids")
    if pids:
        out["PidsLimit"] = int(pids)
    reservation = service.get("mem_reservation") or reservations.get("memory")
    if reservation:
        out["MemoryReservation"] = int(reservation)
    for key, name in (("memswap_limit", "MemorySwap"), ("cpu_shares", "CpuShares"),
                      ("cpu_quota", "CpuQuota"), ("cpu_period", "CpuPeriod"),
                      ("cpu_rt_runtime", "CpuRealtimeRuntime"),
                      ("cpu_rt_period", "CpuRealtimePeriod"), ("mem_swappiness",
                                                                "MemorySwappiness")):
        if service.get(key) is not None:
            out[name] = int(service[key])
    if service.get("cpuset"):
        out["CpusetCpus"] = str(service["cpuset"])
    if service.get("oom_kill_disable"):
        out["OomKillDisable"] = True
    if service.get("devices"):
        out["Devices"] = [{"PathOnHost": d["source"], "PathInContainer": d["target"],
                           "CgroupPermissions": d.get("permissions") or "rwm"}
                          for d in service["devices"]]
    if service.get("device_cgroup_rules"):
        out["DeviceCgroupRules"] = list(service["device_cgroup_rules"])
    if service.get("ulimits"):
        ulimits = []
        for name, value in sorted(service["ulimits"].items()):
            if isinstance(value, dict):
                ulimits.append({"Name": name, "Soft": int(value["soft"]),
                                "Hard": int(value["hard"])})
            else:
                ulimits.append({"Name": name, "Soft": int(value), "Hard": int(value)})
        out["Ulimits"] = ulimits
    blkio = service.get("blkio_config") or {}
    if blkio.get("weight"):
        out["BlkioWeight"] = int(blkio["weight"])
    return out


def network_priority(item: tuple[str, dict[str, Any] | None]) -> tuple[int, str]:
    """Networks by descending `priority`, then name, as docker compose orders them."""
    name, entry = item
    return (-int((entry or {}).get("priority") or 0), name)


def networking(project: Project, service_name: str, service: Service,
               spec: ContainerSpec) -> tuple[str, dict[str, Any]]:
    """(HostConfig.NetworkMode, EndpointsConfig): every network of the service, its
    endpoint aliased with the service name (and the entry's aliases)."""
    mode = service.get("network_mode")
    if mode:
        if mode.startswith("service:"):
            target = mode[len("service:"):]
            container = spec.service_containers.get(target)
            if not container:
                raise ComposeError(f'service "{service_name}" depends on service "{target}" '
                                   "for its network, which has no container")
            return f"container:{container}", {}
        return str(mode), {}
    endpoints: dict[str, Any] = {}
    ordered = sorted((service.get("networks") or {}).items(), key=network_priority)
    for key, entry in ordered:
        declared = project.networks.get(key) or {"name": key}
        entry = entry or {}
        aliases = [service_name, *[a for a in entry.get("aliases") or []
                                   if a != service_name]]
        endpoint: dict[str, Any] = {"Aliases": aliases}
        ipam: dict[str, Any] = {}
        if entry.get("ipv4_address"):
            ipam["IPv4Address"] = entry["ipv4_address"]
        if entry.get("ipv6_address"):
            ipam["IPv6Address"] = entry["ipv6_address"]
        if entry.get("link_local_ips"):
            ipam["LinkLocalIPs"] = list(entry["link_local_ips"])
        if ipam:
            endpoint["IPAMConfig"] = ipam
        if entry.get("mac_address"):
            endpoint["MacAddress"] = entry["mac_address"]
        if entry.get("driver_opts"):
            endpoint["DriverOpts"] = dict(entry["driver_opts"])
        if entry.get("gw_priority"):
            endpoint["GwPriority"] = int(entry["gw_priority"])
        endpoints[declared["name"]] = endpoint
    if not endpoints:
        return "none", {}
    return next(iter(endpoints)), endpoints


def _strings(value: Any) -> list[str] | None:
    return None if value is None else [str(part) for part in value]


def create_body(project: Project, service_name: str, service: Service,
                spec: ContainerSpec) -> dict[str, Any]:
    """The `POST /containers/create` body of one container of the service."""
    environment = dict(service.get("environment") or {})
    environment.update(spec.environment)
    labels = {**{k: str(v) for k, v in (service.get("labels") or {}).items()},
              **compose_labels(project, service_name, service, spec.number, spec.oneoff),
              **spec.extra_labels}
    if spec.image_id:
        labels[L.IMAGE] = spec.image_id
    exposed, bindings = port_specs(service)
    if not spec.publish:
        bindings = {}
    if spec.publish_specs:
        from ketch.compose.ports import PortError, parse_port

        extra: list[Any] = []
        for item in spec.publish_specs:
            try:
                extra.extend(parse_port(item))
            except PortError as exc:
                raise ComposeError(str(exc)) from None
        more_exposed, more_bindings = port_specs({"ports": extra})
        exposed = {**exposed, **more_exposed}
        bindings = {**bindings, **more_bindings}
    binds, mount_list = mounts(project, service)
    network_mode, endpoints = networking(project, service_name, service, spec)
    tty = bool(service.get("tty")) if spec.tty is None else spec.tty
    stdin_open = bool(service.get("stdin_open")) if spec.stdin_open is None \
        else spec.stdin_open
    command = spec.command if spec.command is not None else _strings(service.get("command"))
    entrypoint = spec.entrypoint if spec.entrypoint is not None \
        else _strings(service.get("entrypoint"))

    config: dict[str, Any] = {
        "Hostname": str(service.get("hostname") or ""),
        "Domainname": str(service.get("domainname") or ""),
        "User": spec.user if spec.user is not None else str(service.get("user") or ""),
        "AttachStdin": spec.attach_stdin,
        "AttachStdout": True,
        "AttachStderr": True,
        "ExposedPorts": exposed or None,
        "Tty": tty,
        "OpenStdin": stdin_open or spec.attach_stdin,
        "StdinOnce": spec.attach_stdin,
        "Env": environment_list(environment) or None,
        "Cmd": command,
        "Image": spec.image,
        "WorkingDir": spec.working_dir if spec.working_dir is not None
        else str(service.get("working_dir") or ""),
        "Entrypoint": entrypoint,
        "Labels": labels,
    }
    check = healthcheck(service)
    if check is not None:
        config["Healthcheck"] = check
    if service.get("stop_signal"):
        config["StopSignal"] = str(service["stop_signal"])
    if service.get("stop_grace_period") is not None:
        config["StopTimeout"] = parse_duration(str(service["stop_grace_period"])) // NANO
    if service.get("mac_address"):
        config["MacAddress"] = str(service["mac_address"])

    logging = service.get("logging") or {}
    host: dict[str, Any] = {
        "Binds": binds or None,
        "Mounts": mount_list or None,
        "NetworkMode": network_mode,
        "PortBindings": bindings or None,
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0} if spec.oneoff
        else restart_policy(service),
        "AutoRemove": spec.auto_remove,
        "CapAdd": _strings(service.get("cap_add")),
        "CapDrop": _strings(service.get("cap_drop")),
        "Dns": _strings(service.get("dns")),
        "DnsOptions": _strings(service.get("dns_opt")),
        "DnsSearch": _strings(service.get("dns_search")),
        "ExtraHosts": [host.replace("=", ":", 1) for host in service.get("extra_hosts") or []]
        or None,
        "GroupAdd": _strings(service.get("group_add")),
        "Privileged": bool(service.get("privileged")),
        "ReadonlyRootfs": bool(service.get("read_only")),
        "SecurityOpt": _strings(service.get("security_opt")),
        "LogConfig": {"Type": str(logging.get("driver") or ""),
                      "Config": dict(logging.get("options") or {})},
        "VolumesFrom": _volumes_from(service, spec) or None,
        "Links": _links(service) or None,
    }
    if service.get("init") is not None:
        host["Init"] = bool(service["init"])
    if service.get("shm_size"):
        host["ShmSize"] = int(service["shm_size"])
    if service.get("sysctls"):
        host["Sysctls"] = {k: str(v) for k, v in service["sysctls"].items()}
    if service.get("tmpfs"):
        tmpfs: dict[str, str] = {}
        for item in service["tmpfs"]:
            path, _, options = str(item).partition(":")
            tmpfs[path] = options
        host["Tmpfs"] = tmpfs
    for key, name in (("pid", "PidMode"), ("ipc", "IpcMode"), ("uts", "UTSMode"),
                      ("userns_mode", "UsernsMode"), ("cgroup", "CgroupnsMode"),
                      ("cgroup_parent", "CgroupParent"), ("runtime", "Runtime"),
                      ("isolation", "Isolation")):
        if service.get(key):
            host[name] = str(service[key])
    if service.get("oom_score_adj") is not None:
        host["OomScoreAdj"] = int(service["oom_score_adj"])
    if service.get("storage_opt"):
        host["StorageOpt"] = dict(service["storage_opt"])
    host.update(resources(service))
    body: dict[str, Any] = {**config, "HostConfig": host}
    if endpoints:
        body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    return body


def _volumes_from(service: Service, spec: ContainerSpec) -> list[str]:
    out = []
    for item in service.get("volumes_from") or []:
        source, _, mode = str(item).partition(":")
        if source.startswith("container:"):
            reference = source[len("container:"):]
        else:
            name = source[len("service:"):] if source.startswith("service:") else source
            reference = spec.service_containers.get(name, name)
        out.append(f"{reference}:{mode}" if mode else reference)
    return out


def _links(service: Service) -> list[str]:
    """`external_links` only: a service's `links` are answered by the network's DNS (the
    service name is an alias of each of its containers)."""
    out = []
    for item in service.get("external_links") or []:
        name, _, alias = str(item).partition(":")
        out.append(f"{name}:{alias or name}")
    return out
