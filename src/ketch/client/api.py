"""`Client`: the Engine API endpoints the ketch CLI uses, one thin method each.

Each method returns the daemon's JSON as-is (dicts in Docker's field names) or a stream;
errors are `APIError(status, message)`. Names follow the API paths, not docker-py.
"""

from __future__ import annotations

import io

from ketch.client.errors import APIError
from ketch.client.http import Connection, Response
from ketch.client.session import Session, version_tuple
from ketch.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any, BinaryIO

    from _typeshed import ReadableBuffer

    from ketch.client.hijack import HijackedStream
    from ketch.client.session import QueryValue


def filters_json(filters: Mapping[str, list[str]] | None) -> str | None:
    """The CLI's filter encoding: `{"label":{"k=v":true}}`."""
    if not filters:
        return None
    return jsonio.dumps({key: {value: True for value in values}
                         for key, values in filters.items()})


def go_query_escape(text: str) -> str:
    """url.QueryEscape: unreserved bytes kept, space as "+", the rest %XX."""
    safe = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    return "".join(chr(b) if b in safe else "+" if b == 0x20 else f"%{b:02X}"
                   for b in text.encode())


def go_json(value: object, sort_keys: bool = True) -> str:
    """encoding/json's Marshal: compact, map keys sorted (a struct keeps its field order:
    sort_keys=False on a dict built in that order), UTF-8 kept, <>& and the line
    separators escaped."""
    import json

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def build_query(*, tags: Sequence[str] = (), dockerfile: str = "", quiet: bool = False,
                no_cache: bool = False, remove: bool = True, force_remove: bool = False,
                pull: bool = False, network_mode: str = "", shm_size: int = 0,
                target: str = "", build_args: Mapping[str, str | None] | None = None,
                labels: Mapping[str, str] | None = None, cache_from: Sequence[str] = (),
                extra_hosts: Sequence[str] = (), platform: str = "") -> str:
    """The query string of POST /build as the docker CLI 28 encodes ImageBuildOptions
    (imageBuildOptionsToQuery, then url.Values.Encode: keys sorted, values in order)."""
    values: dict[str, list[str]] = {"t": list(tags), "extrahosts": list(extra_hosts)}
    if quiet:
        values["q"] = ["1"]
    if no_cache:
        values["nocache"] = ["1"]
    if not remove:  # the daemon removes by default: only opting out is sent
        values["rm"] = ["0"]
    if force_remove:
        values["forcerm"] = ["1"]
    if pull:
        values["pull"] = ["1"]
    if network_mode and network_mode != "default":
        values["networkmode"] = [network_mode]
    if shm_size:
        values["shmsize"] = [str(shm_size)]
    if dockerfile:
        values["dockerfile"] = [dockerfile]
    if target:
        values["target"] = [target]
    if build_args:
        values["buildargs"] = [go_json(dict(build_args))]
    if labels:
        values["labels"] = [go_json(dict(labels))]
    if cache_from:
        values["cachefrom"] = [go_json(list(cache_from))]
    if platform:
        values["platform"] = [platform.lower()]
    values["version"] = ["1"]  # types.BuilderV1: the classic builder, no BuildKit session
    return "&".join(f"{go_query_escape(key)}={go_query_escape(value)}"
                    for key in sorted(values) for value in values[key])


NO_AUTH = "e30="
"""X-Registry-Auth without credentials: base64url of `{}`."""


def registry_auth(config: Mapping[str, str]) -> str:
    """The X-Registry-Auth header as the docker CLI encodes an AuthConfig: base64url (with
    padding) of its JSON, fields in the struct's order ({"username", "password",
    "serveraddress"} or {"identitytoken", ...}); {} -> "e30="."""
    import base64

    return base64.urlsafe_b64encode(go_json(dict(config), sort_keys=False).encode()).decode()


class VersionError(APIError):
    """A request the negotiated API version cannot express (Docker's client words)."""

    def __init__(self, feature: str, needed: str, version: str) -> None:
        super().__init__(400, f'"{feature}" requires API version {needed}, but the Docker '
                              f'daemon API version is {version}')

    def __str__(self) -> str:
        return self.message


class WaitHandle:
    """A `POST /containers/{id}/wait` whose headers have arrived; `result()` blocks until the
    body (the exit status) comes."""

    def __init__(self, resp: Response) -> None:
        self.resp = resp

    def result(self) -> dict[str, Any]:
        try:
            body = self.resp.read()
        finally:
            self.resp.conn.close()
        doc = jsonio.loads(body) if body.strip() else {}
        return doc if isinstance(doc, dict) else {}

    def cancel(self) -> None:
        self.resp.conn.close()


