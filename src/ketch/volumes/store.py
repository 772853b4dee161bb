"""`VolumeStore`: volumes under <data_root>/volumes/<name>/ with the data in `_data` and the
record in `volume.json`.

A volume appears whole or not at all: it is built in a hidden `.tmp-*` directory and
renamed into place, and removed by renaming it to a hidden `.trash-*` directory first;
leftovers of either (a crash) are swept when the store opens. Names never start with a
dot, so hidden entries cannot be volumes.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ketch.errors import Conflict, HostError, InvalidParameter, KetchError, NotFound
from ketch.util.files import fsync_dir, mark_top_directory, write_all
from ketch.util.fswalk import remove_tree, tree_size
from ketch.volumes import mounting, options
from ketch.volumes.filters import prune_selection, select

NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", re.ASCII)
ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # what Docker 23+ marks anonymous ones with
RECORD = "volume.json"
DATA = "_data"

InUse = Callable[[str], list[str]]


def _now_rfc3339() -> str:
    """Go's time.RFC3339 in local time, as Docker prints CreatedAt ("Z" for UTC)."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    offset = text[-5:]
    return text[:-5] + ("Z" if offset in ("+0000", "-0000") else f"{offset[:3]}:{offset[3:]}")


@dataclass
class Volume:
    """One volume's record; `labels` and `options` stay None when none were given (Docker
    answers null then, and {} when an empty map was given)."""

    name: str
    mountpoint: str
    created_at: str
    driver: str = "local"
    labels: dict[str, str] | None = None
    options: dict[str, str] | None = field(default=None)

    @property
    def anonymous(self) -> bool:
        return self.labels is not None and ANONYMOUS_LABEL in self.labels

    def inspect(self) -> dict[str, Any]:
        return {"CreatedAt": self.created_at, "Driver": self.driver,
                "Labels": _sorted(self.labels), "Mountpoint": self.mountpoint,
                "Name": self.name, "Options": _sorted(self.options), "Scope": "local"}

    def record(self) -> dict[str, Any]:
        return {"Name": self.name, "Driver": self.driver, "CreatedAt": self.created_at,
                "Labels": self.labels, "Options": self.options}


def _sorted(mapping: dict[str, str] | None) -> dict[str, str] | None:
    """Go marshals maps by sorted key."""
    return None if mapping is None else dict(sorted(mapping.items()))


