"""What a review found: a flooding client, hostile container files, a dying supervisor,
restrictions that must not be ignored, and bad query parameters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, api, docker, ok, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def test_a_stdin_flood_stalls_nobody(ketchd: Ketchd) -> None:
    flood = subprocess.Popen(["sh", "-c", "head -c 3000000 /dev/zero | docker run -i --name "
                              "flood busybox sleep 1000"], env=ketchd.env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        other = docker(ketchd, "run", "--rm", "busybox", "echo", "still here", timeout=10)
        assert other.stdout == "still here\n"
    finally:
        docker(ketchd, "rm", "-f", "flood")
        flood.kill()
        flood.wait()


def test_restrictions_are_honoured_or_refused(ketchd: Ketchd) -> None:
    proc = docker(ketchd, "run", "--rm", "--cap-drop", "ALL", "--security-opt",
                  "no-new-privileges", "-m", "16m", "busybox", "sh", "-c",
                  "grep -E 'CapEff|NoNewPrivs' /proc/self/status;"
                  " cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
    assert proc.stdout.split() == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1",
                                   str(16 << 20)], proc.stderr
    # a device node made inside opens only when a --device-cgroup-rule allows it
    # (10:237 is /dev/loop-control, not among the default devices)
    probe = "mknod /tmp/lc c 10 237 && head -c0 < /tmp/lc && echo opened"
    denied = docker(ketchd, "run", "--rm", "busybox", "sh", "-c", probe)
    assert "Operation not permitted" in denied.stderr and "opened" not in denied.stdout
    for rule in ("c 10:237 rw", "c 10:* r", "a *:* rwm"):
        allowed = docker(ketchd, "run", "--rm", "--device-cgroup-rule", rule, "busybox",
                         "sh", "-c", probe)
        assert allowed.stdout == "opened\n", (rule, allowed.stderr)
    made = ok(docker(ketchd, "create", "--device-cgroup-rule", "c 7:128 rwm", "busybox"))
    assert ok(docker(ketchd, "inspect", "-f", "{{json .HostConfig.DeviceCgroupRules}}",
                     made.strip())).strip() == '["c 7:128 rwm"]'
    ok(docker(ketchd, "rm", made.strip()))
    for rule in ("c 1:3 x", "d 1:3 r", "c 1 r"):
        refused = docker(ketchd, "run", "--rm", "--device-cgroup-rule", rule, "busybox", "true")
        assert refused.returncode == 125 and f"invalid device cgroup format '{rule}'" \
            in refused.stderr, refused.stderr
        # past the CLI, the daemon refuses it at create
        status, body = api(ketchd, "POST", "/containers/create", json.dumps(
            {"Image": "busybox", "HostConfig": {"DeviceCgroupRules": [rule]}}).encode(),
            "Content-Type: application/json\r\n")
        assert status == 400 and f"invalid device cgroup rule format: '{rule}'" in \
            json.loads(body)["message"]
    bad = docker(ketchd, "run", "--rm", "--cap-add", "bogus", "busybox", "true")
    assert bad.returncode == 125 and 'unknown capability: "CAP_BOGUS"' in bad.stderr
    assert docker(ketchd, "run", "--rm", "--entrypoint", "", "busybox", "echo", "hi").stdout \
        == "hi\n"


def _merged(ketchd: Ketchd, name: str) -> Path:
    info = json.loads(docker(ketchd, "inspect", name).stdout)[0]
    return Path(info["GraphDriver"]["Data"]["MergedDir"])


def test_hostile_passwd_cannot_hang_or_leak(ketchd: Ketchd, tmp_path: Path) -> None:
    docker(ketchd, "create", "--name", "fifo", "-u", "1000", "busybox", "true")
    passwd = _merged(ketchd, "fifo") / "etc/passwd"
    passwd.unlink()
    os.mkfifo(passwd)
    started = time.monotonic()
    proc = docker(ketchd, "start", "fifo", timeout=15)
    assert time.monotonic() - started < 10
    assert proc.returncode == 0 or "passwd" in proc.stderr
    host = tmp_path / "hostetc"
    host.mkdir()
    (host / "passwd").write_text("hostonly:x:4242:4242::/:/bin/sh\n")
    docker(ketchd, "create", "--name", "link", "-u", "hostonly", "busybox", "id", "-u")
    etc = _merged(ketchd, "link") / "etc"
    subprocess.run(["rm", "-rf", str(etc)], check=True)
    etc.symlink_to(host)
    proc = docker(ketchd, "start", "-a", "link")
    assert "4242" not in proc.stdout
    assert "unable to find user hostonly" in proc.stderr
    assert docker(ketchd, "version").returncode == 0  # the daemon still answers


def test_a_dead_supervisor_is_noticed(ketchd: Ketchd) -> None:
    assert docker(ketchd, "run", "-d", "--name", "orphan", "busybox", "sleep", "600") \
        .returncode == 0
    pid = json.loads(docker(ketchd, "inspect", "orphan").stdout)[0]["State"]["Pid"]
    supervisor = ketchd.supervisor_pid()
    assert supervisor
    os.kill(supervisor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)  # its containers lose their keeper; this one dies
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = json.loads(docker(ketchd, "inspect", "orphan").stdout)[0]["State"]
        if state["Status"] == "exited":
            break
        time.sleep(0.2)
    assert state["Status"] == "exited" and state["ExitCode"] == 255
    assert docker(ketchd, "rm", "-f", "orphan", timeout=15).returncode == 0
    assert docker(ketchd, "run", "--rm", "busybox", "echo", "back").stdout == "back\n"


def test_bad_query_parameters(ketchd: Ketchd) -> None:
    docker(ketchd, "create", "--name", "qq", "busybox", "true")
    for path in ("/containers/qq/wait?condition=bogus", "/containers/qq/logs?stdout=1&since=abc",
                 "/containers/qq/logs?stdout=1&tail=abc"):
        method = "POST" if "wait" in path else "GET"
        status, body = api(ketchd, method, path)
        assert status == 400, (path, body)
        assert json.loads(body)["message"].startswith("invalid")
    status, _ = api(ketchd, "POST", "/containers/qq/kill?signal=999")
    assert status == 400


def test_racing_lifecycle_calls_leave_nothing_behind(ketchd: Ketchd) -> None:
    """stop, kill, restart and rm -f at once on the same containers, a few rounds: each
    answers with a Docker status, never a 500 or a hang, and once all are removed no
    record, dir or mount is left (this once found a descriptor closed twice)."""
    for _round in range(3):
        names = [f"race{i}" for i in range(4)]
        for name in names:
            assert docker(ketchd, "run", "-d", "--name", name, "busybox", "sleep", "100"
                          ).returncode == 0
        procs = [subprocess.Popen(["docker", *verb, name], env=ketchd.env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for name in names
                 for verb in (["stop", "-t", "1"], ["kill"], ["restart", "-t", "0"],
                              ["rm", "-f"])]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        # (an unexpected exception answers 500 "internal error: ..."; IDs may hold "500")
        assert not [e for e in errors if "internal error" in e]
        # a restart in flight finishes before the rm -f (which then kills it) or finds
        # the container gone
        assert docker(ketchd, "ps", "-aq").stdout.split() == []
    assert "internal error" not in ketchd.log.read_text()
    assert "Traceback" not in (ketchd.exec_root / "supervisor.log").read_text()
    time.sleep(0.5)  # files go after the answer
    assert list((ketchd.data_root / "containers").iterdir()) == []
    assert list((ketchd.data_root / "overlay").iterdir()) == []
    with open("/proc/self/mountinfo") as f:
        assert str(ketchd.data_root) not in f.read()
