"""`GET /version` and `GET /info`: what ketchd reports of itself and of this host, in
Docker's fields (empty where Docker names parts ketch does not have)."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import Any

from ketch import __version__

API_VERSION = "1.44"
RUNTIMES = ("runc", "ketch-runtime")  # both names run ketch's own OCI runtime
MIN_API = "1.24"


def version() -> dict[str, Any]:
    uname = os.uname()
    return {
        "Platform": {"Name": "ketch Engine"},
        "Components": [{"Name": "Engine", "Version": __version__,
                        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API,
                                    "GitCommit": "", "GoVersion": "", "Os": "linux",
                                    "Arch": _arch(), "KernelVersion": uname.release,
                                    "Experimental": "false", "BuildTime": ""}},
                       {"Name": "ketch-runtime", "Version": __version__,
                        "Details": {"GitCommit": ""}}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API,
        "GitCommit": "", "GoVersion": "", "Os": "linux", "Arch": _arch(),
        "KernelVersion": uname.release, "BuildTime": "",
    }


def info(*, containers: int, running: int, images: int, data_root: str,
         driver: str = "overlay2", paused: int = 0) -> dict[str, Any]:
    uname = os.uname()
    return {
        "ID": "", "Containers": containers, "ContainersRunning": running - paused,
        "ContainersPaused": paused, "ContainersStopped": containers - running,
        "Images": images, "Driver": driver,  # vfs has no status lines, as Docker's
        "DriverStatus": [["Backing Filesystem", "extfs"]] if driver == "overlay2" else None,
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
        "KernelVersion": uname.release, "OperatingSystem": _os_release("PRETTY_NAME", "Linux"),
        "OSVersion": _os_release("VERSION_ID", ""), "OSType": "linux",
        "Architecture": uname.machine, "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(), "Name": uname.nodename, "ServerVersion": __version__,
        "DockerRootDir": data_root,
        "Runtimes": {name: {"path": "ketch-runtime"} for name in RUNTIMES},
        "DefaultRuntime": "runc", "LiveRestoreEnabled": True, "Debug": False,
        "Plugins": {"Volume": ["local"], "Network": ["host", "null"],
                    "Authorization": None, "Log": ["json-file", "local", "none"]},
        "SecurityOptions": [], "SystemTime": now_local(), "NFd": _open_fds(),
        "NGoroutines": threading.active_count(), "NEventsListener": 0,
        "Labels": [], "ExperimentalBuild": False, "HttpProxy": "", "HttpsProxy": "",
        "NoProxy": "", "Isolation": "", "InitBinary": "", "GenericResources": None,
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""}, "InitCommit": {"ID": "", "Expected": ""},
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "MemoryLimit": True, "SwapLimit": _swap_limit(), "CpuCfsPeriod": True,
        "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True, "PidsLimit": True,
        "OomKillDisable": False, "KernelMemory": False, "KernelMemoryTCP": False,
        "IPv4Forwarding": _sysctl_on("net/ipv4/ip_forward"),
        "BridgeNfIptables": _sysctl_on("net/bridge/bridge-nf-call-iptables"),
        "BridgeNfIp6tables": _sysctl_on("net/bridge/bridge-nf-call-ip6tables"),
        "Warnings": ["WARNING: no bridge network yet: containers get no network unless "
                     "--network host"],
    }


def _arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def _os_release(key: str, default: str) -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith(f"{key}="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return default


def now_local() -> str:
    """Go's time.Now() in RFC 3339 with nanoseconds and the local offset, as `SystemTime`."""
    now = datetime.now().astimezone()
    offset = now.strftime("%z")
    return (now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000"
            + ("Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"))


def _sysctl_on(name: str) -> bool:
    try:
        with open(f"/proc/sys/{name}") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _swap_limit() -> bool:
    """Whether memory+swap limits can be set: v1's memsw files, or v2's memory controller."""
    if os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        return True
    try:
        with open("/sys/fs/cgroup/cgroup.controllers") as f:
            return "memory" in f.read().split()
    except OSError:
        return False


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
