"""Load a bundle's config.json and check it against the runtime-spec before anything is made.

Validation happens up front so that a bad config fails with one clear line and
leaves nothing behind (no cgroup, mount or state). The config stays a plain dict
(the JSON as written); this module only guarantees its shape.
"""

from __future__ import annotations

import os

from ketch.errors import InvalidParameter, NotFound
from ketch.runtime import caps
from ketch.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Config = dict[str, Any]

NAMESPACE_TYPES = ("user", "cgroup", "ipc", "uts", "network", "pid", "mount", "time")
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")
PROPAGATIONS = ("shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate",
                "runbindable")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def invalid(msg: str) -> InvalidParameter:
    return InvalidParameter(f"invalid config.json: {msg}")


def check_id(container_id: str) -> None:
    if (not container_id or not _ID_CHARS.issuperset(container_id)
            or container_id in (".", "..")):
        raise InvalidParameter(f"invalid container id format: {container_id!r}")


def load_bundle(bundle: str) -> Config:
    """Read and validate `bundle`/config.json; root.path is made absolute."""
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise NotFound(f"bundle {bundle}: config.json not found") from None
    except OSError as e:
        raise InvalidParameter(f"bundle {bundle}: cannot read config.json: {e.strerror}") from None
    try:
        config = jsonio.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise invalid(f"not JSON ({e})") from None
    validate(config)
    assert isinstance(config, dict)
    root = config["root"]["path"]
    root = os.path.normpath(os.path.join(bundle, root))
    if not os.path.isdir(root):
        what = "is not a directory" if os.path.exists(root) else "does not exist"
        raise NotFound(f"rootfs ({root}) {what}")
    config["root"]["path"] = root
    return config


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, bool | type(None)) else str(value).lower()


