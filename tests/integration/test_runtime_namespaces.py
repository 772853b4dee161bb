"""Namespaces: new ones, joined ones (by path), user namespaces with id mappings."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.bundles import Bundle, Runtime, run

pytestmark = pytest.mark.integration


def ns_of(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_every_requested_namespace_is_new(runtime: Runtime, bundle: Bundle) -> None:
    kinds = ("pid", "net", "ipc", "uts", "mnt", "cgroup")
    proc = run(runtime, bundle.sh("; ".join(f"readlink /proc/self/ns/{k}" for k in kinds)))
    inside = proc.stdout.split()
    assert len(inside) == len(kinds)
    for kind, value in zip(kinds, inside, strict=True):
        assert value != ns_of("self", kind), kind


def test_host_namespace_when_not_listed(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["namespaces"] = [ns for ns in bundle.linux["namespaces"]
                                  if ns["type"] not in ("network", "ipc")]
    proc = run(runtime, bundle.sh("readlink /proc/self/ns/net; readlink /proc/self/ns/ipc"))
    assert proc.stdout.split() == [ns_of("self", "net"), ns_of("self", "ipc")]


def test_join_namespaces_of_another_container(runtime: Runtime, bundle: Bundle) -> None:
    bundle.args("sleep", "60").write()
    first = runtime.new_id()
    runtime("run", "-d", "--bundle", str(bundle.path), first, check=True)
    pid = runtime.state(first)["pid"]
    for ns in bundle.linux["namespaces"]:
        if ns["type"] in ("network", "ipc", "uts"):
            ns["path"] = f"/proc/{pid}/ns/{ns['type'].replace('network', 'net')}"
    bundle.config.pop("hostname", None)
    proc = run(runtime, bundle.sh("for n in net ipc uts pid; do readlink /proc/self/ns/$n; done"))
    net, ipc, uts, pidns = proc.stdout.split()
    assert (net, ipc, uts) == (ns_of(pid, "net"), ns_of(pid, "ipc"), ns_of(pid, "uts"))
    assert pidns != ns_of(pid, "pid")


@pytest.fixture
def userns_bundle(busybox_rootfs: Path) -> Iterator[Bundle]:
    """A bundle on a path the container's (unmapped-on-the-host) root can traverse:
    pytest's own temp root is mode 0700."""
    top = Path(tempfile.mkdtemp(prefix="ketch-userns-"))
    try:
        top.chmod(0o711)
        yield Bundle(top / "bundle", busybox_rootfs)
    finally:
        shutil.rmtree(top)


def test_user_namespace_with_mappings(runtime: Runtime, userns_bundle: Bundle) -> None:
    bundle = userns_bundle
    bundle.linux["namespaces"].append({"type": "user"})
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.linux.pop("resources", None)
    proc = run(runtime, bundle.sh(
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /root/x; echo root=$?;"
        " touch /tmp/made; echo tmp=$?"))
    assert proc.stdout.split() == ["0", "100000", "65536", "0", "100000", "65536", "0",
                                   "root=1", "tmp=0"], proc.stderr
    # /root belongs to the host's root, unmapped here: container root is not the host's
    assert os.stat(bundle.rootfs / "tmp/made").st_uid == 100000


def test_user_namespace_needs_mappings(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["namespaces"].append({"type": "user"})
    proc = run(runtime, bundle.args("true"))
    assert proc.returncode != 0
    assert "uidMappings" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_time_namespace_offsets(runtime: Runtime, bundle: Bundle) -> None:
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("no time namespaces on this kernel")
    bundle.linux["namespaces"].append({"type": "time"})
    bundle.linux["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    proc = run(runtime, bundle.args("cat", "/proc/uptime"))
    uptime = float(proc.stdout.split()[0])
    assert uptime >= before + 86400 * 365 - 5
