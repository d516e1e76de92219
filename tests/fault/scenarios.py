"""The scenario runner and the faults.

run_scenario() takes a healthy cluster, starts the writer and the prober,
injects one fault (a function of this module: it injects, waits for what
the fault should cause, and heals), waits a bounded time for the cluster to
be whole again, stops the clients and checks:

  (a) split brain: no two writable spans of different nodes intersect
      (fault_harness.writable_spans/overlaps say exactly what that means);
  (b) lost commits: acknowledged ids missing on the final primary; must be
      0 in the synchronous modes, reported in async mode;
  (c) recovery: one primary holding the lease and every other PostgreSQL
      member streaming from it, without any manual step, within
      RECOVERY_TIMEOUT of the heal.

Each fault returns a short description of what it did, for the report.
A fault may relax (a) through ctx.allow_overlap (only the frozen-agent
fault without a watchdog does, see fault_sigstop_primary_agent; its
watchdog variant, fault_sigstop_primary_agent_wd, relaxes nothing).
"""

import os
import shutil
import threading
import time

import pg_tools as pt
import regent_harness as rh
import fault_harness as fh
from wd_supervisor import boot_ms

TTL = 2.5  # the default lease ttl (DESIGN.md "Timing budget")
FAILOVER_TIMEOUT = 30.0  # a new primary after the old one is gone
WARMUP_WRITES = 10
# What ASan, LSan and UBSan print (as tests/cluster/conftest.py looks for).
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Ctx:
    def __init__(self, cluster, mode, primary, replicas):
        self.cluster = cluster
        self.mode = mode
        self.primary = primary
        self.replicas = replicas
        self.t_heal = None
        self.allow_overlap = None  # None, or fn(overlap) -> reason it is allowed
        self.expect_same_primary = False
        self.notes = []

    def others(self, node):
        return [n for n in self.cluster.nodes if n is not node]

    def healed(self):
        self.t_heal = time.monotonic()

    def new_primary_among(self, nodes, timeout=FAILOVER_TIMEOUT):
        return pt.wait_for_primary(self.cluster, nodes, timeout=timeout)


