"""`POST /build` against a private ketchd, driven by the ketch CLI, the real docker CLI
(legacy builder) and docker-py: steps, the cache (and its survival of a restart), the
COPY/ADD rules, build args, stages, failures that leave nothing behind, hostile contexts,
and reproducible images under SOURCE_DATE_EPOCH."""

from __future__ import annotations

import io
import json
import os
import signal
import socketserver
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from support.daemon import Ketchd, api, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def ketch(kd: Ketchd, *args: str, cwd: Path | None = None, stdin: bytes = b"",
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ketch", *args], env={**kd.env(), **(env or {})}, cwd=cwd,
                          input=stdin, capture_output=True, timeout=300, check=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(),
                                       proc.stderr.decode())


def context(path: Path, files: dict[str, str | bytes]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return path


def steps(out: str) -> list[str]:
    """The step results: "cache" or "built" for each step after FROM."""
    found = []
    for block in out.split("Step ")[1:]:
        if " : FROM " in block.split("\n")[0]:
            continue
        found.append("cache" if " ---> Using cache" in block else "built")
    return found


def legacy(kd: Ketchd) -> dict[str, str]:
    """The docker CLI's environment for the legacy builder (ketchd has no BuildKit)."""
    return {**kd.env(), "DOCKER_BUILDKIT": "0"}


def run_out(kd: Ketchd, image: str, *cmd: str) -> str:
    return ok(docker_cli(kd, "run", "--rm", "--network", "none", image, *cmd))


def listing(kd: Ketchd) -> tuple[list[str], list[str]]:
    containers = ok(docker_cli(kd, "ps", "-aq")).split()
    images = ok(docker_cli(kd, "images", "-aq", "--no-trunc")).split()
    return containers, images


# -- the build, the cache ----------------------------------------------------------------------


def test_steps_cache_history_and_intermediate_images(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nENV GREETING=hello\nRUN echo $GREETING > /greeting\n"
                      "COPY app.txt /app/\nWORKDIR /app\nCMD [\"cat\", \"/greeting\"]\n",
        "app.txt": "v1\n"})
    first = ketch(kd, "build", "-t", "steps:1", ".", cwd=ctx)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert "Step 1/6 : FROM busybox" in lines and "Step 3/6 : RUN echo $GREETING > /greeting" \
        in lines
    assert any(line.startswith(" ---> Running in ") for line in lines)
    assert lines[-1] == "Successfully tagged steps:1"
    assert steps(first.stdout) == ["built"] * 5
    assert run_out(kd, "steps:1") == "hello\n"
    assert run_out(kd, "steps:1", "sh", "-c", "pwd; cat app.txt") == "/app\nv1\n"

    # all cached the second time, and the same image
    again = ketch(kd, "build", "-t", "steps:1", ".", cwd=ctx)
    assert steps(again.stdout) == ["cache"] * 5
    assert again.stdout.splitlines()[-2] == first.stdout.splitlines()[-2]

    # a change in COPY's source rebuilds from there on, not before
    (ctx / "app.txt").write_text("v2\n")
    changed = ketch(kd, "build", "-t", "steps:2", ".", cwd=ctx)
    assert steps(changed.stdout) == ["cache", "cache", "built", "built", "built"]
    # a new mtime alone is no change
    os.utime(ctx / "app.txt", (1, 1))
    assert steps(ketch(kd, "build", "-t", "steps:2", ".", cwd=ctx).stdout) == ["cache"] * 5
    assert steps(ketch(kd, "build", "--no-cache", "-t", "steps:3", ".", cwd=ctx).stdout) \
        == ["built"] * 5

    history = json.loads(api(kd, "GET", "/images/steps:1/history")[1])
    created_by = [h["CreatedBy"] for h in history]
    assert created_by[:5] == ['/bin/sh -c #(nop)  CMD ["cat" "/greeting"]',
                              "/bin/sh -c #(nop) WORKDIR /app",
                              created_by[2], "/bin/sh -c echo $GREETING > /greeting",
                              "/bin/sh -c #(nop)  ENV GREETING=hello"]
    assert created_by[2].startswith("/bin/sh -c #(nop) COPY file:") and \
        created_by[2].endswith(" in /app/ ")
    assert all(h["Id"].startswith("sha256:") for h in history[:6])  # local parents named
    inspect = json.loads(ok(docker_cli(kd, "image", "inspect", "steps:1")))[0]
    assert inspect["Parent"] == history[1]["Id"]

    # intermediate images: only with -a; removed with the last image that needs them
    shown = ok(docker_cli(kd, "images", "-q", "--no-trunc")).split()
    assert history[1]["Id"] not in shown
    assert history[1]["Id"] in ok(docker_cli(kd, "images", "-aq", "--no-trunc")).split()
    assert history[1]["Id"] not in ok(docker_cli(
        kd, "images", "-q", "--no-trunc", "--filter", "dangling=true")).split()
    for tag in ("steps:1", "steps:2", "steps:3"):
        ok(docker_cli(kd, "rmi", tag))
    left = ok(docker_cli(kd, "images", "-aq", "--no-trunc")).split()
    assert not {h["Id"] for h in history[:5]} & set(left)


