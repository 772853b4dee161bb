"""Published ports: the short syntax `[[IP:]HOST:]CONTAINER[/PROTOCOL]` (each port may
be a range) read as Docker reads it, and the long syntax completed with its defaults.

    "8080:80/udp"                  -> target 80, published "8080", protocol udp
    "127.0.0.1:5000-5001:5000-5001" -> two entries, host_ip 127.0.0.1
    "8000-9000:80"                 -> one entry, published "8000-9000"
    "3000-3001"                    -> targets 3000 and 3001, published by the engine
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ketch.compose.convert import Path, fail, to_int, to_str
from ketch.compose.model import PortConfig

PROTOCOLS = ("tcp", "udp", "sctp")


class PortError(ValueError):
    """A short syntax Docker would refuse; the message is Docker's."""


def _port_range(text: str, what: str) -> tuple[int, int]:
    if not text:
        raise PortError(f"empty string specified for {what}")
    start_text, dash, end_text = text.partition("-")
    try:
        start = int(start_text, 10)
        end = int(end_text, 10) if dash else start
    except ValueError:
        raise PortError(f"invalid {what}: {text}") from None
    if not (0 <= start <= 65535 and 0 <= end <= 65535) or start_text.startswith("+") \
            or end_text.startswith("+"):
        raise PortError(f"invalid {what}: {text}")
    if end < start:
        raise PortError(f"invalid range specified for {what}: {text}")
    return start, end


def parse_port(spec: str) -> list[PortConfig]:
    """The entries of one short-syntax port (a range gives one entry per port)."""
    rest, slash, protocol = spec.rpartition("/")
    if not slash:
        rest, protocol = spec, "tcp"
    elif not protocol:
        protocol = "tcp"
    protocol = protocol.lower()
    if protocol not in PROTOCOLS:
        raise PortError(f"invalid proto: {protocol}")
    parts = rest.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    host_ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
    if host_ip.startswith("[") and host_ip.endswith("]"):
        host_ip = host_ip[1:-1]
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise PortError(f"invalid IP address: {host_ip}") from None
    if not container:
        raise PortError(f"no port specified: {spec}<empty>")
    start, end = _port_range(container, "containerPort")
    host_start = host_end = 0
    if host:
        host_start, host_end = _port_range(host, "hostPort")
        if end - start != host_end - host_start and end != start:
            raise PortError(f"invalid ranges specified for container and host Ports: "
                            f"{container} and {host}")
    entries: list[PortConfig] = []
    for offset in range(end - start + 1):
        entry: PortConfig = {"mode": "ingress"}
        if host_ip:
            entry["host_ip"] = host_ip
        entry["target"] = start + offset
        if host:
            if end == start and host_end != host_start:
                entry["published"] = host  # a single port published from a host range
            else:
                entry["published"] = str(host_start + offset)
        entry["protocol"] = protocol
        entries.append(entry)
    return entries


def normalize_ports(value: Any, path: Path) -> list[PortConfig]:
    """A service's `ports`, every entry in the long syntax."""
    out: list[PortConfig] = []
    if value is None:
        return out
    if not isinstance(value, list):
        raise fail(path, "must be a list")
    for index, item in enumerate(value):
        where = (*path, index)
        if isinstance(item, bool):
            raise fail(where, "must be a number, string or mapping")
        if isinstance(item, int | float):
            out.extend(parse_short(to_str(item), where))
        elif isinstance(item, str):
            out.extend(parse_short(item, where))
        elif isinstance(item, dict):
            out.append(normalize_long(item, where))
        else:
            raise fail(where, "must be a number, string or mapping")
    return out


def parse_short(spec: str, path: Path) -> list[PortConfig]:
    try:
        return parse_port(spec)
    except PortError as exc:
        raise fail(path, f'invalid port "{spec}": {exc}') from None


def normalize_long(item: dict[str, Any], path: Path) -> PortConfig:
    entry: PortConfig = {}
    if item.get("name") is not None:
        entry["name"] = str(item["name"])
    entry["mode"] = str(item.get("mode") or "ingress")
    if item.get("host_ip"):
        entry["host_ip"] = str(item["host_ip"])
    if "target" not in item or item["target"] is None:
        raise fail(path, "target is required")
    target = to_int(item["target"], (*path, "target"))
    if not 0 <= target <= 65535:
        raise fail((*path, "target"), f"invalid port {target}")
    entry["target"] = target
    published = item.get("published")
    if published is not None and published != "":
        entry["published"] = to_str(published)
    protocol = str(item.get("protocol") or "tcp").lower()
    entry["protocol"] = protocol
    if item.get("app_protocol"):
        entry["app_protocol"] = str(item["app_protocol"])
    extra = {k: v for k, v in item.items() if k.startswith("x-")}
    entry.update(extra)  # type: ignore[typeddict-item]
    return entry


def port_key(entry: PortConfig) -> tuple[str, int, str, str]:
    """What makes two ports the same when files are merged: the compose
    specification's {ip, target, published, protocol}."""
    return (entry.get("host_ip", ""), entry.get("target", 0), entry.get("published", ""),
            entry.get("protocol", "tcp"))
