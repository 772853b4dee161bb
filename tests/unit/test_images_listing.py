"""`GET /images/json` filters: Go path.Match patterns, dangling, label, before/since/until."""

from __future__ import annotations

import time

import pytest

from ketch.errors import InvalidParameter, NotFound
from ketch.images.image import Image
from ketch.images.listing import path_match, select


def image(hex_digit: str, created: str, tags: list[str], labels: dict[str, str] | None = None
          ) -> Image:
    return Image(id="sha256:" + hex_digit * 64, repo_tags=tags,
                 config={"created": created, "config": {"Labels": labels}})


OLD = image("a", "2020-01-01T00:00:00Z", ["busybox:latest", "busybox:1.36", "me/app:v1"],
            {"team": "core"})
MID = image("b", "2022-01-01T00:00:00Z", [])
NEW = image("c", "2024-01-01T00:00:00Z", ["localhost:5000/app:dev"], {"team": "web"})
ALL = [NEW, MID, OLD]


def lookup(ref: str) -> Image:
    for img in ALL:
        if ref in img.repo_tags or img.id.endswith(ref):
            return img
    raise NotFound(f"No such image: {ref}")


def ids(filters: dict[str, list[str]]) -> list[str]:
    return [s["Id"][7] for s in select(ALL, filters, lookup)]


@pytest.mark.parametrize(("pattern", "text", "matches"), [
    ("busybox", "busybox", True),
    ("busy*", "busybox", True),
    ("*", "me/app", False),  # `*` stops at a slash, as in Go
    ("*/*", "me/app", True),
    ("busybox:1.3?", "busybox:1.36", True),
    ("busy[a-c]ox", "busybox", True),
    ("busy[^b]ox", "busybox", False),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("a.b", "axb", False),  # regex characters are literal
])
def test_path_match(pattern: str, text: str, matches: bool) -> None:
    assert bool(path_match(pattern).fullmatch(text)) is matches


@pytest.mark.parametrize("pattern", ["busy[box", "a\\", "[]"])
def test_bad_patterns_are_invalid_parameters(pattern: str) -> None:
    with pytest.raises(InvalidParameter):
        path_match(pattern)


def test_reference_narrows_repo_tags() -> None:
    found = select(ALL, {"reference": ["busybox"]}, lookup)
    assert [s["RepoTags"] for s in found] == [["busybox:latest", "busybox:1.36"]]
    found = select(ALL, {"reference": ["busybox:1.*"]}, lookup)
    assert [s["RepoTags"] for s in found] == [["busybox:1.36"]]
    assert ids({"reference": ["*/app"]}) == ["c", "a"]  # localhost:5000 has no slash
    assert ids({"reference": ["me/*:v1"]}) == ["a"]
    assert ids({"reference": ["localhost:5000/app"]}) == ["c"]
    assert ids({"reference": ["nothing"]}) == []


def test_dangling_label_and_times() -> None:
    assert ids({}) == ["c", "b", "a"]
    assert ids({"dangling": ["true"]}) == ["b"]
    assert ids({"dangling": ["false"]}) == ["c", "a"]
    assert ids({"label": ["team"]}) == ["c", "a"]
    assert ids({"label": ["team=web"]}) == ["c"]
    assert ids({"before": ["localhost:5000/app:dev"]}) == ["b", "a"]
    assert ids({"since": ["busybox:latest"]}) == ["c", "b"]
    assert ids({"until": ["2023-01-01T00:00:00Z"]}) == ["b", "a"]
    assert ids({"until": [str(int(time.mktime((2021, 1, 1, 0, 0, 0, 0, 0, 0))))]}) == ["a"]
    assert ids({"until": ["1h"]}) == ["c", "b", "a"]


@pytest.mark.parametrize(("filters", "error"), [
    ({"bogus": ["1"]}, InvalidParameter),
    ({"dangling": ["maybe"]}, InvalidParameter),
    ({"until": ["yesterday"]}, InvalidParameter),
    ({"before": ["nope:1"]}, NotFound),
])
def test_bad_filters(filters: dict[str, list[str]], error: type[Exception]) -> None:
    with pytest.raises(error):
        select(ALL, filters, lookup)
