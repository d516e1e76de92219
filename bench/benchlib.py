"""What bench/failover.py and bench/switchover.py share: building, the
harness's clusters of real agents and PostgreSQL, a writer through a
multi-host connection string, the agents' and PostgreSQL's logs, the
header, the common options and the main loop (docs/benchmarks.md).

Everything here prints or measures; nothing asserts.
"""

import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "cluster"))

import psycopg  # noqa: E402
import requests  # noqa: E402

import regent_harness as rh  # noqa: E402

POLL = 0.02  # seconds between two polls of the cluster
CONNECT_TIMEOUT = 1


class BenchError(Exception):
    """The cluster did something the benchmark cannot measure around."""


# --------------------------------------------------------------------------
# Build


def ensure_built(build, targets=("regent",)):
    if not (build / "build.ninja").exists():
        print(f"configuring {build} (meson setup)", file=sys.stderr)
        run_quiet(["meson", "setup", str(build)], f"meson setup {build}")
    what = " ".join(targets)
    run_quiet(["ninja", "-C", str(build), *targets], f"ninja -C {build} {what}")


def run_quiet(argv, what):
    r = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise BenchError(f"{what} failed with status {r.returncode}")


# --------------------------------------------------------------------------
# Processes


def is_postmaster_of(pid, data_dir):
    """Is @pid a postgres started with -D @data_dir (not a recycled pid)?"""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    d = str(data_dir).encode()
    for i, arg in enumerate(argv):
        if arg == b"-D" and i + 1 < len(argv) and argv[i + 1] == d:
            return True
        if arg == b"-D" + d:
            return True
    return False


