"""High availability with real PostgreSQL: bootstrap, replicas and slots,
failover, rejoin, a clean handover, self-fencing when cut off from the Raft
majority, crash restart in place, and the eligibility rules.

Safety is checked by a prober that asks every node, one after the other,
whether it accepts a write: a node that accepts writes both before and after
another did means two writable primaries at once (pg_tools.Prober).
"""

import os
import signal
import subprocess
import time

import pytest

import pg_tools as pt
import regent_harness as rh

TIMEOUT = 60.0


def primaries(c):
    return [n for n in c.nodes if not n.witness and n.alive() and pt.in_recovery(n) is False]


def the_primary(c, timeout=TIMEOUT, exclude=()):
    """The single writable primary (not in @exclude), once there is one."""

    def one():
        p = [n for n in primaries(c) if n.name not in exclude]
        return p[0] if len(p) == 1 else None

    return c.wait_until(one, timeout, "exactly one primary")


def replication(primary):
    """{application_name: state} of the primary's WAL senders."""
    rows = pt.try_query(primary, "SELECT application_name, state FROM pg_stat_replication") or []
    return dict(rows)


def streaming_from(replica):
    """The port the replica's WAL receiver streams from, or None."""
    rows = pt.try_query(
        replica, "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'"
    )
    return rows[0][0] if rows else None


def healthy(c, members):
    """One primary, every other member streaming from it."""
    p = the_primary(c)
    others = [c[m] for m in members if m != p.name]
    c.wait_until(
        lambda: all(streaming_from(n) == p.pg_port for n in others),
        TIMEOUT,
        f"{[n.name for n in others]} to stream from {p.name}",
    )
    return p


def lease(node):
    return node.api("/raft/state").json()["state"]["lease"]


def test_bootstrap_one_primary_two_streaming_replicas_with_slots(make_cluster, make_node):
    c = make_cluster(3)
    p = healthy(c, c.names)
    replicas = sorted(n for n in c.names if n != p.name)
    c.wait_until(
        lambda: replication(p) == {r: "streaming" for r in replicas},
        TIMEOUT,
        "two streaming WAL senders",
    )
    slots = pt.query(p, "SELECT slot_name, active FROM pg_replication_slots ORDER BY 1")
    assert slots == [(r, True) for r in replicas]
    # One initialize, recorded once.
    st = p.api("/raft/state").json()["state"]
    assert st["initialize"]["sysid"] == pt.query(p, "SELECT system_identifier::text FROM pg_control_system()")[0][0]

    # A fourth member clones and streams, with a slot of its own.
    extra = make_node("node4", start=False, scope=c.scope)
    extra.partner_addrs = [n.raft_addr for n in c.nodes]
    extra.start()
    c.nodes.append(extra)
    c.wait_until(lambda: streaming_from(extra) == p.pg_port, TIMEOUT, "node4 to stream")
    pt.query(p, "CREATE TABLE seen (x int)")
    pt.query(p, "INSERT INTO seen VALUES (42)")
    c.wait_until(
        lambda: pt.try_query(extra, "SELECT x FROM seen") == [(42,)], TIMEOUT, "node4 to replay"
    )
    c.wait_until(
        lambda: ("node4", True)
        in pt.query(p, "SELECT slot_name, active FROM pg_replication_slots"),
        TIMEOUT,
        "node4's slot",
    )
    assert extra.api("/patroni").json()["role"] == "replica"


