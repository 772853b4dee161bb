"""A Dockerfile's stages: the ARGs before the first FROM, each FROM with its base (build
args substituted) and name, the instructions that belong to it, and `--target`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ketch.build.dockerfile import Dockerfile, Instruction
from ketch.build.shellwords import expand
from ketch.errors import InvalidParameter

# usable without an ARG line, and left out of the image's history (Docker's list)
PREDEFINED_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                   "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")


@dataclass
class Stage:
    index: int
    base: str                    # an image reference, "scratch", or an earlier stage
    name: str = ""               # AS name (lower case), "" if none
    line: int = 0
    platform: str = ""
    instructions: list[Instruction] = field(default_factory=list)
    source: str = ""             # the FROM line as written

    def __str__(self) -> str:
        return self.name or str(self.index)


@dataclass
class Plan:
    stages: list[Stage]
    meta_args: dict[str, str]    # the ARGs before the first FROM, with their values
    used_args: set[str]          # build args something declared (the rest: Docker warns)

    def find(self, ref: str) -> Stage | None:
        """An earlier stage by name or index (COPY --from, FROM)."""
        ref = ref.lower()
        for stage in self.stages:
            if stage.name == ref or str(stage.index) == ref:
                return stage
        return None

    def target(self, name: str) -> int:
        """The index of the last stage to build (--target, else the last one)."""
        if not name:
            return len(self.stages) - 1
        for stage in self.stages:
            if stage.name == name.lower():
                return stage.index
        raise InvalidParameter(f"failed to reach build target {name} in Dockerfile")

    def unused(self, build_args: dict[str, str | None]) -> list[str]:
        return sorted(k for k in build_args if k not in self.used_args
                      and k not in PREDEFINED_ARGS and k != "SOURCE_DATE_EPOCH")


def plan(df: Dockerfile, build_args: dict[str, str | None]) -> Plan:
    meta: dict[str, str] = {}
    used: set[str] = set()
    stages: list[Stage] = []
    for inst in df.instructions:
        if inst.cmd == "from":
            stages.append(_stage(inst, len(stages), meta, stages, df.escape))
            continue
        if not stages:
            if inst.cmd != "arg":
                raise inst.error("no build stage in current context")
            for key, default in inst.pairs:
                used.add(key)
                value = build_args.get(key)
                if value is None:
                    value = expand(default, meta, df.escape) if default is not None else None
                if value is not None:
                    meta[key] = value
            continue
        if inst.cmd == "arg":
            used.update(key for key, _ in inst.pairs)
        stages[-1].instructions.append(inst)
    if not stages:
        raise InvalidParameter("failed to parse Dockerfile: file with no instructions"
                               if not df.instructions
                               else "no build stage in current context")
    return Plan(stages, meta, used)


def _stage(inst: Instruction, index: int, meta: dict[str, str], earlier: list[Stage],
           escape: str) -> Stage:
    words = inst.args[0].split()
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not _STAGE_NAME.match(name):
            raise inst.error(f"invalid name for build stage: \"{words[2]}\", name can't "
                             "start with a number or contain symbols")
        if any(s.name == name for s in earlier):
            raise inst.error(f"duplicate name {name}")
    elif len(words) == 1:
        name = ""
    else:
        raise inst.error("FROM requires either one or three arguments")
    base = expand(words[0], meta, escape)
    if not base:
        raise inst.error(f"base name ({words[0]}) should not be blank")
    platform = expand(inst.flags["platform"][-1], meta, escape) \
        if "platform" in inst.flags else ""
    return Stage(index, base, name, inst.line, platform, source=inst.original)
