"""The ketch CLI's networking verbs side by side with the docker CLI 28: against a private
dockerd (same daemon, so the same answers: the output must be the same), and against a
recording daemon (the request bodies must be the same, byte for byte)."""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dockerd import Dockerd, running_dockerd

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).resolve().parents[2] / "src")


def ketch(host: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KETCH_NO_AUTOSTART": "1", "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", "-H", host, *args],
                          input=stdin, capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def outcome(proc: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return proc.returncode, proc.stdout, proc.stderr.replace("docker", "ketch")


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    with running_dockerd(tmp_path_factory.mktemp("dockerd")) as daemon:
        daemon.import_busybox()
        yield daemon


@pytest.fixture(scope="module")
def host(dockerd: Dockerd) -> str:
    return f"unix://{dockerd.socket}"


def same(dockerd: Dockerd, host: str, *args: str) -> tuple[int, str, str]:
    theirs, ours = outcome(dockerd(*args)), outcome(ketch(host, *args))
    assert ours == theirs, args
    return ours


def test_create_ls_inspect_rm_prune_like_docker(dockerd: Dockerd, host: str) -> None:
    made = ketch(host, "network", "create", "ktn-a")
    assert made.returncode == 0 and len(made.stdout.strip()) == 64, made.stderr
    assert ketch(host, "network", "create", "--subnet", "10.77.0.0/24", "--gateway",
                 "10.77.0.1", "--ip-range", "10.77.0.128/25", "--label", "k=v", "--internal",
                 "-o", "com.docker.network.bridge.name=ktn0", "ktn-b10").returncode == 0
    assert dockerd("network", "create", "ktn-b9").returncode == 0
    dup = ketch(host, "network", "create", "ktn-a")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    for args in (["ls"], ["ls", "--no-trunc"], ["ls", "-q"], ["ls", "--format", "json"],
                 ["ls", "-f", "name=ktn-b", "--format", "{{.Name}} {{.Labels}} {{.Internal}}"],
                 ["ls", "--format", "table {{.ID}}\t{{.CreatedAt}}\t{{.IPv6}}"],
                 ["inspect", "ktn-b10", "ktn-a"], ["inspect", "-v", "ktn-a"],
                 ["inspect", "-f", "{{.Name}} {{json .IPAM.Config}}", "ktn-b10", "nope"],
                 ["inspect", "--format", "json", "ktn-a"], ["inspect", "nope"]):
        same(dockerd, host, "network", *args)
    same(dockerd, host, "inspect", "--type", "network", "ktn-b10")
    same(dockerd, host, "inspect", "-f", "{{.Name}} {{.Driver}}", "ktn-b10")
    same(dockerd, host, "inspect", "--type", "network", "nope")
    assert outcome(ketch(host, "network", "rm", "ktn-b9", "nope", "ktn-a")) == (
        1, "ktn-b9\nktn-a\n",
        "Error response from daemon: network nope not found\nexit status 1\n")
    same(dockerd, host, "network", "rm", "-f", "nope")
    assert dockerd("network", "create", "ktn-c").returncode == 0
    pruned = ketch(host, "network", "prune", "-f").stdout.split("\n")
    assert pruned[0] == "Deleted Networks:" and pruned[-2:] == ["", ""]
    assert sorted(pruned[1:-2]) == ["ktn-b10", "ktn-c"]
    same(dockerd, host, "network", "prune", "-f")


def test_port_and_run_flags_like_docker(dockerd: Dockerd, host: str) -> None:
    assert dockerd("network", "create", "--subnet", "10.78.0.0/24", "ktn-run").returncode == 0
    flags = ["--network", "ktn-run", "--network-alias", "web", "--ip", "10.78.0.{}",
             "-p", "1{}80:80", "-p", "127.0.0.1:1{}81:81/udp", "-p", "1{}90-1{}91:90-91",
             "--expose", "7000-7001", "--dns", "10.0.0.53", "--dns-search", "example.com",
             "--dns-option", "ndots:2", "--add-host", "db:10.78.0.99", "--hostname", "box.lan"]
    # (no --mac-address: docker 28 refuses it below API 1.44, and this dockerd speaks 1.41)
    for runner, n in ((dockerd, "7"), (None, "8")):
        args = ["run", "-d", "--name", f"ktn-p{n}", *[f.replace("{}", n) for f in flags],
                "busybox", "sleep", "300"]
        proc = runner(*args) if runner else ketch(host, *args)
        assert proc.returncode == 0, proc.stderr
    try:
        for args in ([], ["80"], ["81/udp"], ["90/tcp"], ["82"], ["abc"]):
            theirs = outcome(dockerd("port", "ktn-p7", *args))
            ours = outcome(ketch(host, "port", "ktn-p8", *args))
            assert ours == (theirs[0], theirs[1].replace("1780", "1880").replace(
                "1781", "1881").replace("1790", "1890").replace("1791", "1891"),
                theirs[2].replace("ktn-p7", "ktn-p8")), args
        fields = ("{{json .Config.ExposedPorts}} {{json .HostConfig.PortBindings}} "
                  "{{.HostConfig.NetworkMode}} {{json .HostConfig.Dns}} "
                  "{{json .HostConfig.DnsSearch}} {{json .HostConfig.DnsOptions}} "
                  "{{json .HostConfig.ExtraHosts}} {{.Config.Hostname}} "
                  "{{json (index .NetworkSettings.Networks \"ktn-run\").IPAMConfig}}")
        theirs = dockerd("inspect", "-f", fields, "ktn-p7").stdout
        ours = dockerd("inspect", "-f", fields, "ktn-p8").stdout
        assert ours == theirs.replace("10.78.0.7", "10.78.0.8").replace("1780", "1880").replace(
            "1781", "1881").replace("1790", "1890").replace("1791", "1891")
        aliases = dockerd("inspect", "-f", "{{json (index .NetworkSettings.Networks "
                                           "\"ktn-run\").Aliases}}", "ktn-p8").stdout
        assert "web" in json.loads(aliases)
    finally:
        dockerd("rm", "-f", "ktn-p7", "ktn-p8")
        dockerd("network", "rm", "ktn-run")  # its bridge would outlive dockerd


def test_connect_disconnect_like_docker(dockerd: Dockerd, host: str) -> None:
    assert dockerd("network", "create", "ktn-x").returncode == 0
    assert dockerd("network", "create", "--subnet", "10.79.0.0/24", "ktn-y").returncode == 0
    assert dockerd("run", "-d", "--name", "ktn-c1", "--network", "ktn-x", "busybox", "sleep",
                   "300").returncode == 0
    try:
        proc = ketch(host, "network", "connect", "--alias", "a1,a2", "--ip", "10.79.0.50",
                     "ktn-y", "ktn-c1")
        assert outcome(proc) == (0, "", "")
        info = json.loads(dockerd("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                                  "ktn-c1").stdout)
        assert info["ktn-y"]["IPAMConfig"] == {"IPv4Address": "10.79.0.50"}
        assert {"a1", "a2"} <= set(info["ktn-y"]["Aliases"])
        same(dockerd, host, "network", "connect", "ktn-y", "ktn-c1")  # already there: error
        assert outcome(ketch(host, "network", "disconnect", "ktn-y", "ktn-c1")) == (0, "", "")
        same(dockerd, host, "network", "disconnect", "ktn-y", "ktn-c1")  # not connected
        same(dockerd, host, "network", "connect", "--driver-opt", "x", "ktn-y", "ktn-c1")
        same(dockerd, host, "network", "rm", "ktn-x")  # in use
    finally:
        dockerd("rm", "-f", "ktn-c1")
        dockerd("network", "rm", "ktn-x", "ktn-y")


# -- request bodies, recorded ---------------------------------------------------------------
class Recorder:
    """A daemon that answers every request plausibly and keeps (method, path, body)."""

    def __init__(self, path: Path, version: str) -> None:
        self.path = path
        self.requests: list[tuple[str, str, bytes]] = []
        recorder = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while line := self.rfile.readline():
                    method, target, _ = line.decode().split(" ", 2)
                    length = 0
                    while (raw := self.rfile.readline().decode()) not in ("\r\n", "\n", ""):
                        key, _, value = raw.partition(":")
                        if key.strip().lower() == "content-length":
                            length = int(value)
                    body = self.rfile.read(length)
                    path = target.split("?")[0]
                    recorder.requests.append((method, target, body))
                    status, doc = 200, b""
                    if path.endswith("/networks/create"):
                        status, doc = 201, b'{"Id":"' + b"f" * 64 + b'","Warning":""}'
                    elif path.endswith("/containers/create"):
                        status, doc = 201, b'{"Id":"' + b"e" * 64 + b'","Warnings":[]}'
                    elif path.endswith("/networks/prune"):
                        doc = b'{"NetworksDeleted":["n1"]}'
                    self.wfile.write(f"HTTP/1.1 {status} OK\r\nApi-Version: {version}\r\n"
                                     f"Content-Type: application/json\r\nContent-Length: "
                                     f"{len(doc)}\r\n\r\n".encode()
                                     + (doc if method != "HEAD" else b""))

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(str(path), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def sent(self, run: object, *args: str) -> list[tuple[str, str, bytes]]:
        """The requests (bar pings and version lookups) one command line makes."""
        self.requests.clear()
        if run == "docker":
            subprocess.run(["docker", *args], capture_output=True, timeout=60, check=False,
                           env={**os.environ, "DOCKER_HOST": self.host})
        else:
            ketch(self.host, *args)
        # (Go's json.Encoder ends a body with a newline; ketch's wire layer does not)
        return [(m, t.split("/", 2)[2] if t.startswith("/v1.") else t, b.removesuffix(b"\n"))
                for m, t, b in self.requests if "/_ping" not in t]


@pytest.fixture(params=["1.44", "1.41"])
def recorder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Recorder]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    rec = Recorder(tmp_path / "rec.sock", request.param)
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.mark.parametrize("args", [
    ["network", "create", "foo"],
    ["network", "create", "-d", "bridge", "--subnet", "10.5.0.0/16", "--ip-range",
     "10.5.1.0/24", "--gateway", "10.5.0.1", "--internal", "--attachable", "--label", "a=b",
     "-o", "com.x=1", "--ipv6", "foo"],
    ["network", "create", "--ipv4=false", "--scope", "local", "--config-from", "x", "foo"],
    ["network", "ls", "-f", "driver=bridge"],
    ["network", "inspect", "-v", "foo"],
    ["network", "rm", "foo"],
    ["network", "prune", "-f", "--filter", "until=1h"],
    ["network", "connect", "--alias", "a", "--ip", "10.0.0.5", "--link", "x:y", "net", "ctr"],
    ["network", "connect", "net", "ctr"],
    ["network", "disconnect", "-f", "net", "ctr"],
])
def test_network_requests_are_dockers(recorder: Recorder, args: list[str]) -> None:
    theirs = recorder.sent("docker", *args)
    ours = recorder.sent("ketch", *args)
    if args[:2] == ["network", "rm"]:  # docker first looks the network up (an ingress check)
        theirs = [r for r in theirs if r[0] != "GET"]
    assert ours == theirs


@pytest.mark.parametrize("args", [
    ["-p", "8080:80", "-p", "127.0.0.1::82/udp", "-p", "8000-8002:90-92", "-p",
     "[::1]:7070:70/sctp", "--expose", "5000-5001", "-P"],
    ["--network", "mynet", "--network-alias", "a", "--ip", "10.0.0.5", "--ip6", "fd00::5",
     "--link", "c1:alias", "--dns", "1.1.1.1", "--dns-search", "example.com", "--dns-option",
     "ndots:2", "--add-host", "h=1.2.3.4", "-h", "box.lan", "--domainname", "dom"],
    ["--network", "host"],
    ["--network", "a", "--network", "b"],
    ["--net", "bridge", "--link", "x"],
])
def test_create_network_fields_are_dockers(recorder: Recorder, args: list[str]) -> None:
    def fields(requests: list[tuple[str, str, bytes]]) -> list[object]:
        [body] = [json.loads(b) for m, t, b in requests if t.startswith("containers/create")]
        host = body["HostConfig"]
        return [body.get("ExposedPorts"), body["Hostname"], body["Domainname"],
                *(host.get(k) for k in ("NetworkMode", "PortBindings", "PublishAllPorts", "Dns",
                                        "DnsOptions", "DnsSearch", "ExtraHosts", "Links")),
                json.dumps(body["NetworkingConfig"])]

    assert fields(recorder.sent("ketch", "create", *args, "busybox")) == \
        fields(recorder.sent("docker", "create", *args, "busybox"))
