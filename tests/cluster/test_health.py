"""Patroni's health checks (spec/patroni-compat.md 1.2, 1.3) answered by real
agents: a three-node PostgreSQL cluster, plus a fourth node with tags or a
fourth node whose PostgreSQL cannot start; then a replica whose replay is
paused (lag), and a replica cut off from the store (no DCS view).

Each role has its column in HEALTH below, worked out from the spec's rules:

- primary_ok: holds the lease (L) in a cluster that is not a standby
  cluster. / /primary /master /read-write /leader, and /read-only,
  /read-only-sync, /read-only-quorum (primary_ok is enough for those).
- replica_ok: running, role replica, no noloadbalance tag, not lagging
  (only with ?lag=), ?replication_state= equal when given. /replica,
  /read-only, /async (synchronous_mode is off here, so no node is sync or
  quorum: /sync /synchronous /quorum fail everywhere, /async passes on every
  healthy replica and never on a primary, which is not a replica).
- /health: PostgreSQL running, any role. /standby-leader: never outside a
  standby cluster.
- tag_<key>=<value>: checked only when the answer would otherwise be 200,
  never on leader-style paths (/, /primary, /leader, …), also on the
  primary for /read-only. Values render as Python's str(v).lower() for
  non-strings; false predefined tags do not exist; a parameter without a
  value is ignored (parse_qs).

GET answers with the node status document (the /patroni shape) and the
code; HEAD and OPTIONS with the code alone and no body. HEAD and OPTIONS are
sent here as HAProxy's httpchk sends them: one HTTP/1.0 request per
connection.
"""

import re
import socket
import time

import pg_tools
import regent_harness as rh

TIMEOUT = 90.0

# Tags of the three cluster nodes and of the tagged fourth node. YAML
# types matter: rack is an integer and ssd a boolean, so Patroni renders
# them as "1" and "true".
CLUSTER_TAGS = {"dc": "east"}
TAGGED_TAGS = {"nofailover": True, "noloadbalance": True, "dc": "west", "rack": 1, "ssd": True}

P, R, T, D = "primary", "replica", "tagged", "down"

# path -> expected status on: the primary, a streaming replica, the tagged
# replica (nofailover, noloadbalance), a node whose PostgreSQL is down.
# None: checked separately (see test_streaming_replica_passes_lag_zero...).
HEALTH = {
    # primary_ok
    "/": (200, 503, 503, 503),
    "/primary": (200, 503, 503, 503),
    "/master": (200, 503, 503, 503),
    "/read-write": (200, 503, 503, 503),
    # leader_ok: the lease, standby leader or not
    "/leader": (200, 503, 503, 503),
    # standby_leader_ok: never outside a standby cluster
    "/standby-leader": (503, 503, 503, 503),
    "/standby_leader": (503, 503, 503, 503),
    # replica_ok
    "/replica": (503, 200, 503, 503),
    "/replica?lag=1MB": (503, 200, 503, 503),
    "/replica?lag=0": (503, None, 503, 503),
    "/replica?lag=16kB": (503, 200, 503, 503),
    "/replica?lag=1073741824": (503, 200, 503, 503),
    "/replica?lag=not-a-size": (503, 200, 503, 503),  # unparsable: no limit
    "/replica?replication_state=streaming": (503, 200, 503, 503),
    "/replica?replication_state=in+archive+recovery": (503, 503, 503, 503),
    # primary_ok or replica_ok
    "/read-only": (200, 200, 503, 503),
    "/read-only?lag=1MB": (200, 200, 503, 503),
    # running, any role
    "/health": (200, 200, 200, 503),
    # synchronous_mode is off: nobody is sync or quorum
    "/sync": (503, 503, 503, 503),
    "/synchronous": (503, 503, 503, 503),
    "/quorum": (503, 503, 503, 503),
    "/async": (503, 200, 503, 503),
    "/asynchronous": (503, 200, 503, 503),
    "/async?lag=1MB": (503, 200, 503, 503),
    "/read-only-sync": (200, 503, 503, 503),
    "/read-only-synchronous": (200, 503, 503, 503),
    "/read-only-quorum": (200, 503, 503, 503),
    # tag filters: ignored by leader-style paths
    "/primary?tag_dc=nowhere": (200, 503, 503, 503),
    "/?tag_dc=nowhere": (200, 503, 503, 503),
    "/leader?tag_nofailover=true": (200, 503, 503, 503),
    # ... applied to every other one, to the primary too
    "/read-only?tag_dc=east": (200, 200, 503, 503),
    "/read-only?tag_dc=west": (503, 503, 503, 503),
    "/replica?tag_dc=east": (503, 200, 503, 503),
    "/replica?tag_dc=west": (503, 503, 503, 503),
    "/async?tag_dc=east": (503, 200, 503, 503),
    "/health?tag_dc=east": (200, 200, 503, 503),
    "/health?tag_dc=west": (503, 503, 200, 503),
    "/health?tag_DC=west": (503, 503, 503, 503),  # keys are case-sensitive
    "/health?tag_dc=": (200, 200, 200, 503),  # no value: ignored
    "/health?tag_dc=west&tag_dc=east": (503, 503, 200, 503),  # first value wins
    "/health?tag_nofailover=true": (503, 503, 200, 503),
    "/health?tag_noloadbalance=true": (503, 503, 200, 503),
    "/health?tag_nofailover=false": (503, 503, 503, 503),  # false: no such tag
    "/health?tag_rack=1": (503, 503, 200, 503),
    "/health?tag_rack=1.0": (503, 503, 503, 503),
    "/health?tag_ssd=true": (503, 503, 200, 503),
    "/health?tag_ssd=True": (503, 503, 503, 503),  # str(True).lower()
    "/health?tag_dc=west&tag_rack=1&tag_ssd=true": (503, 503, 200, 503),
    "/health?tag_dc=west&tag_rack=2": (503, 503, 503, 503),  # any failing tag
    "/health?tag_missing=x": (503, 503, 503, 503),
}
COLUMN = {P: 0, R: 1, T: 2, D: 3}

