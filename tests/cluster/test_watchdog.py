"""The watchdog (DESIGN.md rule 5, docs/ha.md "Watchdog").

The agents use the test driver (watchdog.driver: testing): it records
arm/keepalive/disarm/close events in a file per node, and a
WatchdogSupervisor (wd_supervisor.py) plays the kernel, resetting the node
(SIGKILL of its agent and PostgreSQL) when the device is not kicked in time.
"""

import os
import time

import pg_tools as pt
import regent_harness as rh
from test_ha import healthy, the_primary
from wd_supervisor import WatchdogSupervisor, boot_ms, parse_events

TIMEOUT = 60.0
WD_TIMEOUT_MS = 2000  # watchdog.timeout's default


def events_path(node):
    return node.dir / "watchdog.events"


def with_test_watchdog(node):
    node.overrides = rh._deep_merge(
        node.overrides,
        {"watchdog": {"mode": "required", "driver": "testing", "device": str(events_path(node))}},
    )


def named(events, name, since=0):
    return [ms for ms, ev, _ in events if ev == name and ms >= since]


def postmaster_start_ms(node):
    """The postmaster's start, CLOCK_BOOTTIME ms (/proc starttime: ticks since boot)."""
    pid = node.postmaster_pid()
    stat = open(f"/proc/{pid}/stat").read()
    ticks = int(stat[stat.rfind(")") + 2 :].split()[19])
    return ticks * 1000 // os.sysconf("SC_CLK_TCK")


def patch_config(node, body):
    r = node.api("/config", method="PATCH", json=body, timeout=30)
    assert r.status_code == 200, r.text


def test_armed_before_primary_fed_while_healthy_and_a_frozen_primary_is_reset(make_cluster):
    c = make_cluster(3, start=False)
    sups = {}
    for n in c.nodes:
        with_test_watchdog(n)
        sups[n.name] = WatchdogSupervisor(events_path(n), n.dir / "data", n.name)
        sups[n.name].start()
    prober = pt.Prober(c.nodes)
    try:
        c.start()
        p = healthy(c, c.names)
        sp = sups[p.name]
        # Armed before PostgreSQL ran as a primary (/proc's start time has
        # a 10 ms resolution); the replicas never armed.
        arms = named(sp.events(), "arm")
        assert arms, sp.events()
        assert arms[0] <= postmaster_start_ms(p) + 10, (arms, postmaster_start_ms(p))
        for n in c.nodes:
            if n is not p:
                assert named(sups[n.name].events(), "arm") == [], n.name

        # Fed while healthy: a keepalive per renewal, never a gap near the timeout.
        since = boot_ms()
        time.sleep(2.0)
        kicks = named(sp.events(), "keepalive", since)
        assert len(kicks) >= 4, kicks
        gaps = [b - a for a, b in zip(kicks, kicks[1:])]
        assert max(gaps) < WD_TIMEOUT_MS / 2, gaps
        assert sp.resets == []

        # Pause disarms it (nothing is fenced in pause); resume arms it again.
        patch_config(p, {"pause": True})
        since = boot_ms()
        c.wait_until(lambda: named(sp.events(), "disarm", since), TIMEOUT, "disarm in pause")
        patch_config(p, {"pause": None})
        c.wait_until(lambda: named(sp.events(), "arm", since), TIMEOUT, "arm after resume")

        # A switchover: the old primary disarms once its PostgreSQL is
        # stopped, the new one arms before it is promoted; nobody is reset.
        target = next(n for n in c.nodes if n is not p)
        since = boot_ms()
        r = p.api("/switchover", method="POST", json={"leader": p.name, "candidate": target.name},
                  timeout=30)
        assert r.status_code == 200, r.text
        c.wait_until(lambda: named(sp.events(), "disarm", since), TIMEOUT, "disarm after handover")
        assert named(sups[target.name].events(), "arm", since)
        assert all(s.resets == [] for s in sups.values())
        p = healthy(c, c.names)
        assert p is target
        sp = sups[p.name]

        # Freeze the primary's agent for longer than ttl: the supervisor
        # resets the node (kills its agent and PostgreSQL) before the lease
        # can go elsewhere, and never are two primaries writable.
        off = boot_ms() - time.monotonic() * 1000
        prober.start()
        c.wait_until(lambda: p.name in prober.writable_nodes(), TIMEOUT, "writes on the primary")
        p.expected_running = False  # the supervisor will kill it
        frozen_at = boot_ms()
        p.pause()
        rh.wait_until(lambda: sp.resets, 10, "the watchdog to reset the frozen primary")
        reset = sp.resets[0]
        assert p.pid in reset["killed"], reset
        assert reset["at"] - frozen_at <= WD_TIMEOUT_MS + 100, (reset, frozen_at)
        p.proc.wait(timeout=10)
        p.paused = False
        rh.wait_until(lambda: pt.in_recovery(p) is None, 10, "the reset primary's PostgreSQL gone")

        q = the_primary(c, exclude=(p.name,))
        rh.wait_until(lambda: q.name in prober.writable_nodes(), TIMEOUT, "writes on the new one")
        prober.stop()
        old = [w for w in prober.writes if w[0] == p.name]
        new = [w for w in prober.writes if w[0] == q.name]
        # The old primary's last write ended before the new one's first began.
        assert max(e for _, _, e in old) < min(s for _, s, _ in new), (old[-3:], new[:3])
        assert prober.interleavings() == [], prober.writes
        # The new primary armed its watchdog before it accepted a write.
        first_write = min(s for _, s, _ in new) * 1000 + off
        q_arms = named(sups[q.name].events(), "arm", reset["at"])
        assert q_arms and q_arms[0] < first_write, (q_arms, first_write)
    finally:
        prober.stop()
        if p_is_paused(c):
            for n in c.nodes:
                n.resume()
        for s in sups.values():
            s.stop()


