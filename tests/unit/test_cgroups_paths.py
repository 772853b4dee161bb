"""Resolving linux.cgroupsPath against mountinfo and /proc/self/cgroup (no root needed)."""

from __future__ import annotations

import pytest

from ketch.errors import HostError, InvalidParameter
from ketch.runtime.cgroups.paths import (
    host_dir,
    inner_path,
    parse_mountinfo,
    parse_proc_cgroup,
)

HYBRID = """\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
42 31 0:29 / /mnt/elsewhere rw,relatime - cgroup cgroup rw,pids
43 31 0:32 / /sys/fs/cgroup/memory2 rw,relatime - cgroup cgroup rw,memory
"""

PROC_CGROUP = """\
12:name=systemd:/user.slice
4:memory:/docker/abc/inner
3:cpuset:/
2:cpuacct,cpu:/sys
0::/init.scope
"""


def test_inner_path_defaults_to_the_container_id_relative() -> None:
    assert inner_path(None, "abc") == "abc"
    assert inner_path("", "abc") == "abc"
    assert inner_path("/docker/abc", "x") == "/docker/abc"
    assert inner_path("a//b/./c/", "x") == "a/b/c"


@pytest.mark.parametrize("bad", ["../x", "/a/../../b", "a/..", "/", "./", "a\0b"])
def test_inner_path_refuses_escapes_and_empty(bad: str) -> None:
    with pytest.raises(InvalidParameter):
        inner_path(bad, "id")


def test_mountinfo_keeps_cgroup_mounts_under_root_only() -> None:
    mounts = parse_mountinfo(HYBRID, "/sys/fs/cgroup")
    assert mounts == [
        ("/sys/fs/cgroup/cpu,cpuacct", "/", "cgroup", "cpu,cpuacct"),
        ("/sys/fs/cgroup/cpuset", "/", "cgroup", "cpuset"),
        ("/sys/fs/cgroup/memory", "/docker/abc", "cgroup", "memory"),
        ("/sys/fs/cgroup/systemd", "/", "cgroup", "name=systemd"),
        ("/sys/fs/cgroup/unified", "/", "cgroup2", ""),
    ]  # /mnt/elsewhere is not under the root; memory2 repeats a hierarchy


def test_mountinfo_of_a_v2_root() -> None:
    line = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    assert parse_mountinfo(line, "/sys/fs/cgroup") == [
        ("/sys/fs/cgroup", "/", "cgroup2", "")]


def test_proc_cgroup_keys_match_mountinfo_keys() -> None:
    own = parse_proc_cgroup(PROC_CGROUP)
    assert own == {"name=systemd": "/user.slice", "memory": "/docker/abc/inner",
                   "cpuset": "/", "cpu,cpuacct": "/sys", "": "/init.scope"}


def test_host_dir_absolute_relative_and_mount_root() -> None:
    own = parse_proc_cgroup(PROC_CGROUP)
    assert host_dir("/sys/fs/cgroup/cpuset", "/", "cpuset", "/k/c1", own) == \
        "/sys/fs/cgroup/cpuset/k/c1"
    assert host_dir("/sys/fs/cgroup/cpu,cpuacct", "/", "cpu,cpuacct", "c1", own) == \
        "/sys/fs/cgroup/cpu,cpuacct/sys/c1"
    # the memory mount shows only /docker/abc: our /docker/abc/inner is /inner in it
    assert host_dir("/sys/fs/cgroup/memory", "/docker/abc", "memory", "c1", own) == \
        "/sys/fs/cgroup/memory/inner/c1"
    assert host_dir("/sys/fs/cgroup/unified", "/", "", "c1", own) == \
        "/sys/fs/cgroup/unified/init.scope/c1"
    with pytest.raises(HostError):
        host_dir("/sys/fs/cgroup/pids", "/", "pids", "c1", own)
    with pytest.raises(HostError, match="outside"):
        host_dir("/sys/fs/cgroup/memory", "/other", "memory", "c1", own)
