"""Restart policies against a private ketchd: on-failure:N with growing delays, always,
unless-stopped, their meeting with a stop by the user and with a daemon restart, and
the policies' bad input, in dockerd's words."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import docker as docker_py
import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def kd(tmp_path: Path) -> Iterator[Ketchd]:
    (tmp_path / "kd").mkdir()
    with running_ketchd(tmp_path / "kd") as daemon:
        yield daemon


def field(kd: Ketchd, name: str, template: str) -> str:
    return ok(docker_cli(kd, "inspect", "-f", template, name)).strip()


def wait_for(check: object, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_on_failure_backs_off_then_gives_up(kd: Ketchd, tmp_path: Path) -> None:
    log = tmp_path / "runs"
    log.write_text("")
    ok(docker_cli(kd, "run", "-d", "--name", "flaky", "--network", "none", "--restart",
                  "on-failure:3", "-v", f"{log}:/runs", "busybox", "sh", "-c",
                  "cut -d' ' -f1 /proc/uptime >> /runs; exit 1"))  # 10 ms steps
    wait_for(lambda: field(kd, "flaky", "{{.RestartCount}} {{.State.Status}}") == "3 exited")
    time.sleep(1)  # and no fourth run comes
    runs = [float(line) for line in log.read_text().split()]
    assert len(runs) == 4 and field(kd, "flaky", "{{.State.ExitCode}}") == "1"
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39  # 100 ms, doubling
    assert gaps[0] < gaps[1] < gaps[2]
    # a clean exit is not a failure
    ok(docker_cli(kd, "run", "-d", "--name", "clean", "--network", "none", "--restart",
                  "on-failure", "busybox", "true"))
    wait_for(lambda: field(kd, "clean", "{{.State.Status}}") == "exited")
    time.sleep(0.5)
    assert field(kd, "clean", "{{.RestartCount}}") == "0"


def test_always_a_stop_and_bad_input(kd: Ketchd) -> None:
    ok(docker_cli(kd, "run", "-d", "--name", "loop", "--network", "none", "--restart",
                  "always", "busybox", "sh", "-c", "sleep 0.3"))
    wait_for(lambda: int(field(kd, "loop", "{{.RestartCount}}")) >= 2)
    removed = docker_cli(kd, "rm", "loop")
    assert removed.returncode == 1 and ("restarting" in removed.stderr or
                                        "running" in removed.stderr)
    ok(docker_cli(kd, "stop", "-t", "1", "loop"))
    count = field(kd, "loop", "{{.RestartCount}}")
    time.sleep(1)
    assert field(kd, "loop", "{{.RestartCount}} {{.State.Status}}") == f"{count} exited"
    client = docker_py.APIClient(base_url=kd.host, version="1.41")
    try:
        for policy, host, message in (
                ({"Name": "bogus"}, {}, "invalid restart policy: unknown policy 'bogus'; use "
                 "one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
                ({"Name": "always", "MaximumRetryCount": 2}, {}, "invalid restart policy: "
                 "maximum retry count can only be used with 'on-failure'"),
                ({"Name": "on-failure", "MaximumRetryCount": -1}, {}, "invalid restart "
                 "policy: maximum retry count cannot be negative"),
                ({"Name": "always"}, {"AutoRemove": True},
                 "can't create 'AutoRemove' container with restart policy")):
            config = client.create_host_config(restart_policy=policy, **({"auto_remove": True}
                                                                         if host else {}))
            with pytest.raises(docker_py.errors.APIError) as bad:
                client.create_container("busybox", "true", host_config=config)
            assert bad.value.status_code == 400 and message in str(bad.value), policy
    finally:
        client.close()
    assert ok(docker_cli(kd, "ps", "-aq")).split() == [field(kd, "loop", "{{.Id}}")[:12]]


def _restart_daemon(kd: Ketchd) -> None:
    assert kd.proc is not None
    kd.proc.kill()  # as a crash: the containers go on without it
    kd.proc.wait(20)
    kd.start()


def test_policies_across_a_daemon_restart(kd: Ketchd) -> None:
    for name, policy in (("always", "always"), ("unless", "unless-stopped"),
                         ("stopped-always", "always"), ("stopped-unless", "unless-stopped")):
        ok(docker_cli(kd, "run", "-d", "--name", name, "--network", "none", "--restart",
                      policy, "busybox", "sleep", "300"))
    ok(docker_cli(kd, "stop", "-t", "1", "stopped-always", "stopped-unless"))
    ok(docker_cli(kd, "run", "-d", "--name", "dies", "--network", "none", "--restart",
                  "always", "busybox", "sh", "-c", "sleep 2; exit 3"))
    assert kd.proc is not None
    kd.proc.kill()
    kd.proc.wait(20)
    time.sleep(3)  # "dies" exits while nobody listens
    kd.start()
    wait_for(lambda: field(kd, "dies", "{{.RestartCount}}") != "0")
    states = {name: field(kd, name, "{{.State.Status}}")
              for name in ("always", "unless", "stopped-always", "stopped-unless")}
    # as dockerd at its start: `always` even after a stop, `unless-stopped` not then
    assert states == {"always": "running", "unless": "running", "stopped-always": "running",
                      "stopped-unless": "exited"}
