"""The seccomp profile of a container, as dockerd chooses it: Docker's default profile
(kept here as data: the syscalls it allows, those it allows only with a capability, and
its argument rules), a profile the user gave (`--security-opt seccomp=<json>`, in
Docker's format), or none (`seccomp=unconfined`, and `--privileged` without a profile).
Either way the engine hands the runtime an OCI `linux.seccomp` object.

A denied syscall fails with EPERM (dockerd's defaultErrnoRet 1); clone3 without
CAP_SYS_ADMIN fails with ENOSYS so that libc falls back to clone, whose flags the filter
can read (namespace flags need CAP_SYS_ADMIN)."""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from ketch.errors import InvalidParameter


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Allowed to every container (the default profile's unconditional rule).
ALLOWED = _names("""
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv
futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid
geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32
getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat
listen listmount listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr
lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir
mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify
mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64
mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64
prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat
renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending
rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd
signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64
statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat
uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid
write writev
process_vm_readv process_vm_writev ptrace
""")  # the last line: allowed on kernels from 4.8 on, which ketch requires

# Allowed with a capability (the whole list with CAP_SYS_ADMIN: clone, mount, unshare...).
BY_CAPABILITY: dict[str, frozenset[str]] = {
    "CAP_DAC_READ_SEARCH": frozenset({"open_by_handle_at"}),
    "CAP_SYS_ADMIN": _names("""
        bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie
        lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount
        open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns
        syslog umount umount2 unshare"""),
    "CAP_SYS_BOOT": frozenset({"reboot"}),
    "CAP_SYS_CHROOT": frozenset({"chroot"}),
    "CAP_SYS_MODULE": frozenset({"delete_module", "init_module", "finit_module"}),
    "CAP_SYS_PACCT": frozenset({"acct"}),
    "CAP_SYS_PTRACE": frozenset({"kcmp", "pidfd_getfd", "process_madvise",
                                 "process_vm_readv", "process_vm_writev", "ptrace"}),
    "CAP_SYS_RAWIO": frozenset({"iopl", "ioperm"}),
    "CAP_SYS_TIME": frozenset({"settimeofday", "stime", "clock_settime",
                               "clock_settime64"}),
    "CAP_SYS_TTY_CONFIG": frozenset({"vhangup"}),
    "CAP_SYS_NICE": frozenset({"get_mempolicy", "mbind", "set_mempolicy",
                               "set_mempolicy_home_node"}),
    "CAP_SYSLOG": frozenset({"syslog"}),
    "CAP_BPF": frozenset({"bpf"}),
    "CAP_PERFMON": frozenset({"perf_event_open"}),
}

# Docker's arch names -> (libseccomp's native arch and the ones it runs, extra syscalls).
ARCHES: dict[str, tuple[list[str], frozenset[str]]] = {
    "x86_64": (["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
               frozenset({"arch_prctl", "modify_ldt"})),
    "aarch64": (["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
                frozenset({"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
                           "breakpoint", "cacheflush", "set_tls"})),
    "riscv64": (["SCMP_ARCH_RISCV64"], frozenset({"riscv_flush_icache"})),
    "s390x": (["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
              frozenset({"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"})),
    "ppc64le": (["SCMP_ARCH_PPC64LE"], frozenset({"sync_file_range2", "swapcontext"})),
}
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)  # linux, and its 32-bit forms
NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEW*: clone may not make namespaces
AF_ALG, AF_VSOCK = 38, 40  # socket families the default profile refuses
ENOSYS = 38


def _allow(names: list[str] | frozenset[str], *args: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {"names": sorted(names), "action": "SCMP_ACT_ALLOW"}
    if args:
        rule["args"] = list(args)
    return rule


def _arg(index: int, op: str, value: int, value_two: int = 0) -> dict[str, Any]:
    return {"index": index, "value": value, "valueTwo": value_two, "op": f"SCMP_CMP_{op}"}


def default_profile(capabilities: set[str], machine: str | None = None) -> dict[str, Any]:
    """Docker's default profile for a container with these (bounding) capabilities
    (the same object for the same capabilities: callers must not change it)."""
    return _default_profile(frozenset(capabilities), machine or os.uname().machine)


@functools.lru_cache(maxsize=32)
def _default_profile(capabilities: frozenset[str], machine: str) -> dict[str, Any]:
    architectures, arch_names = ARCHES.get(machine, ([], frozenset()))
    allowed = set(ALLOWED | arch_names)
    for cap, names in BY_CAPABILITY.items():
        if cap in capabilities:
            allowed |= names
    rules = [_allow(frozenset(allowed))]
    rules += [_allow(["socket"], _arg(0, "LT", AF_ALG)),
              _allow(["socket"], _arg(0, "EQ", AF_ALG + 1)),
              _allow(["socket"], _arg(0, "GT", AF_VSOCK))]
    rules += [_allow(["personality"], _arg(0, "EQ", p)) for p in PERSONALITIES]
    if "CAP_SYS_ADMIN" not in capabilities:
        index = 1 if machine in ("s390x",) else 0  # s390 passes clone's flags second
        rules.append(_allow(["clone"], _arg(index, "MASKED_EQ", NAMESPACE_FLAGS, 0)))
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": architectures, "syscalls": rules}


def user_profile(text: str, capabilities: set[str],
                 machine: str | None = None) -> dict[str, Any]:
    """A profile in Docker's format (names or name, includes/excludes by caps and
    arches, archMap) as the OCI object, its conditional rules decided for this
    container, as dockerd's seccomp.LoadProfile does."""
    try:
        profile = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise InvalidParameter(f"Decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict):
        raise InvalidParameter("Decoding seccomp profile failed: the profile must be a "
                               "JSON object")
    machine = machine or os.uname().machine
    out: dict[str, Any] = {k: v for k, v in profile.items()
                           if k in ("defaultAction", "defaultErrnoRet", "listenerPath",
                                    "listenerMetadata", "flags")}
    if not out.get("defaultAction"):
        raise InvalidParameter("Decoding seccomp profile failed: defaultAction is required")
    arches = profile.get("architectures")
    arch_map = profile.get("archMap")
    if arches and arch_map:
        raise InvalidParameter("'architectures' and 'archMap' were specified in the seccomp "
                               "profile, use either 'architectures' or 'archMap'")
    if isinstance(arch_map, list):
        native = ARCHES.get(machine, ([""], frozenset()))[0][0]
        for entry in arch_map:
            if isinstance(entry, dict) and entry.get("architecture") == native:
                arches = [native, *(entry.get("subArchitectures") or [])]
    if arches:
        out["architectures"] = arches
    syscalls = profile.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise InvalidParameter("Decoding seccomp profile failed: syscalls must be a list")
    rules = []
    for rule in syscalls:
        if not isinstance(rule, dict):
            raise InvalidParameter("Decoding seccomp profile failed: a syscall rule must be "
                                   "an object")
        if rule.get("name") and rule.get("names"):
            raise InvalidParameter("use either 'name' or 'names'")
        if not _applies(rule, capabilities, machine):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        kept = {k: v for k, v in rule.items()
                if k in ("action", "errnoRet", "args")}
        rules.append({"names": names, **kept})
    out["syscalls"] = rules
    return out


_DOCKER_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "riscv64": "riscv64",
                "s390x": "s390x", "ppc64le": "ppc64le"}


def _applies(rule: dict[str, Any], capabilities: set[str], machine: str) -> bool:
    arch = _DOCKER_ARCH.get(machine, machine)
    includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
    if not isinstance(includes, dict) or not isinstance(excludes, dict):
        raise InvalidParameter("Decoding seccomp profile failed: includes and excludes "
                               "must be objects")
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if includes.get("caps") and not set(includes["caps"]) <= capabilities:
        return False
    if excludes.get("arches") and arch in excludes["arches"]:
        return False
    return not (excludes.get("caps") and set(excludes["caps"]) & capabilities)
