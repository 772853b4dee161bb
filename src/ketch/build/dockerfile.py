"""The Dockerfile parser, after Docker's reference and buildkit's parser: parser
directives, comments, line continuations, exec (JSON) and shell forms, heredocs, flags,
and each instruction's own argument syntax. It only parses: variables are substituted
when the build evaluates an instruction (shellwords.py), as Docker does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ketch.errors import InvalidParameter

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from",
                "healthcheck", "label", "maintainer", "onbuild", "run", "shell",
                "stopsignal", "user", "volume", "workdir")
FLAGS = {  # the flags each instruction accepts (buildkit's)
    "from": {"platform"},
    "run": {"mount", "network", "security"},
    "copy": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "add": {"chown", "chmod", "checksum", "keep-git-dir", "link", "exclude"},
    "healthcheck": {"interval", "timeout", "start-period", "start-interval", "retries"},
}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([a-zA-Z_][a-zA-Z0-9_.-]*)\2")
_WORD_SPLIT = re.compile(r"[ \t]+")


@dataclass
class Heredoc:
    name: str
    content: str
    expand: bool  # an unquoted delimiter: the content gets variables substituted
    chomp: bool   # <<- : leading tabs removed


@dataclass
class Instruction:
    cmd: str                     # lower case: "run", "copy", ...
    args: list[str]              # exec form: the list; shell form: one string; see parse
    line: int                    # where it starts (1-based)
    original: str                # as written (continuations joined)
    json: bool = False           # exec form
    flags: dict[str, list[str]] = field(default_factory=dict)
    heredocs: list[Heredoc] = field(default_factory=list)
    pairs: list[tuple[str, str | None]] = field(default_factory=list)  # ENV LABEL ARG
    sub: Instruction | None = None  # ONBUILD's instruction

    def error(self, message: str) -> InvalidParameter:
        return InvalidParameter(f"dockerfile parse error on line {self.line}: {message}")


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)


def _error(line: int, message: str) -> InvalidParameter:
    return InvalidParameter(f"dockerfile parse error on line {line}: {message}")


def parse(text: str) -> Dockerfile:
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    directives: dict[str, str] = {}
    index = 0
    while index < len(lines):  # directives: only at the very top
        found = _DIRECTIVE.match(lines[index].strip())
        if not found:
            break
        key, value = found.group(1).lower(), found.group(2)
        if key in directives:
            raise _error(index + 1, f"only one {key} parser directive can be used")
        directives[key] = value
        index += 1
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise InvalidParameter(f"invalid escape token '{escape}' does not match ` or \\")
    instructions: list[Instruction] = []
    while index < len(lines):
        start = index
        raw = lines[index]
        index += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        logical = raw.lstrip()
        while _continues(logical, escape):
            logical = logical.rstrip()[:-1]
            while index < len(lines):
                nxt = lines[index]
                index += 1
                if nxt.strip().startswith("#") or not nxt.strip():
                    continue  # comments and empty lines inside a continuation go
                logical += nxt
                break
            else:
                break
        inst = _instruction(logical, start + 1, escape)
        index = _read_heredocs(inst, lines, index)
        instructions.append(inst)
    return Dockerfile(instructions, escape, directives)


def _continues(line: str, escape: str) -> bool:
    """Docker's rule: the escape character last on the line, blanks after it allowed."""
    return line.rstrip(" \t").endswith(escape)


def _instruction(logical: str, line: int, escape: str) -> Instruction:
    word, _, rest = logical.strip().partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    cmd = word.lower()
    if cmd not in INSTRUCTIONS:
        raise _error(line, f"unknown instruction: {word}")
    rest = rest.strip()
    inst = Instruction(cmd, [], line, logical.strip())
    if cmd in FLAGS:
        rest = _take_flags(inst, rest)
    parser = _PARSERS.get(cmd, _parse_words)
    parser(inst, rest, escape)
    return inst


