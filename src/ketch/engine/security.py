"""A container's security settings from its HostConfig, as dockerd makes them: the
--security-opt list, the seccomp profile, --privileged (every capability and host device,
no masked paths, no filter), --device, --sysctl, --ulimit and --group-add. Each is
checked at create, so bad input fails before anything exists."""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from typing import Any

from ketch.errors import InvalidParameter
from ketch.util.ulimits import ULIMITS

# /dev entries a privileged container does not get from the host (runc's HostDevices)
HOST_DEV_SKIP = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev", "console"}


@dataclass
class SecurityOptions:
    no_new_privileges: bool = False
    seccomp: str | None = None  # "unconfined", a profile's JSON, or None: the default
    writable_cgroups: bool = False


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # Go's %q, near enough for one line


def security_options(host: dict[str, Any]) -> SecurityOptions:
    """HostConfig.SecurityOpt as dockerd's parseSecurityOpt reads it."""
    out = SecurityOptions()
    for opt in host.get("SecurityOpt") or []:
        if opt == "no-new-privileges":
            out.no_new_privileges = True
            continue
        if opt == "disable":  # label=disable's short form: no LSM labels here anyway
            continue
        if "=" in opt:
            key, _, value = opt.partition("=")
        elif ":" in opt:  # the old form, as dockerd still reads it
            key, _, value = opt.partition(":")
        else:
            raise InvalidParameter(f"invalid --security-opt 1: {_quoted(opt)}")
        if key in ("label", "apparmor"):
            continue  # neither SELinux nor AppArmor here: nothing to apply, as dockerd
        if key == "seccomp":
            if not value:
                raise InvalidParameter(f"invalid --security-opt 2: {_quoted(opt)}")
            out.seccomp = value
        elif key in ("no-new-privileges", "writable-cgroups"):
            if value not in ("1", "t", "T", "TRUE", "true", "True",
                             "0", "f", "F", "FALSE", "false", "False"):
                raise InvalidParameter(f"invalid --security-opt 2: {_quoted(opt)}")
            enabled = value in ("1", "t", "T", "TRUE", "true", "True")
            if key == "no-new-privileges":
                out.no_new_privileges = enabled
            else:
                out.writable_cgroups = enabled
        else:
            raise InvalidParameter(f"invalid --security-opt 2: {_quoted(opt)}")
    return out


def seccomp(host: dict[str, Any], caps: list[str]) -> dict[str, Any] | None:
    """The OCI linux.seccomp for the container, or None for no filter."""
    from ketch.engine.seccomp_profile import default_profile, user_profile

    chosen = security_options(host).seccomp
    if chosen == "unconfined":
        return None
    if chosen is not None:
        return user_profile(chosen, set(caps))
    if host.get("Privileged"):
        return None
    return default_profile(set(caps))


def rlimits(host: dict[str, Any], default_nofile: dict[str, Any]) -> list[dict[str, Any]]:
    """--ulimit name=soft[:hard] (HostConfig.Ulimits) as OCI rlimits; nofile defaults."""
    wanted: dict[str, dict[str, Any]] = {"RLIMIT_NOFILE": default_nofile}
    for item in host.get("Ulimits") or []:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise InvalidParameter("invalid HostConfig.Ulimits: each must be an object with "
                                   "a Name")
        kind = ULIMITS.get(item["Name"])
        if kind is None:
            raise InvalidParameter(f"invalid ulimit type: {item['Name']}")
        soft, hard = item.get("Soft"), item.get("Hard")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (soft, hard)):
            raise InvalidParameter(f"invalid ulimit {item['Name']}: Soft and Hard must be "
                                   "numbers")
        assert isinstance(soft, int) and isinstance(hard, int)
        if soft > hard and hard != -1:
            raise InvalidParameter(f"ulimit soft limit must be less than or equal to hard "
                                   f"limit: {soft} > {hard}")
        unlimited = 2**64 - 1  # -1 reads as RLIM_INFINITY
        wanted[kind] = {"type": kind, "soft": unlimited if soft == -1 else soft,
                        "hard": unlimited if hard == -1 else hard}
    return list(wanted.values())


