"""`ketch compose`: docker compose's verb. Its global options (`-f`, `-p`,
`--project-directory`, `--env-file`, `--profile`) come before or after the
subcommand. `config` prints the canonical model; the other subcommands (up, down, ...)
answer that they are not implemented yet.

The compose package and PyYAML are imported only when a compose command runs, so that
`ketch ps` does not pay for them.
"""

from __future__ import annotations

import sys

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, FlagError, HelpRequested, Parsed, parse, usage_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.compose import Project, ProjectOptions

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

# docker compose's other subcommands: named here so that they get a plain answer
NOT_YET = ("attach", "build", "commit", "cp", "create", "down", "events", "exec", "export",
           "images", "kill", "logs", "ls", "pause", "port", "ps", "publish", "pull", "push",
           "restart", "rm", "run", "scale", "start", "stats", "stop", "top", "unpause", "up",
           "version", "wait", "watch", "volumes")

DESCRIPTION = ("Define and run multi-container applications with Docker\n\n"
               "Commands:\n"
               "  config      Parse, resolve and render compose file in canonical format\n\n"
               "Not implemented yet: " + ", ".join(NOT_YET) + ".")


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
    if sub in NOT_YET:
        raise CLIError(f"ketch compose {sub}: not implemented yet", 1)
    raise CLIError(f"ketch: unknown command: ketch compose {sub}\n\n"
                   "Run 'ketch compose --help' for more information", 1)


COMPOSE = Command(
    "compose", "ketch compose [OPTIONS] COMMAND", DESCRIPTION, GLOBAL_FLAGS, _compose,
    interspersed=False)
