"""`ketch build`: docker CLI 28's `build` with the legacy builder (DOCKER_BUILDKIT=0).

The context (a local directory, or a tar or a Dockerfile on stdin) is made as the docker
CLI makes it (ketch.util.buildcontext), sent to POST /build, and the daemon's JSON
messages printed as a non-terminal docker CLI prints them. Remote contexts (git, http)
are refused for now.
"""

from __future__ import annotations

import os
import sys

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, BinaryIO

USAGE = "ketch build [OPTIONS] PATH | URL | -"
_PEEK = 1024  # DetectArchiveReader's look at stdin: two tar blocks


def _usage_error(value: str, flag: str, why: str) -> CLIError:
    """A refused flag value, worded and followed by the usage as pflag/cobra print it."""
    from ketch.cli.units import go_quote

    return CLIError(f'invalid argument {go_quote(value)} for "{flag}" flag: {why}\n\n'
                    f"Usage:  {USAGE}\n\nRun 'ketch build --help' for more information", 125)


def validate_tags(tags: list[str]) -> list[str]:
    """validateTag: each -t must parse as a normalized name."""
    from ketch.util.reference import ReferenceError, parse_normalized_named

    for tag in tags:
        try:
            parse_normalized_named(tag)
        except ReferenceError as e:
            raise _usage_error(tag, "-t, --tag", str(e)) from None
    return tags


def build_args(items: list[str]) -> dict[str, str | None]:
    """opts.ValidateEnv then ConvertKVStringsToMapWithNil: `k=v`, or `k` valued from the
    environment, or null (the Dockerfile's default) when the environment lacks it."""
    result: dict[str, str | None] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise _usage_error(item, "--build-arg", f"invalid environment variable: {item}")
        if eq:
            result[key] = value
        else:
            result[key] = os.environ.get(key)
    return result


def labels(items: list[str]) -> dict[str, str]:
    """opts.ValidateLabel then ConvertKVStringsToMap (`k` alone is an empty value)."""
    result = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise _usage_error(item, "--label", f"invalid label '{item}': empty name")
        if any(c in key for c in " \t\n\v\f\r"):
            raise _usage_error(item, "--label", f"label '{key}' contains whitespaces")
        result[key] = value
    return result


def is_remote(context: str) -> bool:
    """urlutil.IsGitURL or IsURL: what docker would fetch instead of reading locally."""
    return context.startswith(("http://", "https://", "git://", "github.com/", "git@"))


