"""The runtime's operations on containers: create, start, run, exec, kill, delete, pause.

Each operation runs in a short-lived `ketch-runtime` process, as with runc:
state lives under the runtime root and in the kernel, never in a daemon. The
processes that enter a container are forked here and continue in `init`.
"""

from __future__ import annotations

import errno
import os
import select
import time

from ketch.errors import Conflict, HostError, InvalidParameter, KetchError, NotFound
from ketch.runtime import init as I
from ketch.runtime import linux as L
from ketch.runtime import spec as S
from ketch.runtime.state import Container, process_stat, write_atomic
from ketch.runtime.sync import Channel, channel_pair

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:  # `signal` imports enum (a few ms); the C module has everything we use
    import _signal as signal
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ketch.runtime.cgroups.base import Cgroup
    from ketch.runtime.seccomp import BpfFilter, SeccompFilter

class ContainerExited(KetchError):
    """The container's program could not be started; carries Docker's exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _compile_seccomp(config: dict[str, Any], root: str) -> SeccompFilter | BpfFilter | None:
    profile = (config.get("linux") or {}).get("seccomp")
    if profile is None:
        return None
    from ketch.runtime.seccomp import cached_filter
    return cached_filter(profile, os.path.join(root, "seccomp-cache"))


def _open_cgroup(config: dict[str, Any], container_id: str) -> Cgroup:
    from ketch.runtime.cgroups import open_cgroup
    return open_cgroup((config.get("linux") or {}).get("cgroupsPath"), container_id)


def cgroup_of(c: Container) -> Cgroup | None:
    saved = c.state.get("cgroup")
    if not saved:
        return None
    from ketch.runtime.cgroups.base import Cgroup as _Cgroup
    return _Cgroup.from_state(saved)


def _resources(config: dict[str, Any]) -> dict[str, Any]:
    """linux.resources plus the device rules runc always adds: mknod, the standard
    /dev nodes, and each device the config asks to be created."""
    from ketch.runtime.cgroups import DEFAULT_RULES

    linux = config.get("linux") or {}
    resources = dict(linux.get("resources") or {})
    rules = list(resources.get("devices") or []) + DEFAULT_RULES
    for dev in linux.get("devices") or []:
        if dev["type"] in ("c", "b"):
            rules.append({"allow": True, "type": dev["type"], "major": dev["major"],
                          "minor": dev["minor"], "access": "rwm"})
    resources["devices"] = rules
    return resources


def _write_maps(pid: int, linux: dict[str, Any]) -> None:
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux[key])
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(lines)
        except OSError as e:
            raise HostError(f"cannot write {name} of the user namespace: {e.strerror}") from None


def _open_namespaces(ns: dict[str, str]) -> dict[str, int]:
    fds: dict[str, int] = {}
    try:
        for kind, path in ns.items():
            if path:
                fds[kind] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        for fd in fds.values():
            os.close(fd)
        raise HostError(f"cannot open namespace {e.filename}: {e.strerror}") from None
    return fds


def _console_fd(console_socket: str | None, console_pair: Any) -> int:
    """The fd the container's terminal master is sent over (-1: no terminal)."""
    if console_pair is not None:
        return int(console_pair.fileno())
    if not console_socket:
        return -1
    from ketch.runtime.console import connect
    sock = connect(console_socket)
    fd = os.dup(sock.fileno())
    sock.close()
    return fd


