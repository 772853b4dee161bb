"""`ketch compose`: docker compose's verb. Its global options (`-f`, `-p`,
`--project-directory`, `--env-file`, `--profile`) come before or after the
subcommand. `config` prints the canonical model.

The engine-side subcommands (up, down, ps, ...) are below `config`: each parses its
flags here and acts through `ketch.compose.engine` (the Engine API client). The compose
package and PyYAML are imported only when a compose command runs, so that
`ketch ps` does not pay for them.
"""

from __future__ import annotations

import os
import sys

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, FlagError, HelpRequested, Parsed, parse, usage_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ketch.compose import Project, ProjectOptions
    from ketch.compose.convergence import Existing
    from ketch.compose.engine import Compose as ComposeEngine

GLOBAL_FLAGS = (
    Flag("file", "f", "list", help="Compose configuration files", metavar="stringArray"),
    Flag("project-name", "p", "string", help="Project name"),
    Flag("project-directory", kind="string",
         help="Specify an alternate working directory (default: the path of the, "
              "first specified, Compose file)"),
    Flag("env-file", kind="list", help="Specify an alternate environment file",
         metavar="stringArray"),
    Flag("profile", kind="list", help="Specify a profile to enable", metavar="stringArray"),
    # accepted for docker compose's sake; they change nothing here yet
    Flag("ansi", kind="string", hidden=True),
    Flag("progress", kind="string", hidden=True),
    Flag("parallel", kind="int", hidden=True),
    Flag("compatibility", hidden=True),
    Flag("dry-run", hidden=True),
)

CONFIG_FLAGS = (
    Flag("environment", help="Print environment used for interpolation."),
    Flag("format", kind="string", default="yaml",
         help='Format the output. Values: [yaml | json] (default "yaml")'),
    Flag("hash", kind="string", help="Print the service config hash, one per line."),
    Flag("images", help="Print the image names, one per line."),
    Flag("networks", help="Print the network names, one per line."),
    Flag("no-consistency",
         help="Don't check model consistency - warning: may produce invalid Compose output"),
    Flag("no-interpolate", help="Don't interpolate environment variables"),
    Flag("no-path-resolution", help="Don't resolve file paths"),
    Flag("output", "o", "string", help="Save to file (default to stdout)"),
    Flag("profiles", help="Print the profile names, one per line."),
    Flag("quiet", "q", help="Only validate the configuration, don't print anything"),
    Flag("services", help="Print the service names, one per line."),
    Flag("volumes", help="Print the volume names, one per line."),
)

DESCRIPTION = ("Define and run multi-container applications with Docker\n\n"
               "Commands:\n"
               "  build       Build or rebuild services\n"
               "  config      Parse, resolve and render compose file in canonical format\n"
               "  down        Stop and remove containers, networks\n"
               "  exec        Execute a command in a running container\n"
               "  images      List images used by the created containers\n"
               "  kill        Force stop service containers\n"
               "  logs        View output from containers\n"
               "  ls          List running compose projects\n"
               "  pause       Pause services\n"
               "  port        Print the public port for a port binding\n"
               "  ps          List containers\n"
               "  pull        Pull service images\n"
               "  push        Push service images\n"
               "  restart     Restart service containers\n"
               "  rm          Removes stopped service containers\n"
               "  run         Run a one-off command on a service\n"
               "  start       Start services\n"
               "  stop        Stop services\n"
               "  top         Display the running processes\n"
               "  unpause     Unpause services\n"
               "  up          Create and start containers\n"
               "  version     Show the Docker Compose version information\n")


def _help() -> str:
    return usage_text("ketch compose [OPTIONS] COMMAND", DESCRIPTION, GLOBAL_FLAGS) + \
        "\nRun 'ketch compose COMMAND --help' for more information on a command.\n"


def _merged(globals_: Parsed, local: Parsed, name: str) -> list[str]:
    values: list[str] = [*globals_.values.get(name, []), *local.values.get(name, [])]
    return values


def project_options(globals_: Parsed, local: Parsed, services: list[str]) -> ProjectOptions:
    """The compose global options, given before or after the subcommand."""
    from ketch.compose import ProjectOptions

    def last(name: str) -> str | None:
        value = local.values.get(name) or globals_.values.get(name)
        return str(value) if value else None

    return ProjectOptions(
        files=_merged(globals_, local, "file"), project_name=last("project_name"),
        project_directory=last("project_directory"),
        env_files=_merged(globals_, local, "env_file"),
        profiles=_merged(globals_, local, "profile"), services=services,
        read_stdin=sys.stdin.buffer.read)


def _write_warnings(ctx: Context, project: Project) -> None:
    for warning in project.warnings:
        ctx.err.write(f"WARN[0000] {warning}\n")


