"""The cluster store with real agents on loopback: forming, failing over,
restarting, membership, and the state every node agrees on.

Proposals in these tests go through POST /debug/propose, which the agents
serve only with REGENT_TEST_HOOKS=1: a config_set with compare-and-set on the
version is a write whose effect is visible (config_version grows by exactly
one per applied write) and whose double application would be refused.
"""

import json
import time

import pytest

import regent_harness as rh

HOOKS = {"REGENT_TEST_HOOKS": "1"}
TIMEOUT = 30.0


def raft_state(node):
    """GET /raft/state: the node's replica of the replicated state."""
    r = node.api("/raft/state")
    r.raise_for_status()
    return r.json()


def settled(c, names=None, standbys=()):
    """Every live node sees one leader, these voters and standbys, and all members."""
    names = sorted(names or [n.name for n in c.live_nodes() if not n.witness])
    voters = sorted(set(n.name for n in c.nodes if n.alive()) - set(standbys))

    def check():
        views = [n.cluster() for n in c.live_nodes()]
        leaders = {v["raft"]["leader"] for v in views}
        return (
            len(leaders) == 1
            and None not in leaders
            and all(sorted(v["raft"]["voters"]) == voters for v in views)
            and all(sorted(v["raft"]["standbys"]) == sorted(standbys) for v in views)
            and all(sorted(m["name"] for m in v["members"]) == names for v in views)
        )

    c.wait_until(check, TIMEOUT, f"voters {voters}, standbys {list(standbys)}, members {names}")


def propose_config(node, version, config, req_id):
    """A config_set proposed through @node; returns (HTTP status, body)."""
    cmd = {
        "v": 1,
        "op": "config_set",
        "id": req_id,
        "ct": "0",
        "version": str(version),
        "config": config,
    }
    r = node.api("/debug/propose", method="POST", json=cmd, timeout=15)
    return r.status_code, r.json()


def config_of(node):
    st = raft_state(node)["state"]
    return int(st["config_version"]), st["config"]


def config_version(c):
    """The current dynamic configuration version (the bootstrap wrote one)."""
    return c.wait_until(
        lambda: config_of(c.live_nodes()[0])[0] or None, TIMEOUT, "the bootstrap configuration"
    )


def same_state_everywhere(c):
    """Every live node has applied the same entries and holds the same state."""

    def check():
        states = [raft_state(n) for n in c.live_nodes()]
        idx = {s["applied_index"] for s in states}
        docs = {json.dumps(s["state"], sort_keys=True) for s in states}
        return len(idx) == 1 and len(docs) == 1 and states[0]

    return c.wait_until(check, TIMEOUT, "every node to hold the same state at the same index")


def test_three_agents_agree_on_the_state(make_cluster):
    c = make_cluster(3, env=HOOKS)
    settled(c)
    follower = next(n for n in c.nodes if n.name != c.leader())
    v = config_version(c)
    status, body = propose_config(follower, v, {"ttl": 30}, "agree-1")
    assert status == 200, body
    assert body["result"]["code"] == 0, body

    st = same_state_everywhere(c)["state"]
    assert st["config"] == {"ttl": 30} and st["config_version"] == str(v + 1)
    assert sorted(p["name"] for p in st["peers"]) == ["node1", "node2", "node3"]
    assert sorted(m["name"] for m in st["members"]) == ["node1", "node2", "node3"]


def test_leader_killed_another_leader_and_nothing_lost(make_cluster):
    c = make_cluster(3, env=HOOKS)
    settled(c)
    old = c.leader()
    v = config_version(c)
    for i in range(5):
        status, body = propose_config(c[old], v + i, {"n": i}, f"before-{i}")
        assert status == 200 and body["result"]["code"] == 0, body

    ct_before = int(raft_state(c[old])["state"]["last_ct"])
    c[old].kill()
    t0 = time.monotonic()

    def new_leader():
        seen = set(c.leaders_seen().values())
        return len(seen) == 1 and seen.pop() not in (None, old)

    c.wait_until(new_leader, TIMEOUT, "the survivors to agree on a new leader")
    elapsed = time.monotonic() - t0
    new = c.leader()
    # A few election timeouts (500 ms each), with room for a loaded machine.
    assert elapsed < 10, f"new leader after {elapsed:.1f}s"

    # Every committed write survived on both remaining nodes.
    for n in c.live_nodes():
        c.wait_until(
            lambda n=n: config_of(n) == (v + 5, {"n": 4}), TIMEOUT, f"{n.name} to hold 5 writes"
        )
    status, body = propose_config(c[new], v + 5, {"n": 5}, "after-0")
    assert status == 200 and body["result"]["code"] == 0, body
    real_gap_ms = (time.monotonic() - t0) * 1000
    ct_gap_ms = int(raft_state(c[new])["state"]["last_ct"]) - ct_before
    # Cluster time never outruns real time, and it pauses across the
    # election: the new leader's clock started where the log left off
    # (DESIGN.md, "Cluster time"), so an election alone expires no lease.
    assert 0 <= ct_gap_ms <= real_gap_ms, (ct_gap_ms, real_gap_ms)
    assert ct_gap_ms < real_gap_ms - 300, (ct_gap_ms, real_gap_ms)

    # The old leader comes back as a follower and catches up.
    c[old].start()
    c.wait_until(
        lambda: config_of(c[old]) == (v + 6, {"n": 5}), TIMEOUT, "the old leader to catch up"
    )
    same_state_everywhere(c)


