"""`cp` against a private ketchd: the archive API (HEAD/GET/PUT), the ketch CLI and the real
docker CLI, in both directions, for running and stopped containers, and hostile input.

The daemon's data root is a small tmpfs, so that a decompression bomb meets the store's
free-space limit in well under a second. A canary directory on the host stands for
everything a container must never reach; containers that want to reach it make symlinks
to its host path (and to `/`, and to `../../..`), and one swaps such a symlink with a
directory in a loop while we copy in and out.
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import socket
import subprocess
import tarfile
import time
from base64 import b64decode
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from support.daemon import Ketchd, running_ketchd

pytestmark = pytest.mark.integration

KETCH = "/opt/ketch/bin/ketch"
TMPFS_MB = 448
SECRET = b"host secret\n"


# -- helpers ----------------------------------------------------------------------------


class _Unix(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(60)
        self.sock.connect(self._path)


def call(kd: Ketchd, method: str, path: str, body: bytes | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    conn = _Unix(str(kd.socket))
    try:
        conn.request(method, "/v1.44" + path, body=body,
                     headers={"Content-Type": "application/x-tar"} if body is not None else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def archive_url(container: str, path: str, **query: str) -> str:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"/containers/{container}/archive?path={quote(path)}{extra}"


def stat_of(kd: Ketchd, container: str, path: str) -> tuple[int, dict[str, object]]:
    status, headers, _ = call(kd, "HEAD", archive_url(container, path))
    raw = headers.get("x-docker-container-path-stat")
    return status, json.loads(b64decode(raw)) if raw else {}


def members(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """name -> (header, content) of a tar (names as written, dirs with their "/")."""
    found: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        for info in tar:
            content = b""
            if info.isreg():
                f = tar.extractfile(info)
                content = f.read() if f else b""
            found[info.name + ("/" if info.isdir() and info.name != "/" else "")] = \
                (info, content)
    return found


def fetch(kd: Ketchd, container: str, path: str) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    status, _, body = call(kd, "GET", archive_url(container, path))
    assert status == 200, body
    return members(body)


def make_tar(*entries: tuple[str, str, bytes | str]) -> bytes:
    """(name, kind, data-or-linkname) with kind in file/dir/symlink/link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            info.uid, info.gid = 4321, 8765
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind in ("symlink", "link"):
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = str(data)
            else:
                assert isinstance(data, bytes)
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)  # type: ignore[arg-type]
    return out.getvalue()


def run(kd: Ketchd, *argv: str, stdin: bytes = b"", cwd: Path | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(argv), input=stdin, capture_output=True, env=kd.env(),
                          cwd=cwd, timeout=60, check=False)


def cli(kd: Ketchd, which: str, *args: str, stdin: bytes = b"", cwd: Path | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    return run(kd, KETCH if which == "ketch" else "docker", *args, stdin=stdin, cwd=cwd)


def err(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stderr.decode().strip()


def start(kd: Ketchd, name: str, script: str, *flags: str) -> None:
    """A running busybox container that runs script, then `touch /ready` and sleeps."""
    proc = cli(kd, "docker", "run", "-d", "--name", name, *flags, "busybox", "sh", "-c",
               f"{script}\ntouch /ready\nexec sleep 1000")
    assert proc.returncode == 0, err(proc)
    deadline = time.monotonic() + 10
    while stat_of(kd, name, "/ready")[0] != 200:
        assert time.monotonic() < deadline, "container did not get ready"
        time.sleep(0.05)


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host's canary: nothing may ever read it or write next to it."""
    path = tmp_path_factory.mktemp("host-canary")
    (path / "canary").write_bytes(SECRET)
    return path


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory, host_dir: Path) -> Iterator[Ketchd]:
    top = tmp_path_factory.mktemp("ketchd-cp")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(top)],
                   check=True)
    try:
        with running_ketchd(top) as daemon:
            start(daemon, "src", f"""
mkdir -p /d/sub {host_dir}
echo a > /d/a
echo b > /d/sub/b
ln -s a /d/la
ln /d/a /d/hl
ln -s /d /ld
ln -s ../../../.. /d/up
mkfifo /d/fifo
chmod 0750 /d/sub
chmod 4711 /d/a
chown 1234:5678 /d/sub/b
echo container > {host_dir}/canary
ln -s {host_dir} /abs
ln -s ../../../../../../../..{host_dir} /esc
ln -s / /rootlink""")
            yield daemon
    finally:
        subprocess.run(["umount", "-l", str(top)], check=False, capture_output=True)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