# Paths Regent does not route (spec 1.2 lists these as Patroni's "anything
# else"; docs/rest-api.md: Regent answers 404 with a JSON error).
UNKNOWN_PATHS = ["/nope", "/replicas", "/sync/", "/primary/x", "/Primary"]


# --------------------------------------------------------------------------
# HTTP as HAProxy speaks it


def raw_request(node, method, path, timeout=rh.API_TIMEOUT):
    """One HTTP/1.0 request on its own connection, as HAProxy's httpchk
    sends it. Returns (status, {lower-case header: value}, body bytes) once
    the agent has closed the connection."""
    with socket.create_connection(("127.0.0.1", node.rest_port), timeout=timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        # Bounded: every recv either returns data, returns b"" at the close
        # or raises after @timeout; replies here are a few kB at most.
        for _ in range(1000):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        else:
            raise AssertionError(f"{method} {path}: the agent did not close the connection")
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"{method} {path} on {node.name}: no complete reply: {data!r}"
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    assert m, f"{method} {path} on {node.name}: bad status line {lines[0]!r}"
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), headers, body


def expected_codes(role):
    return {path: codes[COLUMN[role]] for path, codes in HEALTH.items()}


def check_health_table(node, role):
    """Every path of HEALTH with GET, HEAD and OPTIONS; returns the list of
    mismatches as text (empty when all match)."""
    problems = []
    for path, want in expected_codes(role).items():
        if want is None:
            continue
        r = node.api(path)
        if r.status_code != want:
            problems.append(f"GET {path}: expected {want}, got {r.status_code}")
        else:
            ctype = r.headers.get("Content-Type", "")
            if not ctype.startswith("application/json"):
                problems.append(f"GET {path}: Content-Type {ctype!r}, expected application/json")
            try:
                doc = r.json()
            except ValueError:
                problems.append(f"GET {path}: body is not JSON: {r.content[:200]!r}")
            else:
                if doc.get("patroni", {}).get("name") != node.name or "state" not in doc:
                    problems.append(f"GET {path}: body is not {node.name}'s status document: {doc}")
        for method in ("HEAD", "OPTIONS"):
            code, _, body = raw_request(node, method, path)
            if code != want:
                problems.append(f"{method} {path}: expected {want}, got {code}")
            if body:
                problems.append(f"{method} {path}: expected no body, got {body[:200]!r}")
    return problems


