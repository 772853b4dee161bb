"""run/create networking flags -> the create body, field for field as the docker CLI 28 sent
it to a recording daemon (API 1.44) for the same command lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ketch.cli.command import CLIError
from ketch.cli.commands.run import CREATE
from ketch.cli.containerconfig import build_create_body, valid_mac
from ketch.cli.flags import parse


def body(*args: str) -> dict[str, Any]:
    return build_create_body(parse(CREATE.flags, [*args, "busybox"]), "busybox", [])


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


EMPTY_EP = ('{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,'
            '"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"",'
            '"IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,'
            '"DNSNames":null}')


def test_defaults() -> None:
    b = body()
    host = b["HostConfig"]
    assert "ExposedPorts" not in b and "MacAddress" not in b
    assert (host["NetworkMode"], host["PortBindings"], host["PublishAllPorts"]) == (
        "default", {}, False)
    assert (host["Dns"], host["DnsOptions"], host["DnsSearch"]) == ([], [], [])
    assert host["ExtraHosts"] is None and host["Links"] is None
    assert compact(b["NetworkingConfig"]) == '{"EndpointsConfig":{"default":' + EMPTY_EP + "}}"


def test_field_order_follows_go_structs() -> None:
    b = body("-p", "80")
    keys = list(b)
    assert keys.index("AttachStderr") + 1 == keys.index("ExposedPorts") == \
        keys.index("Tty") - 1
    host = list(b["HostConfig"])
    assert host.index("NetworkMode") + 1 == host.index("PortBindings")
    assert host.index("ExtraHosts") < host.index("Links") < host.index("Privileged") < \
        host.index("PublishAllPorts") < host.index("ReadonlyRootfs")


def test_user_network_with_every_option() -> None:
    b = body("--network", "mynet", "--network-alias", "a", "--network-alias", "b", "--ip",
             "10.0.0.5", "--ip6", "fd00::5", "--mac-address", "02:42:ac:11:00:02", "--link",
             "c1:alias", "--link", "c2", "--dns", "1.1.1.1", "--dns-search", "example.com",
             "--dns-option", "ndots:2", "--add-host", "h:1.2.3.4", "--add-host", "g=::1",
             "--add-host", "x:host-gateway", "-h", "myhost", "--domainname", "dom", "-P")
    host = b["HostConfig"]
    assert (b["Hostname"], b["Domainname"]) == ("myhost", "dom")
    assert host["NetworkMode"] == "mynet" and host["PublishAllPorts"] is True
    assert (host["Dns"], host["DnsOptions"], host["DnsSearch"]) == (
        ["1.1.1.1"], ["ndots:2"], ["example.com"])
    assert host["ExtraHosts"] == ["h:1.2.3.4", "g:::1", "x:host-gateway"]
    assert host["Links"] == ["c1:alias", "c2"]
    assert compact(b["NetworkingConfig"]) == (
        '{"EndpointsConfig":{"mynet":{"IPAMConfig":{"IPv4Address":"10.0.0.5","IPv6Address":'
        '"fd00::5"},"Links":["c1:alias","c2"],"Aliases":["a","b"],"MacAddress":'
        '"02:42:ac:11:00:02","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"",'
        '"Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"",'
        '"GlobalIPv6PrefixLen":0,"DNSNames":null}}}')


@pytest.mark.parametrize(("args", "mode", "endpoints"), [
    (["--network", "mynet"], "mynet", {}),  # a lone plain network: the daemon makes it
    (["--network", "host"], "host", {}),
    (["--net", "bridge", "--link", "a:b"], "bridge", {}),  # a legacy link, not an endpoint
    (["--network", "container:abc"], "container:abc", {}),
    (["--network", "mynet", "--network", "othernet"], "mynet", {"mynet": EMPTY_EP,
                                                                 "othernet": EMPTY_EP}),
    (["--network", "none", "--ip", "1.2.3.4"], "none",
     {"none": EMPTY_EP.replace('"IPAMConfig":null', '"IPAMConfig":{"IPv4Address":"1.2.3.4"}')}),
    (["--mac-address", "02:42:ac:11:00:02"], "default",
     {"default": EMPTY_EP.replace('"MacAddress":""', '"MacAddress":"02:42:ac:11:00:02"')}),
    (["--network", "name=mynet,alias=x,ip=10.1.1.1,driver-opt=a=b,mac-address=02:42:ac:11:00:03"],
     "mynet", {"mynet": EMPTY_EP.replace('"IPAMConfig":null', '"IPAMConfig":{"IPv4Address":'
                                         '"10.1.1.1"}').replace('"Aliases":null', '"Aliases":'
                                         '["x"]').replace('"MacAddress":""', '"MacAddress":'
                                         '"02:42:ac:11:00:03"').replace('"DriverOpts":null',
                                         '"DriverOpts":{"a":"b"}')}),
])
def test_network_modes(args: list[str], mode: str, endpoints: dict[str, str]) -> None:
    b = body(*args)
    assert b["HostConfig"]["NetworkMode"] == mode
    assert compact(b["NetworkingConfig"]["EndpointsConfig"]) == \
        "{" + ",".join(f'"{k}":{v}' for k, v in endpoints.items()) + "}"


@pytest.mark.parametrize(("args", "message"), [
    (["--network", "host", "--network-alias", "a"],
     "network-scoped aliases are only supported for user-defined networks"),
    (["--network-alias", "x"],
     "network-scoped aliases are only supported for user-defined networks"),
    (["--network", "mynet", "--network", "host"],
     "conflicting options: cannot attach both user-defined and non-user-defined network-modes"),
    (["--network", "mynet", "--network", "mynet"], 'network "mynet" is specified multiple times'),
    (["--network", "name=mynet,alias=y", "--network-alias", "x"],
     "conflicting options: cannot specify both --network-alias and per-network alias"),
    (["--network", ""], "no name set for network"),
    (["--network", "alias=x"],
     'invalid argument "alias=x" for "--network" flag: network name/id is not specified'),
    (["--mac-address", "02:42:ac:11:00:zz"], "02:42:ac:11:00:zz is not a valid mac address"),
    (["--dns", "bad"],
     'invalid argument "bad" for "--dns" flag: IP address is not correctly formatted: bad'),
    (["--dns-search", "a..b"],
     'invalid argument "a..b" for "--dns-search" flag: a..b is not a valid domain'),
    (["--dns-search", "1.2"],
     'invalid argument "1.2" for "--dns-search" flag: 1.2 is not a valid domain'),
    (["--add-host", "bad"],
     'invalid argument "bad" for "--add-host" flag: bad format for add-host: "bad"'),
    (["--add-host", "h:bad"],
     'invalid argument "h:bad" for "--add-host" flag: invalid IP address in add-host: "bad"'),
    (["--add-host", "a:b:c"],
     'invalid argument "a:b:c" for "--add-host" flag: invalid IP address in add-host: "b:c"'),
    (['--add-host=h"x=1.2.3.4:5'], 'invalid argument "h\\"x=1.2.3.4:5" for "--add-host" flag: '
                                   'invalid IP address in add-host: "1.2.3.4:5"'),
    (["--link", "a:b:c"], 'invalid argument "a:b:c" for "--link" flag: bad format for links: '
                          "a:b:c"),
    (["--link="], 'invalid argument "" for "--link" flag: empty string specified for links'),
    (["-p", "abc"], "invalid containerPort: abc"),
    (["--expose", "1:2"], "invalid port format for --expose: 1:2"),
])
def test_refused_like_docker(args: list[str], message: str) -> None:
    with pytest.raises(CLIError) as err:
        body(*args)
    assert (err.value.message, err.value.code) == (message, 125)


@pytest.mark.parametrize(("args", "field", "value"), [
    (["--dns", "::ffff:1.2.3.4"], "Dns", ["1.2.3.4"]),  # Go's canonical form
    (["--dns", "0:0::1"], "Dns", ["::1"]),
    (["--dns", " 1.2.3.4"], "Dns", ["1.2.3.4"]),
    (["--dns-search", "example.com."], "DnsSearch", ["example.com"]),
    (["--dns-search", " example.com"], "DnsSearch", ["example.com"]),
    (["--dns-search", "."], "DnsSearch", ["."]),
    (["--dns-opt", "x"], "DnsOptions", ["x"]),
    (["--add-host", "h=[::1]"], "ExtraHosts", ["h:::1"]),
    (["--add-host", "h=[1.2.3.4]"], "ExtraHosts", ["h:1.2.3.4"]),
    (["--add-host", "h:0:0::1"], "ExtraHosts", ["h:0:0::1"]),  # kept as the user wrote it
    (["--link", "/a:/b"], "Links", ["/a:/b"]),
])
def test_values_as_docker_sends_them(args: list[str], field: str, value: list[str]) -> None:
    assert body(*args)["HostConfig"][field] == value


def test_mac_forms() -> None:
    for ok in ("02:42:ac:11:00:02", "02-42-ac-11-00-02", "0242.ac11.0002", "02:42:AC:11:00:02",
               "00:00:00:00:00:00:00:00"):
        assert valid_mac(ok), ok
    for bad in ("02:42:ac:11:00", "02:42:ac:11:00:zz", "0242.ac11.00zz", "02:42-ac:11:00:02"):
        assert not valid_mac(bad), bad


def test_hostname_with_dots_is_not_split() -> None:
    b = body("--hostname", "a.b.c")
    assert (b["Hostname"], b["Domainname"]) == ("a.b.c", "")