def assert_host_untouched(host_dir: Path) -> None:
    assert sorted(os.listdir(host_dir)) == ["canary"]
    assert (host_dir / "canary").read_bytes() == SECRET


# -- the API ----------------------------------------------------------------------------


def test_stat_is_dockers_path_stat(kd: Ketchd) -> None:
    status, st = stat_of(kd, "src", "/d/a")
    assert status == 200
    assert st["name"] == "a" and st["size"] == 2 and st["linkTarget"] == ""
    assert st["mode"] == (1 << 23) | 0o711  # Go's os.FileMode: ModeSetuid | perm
    assert str(st["mtime"]).endswith("Z") and "T" in str(st["mtime"])
    assert stat_of(kd, "src", "/d/sub")[1]["mode"] == (1 << 31) | 0o750  # ModeDir
    assert stat_of(kd, "src", "/d/fifo")[1]["mode"] == (1 << 25) | 0o644  # ModeNamedPipe
    link = stat_of(kd, "src", "/d/la")[1]
    assert link["mode"] == (1 << 27) | 0o777 and link["linkTarget"] == "/d/a"
    assert stat_of(kd, "src", "/d/up")[1]["linkTarget"] == "/"  # ../.. stops at the root
    assert stat_of(kd, "src", "/ld/")[1]["name"] == "ld"  # followed: the directory
    assert int(str(stat_of(kd, "src", "/ld/")[1]["mode"])) & (1 << 31)
    assert stat_of(kd, "src", "/d/.")[1]["name"] == "."
    assert stat_of(kd, "src", "/")[1]["name"] == "/"
    assert stat_of(kd, "src", "/nope")[0] == 404
    assert stat_of(kd, "src", "/d/a/")[0] == 400


def test_api_errors(kd: Ketchd) -> None:
    cases = {
        archive_url("src", "/nope/x"): (404, "Could not find the file /nope/x in container src"),
        archive_url("src", "/d/a/"): (400, "lstat /d/a/: not a directory"),
        archive_url("src", "/d/a/x"): (400, "lstat /d/a/x: not a directory"),
        "/containers/src/archive": (400, "bad parameter: pathcannot be empty"),
        archive_url("nosuch", "/"): (404, "No such container: nosuch"),
    }
    for url, (code, message) in cases.items():
        status, _, body = call(kd, "GET", url)
        assert (status, json.loads(body)["message"]) == (code, message), url
    status, _, body = call(kd, "PUT", archive_url("src", "/d/a"), make_tar(("f", "file", b"")))
    assert (status, json.loads(body)["message"]) == (400, "extraction point is not a directory")
    status, _, body = call(kd, "PUT", archive_url("src", "/nope"), make_tar(("f", "file", b"")))
    assert (status, json.loads(body)["message"]) == (
        404, "Could not find the file /nope in container src")
    assert call(kd, "PUT", archive_url("src", "/tmp"), b"")[0] == 200  # no archive: no-op


def test_archive_entries_are_named_as_docker_names_them(kd: Ketchd) -> None:
    d = fetch(kd, "src", "/d")
    assert sorted(d) == ["d/", "d/a", "d/fifo", "d/hl", "d/la", "d/sub/", "d/sub/b", "d/up"]
    assert d["d/hl"][0].islnk() and d["d/hl"][0].linkname == "d/a"
    assert d["d/la"][0].linkname == "a" and d["d/up"][0].linkname == "../../../.."
    assert (d["d/sub/b"][0].uid, d["d/sub/b"][0].gid) == (1234, 5678)
    assert d["d/a"][0].mode == 0o4711 and d["d/a"][1] == b"a\n"
    assert sorted(fetch(kd, "src", "/d/."))[:2] == ["./", "./a"]  # the contents
    assert "ld/sub/b" in fetch(kd, "src", "/ld/")  # followed, named as asked
    only = fetch(kd, "src", "/ld")
    assert list(only) == ["ld"] and only["ld"][0].issym()
    _, headers, _ = call(kd, "GET", archive_url("src", "/d/a"))
    assert json.loads(b64decode(headers["x-docker-container-path-stat"]))["name"] == "a"
    assert headers["content-type"] == "application/x-tar"