def is_archive(head: bytes) -> bool:
    """build.IsArchive: a compressed stream's magic, or a valid tar header."""
    if head.startswith((b"\x1f\x8b\x08", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")):
        return True
    import tarfile

    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


class _Plan:
    """What to send: the `dockerfile` parameter and a function writing the context tar."""

    def __init__(self, dockerfile: str, write: Callable[[BinaryIO], object]) -> None:
        self.dockerfile = dockerfile
        self.write = write


def _stdin_plan(dockerfile: str) -> _Plan:
    """`build -`: a tar (maybe compressed) passed through, or a Dockerfile made a context."""
    source = sys.stdin.buffer
    head = source.read(_PEEK)
    while len(head) < _PEEK and (more := source.read(_PEEK - len(head))):
        head += more
    if is_archive(head):
        def copy(out: BinaryIO) -> None:
            out.write(head)
            while block := source.read(1 << 16):
                out.write(block)
        return _Plan(dockerfile, copy)
    if dockerfile == "-":
        raise CLIError("unable to prepare context: build context is not an archive")
    if dockerfile:
        raise CLIError("unable to prepare context: ambiguous Dockerfile source: both stdin "
                       "and flag correspond to Dockerfiles")
    content = head + source.read()

    def single_file(out: BinaryIO) -> None:
        import tempfile

        from ketch.util.buildcontext import write_context

        with tempfile.TemporaryDirectory(prefix="docker-build-tempdockerfile-") as tmp:
            with open(os.path.join(tmp, "Dockerfile"), "wb") as f:
                f.write(content)
            write_context(tmp, "Dockerfile", out=out, excludes=[])
    return _Plan("Dockerfile", single_file)


def _local_plan(context: str, dockerfile: str) -> _Plan:
    """A local directory; a Dockerfile from stdin or outside it goes in under a random
    name, which is only known once the tar is written: that tar is spooled first."""
    from ketch.errors import InvalidParameter
    from ketch.util.buildcontext import context_from_local_dir, write_context

    try:
        local = context_from_local_dir(context, dockerfile or None)
    except InvalidParameter as e:
        raise CLIError(str(e)) from None
    if not local.outside:
        def stream(out: BinaryIO) -> None:
            write_context(local.directory, local.dockerfile, out=out, excludes=local.excludes)
        return _Plan(local.dockerfile, stream)
    if local.dockerfile == "-":
        content = sys.stdin.buffer.read()
    else:
        assert local.dockerfile_path is not None
        with open(local.dockerfile_path, "rb") as f:
            content = f.read()
    import tempfile

    spool = tempfile.TemporaryFile()  # noqa: SIM115 - read and closed by the writer below
    try:
        name = write_context(local.directory, local.dockerfile, out=spool,
                             excludes=local.excludes, dockerfile_content=content)
    except InvalidParameter as e:
        spool.close()
        raise CLIError(str(e)) from None

    def replay(out: BinaryIO) -> None:
        with spool:
            spool.seek(0)
            while block := spool.read(1 << 16):
                out.write(block)
    return _Plan(name, replay)


def plan_context(context: str, dockerfile: str) -> _Plan:
    """RunBuild's choice of context: stdin, a local directory, or (refused) a URL."""
    if dockerfile == "-" and context == "-":
        raise CLIError("invalid argument: can't use stdin for both build context and "
                       "dockerfile")
    if context == "-":
        return _stdin_plan(dockerfile)
    if os.path.exists(context):
        return _local_plan(context, dockerfile)
    if is_remote(context):
        raise CLIError("ketch build: remote contexts are not supported yet")
    raise CLIError(f'unable to prepare context: path "{context}" not found')


def sending_line(size: int) -> str:
    """The upload progress as a non-terminal docker CLI prints it: its last update only."""
    from ketch.cli.units import human_size

    return f"Sending build context to Docker daemon {human_size(size, 4):>8}\r\r\n"


def display(messages: Iterator[dict[str, Any]], write: Callable[[str], object],
            on_error: Callable[[], object]) -> str:
    """jsonmessage.DisplayJSONMessagesStream for a non-terminal: returns the aux ID; an
    errorDetail ends it with CLIError(message, its code or 1)."""
    image_id = ""
    for msg in messages:
        aux = msg.get("aux")
        if aux is not None:
            if isinstance(aux, dict) and isinstance(aux.get("ID", ""), str):
                image_id = aux.get("ID", "")
            else:
                sys.stderr.write(f"Failed to parse aux message: {aux!r}")
            continue
        detail = msg.get("errorDetail")
        if detail is not None or msg.get("error"):
            detail = detail if isinstance(detail, dict) else {}
            on_error()
            code = detail.get("code") or 1
            raise CLIError(str(detail.get("message") or msg.get("error") or ""),
                           code if isinstance(code, int) else 1)
        progress = msg.get("progressDetail")
        if isinstance(progress, dict) and (progress.get("current", 0) > 0
                                           or progress.get("total", 0) > 0):
            continue  # progress bars are for terminals
        prefix = f"{msg['id']}: " if msg.get("id") else ""
        prefix += f"(from {msg['from']}) " if msg.get("from") else ""
        if msg.get("progress"):
            write(f"{prefix}{msg.get('status', '')} {msg['progress']}")
        elif msg.get("stream"):
            write(f"{prefix}{msg['stream']}")
        else:
            write(f"{prefix}{msg.get('status', '')}\n")
    return image_id


def _build(ctx: Context, opts: Parsed) -> int:
    from ketch.client.errors import APIError
    from ketch.errors import InvalidParameter

    tags = validate_tags(opts.tag)
    args = build_args(opts.build_arg)
    if os.environ.get("SOURCE_DATE_EPOCH") and "SOURCE_DATE_EPOCH" not in args:
        args["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]  # as buildx passes it
    label_map = labels(opts.label)
    shm_size = 0
    if opts.shm_size:
        from ketch.cli.resourceflags import ram_in_bytes

        try:
            shm_size = ram_in_bytes(opts.shm_size, "--shm-size")
        except CLIError as e:  # with the usage after it, as cobra prints a flag's error
            raise CLIError(f"{e}\n\nUsage:  {USAGE}\n\nRun 'ketch build --help' for more "
                           "information", 125) from None
    extra_hosts: list[str] = []
    if opts.add_host:
        from ketch.cli.containerconfig import validate_extra_hosts

        extra_hosts = validate_extra_hosts(opts.add_host)
    cache_from = [part for item in opts.cache_from for part in item.split(",") if part]
    dockerfile = opts.file or ""
    if opts.iidfile:
        try:  # no stale ID left behind if this build fails
            os.unlink(opts.iidfile)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise CLIError(f"Removing image ID file: remove {opts.iidfile}: "
                           f"{(e.strerror or str(e)).lower()}") from None
    plan = plan_context(opts.args[0], dockerfile)

    # with -q everything is held back: shown on failure (on stderr), else only the ID
    progress: list[str] = []
    output: list[str] = []

    def sent(size: int) -> None:
        if opts.quiet:
            progress.append(sending_line(size))
        else:
            ctx.write(sending_line(size))
            ctx.flush()

    def write(text: str) -> None:
        if opts.quiet:
            output.append(text)
        else:
            ctx.write(text)
            ctx.flush()

    def show_held() -> None:
        if opts.quiet:
            ctx.flush()
            sys.stderr.write("".join(progress + output))

    try:
        messages = ctx.client.build(
            plan.write, tags=tags, dockerfile=plan.dockerfile, quiet=bool(opts.quiet),
            no_cache=bool(opts.no_cache), remove=bool(opts.rm),
            force_remove=bool(opts.force_rm), pull=bool(opts.pull),
            network_mode=opts.network or "", shm_size=shm_size, target=opts.target or "",
            build_args=args, labels=label_map, cache_from=cache_from,
            extra_hosts=extra_hosts, platform=opts.platform or "", on_sent=sent)
    except APIError:
        if opts.quiet:
            sys.stderr.write("".join(progress))
        raise
    except InvalidParameter as e:  # a file that became unreadable while it was sent
        raise CLIError(str(e)) from None
    image_id = display(messages, write, show_held)
    if opts.quiet:
        image_id = "".join(output)
        ctx.write(image_id)
    if opts.iidfile:
        if not image_id:
            raise CLIError(f"Server did not provide an image ID. Cannot write {opts.iidfile}")
        with open(opts.iidfile, "w") as f:
            f.write(image_id)
    return 0


BUILD = Command(
    name="build",
    usage=USAGE,
    description="Build an image from a Dockerfile",
    flags=(
        Flag("add-host", kind="list", help='Add a custom host-to-IP mapping ("host:ip")',
             metavar="list"),
        Flag("build-arg", kind="list", help="Set build-time variables", metavar="list"),
        Flag("cache-from", kind="list", help="Images to consider as cache sources",
             metavar="strings"),
        Flag("file", "f", "string", help='Name of the Dockerfile (Default is "PATH/Dockerfile")'),
        Flag("force-rm", help="Always remove intermediate containers"),
        Flag("iidfile", kind="string", help="Write the image ID to the file"),
        Flag("label", kind="list", help="Set metadata for an image", metavar="list"),
        Flag("network", kind="string", default="default",
             help="Set the networking mode for the RUN instructions during build "
                  '(default "default")'),
        Flag("no-cache", help="Do not use cache when building the image"),
        Flag("platform", kind="string", default=os.environ.get("DOCKER_DEFAULT_PLATFORM", ""),
             help="Set platform if server is multi-platform capable"),
        Flag("pull", help="Always attempt to pull a newer version of the image"),
        Flag("quiet", "q", help="Suppress the build output and print image ID on success"),
        Flag("rm", default=True,
             help="Remove intermediate containers after a successful build (default true)"),
        Flag("shm-size", kind="string", help='Size of "/dev/shm"', metavar="bytes"),
        Flag("tag", "t", "list", help='Name and optionally a tag in the "name:tag" format',
             metavar="list"),
        Flag("target", kind="string", help="Set the target build stage to build."),
    ),
    handler=_build, min_args=1, max_args=1,
    aliases="ketch image build, ketch build")
