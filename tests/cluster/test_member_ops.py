"""What an operator asks of one member over REST, with real PostgreSQL:
POST/DELETE /restart (immediate, with conditions, scheduled), POST /reload
and POST /reinitialize, their refusals, and what each leaves behind.

One two-member cluster serves every test of the module; each test starts
from a primary and a streaming replica and leaves them so.
"""

import datetime
import json
import time

import pytest

import pg_tools as pt
from test_ctl import ok
from test_ha import TIMEOUT, lease, primaries, streaming_from
from test_mgmt import post, settled


@pytest.fixture(scope="module")
def pair(request, tmp_path_factory):
    import conftest
    import regent_harness as rh

    c = rh.Cluster(tmp_path_factory.mktemp("pair"), n=2)
    request.node._regent_nodes = list(c.nodes)
    c.start()
    yield c
    c.stop()
    conftest._check_sanitizers(c.nodes)


def roles(c):
    p = settled(c)
    r = next(n for n in c.nodes if n is not p)
    return p, r


def pg_version(node):
    return pt.query(node, "SHOW server_version_num")[0][0]


def test_restart_of_each_role_and_its_conditions(pair):
    p, r = roles(pair)
    epoch = lease(p)["epoch"]
    version = int(pg_version(p))
    # Conditions that do not hold: 503, nothing restarted.
    before = {n.name: n.postmaster_pid() for n in pair.nodes}
    for node, body in [
        (r, {"role": "primary"}),
        (p, {"role": "replica"}),
        (p, {"postgres_version": "15.0"}),  # the running one is not older
        (p, {"restart_pending": True}),  # nothing pending
    ]:
        got = post(node, "/restart", body)
        assert got.status_code == 503, (body, got.text)
        assert got.text.startswith("restart conditions are not satisfied"), got.text
    for body, code in [
        ({"role": "leader-ish"}, 400),
        ({"postgres_version": "fifteen"}, 400),
        ({"timeout": -1}, 400),
        ({"bogus": 1}, 400),
        ({"schedule": "2030-01-01T00:00:00"}, 400),
        ({"schedule": "2001-01-01T00:00:00Z"}, 422),
        ({"schedule": "whenever"}, 422),
    ]:
        got = post(p, "/restart", body)
        assert got.status_code == code, (body, got.text)
    assert {n.name: n.postmaster_pid() for n in pair.nodes} == before
    assert post(p, "/restart", "not an object").status_code == 400

    # The replica, then the primary: each comes back in its role, and the
    # primary keeps its lease (no failover).
    for node, role in [(r, "replica"), (p, "primary")]:
        old_pid = node.postmaster_pid()
        got = post(node, "/restart", {"role": role, "postgres_version": f"{version // 10000 + 1}.0"})
        assert (got.status_code, got.text) == (200, "restarted successfully")
        assert node.postmaster_pid() not in (None, old_pid)
        assert pt.in_recovery(node) is (role == "replica")
    assert lease(p)["epoch"] == epoch and lease(p)["holder"] == p.name
    pair.wait_until(lambda: streaming_from(r) == p.pg_port, TIMEOUT, "the replica to stream again")
    assert [n.name for n in primaries(pair)] == [p.name]


def test_a_scheduled_restart_is_published_runs_once_and_can_be_deleted(pair):
    p, r = roles(pair)
    far = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)).isoformat()
    assert (post(r, "/restart", {"schedule": far}).status_code) == 202
    got = post(r, "/restart", {"schedule": far})
    assert (got.status_code, got.text) == (409, "Failed: another restart is already scheduled")
    assert r.api("/patroni").json()["scheduled_restart"]["schedule"] == far
    pair.wait_until(
        lambda: {m["name"]: m.get("scheduled_restart") for m in p.cluster()["members"]}[r.name]
        == {"schedule": far},
        TIMEOUT,
        "the schedule in the members record",
    )
    got = r.api("/restart", method="DELETE")
    assert (got.status_code, got.text) == (200, "scheduled restart deleted")
    got = r.api("/restart", method="DELETE")
    assert (got.status_code, got.text) == (404, "no restarts are scheduled")
    assert "scheduled_restart" not in r.api("/patroni").json()

    old_pid = r.postmaster_pid()
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    got = post(r, "/restart", {"schedule": soon.isoformat()})
    assert (got.status_code, got.text) == (202, "Restart scheduled")
    assert r.postmaster_pid() == old_pid, "not before its time"
    pair.wait_until(
        lambda: r.postmaster_pid() not in (None, old_pid) and pt.in_recovery(r) is True,
        TIMEOUT,
        "the scheduled restart",
    )
    assert datetime.datetime.now(datetime.timezone.utc) >= soon
    pair.wait_until(lambda: "scheduled_restart" not in r.api("/patroni").json(), TIMEOUT,
                    "the schedule to be gone")
    pair.wait_until(lambda: streaming_from(r) == p.pg_port, TIMEOUT, "the replica to stream again")


def test_reload_rereads_the_file(pair):
    p, r = roles(pair)
    r.overrides = {"tags": {"reloaded": "yes"}}
    r.write_config()
    got = post(r, "/reload", None)
    assert (got.status_code, got.text) == (202, "reload scheduled")
    out = ok("--url", p.api_url, "reload", "test", r.name, "--force").stdout
    assert f"Reload request received for member {r.name}" in out, out
    pair.wait_until(
        lambda: {m["name"]: m.get("tags", {}) for m in p.cluster()["members"]}[r.name].get("reloaded")
        == "yes",
        TIMEOUT,
        "the new tag in the record",
    )
    assert "configuration reloaded" in r.log_tail(100)
    r.overrides = {}
    r.write_config()
    post(r, "/reload", None)


