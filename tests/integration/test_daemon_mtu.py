"""ketchd's `mtu` (daemon.json or --mtu), as dockerd's: the default bridge's MTU, seen in
`network inspect` and by its containers; another value on a restart applies to it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.daemon import docker, ok, running_ketchd

pytestmark = pytest.mark.integration


def test_the_default_bridge_takes_ketchds_mtu(tmp_path: Path) -> None:
    with running_ketchd(tmp_path, config={"mtu": 9000}) as kd:
        bridge = json.loads(ok(docker(kd, "network", "inspect", "bridge")))[0]
        assert bridge["Options"]["com.docker.network.driver.mtu"] == "9000"
        assert ok(docker(kd, "run", "--rm", "busybox", "cat",
                         "/sys/class/net/eth0/mtu")).strip() == "9000"
        # a user-defined network keeps Docker's 1500 unless its own option says otherwise
        ok(docker(kd, "network", "create", "plain"))
        assert ok(docker(kd, "run", "--rm", "--network", "plain", "busybox", "cat",
                         "/sys/class/net/eth0/mtu")).strip() == "1500"
        ok(docker(kd, "network", "rm", "plain"))
        assert kd.proc is not None
        kd.proc.terminate()
        kd.proc.wait(20)
        config = json.loads(kd.config.read_text())
        del config["mtu"]
        kd.config.write_text(json.dumps(config))
        kd.start()
        assert ok(docker(kd, "run", "--rm", "busybox", "cat",
                         "/sys/class/net/eth0/mtu")).strip() == "1500"


@pytest.mark.parametrize("value", ["67", "65536", "-1", "x"])
def test_a_bad_mtu_is_refused(tmp_path: Path, value: str) -> None:
    config = tmp_path / "daemon.json"
    config.write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-c", "from ketch.api.daemon import main; main()", "--config-file",
         str(config), "-H", f"unix://{tmp_path}/s", "--data-root", str(tmp_path / "d"),
         "--exec-root", str(tmp_path / "e"), "--mtu", value],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]  # argparse's usage may come before
    assert last.startswith("ketchd: ") and ("MTU" in last or "--mtu" in last), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "d").exists()
