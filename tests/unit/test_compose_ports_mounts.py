"""Short syntaxes of `ports` and `volumes`, read as Docker reads them."""

from __future__ import annotations

from typing import Any

import pytest

from ketch.compose.errors import ComposeError
from ketch.compose.mounts import MountError, normalize_mounts, parse_volume
from ketch.compose.ports import PortError, normalize_ports, parse_port, port_key


def port(target: int, published: str | None = None, protocol: str = "tcp",
         host_ip: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"mode": "ingress"}
    if host_ip:
        entry["host_ip"] = host_ip
    entry["target"] = target
    if published is not None:
        entry["published"] = published
    entry["protocol"] = protocol
    return entry


@pytest.mark.parametrize(("spec", "entries"), [
    ("3000", [port(3000)]),
    ("3000-3002", [port(3000), port(3001), port(3002)]),
    ("8000:8000", [port(8000, "8000")]),
    ("8080:80/udp", [port(80, "8080", "udp")]),
    ("8080:80/UDP", [port(80, "8080", "udp")]),
    ("53:53/sctp", [port(53, "53", "sctp")]),
    ("9090-9091:8080-8081", [port(8080, "9090"), port(8081, "9091")]),
    ("49100:22", [port(22, "49100")]),
    ("8000-9000:80", [port(80, "8000-9000")]),
    ("127.0.0.1:8001:8001", [port(8001, "8001", host_ip="127.0.0.1")]),
    ("127.0.0.1:5000-5001:5000-5001", [port(5000, "5000", host_ip="127.0.0.1"),
                                       port(5001, "5001", host_ip="127.0.0.1")]),
    ("127.0.0.1::80", [port(80, host_ip="127.0.0.1")]),
    ("::1:6000:6000", [port(6000, "6000", host_ip="::1")]),
    ("[::1]:6001:6001", [port(6001, "6001", host_ip="::1")]),
    ("6060:6060/", [port(6060, "6060")]),
])
def test_short_port_syntax(spec: str, entries: list[dict[str, Any]]) -> None:
    assert parse_port(spec) == entries


@pytest.mark.parametrize(("spec", "message"), [
    ("abc", "invalid containerPort: abc"),
    ("80:abc", "invalid containerPort: abc"),
    ("abc:80", "invalid hostPort: abc"),
    ("80/icmp", "invalid proto: icmp"),
    ("70000", "invalid containerPort: 70000"),
    ("3002-3000", "invalid range specified for containerPort: 3002-3000"),
    ("8080:", "no port specified: 8080:<empty>"),
    ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("9090-9092:8080-8081", "invalid ranges specified for container and host Ports: "
                            "8080-8081 and 9090-9092"),
    ("8080:80-81", "invalid ranges specified for container and host Ports: 80-81 and 8080"),
])
def test_bad_short_ports(spec: str, message: str) -> None:
    with pytest.raises(PortError) as info:
        parse_port(spec)
    assert str(info.value) == message


def test_long_port_syntax_gets_defaults_and_types() -> None:
    entries = normalize_ports([{"target": "80", "published": 8080}, 3000,
                               {"target": 443, "host_ip": "127.0.0.1", "protocol": "UDP",
                                "mode": "host", "name": "web", "app_protocol": "https"}],
                              ("services", "web", "ports"))
    assert entries == [
        port(80, "8080"), port(3000),
        {"name": "web", "mode": "host", "host_ip": "127.0.0.1", "target": 443,
         "protocol": "udp", "app_protocol": "https"}]
    assert port_key(entries[0]) == ("", 80, "8080", "tcp")


def test_port_errors_name_the_entry() -> None:
    with pytest.raises(ComposeError) as info:
        normalize_ports(["80", "x:80"], ("services", "web", "ports"))
    assert str(info.value) == \
        'services.web.ports.1 invalid port "x:80": invalid hostPort: x'
    with pytest.raises(ComposeError) as info:
        normalize_ports([{"target": "http"}], ("services", "web", "ports"))
    assert str(info.value) == 'services.web.ports.0.target must be an integer, not "http"'


@pytest.mark.parametrize(("spec", "mount"), [
    ("/data", {"type": "volume", "target": "/data", "volume": {}}),
    ("db:/var/lib/db", {"type": "volume", "source": "db", "target": "/var/lib/db",
                        "volume": {}}),
    ("db:/var/lib/db:ro", {"type": "volume", "source": "db", "target": "/var/lib/db",
                           "read_only": True, "volume": {}}),
    ("db:/x:nocopy", {"type": "volume", "source": "db", "target": "/x",
                      "volume": {"nocopy": True}}),
    ("./src:/app", {"type": "bind", "source": "./src", "target": "/app",
                    "bind": {"create_host_path": True}}),
    ("../up:/app:rw", {"type": "bind", "source": "../up", "target": "/app",
                       "bind": {"create_host_path": True}}),
    ("/etc/x:/x:ro,z", {"type": "bind", "source": "/etc/x", "target": "/x", "read_only": True,
                        "bind": {"selinux": "z", "create_host_path": True}}),
    ("/a:/b:rshared", {"type": "bind", "source": "/a", "target": "/b",
                       "bind": {"propagation": "rshared", "create_host_path": True}}),
    ("~/x:/x:cached", {"type": "bind", "source": "~/x", "target": "/x",
                       "bind": {"create_host_path": True}}),
])
def test_short_volume_syntax(spec: str, mount: dict[str, Any]) -> None:
    assert parse_volume(spec) == mount


@pytest.mark.parametrize(("spec", "message"), [
    ("", "invalid empty volume spec"),
    ("a::b", "empty section between colons"),
    ("a:b:c:d", "too many colons"),
])
def test_bad_short_volumes(spec: str, message: str) -> None:
    with pytest.raises(MountError, match=f"^{message}$"):
        parse_volume(spec)


def test_mounts_resolve_host_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/me")
    mounts = normalize_mounts(
        ["./src:/app", "~/cache:/cache", "../x:/x", "vol:/v",
         {"type": "bind", "source": "rel", "target": "/r", "bind": {"create_host_path": "no"}},
         {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "64m", "mode": "1777"}},
         {"type": "volume", "source": "vol", "target": "/w", "read_only": "true",
          "volume": {"nocopy": True, "subpath": "sub", "labels": ["a=b"]}}],
        ("services", "web", "volumes"), "/proj/dir")
    assert mounts == [
        {"type": "bind", "source": "/proj/dir/src", "target": "/app",
         "bind": {"create_host_path": True}},
        {"type": "bind", "source": "/home/me/cache", "target": "/cache",
         "bind": {"create_host_path": True}},
        {"type": "bind", "source": "/proj/x", "target": "/x", "bind": {"create_host_path": True}},
        {"type": "volume", "source": "vol", "target": "/v", "volume": {}},
        {"type": "bind", "source": "/proj/dir/rel", "target": "/r",
         "bind": {"create_host_path": False}},
        {"type": "tmpfs", "target": "/t", "tmpfs": {"size": 64 * 2**20, "mode": 0o1777}},
        {"type": "volume", "source": "vol", "target": "/w", "read_only": True,
         "volume": {"labels": {"a": "b"}, "nocopy": True, "subpath": "sub"}},
    ]


def test_mount_errors_name_the_entry() -> None:
    with pytest.raises(ComposeError) as info:
        normalize_mounts(["a:b:c:d"], ("services", "web", "volumes"), "/p")
    assert str(info.value) == \
        'services.web.volumes.0 invalid volume specification "a:b:c:d": too many colons'
    with pytest.raises(ComposeError) as info:
        normalize_mounts([{"type": "volume", "source": "x"}], ("services", "w", "volumes"), "/p")
    assert str(info.value) == "services.w.volumes.0 target is required"
