"""`NetworkStore`: the networks' records under <data_root>/networks/<id>.json.

A record is what `network inspect` shows but for `Containers`, which the engine adds
from the endpoints of running containers. The three networks Docker predefines
(`bridge`, `host`, `none`) are made on first start and cannot be removed.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
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

    @property
    def subnet(self) -> IPv4Network:
        return IPv4Network(self.record["IPAM"]["Config"][0]["Subnet"])

    @property
    def gateway(self) -> IPv4Address:
        """The gateway asked for, else the subnet's first address (which Docker then
        leaves out of IPAM.Config, as ketch does)."""
        config = self.record["IPAM"]["Config"][0]
        if config.get("Gateway"):
            return IPv4Address(config["Gateway"])
        return next(self.subnet.hosts())

    @property
    def ip_range(self) -> IPv4Network | None:
        text = self.record["IPAM"]["Config"][0].get("IPRange")
        return IPv4Network(text) if text else None

    @property
    def aux_addresses(self) -> list[IPv4Address]:
        """IPAM AuxiliaryAddresses: reserved, never given to a container."""
        aux = self.record["IPAM"]["Config"][0].get("AuxiliaryAddresses") or {}
        found = (ipam.auxiliary_address(str(text)) for text in aux.values())
        return [a for a in found if a is not None]

    @property
    def gateway_interface(self) -> IPv4Interface:
        return IPv4Interface(f"{self.gateway}/{self.subnet.prefixlen}")

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
    def __init__(self, data_root: str) -> None:
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
            if any(subnet.overlaps(t) for t in taken):
                subnet = ipam.choose_subnet(taken)
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
             aux: dict[str, str] | None = None) -> Network:
        config: list[dict[str, Any]] = []
        if subnet is not None:
            entry: dict[str, Any] = {"Subnet": str(subnet)}  # Docker's order of the fields
            if ip_range is not None:
                entry["IPRange"] = str(ip_range)
            if gateway is not None:
                entry["Gateway"] = str(gateway)
            if aux:
                entry["AuxiliaryAddresses"] = dict(sorted(aux.items()))  # as Go's map
            config.append(entry)
        net = Network({
            "Name": name, "Id": secrets.token_hex(32), "Created": created_stamp(),
            "Scope": "local", "Driver": driver, "EnableIPv4": True, "EnableIPv6": False,
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
        if body.get("EnableIPv6"):
            raise InvalidParameter("IPv6 networks are not supported by ketch yet")
        ipam_body = body.get("IPAM") or {}
        if not isinstance(ipam_body, dict):
            raise InvalidParameter(f"json: cannot unmarshal {_json_kind(ipam_body)} into Go "
                                   "struct field NetworkCreateRequest.IPAM of type "
                                   "network.IPAM")
        ipam_options = _string_map(ipam_body.get("Options"), "IPAM.IPAM.Options")
        if (ipam_body.get("Driver") or "default") != "default":
            raise NotFound(f"plugin \"{ipam_body['Driver']}\" not found")
        configs = ipam_body.get("Config") or []
        if len(configs) > 1:
            raise InvalidParameter("ketch networks have one IPv4 subnet")
        subnet = gateway = ip_range = None
        aux: dict[str, str] | None = None
        if configs:
            config = configs[0]
            if not isinstance(config, dict):
                raise InvalidParameter(f"json: cannot unmarshal {_json_kind(config)} into Go "
                                       "struct field IPAM.IPAM.Config of type "
                                       "network.IPAMConfig")
            aux = _string_map(config.get("AuxiliaryAddresses"),
                              "IPAMConfig.IPAM.Config.AuxiliaryAddresses")
            if config.get("Subnet"):
                subnet = ipam.parse_subnet(config["Subnet"])
            if config.get("IPRange"):
                if subnet is None:
                    raise InvalidParameter("ip-range requires a subnet")
                ip_range = ipam.parse_subnet(config["IPRange"])
                if not ip_range.subnet_of(subnet):
                    raise InvalidParameter(f"invalid pool request: ip-range {ip_range} is "
                                           f"not within the subnet {subnet}")
            if config.get("Gateway"):
                if subnet is None:
                    raise InvalidParameter("a gateway requires a subnet")
                gateway = ipam.parse_address(config["Gateway"], "gateway")
                if gateway not in subnet:
                    raise InvalidParameter(f"no matching subnet for gateway {gateway}")
            if aux and subnet is None:
                raise InvalidParameter("auxiliary addresses require a subnet")
        if subnet is None:
            subnet = ipam.choose_subnet(taken + routes)
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
                         options=options, ipam_options=ipam_options, aux=aux)

    def delete(self, net: Network) -> None:
        self.by_id.pop(net.id, None)
        try:
            os.unlink(os.path.join(self.dir, f"{net.id}.json"))
        except FileNotFoundError:
            pass


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
