"""Images to and from tars: `save`, `load`, and `commit` (a container's changes)."""

from __future__ import annotations

import sys

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed
from ketch.cli.outfile import TO_TERMINAL, destination_problem, to_stdout, write_atomically

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


def _save(ctx: Context, opts: Parsed) -> int:
    if not opts.output and sys.stdout.isatty():
        raise CLIError(TO_TERMINAL, 1)
    if opts.output:
        problem = destination_problem(opts.output)
        if problem:
            raise CLIError(f"failed to save image: {problem}", 1)
    resp = ctx.client.save(list(opts.args))
    try:
        if opts.output:
            write_atomically(opts.output, resp.iter_chunks())
        else:
            to_stdout(resp.iter_chunks())
    finally:
        resp.conn.close()
    return 0


def _load(ctx: Context, opts: Parsed) -> int:
    source: BinaryIO
    if opts.input:
        try:
            source = open(opts.input, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CLIError(f"open {opts.input}: {(exc.strerror or str(exc)).lower()}", 1) \
                from None
    else:
        if sys.stdin.isatty():
            raise CLIError("requested load from stdin, but stdin is empty", 1)
        source = sys.stdin.buffer
    with source:
        for message in ctx.client.load(source, quiet=bool(opts.quiet)):
            if message.get("error"):
                raise CLIError(str(message["error"]), 1)
            if message.get("stream"):
                ctx.write(str(message["stream"]))
    return 0


def _commit(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.images_format import split_reference

    repo = tag = None
    if len(opts.args) > 1:
        repo, tag = split_reference(opts.args[1])
    result = ctx.client.commit(opts.args[0], repo, tag, opts.message or None,
                               opts.author or None, opts.pause is not False, opts.change)
    ctx.write(f"{result['Id']}\n")
    return 0


COMMIT = Command(
    name="commit",
    usage="ketch commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    description="Create a new image from a container's changes",
    flags=(Flag("author", "a", "string",
                help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'),
           Flag("change", "c", "list", help="Apply Dockerfile instruction to the created image",
                metavar="list"),
           Flag("message", "m", "string", help="Commit message"),
           Flag("pause", "p", "bool", help="Pause container during commit (default true)")),
    handler=_commit, min_args=1, max_args=2, aliases="ketch container commit, ketch commit")
SAVE = Command(
    name="save",
    usage="ketch save [OPTIONS] IMAGE [IMAGE...]",
    description="Save one or more images to a tar archive (streamed to STDOUT by default)",
    flags=(Flag("output", "o", "string", help="Write to a file, instead of STDOUT"),
           Flag("platform", kind="string", help="Save only the given platform variant")),
    handler=_save, min_args=1, aliases="ketch image save, ketch save")
LOAD = Command(
    name="load",
    usage="ketch load [OPTIONS]",
    description="Load an image from a tar archive or STDIN",
    flags=(Flag("input", "i", "string", help="Read from tar archive file, instead of STDIN"),
           Flag("quiet", "q", help="Suppress the load output"),
           Flag("platform", kind="string", help="Load only the given platform variant")),
    handler=_load, max_args=0, aliases="ketch image load, ketch load")
