"""Log drivers and rotation against a private ketchd through the docker CLI: json-file's
max-size/max-file rotation keeps every line across the files (and `logs -f` follows the
writer into each new file), max-file drops the oldest as dockerd does, the local and
none drivers, and the options' bad input in dockerd's words."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker as docker_py
import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration

# 3000 numbered lines, pausing every 300 so that a follower is overtaken by rotations
WRITER = ("i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); "
          "[ $((i % 300)) = 0 ] && sleep 0.1; done")
LINES = [f"line-{i}" for i in range(3000)]


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def _log_files(kd: Ketchd, name: str) -> list[Path]:
    log = Path(ok(docker_cli(kd, "inspect", "-f", "{{.LogPath}}", name)).strip())
    return sorted(log.parent.glob(log.name + "*"))


def test_rotation_keeps_every_line_and_follow_crosses_files(kd: Ketchd) -> None:
    ok(docker_cli(kd, "create", "--name", "rot", "--network", "none", "--log-opt",
                  "max-size=1k", "--log-opt", "max-file=500", "busybox", "sh", "-c", WRITER))
    ok(docker_cli(kd, "start", "rot"))
    follower = subprocess.Popen(["docker", "logs", "-f", "rot"], env=kd.env(),
                                stdout=subprocess.PIPE, text=True)
    followed, _ = follower.communicate(timeout=60)
    assert followed.splitlines() == LINES
    assert ok(docker_cli(kd, "wait", "rot")) == "0\n"
    assert ok(docker_cli(kd, "logs", "rot")).splitlines() == LINES
    assert ok(docker_cli(kd, "logs", "--tail", "3", "rot")).splitlines() == LINES[-3:]
    assert ok(docker_cli(kd, "logs", "--tail", "200", "rot")).splitlines() == LINES[-200:]
    files = _log_files(kd, "rot")
    assert len(files) > 100
    line_size = max(len(json.dumps({"log": f"line-{i}\n", "stream": "stdout",
                                    "time": "2026-01-01T00:00:00.000000000Z"})) + 1
                    for i in (0, 2999))
    assert all(f.stat().st_size < 1000 + line_size for f in files)  # whole lines only
    config = json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .HostConfig.LogConfig}}",
                                      "rot")))
    assert config == {"Type": "json-file", "Config": {"max-file": "500", "max-size": "1k"}}
    ok(docker_cli(kd, "rm", "rot"))
    assert not any(f.exists() for f in files)


def test_max_file_drops_the_oldest(kd: Ketchd) -> None:
    ok(docker_cli(kd, "run", "--name", "few", "--network", "none", "--log-opt",
                  "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c", WRITER))
    kept = ok(docker_cli(kd, "logs", "few")).splitlines()
    assert 0 < len(kept) < len(LINES) and kept == LINES[-len(kept):]
    assert len(_log_files(kd, "few")) == 2


def test_local_and_none_drivers(kd: Ketchd) -> None:
    ok(docker_cli(kd, "run", "--name", "loc", "--network", "none", "--log-driver", "local",
                  "busybox", "echo", "kept"))
    assert ok(docker_cli(kd, "logs", "loc")) == "kept\n"
    proc = docker_cli(kd, "run", "--name", "quiet", "--network", "none", "--log-driver",
                      "none", "busybox", "echo", "shown")
    assert proc.stdout == "shown\n"  # attached output still flows
    proc = docker_cli(kd, "logs", "quiet")
    assert (proc.returncode, proc.stderr) == (
        1, "Error response from daemon: configured logging driver does not support "
           "reading\n")


def test_bad_log_options(kd: Ketchd) -> None:
    before = ok(docker_cli(kd, "ps", "-aq"))
    for flags, message in (
            (["--log-driver", "bogus"], "logger: no log driver named 'bogus' is registered"),
            (["--log-opt", "foo=1"], "unknown log opt 'foo' for json-file log driver"),
            (["--log-opt", "max-file=0"], "max-file cannot be less than 1"),
            (["--log-opt", "max-size=lots"], "invalid size: 'lots'"),
            (["--log-driver", "local", "--log-opt", "tag=x"],
             "unknown log opt 'tag' for local log driver")):
        proc = docker_cli(kd, "run", "--rm", *flags, "busybox", "true")
        assert proc.returncode == 125
        assert proc.stderr.startswith(f"docker: Error response from daemon: {message}\n"), \
            proc.stderr
    proc = docker_cli(kd, "run", "--rm", "--log-driver", "none", "--log-opt", "max-size=1k",
                      "busybox", "true")
    assert proc.stderr.startswith("docker: invalid logging opts for driver none")
    assert ok(docker_cli(kd, "ps", "-aq")) == before


def test_daemon_default_log_options(tmp_path: Path) -> None:
    config = {"log-driver": "json-file", "log-opts": {"max-size": "1k", "max-file": "3"}}
    (tmp_path / "kd").mkdir()
    with running_ketchd(tmp_path / "kd", config=config) as kd:
        ok(docker_cli(kd, "run", "--name", "dflt", "--network", "none", "busybox", "sh",
                      "-c", WRITER))
        log_config = json.loads(ok(docker_cli(kd, "inspect", "-f",
                                              "{{json .HostConfig.LogConfig}}", "dflt")))
        assert log_config == {"Type": "json-file",
                              "Config": {"max-file": "3", "max-size": "1k"}}
        assert len(_log_files(kd, "dflt")) == 3  # the daemon's options rotate it
        ok(docker_cli(kd, "run", "--name", "own", "--network", "none", "--log-opt",
                      "max-file=2", "busybox", "true"))
        assert json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .HostConfig.LogConfig}}",
                                        "own")))["Config"] == {"max-file": "2",
                                                               "max-size": "1k"}
        ok(docker_cli(kd, "run", "--name", "nolog", "--network", "none", "--log-driver",
                      "none", "busybox", "true"))
        assert json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .HostConfig.LogConfig}}",
                                        "nolog"))) == {"Type": "none", "Config": {}}


def test_a_frame_per_line_as_dockerd(kd: Ketchd) -> None:
    client = docker_py.DockerClient(base_url=kd.host)
    container = client.containers.run("busybox", ["sh", "-c", "echo hello; echo world >&2"],
                                      detach=True, network_mode="none")
    container.wait()
    assert list(container.logs(stream=True)) == [b"hello\n", b"world\n"]
    assert container.logs(stdout=False) == b"world\n"
    container.remove()
    client.close()