def p_is_paused(c):
    return any(n.paused for n in c.nodes)


def test_required_without_a_device_never_takes_the_lease_automatic_warns(make_cluster):
    c = make_cluster(3, start=False)
    missing = str(c.base_dir / "no-such-watchdog")
    modes = {"node1": "required", "node2": "automatic", "node3": "off"}
    for n in c.nodes:
        # ttl 3 s: with it the timing allows a watchdog, so automatic's
        # warning is about the device.
        n.overrides = {
            "watchdog": {"mode": modes[n.name], "device": missing},
            "bootstrap": {"dcs": {"ttl": 3}},
        }
    c.start()
    p = healthy(c, c.names)
    assert p.name != "node1"
    n1 = c["node1"]
    assert n1.api("/patroni").json().get("watchdog_failed") is True
    assert not c["node2"].api("/patroni").json().get("watchdog_failed")
    assert "watchdog.mode required" in n1.log_tail(400)
    assert "watchdog.mode automatic" in c["node2"].log_tail(400)

    # The primary fails: the lease goes to the other member that may take
    # it, never to the one whose required watchdog is missing.
    p.kill()
    p.kill_postmaster()
    q = the_primary(c, exclude=(p.name,))
    assert q.name not in ("node1", p.name)
    assert {p.name, q.name} == {"node2", "node3"}  # automatic without a device works
    assert pt.in_recovery(n1) is True
    assert "granted to us" not in n1.log_tail(2000)
    assert "not a failover candidate: watchdog required but unusable" in n1.log_tail(2000)
    # /patroni says why, too (the "ha" reason beside watchdog_failed).
    doc = n1.api("/patroni")
    assert "not a failover candidate: watchdog required but unusable" in doc.text, doc.text


def test_a_restarted_agent_kills_a_leftover_postgres_before_it_opens_the_watchdog(make_cluster):
    c = make_cluster(1, start=False)
    n = c["node1"]
    with_test_watchdog(n)
    c.start()
    rh.wait_until(lambda: pt.in_recovery(n) is False, TIMEOUT, "a primary", nodes=[n])
    old_pm = n.postmaster_pid()
    # The agent alone dies (no supervisor here to reset the node): its
    # PostgreSQL is left running, and the device would still count down.
    n.kill()
    assert pt.in_recovery(n) is False
    restarted_at = boot_ms()
    n.start()
    rh.wait_until(
        lambda: pt.in_recovery(n) is False and n.postmaster_pid() not in (None, old_pm),
        TIMEOUT,
        "a new postmaster, as primary",
        nodes=[n],
    )
    log = n.log_path.read_text().split("=== harness: starting node1 ===")[-1]
    sweep = log.find("runs without its agent: killing it before the watchdog is opened")
    armed = log.find("watchdog: armed")
    assert 0 <= sweep < armed, log[-3000:]
    assert named(parse_events(events_path(n)), "arm", restarted_at)