def test_stop_and_restart_all_three_keeps_the_state(make_cluster):
    c = make_cluster(3, env=HOOKS)
    settled(c)
    v = config_version(c)
    status, body = propose_config(c["node2"], v, {"kept": True}, "restart-1")
    assert status == 200 and body["result"]["code"] == 0, body
    before = same_state_everywhere(c)["state"]

    for n in c.nodes:
        assert n.stop() == 0, n.log_tail(20)
    for n in c.nodes:
        n.start()
    settled(c)
    after = same_state_everywhere(c)["state"]
    assert after["config"] == {"kept": True} and after["config_version"] == str(v + 1)
    assert after["peers"] == before["peers"]
    assert [m["name"] for m in after["members"]] == [m["name"] for m in before["members"]]
    # Cluster time never goes back across restarts.
    assert int(after["last_ct"]) >= int(before["last_ct"])
    # The Raft identities were kept: same ids, no new members.
    assert {p["id"] for p in after["peers"]} == {p["id"] for p in before["peers"]}


def test_two_agents_and_witness_keep_quorum_when_any_one_is_killed(make_cluster):
    c = make_cluster(2, witness=True, env=HOOKS)
    settled(c, names=["node1", "node2"])
    w = c["witness"]
    assert w.api("/liveness").status_code == 200
    view = w.cluster()
    assert "witness" in view["raft"]["voters"]
    # The witness is a voter, not a data member.
    assert "witness" not in [m["name"] for m in view["members"]]

    version = config_version(c)
    for victim in list(c.nodes):
        victim.kill()
        survivor = next(n for n in c.live_nodes())
        c.wait_until(
            lambda: all(n.cluster()["raft"]["leader"] not in (None, victim.name) for n in c.live_nodes()),
            TIMEOUT,
            f"a leader among the survivors of {victim.name}",
        )
        status, body = propose_config(survivor, version, {"without": victim.name}, f"q-{victim.name}")
        assert status == 200 and body["result"]["code"] == 0, body
        version += 1
        victim.start()
        settled(c, names=["node1", "node2"])


def test_fourth_agent_joins_as_standby_and_is_removed(make_cluster, make_node):
    c = make_cluster(3)
    settled(c)
    extra = make_node("node4", start=False, scope=c.scope)
    extra.partner_addrs = [n.raft_addr for n in c.nodes]
    extra.start()
    c.nodes.append(extra)
    settled(c, standbys=["node4"])

    r = c["node1"].api("/raft/members/node4", method="DELETE", timeout=15)
    assert r.status_code == 200, r.text
    c.nodes.remove(extra)
    settled(c)
    c.wait_until(
        lambda: "node4" not in [p["name"] for p in raft_state(c["node1"])["state"]["peers"]],
        TIMEOUT,
        "the peers record of node4 to be deleted",
    )
    # The removed node stopped its Raft instance and says why.
    rh.wait_until(lambda: raft_state(extra)["phase"] == "removed", TIMEOUT, "node4 to stop Raft", [extra])
    assert "no longer a member" in extra.log_tail(200)

    # Unknown members and the leader's own removal are answered, not crashed on.
    assert c["node2"].api("/raft/members/nobody", method="DELETE", timeout=15).status_code == 404


def test_invited_node_joins_through_member_add(make_cluster, make_node):
    c = make_cluster(3)
    settled(c)
    # Its only partner is an address where nobody listens: it waits, pristine.
    lonely = make_node("node4", start=False, scope=c.scope)
    lonely.partner_addrs = [f"127.0.0.1:{rh.free_port()}"]
    lonely.start()
    rh.wait_until(lambda: raft_state(lonely)["phase"] == "discovering", TIMEOUT, "node4 to wait", [lonely])

    r = c["node2"].api("/raft/members", method="POST", json={"address": lonely.raft_addr}, timeout=15)
    assert r.status_code == 202, r.text
    assert r.json()["name"] == "node4"
    c.nodes.append(lonely)
    settled(c, standbys=["node4"])
    # A member cannot be invited twice.
    r = c["node2"].api("/raft/members", method="POST", json={"address": lonely.raft_addr}, timeout=15)
    assert r.status_code == 409, r.text


