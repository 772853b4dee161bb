"""A private ketchd for integration tests: own data root, exec root and socket."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSYBOX_TAR = Path(os.environ.get("KETCH_BASE_IMAGES", "/var/cache/ketch/base")) / "busybox.tar"


class Ketchd:
    def __init__(self, top: Path, config: dict[str, object] | None = None) -> None:
        self.top = top
        self.data_root = top / "data"
        self.exec_root = top / "exec"
        self.socket = top / "ketch.sock"
        self.log = top / "ketchd.log"
        self.config = top / "daemon.json"
        config = dict(config or {})
        # its own default bridge (which also names its nftables table): daemons side by
        # side, and the machine's own ketchd, never share a network
        self.bridge = str(config.setdefault("bridge", "kt" + hashlib.sha256(
            str(top).encode()).hexdigest()[:10]))
        self.config.write_text(json.dumps(config))  # daemon.json settings
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "KETCH_HOST": self.host,
                "KETCH_NO_AUTOSTART": "1", "DOCKER_CLI_HINTS": "false"}

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from ketch.api.daemon import main; main()",
                 "-H", self.host, "--data-root", str(self.data_root),
                 "--exec-root", str(self.exec_root), "--config-file", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ketchd exited: {self.log.read_text()[-2000:]}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"ketchd did not answer: {self.log.read_text()[-2000:]}")

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(str(self.socket))
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def supervisor_pid(self) -> int | None:
        path = self.exec_root / "supervisor.sock"
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(str(path))
                s.sendall(b'{"op": "ping"}\n')
                return int(json.loads(s.recv(4096))["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def stop(self) -> None:
        """Everything this daemon started ends, by pid; mounts go; files go."""
        subprocess.run(["docker", "rm", "-f", *self.container_ids()], env=self.env(),
                       capture_output=True, check=False, timeout=60)
        sup = self.supervisor_pid()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if sup:
            os.kill(sup, signal.SIGKILL)
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            point = line.split()[4]
            if point.startswith(str(self.top)):
                subprocess.run(["umount", "-l", point], check=False)
        for name in self.interfaces():  # its bridges stay after it, as Docker's do
            subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", f"ketch-{self.bridge}"], check=False,
                       capture_output=True)
        shutil.rmtree(self.top, ignore_errors=True)

    def interfaces(self) -> list[str]:
        """The host interfaces this daemon made (marked with an alias)."""
        found = []
        for name in os.listdir("/sys/class/net"):
            try:
                alias = Path(f"/sys/class/net/{name}/ifalias").read_text().strip()
            except OSError:
                continue
            if alias == f"ketch:{self.bridge}":
                found.append(name)
        return found

    def nft_table(self) -> str:
        """ketch's nftables table of this daemon, as `nft list` prints it ("" if none)."""
        proc = subprocess.run(["nft", "list", "table", "ip", f"ketch-{self.bridge}"],
                              capture_output=True, text=True, check=False)
        return proc.stdout if proc.returncode == 0 else ""

    def container_ids(self) -> list[str]:
        proc = subprocess.run(["docker", "ps", "-aq"], env=self.env(), capture_output=True,
                              text=True, check=False, timeout=30)
        return proc.stdout.split()

    def import_busybox(self) -> None:
        subprocess.run(["docker", "import", "-c", 'CMD ["sh"]', str(BUSYBOX_TAR),
                        "busybox:latest"], env=self.env(), capture_output=True, check=True,
                       timeout=60)


def api(ketchd: Ketchd, method: str, path: str, body: bytes = b"",
        headers: str = "") -> tuple[int, bytes]:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(str(ketchd.socket))
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


@contextmanager
def running_ketchd(top: Path, busybox: bool = True,
                   config: dict[str, object] | None = None) -> Iterator[Ketchd]:
    """A private ketchd in `top` (with busybox:latest imported unless told not to, and
    config as its daemon.json), stopped and cleaned up afterwards."""
    daemon = Ketchd(top, config)
    daemon.start()
    try:
        if busybox:
            daemon.import_busybox()
        yield daemon
    finally:
        daemon.stop()


def docker(ketchd: Ketchd, *args: str, timeout: float = 30,
           **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The real docker CLI against `ketchd`."""
    kwargs.setdefault("env", ketchd.env())
    return subprocess.run(["docker", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have succeeded (its stderr if it did not)."""
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def load_bytes(kd: Ketchd, data: bytes) -> tuple[int, str]:
    """POST /images/load. dockerd answers a refused load 200, the error the stream's
    last message: that comes back here as (400, {"message": error}) for the checks."""
    status, body = api(kd, "POST", "/images/load", data,
                       headers="Content-Type: application/x-tar\r\n")
    text = body.decode(errors="replace")
    messages = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    if status == 200 and messages and "errorDetail" in messages[-1]:
        assert len(messages) == 1, text  # nothing loaded before the error
        return 400, json.dumps({"message": messages[-1]["error"]})
    return status, text
