"""The last steps of a container process before execve: limits, identity, capabilities.

Shared by the container's init and by processes entering it with `exec`. The
order follows runc: rlimits and oom score while still privileged, then the
bounding set, user and groups, the other capability sets, cwd, and execve.
"""

from __future__ import annotations

import os
import resource
import stat

from ketch.errors import HostError, InvalidParameter, KetchError, NotFound
from ketch.runtime import caps
from ketch.runtime import linux as L
from ketch.runtime.spec import RLIMITS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

_UNLIMITED = 2**63  # runtime-spec writes "unlimited" as 2^64-1


class ExecError(KetchError):
    """The container's program cannot be started; `exit_code` follows Docker (126/127)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def set_rlimits(process: dict[str, Any]) -> None:
    for rlimit in process.get("rlimits") or []:
        soft, hard = rlimit["soft"], rlimit["hard"]
        soft = resource.RLIM_INFINITY if soft >= _UNLIMITED else soft
        hard = resource.RLIM_INFINITY if hard >= _UNLIMITED else hard
        try:
            resource.setrlimit(RLIMITS[rlimit["type"]], (soft, hard))
        except (OSError, ValueError) as e:
            raise HostError(f"cannot set {rlimit['type']} to {soft}:{hard}: {e}") from None


def set_oom_score_adj(process: dict[str, Any]) -> None:
    value = process.get("oomScoreAdj")
    if value is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        raise HostError(f"cannot set oomScoreAdj to {value}: {e.strerror}") from None


def env_of(process: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in process.get("env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def look_path(name: str, env: dict[str, str]) -> str:
    """Find the program like exec.LookPath in runc, with its error wording."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as e:
            code = 126 if isinstance(e, PermissionError) else 127
            reason = (e.strerror or "cannot stat").lower()
            raise ExecError(f'exec: "{name}": stat {name}: {reason}', code) from None
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise ExecError(f'exec: "{name}": permission denied', 126)
        return name
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    raise ExecError(f'exec: "{name}": executable file not found in $PATH', 127)


def set_personality(linux: dict[str, Any]) -> None:
    domain = (linux.get("personality") or {}).get("domain")
    if domain == "LINUX32":
        L.personality(0x0008)  # PER_LINUX32
    elif domain == "LINUX":
        L.personality(0x0000)


def switch_identity(process: dict[str, Any], *, setgroups_allowed: bool = True) -> None:
    """Bounding set, user and groups, then the other capability sets (runc's order)."""
    spec_caps = process.get("capabilities")
    last = caps.last_cap()
    if spec_caps is not None:
        bounding = caps.mask(spec_caps.get("bounding") or [], last)
        for num in range(last + 1):
            if not bounding >> num & 1:
                L.prctl(L.PR_CAPBSET_DROP, num)
        L.prctl(L.PR_SET_KEEPCAPS, 1)
    user = process.get("user") or {}
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    try:
        if setgroups_allowed:
            os.setgroups(user.get("additionalGids") or [])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as e:
        raise InvalidParameter(f"cannot run as user {uid}:{gid}: {e.strerror}") from None
    umask = user.get("umask")
    os.umask(0o022 if umask is None else umask)
    if spec_caps is None:
        return
    effective = caps.mask(spec_caps.get("effective") or [], last)
    permitted = caps.mask(spec_caps.get("permitted") or [], last)
    inheritable = caps.mask(spec_caps.get("inheritable") or [], last)
    L.capset(effective, permitted, inheritable)
    L.prctl(L.PR_CAP_AMBIENT, L.PR_CAP_AMBIENT_CLEAR_ALL)
    for name in spec_caps.get("ambient") or []:
        num = caps.NUMBERS[name]
        if num <= last:
            try:
                L.prctl(L.PR_CAP_AMBIENT, L.PR_CAP_AMBIENT_RAISE, num)
            except PermissionError:
                pass  # not in inheritable: runc too only notes this at debug level
    L.prctl(L.PR_SET_KEEPCAPS, 0)


def chdir(cwd: str) -> None:
    """Enter the working directory, and make sure it is inside the container.

    Until execve the process still holds some of the runtime's descriptors, so a
    cwd such as /proc/self/fd/N could name a directory of the host
    (CVE-2024-21626). Such a directory is not reachable from the container's
    root, and getcwd() says so.
    """
    try:
        os.chdir(cwd)
    except FileNotFoundError:
        raise NotFound(f"cwd {cwd} does not exist in the container") from None
    except NotADirectoryError:
        raise ExecError(f"cwd {cwd} is not a directory", 126) from None
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    if not here.startswith("/"):
        os.chdir("/")
        raise ExecError(f"cwd {cwd} is outside the container", 126)


def close_fds(keep: int = 3) -> None:
    """Mark every fd from `keep` up close-on-exec: nothing of ours reaches the program."""
    L.close_range(keep, 0xFFFFFFFF, L.CLOSE_RANGE_CLOEXEC)


def execve(path: str, args: list[str], env: dict[str, str]) -> NoReturn:
    try:
        os.execve(path, args, env)
    except OSError as e:
        code = 126 if isinstance(e, (PermissionError, IsADirectoryError)) else 127
        raise ExecError(f'exec: "{args[0]}": {(e.strerror or str(e)).lower()}', code) from None
