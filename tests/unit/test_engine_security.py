"""The container's security settings (engine/security.py, engine/seccomp_profile.py) and
the CLI flags that set them (cli/resourceflags.py): Docker's rules and wording."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ketch.cli.command import CLIError
from ketch.cli.flags import parse
from ketch.cli.resourceflags import FLAGS, device, host_config, nano_cpus, ulimit
from ketch.engine import security
from ketch.engine.seccomp_profile import default_profile, user_profile
from ketch.engine.spec import DEFAULT_CAPS
from ketch.errors import InvalidParameter
from ketch.runtime.seccomp import compile_filter


def _allowed(profile: dict[str, object]) -> set[str]:
    rules = profile["syscalls"]
    assert isinstance(rules, list)
    return {n for r in rules if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r
            for n in r["names"]}


def test_default_profile_follows_the_capabilities() -> None:
    plain = default_profile(set(DEFAULT_CAPS), "x86_64")
    assert (plain["defaultAction"], plain["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 1)
    assert plain["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = _allowed(plain)
    assert {"read", "execve", "chroot", "arch_prctl", "name_to_handle_at"} <= allowed
    for denied in ("mount", "unshare", "setns", "keyctl", "add_key", "bpf", "ptrace_x",
                   "open_by_handle_at", "kexec_load", "init_module", "reboot", "acct",
                   "clock_settime", "userfaultfd", "io_uring_setup", "clone", "clone3"):
        assert denied not in allowed, denied
    conditional = {(r["names"][0], json.dumps(r.get("args"))) for r in plain["syscalls"]
                   if "args" in r or r["action"] != "SCMP_ACT_ALLOW"}
    assert ("clone", json.dumps([{"index": 0, "value": 0x7E020000, "valueTwo": 0,
                                  "op": "SCMP_CMP_MASKED_EQ"}])) in conditional
    assert any(r["names"] == ["clone3"] and r["errnoRet"] == 38 for r in plain["syscalls"])
    sockets = [r["args"][0] for r in plain["syscalls"] if r["names"] == ["socket"]]
    assert [(a["op"], a["value"]) for a in sockets] == [
        ("SCMP_CMP_LT", 38), ("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40)]  # AF_ALG, AF_VSOCK
    admin = default_profile({*DEFAULT_CAPS, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}, "x86_64")
    assert {"mount", "unshare", "setns", "clone", "clone3", "kcmp"} <= _allowed(admin)
    assert not any(r["names"] == ["clone3"] for r in admin["syscalls"]
                   if r["action"] != "SCMP_ACT_ALLOW")
    no_chroot = default_profile(set(DEFAULT_CAPS) - {"CAP_SYS_CHROOT"}, "x86_64")
    assert "chroot" not in _allowed(no_chroot)
    compile_filter(plain)  # libseccomp takes it


def test_user_profiles_in_dockers_format() -> None:
    text = json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                     "subArchitectures": ["SCMP_ARCH_X86"]}],
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"name": "chmod", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["mount"], "action": "SCMP_ACT_ERRNO",
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["iopl"], "action": "SCMP_ACT_ERRNO",
             "includes": {"arches": ["arm64"]}},
        ]})
    profile = user_profile(text, set(DEFAULT_CAPS), "x86_64")
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert [r["names"] for r in profile["syscalls"]] == [["mkdir"], ["chmod"], ["mount"]]
    assert profile["syscalls"][1]["errnoRet"] == 13
    admin = user_profile(text, {"CAP_SYS_ADMIN"}, "x86_64")
    assert [r["names"] for r in admin["syscalls"]] == [["mkdir"], ["chmod"]]
    compile_filter(profile)
    for bad, message in (("{bad", "Decoding seccomp profile failed"),
                         ("[]", "must be a JSON object"),
                         ('{"syscalls": []}', "defaultAction is required"),
                         ('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x"], '
                          '"archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}',
                          "use either 'architectures' or 'archMap'"),
                         ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", '
                          '"names": ["b"]}]}', "use either 'name' or 'names'")):
        with pytest.raises(InvalidParameter, match=message):
            user_profile(bad, set(), "x86_64")


def test_security_options_as_dockerd_parses_them() -> None:
    def parsed(*opts: str) -> security.SecurityOptions:
        return security.security_options({"SecurityOpt": list(opts)})

    assert parsed("no-new-privileges").no_new_privileges
    assert parsed("no-new-privileges=true").no_new_privileges
    assert not parsed("no-new-privileges:false").no_new_privileges
    assert parsed("seccomp=unconfined").seccomp == "unconfined"
    assert parsed('seccomp={"defaultAction":"SCMP_ACT_ALLOW"}').seccomp == \
        '{"defaultAction":"SCMP_ACT_ALLOW"}'
    assert parsed("apparmor=unconfined", "label=disable", "disable").seccomp is None
    assert parsed("writable-cgroups=true").writable_cgroups
    for opt, message in (("foo", 'invalid --security-opt 1: "foo"'),
                         ("foo=bar", 'invalid --security-opt 2: "foo=bar"'),
                         ("no-new-privileges=maybe",
                          'invalid --security-opt 2: "no-new-privileges=maybe"')):
        with pytest.raises(InvalidParameter) as e:
            parsed(opt)
        assert str(e.value) == message
    assert security.seccomp({"SecurityOpt": ["seccomp=unconfined"]}, DEFAULT_CAPS) is None
    assert security.seccomp({"Privileged": True}, DEFAULT_CAPS) is None
    assert security.seccomp({}, DEFAULT_CAPS) is not None


def test_ulimits_sysctls_and_devices() -> None:
    nofile = {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}
    assert security.rlimits({}, nofile) == [nofile]
    assert security.rlimits({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20},
                                         {"Name": "core", "Soft": -1, "Hard": -1}]},
                            nofile) == [
        {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20},
        {"type": "RLIMIT_CORE", "soft": 2**64 - 1, "hard": 2**64 - 1}]
    with pytest.raises(InvalidParameter, match="invalid ulimit type: bogus"):
        security.rlimits({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, nofile)
    with pytest.raises(InvalidParameter, match="must be less than or equal"):
        security.rlimits({"Ulimits": [{"Name": "nproc", "Soft": 5, "Hard": 1}]}, nofile)
    own = [{"type": t} for t in ("mount", "uts", "pid", "ipc", "network")]
    assert security.sysctls({"Sysctls": {"net.ipv4.ip_forward": "1"}}, own) == {
        "net.ipv4.ip_forward": "1"}
    with pytest.raises(InvalidParameter, match=r"kernel\.panic is not namespaced"):
        security.sysctls({"Sysctls": {"kernel.panic": "1"}}, own)
    with pytest.raises(InvalidParameter, match="host network namespace"):
        security.sysctls({"Sysctls": {"net.ipv4.ip_forward": "1"}}, own[:4])
    devices, rules = security.devices({"Devices": [{"PathOnHost": "/dev/null",
                                                    "PathInContainer": "/dev/n",
                                                    "CgroupPermissions": "r"}]})
    st = os.stat("/dev/null")
    assert devices == [{"path": "/dev/n", "type": "c", "major": 1, "minor": 3,
                        "fileMode": 0o666, "uid": st.st_uid, "gid": st.st_gid}]
    assert rules == [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}]
    with pytest.raises(InvalidParameter) as e:
        security.devices({"Devices": [{"PathOnHost": "/dev/nope"}]})
    assert str(e.value) == ('error gathering device information while adding custom '
                            'device "/dev/nope": no such file or directory')
    with pytest.raises(InvalidParameter, match="not a device node"):
        security.devices({"Devices": [{"PathOnHost": "/etc/passwd"}]})
    privileged, rules = security.devices({"Privileged": True})
    assert any(d["path"] == "/dev/null" for d in privileged)
    assert not any(d["path"].startswith("/dev/pts/") for d in privileged)
    assert rules == [{"allow": True, "access": "rwm"}]


def test_cli_flags_as_the_docker_cli_sends_them(tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n')
    opts = parse(FLAGS, ["-m", "32m", "--memory-swap", "-1", "--cpus", "1.5",
                         "--pids-limit", "-1", "--shm-size", "1g", "--ulimit", "nofile=1:2",
                         "--sysctl", "net.core.somaxconn=10", "--device", "/dev/fuse:r",
                         "--group-add", "audio", "--security-opt", f"seccomp={profile}",
                         "--security-opt", "systempaths=unconfined", "-c", "512"])
    assert host_config(opts) == {
        "Memory": 32 << 20, "MemorySwap": -1, "NanoCpus": 1_500_000_000, "PidsLimit": -1,
        "ShmSize": 1 << 30, "CpuShares": 512,
        "Ulimits": [{"Name": "nofile", "Hard": 2, "Soft": 1}],
        "Sysctls": {"net.core.somaxconn": "10"},
        "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse",
                     "CgroupPermissions": "r"}],
        "GroupAdd": ["audio"],
        "SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'],
        "MaskedPaths": [], "ReadonlyPaths": []}
    assert host_config(parse(FLAGS, [])) == {}
    assert nano_cpus("0.001") == 1_000_000
    assert ulimit("nproc=5") == {"Name": "nproc", "Hard": 5, "Soft": 5}
    assert device("/dev/a:/dev/b:rw") == {"PathOnHost": "/dev/a", "PathInContainer": "/dev/b",
                                          "CgroupPermissions": "rw"}
    for args, message in (
            (["--cpus", "x"], 'invalid argument "x" for "--cpus" flag: failed to parse x '
                              "as a rational number"),
            (["-m", "abc"], "invalid argument \"abc\" for \"-m, --memory\" flag: invalid "
                            "size: 'abc'"),
            (["--ulimit", "nofile"], 'invalid argument "nofile" for "--ulimit" flag: '
                                     "invalid ulimit argument: nofile"),
            (["--sysctl", "kernel.panic=1"], "invalid argument \"kernel.panic=1\" for "
                                             "\"--sysctl\" flag: sysctl 'kernel.panic=1' "
                                             "is not allowed"),
            (["--device", "/dev/fuse:rwx"], "rwx is not an absolute path"),
            (["--device", "/dev/a:/dev/b:rq"], "invalid device mode: rq"),
            (["--security-opt", "foo"], 'Invalid --security-opt: "foo"'),
            (["--security-opt", "seccomp=/nope.json"],
             "opening seccomp profile (/nope.json) failed: open /nope.json: no such file or "
             "directory")):
        with pytest.raises(CLIError) as e:
            host_config(parse(FLAGS, args))
        assert (e.value.message, e.value.code) == (message, 125)


def test_cached_bpf_program_is_the_filter(tmp_path: Path) -> None:
    from ketch.runtime.seccomp import BpfFilter, cached_filter

    profile = default_profile(set(DEFAULT_CAPS))
    first = cached_filter(profile, str(tmp_path))
    second = cached_filter(profile, str(tmp_path))
    assert isinstance(second, BpfFilter) and len(list(tmp_path.iterdir())) == 1
    assert isinstance(first, BpfFilter) and first.program == second.program
    (next(tmp_path.iterdir())).write_bytes(b"short")  # damaged: compiled again
    assert cached_filter(profile, str(tmp_path)).program == second.program
    pid = os.fork()
    if pid == 0:  # the child loads it (with no_new_privs, as an unprivileged exec would)
        import ctypes

        from ketch.runtime import linux as L

        L.prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
        second.load()
        libc = ctypes.CDLL(None, use_errno=True)
        denied = libc.unshare(0x10000000) == -1 and ctypes.get_errno() == 1  # EPERM
        os._exit(0 if denied and os.getpid() > 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
