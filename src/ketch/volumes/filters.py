"""Which volumes `GET /volumes` and `POST /volumes/prune` pick, with Docker's filters and
its words for bad ones."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ketch.errors import InvalidParameter

if TYPE_CHECKING:
    from ketch.volumes.store import Volume

LIST_FILTERS = ("dangling", "driver", "label", "label!", "name")
PRUNE_FILTERS = ("all", "label", "label!")
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def _check(filters: dict[str, list[str]], accepted: tuple[str, ...]) -> None:
    for key in filters:
        if key not in accepted:
            raise InvalidParameter(f"Invalid filter '{key}'")


def _flag(filters: dict[str, list[str]], key: str) -> bool | None:
    """A boolean filter: None when absent; Docker refuses values other than true/false/1/0."""
    values = filters.get(key)
    if not values:
        return None
    lowered = [v.lower() for v in values]
    if any(v not in _TRUE + _FALSE for v in lowered):
        raise InvalidParameter(f"Invalid filter '{key}=[{' '.join(values)}]'")
    return any(v in _TRUE for v in lowered)


def _has_label(labels: dict[str, str] | None, wanted: str) -> bool:
    key, eq, value = wanted.partition("=")
    labels = labels or {}
    if key not in labels:
        return False
    return not eq or labels[key] == value


def _labels_match(volume: Volume, filters: dict[str, list[str]]) -> bool:
    if not all(_has_label(volume.labels, want) for want in filters.get("label", [])):
        return False
    return not any(_has_label(volume.labels, want) for want in filters.get("label!", []))


def _name_matches(patterns: list[str], name: str) -> bool:
    """Docker's filters.Match: any pattern that is a regexp found in the name."""
    for pattern in patterns:
        try:
            if re.search(pattern, name):
                return True
        except re.error:
            continue
    return False


def select(volumes: list[Volume], filters: dict[str, list[str]],
           used: set[str]) -> list[Volume]:
    _check(filters, LIST_FILTERS)
    dangling = _flag(filters, "dangling")
    drivers = filters.get("driver", [])
    names = filters.get("name", [])
    chosen = []
    for volume in volumes:
        if names and not _name_matches(names, volume.name):
            continue
        if drivers and volume.driver not in drivers:
            continue
        if not _labels_match(volume, filters):
            continue
        if dangling is not None and (volume.name in used) == dangling:
            continue
        chosen.append(volume)
    return chosen


def prune_selection(volumes: list[Volume], filters: dict[str, list[str]]) -> list[Volume]:
    """Candidates for prune (the caller still skips those in use): anonymous volumes only,
    unless all=true, as since Docker 23 (API 1.42)."""
    _check(filters, PRUNE_FILTERS)
    everything = bool(_flag(filters, "all"))
    return [v for v in volumes
            if (everything or v.anonymous) and _labels_match(v, filters)]
