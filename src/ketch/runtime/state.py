"""A container's record under the runtime root: state.json, exec.fifo, and its status.

Layout: <root>/<id>/state.json (written atomically) and <root>/<id>/exec.fifo
(present while the container is `created`: its init blocks opening it until
`start` reads it). The status is never stored; it is read from the kernel.
"""

from __future__ import annotations

import fcntl
import os

from ketch.errors import Conflict, NotFound
from ketch.runtime.spec import check_id
from ketch.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/ketch-runtime"
STATE_FILE = "state.json"
FIFO = "exec.fifo"


def write_atomic(path: str, data: bytes, mode: int = 0o600, *, durable: bool = True) -> None:
    """Write `path` so that a crash leaves either the old or the new content.

    durable=False skips the fsync: right for the runtime's state, which
    describes processes and so means nothing after a reboot anyway.
    """
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


class Container:
    """One container's directory and record."""

    def __init__(self, root: str, container_id: str) -> None:
        check_id(container_id)
        self.root = root
        self.id = container_id
        self.dir = os.path.join(root, container_id)
        self.state: dict[str, Any] = {}

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, FIFO)

    def make_dir(self) -> None:
        """Claim the id: fails if a container with this id exists."""
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        try:
            os.mkdir(self.dir, 0o711)
        except FileExistsError:
            raise Conflict(f"container with id exists: {self.id}") from None

    def load(self) -> Container:
        try:
            with open(os.path.join(self.dir, STATE_FILE), "rb") as f:
                self.state = jsonio.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"container does not exist: {self.id}") from None
        except ValueError:
            raise NotFound(f"container {self.id}: state is unreadable") from None
        return self

    def save(self) -> None:
        write_atomic(os.path.join(self.dir, STATE_FILE), jsonio.dumps(self.state).encode(),
                     durable=False)

    def remove_dir(self) -> None:
        """Remove the container's directory and the few files it holds."""
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass

    def lock(self) -> int:
        """Serialise operations on this container (held until the process exits)."""
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    @property
    def pid(self) -> int:
        return int(self.state.get("pid") or 0)

    def init_alive(self) -> bool:
        """Whether the recorded init process still runs (and is not a zombie or a reused pid)."""
        pid = self.pid
        if pid <= 0:
            return False
        stat = process_stat(pid)
        if stat is None:
            return False
        state, start_time = stat
        return state not in "ZX" and start_time == self.state.get("init_start")

    def status(self) -> str:
        if not self.init_alive():
            return "stopped"
        if self.frozen():
            return "paused"
        if os.path.exists(self.fifo):
            return "created"
        return "running"

    def frozen(self) -> bool:
        saved = self.state.get("cgroup")
        if not saved:
            return False
        from ketch.runtime.cgroups.base import Cgroup
        try:
            return Cgroup.from_state(saved).frozen()
        except OSError:
            return False

    def oci_state(self) -> dict[str, Any]:
        """The state object of the runtime-spec, as `state` prints it and hooks read it."""
        status = self.status()
        return {
            "ociVersion": self.state.get("ociVersion", ""),
            "id": self.id,
            "status": status,
            "pid": self.pid if status != "stopped" else 0,
            "bundle": self.state.get("bundle", ""),
            "rootfs": self.state.get("rootfs", ""),
            "created": self.state.get("created", ""),
            "owner": "",
            "annotations": self.state.get("annotations") or {},
        }


def process_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of `pid`, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    fields = raw[raw.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[19])


def list_containers(root: str) -> list[Container]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        try:
            found.append(Container(root, name).load())
        except (NotFound, ValueError):
            continue  # a container being created or deleted right now
    return found
