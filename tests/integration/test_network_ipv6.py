"""IPv6 on user-defined bridge networks, as dockerd 20.10 answers the same commands:
`network create --ipv6 --subnet <v6>` (with --ip-range and --gateway), addresses handed
out lowest first or asked for with --ip6, the default IPv6 route through the gateway on
the bridge, /etc/hosts and the embedded DNS (AAAA) naming them, inspect's fields, and an
IPv6 subnet given without --ipv6 shown but unused."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support.daemon import Ketchd, api, docker, ok, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def inspect(ketchd: Ketchd, *args: str) -> Any:
    return json.loads(ok(docker(ketchd, "inspect", *args)))[0]


def host_addresses(bridge: str) -> str:
    return subprocess.run(["ip", "-6", "addr", "show", "dev", bridge], capture_output=True,
                          text=True, check=False).stdout


def test_an_ipv6_network(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "network", "create", "--ipv6", "--subnet", "fdc4:6b74:1::/64",
              "--ip-range", "fdc4:6b74:1::/96", "--gateway", "fdc4:6b74:1::ffff", "v6on"))
    net = json.loads(ok(docker(ketchd, "network", "inspect", "v6on")))[0]
    assert net["EnableIPv6"] is True
    config = net["IPAM"]["Config"]
    assert config[0]["Subnet"].startswith("172.") and config[0]["Gateway"]  # IPv4 first
    assert config[1] == {"Subnet": "fdc4:6b74:1::/64", "IPRange": "fdc4:6b74:1::/96",
                         "Gateway": "fdc4:6b74:1::ffff"}
    bridge = "br-" + net["Id"][:12]
    assert "inet6 fdc4:6b74:1::ffff/64" in host_addresses(bridge)
    try:
        # the lowest free address of the range; the default route through the gateway
        out = ok(docker(ketchd, "run", "--rm", "--network", "v6on", "busybox", "sh", "-c",
                        "ip -6 addr show eth0; ip -6 route; cat /etc/hosts"))
        assert "inet6 fdc4:6b74:1::1/64 scope global" in out
        assert "default via fdc4:6b74:1::ffff dev eth0" in out
        assert "fdc4:6b74:1::1\t" in out  # the container's own name, as dockerd writes it
        ok(docker(ketchd, "run", "-d", "--name", "c7", "--network", "v6on", "--ip6",
                  "fdc4:6b74:1::f00d", "busybox", "httpd", "-f", "-p", "8080"))
        ep = inspect(ketchd, "c7")["NetworkSettings"]["Networks"]["v6on"]
        assert ep["IPAMConfig"] == {"IPv6Address": "fdc4:6b74:1::f00d"}
        assert (ep["GlobalIPv6Address"], ep["GlobalIPv6PrefixLen"], ep["IPv6Gateway"]) == \
            ("fdc4:6b74:1::f00d", 64, "fdc4:6b74:1::ffff")
        containers = json.loads(ok(docker(ketchd, "network", "inspect", "v6on")))[0][
            "Containers"]
        assert [c["IPv6Address"] for c in containers.values()] == ["fdc4:6b74:1::f00d/64"]
        # the name answers AAAA with the IPv6 address, A with the IPv4 one; ping6 gets there
        out = ok(docker(ketchd, "run", "--rm", "--network", "v6on", "busybox", "sh", "-c",
                        "nslookup -type=AAAA c7 127.0.0.11; nslookup -type=A c7 127.0.0.11;"
                        " ping6 -c1 -W2 c7"))
        assert "Address: fdc4:6b74:1::f00d" in out and "Address: " + ep["IPAddress"] in out
        assert "1 packets received" in out
        # the host reaches it through the bridge (httpd may still be starting on a busy host)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("fdc4:6b74:1::f00d", 8080), timeout=5) as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    assert s.recv(12).startswith(b"HTTP/1.")
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # the address is taken; after the container, it is free again
        taken = docker(ketchd, "run", "--rm", "--network", "v6on", "--ip6", "fdc4:6b74:1::f00d",
                       "busybox", "true")
        assert taken.returncode == 125 and "Address already in use" in taken.stderr
        ok(docker(ketchd, "rm", "-f", "c7"))
        ok(docker(ketchd, "run", "--rm", "--network", "v6on", "--ip6", "fdc4:6b74:1::f00d",
                  "busybox", "true"))
        # connect with an address asked for
        ok(docker(ketchd, "run", "-d", "--name", "c8", "busybox", "sleep", "300"))
        ok(docker(ketchd, "network", "connect", "--ip6", "fdc4:6b74:1::beef", "v6on", "c8"))
        assert "inet6 fdc4:6b74:1::beef/64" in ok(docker(ketchd, "exec", "c8", "ip", "-6",
                                                        "addr", "show", "eth1"))
        ok(docker(ketchd, "network", "disconnect", "v6on", "c8"))
        ok(docker(ketchd, "network", "connect", "--ip6", "fdc4:6b74:1::beef", "v6on", "c8"))
        ok(docker(ketchd, "rm", "-f", "c8"))
    finally:
        docker(ketchd, "rm", "-f", "c7", "c8")
        ok(docker(ketchd, "network", "rm", "v6on"))
    assert host_addresses(bridge) == ""


def test_an_ipv6_subnet_without_ipv6_is_shown_but_unused(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "network", "create", "--subnet", "2001:389::/64", "v6off"))
    try:
        net = json.loads(ok(docker(ketchd, "network", "inspect", "v6off")))[0]
        assert net["EnableIPv6"] is False
        assert net["IPAM"]["Config"][1] == {"Subnet": "2001:389::/64"}
        ok(docker(ketchd, "create", "--name", "c6", "--network", "v6off", "--ip6",
                  "2001:389::f00d", "busybox", "true"))
        ok(docker(ketchd, "start", "-a", "c6"))
        ep = inspect(ketchd, "c6")["NetworkSettings"]["Networks"]["v6off"]
        assert ep["IPAMConfig"] == {"IPv6Address": "2001:389::f00d"}
        assert ep["GlobalIPv6Address"] == ""
        # no IPv6 on the interface at all, not even link-local, as dockerd 20.10
        out = ok(docker(ketchd, "run", "--rm", "--network", "v6off", "busybox", "sh", "-c",
                        "ip -6 addr show eth0; cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6"))
        assert "inet6" not in out and out.strip().endswith("1")
    finally:
        docker(ketchd, "rm", "-f", "c6")
        ok(docker(ketchd, "network", "rm", "v6off"))


@pytest.mark.parametrize(("args", "words"), [
    (["--ipv6"], "could not find an available, non-overlapping IPv6 address pool"),
    (["--ipv6", "--subnet", "fdc4:6b74:2::/64", "--subnet", "fdc4:6b74:3::/64"],
     "bridge driver doesn't support multiple subnets"),
    (["--ipv6", "--subnet", "fdc4:6b74:4::/64", "--gateway", "fdc4:6b74:5::1"],
     "no matching subnet for gateway fdc4:6b74:5::1"),
    (["--ipv6", "--subnet", "fdc4:6b74:6::/64", "--ip-range", "fdc4:6b74:7::/96"],
     "no matching subnet for range fdc4:6b74:7::/96"),  # the CLI's words
    (["--ipv6", "--subnet", "fdc4:6b74:1:0:1::/80"], "Pool overlaps with other one"),
])
def test_bad_ipv6_networks(ketchd: Ketchd, args: list[str], words: str) -> None:
    ok(docker(ketchd, "network", "create", "--ipv6", "--subnet", "fdc4:6b74:1::/64", "first"))
    try:
        before = ok(docker(ketchd, "network", "ls", "-q")).split()
        refused = docker(ketchd, "network", "create", *args, "bad")
        assert refused.returncode == 1 and words in refused.stderr, refused.stderr
        assert ok(docker(ketchd, "network", "ls", "-q")).split() == before
    finally:
        ok(docker(ketchd, "network", "rm", "first"))


def test_bad_ipv6_endpoints(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "network", "create", "--ipv6", "--subnet", "fdc4:6b74:9::/64", "v6e"))
    try:
        for ip6, words in (("bogus", "invalid IPv6 address: bogus"),
                           ("fe80::1%eth0", "invalid IPv6 address"),
                           ("fdc5::5", "no configured subnet contains IP address")):
            refused = docker(ketchd, "run", "--rm", "--network", "v6e", "--ip6", ip6,
                             "busybox", "true")
            assert refused.returncode == 125 and words in refused.stderr, refused.stderr
        # past the CLI: the API's own checks, one 400 each and no container made
        before = ok(docker(ketchd, "ps", "-aq"))
        for ipam_config in (5, {"IPv6Address": 5}, {"IPv6Address": ["fdc4:6b74:9::5"]},
                            {"IPv4Address": 167772161}):
            status, body = api(ketchd, "POST", "/containers/create", json.dumps(
                {"Image": "busybox", "HostConfig": {"NetworkMode": "v6e"},
                 "NetworkingConfig": {"EndpointsConfig": {"v6e": {
                     "IPAMConfig": ipam_config}}}}).encode(),
                "Content-Type: application/json\r\n")
            assert status == 400 and "IPAMConfig" in json.loads(body)["message"], body
        assert ok(docker(ketchd, "ps", "-aq")) == before
        refused = docker(ketchd, "run", "--rm", "--ip6", "fdc4:6b74:9::5", "busybox", "true")
        assert "user specified IP address is supported on user defined networks only" in \
            refused.stderr
    finally:
        ok(docker(ketchd, "network", "rm", "v6e"))


def test_ipv6_addresses_survive_a_daemon_restart(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "network", "create", "--ipv6", "--subnet", "fdc4:6b74:a::/64", "v6r"))
    try:
        ok(docker(ketchd, "run", "-d", "--name", "kept", "--network", "v6r", "busybox",
                  "sleep", "300"))
        assert inspect(ketchd, "kept")["NetworkSettings"]["Networks"]["v6r"][
            "GlobalIPv6Address"] == "fdc4:6b74:a::2"  # ::1 is the gateway
        ketchd.kill9()
        ketchd.start()
        # the running container's address is still taken: the next one gets the next
        out = ok(docker(ketchd, "run", "--rm", "--network", "v6r", "busybox", "ip", "-6",
                        "addr", "show", "eth0"))
        assert "inet6 fdc4:6b74:a::3/64" in out
    finally:
        docker(ketchd, "rm", "-f", "kept")
        ok(docker(ketchd, "network", "rm", "v6r"))
