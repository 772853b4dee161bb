"""`exec` against a private ketchd, as dockerd answers it (the texts and codes here were
taken from dockerd 20.10 running the same commands): the docker CLI and docker-py as
clients; environment, working directory, user, stdin, terminal, detach, privileged;
processes that cannot start (exit 126, the error on the stream); inspect's fields."""

from __future__ import annotations

import subprocess
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
        ok(docker_cli(daemon, "run", "-d", "--name", "box", "-e", "FOO=bar", "-w", "/tmp",
                      "--network", "none", "busybox", "sleep", "600"))
        yield daemon


def run(kd: Ketchd, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    proc = subprocess.run(["docker", "exec", *args], env=kd.env(), capture_output=True,
                          text=True, input=stdin, timeout=60, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_exec_like_docker(kd: Ketchd) -> None:
    assert run(kd, "box", "sh", "-c", "echo $FOO; pwd; id; echo err >&2; exit 3") == (
        3, "bar\n/tmp\nuid=0(root) gid=0(root) groups=0(root),10(wheel)\n", "err\n")
    assert run(kd, "-e", "FOO=x", "-w", "/", "-u", "nobody", "box", "sh", "-c",
               "echo $FOO; pwd; id") == (
        0, "x\n/\nuid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n", "")
    assert run(kd, "-i", "box", "cat", stdin="piped in\n") == (0, "piped in\n", "")
    assert run(kd, "-t", "box", "tty")[:2] == (0, "/dev/pts/0\n")  # \r\n, read as text
    for args, out in (
            (["box", "nosuchcmd"], 'OCI runtime exec failed: exec failed: unable to start '
             'container process: exec: "nosuchcmd": executable file not found in $PATH: '
             "unknown\n"),
            (["box", "/etc/passwd"], "OCI runtime exec failed: exec failed: unable to start "
             'container process: exec: "/etc/passwd": permission denied: unknown\n'),
            (["-u", "nosuchuser", "box", "true"],
             "unable to find user nosuchuser: no matching entries in passwd file\n"),
            (["-w", "rel", "box", "true"], "Cwd must be an absolute path\n")):
        assert run(kd, *args) == (126, out, ""), args
    assert run(kd, "nosuch", "true") == (
        1, "", "Error response from daemon: No such container: nosuch\n")
    ok(docker_cli(kd, "create", "--name", "stopped", "busybox", "true"))
    stopped_id = ok(docker_cli(kd, "inspect", "-f", "{{.Id}}", "stopped")).strip()
    assert run(kd, "stopped", "true") == (
        1, "", f"Error response from daemon: Container {stopped_id} is not running\n")


def test_detached_privileged_and_ids(kd: Ketchd) -> None:
    assert run(kd, "-d", "box", "sh", "-c", "sleep 2; echo done > /tmp/detached") == (0, "", "")
    ids = ok(docker_cli(kd, "inspect", "-f", "{{json .ExecIDs}}", "box")).strip()
    assert ids.startswith('["') and len(ids) == 68  # the running one
    deadline = time.monotonic() + 10
    while run(kd, "box", "cat", "/tmp/detached")[1] != "done\n":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert ok(docker_cli(kd, "inspect", "-f", "{{json .ExecIDs}}", "box")).strip() == "null"
    plain = run(kd, "box", "grep", "CapEff", "/proc/self/status")[1]
    privileged = run(kd, "--privileged", "box", "grep", "CapEff", "/proc/self/status")[1]
    assert plain.split()[1] == "00000000a80425fb"  # Docker's 14 capabilities
    assert int(privileged.split()[1], 16) > int(plain.split()[1], 16)


def test_docker_py_exec(kd: Ketchd) -> None:
    client = docker_py.DockerClient(base_url=kd.host)
    try:
        box = client.containers.get("box")
        result = box.exec_run("sh -c 'echo hi; exit 4'")
        assert (result.exit_code, result.output) == (4, b"hi\n")
        api = client.api
        created = api.exec_create("box", ["sh", "-c", "echo out; echo err >&2; exit 5"])
        assert api.exec_start(created["Id"], demux=True) == (b"out\n", b"err\n")
        inspect = api.exec_inspect(created["Id"])
        assert {k: inspect[k] for k in ("Running", "ExitCode", "OpenStdin", "OpenStdout",
                                        "OpenStderr", "CanRemove", "DetachKeys")} == {
            "Running": False, "ExitCode": 5, "OpenStdin": False, "OpenStdout": True,
            "OpenStderr": True, "CanRemove": False, "DetachKeys": ""}
        assert inspect["ProcessConfig"] == {"tty": False, "entrypoint": "sh", "arguments": [
            "-c", "echo out; echo err >&2; exit 5"], "privileged": False}
        assert inspect["ContainerID"] == box.id and inspect["Pid"] > 0
        with pytest.raises(docker_py.errors.APIError) as again:
            api.exec_start(created["Id"])
        assert again.value.status_code == 409
        bad = api.exec_create("box", ["nosuchcmd"])
        assert b"executable file not found" in api.exec_start(bad["Id"])
        assert api.exec_inspect(bad["Id"])["ExitCode"] == 126
        with pytest.raises(docker_py.errors.NotFound):
            api.exec_inspect("0" * 64)
        for body, status in (({"Cmd": []}, 400), ({"Cmd": "true", "DetachKeys": "ctrl-"}, 400),
                             ({"Cmd": ["true"], "Env": "A=1"}, 201)):
            response = api._post_json(api._url("/containers/{0}/exec", "box"), data=body)
            assert response.status_code == status, (body, response.text)
        tty = api.exec_create("box", ["sh", "-c", "sleep 1; stty size"], tty=True)
        socket = api.exec_start(tty["Id"], tty=True, socket=True)
        api.exec_resize(tty["Id"], height=33, width=99)
        data = b""
        sock = socket._sock
        while chunk := sock.recv(4096):
            data += chunk
        assert b"33 99" in data
    finally:
        client.close()
