"""Validation of OCI linux.resources: bad values are refused with the field's path."""

from __future__ import annotations

from typing import Any

import pytest

from ketch.errors import InvalidParameter
from ketch.runtime.cgroups.resources import parse_resources


def test_empty_and_absent_mean_leave_alone() -> None:
    empty: list[dict[str, Any] | None] = [None, {}]
    for value in empty:
        lim = parse_resources(value)
        assert lim.memory is None and lim.cpu_shares is None and lim.pids_limit is None
        assert lim.devices is None and lim.unified == {} and lim.throttle == {}


def test_zero_is_unset_and_minus_one_unlimited_like_runc() -> None:
    lim = parse_resources({"memory": {"limit": 0, "swap": -1, "swappiness": -1},
                           "pids": {"limit": -5}, "cpu": {"quota": -1, "shares": 0}})
    assert lim.memory is None and lim.memory_swap == -1 and lim.swappiness is None
    assert lim.pids_limit == -1 and lim.cpu_quota == -1 and lim.cpu_shares is None


def test_a_full_docker_like_config_parses() -> None:
    lim = parse_resources({
        "memory": {"limit": 1 << 30, "reservation": 1 << 29, "swap": 2 << 30,
                   "kernel": 0, "swappiness": 60, "disableOOMKiller": True},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,3",
                "mems": "0", "idle": 1, "burst": 0},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
        "network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]},
        "unified": {"memory.high": "max"},
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    })
    assert lim.memory == 1 << 30 and lim.memory_swap == 2 << 30 and lim.disable_oom_killer
    assert lim.cpuset_cpus == "0-1,3" and lim.cpu_idle == 1 and lim.cpu_burst == 0
    assert lim.blkio_weight_devices == [(8, 0, 100, None)]
    assert lim.throttle == {"throttleReadBpsDevice": [(8, 0, 1048576)]}
    assert lim.hugepages == [("2MB", 0)]
    assert lim.net_priorities == [("eth0", 5)]
    assert lim.devices == [(False, "a", -1, -1, "rwm"), (True, "c", 1, 3, "rw")]


@pytest.mark.parametrize(("resources", "field"), [
    ({"memory": {"limit": True}}, "memory.limit"),
    ({"memory": {"limit": "1g"}}, "memory.limit"),
    ({"memory": {"limit": -2}}, "memory.limit"),
    ({"memory": {"limit": 100 << 20, "swap": 50 << 20}}, "memory"),
    ({"memory": {"swappiness": 101}}, "swappiness"),
    ({"memory": []}, "memory"),
    ({"cpu": {"shares": 1}}, "cpu.shares"),
    ({"cpu": {"quota": 999}}, "cpu.quota"),
    ({"cpu": {"period": 999}}, "cpu.period"),
    ({"cpu": {"cpus": "0;rm"}}, "cpu.cpus"),
    ({"cpu": {"idle": 2}}, "cpu.idle"),
    ({"blockIO": {"weight": 5}}, "blockIO"),
    ({"blockIO": {"weightDevice": [{"major": 8, "weight": 100}]}}, "weightDevice[0]"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": -1}]}},
     "throttleReadBpsDevice[0]"),
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, "pageSize"),
    ({"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]}, "pageSize"),
    ({"network": {"priorities": [{"name": "eth0 1\nlo", "priority": 1}]}}, "priorities[0]"),
    ({"unified": {"../memory.max": "1"}}, "unified"),
    ({"unified": {"memory.max": 1}}, "unified"),
    ({"devices": [{"allow": "yes", "access": "rwm"}]}, "devices[0].allow"),
    ({"devices": [{"allow": True, "type": "p", "access": "rwm"}]}, "devices[0].type"),
    ({"devices": [{"allow": True, "access": ""}]}, "devices[0].access"),
    ({"devices": [{"allow": True, "access": "rwx"}]}, "devices[0].access"),
    ({"devices": [{"allow": True, "major": -2, "access": "r"}]}, "devices[0].major"),
])
def test_bad_values_name_their_field(resources: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        parse_resources(resources)
    assert field in str(err.value)
    assert "\n" not in str(err.value).replace("\\n", "")