def assert_health_table(node, role):
    problems = check_health_table(node, role)
    doc = node.api("/patroni").json()
    assert not problems, (
        f"{node.name} ({role}): {len(problems)} health check(s) answered wrongly:\n  "
        + "\n  ".join(problems)
        + f"\n{node.name}'s /patroni: {doc}"
    )


def assert_get_only_routes(node, readiness):
    """/liveness, /readiness, /patroni, /cluster, /history: GET routes.

    GET and HEAD (the same status, no body) as docs/rest-api.md's Transport
    section says; OPTIONS is not a method of theirs (405, with Allow)."""
    problems = []
    for path, want_get in [
        ("/liveness", 200),
        ("/readiness", readiness),
        ("/patroni", 200),
        ("/cluster", 200),
        ("/history", 200),
    ]:
        r = node.api(path)
        if r.status_code != want_get:
            problems.append(f"GET {path}: expected {want_get}, got {r.status_code}")
        if path in ("/liveness", "/readiness") and r.content:
            problems.append(f"GET {path}: expected no body, got {r.content[:200]!r}")
        code, _, body = raw_request(node, "HEAD", path)
        if code != want_get or body:
            problems.append(
                f"HEAD {path}: expected {want_get} and no body, got {code} {body[:80]!r}"
            )
        code, headers, _ = raw_request(node, "OPTIONS", path)
        if code != 405 or "GET" not in headers.get("allow", ""):
            problems.append(f"OPTIONS {path}: expected 405 with Allow: GET, got {code} {headers}")
    assert not problems, f"{node.name}:\n  " + "\n  ".join(problems)


def assert_unknown_paths(node):
    problems = []
    for path in UNKNOWN_PATHS:
        for method in ("GET", "OPTIONS"):
            r = node.api(path, method=method)
            if r.status_code != 404:
                problems.append(f"{method} {path}: expected 404, got {r.status_code}")
                continue
            try:
                err = r.json()
            except ValueError:
                problems.append(f"{method} {path}: 404 body is not JSON: {r.content[:200]!r}")
                continue
            if not (
                r.headers.get("Content-Type", "").startswith("application/json")
                and list(err) == ["error"]
                and isinstance(err["error"], str)
                and err["error"]
            ):
                problems.append(f"{method} {path}: expected a JSON {{\"error\": …}}, got {err}")
        code, _, body = raw_request(node, "HEAD", path)
        if code != 404 or body:
            problems.append(f"HEAD {path}: expected 404 and no body, got {code} {body[:80]!r}")
    assert not problems, f"{node.name}:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------
# The status document (spec 1.3)

START_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")


def pg_facts(node):
    """What PostgreSQL itself says, to compare the document with."""
    rows = pg_tools.query(
        node,
        "SELECT (SELECT system_identifier::text FROM pg_control_system()),"
        " current_setting('server_version_num')::int,"
        " (SELECT timeline_id FROM pg_control_checkpoint())",
    )
    sysid, version, timeline = rows[0]
    return {"sysid": sysid, "server_version": version, "timeline": timeline}


def assert_status_document(node, role, tags, replica_names=()):
    doc = node.api("/patroni").json()
    facts = pg_facts(node)
    where = f"{node.name}'s /patroni: {doc}"
    assert doc["state"] == "running", where
    assert doc["role"] == role, where
    assert doc["patroni"]["name"] == node.name and doc["patroni"]["scope"] == "test", where
    assert isinstance(doc["patroni"]["version"], str) and doc["patroni"]["version"], where
    assert doc["database_system_identifier"] == facts["sysid"], where
    assert doc["server_version"] == facts["server_version"], where
    assert doc["timeline"] == 1 == facts["timeline"], where
    assert START_TIME.match(doc["postmaster_start_time"]), where
    assert isinstance(doc["dcs_last_seen"], int), where
    assert abs(doc["dcs_last_seen"] - time.time()) < 60, where
    assert doc.get("tags") == tags, where
    assert "cluster_unlocked" not in doc and "pause" not in doc, where
    if role == "primary":
        assert set(doc["xlog"]) == {"location"}, where
        assert isinstance(doc["xlog"]["location"], int) and doc["xlog"]["location"] > 0, where
        assert "replication_state" not in doc, where
        senders = {s["application_name"]: s for s in doc["replication"]}
        assert set(replica_names) <= set(senders), where
        for name in replica_names:
            s = senders[name]
            assert (s["usename"], s["state"], s["sync_state"]) == (
                "replicator",
                "streaming",
                "async",
            ), where
            assert s["client_addr"] == "127.0.0.1", where
    else:
        xlog = doc["xlog"]
        assert set(xlog) == {
            "received_location",
            "replayed_location",
            "replayed_timestamp",
            "paused",
        }, where
        assert isinstance(xlog["received_location"], int), where
        assert isinstance(xlog["replayed_location"], int) and xlog["replayed_location"] > 0, where
        assert xlog["paused"] is False, where
        assert xlog["replayed_timestamp"] is None or isinstance(xlog["replayed_timestamp"], str)
        assert doc["replication_state"] == "streaming", where
    # A GET health check sends the same document.
    for path in ("/health", "/replica", "/primary"):
        h = node.api(path).json()
        assert set(h) == set(doc) and h["role"] == doc["role"] and h["state"] == doc["state"], (
            f"GET {path} on {node.name} does not send the /patroni document: {h} vs {doc}"
        )