def run_scenario(pool, item, results, name, fault, mode, extra=None):
    cluster, primary, replicas = pool.healthy(item)
    run_id = f"{name}-{mode}-{int(time.time() * 1000)}"
    pt.query(primary, "CREATE TABLE IF NOT EXISTS fault_writes (run text, id int, PRIMARY KEY (run, id))")
    writer = fh.Writer(cluster, run_id)
    prober = fh.Prober(cluster)
    ctx = Ctx(cluster, mode, primary, replicas)
    rec = {"scenario": name, "mode": mode, "nodes": cluster.names, "primary_before": primary.name,
           **(extra or {})}
    writer.start()
    prober.start()
    try:
        rh.wait_until(lambda: len(writer.snapshot()) >= WARMUP_WRITES, 15, "the first writes",
                      nodes=cluster.nodes)
        t_fault = time.monotonic()
        try:
            rec["faults"] = fault(ctx)
        except Exception as e:
            # A fault whose own expectation failed (e.g. no failover in
            # time): recorded, and the next scenario gets a fresh cluster.
            pool.dirty = True
            first = str(e).splitlines()[0] if str(e) else ""
            rec.update({"fault_error": f"{type(e).__name__}: {first}", "recovered": False,
                        "acked_writes": len(writer.snapshot()), "split_brain": [],
                        "recovery_error": f"the fault step failed: {type(e).__name__}: {first}"})
            results.add(rec)
            raise
        if ctx.t_heal is None:
            ctx.healed()
        recovered = None
        try:
            new_primary, _ = fh.wait_healthy(cluster, timeout=fh.RECOVERY_TIMEOUT)
            t_ok = time.monotonic()
            # Recovered means writes flow again, not only that roles look right.
            rh.wait_until(lambda: any(t > t_ok for _, t, _ in writer.snapshot()), 15,
                          "a write after recovery", nodes=cluster.nodes)
            recovered = time.monotonic()
        except (rh.WaitTimeout, rh.NodeDied) as e:
            rec["recovery_error"] = str(e).splitlines()[0]
            pool.dirty = True  # the next scenario gets a fresh cluster
            # Lost commits can still be counted on a lone primary, if any.
            writable = [n for n in cluster.pg_nodes if n.alive() and pt.in_recovery(n) is False]
            new_primary = writable[0] if len(writable) == 1 else None
    finally:
        writer.stop()
        prober.stop()
    acked = writer.snapshot()
    spans = fh.writable_spans(prober.samples)
    bad = fh.overlaps(spans)
    allowed, violations = [], []
    for o in bad:
        why = ctx.allow_overlap(o) if ctx.allow_overlap else None
        (allowed if why else violations).append(
            {"nodes": [o[0], o[1]], "seconds": round(o[3] - o[2], 3),
             "from_fault_s": round(o[2] - t_fault, 3), **({"allowed": why} if why else {})})
    lost = None
    if new_primary is not None:
        present = fh.present_ids(new_primary, run_id)
        rec["checked_on"] = new_primary.name
        lost = sorted(i for i, _, _ in acked if i not in present)
    t_end = recovered or time.monotonic()
    rec.update({
        "primary_after": new_primary.name if new_primary else None,
        "acked_writes": len(acked),
        "writer_errors": writer.errors,
        "unacked_sync_cancelled": writer.unacked_sync,
        "lost_writes": len(lost) if lost is not None else None,
        "lost_ids_sample": (lost or [])[:20],
        "split_brain": violations,
        "overlaps_allowed": allowed,
        "probes": len(prober.samples),
        "recovered": recovered is not None,
        "time_to_recover_s": round(recovered - t_fault, 2) if recovered else None,
        "heal_to_recover_s": round(recovered - ctx.t_heal, 2) if recovered else None,
        "longest_write_gap_s": round(fh.longest_gap(acked, t_fault, t_end), 2),
        "notes": ctx.notes,
    })
    sanitizer = [n.name for n in cluster.nodes
                 if any(m in n.log_tail(2000) for m in SANITIZER_MARKS)]
    if sanitizer:
        rec["sanitizer_reports"] = sanitizer
    results.add(rec)
    # A sanitizer build's report fails the scenario whatever else happened.
    assert not sanitizer, f"{name}/{mode}: sanitizer report in the log of {sanitizer}"
    # The assertions, in the order of the checker's list.
    assert not violations, f"{name}/{mode}: two writable nodes at once: {violations}"
    assert recovered is not None, f"{name}/{mode}: not recovered: {rec.get('recovery_error')}"
    if mode != "async":
        assert lost == [], f"{name}/{mode}: acknowledged commits lost: {lost[:20]}"
    if ctx.expect_same_primary and recovered:
        assert new_primary is primary, f"{name}/{mode}: the primary changed to {new_primary.name}"
    return rec


# --------------------------------------------------------------------------
# Partitions


def _hold_until_failover(ctx, survivors, what):
    """Wait for a new primary among @survivors, then keep the fault for one
    more ttl so the deposed side has every chance to misbehave."""
    new = ctx.new_primary_among(survivors)
    ctx.notes.append(f"{new.name} became primary while {what}")
    time.sleep(TTL)
    return new


def _cut_primary(ctx, direction, what, how):
    """The primary's packets dropped in @direction ("both", "in", "out")
    for every other member until a survivor is promoted, then healed."""
    p = ctx.primary
    p.member.block([n.member for n in ctx.others(p)], direction)
    _hold_until_failover(ctx, ctx.replicas, what)
    p.member.heal()
    ctx.healed()
    return [f"{p.name} (primary) {how}"]


def fault_isolate_primary(ctx):
    return _cut_primary(ctx, "both", "the old primary was isolated",
                        "cut off from every other member (both directions)")


def fault_isolate_replica(ctx):
    r = ctx.replicas[0]
    r.member.block([n.member for n in ctx.others(r)], "both")
    time.sleep(2.5 * TTL)  # well past a ttl: the primary must not care
    r.member.heal()
    ctx.healed()
    ctx.expect_same_primary = True
    return [f"{r.name} (replica, a minority of one) cut off from every other member for {2.5 * TTL:g}s"]


def fault_oneway_primary_sends_only(ctx):
    return _cut_primary(ctx, "in", "the old primary could not receive",
                        "drops every packet from the other members (it can send, not receive)")


def fault_oneway_primary_receives_only(ctx):
    return _cut_primary(ctx, "out", "the old primary could not send",
                        "drops every packet to the other members (it can receive, not send)")


# --------------------------------------------------------------------------
# Processes


RESTART_SEC = 1.0  # a supervisor's RestartSec


