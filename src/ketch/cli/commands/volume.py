"""`ketch volume create|ls|inspect|rm|prune`, worded and formatted as the docker CLI's."""

from __future__ import annotations

import re

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed, parse_filters
from ketch.cli.volumes_format import TITLES, VolumeRow
from ketch.client.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = "table {{.Driver}}\t{{.Name}}"
QUIET_FORMAT = "{{.Name}}"
PRUNE_WARNING = ("WARNING! This will remove anonymous local volumes not used by at least "
                 "one container.\nAre you sure you want to continue?")
PRUNE_ALL_WARNING = ("WARNING! This will remove all local volumes not used by at least one "
                     "container.\nAre you sure you want to continue?")


def natural_key(name: str) -> list[Any]:
    """sortorder.NaturalLess: runs of digits compare as numbers."""
    return [(0, int(part), part) if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", name) if part]


def _key_values(items: list[str]) -> dict[str, str]:
    """`k=v` items (a bare `k` is `k=""`), as the CLI's map options read them."""
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _create(ctx: Context, opts: Parsed) -> int:
    name = opts.name or ""
    if opts.args:
        if name:
            raise CLIError("conflicting options: cannot specify a volume-name through both "
                           "--name and as a positional arg", 1)
        name = opts.args[0]
    volume = ctx.client.create_volume(name, opts.driver or "local", _key_values(opts.opt),
                                      _key_values(opts.label))
    ctx.write(f"{volume.get('Name', '')}\n")
    return 0


def _ls(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.formatter import render

    answer = ctx.client.volumes(parse_filters(opts.filter))
    volumes = sorted(answer.get("Volumes") or [], key=lambda v: natural_key(str(v.get("Name"))))
    fmt = QUIET_FORMAT if opts.quiet else (opts.format or DEFAULT_FORMAT)
    ctx.write(render(fmt, [VolumeRow(v) for v in volumes], TITLES))
    return 0


def _inspect(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.inspect import inspect_each

    return inspect_each(ctx, opts.args, opts.format, ctx.client.inspect_volume)


def _rm(ctx: Context, opts: Parsed) -> int:
    errors: list[str] = []
    for name in opts.args:
        try:
            ctx.client.remove_volume(name, force=bool(opts.force))
        except APIError as exc:
            errors.append(str(exc))
            continue
        ctx.write(f"{name}\n")
    if errors:
        ctx.flush()
        raise CLIError("\n".join(errors), 1)
    return 0


def _prune(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.prune import confirm
    from ketch.cli.units import human_size

    filters = parse_filters(opts.filter)
    if opts.all:
        if "all" in filters:
            raise CLIError("conflicting options: cannot specify both --all and --filter "
                           "all=1", 1)
        filters["all"] = ["true"]
    if not opts.force and not confirm(ctx, PRUNE_ALL_WARNING if opts.all else PRUNE_WARNING):
        return 0  # cancelled: Docker says nothing more
    report = ctx.client.prune_volumes(filters)
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        ctx.write("Deleted Volumes:\n" + "".join(f"{name}\n" for name in deleted) + "\n")
    reclaimed = float(report.get("SpaceReclaimed") or 0)
    ctx.write(f"Total reclaimed space: {human_size(reclaimed, 4)}\n")
    return 0


_FORMAT_HELP = "Format output using a custom template"
CREATE = Command(
    name="volume create",
    usage="ketch volume create [OPTIONS] [VOLUME]",
    description="Create a volume",
    flags=(Flag("driver", "d", "string", default="local",
                help='Specify volume driver name (default "local")'),
           Flag("label", kind="list", help="Set metadata for a volume", metavar="list"),
           Flag("name", kind="string", help="Specify volume name", hidden=True),
           Flag("opt", "o", "list", help="Set driver specific options (default map[])",
                metavar="map")),
    handler=_create, max_args=1)
LS = Command(
    name="volume ls",
    usage="ketch volume ls [OPTIONS]",
    description="List volumes",
    flags=(Flag("filter", "f", "list", help='Provide filter values (e.g. "dangling=true")',
                metavar="filter"),
           Flag("format", kind="string", help=_FORMAT_HELP),
           Flag("quiet", "q", help="Only display volume names")),
    handler=_ls, max_args=0, aliases="ketch volume ls, ketch volume list")
INSPECT = Command(
    name="volume inspect",
    usage="ketch volume inspect [OPTIONS] VOLUME [VOLUME...]",
    description="Display detailed information on one or more volumes",
    flags=(Flag("format", "f", "string", help=_FORMAT_HELP),),
    handler=_inspect, min_args=1)
RM = Command(
    name="volume rm",
    usage="ketch volume rm [OPTIONS] VOLUME [VOLUME...]",
    description="Remove one or more volumes",
    flags=(Flag("force", "f", help="Force the removal of one or more volumes"),),
    handler=_rm, min_args=1, aliases="ketch volume rm, ketch volume remove")
PRUNE = Command(
    name="volume prune",
    usage="ketch volume prune [OPTIONS]",
    description="Remove unused local volumes",
    flags=(Flag("all", "a", help="Remove all unused volumes, not just anonymous ones"),
           Flag("filter", kind="list", help='Provide filter values (e.g. "label=<label>")',
                metavar="filter"),
           Flag("force", "f", help="Do not prompt for confirmation")),
    handler=_prune, max_args=0)
