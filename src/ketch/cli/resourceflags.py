"""`run`/`create`'s resource and security flags -> HostConfig fields, read and refused as
the docker CLI does (--memory, --cpus, --pids-limit, --ulimit, --sysctl, --device,
--group-add, --security-opt, ...)."""

from __future__ import annotations

import re

from ketch.cli.command import CLIError
from ketch.cli.flags import Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FLAGS: tuple[Flag, ...] = (
    Flag("memory", "m", "string", help="Memory limit", metavar="bytes"),
    Flag("memory-swap", kind="string", metavar="bytes",
         help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    Flag("memory-reservation", kind="string", help="Memory soft limit", metavar="bytes"),
    Flag("cpus", kind="string", help="Number of CPUs", metavar="decimal"),
    Flag("cpu-shares", "c", "int", help="CPU shares (relative weight)"),
    Flag("blkio-weight", kind="int",
         help="Block IO (relative weight), between 10 and 1000, or 0 to disable"),
    Flag("cpu-period", kind="int", help="Limit CPU CFS (Completely Fair Scheduler) period"),
    Flag("cpu-quota", kind="int", help="Limit CPU CFS (Completely Fair Scheduler) quota"),
    Flag("cpuset-cpus", kind="string", help="CPUs in which to allow execution (0-3, 0,1)"),
    Flag("cpuset-mems", kind="string", help="MEMs in which to allow execution (0-3, 0,1)"),
    Flag("pids-limit", kind="int", help="Tune container pids limit (set -1 for unlimited)"),
    Flag("shm-size", kind="string", help="Size of /dev/shm", metavar="bytes"),
    Flag("oom-kill-disable", help="Disable OOM Killer"),
    Flag("oom-score-adj", kind="int", help="Tune host's OOM preferences (-1000 to 1000)"),
    Flag("ulimit", kind="list", help="Ulimit options", metavar="ulimit"),
    Flag("sysctl", kind="list", help="Sysctl options", metavar="map"),
    Flag("device", kind="list", help="Add a host device to the container", metavar="list"),
    Flag("device-cgroup-rule", kind="list", help="Add a rule to the cgroup allowed devices "
         "list", metavar="list"),
    Flag("group-add", kind="list", help="Add additional groups to join", metavar="list"),
    Flag("security-opt", kind="list", help="Security Options", metavar="list"),
)

# sysctls the docker CLI lets through (opts.ValidateSysctl); the daemon checks the rest
_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
            "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
_SYSCTL_PREFIXES = ("fs.mqueue.", "net.")
# opts.ValidateDeviceCgroupRule's pattern (the daemon checks it again)
_DEVICE_CGROUP_RULE = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")


def _error(value: str, flag: str, why: str) -> CLIError:
    from ketch.cli.units import go_quote

    return CLIError(f'invalid argument {go_quote(value)} for "{flag}" flag: {why}', 125)


def ram_in_bytes(text: str, flag: str) -> int:
    """go-units RAMInBytes (binary multiples: "b", "k", "kb", "kib"...)."""
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep < 0:
        raise _error(text, flag, f"invalid size: '{text}'")
    number, suffix = (text[:sep + 1], text[sep + 1:]) if text[sep] != " " else \
        (text[:sep], text[sep + 1:])
    try:
        size = float(number)
    except ValueError:
        raise _error(text, flag, f'strconv.ParseFloat: parsing "{number}": invalid '
                                 "syntax") from None
    if size < 0:
        raise _error(text, flag, f"invalid size: '{text}'")
    sfx = suffix.lower()
    if not sfx or sfx == "b":
        return int(size)
    multiples = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    if len(sfx) > 3 or sfx[0] not in multiples or sfx[1:] not in ("", "b", "ib"):
        raise _error(text, flag, f"invalid suffix: '{sfx}'")
    return int(size * multiples[sfx[0]])


def nano_cpus(text: str) -> int:
    from fractions import Fraction

    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise _error(text, "--cpus", f"failed to parse {text} as a rational number") from None
    nanos = value * 1_000_000_000
    if nanos.denominator != 1:
        raise _error(text, "--cpus", "value is too precise")
    return int(nanos)


def ulimit(text: str) -> dict[str, Any]:
    """name=soft[:hard] as HostConfig.Ulimits' entry (go-units ParseUlimit)."""
    from ketch.util.ulimits import ULIMITS

    name, eq, limits = text.partition("=")
    if not eq:
        raise _error(text, "--ulimit", f"invalid ulimit argument: {text}")
    if name not in ULIMITS:
        raise _error(text, "--ulimit", f"invalid ulimit type: {name}")
    soft_text, colon, hard_text = limits.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if colon else soft
    except ValueError:
        bad = soft_text if not soft_text.lstrip("-").isdigit() else hard_text
        raise _error(text, "--ulimit", f'strconv.ParseInt: parsing "{bad}": invalid '
                                       "syntax") from None
    if soft > hard:
        raise _error(text, "--ulimit", f"ulimit soft limit must be less than or equal to "
                                       f"hard limit: {soft} > {hard}")
    return {"Name": name, "Hard": hard, "Soft": soft}


def _mode(text: str) -> bool:
    """validDeviceMode: some of r, w and m, each at most once."""
    return 0 < len(text) <= 3 and set(text) <= set("rwm") and len(set(text)) == len(text)


def device(text: str) -> dict[str, str]:
    """/dev/host[:/dev/container][:rwm] (the CLI's validateDevice and parseDevice)."""
    parts = text.split(":")
    if len(parts) > 3 or not parts[0]:
        raise CLIError(f"bad format for path: {text}", 125)
    if not parts[0].startswith("/"):
        raise CLIError(f"{parts[0]} is not an absolute path", 125)
    source, inside, permissions = parts[0], parts[0], "rwm"
    if len(parts) >= 2:
        if len(parts) == 2 and _mode(parts[1]):
            permissions = parts[1]
        elif not parts[1].startswith("/"):
            raise CLIError(f"{parts[1]} is not an absolute path", 125)
        else:
            inside = parts[1]
    if len(parts) == 3:
        permissions = parts[2]
    if not _mode(permissions):
        raise CLIError(f"invalid device mode: {permissions}", 125)
    return {"PathOnHost": source, "PathInContainer": inside,
            "CgroupPermissions": permissions}


def security_opts(items: list[str]) -> tuple[list[str], bool]:
    """--security-opt as the CLI sends it: a seccomp profile's file read into the option,
    systempaths=unconfined taken out (it empties MaskedPaths/ReadonlyPaths instead)."""
    import json

    out: list[str] = []
    unconfined_paths = False
    for opt in items:
        key, eq, value = opt.partition("=")
        if not eq:
            key, eq, value = opt.partition(":")
        if not eq and opt != "no-new-privileges":
            raise CLIError(f'Invalid --security-opt: "{opt}"', 125)
        if key == "systempaths" and value == "unconfined":
            unconfined_paths = True
            continue
        if key == "seccomp" and value != "unconfined":
            try:
                with open(value, "rb") as f:
                    text = f.read()
            except OSError as e:
                raise CLIError(f"opening seccomp profile ({value}) failed: open {value}: "
                               f"{(e.strerror or str(e)).lower()}", 125) from None
            try:
                profile = json.loads(text)
            except ValueError as e:
                raise CLIError(f"compacting json for seccomp profile ({value}) failed: {e}",
                               125) from None
            opt = "seccomp=" + json.dumps(profile, separators=(",", ":"))
        out.append(opt)
    return out, unconfined_paths


def host_config(opts: Any) -> dict[str, Any]:
    """The HostConfig fields these flags set (only those given)."""
    host: dict[str, Any] = {}
    for flag, key in (("memory", "Memory"), ("memory_reservation", "MemoryReservation"),
                      ("shm_size", "ShmSize")):
        text = getattr(opts, flag)
        if text:
            host[key] = ram_in_bytes(text, ("-m, --" if flag == "memory" else "--")
                                     + flag.replace("_", "-"))
    if opts.memory_swap:
        host["MemorySwap"] = -1 if opts.memory_swap == "-1" else \
            ram_in_bytes(opts.memory_swap, "--memory-swap")
    if opts.cpus:
        host["NanoCpus"] = nano_cpus(opts.cpus)
    for flag, key in (("cpu_shares", "CpuShares"), ("cpu_period", "CpuPeriod"),
                      ("cpu_quota", "CpuQuota"), ("pids_limit", "PidsLimit"),
                      ("oom_score_adj", "OomScoreAdj"), ("blkio_weight", "BlkioWeight")):
        if flag in opts.given:
            host[key] = getattr(opts, flag)
    for flag, key in (("cpuset_cpus", "CpusetCpus"), ("cpuset_mems", "CpusetMems")):
        if getattr(opts, flag):
            host[key] = getattr(opts, flag)
    if opts.oom_kill_disable:
        host["OomKillDisable"] = True
    if opts.ulimit:
        host["Ulimits"] = [ulimit(u) for u in opts.ulimit]
    if opts.sysctl:
        sysctls: dict[str, str] = {}
        for item in opts.sysctl:
            key, eq, value = item.partition("=")
            if not eq:
                raise _error(item, "--sysctl", f"sysctl '{item}' is not allowed")
            if key not in _SYSCTLS and not key.startswith(_SYSCTL_PREFIXES):
                raise _error(item, "--sysctl", f"sysctl '{item}' is not allowed")
            sysctls[key] = value
        host["Sysctls"] = sysctls
    if opts.device:
        host["Devices"] = [device(d) for d in opts.device]
    for rule in opts.device_cgroup_rule:
        if not _DEVICE_CGROUP_RULE.fullmatch(rule):
            raise _error(rule, "--device-cgroup-rule",
                         f"invalid device cgroup format '{rule}'")
    if opts.device_cgroup_rule:
        host["DeviceCgroupRules"] = list(opts.device_cgroup_rule)
    if opts.group_add:
        host["GroupAdd"] = list(opts.group_add)
    if opts.security_opt:
        host["SecurityOpt"], unconfined_paths = security_opts(opts.security_opt)
        if unconfined_paths:
            host["MaskedPaths"], host["ReadonlyPaths"] = [], []
    return host
