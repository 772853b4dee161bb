"""Docker's compose labels: where a project's state lives on the engine.

Containers, networks and volumes made for a project carry `com.docker.compose.*`
labels; docker compose v2, docker-compose 1.29 and ketch compose find a project's
objects by them, so that each recognises the others' projects.
"""

from __future__ import annotations

PREFIX = "com.docker.compose."
PROJECT = PREFIX + "project"
SERVICE = PREFIX + "service"
NUMBER = PREFIX + "container-number"
ONEOFF = PREFIX + "oneoff"
CONFIG_HASH = PREFIX + "config-hash"
WORKING_DIR = PREFIX + "project.working_dir"
CONFIG_FILES = PREFIX + "project.config_files"
ENVIRONMENT_FILE = PREFIX + "project.environment_file"
VERSION = PREFIX + "version"
NETWORK = PREFIX + "network"
VOLUME = PREFIX + "volume"
IMAGE = PREFIX + "image"
DEPENDS_ON = PREFIX + "depends_on"
REPLACE = PREFIX + "replace"

COMPOSE_VERSION = "2.29.0"
"""The compose version ketch compose reports (`version`, the `.version` label): the
docker compose release whose behaviour it follows."""


def project_filter(project: str, oneoff: bool | None = False) -> dict[str, list[str]]:
    """The `filters` of a listing of the project's objects (one-off containers only,
    services' only, or both with None)."""
    labels = [f"{PROJECT}={project}"]
    if oneoff is not None:
        labels.append(f"{ONEOFF}={'True' if oneoff else 'False'}")
    return {"label": labels}
