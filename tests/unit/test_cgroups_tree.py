"""The v1 and v2 resource writers against a fake cgroup tree of plain files.

Controllers bound to v1 on the test host (memory, pids, cpu) cannot be driven
through cgroup2 for real, and v1 needs root; the writers only write files, so
a tmp tree with the same file names shows what each OCI value becomes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ketch.errors import HostError, InvalidParameter
from ketch.runtime.cgroups import Cgroup
from ketch.runtime.cgroups.v1 import V1Cgroup
from ketch.runtime.cgroups.v2 import V2Cgroup, cpu_weight, io_weight

V1_FILES = {
    "memory": ["memory.limit_in_bytes=9223372036854771712", "memory.memsw.limit_in_bytes",
               "memory.soft_limit_in_bytes", "memory.oom_control", "memory.swappiness",
               "memory.usage_in_bytes", "memory.max_usage_in_bytes"],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us",
            "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "pids": ["pids.max"],
    "blkio": ["blkio.weight", "blkio.weight_device", "blkio.leaf_weight",
              "blkio.throttle.read_bps_device", "blkio.throttle.write_iops_device"],
    "hugetlb": ["hugetlb.2MB.limit_in_bytes"],
    "net_cls": ["net_cls.classid"],
    "net_prio": ["net_prio.ifpriomap"],
    "devices": ["devices.allow", "devices.deny", "devices.list"],
    "freezer": ["freezer.state=THAWED"],
    "systemd": [],
}


def populate(directory: Path, files: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for spec in [*files, "cgroup.procs"]:
        name, _, value = spec.partition("=")
        (directory / name).write_text(value)


def read(directory: str | Path, name: str) -> str:
    return (Path(directory) / name).read_text()


@pytest.fixture
def v1(tmp_path: Path) -> V1Cgroup:
    hierarchies = []
    for name, files in V1_FILES.items():
        populate(tmp_path / name / "ketch" / "c1", files)
        options = "name=systemd" if name == "systemd" else name
        hierarchies.append((name, str(tmp_path / name / "ketch" / "c1"), options))
    for parent in ("", "ketch"):
        populate(tmp_path / "cpuset" / parent, ["cpuset.cpus=0-1\n", "cpuset.mems=0\n"])
    return V1Cgroup(hierarchies)


def path(cg: V1Cgroup, subsystem: str) -> str:
    found = cg.path(subsystem)
    assert found is not None
    return found


FULL: dict[str, Any] = {
    "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20,
               "swappiness": 10, "disableOOMKiller": True, "kernel": 1 << 20},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000,
            "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "1", "mems": "0",
            "idle": 1},
    "pids": {"limit": 42},
    "blockIO": {"weight": 500, "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    "devices": [{"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
}


def test_v1_create_fills_an_empty_cpuset_from_its_parent(v1: V1Cgroup) -> None:
    v1.create()
    assert read(path(v1, "cpuset"), "cpuset.cpus") == "0-1"
    assert read(path(v1, "cpuset"), "cpuset.mems") == "0"


def test_v1_apply_writes_runc_files(v1: V1Cgroup) -> None:
    v1.apply(FULL)
    expected = {
        ("memory", "memory.limit_in_bytes"): str(64 << 20),
        ("memory", "memory.memsw.limit_in_bytes"): str(128 << 20),
        ("memory", "memory.soft_limit_in_bytes"): str(32 << 20),
        ("memory", "memory.oom_control"): "1",
        ("memory", "memory.swappiness"): "10",
        ("cpu", "cpu.shares"): "1024",
        ("cpu", "cpu.cfs_quota_us"): "50000",
        ("cpu", "cpu.cfs_period_us"): "100000",
        ("cpu", "cpu.cfs_burst_us"): "1000",
        ("cpu", "cpu.rt_runtime_us"): "950000",
        ("cpu", "cpu.rt_period_us"): "1000000",
        ("cpu", "cpu.idle"): "1",
        ("cpuset", "cpuset.cpus"): "1",
        ("cpuset", "cpuset.mems"): "0",
        ("pids", "pids.max"): "42",
        ("blkio", "blkio.weight"): "500",
        ("blkio", "blkio.leaf_weight"): "300",
        ("blkio", "blkio.weight_device"): "8:0 100",
        ("blkio", "blkio.throttle.read_bps_device"): "8:0 1048576",
        ("blkio", "blkio.throttle.write_iops_device"): "8:16 0",
        ("hugetlb", "hugetlb.2MB.limit_in_bytes"): str(4 << 20),
        ("net_cls", "net_cls.classid"): "1048577",
        ("net_prio", "net_prio.ifpriomap"): "eth0 5",
        ("devices", "devices.deny"): "a",
        ("devices", "devices.allow"): "c 1:3 rwm",
    }
    got = {key: read(path(v1, key[0]), key[1]) for key in expected}
    assert got == expected


def test_v1_unlimited_memory_lifts_swap_and_pids(v1: V1Cgroup) -> None:
    v1.apply({"memory": {"limit": -1}, "pids": {"limit": -1}})
    assert read(path(v1, "memory"), "memory.limit_in_bytes") == "-1"
    assert read(path(v1, "memory"), "memory.memsw.limit_in_bytes") == "-1"
    assert read(path(v1, "pids"), "pids.max") == "max"


def test_v1_blkio_uses_bfq_files_when_cfq_is_gone(tmp_path: Path) -> None:
    populate(tmp_path / "blkio" / "c", ["blkio.bfq.weight", "blkio.bfq.weight_device"])
    cg = V1Cgroup([("blkio", str(tmp_path / "blkio" / "c"), "blkio")])
    cg.apply({"blockIO": {"weight": 200, "weightDevice": [{"major": 8, "minor": 0,
                                                           "weight": 50}]}})
    assert read(tmp_path / "blkio" / "c", "blkio.bfq.weight") == "200"
    assert read(tmp_path / "blkio" / "c", "blkio.bfq.weight_device") == "8:0 50"


def test_v1_unmounted_controllers_are_skipped_but_devices_are_required(tmp_path: Path) -> None:
    populate(tmp_path / "memory" / "c", V1_FILES["memory"])
    cg = V1Cgroup([("memory", str(tmp_path / "memory" / "c"), "memory")])
    cg.apply({"pids": {"limit": 5}, "cpu": {"shares": 100}, "memory": {"limit": 1 << 20}})
    with pytest.raises(HostError, match="devices hierarchy is not mounted"):
        cg.apply({"devices": []})


def test_v1_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    populate(tmp_path / "memory" / "c", ["memory.limit_in_bytes=9223372036854771712"])
    cg = V1Cgroup([("memory", str(tmp_path / "memory" / "c"), "memory")])
    with pytest.raises(HostError, match=r"memory\.memsw\.limit_in_bytes.*not available"):
        cg.apply({"memory": {"limit": 1 << 20, "swap": 2 << 20}})


def test_v1_reads_and_state(v1: V1Cgroup) -> None:
    (Path(path(v1, "memory")) / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert v1.oom_kill_count() == 2
    assert not v1.frozen()
    (Path(path(v1, "freezer")) / "freezer.state").write_text("FROZEN\n")
    assert v1.frozen()
    (Path(path(v1, "pids")) / "cgroup.procs").write_text("12\n34\n")
    assert v1.pids() == [12, 34]
    again = Cgroup.from_state(v1.to_state())
    assert isinstance(again, V1Cgroup)
    assert again.hierarchies == v1.hierarchies and again.mount_sources() == v1.hierarchies
    assert ("systemd", path(v1, "name=systemd"), "name=systemd") in v1.mount_sources()


V2_FILES = ["cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems",
            "memory.max", "memory.low", "memory.swap.max", "memory.high", "pids.max",
            "io.weight", "io.max", "hugetlb.2MB.max", "cgroup.freeze", "cgroup.kill",
            "cgroup.events=populated 1\nfrozen 0\n",
            "memory.events=low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"]


@pytest.fixture
def v2(tmp_path: Path) -> V2Cgroup:
    populate(tmp_path, ["cgroup.controllers=cpu memory pids\n", "cgroup.subtree_control"])
    populate(tmp_path / "ketch" / "c1", V2_FILES)
    return V2Cgroup(str(tmp_path / "ketch" / "c1"), str(tmp_path))


def test_v2_create_enables_controllers_in_parents(tmp_path: Path) -> None:
    populate(tmp_path, ["cgroup.controllers=cpu memory pids\n", "cgroup.subtree_control"])
    cg = V2Cgroup(str(tmp_path / "a" / "b"), str(tmp_path))
    cg.create()
    assert os.path.isdir(tmp_path / "a" / "b")
    assert read(tmp_path, "cgroup.subtree_control") == "+cpu +memory +pids"


def test_v2_apply_converts_oci_values(v2: V2Cgroup) -> None:
    v2.apply({
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20,
                   "swappiness": 10, "disableOOMKiller": True},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10, "idle": 0,
                "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 42},
        "blockIO": {"weight": 500,
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 0}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}],
        "unified": {"memory.high": "50000000"},
    })
    got = {name: read(v2.path, name) for name in (
        "memory.max", "memory.low", "memory.swap.max", "cpu.weight", "cpu.max",
        "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight",
        "io.max", "hugetlb.2MB.max", "memory.high")}
    assert got == {
        "memory.max": str(64 << 20), "memory.low": str(32 << 20),
        "memory.swap.max": str(32 << 20), "cpu.weight": "39", "cpu.max": "50000 100000",
        "cpu.max.burst": "10", "cpu.idle": "0", "cpuset.cpus": "0-1", "cpuset.mems": "0",
        "pids.max": "42", "io.weight": str(io_weight(500)), "io.max": "8:0 rbps=max",
        "hugetlb.2MB.max": str(4 << 20), "memory.high": "50000000",
    }


@pytest.mark.parametrize(("memory", "cpu", "expected"), [
    ({"limit": -1}, {"quota": -1, "period": 50000}, ("max", "max", "max 50000")),
    ({"limit": 1 << 20, "swap": 1 << 20}, {"quota": 20000}, (str(1 << 20), "0", "20000")),
    ({"swap": -1}, {"period": 20000}, ("", "max", "max 20000")),
])
def test_v2_unlimited_and_swap_edges(v2: V2Cgroup, memory: dict[str, int],
                                     cpu: dict[str, int], expected: tuple[str, ...]) -> None:
    v2.apply({"memory": memory, "cpu": cpu})
    assert (read(v2.path, "memory.max"), read(v2.path, "memory.swap.max"),
            read(v2.path, "cpu.max")) == expected


def test_v2_refusals(v2: V2Cgroup) -> None:
    with pytest.raises(InvalidParameter, match="needs a memory limit"):
        v2.apply({"memory": {"swap": 1 << 20}})
    with pytest.raises(InvalidParameter, match="realtime"):
        v2.apply({"cpu": {"realtimeRuntime": 1000}})
    os.unlink(os.path.join(v2.path, "memory.swap.max"))
    v2.apply({"memory": {"limit": -1}})  # no swap accounting: lifting it is a no-op
    with pytest.raises(HostError, match=r"memory\.swap\.max"):
        v2.apply({"memory": {"limit": 1 << 20, "swap": 2 << 20}})


def test_v2_conversions_match_runc() -> None:
    assert [cpu_weight(s) for s in (2, 1024, 262144)] == [1, 39, 10000]
    assert [io_weight(w) for w in (10, 500, 1000)] == [1, 4950, 10000]


def test_v2_reads_kill_and_state(v2: V2Cgroup) -> None:
    assert v2.oom_kill_count() == 1
    assert not v2.frozen()
    (Path(v2.path) / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert v2.frozen()
    v2.kill()
    assert read(v2.path, "cgroup.kill") == "1"
    again = Cgroup.from_state(v2.to_state())
    assert isinstance(again, V2Cgroup)
    assert (again.path, again.root) == (v2.path, v2.root)
