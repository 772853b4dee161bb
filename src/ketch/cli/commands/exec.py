"""`ketch exec`: POST /containers/{id}/exec, hijacked /exec/{id}/start, then /exec/{id}/json
for the exit code (capture 10-12)."""

from __future__ import annotations

from ketch.cli.command import CLIError, Command, ExitCode
from ketch.cli.context import Context
from ketch.cli.envfile import parse_env_file, resolve_env
from ketch.cli.flags import Flag, Parsed


def _exec(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.streams import StreamPump, detach_keys
    from ketch.cli.terminal import RawTerminal, is_terminal, monitor_size

    container, cmd = opts.args[0], opts.args[1:]
    client = ctx.client
    client.inspect_container(container)
    env: list[str] = []
    for path in opts.env_file:
        env.extend(parse_env_file(path))
    env.extend(resolve_env(e) for e in opts.env)
    tty, stdin, detach = bool(opts.tty), bool(opts.interactive), bool(opts.detach)
    if tty and stdin and not detach and not is_terminal(0):
        raise CLIError("the input device is not a TTY", 1)
    config = {"User": opts.user or "", "Privileged": bool(opts.privileged), "Tty": tty,
              "AttachStdin": stdin and not detach, "AttachStderr": not detach,
              "AttachStdout": not detach, "Detach": detach,
              "DetachKeys": opts.detach_keys or "", "Env": env or None,
              "WorkingDir": opts.workdir or "", "Cmd": cmd}
    exec_id = str(client.exec_create(container, config)["Id"])
    if detach:
        client.exec_start_detached(exec_id, tty)
        return 0
    keys = detach_keys(opts.detach_keys, 1)
    stream = client.exec_start(exec_id, tty)
    raw = RawTerminal(0) if tty and stdin and is_terminal(0) else None
    try:
        if raw is not None:
            raw.__enter__()
        if tty and is_terminal(1):
            monitor_size(lambda h, w: client.exec_resize(exec_id, h, w))
        detached = StreamPump(stream, tty, stdin, detach_keys=keys).run()
    finally:
        if raw is not None:
            raw.restore()
        stream.close()
    if detached:
        return 0
    code = int(client.exec_inspect(exec_id).get("ExitCode") or 0)
    if code:
        raise ExitCode(code)
    return 0


EXEC = Command(
    name="exec",
    usage="ketch exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    description="Execute a command in a running container",
    flags=(Flag("detach", "d", help="Detached mode: run command in the background"),
           Flag("detach-keys", kind="string",
                help="Override the key sequence for detaching a container"),
           Flag("env", "e", "list", help="Set environment variables", metavar="list"),
           Flag("env-file", kind="list", help="Read in a file of environment variables",
                metavar="list"),
           Flag("interactive", "i", help="Keep STDIN open even if not attached"),
           Flag("privileged", help="Give extended privileges to the command"),
           Flag("tty", "t", help="Allocate a pseudo-TTY"),
           Flag("user", "u", "string",
                help="Username or UID (format: \"<name|uid>[:<group|gid>]\")"),
           Flag("workdir", "w", "string", help="Working directory inside the container")),
    handler=_exec, min_args=2, interspersed=False,
    aliases="ketch container exec, ketch exec",
)
