"""`--since`/`--until` values the way the docker CLI sends them (timetypes.GetTimestamp):
durations (`10m`, `1h30m`) and RFC 3339 dates become Unix seconds; numbers pass through."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float | None:
    """Go's time.ParseDuration, in seconds; None if `value` is not a duration."""
    pos, total = 0, 0.0
    text = value.lstrip("-+")
    if not text:
        return None
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if not m:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return -total if value.startswith("-") else total


def get_timestamp(value: str, now: float | None = None) -> str:
    if not value:
        return value
    now = time.time() if now is None else now
    duration = parse_duration(value)
    if duration is not None:
        return _seconds(now - duration)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return value
    text = value.replace("Z", "+00:00")
    for candidate in (text, text + "T00:00:00"):
        try:
            moment = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.astimezone()  # the CLI reads zone-less dates as local time
        return _seconds(moment.astimezone(UTC).timestamp())
    return value


def _seconds(ts: float) -> str:
    whole = int(ts)
    return f"{whole}.{round((ts - whole) * 1e9):09d}"
