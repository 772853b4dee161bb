"""The container's filesystem: mounts in order, /dev, masked and read-only paths, pivot_root."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.bundles import Bundle, Runtime, run

pytestmark = pytest.mark.integration


def mounts_of(output: str) -> dict[str, tuple[str, set[str]]]:
    """mountpoint -> (fstype, options) from /proc/self/mounts."""
    found = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            found[fields[1]] = (fields[2], set(fields[3].split(",")))
    return found


def test_standard_mounts_and_root_is_pivoted(runtime: Runtime, bundle: Bundle) -> None:
    proc = run(runtime, bundle.sh("cat /proc/self/mounts; echo ---; cat /proc/self/mountinfo"))
    mounts_text, mountinfo = proc.stdout.split("---\n")
    mounts = mounts_of(mounts_text)
    assert mounts["/proc"][0] == "proc"
    assert mounts["/dev"][0] == "tmpfs" and "nosuid" in mounts["/dev"][1]
    assert mounts["/dev/pts"][0] == "devpts"
    assert mounts["/dev/shm"][0] == "tmpfs" and {"nodev", "noexec"} <= mounts["/dev/shm"][1]
    assert mounts["/dev/mqueue"][0] == "mqueue"
    assert mounts["/sys"][0] == "sysfs" and "ro" in mounts["/sys"][1]
    assert mounts["/sys/fs/cgroup"][1] >= {"ro"}
    # pivot_root, not chroot: only the container's root is mounted at /, and the
    # host's root filesystem is not mounted anywhere in here
    points = [line.split()[4] for line in mountinfo.splitlines()]
    assert points.count("/") == 1
    root_line = next(line for line in mountinfo.splitlines() if line.split()[4] == "/")
    assert root_line.split()[3] == str(bundle.rootfs)


def test_bind_mounts_read_only_and_options(runtime: Runtime, bundle: Bundle,
                                           tmp_path: Path) -> None:
    host = tmp_path / "shared"
    host.mkdir()
    (host / "hello").write_text("from the host\n")
    (tmp_path / "file").write_text("one file\n")
    bundle.config["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(host),
         "options": ["rbind", "ro", "nosuid", "nodev"]},
        {"destination": "/rw/deep/dir", "type": "bind", "source": str(host),
         "options": ["bind"]},
        {"destination": "/etc/one", "type": "bind", "source": str(tmp_path / "file"),
         "options": ["bind", "ro"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
         "options": ["size=1m", "mode=1777", "noexec"]},
    ]
    proc = run(runtime, bundle.sh(
        "cat /data/hello; echo x > /data/y; echo ro=$?; echo made > /rw/deep/dir/new;"
        " cat /etc/one; stat -c %a /scratch; cat /proc/self/mounts"))
    assert proc.stdout.startswith("from the host\nro=1\none file\n1777\n")
    assert "Read-only file system" in proc.stderr
    assert (host / "new").read_text() == "made\n"
    mounts = mounts_of(proc.stdout)
    assert {"ro", "nosuid", "nodev"} <= mounts["/data"][1]
    assert "ro" not in mounts["/rw/deep/dir"][1]
    assert mounts["/scratch"][0] == "tmpfs" and "noexec" in mounts["/scratch"][1]


def test_mounts_follow_spec_order(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["mounts"] += [
        {"destination": "/stack", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/stack/inner", "type": "tmpfs", "source": "tmpfs",
         "options": ["size=2m"]},
    ]
    proc = run(runtime, bundle.sh("grep ' /stack' /proc/self/mounts"))
    assert [line.split()[1] for line in proc.stdout.splitlines()] == ["/stack", "/stack/inner"]


def test_default_devices_and_links(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["devices"] = [{"path": "/dev/custom/zero", "type": "c", "major": 1,
                                "minor": 5, "fileMode": 0o644, "uid": 7, "gid": 8}]
    proc = run(runtime, bundle.sh(
        "for d in null zero full random urandom tty custom/zero; do"
        " stat -c '%n %F %t:%T %a %u:%g' /dev/$d; done;"
        " for l in fd stdin stdout stderr ptmx; do echo $l=$(readlink /dev/$l); done;"
        " head -c 4 /dev/custom/zero | od -An -tx1"))
    lines = proc.stdout.splitlines()
    assert "/dev/null character special file 1:3 666 0:0" in lines
    assert "/dev/urandom character special file 1:9 666 0:0" in lines
    assert "/dev/custom/zero character special file 1:5 644 7:8" in lines
    assert {"fd=/proc/self/fd", "stdin=/proc/self/fd/0", "stdout=/proc/self/fd/1",
            "stderr=/proc/self/fd/2", "ptmx=pts/ptmx"} <= set(lines)
    assert lines[-1].split() == ["00", "00", "00", "00"]


def test_device_cgroup_denies_what_is_not_allowed(runtime: Runtime, bundle: Bundle) -> None:
    # with CAP_MKNOD the node can be made, but the device cgroup refuses opening it
    for kind in ("bounding", "effective", "permitted"):
        bundle.process["capabilities"][kind].append("CAP_MKNOD")
    proc = run(runtime, bundle.sh(
        "mknod /dev/mem-too c 1 1 && echo made; head -c 1 /dev/mem-too; echo rc=$?;"
        " head -c 1 /dev/zero | wc -c"))
    assert proc.stdout.split() == ["made", "rc=1", "1"], proc.stderr
    assert "Operation not permitted" in proc.stderr


def test_masked_and_read_only_paths(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["maskedPaths"] = ["/proc/keys", "/sys/firmware", "/etc/secret",
                                   "/does/not/exist"]
    bundle.linux["readonlyPaths"] = ["/proc/sys", "/etc/ro"]
    (bundle.rootfs / "etc/secret").write_text("hidden")
    (bundle.rootfs / "etc/ro").mkdir()
    proc = run(runtime, bundle.sh(
        "cat /proc/keys | wc -c; ls /sys/firmware | wc -l; cat /etc/secret | wc -c;"
        " echo 1 > /proc/sys/kernel/ns_last_pid; echo sys=$?; touch /etc/ro/x; echo ro=$?"))
    assert proc.stdout.split() == ["0", "0", "0", "sys=1", "ro=1"], proc.stderr


def test_read_only_root(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["root"]["readonly"] = True
    proc = run(runtime, bundle.sh("touch /x; echo root=$?; touch /dev/shm/x; echo shm=$?"))
    assert proc.stdout.split() == ["root=1", "shm=0"]


def test_hostname_domainname_and_sysctl(runtime: Runtime, bundle: Bundle) -> None:
    bundle.config["hostname"] = "box"
    bundle.config["domainname"] = "example.test"
    bundle.linux["sysctl"] = {"kernel.shmmni": "2048", "net.ipv4.ip_forward": "1"}
    host = Path("/proc/sys/kernel/shmmni").read_text()
    assert host.strip() != "2048"
    proc = run(runtime, bundle.sh(
        "hostname; cat /proc/sys/kernel/domainname /proc/sys/kernel/shmmni"
        " /proc/sys/net/ipv4/ip_forward"))
    assert proc.stdout.split() == ["box", "example.test", "2048", "1"]
    assert Path("/proc/sys/kernel/shmmni").read_text() == host  # the host's is untouched


def test_rootfs_propagation_private(runtime: Runtime, bundle: Bundle) -> None:
    bundle.linux["rootfsPropagation"] = "private"
    proc = run(runtime, bundle.args("cat", "/proc/self/mountinfo"))
    root = next(line for line in proc.stdout.splitlines() if line.split()[4] == "/")
    assert "shared:" not in root and "master:" not in root


def test_tmpcopyup_keeps_the_image_content(runtime: Runtime, bundle: Bundle) -> None:
    (bundle.rootfs / "etc/conf.d").mkdir()
    (bundle.rootfs / "etc/conf.d/a.conf").write_text("a=1\n")
    bundle.config["mounts"].append({"destination": "/etc/conf.d", "type": "tmpfs",
                                    "source": "tmpfs", "options": ["tmpcopyup"]})
    proc = run(runtime, bundle.sh("cat /etc/conf.d/a.conf; grep conf.d /proc/self/mounts"))
    assert proc.stdout.startswith("a=1\n") and " tmpfs " in proc.stdout
