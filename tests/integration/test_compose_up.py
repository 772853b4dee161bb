"""`ketch compose` against a private ketchd, through the Engine API only: up -d of a
two-service project (a port, a named volume, service-name DNS), depends_on
service_healthy, scale with DNS answering every replica, recreate only what changed,
down -v leaving nothing, projects of docker-compose 1.29 and ketch compose recognising
each other, and bad input refused before anything starts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli
from support.web import fetch, free_port

pytestmark = pytest.mark.integration

KETCH = [sys.executable, "-m", "ketch.cli.main"]

PROJECT = """\
services:
  web:
    build: ./app
    command: sh -c 'cat /built > /www/index.html; httpd -f -p 8080 -h /www'
    ports:
      - "{port}:8080"
    depends_on:
      cache:
        condition: service_healthy
    environment:
      CACHE_HOST: cache
    volumes:
      - data:/www
  cache:
    image: busybox
    init: true
    command: sh -c 'sleep 2; touch /tmp/ready; while :; do echo tick; sleep 1; done'
    environment:
      LEVEL: "1"
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 20
volumes:
  data:
"""


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def _page(port: int) -> str:
    return fetch(f"http://127.0.0.1:{port}/")


def run(kd: Ketchd, cwd: Path, *args: str, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KETCH, "compose", *args], cwd=cwd, env=kd.env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def compose(kd: Ketchd, cwd: Path, *args: str, timeout: float = 120) -> str:
    proc = run(kd, cwd, *args, timeout=timeout)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


def ids(kd: Ketchd, project: str, service: str) -> list[str]:
    return sorted(ok(docker_cli(kd, "ps", "-aq", "--no-trunc", "--filter",
                                f"label=com.docker.compose.project={project}", "--filter",
                                f"label=com.docker.compose.service={service}")).split())


def leftovers(kd: Ketchd, project: str) -> dict[str, str]:
    return {kind: ok(docker_cli(kd, *kind.split(), "-q", "--filter",
                                f"label=com.docker.compose.project={project}"))
            for kind in ("ps -a", "network ls", "volume ls")}


@pytest.fixture
def two_services(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    (tmp_path / "compose.yaml").write_text(PROJECT.format(port=port))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(
        "FROM busybox\nRUN echo built by compose > /built\n")
    return tmp_path, port


def test_up_two_services(kd: Ketchd, two_services: tuple[Path, int]) -> None:
    cwd, port = two_services
    try:
        started = time.monotonic()
        proc = run(kd, cwd, "-p", "kup", "up", "-d")
        assert proc.returncode == 0, proc.stderr
        # web waited for cache to be healthy (the check passes after 2 s)
        assert time.monotonic() - started > 1.5
        err = proc.stderr
        assert err.index("Container kup-cache-1  Healthy") < \
            err.index("Container kup-web-1  Started"), err
        info = ok(docker_cli(kd, "inspect", "-f", "{{.State.Health.Status}}", "kup-cache-1"))
        assert info.strip() == "healthy"
        states = compose(kd, cwd, "-p", "kup", "ps")
        assert "kup-web-1" in states and "kup-cache-1" in states, states
        assert _page(port) == "built by compose\n"
        assert compose(kd, cwd, "-p", "kup", "exec", "-T", "web", "sh", "-c",
                       "echo $CACHE_HOST") == "cache\n"
        resolved = compose(kd, cwd, "-p", "kup", "exec", "-T", "web", "nslookup", "cache")
        assert "172." in resolved.split("cache", 1)[1], resolved
        assert "kup_data" in ok(docker_cli(kd, "volume", "ls", "-q")).split()
        labels = ok(docker_cli(kd, "inspect", "-f", "{{json .Config.Labels}}", "kup-web-1"))
        for key in ("project", "service", "container-number", "oneoff", "config-hash",
                    "project.working_dir", "project.config_files", "version"):
            assert f'"com.docker.compose.{key}"' in labels, (key, labels)
        network = ok(docker_cli(kd, "network", "inspect", "-f", "{{json .Labels}}",
                                "kup_default"))
        assert '"com.docker.compose.network":"default"' in network
        assert "tick" in compose(kd, cwd, "-p", "kup", "logs", "--tail", "2", "cache")
        assert compose(kd, cwd, "-p", "kup", "run", "--rm", "cache", "echo",
                       "one-off").strip() == "one-off"

        # scale to 3: the service name answers with all three addresses
        compose(kd, cwd, "-p", "kup", "up", "-d", "--scale", "cache=3")
        assert len(ids(kd, "kup", "cache")) == 3
        answer = compose(kd, cwd, "-p", "kup", "exec", "-T", "web", "nslookup", "cache")
        addresses = {line.split()[-1] for line in answer.splitlines()
                     if line.startswith("Address") and "#" not in line
                     and ":53" not in line}
        assert len(addresses) == 3, answer
        compose(kd, cwd, "-p", "kup", "up", "-d", "--scale", "cache=1")
        assert len(ids(kd, "kup", "cache")) == 1

        # recreate only what changed
        web, cache = ids(kd, "kup", "web"), ids(kd, "kup", "cache")
        again = run(kd, cwd, "-p", "kup", "up", "-d")
        assert again.returncode == 0 and "Recreate" not in again.stderr, again.stderr
        assert (ids(kd, "kup", "web"), ids(kd, "kup", "cache")) == (web, cache)
        text = (cwd / "compose.yaml").read_text().replace('LEVEL: "1"', 'LEVEL: "2"')
        (cwd / "compose.yaml").write_text(text)
        compose(kd, cwd, "-p", "kup", "up", "-d")
        assert ids(kd, "kup", "web") == web
        assert ids(kd, "kup", "cache") != cache
        assert _page(port) == "built by compose\n"
    finally:
        compose(kd, cwd, "-p", "kup", "down", "-v", "-t", "1")
    assert leftovers(kd, "kup") == {"ps -a": "", "network ls": "", "volume ls": ""}


def test_docker_compose_and_ketch_compose_see_each_other(kd: Ketchd, tmp_path: Path
                                                         ) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed")
    (tmp_path / "docker-compose.yml").write_text(
        "version: '3.8'\nservices:\n  app:\n    image: busybox\n    init: true\n"
        "    command: sleep 300\n    volumes: [store:/store]\nvolumes:\n  store:\n")

    def dc(*args: str) -> str:
        proc = subprocess.run(["docker-compose", "-p", "mixed", *args], cwd=tmp_path,
                              env=kd.env(), capture_output=True, text=True, timeout=120,
                              check=False)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout

    dc("up", "-d")
    try:
        listing = compose(kd, tmp_path, "-p", "mixed", "ps")
        assert "mixed_app_1" in listing and "app" in listing, listing
        assert compose(kd, tmp_path, "-p", "mixed", "ps", "-q", "--services") == "app\n"
    finally:
        compose(kd, tmp_path, "-p", "mixed", "down", "-v", "-t", "1")
    assert leftovers(kd, "mixed") == {"ps -a": "", "network ls": "", "volume ls": ""}

    # the other way round: ketch compose's project, docker-compose lists and removes it
    compose(kd, tmp_path, "-p", "mixed", "up", "-d")
    try:
        assert "mixed-app-1" in dc("ps")
    finally:
        dc("down", "-v", "-t", "1")
    assert leftovers(kd, "mixed") == {"ps -a": "", "network ls": "", "volume ls": ""}


@pytest.mark.parametrize(("text", "words"), [
    ("services:\n  a:\n    image: busybox\n    depends_on: [b]\n"
     "  b:\n    image: busybox\n    depends_on: [a]\n", "dependency cycle detected"),
    ("services:\n  a:\n    image: busybox:${TAG:?set TAG first}\n", "set TAG first"),
    ("services:\n  a:\n    image: busybox\n    colour: red\n",
     "services.a Additional property colour is not allowed"),
])
def test_bad_input_starts_nothing(kd: Ketchd, tmp_path: Path, text: str, words: str
                                  ) -> None:
    (tmp_path / "compose.yaml").write_text(text)
    proc = run(kd, tmp_path, "-p", "bad", "up", "-d")
    assert proc.returncode != 0
    assert words in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert leftovers(kd, "bad") == {"ps -a": "", "network ls": "", "volume ls": ""}
