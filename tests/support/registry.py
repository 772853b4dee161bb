"""A real registry for tests: Debian's docker-registry (the CNCF distribution registry)
on a free loopback port, with its own storage and config; optionally htpasswd basic
auth, or bearer tokens from a token server the test runs (config passed in). Stopped by
pid, its files removed."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support.web import free_port

REGISTRY = "/usr/bin/docker-registry"
HTPASSWD = "/usr/bin/htpasswd"


class Registry:
    def __init__(self, top: Path, *, users: dict[str, str] | None = None,
                 token: dict[str, Any] | None = None) -> None:
        self.top = top
        top.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"  # what a reference names: 127.0.0.1:PORT/repo
        self.users = users or {}
        auth: dict[str, Any] = {}
        if self.users:
            htpasswd = top / "htpasswd"
            htpasswd.write_text("")
            for user, password in self.users.items():
                subprocess.run([HTPASSWD, "-Bb", str(htpasswd), user, password], check=True,
                               capture_output=True)
            auth = {"htpasswd": {"realm": "ketch-test", "path": str(htpasswd)}}
        elif token:
            auth = {"token": token}
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(top / "data")},
                        "delete": {"enabled": True}},
            "http": {"addr": self.host},
            **({"auth": auth} if auth else {}),
        }
        (top / "config.yml").write_text(json.dumps(config))  # YAML is a superset of JSON
        self.log = top / "registry.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([REGISTRY, "serve", str(top / "config.yml")],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1):
                return True
        except urllib.error.HTTPError as e:
            return e.code == 401  # up, and asking for credentials
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def running_registry(top: Path, **kwargs: Any) -> Iterator[Registry]:
    top.mkdir(parents=True, exist_ok=True)
    registry = Registry(top, **kwargs)
    try:
        yield registry
    finally:
        registry.stop()
