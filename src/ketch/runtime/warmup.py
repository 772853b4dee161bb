"""Start the cgroup attach lock's RCU grace period before the runtime needs it.

Moving a process into a cgroup takes cgroup_threadgroup_rwsem for writing,
and the first writer after a quiet spell waits for an RCU grace period (about
10 ms here, with HZ=250) while the lock switches to its slow mode; writers in
the following grace period pass straight through. runc pays this on every
container start. ketch-runtime instead forks a throwaway child at startup that
writes its own pid into its own cgroup (a no-op move), so the grace period
elapses while the runtime is still importing and reading config.json.
"""

from __future__ import annotations

import os

CGROUP_ROOT = "/sys/fs/cgroup"


def own_cgroup_procs() -> str | None:
    """The cgroup.procs file of this process's own cgroup in some hierarchy."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        directory = controllers.removeprefix("name=") if controllers else ""
        candidate = os.path.join(CGROUP_ROOT, directory, path.lstrip("/"), "cgroup.procs")
        if os.path.exists(candidate):
            return candidate
    return None


def warm_attach_lock() -> None:
    procs = own_cgroup_procs()
    if procs is None:
        return
    if os.fork() == 0:  # pragma: no cover - the child only writes and exits
        try:
            fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass
        os._exit(0)
