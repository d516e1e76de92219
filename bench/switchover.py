#!/usr/bin/python3
"""Regent switchover benchmark: the write-unavailability window of a planned
switchover in a three-node loopback cluster.

It prints numbers and asserts none (docs/benchmarks.md explains them).

Each cluster is fresh: three real agents with real PostgreSQL 15 on
127.0.0.1, in a new temporary directory, with the configuration the
cluster tests use (tests/cluster/regent_harness.py) and the shipped timing
defaults. Once one node is primary and the other two stream from it
through their slots:

  1. a writer thread inserts a row every 5 ms through
     host=127.0.0.1,127.0.0.1,127.0.0.1 port=a,b,c
     target_session_attrs=read-write connect_timeout=1, and records the
     monotonic time (and node) of every acknowledged insert;
  2. after 2 s of acknowledged writes on the primary, with every member's
     record saying it runs or streams, POST /switchover {"leader": primary,
     "candidate": replica} goes to the third member (any member carries it
     out) and is timed until its answer;
  3. write-unavailability window = first acknowledged write on the
     candidate - last acknowledged write on the old primary;
  4. the old primary must stream from the new one (without pg_rewind)
     before the next switchover.

--per-cluster K makes K switchovers on each cluster, back and forth between
the first primary and the first replica by name (the old primary, once it
follows, is the next candidate): cheaper than a fresh cluster per run.

The breakdown comes from the agents' logs and PostgreSQL's data.log (both
stamped in wall-clock milliseconds, UTC), in seconds after the POST: the
old primary taking the request up, its CHECKPOINT, the fast shutdown, "shut
down at", the handover applied, the candidate's "handover: replayed past",
its lease confirmation, its promotion, and the first acknowledged write.
After each switchover every row acknowledged before it is looked up on the
new primary (a switchover must lose none; reported, not judged). The
issue's target (median <= 0.5 s; Patroni 3.0.2 measured here: about 1.35 s)
is printed next to the numbers, never checked.

Every agent and postmaster is stopped by PID at the end of each cluster,
and on an error, ^C or SIGTERM; the harness also sets PR_SET_PDEATHSIG on
the agents. The temporary directories are deleted unless --keep is given.

    bench/switchover.py                       # 5 runs, a fresh cluster each
    bench/switchover.py --runs 6 --per-cluster 3
"""

import argparse
import math
import re
import statistics
import sys
import time

import requests

from benchlib import (
    POLL,
    PROMOTION_EVENTS,
    PROMOTION_PG_EVENTS,
    BenchError,
    ClusterRun,
    Writer,
    add_common_args,
    bench_main,
    error_kinds,
    header,
    lease_view,
    loadavg,
    log_lines,
    pg_log_lines,
    print_odd,
    query,
    rh,
    stop_cluster,
    wait_streaming,
)

STREAMING_TIMEOUT = 120.0  # empty directories (or a switchover) -> two streaming replicas
SETTLE_TIMEOUT = 30.0  # every member's record says it runs or streams
SWITCH_TIMEOUT = 60.0  # POST -> first acknowledged write on the candidate
FOLLOW_TIMEOUT = 60.0  # POST -> the old primary streams from the new one
REST_TIMEOUT = 30.0  # the POST itself (the agent answers within 10 s)
WRITE_INTERVAL = 0.005  # seconds between two inserts
WRITES_BEFORE = 2.0  # seconds of acknowledged writes on the primary before the POST
TABLE = "switchover_bench"
TARGET_MEDIAN = 0.5  # the target, printed next to the numbers
PATRONI_MEDIAN = 1.35  # Patroni 3.0.2, measured on this machine (the issue)

SHUT_AT_RE = re.compile(r"switchover to \S+: shut down at (\S+),")
# (key, whose log: "old" or "new", module, message pattern), agents' logs.
AGENT_EVENTS = [
    ("taken", "old", "ha", re.compile(r"switch over: ")),
    ("checkpoint", "old", "ha", re.compile(r"switchover to \S+: checkpoint")),
    ("stopped", "old", "pg", re.compile(r"pg_ctl: server stopped")),
    ("shut_at", "old", "ha", SHUT_AT_RE),
    ("handover_applied", "old", "ha", re.compile(r"switchover: the lease is ")),
    ("replayed", "new", "ha", re.compile(r"handover: replayed past")),
    ("rejoin", "old", "ha", re.compile(r"rejoin \S+: our history is a prefix")),
    ("rewind", "old", "ha", re.compile(r"rejoin \S+: .*running pg_rewind")),
] + [(key, "new", mod, rx) for key, mod, rx in PROMOTION_EVENTS]
# ... and in PostgreSQL's logs (data.log, next to the data directory).
PG_EVENTS = [
    ("pg_checkpoint", "old", re.compile(r"checkpoint starting: immediate force wait")),
    ("pg_checkpoint_done", "old", re.compile(r"checkpoint complete")),
    ("pg_fast", "old", re.compile(r"received fast shutdown request")),
    ("pg_down", "old", re.compile(r"database system is shut down")),
    ("pg_end_of_wal", "new", re.compile(r"replication terminated by primary server")),
    ("pg_old_streams", "old", re.compile(r"started streaming WAL from primary")),
] + [(key, "new", rx) for key, rx in PROMOTION_PG_EVENTS]

STEPS = [
    ("post", "POST /switchover sent to {via}"),
    ("taken", "{old}: its HA cycle takes the request up"),
    ("checkpoint", "{old}: switchover to {new}: checkpoint, then a fast shutdown"),
    ("pg_checkpoint", "{old}'s PostgreSQL: CHECKPOINT starts"),
    ("pg_checkpoint_done", "{old}'s PostgreSQL: CHECKPOINT complete"),
    ("last_ack", "last acknowledged write on {old}"),
    ("pg_fast", "{old}'s PostgreSQL: received fast shutdown request"),
    ("pg_end_of_wal", "{new}'s PostgreSQL: end of {old}'s WAL (walreceiver)"),
    ("pg_down", "{old}'s PostgreSQL: database system is shut down"),
    ("stopped", "{old}: pg_ctl: server stopped"),
    ("shut_at", "{old}: shut down at {lsn}, handing the lease over"),
    ("handover_applied", "{old}: the handover has applied (its proposal answered)"),
    ("replayed", "{new}: handover: replayed past {lsn}: confirming"),
    ("granted_to_us", "{new}: lease granted to us: renewing"),
    ("confirmed", "{new}: lease confirmed by our renewal"),
    ("handed", "{new}: hands Raft leadership away (it holds the lease)"),
    ("promoting", "{new}: promoting (pg_promote)"),
    ("pg_promote_request", "{new}'s PostgreSQL: received promote request"),
    ("pg_new_timeline", "{new}'s PostgreSQL: selected new timeline"),
    ("pg_recovery_complete", "{new}'s PostgreSQL: archive recovery complete"),
    ("pg_ready", "{new}'s PostgreSQL: ready to accept connections"),
    ("promoted", "{new}: promoted: out of recovery (agent's poll)"),
    ("first_ack", "first acknowledged write on {new}"),
    ("reply", "the REST call answers {status}"),
    ("rejoin", "{old}: follows {new}, its history being a prefix (no pg_rewind)"),
    ("rewind", "{old}: runs pg_rewind"),
    ("pg_old_streams", "{old}'s PostgreSQL: streams from {new}"),
]

# The window, phase by phase, each from the previous event, along the
# critical path: the candidate applies the handover (and passes its gate a
# few ms later) before the old primary's proposal is answered whenever the
# Raft leader is not the old primary.
PHASES = [
    ("last ack -> old PG down", "pg_down"),
    ("-> handover proposed", "shut_at"),
    ("-> candidate past X", "replayed"),
    ("-> lease confirmed", "confirmed"),
    ("-> promoting", "promoting"),
    ("-> first ack", "first_ack"),
]


# --------------------------------------------------------------------------
# One cluster


def settle(cluster, primary, writer, since):
    """Wait until @primary has WRITES_BEFORE s of acknowledged writes after
    @since (monotonic), both other members stream from it through their
    slots, and every member's record says so (what POST /switchover checks)."""
    deadline = time.monotonic() + STREAMING_TIMEOUT + WRITES_BEFORE
    while True:
        acked, _ = writer.snapshot()
        mine = [t for t, p, _ in acked if t >= since and p == primary.pg_port]
        if mine and mine[-1] - mine[0] >= WRITES_BEFORE:
            break
        if time.monotonic() >= deadline:
            raise BenchError(
                f"the writer did not get {WRITES_BEFORE:g} s of acknowledged writes on "
                f"{primary.name} in {STREAMING_TIMEOUT + WRITES_BEFORE:g} s"
                + cluster.logs_report(lines=20)
            )
        for n in cluster.nodes:
            n.check_alive()
        time.sleep(POLL)
    p = wait_streaming(cluster, STREAMING_TIMEOUT)
    if p is not primary:
        raise BenchError(f"{p.name} is primary, not {primary.name}" + cluster.logs_report(20))

    def records():
        c = primary.cluster()
        ms = {m["name"]: m for m in c["members"]}
        mine = ms.get(primary.name, {})
        return (
            (c.get("lease") or {}).get("holder") == primary.name
            and (mine.get("role"), mine.get("state")) == ("leader", "running")
            and all(ms.get(n.name, {}).get("state") == "streaming"
                    for n in cluster.nodes if n is not primary)
        )

    cluster.wait_until(records, SETTLE_TIMEOUT, "every member's record to say it runs",
                       interval=POLL)


