"""`system prune` with ketch's CLI and the docker CLI against a private ketchd: the same
things removed and the same report, the prompt, and what must stay (running containers,
used networks and volumes, tagged images)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from support.daemon import Ketchd, ok, running_ketchd
from support.daemon import docker as docker_cli

pytestmark = pytest.mark.integration
KETCH = "/opt/ketch/bin/ketch"


@pytest.fixture(scope="module")
def kd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd")) as daemon:
        yield daemon


def _leftovers(kd: Ketchd, tag: str) -> dict[str, str]:
    """A stopped container, an unused network, an unused anonymous volume and a dangling
    image, next to a running container on a network with a volume."""
    stopped = ok(docker_cli(kd, "create", "--name", f"stopped-{tag}", "busybox",
                            "true")).strip()
    net = f"unused-{tag}"
    ok(docker_cli(kd, "network", "create", net))
    ok(docker_cli(kd, "run", "--name", f"anon-{tag}", "-v", "/anon", "busybox", "true"))
    volume = ok(docker_cli(kd, "inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}",
                           f"anon-{tag}")).strip()
    ok(docker_cli(kd, "rm", f"anon-{tag}"))
    image = ok(docker_cli(kd, "commit", stopped, f"dangling-{tag}")).strip()
    ok(docker_cli(kd, "tag", "busybox", f"dangling-{tag}"))  # the commit's image: untagged
    return {"container": stopped, "network": net, "volume": volume, "image": image}


def test_system_prune_as_the_docker_cli(kd: Ketchd) -> None:
    ok(docker_cli(kd, "network", "create", "kept"))
    ok(docker_cli(kd, "run", "-d", "--name", "running", "--network", "kept", "-v",
                  "kept:/data", "busybox", "sleep", "300"))
    reports = {}
    for which in ("docker", "ketch"):
        made = _leftovers(kd, which)
        proc = subprocess.run([KETCH if which == "ketch" else "docker", "system", "prune",
                               "-f", "--volumes"], env=kd.env(), capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
        assert f"Deleted Containers:\n{made['container']}\n\n" in out
        assert f"Deleted Networks:\n{made['network']}\n\n" in out
        assert made["volume"] in out and f"deleted: {made['image']}" in out
        assert re.search(r"Total reclaimed space: [0-9.]+k?B\n$", out), out
        reports[which] = re.sub(r"[0-9a-f]{64}|unused-\w+|[0-9.]+k?B", "X", out)
    assert reports["ketch"] == reports["docker"]
    assert ok(docker_cli(kd, "ps", "-q", "--filter", "name=running")).strip()
    assert ok(docker_cli(kd, "network", "ls", "-q", "--filter", "name=kept")).strip()
    assert ok(docker_cli(kd, "volume", "ls", "-q", "--filter", "name=kept")) == "kept\n"
    assert ok(docker_cli(kd, "images", "-q", "busybox")).strip()


def test_prompt_and_bad_filters(kd: Ketchd) -> None:
    ok(docker_cli(kd, "create", "--name", "asked", "busybox", "true"))
    for cli in ("docker", KETCH):
        proc = subprocess.run([cli, "system", "prune", "--filter", "label=x"], env=kd.env(),
                              input="n\n", capture_output=True, text=True, timeout=30,
                              check=False)
        assert proc.returncode == 0
        assert proc.stdout == (
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not "
            "used by at least one container\n  - all dangling images\n  - unused build "
            "cache\n\n  Items to be pruned will be filtered with:\n  - label=x\n\nAre you "
            "sure you want to continue? [y/N] ")
        proc = subprocess.run([cli, "system", "prune", "-f", "--volumes", "--filter",
                               "until=1h"], env=kd.env(), capture_output=True, text=True,
                              timeout=30, check=False)
        assert (proc.returncode, proc.stderr.splitlines()[0]) == (
            1, 'ERROR: The "until" filter is not supported with "--volumes"')
    assert ok(docker_cli(kd, "ps", "-aq", "--filter", "name=asked")).strip()
