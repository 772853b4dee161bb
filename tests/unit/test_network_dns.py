"""The embedded DNS server against real sockets: a client, the resolver, a fake upstream."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from ketch.network.dns import Resolver, name_candidates, parse_upstream

pytestmark = pytest.mark.timeout(20)

LOCALHOST = "127.0.0.1"
QUICK = 2.0  # seconds a client waits for an answer that should come at once


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


# -- a real DNS server to forward to -------------------------------------------


class Upstream:
    """A DNS server on one loopback port (UDP and TCP) with canned answers.

    Any A query is answered with 192.0.2.1, except "big." (40 addresses, which
    do not fit in 512 bytes: truncated over UDP). rcode makes every answer
    carry that code; silent makes it never answer.
    """

    def __init__(self, *, rcode: dns.rcode.Rcode = dns.rcode.NOERROR, silent: bool = False):
        self.rcode = rcode
        self.silent = silent
        self.seen: list[tuple[str, str, str]] = []  # (transport, name, type)
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    async def start(self) -> Upstream:
        loop = asyncio.get_running_loop()
        udp, tcp = bind_pair()
        self.port = udp.getsockname()[1]
        upstream = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                reply = upstream.answer(data, "udp")
                if reply is not None and upstream._udp is not None:
                    upstream._udp.sendto(reply, addr)

        self._udp, _ = await loop.create_datagram_endpoint(Protocol, sock=udp)
        self._tcp = await asyncio.start_server(self._connection, sock=tcp)
        return self

    def answer(self, data: bytes, transport: str) -> bytes | None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        self.seen.append(
            (transport, question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
        )
        if self.silent:
            return None
        response = dns.message.make_response(query, recursion_available=True)
        response.set_rcode(self.rcode)
        if self.rcode == dns.rcode.NOERROR and question.rdtype == dns.rdatatype.A:
            count = 40 if question.name.to_text() == "big." else 1
            for i in range(count):
                response.answer.append(
                    dns.rrset.from_text(question.name, 60, "IN", "A", f"192.0.2.{i + 1}")
                )
        if transport == "udp":
            return response.to_wire(max_size=512, prefer_truncation=True)
        return response.to_wire()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = self.answer(await reader.readexactly(size), "tcp")
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()


def bind_pair() -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same free loopback port, as DNS servers are."""
    for _ in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((LOCALHOST, 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(udp.getsockname())
        except OSError:
            udp.close()
            tcp.close()
            continue
        return udp, tcp
    raise RuntimeError("no loopback port free for both UDP and TCP")


def closed_port() -> int:
    """A loopback port nothing listens on (UDP gets ICMP port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCALHOST, 0))
        port: int = s.getsockname()[1]
    return port


# -- the resolver under test ----------------------------------------------------

NAMES = {
    "web": ["172.18.0.2"],
    "web.mynet": ["172.18.0.2"],
    "db": ["172.18.0.3", "172.18.0.4"],
    "many": [f"10.1.0.{i}" for i in range(1, 61)],
}
PTRS = {"172.18.0.2": "web.mynet"}


class Served:
    """A Resolver serving sockets bound to loopback ports, and what it looked up."""

    def __init__(self, upstreams: list[str], **tuning: Any) -> None:
        self.looked_up: list[str] = []
        self.reversed: list[str] = []
        self.upstreams = upstreams
        self.resolver = Resolver(self._lookup, self._reverse, lambda: self.upstreams, **tuning)
        self.udp, self.tcp = bind_pair()
        self.tcp.listen()
        self.port = self.udp.getsockname()[1]

    def _lookup(self, name: str) -> list[str]:
        self.looked_up.append(name)
        if name == "explode":
            raise RuntimeError("engine bug")
        return NAMES.get(name, [])

    def _reverse(self, address: str) -> str | None:
        self.reversed.append(address)
        return PTRS.get(address)

    async def __aenter__(self) -> Served:
        await self.resolver.serve(self.udp, self.tcp)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.resolver.close()

    async def udp_query(self, query: dns.message.Message) -> dns.message.Message:
        return await dns.asyncquery.udp(query, LOCALHOST, timeout=QUICK, port=self.port)

    async def tcp_query(self, query: dns.message.Message) -> dns.message.Message:
        return await dns.asyncquery.tcp(query, LOCALHOST, timeout=QUICK, port=self.port)

    async def raw_udp(self, *packets: bytes) -> bytes:
        """Send packets from one socket; the first datagram that comes back."""
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            s.connect((LOCALHOST, self.port))
            for packet in packets:
                await loop.sock_sendall(s, packet)
            return await asyncio.wait_for(loop.sock_recv(s, 65535), QUICK)


def query(name: str, rdtype: str = "A", **kw: Any) -> dns.message.Message:
    return dns.message.make_query(name, rdtype, **kw)


def addresses(response: dns.message.Message) -> list[str]:
    return sorted(rr.address for rrset in response.answer for rr in rrset)


async def with_upstream(scenario: Callable[[Upstream], Awaitable[None]], **kw: Any) -> None:
    upstream = await Upstream(**kw).start()
    try:
        await scenario(upstream)
    finally:
        upstream.close()


# -- names the container knows ---------------------------------------------------


def test_known_name_is_answered_locally() -> None:
    async def scenario(upstream: Upstream) -> None:
        async with Served([upstream.address]) as served:
            q = query("db.")
            response = await served.udp_query(q)
            assert response.id == q.id
            assert response.rcode() == dns.rcode.NOERROR
            assert response.flags & dns.flags.QR and response.flags & dns.flags.RA
            assert addresses(response) == ["172.18.0.3", "172.18.0.4"]
            assert {rrset.ttl for rrset in response.answer} == {600}
            assert {rrset.name for rrset in response.answer} == {q.question[0].name}
            assert upstream.seen == []

    run(lambda: with_upstream(scenario))


def test_names_are_looked_up_lowercase_without_the_trailing_dot() -> None:
    async def scenario() -> None:
        async with Served([]) as served:
            response = await served.udp_query(query("WeB.MyNet."))
            assert addresses(response) == ["172.18.0.2"]
            # The answer repeats the name as it was asked.
            assert response.answer[0].name.to_text() == "WeB.MyNet."
            assert served.looked_up == ["web.mynet"]

    run(scenario)


def test_aaaa_and_mx_for_a_known_name_are_empty_and_not_forwarded() -> None:
    async def scenario(upstream: Upstream) -> None:
        async with Served([upstream.address]) as served:
            for rdtype in ("AAAA", "MX"):
                response = await served.udp_query(query("web.", rdtype))
                assert response.rcode() == dns.rcode.NOERROR
                assert response.answer == []
            assert upstream.seen == []
            await served.udp_query(query("elsewhere.", "AAAA"))
            assert upstream.seen == [("udp", "elsewhere.", "AAAA")]

    run(lambda: with_upstream(scenario))


def test_ptr_for_a_container_address() -> None:
    async def scenario(upstream: Upstream) -> None:
        async with Served([upstream.address]) as served:
            response = await served.udp_query(query("2.0.18.172.in-addr.arpa.", "PTR"))
            assert response.rcode() == dns.rcode.NOERROR
            [rrset] = response.answer
            assert rrset.ttl == 600
            assert [rr.target.to_text() for rr in rrset] == ["web.mynet."]
            assert served.reversed == ["172.18.0.2"]
            assert upstream.seen == []
            # An address that is not a container's is the upstream's business.
            await served.udp_query(query("9.9.9.9.in-addr.arpa.", "PTR"))
            assert upstream.seen == [("udp", "9.9.9.9.in-addr.arpa.", "PTR")]

    run(lambda: with_upstream(scenario))


def test_local_answer_truncated_to_512_bytes_over_udp_but_whole_over_tcp() -> None:
    async def scenario() -> None:
        async with Served([]) as served:
            udp = await served.udp_query(query("many."))
            assert udp.flags & dns.flags.TC
            assert 0 < len(addresses(udp)) < 60
            assert len(udp.to_wire()) <= 512
            tcp = await served.tcp_query(query("many."))
            assert not tcp.flags & dns.flags.TC
            assert len(addresses(tcp)) == 60
            # A client announcing a bigger buffer with EDNS gets more.
            big = await served.udp_query(query("many.", use_edns=0, payload=4096))
            assert len(addresses(big)) == 60

    run(scenario)


def test_a_failing_lookup_is_servfail() -> None:
    async def scenario() -> None:
        async with Served([]) as served:
            response = await served.udp_query(query("explode."))
            assert response.rcode() == dns.rcode.SERVFAIL
            assert addresses(await served.udp_query(query("web."))) == ["172.18.0.2"]

    run(scenario)


# -- forwarding -------------------------------------------------------------------


def test_unknown_name_is_forwarded() -> None:
    async def scenario(upstream: Upstream) -> None:
        async with Served([upstream.address]) as served:
            q = query("example.com.")
            response = await served.udp_query(q)
            assert response.id == q.id
            assert response.rcode() == dns.rcode.NOERROR
            assert addresses(response) == ["192.0.2.1"]
            assert upstream.seen == [("udp", "example.com.", "A")]
            assert served.looked_up == ["example.com"]
            # Types the resolver never answers go straight upstream.
            await served.udp_query(query("example.com.", "TXT"))
            assert upstream.seen[-1] == ("udp", "example.com.", "TXT")

    run(lambda: with_upstream(scenario))


def test_upstream_down_is_servfail() -> None:
    async def scenario() -> None:
        async with Served([f"{LOCALHOST}:{closed_port()}"]) as served:
            start = time.monotonic()
            response = await served.udp_query(query("example.com."))
            assert response.rcode() == dns.rcode.SERVFAIL
            assert time.monotonic() - start < QUICK
        async with Served([]) as served:  # no upstream at all
            response = await served.udp_query(query("example.com."))
            assert response.rcode() == dns.rcode.SERVFAIL

    run(scenario)


def test_silent_upstream_is_servfail_after_the_timeout() -> None:
    async def scenario(upstream: Upstream) -> None:
        async with Served([upstream.address], timeout=0.3) as served:
            start = time.monotonic()
            response = await served.udp_query(query("example.com."))
            elapsed = time.monotonic() - start
            assert response.rcode() == dns.rcode.SERVFAIL
            assert 0.25 < elapsed < 1.5
            assert upstream.seen == [("udp", "example.com.", "A")]

    run(lambda: with_upstream(scenario, silent=True))


def test_next_upstream_is_tried_after_servfail_but_not_after_nxdomain() -> None:
    async def scenario() -> None:
        failing = await Upstream(rcode=dns.rcode.SERVFAIL).start()
        nxdomain = await Upstream(rcode=dns.rcode.NXDOMAIN).start()
        good = await Upstream().start()
        try:
            async with Served([failing.address, good.address]) as served:
                response = await served.udp_query(query("example.com."))
                assert addresses(response) == ["192.0.2.1"]
                assert len(failing.seen) == len(good.seen) == 1
            async with Served([nxdomain.address, good.address]) as served:
                response = await served.udp_query(query("nowhere.example."))
                assert response.rcode() == dns.rcode.NXDOMAIN
                assert len(good.seen) == 1
        finally:
            for upstream in (failing, nxdomain, good):
                upstream.close()

    run(scenario)


def test_only_three_upstreams_are_tried() -> None:
    async def scenario() -> None:
        upstreams = [await Upstream(rcode=dns.rcode.REFUSED).start() for _ in range(4)]
        try:
            async with Served([u.address for u in upstreams]) as served:
                response = await served.udp_query(query("example.com."))
                assert response.rcode() == dns.rcode.SERVFAIL
                assert [len(u.seen) for u in upstreams] == [1, 1, 1, 0]
        finally:
            for upstream in upstreams:
                upstream.close()

    run(scenario)


def test_truncated_udp_answer_reaches_the_client_which_retries_over_tcp() -> None:
    async def scenario(upstream: Upstream) -> None:
        async with Served([upstream.address]) as served:
            udp = await served.udp_query(query("big."))
            assert udp.flags & dns.flags.TC
            response, used_tcp = await dns.asyncquery.udp_with_fallback(
                query("big."), LOCALHOST, timeout=QUICK, port=served.port
            )
            assert used_tcp
            assert len(addresses(response)) == 40
            assert [t for t, _, _ in upstream.seen] == ["udp", "udp", "tcp"]

    run(lambda: with_upstream(scenario))


def test_forwarded_queries_in_flight_are_capped() -> None:
    async def scenario(upstream: Upstream) -> None:
        async with Served([upstream.address], timeout=5, max_forwarded=1) as served:
            first, second = query("one.example."), query("two.example.")
            # Both datagrams leave one socket back to back: the second must be
            # refused while the first waits for the silent upstream.
            reply = dns.message.from_wire(await served.raw_udp(first.to_wire(), second.to_wire()))
            assert reply.id == second.id
            assert reply.rcode() == dns.rcode.REFUSED
            # Known names need no slot.
            assert addresses(await served.udp_query(query("web."))) == ["172.18.0.2"]

    run(lambda: with_upstream(scenario, silent=True))


def test_upstreams_are_read_for_every_query() -> None:
    async def scenario(upstream: Upstream) -> None:
        async with Served([]) as served:
            assert (await served.udp_query(query("example.com."))).rcode() == dns.rcode.SERVFAIL
            served.upstreams = [upstream.address]
            assert addresses(await served.udp_query(query("example.com."))) == ["192.0.2.1"]

    run(lambda: with_upstream(scenario))


# -- TCP ---------------------------------------------------------------------------


async def tcp_exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, q: dns.message.Message
) -> dns.message.Message:
    wire = q.to_wire()
    writer.write(struct.pack("!H", len(wire)) + wire)
    async with asyncio.timeout(QUICK):
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        return dns.message.from_wire(await reader.readexactly(size))


def test_several_tcp_queries_on_one_connection() -> None:
    async def scenario(upstream: Upstream) -> None:
        async with Served([upstream.address]) as served:
            reader, writer = await asyncio.open_connection(LOCALHOST, served.port)
            try:
                assert addresses(await tcp_exchange(reader, writer, query("web."))) == [
                    "172.18.0.2"
                ]
                forwarded = await tcp_exchange(reader, writer, query("example.com."))
                assert addresses(forwarded) == ["192.0.2.1"]
                assert upstream.seen == [("tcp", "example.com.", "A")]
                ptr = await tcp_exchange(reader, writer, query("2.0.18.172.in-addr.arpa.", "PTR"))
                assert ptr.answer[0][0].target.to_text() == "web.mynet."
            finally:
                writer.close()

    run(lambda: with_upstream(scenario))


def test_tcp_connections_are_capped_and_idle_ones_closed() -> None:
    async def scenario() -> None:
        async with Served([], max_tcp_connections=1, tcp_idle_timeout=0.2) as served:
            reader, writer = await asyncio.open_connection(LOCALHOST, served.port)
            assert addresses(await tcp_exchange(reader, writer, query("web."))) == ["172.18.0.2"]
            # A second connection while the first is open is closed at once.
            reader2, writer2 = await asyncio.open_connection(LOCALHOST, served.port)
            async with asyncio.timeout(QUICK):
                assert await reader2.read() == b""
            writer2.close()
            # The first one is closed once idle.
            start = time.monotonic()
            async with asyncio.timeout(QUICK):
                assert await reader.read() == b""
            assert time.monotonic() - start < 1.5
            writer.close()
            # Its slot is free again.
            reader3, writer3 = await asyncio.open_connection(LOCALHOST, served.port)
            assert addresses(await tcp_exchange(reader3, writer3, query("db."))) != []
            writer3.close()

    run(scenario)


# -- hostile input -------------------------------------------------------------------


def header(qid: int, flags: int, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def test_malformed_udp_packets() -> None:
    async def scenario() -> None:
        async with Served([]) as served:
            good = query("web.")
            # Too short for a header, or a response rather than a query: dropped;
            # the first reply on the socket is then the one to the good query.
            wire = await served.raw_udp(b"\x12\x34\x01", header(7, dns.flags.QR), good.to_wire())
            assert dns.message.from_wire(wire).id == good.id
            # A header announcing a question that is not there: FORMERR, same ID.
            reply = dns.message.from_wire(await served.raw_udp(header(4242, dns.flags.RD)))
            assert (reply.id, reply.rcode()) == (4242, dns.rcode.FORMERR)
            assert reply.flags & dns.flags.QR
            # Two questions, or garbage after a valid header: FORMERR.
            two = header(77, 0, qd=2) + good.to_wire()[12:] * 2
            assert dns.message.from_wire(await served.raw_udp(two)).rcode() == dns.rcode.FORMERR
            junk = header(78, 0) + b"\xff" * 40
            assert dns.message.from_wire(await served.raw_udp(junk)).rcode() == dns.rcode.FORMERR
            # Opcodes other than QUERY: NOTIMP.
            update = header(79, dns.opcode.to_flags(dns.opcode.UPDATE)) + good.to_wire()[12:]
            reply = dns.message.from_wire(await served.raw_udp(update))
            assert reply.rcode() == dns.rcode.NOTIMP
            # Still serving.
            assert addresses(await served.udp_query(query("web."))) == ["172.18.0.2"]

    run(scenario)


def test_malformed_tcp_message_closes_only_that_connection() -> None:
    async def scenario() -> None:
        async with Served([]) as served:
            reader, writer = await asyncio.open_connection(LOCALHOST, served.port)
            writer.write(struct.pack("!H", 3) + b"abc")
            async with asyncio.timeout(QUICK):
                assert await reader.read() == b""
            writer.close()
            reader, writer = await asyncio.open_connection(LOCALHOST, served.port)
            junk = header(5, 0) + b"\xff" * 8
            writer.write(struct.pack("!H", len(junk)) + junk)
            async with asyncio.timeout(QUICK):
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = dns.message.from_wire(await reader.readexactly(size))
            assert (reply.id, reply.rcode()) == (5, dns.rcode.FORMERR)
            writer.close()
            assert addresses(await served.tcp_query(query("web."))) == ["172.18.0.2"]

    run(scenario)


def test_close_stops_serving_and_closes_the_sockets() -> None:
    async def scenario(upstream: Upstream) -> None:
        served = Served([upstream.address], timeout=5)
        await served.resolver.serve(served.udp, served.tcp)
        pending = asyncio.ensure_future(served.udp_query(query("example.com.")))
        while not upstream.seen:  # the query is now waiting on the silent upstream
            await asyncio.sleep(0.01)
        served.resolver.close()
        await asyncio.sleep(0)
        assert served.udp.fileno() == -1 and served.tcp.fileno() == -1
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(LOCALHOST, served.port)
        pending.cancel()

    run(lambda: with_upstream(scenario, silent=True))


# -- helpers -------------------------------------------------------------------------


def test_name_candidates_follow_docker() -> None:
    assert name_candidates("web") == [("web", "")]
    assert name_candidates("A.b.C.d.") == [
        ("a.b.c.d", ""),
        ("a.b.c", "d"),
        ("a.b", "c.d"),
        ("a", "b.c.d"),
    ]


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("8.8.8.8", ("8.8.8.8", 53)),
        ("127.0.0.53:5353", ("127.0.0.53", 5353)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("[2001:db8::1]:54", ("2001:db8::1", 54)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_parse_upstream(server: str, expected: tuple[str, int]) -> None:
    assert parse_upstream(server) == expected


@pytest.mark.parametrize("server", ["", "dns.google", "1.2.3.4:0", "1.2.3.4:x", "[::1]:70000"])
def test_parse_upstream_rejects(server: str) -> None:
    with pytest.raises(ValueError):
        parse_upstream(server)