def streams_from(node):
    """The port @node's WAL receiver streams from, or None."""
    rows = query(node, "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'")
    return rows[0][0] if rows else None


def wait_for(pred, timeout, cluster, interval):
    """@pred() once it is not None, polled every @interval seconds, or None
    after @timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v is not None:
            return v
        if time.monotonic() >= deadline:
            return None
        for n in cluster.nodes:
            n.check_alive()
        time.sleep(interval)


def switchover(cluster, writer, old, new, run):
    """One switchover from @old to @new, measured: the result (its events
    are read from the logs once the cluster is stopped)."""
    via = next(n for n in cluster.nodes if n is not old and n is not new)
    res = {"run": run, "old": old.name, "new": new.name, "via": via.name, "notes": []}
    lease, raft_leader = lease_view(old)
    res["raft_leader"] = raft_leader
    if (lease or {}).get("holder") != old.name:
        res["notes"].append(f"lease holder {(lease or {}).get('holder')!r}, not {old.name}")
    body = {"leader": old.name, "candidate": new.name}
    t_post = time.monotonic()
    res["t_post_wall"] = time.time()
    try:
        r = via.api("/switchover", method="POST", json=body, timeout=REST_TIMEOUT)
    except requests.RequestException as e:
        raise BenchError(f"POST /switchover to {via.name}: {e}" + cluster.logs_report(25))
    res["rest"] = time.monotonic() - t_post
    res["status"] = f"{r.status_code} {r.text}"
    if r.status_code != 200:
        raise BenchError(f"POST /switchover to {via.name} {body}: {res['status']} after "
                         f"{res['rest']:.3f} s" + cluster.logs_report(25))

    def first_new():
        acked, _ = writer.snapshot()
        return next((t for t, p, _ in acked if t > t_post and p == new.pg_port), None)

    t_first = wait_for(first_new, SWITCH_TIMEOUT, cluster, 0.005)
    if t_first is None:
        raise BenchError(f"no acknowledged write on {new.name} within {SWITCH_TIMEOUT:g} s of "
                         f"the POST" + cluster.logs_report(25))
    # Polled gently: each poll is a new connection to the rejoining node.
    followed = wait_for(lambda: True if streams_from(old) == new.pg_port else None,
                        FOLLOW_TIMEOUT, cluster, 0.1)
    if followed is None:
        res["notes"].append(f"{old.name} did not stream from {new.name} within "
                            f"{FOLLOW_TIMEOUT:g} s of the POST")
    res["followed"] = followed is not None
    # A little more, so the logs hold everything about the rejoin.
    time.sleep(0.3)
    res["t_end_wall"] = time.time()

    acked, errors = writer.snapshot()
    before = [(t, i) for t, p, i in acked if t < t_first]
    t_last = max(t for t, p, _ in acked if t < t_first and p == old.pg_port)
    res["window"] = t_first - t_last
    res["times"] = {"post": 0.0, "last_ack": t_last - t_post, "first_ack": t_first - t_post,
                    "reply": res["rest"]}
    res["errors"] = [(t - t_post, e) for t, e in errors if t_last < t < t_first]
    others = {n.pg_port for n in cluster.nodes} - {old.pg_port, new.pg_port}
    res["elsewhere"] = sum(1 for t, p, _ in acked if t > t_post and p in others)
    res["late_old"] = sum(1 for t, p, _ in acked if t > t_first and p == old.pg_port)
    # Every write acknowledged before the first one on the new primary must
    # be there: reported, not judged.
    ids = [i for _, i in before]
    rows = query(new, f"SELECT i FROM {TABLE} WHERE i = ANY(%s)", (ids,))
    if rows is None:
        res["notes"].append(f"could not read {TABLE} on {new.name}")
    else:
        there = {row[0] for row in rows}
        res["acked_before"] = len(ids)
        res["lost"] = [(t - t_post, i) for t, i in before if i not in there]
    return res


def events(cluster, res):
    """{key: seconds after the POST} of the first line of each event between
    the POST and the end of switchover @res, and the WARNING/ERROR lines."""
    since = res["t_post_wall"] - 0.001  # log stamps have millisecond resolution
    until = res["t_end_wall"]
    whose = {"old": cluster[res["old"]], "new": cluster[res["new"]]}
    ev = {}
    odd = []

    def first(key, t, msg):
        if key not in ev or t < ev[key][0]:
            ev[key] = (t, msg)

    for n in cluster.nodes:
        for t, level, mod, msg in log_lines(n):
            if not since <= t <= until:
                continue
            for key, who, kmod, rx in AGENT_EVENTS:
                if whose[who] is n and mod == kmod and rx.match(msg):
                    first(key, t, msg)
            if level in ("WARNING", "ERROR"):
                odd.append((t - res["t_post_wall"], n.name, level, mod, msg))
    for who, n in whose.items():
        for t, level, msg in pg_log_lines(n):
            if not since <= t <= until:
                continue
            for key, kwho, rx in PG_EVENTS:
                if kwho == who and rx.match(msg):
                    first(key, t, msg)
    times = {key: t - res["t_post_wall"] for key, (t, _) in ev.items()}
    m = SHUT_AT_RE.match(ev["shut_at"][1]) if "shut_at" in ev else None
    return times, (m.group(1) if m else "?"), sorted(odd)


def one_cluster(k, base_root, keep, first_run, count):
    """@count switchovers (runs @first_run...) on a fresh cluster: results."""
    out = []
    last = None
    with ClusterRun(f"regent-switchover-{k}-", base_root, keep) as run:
        cluster = run.cluster
        try:
            t0 = time.monotonic()
            cluster.start()
            primary = wait_streaming(cluster, STREAMING_TIMEOUT)
            streaming = time.monotonic() - t0
            if query(primary, f"CREATE TABLE IF NOT EXISTS {TABLE} (i int, t timestamptz)") is None:
                raise BenchError(f"{primary.name}: could not create the table")
            writer = run.writer = Writer(cluster.nodes, WRITE_INTERVAL, TABLE)
            writer.start()
            # Back and forth between the first primary and the first replica.
            pair = (primary, next(n for n in cluster.nodes if n is not primary))
            since = time.monotonic()
            for j in range(count):
                old, new = pair[j % 2], pair[(j + 1) % 2]
                settle(cluster, old, writer, since)
                since = time.monotonic()
                res = switchover(cluster, writer, old, new, first_run + j)
                res["cluster"], res["nth"], res["count"] = k, j + 1, count
                res["streaming"] = streaming
                out.append(res)
                last = new
                if not res["followed"]:
                    break  # no second switchover without a replica to hand to
        except (BenchError, rh.WaitTimeout, rh.NodeDied) as e:
            # Reported; the next cluster starts afresh.
            out.append({"run": first_run + len(out), "failed": str(e)})
        for j in range(len(out), count):
            out.append({"run": first_run + j, "failed": "not run: the cluster's previous "
                        "switchover failed or left no replica to hand over to"})
        if run.writer is not None:
            run.writer.stop()
        stop_cluster(cluster, last=last)
        # The logs are complete once the agents are gone.
        for res in out:
            if "failed" not in res:
                times, res["lsn"], res["odd"] = events(cluster, res)
                res["times"].update(times)
        return out


# --------------------------------------------------------------------------
# Output


def phases(r):
    """[(label, seconds or None)] of the window of run @r."""
    t = r["times"]
    out = []
    prev = "last_ack"
    for label, key in PHASES:
        out.append((label, t[key] - t[prev] if key in t and prev in t else None))
        prev = key
    return out


def print_run(r):
    t = r["times"]
    print(
        f"run {r['run']} (cluster {r['cluster']}, switchover {r['nth']} of {r['count']}): "
        f"{r['old']} -> {r['new']}, POST to {r['via']}; window {r['window']:.3f} s; "
        f"REST call {r['rest']:.3f} s"
    )
    if r["nth"] == 1:
        print(f"  three streaming members {r['streaming']:.2f} s after starting the agents; "
              f"Raft leader {r['raft_leader'] or '?'}")
    print("  seconds after the POST (and since the previous line):")
    rows = sorted((t[key], i, label) for i, (key, label) in enumerate(STEPS) if key in t)
    prev = 0.0
    for at, _, label in rows:
        print(f"    {at:6.3f} (+{at - prev:5.3f})  " + label.format(
            old=r["old"], new=r["new"], via=r["via"], lsn=r["lsn"], status=r["status"]))
        prev = at
    parts = [f"{label} {x:.3f}" for label, x in phases(r) if x is not None]
    print(f"  window {r['window']:.3f} s: " + "; ".join(parts))
    errs = r["errors"]
    if errs:
        print(f"  writer: {len(errs)} failed attempts in the window; " + error_kinds(errs))
    if "lost" in r:
        print(f"  acknowledged before the first write on {r['new']}: {r['acked_before']} rows; "
              f"missing on {r['new']}: {len(r['lost'])}"
              + (f" (the last at {r['lost'][-1][0]:+.3f} s)" if r["lost"] else ""))
    if r["elsewhere"]:
        print(f"  note: {r['elsewhere']} write(s) after the POST acknowledged by the third node")
    if r["late_old"]:
        print(f"  note: {r['late_old']} write(s) acknowledged by {r['old']} after the first one "
              f"on {r['new']}")
    for note in r["notes"]:
        print(f"  note: {note}")
    if "rewind" in t:
        print(f"  note: {r['old']} ran pg_rewind to follow {r['new']}")
    print_odd(r["odd"], "the agents' logs")


def spread(xs):
    return f"median {statistics.median(xs):.3f} s, max {max(xs):.3f} s, min {min(xs):.3f} s"


def print_summary(runs, failed=()):
    if failed:
        print(f"{len(failed)} run(s) failed and are not counted: "
              + ", ".join(str(k) for k in failed))
    clusters = len({r["cluster"] for r in runs})
    print(f"summary of {len(runs)} switchovers on {clusters} cluster(s):")
    w = [r["window"] for r in runs]
    print(f"  write-unavailability window (last ack on the old primary -> first on the new): "
          f"{spread(w)}")
    print(f"  REST call (POST /switchover -> 200): {spread([r['rest'] for r in runs])}")

    def med(f):
        xs = [x for x in (f(r) for r in runs) if x is not None]
        return f"{statistics.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})" if xs else None

    parts = []
    for i, (label, _) in enumerate(PHASES):
        m = med(lambda r: phases(r)[i][1])
        if m:
            parts.append(f"{label} {m}")
    print("  the window's phases, median (min-max) s: " + "; ".join(parts))

    def gap(a, b):
        return lambda r: r["times"][b] - r["times"][a] if a in r["times"] and b in r["times"] \
            else None

    around = [
        ("POST -> taken up", gap("post", "taken")),
        ("-> CHECKPOINT complete", gap("taken", "pg_checkpoint_done")),
        ("-> last ack", gap("pg_checkpoint_done", "last_ack")),
        ("first ack -> REST answer", gap("first_ack", "reply")),
    ]
    parts = [f"{label} {m}" for label, m in ((lb, med(f)) for lb, f in around) if m]
    print("  around it, median (min-max) s: " + "; ".join(parts))
    lost = [len(r["lost"]) for r in runs if "lost" in r]
    if lost:
        print(f"  acknowledged writes missing on the new primary, per run: "
              f"{', '.join(str(x) for x in lost)}")
    followed = [r for r in runs if r["followed"] and "rewind" not in r["times"]]
    print(f"  the old primary streamed from the new one without pg_rewind: {len(followed)} of "
          f"{len(runs)}" + (f", {med(gap('post', 'pg_old_streams'))} s after the POST"
                            if med(gap("post", "pg_old_streams")) else ""))
    print(f"  (target from the issue, not checked: median <= {TARGET_MEDIAN:g} s; Patroni 3.0.2 "
          f"measured on this machine: about {PATRONI_MEDIAN:g} s; load average now {loadavg()})")


def print_header(build, base_root):
    header(build, base_root, "Regent switchover benchmark", WRITE_INTERVAL,
           f"POST /switchover after {WRITES_BEFORE:g} s of writes on the primary")


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Regent switchover benchmark: print the write-unavailability window of a "
        "planned switchover (POST /switchover) in a three-node loopback cluster (nothing is "
        "asserted)."
    )
    add_common_args(p, "number of switchovers (default 5)")
    p.add_argument("--per-cluster", type=int, default=1, metavar="K",
                   help="switchovers on each fresh cluster, back and forth between two "
                   "nodes (default 1)")
    a = p.parse_args(argv)
    if a.runs < 1 or a.per_cluster < 1:
        p.error("--runs and --per-cluster must be at least 1")
    return a


def main(argv):
    a = parse_args(argv)
    k = a.per_cluster

    def unit(c, base_root, keep):
        first = (c - 1) * k + 1
        return one_cluster(c, base_root, keep, first, min(k, a.runs - first + 1))

    return bench_main(a, "switchover", print_header, math.ceil(a.runs / k), unit, print_run,
                      print_summary)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
