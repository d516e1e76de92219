"""PostgreSQL-side helpers for the cluster tests: queries, a writer that
keeps inserting through a multi-host connection string, and a prober that
asks every node, over and over, whether it accepts a write.

Both background workers are threads with a stop event; every loop in them
is bounded by the stop event and each connection attempt has a timeout.
"""

import threading
import time

import psycopg

CONNECT_TIMEOUT = 2


def connect(node, **kw):
    return psycopg.connect(node.dsn(**kw), autocommit=True)


def query(node, sql, *args):
    """Run @sql on @node; returns all rows (or [] for statements)."""
    with connect(node) as conn:
        cur = conn.execute(sql, args or None)
        return cur.fetchall() if cur.description else []


def try_query(node, sql, *args):
    """query() that returns None instead of raising on connection errors."""
    try:
        return query(node, sql, *args)
    except psycopg.Error:
        return None


def in_recovery(node):
    rows = try_query(node, "SELECT pg_is_in_recovery()")
    return None if rows is None else rows[0][0]


def multi_host_dsn(nodes, **kw):
    hosts = ",".join(getattr(n, "pg_host", "127.0.0.1") for n in nodes)
    ports = ",".join(str(n.pg_port) for n in nodes)
    opts = {
        "host": hosts,
        "port": ports,
        "user": "postgres",
        "dbname": "postgres",
        "target_session_attrs": "read-write",
        "connect_timeout": CONNECT_TIMEOUT,
    }
    opts.update(kw)
    return " ".join(f"{k}={v}" for k, v in opts.items())


class Writer(threading.Thread):
    """Inserts 1, 2, 3, … into writes(id) through a multi-host connection
    string, reconnecting after errors; records every acknowledged id with the
    time of its acknowledgement and the port that served it."""

    def __init__(self, nodes, interval=0.02):
        super().__init__(daemon=True)
        self.dsn = multi_host_dsn(nodes)
        self.interval = interval
        self.stop_event = threading.Event()
        self.acked = []  # (id, time, port)
        self.errors = 0
        self.lock = threading.Lock()

    def run(self):
        next_id = 1
        conn = None
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True)
                    conn.execute("CREATE TABLE IF NOT EXISTS writes (id int PRIMARY KEY)")
                    port = conn.info.port
                conn.execute("INSERT INTO writes VALUES (%s) ON CONFLICT DO NOTHING", (next_id,))
                with self.lock:
                    self.acked.append((next_id, time.monotonic(), port))
                next_id += 1
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg.Error:
                        pass
                conn = None
                next_id += 1  # an unknown outcome: never reuse the id
            self.stop_event.wait(self.interval)
        if conn is not None:
            conn.close()

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)

    def acked_ids(self):
        with self.lock:
            return [a[0] for a in self.acked]

    def count_after(self, t):
        with self.lock:
            return sum(1 for a in self.acked if a[1] > t)