@pytest.mark.parametrize("who", ["leader", "follower"])
def test_wiped_member_rejoins_under_a_new_id(make_cluster, who):
    c = make_cluster(3)
    settled(c)
    leader_name = c.leader()
    victim = next(n for n in c.nodes if (n.name == leader_name) == (who == "leader"))
    old_id = raft_state(victim)["raft_id"]
    victim.stop()
    rh_dir = victim.dir / "raft"
    for f in rh_dir.iterdir():
        f.unlink()
    victim.start()
    settled(c)

    new_id = raft_state(victim)["raft_id"]
    assert new_id != old_id
    leader = c[c.leader()]

    def old_identity_gone():
        peers = raft_state(leader)["state"]["peers"]
        ids = {format(int(p["id"]), "x") for p in peers}
        return old_id not in ids and new_id in ids

    c.wait_until(old_identity_gone, TIMEOUT, "the old Raft id to leave the peers records")
    # Whichever node led Raft then says why it removed the old identity.
    assert any("rejoins under a new identity" in n.log_tail(1000) for n in c.nodes)


def test_forwarded_proposal_retried_after_timeout_is_applied_once(make_cluster):
    env = dict(HOOKS, REGENT_TEST_FAULT="delay-forward-reply:fault-")
    c = make_cluster(3, env=env)
    settled(c)
    leader = c.leader()
    follower = next(n for n in c.nodes if n.name != leader)

    v = config_version(c)
    status, body = propose_config(follower, v, {"once": True}, "fault-1")
    # Without the dedup ring the retry would be refused ("version mismatch")
    # although the first attempt had applied.
    assert status == 200, body
    assert body["result"]["code"] == 0, body
    assert body["result"]["reason"] == "duplicate request id", body
    assert "test fault: delaying the reply" in c[leader].log_tail(200)
    for n in c.nodes:
        c.wait_until(
            lambda n=n: config_of(n) == (v + 1, {"once": True}), TIMEOUT, f"{n.name}: one write"
        )


def test_snapshots_restore_on_restart_and_install_on_a_new_member(make_cluster, make_node):
    small = {"raft": {"snapshot_threshold": 16, "snapshot_trailing": 4}}
    c = make_cluster(3, env=HOOKS, overrides=small)
    settled(c)
    leader = c[c.leader()]
    v = config_version(c)
    for i in range(60):
        status, body = propose_config(leader, v + i, {"i": i}, f"snap-{i}")
        assert status == 200 and body["result"]["code"] == 0, body
    same_state_everywhere(c)
    for n in c.nodes:
        snaps = [p.name for p in (n.dir / "raft").iterdir() if p.name.startswith("snapshot-")]
        assert snaps, f"{n.name} took no snapshot"

    # A restart loads the snapshot and the entries after it.
    follower = next(n for n in c.nodes if n is not leader)
    follower.restart()
    c.wait_until(
        lambda: config_of(follower) == (v + 60, {"i": 59}), TIMEOUT, "the restarted node's state"
    )

    # A new member is far behind the log's start: it gets the snapshot.
    extra = make_node("node4", start=False, scope=c.scope, env=HOOKS, overrides=small)
    extra.partner_addrs = [n.raft_addr for n in c.nodes]
    extra.start()
    c.nodes.append(extra)
    settled(c, standbys=["node4"])
    same_state_everywhere(c)
    assert config_of(extra) == (v + 60, {"i": 59})


def test_two_agents_without_a_witness_keep_one_voter(make_cluster):
    c = make_cluster(2)
    c.wait_until(
        lambda: all(
            len(n.cluster()["raft"]["voters"]) == 1 and len(n.cluster()["raft"]["standbys"]) == 1
            for n in c.nodes
        ),
        TIMEOUT,
        "one voter and one standby",
    )
    leader = c[c.leader()]
    c.wait_until(
        lambda: "waiting for another before promoting" in leader.log_tail(50),
        TIMEOUT,
        "the leader to say why it does not promote",
    )
    # Having said so, it still holds back.
    for n in c.nodes:
        assert len(n.cluster()["raft"]["voters"]) == 1


def test_a_second_process_with_a_live_members_name_refuses_to_start(make_cluster, make_node):
    c = make_cluster(3)
    settled(c)
    holder = rh.wait_until(
        lambda: c.nodes[0].api("/raft/state").json()["state"]["lease"]["holder"],
        TIMEOUT,
        "a lease holder",
        c.nodes,
    )
    other = next(n.name for n in c.nodes if n.name != holder)
    # The lease holder's name too: its join is otherwise one that waits for
    # the lease to expire, and a twin must not wait for that.
    for name in (holder, other):
        twin = make_node(name, start=False, scope=c.scope)
        twin.partner_addrs = [n.raft_addr for n in c.nodes]
        twin.start()
        rh.wait_until(lambda: not twin.alive(), TIMEOUT, f"the twin of {name} to refuse and exit", [])
        assert twin.proc.returncode == 1
        assert "is already used by a live node" in twin.log_tail(50)
    # The real members are untouched.
    settled(c)
    assert c.nodes[0].api("/raft/state").json()["state"]["lease"]["holder"] == holder
