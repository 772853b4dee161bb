"""Health checks against a private ketchd, as dockerd 20.10 reports them for the same
containers: `--health-*` and the image's HEALTHCHECK, probes as execs, timeouts,
State.Health's log and streak, `ps`'s "(healthy)", and the checks' bad input."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker as docker_py
import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def health(kd: Ketchd, name: str) -> dict[str, object]:
    return dict(json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .State.Health}}",
                                         name))))


def status(kd: Ketchd, name: str) -> str:
    return ok(docker_cli(kd, "ps", "--filter", f"name={name}", "--format",
                         "{{.Status}}")).strip()


def test_health_states_like_docker(kd: Ketchd) -> None:
    for name, args in (
            ("failing", ["--health-cmd", "echo checking; exit 1", "--health-interval", "1s",
                         "--health-retries", "2"]),
            ("passing", ["--health-cmd", "echo ok", "--health-interval", "1s"]),
            ("slow", ["--health-cmd", "sleep 5", "--health-interval", "1s",
                      "--health-timeout", "1s", "--health-retries", "1"])):
        ok(docker_cli(kd, "run", "-d", "--name", name, "--network", "none", *args,
                      "busybox", "sleep", "120"))
    assert status(kd, "passing").endswith("(health: starting)")
    start = time.monotonic()
    while status(kd, "failing").endswith("(health: starting)"):  # interval x retries
        assert time.monotonic() - start < 1 * 2 + 3
        time.sleep(0.1)
    time.sleep(3)
    assert status(kd, "failing").endswith("(unhealthy)")
    assert status(kd, "passing").endswith("(healthy)")
    assert status(kd, "slow").endswith("(unhealthy)")
    failing, passing, slow = health(kd, "failing"), health(kd, "passing"), health(kd, "slow")
    assert failing["Status"] == "unhealthy" and int(str(failing["FailingStreak"])) >= 2
    log = failing["Log"]
    assert isinstance(log, list) and 2 <= len(log) <= 5
    assert {e["ExitCode"] for e in log} == {1} and {e["Output"] for e in log} == {"checking\n"}
    assert log[0]["Start"].endswith("Z") and log[0]["End"] >= log[0]["Start"]
    assert (passing["Status"], passing["FailingStreak"]) == ("healthy", 0)
    assert isinstance(slow["Log"], list)
    assert slow["Log"][0]["ExitCode"] == -1
    assert slow["Log"][0]["Output"] == "Health check exceeded timeout (1s)"
    assert json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .Config.Healthcheck}}",
                                    "failing"))) == {
        "Test": ["CMD-SHELL", "echo checking; exit 1"], "Interval": 1_000_000_000,
        "Retries": 2}
    ok(docker_cli(kd, "rm", "-f", "failing", "passing", "slow"))


def test_image_healthcheck_and_no_healthcheck(kd: Ketchd, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nHEALTHCHECK --interval=1s CMD [\"true\"]\n")
    ok(docker_cli(kd, "build", "-q", "-t", "checked", str(tmp_path),
                  env={**kd.env(), "DOCKER_BUILDKIT": "0"}))
    ok(docker_cli(kd, "run", "-d", "--name", "from-image", "--network", "none", "checked",
                  "sleep", "120"))
    ok(docker_cli(kd, "run", "-d", "--name", "switched-off", "--network", "none",
                  "--no-healthcheck", "checked", "sleep", "120"))
    start = time.monotonic()
    while not status(kd, "from-image").endswith("(healthy)"):
        assert time.monotonic() - start < 10
        time.sleep(0.1)
    assert ok(docker_cli(kd, "inspect", "-f", "{{json .State.Health}}",
                         "switched-off")).strip() == "null"
    assert json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .Config.Healthcheck}}",
                                    "switched-off"))) == {"Test": ["NONE"]}
    ok(docker_cli(kd, "rm", "-f", "from-image", "switched-off"))


def test_bad_healthchecks(kd: Ketchd) -> None:
    client = docker_py.APIClient(base_url=kd.host, version="1.41")
    try:
        for check, message in (({"Test": ["CMD", "true"], "Interval": 100},
                                "Interval in Healthcheck cannot be less than 1ms"),
                               ({"Test": ["CMD", "true"], "Retries": -1},
                                "Retries in Healthcheck cannot be negative")):
            with pytest.raises(docker_py.errors.APIError) as bad:
                client.create_container("busybox", "true", healthcheck=check)
            assert bad.value.status_code == 400 and message in str(bad.value)
    finally:
        client.close()
    for args, message in ((["--no-healthcheck", "--health-cmd", "x"],
                           "--no-healthcheck conflicts with --health-* options"),
                          (["--health-retries", "-1"], "--health-retries cannot be negative"),
                          (["--health-interval", "bad"], 'invalid argument "bad" for '
                           '"--health-interval" flag: time: invalid duration "bad"')):
        proc = subprocess.run(["ketch", "run", *args, "busybox", "true"], env=kd.env(),
                              capture_output=True, text=True, timeout=30, check=False)
        assert proc.returncode == 125 and message in proc.stderr, args
