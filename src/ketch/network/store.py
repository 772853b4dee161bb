"""`NetworkStore`: the networks' records under <data_root>/networks/<id>.json.

A record is what `network inspect` shows but for `Containers`, which the engine adds
from the endpoints of running containers. The three networks Docker predefines
(`bridge`, `host`, `none`) are made on first start and cannot be removed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import time
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import Any

from ketch.errors import Conflict, Forbidden, InvalidParameter, NotFound
from ketch.network import ipam
from ketch.runtime.state import write_atomic

PREDEFINED = ("bridge", "host", "none")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MTU_OPTION = "com.docker.network.driver.mtu"
MASQUERADE_OPTION = "com.docker.network.bridge.enable_ip_masquerade"
HOST_BINDING_OPTION = "com.docker.network.bridge.host_binding_ipv4"


def created_stamp() -> str:
    t = time.time()
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1e9):09d}"
    offset = time.strftime("%z", time.localtime(t))
    return text + ("Z" if offset in ("+0000", "-0000") else f"{offset[:3]}:{offset[3:]}")


@dataclass
class Network:
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.record["Id"])

    @property
    def name(self) -> str:
        return str(self.record["Name"])

    @property
    def driver(self) -> str:
        return str(self.record["Driver"])

    @property
    def is_bridge(self) -> bool:
        return self.driver == "bridge"

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def internal(self) -> bool:
        return bool(self.record.get("Internal"))

    @property
    def bridge(self) -> str:
        return str((self.record.get("Options") or {}).get(BRIDGE_NAME_OPTION)
                   or "br-" + self.id[:12])

    def _config(self, version: int) -> dict[str, Any] | None:
        """IPAM.Config's entry of an IP version (IPv4's first, as Docker lists them)."""
        for config in self.record["IPAM"]["Config"]:
            if (":" in str(config.get("Subnet"))) == (version == 6):
                return config  # type: ignore[no-any-return]
        return None

    @property
    def subnet(self) -> IPv4Network:
        return IPv4Network((self._config(4) or {})["Subnet"])

    @property
    def gateway(self) -> IPv4Address:
        """The gateway asked for, else the subnet's first address (which Docker then
        leaves out of IPAM.Config, as ketch does)."""
        config = self._config(4) or {}
        if config.get("Gateway"):
            return IPv4Address(config["Gateway"])
        return next(self.subnet.hosts())

    @property
    def ip_range(self) -> IPv4Network | None:
        text = (self._config(4) or {}).get("IPRange")
        return IPv4Network(text) if text else None

    @property
    def aux_addresses(self) -> list[IPv4Address]:
        """IPAM AuxiliaryAddresses: reserved, never given to a container."""
        aux = (self._config(4) or {}).get("AuxiliaryAddresses") or {}
        found = (ipam.auxiliary_address(str(text)) for text in aux.values())
        return [a for a in found if a is not None]

    @property
    def gateway_interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.gateway}/{self.subnet.prefixlen}")

    @property
    def subnet6(self) -> IPv6Network | None:
        """The IPv6 subnet, when the network has IPv6 (EnableIPv6 and a subnet): a subnet
        given without EnableIPv6 is shown but unused, as dockerd 20.10 does."""
        config = self._config(6)
        if config is None or not self.record.get("EnableIPv6"):
            return None
        return IPv6Network(config["Subnet"])

    @property
    def gateway6(self) -> IPv6Address:
        config = self._config(6) or {}
        if config.get("Gateway"):
            return IPv6Address(config["Gateway"])
        assert self.subnet6 is not None
        return next(self.subnet6.hosts())

    @property
    def ip_range6(self) -> IPv6Network | None:
        text = (self._config(6) or {}).get("IPRange")
        return IPv6Network(text) if text else None

    @property
    def aux_addresses6(self) -> list[IPv6Address]:
        aux = (self._config(6) or {}).get("AuxiliaryAddresses") or {}
        return [IPv6Address(str(text)) for text in aux.values()]

    @property
    def gateway_interface6(self) -> IPv6Interface | None:
        if self.subnet6 is None:
            return None
        return IPv6Interface(f"{self.gateway6}/{self.subnet6.prefixlen}")

    @property
    def masquerade(self) -> bool:
        return str((self.record.get("Options") or {}).get(MASQUERADE_OPTION)) != "false"

    @property
    def mtu(self) -> int | None:
        value = (self.record.get("Options") or {}).get(MTU_OPTION)
        return int(value) if value else None

    @property
    def dns(self) -> bool:
        """Docker's embedded DNS serves user-defined networks only."""
        return self.is_bridge and self.name != "bridge"


