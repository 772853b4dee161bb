"""ketch's container supervisor: one small process that owns every running container.

It is not the API server. It creates and starts containers through the runtime,
holds their stdio (pipes, or a pty master), writes their json-file logs, serves
attach streams, reaps them and records their exit status. ketchd talks to it
over a unix socket; when ketchd restarts (or is killed), the supervisor and the
containers go on, and ketchd re-adopts them from `state` (live-restore).

Why one supervisor for all rather than one per container: a Python process
costs several MiB, while a container's share of this one is a few pipes and a
few hundred bytes of bookkeeping (the goal is <= 0.5 MiB per idle container).

Protocol: each connection sends one JSON line {"op": ...}; the answer is one JSON
line ({"error": "..."} on failure). `subscribe` then streams event lines;
`attach` turns the connection into the container's raw stream.

The process never starts a thread, so forking containers from it is safe.
"""

from __future__ import annotations

import asyncio
import codecs
import fcntl
import json
import os
import signal
import socket
import sys
import time
from typing import Any

from ketch.errors import Conflict, KetchError, NotFound

LOG_MODE = 0o640


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


ATTACH_BUFFER = 4 << 20  # an attacher that falls this far behind is dropped


class Attachment:
    """One attached client: gets output, may feed stdin."""

    def __init__(self, writer: asyncio.StreamWriter, stdout: bool, stderr: bool,
                 framed: bool) -> None:
        self.writer = writer
        self.stdout = stdout
        self.stderr = stderr
        self.framed = framed

    def send(self, stream: int, data: bytes) -> None:
        if (stream == 1 and not self.stdout) or (stream == 2 and not self.stderr):
            return
        if self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > ATTACH_BUFFER:
            self.writer.close()  # it does not read: the log has everything anyway
            return
        if self.framed:
            self.writer.write(bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data)
        else:
            self.writer.write(data)


