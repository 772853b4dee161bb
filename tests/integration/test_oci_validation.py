"""The OCI runtime-tools validation suite against ketch-runtime (see tests/oci-validation).

The suite is built from Debian's source package on first use and cached; if it
cannot be fetched or built here the test is skipped, not failed. On this kind of
machine runc passes 35 of its 58 programs and crun 41 (with the hybrid cgroup2
mount hidden); ketch-runtime must keep passing at least as many as it does now.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HARNESS = Path(__file__).resolve().parent.parent / "oci-validation" / "run.sh"
EXPECTED_PASSES = 42  # the 16 others: host limits (no v1 blkio/hugetlb/net_cls, no kmem,
# no CAP_SYS_RESOURCE), suite quirks runc and crun fail too, and linux_ns_itype, which
# wants a container without a mount namespace: refused on purpose (mounts would leak)


def test_runtime_tools_validation() -> None:
    runtime = shutil.which("ketch-runtime")
    assert runtime is not None, "ketch-runtime is not on PATH"
    proc = subprocess.run(["bash", str(HARNESS), runtime], capture_output=True, text=True,
                          timeout=1500, check=False)
    if proc.returncode == 2:
        pytest.skip(f"runtime-tools cannot be built here: {proc.stderr.strip()[-300:]}")
    summary = re.search(r"runtime-tools: (\d+) passed, (\d+) failed", proc.stdout)
    assert summary, proc.stdout[-2000:] + proc.stderr[-2000:]
    failed = [line for line in proc.stdout.splitlines() if line.startswith("not ok")]
    assert int(summary.group(1)) >= EXPECTED_PASSES, "\n".join(failed)
