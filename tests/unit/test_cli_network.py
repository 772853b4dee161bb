"""`ketch network ...` and `ketch port` against a canned daemon: the requests are the docker
CLI 28's (bodies captured from it, byte for byte), the output and exit codes its too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.cli.command import CLIError
from ketch.cli.commands.network import ipam_config
from ketch.cli.commands.port import port_lines
from ketch.cli.networks_format import NetworkRow, go_time
from unit.test_cli_errors import ketch
from unit.test_client_fakedaemon import FakeDaemon, Reply, Request

NET_ID = "0123456789abcdef" * 4


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[FakeDaemon]:
    fake = FakeDaemon(tmp_path / "d.sock", api_version="1.44")
    yield fake
    fake.stop()


def sent(daemon: FakeDaemon, method: str) -> list[Request]:
    return [r for r in daemon.requests if r.method == method]


# -- create -------------------------------------------------------------------------------
def test_create_plain_body_and_output(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/create", Reply(201, {"Id": NET_ID, "Warning": ""}))
    proc = ketch(daemon.host, "network", "create", "foo")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, NET_ID + "\n", "")
    [req] = sent(daemon, "POST")
    assert req.path == "/v1.44/networks/create"
    assert req.body == (b'{"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},'
                        b'"Config":[]},"Internal":false,"Attachable":false,"Ingress":false,'
                        b'"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{},'
                        b'"Name":"foo"}')


def test_create_every_option(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/create", Reply(201, {"Id": NET_ID, "Warning": ""}))
    proc = ketch(daemon.host, "network", "create", "-d", "bridge", "--subnet", "10.5.0.0/16",
                 "--ip-range", "10.5.1.0/24", "--gateway", "10.5.0.1", "--internal",
                 "--attachable", "--label", "c", "--label", "a=b", "-o", "com.x=1",
                 "--ipam-driver", "default", "--ipv6", "foo")
    assert proc.returncode == 0, proc.stderr
    assert sent(daemon, "POST")[0].body == (
        b'{"Driver":"bridge","Scope":"","EnableIPv6":true,"IPAM":{"Driver":"default",'
        b'"Options":{},"Config":[{"Subnet":"10.5.0.0/16","IPRange":"10.5.1.0/24",'
        b'"Gateway":"10.5.0.1"}]},"Internal":true,"Attachable":true,"Ingress":false,'
        b'"ConfigOnly":false,"ConfigFrom":null,"Options":{"com.x":"1"},'
        b'"Labels":{"a":"b","c":""},"Name":"foo"}')


def test_create_ipv4_ipv6_only_when_given_and_config_only(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/create", Reply(201, {"Id": NET_ID, "Warning": ""}))
    ketch(daemon.host, "network", "create", "--ipv6=false", "--ipv4=false", "foo")
    ketch(daemon.host, "network", "create", "--subnet", "10.1.0.0/24", "--subnet", "fd00::/64",
          "--gateway", "fd00::1", "--aux-address", "a=10.1.0.5", "--ipam-opt", "x=y",
          "--scope", "local", "--config-only", "foo")
    first, second = (r.body for r in sent(daemon, "POST"))
    assert first.startswith(b'{"Driver":"bridge","Scope":"","EnableIPv4":false,'
                            b'"EnableIPv6":false,"IPAM"')
    assert second == (
        b'{"Driver":"bridge","Scope":"local","IPAM":{"Driver":"default","Options":{"x":"y"},'
        b'"Config":[{"Subnet":"10.1.0.0/24","AuxiliaryAddresses":{"a":"10.1.0.5"}},'
        b'{"Subnet":"fd00::/64","Gateway":"fd00::1"}]},"Internal":false,"Attachable":false,'
        b'"Ingress":false,"ConfigOnly":true,"ConfigFrom":null,"Options":{},"Labels":{},'
        b'"Name":"foo"}')


def test_create_asks_an_older_daemon_to_check_duplicates(tmp_path: Path) -> None:
    old = FakeDaemon(tmp_path / "old.sock", api_version="1.41")
    try:
        old.route("POST", "/networks/create", Reply(409, {
            "message": "network with name foo already exists"}))
        proc = ketch(old.host, "network", "create", "foo")
        assert (proc.returncode, proc.stdout) == (1, "")
        assert proc.stderr == "Error response from daemon: network with name foo already exists\n"
        assert sent(old, "POST")[-1].body.endswith(b'"Name":"foo","CheckDuplicate":true}')
    finally:
        old.stop()


@pytest.mark.parametrize(("args", "message"), [
    (["--ip-range", "10.0.0.0/24"], "every ip-range or gateway must have a corresponding subnet"),
    (["--subnet", "10.0.0.0/24", "--gateway", "10.1.0.1"],
     "no matching subnet for gateway 10.1.0.1"),
    (["--subnet", "10.0.0.0/8", "--subnet", "10.1.0.0/16"],
     "multiple overlapping subnet configuration is not supported"),
    (["--subnet", "10.1.0.0/16", "--subnet", "bad"], "invalid subnet: invalid CIDR address: bad"),
    (["--subnet", "10.1.0.0/16", "--gateway", "bad"], "no matching subnet for gateway bad"),
    (["--subnet", "10.1.0.0/16", "--ip-range", "bad"], "invalid CIDR address: bad"),
    (["--subnet", "10.1.0.0/16,10.2.0.0/16", "--ip-range", "10.1.0.0/24,10.1.1.0/24"],
     "cannot configure multiple ranges (10.1.1.0/24, 10.1.0.0/24) on the same subnet "
     "(10.1.0.0/16)"),
    (["--subnet", "10.1.0.0/16", "--subnet", "10.2.0.0/16", "--gateway", "10.1.0.1",
      "--gateway", "10.1.0.2"], "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for "
                                "the same subnet (10.1.0.0/16)"),
    (["--subnet", "10.1.0.0/16", "--aux-address", "a=10.2.0.1"],
     "no matching subnet for aux-address 10.2.0.1"),
])
def test_create_ipam_refusals(daemon: FakeDaemon, args: list[str], message: str) -> None:
    proc = ketch(daemon.host, "network", "create", *args, "foo")
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", message + "\n")
    assert not sent(daemon, "POST")


def test_create_usage_errors(daemon: FakeDaemon) -> None:
    proc = ketch(daemon.host, "network", "create", "--label", "", "foo")
    assert proc.returncode == 125
    assert proc.stderr == ('invalid argument "" for "--label" flag: invalid label \'\': empty '
                           "name\n\nUsage:  ketch network create [OPTIONS] NETWORK\n\n"
                           "Run 'ketch network create --help' for more information\n")
    proc = ketch(daemon.host, "network", "create", "a", "b")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ketch: 'ketch network create' requires 1 argument\n")


def test_ipam_keeps_docker_28_leniency() -> None:
    # one subnet is never parsed, and a range keeps its host bits, as docker 28 sends them
    assert ipam_config(["bad"], [], [], []) == [{"Subnet": "bad"}]
    assert ipam_config(["10.1.0.0/16"], ["10.1.0.7/24"], [], []) == [
        {"Subnet": "10.1.0.0/16", "IPRange": "10.1.0.7/24"}]


# -- ls, inspect --------------------------------------------------------------------------
SUMMARIES = [
    {"Name": "net10", "Id": "b" * 64, "Created": "2026-11-28T02:41:20.324184775Z",
     "Scope": "local", "Driver": "bridge", "EnableIPv6": False, "Internal": False,
     "Labels": {"b": "2", "a": "1"}},
    {"Name": "host", "Id": "c" * 64, "Created": "2026-11-28T02:41:16.3825Z", "Scope": "local",
     "Driver": "host", "Labels": {}},
    {"Name": "net9", "Id": "a" * 64, "Created": "2026-11-28T03:41:16+01:00", "Scope": "local",
     "Driver": "bridge", "EnableIPv4": True, "Internal": True, "Labels": None},
]


def test_ls_table_sorted_naturally_by_name(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/networks", Reply(200, SUMMARIES))
    proc = ketch(daemon.host, "network", "ls", "-f", "driver=bridge", "-f", "name=net")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("NETWORK ID     NAME      DRIVER    SCOPE\n"
                           "cccccccccccc   host      host      local\n"
                           "aaaaaaaaaaaa   net9      bridge    local\n"
                           "bbbbbbbbbbbb   net10     bridge    local\n")
    query = daemon.requests[-1].path.split("?", 1)[1]
    assert query == ("filters=%7B%22driver%22%3A%7B%22bridge%22%3Atrue%7D%2C%22name%22%3A%7B"
                     "%22net%22%3Atrue%7D%7D")


def test_ls_quiet_no_trunc_and_formats(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/networks", Reply(200, SUMMARIES))
    assert ketch(daemon.host, "network", "ls", "-q").stdout == \
        "cccccccccccc\naaaaaaaaaaaa\nbbbbbbbbbbbb\n"
    assert ketch(daemon.host, "network", "ls", "-q", "--no-trunc").stdout.splitlines()[0] == \
        "c" * 64
    lines = ketch(daemon.host, "network", "ls", "--format", "json").stdout.splitlines()
    assert json.loads(lines[2]) == {
        "CreatedAt": "2026-11-28 02:41:20.324184775 +0000 UTC", "Driver": "bridge",
        "ID": "bbbbbbbbbbbb", "IPv4": "false", "IPv6": "false", "Internal": "false",
        "Labels": "a=1,b=2", "Name": "net10", "Scope": "local"}
    assert list(json.loads(lines[0])) == sorted(json.loads(lines[0]))
    out = ketch(daemon.host, "network", "ls", "--format",
                "table {{.Name}}\t{{.IPv4}}\t{{.Internal}}\t{{.Label \"a\"}}").stdout
    assert out.splitlines()[0].split() == ["NAME", "IPV4", "INTERNAL", "a"]
    assert out.splitlines()[2].split() == ["net9", "true", "true"]


def test_go_time_and_rows() -> None:
    assert go_time("2026-11-28T02:41:16.3825Z") == "2026-11-28 02:41:16.3825 +0000 UTC"
    assert go_time("2026-11-28T03:41:16+01:00") == "2026-11-28 03:41:16 +0100 +0100"
    assert go_time("0001-01-01T00:00:00Z") == "0001-01-01 00:00:00 +0000 UTC"
    assert NetworkRow({"Id": "x" * 64}, trunc=False).ID == "x" * 64


def test_inspect_pretty_template_verbose_and_missing(daemon: FakeDaemon) -> None:
    def get(req: Request) -> Reply:
        name = req.path.split("?")[0].rsplit("/", 1)[1]
        if name == "foo":
            return Reply(200, {"Name": "foo", "Id": NET_ID, "Driver": "bridge"})
        return Reply(404, {"message": f"network {name} not found"})

    daemon.route("GET", "/networks/foo", get)
    daemon.route("GET", "/networks/nope", get)
    proc = ketch(daemon.host, "network", "inspect", "foo", "nope")
    assert proc.returncode == 1
    assert proc.stdout == ('[\n    {\n        "Name": "foo",\n        "Id": "' + NET_ID +
                           '",\n        "Driver": "bridge"\n    }\n]\n')
    assert proc.stderr == "Error response from daemon: network nope not found\n"
    proc = ketch(daemon.host, "network", "inspect", "-v", "-f", "{{.Name}} {{.Driver}}", "foo")
    assert (proc.returncode, proc.stdout) == (0, "foo bridge\n")
    assert daemon.requests[-1].path == "/v1.44/networks/foo?verbose=true"
    proc = ketch(daemon.host, "network", "inspect", "--format", "json", "foo")
    assert proc.stdout == '[{"Name":"foo","Id":"' + NET_ID + '","Driver":"bridge"}]\n'
    proc = ketch(daemon.host, "network", "inspect", "nope")
    assert (proc.returncode, proc.stdout) == (1, "[]\n")


def test_generic_inspect_tries_networks_before_volumes(daemon: FakeDaemon) -> None:
    for kind in ("containers", "images"):
        daemon.route("GET", f"/{kind}/dup/json", Reply(404, {"message": "No such object"}))
    daemon.route("GET", "/networks/dup", Reply(200, {"Name": "dup", "Driver": "bridge"}))
    daemon.route("GET", "/volumes/dup", Reply(200, {"Name": "dup", "Driver": "local"}))
    proc = ketch(daemon.host, "inspect", "-f", "{{.Driver}}", "dup")
    assert (proc.returncode, proc.stdout) == (0, "bridge\n")
    proc = ketch(daemon.host, "inspect", "--type", "volume", "-f", "{{.Driver}}", "dup")
    assert proc.stdout == "local\n"
    daemon.route("GET", "/networks/nope", Reply(404, {"message": "network nope not found"}))
    proc = ketch(daemon.host, "inspect", "--type", "network", "nope")
    assert (proc.returncode, proc.stdout) == (1, "[]\n")
    assert proc.stderr == "Error response from daemon: network nope not found\n"
    proc = ketch(daemon.host, "inspect", "--type", "bogus", "x")
    assert proc.stderr == ('unknown type: "bogus": must be one of "container", "image", '
                           '"network", "volume"\n')


# -- rm, prune ----------------------------------------------------------------------------
def test_rm_reports_each_failure_as_docker_does(daemon: FakeDaemon) -> None:
    def delete(req: Request) -> Reply:
        name = req.path.rsplit("/", 1)[1]
        return Reply(204) if name in ("a", "b") else \
            Reply(404, {"message": f"network {name} not found"})

    for name in ("a", "b", "nope"):
        daemon.route("DELETE", f"/networks/{name}", delete)
    proc = ketch(daemon.host, "network", "rm", "a", "nope", "b")
    assert (proc.returncode, proc.stdout) == (1, "a\nb\n")
    assert proc.stderr == "Error response from daemon: network nope not found\nexit status 1\n"
    proc = ketch(daemon.host, "network", "remove", "-f", "nope", "a")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "a\n", "")


def test_prune_prompt_and_report(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/prune", Reply(200, {"NetworksDeleted": ["n1", "n2"]}))
    proc = ketch(daemon.host, "network", "prune", stdin="n\n")
    assert (proc.returncode, proc.stdout) == (
        0, "WARNING! This will remove all custom networks not used by at least one container."
           "\nAre you sure you want to continue? [y/N] ")
    assert not sent(daemon, "POST")
    proc = ketch(daemon.host, "network", "prune", "-f", "--filter", "until=1h", "--filter",
                 "label=a")
    assert (proc.returncode, proc.stdout) == (0, "Deleted Networks:\nn1\nn2\n\n")
    assert sent(daemon, "POST")[0].path == (
        "/v1.44/networks/prune?filters=%7B%22until%22%3A%7B%221h%22%3Atrue%7D%2C%22label%22%3A"
        "%7B%22a%22%3Atrue%7D%7D")
    daemon.route("POST", "/networks/prune", Reply(200, {"NetworksDeleted": None}))
    assert ketch(daemon.host, "network", "prune", "-f").stdout == ""


# -- connect, disconnect ------------------------------------------------------------------
def test_connect_bodies(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/networks/net/connect", Reply(200))
    proc = ketch(daemon.host, "network", "connect", "--alias", "a", "--alias", "b,c", "--ip",
                 "10.0.0.5", "--ip6", "fd00::5", "--link", "x:y", "--driver-opt", "k=v",
                 "--driver-opt", "com.docker.network.endpoint.sysctls=a=b", "--link-local-ip",
                 "169.254.0.1", "--gw-priority", "3", "net", "ctr")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    ketch(daemon.host, "network", "connect", "net", "ctr")
    full, bare = (r.body for r in sent(daemon, "POST"))
    tail = (b'"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,'
            b'"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}')
    assert full == (b'{"Container":"ctr","EndpointConfig":{"IPAMConfig":{"IPv4Address":'
                    b'"10.0.0.5","IPv6Address":"fd00::5","LinkLocalIPs":["169.254.0.1"]},'
                    b'"Links":["x:y"],"Aliases":["a","b","c"],"MacAddress":"","DriverOpts":'
                    b'{"com.docker.network.endpoint.sysctls":"a=b","k":"v"},"GwPriority":3,'
                    + tail)
    assert bare == (b'{"Container":"ctr","EndpointConfig":{"IPAMConfig":{},"Links":null,'
                    b'"Aliases":[],"MacAddress":"","DriverOpts":{},"GwPriority":0,' + tail)


def test_connect_and_disconnect_errors(daemon: FakeDaemon) -> None:
    proc = ketch(daemon.host, "network", "connect", "--driver-opt", "novalue", "net", "ctr")
    assert (proc.returncode, proc.stderr) == (
        1, "invalid key/value pair format in driver options\n")
    proc = ketch(daemon.host, "network", "connect", "net")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ketch: 'ketch network connect' requires 2 arguments\n")
    daemon.route("POST", "/networks/net/disconnect", Reply(500, {
        "message": "container ctr is not connected to network net"}))
    proc = ketch(daemon.host, "network", "disconnect", "-f", "net", "ctr")
    assert (proc.returncode, proc.stderr) == (
        1, "Error response from daemon: container ctr is not connected to network net\n")
    assert sent(daemon, "POST")[-1].body == b'{"Container":"ctr","Force":true}'


# -- port ---------------------------------------------------------------------------------
PORTS = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::",
                                                               "HostPort": "8080"}],
         "9/udp": [{"HostIp": "127.0.0.1", "HostPort": "10000"}],
         "100/tcp": [{"HostIp": "", "HostPort": "7"}], "443/tcp": None, "22/tcp": []}


def test_port_lines_like_docker() -> None:
    assert port_lines(PORTS) == ["9/udp -> 127.0.0.1:10000", "80/tcp -> 0.0.0.0:8080",
                                 "80/tcp -> [::]:8080", "100/tcp -> :7"]
    assert port_lines(PORTS, "80", "ctr") == ["0.0.0.0:8080", "[::]:8080"]
    assert port_lines(PORTS, "9/udp", "ctr") == ["127.0.0.1:10000"]
    for private, message in (
            ("443", "Error: No public port '443' published for ctr"),
            ("22/tcp", "Error: No public port '22/tcp' published for ctr"),
            ("80/xyz", "Error: No public port '80/xyz' published for ctr"),
            ("abc", 'Error: invalid port (abc): strconv.ParseUint: parsing "abc": invalid '
                    "syntax"),
            ("70000", 'Error: invalid port (70000): strconv.ParseUint: parsing "70000": value '
                      "out of range")):
        with pytest.raises(CLIError, match="^" + message.replace("(", r"\(").replace(
                ")", r"\)") + "$"):
            port_lines(PORTS, private, "ctr")


def test_port_command(daemon: FakeDaemon) -> None:
    daemon.route("GET", "/containers/ctr/json", Reply(200, {"NetworkSettings": {
        "Ports": PORTS}}))
    proc = ketch(daemon.host, "port", "ctr")
    assert (proc.returncode, proc.stdout) == (0, "9/udp -> 127.0.0.1:10000\n"
                                                 "80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n"
                                                 "100/tcp -> :7\n")
    proc = ketch(daemon.host, "container", "port", "ctr", "81")
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1, "", "Error: No public port '81' published for ctr\n")
    proc = ketch(daemon.host, "port", "a", "b", "c")
    assert proc.returncode == 1
    assert proc.stderr == ("ketch: 'ketch port' requires at least 1 and at most 2 arguments\n\n"
                           "Usage:  ketch port CONTAINER [PRIVATE_PORT[/PROTO]]\n\n"
                           "Run 'ketch port --help' for more information\n")


def test_help_lists_networks() -> None:
    proc = ketch("unix:///nonexistent", "network", "--help")
    assert proc.stdout.splitlines()[5:12] == [
        "  connect     Connect a container to a network",
        "  create      Create a network",
        "  disconnect  Disconnect a container from a network",
        "  inspect     Display detailed information on one or more networks",
        "  ls          List networks",
        "  prune       Remove all unused networks",
        "  rm          Remove one or more networks"]
    main = ketch("unix:///nonexistent", "--help").stdout
    assert "  network     Manage networks\n" in main
    assert "  port        List port mappings or a specific mapping for the container\n" in main
