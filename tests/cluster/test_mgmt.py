"""Management over REST with real PostgreSQL: switchover (immediate and
scheduled), failover, their refusals, and pause.

Safety is checked as in test_ha: a writer counts acknowledged writes (none
may be missing afterwards) and a prober that asks every node in turn
whether it accepts a write finds no two writable primaries at once.
"""

import datetime
import time

import prometheus_client.parser
import pytest

import pg_tools as pt
from test_ctl import ok
from test_ha import TIMEOUT, healthy, lease, primaries, streaming_from, the_primary


def post(node, path, body):
    return node.api(path, method="POST", json=body, timeout=30)


def others(c, name):
    return [n for n in c.nodes if n.name != name]


def acked_all_there(writer, primary):
    """Every write the writer saw acknowledged is in the primary's table."""
    acked = set(writer.acked_ids())
    have = {r[0] for r in pt.query(primary, "SELECT id FROM writes")}
    return acked - have


def settled(c):
    """One primary, the others streaming from it, and every member's record
    saying so (what the REST pre-checks read)."""
    p = healthy(c, c.names)

    def records():
        ms = {m["name"]: m for m in p.cluster()["members"]}
        return all(
            ms.get(n.name, {}).get("state") in ("running", "streaming") for n in c.nodes
        ) and ms[p.name]["role"] == "leader"

    c.wait_until(records, TIMEOUT, "every member's record to say it runs")
    return p


def test_switchover_with_a_writer_loses_nothing_and_the_old_primary_follows(make_cluster):
    c = make_cluster(3)
    old = settled(c)
    target = sorted(n.name for n in others(c, old.name))[0]
    epoch = int(lease(old)["epoch"])
    writer = pt.Writer(c.nodes)
    prober = pt.Prober(c.nodes)
    writer.start()
    prober.start()
    try:
        c.wait_until(lambda: len(writer.acked) > 20, TIMEOUT, "the writer to write")
        # Through regentctl, sent to the member that is neither: any member
        # carries it out.
        third = next(n for n in c.nodes if n.name not in (old.name, target))
        out = ok("--url", third.api_url, "switchover", "test", "--leader", old.name,
                 "--candidate", target, "--force").stdout
        assert f'Successfully switched over to "{target}"' in out, out
        new = c[target]
        # 200 means the new primary is in place: it takes writes now.
        assert pt.in_recovery(new) is False
        assert lease(new)["holder"] == target
        assert int(lease(new)["epoch"]) > epoch
        done_at = time.monotonic()
        c.wait_until(lambda: writer.count_after(done_at) > 10, TIMEOUT, "the writer to resume")
        # The old primary, shut down cleanly at the handover point, follows
        # the new one without a rewind; so does the third member.
        c.wait_until(lambda: streaming_from(old) == new.pg_port, TIMEOUT, "the old primary to follow")
        c.wait_until(lambda: streaming_from(third) == new.pg_port, TIMEOUT, "the third to follow")
        assert "our history is a prefix of the primary's" in old.log_tail(300)
        assert "pg_rewind" not in old.log_tail(300)
    finally:
        writer.stop()
        prober.stop()
    assert acked_all_there(writer, c[target]) == set()
    assert prober.interleavings() == [], prober.writes
    # One history entry for the switch, naming the new primary, with how
    # long the cluster had no primary (Regent's sixth element), which
    # /metrics shows.
    entry = c[target].api("/history").json()[-1]
    assert entry[4] == target
    assert 0 < entry[5]["unavailable_ms"] < 30000, entry
    families = {
        f.name: f
        for f in prometheus_client.parser.text_string_to_metric_families(
            c[target].api("/metrics").text
        )
    }
    (sample,) = families["regent_last_failover_seconds"].samples
    assert sample.value == pytest.approx(entry[5]["unavailable_ms"] / 1000)
    assert families["regent_failovers"].samples[0].value == len(c[target].api("/history").json())
    # The failover record is gone.
    assert c[target].api("/raft/state").json()["state"]["failover"] is None