def _take_flags(inst: Instruction, rest: str) -> str:
    while rest.startswith("--"):
        token, _, after = rest.partition(" ")
        if "\t" in token:
            token, _, more = token.partition("\t")
            after = more + " " + after
        name, eq, value = token[2:].partition("=")
        if name not in FLAGS[inst.cmd]:
            raise inst.error(f"unknown flag: {name}")
        if not eq and name not in ("link", "parents", "keep-git-dir"):
            raise inst.error(f"missing a value on flag: {name}")
        inst.flags.setdefault(name, []).append(value if eq else "true")
        rest = after.lstrip()
    return rest


def _parse_json_or_string(inst: Instruction, rest: str, escape: str) -> None:
    """RUN, CMD, ENTRYPOINT: an exec form if it is a JSON array of strings, else the
    shell form as one string (handed to the shell as written)."""
    parsed = _json_list(rest)
    if parsed is not None:
        inst.args, inst.json = parsed, True
    else:
        inst.args = [rest] if rest else []
    if inst.cmd == "run" and not inst.args:
        raise inst.error("RUN requires at least one argument")


def _parse_shell(inst: Instruction, rest: str, escape: str) -> None:
    parsed = _json_list(rest)
    if parsed is None:
        raise inst.error("SHELL requires the arguments to be in JSON form")
    if not parsed:
        raise inst.error("SHELL requires at least one argument")
    inst.args, inst.json = parsed, True


def _parse_copy(inst: Instruction, rest: str, escape: str) -> None:
    """COPY and ADD: sources and destination, as JSON or words (kept unexpanded)."""
    parsed = _json_list(rest)
    if parsed is not None:
        inst.args, inst.json = parsed, True
    else:
        inst.args = [w for w in _WORD_SPLIT.split(rest) if w]
    if len(inst.args) < 2 and not (inst.heredocs or _HEREDOC.search(rest)):
        raise inst.error(f"{inst.cmd.upper()} requires at least two arguments, but only "
                         f"{len(inst.args)} provided")


def _parse_volume(inst: Instruction, rest: str, escape: str) -> None:
    parsed = _json_list(rest)
    if parsed is not None:
        inst.args, inst.json = parsed, True
    else:
        inst.args = [rest] if rest else []  # words, split after substitution
    if not inst.args:
        raise inst.error("VOLUME requires at least one argument")


def _parse_words(inst: Instruction, rest: str, escape: str) -> None:
    """FROM, WORKDIR, USER, EXPOSE, STOPSIGNAL, MAINTAINER: the text, expanded later."""
    inst.args = [rest] if rest else []
    need = {"from": 1, "workdir": 1, "user": 1, "expose": 1, "stopsignal": 1,
            "maintainer": 1}
    if inst.cmd in need and not inst.args:
        raise inst.error(f"{inst.cmd.upper()} requires exactly one argument"
                         if inst.cmd not in ("expose", "from", "maintainer")
                         else f"{inst.cmd.upper()} requires at least one argument")


def _parse_env(inst: Instruction, rest: str, escape: str) -> None:
    """ENV and LABEL: `k=v k2="v 2"` pairs, or the legacy single `k v`."""
    if not rest:
        raise inst.error(f"{inst.cmd.upper()} requires at least one argument")
    words = _split_keeping_quotes(rest, escape)
    if "=" not in words[0]:
        key, _, value = rest.partition(" ")
        if "\t" in key:
            key, _, value = rest.partition("\t")
        if not value.strip():
            raise inst.error(f"{inst.cmd.upper()} must have two arguments")
        inst.pairs = [(key, _quote_literal(value.strip()))]
    else:
        for word in words:
            key, eq, value = word.partition("=")
            if not eq:
                raise inst.error(f"Syntax error - can't find = in \"{word}\". Must be of "
                                 "the form: name=value")
            if not key:
                raise inst.error(f"{inst.cmd.upper()} names can not be blank")
            inst.pairs.append((key, value))
    inst.args = [f"{k}={v}" for k, v in inst.pairs]


