"""Docker's default security profile and the flags that change it, probed from inside
containers of a private ketchd through the docker CLI. The expected values are what
dockerd 20.10 answers to the same probes on this machine (reference §1 of
docker-security-profile.md): the 14 capabilities, seccomp filter mode, masked and
read-only paths, the default devices, and no capabilities for a non-root user."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, api, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration

DEFAULT_CAPS = "00000000a80425fb"  # CHOWN ... AUDIT_WRITE: the 14 of moby's defaults
PROBE = (
    'grep -E "^(CapEff|CapBnd|Seccomp|NoNewPrivs):" /proc/self/status | tr -d "\\t";'
    "unshare -U true 2>/dev/null; echo userns=$?;"
    "unshare -m true 2>/dev/null; echo mountns=$?;"
    "echo keys=$(cat /proc/keys | wc -c) firmware=$(ls /sys/firmware | wc -l);"
    "echo x 2>/dev/null > /proc/sys/kernel/domainname; echo rosys=$?;"
    "chroot / true 2>/dev/null; echo chroot=$?;"
    'echo dev=$(ls /dev | tr "\\n" " ")'
)
DEVICES = "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero"


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def probe(kd: Ketchd, *flags: str) -> dict[str, str]:
    out = ok(docker_cli(kd, "run", "--rm", "--network", "none", *flags, "busybox", "sh",
                        "-c", PROBE))
    found = {}
    for line in out.splitlines():
        if line.startswith("dev="):
            found["dev"] = line[4:]
            continue
        for item in line.replace(":", "=", 1).split():
            key, _, value = item.partition("=")
            found[key] = value
    return found


def test_the_default_profile(kd: Ketchd) -> None:
    assert probe(kd) == {
        "CapEff": DEFAULT_CAPS, "CapBnd": DEFAULT_CAPS, "NoNewPrivs": "0", "Seccomp": "2",
        "userns": "1",  # unshare(CLONE_NEWUSER) needs no capability: seccomp refuses it
        "mountns": "1", "keys": "0", "firmware": "0", "rosys": "1", "chroot": "0",
        "dev": DEVICES}


def test_a_non_root_user_has_no_effective_capabilities(kd: Ketchd) -> None:
    found = probe(kd, "--user", "1000")
    assert (found["CapEff"], found["CapBnd"], found["chroot"]) == ("0" * 16, DEFAULT_CAPS,
                                                                   "1")
    proc = docker_cli(kd, "run", "--rm", "--network", "none", "--user", "1000:1000",
                      "busybox", "chown", "100", "/tmp")
    assert proc.returncode == 1 and "Operation not permitted" in proc.stderr


def test_seccomp_choices(kd: Ketchd, tmp_path: Path) -> None:
    unconfined = probe(kd, "--security-opt", "seccomp=unconfined")
    assert (unconfined["Seccomp"], unconfined["userns"], unconfined["mountns"]) == (
        "0", "0", "1")  # no filter: a user namespace is allowed, a mount one needs the cap
    admin = probe(kd, "--cap-add", "SYS_ADMIN")
    assert (admin["Seccomp"], admin["userns"], admin["mountns"]) == ("2", "0", "0")
    assert admin["CapEff"] == "00000000a82425fb"
    dropped = probe(kd, "--cap-drop", "ALL")
    assert (dropped["CapEff"], dropped["CapBnd"], dropped["chroot"]) == ("0" * 16,) * 2 + (
        "1",)
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}))
    proc = docker_cli(kd, "run", "--rm", "--network", "none", "--security-opt",
                      f"seccomp={profile}", "busybox", "sh", "-c",
                      "mkdir /x; grep Seccomp: /proc/self/status")
    assert proc.stdout == "Seccomp:\t2\n"
    assert "mkdir: can't create directory '/x': Operation not permitted" in proc.stderr
    # execs run under the container's filter too
    ok(docker_cli(kd, "run", "-d", "--name", "filtered", "--network", "none", "busybox",
                  "sleep", "60"))
    proc = docker_cli(kd, "exec", "filtered", "unshare", "-U", "true")
    assert proc.returncode == 1 and "Operation not permitted" in proc.stderr
    ok(docker_cli(kd, "rm", "-f", "filtered"))


def test_systempaths_unconfined_and_privileged(kd: Ketchd) -> None:
    open_paths = probe(kd, "--security-opt", "systempaths=unconfined")
    assert open_paths["rosys"] == "0" and open_paths["firmware"] != "0"
    assert open_paths["Seccomp"] == "2"
    with open("/proc/self/status") as f:
        bounding = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    privileged = probe(kd, "--privileged")
    assert (privileged["CapEff"], privileged["Seccomp"], privileged["userns"],
            privileged["rosys"]) == (bounding, "0", "0", "0")
    host_devices = {e for e in os.listdir("/dev") if e not in ("pts", "shm", "mqueue",
                                                               "console", "fd")}
    inside = set(privileged["dev"].split())
    assert "loop-control" in inside or not os.path.exists("/dev/loop-control")
    assert len(inside & host_devices) > len(DEVICES.split())
    out = ok(docker_cli(kd, "run", "--rm", "--network", "none", "--privileged", "busybox",
                        "sh", "-c", "mount | grep ' /sys '"))
    assert "(rw," in out


def test_devices_sysctls_ulimits_groups(kd: Ketchd) -> None:
    st = os.stat("/dev/fuse")
    out = ok(docker_cli(kd, "run", "--rm", "--network", "none", "--device",
                        "/dev/fuse:/dev/f:r", "busybox", "stat", "-c", "%t:%T %a", "/dev/f"))
    assert out == f"{os.major(st.st_rdev):x}:{os.minor(st.st_rdev):x} " \
                  f"{oct(st.st_mode & 0o777)[2:]}\n"
    proc = docker_cli(kd, "run", "--rm", "--network", "none", "busybox", "ls", "/dev/fuse")
    assert proc.returncode == 1  # not there unless asked for
    assert ok(docker_cli(kd, "run", "--rm", "--sysctl", "net.ipv4.ip_forward=1",
                         "--sysctl", "kernel.shmmax=1234", "busybox", "sh", "-c",
                         "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax")
              ) == "1\n1234\n"
    assert ok(docker_cli(kd, "run", "--rm", "--network", "none", "--ulimit", "nofile=100:200",
                         "--ulimit", "nproc=50", "busybox", "sh", "-c",
                         "ulimit -n; ulimit -Hn; ulimit -u")) == "100\n200\n50\n"
    assert ok(docker_cli(kd, "run", "--rm", "--network", "none", "--group-add", "audio",
                         "--group-add", "1234", "busybox", "id")) == \
        "uid=0(root) gid=0(root) groups=0(root),10(wheel),29(audio),1234\n"
    assert ok(docker_cli(kd, "run", "--rm", "--network", "none", "--user", "nobody",
                         "--group-add", "audio", "busybox", "id")) == \
        "uid=65534(nobody) gid=65534(nogroup) groups=29(audio),65534(nogroup)\n"


def test_bad_input_creates_nothing(kd: Ketchd) -> None:
    before = ok(docker_cli(kd, "ps", "-aq"))
    for host, message in (
            ({"SecurityOpt": ["foo=bar"]}, 'invalid --security-opt 2: "foo=bar"'),
            ({"SecurityOpt": ["foo"]}, 'invalid --security-opt 1: "foo"'),
            ({"SecurityOpt": ["seccomp={bad"]}, "Decoding seccomp profile failed: "),
            ({"Devices": [{"PathOnHost": "/dev/nope"}]},
             'error gathering device information while adding custom device "/dev/nope": '
             "no such file or directory"),
            ({"Sysctls": {"kernel.panic": "1"}},
             "sysctl kernel.panic is not namespaced: it would change the host"),
            ({"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}},
             "sysctl net.ipv4.ip_forward is not allowed in the host network namespace"),
            ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]},
             "invalid ulimit type: bogus"),
            ({"Ulimits": [{"Name": "nofile", "Soft": 2, "Hard": 1}]},
             "ulimit soft limit must be less than or equal to hard limit: 2 > 1")):
        status, body = api(kd, "POST", "/containers/create",
                           json.dumps({"Image": "busybox", "HostConfig": host}).encode(),
                           "Content-Type: application/json\r\n")
        assert status == 400, (host, body)
        assert json.loads(body)["message"].startswith(message), (host, body)
    proc = docker_cli(kd, "run", "--rm", "--network", "none", "--group-add", "nosuch",
                      "busybox", "id")
    assert proc.returncode == 125
    assert "Unable to find group nosuch: no matching entries in group file" in proc.stderr
    assert ok(docker_cli(kd, "ps", "-aq")) == before
