"""The legacy builder: a Dockerfile's stages run step by step on the engine (through the
Backend it hands in), each step one image, each looked up in the build cache first.

What the client sees is Docker's legacy stream: "Step N/M : <instruction>", " ---> <id>",
" ---> Using cache", " ---> Running in <id>" and the step's output, then the image ID as
`aux` and "Successfully built" / "Successfully tagged". Errors end the build with one
message (and for a failed RUN its exit code, which the docker CLI exits with).
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import re
import stat
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from ketch.build import copying, sources
from ketch.build.backend import Backend, BaseImage, Commit
from ketch.build.cache import BuildCache, step_key
from ketch.build.dockerfile import Dockerfile, Heredoc, Instruction, parse
from ketch.build.fetch import fetch_url
from ketch.build.instructions import StageState, apply
from ketch.build.shellwords import expand, expand_heredoc
from ketch.build.stages import PREDEFINED_ARGS, Plan, Stage, plan
from ketch.errors import InvalidParameter, KetchError, NotFound
from ketch.images.reference import normalize
from ketch.images.rootfs import open_in, open_root
from ketch.util.threads import run_blocking

Emit = Callable[[dict[str, Any]], Awaitable[None]]
MAX_DOCKERFILE = 8 << 20  # bytes; more is not a Dockerfile anybody wrote
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CONFIG_ONLY = ("env", "label", "maintainer", "user", "expose", "volume", "stopsignal",
                "cmd", "entrypoint", "shell", "healthcheck", "onbuild")
_RED, _RESET = b"\x1b[91m", b"\x1b[0m"  # how the legacy builder shows a step's stderr
_HEREDOC_ONLY = re.compile(r"<<-?\s*(['\"]?)[a-zA-Z_][a-zA-Z0-9_.-]*\1")


class BuildFailed(KetchError):
    """A step failed; `code`, for a RUN, is its exit code (the docker CLI exits with it)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    cache_from: list[str] = field(default_factory=list)  # the only cache sources, if any
    remove: bool = True  # step containers removed (--rm, --force-rm), else kept
    pull: bool = False  # FROM's images pulled even when they are here (--pull)
    registry_auth: dict[str, Any] = field(default_factory=dict)  # X-Registry-Config

    @property
    def source_date_epoch(self) -> int | None:
        value = self.build_args.get("SOURCE_DATE_EPOCH")
        if value is None:
            return None
        if not value.isdigit():
            raise InvalidParameter(f"invalid SOURCE_DATE_EPOCH: {value}")
        return int(value)


@dataclass
class _Stage:
    """A stage while it is built: its current image and configuration."""
    image: str | None
    state: StageState

    def shell(self) -> str:
        return " ".join(self.state.shell())


def read_dockerfile(context: str, name: str) -> Dockerfile:
    """The Dockerfile, read inside the context (a name cannot lead out of it)."""
    root = open_root(context)
    try:
        try:
            fd = open_in(root, posixpath.normpath("/" + name), os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            raise NotFound(f"Cannot locate specified Dockerfile: {name}") from None
    finally:
        os.close(root)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidParameter(f"the Dockerfile ({name}) is not a regular file")
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_DOCKERFILE + 1)
    if len(data) > MAX_DOCKERFILE:
        raise InvalidParameter(f"the Dockerfile ({name}) is larger than "
                               f"{MAX_DOCKERFILE >> 20} MiB")
    if not data:
        raise InvalidParameter(f"the Dockerfile ({name}) cannot be empty")
    try:
        return parse(data.decode())
    except UnicodeDecodeError:
        raise InvalidParameter("dockerfile parse error: the Dockerfile is not UTF-8") from None


