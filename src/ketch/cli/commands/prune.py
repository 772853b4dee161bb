"""`ketch image prune`: remove unused images (dangling ones, or with -a all that no
container uses), after asking unless -f, and report as Docker does."""

from __future__ import annotations

import sys

from ketch.cli.command import Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed, parse_filters
from ketch.cli.units import human_size

DANGLING_WARNING = ("WARNING! This will remove all dangling images.\n"
                    "Are you sure you want to continue?")
ALL_WARNING = ("WARNING! This will remove all images without at least one container "
               "associated to them.\nAre you sure you want to continue?")


def confirm(ctx: Context, message: str) -> bool:
    """Docker's prompt: only "y" or "Y" (spaces around allowed) goes on; EOF is a no."""
    ctx.write(f"{message} [y/N] ")
    ctx.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() == "y"


def report_text(report: dict[str, object]) -> str:
    """What prune prints for the daemon's ImagesPruneReport."""
    deleted = report.get("ImagesDeleted") or []
    out = ""
    reclaimed = 0
    if isinstance(deleted, list) and deleted:
        lines = ["Deleted Images:"]
        for item in deleted:
            if item.get("Untagged"):
                lines.append(f"untagged: {item['Untagged']}")
            else:
                lines.append(f"deleted: {item.get('Deleted', '')}")
        out = "\n".join(lines) + "\n\n"
        reclaimed = int(str(report.get("SpaceReclaimed") or 0))
    return out + f"Total reclaimed space: {human_size(float(reclaimed), 4)}\n"


def _prune(ctx: Context, opts: Parsed) -> int:
    filters = parse_filters(opts.filter)
    filters.setdefault("dangling", []).append("false" if opts.all else "true")
    if not opts.force and not confirm(ctx, ALL_WARNING if opts.all else DANGLING_WARNING):
        return 0  # cancelled: Docker says nothing more
    ctx.write(report_text(ctx.client.prune_images(filters)))
    return 0


IMAGE_PRUNE = Command(
    name="image prune",
    usage="ketch image prune [OPTIONS]",
    description="Remove unused images",
    flags=(Flag("all", "a", help="Remove all unused images, not just dangling ones"),
           Flag("filter", kind="list", help='Provide filter values (e.g. "until=<timestamp>")',
                metavar="filter"),
           Flag("force", "f", help="Do not prompt for confirmation")),
    handler=_prune, max_args=0)
