"""The OCI config's `linux.seccomp` -> a libseccomp filter the container process loads.

`compile_filter` checks the whole object and builds the filter at `create`, before
anything is set up, so a bad profile fails early with one clear line. The container
init calls `SeccompFilter.load()` as its last step before execve. The filter is made
by libseccomp's own Python binding (Debian's python3-seccomp), never by hand-written
BPF. That binding is imported only here, and only for configs that have seccomp.

Behaviour follows runc (libcontainer/seccomp):
- SCMP_ACT_KILL means KILL_THREAD; ERRNO and TRACE return `errnoRet`, default EPERM;
- names libseccomp does not know for the native architecture are skipped;
- rules whose action equals the default action are skipped (libseccomp rejects them);
- a rule that compares the same argument twice becomes one rule per comparison
  (libseccomp rejects same-argument comparisons inside one rule);
- the filter does not set no_new_privs itself: the runtime applies
  `process.noNewPrivileges`.
"""

from __future__ import annotations

import os

from ketch.errors import HostError, InvalidParameter

TYPE_CHECKING = False  # mypy reads this name as True; importing typing costs startup time
if TYPE_CHECKING:
    from typing import Any

# OCI action -> whether it carries an errno (errnoRet applies).
_ACTIONS = {
    "SCMP_ACT_KILL": False,
    "SCMP_ACT_KILL_THREAD": False,
    "SCMP_ACT_KILL_PROCESS": False,
    "SCMP_ACT_TRAP": False,
    "SCMP_ACT_ERRNO": True,
    "SCMP_ACT_TRACE": True,
    "SCMP_ACT_ALLOW": False,
    "SCMP_ACT_LOG": False,
    "SCMP_ACT_NOTIFY": False,
}

_OPERATORS = ("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ")  # SCMP_CMP_* suffixes

# OCI flag -> libseccomp filter attribute (seccomp.Attr member name).
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": "CTL_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG": "CTL_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": "CTL_SSB",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": "CTL_WAITKILL",  # libseccomp >= 2.6
}

_EPERM = 1
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_MAX_ERRNO_RET = 0xFFFF  # the action's 16-bit data field
_MAX_ARG_INDEX = 5  # syscalls have at most six arguments
_U64 = 1 << 64
_NR_SCMP_ERROR = -1  # libseccomp's "no such syscall"
_OPTIMIZE_AFTER = 32  # runc: binary-tree optimisation only pays off for longer rulesets
_NOTIFY_API_LEVEL = 6  # libseccomp API level that supports SCMP_ACT_NOTIFY
# The runtime's own handoff of the listener fd writes to a pipe after load() (as in runc).
_NOT_NOTIFIABLE = frozenset({"write"})

# A comparison: (index, SCMP_CMP_* suffix, value, valueTwo).
Condition = tuple[int, str, int, int]


class SeccompFilter:
    """A compiled filter, ready to load into the container process.

    `rules` lists what was added (syscall name, action name, errno, conditions) and
    `unknown_syscalls` the names libseccomp did not know, for logging and tests.
    """

    def __init__(
        self,
        ctx: Any,
        rules: list[tuple[str, str, int | None, tuple[Condition, ...]]],
        unknown_syscalls: list[str],
        listener_path: str | None,
        listener_metadata: str | None,
        uses_notify: bool,
    ) -> None:
        self._ctx = ctx
        self.rules = rules
        self.unknown_syscalls = unknown_syscalls
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.uses_notify = uses_notify
        self.notify_fd: int | None = None  # set by load() when a rule uses SCMP_ACT_NOTIFY

    def load(self) -> None:
        """Install the filter in the calling process (and its future children).

        Call it as the very last step before execve: from then on every syscall the
        process makes is filtered, including the runtime's own Python code between
        load() and execve (a few memory, signal and close calls at most). As with
        runc, the profile must allow `execve` itself (Docker's profile does).

        The filter does not set no_new_privs. So either the runtime has set it
        (process.noNewPrivileges) or the process must still hold CAP_SYS_ADMIN here,
        i.e. load before dropping capabilities, as runc does; otherwise the kernel
        refuses with EACCES.

        When a rule uses SCMP_ACT_NOTIFY, `notify_fd` holds the listener fd afterwards;
        the runtime hands it to the agent at `listener_path` (see `send_to_listener`).
        """
        try:
            self._ctx.load()
        except RuntimeError as e:
            err = _library_errno(e)
            hint = ""
            if err == 13:  # EACCES
                hint = " (needs no_new_privs or CAP_SYS_ADMIN)"
            elif err == 16:  # EBUSY
                hint = " (a seccomp listener is already installed in this process)"
            raise HostError(f"cannot load seccomp filter: {os.strerror(err)}{hint}") from None
        if self.uses_notify:
            try:
                self.notify_fd = int(self._ctx.get_notify_fd())
            except RuntimeError as e:
                err = _library_errno(e)
                raise HostError(f"cannot get seccomp listener fd: {os.strerror(err)}") from None


