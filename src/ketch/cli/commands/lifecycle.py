"""The verbs that act on existing containers: start, stop, restart, kill, rm, rename, wait.

As in the docker CLI, each takes several containers, prints each name it acted on (as
given), collects the daemon's errors and prints them at the end, exit 1 if any failed.
"""

from __future__ import annotations

from ketch.cli.command import CLIError, Command, ExitCode
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed
from ketch.client.errors import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def for_each(ctx: Context, names: list[str], action: Callable[[str], None],
             print_names: bool = True) -> int:
    errors: list[str] = []
    for name in names:
        try:
            action(name)
        except APIError as exc:
            errors.append(str(exc))
            continue
        if print_names:
            ctx.write(name + "\n")
    if errors:
        raise CLIError("\n".join(errors), 1)
    return 0


def _start(ctx: Context, opts: Parsed) -> int:
    client = ctx.client
    if opts.attach or opts.interactive:
        if len(opts.args) > 1:
            raise CLIError("Error: you cannot start and attach multiple containers at once", 1)
        from ketch.cli.commands.run import run_attached

        info = client.inspect_container(opts.args[0])
        config = info.get("Config") or {}
        attach_config = {"Tty": bool(config.get("Tty")),
                         "AttachStdin": bool(opts.interactive and config.get("OpenStdin")),
                         "AttachStdout": True, "AttachStderr": True}
        auto_remove = bool((info.get("HostConfig") or {}).get("AutoRemove"))
        try:
            code = run_attached(ctx, str(info["Id"]), attach_config, auto_remove,
                                opts.detach_keys, True)
        except CLIError as exc:
            raise CLIError(exc.message, 1) from None
        if code:
            raise ExitCode(code)
        return 0
    failed: list[str] = []
    for name in opts.args:
        try:
            client.start(name)
        except APIError as exc:
            ctx.err.write(f"{exc}\n")
            failed.append(name)
            continue
        ctx.write(name + "\n")
    if failed:
        raise CLIError(f"Error: failed to start containers: {', '.join(failed)}", 1)
    return 0


def _timeout(opts: Parsed) -> int | None:
    if "timeout" in opts.given:
        return int(opts.timeout)
    return int(opts.time) if "time" in opts.given else None


def _stop(ctx: Context, opts: Parsed) -> int:
    timeout = _timeout(opts)
    return for_each(ctx, opts.args, lambda n: ctx.client.stop(n, timeout, opts.signal))


def _restart(ctx: Context, opts: Parsed) -> int:
    timeout = _timeout(opts)
    return for_each(ctx, opts.args, lambda n: ctx.client.restart(n, timeout, opts.signal))


def _kill(ctx: Context, opts: Parsed) -> int:
    return for_each(ctx, opts.args, lambda n: ctx.client.kill(n, opts.signal))


def _rm(ctx: Context, opts: Parsed) -> int:
    errors: list[str] = []
    for name in opts.args:
        name = name.strip("/")
        if not name:
            errors.append("Container name cannot be empty")
            continue
        try:
            ctx.client.remove_container(name, force=bool(opts.force),
                                        volumes=bool(opts.volumes), link=bool(opts.link))
        except APIError as exc:
            if opts.force and exc.status == 404:
                ctx.err.write(f"{exc}\n")
                continue
            errors.append(str(exc))
            continue
        ctx.write(name + "\n")
    if errors:
        raise CLIError("\n".join(errors), 1)
    return 0


def _rename(ctx: Context, opts: Parsed) -> int:
    old, new = (a.strip() for a in opts.args)
    if not old or not new:
        raise CLIError("Error: Neither old nor new names may be empty", 1)
    ctx.client.rename(old, new)
    return 0


def _wait(ctx: Context, opts: Parsed) -> int:
    def wait_one(name: str) -> None:
        status = ctx.client.wait(name).result()
        error = status.get("Error")
        if isinstance(error, dict) and error.get("Message"):
            raise APIError(500, str(error["Message"]))
        ctx.write(f"{status.get('StatusCode', 0)}\n")

    return for_each(ctx, opts.args, wait_one, print_names=False)


_TIMEOUT = Flag("timeout", "t", "int", help="Seconds to wait before killing the container",
                metavar="int")
_SIGNAL = Flag("signal", "s", "string", help="Signal to send to the container")

START = Command(
    name="start",
    usage="ketch start [OPTIONS] CONTAINER [CONTAINER...]",
    description="Start one or more stopped containers",
    flags=(Flag("attach", "a", help="Attach STDOUT/STDERR and forward signals"),
           Flag("interactive", "i", help="Attach container's STDIN"),
           Flag("detach-keys", kind="string",
                help="Override the key sequence for detaching a container")),
    handler=_start, min_args=1, aliases="ketch container start, ketch start")
STOP = Command(
    name="stop", usage="ketch stop [OPTIONS] CONTAINER [CONTAINER...]",
    description="Stop one or more running containers",
    flags=(_SIGNAL, _TIMEOUT, Flag("time", kind="int", hidden=True)),
    handler=_stop, min_args=1, aliases="ketch container stop, ketch stop")
RESTART = Command(
    name="restart", usage="ketch restart [OPTIONS] CONTAINER [CONTAINER...]",
    description="Restart one or more containers",
    flags=(_SIGNAL, _TIMEOUT, Flag("time", kind="int", hidden=True)),
    handler=_restart, min_args=1, aliases="ketch container restart, ketch restart")
KILL = Command(
    name="kill", usage="ketch kill [OPTIONS] CONTAINER [CONTAINER...]",
    description="Kill one or more running containers",
    flags=(Flag("signal", "s", "string", help="Signal to send to the container"),),
    handler=_kill, min_args=1, aliases="ketch container kill, ketch kill")
PAUSE = Command(
    name="pause", usage="ketch pause CONTAINER [CONTAINER...]",
    description="Pause all processes within one or more containers", flags=(),
    handler=lambda ctx, opts: for_each(ctx, opts.args, ctx.client.pause), min_args=1,
    aliases="ketch container pause, ketch pause")
UNPAUSE = Command(
    name="unpause", usage="ketch unpause CONTAINER [CONTAINER...]",
    description="Unpause all processes within one or more containers", flags=(),
    handler=lambda ctx, opts: for_each(ctx, opts.args, ctx.client.unpause), min_args=1,
    aliases="ketch container unpause, ketch unpause")
RM = Command(
    name="rm", usage="ketch rm [OPTIONS] CONTAINER [CONTAINER...]",
    description="Remove one or more containers",
    flags=(Flag("force", "f", help="Force the removal of a running container (uses SIGKILL)"),
           Flag("link", "l", help="Remove the specified link"),
           Flag("volumes", "v", help="Remove anonymous volumes associated with the container")),
    handler=_rm, min_args=1, aliases="ketch container rm, ketch container remove, ketch rm")
RENAME = Command(
    name="rename", usage="ketch rename CONTAINER NEW_NAME",
    description="Rename a container", flags=(), handler=_rename, min_args=2, max_args=2,
    aliases="ketch container rename, ketch rename")
WAIT = Command(
    name="wait", usage="ketch wait CONTAINER [CONTAINER...]",
    description="Block until one or more containers stop, then print their exit codes",
    flags=(), handler=_wait, min_args=1, aliases="ketch container wait, ketch wait")
