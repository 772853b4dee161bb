"""Dispatch: global flags, the verb table, and Docker's error lines and exit codes.

Verbs live in `ketch.cli.commands.*` and are imported only when called, so that
`ketch ps` loads the client and the ps formatter and nothing else.
"""

from __future__ import annotations

import sys

from ketch.cli.command import CLIError, Command, ExitCode
from ketch.cli.context import Context
from ketch.cli.flags import Flag, FlagError, HelpRequested, parse, usage_text

# verb -> "module:attribute" of its Command
COMMANDS: dict[str, str] = {
    "run": "run:RUN",
    "create": "run:CREATE",
    "start": "lifecycle:START",
    "stop": "lifecycle:STOP",
    "restart": "lifecycle:RESTART",
    "kill": "lifecycle:KILL",
    "pause": "lifecycle:PAUSE",
    "unpause": "lifecycle:UNPAUSE",
    "top": "top:TOP",
    "stats": "stats:STATS",
    "attach": "attach:ATTACH",
    "update": "update:UPDATE",
    "rm": "lifecycle:RM",
    "rename": "lifecycle:RENAME",
    "wait": "lifecycle:WAIT",
    "ps": "ps:PS",
    "logs": "logs:LOGS",
    "cp": "cp:CP",
    "export": "cp:EXPORT",
    "inspect": "inspect:INSPECT",
    "diff": "diff:DIFF",
    "exec": "exec:EXEC",
    "images": "images:IMAGES",
    "import": "images:IMPORT",
    "tag": "images:TAG",
    "rmi": "images:RMI",
    "history": "history:HISTORY",
    "build": "build:BUILD",
    "pull": "pull:PULL",
    "push": "push:PUSH",
    "login": "login:LOGIN",
    "logout": "login:LOGOUT",
    "image prune": "prune:IMAGE_PRUNE",  # reached as `ketch image prune` only
    "builder prune": "builder:PRUNE",  # reached as `ketch builder prune` only
    "container prune": "container_prune:PRUNE",  # `ketch container prune` only
    "system df": "df:DF",  # reached as `ketch system df` only
    "system prune": "system_prune:PRUNE",  # `ketch system prune` only
    "volume create": "volume:CREATE",  # the volume verbs: `ketch volume ...` only
    "volume ls": "volume:LS",
    "volume inspect": "volume:INSPECT",
    "volume rm": "volume:RM",
    "volume prune": "volume:PRUNE",
    "network create": "network:CREATE",  # the network verbs: `ketch network ...` only
    "network ls": "network:LS",
    "network inspect": "network:INSPECT",
    "network rm": "network:RM",
    "network prune": "network:PRUNE",
    "network connect": "network:CONNECT",
    "network disconnect": "network:DISCONNECT",
    "port": "port:PORT",
    "save": "saveload:SAVE",
    "load": "saveload:LOAD",
    "commit": "saveload:COMMIT",
    "bootstrap": "bootstrap:BOOTSTRAP",
    "version": "system:VERSION",
    "info": "system:INFO",
    "events": "events:EVENTS",
    "compose": "compose:COMPOSE",  # handles its own subcommands (config, ...)
}

# `ketch container ls`, `ketch image rm`, ... -> the top-level verb
GROUPS: dict[str, dict[str, str]] = {
    "container": {"ls": "ps", "list": "ps", "ps": "ps", "remove": "rm",
                  **{v: v for v in ("run", "create", "start", "stop", "restart", "kill", "rm",
                                    "rename", "wait", "logs", "inspect", "exec", "diff",
                                    "cp", "export", "commit", "port", "pause", "unpause",
                                    "top", "attach", "update", "stats")},
                  "prune": "container prune"},
    "image": {"ls": "images", "list": "images", "rm": "rmi", "remove": "rmi",
              "import": "import", "tag": "tag", "inspect": "inspect",
              "history": "history", "prune": "image prune",
              "save": "save", "load": "load", "build": "build", "pull": "pull",
              "push": "push"},
    "system": {"info": "info", "df": "system df", "events": "events",
               "prune": "system prune"},
    "builder": {"prune": "builder prune", "build": "build"},
    "volume": {"create": "volume create", "ls": "volume ls", "list": "volume ls",
               "inspect": "volume inspect", "rm": "volume rm", "remove": "volume rm",
               "prune": "volume prune"},
    "network": {"create": "network create", "ls": "network ls", "list": "network ls",
                "inspect": "network inspect", "rm": "network rm", "remove": "network rm",
                "prune": "network prune", "connect": "network connect",
                "disconnect": "network disconnect"},
}

GLOBAL_FLAGS = (
    Flag("host", "H", "list", help="Daemon socket to connect to", metavar="list"),
    Flag("debug", "D", help="Enable debug mode"),
    Flag("log-level", "l", "string", help="Set the logging level"),
    Flag("config", kind="string", help="Location of client config files"),
    Flag("context", "c", "string", help="Name of the context to use"),
    Flag("version", "v", help="Print version information and quit"),
)


def load(name: str) -> Command:
    module, _, attr = COMMANDS[name].partition(":")
    mod = __import__(f"ketch.cli.commands.{module}", fromlist=[attr])
    command: Command = getattr(mod, attr)
    return command


