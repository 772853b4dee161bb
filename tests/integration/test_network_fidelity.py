"""Networking details where ketchd must answer as dockerd does, found by docker-py's own
integration tests: IPAM options and auxiliary addresses as given (and reserved), links
given per network endpoint answered by the embedded DNS, and a link removed by its name
(`docker rm --link parent/alias`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ketch.engine.containers import ContainerStore
from support.daemon import Ketchd, api, docker, ok, running_ketchd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


@pytest.fixture
def client(ketchd: Ketchd) -> Iterator[Any]:
    import docker as docker_py

    c = docker_py.DockerClient(base_url=ketchd.host)
    try:
        yield c
    finally:
        c.close()


def inspect(ketchd: Ketchd, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(ok(docker(ketchd, "inspect", name)))
    return found[0]


def lookup(ketchd: Ketchd, container: str, *names: str) -> list[str]:
    """What the embedded DNS answers `container` for each name ("" for none)."""
    script = "; ".join(f"echo $(nslookup {n} 127.0.0.11 2>/dev/null | "
                       "sed -n 's/^Address: //p')" for n in names)
    return ok(docker(ketchd, "exec", container, "sh", "-c", script)).splitlines()


def create_network(ketchd: Ketchd, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, answer = api(ketchd, "POST", "/networks/create", json.dumps(body).encode(),
                         "Content-Type: application/json\r\n")
    return status, json.loads(answer)


# -- IPAM: options and auxiliary addresses --------------------------------------------------

def test_create_network_with_ipam_config(ketchd: Ketchd, client: Any) -> None:
    """docker-py's test_create_network_with_ipam_config: IPAM as given, echoed."""
    from docker.types import IPAMConfig, IPAMPool

    pool = IPAMPool(subnet="10.147.0.0/16", iprange="10.147.5.0/24", gateway="10.147.5.254",
                    aux_addresses={"a": "10.147.1.5", "c": "10.147.1.7", "b": "10.147.1.6"})
    net = client.api.create_network("ipamcfg", ipam=IPAMConfig(
        driver="default", pool_configs=[pool], options={"foo": "bar"}))["Id"]
    bare = client.api.create_network("ipambare", ipam=IPAMConfig(pool_configs=[
        IPAMPool(subnet="10.148.0.0/24")]))["Id"]
    plain = client.api.create_network("ipamnone")["Id"]
    try:
        ipam = client.api.inspect_network(net)["IPAM"]
        assert ipam == {"Driver": "default", "Options": {"foo": "bar"}, "Config": [{
            "Subnet": "10.147.0.0/16", "IPRange": "10.147.5.0/24", "Gateway": "10.147.5.254",
            "AuxiliaryAddresses": {"a": "10.147.1.5", "b": "10.147.1.6", "c": "10.147.1.7"}}]}
        # dockerd: null when not given, as docker-py's test asserts
        assert client.api.inspect_network(bare)["IPAM"]["Options"] is None
        assert client.api.inspect_network(plain)["IPAM"]["Options"] is None
        # given empty (as the docker CLI sends it): echoed empty
        out = ok(docker(ketchd, "network", "create", "--subnet", "10.149.0.0/24",
                        "--aux-address", "host=10.149.0.9", "ipamcli"))
        assert out.strip()
        shown = json.loads(ok(docker(ketchd, "network", "inspect", "-f", "{{json .IPAM}}",
                                     "ipamcli")))
        assert shown["Options"] == {}
        assert shown["Config"] == [{"Subnet": "10.149.0.0/24",
                                    "AuxiliaryAddresses": {"host": "10.149.0.9"}}]
    finally:
        for n in (net, bare, plain, "ipamcli"):
            docker(ketchd, "network", "rm", n)


