"""Network namespaces the engine owns: made before a container starts, kept as files.

A container's network namespace is created by the engine (not by the runtime), bound
onto a file under the exec root (Docker's SandboxKey), configured there, and handed to
the runtime as a namespace path to join. So the network is ready before the container's
first instruction, and it can be torn down or rebuilt without the container's help.

Entering a namespace is per thread (setns(CLONE_NEWNET) changes only the caller), so
every excursion runs on a short-lived thread of its own: the daemon never forks, and no
pool thread is ever left in a container's namespace.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

from ketch.errors import HostError
from ketch.runtime import linux as L

T = TypeVar("T")


def run_in(path: str | None, fn: Callable[[], T]) -> T:
    """fn() on a fresh thread inside the namespace at `path` (None: a brand-new one)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            if path is None:
                L.unshare(L.CLONE_NEWNET)
            else:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    L.setns(fd, L.CLONE_NEWNET)
                finally:
                    os.close(fd)
            result.append(fn())
        except BaseException as e:  # handed to the caller's thread
            failure.append(e)

    thread = threading.Thread(target=work, name="netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def create(path: str) -> None:
    """A new network namespace, kept alive by a bind mount on `path`."""
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)

    def bind() -> None:
        L.mount("/proc/thread-self/ns/net", path, None, L.MS_BIND)

    try:
        run_in(None, bind)
    except OSError as e:
        os.unlink(path)
        raise HostError(f"cannot create a network namespace: {e.strerror}") from None


def remove(path: str) -> None:
    """Let go of the namespace: it goes away with its last process, veths and all."""
    try:
        L.umount2(path, L.MNT_DETACH)
    except OSError:
        pass  # not mounted (a crash between create's two steps)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
