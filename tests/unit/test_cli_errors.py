"""The CLI's error lines and exit codes (Docker's), driven as a subprocess against a canned
daemon or against nothing at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ketch.client.stream import frame
from unit.test_client_fakedaemon import FakeDaemon, Reply, Request, fake_daemon  # noqa: F401


def ketch(host: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KETCH_HOST": host, "KETCH_NO_AUTOSTART": "1"}
    env.pop("DOCKER_HOST", None)
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=30, check=False)


def test_version_flag() -> None:
    proc = ketch("unix:///nonexistent", "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("ketch version ")


def test_unknown_flag_is_125_with_usage(tmp_path: Path) -> None:
    proc = ketch(f"unix://{tmp_path}/x.sock", "run", "--xx", "busybox")
    assert proc.returncode == 125
    assert proc.stderr == ("unknown flag: --xx\n\nUsage:  ketch run [OPTIONS] IMAGE [COMMAND] "
                           "[ARG...]\n\nRun 'ketch run --help' for more information\n")
    assert proc.stdout == ""


def test_missing_arguments(tmp_path: Path) -> None:
    proc = ketch(f"unix://{tmp_path}/x.sock", "rm")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ketch: 'ketch rm' requires at least 1 argument\n")
    proc = ketch(f"unix://{tmp_path}/x.sock", "ps", "extra")
    assert proc.returncode == 1 and "'ketch ps' accepts no arguments" in proc.stderr


def test_unknown_command(tmp_path: Path) -> None:
    proc = ketch(f"unix://{tmp_path}/x.sock", "frobnicate")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ketch: unknown command: ketch frobnicate\n")


def test_no_daemon(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/none.sock"
    line = f"Cannot connect to the ketch daemon at {host}. Is the ketch daemon running?"
    proc = ketch(host, "ps")
    assert (proc.returncode, proc.stderr) == (1, line + "\n")
    proc = ketch(host, "run", "busybox")
    assert proc.returncode == 125
    assert proc.stderr == f"ketch: {line}\n\nRun 'ketch run --help' for more information\n"


def test_rm_reports_each_failure(fake_daemon: FakeDaemon) -> None:  # noqa: F811
    def delete(req: Request) -> Reply:
        name = req.path.split("?")[0].rsplit("/", 1)[1]
        if name == "a":
            return Reply(204)
        return Reply(404, {"message": f"No such container: {name}"})

    fake_daemon.route("DELETE", "/containers/a", delete)
    fake_daemon.route("DELETE", "/containers/nope", delete)
    proc = ketch(fake_daemon.host, "rm", "a", "nope")
    assert proc.returncode == 1 and proc.stdout == "a\n"
    assert proc.stderr == "Error response from daemon: No such container: nope\n"
    proc = ketch(fake_daemon.host, "rm", "-f", "nope")
    assert proc.returncode == 0  # docker rm -f of a missing container only warns


def _run_routes(daemon: FakeDaemon, start: Reply, output: bytes, status: int) -> None:
    daemon.route("POST", "/containers/create", Reply(201, {"Id": "c" * 64, "Warnings": []}))
    cid = "/containers/" + "c" * 64
    daemon.route("POST", cid + "/wait",
                 Reply(200, chunks=[b'{"Error":null,"StatusCode":%d}\n' % status]))

    def attach(handler: Any) -> None:
        handler.wfile.write(output)
        handler.wfile.flush()

    daemon.route("POST", cid + "/attach", Reply(101, hijack=attach))
    daemon.route("POST", cid + "/start", start)


def test_run_follows_docker_call_order_and_exit_code(fake_daemon: FakeDaemon) -> None:  # noqa: F811
    _run_routes(fake_daemon, Reply(204), frame(1, b"out\n") + frame(2, b"err\n"), 3)
    proc = ketch(fake_daemon.host, "run", "--name", "n", "busybox", "sh", "-c", "x")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")
    calls = [(r.method, r.path.split("?")[0].rsplit("/", 1)[-1]) for r in fake_daemon.requests]
    # an older daemon refuses our version once; a ping settles it (ketchd's own needs none)
    assert calls == [("POST", "create"), ("HEAD", "_ping"), ("POST", "create"),
                     ("POST", "wait"), ("POST", "attach"), ("POST", "start")]
    assert fake_daemon.requests[2].path == "/v1.41/containers/create?name=n"


def test_run_start_failure_codes(fake_daemon: FakeDaemon) -> None:  # noqa: F811
    message = 'exec: "nonexist": executable file not found in $PATH: unknown'
    _run_routes(fake_daemon, Reply(400, {"message": message}), b"", 0)
    proc = ketch(fake_daemon.host, "run", "busybox", "nonexist")
    assert proc.returncode == 127
    assert proc.stderr == (f"ketch: Error response from daemon: {message}\n\n"
                           "Run 'ketch run --help' for more information\n")


def test_run_missing_image(fake_daemon: FakeDaemon) -> None:  # noqa: F811
    fake_daemon.route("POST", "/containers/create",
                      Reply(404, {"message": "No such image: nosuch:latest"}))
    fake_daemon.route("POST", "/images/create",
                      Reply(404, {"message": "pull access denied for nosuch"}))
    proc = ketch(fake_daemon.host, "run", "nosuch")
    assert proc.returncode == 125
    assert proc.stderr == ("Unable to find image 'nosuch:latest' locally\n"
                           "ketch: Error response from daemon: pull access denied for nosuch\n\n"
                           "Run 'ketch run --help' for more information\n")
    assert fake_daemon.requests[-1].path == (
        "/v1.41/images/create?fromImage=docker.io%2Flibrary%2Fnosuch&tag=latest")


def test_inspect_falls_back_to_images(fake_daemon: FakeDaemon) -> None:  # noqa: F811
    fake_daemon.route("GET", "/images/busybox/json", Reply(200, {"Id": "sha256:ab"}))
    proc = ketch(fake_daemon.host, "inspect", "-f", "{{.Id}}", "busybox")
    assert (proc.returncode, proc.stdout) == (0, "sha256:ab\n")
    proc = ketch(fake_daemon.host, "inspect", "nope")
    assert (proc.returncode, proc.stdout) == (1, "[]\n")
    assert proc.stderr == "Error: No such object: nope\n"


def test_piped_stdin_is_sent_and_half_closed(fake_daemon: FakeDaemon) -> None:  # noqa: F811
    fake_daemon.route("POST", "/containers/create", Reply(201, {"Id": "d" * 64}))
    cid = "/containers/" + "d" * 64
    fake_daemon.route("POST", cid + "/wait", Reply(200, chunks=[b'{"StatusCode":0}\n']))

    def cat(handler: Any) -> None:
        handler.wfile.write(frame(1, handler.rfile.read()))  # echo until EOF
        handler.wfile.flush()

    fake_daemon.route("POST", cid + "/attach", Reply(101, hijack=cat))
    fake_daemon.route("POST", cid + "/start", Reply(204))
    proc = ketch(fake_daemon.host, "run", "-i", "--rm", "busybox", "cat", stdin="hi\n")
    assert (proc.returncode, proc.stdout) == (0, "hi\n")
    create = fake_daemon.requests[2]  # after the refused first try and the ping
    assert create.path.startswith("/v1.41/containers/create")
    assert b'"AttachStdin":true' in create.body and b'"AutoRemove":true' in create.body
    assert fake_daemon.requests[3].path.endswith("/wait?condition=removed")


def test_group_help_lists_its_verbs_and_an_unknown_one_is_an_error() -> None:
    for args in (("image",), ("image", "--help")):
        proc = ketch("unix:///nonexistent", *args)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[:5] == ["Usage:  ketch image COMMAND", "", "Manage images", "",
                             "Commands:"]
        verbs = [line.split()[0] for line in lines[5:] if line.startswith("  ")]
        assert verbs == sorted(verbs) and {"ls", "rm", "save", "load", "prune"} <= set(verbs)
        assert "list" not in verbs  # aliases are not listed
    proc = ketch("unix:///nonexistent", "image", "bogus")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("ketch: unknown command: ketch image bogus\n")
