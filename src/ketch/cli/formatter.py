"""Docker's `--format` machinery: `table` templates through tabwriter, plain ones line by line.

A formatter context is an object whose attributes are the placeholders (`.ID`, `.Names`,
...). The table header is the same template run against the headers of those fields.
"""

from __future__ import annotations

from ketch.cli.command import CLIError
from ketch.cli.gotemplate import Template, TemplateError
from ketch.cli.tabwriter import tabulate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

TABLE = "table"


class Headers:
    """Answers every placeholder with its column title."""

    def __init__(self, titles: dict[str, str]) -> None:
        self._titles = titles

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        title = self._titles.get(name, name.upper())
        if name in ("Label",):  # docker heads `.Label "a.b-c"` with "b c"
            return lambda *args: str(args[0]).split(".")[-1].replace("-", " ").replace(
                "_", " ") if args else "LABEL"
        return title


def prepare(fmt: str) -> tuple[bool, str]:
    """(is it a table, the template text) with Docker's `\\t` and `\\n` escapes applied."""
    if fmt.strip() == "json":
        fmt = "{{json .}}"
    table = fmt.startswith(TABLE)
    if table:
        fmt = fmt[len(TABLE):]
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return table, fmt


def render(fmt: str, rows: Iterable[Any], titles: dict[str, str]) -> str:
    """All rows in `fmt` (a table gets its header and tabwriter alignment)."""
    table, source = prepare(fmt)
    try:
        template = Template(source)
        body = "".join(template.execute(row) + "\n" for row in rows)
        if not table:
            return body
        header = template.execute(Headers(titles)) + "\n"
    except TemplateError as exc:
        raise CLIError(f"template: {exc}", 1) from None
    return tabulate(header + body)