def _config(ctx: Context, globals_: Parsed, argv: list[str]) -> int:
    try:
        opts = parse((*CONFIG_FLAGS, *GLOBAL_FLAGS), argv)
    except HelpRequested:
        ctx.write(usage_text("ketch compose config [OPTIONS] [SERVICE...]",
                             "Parse, resolve and render compose file in canonical format",
                             CONFIG_FLAGS))
        return 0
    except FlagError as exc:
        raise CLIError(f"{exc}\n\nUsage:  ketch compose config [OPTIONS] [SERVICE...]\n\n"
                       "Run 'ketch compose config --help' for more information", 1) from None
    if opts.format not in ("yaml", "json"):
        raise CLIError(f"unsupported format {opts.format!r}", 1)
    from ketch.compose import load_project, select_services
    from ketch.compose.canonical import to_json, to_yaml
    from ketch.errors import KetchError

    options = project_options(globals_, opts, list(opts.args))
    options.interpolate = not opts.no_interpolate
    options.resolve_paths = not opts.no_path_resolution
    options.consistency = not opts.no_consistency
    try:
        project = load_project(options)
    except KetchError as exc:
        raise CLIError(str(exc), 1) from None
    _write_warnings(ctx, project)
    if opts.quiet:
        return 0
    text = _listing(project, opts)
    if text is None:
        project = select_services(project, list(opts.args))
        model = project.to_dict()
        text = to_json(model) if opts.format == "json" else to_yaml(model)
    if opts.output:
        try:
            with open(opts.output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise CLIError(f"open {opts.output}: {(exc.strerror or str(exc)).lower()}", 1
                           ) from None
        return 0
    ctx.write(text)
    return 0


def _listing(project: Project, opts: Parsed) -> str | None:
    """The one-per-line answers (`--services`, `--volumes`, ...), or None."""
    from ketch.compose.model import config_hash, image_name

    rows: list[str] | None = None
    if opts.services:
        rows = project.dependency_order(list(opts.args) or None)
    elif opts.volumes:
        rows = sorted(project.volumes)
    elif opts.networks:
        rows = sorted(project.networks)
    elif opts.profiles:
        rows = project.all_profiles()
    elif opts.images:
        rows = [image_name(project, name) for name in project.service_names()]
    elif opts.environment:
        rows = [f"{key}={value}" for key, value in sorted(project.environment.items())]
    elif opts.hash:
        wanted = project.service_names() if opts.hash == "*" else \
            [name.strip() for name in opts.hash.split(",") if name.strip()]
        rows = []
        for name in wanted:
            if name not in project.services:
                raise CLIError(f"no such service: {name}", 1)
            rows.append(f"{name} {config_hash(project.services[name])}")
    if rows is None:
        return None
    return "".join(f"{row}\n" for row in rows)


def _compose(ctx: Context, opts: Parsed) -> int:
    if not opts.args:
        ctx.write(_help())
        return 0
    sub, rest = opts.args[0], opts.args[1:]
    if sub == "help":
        ctx.write(_help())
        return 0
    if sub in ("config", "convert"):
        return _config(ctx, opts, rest)
    verb = VERBS.get(sub)
    if verb is not None:
        return run_verb(ctx, opts, sub, verb, rest)
    raise CLIError(f"ketch: unknown command: ketch compose {sub}\n\n"
                   "Run 'ketch compose --help' for more information", 1)


COMPOSE = Command(
    "compose", "ketch compose [OPTIONS] COMMAND", DESCRIPTION, GLOBAL_FLAGS, _compose,
    interspersed=False)


# -- the engine side: up, down, ps, logs, ... ----------------------------------------------

class Verb:
    """A compose subcommand: its usage, flags and handler(ctx, engine maker, opts)."""

    def __init__(self, usage: str, description: str, flags: tuple[Flag, ...],
                 handler: Callable[[Context, Session, Parsed], int], min_args: int = 0,
                 interspersed: bool = True, needs_project: bool = True) -> None:
        self.usage = usage
        self.description = description
        self.flags = flags
        self.handler = handler
        self.min_args = min_args
        self.interspersed = interspersed
        self.needs_project = needs_project


class Session:
    """The project (loaded on first use) and its engine."""

    def __init__(self, ctx: Context, globals_: Parsed, opts: Parsed, sub: str) -> None:
        self.ctx = ctx
        self.globals = globals_
        self.opts = opts
        self.sub = sub
        self._compose: ComposeEngine | None = None

    def project(self, services: list[str] | None = None) -> Project:
        from ketch.compose import ComposeFileNotFound, load_project
        from ketch.compose.model import Project
        from ketch.errors import KetchError

        options = project_options(self.globals, self.opts, list(services or []))
        try:
            project = load_project(options)
        except ComposeFileNotFound:
            name = options.project_name or os.environ.get("COMPOSE_PROJECT_NAME")
            if not name or self.sub in ("up", "run", "build", "pull", "push", "create"):
                raise
            # no file: the project as the engine's labels tell it (down, ps, logs, ...)
            return Project(name=name, working_dir=os.getcwd(), config_files=[])
        except KetchError as exc:
            raise CLIError(str(exc), 1) from None
        _write_warnings(self.ctx, project)
        return project

    def compose(self) -> ComposeEngine:
        if self._compose is None:
            from ketch.compose.engine import Compose

            def progress(line: str) -> None:
                self.ctx.err.write(line + "\n")
                self.ctx.err.flush()

            def build_output(text: str) -> None:
                self.ctx.err.write(text)
                self.ctx.err.flush()

            self._compose = Compose(self.ctx.client, self.project(), progress, build_output)
        return self._compose


def run_verb(ctx: Context, globals_: Parsed, sub: str, verb: Verb, argv: list[str]) -> int:
    from ketch.client.errors import APIError, DaemonUnavailable
    from ketch.errors import KetchError

    usage = f"ketch compose {sub} {verb.usage}".rstrip()
    try:
        taken = {f.long for f in verb.flags} | {f.short for f in verb.flags if f.short}
        # a verb's own flag wins over a global one (`rm -f` is --force, `run -p` --publish)
        inherited = tuple(f if f.short not in taken else
                          Flag(f.long, "", f.kind, f.default, f.help, f.metavar, f.hidden)
                          for f in GLOBAL_FLAGS if f.long not in taken)
        opts = parse((*verb.flags, *inherited), argv, interspersed=verb.interspersed)
    except HelpRequested:
        ctx.write(usage_text(usage, verb.description, verb.flags))
        return 0
    except FlagError as exc:
        raise CLIError(f"{exc}\n\nUsage:  {usage}\n\n"
                       f"Run 'ketch compose {sub} --help' for more information", 1) from None
    if len(opts.args) < verb.min_args:
        raise CLIError(f"'ketch compose {sub}' requires at least {verb.min_args} "
                       f"argument{'s' if verb.min_args > 1 else ''}\n\nUsage:  {usage}", 1)
    session = Session(ctx, globals_, opts, sub)
    try:
        return verb.handler(ctx, session, opts)
    except (KetchError, APIError) as exc:
        raise CLIError(str(exc), 1) from None
    except DaemonUnavailable as exc:
        raise CLIError(str(exc), 1) from None


def _timeout(opts: Parsed) -> int | None:
    return int(opts.timeout) if "timeout" in opts.given else None


def _scale(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, eq, count = item.partition("=")
        if not eq or not count.strip().lstrip("-").isdigit():
            raise CLIError(f"invalid --scale option {item!r}: use SERVICE=NUM", 1)
        out[name] = int(count)
    return out


def _up(ctx: Context, session: Session, opts: Parsed) -> int:
    from ketch.compose.engine import UpOptions

    if opts.detach and (opts.abort_on_container_exit or opts.exit_code_from):
        raise CLIError("--abort-on-container-exit and --detach are incompatible", 1)
    if opts.build and opts.no_build:
        raise CLIError("--build and --no-build are incompatible", 1)
    if opts.force_recreate and opts.no_recreate:
        raise CLIError("--force-recreate and --no-recreate are incompatible", 1)
    compose = session.compose()
    if opts.exit_code_from and opts.exit_code_from not in compose.project.services:
        raise CLIError(f"no such service: {opts.exit_code_from}", 1)
    options = UpOptions(build=opts.build, no_build=opts.no_build, pull=opts.pull or "",
                        force_recreate=opts.force_recreate, no_recreate=opts.no_recreate,
                        no_deps=opts.no_deps, scale=_scale(opts.scale),
                        remove_orphans=opts.remove_orphans, timeout=_timeout(opts),
                        no_start=opts.no_start, wait=opts.wait,
                        wait_timeout=float(opts.wait_timeout) if opts.wait_timeout else None,
                        quiet_pull=opts.quiet_pull)
    containers = compose.up(list(opts.args) or None, options)
    if opts.detach or opts.no_start or opts.wait:
        return 0
    attach_to = set(opts.args) if opts.args and not opts.attach_dependencies else None
    shown = [c for c in containers if attach_to is None or c.service in attach_to]
    return _attached(ctx, compose, shown, opts)


def _attached(ctx: Context, compose: ComposeEngine, containers: list[Existing],
              opts: Parsed) -> int:
    """Print the containers' logs until they all exit (or one, with
    --abort-on-container-exit); Ctrl-C stops the project."""
    import queue

    from ketch.cli.terminal import is_terminal
    from ketch.compose.logs import Follower, LogPrinter, short_name

    project = compose.project.name
    printer = LogPrinter(_flushing(ctx), colour=is_terminal(1) and not opts.no_color,
                         prefix=not opts.no_log_prefix)
    names = {c.id: short_name(project, c) for c in containers}
    printer.fit(list(names.values()))
    ctx.write("Attaching to " + ", ".join(names[c.id] for c in containers) + "\n")
    ctx.flush()
    ended: queue.Queue[Existing] = queue.Queue()
    import time

    now = str(int(time.time()))  # a container already running shows only what comes
    followers = [Follower(compose.client, c, names[c.id], printer, follow=True,
                          since=None if c.started else now, on_end=ended.put)
                 for c in containers]
    for follower in followers:
        follower.start()
    abort = bool(opts.abort_on_container_exit or opts.exit_code_from)
    code = 0
    remaining = len(followers)
    try:
        while remaining:
            try:
                container = ended.get(timeout=0.5)
            except queue.Empty:
                continue
            remaining -= 1
            state = compose.client.inspect_container(container.id).get("State") or {}
            if state.get("Running"):
                continue  # the stream broke, the container lives on (restarting)
            exit_code = int(state.get("ExitCode") or 0)
            printer.event(f"{names[container.id]} exited with code {exit_code}")
            if opts.exit_code_from:
                if container.service == opts.exit_code_from:
                    code = exit_code
            elif abort:
                code = exit_code
            if abort:
                printer.event("Aborting on container exit...")
                break
    except KeyboardInterrupt:
        ctx.err.write("Gracefully stopping... (press Ctrl+C again to force)\n")
        for follower in followers:
            follower.stop()
        compose.stop(sorted({c.service for c in containers}), _timeout(opts))
        return 130
    for follower in followers:
        follower.stop()
    if abort:
        compose.stop(sorted({c.service for c in containers}), _timeout(opts))
        if opts.exit_code_from:
            for container in compose.containers(services=[opts.exit_code_from]):
                state = compose.client.inspect_container(container.id).get("State") or {}
                code = int(state.get("ExitCode") or 0)
    return code


def _flushing(ctx: Context) -> Callable[[str], None]:
    def write(text: str) -> None:
        ctx.write(text)
        ctx.flush()
    return write


def _down(ctx: Context, session: Session, opts: Parsed) -> int:
    if opts.rmi and opts.rmi not in ("local", "all"):
        raise CLIError(f'invalid value for --rmi: {opts.rmi}', 1)
    session.compose().down(remove_orphans=opts.remove_orphans, volumes=opts.volumes,
                           rmi=opts.rmi or "", timeout=_timeout(opts),
                           names=list(opts.args) or None)
    return 0


class _PsRow:
    """The placeholders of `compose ps` (docker's container row, plus Name, Service...)."""

    def __init__(self, summary: dict[str, Any], trunc: bool = True) -> None:
        from ketch.cli.containers_format import ContainerRow

        self._row = ContainerRow(summary, trunc)
        self._c = summary
        labels = summary.get("Labels") or {}
        self.Name = str((summary.get("Names") or [""])[0]).lstrip("/")
        self.Service = str(labels.get("com.docker.compose.service", ""))
        self.Project = str(labels.get("com.docker.compose.project", ""))
        self.Labels = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)

    @property
    def Created(self) -> str:
        return str(self._row.RunningFor)

    @property
    def Publishers(self) -> list[dict[str, Any]]:
        return [{"URL": p.get("IP", ""), "TargetPort": p.get("PrivatePort", 0),
                 "PublishedPort": p.get("PublicPort", 0), "Protocol": p.get("Type", "")}
                for p in self._c.get("Ports") or []]


PS_TITLES = {"Name": "NAME", "Image": "IMAGE", "Command": "COMMAND", "Service": "SERVICE",
             "Created": "CREATED", "RunningFor": "CREATED", "Status": "STATUS",
             "Ports": "PORTS", "ID": "CONTAINER ID", "State": "STATE", "Project": "PROJECT"}
PS_TABLE = ("table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t"
            "{{.Status}}\t{{.Ports}}")


def _ps(ctx: Context, session: Session, opts: Parsed) -> int:
    from ketch.compose import labels as L

    compose = session.compose()
    project = compose.project
    if opts.services:
        services = list(opts.args) or project.dependency_order()
        ctx.write("".join(f"{name}\n" for name in services))
        return 0
    summaries = compose.client.containers(all=bool(opts.all or opts.status),
                                          filters=L.project_filter(project.name, None))
    wanted = set(opts.args)
    statuses = set(opts.status)
    for item in opts.filter:
        key, _, value = item.partition("=")
        if key == "status":
            statuses.add(value)
        elif key == "source":
            continue
        else:
            raise CLIError(f"invalid filter '{key}'", 1)
    rows = []
    for summary in summaries:
        labels = summary.get("Labels") or {}
        if wanted and labels.get(L.SERVICE) not in wanted:
            continue
        if labels.get(L.ONEOFF) == "True" and not opts.all:
            continue
        if statuses and summary.get("State") not in statuses:
            continue
        rows.append(summary)
    rows.sort(key=lambda s: str((s.get("Names") or [""])[0]))
    if opts.quiet:
        ctx.write("".join(f"{s['Id'] if opts.no_trunc else s['Id'][:12]}\n" for s in rows))
        return 0
    fmt = opts.format or "table"
    if fmt == "json":
        from ketch.util import jsonio

        for summary in rows:
            row = _PsRow(summary, trunc=False)
            ctx.write(jsonio.dumps({
                "Command": summary.get("Command", ""), "CreatedAt": row.CreatedAt,
                "ExitCode": _exit_code(str(summary.get("Status", ""))),
                "Health": _health(str(summary.get("Status", ""))), "ID": summary["Id"],
                "Image": summary.get("Image", ""), "Labels": row.Labels,
                "Name": row.Name, "Names": row.Name, "Project": row.Project,
                "Publishers": row.Publishers, "RunningFor": row.RunningFor,
                "Service": row.Service, "State": summary.get("State", ""),
                "Status": summary.get("Status", "")}) + "\n")
        return 0
    from ketch.cli.formatter import render

    template = PS_TABLE if fmt == "table" else fmt
    ctx.write(render(template, [_PsRow(s, not opts.no_trunc) for s in rows], PS_TITLES))
    return 0


def _exit_code(status: str) -> int:
    if status.startswith("Exited ("):
        try:
            return int(status[len("Exited ("):].split(")")[0])
        except ValueError:
            return 0
    return 0


def _health(status: str) -> str:
    for word in ("healthy", "unhealthy", "health: starting"):
        if f"({word})" in status:
            return word.replace("health: ", "")
    return ""


def _logs(ctx: Context, session: Session, opts: Parsed) -> int:
    from ketch.cli.terminal import is_terminal
    from ketch.cli.timestamps import get_timestamp
    from ketch.compose.logs import Follower, LogPrinter, short_name

    compose = session.compose()
    names = list(opts.args) or None
    if names:
        compose.service_names(names, False) if compose.project.services else None
    containers = compose.containers(services=names)
    printer = LogPrinter(_flushing(ctx), colour=is_terminal(1) and not opts.no_color,
                         prefix=not opts.no_log_prefix)
    labels = {c.id: short_name(compose.project.name, c) for c in containers}
    printer.fit(list(labels.values()))
    followers = [Follower(compose.client, c, labels[c.id], printer, follow=opts.follow,
                          tail=opts.tail or "all", timestamps=opts.timestamps,
                          since=get_timestamp(opts.since) or None if opts.since else None,
                          until=get_timestamp(opts.until) or None if opts.until else None)
                 for c in containers]
    try:
        for follower in followers:
            follower.start()
        for follower in followers:
            while follower.is_alive():
                follower.join(0.5)
    except KeyboardInterrupt:
        for follower in followers:
            follower.stop()
        return 130
    ctx.flush()
    return 0


def _simple(action: str) -> Callable[[Context, Session, Parsed], int]:
    def handler(ctx: Context, session: Session, opts: Parsed) -> int:
        compose = session.compose()
        names = list(opts.args) or None
        if action == "start":
            compose.start(names)
        elif action == "stop":
            compose.stop(names, _timeout(opts))
        elif action == "restart":
            compose.restart(names, _timeout(opts))
        elif action == "kill":
            if opts.remove_orphans:
                compose.simple("kill", None, opts.signal or "SIGKILL")
            compose.simple("kill", names, opts.signal or "SIGKILL")
        else:
            compose.simple(action, names)
        return 0
    return handler


def _rm(ctx: Context, session: Session, opts: Parsed) -> int:
    compose = session.compose()

    def confirm(containers: list[Existing]) -> bool:
        if opts.force:
            return True
        ctx.write("Going to remove " + ", ".join(c.name for c in containers) + "\n")
        ctx.write("? Are you sure? (y/N) ")
        ctx.flush()
        answer = sys.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    compose.rm(list(opts.args) or None, stop=opts.stop, volumes=opts.volumes,
               confirm=confirm)
    return 0


def _container_of(compose: ComposeEngine, service: str, index: int,
                  running: bool = True) -> Existing:
    if compose.project.services and service not in compose.project.services:
        raise CLIError(f"no such service: {service}", 1)
    containers = [c for c in compose.containers(services=[service]) if c.number == index]
    if not containers or (running and not containers[0].running):
        raise CLIError(f"service {service!r} is not running" if index == 1 else
                       f"service {service!r} has no container #{index}", 1)
    return containers[0]


def _exec(ctx: Context, session: Session, opts: Parsed) -> int:
    from ketch.cli.commands.exec import EXEC
    from ketch.cli.flags import Parsed as P
    from ketch.cli.terminal import is_terminal

    compose = session.compose()
    service, command = opts.args[0], opts.args[1:]
    if not command:
        raise CLIError("'ketch compose exec' requires at least 2 arguments", 1)
    container = _container_of(compose, service, int(opts.index or 1))
    tty = not opts.no_TTY and is_terminal(0) and not opts.detach
    parsed = P({"tty": tty, "interactive": not opts.detach and opts.interactive,
                "detach": opts.detach, "env": list(opts.env), "env_file": [],
                "user": opts.user or "", "privileged": opts.privileged,
                "detach_keys": None, "workdir": opts.workdir or ""})
    parsed.args = [container.id, *command]
    return EXEC.handler(ctx, parsed)


def _run(ctx: Context, session: Session, opts: Parsed) -> int:
    import secrets

    from ketch.cli.commands.run import run_attached
    from ketch.cli.envfile import resolve_env
    from ketch.cli.terminal import is_terminal
    from ketch.compose.containerspec import ContainerSpec
    from ketch.compose.engine import UpOptions
    from ketch.compose.model import image_name

    compose = session.compose()
    project = compose.project
    service_name, command = opts.args[0], opts.args[1:]
    if service_name not in project.services:
        raise CLIError(f"no such service: {service_name}", 1)
    dependencies = [] if opts.no_deps else \
        [n for n in project.dependency_order([service_name]) if n != service_name]
    if dependencies:
        compose.up(dependencies, UpOptions(build=opts.build))
    compose.ensure_images([service_name], build=opts.build)
    compose.ensure_networks([service_name])
    compose.ensure_volumes([service_name])
    compose.wait_dependencies(service_name, dependencies)
    environment: dict[str, str] = {}
    for item in opts.env:
        key, _, value = resolve_env(item).partition("=")
        environment[key] = value
    tty = not opts.no_TTY and is_terminal(0) and not opts.detach
    interactive = bool(opts.interactive) and not opts.detach
    entrypoint = None
    if "entrypoint" in opts.given:
        import shlex

        entrypoint = shlex.split(opts.entrypoint) if opts.entrypoint else [""]
    labels = {}
    for item in opts.label:
        key, _, value = item.partition("=")
        labels[key] = value
    image = image_name(project, service_name)
    name = opts.name or f"{project.name}-{service_name}-run-{secrets.token_hex(6)}"
    spec = ContainerSpec(name=name, number=1, image=image, oneoff=True,
                         image_id=compose.image_id(image),
                         command=list(command) if command else None, entrypoint=entrypoint,
                         environment=environment, extra_labels=labels, tty=tty,
                         stdin_open=interactive, attach_stdin=interactive,
                         user=opts.user or None, working_dir=opts.workdir or None,
                         publish=bool(opts.service_ports), auto_remove=False)
    if opts.publish:
        spec.publish_specs = list(opts.publish)
    container = compose.create_oneoff(service_name, spec)
    if opts.detach:
        compose.client.start(container.id)
        ctx.write(container.name + "\n")
        return 0
    config = {"Tty": tty, "AttachStdin": interactive, "AttachStdout": True,
              "AttachStderr": True}
    try:
        code = run_attached(ctx, container.id, config, auto_remove=False,
                            detach_keys=None, sig_proxy=True)
    finally:
        if opts.rm:
            try:
                compose.client.remove_container(container.id, force=True, volumes=True)
            except Exception:
                pass
    if code:
        from ketch.cli.command import ExitCode

        raise ExitCode(code)
    return 0


def _build(ctx: Context, session: Session, opts: Parsed) -> int:
    compose = session.compose()
    def output(text: str) -> None:
        ctx.write(text)
        ctx.flush()

    compose.build_output = output
    services = compose.service_names(list(opts.args) or None, False)
    args: dict[str, str] = {}
    for item in opts.build_arg:
        key, eq, value = item.partition("=")
        args[key] = value if eq else os.environ.get(key, "")
    if opts.pull:
        compose.pull(services, quiet=True, ignore_failures=True)
    compose.build(services, no_cache=opts.no_cache, quiet=opts.quiet, build_args=args)
    return 0


def _pull(ctx: Context, session: Session, opts: Parsed) -> int:
    compose = session.compose()
    services = compose.service_names(list(opts.args) or None, bool(opts.include_deps))
    compose.pull(services, quiet=opts.quiet, ignore_failures=opts.ignore_pull_failures)
    return 0


def _push(ctx: Context, session: Session, opts: Parsed) -> int:
    compose = session.compose()
    services = compose.service_names(list(opts.args) or None, bool(opts.include_deps))
    compose.push(services, ignore_failures=opts.ignore_push_failures)
    return 0


def _top(ctx: Context, session: Session, opts: Parsed) -> int:
    from ketch.cli.tabwriter import tabulate

    compose = session.compose()
    names = list(opts.args) or None
    for container in compose.containers(services=names):
        if not container.running:
            continue
        top = compose.client.top(container.id)
        lines = ["\t".join(top.get("Titles") or [])]
        lines += ["\t".join(str(v) for v in p) for p in top.get("Processes") or []]
        ctx.write(f"{container.name}\n" + tabulate("\n".join(lines) + "\n") + "\n")
    return 0


def _images(ctx: Context, session: Session, opts: Parsed) -> int:
    from ketch.cli.tabwriter import tabulate
    from ketch.util.humanize import human_size

    compose = session.compose()
    names = list(opts.args) or None
    rows = []
    for container in compose.containers(services=names, oneoff=None):
        info = compose.client.inspect_container(container.id)
        image_id = str(info.get("Image") or "")
        try:
            image = compose.client.inspect_image(image_id)
        except Exception:
            image = {}
        tags = image.get("RepoTags") or [str((info.get("Config") or {}).get("Image") or "")]
        repo, _, tag = str(tags[0]).rpartition(":")
        if not repo:
            repo, tag = str(tags[0]), "latest"
        ident = image_id.removeprefix("sha256:")
        rows.append((container.name, repo, tag, ident, image.get("Size") or 0))
    if opts.quiet:
        ctx.write("".join(f"{row[3] if opts.no_trunc else row[3][:12]}\n" for row in rows))
        return 0
    if opts.format == "json":
        from ketch.util import jsonio

        ctx.write(jsonio.dumps([{"ContainerName": r[0], "Repository": r[1], "Tag": r[2],
                                 "ID": "sha256:" + r[3], "Size": r[4]} for r in rows])
                  + "\n")
        return 0
    lines = ["CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE"]
    lines += [f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3][:12]}\t{human_size(r[4])}" for r in rows]
    ctx.write(tabulate("\n".join(lines) + "\n"))
    return 0


