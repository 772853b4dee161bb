"""Integration tests for `GET /containers/{id}/changes` end to end: real containers on a
private ketchd (overlay2, and vfs from daemon.json), read by the docker CLI and ketch's.

Each command's expected list is what Docker 20.10 reported for the same `docker run
busybox sh -c ...` (identical for its overlay2 and vfs drivers). Docker's order between
sibling subtrees is random; ours is by name, a directory's deletions after its other
entries, as Docker always puts them.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, api, docker, running_ketchd

pytestmark = pytest.mark.integration

KETCH = "/opt/ketch/bin/ketch"
USR_SBIN = ["arping", "brctl", "crond", "fsfreeze", "httpd", "i2cdetect", "i2cdump", "i2cget",
            "i2cset", "i2ctransfer", "loadfont", "mim", "nologin", "partprobe", "rdate",
            "telnetd", "ubirename", "udhcpd"]
DOCKER_SAYS = {
    "mkdir /x; echo > /x/y; rm /etc/passwd; echo >> /etc/group; touch /bin/busybox":
        ["C /bin", "C /bin/busybox", "C /etc", "C /etc/group", "D /etc/passwd", "A /x",
         "A /x/y"],
    "echo > /usr/bin/newfile": ["C /usr", "C /usr/bin", "A /usr/bin/newfile"],
    "rm -r /var/spool": ["C /var", "D /var/spool"],
    "rm -r /var/www; mkdir /var/www; touch /var/www/a":
        ["C /var", "C /var/www", "A /var/www/a"],
    "rm -r /var/spool; mkdir -p /var/spool/mail; touch /var/spool/mail/x":
        ["C /var", "C /var/spool", "C /var/spool/mail", "A /var/spool/mail/x"],
    "true": [],
    "chmod 700 /tmp; ln -s /x /tmp/l; mkfifo /tmp/f; ln /bin/busybox /tmp/h":
        ["C /tmp", "A /tmp/f", "A /tmp/h", "A /tmp/l"],
    "mkdir -p /a/b/c; touch /a/b/c/d; rm /etc/shadow /etc/passwd":
        ["A /a", "A /a/b", "A /a/b/c", "A /a/b/c/d", "C /etc", "D /etc/passwd",
         "D /etc/shadow"],
    "touch /etc; chown 1:1 /home": ["C /home"],
    "mv /etc/group /etc/group2": ["C /etc", "A /etc/group2", "D /etc/group"],
    "echo x > /etc/newf; rm /etc/newf": [],
    "rm -r /usr/sbin; mkdir /usr/sbin; touch /usr/sbin/chroot /usr/sbin/new":
        ["C /usr", "C /usr/sbin", "C /usr/sbin/chroot", "A /usr/sbin/new",
         *(f"D /usr/sbin/{name}" for name in USR_SBIN)],
    "rm /etc/group; mkdir /etc/group; touch /etc/group/x; rm -r /var/spool; echo > /var/spool":
        ["C /etc", "C /etc/group", "A /etc/group/x", "C /var", "C /var/spool"],
    "chmod 600 /etc/group; chown 5 /etc/shadow; chown -h 7 /bin/sh":
        ["C /bin", "C /bin/sh", "C /etc", "C /etc/group", "C /etc/shadow"],
    "rm -r /var; mkdir /var": ["C /var", "D /var/spool", "D /var/www"],
    "mkdir -p /root/.cache; rmdir /root/.cache; touch /root; chmod 755 /root": ["C /root"],
    "rm /bin/sh; ln -s busybox /bin/sh": ["C /bin", "C /bin/sh"],
}


@pytest.fixture(scope="module", params=["overlay2", "vfs"])
def kd(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[Ketchd]:
    top = tmp_path_factory.mktemp(f"diff-{request.param}")
    with running_ketchd(top, config={"storage-driver": request.param}) as daemon:
        yield daemon


def _ketch(kd: Ketchd, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KETCH, "-H", kd.host, *args], env=kd.env(), capture_output=True,
                          text=True, timeout=30, check=False)


def test_the_storage_driver_comes_from_daemon_json(kd: Ketchd) -> None:
    driver = json.loads(kd.config.read_text())["storage-driver"]
    assert docker(kd, "info", "--format", "{{.Driver}}").stdout.strip() == driver
    create = docker(kd, "create", "busybox", "true")
    assert create.returncode == 0, create.stderr
    cid = create.stdout.strip()
    inspect = json.loads(docker(kd, "inspect", cid).stdout)[0]
    assert inspect["Driver"] == inspect["GraphDriver"]["Name"] == driver
    if driver == "vfs":
        assert inspect["GraphDriver"]["Data"] is None
    else:
        assert inspect["GraphDriver"]["Data"]["UpperDir"].endswith(f"/overlay/{cid}/upper")
    assert docker(kd, "rm", cid).returncode == 0


def test_docker_diff_lists_what_docker_does(kd: Ketchd) -> None:
    for i, (command, expected) in enumerate(DOCKER_SAYS.items()):
        run = docker(kd, "run", "--name", f"d{i}", "busybox", "sh", "-c", command)
        assert run.returncode == 0, (command, run.stderr)
        diff = docker(kd, "diff", f"d{i}")
        assert diff.returncode == 0, diff.stderr
        assert diff.stdout.splitlines() == expected, command
    diff = _ketch(kd, "diff", "d0")
    assert (diff.returncode, diff.stdout) == (0, "C /bin\nC /bin/busybox\nC /etc\nC /etc/group"
                                                 "\nD /etc/passwd\nA /x\nA /x/y\n")
    assert _ketch(kd, "container", "diff", "d0").stdout == diff.stdout


def test_the_api_answers_as_docker(kd: Ketchd) -> None:
    assert docker(kd, "create", "--name", "fresh", "busybox").returncode == 0
    status, body = api(kd, "GET", "/v1.41/containers/fresh/changes")
    assert (status, body) == (200, b"null")  # Docker's answer when nothing changed
    run = docker(kd, "run", "--name", "one", "busybox", "touch", "/tmp/t")
    assert run.returncode == 0, run.stderr
    status, body = api(kd, "GET", "/containers/one/changes")
    assert status == 200
    assert json.loads(body) == [{"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/t", "Kind": 1}]
    status, body = api(kd, "GET", "/containers/nothere/changes")
    assert (status, json.loads(body)) == (404, {"message": "No such container: nothere"})
    missing = docker(kd, "diff", "nothere")
    assert (missing.returncode, missing.stderr.strip()) == (
        1, "Error response from daemon: No such container: nothere")
    usage = _ketch(kd, "diff")
    assert usage.returncode == 1 and "'ketch diff' requires 1 argument" in usage.stderr


def test_a_running_container_shows_its_changes(kd: Ketchd) -> None:
    run = docker(kd, "run", "-d", "--name", "busy", "busybox", "sh", "-c",
                 "mkdir /work; rm /etc/shadow; echo 1 > /work/n; exec sleep 60")
    assert run.returncode == 0, run.stderr
    expected = ["C /etc", "D /etc/shadow", "A /work", "A /work/n"]
    deadline = time.monotonic() + 20
    while True:
        lines = docker(kd, "diff", "busy").stdout.splitlines()
        if lines == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lines == expected
    assert json.loads(docker(kd, "inspect", "busy").stdout)[0]["State"]["Running"]
    assert docker(kd, "stop", "-t", "0", "busy").returncode == 0
    assert docker(kd, "diff", "busy").stdout.splitlines() == expected
    assert docker(kd, "rm", "busy").returncode == 0


def test_a_restarted_daemon_keeps_its_driver(kd: Ketchd, tmp_path: Path) -> None:
    driver = json.loads(kd.config.read_text())["storage-driver"]
    assert docker(kd, "run", "--name", "kept", "busybox", "touch", "/k").returncode == 0
    kd.config.write_text("{}")  # unset now: the snapshots on disk decide
    try:
        assert kd.proc is not None
        kd.proc.terminate()
        kd.proc.wait(10)
        kd.start()
        assert docker(kd, "info", "--format", "{{.Driver}}").stdout.strip() == driver
        assert docker(kd, "diff", "kept").stdout.splitlines() == ["A /k"]
        start = docker(kd, "start", "-a", "kept")
        assert start.returncode == 0, start.stderr
    finally:
        kd.config.write_text(json.dumps({"storage-driver": driver}))
