"""One regression test per container-escape CVE class that applies to an OCI runtime.

Each test replays the attack of a known runc (or runtime) CVE against the real
`ketch-runtime` and checks the host afterwards (see docker-security-profile.md
sections 2.1, 2.2, 2.6 and 2.7). Attacks never aim at real host files: the
"host" they try to reach is a temporary directory or canary file of the test,
except the runtime's own interpreter in the CVE-2019-5736 test, which is only
attacked once it is known to be immutable, and only by appending.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import ketch
from ketch.runtime.specgen import MASKED
from support.bundles import RUNTIME, Bundle, Runtime, run

pytestmark = pytest.mark.integration

FS_IOC_GETFLAGS = 0x80086601
FS_IMMUTABLE_FL = 0x10


# -- helpers ------------------------------------------------------------------------


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_immutable(path: str) -> bool:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        flags = fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 8)
    except OSError:
        return False
    finally:
        os.close(fd)
    return bool(int.from_bytes(flags[:4], sys.byteorder) & FS_IMMUTABLE_FL)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 8) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def without_dev_mounts(bundle: Bundle) -> Bundle:
    """No tmpfs on /dev: the image's own /dev is used (and devices are made in it)."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if not (m["destination"] + "/").startswith("/dev/")]
    return bundle


def host_mount_points() -> set[str]:
    points = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            points.add(line.split()[4].replace("\\040", " "))
    return points


def mounts_under(path: Path) -> set[str]:
    prefix = str(path)
    return {p for p in host_mount_points() if p == prefix or p.startswith(prefix + "/")}


def cgroup_dirs(cid: str) -> list[str]:
    """Every cgroup directory that a container `cid` (relative cgroupsPath) would use."""
    candidates = {f"/sys/fs/cgroup/pids/{cid}", f"/sys/fs/cgroup/unified/{cid}"}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else ["unified"]:
                name = name.removeprefix("name=")
                candidates.add(os.path.normpath(f"/sys/fs/cgroup/{name}/{path}/{cid}"))
    return sorted(c for c in candidates if os.path.exists(c))


def leftovers(runtime: Runtime) -> list[str]:
    """What the runtime root holds (nothing, after a failed create)."""
    return sorted(os.listdir(runtime.root)) if runtime.root.exists() else []


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ketch-runtime: "), \
        f"want one clear error line, got:\n{stderr}"
    return lines[0]


def probe_lines(stdout: str, tag: str) -> dict[str, str]:
    """`TAG name rest...` lines printed by a container script, as {name: rest}."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith(tag + " "):
            _, name, *rest = line.split(" ", 2)
            found[name] = rest[0] if rest else ""
    return found


# -- CVE-2019-5736: /proc/self/exe overwrite ------------------------------------------

# Started through the runtime's own interpreter (/proc/self/exe at execve time is
# whatever binary the runtime runs from). It forks a child that keeps that binary
# busy until the attacker holds it open, then (as the entrypoint) becomes the attacker.
EVIL_PY = """#!/proc/self/exe -S
import os, sys, time
child = os.fork()
if child == 0:
    deadline = time.monotonic() + 5
    while not os.path.exists("/tmp/opened") and time.monotonic() < deadline:
        time.sleep(0.01)
    os._exit(0)
with open("/tmp/py.pid.new", "w") as f:
    f.write(str(child))
os.rename("/tmp/py.pid.new", "/tmp/py.pid")
if sys.argv[1:] == ["entrypoint"]:
    os.execv("/bin/sh", ["sh", "/attack.sh"])
"""

# Opens /proc/<python>/exe while it runs, waits until it exited and the runtime is
# gone too (the test creates /tmp/go), then tries to write through the kept fd.
ATTACK_SH = r"""exec > /tmp/attack.log 2>&1
finish() { mv /tmp/attack.log /tmp/attack.out; exit 0; }
bounded() { n=$((n+1)); [ $n -lt 600 ] || { echo "RESULT timeout-$1"; finish; }; sleep 0.01; }
n=0; while [ ! -e /tmp/py.pid ]; do bounded python; done
pid=$(cat /tmp/py.pid)
echo "EXE $(readlink /proc/$pid/exe)"
if ! head -c 1 /proc/$pid/exe > /dev/null; then
    echo "RESULT open-refused"; touch /tmp/opened; finish
