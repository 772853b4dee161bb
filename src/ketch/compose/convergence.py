"""The recreate decision: from a service's existing containers to what `up` does.

docker compose v2's convergence, as data: containers beyond the wanted scale go
(highest numbers first), a container whose `config-hash` label (or image) differs from
the service's is recreated (always with --force-recreate, never with --no-recreate),
the others are kept ("Running", or started), and the missing ones are created with
the next free numbers. No engine is asked anything here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ketch.compose import labels as L


@dataclass
class Existing:
    """A container of the project as a listing shows it."""

    id: str
    name: str
    service: str
    number: int
    state: str  # created, running, paused, restarting, exited, dead
    config_hash: str
    image_id: str = ""
    oneoff: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    started: bool = False  # started by this command (its whole log is new)

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> Existing:
        """From an entry of `GET /containers/json`."""
        labels = dict(summary.get("Labels") or {})
        try:
            number = int(labels.get(L.NUMBER, "0"))
        except ValueError:
            number = 0
        names = summary.get("Names") or [""]
        return cls(id=str(summary.get("Id", "")), name=str(names[0]).lstrip("/"),
                   service=labels.get(L.SERVICE, ""), number=number,
                   state=str(summary.get("State") or ""),
                   config_hash=labels.get(L.CONFIG_HASH, ""),
                   image_id=str(summary.get("ImageID") or ""),
                   oneoff=labels.get(L.ONEOFF, "False") == "True", labels=labels)

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting", "paused")


@dataclass
class Plan:
    """What `up` does with one service's containers."""

    keep: list[Existing] = field(default_factory=list)
    recreate: list[Existing] = field(default_factory=list)
    remove: list[Existing] = field(default_factory=list)
    create: list[int] = field(default_factory=list)  # the numbers of new containers


def must_recreate(container: Existing, config_hash: str, image_id: str) -> bool:
    """Its configuration or its image is not the service's any more."""
    if container.config_hash != config_hash:
        return True
    return bool(image_id and container.image_id and container.image_id != image_id)


def plan_service(existing: list[Existing], scale: int, config_hash: str, image_id: str = "",
                 force_recreate: bool = False, no_recreate: bool = False) -> Plan:
    """The plan for a service that should run `scale` containers."""
    plan = Plan()
    ordered = sorted(existing, key=lambda c: (c.number, c.name))
    # scaling down keeps the up-to-date containers with the lowest numbers
    by_preference = sorted(ordered, key=lambda c: (must_recreate(c, config_hash, image_id)
                                                   and not no_recreate, c.number))
    kept_ids = {c.id for c in by_preference[:max(scale, 0)]}
    for container in ordered:
        if container.id not in kept_ids:
            plan.remove.append(container)
        elif force_recreate:
            plan.recreate.append(container)
        elif no_recreate:
            plan.keep.append(container)
        elif must_recreate(container, config_hash, image_id):
            plan.recreate.append(container)
        else:
            plan.keep.append(container)
    used = {c.number for c in ordered if c.id in kept_ids}
    number = max(used, default=0)
    while len(plan.create) + len(used) < scale:
        number += 1
        plan.create.append(number)
    return plan
