"""`ketch top CONTAINER [ps OPTIONS]`: the container's processes, as `ps` on the host
shows them, in the docker CLI's table (tabwriter: minwidth 20, padding 3)."""

from __future__ import annotations

from ketch.cli.command import Command
from ketch.cli.context import Context
from ketch.cli.flags import Parsed


def _top(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.tabwriter import tabulate

    container, ps_args = opts.args[0], opts.args[1:]
    answer = ctx.client.top(container, " ".join(ps_args) if ps_args else None)
    rows = [answer.get("Titles") or [], *(answer.get("Processes") or [])]
    ctx.write(tabulate("".join("\t".join(str(c) for c in row) + "\n" for row in rows),
                       minwidth=20, padding=3))
    return 0


TOP = Command(
    name="top", usage="ketch top CONTAINER [ps OPTIONS]",
    description="Display the running processes of a container", flags=(),
    handler=_top, min_args=1, interspersed=False, aliases="ketch container top, ketch top")
