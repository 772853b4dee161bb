"""ketch's nftables table: masquerade out of each bridge, DNAT for published ports.

The whole table is written from the engine's state in one nftables transaction each
time something changes, so what is in the kernel is always exactly what is running:
a stopped container's rules go with the next rewrite, and a restarted ketchd rebuilds
them from scratch. Nothing outside the table is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from ketch.errors import HostError


@dataclass(frozen=True)
class Bridge:
    name: str
    subnet: IPv4Network
    gateway: IPv4Address
    internal: bool = False
    masquerade: bool = True


@dataclass(frozen=True)
class Published:
    """One host port forwarded to a container's port."""
    proto: str                  # tcp | udp | sctp
    host_ip: IPv4Address | None  # None: every address of the host
    host_port: int
    address: IPv4Address        # the container's, on `bridge`
    port: int
    bridge: str


def _q(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def ruleset(table: str, bridges: list[Bridge], published: list[Published]) -> str:
    names = [_q(b.name) for b in bridges]
    lines = [
        f"table ip {table}",
        f"delete table ip {table}",  # with the line above: replaced whole, atomically
        f"table ip {table} {{",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        "    fib daddr type local jump published",
        "  }",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
        "    fib daddr type local jump published",
        "  }",
        "  chain published {",
    ]
    for p in published:
        match = f"ip daddr {p.host_ip} " if p.host_ip is not None else ""
        lines.append(f"    {match}{p.proto} dport {p.host_port} "
                     f"dnat to {p.address}:{p.port}")
    lines += [
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
    ]
    for b in bridges:
        if b.masquerade and not b.internal:  # containers reach what the host reaches
            lines.append(f"    ip saddr {b.subnet} oifname != {_q(b.name)} masquerade")
        # a published port reached from the host's loopback, or from a container of this
        # bridge (hairpin): the answer must come back through the host's NAT.
        # Loopback clients appear from the gateway, as the host's own connections to the
        # container do; the kernel keys TCP timestamps on a connection's ports, so a port
        # of one reused by the other within the container's TIME_WAIT would fail its
        # timestamp check (PAWS) and stall a second. So each ephemeral client port maps
        # to one port below the ephemeral range: the same client port, the same port.
        for proto in ("tcp", "udp"):
            lines.append(f"    oifname {_q(b.name)} ip saddr 127.0.0.0/8 {proto} sport "
                         f"32769-65535 snat to {b.gateway}:{proto} sport ^ 0x8000")
        lines.append(f"    oifname {_q(b.name)} ip saddr 127.0.0.0/8 masquerade")
        lines.append(f"    oifname {_q(b.name)} ct status dnat ip saddr {b.subnet} masquerade")
    lines += [
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
    ]
    for b in bridges:
        others = [n for n in names if n != _q(b.name)]
        if b.internal:
            lines.append(f"    iifname {_q(b.name)} oifname != {_q(b.name)} drop")
            lines.append(f"    oifname {_q(b.name)} iifname != {_q(b.name)} drop")
        elif others:  # networks are isolated from each other, as Docker's are
            lines.append(f"    iifname {_q(b.name)} oifname {{ {', '.join(others)} }} drop")
    lines += [
        "  }",
        "  chain raw {",
        "    type filter hook prerouting priority raw; policy accept;",
    ]
    if names:  # route_localnet is on for the bridges: loopback is reachable only by NAT
        lines.append(f"    iifname {{ {', '.join(names)} }} ip daddr 127.0.0.0/8 drop")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def apply(text: str) -> None:
    import nftables

    nft = nftables.Nftables()
    rc, _, error = nft.cmd(text)
    if rc != 0:
        raise HostError(f"nftables: {error.strip().splitlines()[0] if error else rc}")