def _reap(pid: int) -> int:
    """Wait for a child of ours; its exit code in Docker's convention (128+signal)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return 255
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


def _reap_nowait(pid: int) -> None:
    """Reap the first stage if it is done; else our own exit (or `run`'s wait) will."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _kill_and_wait(pid: int, start_time: int | None = None) -> None:
    """SIGKILL `pid` (if it is still the process we started) and wait until it is gone."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        stat = process_stat(pid)
        if stat is None or (start_time is not None and stat[1] != start_time):
            return
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except ProcessLookupError:
            return
        select.select([pidfd], [], [], 10)
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        except ChildProcessError:
            pass
    finally:
        os.close(pidfd)


class Runtime:
    """Operations against one runtime root (`--root`)."""

    def __init__(self, root: str, warn: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.warn = warn or (lambda msg: None)

    def container(self, container_id: str) -> Container:
        return Container(self.root, container_id).load()

    # -- create ---------------------------------------------------------------

    def create(self, container_id: str, bundle: str, *, console_socket: str | None = None,
               pid_file: str | None = None, preserve_fds: int = 0,
               console_pair: Any = None, new_keyring: bool = True,
               stdio: tuple[int, int, int] | None = None) -> tuple[Container, Channel]:
        """Make the container and leave its init waiting for `start`.

        Returns the container and the channel to its init (EOF once the program runs).
        stdio: the program's stdin/stdout/stderr (default: ours, as runc passes them through).
        """
        c = Container(self.root, container_id)
        bundle = os.path.abspath(bundle)
        config = S.load_bundle(bundle)
        process = config.get("process") or {}
        if process.get("terminal") and not console_socket and console_pair is None:
            raise InvalidParameter("cannot allocate a terminal without --console-socket")
        ns = S.namespaces(config)
        if "mount" not in ns:
            raise InvalidParameter("invalid config.json: a mount namespace is required")
        seccomp = _compile_seccomp(config, self.root)
        c.make_dir()
        cgroup: Cgroup | None = None
        init_pid = 0
        chan = None
        try:
            cgroup = _open_cgroup(config, container_id)
            c.state = {"cgroup": cgroup.to_state()}
            resources = _resources(config)
            from ketch.runtime.cgroups.resources import parse_resources
            parse_resources(resources)  # every value checked before anything runs
            os.mkfifo(c.fifo, 0o622)
            os.chmod(c.fifo, 0o622)
            chan, init_pid = self._spawn_init(c, config, bundle, cgroup, resources, seccomp,
                                              ns, console_socket, console_pair, preserve_fds,
                                              container_id if new_keyring else None, stdio)
            init_stat = process_stat(init_pid)
            if init_stat is None:
                raise HostError("the container's init exited while it was being created")
            c.state.update({
                "ociVersion": config.get("ociVersion", ""),
                "id": container_id,
                "pid": init_pid,
                "init_start": init_stat[1],
                "bundle": bundle,
                "rootfs": config["root"]["path"],
                "created": _now(),
                "annotations": config.get("annotations") or {},
                "config": config,
            })
            c.save()
            if pid_file:
                write_pid_file(pid_file, init_pid)
            return c, chan
        except BaseException:
            if chan is not None:
                chan.close()
            if init_pid:
                _kill_and_wait(init_pid)
            self._remove(c, cgroup)
            raise

    def _spawn_init(self, c: Container, config: dict[str, Any], bundle: str, cgroup: Cgroup,
                    resources: dict[str, Any], seccomp: SeccompFilter | BpfFilter | None,
                    ns: dict[str, str], console_socket: str | None, console_pair: Any,
                    preserve_fds: int, keyring: str | None,
                    stdio: tuple[int, int, int] | None) -> tuple[Channel, int]:
        linux = config.get("linux") or {}
        # Without a user namespace (which must come first), a time namespace (which
        # applies to children only) or hooks (which the runtime forks later), the
        # runtime enters the new pid namespace itself and forks the init directly:
        # one fork, and one Python process copying pages, fewer.
        direct = not ({"user", "time"} & ns.keys()) and not any(
            (config.get("hooks") or {}).values())
        join = _open_namespaces(ns)
        own_pidns = -1
        if direct and "pid" in ns:
            # remembered, so that a long-lived caller (the engine's supervisor) forks
            # its next children in its own pid namespace again
            own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            pid_fd = join.pop("pid", -1)
            try:
                if pid_fd >= 0:
                    L.setns(pid_fd, L.CLONE_NEWPID)
                else:
                    L.unshare(L.CLONE_NEWPID)
            finally:
                if pid_fd >= 0:
                    os.close(pid_fd)
        console_fd = _console_fd(console_socket, console_pair)
        state_dir_fd = os.open(c.dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        parent, child = channel_pair()
        job = I.Job(config=config, process=config.get("process") or {}, chan=child, join=join,
                    new=[k for k, p in ns.items() if not p], cgroup=None, seccomp=seccomp,
                    console_fd=console_fd, state_dir_fd=state_dir_fd,
                    preserve_fds=preserve_fds, cgroup_mounts=cgroup.mount_sources(),
                    bundle=bundle, keyring=keyring, stdio=stdio)
        I.preload(job)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            parent.close()
            if direct:
                I.stage_direct(job)
            I.stage_join(job, init=True)
        if own_pidns >= 0:
            L.setns(own_pidns, L.CLONE_NEWPID)
            os.close(own_pidns)
        child.close()
        for fd in join.values():
            os.close(fd)
        os.close(state_dir_fd)
        if console_fd >= 0 and console_pair is None:
            os.close(console_fd)
        init_pid = 0
        try:
            # the init joins its namespaces and mounts its filesystems meanwhile;
            # it waits for its cgroup only before it needs it (see init.py)
            cgroup.create()
            cgroup.apply(resources)
            if direct:
                init_pid = pid
                cgroup.add(init_pid)
                parent.tell(cgroup=True)
            while True:
                msg = parent.recv()
                if msg is None:
                    code = _reap(pid)
                    raise HostError(f"container init exited unexpectedly (status {code})")
                if "error" in msg:
                    raise ContainerExited(msg["error"], msg.get("code", 1))
                if msg.get("userns"):
                    _write_maps(pid, linux)
                    parent.tell(ok=True)
                elif "pid" in msg:
                    init_pid = msg["pid"]
                    # moving a process between v1 cgroups waits for an RCU grace
                    # period (~10 ms): the init builds its root filesystem meanwhile
                    cgroup.add(init_pid)
                    parent.tell(cgroup=True)
                elif msg.get("hooks"):
                    state = self._hook_state(c, config, bundle, init_pid, "created")
                    from ketch.runtime.hooks import run_hooks
                    hooks = config.get("hooks") or {}
                    run_hooks(hooks.get("prestart") or [], state, "prestart")
                    run_hooks(hooks.get("createRuntime") or [], state, "createRuntime")
                    parent.tell(state=state)
                elif msg.get("created"):
                    _reap_nowait(pid)
                    return parent, init_pid
        except BaseException:
            parent.close()
            if init_pid:
                _kill_and_wait(init_pid)
            raise

    def _hook_state(self, c: Container, config: dict[str, Any], bundle: str, pid: int,
                    status: str) -> dict[str, Any]:
        return {"ociVersion": config.get("ociVersion", ""), "id": c.id, "status": status,
                "pid": pid, "bundle": bundle, "annotations": config.get("annotations") or {}}

    # -- start / run ------------------------------------------------------------

    def start(self, container_id: str, c: Container | None = None) -> Container:
        """Run the program of a created container (`c`: already loaded, as by `run`)."""
        c = c or self.container(container_id)
        lock = c.lock()
        try:
            status = c.status()
            if status != "created":
                if status == "stopped":
                    raise Conflict("cannot start a container that has stopped")
                raise Conflict(f"cannot start an already {status} container")
            if not c.state["config"].get("process"):
                _kill_and_wait(c.pid, c.state.get("init_start"))
                raise InvalidParameter("cannot start: config.json has no process to run")
            self._release(c)
        finally:
            os.close(lock)
        hooks = (c.state["config"].get("hooks") or {}).get("poststart") or []
        if hooks:
            from ketch.runtime.hooks import run_hooks_logged
            # the program has been started, even if it has already exited again
            state = dict(c.oci_state(), status="running", pid=c.pid)
            run_hooks_logged(hooks, state, "poststart", self.warn)
        return c

    def _release(self, c: Container) -> None:
        """Open the exec fifo: the init, blocked writing to it, goes on to exec."""
        fifo = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            pidfd = os.pidfd_open(c.pid)
        except ProcessLookupError:
            os.close(fifo)
            raise Conflict("cannot start a container that has stopped") from None
        try:
            poller = select.poll()
            poller.register(fifo, select.POLLIN)
            poller.register(pidfd, select.POLLIN)
            while True:
                events = dict(poller.poll())
                if fifo in events:
                    try:
                        data = os.read(fifo, 1)
                    except BlockingIOError:
                        data = b""
                    if data:
                        break
                    # the writer has not opened its end yet: hang-up without data
                    if events.get(pidfd):
                        raise Conflict("the container's init exited before it was started")
                    time.sleep(0.001)
                    continue
                if pidfd in events:
                    raise Conflict("the container's init exited before it was started")
        finally:
            os.close(fifo)
            os.close(pidfd)
        os.unlink(c.fifo)

    # -- exec ---------------------------------------------------------------------

    def exec(self, container_id: str, process: dict[str, Any], *,
             console_socket: str | None = None, console_pair: Any = None,
             pid_file: str | None = None, preserve_fds: int = 0,
             stdio: tuple[int, int, int] | None = None) -> int:
        """Start `process` inside the container; return its host pid once it runs.
        stdio: the program's stdin/stdout/stderr (default: ours)."""
        c = self.container(container_id)
        status = c.status()
        if status == "stopped":
            raise Conflict("cannot exec in a stopped container")
        if status == "paused":
            raise Conflict("cannot exec in a paused container")
        S.validate_process(process, "process")
        if process.get("terminal") and not console_socket and console_pair is None:
            raise InvalidParameter("cannot allocate a terminal without --console-socket")
        config = c.state["config"]
        seccomp = _compile_seccomp(config, self.root)
        join = {}
        for kind in S.namespaces(config):
            own = os.stat(f"/proc/self/ns/{_ns_file(kind)}").st_ino
            theirs = f"/proc/{c.pid}/ns/{_ns_file(kind)}"
            try:
                if os.stat(theirs).st_ino != own:
                    join[kind] = theirs
            except FileNotFoundError:
                raise Conflict("cannot exec in a stopped container") from None
        fds = _open_namespaces(join)
        if not c.init_alive():  # the pid could have been reused while we looked
            for fd in fds.values():
                os.close(fd)
            raise Conflict("cannot exec in a stopped container")
        console_fd = _console_fd(console_socket, console_pair)
        parent, child = channel_pair()
        job = I.Job(config=config, process=process, chan=child, join=fds, new=[],
                    cgroup=cgroup_of(c), seccomp=seccomp, console_fd=console_fd,
                    preserve_fds=preserve_fds, stdio=stdio)
        I.preload(job)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            parent.close()
            I.stage_join(job, init=False)
        child.close()
        for fd in fds.values():
            os.close(fd)
        if console_fd >= 0 and console_pair is None:
            os.close(console_fd)
        exec_pid = 0
        try:
            while True:
                msg = parent.recv()
                if msg is None:
                    break  # the program was exec'd: our channel closed with it
                if "error" in msg:
                    if exec_pid:  # ours (we are a subreaper): no zombie in the container
                        _reap(exec_pid)
                    raise ContainerExited(msg["error"], msg.get("code", 1))
                if "pid" in msg:
                    exec_pid = msg["pid"]
                    _reap(pid)
        finally:
            parent.close()
        if not exec_pid:
            code = _reap(pid)
            raise HostError(f"exec failed: the process exited early (status {code})")
        if pid_file:
            write_pid_file(pid_file, exec_pid)
        return exec_pid

    # -- signals, state, delete ---------------------------------------------------

    def kill(self, container_id: str, sig: int, *, all_processes: bool = False) -> None:
        c = self.container(container_id)
        status = c.status()
        if status == "stopped":
            raise Conflict("container not running")
        if all_processes:
            cgroup = cgroup_of(c)
            if cgroup is None:
                raise HostError("container has no cgroup to signal")
            from ketch.runtime.cgroups.base import signal_each
            signal_each(cgroup, sig)
            return
        try:
            pidfd = os.pidfd_open(c.pid)
        except ProcessLookupError:
            raise Conflict("container not running") from None
        try:
            if not c.init_alive():
                raise Conflict("container not running")
            signal.pidfd_send_signal(pidfd, sig)
        except ProcessLookupError:
            raise Conflict("container not running") from None
        finally:
            os.close(pidfd)

    def delete(self, container_id: str, *, force: bool = False) -> None:
        try:
            c = self.container(container_id)
        except NotFound:
            path = os.path.join(self.root, container_id)
            if force:
                # an aborted create may leave the directory without a state
                if os.path.isdir(path):
                    Container(self.root, container_id).remove_dir()
                return
            raise
        lock = c.lock()
        try:
            status = c.status()
            if status != "stopped" and not force:
                raise Conflict(f"cannot delete container {c.id} that is not stopped: {status}")
            cgroup = cgroup_of(c)
            if status == "paused" and cgroup is not None:
                cgroup.thaw()
            if status != "stopped":
                _kill_and_wait(c.pid, c.state.get("init_start"))
            self._remove(c, cgroup)
        finally:
            os.close(lock)
        hooks = (c.state.get("config", {}).get("hooks") or {}).get("poststop") or []
        if hooks:
            from ketch.runtime.hooks import run_hooks_logged
            state = c.oci_state()
            state["status"] = "stopped"
            run_hooks_logged(hooks, state, "poststop", self.warn)

    def _remove(self, c: Container, cgroup: Cgroup | None) -> None:
        """Undo create: processes, cgroup, state directory."""
        if cgroup is not None:
            try:
                pids = cgroup.pids()
                if pids:  # without a pid namespace the init's death leaves others behind
                    cgroup.kill()
                cgroup.destroy()
            except KetchError as e:
                self.warn(str(e))
        c.remove_dir()

    def pause(self, container_id: str) -> None:
        c = self.container(container_id)
        status = c.status()
        if status not in ("running", "created"):
            raise Conflict(f"container not running or created: {status}")
        cgroup = cgroup_of(c)
        if cgroup is None:
            raise HostError("container has no cgroup to freeze")
        cgroup.freeze()

    def resume(self, container_id: str) -> None:
        c = self.container(container_id)
        if c.status() != "paused":
            raise Conflict("container not paused")
        cgroup = cgroup_of(c)
        assert cgroup is not None
        cgroup.thaw()

    def update(self, container_id: str, changes: dict[str, Any]) -> None:
        """Merge `changes` (OCI linux.resources) into the container's limits and apply them."""
        c = self.container(container_id)
        lock = c.lock()
        try:
            if c.status() == "stopped":
                raise Conflict("cannot update a stopped container")
            cgroup = cgroup_of(c)
            if cgroup is None:
                raise HostError("container has no cgroup to update")
            config = c.state["config"]
            linux = config.setdefault("linux", {})
            resources = linux.setdefault("resources", {})
            for key, value in changes.items():
                if isinstance(value, dict) and isinstance(resources.get(key), dict):
                    resources[key] = {**resources[key], **value}
                else:
                    resources[key] = value
            cgroup.apply(_resources(config))
            c.save()
        finally:
            os.close(lock)

    def pids(self, container_id: str) -> list[int]:
        c = self.container(container_id)
        cgroup = cgroup_of(c)
        return cgroup.pids() if cgroup is not None else []


def _ns_file(kind: str) -> str:
    return {"network": "net", "mount": "mnt"}.get(kind, kind)


def write_pid_file(path: str, pid: int) -> None:
    try:
        write_atomic(os.path.abspath(path), str(pid).encode(), 0o644)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise NotFound(f"pid file directory of {path} does not exist") from None
        raise HostError(f"cannot write pid file {path}: {e.strerror}") from None


def ensure_subreaper() -> None:
    """Orphans of the containers we start become our children, so we can wait for them."""
    L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
