"""Tutorial Example 2 (environment variables and volumes) replayed against a private
ketchd, with the ketch CLI and with the real docker CLI: a web server whose document
root is a read-only host folder, published on a host port, reloaded after an edit."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketch.network import proxy
from support import web
from support.daemon import Ketchd, ok, running_ketchd

pytestmark = pytest.mark.integration

DOCROOT = "/usr/share/nginx/html"  # the tutorial's nginx path; busybox httpd stands in
IPV6 = proxy.ipv6_available()


@pytest.fixture(scope="module")
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def fetch(url: str, timeout: float = 5) -> str:
    return web.fetch(url, timeout, poll=0.05)


@pytest.mark.parametrize("client", ["ketch", "docker"])
def test_example2_web_server_with_a_host_folder(ketchd: Ketchd, tmp_path: Path,
                                                client: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>Hello from my host folder</h1>\n")
    port = free_port()
    name = f"web-{client}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([client, *args], env=ketchd.env(), capture_output=True,
                              text=True, timeout=60, check=False)

    ok(cli("run", "-d", "--name", name, "-p", f"{port}:80", "-v", f"{site}:{DOCROOT}:ro",
           "busybox", "httpd", "-f", "-p", "80", "-h", DOCROOT))
    try:
        assert fetch(f"http://127.0.0.1:{port}/") == "<h1>Hello from my host folder</h1>\n"
        (site / "index.html").write_text("<h1>Edited on the host</h1>\n")
        assert fetch(f"http://127.0.0.1:{port}/") == "<h1>Edited on the host</h1>\n"
        if IPV6:  # as Docker, on every address: [::] through the userland proxy
            assert fetch(f"http://[::1]:{port}/") == "<h1>Edited on the host</h1>\n"
            assert fetch(f"http://localhost:{port}/") == "<h1>Edited on the host</h1>\n"

        ports = json.loads(ok(cli("inspect", "-f", "{{json .NetworkSettings.Ports}}", name)))
        assert ports == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
                         + ([{"HostIp": "::", "HostPort": str(port)}] if IPV6 else [])}
        bindings = json.loads(ok(cli("inspect", "-f", "{{json .HostConfig.PortBindings}}",
                                     name)))
        assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
        mounts = json.loads(ok(cli("inspect", "-f", "{{json .Mounts}}", name)))
        assert mounts == [{"Type": "bind", "Source": str(site), "Destination": DOCROOT,
                           "Mode": "ro", "RW": False, "Propagation": "rprivate"}]
        assert ok(cli("port", name)) == f"80/tcp -> 0.0.0.0:{port}\n" + (
            f"80/tcp -> [::]:{port}\n" if IPV6 else "")
        assert f"0.0.0.0:{port}->80/tcp" in ok(cli("ps", "--filter", f"name={name}"))
    finally:
        ok(cli("rm", "-f", name))
    for host in ("127.0.0.1", "[::1]") if IPV6 else ("127.0.0.1",):
        with pytest.raises(OSError):  # the port is let go with the container
            urllib.request.urlopen(f"http://{host}:{port}/", timeout=2)
