"""Restart policies, as dockerd's restart manager applies them: `no`, `always`,
`unless-stopped`, `on-failure[:N]`. A container that exits on its own is started again
after a delay of 100 ms that doubles with each restart, up to a minute, and comes back to
100 ms once a run has lasted 10 s. A stop or a kill by the user is not undone; after a
daemon restart, `always` containers are started again, and `unless-stopped` ones unless
the user had stopped them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ketch.errors import InvalidParameter

NAMES = ("no", "always", "unless-stopped", "on-failure")
FIRST_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # seconds of running that bring the delay back to the first


def check(host: dict[str, Any]) -> dict[str, Any]:
    """The HostConfig's RestartPolicy, checked and in Docker's form."""
    policy = host.get("RestartPolicy") or {}
    if not isinstance(policy, dict):
        raise InvalidParameter("invalid RestartPolicy: must be an object")
    name = policy.get("Name") or "no"
    count = policy.get("MaximumRetryCount") or 0
    if not isinstance(name, str) or not isinstance(count, int) or isinstance(count, bool):
        raise InvalidParameter("invalid RestartPolicy: Name must be a string and "
                               "MaximumRetryCount a number")
    if name not in NAMES:
        raise InvalidParameter(f"invalid restart policy: unknown policy '{name}'; use one of "
                               "'no', 'always', 'on-failure', or 'unless-stopped'")
    if count < 0:
        raise InvalidParameter("invalid restart policy: maximum retry count cannot be "
                               "negative")
    if count and name != "on-failure":
        raise InvalidParameter("invalid restart policy: maximum retry count can only be used "
                               "with 'on-failure'")
    if name != "no" and host.get("AutoRemove"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    return {"Name": name, "MaximumRetryCount": count}


@dataclass
class Backoff:
    delay: float = 0.0

    def next(self, ran_for: float) -> float:
        if ran_for >= RESET_AFTER or self.delay == 0.0:
            self.delay = FIRST_DELAY
        else:
            self.delay = min(self.delay * 2, MAX_DELAY)
        return self.delay


def wanted(policy: dict[str, Any], exit_code: int, restarts: int, stopped_by_user: bool
           ) -> bool:
    """Should a container that exited with exit_code start again?"""
    name = policy.get("Name") or "no"
    if stopped_by_user or name == "no":
        return False
    if name in ("always", "unless-stopped"):
        return True
    limit = int(policy.get("MaximumRetryCount") or 0)
    return exit_code != 0 and (limit == 0 or restarts < limit)


def at_daemon_start(policy: dict[str, Any], stopped_by_user: bool) -> bool:
    """Should a stopped container be started when the daemon starts?"""
    name = policy.get("Name") or "no"
    return name == "always" or (name == "unless-stopped" and not stopped_by_user)
