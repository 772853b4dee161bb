"""`ketch system prune`: stopped containers, unused networks, (with --volumes) unused
anonymous volumes, dangling (with -a, unused) images and unused build cache, one prune
endpoint after the other as the docker CLI does, with its report."""

from __future__ import annotations

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed, parse_filters
from ketch.cli.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _listing(title: str, items: list[str]) -> str:
    return f"{title}:\n" + "".join(f"{item}\n" for item in items) + "\n" if items else ""


def _images(report: dict[str, Any]) -> str:
    lines = [f"untagged: {item['Untagged']}" if item.get("Untagged")
             else f"deleted: {item.get('Deleted', '')}"
             for item in report.get("ImagesDeleted") or []]
    return _listing("Deleted Images", lines)


def _warning(opts: Parsed, filters: dict[str, list[str]]) -> str:
    warnings = ["all stopped containers", "all networks not used by at least one container"]
    if opts.volumes:
        warnings.append("all anonymous volumes not used by at least one container")
    warnings.append("all images without at least one container associated to them"
                    if opts.all else "all dangling images")
    warnings.append("unused build cache")
    text = "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warnings)
    if filters:
        text += "\n  Items to be pruned will be filtered with:\n" + "".join(
            f"  - {key}={value}\n" for key, values in sorted(filters.items())
            for value in values)
    return text + "\nAre you sure you want to continue?"


def _prune(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.prune import confirm

    filters = parse_filters(opts.filter)
    if opts.volumes and "until" in filters:
        raise CLIError('ERROR: The "until" filter is not supported with "--volumes"', 1)
    if not opts.force and not confirm(ctx, _warning(opts, filters)):
        return 0
    client = ctx.client
    reclaimed = 0
    report = client.prune_containers(filters)
    ctx.write(_listing("Deleted Containers", report.get("ContainersDeleted") or []))
    reclaimed += int(report.get("SpaceReclaimed") or 0)
    ctx.write(_listing("Deleted Networks",
                       client.prune_networks(filters).get("NetworksDeleted") or []))
    if opts.volumes:
        report = client.prune_volumes(filters)
        ctx.write(_listing("Deleted Volumes", report.get("VolumesDeleted") or []))
        reclaimed += int(report.get("SpaceReclaimed") or 0)
    image_filters = {**filters, "dangling": ["false" if opts.all else "true"]}
    report = client.prune_images(image_filters)
    ctx.write(_images(report))
    reclaimed += int(report.get("SpaceReclaimed") or 0)
    report = client.prune_build_cache(filters, bool(opts.all))
    ctx.write(_listing("Deleted build cache objects", report.get("CachesDeleted") or []))
    reclaimed += int(report.get("SpaceReclaimed") or 0)
    ctx.write(f"Total reclaimed space: {human_size(float(reclaimed), 4)}\n")
    return 0


PRUNE = Command(
    name="system prune",
    usage="ketch system prune [OPTIONS]",
    description="Remove unused data",
    flags=(Flag("all", "a", help="Remove all unused images not just dangling ones"),
           Flag("filter", kind="list", help='Provide filter values (e.g. "label=<key>=<value>")',
                metavar="filter"),
           Flag("force", "f", help="Do not prompt for confirmation"),
           Flag("volumes", help="Prune anonymous volumes")),
    handler=_prune, max_args=0,
)
