"""The dynamic configuration over REST (GET, PATCH and PUT /config) and
GET /metrics, with real agents: one PostgreSQL member and a witness, shared
by every test of the module (the witness is started first, so that its
answer before the cluster has a configuration can be seen).

The configuration lives in the store's config record, seeded from the
member's bootstrap.dcs when it bootstraps; writes are compare-and-set on the
record's version, which GET shows as its ETag. Each test reads the version
it starts from and leaves the document as it found it.
"""

import json

import prometheus_client.parser
import pytest
import requests

import conftest
import pg_tools as pt
import regent_harness as rh

TIMEOUT = 60.0
WRITE_TIMEOUT = 15.0  # the agent gives a write 10 s to reach the Raft leader
CONFLICT = "Config modification aborted due to concurrent changes"
SECRET = "do-not-show-this-7f3a"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, regent_build):
    c = rh.Cluster(tmp_path_factory.mktemp("config"), n=1, witness=True)
    node, witness = c["node1"], c["witness"]
    try:
        witness.start()
        rh.wait_until(lambda: witness.api("/liveness").status_code == 200, TIMEOUT,
                      "the witness's REST API", [witness])
        before = witness.api("/config")
        node.start()
        pt.wait_for_primary(c, [node], timeout=TIMEOUT * 1.5)
        c.wait_until(lambda: all(n.api("/config").status_code == 200 for n in c.nodes), TIMEOUT,
                     "every node to have the dynamic configuration")
        c.before = before
        yield c
    finally:
        c.stop()
    conftest._check_sanitizers(c.nodes)


@pytest.fixture(autouse=True)
def _settled(request, cluster):
    # conftest attaches these nodes' logs to the report of a failed test.
    request.node._regent_nodes = list(cluster.nodes)
    # Each test starts where every node's replica shows the same document
    # (the last test's writes reach the other node a heartbeat later).
    cluster.wait_until(lambda: len({n.api("/config").headers.get("ETag") for n in cluster.nodes})
                       == 1, TIMEOUT, "every node to show the same config version")


# --------------------------------------------------------------------------
# Helpers


def get(node):
    """GET /config: (document, version), asserting a 200 with an ETag."""
    r = node.api("/config")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json(), etag(r)


def etag(r):
    tag = r.headers["ETag"]
    assert tag.startswith('"') and tag.endswith('"'), tag
    return int(tag[1:-1])


def write(node, method, body, if_match=None, raw=None):
    headers = {} if if_match is None else {"If-Match": if_match}
    if raw is not None:
        headers["Content-Type"] = "application/json"
        return requests.request(method, node.api_url + "/config", data=raw, headers=headers,
                                timeout=WRITE_TIMEOUT)
    return requests.request(method, node.api_url + "/config", json=body, headers=headers,
                            timeout=WRITE_TIMEOUT)


def patch(node, body, **kw):
    return write(node, "PATCH", body, **kw)


def put(node, body, **kw):
    return write(node, "PUT", body, **kw)


def raft_leader(c):
    return c[c.leader()]


def not_raft_leader(c):
    leader = c.leader()
    return next(n for n in c.nodes if n.name != leader)


def same_everywhere(c, version):
    """Wait until every node shows @version; returns the document."""
    def check():
        seen = [get(n) for n in c.nodes]
        return seen[0][0] if all(v == version for _, v in seen) and all(
            d == seen[0][0] for d, _ in seen) else None
    return c.wait_until(check, TIMEOUT, f"every node to show config version {version}")


# --------------------------------------------------------------------------
# GET


def test_no_configuration_before_the_cluster_is_bootstrapped(cluster):
    assert cluster.before.status_code == 502
    assert cluster.before.text == "no dynamic configuration"
    assert "ETag" not in cluster.before.headers


def test_get_shows_the_seeded_document_and_its_version(cluster):
    node = cluster["node1"]
    doc, version = get(node)
    # The harness's bootstrap.dcs, with the effective lease settings.
    assert doc["postgresql"]["parameters"]["max_connections"] == 30
    assert doc["postgresql"]["use_pg_rewind"] is True
    assert doc["ttl"] == 2.5 and doc["loop_wait"] == 1 and doc["retry_timeout"] == 0.5
    state = node.api("/raft/state").json()["state"]
    assert int(state["config_version"]) == version >= 1
    assert state["config"] == doc


