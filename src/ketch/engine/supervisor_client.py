"""ketchd's side of the supervisor: start it if it is not running, send it requests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from ketch.errors import Conflict, HostError, InvalidParameter, KetchError, NotFound

_ERRORS: dict[int, type[KetchError]] = {404: NotFound, 409: Conflict, 400: InvalidParameter}
CALL_TIMEOUT = 60  # seconds; a container create is well under one


class SupervisorClient:
    def __init__(self, run_dir: str, runtime_root: str) -> None:
        self.run_dir = run_dir
        self.runtime_root = runtime_root
        self.path = os.path.join(run_dir, "supervisor.sock")

    async def ensure_running(self) -> None:
        """Connect to the supervisor, starting it first if nobody answers."""
        try:
            await self.call("ping")
            return
        except HostError:
            pass
        log = open(os.path.join(self.run_dir, "supervisor.log"), "ab")  # noqa: SIM115
        try:
            # its own session: it must outlive ketchd (and ignore its terminal's signals)
            subprocess.Popen([sys.executable, "-m", "ketch.engine.supervisor", self.run_dir,
                              self.runtime_root], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=log, start_new_session=True, close_fds=True)
        finally:
            log.close()
        for _ in range(200):
            await asyncio.sleep(0.01)
            try:
                await self.call("ping")
                return
            except HostError:
                continue
        raise HostError("the container supervisor did not start (see supervisor.log)")

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                reader, writer = await asyncio.open_unix_connection(self.path)
                try:
                    writer.write((json.dumps({"op": op, **args}) + "\n").encode())
                    await writer.drain()
                    line = await reader.readline()
                finally:
                    writer.close()
        except TimeoutError:
            raise HostError(f"the container supervisor did not answer {op} in time") from None
        except OSError as e:
            raise HostError(f"the container supervisor is unreachable: {e.strerror or e}") \
                from None
        if not line:
            raise HostError(f"the supervisor closed the connection during {op}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise _ERRORS.get(int(answer.get("status", 500)), HostError)(answer["error"])
        return answer

    async def subscribe(self) -> asyncio.StreamReader:
        """Exit events, one JSON line each, from now on (one subscription at a time)."""
        self.unsubscribe()
        try:
            reader, writer = await asyncio.open_unix_connection(self.path)
        except OSError as e:
            raise HostError(f"the container supervisor is unreachable: {e.strerror}") from None
        writer.write(b'{"op": "subscribe"}\n')
        await writer.drain()
        await reader.readline()
        self._subscription: asyncio.StreamWriter | None = writer  # closing it ends it
        return reader

    def unsubscribe(self) -> None:
        writer = getattr(self, "_subscription", None)
        if writer is not None:
            writer.close()
            self._subscription = None

    async def attach(self, cid: str, *, stdin: bool, stdout: bool,
                     stderr: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_unix_connection(self.path)
        request = {"op": "attach", "id": cid, "stdin": stdin, "stdout": stdout,
                   "stderr": stderr}
        writer.write((json.dumps(request) + "\n").encode())
        await writer.drain()
        answer = json.loads(await reader.readline() or b"{}")
        if "error" in answer or not answer:
            writer.close()
            raise NotFound(f"No such container: {cid}")
        return reader, writer
