"""The userland proxy, for the one case the kernel's NAT cannot serve: a port published on
every address reached over IPv6 (`[::]:8080`), forwarded to a container that has only an
IPv4 address. IPv4 traffic never comes here (firewall.py DNATs it).

It runs on ketchd's event loop: TCP connections are piped both ways; UDP datagrams get a
socket per client towards the container, dropped after a minute without traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

UDP_IDLE = 60.0
MAX_UDP_CLIENTS = 1024
MAX_TCP_CONNECTIONS = 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, asyncio.IncompleteReadError):
        pass


class Proxy:
    """One published port: `sock` (bound by the caller) forwarded to target."""

    def __init__(self, sock: socket.socket, proto: str, target: tuple[str, int]) -> None:
        self.sock = sock
        self.proto = proto
        self.target = target
        self.server: asyncio.AbstractServer | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.clients: dict[Any, _UDPClient] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.proto == "udp":
            self.transport, _ = await loop.create_datagram_endpoint(
                lambda: _UDPListener(self), sock=self.sock)
        else:
            self.sock.listen(128)
            self.server = await asyncio.start_server(self._connection, sock=self.sock)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self.tasks) >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        self.tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.target), 10)
        except (OSError, TimeoutError):
            writer.close()
            self.tasks.discard(task)
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()
            self.tasks.discard(task)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.transport is not None:
            self.transport.close()
        for task in list(self.tasks):
            task.cancel()
        for client in list(self.clients.values()):
            client.close()
        self.sock.close()


class _UDPListener(asyncio.DatagramProtocol):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: Any) -> None:
        clients = self.proxy.clients
        client = clients.get(addr)
        if client is None:
            if len(clients) >= MAX_UDP_CLIENTS:
                return  # dropped, as a full NAT table would
            client = clients[addr] = _UDPClient(self.proxy, addr)
            asyncio.get_running_loop().create_task(client.open())
        client.send(data)


class _UDPClient(asyncio.DatagramProtocol):
    """One client's flow: its own socket towards the container, replies sent back."""

    def __init__(self, proxy: Proxy, addr: Any) -> None:
        self.proxy = proxy
        self.addr = addr
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: list[bytes] = []
        self.idle: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.transport, _ = await loop.create_datagram_endpoint(
                lambda: self, remote_addr=self.proxy.target)
        except OSError:
            self.close()
            return
        for data in self.waiting:
            self.transport.sendto(data)
        self.waiting.clear()
        self._touch()

    def send(self, data: bytes) -> None:
        if self.transport is None:
            self.waiting.append(data)
        else:
            self.transport.sendto(data)
            self._touch()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.proxy.transport is not None:
            self.proxy.transport.sendto(data, self.addr)
        self._touch()

    def _touch(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.idle = asyncio.get_running_loop().call_later(UDP_IDLE, self.close)

    def close(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        if self.transport is not None:
            self.transport.close()
        self.proxy.clients.pop(self.addr, None)


def ipv6_available() -> bool:
    """Whether the host can bind IPv6 at all (Docker binds [::] then, too)."""
    if not socket.has_ipv6:
        return False
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return True
    return False
