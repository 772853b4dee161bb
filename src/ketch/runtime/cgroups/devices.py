"""Device access rules: OCI `linux.resources.devices` -> the cgroup v1 devices model.

OCI rules are applied in order with cgroup v1 semantics: a type "a" rule
resets to allow-all or deny-all, every other rule adds or removes an exception
to that default. emulate() computes the resulting (default, exceptions), which
both the v1 writer and the v2 eBPF generator consume (as runc's devices
emulator does), so the two versions enforce exactly the same thing.
"""

from __future__ import annotations

from ketch.errors import InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# (allow, type "a"/"c"/"b", major, minor, access "rwm"); -1 is the wildcard "*"
Rule = tuple[bool, str, int, int, str]
# (type "c"/"b", major, minor) -> access
Exceptions = dict[tuple[str, int, int], str]

# What runc appends to every container's rules (libcontainer/specconv
# AllowedDevices): mknod of anything, the standard /dev nodes, pts, ptmx and
# tun. ketch-runtime appends them too; the cgroup layer applies only what it
# is given.
DEFAULT_RULES: list[dict[str, Any]] = [
    {"allow": True, "type": t, "major": maj, "minor": mnr, "access": acc}
    for t, maj, mnr, acc in (
        ("c", None, None, "m"), ("b", None, None, "m"),
        ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"), ("c", 5, 0, "rwm"),
        ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"), ("c", 136, None, "rwm"),
        ("c", 5, 2, "rwm"), ("c", 10, 200, "rwm"),
    )
]


def _number(rule: dict[str, Any], key: str, where: str) -> int:
    value = rule.get(key)
    if value is None:
        return -1
    if (not isinstance(value, int) or isinstance(value, bool)
            or not -1 <= value <= 0xFFFFFFFF):
        raise InvalidParameter(f"invalid {where}.{key}: {value!r}")
    return value


def parse_rules(raw: list[Any]) -> list[Rule]:
    """Check OCI device rules; type defaults to "a", major/minor to "*"."""
    rules: list[Rule] = []
    for i, rule in enumerate(raw):
        where = f"linux.resources.devices[{i}]"
        if not isinstance(rule, dict):
            raise InvalidParameter(f"invalid {where}: expected an object")
        allow = rule.get("allow")
        if not isinstance(allow, bool):
            raise InvalidParameter(f"invalid {where}.allow: {allow!r} is not a boolean")
        kind = rule.get("type") or "a"
        if kind not in ("a", "c", "b"):
            raise InvalidParameter(f"invalid {where}.type: {kind!r} (expected a, c or b)")
        access = rule.get("access")
        if not isinstance(access, str) or not access or not set(access) <= set("rwm"):
            raise InvalidParameter(f"invalid {where}.access: {access!r} "
                                   f"(expected letters of 'rwm')")
        rules.append((allow, kind, _number(rule, "major", where),
                      _number(rule, "minor", where), access))
    return rules


def _access(letters: str | set[str]) -> str:
    return "".join(c for c in "rwm" if c in letters)


def emulate(rules: list[Rule]) -> tuple[bool, Exceptions]:
    """(default allow?, exceptions) after applying `rules` to a deny-all start."""
    default_allow = False
    exceptions: Exceptions = {}
    for allow, kind, major, minor, access in rules:
        if kind == "a":  # whatever its numbers, "a" resets, as in the kernel
            default_allow, exceptions = allow, {}
            continue
        key = (kind, major, minor)
        if allow != default_allow:
            exceptions[key] = _access(exceptions.get(key, "") + access)
            continue
        # Removing access: v1 only removes it from an identical exception and
        # silently keeps wider wildcard ones; refuse, like runc, rather than
        # pretend a hole was punched.
        for wider in ((kind, -1, minor), (kind, major, -1), (kind, -1, -1)):
            if wider != key and set(exceptions.get(wider, "")) & set(access):
                raise InvalidParameter(
                    f"device rule {text(key, access)} cannot take access away from the "
                    f"wider rule {text(wider, exceptions[wider])}")
        left = _access(set(exceptions.get(key, "")) - set(access))
        if left:
            exceptions[key] = left
        else:
            exceptions.pop(key, None)
    return default_allow, exceptions


def text(key: tuple[str, int, int], access: str) -> str:
    """A rule as devices.allow/deny/list spell it: "c 1:3 rwm", "c *:* m"."""
    kind, major, minor = key
    return (f"{kind} {'*' if major < 0 else major}:{'*' if minor < 0 else minor} "
            f"{access}")


def v1_writes(default_allow: bool, exceptions: Exceptions) -> list[tuple[str, str]]:
    """(file, line) writes that put a v1 devices cgroup in this state from any state."""
    reset, exception_file = (("devices.allow", "devices.deny") if default_allow
                             else ("devices.deny", "devices.allow"))
    return [(reset, "a")] + [(exception_file, text(k, a)) for k, a in exceptions.items()]


def v1_list(default_allow: bool, exceptions: Exceptions) -> set[str] | None:
    """The devices.list lines this state shows, or None when they cannot tell it.

    An allow-all cgroup lists only "a *:* rwm", hiding its deny exceptions.
    """
    if default_allow:
        return None if exceptions else {"a *:* rwm"}
    return {text(k, a) for k, a in exceptions.items()}
