"""What every verb gets: the daemon host, a lazily made client, and the output streams."""

from __future__ import annotations

import sys

from ketch.util.environ import getenv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from ketch.client import Client


class Context:
    """Per-invocation state of the CLI."""

    def __init__(self, host: str | None = None) -> None:
        self.host_flag = host
        self._client: Client | None = None
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr

    @property
    def client(self) -> Client:
        """A client of a daemon that answers; starts ketchd first if need be (as root,
        on the default socket, unless KETCH_NO_AUTOSTART is set)."""
        if self._client is None:
            from ketch.client import Client, DaemonUnavailable

            client = Client(self.host_flag)
            try:
                client.check_reachable()
            except DaemonUnavailable:
                from ketch.cli.autostart import should_autostart, start_daemon

                if not should_autostart(client.host) or not start_daemon(client.host):
                    raise
                client = Client(self.host_flag)
                client.check_reachable()
            self._client = client
        return self._client

    def write(self, text: str) -> None:
        self.out.write(text)

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def env_flag(name: str) -> bool:
    return getenv(name, "") not in ("", "0", "false")