class Builder:
    def __init__(self, backend: Backend, context: str, options: BuildOptions,
                 cache: BuildCache, emit: Emit) -> None:
        self.backend = backend
        self.context = context
        self.options = options
        self.cache = cache
        self.emit = emit
        self.epoch = options.source_date_epoch
        self.step = 0
        self.total = 0
        self.plan: Plan | None = None
        self.built: dict[int, str | None] = {}  # stage index -> its image
        self.cache_sources: set[str] | None = None  # --cache-from's images and parents
        self.escape = "\\"

    async def say(self, text: str) -> None:
        if not self.options.quiet:
            await self.emit({"stream": text})

    # -- the whole build ----------------------------------------------------------------

    async def build(self, df: Dockerfile) -> str:
        self.escape = df.escape
        if self.options.cache_from:
            self.cache_sources = await self.backend.lineage(self.options.cache_from)
        self.plan = plan(df, self.options.build_args)
        last = self.plan.target(self.options.target)
        stages = self.plan.stages[: last + 1]
        if self.options.labels:  # the legacy builder adds them as a last LABEL step
            stages[-1].instructions.append(_label_instruction(self.options.labels))
        self.total = sum(len(s.instructions) + 1 for s in stages)
        image: str | None = None
        for stage in stages:
            image = await self._stage(stage)
            self.built[stage.index] = image
        if image is None:
            raise BuildFailed("No image was generated. Is your Dockerfile empty?")
        unused = self.plan.unused(self.options.build_args)
        if unused:
            await self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not "
                           "consumed\n")
        await self.emit({"aux": {"ID": image}})
        await self.say(f"Successfully built {_short(image)}\n")
        for tag in self.options.tags:
            await self.backend.tag(image, tag)
            await self.say(f"Successfully tagged {_familiar(tag)}\n")
        if self.options.quiet:  # then the only text: the ID, which the CLI prints
            await self.emit({"stream": image + "\n"})
        return image

    async def _stage(self, stage: Stage) -> str | None:
        await self._step(stage.source or f"FROM {stage.base}")
        current = await self._from(stage)
        for inst in stage.instructions:
            await self._step(inst.original)
            await self.dispatch(inst, current)
        return current.image

    async def _step(self, text: str) -> None:
        self.step += 1
        await self.say(f"Step {self.step}/{self.total} : {text}\n")

    async def _from(self, stage: Stage) -> _Stage:
        assert self.plan is not None
        earlier = self.plan.find(stage.base)
        base: BaseImage | None
        if earlier is not None and earlier.index < stage.index:
            built = self.built[earlier.index]
            base = await self.backend.image(built) if built else None
        elif stage.base.lower() == "scratch":
            base = None
        else:
            base = await self.backend.base(stage.base, self.options.pull)
        config = copy.deepcopy(base.config) if base else {}
        env = config.get("Env") or []
        if not any(e.startswith("PATH=") for e in env):  # as moby's beginStage
            config["Env"] = [*env, f"PATH={DEFAULT_PATH}"]
        state = StageState(config)
        # an ARG before FROM is in scope only when the stage declares it again
        current = _Stage(base.id if base else None, state)
        if base:
            await self.say(f" ---> {_short(base.id)}\n")
        triggers = config.get("OnBuild") or []
        if triggers:
            config["OnBuild"] = None
            await self.say(f"# Executing {len(triggers)} build "
                           f"trigger{'s' if len(triggers) > 1 else ''}\n")
            for text in triggers:
                for inst in parse(text).instructions:
                    if inst.cmd in ("onbuild", "from", "maintainer"):
                        raise inst.error(f"{inst.cmd.upper()} isn't allowed as an ONBUILD "
                                         "trigger")
                    await self.dispatch(inst, current)
        return current

    # -- one instruction ------------------------------------------------------------------

    async def dispatch(self, inst: Instruction, current: _Stage) -> None:
        cmd = inst.cmd
        if cmd == "arg":
            await self._arg(inst, current)
        elif cmd == "run":
            await self._run(inst, current)
        elif cmd in ("copy", "add"):
            await self._copy(inst, current)
        elif cmd == "workdir":
            await self._workdir(inst, current)
        elif cmd in _CONFIG_ONLY:
            text = apply(inst, current.state, self.escape)
            await self._config_step(current, f"{current.shell()} #(nop)  {text}")
        else:
            raise inst.error(f"unknown instruction: {cmd.upper()}")

    async def _cached(self, current: _Stage, description: Any) -> tuple[str, str | None]:
        key = step_key(current.image, [description, self.epoch])
        if self.options.no_cache:
            return key, None
        found = self.cache.get(key)
        if found and self.cache_sources is not None and found not in self.cache_sources:
            found = None  # --cache-from: only those images' steps are reused
        if found and await self.backend.exists(found):
            await self.say(" ---> Using cache\n")
            return key, found
        return key, None

    async def _done(self, current: _Stage, key: str, image: str) -> None:
        await run_blocking(self.cache.put, key, image)
        current.image = image
        await self.say(f" ---> {_short(image)}\n")

    def _commit(self, current: _Stage, created_by: str) -> Commit:
        return Commit(copy.deepcopy(current.state.config), created_by, current.state.author)

    async def _config_step(self, current: _Stage, created_by: str) -> None:
        description = ["config", created_by, current.state.config, current.state.author]
        key, image = await self._cached(current, description)
        if image is None:
            image = await self.backend.new_image(current.image,
                                                 self._commit(current, created_by))
        await self._done(current, key, image)

    async def _arg(self, inst: Instruction, current: _Stage) -> None:
        assert self.plan is not None
        state = current.state
        shown = []
        for key, default in inst.pairs:
            value = self.options.build_args.get(key)
            if value is None and default is not None:
                value = expand(default, state.env(), self.escape)
            if value is None:
                value = self.plan.meta_args.get(key)
            if value is not None:
                state.args[key] = value
            else:
                state.args.pop(key, None)
            shown.append(key if default is None else f"{key}={default}")
        await self._config_step(current, f"{current.shell()} #(nop)  ARG {' '.join(shown)}")

    # -- RUN ------------------------------------------------------------------------------

    def _build_args_env(self, current: _Stage) -> tuple[list[str], list[str]]:
        """The build args a RUN sees beyond ENV: (all of them, those history shows)."""
        env_keys = {e.partition("=")[0] for e in current.state.config.get("Env") or []}
        seen = [f"{k}={v}" for k, v in sorted(current.state.args.items()) if k not in env_keys]
        proxies = [f"{k}={v}" for k, v in sorted(self.options.build_args.items())
                   if k in PREDEFINED_ARGS and v is not None and k not in current.state.args
                   and k not in env_keys]
        return seen + proxies, seen

    async def _run(self, inst: Instruction, current: _Stage) -> None:
        state = current.state
        if inst.json:
            argv = list(inst.args)
        else:
            script = inst.args[0]
            if inst.heredocs and _HEREDOC_ONLY.fullmatch(script.strip()):
                script = _heredoc_text(inst.heredocs[0], state.env())
            elif inst.heredocs:
                script += "\n" + "".join(f"{h.content}{h.name}\n" for h in inst.heredocs)
            argv = [*state.shell(), script]
        env, shown = self._build_args_env(current)
        created_by = " ".join(argv)
        if shown:
            created_by = f"|{len(shown)} {' '.join(shown)} {created_by}"
        if inst.flags.get("network") and inst.flags["network"][-1] not in ("default",):
            raise inst.error("RUN --network is only supported with BuildKit")
        if inst.flags.get("mount") or inst.flags.get("security"):
            raise inst.error("the --mount and --security options require BuildKit")
        key, image = await self._cached(current, ["run", created_by, state.config])
        if image is None:
            run = {"Cmd": argv, "Entrypoint": [""], "User": state.config.get("User") or "",
                   "WorkingDir": state.config.get("WorkingDir") or "",
                   "Env": [*(state.config.get("Env") or []), *env]}
            async with self.backend.container(current.image, run) as ctr:
                await self.say(f" ---> Running in {ctr.id[:12]}\n")
                code = await ctr.run(self._relay)
                if code != 0:
                    raise BuildFailed(f"The command '{' '.join(argv)}' returned a non-zero "
                                      f"code: {code}", code)
                image = await ctr.commit(self._commit(current, created_by))
            if self.options.remove:
                await self.say(f" ---> Removed intermediate container {ctr.id[:12]}\n")
        await self._done(current, key, image)

    async def _relay(self, stream: int, data: bytes) -> None:
        if self.options.quiet:
            return
        if stream == 2:
            data = _RED + data + _RESET
        await self.emit({"stream": data.decode("utf-8", "replace")})

    # -- WORKDIR --------------------------------------------------------------------------

    async def _workdir(self, inst: Instruction, current: _Stage) -> None:
        text = apply(inst, current.state, self.escape)
        created_by = f"{current.shell()} #(nop) {text}"
        key, image = await self._cached(current, ["workdir", created_by, current.state.config])
        if image is None:
            path = current.state.config["WorkingDir"]
            async with self.backend.container(current.image, {}) as ctr:
                await run_blocking(copying.mkdir_in, await ctr.root(), path, (0, 0))
                image = await ctr.commit(self._commit(current, created_by))
        await self._done(current, key, image)

    # -- COPY and ADD ---------------------------------------------------------------------

    async def _copy(self, inst: Instruction, current: _Stage) -> None:
        state = current.state
        env = state.env()
        is_add = inst.cmd == "add"
        for flag in ("parents", "exclude", "checksum", "keep-git-dir"):
            if flag in inst.flags:
                raise inst.error(f"the --{flag} option requires BuildKit")
        words = [expand(w, env, self.escape) for w in inst.args]
        if len(words) < 2 and not inst.heredocs:
            raise inst.error(f"{inst.cmd.upper()} requires at least two arguments")
        dest = words[-1]
        if not dest.startswith("/"):
            slash = dest.endswith("/") or dest in (".", "./")
            dest = posixpath.join("/", state.config.get("WorkingDir") or "/", dest)
            dest = posixpath.normpath(dest) + ("/" if slash else "")
        chown = expand(inst.flags["chown"][-1], env, self.escape) if "chown" in inst.flags \
            else ""
        chmod = _chmod(inst, expand(inst.flags["chmod"][-1], env, self.escape)) \
            if "chmod" in inst.flags else None
        from_ref = expand(inst.flags["from"][-1], env, self.escape) if "from" in inst.flags \
            else ""
        if from_ref and is_add:
            raise inst.error("ADD --from is not supported: use COPY --from")
        # fetched files and heredocs go beside the context, under the data root
        with tempfile.TemporaryDirectory(prefix="copy-",
                                         dir=os.path.dirname(self.context)) as scratch:
            async with self._source_root(from_ref, scratch) as (root, what, from_id):
                found, names = await self._sources(inst, words[:-1], root, scratch, what,
                                                   is_add, env)
                if names:  # fetched or heredoc files: they are in the scratch directory
                    root = scratch
                digest = await run_blocking(copying.checksum, root, found)
                kind = "ADD" if is_add else "COPY"
                created_by = f"{current.shell()} #(nop) {kind} {digest} in {dest} "
                description = ["copy", created_by, chown, chmod, from_id, state.config]
                key, image = await self._cached(current, description)
                if image is None:
                    image = await self._copy_into(current, root, found, dest, chown, chmod,
                                                  is_add and not from_ref and not names,
                                                  created_by)
        await self._done(current, key, image)

    @asynccontextmanager
    async def _source_root(self, from_ref: str, scratch: str
                           ) -> AsyncIterator[tuple[str, str, str]]:
        """Where COPY reads: (root directory, what to call it in errors, image ID)."""
        if not from_ref:
            yield self.context, "build context", ""
            return
        assert self.plan is not None
        stage = self.plan.find(from_ref)
        image: str | None
        if stage is not None and stage.index in self.built:
            image = self.built[stage.index]
        else:
            image = (await self.backend.image(from_ref)).id
        if image is None:  # a stage FROM scratch with nothing in it
            yield scratch, f"stage {from_ref}", ""
            return
        async with self.backend.image_root(image) as root:
            yield root, f"image {from_ref}", image

    async def _sources(self, inst: Instruction, words: list[str], root: str, scratch: str,
                       what: str, is_add: bool, env: dict[str, str]
                       ) -> tuple[list[sources.Source], bool]:
        """The sources, and whether any came from a URL or heredoc (not extracted)."""
        heredocs = {h.name: h for h in inst.heredocs}
        found: list[sources.Source] = []
        made = False
        for word in words:
            name = word.lstrip("<-") if word.startswith("<<") else ""
            if name and name in heredocs:
                target = os.path.join(scratch, "heredoc", name)
                await run_blocking(copying.write_file, target,
                                   _heredoc_text(heredocs[name], env))
                found.append(sources.Source("/" + name, "/heredoc/" + name, False))
                made = True
                continue
            if is_add and word.startswith(("http://", "https://")):
                path = await run_blocking(fetch_url, word, os.path.join(scratch, "url"))
                found.append(sources.Source("/" + os.path.basename(path),
                                            "/url/" + os.path.basename(path), False))
                made = True
                continue
            try:
                found += await run_blocking(copying.find, root, word, what)
            except (NotFound, InvalidParameter) as e:
                raise BuildFailed(f"{inst.cmd.upper()} failed: {e}") from None
        if made and found and any(not s.resolved.startswith(("/heredoc/", "/url/"))
                                  for s in found):
            raise inst.error("heredoc and URL sources cannot be mixed with local files")
        return found, made

    async def _copy_into(self, current: _Stage, root: str, found: list[sources.Source],
                         dest: str, chown: str, chmod: int | None, extract: bool,
                         created_by: str) -> str:
        async with self.backend.container(current.image, {}) as ctr:
            await run_blocking(copying.copy_files, root, found, await ctr.root(), dest, chown,
                               chmod, extract, self.epoch)
            return await ctr.commit(self._commit(current, created_by))


