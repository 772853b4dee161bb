"""One function per `ketch-runtime` verb: arguments in, a Runtime call, output out."""

from __future__ import annotations

import os
import sys

from ketch.errors import Conflict, InvalidParameter, KetchError, NotFound
from ketch.runtime import exeguard
from ketch.runtime.container import ContainerExited, Runtime, ensure_subreaper
from ketch.runtime.spec import check_id
from ketch.runtime.state import DEFAULT_ROOT, list_containers
from ketch.util import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:  # `signal` imports enum (a few ms); the C module has everything we use
    import _signal as signal
if TYPE_CHECKING:
    import socket
    from typing import Any

    from ketch.runtime.cli import Args, Logger


def default_root() -> str:
    return os.environ.get("KETCH_RUNTIME_ROOT", DEFAULT_ROOT)


def _id(args: Args, what: str = "container id") -> str:
    if not args.rest:
        raise InvalidParameter(f"{what} cannot be empty")
    check_id(args.rest[0])
    return args.rest[0]


def _preserve(args: Args) -> int:
    value = args.get("preserve-fds", "0")
    try:
        count = int(value)
    except ValueError:
        raise InvalidParameter(f"invalid --preserve-fds {value!r}") from None
    if count < 0:
        raise InvalidParameter("--preserve-fds must not be negative")
    return count


def dispatch(command: str, root: str, args: Args, logger: Logger) -> int:
    runtime = Runtime(root, warn=logger.warn)
    handler = globals()[f"cmd_{command}"]
    code: int = handler(runtime, args)
    return code


def cmd_create(runtime: Runtime, args: Args) -> int:
    exeguard.ensure_sealed()
    cid = _id(args)
    _, chan = runtime.create(cid, args.get("bundle") or ".",
                             console_socket=args.get("console-socket"),
                             pid_file=args.get("pid-file"), preserve_fds=_preserve(args),
                             new_keyring=not args.get("no-new-keyring"))
    chan.close()
    return 0


def cmd_start(runtime: Runtime, args: Args) -> int:
    runtime.start(_id(args))
    return 0


def cmd_run(runtime: Runtime, args: Args) -> int:
    exeguard.ensure_sealed()
    cid = _id(args)
    detach = bool(args.get("detach"))
    if not detach:
        ensure_subreaper()
    pair = None
    bundle = args.get("bundle") or "."
    if not args.get("console-socket") and not detach and _wants_terminal(bundle):
        import socket as _socket
        pair = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        c, chan = runtime.create(cid, bundle, console_socket=args.get("console-socket"),
                                 pid_file=args.get("pid-file"), preserve_fds=_preserve(args),
                                 console_pair=pair[1] if pair else None,
                                 new_keyring=not args.get("no-new-keyring"))
    except ContainerExited as e:
        sys.stderr.write(f"ketch-runtime: {e}\n")
        return e.exit_code
    master = _recv_master(pair) if pair else None
    try:
        runtime.start(cid, c)
        failure = chan.recv()  # end-of-file: the program runs
        chan.close()
        if failure and "error" in failure:
            sys.stderr.write(f"ketch-runtime: {failure['error']}\n")
            _reap_quietly(c.pid)
            runtime.delete(cid, force=True)
            return int(failure.get("code", 1))
    except BaseException:
        runtime.delete(cid, force=True)
        raise
    if detach:
        return 0
    code = wait_program(c.pid, master)
    if not args.get("keep"):
        try:
            runtime.delete(cid, force=True)
        except KetchError as e:
            sys.stderr.write(f"ketch-runtime: {e}\n")
    return code


def _wants_terminal(bundle: str) -> bool:
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            return bool(jsonio.loads(f.read()).get("process", {}).get("terminal"))
    except (OSError, ValueError, AttributeError):
        return False  # create reports the problem properly


def _recv_master(pair: tuple[socket.socket, socket.socket]) -> int:
    from ketch.runtime.console import recv_master
    pair[1].close()
    try:
        return recv_master(pair[0])
    finally:
        pair[0].close()