# -- cp out -----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["ketch", "docker"])
def test_cp_out(kd: Ketchd, work: Path, which: str) -> None:
    ok = cli(kd, which, "cp", "src:/d/sub", "newdir", cwd=work)  # a new name
    assert ok.returncode == 0, err(ok)
    assert (work / "newdir" / "b").read_text() == "b\n"
    assert (work / "newdir").stat().st_mode & 0o777 == 0o750
    (work / "into").mkdir()
    assert cli(kd, which, "cp", "src:/d/sub", "into", cwd=work).returncode == 0
    assert (work / "into" / "sub" / "b").is_file()
    (work / "contents").mkdir()
    assert cli(kd, which, "cp", "src:/d/sub/.", "contents", cwd=work).returncode == 0
    assert os.listdir(work / "contents") == ["b"]
    (work / "file").write_text("old")
    assert cli(kd, which, "cp", "src:/d/a", "file", cwd=work).returncode == 0
    assert (work / "file").read_text() == "a\n"
    assert (work / "file").stat().st_mode & 0o7777 == 0o4711
    assert cli(kd, which, "cp", "src:/d/la", "link", cwd=work).returncode == 0
    assert os.readlink(work / "link") == "a"
    assert cli(kd, which, "cp", "-L", "src:/d/la", "followed", cwd=work).returncode == 0
    assert (work / "followed").read_text() == "a\n"
    streamed = cli(kd, which, "cp", "src:/d/sub", "-")
    assert streamed.returncode == 0 and streamed.stderr == b""
    assert sorted(members(streamed.stdout)) == ["sub/", "sub/b"]
    # on the host the files are the caller's, -a or not (the docker CLI never chowns)
    assert (work / "newdir" / "b").stat().st_uid == 0
    assert cli(kd, which, "cp", "-a", "src:/d/sub/b", "owned", cwd=work).returncode == 0
    assert ((work / "owned").stat().st_uid, (work / "owned").stat().st_gid) == (0, 0)


@pytest.mark.parametrize("which", ["ketch", "docker"])
def test_cp_out_errors(kd: Ketchd, work: Path, which: str) -> None:
    (work / "file").write_text("x")
    (work / "dir" / "a").mkdir(parents=True)
    (work / "has").mkdir()
    (work / "has" / "sub").write_text("x")
    expected = {
        ("src:/nope", "x"): "Error response from daemon: Could not find the file /nope in "
                            "container src",
        ("src:/d/a/", "x"): "Error response from daemon: lstat /d/a/: not a directory",
        ("src:/d", "file"): "cannot copy directory",
        ("src:/d/a", "nodir/"): "no such directory",
        ("src:/d/a", "missing/x"): f'invalid output path: directory "{work}/missing" does '
                                   "not exist",
        ("src:/d/a", "dir"): f'cannot overwrite directory "{work}/dir/a" with non-directory '
                             f'"{work}/dir"',
        ("src:/d/sub", "has"): f'cannot overwrite non-directory "{work}/has/sub" with '
                               f'directory "{work}/has"',
        ("src:/d", "d2"): f'invalid symlink "{work}/d2/up" -> "../../../.."',
        ("nosuch:/", "x"): "Error response from daemon: No such container: nosuch",
        ("src:/a", "src:/b"): "copying between containers is not supported",
        ("a", "b"): "must specify at least one container source",
        ("", "src:/x"): "source can not be empty",
    }
    for (source, dest), message in expected.items():
        proc = cli(kd, which, "cp", source, dest, cwd=work)
        # the docker CLI's own tar goroutine may log a 'closed pipe' line after a
        # client-side error (a race in the CLI, seen against dockerd too): skip logrus lines
        lines = [line for line in err(proc).splitlines() if not line.startswith('time="')]
        assert (proc.returncode, lines[-1]) == (1, message), (source, dest)
    usage = cli(kd, which, "cp", "src:/d/a")
    assert usage.returncode == 1 and f"'{which} cp' requires 2 arguments" in err(usage)


def test_progress_line_on_a_terminal(kd: Ketchd, work: Path) -> None:
    for which in ("ketch", "docker"):
        proc = run(kd, "script", "-qec", f"{KETCH if which == 'ketch' else 'docker'} cp "
                   f"src:/d/a {work}/{which}", "/dev/null")
        assert proc.stdout.decode().strip() == f"Successfully copied 2.05kB to {work}/{which}"
        quiet = run(kd, "script", "-qec", f"{KETCH} cp -q src:/d/a {work}/q", "/dev/null")
        assert quiet.stdout == b""


