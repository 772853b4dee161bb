"""`ketch events` (`ketch system events`): GET /events, each event a line as the docker
CLI prints it, or through --format."""

from __future__ import annotations

import sys
from typing import Any

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed, parse_filters


class Event:
    """An event with the Go field names `--format` uses; `{{json .}}` gives the API's."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._e = data
        self.Status = data.get("status", "")
        self.ID = data.get("id", "")
        self.From = data.get("from", "")
        self.Type = data.get("Type", "")
        self.Action = data.get("Action", "")
        self.Actor = {"ID": (data.get("Actor") or {}).get("ID", ""),
                      "Attributes": (data.get("Actor") or {}).get("Attributes") or {}}
        self.Scope = data.get("scope", "")
        self.Time = data.get("time", 0)
        self.TimeNano = data.get("timeNano", 0)

    def to_json(self) -> dict[str, Any]:
        return self._e


def line(event: dict[str, Any]) -> str:
    """The docker CLI's line: local time to the nanosecond, type, action, actor, and the
    attributes sorted."""
    from datetime import datetime

    nanos = int(event.get("timeNano") or int(event.get("time") or 0) * 1_000_000_000)
    moment = datetime.fromtimestamp(nanos // 1_000_000_000).astimezone()
    offset = moment.strftime("%z")
    zone = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
    actor = event.get("Actor") or {}
    text = (f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{nanos % 1_000_000_000:09d}{zone} "
            f"{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}")
    attributes = actor.get("Attributes") or {}
    if attributes:
        text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(attributes.items())) + ")"
    return text


def _events(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.gotemplate import Template, TemplateError
    from ketch.cli.timestamps import get_timestamp
    from ketch.client.api import go_json
    from ketch.client.stream import json_lines

    template = None
    if opts.format and opts.format != "json":
        try:
            template = Template(opts.format)
        except TemplateError as e:
            raise CLIError(f"template parsing error: {e}") from None
    resp = ctx.client.events(since=get_timestamp(opts.since) or None,
                             until=get_timestamp(opts.until) or None,
                             filters=parse_filters(opts.filter))
    out = sys.stdout
    try:
        for event in json_lines(resp.iter_chunks()):
            if opts.format == "json":
                text = go_json(event, sort_keys=False)
            elif template is not None:
                try:
                    text = template.execute(Event(event))
                except TemplateError as e:
                    raise CLIError(f"template: {e}") from None
            else:
                text = line(event)
            out.write(text + "\n")
            out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        resp.conn.close()
    return 0


EVENTS = Command(
    name="events",
    usage="ketch events [OPTIONS]",
    description="Get real time events from the server",
    flags=(Flag("filter", "f", "list", help="Filter output based on conditions provided",
                metavar="filter"),
           Flag("format", kind="string",
                help="Format output using a custom template:\n'json':             Print in "
                     "JSON format\n'TEMPLATE':         Print output using the given Go "
                     "template."),
           Flag("since", kind="string", help="Show all events created since timestamp"),
           Flag("until", kind="string", help="Stream events until this timestamp")),
    handler=_events, max_args=0,
    aliases="ketch system events, ketch events",
)