def sysctls(host: dict[str, Any], namespaces: list[dict[str, Any]]) -> dict[str, str]:
    """--sysctl: only those the container's own namespaces hold (the runtime's rules)."""
    from ketch.runtime.spec import check_sysctl

    values = host.get("Sysctls") or {}
    if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise InvalidParameter("invalid HostConfig.Sysctls: must be an object of strings")
    kinds = {ns["type"] for ns in namespaces}
    linux = {"namespaces": namespaces}
    for key in values:
        try:
            check_sysctl(key, kinds, linux)
        except InvalidParameter as e:
            raise InvalidParameter(str(e).removeprefix("invalid config.json: ")) from None
    return dict(values)


def _device(path: str, inside: str, permissions: str) -> tuple[dict[str, Any],
                                                              dict[str, Any]]:
    """A host device node as an OCI device and its cgroup rule."""
    st = os.stat(path)
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else ""
    if not kind:
        raise InvalidParameter(f'error gathering device information while adding custom '
                               f'device "{path}": not a device node')
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    device = {"path": inside, "type": kind, "major": major, "minor": minor,
              "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    rule = {"allow": True, "type": kind, "major": major, "minor": minor,
            "access": permissions}
    return device, rule


def devices(host: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(linux.devices, cgroup device rules) for --device, or every host device for
    --privileged (whose cgroup then allows all)."""
    out: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    if host.get("Privileged"):
        for root, dirs, files in os.walk("/dev"):
            dirs[:] = [d for d in dirs if not (root == "/dev" and d in HOST_DEV_SKIP)]
            for name in files:
                if root == "/dev" and name in HOST_DEV_SKIP:
                    continue
                path = os.path.join(root, name)
                try:
                    if not stat.S_ISCHR(os.lstat(path).st_mode) and \
                            not stat.S_ISBLK(os.lstat(path).st_mode):
                        continue
                    out.append(_device(path, path, "rwm")[0])
                except (OSError, InvalidParameter):
                    continue
        rules.append({"allow": True, "access": "rwm"})
    for entry in host.get("Devices") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("PathOnHost"), str):
            raise InvalidParameter("invalid HostConfig.Devices: each must be an object with "
                                   "a PathOnHost")
        source = entry["PathOnHost"]
        inside = entry.get("PathInContainer") or source
        permissions = entry.get("CgroupPermissions") or "rwm"
        if not isinstance(inside, str) or not inside.startswith("/") or \
                not isinstance(permissions, str) or not permissions or \
                set(permissions) - set("rwm"):
            raise InvalidParameter(f"invalid device mapping: {source}:{inside}:{permissions}")
        try:
            if os.path.isdir(source):
                for root, _dirs, files in os.walk(source):
                    for name in files:
                        path = os.path.join(root, name)
                        try:
                            device, rule = _device(path, inside + path[len(source):],
                                                   permissions)
                        except InvalidParameter:
                            continue
                        out.append(device)
                        rules.append(rule)
                continue
            device, rule = _device(source, inside, permissions)
        except OSError as e:
            raise InvalidParameter(f'error gathering device information while adding custom '
                                   f'device "{source}": {(e.strerror or str(e)).lower()}'
                                   ) from None
        out.append(device)
        rules.append(rule)
    rules += [device_cgroup_rule(text) for text in host.get("DeviceCgroupRules") or []]
    return out, rules


_DEVICE_CGROUP_RULE = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")


def device_cgroup_rule(text: str) -> dict[str, Any]:
    """--device-cgroup-rule "c 42:* rwm": an allow rule for the cgroup only (no node)."""
    match = _DEVICE_CGROUP_RULE.fullmatch(text)
    if match is None:
        raise InvalidParameter(f"invalid device cgroup rule format: '{text}'")
    kind, major, minor, access = match.groups()
    return {"allow": True, "type": kind, "major": None if major == "*" else int(major),
            "minor": None if minor == "*" else int(minor), "access": access}


def check(host: dict[str, Any], namespaces: list[dict[str, Any]]) -> None:
    """Everything above, at create: bad input fails before the container exists."""
    security_options(host)
    rlimits(host, {})
    sysctls(host, namespaces)
    devices(host)
    for group in host.get("GroupAdd") or []:
        if not isinstance(group, str) or not group:
            raise InvalidParameter("invalid HostConfig.GroupAdd: must be a list of group "
                                   "names or IDs")