def assert_cluster_view(node, primary, replicas, extra=()):
    """GET /cluster and /history as @node sees a healthy, fresh cluster."""
    view = node.cluster()
    where = f"{node.name}'s /cluster: {view}"
    assert view["scope"] == "test", where
    members = {m["name"]: m for m in view["members"]}
    want = sorted([primary.name] + [r.name for r in replicas] + [n.name for n in extra])
    assert [m["name"] for m in view["members"]] == want, where
    for n in [primary] + list(replicas):
        m = members[n.name]
        assert (m["host"], m["port"]) == ("127.0.0.1", n.pg_port), where
        assert m["api_url"] == f"http://{n.rest_addr}/patroni", where
        assert m["timeline"] == 1, where
    assert (members[primary.name]["role"], members[primary.name]["state"]) == (
        "leader",
        "running",
    ), where
    for r in replicas:
        m = members[r.name]
        assert (m["role"], m["state"]) == ("replica", "streaming"), where
    assert view["lease"]["holder"] == primary.name and view["lease"]["valid"] is True, where
    history = node.api("/history")
    assert history.status_code == 200 and history.json() == [], (
        f"{node.name}: GET /history of a cluster that never failed over: "
        f"{history.status_code} {history.text}"
    )


# --------------------------------------------------------------------------
# Clusters


def healthy_cluster(make_cluster, extra=None):
    """Three nodes tagged dc=east, up with a primary and two streaming
    replicas. @extra: overrides of a fourth node, started only once the
    three are up (so it cannot be the one that bootstraps)."""
    c = make_cluster(4 if extra is not None else 3, start=False, overrides={"tags": CLUSTER_TAGS})
    base = c.nodes[:3]
    # The three form the cluster by themselves (a pristine node waits for
    # every partner it lists); the fourth joins later through them.
    for n in base:
        n.partner_addrs = [m.raft_addr for m in base if m is not n]
    for n in base:
        n.start()
    primary, replicas = pg_tools.wait_for_primary_and_replicas(c, base, TIMEOUT)
    fourth = None
    if extra is not None:
        fourth = c.nodes[3]
        fourth.overrides = extra
        fourth.start()
    return c, primary, replicas, fourth


def wait_lag_zero_passes(c, node):
    """A replica that has replayed everything the leader reported passes
    ?lag=0: lagging is leader_optime > replayed_location + lag, and for a
    replica exactly caught up leader_optime == replayed_location, which is
    not more than replayed_location + 0. An idle cluster gets there; WAL
    written meanwhile (a checkpoint, a running-xacts record) only delays
    it, so this waits instead of asking once."""

    def passes():
        codes = [node.api("/replica?lag=0").status_code]
        codes += [raw_request(node, m, "/replica?lag=0")[0] for m in ("HEAD", "OPTIONS")]
        return codes == [200, 200, 200]

    c.wait_until(passes, TIMEOUT, f"{node.name}: GET/HEAD/OPTIONS /replica?lag=0 to answer 200")


# --------------------------------------------------------------------------
# Tests