def test_the_supervisor_behaves_like_the_kernel(tmp_path):
    """The test device itself, with stand-in processes: a disarm in time is a
    disarm however late it is read; the holder's death without one is a last
    keepalive; a missed timeout kills the holder and the postmaster's family."""
    import subprocess

    def sleeper():
        return subprocess.Popen(["sleep", "60"])

    data = tmp_path / "data"
    data.mkdir()
    ev = tmp_path / "events"
    procs = []
    try:
        # Disarmed in time, read late: no reset.
        sup = WatchdogSupervisor(ev, data, "t", interval=3600)
        t = boot_ms() - 5000
        ev.write_text(f"{t} arm timeout=1 pid=0\n{t + 500} keepalive\n{t + 1400} disarm\n")
        sup.step()
        assert sup.resets == [] and not sup.armed
        # A kick that came too late: it had fired at last + timeout.
        with open(ev, "a") as f:
            f.write(f"{t + 2000} arm timeout=1 pid=0\n{t + 3500} keepalive\n")
        sup.step()
        assert [r["at"] for r in sup.resets] == [t + 3000]
        holder = sleeper()
        pm = sleeper()
        procs += [holder, pm]
        (data / "postmaster.pid").write_text(f"{pm.pid}\n")
        # The holder dies without a disarm: one last keepalive, then a reset
        # that kills the postmaster.
        sup2 = WatchdogSupervisor(tmp_path / "events2", data, "t2", interval=0.01)
        (tmp_path / "events2").write_text(f"{boot_ms()} arm timeout=1 pid={holder.pid}\n")
        sup2.start()
        time.sleep(0.5)
        holder.kill()
        holder.wait()
        died = boot_ms()
        rh.wait_until(lambda: sup2.resets, 5, "the reset after the holder's death")
        sup2.stop()
        assert sup2.resets[0]["at"] >= died - 50 + 1000, (sup2.resets, died)
        assert pm.pid in sup2.resets[0]["killed"]
        assert pm.wait(timeout=5) == -9
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_a_primary_cut_off_fences_and_disarms_before_the_device_fires(make_cluster):
    c = make_cluster(3, start=False)
    sups = {}
    for n in c.nodes:
        with_test_watchdog(n)
        sups[n.name] = WatchdogSupervisor(events_path(n), n.dir / "data", n.name)
        sups[n.name].start()
    peers = []
    try:
        c.start()
        p = healthy(c, c.names)
        sp = sups[p.name]
        peers = [n for n in c.nodes if n is not p]
        since = boot_ms()
        for n in peers:
            n.pause()
        # No quorum: no renewal applies, no kick. The agent fences a little
        # before the device would fire, and disarms it once PostgreSQL's
        # processes are gone: the machine is not reset for a partition.
        rh.wait_until(lambda: named(sp.events(), "disarm", since), 15, "the disarm after the fence")
        assert "fence:" in p.log_tail(200)
        assert pt.in_recovery(p) is None
        disarm = named(sp.events(), "disarm", since)[0]
        last = max(named(sp.events(), "keepalive") + named(sp.events(), "arm"))
        # The margin is the fence budget, 50 ms (DESIGN.md): the fence's /proc
        # scan and the processes' exit take 20-40 ms on a loaded 2-core box.
        # Missing it is not unsafe (the device resets the node) but costs the
        # machine: this checks the margin holds.
        assert disarm < last + WD_TIMEOUT_MS, (last, disarm)
        assert sp.resets == [], sp.resets
        assert p.alive()
    finally:
        for n in peers:
            n.resume()
        for s in sups.values():
            s.stop()
