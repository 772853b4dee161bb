"""Networking against a private ketchd: user-defined networks and their DNS, published
TCP and UDP ports reached from the host's loopback and from another network namespace
standing in for an outside host, nothing left behind, and bad input."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from ketch.network import proxy
from ketch.network.ipam import host_routes
from support.daemon import BUSYBOX_TAR, Ketchd, api, docker, ok, running_ketchd

pytestmark = pytest.mark.integration

DEBIAN_TAR = BUSYBOX_TAR.parent / "debian-bookworm-slim.tar"
# a UDP echo server for the debian image (perl-base has IO::Socket::INET)
UDP_ECHO = ('use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 9999, '
            'Proto => "udp") or die; while (1) { my $peer = $s->recv(my $m, 1500); '
            '$s->send("echo:$m") }')


@pytest.fixture(scope="module")
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def inspect(ketchd: Ketchd, name: str) -> dict[str, object]:
    found: list[dict[str, object]] = json.loads(ok(docker(ketchd, "inspect", name)))
    return found[0]


def tcp_get(host: str, port: int, netns: str | None = None, timeout: float = 5) -> str:
    """An HTTP GET of / (from inside `netns` when given), retried until it answers."""
    code = ("import socket,sys,time\n"
            "deadline = time.monotonic() + float(sys.argv[3])\n"
            "while True:\n"
            "    try:\n"
            "        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 2)\n"
            "        s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
            "        data = b''\n"
            "        while chunk := s.recv(65536):\n"
            "            data += chunk\n"
            "        print(data.decode().split('\\r\\n\\r\\n', 1)[-1], end='')\n"
            "        break\n"
            "    except OSError:\n"
            "        if time.monotonic() > deadline: raise\n"
            "        time.sleep(0.05)\n")
    prefix = ["ip", "netns", "exec", netns] if netns else []
    proc = subprocess.run([*prefix, sys.executable, "-c", code, host, str(port), str(timeout)],
                          capture_output=True, text=True, timeout=timeout + 10, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def udp_echo(host: str, port: int, netns: str | None = None) -> str:
    code = ("import socket,sys,time\n"
            "family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n"
            "s = socket.socket(family, socket.SOCK_DGRAM); s.settimeout(0.5)\n"
            "deadline = time.monotonic() + 10\n"
            "while True:\n"
            "    s.sendto(b'ping', (sys.argv[1], int(sys.argv[2])))\n"
            "    try:\n"
            "        print(s.recv(1500).decode(), end=''); break\n"
            "    except OSError:\n"
            "        if time.monotonic() > deadline: raise\n")
    prefix = ["ip", "netns", "exec", netns] if netns else []
    proc = subprocess.run([*prefix, sys.executable, "-c", code, host, str(port)],
                          capture_output=True, text=True, timeout=20, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def outside() -> Iterator[tuple[str, str]]:
    """A network namespace acting as another host, wired to this one by a veth pair:
    (its name, the host's address it reaches us at)."""
    taken = host_routes()
    subnet = next(n for n in IPv4Network("10.200.0.0/16").subnets(new_prefix=30)
                  if not any(n.overlaps(t) for t in taken))
    host_ip, peer_ip = (str(a) for a in subnet.hosts())
    tag = secrets.token_hex(3)
    ns, here, there = f"ktout-{tag}", f"ktoh{tag}", f"ktoo{tag}"
    for cmd in (["ip", "netns", "add", ns],
                ["ip", "link", "add", here, "type", "veth", "peer", "name", there,
                 "netns", ns],
                ["ip", "addr", "add", f"{host_ip}/30", "dev", here],
                ["ip", "link", "set", here, "up"],
                ["ip", "-n", ns, "addr", "add", f"{peer_ip}/30", "dev", there],
                ["ip", "-n", ns, "link", "set", there, "up"],
                ["ip", "-n", ns, "link", "set", "lo", "up"],
                ["ip", "-n", ns, "route", "add", "default", "via", host_ip]):
        subprocess.run(cmd, check=True, capture_output=True)
    try:
        yield ns, host_ip
    finally:
        subprocess.run(["ip", "link", "del", here], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


@pytest.fixture(scope="module")
def debian(ketchd: Ketchd) -> str:
    if not DEBIAN_TAR.exists():
        pytest.skip("no debian base image (install.sh makes it)")
    ok(docker(ketchd, "import", str(DEBIAN_TAR), "debian:bookworm-slim", timeout=120))
    return "debian:bookworm-slim"


def test_containers_on_a_user_network_reach_each_other_by_name(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "network", "create", "apps"))
    try:
        ok(docker(ketchd, "run", "-d", "--name", "db", "--network", "apps",
                  "--network-alias", "database", "busybox", "httpd", "-f", "-p", "80",
                  "-h", "/etc"))
        address = inspect(ketchd, "db")["NetworkSettings"]["Networks"]["apps"]["IPAddress"]  # type: ignore[index]
        script = ("for n in db database DB db.apps; do nslookup $n 127.0.0.11 | "
                  "sed -n 's/^Address: //p'; done; wget -qO- http://db/hostname")
        out = ok(docker(ketchd, "run", "--rm", "--network", "apps", "busybox", "sh", "-c",
                        script))
        lines = out.splitlines()
        assert lines[:4] == [address] * 4
        assert lines[4] == inspect(ketchd, "db")["Config"]["Hostname"]  # type: ignore[index]
        resolv = ok(docker(ketchd, "run", "--rm", "--network", "apps", "busybox", "cat",
                           "/etc/resolv.conf"))
        assert "nameserver 127.0.0.11" in resolv
        # a name nobody has is forwarded (and answered by the host's resolvers or not):
        # the point is that it does not hang and is not answered from our names
        miss = docker(ketchd, "run", "--rm", "--network", "apps", "busybox", "nslookup",
                      "no-such-container.invalid", "127.0.0.11")
        assert address not in miss.stdout
        # the default bridge has no embedded DNS: names are not resolved there
        other = docker(ketchd, "run", "--rm", "busybox", "nslookup", "db")
        assert address not in other.stdout
    finally:
        docker(ketchd, "rm", "-f", "db")
        docker(ketchd, "network", "rm", "apps")


def test_published_tcp_and_udp_from_loopback_and_outside(ketchd: Ketchd, debian: str,
                                                         outside: tuple[str, str],
                                                         tmp_path: Path) -> None:
    site = tmp_path / "www"
    site.mkdir()
    (site / "index.html").write_text("published\n")
    ns, host_ip = outside
    tcp, udp = free_port(), free_port(socket.SOCK_DGRAM)
    ok(docker(ketchd, "run", "-d", "--name", "pub", "-p", f"{tcp}:80",
              "-p", f"{udp}:9999/udp", debian, "perl", "-e", UDP_ECHO))
    # the web server joins pub's network namespace, so pub's published port reaches it
    ok(docker(ketchd, "run", "-d", "--name", "pubweb", "--network", "container:pub",
              "-v", f"{site}:/www:ro", "busybox", "httpd", "-f", "-p", "80", "-h", "/www"))
    try:
        assert tcp_get("127.0.0.1", tcp) == "published\n"
        assert tcp_get(host_ip, tcp, netns=ns) == "published\n"
        assert udp_echo("127.0.0.1", udp) == "echo:ping"
        assert udp_echo(host_ip, udp, netns=ns) == "echo:ping"
        if proxy.ipv6_available():  # [::] too, through the userland proxy
            assert tcp_get("::1", tcp) == "published\n"
            assert udp_echo("::1", udp) == "echo:ping"
    finally:
        docker(ketchd, "rm", "-f", "pubweb", "pub")


def test_http_through_published_port_from_outside(ketchd: Ketchd, outside: tuple[str, str],
                                                  tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("from outside\n")
    ns, host_ip = outside
    port = free_port()
    ok(docker(ketchd, "run", "-d", "--name", "web", "-p", f"{port}:80", "-v",
              f"{site}:/www:ro", "busybox", "httpd", "-f", "-p", "80", "-h", "/www"))
    try:
        assert tcp_get("127.0.0.1", port) == "from outside\n"
        assert tcp_get(host_ip, port, netns=ns) == "from outside\n"
        # a container reaches the published port through the host (hairpin NAT)
        gateway = inspect(ketchd, "web")["NetworkSettings"]["Gateway"]  # type: ignore[index]
        out = ok(docker(ketchd, "run", "--rm", "busybox", "wget", "-qO-",
                        f"http://{gateway}:{port}/"))
        assert out == "from outside\n"
        # bound to one address, the port answers there only
        other = free_port()
        ok(docker(ketchd, "run", "-d", "--name", "web-lo", "-p", f"127.0.0.1:{other}:80",
                  "-v", f"{site}:/www:ro", "busybox", "httpd", "-f", "-p", "80", "-h",
                  "/www"))
        assert tcp_get("127.0.0.1", other) == "from outside\n"
        with pytest.raises(AssertionError):
            tcp_get(host_ip, other, netns=ns, timeout=1)
    finally:
        docker(ketchd, "rm", "-f", "web", "web-lo")


def test_containers_reach_what_the_host_reaches(ketchd: Ketchd,
                                                outside: tuple[str, str]) -> None:
    """Outbound traffic is masqueraded: a server on the 'outside host' answers a container
    on the default bridge and one on a user network, and sees the host's address."""
    ns, host_ip = outside
    peer = str(IPv4Network(f"{host_ip}/30", strict=False)[2])
    server = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c",
         "import http.server as h, socketserver as s\n"
         "class H(h.BaseHTTPRequestHandler):\n"
         "    def do_GET(self):\n"
         "        self.send_response(200); self.end_headers()\n"
         "        self.wfile.write(self.client_address[0].encode())\n"
         "    def log_message(self, *a): pass\n"
         # (not HTTPServer: its bind looks its own name up, through a DNS out of reach)
         f"s.TCPServer(('{peer}', 8099), H).serve_forever()"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ok(docker(ketchd, "network", "create", "out"))
        assert tcp_get(peer, 8099) == host_ip  # up (the host reaches it from its own side)
        for network in ("bridge", "out"):
            script = (f"for i in $(seq 50); do wget -qO- http://{peer}:8099/ && exit; "
                      "sleep 0.1; done; exit 1")
            seen = ok(docker(ketchd, "run", "--rm", "--network", network, "busybox", "sh",
                             "-c", script))
            assert seen == host_ip  # masqueraded behind the host's address on that link
    finally:
        server.kill()
        server.wait()
        docker(ketchd, "network", "rm", "out")


def test_publish_all_and_random_host_ports(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "run", "-d", "--name", "rnd", "--expose", "80", "--expose", "81",
              "-P", "-p", "82", "busybox", "sleep", "100"))
    try:
        ports = inspect(ketchd, "rnd")["NetworkSettings"]["Ports"]
        assert isinstance(ports, dict)
        assert sorted(ports) == ["80/tcp", "81/tcp", "82/tcp"]
        numbers = [int(ports[k][0]["HostPort"]) for k in sorted(ports)]
        assert len(set(numbers)) == 3 and all(n >= 1024 for n in numbers)
        lines = ok(docker(ketchd, "port", "rnd")).splitlines()
        assert f"80/tcp -> 0.0.0.0:{numbers[0]}" in lines
    finally:
        docker(ketchd, "rm", "-f", "rnd")


def test_hosts_and_dns_flags(ketchd: Ketchd) -> None:
    out = ok(docker(ketchd, "run", "--rm", "--hostname", "box", "--add-host",
                    "db.local:10.1.2.3", "--add-host", "gw:host-gateway", "--dns", "10.9.9.9",
                    "--dns-search", "example.test", "--mac-address", "02:42:0a:00:00:99",
                    "busybox", "sh", "-c", "hostname; cat /etc/hosts /etc/resolv.conf "
                    "/sys/class/net/eth0/address"))
    assert out.startswith("box\n")
    assert "10.1.2.3\tdb.local\n" in out
    gateway = json.loads(ok(docker(ketchd, "network", "inspect", "bridge")))[0][
        "IPAM"]["Config"][0]["Gateway"]
    assert f"{gateway}\tgw\n" in out
    assert "nameserver 10.9.9.9" in out and "search example.test" in out
    assert out.rstrip().endswith("02:42:0a:00:00:99")
    none = ok(docker(ketchd, "run", "--rm", "--network", "none", "busybox", "ls",
                     "/sys/class/net"))
    assert none.split() == ["lo"]
    host = ok(docker(ketchd, "run", "--rm", "--network", "host", "busybox", "cat",
                     "/proc/net/dev"))
    assert all(name in host for name in os.listdir("/sys/class/net")
               if not name.startswith("veth"))


def test_link_on_the_default_bridge(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "run", "-d", "--name", "linked", "--expose", "80", "-e", "FOO=bar",
              "busybox", "sleep", "100"))
    try:
        address = inspect(ketchd, "linked")["NetworkSettings"]["IPAddress"]
        hosts = ok(docker(ketchd, "run", "--rm", "--link", "linked:my-alias", "busybox",
                          "cat", "/etc/hosts"))
        line = next(li for li in hosts.splitlines() if li.startswith(f"{address}\t"))
        assert "my-alias" in line.split() and "linked" in line.split()
        env = ok(docker(ketchd, "run", "--rm", "--name", "linker", "--link",
                        "linked:my-alias", "busybox", "env")).splitlines()
        assert {f"MY_ALIAS_PORT=tcp://{address}:80", f"MY_ALIAS_PORT_80_TCP=tcp://{address}:80",
                f"MY_ALIAS_PORT_80_TCP_ADDR={address}", "MY_ALIAS_PORT_80_TCP_PORT=80",
                "MY_ALIAS_PORT_80_TCP_PROTO=tcp", "MY_ALIAS_NAME=/linker/my-alias",
                "MY_ALIAS_ENV_FOO=bar"} <= set(env)
        assert not any(v.startswith("MY_ALIAS_ENV_PATH=") for v in env)
    finally:
        docker(ketchd, "rm", "-f", "linked")
    proc = docker(ketchd, "run", "--rm", "--link", "linked:x", "busybox", "true")
    assert proc.returncode == 125 and "Cannot link to a non running container" in proc.stderr
    assert ok(docker(ketchd, "ps", "-aq")) == ""