def test_cache_survives_a_restart_and_builder_prune_clears_it(tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo one > /one\n"})
    (tmp_path / "kd").mkdir()
    with running_ketchd(tmp_path / "kd") as own:
        assert steps(ketch(own, "build", "-t", "c", ".", cwd=ctx).stdout) == ["built"]
        _restart(own)
        assert steps(ketch(own, "build", "-t", "c", ".", cwd=ctx).stdout) == ["cache"]
        ok(docker_cli(own, "rmi", "c"))
        ok(docker_cli(own, "build", "-t", "c", ".", cwd=ctx,
                      env=legacy(own)))
        pruned = ketch(own, "builder", "prune", "-f")
        assert pruned.returncode == 0 and "Total reclaimed space:" in pruned.stdout
        assert steps(ketch(own, "build", "-t", "c", ".", cwd=ctx).stdout) == ["built"]


def _restart(daemon: Ketchd) -> None:
    assert daemon.proc is not None
    daemon.proc.terminate()
    daemon.proc.wait(20)
    daemon.start()


# -- failures ------------------------------------------------------------------------------------


def test_a_failed_step_leaves_nothing_behind(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN echo fresh > /fresh\nRUN echo doing; exit 3\n"})
    before = listing(kd)
    proc = docker_cli(kd, "build", "--no-cache", ".", cwd=ctx,
                      env=legacy(kd))
    assert proc.returncode == 3  # the failed command's code, as the docker CLI exits
    assert "The command '/bin/sh -c echo doing; exit 3' returned a non-zero code: 3" \
        in proc.stderr
    containers, images = listing(kd)
    assert containers == before[0]
    # the step before it succeeded and is kept for the cache; nothing of the failed one
    assert len(set(images) - set(before[1])) == 1
    for dockerfile, message in (
            ("FROM busybox\nCOPY missing /x\n", "COPY failed: file not found in build "
             "context or excluded by .dockerignore: stat missing: file does not exist"),
            ("FROM busybox AS x\nFROM busybox\nCOPY --from=x /nope /y\n",
             "COPY failed: stat nope: file does not exist"),
            ("FROM 127.0.0.1:1/nosuchbase\n", 'Get "http://127.0.0.1:1/v2/": dial tcp '
             '127.0.0.1:1: connect: connection refused'),  # not here: pulled, and failed
            ("FROM busybox\nCOPY a b c\n", "When using COPY with more than one source file, "
             "the destination must be a directory and end with a /"),
            # refused before any step, with an error status, as Docker's
            ("FROM busybox\nFROBNICATE x\n", "Error response from daemon: dockerfile parse "
             "error on line 2: unknown instruction: FROBNICATE"),
            ("FROM busybox\nENV\n", "Error response from daemon: dockerfile parse error on "
             "line 2: ENV requires at least one argument"),
            ("", "Error response from daemon: the Dockerfile (Dockerfile) cannot be empty"),
            ("# nothing\n", "Error response from daemon: failed to parse Dockerfile: file "
             "with no instructions")):
        (ctx / "Dockerfile").write_text(dockerfile)
        (ctx / "a").write_text("a")
        (ctx / "b").write_text("b")
        proc = ketch(kd, "build", ".", cwd=ctx)
        assert proc.returncode == 1, dockerfile
        assert proc.stderr.strip().splitlines()[-1] == message, dockerfile
        assert "Traceback" not in proc.stderr
    assert listing(kd)[0] == before[0]
    missing = ketch(kd, "build", "-f", "nope.Dockerfile", ".", cwd=ctx)
    assert missing.returncode == 1 and "nope.Dockerfile" in missing.stderr


def test_bad_requests_are_refused_before_any_work(kd: Ketchd) -> None:
    for query, message in (("t=Bad%20Name", b"invalid reference format"),
                           ("buildargs=[1]", b"invalid buildargs"),
                           ("version=2", b"BuildKit"),
                           ("buildargs=%7B%22SOURCE_DATE_EPOCH%22:%22x%22%7D",
                            b"invalid SOURCE_DATE_EPOCH")):
        status, body = api(kd, "POST", f"/v1.41/build?{query}", b"")
        assert status == 400 and message in body, (query, body)
    status, body = api(kd, "POST", "/v1.41/build", b"not a tar, not a Dockerfile\x00\xff")
    assert status == 400 and b"not UTF-8" in body


# -- COPY and ADD --------------------------------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_copy_and_add_rules(kd: Ketchd, tmp_path: Path) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("packed/inner.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"inner\n"))
    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.txt").write_text("from the web\n")
    handler = lambda *a: _Quiet(*a, directory=str(served))  # noqa: E731
    server = socketserver.TCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/remote.txt"
    try:
        ctx = context(tmp_path / "ctx", {
            "Dockerfile": f"""FROM busybox AS base
RUN mkdir -p /made && echo stage > /made/s
FROM busybox
WORKDIR /work
RUN mkdir /existing-dir
COPY dir /contents/
COPY dir/one.txt renamed.txt
COPY dir/one.txt /existing-dir
COPY *.md /docs/
COPY --chown=1234:5678 --chmod=640 dir/one.txt /owned
COPY --from=base /made/s /from-stage/
COPY . /whole/
ADD packed.tgz /unpacked/
ADD {url} /downloads/
COPY <<EOF /heredoc.txt
hello $HOSTNAME-less heredoc
EOF
RUN <<EOF
echo ran from a heredoc > /ran
EOF
""",
            "dir/one.txt": "one\n", "dir/sub/two.txt": "two\n",
            "a.md": "a\n", "b.md": "b\n", "secret.key": "do not send\n",
            ".dockerignore": "*.key\n",
            "packed.tgz": archive.getvalue()})
        (ctx / "dir" / "link").symlink_to("one.txt")
        proc = ketch(kd, "build", "-t", "copies", ".", cwd=ctx)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        server.shutdown()
        server.server_close()
    script = ("cat /contents/one.txt /contents/sub/two.txt /work/renamed.txt /docs/a.md "
              "/docs/b.md /from-stage/s /unpacked/packed/inner.txt /downloads/remote.txt "
              "/heredoc.txt /ran; readlink /contents/link; ls /existing-dir; ls -A /whole; "
              "stat -c '%u:%g %a' /owned /contents/one.txt /downloads/remote.txt")
    assert run_out(kd, "copies", "sh", "-c", script).splitlines() == [
        "one", "two", "one", "a", "b", "stage", "inner", "from the web",
        "hello -less heredoc", "ran from a heredoc",  # $HOSTNAME: unset in the build
        "one.txt", "one.txt",
        ".dockerignore", "Dockerfile", "a.md", "b.md", "dir", "packed.tgz",  # no *.key
        "1234:5678 640", "0:0 644", "0:0 600"]


def test_copy_into_an_existing_directory_and_errors(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN mkdir /target\nCOPY f.txt /target\n"
                      "COPY f.txt /newname\n",
        "f.txt": "f\n"})
    ok(ketch(kd, "build", "-t", "into", ".", cwd=ctx))
    assert run_out(kd, "into", "cat", "/target/f.txt", "/newname") == "f\nf\n"
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY nothing* /x/\n")
    proc = ketch(kd, "build", ".", cwd=ctx)
    assert proc.returncode == 1 and "no source files were specified" in proc.stderr


# -- args, stages, labels ------------------------------------------------------------------------


def test_build_args_target_labels_and_onbuild(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {"Dockerfile": """ARG BASE=busybox
FROM $BASE AS first
ARG WHO=world
ARG UNSET
RUN echo "hello $WHO${UNSET:-!}" > /hello
ONBUILD RUN echo triggered > /triggered
FROM first AS second
RUN echo second > /second
FROM busybox
RUN echo never > /never
"""})
    proc = ketch(kd, "build", "--target", "second", "--build-arg", "WHO=ketch",
                 "--build-arg", "NOBODY=x", "--label", "team=core", "-t", "args", ".",
                 cwd=ctx)
    assert proc.returncode == 0, proc.stderr
    assert "[Warning] One or more build-args [NOBODY] were not consumed" in proc.stdout
    assert "Step 8/8 : LABEL team=core" in proc.stdout  # the third stage is left out
    assert "echo never" not in proc.stdout
    assert run_out(kd, "args", "cat", "/hello", "/second", "/triggered") == \
        "hello ketch!\nsecond\ntriggered\n"
    inspect = json.loads(ok(docker_cli(kd, "image", "inspect", "args")))[0]
    assert inspect["Config"]["Labels"] == {"team": "core"}
    assert not inspect["Config"].get("OnBuild")
    history = [h["CreatedBy"] for h in json.loads(api(kd, "GET", "/images/args/history")[1])]
    assert "|1 WHO=ketch /bin/sh -c echo \"hello $WHO${UNSET:-!}\" > /hello" in history
    bad = ketch(kd, "build", "--target", "nope", ".", cwd=ctx)
    assert bad.returncode == 1 and "failed to reach build target nope" in bad.stderr


# -- clients and contexts ------------------------------------------------------------------------


def test_contexts_from_stdin(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY f /f\n", "f": "tar\n",
                                     "other.Dockerfile": "FROM busybox\nRUN echo other > /o\n"})
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:
        tar.add(ctx, arcname=".")
    assert ok(ketch(kd, "build", "-q", "-t", "fromtar", "-", stdin=packed.getvalue()))
    assert run_out(kd, "fromtar", "cat", "/f") == "tar\n"
    dockerfile = b"FROM busybox\nRUN echo bare > /b\n"
    assert ok(ketch(kd, "build", "-q", "-t", "bare", "-", stdin=dockerfile))
    assert run_out(kd, "bare", "cat", "/b") == "bare\n"
    assert ok(ketch(kd, "build", "-q", "-t", "dash-f", "-f", "-", ".", cwd=ctx,
                    stdin=b"FROM busybox\nCOPY f /g\n"))
    assert run_out(kd, "dash-f", "cat", "/g") == "tar\n"
    # a Dockerfile outside the context, with the real docker CLI (its tar ends early)
    outside = tmp_path / "outside.Dockerfile"
    outside.write_text("FROM busybox\nCOPY . /ctx/\n")
    ok(docker_cli(kd, "build", "-f", str(outside), "-t", "outside", str(ctx),
                  env=legacy(kd)))
    listed = run_out(kd, "outside", "ls", "-a", "/ctx").split()
    assert "f" in listed and not any(name.startswith(".dockerfile.") for name in listed)


