"""The embedded DNS server that containers on user-defined networks query at 127.0.0.11.

It behaves like Docker's (moby libnetwork/resolver.go): names the container can
see on its networks are answered here (A and AAAA, TTL 600, an empty NOERROR
for a name of ours without an address of that family, and for MX, so they are not
leaked upstream; PTR for container addresses), and
every other query is forwarded to the upstream servers over the transport the
query came on. Forwarding happens from an ordinary socket in the daemon's own
network namespace, which is why a loopback resolver on the host (systemd's
127.0.0.53) still works for containers.

One Resolver serves one container: the engine binds the sockets inside the
container's network namespace and hands them over. Only the daemon imports this
module (it needs dnspython).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

log = logging.getLogger("ketchd")

# A name as the container asked for it, lowercased, without the trailing dot
# ("web" or "web.mynet") -> its IPv4 addresses; [] means "not ours, forward it".
Lookup = Callable[[str], list[str]]
# An IPv4 address -> the name a PTR query for it answers, or None to forward.
ReverseLookup = Callable[[str], str | None]

TTL = 600  # moby respTTL
UPSTREAM_TIMEOUT = 4.0  # moby extIOTimeout: for one exchange with one upstream
MAX_UPSTREAMS = 3  # moby maxExtDNS: servers tried per query
MAX_FORWARDED = 1024  # moby maxConcurrent: forwarded queries in flight
BUSY_LOG_INTERVAL = 2.0  # moby logInterval: at most one "too busy" line per interval
# miekg/dns server defaults, which Docker's resolver runs with.
TCP_FIRST_READ_TIMEOUT = 2.0
TCP_IDLE_TIMEOUT = 8.0
TCP_MAX_QUERIES = 128
# Not in Docker (miekg/dns has no limit); keeps a container from exhausting the
# daemon's file descriptors.
MAX_TCP_CONNECTIONS = 128
MIN_UDP_SIZE = 512
MAX_TCP_SIZE = 65535
OUR_EDNS_PAYLOAD = 1232


def name_candidates(name: str) -> list[tuple[str, str]]:
    """Docker's reading of a queried name: (container name or alias, network name).

    "a.b.c" is tried as "a.b.c" on every network of the container ("" network),
    then "a.b" on network "c", then "a" on network "b.c" (moby Sandbox.ResolveName).
    A Lookup can walk these in order and answer the first that resolves.
    """
    name = name.rstrip(".").lower()
    candidates = [(name, "")]
    end = len(name)
    while (dot := name.rfind(".", 0, end)) != -1:
        candidates.append((name[:dot], name[dot + 1 :]))
        end = dot
    return candidates


def parse_upstream(server: str) -> tuple[str, int]:
    """Split an upstream server ("1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353")."""
    host, port = server, 53
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif server.count(":") == 1:
        host, _, port_text = server.partition(":")
        port = int(port_text)
    ipaddress.ip_address(host)  # raises ValueError on a bad address
    if not 0 < port < 65536:
        raise ValueError(f"bad port in {server!r}")
    return host, port


class _DatagramServer(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.resolver._datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for replies to clients that went away: nothing to do.
        log.debug("embedded DNS: UDP error: %s", exc)


class Resolver:
    """Docker's embedded DNS server for one container."""

    def __init__(
        self,
        lookup: Lookup,
        reverse: ReverseLookup,
        upstreams: Callable[[], list[str]],
        *,
        timeout: float = UPSTREAM_TIMEOUT,
        max_forwarded: int = MAX_FORWARDED,
        max_tcp_connections: int = MAX_TCP_CONNECTIONS,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
    ) -> None:
        self._lookup = lookup
        self._reverse = reverse
        self._upstreams = upstreams
        self._timeout = timeout
        self._max_forwarded = max_forwarded
        self._max_tcp_connections = max_tcp_connections
        self._tcp_idle_timeout = tcp_idle_timeout
        self._forwarding = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connections: set[asyncio.StreamWriter] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._sockets: list[socket.socket] = []
        self._closed = False
        self._busy_logged = float("-inf")

    async def serve(self, udp: socket.socket, tcp: socket.socket) -> None:
        """Start answering on bound sockets (tcp already listening); returns once started."""
        if self._closed:
            raise RuntimeError("resolver is closed")
        self._sockets = [udp, tcp]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _DatagramServer(self), sock=udp)
        self._udp = transport
        self._tcp = await asyncio.start_server(self._connection, sock=tcp)

    def close(self) -> None:
        """Stop serving, drop queries in flight and close the sockets."""
        self._closed = True
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._connections):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        for sock in self._sockets:  # closed already unless serve() failed half-way
            sock.close()

    # -- transports ------------------------------------------------------------

    def _datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        outcome = self._prepare(data, tcp=False)
        if isinstance(outcome, bytes):
            self._send(outcome, addr)
        elif outcome is not None:
            refused = self._reserve(outcome)
            if refused is not None:
                self._send(refused, addr)
            else:
                self._spawn(self._forward_udp(outcome, addr))

    async def _forward_udp(self, query: dns.message.Message, addr: tuple[str, int]) -> None:
        self._send(await self._forward(query, tcp=False), addr)

    def _send(self, wire: bytes, addr: tuple[str, int]) -> None:
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(wire, addr)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closed or len(self._connections) >= self._max_tcp_connections:
            writer.close()
            return
        self._connections.add(writer)
        task = asyncio.current_task()
        if task is not None:  # so that close() can cancel a connection mid-query
            self._tasks.add(task)
        try:
            timeout = TCP_FIRST_READ_TIMEOUT
            for _ in range(TCP_MAX_QUERIES):
                async with asyncio.timeout(timeout):
                    size = struct.unpack("!H", await reader.readexactly(2))[0]
                    data = await reader.readexactly(size)
                timeout = self._tcp_idle_timeout
                outcome = self._prepare(data, tcp=True)
                if outcome is None:
                    break  # not a query we can answer: miekg/dns drops the connection too
                if not isinstance(outcome, bytes):
                    refused = self._reserve(outcome)
                    outcome = refused or await self._forward(outcome, tcp=True)
                writer.write(struct.pack("!H", len(outcome)) + outcome)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    # -- answering -------------------------------------------------------------

    def _prepare(self, data: bytes, *, tcp: bool) -> bytes | dns.message.Message | None:
        """A reply to send now, a query to forward, or None to drop the packet."""
        if len(data) < 12:
            return None
        # Read the fixed header ourselves: a malformed message still deserves a
        # FORMERR with its ID, and dnspython parses all or nothing.
        qid, flags, qdcount, ancount, nscount, arcount = struct.unpack("!6H", data[:12])
        if flags & dns.flags.QR:
            return None  # a response, not a query
        if dns.opcode.from_flags(flags) != dns.opcode.QUERY:
            return _header_reply(qid, flags, dns.rcode.NOTIMP)
        # The same sanity limits as miekg/dns's DefaultMsgAcceptFunc.
        if qdcount != 1 or ancount > 1 or nscount > 1 or arcount > 2:
            return _header_reply(qid, flags, dns.rcode.FORMERR)
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return _header_reply(qid, flags, dns.rcode.FORMERR)
        try:
            response = self._local(query)
        except Exception:
            log.exception("embedded DNS: lookup of %s failed", query.question[0].name)
            return _rcode_reply(query, dns.rcode.SERVFAIL)
        if response is None:
            return query
        size = MAX_TCP_SIZE if tcp else max(MIN_UDP_SIZE, query.payload)
        return response.to_wire(max_size=size, prefer_truncation=True)

    def _local(self, query: dns.message.Message) -> dns.message.Message | None:
        """The answer from the container's own view, or None to forward the query."""
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN or question.name == dns.name.root:
            return None
        qtype = question.rdtype
        if qtype == dns.rdatatype.PTR:
            return self._ptr(query)
        if qtype not in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.MX):
            return None
        addresses = self._lookup(question.name.to_text(omit_final_dot=True).lower())
        if not addresses:
            return None
        response = _reply(query)
        # A name of ours without an address of the family asked (an AAAA on a network
        # without IPv6), and MX ("implicit MX", RFC 5321): NOERROR with no answer,
        # never forwarded.
        if qtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            ipv6 = qtype == dns.rdatatype.AAAA
            kind = "AAAA" if ipv6 else "A"
            addresses = [a for a in addresses if (":" in a) == ipv6]
            random.shuffle(addresses)
            # One RR per RRset so that truncation drops records one at a time.
            for address in addresses:
                response.answer.append(dns.rrset.from_text(question.name, TTL, "IN", kind,
                                                           address))
        return response

    def _ptr(self, query: dns.message.Message) -> dns.message.Message | None:
        name = query.question[0].name
        if not name.is_subdomain(dns.reversename.ipv4_reverse_domain) and \
                not name.is_subdomain(dns.reversename.ipv6_reverse_domain):
            return None
        try:
            address = dns.reversename.to_address(name)
        except (dns.exception.SyntaxError, ValueError):
            return None
        target = self._reverse(address)
        if not target:
            return None
        response = _reply(query)
        response.answer.append(
            dns.rrset.from_text(name, TTL, "IN", "PTR", dns.name.from_text(target).to_text())
        )
        return response

    # -- forwarding ------------------------------------------------------------

    def _reserve(self, query: dns.message.Message) -> bytes | None:
        """Take a forwarding slot (released by _forward), or the REFUSED reply if none is free.

        Synchronous, so that datagrams read in one go cannot all pass the check.
        """
        if self._forwarding < self._max_forwarded:
            self._forwarding += 1
            return None
        now = asyncio.get_running_loop().time()
        if now - self._busy_logged > BUSY_LOG_INTERVAL:
            self._busy_logged = now
            log.warning("embedded DNS: more than %d concurrent queries", self._max_forwarded)
        return _rcode_reply(query, dns.rcode.REFUSED)

    async def _forward(self, query: dns.message.Message, *, tcp: bool) -> bytes:
        """The upstream answer, or SERVFAIL when none answers; needs a _reserve()d slot."""
        try:
            try:
                servers = self._upstreams()[:MAX_UPSTREAMS]
            except Exception:
                log.exception("embedded DNS: cannot list upstream servers")
                servers = []
            for server in servers:
                response = await self._exchange(query, server, tcp=tcp)
                if response is None:
                    continue
                # SERVFAIL and REFUSED may be a transient problem of that server.
                if response.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                    continue
                try:
                    return response.to_wire()
                except Exception:
                    log.debug("embedded DNS: cannot re-render answer from %s", server)
                    continue
        finally:
            self._forwarding -= 1
        return _rcode_reply(query, dns.rcode.SERVFAIL)

    async def _exchange(
        self, query: dns.message.Message, server: str, *, tcp: bool
    ) -> dns.message.Message | None:
        try:
            host, port = parse_upstream(server)
        except ValueError:
            log.warning("embedded DNS: bad upstream server %r", server)
            return None
        # Ask with an ID of our own: the container's choice must not make
        # spoofed answers easier to forge.
        client_id = query.id
        query.id = random.randrange(1 << 16)
        try:
            if tcp:
                response = await dns.asyncquery.tcp(query, host, timeout=self._timeout, port=port)
            else:
                async with asyncio.timeout(self._timeout):
                    response = await _udp_exchange(query, host, port)
        except Exception as exc:  # timeouts, refused, resets, garbage
            log.debug("embedded DNS: upstream %s failed: %r", server, exc)
            return None
        finally:
            query.id = client_id
        response.id = client_id
        return response


