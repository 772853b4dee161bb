#!/usr/bin/env python3
"""Benchmark: published-port throughput of ketch against Docker on this machine.

Both daemons run privately (own data and exec roots and sockets) with a bridge of
their own: ketchd with `--bridge ktbench` (so its nftables table is `ketch-ktbench`),
dockerd on a bridge made here (`kbdocker0`, a subnet that overlaps no route) with its
iptables rules and its default userland proxy. In each a busybox `httpd` serves a host
folder (`-v DIR:/www:ro`) published with `-p PORT:80`. wrk measures requests/s for a
tiny file and MB/s for a 1 MiB file, through the published port on 127.0.0.1 and
straight to the container's address; rounds are interleaved (which engine goes first
alternates) and medians are printed with the ratio ketch / docker (higher is better),
with the host's count of retransmitted SYNs during each engine's runs (a connection
stalled 1 s each: it explains a low requests/s).
Everything started here is stopped by pid, and the firewall rules, chains, policies
and sysctls that dockerd changed are put back. A benchmark, not a test: it asserts
nothing.  Run as root:  python3 bench/network.py
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine import BUSYBOX, Engine, descendants, teardown

KETCH_BRIDGE = "ktbench"
DOCKER_BRIDGE = "kbdocker0"
SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables",
           "net/bridge/bridge-nf-call-ip6tables")
CASES = (  # (label, path, where, metric)
    ("req/s   tiny file, 127.0.0.1:published", "/index.html", "published", "req"),
    ("MB/s    1 MiB file, 127.0.0.1:published", "/big.bin", "published", "mb"),
    ("req/s   tiny file, container address", "/index.html", "container", "req"),
    ("MB/s    1 MiB file, container address", "/big.bin", "container", "mb"),
)


def run(*cmd: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                          check=check)


def output(engine: Engine, *args: str, timeout: float = 120) -> str:
    proc = subprocess.run([*engine.cli, *args], env=engine.env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine.name} {' '.join(args)}: {proc.stderr.strip()[-400:]}")
    return proc.stdout


def ensure_dockerd() -> bool:
    """dockerd, installed if missing (its own service kept from starting)."""
    if shutil.which("dockerd"):
        return True
    policy = Path("/usr/sbin/policy-rc.d")
    made = not policy.exists()
    try:
        if made:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        subprocess.run(["apt-get", "install", "-y", "-q", "docker.io"], capture_output=True,
                       timeout=600, check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.SubprocessError):
        pass
    finally:
        if made:
            policy.unlink(missing_ok=True)
    return shutil.which("dockerd") is not None


# -- the host's firewall and sysctls: recorded before, put back after ------------------

def _iptables(family: str) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]]]:
    """(table, chain) -> policy, and the (table, rule) pairs, as iptables-save says."""
    chains: dict[tuple[str, str], str] = {}
    rules: set[tuple[str, str]] = set()
    if not shutil.which(f"{family}-save"):
        return chains, rules
    table = ""
    for line in run(f"{family}-save").stdout.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            chains[(table, name)] = policy
        elif line.startswith("-A "):
            rules.add((table, line))
    return chains, rules


def _nft_tables() -> set[str]:
    return {line.strip() for line in run("nft", "list", "tables").stdout.splitlines()
            if line.strip()}


@dataclass
class Snapshot:
    tables: set[str]
    iptables: dict[str, tuple[dict[tuple[str, str], str], set[tuple[str, str]]]]
    sysctls: dict[str, str]


def snapshot() -> Snapshot:
    sysctls = {}
    for key in SYSCTLS:
        try:
            sysctls[key] = Path("/proc/sys", key).read_text().strip()
        except OSError:
            pass
    return Snapshot(_nft_tables(), {f: _iptables(f) for f in ("iptables", "ip6tables")},
                    sysctls)


def restore(before: Snapshot, marks: list[str]) -> list[str]:
    """Undo what dockerd did: its new chains and the new rules that mention Docker or
    `marks` (its bridge, its subnet), changed policies, new iptables-nft tables left
    empty, changed sysctls. Returns what was put back, for the report."""
    done: list[str] = []
    for family in ("iptables", "ip6tables"):
        old_chains, old_rules = before.iptables[family]
        chains, rules = _iptables(family)
        new_chains = [c for c, policy in chains.items()  # user chains (no policy) only
                      if c not in old_chains and policy == "-"]
        for table, chain in new_chains:
            run(family, "-w", "-t", table, "-F", chain)
        for table, rule in sorted(rules - old_rules):
            words = shlex.split(rule)
            if (table, words[1]) in new_chains or not any(
                    m in rule for m in ("DOCKER", *marks)):
                continue
            if run(family, "-w", "-t", table, "-D", *words[1:]).returncode == 0:
                done.append(f"{family} -t {table} -D {' '.join(words[1:])}")
        for table, chain in new_chains:
            if run(family, "-w", "-t", table, "-X", chain).returncode == 0:
                done.append(f"{family} -t {table} -X {chain}")
        for (table, chain), policy in old_chains.items():
            if chains.get((table, chain), policy) not in (policy, "-"):
                run(family, "-w", "-t", table, "-P", chain, policy)
                done.append(f"{family} -t {table} -P {chain} {policy}")
    for table in sorted(_nft_tables() - before.tables):
        _, family, name = table.split()
        if name not in ("filter", "nat", "mangle", "raw", "security"):
            continue  # not iptables-nft's: not ours to judge
        text = run("nft", "list", "table", family, name).stdout
        if all(not line or line == "}" or line.startswith(("table ", "chain ")) or
               (line.startswith("type ") and line.endswith("policy accept;"))
               for line in (raw.strip() for raw in text.splitlines())):
            run("nft", "delete", "table", family, name)
            done.append(f"nft delete {table}")
    for key, value in before.sysctls.items():
        path = Path("/proc/sys", key)
        if path.exists() and path.read_text().strip() != value:
            path.write_text(value)
            done.append(f"sysctl {key}={value}")
    return done


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 that overlaps no route and no address of the host."""
    taken = []
    for cmd in (("ip", "-4", "route", "show", "table", "all"), ("ip", "-4", "-o", "addr")):
        for word in run(*cmd).stdout.split():
            try:
                taken.append(ipaddress.IPv4Network(word, strict=False))
            except ValueError:
                continue
    for third in range(200, 256):
        candidate = ipaddress.IPv4Network(f"10.{third}.77.0/24")
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise RuntimeError("no free 10.x.77.0/24 subnet for Docker's bridge")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


