"""Container stats against a private ketchd: `GET /containers/{id}/stats` through the docker
CLI, docker-py 7.1 and raw HTTP, and `ketch stats`; the numbers move when the container
works (CPU, memory, network, pids); the samples' fields are dockerd's (compared with a
private dockerd 20.10 where it can run)."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import docker as docker_py
import pytest

from support.daemon import Ketchd, api, ok, running_ketchd
from support.daemon import docker as docker_cli
from support.dockerd import Dockerd, running_dockerd

pytestmark = pytest.mark.integration

HEADER = ("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   "
          "BLOCK I/O   PIDS")
ROW = re.compile(r"^(?P<id>[0-9a-f]{12}) +(?P<name>\S+) +(?P<cpu>\d+\.\d\d%) +"
                 r"(?P<mem>[\d.]+[KMGT]?i?B) / (?P<limit>[\d.]+[KMGT]?i?B) +"
                 r"(?P<memperc>\d+\.\d\d%) +(?P<net>[\d.]+[kMG]?B / [\d.]+[kMG]?B) +"
                 r"(?P<block>[\d.]+[kMG]?B / [\d.]+[kMG]?B) +(?P<pids>\d+)$")
ZERO_TIME = "0001-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def ketch(kd: Ketchd, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ketch", *args], env=kd.env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def sample(kd: Ketchd, ref: str, query: str = "stream=false&one-shot=true") -> dict[str, Any]:
    status, body = api(kd, "GET", f"/v1.44/containers/{ref}/stats?{query}")
    assert status == 200, body
    data: dict[str, Any] = json.loads(body)
    return data


class Stream:
    """A streamed stats answer over the daemon's socket, a sample per line."""

    def __init__(self, kd: Ketchd, path: str) -> None:
        self.conn = http.client.HTTPConnection("localhost", timeout=20)
        self.conn.sock = socket.socket(socket.AF_UNIX)
        self.conn.sock.settimeout(20)
        self.conn.sock.connect(str(kd.socket))
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()

    def next(self) -> dict[str, Any]:
        line = self.resp.readline()
        assert line, "the stream ended"
        data: dict[str, Any] = json.loads(line)
        return data

    def close(self) -> None:
        self.conn.close()


def run(kd: Ketchd, name: str, *args: str) -> str:
    return ok(docker_cli(kd, "run", "-d", "--name", name, *args)).strip()


