"""Tutorial Example 4 ("Connection between containers") end to end against a private
ketchd: the tutorial's docker-compose.yml (an app built from ./app counting visits in
Redis, `depends_on: redis`, `REDIS_HOST=redis`, port 5000, and redis with the named
volume `redis_data`), run with `ketch compose` and then with docker-compose 1.29. Two
requests show the count rising, `ketch volume ls` names `compose_redis_data`, the count
survives `down` and `up -d` (the volume does), `down -v` removes the volume.

There is no Docker Hub here, so the images come from `examples/`: the app is built FROM
the python example image (Flask and the Redis client from Debian's packages, where the
tutorial pip-installs them over python:3.6.3) and the redis example image (Debian's
redis-server) is tagged `redis:3.2-alpine`, the name the compose file asks for, so that
compose finds it present and pulls nothing."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.daemon import BUSYBOX_TAR, Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TUTORIAL = ROOT.parent / "shared" / "seed" / "docker-python-tutorial.md"
DEBIAN_TAR = BUSYBOX_TAR.parent / "debian-bookworm-slim.tar"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROJECT = "compose"  # the tutorial runs it in examples/compose: compose_redis_data

# The tutorial's docker-compose.yml, word for word but for the published port, which is
# 5000 when that is free (templated, so that a busy 5000 does not fail the test).
COMPOSE_YML = """\
version: '3.6'
services:
  app:
    build:
      context: ./app
    depends_on:
      - redis
    environment:
      - REDIS_HOST=redis
    ports:
      - "{port}:5000"
  redis:
    image: redis:3.2-alpine
    volumes:
      - redis_data:/data
volumes:
  redis_data:
"""

# The tutorial's app Dockerfile, as its build log shows it (Step 1/9 ... Step 9/9), but
# for the base: `FROM python:3.6.3` + `pip install -r requirements.txt` (flask, redis)
# become the python example image, which has both from Debian's packages (no PyPI
# here), and Debian's interpreter is `python3`.
APP_DOCKERFILE = """\
FROM example-python
ENV BIND_PORT 5000
ENV REDIS_HOST localhost
ENV REDIS_PORT 6379
COPY ./app.py /app.py
EXPOSE $BIND_PORT
CMD [ "python3", "/app.py" ]
"""

# The tutorial shows no app.py, only what it does: a Flask app in debug mode on
# BIND_PORT ("Debug mode: on", "Restarting with stat") counting views in Redis at
# REDIS_HOST:REDIS_PORT. SIGTERM ends it: as PID 1 Python would otherwise ignore
# `docker stop` until the kill 10 s later.
APP_PY = """\
import os
import signal
import sys

from flask import Flask
from redis import Redis

app = Flask(__name__)
redis = Redis(host=os.environ['REDIS_HOST'], port=int(os.environ['REDIS_PORT']))


