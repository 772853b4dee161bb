"""The Docker Engine API over a unix socket, with aiohttp: HTTP in, engine calls, HTTP out.

Every route answers both unversioned and /vX.Y/ paths. Errors are Docker's
{"message": ...} with the status code of the ketch.errors class. attach is
hijacked: after `101 UPGRADED` (or `200` for clients that did not ask to
upgrade) the connection carries the container's raw stream both ways.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import socket
import termios
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ketch import __version__
from ketch.api.routing import Handler, json_response, query_filters, versioned
from ketch.engine.engine import Engine
from ketch.engine.system import API_VERSION, MIN_API
from ketch.errors import HostError, InvalidParameter, KetchError, NotModified
from ketch.util.detachkeys import DEFAULT_DETACH_KEYS, EscapeProxy, parse_detach_keys

MAX_BODY = 16 * 1024 * 1024  # container create bodies; image imports stream separately
OUTPUT_BUFFER = 4 << 20  # attach output waiting for a slow client before we pause
HEADERS = {"Api-Version": API_VERSION, "Docker-Experimental": "false", "Ostype": "linux",
           "Server": f"Ketch/{__version__} (linux)"}

routes = web.RouteTableDef()
ENGINE = web.AppKey("engine", Engine)


def _bool(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return value.lower() in ("1", "true", "yes")


def _int(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(f"invalid value for {name}: {value!r}") from None


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:  # deep nesting is bad input too
        raise InvalidParameter(f"invalid JSON: {e}") from None


def engine_of(request: web.Request) -> Engine:
    return request.app[ENGINE]


def _version_tuple(text: str) -> tuple[int, ...]:
    """Comparable like Docker's versions.Compare: 1.44.0 == 1.44."""
    parts = [int(part) for part in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def check_version(request: web.Request) -> None:
    """Docker's version middleware: /vX.Y/ outside [MinAPIVersion, ApiVersion] is a 400;
    a prefix that is not a version is no route at all."""
    version = request.match_info.get("version")
    if version is None:
        return
    if not version or not all(part.isdigit() and part.isascii() for part in version.split(".")):
        raise web.HTTPNotFound()
    if _version_tuple(version) > _version_tuple(API_VERSION):
        raise InvalidParameter(f"client version {version} is too new. "
                               f"Maximum supported API version is {API_VERSION}")
    if _version_tuple(version) < _version_tuple(MIN_API):
        raise InvalidParameter(f"client version {version} is too old. Minimum supported API "
                               f"version is {MIN_API}, please upgrade your client to a "
                               "newer version")


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        check_version(request)
        response: web.StreamResponse = await handler(request)
        return response
    except NotModified:
        return web.Response(status=304)
    except KetchError as e:
        return json_response({"message": str(e)}, status=e.status)
    except web.HTTPRequestEntityTooLarge:
        return json_response({"message": "request body is too large"}, status=413)
    except web.HTTPException as e:
        if e.status == 404:
            return json_response({"message": "page not found"}, status=404)
        return json_response({"message": e.reason}, status=e.status)
    except (ConnectionError, asyncio.CancelledError):
        raise
    except Exception as e:  # a bug of ours: a JSON 500, never a traceback to the client
        logging.getLogger("ketchd").exception("internal error")
        return json_response({"message": f"internal error: {type(e).__name__}: {e}"},
                             status=500)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(HEADERS)


def _route(method: str, path: str) -> Callable[[Handler], Handler]:
    return versioned(routes, method, path)


# -- system ------------------------------------------------------------------


@_route("GET", "/_ping")
async def ping(request: web.Request) -> web.Response:
    return web.Response(text="OK", headers={"Cache-Control": "no-cache, no-store, "
                                            "must-revalidate", "Pragma": "no-cache"})


@_route("HEAD", "/_ping")
async def ping_head(request: web.Request) -> web.Response:
    return web.Response(headers={"Cache-Control": "no-cache, no-store, must-revalidate",
                                 "Pragma": "no-cache", "Content-Length": "0"})


@_route("GET", "/version")
async def version(request: web.Request) -> web.Response:
    return json_response(engine_of(request).version())


@_route("GET", "/info")
async def info(request: web.Request) -> web.Response:
    return json_response(engine_of(request).info())


# -- containers ----------------------------------------------------------------


@_route("POST", "/containers/create")
async def container_create(request: web.Request) -> web.Response:
    body = await _json_body(request)
    result = await engine_of(request).create(body, request.query.get("name") or None)
    return json_response(result, status=201)


@_route("GET", "/containers/json")
async def container_list(request: web.Request) -> web.Response:
    limit = _int(request, "limit", -1) or -1
    if _bool(request, "latest"):
        limit = 1
    found = engine_of(request).list(all_=_bool(request, "all"), limit=limit,
                                    filters=query_filters(request), size=_bool(request, "size"))
    return json_response(found)


@_route("GET", "/containers/{id}/json")
async def container_inspect(request: web.Request) -> web.Response:
    return json_response(engine_of(request).inspect(request.match_info["id"],
                                                    size=_bool(request, "size")))


@_route("POST", "/containers/{id}/start")
async def container_start(request: web.Request) -> web.Response:
    await engine_of(request).start(request.match_info["id"])
    return web.Response(status=204)


@_route("POST", "/containers/{id}/stop")
async def container_stop(request: web.Request) -> web.Response:
    timeout = _int(request, "t", None)
    if timeout is None:
        timeout = _int(request, "timeout", None)
    # the stop goes on even if the client hangs up (Docker detaches its context too)
    await asyncio.shield(engine_of(request).stop(request.match_info["id"], timeout,
                                                 request.query.get("signal")))
    return web.Response(status=204)


@_route("POST", "/containers/{id}/restart")
async def container_restart(request: web.Request) -> web.Response:
    await asyncio.shield(engine_of(request).restart(request.match_info["id"],
                                                    _int(request, "t", None)))
    return web.Response(status=204)


@_route("POST", "/containers/{id}/kill")
async def container_kill(request: web.Request) -> web.Response:
    await engine_of(request).kill(request.match_info["id"], request.query.get("signal"))
    return web.Response(status=204)


@_route("POST", "/containers/{id}/pause")
async def container_pause(request: web.Request) -> web.Response:
    await engine_of(request).pause(request.match_info["id"])
    return web.Response(status=204)


@_route("POST", "/containers/{id}/unpause")
async def container_unpause(request: web.Request) -> web.Response:
    await engine_of(request).unpause(request.match_info["id"])
    return web.Response(status=204)


@_route("GET", "/containers/{id}/top")
async def container_top(request: web.Request) -> web.Response:
    return json_response(await engine_of(request).top(request.match_info["id"],
                                                      request.query.get("ps_args", "")))


@_route("POST", "/containers/{id}/update")
async def container_update(request: web.Request) -> web.Response:
    from ketch.api.routing import json_object

    body = await json_object(request)
    warnings = await engine_of(request).update(request.match_info["id"], body)
    return json_response({"Warnings": warnings})


@_route("POST", "/containers/prune")
async def containers_prune(request: web.Request) -> web.Response:
    return json_response(await engine_of(request).prune(query_filters(request)))


@_route("POST", "/containers/{id}/wait")
async def container_wait(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    condition = request.query.get("condition", "")
    if condition not in ("", "not-running", "next-exit", "removed"):
        raise InvalidParameter(f"invalid condition: {condition!r}")
    engine.containers.get(request.match_info["id"])  # a 404 before the 200
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)  # headers now; the body when the container exits
    waiting = asyncio.ensure_future(engine.wait(request.match_info["id"], condition))
    transport = request.transport
    # the CLI hangs up on its wait after `run -d`: stop waiting then, not at the exit
    while not waiting.done():
        await asyncio.wait({waiting}, timeout=1)
        if transport is None or transport.is_closing():
            waiting.cancel()
            return response
    try:
        code = waiting.result()
        await response.write(json.dumps({"Error": None, "StatusCode": code}).encode() + b"\n")
        await response.write_eof()
    except (ConnectionError, KetchError) as e:
        if isinstance(e, KetchError):  # e.g. removed meanwhile: say so in the body
            await response.write(json.dumps({"Error": {"Message": str(e)},
                                             "StatusCode": -1}).encode() + b"\n")
    return response


@_route("DELETE", "/containers/{id}")
async def container_remove(request: web.Request) -> web.Response:
    engine = engine_of(request)
    if _bool(request, "link"):  # `docker rm --link <parent>/<alias>`: the link only
        engine.containers.remove_link(request.match_info["id"])
        return web.Response(status=204)
    await engine.remove(request.match_info["id"], force=_bool(request, "force"),
                        volumes=_bool(request, "v"))
    return web.Response(status=204)


@_route("DELETE", "/containers/{id:[^{}/]+/[^{}/]+}")
async def container_remove_by_link_name(request: web.Request) -> web.Response:
    """A container named by one of its links' names, /<parent>/<alias>, which the route
    above cannot match (as Docker's `{name:.*}` does)."""
    return await container_remove(request)


@_route("POST", "/containers/{id}/rename")
async def container_rename(request: web.Request) -> web.Response:
    name = request.query.get("name", "")
    await engine_of(request).rename(request.match_info["id"], name)
    return web.Response(status=204)


@_route("POST", "/containers/{id}/resize")
async def container_resize(request: web.Request) -> web.Response:
    await engine_of(request).resize(request.match_info["id"], _int(request, "h", 0) or 0,
                                    _int(request, "w", 0) or 0)
    return web.Response(status=200)


@_route("GET", "/containers/{id}/logs")
async def container_logs(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    stdout, stderr = _bool(request, "stdout"), _bool(request, "stderr")
    if not (stdout or stderr):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    tail = request.query.get("tail", "all") or "all"
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise InvalidParameter(f"invalid value for tail: {tail!r}")
    if tail.startswith("-"):
        tail = "all"  # Docker reads a negative tail as everything
    c, entries = await engine.logs(
        request.match_info["id"], follow=_bool(request, "follow"), stdout=stdout,
        stderr=stderr, tail=tail, since=_timestamp(request, "since"),
        until=_timestamp(request, "until"), timestamps=_bool(request, "timestamps"))
    tty = bool(c.config.get("Tty"))
    response = web.StreamResponse(status=200, headers={
        "Content-Type": "application/vnd.docker.raw-stream" if tty
        else "application/vnd.docker.multiplexed-stream"})
    await response.prepare(request)
    try:
        async for batch in entries:  # a frame per record, as dockerd's; one write a batch
            await response.write(b"".join(data if tty else _frame(stream, data)
                                          for stream, data in batch))
        await response.write_eof()
    except ConnectionError:
        pass  # the client hung up (`docker logs -f` ended with ^C)
    return response


def _timestamp(request: web.Request, name: str) -> float:
    """A unix time, as the CLI sends --since/--until ("1700000000.123456789")."""
    value = request.query.get(name) or "0"
    try:
        return float(value)
    except ValueError:
        raise InvalidParameter(f"invalid value for {name}: {value!r}") from None


def _frame(stream: int, data: bytes) -> bytes:
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


@_route("POST", "/containers/{id}/attach")
async def container_attach(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    ref = request.match_info["id"]
    stdin, stdout, stderr = (_bool(request, "stdin"), _bool(request, "stdout"),
                             _bool(request, "stderr"))
    keys = request.query.get("detachKeys")
    detach_keys = DEFAULT_DETACH_KEYS
    if keys:
        try:
            detach_keys = parse_detach_keys(keys)
        except ValueError:
            raise InvalidParameter(f"Invalid detach keys ({keys}) provided") from None
    replay = b""
    if _bool(request, "logs"):  # what it wrote so far, then the live stream; like
        # Docker's, output written between the two reads can be missed
        c, entries = await engine.logs(ref, follow=False, stdout=stdout, stderr=stderr,
                                       tail="all", since=0, until=0, timestamps=False)
        tty = bool(c.config.get("Tty"))
        replay = b"".join([data if tty else _frame(stream, data)
                           async for batch in entries for stream, data in batch])
    live: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    if _bool(request, "stream"):  # without it Docker sends the logs (if asked) and ends
        c, sreader, swriter = await engine.attach(ref, stdin=stdin, stdout=stdout,
                                                  stderr=stderr)
        live = (sreader, swriter)
    else:
        c = engine.containers.get(ref)
    upgrade = request.headers.get("Upgrade", "").lower() == "tcp"
    content_type = "application/vnd.docker.raw-stream" if c.config.get("Tty") \
        else "application/vnd.docker.multiplexed-stream"
    # the detach keys end a terminal's session only (dockerd's copyEscapable)
    return await hijack(request, upgrade, content_type, replay, live, stdin,
                        detach_keys=detach_keys if c.config.get("Tty") else b"")


async def hijack(request: web.Request, upgrade: bool, content_type: str, replay: bytes,
                 live: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
                 stdin: bool, before_close: Callable[[], Awaitable[None]] | None = None,
                 detach_keys: bytes = b"") -> web.StreamResponse:
    """Answer 101 (or 200) and `replay`, then relay raw bytes between the client and the
    supervisor's (reader, writer) in `live`, if any; before_close runs once the stream has
    ended, before the client sees its end (an exec's exit code must be known by then).
    detach_keys (a terminal's stdin): typed by the client, they end the stream and leave
    the process running, as dockerd's copyEscapable does."""
    transport = request.transport
    assert transport is not None
    # the connection is ours from here: aiohttp's protocol would close it on the client's
    # half-close (the CLI half-closes at once when it sends no stdin)
    incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
    early = request.content.read_nowait() if not request.content.at_eof() else b""
    if early:
        incoming.put_nowait(early)
    raw = _Raw(incoming)
    transport.set_protocol(raw)
    transport.resume_reading()
    head = ["HTTP/1.1 101 UPGRADED" if upgrade else "HTTP/1.1 200 OK",
            f"Content-Type: {content_type}"]
    if upgrade:
        head += ["Connection: Upgrade", "Upgrade: tcp"]
    head += [f"{k}: {v}" for k, v in HEADERS.items()]
    transport.write(("\r\n".join(head) + "\r\n\r\n").encode())
    if replay or live is not None:
        await _head_read(transport)
    transport.write(replay)
    if live is None:
        transport.close()
        return _Hijacked()
    sreader, swriter = live

    async def to_client() -> None:
        while data := await sreader.read(65536):
            if transport.is_closing():
                return
            transport.write(data)
            while transport.get_write_buffer_size() > OUTPUT_BUFFER and not raw.closed.is_set():
                await asyncio.sleep(0.01)  # a slow reader: stop reading the supervisor

    async def client_gone() -> None:
        await raw.closed.wait()

    detached = asyncio.Event()

    async def from_client() -> None:
        escape = EscapeProxy(detach_keys)
        try:
            while data := await incoming.get():
                data, typed = escape.feed(data)
                if data:
                    swriter.write(data)
                    await swriter.drain()
                if typed:
                    detached.set()
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        if swriter.can_write_eof():
            swriter.write_eof()  # the client half-closed: the program reads EOF

    async def detach() -> None:
        await detached.wait()

    output = asyncio.ensure_future(to_client())
    tasks = [output, asyncio.ensure_future(from_client() if stdin else client_gone()),
             asyncio.ensure_future(detach())]
    try:
        if not stdin:  # a client that hangs up ends a silent container's stream too
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.wait([output, tasks[2]], return_when=asyncio.FIRST_COMPLETED)
        if before_close is not None and not detached.is_set():
            await before_close()
    finally:
        for task in tasks:
            task.cancel()
        swriter.close()
        transport.close()
    return _Hijacked()


async def _head_read(transport: asyncio.BaseTransport, limit: float = 0.5) -> None:
    """Wait (at most `limit`) until the client has read the 101 head. docker-py parses the
    head with a buffered reader and then reads the bare socket: stream bytes that came
    with the head would sit unseen in that buffer. SIOCOUTQ on a unix socket counts the
    bytes its peer has not read yet."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return
    deadline = asyncio.get_running_loop().time() + limit
    buf = bytearray(4)
    while asyncio.get_running_loop().time() < deadline:
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
        except OSError:
            return
        if int.from_bytes(buf, "little") == 0:
            return
        await asyncio.sleep(0.0005)


class _Raw(asyncio.Protocol):
    """The client's side of a hijacked connection: its bytes, then None at its EOF."""

    def __init__(self, incoming: asyncio.Queue[bytes | None]) -> None:
        self.incoming = incoming
        self.closed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.incoming.put_nowait(data)

    def eof_received(self) -> bool:
        self.incoming.put_nowait(None)
        return True  # half-closed: we still write our side

    def connection_lost(self, exc: Exception | None) -> None:
        self.incoming.put_nowait(None)
        self.closed.set()


class _Hijacked(web.StreamResponse):
    """The connection was taken over: aiohttp must not write a response of its own."""

    def __init__(self) -> None:
        super().__init__(status=200)

    async def prepare(self, request: web.BaseRequest) -> Any:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


# -- serving -------------------------------------------------------------------


def make_app(engine: Engine) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=MAX_BODY)
    app[ENGINE] = engine
    app.add_routes(routes)
    from ketch.api import images as image_routes
    app.add_routes(image_routes.routes)
    from ketch.api import archive as archive_routes
    app.add_routes(archive_routes.routes)
    from ketch.api import changes as change_routes
    app.add_routes(change_routes.routes)
    from ketch.api import images_admin
    app.add_routes(images_admin.routes)
    from ketch.api import volumes as volume_routes
    app.add_routes(volume_routes.routes)
    from ketch.api import networks as network_routes
    app.add_routes(network_routes.routes)
    from ketch.api import build as build_routes
    app.add_routes(build_routes.routes)
    from ketch.api import registry as registry_routes
    app.add_routes(registry_routes.routes)
    from ketch.api import exec as exec_routes
    app.add_routes(exec_routes.routes)
    from ketch.api import events as event_routes
    app.add_routes(event_routes.routes)
    from ketch.api import stats as stats_routes
    app.add_routes(stats_routes.routes)
    from ketch.api import swarm as swarm_routes
    app.add_routes(swarm_routes.routes)
    app.on_response_prepare.append(_headers)
    return app


def _claim(exec_root: str) -> int:
    """One daemon per exec root: a second would unlink the first one's socket."""
    import fcntl

    os.makedirs(exec_root, mode=0o711, exist_ok=True)
    fd = os.open(os.path.join(exec_root, "ketchd.pid"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise HostError(f"another ketchd is running with exec root {exec_root}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


async def serve(engine: Engine, socket_path: str) -> None:
    _claim(engine.exec_root)
    await engine.restore()
    app = make_app(engine)
    # bodies are taken as sent: a Content-Encoding inflated here would pass the layer
    # extractor's decompression-bomb bounds already expanded (they see magic bytes)
    # and read in big pieces: an image upload is handed to its worker thread a piece at a
    # time, so 64 KiB pieces would cost a thread round trip per 64 KiB
    runner = web.AppRunner(app, access_log=None, handle_signals=False, auto_decompress=False,
                           read_bufsize=1 << 20)
    await runner.setup()
    os.makedirs(os.path.dirname(socket_path), mode=0o711, exist_ok=True)
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    old = os.umask(0o117)  # the socket is 0660 from the start, never briefly open
    try:
        site = web.UnixSite(runner, socket_path)
        await site.start()
    finally:
        os.umask(old)
    await asyncio.Event().wait()