def fault_kill_agent(ctx):
    """kill -9 of the primary's agent under the documented deployment: the
    unit's KillMode=control-group kills its PostgreSQL with it (docs/ha.md
    "PostgreSQL must not outlive its agent"); the supervisor restarts it."""
    p = ctx.primary
    p.kill()  # SIGKILL of the agent process only
    p.member.kill_all()  # what systemd does next to the agent's cgroup
    _hold_until_failover(ctx, ctx.replicas, "the old primary's agent was dead")
    p.start()
    ctx.healed()
    return [f"SIGKILL of {p.name}'s agent; its cgroup killed after it, as systemd would;"
            " restarted after the failover"]


def fault_kill_agent_restarted_fast(ctx):
    """kill -9 of the primary's agent only, PostgreSQL left running, the
    agent restarted after RESTART_SEC (under ttl): the starting agent must
    SIGKILL the orphaned PostgreSQL (DESIGN.md rule 5) before a second
    primary can exist."""
    p = ctx.primary
    p.kill()
    time.sleep(RESTART_SEC)
    p.start()
    ctx.healed()
    return [f"SIGKILL of {p.name}'s agent only (PostgreSQL kept running), agent restarted after {RESTART_SEC:g}s"]


def fault_kill_postmaster(ctx):
    p = ctx.primary
    pid = p.kill_postmaster()
    return [f"SIGKILL of {p.name}'s postmaster (pid {pid}); the agent kept running"]


def fault_kill_both(ctx):
    p = ctx.primary
    p.kill_postmaster()
    p.kill_unit()
    _hold_until_failover(ctx, ctx.replicas, "the old primary was down")
    p.start()
    ctx.healed()
    return [f"SIGKILL of {p.name}'s postmaster and agent at once; restarted after the failover"]


FREEZE = 2.4 * TTL


def fault_sigstop_primary_agent(ctx):
    """SIGSTOP of the primary's agent for FREEZE (> ttl), then SIGCONT.

    Without a watchdog, DESIGN.md rule 5 and docs/ha.md ("The assumption
    without a watchdog") say single-writer safety assumes the holder's agent
    is never frozen across its deadline: a frozen agent cannot fence, so its
    PostgreSQL stays writable while the lease is granted elsewhere. What is
    asserted instead: every overlap involves the frozen node, begins after
    the freeze and ends within FENCE_ON_RESUME of SIGCONT (the resumed agent
    finds its deadline passed and fences at once); the old primary then
    rejoins as a replica; everything else as usual."""
    p = ctx.primary
    p.pause()
    t_stop = time.monotonic()
    new = ctx.new_primary_among(ctx.replicas, timeout=FREEZE + FAILOVER_TIMEOUT)
    left = FREEZE - (time.monotonic() - t_stop)
    if left > 0:
        time.sleep(left)
    frozen_for = time.monotonic() - t_stop
    p.resume()
    t_cont = time.monotonic()
    ctx.healed()
    ctx.notes.append(f"{new.name} became primary while {p.name}'s agent was frozen")

    def allowed(o):
        if p.name in o[:2] and t_stop <= o[2] and o[3] <= t_cont + FENCE_ON_RESUME:
            return ("frozen holder without a watchdog (docs/ha.md: outside the"
                    " no-watchdog assumption); ended after SIGCONT")
        return None

    ctx.allow_overlap = allowed
    return [f"SIGSTOP of {p.name}'s agent (the primary) for {frozen_for:.1f}s (ttl {TTL:g}s), then SIGCONT"]


FENCE_ON_RESUME = 2.0
WD_TIMEOUT_MS = 2000  # watchdog.timeout's default
REBOOT_TIMEOUT = 10.0  # the supervisor's reset after a freeze (timeout + slack)


def _arms(node, since):
    return [ms for ms, ev, _ in node.wd.events() if ev == "arm" and ms >= since]


def _reboot(ctx, p, others_resets):
    """One ttl after the watchdog reset @p, play the reboot: nothing of the
    old machine survives, systemd starts the agent; then the cluster must
    heal, and no other node was reset on the way."""
    time.sleep(TTL)
    p.member.kill_all()
    p.start()
    ctx.healed()
    assert {n.name: len(n.wd.resets) for n in ctx.others(p)} == others_resets, (
        {n.name: n.wd.resets for n in ctx.others(p)})


