"""Nodes in network namespaces, the writer, the prober and the checker of
the fault suite (see docs/internals/fault-suite.md).

FaultNode is the cluster harness's Node (tests/cluster/regent_harness.py)
with its agent and PostgreSQL started inside the member's namespace and
cgroup (netfault.Member) and bound to the member's address. Every member
has its own port space, so the ports are the usual ones: REST 8008, Raft
7000, PostgreSQL 5432.

A FaultNode made with watchdog=True runs its agent with the test watchdog
(watchdog.mode: required, watchdog.driver: testing, the events file
node.dir/watchdog.events) and has its own WatchdogSupervisor
(tests/cluster/wd_supervisor.py), node.wd, that plays the kernel: started
with the node's first start, it keeps following the events file across
agent restarts (each new agent's arm names its new pid, as a reopened
/dev/watchdog would) and stops when the node is cleaned up. One supervisor
for the node's whole life: a new one would replay the file from the start.
"""

import contextlib
import json
import threading
import time

import psycopg

import pg_tools as pt
import regent_harness as rh
from wd_supervisor import WatchdogSupervisor

REST_PORT, RAFT_PORT, PG_PORT = 8008, 7000, 5432

# Bounds of every scenario, in seconds.
HEALTHY_TIMEOUT = 90.0  # a (re)started cluster: one primary, streaming replicas
RECOVERY_TIMEOUT = 60.0  # after a fault is healed
PROBE_TIMEOUT = 1.5  # one probe or one write: a client-side cancel after this


# A supervisor's bound; a pool's cluster lives for one module at most.
WD_MAX_RUNTIME = 3600.0


class FaultNode(rh.Node):
    def __init__(self, name, base_dir, member, watchdog=False, **kw):
        super().__init__(name, base_dir, **kw)
        self.member = member
        self.watchdog = watchdog and not self.witness
        self.wd = None  # the WatchdogSupervisor, from the first start on
        if self.watchdog:
            self.overrides = rh._deep_merge(self.overrides, {"watchdog": {
                "mode": "required", "driver": "testing", "device": str(self.wd_events)}})
        ip = member.ip
        self.pg_host = ip
        self.raft_port, self.rest_port, self.pg_port = RAFT_PORT, REST_PORT, PG_PORT
        self.pg_addr = f"{ip}:{PG_PORT}"
        self.raft_addr = f"{ip}:{RAFT_PORT}"
        self.rest_addr = f"{ip}:{REST_PORT}"
        self.api_url = f"http://{self.rest_addr}"

    def pg_config(self):
        cfg = super().pg_config()
        cidr = self.member.fabric.cidr
        cfg["bootstrap"]["pg_hba"] += [
            f"host all all {cidr} trust",
            f"host replication all {cidr} trust",
        ]
        return cfg

    @property
    def wd_events(self):
        return self.dir / "watchdog.events"

    def start(self):
        if self.watchdog and self.wd is None:
            self.wd = WatchdogSupervisor(self.wd_events, self.dir / "data", self.name,
                                         max_runtime=WD_MAX_RUNTIME)
            self.wd.start()
        return super().start()

    def _preexec(self):
        return self.member.preexec(self.run_as)

    def _popen_user(self):
        return {}  # the preexec function drops to the agents' user itself

    # --- faults on processes

    def kill_unit(self):
        """SIGKILL the agent and everything it started (its cgroup)."""
        self.expected_running = False
        self.member.kill_all()
        if self.proc is not None:
            self.proc.wait(timeout=rh.STOP_TIMEOUT)
        self.paused = False
        self._close_log()

    def cleanup(self):
        if self.paused:
            self.resume()
        super().cleanup()
        self.member.kill_all()
        if self.wd is not None:
            self.wd.stop()