# -- cp in ------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["ketch", "docker"])
def test_cp_in(kd: Ketchd, work: Path, which: str) -> None:
    name = f"in-{which}"
    assert cli(kd, "docker", "create", "--name", name, "busybox", "true").returncode == 0
    (work / "tree" / "sub").mkdir(parents=True)
    (work / "tree" / "sub" / "f").write_text("f\n")
    (work / "tree" / "link").symlink_to("sub/f")
    os.link(work / "tree" / "sub" / "f", work / "tree" / "hard")
    (work / "one").write_text("one\n")
    os.chown(work / "one", 1111, 2222)
    os.chmod(work / "one", 0o640)
    for args in (("one", f"{name}:/tmp"), ("one", f"{name}:/tmp/renamed"),
                 ("tree", f"{name}:/tree"), ("tree/.", f"{name}:/tmp"),
                 ("-a", "one", f"{name}:/kept")):
        proc = cli(kd, which, "cp", *args, cwd=work)
        assert proc.returncode == 0, (args, err(proc))
    got = fetch(kd, name, "/")
    assert got["/tmp/one"][1] == b"one\n" and got["/tmp/renamed"][1] == b"one\n"
    # as dockerd: the archive's owners stay, and -a with no container user changes nothing
    assert (got["/tmp/one"][0].uid, got["/tmp/one"][0].gid) == (1111, 2222)
    assert got["/tmp/one"][0].mode == 0o640
    assert (got["/kept"][0].uid, got["/kept"][0].gid) == (1111, 2222)
    assert got["/tree/link"][0].issym() and got["/tree/link"][0].linkname == "sub/f"
    assert got["/tree/hard"][1] == b"f\n"  # the first name of the inode carries the data
    assert got["/tree/sub/f"][0].islnk() and got["/tree/sub/f"][0].linkname == "/tree/hard"
    assert "/tmp/sub/f" in got and "/tmp/link" in got  # "tree/." copied the contents
    assert got["/tmp/"][0].mode == 0o1777  # and left /tmp's own mode alone
    # a tar on stdin, into a directory
    proc = cli(kd, which, "cp", "-", f"{name}:/tmp",
               stdin=make_tar(("streamed", "file", b"s\n")))
    assert proc.returncode == 0, err(proc)
    assert fetch(kd, name, "/tmp/streamed")["streamed"][1] == b"s\n"


@pytest.mark.parametrize("which", ["ketch", "docker"])
def test_cp_in_errors(kd: Ketchd, work: Path, which: str) -> None:
    name = f"bad-{which}"
    assert cli(kd, "docker", "create", "--name", name, "busybox", "true").returncode == 0
    assert cli(kd, "docker", "create", "--read-only", "--name", f"ro-{which}", "busybox",
               "true").returncode == 0
    (work / "f").write_text("f")
    (work / "d").mkdir()
    expected = {
        ("f", f"{name}:/nope/x"): f"Error response from daemon: Could not find the file /nope "
                                  f"in container {name}",
        ("f", f"{name}:/etc/passwd/x"): "Error response from daemon: extraction point is not "
                                        "a directory",
        ("d", f"{name}:/etc/passwd"): "cannot copy directory",
        ("f", f"{name}:/newdir/"): "no such directory",
        ("missing", f"{name}:/tmp"): f"lstat {work}/missing: no such file or directory",
        ("f", f"ro-{which}:/tmp"): "Error response from daemon: container rootfs is marked "
                                   "read-only",
        ("-", f"{name}:/etc/passwd"): f'destination "{name}:/etc/passwd" must be a directory',
        ("-", f"{name}:/nope"): f'destination "{name}:/nope" must be a directory',
    }
    for (source, dest), message in expected.items():
        proc = cli(kd, which, "cp", source, dest, cwd=work)
        # the docker CLI's own tar goroutine may log a 'closed pipe' line after a
        # client-side error (a race in the CLI, seen against dockerd too): skip logrus lines
        lines = [line for line in err(proc).splitlines() if not line.startswith('time="')]
        assert (proc.returncode, lines[-1]) == (1, message), (source, dest)


def test_a_running_container_sees_what_is_copied_in(kd: Ketchd, work: Path) -> None:
    start(kd, "watcher", "( while [ ! -f /in/note ]; do sleep 0.05; done; cat /in/note; "
                         "echo seen > /out ) &")
    (work / "in").mkdir()
    (work / "in" / "note").write_text("hello from the host\n")
    assert cli(kd, "ketch", "cp", "in", "watcher:/", cwd=work).returncode == 0
    deadline = time.monotonic() + 10
    while stat_of(kd, "watcher", "/out")[0] != 200:
        assert time.monotonic() < deadline, "the container never saw the file"
        time.sleep(0.05)
    assert cli(kd, "docker", "logs", "watcher").stdout == b"hello from the host\n"
    assert fetch(kd, "watcher", "/out")["out"][1] == b"seen\n"
    cli(kd, "docker", "rm", "-f", "watcher")


