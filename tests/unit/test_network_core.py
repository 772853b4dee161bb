"""The pure parts of networking: subnet choice, address allocation, the nftables
ruleset, port bindings, and the network store's rules."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest

from ketch.errors import Conflict, Forbidden, InvalidParameter, KetchError, NotFound
from ketch.network import firewall, ipam, ports
from ketch.network.store import NetworkStore


def test_subnets_skip_what_is_taken() -> None:
    assert ipam.choose_subnet([]) == IPv4Network("172.17.0.0/16")
    taken = [IPv4Network("172.17.0.0/16"), IPv4Network("172.18.5.0/24")]
    assert ipam.choose_subnet(taken) == IPv4Network("172.19.0.0/16")
    everything = [IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/17")]
    assert ipam.choose_subnet(everything) == IPv4Network("192.168.128.0/20")
    with pytest.raises(Forbidden, match="non-overlapping"):
        ipam.choose_subnet([IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16")])


def test_host_routes_read_proc_format(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "br0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n")
    assert ipam.host_routes(str(table)) == [IPv4Network("192.0.2.0/24"),
                                             IPv4Network("172.17.0.0/16")]
    assert ipam.host_routes(str(tmp_path / "missing")) == []


def test_pool_hands_out_the_lowest_free_address() -> None:
    pool = ipam.Pool(IPv4Network("10.0.0.0/29"), IPv4Address("10.0.0.1"))
    got = [pool.allocate() for _ in range(5)]
    assert got == [IPv4Address(f"10.0.0.{i}") for i in range(2, 7)]
    with pytest.raises(Conflict, match="no available"):
        pool.allocate()
    pool.release(IPv4Address("10.0.0.3"))
    assert pool.allocate() == IPv4Address("10.0.0.3")
    pool.release(IPv4Address("10.0.0.1"))  # the gateway is never given away
    pool.release(IPv4Address("10.0.0.4"))
    assert pool.allocate() == IPv4Address("10.0.0.4")


def test_pool_static_addresses() -> None:
    pool = ipam.Pool(IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1"),
                     IPv4Network("10.0.0.128/25"))
    assert pool.allocate() == IPv4Address("10.0.0.129")  # from the ip-range
    assert pool.allocate(IPv4Address("10.0.0.5")) == IPv4Address("10.0.0.5")
    with pytest.raises(Conflict, match="already in use"):
        pool.allocate(IPv4Address("10.0.0.5"))
    with pytest.raises(Conflict):
        pool.allocate(IPv4Address("10.0.0.1"))
    for bad in ("10.0.1.5", "10.0.0.0", "10.0.0.255"):
        with pytest.raises(InvalidParameter):
            pool.allocate(IPv4Address(bad))


def test_ruleset() -> None:
    text = firewall.ruleset(
        "ketch", [firewall.Bridge("ketch0", IPv4Network("172.17.0.0/16"),
                                  IPv4Address("172.17.0.1")),
                  firewall.Bridge("br-1", IPv4Network("172.18.0.0/16"),
                                  IPv4Address("172.18.0.1"), internal=True)],
        [firewall.Published("tcp", None, 8080, IPv4Address("172.17.0.2"), 80, "ketch0"),
         firewall.Published("udp", IPv4Address("127.0.0.1"), 53, IPv4Address("172.17.0.2"),
                            5353, "ketch0")])
    lines = [line.strip() for line in text.splitlines()]
    # replaced whole in one transaction
    assert lines[:3] == ["table ip ketch", "delete table ip ketch", "table ip ketch {"]
    assert "tcp dport 8080 dnat to 172.17.0.2:80" in lines
    assert "ip daddr 127.0.0.1 udp dport 53 dnat to 172.17.0.2:5353" in lines
    assert 'ip saddr 172.17.0.0/16 oifname != "ketch0" masquerade' in lines
    assert not any("172.18.0.0/16 oifname !=" in line for line in lines)  # internal
    assert 'iifname "br-1" oifname != "br-1" drop' in lines
    # loopback clients: one port each, below the ephemeral range (see firewall.py)
    assert ('oifname "ketch0" ip saddr 127.0.0.0/8 tcp sport 32769-65535 '
            'snat to 172.17.0.1:tcp sport ^ 0x8000') in lines
    assert 'iifname "ketch0" oifname { "br-1" } drop' in lines  # isolated from each other
    assert 'iifname { "ketch0", "br-1" } ip daddr 127.0.0.0/8 drop' in lines


def test_port_bindings() -> None:
    got = ports.bindings({"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                          "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5300-5310"}],
                          "81": None}, ["80/tcp", "90/tcp"], True)
    assert got == [ports.Binding(80, "tcp", "", (8080, 8080)),
                   ports.Binding(53, "udp", "127.0.0.1", (5300, 5310)),
                   ports.Binding(81, "tcp", "", None),
                   ports.Binding(90, "tcp", "", None)]
    for bad, message in (({"80/foo": []}, "invalid proto"),
                         ({"0/tcp": []}, "invalid containerPort"),
                         ({"80/tcp": [{"HostPort": "99999"}]}, "invalid hostPort"),
                         ({"80/tcp": [{"HostPort": "90-80"}]}, "invalid hostPort"),
                         ({"80/tcp": [{"HostIp": "nope"}]}, "invalid IP address"),
                         ([], "must be an object")):
        with pytest.raises(InvalidParameter, match=message):
            ports.bindings(bad, [], False)


def test_reserve_holds_the_port_and_says_what_failed() -> None:
    held = ports.reserve(ports.Binding(80, "tcp", "127.0.0.1", None), "172.17.0.2")
    try:
        assert held.port > 0
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", held.port))
        with pytest.raises(KetchError) as failure:
            ports.reserve(ports.Binding(80, "tcp", "127.0.0.1", (held.port, held.port)),
                          "172.17.0.2")
        assert str(failure.value) == (f"failed to bind host port for 127.0.0.1:{held.port}:"
                                      "172.17.0.2:80/tcp: address already in use")
        # a range moves on to the next free port
        other = ports.reserve(ports.Binding(80, "tcp", "127.0.0.1",
                                            (held.port, min(held.port + 50, 65535))), "x")
        assert other.port != held.port
        other.release()
    finally:
        held.release()


def test_store_rules(tmp_path: Path) -> None:
    store = NetworkStore(str(tmp_path))
    store.ensure_predefined("ketch0", [IPv4Network("172.17.0.0/16")], 1500)
    assert sorted(n.name for n in store.all()) == ["bridge", "host", "none"]
    bridge = store.get("bridge")
    assert bridge.subnet == IPv4Network("172.18.0.0/16")  # 172.17 is a host route here
    assert bridge.bridge == "ketch0" and not bridge.dns
    net = store.create({"Name": "apps", "Labels": {"a": "b"}}, [IPv4Network("172.17.0.0/16")])
    store.save(net)
    assert net.subnet == IPv4Network("172.19.0.0/16") and net.dns
    assert net.bridge == f"br-{net.id[:12]}"
    assert store.get(net.id[:5]).name == "apps"
    with pytest.raises(Conflict, match="already exists"):
        store.create({"Name": "apps"}, [])
    with pytest.raises(Forbidden, match="overlaps"):
        store.create({"Name": "x", "IPAM": {"Config": [{"Subnet": "172.19.3.0/24"}]}}, [])
    with pytest.raises(InvalidParameter, match="invalid CIDR"):
        store.create({"Name": "x", "IPAM": {"Config": [{"Subnet": "300.1.0.0/16"}]}}, [])
    with pytest.raises(InvalidParameter, match="gateway"):
        store.create({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.1.0.0/16",
                                                         "Gateway": "10.2.0.1"}]}}, [])
    with pytest.raises(NotFound, match="plugin"):
        store.create({"Name": "x", "Driver": "overlay"}, [])
    with pytest.raises(InvalidParameter, match="bridge name"):
        store.create({"Name": "x", "Options": {"com.docker.network.bridge.name":
                                                "a-name-far-too-long"}}, [])
    explicit = store.create({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.1.0.0/16"}]}},
                            [])
    assert explicit.record["IPAM"]["Config"] == [{"Subnet": "10.1.0.0/16"}]
    assert str(explicit.gateway) == "10.1.0.1"
    again = NetworkStore(str(tmp_path))  # only what was saved comes back
    assert sorted(n.name for n in again.all()) == ["apps", "bridge", "host", "none"]
    with pytest.raises(NotFound, match="network nope not found"):
        again.get("nope")


def test_ipv6_pools_and_records(tmp_path: Path) -> None:
    pool = ipam.Pool(IPv6Network("fd00:1::/64"), IPv6Address("fd00:1::1"),
                     IPv6Network("fd00:1::/120"))
    assert [str(pool.allocate()) for _ in range(2)] == ["fd00:1::2", "fd00:1::3"]
    pool.release(IPv6Address("fd00:1::2"))
    assert str(pool.allocate()) == "fd00:1::2"
    with pytest.raises(InvalidParameter, match="does not belong"):
        pool.allocate(IPv6Address("fd00:2::5"))
    for bad in ("fe80::1%eth0", "fd00::/64x"):
        with pytest.raises(InvalidParameter):
            ipam.parse_address6(bad)
    with pytest.raises(InvalidParameter, match="invalid CIDR"):
        ipam.parse_subnet("fe80::%eth0/64")
    with pytest.raises(InvalidParameter, match="too small"):
        ipam.parse_subnet("fd00::/127")
    store = NetworkStore(str(tmp_path))
    net = store.create({"Name": "six", "EnableIPv6": True, "IPAM": {"Config": [
        {"Subnet": "fd00:1::/64", "Gateway": "fd00:1::ffff",
         "AuxiliaryAddresses": {"a": "fd00:1::a"}}]}}, [])
    assert net.record["IPAM"]["Config"][0]["Subnet"].startswith("172.")  # IPv4 first
    assert (str(net.subnet6), str(net.gateway6), [str(a) for a in net.aux_addresses6]) == \
        ("fd00:1::/64", "fd00:1::ffff", ["fd00:1::a"])
    store.save(net)
    unused = store.create({"Name": "shown", "IPAM": {"Config": [{"Subnet": "fd00:2::/64"}]}},
                          [])
    assert unused.subnet6 is None and unused.record["EnableIPv6"] is False
    for body, error, words in (
            ({"EnableIPv6": True}, Forbidden, "IPv6 address pool"),
            ({"IPAM": {"Config": [{"Subnet": "fd00:3::/64"}, {"Subnet": "fd00:4::/64"}]}},
             InvalidParameter, "multiple subnets"),
            ({"IPAM": {"Config": [{"Subnet": "fd00:1:0:0:1::/80"}]}}, Forbidden, "overlaps"),
            ({"IPAM": {"Config": [{"Subnet": "fd00:5::/64", "Gateway": "fd00:6::1"}]}},
             InvalidParameter, "no matching subnet"),
            ({"IPAM": {"Config": [{"Subnet": "fd00:5::/64", "Gateway": "fd00:5::1%lo"}]}},
             InvalidParameter, "invalid gateway"),
            ({"IPAM": {"Config": [{"Subnet": "fd00:5::/64",
                                   "AuxiliaryAddresses": {"x": "fd00:6::1"}}]}},
             Forbidden, "must belong")):
        with pytest.raises(error, match=words):
            store.create({"Name": "bad", "EnableIPv6": True, **body}, [])


def test_default_address_pools() -> None:
    from ketch.network.defaults import parse_pool

    pools = (parse_pool({"base": "10.123.0.0/16", "size": 24}),
             parse_pool("base=192.168.77.0/24,size=26"))
    assert ipam.choose_subnet([], pools) == IPv4Network("10.123.0.0/24")
    taken = [IPv4Network("10.123.0.0/17"), IPv4Network("10.123.128.0/17")]
    assert ipam.choose_subnet(taken, pools) == IPv4Network("192.168.77.0/26")
    with pytest.raises(Forbidden, match="non-overlapping"):
        ipam.choose_subnet([*taken, IPv4Network("192.168.77.0/24")], pools)
    assert ipam.choose_subnet([]) == IPv4Network("172.17.0.0/16")  # Docker's own
    for bad in ({"base": "10.0.0.0/16", "size": 31}, {"base": "10.0.0.0/16"}, "size=24",
                {"base": "fd00::/48", "size": 64}, ["10.0.0.0/8"]):
        with pytest.raises(InvalidParameter):
            parse_pool(bad)