def _port(ctx: Context, session: Session, opts: Parsed) -> int:
    compose = session.compose()
    if len(opts.args) != 2:
        raise CLIError("'ketch compose port' requires 2 arguments: SERVICE PRIVATE_PORT", 1)
    service, port = opts.args
    container = _container_of(compose, service, int(opts.index or 1))
    info = compose.client.inspect_container(container.id)
    ports = ((info.get("NetworkSettings") or {}).get("Ports") or {})
    bindings = ports.get(f"{port}/{opts.protocol or 'tcp'}") or []
    if not bindings:
        raise CLIError(f"no port {port}/{opts.protocol or 'tcp'} for container "
                       f"{container.name}", 1)
    binding = bindings[0]
    ctx.write(f"{binding.get('HostIp') or '0.0.0.0'}:{binding.get('HostPort')}\n")
    return 0


def _ls(ctx: Context, session: Session, opts: Parsed) -> int:
    from ketch.cli.tabwriter import tabulate
    from ketch.compose import labels as L

    summaries = ctx.client.containers(all=bool(opts.all), filters={"label": [L.PROJECT]})
    projects: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        labels = summary.get("Labels") or {}
        name = labels.get(L.PROJECT, "")
        entry = projects.setdefault(name, {"states": {}, "files": ""})
        state = str(summary.get("State") or "")
        entry["states"][state] = entry["states"].get(state, 0) + 1
        entry["files"] = entry["files"] or labels.get(L.CONFIG_FILES, "")
    wanted = set()
    for item in opts.filter:
        key, _, value = item.partition("=")
        if key != "name":
            raise CLIError(f"invalid filter '{key}'", 1)
        wanted.add(value)
    rows = []
    for name in sorted(projects):
        if wanted and not any(w in name for w in wanted):
            continue
        states = projects[name]["states"]
        status = ", ".join(f"{s}({n})" for s, n in sorted(states.items()))
        rows.append((name, status, projects[name]["files"]))
    if opts.quiet:
        ctx.write("".join(f"{r[0]}\n" for r in rows))
        return 0
    if opts.format == "json":
        from ketch.util import jsonio

        ctx.write(jsonio.dumps([{"Name": r[0], "Status": r[1], "ConfigFiles": r[2]}
                                for r in rows]) + "\n")
        return 0
    lines = ["NAME\tSTATUS\tCONFIG FILES", *("\t".join(r) for r in rows)]
    ctx.write(tabulate("\n".join(lines) + "\n"))
    return 0


