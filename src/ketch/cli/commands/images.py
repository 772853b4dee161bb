"""Image verbs: `images`, `import`, `tag`, `rmi`."""

from __future__ import annotations

import sys

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed, parse_filters
from ketch.client.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


def _images(ctx: Context, opts: Parsed) -> int:
    from ketch.cli import images_format as imf
    from ketch.cli.formatter import render

    filters = parse_filters(opts.filter)
    if opts.args:
        filters.setdefault("reference", []).append(opts.args[0])
    images = ctx.client.images(all=bool(opts.all), digests=bool(opts.digests), filters=filters)
    if opts.quiet:
        fmt = imf.QUIET_FORMAT
    elif opts.format:
        fmt = opts.format
    else:
        fmt = imf.DIGEST_FORMAT if opts.digests else imf.DEFAULT_FORMAT
    rows = imf.image_rows(images, digests=bool(opts.digests), trunc=not opts.no_trunc)
    if opts.quiet:  # one id per image, however many tags it has
        seen: set[str] = set()
        unique = []
        for row in rows:
            if row.ID not in seen:
                seen.add(row.ID)
                unique.append(row)
        rows = unique
    ctx.write(render(fmt, rows, imf.TITLES))
    return 0


def _import(ctx: Context, opts: Parsed) -> int:
    source_name = opts.args[0]
    ref = opts.args[1] if len(opts.args) > 1 else None
    if source_name == "-":
        stream = ctx.client.import_image(sys.stdin.buffer, "-", ref, None, opts.change,
                                         opts.message)
        return _print_import(ctx, stream)
    if "://" in source_name:
        stream = ctx.client.import_image(None, source_name, ref, None, opts.change,
                                         opts.message)
        return _print_import(ctx, stream)
    try:
        fh = open(source_name, "rb")  # noqa: SIM115 - closed below, after the stream
    except OSError as exc:
        raise CLIError(f"open {source_name}: {(exc.strerror or str(exc)).lower()}", 1) from None
    with fh:
        stream = ctx.client.import_image(fh, "-", ref, None, opts.change, opts.message)
        return _print_import(ctx, stream)


def _print_import(ctx: Context, stream: Iterator[dict[str, Any]]) -> int:
    for message in stream:
        if message.get("error"):
            raise CLIError(str(message["error"]), 1)
        status = message.get("status")
        if status:
            ident = message.get("id")
            ctx.write(f"{ident}: {status}\n" if ident else f"{status}\n")
    return 0


def _tag(ctx: Context, opts: Parsed) -> int:
    from ketch.util import reference as grammar

    source, target = opts.args
    # checked here first, in the docker client's words
    try:
        grammar.parse_any_reference(source)
    except grammar.ReferenceError as exc:
        raise CLIError(f'Error parsing reference: "{source}" is not a valid '
                       f"repository/tag: {exc}", 1) from None
    try:
        named = grammar.parse_normalized_named(target)
    except grammar.ReferenceError as exc:
        raise CLIError(f'Error parsing reference: "{target}" is not a valid '
                       f"repository/tag: {exc}", 1) from None
    if named.digest:
        raise CLIError("refusing to create a tag with a digest reference", 1)
    ctx.client.tag(source, named.name, named.tag or "latest")
    return 0


def _rmi(ctx: Context, opts: Parsed) -> int:
    errors: list[str] = []
    fatal = False  # with -f, images that do not exist are reported but not a failure
    for name in opts.args:
        try:
            deleted = ctx.client.remove_image(name, force=bool(opts.force),
                                              noprune=bool(opts.no_prune))
        except APIError as exc:
            errors.append(str(exc))
            fatal = fatal or exc.status != 404
            continue
        for entry in deleted:
            if entry.get("Deleted"):
                ctx.write(f"Deleted: {entry['Deleted']}\n")
            else:
                ctx.write(f"Untagged: {entry.get('Untagged', '')}\n")
    if errors:
        if not opts.force or fatal:
            raise CLIError("\n".join(errors), 1)
        ctx.flush()
        ctx.err.write("\n".join(errors) + "\n")
    return 0


IMAGES = Command(
    name="images",
    usage="ketch images [OPTIONS] [REPOSITORY[:TAG]]",
    description="List images",
    flags=(Flag("all", "a", help="Show all images (default hides intermediate images)"),
           Flag("digests", help="Show digests"),
           Flag("filter", "f", "list", help="Filter output based on conditions provided",
                metavar="filter"),
           Flag("format", kind="string", help="Format output using a custom template"),
           Flag("no-trunc", help="Don't truncate output"),
           Flag("quiet", "q", help="Only show image IDs")),
    handler=_images, max_args=1, aliases="ketch image ls, ketch image list, ketch images")
IMPORT = Command(
    name="import",
    usage="ketch import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    description="Import the contents from a tarball to create a filesystem image",
    flags=(Flag("change", "c", "list", help="Apply Dockerfile instruction to the created image",
                metavar="list"),
           Flag("message", "m", "string", help="Set commit message for imported image"),
           Flag("platform", kind="string", help="Set platform if server is multi-platform "
                                                "capable")),
    handler=_import, min_args=1, max_args=2, aliases="ketch image import, ketch import")
TAG = Command(
    name="tag",
    usage="ketch tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    description="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    flags=(), handler=_tag, min_args=2, max_args=2, aliases="ketch image tag, ketch tag")
RMI = Command(
    name="rmi",
    usage="ketch rmi [OPTIONS] IMAGE [IMAGE...]",
    description="Remove one or more images",
    flags=(Flag("force", "f", help="Force removal of the image"),
           Flag("no-prune", help="Do not delete untagged parents")),
    handler=_rmi, min_args=1, aliases="ketch image rm, ketch image remove, ketch rmi")