class Prober(threading.Thread):
    """Tries a write on every node in turn, throughout; records each
    successful write as (node name, start, end)."""

    def __init__(self, nodes, interval=0.02):
        super().__init__(daemon=True)
        self.nodes = list(nodes)
        self.interval = interval
        self.stop_event = threading.Event()
        self.writes = []
        self.conns = {}

    def _conn(self, n):
        c = self.conns.get(n.name)
        if c is None or c.closed:
            c = psycopg.connect(n.dsn(connect_timeout=1), autocommit=True)
            c.execute("SET statement_timeout = 1000")
            self.conns[n.name] = c
        return c

    def run(self):
        while not self.stop_event.is_set():
            for n in self.nodes:
                start = time.monotonic()
                try:
                    c = self._conn(n)
                    c.execute("CREATE TABLE IF NOT EXISTS probe (node text, t float8)")
                    c.execute("INSERT INTO probe VALUES (%s, %s)", (n.name, start))
                    self.writes.append((n.name, start, time.monotonic()))
                except psycopg.Error:
                    old = self.conns.pop(n.name, None)
                    if old is not None:
                        try:
                            old.close()
                        except psycopg.Error:
                            pass
            self.stop_event.wait(self.interval)
        for c in self.conns.values():
            try:
                c.close()
            except psycopg.Error:
                pass

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)

    def interleavings(self):
        """Evidence of two writable primaries at once: a node X that accepted
        a write both before and after another node Y did (the prober asks
        the nodes one after the other, so its own writes never overlap: a
        switch back and forth is what two writable primaries look like).
        Returns (X, Y) pairs; [] when every node's writes form one run."""
        w = sorted(self.writes, key=lambda x: x[1])
        order = [n for n, _, _ in w]
        bad = set()
        for y in set(order):
            ys = [i for i, n in enumerate(order) if n == y]
            for x in set(order) - {y}:
                xs = [i for i, n in enumerate(order) if n == x]
                if any(xs[0] < i < xs[-1] for i in ys):
                    bad.add((x, y))
        return sorted(bad)

    def writable_nodes(self):
        return {w[0] for w in self.writes}


# --------------------------------------------------------------------------
# Roles as the agents report them (used by test_health, test_haproxy and
# test_callbacks). Every wait is bounded by the harness's wait_until.

ROLE_TIMEOUT = 90.0


def _status_docs(nodes):
    """{name: GET /patroni document} of @nodes; raises (a "not yet" for
    wait_until) when one does not answer 200."""
    docs = {}
    for n in nodes:
        r = n.api("/patroni")
        r.raise_for_status()
        docs[n.name] = r.json()
    return docs


def _primary_among(nodes, docs):
    """The node of @nodes that runs as primary and holds the lease (its own
    /cluster names it leader), or None. Exactly one must claim the role."""
    prim = [n for n in nodes if docs[n.name].get("role") == "primary"
            and docs[n.name].get("state") == "running"]
    if len(prim) != 1:
        return None
    view = prim[0].cluster()
    leaders = [m["name"] for m in view["members"] if m["role"] == "leader"]
    return prim[0] if leaders == [prim[0].name] else None


def wait_for_primary(cluster, nodes, timeout=ROLE_TIMEOUT):
    """Wait until exactly one of @nodes is a running primary holding the
    lease; returns that node."""
    nodes = list(nodes)

    def check():
        return _primary_among(nodes, _status_docs(nodes))

    names = ", ".join(n.name for n in nodes)
    return cluster.wait_until(check, timeout, f"one primary holding the lease among {names}")


def wait_for_primary_and_replicas(cluster, nodes=None, timeout=ROLE_TIMEOUT):
    """Wait until one of @nodes (default: every agent of @cluster) is the
    primary holding the lease and every other one runs as a replica that
    streams from it: by each node's own /patroni, by the primary's
    pg_stat_replication (/patroni "replication") and by the primary's
    /cluster. Returns (primary, [replicas in @nodes order])."""
    nodes = list(nodes if nodes is not None else [n for n in cluster.nodes if not n.witness])

    def check():
        docs = _status_docs(nodes)
        prim = _primary_among(nodes, docs)
        if prim is None:
            return None
        reps = [n for n in nodes if n is not prim]
        for n in reps:
            d = docs[n.name]
            if (d.get("role"), d.get("state"), d.get("replication_state")) != (
                "replica", "running", "streaming"):
                return None
        senders = {s.get("application_name") for s in docs[prim.name].get("replication", [])
                   if s.get("state") == "streaming"}
        if not {n.name for n in reps} <= senders:
            return None
        members = {m["name"]: m for m in prim.cluster()["members"]}
        if any(members.get(n.name, {}).get("state") != "streaming" for n in reps):
            return None
        return prim, reps

    names = ", ".join(n.name for n in nodes)
    return cluster.wait_until(
        check, timeout, f"one primary and streaming replicas among {names}")