# -- the daemons ---------------------------------------------------------------------

def start_ketchd(top: Path) -> Engine:
    engine = Engine("ketch", [shutil.which("ketch") or "ketch"], top)
    (top / "daemon.json").write_text("{}")
    with open(top / "ketchd.log", "wb") as log:
        engine.proc = subprocess.Popen(
            [shutil.which("ketchd") or "ketchd", "-H", f"unix://{engine.socket}",
             "--data-root", str(top / "data"), "--exec-root", str(top / "exec"),
             "--config-file", str(top / "daemon.json"), "--bridge", KETCH_BRIDGE],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    return engine


def start_dockerd(top: Path, subnet: ipaddress.IPv4Network) -> Engine:
    """dockerd on a bridge of its own; iptables on (so -p works the Docker way, with
    its userland proxy for 127.0.0.1), ip_forward left alone (nothing here is routed
    through the host, and so Docker has no reason to touch the FORWARD policy)."""
    engine = Engine("docker", [shutil.which("docker") or "docker"], top)
    with open(top / "dockerd.log", "wb") as log:
        engine.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(top / "data"), "--exec-root", str(top / "exec"),
             "--pidfile", str(top / "dockerd.pid"), "-H", f"unix://{engine.socket}",
             "--bridge", DOCKER_BRIDGE, "--fixed-cidr", str(subnet), "--ip-forward=false",
             "--ip-masq=false"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    return engine


def all_pids(engine: Engine) -> dict[int, str]:
    """Every process the engine runs (the daemon, supervisor or containerd, shims,
    proxies, containers), with its start time, so that a pid reused is never killed."""
    assert engine.proc is not None
    pids = descendants(engine.proc.pid)
    if engine.name == "ketch":
        try:
            from engine import _supervisor_pid

            pids += descendants(_supervisor_pid(engine.top / "exec" / "supervisor.sock"))
        except (OSError, ValueError, KeyError):
            pass
    return {p: start for p in set(pids) if (start := _start_time(p))}


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def stop_engine(engine: Engine) -> None:
    """Its containers removed, then the daemon stopped by teardown (bench/engine.py),
    then whatever of it still runs killed by pid."""
    assert engine.proc is not None
    pids = all_pids(engine) if engine.proc.poll() is None else {}
    if engine.proc.poll() is None:
        try:
            ids = output(engine, "ps", "-aq", timeout=30).split()
            if ids:
                output(engine, "rm", "-f", *ids, timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        pids.update(all_pids(engine))
    try:
        teardown([engine], [])
    except Exception:  # whatever it was, the pids below still go
        engine.proc.kill()
        engine.proc.wait(10)
    deadline = time.monotonic() + 10
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, start in pids.items():
            if _start_time(pid) == start:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        while time.monotonic() < deadline and any(_start_time(p) == s for p, s in pids.items()):
            time.sleep(0.1)
        deadline = time.monotonic() + 5


def owned_links(alias: str) -> list[str]:
    found = []
    for name in os.listdir("/sys/class/net"):
        try:
            if Path(f"/sys/class/net/{name}/ifalias").read_text().strip() == alias:
                found.append(name)
        except OSError:
            continue
    return found


# -- the measurement -------------------------------------------------------------------

def serve(engine: Engine, www: Path, port: int) -> tuple[str, str]:
    """The httpd container; its published URL and its own URL."""
    output(engine, "run", "-d", "--name", "bench-web", "-p", f"{port}:80", "-v",
           f"{www}:/www:ro", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    info = json.loads(output(engine, "inspect", "bench-web"))[0]
    address = info["NetworkSettings"]["IPAddress"]
    if not address:
        raise RuntimeError(f"{engine.name}: the container has no IPAddress")
    urls = (f"http://127.0.0.1:{port}", f"http://{address}:80")
    for url in urls:
        for _ in range(100):
            try:
                with urllib.request.urlopen(url + "/index.html", timeout=2) as answer:
                    answer.read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{engine.name}: {url} does not answer")
    return urls


UNITS = {"B": 1 / 1024 ** 2, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0, "TB": 1024.0 ** 2}


def wrk(url: str, seconds: int, threads: int, connections: int) -> tuple[float, float, str]:
    """(requests/s, MB/s, errors) of one bounded wrk run."""
    proc = run("wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
               url, timeout=seconds + 30)
    text = proc.stdout
    req = re.search(r"Requests/sec:\s+([\d.]+)", text)
    mb = re.search(r"Transfer/sec:\s+([\d.]+)([KMGT]?B)", text)
    if proc.returncode != 0 or not req or not mb:
        raise RuntimeError(f"wrk {url}: {(proc.stderr or text).strip()[-300:]}")
    errors = " ".join(line.strip() for line in text.splitlines()
                      if line.strip().startswith(("Socket errors", "Non-2xx")))
    return float(req.group(1)), float(mb.group(1)) * UNITS[mb.group(2)], errors


def syn_retransmits() -> int:
    """The host's count of retransmitted SYNs (each one a connection stalled 1 s)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=False))
                       .get("TCPSynRetrans", 0))
    return 0


def measure(engines: list[Engine], urls: dict[str, dict[str, str]], rounds: int,
            seconds: int, threads: int, connections: int) -> dict[str, dict[str, float]]:
    """Medians by engine and case; also "SYN retransmits", the host's count during the
    engine's runs (system-wide, so other traffic adds to it)."""
    samples: dict[str, dict[str, list[float]]] = {e.name: {} for e in engines}
    stalls = dict.fromkeys(samples, 0)
    for engine in engines:  # warm up: page cache, ARP, conntrack, the proxy
        for _, path, where, _ in CASES:
            wrk(urls[engine.name][where] + path, 1, threads, connections)
    for i in range(rounds):
        order = engines if i % 2 == 0 else engines[::-1]
        for label, path, where, metric in CASES:
            for engine in order:
                before = syn_retransmits()
                req, mb, errors = wrk(urls[engine.name][where] + path, seconds, threads,
                                      connections)
                stalls[engine.name] += syn_retransmits() - before
                value = req if metric == "req" else mb
                samples[engine.name].setdefault(label, []).append(value)
                print(f"  round {i + 1} {engine.name:6} {label}: {value:10.1f}"
                      f"{'  (' + errors + ')' if errors else ''}", flush=True)
    return {name: {**{label: statistics.median(values) for label, values in by_label.items()},
                   "SYN retransmits": stalls[name]}
            for name, by_label in samples.items()}


@contextmanager
def servers() -> Iterator[tuple[list[Engine], dict[str, dict[str, str]]]]:
    """Both daemons, each serving the same folder; their URLs by engine and by way in
    ("published", "container"). Afterwards nothing of them is left."""
    before = snapshot()
    work = Path(tempfile.mkdtemp(prefix="bench-network-", dir="/var/tmp"))
    engines: list[Engine] = []
    made_bridge = False
    subnet = None
    try:
        www = work / "www"
        www.mkdir()
        (www / "index.html").write_text("hello\n")
        (www / "big.bin").write_bytes(os.urandom(1024 * 1024))
        os.chmod(work, 0o755)
        ketch = start_ketchd(Path(tempfile.mkdtemp(prefix="ketch-", dir=work)))
        engines.append(ketch)
        ketch.wait_ready()
        subnet = free_subnet()  # after ketchd made its bridge: overlaps neither
        run("ip", "link", "add", DOCKER_BRIDGE, "type", "bridge", check=True)
        made_bridge = True
        run("ip", "addr", "add", f"{next(subnet.hosts())}/{subnet.prefixlen}", "dev",
            DOCKER_BRIDGE, check=True)
        run("ip", "link", "set", DOCKER_BRIDGE, "up", check=True)
        docker = start_dockerd(Path(tempfile.mkdtemp(prefix="docker-", dir=work)), subnet)
        engines.append(docker)
        docker.wait_ready()
        urls: dict[str, dict[str, str]] = {}
        for engine in engines:
            engine("import", "-c", 'CMD ["sh"]', str(BUSYBOX), "busybox:latest")
            published, own = serve(engine, www, free_port())
            urls[engine.name] = {"published": published, "container": own}
            print(f"{engine.name}: published {published}, container {own}", flush=True)
        yield engines, urls
    finally:
        for engine in engines:
            stop_engine(engine)
        for name in owned_links(f"ketch:{KETCH_BRIDGE}"):  # its bridges outlive it
            run("ip", "link", "del", name)
        run("nft", "delete", "table", "ip", f"ketch-{KETCH_BRIDGE}")
        if made_bridge:
            run("ip", "link", "del", DOCKER_BRIDGE)
        # its subnet's addresses, as its rules spell them ("10.200.77.2/32")
        marks = [DOCKER_BRIDGE] + ([str(subnet.network_address).rsplit(".", 1)[0] + "."]
                                   if subnet else [])
        for change in restore(before, marks):
            print(f"cleanup: {change}")
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            if line.split()[4].startswith(str(work)):
                run("umount", "-l", line.split()[4])
        shutil.rmtree(work, ignore_errors=True)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that a `kill` of the benchmark still cleans up


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=3)
    parser.add_argument("-d", "--seconds", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-c", "--connections", type=int, default=32)
    args = parser.parse_args()
    if os.geteuid() != 0 or not BUSYBOX.exists():
        print("bench: run as root after install.sh (needs the busybox base image)")
        return 1
    if not shutil.which("wrk"):
        print("bench: wrk is needed (apt-get install wrk)")
        return 1
    if not ensure_dockerd():
        print("bench: the Docker engine is needed to compare (apt-get install docker.io)")
        return 1
    if Path("/sys/class/net", KETCH_BRIDGE).exists() or \
            Path("/sys/class/net", DOCKER_BRIDGE).exists():
        print(f"bench: {KETCH_BRIDGE} or {DOCKER_BRIDGE} exists already (another run?)")
        return 1
    signal.signal(signal.SIGTERM, _terminated)
    with servers() as (engines, urls):
        results = measure(engines, urls, args.rounds, args.seconds, args.threads,
                          args.connections)
    k, d = results["ketch"], results["docker"]
    print(f"\n{'':42}{'ketch':>10}{'docker':>10}{'ratio':>8}")
    for label, *_ in CASES:
        print(f"{label:42}{k[label]:10.1f}{d[label]:10.1f}{k[label] / d[label]:8.2f}")
    print(f"(medians of {args.rounds} interleaved rounds of wrk -t{args.threads} "
          f"-c{args.connections} -d{args.seconds}s; MB = MiB; ratio = ketch / docker, "
          "higher is better)")
    pub = [k[label] / d[label] for label, _, where, _ in CASES if where == "published"]
    print(f"published port: ketch is {pub[0]:.2f}x Docker in requests/s and "
          f"{pub[1]:.2f}x in MB/s (goal >= 1.5x): {'met' if min(pub) >= 1.5 else 'not met'}")
    print(f"SYN retransmits on the host during the runs (each a connection stalled 1 s): "
          f"ketch {k['SYN retransmits']:.0f}, docker {d['SYN retransmits']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
