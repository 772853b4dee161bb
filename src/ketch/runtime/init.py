"""What runs in the processes the runtime forks: joining namespaces, then the container's init.

Two stages, as in runc's nsexec: the first child joins the cgroup and the
namespaces (user first, so the new ones belong to it) and forks again, so that
the second child is born in the new pid namespace (pid 1). The second child
builds the root filesystem, waits for `start`, and execs the program. Both are
made non-dumpable before they join anything: nothing in the container may open
their /proc/<pid>/exe, mem or fds. Neither ever returns: they exit or exec.
"""

from __future__ import annotations

import os

from ketch.errors import KetchError
from ketch.runtime import linux as L
from ketch.runtime import process as P
from ketch.runtime.rootfs import Rootfs  # imported before fork: a child pays copy-on-write
from ketch.runtime.sync import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:  # `signal` imports enum (a few ms); the C module has everything we use
    import _signal as signal
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from ketch.runtime.seccomp import BpfFilter, SeccompFilter

NS_FLAGS = {
    "user": L.CLONE_NEWUSER, "cgroup": L.CLONE_NEWCGROUP, "ipc": L.CLONE_NEWIPC,
    "uts": L.CLONE_NEWUTS, "network": L.CLONE_NEWNET, "pid": L.CLONE_NEWPID,
    "mount": L.CLONE_NEWNS, "time": L.CLONE_NEWTIME,
}
# Joining order: the user namespace first (it owns the others), mount last
# (it changes our root, and every path was opened before).
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


class Job:
    """Everything a forked child needs, prepared by the runtime before fork."""

    def __init__(self, *, config: dict[str, Any], process: dict[str, Any], chan: Channel,
                 join: dict[str, int], new: list[str], cgroup: Any,
                 seccomp: SeccompFilter | BpfFilter | None,
                 console_fd: int = -1, state_dir_fd: int = -1, preserve_fds: int = 0,
                 cgroup_mounts: Any = None, bundle: str = "", keyring: str | None = None,
                 stdio: tuple[int, int, int] | None = None) -> None:
        self.config = config
        self.process = process
        self.chan = chan
        self.join = join            # namespace type -> fd to setns into
        self.new = new              # namespace types to unshare
        self.cgroup = cgroup
        self.seccomp = seccomp
        self.console_fd = console_fd
        self.state_dir_fd = state_dir_fd  # None for exec: no fifo to wait on
        self.preserve_fds = preserve_fds
        self.cgroup_mounts = cgroup_mounts
        self.bundle = bundle
        self.keyring = keyring      # name of a new session keyring for the init, if any
        self.stdio = stdio          # the program's stdin/stdout/stderr, if not ours

    @property
    def linux(self) -> dict[str, Any]:
        return self.config.get("linux") or {}


def preload(job: Job) -> None:
    """Import, before fork, what the child will need after pivot_root: from inside the
    container's root, ketch's own modules cannot be found any more."""
    if job.process.get("terminal"):
        import ketch.runtime.console
    if job.config.get("hooks"):
        import ketch.runtime.hooks  # noqa: F401


def _fail(chan: Channel, e: BaseException) -> NoReturn:
    code = e.exit_code if isinstance(e, P.ExecError) else 1
    message = str(e) if isinstance(e, KetchError) else _describe(e)
    try:
        chan.send(error=message, code=code, kind=type(e).__name__)
    except OSError:
        # nobody listens any more (a detached create): the program's stderr is all we have
        os.write(2, f"ketch-runtime: {message}\n".encode())
    os._exit(code)


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError):
        where = f" {e.filename}" if e.filename else ""
        return f"{e.strerror or e}{where}".strip()
    return f"{type(e).__name__}: {e}"


def stage_join(job: Job, init: bool) -> NoReturn:
    """First child: enter cgroup and namespaces, then fork the process that runs inside."""
    chan = job.chan
    try:
        L.prctl(L.PR_SET_DUMPABLE, 0)
        _close_other_fds(job)
        if job.cgroup is not None:
            job.cgroup.add(os.getpid())
        if "user" in job.join:
            L.setns(job.join["user"], L.CLONE_NEWUSER)
        elif "user" in job.new:
            L.unshare(L.CLONE_NEWUSER)
            chan.send(userns=True)
            if chan.recv() is None:
                os._exit(1)
        if "user" in job.join or "user" in job.new:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        for kind in JOIN_ORDER[1:]:
            if kind in job.join:
                L.setns(job.join[kind], NS_FLAGS[kind])
        flags = 0
        for kind in job.new:
            # the init's cgroup namespace is made once the runtime has moved it
            # into the container's cgroup, which becomes the namespace's root
            if kind != "user" and not (init and kind == "cgroup"):
                flags |= NS_FLAGS[kind]
        if flags:
            L.unshare(flags)
        if "time" in job.new:
            _set_time_offsets(job.linux.get("timeOffsets") or {})
        for fd in job.join.values():
            os.close(fd)
        if init:
            P.set_oom_score_adj(job.process)
        pid = os.fork()
        if pid:
            # the child may already have failed and the runtime given up: nobody to tell
            chan.tell(pid=pid)
            os._exit(0)
        if init:
            container_init(job)
        exec_process(job)
    except BaseException as e:
        _fail(chan, e)