def test_primary_answers_as_patroni_primary(make_cluster):
    c, primary, replicas, _ = healthy_cluster(make_cluster)

    assert_health_table(primary, P)
    assert_get_only_routes(primary, readiness=200)
    assert_unknown_paths(primary)
    assert_status_document(primary, "primary", CLUSTER_TAGS, [r.name for r in replicas])
    assert_cluster_view(primary, primary, replicas)


def test_streaming_replica_answers_as_patroni_replica(make_cluster):
    c, primary, replicas, _ = healthy_cluster(make_cluster)

    for r in replicas:
        wait_lag_zero_passes(c, r)
        assert_health_table(r, R)
        assert_get_only_routes(r, readiness=200)
        assert_unknown_paths(r)
        assert_status_document(r, "replica", CLUSTER_TAGS)
        assert_cluster_view(r, primary, replicas)


def test_tagged_replica_nofailover_noloadbalance(make_cluster):
    c, primary, replicas, tagged = healthy_cluster(make_cluster, extra={"tags": TAGGED_TAGS})
    pg_tools.wait_for_primary_and_replicas(c, [primary] + replicas + [tagged], TIMEOUT)

    assert_health_table(tagged, T)
    # noloadbalance keeps it out of /replica and /read-only, not out of
    # readiness: it streams.
    assert_get_only_routes(tagged, readiness=200)
    assert_status_document(tagged, "replica", TAGGED_TAGS)
    # Its tags, as the others publish them.
    members = {m["name"]: m for m in primary.cluster()["members"]}
    assert members[tagged.name]["tags"] == TAGGED_TAGS, members[tagged.name]
    # And the other nodes still answer by their own tags.
    assert_health_table(primary, P)
    assert_health_table(replicas[0], R)


def test_node_whose_postgres_is_down(make_cluster):
    # A replica whose PostgreSQL cannot start: the agent clones it, then
    # every start fails on the missing library. It never runs, so every
    # check fails but the agent itself is alive.
    broken = {
        "tags": CLUSTER_TAGS,
        "postgresql": {"parameters": {"shared_preload_libraries": "regent_test_no_such_library"}},
    }
    c, primary, replicas, down = healthy_cluster(make_cluster, extra=broken)

    def cloned_not_running():
        # Registered, cloned (its data directory has the cluster's system
        # identifier) and not running: from here on it only retries starts.
        doc = down.api("/patroni").json()
        members = {m["name"] for m in primary.cluster()["members"]}
        return (
            down.name in members
            and doc.get("database_system_identifier")
            and doc["state"] not in ("running", "creating replica")
        )

    c.wait_until(cloned_not_running, TIMEOUT, f"{down.name} to be cloned and fail to start")
    assert pg_tools.in_recovery(down) is None, "PostgreSQL of the broken node accepts connections"

    assert_health_table(down, D)
    assert_get_only_routes(down, readiness=503)
    assert_unknown_paths(down)

    doc = down.api("/patroni").json()
    where = f"{down.name}'s /patroni: {doc}"
    assert doc["state"] != "running" and doc["patroni"]["name"] == down.name, where
    # The status query's fields appear only when it succeeded.
    for key in ("xlog", "timeline", "server_version", "replication_state", "postmaster_start_time"):
        assert key not in doc, where
    assert doc["database_system_identifier"] == pg_facts(primary)["sysid"], where
    assert doc.get("tags") == CLUSTER_TAGS, where
    # The rest of the cluster is unaffected.
    assert_health_table(primary, P)