def test_auxiliary_addresses_are_never_given_to_a_container(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "network", "create", "--subnet", "10.150.0.0/24", "--ip-range",
              "10.150.0.0/29", "--aux-address", "a=10.150.0.2", "--aux-address",
              "b=10.150.0.3", "--aux-address", "far=10.150.0.100", "auxnet"))
    try:
        out = ok(docker(ketchd, "run", "--rm", "--network", "auxnet", "busybox", "sh", "-c",
                        "ip -4 -o addr show eth0"))
        assert "inet 10.150.0.4/24" in out  # .1 the gateway, .2 and .3 reserved
        for taken in ("10.150.0.2", "10.150.0.100"):
            proc = docker(ketchd, "run", "--rm", "--network", "auxnet", "--ip", taken,
                          "busybox", "true")
            assert proc.returncode == 125 and "Address already in use" in proc.stderr
        # dockerd: the create is fine, the start is refused with 403
        ok(docker(ketchd, "create", "--name", "auxc", "--network", "auxnet", "--ip",
                  "10.150.0.3", "busybox", "true"))
        status, answer = api(ketchd, "POST", "/containers/auxc/start")
        assert (status, json.loads(answer)) == (403, {"message": "Address already in use"})
        # an address outside the ip-range but not reserved is fine, as in dockerd
        ok(docker(ketchd, "run", "--rm", "--network", "auxnet", "--ip", "10.150.0.50",
                  "busybox", "true"))
    finally:
        docker(ketchd, "rm", "-f", "auxc")
        docker(ketchd, "network", "rm", "auxnet")


@pytest.mark.parametrize(("config", "status", "message"), [
    ({"Subnet": "10.151.0.0/16", "AuxiliaryAddresses": {"a": "11.0.0.5"}}, 403,
     "auxiliary address: (a:11.0.0.5) must belong to the master pool: 10.151.0.0/16"),
    ({"Subnet": "10.151.0.0/16", "AuxiliaryAddresses": {"a": "::1"}}, 403,
     "auxiliary address: (a:::1) must belong to the master pool: 10.151.0.0/16"),
    ({"Subnet": "10.151.0.0/16", "AuxiliaryAddresses": {"a": "bogus"}}, 500,
     "non parsable secondary ip address (a:bogus) passed for network auxbad"),
    ({"Subnet": "10.151.0.0/16", "AuxiliaryAddresses": {"a": "10.151.0.2/16"}}, 500,
     "non parsable secondary ip address (a:10.151.0.2/16) passed for network auxbad"),
    ({"Subnet": "10.151.0.0/16", "Gateway": "10.151.0.1",
      "AuxiliaryAddresses": {"gw": "10.151.0.1"}}, 500,
     "failed to allocate secondary ip address (gw:10.151.0.1): Address already in use"),
    ({"Subnet": "10.151.0.0/16", "AuxiliaryAddresses": {"gw": "10.151.0.1"}}, 500,
     "failed to allocate secondary ip address (gw:10.151.0.1): Address already in use"),
    ({"Subnet": "10.151.0.0/16", "AuxiliaryAddresses": {"a": "10.151.0.9",
                                                        "b": "10.151.0.9"}}, 500,
     "failed to allocate secondary ip address (b:10.151.0.9): Address already in use"),
    ({"Subnet": "10.151.0.0/16", "AuxiliaryAddresses": {"a": "10.151.255.255"}}, 500,
     "failed to allocate secondary ip address (a:10.151.255.255): Address already in use"),
    ({"Subnet": "10.151.0.0/16", "AuxiliaryAddresses": {"a": 5}}, 400,
     "json: cannot unmarshal number into Go struct field "
     "IPAMConfig.IPAM.Config.AuxiliaryAddresses of type string"),
    ({"Subnet": "10.151.0.0/16", "AuxiliaryAddresses": ["a"]}, 400,
     "json: cannot unmarshal array into Go struct field "
     "IPAMConfig.IPAM.Config.AuxiliaryAddresses of type map[string]string"),
])
def test_auxiliary_address_errors(ketchd: Ketchd, config: dict[str, Any], status: int,
                                  message: str) -> None:
    try:
        got = create_network(ketchd, {"Name": "auxbad", "IPAM": {"Config": [config]}})
        assert got == (status, {"message": message})
        assert "auxbad" not in ok(docker(ketchd, "network", "ls", "--format", "{{.Name}}"))
    finally:
        docker(ketchd, "network", "rm", "auxbad")


def test_ipam_options_must_be_strings(ketchd: Ketchd) -> None:
    try:
        got = create_network(ketchd, {"Name": "optbad", "IPAM": {
            "Config": [{"Subnet": "10.152.0.0/24"}], "Options": {"x": 1}}})
        assert got == (400, {"message": "json: cannot unmarshal number into Go struct field "
                                        "IPAM.IPAM.Options of type string"})
    finally:
        docker(ketchd, "network", "rm", "optbad")


# -- links per network endpoint: the embedded DNS ---------------------------------------------

