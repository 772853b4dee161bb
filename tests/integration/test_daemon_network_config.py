"""ketchd's network settings, as dockerd's: `mtu` (the default bridge's MTU, seen in
`network inspect` and by its containers; another value on a restart applies to it),
`dns`/`dns-search`/`dns-opts` for containers that give none, and
`default-address-pools` for the subnets of new networks."""

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


def test_dns_settings_and_address_pools(tmp_path: Path) -> None:
    config = {"dns": ["192.0.2.53"], "dns-search": ["corp.example"], "dns-opts": ["ndots:2"],
              "default-address-pools": [{"base": "10.123.0.0/16", "size": 24}]}
    with running_ketchd(tmp_path, config=config) as kd:
        bridge = json.loads(ok(docker(kd, "network", "inspect", "bridge")))[0]
        assert bridge["IPAM"]["Config"][0]["Subnet"] == "10.123.0.0/24"
        ok(docker(kd, "network", "create", "pooled"))
        pooled = json.loads(ok(docker(kd, "network", "inspect", "pooled")))[0]
        assert pooled["IPAM"]["Config"][0]["Subnet"] == "10.123.1.0/24"
        resolv = ok(docker(kd, "run", "--rm", "busybox", "cat", "/etc/resolv.conf"))
        assert "nameserver 192.0.2.53" in resolv and "search corp.example" in resolv
        assert "options ndots:2" in resolv
        # the container's own settings win; the daemon's are not written into HostConfig
        own = ok(docker(kd, "run", "--rm", "--dns", "192.0.2.54", "busybox", "cat",
                        "/etc/resolv.conf"))
        assert "nameserver 192.0.2.54" in own and "192.0.2.53" not in own
        ok(docker(kd, "create", "--name", "plain", "busybox"))
        assert ok(docker(kd, "inspect", "-f", "{{json .HostConfig.Dns}}", "plain")).strip() \
            == "[]"
        # on a user network the daemon's servers are the embedded DNS's upstreams
        assert "nameserver 127.0.0.11" in ok(docker(
            kd, "run", "--rm", "--network", "pooled", "busybox", "cat", "/etc/resolv.conf"))
        ok(docker(kd, "rm", "plain"))
        ok(docker(kd, "network", "rm", "pooled"))


@pytest.mark.parametrize(("args", "config", "words"), [
    (["--mtu", "67"], {}, "MTU"), (["--mtu", "65536"], {}, "MTU"),
    (["--mtu", "-1"], {}, "MTU"), (["--mtu", "x"], {}, "--mtu"),
    ([], {"mtu": "1500"}, "MTU"),
    ([], {"dns": ["nope"]}, "nope is not an ip address"),
    (["--dns", "1.2.3"], {}, "1.2.3 is not an ip address"),
    ([], {"dns-search": "corp"}, "must be a list of strings"),
    ([], {"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]},
     "size 8 must be between 16 and 30"),
    ([], {"default-address-pools": [{"base": "fd00::/48", "size": 64}]}, "IPv4 only"),
    (["--default-address-pool", "base=nope,size=24"], {}, "invalid default address pool"),
])
def test_bad_network_settings_are_refused(tmp_path: Path, args: list[str],
                                          config: dict[str, object], words: str) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, "-c", "from ketch.api.daemon import main; main()", "--config-file",
         str(path), "-H", f"unix://{tmp_path}/s", "--data-root", str(tmp_path / "d"),
         "--exec-root", str(tmp_path / "e"), *args],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]  # argparse's usage may come before
    assert last.startswith("ketchd: ") and words in last, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "d").exists()
