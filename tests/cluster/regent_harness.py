"""Harness for the cluster tests: real regent processes on loopback.

A test builds a Cluster (or single Nodes), starts the agents, and waits for
what it expects with Cluster.wait_until(pred, timeout, what): bounded polling,
never a sleep. Every process started here is remembered by PID, so the
fixtures in conftest.py can kill whatever a test left running, even when the
test fails half-way; as a last resort every agent also gets SIGKILL from the
kernel when the pytest process dies (PR_SET_PDEATHSIG).

Ports are picked at runtime by binding port 0 on 127.0.0.1. Nothing here
listens on or connects to anything but 127.0.0.1.

The binaries come from the meson build directory named by $REGENT_BUILD
(default "build"; a relative path is taken from the repository root):
regent, witness/regent-witness and cli/regentctl.
"""

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every wait is bounded: these are the defaults, in seconds.
STOP_TIMEOUT = 10.0  # SIGTERM -> exit, before we fall back to SIGKILL
API_TIMEOUT = 2.0  # one REST request
POLL_INTERVAL = 0.05  # between two evaluations of a wait_until predicate
BOOTSTRAP_TIMEOUT = 30.0  # a fresh cluster elects a Raft leader

# The cluster secret of the tests (raft.password needs at least 8 characters).
TEST_PASSWORD = "regent-test-cluster-secret"

# PostgreSQL 15 from Debian. PostgreSQL refuses to run as root, so when the
# tests run as root every agent runs as this user, in directories it owns.
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "postgres"
REPLICATION_PASSWORD = "regent-test-replication"


# --------------------------------------------------------------------------
# Binaries


def build_dir():
    """The meson build directory the tests run the binaries of."""
    d = Path(os.environ.get("REGENT_BUILD", "build"))
    if not d.is_absolute():
        d = REPO_ROOT / d
    return d


def _binary(relpath):
    path = build_dir() / relpath
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"{path}: no such executable; build first (./dev build) or set REGENT_BUILD"
        )
    return path


def regent_bin():
    return _binary("regent")


def witness_bin():
    return _binary("witness/regent-witness")


def regentctl_bin():
    return _binary("cli/regentctl")


def project_version():
    """The version meson configured (build/meson-info), or None if unknown."""
    info = build_dir() / "meson-info" / "intro-projectinfo.json"
    try:
        return json.loads(info.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def agent_argv(binary, config_path):
    """The command line that runs an agent (or witness) on @config_path."""
    return [str(binary), "--config", str(config_path)]


def validate_argv(binary, config_path):
    """The command line that only validates @config_path (exit 0 or 2)."""
    return [str(binary), "--validate-config", str(config_path)]


# --------------------------------------------------------------------------
# Ports

_ports_lock = threading.Lock()
_ports_handed_out = set()


def free_port():
    """A TCP port of 127.0.0.1 that was free a moment ago.

    The kernel picks it (bind to port 0). Ports are remembered for the life
    of the process so two nodes never get the same one, even after the first
    node's port was released. The kernel could still give the port to some
    other process before the agent binds it; Linux hands out even ports to
    connect() and odd ones to bind(0), which keeps that rare.
    """
    with _ports_lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _ports_handed_out:
                _ports_handed_out.add(port)
                return port
    raise RuntimeError("could not find a free port on 127.0.0.1 in 200 tries")


# --------------------------------------------------------------------------
# Waiting


class WaitTimeout(AssertionError):
    """A wait_until predicate did not hold in time."""


class NodeDied(AssertionError):
    """A node the test expected to be running has exited."""


def wait_until(pred, timeout, what, nodes=(), interval=POLL_INTERVAL):
    """Poll @pred until it returns a true value, and return that value.

    @pred may raise: a requests error or a KeyError/TypeError/ValueError from
    a JSON reply that is not complete yet counts as "not yet" (the last one is
    shown on timeout). Every poll also checks @nodes: one that should be
    running but has exited fails the wait at once instead of at the timeout.
    On timeout, raises WaitTimeout naming @what, the last error and the tail
    of each node's log.
    """
    deadline = time.monotonic() + timeout
    max_polls = int(timeout / interval) + 2
    last_err = None
    for _ in range(max_polls):
        for n in nodes:
            n.check_alive()
        try:
            value = pred()
            if value:
                return value
            last_err = None
        except (requests.RequestException, KeyError, TypeError, ValueError) as e:
            last_err = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    msg = f"timed out after {timeout:g}s waiting for {what}"
    if last_err is not None:
        msg += f" (last error: {type(last_err).__name__}: {last_err})"
    raise WaitTimeout(msg + logs_report(nodes, lines=20))


def logs_report(nodes, lines=60):
    """The tail of every node's log, as text for a failure message."""
    out = []
    for n in nodes:
        out.append(f"\n----- {n.name}: {n.describe()} -----\n{n.log_tail(lines)}")
    return "".join(out)


# --------------------------------------------------------------------------
# Processes

# Every Node ever started in this process, so a session-end hook can kill
# what a broken fixture could not.
_all_nodes = []


# Loaded here, not in the child: the child between fork and exec should do
# as little as possible.
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_PR_SET_PDEATHSIG = 1


def _set_pdeathsig():
    """In the child before exec: die with the pytest process.

    Without this, a pytest killed by a timeout or ^C twice would leave agents
    holding ports and Raft directories behind.
    """
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _clean_env():
    """The environment for agents: none of the developer's overrides.

    regent reads REGENT_* and PATRONI_* variables on top of its file; a test
    must see only the file it wrote.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("REGENT_") or k.startswith("PATRONI_"))
    }
    return env


def _run_as():
    """(uid, gid) the agents run as: postgres when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    import pwd

    pw = pwd.getpwnam(PG_USER)
    return pw.pw_uid, pw.pw_gid


def _make_reachable(path, ids):
    """Let the agents' user reach @path: chown it, and make every directory
    above it traversable (pytest's base directory is 0700 root)."""
    path = Path(path)
    if ids is None:
        return
    os.chown(path, *ids)
    for parent in path.parents:
        try:
            mode = parent.stat().st_mode
        except OSError:
            break
        if not mode & 0o001:
            os.chmod(parent, mode | 0o011)


def _deep_merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v
    return base


class Node:
    """One regent (or regent-witness) process with its own directory.

    The directory holds regent.yml, raft/ (raft.data_dir) and regent.log,
    which receives the process's stdout and stderr (the agent logs to stderr
    unless log_dir is given). Ports are chosen when the Node is created and
    kept across restarts, so partners can keep its address.
    """

    def __init__(
        self,
        name,
        base_dir,
        scope="test",
        witness=False,
        password=TEST_PASSWORD,
        log_level="INFO",
        log_dir=False,
        overrides=None,
        env=None,
    ):
        self.name = name
        self.witness = witness
        self.scope = scope
        self.password = password
        self.log_level = log_level
        self.dir = Path(base_dir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run_as = _run_as()
        _make_reachable(self.dir, self.run_as)
        self.config_path = self.dir / "regent.yml"
        self.log_path = self.dir / "regent.log"
        # log_dir=True gives the agent its own log directory (log.dir).
        self.log_dir = self.dir / "log" if log_dir else None
        self.raft_port = free_port()
        self.rest_port = free_port()
        self.pg_port = free_port()
        # The address clients connect to PostgreSQL on; a subclass that puts
        # the node in its own network namespace changes it (tests/fault).
        self.pg_host = "127.0.0.1"
        self.pg_addr = f"127.0.0.1:{self.pg_port}"
        self.raft_addr = f"127.0.0.1:{self.raft_port}"
        self.rest_addr = f"127.0.0.1:{self.rest_port}"
        self.api_url = f"http://{self.rest_addr}"
        self.partner_addrs = []
        self.overrides = overrides or {}
        # Extra environment (test hooks such as REGENT_TEST_HOOKS=1).
        self.env = dict(env or {})
        self.proc = None
        # True from start() until the test stops or kills the node: a node
        # that exits while this is set has crashed.
        self.expected_running = False
        self.paused = False
        self._log_file = None

    # --- configuration

    def config(self):
        """The configuration this node runs with, as a dict."""
        cfg = {
            "scope": self.scope,
            "name": self.name,
            "restapi": {"listen": self.rest_addr, "connect_address": self.rest_addr},
            "raft": {
                "data_dir": str(self.dir / "raft"),
                "self_addr": self.raft_addr,
                "partner_addrs": list(self.partner_addrs),
                "password": self.password,
                # Small segments: c-raft preallocates three per node.
                "segment_size": 1048576,
            },
            "log": {"level": self.log_level},
        }
        if not self.witness:
            cfg.update(self.pg_config())
        if self.log_dir is not None:
            cfg["log"]["dir"] = str(self.log_dir)
        return _deep_merge(cfg, self.overrides)

    def pg_config(self):
        """The bootstrap and postgresql sections: trust on loopback, small
        shared memory, pg_rewind allowed, no Unix socket (test paths are
        longer than a socket path may be)."""
        return {
            "bootstrap": {
                "dcs": {
                    "postgresql": {"use_pg_rewind": True, "parameters": {"max_connections": 30}}
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 trust",
                    "host replication all 127.0.0.1/32 trust",
                ],
            },
            "postgresql": {
                "listen": self.pg_addr,
                "connect_address": self.pg_addr,
                "data_dir": str(self.dir / "data"),
                "bin_dir": PG_BIN,
                "pgpass": str(self.dir / "pgpass"),
                "parameters": {
                    "unix_socket_directories": "",
                    "shared_buffers": "16MB",
                },
                "authentication": {
                    "superuser": {"username": "postgres"},
                    "replication": {"username": "replicator", "password": REPLICATION_PASSWORD},
                },
            },
        }

    def write_config(self):
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        if self.run_as is not None:
            os.chown(self.config_path, *self.run_as)
        return self.config_path

    # --- process control

    @property
    def binary(self):
        return witness_bin() if self.witness else regent_bin()

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def start(self):
        """Write the config and start the process in the background."""
        if self.alive():
            raise RuntimeError(f"{self.name}: already running (pid {self.pid})")
        self.write_config()
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        # Appending keeps the log of earlier lifetimes across restarts.
        self._log_file = open(self.log_path, "ab")
        if self.run_as is not None:
            os.chown(self.log_path, *self.run_as)
        self._log_file.write(f"=== harness: starting {self.name} ===\n".encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            agent_argv(self.binary, self.config_path),
            cwd=self.dir,
            env={**_clean_env(), **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=self._preexec(),
            **self._popen_user(),
        )
        if self not in _all_nodes:
            _all_nodes.append(self)
        self.expected_running = True
        self.paused = False
        return self

    def _preexec(self):
        """The function the child runs before exec. A subclass can return
        its own (tests/fault enters a network namespace and a cgroup there,
        which must happen before dropping root, so it also takes over
        _popen_user's job and returns {} from it)."""
        return _set_pdeathsig

    def _popen_user(self):
        if self.run_as is None:
            return {}
        return {"user": self.run_as[0], "group": self.run_as[1], "extra_groups": []}

    # --- PostgreSQL

    def postmaster_pid(self):
        """The postmaster's pid from postmaster.pid, or None."""
        try:
            return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill_postmaster(self):
        """SIGKILL the postmaster (its children die when they notice)."""
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pid

    def dsn(self, dbname="postgres", **kw):
        opts = {"host": self.pg_host, "port": self.pg_port, "user": "postgres", "dbname": dbname,
                "connect_timeout": 2}
        opts.update(kw)
        return " ".join(f"{k}={v}" for k, v in opts.items())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        """Raise NodeDied if the node should be running but has exited."""
        if self.expected_running and self.proc is not None and self.proc.poll() is not None:
            self.expected_running = False
            raise NodeDied(
                f"{self.name} (pid {self.proc.pid}) exited unexpectedly with status "
                f"{self.proc.returncode}" + logs_report([self], lines=30)
            )

    def _signal(self, sig):
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL if it has not exited within @timeout.

        Returns the exit status (negative: killed by that signal), or None
        when the node was not started.
        """
        if self.proc is None:
            return None
        self.expected_running = False
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            # A stopped process keeps SIGTERM pending until it runs again.
            if self.paused:
                self._signal(signal.SIGCONT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        self.paused = False
        self._close_log()
        return self.proc.returncode

    def cleanup(self):
        """Stop the agent, then SIGKILL a postmaster it left behind (after
        kill() the agent could not stop its PostgreSQL)."""
        self.stop()
        if self.postmaster_pid() is not None and not self.witness:
            self.kill_postmaster()

    def kill(self):
        """SIGKILL (a crash, as far as the agent can tell)."""
        if self.proc is None:
            return None
        self.expected_running = False
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)
        self.paused = False
        self._close_log()
        return self.proc.returncode

    def pause(self):
        """SIGSTOP: the process is frozen, its sockets stay open."""
        self._signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self._signal(signal.SIGCONT)
        self.paused = False

    def restart(self, timeout=STOP_TIMEOUT):
        """Stop (SIGTERM) and start again with the same ports and data."""
        self.stop(timeout)
        return self.start()

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def describe(self):
        if self.proc is None:
            return "never started"
        rc = self.proc.poll()
        if rc is None:
            return f"pid {self.proc.pid}, " + ("paused" if self.paused else "running")
        return f"pid {self.proc.pid}, exited with status {rc}"

    # --- REST

    def api(self, path, method="GET", json=None, timeout=API_TIMEOUT):
        """One request to this node's REST API; returns the requests.Response."""
        return requests.request(method, self.api_url + path, json=json, timeout=timeout)

    def cluster(self):
        """GET /cluster as a dict; raises on a non-200 reply."""
        r = self.api("/cluster")
        r.raise_for_status()
        return r.json()

    # --- logs

    def log_files(self):
        files = [self.log_path]
        if self.log_dir is not None and self.log_dir.is_dir():
            files += sorted(p for p in self.log_dir.iterdir() if p.is_file())
        return [f for f in files if f.exists()]

    def log_tail(self, n=50):
        """The last @n lines of each of the node's log files."""
        parts = []
        for f in self.log_files():
            try:
                with open(f, "rb") as fp:
                    # Logs stay small in tests, but never read more than 1 MiB.
                    fp.seek(0, os.SEEK_END)
                    size = fp.tell()
                    fp.seek(max(0, size - (1 << 20)))
                    lines = fp.read().decode(errors="replace").splitlines()
            except OSError as e:
                lines = [f"(could not read: {e})"]
            if len(self.log_files()) > 1:
                parts.append(f"[{f.name}]")
            parts.extend(lines[-n:])
        return "\n".join(parts) if parts else "(no log)"

    def __repr__(self):
        return f"<Node {self.name} {self.describe()}>"


def kill_all_started():
    """SIGKILL every node this process ever started that still runs."""
    for n in _all_nodes:
        with contextlib.suppress(Exception):
            if n.alive():
                n.resume()
                n.kill()
            n.kill_postmaster()


# --------------------------------------------------------------------------
# Clusters


class Cluster:
    """N agents (node1..nodeN) and optionally one witness, all partners.

    Each node's partner_addrs lists the Raft address of every other node.
    The cluster is not started by the constructor: call start().
    """

    def __init__(self, base_dir, n=3, witness=False, scope="test", **node_kw):
        self.base_dir = Path(base_dir)
        self.scope = scope
        self.nodes = [
            Node(f"node{i}", self.base_dir, scope=scope, **node_kw) for i in range(1, n + 1)
        ]
        if witness:
            self.nodes.append(Node("witness", self.base_dir, scope=scope, witness=True, **node_kw))
        addrs = [n.raft_addr for n in self.nodes]
        for node in self.nodes:
            node.partner_addrs = [a for a in addrs if a != node.raft_addr]

    def __getitem__(self, name):
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def __iter__(self):
        return iter(self.nodes)

    @property
    def names(self):
        return [n.name for n in self.nodes]

    def start(self):
        for n in self.nodes:
            n.start()
        return self

    def live_nodes(self):
        """Nodes running and not paused: the ones that can answer."""
        return [n for n in self.nodes if n.alive() and not n.paused]

    def wait_until(self, pred, timeout, what, interval=POLL_INTERVAL):
        """wait_until() watching every node of the cluster (see above)."""
        return wait_until(pred, timeout, what, nodes=self.nodes, interval=interval)

    def leaders_seen(self):
        """{node name: raft.leader from its GET /cluster} for each live node."""
        return {n.name: n.cluster()["raft"]["leader"] for n in self.live_nodes()}

    def leader(self, timeout=BOOTSTRAP_TIMEOUT):
        """The Raft leader's name, once every live node names the same one."""

        def agreed():
            seen = self.leaders_seen()
            names = set(seen.values())
            # A leader named by its address has no peers record yet.
            if len(seen) > 0 and len(names) == 1 and names <= set(self.names):
                return names.pop()
            return None

        return self.wait_until(agreed, timeout, "every live node to report the same raft leader")

    def stop(self):
        """Stop every node (SIGTERM, then SIGKILL) and any PostgreSQL left
        behind; used by the fixtures."""
        for n in self.nodes:
            n.cleanup()

    def kill(self):
        for n in self.nodes:
            n.kill()

    def logs_report(self, lines=60):
        return logs_report(self.nodes, lines)
