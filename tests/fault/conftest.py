"""pytest configuration of the fault suite (see docs/internals/fault-suite.md).

Run as root with Debian's interpreter:
  REGENT_BUILD=build /usr/bin/python3 -m pytest -v tests/fault
Options:
  --fault-results PATH  where the run's JSON results go (default
                        $REGENT_BUILD/fault-results/fault-<UTC time>.json)
  --soak N --seed S     also run the randomised soak test: N faults drawn
                        with seed S (default: a random seed, printed)
                        (env: FAULT_SOAK, FAULT_SEED)
"""

import atexit
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))

import regent_harness as rh  # noqa: E402
import netfault  # noqa: E402
import fault_harness as fh  # noqa: E402
import pg_tools as pt  # noqa: E402


def pytest_addoption(parser):
    g = parser.getgroup("fault")
    g.addoption("--fault-results", default=None, help="JSON results file of this run")
    g.addoption("--soak", type=int, default=int(os.environ.get("FAULT_SOAK", "0")),
                help="run the soak test with this many random faults")
    g.addoption("--seed", type=int, default=(int(os.environ["FAULT_SEED"])
                                             if os.environ.get("FAULT_SEED") else None),
                help="seed of the soak test (replays a run)")


# --------------------------------------------------------------------------
# Results


class Results:
    def __init__(self):
        self.scenarios = []

    def add(self, rec):
        self.scenarios.append(fh.to_json(rec))


_results = Results()