def _quote_literal(value: str) -> str:
    """The legacy `ENV k v` form takes the rest of the line as it is: quoted so that the
    later expansion keeps its spaces."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if (
        " " in value or "\t" in value) and not (value.startswith(("'", '"'))) else value


def _parse_arg(inst: Instruction, rest: str, escape: str) -> None:
    if not rest:
        raise inst.error("ARG requires at least one argument")
    for word in _split_keeping_quotes(rest, escape):
        key, eq, value = word.partition("=")
        if not key:
            raise inst.error("ARG names can not be blank")
        inst.pairs.append((key, value if eq else None))
    inst.args = [f"{k}={v}" if v is not None else k for k, v in inst.pairs]


def _parse_healthcheck(inst: Instruction, rest: str, escape: str) -> None:
    kind, _, cmd = rest.partition(" ")
    kind = kind.upper()
    if kind == "NONE":
        if cmd.strip() or inst.flags:
            raise inst.error("HEALTHCHECK NONE takes no arguments")
        inst.args = ["NONE"]
        return
    if kind != "CMD":
        raise inst.error(f"Unknown type \"{kind}\" in HEALTHCHECK (try CMD)")
    cmd = cmd.strip()
    parsed = _json_list(cmd)
    if parsed is not None:
        inst.args, inst.json = ["CMD", *parsed], True
    elif cmd:
        inst.args = ["CMD-SHELL", cmd]
    else:
        raise inst.error("Missing command after HEALTHCHECK CMD")


def _parse_onbuild(inst: Instruction, rest: str, escape: str) -> None:
    if not rest:
        raise inst.error("ONBUILD requires at least one argument")
    word = rest.split(None, 1)[0].lower()
    if word in ("onbuild",):
        raise inst.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if word in ("maintainer", "from"):
        raise inst.error(f"{word.upper()} isn't allowed as an ONBUILD trigger")
    inst.sub = _instruction(rest, inst.line, escape)
    inst.args = [rest]


_PARSERS = {
    "run": _parse_json_or_string, "cmd": _parse_json_or_string,
    "entrypoint": _parse_json_or_string, "shell": _parse_shell,
    "copy": _parse_copy, "add": _parse_copy, "volume": _parse_volume,
    "env": _parse_env, "label": _parse_env, "arg": _parse_arg,
    "healthcheck": _parse_healthcheck, "onbuild": _parse_onbuild,
}


def _json_list(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # not a flat list of strings: the shell form
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def _split_keeping_quotes(text: str, escape: str) -> list[str]:
    """Words on unquoted whitespace, quotes and escapes kept (for key=value pairs, which
    are expanded one by one later)."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and i + 1 < len(text):
            word.append(ch + text[i + 1])
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
            word.append(ch)
        elif ch in "'\"":
            quote = ch
            word.append(ch)
        elif ch in " \t":
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(ch)
        i += 1
    if quote:
        raise InvalidParameter(f"unexpected end of statement while looking for matching "
                               f"{'single' if quote == chr(39) else 'double'}-quote: {text}")
    if word:
        words.append("".join(word))
    return words


def _read_heredocs(inst: Instruction, lines: list[str], index: int) -> int:
    """RUN, COPY and ADD take the heredocs their line names, from the lines after it."""
    target = inst.sub if inst.sub is not None else inst
    if target.cmd not in ("run", "copy", "add") or target.json:
        return index
    text = target.args[0] if target.cmd == "run" and target.args else " ".join(target.args)
    for found in _HEREDOC.finditer(text):
        chomp, quote, name = found.group(1) == "-", found.group(2), found.group(3)
        body: list[str] = []
        while True:
            if index >= len(lines):
                raise inst.error(f"unterminated heredoc {name}")
            line = lines[index]
            index += 1
            check = line.lstrip("\t") if chomp else line
            if check == name:
                break
            body.append(check)
        target.heredocs.append(Heredoc(name, "\n".join(body) + "\n", not quote, chomp))
    if target.cmd in ("copy", "add") and not target.heredocs and len(target.args) < 2:
        raise inst.error(f"{target.cmd.upper()} requires at least two arguments, but only "
                         f"{len(target.args)} provided")
    return index
