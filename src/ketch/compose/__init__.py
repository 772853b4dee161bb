"""The compose file model: compose files in, one validated project out.

`load_project(ProjectOptions(...))` finds and reads the files, interpolates, merges,
resolves `extends`, normalises every short syntax to the long one, applies profiles
and checks references; `canonical.to_yaml(project.to_dict())` prints it as
`docker compose config` does. Talking to an engine (up, down, ...) builds on this,
through `ketch.client` only.

Module map: yamlload (safe YAML), interpolation, envfile, schema + schemacheck,
merge, extends, ports, mounts, units, convert, normalize, profiles, consistency,
model, project, canonical.
"""

from __future__ import annotations

from ketch.compose.errors import ComposeError, ComposeFileNotFound
from ketch.compose.model import Project
from ketch.compose.project import ProjectOptions, load_project, select_services

__all__ = ["ComposeError", "ComposeFileNotFound", "Project", "ProjectOptions",
           "load_project", "select_services"]
