"""Docker's flag syntax (spf13/pflag), without argparse's import cost or its error words.

Accepted forms: `--name value`, `--name=value`, `-n value`, `-nvalue`, `-n=value`, grouped
booleans (`-it`, `-dit`), `--bool=false`, `--` to end flags. Commands that take a command
line of their own (`run`, `create`, `exec`) stop at the first positional argument.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


class FlagError(Exception):
    """A malformed command line; the message is pflag's."""


class HelpRequested(Exception):
    """-h/--help was given."""


class Flag:
    """One flag: `kind` is bool, string, int or list (repeatable string)."""

    __slots__ = ("default", "help", "hidden", "kind", "long", "metavar", "short")

    def __init__(self, long: str, short: str = "", kind: str = "bool", default: Any = None,
                 help: str = "", metavar: str = "", hidden: bool = False) -> None:
        self.long = long
        self.short = short
        self.kind = kind
        self.default = default
        self.help = help
        self.metavar = metavar
        self.hidden = hidden

    @property
    def dest(self) -> str:
        return self.long.replace("-", "_")

    @property
    def initial(self) -> Any:
        if self.kind == "list":
            return list(self.default or [])
        if self.kind == "bool":
            return bool(self.default)
        return self.default

    def label(self) -> str:
        return f"-{self.short}, --{self.long}" if self.short else f"--{self.long}"


class Parsed:
    """Flag values by `dest` and the positional arguments."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = values or {}
        self.args: list[str] = []
        self.given: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def _set(parsed: Parsed, flag: Flag, value: str | None, shown: str) -> None:
    parsed.given.add(flag.dest)
    if flag.kind == "bool":
        if value is None or value in _TRUE:
            parsed.values[flag.dest] = True
        elif value in _FALSE:
            parsed.values[flag.dest] = False
        else:
            raise FlagError(f'invalid argument "{value}" for "{flag.label()}" flag: '
                            f'strconv.ParseBool: parsing "{value}": invalid syntax')
        return
    assert value is not None
    if flag.kind == "int":
        try:
            parsed.values[flag.dest] = int(value)
        except ValueError:
            raise FlagError(f'invalid argument "{value}" for "{flag.label()}" flag: '
                            f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
    elif flag.kind == "list":
        parsed.values[flag.dest].append(value)
    else:
        parsed.values[flag.dest] = value


def parse(specs: Sequence[Flag], argv: Sequence[str], interspersed: bool = True) -> Parsed:
    """Parse `argv` against `specs` the way pflag does."""
    longs = {f.long: f for f in specs}
    shorts = {f.short: f for f in specs if f.short}
    parsed = Parsed({f.dest: f.initial for f in specs})
    i = 0
    argv = list(argv)
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            parsed.args.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name == "help":
                raise HelpRequested
            flag = longs.get(name)
            if flag is None:
                raise FlagError(f"unknown flag: --{name}")
            if eq:
                _set(parsed, flag, value, arg)
            elif flag.kind == "bool":
                _set(parsed, flag, None, arg)
            elif i < len(argv):
                _set(parsed, flag, argv[i], arg)
                i += 1
            else:
                raise FlagError(f"flag needs an argument: --{name}")
        elif arg.startswith("-") and len(arg) > 1:
            chars = arg[1:]
            j = 0
            while j < len(chars):
                c = chars[j]
                j += 1
                if c == "h" and "h" not in shorts:
                    raise HelpRequested
                flag = shorts.get(c)
                if flag is None:
                    raise FlagError(f"unknown shorthand flag: '{c}' in {arg}")
                rest = chars[j:]
                if flag.kind == "bool":
                    if rest.startswith("="):
                        _set(parsed, flag, rest[1:], arg)
                        break
                    _set(parsed, flag, None, arg)
                    continue
                if rest:
                    _set(parsed, flag, rest[1:] if rest.startswith("=") else rest, arg)
                elif i < len(argv):
                    _set(parsed, flag, argv[i], arg)
                    i += 1
                else:
                    raise FlagError(f"flag needs an argument: '{c}' in -{c}")
                break
        else:
            parsed.args.append(arg)
            if not interspersed:
                parsed.args.extend(argv[i:])
                break
    return parsed


def usage_text(usage: str, description: str, specs: Sequence[Flag], aliases: str = "") -> str:
    """The `--help` page, laid out like Docker's."""
    lines = [f"\nUsage:  {usage}\n", description, ""]
    if aliases:
        lines += ["Aliases:", f"  {aliases}", ""]
    shown = [f for f in specs if not f.hidden]
    if shown:
        lines.append("Options:")
        cells = []
        for f in shown:
            kind = "" if f.kind == "bool" else f" {f.metavar or f.kind}"
            left = (f"  -{f.short}, --{f.long}{kind}" if f.short else f"      --{f.long}{kind}")
            cells.append((left, f.help))
        width = max(len(left) for left, _ in cells) + 3
        lines += [f"{left.ljust(width)}{text}".rstrip() for left, text in cells]
    return "\n".join(lines) + "\n"


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """`--filter key=value` (repeatable) -> {"key": ["value", ...]}."""
    filters: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            from ketch.cli.command import CLIError

            raise CLIError(f"invalid argument \"{item}\" for \"-f, --filter\" flag: bad format "
                           f"of filter (expected name=value)", 125)
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters
