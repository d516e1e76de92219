#!/usr/bin/python3
"""Regent micro-benchmarks: three real agents on 127.0.0.1. They print numbers and assert none.

What it measures (docs/benchmarks.md explains every number):

  1. proposal latency: POST /debug/propose, timed in the client from
     sending the request to reading the whole reply, over one keep-alive
     connection per node (http.client; --client requests for a
     requests.Session, which adds its own ~0.85 ms per request). Posted to
     a follower, the proposal is forwarded one hop to the Raft leader over
     the authenticated peer channel. Posted to the leader, it is proposed locally. Either way
     the reply comes once the entry has applied on the leader. Each request
     carries a fresh member_set command, which always applies. The follower
     and leader requests alternate, one at a time, so background work such
     as a Raft snapshot lands on both series alike. GET /liveness, timed the
     same way, gives the cost of the HTTP round trip alone.
  2. idle cost: with no requests at all, each agent's VmRSS
     (/proc/PID/status) and utime+stime (/proc/PID/stat), sampled over
     --idle seconds.

The idle window comes first, on the freshly formed cluster, so that the
proposals' state does not inflate it. After the proposals, one more RSS
sample of each agent shows what they added.

The agents are started through tests/cluster/regent_harness.py, with the
configuration the cluster tests use, plus REGENT_TEST_HOOKS=1 (needed for
/debug/propose). Everything lives in one temporary directory, deleted at the
end unless --keep is given. Every agent is stopped by PID on the way out,
after an error or ^C too, and the harness sets PR_SET_PDEATHSIG so the
kernel kills them if this process dies first.

Run it with Debian's /usr/bin/python3, which has requests and yaml:

    bench/bench.py                  # proposals 2000, idle 60 s
    bench/bench.py --idle 5 --proposals 200    # a quick run

The benchmarks with real PostgreSQL are scripts of their own, each run on
fresh clusters (bench/benchlib.py holds what they share):

    bench/failover                  # unplanned failover time (kill -9 of the primary)
    bench/switchover                # write-unavailability window of POST /switchover
"""

import argparse
import contextlib
import datetime
import http.client
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "cluster"))

import requests  # noqa: E402

import regent_harness as rh  # noqa: E402

HOOKS = {"REGENT_TEST_HOOKS": "1"}
PROPOSE_TIMEOUT = 15.0  # one request, seconds (the store gives up after 10)
SETTLE_TIMEOUT = 30.0
SLOW_MS = 10.0  # counted apart: Raft snapshots (every 1024 entries) land there
RSS_SAMPLE_EVERY = 0.5  # seconds, during the idle window
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The cluster did something the benchmark cannot measure around."""


# --------------------------------------------------------------------------
# Build


def ensure_built(build):
    """Configure @build if needed, then bring build/regent up to date."""
    if not (build / "build.ninja").exists():
        print(f"configuring {build} (meson setup)", file=sys.stderr)
        run_quiet(["meson", "setup", str(build)], f"meson setup {build}")
    run_quiet(["ninja", "-C", str(build), "regent"], f"ninja -C {build} regent")


def run_quiet(argv, what):
    r = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise BenchError(f"{what} failed with status {r.returncode}")


# --------------------------------------------------------------------------
# /proc


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no VmRSS")


def proc_cpu_s(pid):
    """utime + stime of every thread of @pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # comm, field 2, may hold spaces and parentheses: count from the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def mib(kib):
    return kib / 1024.0


# --------------------------------------------------------------------------
# Cluster


def settle(cluster):
    """Wait for one leader seen by all three and every member registered."""
    names = sorted(cluster.names)

    def check():
        views = [n.cluster() for n in cluster.nodes]
        leaders = {v["raft"]["leader"] for v in views}
        if len(leaders) != 1 or None in leaders:
            return None
        if any(sorted(v["raft"]["voters"]) != names for v in views):
            return None
        if any(sorted(m["name"] for m in v["members"]) != names for v in views):
            return None
        return leaders.pop()

    return cluster.wait_until(check, SETTLE_TIMEOUT, "one leader, three voters, three members")


def current_leader(cluster):
    with contextlib.suppress(Exception):
        return cluster.leader(timeout=5.0)
    return None


def role(name, leader):
    return "leader" if name == leader else "follower"


# --------------------------------------------------------------------------
# Idle


def bench_idle(cluster, seconds):
    """Sample RSS and CPU of each agent for @seconds without a single request."""
    leader = settle(cluster)
    pids = {n.name: n.pid for n in cluster.nodes}
    start = {name: (proc_rss_kib(pid), proc_cpu_s(pid)) for name, pid in pids.items()}
    rss_max = {name: start[name][0] for name in pids}
    t0 = time.monotonic()
    deadline = t0 + seconds
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(RSS_SAMPLE_EVERY, deadline - now))
        for n in cluster.nodes:
            n.check_alive()
        for name, pid in pids.items():
            rss_max[name] = max(rss_max[name], proc_rss_kib(pid))
    end = {name: (proc_rss_kib(pid), proc_cpu_s(pid)) for name, pid in pids.items()}
    wall = time.monotonic() - t0
    leader_after = current_leader(cluster)

    print(
        f"idle {seconds:g} s (no requests; RSS sampled every {RSS_SAMPLE_EVERY:g} s, "
        f"CPU time counted in {1.0 / CLK_TCK:g} s ticks):"
    )
    cpu = {}
    for name in pids:
        rss0, cpu0 = start[name]
        rss1, cpu1 = end[name]
        used = cpu1 - cpu0
        cpu[name] = used
        label = f"{name} ({role(name, leader)}):"
        print(
            f"  {label:<17} RSS {mib(rss0):5.1f} -> {mib(rss1):5.1f} MiB "
            f"(max {mib(rss_max[name]):5.1f}), "
            f"CPU {used:6.2f} s ({100.0 * used / wall:5.2f} % of a core)"
        )
    followers = [cpu[n] for n in pids if n != leader]
    f_mean = statistics.mean(followers) if followers else 0.0
    print(
        f"  leader vs followers: CPU {cpu[leader]:.2f} s vs {f_mean:.2f} s each on average "
        f"({100.0 * cpu[leader] / wall:.2f} % vs {100.0 * f_mean / wall:.2f} % of a core)"
    )
    if leader_after != leader:
        print(f"  note: the leader changed during the window ({leader} -> {leader_after})")
    return leader


# --------------------------------------------------------------------------
# Latency


def percentile(sorted_ms, q):
    """Nearest-rank percentile (q in 0..1) of an ascending list."""
    k = max(1, math.ceil(q * len(sorted_ms)))
    return sorted_ms[k - 1]


def summary(ms):
    s = sorted(ms)
    slow = sum(1 for x in s if x > SLOW_MS)
    return (
        f"n={len(s)}  median {statistics.median(s):.2f} ms  p90 {percentile(s, 0.90):.2f}  "
        f"p99 {percentile(s, 0.99):.2f}  max {s[-1]:.2f}  ({slow} over {SLOW_MS:g} ms)"
    )


class Client:
    """One keep-alive HTTP/1.1 connection to one node, timed per request.

    "http.client" (the default) is the standard library's connection: about
    0.15 ms of client time per request here. "requests" is a
    requests.Session, which spends about 0.85 ms more per request in Python
    and hides most of what the agents do; it is there to compare.
    """

    def __init__(self, node, kind):
        self.node = node
        self.kind = kind
        if kind == "requests":
            self.session = requests.Session()
        else:
            self.conn = http.client.HTTPConnection(
                "127.0.0.1", node.rest_port, timeout=PROPOSE_TIMEOUT
            )

    def request(self, method, path, data=None):
        """One request; returns (latency in ms, status, body)."""
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.kind == "requests":
            t0 = time.perf_counter_ns()
            r = self.session.request(
                method, self.node.api_url + path, data=data, headers=headers,
                timeout=PROPOSE_TIMEOUT,
            )
            body = r.content
            t1 = time.perf_counter_ns()
            return (t1 - t0) / 1e6, r.status_code, body
        t0 = time.perf_counter_ns()
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        body = r.read()
        t1 = time.perf_counter_ns()
        return (t1 - t0) / 1e6, r.status, body

    def close(self):
        if self.kind == "requests":
            self.session.close()
        else:
            self.conn.close()


class Proposer:
    """Posts member_set commands to one node, each with a fresh request id."""

    def __init__(self, node, tag, kind):
        self.client = Client(node, kind)
        self.node = node
        self.tag = tag
        self.seq = 0

    def body(self):
        self.seq += 1
        # Request ids: at most 39 printable characters, fresh every time.
        req_id = f"bench-{self.tag}-{self.seq}"
        cmd = (
            '{"v":1,"op":"member_set","id":"%s","ct":"0","name":"bench-%s","data":{"i":%d}}'
            % (req_id, self.tag, self.seq)
        )
        return cmd.encode()

    def once(self):
        """One proposal, built before the clock starts; returns its latency in ms."""
        data = self.body()
        ms, status, body = self.client.request("POST", "/debug/propose", data)
        text = body.decode(errors="replace")
        if status != 200:
            raise BenchError(f"{self.node.name}: POST /debug/propose: {status} {text}")
        res = json.loads(body).get("result") or {}
        if res.get("code") != 0:
            raise BenchError(f"{self.node.name}: proposal not applied: {text}")
        return ms

    def close(self):
        self.client.close()


def liveness_ms(node, n, kind):
    c = Client(node, kind)
    try:
        out = []
        for _ in range(n):
            ms, status, _ = c.request("GET", "/liveness")
            if status != 200:
                raise BenchError(f"{node.name}: GET /liveness: {status}")
            out.append(ms)
        return out
    finally:
        c.close()


def bench_latency(cluster, n, warmup, kind):
    leader_name = settle(cluster)
    leader = cluster[leader_name]
    follower = next(x for x in cluster.nodes if x.name != leader_name)
    tag = f"{os.getpid() % 100000}"
    via_f = Proposer(follower, f"{tag}f", kind)
    via_l = Proposer(leader, f"{tag}l", kind)
    try:
        for _ in range(warmup):
            via_f.once()
            via_l.once()
        ms_f, ms_l = [], []
        for _ in range(n):
            ms_f.append(via_f.once())
            ms_l.append(via_l.once())
    finally:
        via_f.close()
        via_l.close()
    live = liveness_ms(leader, n, kind)
    leader_after = current_leader(cluster)

    print(
        f"proposal latency ({kind}, keep-alive), {warmup} warm-up each, follower and leader "
        f"requests alternating:"
    )
    rows = [
        (f"via follower {follower.name} (forwarded):", ms_f),
        (f"via leader {leader.name} (local):", ms_l),
        ("HTTP alone (GET /liveness, leader):", live),
    ]
    for label, ms in rows:
        print(f"  {label:<36} {summary(ms)}")
    fwd = statistics.median(ms_f) - statistics.median(ms_l)
    local_store = statistics.median(ms_l) - statistics.median(live)
    print(
        f"  medians: forwarding adds {fwd:.2f} ms; a local proposal costs {local_store:.2f} ms "
        f"more than an HTTP round trip"
    )
    if leader_after != leader_name:
        print(f"  note: the leader changed during the run ({leader_name} -> {leader_after})")


def print_rss(cluster, leader, what):
    parts = []
    for n in cluster.nodes:
        parts.append(f"{n.name} ({role(n.name, leader)}) {mib(proc_rss_kib(n.pid)):.1f} MiB")
    print(f"RSS {what}: " + ", ".join(parts))


# --------------------------------------------------------------------------
# Main


def header(build, base):
    version = rh.project_version() or "?"
    commit = "?"
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    buildtype = "?"
    with contextlib.suppress(Exception):
        opts = json.loads((build / "meson-info" / "intro-buildoptions.json").read_text())
        buildtype = next(o["value"] for o in opts if o["name"] == "buildtype")
    fstype = "?"
    with contextlib.suppress(Exception):
        fstype = subprocess.run(
            ["findmnt", "-n", "-o", "FSTYPE", "-T", str(base)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    try:
        rel = build.relative_to(REPO_ROOT)
    except ValueError:
        rel = build
    print(
        f"Regent micro-benchmarks ({rel}/, 3 agents on 127.0.0.1, "
        f"{datetime.date.today().isoformat()})"
    )
    print(
        f"regent {version} ({commit}, {buildtype}), {os.cpu_count()} CPUs, "
        f"Raft data on {fstype} under {base}"
    )


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Regent micro-benchmarks: print proposal latency and idle RSS/CPU "
        "of a three-node loopback cluster (nothing is asserted)."
    )
    p.add_argument("--proposals", type=int, default=2000, metavar="N",
                   help="timed proposals per series (default 2000)")
    p.add_argument("--warmup", type=int, default=200, metavar="N",
                   help="untimed proposals per series first (default 200)")
    p.add_argument("--idle", type=float, default=60.0, metavar="SECONDS",
                   help="length of the idle window (default 60; 0 skips it)")
    p.add_argument("--client", choices=("http.client", "requests"), default="http.client",
                   help="HTTP client the latencies are timed with (default http.client)")
    p.add_argument("--build", default="build", metavar="DIR",
                   help="meson build directory (default build; relative to the repository)")
    p.add_argument("--no-build", action="store_true",
                   help="do not run meson/ninja, use the binary as it is")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory (configs, Raft data, logs)")
    a = p.parse_args(argv)
    if a.proposals < 1 or a.warmup < 0 or a.idle < 0:
        p.error("--proposals must be at least 1, --warmup and --idle at least 0")
    return a


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv):
    a = parse_args(argv)
    build = Path(a.build)
    if not build.is_absolute():
        build = REPO_ROOT / build
    # The harness finds the binaries through $REGENT_BUILD (it keeps REGENT_*
    # out of the agents' environment).
    os.environ["REGENT_BUILD"] = str(build)
    signal.signal(signal.SIGTERM, on_sigterm)

    base = Path(tempfile.mkdtemp(prefix="regent-bench-"))
    cluster = None
    try:
        if not a.no_build:
            ensure_built(build)
        header(build, base)
        cluster = rh.Cluster(base, n=3, scope="bench", env=HOOKS)
        cluster.start()
        leader = settle(cluster)
        print_rss(cluster, leader, "once the cluster has formed")
        if a.idle > 0:
            bench_idle(cluster, a.idle)
        bench_latency(cluster, a.proposals, a.warmup, a.client)
        total = 2 * (a.proposals + a.warmup)
        print_rss(cluster, current_leader(cluster), f"after {total} proposals")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output has gone (bench/bench.py | head): stop quietly.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (rh.WaitTimeout, rh.NodeDied) as e:
        # These messages end with the tail of the agents' logs already.
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except (BenchError, requests.RequestException, http.client.HTTPException, OSError) as e:
        print(f"bench: {e}", file=sys.stderr)
        if cluster is not None:
            print(cluster.logs_report(lines=20), file=sys.stderr)
        return 1
    finally:
        # Cleanup is bounded (SIGTERM, then SIGKILL after 10 s); a second ^C
        # must not leave agents behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop()
        rh.kill_all_started()
        if a.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
