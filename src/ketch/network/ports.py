"""Published ports: reading HostConfig.PortBindings, and holding the host ports.

The kernel forwards a published port (firewall.py); a socket bound to the host port
in the daemon reserves it, as Docker's does, so no other program (nor another
container) can take the port while it is published, and a port already in use fails
the start with a clear message instead of silently shadowing a host service.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from ketch.errors import HostError, InvalidParameter

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class Binding:
    """One requested host binding of a container port."""
    port: int            # the container's
    proto: str
    host_ip: str         # "" for every address
    host_ports: tuple[int, int] | None  # inclusive range; None: any free port

    @property
    def key(self) -> str:
        return f"{self.port}/{self.proto}"


def parse_port_key(key: str) -> tuple[int, str]:
    """"80/tcp" (or "80") -> (80, "tcp")."""
    port, _, proto = str(key).partition("/")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidParameter(f"invalid proto: {proto}")
    number = _port_number(port, "containerPort")
    return number, proto


def _port_number(text: str, what: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise InvalidParameter(f"invalid {what}: {text}") from None
    if not 0 < number < 65536:
        raise InvalidParameter(f"invalid {what}: {text}")
    return number


def _host_ports(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    low, dash, high = text.partition("-")
    first = _port_number(low, "hostPort")
    last = _port_number(high, "hostPort") if dash else first
    if last < first:
        raise InvalidParameter(f"invalid hostPort: {text}")
    return first, last


def bindings(port_bindings: Any, exposed: list[str], publish_all: bool) -> list[Binding]:
    """HostConfig.PortBindings (plus every exposed port with -P) as bindings to make."""
    if port_bindings is None:
        port_bindings = {}
    if not isinstance(port_bindings, dict):
        raise InvalidParameter("invalid PortBindings: must be an object")
    out: list[Binding] = []
    seen: set[str] = set()
    for key, wanted in port_bindings.items():
        port, proto = parse_port_key(key)
        seen.add(f"{port}/{proto}")
        for item in wanted or [{}]:
            if not isinstance(item, dict):
                raise InvalidParameter(f"invalid PortBindings for {key}")
            host_ip = str(item.get("HostIp") or "")
            if host_ip:
                try:
                    ip = IPv4Address(host_ip)
                except ValueError:
                    if ":" in host_ip:  # an IPv6 address: not forwarded yet, see docs
                        raise InvalidParameter(
                            f"publishing on the IPv6 address {host_ip} is not supported"
                        ) from None
                    raise InvalidParameter(f"invalid IP address: {host_ip}") from None
                host_ip = "" if ip == IPv4Address("0.0.0.0") else str(ip)
            out.append(Binding(port, proto, host_ip, _host_ports(str(item.get("HostPort")
                                                                     or ""))))
    if publish_all:
        for key in exposed:
            port, proto = parse_port_key(key)
            if f"{port}/{proto}" not in seen:
                out.append(Binding(port, proto, "", None))
    return out


class Reservation:
    """A host port held by a bound socket until released."""

    def __init__(self, sock: socket.socket, port: int) -> None:
        self.sock = sock
        self.port = port

    def release(self) -> None:
        self.sock.close()


def reserve(binding: Binding, address: str, family: int = socket.AF_INET) -> Reservation:
    """Bind the host side of `binding` (the first free port of its range, or any);
    `address` is the container's, for the error message Docker gives. AF_INET6 binds
    [::] alone (IPV6_V6ONLY): the IPv4 side is a socket of its own."""
    kind = socket.SOCK_DGRAM if binding.proto == "udp" else socket.SOCK_STREAM
    proto = socket.IPPROTO_SCTP if binding.proto == "sctp" else 0
    host_ip = binding.host_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    candidates = (range(binding.host_ports[0], binding.host_ports[1] + 1)
                  if binding.host_ports else range(0, 1))
    last_error: OSError | None = None
    for port in candidates:
        sock = socket.socket(family, kind, proto)
        try:
            if family == socket.AF_INET6:  # the proxy listens on it: as any server does,
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # it may bind
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # over TIME_WAITs
            sock.bind((host_ip, port))
        except OSError as e:
            sock.close()
            last_error = e
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                continue
            break
        return Reservation(sock, sock.getsockname()[1])
    wanted = (f"{binding.host_ports[0]}" if binding.host_ports and
              binding.host_ports[0] == binding.host_ports[1] else
              f"{binding.host_ports[0]}-{binding.host_ports[1]}" if binding.host_ports else "0")
    reason = "address already in use" if last_error is None or last_error.errno == \
        errno.EADDRINUSE else (last_error.strerror or str(last_error)).lower()
    raise HostError(f"failed to bind host port for {host_ip}:{wanted}:{address}:"
                    f"{binding.port}/{binding.proto}: {reason}")
