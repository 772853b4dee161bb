"""Tutorial Example 3 ("Writing your first Dockerfile") replayed against a private ketchd
with the ketch CLI and with the real docker CLI, and the images of `examples/` built from
debian:bookworm-slim with packages from Debian, then run: nginx, redis, Python with Flask
and the Redis client. RUN steps reach the package mirror through the bridge's NAT."""

from __future__ import annotations

import json
import re
import socketserver
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from support.daemon import BUSYBOX_TAR, Ketchd, api, ok, running_ketchd

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TUTORIAL = ROOT.parent / "shared" / "seed" / "docker-python-tutorial.md"
DEBIAN_TAR = BUSYBOX_TAR.parent / "debian-bookworm-slim.tar"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd"), busybox=False) as daemon:
        ok(cli(daemon, "docker", "import", "-c", f"ENV {PATH_ENV}", "-c", 'CMD ["bash"]',
               str(DEBIAN_TAR), "debian:bookworm-slim"))
        yield daemon


def cli(kd: Ketchd, client: str, *args: str, cwd: Path | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([client, *args], env={**kd.env(), "DOCKER_BUILDKIT": "0"}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def gateway(kd: Ketchd) -> str:
    bridge = json.loads(api(kd, "GET", "/networks/bridge")[1])
    return str(bridge["IPAM"]["Config"][0]["Gateway"])


class _Page(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A small HTTP server on the host (all addresses, so containers reach it through
    the bridge's gateway): its port and the page it serves."""
    page = "<h1>served by the test</h1>\n"
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text(page)
    server = socketserver.TCPServer(("0.0.0.0", 0),
                                    lambda *a: _Page(*a, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], page
    finally:
        server.shutdown()
        server.server_close()


def test_the_curl_example_is_the_tutorials_dockerfile() -> None:
    """examples/curl/Dockerfile is Example 3's, as written there, but for the base image."""
    text = TUTORIAL.read_text()
    block = re.search(r"## Example 3.*?```dockerfile\n(.*?)```", text, re.S)
    assert block is not None
    theirs = block.group(1).replace("FROM ubuntu:latest", "FROM debian:bookworm-slim")
    ours = "".join(line for line in (EXAMPLES / "curl" / "Dockerfile").read_text()
                   .splitlines(keepends=True) if not line.startswith("#"))
    assert ours == theirs


@pytest.mark.parametrize("client", ["ketch", "docker"])
def test_example3_build_and_run(kd: Ketchd, tmp_path: Path, site: tuple[int, str],
                                client: str) -> None:
    work = tmp_path / "examples" / "curl"
    work.mkdir(parents=True)
    (work / "Dockerfile").write_bytes((EXAMPLES / "curl" / "Dockerfile").read_bytes())
    built = cli(kd, client, "build", ".", "-t", "test-curl", cwd=work)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr
    out = built.stdout
    assert "Step 1/6 : FROM debian:bookworm-slim" in out
    assert "Step 2/6 : RUN apt-get update     && apt-get install --no-install-recommends " \
           "--no-install-suggests -y curl     && rm -rf /var/lib/apt/lists/*" in out
    assert 'Step 6/6 : CMD sh -c "curl -Lk $SITE_URL > /data/results"' in out
    assert out.rstrip().endswith("Successfully tagged test-curl:latest")
    again = cli(kd, client, "build", ".", "-t", "test-curl", cwd=work)
    assert again.stdout.count(" ---> Using cache") == 5  # a second build is all cache hits
    assert again.stdout.split()[-4] == out.split()[-4]  # "Successfully built <id>"
    listed = ok(cli(kd, client, "images"))
    assert re.search(r"^test-curl\s+latest\s+[0-9a-f]{12}\s", listed, re.M), listed

    port, page = site
    vol = work / "vol"
    url = f"http://{gateway(kd)}:{port}/"
    ok(cli(kd, client, "run", "--rm", "-e", f"SITE_URL={url}", "-v", f"{vol}:/data/:rw",
           "test-curl"))
    assert (vol / "results").read_text() == page
    inspect = json.loads(ok(cli(kd, client, "inspect", "test-curl")))[0]["Config"]
    assert inspect["WorkingDir"] == "/data" and inspect["Volumes"] == {"/data": {}}
    assert "SITE_URL=http://example.com/" in inspect["Env"]
    assert inspect["Cmd"] == ["/bin/sh", "-c", 'sh -c "curl -Lk $SITE_URL > /data/results"']


def _wait_for(url: str, seconds: float = 15) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return str(answer.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_examples_nginx_redis_python(kd: Ketchd, tmp_path: Path) -> None:
    for name in ("nginx", "redis", "python"):
        built = cli(kd, "ketch", "build", "-t", f"example-{name}", str(EXAMPLES / name))
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr
    with socketserver.TCPServer(("127.0.0.1", 0), _Page) as probe:
        port = probe.server_address[1]  # a free port, released for nginx
    ok(cli(kd, "ketch", "run", "-d", "--name", "web", "-p", f"{port}:80", "example-nginx"))
    ok(cli(kd, "ketch", "network", "create", "examples"))
    try:
        assert "Welcome to nginx!" in _wait_for(f"http://127.0.0.1:{port}/")
        ok(cli(kd, "ketch", "run", "-d", "--name", "redis", "--network", "examples",
               "example-redis"))
        script = ("import time, redis\n"
                  "r = redis.Redis(host='redis')\n"
                  "for _ in range(100):\n"
                  "    try:\n"
                  "        r.ping(); break\n"
                  "    except redis.ConnectionError:\n"
                  "        time.sleep(0.1)\n"
                  "print(r.incr('hits'), r.incr('hits'))\n"
                  "import flask; print(flask.Flask('app').name)\n")
        out = ok(cli(kd, "ketch", "run", "--rm", "--network", "examples", "example-python",
                     "python3", "-c", script))
        assert out == "1 2\napp\n"
        user = ok(cli(kd, "ketch", "inspect", "-f", "{{.Config.User}}", "example-redis"))
        assert user.strip() == "redis"
    finally:
        cli(kd, "ketch", "rm", "-f", "web", "redis")
        cli(kd, "ketch", "network", "rm", "examples")