def main_help() -> str:
    """`ketch --help`: the groups, then every verb with its description (which loads each
    verb's module: only --help pays for that)."""
    lines = ["", "Usage:  ketch [OPTIONS] COMMAND", "",
             "A self-sufficient runtime for containers (Docker-compatible)", "",
             "Management Commands:"]
    lines += [f"  {group:<11} {GROUP_TITLES[group]}" for group in sorted(GROUPS)]
    lines += ["", "Commands:"]
    lines += [f"  {name:<11} {load(name).description.splitlines()[0].rstrip('.')}"
              for name in sorted(COMMANDS) if " " not in name]
    lines += ["", "Run 'ketch COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines)


GROUP_TITLES = {"builder": "Manage builds", "container": "Manage containers",
                "image": "Manage images",
                "network": "Manage networks", "system": "Manage ketch",
                "volume": "Manage volumes"}
_ALIASES = {"list", "remove", "ps"}  # listed by their canonical names only


def group_help(group: str) -> str:
    """`ketch image --help`: the group's verbs, each with its description."""
    verbs = sorted(sub for sub in GROUPS[group] if sub not in _ALIASES)
    lines = [f"Usage:  ketch {group} COMMAND", "", GROUP_TITLES[group], "", "Commands:"]
    lines += [f"  {verb:<11} {load(GROUPS[group][verb]).description}" for verb in verbs]
    lines += ["", f"Run 'ketch {group} COMMAND --help' for more information on a command.",
              ""]
    return "\n".join(lines)


def _usage_error(ctx: Context, command: Command, message: str, hint: str, code: int) -> int:
    ctx.err.write(f"{message}\n\nUsage:  {command.usage}\n\n"
                  f"{hint} 'ketch {command.name} --help' for more information\n")
    return code


def run_command(ctx: Context, command: Command, argv: list[str]) -> int:
    try:
        opts = parse(command.flags, argv, command.interspersed)
    except HelpRequested:
        ctx.write(usage_text(command.usage, command.description, command.flags,
                             command.aliases))
        return 0
    except FlagError as exc:
        return _usage_error(ctx, command, str(exc), "Run", 125)
    problem = command.check_args(opts.args)
    if problem:
        hint = "See" if "at least" in problem and "at most" not in problem else "Run"
        return _usage_error(ctx, command, f"ketch: {problem}", hint, 1)
    try:
        return command.handler(ctx, opts)
    except ExitCode as exc:
        return exc.code
    except CLIError as exc:
        if command.run_style:
            return _run_error(ctx, command, exc.message, exc.code if exc.code != 1 else 125)
        if exc.message:
            ctx.err.write(exc.message + "\n")
        return exc.code
    except Exception as exc:  # the client's errors, and any bug: one line, never a traceback
        from ketch.client.errors import APIError, DaemonUnavailable

        if isinstance(exc, APIError | DaemonUnavailable):
            message = str(exc)
        elif isinstance(exc, OSError):
            message = f"{exc.strerror or exc}" if not exc.filename else \
                f"{exc.filename}: {(exc.strerror or str(exc)).lower()}"
        else:
            message = f"{type(exc).__name__}: {exc}"
        if command.run_style:
            return _run_error(ctx, command, message, 125)
        ctx.err.write(message + "\n")
        return 1


def _run_error(ctx: Context, command: Command, message: str, code: int) -> int:
    ctx.err.write(f"ketch: {message}\n\nRun 'ketch {command.name} --help' for more information\n")
    return code


def execute(argv: list[str]) -> int:
    ctx = Context()
    try:
        opts = parse(GLOBAL_FLAGS, argv, interspersed=False)
    except HelpRequested:
        ctx.write(main_help())
        return 0
    except FlagError as exc:
        ctx.err.write(f"{exc}\n\nUsage:  ketch [OPTIONS] COMMAND\n\n"
                      "Run 'ketch --help' for more information\n")
        return 125
    if opts.version:
        from ketch import __version__

        ctx.write(f"ketch version {__version__}\n")
        return 0
    if opts.host:
        ctx.host_flag = opts.host[-1]
    if opts.config:  # where config.json (registry credentials) lives
        from ketch.cli.credentials import set_config_dir

        set_config_dir(opts.config)
    args = opts.args
    if not args or args[0] == "help":
        ctx.write(main_help())
        return 0
    name, rest = args[0], args[1:]
    if name in GROUPS:
        if not rest or rest[0] in ("--help", "-h", "help"):
            ctx.write(group_help(name))
            return 0
        if rest[0] not in GROUPS[name]:
            ctx.err.write(f"ketch: unknown command: ketch {name} {rest[0]}\n\n"
                          f"Usage:  ketch {name}\n\n"
                          f"Run 'ketch {name} --help' for more information\n")
            return 1
        name, rest = GROUPS[name][rest[0]], rest[1:]
    if name not in COMMANDS:
        ctx.err.write(f"ketch: unknown command: ketch {name}\n\n"
                      "Run 'ketch --help' for more information\n")
        return 1
    try:
        return run_command(ctx, load(name), rest)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    finally:
        ctx.close()
        try:
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass
