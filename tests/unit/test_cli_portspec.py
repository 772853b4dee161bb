"""`-p`/`--expose` parsing against what the docker CLI 28 sent (or refused) for the same specs,
captured by pointing the real CLI at a recording daemon."""

from __future__ import annotations

import json

import pytest

from ketch.cli.command import CLIError
from ketch.cli.portspec import parse_port_range, parse_publish, split_proto_port


def publish(*specs: str) -> tuple[str, str]:
    exposed, bindings = parse_publish(list(specs), [])
    return json.dumps(exposed, separators=(",", ":")), json.dumps(bindings,
                                                                   separators=(",", ":"))


def test_every_form_docker_accepts() -> None:
    exposed, bindings = parse_publish(
        ["8080:80", "127.0.0.1:8081:81/udp", "127.0.0.1::82", "83", "8000-8002:90-92",
         "9000-9010:99", "[::1]:7070:70/sctp", "0.0.0.0:6000-6001:60-61"],
        ["5000", "5001-5002/udp"])
    # Go marshals a map with its keys sorted bytewise: "5000/tcp" < "60/tcp"
    assert json.dumps(exposed, separators=(",", ":")) == (
        '{"5000/tcp":{},"5001/udp":{},"5002/udp":{},"60/tcp":{},"61/tcp":{},"70/sctp":{},'
        '"80/tcp":{},"81/udp":{},"82/tcp":{},"83/tcp":{},"90/tcp":{},"91/tcp":{},'
        '"92/tcp":{},"99/tcp":{}}')
    assert json.dumps(bindings, separators=(",", ":")) == (
        '{"60/tcp":[{"HostIp":"0.0.0.0","HostPort":"6000"}],'
        '"61/tcp":[{"HostIp":"0.0.0.0","HostPort":"6001"}],'
        '"70/sctp":[{"HostIp":"::1","HostPort":"7070"}],'
        '"80/tcp":[{"HostIp":"","HostPort":"8080"}],'
        '"81/udp":[{"HostIp":"127.0.0.1","HostPort":"8081"}],'
        '"82/tcp":[{"HostIp":"127.0.0.1","HostPort":""}],'
        '"83/tcp":[{"HostIp":"","HostPort":""}],'
        '"90/tcp":[{"HostIp":"","HostPort":"8000"}],'
        '"91/tcp":[{"HostIp":"","HostPort":"8001"}],'
        '"92/tcp":[{"HostIp":"","HostPort":"8002"}],'
        '"99/tcp":[{"HostIp":"","HostPort":"9000-9010"}]}')


@pytest.mark.parametrize(("spec", "bindings"), [
    (":80", '{"80/tcp":[{"HostIp":"","HostPort":""}]}'),
    ("::1:8080:80", '{"80/tcp":[{"HostIp":"::1","HostPort":"8080"}]}'),
    ("[::1]::80", '{"80/tcp":[{"HostIp":"::1","HostPort":""}]}'),
    ("0:80", '{"80/tcp":[{"HostIp":"","HostPort":"0"}]}'),
    ("8000-8002:80-82/tcp/udp", '{"80/tcp":[{"HostIp":"","HostPort":"8000"}],'
                                '"81/tcp":[{"HostIp":"","HostPort":"8001"}],'
                                '"82/tcp":[{"HostIp":"","HostPort":"8002"}]}'),
    ("80/", '{"80/tcp":[{"HostIp":"","HostPort":""}]}'),
    ("80/TCP", '{"80/tcp":[{"HostIp":"","HostPort":""}]}'),
    ("080", '{"80/tcp":[{"HostIp":"","HostPort":""}]}'),
    ("8080-8081:80", '{"80/tcp":[{"HostIp":"","HostPort":"8080-8081"}]}'),
    ("1-2-3:80", '{"80/tcp":[{"HostIp":"","HostPort":"1-2"}]}'),
    ("80-81:90-91-92", '{"90/tcp":[{"HostIp":"","HostPort":"80"}],'
                       '"91/tcp":[{"HostIp":"","HostPort":"81"}]}'),
    ("[1.2.3.4]:80:80", '{"80/tcp":[{"HostIp":"1.2.3.4","HostPort":"80"}]}'),
    ("::ffff:1.2.3.4:80:80", '{"80/tcp":[{"HostIp":"::ffff:1.2.3.4","HostPort":"80"}]}'),
    ("target=80,published=8080,protocol=udp", '{"80/udp":[{"HostIp":"","HostPort":"8080"}]}'),
    ("target=80,host_ip=1.2.3.4,published=90", '{"80/tcp":[{"HostIp":"","HostPort":"90"}]}'),
])
def test_docker_quirks_accepted(spec: str, bindings: str) -> None:
    assert publish(spec)[1] == bindings


def test_one_port_bound_twice_keeps_both() -> None:
    assert publish("8080:80", "8081:80")[1] == (
        '{"80/tcp":[{"HostIp":"","HostPort":"8080"},{"HostIp":"","HostPort":"8081"}]}')


@pytest.mark.parametrize(("spec", "message"), [
    ("abc", "invalid containerPort: abc"),
    ("8080:abc", "invalid containerPort: abc"),
    ("abc:80", "invalid hostPort: abc"),
    ("80/xyz", "invalid proto: xyz"),
    ("80/XYZ", "invalid proto: XYZ"),
    ("8000-8002:80-81", "invalid ranges specified for container and host Ports: 80-81 and "
                        "8000-8002"),
    ("8080:80-81", "invalid ranges specified for container and host Ports: 80-81 and 8080"),
    ("1:2:3:4", "invalid IP address: 1:2"),
    ("", "no port specified: <empty>"),
    ("80:", "no port specified: 80:<empty>"),
    ("/tcp", "no port specified: /tcp<empty>"),
    ("127.0.0.1:80", "invalid hostPort: 127.0.0.1"),
    ("[::1]:80", "invalid IP address [:: address [::: missing ']' in address"),
    ("[::1]", "invalid IP address [: address [:: missing ']' in address"),
    ("[::1]:80:80:80", "invalid IP address [::1]:80: address [::1]:80:: too many colons in "
                       "address"),
    ("1.2.3.4.5:80:80", "invalid IP address: 1.2.3.4.5"),
    ("[fe80::1%eth0]:80:80", "invalid IP address: fe80::1%eth0"),
    ("localhost:80:80", "invalid IP address: localhost"),
    ("bad::", "invalid IP address: bad"),
    ("bad:80:80/xyz", "invalid IP address: bad"),
    ("80:abc/xyz", "invalid containerPort: abc"),
    ("abc:80/xyz", "invalid hostPort: abc"),
    ("70000:80", "invalid hostPort: 70000"),
    ("80:70000", "invalid containerPort: 70000"),
    ("80-70:80", "invalid hostPort: 80-70"),
    (" 80", "invalid containerPort:  80"),
    ("+80", "invalid containerPort: +80"),
    ("80-", "invalid containerPort: 80-"),
    ("published=80", "no port specified: 80:/tcp<empty>"),
    ("x,target=80", "invalid publish opts format (should be name=value but got 'x')"),
])
def test_docker_errors(spec: str, message: str) -> None:
    with pytest.raises(CLIError) as err:
        parse_publish([spec], [])
    assert (err.value.message, err.value.code) == (message, 125)


@pytest.mark.parametrize(("item", "exposed"), [
    ("80", ["80/tcp"]), ("80/udp", ["80/udp"]), ("80-82/sctp", ["80/sctp", "81/sctp", "82/sctp"]),
    ("80/xyz", ["80/xyz"]), ("80/TCP", ["80/TCP"]),  # --expose takes the protocol as given
])
def test_expose(item: str, exposed: list[str]) -> None:
    assert list(parse_publish([], [item])[0]) == exposed


@pytest.mark.parametrize(("item", "message"), [
    ("1:2", "invalid port format for --expose: 1:2"),
    ("abc", 'invalid range format for --expose: abc, error: strconv.ParseUint: parsing "abc": '
            "invalid syntax"),
    ("80-70", "invalid range format for --expose: 80-70, error: invalid range specified for "
              "port: 80-70"),
    ("", "invalid range format for --expose: , error: empty string specified for ports"),
    ("70000", 'invalid range format for --expose: 70000, error: strconv.ParseUint: parsing '
              '"70000": value out of range'),
])
def test_expose_errors(item: str, message: str) -> None:
    with pytest.raises(CLIError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_publish([], [item])


def test_helpers() -> None:
    assert split_proto_port("80/udp/x") == ("udp", "80")
    assert split_proto_port("/udp") == ("", "")
    assert parse_port_range("80-90-100") == (80, 90)
