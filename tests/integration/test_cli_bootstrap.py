"""`ketch bootstrap` makes the base images and imports them into the daemon, once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from support.daemon import BUSYBOX_TAR, Ketchd, running_ketchd

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not BUSYBOX_TAR.exists(), reason="no base images made yet")]


@pytest.fixture
def ketchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ketchd]:
    with running_ketchd(tmp_path_factory.mktemp("ketchd"), busybox=False) as daemon:
        yield daemon


def ketch(ketchd: Ketchd, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ketch.cli.main", *args], env=ketchd.env(),
                          capture_output=True, text=True, timeout=120, check=False)


def test_bootstrap_busybox(ketchd: Ketchd) -> None:
    first = ketch(ketchd, "bootstrap", "busybox")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("busybox:latest: sha256:")
    assert ketch(ketchd, "bootstrap", "busybox").stdout == "busybox:latest: already there\n"
    run = ketch(ketchd, "run", "--rm", "busybox")  # the image's CMD is sh, reading no stdin
    assert run.returncode == 0, run.stderr
    bad = ketch(ketchd, "bootstrap", "alpine")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