def test_the_witness_serves_the_same_configuration(cluster):
    doc, version = get(cluster["node1"])
    assert same_everywhere(cluster, version) == doc
    r = cluster["witness"].api("/config", method="HEAD")
    assert r.status_code == 200 and etag(r) == version


# --------------------------------------------------------------------------
# PATCH


def test_patch_merges_nested_keys_and_null_deletes(cluster):
    node = cluster["node1"]
    doc, v = get(node)
    r = patch(node, {"postgresql": {"parameters": {"work_mem": "8MB"}}})
    assert r.status_code == 200, r.text
    assert etag(r) == v + 1
    merged = r.json()
    # Only the named key changed: its neighbours and the section's other keys stay.
    expected = json.loads(json.dumps(doc))
    expected["postgresql"]["parameters"]["work_mem"] = "8MB"
    assert merged == expected
    assert get(node) == (expected, v + 1)

    r = patch(node, {"postgresql": {"parameters": {"work_mem": None}}})
    assert r.status_code == 200, r.text
    assert etag(r) == v + 2
    assert r.json() == doc
    assert get(node) == (doc, v + 2)


@pytest.mark.parametrize(
    "body, message",
    [
        ({"ttl": "30"}, "ttl: must be a number of seconds"),
        ({"ttl": 0.2}, "ttl: must be between 1 and 3600 seconds"),
        ({"check_timeline": "yes"}, "check_timeline: must be true or false"),
        ({"pause": "yes"}, "pause: must be true or false"),
        ({"postgresql": {"parameters": {"max_connections": "lots"}}},
         "postgresql.parameters.max_connections: must be an integer"),
        ({"postgresql": {"parameters": {"work_mem": "1MB\nfsync = off"}}},
         "postgresql.parameters.work_mem: must not contain a line break"),
        ({"postgresql": {"use_slots": "on"}}, "postgresql.use_slots: must be true or false"),
        ({"synchronus_mode": True}, "synchronus_mode: unknown key"),
        ({"loop_wait": 2, "retry_timeout": 1},
         "ttl: loop_wait + 2 x retry_timeout (2 + 2 x 1 = 4 s) must not exceed ttl (2.5 s)"),
    ],
    ids=["ttl-string", "ttl-range", "check-timeline", "pause", "max-connections",
         "line-break", "use-slots", "unknown-key", "loop-wait-relation"],
)
def test_invalid_values_answer_400_naming_the_field_and_change_nothing(cluster, body, message):
    node = not_raft_leader(cluster)
    before = get(node)
    r = patch(node, body)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text == message
    assert get(node) == before
    r = put(node, {**before[0], **body})
    assert (r.status_code, r.text) == (400, message)
    assert get(node) == before


@pytest.mark.parametrize(
    "raw, message",
    [
        ("", "request body is empty: a JSON object is expected"),
        ("{\"ttl\": ", "request body is not JSON"),
        ("[1, 2]", "request body is not a JSON object"),
        ("{}", "request body is an empty JSON object"),
        ("{\"ttl\": 30} trailing", "request body is not JSON"),
    ],
    ids=["empty", "truncated", "array", "empty-object", "trailing"],
)
def test_bodies_that_are_not_a_json_object_are_refused(cluster, raw, message):
    node = cluster["node1"]
    before = get(node)
    for method in ("PATCH", "PUT"):
        r = write(node, method, None, raw=raw)
        assert (r.status_code, r.text) == (400, message), method
    assert get(node) == before


def test_timing_relation_accepts_its_boundary(cluster):
    node = cluster["node1"]
    doc, v = get(node)
    assert doc["ttl"] == 2.5
    # 0.5 + 2 x 1 = 2.5: exactly the ttl is allowed.
    r = patch(node, {"loop_wait": 0.5, "retry_timeout": 1})
    assert r.status_code == 200, r.text
    assert etag(r) == v + 1
    r = patch(node, {"loop_wait": doc["loop_wait"], "retry_timeout": doc["retry_timeout"]})
    assert r.status_code == 200, r.text
    assert get(node) == (doc, v + 2)


