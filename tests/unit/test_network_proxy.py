"""The userland proxy for [::] published ports: TCP and UDP relayed to an IPv4 target."""

from __future__ import annotations

import asyncio
import socket

import pytest

from ketch.network import proxy

pytestmark = [pytest.mark.timeout(20),
              pytest.mark.skipif(not proxy.ipv6_available(), reason="no IPv6 on this host")]


def _v6(kind: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, kind)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind(("::1", 0))
    return sock


def test_tcp_is_piped_both_ways_and_closes() -> None:
    async def main() -> bytes:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"echo:" + await reader.read(100))
            await writer.drain()
            writer.close()

        target = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = target.sockets[0].getsockname()[1]
        sock = _v6(socket.SOCK_STREAM)
        relay = proxy.Proxy(sock, "tcp", ("127.0.0.1", port))
        await relay.start()
        reader, writer = await asyncio.open_connection("::1", sock.getsockname()[1])
        writer.write(b"hello")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)  # up to the target's close
        writer.close()
        relay.close()
        target.close()
        return answer

    assert asyncio.run(main()) == b"echo:hello"


def test_udp_answers_go_back_to_each_client() -> None:
    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                self.transport.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]

        target, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        port = target.get_extra_info("sockname")[1]
        sock = _v6(socket.SOCK_DGRAM)
        relay = proxy.Proxy(sock, "udp", ("127.0.0.1", port))
        await relay.start()
        answers = []
        for word in (b"one", b"two"):  # two clients, two flows
            client = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            client.setblocking(False)
            client.connect(("::1", sock.getsockname()[1]))
            client.send(word)
            answers.append(await asyncio.wait_for(loop.sock_recv(client, 100), 5))
            client.close()
        assert len(relay.clients) == 2
        relay.close()
        assert relay.clients == {}
        target.close()
        return answers

    assert asyncio.run(main()) == [b"echo:one", b"echo:two"]
