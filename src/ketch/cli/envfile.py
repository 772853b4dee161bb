"""Environment variables from `-e` and `--env-file`, by Docker's rules.

`KEY=value` passes as is; a bare `KEY` takes the host's value when the host has one and
is passed bare otherwise. Env files: leading whitespace trimmed, blank lines and `#`
comments skipped, a UTF-8 BOM dropped, the value never trimmed, a name with whitespace
refused.
"""

from __future__ import annotations

import os

from ketch.cli.command import CLIError

_WHITESPACE = " \t"


def resolve_env(item: str) -> str:
    """One `-e` value."""
    if "=" in item:
        if item.startswith("="):
            raise CLIError(f"invalid environment variable: {item}", 125)
        return item
    value = os.environ.get(item)
    return f"{item}={value}" if value is not None else item


def parse_env_lines(lines: list[str], origin: str = "") -> list[str]:
    out: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = raw.removesuffix("\r")
        if number == 1:
            line = line.removeprefix("\ufeff")
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        variable, eq, value = line.partition("=")
        variable = variable.lstrip(_WHITESPACE)
        if any(c in variable for c in _WHITESPACE):
            raise CLIError(f"poorly formatted environment: variable '{variable}' contains "
                           f"whitespaces", 125)
        if not variable:
            raise CLIError(f"poorly formatted environment: no variable name on line '{line}'",
                           125)
        if eq:
            out.append(f"{variable}={value}")
        else:
            host = os.environ.get(line)
            out.append(f"{variable.strip()}={host}" if host is not None else variable)
    return out


def parse_env_file(path: str) -> list[str]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise CLIError(f"open {path}: {(exc.strerror or str(exc)).lower()}", 125) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CLIError(f"env file {path} contains invalid utf8 bytes", 125) from None
    return parse_env_lines(text.split("\n") if text else [], path)
