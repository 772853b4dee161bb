"""docker-compose 1.29 (Debian's package, a client written for dockerd) runs a two-service
project against a private ketchd: up with a published port, a named volume and the
project network, exec and service-name DNS, logs, scale, a one-off run, stop/start,
and down -v leaving nothing of the project behind."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli
from support.web import fetch, free_port

pytestmark = pytest.mark.integration

PROJECT = """\
version: "3.8"
services:
  web:
    image: busybox
    command: sh -c 'echo hello from web > /www/index.html; httpd -f -p 8080 -h /www'
    ports:
      - "{port}:8080"
    depends_on:
      - cache
    environment:
      CACHE_HOST: cache
    volumes:
      - data:/www
  cache:
    image: busybox
    command: sh -c 'while :; do echo tick; sleep 1; done'
volumes:
  data:
"""


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (install.sh installs it)")
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def _page(port: int) -> str:
    return fetch(f"http://127.0.0.1:{port}/")


def test_docker_compose_two_services(kd: Ketchd, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "docker-compose.yml").write_text(PROJECT.format(port=port))

    def compose(*args: str, timeout: float = 120) -> str:
        proc = subprocess.run(["docker-compose", "-p", "dcp", *args], cwd=tmp_path,
                              env=kd.env(), capture_output=True, text=True, timeout=timeout,
                              check=False)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc.stdout

    try:
        compose("up", "-d")
        states = compose("ps")
        assert "dcp_web_1" in states and "dcp_cache_1" in states
        assert states.count(" Up ") + states.count(" Up\n") == 2, states
        assert _page(port) == "hello from web\n"
        assert compose("exec", "-T", "web", "sh", "-c", "echo $CACHE_HOST") == "cache\n"
        resolved = compose("exec", "-T", "web", "nslookup", "cache")
        assert "Address: 172." in resolved or "Address 1: 172." in resolved, resolved
        assert "tick" in compose("logs", "--tail", "2", "cache")
        assert ok(docker_cli(kd, "volume", "ls", "-q")).split().count("dcp_data") == 1
        compose("up", "-d", "--scale", "cache=2")
        caches = ok(docker_cli(kd, "ps", "-q", "--filter", "label=com.docker.compose.service=cache",
                               "--filter", "label=com.docker.compose.project=dcp")).split()
        assert len(caches) == 2
        assert compose("run", "--rm", "cache", "echo", "one-off").strip() == "one-off"
        compose("stop", "-t", "1", "web")
        compose("start", "web")
        assert _page(port) == "hello from web\n"  # the volume kept the page
    finally:
        compose("down", "-v", "-t", "1")
    for kind in ("ps", "network ls", "volume ls"):
        left = ok(docker_cli(kd, *kind.split(), "-q", "--filter",
                             "label=com.docker.compose.project=dcp"))
        assert left == "", (kind, left)
