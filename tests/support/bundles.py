"""OCI bundles of busybox and a private `ketch-runtime` root, for integration tests.

Tests build a config.json like crun's Python tests do, run a small busybox
program inside with the real `ketch-runtime` command, and assert on what it saw.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from ketch.runtime.specgen import default_spec

RUNTIME = [sys.executable, "-m", "ketch.runtime"]


class Runtime:
    """`ketch-runtime --root <private root>`, remembering what it created."""

    def __init__(self, root: Path, command: list[str] | None = None) -> None:
        self.root = root
        self.ids: list[str] = []
        # how to start the runtime: `python -m ketch.runtime` unless a test needs another way
        self.command = list(RUNTIME if command is None else command)

    def new_id(self) -> str:
        cid = f"t-{uuid.uuid4().hex[:12]}"
        self.ids.append(cid)
        return cid

    def __call__(self, *args: str, check: bool = False, timeout: float = 30,
                 **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run the runtime; output goes through files, not pipes, because a detached
        container inherits the runtime's stdio and would hold a pipe open."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run([*self.command, "--root", str(self.root), *args], stdout=out,
                                  stderr=err, timeout=timeout, check=False, **kwargs)
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(proc.args, proc.returncode,
                                                 out.read().decode(), err.read().decode())
        if check and result.returncode != 0:
            raise AssertionError(f"ketch-runtime {' '.join(args)} failed "
                                 f"({result.returncode}): {result.stderr}")
        return result

    def state(self, cid: str) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self("state", cid, check=True).stdout)
        return state

    def leftovers(self) -> list[str]:
        """What the runtime root holds (nothing, after a failed create)."""
        return sorted(os.listdir(self.root)) if self.root.exists() else []

    def cleanup(self) -> None:
        for cid in self.ids:
            self("delete", "--force", cid)


class Bundle:
    """A bundle directory: busybox rootfs plus a config.json built in Python."""

    def __init__(self, path: Path, rootfs_template: Path) -> None:
        self.path = path
        self.rootfs = path / "rootfs"
        shutil.copytree(rootfs_template, self.rootfs, symlinks=True)
        self.config: dict[str, Any] = default_spec()
        self.config["process"]["terminal"] = False
        self.config["root"]["readonly"] = False

    @property
    def process(self) -> dict[str, Any]:
        process: dict[str, Any] = self.config["process"]
        return process

    @property
    def linux(self) -> dict[str, Any]:
        linux: dict[str, Any] = self.config["linux"]
        return linux

    def args(self, *args: str) -> Bundle:
        self.process["args"] = list(args)
        return self

    def sh(self, script: str) -> Bundle:
        return self.args("sh", "-c", script)

    def write(self) -> Path:
        (self.path / "config.json").write_text(json.dumps(self.config))
        return self.path


def run(runtime: Runtime, bundle: Bundle, *extra: str,
        **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`ketch-runtime run` the bundle in the foreground."""
    bundle.write()
    return runtime("run", *extra, "--bundle", str(bundle.path), runtime.new_id(), **kwargs)
