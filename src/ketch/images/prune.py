"""`POST /images/prune`: remove unused images, as Docker's graphdriver image service does.

Without `dangling=false` only untagged images go. With it (`prune -a`) every tag of
every image is removed in turn with rmi's rules (no force): an image a container uses,
running or not, is never deleted, but, as in Docker, its other tags may be untagged
before rmi refuses the last one. `until`, `label` and `label!` narrow the candidates.
SpaceReclaimed adds up the layers that went with them.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ketch.errors import Conflict, InvalidParameter, KetchError, NotFound
from ketch.images.image import ZERO_TIME, Image

if TYPE_CHECKING:
    from ketch.images.store import ImageStore, InUse

ACCEPTED = ("dangling", "label", "label!", "until")
_RUNNING = threading.Lock()  # one prune at a time, as Docker

_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
         "h": 3600.0}
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?", re.ASCII)
_UNIX = re.compile(r"\+?\d+(?:\.\+?\d+)?", re.ASCII)


def go_duration(text: str) -> float | None:
    """Go's time.ParseDuration in seconds ("1h30m", "-5m", "1.5h"), or None."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in ("-", "+") else text
    if not body:
        return None
    total, pos = 0.0, 0
    while pos < len(body):
        part = _DURATION_PART.match(body, pos)
        if part is None or part.group(1) in ("", "."):
            return None
        total += float(part.group(1)) * _UNIT[part.group(2)]
        pos = part.end()
    return sign * total


def until_timestamp(value: str, now: float | None = None) -> float:
    """The `until` filter's forms (Docker's timetypes.GetTimestamp): a Go duration before
    now, an RFC 3339 date or time (local time when it has no zone), or unix seconds."""
    now = time.time() if now is None else now
    duration = go_duration(value) if value != "0" else None
    if duration is not None:
        return now - duration
    match = _TIME.fullmatch(value)
    if match is not None:
        year, month, day, hour, minute, second, frac, zone = match.groups()
        for name, number, low, high in (("month", month, 1, 12), ("day", day, 1, 31),
                                        ("hour", hour, 0, 23), ("minute", minute, 0, 59),
                                        ("second", second, 0, 59)):
            if number is not None and not low <= int(number) <= high:
                raise InvalidParameter(f'parsing time "{value}": {name} out of range')
        try:
            moment = datetime(int(year), int(month), int(day), int(hour or 0),
                              int(minute or 0), int(second or 0))
        except ValueError:
            raise InvalidParameter(f'parsing time "{value}": day out of range') from None
        try:
            if zone == "Z":
                moment = moment.replace(tzinfo=UTC)
            elif zone:
                offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
                moment = moment.replace(tzinfo=timezone(offset if zone[0] == "+" else -offset))
            stamp = moment.timestamp()
        except (ValueError, OverflowError):  # a zone of a day or more; local time near year 1
            raise InvalidParameter(f'parsing time "{value}": out of range') from None
        return stamp + (float(f"0.{frac}") if frac else 0.0)
    if "-" in value:  # meant as a date, and not one
        raise InvalidParameter(f'parsing time "{value}": cannot parse as a date or time')
    if _UNIX.fullmatch(value):
        seconds, _, nanos = value.partition(".")
        return int(seconds) + (float(f"0.{nanos.lstrip('+')}") if nanos else 0.0)
    raise InvalidParameter(f'failed to parse value as time or duration: "{value}"')


def labels_match(wanted: list[str], labels: dict[str, str]) -> bool:
    """Docker's MatchKVList: every `key` or `key=value` is among the labels."""
    if not wanted:
        return True
    if not labels:
        return False
    for want in wanted:
        key, sep, value = want.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _created(image: Image) -> float:
    """The image's creation time in seconds (Go's zero time if it has none)."""
    text = image.created or ZERO_TIME
    if _TIME.fullmatch(text) is None:
        return until_timestamp(ZERO_TIME)
    try:
        return until_timestamp(text)
    except InvalidParameter:
        return until_timestamp(ZERO_TIME)


def candidates(images: list[Image], filters: dict[str, list[str]]) -> tuple[list[Image], bool]:
    """The images the filters select, and whether only dangling ones are wanted."""
    for key in filters:
        if key not in ACCEPTED:
            raise InvalidParameter(f"Invalid filter '{key}'")
    dangling = filters.get("dangling", [])
    dangling_only = True
    if dangling:
        if "false" in dangling or "0" in dangling:
            dangling_only = False
        elif "true" not in dangling and "1" not in dangling:
            raise InvalidParameter(f"Invalid filter 'dangling=[{' '.join(dangling)}]'")
    until: float | None = None
    if filters.get("until"):
        if len(filters["until"]) > 1:
            raise InvalidParameter("more than one until filter specified")
        until = until_timestamp(filters["until"][0])
    found = []
    for image in images:
        if until is not None and _created(image) > until:
            continue
        config = image.config.get("config")
        if config is not None:  # Docker skips the label filters for an image without one
            labels = config.get("Labels") or {}
            if not labels_match(filters.get("label", []), labels):
                continue
            if filters.get("label!") and labels_match(filters["label!"], labels):
                continue
        found.append(image)
    return found, dangling_only


def prune(store: ImageStore, filters: dict[str, list[str]],
          in_use: InUse | None = None) -> dict[str, Any]:
    """Remove the unused images the filters select; Docker's ImagesPruneReport."""
    if not _RUNNING.acquire(blocking=False):
        raise Conflict("a prune operation is already running")
    try:
        parents = store.parents()  # only images without children go (and then their
        # untagged parents with them), as Docker prunes
        images, dangling_only = candidates([i for i in store.list() if i.id not in parents],
                                           filters)
        sizes: dict[str, int] = {}
        for chain in store.layers.list():
            try:
                sizes[chain] = store.layers.get(chain).size
            except NotFound:
                continue  # half made or half deleted
        deleted: list[dict[str, str]] = []
        for image in sorted(images, key=lambda i: (i.created, i.id)):
            if (image.repo_tags or image.repo_digests) and dangling_only:
                continue
            for ref in [*image.repo_tags, *image.repo_digests] or \
                    [image.id.removeprefix("sha256:")]:
                try:
                    deleted += store.remove(ref, in_use=in_use)
                except Conflict:
                    continue  # in use, or still tagged: it stays
                except KetchError:
                    continue  # gone meanwhile: nothing to prune
        reclaimed = sum(sizes.get(d.get("Deleted", ""), 0) for d in deleted)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}
    finally:
        _RUNNING.release()
