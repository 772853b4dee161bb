"""Durations and byte sizes as the compose specification reads them."""

from __future__ import annotations

import pytest

from ketch.compose.units import (
    UnitError,
    canonical_duration,
    format_duration,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(("text", "nanoseconds"), [
    ("1m30s", 90 * 10**9), ("90s", 90 * 10**9), ("1.5s", 1_500_000_000), ("10ms", 10**7),
    ("100us", 100_000), ("100µs", 100_000), ("5ns", 5), ("2h", 7200 * 10**9),
    ("1h5m30s20ms", (3600 + 330) * 10**9 + 20 * 10**6), ("1d", 86400 * 10**9),
    ("1w", 7 * 86400 * 10**9), ("0", 0), ("0s", 0), ("-1s", -(10**9)), (".5s", 5 * 10**8),
])
def test_parse_duration(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "10", "1.5", "s", "1x", "1m30", "abc", "1 s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UnitError):
        parse_duration(text)


@pytest.mark.parametrize(("nanoseconds", "text"), [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (1_200_000, "1.2ms"), (500_000_000, "500ms"),
    (10**9, "1s"), (1_500_000_000, "1.5s"), (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"),
    (3661 * 10**9, "1h1m1s"), (-(90 * 10**9), "-1m30s"), (86400 * 10**9, "24h0m0s"),
])
def test_format_duration_like_go(nanoseconds: int, text: str) -> None:
    assert format_duration(nanoseconds) == text


def test_canonical_duration() -> None:
    assert canonical_duration("90s") == "1m30s"
    assert canonical_duration("1h") == "1h0m0s"
    with pytest.raises(UnitError):
        canonical_duration(True)


@pytest.mark.parametrize(("value", "size"), [
    (1024, 1024), ("2b", 2), ("1024kb", 1024 * 1024), ("2048k", 2048 * 1024),
    ("300m", 300 * 2**20), ("1gb", 2**30), ("1g", 2**30), ("512M", 512 * 2**20),
    ("1.5g", int(1.5 * 2**30)), ("1GiB", 2**30), ("-1", -1), ("100", 100), ("1 k", 1024),
    (64.0, 64),
])
def test_parse_size(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["", "abc", "1x", "-1m", True, [1], "1.2.3"])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(UnitError):
        parse_size(value)
