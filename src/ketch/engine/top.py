"""`docker top`: the host's `ps` with the client's arguments (`-ef` by default), its
rows narrowed to the processes of the container's cgroup, as dockerd does it."""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

from ketch.errors import HostError, InvalidParameter


def _pids(runtime_root: str, cid: str) -> set[int]:
    from ketch.runtime.container import Runtime, cgroup_of

    cgroup = cgroup_of(Runtime(runtime_root, warn=lambda msg: None).container(cid))
    if cgroup is None:
        raise HostError(f"container {cid} has no cgroup to list")
    return set(cgroup.pids())


def top(runtime_root: str, cid: str, ps_args: str) -> dict[str, Any]:
    try:
        args = shlex.split(ps_args or "-ef")
    except ValueError as e:
        raise InvalidParameter(f"invalid ps arguments: {e}") from None
    pids = _pids(runtime_root, cid)
    proc = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=30,
                          check=False)
    if proc.returncode != 0:
        raise HostError(f"Error running ps: exit status {proc.returncode}: "
                        f"{proc.stderr.strip()}")
    return parse(proc.stdout, pids)


def parse(output: str, pids: set[int]) -> dict[str, Any]:
    """moby's parsePSOutput: the header's words are the titles; a row belongs to the
    container if its PID column is one of pids; the last column keeps its spaces."""
    lines = output.splitlines()
    if not lines:
        raise HostError("Error running ps: no output")
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidParameter("Couldn't find PID field in ps output")
    column = titles.index("PID")
    processes = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= column:
            continue
        try:
            pid = int(fields[column])
        except ValueError:
            raise HostError(f"Unexpected pid '{fields[column]}'") from None
        if pid in pids:
            last = len(titles) - 1
            processes.append([*fields[:last], " ".join(fields[last:])])
    return {"Titles": titles, "Processes": processes}
