"""Containers' networking: endpoints on networks, published ports, the embedded DNS.

The engine calls `plan` at create (which networks, with what), `setup` before a start
(a network namespace of its own, a veth into each network's bridge, the published ports,
/etc/hosts and resolv.conf, the DNS server at 127.0.0.11) and `teardown` when the
container has exited. `restore` rebuilds the in-memory half (addresses in use, port
reservations, DNS servers, the nftables table) for the containers still running after
a restart of ketchd, and sweeps what a crash left behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import TYPE_CHECKING, Any

from ketch.engine.containerdns import ContainerNames
from ketch.engine.containers import Container
from ketch.errors import Conflict, Forbidden, InvalidParameter, KetchError, NotFound
from ketch.network import firewall, ipam, links, netns, ports, proxy
from ketch.network.defaults import DEFAULT_MTU, NetworkDefaults
from ketch.network.store import Network, NetworkStore
from ketch.runtime.state import write_atomic

if TYPE_CHECKING:
    from ketch.network.dns import Resolver

Running = Callable[[], list[Container]]


def _endpoint(net: Network | None, config: dict[str, Any] | None) -> dict[str, Any]:
    """An endpoint of a container that is not running: what was asked, no address."""
    config = config or {}
    ipam_config = config.get("IPAMConfig") or None
    return {"IPAMConfig": ipam_config, "Links": config.get("Links") or None,
            "Aliases": config.get("Aliases") or None,
            "MacAddress": config.get("MacAddress") or "",
            "DriverOpts": config.get("DriverOpts") or None, "GwPriority": 0,
            "NetworkID": net.id if net else "", "EndpointID": "", "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "DNSNames": None}


def settings(networks: dict[str, Any]) -> dict[str, Any]:
    """NetworkSettings of a container that is not running."""
    return {"Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {},
            "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "MacAddress": "", "Networks": networks}


def _mac(address: IPv4Address) -> str:
    """Docker's classic MAC for an address: 02:42 and the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def _valid_mac(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdefABCDEF"
                                                       for c in p) for p in parts)


def _veth() -> str:
    """A new host-side veth name: fresh for every start, since the last one's removal may
    still be under way in the background."""
    return "veth" + secrets.token_hex(4)[:7]


def _endpoint_id(cid: str, net_id: str) -> str:
    return hashlib.sha256(f"endpoint/{cid}/{net_id}".encode()).hexdigest()