def stage_direct(job: Job) -> NoReturn:
    """The container's init forked directly by a runtime that has already entered the
    new pid namespace (no user namespace, time namespace or hooks: see container.py)."""
    chan = job.chan
    try:
        L.prctl(L.PR_SET_DUMPABLE, 0)
        _close_other_fds(job)
        for kind in JOIN_ORDER[1:]:
            if kind in job.join:
                L.setns(job.join[kind], NS_FLAGS[kind])
        flags = 0
        for kind in job.new:
            if kind not in ("pid", "cgroup"):  # pid: done; cgroup: once moved (see below)
                flags |= NS_FLAGS[kind]
        if flags:
            L.unshare(flags)
        for fd in job.join.values():
            os.close(fd)
        P.set_oom_score_adj(job.process)
        container_init(job)
    except BaseException as e:
        _fail(chan, e)


def _close_other_fds(job: Job) -> None:
    """Right after fork, close every fd the child does not need.

    close_fds() before exec marks them close-on-exec, but until then (a created
    container waits for `start`) a long-lived caller's fds would stay held: its
    locks, its listening socket, other containers' stdin pipes.
    """
    keep = {0, 1, 2, job.chan.read_fd, job.chan.write_fd, job.console_fd, job.state_dir_fd,
            *job.join.values(), *(job.stdio or ()), *range(3, 3 + job.preserve_fds)}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the directory listdir read, already closed


def _set_time_offsets(offsets: dict[str, Any]) -> None:
    lines = "".join(f"{clock} {o.get('secs', 0)} {o.get('nanosecs', 0)}\n"
                    for clock, o in offsets.items())
    if lines:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(lines)


def _hooks(job: Job, kind: str) -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = (job.config.get("hooks") or {}).get(kind) or []
    return hooks


def container_init(job: Job) -> NoReturn:
    """Second child, the container's pid 1: root filesystem, wait for start, exec."""
    chan = job.chan
    config, linux, process = job.config, job.linux, job.process
    try:
        _default_signals()
        os.umask(0o022)
        if job.stdio is not None:
            for target, fd in enumerate(job.stdio):
                os.dup2(fd, target)  # dup2 clears close-on-exec on the copy
        if job.keyring:
            _new_session_keyring(job.keyring)
        rootfs = Rootfs(config, userns="user" in job.new or "user" in job.join,
                        new_netns="network" in job.new,
                        cgroupns="cgroup" in job.new or "cgroup" in job.join,
                        cgroup_mounts=job.cgroup_mounts, bundle=job.bundle)
        joined: list[bool] = []

        def cgroup_joined() -> None:
            if joined:
                return
            if chan.recv() is None:  # the runtime moved us into the cgroup
                os._exit(1)
            if "cgroup" in job.new:
                L.unshare(L.CLONE_NEWCGROUP)
            joined.append(True)

        rootfs.before_cgroup_mount = cgroup_joined
        rootfs.prepare()
        rootfs.mount_all()
        cgroup_joined()
        if rootfs.needs_dev():
            rootfs.make_devices()
            rootfs.make_dev_links()
        hook_state = None
        if any(_hooks(job, k) for k in ("prestart", "createRuntime", "createContainer",
                                         "startContainer")):
            chan.send(hooks=True)  # the runtime runs prestart and createRuntime now
            reply = chan.recv()
            if reply is None:
                os._exit(1)
            hook_state = reply["state"]
            from ketch.runtime.hooks import run_hooks
            run_hooks(_hooks(job, "createContainer"), hook_state, "createContainer")
        rootfs.pivot()
        _make_cwd(rootfs.root_fd, process.get("cwd", "/"))
        if process.get("terminal"):
            _attach_terminal(job, rootfs)
        if config["root"].get("readonly"):
            rootfs.readonly_root()
        if config.get("hostname"):
            L.sethostname(config["hostname"])
        if config.get("domainname"):
            L.setdomainname(config["domainname"])
        _set_sysctls(linux.get("sysctl") or {})
        rootfs.readonly_paths()
        rootfs.mask_paths()
        os.close(rootfs.root_fd)
        if not process:  # nothing to run: `start` will refuse and end us
            chan.send(created=True)
            while True:
                signal.pause()
        _finish_process(job, wait_for_start=True, hook_state=hook_state)
    except BaseException as e:
        _fail(chan, e)


