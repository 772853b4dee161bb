"""Docker's flag syntaxes (pflag) for run and friends, and the create body they make."""

from __future__ import annotations

import pytest

from ketch.cli.commands.run import RUN
from ketch.cli.containerconfig import build_create_body, parse_ports
from ketch.cli.flags import Flag, FlagError, HelpRequested, parse


def run_opts(*argv: str):  # type: ignore[no-untyped-def]
    return parse(RUN.flags, list(argv), interspersed=False)


def test_env_forms() -> None:
    opts = run_opts("-e", "A=1", "-eB=2", "--env=C=3", "--env", "D=4", "-e=E=5", "busybox")
    assert opts.env == ["A=1", "B=2", "C=3", "D=4", "E=5"]
    assert opts.args == ["busybox"]


def test_grouped_booleans_and_value_last() -> None:
    opts = run_opts("-it", "--rm", "-dit", "-uroot", "busybox", "sh")
    assert opts.interactive and opts.tty and opts.rm and opts.detach
    assert opts.user == "root" and opts.args == ["busybox", "sh"]


def test_run_stops_at_the_image() -> None:
    opts = run_opts("--name", "x", "busybox", "ls", "-l", "--rm")
    assert opts.name == "x" and not opts.rm
    assert opts.args == ["busybox", "ls", "-l", "--rm"]


def test_bool_with_value_and_double_dash() -> None:
    opts = run_opts("--rm=false", "-d=true", "--", "-weird-image")
    assert opts.rm is False and opts.detach is True and opts.args == ["-weird-image"]


def test_interspersed_for_other_verbs() -> None:
    flags = (Flag("force", "f"),)
    opts = parse(flags, ["a", "-f", "b"])
    assert opts.force and opts.args == ["a", "b"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--xx", "busybox"], "unknown flag: --xx"),
    (["-z", "busybox"], "unknown shorthand flag: 'z' in -z"),
    (["-e"], "flag needs an argument: 'e' in -e"),
    (["--name"], "flag needs an argument: --name"),
    (["--stop-timeout", "x", "busybox"],
     'invalid argument "x" for "--stop-timeout" flag: strconv.ParseInt: parsing "x": '
     "invalid syntax"),
])
def test_errors_use_pflag_words(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError) as info:
        run_opts(*argv)
    assert str(info.value) == message


def test_help() -> None:
    with pytest.raises(HelpRequested):
        run_opts("--help")


def test_create_body_like_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("BAZ", raising=False)
    opts = run_opts("-e", "FOO=bar", "-e", "BAZ", "-e", "FROM_HOST", "-l", "cap=1", "-l", "x",
                    "-w", "/app", "-u", "1000", "-h", "box", "--entrypoint", "", "--network",
                    "host", "--rm", "-i", "busybox", "echo", "hello world")
    body = build_create_body(opts, "busybox", ["echo", "hello world"])
    assert body["Env"] == ["FOO=bar", "BAZ", "FROM_HOST=h"]
    assert body["Labels"] == {"cap": "1", "x": ""}
    assert body["Cmd"] == ["echo", "hello world"] and body["Entrypoint"] == [""]
    assert (body["WorkingDir"], body["User"], body["Hostname"]) == ("/app", "1000", "box")
    assert body["AttachStdin"] and body["OpenStdin"] and body["StdinOnce"]
    assert body["HostConfig"]["NetworkMode"] == "host" and body["HostConfig"]["AutoRemove"]
    assert body["NetworkingConfig"]["EndpointsConfig"] == {}  # as docker 28 sends it


def test_detached_body_attaches_nothing() -> None:
    opts = run_opts("-d", "-i", "busybox")
    body = build_create_body(opts, "busybox", [], detach=True)
    assert not (body["AttachStdin"] or body["AttachStdout"] or body["AttachStderr"])
    assert body["OpenStdin"] and not body["StdinOnce"]
    assert body["Cmd"] is None and body["Env"] is None and body["Entrypoint"] is None
    assert body["HostConfig"]["NetworkMode"] == "default"


def test_publish() -> None:
    exposed, bindings = parse_ports(["18080:8000", "127.0.0.1:53:53/udp", "9000"])
    assert exposed == {"8000/tcp": {}, "53/udp": {}, "9000/tcp": {}}
    assert bindings["8000/tcp"] == [{"HostIp": "", "HostPort": "18080"}]
    assert bindings["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "53"}]
    assert bindings["9000/tcp"] == [{"HostIp": "", "HostPort": ""}]
