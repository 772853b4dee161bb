"""pause/unpause, top and container prune against a private ketchd, through the docker
CLI and docker-py, with dockerd 20.10's answers to the same commands."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import docker as docker_py
import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def cli(kd: Ketchd, *args: str) -> tuple[int, str, str]:
    proc = docker_cli(kd, *args)
    return proc.returncode, proc.stdout, proc.stderr


def test_pause_and_unpause(kd: Ketchd) -> None:
    ok(docker_cli(kd, "run", "-d", "--name", "p1", "--network", "none", "busybox", "sh", "-c",
                  # a counter, not the time: busybox's date has no %N, so the time
                  # would stay the same for a second, paused or not
                  "i=0; while true; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.05; done"))
    ok(docker_cli(kd, "create", "--name", "p2", "busybox", "true"))
    p1 = ok(docker_cli(kd, "inspect", "-f", "{{.Id}}", "p1")).strip()
    p2 = ok(docker_cli(kd, "inspect", "-f", "{{.Id}}", "p2")).strip()
    assert cli(kd, "pause", "p1") == (0, "p1\n", "")
    tick = ok(docker_cli(kd, "cp", "p1:/tmp/tick", "-"))
    time.sleep(0.3)
    assert ok(docker_cli(kd, "cp", "p1:/tmp/tick", "-")) == tick  # frozen: no more ticks
    assert cli(kd, "pause", "p1") == (
        1, "", f"Error response from daemon: Container {p1} is already paused\n")
    assert ok(docker_cli(kd, "ps", "--filter", "status=paused", "--format",
                         "{{.Names}} {{.Status}}")).endswith("(Paused)\n")
    state = json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .State}}", "p1")))
    assert (state["Status"], state["Running"], state["Paused"]) == ("paused", True, True)
    assert ok(docker_cli(kd, "info", "-f", "{{.ContainersPaused}}")) == "1\n"
    assert cli(kd, "exec", "p1", "true") == (
        1, "", "Error response from daemon: Container p1 is paused, unpause the container "
               "before exec\n")
    assert cli(kd, "pause", "p1", "p2") == (
        1, "", f"Error response from daemon: Container {p1} is already paused\n"
               f"Error response from daemon: Container {p2} is not running\n")
    assert cli(kd, "unpause", "p1") == (0, "p1\n", "")
    assert cli(kd, "unpause", "p1") == (
        1, "", f"Error response from daemon: Container {p1} is not paused\n")
    time.sleep(0.3)
    assert ok(docker_cli(kd, "cp", "p1:/tmp/tick", "-")) != tick  # thawed: it ticks again
    # a paused container stops: its SIGTERM waits, then SIGKILL (and a thaw) ends it
    ok(docker_cli(kd, "pause", "p1"))
    start = time.monotonic()
    assert cli(kd, "stop", "-t", "1", "p1") == (0, "p1\n", "")
    assert time.monotonic() - start < 10
    assert ok(docker_cli(kd, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} "
                         "{{.State.Paused}}", "p1")) == "exited 137 false\n"
    client = docker_py.APIClient(base_url=kd.host, version="1.41")
    try:
        with pytest.raises(docker_py.errors.APIError) as err:
            client.pause("p2")
        assert err.value.status_code == 409
    finally:
        client.close()


def test_top(kd: Ketchd) -> None:
    ok(docker_cli(kd, "run", "-d", "--name", "t1", "--network", "none", "busybox", "sh",
                  "-c", "sleep 300"))
    code, out, _ = cli(kd, "top", "t1")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY",
                                              "TIME", "CMD"]
    assert lines[0].startswith("UID" + " " * 17 + "PID")  # the CLI's 20-wide columns
    assert [line.split()[-2:] for line in lines[1:]] == [["sleep", "300"]]
    code, out, _ = cli(kd, "top", "t1", "-o", "pid,comm")
    assert out.split() == ["PID", "COMMAND", out.split()[2], "sleep"]
    client = docker_py.APIClient(base_url=kd.host, version="1.41")
    try:
        answer = client.top("t1")
        assert answer["Titles"][-1] == "CMD" and answer["Processes"][0][-1] == "sleep 300"
    finally:
        client.close()
    ok(docker_cli(kd, "create", "--name", "t2", "busybox", "true"))
    t2 = ok(docker_cli(kd, "inspect", "-f", "{{.Id}}", "t2")).strip()
    assert cli(kd, "top", "t2") == (
        1, "", f"Error response from daemon: Container {t2} is not running\n")


def test_container_prune(kd: Ketchd) -> None:
    ok(docker_cli(kd, "run", "-d", "--name", "keep", "--network", "none", "busybox",
                  "sleep", "300"))
    ok(docker_cli(kd, "create", "--name", "old", "--label", "team=a", "busybox", "true"))
    ok(docker_cli(kd, "create", "--name", "other", "--label", "team=b", "busybox", "true"))
    old = ok(docker_cli(kd, "inspect", "-f", "{{.Id}}", "old")).strip()
    code, out, _ = cli(kd, "container", "prune", "-f", "--filter", "label=team=a")
    assert (code, out) == (0, f"Deleted Containers:\n{old}\n\nTotal reclaimed space: 0B\n")
    client = docker_py.APIClient(base_url=kd.host, version="1.41")
    try:
        report = client.prune_containers()
        names = {c["Names"][0] for c in client.containers(all=True)}
        assert "/keep" in names and "/other" not in names
        assert isinstance(report["SpaceReclaimed"], int)
        with pytest.raises(docker_py.errors.APIError) as bad:
            client.prune_containers(filters={"nope": "x"})
        assert bad.value.status_code == 400
    finally:
        client.close()