def test_stopped_and_unmounted_containers(kd: Ketchd, work: Path) -> None:
    """Created, exited, and created-after-a-reboot (snapshot not mounted): all work, and
    a snapshot mounted for the copy is unmounted again."""
    assert cli(kd, "docker", "run", "--name", "exited", "busybox", "sh", "-c",
               "echo bye > /bye").returncode == 0
    assert cli(kd, "docker", "create", "--name", "cold", "busybox", "true").returncode == 0
    cid = json.loads(cli(kd, "docker", "inspect", "cold").stdout)[0]["Id"]
    merged = kd.data_root / "overlay" / cid / "merged"
    assert subprocess.run(["umount", str(merged)], check=False).returncode == 0
    (work / "f").write_text("f\n")
    for name in ("exited", "cold"):
        assert cli(kd, "ketch", "cp", "f", f"{name}:/f", cwd=work).returncode == 0
        out = cli(kd, "ketch", "cp", f"{name}:/f", "-")
        assert members(out.stdout)["f"][1] == b"f\n"
    assert fetch(kd, "exited", "/bye")["bye"][1] == b"bye\n"
    assert not os.path.ismount(merged)
    assert cli(kd, "docker", "start", "-a", "cold").returncode == 0  # still starts


# -- hostile containers and archives ------------------------------------------------------


def test_symlinks_out_of_the_container_are_read_inside_it(kd: Ketchd, host_dir: Path,
                                                          work: Path) -> None:
    for path in ("/abs/canary", "/esc/canary", "/rootlink" + str(host_dir) + "/canary",
                 "/d/up" + str(host_dir) + "/canary"):
        assert fetch(kd, "src", path)["canary"][1] == b"container\n", path
    for which in ("ketch", "docker"):
        out = cli(kd, which, "cp", "src:/abs/canary", "-")
        assert members(out.stdout)["canary"][1] == b"container\n"
        assert cli(kd, which, "cp", "-L", "src:/abs", "copied", cwd=work).returncode == 0
        assert (work / "copied" / "canary").read_bytes() == b"container\n"
        (work / "copied" / "canary").unlink()
        (work / "copied").rmdir()
    assert_host_untouched(host_dir)


def test_copies_through_symlinks_land_inside_the_container(kd: Ketchd, host_dir: Path,
                                                           work: Path) -> None:
    for path in ("/abs", "/esc", "/rootlink" + str(host_dir)):
        status, _, body = call(kd, "PUT", archive_url("src", path),
                               make_tar(("pwned", "file", b"x")))
        assert status == 200, body
    (work / "pwned2").write_text("y")
    for which in ("ketch", "docker"):
        assert cli(kd, which, "cp", "pwned2", "src:/abs", cwd=work).returncode == 0
        assert cli(kd, which, "cp", "pwned2", "src:/esc/", cwd=work).returncode == 0
    inside = fetch(kd, "src", str(host_dir))
    assert f"{host_dir.name}/pwned" in inside and f"{host_dir.name}/pwned2" in inside
    assert_host_untouched(host_dir)


def test_hostile_archives_are_refused(kd: Ketchd, host_dir: Path) -> None:
    up = "../" * 12 + str(host_dir).lstrip("/")
    cases = [
        (make_tar((f"{up}/evil", "file", b"x")), "path escapes"),
        (make_tar(("/abs-evil", "file", b"x")), "absolute path"),
        (make_tar(("lnk", "symlink", str(host_dir)), ("lnk/evil", "file", b"x")),
         "a parent is a symlink"),
        (make_tar(("lnk2", "symlink", "/"), ("lnk2/tmp/evil", "file", b"x")),
         "a parent is a symlink"),
        (make_tar(("hard", "link", f"{up}/canary")), "path escapes"),
        (make_tar(("out", "symlink", "../../../../etc")), 'invalid symlink "/tmp/out"'),
    ]
    for data, words in cases:
        status, _, body = call(kd, "PUT", archive_url("src", "/tmp"), data)
        assert status == 400 and words in json.loads(body)["message"], body
    assert_host_untouched(host_dir)
    listing = fetch(kd, "src", "/tmp")
    assert not any("evil" in name for name in listing)