def test_lagging_replica_fails_lag_checks(make_cluster):
    c, primary, replicas, _ = healthy_cluster(make_cluster)
    lagging, other = replicas
    wait_lag_zero_passes(c, lagging)

    # Replay stops; the primary writes several MB of WAL, which the replica
    # still receives. leader_optime moves on, replayed_location does not.
    pg_tools.query(lagging, "SELECT pg_wal_replay_pause()")
    try:
        pg_tools.query(
            primary,
            "CREATE TABLE lag_filler AS SELECT g, repeat('x', 200) AS pad"
            " FROM generate_series(1, 40000) g",
        )
        behind = {
            "/replica?lag=1MB": 503,
            "/replica?lag=0": 503,
            "/async?lag=1MB": 503,
            "/read-only?lag=1MB": 503,
            "/replica": 200,  # no ?lag=: no limit
            "/replica?lag=1GB": 200,
            "/read-only": 200,
            "/health?lag=1MB": 200,  # lag is not a /health matter
        }

        def is_behind():
            xlog = lagging.api("/patroni").json()["xlog"]
            return (
                xlog["paused"] is True
                and xlog["received_location"] - xlog["replayed_location"] > 1 << 20
                and all(lagging.api(p).status_code == want for p, want in behind.items())
            )

        c.wait_until(is_behind, TIMEOUT, f"{lagging.name} to fail ?lag=1MB with replay paused")
        got = {p: lagging.api(p).status_code for p in behind}
        got.update({f"OPTIONS {p}": raw_request(lagging, "OPTIONS", p)[0] for p in behind})
        want = dict(behind)
        want.update({f"OPTIONS {p}": code for p, code in behind.items()})
        assert got == want, f"{lagging.name} with replay paused: {got}"
        doc = lagging.api("/patroni").json()
        assert doc["xlog"]["paused"] is True, doc
        assert doc["xlog"]["received_location"] - doc["xlog"]["replayed_location"] > 1 << 20, doc
        # Readiness measures the same lag against maximum_lag_on_failover
        # (1 MB by default), or ?lag=.
        assert lagging.api("/readiness").status_code == 503
        assert lagging.api("/readiness?lag=1GB").status_code == 200
        # The other replica replays: it catches up (it may trail for a
        # moment after the burst, under ASan) while this one stays behind.
        c.wait_until(
            lambda: other.api("/replica?lag=1MB").status_code == 200,
            TIMEOUT,
            f"{other.name} to pass ?lag=1MB while {lagging.name} is paused",
        )
        assert lagging.api("/replica?lag=1MB").status_code == 503
    finally:
        pg_tools.try_query(lagging, "SELECT pg_wal_replay_resume()")

    def caught_up():
        return lagging.api("/replica?lag=1MB").status_code == 200

    c.wait_until(caught_up, TIMEOUT, f"{lagging.name} to pass ?lag=1MB once replay resumes")
    wait_lag_zero_passes(c, lagging)
    assert lagging.api("/patroni").json()["xlog"]["paused"] is False


def test_replica_cut_off_from_the_store(make_cluster):
    # The primary's agent and the other replica's agent freeze (SIGSTOP):
    # the remaining replica's store has no quorum and stops hearing from
    # anyone, while its PostgreSQL keeps streaming from the primary's,
    # which still runs. Once its last store view is older than ttl (2.5 s
    # by default), it has no DCS view (D is false): the checks that need one
    # (/sync, /async, /read-only-sync, …) fail, every other check keeps
    # answering from local state (spec 1.2), and with no view the cluster
    # is unlocked as far as it knows (spec 1.3).
    c, primary, replicas, _ = healthy_cluster(make_cluster)
    isolated, other = replicas
    want = {
        "/async": 503,
        "/asynchronous": 503,
        "/async?lag=1MB": 503,
        "/sync": 503,
        "/read-only-sync": 503,
        "/read-only-quorum": 503,
        "/replica": 200,
        "/replica?lag=1MB": 200,  # leader_optime: the receiver's latest_end_lsn
        "/read-only": 200,
        "/health": 200,
        "/primary": 503,
        "/readiness": 200,  # streaming, latest_end_lsn known, lag within 1 MB
    }
    got = {}

    def cut_off():
        got.clear()
        got.update({p: isolated.api(p).status_code for p in want})
        got["cluster_unlocked"] = isolated.api("/patroni").json().get("cluster_unlocked")
        return got == dict(want, cluster_unlocked=True)

    primary.pause()
    other.pause()
    try:
        try:
            c.wait_until(cut_off, 30.0, f"{isolated.name} cut off from the store to answer {want}")
        except rh.WaitTimeout as e:
            wrong = {p: (want.get(p, True), v) for p, v in got.items() if v != want.get(p, True)}
            raise AssertionError(
                f"{isolated.name} without a store view for 30 s (ttl 2.5 s): "
                f"(expected, got) = {wrong}\nall answers: {got}\n{e}"
            ) from None
    finally:
        primary.resume()
        other.resume()