async def _udp_exchange(query: dns.message.Message, host: str, port: int) -> dns.message.Message:
    # A connected socket, so that an ICMP "port unreachable" fails this server
    # at once rather than after the timeout (Go's connected sockets do that for
    # Docker); dnspython's own asyncio sockets are unconnected.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    backend = dns.asyncbackend.get_backend("asyncio")
    connect = backend.make_socket(family, socket.SOCK_DGRAM, 0, None, (host, port))  # type: ignore[no-untyped-call]
    async with await connect as sock:
        # A truncated answer goes back as it is: the client retries over TCP.
        return await dns.asyncquery.udp(
            query, host, port=port, sock=sock, ignore_unexpected=True, ignore_errors=True
        )


def _reply(query: dns.message.Message) -> dns.message.Message:
    return dns.message.make_response(query, recursion_available=True, our_payload=OUR_EDNS_PAYLOAD)


def _rcode_reply(query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes:
    response = _reply(query)
    response.set_rcode(rcode)
    return response.to_wire()


def _header_reply(qid: int, flags: int, rcode: dns.rcode.Rcode) -> bytes:
    """A reply with only a header, for queries too broken or too odd to parse."""
    response = dns.message.Message(id=qid)
    opcode = dns.opcode.to_flags(dns.opcode.from_flags(flags))
    response.flags = dns.flags.QR | dns.flags.RA | opcode | (flags & dns.flags.RD)
    response.set_rcode(rcode)
    return response.to_wire()
