"""pytest fixtures for the cluster tests (see regent_harness.py).

Fixtures:
  make_cluster(n=3, witness=False, start=True, **node_kw) -> Cluster
  make_node(name, witness=False, start=True, **node_kw) -> Node
Both put their processes under the test's own tmp_path and stop them all
(SIGTERM, then SIGKILL, by PID) when the test ends, however it ends. When a
test fails, the tail of every log of the nodes it started is added to its
report as a "regent logs" section.

Run with Debian's interpreter, which has pytest, yaml and requests:
  REGENT_BUILD=build /usr/bin/python3 -m pytest -v tests/cluster
"""

import pytest

import regent_harness as rh

# Lines of each log attached to a failed test's report.
FAILURE_LOG_LINES = 80


def _nodes_of(item):
    """Every node a test's fixtures created, in creation order."""
    return getattr(item, "_regent_nodes", [])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # The report of the setup or call phase is made while the test's nodes
    # are still running (teardown comes after), so their logs are complete.
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.when in ("setup", "call") and rep.failed and _nodes_of(item):
        rep.sections.append(
            ("regent logs", rh.logs_report(_nodes_of(item), lines=FAILURE_LOG_LINES))
        )


def pytest_sessionfinish(session, exitstatus):
    # The fixtures stop what they started; this catches what a broken
    # fixture or an interrupted run could not.
    rh.kill_all_started()


# What ASan, LSan and UBSan print when a sanitizer build finds something.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def _check_sanitizers(nodes):
    """Fail the test when a sanitizer build of an agent reported a problem."""
    for n in nodes:
        tail = n.log_tail(400)
        for mark in SANITIZER_MARKS:
            if mark in tail:
                pytest.fail(f"{n.name}: sanitizer report in its log:\n{tail}")


@pytest.fixture(scope="session")
def regent_build():
    """The build directory under test; fails early if regent is not built."""
    rh.regent_bin()
    return rh.build_dir()


@pytest.fixture
def make_cluster(request, tmp_path, regent_build):
    clusters = []
    request.node._regent_nodes = getattr(request.node, "_regent_nodes", [])

    def make(n=3, witness=False, start=True, **node_kw):
        # A second cluster in one test gets its own subdirectory and scope.
        idx = len(clusters)
        base = tmp_path / (f"cluster{idx}" if idx else "cluster")
        node_kw.setdefault("scope", f"test{idx}" if idx else "test")
        c = rh.Cluster(base, n=n, witness=witness, **node_kw)
        clusters.append(c)
        request.node._regent_nodes.extend(c.nodes)
        if start:
            c.start()
        return c

    yield make
    for c in clusters:
        c.stop()
    _check_sanitizers([n for c in clusters for n in c.nodes])


@pytest.fixture
def make_node(request, tmp_path, regent_build):
    nodes = []
    request.node._regent_nodes = getattr(request.node, "_regent_nodes", [])

    def make(name, witness=False, start=True, **node_kw):
        n = rh.Node(name, tmp_path / "nodes", witness=witness, **node_kw)
        nodes.append(n)
        request.node._regent_nodes.append(n)
        if start:
            n.start()
        return n

    yield make
    for n in nodes:
        n.cleanup()
    _check_sanitizers(nodes)
