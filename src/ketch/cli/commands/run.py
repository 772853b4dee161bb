"""`ketch run` and `ketch create`, in the docker CLI's order of calls.

run: create (pull on "No such image", then create again) -> wait (next-exit, or removed
with --rm) -> attach (hijacked) -> start -> copy the streams -> exit with the status from
the wait body. `-d` prints the id instead. Signals are forwarded to the container
without a tty (--sig-proxy), the terminal is raw with one.
"""

from __future__ import annotations

from ketch.cli.command import CLIError, Command, ExitCode
from ketch.cli.containerconfig import CONTAINER_FLAGS, build_create_body
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed
from ketch.client.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def normalize_reference(image: str) -> tuple[str, str, str]:
    """(familiar name with tag, fully qualified repository, tag) of an image reference."""
    name, tag = image, ""
    if "@" not in image:
        slash = image.rfind("/")
        colon = image.rfind(":")
        if colon > slash:
            name, tag = image[:colon], image[colon + 1:]
    familiar = image if "@" in image else f"{name}:{tag or 'latest'}"
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        full = name
    elif "/" in name:
        full = f"docker.io/{name}"
    else:
        full = f"docker.io/library/{name}"
    return familiar, full, tag or ("" if "@" in image else "latest")


def pull(ctx: Context, image: str, quiet: bool = False) -> None:
    """`POST /images/create?fromImage=`: progress lines to stderr, as `docker run` shows."""
    _familiar, full, tag = normalize_reference(image)
    for message in ctx.client.pull(full, tag or None):
        if message.get("error"):
            raise CLIError(str(message["error"]))
        if quiet or message.get("progressDetail"):
            continue
        status = message.get("status", "")
        if status:
            ident = message.get("id")
            ctx.err.write(f"{ident}: {status}\n" if ident else f"{status}\n")


def create_container(ctx: Context, body: dict[str, Any], name: str | None,
                     pull_policy: str = "missing", quiet: bool = False) -> str:
    client = ctx.client
    image = body["Image"]
    if pull_policy == "always":
        pull(ctx, image, quiet)
    try:
        created = client.create_container(body, name)
    except APIError as exc:
        if exc.status != 404 or pull_policy == "never" or "image" not in exc.message.lower():
            raise
        ctx.err.write(f"Unable to find image '{normalize_reference(image)[0]}' locally\n")
        ctx.err.flush()
        pull(ctx, image, quiet)
        created = client.create_container(body, name)
    for warning in created.get("Warnings") or []:
        ctx.err.write(f"WARNING: {warning}\n")
    return str(created["Id"])


def start_error_code(message: str) -> int:
    """The docker CLI's exit code for a failed start (runStartContainerErr)."""
    if any(s in message for s in ("executable file not found", "no such file or directory",
                                   "system cannot find the file specified")):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def _forward_signals(ctx: Context, container_id: str) -> None:
    """--sig-proxy: signals the CLI receives go to the container."""
    if TYPE_CHECKING:
        import signal
    else:  # without enum, as in ketch.cli.terminal
        import _signal as signal

    from ketch.client import Client

    def forward(signum: int, frame: object) -> None:
        try:
            Client(ctx.client.host, ctx.client.api_version).kill(container_id, str(signum))
        except Exception:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)


def run_attached(ctx: Context, container_id: str, config: dict[str, Any], auto_remove: bool,
                 detach_keys: str | None, sig_proxy: bool) -> int:
    """wait -> attach -> start -> copy; returns the container's exit code."""
    from ketch.cli.streams import DEFAULT_DETACH_KEYS, StreamPump
    from ketch.cli.terminal import RawTerminal, is_terminal, monitor_size
    from ketch.util.detachkeys import parse_detach_keys

    client = ctx.client
    tty = bool(config.get("Tty"))
    stdin = bool(config.get("AttachStdin"))
    stdout, stderr = bool(config.get("AttachStdout")), bool(config.get("AttachStderr"))
    keys = DEFAULT_DETACH_KEYS
    if detach_keys:
        try:
            keys = parse_detach_keys(detach_keys)
        except ValueError as exc:
            raise CLIError(str(exc), 125) from None

    waiter = client.wait(container_id, "removed" if auto_remove else "next-exit")
    stream = None
    if stdin or stdout or stderr:
        stream = client.attach(container_id, stdin=stdin, stdout=stdout, stderr=stderr)
    raw = RawTerminal(0) if tty and stdin and is_terminal(0) else None
    ctx.flush()
    try:
        if raw is not None:
            raw.__enter__()
        try:
            client.start(container_id)
        except APIError as exc:
            if raw is not None:
                raw.restore()
            if stream is not None:
                stream.close()
            if auto_remove:
                waiter.result()
            else:
                waiter.cancel()
            raise CLIError(str(exc), start_error_code(exc.message)) from None
        if tty and is_terminal(1):
            monitor_size(lambda h, w: client.resize(container_id, h, w))
        elif sig_proxy and not tty:
            _forward_signals(ctx, container_id)
        if stream is not None:
            detached = StreamPump(stream, tty, stdin, detach_keys=keys).run()
            stream.close()
            if detached:
                waiter.cancel()
                return 0
    finally:
        if raw is not None:
            raw.restore()
    status = waiter.result()
    error = status.get("Error")
    if isinstance(error, dict) and error.get("Message"):
        raise CLIError(f"Error response from daemon: {error['Message']}", 125)
    return int(status.get("StatusCode", 0))


def _run(ctx: Context, opts: Parsed) -> int:
    image, cmd = opts.args[0], opts.args[1:]
    detach = bool(opts.detach)
    body = build_create_body(opts, image, cmd, detach=detach)
    from ketch.cli.terminal import is_terminal

    if body["Tty"] and body["AttachStdin"] and not is_terminal(0):
        ctx.err.write("the input device is not a TTY\n")  # docker: a plain line, exit 1
        raise ExitCode(1)
    container_id = create_container(ctx, body, opts.name, opts.pull, opts.quiet)
    if detach:
        try:
            ctx.client.start(container_id)
        except APIError as exc:
            raise CLIError(str(exc), start_error_code(exc.message)) from None
        ctx.write(container_id + "\n")
        return 0
    code = run_attached(ctx, container_id, body, bool(opts.rm), opts.detach_keys,
                        bool(opts.sig_proxy))
    if code:
        raise ExitCode(code)
    return 0


def _create(ctx: Context, opts: Parsed) -> int:
    image, cmd = opts.args[0], opts.args[1:]
    body = build_create_body(opts, image, cmd)
    ctx.write(create_container(ctx, body, opts.name, opts.pull, opts.quiet) + "\n")
    return 0


RUN = Command(
    name="run",
    usage="ketch run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    description="Create and run a new container from an image",
    flags=(*CONTAINER_FLAGS,
           Flag("detach", "d", help="Run container in background and print container ID"),
           Flag("detach-keys", kind="string",
                help="Override the key sequence for detaching a container"),
           Flag("sig-proxy", default=True, help="Proxy received signals to the process")),
    handler=_run,
    min_args=1,
    interspersed=False,
    run_style=True,
    aliases="ketch container run, ketch run",
)

CREATE = Command(
    name="create",
    usage="ketch create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    description="Create a new container",
    flags=CONTAINER_FLAGS,
    handler=_create,
    min_args=1,
    interspersed=False,
    aliases="ketch container create, ketch create",
)