def test_kill_primary_agent_and_postmaster_fails_over_and_old_node_rejoins(make_cluster):
    c = make_cluster(3)
    old = healthy(c, c.names)
    epoch = int(lease(old)["epoch"])
    writer = pt.Writer(c.nodes)
    prober = pt.Prober(c.nodes)
    writer.start()
    prober.start()
    try:
        c.wait_until(lambda: len(writer.acked) > 10, TIMEOUT, "the writer to write")
        old.kill()
        old.kill_postmaster()
        killed_at = time.monotonic()
        new = the_primary(c, exclude=(old.name,))
        c.wait_until(lambda: writer.count_after(killed_at) > 5, TIMEOUT, "the writer to resume")
        other = next(n for n in c.nodes if n.name not in (old.name, new.name))
        c.wait_until(lambda: streaming_from(other) == new.pg_port, TIMEOUT, "the other to follow")
        assert int(lease(new)["epoch"]) > epoch
        assert lease(new)["holder"] == new.name

        # The old primary crashed ahead of the promotion point: it rejoins
        # through pg_rewind and streams from the new primary.
        old.start()
        c.wait_until(lambda: streaming_from(old) == new.pg_port, TIMEOUT, "the old primary to rejoin")
        assert "pg_rewind" in old.log_tail(400)
    finally:
        writer.stop()
        prober.stop()
    assert prober.interleavings() == [], prober.writes
    # The history records the switch and who won it.
    history = new.api("/history").json()
    assert history and history[-1][4] == new.name


def test_clean_stop_of_the_primary_hands_over_without_waiting_for_ttl(make_cluster):
    c = make_cluster(3)
    old = healthy(c, c.names)
    assert old.stop() == 0
    new = the_primary(c, exclude=(old.name,))
    # The lease was released (not left to expire): the grant says so.
    reports = new.api("/raft/state").json()["state"]["lease"]["reports"]
    assert "released" in reports["reason"], reports
    assert "lease release: done" in old.log_tail(50)
    other = next(n for n in c.nodes if n.name not in (old.name, new.name))
    c.wait_until(lambda: streaming_from(other) == new.pg_port, TIMEOUT, "the other to follow")

    # Shut down cleanly at its last checkpoint, the old primary follows the
    # new one without a rewind.
    old.start()
    c.wait_until(lambda: streaming_from(old) == new.pg_port, TIMEOUT, "the old primary to rejoin")
    assert "our history is a prefix of the primary's" in old.log_tail(200)


def test_postmaster_killed_on_the_primary_restarts_in_place(make_cluster):
    c = make_cluster(3)
    p = healthy(c, c.names)
    epoch = lease(p)["epoch"]
    pid = p.kill_postmaster()
    c.wait_until(
        lambda: p.postmaster_pid() not in (None, pid) and pt.in_recovery(p) is False,
        TIMEOUT,
        "the primary to be restarted in place",
    )
    assert lease(p)["epoch"] == epoch, "no failover: the same lease epoch"
    assert lease(p)["holder"] == p.name
    assert [n.name for n in primaries(c)] == [p.name]


def test_primary_cut_off_from_the_majority_fences_itself(make_cluster):
    c = make_cluster(3)
    p = healthy(c, c.names)
    peers = [n for n in c.nodes if n is not p]
    prober = pt.Prober(c.nodes)
    prober.start()
    try:
        c.wait_until(lambda: p.name in prober.writable_nodes(), TIMEOUT, "writes on the primary")
        for n in peers:
            n.pause()
        # No quorum: renewals cannot apply, the deadline passes, the fence
        # kills PostgreSQL. Never two writable primaries: the peers are frozen.
        rh.wait_until(
            lambda: pt.in_recovery(p) is None, TIMEOUT, "the cut-off primary to stop accepting writes"
        )
        assert "fence" in p.log_tail(100)
        for n in peers:
            n.resume()
        healthy(c, c.names)
    finally:
        for n in peers:
            n.resume()
        prober.stop()
    assert prober.interleavings() == [], prober.writes


def test_a_primary_without_a_quorum_still_stops_promptly(make_cluster):
    c = make_cluster(3)
    p = healthy(c, c.names)
    peers = [n for n in c.nodes if n is not p]
    for n in peers:
        n.pause()
    try:
        # The release cannot commit without a quorum: the agent gives up on
        # it after ttl (the lease lapses by itself) instead of hanging until
        # the harness SIGKILLs it.
        assert p.stop() == 0, p.log_tail(30)
        assert p.postmaster_pid() is None
        assert "lease release:" in p.log_tail(10)
    finally:
        for n in peers:
            n.resume()
    healthy(c, [n.name for n in peers])


