"""`ketch ps`: list containers (GET /containers/json) in Docker's table or a --format."""

from __future__ import annotations

from ketch.cli.command import Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed, parse_filters


def _ps(ctx: Context, opts: Parsed) -> int:
    from ketch.cli import containers_format as cf
    from ketch.cli.formatter import render

    limit = opts.last
    if opts.latest and limit == -1:
        limit = 1
    fmt_text = opts.format or ""
    # as the docker CLI: sizes are asked for when the template shows them
    wants_size = bool(opts.size) or (not opts.quiet and "size" not in opts.given and (
        ".Size" in fmt_text or "json ." in fmt_text))
    containers = ctx.client.containers(all=bool(opts.all), limit=limit, size=wants_size,
                                       filters=parse_filters(opts.filter))
    if opts.quiet:
        fmt = cf.QUIET_FORMAT
    elif opts.format:
        fmt = opts.format
    else:
        fmt = cf.DEFAULT_FORMAT + ("\t{{.Size}}" if opts.size else "")
    trunc = not opts.no_trunc
    rows = [cf.ContainerRow(c, trunc=trunc) for c in containers]
    ctx.write(render(fmt, rows, cf.TITLES))
    return 0


PS = Command(
    name="ps",
    usage="ketch ps [OPTIONS]",
    description="List containers",
    flags=(Flag("all", "a", help="Show all containers (default shows just running)"),
           Flag("filter", "f", "list", help="Filter output based on conditions provided",
                metavar="filter"),
           Flag("format", kind="string", help="Format output using a custom template"),
           Flag("last", "n", "int", default=-1,
                help="Show n last created containers (includes all states)"),
           Flag("latest", "l", help="Show the latest created container (includes all states)"),
           Flag("no-trunc", help="Don't truncate output"),
           Flag("quiet", "q", help="Only display container IDs"),
           Flag("size", "s", help="Display total file sizes")),
    handler=_ps,
    max_args=0,
    aliases="ketch container ls, ketch container list, ketch container ps, ketch ps",
)
