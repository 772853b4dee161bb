"""`ketch attach`: the running container's stdio to this terminal, as the docker CLI does
it (stdin if the container keeps it open, signals forwarded without a tty, the detach
keys, the container's exit code at the end)."""

from __future__ import annotations

from ketch.cli.command import CLIError, Command, ExitCode
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed


def _attach(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.commands.run import _forward_signals
    from ketch.cli.streams import StreamPump, detach_keys
    from ketch.cli.terminal import RawTerminal, is_terminal, monitor_size, terminal_size

    client = ctx.client
    info = client.inspect_container(opts.args[0])
    state, config = info.get("State") or {}, info.get("Config") or {}
    if not state.get("Running"):
        raise CLIError("You cannot attach to a stopped container, start it first", 1)
    if state.get("Paused"):
        raise CLIError("You cannot attach to a paused container, unpause it first", 1)
    if state.get("Restarting"):
        raise CLIError("You cannot attach to a restarting container, wait until it is "
                       "running", 1)
    keys = detach_keys(opts.detach_keys, 1)
    cid, tty = str(info["Id"]), bool(config.get("Tty"))
    stdin = bool(config.get("OpenStdin")) and not opts.no_stdin
    if tty and stdin and not is_terminal(0):
        raise CLIError("the input device is not a TTY", 1)
    waiter = client.wait(cid, "")
    stream = client.attach(cid, stdin=stdin, stdout=True, stderr=True)
    raw = RawTerminal(0) if tty and stdin and is_terminal(0) else None
    ctx.flush()
    try:
        if raw is not None:
            raw.__enter__()
        if tty and is_terminal(1):
            height, width = terminal_size(1)
            client.resize(cid, height, width)
            monitor_size(lambda h, w: client.resize(cid, h, w))
        elif opts.sig_proxy and not tty:
            _forward_signals(ctx, cid)
        detached = StreamPump(stream, tty, stdin, detach_keys=keys).run()
        stream.close()
    finally:
        if raw is not None:
            raw.restore()
    if detached:  # the docker CLI reports it, and fails (unlike run's detach)
        waiter.cancel()
        raise CLIError("read escape sequence", 1)
    status = waiter.result()
    code = int(status.get("StatusCode", 0))
    if code:
        raise ExitCode(code)
    return 0


ATTACH = Command(
    name="attach",
    usage="ketch attach [OPTIONS] CONTAINER",
    description="Attach local standard input, output, and error streams to a running "
                "container",
    flags=(Flag("detach-keys", kind="string",
                help="Override the key sequence for detaching a container"),
           Flag("no-stdin", help="Do not attach STDIN"),
           Flag("sig-proxy", default=True, help="Proxy all received signals to the process")),
    handler=_attach, min_args=1, max_args=1,
    aliases="ketch container attach, ketch attach",
)
