"""`GET /images/json` filters, as Docker applies them: reference, dangling, label, before,
since, until. A reference filter also narrows each image's RepoTags to the tags it matched."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ketch.errors import InvalidParameter
from ketch.images.image import Image, unix_time

FILTERS = frozenset({"before", "dangling", "label", "reference", "since", "until"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def path_match(pattern: str) -> re.Pattern[str]:
    """Go's path.Match pattern as a regex: `*` and `?` stop at `/`, `[...]` classes
    (`^` negates), `\\` escapes."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i == len(pattern):
                raise InvalidParameter(f"invalid reference filter: {pattern!r}")
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] == "^" else i + 1)
            if end < 0:
                raise InvalidParameter(f"invalid reference filter: {pattern!r}")
            body = pattern[i + 1:end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            if not body:
                raise InvalidParameter(f"invalid reference filter: {pattern!r}")
            chars = "".join(ch if ch == "-" else re.escape(ch) for ch in body.replace("\\", ""))
            out.append(f"[{'^/' if negate else ''}{chars}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


def _timestamp(value: str) -> float:
    """`until`'s forms: unix seconds, an RFC 3339 time, or a Go duration before now."""
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return time.time() - sum(float(n) * _UNIT[u] for n, u in parts)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidParameter(f"invalid filter 'until={value}'") from None


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for want in wanted:
        key, sep, value = want.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _tag_matches(tag: str, patterns: list[re.Pattern[str]]) -> bool:
    """Docker's FamiliarMatch: the pattern against `name:tag`, else against `name`."""
    name = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
    return any(p.fullmatch(tag) or p.fullmatch(name) for p in patterns)


def select(images: list[Image], filters: dict[str, list[str]],
           lookup: Callable[[str], Image]) -> list[dict[str, Any]]:
    """The summaries of the images the filters let through (`lookup` resolves before/since;
    its NotFound propagates as Docker's 404)."""
    for key in filters:
        if key not in FILTERS:
            raise InvalidParameter(f"invalid filter '{key}'")
    dangling: bool | None = None
    for value in filters.get("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidParameter(f"invalid filter 'dangling={value}'")
        dangling = value.lower() in ("true", "1")
    patterns = [path_match(p) for p in filters.get("reference", [])]
    before = [unix_time(lookup(ref).created) for ref in filters.get("before", [])]
    since = [unix_time(lookup(ref).created) for ref in filters.get("since", [])]
    until = [_timestamp(v) for v in filters.get("until", [])]
    labels = filters.get("label", [])
    found = []
    for image in images:
        created = unix_time(image.created)
        if dangling is not None and dangling == bool(image.repo_tags or image.repo_digests):
            continue
        if any(created >= b for b in before) or any(created <= s for s in since):
            continue
        if any(created > u for u in until):
            continue
        if labels and not _labels_match(image.container_config.get("Labels") or {}, labels):
            continue
        summary = image.summary()
        if patterns:
            tags = [t for t in image.repo_tags if _tag_matches(t, patterns)]
            digests = [d for d in image.repo_digests
                       if any(p.fullmatch(d.partition("@")[0]) for p in patterns)]
            if not tags and not digests:
                continue
            summary["RepoTags"] = tags or ["<none>:<none>"]
            summary["RepoDigests"] = digests
        found.append(summary)
    return found