fi
exec 3< /proc/$pid/exe
touch /tmp/opened
n=0; while readlink /proc/$pid/exe > /dev/null 2>&1; do bounded exit; done
n=0; while [ ! -e /tmp/go ]; do bounded go; done
if echo pwned >> /proc/self/fd/3; then echo "RESULT written"; else echo "RESULT refused"; fi
finish
"""


def _python_bundle(bundle: Bundle) -> Bundle:
    """Let the host interpreter start inside the container: its stdlib and libraries."""
    for d in (sysconfig.get_paths()["stdlib"], "/lib/x86_64-linux-gnu", "/lib64"):
        if os.path.isdir(d):
            bundle.config["mounts"].append({"destination": d, "type": "bind", "source": d,
                                            "options": ["rbind", "ro"]})
    (bundle.rootfs / "evil").write_text(EVIL_PY)
    (bundle.rootfs / "evil").chmod(0o755)
    (bundle.rootfs / "attack.sh").write_text(ATTACK_SH)
    return bundle


def _replay_5736(runtime: Runtime, bundle: Bundle, mode: str) -> str:
    """Replay the attack; it writes only once no runtime process runs (holds its binary)."""
    _python_bundle(bundle)
    cid = runtime.new_id()
    if mode == "entrypoint":
        bundle.args("/evil", "entrypoint").write()
        runtime("run", "--detach", "--bundle", str(bundle.path), cid, check=True)
    else:
        bundle.args("sh", "/attack.sh").write()
        runtime("run", "--detach", "--bundle", str(bundle.path), cid, check=True)
        runtime("exec", cid, "/evil", check=True)  # returns when the python parent exits
    (bundle.rootfs / "tmp/go").touch()
    out = bundle.rootfs / "tmp/attack.out"
    wait_for("the attacker to finish", out.exists)
    return out.read_text()


@pytest.mark.parametrize("mode", ["entrypoint", "exec"])
def test_5736_immutable_interpreter_cannot_be_overwritten(runtime: Runtime, bundle: Bundle,
                                                          mode: str) -> None:
    exe = os.path.realpath(RUNTIME[0])
    if not is_immutable(exe):  # then it would be a real attack on the project's interpreter
        pytest.fail(f"{exe} is not immutable (chattr +i): refusing to attack it")
    before = sha256(exe)
    log = _replay_5736(runtime, bundle, mode)
    assert sha256(exe) == before, f"{exe} was modified from a container!\n{log}"
    assert f"EXE {exe}\n" in log, log  # the container really ran the host interpreter
    assert "RESULT refused" in log or "RESULT open-refused" in log, log
    assert "Text file busy" not in log, f"the attack ran while the runtime was alive:\n{log}"


@pytest.fixture
def copied_interpreter(tmp_path: Path) -> Path:
    """A writable copy of the runtime's interpreter: the runtime must re-exec from a memfd."""
    copy = tmp_path / "python-copy" / "python3"
    copy.parent.mkdir()
    shutil.copy2(os.path.realpath(RUNTIME[0]), copy)
    copy.chmod(0o755)
    assert not is_immutable(str(copy))
    return copy


@pytest.mark.parametrize("mode", ["entrypoint", "exec"])
def test_5736_sealed_memfd_protects_a_writable_interpreter(runtime: Runtime, bundle: Bundle,
                                                           copied_interpreter: Path,
                                                           mode: str) -> None:
    src = os.path.dirname(os.path.dirname(os.path.abspath(ketch.__file__)))
    code = (f"import sys; sys.path[:0] = [{src!r}]; "
            "from ketch.runtime.cli import main; main()")
    sealed = Runtime(runtime.root, [str(copied_interpreter), "-I", "-S", "-c", code])
    sealed.ids = runtime.ids  # the fixture's cleanup deletes what this one made
    before = sha256(copied_interpreter)
    log = _replay_5736(sealed, bundle, mode)
    assert sha256(copied_interpreter) == before, f"the interpreter was modified!\n{log}"
    exe_line = next((line for line in log.splitlines() if line.startswith("EXE ")), "")
    assert exe_line.startswith("EXE /memfd:"), f"not re-executed from a memfd:\n{log}"
    assert "RESULT refused" in log or "RESULT open-refused" in log, log
    assert "Text file busy" not in log, f"the attack ran while the runtime was alive:\n{log}"