def open_sockets(pid: int) -> set[str]:
    """The sockets a process has open ("socket:[inode]")."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def test_no_stream_table_of_the_docker_cli_and_ketch(kd: Ketchd) -> None:
    a = run(kd, "tab-a", "--network", "none", "busybox", "sleep", "300")
    b = run(kd, "tab-b", "--network", "none", "busybox", "sleep", "300")
    ok(docker_cli(kd, "create", "--name", "tab-c", "busybox", "true"))
    for tool in (docker_cli, ketch):
        start = time.monotonic()
        out = ok(tool(kd, "stats", "--no-stream", "tab-a", "tab-b", "tab-c"))
        assert time.monotonic() - start < 5  # one second's wait, not one per container
        lines = out.splitlines()
        assert lines[0].split() == HEADER.split(), out
        rows = [ROW.match(line) for line in lines[1:]]
        assert all(rows) and len(rows) == 3, out
        assert [(m["id"], m["name"]) for m in rows if m] == [
            (a[:12], "tab-a"), (b[:12], "tab-b"), (ok(docker_cli(
                kd, "inspect", "-f", "{{.Id}}", "tab-c"))[:12], "tab-c")]
        stopped = rows[2]
        assert stopped is not None and (stopped["mem"], stopped["limit"], stopped["net"],
                                        stopped["block"], stopped["pids"]) == (
            "0B", "0B", "0B / 0B", "0B / 0B", "0")
        running = rows[0]
        assert running is not None and running["pids"] == "1"
        assert running["net"] == "0B / 0B" and running["limit"].endswith("GiB")
    # the listing: running ones (newest first), all with -a, ids as Container
    listed = ok(ketch(kd, "stats", "--no-stream", "--format", "{{.Container}} {{.Name}}"))
    assert f"{b[:12]} tab-b\n{a[:12]} tab-a\n" in listed and "tab-c" not in listed
    every = ok(ketch(kd, "container", "stats", "--no-stream", "-a", "--format",
                     "table {{.Name}}\t{{.PIDs}}"))
    assert every.startswith("NAME      PIDS\n") and "tab-c     0\n" in every
    wide = ok(ketch(kd, "stats", "--no-stream", "--no-trunc", "--format", "{{.ID}}", "tab-a"))
    assert wide == a + "\n"
    as_json = json.loads(ok(ketch(kd, "stats", "--no-stream", "--format", "json", "tab-a")))
    assert sorted(as_json) == ["BlockIO", "CPUPerc", "Container", "ID", "MemPerc",
                               "MemUsage", "Name", "NetIO", "PIDs"]
    assert as_json["Container"] == "tab-a" and as_json["Name"] == "tab-a"


def test_cpu_usage_grows_while_the_container_works(kd: Ketchd) -> None:
    run(kd, "busy", "--network", "none", "busybox", "sh", "-c", "while :; do :; done")
    first = sample(kd, "busy")
    time.sleep(1.5)
    second = sample(kd, "busy")
    used = second["cpu_stats"]["cpu_usage"]["total_usage"] - \
        first["cpu_stats"]["cpu_usage"]["total_usage"]
    assert used > 0.2e9  # a busy loop for 1.5 s (most of a CPU on an idle machine)
    assert second["cpu_stats"]["system_cpu_usage"] > first["cpu_stats"]["system_cpu_usage"]
    assert second["cpu_stats"]["online_cpus"] == os.cpu_count()
    assert len(second["cpu_stats"]["cpu_usage"]["percpu_usage"]) >= 1  # cgroup v1 here
    waited = sample(kd, "busy", "stream=false")  # a second's wait: precpu filled
    delta = waited["cpu_stats"]["cpu_usage"]["total_usage"] - \
        waited["precpu_stats"]["cpu_usage"]["total_usage"]
    assert delta > 0.1e9 and waited["preread"] != ZERO_TIME
    for tool in (docker_cli, ketch):
        percent = ok(tool(kd, "stats", "--no-stream", "--format", "{{.CPUPerc}}", "busy"))
        assert float(percent.strip().rstrip("%")) > 10.0, percent
    ok(docker_cli(kd, "rm", "-f", "busy"))


def test_memory_usage_grows_after_allocating(kd: Ketchd) -> None:
    run(kd, "mem", "--network", "none", "-m", "256m", "busybox", "sleep", "300")
    before = sample(kd, "mem")["memory_stats"]
    assert before["limit"] == 256 << 20
    assert "total_inactive_file" in before["stats"] and "max_usage" in before
    ok(docker_cli(kd, "exec", "mem", "dd", "if=/dev/zero", "of=/dev/shm/x", "bs=1M",
                  "count=20"))
    after = sample(kd, "mem")["memory_stats"]
    assert after["usage"] - before["usage"] > 15 << 20
    usage, _, limit = ok(ketch(kd, "stats", "--no-stream", "--format", "{{.MemUsage}}",
                               "mem")).strip().partition(" / ")
    assert usage.endswith("MiB") and float(usage[:-3]) > 15 and limit == "256MiB"
    percent = ok(docker_cli(kd, "stats", "--no-stream", "--format", "{{.MemPerc}}", "mem"))
    assert float(percent.strip().rstrip("%")) > 5.0


def test_network_counters_grow_with_traffic_on_a_bridge(kd: Ketchd) -> None:
    ok(docker_cli(kd, "network", "create", "statsnet"))
    run(kd, "net-a", "--network", "statsnet", "busybox", "sleep", "300")
    run(kd, "net-b", "--network", "statsnet", "busybox", "sleep", "300")
    before = sample(kd, "net-a")["networks"]
    assert list(before) == ["eth0"]
    assert sorted(before["eth0"]) == sorted(
        ["rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets",
         "tx_errors", "tx_dropped"])
    ok(docker_cli(kd, "exec", "net-a", "ping", "-c", "5", "-i", "0.2", "-s", "1000", "net-b"))
    after = sample(kd, "net-a")["networks"]["eth0"]
    assert after["tx_bytes"] - before["eth0"]["tx_bytes"] > 5000
    assert after["rx_bytes"] - before["eth0"]["rx_bytes"] > 5000
    assert after["tx_packets"] > before["eth0"]["tx_packets"]
    net_io = ok(ketch(kd, "stats", "--no-stream", "--format", "{{.NetIO}}", "net-a"))
    assert re.fullmatch(r"\d+(\.\d+)?kB / \d+(\.\d+)?kB\n", net_io), net_io
    # no networks key for --network none or host, as dockerd
    run(kd, "net-none", "--network", "none", "busybox", "sleep", "300")
    run(kd, "net-host", "--network", "host", "busybox", "sleep", "300")
    assert "networks" not in sample(kd, "net-none")
    assert "networks" not in sample(kd, "net-host")
    for name in ("net-a", "net-b", "net-none", "net-host"):
        ok(docker_cli(kd, "rm", "-f", name))
    ok(docker_cli(kd, "network", "rm", "statsnet"))


def test_pids_are_counted_with_their_limit(kd: Ketchd) -> None:
    run(kd, "pids", "--network", "none", "--pids-limit", "50", "busybox", "sh", "-c",
        "sleep 300 & sleep 300 & sleep 300 & wait")
    deadline = time.monotonic() + 10
    while sample(kd, "pids")["pids_stats"] != {"current": 4, "limit": 50}:
        assert time.monotonic() < deadline, sample(kd, "pids")["pids_stats"]
        time.sleep(0.1)
    assert ok(ketch(kd, "stats", "--no-stream", "--format", "{{.PIDs}}", "pids")) == "4\n"
    run(kd, "nolimit", "--network", "none", "busybox", "sleep", "300")
    assert sample(kd, "nolimit")["pids_stats"] == {"current": 1}  # no limit, no "limit"


def test_docker_py_gets_dockers_fields_and_types(kd: Ketchd) -> None:
    run(kd, "py", "busybox", "sleep", "300")
    client = docker_py.DockerClient(base_url=kd.host)
    try:
        container = client.containers.get("py")
        s = container.stats(stream=False)
        assert list(s) == ["read", "preread", "pids_stats", "blkio_stats", "num_procs",
                           "storage_stats", "cpu_stats", "precpu_stats", "memory_stats",
                           "name", "id", "networks"]
        assert (s["name"], s["id"]) == ("/py", container.id)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", s["read"])
        assert s["preread"] != ZERO_TIME
        usage = s["cpu_stats"]["cpu_usage"]
        assert all(isinstance(usage[k], int) for k in ("total_usage", "usage_in_kernelmode",
                                                       "usage_in_usermode"))
        assert isinstance(s["cpu_stats"]["system_cpu_usage"], int)
        assert isinstance(s["memory_stats"]["usage"], int)
        assert isinstance(s["memory_stats"]["stats"], dict)
        assert s["memory_stats"]["limit"] > 0 and s["num_procs"] == 0
        assert isinstance(s["blkio_stats"]["io_service_bytes_recursive"], list)
        assert s["networks"]["eth0"]["rx_packets"] >= 0
        shot = container.stats(stream=False, one_shot=True)
        assert shot["preread"] == ZERO_TIME and "system_cpu_usage" not in shot["precpu_stats"]
        started = time.monotonic()
        frames = container.stats(stream=True, decode=True)
        first, second = next(frames), next(frames)
        assert 0.5 < time.monotonic() - started < 3
        assert first["preread"] == ZERO_TIME
        assert second["preread"] == first["read"]
        assert second["precpu_stats"] == first["cpu_stats"]
        frames.close()
        raw = container.stats(stream=True)
        assert json.loads(next(raw))["name"] == "/py"
        raw.close()
        with pytest.raises(docker_py.errors.NotFound):
            client.api.stats("nope", stream=False)
        bad = client.api._get(client.api._url("/containers/py/stats"),
                              params={"stream": True, "one-shot": True})
        assert (bad.status_code, bad.json()) == (
            400, {"message": "cannot have stream=true and one-shot=true"})
    finally:
        client.close()


def test_a_stream_ends_when_the_client_closes_or_the_container_goes(kd: Ketchd) -> None:
    run(kd, "str", "--network", "none", "busybox", "sleep", "300")
    assert kd.proc is not None
    before = open_sockets(kd.proc.pid)
    streams = [Stream(kd, "/v1.44/containers/str/stats") for _ in range(3)]
    for stream in streams:
        stream.next()
    serving = open_sockets(kd.proc.pid) - before  # the daemon's ends of the streams
    assert len(serving) >= 3
    for stream in streams:
        stream.close()
    deadline = time.monotonic() + 5
    while serving & open_sockets(kd.proc.pid):  # each stream noticed its client is gone
        assert time.monotonic() < deadline, serving & open_sockets(kd.proc.pid)
        time.sleep(0.1)
    # a stream goes on with empty samples when the container stops, ends when it is removed
    stream = Stream(kd, "/containers/str/stats?stream=bogus")  # dockerd: any other word is true
    try:
        assert stream.next()["read"] != ZERO_TIME
        ok(docker_cli(kd, "stop", "-t", "0", "str"))
        deadline = time.monotonic() + 5
        while stream.next()["read"] != ZERO_TIME:
            assert time.monotonic() < deadline
        ok(docker_cli(kd, "rm", "str"))
        deadline = time.monotonic() + 5
        while stream.resp.readline():
            assert time.monotonic() < deadline
    finally:
        stream.close()


def test_a_stopped_container_answers_zeros_as_dockerd(kd: Ketchd) -> None:
    ok(docker_cli(kd, "create", "--name", "off", "busybox", "true"))
    cid = ok(docker_cli(kd, "inspect", "-f", "{{.Id}}", "off")).strip()
    start = time.monotonic()
    status, body = api(kd, "GET", "/v1.44/containers/off/stats?stream=false")
    assert time.monotonic() - start < 0.5  # no second sample to wait for
    assert status == 200
    # dockerd 20.10's answer for a created container, byte for byte
    assert body == (
        '{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","pids_stats":{},'
        '"blkio_stats":{"io_service_bytes_recursive":null,"io_serviced_recursive":null,'
        '"io_queue_recursive":null,"io_service_time_recursive":null,'
        '"io_wait_time_recursive":null,"io_merged_recursive":null,"io_time_recursive":null,'
        '"sectors_recursive":null},"num_procs":0,"storage_stats":{},"cpu_stats":'
        '{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},'
        '"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},'
        '"precpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,'
        '"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,'
        '"throttled_time":0}},"memory_stats":{},"name":"/off","id":"' + cid + '"}\n'
    ).encode()
    row = ok(ketch(kd, "stats", "--no-stream", "off")).splitlines()[1]
    assert row.split() == [cid[:12], "off", "0.00%", "0B", "/", "0B", "0.00%", "0B", "/",
                           "0B", "0B", "/", "0B", "0"]


def test_unknown_container_and_bad_query(kd: Ketchd) -> None:
    run(kd, "qq", "--network", "none", "busybox", "sleep", "300")
    assert api(kd, "GET", "/v1.44/containers/nope/stats") == (
        404, b'{"message": "No such container: nope"}')
    assert api(kd, "GET", "/v1.44/containers/qq/stats?stream=1&one-shot=1") == (
        400, b'{"message": "cannot have stream=true and one-shot=true"}')
    # before API 1.41 one-shot is not read: the second sample, with its precpu
    assert sample(kd, "qq", "stream=0&one-shot=1").get("preread") == ZERO_TIME
    status, body = api(kd, "GET", "/v1.40/containers/qq/stats?stream=0&one-shot=1")
    assert status == 200 and json.loads(body)["preread"] != ZERO_TIME
    for value in ("", "0", "no", "false", "none", "FALSE"):  # BoolValue's false words
        status, body = api(kd, "GET", f"/v1.44/containers/qq/stats?stream={value}&one-shot=1")
        assert status == 200 and json.loads(body)["name"] == "/qq"
    for tool in (docker_cli, ketch):
        proc = tool(kd, "stats", "--no-stream", "qq", "nope")
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            1, "", "Error response from daemon: No such container: nope\n")
    proc = ketch(kd, "stats", "--no-stream", "--format", "{{.Nope", "qq")
    assert proc.returncode == 1 and proc.stderr.startswith("template parsing error: ")
    assert "Traceback" not in proc.stderr


def test_ketch_stats_streams_and_follows_new_containers(kd: Ketchd) -> None:
    run(kd, "live-a", "--network", "none", "busybox", "sleep", "300")
    proc = subprocess.Popen(["ketch", "stats"], env=kd.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(2)
        run(kd, "live-b", "--network", "none", "busybox", "sleep", "300")
        time.sleep(2.5)
    finally:
        proc.send_signal(2)  # ^C
        out, err = proc.communicate(timeout=10)
    text = out.decode()
    frames = [f for f in text.split("\033[H") if f]
    assert len(frames) >= 6, text  # a redraw every half second
    first = frames[0]
    header = first.splitlines()[0]
    assert first.endswith("\033[J") and header.endswith("\033[K")
    assert header.removesuffix("\033[K").split() == HEADER.split()
    assert "live-a" in first and "live-b" not in first
    assert "live-b" in frames[-1]  # started meanwhile: followed through the events
    assert b"Traceback" not in err


def shape(value: Any) -> Any:
    """The fields and types of a sample, without its values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    with running_dockerd(tmp_path_factory.mktemp("dockerd")) as daemon:
        daemon.import_busybox()
        yield daemon