def fault_sigstop_primary_agent_wd(ctx):
    """SIGSTOP of the primary's agent, with the test watchdog (three_wd).

    DESIGN.md rule 5 with the watchdog: the frozen agent no longer kicks the
    device, which resets the machine (the node's supervisor SIGKILLs its
    agent and its PostgreSQL) no later than the lease deadline, before the
    lease can be granted elsewhere. Asserted here: the supervisor reset the
    frozen node, killing that agent and that postmaster; the new primary
    armed its own watchdog only after the reset; and, by run_scenario,
    no overlap at all (checker (a) strict). Then the harness plays the
    reboot and systemd: whatever is left of the member's cgroup is killed
    and, one ttl after the failover, the agent is started again; it must
    rejoin as a replica by itself (checker (c))."""
    p = ctx.primary
    sup = p.wd
    assert sup is not None, f"{p.name} runs without a supervisor (not a watchdog pool?)"
    assert sup.armed, f"{p.name} is primary with its watchdog unarmed: {sup.events()[-5:]}"
    others_resets = {n.name: len(n.wd.resets) for n in ctx.others(p)}
    before = len(sup.resets)
    agent, pm = p.pid, p.postmaster_pid()
    p.expected_running = False  # the supervisor will kill it
    frozen_at = boot_ms()
    p.pause()
    rh.wait_until(lambda: len(sup.resets) > before, REBOOT_TIMEOUT,
                  f"the watchdog to reset {p.name} (agent frozen)", nodes=ctx.others(p))
    reset = sup.resets[before]
    p.proc.wait(timeout=10)
    p.paused = False
    p._close_log()
    assert agent in reset["killed"] and pm in reset["killed"], (
        f"the reset killed {reset['killed']}, not the agent {agent} and the postmaster {pm}")
    assert p.proc.returncode == -9, p.proc.returncode
    rh.wait_until(lambda: pt.in_recovery(p) is None, 10, f"{p.name}'s PostgreSQL gone")
    new = ctx.new_primary_among(ctx.replicas)
    new_arms = _arms(new, frozen_at)
    assert new_arms and new_arms[0] > reset["at"], (
        f"{new.name} armed at {new_arms} (boot ms), the reset of {p.name} was at {reset['at']}")
    ctx.notes.append(
        f"watchdog reset of {p.name} {reset['at'] - frozen_at} ms after the SIGSTOP (last kick"
        f" {frozen_at - reset['last']} ms before it), killed {len(reset['killed'])} processes;"
        f" {new.name} armed {new_arms[0] - reset['at']} ms after the reset")
    _reboot(ctx, p, others_resets)
    return [f"SIGSTOP of {p.name}'s agent (the primary), never resumed: the test watchdog reset"
            f" the node (agent and PostgreSQL SIGKILLed); the agent restarted one ttl after"
            f" the failover, as after a reboot"]


def fault_restart_all(ctx):
    nodes = ctx.cluster.nodes
    threads = [threading.Thread(target=n.stop) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=rh.STOP_TIMEOUT * 2 + 5)
    for n in nodes:
        n.start()
    ctx.healed()
    return ["SIGTERM of every agent at once, then every agent started again"]


def fault_kill_agent_only_wd(ctx):
    """kill -9 of the primary's agent only, with the test watchdog, and
    nothing else: no cgroup kill, no fast restart, PostgreSQL left running
    as primary. The device stays armed (no magic close); the supervisor
    counts the death as the kernel's last ping on close and resets the
    machine one timeout later, which must kill that PostgreSQL before a
    new primary accepts writes: the agent kicks only while deadline - now
    >= timeout, so a holder that dies between two renewals is reset at
    least ttl - timeout - renew interval (0.75 s by default) before its
    deadline. Strict (a), like the SIGSTOP variant; then the harness plays
    the reboot and restarts the agent one ttl after the failover. (kill9 of
    agent and postmaster adds nothing here: the cgroup kill leaves the
    reset nothing to do.)"""
    p = ctx.primary
    sup = p.wd
    assert sup is not None and sup.armed, f"{p.name}: no armed watchdog"
    others_resets = {n.name: len(n.wd.resets) for n in ctx.others(p)}
    before = len(sup.resets)
    pm = p.postmaster_pid()
    killed_at = boot_ms()  # before the kill: the supervisor may see the death first
    p.kill()
    rh.wait_until(lambda: len(sup.resets) > before, REBOOT_TIMEOUT,
                  f"the watchdog to reset {p.name} (agent dead, PostgreSQL alive)",
                  nodes=ctx.others(p))
    reset = sup.resets[before]
    assert pm in reset["killed"], f"the reset killed {reset['killed']}, not the postmaster {pm}"
    # The last ping on close: the reset a whole timeout after the death.
    assert reset["at"] >= killed_at + WD_TIMEOUT_MS, (reset, killed_at)
    rh.wait_until(lambda: pt.in_recovery(p) is None, 10, f"{p.name}'s PostgreSQL gone")
    new = ctx.new_primary_among(ctx.replicas)
    new_arms = _arms(new, killed_at)
    assert new_arms and new_arms[0] > reset["at"], (
        f"{new.name} armed at {new_arms} (boot ms), the reset of {p.name} was at {reset['at']}")
    ctx.notes.append(
        f"watchdog reset of {p.name} {reset['at'] - killed_at} ms after the agent's SIGKILL,"
        f" killed {len(reset['killed'])} processes; {new.name} armed"
        f" {new_arms[0] - reset['at']} ms after the reset")
    _reboot(ctx, p, others_resets)
    return [f"SIGKILL of {p.name}'s agent only (the primary; no cgroup kill, PostgreSQL left"
            f" running): the test watchdog's reset after the last ping on close killed"
            f" PostgreSQL; the agent restarted one ttl after the failover"]