def test_if_match_is_compare_and_set(cluster):
    node = cluster["node1"]
    doc, v = get(node)
    stale = f'"{v - 1}"'
    r = patch(node, {"postgresql": {"parameters": {"work_mem": "2MB"}}}, if_match=stale)
    assert (r.status_code, r.text) == (409, CONFLICT)
    assert get(node) == (doc, v)

    r = patch(node, {"postgresql": {"parameters": {"work_mem": "2MB"}}}, if_match=f'"{v}"')
    assert r.status_code == 200, r.text
    assert etag(r) == v + 1
    # The same tag again is stale now, for PUT too.
    r = put(node, doc, if_match=f'"{v}"')
    assert (r.status_code, r.text) == (409, CONFLICT)
    r = patch(node, {"postgresql": {"parameters": {"work_mem": None}}}, if_match="nonsense")
    assert r.status_code == 400 and r.text.startswith("If-Match: ")
    r = put(node, doc, if_match=f'"{v + 1}"')
    assert r.status_code == 200, r.text
    assert get(node) == (doc, v + 2)


def test_a_write_sent_to_a_node_that_does_not_lead_raft_lands(cluster):
    follower, leader = not_raft_leader(cluster), raft_leader(cluster)
    doc, v = get(follower)
    r = patch(follower, {"postgresql": {"parameters": {"temp_buffers": "16MB"}}})
    assert r.status_code == 200, r.text
    assert etag(r) == v + 1
    assert same_everywhere(cluster, v + 1)["postgresql"]["parameters"]["temp_buffers"] == "16MB"
    # Back to back through both nodes, without If-Match: the second is based
    # on whatever the first left, even where it has not applied yet.
    r1 = patch(leader, {"postgresql": {"parameters": {"temp_buffers": None, "jit": False}}})
    r2 = patch(follower, {"postgresql": {"parameters": {"jit": None}}})
    assert (r1.status_code, r2.status_code) == (200, 200), (r1.text, r2.text)
    assert (etag(r1), etag(r2)) == (v + 2, v + 3)
    assert same_everywhere(cluster, v + 3) == doc


def test_pause_and_resume(cluster):
    node = cluster["node1"]
    doc, v = get(node)
    r = patch(node, {"pause": True})
    assert r.status_code == 200, r.text
    assert r.json()["pause"] is True
    cluster.wait_until(lambda: node.cluster().get("pause") is True, TIMEOUT,
                       "GET /cluster to say the cluster is paused")
    r = patch(node, {"pause": None})
    assert r.status_code == 200, r.text
    assert "pause" not in r.json()
    assert get(node) == (doc, v + 2)
    cluster.wait_until(lambda: "pause" not in node.cluster(), TIMEOUT,
                       "GET /cluster to say the cluster runs again")


# --------------------------------------------------------------------------
# PUT and secrets


def test_put_replaces_the_document_and_an_identical_put_writes_nothing(cluster):
    node = not_raft_leader(cluster)
    doc, v = get(node)
    r = put(node, doc)
    assert r.status_code == 200, r.text
    assert (r.json(), etag(r)) == (doc, v)
    assert get(node) == (doc, v)

    smaller = {k: val for k, val in doc.items() if k != "maximum_lag_on_failover"}
    smaller["check_timeline"] = False
    r = put(node, smaller)
    assert r.status_code == 200, r.text
    assert (r.json(), etag(r)) == (smaller, v + 1)
    assert same_everywhere(cluster, v + 1) == smaller

    r = put(node, doc)
    assert r.status_code == 200, r.text
    assert get(node) == (doc, v + 2)


def test_secrets_are_masked_and_a_round_trip_keeps_them(cluster):
    node, witness = cluster["node1"], cluster["witness"]
    doc, v = get(node)
    # Keys of the local postgresql section are accepted (and ignored by the
    # agents, which read them from their files): a place a password can be.
    secret = {"postgresql": {"authentication": {"rewind": {"username": "rw",
                                                           "password": SECRET}}}}
    r = patch(node, secret)
    assert r.status_code == 200, r.text
    assert SECRET not in r.text
    assert r.json()["postgresql"]["authentication"]["rewind"] == {"username": "rw",
                                                                  "password": "******"}
    shown, v1 = get(node)
    assert v1 == v + 1
    assert shown["postgresql"]["authentication"]["rewind"]["password"] == "******"
    for n in cluster.nodes:
        cluster.wait_until(lambda: n.api("/config").headers.get("ETag") == f'"{v1}"', TIMEOUT,
                           f"{n.name} to show version {v1}")
        for path in ("/config", "/raft/state"):
            assert SECRET not in n.api(path).text, (n.name, path)
    # What GET showed, sent back whole: the stored secret is kept, so the
    # document is unchanged and nothing is written.
    r = put(witness, shown)
    assert r.status_code == 200, r.text
    assert etag(r) == v1
    # A masked value where nothing is stored is refused.
    r = patch(node, {"postgresql": {"authentication": {"superuser": {"password": "******"}}}})
    assert r.status_code == 400
    assert r.text.startswith("postgresql.authentication.superuser.password: ")

    r = patch(node, {"postgresql": {"authentication": None}})
    assert r.status_code == 200, r.text
    assert get(node) == (doc, v1 + 1)
    for n in cluster.nodes:
        assert SECRET not in n.log_tail(2000)


