"""Shared by the route modules: versioned paths (unversioned and /vX.Y/path), JSON, and
streams between the event loop and the worker threads that read and write archives."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from ketch.errors import InvalidParameter
from ketch.util.threads import run_blocking

Handler = TypeVar("Handler", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


def versioned(table: web.RouteTableDef, method: str,
              path: str) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        table.route(method, path)(handler)
        table.route(method, "/v{version}" + path)(handler)
        return handler
    return wrap


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with exactly "application/json": the docker CLI reads error bodies only then."""
    return web.Response(body=json.dumps(data).encode(), status=status,
                        content_type="application/json")


def query_filters(request: web.Request) -> dict[str, list[str]]:
    """`filters=` in both the CLI's {"label": {"k=v": true}} and docker-py's
    {"label": ["k=v"]} forms."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidParameter(f"invalid filters: {raw}") from None
    if not isinstance(parsed, dict):
        raise InvalidParameter("invalid filters: must be a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in parsed.items():
        if isinstance(value, dict):
            out[key] = [k for k, on in value.items() if on]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:  # Docker reads only these two forms
            raise InvalidParameter(f"invalid filter '{key}': must be an object or a list")
    return out


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body: a JSON object, or one clear error."""
    raw = await request.read()
    if not raw.strip():
        raise InvalidParameter("got EOF while reading request body")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise InvalidParameter(f"invalid JSON: {e}") from None
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: the body must be an object")
    return body


def query_bool(request: web.Request, name: str) -> bool:
    """httputils.BoolValue: anything but "", 0, no, false and none is true."""
    value = request.query.get(name, "").strip().lower()
    return value not in ("", "0", "no", "false", "none")


BODY_IDLE_TIMEOUT = 300.0  # seconds a client may send nothing in the middle of a body


class RequestBody(io.RawIOBase):
    """A request body as a blocking file for a worker thread: each read waits for the
    event loop to receive the bytes, so nothing is spooled and a slow sender is fine."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        self._content = request.content
        self._loop = loop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        future = asyncio.run_coroutine_threadsafe(self._content.read(len(view)), self._loop)
        try:
            data = future.result(timeout=BODY_IDLE_TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise InvalidParameter("timed out waiting for the request body") from None
        view[: len(data)] = data
        return len(data)


async def stream_from_thread(request: web.Request, response: web.StreamResponse,
                             produce: Callable[[Callable[[bytes], object]], object]
                             ) -> web.StreamResponse:
    """Run produce(write) in a worker thread, sending what it writes as the response body;
    write blocks while the client is slow (backpressure), and raises once it has gone."""
    loop = asyncio.get_running_loop()
    await response.prepare(request)

    def write(data: bytes) -> None:
        asyncio.run_coroutine_threadsafe(response.write(data), loop).result()

    try:
        await run_blocking(produce, write)
        await response.write_eof()
    except ConnectionError:
        pass  # the client left (clients stop reading at a tar's end marker): done
    except asyncio.CancelledError:
        raise
    except Exception:  # the headers are gone: a cut stream is all the client can learn
        logging.getLogger("ketchd").exception("stream failed")
        raise ConnectionResetError("stream failed") from None
    return response


class JsonStream:
    """The JSON-lines answer of pull, push and build: its headers go out with the first
    message, so that an error before it is an HTTP error (as Docker answers a bad name or
    an unknown manifest) and one after it an `errorDetail` message."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response = web.StreamResponse(headers={"Content-Type": "application/json"})

    @property
    def started(self) -> bool:
        return self.response.prepared

    async def emit(self, message: dict[str, Any]) -> None:
        if not self.response.prepared:
            await self.response.prepare(self.request)
        await self.response.write(json.dumps(message).encode() + b"\r\n")

    async def fail(self, message: str, code: int | None = None) -> None:
        detail: dict[str, Any] = {"message": message}
        if code is not None:
            detail["code"] = code
        try:
            await self.emit({"errorDetail": detail, "error": message})
        except ConnectionError:
            pass

    async def finish(self) -> web.StreamResponse:
        if not self.response.prepared:
            await self.response.prepare(self.request)
        try:
            await self.response.write_eof()
        except ConnectionError:
            pass
        return self.response
