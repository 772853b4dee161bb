"""`ketch system df`: disk usage per type, or with -v per image, container, volume and
build cache entry, laid out as Docker's CLI lays it out."""

from __future__ import annotations

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed


def _df(ctx: Context, opts: Parsed) -> int:
    from ketch.cli import df_format as dff
    from ketch.cli.formatter import render

    usage = ctx.client.disk_usage()
    fmt = opts.format or "table"
    if not opts.verbose:
        if fmt == "table":
            fmt = dff.SUMMARY_FORMAT
        elif fmt == "raw":
            fmt = dff.RAW_FORMAT
        ctx.write(render(fmt, dff.summary_rows(usage), dff.SUMMARY_TITLES))
        return 0
    table = fmt.startswith("table")
    view = dff.Verbose(usage, trunc=table)
    if fmt != "table":  # a custom format runs once, over all the rows (a table too)
        from ketch.cli.formatter import prepare
        from ketch.cli.gotemplate import Template, TemplateError

        try:
            ctx.write(Template(prepare(fmt)[1]).execute(view))
        except TemplateError as exc:
            raise CLIError(f"template: {exc}", 1) from None
        return 0
    from ketch.cli.containers_format import TITLES as CONTAINER_TITLES
    from ketch.cli.images_format import TITLES as IMAGE_TITLES
    from ketch.cli.units import human_size

    ctx.write("Images space usage:\n\n" + render(dff.IMAGE_FORMAT, view.Images, IMAGE_TITLES))
    ctx.write("\nContainers space usage:\n\n"
              + render(dff.CONTAINER_FORMAT, view.Containers, CONTAINER_TITLES))
    ctx.write("\nLocal Volumes space usage:\n\n"
              + render(dff.VOLUME_FORMAT, view.Volumes, dff.VOLUME_TITLES))
    ctx.write(f"\nBuild cache usage: {human_size(float(view.cache_size), 4)}\n\n"
              + render(dff.BUILD_CACHE_FORMAT, view.BuildCache, dff.BUILD_CACHE_TITLES))
    return 0


DF = Command(
    name="system df",
    usage="ketch system df [OPTIONS]",
    description="Show docker disk usage",
    flags=(Flag("format", kind="string", help="Format output using a custom template"),
           Flag("verbose", "v", help="Show detailed information on space usage")),
    handler=_df, max_args=0)
