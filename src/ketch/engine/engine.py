"""The engine: container lifecycle as the Engine API describes it, over the supervisor.

Decides everything (names, states, status codes through ketch.errors); api/ only
translates HTTP. Running containers belong to the supervisor process, so this
object can die and come back: `restore()` re-adopts what is running and records
what exited meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ketch.distribution.auth import Credentials
from ketch.distribution.progress import Emit
from ketch.distribution.registries import RegistryConfig
from ketch.engine import health, logconfig, nsmodes, restarts, security, system
from ketch.engine import logs as logfile
from ketch.engine.containers import Container, ContainerStore
from ketch.engine.events import EventBus
from ketch.engine.hostconfig import (
    capabilities,
    check_cpus,
    check_types,
    discard_blkio_weight,
    normalized,
    resources,
    tmpfs_mounts,
)
from ketch.engine.mounts import Wanted, copy_up, inherited, mount_point, plan
from ketch.engine.names import generate_name, new_id, valid_name
from ketch.engine.networking import Networking, exposed_ports, port_list, settings
from ketch.engine.spec import (
    DEFAULT_CAPS,
    MASKED_PATHS,
    READONLY_PATHS,
    build_spec,
    init_mount,
    namespaces_for,
)
from ketch.engine.supervisor_client import SupervisorClient
from ketch.errors import (
    Conflict,
    HostError,
    InvalidParameter,
    KetchError,
    NotFound,
    NotImplementedHere,
    NotModified,
)
from ketch.runtime.state import write_atomic
from ketch.util.humanize import human_duration

if TYPE_CHECKING:
    from ketch.images import Image
    from ketch.network.defaults import NetworkDefaults

ZERO_TIME = "0001-01-01T00:00:00Z"
KILL_WAIT = 10.0  # seconds a SIGKILL waits for the exit before answering, as dockerd
T = TypeVar("T")


# kept in a container's record, not shown by inspect
_PRIVATE = {"AnonymousVolumes", "ConfiguredMacs", "HostVeths", "HasBeenManuallyStopped"}


def now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def parse_time(stamp: str) -> float:
    """Seconds since the epoch of an RFC3339(Nano) UTC stamp (0 for Docker's zero time)."""
    if not stamp or stamp.startswith("0001-"):
        return 0.0
    main, _, frac = stamp.rstrip("Z").partition(".")
    base = time.mktime(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return base + (float("0." + frac) if frac else 0.0)


class Engine:
    def __init__(self, data_root: str, exec_root: str,
                 storage_driver: str | None = None, bridge: str = "ketch0",
                 registries: RegistryConfig | None = None,
                 log_config: dict[str, Any] | None = None,
                 network: NetworkDefaults | None = None) -> None:
        from ketch.images import ImageStore, Snapshotter
        from ketch.volumes import VolumeStore

        self.data_root = data_root
        self.exec_root = exec_root
        self.registries = registries or RegistryConfig()
        self.log_config = log_config or {"Type": "json-file", "Config": {}}  # the default
        from ketch.engine.execs import Execs
        self.execs = Execs(self)
        os.makedirs(data_root, mode=0o711, exist_ok=True)
        os.makedirs(exec_root, mode=0o711, exist_ok=True)
        self.containers = ContainerStore(data_root)
        self.images = ImageStore(data_root)
        self.snapshots = Snapshotter(data_root, storage_driver)
        self.events = EventBus()
        self.volumes = VolumeStore(data_root)
        self.volumes.on_event = functools.partial(self.events.publish, "volume")
        self.net = Networking(data_root, exec_root, self._running, bridge, network)
        self.supervisor = SupervisorClient(exec_root, os.path.join(exec_root, "runtime"))
        self.exit_waiters: dict[str, list[asyncio.Future[int]]] = {}
        self.remove_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.cleanups: set[asyncio.Task[None]] = set()
        self.starting: set[str] = set()
        self.early_exits: dict[str, dict[str, Any]] = {}
        # a start may come while an exit is still being handled (restart, rm -f and stop
        # racing): it waits until the last run is let go of (its network torn down, the
        # supervisor told to forget it), so that nothing of the new run is let go of
        self.exiting: dict[str, asyncio.Future[None]] = {}
        self.removing: set[str] = set()
        self.restart_tasks: dict[str, asyncio.Task[None]] = {}  # restarts waiting their delay
        self.health_tasks: dict[str, asyncio.Task[None]] = {}  # health monitors
        self.backoffs: dict[str, restarts.Backoff] = {}
        self.events_task: asyncio.Task[None] | None = None
        self.started = time.time()

    async def _net(self, fn: Callable[..., T], *args: Any) -> T:
        """A Networking call on a worker thread, one at a time (addresses, the table)."""
        def locked() -> T:
            with self.net.lock:
                return fn(*args)
        return await asyncio.to_thread(locked)

    def _running(self) -> list[Container]:
        return [c for c in self.containers.all() if c.running]

    # -- start-up: re-adopt what the supervisor kept running ----------------------

    async def restore(self) -> None:
        self.containers.load()
        self.net.loop = asyncio.get_running_loop()
        await self._net(self.net.start)
        # the endpoints of what was running last: their exits below tear them down
        await self._net(self.net.restore, self._running())
        for cid, tombstone in self.containers.tombstones():  # removals a crash interrupted
            await asyncio.to_thread(self._delete_files, cid, tombstone)
        for c in self.containers.all():  # a new daemon counts the volumes its running
            if c.running:                # containers hold again: their exits let go of them
                await asyncio.to_thread(self._mount_volumes, c)
            else:  # one that ended while ketchd was down lends its /dev/shm no more
                await asyncio.to_thread(nsmodes.unmount_shared_shm, c.dir)
        await self.supervisor.ensure_running()
        # subscribe first, then read the state: no exit can fall between the two
        reader = await self.supervisor.subscribe()
        await self._reconcile()
        await self._net(self.net.restore_dns, self._running())
        self.events_task = asyncio.get_running_loop().create_task(self._follow_events(reader))
        for c in self._running():  # the health monitors go on
            try:
                image_config = self.images.get(c.record["Image"]).config
            except KetchError:
                image_config = {}
            self._watch_health(c, image_config)
        for c in self.containers.all():  # the restart policies' part at a daemon start
            if not c.running and c.id not in self.restart_tasks and restarts.at_daemon_start(
                    c.host_config.get("RestartPolicy") or {},
                    bool(c.record.get("HasBeenManuallyStopped"))):
                async with self._lock(c.id):
                    try:
                        await self._start(c)
                    except KetchError:
                        pass

    async def _reconcile(self) -> None:
        """Bring every record marked running in line with what the supervisor knows."""
        known = (await self.supervisor.call("state"))["containers"]
        for c in self.containers.all():
            sup = known.get(c.id)
            if not c.running:
                continue
            if sup and sup["status"] == "running":
                c.state["Pid"] = sup["pid"]
                c.save()
            elif sup and sup["status"] == "exited":
                await self._exited(c, sup)
            else:
                await self._exited(c, self._lost_exit(c.id))

    def _lost_exit(self, cid: str) -> dict[str, Any]:
        """The exit the supervisor recorded on disk, or Docker's 255 for a lost container."""
        try:
            path = os.path.join(self.exec_root, "supervisor", f"{cid}.exit")
            with open(path, "rb") as f:
                info: dict[str, Any] = json.loads(f.read())
                return info
        except (OSError, ValueError):
            return {"exit_code": 255, "finished_at": now(), "oom_killed": False}

    async def _follow_events(self, reader: asyncio.StreamReader | None) -> None:
        while True:
            try:
                if reader is None:
                    await self.supervisor.ensure_running()
                    reader = await self.supervisor.subscribe()
                    await self._reconcile()  # what ended while nobody listened
                while line := await reader.readline():
                    await self._on_event(line)
            except asyncio.CancelledError:
                raise
            except Exception:
                pass
            self.supervisor.unsubscribe()
            reader = None
            await asyncio.sleep(0.2)  # the supervisor went away: start it and listen again

    async def _on_event(self, line: bytes) -> None:
        event = json.loads(line)
        if event.get("event") == "exec_exit":
            self.execs.exited(str(event.get("exec")), int(event.get("exit_code") or 0))
            return
        if event.get("event") != "exit":
            return
        try:
            c = self.containers.get(event["id"])
        except NotFound:
            return
        if c.id in self.starting:  # the answer to its start is still on its way
            self.early_exits[c.id] = event
            return
        await self._exited(c, event)

    def container_event(self, c: Container, action: str, **extra: str) -> None:
        """A container event, its attributes as dockerd gives them: image, name, labels."""
        image = str(c.config.get("Image") or "")
        attributes = {**(c.config.get("Labels") or {}), "image": image,
                      "name": c.record["Name"].lstrip("/"), **extra}
        self.events.publish("container", action, c.id, attributes, source=image)

    def image_event(self, action: str, actor: str, name: str) -> None:
        """An image event as dockerd logs it: its labels, and the name it was given."""
        try:
            labels = self.images.get(actor).config.get("config", {}).get("Labels") or {}
        except KetchError:
            labels = {}
        self.events.publish("image", action, actor, {**labels, "name": name})

    def _endpoint_events(self, c: Container, action: str) -> None:
        """connect/disconnect events for the networks a container starts or stops on."""
        for ep in ((c.record.get("NetworkSettings") or {}).get("Networks") or {}).values():
            if ep.get("NetworkID"):
                self.network_event(action, ep["NetworkID"], container=c.id)

    def network_event(self, action: str, net_id: str, **extra: str) -> None:
        try:
            record = self.net.store.get(net_id).record
        except KetchError:
            return
        self.events.publish("network", action, net_id,
                            {"name": record["Name"], "type": record["Driver"], **extra})

    def _watch_health(self, c: Container, image_config: dict[str, Any]) -> None:
        """Start the container's health monitor, if it has a check."""
        old = self.health_tasks.pop(c.id, None)
        if old is not None:
            old.cancel()
        check = health.effective((image_config.get("config") or {}).get("Healthcheck"),
                                 c.config.get("Healthcheck"))
        if check is None:
            c.state.pop("Health", None)
            return
        task = asyncio.get_running_loop().create_task(health.monitor(self, c, check))
        self.health_tasks[c.id] = task
        task.add_done_callback(lambda t: self.health_tasks.pop(c.id, None)
                               if self.health_tasks.get(c.id) is t else None)

    async def _exited(self, c: Container, info: dict[str, Any]) -> None:
        monitor = self.health_tasks.pop(c.id, None)
        if monitor is not None:
            monitor.cancel()
        state = c.state
        if state.get("Status") == "exited" and not state.get("Running"):
            return
        state.update({"Status": "exited", "Running": False, "Paused": False, "Pid": 0,
                      "ExitCode": info.get("exit_code", 255),
                      "FinishedAt": info.get("finished_at") or now(),
                      "OOMKilled": bool(info.get("oom_killed"))})
        c.save()
        if state["OOMKilled"]:
            self.container_event(c, "oom")
        self.container_event(c, "die", exitCode=str(state["ExitCode"]))
        done = self.exiting[c.id] = asyncio.get_running_loop().create_future()
        try:
            self._endpoint_events(c, "disconnect")
            try:
                await self._net(self.net.teardown, c)
            except (KetchError, OSError):
                pass  # what is left is swept at the next start of ketchd
            c.save()
            await asyncio.to_thread(self._unmount_volumes, c)
            await asyncio.to_thread(nsmodes.unmount_shared_shm, c.dir)
            try:
                await self.supervisor.call("forget", id=c.id)
            except KetchError:
                pass
        finally:
            if self.exiting.get(c.id) is done:
                del self.exiting[c.id]
            done.set_result(None)
            for fut in self.exit_waiters.pop(c.id, []):
                if not fut.done():
                    fut.set_result(int(state["ExitCode"]))
        if c.host_config.get("AutoRemove"):
            await self._remove(c, volumes=True)  # --rm takes its anonymous volumes along
            return
        self._maybe_restart(c)

    # -- restart policies ---------------------------------------------------------

    def _maybe_restart(self, c: Container) -> None:
        policy = c.host_config.get("RestartPolicy") or {}
        if c.id not in self.containers.by_id or not restarts.wanted(
                policy, int(c.state["ExitCode"]), int(c.record.get("RestartCount") or 0),
                bool(c.record.get("HasBeenManuallyStopped"))):
            return
        ran_for = parse_time(c.state["FinishedAt"]) - parse_time(c.state["StartedAt"])
        delay = self.backoffs.setdefault(c.id, restarts.Backoff()).next(ran_for)
        c.state.update({"Status": "restarting", "Restarting": True})
        c.save()
        task = asyncio.get_running_loop().create_task(self._restart_later(c, delay))
        self.restart_tasks[c.id] = task
        task.add_done_callback(lambda t: self.restart_tasks.pop(c.id, None)
                               if self.restart_tasks.get(c.id) is t else None)

    async def _restart_later(self, c: Container, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._lock(c.id):
            if c.id not in self.containers.by_id or c.running:
                return
            c.state["Restarting"] = False
            c.record["RestartCount"] = int(c.record.get("RestartCount") or 0) + 1
            try:
                await self._start(c)
            except KetchError:
                c.state.update({"Status": "exited", "Restarting": False})
                c.save()

    def _cancel_restart(self, c: Container) -> bool:
        """Call off a restart waiting its delay; whether there was one."""
        task = self.restart_tasks.pop(c.id, None)
        if task is None:
            return False
        task.cancel()
        if c.state.get("Restarting"):
            c.state.update({"Status": "exited", "Restarting": False})
            c.save()
        return True

    # -- create -------------------------------------------------------------------

    async def create(self, body: dict[str, Any], name: str | None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidParameter("invalid JSON: the request body must be an object")
        image_ref = body.get("Image")
        if not image_ref or not isinstance(image_ref, str):
            raise InvalidParameter("No image was specified")
        host = body.get("HostConfig")
        if host is None:
            host = {}
        if not isinstance(host, dict):
            raise InvalidParameter("invalid HostConfig: must be an object")
        check_types(body, "Config")
        check_types(host, "HostConfig")
        health.check(body.get("Healthcheck"))
        workdir = body.get("WorkingDir")
        if workdir and not workdir.startswith("/"):
            raise InvalidParameter(f"the working directory '{workdir}' is invalid, it needs "
                                   "to be an absolute path")
        host["RestartPolicy"] = restarts.check(host)
        nsmodes.check(host, body, self.containers.get)
        caps = capabilities(DEFAULT_CAPS, host)  # unknown names fail now, not at start
        security.check(host, namespaces_for(host))
        security.seccomp(host, caps)  # a profile that does not parse, too
        if host.get("Init"):
            init_mount()  # no init binary here: say so now, not at start
        resources(host)
        weightless, warnings = discard_blkio_weight(host)
        host.update(weightless)
        check_cpus(host)
        logconfig.check(host, self.log_config)
        if host.get("Runtime") and host["Runtime"] not in system.RUNTIMES:
            raise InvalidParameter(f"unknown or invalid runtime name: {host['Runtime']}")
        if host.get("StorageOpt"):  # a size limit needs project quotas neither driver has here
            raise InvalidParameter(
                "--storage-opt is supported only for overlay over xfs with 'pquota' mount "
                "option" if self.snapshots.driver == "overlay2" else
                f"--storage-opt is not supported for {self.snapshots.driver}")
        tmpfs_mounts(host)
        for key in ("Cmd", "Entrypoint", "Env"):
            value = body.get(key)
            if isinstance(value, str) and key != "Env":
                body[key] = value = [value]  # the API's StrSlice: a string is one element
            if value is not None and not (isinstance(value, list)
                                          and all(isinstance(v, str) for v in value)):
                raise InvalidParameter(f"invalid {key}: must be a list of strings")
        network_settings, macs = self.net.plan(host, body.get("NetworkingConfig"),
                                               body.get("MacAddress"), self.containers.get)
        image = await asyncio.to_thread(self.images.get, image_ref)
        wanted = plan(host, body.get("Volumes"),
                      (image.config.get("config") or {}).get("Volumes"),
                      self._volumes_from(host.get("VolumesFrom")))
        if name is not None:
            if not valid_name(name):
                raise InvalidParameter(f'Invalid container name ({name}), only '
                                       '[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
            name = name.removeprefix("/")
        cid = new_id()
        name = name or generate_name(set(self.containers.by_name))
        self.containers.reserve_name(name, cid)
        directory = ""
        record: dict[str, Any] = {}
        try:
            directory = self.containers.new_dir(cid)
            record = self._record(cid, name, body, host, image)
            record["NetworkSettings"] = network_settings
            if macs:
                record["ConfiguredMacs"] = macs
            c = Container(record, directory)
            self._write_etc_files(c)
            await asyncio.to_thread(self.snapshots.prepare, cid, image)
            record["Mounts"], record["AnonymousVolumes"] = await asyncio.to_thread(
                self._make_mounts, cid, wanted)
            record["Driver"] = self.snapshots.driver
            record["GraphDriver"] = self.snapshots.graph_driver(cid, image)
            c.save()
        except BaseException:
            self.containers.release_name(name)
            for volume in record.get("AnonymousVolumes") or []:
                await asyncio.to_thread(self._remove_volume, volume)
            if directory:
                try:
                    await asyncio.to_thread(self.snapshots.remove, cid)
                finally:
                    shutil.rmtree(directory, ignore_errors=True)
            raise
        self.containers.add(c)
        self.container_event(c, "create")
        return {"Id": cid, "Warnings": warnings}

    # -- volumes and bind mounts ---------------------------------------------------

    def _make_mounts(self, cid: str, wanted: list[Wanted]) -> tuple[list[dict[str, Any]],
                                                                       list[str]]:
        """The planned mounts made real: bind sources of -v created, volumes created (and
        filled from the image when new and empty). Returns inspect's Mounts and the
        anonymous volumes made; on failure, those are removed again."""
        points: list[dict[str, Any]] = []
        anonymous: list[str] = []
        try:
            for w in wanted:
                if w.type == "bind":
                    if w.create_source and not os.path.exists(w.source):
                        os.makedirs(w.source, mode=0o755)
                    points.append(mount_point(w))
                elif w.type == "volume":
                    volume = self.volumes.create(w.source or None, driver_opts=w.driver_opts,
                                                 labels=w.labels or None)
                    info = volume.inspect()
                    if not w.source:
                        anonymous.append(info["Name"])
                    if w.copy:
                        copy_up(self.snapshots.path(cid), w.destination, info["Mountpoint"])
                    points.append(mount_point(w, info["Name"], info["Mountpoint"]))
                else:
                    points.append(mount_point(w))
        except BaseException:
            for name in anonymous:
                self._remove_volume(name)
            raise
        return points, anonymous

    def _volumes_from(self, sources: Any) -> list[Wanted]:
        """HostConfig.VolumesFrom: ["container[:ro|rw]", ...]."""
        if not sources:
            return []
        if not isinstance(sources, list) or not all(isinstance(v, str) for v in sources):
            raise InvalidParameter("invalid HostConfig.VolumesFrom: must be a list of strings")
        shared: list[Wanted] = []
        for source in sources:
            ref, _, mode = source.partition(":")
            c = self.containers.get(ref)
            shared += inherited(c.record.get("Mounts") or [], mode)
        return shared

    def _remove_volume(self, name: str) -> None:
        try:
            self.volumes.remove(name, force=True)
        except KetchError:
            pass

    def volume_users(self, name: str) -> list[str]:
        """Containers (IDs) that mount the volume, running or not."""
        return [c.id for c in self.containers.all()
                if any(p.get("Name") == name for p in c.record.get("Mounts") or [])]

    def volumes_in_use(self) -> set[str]:
        return {p["Name"] for c in self.containers.all() for p in c.record.get("Mounts") or []
                if p.get("Type") == "volume"}

    def _mount_volumes(self, c: Container) -> None:
        """Volumes with driver options (tmpfs, bind) are mounted while a container runs."""
        for point in c.record.get("Mounts") or []:
            if point.get("Type") == "volume":
                self.volumes.mount(point["Name"])
                self.events.publish("volume", "mount", point["Name"], {
                    "container": c.id, "destination": point.get("Destination", ""),
                    "driver": "local", "propagation": point.get("Propagation", ""),
                    "read/write": str(bool(point.get("RW"))).lower()})

    def _unmount_volumes(self, c: Container) -> None:
        """One unmount for each mount at start: the store counts its users."""
        for point in c.record.get("Mounts") or []:
            if point.get("Type") == "volume":
                try:
                    self.volumes.unmount(point["Name"])
                except KetchError:
                    pass
                self.events.publish("volume", "unmount", point["Name"],
                                    {"container": c.id, "driver": "local"})

    def _record(self, cid: str, name: str, body: dict[str, Any], host: dict[str, Any],
                image: Any) -> dict[str, Any]:
        image_cfg = image.config.get("config") or {}
        if body.get("Entrypoint") == [""]:  # --entrypoint "": none at all, not the image's
            body["Entrypoint"] = []
        config = {
            "Hostname": body.get("Hostname") or cid[:12],
            "Domainname": body.get("Domainname") or "",
            "User": body.get("User") or "",
            "AttachStdin": bool(body.get("AttachStdin")),
            "AttachStdout": bool(body.get("AttachStdout")),
            "AttachStderr": bool(body.get("AttachStderr")),
            "Tty": bool(body.get("Tty")),
            "OpenStdin": bool(body.get("OpenStdin")),
            "StdinOnce": bool(body.get("StdinOnce")),
            "Env": list(image_cfg.get("Env") or []) + list(body.get("Env") or []),
            "Cmd": body.get("Cmd") if body.get("Cmd") else (
                None if body.get("Entrypoint") is not None else image_cfg.get("Cmd")),
            "Image": body["Image"],
            "Volumes": body.get("Volumes"),
            "WorkingDir": body.get("WorkingDir") or image_cfg.get("WorkingDir") or "",
            "Entrypoint": (body["Entrypoint"] or None) if body.get("Entrypoint") is not None
            else image_cfg.get("Entrypoint"),
            "OnBuild": None,
            "Labels": {**(image_cfg.get("Labels") or {}), **(body.get("Labels") or {})},
        }
        exposed = exposed_ports(body, image_cfg, host)
        if exposed:  # Docker leaves it out when empty
            config["ExposedPorts"] = exposed
        stop_signal = body.get("StopSignal") or image_cfg.get("StopSignal")
        if stop_signal:  # Docker leaves both out of Config when unset
            _signal_number(stop_signal)  # an unknown name fails the create, not the stop
            config["StopSignal"] = stop_signal
        if body.get("StopTimeout") is not None:
            config["StopTimeout"] = body["StopTimeout"]
        check = health.effective(image_cfg.get("Healthcheck"), body.get("Healthcheck"))
        if body.get("Healthcheck") or image_cfg.get("Healthcheck"):  # as Docker shows it:
            merged = {**(image_cfg.get("Healthcheck") or {}),  # merged, without defaults
                      **{k: v for k, v in (body.get("Healthcheck") or {}).items() if v}}
            config["Healthcheck"] = merged if check is not None else {"Test": ["NONE"]}
        if image_cfg.get("Shell"):
            config["Shell"] = image_cfg["Shell"]
        args = list(config["Entrypoint"] or []) + list(config["Cmd"] or [])
        if not args:
            raise InvalidParameter("no command specified")
        network = host.get("NetworkMode") or "default"
        host_config = {
            # what was asked, echoed back by inspect as Docker does
            **normalized(host, MASKED_PATHS, READONLY_PATHS),
            "Binds": host.get("Binds"), "NetworkMode": network,
            "PortBindings": host.get("PortBindings") or {},
            "RestartPolicy": host.get("RestartPolicy") or {"Name": "no", "MaximumRetryCount": 0},
            "AutoRemove": bool(host.get("AutoRemove")),
            "LogConfig": logconfig.check(host, self.log_config),
            "Privileged": bool(host.get("Privileged")),
            "ReadonlyRootfs": bool(host.get("ReadonlyRootfs")),
            "ShmSize": host.get("ShmSize") or 67108864,
            "ConsoleSize": host.get("ConsoleSize") or [0, 0],
            "OomScoreAdj": host.get("OomScoreAdj") or 0,
            "Runtime": host.get("Runtime") or "runc",  # ketch's runtime answers to runc
        }
        return {
            "Id": cid, "Created": now(), "Path": args[0], "Args": args[1:],
            "State": {"Status": "created", "Running": False, "Paused": False,
                      "Restarting": False, "OOMKilled": False, "Dead": False, "Pid": 0,
                      "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME,
                      "FinishedAt": ZERO_TIME},
            "Image": image.id,
            "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "", "LogPath": "",
            "Name": f"/{name}", "RestartCount": 0, "Driver": "overlay2", "Platform": "linux",
            "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
            "HostConfig": host_config,
            "GraphDriver": {"Name": "overlay2", "Data": {}},
            "Mounts": [],
            "Config": config,
            "NetworkSettings": settings({}),
        }

    def _write_etc_files(self, c: Container) -> None:
        """The files a start rewrites, there from the create on (for cp and export);
        --add-host and --dns are checked here, so a bad one fails the create."""
        if c.host_config["NetworkMode"].startswith("container:"):
            for name in ("hostname", "hosts", "resolv.conf"):  # the other's, at the start
                write_atomic(os.path.join(c.dir, name), b"", 0o644, durable=False)
        else:
            self.net.names.write_files(c, [], c.host_config["NetworkMode"] == "host")
        c.record["HostnamePath"] = os.path.join(c.dir, "hostname")
        c.record["HostsPath"] = os.path.join(c.dir, "hosts")
        c.record["ResolvConfPath"] = os.path.join(c.dir, "resolv.conf")
        c.record["LogPath"] = c.log_path

    # -- start, stop, kill ------------------------------------------------------

    def _lock(self, cid: str) -> asyncio.Lock:
        return self.locks.setdefault(cid, asyncio.Lock())

    async def start(self, ref: str) -> None:
        c = self.containers.get(ref)
        self._cancel_restart(c)
        async with self._lock(c.id):
            if c.running:
                raise NotModified("container already started")
            c.record["HasBeenManuallyStopped"] = False
            if c.state.get("Status") == "removing":
                raise Conflict("container is marked for removal and cannot be started")
            await self._start(c)

    async def _start(self, c: Container) -> None:
        """Under the container's lock: an `rm -f` that won the lock has removed it."""
        if c.id not in self.containers.by_id or c.id in self.removing:
            raise NotFound(f"No such container: {c.id}")
        pending = self.exiting.get(c.id)
        if pending is not None:
            await pending
        try:
            image = self.images.get(c.record["Image"])
            image_config = image.config
        except NotFound:  # removed with --force: the snapshot knows its layers, and the
            image, image_config = None, {}  # record has the image's defaults already
        if not self.snapshots.mounted(c.id):
            await asyncio.to_thread(self.snapshots.mount, c.id, image)
        rootfs = self.snapshots.path(c.id)
        try:
            await asyncio.to_thread(self._mount_volumes, c)
            exposed = list(c.config.get("ExposedPorts") or {})
            sandbox = await self._net(self.net.setup, c, exposed)
            self._endpoint_events(c, "connect")
        except KetchError as e:
            self._start_failed(c, str(e), 128 if "connectivity" in str(e) else 126)
            await self._after_failed_start(c)
            raise
        try:
            lenders = nsmodes.lenders(c.host_config, self.containers.get)
            if c.host_config.get("IpcMode") == "shareable":
                await asyncio.to_thread(nsmodes.mount_shared_shm, c.dir,
                                        int(c.host_config.get("ShmSize") or 64 << 20))
            spec = build_spec(c.record, image_config, rootfs, c.dir, sandbox,
                              self.net.names.link_env(c), lenders)
        except (KetchError, OSError) as e:
            await self._net(self.net.teardown, c)
            self._start_failed(c, str(e), 126)
            await self._after_failed_start(c)
            if isinstance(e, OSError):
                raise HostError(f"cannot set up /dev/shm: {e.strerror or e}") from None
            raise
        os.makedirs(c.bundle, exist_ok=True)
        write_atomic(os.path.join(c.bundle, "config.json"), json.dumps(spec).encode(),
                     durable=False)
        config = c.config
        if c.state["StartedAt"] != ZERO_TIME:  # the supervisor may hold its last run
            try:
                await self.supervisor.call("forget", id=c.id)
            except KetchError:
                pass
        self.starting.add(c.id)
        try:
            log_config = c.host_config.get("LogConfig") or {}
            max_size, max_files = logconfig.rotation(log_config)
            await self.supervisor.call("create", id=c.id, bundle=c.bundle,
                                       tty=config.get("Tty"), stdin=config.get("OpenStdin"),
                                       stdin_once=config.get("StdinOnce"),
                                       log_path=None if log_config.get("Type") == "none"
                                       else c.log_path,
                                       log_max_size=max_size, log_max_files=max_files)
            answer = await self.supervisor.call("start", id=c.id)
        except KetchError as e:
            self.starting.discard(c.id)
            self.early_exits.pop(c.id, None)
            await self._net(self.net.teardown, c)
            message = str(e)
            code = 127 if ("not found" in message or "no such file" in message) else (
                126 if "permission denied" in message else 128)
            self._start_failed(c, message, code)
            await self._after_failed_start(c)
            raise KetchError(f"failed to create task for container: {message}") from None
        c.state.update({"Status": "running", "Running": True, "Pid": answer.get("pid", 0),
                        "ExitCode": 0, "Error": "", "StartedAt": now(),
                        "FinishedAt": ZERO_TIME, "OOMKilled": False})
        c.save()
        self.starting.discard(c.id)
        self.container_event(c, "start")
        self._watch_health(c, image_config)
        early = self.early_exits.pop(c.id, None)
        if early is not None:  # it exited before we heard back from its start
            await self._exited(c, early)

    async def _after_failed_start(self, c: Container) -> None:
        """Whoever waits on it learns now: attachers, waiters, and --rm removes it."""
        await asyncio.to_thread(nsmodes.unmount_shared_shm, c.dir)
        try:
            await self.supervisor.call("forget", id=c.id, release=True)
        except KetchError:
            pass
        for fut in self.exit_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result(int(c.state["ExitCode"]))
        if c.host_config.get("AutoRemove"):
            await self._remove(c, volumes=True)  # --rm takes its anonymous volumes along

    def _start_failed(self, c: Container, message: str, code: int) -> None:
        c.state.update({"Status": "created" if c.state["StartedAt"] == ZERO_TIME else "exited",
                        "Running": False, "Pid": 0, "ExitCode": code, "Error": message})
        c.save()

    async def stop(self, ref: str, timeout: int | None = None,
                   sig: str | None = None) -> None:
        c = self.containers.get(ref)
        if self._cancel_restart(c):  # waiting to restart: stopping it is calling that off
            return
        if not c.running:
            raise NotModified("container already stopped")
        c.record["HasBeenManuallyStopped"] = True  # its exit is not restarted
        c.save()
        stop_signal = _signal_number(sig or c.config.get("StopSignal") or "SIGTERM")
        if timeout is None:  # the container's own --stop-timeout, else Docker's 10 s
            timeout = c.config.get("StopTimeout")
        grace = 10 if timeout is None else timeout
        waiter = self._exit_future(c.id)
        try:
            self.container_event(c, "kill", signal=str(stop_signal))
            await self.supervisor.call("kill", id=c.id, signal=stop_signal)
        except KetchError:
            grace = min(grace, 2) if grace >= 0 else 2
        try:
            await asyncio.wait_for(asyncio.shield(waiter), None if grace < 0 else grace)
            self.container_event(c, "stop")
            return
        except TimeoutError:
            pass
        try:
            self.container_event(c, "kill", signal=str(int(signal.SIGKILL)))
            await self.supervisor.call("kill", id=c.id, signal=int(signal.SIGKILL))
        except KetchError:
            pass
        await asyncio.wait_for(asyncio.shield(waiter), 30)
        self.container_event(c, "stop")

    async def kill(self, ref: str, sig: str | None = None) -> None:
        c = self.containers.get(ref)
        number = _signal_number(sig or "SIGKILL")
        if not c.running:
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        c.record["HasBeenManuallyStopped"] = True  # a kill is the user's: no restart
        c.save()
        self.container_event(c, "kill", signal=str(number))
        # a SIGKILL is answered once the container has exited, as dockerd's Kill waits
        exited = self._exit_future(c.id) if number == signal.SIGKILL else None
        try:
            await self.supervisor.call("kill", id=c.id, signal=number)
        except NotFound:  # the supervisor lost it: it is not running any more
            await self._exited(c, self._lost_exit(c.id))
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not "
                           "running") from None
        if exited is not None:
            try:
                await asyncio.wait_for(asyncio.shield(exited), KILL_WAIT)
            except TimeoutError:
                pass

    async def pause(self, ref: str) -> None:
        """Freeze the container's processes (its cgroup's freezer)."""
        c = self.containers.get(ref)
        async with self._lock(c.id):
            if not c.running:
                raise Conflict(f"Container {c.id} is not running")
            if c.state.get("Paused"):
                raise Conflict(f"Container {c.id} is already paused")
            await self.supervisor.call("pause", id=c.id)
            c.state.update({"Status": "paused", "Paused": True})
            c.save()
            self.container_event(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.containers.get(ref)
        async with self._lock(c.id):
            if not c.running or not c.state.get("Paused"):
                raise Conflict(f"Container {c.id} is not paused")
            await self.supervisor.call("resume", id=c.id)
            c.state.update({"Status": "running", "Paused": False})
            c.save()
            self.container_event(c, "unpause")

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        """`docker update`: new limits and restart policy, applied at once if running;
        returns dockerd's warnings."""
        from ketch.engine.update import live_changes, updated
        from ketch.runtime.container import Runtime

        c = self.containers.get(ref)
        async with self._lock(c.id):
            host, warnings = updated(c, body)
            changes = live_changes(c.host_config, host)
            if c.running and changes:
                runtime = Runtime(os.path.join(self.exec_root, "runtime"),
                                  warn=lambda msg: None)
                await asyncio.to_thread(runtime.update, c.id, changes)
            c.record["HostConfig"] = host
            c.save()
        self.container_event(c, "update")
        return warnings

    async def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        """`docker top`: the host's `ps` with ps_args, narrowed to the container's
        processes (those of its cgroup)."""
        from ketch.engine.top import top

        c = self.containers.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        return await asyncio.to_thread(top, os.path.join(self.exec_root, "runtime"), c.id,
                                       ps_args)

    async def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        """`docker container prune`: every stopped container the filters select."""
        from ketch.engine.prune import selected

        deleted, reclaimed = [], 0
        for c in selected(list(self.containers.all()), filters):
            if c.running or c.id not in self.containers.by_id:
                continue
            size = self._sizes(c).get("SizeRw", 0)
            try:
                await self.remove(c.id, volumes=False)
            except KetchError:
                continue
            deleted.append(c.id)
            reclaimed += size
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        c = self.containers.get(ref)
        if c.running:
            await self.stop(ref, timeout)
        async with self._lock(c.id):
            if not c.running:
                await self._start(c)

    # -- wait ---------------------------------------------------------------------

    def _exit_future(self, cid: str) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.exit_waiters.setdefault(cid, []).append(fut)
        return fut

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        c = self.containers.get(ref)
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise InvalidParameter(f"invalid condition: {condition!r}")
        if condition == "removed":
            removed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.remove_waiters.setdefault(c.id, []).append(removed)
            try:
                await removed
            finally:
                if removed in self.remove_waiters.get(c.id, []):
                    self.remove_waiters[c.id].remove(removed)
            return int(c.state["ExitCode"])  # the record outlives its removal in memory
        if condition in ("not-running", "") and not c.running:
            return int(c.state["ExitCode"])
        fut = self._exit_future(c.id)
        try:
            return await fut
        finally:
            if fut in self.exit_waiters.get(c.id, []):  # given up on (the client left)
                self.exit_waiters[c.id].remove(fut)

    # -- remove, rename -------------------------------------------------------------

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        c = self.containers.get(ref)
        if c.state.get("Restarting"):
            if not force:
                raise Conflict(f"You cannot remove a restarting container {c.id}. Stop the "
                               "container before attempting removal or force remove")
            self._cancel_restart(c)
        # under the lock, so that a start or restart in flight either finishes first (and
        # is killed below) or finds the container gone
        async with self._lock(c.id):
            if c.id not in self.containers.by_id:  # --rm or another rm got there first
                return
            pending = self.exiting.get(c.id)
            if pending is not None:  # its exit is still being handled: let that finish
                await pending
                if c.id not in self.containers.by_id:  # and its --rm
                    return
            if c.running:
                if not force:
                    raise Conflict(f"You cannot remove a running container {c.id}. Stop the "
                                   "container before attempting removal or force remove")
                waiter = self._exit_future(c.id)
                try:
                    self.container_event(c, "kill", signal=str(int(signal.SIGKILL)))
                    await self.supervisor.call("kill", id=c.id, signal=int(signal.SIGKILL))
                except KetchError:
                    pass
                await asyncio.wait_for(waiter, 30)
                if c.id not in self.containers.by_id:
                    return
            await self._remove(c, volumes=volumes)

    async def _remove(self, c: Container, volumes: bool = False) -> None:
        if c.id not in self.containers.by_id or c.id in self.removing:
            return
        self.removing.add(c.id)  # --rm and rm -f may both get here
        c.state["Status"] = "removing"
        try:
            await self.supervisor.call("forget", id=c.id, release=True)
        except KetchError:
            pass
        self.removing.discard(c.id)
        tombstone = self.containers.remove(c)  # gone for the API, and after a crash too
        self.execs.forget_container(c.id)
        self.container_event(c, "destroy")
        self.locks.pop(c.id, None)
        for fut in self.remove_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result(None)
        # the files go after the answer: `run --rm` need not wait for an unmount and rm -r
        anonymous = list(c.record.get("AnonymousVolumes") or []) if volumes else []
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self._delete_files, c.id, tombstone, anonymous))
        self.cleanups.add(task)
        task.add_done_callback(self.cleanups.discard)

    def _delete_files(self, cid: str, tombstone: str, volumes: list[str] | None = None
                      ) -> None:
        try:
            self.snapshots.remove(cid)
        except (KetchError, OSError):
            pass  # swept again at the next start
        for name in volumes or []:
            if not self.volume_users(name):
                self._remove_volume(name)
        nsmodes.unmount_shared_shm(tombstone)  # not to empty a tmpfs and fail on it
        shutil.rmtree(tombstone, ignore_errors=True)

    async def rename(self, ref: str, new_name: str) -> None:
        c = self.containers.get(ref)
        if not valid_name(new_name):
            raise InvalidParameter(f'Invalid container name ({new_name}), only '
                                   '[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        new_name = new_name.removeprefix("/")
        if new_name == c.name:
            raise InvalidParameter("Renaming a container with the same name as its current "
                                   "name")
        self.containers.reserve_name(new_name, c.id)
        old_name = c.name
        self.containers.release_name(c.name)
        c.record["Name"] = f"/{new_name}"
        c.save()
        self.container_event(c, "rename", oldName=f"/{old_name}")

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.containers.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        await self.supervisor.call("resize", id=c.id, h=height, w=width)

    # -- attach, logs ---------------------------------------------------------------

    async def attach(self, ref: str, *, stdin: bool, stdout: bool,
                     stderr: bool) -> tuple[Container, asyncio.StreamReader, asyncio.StreamWriter]:
        c = self.containers.get(ref)
        if c.state["Status"] == "removing":
            raise Conflict(f"container {c.id} is marked for removal")
        # attach comes before start (docker run): the supervisor holds the stream
        # until the container exists there, so no early output is lost
        reader, writer = await self.supervisor.attach(c.id, stdin=stdin, stdout=stdout,
                                                      stderr=stderr)
        self.container_event(c, "attach")
        return c, reader, writer

    async def logs(self, ref: str, *, follow: bool, stdout: bool, stderr: bool, tail: str,
                   since: float, until: float, timestamps: bool
                   ) -> tuple[Container, AsyncIterator[list[tuple[int, bytes]]]]:
        c = self.containers.get(ref)
        if (c.host_config.get("LogConfig") or {}).get("Type") == "none":
            raise NotImplementedHere("configured logging driver does not support reading")

        def running() -> bool:
            return c.running and c.id in self.containers.by_id

        return c, logfile.read(c.log_path, follow=follow, stdout=stdout, stderr=stderr,
                               tail=tail, since=since, until=until, timestamps=timestamps,
                               running=running)

    # -- networks -----------------------------------------------------------------------

    def networks(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        from ketch.network.filters import check, matches

        check(filters)
        return [{**n.record, "Containers": {}} for n in self.net.store.all()
                if matches(n, filters, dangling=not self.net.users(n))]

    def network(self, ref: str) -> dict[str, Any]:
        return self.net.inspect_network(self.net.store.get(ref))

    async def create_network(self, body: dict[str, Any]) -> dict[str, Any]:
        net = await self._net(self.net.create_network, body)
        self.network_event("create", net.id)
        return {"Id": net.id, "Warning": ""}

    async def remove_network(self, ref: str) -> None:
        record = dict(self.net.store.get(ref).record)
        await self._net(self.net.remove_network, ref)
        self.events.publish("network", "destroy", record["Id"],
                            {"name": record["Name"], "type": record["Driver"]})

    async def prune_networks(self, filters: dict[str, list[str]]) -> list[str]:
        from ketch.network.filters import check

        check(filters, prune=True)
        records = {n.record["Name"]: dict(n.record) for n in self.net.store.all()}
        removed: list[str] = await self._net(self.net.prune, filters)
        for name in removed:
            self.events.publish("network", "destroy", records[name]["Id"],
                                {"name": name, "type": records[name]["Driver"]})
        return removed

    async def connect(self, ref: str, container: str, config: Any) -> None:
        c = self.containers.get(container)
        async with self._lock(c.id):
            await self._net(self.net.connect, c, ref, config)
            c.save()
        self.network_event("connect", self.net.store.get(ref).id, container=c.id)

    async def disconnect(self, ref: str, container: str, force: bool) -> None:
        c = self.containers.get(container)
        net_id = self.net.store.get(ref).id
        async with self._lock(c.id):
            await self._net(self.net.disconnect, c, ref, force)
            c.save()
        self.network_event("disconnect", net_id, container=c.id)

    # -- list, inspect ----------------------------------------------------------------

    async def commit(self, ref: str, **options: Any) -> Image:
        """`docker commit` (options: see ketch.engine.commit.commit), not racing a start or
        a removal of the container."""
        from ketch.engine.commit import commit

        c = self.containers.get(ref)
        async with self._lock(c.id):
            image = await asyncio.to_thread(commit, self, c, **options)
        extra = {}
        if options.get("reference"):
            from ketch.images.reference import normalize

            extra["imageRef"] = ":".join(normalize(options["reference"]))
            self.image_event("tag", image.id, extra["imageRef"])
        self.container_event(c, "commit", comment=str(options.get("comment") or ""),
                             imageID=image.id, **extra)
        return image

    async def commit_changes(self, ref: str, make_config: Callable[[str | None], dict[str, Any]],
                             mtime_clamp: int | None = None) -> Image:
        """The container's changes as a layer on its image, with the config that
        make_config(diffID) gives (a build step's), not racing a start or a removal."""
        from ketch.engine.commit import commit_layer

        c = self.containers.get(ref)
        async with self._lock(c.id):
            base = await asyncio.to_thread(self.images.get, c.record["Image"])
            return await asyncio.to_thread(commit_layer, self, c, base, None, make_config,
                                           mtime_clamp)

    # -- registries -----------------------------------------------------------------------

    async def pull(self, name: str, tag: str, platform: str, credentials: Credentials,
                   emit: Emit) -> list[str]:
        """`docker pull` (every tag when name has none and tag is ""), progress to emit."""
        from ketch.distribution.progress import Progress
        from ketch.distribution.pull import Puller

        puller = Puller(self.images, self.registries, self.data_root, credentials,
                        Progress(emit))
        pulled = await puller.pull(name, tag, platform)
        for ref in pulled:
            self._named_image_event("pull", ref)
        return pulled

    async def inspect_distribution(self, name: str, credentials: Credentials
                                   ) -> dict[str, Any]:
        from ketch.distribution.progress import Progress
        from ketch.distribution.pull import Puller

        async def ignore(_: dict[str, Any]) -> None:
            pass

        puller = Puller(self.images, self.registries, self.data_root, credentials,
                        Progress(ignore))
        return await puller.inspect(name)

    def _named_image_event(self, action: str, ref: str) -> None:
        """pull and push name the image as the user did: busybox:latest, name busybox."""
        from ketch.util.reference import ReferenceError, parse_normalized_named

        try:
            named = parse_normalized_named(ref)
        except ReferenceError:
            return
        self.events.publish("image", action, named.familiar_string(),
                            {"name": named.familiar_name})

    async def pull_for(self, name: str, auth_configs: dict[str, Any], emit: Emit) -> None:
        """A pull with the credentials of X-Registry-Config (AuthConfigs by registry), as a
        build pulls FROM's image."""
        from ketch.distribution.auth import credentials_of
        from ketch.distribution.registries import credentials_key
        from ketch.util.reference import ReferenceError, parse_normalized_named

        try:
            named = parse_normalized_named(name)
        except ReferenceError as e:
            raise InvalidParameter(str(e)) from None
        config = auth_configs.get(credentials_key(named.domain)) or \
            auth_configs.get(named.domain)
        credentials = credentials_of(config) if isinstance(config, dict) else Credentials()
        tag = "" if named.tag or named.digest else "latest"  # never every tag
        await self.pull(name, tag, "", credentials, emit)

    async def push(self, name: str, tag: str, credentials: Credentials, emit: Emit) -> None:
        from ketch.distribution.progress import Progress
        from ketch.distribution.push import Pusher

        pusher = Pusher(self.images, self.registries, self.data_root, credentials,
                        Progress(emit))
        await pusher.push(name, tag)
        self._named_image_event("push", f"{name}:{tag}" if tag else name)

    async def login(self, server: str, credentials: Credentials) -> None:
        """Check credentials against a registry (`/auth`): its /v2/ with them."""
        from ketch.distribution.login import check_login

        await check_login(self.registries, server, credentials)

    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        c = self.containers.get(ref)
        record = {k: v for k, v in c.record.items() if k not in _PRIVATE}
        record["ExecIDs"] = self.execs.running_ids(c.id)
        return {**record, **self._sizes(c)} if size else record

    def list(self, *, all_: bool, limit: int, filters: dict[str, list[str]],
             size: bool = False) -> list[dict[str, Any]]:
        found = []
        for c in self.containers.all():
            if not (all_ or c.running or limit > 0) and "status" not in filters:
                continue
            if not _matches(c, filters):
                continue
            # the list leaves out a size of 0, as Docker's omitempty does (inspect keeps it)
            sizes = {k: v for k, v in self._sizes(c).items() if v} if size else {}
            found.append({**summary(c), "Names": self.containers.names_of(c), **sizes})
            if 0 < limit <= len(found):
                break
        return found

    def _sizes(self, c: Container) -> dict[str, int]:
        """SizeRw (what the container wrote) and SizeRootFs (that and its image), asked
        for with `size`: a walk of the upper layer, as Docker does."""
        try:
            written = self.snapshots.diff_size(c.id) if self.snapshots.exists(c.id) else 0
        except KetchError:
            written = 0  # a tree too deep to walk: one container does not fail the list
        try:
            image_size = self.images.get(c.record["Image"]).size
        except KetchError:
            image_size = 0  # removed with rmi -f
        return {"SizeRw": written, "SizeRootFs": image_size + written}

    def version(self) -> dict[str, Any]:
        return system.version()

    def info(self) -> dict[str, Any]:
        running = sum(1 for c in self.containers.all() if c.running)
        paused = sum(1 for c in self.containers.all() if c.running and c.state.get("Paused"))
        return system.info(containers=len(self.containers.by_id), running=running,
                           images=len(self.images.list()), data_root=self.data_root,
                           driver=self.snapshots.driver, paused=paused)


def _signal_number(sig: str | int) -> int:
    if isinstance(sig, int):
        return _checked_signal(sig, str(sig))
    if sig.isdigit():
        return _checked_signal(int(sig), sig)
    name = sig.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    number = getattr(signal.Signals, name, None)
    if number is None:
        raise InvalidParameter(f"Invalid signal: {sig}")
    return int(number)


def _checked_signal(number: int, text: str) -> int:
    if not 0 < number < 65:
        raise InvalidParameter(f"Invalid signal: {text}")
    return number


def status_line(c: Container) -> str:
    state = c.state
    if state["Status"] in ("running", "paused"):
        up = f"Up {human_duration(time.time() - parse_time(state['StartedAt']))}"
        if state.get("Paused"):
            return up + " (Paused)"
        status = (state.get("Health") or {}).get("Status")
        if status == "starting":
            return up + " (health: starting)"
        return f"{up} ({status})" if status in ("healthy", "unhealthy") else up
    if state["Status"] in ("exited", "dead"):
        if state["FinishedAt"] == ZERO_TIME:
            return "Created" if state["StartedAt"] == ZERO_TIME else ""
        ago = human_duration(time.time() - parse_time(state["FinishedAt"]))
        return f"Exited ({state['ExitCode']}) {ago} ago"
    if state["Status"] == "removing":
        return "Removal In Progress"
    if state["Status"] == "restarting":
        ago = human_duration(time.time() - parse_time(state["FinishedAt"]))
        return f"Restarting ({state['ExitCode']}) {ago} ago"
    return "Created"


def summary(c: Container) -> dict[str, Any]:
    record = c.record
    # as moby: arguments with a space are shown in single quotes
    args = [f"'{a}'" if " " in a else a for a in record["Args"]]
    command = " ".join([record["Path"], *args])
    return {
        "Id": c.id, "Names": [f"/{c.name}"], "Image": c.config["Image"],
        "ImageID": record["Image"], "Command": command,
        "Created": int(parse_time(record["Created"])),
        "Ports": port_list(record["NetworkSettings"].get("Ports") or {}),
        "Labels": c.config.get("Labels") or {}, "State": c.state["Status"],
        "Status": status_line(c),
        "HostConfig": {"NetworkMode": c.host_config["NetworkMode"]},
        "NetworkSettings": {"Networks": record["NetworkSettings"]["Networks"]},
        "Mounts": record.get("Mounts") or [],
    }


def _matches(c: Container, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "label":
            labels = c.config.get("Labels") or {}
            for want in values:
                k, sep, v = want.partition("=")
                if k not in labels or (sep and labels[k] != v):
                    return False
        elif key == "name":
            if not any(v.removeprefix("/") in c.name for v in values):
                return False
        elif key == "id":
            if not any(c.id.startswith(v) for v in values):
                return False
        elif key == "status":
            if c.state["Status"] not in values:
                return False
        elif key == "exited":
            if c.state["Status"] != "exited" or str(c.state["ExitCode"]) not in values:
                return False
        elif key == "ancestor":
            if c.config["Image"] not in values and c.record["Image"] not in values:
                return False
        else:
            raise InvalidParameter(f"invalid filter '{key}'")
    return True
