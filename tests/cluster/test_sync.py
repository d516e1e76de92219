"""Synchronous replication with real PostgreSQL: synchronous_mode on (FIRST),
strict, synchronous_node_count, quorum (ANY k), and failovers that go only to
a synchronous member without losing an acknowledged commit.

One 3-node cluster serves the whole module (each new cluster costs seconds);
the checks run in file order and each one leaves the cluster healthy, with
synchronous_mode as the next check expects.
"""

import re
import threading
import time

import psycopg
import pytest

import conftest
import pg_tools as pt
import regent_harness as rh
from test_ctl import ok
from test_ha import TIMEOUT, healthy, lease, streaming_from
from test_mgmt import acked_all_there, patch_config


@pytest.fixture(scope="module")
def c(request, tmp_path_factory, regent_build):
    cl = rh.Cluster(tmp_path_factory.mktemp("sync"), n=3, scope="sync")
    request.node._regent_nodes = list(cl.nodes)
    try:
        cl.start()
        healthy(cl, cl.names)
        cl.wait_until(lambda: all(n.api("/config").status_code == 200 for n in cl.nodes),
                      TIMEOUT, "every node to have the dynamic configuration")
        yield cl
    finally:
        cl.stop()
    conftest._check_sanitizers(cl.nodes)


def ssn(node):
    """synchronous_standby_names with the names sorted: "FIRST 2 ("a","b")"."""
    rows = pt.try_query(node, "SHOW synchronous_standby_names")
    if not rows:
        return None
    m = re.fullmatch(r'(FIRST|ANY) (\d+) \((.*)\)', rows[0][0])
    if not m:
        return rows[0][0]
    names = sorted(m.group(3).split(","))
    return f"{m.group(1)} {m.group(2)} ({','.join(names)})"


def record(node):
    """The store's sync record, as @node's replica has applied it."""
    return node.api("/raft/state").json()["state"].get("sync")


def record_names(node):
    r = record(node) or {}
    return sorted((r.get("sync_standby") or "").split(",")) if r.get("sync_standby") else []


def code(node, path):
    return node.api(path).status_code


def settled_sync(c, want_ssn, want_names, want_k=None):
    """The primary runs with @want_ssn(primary, replicas) and the record lists
    @want_names(primary, replicas), as every node has applied it."""
    p = healthy(c, c.names)
    others = sorted(n.name for n in c.nodes if n is not p)

    def done():
        if ssn(p) != want_ssn(p, others):
            return False
        for n in c.nodes:
            r = record(n) or {}
            if r.get("leader") != p.name or record_names(n) != sorted(want_names(p, others)):
                return False
            if want_k is not None and r.get("k") != want_k:
                return False
        return True

    c.wait_until(done, TIMEOUT, f"synchronous settings on {p.name}")
    return p


def first(names):
    return "FIRST %d (%s)" % (len(names), ",".join(f'"{n}"' for n in names))


