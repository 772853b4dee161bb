"""Variable substitution in compose files, by the compose specification's rules.

`$VAR` and `${VAR}` take the variable's value (empty, with a warning, when unset);
`${VAR:-default}` / `${VAR-default}` fall back when unset or empty / unset;
`${VAR:?err}` / `${VAR?err}` fail when unset or empty / unset;
`${VAR:+alt}` / `${VAR+alt}` give `alt` when set and not empty / set, else nothing;
`$$` is a literal `$`. Defaults, alternatives and error texts are themselves
interpolated, so `${A:-${B:-x}}` nests. Any other `$` is an error, as in docker compose.

Only values are interpolated, never mapping keys; substitution happens file by file,
before the files are merged, so that a short syntax may be built from variables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ketch.compose.errors import ComposeError, key_path
from ketch.compose.yamlload import Override

Lookup = Callable[[str], "str | None"]
Warn = Callable[[str], None]

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
MAX_NESTING = 16  # `${A:-${B:-...}}` levels; deeper is refused (each level rescans)


class InvalidFormat(Exception):
    """A `$` that is not a valid substitution; the caller names the place."""


def unset_warning(name: str) -> str:
    return f'The "{name}" variable is not set. Defaulting to a blank string.'


def _name_end(text: str, start: int) -> int:
    end = start
    if end < len(text) and text[end] in _NAME_START:
        end += 1
        while end < len(text) and text[end] in _NAME_CHARS:
            end += 1
    return end


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` that closes a `${` whose body starts at `start` (nested `${...}`
    and `$$` inside the body are skipped); -1 when unclosed."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "$" and i + 1 < len(text) and text[i + 1] in "${":
            if text[i + 1] == "{":
                depth += 1
            i += 2
            continue
        if ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def substitute(text: str, lookup: Lookup, warn: Warn | None = None, depth: int = 0) -> str:
    """`text` with its variables substituted; raises InvalidFormat or ComposeError (a
    required variable without a value)."""
    if depth > MAX_NESTING:
        raise InvalidFormat
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        nxt = dollar + 1
        if nxt < len(text) and text[nxt] == "$":
            out.append("$")
            i = nxt + 1
            continue
        if nxt < len(text) and text[nxt] == "{":
            close = _closing_brace(text, nxt + 1)
            if close < 0:
                raise InvalidFormat
            out.append(_braced(text[nxt + 1:close], lookup, warn, depth))
            i = close + 1
            continue
        end = _name_end(text, nxt)
        if end == nxt:
            raise InvalidFormat
        name = text[nxt:end]
        value = lookup(name)
        if value is None:
            if warn is not None:
                warn(unset_warning(name))
            value = ""
        out.append(value)
        i = end
    return "".join(out)


def _braced(body: str, lookup: Lookup, warn: Warn | None, depth: int) -> str:
    end = _name_end(body, 0)
    if end == 0:
        raise InvalidFormat
    name, rest = body[:end], body[end:]
    value = lookup(name)
    if not rest:
        if value is None:
            if warn is not None:
                warn(unset_warning(name))
            return ""
        return value
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise InvalidFormat
    argument = rest[len(operator):]
    missing = value is None or (operator.startswith(":") and value == "")
    kind = operator[-1]
    if kind == "-":
        return substitute(argument, lookup, warn, depth + 1) if missing else str(value)
    if kind == "+":
        return "" if missing else substitute(argument, lookup, warn, depth + 1)
    # "?": required
    if missing:
        message = substitute(argument, lookup, warn, depth + 1)
        raise ComposeError(f"required variable {name} is missing a value"
                           + (f": {message}" if message else ""))
    return str(value)


def interpolate(tree: Any, lookup: Lookup, warn: Warn | None = None,
                path: tuple[str | int, ...] = ()) -> Any:
    """`tree` with every string value substituted (keys are left alone)."""
    if isinstance(tree, str):
        try:
            return substitute(tree, lookup, warn)
        except InvalidFormat:
            raise ComposeError(f"invalid interpolation format for {key_path(path)}: "
                               f'"{tree}". You may need to escape any $ with another $'
                               ) from None
    if isinstance(tree, dict):
        return {key: interpolate(value, lookup, warn, (*path, key))
                for key, value in tree.items()}
    if isinstance(tree, list):
        return [interpolate(value, lookup, warn, (*path, index))
                for index, value in enumerate(tree)]
    if isinstance(tree, Override):
        return Override(interpolate(tree.value, lookup, warn, path))
    return tree
