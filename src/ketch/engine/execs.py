"""`docker exec`: exec instances (create, start, inspect, resize), as dockerd keeps them:
in memory, gone with a daemon restart. The process is the container's own process spec
(its capabilities, seccomp profile, rlimits, no-new-privileges) with the exec's command,
environment, working directory, user and terminal; `--privileged` gives it every
capability. The supervisor starts it in the container's namespaces and owns its stdio;
its exit comes back as an event.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ketch.engine.containers import Container
from ketch.engine.names import new_id
from ketch.engine.spec import resolve_user
from ketch.errors import Conflict, InvalidParameter, KetchError, NotFound
from ketch.util.detachkeys import parse_detach_keys

if TYPE_CHECKING:
    from ketch.engine.engine import Engine

KEEP_FINISHED = 300.0  # seconds a finished exec stays inspectable (dockerd: 5 minutes)
EXIT_WAIT = 5.0  # seconds the end of a stream waits for the exit code to arrive


class ExecStartFailed(KetchError):
    """The process could not be started; Docker reports it in the stream, exit 126."""


@dataclass
class ExecInstance:
    id: str
    container_id: str
    cmd: list[str]
    env: list[str]
    workdir: str
    user: str
    privileged: bool
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool
    detach_keys: str
    console_size: list[int] | None = None
    started: bool = False
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    finished: float = 0.0
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())

    def inspect(self) -> dict[str, Any]:
        return {
            "ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
            "ProcessConfig": {"tty": self.tty, "entrypoint": self.cmd[0],
                              "arguments": self.cmd[1:], "privileged": self.privileged,
                              **({"user": self.user} if self.user else {})},
            "OpenStdin": self.stdin, "OpenStderr": self.stderr, "OpenStdout": self.stdout,
            "CanRemove": False, "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys, "Pid": self.pid,
        }


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]  # a StrSlice: one string is one element
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(f"invalid {key}: must be a list of strings")
    return value


class Execs:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_id: dict[str, ExecInstance] = {}

    def get(self, exec_id: str) -> ExecInstance:
        found = self.by_id.get(exec_id)
        if found is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return found

    def running_ids(self, cid: str) -> list[str] | None:
        ids = [e.id for e in self.by_id.values() if e.container_id == cid and e.running]
        return ids or None

    def forget_container(self, cid: str) -> None:
        for exec_id in [e.id for e in self.by_id.values() if e.container_id == cid]:
            del self.by_id[exec_id]

    def create(self, ref: str, body: dict[str, Any]) -> str:
        c = self.engine.containers.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.state.get("Paused"):
            raise Conflict(f"Container {ref} is paused, unpause the container before exec")
        cmd = _strings(body, "Cmd")
        if not cmd:
            raise InvalidParameter("No exec command specified")
        # Go's JSON decoding ignores case: docker-py sends "detachKeys" from its config
        keys = body.get("DetachKeys") or body.get("detachKeys") or ""
        if not isinstance(keys, str):
            raise InvalidParameter("invalid DetachKeys: must be a string")
        if keys:
            try:
                parse_detach_keys(keys)
            except ValueError:
                raise InvalidParameter(f"Invalid detach keys ({keys}) provided") from None
        for key in ("User", "WorkingDir"):
            if not isinstance(body.get(key) or "", str):
                raise InvalidParameter(f"invalid {key}: must be a string")
        size = body.get("ConsoleSize")
        if size is not None and not (isinstance(size, list) and len(size) == 2 and
                                     all(isinstance(n, int) and n >= 0 for n in size)):
            raise InvalidParameter("invalid ConsoleSize: must be [height, width]")
        self._sweep()
        instance = ExecInstance(
            id=new_id(), container_id=c.id, cmd=cmd, env=_strings(body, "Env"),
            workdir=body.get("WorkingDir") or "", user=body.get("User") or "",
            privileged=bool(body.get("Privileged")), tty=bool(body.get("Tty")),
            stdin=bool(body.get("AttachStdin")), stdout=bool(body.get("AttachStdout")),
            stderr=bool(body.get("AttachStderr")), detach_keys=keys,
            console_size=size if size else None)
        self.by_id[instance.id] = instance
        self._event(instance, "exec_create")
        return instance.id

    def _event(self, instance: ExecInstance, action: str, **extra: str) -> None:
        """exec_create/exec_start name the command as dockerd does (program, a space, the
        arguments); exec_die does not."""
        c = self.engine.containers.by_id.get(instance.container_id)
        if c is None:
            return
        if action != "exec_die":
            action = f"{action}: {instance.cmd[0]} {' '.join(instance.cmd[1:])}"
        self.engine.container_event(c, action, execID=instance.id, **extra)

    def _sweep(self) -> None:
        limit = time.monotonic() - KEEP_FINISHED
        for exec_id in [e.id for e in self.by_id.values()
                        if e.exit_code is not None and e.finished < limit]:
            del self.by_id[exec_id]

    async def start(self, exec_id: str, detach: bool, tty: bool | None = None
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Start it; unless detached, the supervisor's connection that carries its raw
        stream. ExecStartFailed if the process could not start (exit code 126)."""
        instance = self.get(exec_id)
        if instance.started:
            raise Conflict(f"Exec command {exec_id} has already run"
                           if instance.exit_code is not None
                           else f"Exec command {exec_id} is already running")
        c = self.engine.containers.get(instance.container_id)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        # the process gets a terminal if it was created with one; the stream is raw or
        # multiplexed as the start asks (dockerd: create's Tty, then start's)
        framed = not (instance.tty if tty is None else tty)
        instance.started = True
        self._event(instance, "exec_start")
        try:
            process = await asyncio.to_thread(self._process, c, instance)
        except KetchError as e:
            self._failed(instance)
            raise ExecStartFailed(str(e)) from None
        request = {"op": "exec", "id": c.id, "exec": instance.id, "process": process,
                   "tty": instance.tty, "framed": framed,
                   "stdin": instance.stdin and not detach,
                   "stdout": instance.stdout, "stderr": instance.stderr, "detach": detach}
        reader, writer = await asyncio.open_unix_connection(self.engine.supervisor.path)
        writer.write((json.dumps(request) + "\n").encode())
        await writer.drain()
        answer = json.loads(await reader.readline() or b"{}")
        if "error" in answer or not answer:
            writer.close()
            self._failed(instance)
            message = str(answer.get("error") or "the supervisor went away")
            if answer.get("exit_code") is not None:  # the runtime could not start it
                raise ExecStartFailed(f"OCI runtime exec failed: exec failed: unable to "
                                      f"start container process: {message}: unknown")
            raise KetchError(message)
        instance.pid = int(answer.get("pid") or 0)
        instance.running = True
        if detach:
            writer.close()
            return None
        return reader, writer

    def _failed(self, instance: ExecInstance) -> None:
        instance.exit_code, instance.running = 126, False
        instance.finished = time.monotonic()
        if not instance.done.done():
            instance.done.set_result(None)

    def exited(self, exec_id: str, code: int) -> None:
        """The supervisor's exec_exit event."""
        instance = self.by_id.get(exec_id)
        if instance is None:
            return
        instance.exit_code, instance.running = code, False
        instance.finished = time.monotonic()
        if not instance.done.done():
            instance.done.set_result(None)
        self._event(instance, "exec_die", exitCode=str(code))

    async def wait_exit(self, exec_id: str) -> None:
        """Until its exit code is known (or a while): the end of its stream may come
        before the event that carries it, and a client asks for it at once."""
        instance = self.by_id.get(exec_id)
        if instance is None or instance.done.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(instance.done), EXIT_WAIT)
        except TimeoutError:
            pass

    async def probe(self, c: Container, cmd: list[str], timeout: float, shown: str
                    ) -> tuple[int, str]:
        """Run cmd in the container for a health check: (exit code, output). A probe
        that outlives timeout is killed: -1, "Health check exceeded timeout (<shown>)"."""
        exec_id = self.create(c.id, {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
        try:
            try:
                live = await self.start(exec_id, detach=False)
            except KetchError as e:
                return -1, str(e)
            assert live is not None
            reader, writer = live
            output = bytearray()

            async def collect() -> None:
                while True:  # the multiplexed stream: 8-byte headers (stream, size)
                    try:
                        header = await reader.readexactly(8)
                        data = await reader.readexactly(int.from_bytes(header[4:], "big"))
                    except asyncio.IncompleteReadError:
                        return
                    if len(output) < 4096:
                        output.extend(data[: 4096 - len(output)])

            try:
                await asyncio.wait_for(collect(), timeout)
            except TimeoutError:
                try:
                    await self.engine.supervisor.call("kill", exec=exec_id, signal=9)
                except KetchError:
                    pass
                return -1, f"Health check exceeded timeout ({shown})"
            finally:
                writer.close()
            await self.wait_exit(exec_id)
            code = self.by_id[exec_id].exit_code
            return (-1 if code is None else code), output.decode("utf-8", "replace")
        finally:
            self.by_id.pop(exec_id, None)  # a probe is not one of the user's execs

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        instance = self.get(exec_id)
        if not instance.running:
            raise Conflict(f"Exec {exec_id} is not running")
        await self.engine.supervisor.call("resize", exec=exec_id, h=height, w=width)

    # -- the process ---------------------------------------------------------------------

    def _process(self, c: Container, instance: ExecInstance) -> dict[str, Any]:
        """The container's process spec, with the exec's command, env, cwd, user and
        terminal (runs in a worker thread: it reads the container's passwd)."""
        with open(os.path.join(c.bundle, "config.json"), "rb") as f:
            spec = json.loads(f.read())
        process: dict[str, Any] = dict(spec.get("process") or {})
        workdir = instance.workdir or c.config.get("WorkingDir") or process.get("cwd") or "/"
        if not workdir.startswith("/"):
            raise KetchError("Cwd must be an absolute path")
        env = list(process.get("env") or [])
        keys = {e.partition("=")[0]: i for i, e in enumerate(env)}
        for item in instance.env:
            key = item.partition("=")[0]
            if key in keys:
                env[keys[key]] = item
            else:
                keys[key] = len(env)
                env.append(item)
        user = instance.user or str(c.config.get("User") or "")
        rootfs = self.engine.snapshots.path(c.id)
        try:
            process["user"] = resolve_user(user, rootfs)
        except InvalidParameter as e:
            raise KetchError(str(e)) from None
        process.update(args=list(instance.cmd), env=env, cwd=workdir, terminal=instance.tty)
        if instance.tty:
            if instance.console_size:
                process["consoleSize"] = {"height": instance.console_size[0],
                                          "width": instance.console_size[1]}
        else:
            process.pop("consoleSize", None)
        if instance.privileged:
            from ketch.runtime.caps import held

            every = held()
            process["capabilities"] = {kind: list(every) for kind in
                                       ("bounding", "effective", "permitted")}
        return process
