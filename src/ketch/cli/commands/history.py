"""`ketch history` / `ketch image history`: the layers an image was made of, newest first,
in Docker's table (IMAGE CREATED CREATED BY SIZE COMMENT) or a --format."""

from __future__ import annotations

import time
from datetime import datetime

from ketch.cli.command import Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed
from ketch.cli.units import ellipsis, human_duration, human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
NON_HUMAN_FORMAT = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
QUIET_FORMAT = "{{.ID}}"
TITLES = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
          "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
EPOCH_2000 = 946684800  # before this a creation time is not shown in human units
CREATED_BY_WIDTH = 45


def rfc3339(seconds: int) -> str:
    """Go's time.Unix(s, 0).Format(time.RFC3339): local time, "Z" when that is UTC."""
    moment = datetime.fromtimestamp(seconds).astimezone()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S%z")
    zone = text[-5:]
    return text[:-5] + ("Z" if zone == "+0000" else f"{zone[:3]}:{zone[3:]}")


class HistoryRow:
    """The placeholders of one history record."""

    def __init__(self, data: dict[str, Any], trunc: bool = True, human: bool = True,
                 now: float | None = None) -> None:
        self._h = data
        self._trunc = trunc
        self._human = human
        self._now = time.time() if now is None else now

    @property
    def ID(self) -> str:
        ident = str(self._h.get("Id", ""))
        return ident.removeprefix("sha256:")[:12] if self._trunc else ident

    @property
    def CreatedAt(self) -> str:
        return rfc3339(int(self._h.get("Created", 0) or 0))

    @property
    def CreatedSince(self) -> str:
        if not self._human:
            return self.CreatedAt
        created = int(self._h.get("Created", 0) or 0)
        if created <= EPOCH_2000:
            return ""
        return human_duration(self._now - created) + " ago"

    @property
    def CreatedBy(self) -> str:
        created_by = str(self._h.get("CreatedBy", "")).replace("\t", " ")
        return ellipsis(created_by, CREATED_BY_WIDTH) if self._trunc else created_by

    @property
    def Size(self) -> str:
        size = int(self._h.get("Size", 0) or 0)
        return human_size(float(size)) if self._human else str(size)

    @property
    def Comment(self) -> str:
        return str(self._h.get("Comment", ""))

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in sorted(TITLES)}


def history_format(fmt: str, quiet: bool, human: bool) -> str:
    """NewHistoryFormat: the table's columns depend on -q and -H; a format is kept."""
    if fmt and fmt != "table":
        return fmt
    if quiet:
        return QUIET_FORMAT
    return DEFAULT_FORMAT if human else NON_HUMAN_FORMAT


def _history(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.formatter import render

    records = ctx.client.image_history(opts.args[0])
    fmt = history_format(opts.format or "", bool(opts.quiet), bool(opts.human))
    rows = [HistoryRow(r, trunc=not opts.no_trunc, human=bool(opts.human)) for r in records]
    ctx.write(render(fmt, rows, TITLES))
    return 0


HISTORY = Command(
    name="history",
    usage="ketch history [OPTIONS] IMAGE",
    description="Show the history of an image",
    flags=(Flag("format", kind="string", help="Format output using a custom template"),
           Flag("human", "H", default=True,
                help="Print sizes and dates in human readable format (default true)"),
           Flag("no-trunc", help="Don't truncate output"),
           Flag("quiet", "q", help="Only show image IDs")),
    handler=_history, min_args=1, max_args=1, aliases="ketch image history, ketch history")
