"""The build context tar, read back with tarfile, and compared with what the real docker
CLI sends to a fake daemon (skipped without the docker CLI)."""

from __future__ import annotations

import io
import json
import os
import shutil
import socketserver
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from ketch.errors import InvalidParameter
from ketch.util.buildcontext import (
    check_context,
    context_from_local_dir,
    daemon_removals,
    random_dockerfile_name,
    trim_build_files,
    write_context,
)

Entry = tuple[str, bytes, int, int, int, str, int, bytes]


def make_tree(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "sub").mkdir()
    (root / "Dockerfile").write_text("FROM busybox\n")
    (root / "sub" / "Dockerfile.dev").write_text("FROM scratch\n")
    (root / ".dockerignore").write_text(
        "# ignore\nnode_modules\n*.log\ndocs\n!docs/keep.md\nDockerfile\n.dockerignore\nsub\n")
    (root / "a" / "b" / "c.txt").write_text("hi\n")
    (root / "a" / "b" / "c.txt").chmod(0o4755)
    (root / "x.log").write_text("x")
    (root / "docs" / "keep.md").write_text("k")
    (root / "docs" / "drop.md").write_text("d")
    (root / "node_modules" / "x" / "y").write_text("y")
    (root / "link").symlink_to("/etc/passwd")
    (root / "dirlink").symlink_to("a")
    os.mkfifo(root / "fifo")
    long = root / ("d" * 80) / ("f" * 90)
    long.parent.mkdir()
    long.write_text("long")
    os.link(root / "a" / "b" / "c.txt", root / "a" / "hard")
    os.utime(root / "x.log", (1_000_000_000, 1_000_000_000))


def entries(data: bytes) -> list[Entry]:
    found = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            name = ".dockerfile.RANDOM" if m.name.startswith(".dockerfile.") else m.name
            content = tar.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
            if m.name == ".dockerignore":
                content = content.replace(content.rsplit(b"\n", 2)[-2], b"RANDOM") \
                    if b".dockerfile." in content else content
            mtime = 0 if name == ".dockerfile.RANDOM" or m.mode == 0o600 else m.mtime
            found.append((name, m.type, m.mode, m.uid, m.gid, m.linkname, mtime, content))
    return found


def ours(context: Path, dockerfile: str | None = None) -> bytes:
    local = context_from_local_dir(str(context), dockerfile)
    out = io.BytesIO()
    content = None
    if local.dockerfile_path is not None:
        content = Path(local.dockerfile_path).read_bytes()
    write_context(local.directory, local.dockerfile, out=out, excludes=local.excludes,
                  dockerfile_content=content)
    return out.getvalue()


def test_context_tar(tmp_path: Path) -> None:
    make_tree(tmp_path)
    names = [e[0] for e in entries(ours(tmp_path))]
    assert names == [  # (tarfile drops the "/" that ends a directory's name)
        ".dockerignore", "Dockerfile", "a", "a/b", "a/b/c.txt", "a/hard",
        "d" * 80, "d" * 80 + "/" + "f" * 90, "dirlink", "docs/keep.md", "fifo", "link"]
    by_name = {e[0]: e for e in entries(ours(tmp_path))}
    assert by_name["a/b/c.txt"][2] == 0o4755
    assert by_name["a/hard"][1] == tarfile.LNKTYPE and by_name["a/hard"][5] == "a/b/c.txt"
    assert by_name["link"][1] == tarfile.SYMTYPE and by_name["link"][5] == "/etc/passwd"
    assert by_name["dirlink"][1] == tarfile.SYMTYPE  # not followed
    assert by_name["fifo"][1] == tarfile.FIFOTYPE
    assert all(e[3] == e[4] == 0 for e in by_name.values())