class BpfFilter:
    """A filter already compiled to its BPF program (cached from an earlier compile of
    the same profile): loading it is one prctl, not libseccomp's generation of the
    program again (milliseconds for Docker's ~400 rules, paid by every exec)."""

    uses_notify = False
    listener_path: str | None = None
    listener_metadata: str | None = None
    notify_fd: int | None = None

    def __init__(self, program: bytes) -> None:
        if not program or len(program) % 8:
            raise HostError("cannot load seccomp filter: a cached program is damaged")
        self.program = program
        self.rules: list[tuple[str, str, int | None, tuple[Condition, ...]]] = []
        self.unknown_syscalls: list[str] = []

    def load(self) -> None:
        """As SeccompFilter.load (the same conditions: no_new_privs or CAP_SYS_ADMIN)."""
        import ctypes

        from ketch.runtime import linux as L

        class Program(ctypes.Structure):  # struct sock_fprog
            _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

        buffer = ctypes.create_string_buffer(self.program, len(self.program))
        fprog = Program(len(self.program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
        try:
            L.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
        except OSError as e:
            hint = " (needs no_new_privs or CAP_SYS_ADMIN)" if e.errno == 13 else ""
            raise HostError(f"cannot load seccomp filter: {os.strerror(e.errno or 0)}"
                            f"{hint}") from None


def cached_filter(spec: dict[str, Any], cache_dir: str) -> SeccompFilter | BpfFilter:
    """compile_filter, with the BPF program kept in cache_dir by the profile's hash, so
    that the next container or exec with the same profile loads it directly. Profiles
    with a listener or flags are compiled each time (their load does more than BPF)."""
    import hashlib
    import json

    if spec.get("flags") or spec.get("listenerPath") or not isinstance(spec, dict):
        return compile_filter(spec)
    key = hashlib.sha256(json.dumps([os.uname().machine, spec], sort_keys=True)
                         .encode()).hexdigest()
    path = os.path.join(cache_dir, f"{key}.bpf")
    try:
        with open(path, "rb") as f:
            return BpfFilter(f.read())
    except (OSError, HostError):
        pass
    compiled = compile_filter(spec)
    if compiled.uses_notify:
        return compiled
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            compiled._ctx.export_bpf(f)
        os.rename(tmp, path)
        with open(path, "rb") as f:
            return BpfFilter(f.read())
    except (OSError, RuntimeError, HostError):
        return compiled  # no cache: libseccomp loads it as before


def compile_filter(spec: dict[str, Any]) -> SeccompFilter:
    """Validate an OCI `linux.seccomp` object and build its libseccomp filter.

    Raises InvalidParameter for any malformed part of the profile, HostError when
    libseccomp or the kernel cannot provide something the profile asks for.
    """
    if not isinstance(spec, dict):
        raise _invalid("", "must be an object")
    if spec.get("defaultAction") is None:
        raise _invalid("defaultAction", "is required")
    default_name = _check_action("defaultAction", spec["defaultAction"])
    default_errno = _errno_ret("defaultErrnoRet", spec.get("defaultErrnoRet"), default_name)
    if default_name == "SCMP_ACT_NOTIFY":
        raise _invalid("defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")

    arches = _str_list(spec, "architectures")
    for i, arch in enumerate(arches):
        if not arch.startswith("SCMP_ARCH_"):
            raise _invalid(f"architectures[{i}]", f"unknown architecture {arch!r}")
    flags = _str_list(spec, "flags")
    for i, flag in enumerate(flags):
        if flag not in _FLAGS:
            raise _invalid(f"flags[{i}]", f"unknown flag {flag!r}")

    syscalls = spec.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise _invalid("syscalls", "must be an array")
    parsed = [_parse_syscall(i, entry) for i, entry in enumerate(syscalls)]
    uses_notify = any(action == "SCMP_ACT_NOTIFY" for _, action, _, _ in parsed)

    listener_path = _opt_str(spec, "listenerPath")
    listener_metadata = _opt_str(spec, "listenerMetadata")
    if listener_metadata is not None and listener_path is None:
        raise _invalid("listenerMetadata", "must not be set without listenerPath")
    if listener_path is not None and not os.path.isabs(listener_path):
        raise _invalid("listenerPath", f"must be an absolute path, not {listener_path!r}")
    if uses_notify and listener_path is None:
        raise _invalid("listenerPath", "is required when a rule uses SCMP_ACT_NOTIFY")

    import seccomp  # the binding is needed only for configs with seccomp

    if uses_notify and seccomp.get_api() < _NOTIFY_API_LEVEL:
        raise HostError("SCMP_ACT_NOTIFY needs libseccomp >= 2.5 and Linux >= 5.7")
    return _build(
        seccomp,
        (default_name, default_errno),
        arches,
        flags,
        parsed,
        listener_path,
        listener_metadata,
        uses_notify,
    )


def send_to_listener(
    listener_path: str,
    seccomp_fd: int,
    pid: int,
    state: dict[str, Any],
    metadata: str | None = None,
) -> None:
    """Send the container process state and the listener fd to a seccomp agent.

    The runtime-spec protocol: JSON over a unix stream socket, the fd as SCM_RIGHTS
    in the first message. `state` is the container's state (runtime.md#state).
    """
    import json
    import socket  # only NOTIFY profiles need these

    process_state: dict[str, Any] = {
        "ociVersion": state.get("ociVersion", "1.1.0"),
        "fds": ["seccompFd"],
        "pid": pid,
        "state": dict(state),
    }
    if metadata is not None:
        process_state["metadata"] = metadata
    payload = json.dumps(process_state).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(listener_path)
            sent = socket.send_fds(sock, [payload], [seccomp_fd])
            sock.sendall(payload[sent:])
    except OSError as e:
        raise HostError(f"cannot send seccomp fd to {listener_path}: {e.strerror}") from None


# -- validation ---------------------------------------------------------------


def _parse_syscall(i: int, entry: Any) -> tuple[list[str], str, int | None, list[Condition]]:
    where = f"syscalls[{i}]"
    if not isinstance(entry, dict):
        raise _invalid(where, "must be an object")
    names = entry.get("names")
    if not isinstance(names, list) or not names:
        raise _invalid(f"{where}.names", "must be a non-empty array of syscall names")
    for j, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise _invalid(f"{where}.names[{j}]", f"must be a syscall name, not {name!r}")
    action = _check_action(f"{where}.action", entry.get("action"))
    errno_ret = _errno_ret(f"{where}.errnoRet", entry.get("errnoRet"), action)
    if action == "SCMP_ACT_NOTIFY":
        for name in names:
            if name in _NOT_NOTIFIABLE:
                raise _invalid(f"{where}", f"SCMP_ACT_NOTIFY cannot be used for {name!r}")
    args = entry.get("args") or []
    if not isinstance(args, list):
        raise _invalid(f"{where}.args", "must be an array")
    conditions = [_parse_arg(f"{where}.args[{k}]", arg) for k, arg in enumerate(args)]
    return names, action, errno_ret, conditions


def _parse_arg(where: str, arg: Any) -> Condition:
    if not isinstance(arg, dict):
        raise _invalid(where, "must be an object")
    index = _uint(f"{where}.index", arg.get("index"), _MAX_ARG_INDEX)
    value = _uint(f"{where}.value", arg.get("value"), _U64 - 1)
    value_two = _uint(f"{where}.valueTwo", arg.get("valueTwo", 0), _U64 - 1)
    op = arg.get("op")
    if not isinstance(op, str) or not op.startswith("SCMP_CMP_") or op[9:] not in _OPERATORS:
        raise _invalid(
            f"{where}.op",
            f"unknown operator {op!r} (one of SCMP_CMP_{', SCMP_CMP_'.join(_OPERATORS)})",
        )
    return index, op[9:], value, value_two


def _check_action(where: str, action: Any) -> str:
    if not isinstance(action, str) or action not in _ACTIONS:
        raise _invalid(where, f"unknown action {action!r}")
    return action


def _errno_ret(where: str, value: Any, action: str) -> int | None:
    """errnoRet for ERRNO/TRACE (EPERM unless given); an error on any other action."""
    if not _ACTIONS[action]:
        if value is not None:
            raise _invalid(where, f"is not valid for {action} (only ERRNO and TRACE)")
        return None
    if value is None:
        return _EPERM
    return _uint(where, value, _MAX_ERRNO_RET)


def _uint(where: str, value: Any, maximum: int) -> int:
    # bool is an int subclass; JSON true is not a number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(where, f"must be an integer, not {value!r}")
    if not 0 <= value <= maximum:
        raise _invalid(where, f"must be between 0 and {maximum}, not {value}")
    return value


def _str_list(spec: dict[str, Any], key: str) -> list[str]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(key, "must be an array of strings")
    return value


def _opt_str(spec: dict[str, Any], key: str) -> str | None:
    value = spec.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid(key, "must be a string")
    return value


def _invalid(where: str, problem: str) -> InvalidParameter:
    field = f"linux.seccomp.{where}" if where else "linux.seccomp"
    sep = ": " if problem.startswith(("unknown", "SCMP_", "rule")) else " "
    return InvalidParameter(f"invalid config.json: {field}{sep}{problem}")


# -- building with libseccomp -------------------------------------------------


def _build(
    seccomp: Any,
    default: tuple[str, int | None],
    arches: list[str],
    flags: list[str],
    parsed: list[tuple[list[str], str, int | None, list[Condition]]],
    listener_path: str | None,
    listener_metadata: str | None,
    uses_notify: bool,
) -> SeccompFilter:
    default_action = _action_value(seccomp, *default)
    ctx = seccomp.SyscallFilter(default_action)
    # Raw kernel errnos instead of libseccomp's catch-all ECANCELED.
    ctx.set_attr(seccomp.Attr.API_SYSRAWRC, 1)
    ctx.set_attr(seccomp.Attr.CTL_NNP, 0)

    for i, name in enumerate(arches):
        try:
            arch = int(getattr(seccomp.Arch, name.removeprefix("SCMP_ARCH_")))
        except AttributeError:
            raise _invalid(
                f"architectures[{i}]", f"unknown architecture {name!r} (for this libseccomp)"
            ) from None
        if not ctx.exist_arch(arch):
            ctx.add_arch(arch)

    for i, flag in enumerate(flags):
        attr = getattr(seccomp.Attr, _FLAGS[flag], None)
        if attr is None:
            raise _invalid(f"flags[{i}]", f"{flag} is not supported by this libseccomp")
        try:
            ctx.set_attr(attr, 1)
        except (RuntimeError, ValueError):
            raise HostError(f"seccomp flag {flag} is not supported by this kernel") from None

    if len(parsed) > _OPTIMIZE_AFTER and hasattr(seccomp.Attr, "CTL_OPTIMIZE"):
        ctx.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)  # binary tree: fewer checks per syscall

    rules: list[tuple[str, str, int | None, tuple[Condition, ...]]] = []
    unknown: list[str] = []
    native = seccomp.Arch.NATIVE
    for i, (names, action_name, errno_ret, conditions) in enumerate(parsed):
        action = _action_value(seccomp, action_name, errno_ret)
        if action == default_action:
            continue
        for name in names:
            if not _plain_name(name) or seccomp.resolve_syscall(native, name) == _NR_SCMP_ERROR:
                unknown.append(name)
                continue
            for group in _rule_groups(conditions):
                args = [seccomp.Arg(n, getattr(seccomp, op), a, b) for n, op, a, b in group]
                try:
                    ctx.add_rule(action, name, *args)
                except RuntimeError as e:
                    err = _library_errno(e)
                    raise _invalid(
                        f"syscalls[{i}]", f"rule for {name!r} rejected: {os.strerror(err)}"
                    ) from None
                rules.append((name, action_name, errno_ret, group))
    return SeccompFilter(ctx, rules, unknown, listener_path, listener_metadata, uses_notify)


def _plain_name(name: str) -> bool:
    """Only [a-z0-9_]: the binding would choke on non-ASCII and cut at a NUL byte."""
    return name.isascii() and name.replace("_", "a").isalnum() and name.islower()


def _rule_groups(conditions: list[Condition]) -> list[tuple[Condition, ...]]:
    """One rule with all conditions, or one rule per condition if an index repeats (runc)."""
    indexes = [c[0] for c in conditions]
    if len(set(indexes)) < len(indexes):
        return [(c,) for c in conditions]
    return [tuple(conditions)]


def _action_value(seccomp: Any, name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_ERRNO":
        return int(seccomp.ERRNO(errno_ret))
    if name == "SCMP_ACT_TRACE":
        return int(seccomp.TRACE(errno_ret))
    attr = {
        "SCMP_ACT_KILL": "KILL",  # runc: KILL is KILL_THREAD
        "SCMP_ACT_KILL_THREAD": "KILL",
        "SCMP_ACT_KILL_PROCESS": "KILL_PROCESS",
        "SCMP_ACT_TRAP": "TRAP",
        "SCMP_ACT_ALLOW": "ALLOW",
        "SCMP_ACT_LOG": "LOG",
        "SCMP_ACT_NOTIFY": "NOTIFY",
    }[name]
    return int(getattr(seccomp, attr))


def _library_errno(e: RuntimeError) -> int:
    """The errno in the binding's "Library error (errno = -N)" message."""
    text = str(e).rstrip(")")
    number = text.rpartition("=")[2].strip()
    try:
        return abs(int(number))
    except ValueError:
        return 22  # EINVAL: the binding gave no errno