def _version(ctx: Context, session: Session, opts: Parsed) -> int:
    from ketch.compose.labels import COMPOSE_VERSION

    if opts.short:
        ctx.write(f"{COMPOSE_VERSION}\n")
    elif opts.format == "json":
        ctx.write(f'{{"version":"v{COMPOSE_VERSION}"}}\n')
    else:
        ctx.write(f"Docker Compose version v{COMPOSE_VERSION} (ketch compose)\n")
    return 0


_T = Flag("timeout", "t", "int", help="Specify a shutdown timeout in seconds")
_NO_COLOR = Flag("no-color", help="Produce monochrome output")
_NO_PREFIX = Flag("no-log-prefix", help="Don't print prefix in logs")

VERBS: dict[str, Verb] = {
    "up": Verb("[OPTIONS] [SERVICE...]", "Create and start containers", (
        Flag("detach", "d", help="Detached mode: Run containers in the background"),
        Flag("build", help="Build images before starting containers"),
        Flag("no-build", help="Don't build an image, even if it's policy"),
        Flag("pull", kind="string", help='Pull image before running ("always"|"missing"|'
                                         '"never")'),
        Flag("quiet-pull", help="Pull without printing progress information"),
        Flag("force-recreate", help="Recreate containers even if their configuration and "
                                    "image haven't changed"),
        Flag("no-recreate", help="If containers already exist, don't recreate them"),
        Flag("no-deps", help="Don't start linked services"),
        Flag("no-start", help="Don't start the services after creating them"),
        Flag("scale", kind="list", help="Scale SERVICE to NUM instances. Overrides the "
                                        "`scale` setting in the Compose file if present.",
             metavar="scale"),
        Flag("remove-orphans", help="Remove containers for services not defined in the "
                                    "Compose file"),
        _T,
        Flag("abort-on-container-exit", help="Stops all containers if any container was "
                                             "stopped. Incompatible with -d"),
        Flag("exit-code-from", kind="string", help="Return the exit code of the selected "
                                                   "service container. Implies "
                                                   "--abort-on-container-exit"),
        Flag("attach-dependencies", help="Automatically attach to log output of dependent "
                                         "services"),
        Flag("wait", help="Wait for services to be running|healthy. Implies detached mode."),
        Flag("wait-timeout", kind="int", help="Maximum duration to wait for the project to "
                                              "be running|healthy"),
        _NO_COLOR, _NO_PREFIX,
        Flag("renew-anon-volumes", "V", hidden=True),
        Flag("always-recreate-deps", hidden=True),
        Flag("yes", "y", hidden=True),
    ), _up),
    "down": Verb("[OPTIONS] [SERVICES]", "Stop and remove containers, networks", (
        Flag("volumes", "v", help="Remove named volumes declared in the \"volumes\" section "
                                  "of the Compose file and anonymous volumes attached to "
                                  "containers"),
        Flag("rmi", kind="string", help='Remove images used by services. "local" remove '
                                        'only images that don\'t have a custom tag '
                                        '("local"|"all")'),
        Flag("remove-orphans", help="Remove containers for services not defined in the "
                                    "Compose file"),
        _T,
    ), _down),
    "ps": Verb("[OPTIONS] [SERVICE...]", "List containers", (
        Flag("all", "a", help="Show all stopped containers (including those created by the "
                              "run command)"),
        Flag("quiet", "q", help="Only display IDs"),
        Flag("services", help="Display services"),
        Flag("format", kind="string", help="Format output using a custom template"),
        Flag("status", kind="list", help="Filter services by status", metavar="stringArray"),
        Flag("filter", kind="list", help="Filter services by a property (supported filters: "
                                         "status)", metavar="string"),
        Flag("no-trunc", help="Don't truncate output"),
        Flag("orphans", kind="string", hidden=True),
    ), _ps),
    "logs": Verb("[OPTIONS] [SERVICE...]", "View output from containers", (
        Flag("follow", "f", help="Follow log output"),
        Flag("tail", "n", "string", default="all",
             help="Number of lines to show from the end of the logs for each container"),
        Flag("timestamps", "t", help="Show timestamps"),
        Flag("since", kind="string", help="Show logs since timestamp"),
        Flag("until", kind="string", help="Show logs before a timestamp"),
        _NO_COLOR, _NO_PREFIX,
    ), _logs),
    "start": Verb("[SERVICE...]", "Start services", (), _simple("start")),
    "stop": Verb("[OPTIONS] [SERVICE...]", "Stop services", (_T,), _simple("stop")),
    "restart": Verb("[OPTIONS] [SERVICE...]", "Restart service containers", (_T,),
                    _simple("restart")),
    "kill": Verb("[OPTIONS] [SERVICE...]", "Force stop service containers", (
        Flag("signal", "s", "string", default="SIGKILL",
             help='SIGNAL to send to the container (default "SIGKILL")'),
        Flag("remove-orphans", help="Remove containers for services not defined in the "
                                    "Compose file"),
    ), _simple("kill")),
    "pause": Verb("[SERVICE...]", "Pause services", (), _simple("pause")),
    "unpause": Verb("[SERVICE...]", "Unpause services", (), _simple("unpause")),
    "rm": Verb("[OPTIONS] [SERVICE...]", "Removes stopped service containers", (
        Flag("force", "f", help="Don't ask to confirm removal"),
        Flag("stop", "s", help="Stop the containers, if required, before removing"),
        Flag("volumes", "v", help="Remove any anonymous volumes attached to containers"),
    ), _rm),
    "exec": Verb("[OPTIONS] SERVICE COMMAND [ARGS...]",
                 "Execute a command in a running container", (
        Flag("detach", "d", help="Detached mode: Run command in the background"),
        Flag("no-TTY", "T", help="Disable pseudo-TTY allocation. By default `docker compose "
                                 "exec` allocates a TTY."),
        Flag("interactive", "i", default=True, help="Keep STDIN open even if not attached"),
        Flag("tty", "t", default=True, hidden=True),
        Flag("env", "e", "list", help="Set environment variables", metavar="stringArray"),
        Flag("workdir", "w", "string", help="Path to workdir directory for this command"),
        Flag("user", "u", "string", help="Run the command as this user"),
        Flag("index", kind="int", default=1, help="Index of the container if service has "
                                                  "multiple replicas"),
        Flag("privileged", help="Give extended privileges to the process"),
    ), _exec, min_args=2, interspersed=False),
    "run": Verb("[OPTIONS] SERVICE [COMMAND] [ARGS...]", "Run a one-off command on a service", (
        Flag("detach", "d", help="Run container in background and print container ID"),
        Flag("rm", help="Automatically remove the container when it exits"),
        Flag("env", "e", "list", help="Set environment variables", metavar="stringArray"),
        Flag("entrypoint", kind="string", help="Override the entrypoint of the image"),
        Flag("no-deps", help="Don't start linked services"),
        Flag("no-TTY", "T", help="Disable pseudo-TTY allocation (default: auto-detected)"),
        Flag("interactive", "i", default=True, help="Keep STDIN open even if not attached"),
        Flag("tty", "t", default=True, hidden=True),
        Flag("name", kind="string", help="Assign a name to the container"),
        Flag("user", "u", "string", help="Run as specified username or uid"),
        Flag("workdir", "w", "string", help="Working directory inside the container"),
        Flag("label", "l", "list", help="Add or override a label", metavar="stringArray"),
        Flag("service-ports", "P", help="Run command with all service's ports enabled and "
                                        "mapped to the host"),
        Flag("publish", "p", "list", help="Publish a container's port(s) to the host",
             metavar="stringArray"),
        Flag("build", help="Build image before starting container"),
        Flag("remove-orphans", help="Remove containers for services not defined in the "
                                    "Compose file"),
        Flag("quiet-pull", help="Pull without printing progress information"),
    ), _run, min_args=1, interspersed=False),
    "build": Verb("[OPTIONS] [SERVICE...]", "Build or rebuild services", (
        Flag("build-arg", kind="list", help="Set build-time variables for services",
             metavar="stringArray"),
        Flag("no-cache", help="Do not use cache when building the image"),
        Flag("pull", help="Always attempt to pull a newer version of the image"),
        Flag("quiet", "q", help="Don't print anything to STDOUT"),
    ), _build),
    "pull": Verb("[OPTIONS] [SERVICE...]", "Pull service images", (
        Flag("quiet", "q", help="Pull without printing progress information"),
        Flag("ignore-pull-failures", help="Pull what it can and ignores images with pull "
                                          "failures"),
        Flag("include-deps", help="Also pull services declared as dependencies"),
    ), _pull),
    "push": Verb("[OPTIONS] [SERVICE...]", "Push service images", (
        Flag("ignore-push-failures", help="Push what it can and ignores images with push "
                                          "failures"),
        Flag("include-deps", help="Also push images of services declared as dependencies"),
        Flag("quiet", "q", help="Push without printing progress information"),
    ), _push),
    "top": Verb("[SERVICES...]", "Display the running processes", (), _top),
    "images": Verb("[OPTIONS] [SERVICE...]", "List images used by the created containers", (
        Flag("quiet", "q", help="Only display IDs"),
        Flag("format", kind="string", default="table",
             help='Format the output. Values: [table | json]'),
        Flag("no-trunc", hidden=True),
    ), _images),
    "port": Verb("[OPTIONS] SERVICE PRIVATE_PORT", "Print the public port for a port binding", (
        Flag("protocol", kind="string", default="tcp", help="tcp or udp"),
        Flag("index", kind="int", default=1, help="Index of the container if service has "
                                                  "multiple replicas"),
    ), _port, min_args=2),
    "ls": Verb("[OPTIONS]", "List running compose projects", (
        Flag("all", "a", help="Show all stopped Compose projects"),
        Flag("quiet", "q", help="Only display IDs"),
        Flag("format", kind="string", default="table",
             help='Format the output. Values: [table | json]'),
        Flag("filter", kind="list", help="Filter output based on conditions provided",
             metavar="filter"),
    ), _ls, needs_project=False),
    "version": Verb("[OPTIONS]", "Show the Docker Compose version information", (
        Flag("short", help="Shows only Compose's version number"),
        Flag("format", "f", "string", help='Format the output. Values: [pretty | json]'),
    ), _version, needs_project=False),
}