def kill_postmaster_checked(node):
    """SIGKILL @node's postmaster, but only if postmaster.pid names a live
    postgres of its data directory (a file left by kill -9 names a dead pid
    that the kernel may have handed to someone else)."""
    pid = node.postmaster_pid()
    if pid is not None and is_postmaster_of(pid, node.dir / "data"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop_cluster(cluster, last=None):
    """Stop every agent (SIGTERM, then SIGKILL after 10 s), @last (the
    primary: it would hand over to a replica) at the end, then any
    postmaster one left behind. Bounded."""
    for n in sorted(cluster.nodes, key=lambda n: n is last):
        with contextlib.suppress(Exception):
            n.stop()
    for n in cluster.nodes:
        with contextlib.suppress(Exception):
            kill_postmaster_checked(n)


def kill_cluster(cluster):
    """Last resort (second ^C, errors while stopping): SIGKILL everything."""
    for n in cluster.nodes:
        with contextlib.suppress(Exception):
            if n.alive():
                n.resume()
                n.kill()
        with contextlib.suppress(Exception):
            kill_postmaster_checked(n)


class ClusterRun:
    """with ClusterRun(prefix, base_root, keep) as run: a three-node cluster
    (run.cluster, not started) in a new temporary directory (run.base). On
    the way out, whatever happened: run.writer stopped, if set, every agent
    and postmaster stopped, the directory deleted unless @keep."""

    def __init__(self, prefix, base_root, keep):
        self.keep = keep
        self.base = Path(tempfile.mkdtemp(prefix=prefix, dir=base_root))
        self.cluster = rh.Cluster(self.base, n=3, scope="bench")
        self.writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.writer is not None:
            self.writer.stop()
        try:
            stop_cluster(self.cluster)
        finally:
            kill_cluster(self.cluster)
            if self.keep:
                sys.stdout.flush()
                print(f"  kept {self.base}", file=sys.stderr)
            else:
                shutil.rmtree(self.base, ignore_errors=True)
        return False


# --------------------------------------------------------------------------
# PostgreSQL


def node_dsn(node):
    return (
        f"host=127.0.0.1 port={node.pg_port} user=postgres dbname=postgres "
        f"connect_timeout={CONNECT_TIMEOUT}"
    )


def multi_host_dsn(nodes):
    hosts = ",".join("127.0.0.1" for _ in nodes)
    ports = ",".join(str(n.pg_port) for n in nodes)
    return (
        f"host={hosts} port={ports} user=postgres dbname=postgres "
        f"target_session_attrs=read-write connect_timeout={CONNECT_TIMEOUT}"
    )


def query(node, sql, params=None):
    """Rows of @sql on @node, or None when it cannot answer."""
    try:
        with psycopg.connect(node_dsn(node), autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []
    except psycopg.Error:
        return None


# A replica streams through the replication slot named after it. The slot
# matters: pg_basebackup's WAL stream (a temporary slot) is "streaming" in
# pg_stat_replication too, while the clone is still being copied.
STREAMING_SQL = (
    "SELECT pg_is_in_recovery(), "
    "(SELECT count(*) FROM pg_stat_replication r JOIN pg_replication_slots s "
    " ON s.active_pid = r.pid WHERE r.state = 'streaming' AND s.slot_name IN ({names}))"
)


def wait_streaming(cluster, timeout):
    """The primary once it is out of recovery and the other two members
    stream from it through their slots."""
    deadline = time.monotonic() + timeout
    while True:
        for n in cluster.nodes:
            n.check_alive()
            others = ", ".join(f"'{m.name}'" for m in cluster.nodes if m is not n)
            rows = query(n, STREAMING_SQL.format(names=others))
            if rows and rows[0][0] is False and rows[0][1] >= 2:
                return n
        if time.monotonic() >= deadline:
            raise BenchError(
                f"no primary with two streaming replicas after {timeout:g} s"
                + cluster.logs_report(lines=20)
            )
        time.sleep(POLL)


class Writer(threading.Thread):
    """Inserts a row into @table every @interval seconds through the
    multi-host string and records (monotonic time, port, row id) of every
    acknowledged insert, and (monotonic time, error) of every failure."""

    def __init__(self, nodes, interval, table):
        super().__init__(daemon=True)
        self.dsn = multi_host_dsn(nodes)
        self.interval = interval
        self.insert = f"INSERT INTO {table} VALUES (%s, now())"
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.acked = []  # (monotonic, port, row id)
        self.errors = []  # (monotonic, text)

    def run(self):
        conn = None
        port = None
        i = 0
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True)
                    port = conn.info.port
                i += 1
                conn.execute(self.insert, (i,))
                t = time.monotonic()
                with self.lock:
                    self.acked.append((t, port, i))
            except psycopg.Error as e:
                t = time.monotonic()
                text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                with self.lock:
                    self.errors.append((t, text))
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            self.stop_event.wait(self.interval)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def stop(self):
        self.stop_event.set()
        self.join(timeout=10)

    def snapshot(self):
        with self.lock:
            return list(self.acked), list(self.errors)


def error_kinds(errors, n=3):
    """"Cx text; ..." for the @n most frequent texts of [(t, text)]."""
    kinds = {}
    for _, e in errors:
        kinds[e] = kinds.get(e, 0) + 1
    top = sorted(kinds.items(), key=lambda x: -x[1])[:n]
    return "; ".join(f"{c}x {e[:90]}" for e, c in top)


def print_odd(odd, where):
    """The first eight of @odd [(seconds, node, level, module, message)]."""
    if odd:
        print(f"  warnings and errors in {where} ({len(odd)}):")
        for t, name, lvl, mod, msg in odd[:8]:
            print(f"    +{t:6.3f} {name} {lvl} {mod}: {msg}")
        if len(odd) > 8:
            print(f"    ... {len(odd) - 8} more")


# --------------------------------------------------------------------------
# Logs

LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC (\w+) (\w+): (.*)$")
PG_LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC \[\d+\] (\w+):\s+(.*)$")


# (key, module, message pattern): a new holder of the lease in its agent log,
# from the grant (or handover) to its promotion.
PROMOTION_EVENTS = [
    ("granted_to_us", "ha", re.compile(r"lease epoch \d+ granted to us")),
    ("confirmed", "ha", re.compile(r"lease epoch \d+ confirmed by our renewal")),
    ("handed", "ha", re.compile(r"Raft leadership handed to another voter")),
    ("promoting", "pg", re.compile(r"promoting ")),
    ("promoted", "pg", re.compile(r"promoted: out of recovery")),
]
# (key, message pattern): its promotion in its PostgreSQL log (data.log, next
# to the data directory).
PROMOTION_PG_EVENTS = [
    ("pg_promote_request", re.compile(r"received promote request")),
    ("pg_new_timeline", re.compile(r"selected new timeline ID")),
    ("pg_recovery_complete", re.compile(r"archive recovery complete")),
    ("pg_ready", re.compile(r"database system is ready to accept connections")),
]


def parse_utc(text):
    t = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def log_lines(node):
    """[(wall time, level, module, message)] of @node's agent log."""
    out = []
    for f in node.log_files():
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = LOG_RE.match(line)
            if m:
                out.append((parse_utc(m.group(1)), m.group(2), m.group(3), m.group(4)))
    return out


def pg_log_lines(node):
    """[(wall time, level, message)] of @node's PostgreSQL log, if any."""
    out = []
    with contextlib.suppress(OSError):
        for line in (node.dir / "data.log").read_text(errors="replace").splitlines():
            m = PG_LOG_RE.match(line)
            if m:
                out.append((parse_utc(m.group(1)), m.group(2), m.group(3)))
    return out


def lease_view(node):
    """(lease dict, raft leader) from @node's GET /cluster, or (None, None)."""
    with contextlib.suppress(Exception):
        c = node.api("/cluster", timeout=1.0).json()
        return c.get("lease"), (c.get("raft") or {}).get("leader")
    return None, None


# --------------------------------------------------------------------------
# Header, options, main loop


def loadavg():
    with contextlib.suppress(Exception):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def header(build, base_root, title, interval, then):
    """The title line, the build and machine line, then the writer's line:
    one insert every @interval seconds ...; @then."""
    version = rh.project_version() or "?"
    commit = "?"
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    buildtype = "?"
    with contextlib.suppress(Exception):
        opts = json.loads((build / "meson-info" / "intro-buildoptions.json").read_text())
        buildtype = next(o["value"] for o in opts if o["name"] == "buildtype")
    fstype = "?"
    with contextlib.suppress(Exception):
        fstype = subprocess.run(
            ["findmnt", "-n", "-o", "FSTYPE", "-T", str(base_root)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    load = loadavg()
    try:
        rel = build.relative_to(REPO_ROOT)
    except ValueError:
        rel = build
    print(
        f"{title} ({rel}/, 3 agents + PostgreSQL on 127.0.0.1, "
        f"{datetime.date.today().isoformat()})"
    )
    print(
        f"regent {version} ({commit}, {buildtype}), {os.cpu_count()} CPUs, "
        f"data on {fstype} under {base_root}, load average {load}"
    )
    print(
        f"writer: one insert every {interval * 1000:g} ms through a multi-host "
        f"string (target_session_attrs=read-write, connect_timeout={CONNECT_TIMEOUT}); {then}"
    )


def add_common_args(p, runs_help):
    """--runs, --build, --no-build and --keep."""
    p.add_argument("--runs", type=int, default=5, metavar="N", help=runs_help)
    p.add_argument("--build", default="build", metavar="DIR",
                   help="meson build directory (default build; relative to the repository)")
    p.add_argument("--no-build", action="store_true",
                   help="do not run meson/ninja, use the binary as it is")
    p.add_argument("--keep", action="store_true",
                   help="keep each run's temporary directory (configs, data, logs)")


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def bench_main(a, prog, show_header, units, one_unit, print_run, print_summary):
    """Build, print the header, then @units times @one_unit(k, base_root,
    keep) -> [result]; a result with "failed" is reported as failed (as is
    a unit that raises), the others through @print_run. The summary of the
    results comes last, after ^C or an error too. The exit status."""
    build = Path(a.build)
    if not build.is_absolute():
        build = REPO_ROOT / build
    # The harness finds the binaries through $REGENT_BUILD.
    os.environ["REGENT_BUILD"] = str(build)
    signal.signal(signal.SIGTERM, on_sigterm)
    base_root = Path(tempfile.gettempdir())
    runs = []
    try:
        if not a.no_build:
            ensure_built(build)
        show_header(build, base_root)
        sys.stdout.flush()
        failed = []
        for k in range(1, units + 1):
            try:
                out = one_unit(k, base_root, a.keep)
            except (BenchError, rh.WaitTimeout, rh.NodeDied) as e:
                # Reported, and the next run starts on a fresh cluster.
                print(f"run {k}: FAILED: {e}")
                failed.append(k)
                continue
            finally:
                sys.stdout.flush()
            for r in out:
                if "failed" in r:
                    print(f"run {r['run']}: FAILED: {r['failed']}")
                    failed.append(r["run"])
                    continue
                runs.append(r)
                print_run(r)
            sys.stdout.flush()
        if runs:
            print_summary(runs, failed)
        return 0 if runs else 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        if runs:
            print_summary(runs)
        return 130
    except BrokenPipeError:
        # The reader of our output has gone (| head): stop quietly.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (BenchError, requests.RequestException, OSError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        if runs:
            print_summary(runs)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # Each unit stops its own cluster; this is the last resort for any
        # agent the harness started (it checks nothing about postmaster pids,
        # so only agents here).
        for n in rh._all_nodes:
            with contextlib.suppress(Exception):
                if n.alive():
                    n.resume()
                    n.kill()