def test_samples_have_dockerds_fields(kd: Ketchd, dockerd: Dockerd) -> None:
    """Running (no network, a pids limit, a memory limit) and created: the same fields,
    the same types, the same order, as the real dockerd's samples on this machine."""
    args = ("--network", "none", "--pids-limit", "20", "-m", "64m", "busybox", "sleep", "300")
    ok(docker_cli(kd, "run", "-d", "--name", "cmp-run", *args))
    ok(dockerd("run", "-d", "--name", "cmp-run", *args))
    ok(docker_cli(kd, "create", "--name", "cmp-off", "busybox", "true"))
    ok(dockerd("create", "--name", "cmp-off", "busybox", "true"))
    for name in ("cmp-run", "cmp-off"):
        for query in ("stream=false", "stream=false&one-shot=true"):
            ours = sample(kd, name, query)
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(dockerd.socket))
                s.sendall(f"GET /v1.41/containers/{name}/stats?{query} HTTP/1.0\r\n"
                          "Host: x\r\n\r\n".encode())
                raw = b""
                while chunk := s.recv(65536):
                    raw += chunk
            theirs = json.loads(raw.partition(b"\r\n\r\n")[2])
            if ours["memory_stats"]:  # failcnt appears when the limit was hit, only
                ours["memory_stats"].pop("failcnt", None)
                theirs["memory_stats"].pop("failcnt", None)
            assert json.dumps(shape(ours)) == json.dumps(shape(theirs)), (name, query)
            if name == "cmp-run":
                assert ours["pids_stats"] == theirs["pids_stats"] == {"current": 1,
                                                                      "limit": 20}
                assert ours["memory_stats"]["limit"] == theirs["memory_stats"]["limit"]
    ok(dockerd("rm", "-f", "cmp-run", "cmp-off"))
