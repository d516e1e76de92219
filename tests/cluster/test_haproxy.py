"""HAProxy in front of a real cluster, configured as Patroni's docs show
(spec/patroni-compat.md 1.2, "Reference HAProxy"): TCP proxying to each
node's PostgreSQL, with an HTTP health check against each node's REST API
deciding which servers take connections.

- `listen primary`: `option httpchk OPTIONS /master`: connections reach the
  node holding the lease, and after a kill -9 of that node's agent and
  postmaster, the node that took over.
- `listen replicas`: `option httpchk OPTIONS /replica`: connections reach
  streaming replicas only.

Debian's /usr/sbin/haproxy runs in the foreground (-db), started with Popen
and killed by its PID when the test ends; its files live in the test's
tmp_path. Intervals are short (inter 500ms, fall 2, rise 1) so that the
test does not wait on HAProxy.
"""

import contextlib
import csv
import io
import os
import signal
import subprocess

import psycopg
import pytest
import requests

import pg_tools
import regent_harness as rh

HAPROXY = "/usr/sbin/haproxy"
TIMEOUT = 90.0

CONFIG = """\
global
    maxconn 100

defaults
    mode tcp
    retries 2
    timeout client 30m
    timeout connect 4s
    timeout server 30m
    timeout check 2s

listen stats
    mode http
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /

listen primary
    bind 127.0.0.1:{primary_port}
    option httpchk OPTIONS /master
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
{primary_servers}

listen replicas
    bind 127.0.0.1:{replicas_port}
    option httpchk OPTIONS /replica
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
{replica_servers}
"""


