"""What docker-py 7.1's own integration tests expect of a daemon, found by running them
against ketchd and checked against dockerd 20.10 on this machine: swarm answers on a
node outside a swarm, a SIGKILL answered once the container is gone, the runtime's name,
a load refused in the stream, commit right after start, the detach keys of attach and
exec on a terminal, and an exec's terminal chosen at create, its framing at start."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import docker as docker_py
import pytest

from support.daemon import Ketchd, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


@pytest.fixture
def api(kd: Ketchd) -> Iterator[docker_py.APIClient]:
    client = docker_py.APIClient(base_url=kd.host)
    yield client
    client.close()


def test_swarm_answers_of_a_node_outside_a_swarm(api: docker_py.APIClient) -> None:
    with pytest.raises(docker_py.errors.APIError) as e:
        api.inspect_swarm()
    assert e.value.status_code == 503 and "not a swarm manager" in str(e.value)
    assert api.leave_swarm(force=True) is True  # 503 "not part of a swarm": fine with force
    with pytest.raises(docker_py.errors.APIError) as e:
        api.leave_swarm()
    assert e.value.status_code == 503 and "This node is not part of a swarm" in str(e.value)


def test_kill_answers_once_the_container_has_exited(api: docker_py.APIClient) -> None:
    container = api.create_container("busybox", ["sleep", "100"], network_disabled=True)
    api.start(container)
    api.kill(container)
    state = api.inspect_container(container)["State"]
    assert (state["Running"], state["ExitCode"]) == (False, 137)
    api.remove_container(container)  # no "cannot remove a running container"


def test_runtime_names(api: docker_py.APIClient) -> None:
    container = api.create_container("busybox", "true", host_config=api.create_host_config(
        runtime="runc"))
    assert api.inspect_container(container)["HostConfig"]["Runtime"] == "runc"
    api.remove_container(container)
    with pytest.raises(docker_py.errors.APIError) as e:
        api.create_container("busybox", "true", host_config=api.create_host_config(
            runtime="nosuchruntime"))
    assert e.value.status_code == 400
    assert "unknown or invalid runtime name: nosuchruntime" in str(e.value)
    assert api.info()["DefaultRuntime"] == "runc"


def test_a_refused_load_is_reported_in_the_stream(kd: Ketchd) -> None:
    client = docker_py.DockerClient(base_url=kd.host)
    with pytest.raises(docker_py.errors.ImageLoadError):
        client.images.load(b"\x01" * 4096)
    client.close()


def test_commit_right_after_start(api: docker_py.APIClient) -> None:
    container = api.create_container("busybox", ["touch", "/made"], network_disabled=True)
    api.start(container)
    image = api.commit(container["Id"], repository="right-after")  # it may be exiting
    assert api.inspect_image(image["Id"])["Id"] == image["Id"]
    api.remove_container(container, force=True)
    api.remove_image(image["Id"])


def _closed_after_keys(sock: socket.socket, keys: list[bytes]) -> bool:
    for key in keys:
        sock.sendall(key)
        time.sleep(0.3)
    try:
        sock.sendall(b"make sure the socket is closed\n")
        time.sleep(0.2)
        sock.sendall(b"again\n")
    except OSError:
        return True
    return False


def test_detach_keys_of_attach_and_exec(api: docker_py.APIClient) -> None:
    container = api.create_container("busybox", "cat", stdin_open=True, tty=True,
                                     network_disabled=True, detach=True)
    api.start(container)
    attached = api.attach_socket(container, {"stdin": True, "stream": True})
    assert _closed_after_keys(attached._sock, [b"\x10", b"\x11"])  # ctrl-p ctrl-q
    attached = api.attach_socket(container, {"stdin": True, "stream": True,
                                             "detachKeys": "ctrl-x"})
    assert _closed_after_keys(attached._sock, [b"\x18"])
    exec_id = api.exec_create(container, "cat", stdin=True, tty=True)["Id"]
    session = api.exec_start(exec_id, socket=True, tty=True)
    assert _closed_after_keys(session._sock, [b"\x10", b"\x11"])
    api._general_configs["detachKeys"] = "ctrl-p"  # sent as "detachKeys": Go ignores case
    exec_id = api.exec_create(container, "cat", stdin=True, tty=True)["Id"]
    session = api.exec_start(exec_id, socket=True, tty=True)
    assert _closed_after_keys(session._sock, [b"\x10"])
    assert api.inspect_container(container)["State"]["Running"]
    api.remove_container(container, force=True)


def test_exec_terminal_from_create_framing_from_start(api: docker_py.APIClient) -> None:
    container = api.create_container("busybox", ["sleep", "60"], network_disabled=True)
    api.start(container)
    script = ["sh", "-c", "echo hello out; echo hello err >&2"]
    exec_id = api.exec_create(container, script, tty=True)["Id"]
    # a terminal joins both streams (and its \r\n), sent as stdout frames
    assert api.exec_start(exec_id, tty=False, demux=True) == (
        b"hello out\r\nhello err\r\n", None)
    exec_id = api.exec_create(container, script)["Id"]
    assert api.exec_start(exec_id, demux=True) == (b"hello out\n", b"hello err\n")
    api.remove_container(container, force=True)
