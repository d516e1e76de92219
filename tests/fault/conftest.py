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
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))

import regent_harness as rh  # noqa: E402
import netfault  # noqa: E402
import fault_harness as fh  # noqa: E402


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


SYNC_READY_TIMEOUT = 20.0


def wait_sync_ready(cluster, primary, mode):
    """In the synchronous modes, a cluster is healthy only once the primary
    has named its synchronous standbys in the store's sync record (GET
    /cluster shows a sync_standby or quorum_standby member): until then
    nobody may be promoted (docs/ha.md), and a fault injected earlier would
    test the bootstrap's window, not the mode."""
    role = "quorum_standby" if mode == "quorum" else "sync_standby"

    def ready():
        members = primary.api("/cluster").json()["members"]
        # k 0 (a quorum record that standbys are still entering) promises
        # nothing yet.
        rec = primary.api("/raft/state").json()["state"].get("sync") or {}
        return (any(m.get("role") == role for m in members) and rec.get("leader") == primary.name
                and (rec.get("k") or 0) >= 1)

    rh.wait_until(ready, SYNC_READY_TIMEOUT, f"a {role} and a sync record with k >= 1",
                  cluster.nodes)


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
        got = self._healthy(item)
        if self.mode != "async":
            wait_sync_ready(got[0], got[1], self.mode)
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
