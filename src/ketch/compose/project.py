"""From the command line's options to a loaded project, as docker compose does it.

1. The environment for interpolation: the shell's, over `.env` in the project
   directory (or the `--env-file` files instead).
2. The files: `-f` (repeatable), else `COMPOSE_FILE`, else the first of compose.yaml,
   compose.yml, docker-compose.yml, docker-compose.yaml found in the current
   directory or a parent, with its `*.override.*` file beside it.
3. Each file: read safely, interpolated, checked against the schema, its `extends`
   resolved; then the files merged in order.
4. The project name: `-p`, else COMPOSE_PROJECT_NAME, else the files' `name:`, else
   the project directory's name (the last two normalised to Docker's alphabet).
5. Normalised, profiles applied, references checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ketch.compose.consistency import check_project
from ketch.compose.envfile import read_env_file
from ketch.compose.errors import ComposeError, ComposeFileNotFound
from ketch.compose.extends import resolve_extends
from ketch.compose.interpolation import interpolate
from ketch.compose.merge import merge_models, strip_markers
from ketch.compose.model import Project
from ketch.compose.normalize import (
    Context,
    add_default_network,
    normalize_files,
    normalize_networks,
    normalize_service,
    normalize_volumes,
)
from ketch.compose.profiles import apply_profiles, parse_profiles, with_dependencies
from ketch.compose.schema import COMPOSE_FILE
from ketch.compose.schemacheck import first_problem
from ketch.compose.yamlload import load_bytes, read_compose_file

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yml", "compose.override.yaml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")
STDIN = "-"


@dataclass
class ProjectOptions:
    """The compose command line's global options, and what the command names."""

    files: list[str] = field(default_factory=list)
    project_name: str | None = None
    project_directory: str | None = None
    env_files: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)  # empty: COMPOSE_PROFILES
    services: list[str] = field(default_factory=list)  # named by the command
    cwd: str | None = None
    environ: Mapping[str, str] | None = None  # None: this process's environment
    interpolate: bool = True
    resolve_paths: bool = True
    consistency: bool = True
    read_stdin: Callable[[], bytes] | None = None


def normalize_project_name(name: str) -> str:
    """Docker's project-name alphabet: lowercase letters, digits, `_` and `-`, starting
    with a letter or a digit."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def check_project_name(name: str) -> str:
    if not name or normalize_project_name(name) != name:
        raise ComposeError(f'invalid project name "{name}": must consist only of lowercase '
                           "alphanumeric characters, hyphens, and underscores as well as "
                           "start with a letter or number")
    return name


def project_environment(env_files: list[str], env_dir: str, cwd: str,
                        os_env: Mapping[str, str]) -> dict[str, str]:
    """The variables compose files are interpolated with: the shell's, over those of
    the env files (`--env-file`, else `.env` in `env_dir` when it exists)."""
    values: dict[str, str] = {}
    if env_files:
        paths = [os.path.normpath(os.path.join(cwd, path)) for path in env_files]
        for path in paths:
            if not os.path.isfile(path):
                raise ComposeError(f"couldn't find env file: {path}")
    else:
        dotenv = os.path.join(env_dir, ".env")
        paths = [dotenv] if os.path.isfile(dotenv) else []
    for path in paths:
        values.update(read_env_file(path, lambda name: os_env.get(name, values.get(name))))
    return {**values, **os_env}


def find_config_files(directory: str, warnings: list[str]) -> list[str]:
    """The default file of `directory` or its nearest parent that has one, and its
    override file."""
    while True:
        found = [os.path.join(directory, name) for name in DEFAULT_FILES
                 if os.path.isfile(os.path.join(directory, name))]
        if found:
            if len(found) > 1:
                warnings.append("Found multiple config files with supported names: "
                                f"{', '.join(found)}")
                warnings.append(f"Using {found[0]}")
            overrides = [os.path.join(directory, name) for name in OVERRIDE_FILES
                         if os.path.isfile(os.path.join(directory, name))]
            if len(overrides) > 1:
                warnings.append("Found multiple override files with supported names: "
                                f"{', '.join(overrides)}")
                warnings.append(f"Using {overrides[0]}")
            return [found[0], *overrides[:1]]
        parent = os.path.dirname(directory)
        if parent == directory:
            raise ComposeFileNotFound("no configuration file provided: not found")
        directory = parent


def config_files(files: list[str], environment: Mapping[str, str], cwd: str,
                 warnings: list[str]) -> list[str]:
    if not files:
        listed = environment.get("COMPOSE_FILE", "")
        separator = environment.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        files = [path for path in listed.split(separator) if path]
    if not files:
        return find_config_files(cwd, warnings)
    return [path if path == STDIN else os.path.normpath(os.path.join(cwd, path))
            for path in files]


class _Files:
    """Compose files read once each: interpolated and validated documents, merged."""

    def __init__(self, environment: Mapping[str, str], options: ProjectOptions,
                 warnings: list[str]) -> None:
        self.environment = environment
        self.options = options
        self.warnings = warnings
        self.cache: dict[str, dict[str, Any]] = {}

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def model(self, path: str) -> dict[str, Any]:
        """The file's documents, interpolated, validated and merged (extends unresolved)."""
        cached = self.cache.get(path)
        if cached is not None:
            return cached
        if path == STDIN:
            if self.options.read_stdin is None:
                raise ComposeError("cannot read a compose file from standard input here")
            documents = load_bytes(self.options.read_stdin(), "(stdin)")
        else:
            documents = read_compose_file(path)
        model: dict[str, Any] = {}
        source = "(stdin)" if path == STDIN else path
        for document in documents:
            if document is None:
                continue
            if not isinstance(document, dict):
                raise ComposeError(f"{source}: top-level object must be a mapping")
            if self.options.interpolate:
                document = interpolate(document, self.environment.get, self.warn)
            problem = first_problem(document, COMPOSE_FILE)
            if problem is not None:
                raise ComposeError(f"validating {source}: {problem}")
            if "version" in document:
                self.warn(f"{source}: the attribute `version` is obsolete, it will be "
                          "ignored, please remove it to avoid potential confusion")
            model = merge_models(model, document) if model else document
        if not model:
            raise ComposeError(f"{source}: empty compose file")
        self.cache[path] = model
        return model

    def resolved(self, path: str) -> dict[str, Any]:
        """The file's model with `extends` resolved."""
        return resolve_extends(self.model(path), path, self.model)