def _type(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    # bool is an int in Python but never a number in JSON's sense here
    if isinstance(value, bool) and kind in (int, (int, float)):
        raise invalid(f"{where} must be a number, not {_show(value)}")
    if not isinstance(value, kind):
        names = {dict: "an object", list: "an array", str: "a string", int: "an integer",
                 bool: "a boolean"}
        want = names.get(kind, str(kind)) if isinstance(kind, type) else "a number"
        raise invalid(f"{where} must be {want}, not {_show(value)[:60]}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    for i, item in enumerate(_type(value, list, where)):
        _type(item, str, f"{where}[{i}]")
    return value  # type: ignore[no-any-return]


def _abs(value: Any, where: str) -> str:
    _type(value, str, where)
    if not value.startswith("/"):
        raise invalid(f"{where} must be an absolute path, not {value!r}")
    return value  # type: ignore[no-any-return]


def _opt(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if value is not None:
        _type(value, kind, f"{where}.{key}")
    return value


def validate(config: Any) -> None:
    _type(config, dict, "the document")
    _type(config.get("ociVersion"), str, "ociVersion")
    root = _type(config.get("root"), dict, "root")
    _type(root.get("path"), str, "root.path")
    if not root["path"]:
        raise invalid("root.path must not be empty")
    _opt(root, "readonly", bool, "root")
    _opt(config, "hostname", str, "")
    _opt(config, "domainname", str, "")
    annotations = _opt(config, "annotations", dict, "")
    for key, value in (annotations or {}).items():
        _type(value, str, f"annotations.{key}")
    process = config.get("process")
    if process is not None:  # optional until `start`
        validate_process(process, "process")
    for i, mount in enumerate(_opt(config, "mounts", list, "") or []):
        where = f"mounts[{i}]"
        _type(mount, dict, where)
        dest = _type(mount.get("destination"), str, f"{where}.destination")
        if not dest:
            raise invalid(f"{where}.destination must not be empty")
        _opt(mount, "type", str, where)
        _opt(mount, "source", str, where)
        if mount.get("options") is not None:
            _strings(mount["options"], f"{where}.options")
    hooks = _opt(config, "hooks", dict, "")
    for kind, entries in (hooks or {}).items():
        if kind not in HOOK_KINDS:
            raise invalid(f"unknown hook kind {kind!r}")
        for i, hook in enumerate(_type(entries, list, f"hooks.{kind}")):
            where = f"hooks.{kind}[{i}]"
            _type(hook, dict, where)
            _abs(hook.get("path"), f"{where}.path")
            if hook.get("args") is not None:
                _strings(hook["args"], f"{where}.args")
            if hook.get("env") is not None:
                _strings(hook["env"], f"{where}.env")
            timeout = _opt(hook, "timeout", int, where)
            if timeout is not None and timeout <= 0:
                raise invalid(f"{where}.timeout must be greater than zero")
    linux = _opt(config, "linux", dict, "") or {}
    validate_linux(linux, config)


def validate_process(process: Any, where: str) -> None:
    _type(process, dict, where)
    args = process.get("args")
    if not args:
        raise invalid(f"{where}.args must not be empty")
    _strings(args, f"{where}.args")
    cwd = process.get("cwd", "/")
    _abs(cwd, f"{where}.cwd")
    if process.get("env") is not None:
        for i, item in enumerate(_strings(process["env"], f"{where}.env")):
            if "=" not in item:
                raise invalid(f"{where}.env[{i}] {item!r} is not KEY=value")
    _opt(process, "terminal", bool, where)
    _opt(process, "noNewPrivileges", bool, where)
    oom = _opt(process, "oomScoreAdj", int, where)
    if oom is not None and not -1000 <= oom <= 1000:
        raise invalid(f"{where}.oomScoreAdj {oom} is outside -1000..1000")
    user = _opt(process, "user", dict, where) or {}
    for key in ("uid", "gid", "umask"):
        value = _opt(user, key, int, f"{where}.user")
        if value is not None and value < 0:
            raise invalid(f"{where}.user.{key} must not be negative")
    for i, gid in enumerate(_opt(user, "additionalGids", list, f"{where}.user") or []):
        _type(gid, int, f"{where}.user.additionalGids[{i}]")
    if user.get("username") is not None:
        _type(user["username"], str, f"{where}.user.username")
    capabilities = _opt(process, "capabilities", dict, where) or {}
    for kind, names in capabilities.items():
        if kind not in caps.SETS:
            raise invalid(f"{where}.capabilities: unknown set {kind!r}")
        for name in _strings(names, f"{where}.capabilities.{kind}"):
            if name not in caps.NUMBERS:
                raise invalid(f"{where}.capabilities.{kind}: unknown capability {name!r}")
    seen = set()
    for i, rlimit in enumerate(_opt(process, "rlimits", list, where) or []):
        at = f"{where}.rlimits[{i}]"
        _type(rlimit, dict, at)
        kind = _type(rlimit.get("type"), str, f"{at}.type")
        if kind not in RLIMITS:
            raise invalid(f"{at}: unknown rlimit type {kind!r}")
        if kind in seen:
            raise invalid(f"{at}: rlimit {kind} is set twice")
        seen.add(kind)
        soft = _type(rlimit.get("soft"), int, f"{at}.soft")
        hard = _type(rlimit.get("hard"), int, f"{at}.hard")
        if soft > hard:
            raise invalid(f"{at}: soft limit {soft} is above the hard limit {hard}")
    _opt(process, "apparmorProfile", str, where)
    _opt(process, "selinuxLabel", str, where)
    console = _opt(process, "consoleSize", dict, where)
    if console is not None:
        _type(console.get("height"), int, f"{where}.consoleSize.height")
        _type(console.get("width"), int, f"{where}.consoleSize.width")


def _validate_mappings(linux: dict[str, Any], key: str) -> None:
    for i, m in enumerate(_opt(linux, key, list, "linux") or []):
        at = f"linux.{key}[{i}]"
        _type(m, dict, at)
        for field in ("containerID", "hostID", "size"):
            if _type(m.get(field), int, f"{at}.{field}") < 0:
                raise invalid(f"{at}.{field} must not be negative")
        if m["size"] == 0:
            raise invalid(f"{at}.size must not be zero")


def validate_linux(linux: dict[str, Any], config: Config) -> None:
    kinds = set()
    for i, ns in enumerate(_opt(linux, "namespaces", list, "linux") or []):
        at = f"linux.namespaces[{i}]"
        _type(ns, dict, at)
        kind = ns.get("type")
        if kind not in NAMESPACE_TYPES:
            raise invalid(f"{at}: unknown namespace type {kind!r}")
        if kind in kinds:
            raise invalid(f"{at}: namespace {kind} is listed twice")
        kinds.add(kind)
        path = ns.get("path")
        if path:
            _abs(path, f"{at}.path")
            if not os.path.exists(path):
                raise NotFound(f"namespace path {path} does not exist")
    _validate_mappings(linux, "uidMappings")
    _validate_mappings(linux, "gidMappings")
    has_maps = bool(linux.get("uidMappings") or linux.get("gidMappings"))
    user_ns = next((ns for ns in linux.get("namespaces") or [] if ns["type"] == "user"), None)
    if has_maps and user_ns is None:
        raise invalid("uid/gid mappings are set without a user namespace")
    new_user_ns = user_ns is not None and not user_ns.get("path")
    if new_user_ns and not (linux.get("uidMappings") and linux.get("gidMappings")):
        raise invalid("a new user namespace needs uidMappings and gidMappings")
    if config.get("hostname") and "uts" not in kinds:
        raise invalid("hostname is set without a private UTS namespace")
    if config.get("domainname") and "uts" not in kinds:
        raise invalid("domainname is set without a private UTS namespace")
    for key in ("maskedPaths", "readonlyPaths"):
        for i, path in enumerate(_opt(linux, key, list, "linux") or []):
            _abs(path, f"linux.{key}[{i}]")
    propagation = _opt(linux, "rootfsPropagation", str, "linux")
    if propagation and propagation not in PROPAGATIONS:
        raise invalid(f"linux.rootfsPropagation: unknown value {propagation!r}")
    _opt(linux, "cgroupsPath", str, "linux")
    _opt(linux, "resources", dict, "linux")
    for i, dev in enumerate(_opt(linux, "devices", list, "linux") or []):
        at = f"linux.devices[{i}]"
        _type(dev, dict, at)
        _abs(dev.get("path"), f"{at}.path")
        if dev.get("type") not in ("c", "b", "u", "p"):
            raise invalid(f"{at}.type must be one of c, b, u, p")
        if dev["type"] != "p":
            _type(dev.get("major"), int, f"{at}.major")
            _type(dev.get("minor"), int, f"{at}.minor")
        for field in ("fileMode", "uid", "gid"):
            _opt(dev, field, int, at)
    sysctl = _opt(linux, "sysctl", dict, "linux") or {}
    for key, value in sysctl.items():
        _type(value, str, f"linux.sysctl.{key}")
        check_sysctl(key, kinds, linux)
    personality = _opt(linux, "personality", dict, "linux")
    if personality is not None and personality.get("domain") not in ("LINUX", "LINUX32"):
        raise invalid("linux.personality.domain must be LINUX or LINUX32")
    offsets = _opt(linux, "timeOffsets", dict, "linux")
    if offsets:
        if "time" not in kinds:
            raise invalid("linux.timeOffsets is set without a time namespace")
        for clock, off in offsets.items():
            if clock not in ("monotonic", "boottime"):
                raise invalid(f"linux.timeOffsets: unknown clock {clock!r}")
            _type(off, dict, f"linux.timeOffsets.{clock}")
    if linux.get("seccomp") is not None:
        _type(linux["seccomp"], dict, "linux.seccomp")
    if linux.get("intelRdt") is not None:
        raise InvalidParameter("linux.intelRdt is not supported by this runtime")


# Sysctls that are namespaced, so that setting them cannot touch the host
# (the same list runc accepts).
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def check_sysctl(key: str, kinds: set[str], linux: dict[str, Any]) -> None:
    name = key.replace("/", ".")
    if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
        if "ipc" not in kinds:
            raise invalid(f"sysctl {key} is not allowed in the host IPC namespace")
        return
    if name.startswith("net."):
        if "network" not in kinds:
            raise invalid(f"sysctl {key} is not allowed in the host network namespace")
        return
    if name in ("kernel.hostname", "kernel.domainname"):
        if "uts" not in kinds:
            raise invalid(f"sysctl {key} is not allowed in the host UTS namespace")
        return
    if name == "kernel.ns_last_pid" and "pid" in kinds:
        return
    raise invalid(f"sysctl {key} is not namespaced: it would change the host")


def namespaces(config: Config) -> dict[str, str]:
    """type -> path ('' for a new namespace)."""
    return {ns["type"]: ns.get("path") or ""
            for ns in (config.get("linux") or {}).get("namespaces") or []}
