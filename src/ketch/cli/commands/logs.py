"""`ketch logs`: inspect (to learn Config.Tty) then GET /containers/{id}/logs, copied out."""

from __future__ import annotations

import sys

from ketch.cli.command import Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed


def _logs(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.timestamps import get_timestamp
    from ketch.client.stream import STDERR, Demuxer

    client = ctx.client
    info = client.inspect_container(opts.args[0])
    tty = bool((info.get("Config") or {}).get("Tty"))
    resp = client.logs(str(info["Id"]), follow=bool(opts.follow),
                       since=get_timestamp(opts.since) or None,
                       until=get_timestamp(opts.until) or None,
                       timestamps=bool(opts.timestamps), tail=opts.tail or "all",
                       details=bool(opts.details))
    out, err = sys.stdout.buffer, sys.stderr.buffer
    try:
        demuxer = None if tty else Demuxer()
        for chunk in resp.iter_chunks():
            if demuxer is None:
                out.write(chunk)
                out.flush()
                continue
            for stream, payload in demuxer.feed(chunk):
                target = err if stream == STDERR else out
                target.write(payload)
                target.flush()
    finally:
        resp.conn.close()
    return 0


LOGS = Command(
    name="logs",
    usage="ketch logs [OPTIONS] CONTAINER",
    description="Fetch the logs of a container",
    flags=(Flag("details", help="Show extra details provided to logs"),
           Flag("follow", "f", help="Follow log output"),
           Flag("since", kind="string",
                help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
                     '(e.g. "42m" for 42 minutes)'),
           Flag("tail", "n", "string", default="all",
                help='Number of lines to show from the end of the logs (default "all")'),
           Flag("timestamps", "t", help="Show timestamps"),
           Flag("until", kind="string",
                help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
                     '(e.g. "42m" for 42 minutes)')),
    handler=_logs, min_args=1, max_args=1,
    aliases="ketch container logs, ketch logs",
)
