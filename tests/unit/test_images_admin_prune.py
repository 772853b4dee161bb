"""`image prune`'s filters (Docker's words and time forms) and the CLI's report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ketch.cli.commands.prune import report_text
from ketch.errors import InvalidParameter
from ketch.images.image import Image
from ketch.images.prune import candidates, go_duration, until_timestamp

NOW = 1795825600.0


@pytest.mark.parametrize(("text", "seconds"), [
    ("10m", 600.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("-5m", -300.0), ("300ms", 0.3),
    (".5s", 0.5), ("2h45m10s", 9910.0), ("1us", 1e-6), ("1µs", 1e-6),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "m", "5x", "1h5", ".h", "--1m"])
def test_not_go_durations(text: str) -> None:
    assert go_duration(text) is None


def test_until_forms(utc: None) -> None:
    assert until_timestamp("10m", NOW) == NOW - 600
    assert until_timestamp("1795825600", NOW) == 1795825600
    assert until_timestamp("1795825600.5", NOW) == 1795825600.5
    assert until_timestamp("0", NOW) == 0  # "0" is a time, not a duration
    assert until_timestamp("2026-11-28", NOW) == datetime(2026, 11, 28).timestamp()
    assert until_timestamp("2026-11-28T10", NOW) == datetime(2026, 11, 28, 10).timestamp()
    assert until_timestamp("2026-11-28T10:30:00Z", NOW) == 1795861800
    assert until_timestamp("2026-11-28T10:30:00+01:00", NOW) == 1795861800 - 3600
    assert until_timestamp("2026-11-28T10:30:00.25Z", NOW) == 1795861800.25


@pytest.mark.parametrize(("text", "message"), [
    ("xyz", 'failed to parse value as time or duration: "xyz"'),
    ("", 'failed to parse value as time or duration: ""'),
    ("2020-13-01", 'parsing time "2020-13-01": month out of range'),
])
def test_until_errors_in_dockers_words(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        until_timestamp(text, NOW)
    assert str(caught.value) == message


def _image(name: str, created: str, labels: dict[str, str] | None = None,
           tags: list[str] | None = None, config: bool = True) -> Image:
    cfg: dict[str, Any] = {"created": created}
    if config:
        cfg["config"] = {"Labels": labels}
    return Image(id=f"sha256:{name * 64}"[:71], config=cfg, repo_tags=tags or [])


def test_candidates_filters() -> None:
    old = _image("a", "2026-01-01T00:00:00Z", {"keep": "yes"})
    new = _image("b", "2026-11-01T00:00:00Z", {"team": "x"}, ["b:1"])
    bare = _image("c", "2026-06-01T00:00:00Z", config=False)
    images = [old, new, bare]
    assert candidates(images, {}) == (images, True)
    assert candidates(images, {"dangling": ["false"]})[1] is False
    assert candidates(images, {"dangling": ["true", "false"]})[1] is False  # -a wins
    assert candidates(images, {"until": ["2026-07-01T00:00:00Z"]})[0] == [old, bare]
    # an image without a config is not label-filtered at all, as in Docker
    assert candidates(images, {"label": ["team"]})[0] == [new, bare]
    assert candidates(images, {"label": ["team=y"]})[0] == [bare]
    assert candidates(images, {"label!": ["keep=yes"]})[0] == [new, bare]
    assert candidates(images, {"label!": ["keep", "other"]})[0] == images


@pytest.mark.parametrize(("filters", "message"), [
    ({"foo": ["x"]}, "Invalid filter 'foo'"),
    ({"reference": ["x"]}, "Invalid filter 'reference'"),
    ({"dangling": ["maybe"]}, "Invalid filter 'dangling=[maybe]'"),
    ({"until": ["1h", "2h"]}, "more than one until filter specified"),
])
def test_candidates_errors(filters: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        candidates([], filters)
    assert str(caught.value) == message


def test_report_as_docker_prints_it() -> None:
    assert report_text({"ImagesDeleted": None, "SpaceReclaimed": 0}) == (
        "Total reclaimed space: 0B\n")
    report = {"ImagesDeleted": [{"Untagged": "busybox:latest"},
                                {"Deleted": "sha256:" + "a" * 64},
                                {"Deleted": "sha256:" + "b" * 64}],
              "SpaceReclaimed": 1986674}
    assert report_text(report) == (
        "Deleted Images:\nuntagged: busybox:latest\n"
        f"deleted: sha256:{'a' * 64}\ndeleted: sha256:{'b' * 64}\n\n"
        "Total reclaimed space: 1.987MB\n")
