"""ketchd's own network settings, from daemon.json or flags as dockerd reads them: the
default bridge's MTU, the DNS settings of containers that give none of their own
(`dns`, `dns-search`, `dns-opts`), and the pools new networks' subnets come from
(`default-address-pools`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from ketch.errors import InvalidParameter

DEFAULT_MTU = 1500  # a network's without com.docker.network.driver.mtu, as Docker's


@dataclass(frozen=True)
class NetworkDefaults:
    mtu: int = DEFAULT_MTU
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    pools: tuple[tuple[IPv4Network, int], ...] = ()  # (base, size): Docker's when empty


def parse_pool(value: Any) -> tuple[IPv4Network, int]:
    """One default address pool: {"base": "10.10.0.0/16", "size": 24} as daemon.json has
    it, or "base=10.10.0.0/16,size=24" as --default-address-pool takes it."""
    if isinstance(value, str):
        fields = dict(part.partition("=")[::2] for part in value.split(","))
        value = {"base": fields.get("base", ""), "size": fields.get("size", "")}
    if not isinstance(value, dict):
        raise InvalidParameter(f"invalid default address pool: {value!r}")
    try:
        base = ipaddress.ip_network(str(value.get("base")), strict=False)
        size = int(value.get("size"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidParameter(f"invalid default address pool: {value!r}") from None
    if not isinstance(base, IPv4Network):
        raise InvalidParameter(f"invalid default address pool {base}: IPv4 only")
    if not base.prefixlen <= size <= 30:
        raise InvalidParameter(f"invalid default address pool {base}: size {size} must be "
                               f"between {base.prefixlen} and 30")
    return base, size


def check_nameservers(servers: list[str]) -> None:
    for server in servers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidParameter(f"{server} is not an ip address") from None