def test_switchover_and_failover_refusals(make_cluster):
    c = make_cluster(3, start=False)
    c["node3"].overrides = {"tags": {"nofailover": True}}
    c.start()
    p = settled(c)
    replicas = sorted(n.name for n in others(c, p.name))
    epoch = int(lease(p)["epoch"])
    cases = [
        ("/switchover", {}, 400, "Switchover could be performed only from a specific leader"),
        ("/failover", {}, 400, "Failover could be performed only to a specific candidate"),
        ("/failover", {"candidate": replicas[0], "scheduled_at": "2030-01-01T00:00:00Z"}, 400,
         "Failover can't be scheduled"),
        ("/switchover", {"leader": p.name, "candidate": p.name}, 400,
         "Switchover target and source are the same"),
        ("/switchover", {"leader": replicas[0]}, 412, "leader name does not match"),
        ("/switchover", {"leader": p.name, "candidate": "nosuch"}, 412, "candidate does not exists"),
        ("/switchover", {"leader": p.name, "scheduled_at": "2030-01-01T00:00:00"}, 400,
         "Timezone information is mandatory for the scheduled switchover"),
        ("/switchover", {"leader": p.name, "scheduled_at": "soon"}, 422, None),
        ("/switchover", {"leader": p.name, "scheduled_at": "2001-01-01T00:00:00Z"}, 422,
         "Cannot schedule switchover in the past"),
    ]
    for path, body, code, text in cases:
        r = post(c[replicas[0]], path, body)
        assert r.status_code == code, (path, body, r.status_code, r.text)
        if text is not None:
            assert r.text == text, (path, body, r.text)
    r = c[replicas[0]].api("/switchover", method="POST", timeout=10)  # no body
    assert r.status_code == 400
    # nofailover: named, it is refused; it is never picked either.
    nf = "node3" if p.name != "node3" else None
    if nf is not None:
        r = post(p, "/switchover", {"leader": p.name, "candidate": nf})
        assert r.status_code == 412, r.text
        assert "no good candidates have been found" in r.text and "nofailover" in r.text, r.text
    # Nothing changed: same primary, same epoch, no record.
    assert int(lease(p)["epoch"]) == epoch
    assert [n.name for n in primaries(c)] == [p.name]
    assert p.api("/raft/state").json()["state"]["failover"] is None
    r = p.api("/switchover", method="DELETE")
    assert (r.status_code, r.text) == (404, "no switchover is scheduled")


def test_failover_to_a_named_member_with_and_without_a_primary(make_cluster):
    c = make_cluster(3, start=False)
    # Left alone, the coordinator would pick node2 (higher priority).
    c["node1"].overrides = {"tags": {"failover_priority": 1}}
    c["node2"].overrides = {"tags": {"failover_priority": 9}}
    c["node3"].overrides = {"tags": {"failover_priority": 1}}
    c.start()
    p = settled(c)
    # With a healthy primary, a failover to a member is a switchover to it.
    # (Never node2: it must stay a replica with the higher priority.)
    target = next(n.name for n in others(c, p.name) if n.name != "node2")
    r = post(c[target], "/failover", {"candidate": target})
    assert (r.status_code, r.text) == (200, f'Successfully failed over to "{target}"')
    p = settled(c)
    assert p.name == target
    # Without a primary (its agent and PostgreSQL die), the named member
    # wins even though node2 has the higher priority.
    want = next(n.name for n in others(c, p.name) if n.name != "node2")
    epoch = int(lease(p)["epoch"])
    writer = pt.Writer(c.nodes)
    writer.start()
    try:
        c.wait_until(lambda: len(writer.acked) > 10, TIMEOUT, "the writer to write")
        p.kill()
        p.kill_postmaster()
        killed_at = time.monotonic()
        # Through regentctl, which finds the live members from any URL.
        out = ok("--url", c[want].api_url, "failover", "--candidate", want, "--force").stdout
        assert f'Successfully failed over to "{want}"' in out, out
        c.wait_until(lambda: writer.count_after(killed_at) > 5, TIMEOUT, "the writer to resume")
    finally:
        writer.stop()
    assert the_primary(c, exclude=(p.name,)).name == want
    assert int(lease(c[want])["epoch"]) > epoch
    reason = c[want].api("/raft/state").json()["state"]["lease"]["reports"]["reason"]
    assert "requested candidate" in reason, reason


def test_scheduled_switchover_happens_at_its_time_and_can_be_deleted(make_cluster):
    c = make_cluster(2)
    p = settled(c)
    other = others(c, p.name)[0]
    far = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).isoformat()
    r = post(other, "/switchover", {"leader": p.name, "scheduled_at": far})
    assert (r.status_code, r.text) == (202, "Switchover scheduled")
    sw = p.cluster()["scheduled_switchover"]
    assert sw["from"] == p.name and sw["at"] == far
    # Scheduled: nothing happens now; DELETE takes it back.
    r = other.api("/switchover", method="DELETE")
    assert (r.status_code, r.text) == (200, "scheduled switchover deleted"), other.api("/raft/state").json()["state"]["failover"]
    assert "scheduled_switchover" not in p.cluster()
    assert [n.name for n in primaries(c)] == [p.name]

    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
    r = post(p, "/switchover", {"leader": p.name, "candidate": other.name, "scheduled_at": soon.isoformat()})
    assert (r.status_code, r.text) == (202, "Switchover scheduled")
    assert [n.name for n in primaries(c)] == [p.name], "not before its time"
    new = the_primary(c, exclude=(p.name,))
    assert new is other
    assert datetime.datetime.now(datetime.timezone.utc) >= soon
    c.wait_until(lambda: streaming_from(p) == new.pg_port, TIMEOUT, "the old primary to follow")