def _reap_quietly(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def wait_program(pid: int, master: int | None = None) -> int:
    """Forward our signals to `pid` (our child), proxy its terminal, return its exit code."""
    pidfd = os.pidfd_open(pid)

    def forward(signum: int, _frame: Any) -> None:
        try:
            signal.pidfd_send_signal(pidfd, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                signal.SIGUSR2, signal.SIGCONT, signal.SIGALRM):
        signal.signal(sig, forward)
    try:
        if master is not None:
            from ketch.runtime.console import proxy
            proxy(master, pidfd)
        while True:
            try:
                got, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 255
            if got == pid:
                code = os.waitstatus_to_exitcode(status)
                return 128 - code if code < 0 else code
    finally:
        os.close(pidfd)
        if master is not None:
            os.close(master)


def cmd_exec(runtime: Runtime, args: Args) -> int:
    exeguard.ensure_sealed()
    cid = _id(args)
    c = runtime.container(cid)
    process = _exec_process(c.state["config"].get("process") or {}, args)
    detach = bool(args.get("detach"))
    ensure_subreaper()  # the process we start is ours to reap, even if it fails early
    pair = None
    if process.get("terminal") and not args.get("console-socket") and not detach:
        import socket as _socket
        pair = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        pid = runtime.exec(cid, process, console_socket=args.get("console-socket"),
                           console_pair=pair[1] if pair else None,
                           pid_file=args.get("pid-file"), preserve_fds=_preserve(args))
    except ContainerExited as e:
        sys.stderr.write(f"ketch-runtime: {e}\n")
        return e.exit_code
    if detach:
        return 0
    master = _recv_master(pair) if pair else None
    return wait_program(pid, master)


def _exec_process(base: dict[str, Any], args: Args) -> dict[str, Any]:
    if args.get("process"):
        try:
            with open(args.get("process"), "rb") as f:
                process: dict[str, Any] = jsonio.loads(f.read())
        except OSError as e:
            raise NotFound(f"process file {args.get('process')}: {e.strerror}") from None
        except ValueError as e:
            raise InvalidParameter(f"process file {args.get('process')}: not JSON ({e})") from None
        if not isinstance(process, dict):
            raise InvalidParameter("process file must hold a JSON object")
        return process
    if args.get("cgroup"):
        raise InvalidParameter("exec --cgroup is not supported")
    process = jsonio.loads(jsonio.dumps(base))  # a deep copy
    process["args"] = args.rest[1:]
    if not process["args"]:
        raise InvalidParameter("exec needs a command to run")
    process["terminal"] = bool(args.get("tty"))
    if args.get("cwd"):
        process["cwd"] = args.get("cwd")
    process["env"] = list(process.get("env") or []) + list(args.get("env") or [])
    if args.get("user"):
        uid, _, gid = args.get("user").partition(":")
        user = process.setdefault("user", {})
        try:
            user["uid"] = int(uid)
            if gid:
                user["gid"] = int(gid)
        except ValueError:
            raise InvalidParameter(f"invalid --user {args.get('user')!r}: want uid[:gid]") from None
    gids = args.get("additional-gids")
    if gids:
        try:
            process.setdefault("user", {})["additionalGids"] = [int(g) for g in gids]
        except ValueError:
            raise InvalidParameter(f"invalid --additional-gids {gids}") from None
    if args.get("cap"):
        caps = process.setdefault("capabilities", {})
        for name in args.get("cap"):
            name = name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()
            for kind in ("bounding", "effective", "permitted"):
                caps.setdefault(kind, [])
                if name not in caps[kind]:
                    caps[kind].append(name)
    if args.get("no-new-privs"):
        process["noNewPrivileges"] = True
    return process


def cmd_state(runtime: Runtime, args: Args) -> int:
    c = runtime.container(_id(args))
    import json
    sys.stdout.write(json.dumps(c.oci_state(), indent=2) + "\n")
    return 0


def _parse_signal(name: str) -> int:
    if name.isdigit():
        return int(name)
    name = name.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal, name, None)
    if not isinstance(sig, int) or name.startswith("SIG_"):
        raise InvalidParameter(f"unknown signal {name!r}")
    return sig


def cmd_kill(runtime: Runtime, args: Args) -> int:
    cid = _id(args)
    sig = _parse_signal(args.rest[1]) if len(args.rest) > 1 else signal.SIGTERM
    runtime.kill(cid, sig, all_processes=bool(args.get("all")))
    return 0


def cmd_delete(runtime: Runtime, args: Args) -> int:
    if not args.rest:
        raise InvalidParameter("container id cannot be empty")
    for cid in args.rest:
        check_id(cid)
        runtime.delete(cid, force=bool(args.get("force")))
    return 0


def cmd_pause(runtime: Runtime, args: Args) -> int:
    runtime.pause(_id(args))
    return 0


def cmd_resume(runtime: Runtime, args: Args) -> int:
    runtime.resume(_id(args))
    return 0


