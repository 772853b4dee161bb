"""Which networks `GET /networks` and `POST /networks/prune` pick, with Docker's filters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ketch.errors import InvalidParameter

if TYPE_CHECKING:
    from ketch.network.store import Network

LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
PRUNE_FILTERS = ("label", "label!", "until")


def check(filters: dict[str, list[str]], prune: bool = False) -> None:
    for key in filters:
        if key not in (PRUNE_FILTERS if prune else LIST_FILTERS):
            raise InvalidParameter(f"Invalid filter '{key}'")
    for value in filters.get("type", []):
        if value not in ("custom", "builtin"):
            raise InvalidParameter(f"invalid filter: 'type'='{value}'")


def _has_label(labels: dict[str, str], wanted: str) -> bool:
    key, eq, value = wanted.partition("=")
    return key in labels and (not eq or labels[key] == value)


def matches(net: Network, filters: dict[str, list[str]], *, prune: bool = False,
            dangling: bool | None = None) -> bool:
    """`dangling` says whether the network has no containers (for the dangling filter)."""
    labels = net.record.get("Labels") or {}
    if not all(_has_label(labels, w) for w in filters.get("label", [])):
        return False
    if any(_has_label(labels, w) for w in filters.get("label!", [])):
        return False
    if prune:
        return True
    if filters.get("name") and not any(v in net.name for v in filters["name"]):
        return False
    if filters.get("id") and not any(net.id.startswith(v) for v in filters["id"]):
        return False
    if filters.get("driver") and net.driver not in filters["driver"]:
        return False
    if filters.get("scope") and "local" not in filters["scope"]:
        return False
    if filters.get("type"):
        kind = "builtin" if net.predefined else "custom"
        if kind not in filters["type"]:
            return False
    if filters.get("dangling"):
        want = filters["dangling"][0].lower() in ("true", "1")
        if dangling is None or dangling != want:
            return False
    return True
