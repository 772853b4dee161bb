"""IP address management: subnets for new networks, addresses for endpoints.

Subnets come from Docker's default pools (172.17-31.0.0/16, then 192.168.0.0/16 cut
into /20s), skipping any that overlap a route of the host or another network, so a
network never hides something the host can reach. Addresses are handed out lowest
free first, as Docker's allocator does, so a restarted container usually gets its old
address back. A network's auxiliary addresses (IPAM `AuxiliaryAddresses`) are reserved
as its gateway is: never handed out, and refused to a container asking for one.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from ketch.errors import Conflict, Forbidden, InvalidParameter, KetchError

Address = IPv4Address | IPv6Address
Subnet = IPv4Network | IPv6Network


class AddressInUse(Conflict):
    """A static address someone (a container, the gateway, an auxiliary address) holds:
    Docker's words and status (403) for it."""

    status = 403

    def __init__(self) -> None:
        super().__init__("Address already in use")


def default_pools(pools: Iterable[tuple[IPv4Network, int]] = ()) -> Iterator[IPv4Network]:
    """The subnets new networks may take, in order: ketchd's default-address-pools (each
    base cut into subnets of its size), else Docker's own."""
    pools = list(pools)
    if pools:
        for base, size in pools:
            yield from base.subnets(new_prefix=size)
        return
    for second in range(17, 32):
        yield IPv4Network(f"172.{second}.0.0/16")
    yield from IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def host_routes(path: str = "/proc/net/route") -> list[IPv4Network]:
    """The host's IPv4 routes but the default one: the subnets it can already reach."""
    routes: list[IPv4Network] = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return routes
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest, mask = (socket.inet_ntoa(struct.pack("<I", int(v, 16)))
                      for v in (fields[1], fields[7]))
        net = IPv4Network(f"{dest}/{mask}", strict=False)
        if net.prefixlen:
            routes.append(net)
    return routes


def choose_subnet(taken: Iterable[IPv4Network],
                  pools: Iterable[tuple[IPv4Network, int]] = ()) -> IPv4Network:
    taken = list(taken)
    for pool in default_pools(pools):
        if not any(pool.overlaps(t) for t in taken):
            return pool
    raise Forbidden("could not find an available, non-overlapping IPv4 address pool among "
                    "the defaults to assign to the network")


def parse_subnet(text: str) -> Subnet:
    """An IPv4 or IPv6 subnet with room for a gateway and a container."""
    try:
        if "%" in text:  # a zone (fe80::%eth0): Go's parser has none, so no subnet has one
            raise ValueError
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid CIDR address: {text}") from None
    if net.prefixlen > net.max_prefixlen - 2:
        raise InvalidParameter(f"invalid pool request: subnet {text} is too small: it "
                               "leaves no address for a container")
    return net


def parse_address(text: str, what: str = "IP address") -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError:
        raise InvalidParameter(f"invalid {what}: {text}") from None


def parse_address6(text: str, what: str = "IPv6 address") -> IPv6Address:
    try:
        if "%" in text:  # a zone: not an address a container can be given
            raise ValueError
        return IPv6Address(text)
    except ValueError:
        raise InvalidParameter(f"invalid {what}: {text}") from None


def auxiliary_address(text: str) -> IPv4Address | None:
    """An auxiliary address as Go's net.ParseIP reads it (an IPv4-mapped IPv6 one is the
    IPv4 address); None if it is not IPv4 (no IPv4 subnet holds it) or does not parse."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address):
        return address.ipv4_mapped
    return address


def check_auxiliary(aux: dict[str, str], subnet: IPv4Network, gateway: IPv4Address,
                    network: str) -> None:
    """IPAM AuxiliaryAddresses, checked in order as Docker's allocator reserves them: each
    one parses, lies in the subnet, and is not the gateway, the subnet's network or
    broadcast address, or another auxiliary address."""
    taken = {subnet.network_address, subnet.broadcast_address, gateway}
    for key, text in aux.items():
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise KetchError(f"non parsable secondary ip address ({key}:{text}) passed for "
                             f"network {network}") from None
        address = auxiliary_address(text)
        if address is None or address not in subnet:
            raise Forbidden(f"auxiliary address: ({key}:{text}) must belong to the master "
                            f"pool: {subnet}")
        if address in taken:
            raise KetchError(f"failed to allocate secondary ip address ({key}:{text}): "
                             "Address already in use")
        taken.add(address)


def check_auxiliary6(aux: dict[str, str], subnet: Subnet, gateway: Address | None,
                     network: str) -> None:
    """An IPv6 pool's AuxiliaryAddresses: IPv6, in the subnet, none taken twice."""
    taken = {str(subnet.network_address), str(gateway or next(subnet.hosts()))}
    for key, text in aux.items():
        try:
            if "%" in text:
                raise ValueError
            address = IPv6Address(text)
        except ValueError:
            raise KetchError(f"non parsable secondary ip address ({key}:{text}) passed for "
                             f"network {network}") from None
        if address not in subnet:
            raise Forbidden(f"auxiliary address: ({key}:{text}) must belong to the master "
                            f"pool: {subnet}")
        if str(address) in taken:
            raise KetchError(f"failed to allocate secondary ip address ({key}:{text}): "
                             "Address already in use")
        taken.add(str(address))


class Pool:
    """The addresses of one network's subnet (IPv4 or IPv6): which are in use, which are
    free. An IPv6 subnet's hosts() leave out its first address (the subnet-router anycast)
    and are walked lazily, so a /64 costs nothing."""

    def __init__(self, subnet: Subnet, gateway: Address, ip_range: Subnet | None = None,
                 reserved: Iterable[Address] = ()) -> None:
        self.subnet = subnet
        self.gateway = gateway
        self.ip_range = ip_range or subnet
        self.reserved = {gateway, *reserved}  # never released
        self.used: set[Address] = set(self.reserved)

    def allocate(self, wanted: Address | None = None) -> Address:
        if wanted is not None:
            if wanted not in self.subnet or wanted in (self.subnet.network_address,
                                                       self.subnet.broadcast_address):
                raise InvalidParameter(f"invalid address {wanted}: it does not belong to "
                                       f"the network's subnet {self.subnet}")
            if wanted in self.used:
                raise AddressInUse()
            self.used.add(wanted)
            return wanted
        for address in self.ip_range.hosts():
            if address not in self.used and address in self.subnet \
                    and address != self.subnet.broadcast_address:
                self.used.add(address)
                return address
        raise Conflict(f"no available IPv{self.subnet.version} addresses on this network's "
                       f"address pools: {self.subnet}")

    def release(self, address: Address) -> None:
        if address not in self.reserved:
            self.used.discard(address)