def patch_config(node, body):
    r = node.api("/config", method="PATCH", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def all_paused(c, want):
    def check():
        for n in c.nodes:
            if n.alive() and bool(n.api("/patroni").json().get("pause")) is not want:
                return False
        return True

    c.wait_until(check, TIMEOUT, f"every agent to say pause={want}")


def test_pause_no_automatic_action_and_resume(make_cluster):
    c = make_cluster(3)
    p = settled(c)
    epoch = lease(p)["epoch"]
    assert patch_config(c.nodes[0], {"pause": True})["pause"] is True
    all_paused(c, True)
    assert c.nodes[0].cluster()["pause"] is True
    # The holder's renewals now say it does not fence.
    c.wait_until(lambda: lease(p)["fencing"] is False, TIMEOUT, "renewals with fencing=false")

    # Its postmaster dies: in pause it is not restarted, and nobody fails
    # over (three ttl of watching: every agent decides several times).
    pid = p.kill_postmaster()
    deadline = time.monotonic() + 3 * 2.5
    while time.monotonic() < deadline:
        assert p.postmaster_pid() in (None, pid), "restarted in pause"
        assert [n.name for n in primaries(c)] == []
        time.sleep(0.25)
    assert lease(p)["epoch"] == epoch and lease(p)["holder"] == p.name
    assert all(pt.in_recovery(n) is True for n in others(c, p.name))
    assert "paused: would start as primary" in p.log_tail(200)

    # Resume: the holder restarts its PostgreSQL in place; no failover.
    patch_config(c.nodes[1], {"pause": None})
    all_paused(c, False)
    c.wait_until(lambda: pt.in_recovery(p) is False, TIMEOUT, "the primary to be restarted")
    assert lease(p)["epoch"] == epoch
    c.wait_until(lambda: lease(p)["fencing"] is True, TIMEOUT, "renewals with fencing=true")

    # Paused, stopping the primary's agent leaves PostgreSQL running and the
    # lease in place; started again, it takes up its lease.
    patch_config(p, {"pause": True})
    all_paused(c, True)
    c.wait_until(lambda: lease(p)["fencing"] is False, TIMEOUT, "renewals with fencing=false")
    pg_pid = p.postmaster_pid()
    assert p.stop() == 0
    assert "paused: leaving PostgreSQL running" in p.log_tail(50)
    other = others(c, p.name)[0]
    time.sleep(2 * 2.5)  # beyond ttl: the lease expires unrenewed, and must not move
    assert p.postmaster_pid() == pg_pid and pt.in_recovery(p) is False
    st = other.api("/raft/state").json()["state"]["lease"]
    assert st["holder"] == p.name and st["epoch"] == epoch and st["released"] is False
    p.start()
    c.wait_until(lambda: lease(p)["holder"] == p.name and p.api("/patroni").json()["lease"]["held"],
                 TIMEOUT, "the agent to take up its lease")
    assert p.postmaster_pid() == pg_pid and lease(p)["epoch"] == epoch
    patch_config(other, {"pause": False})
    all_paused(c, False)
    assert [n.name for n in primaries(c)] == [p.name]


def test_the_candidate_confirms_only_past_the_old_primary_last_wal(make_cluster):
    """The handover gate: a candidate whose replay is held back must not
    take the lease (nor promote) before it has replayed the old primary's
    shutdown checkpoint; once it may replay, the switchover completes and
    nothing acknowledged is missing."""
    import threading

    c = make_cluster(2)
    old = settled(c)
    cand = others(c, old.name)[0]
    writer = pt.Writer([old, cand])
    writer.start()
    result = {}
    try:
        c.wait_until(lambda: len(writer.acked) > 20, TIMEOUT, "the writer to write")
        pt.query(cand, "SELECT pg_wal_replay_pause()")
        t = threading.Thread(
            target=lambda: result.update(r=post(old, "/switchover", {"leader": old.name,
                                                                  "candidate": cand.name})))
        t.start()
        c.wait_until(lambda: lease(cand)["handover_unconfirmed"] is True, TIMEOUT,
                     "the handover to the candidate")
        # Held back for 3 s (below switchover_timeout, 5 s): named holder,
        # never confirmed, never promoted.
        held_until = time.monotonic() + 3
        while time.monotonic() < held_until:
            st = lease(cand)
            assert st["holder"] == cand.name and st["handover_unconfirmed"] is True, st
            assert pt.in_recovery(cand) is True
            time.sleep(0.1)
        assert "handover: replayed past" not in cand.log_tail(100)
        pt.query(cand, "SELECT pg_wal_replay_resume()")
        t.join(timeout=30)
        assert result["r"].status_code == 200, result["r"].text
        assert "handover: replayed past" in cand.log_tail(100)
        assert pt.in_recovery(cand) is False
    finally:
        pt.try_query(cand, "SELECT pg_wal_replay_resume()")
        writer.stop()
    assert acked_all_there(writer, cand) == set()