class Client(Session):
    """A Docker Engine API client over a unix socket."""

    # -- system ---------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        return dict(self.json("GET", "/version"))

    def info(self) -> dict[str, Any]:
        return dict(self.json("GET", "/info"))

    # -- containers -----------------------------------------------------------------------
    def containers(self, all: bool = False, limit: int | None = None, size: bool = False,
                   filters: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
        query: dict[str, QueryValue] = {"all": True if all else None,
                                        "limit": limit if limit and limit > 0 else None,
                                        "size": True if size else None,
                                        "filters": filters_json(filters)}
        return list(self.json("GET", "/containers/json", query))

    def create_container(self, config: dict[str, Any], name: str | None = None,
                         platform: str | None = None) -> dict[str, Any]:
        endpoints = (config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        if any((ep or {}).get("MacAddress") for ep in endpoints.values()) and \
                version_tuple(self.api_version) < (1, 44):
            # Docker's client refuses too: an older daemon would drop the address
            raise VersionError("specify mac-address per network", "1.44", self.api_version)
        return dict(self.json("POST", "/containers/create",
                              {"name": name or None, "platform": platform}, config))

    def inspect_container(self, ref: str, size: bool = False) -> dict[str, Any]:
        return dict(self.json("GET", f"/containers/{ref}/json", {"size": size or None}))

    def start(self, ref: str, detach_keys: str | None = None) -> None:
        self.request("POST", f"/containers/{ref}/start", {"detachKeys": detach_keys})

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        self.request("POST", f"/containers/{ref}/stop", {"signal": signal, "t": timeout})

    def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        self.request("POST", f"/containers/{ref}/restart", {"signal": signal, "t": timeout})

    def kill(self, ref: str, signal: str | None = None) -> None:
        self.request("POST", f"/containers/{ref}/kill", {"signal": signal})

    def pause(self, ref: str) -> None:
        self.request("POST", f"/containers/{ref}/pause")

    def unpause(self, ref: str) -> None:
        self.request("POST", f"/containers/{ref}/unpause")

    def update(self, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /containers/{id}/update`: {"Warnings": [...]}."""
        return dict(self.json("POST", f"/containers/{ref}/update", None, body))

    def top(self, ref: str, ps_args: str | None = None) -> dict[str, Any]:
        """`GET /containers/{id}/top`: {"Titles": [...], "Processes": [[...], ...]}."""
        return dict(self.json("GET", f"/containers/{ref}/top", {"ps_args": ps_args}))

    def events(self, since: str | None = None, until: str | None = None,
               filters: Mapping[str, list[str]] | None = None) -> Response:
        """`GET /events`: a JSON line per event (read with iter_chunks; close the conn)."""
        return self.stream("GET", "/events", {"since": since, "until": until,
                                              "filters": filters_json(filters)})

    def stats(self, ref: str, stream: bool = True) -> Response:
        """`GET /containers/{id}/stats`: JSON samples, one a second (or one, stream=False),
        on a connection of its own (read with iter_chunks; close the conn)."""
        return self.stream("GET", f"/containers/{ref}/stats", {"stream": stream})

    def prune_containers(self, filters: Mapping[str, list[str]] | None = None
                         ) -> dict[str, Any]:
        """`POST /containers/prune`: {"ContainersDeleted": [...] or None, ...}."""
        return dict(self.json("POST", "/containers/prune", {"filters": filters_json(filters)}))

    def remove_container(self, ref: str, force: bool = False, volumes: bool = False,
                         link: bool = False) -> None:
        self.request("DELETE", f"/containers/{ref}",
                     {"force": force or None, "link": link or None, "v": volumes or None})

    def rename(self, ref: str, name: str) -> None:
        self.request("POST", f"/containers/{ref}/rename", {"name": name})

    def resize(self, ref: str, height: int, width: int) -> None:
        self.request("POST", f"/containers/{ref}/resize", {"h": height, "w": width})

    def changes(self, ref: str) -> list[dict[str, Any]]:
        """`GET /containers/{id}/changes`: [{"Path": "/etc", "Kind": 0}, ...] (0 changed,
        1 added, 2 deleted); [] when nothing changed (the daemon says null)."""
        return list(self.json("GET", f"/containers/{ref}/changes") or [])

    def wait(self, ref: str, condition: str | None = None) -> WaitHandle:
        """Start waiting (headers come at once); read the exit status with `.result()`."""
        return WaitHandle(self.stream("POST", f"/containers/{ref}/wait",
                                      {"condition": condition}))

    def attach(self, ref: str, stdin: bool = False, stdout: bool = True, stderr: bool = True,
               stream: bool = True, logs: bool = False,
               detach_keys: str | None = None) -> HijackedStream:
        query: dict[str, QueryValue] = {"detachKeys": detach_keys, "logs": logs or None,
                                        "stderr": stderr or None, "stdin": stdin or None,
                                        "stdout": stdout or None, "stream": stream or None}
        return self.hijack(f"/containers/{ref}/attach", query)

    def logs(self, ref: str, follow: bool = False, stdout: bool = True, stderr: bool = True,
             since: str | None = None, until: str | None = None, timestamps: bool = False,
             tail: str = "all", details: bool = False) -> Response:
        query: dict[str, QueryValue] = {"details": details or None, "follow": follow or None,
                                        "since": since, "stderr": stderr or None,
                                        "stdout": stdout or None, "tail": tail,
                                        "timestamps": timestamps or None, "until": until}
        return self.stream("GET", f"/containers/{ref}/logs", query)

    # -- exec -----------------------------------------------------------------------------
    def exec_create(self, ref: str, config: dict[str, Any]) -> dict[str, Any]:
        return dict(self.json("POST", f"/containers/{ref}/exec", None, config))

    def exec_start(self, exec_id: str, tty: bool = False) -> HijackedStream:
        return self.hijack(f"/exec/{exec_id}/start", None, {"Detach": False, "Tty": tty})

    def exec_start_detached(self, exec_id: str, tty: bool = False) -> None:
        self.request("POST", f"/exec/{exec_id}/start", None, {"Detach": True, "Tty": tty})

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return dict(self.json("GET", f"/exec/{exec_id}/json"))

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.request("POST", f"/exec/{exec_id}/resize", {"h": height, "w": width})

    # -- images ---------------------------------------------------------------------------
    def images(self, all: bool = False, digests: bool = False,
               filters: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
        query: dict[str, QueryValue] = {"all": True if all else None,
                                        "digests": True if digests else None,
                                        "filters": filters_json(filters)}
        return list(self.json("GET", "/images/json", query))

    def inspect_image(self, ref: str) -> dict[str, Any]:
        return dict(self.json("GET", f"/images/{ref}/json"))

    def tag(self, ref: str, repo: str, tag: str | None = None) -> None:
        self.request("POST", f"/images/{ref}/tag", {"repo": repo, "tag": tag})

    def remove_image(self, ref: str, force: bool = False,
                     noprune: bool = False) -> list[dict[str, Any]]:
        return list(self.json("DELETE", f"/images/{ref}",
                              {"force": force or None, "noprune": noprune or None}) or [])

    def import_image(self, source: BinaryIO | None, src_url: str = "-", repo: str | None = None,
                     tag: str | None = None, changes: list[str] | None = None,
                     message: str | None = None) -> Iterator[dict[str, Any]]:
        """`POST /images/create?fromSrc=-` with the tarball as the body (chunked);
        yields the progress JSON objects."""
        query: list[tuple[str, QueryValue]] = [("changes", c) for c in changes or []]
        query += [("fromSrc", src_url), ("message", message), ("repo", repo), ("tag", tag)]
        resp = self._multi_stream("POST", "/images/create", query, source)
        return self._json_body(resp)

    def commit(self, container: str, repo: str | None = None, tag: str | None = None,
               comment: str | None = None, author: str | None = None, pause: bool = True,
               changes: list[str] | None = None) -> dict[str, Any]:
        query: list[tuple[str, QueryValue]] = [("changes", c) for c in changes or []]
        query += [("author", author), ("comment", comment), ("container", container),
                  ("pause", pause), ("repo", repo), ("tag", tag)]
        resp = self._multi_stream("POST", "/commit", query, None)
        try:
            return dict(jsonio.loads(resp.read()))
        finally:
            resp.conn.close()

    def save(self, names: list[str]) -> Response:
        """`GET /images/get?names=...`: the archive as a response to read with
        iter_chunks(); close it with `resp.conn.close()`."""
        return self._multi_stream("GET", "/images/get", [("names", n) for n in names], None)

    def load(self, source: BinaryIO, quiet: bool = False) -> Iterator[dict[str, Any]]:
        """`POST /images/load` with the archive as the body; yields the JSON messages."""
        resp = self._multi_stream("POST", "/images/load", [("quiet", quiet or None)], source)
        return self._json_body(resp)

    def pull(self, image: str, tag: str | None = None, platform: str | None = None,
             registry_auth: str = NO_AUTH) -> Iterator[dict[str, Any]]:
        """`POST /images/create?fromImage=NAME&tag=TAG` (a registry pull; no tag: all of
        them) with X-Registry-Auth (see registry_auth()); yields the progress objects."""
        resp = self.stream("POST", "/images/create",
                           {"fromImage": image, "platform": platform, "tag": tag},
                           headers={"X-Registry-Auth": registry_auth})
        return self._json_body(resp)

    def push(self, name: str, tag: str | None = None,
             registry_auth: str = NO_AUTH) -> Iterator[dict[str, Any]]:
        """`POST /images/{name}/push?tag=TAG` (no tag: every tag of the repository), the
        name in full ("docker.io/library/busybox", "127.0.0.1:5000/app") and unescaped, as
        docker 28 sends it; yields the progress objects."""
        resp = self.stream("POST", f"/images/{name}/push", {"tag": tag},
                           headers={"X-Registry-Auth": registry_auth})
        return self._json_body(resp)

    def auth(self, config: Mapping[str, str]) -> dict[str, Any]:
        """`POST /auth` with the AuthConfig object ({"username", "password",
        "serveraddress"}, ...): the daemon logs in to the registry and answers
        {"Status": "Login Succeeded", "IdentityToken": ...}."""
        data = (go_json(dict(config), sort_keys=False) + "\n").encode()
        resp = self.request("POST", "/auth", data=data,
                            headers={"Content-Type": "application/json"})
        doc = resp.json()
        return dict(doc) if isinstance(doc, dict) else {}

    # -- helpers --------------------------------------------------------------------------
    def _multi_stream(self, method: str, path: str, query: list[tuple[str, QueryValue]],
                      source: BinaryIO | None) -> Response:
        """A stream whose query may repeat a key (`changes=` for each -c)."""
        from ketch.client.session import encode_query

        qs = "&".join(part for key, value in query
                      if (part := encode_query({key: value})))
        path_qs = f"{path}?{qs}" if qs else path
        headers = {"Content-Type": "application/x-tar"} if source is not None else {}
        return self.stream(method, path_qs, None, source=source, headers=headers)

    @staticmethod
    def _json_body(resp: Response) -> Iterator[dict[str, Any]]:
        from ketch.client.stream import json_lines

        try:
            yield from json_lines(resp.iter_chunks())
        finally:
            resp.conn.close()

    # -- build ----------------------------------------------------------------------------
    def build(self, write_context: Callable[[BinaryIO], object], *, tags: Sequence[str] = (),
              dockerfile: str = "", quiet: bool = False, no_cache: bool = False,
              remove: bool = True, force_remove: bool = False, pull: bool = False,
              network_mode: str = "", shm_size: int = 0, target: str = "",
              build_args: Mapping[str, str | None] | None = None,
              labels: Mapping[str, str] | None = None, cache_from: Sequence[str] = (),
              extra_hosts: Sequence[str] = (), platform: str = "",
              on_sent: Callable[[int], object] | None = None) -> Iterator[dict[str, Any]]:
        """`POST /build` (the legacy builder, `version=1`) with the query the docker CLI 28
        sends: defaults left out, booleans as 1, maps and lists as Go's JSON, keys sorted
        and values escaped as url.Values.Encode does. write_context writes the context tar
        to the file it is given, sent chunked as it comes; on_sent gets the number of bytes
        sent once the body is complete. Yields the JSON messages of the answer."""
        query = build_query(tags=tags, dockerfile=dockerfile, quiet=quiet, no_cache=no_cache,
                            remove=remove, force_remove=force_remove, pull=pull,
                            network_mode=network_mode, shm_size=shm_size, target=target,
                            build_args=build_args, labels=labels, cache_from=cache_from,
                            extra_hosts=extra_hosts, platform=platform)
        # no credentials are sent: X-Registry-Config is base64url of an empty AuthConfigs map
        headers = {"Content-Type": "application/x-tar", "X-Registry-Config": "e30=",
                   "Transfer-Encoding": "chunked"}
        resp = self._send_chunked("POST", f"/v{self.api_version}/build?{query}", headers,
                                  write_context, on_sent)
        return self._json_body(resp)

    def _send_chunked(self, method: str, target: str, headers: dict[str, str],
                      write_body: Callable[[BinaryIO], object],
                      on_sent: Callable[[int], object] | None) -> Response:
        """Send a request whose body write_body writes (chunked, 64 KiB at a time) and read
        the answer's head; a daemon that stops reading early is heard, not reset."""
        import io

        from ketch.client.errors import DaemonUnavailable
        from ketch.client.session import error_message

        conn = self.connect()
        try:
            conn.send(method, target, headers)
            sink = _ChunkSink(conn)
            try:
                with io.BufferedWriter(sink, 1 << 16) as out:
                    write_body(out)
                conn.sock.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the daemon gave up on the body: its answer says why
            else:
                if on_sent is not None:
                    on_sent(sink.sent)
            resp = conn.read_response(method)
        except (BrokenPipeError, ConnectionResetError) as exc:
            conn.close()
            raise DaemonUnavailable(self.host) from exc
        except BaseException:
            conn.close()
            raise
        if resp.status >= 400:
            message = error_message(resp.status, resp.read())
            conn.close()
            raise APIError(resp.status, message)
        return resp

    # -- image history, prune, disk usage -------------------------------------------------
    def image_history(self, ref: str) -> list[dict[str, Any]]:
        return list(self.json("GET", f"/images/{ref}/history") or [])

    def prune_images(self, filters: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
        """`POST /images/prune`: {"ImagesDeleted": [...] or None, "SpaceReclaimed": n}."""
        return dict(self.json("POST", "/images/prune", {"filters": filters_json(filters)}))

    def prune_build_cache(self, filters: Mapping[str, list[str]] | None = None,
                          all_: bool = False) -> dict[str, Any]:
        """`POST /build/prune`: {"CachesDeleted": [...] or None, "SpaceReclaimed": n}."""
        query: dict[str, str | None] = {"filters": filters_json(filters)}
        if all_:
            query["all"] = "1"
        return dict(self.json("POST", "/build/prune", query))

    def disk_usage(self) -> dict[str, Any]:
        """`GET /system/df`."""
        return dict(self.json("GET", "/system/df"))

    # -- archives: cp, export -------------------------------------------------------------
    def stat_path(self, ref: str, path: str) -> dict[str, Any]:
        """`HEAD /containers/{id}/archive`: the path's ContainerPathStat (from the header;
        a HEAD has no body, so an error says only its status)."""
        resp = self.request("HEAD", f"/containers/{ref}/archive", {"path": path})
        return self._path_stat(resp.headers)

    def get_archive(self, ref: str, path: str) -> tuple[Response, dict[str, Any]]:
        """`GET /containers/{id}/archive`: the tar (read with iter_chunks(), then
        `resp.conn.close()`) and the path's stat."""
        resp = self.stream("GET", f"/containers/{ref}/archive", {"path": path})
        return resp, self._path_stat(resp.headers)

    def put_archive(self, ref: str, path: str,
                    body: BinaryIO | Callable[[Callable[[bytes], None]], object], *,
                    no_overwrite_dir_nondir: bool = True, copy_uid_gid: bool = False) -> None:
        """`PUT /containers/{id}/archive`: a tar extracted into the directory path. body is
        a reader, or a function that writes the tar to the sink it is given (sent chunked
        as it comes). A daemon that answers before taking it all is heard, not reset."""
        from ketch.client.errors import APIError, DaemonUnavailable
        from ketch.client.session import error_message

        target = self.target(f"/containers/{ref}/archive",
                             {"copyUIDGID": copy_uid_gid or None,
                              "noOverwriteDirNonDir": no_overwrite_dir_nondir or None,
                              "path": path})
        conn = self.connect()
        try:
            conn.send("PUT", target, {"Content-Type": "application/x-tar",
                                      "Transfer-Encoding": "chunked"})

            def sink(chunk: bytes) -> None:
                if chunk:
                    conn.sock.sendall(b"%x\r\n" % len(chunk))
                    conn.sock.sendall(chunk)
                    conn.sock.sendall(b"\r\n")

            try:
                if callable(body):
                    body(sink)
                else:
                    while block := body.read(1 << 16):
                        sink(block)
                conn.sock.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the daemon gave up on the body: its answer says why
            resp = conn.read_response("PUT")
            data = resp.read()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise DaemonUnavailable(self.host) from exc
        finally:
            conn.close()
        if resp.status >= 400:
            raise APIError(resp.status, error_message(resp.status, data))

    def export(self, ref: str) -> Response:
        """`GET /containers/{id}/export`: the root filesystem as a tar, to read with
        iter_chunks(); close it with `resp.conn.close()`."""
        return self.stream("GET", f"/containers/{ref}/export")

    @staticmethod
    def _path_stat(headers: Mapping[str, str]) -> dict[str, Any]:
        """The X-Docker-Container-Path-Stat header: base64 of the ContainerPathStat JSON."""
        import base64

        raw = headers.get("x-docker-container-path-stat", "")
        try:
            doc = jsonio.loads(base64.b64decode(raw).decode()) if raw else {}
        except ValueError:
            doc = {}
        return doc if isinstance(doc, dict) else {}

    # -- volumes --------------------------------------------------------------------------
    def create_volume(self, name: str | None = None, driver: str | None = None,
                      driver_opts: Mapping[str, str] | None = None,
                      labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        """`POST /volumes/create`; empty maps are left out, as the docker CLI does."""
        body: dict[str, Any] = {"Name": name or "", "Driver": driver or "local"}
        if driver_opts:
            body["DriverOpts"] = dict(driver_opts)
        if labels:
            body["Labels"] = dict(labels)
        return dict(self.json("POST", "/volumes/create", None, body))

    def volumes(self, filters: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
        """`GET /volumes`: {"Volumes": [...], "Warnings": ...}."""
        return dict(self.json("GET", "/volumes", {"filters": filters_json(filters)}))

    def inspect_volume(self, name: str) -> dict[str, Any]:
        from ketch.client.session import quote

        return dict(self.json("GET", f"/volumes/{quote(name)}"))

    def remove_volume(self, name: str, force: bool = False) -> None:
        from ketch.client.session import quote

        self.request("DELETE", f"/volumes/{quote(name)}", {"force": force or None})

    def prune_volumes(self, filters: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
        """`POST /volumes/prune`: {"VolumesDeleted": [...], "SpaceReclaimed": n}."""
        return dict(self.json("POST", "/volumes/prune", {"filters": filters_json(filters)}))

    # -- networks -------------------------------------------------------------------------
    def networks(self, filters: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """`GET /networks`: the network summaries (no `Containers`)."""
        return list(self.json("GET", "/networks", {"filters": filters_json(filters)}) or [])

    def inspect_network(self, ref: str, verbose: bool = False) -> dict[str, Any]:
        from ketch.client.session import quote

        return dict(self.json("GET", f"/networks/{quote(ref)}",
                              {"verbose": "true" if verbose else None}))

    def create_network(self, body: dict[str, Any]) -> dict[str, Any]:
        """`POST /networks/create` -> {"Id", "Warning"}. Before API 1.44 the daemon must be
        asked to refuse a duplicate name (CheckDuplicate), as Docker's client does."""
        if version_tuple(self.api_version) < (1, 44):
            body = {**body, "CheckDuplicate": True}
        return dict(self.json("POST", "/networks/create", None, body))

    def remove_network(self, ref: str) -> None:
        from ketch.client.session import quote

        self.request("DELETE", f"/networks/{quote(ref)}")

    def prune_networks(self, filters: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
        """`POST /networks/prune`: {"NetworksDeleted": [...] or None}."""
        return dict(self.json("POST", "/networks/prune", {"filters": filters_json(filters)})
                    or {})

    def connect_network(self, ref: str, container: str,
                        endpoint_config: dict[str, Any] | None = None) -> None:
        from ketch.client.session import quote

        self.request("POST", f"/networks/{quote(ref)}/connect", None,
                     {"Container": container, "EndpointConfig": endpoint_config})

    def disconnect_network(self, ref: str, container: str, force: bool = False) -> None:
        from ketch.client.session import quote

        self.request("POST", f"/networks/{quote(ref)}/disconnect", None,
                     {"Container": container, "Force": force})


class _ChunkSink(io.RawIOBase):
    """The raw end of a chunked request body: each write is one chunk on the socket."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sent = 0

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        block = bytes(data)
        if block:
            self.conn.sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
            self.sent += len(block)
        return len(block)