def exec_process(job: Job) -> NoReturn:
    """Second child of `exec`: already inside every namespace; become the new process."""
    chan = job.chan
    try:
        _default_signals()
        if job.stdio is not None:
            for target, fd in enumerate(job.stdio):
                os.dup2(fd, target)  # dup2 clears close-on-exec on the copy
        if job.process.get("terminal"):
            _attach_terminal(job, None)
        _finish_process(job, wait_for_start=False, hook_state=None)
    except BaseException as e:
        _fail(chan, e)


def _default_signals() -> None:
    """The program starts with every signal at its default and none blocked.

    Ignored signals survive execve: Python ignores SIGPIPE and SIGXFSZ, and our
    caller may ignore more (a shell's background job ignores SIGINT and SIGQUIT).
    """
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # reserved by the C library
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _attach_terminal(job: Job, rootfs: Any) -> None:
    from ketch.runtime import console

    master, slave, name = console.open_pty(job.process.get("consoleSize"))
    console.send_master(job.console_fd, master, name)
    os.close(master)
    os.close(job.console_fd)
    if rootfs is not None:
        rootfs.bind_console(slave)
    console.become_controlling(slave)
    os.close(slave)


def _new_session_keyring(name: str) -> None:
    """The container must not share the caller's session keyring (and its keys)."""
    import errno

    try:
        L.join_session_keyring(name)
    except OSError as e:
        # a kernel without keyrings, or a full key quota: runc carries on too
        if e.errno not in (errno.ENOSYS, errno.EACCES, errno.EPERM, errno.EDQUOT):
            raise


def _make_cwd(root_fd: int, cwd: str) -> None:
    """A missing working directory is made, as runc does; resolved in the root, so
    that not even a magic link such as /proc/self/fd/N can point it at the host."""
    from ketch.runtime import paths

    try:
        os.close(paths.resolve(root_fd, cwd, create="dir"))
    except (FileExistsError, NotADirectoryError):
        raise KetchError(f"cwd {cwd} is not a directory") from None
    except OSError as e:
        raise KetchError(f"cwd {cwd}: {e.strerror}") from None


def _set_sysctls(sysctls: dict[str, str]) -> None:
    for key, value in sysctls.items():
        path = "/proc/sys/" + key.replace(".", "/")
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            # the write must land in procfs, never in a file an image put there
            if L.fstatfs_type(fd) != L.PROC_SUPER_MAGIC:
                raise KetchError(f"sysctl {key}: /proc is not procfs")
            os.write(fd, value.encode())
        finally:
            os.close(fd)


def _finish_process(job: Job, *, wait_for_start: bool, hook_state: Any) -> NoReturn:
    process, chan = job.process, job.chan
    env = P.env_of(process)
    cwd = process.get("cwd", "/")
    P.set_personality(job.linux)
    P.set_rlimits(process)
    try:
        P.chdir(cwd)
        chdir_done = True
    except PermissionError:
        chdir_done = False  # maybe only the container's user may enter it: retry as them
    path = P.look_path(process["args"][0], env)
    P.close_fds(3 + job.preserve_fds)  # before seccomp: a profile may not know close_range
    nnp = bool(process.get("noNewPrivileges"))
    if nnp:
        L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
    if job.seccomp is not None and not nnp:
        job.seccomp.load()  # needs CAP_SYS_ADMIN without no_new_privs: before the drop
    P.switch_identity(process)
    if not chdir_done:
        P.chdir(cwd)
    if wait_for_start:
        chan.send(created=True)
        fifo = os.open("exec.fifo", os.O_WRONLY | os.O_CLOEXEC, dir_fd=job.state_dir_fd)
        os.write(fifo, b"0")
        os.close(fifo)
        os.close(job.state_dir_fd)
        if _hooks(job, "startContainer"):
            from ketch.runtime.hooks import run_hooks
            run_hooks(_hooks(job, "startContainer"), hook_state, "startContainer")
    if job.seccomp is not None and nnp:
        job.seccomp.load()
    P.execve(path, process["args"], env)