class FaultCluster(rh.Cluster):
    """n agents (and a witness), each a FaultNode in its own member."""

    def __init__(self, base_dir, fabric, n=3, witness=False, scope="fault", tag="", **node_kw):
        self.base_dir = base_dir
        self.scope = scope
        self.fabric = fabric
        names = [f"node{i}" for i in range(1, n + 1)] + (["witness"] if witness else [])
        self.nodes = []
        for name in names:
            member = fabric.member(f"{tag}{name}")
            member.heal()
            self.nodes.append(
                FaultNode(name, base_dir, member, scope=scope, witness=(name == "witness"), **node_kw)
            )
        addrs = [n.raft_addr for n in self.nodes]
        for node in self.nodes:
            node.partner_addrs = [a for a in addrs if a != node.raft_addr]

    @property
    def pg_nodes(self):
        return [n for n in self.nodes if not n.witness]

    def heal_all(self):
        for n in self.nodes:
            n.member.heal()

    def stop(self):
        self.heal_all()
        super().stop()


def wait_healthy(cluster, timeout=HEALTHY_TIMEOUT):
    """(primary, replicas) once one primary holds the lease and every other
    PostgreSQL member streams from it (pg_tools' definition)."""
    return pt.wait_for_primary_and_replicas(cluster, cluster.pg_nodes, timeout=timeout)


# --------------------------------------------------------------------------
# Clients


class _Canceller:
    """Cancels the statement of @conn if it runs longer than PROBE_TIMEOUT.

    statement_timeout does not end a commit's wait for a synchronous standby,
    and a request to a deposed primary must not hang the prober or the
    writer: a client-side cancel bounds both."""

    def __init__(self, conn):
        self.timer = threading.Timer(PROBE_TIMEOUT, self._cancel, args=(conn,))

    @staticmethod
    def _cancel(conn):
        with contextlib.suppress(Exception):
            conn.cancel()

    def __enter__(self):
        self.timer.start()

    def __exit__(self, *a):
        self.timer.cancel()


def _sync_wait_cancelled(conn):
    """A notice handler flag: PostgreSQL reports a cancelled wait for the
    synchronous standby as a WARNING on a commit that still succeeds
    locally; that commit was not acknowledged as durable."""
    flag = {"cancelled": False}

    def on_notice(diag):
        if "synchronous replication" in (diag.message_primary or ""):
            flag["cancelled"] = True

    conn.add_notice_handler(on_notice)
    return flag


def _connect(dsn):
    return psycopg.connect(dsn, autocommit=True)


class Writer(threading.Thread):
    """Inserts run-tagged ids through the multi-host connection string
    (target_session_attrs=read-write) and records every acknowledged commit:
    (id, monotonic time of the acknowledgement, node name)."""

    def __init__(self, cluster, run_id, interval=0.02):
        super().__init__(daemon=True)
        self.nodes = cluster.pg_nodes
        self.by_host = {n.pg_host: n.name for n in self.nodes}
        self.dsn = pt.multi_host_dsn(self.nodes, connect_timeout=1)
        self.run_id = run_id
        self.interval = interval
        self.stop_event = threading.Event()
        self.acked = []
        self.errors = 0
        self.unacked_sync = 0  # commits whose sync wait was cancelled
        self.lock = threading.Lock()

    def run(self):
        next_id = 1
        conn = flag = node = None
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = _connect(self.dsn)
                    flag = _sync_wait_cancelled(conn)
                    node = self.by_host.get(conn.info.host, conn.info.host)
                flag["cancelled"] = False
                with _Canceller(conn):
                    conn.execute(
                        "INSERT INTO fault_writes VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        (self.run_id, next_id),
                    )
                if flag["cancelled"]:
                    self.unacked_sync += 1
                else:
                    with self.lock:
                        self.acked.append((next_id, time.monotonic(), node))
                next_id += 1
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
                next_id += 1  # an unknown outcome: never reuse the id
            self.stop_event.wait(self.interval)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)

    def snapshot(self):
        with self.lock:
            return list(self.acked)