def test_reinitialize_a_replica_and_not_the_leader(pair):
    p, r = roles(pair)
    got = post(p, "/reinitialize", {})
    assert (got.status_code, got.text) == (503, "I am the leader, can not reinitialize")
    assert post(r, "/reinitialize", {"force": "yes"}).status_code == 400
    # A row only the replica has: a fresh copy of the primary cannot have it.
    marker = r.dir / "data" / "reinit-marker"
    pt.query(p, "CREATE TABLE IF NOT EXISTS reinit_probe (x int)")
    pair.wait_until(lambda: streaming_from(r) == p.pg_port, TIMEOUT, "streaming")
    marker.write_text("old copy")
    old_pid = r.postmaster_pid()
    # regentctl reinit --wait: it returns once the clone is done.
    ok("--url", p.api_url, "reinit", "test", r.name, "--from-leader", "--force", "--wait")
    assert r.api("/patroni").json()["state"] != "creating replica"
    pair.wait_until(
        lambda: not marker.exists() and streaming_from(r) == p.pg_port
        and "reinitialize: done" in r.log_tail(200),
        TIMEOUT,
        "the replica to be cloned again and stream",
    )
    assert r.postmaster_pid() != old_pid
    assert pt.query(r, "SELECT count(*) FROM reinit_probe")[0][0] == 0


def show(node, name):
    return pt.query(node, f"SHOW {name}")[0][0]


def pending(node):
    doc = node.api("/patroni").json()
    return doc.get("pending_restart_reason") if doc.get("pending_restart") else None


def test_dynamic_parameters_reload_or_wait_for_a_restart_in_either_order(pair):
    p, r = roles(pair)
    conns = int(show(p, "max_connections"))
    # regentctl edit-config: one reloadable parameter, one that needs a restart.
    out = ok("--url", p.api_url, "edit-config", "-p", "work_mem=8MB",
             "-p", f"max_connections={conns + 20}", "--force").stdout
    assert "Configuration changed" in out, out
    # Reloadable: every member takes it without a restart.
    pids = {n.name: n.postmaster_pid() for n in pair.nodes}
    pair.wait_until(lambda: all(show(n, "work_mem") == "8MB" for n in pair.nodes), TIMEOUT,
                    "work_mem everywhere")
    # A restart is pending on both, with the reason, in /patroni and /cluster.
    want = {"max_connections": {"old_value": str(conns), "new_value": str(conns + 20)}}
    pair.wait_until(lambda: all(pending(n) == want for n in pair.nodes), TIMEOUT,
                    "max_connections pending on both")
    pair.wait_until(
        lambda: all(m.get("pending_restart") is True for m in p.cluster()["members"]),
        TIMEOUT,
        "pending_restart in the members records",
    )
    assert {n.name: n.postmaster_pid() for n in pair.nodes} == pids

    # regentctl list shows it (asked of the replica, whose copy of the store
    # may apply the members records a moment after the primary's did).
    def listed():
        out = ok("--url", r.api_url, "list", "-f", "json").stdout
        return {m["Member"]: m for m in json.loads(out)}

    pair.wait_until(lambda: all("Pending restart" in m for m in listed().values()), TIMEOUT,
                    "regentctl list to show the pending restarts")
    rows = listed()
    for n in pair.nodes:
        assert rows[n.name]["Pending restart"] == "*", rows
        assert rows[n.name]["Pending restart reason"] == f"max_connections: {conns}->{conns + 20}"

    # The primary first — the order PostgreSQL does not allow for an
    # increase: the replica, outgrown, restarts by itself.
    out = ok("--url", r.api_url, "restart", "test", p.name, "--pending", "--force").stdout
    assert f"Success: restart on member {p.name}" in out, out
    assert show(p, "max_connections") == str(conns + 20)
    pair.wait_until(lambda: pending(p) is None, TIMEOUT, "the primary's pending restart to clear")
    pair.wait_until(lambda: pt.try_query(r, "SHOW max_connections") == [(str(conns + 20),)],
                    TIMEOUT, "the replica to restart with the primary's value")
    assert r.postmaster_pid() != pids[r.name]
    assert "higher hot-standby settings" in r.log_tail(300)
    pair.wait_until(lambda: pending(r) is None and streaming_from(r) == p.pg_port, TIMEOUT,
                    "the replica to stream, nothing pending")
    pair.wait_until(lambda: all("Pending restart" not in m for m in listed().values()), TIMEOUT,
                    "regentctl list to show nothing pending")

    # Back down: the replica may not go below the primary, so only the
    # primary is pending at first; once it has restarted, the replica is.
    got = p.api("/config", method="PATCH",
                json={"postgresql": {"parameters": {"work_mem": None, "max_connections": conns}}})
    assert got.status_code == 200, got.text
    pair.wait_until(lambda: pending(p) is not None, TIMEOUT, "the primary to be pending")
    assert pending(r) is None
    assert post(r, "/restart", {}).status_code == 200  # the replica first: it keeps the higher value
    assert show(r, "max_connections") == str(conns + 20)
    assert post(p, "/restart", {}).status_code == 200
    assert show(p, "max_connections") == str(conns)
    pair.wait_until(lambda: pending(r) is not None, TIMEOUT, "the replica to be pending now")
    assert post(r, "/restart", {"restart_pending": True}).status_code == 200
    assert show(r, "max_connections") == str(conns)
    assert all(show(n, "work_mem") == "4MB" for n in pair.nodes)
    pair.wait_until(lambda: all(pending(n) is None for n in pair.nodes) and streaming_from(r) == p.pg_port,
                    TIMEOUT, "nothing pending, streaming")
