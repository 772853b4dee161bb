"""`ketch container prune`: remove every stopped container (the filters narrow it), after
asking unless -f, and report as Docker does."""

from __future__ import annotations

from ketch.cli.command import Command
from ketch.cli.commands.prune import confirm
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed, parse_filters
from ketch.cli.units import human_size

WARNING = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"


def _prune(ctx: Context, opts: Parsed) -> int:
    if not opts.force and not confirm(ctx, WARNING):
        return 0
    report = ctx.client.prune_containers(parse_filters(opts.filter))
    deleted = report.get("ContainersDeleted") or []
    out = "".join(["Deleted Containers:\n", *(f"{d}\n" for d in deleted), "\n"]) \
        if deleted else ""
    reclaimed = float(report.get("SpaceReclaimed") or 0)
    ctx.write(f"{out}Total reclaimed space: {human_size(reclaimed, 4)}\n")
    return 0


PRUNE = Command(
    name="container prune",
    usage="ketch container prune [OPTIONS]",
    description="Remove all stopped containers",
    flags=(Flag("filter", kind="list", help='Provide filter values (e.g. "until=<timestamp>")',
                metavar="filter"),
           Flag("force", "f", help="Do not prompt for confirmation")),
    handler=_prune, max_args=0)
