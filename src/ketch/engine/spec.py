"""Turn a container's Config + HostConfig (and its image) into an OCI config.json, as moby does.

Defaults follow Docker's own (daemon/pkg/oci/defaults.go and oci_linux.go): the
14 default capabilities, the standard mounts, masked and read-only paths, the
device cgroup rules, RLIMIT_NOFILE 1024:524288, a private mount/uts/ipc/pid
namespace and a network namespace unless --network host.
"""

from __future__ import annotations

import os
from typing import Any

from ketch.engine import nsmodes, security
from ketch.engine.hostconfig import capabilities, resources, tmpfs_mounts
from ketch.engine.mounts import parse_mount, spec_mounts
from ketch.engine.users import read_db
from ketch.errors import InvalidParameter

DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
INIT_PATH = "/sbin/docker-init"
INIT_BINARIES = ("/usr/bin/tini-static", "/usr/libexec/docker/docker-init")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _mounts() -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
    ]


def _device_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    for major, minor in ((1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1)):
        rules.append({"allow": True, "type": "c", "major": major, "minor": minor,
                      "access": "rwm"})
    rules.append({"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"})
    return rules


def _nofile() -> dict[str, Any]:
    """1024:524288 like Docker's systemd default, never above what we may grant ourselves
    (raising a hard limit needs CAP_SYS_RESOURCE, which not every host gives root)."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 524288 if hard == resource.RLIM_INFINITY else min(524288, hard)
    return {"type": "RLIMIT_NOFILE", "soft": min(1024, limit), "hard": limit}


def command_line(config: dict[str, Any], image_config: dict[str, Any]) -> list[str]:
    """Entrypoint + Cmd with Docker's defaults: an explicit Entrypoint drops the image's Cmd."""
    entrypoint = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if entrypoint is None:
        entrypoint = image_config.get("Entrypoint") or []
        if not cmd:
            cmd = image_config.get("Cmd") or []
    args = list(entrypoint or []) + list(cmd or [])
    if not args:
        raise InvalidParameter("no command specified")
    return args


def merged_env(config: dict[str, Any], image_config: dict[str, Any], hostname: str,
               links: list[str] | None = None) -> list[str]:
    """PATH, then --link's variables, the image's and the container's (each overriding
    what came before), HOSTNAME and TERM, as Docker builds a container's environment."""
    env: dict[str, str] = {"PATH": DEFAULT_PATH}
    for item in (links or []) + (image_config.get("Env") or []) + (config.get("Env") or []):
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    env["HOSTNAME"] = hostname
    if config.get("Tty"):
        env.setdefault("TERM", "xterm")
    # Docker keeps PATH first and the rest in order of definition
    return [f"{k}={v}" for k, v in env.items()]


def resolve_user(user: str, rootfs: str, group_add: list[str] | None = None
                 ) -> dict[str, Any]:
    """"uid[:gid]" or "name[:group]" looked up in the container's /etc/passwd and /etc/group
    (with the user's supplementary groups, as Docker gives them, and --group-add's)."""
    if not isinstance(user, str):
        raise InvalidParameter("invalid User: must be a string")
    name, _, group = (user or "0").partition(":")  # root's groups count too, as Docker's
    uid: int | None = int(name) if name.isdigit() else None
    gid: int | None = None
    for fields in read_db(rootfs, "/etc/passwd", 4):
        if fields[0] == name or (uid is not None and fields[2] == name):
            uid, gid, name = _number(fields[2]), _number(fields[3]), fields[0]
            break
    if uid is None:
        raise InvalidParameter(f"unable to find user {name}: no matching entries in passwd file")
    groups = read_db(rootfs, "/etc/group", 4)
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = [f for f in groups if f[0] == group]
            if not found:
                raise InvalidParameter(f"unable to find group {group}: no matching entries "
                                       "in group file")
            gid = _number(found[0][2])
    # the primary group is among the supplementary ones, as Docker's (libcontainer) set
    # them; with a group given explicitly, it alone
    members = set() if group else {_number(f[2]) for f in groups if name in f[3].split(",")}
    for extra in group_add or []:
        if extra.isdigit():
            members.add(int(extra))
            continue
        found = [f for f in groups if f[0] == extra]
        if not found:
            raise InvalidParameter(f"Unable to find group {extra}: no matching entries in "
                                   "group file")
        members.add(_number(found[0][2]))
    result: dict[str, Any] = {"uid": uid, "gid": gid or 0,
                              "additionalGids": sorted({gid or 0} | members)}
    return result


def _number(text: str) -> int:
    if not text.isdigit():
        raise InvalidParameter(f"invalid id {text!r} in the container's passwd/group file")
    return int(text)


def init_mount() -> dict[str, Any]:
    """--init: tini (Debian's static build, the init dockerd ships as docker-init) bound
    read-only where dockerd puts it: PID 1 that reaps orphans and passes signals on."""
    for source in INIT_BINARIES:
        if os.access(source, os.X_OK):
            return {"destination": INIT_PATH, "type": "bind", "source": source,
                    "options": ["rbind", "ro", "nosuid", "nodev"]}
    raise InvalidParameter('exec: "docker-init": executable file not found in $PATH')