def _git_rev():
    r = subprocess.run(["git", "-C", str(rh.REPO_ROOT), "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True, timeout=10)
    return r.stdout.strip() or None


def pytest_sessionfinish(session, exitstatus):
    rh.kill_all_started()
    if not _results.scenarios:
        return
    path = session.config.getoption("--fault-results")
    if path is None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = rh.build_dir() / "fault-results" / f"fault-{stamp}.json"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "run": {
            "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(),
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "build": str(rh.build_dir()),
            "git": _git_rev(),
            "version": rh.project_version(),
            "exitstatus": int(exitstatus),
        },
        "scenarios": _results.scenarios,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    session.config._fault_results_path = path


def pytest_terminal_summary(terminalreporter, config):
    path = getattr(config, "_fault_results_path", None)
    if path is not None:
        terminalreporter.write_line(f"fault results: {path} (render: bench/fault_report.py {path})")


@pytest.fixture(scope="session")
def results():
    return _results


# --------------------------------------------------------------------------
# Failure reports: the logs of every node of the scenario's cluster.


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    nodes = getattr(item, "_regent_nodes", [])
    if rep.when in ("setup", "call") and rep.failed and nodes:
        rep.sections.append(("regent logs", rh.logs_report(nodes, lines=60)))


# --------------------------------------------------------------------------
# The fabric: one bridge per session, swept at the end however it ends.


@pytest.fixture(scope="session")
def fabric(regent_build):
    why = netfault.prerequisites()
    if why:
        pytest.skip(why)
    for prefix in netfault.sweep_stale():
        print(f"\nswept what the dead run {prefix} left behind")
    f = netfault.Fabric()
    atexit.register(f.sweep)  # an interrupted session still cleans up
    print(f"\nfault fabric: prefix {f.prefix}, subnet {f.cidr}")
    yield f
    rh.kill_all_started()
    f.sweep()


@pytest.fixture(scope="session")
def regent_build():
    rh.regent_bin()
    rh.witness_bin()
    return rh.build_dir()


# --------------------------------------------------------------------------
# Modes


MODES = ["async", "sync", "quorum"]
_SYNC_VALUE = {"async": None, "sync": True, "quorum": "quorum"}


def mode_overrides(mode):
    v = _SYNC_VALUE[mode]
    if v is None:
        return {}
    return {"bootstrap": {"dcs": {"synchronous_mode": v, "synchronous_node_count": 1}}}


SYNC_PROOF_TIMEOUT = 10.0


def sync_unsupported(pool, cluster, primary):
    """None when @cluster, bootstrapped with synchronous_mode, runs it; else
    the reason, found at runtime: a primary that implements the mode names
    its synchronous standbys in synchronous_standby_names (DESIGN.md: the
    primary maintains it), so an empty value for SYNC_PROOF_TIMEOUT after
    the replicas stream means this build ignores the key (today it is
    listed as a Patroni key Regent accepts and ignores)."""
    value = ""
    deadline = time.monotonic() + SYNC_PROOF_TIMEOUT
    while time.monotonic() < deadline:
        rows = pt.try_query(primary, "SHOW synchronous_standby_names")
        value = rows[0][0] if rows else ""
        if value:
            return None
        time.sleep(0.2)
    cfg = {}
    try:
        cfg = primary.api("/config").json()
    except Exception:  # noqa: BLE001 - only for the message
        pass
    return (f"bootstrapped with synchronous_mode={cfg.get('synchronous_mode', '(absent)')!r} "
            f"in GET /config, the primary's synchronous_standby_names is still empty "
            f"{SYNC_PROOF_TIMEOUT:g}s after its replicas stream: this build does not "
            f"implement synchronous_mode yet")


SYNC_LINE = "INFO ha: synchronous replication: "


def sync_settled(primary, timeout=SYNC_PROOF_TIMEOUT):
    """Wait (at most @timeout, then go on) until @primary's synchronous
    replication planner is "in line" with every replica connected.

    Streaming replicas are not enough in the synchronous modes: the primary
    adds them to the sync record with k 0, waits for PostgreSQL to reload
    synchronous_standby_names and only then raises k (DESIGN.md's safe
    order). A fault injected in that window finds a record that promises
    nothing, and the coordinator rightly refuses every failover ("the sync
    record promises nothing (k 0)"): the scenario would test the window,
    not the fault. The REST API does not expose k, so the planner's own
    log line is the signal; a timeout is not an error (the scenario's
    checks still judge what happens)."""
    def settled():
        lines = [l for l in primary.log_tail(400).splitlines() if SYNC_LINE in l]
        last = lines[-1].split(SYNC_LINE, 1)[1] if lines else ""
        return last.startswith("in line") and "not connected" not in last
    with contextlib.suppress(rh.WaitTimeout):
        rh.wait_until(settled, timeout, f"{primary.name}'s sync record in line")


# --------------------------------------------------------------------------
# Clusters shared by the scenarios of a module, one per mode.


class Pool:
    """Hands out a healthy cluster of one shape and mode to scenario after
    scenario; rebuilds it from scratch when a scenario left it unhealthy
    (that scenario has failed already), so one failure does not cascade."""

    def __init__(self, fabric, base, mode, n, witness, tag, watchdog=False):
        self.fabric, self.base, self.mode = fabric, Path(base), mode
        self.n, self.witness, self.tag = n, witness, tag
        self.watchdog = watchdog
        self.cluster = None
        self.unsupported = None  # why this mode cannot run, once known
        self.proven = mode == "async"
        self.dirty = False  # set by a scenario that left the cluster broken
        self.generation = 0
        self.item = None

    def _build(self):
        if self.cluster is not None:
            self.cluster.stop()
        self.generation += 1
        d = self.base / f"gen{self.generation}"
        d.mkdir(parents=True)
        self.cluster = fh.FaultCluster(
            d, self.fabric, n=self.n, witness=self.witness,
            scope=f"fault-{'wd-' if self.watchdog else ''}{self.mode}",
            tag=self.tag, overrides=mode_overrides(self.mode), watchdog=self.watchdog)
        self.cluster.start()

    def healthy(self, item=None):
        if self.unsupported:
            pytest.skip(f"{self.mode} mode: {self.unsupported}")
        got = self._healthy(item)
        if not self.proven:
            why = sync_unsupported(self, got[0], got[1])
            if why:
                self.unsupported = why
                self.close()
                pytest.skip(f"{self.mode} mode: {why}")
            self.proven = True
        if self.mode != "async":
            sync_settled(got[1])
        return got

    def _healthy(self, item=None):
        if item is not None:
            item._regent_nodes = self.cluster.nodes if self.cluster else []
        if self.cluster is None or self.dirty:
            self.dirty = False
            self._build()
        else:
            try:
                for n in self.cluster.nodes:
                    if not n.alive():
                        n.start()
                return (self.cluster,) + fh.wait_healthy(self.cluster, timeout=30)
            except (AssertionError, rh.WaitTimeout):
                self._build()
        if item is not None:
            item._regent_nodes = self.cluster.nodes
        return (self.cluster,) + fh.wait_healthy(self.cluster)

    def close(self):
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None


def _pool(request, fabric, tmp_path_factory, n, witness, tag, watchdog=False):
    mode = request.param
    p = Pool(fabric, tmp_path_factory.mktemp(f"{tag}{mode}"), mode, n, witness, tag, watchdog)
    yield p
    p.close()


@pytest.fixture(scope="module", params=MODES)
def three(request, fabric, tmp_path_factory):
    """Three agents, mode from the parameter."""
    yield from _pool(request, fabric, tmp_path_factory, 3, False, "t")


@pytest.fixture(scope="module", params=["async"])
def three_wd(request, fabric, tmp_path_factory):
    """Three agents with the test watchdog (watchdog.mode: required,
    driver testing) and a WatchdogSupervisor per node, async mode only: the
    watchdog's promise does not depend on the replication mode, and one
    more cluster costs CI a bootstrap. Its own members (tag "d"), so it
    never shares a namespace with the three-agent pool."""
    yield from _pool(request, fabric, tmp_path_factory, 3, False, "d", watchdog=True)


@pytest.fixture(scope="module", params=MODES)
def pair(request, fabric, tmp_path_factory):
    """Two agents and a witness."""
    yield from _pool(request, fabric, tmp_path_factory, 2, True, "w")