# --------------------------------------------------------------------------
# GET /metrics


PATRONI_METRICS = {
    "patroni_version": "gauge",
    "patroni_postgres_running": "gauge",
    "patroni_postmaster_start_time": "gauge",
    "patroni_master": "gauge",
    "patroni_primary": "gauge",
    "patroni_xlog_location": "counter",
    "patroni_standby_leader": "gauge",
    "patroni_replica": "gauge",
    "patroni_sync_standby": "gauge",
    "patroni_quorum_standby": "gauge",
    "patroni_xlog_received_location": "counter",
    "patroni_xlog_replayed_location": "counter",
    "patroni_xlog_replayed_timestamp": "gauge",
    "patroni_xlog_paused": "gauge",
    "patroni_postgres_streaming": "gauge",
    "patroni_postgres_in_archive_recovery": "gauge",
    "patroni_postgres_server_version": "gauge",
    "patroni_cluster_unlocked": "gauge",
    "patroni_failsafe_mode_is_active": "gauge",
    "patroni_postgres_timeline": "gauge",
    "patroni_dcs_last_seen": "gauge",
    "patroni_pending_restart": "gauge",
    "patroni_is_paused": "gauge",
    "patroni_postgres_state": "gauge",
}
REGENT_METRICS = {
    "regent_raft_term": "gauge",
    "regent_raft_commit_index": "gauge",
    "regent_raft_applied_index": "gauge",
    "regent_lease_epoch": "gauge",
    "regent_failovers_total": "counter",
}


def test_metrics_parse_as_prometheus_text_with_patronis_names(cluster):
    node = cluster["node1"]
    r = node.api("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = r.text
    families = {f.name: f for f in prometheus_client.parser.text_string_to_metric_families(text)}
    # The parser names a counter's family without its _total suffix (and
    # its samples with one): key the families by the names on the TYPE lines.
    families = {(n + "_total" if f.type == "counter" and f"# TYPE {n}_total " in text else n): f
                for n, f in families.items()}
    for name, typ in {**PATRONI_METRICS, **REGENT_METRICS}.items():
        assert name in families, name
        f = families[name]
        assert f.type == typ, name
        assert len(f.samples) == 1, name
        assert f.samples[0].labels == {"scope": "test", "name": "node1"}, name
        # One HELP and one TYPE line each.
        assert text.count(f"# HELP {name} ") == 1 and text.count(f"# TYPE {name} ") == 1, name

    def v(name):
        return families[name].samples[0].value

    # The same facts as GET /patroni and GET /cluster.
    status = node.api("/patroni").json()
    assert v("patroni_primary") == v("patroni_master") == 1
    assert v("patroni_replica") == 0
    assert v("patroni_postgres_running") == 1
    assert v("patroni_postgres_state") == 5
    assert v("patroni_postgres_server_version") == status["server_version"]
    assert v("patroni_postgres_timeline") == status["timeline"]
    assert v("patroni_xlog_location") > 0
    raft = node.cluster()["raft"]
    assert 1 <= v("regent_raft_term") <= raft["term"]
    assert v("regent_raft_applied_index") <= v("regent_raft_commit_index")
    assert v("regent_lease_epoch") >= 1
    history = node.api("/history").json()
    assert v("regent_failovers_total") == len(history)
    # The last change of primary's measured duration, when it has one.
    last = history[-1] if history else []
    if len(last) >= 6 and isinstance(last[5], dict) and "unavailable_ms" in last[5]:
        assert v("regent_last_failover_seconds") == last[5]["unavailable_ms"] / 1000
    else:
        assert "regent_last_failover_seconds" not in families


def test_metrics_are_an_agents_endpoint(cluster):
    assert cluster["witness"].api("/metrics").status_code == 404