def test_create_with_endpoint_links(ketchd: Ketchd, client: Any) -> None:
    """docker-py's test_create_with_links: NetworkingConfig...Links answered by the DNS
    of the container that has them, on that network."""
    api_ = client.api
    ok(docker(ketchd, "network", "create", "--subnet", "10.153.0.0/24", "epnet"))
    try:
        ok(docker(ketchd, "run", "-d", "--name", "upstream", "--network", "epnet",
                  "busybox", "sleep", "300"))
        address = inspect(ketchd, "upstream")["NetworkSettings"]["Networks"]["epnet"][
            "IPAddress"]
        config = api_.create_networking_config({"epnet": api_.create_endpoint_config(
            links=[("upstream", "foo")])})
        made = api_.create_container("busybox", "sleep 300", name="downstream",
                                     host_config=api_.create_host_config(
                                         network_mode="epnet"),
                                     networking_config=config)
        api_.start(made["Id"])
        links = inspect(ketchd, "downstream")["NetworkSettings"]["Networks"]["epnet"]["Links"]
        assert links == ["upstream:foo"]
        assert lookup(ketchd, "downstream", "foo", "foo.epnet", "upstream") == [address] * 3
        # the alias is the linking container's own
        assert lookup(ketchd, "upstream", "foo") == [""]
        # the linked container gone from the network: nothing answered for the alias
        ok(docker(ketchd, "stop", "-t", "0", "upstream"))
        assert lookup(ketchd, "downstream", "foo") == [""]
        # and started again after the linking container (docker-py's order): answered
        ok(docker(ketchd, "start", "upstream"))
        address = inspect(ketchd, "upstream")["NetworkSettings"]["Networks"]["epnet"][
            "IPAddress"]
        assert lookup(ketchd, "downstream", "foo") == [address]
    finally:
        docker(ketchd, "rm", "-f", "upstream", "downstream")
        docker(ketchd, "network", "rm", "epnet")


def test_connect_with_endpoint_links(ketchd: Ketchd, client: Any) -> None:
    """docker-py's test_connect_with_links: EndpointConfig.Links of a connect."""
    api_ = client.api
    ok(docker(ketchd, "network", "create", "--subnet", "10.154.0.0/24", "cnet"))
    try:
        ok(docker(ketchd, "run", "-d", "--name", "up2", "--network", "cnet", "busybox",
                  "sleep", "300"))
        address = inspect(ketchd, "up2")["NetworkSettings"]["Networks"]["cnet"]["IPAddress"]
        ok(docker(ketchd, "run", "-d", "--name", "down2", "--network", "cnet", "busybox",
                  "sleep", "300"))
        api_.disconnect_container_from_network("down2", "cnet")
        api_.connect_container_to_network("down2", "cnet", links=[("up2", "bar")])
        links = inspect(ketchd, "down2")["NetworkSettings"]["Networks"]["cnet"]["Links"]
        assert links == ["up2:bar"]
        assert lookup(ketchd, "down2", "bar", "bar.cnet") == [address] * 2
        # a link without an alias names the container by its own name
        ok(docker(ketchd, "network", "disconnect", "cnet", "down2"))
        api_.connect_container_to_network("down2", "cnet", links=[("up2", None)])
        assert lookup(ketchd, "down2", "up2", "bar") == [address, ""]
    finally:
        docker(ketchd, "rm", "-f", "up2", "down2")
        docker(ketchd, "network", "rm", "cnet")


def test_docker_cli_link_on_a_user_network(ketchd: Ketchd) -> None:
    ok(docker(ketchd, "network", "create", "--subnet", "10.155.0.0/24", "clinet"))
    try:
        ok(docker(ketchd, "run", "-d", "--name", "up3", "--network", "clinet", "busybox",
                  "sleep", "300"))
        address = inspect(ketchd, "up3")["NetworkSettings"]["Networks"]["clinet"]["IPAddress"]
        ok(docker(ketchd, "run", "-d", "--name", "down3", "--network", "clinet", "--link",
                  "up3:baz", "busybox", "sleep", "300"))
        assert lookup(ketchd, "down3", "baz") == [address]
    finally:
        docker(ketchd, "rm", "-f", "up3", "down3")
        docker(ketchd, "network", "rm", "clinet")


# -- removing a link, link names --------------------------------------------------------------

@pytest.fixture
def linked(ketchd: Ketchd, client: Any) -> Iterator[tuple[str, str]]:
    """docker-py's LinkTest setup: lkA running, lkB linked to it as mylink."""
    api_ = client.api
    a = api_.create_container("busybox", "sleep 300", name="lkA")["Id"]
    api_.start(a)
    b = api_.create_container("busybox", "sleep 300", name="lkB",
                              host_config=api_.create_host_config(links={"lkA": "mylink"}))["Id"]
    api_.start(b)
    try:
        yield a, b
    finally:
        docker(ketchd, "rm", "-f", "lkA", "lkB")