def cmd_list(runtime: Runtime, args: Args) -> int:
    containers = list_containers(runtime.root)
    fmt = args.get("format", "table")
    if fmt == "json":
        sys.stdout.write(jsonio.dumps([c.oci_state() for c in containers]) + "\n")
        return 0
    if fmt != "table":
        raise InvalidParameter(f"invalid format option {fmt!r}")
    if args.get("quiet"):
        for c in containers:
            sys.stdout.write(c.id + "\n")
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for c in containers:
        st = c.oci_state()
        rows.append((c.id, str(st["pid"]), st["status"], st["bundle"], st["created"], "root"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        sys.stdout.write("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                         + "\n")
    return 0


def cmd_ps(runtime: Runtime, args: Args) -> int:
    cid = _id(args)
    pids = runtime.pids(cid)
    fmt = args.get("format", "table")
    if fmt == "json":
        sys.stdout.write(jsonio.dumps(pids) + "\n")
        return 0
    if fmt != "table":
        raise InvalidParameter(f"invalid format option {fmt!r}")
    import subprocess
    ps_args = args.rest[1:] or ["-ef"]
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise KetchError(f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidParameter("ps output has no PID column")
    column = header.index("PID")
    wanted = {str(p) for p in pids}
    sys.stdout.write(lines[0] + "\n")
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column] in wanted:
            sys.stdout.write(line + "\n")
    return 0


def cmd_spec(runtime: Runtime, args: Args) -> int:
    from ketch.runtime.specgen import default_spec
    bundle = args.get("bundle") or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise Conflict(f"File {path} exists. Remove it first")
    import json
    data = json.dumps(default_spec(rootless=bool(args.get("rootless"))), indent="\t")
    try:
        with open(path, "w") as f:
            f.write(data + "\n")
    except OSError as e:
        raise NotFound(f"cannot write {path}: {e.strerror}") from None
    return 0


def cmd_features(runtime: Runtime, args: Args) -> int:
    import json

    from ketch.runtime.specgen import features
    sys.stdout.write(json.dumps(features(), indent=4) + "\n")
    return 0


# update flag -> (linux.resources section, key, parser)
_UPDATE_FLAGS = {
    "blkio-weight": ("blockIO", "weight", int),
    "cpu-period": ("cpu", "period", int),
    "cpu-quota": ("cpu", "quota", int),
    "cpu-share": ("cpu", "shares", int),
    "cpu-rt-period": ("cpu", "realtimePeriod", int),
    "cpu-rt-runtime": ("cpu", "realtimeRuntime", int),
    "cpuset-cpus": ("cpu", "cpus", str),
    "cpuset-mems": ("cpu", "mems", str),
    "memory": ("memory", "limit", "size"),
    "memory-reservation": ("memory", "reservation", "size"),
    "memory-swap": ("memory", "swap", "size"),
    "kernel-memory": ("memory", "kernel", "size"),
    "kernel-memory-tcp": ("memory", "kernelTCP", "size"),
    "pids-limit": ("pids", "limit", int),
}


def parse_size(text: str) -> int:
    """Bytes from "512", "64k", "1.5g" (binary units, as runc's RAMInBytes); -1 unlimited."""
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    factor = units.get(value[-1:], 1)
    number = value[:-1] if value[-1:] in units else value
    try:
        size = float(number)
    except ValueError:
        raise InvalidParameter(f"invalid size {text!r}") from None
    return -1 if size == -1 else int(size * factor)


def cmd_update(runtime: Runtime, args: Args) -> int:
    cid = _id(args)
    changes: dict[str, Any] = {}
    source = args.get("resources")
    if source:
        try:
            if source == "-":
                raw = sys.stdin.buffer.read()
            else:
                with open(source, "rb") as f:
                    raw = f.read()
            changes = jsonio.loads(raw)
        except OSError as e:
            raise NotFound(f"resources file {source}: {e.strerror}") from None
        except ValueError as e:
            raise InvalidParameter(f"resources file {source}: not JSON ({e})") from None
        if not isinstance(changes, dict):
            raise InvalidParameter("the resources file must hold a JSON object")
    for flag, (section, key, kind) in _UPDATE_FLAGS.items():
        text = args.get(flag)
        if text is None:
            continue
        try:
            value = parse_size(text) if kind == "size" else kind(text)  # type: ignore[operator]
        except ValueError:
            raise InvalidParameter(f"invalid --{flag} {text!r}") from None
        changes.setdefault(section, {})[key] = value
    runtime.update(cid, changes)
    return 0

