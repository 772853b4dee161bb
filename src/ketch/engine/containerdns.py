"""What a container's names resolve to: its /etc/hosts, resolv.conf and hostname, and
the answers of its embedded DNS server (names on its user-defined networks, --link
aliases, and which servers the rest is forwarded to).

Links come two ways: HostConfig.Links (--link), and per network endpoint
(NetworkingConfig.EndpointsConfig[net].Links at create, EndpointConfig.Links at connect).
As in Docker, an endpoint's link is an alias on that network only, seen by that
container only, for the linked container's name there; a name that is such an alias is
not looked up as a container's name on that network."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any

from ketch.engine.containers import Container
from ketch.engine.names import parse_link
from ketch.errors import Conflict
from ketch.network import etcfiles, netns
from ketch.network.defaults import NetworkDefaults
from ketch.network.store import Network, NetworkStore
from ketch.runtime.state import write_atomic

if TYPE_CHECKING:
    from ketch.network.dns import Resolver

DNS_ADDRESS = "127.0.0.11"


class ContainerNames:
    def __init__(self, store: NetworkStore, running: Callable[[], list[Container]],
                 defaults: NetworkDefaults | None = None) -> None:
        self.store = store
        self.running = running
        self.defaults = defaults or NetworkDefaults()

    def _resolv_conf(self, host: dict[str, Any], internal: bool) -> tuple[str, list[str]]:
        """etcfiles.resolv_conf with --dns, --dns-search and --dns-option, each ketchd's
        own when the container gives none (as dockerd: HostConfig keeps what was asked)."""
        d = self.defaults
        return etcfiles.resolv_conf(
            etcfiles.host_resolv_conf(), internal_dns=internal,
            dns=host.get("Dns") or list(d.dns),
            search=host.get("DnsSearch") or list(d.dns_search),
            options=host.get("DnsOptions") or list(d.dns_options))

    def write_files(self, c: Container, addresses: list[IPv4Address | IPv6Address],
                     host_network: bool = False) -> None:
        config, host = c.config, c.host_config
        hostname = os.uname().nodename if host_network else config["Hostname"]
        extra = [etcfiles.parse_extra_host(h) for h in host.get("ExtraHosts") or []]
        gateway = str(self.store.get("bridge").gateway)
        extra = [(n, gateway if ip == "host-gateway" else ip) for n, ip in extra]
        internal = any(self.store.by_id[ep["NetworkID"]].dns
                       for ep in c.record["NetworkSettings"]["Networks"].values()
                       if ep.get("NetworkID") in self.store.by_id)
        if host_network:
            try:
                with open("/etc/hosts") as f:
                    hosts = f.read()
            except OSError:
                hosts = ""
            hosts += "".join(f"{ip}\t{n}\n" for n, ip in extra)
            resolv = etcfiles.host_resolv_conf()
        else:
            hosts = etcfiles.hosts(hostname, config.get("Domainname") or "",
                                   [str(a) for a in addresses], extra, self.links(c))
            resolv, _ = self._resolv_conf(host, internal)
        for name, text in (("hostname", f"{hostname}\n"), ("hosts", hosts),
                           ("resolv.conf", resolv)):
            write_atomic(os.path.join(c.dir, name), text.encode(), 0o644, durable=False)

    def links(self, c: Container) -> list[tuple[str, list[str]]]:
        """--link on the default bridge: the linked container's address and names."""
        out: list[tuple[str, list[str]]] = []
        for link in c.host_config.get("Links") or []:
            target, alias = parse_link(link)
            for other in self.running():
                if other.name == target or other.id == target:
                    address = other.record["NetworkSettings"].get("IPAddress")
                    if address:
                        out.append((address, [alias, other.id[:12], other.name]))
        return out

    def link_env(self, c: Container) -> list[str]:
        """Docker's legacy link variables (moby's links.ToEnv): for `--link db:alias`,
        ALIAS_NAME, ALIAS_PORT and ALIAS_PORT_<port>_<PROTO>[_ADDR|_PORT|_PROTO] for each
        exposed port, and ALIAS_ENV_<var> for the linked container's environment."""
        env: list[str] = []
        for link in c.host_config.get("Links") or []:
            target, alias = parse_link(link)
            other = next((o for o in self.running() if target in (o.name, o.id)), None)
            if other is None:
                raise Conflict(f"Cannot link to a non running container: /{target} AS "
                               f"/{c.name}/{alias}")
            address = other.record["NetworkSettings"].get("IPAddress")
            if not address:  # not on the default bridge: the link is a DNS alias only
                continue
            prefix = alias.upper().replace("-", "_")
            exposed = sorted((int(port), proto) for port, _, proto in
                             (key.partition("/") for key in other.config.get("ExposedPorts")
                              or {}))
            if exposed:
                port, proto = exposed[0]
                env.append(f"{prefix}_PORT={proto}://{address}:{port}")
            for port, proto in exposed:
                key = f"{prefix}_PORT_{port}_{proto.upper()}"
                env += [f"{key}={proto}://{address}:{port}", f"{key}_ADDR={address}",
                        f"{key}_PORT={port}", f"{key}_PROTO={proto}"]
            env.append(f"{prefix}_NAME=/{c.name}/{alias}")
            for item in other.config.get("Env") or []:
                name, sep, value = item.partition("=")
                if sep and name not in ("HOME", "HOSTNAME", "PATH"):
                    env.append(f"{prefix}_ENV_{name}={value}")
        return env

    # -- the embedded DNS server's view ---------------------------------------------------

    def resolver(self, c: Container, path: str) -> tuple[Resolver, socket.socket,
                                                         socket.socket]:
        """A DNS server for `c` (not yet serving) and its sockets, bound to 127.0.0.11:53
        inside the network namespace at `path`."""
        from ketch.network.dns import Resolver

        def make() -> tuple[socket.socket, socket.socket]:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                udp.bind((DNS_ADDRESS, 53))
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((DNS_ADDRESS, 53))
                tcp.listen(64)
            except BaseException:
                udp.close()
                tcp.close()
                raise
            return udp, tcp

        udp, tcp = netns.run_in(path, make)
        return (Resolver(lambda name: self.lookup(c, name),
                         lambda address: self.reverse(c, address),
                         lambda: self.upstreams(c)), udp, tcp)

    def _peers(self, c: Container) -> list[tuple[Network, Container, dict[str, Any]]]:
        mine = {ep.get("NetworkID") for ep in c.record["NetworkSettings"]["Networks"].values()
                if ep.get("IPAddress")}
        out = []
        for other in self.running():
            for ep in other.record["NetworkSettings"]["Networks"].values():
                net = self.store.by_id.get(ep.get("NetworkID") or "")
                if net is not None and net.dns and net.id in mine and ep.get("IPAddress"):
                    out.append((net, other, ep))
        return out

    def lookup(self, c: Container, name: str) -> list[str]:
        name = name.lower().rstrip(".")
        found: list[str] = []
        linked = {alias.lower(): target for target, alias in
                  (parse_link(link) for link in c.host_config.get("Links") or [])}
        endpoint_links = self._endpoint_links(c)
        for net, other, ep in self._peers(c):
            names = {n.lower() for n in (ep.get("DNSNames") or [])}
            aliases = endpoint_links.get(net.id) or {}
            alias = _alias_asked(name, aliases, net.name.lower())
            if alias is not None:  # the link's target on this network, nothing else
                known = aliases[alias] in names or aliases[alias] == other.id
            else:
                names |= {f"{n}.{net.name.lower()}" for n in names}
                target = linked.get(name)
                known = name in names or (target is not None
                                          and target in (other.name, other.id))
            if known:
                found += [a for a in (ep["IPAddress"], ep.get("GlobalIPv6Address"))
                          if a and a not in found]
        return found

    @staticmethod
    def _endpoint_links(c: Container) -> dict[str, dict[str, str]]:
        """The links of each of c's endpoints, by network ID: alias -> linked container."""
        out: dict[str, dict[str, str]] = {}
        for ep in c.record["NetworkSettings"]["Networks"].values():
            links = ep.get("Links") or []
            if ep.get("NetworkID") and isinstance(links, list):
                out[ep["NetworkID"]] = {alias.lower(): target.lower() for target, alias in
                                        map(parse_link, links)}
        return out

    def reverse(self, c: Container, address: str) -> str | None:
        for net, other, ep in self._peers(c):
            if address in (ep.get("IPAddress"), ep.get("GlobalIPv6Address")):
                return f"{other.name}.{net.name}"
        return None

    def upstreams(self, c: Container) -> list[str]:
        nets = [self.store.by_id.get(ep.get("NetworkID") or "")
                for ep in c.record["NetworkSettings"]["Networks"].values()]
        if all(n is None or n.internal for n in nets):
            return []  # no way out: outside names are not answered either, as in Docker
        host = c.host_config
        _, upstreams = self._resolv_conf(host, True)
        return upstreams



def _alias_asked(name: str, aliases: dict[str, str], network: str) -> str | None:
    """The alias `name` asks for: itself, or <alias>.<network> (as Docker reads a name
    with the network's name after the last dot)."""
    if name in aliases:
        return name
    base, dot, suffix = name.rpartition(".")
    return base if dot and suffix == network and base in aliases else None
