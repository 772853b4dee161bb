"""`ketch-runtime`: runc's command line, so anything that drives runc can drive ketch.

    ketch-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND [OPTIONS] ...

Errors print one line on stderr (and to --log) and exit 1; `run` and `exec`
in the foreground exit with the program's own status.
"""

from __future__ import annotations

import gc
import os
import sys
import time

from ketch.errors import InvalidParameter, KetchError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

USAGE = """usage: ketch-runtime [global options] command [command options] [arguments...]

commands:
  create    create a container          start     start a created container
  run       create and start            exec      run a process in a container
  state     print a container's state   list      list containers
  kill      signal a container          delete    delete a container
  ps        list a container's pids     pause     freeze a container's processes
  resume    thaw a paused container     spec      write a default config.json
  update    change cgroup limits        features  print supported features

global options: --root DIR  --log FILE  --log-format text|json  --debug  --version
"""

# command -> {option: takes a value}; one-letter aliases map to the long name
OPTIONS: dict[str, dict[str, bool]] = {
    "create": {"bundle": True, "console-socket": True, "pid-file": True, "no-pivot": False,
               "no-new-keyring": False, "preserve-fds": True, "pidfd-socket": True},
    "run": {"bundle": True, "console-socket": True, "pid-file": True, "no-pivot": False,
            "no-new-keyring": False, "preserve-fds": True, "detach": False, "keep": False,
            "no-subreaper": False, "pidfd-socket": True},
    "start": {}, "state": {}, "pause": {}, "resume": {}, "features": {},
    "kill": {"all": False},
    "delete": {"force": False},
    "list": {"format": True, "quiet": False},
    "ps": {"format": True},
    "update": {"resources": True, "blkio-weight": True, "cpu-period": True, "cpu-quota": True,
               "cpu-share": True, "cpu-rt-period": True, "cpu-rt-runtime": True,
               "cpuset-cpus": True, "cpuset-mems": True, "memory": True,
               "memory-reservation": True, "memory-swap": True, "pids-limit": True,
               "kernel-memory": True, "kernel-memory-tcp": True},
    "spec": {"bundle": True, "rootless": False},
    "exec": {"console-socket": True, "pid-file": True, "process": True, "tty": False,
             "detach": False, "cwd": True, "env": True, "user": True, "additional-gids": True,
             "cap": True, "no-new-privs": False, "apparmor": True, "process-label": True,
             "preserve-fds": True, "ignore-paused": False, "cgroup": True,
             "pidfd-socket": True},
}
ALIASES = {"v": "version", "b": "bundle", "d": "detach", "f": "force", "a": "all", "q": "quiet",
           "t": "tty", "e": "env", "u": "user", "c": "cap", "p": "process",
           "g": "additional-gids"}
GLOBAL = {"root": True, "log": True, "log-format": True, "debug": False, "version": False,
          "systemd-cgroup": False, "criu": True, "rootless": True}
REPEATABLE = {"env", "cap", "additional-gids"}


class Args:
    def __init__(self) -> None:
        self.opts: dict[str, Any] = {}
        self.rest: list[str] = []

    def get(self, name: str, default: Any = None) -> Any:
        return self.opts.get(name, default)


def parse(argv: list[str], spec: dict[str, bool], *, stop_at_positional: bool = True) -> Args:
    """urfave/cli style: -x, --x, --x=v, -x v; flags end at the first positional or `--`."""
    out = Args()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.rest.extend(argv[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            if stop_at_positional:
                out.rest.extend(argv[i:])
                break
            out.rest.append(arg)
            i += 1
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        name = ALIASES.get(name, name) if name not in spec else name
        if name in ("h", "help"):
            raise SystemExit(_help())
        if name not in spec:
            raise InvalidParameter(f"flag provided but not defined: -{name}")
        if spec[name]:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise InvalidParameter(f"flag needs an argument: -{name}")
                value = argv[i]
            if name in REPEATABLE:
                out.opts.setdefault(name, []).append(value)
            else:
                out.opts[name] = value
        else:
            out.opts[name] = value.lower() not in ("false", "0") if eq else True
        i += 1
    return out


def _help() -> int:
    sys.stdout.write(USAGE)
    return 0


class Logger:
    def __init__(self, path: str | None, fmt: str) -> None:
        self.path = path
        self.json = fmt == "json"

    def log(self, level: str, msg: str) -> None:
        if not self.path:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        if self.json:
            from ketch.util import jsonio
            line = jsonio.dumps({"level": level, "msg": msg, "time": stamp})
        else:
            line = f'time="{stamp}" level={level} msg="{msg}"'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def warn(self, msg: str) -> None:
        self.log("warning", msg)
        sys.stderr.write(f"ketch-runtime: warning: {msg}\n")


def main(argv: list[str] | None = None) -> NoReturn:
    # A short-lived process: no collections, so that the children forked into a
    # container do not copy every page the collector would touch.
    gc.disable()
    argv = sys.argv[1:] if argv is None else argv
    if any(word in argv for word in ("create", "run", "exec")):
        from ketch.runtime.warmup import warm_attach_lock
        warm_attach_lock()  # first thing: it takes the longest
    logger = Logger(None, "text")
    try:
        glob = parse(argv, GLOBAL)
        logger = Logger(glob.get("log"), glob.get("log-format", "text"))
        if glob.get("version"):
            from ketch import __version__
            from ketch.runtime.specgen import OCI_VERSION
            sys.stdout.write(f"ketch-runtime version {__version__}\nspec: {OCI_VERSION}\n")
            sys.exit(0)
        if glob.get("systemd-cgroup"):
            raise InvalidParameter("--systemd-cgroup is not supported: use cgroupfs paths")
        if not glob.rest:
            sys.stderr.write(USAGE)
            sys.exit(1)
        command, rest = glob.rest[0], glob.rest[1:]
        if command in ("help", "--help"):
            sys.exit(_help())
        if command not in OPTIONS:
            raise InvalidParameter(f"unknown command {command!r} (see ketch-runtime --help)")
        from ketch.runtime import commands
        root = os.path.abspath(glob.get("root") or commands.default_root())
        code = commands.dispatch(command, root, parse(rest, OPTIONS[command]), logger)
    except KetchError as e:
        logger.log("error", str(e))
        sys.stderr.write(f"ketch-runtime: {e}\n")
        code = 1
    except KeyboardInterrupt:
        code = 130
    except OSError as e:  # the kernel or the filesystem said no somewhere unexpected
        where = f" ({e.filename})" if e.filename else ""
        logger.log("error", f"{e.strerror or e}{where}")
        sys.stderr.write(f"ketch-runtime: {e.strerror or e}{where}\n")
        code = 1
    except Exception as e:  # a bug of ours: still one line, unless --debug asks for more
        if "--debug" in argv:
            raise
        logger.log("error", f"internal error: {e!r}")
        sys.stderr.write(f"ketch-runtime: internal error: {type(e).__name__}: {e}\n")
        code = 1
    except SystemExit as e:  # --help, --version, usage
        code = e.code if isinstance(e.code, int) else 1
    # Nothing is left to clean up: skip the interpreter's teardown (~2 ms a command)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

