"""Typed reads of compose values, each error naming the key path.

A value that the schema lets be a string (it may come from a variable) is converted
here to what the key means: `tty: "true"` -> True, `scale: "3"` -> 3.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ketch.compose.errors import ComposeError, key_path

Path = tuple[str | int, ...]

_TRUE = {"true", "1", "yes", "y", "on", "t"}
_FALSE = {"false", "0", "no", "n", "off", "f"}


def fail(path: Path, message: str) -> ComposeError:
    return ComposeError(f"{key_path(path)} {message}")


def to_bool(value: Any, path: Path) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise fail(path, f"must be a boolean, not {show(value)}")


def to_int(value: Any, path: Path) -> int:
    if isinstance(value, bool):
        raise fail(path, f"must be an integer, not {show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise fail(path, f"must be an integer, not {show(value)}")


def to_float(value: Any, path: Path) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise fail(path, f"must be a number, not {show(value)}")


def number(value: float) -> int | float:
    """3.0 -> 3, as docker compose prints a whole number."""
    return int(value) if float(value).is_integer() else value


def to_str(value: Any) -> str:
    """A scalar as Go formats it: booleans lowercase, whole floats without `.0`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


def show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else to_str(value)


def string_list(value: Any, path: Path) -> list[str]:
    """A string or a list of scalars -> a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [to_str(item) for item in value]
    raise fail(path, f"must be a string or list, not {show(value)}")


def key_values(value: Any, path: Path, separator: str = "=",
               bare: Callable[[str], str | None] | None = None) -> dict[str, str | None]:
    """A `KEY=VALUE` list or a mapping -> a mapping. A bare `KEY` (or `KEY:` with no
    value) becomes `bare(KEY)` when `bare` is given, else None."""
    out: dict[str, str | None] = {}
    if value is None:
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                out[key] = bare(key) if bare is not None else None
            elif isinstance(item, dict | list):
                raise fail((*path, key), f"must be a string, number, boolean or null, "
                                         f"not {show(item)}")
            else:
                out[key] = to_str(item)
        return out
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise fail((*path, index), "must be a string")
            key, sep, rest = item.partition(separator)
            if sep:
                out[key] = rest
            else:
                out[key] = bare(key) if bare is not None else None
        return out
    raise fail(path, f"must be a mapping or list, not {show(value)}")


def labels(value: Any, path: Path) -> dict[str, str]:
    """Labels: a bare key is an empty label."""
    return {key: "" if item is None else item for key, item in key_values(value, path).items()}