def test_a_one_second_stall_of_the_primary_agent_causes_nothing(make_cluster):
    c = make_cluster(3)
    p = healthy(c, c.names)
    epoch = lease(p)["epoch"]
    p.pause()
    time.sleep(1.0)  # the fault itself: a 1 s stall, not a wait
    p.resume()
    # Give a failover every chance to happen, then check it did not.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert pt.in_recovery(p) is False
        time.sleep(0.2)
    assert lease(p)["epoch"] == epoch
    assert [n.name for n in primaries(c)] == [p.name]


@pytest.mark.parametrize("raft_leader", ["witness", "replica"])
def test_two_members_and_a_witness_fail_over_whoever_leads_raft(make_cluster, raft_leader):
    c = make_cluster(2, witness=True)
    p = healthy(c, ["node1", "node2"])
    replica = next(n for n in c.nodes if not n.witness and n is not p)
    target = "witness" if raft_leader == "witness" else replica.name
    c.wait_until(
        lambda: p.api("/raft/leadership", method="POST", json={"to": target}, timeout=10).status_code
        == 200
        and p.cluster()["raft"]["leader"] == target,
        TIMEOUT,
        f"{target} to lead Raft",
    )
    p.kill()
    p.kill_postmaster()
    assert the_primary(c, exclude=(p.name,)) is replica


def test_nofailover_and_failover_priority_are_respected(make_cluster):
    c = make_cluster(3)
    p = healthy(c, c.names)
    a, b = [n for n in c.nodes if n is not p]
    # a may never be promoted; b may. Tags reload on SIGHUP.
    a.overrides = {"tags": {"nofailover": True}}
    a.write_config()
    a.proc.send_signal(signal.SIGHUP)
    c.wait_until(
        lambda: any(
            m["name"] == a.name and m.get("tags", {}).get("nofailover") for m in p.cluster()["members"]
        ),
        TIMEOUT,
        "a's tags in its record",
    )
    p.kill()
    p.kill_postmaster()
    assert the_primary(c, exclude=(p.name,)) is b
    p.start()
    healthy(c, c.names)

    # With equal positions, the higher failover_priority wins.
    a.overrides = {"tags": {"failover_priority": 1}}
    p.overrides = {"tags": {"failover_priority": 5}}
    for n in (a, p):
        n.write_config()
        n.proc.send_signal(signal.SIGHUP)
    c.wait_until(
        lambda: {m["name"]: m.get("tags", {}).get("failover_priority") for m in b.cluster()["members"]}
        == {a.name: 1, p.name: 5, b.name: None},
        TIMEOUT,
        "the priorities in the records",
    )
    b.kill()
    b.kill_postmaster()
    assert the_primary(c, exclude=(b.name,)) is p