def test_symlink_exchange_race(kd: Ketchd, host_dir: Path) -> None:
    """The container swaps /x and /y between a directory and a symlink to the canary's
    host path (absolute, and climbing with ../) as fast as it can, while we copy in and
    out of them: nothing is ever read from or written to the host. (Were it broken, the
    writes would land in the canary's directory, nowhere else.)"""
    start(kd, "racer", f"""
( while true; do
    rm -rf /x; ln -s {host_dir} /x; rm -f /x; mkdir /x; echo inside > /x/canary
    rm -rf /y; ln -s ../../../../../..{host_dir} /y; rm -f /y; mkdir /y
  done ) &""")
    payload = make_tar(("pwned", "file", b"x"))
    through = make_tar(("y/", "dir", b""), ("y/pwned", "file", b"x"))
    rounds = {"out": 0, "in": 0}
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and sum(rounds.values()) < 400:
        for path in ("/x/canary", "/x", "/x/"):
            status, _, body = call(kd, "GET", archive_url("racer", path))
            if status == 200:
                rounds["out"] += 1
                for _, content in members(body).values():
                    assert content in (b"", b"inside\n", b"x"), content  # ours or its own
        for path, data in (("/x", payload), ("/y", payload), ("/", through),
                           ("/x/", payload)):
            status, _, _ = call(kd, "PUT", archive_url("racer", path), data)
            rounds["in"] += status == 200
    assert rounds["out"] > 5 and rounds["in"] > 5, rounds
    assert_host_untouched(host_dir)
    cli(kd, "docker", "rm", "-f", "racer")


def test_decompression_bomb(kd: Ketchd) -> None:
    """2 GiB of zeros in ~2 MB of gzip: the extraction stops at the store's limits with one
    clear line, long before the daemon's filesystem is full."""
    header = tarfile.TarInfo("bomb")
    header.size = 2 << 30
    chunk = gzip.compress(b"\0" * (1 << 20))
    body = gzip.compress(header.tobuf(tarfile.PAX_FORMAT)) + chunk * 2048 + \
        gzip.compress(b"\0" * 1024)
    assert len(body) < 4 << 20
    began = time.monotonic()
    status, _, answer = call(kd, "PUT", archive_url("src", "/tmp"), body)
    message = json.loads(answer)["message"]
    assert status in (400, 500) and ("space" in message or "bomb" in message), message
    assert time.monotonic() - began < 20
    free = os.statvfs(kd.top)
    assert free.f_bavail * free.f_frsize > 150 << 20  # stopped well before full
    assert stat_of(kd, "src", "/d/a")[0] == 200  # and the daemon serves on


def test_early_answer_to_a_big_upload(kd: Ketchd) -> None:
    """The daemon refuses before reading a large body: the client hears why."""
    from ketch.client import Client
    from ketch.client.errors import APIError

    zeros = make_tar(("big", "file", b"\0" * (32 << 20)))
    client = Client(kd.host)
    with pytest.raises(APIError) as refused:
        client.put_archive("src", "/nope", io.BytesIO(zeros))
    assert refused.value.status == 404 and "Could not find the file /nope" in str(refused.value)
    client.close()


def test_the_daemon_logged_no_traceback(kd: Ketchd) -> None:
    """Every failure above was an answer, none a crash (runs last: it reads the log)."""
    assert "Traceback" not in kd.log.read_text()


@pytest.mark.parametrize("which", ["ketch", "docker"])
def test_cp_in_archive_mode_gives_files_to_the_container_user(
        kd: Ketchd, work: Path, which: str) -> None:
    """-a: owned by the container's user, its name read from the container's passwd."""
    name = f"user-{which}"
    assert cli(kd, "docker", "create", "--name", name, "--user", "nobody", "busybox",
               "true").returncode == 0
    (work / "f").write_text("x")
    os.chown(work / "f", 1111, 2222)
    assert cli(kd, which, "cp", "-a", "f", f"{name}:/tmp/f", cwd=work).returncode == 0
    got = fetch(kd, name, "/tmp/f")
    assert (got["f"][0].uid, got["f"][0].gid) == (65534, 65534)
    assert cli(kd, "docker", "create", "--name", f"{name}-x", "--user", "ghost", "busybox",
               "true").returncode == 0
    proc = cli(kd, which, "cp", "-a", "f", f"{name}-x:/tmp/f", cwd=work)
    assert proc.returncode == 1 and b"unable to find user ghost" in proc.stderr