def test_connect_and_disconnect_live(ketchd: Ketchd) -> None:
    import docker as docker_py

    client = docker_py.DockerClient(base_url=ketchd.host)
    net = client.networks.create("live", labels={"k": "v"})
    try:
        server = client.containers.run("busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"],
                                       name="server", detach=True)
        net.connect(server, aliases=["svc"])
        server.reload()
        address = server.attrs["NetworkSettings"]["Networks"]["live"]["IPAddress"]
        assert address and address != server.attrs["NetworkSettings"]["IPAddress"]
        net.reload()
        assert list(net.attrs["Containers"]) == [server.id]
        out = client.containers.run("busybox", ["sh", "-c", "nslookup svc 127.0.0.11 | "
                                                "sed -n 's/^Address: //p'"],
                                    network="live", remove=True)
        assert out.decode().split() == [address]
        net.disconnect(server)
        server.reload()
        assert "live" not in server.attrs["NetworkSettings"]["Networks"]
        net.reload()
        assert net.attrs["Containers"] == {}
    finally:
        docker(ketchd, "rm", "-f", "server")
        net.remove()
        client.close()


def _leftovers(ketchd: Ketchd, veths: int = 0) -> tuple[list[str], str]:
    """ketchd's interfaces but its default bridge, and its table's rules for published
    ports and user networks; veth pairs are removed in the background, so this waits
    (a little) for the number expected."""
    deadline = time.monotonic() + 5
    while True:
        found = sorted(n for n in ketchd.interfaces() if n != ketchd.bridge)
        if sum(n.startswith("veth") for n in found) == veths or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    table = ketchd.nft_table()
    return found, "\n".join(li for li in table.splitlines() if "dnat to" in li or "br-" in li)


