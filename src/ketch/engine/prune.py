"""Which containers `docker container prune` takes: the filters it accepts (`until`,
`label`, `label!`) read as dockerd reads them."""

from __future__ import annotations

from ketch.engine.containers import Container
from ketch.errors import InvalidParameter
from ketch.images.prune import labels_match, until_timestamp

ACCEPTED = ("until", "label", "label!")


def selected(containers: list[Container], filters: dict[str, list[str]]) -> list[Container]:
    for key in filters:
        if key not in ACCEPTED:
            raise InvalidParameter(f"Invalid filter '{key}'")
    if len(filters.get("until", [])) > 1:
        raise InvalidParameter("more than one until filter specified")
    until = until_timestamp(filters["until"][0]) if filters.get("until") else None
    from ketch.engine.engine import parse_time

    found = []
    for c in containers:
        if until is not None and parse_time(c.record["Created"]) > until:
            continue
        labels = c.config.get("Labels") or {}
        if not labels_match(filters.get("label", []), labels):
            continue
        if filters.get("label!") and labels_match(filters["label!"], labels):
            continue
        found.append(c)
    return found