# -- CVE-2019-5736 rule 2: the waiting init is not dumpable ------------------------------


def test_created_init_is_not_dumpable(runtime: Runtime, bundle: Bundle) -> None:
    bundle.args("true").write()
    cid = runtime.new_id()
    runtime("create", "--bundle", str(bundle.path), cid, check=True)
    pid = runtime.state(cid)["pid"]
    # pid 1 of the container is still the runtime's own interpreter, waiting for start
    assert os.readlink(f"/proc/{pid}/exe") == os.path.realpath(RUNTIME[0])
    script = r"""
probe() { name=$1; shift; out=$("$@" 2>&1 > /dev/null); echo "PROBE $name rc=$? $out"; }
probe exe readlink -v /proc/1/exe
probe cwd ls -l /proc/1/cwd
probe root ls /proc/1/root/
probe environ cat /proc/1/environ
probe mem head -c 1 /proc/1/mem
probe maps cat /proc/1/maps
for fd in $(ls /proc/1/fd); do probe fd$fd ls -l /proc/1/fd/$fd; done
echo DONE
"""
    proc = runtime("exec", cid, "sh", "-c", script)
    assert proc.returncode == 0 and "DONE" in proc.stdout, proc
    probes = probe_lines(proc.stdout, "PROBE")
    assert {"exe", "cwd", "root", "environ", "mem", "maps"} <= set(probes), proc.stdout
    assert any(name.startswith("fd") for name in probes), proc.stdout
    for name, result in probes.items():
        assert "Permission denied" in result, f"/proc/1 {name} is reachable: {result}"
    assert runtime.state(cid)["status"] == "created"


# -- CVE-2024-21626: leaked fds, cwd on the host ------------------------------------------


def _with_host_fds(runtime: Runtime, host_dir: Path, preserved: Path | None = None) -> Runtime:
    """The runtime started with extra inherited fds: 3 (or 4) and 9 on a host directory,
    and with `preserved`, fd 3 on that file instead."""
    first = f'3<"{preserved}" 4<"$0"' if preserved else '3<"$0"'
    wrapper = ["/bin/sh", "-c", f'exec {first} 9<"$0"; exec "$@"', str(host_dir), *RUNTIME]
    leaky = Runtime(runtime.root, wrapper)
    leaky.ids = runtime.ids
    return leaky


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    path = tmp_path / "host-dir"
    path.mkdir()
    (path / "HOST-CANARY").write_text("host content\n")
    return path


def _fds_of(stdout: str) -> list[str]:
    """Names listed between FDS and END markers."""
    lines = stdout.splitlines()
    return lines[lines.index("FDS") + 1:lines.index("END")]


LIST_FDS = "echo FDS; ls /proc/$$/fd; echo END; ls -l /proc/$$/fd"


def test_no_fd_reaches_the_container_init(runtime: Runtime, bundle: Bundle,
                                          host_dir: Path) -> None:
    leaky = _with_host_fds(runtime, host_dir)
    proc = run(leaky, bundle.sh(LIST_FDS))
    assert proc.returncode == 0, proc.stderr
    assert _fds_of(proc.stdout) == ["0", "1", "2"], proc.stdout
    assert str(host_dir) not in proc.stdout


def test_no_fd_reaches_an_exec_process(runtime: Runtime, bundle: Bundle,
                                       host_dir: Path) -> None:
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    runtime("run", "--detach", "--bundle", str(bundle.path), cid, check=True)
    proc = _with_host_fds(runtime, host_dir)("exec", cid, "sh", "-c", LIST_FDS)
    assert proc.returncode == 0, proc.stderr
    assert _fds_of(proc.stdout) == ["0", "1", "2"], proc.stdout
    assert str(host_dir) not in proc.stdout