def test_nothing_left_after_removal_and_after_kill9(ketchd: Ketchd) -> None:
    assert _leftovers(ketchd) == ([], "")
    ok(docker(ketchd, "network", "create", "tmpnet"))
    port = free_port()
    ok(docker(ketchd, "run", "-d", "--name", "kept", "--network", "tmpnet", "-p",
              f"{port}:80", "busybox", "httpd", "-f", "-p", "80"))
    ok(docker(ketchd, "run", "-d", "--name", "ended", "busybox", "sleep", "1000"))
    veths, rules = _leftovers(ketchd, 2)
    assert len(veths) == 3 and f"tcp dport {port} dnat to" in rules  # 2 veths, 1 bridge
    # the daemon dies; one container exits meanwhile; the other keeps running
    pid = inspect(ketchd, "ended")["State"]["Pid"]  # type: ignore[index]
    ketchd.kill9()
    os.kill(int(pid), 9)  # type: ignore[call-overload]
    time.sleep(0.5)
    ketchd.start()
    deadline = time.monotonic() + 10
    while inspect(ketchd, "ended")["State"]["Running"] and time.monotonic() < deadline:  # type: ignore[index]
        time.sleep(0.1)
    veths, rules = _leftovers(ketchd, 1)
    assert len(veths) == 2 and f"tcp dport {port} dnat to" in rules  # kept's are rebuilt
    assert tcp_get("127.0.0.1", port) != ""  # still served after the restart
    if proxy.ipv6_available():  # and the userland proxy for [::] is back
        assert tcp_get("::1", port) != ""
    ok(docker(ketchd, "rm", "-f", "kept", "ended"))
    ok(docker(ketchd, "network", "rm", "tmpnet"))
    assert _leftovers(ketchd) == ([], "")
    assert sorted(os.listdir(ketchd.exec_root / "netns")) == []


