"""Durations (`1m30s`) and byte sizes (`512m`) as the compose specification reads them,
and durations written back the way Go prints them (docker compose's output).

Durations combine `{value}{unit}` terms without separators, units ns, us (µs), ms, s,
m, h, d and w; a value may have a fraction (`1.5s`). Sizes are `{amount}{unit}` with
binary units b, k, m, g, t, p (optionally followed by `b` or `ib`, any case); a plain
integer is a count of bytes.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
    "d": 86_400_000_000_000, "w": 604_800_000_000_000,
}
_DURATION_TERM = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)")
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


class UnitError(ValueError):
    """A value that is not a duration or a size; the message says why."""


def parse_duration(text: str) -> int:
    """Nanoseconds in a duration string."""
    value = text.strip()
    sign = 1
    if value[:1] in "+-" and value:
        sign = -1 if value[0] == "-" else 1
        value = value[1:]
    if value == "0":
        return 0
    if not value:
        raise UnitError(f"invalid duration {text!r}")
    if re.fullmatch(r"[0-9.]+", value):
        raise UnitError(f"missing unit in duration {text!r}")
    total = 0.0
    position = 0
    while position < len(value):
        match = _DURATION_TERM.match(value, position)
        if match is None or match.end() == position:
            raise UnitError(f"invalid duration {text!r}")
        number, unit = match.groups()
        if unit not in _DURATION_UNITS:
            raise UnitError(f"unknown unit {unit!r} in duration {text!r}")
        if number in ("", "."):
            raise UnitError(f"invalid duration {text!r}")
        total += float(number) * _DURATION_UNITS[unit]
        position = match.end()
    return sign * round(total)


def _fraction(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10 ** digits)
    text = str(whole)
    if frac:
        text += "." + f"{frac:0{digits}d}".rstrip("0")
    return text


def format_duration(nanoseconds: int) -> str:
    """Go's time.Duration.String(): `1m30s`, `1h0m0s`, `1.5s`, `500ms`, `0s`."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    u = abs(nanoseconds)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_fraction(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_fraction(u, 6)}ms"
    seconds, rest = divmod(u, 1_000_000_000)
    text = _fraction((seconds % 60) * 1_000_000_000 + rest, 9) + "s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def canonical_duration(value: object) -> str:
    """A duration written back in Go's form (`90s` -> `1m30s`)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UnitError(f"invalid duration {value!r}")
    return format_duration(parse_duration(str(value)))


def parse_size(value: object) -> int:
    """Bytes in a size: an integer, or a string like `512m`, `1.5g`, `2048KB`."""
    if isinstance(value, bool):
        raise UnitError(f"invalid size: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        raise UnitError(f"invalid size: {value!r}")
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    match = _SIZE.match(text)
    if match is None:
        raise UnitError(f"invalid size: {value!r}")
    number, unit = match.groups()
    try:
        amount = float(number)
    except ValueError:
        raise UnitError(f"invalid size: {value!r}") from None
    return int(amount * _SIZE_UNITS[(unit or "").lower()])
