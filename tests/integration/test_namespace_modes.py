"""--pid, --ipc, --uts, --cgroupns and --userns as dockerd 20.10 answers them on this
machine (cgroup v1): the host's namespaces, another running container's (IPC only from a
shareable one, with its /dev/shm), no /dev/shm for --ipc none, and Docker's errors, for
the docker CLI and ketch's alike; and the other run flags ketch's CLI lacked."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from support.daemon import Ketchd, docker, ok, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def test_the_hosts_namespaces(ketchd: Ketchd) -> None:
    own = ok(docker(ketchd, "run", "--rm", "busybox", "sh", "-c", "ps -o pid | wc -l"))
    host = ok(docker(ketchd, "run", "--rm", "--pid", "host", "busybox", "sh", "-c",
                     "ps -o pid | wc -l"))
    assert int(own) <= 4 < int(host)  # the container's two or three, or every host process
    assert ok(docker(ketchd, "run", "--rm", "--uts", "host", "busybox",
                     "hostname")).strip() == socket.gethostname()
    assert os.uname().nodename == socket.gethostname()  # nothing set the host's name
    # the host's /dev/shm: a file made there is seen
    marker = f"/dev/shm/ketch-test-{os.getpid()}"
    with open(marker, "w") as f:
        f.write("host")
    try:
        assert ok(docker(ketchd, "run", "--rm", "--ipc", "host", "busybox", "cat",
                         marker)) == "host"
    finally:
        os.unlink(marker)
    assert ok(docker(ketchd, "run", "--rm", "--ipc", "host", "busybox", "sh", "-c",
                     "readlink /proc/self/ns/ipc")).strip() == os.readlink("/proc/self/ns/ipc")
    none = docker(ketchd, "run", "--rm", "--ipc", "none", "busybox", "ls", "/dev/shm")
    assert none.returncode != 0 and "No such file or directory" in none.stderr
    # a private cgroup namespace: the container's cgroup is its root
    assert ok(docker(ketchd, "run", "--rm", "--cgroupns", "private", "busybox", "sh", "-c",
                     "grep -c ':/$' /proc/self/cgroup")).strip() != "0"
    inspect = ok(docker(ketchd, "create", "--name", "modes", "busybox"))
    modes = ok(docker(ketchd, "inspect", "-f", "{{.HostConfig.IpcMode}} "
                      "{{.HostConfig.PidMode}} {{.HostConfig.UTSMode}}", inspect.strip()))
    assert modes.split() == ["private"]
    ok(docker(ketchd, "rm", "modes"))


def test_another_containers_namespaces(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "run", "-d", "--name", "donor", "busybox", "sleep", "300"))
    ok(docker(ketchd, "run", "-d", "--name", "sharer", "--ipc", "shareable", "busybox", "sh",
              "-c", "echo hi > /dev/shm/x; sleep 300"))
    try:
        ps = ok(docker(ketchd, "run", "--rm", "--pid", "container:donor", "busybox", "ps",
                       "-o", "args"))
        assert "sleep 300" in ps
        refused = docker(ketchd, "run", "--rm", "--ipc", "container:donor", "busybox", "true")
        assert refused.returncode == 125 and "non-shareable IPC (hint: use " \
            "IpcMode:shareable for the donor container)" in refused.stderr
        deadline = 50
        while deadline and ok(docker(ketchd, "exec", "sharer", "ls", "/dev/shm")) != "x\n":
            deadline -= 1
        assert ok(docker(ketchd, "run", "--rm", "--ipc", "container:sharer", "busybox", "cat",
                         "/dev/shm/x")) == "hi\n"
        ipc = ok(docker(ketchd, "exec", "sharer", "readlink", "/proc/self/ns/ipc"))
        assert ok(docker(ketchd, "run", "--rm", "--ipc", "container:sharer", "busybox",
                         "readlink", "/proc/self/ns/ipc")) == ipc
        ok(docker(ketchd, "stop", "-t", "0", "donor"))
        stopped = docker(ketchd, "run", "--rm", "--pid", "container:donor", "busybox", "true")
        assert stopped.returncode == 125 and "is not running" in stopped.stderr
        sharer = ok(docker(ketchd, "inspect", "-f", "{{.Id}}", "sharer")).strip()
        shm = ketchd.data_root / "containers" / sharer / "shm"
        assert os.path.ismount(shm)
        ok(docker(ketchd, "rm", "-f", "sharer"))
        assert not os.path.ismount(shm)
    finally:
        docker(ketchd, "rm", "-f", "donor", "sharer")


@pytest.mark.parametrize(("args", "words"), [
    (["--pid", "container:nope"], "No such container: nope"),
    (["--ipc", "container:nope"], "No such container: nope"),
    (["--network", "container:nope"], "No such container: nope"),
    (["--uts", "host", "--hostname", "x"], "conflicting options: hostname and the UTS mode"),
    (["--pid", "bogus"], "--pid: invalid PID mode"),
    (["--uts", "bogus"], "--uts: invalid UTS mode"),
    (["--cgroupns", "bogus"], "--cgroupns: invalid CGROUP mode"),
    (["--userns", "bogus"], "--userns: invalid USER mode"),
])
def test_bad_modes(ketchd: Ketchd, args: list[str], words: str) -> None:
    before = ok(docker(ketchd, "ps", "-aq"))
    for cli in ("docker", "ketch"):
        refused = docker(ketchd, "create", *args, "busybox") if cli == "docker" else \
            ketch_cli(ketchd, "create", *args, "busybox")
        assert refused.returncode != 0 and words in refused.stderr, (cli, refused.stderr)
        assert "Unable to find image" not in refused.stderr  # not taken for a missing image
    assert ok(docker(ketchd, "ps", "-aq")) == before


def ketch_cli(ketchd: Ketchd, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", *args], env=ketchd.env(),
                          capture_output=True, text=True, timeout=60, check=False)


def test_other_run_flags(ketchd: Ketchd, tmp_path: Any) -> None:
    """--cidfile, --label-file, --runtime and --storage-opt, with the docker CLI's and
    ketch's CLI alike."""
    labels = tmp_path / "labels"
    labels.write_text("# team labels\n\na=1\n  b=two words\nbare\n")
    for run in (lambda *a: docker(ketchd, *a), lambda *a: ketch_cli(ketchd, *a)):
        cidfile = tmp_path / "cid"
        made = ok(run("create", "--cidfile", str(cidfile), "--label-file", str(labels),
                      "--label", "a=2", "--runtime", "runc", "busybox"))
        assert cidfile.read_text() == made.strip()
        info = json.loads(ok(docker(ketchd, "inspect", made.strip())))[0]
        # a key without a value is dropped from a file, as the docker CLI does
        assert info["Config"]["Labels"] == {"a": "2", "b": "two words"}
        assert info["HostConfig"]["ContainerIDFile"] == str(cidfile)
        again = run("create", "--cidfile", str(cidfile), "busybox")
        assert again.returncode == 1 and "container ID file found" in again.stderr
        again = run("run", "--cidfile", str(cidfile), "busybox", "true")
        assert again.returncode == 125 and "container ID file found" in again.stderr
        ok(docker(ketchd, "rm", made.strip()))
        cidfile.unlink()
        # a failed create leaves no file behind
        failed = run("create", "--cidfile", str(cidfile), "--runtime", "nope", "busybox")
        assert failed.returncode != 0 and "unknown or invalid runtime name: nope" in \
            failed.stderr and not cidfile.exists()
        # no proportional I/O weight on this kernel: dockerd's warning, the weight dropped
        weighted = run("create", "--blkio-weight", "500", "busybox")
        assert weighted.returncode == 0 and "WARNING: Your kernel does not support Block " \
            "I/O weight or the cgroup is not mounted. Weight discarded." in weighted.stderr
        assert ok(docker(ketchd, "inspect", "-f", "{{.HostConfig.BlkioWeight}}",
                         weighted.stdout.strip())).strip() == "0"
        ok(docker(ketchd, "rm", weighted.stdout.strip()))
        light = run("create", "--blkio-weight", "5", "busybox")
        assert light.returncode != 0 and "Range of blkio weight is from 10 to 1000" in \
            light.stderr
        quota = run("create", "--storage-opt", "size=1G", "busybox")
        assert quota.returncode != 0 and "--storage-opt is supported only for overlay over " \
            "xfs with 'pquota' mount option" in quota.stderr, quota.stderr
