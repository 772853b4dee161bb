"""Checks across the whole project, once its services and resources are known: every
reference resolves (dependencies, networks, volumes, secrets, configs), services can
run (an image or a build), and dependencies have no cycle. The words are docker
compose's."""

from __future__ import annotations

from ketch.compose.errors import ComposeError
from ketch.compose.model import Project, Service

_INVALID = "invalid compose project"


def check_project(project: Project) -> None:
    services = project.services
    container_names: dict[str, str] = {}
    for name in sorted(services):
        service = services[name]
        if not service.get("image") and not service.get("build") and \
                not service.get("provider"):
            raise ComposeError(f'service "{name}" has neither an image nor a build context '
                               f"specified: {_INVALID}")
        for dependency in service.get("depends_on") or {}:
            if dependency not in services:
                raise ComposeError(f'service "{name}" depends on undefined service '
                                   f'"{dependency}": {_INVALID}')
        for network in service.get("networks") or {}:
            if network not in project.networks:
                raise ComposeError(f'service "{name}" refers to undefined network '
                                   f"{network}: {_INVALID}")
        for mount in service.get("volumes") or []:
            source = mount.get("source")
            if mount.get("type") == "volume" and source and source not in project.volumes:
                raise ComposeError(f'service "{name}" refers to undefined volume {source}: '
                                   f"{_INVALID}")
        for kind, declared in (("secret", project.secrets), ("config", project.configs)):
            for reference in service.get(kind + "s") or []:
                if reference["source"] not in declared:
                    raise ComposeError(f'service "{name}" refers to undefined {kind} '
                                       f'{reference["source"]}: {_INVALID}')
        container_name = service.get("container_name")
        if container_name:
            if container_name in container_names:
                raise ComposeError(f'services.{name}: container name "{container_name}" is '
                                   f'already in use by service "{container_names[container_name]}"')
            container_names[container_name] = name
    check_cycles(services)


def check_cycles(services: dict[str, Service]) -> None:
    """`dependency cycle detected: a -> b -> a` for the first cycle found."""
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = [*trail[trail.index(name):], name]
            raise ComposeError("dependency cycle detected: " + " -> ".join(cycle))
        if name in done or name not in services:
            return
        trail.append(name)
        for dependency in sorted(services[name].get("depends_on") or {}):
            visit(dependency, trail)
        trail.pop()
        done.add(name)

    for name in sorted(services):
        visit(name, [])