def test_link_names_of_a_container(ketchd: Ketchd, linked: tuple[str, str]) -> None:
    store = ContainerStore(str(ketchd.data_root))
    store.load()
    assert store.names_of(store.get("lkA")) == ["/lkA", "/lkB/mylink"]
    assert store.names_of(store.get("lkB")) == ["/lkB"]
    assert store.get("lkB/mylink").id == linked[0]
    assert store.get("/lkB/mylink").id == linked[0]
    # the docker CLI shows a container's own name unless told not to truncate
    names = ok(docker(ketchd, "ps", "--format", "{{.Names}}")).split()
    assert sorted(names) == ["lkA", "lkB"]


def test_list_shows_link_names(ketchd: Ketchd, client: Any, linked: tuple[str, str]) -> None:
    listed = {c["Id"]: c["Names"] for c in client.api.containers(all=True)}
    assert listed[linked[0]] == ["/lkA", "/lkB/mylink"]
    assert ok(docker(ketchd, "ps", "--no-trunc", "--filter", "name=lkA", "--format",
                     "{{.Names}}")).strip() == "lkA,lkB/mylink"


def test_remove_link(ketchd: Ketchd, client: Any, linked: tuple[str, str]) -> None:
    """docker-py's LinkTest.test_remove_link, and dockerd's answers around it."""
    import docker as docker_py

    a, b = linked
    # dockerd's own container lookup knows the link's name: lkA, running
    status, answer = api(ketchd, "DELETE", "/containers/lkB/mylink")
    assert status == 409 and f"You cannot remove a running container {a}" in \
        json.loads(answer)["message"]
    client.api.remove_container("lkB/mylink", link=True)
    assert client.api.inspect_container(b)["HostConfig"]["Links"] is None
    # both containers stay, running; the link's name is gone
    assert {c["Id"] for c in client.api.containers()} >= {a, b}
    assert not any("/lkB/mylink" in c["Names"] for c in client.api.containers(all=True))
    with pytest.raises(docker_py.errors.NotFound, match="No such container: lkB/mylink"):
        client.api.remove_container("lkB/mylink", link=True)
    store = ContainerStore(str(ketchd.data_root))
    store.load()
    assert store.names_of(store.get("lkA")) == ["/lkA"]


def test_remove_link_errors(ketchd: Ketchd, linked: tuple[str, str]) -> None:
    for ref in ("lkA", linked[0][:12]):  # not a link's name: dockerd's 500
        status, answer = api(ketchd, "DELETE", f"/containers/{ref}?link=1")
        assert (status, json.loads(answer)) == (500, {
            "message": "Conflict, cannot remove the default link name of the container"})
    for ref in ("lkB/nolink", "nope/mylink"):
        status, answer = api(ketchd, "DELETE", f"/v1.41/containers/{ref}?link=1")
        assert (status, json.loads(answer)) == (404, {"message": f"No such container: {ref}"})
    assert sorted(ok(docker(ketchd, "ps", "--format", "{{.Names}}")).split()) == ["lkA",
                                                                                  "lkB"]
    # the docker CLI's `rm --link`
    assert ok(docker(ketchd, "rm", "--link", "lkB/mylink")).strip() == "lkB/mylink"
    assert inspect(ketchd, "lkB")["HostConfig"]["Links"] is None


def test_link_name_is_not_a_later_container_of_that_name(ketchd: Ketchd) -> None:
    """As dockerd: a link holds the container it was made to, not its name."""
    ok(docker(ketchd, "create", "--name", "first", "busybox", "true"))
    try:
        ok(docker(ketchd, "create", "--name", "parent", "--link", "first:al", "busybox",
                  "true"))
        store = ContainerStore(str(ketchd.data_root))
        store.load()
        assert store.names_of(store.get("first")) == ["/first", "/parent/al"]
        ok(docker(ketchd, "rm", "first"))
        ok(docker(ketchd, "create", "--name", "first", "busybox", "true"))
        store = ContainerStore(str(ketchd.data_root))
        store.load()
        assert store.names_of(store.get("first")) == ["/first"]
        status, _ = api(ketchd, "DELETE", "/containers/parent/al?link=1")
        assert status == 404
    finally:
        docker(ketchd, "rm", "-f", "first", "parent")