class Supervised:
    """A container the supervisor owns, or a process exec'd in one (no log of its own)."""

    def __init__(self, cid: str, tty: bool, log_path: str | None, stdin_once: bool,
                 max_size: int = 0, max_files: int = 1) -> None:
        self.id = cid
        self.tty = tty
        self.log_path = log_path
        self.max_size = max_size  # bytes before the log is rotated; 0: never
        self.max_files = max_files  # the log and its rotated files, at most
        self.log_seq = 0  # the number of the newest rotated file (0: not looked yet)
        self.stdin_once = stdin_once
        self.pid = 0
        self.status = "created"
        self.exit_code: int | None = None
        self.finished_at = ""
        self.oom_killed = False
        self.stdin_fd = -1            # write end of the container's stdin (or the pty master)
        self.stdin_waiter: asyncio.Future[None] | None = None  # a write waiting for room
        self.out_fds: dict[int, int] = {}  # fd -> stream (1 stdout, 2 stderr)
        self.master = -1
        self.attachments: list[Attachment] = []
        self.log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                              LOG_MODE) if log_path else -1
        self.log_size = os.fstat(self.log_fd).st_size if self.log_fd >= 0 else 0
        self.open_streams = 0
        self.exited_status: int | None = None
        self.done = asyncio.Event()
        self.decoders = {s: codecs.getincrementaldecoder("utf-8")("replace") for s in (1, 2)}

    async def write_stdin(self, data: bytes) -> bool:
        """Write to the non-blocking stdin pipe or pty, waiting (not blocking) while it is
        full; False once it is closed. The descriptor is looked up again after each wait:
        it may have been closed, and its number given to another file, meanwhile."""
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view:
            fd = self.stdin_fd
            if fd < 0:
                return False
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                ready: asyncio.Future[None] = loop.create_future()
                self.stdin_waiter = ready
                loop.add_writer(fd, _wake, ready)
                try:
                    await ready
                finally:
                    self.stdin_waiter = None
                    if self.stdin_fd == fd:
                        loop.remove_writer(fd)
            except OSError:
                return False  # the program closed its stdin, or is gone
        return True

    def close_stdin(self) -> None:
        """EOF for the program (a pipe; a pty's master is closed with the rest)."""
        if self.stdin_fd >= 0 and self.stdin_fd != self.master:
            self._drop_stdin_waiter()
            os.close(self.stdin_fd)
            self.stdin_fd = -1

    def _drop_stdin_waiter(self) -> None:
        if self.stdin_waiter is not None and self.stdin_fd >= 0:
            asyncio.get_running_loop().remove_writer(self.stdin_fd)
            _wake(self.stdin_waiter)

    def close_fds(self) -> None:
        """Close each descriptor once and forget its number: a number closed twice, or
        written to after its close, may by then belong to a socket of someone else."""
        self._drop_stdin_waiter()
        for fd in {*self.out_fds, self.stdin_fd, self.master, self.log_fd} - {-1}:
            try:
                os.close(fd)
            except OSError:
                pass
        self.out_fds.clear()
        self.stdin_fd = self.master = self.log_fd = -1
        self.open_streams = 0

    def _write_log(self, record: bytes) -> None:
        try:
            self.log_size += os.write(self.log_fd, record) if record else 0
        except OSError:
            pass  # a full disk or quota must not stop the container (nor us)

    def _rotate(self) -> None:
        """json-file's rotation: the log becomes log.<n> (n one more than the last; the
        file max-file back is dropped) and writing goes on in a new log; with max-file 1,
        the log is emptied. Whole lines only: a write is never split across files."""
        from ketch.engine.logs import rotated

        assert self.log_path is not None
        if self.max_files > 1:
            if not self.log_seq:
                older = rotated(self.log_path)
                self.log_seq = int(older[-1].rpartition(".")[2]) if older else 0
            try:
                os.rename(self.log_path, f"{self.log_path}.{self.log_seq + 1}")
            except OSError:
                return  # keep writing where we were rather than lose the lines
            self.log_seq += 1
            try:
                os.unlink(f"{self.log_path}.{self.log_seq - self.max_files + 1}")
            except OSError:
                pass
        try:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND |
                         os.O_CLOEXEC, LOG_MODE)
        except OSError:
            return  # keep writing where we were rather than lose the lines
        os.close(self.log_fd)
        self.log_fd, self.log_size = fd, 0

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "pid": self.pid,
                "exit_code": self.exit_code, "finished_at": self.finished_at,
                "oom_killed": self.oom_killed}

    def log(self, stream: int, data: bytes) -> None:
        """json-file: a line per write, as Docker's logger writes it."""
        if self.log_fd < 0:  # an exec's output goes to its attachments only, as Docker's
            for att in list(self.attachments):
                att.send(stream, data)
            return
        name = "stdout" if stream == 1 else "stderr"
        stamp = now_rfc3339()
        lines = []
        text = self.decoders[stream].decode(data)  # a character may span two reads
        for part in text.splitlines(keepends=True):
            lines.append(json.dumps({"log": part, "stream": name, "time": stamp},
                                    ensure_ascii=False) + "\n")
        if not self.max_size:
            self._write_log("".join(lines).encode())
        else:  # rotate between lines, as json-file checks the size before each message
            batch: list[bytes] = []
            size = 0
            for line in lines:
                if self.log_size + size >= self.max_size:
                    self._write_log(b"".join(batch))
                    self._rotate()
                    batch, size = [], 0
                encoded = line.encode()
                batch.append(encoded)
                size += len(encoded)
            self._write_log(b"".join(batch))
        for att in list(self.attachments):
            att.send(stream, data)