def test_bad_input(ketchd: Ketchd) -> None:
    # a host port already taken: the start fails, with nothing left behind
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = docker(ketchd, "run", "-d", "--name", "clash", "-p", f"{port}:80", "busybox",
                      "sleep", "10")
        assert proc.returncode == 125
        assert f"0.0.0.0:{port}" in proc.stderr and "address already in use" in proc.stderr
        assert proc.stderr.count("Error") == 1
    assert inspect(ketchd, "clash")["State"]["Status"] == "created"  # type: ignore[index]
    assert _leftovers(ketchd) == ([], "")
    ok(docker(ketchd, "rm", "clash"))
    # taken by another container: Docker's words
    port = free_port()
    ok(docker(ketchd, "run", "-d", "--name", "holder", "-p", f"{port}:80", "busybox",
              "sleep", "100"))
    try:
        proc = docker(ketchd, "run", "--rm", "-p", f"{port}:81", "busybox", "true")
        assert proc.returncode == 125
        assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in proc.stderr
    finally:
        docker(ketchd, "rm", "-f", "holder")
    # an unknown network
    proc = docker(ketchd, "run", "--rm", "--network", "nope", "busybox", "true")
    assert proc.returncode == 125 and "network nope not found" in proc.stderr
    assert "Unable to find image" not in proc.stderr  # not a 404 at create: no pull
    assert ok(docker(ketchd, "ps", "-aq")) == ""
    # overlapping subnets
    ok(docker(ketchd, "network", "create", "--subnet", "10.123.0.0/24", "one"))
    try:
        proc = docker(ketchd, "network", "create", "--subnet", "10.123.0.128/25", "two")
        assert proc.returncode == 1 and "overlaps" in proc.stderr
        status, _ = api(ketchd, "POST", "/networks/create",
                        b'{"Name": "two", "IPAM": {"Config": [{"Subnet": "10.123.0.0/16"}]}}')
        assert status == 403
        proc = docker(ketchd, "network", "create", "one")
        assert proc.returncode == 1 and "already exists" in proc.stderr
        status, body = api(ketchd, "POST", "/networks/create", b'{"Name": "x", "IPAM": '
                           b'{"Config": [{"Subnet": "not-a-cidr"}]}}')
        assert status == 400 and b"invalid CIDR" in body
        # removing a network in use
        ok(docker(ketchd, "run", "-d", "--name", "user", "--network", "one", "busybox",
                  "sleep", "100"))
        proc = docker(ketchd, "network", "rm", "one")
        assert proc.returncode == 1 and "active endpoints" in proc.stderr
        proc = docker(ketchd, "network", "rm", "bridge")
        assert proc.returncode == 1 and "pre-defined" in proc.stderr
    finally:
        docker(ketchd, "rm", "-f", "user")
        docker(ketchd, "network", "rm", "one")
    assert _leftovers(ketchd) == ([], "")
    # a static address outside the subnet
    ok(docker(ketchd, "network", "create", "--subnet", "10.124.0.0/24", "three"))
    try:
        proc = docker(ketchd, "run", "--rm", "--network", "three", "--ip", "10.9.0.5",
                      "busybox", "true")
        assert proc.returncode == 125 and "10.9.0.5" in proc.stderr
        out = ok(docker(ketchd, "run", "--rm", "--network", "three", "--ip", "10.124.0.77",
                        "busybox", "ip", "-4", "-o", "addr", "show", "eth0"))
        assert "10.124.0.77/24" in out
    finally:
        docker(ketchd, "network", "rm", "three")


def test_network_ls_inspect_prune(ketchd: Ketchd) -> None:
    listed = ok(docker(ketchd, "network", "ls", "--format", "{{.Name}} {{.Driver}}"))
    assert sorted(listed.split("\n")[:-1]) == ["bridge bridge", "host host", "none null"]
    ok(docker(ketchd, "network", "create", "--label", "tier=web", "--internal", "p1"))
    ok(docker(ketchd, "network", "create", "p2"))
    info = json.loads(ok(docker(ketchd, "network", "inspect", "p1")))[0]
    assert info["Internal"] is True and info["Labels"] == {"tier": "web"}
    assert info["Driver"] == "bridge" and info["Scope"] == "local"
    # internal: no way out, but the containers of the network still see each other
    out = docker(ketchd, "run", "--rm", "--network", "p1", "busybox", "ip", "route")
    assert "default" not in out.stdout
    pruned = ok(docker(ketchd, "network", "prune", "-f", "--filter", "label=tier=web"))
    assert pruned == "Deleted Networks:\np1\n\n"
    ok(docker(ketchd, "network", "rm", "p2"))
    assert _leftovers(ketchd) == ([], "")
