"""`docker stats`: the cgroup v1 and v2 readers on fake trees of plain files, the samples
in dockerd's JSON (engine/stats.py), their timing, and the docker CLI's arithmetic and
table over them (cli/stats_format.py). The JSON and table texts compared here are what
dockerd 20.10 and the docker CLI 28 printed on this machine for the same figures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from ketch.cli.formatter import render
from ketch.cli.stats_format import (
    DEFAULT_FORMAT,
    TITLES,
    StatsEntry,
    StatsRow,
    block_io,
    bytes_size,
    cpu_percent,
    entry_of,
    mem_percent,
    mem_usage_no_cache,
    network_io,
    stats_format,
)
from ketch.engine import stats as engine_stats
from ketch.engine.stats import (
    V1_MEMORY_KEYS,
    V2_MEMORY_KEYS,
    after,
    empty_sample,
    machine_memory,
    network_stats,
    rfc3339nano,
    sample,
    system_cpu_usage,
)
from ketch.runtime.cgroups.stats import (
    UNLIMITED,
    Metrics,
    parse_blkio,
    parse_io_stat,
    read_metrics,
)
from ketch.runtime.cgroups.v1 import V1Cgroup
from ketch.runtime.cgroups.v2 import V2Cgroup

CID = "6b1fb43c3be6890099c6228ea5750013ae72985ce9f87bc57858ae86b4104cef"
MEMORY_STAT_V1 = """cache 8192
rss 49152
rss_huge 0
shmem 0
mapped_file 4096
dirty 0
writeback 0
swap 0
pgpgin 833
pgpgout 821
pgfault 1210
pgmajfault 1
inactive_anon 45056
active_anon 4096
inactive_file 8192
active_file 0
unevictable 0
hierarchical_memory_limit 9223372036854771712
hierarchical_memsw_limit 9223372036854771712
total_cache 8192
total_rss 49152
total_rss_huge 0
total_shmem 0
total_mapped_file 4096
total_dirty 0
total_writeback 0
total_swap 0
total_pgpgin 833
total_pgpgout 821
total_pgfault 1210
total_pgmajfault 1
total_inactive_anon 45056
total_active_anon 4096
total_inactive_file 8192
total_active_file 0
total_unevictable 0
"""
MEMORY_STAT_V2 = """anon 1048576
file 2097152
kernel_stack 16384
pagetables 4096
sock 0
shmem 0
file_mapped 0
file_dirty 0
file_writeback 0
anon_thp 0
inactive_anon 1040384
active_anon 8192
inactive_file 2097152
active_file 0
unevictable 0
slab_reclaimable 1000
slab_unreclaimable 2000
slab 3000
workingset_refault_anon 0
workingset_refault_file 0
pgfault 700
pgmajfault 3
"""


def files(directory: Path, contents: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in contents.items():
        (directory / name).write_text(text)


def v1_tree(root: Path, blkio: dict[str, str] | None = None) -> V1Cgroup:
    """A container's directories in the cpu, cpuacct, memory, pids and blkio hierarchies,
    each mounted on its own as on this host."""
    contents = {
        "cpuacct": {"cpuacct.usage": "50333921\n", "cpuacct.usage_percpu": "41693898 8640023 \n",
                    "cpuacct.stat": "user 3\nsystem 2\n"},
        "cpu": {"cpu.stat": "nr_periods 10\nnr_throttled 4\nthrottled_time 123456\n"
                            "nr_bursts 0\nburst_time 0\n"},
        "memory": {"memory.stat": MEMORY_STAT_V1, "memory.usage_in_bytes": "552960\n",
                   "memory.max_usage_in_bytes": "3969024\n", "memory.failcnt": "0\n",
                   "memory.limit_in_bytes": "9223372036854771712\n"},
        "pids": {"pids.current": "3\n", "pids.max": "max\n"},
        "blkio": blkio if blkio is not None else {
            "blkio.throttle.io_service_bytes": "254:0 Read 4096\n254:0 Write 1048576\n"
                                               "254:0 Sync 0\n254:0 Async 1052672\n"
                                               "254:0 Discard 0\n254:0 Total 1052672\n"
                                               "Total 1052672\n",
            "blkio.throttle.io_serviced": "254:0 Read 1\n254:0 Write 256\nTotal 257\n"},
    }
    hierarchies = []
    for name, content in contents.items():
        files(root / name / "docker" / "c1", content)
        hierarchies.append((name, str(root / name / "docker" / "c1"), name))
    return V1Cgroup(hierarchies)


def v2_tree(root: Path, **extra: str) -> V2Cgroup:
    contents = {"cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"
                            "nr_periods 7\nnr_throttled 2\nthrottled_usec 1500\n",
                "memory.current": "4194304\n", "memory.max": "max\n",
                "memory.stat": MEMORY_STAT_V2,
                "memory.events": "low 0\nhigh 0\nmax 0\noom 2\noom_kill 1\n",
                "pids.current": "5\n", "pids.max": "100\n",
                "io.stat": "254:0 rbytes=8192 wbytes=65536 rios=2 wios=16 dbytes=0 dios=0\n"
                           "7:1 rbytes=0 wbytes=4096 rios=0 wios=1 dbytes=0 dios=0\n",
                **extra}
    files(root / "sys.slice" / "c1", contents)
    return V2Cgroup(str(root / "sys.slice" / "c1"), str(root))


# -- the readers ------------------------------------------------------------------------------


def test_v1_reads_cpuacct_cpu_memory_pids_and_the_throttle_files(tmp_path: Path) -> None:
    m = read_metrics(v1_tree(tmp_path), clock_ticks=100)
    assert m.version == 1
    assert (m.cpu_total, m.cpu_percpu) == (50333921, [41693898, 8640023])
    assert (m.cpu_user, m.cpu_kernel) == (30_000_000, 20_000_000)  # ticks of 10 ms
    assert (m.throttle_periods, m.throttled_periods, m.throttled_time) == (10, 4, 123456)
    assert (m.memory_usage, m.memory_max_usage, m.memory_failcnt) == (552960, 3969024, 0)
    assert m.memory_limit == 9223372036854771712
    assert m.memory_stat["total_inactive_file"] == 8192 and m.memory_stat["swap"] == 0
    assert (m.pids_current, m.pids_limit) == (3, 0)  # "max": no limit
    # no CFQ files here (a BFQ kernel, as on this host): the throttle layer's counts
    assert [(e.major, e.minor, e.op, e.value) for e in
            m.blkio["io_service_bytes_recursive"]] == [
        (254, 0, "Read", 4096), (254, 0, "Write", 1048576), (254, 0, "Sync", 0),
        (254, 0, "Async", 1052672), (254, 0, "Discard", 0), (254, 0, "Total", 1052672)]
    assert [e.value for e in m.blkio["io_serviced_recursive"]] == [1, 256]
    assert m.blkio["sectors_recursive"] == [] and m.blkio["time_recursive"] == []


def test_v1_prefers_the_cfq_files_when_they_count(tmp_path: Path) -> None:
    cfq = {"blkio.io_serviced_recursive": "8:0 Read 2\n8:0 Write 3\nTotal 5\n",
           "blkio.io_service_bytes_recursive": "8:0 Read 8192\n8:0 Write 12288\nTotal 20480\n",
           "blkio.sectors_recursive": "8:0 40\n",
           "blkio.throttle.io_service_bytes": "8:0 Read 1\n"}
    m = read_metrics(v1_tree(tmp_path, blkio=cfq), clock_ticks=100)
    assert [(e.op, e.value) for e in m.blkio["io_service_bytes_recursive"]] == [
        ("Read", 8192), ("Write", 12288)]
    assert [(e.major, e.minor, e.op, e.value) for e in m.blkio["sectors_recursive"]] == [
        (8, 0, "", 40)]
    assert m.blkio["io_queued_recursive"] == []  # absent: nothing to count


def test_v1_without_a_hierarchy_reads_zeros_and_a_pids_limit(tmp_path: Path) -> None:
    cg = v1_tree(tmp_path)
    (tmp_path / "pids" / "docker" / "c1" / "pids.max").write_text("50\n")
    cg = V1Cgroup([h for h in cg.hierarchies if h[0] not in ("blkio", "cpu")])
    m = read_metrics(cg, clock_ticks=100)
    assert m.pids_limit == 50 and m.blkio == {} and m.throttle_periods == 0
    assert m.cpu_total == 50333921


def test_v1_a_removed_cgroup_is_file_not_found(tmp_path: Path) -> None:
    cg = v1_tree(tmp_path)
    for name in ("cpuacct", "cpu", "memory", "pids", "blkio"):
        for f in (tmp_path / name / "docker" / "c1").iterdir():
            f.unlink()
        (tmp_path / name / "docker" / "c1").rmdir()
    with pytest.raises(FileNotFoundError):
        read_metrics(cg, clock_ticks=100)


def test_v2_reads_microseconds_memory_events_pids_and_io_stat(tmp_path: Path) -> None:
    m = read_metrics(v2_tree(tmp_path))
    assert m.version == 2 and m.cpu_percpu == []
    assert (m.cpu_total, m.cpu_user, m.cpu_kernel) == (2_500_000_000, 2_000_000_000,
                                                       500_000_000)
    assert (m.throttle_periods, m.throttled_periods, m.throttled_time) == (7, 2, 1_500_000)
    assert (m.memory_usage, m.memory_limit, m.memory_failcnt) == (4194304, UNLIMITED, 2)
    assert m.memory_stat["inactive_file"] == 2097152 and m.memory_max_usage == 0
    assert (m.pids_current, m.pids_limit) == (5, 100)
    assert m.has_io
    assert [(e.major, e.minor, e.op, e.value) for e in
            m.blkio["io_service_bytes_recursive"]] == [
        (254, 0, "read", 8192), (254, 0, "write", 65536), (7, 1, "read", 0),
        (7, 1, "write", 4096)]


def test_v2_without_controllers_reads_zeros_and_gone_is_file_not_found(
        tmp_path: Path) -> None:
    directory = tmp_path / "c2"
    files(directory, {"cpu.stat": "usage_usec 10\nuser_usec 6\nsystem_usec 4\n"})
    m = read_metrics(V2Cgroup(str(directory), str(tmp_path)))
    assert (m.cpu_total, m.memory_usage, m.pids_current, m.pids_limit) == (10_000, 0, 0, 0)
    assert m.memory_limit == UNLIMITED and not m.has_io and m.blkio == {}
    with pytest.raises(FileNotFoundError):
        read_metrics(V2Cgroup(str(tmp_path / "gone"), str(tmp_path)))


def test_odd_lines_are_skipped_never_a_crash() -> None:
    assert parse_blkio("Total 0\n\nx:y Read 1\n8:0 Read nope\n8:16 Write 7\n") == \
        parse_blkio("8:16 Write 7")
    assert [(e.op, e.value) for e in parse_io_stat("garbage\n8:0 rbytes=x wbytes=5\n")] == \
        [("read", 0), ("write", 5)]


# -- the host and the samples ---------------------------------------------------------------


def test_system_cpu_usage_memory_and_time_as_dockerd_reads_them() -> None:
    proc_stat = ("cpu  780597 0 526416 4791581 39483 0 45577 319 0 0\n"
                 "cpu0 390000 0 263000 2395000 19000 0 22000 100 0 0\n"
                 "cpu1 390597 0 263416 2396581 20483 0 23577 219 0 0\nintr 1 2 3\n")
    assert system_cpu_usage(proc_stat, 100) == (61836540000000, 2)
    assert machine_memory("MemTotal:       24684084 kB\nMemFree: 1 kB\n") == 25276502016
    assert rfc3339nano(1795847739_116036412) == "2026-11-28T06:35:39.116036412Z"
    assert rfc3339nano(1795847759_840570550) == "2026-11-28T06:35:59.84057055Z"
    assert rfc3339nano(1795847759_000000000) == "2026-11-28T06:35:59Z"


def test_network_stats_are_the_endpoints_of_proc_net_dev() -> None:
    net_dev = (
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    "
        "packets errs drop fifo colls carrier compressed\n"
        "    lo:     100       2    0    0    0     0          0         0      100       2"
        "    0    0    0     0       0          0\n"
        "  eth1:    1586      19    1    2    0     0          0         0      266       3"
        "    4    5    0     0       0          0\n"
        " tunl0:       0       0    0    0    0     0          0         0        0       0"
        "    0    0    0     0       0          0\n"
        "  eth0:     626       7    0    0    0     0          0         0        0       0"
        "    0    0    0     0       0          0\n")
    assert network_stats(net_dev) == {
        "eth0": {"rx_bytes": 626, "rx_packets": 7, "rx_errors": 0, "rx_dropped": 0,
                 "tx_bytes": 0, "tx_packets": 0, "tx_errors": 0, "tx_dropped": 0},
        "eth1": {"rx_bytes": 1586, "rx_packets": 19, "rx_errors": 1, "rx_dropped": 2,
                 "tx_bytes": 266, "tx_packets": 3, "tx_errors": 4, "tx_dropped": 5}}
    assert list(network_stats(net_dev)) == ["eth0", "eth1"]


# what dockerd 20.10 answered for a created, never started container (stream=false)
DOCKERD_STOPPED = (
    '{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","pids_stats":{},'
    '"blkio_stats":{"io_service_bytes_recursive":null,"io_serviced_recursive":null,'
    '"io_queue_recursive":null,"io_service_time_recursive":null,"io_wait_time_recursive":'
    'null,"io_merged_recursive":null,"io_time_recursive":null,"sectors_recursive":null},'
    '"num_procs":0,"storage_stats":{},"cpu_stats":{"cpu_usage":{"total_usage":0,'
    '"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,'
    '"throttled_periods":0,"throttled_time":0}},"precpu_stats":{"cpu_usage":'
    '{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":'
    '{"periods":0,"throttled_periods":0,"throttled_time":0}},"memory_stats":{},'
    f'"name":"/s2","id":"{CID}"}}')


def test_a_stopped_container_is_dockerds_empty_sample() -> None:
    assert json.dumps(empty_sample("/s2", CID), separators=(",", ":")) == DOCKERD_STOPPED


def test_a_v1_sample_has_dockerds_fields_order_and_omissions(tmp_path: Path) -> None:
    m = read_metrics(v1_tree(tmp_path), clock_ticks=100)
    s = sample(m, name="/s1", cid=CID, read_ns=1795847739_116036412,
               system=(60116670000000, 2), memory_total=25276502016, networks=None)
    assert list(s) == ["read", "preread", "pids_stats", "blkio_stats", "num_procs",
                       "storage_stats", "cpu_stats", "precpu_stats", "memory_stats", "name",
                       "id"]  # no networks for --network none/host
    assert s["read"] == "2026-11-28T06:35:39.116036412Z"
    assert s["preread"] == "0001-01-01T00:00:00Z"
    assert s["pids_stats"] == {"current": 3}  # no limit: no "limit"
    assert list(s["blkio_stats"]) == [
        "io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
        "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
        "io_time_recursive", "sectors_recursive"]
    assert s["blkio_stats"]["io_service_bytes_recursive"][0] == {
        "major": 254, "minor": 0, "op": "Read", "value": 4096}
    assert s["blkio_stats"]["sectors_recursive"] == []  # v1: empty lists, not null
    assert s["cpu_stats"] == {
        "cpu_usage": {"total_usage": 50333921, "percpu_usage": [41693898, 8640023],
                      "usage_in_kernelmode": 20000000, "usage_in_usermode": 30000000},
        "system_cpu_usage": 60116670000000, "online_cpus": 2,
        "throttling_data": {"periods": 10, "throttled_periods": 4,
                            "throttled_time": 123456}}
    memory = s["memory_stats"]
    assert list(memory) == ["usage", "max_usage", "stats", "limit"]  # failcnt 0: omitted
    assert memory["limit"] == 25276502016  # unlimited: the host's memory
    assert tuple(memory["stats"]) == V1_MEMORY_KEYS and len(V1_MEMORY_KEYS) == 32
    assert memory["stats"]["total_inactive_file"] == 8192 and "swap" not in memory["stats"]
    assert s["storage_stats"] == {} and s["num_procs"] == 0
    networks = {"eth0": dict.fromkeys(engine_stats.NET_FIELDS, 0)}
    with_net = sample(m, name="/s1", cid=CID, read_ns=1, system=(1, 2), memory_total=1 << 63,
                      networks=networks)
    assert list(with_net)[-1] == "networks" and with_net["networks"] == networks
    assert with_net["memory_stats"]["limit"] == 9223372036854771712  # below the host's


def test_a_v2_sample_has_no_percpu_no_max_usage_and_one_blkio_list(tmp_path: Path) -> None:
    m = read_metrics(v2_tree(tmp_path))
    s = sample(m, name="/s1", cid=CID, read_ns=1, system=(5, 2), memory_total=8 << 30,
               networks={})
    assert "networks" not in s  # no endpoint: no key
    assert s["cpu_stats"]["cpu_usage"] == {"total_usage": 2500000000,
                                           "usage_in_kernelmode": 500000000,
                                           "usage_in_usermode": 2000000000}
    assert s["cpu_stats"]["throttling_data"] == {"periods": 7, "throttled_periods": 2,
                                                 "throttled_time": 1500000}
    assert s["pids_stats"] == {"current": 5, "limit": 100}
    assert s["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 254, "minor": 0, "op": "read", "value": 8192},
        {"major": 254, "minor": 0, "op": "write", "value": 65536},
        {"major": 7, "minor": 1, "op": "read", "value": 0},
        {"major": 7, "minor": 1, "op": "write", "value": 4096}]
    assert all(v is None for k, v in s["blkio_stats"].items()
               if k != "io_service_bytes_recursive")
    memory = s["memory_stats"]
    assert list(memory) == ["usage", "stats", "failcnt", "limit"]
    assert (memory["usage"], memory["failcnt"], memory["limit"]) == (4194304, 2, 8 << 30)
    assert tuple(memory["stats"]) == V2_MEMORY_KEYS and len(V2_MEMORY_KEYS) == 31
    assert memory["stats"]["inactive_file"] == 2097152 and "pagetables" not in memory["stats"]
    no_io = sample(Metrics(version=2), name="/s1", cid=CID, read_ns=1, system=(0, 0),
                   memory_total=0, networks=None)
    assert all(v is None for v in no_io["blkio_stats"].values())
    assert "system_cpu_usage" not in no_io["cpu_stats"]


def test_after_takes_the_previous_samples_time_and_cpu() -> None:
    first = sample(Metrics(version=2, cpu_total=100), name="/a", cid=CID, read_ns=10**18,
                   system=(1000, 2), memory_total=1, networks=None)
    second = after(sample(Metrics(version=2, cpu_total=300), name="/a", cid=CID,
                          read_ns=10**18 + 10**9, system=(2000, 2), memory_total=1,
                          networks=None), first)
    assert second["preread"] == first["read"] and second["precpu_stats"] == first["cpu_stats"]
    assert cpu_percent(second) == 200 / 1000 * 2 * 100


# -- how the samples come ---------------------------------------------------------------------


class FakeContainer:
    def __init__(self, running: bool) -> None:
        self.id, self.name = CID, "s1"
        self.state: dict[str, Any] = {"Running": running, "Pid": 42}
        self.host_config: dict[str, Any] = {"NetworkMode": "bridge"}

    @property
    def running(self) -> bool:
        return bool(self.state["Running"])


class FakeStore:
    def __init__(self, c: FakeContainer) -> None:
        self.by_id = {c.id: c}


def run_samples(monkeypatch: pytest.MonkeyPatch, c: FakeContainer, store: FakeStore,
                limit: int = 10, on_sample: Any = None, **kwargs: bool) -> list[dict[str, Any]]:
    counter = iter(range(1, 1000))

    def take(self: Any, container: Any) -> dict[str, Any]:
        if not container.running:
            return empty_sample("/s1", CID)
        n = next(counter)
        return sample(Metrics(version=2, cpu_total=n * 1000), name="/s1", cid=CID,
                      read_ns=n * 10**9, system=(n * 10**6, 2), memory_total=1, networks=None)

    monkeypatch.setattr(engine_stats.Sampler, "take", take)
    monkeypatch.setattr(engine_stats, "INTERVAL", 0.01)

    async def collect() -> list[dict[str, Any]]:
        got = []
        gen = engine_stats.samples(store, c, "/nonexistent", **kwargs)  # type: ignore[arg-type]
        async for s in gen:
            got.append(s)
            if on_sample:
                on_sample(len(got))
            if len(got) >= limit:
                await gen.aclose()
                break
        return got

    return asyncio.run(collect())


def test_once_waits_for_a_second_sample_one_shot_does_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    c = FakeContainer(running=True)
    once = run_samples(monkeypatch, c, FakeStore(c), stream=False, one_shot=False)
    assert len(once) == 1
    assert once[0]["preread"] == rfc3339nano(10**9)  # the first sample, a tick before
    assert once[0]["precpu_stats"]["cpu_usage"]["total_usage"] == 1000
    shot = run_samples(monkeypatch, c, FakeStore(c), stream=False, one_shot=True)
    assert len(shot) == 1 and shot[0]["preread"] == "0001-01-01T00:00:00Z"
    assert shot[0]["precpu_stats"] == engine_stats.empty_cpu()
    c.state["Running"] = False
    stopped = run_samples(monkeypatch, c, FakeStore(c), stream=False, one_shot=False)
    assert stopped == [empty_sample("/s1", CID)]


def test_a_stream_goes_on_when_stopped_and_ends_when_removed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    c = FakeContainer(running=True)
    store = FakeStore(c)

    def step(n: int) -> None:
        if n == 3:
            c.state["Running"] = False  # it stops: empty samples follow
        if n == 5:
            store.by_id.clear()  # removed: the stream ends

    got = run_samples(monkeypatch, c, store, on_sample=step, stream=True, one_shot=False)
    assert len(got) == 5
    assert got[0]["preread"] == "0001-01-01T00:00:00Z"  # the first comes at once
    assert got[1]["precpu_stats"] == got[0]["cpu_stats"]
    assert got[3]["read"] == "0001-01-01T00:00:00Z" and got[3]["memory_stats"] == {}
    assert got[3]["precpu_stats"] == got[2]["cpu_stats"]


# -- the docker CLI's arithmetic and table ----------------------------------------------------


def test_units_as_go_units_prints_them() -> None:
    assert [bytes_size(v) for v in (0, 327680, 622592, 1.5 * 2**20, 104857600,
                                    25276502016, 1023, 1024)] == [
        "0B", "320KiB", "608KiB", "1.5MiB", "100MiB", "23.54GiB", "1023B", "1KiB"]


def test_memory_without_the_inactive_file_cache_v1_and_v2() -> None:
    v1 = {"usage": 10000, "stats": {"total_inactive_file": 3000, "inactive_file": 1}}
    assert mem_usage_no_cache(v1) == 7000.0
    assert mem_usage_no_cache({"usage": 10000, "stats": {"inactive_file": 4000}}) == 6000.0
    # more inactive than usage (v1 falls through to v2's key, as the CLI does)
    assert mem_usage_no_cache({"usage": 100, "stats": {"total_inactive_file": 200,
                                                       "inactive_file": 50}}) == 50.0
    assert mem_usage_no_cache({}) == 0.0
    assert mem_percent(0, 5) == 0.0 and mem_percent(200, 50) == 25.0


def test_cpu_percent_needs_both_deltas_and_counts_per_cpu_without_online() -> None:
    base = {"cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000},
                          "system_cpu_usage": 20_000_000_000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000},
                             "system_cpu_usage": 18_000_000_000}}
    assert cpu_percent(base) == 200.0  # two busy CPUs
    base["cpu_stats"]["online_cpus"] = 0
    base["cpu_stats"]["cpu_usage"]["percpu_usage"] = [1, 2, 3, 4]
    assert cpu_percent(base) == 400.0
    base["precpu_stats"]["system_cpu_usage"] = 20_000_000_000
    assert cpu_percent(base) == 0.0
    assert cpu_percent({}) == 0.0


def test_block_and_network_io_sums() -> None:
    blkio = {"io_service_bytes_recursive": [
        {"op": "Read", "value": 4096}, {"op": "Write", "value": 1048576},
        {"op": "read", "value": 1}, {"op": "write", "value": 2},
        {"op": "Total", "value": 99}, {"op": "", "value": 5}]}
    assert block_io(blkio) == (4097, 1048578) and block_io(None) == (0, 0)
    nets = {"eth0": {"rx_bytes": 626, "tx_bytes": 0}, "eth1": {"rx_bytes": 1000,
                                                              "tx_bytes": 7}}
    assert network_io(nets) == (1626, 7) and network_io(None) == (0, 0)


def dockerd_sample(name: str, cid: str, usage: int, limit: int, rx: int) -> dict[str, Any]:
    return {"name": name, "id": cid,
            "memory_stats": {"usage": usage, "stats": {"total_inactive_file": 0},
                             "limit": limit},
            "networks": {"eth0": {"rx_bytes": rx, "tx_bytes": 0}},
            "pids_stats": {"current": 1},
            "cpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 10,
                          "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 5}}


# the docker CLI 28's `docker stats --no-stream -a` against dockerd on this machine
DOCKER_TABLE = """\
CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O      BLOCK I/O   PIDS
3a2f8e7816af   s3        0.00%     608KiB / 100MiB     0.59%     1.1kB / 0B   0B / 0B     1
604cdba68265   s2        0.00%     0B / 0B             0.00%     0B / 0B      0B / 0B     0
6b1fb43c3be6   s1        0.00%     320KiB / 23.54GiB   0.00%     0B / 0B      0B / 0B     1
"""


def test_the_default_table_is_the_docker_clis() -> None:
    s3 = "3a2f8e7816af50f2f6423991e7abb6d67d5147fa89520f7518d17627be87c749"
    s2 = "604cdba682652a0a7069c22986de1413975135f6d0b1259ff4c8d2dfee063d42"
    stopped = {**empty_sample("/s2", s2)}
    entries = [entry_of("3a2f8e7816af", dockerd_sample("/s3", s3, 622592, 104857600, 1100)),
               entry_of("604cdba68265", stopped),
               entry_of("6b1fb43c3be6", dockerd_sample("/s1", CID, 327680, 25276502016, 0))]
    rows = [StatsRow(e) for e in entries]
    assert render(stats_format(""), rows, TITLES) == DOCKER_TABLE
    assert render(stats_format("table"), rows, TITLES) == DOCKER_TABLE
    assert stats_format("table") == DEFAULT_FORMAT
    assert render("{{json .}}", rows[:1], TITLES) == (
        '{"BlockIO":"0B / 0B","CPUPerc":"0.00%","Container":"3a2f8e7816af",'
        '"ID":"3a2f8e7816af","MemPerc":"0.59%","MemUsage":"608KiB / 100MiB","Name":"s3",'
        '"NetIO":"1.1kB / 0B","PIDs":"1"}\n')
    wide = render("table {{.Container}}\t{{.ID}}", [StatsRow(entries[2], trunc=False)],
                  TITLES)
    assert wide == f"CONTAINER      CONTAINER ID\n6b1fb43c3be6   {CID}\n"


def test_a_container_that_cannot_be_read_shows_dashes() -> None:
    row = StatsRow(StatsEntry("gone", invalid=True))
    assert (row.Name, row.ID, row.CPUPerc, row.MemUsage, row.MemPerc, row.NetIO,
            row.BlockIO, row.PIDs) == ("--", "", "--", "-- / --", "--", "--", "--", "--")
    assert row.Container == "gone"