@app.route('/')
def hello():
    count = redis.incr('hits')
    return 'Hello World! I have been seen {} times.\\n'.format(count)


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    app.run(host='0.0.0.0', port=int(os.environ['BIND_PORT']), debug=True)
"""


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    """A private ketchd with debian:bookworm-slim and the two example images, built once
    for both halves."""
    with running_ketchd(tmp_path_factory.mktemp("ketchd"), busybox=False) as daemon:
        ok(cli(daemon, "docker", "import", "-c", f"ENV {PATH_ENV}", "-c", 'CMD ["bash"]',
               str(DEBIAN_TAR), "debian:bookworm-slim"))
        for name in ("python", "redis"):
            built = cli(daemon, "ketch", "build", "-q", "-t", f"example-{name}",
                        str(EXAMPLES / name))
            assert built.returncode == 0, built.stdout[-3000:] + built.stderr
        # the compose file's name for redis; the image is Debian's redis-server
        ok(cli(daemon, "ketch", "tag", "example-redis", "redis:3.2-alpine"))
        yield daemon


def cli(kd: Ketchd, *argv: str, cwd: Path | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), env={**kd.env(), "DOCKER_BUILDKIT": "0"}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _port() -> int:
    """5000 as in the tutorial when nothing listens there, else a free port."""
    for wanted in (5000, 0):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", wanted))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise AssertionError("no free port")


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, int]:
    """examples/compose as the tutorial lays it out: docker-compose.yml and app/."""
    port = _port()
    work = tmp_path / "examples" / PROJECT
    (work / "app").mkdir(parents=True)
    (work / "docker-compose.yml").write_text(COMPOSE_YML.format(port=port))
    (work / "app" / "Dockerfile").write_text(APP_DOCKERFILE)
    (work / "app" / "app.py").write_text(APP_PY)
    return work, port


def test_the_compose_file_is_the_tutorials() -> None:
    block = re.search(r"## Example 4.*?```yaml\n(.*?)```", TUTORIAL.read_text(), re.S)
    assert block is not None
    assert COMPOSE_YML.format(port=5000) == block.group(1)


def _count(port: int) -> int:
    """One visit: the count the page reports. Retried while the app or redis starts."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                page = answer.read().decode()
            found = re.fullmatch(r"Hello World! I have been seen (\d+) times\.\n", page)
            assert found, page
            return int(found.group(1))
        except OSError:  # refused, reset, or a 500 while redis is not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _volumes(kd: Ketchd) -> list[str]:
    """The VOLUME NAME column of `ketch volume ls`."""
    lines = ok(cli(kd, "ketch", "volume", "ls")).splitlines()
    assert lines[0].split() == ["DRIVER", "VOLUME", "NAME"], lines
    return [line.split()[1] for line in lines[1:]]


def _leftovers(kd: Ketchd) -> dict[str, str]:
    return {kind: ok(docker_cli(kd, *kind.split(), "-q", "--filter",
                                f"label=com.docker.compose.project={PROJECT}"))
            for kind in ("ps -a", "network ls", "volume ls")}


def _example4(kd: Ketchd, compose: Callable[..., str], port: int, names: str) -> None:
    """The scenario, through `compose(*args)`; `names` is the container name pattern
    (`compose-app-1` for v2 and ketch, `compose_app_1` for 1.29)."""
    volume = f"{PROJECT}_redis_data"
    compose("up", "-d", "--build")
    running = ok(docker_cli(kd, "ps", "--format", "{{.Names}}")).split()
    assert sorted(running) == [names.format(s) for s in ("app", "redis")], running
    first = _count(port)
    second = _count(port)
    assert (first, second) == (1, 2)  # a new volume: redis starts from nothing
    assert volume in _volumes(kd)
    env = json.loads(ok(docker_cli(kd, "inspect", "-f", "{{json .Config.Env}}",
                                   names.format("app"))))
    assert "REDIS_HOST=redis" in env, env

    compose("down")
    assert ok(docker_cli(kd, "ps", "-aq")) == ""
    assert volume in _volumes(kd)  # down keeps the named volume: the count with it
    compose("up", "-d")
    assert _count(port) == 3

    compose("down", "-v")
    assert volume not in _volumes(kd)
    assert _leftovers(kd) == {"ps -a": "", "network ls": "", "volume ls": ""}


def test_example4_ketch_compose(kd: Ketchd, project: tuple[Path, int]) -> None:
    work, port = project

    def compose(*args: str) -> str:
        proc = cli(kd, "ketch", "compose", *args, cwd=work, timeout=300)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr[-3000:])
        return proc.stdout

    try:
        _example4(kd, compose, port, f"{PROJECT}-{{}}-1")
        # the image was built from ./app and named as v2 names it
        assert ok(docker_cli(kd, "images", "-q", f"{PROJECT}-app")).strip()
    finally:
        cli(kd, "ketch", "compose", "down", "-v", "-t", "1", cwd=work)


def test_example4_docker_compose(kd: Ketchd, project: tuple[Path, int]) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (install.sh installs it)")
    work, port = project

    def compose(*args: str) -> str:
        proc = cli(kd, "docker-compose", *args, cwd=work, timeout=300)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr[-3000:])
        return proc.stdout

    try:
        _example4(kd, compose, port, f"{PROJECT}_{{}}_1")
        assert ok(docker_cli(kd, "images", "-q", f"{PROJECT}_app")).strip()
    finally:
        cli(kd, "docker-compose", "down", "-v", "-t", "1", cwd=work)
