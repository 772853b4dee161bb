"""`ketch run` and `ketch create`, in the docker CLI's order of calls.

run: create (pull on "No such image", then create again) -> wait (next-exit, or removed
with --rm) -> attach (hijacked) -> start -> copy the streams -> exit with the status from
the wait body. `-d` prints the id instead. Signals are forwarded to the container
without a tty (--sig-proxy), the terminal is raw with one.
"""

from __future__ import annotations

import os

from ketch.cli.command import CLIError, Command, ExitCode
from ketch.cli.containerconfig import CONTAINER_FLAGS, build_create_body
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed
from ketch.client.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


PULL_POLICIES = ("always", "missing", "never")


def check_pull_policy(ctx: Context, command: str, policy: str) -> None:
    """validatePullOpt: an unknown --pull is a usage error (exit 125) for run and create."""
    if policy in (*PULL_POLICIES, ""):
        return
    message = (f"invalid pull option: '{policy}': must be one of \"always\", \"missing\" "
               f"or \"never\"")
    if command == "run":
        raise CLIError(message, 125)  # run's errors read "ketch: ..." with the help hint
    ctx.err.write(f"ketch: {message}\n\nRun 'ketch {command} --help' for more information\n")
    raise ExitCode(125)


def pull(ctx: Context, image: str, quiet: bool = False, platform: str = "") -> None:
    """The image pull of run/create (docker's pullImage): the progress on stderr, nothing
    with -q; the registry's credentials sent along."""
    from ketch.cli.commands.pull import encoded_auth, load_config
    from ketch.cli.credentials import CredentialsError, auth_config_key
    from ketch.cli.progress import StreamError, show_stream
    from ketch.util.reference import ReferenceError, parse_normalized_named

    try:
        named = parse_normalized_named(image)
    except ReferenceError as exc:
        raise CLIError(str(exc)) from None
    config = load_config(ctx)
    try:
        auth = config.get_auth(auth_config_key(named.domain))
    except CredentialsError as exc:
        raise CLIError(str(exc)) from None
    auth.auth = ""  # RetrieveAuthTokenFromImage sends no "auth" field
    tag = named.digest or named.tag or "latest"
    messages = ctx.client.pull(named.name, tag, platform.lower() or None, encoded_auth(auth))
    try:
        ctx.flush()
        show_stream(messages, None if quiet else ctx.err)
    except StreamError as exc:
        raise CLIError(exc.message) from None


def missing_image_name(image: str) -> str | None:
    """The familiar name docker says it cannot find ("busybox:latest"); None for an image
    ID, which no pull can bring."""
    from ketch.util.reference import ReferenceError, parse_any_reference

    try:
        named = parse_any_reference(image)
    except ReferenceError:
        return None
    if isinstance(named, str):
        return None
    return named.familiar_string() if named.tag or named.digest else \
        f"{named.familiar_string()}:latest"


def create_container(ctx: Context, body: dict[str, Any], name: str | None,
                     pull_policy: str = "missing", quiet: bool = False,
                     platform: str = "") -> str:
    cidfile = (body.get("HostConfig") or {}).get("ContainerIDFile") or ""
    handle = _open_cidfile(cidfile) if cidfile else None
    try:
        container_id = _create_pulling(ctx, body, name, pull_policy, quiet, platform)
        if handle is not None:
            handle.write(container_id)
            handle.close()
            handle = None
    finally:
        if handle is not None:  # the create failed: no file left, as the docker CLI
            handle.close()
            os.unlink(cidfile)
    return container_id


def _open_cidfile(path: str) -> Any:
    """--cidfile: made before the create (an existing one is refused), written after."""
    try:
        return open(path, "x", encoding="utf-8")  # closed by the caller
    except FileExistsError:
        raise CLIError(f"container ID file found, make sure the other container isn't "
                       f"running or delete {path}", 1) from None  # run: 125
    except OSError as e:
        raise CLIError(f"failed to create the container ID file: {e.strerror or e}",
                       1) from None


def _create_pulling(ctx: Context, body: dict[str, Any], name: str | None, pull_policy: str,
                    quiet: bool, platform: str) -> str:
    client = ctx.client
    image = body["Image"]
    if pull_policy == "always":
        pull(ctx, image, quiet, platform)
    try:
        created = client.create_container(body, name)
    except APIError as exc:
        if exc.status != 404 or pull_policy != "missing" or "image" not in exc.message.lower():
            raise
        familiar = missing_image_name(image)
        if familiar is None:
            raise
        if not quiet:
            ctx.err.write(f"Unable to find image '{familiar}' locally\n")
            ctx.err.flush()
        pull(ctx, image, quiet, platform)
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
    from ketch.cli.streams import StreamPump
    from ketch.cli.streams import detach_keys as parse_keys
    from ketch.cli.terminal import RawTerminal, is_terminal, monitor_size

    client = ctx.client
    tty = bool(config.get("Tty"))
    stdin = bool(config.get("AttachStdin"))
    stdout, stderr = bool(config.get("AttachStdout")), bool(config.get("AttachStderr"))
    keys = parse_keys(detach_keys, 125)

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
    check_pull_policy(ctx, "run", opts.pull)
    image, cmd = opts.args[0], opts.args[1:]
    detach = bool(opts.detach)
    body = build_create_body(opts, image, cmd, detach=detach)
    from ketch.cli.terminal import is_terminal

    if body["Tty"] and body["AttachStdin"] and not is_terminal(0):
        ctx.err.write("the input device is not a TTY\n")  # docker: a plain line, exit 1
        raise ExitCode(1)
    container_id = create_container(ctx, body, opts.name, opts.pull, opts.quiet,
                                    opts.platform or "")
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
    check_pull_policy(ctx, "create", opts.pull)
    image, cmd = opts.args[0], opts.args[1:]
    body = build_create_body(opts, image, cmd)
    ctx.write(create_container(ctx, body, opts.name, opts.pull, opts.quiet,
                               opts.platform or "") + "\n")
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