def insert(node, value, timeout=10):
    with psycopg.connect(node.dsn(connect_timeout=3), autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
        conn.execute("CREATE TABLE IF NOT EXISTS t (v int)")
        conn.execute("INSERT INTO t VALUES (%s)", (value,))


def sync_of(p):
    names = record_names(p)
    assert len(names) == 1, names
    return names[0]


def test_synchronous_mode_on_names_one_sync_standby(c):
    patch_config(c.nodes[0], {"synchronous_mode": True})
    # FIRST 1 of the two replicas: which one is the planner's (name order).
    p = settled_sync(c, lambda p, o: first(o[:1]), lambda p, o: o[:1], want_k=1)
    s = sync_of(p)
    a = next(n for n in c.nodes if n.name not in (p.name, s))
    c.wait_until(lambda: code(c[s], "/sync") == 200 and code(a, "/async") == 200, TIMEOUT,
                 "the health checks to follow the record")
    assert code(c[s], "/async") == 503 and code(a, "/sync") == 503
    assert code(c[s], "/read-only-sync") == 200 and code(p, "/read-only-sync") == 200
    assert c[s].api("/patroni").json().get("sync_standby") is True
    assert "sync_standby" not in a.api("/patroni").json()
    roles = {m["name"]: m["role"] for m in p.cluster()["members"]}
    assert roles == {p.name: "leader", s: "sync_standby", a.name: "replica"}, roles
    out = ok("list", "--url", p.api_url).stdout
    assert "Sync Standby" in out, out
    assert re.search(r"^patroni_sync_standby\{[^}]*\} 1(\.0)?$", c[s].api("/metrics").text, re.M)
    # Writes wait for the sync standby and go through.
    insert(p, 1)


def test_a_switchover_to_an_async_member_is_refused(c):
    p = healthy(c, c.names)
    s = sync_of(p)
    a = next(n for n in c.nodes if n.name not in (p.name, s))
    got = p.api("/switchover", method="POST", json={"leader": p.name, "candidate": a.name},
                timeout=30)
    assert got.status_code == 412, got.text
    assert "sync_standby" in got.text, got.text


def test_non_strict_replaces_a_stopped_sync_standby_and_writes_continue(c):
    p = healthy(c, c.names)
    s = c[sync_of(p)]
    a = next(n for n in c.nodes if n.name not in (p.name, s.name))
    assert s.stop() == 0
    # Out of the record first, then out of synchronous_standby_names; the
    # other replica takes its place.
    c.wait_until(lambda: record_names(p) == [a.name] and ssn(p) == first([a.name]), TIMEOUT,
                 f"{a.name} to replace {s.name}")
    insert(p, 2)
    s.start()
    healthy(c, c.names)


def restart_with_tags(c, node, tags):
    node.overrides = {"tags": tags} if tags else {}
    assert node.stop() == 0
    node.start()
    healthy(c, c.names)


def test_strict_mode_makes_commits_wait_without_a_sync_standby(c):
    # The other replica tagged nosync: once the sync standby stops, no
    # standby is eligible (stopping both agents would cost the Raft quorum).
    p = healthy(c, c.names)
    s = c[sync_of(p)]
    a = next(n for n in c.nodes if n.name not in (p.name, s.name))
    restart_with_tags(c, a, {"nosync": True})
    patch_config(c.nodes[0], {"synchronous_mode_strict": True})
    assert s.stop() == 0
    done = threading.Event()
    errors = []

    def write():
        try:
            with psycopg.connect(p.dsn(connect_timeout=3), autocommit=True) as conn:
                conn.execute("INSERT INTO t VALUES (3)")
        except psycopg.Error as e:  # reported below
            errors.append(e)
        done.set()

    # A commit may only wait: no synchronous standby is connected, and the
    # record keeps the one that left (Patroni's strict mode).
    th = threading.Thread(target=write, daemon=True)
    th.start()
    assert not done.wait(3.0), f"a commit went through with no synchronous standby {errors}"
    assert ssn(p) == first([s.name]) and record_names(p) == [s.name]
    s.start()
    assert done.wait(TIMEOUT), "the commit still waits with the synchronous standby back"
    assert not errors, errors
    healthy(c, c.names)

    # Not strict: without an eligible standby the record empties first,
    # then synchronous_standby_names, and writes go on unreplicated.
    patch_config(c.nodes[0], {"synchronous_mode_strict": None})
    assert s.stop() == 0
    c.wait_until(lambda: record_names(p) == [] and ssn(p) == "", TIMEOUT,
                 "no synchronous standby")
    insert(p, 4)
    s.start()
    restart_with_tags(c, a, None)


def failover_without_loss(c, allowed):
    """kill -9 the primary's agent and postmaster under a writer; the new
    primary is one of @allowed(old primary) and has every acknowledged write."""
    old = healthy(c, c.names)
    epoch = int(lease(old)["epoch"])
    may_win = allowed(old)
    writer = pt.Writer(c.nodes)
    writer.start()
    try:
        c.wait_until(lambda: len(writer.acked) > 20, TIMEOUT, "the writer to write")
        old.kill()
        old.kill_postmaster()
        killed_at = time.monotonic()
        new = c.wait_until(
            lambda: next((n for n in c.nodes if n is not old and pt.in_recovery(n) is False), None),
            TIMEOUT, "a new primary")
        assert new.name in may_win, (new.name, may_win)
        c.wait_until(lambda: writer.count_after(killed_at) > 5, TIMEOUT, "the writer to resume")
    finally:
        writer.stop()
    assert int(lease(new)["epoch"]) > epoch
    missing = acked_all_there(writer, new)
    assert not missing, f"acknowledged commits lost: {sorted(missing)[:20]}"
    old.start()
    c.wait_until(lambda: streaming_from(old) == new.pg_port, TIMEOUT, "the old primary to rejoin")
    return new


def test_failover_goes_to_the_sync_standby_without_losing_a_commit(c):
    p = healthy(c, c.names)
    c.wait_until(lambda: len(record_names(p)) == 1 and ssn(p) == first(record_names(p)),
                 TIMEOUT, "one synchronous standby")
    failover_without_loss(c, lambda old: record_names(old))


def test_quorum_mode_any_1_and_a_failover(c):
    patch_config(c.nodes[0], {"synchronous_mode": "quorum"})
    p = settled_sync(c, lambda p, o: "ANY 1 (%s)" % ",".join(f'"{n}"' for n in o),
                     lambda p, o: o, want_k=1)
    for n in c.nodes:
        if n is not p:
            c.wait_until(lambda: code(n, "/quorum") == 200, TIMEOUT, f"/quorum on {n.name}")
            assert code(n, "/sync") == 503 and code(n, "/async") == 503
            assert n.api("/patroni").json().get("quorum_standby") is True
    failover_without_loss(c, lambda old: [n.name for n in c.nodes if n is not old])


def test_synchronous_node_count_2(c):
    patch_config(c.nodes[0], {"synchronous_mode": True, "synchronous_node_count": 2})
    settled_sync(c, lambda p, o: first(o), lambda p, o: o, want_k=2)
    p = healthy(c, c.names)
    for n in c.nodes:
        if n is not p:
            c.wait_until(lambda: code(n, "/sync") == 200, TIMEOUT, f"/sync on {n.name}")
    insert(p, 4)
    # Off again: the record goes, and a user's synchronous_standby_names
    # (none here) comes back.
    patch_config(c.nodes[0], {"synchronous_mode": None, "synchronous_node_count": None})
    c.wait_until(lambda: record(p) is None and ssn(p) == "", TIMEOUT, "synchronous mode off")
