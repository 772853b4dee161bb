"""Profiles: which services a command sees.

A service without `profiles` is always enabled; one with profiles only when one of
them is active (`--profile`, or `COMPOSE_PROFILES`; `*` activates all), or when the
command names it, which activates its profiles too. Depending on a disabled service
is an error (or, for a dependency marked `required: false`, a warning and the
dependency dropped): dependencies do not enable anything by themselves.
"""

from __future__ import annotations

from ketch.compose.errors import ComposeError
from ketch.compose.model import Service


def parse_profiles(text: str) -> list[str]:
    """`COMPOSE_PROFILES=a,b` -> ["a", "b"]."""
    return [item.strip() for item in text.split(",") if item.strip()]


def apply_profiles(services: dict[str, Service], active: list[str], explicit: list[str],
                   warnings: list[str]) -> tuple[dict[str, Service], dict[str, Service],
                                                 list[str]]:
    """(enabled services, disabled services, active profiles)."""
    for name in explicit:
        if name not in services:
            raise ComposeError(f"no such service: {name}")
    profiles = set(active)
    for name in explicit:
        profiles.update(services[name].get("profiles", ()))
    everything = "*" in profiles
    enabled: dict[str, Service] = {}
    disabled: dict[str, Service] = {}
    for name, service in services.items():
        own = service.get("profiles") or []
        if everything or not own or profiles.intersection(own) or name in explicit:
            enabled[name] = service
        else:
            disabled[name] = service
    for name in sorted(enabled):
        service = enabled[name]
        for dependency, condition in list((service.get("depends_on") or {}).items()):
            if dependency not in disabled:
                continue
            wanted = ", ".join(disabled[dependency].get("profiles", ()))
            if condition.get("required", True):
                raise ComposeError(f'service "{dependency}" is required by "{name}" but is '
                                   f"disabled. Can be enabled by profiles: {wanted}")
            warnings.append(f'service "{name}" depends on disabled service "{dependency}" '
                            "(not required): ignored")
            del service["depends_on"][dependency]
    return enabled, disabled, sorted(profiles)


def with_dependencies(services: dict[str, Service], names: list[str]) -> list[str]:
    """`names` and every service they depend on, directly or not."""
    wanted: list[str] = []

    def visit(name: str) -> None:
        if name in wanted or name not in services:
            return
        wanted.append(name)
        for dependency in services[name].get("depends_on") or {}:
            visit(dependency)

    for name in names:
        visit(name)
    return wanted