def test_a_lagging_replica_is_not_promoted(make_cluster):
    c = make_cluster(3)
    p = healthy(c, c.names)
    lagging, fresh = [n for n in c.nodes if n is not p]
    # Freeze the lagging replica's WAL receiver, then write past
    # maximum_lag_on_failover (1 MiB by default).
    rows = pt.query(lagging, "SELECT pid FROM pg_stat_wal_receiver")
    receiver = rows[0][0]
    os.kill(receiver, signal.SIGSTOP)
    try:
        pt.query(p, "CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 40000) g")
        c.wait_until(
            lambda: pt.try_query(fresh, "SELECT count(*) FROM filler") == [(40000,)],
            TIMEOUT,
            "the other replica to replay",
        )
        # The primary's renewals carry its position: the coordinator's lag
        # check compares with the last one that applied.
        target = pt.query(p, "SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn")[0][0]
        c.wait_until(
            lambda: int(lease(fresh)["lsn"]) >= target, TIMEOUT, "a renewal carrying the new LSN"
        )
        p.kill()
        p.kill_postmaster()
        assert the_primary(c, exclude=(p.name,)) is fresh
        assert "lag" in fresh.api("/raft/state").json()["state"]["lease"]["reports"]["reason"]
    finally:
        try:
            os.kill(receiver, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_a_running_standby_without_cluster_state_refuses_to_start(make_node, tmp_path):
    src = make_node("src", start=False)
    src.start()
    rh.wait_until(
        lambda: pt.try_query(src, "SELECT 1 FROM pg_roles WHERE rolname = 'replicator'") == [(1,)],
        TIMEOUT,
        "a primary with its replication user",
        [src],
    )
    # A standby of it, running outside any Regent cluster.
    base = tmp_path / "sb"
    base.mkdir()
    standby = base / "data"
    run_as = {}
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam(rh.PG_USER)
        os.chown(base, pw.pw_uid, pw.pw_gid)
        run_as = {"user": pw.pw_uid, "group": pw.pw_gid}
    port = rh.free_port()
    subprocess.run(
        [f"{rh.PG_BIN}/pg_basebackup", "-D", str(standby), "-h", "127.0.0.1", "-p", str(src.pg_port),
         "-U", "replicator", "-R", "-X", "stream"],
        check=True, timeout=60, **run_as,
    )
    subprocess.run(
        [f"{rh.PG_BIN}/pg_ctl", "start", "-w", "-D", str(standby), "-l", str(base / "standby.log"),
         "-o", f"-p {port} -c unix_socket_directories='' -c listen_addresses=127.0.0.1"],
        check=True, timeout=60, **run_as,
    )
    try:
        lone = make_node("lone", start=False, scope="other",
                         overrides={"postgresql": {"data_dir": str(standby),
                                                   "listen": f"127.0.0.1:{port}",
                                                   "connect_address": f"127.0.0.1:{port}"}})
        lone.start()
        rh.wait_until(lambda: not lone.alive(), TIMEOUT, "the agent to refuse and exit", [])
        assert lone.proc.returncode == 1
        assert "a standby and the cluster has no state" in lone.log_tail(50)
        # Refused, not touched: the standby still runs.
        with pt.psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres") as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
    finally:
        subprocess.run([f"{rh.PG_BIN}/pg_ctl", "stop", "-m", "immediate", "-D", str(standby)],
                       timeout=60, **run_as)


def test_replicatefrom_cascades_and_falls_back_to_the_primary(make_cluster):
    c = make_cluster(3)
    p = healthy(c, c.names)
    relay, leaf = [n for n in c.nodes if n is not p]
    leaf.overrides = {"tags": {"replicatefrom": relay.name}}
    leaf.write_config()
    leaf.proc.send_signal(signal.SIGHUP)
    c.wait_until(lambda: streaming_from(leaf) == relay.pg_port, TIMEOUT, "leaf to stream from relay")
    # The relay keeps the leaf's slot; the primary lets it go.
    c.wait_until(
        lambda: pt.try_query(relay, "SELECT slot_name, active FROM pg_replication_slots")
        == [(leaf.name, True)],
        TIMEOUT,
        "the relay to hold the leaf's slot",
    )
    c.wait_until(
        lambda: leaf.name not in [r[0] for r in pt.query(p, "SELECT slot_name FROM pg_replication_slots")],
        TIMEOUT,
        "the primary to drop the leaf's slot",
    )
    pt.query(p, "CREATE TABLE cascade (x int)")
    pt.query(p, "INSERT INTO cascade VALUES (7)")
    c.wait_until(lambda: pt.try_query(leaf, "SELECT x FROM cascade") == [(7,)], TIMEOUT, "leaf to replay")

    # The relay goes away: once its record is stale the leaf streams from the primary.
    relay.kill()
    relay.kill_postmaster()
    c.wait_until(lambda: streaming_from(leaf) == p.pg_port, TIMEOUT, "leaf to fall back to the primary")


def test_an_existing_primary_is_adopted(make_node, tmp_path):
    # A PostgreSQL that runs before any agent: initdb and start it by hand.
    lone = make_node("lone", start=False)
    data = lone.dir / "data"
    run_as = {}
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam(rh.PG_USER)
        run_as = {"user": pw.pw_uid, "group": pw.pw_gid}
    subprocess.run([f"{rh.PG_BIN}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust",
                    "--encoding=UTF8", "--locale=C.UTF-8"], check=True, timeout=120,
                   capture_output=True, **run_as)
    subprocess.run(
        [f"{rh.PG_BIN}/pg_ctl", "start", "-w", "-D", str(data), "-l", str(lone.dir / "own.log"),
         "-o", f"-p {lone.pg_port} -c unix_socket_directories='' -c listen_addresses=127.0.0.1"],
        check=True, timeout=60, capture_output=True, **run_as,
    )
    pid = lone.postmaster_pid()
    sysid = pt.query(lone, "SELECT system_identifier::text FROM pg_control_system()")[0][0]
    pt.query(lone, "CREATE TABLE before_regent (x int)")
    lone.start()
    rh.wait_until(
        lambda: lone.api("/raft/state").json()["state"]["initialize"]["sysid"] == sysid,
        TIMEOUT,
        "the agent to record the adopted system identifier",
        [lone],
    )
    assert lone.postmaster_pid() == pid, "adopted, not restarted"
    assert pt.in_recovery(lone) is False
    assert pt.query(lone, "SELECT count(*) FROM before_regent") == [(0,)]
    assert lone.api("/primary").status_code == 200


@pytest.mark.parametrize("check_timeline", [True, False])
def test_check_timeline_keeps_a_replica_of_an_old_timeline_out(make_cluster, check_timeline):
    dcs = {"bootstrap": {"dcs": {"check_timeline": check_timeline}}}
    c = make_cluster(3, overrides=dcs)
    a = healthy(c, c.names)
    b, late = [n for n in c.nodes if n is not a]
    # late stays on timeline 1: its WAL receiver is frozen across the first
    # failover (the cluster is idle, so it lacks nothing but the switch).
    receiver = pt.query(late, "SELECT pid FROM pg_stat_wal_receiver")[0][0]
    os.kill(receiver, signal.SIGSTOP)
    try:
        # First failover: a dies, b (not late) must win; make late ineligible
        # for it by lag alone would not do, so give b the higher priority.
        b.overrides = {**dcs, "tags": {"failover_priority": 9}}
        b.write_config()
        b.proc.send_signal(signal.SIGHUP)
        c.wait_until(
            lambda: any(m["name"] == b.name and m.get("tags", {}).get("failover_priority") == 9
                        for m in a.cluster()["members"]),
            TIMEOUT,
            "b's priority",
        )
        a.kill()
        a.kill_postmaster()
        assert the_primary(c, exclude=(a.name,)) is b
        c.wait_until(lambda: b.api("/history").json() != [], TIMEOUT, "the history entry")
        assert pt.query(late, "SELECT received_tli FROM pg_stat_wal_receiver")[0][0] == 1
        # a comes back (rewound onto timeline 2) but may never be promoted;
        # Raft keeps its quorum with a and late.
        a.overrides = {**dcs, "tags": {"nofailover": True}}
        a.start()
        c.wait_until(lambda: streaming_from(a) == b.pg_port, TIMEOUT, "a to rejoin")
        # Second failover: late, still on timeline 1, is the only candidate.
        # Its WAL receiver may run again (a stopped one would hold up a
        # promotion): its upstream is gone, it stays on timeline 1.
        b.kill()
        b.kill_postmaster()
        os.kill(receiver, signal.SIGCONT)
        if check_timeline:
            c.wait_until(
                lambda: any(
                    "no eligible member" in n.log_tail(100) and "timeline" in n.log_tail(100)
                    for n in (a, late)
                ),
                TIMEOUT,
                "the coordinator to refuse the old timeline",
            )
            assert pt.in_recovery(late) is True
        else:
            c.wait_until(lambda: pt.in_recovery(late) is False, TIMEOUT, "late to be promoted")
    finally:
        try:
            os.kill(receiver, signal.SIGCONT)
        except ProcessLookupError:
            pass
