"""ketchd as a daemon: live-restore after SIGKILL, docker-py as a client, bad API input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, api, docker, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def test_live_restore_after_sigkill(ketchd: Ketchd) -> None:
    counter = docker(ketchd, "run", "-d", "--name", "counter", "busybox", "sh", "-c",
                     "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done")
    assert counter.returncode == 0, counter.stderr
    short = docker(ketchd, "run", "-d", "--name", "short", "busybox", "sh", "-c",
                   "sleep 1; exit 7")
    assert short.returncode == 0, short.stderr
    pid = json.loads(docker(ketchd, "inspect", "counter").stdout)[0]["State"]["Pid"]
    ketchd.kill9()
    time.sleep(1.5)  # meanwhile `short` exits and `counter` keeps printing
    assert Path(f"/proc/{pid}").exists()
    ketchd.start()
    state = json.loads(docker(ketchd, "inspect", "counter").stdout)[0]["State"]
    assert state["Running"] and state["Pid"] == pid
    short_state = json.loads(docker(ketchd, "inspect", "short").stdout)[0]["State"]
    assert (short_state["Status"], short_state["ExitCode"]) == ("exited", 7)
    time.sleep(0.3)
    numbers = [int(n) for n in docker(ketchd, "logs", "counter").stdout.split()]
    assert len(numbers) > 20 and numbers == list(range(1, len(numbers) + 1))
    docker(ketchd, "rm", "-f", "counter", "short")


def test_docker_py_drives_example_1(ketchd: Ketchd) -> None:
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=ketchd.host)
    assert client.ping()
    assert client.containers.run("busybox", ["echo", "Hello world"], remove=True) == \
        b"Hello world\n"
    daemon = client.containers.run("busybox", ["sh", "-c",
                                               "while true; do echo hello world; sleep 0.2; done"],
                                   detach=True, name="pydaemon")
    time.sleep(0.7)
    assert b"hello world\nhello world\n" in daemon.logs()
    assert [c.name for c in client.containers.list()] == ["pydaemon"]
    daemon.stop(timeout=1)
    daemon.reload()
    assert daemon.status == "exited"
    daemon.remove()
    assert client.containers.list(all=True) == []
    # not here, so docker-py pulls it: the registry cannot be reached (offline, or a
    # loopback port nothing listens on) and the error is one clear message
    with pytest.raises(docker_py.errors.APIError, match="connection refused"):
        client.containers.run("127.0.0.1:1/no-such-image", "true")


def test_bad_api_input_is_one_clear_error(ketchd: Ketchd) -> None:
    containers = ketchd.data_root / "containers"
    before = sorted(p.name for p in containers.iterdir())
    cases = [
        (b'{"Image": "busybox", "Cmd": ', 400, b"invalid JSON"),
        (b'{"Image": "busybox", "Env": "A=1"}', 400, b"Env"),
        (b'{"Image": "busybox", "HostConfig": []}', 400, b"HostConfig"),
        (b'{"Cmd": ["true"]}', 400, b"No image"),
        (b'{"Image": "nope:1.0", "Cmd": ["true"]}', 404, b"No such image: nope:1.0"),
        (b'{"Image": "Busybox", "Cmd": ["true"]}', 400, b"invalid reference format"),
        (b'{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": 4096}}',
         400, b"Minimum memory limit allowed is 6MB"),
        (b'{"Image": "busybox", "Cmd": ["true"], "WorkingDir": "rel"}',
         400, b"the working directory 'rel' is invalid, it needs to be an absolute path"),
        (b'{"Image": "busybox", "Cmd": ["true"], "StopTimeout": "soon"}',
         400, b"StopTimeout"),
    ]
    for body, status, message in cases:
        got, answer = api(ketchd, "POST", "/v1.44/containers/create", body,
                          "Content-Type: application/json\r\n")
        assert got == status, (body, answer)
        assert message in answer and b"Traceback" not in answer
    status, _ = api(ketchd, "POST", "/v1.44/containers/create", b"x" * (17 << 20))
    assert status == 413
    assert sorted(p.name for p in containers.iterdir()) == before  # nothing half-made
    ok = docker(ketchd, "run", "-d", "--name", "busy", "busybox", "sleep", "60")
    assert ok.returncode == 0
    status, answer = api(ketchd, "POST", "/containers/create?name=busy",
                         b'{"Image": "busybox", "Cmd": ["true"]}')
    assert status == 409 and b"already in use" in answer
    status, answer = api(ketchd, "DELETE", "/containers/busy")
    assert status == 409 and b"cannot remove a running container" in answer
    status, _ = api(ketchd, "POST", "/containers/busy/start")
    assert status == 304
    status, answer = api(ketchd, "POST", "/containers/busy/attach?stream=1&stdout=1&"
                         "detachKeys=ctrl-%3F")
    assert (status, json.loads(answer)) == (
        400, {"message": "Invalid detach keys (ctrl-?) provided"})
    status, answer = api(ketchd, "GET", '/containers/json?filters={"label":5}')
    assert status == 400 and b"invalid filter 'label'" in answer
    status, answer = api(ketchd, "GET", "/v1.44/containers/nope/json")
    assert (status, json.loads(answer)) == (404, {"message": "No such container: nope"})
    docker(ketchd, "rm", "-f", "busy")


def test_api_versions_outside_the_range_are_refused(ketchd: Ketchd) -> None:
    assert api(ketchd, "GET", "/v1.24/version")[0] == 200
    assert api(ketchd, "GET", "/v1.44.0/version")[0] == 200
    status, answer = api(ketchd, "GET", "/v1.45/containers/json")
    assert (status, json.loads(answer)) == (400, {"message": "client version 1.45 is too new. "
                                                  "Maximum supported API version is 1.44"})
    status, answer = api(ketchd, "POST", "/v1.12/containers/create",
                         b'{"Image": "busybox", "Cmd": ["true"]}')
    assert status == 400 and b"client version 1.12 is too old" in answer
    assert api(ketchd, "GET", "/vx.y/version")[0] == 404


def test_image_list_filters_through_the_docker_cli(ketchd: Ketchd) -> None:
    assert docker(ketchd, "tag", "busybox", "mine/tool:1.0").returncode == 0
    listed = docker(ketchd, "images", "--format", "{{.Repository}}:{{.Tag}}", "busybox")
    assert listed.stdout.split() == ["busybox:latest"]
    listed = docker(ketchd, "images", "--format", "{{.Repository}}:{{.Tag}}", "mine/*")
    assert listed.stdout.split() == ["mine/tool:1.0"]
    assert docker(ketchd, "images", "-q", "nomatch").stdout == ""
    assert docker(ketchd, "images", "-q", "-f", "dangling=true").stdout == ""
    bad = docker(ketchd, "images", "-f", "colour=red")
    assert bad.returncode == 1 and "invalid filter 'colour'" in bad.stderr


def test_docker_py_attach_replays_logs(ketchd: Ketchd) -> None:
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=ketchd.host)
    ct = client.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2; sleep 1; "
                                           "echo three"], detach=True)
    try:
        deadline = time.monotonic() + 10
        while ct.logs() != b"one\ntwo\n" and time.monotonic() < deadline:
            time.sleep(0.05)
        # without stream: what it wrote so far, then the end (docker-py reads the bare
        # socket after the head, so nothing may ride along with the head)
        assert ct.attach(stdout=True, stderr=True, logs=True, stream=False) == b"one\ntwo\n"
        assert ct.attach(stdout=False, stderr=True, logs=True, stream=False) == b"two\n"
        streamed = b"".join(ct.attach(stdout=True, stderr=True, logs=True, stream=True))
        assert streamed == b"one\ntwo\nthree\n"
        assert ct.wait()["StatusCode"] == 0
    finally:
        ct.remove(force=True)


def test_sizes_info_and_graph_driver_fields(ketchd: Ketchd) -> None:
    assert docker(ketchd, "run", "-d", "--name", "writer", "busybox", "sh", "-c",
                  "head -c 100000 /dev/zero > /f; sleep 100").returncode == 0
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sizes = docker(ketchd, "ps", "-s", "--format", "{{.Size}}").stdout.strip()
            if sizes.startswith("100kB"):
                break
            time.sleep(0.1)
        assert sizes.startswith("100kB (virtual ") and sizes.endswith("MB)")
        status, answer = api(ketchd, "GET", "/containers/writer/json?size=1")
        assert status == 200
        record = json.loads(answer)
        assert record["SizeRw"] == 100000 and record["SizeRootFs"] > 100000
        data = record["GraphDriver"]["Data"]
        assert all(Path(p).is_dir() for p in data["LowerDir"].split(":"))
        assert (Path(data["UpperDir"]) / "f").stat().st_size == 100000
        assert Path(data["WorkDir"]).is_dir() and record["HostConfig"]["Runtime"]
        assert "SizeRw" not in json.loads(api(ketchd, "GET", "/containers/writer/json")[1])
        info = json.loads(api(ketchd, "GET", "/info")[1])
        assert info["Swarm"]["LocalNodeState"] == "inactive"
        assert info["ContainersRunning"] == 1 and info["SystemTime"].startswith("20")
    finally:
        docker(ketchd, "rm", "-f", "writer")


def test_stop_uses_the_containers_stop_timeout(ketchd: Ketchd) -> None:
    # sh as pid 1 ignores SIGTERM: stop waits the grace period, then kills
    assert docker(ketchd, "run", "-d", "--name", "patient", "--stop-timeout", "1",
                  "busybox", "sleep", "100").returncode == 0
    began = time.monotonic()
    assert docker(ketchd, "stop", "patient").returncode == 0
    assert 0.8 < time.monotonic() - began < 5  # not Docker's default 10 s
    state = json.loads(docker(ketchd, "inspect", "patient").stdout)[0]["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    docker(ketchd, "rm", "patient")


def test_stop_sends_the_containers_stop_signal(ketchd: Ketchd) -> None:
    assert docker(ketchd, "run", "-d", "--name", "usr1", "--stop-signal", "SIGUSR1", "busybox",
                  "sh", "-c", "trap 'exit 5' USR1; sleep 100 & wait").returncode == 0
    time.sleep(0.3)  # the trap is set
    assert docker(ketchd, "stop", "usr1").returncode == 0
    state = json.loads(docker(ketchd, "inspect", "usr1").stdout)[0]
    assert (state["Config"]["StopSignal"], state["State"]["ExitCode"]) == ("SIGUSR1", 5)
    bad = docker(ketchd, "create", "--stop-signal", "SIGNOPE", "busybox", "true")
    assert bad.returncode != 0 and "Invalid signal: SIGNOPE" in bad.stderr
    docker(ketchd, "rm", "usr1")
