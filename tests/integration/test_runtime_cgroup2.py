"""The runtime on a cgroup v2 host, made here in a private mount namespace: cgroup2 at
/sys/fs/cgroup (this hybrid host leaves it only the hugetlb controller, but that is
enough for the container's cgroup, its cgroup2 mount and device rules through eBPF)."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from support.bundles import RUNTIME, Bundle, Runtime

pytestmark = pytest.mark.integration


def run_on_cgroup2(runtime: Runtime, bundle: Bundle,
                   *args: str) -> subprocess.CompletedProcess[str]:
    bundle.write()
    command = shlex.join([*RUNTIME, "--root", str(runtime.root), *args, "--bundle",
                          str(bundle.path), runtime.new_id()])
    script = ("umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && "
              f"{command}; echo rc=$?; ls /sys/fs/cgroup")
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60, check=False)


def test_container_on_a_cgroup2_host(runtime: Runtime, bundle: Bundle) -> None:
    for kind in ("bounding", "effective", "permitted"):
        bundle.process["capabilities"][kind].append("CAP_MKNOD")
    bundle.sh("cat /proc/self/cgroup | grep '^0::'; grep ' /sys/fs/cgroup ' /proc/self/mounts;"
              " head -c 1 /dev/null && echo null-ok; mknod /dev/m c 1 1 && head -c 1 /dev/m;"
              " echo mem=$?")
    proc = run_on_cgroup2(runtime, bundle, "run")
    out = proc.stdout
    assert "0::/\n" in out  # its own cgroup namespace, rooted at its cgroup
    assert "cgroup2 /sys/fs/cgroup cgroup2 ro" in out
    assert "null-ok" in out and "mem=1" in out and "rc=0" in out, (out, proc.stderr)
    assert "Operation not permitted" in proc.stderr  # the eBPF device filter said no
    assert runtime.ids[-1] not in out.split("rc=0")[1]  # the cgroup is gone again
