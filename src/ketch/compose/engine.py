"""A project on an engine: what `ketch compose up`, `down`, `start`, ... do, through the
Engine API client only (so that ketch compose drives ketchd and dockerd alike).

The project's objects are found by their compose labels (see `labels`), never by a
state file: containers made by docker compose v2 (`<project>-<service>-<n>`) and by
docker-compose 1.29 (`<project>_<service>_<n>`) are the project's as much as ours.
Progress lines go to `progress` as docker compose prints them without a terminal
(` Container p-web-1  Started`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ketch.client.api import Client
from ketch.client.errors import APIError
from ketch.compose import labels as L
from ketch.compose.containerspec import ContainerSpec, container_name, create_body
from ketch.compose.convergence import Existing, must_recreate, plan_service
from ketch.compose.errors import ComposeError
from ketch.compose.model import Project, Service, config_hash, image_name, scale

Progress = Callable[[str], object]
POLL = 0.1


def _status(kind: str, name: str, status: str) -> str:
    return f" {kind} {name}  {status}"


def split_reference(reference: str) -> tuple[str, str | None]:
    """(name, tag or digest) of an image reference, as `POST /images/create` wants."""
    if "@" in reference:
        name, _, digest = reference.partition("@")
        return name, digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1:]
    return reference, "latest"


@dataclass
class UpOptions:
    build: bool = False
    no_build: bool = False
    pull: str = ""  # always, missing, never, build; "" follows pull_policy
    force_recreate: bool = False
    no_recreate: bool = False
    no_deps: bool = False
    scale: dict[str, int] = field(default_factory=dict)
    remove_orphans: bool = False
    timeout: int | None = None
    no_start: bool = False
    wait: bool = False
    wait_timeout: float | None = None
    quiet_pull: bool = False


class Compose:
    """One project on one engine."""

    def __init__(self, client: Client, project: Project,
                 progress: Progress = lambda line: None,
                 build_output: Progress | None = None) -> None:
        self.client = client
        self.project = project
        self.progress = progress
        self.build_output = build_output or progress
        self._lock = threading.Lock()
        self._image_ids: dict[str, str] = {}

    def say(self, kind: str, name: str, status: str) -> None:
        with self._lock:
            self.progress(_status(kind, name, status))

    # -- listing ----------------------------------------------------------------------------
    def containers(self, all: bool = True, oneoff: bool | None = False,
                   services: Iterable[str] | None = None) -> list[Existing]:
        """The project's containers (by label), by service then number."""
        summaries = self.client.containers(all=all,
                                           filters=L.project_filter(self.project.name, oneoff))
        found = [Existing.from_summary(s) for s in summaries]
        if services is not None:
            wanted = set(services)
            found = [c for c in found if c.service in wanted]
        return sorted(found, key=lambda c: (c.service, c.number, c.name))

    def orphans(self) -> list[Existing]:
        known = {*self.project.services, *self.project.disabled_services}
        return [c for c in self.containers() if c.service not in known]

    def service_names(self, names: list[str] | None, with_dependencies: bool = True
                      ) -> list[str]:
        """The named services (all when none) in dependency order, with what they
        depend on unless told otherwise."""
        if names:
            for name in names:
                if name not in self.project.services:
                    if name in self.project.disabled_services:
                        raise ComposeError(f"service {name} is disabled by profiles")
                    raise ComposeError(f"no such service: {name}")
        if not names:
            return self.project.dependency_order()
        if not with_dependencies:
            return [n for n in self.project.dependency_order(names) if n in names]
        return self.project.dependency_order(names)

    # -- networks and volumes ---------------------------------------------------------------
    def _used_networks(self, services: list[str]) -> list[str]:
        keys: list[str] = []
        for name in services:
            for key in self.project.services[name].get("networks") or {}:
                if key not in keys:
                    keys.append(key)
        return sorted(keys)

    def _used_volumes(self, services: list[str]) -> list[str]:
        keys: list[str] = []
        for name in services:
            for mount in self.project.services[name].get("volumes") or []:
                source = mount.get("source")
                if mount.get("type") == "volume" and source in self.project.volumes \
                        and source not in keys:
                    keys.append(source)
        return sorted(keys)

    def ensure_networks(self, services: list[str]) -> None:
        for key in self._used_networks(services):
            network = self.project.networks.get(key)
            if network is None:
                continue
            name = network["name"]
            if network.get("external"):
                try:
                    self.client.inspect_network(name)
                except APIError as exc:
                    if exc.status != 404:
                        raise
                    raise ComposeError(f"network {name} declared as external, but could "
                                       "not be found") from None
                continue
            found = [n for n in self.client.networks(filters={"name": [name]})
                     if n.get("Name") == name]
            if found:
                owner = (found[0].get("Labels") or {}).get(L.PROJECT)
                if owner is not None and owner != self.project.name:
                    self.progress(f'WARN[0000] a network with name {name} exists but was not '
                                  f'created for project "{self.project.name}".\nSet '
                                  "`external: true` to use an existing network")
                continue
            self.say("Network", name, "Creating")
            self.client.create_network(self.network_body(key, network))
            self.say("Network", name, "Created")

    def network_body(self, key: str, network: dict[str, Any]) -> dict[str, Any]:
        labels = {**{k: str(v) for k, v in (network.get("labels") or {}).items()},
                  L.NETWORK: key, L.PROJECT: self.project.name, L.VERSION: L.COMPOSE_VERSION}
        body: dict[str, Any] = {"Name": network["name"],
                                "Driver": network.get("driver") or "bridge",
                                "Labels": labels}
        if network.get("driver_opts"):
            body["Options"] = dict(network["driver_opts"])
        for flag, field_name in (("internal", "Internal"), ("attachable", "Attachable"),
                                 ("enable_ipv6", "EnableIPv6")):
            if network.get(flag):
                body[field_name] = True
        ipam = network.get("ipam") or {}
        if ipam:
            configs = []
            for entry in ipam.get("config") or []:
                config: dict[str, Any] = {}
                for src, dst in (("subnet", "Subnet"), ("ip_range", "IPRange"),
                                 ("gateway", "Gateway")):
                    if entry.get(src):
                        config[dst] = str(entry[src])
                if entry.get("aux_addresses"):
                    config["AuxiliaryAddresses"] = dict(entry["aux_addresses"])
                configs.append(config)
            body["IPAM"] = {"Driver": ipam.get("driver") or "default", "Config": configs,
                            "Options": dict(ipam.get("options") or {})}
        return body

    def ensure_volumes(self, services: list[str]) -> None:
        for key in self._used_volumes(services):
            volume = self.project.volumes[key]
            name = volume["name"]
            try:
                found = self.client.inspect_volume(name)
            except APIError as exc:
                if exc.status != 404:
                    raise
                found = None
            if volume.get("external"):
                if found is None:
                    raise ComposeError(f'external volume "{name}" not found')
                continue
            if found is not None:
                continue
            self.say("Volume", f'"{name}"', "Creating")
            labels = {**{k: str(v) for k, v in (volume.get("labels") or {}).items()},
                      L.VOLUME: key, L.PROJECT: self.project.name,
                      L.VERSION: L.COMPOSE_VERSION}
            self.client.create_volume(name, volume.get("driver") or "local",
                                      volume.get("driver_opts"), labels)
            self.say("Volume", f'"{name}"', "Created")

    # -- images -----------------------------------------------------------------------------
    def image_id(self, reference: str) -> str:
        """The ID of a local image, "" when there is none."""
        cached = self._image_ids.get(reference)
        if cached is not None:
            return cached
        try:
            found = str(self.client.inspect_image(reference).get("Id") or "")
        except APIError as exc:
            if exc.status != 404:
                raise
            found = ""
        if found:
            self._image_ids[reference] = found
        return found

    def ensure_images(self, services: list[str], build: bool = False, no_build: bool = False,
                      pull: str = "", quiet: bool = False) -> None:
        """Build (with `build`: when missing, always with --build) or pull (when missing)
        each service's image."""
        to_build: list[str] = []
        to_pull: list[str] = []
        for name in services:
            service = self.project.services[name]
            image = image_name(self.project, name)
            policy = pull or str(service.get("pull_policy") or "missing")
            if service.get("build") is not None and not no_build:
                if build or policy == "build" or not self.image_id(image):
                    to_build.append(name)
                continue
            if policy == "always" or (policy in ("missing", "if_not_present")
                                      and not self.image_id(image)):
                to_pull.append(name)
            elif not self.image_id(image):
                if service.get("build") is not None:
                    raise ComposeError(f"service {name!r} has no image {image}: "
                                       "build it first (--no-build was given)")
                raise ComposeError(f"No such image: {image}")
        if to_pull:
            self.pull(to_pull, quiet=quiet)
        if to_build:
            self.build(to_build)

    def pull(self, services: list[str], quiet: bool = False, ignore_failures: bool = False,
             include_built: bool = False) -> None:
        seen: set[str] = set()
        for name in services:
            service = self.project.services[name]
            if service.get("build") is not None and not include_built and \
                    not service.get("image"):
                continue
            image = image_name(self.project, name)
            if image in seen:
                continue
            seen.add(image)
            self.say("Image", image, "Pulling")
            repo, tag = split_reference(image)
            try:
                for message in self.client.pull(repo, tag):
                    if message.get("error") or message.get("errorDetail"):
                        detail = message.get("errorDetail") or {}
                        raise APIError(500, str(detail.get("message") or message["error"]))
            except APIError as exc:
                if ignore_failures or (service.get("build") is not None):
                    self.say("Image", image, f"Warning: {exc.message}")
                    continue
                self.say("Image", image, "Error")
                raise ComposeError(f"Error response from daemon: {exc.message}") from None
            self._image_ids.pop(image, None)
            self.say("Image", image, "Pulled")

    def build(self, services: list[str], no_cache: bool = False, pull: bool = False,
              quiet: bool = False, build_args: dict[str, str] | None = None) -> None:
        from ketch.errors import InvalidParameter
        from ketch.util.buildcontext import context_from_local_dir, write_context

        for name in services:
            service = self.project.services[name]
            spec = service.get("build")
            if spec is None:
                continue
            image = image_name(self.project, name)
            context = str(spec.get("context") or self.project.working_dir)
            if "://" in context or context.startswith("git@"):
                raise ComposeError(f"service {name!r}: remote build contexts are not "
                                   "supported by ketch compose")
            if spec.get("dockerfile_inline"):
                raise ComposeError(f"service {name!r}: dockerfile_inline is not supported "
                                   "by ketch compose yet")
            dockerfile = str(spec.get("dockerfile") or "Dockerfile")
            import os

            dockerfile_path = dockerfile if os.path.isabs(dockerfile) else \
                os.path.join(context, dockerfile)
            try:
                local = context_from_local_dir(context, dockerfile_path)
            except InvalidParameter as exc:
                raise ComposeError(f"service {name!r}: {exc}") from None
            if local.outside:
                raise ComposeError(f"service {name!r}: a Dockerfile outside the build "
                                   "context is not supported by ketch compose yet")
            args = {**{k: v for k, v in (spec.get("args") or {}).items()},
                    **(build_args or {})}
            labels = dict(spec.get("labels") or {})
            self.build_output(f"Building {name}\n" if not quiet else "")

            def write(out: Any, local: Any = local) -> None:
                write_context(local.directory, local.dockerfile, out=out,
                              excludes=local.excludes)

            tags = [image, *(spec.get("tags") or [])]
            messages = self.client.build(
                write, tags=tags, dockerfile=local.dockerfile, quiet=quiet,
                no_cache=no_cache or bool(spec.get("no_cache")),
                pull=pull or bool(spec.get("pull")),
                network_mode=str(spec.get("network") or ""),
                shm_size=int(spec.get("shm_size") or 0), target=str(spec.get("target") or ""),
                build_args={k: None if v is None else str(v) for k, v in args.items()},
                labels=labels, cache_from=list(spec.get("cache_from") or []),
                extra_hosts=[h.replace("=", ":", 1) for h in spec.get("extra_hosts") or []])
            for message in messages:
                if message.get("error") or message.get("errorDetail"):
                    detail = message.get("errorDetail") or {}
                    raise ComposeError(f"failed to solve: {name}: "
                                       f"{detail.get('message') or message.get('error')}")
                if message.get("stream") and not quiet:
                    self.build_output(str(message["stream"]))
            self._image_ids.pop(image, None)
            self.say("Service", name, "Built")

    def push(self, services: list[str], ignore_failures: bool = False) -> None:
        for name in services:
            service = self.project.services[name]
            if not service.get("image"):
                continue
            image = str(service["image"])
            repo, tag = split_reference(image)
            self.say("Image", image, "Pushing")
            try:
                for message in self.client.push(repo, tag):
                    if message.get("error") or message.get("errorDetail"):
                        detail = message.get("errorDetail") or {}
                        raise APIError(500, str(detail.get("message") or message["error"]))
            except APIError as exc:
                if ignore_failures:
                    continue
                raise ComposeError(f"failed to push {image}: {exc.message}") from None
            self.say("Image", image, "Pushed")

    # -- up ---------------------------------------------------------------------------------
    def up(self, names: list[str] | None, options: UpOptions) -> list[Existing]:
        """Networks, volumes, images, then each service converged and started in
        dependency order; the containers of the named services (or all)."""
        services = self.service_names(names, not options.no_deps)
        for service_name, count in options.scale.items():
            if service_name not in self.project.services:
                raise ComposeError(f"no such service: {service_name}")
            if count < 0:
                raise ComposeError(f"invalid scale for {service_name}: {count}")
        for name in services:
            self._check_scale(name, self._scale(name, options))
        orphans = self.orphans()
        if orphans:
            if options.remove_orphans:
                self._remove(orphans, options.timeout, stop=True)
            else:
                names_list = ", ".join(c.name for c in orphans)
                self.progress(f"WARN[0000] Found orphan containers ([{names_list}]) for this "
                              "project. If you removed or renamed this service in your "
                              "compose file, you can run this command with the "
                              "--remove-orphans flag to clean it up.")
        self.ensure_images(services, options.build, options.no_build, options.pull,
                           options.quiet_pull)
        self.ensure_networks(services)
        self.ensure_volumes(services)
        recreated: set[str] = set()
        result: list[Existing] = []
        for name in services:
            if not options.no_start:
                self.wait_dependencies(name, services)
            result.extend(self._converge(name, options, recreated))
        if options.wait:
            self.wait_healthy(result, options.wait_timeout)
        return result

    def _scale(self, name: str, options: UpOptions) -> int:
        if name in options.scale:
            return options.scale[name]
        return scale(self.project.services[name])

    def _check_scale(self, name: str, count: int) -> None:
        service = self.project.services[name]
        if count > 1 and service.get("container_name"):
            raise ComposeError(f'service "{name}" has container_name set: it cannot be scaled '
                               "beyond 1 container (names must be unique)")

    def _converge(self, name: str, options: UpOptions, recreated: set[str]) -> list[Existing]:
        service = self.project.services[name]
        existing = self.containers(services=[name])
        image = image_name(self.project, name)
        image_id = self.image_id(image)
        force = options.force_recreate or self._depends_on_recreated(service, recreated)
        plan = plan_service(existing, self._scale(name, options), config_hash(service),
                            image_id, force, options.no_recreate)
        self._remove(plan.remove, options.timeout, stop=True)
        out: list[Existing] = []
        for container in plan.keep:
            if container.state == "paused" or container.running or options.no_start:
                self.say("Container", container.name, "Running" if container.running
                         else "Created")
            else:
                self.say("Container", container.name, "Starting")
                self.client.start(container.id)
                self.say("Container", container.name, "Started")
                container.started = True
            out.append(container)
        if plan.recreate:
            recreated.add(name)

        def recreate(old: Existing) -> Existing:
            self.say("Container", old.name, "Recreate")
            volumes = self._anonymous_volumes(old.id)
            if old.running:
                self.client.stop(old.id, self._stop_timeout(service, options.timeout))
            self.client.remove_container(old.id)
            new = self._create(name, service, old.number, image, image_id,
                               anonymous=volumes, legacy_name=old.name)
            self.say("Container", new.name, "Recreated")
            return new

        def create(number: int) -> Existing:
            cname = service.get("container_name") or container_name(
                self.project.name, name, number)
            self.say("Container", cname, "Creating")
            new = self._create(name, service, number, image, image_id)
            self.say("Container", new.name, "Created")
            return new

        made = self._parallel(recreate, plan.recreate) + self._parallel(create, plan.create)
        if not options.no_start:
            def start(container: Existing) -> Existing:
                self.say("Container", container.name, "Starting")
                self.client.start(container.id)
                self.say("Container", container.name, "Started")
                container.state = "running"
                container.started = True
                return container
            made = self._parallel(start, made)
        out.extend(made)
        return sorted(out, key=lambda c: c.number)

    @staticmethod
    def _parallel(fn: Callable[[Any], Existing], items: list[Any]) -> list[Existing]:
        if len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
            return list(pool.map(fn, items))

    def _depends_on_recreated(self, service: Service, recreated: set[str]) -> bool:
        """A service sharing the network namespace or the volumes of a recreated one must
        follow it (its container refers to the old one)."""
        mode = str(service.get("network_mode") or "")
        if mode.startswith("service:") and mode[len("service:"):] in recreated:
            return True
        for item in service.get("volumes_from") or []:
            source = str(item).partition(":")[0]
            if source.removeprefix("service:") in recreated:
                return True
        return False

    def _anonymous_volumes(self, container_id: str) -> dict[str, str]:
        """target -> volume name of the container's anonymous volumes (kept on recreate)."""
        try:
            info = self.client.inspect_container(container_id)
        except APIError:
            return {}
        named = {v["name"] for v in self.project.volumes.values()}
        return {str(m.get("Destination")): str(m.get("Name"))
                for m in info.get("Mounts") or []
                if m.get("Type") == "volume" and m.get("Name") and m.get("Name") not in named}

    def service_containers(self, service: Service) -> dict[str, str]:
        """The first container of each service this one refers to (network_mode and
        volumes_from `service:`)."""
        wanted = []
        mode = str(service.get("network_mode") or "")
        if mode.startswith("service:"):
            wanted.append(mode[len("service:"):])
        for item in service.get("volumes_from") or []:
            source = str(item).partition(":")[0]
            if not source.startswith("container:"):
                wanted.append(source.removeprefix("service:"))
        out: dict[str, str] = {}
        for name in wanted:
            found = self.containers(services=[name])
            if found:
                out[name] = found[0].id
        return out

    def _create(self, name: str, service: Service, number: int, image: str, image_id: str,
                anonymous: dict[str, str] | None = None, legacy_name: str = "",
                spec: ContainerSpec | None = None) -> Existing:
        if spec is None:
            cname = service.get("container_name") or container_name(
                self.project.name, name, number)
            spec = ContainerSpec(name=str(cname), number=number, image=image,
                                 image_id=image_id)
        spec.service_containers = self.service_containers(service)
        body = create_body(self.project, name, service, spec)
        for mount in (body["HostConfig"].get("Mounts") or []):
            if mount.get("Type") == "volume" and not mount.get("Source") and anonymous:
                mount["Source"] = anonymous.get(mount["Target"], "")
                if not mount["Source"]:
                    del mount["Source"]
        endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        first = dict(list(endpoints.items())[:1])
        if len(endpoints) > 1:  # the others connected before start, as for an old daemon
            body["NetworkingConfig"] = {"EndpointsConfig": first}
        created = self.client.create_container(body, spec.name)
        container_id = str(created["Id"])
        for network, endpoint in list(endpoints.items())[1:]:
            self.client.connect_network(network, container_id, endpoint)
        return Existing(id=container_id, name=spec.name, service=name, number=number,
                        state="created", config_hash=config_hash(service), image_id=image_id,
                        oneoff=spec.oneoff, labels=body["Labels"])

    # -- dependencies -----------------------------------------------------------------------
    def wait_dependencies(self, name: str, selected: list[str]) -> None:
        """Block until each dependency of the service meets its condition."""
        for dependency, entry in sorted((self.project.services[name].get("depends_on")
                                         or {}).items()):
            condition = str(entry.get("condition") or "service_started")
            if condition == "service_started" or dependency not in self.project.services:
                continue
            containers = [c for c in self.containers(services=[dependency])]
            if not containers:
                if entry.get("required", True) and dependency in selected:
                    raise ComposeError(f"service {dependency!r} has no container to wait for")
                continue
            for container in containers:
                self.say("Container", container.name, "Waiting")
                if condition == "service_healthy":
                    self._wait_healthy(container)
                    self.say("Container", container.name, "Healthy")
                elif condition == "service_completed_successfully":
                    code = self._wait_exit(container)
                    if code != 0:
                        raise ComposeError(f'service "{dependency}" didn\'t complete '
                                           f"successfully: exit {code}")
                    self.say("Container", container.name, "Exited")

    def _wait_healthy(self, container: Existing, deadline: float | None = None) -> None:
        while True:
            state = self.client.inspect_container(container.id).get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            if health is None:
                raise ComposeError(f"container {container.name} has no healthcheck "
                                   "configured")
            if health == "healthy":
                return
            if health == "unhealthy":
                raise ComposeError(f"dependency failed to start: container {container.name} "
                                   "is unhealthy")
            if not state.get("Running") and state.get("Status") in ("exited", "dead"):
                raise ComposeError(f"dependency failed to start: container {container.name} "
                                   f"exited ({state.get('ExitCode', 0)})")
            if deadline is not None and time.monotonic() > deadline:
                raise ComposeError(f"timeout waiting for {container.name} to be healthy")
            time.sleep(POLL)

    def _wait_exit(self, container: Existing) -> int:
        while True:
            state = self.client.inspect_container(container.id).get("State") or {}
            if state.get("Status") in ("exited", "dead"):
                return int(state.get("ExitCode") or 0)
            time.sleep(POLL)

    def wait_healthy(self, containers: list[Existing], timeout: float | None) -> None:
        """`up --wait`: running, and healthy when they have a healthcheck."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for container in containers:
            self.say("Container", container.name, "Waiting")
            while True:
                state = self.client.inspect_container(container.id).get("State") or {}
                if state.get("Health"):
                    self._wait_healthy(container, deadline)
                    self.say("Container", container.name, "Healthy")
                    break
                if state.get("Running"):
                    self.say("Container", container.name, "Running")
                    break
                if state.get("Status") in ("exited", "dead"):
                    raise ComposeError(f"container {container.name} exited "
                                       f"({state.get('ExitCode', 0)})")
                if deadline is not None and time.monotonic() > deadline:
                    raise ComposeError(f"timeout waiting for {container.name}")
                time.sleep(POLL)

    # -- lifecycle --------------------------------------------------------------------------
    def _stop_timeout(self, service: Service | None, timeout: int | None) -> int | None:
        if timeout is not None:
            return timeout
        if service and service.get("stop_grace_period") is not None:
            from ketch.compose.units import parse_duration

            return parse_duration(str(service["stop_grace_period"])) // 1_000_000_000
        return None

    def _service_of(self, container: Existing) -> Service | None:
        return self.project.services.get(container.service)

    def _remove(self, containers: list[Existing], timeout: int | None, stop: bool,
                volumes: bool = False, force: bool = False) -> None:
        def one(container: Existing) -> Existing:
            if stop and container.running:
                self.say("Container", container.name, "Stopping")
                self.client.stop(container.id, self._stop_timeout(
                    self._service_of(container), timeout))
                self.say("Container", container.name, "Stopped")
            self.say("Container", container.name, "Removing")
            try:
                self.client.remove_container(container.id, force=force, volumes=volumes)
            except APIError as exc:
                if exc.status != 404:
                    raise
            self.say("Container", container.name, "Removed")
            return container
        self._parallel(one, containers)

    def by_reverse_dependency(self, containers: list[Existing]) -> Iterator[list[Existing]]:
        """Containers grouped by service, dependents first (the order to stop them)."""
        order = self.project.dependency_order()
        rank = {name: index for index, name in enumerate(order)}
        groups: dict[str, list[Existing]] = {}
        for container in containers:
            groups.setdefault(container.service, []).append(container)
        for service in sorted(groups, key=lambda s: -rank.get(s, len(order))):
            yield groups[service]

    def stop(self, names: list[str] | None, timeout: int | None = None) -> None:
        selected = set(self.service_names(names, False)) if names else None
        containers = [c for c in self.containers(services=selected) if c.running]
        for group in self.by_reverse_dependency(containers):
            def one(container: Existing) -> Existing:
                self.say("Container", container.name, "Stopping")
                self.client.stop(container.id, self._stop_timeout(
                    self._service_of(container), timeout))
                self.say("Container", container.name, "Stopped")
                return container
            self._parallel(one, group)

    def start(self, names: list[str] | None) -> None:
        services = self.service_names(names, False) if names else \
            self.project.dependency_order()
        found = False
        for name in services:
            containers = self.containers(services=[name])
            if not containers:
                continue
            found = True
            self.wait_dependencies(name, services)
            for container in containers:
                if container.running:
                    continue
                self.say("Container", container.name, "Starting")
                self.client.start(container.id)
                self.say("Container", container.name, "Started")
        if not found:
            raise ComposeError("service(s) have no container to start: run `ketch compose "
                               "up` first")

    def restart(self, names: list[str] | None, timeout: int | None = None) -> None:
        services = self.service_names(names, False) if names else \
            self.project.dependency_order()
        for name in services:
            def one(container: Existing) -> Existing:
                self.say("Container", container.name, "Restarting")
                self.client.restart(container.id, self._stop_timeout(
                    self._service_of(container), timeout))
                self.say("Container", container.name, "Started")
                return container
            self._parallel(one, self.containers(services=[name]))

    def simple(self, action: str, names: list[str] | None, signal: str | None = None
               ) -> list[Existing]:
        """kill, pause, unpause on the services' containers (running ones)."""
        selected = set(self.service_names(names, False)) if names else None
        containers = [c for c in self.containers(services=selected)]
        if action == "unpause":
            targets = [c for c in containers if c.state == "paused"]
        else:
            targets = [c for c in containers if c.state in ("running", "restarting")]
        words = {"kill": ("Killing", "Killed"), "pause": ("Pausing", "Paused"),
                 "unpause": ("Unpausing", "Unpaused")}[action]

        def one(container: Existing) -> Existing:
            self.say("Container", container.name, words[0])
            if action == "kill":
                self.client.kill(container.id, signal)
            elif action == "pause":
                self.client.pause(container.id)
            else:
                self.client.unpause(container.id)
            self.say("Container", container.name, words[1])
            return container
        return self._parallel(one, targets)

    def rm(self, names: list[str] | None, stop: bool = False, volumes: bool = False,
           timeout: int | None = None, confirm: Callable[[list[Existing]], bool] | None = None
           ) -> list[Existing]:
        selected = set(self.service_names(names, False)) if names else None
        containers = self.containers(services=selected)
        if stop:
            self.stop(names, timeout)
            containers = self.containers(services=selected)
        stopped = [c for c in containers if not c.running]
        if not stopped:
            self.progress("No stopped containers")
            return []
        if confirm is not None and not confirm(stopped):
            return []
        self._remove(stopped, timeout, stop=False, volumes=volumes)
        return stopped

    # -- down -------------------------------------------------------------------------------
    def down(self, remove_orphans: bool = False, volumes: bool = False, rmi: str = "",
             timeout: int | None = None, names: list[str] | None = None) -> None:
        known = {*self.project.services, *self.project.disabled_services}
        everything = self.containers(oneoff=None)
        if names:
            selected = set(self.service_names(names, False))
            containers = [c for c in everything if c.service in selected]
        elif remove_orphans or not known:
            containers = everything
        else:
            containers = [c for c in everything if c.service in known]
            orphans = [c for c in everything if c.service not in known and not c.oneoff]
            if orphans:
                self.progress("WARN[0000] Found orphan containers ([" +
                              ", ".join(c.name for c in orphans) + "]) for this project. If "
                              "you removed or renamed this service in your compose file, you "
                              "can run this command with the --remove-orphans flag to clean "
                              "it up.")
        for group in self.by_reverse_dependency(containers):
            self._remove(group, timeout, stop=True, volumes=volumes)
        if names:
            return
        remaining = self.containers(oneoff=None)
        if not remaining:
            self._remove_networks()
        if volumes:
            self._remove_volumes()
        if rmi:
            self._remove_images(rmi)

    def _remove_networks(self) -> None:
        names: dict[str, str] = {}
        for key, network in self.project.networks.items():
            if not network.get("external"):
                names[network["name"]] = key
        for network in self.client.networks(filters=L.project_filter(self.project.name,
                                                                     None)):
            names.setdefault(str(network.get("Name")), "")
        for name in sorted(names):
            try:
                found = [n for n in self.client.networks(filters={"name": [name]})
                         if n.get("Name") == name]
            except APIError:
                found = []
            if not found:
                continue
            owner = (found[0].get("Labels") or {}).get(L.PROJECT)
            if owner is not None and owner != self.project.name:
                continue
            self.say("Network", name, "Removing")
            try:
                self.client.remove_network(str(found[0].get("Id") or name))
            except APIError as exc:
                if exc.status != 404:
                    self.progress(f"WARN[0000] network {name}: {exc.message}")
                    continue
            self.say("Network", name, "Removed")

    def _remove_volumes(self) -> None:
        names: set[str] = set()
        for volume in self.project.volumes.values():
            if not volume.get("external"):
                names.add(volume["name"])
        listing = self.client.volumes(filters=L.project_filter(self.project.name, None))
        for volume in listing.get("Volumes") or []:
            names.add(str(volume.get("Name")))
        for name in sorted(names):
            try:
                info = self.client.inspect_volume(name)
            except APIError:
                continue
            owner = (info.get("Labels") or {}).get(L.PROJECT)
            if owner is not None and owner != self.project.name:
                continue
            self.say("Volume", name, "Removing")
            try:
                self.client.remove_volume(name)
            except APIError as exc:
                self.progress(f"WARN[0000] volume {name}: {exc.message}")
                continue
            self.say("Volume", name, "Removed")

    def _remove_images(self, mode: str) -> None:
        images: list[str] = []
        for name, service in self.project.services.items():
            if mode == "all" or not service.get("image"):
                image = image_name(self.project, name)
                if image not in images:
                    images.append(image)
        for image in images:
            try:
                self.client.remove_image(image)
            except APIError as exc:
                if exc.status != 404:
                    self.progress(f"WARN[0000] image {image}: {exc.message}")
                continue
            self.say("Image", image, "Removed")

    # -- one-off containers -----------------------------------------------------------------
    def create_oneoff(self, name: str, spec: ContainerSpec) -> Existing:
        service = self.project.services[name]
        number = 1 + max((c.number for c in self.containers(oneoff=True, services=[name])),
                         default=0)
        spec.number = number
        return self._create(name, service, number, spec.image, spec.image_id, spec=spec)

    def is_up_to_date(self, container: Existing) -> bool:
        service = self.project.services.get(container.service)
        if service is None:
            return False
        image_id = self.image_id(image_name(self.project, container.service))
        return not must_recreate(container, config_hash(service), image_id)