class NetworkStore:
    def __init__(self, data_root: str,
                 pools: tuple[tuple[IPv4Network, int], ...] = ()) -> None:
        self.pools = pools  # ketchd's default-address-pools; Docker's own when empty
        self.dir = os.path.join(data_root, "networks")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.by_id: dict[str, Network] = {}
        for entry in sorted(os.listdir(self.dir)):
            if not entry.endswith(".json") or entry.startswith("."):
                continue
            try:
                with open(os.path.join(self.dir, entry), "rb") as f:
                    net = Network(json.loads(f.read()))
                self.by_id[net.id] = net
            except (OSError, ValueError, KeyError):
                continue  # a torn record cannot happen (atomic writes); skip the odd file

    def save(self, net: Network) -> None:
        write_atomic(os.path.join(self.dir, f"{net.id}.json"),
                     json.dumps(net.record).encode(), 0o600)

    def all(self) -> list[Network]:
        return list(self.by_id.values())

    def names(self) -> dict[str, Network]:
        return {n.name: n for n in self.by_id.values()}

    def get(self, ref: str) -> Network:
        """By full ID, then exact name, then unique ID prefix, as Docker looks networks up."""
        if ref in self.by_id:
            return self.by_id[ref]
        for net in self.by_id.values():
            if net.name == ref:
                return net
        found = [n for n in self.by_id.values() if ref and n.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise NotFound(f"network {ref} is ambiguous ({len(found)} matches found based "
                           "on ID prefix)")
        raise NotFound(f"network {ref} not found")

    def ensure_predefined(self, bridge_name: str, taken: list[IPv4Network], mtu: int) -> None:
        names = self.names()
        if "bridge" not in names:
            subnet = IPv4Network("172.17.0.0/16")
            if self.pools or any(subnet.overlaps(t) for t in taken):
                subnet = ipam.choose_subnet(taken, self.pools)
            options = {"com.docker.network.bridge.default_bridge": "true",
                       "com.docker.network.bridge.enable_icc": "true",
                       MASQUERADE_OPTION: "true", HOST_BINDING_OPTION: "0.0.0.0",
                       BRIDGE_NAME_OPTION: bridge_name, MTU_OPTION: str(mtu)}
            self.save(self._new("bridge", "bridge", subnet, next(subnet.hosts()), None,
                                options=options))
        elif names["bridge"].mtu != mtu:  # ketchd restarted with another --mtu, as dockerd
            net = names["bridge"]
            net.record["Options"] = {**(net.record.get("Options") or {}), MTU_OPTION: str(mtu)}
            self.save(net)
        for name, driver in (("host", "host"), ("none", "null")):
            if name not in names:
                self.save(self._new(name, driver, None, None, None))

    def _new(self, name: str, driver: str, subnet: IPv4Network | None,
             gateway: IPv4Address | None, ip_range: IPv4Network | None, *,
             internal: bool = False, attachable: bool = False,
             labels: dict[str, str] | None = None,
             options: dict[str, str] | None = None,
             ipam_options: dict[str, str] | None = None,
             aux: dict[str, str] | None = None,
             ipv6: _PoolRequest | None = None, enable_ipv6: bool = False) -> Network:
        config: list[dict[str, Any]] = []
        if subnet is not None:
            config.append(_config_entry(subnet, ip_range, gateway, aux))
        if ipv6 is not None and ipv6.subnet is not None:
            config.append(_config_entry(ipv6.subnet, ipv6.ip_range, ipv6.gateway, ipv6.aux))
        net = Network({
            "Name": name, "Id": secrets.token_hex(32), "Created": created_stamp(),
            "Scope": "local", "Driver": driver, "EnableIPv4": True, "EnableIPv6": enable_ipv6,
            # IPAM.Options as asked for: null when not given, {} when given empty
            "IPAM": {"Driver": "default", "Options": ipam_options, "Config": config},
            "Internal": internal, "Attachable": attachable, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
            "Options": options or {}, "Labels": labels or {},
        })
        self.by_id[net.id] = net
        return net

    def create(self, body: dict[str, Any], routes: list[IPv4Network]) -> Network:
        """A new bridge network from a /networks/create body (not yet saved). A subnet
        asked for must not overlap another network's; one chosen also avoids `routes`."""
        taken = [n.subnet for n in self.by_id.values() if n.record["IPAM"]["Config"]]
        name = body.get("Name")
        if not name or not isinstance(name, str):
            raise InvalidParameter("network name is required")
        if name in self.names() or name in PREDEFINED:
            raise Conflict(f"network with name {name} already exists")
        driver = body.get("Driver") or "bridge"
        if driver != "bridge":
            raise NotFound(f"plugin \"{driver}\" not found")
        ipam_body = body.get("IPAM") or {}
        if not isinstance(ipam_body, dict):
            raise InvalidParameter(f"json: cannot unmarshal {_json_kind(ipam_body)} into Go "
                                   "struct field NetworkCreateRequest.IPAM of type "
                                   "network.IPAM")
        ipam_options = _string_map(ipam_body.get("Options"), "IPAM.IPAM.Options")
        if (ipam_body.get("Driver") or "default") != "default":
            raise NotFound(f"plugin \"{ipam_body['Driver']}\" not found")
        configs = ipam_body.get("Config") or []
        if not isinstance(configs, list):
            raise InvalidParameter(f"json: cannot unmarshal {_json_kind(configs)} into Go "
                                   "struct field IPAM.IPAM.Config of type "
                                   "[]network.IPAMConfig")
        requests: dict[int, _PoolRequest] = {}
        for config in configs:
            request = _pool_request(config)
            if request.version in requests:
                raise InvalidParameter("bridge driver doesn't support multiple subnets")
            requests[request.version] = request
        v4 = requests.get(4) or _PoolRequest(4)
        subnet, gateway, ip_range, aux = v4.subnet, v4.gateway, v4.ip_range, v4.aux
        assert subnet is None or isinstance(subnet, IPv4Network)
        assert gateway is None or isinstance(gateway, IPv4Address)
        assert ip_range is None or isinstance(ip_range, IPv4Network)
        v6 = requests.get(6)
        enable_ipv6 = bool(body.get("EnableIPv6"))
        if enable_ipv6 and (v6 is None or v6.subnet is None):
            raise Forbidden("could not find an available, non-overlapping IPv6 address pool "
                            "among the defaults to assign to the network")
        if v6 is not None and v6.subnet is not None:
            taken6 = [n for n in (net._config(6) for net in self.by_id.values()) if n]
            if any(v6.subnet.overlaps(ipam.parse_subnet(t["Subnet"])) for t in taken6):
                raise Forbidden("invalid pool request: Pool overlaps with other one on this "
                                "address space")
            if v6.aux:
                ipam.check_auxiliary6(v6.aux, v6.subnet, v6.gateway, name)
        if subnet is None:
            subnet = ipam.choose_subnet(taken + routes, self.pools)
            gateway = next(subnet.hosts())  # shown when chosen for the user, as Docker does
        elif any(subnet.overlaps(t) for t in taken):
            raise Forbidden("invalid pool request: Pool overlaps with other one on this "
                            "address space")
        if aux:  # after the pool and its gateway, as Docker reserves them
            ipam.check_auxiliary(aux, subnet, gateway or next(subnet.hosts()), name)
        options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        bridge = options.get(BRIDGE_NAME_OPTION)
        if bridge is not None and not _valid_ifname(bridge):
            raise InvalidParameter(f"invalid bridge name: {bridge!r}")
        if bridge is not None and any(n.bridge == bridge for n in self.by_id.values()):
            raise Conflict(f"bridge name {bridge} is used by another network")
        if MTU_OPTION in options:
            try:
                if not 68 <= int(options[MTU_OPTION]) <= 65535:
                    raise ValueError
            except ValueError:
                raise InvalidParameter(f"invalid MTU: {options[MTU_OPTION]}") from None
        labels = body.get("Labels") or {}
        if not isinstance(labels, dict):
            raise InvalidParameter("invalid Labels: must be an object")
        return self._new(name, "bridge", subnet, gateway, ip_range,
                         internal=bool(body.get("Internal")),
                         attachable=bool(body.get("Attachable")),
                         labels={str(k): str(v) for k, v in labels.items()},
                         options=options, ipam_options=ipam_options, aux=aux,
                         ipv6=v6, enable_ipv6=enable_ipv6)

    def delete(self, net: Network) -> None:
        self.by_id.pop(net.id, None)
        try:
            os.unlink(os.path.join(self.dir, f"{net.id}.json"))
        except FileNotFoundError:
            pass


@dataclass
class _PoolRequest:
    """One entry of IPAM.Config, parsed: its IP version comes from its subnet."""

    version: int
    subnet: ipam.Subnet | None = None
    ip_range: ipam.Subnet | None = None
    gateway: ipam.Address | None = None
    aux: dict[str, str] | None = None


def _pool_request(config: Any) -> _PoolRequest:
    if not isinstance(config, dict):
        raise InvalidParameter(f"json: cannot unmarshal {_json_kind(config)} into Go "
                               "struct field IPAM.IPAM.Config of type network.IPAMConfig")
    aux = _string_map(config.get("AuxiliaryAddresses"),
                      "IPAMConfig.IPAM.Config.AuxiliaryAddresses")
    subnet = ipam.parse_subnet(config["Subnet"]) if config.get("Subnet") else None
    request = _PoolRequest(subnet.version if subnet else 4, subnet, aux=aux)
    if config.get("IPRange"):
        if subnet is None:
            raise InvalidParameter("ip-range requires a subnet")
        ip_range = ipam.parse_subnet(config["IPRange"])
        if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):  # type: ignore[arg-type]
            raise InvalidParameter(f"invalid pool request: ip-range {ip_range} is "
                                   f"not within the subnet {subnet}")
        request.ip_range = ip_range
    if config.get("Gateway"):
        if subnet is None:
            raise InvalidParameter("a gateway requires a subnet")
        try:
            if "%" in str(config["Gateway"]):  # a zone: never a gateway
                raise ValueError
            gateway = ipaddress.ip_address(config["Gateway"])
        except ValueError:
            raise InvalidParameter(f"invalid gateway: {config['Gateway']}") from None
        if gateway not in subnet:
            raise InvalidParameter(f"no matching subnet for gateway {gateway}")
        request.gateway = gateway
    if aux and subnet is None:
        raise InvalidParameter("auxiliary addresses require a subnet")
    return request