def all_capabilities() -> list[str]:
    """Every capability ketchd may give (--privileged's set): those of its own bounding
    set, as dockerd's privileged containers get the daemon's."""
    from ketch.runtime.caps import held

    return held()


def namespaces_for(host: dict[str, Any], sandbox: str | None = None,
                   lenders: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The container's namespaces: its own mount, and uts, pid and ipc unless shared with
    the host (--uts/--pid/--ipc host) or joined from the running container that lends
    them (lenders); a cgroup one for --cgroupns private; and the network namespace made
    for it (sandbox), a new one, or none of its own for --network host."""
    shared = nsmodes.host_namespaces(host)
    namespaces: list[dict[str, Any]] = [{"type": "mount"}]
    for kind in ("uts", "pid", "ipc"):
        if kind in shared:
            continue
        lender = (lenders or {}).get(kind)
        namespaces.append({"type": kind, "path": f"/proc/{lender.state['Pid']}/ns/{kind}"}
                          if lender is not None else {"type": kind})
    if host.get("CgroupnsMode") == "private":
        namespaces.append({"type": "cgroup"})
    if sandbox is not None:
        namespaces.append({"type": "network", "path": sandbox})
    elif (host.get("NetworkMode") or "default") != "host":
        namespaces.append({"type": "network"})
    return namespaces


def build_spec(record: dict[str, Any], image_config: dict[str, Any], rootfs: str,
               container_dir: str, sandbox: str | None = None,
               links: list[str] | None = None,
               lenders: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OCI spec; `sandbox` is the network namespace made for the container (None:
    the host's, for --network host)."""
    config = record["Config"]
    host = record["HostConfig"]
    image_cfg = image_config.get("config") or {}
    hostname = config.get("Hostname") or record["Id"][:12]
    network = host.get("NetworkMode") or "default"
    namespaces = namespaces_for(host, sandbox, lenders)
    privileged = bool(host.get("Privileged"))
    options = security.security_options(host)
    shm_size = int(host.get("ShmSize") or 64 * 1024 * 1024)
    mounts = _mounts()
    shm = nsmodes.shm_mount(host, container_dir, lenders or {}, shm_size)
    if shm is not None:
        mounts.append(shm)
    for m in mounts:  # privileged: /sys writable, and cgroups too (or when asked for)
        writable = privileged or (m["destination"] == "/sys/fs/cgroup" and
                                  options.writable_cgroups)
        if writable and m["destination"] in ("/sys", "/sys/fs/cgroup"):
            m["options"] = [o for o in m["options"] if o != "ro"]
    for name in ("hostname", "hosts", "resolv.conf"):
        mounts.append({"destination": f"/etc/{name}", "type": "bind",
                       "source": os.path.join(container_dir, name),
                       "options": ["rbind", "rprivate"]
                       + (["ro"] if host.get("ReadonlyRootfs") else [])})
    mounts += tmpfs_mounts(host)
    if host.get("Init"):
        mounts.append(init_mount())
    tmpfs = [parse_mount(m) for m in host.get("Mounts") or []
             if isinstance(m, dict) and m.get("Type") == "tmpfs"]
    mounts += spec_mounts(record.get("Mounts") or [], tmpfs)
    caps = all_capabilities() if privileged else capabilities(DEFAULT_CAPS, host)
    devices, device_rules = security.devices(host)
    masked, readonly = list(MASKED_PATHS), list(READONLY_PATHS)
    if host.get("MaskedPaths") is not None:  # the API's override (systempaths=unconfined)
        masked = list(host["MaskedPaths"])
    if host.get("ReadonlyPaths") is not None:
        readonly = list(host["ReadonlyPaths"])
    if privileged:
        masked, readonly = [], []
    spec: dict[str, Any] = {
        "ociVersion": "1.1.0",
        "process": {
            "terminal": bool(config.get("Tty")),
            "user": resolve_user(config.get("User") or image_cfg.get("User") or "", rootfs,
                                 host.get("GroupAdd") or []),
            "args": [INIT_PATH, "--", *command_line(config, image_cfg)]
            if host.get("Init") else command_line(config, image_cfg),
            "env": merged_env(config, image_cfg, hostname, links),
            "cwd": config.get("WorkingDir") or image_cfg.get("WorkingDir") or "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "rlimits": security.rlimits(host, _nofile()),
            "noNewPrivileges": options.no_new_privileges,
            "oomScoreAdj": int(host.get("OomScoreAdj") or 0),
        },
        "root": {"path": rootfs, "readonly": bool(host.get("ReadonlyRootfs"))},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": masked,
            "readonlyPaths": readonly,
            "devices": devices,
            "sysctl": security.sysctls(host, namespaces),
            "resources": {"devices": _device_rules() + device_rules, **resources(host)},
            "cgroupsPath": f"/ketch/{record['Id']}",
        },
    }
    profile = security.seccomp(host, caps)
    if profile is not None:
        spec["linux"]["seccomp"] = profile
    if config.get("Domainname"):
        spec["domainname"] = config["Domainname"]
    if network == "host" or host.get("UTSMode") == "host":
        spec.pop("hostname")  # the host's, never set by the container
    if host.get("UTSMode") == "host":
        spec.pop("domainname", None)
    return spec