# -- helpers (worker threads) ---------------------------------------------------------------


def _heredoc_text(doc: Heredoc, env: dict[str, str]) -> str:
    text = doc.content
    if doc.chomp:
        text = "\n".join(line.lstrip("\t") for line in text.split("\n"))
    return expand_heredoc(text, env) if doc.expand else text


def _chmod(inst: Instruction, text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise inst.error(f"invalid chmod parameter: {text}") from None
    if mode > 0o7777:
        raise inst.error(f"invalid chmod parameter: {text}")
    return mode


def _label_instruction(labels: dict[str, str]) -> Instruction:
    pairs: list[tuple[str, str | None]] = [(json.dumps(k, ensure_ascii=False),
                                            json.dumps(v, ensure_ascii=False))
                                           for k, v in sorted(labels.items())]
    text = " ".join(f"{_label_word(k)}={_label_word(v)}" for k, v in sorted(labels.items()))
    return Instruction("label", [], 0, f"LABEL {text}", pairs=pairs)


def _label_word(text: str) -> str:
    """As written in the LABEL step shown: plain unless it needs quotes."""
    plain = text and not any(c in text for c in " \t\n\"'\\=$")
    return text if plain else json.dumps(text, ensure_ascii=False)


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _familiar(reference: str) -> str:
    name, tag = normalize(reference)
    return f"{name.removeprefix('docker.io/').removeprefix('library/')}:{tag}"