def test_preserve_fds_passes_exactly_fd_3(runtime: Runtime, bundle: Bundle, host_dir: Path,
                                          tmp_path: Path) -> None:
    preserved = tmp_path / "preserved.txt"
    preserved.write_text("preserved-ok\n")
    leaky = _with_host_fds(runtime, host_dir, preserved)
    script = LIST_FDS + "; echo CONTENT; cat <&3"
    proc = run(leaky, bundle.sh(script), "--preserve-fds", "1")
    assert proc.returncode == 0, proc.stderr
    assert _fds_of(proc.stdout) == ["0", "1", "2", "3"], proc.stdout
    assert proc.stdout.split("CONTENT\n")[1] == "preserved-ok\n"
    # and the same for exec
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    runtime("run", "--detach", "--bundle", str(bundle.path), cid, check=True)
    proc = leaky("exec", "--preserve-fds", "1", cid, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert _fds_of(proc.stdout) == ["0", "1", "2", "3"], proc.stdout
    assert proc.stdout.split("CONTENT\n")[1] == "preserved-ok\n"


def _host_content_seen(output: str) -> list[str]:
    """Names only the host has: the caller's directory, the runtime's state directory,
    and (one or two levels up from either) the runtime root in the test's tmp_path."""
    return [w for w in ("HOST-CANARY", "state.json", "exec.fifo", "runtime-root")
            if w in output]


FD_SOURCES = pytest.mark.parametrize("inherited", [False, True],
                                     ids=["runtime-fds", "inherited-fds"])
LOOK_AROUND = "ls -a; echo; ls -a ..; echo; ls -a ../.."


@FD_SOURCES
def test_cwd_through_a_leaked_fd_never_lands_on_the_host(runtime: Runtime, bundle: Bundle,
                                                         host_dir: Path,
                                                         inherited: bool) -> None:
    """runtime-fds: an image's WORKDIR alone (the runtime's own fds, e.g. its state dir);
    inherited-fds: and fds the caller leaked to the runtime."""
    caller = _with_host_fds(runtime, host_dir) if inherited else runtime
    escaped = {}
    for n in range(3, 21):
        bundle.process["cwd"] = f"/proc/self/fd/{n}"
        proc = run(caller, bundle.sh(LOOK_AROUND))
        seen = _host_content_seen(proc.stdout)
        if seen:
            escaped[n] = seen
    assert not escaped, f"process.cwd /proc/self/fd/N gave a cwd on the host: {escaped}"


@FD_SOURCES
def test_exec_cwd_through_a_leaked_fd_never_lands_on_the_host(runtime: Runtime,
                                                              bundle: Bundle,
                                                              host_dir: Path,
                                                              inherited: bool) -> None:
    bundle.args("sleep", "30").write()
    cid = runtime.new_id()
    runtime("run", "--detach", "--bundle", str(bundle.path), cid, check=True)
    caller = _with_host_fds(runtime, host_dir) if inherited else runtime
    escaped = {}
    for n in range(3, 21):
        proc = caller("exec", "--cwd", f"/proc/self/fd/{n}", cid, "sh", "-c", LOOK_AROUND)
        seen = _host_content_seen(proc.stdout)
        if seen:
            escaped[n] = seen
    assert not escaped, f"exec --cwd /proc/self/fd/N gave a cwd on the host: {escaped}"


@FD_SOURCES
def test_cwd_below_a_leaked_fd_creates_nothing_on_the_host(runtime: Runtime, bundle: Bundle,
                                                           host_dir: Path, tmp_path: Path,
                                                           inherited: bool) -> None:
    """A missing cwd is made by the runtime: inside the root, never through an fd."""
    caller = _with_host_fds(runtime, host_dir) if inherited else runtime
    bundle.args("true")
    for n in range(3, 13):
        bundle.process["cwd"] = f"/proc/self/fd/{n}/made-by-ketch"
        bundle.write()
        caller("create", "--bundle", str(bundle.path), runtime.new_id())  # may fail
    made = [os.path.join(d, name) for d, dirs, _ in os.walk(tmp_path)
            if not d.startswith(str(bundle.rootfs)) for name in dirs if name == "made-by-ketch"]
    assert made == [], f"the container's cwd was made on the host: {made}"


# -- CVE-2019-19921 family: /proc or /sys as a symlink in the image --------------------


@pytest.mark.parametrize("name", ["proc", "sys"])
def test_symlinked_proc_or_sys_is_refused_cleanly(runtime: Runtime, bundle: Bundle,
                                                  name: str) -> None:
    os.rmdir(bundle.rootfs / name)
    os.symlink("/tmp", bundle.rootfs / name)
    bundle.args("true").write()
    # the init fails while the runtime still talks to it: repeat to catch the race
    for _ in range(8):
        cid = runtime.new_id()
        proc = runtime("create", "--bundle", str(bundle.path), cid)
        assert proc.returncode != 0
        line = one_error_line(proc.stderr)
        assert f"/{name}" in line, line
        assert leftovers(runtime) == []
        assert cgroup_dirs(cid) == []


# -- CVE-2026-41579 analogue: /dev as a symlink in the image ----------------------------


@pytest.mark.parametrize("dev_tmpfs", [True, False], ids=["dev-tmpfs", "image-dev"])
@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_dev_symlink_cannot_create_on_the_host(runtime: Runtime, bundle: Bundle,
                                               tmp_path: Path, dev_tmpfs: bool,
                                               relative: bool) -> None:
    host_dev = tmp_path / "hostdev"
    host_dev.mkdir()
    (host_dev / "CANARY").write_text("x")
    target = ("../" * 12).rstrip("/") + str(host_dev) if relative else str(host_dev)
    os.rmdir(bundle.rootfs / "dev")
    os.symlink(target, bundle.rootfs / "dev")
    if not dev_tmpfs:
        without_dev_mounts(bundle)
    before = mounts_under(tmp_path)
    proc = run(runtime, bundle.sh("ls /dev/; echo ok > /dev/null"))
    if proc.returncode != 0:
        one_error_line(proc.stderr)
    assert sorted(os.listdir(host_dev)) == ["CANARY"], "devices were created on the host"
    assert mounts_under(tmp_path) == before
    if proc.returncode == 0 and not dev_tmpfs:
        # the devices went where the link leads inside the root
        inside = bundle.rootfs / str(host_dev).lstrip("/")
        assert {"null", "zero", "tty"} <= set(os.listdir(inside))


# -- CVE-2021-30465 family: mount destination through a symlink ---------------------------


@pytest.mark.parametrize("kind", ["absolute", "relative", "dangling"])
def test_mount_destination_symlink_stays_in_the_root(runtime: Runtime, bundle: Bundle,
                                                     tmp_path: Path, kind: str) -> None:
    host = tmp_path / "host"  # the attack's targets, and nothing else
    source = host / "volume"
    source.mkdir(parents=True)
    (source / "VOLUME-FILE").write_text("v")
    host_target = host / "target"
    if kind != "dangling":
        host_target.mkdir()
        (host_target / "HOST-CANARY").write_text("h")
    link = str(host_target)
    if kind == "relative":
        link = ("../" * 12).rstrip("/") + link
    os.symlink(link, bundle.rootfs / "evil")
    dest = "/evil/sub" if kind == "dangling" else "/evil"
    bundle.config["mounts"].append({"destination": dest, "type": "bind",
                                    "source": str(source), "options": ["rbind", "rw"]})
    before_listing = sorted(os.listdir(host))
    before_mounts = mounts_under(host)
    proc = run(runtime, bundle.sh(f"ls {dest}; echo from-container > {dest}/written"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["VOLUME-FILE"], proc.stdout  # the volume is at dest
    assert (source / "written").read_text() == "from-container\n"
    # on the host nothing was mounted nor made at the link's target
    assert mounts_under(host) == before_mounts
    assert sorted(os.listdir(host)) == before_listing
    if kind == "dangling":
        assert not host_target.exists()
    else:
        assert sorted(os.listdir(host_target)) == ["HOST-CANARY"]
    # the mount point was made inside the root, where the link leads there
    inside = bundle.rootfs / str(host_target).lstrip("/")
    assert inside.is_dir()


# -- CVE-2025-31133: /dev/null swapped for a symlink -----------------------------------------


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_dev_null_symlink_is_refused(runtime: Runtime, bundle: Bundle, tmp_path: Path,
                                     relative: bool) -> None:
    canary = tmp_path / "core_pattern"  # stands in for /proc/sys/kernel/core_pattern
    canary.write_text("core\n")
    without_dev_mounts(bundle)
    null = bundle.rootfs / "dev/null"
    if relative:
        (bundle.rootfs / "fake-null").write_text("fake\n")
        os.symlink("../fake-null", null)
    else:
        os.symlink(str(canary), null)
    proc = run(runtime, bundle.sh("echo pwned > /proc/keys; echo started"))
    assert proc.returncode != 0, proc.stdout
    assert "/dev/null is invalid" in one_error_line(proc.stderr)
    assert "started" not in proc.stdout
    assert canary.read_text() == "core\n"
    assert leftovers(runtime) == []
    assert os.path.islink(null)  # the runtime did not "fix" the image either


# -- §2.7: masked and read-only paths cannot be read, written or unmounted ---------------


def test_masked_and_readonly_paths_hold(runtime: Runtime, bundle: Bundle) -> None:
    masked = [p for p in MASKED if os.path.exists(p)]
    assert masked, "no masked path exists on this kernel"
    files = [p for p in masked if not os.path.isdir(p)]
    dirs = [p for p in masked if os.path.isdir(p)]
    # zero-byte opens for writing: even a missing protection would change nothing
    writes = [p for p in ("/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger",
                          "/proc/sys/kernel/modprobe", "/sys/kernel/uevent_helper",
                          "/sys/kernel/profiling", "/proc/sys/vm/drop_caches")
              if os.path.exists(p)]
    script = "\n".join([
        'try() { name=$1; shift; out=$("$@" 2>&1); echo "T $name rc=$? $out" | tr "\\n" " ";'
        ' echo; }',
        *[f"try file:{p} sh -c 'wc -c < {p}'" for p in files],
        *[f"try dir:{p} ls -A {p}" for p in dirs],
        *[f"try write:{p} sh -c ': >> {p}'" for p in writes],
        "mkdir -p /mnt",
        "try mount mount -t tmpfs none /mnt",
        "try remount mount -o remount,rw /proc/sys",
        *[f"try umount:{p} umount {p}" for p in [*masked, "/proc/sys"]],
        "try unshare-m unshare -m true",
        "try unshare-proc unshare -m -p -f -r --mount-proc true",
        "echo MOUNTS; cat /proc/self/mountinfo",
    ])
    proc = run(runtime, bundle.sh(script))
    assert proc.returncode == 0, proc.stderr
    results = probe_lines(proc.stdout, "T")
    mount_points = {line.split()[4] for line in proc.stdout.split("MOUNTS\n")[1].splitlines()}
    for p in masked:
        assert p in mount_points, f"{p} is not masked"
    for p in files:
        assert results[f"file:{p}"].startswith("rc=0 0 ") or "denied" in results[f"file:{p}"], \
            f"{p} is readable: {results[f'file:{p}']}"
    for p in dirs:
        assert results[f"dir:{p}"].strip() == "rc=0", f"{p} lists: {results[f'dir:{p}']}"
    for p in writes:
        r = results[f"write:{p}"]
        assert not r.startswith("rc=0") and ("Read-only" in r or "denied" in r), f"{p}: {r}"
    for name in ("mount", "remount", *[f"umount:{p}" for p in [*masked, "/proc/sys"]]):
        r = results[name]
        assert not r.startswith("rc=0") and ("not permitted" in r or "denied" in r), \
            f"{name}: {r}"
    assert "not permitted" in results["unshare-m"] and not results["unshare-m"].startswith(
        "rc=0"), results["unshare-m"]
    assert not results["unshare-proc"].startswith("rc=0"), results["unshare-proc"]


# -- hostile container ids --------------------------------------------------------------


@pytest.mark.parametrize("cid", ["../x", "a/b", "", "..", ".", "../../escape", "/abs"])
def test_hostile_container_ids_are_rejected(runtime: Runtime, bundle: Bundle,
                                            tmp_path: Path, cid: str) -> None:
    bundle.args("true").write()
    runtime.root.mkdir(parents=True, exist_ok=True)
    decoy = tmp_path / "x"  # what "../x" would name from the runtime root
    decoy.mkdir()
    (decoy / "state.json").write_text("{}")
    listing = sorted(os.listdir(tmp_path))
    for verb in (["create", "--bundle", str(bundle.path)], ["run", "--bundle", str(bundle.path)],
                 ["state"], ["start"], ["kill"], ["exec"], ["delete", "--force"],
                 ["pause"], ["resume"], ["ps"]):
        args = [*verb, cid] if verb[0] != "exec" else [*verb, cid, "true"]
        proc = runtime(*args)
        assert proc.returncode != 0, (verb, proc)
        assert "invalid container id" in one_error_line(proc.stderr), (verb, proc.stderr)
    assert leftovers(runtime) == []
    assert sorted(os.listdir(tmp_path)) == listing
    assert (decoy / "state.json").read_text() == "{}"
