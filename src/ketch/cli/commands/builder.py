"""`ketch builder prune`: empty the build cache (and drop the images only it kept)."""

from __future__ import annotations

from ketch.cli.command import Command
from ketch.cli.commands.prune import confirm
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed, parse_filters
from ketch.cli.units import human_size

WARNING = "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
ALL_WARNING = "WARNING! This will remove all build cache. Are you sure you want to continue?"


def _prune(ctx: Context, opts: Parsed) -> int:
    if not opts.force and not confirm(ctx, ALL_WARNING if opts.all else WARNING):
        return 0
    report = ctx.client.prune_build_cache(parse_filters(opts.filter), bool(opts.all))
    deleted = report.get("CachesDeleted") or []
    output = "".join(["Deleted build cache objects:\n", *(f"{d}\n" for d in deleted)]) \
        if deleted else ""
    reclaimed = float(report.get("SpaceReclaimed") or 0)
    ctx.write(f"{output}\nTotal reclaimed space: {human_size(reclaimed, 4)}\n")
    return 0


PRUNE = Command(
    name="builder prune",
    usage="ketch builder prune [OPTIONS]",
    description="Remove build cache",
    flags=(Flag("all", "a", help="Remove all unused build cache, not just dangling ones"),
           Flag("filter", kind="list", help='Provide filter values (e.g. "until=24h")',
                metavar="filter"),
           Flag("force", "f", help="Do not prompt for confirmation")),
    handler=_prune, max_args=0)
