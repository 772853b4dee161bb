"""What the container's process sees of itself: capabilities, user, groups, rlimits, NNP, fds."""

from __future__ import annotations

import os
import signal

import pytest

from ketch.runtime import caps
from support.bundles import Bundle, Runtime, run

pytestmark = pytest.mark.integration


def status_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_capability_sets_are_exactly_the_configured_ones(runtime: Runtime,
                                                         bundle: Bundle) -> None:
    wanted = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"],
    }
    bundle.process["capabilities"] = wanted
    bundle.process["noNewPrivileges"] = False
    # the program is not a file with capabilities: the kernel's execve rules apply
    proc = run(runtime, bundle.args("cat", "/proc/self/status"))
    assert proc.returncode == 0, proc.stderr
    got = status_fields(proc.stdout)
    last = caps.last_cap()

    def mask(names: list[str]) -> int:
        return caps.mask(names, last)

    # for root, execve makes permitted = inheritable | bounding, effective = permitted
    expected_perm = mask(wanted["inheritable"]) | mask(wanted["bounding"])
    assert int(got["CapBnd"], 16) == mask(wanted["bounding"])
    assert int(got["CapInh"], 16) == mask(wanted["inheritable"])
    assert int(got["CapPrm"], 16) == expected_perm
    assert int(got["CapEff"], 16) == expected_perm
    assert int(got["CapAmb"], 16) == mask(wanted["ambient"])


def test_non_root_user_keeps_only_ambient_capabilities(runtime: Runtime,
                                                       bundle: Bundle) -> None:
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    proc = run(runtime, bundle.sh("cat /proc/self/status; chown 100 /tmp; echo chown=$?"))
    got = status_fields(proc.stdout)
    assert int(got["CapEff"], 16) == 0 and int(got["CapPrm"], 16) == 0
    assert "chown=1" in proc.stdout and "Operation not permitted" in proc.stderr


def test_user_groups_and_umask(runtime: Runtime, bundle: Bundle) -> None:
    bundle.process["user"] = {"uid": 1234, "gid": 2345, "additionalGids": [10, 20],
                              "umask": 0o077}
    proc = run(runtime, bundle.sh("id -u; id -g; id -G; umask; touch /tmp/f && stat -c %a /tmp/f"))
    assert proc.returncode == 0, proc.stderr
    uid, gid, groups, umask, mode = proc.stdout.split("\n")[:5]
    assert (uid, gid) == ("1234", "2345")
    assert set(groups.split()) == {"2345", "10", "20"}
    assert umask == "0077" and mode == "600"


def test_host_supplementary_groups_do_not_leak(runtime: Runtime, bundle: Bundle) -> None:
    os.setgroups([4, 27])  # pretend the caller has groups: the container must not get them
    try:
        proc = run(runtime, bundle.args("cat", "/proc/self/status"))
    finally:
        os.setgroups([])
    assert status_fields(proc.stdout)["Groups"] == ""


def test_rlimits_are_applied(runtime: Runtime, bundle: Bundle) -> None:
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
                                 {"type": "RLIMIT_NPROC", "soft": 77, "hard": 88}]
    proc = run(runtime, bundle.sh("ulimit -n; ulimit -Hn; ulimit -u"))
    assert proc.stdout.split() == ["123", "456", "77"]


def test_no_new_privileges_and_oom_score_adj(runtime: Runtime, bundle: Bundle) -> None:
    bundle.process["noNewPrivileges"] = True
    bundle.process["oomScoreAdj"] = 321
    proc = run(runtime, bundle.sh(
        "grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj"))
    assert proc.stdout.split() == ["NoNewPrivs:", "1", "321"]
    bundle.process["noNewPrivileges"] = False
    proc = run(runtime, bundle.sh("grep NoNewPrivs /proc/self/status"))
    assert proc.stdout.split() == ["NoNewPrivs:", "0"]


def test_only_stdio_reaches_the_program(runtime: Runtime, bundle: Bundle,
                                        tmp_path: os.PathLike[str]) -> None:
    leaked = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # inheritable by the runtime
    os.set_inheritable(leaked, True)
    try:
        # the shell's own fd table, probed with builtins only (ls would open its own fd)
        script = "for i in $(seq 0 64); do [ -e /proc/$$/fd/$i ] && echo $i; done; true"
        proc = run(runtime, bundle.sh(script), pass_fds=(leaked,))
        preserved = run(runtime, bundle.sh(f"readlink /proc/self/fd/{leaked}"),
                        "--preserve-fds", str(leaked - 2), pass_fds=(leaked,))
    finally:
        os.close(leaked)
    assert proc.stdout.split() == ["0", "1", "2"], proc.stdout
    assert preserved.stdout.strip() == str(tmp_path)  # passed on only when asked


def test_signal_dispositions_and_mask_are_reset(runtime: Runtime, bundle: Bundle) -> None:
    # Python ignores SIGPIPE, a shell's background job SIGQUIT: neither may reach the program
    proc = run(runtime, bundle.args("cat", "/proc/self/status"),
               preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1]))
    fields = status_fields(proc.stdout)
    assert fields["SigIgn"] == "0000000000000000"
    assert fields["SigBlk"] == "0000000000000000"


def test_program_not_found_and_not_executable(runtime: Runtime, bundle: Bundle) -> None:
    proc = run(runtime, bundle.args("no-such-program"))
    assert proc.returncode == 127
    assert proc.stderr.strip().splitlines() == [
        'ketch-runtime: exec: "no-such-program": executable file not found in $PATH']
    (bundle.rootfs / "notexec").write_text("data")
    proc = run(runtime, bundle.args("/notexec"))
    assert proc.returncode == 126 and "permission denied" in proc.stderr
    assert runtime.leftovers() == []  # nothing left behind