# --------------------------------------------------------------------------
# Disks


DISK_SIZE = 128 << 20


def _fill(path, limit):
    """Write zeroes to @path until the file system is full (ENOSPC), in
    1 MiB and then 4 KiB steps, unbuffered; at most @limit bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        for step in (1 << 20, 4096):
            buf = b"\0" * step
            while written < limit:
                try:
                    written += os.write(fd, buf)
                except OSError:
                    break
    finally:
        os.close(fd)


def fault_replica_disk_full(ctx):
    """The replica's pg_wal on a small tmpfs that a ballast file fills; the
    primary switches WAL segments so the replica needs new ones."""
    r = ctx.replicas[0]
    c = ctx.cluster
    fab = r.member.fabric
    data = r.dir / "data"
    walfs = r.dir / "walfs"
    size = getattr(r, "walfs_size", DISK_SIZE)
    if not (data / "pg_wal").is_symlink():
        # Once per cluster: move pg_wal onto the tmpfs (with the agent stopped),
        # sized to what pg_wal holds now (a busy writer leaves more than
        # DISK_SIZE) plus room to fill.
        r.stop()
        used = sum(p.stat().st_size for p in (data / "pg_wal").rglob("*") if p.is_file())
        size = max(DISK_SIZE, (used + (64 << 20) + (1 << 20) - 1) & ~((1 << 20) - 1))
        r.walfs_size = size
        walfs.mkdir(exist_ok=True)
        fab.mount_tmpfs(walfs, size, *r.run_as)
        for entry in (data / "pg_wal").iterdir():
            shutil.move(str(entry), str(walfs / entry.name))
        # A move across file systems is a copy by root: give it back.
        for root, dirs, files in os.walk(walfs):
            for name in dirs + files:
                os.chown(os.path.join(root, name), *r.run_as)
        (data / "pg_wal").rmdir()
        os.symlink(walfs, data / "pg_wal")
        r.start()
        fh.wait_healthy(c, timeout=fh.RECOVERY_TIMEOUT)
    ballast = walfs / "ballast"
    _fill(ballast, size)
    seen = set()
    deadline = time.monotonic() + 3 + 2 * TTL
    switches = 0
    while time.monotonic() < deadline:
        if switches < 3:
            pt.try_query(ctx.primary, "SELECT pg_switch_wal()")
            switches += 1
        try:
            d = r.api("/patroni").json()
            seen.add(f"{d.get('state')}/{d.get('replication_state')}")
        except Exception as e:  # noqa: BLE001 - only a note for the report
            seen.add(f"no answer ({type(e).__name__})")
        time.sleep(0.5)
    ctx.notes.append(f"{r.name} /patroni state/replication_state while full: {sorted(seen)}")
    ballast.unlink()
    ctx.healed()
    ctx.expect_same_primary = True
    return [f"{r.name} (replica): pg_wal on a {size >> 20} MiB tmpfs filled to the last byte"
            f" for {3 + 2 * TTL:g}s while the primary switched WAL segments 3 times"]


# --------------------------------------------------------------------------
# Raft data


def fault_truncate_raft_segment(ctx):
    """Stop a replica, cut the tail off its largest closed Raft segment,
    start it: docs/cluster.md says the agent exits 1 naming the file (auto
    recovery is off) and the rest carries on; the documented remedy is to
    empty the directory so the node rejoins as a new member."""
    r = ctx.replicas[0]
    c = ctx.cluster
    assert r.stop() == 0, r.log_tail(20)
    raft = r.dir / "raft"
    segs = [p for p in raft.iterdir() if p.name[0].isdigit() and "-" in p.name]
    assert segs, f"no closed segment in {sorted(p.name for p in raft.iterdir())}"
    seg = max(segs, key=lambda p: p.stat().st_size)
    size = seg.stat().st_size
    cut = max(1, size // 4)
    os.truncate(seg, size - cut)
    faults = [f"{r.name} (replica) stopped; {seg.name} truncated from {size} to {size - cut} bytes"]
    r.start()
    rc = r.proc.wait(timeout=30)
    r.expected_running = False
    out = r.log_tail(40)
    assert rc == 1 and "could not load the Raft log" in out and seg.name in out, (
        f"expected exit 1 naming {seg.name}, got {rc}:\n{out}")
    ctx.notes.append(f"{r.name} refused to start: exit 1, '" + next(
        l for l in out.splitlines() if "could not load the Raft log" in l)[-200:] + "'")
    # The others carry on meanwhile: one primary and a streaming replica.
    pt.wait_for_primary_and_replicas(c, [n for n in c.pg_nodes if n is not r], timeout=30)
    # The documented remedy: empty the Raft directory.
    shutil.rmtree(raft)
    r.start()
    ctx.healed()
    faults.append(f"{r.name} refused to start (exit 1, segment named); raft dir emptied by hand, restarted")
    return faults


# --------------------------------------------------------------------------
# Two nodes and a witness


def fault_lose_primary(ctx):
    p = ctx.primary
    p.kill_postmaster()
    p.kill_unit()
    _hold_until_failover(ctx, ctx.replicas, "the old primary was down")
    p.start()
    ctx.healed()
    return [f"{p.name} (primary): agent and PostgreSQL SIGKILLed; restarted after the failover"]


def fault_lose_replica(ctx):
    r = ctx.replicas[0]
    r.kill_postmaster()
    r.kill_unit()
    time.sleep(2 * TTL)
    r.start()
    ctx.healed()
    ctx.expect_same_primary = True
    return [f"{r.name} (replica): agent and PostgreSQL SIGKILLed for {2 * TTL:g}s"]


def fault_lose_witness(ctx):
    w = ctx.cluster["witness"]
    w.kill_unit()
    time.sleep(2 * TTL)
    w.start()
    ctx.healed()
    ctx.expect_same_primary = True
    return [f"witness SIGKILLed for {2 * TTL:g}s"]


def fault_partition_primary_from_witness_and_replica(ctx):
    return _cut_primary(ctx, "both", "the old primary was cut off",
                        "cut off from the witness and the replica (both directions)")


THREE_NODE = [
    ("isolate_primary", fault_isolate_primary),
    ("isolate_replica", fault_isolate_replica),
    ("oneway_primary_sends_only", fault_oneway_primary_sends_only),
    ("oneway_primary_receives_only", fault_oneway_primary_receives_only),
    ("kill9_agent", fault_kill_agent),
    ("kill9_agent_pg_survives", fault_kill_agent_restarted_fast),
    ("kill9_postmaster", fault_kill_postmaster),
    ("kill9_agent_and_postmaster", fault_kill_both),
    ("sigstop_primary_agent", fault_sigstop_primary_agent),
    ("restart_all", fault_restart_all),
    ("replica_disk_full", fault_replica_disk_full),
    ("raft_segment_truncated", fault_truncate_raft_segment),
]

# The watchdog pool (three_wd): the faults whose assertions change with it.
THREE_NODE_WD = [
    ("sigstop_primary_agent_wd", fault_sigstop_primary_agent_wd),
    ("kill9_agent_only_wd", fault_kill_agent_only_wd),
]

WITNESS = [
    ("witness_lose_primary", fault_lose_primary),
    ("witness_lose_replica", fault_lose_replica),
    ("witness_lose_witness", fault_lose_witness),
    ("witness_partition_primary", fault_partition_primary_from_witness_and_replica),
]

# Faults the soak test draws from: those that leave the cluster as it was.
SOAK = [f for f in THREE_NODE if f[0] not in ("replica_disk_full", "raft_segment_truncated")]