class Prober(threading.Thread):
    """Asks every PostgreSQL member in turn, throughout, whether it accepts a
    write. Each sample is (node, t_sent, t_answered, answer, postmaster
    start) with answer "w" (the INSERT committed), "ro" (in recovery or
    read-only) or "err" (no answer: refused, timed out, cancelled)."""

    def __init__(self, cluster, interval=0.02):
        super().__init__(daemon=True)
        self.nodes = cluster.pg_nodes
        self.interval = interval
        self.stop_event = threading.Event()
        self.samples = []
        self.conns = {}
        self.lock = threading.Lock()

    def _conn(self, n):
        entry = self.conns.get(n.name)
        if entry is None or entry[0].closed:
            c = _connect(n.dsn(connect_timeout=1))
            entry = self.conns[n.name] = (c, _sync_wait_cancelled(c))
        return entry

    def _probe(self, n):
        c, flag = self._conn(n)
        flag["cancelled"] = False
        with _Canceller(c):
            pm, rec = c.execute(
                "SELECT pg_postmaster_start_time()::text, pg_is_in_recovery()"
            ).fetchone()
            if rec:
                return "ro", pm
            c.execute("CREATE TABLE IF NOT EXISTS fault_probe (node text, t float8)")
            c.execute("INSERT INTO fault_probe VALUES (%s, %s)", (n.name, time.time()))
        # A cancelled sync wait still committed locally: the node accepted
        # the write, so it counts as writable here (the strict reading).
        return "w", pm

    def run(self):
        while not self.stop_event.is_set():
            for n in self.nodes:
                t0 = time.monotonic()
                try:
                    ans, pm = self._probe(n)
                except psycopg.errors.ReadOnlySqlTransaction:
                    ans, pm = "ro", None
                except psycopg.Error:
                    ans, pm = "err", None
                    old = self.conns.pop(n.name, None)
                    if old is not None:
                        with contextlib.suppress(Exception):
                            old[0].close()
                with self.lock:
                    self.samples.append((n.name, t0, time.monotonic(), ans, pm))
            self.stop_event.wait(self.interval)
        for c, _ in self.conns.values():
            with contextlib.suppress(Exception):
                c.close()

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)


# --------------------------------------------------------------------------
# The checker


def writable_spans(samples):
    """Maximal runs of writable answers per node: [(node, start, end)].

    A run is the writable answers of one node from one postmaster lifetime
    (same pg_postmaster_start_time) with no read-only answer between them;
    a probe that got no answer does not end a run (the strict reading:
    PostgreSQL cannot leave read-write and come back without a restart, so
    a node writable before and after an unanswered probe was writable
    throughout). The span runs from the send time of the first writable
    probe to the answer time of the last."""
    spans = []
    open_runs = {}  # node -> [start, end, pm]
    for node, t0, t1, ans, pm in sorted(samples, key=lambda s: s[1]):
        cur = open_runs.get(node)
        if ans == "w":
            if cur is not None and cur[2] == pm:
                cur[1] = t1
            else:
                if cur is not None:
                    spans.append((node, cur[0], cur[1]))
                open_runs[node] = [t0, t1, pm]
        elif ans == "ro" and cur is not None:
            spans.append((node, cur[0], cur[1]))
            del open_runs[node]
    spans += [(node, r[0], r[1]) for node, r in open_runs.items()]
    return sorted(spans, key=lambda s: s[1])


def overlaps(spans):
    """Pairs of spans of different nodes whose intervals intersect.

    The prober asks one node at a time, so probe windows never overlap and
    two spans intersect only if a probe of one node was answered writable
    strictly between two writable answers of the other node in one run:
    two nodes accepting writes at the same time. Returns
    [(node_a, node_b, overlap_start, overlap_end)]."""
    out = []
    for i, (a, a0, a1) in enumerate(spans):
        for b, b0, b1 in spans[i + 1 :]:
            if a == b:
                continue
            lo, hi = max(a0, b0), min(a1, b1)
            if lo < hi:
                out.append((a, b, lo, hi))
    return out


def present_ids(primary, run_id):
    rows = pt.query(primary, "SELECT id FROM fault_writes WHERE run = %s", run_id)
    return {r[0] for r in rows}


def longest_gap(acked, t_from, t_to):
    """The longest time without an acknowledged write in [t_from, t_to]."""
    times = [t_from] + sorted(t for _, t, _ in acked if t_from <= t <= t_to) + [t_to]
    return max(b - a for a, b in zip(times, times[1:]))


def to_json(obj):
    return json.loads(json.dumps(obj, default=str))
