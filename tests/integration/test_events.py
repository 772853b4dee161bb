"""`docker events` / `GET /events` against a private ketchd: the events dockerd 20.10 gives
for the same commands (captured on this machine), streamed live and from history with
since/until, filters, the docker CLI's and ketch's line formats, and docker-py."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import docker as docker_py
import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration
KETCH = "/opt/ketch/bin/ketch"


def ketch(kd: Ketchd, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KETCH, *args], env=kd.env(), capture_output=True, text=True,
                          timeout=30, check=False)


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


class Listener:
    """`docker events --format '{{json .}}'` running, its events collected."""

    def __init__(self, kd: Ketchd, *args: str) -> None:
        self.proc = subprocess.Popen(["docker", "events", "--format", "{{json .}}", *args],
                                     env=kd.env(), stdout=subprocess.PIPE, text=True)
        self.events: list[dict[str, Any]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def wait_for(self, action: str, actor: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e["Action"] == action and e["Actor"]["ID"] == actor for e in self.events):
                return
            time.sleep(0.05)
        raise AssertionError(f"no {action} of {actor} in {self.events}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def test_events_as_dockerd_gives_them(kd: Ketchd) -> None:
    listener = Listener(kd)
    time.sleep(0.5)  # the stream is open: the CLI has its headers by now
    try:
        net = ok(docker_cli(kd, "network", "create", "evnet")).strip()
        ok(docker_cli(kd, "volume", "create", "evvol"))
        ok(docker_cli(kd, "run", "--name", "evc", "--network", "evnet", "-v", "evvol:/v",
                      "busybox", "true"))
        evc = ok(docker_cli(kd, "inspect", "-f", "{{.Id}}", "evc")).strip()
        image = ok(docker_cli(kd, "inspect", "-f", "{{.Id}}", "busybox")).strip()
        ok(docker_cli(kd, "tag", "busybox", "evimg:1"))
        ok(docker_cli(kd, "rmi", "evimg:1"))
        ok(docker_cli(kd, "rename", "evc", "evc2"))
        ok(docker_cli(kd, "rm", "evc2"))
        ok(docker_cli(kd, "volume", "rm", "evvol"))
        ok(docker_cli(kd, "network", "rm", "evnet"))
        sx = ok(docker_cli(kd, "run", "-d", "--name", "sx", "--network", "none",
                           "busybox", "sleep", "100")).strip()
        ok(docker_cli(kd, "exec", "sx", "true"))
        ok(docker_cli(kd, "pause", "sx"))
        ok(docker_cli(kd, "unpause", "sx"))
        ok(docker_cli(kd, "stop", "-t", "1", "sx"))
        committed = ok(docker_cli(kd, "commit", "-m", "hi", "sx", "cimg")).strip()
        ok(docker_cli(kd, "rm", "sx"))
        ok(docker_cli(kd, "rmi", "cimg"))
        listener.wait_for("delete", committed)
    finally:
        listener.stop()
    seen = [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in listener.events]
    assert seen == [
        ("network", "create", net), ("volume", "create", "evvol"),
        ("volume", "create", "evvol"),  # run's create finds it: dockerd tells of it again
        ("container", "create", evc), ("container", "attach", evc),
        ("volume", "mount", "evvol"), ("network", "connect", net),
        ("container", "start", evc), ("container", "die", evc),
        ("network", "disconnect", net), ("volume", "unmount", "evvol"),
        ("image", "tag", image), ("image", "untag", image),
        ("container", "rename", evc), ("container", "destroy", evc),
        ("volume", "destroy", "evvol"), ("network", "destroy", net),
        ("container", "create", sx), ("network", "connect", seen[18][2]),
        ("container", "start", sx),
        ("container", "exec_create: true ", sx), ("container", "exec_start: true ", sx),
        ("container", "exec_die", sx), ("container", "pause", sx),
        ("container", "unpause", sx),
        ("container", "kill", sx), ("container", "kill", sx),  # SIGTERM, then SIGKILL
        ("container", "die", sx), ("network", "disconnect", seen[18][2]),
        ("container", "stop", sx),
        ("image", "tag", committed), ("container", "commit", sx),
        ("container", "destroy", sx), ("image", "untag", committed),
        ("image", "delete", committed),
    ]
    by = {(e["Action"], e["Actor"]["ID"]): e for e in listener.events}
    start = by[("start", evc)]
    assert (start["status"], start["id"], start["from"], start["scope"]) == (
        "start", evc, "busybox", "local")
    assert start["Actor"]["Attributes"] == {"image": "busybox", "name": "evc"}
    assert start["timeNano"] // 1_000_000_000 == start["time"]
    assert by[("die", evc)]["Actor"]["Attributes"]["exitCode"] == "0"
    assert by[("die", sx)]["Actor"]["Attributes"]["exitCode"] == "137"
    assert [e["Actor"]["Attributes"]["signal"] for e in listener.events
            if e["Action"] == "kill"] == ["15", "9"]
    connect = by[("connect", net)]
    assert "status" not in connect and "id" not in connect
    assert connect["Actor"]["Attributes"] == {"container": evc, "name": "evnet",
                                              "type": "bridge"}
    assert by[("mount", "evvol")]["Actor"]["Attributes"] == {
        "container": evc, "destination": "/v", "driver": "local", "propagation": "",
        "read/write": "true"}
    assert by[("rename", evc)]["Actor"]["Attributes"]["oldName"] == "/evc"
    assert by[("tag", image)]["Actor"]["Attributes"]["name"] == "evimg:1"
    commit = by[("commit", sx)]["Actor"]["Attributes"]
    assert (commit["comment"], commit["imageID"], commit["imageRef"]) == (
        "hi", committed, "cimg:latest")
    exec_die = by[("exec_die", sx)]["Actor"]["Attributes"]
    assert exec_die["exitCode"] == "0" and len(exec_die["execID"]) == 64
    times = [e["timeNano"] for e in listener.events]
    assert times == sorted(times)


def test_since_until_and_filters(kd: Ketchd) -> None:
    begin = time.time()
    assert docker_cli(kd, "run", "--name", "ev-one", "--label", "team=a", "--network", "none",
                      "busybox", "sh", "-c", "exit 3").returncode == 3
    ok(docker_cli(kd, "run", "--name", "ev-two", "--network", "none", "busybox", "true"))
    ok(docker_cli(kd, "network", "create", "fnet"))
    end = time.time()
    window = ("--since", f"{begin:.9f}", "--until", f"{end:.9f}")

    def actions(*args: str) -> list[str]:
        out = ok(docker_cli(kd, "events", *window, "--format",
                            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", *args))
        return out.splitlines()

    everything = actions()
    assert everything[-1] == "network create fnet"
    assert actions("--filter", "event=die") == ["container die ev-one", "container die ev-two"]
    assert actions("--filter", "container=ev-one", "--filter", "event=start") == [
        "container start ev-one"]
    assert actions("--filter", "label=team=a", "--filter", "event=die") == [
        "container die ev-one"]
    assert actions("--filter", "label=team") == [a for a in everything
                                                 if a.endswith("ev-one")]
    assert actions("--filter", "type=network", "--filter", "event=create") == [
        "network create fnet"]
    assert actions("--filter", "image=busybox", "--filter", "event=start") == [
        "container start ev-one", "container start ev-two"]
    assert actions("--filter", "event=die", "--filter", "event=destroy",
                   "--filter", "container=ev-two") == ["container die ev-two"]
    # until in the past: the kept events, then the end of the stream
    assert ok(docker_cli(kd, "events", "--since", f"{begin:.9f}", "--until",
                         f"{time.time():.9f}", "--filter", "event=die", "--format",
                         "{{.Actor.Attributes.exitCode}}")) == "3\n0\n"
    # until in the future: the stream ends by itself then, with what came meanwhile
    started = time.monotonic()
    now = time.time()
    later = subprocess.Popen(["docker", "events", "--since", f"{now:.3f}",
                              "--until", f"{now + 2:.3f}",
                              "--format", "{{.Action}}"], env=kd.env(),
                             stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    ok(docker_cli(kd, "network", "rm", "fnet"))
    out, _ = later.communicate(timeout=15)
    assert out == "destroy\n" and time.monotonic() - started < 6
    # bad input
    proc = docker_cli(kd, "events", "--since", "2m", "--until", "3m")
    assert proc.returncode == 1 and "cannot be after `until` time" in proc.stderr
    code, body = _get(kd, "/events?since=abc")
    assert (code, body) == (400, {"message": 'strconv.ParseInt: parsing "abc": '
                                             'invalid syntax'})


def _get(kd: Ketchd, path: str) -> tuple[int, Any]:
    from support.daemon import api

    status, body = api(kd, "GET", path)
    return status, json.loads(body)


def test_ketch_events_lines_as_docker_cli_prints_them(kd: Ketchd) -> None:
    begin = time.time()
    ok(docker_cli(kd, "run", "--name", "l1", "--network", "none", "-l", "z=1", "-l", "a=2",
                  "busybox", "true"))
    window = ("--since", f"{begin:.9f}", "--until", f"{time.time():.9f}")
    theirs = ok(docker_cli(kd, "events", *window))
    ours = ketch(kd, "events", *window)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs
    line = theirs.splitlines()[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container "
                        r"create [0-9a-f]{64} \(a=2, image=busybox, name=l1, z=1\)", line)
    for fmt in ("json", "{{.Status}} {{.From}} {{.Scope}} {{json .Actor.Attributes}}"):
        assert ketch(kd, "events", *window, "--format", fmt).stdout == \
            ok(docker_cli(kd, "events", *window, "--format", fmt))
    assert ketch(kd, "system", "events", *window, "--filter", "event=die",
                 "--format", "{{.Actor.Attributes.exitCode}}").stdout == "0\n"


def test_docker_py_events_and_health_status(kd: Ketchd) -> None:
    client = docker_py.DockerClient(base_url=kd.host)
    since = int(time.time()) - 1
    container = client.containers.run("busybox", ["sleep", "30"], detach=True,
                                      name="h1", network_mode="none",
                                      healthcheck={"test": ["CMD", "true"],
                                                   "interval": 200_000_000})
    stream = client.events(decode=True, since=since, filters={"container": "h1",
                                                              "event": "health_status"})
    try:
        event = next(stream)
    finally:
        stream.close()
    assert event["Action"] == "health_status: healthy"
    assert event["id"] == container.id and isinstance(event["timeNano"], int)
    container.remove(force=True)
    until = int(time.time()) + 1
    time.sleep(1.1)
    seen = list(client.events(decode=True, since=since, until=until,
                              filters={"type": "container", "container": container.id}))
    actions = [e["Action"] for e in seen]
    assert actions[:2] == ["create", "start"]
    assert actions[-3:] == ["kill", "die", "destroy"]
    assert "exec_create: true " in actions  # the probes are execs, as in dockerd
    client.close()