class Supervisor:
    def __init__(self, run_dir: str, runtime_root: str) -> None:
        from ketch.runtime.container import Runtime, ensure_subreaper

        ensure_subreaper()
        self.run_dir = run_dir
        self.runtime = Runtime(runtime_root, warn=lambda msg: None)
        self.containers: dict[str, Supervised] = {}
        self.execs: dict[str, Supervised] = {}  # by exec ID, while they run
        self.subscribers: list[asyncio.StreamWriter] = []
        # attach comes before create/start (docker run): such clients wait here, and are
        # attached the moment the container is created, before it can print anything
        self.arrivals: dict[str, asyncio.Event] = {}
        self.pending: dict[str, list[Attachment]] = {}
        self.state_dir = os.path.join(run_dir, "supervisor")
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)

    # -- requests ---------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            request = json.loads(line)
            op = request.get("op")
            if op == "subscribe":
                self.subscribers.append(writer)
                writer.write(b'{"ok": true}\n')
                await reader.read()  # until ketchd goes away
                return
            if op == "attach":
                await self.attach(request, reader, writer)
                return
            if op == "exec":
                await self.exec(request, reader, writer)
                return
            try:
                result = self.dispatch(op, request)
                answer = {"ok": True, **result}
            except KetchError as e:
                answer = {"error": str(e), "status": e.status}
            except OSError as e:
                answer = {"error": e.strerror or str(e), "status": 500}
            writer.write((json.dumps(answer) + "\n").encode())
            await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            if writer in self.subscribers:
                self.subscribers.remove(writer)
            writer.close()

    def dispatch(self, op: str, request: dict[str, Any]) -> dict[str, Any]:
        if op == "ping":
            return {"pid": os.getpid()}
        if op == "state":
            return {"containers": {cid: c.state() for cid, c in self.containers.items()}}
        if "exec" in request:
            return self.exec_op(op, str(request["exec"]), request)
        cid = str(request.get("id", ""))
        if op == "create":
            return self.create(cid, request)
        c = self.containers.get(cid)
        if c is None:
            if op == "forget":
                if request.get("release"):  # its start failed, or it is removed
                    for att in self.pending.pop(cid, []):
                        att.writer.close()
                    arrival = self.arrivals.pop(cid, None)
                    if arrival is not None:
                        arrival.set()
                return {}
            raise NotFound(f"No such container: {cid}")
        if op == "start":
            self.runtime.start(cid)
            c.status = "running"
            return {"pid": c.pid}
        if op == "kill":
            if c.status != "running":
                raise Conflict(f"Container {cid} is not running")
            number = int(request.get("signal", signal.SIGKILL))
            self.runtime.kill(cid, number)
            if number == signal.SIGKILL and self.runtime.container(cid).status() == "paused":
                self.runtime.resume(cid)  # a frozen process dies only once thawed
            return {}
        if op in ("pause", "resume"):
            if c.status != "running":
                raise Conflict(f"Container {cid} is not running")
            (self.runtime.pause if op == "pause" else self.runtime.resume)(cid)
            return {}
        if op == "resize":
            if c.master >= 0:
                from ketch.runtime.console import set_size
                set_size(c.master, int(request["h"]), int(request["w"]))
            return {}
        if op == "forget":
            if c.status == "running" and c.exited_status is None:
                raise Conflict(f"Container {cid} is running")
            self.forget(c)
            return {}
        raise KetchError(f"unknown operation {op!r}")

    def create(self, cid: str, request: dict[str, Any]) -> dict[str, Any]:
        if cid in self.containers:
            raise Conflict(f"container {cid} exists in the supervisor")
        tty = bool(request.get("tty"))
        c = Supervised(cid, tty, request["log_path"], bool(request.get("stdin_once")),
                       int(request.get("log_max_size") or 0),
                       int(request.get("log_max_files") or 1))
        child_fds: list[int] = []
        pair = None
        try:
            if tty:
                pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                stdio = None
            else:
                if request.get("stdin"):
                    r, w = os.pipe2(os.O_CLOEXEC)
                    c.stdin_fd = w
                else:
                    r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
                child_fds.append(r)
                fds = [r]
                for stream in (1, 2):
                    r2, w2 = os.pipe2(os.O_CLOEXEC)
                    c.out_fds[r2] = stream
                    child_fds.append(w2)
                    fds.append(w2)
                stdio = (fds[0], fds[1], fds[2])
            container, chan = self.runtime.create(cid, request["bundle"], stdio=stdio,
                                                  console_pair=pair[1] if pair else None)
            chan.close()
            c.pid = container.pid
            if pair is not None:
                from ketch.runtime.console import recv_master
                pair[1].close()
                c.master = recv_master(pair[0])
                c.stdin_fd = c.master
                c.out_fds[c.master] = 1
        except BaseException:
            c.close_fds()
            raise
        finally:
            for fd in child_fds:
                os.close(fd)
            if pair is not None:
                pair[0].close()
                if pair[1].fileno() >= 0:
                    pair[1].close()
        loop = asyncio.get_running_loop()
        if c.stdin_fd >= 0:
            os.set_blocking(c.stdin_fd, False)  # a full pipe must never stall this process
        for fd in c.out_fds:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self.on_output, c, fd)
            c.open_streams += 1
        self.containers[cid] = c
        for att in self.pending.pop(cid, []):
            att.framed = not tty
            c.attachments.append(att)
        arrival = self.arrivals.pop(cid, None)
        if arrival is not None:
            arrival.set()
        return {"pid": c.pid}

    # -- output, exit -----------------------------------------------------------

    def on_output(self, c: Supervised, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty's last holder is gone
            data = b""
        if data:
            c.log(c.out_fds[fd], data)
            return
        asyncio.get_running_loop().remove_reader(fd)
        if fd != c.master:  # the master stays: it is also the pty's stdin
            del c.out_fds[fd]
            os.close(fd)
        c.open_streams -= 1
        self.maybe_finished(c)

    def on_sigchld(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for e in list(self.execs.values()):
                if e.pid == pid and e.exited_status is None:
                    e.exited_status = os.waitstatus_to_exitcode(status)
                    if e.master >= 0 and e.open_streams:
                        self.on_output(e, e.master)
                    self.maybe_finished(e)
            for c in self.containers.values():
                if c.pid == pid and c.exited_status is None:
                    c.exited_status = os.waitstatus_to_exitcode(status)
                    if c.master >= 0 and c.open_streams:
                        # a pty gives EIO only once every holder is gone: drain what is there
                        self.on_output(c, c.master)
                    self.maybe_finished(c)

    def maybe_finished(self, c: Supervised) -> None:
        """The container is done once its init was reaped and its output drained."""
        if c.exited_status is None or (c.open_streams and not c.tty):
            return
        if c.status == "exited":
            return
        if c.log_fd < 0 and c.id in self.execs:
            self._exec_finished(c)
            return
        code = c.exited_status
        c.exit_code = 128 - code if code < 0 else code
        c.finished_at = now_rfc3339()
        c.oom_killed = self._oom_killed(c.id)
        c.status = "exited"
        if c.master >= 0 and c.open_streams:
            asyncio.get_running_loop().remove_reader(c.master)
            c.open_streams = 0
        try:
            self.runtime.delete(c.id, force=True)
        except KetchError:
            pass
        self._record_exit(c)
        for att in c.attachments:
            att.writer.close()
        c.attachments.clear()
        c.done.set()
        self.publish({"event": "exit", **c.state()})

    def _oom_killed(self, cid: str) -> bool:
        try:
            from ketch.runtime.container import cgroup_of
            cgroup = cgroup_of(self.runtime.container(cid))
            return bool(cgroup and cgroup.oom_kill_count() > 0)
        except (KetchError, OSError):
            return False

    def _record_exit(self, c: Supervised) -> None:
        """The exit status survives a restart of ketchd (and of this process)."""
        from ketch.runtime.state import write_atomic
        write_atomic(os.path.join(self.state_dir, f"{c.id}.exit"),
                     json.dumps(c.state()).encode())

    def forget(self, c: Supervised) -> None:
        """Drop a container: a created one (never started) is deleted in the runtime."""
        if c.status == "created":
            try:
                self.runtime.delete(c.id, force=True)
            except KetchError:
                pass
        loop = asyncio.get_running_loop()
        if c.open_streams:
            for fd in c.out_fds:
                loop.remove_reader(fd)
        c.close_fds()
        for att in c.attachments:
            att.writer.close()
        c.attachments.clear()
        c.done.set()
        del self.containers[c.id]
        try:
            os.unlink(os.path.join(self.state_dir, f"{c.id}.exit"))
        except FileNotFoundError:
            pass

    def publish(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event) + "\n").encode()
        for writer in list(self.subscribers):
            if writer.is_closing():
                self.subscribers.remove(writer)
            else:
                writer.write(line)

    # -- exec -------------------------------------------------------------------

    async def exec(self, request: dict[str, Any], reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:
        """Start a process in a running container; unless detached, this connection
        becomes its raw stream (stdin in, output out) until it ends. The first line
        answers {"ok": true, "pid": n}, or {"error": ..., "exit_code": 126}."""
        exec_id = str(request.get("exec", ""))
        try:
            e = self._start_exec(exec_id, request, writer)
        except KetchError as err:
            code = getattr(err, "exit_code", None)
            writer.write((json.dumps({"error": str(err), "status": err.status,
                                      "exit_code": code}) + "\n").encode())
            await writer.drain()
            return
        except OSError as err:
            writer.write((json.dumps({"error": err.strerror or str(err), "status": 500})
                          + "\n").encode())
            await writer.drain()
            return
        writer.write((json.dumps({"ok": True, "pid": e.pid}) + "\n").encode())
        if request.get("detach"):
            await writer.drain()
            return
        try:
            if request.get("stdin") and e.stdin_fd >= 0:
                while chunk := await reader.read(65536):
                    if not await e.write_stdin(chunk):
                        break
                if not e.tty:
                    e.close_stdin()  # the client half-closed: EOF for the program
            await e.done.wait()
        finally:
            e.attachments.clear()

    def _start_exec(self, exec_id: str, request: dict[str, Any],
                    writer: asyncio.StreamWriter) -> Supervised:
        cid = str(request.get("id", ""))
        c = self.containers.get(cid)
        if c is None or c.status != "running" or c.exited_status is not None:
            raise Conflict(f"Container {cid} is not running")
        if not exec_id or exec_id in self.execs:
            raise Conflict(f"exec {exec_id} exists already")
        tty = bool(request.get("tty"))
        attached = not request.get("detach")
        e = Supervised(exec_id, tty, None, stdin_once=True)
        child_fds: list[int] = []
        pair = None
        try:
            if tty:
                pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                stdio = None
            else:
                if request.get("stdin") and attached:
                    r, w = os.pipe2(os.O_CLOEXEC)
                    e.stdin_fd = w
                else:
                    r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
                child_fds.append(r)
                fds = [r]
                for stream in (1, 2):
                    r2, w2 = os.pipe2(os.O_CLOEXEC)
                    e.out_fds[r2] = stream
                    child_fds.append(w2)
                    fds.append(w2)
                stdio = (fds[0], fds[1], fds[2])
            e.pid = self.runtime.exec(cid, request["process"], stdio=stdio,
                                      console_pair=pair[1] if pair else None)
            if pair is not None:
                from ketch.runtime.console import recv_master
                pair[1].close()
                e.master = recv_master(pair[0])
                e.stdin_fd = e.master
                e.out_fds[e.master] = 1
        except BaseException:
            e.close_fds()
            raise
        finally:
            for fd in child_fds:
                os.close(fd)
            if pair is not None:
                pair[0].close()
                if pair[1].fileno() >= 0:
                    pair[1].close()
        if attached:
            e.attachments.append(Attachment(writer, bool(request.get("stdout")),
                                            bool(request.get("stderr")),
                                            framed=bool(request.get("framed", not tty))))
        loop = asyncio.get_running_loop()
        if e.stdin_fd >= 0:
            os.set_blocking(e.stdin_fd, False)
        for fd in e.out_fds:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self.on_output, e, fd)
            e.open_streams += 1
        e.status = "running"
        self.execs[exec_id] = e
        return e

    def exec_op(self, op: str, exec_id: str, request: dict[str, Any]) -> dict[str, Any]:
        e = self.execs.get(exec_id)
        if e is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        if op == "resize":
            if e.master >= 0:
                from ketch.runtime.console import set_size
                set_size(e.master, int(request["h"]), int(request["w"]))
            return {}
        if op == "kill":
            os.kill(e.pid, int(request.get("signal", signal.SIGKILL)))
            return {}
        raise KetchError(f"unknown operation {op!r}")

    def _exec_finished(self, e: Supervised) -> None:
        code = e.exited_status or 0
        e.exit_code = 128 - code if code < 0 else code
        e.status = "exited"
        loop = asyncio.get_running_loop()
        if e.open_streams:
            for fd in e.out_fds:
                loop.remove_reader(fd)
        e.close_fds()
        del self.execs[e.id]
        # told before the stream ends: whoever sees the end may ask for the exit code
        self.publish({"event": "exec_exit", "exec": e.id, "exit_code": e.exit_code})
        for att in e.attachments:
            att.writer.close()
        e.attachments.clear()
        e.done.set()

    # -- attach -----------------------------------------------------------------

    async def attach(self, request: dict[str, Any], reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        cid = str(request.get("id"))
        c = self.containers.get(cid)
        att = Attachment(writer, bool(request.get("stdout")), bool(request.get("stderr")),
                         framed=not (c and c.tty))
        writer.write(b'{"ok": true}\n')  # answered now, streamed once the container exists
        if c is None or c.status == "exited":
            # not started yet, or about to be started again (docker start -a)
            self.pending.setdefault(cid, []).append(att)
            await self.arrivals.setdefault(cid, asyncio.Event()).wait()
            c = self.containers.get(cid)
            if c is None:
                return
        else:
            c.attachments.append(att)
        try:
            if request.get("stdin") and c.stdin_fd >= 0:
                while chunk := await reader.read(65536):
                    if not await c.write_stdin(chunk):
                        break
                if not c.tty and c.stdin_once:
                    c.close_stdin()  # the client half-closed: EOF for the program
                await c.done.wait()
            else:  # until the container is done, or the client goes away
                done = asyncio.ensure_future(c.done.wait())
                gone = asyncio.ensure_future(reader.read())
                await asyncio.wait({done, gone}, return_when=asyncio.FIRST_COMPLETED)
                done.cancel()
                gone.cancel()
        finally:
            if att in c.attachments:
                c.attachments.remove(att)

    # -- life -------------------------------------------------------------------

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGCHLD, self.on_sigchld)
        stopped = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
        path = os.path.join(self.run_dir, "supervisor.sock")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        old = os.umask(0o077)
        server = await asyncio.start_unix_server(self.handle, path)
        os.umask(old)
        async with server:
            await stopped.wait()  # the containers go on without us: they are not killed


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    run_dir, runtime_root = args[0], args[1]
    os.makedirs(run_dir, mode=0o711, exist_ok=True)
    lock = os.open(os.path.join(run_dir, "supervisor.lock"),
                   os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        # a POSIX lock: unlike flock, the container inits forked from us do not hold it
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit(0)  # another supervisor owns this run directory
    supervisor = Supervisor(run_dir, runtime_root)
    try:
        asyncio.run(supervisor.serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