class Networking:
    def __init__(self, data_root: str, exec_root: str, running: Running,
                 bridge: str = "ketch0", defaults: NetworkDefaults | None = None) -> None:
        self.defaults = defaults or NetworkDefaults()
        self.store = NetworkStore(data_root, self.defaults.pools)
        self.sandboxes = os.path.join(exec_root, "netns")
        self.running = running
        self.owner = bridge  # marks our interfaces; names the nftables table (see start)
        self.table = ""
        self.pools: dict[str, ipam.Pool] = {}
        self.pools6: dict[str, ipam.Pool] = {}  # of the networks with IPv6
        self.reservations: dict[str, list[ports.Reservation]] = {}
        self.published: dict[str, list[firewall.Published]] = {}
        self.resolvers: dict[str, Resolver] = {}
        self.proxies: dict[str, list[proxy.Proxy]] = {}
        self.ipv6 = proxy.ipv6_available()
        self.names = ContainerNames(self.store, running, self.defaults)
        self.loop: asyncio.AbstractEventLoop  # set by the engine: the DNS servers run there
        self.lock = threading.RLock()  # the engine calls in from worker threads
        self.applied = ""  # the nftables table as last written
        self.cleaner = ThreadPoolExecutor(1, thread_name_prefix="veth-cleaner")

    # -- the networks ---------------------------------------------------------------

    def _pool(self, net: Network) -> ipam.Pool:
        pool = self.pools.get(net.id)
        if pool is None:
            pool = self.pools[net.id] = ipam.Pool(net.subnet, net.gateway, net.ip_range,
                                                  net.aux_addresses)
        return pool

    def _pool6(self, net: Network) -> ipam.Pool | None:
        if net.subnet6 is None:
            return None
        pool = self.pools6.get(net.id)
        if pool is None:
            pool = self.pools6[net.id] = ipam.Pool(net.subnet6, net.gateway6, net.ip_range6,
                                                   net.aux_addresses6)
        return pool

    def _ensure_bridge(self, net: Network) -> None:
        links.ensure_bridge(net.bridge, net.gateway_interface, net.mtu or DEFAULT_MTU,
                            self.owner, net.gateway_interface6)

    def start(self) -> None:
        """At ketchd's start, before containers are re-adopted: the predefined networks
        and every network's bridge."""
        # ketchd's --mtu is the default bridge's; other networks take theirs from their own
        # option or have Docker's 1500, as dockerd's --mtu leaves them alone
        self.store.ensure_predefined(self.owner, ipam.host_routes(), self.defaults.mtu)
        # the data root's default bridge names what this daemon owns, whatever --bridge
        # says on a later start: its interfaces and table are found again
        self.owner = self.store.get("bridge").bridge
        self.table = "ketch" if self.owner == "ketch0" else f"ketch-{self.owner}"
        for net in self.store.all():
            if net.is_bridge:
                self._ensure_bridge(net)
                self._pool(net)
                self._pool6(net)

    def create_network(self, body: dict[str, Any]) -> Network:
        if not isinstance(body, dict):
            raise InvalidParameter("invalid JSON: the request body must be an object")
        net = self.store.create(body, ipam.host_routes())
        try:
            self._ensure_bridge(net)
            self.store.save(net)
            self._apply()
        except BaseException:
            self.store.delete(net)
            try:
                links.delete(net.bridge)
            except KetchError:
                pass
            raise
        return net

    def users(self, net: Network) -> list[Container]:
        return [c for c in self.running()
                if any(ep.get("NetworkID") == net.id
                       for ep in c.record["NetworkSettings"]["Networks"].values())]

    def remove_network(self, ref: str) -> None:
        net = self.store.get(ref)
        if net.predefined:
            raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        users = self.users(net)
        if users:
            names = ", ".join(f'(name:"{c.name}" id:"{c.id[:12]}")' for c in users)
            raise Forbidden(f"error while removing network: network {net.name} id {net.id} "
                            f"has active endpoints {names}")
        self.store.delete(net)
        self.pools.pop(net.id, None)
        self.pools6.pop(net.id, None)
        links.delete(net.bridge)
        self._apply()

    def inspect_network(self, net: Network) -> dict[str, Any]:
        containers: dict[str, Any] = {}
        for c in self.users(net):
            ep = next(ep for ep in c.record["NetworkSettings"]["Networks"].values()
                      if ep.get("NetworkID") == net.id)
            containers[c.id] = {
                "Name": c.name, "EndpointID": ep["EndpointID"], "MacAddress": ep["MacAddress"],
                "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}"
                if ep["IPAddress"] else "",
                "IPv6Address": f"{ep['GlobalIPv6Address']}/{ep['GlobalIPv6PrefixLen']}"
                if ep.get("GlobalIPv6Address") else ""}
        return {**net.record, "Containers": containers}

    # -- create: which networks a container joins -----------------------------------

    def plan(self, host: dict[str, Any], networking: Any, mac: Any,
             lookup_container: Callable[[str], Container]
             ) -> tuple[dict[str, Any], dict[str, str]]:
        """NetworkSettings for a new container, from its HostConfig.NetworkMode and
        NetworkingConfig (and the old API's Config.MacAddress), and the MAC addresses
        asked for by network ID."""
        mode = host.get("NetworkMode") or "default"
        if not isinstance(mode, str):
            raise InvalidParameter("invalid NetworkMode: must be a string")
        endpoints = (networking or {}).get("EndpointsConfig") if isinstance(
            networking, dict) else None
        endpoints = endpoints or {}
        if not isinstance(endpoints, dict):
            raise InvalidParameter("invalid EndpointsConfig: must be an object")
        if mode.startswith("container:"):
            if endpoints:
                raise InvalidParameter("conflicting options: container type network can't "
                                       "be used with other networks")
            try:
                joined = lookup_container(mode.partition(":")[2])
            except NotFound as e:  # a 404 would send the docker CLI pulling the image
                raise InvalidParameter(str(e)) from None
            host["NetworkMode"] = f"container:{joined.id}"
            return settings({}), {}
        try:
            net = self.store.get("bridge" if mode == "default" else mode)
        except NotFound:
            if endpoints:
                raise
            # as Docker: the network is looked for when the container starts
            return settings({mode: _endpoint(None, None)}), {}
        networks: dict[str, Any] = {}
        ordered = [(net, endpoints.get(mode) or endpoints.get(net.name)
                    or endpoints.get(net.id))]
        for ref, config in endpoints.items():
            other = self.store.get("bridge" if ref == "default" else ref)
            if other.id != net.id:
                ordered.append((other, config))
        macs: dict[str, str] = {}
        for n, config in ordered:
            if n.driver in ("host", "null") and len(ordered) > 1:
                raise InvalidParameter(f"container cannot be connected to multiple networks "
                                       f"with one of the networks in {n.name} mode")
            ep = networks[n.name] = self._check_endpoint(n, config or {})
            if ep["MacAddress"]:
                macs[n.id] = ep["MacAddress"]
        if mac and ordered[0][0].is_bridge and ordered[0][0].id not in macs:
            if not _valid_mac(str(mac)):
                raise InvalidParameter(f"invalid MAC address: {mac}")
            macs[ordered[0][0].id] = networks[ordered[0][0].name]["MacAddress"] = str(mac)
        return settings(networks), macs

    def _check_endpoint(self, net: Network, config: Any) -> dict[str, Any]:
        if not isinstance(config, dict):
            raise InvalidParameter("invalid EndpointSettings: must be an object")
        ipam_config = config.get("IPAMConfig") or {}
        if not isinstance(ipam_config, dict):
            raise InvalidParameter("invalid EndpointSettings.IPAMConfig: must be an object")
        for key, parse in (("IPv4Address", ipam.parse_address),
                           ("IPv6Address", ipam.parse_address6)):
            if not ipam_config.get(key):
                continue
            if not isinstance(ipam_config[key], str):
                raise InvalidParameter(f"invalid IPAMConfig.{key}: must be a string")
            address = parse(ipam_config[key])
            if not net.is_bridge or net.name == "bridge":
                raise InvalidParameter("user specified IP address is supported on user "
                                       "defined networks only")
            # an IPv6 address on a network without IPv6 is only kept, as dockerd 20.10
            subnet = net.subnet if key == "IPv4Address" else net.subnet6
            if subnet is not None and address not in subnet:
                raise InvalidParameter(f"invalid endpoint settings: no configured subnet "
                                       f"contains IP address {address}")
        if config.get("Aliases") and net.name == "bridge":
            raise InvalidParameter("network-scoped alias is supported only for containers "
                                   "in user defined networks")
        mac = config.get("MacAddress")
        if mac and not _valid_mac(str(mac)):
            raise InvalidParameter(f"invalid MAC address: {mac}")
        return _endpoint(net, config)

    # -- start and exit ---------------------------------------------------------------

    def sandbox_path(self, c: Container) -> str:
        return os.path.join(self.sandboxes, c.id[:12])

    def setup(self, c: Container, exposed: list[str]) -> str | None:
        """Before the start: the container's network namespace, ready. Returns its path
        for the runtime to join (None: the host's)."""
        mode = c.host_config["NetworkMode"]
        if mode == "host":
            self.names.write_files(c, [], host_network=True)
            return None
        if mode.startswith("container:"):
            return self._join(c, mode.partition(":")[2])
        networks = c.record["NetworkSettings"]["Networks"]
        if mode == "default" and list(networks) == ["none"] and \
                networks["none"].get("NetworkID") == "none":
            # made before ketch had networks (which it then showed as none): the default
            # network Docker gives is the bridge
            networks.clear()
            networks["bridge"] = _endpoint(self.store.get("bridge"), None)
        path = self.sandbox_path(c)
        netns.remove(path)  # a leftover of a crash
        netns.create(path)
        try:
            self._attach_all(c, path, exposed)
        except BaseException:
            self.teardown(c)
            raise
        return path

    def _join(self, c: Container, ref: str) -> str:
        others = [o for o in self.running() if o.id == ref]
        if not others:
            raise Conflict(f"cannot join network of a non running container: {ref}")
        other = others[0]
        for name in ("hostname", "hosts", "resolv.conf"):  # its files are ours too
            src = os.path.join(other.dir, name)
            try:
                with open(src, "rb") as f:
                    write_atomic(os.path.join(c.dir, name), f.read(), 0o644, durable=False)
            except OSError:
                pass
        key = other.record["NetworkSettings"].get("SandboxKey")
        if not key:  # --network host, or none
            if other.host_config["NetworkMode"] == "host":
                raise InvalidParameter("joining a container on the host network is not "
                                       "supported")
            raise Conflict(f"cannot join network namespace of container {ref[:12]}")
        return str(key)

    def _attach_all(self, c: Container, path: str, exposed: list[str]) -> None:
        ns = c.record["NetworkSettings"]
        ns.update({"SandboxID": hashlib.sha256(path.encode()).hexdigest(),
                   "SandboxKey": path})
        first_bridge: tuple[Network, IPv4Address] | None = None
        for index, (name, ep) in enumerate(list(ns["Networks"].items())):
            net = self.store.get(name)  # by name, as Docker: it may have been made again
            if not net.is_bridge:
                continue  # none: the loopback only
            address = self._connect(c, path, net, ep, f"eth{index}",
                                    gateway=first_bridge is None)
            if first_bridge is None:
                first_bridge = (net, address)
        if first_bridge is None:
            links.loopback_up(path)  # attach brings it up otherwise
        else:
            net, address = first_bridge
            self._publish(c, net, address, exposed)
            if net.name == "bridge":
                ep = ns["Networks"][net.name]
                ns.update({k: ep[k] for k in ("EndpointID", "Gateway", "IPAddress",
                                              "IPPrefixLen", "MacAddress")})
        self._apply()
        own: list[IPv4Address | IPv6Address] = []
        if first_bridge is not None:
            own.append(first_bridge[1])
            v6 = ns["Networks"][first_bridge[0].name].get("GlobalIPv6Address")
            if v6:
                own.append(IPv6Address(v6))
        self.names.write_files(c, own)
        if any(self.store.get(ep["NetworkID"]).dns for ep in ns["Networks"].values()):
            self._start_dns(c, path)

    def _connect(self, c: Container, path: str, net: Network, ep: dict[str, Any],
                 ifname: str, gateway: bool) -> IPv4Address:
        pool, pool6 = self._pool(net), self._pool6(net)
        wanted = (ep.get("IPAMConfig") or {}).get("IPv4Address")
        address = pool.allocate(IPv4Address(wanted) if wanted else None)
        assert isinstance(address, IPv4Address)
        address6: IPv6Interface | None = None
        veth = _veth()
        try:
            if pool6 is not None and net.subnet6 is not None:
                wanted6 = (ep.get("IPAMConfig") or {}).get("IPv6Address")
                given6 = pool6.allocate(IPv6Address(wanted6) if wanted6 else None)
                address6 = IPv6Interface(f"{given6}/{net.subnet6.prefixlen}")
            mac = _configured_mac(c, net) or _mac(address)
            self._ensure_bridge(net)
            routed = gateway and not net.internal
            links.attach(path, net.bridge, veth, ifname,
                         IPv4Interface(f"{address}/{net.subnet.prefixlen}"),
                         net.gateway if routed else None,
                         mac, net.mtu or DEFAULT_MTU, self.owner, address6,
                         net.gateway6 if routed and address6 is not None else None)
        except BaseException:
            pool.release(address)
            if pool6 is not None and address6 is not None:
                pool6.release(address6.ip)
            raise
        names = [c.name, c.id[:12], *(ep.get("Aliases") or [])] if net.dns else None
        c.record.setdefault("HostVeths", {})[net.id] = veth
        ep.update({"EndpointID": _endpoint_id(c.id, net.id), "Gateway": str(net.gateway),
                   "IPAddress": str(address), "IPPrefixLen": net.subnet.prefixlen,
                   "MacAddress": mac, "NetworkID": net.id, "DNSNames": names})
        if address6 is not None:
            ep.update({"IPv6Gateway": str(net.gateway6), "GlobalIPv6Address": str(address6.ip),
                       "GlobalIPv6PrefixLen": address6.network.prefixlen})
        return address

    def _publish(self, c: Container, net: Network, address: IPv4Address,
                 exposed: list[str]) -> None:
        host = c.host_config
        wanted = ports.bindings(host.get("PortBindings"), exposed,
                                bool(host.get("PublishAllPorts")))
        held: list[ports.Reservation] = []
        rules: list[firewall.Published] = []
        table: dict[str, Any] = {key: None for key in exposed}
        try:
            for b in wanted:
                try:
                    self._check_allocated(b)
                    r = ports.reserve(b, str(address))
                except KetchError as e:
                    raise KetchError(f"driver failed programming external connectivity on "
                                     f"endpoint {c.name} "
                                     f"({_endpoint_id(c.id, net.id)}): {e}") from None
                held.append(r)
                rules.append(firewall.Published(
                    b.proto, IPv4Address(b.host_ip) if b.host_ip else None, r.port,
                    address, b.port, net.bridge))
                entry = {"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(r.port)}
                table[b.key] = [*(table.get(b.key) or []), entry]
                if not b.host_ip and self._proxy_ipv6(c, b.proto, r.port, address, b.port):
                    table[b.key].append({"HostIp": "::", "HostPort": str(r.port)})
        except BaseException:
            for r in held:
                r.release()
            self._close_proxies(c)
            raise
        self.reservations[c.id] = held
        self.published[c.id] = rules
        c.record["NetworkSettings"]["Ports"] = table

    def _check_allocated(self, b: ports.Binding) -> None:
        """A fixed host port another container publishes: Docker's own words for it."""
        if b.host_ports is None or b.host_ports[0] != b.host_ports[1]:
            return
        mine = IPv4Address(b.host_ip) if b.host_ip else None
        for rules in self.published.values():
            for r in rules:
                if r.proto == b.proto and r.host_port == b.host_ports[0] and (
                        mine is None or r.host_ip is None or r.host_ip == mine):
                    raise KetchError(f"Bind for {b.host_ip or '0.0.0.0'}:{r.host_port} "
                                     "failed: port is already allocated")

    def _proxy_ipv6(self, c: Container, proto: str, host_port: int, address: IPv4Address,
                    port: int) -> bool:
        """[::]:host_port too, as Docker publishes a port on every address: through the
        userland proxy, the kernel cannot NAT IPv6 to the container's IPv4. Skipped when
        the host has no IPv6 or the port is taken there."""
        if proto not in ("tcp", "udp") or not self.ipv6:
            return False
        try:
            held = ports.reserve(ports.Binding(port, proto, "", (host_port, host_port)),
                                 str(address), socket.AF_INET6)
        except KetchError:
            return False
        p = proxy.Proxy(held.sock, proto, (str(address), port))
        try:
            asyncio.run_coroutine_threadsafe(p.start(), self.loop).result(10)
        except (OSError, TimeoutError):
            held.release()
            return False
        self.proxies.setdefault(c.id, []).append(p)
        return True

    def _close_proxies(self, c: Container) -> None:
        for p in self.proxies.pop(c.id, []):
            self.loop.call_soon_threadsafe(p.close)

    def teardown(self, c: Container) -> None:
        """After the exit (or a failed start): everything setup made, gone."""
        resolver = self.resolvers.pop(c.id, None)
        if resolver is not None:
            self.loop.call_soon_threadsafe(resolver.close)
        for r in self.reservations.pop(c.id, []):
            r.release()
        self._close_proxies(c)
        had_rules = self.published.pop(c.id, None) is not None
        ns = c.record["NetworkSettings"]
        for name, ep in ns["Networks"].items():
            net = self.store.by_id.get(ep.get("NetworkID") or "")
            if net is not None:
                self._release(net, ep)
            ns["Networks"][name] = {**ep, "EndpointID": "", "Gateway": "", "IPAddress": "",
                                    "IPPrefixLen": 0, "DNSNames": None, "IPv6Gateway": "",
                                    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                                    "MacAddress": _configured_mac(c, net) if net else ""}
        if ns.get("SandboxKey"):
            netns.remove(ns["SandboxKey"])
        # the pairs die with the namespace, but deleting one takes the kernel tens of
        # milliseconds: done off the exit's path, and done even if the namespace lingers
        self._detach_later(list((c.record.pop("HostVeths", None) or {}).values()))
        networks = ns["Networks"]
        ns.clear()
        ns.update(settings(networks))
        if had_rules:
            self._apply()

    def _release(self, net: Network, ep: dict[str, Any]) -> None:
        """An endpoint's addresses, back to their pools."""
        if ep.get("IPAddress"):
            self._pool(net).release(IPv4Address(ep["IPAddress"]))
        pool6 = self._pool6(net)
        if ep.get("GlobalIPv6Address") and pool6 is not None:
            pool6.release(IPv6Address(ep["GlobalIPv6Address"]))

    # -- connect, disconnect ------------------------------------------------------------

    def connect(self, c: Container, ref: str, config: Any) -> None:
        net = self.store.get(ref)
        mode = c.host_config["NetworkMode"]
        if mode == "host" or mode.startswith("container:") or mode == "none":
            raise Forbidden("container sharing network namespace with another container or "
                            "host cannot be connected to any other network")
        if not net.is_bridge:
            raise Forbidden("container cannot be disconnected from host network or "
                            "connected to host network")
        networks = c.record["NetworkSettings"]["Networks"]
        if any(ep.get("NetworkID") == net.id for ep in networks.values()):
            raise Forbidden(f"endpoint with name {c.name} already exists in network "
                            f"{net.name}")
        ep = self._check_endpoint(net, config or {})
        if ep["MacAddress"]:
            c.record.setdefault("ConfiguredMacs", {})[net.id] = ep["MacAddress"]
        if c.running and c.record["NetworkSettings"].get("SandboxKey"):
            path = c.record["NetworkSettings"]["SandboxKey"]
            index = len(networks)
            self._connect(c, path, net, ep, f"eth{index}",
                          gateway=not any(e.get("IPAddress") for e in networks.values()))
            networks[net.name] = ep
            if net.dns and c.id not in self.resolvers:
                self._start_dns(c, path)
        else:
            networks[net.name] = ep

    def disconnect(self, c: Container, ref: str, force: bool) -> None:
        try:
            net = self.store.get(ref)
        except NotFound:
            if not force:
                raise
            return
        networks = c.record["NetworkSettings"]["Networks"]
        name = next((n for n, ep in networks.items() if ep.get("NetworkID") == net.id
                     or n == net.name), None)
        if name is None:
            raise Forbidden(f"container {c.id} is not connected to network {net.name}")
        if net.driver in ("host",) and c.running:
            raise Forbidden("container cannot be disconnected from host network or "
                            "connected to host network")
        ep = networks.pop(name)
        if ep.get("IPAddress"):
            self._release(net, ep)
            veth = (c.record.get("HostVeths") or {}).pop(net.id, None)
            if veth:
                links.delete(veth)
            rules = self.published.get(c.id) or []
            if any(r.bridge == net.bridge for r in rules):
                self.published[c.id] = [r for r in rules if r.bridge != net.bridge]
                self._apply()

    # -- files in the container ------------------------------------------------------------

    # -- embedded DNS ------------------------------------------------------------------------

    def _start_dns(self, c: Container, path: str) -> None:
        resolver, udp, tcp = self.names.resolver(c, path)
        self.resolvers[c.id] = resolver
        asyncio.run_coroutine_threadsafe(resolver.serve(udp, tcp), self.loop).result(10)

    # -- the firewall, restore ---------------------------------------------------------------

    def _apply(self) -> None:
        bridges = [firewall.Bridge(n.bridge, n.subnet, n.gateway, n.internal, n.masquerade)
                   for n in self.store.all() if n.is_bridge]
        rules = [r for held in self.published.values() for r in held]
        text = firewall.ruleset(self.table, bridges, rules)
        if text != self.applied:  # most starts and exits publish nothing
            firewall.apply(text)
            self.applied = text

    def _detach_later(self, names: list[str]) -> None:
        def detach() -> None:
            for name in names:
                try:
                    links.delete(name)
                except KetchError:
                    pass  # gone with its namespace already

        if names:
            self.cleaner.submit(detach)

    def restore(self, running: list[Container]) -> None:
        """After a restart of ketchd: take the running containers' endpoints back, and
        remove whatever belongs to no running container."""
        keep_ns: set[str] = set()
        keep_links = {n.bridge for n in self.store.all() if n.is_bridge}
        for c in running:
            ns = c.record["NetworkSettings"]
            if ns.get("SandboxKey"):
                keep_ns.add(os.path.basename(ns["SandboxKey"]))
            first = True
            for ep in ns["Networks"].values():
                net = self.store.by_id.get(ep.get("NetworkID") or "")
                if net is None or not ep.get("IPAddress"):
                    continue
                address = IPv4Address(ep["IPAddress"])
                self._pool(net).used.add(address)
                pool6 = self._pool6(net)
                if pool6 is not None and ep.get("GlobalIPv6Address"):
                    pool6.used.add(IPv6Address(ep["GlobalIPv6Address"]))
                keep_links.add((c.record.get("HostVeths") or {}).get(net.id, ""))
                if first:
                    first = False
                    self._republish(c, net, address)
        try:
            for entry in os.listdir(self.sandboxes):
                if entry not in keep_ns:
                    netns.remove(os.path.join(self.sandboxes, entry))
        except FileNotFoundError:
            pass
        for name in links.owned(self.owner):
            if name not in keep_links:
                try:
                    links.delete(name)
                except KetchError:
                    pass
        self._apply()

    def restore_dns(self, running: list[Container]) -> None:
        for c in running:
            ns = c.record["NetworkSettings"]
            path = ns.get("SandboxKey")
            if path and any(self.store.by_id[ep["NetworkID"]].dns
                            for ep in ns["Networks"].values()
                            if ep.get("IPAddress") and ep.get("NetworkID") in self.store.by_id):
                try:
                    self._start_dns(c, path)
                except (KetchError, OSError):
                    pass

    def _republish(self, c: Container, net: Network, address: IPv4Address) -> None:
        held: list[ports.Reservation] = []
        rules: list[firewall.Published] = []
        for key, entries in (c.record["NetworkSettings"].get("Ports") or {}).items():
            port, proto = ports.parse_port_key(key)
            for entry in entries or []:
                number = int(entry["HostPort"])
                if entry["HostIp"] == "::":
                    self._proxy_ipv6(c, proto, number, address, port)
                    continue
                host_ip = "" if entry["HostIp"] == "0.0.0.0" else entry["HostIp"]
                try:
                    held.append(ports.reserve(ports.Binding(port, proto, host_ip,
                                                            (number, number)), str(address)))
                except KetchError:
                    pass  # taken meanwhile: the forward still works, the port is not held
                rules.append(firewall.Published(proto, IPv4Address(host_ip) if host_ip
                                                else None, number, address, port, net.bridge))
        self.reservations[c.id] = held
        self.published[c.id] = rules

    def prune(self, filters: dict[str, list[str]]) -> list[str]:
        from ketch.network.filters import matches

        removed = []
        for net in self.store.all():
            if net.predefined or self.users(net) or not matches(net, filters, prune=True):
                continue
            try:
                self.remove_network(net.id)
            except KetchError:
                continue
            removed.append(net.name)
        return removed



def _configured_mac(c: Container, net: Network) -> str:
    """--mac-address, kept apart from the address in use (which inspect shows)."""
    macs = c.record.get("ConfiguredMacs") or {}
    return str(macs.get(net.id) or "")





def exposed_ports(body: dict[str, Any], image_config: dict[str, Any],
                  host: dict[str, Any]) -> dict[str, Any]:
    """Config.ExposedPorts: the image's, the request's, and every published port."""
    keys: list[Any] = [*(image_config.get("ExposedPorts") or {}),
                       *(body.get("ExposedPorts") or {})]
    bindings = host.get("PortBindings") or {}
    if not isinstance(bindings, dict):
        raise InvalidParameter("invalid PortBindings: must be an object")
    keys += list(bindings)
    out: dict[str, Any] = {}
    for key in keys:
        port, proto = ports.parse_port_key(key)
        out[f"{port}/{proto}"] = {}
    return out


def port_list(table: dict[str, Any]) -> list[dict[str, Any]]:
    """`GET /containers/json`'s Ports, from NetworkSettings.Ports."""
    out: list[dict[str, Any]] = []
    for key, entries in table.items():
        port, proto = ports.parse_port_key(key)
        if not entries:
            out.append({"PrivatePort": port, "Type": proto})
        for entry in entries or []:
            out.append({"IP": entry["HostIp"], "PrivatePort": port,
                        "PublicPort": int(entry["HostPort"]), "Type": proto})
    return out
