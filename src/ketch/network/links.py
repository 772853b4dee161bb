"""Bridges and veth pairs, through netlink (pyroute2), never by running `ip`.

Every call opens its own short-lived netlink socket on the calling thread: pyroute2
binds a socket to the network namespace of the thread that opens it, and the engine
calls these from worker threads and from threads inside container namespaces.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Any

from ketch.errors import HostError
from ketch.network import netns

ALIAS_PREFIX = "ketch:"  # marks the interfaces a ketchd made, for the sweep after a crash
_IFA_F_NODAD = 0x02  # an address usable at once: the network's own, no duplicate to detect


@contextmanager
def _netlink() -> Iterator[Any]:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    ipr = IPRoute()
    try:
        yield ipr
    except NetlinkError as e:
        raise HostError(f"netlink: {e.args[1] if len(e.args) > 1 else e}") from None
    finally:
        ipr.close()


def _index(ipr: Any, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        pass  # a read-only /proc/sys (a nested container): what it gates may not work


def ensure_bridge(name: str, gateway: IPv4Interface | None, mtu: int, owner: str,
                  gateway6: IPv6Interface | None = None) -> None:
    """The bridge `name`, up, holding the gateway address (none for an internal network
    without a gateway), and the IPv6 one of a network with IPv6. Made if missing; an
    existing one is adopted."""
    if gateway6 is not None:  # before the address: a bridge may be made with IPv6 off
        _sysctl(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "0")
    with _netlink() as ipr:
        index = _index(ipr, name)
        if index is None:
            ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
            index = _index(ipr, name)
            ipr.link("set", index=index, ifalias=ALIAS_PREFIX + owner)
        elif ipr.get_links(index)[0].get_attr("IFLA_MTU") != mtu:  # the network's MTU changed
            ipr.link("set", index=index, mtu=mtu)
        if gateway is not None:
            have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                    for a in ipr.get_addr(index=index, family=2)}
            if (str(gateway.ip), gateway.network.prefixlen) not in have:
                ipr.addr("add", index=index, address=str(gateway.ip),
                         prefixlen=gateway.network.prefixlen,
                         broadcast=str(gateway.network.broadcast_address))
        if gateway6 is not None:
            _add_ipv6(ipr, index, gateway6)
        ipr.link("set", index=index, state="up")
    # published ports on 127.0.0.1 are NATed to the containers: the kernel must route
    # loopback sources out of, and replies back into, this bridge (Docker does the same)
    _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")


def _add_ipv6(ipr: Any, index: int | None, address: IPv6Interface) -> None:
    have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"])
            for a in ipr.get_addr(index=index, family=socket.AF_INET6)}
    if (str(address.ip), address.network.prefixlen) not in have:
        ipr.addr("add", index=index, address=str(address.ip), family=socket.AF_INET6,
                 prefixlen=address.network.prefixlen, flags=_IFA_F_NODAD)


def delete(name: str) -> None:
    """An interface gone; for one end of a veth pair, the kernel removes the other."""
    with _netlink() as ipr:
        index = _index(ipr, name)
        if index is not None:
            ipr.link("del", index=index)


def attach(sandbox: str, bridge: str, host_name: str, ifname: str, address: IPv4Interface,
           gateway: IPv4Address | None, mac: str, mtu: int, owner: str,
           address6: IPv6Interface | None = None, gateway6: IPv6Address | None = None
           ) -> None:
    """A veth pair from `bridge` into the namespace at `sandbox`, configured there as
    `ifname` with its address (and IPv6 one), MAC and (when `gateway`) the default
    routes."""
    peer = "kt" + host_name[4:]  # a temporary name, unique on the host side
    fd = os.open(sandbox, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _netlink() as ipr:
            master = _index(ipr, bridge)
            if master is None:
                raise HostError(f"the bridge {bridge} of this network is missing")
            ipr.link("add", ifname=host_name, kind="veth", mtu=mtu,
                     peer={"ifname": peer, "net_ns_fd": fd, "mtu": mtu})
            try:
                index = _index(ipr, host_name)
                ipr.link("set", index=index, master=master, state="up",
                         ifalias=ALIAS_PREFIX + owner)
            except BaseException:
                ipr.link("del", index=_index(ipr, host_name))
                raise
    finally:
        os.close(fd)

    def inside() -> None:
        with _netlink() as ipr:
            index = _index(ipr, peer)
            ipr.link("set", index=index, ifname=ifname, address=mac)
            ipr.addr("add", index=index, address=str(address.ip),
                     prefixlen=address.network.prefixlen,
                     broadcast=str(address.network.broadcast_address))
            # IPv6 on the interface only where the network has it (no link-local address
            # elsewhere), as dockerd 20.10 sets it
            _sysctl(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6",
                    "0" if address6 is not None else "1")
            if address6 is not None:
                _add_ipv6(ipr, index, address6)
            ipr.link("set", index=index, state="up")
            lo = _index(ipr, "lo")
            ipr.link("set", index=lo, state="up")
            if gateway is not None:
                ipr.route("replace", dst="0.0.0.0/0", gateway=str(gateway))
            if gateway6 is not None:
                ipr.route("replace", dst="::/0", gateway=str(gateway6),
                          family=socket.AF_INET6)

    try:
        netns.run_in(sandbox, inside)
    except BaseException:
        delete(host_name)
        raise


def loopback_up(sandbox: str) -> None:
    def inside() -> None:
        with _netlink() as ipr:
            ipr.link("set", index=_index(ipr, "lo"), state="up")

    netns.run_in(sandbox, inside)


def owned(owner: str) -> dict[str, str]:
    """Host interfaces this owner made: name -> kind ('bridge' or 'veth')."""
    found: dict[str, str] = {}
    with _netlink() as ipr:
        for link in ipr.get_links():
            if link.get_attr("IFLA_IFALIAS") == ALIAS_PREFIX + owner:
                info = link.get_attr("IFLA_LINKINFO")
                kind = info.get_attr("IFLA_INFO_KIND") if info is not None else ""
                found[link.get_attr("IFLA_IFNAME")] = kind or ""
    return found