def _config_entry(subnet: ipam.Subnet, ip_range: ipam.Subnet | None,
                  gateway: ipam.Address | None, aux: dict[str, str] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"Subnet": str(subnet)}  # Docker's order of the fields
    if ip_range is not None:
        entry["IPRange"] = str(ip_range)
    if gateway is not None:
        entry["Gateway"] = str(gateway)
    if aux:
        entry["AuxiliaryAddresses"] = dict(sorted(aux.items()))  # as Go's map
    return entry


def _json_kind(value: Any) -> str:
    """What Go's encoding/json calls a JSON value in its type errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _string_map(value: Any, field: str) -> dict[str, str] | None:
    """A map[string]string field of the request as Docker decodes it: null stays null, a
    null value is "", anything else not a string is refused with Go's words."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidParameter(f"json: cannot unmarshal {_json_kind(value)} into Go struct "
                               f"field {field} of type map[string]string")
    out: dict[str, str] = {}
    for key, item in value.items():
        if item is not None and not isinstance(item, str):
            raise InvalidParameter(f"json: cannot unmarshal {_json_kind(item)} into Go "
                                   f"struct field {field} of type string")
        out[str(key)] = item or ""
    return out


def _valid_ifname(name: str) -> bool:
    return 0 < len(name.encode()) < 16 and "/" not in name and not any(
        c.isspace() or c == ":" for c in name) and name not in (".", "..")