class HAProxy:
    """One haproxy process in the foreground, its config and log under @dir."""

    def __init__(self, dir, nodes):
        self.dir = dir
        self.stats_port = rh.free_port()
        self.primary_port = rh.free_port()
        self.replicas_port = rh.free_port()
        servers = "\n".join(
            f"    server {n.name} 127.0.0.1:{n.pg_port} maxconn 100 check port {n.rest_port}"
            for n in nodes
        )
        self.config_path = dir / "haproxy.cfg"
        self.config_path.write_text(
            CONFIG.format(
                stats_port=self.stats_port,
                primary_port=self.primary_port,
                replicas_port=self.replicas_port,
                primary_servers=servers,
                replica_servers=servers,
            )
        )
        self.log_path = dir / "haproxy.log"
        self.proc = None
        self._log = None

    def check_config(self):
        r = subprocess.run(
            [HAPROXY, "-c", "-f", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 0, f"haproxy -c refused {self.config_path}:\n{r.stdout}{r.stderr}"

    def start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [HAPROXY, "-f", str(self.config_path), "-db"],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self):
        """SIGTERM by PID, then SIGKILL if it has not exited in 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(
                f"haproxy (pid {self.proc.pid}) exited with status {self.proc.returncode}:\n"
                + self.log_tail()
            )

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError as e:
            return f"(no haproxy log: {e})"

    def server_status(self, proxy):
        """{server name: status} of one listen section from HAProxy's own
        stats (CSV): UP, DOWN, or a transition such as "UP 1/2"."""
        self.check_alive()
        r = requests.get(f"http://127.0.0.1:{self.stats_port}/;csv", timeout=rh.API_TIMEOUT)
        r.raise_for_status()
        text = r.text.lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == proxy and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_status(self, cluster, proxy, up, down, what):
        """Wait until HAProxy marks exactly @up UP and @down DOWN in @proxy."""
        want = {n.name: "UP" for n in up}
        want.update({n.name: "DOWN" for n in down})

        def check():
            got = self.server_status(proxy)
            return all(got.get(name) == st for name, st in want.items())

        try:
            cluster.wait_until(check, TIMEOUT, what)
        except rh.WaitTimeout as e:
            raise AssertionError(
                f"{e}\nHAProxy's view of {proxy}: {self.server_status(proxy)}\n"
                f"----- haproxy log -----\n{self.log_tail()}"
            ) from None


def through(port):
    """(pg_is_in_recovery(), inet_server_port()) of a new connection to
    127.0.0.1:@port, and whether a write succeeds on it."""
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 2000")
        recovery, server_port = conn.execute(
            "SELECT pg_is_in_recovery(), inet_server_port()"
        ).fetchone()
        writable = False
        if not recovery:
            conn.execute("CREATE TABLE IF NOT EXISTS through_haproxy (port int)")
            conn.execute("INSERT INTO through_haproxy VALUES (%s)", (server_port,))
            writable = True
        return recovery, server_port, writable


def try_through(port):
    try:
        return through(port)
    except psycopg.Error:
        return None


@pytest.fixture
def haproxy(tmp_path):
    """A factory: haproxy(nodes) -> a running HAProxy; killed by PID at the end."""
    if not os.access(HAPROXY, os.X_OK):
        pytest.skip(f"{HAPROXY} is not installed (Debian package haproxy)")
    started = []

    def make(nodes):
        d = tmp_path / "haproxy"
        d.mkdir()
        hp = HAProxy(d, nodes)
        hp.check_config()
        started.append(hp)
        return hp.start()

    yield make
    for hp in started:
        hp.stop()


def test_haproxy_routes_to_the_primary_across_a_failover(make_cluster, haproxy):
    c = make_cluster(3)
    old, replicas = pg_tools.wait_for_primary_and_replicas(c, timeout=TIMEOUT)
    hp = haproxy(c.nodes)

    hp.wait_status(c, "primary", up=[old], down=replicas, what="HAProxy: only the primary UP")
    hp.wait_status(c, "replicas", up=replicas, down=[old], what="HAProxy: only replicas UP")

    # The primary listener reaches the primary, read-write.
    got = through(hp.primary_port)
    assert got == (False, old.pg_port, True), (
        f"through HAProxy's primary port: (in recovery, server port, writable) = {got}, "
        f"expected the primary {old.name} on port {old.pg_port}"
    )
    # The replicas listener reaches replicas only, both of them (roundrobin).
    seen = set()
    for _ in range(6):
        recovery, port, _ = through(hp.replicas_port)
        assert recovery is True and port in {r.pg_port for r in replicas}, (
            f"through HAProxy's replicas port: in recovery {recovery}, server port {port}; "
            f"replicas are on {[r.pg_port for r in replicas]}"
        )
        seen.add(port)
    assert seen == {r.pg_port for r in replicas}, f"replica ports reached: {seen}"

    # kill -9 of the primary's agent and postmaster.
    old.kill()
    old.kill_postmaster()
    new = pg_tools.wait_for_primary(c, replicas, TIMEOUT)
    (other,) = [r for r in replicas if r is not new]

    def reaches_new_primary():
        return try_through(hp.primary_port) == (False, new.pg_port, True)

    try:
        c.wait_until(
            reaches_new_primary,
            TIMEOUT,
            f"a new connection through HAProxy's primary port to reach {new.name} read-write",
        )
    except rh.WaitTimeout as e:
        raise AssertionError(
            f"{e}\nlast attempt: {try_through(hp.primary_port)}; "
            f"HAProxy's view: {hp.server_status('primary')}\n{hp.log_tail()}"
        ) from None
    hp.wait_status(
        c, "primary", up=[new], down=[old, other], what="HAProxy: only the new primary UP"
    )

    # The replicas listener now reaches the remaining replica, and neither
    # the dead node nor the new primary.
    hp.wait_status(
        c, "replicas", up=[other], down=[old, new], what="HAProxy: only the remaining replica UP"
    )
    for _ in range(3):
        got = through(hp.replicas_port)
        assert got[:2] == (True, other.pg_port), (
            f"through HAProxy's replicas port after the failover: (in recovery, server port) = "
            f"{got[:2]}, expected the replica {other.name} on port {other.pg_port}"
        )