def project_name(options: ProjectOptions, environment: Mapping[str, str],
                 model: dict[str, Any], working_dir: str) -> str:
    if options.project_name:
        return check_project_name(options.project_name)
    if environment.get("COMPOSE_PROJECT_NAME"):
        return check_project_name(environment["COMPOSE_PROJECT_NAME"])
    from_files = normalize_project_name(str(model.get("name") or ""))
    if from_files:
        return from_files
    from_directory = normalize_project_name(os.path.basename(working_dir.rstrip("/")))
    if not from_directory:
        raise ComposeError("project name must not be empty")
    return from_directory


def load_project(options: ProjectOptions) -> Project:
    """The project the options describe, loaded and checked."""
    cwd = os.path.abspath(options.cwd or os.getcwd())
    os_env = dict(os.environ if options.environ is None else options.environ)
    warnings: list[str] = []
    given = [path for path in options.files if path != STDIN]
    if options.project_directory:
        env_dir = os.path.normpath(os.path.join(cwd, options.project_directory))
    elif given:
        env_dir = os.path.dirname(os.path.normpath(os.path.join(cwd, given[0])))
    else:
        env_dir = cwd
    environment = project_environment(options.env_files, env_dir, cwd, os_env)
    files = config_files(options.files, environment, cwd, warnings)
    if options.project_directory:
        working_dir = env_dir
    elif files[0] != STDIN:
        working_dir = os.path.dirname(files[0])
    else:
        working_dir = cwd

    loader = _Files(environment, options, warnings)
    model: dict[str, Any] = {}
    for path in files:
        model = merge_models(model, loader.resolved(path))
    model = strip_markers(model)
    if model.get("include"):
        raise ComposeError("include: not supported by ketch compose yet")

    name = project_name(options, environment, model, working_dir)
    context = Context(name, working_dir, environment, options.resolve_paths)
    services = {key: normalize_service(key, value, context)
                for key, value in (model.get("services") or {}).items()}
    networks = normalize_networks(model.get("networks"), context)
    volumes = normalize_volumes(model.get("volumes"), context)
    secrets = normalize_files("secrets", model.get("secrets"), context)
    configs = normalize_files("configs", model.get("configs"), context)

    active = options.profiles or parse_profiles(environment.get("COMPOSE_PROFILES", ""))
    enabled, disabled, active = apply_profiles(services, active, options.services, warnings)
    add_default_network(networks, enabled, name)
    project = Project(
        name=name, working_dir=working_dir, config_files=files, services=enabled,
        networks=networks, volumes=volumes, secrets=secrets, configs=configs,
        extensions={k: v for k, v in model.items() if k.startswith("x-")},
        disabled_services=disabled, environment=dict(environment), profiles=active,
        warnings=warnings)
    if options.consistency:
        check_project(project)
    return project


def select_services(project: Project, names: list[str]) -> Project:
    """The project limited to `names` and what they depend on (`config web`)."""
    if not names:
        return project
    wanted = with_dependencies(project.services, names)
    selected = {name: project.services[name] for name in wanted}
    return Project(**{**project.__dict__, "services": selected})