def check_name(name: str, op: str) -> None:
    if len(name.encode()) == 1:
        raise InvalidParameter(f"{op} {name}: volume name is too short, names should be at "
                               "least two alphanumeric characters")
    if not NAME.fullmatch(name):
        quoted = json.dumps(name, ensure_ascii=False)  # as Go's %q for the usual names
        raise InvalidParameter(
            f"{op} {name}: {quoted} includes invalid characters for a local volume name, "
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path")


def _string_map(value: object, what: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidParameter(f"invalid {what}: must be a map of strings to strings")
    return dict(value)


class VolumeStore:
    def __init__(self, data_root: str) -> None:
        self.root = os.path.join(data_root, "volumes")
        os.makedirs(self.root, mode=0o701, exist_ok=True)
        mark_top_directory(self.root)
        self._lock = threading.RLock()
        self._mounts: dict[str, int] = {}  # name -> users of its filesystem mount
        # told (action, name, attributes) of each volume made or removed
        self.on_event: Callable[[str, str, dict[str, str]], None] | None = None
        self._sweep()

    # -- paths and records ------------------------------------------------------------
    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _load(self, name: str) -> Volume | None:
        if not NAME.fullmatch(name):  # never a path outside the store
            return None
        path = self._dir(name)
        try:
            with open(os.path.join(path, RECORD), "rb") as f:
                doc = json.loads(f.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise HostError(f"get {name}: unreadable volume record: {e}") from None
        return Volume(name=name, mountpoint=os.path.join(path, DATA),
                      created_at=str(doc.get("CreatedAt") or ""),
                      driver=str(doc.get("Driver") or "local"),
                      labels=doc.get("Labels"), options=doc.get("Options"))

    def _sweep(self) -> None:
        for entry in os.listdir(self.root):
            if entry.startswith((".tmp-", ".trash-")):
                try:
                    self._delete_tree(os.path.join(self.root, entry))
                except KetchError:
                    pass  # kept (still mounted): the next start tries again

    @staticmethod
    def _delete_tree(path: str) -> None:
        data = os.path.join(path, DATA)
        for _ in range(16):  # never delete through a mount (a bind's host directory)
            if not mounting.is_mountpoint(data):
                break
            mounting.unmount(data)
        else:
            raise HostError(f"{data} is still mounted")
        try:  # a loop, not shutil.rmtree: a container may have made the tree any depth
            remove_tree(path)
        except OSError:
            pass  # swept again when the store opens

    # -- the engine's interface -------------------------------------------------------
    def notify(self, action: str, name: str) -> None:
        """A volume event for the engine's listeners (`docker events`)."""
        if self.on_event is not None:
            self.on_event(action, name, {"driver": "local"})

    def create(self, name: str | None = None, driver: str = "local",
               driver_opts: dict[str, str] | None = None,
               labels: dict[str, str] | None = None) -> Volume:
        """A new volume, or the existing one of that name (as Docker answers)."""
        labels = _string_map(labels, "labels")
        driver_opts = _string_map(driver_opts, "driver options")
        if not name:
            name = secrets.token_hex(32)
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        else:
            check_name(name, "create")
        driver = driver or "local"
        if driver != "local":
            raise NotFound(f"create {name}: error looking up volume plugin {driver}: "
                           f'plugin "{driver}" not found')
        with self._lock:
            existing = self._load(name)
            if existing is not None:
                self.notify("create", name)  # dockerd tells of each create, made or found
                return existing
            try:
                options.validate(driver_opts or {})
            except InvalidParameter as e:
                raise InvalidParameter(f"create {name}: {e}") from None
            volume = Volume(name=name, mountpoint=os.path.join(self._dir(name), DATA),
                            created_at=_now_rfc3339(), labels=labels, options=driver_opts)
            self._build(volume)
        self.notify("create", name)
        return volume

    def _build(self, volume: Volume) -> None:
        tmp = os.path.join(self.root, f".tmp-{secrets.token_hex(8)}")
        try:
            os.mkdir(tmp, 0o701)
            os.mkdir(os.path.join(tmp, DATA), 0o755)
            _write_new(os.path.join(tmp, RECORD), json.dumps(volume.record()).encode())
            os.rename(tmp, self._dir(volume.name))
            fsync_dir(self.root)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):
                if e.errno == errno.ENAMETOOLONG:
                    raise InvalidParameter(f"create {volume.name}: file name too long"
                                           ) from None
                raise HostError(f"create {volume.name}: {e.strerror or e}") from None
            raise

    def get(self, name: str) -> Volume:
        volume = self._load(name)
        if volume is None:
            raise NotFound(f"get {name}: no such volume")
        return volume

    def list(self) -> list[Volume]:
        found = []
        for entry in sorted(os.listdir(self.root)):
            if entry.startswith("."):
                continue
            try:
                volume = self._load(entry)
            except KetchError:
                continue  # a damaged record hides one volume, not the list
            if volume is not None:
                found.append(volume)
        return found

    def remove(self, name: str, force: bool = False, in_use: InUse | None = None) -> None:
        """Delete a volume; with force, one that does not exist is no error (as Docker)."""
        with self._lock:
            if self._load(name) is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = in_use(name) if in_use is not None else []
            if users or self._mounts.get(name):
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            trash = os.path.join(self.root, f".trash-{secrets.token_hex(8)}")
            try:
                os.rename(self._dir(name), trash)
            except OSError as e:
                raise HostError(f"remove {name}: {e.strerror or e}") from None
            self._delete_tree(trash)
        self.notify("destroy", name)

    def size(self, name: str) -> int:
        """Bytes in the volume (`system df`)."""
        return _disk_usage(self.get(name).mountpoint)

    def prune(self, filters: dict[str, builtins.list[str]],
              in_use: InUse | None = None) -> tuple[builtins.list[str], int]:
        """Remove unused volumes the filters pick (anonymous ones unless all=true):
        (removed names, bytes reclaimed)."""
        removed: builtins.list[str] = []
        reclaimed = 0
        for volume in prune_selection(self.list(), filters):
            if in_use is not None and in_use(volume.name):
                continue
            size = _disk_usage(volume.mountpoint)
            try:
                self.remove(volume.name, in_use=in_use)
            except (Conflict, NotFound):
                continue  # came into use, or went, meanwhile
            removed.append(volume.name)
            reclaimed += size
        return removed, reclaimed

    def select(self, filters: dict[str, builtins.list[str]],
               used: set[str] | None = None) -> builtins.list[Volume]:
        """`GET /volumes` with its filters; `used`: names some container uses."""
        return select(self.list(), filters, used or set())

    def mount(self, name: str) -> str:
        """The host path to bind into a container; a tmpfs or bind the options ask for
        is mounted there by the first user."""
        with self._lock:
            volume = self.get(name)
            opts = volume.options or {}
            if opts.get("type") or opts.get("device"):
                count = self._mounts.get(name, 0)
                if count == 0 and not mounting.is_mountpoint(volume.mountpoint):
                    try:
                        mounting.mount(opts.get("device", ""), volume.mountpoint,
                                       opts.get("type", ""), opts.get("o", ""))
                    except HostError as e:
                        raise HostError(f"failed to mount local volume: {e}") from None
                self._mounts[name] = count + 1
            return volume.mountpoint

    def unmount(self, name: str) -> None:
        with self._lock:
            count = self._mounts.get(name, 0)
            if count <= 0:
                return
            if count > 1:
                self._mounts[name] = count - 1
                return
            del self._mounts[name]
            mounting.unmount(os.path.join(self._dir(name), DATA))


def _write_new(path: str, data: bytes) -> None:
    """A new file (in a volume still being built: the rename of its directory is what
    makes the volume appear whole)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def _disk_usage(path: str) -> int:
    """Bytes of the files under path (a volume a container may be changing): by fd."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        return tree_size(fd)
    finally:
        os.close(fd)
