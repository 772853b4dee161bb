"""Container records: what `docker inspect` shows, kept on disk, found by name, id or prefix.

A record is the inspect JSON itself (Docker's field names), written atomically
to <data-root>/containers/<id>/config.v2.json on every change. A record that
cannot be read marks that one container dead instead of stopping the daemon.

A legacy link (HostConfig.Links of a container not on a user-defined network) also
names the linked container, as Docker registers it: `/<parent>/<alias>`. Those names
are worked out from the parents' records: they follow a rename of the parent, and go
with the linked container's removal (a container made later under its name does not
inherit them).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ketch.engine.names import parse_link
from ketch.errors import Conflict, KetchError, NotFound
from ketch.runtime.state import write_atomic

RECORD = "config.v2.json"
TOMBSTONE = ".removed-"


class Container:
    def __init__(self, record: dict[str, Any], directory: str) -> None:
        self.record = record
        self.dir = directory

    @property
    def id(self) -> str:
        return str(self.record["Id"])

    @property
    def name(self) -> str:
        return str(self.record["Name"]).removeprefix("/")

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.record["State"]
        return state

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.record["Config"]
        return config

    @property
    def host_config(self) -> dict[str, Any]:
        host: dict[str, Any] = self.record["HostConfig"]
        return host

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running"))

    @property
    def log_path(self) -> str:
        return os.path.join(self.dir, f"{self.id}-json.log")

    @property
    def bundle(self) -> str:
        return os.path.join(self.dir, "bundle")

    def save(self) -> None:
        write_atomic(os.path.join(self.dir, RECORD), json.dumps(self.record).encode())


class ContainerStore:
    """Every container of the daemon, with name and id indexes."""

    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "containers")
        os.makedirs(self.root, mode=0o710, exist_ok=True)
        self.by_id: dict[str, Container] = {}
        self.by_name: dict[str, str] = {}
        self.broken: list[str] = []

    def load(self) -> None:
        for cid in sorted(os.listdir(self.root)):
            if cid.startswith(TOMBSTONE):
                continue
            directory = os.path.join(self.root, cid)
            try:
                with open(os.path.join(directory, RECORD), "rb") as f:
                    record = json.loads(f.read())
            except (OSError, ValueError):
                self.broken.append(cid)  # a crash mid-create, or a damaged file: skip it
                continue
            self.add(Container(record, directory))

    def add(self, container: Container) -> None:
        self.by_id[container.id] = container
        self.by_name[container.name] = container.id

    def new_dir(self, cid: str) -> str:
        directory = os.path.join(self.root, cid)
        os.mkdir(directory, 0o710)
        return directory

    def reserve_name(self, name: str, cid: str) -> None:
        other = self.by_name.get(name)
        if other is not None and other != cid:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by '
                           f'container "{other}". You have to remove (or rename) that '
                           "container to be able to reuse that name.")
        self.by_name[name] = cid

    def release_name(self, name: str) -> None:
        self.by_name.pop(name, None)

    def get(self, ref: str) -> Container:
        """By name (with or without /), full id, or unique id prefix, as Docker looks up."""
        ref = ref.removeprefix("/")
        if ref in self.by_id:
            return self.by_id[ref]
        if ref in self.by_name and self.by_name[ref] in self.by_id:
            return self.by_id[self.by_name[ref]]
        if "/" in ref:  # a link's name, parent/alias
            child = self._linked(ref)
            if child is not None:
                return child
        if ref:
            matches = [c for cid, c in self.by_id.items() if cid.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise NotFound(f"Multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def _plain(self, ref: str) -> Container | None:
        """By name, full id or unique id prefix, not by a link's name."""
        ref = ref.removeprefix("/")
        cid = ref if ref in self.by_id else self.by_name.get(ref)
        if cid in self.by_id:
            return self.by_id[cid]
        found = [c for cid, c in self.by_id.items() if ref and cid.startswith(ref)]
        return found[0] if len(found) == 1 else None

    def links(self, parent: Container) -> list[tuple[str, str, Container]]:
        """The legacy links Docker registers for `parent`, as (its HostConfig.Links entry,
        the alias, the linked container). None on a user-defined network (where a link is
        a DNS alias only); a link's container is the one that existed when the parent was
        made, never one made later under the same name."""
        mode = str(parent.host_config.get("NetworkMode") or "default")
        if mode not in ("default", "bridge", "host", "none") and \
                not mode.startswith("container:"):
            return []
        out = []
        for entry in parent.host_config.get("Links") or []:
            target, alias = parse_link(entry)
            child = self._plain(target)
            if child is not None and child.id != parent.id and \
                    str(child.record["Created"]) <= str(parent.record["Created"]):
                out.append((entry, alias, child))
        return out

    def _linked(self, ref: str) -> Container | None:
        parent_name, _, alias = ref.removeprefix("/").rpartition("/")
        parent = self.by_id.get(self.by_name.get(parent_name, ""))
        if parent is None:
            return None
        return next((child for _, a, child in self.links(parent) if a == alias), None)

    def names_of(self, c: Container) -> list[str]:
        """`GET /containers/json`'s Names: the container's name and the names its legacy
        links give it, sorted as Docker lists them."""
        names = {f"/{c.name}"}
        for parent in self.by_id.values():
            names.update(f"/{parent.name}/{alias}" for _, alias, child in self.links(parent)
                         if child.id == c.id)
        return sorted(names)

    def remove_link(self, ref: str) -> Container:
        """`DELETE /containers/<parent>/<alias>?link=1`: the link is gone from the parent's
        HostConfig.Links (a running parent's /etc/hosts and environment stay as they are,
        as in Docker). Returns the parent, saved."""
        child = self.get(ref)
        name = ref if ref.startswith("/") else f"/{ref}"
        parent_name, _, alias = name.rpartition("/")
        if not parent_name:
            raise KetchError("Conflict, cannot remove the default link name of the container")
        parent = self.by_id.get(self.by_name.get(parent_name[1:], ""))
        if parent is None:
            raise KetchError(f"Cannot get parent {parent_name} for link name {name}")
        gone = [entry for entry, a, linked in self.links(parent)
                if a == alias and linked.id == child.id]
        links = [entry for entry in parent.host_config.get("Links") or []
                 if entry not in gone]
        parent.host_config["Links"] = links or None
        parent.save()
        return parent

    def remove(self, container: Container) -> str:
        """Forget the container at once and for good (its directory is renamed to a
        tombstone); returns the tombstone, whose files the caller deletes at leisure."""
        self.by_id.pop(container.id, None)
        if self.by_name.get(container.name) == container.id:
            del self.by_name[container.name]
        tombstone = os.path.join(self.root, f"{TOMBSTONE}{container.id}")
        try:
            os.rename(container.dir, tombstone)
        except FileNotFoundError:
            pass
        return tombstone

    def tombstones(self) -> list[tuple[str, str]]:
        """(container id, path) of removals a crash interrupted."""
        return [(name.removeprefix(TOMBSTONE), os.path.join(self.root, name))
                for name in os.listdir(self.root) if name.startswith(TOMBSTONE)]

    def all(self) -> list[Container]:
        return sorted(self.by_id.values(), key=lambda c: str(c.record["Created"]),
                      reverse=True)
