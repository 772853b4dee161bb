"""Env files (`.env`, `--env-file`, a service's `env_file`), in the compose format.

One `KEY=VALUE` a line, an optional `export ` before the key; blank lines and `#`
comments skipped. Values:
- unquoted: up to the end of the line, a ` #` comment cut off, trailing blanks
  trimmed, variables interpolated;
- `"double quoted"`: may span lines, `\\n \\r \\t \\\\ \\"` escapes, variables interpolated;
- `'single quoted'`: taken literally (only `\\'` is an escape).
A bare `KEY` takes its value from the lookup, and is left out when that has none.
"""

from __future__ import annotations

from ketch.compose.errors import ComposeError
from ketch.compose.interpolation import InvalidFormat, Lookup, substitute

_BLANK = " \t"
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$$"}


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def parse_env(text: str, source: str, lookup: Lookup, file_first: bool = False
              ) -> dict[str, str]:
    """The variables of an env file's `text`. Interpolation in values sees the
    `lookup` and the variables defined above in the same file (the file's first when
    `file_first`, else the lookup's)."""
    values: dict[str, str] = {}

    def resolve(name: str) -> str | None:
        if file_first and name in values:
            return values[name]
        found = lookup(name)
        if found is not None:
            return found
        return values.get(name)

    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    i, n = 0, len(text)
    while i < n:
        # skip blank lines and leading whitespace
        while i < n and text[i] in " \t\n\r":
            i += 1
        if i >= n:
            break
        if text[i] == "#":
            i = _end_of_line(text, i)
            continue
        start = i
        if text.startswith("export ", i) or text.startswith("export\t", i):
            i += 7
            while i < n and text[i] in _BLANK:
                i += 1
        key_start = i
        while i < n and text[i] not in "=\n" and text[i] not in _BLANK:
            i += 1
        key = text[key_start:i]
        while i < n and text[i] in _BLANK:
            i += 1
        line = _line_of(text, start)
        if not key:
            raise ComposeError(f"{source}: line {line}: no variable name before "
                               f"{text[i:_end_of_line(text, i)]!r}")
        if i >= n or text[i] == "\n" or text[i] == "#":
            i = _end_of_line(text, i)
            inherited = lookup(key)
            if inherited is not None:
                values[key] = inherited
            continue
        if text[i] != "=":
            raise ComposeError(f"{source}: line {line}: unexpected character "
                               f"{text[i]!r} in variable name {key!r}")
        _check_name(key, source, line)
        i += 1
        while i < n and text[i] in _BLANK:
            i += 1
        if i < n and text[i] == "'":
            value, i = _single_quoted(text, i + 1, source, line)
        elif i < n and text[i] == '"':
            raw, i = _double_quoted(text, i + 1, source, line)
            value = _interpolate(raw, resolve, source, line)
        else:
            end = _end_of_line(text, i)
            raw = text[i:end]
            comment = _inline_comment(raw)
            if comment >= 0:
                raw = raw[:comment]
            value = _interpolate(raw.rstrip(" \t"), resolve, source, line)
            i = end
            values[key] = value
            continue
        # after a quoted value: only blanks or a comment may follow on the line
        end = _end_of_line(text, i)
        trailing = text[i:end].strip(" \t")
        if trailing and not trailing.startswith("#"):
            raise ComposeError(f"{source}: line {_line_of(text, i)}: unexpected text "
                               f"{trailing!r} after the quoted value of {key}")
        i = end
        values[key] = value
    return values


def _check_name(key: str, source: str, line: int) -> None:
    for ch in key:
        if not (ch.isalnum() or ch in "_.-[]"):
            raise ComposeError(f"{source}: line {line}: unexpected character {ch!r} in "
                               f"variable name {key!r}")


def _end_of_line(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _inline_comment(raw: str) -> int:
    for index, ch in enumerate(raw):
        if ch == "#" and (index == 0 or raw[index - 1] in _BLANK):
            return index
    return -1


def _single_quoted(text: str, i: int, source: str, line: int) -> tuple[str, int]:
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == "'":
            out.append("'")
            i += 2
            continue
        if ch == "'":
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise ComposeError(f"{source}: line {line}: unterminated quoted value")


def _double_quoted(text: str, i: int, source: str, line: int) -> tuple[str, int]:
    """The raw text between the quotes, escapes applied except `\\$` (kept as `$$`,
    a literal dollar for the interpolation that follows)."""
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise ComposeError(f"{source}: line {line}: unterminated quoted value")


def _interpolate(raw: str, lookup: Lookup, source: str, line: int) -> str:
    """Variables substituted; a `$` that starts no variable (`pa$1word`) is kept as
    written, as env files are read leniently."""
    try:
        return substitute(raw, lookup)
    except InvalidFormat:
        return raw.replace("$$", "$")


def read_env_file(path: str, lookup: Lookup, file_first: bool = False) -> dict[str, str]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ComposeError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ComposeError(f"{path}: env file is not UTF-8 text") from None
    return parse_env(text, path, lookup, file_first)