def test_outside_dockerfile_gets_a_random_name(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "f").write_text("f")
    (tmp_path / "Dockerfile.other").write_text("FROM x\n")
    data = ours(context, str(tmp_path / "Dockerfile.other"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert members[0].name == "f"
        name = members[1].name
        assert name.startswith(".dockerfile.") and len(name) == len(".dockerfile.") + 20
        assert tar.extractfile(members[1]).read() == b"FROM x\n"  # type: ignore[union-attr]
        assert members[1].mode == 0o600
        assert members[2].name == ".dockerignore"
        assert tar.extractfile(members[2]).read() == f".dockerignore\n{name}\n".encode()  # type: ignore[union-attr]


def test_trim_and_daemon_removals() -> None:
    assert trim_build_files(["*"], "Dockerfile") == ["*", "!.dockerignore", "!Dockerfile"]
    assert trim_build_files(["*"], "-", from_stdin=True) == ["*", "!.dockerignore"]
    assert trim_build_files(["x"], "Dockerfile") == ["x"]
    assert daemon_removals(["*"], "Dockerfile") == [".dockerignore", "Dockerfile"]
    assert random_dockerfile_name() != random_dockerfile_name()


def test_errors_are_dockers(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=(
            "^unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
            f"lstat {tmp_path}/Dockerfile: no such file or directory$")):
        context_from_local_dir(str(tmp_path))
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidParameter, match=r"^unable to prepare context: context must be a"):
        context_from_local_dir(str(tmp_path / "f"))
    with pytest.raises(InvalidParameter, match=r"^error checking context: syntax error in"):
        check_context(str(tmp_path), ["["])
    (tmp_path / "dockerfile").write_text("FROM x")  # the lower-case name is found too
    assert context_from_local_dir(str(tmp_path)).dockerfile == "dockerfile"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root to drop to another user")
def test_unreadable_files_as_docker_words_them() -> None:
    top = Path(tempfile.mkdtemp(prefix="ketch-ctx-"))  # pytest's are 0700: nobody can't enter
    try:
        _unreadable_files(top)
    finally:
        shutil.rmtree(top)


def _unreadable_files(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    (context / "secret").mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM x")
    (context / "unreadable").write_text("s")
    os.chmod(tmp_path, 0o755)
    os.chmod(context, 0o755)
    os.chmod(context / "secret", 0)
    os.chmod(context / "unreadable", 0o600)
    script = ("import sys\nfrom ketch.util.buildcontext import context_from_local_dir\n"
              "try:\n    context_from_local_dir(sys.argv[1])\n"
              "except Exception as e:\n    print(e)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(check_context.__code__.co_filename).parents[2]))

    def run() -> str:
        return subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-c", script, str(context)],
            capture_output=True, text=True, env=env, timeout=60).stdout.strip()

    (context / ".dockerignore").write_text("unreadable\n")
    assert run() == f"error checking context: can't stat '{context}/secret'"
    (context / ".dockerignore").write_text("secret\n")  # ignored, but listed: still fails
    assert run() == f"error checking context: can't stat '{context}/secret'"
    os.chmod(context / "secret", 0o755)
    assert run() == f"error checking context: no permission to read from '{context}/unreadable'"
    (context / ".dockerignore").write_text("unreadable\n")
    assert run() == ""


# -- the real docker CLI against a fake daemon ----------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, body: bytes, kind: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Api-Version", "1.41")
        self.send_header("Ostype", "linux")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._reply(b"", "text/plain")

    def do_GET(self) -> None:
        self._reply(b"OK" if self.path.endswith("/_ping") else b"{}")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
        else:
            body = bytearray(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.requests.append((self.path, bytes(body)))  # type: ignore[attr-defined]
        self._reply((json.dumps({"stream": "Successfully built 0123456789ab\n"}) + "\n"
                     + json.dumps({"aux": {"ID": "sha256:" + "0" * 64}}) + "\n").encode())


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    requests: list[tuple[str, bytes]]


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[tuple[_Server, dict[str, str]]]:
    if not shutil.which("docker"):
        pytest.skip("no docker CLI")
    socket = tmp_path / "docker.sock"
    server = _Server(str(socket), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = dict(os.environ, DOCKER_HOST=f"unix://{socket}", DOCKER_BUILDKIT="0",
               DOCKER_CONFIG=str(tmp_path / "config"), DOCKER_CONTENT_TRUST="")
    try:
        yield server, env
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("dockerfile", [None, "sub/Dockerfile.dev", "OUTSIDE"])
def test_same_tar_as_the_docker_cli(tmp_path: Path, fake_daemon: tuple[_Server, dict[str, str]],
                                    dockerfile: str | None) -> None:
    server, env = fake_daemon
    context = tmp_path / "ctx"
    context.mkdir()
    make_tree(context)
    if dockerfile == "OUTSIDE":
        (tmp_path / "Other.dockerfile").write_text("FROM other\n")
        dockerfile = str(tmp_path / "Other.dockerfile")
    elif dockerfile:
        dockerfile = str(context / dockerfile)  # -f is relative to the current directory
    args = ["docker", "build", "-q", *(["-f", dockerfile] if dockerfile else []), str(context)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    path, body = server.requests[-1]
    if local_outside := dockerfile is not None and "Other" in dockerfile:
        # the CLI closes its pipe before the tar writer's Close (ReplaceFileTarWrapper):
        # the last file is not padded and the end-of-archive blocks never come
        assert len(body) % 512 or body[-1024:] != bytes(1024)
        body += bytes(-len(body) % 512 + 1024)
    assert entries(body) == entries(ours(context, dockerfile))
    local = context_from_local_dir(str(context), dockerfile)
    assert local.outside is local_outside
    sent = "dockerfile=" + (".dockerfile." if local.outside else
                            local.dockerfile.replace("/", "%2F"))
    assert sent in path