# -- hostile contexts --------------------------------------------------------------------------


def _tar(*members: tuple[str, str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                tar.addfile(info)
            elif kind in ("fifo", "chr"):  # data: "major:minor" of a host device
                info.type = tarfile.FIFOTYPE if kind == "fifo" else tarfile.CHRTYPE
                if kind == "chr":
                    info.devmajor, info.devminor = (int(n) for n in data.split(b":"))
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_hostile_contexts_stay_inside(kd: Ketchd, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text("host secret\n")
    cases = [
        # a symlink to / in the context: COPY through it stays in the context
        (_tar(("Dockerfile", "file", f"FROM busybox\nCOPY root{canary} /stolen\n".encode()),
              ("root", "symlink", b"/")), "file not found"),
        (_tar(("Dockerfile", "file", f"FROM busybox\nCOPY up/../../..{canary} /x\n".encode()),
              ("up", "symlink", b"../../../../..")), "file not found"),
        # a Dockerfile name leading out of the context
        (_tar(("Dockerfile", "file", b"FROM busybox\n")), "Cannot locate specified Dockerfile"),
        # entries that climb out are refused
        (_tar(("../escape", "file", b"x"), ("Dockerfile", "file", b"FROM busybox\n")),
         "invalid"),
        (_tar(("Dockerfile", "symlink", str(canary).encode())),
         "Cannot locate specified Dockerfile"),
        # device nodes and FIFOs are not made in a context: the daemon never reads (or
        # blocks on) a host device for a client
        (_tar(("Dockerfile", "fifo", b"")), "Cannot locate specified Dockerfile"),
        (_tar(("Dockerfile", "chr", b"1:3")), "Cannot locate specified Dockerfile"),
        (_tar(("Dockerfile", "file", b"FROM busybox\nADD disk /x\n"), ("disk", "chr", b"1:8")),
         "file not found in build context"),
    ]
    for i, (body, message) in enumerate(cases):
        query = f"dockerfile=../../../..{canary}" if i == 2 else "t=hostile"
        status, answer = api(kd, "POST", f"/v1.41/build?{query}", body,
                             "Content-Type: application/x-tar\r\n")
        # a bad context is refused with a status; a step that fails says so in the stream
        assert status in (200, 400, 404) and message.encode() in answer, (i, answer[-300:])
        assert b"host secret" not in answer
    assert not (tmp_path.parent / "escape").exists()
    contexts = kd.data_root / "builder" / "contexts"
    assert not contexts.exists() or not list(contexts.iterdir())  # nothing left behind


# -- reproducible builds -------------------------------------------------------------------------


def test_source_date_epoch_gives_the_same_image(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nENV A=1\nRUN echo hi > /x && mkdir -p /d/e\n"
                      "COPY f.txt /app/\nWORKDIR /w\nCMD [\"sh\"]\n",
        "f.txt": "data\n"})
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    first = ketch(kd, "build", "-q", "--no-cache", ".", cwd=ctx, env=env)
    os.utime(ctx / "f.txt", None)
    second = ketch(kd, "build", "-q", "--no-cache", ".", cwd=ctx, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    image = json.loads(ok(docker_cli(kd, "image", "inspect", first.stdout.strip())))[0]
    assert image["Created"] == "2023-11-14T22:13:20Z"
    unset = ketch(kd, "build", "-q", "--no-cache", ".", cwd=ctx)
    assert unset.stdout != first.stdout


def test_run_steps_get_the_builds_network_and_hosts(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\nRUN ls /sys/class/net | sort | tr '\\n' ' ' > /nets; "
        "grep -c db.internal /etc/hosts > /hosts || true\n")})
    ok(ketch(kd, "build", "--network", "none", "--add-host", "db.internal:10.1.2.3", "-t",
             "netnone", ".", cwd=ctx))
    assert run_out(kd, "netnone", "cat", "/nets", "/hosts") == "lo 1\n"
    ok(ketch(kd, "build", "--no-cache", "-t", "netdefault", ".", cwd=ctx))
    assert run_out(kd, "netdefault", "cat", "/nets", "/hosts") == "eth0 lo 0\n"


def test_from_scratch(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox AS tools\nFROM scratch\nENV PATH=/bin\nCOPY --from=tools /bin/busybox "
        "/bin/busybox\nCOPY f.txt /data/\nRUN [\"/bin/busybox\", \"sh\", \"-c\", "
        "\"/bin/busybox echo ran > /ran\"]\nCMD [\"/bin/busybox\", \"cat\", \"/data/f.txt\"]\n"),
        "f.txt": "from scratch\n"})
    ok(ketch(kd, "build", "-t", "scratchy", ".", cwd=ctx))
    assert ok(docker_cli(kd, "run", "--rm", "--network", "none", "scratchy")) == \
        "from scratch\n"
    layers = json.loads(ok(docker_cli(kd, "image", "inspect", "scratchy")))[0]["RootFS"]
    assert len(layers["Layers"]) == 3  # busybox, f.txt and RUN's: nothing of busybox's image
    (ctx / "Dockerfile").write_text("FROM scratch\nRUN true\n")
    failed = ketch(kd, "build", ".", cwd=ctx)
    assert failed.returncode == 1 and "no such file or directory" in failed.stderr


def test_a_client_that_leaves_stops_the_build(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN echo started; sleep 60; echo never\n"})
    proc = subprocess.Popen(["ketch", "build", "--no-cache", "."], cwd=ctx, env=kd.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait for the RUN step to be under way
            if line.startswith("started"):
                break
        assert listing(kd)[0], "the step's container should be there while it runs"
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while listing(kd)[0]:  # the daemon cancels the build: the RUN's container goes
        assert time.monotonic() < deadline, "the build went on without its client"
        time.sleep(0.2)


def test_rm_false_keeps_the_step_containers(kd: Ketchd, tmp_path: Path) -> None:
    ctx = context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo kept > /k\n"})
    before = set(listing(kd)[0])
    proc = ketch(kd, "build", "--rm=false", "--no-cache", "-t", "kept", ".", cwd=ctx)
    assert proc.returncode == 0, proc.stderr
    assert "Removed intermediate container" not in proc.stdout
    kept = set(listing(kd)[0]) - before
    assert len(kept) == 1
    ok(docker_cli(kd, "rm", *kept))
    proc = ketch(kd, "build", "--force-rm", "--no-cache", "-t", "kept", ".", cwd=ctx)
    assert proc.returncode == 0 and set(listing(kd)[0]) == before
