"""The deterministic fault list (docs/internals/fault-suite.md).

Every scenario runs on a cluster shared with the other scenarios of its
shape and mode (a Pool rebuilds it when a scenario left it broken), once
per mode: async, synchronous_mode: true and quorum. In the synchronous
modes a cluster counts as healthy only once its sync record names a
standby (conftest.wait_sync_ready).
"""

import random

import pytest

import scenarios as sc


@pytest.mark.parametrize("name,fault", sc.THREE_NODE, ids=[n for n, _ in sc.THREE_NODE])
def test_three_nodes(three, request, results, name, fault):
    sc.run_scenario(three, request.node, results, name, fault, three.mode)


@pytest.mark.parametrize("name,fault", sc.THREE_NODE_WD, ids=[n for n, _ in sc.THREE_NODE_WD])
def test_three_nodes_watchdog(three_wd, request, results, name, fault):
    """Three agents with the test watchdog and one supervisor per node."""
    sc.run_scenario(three_wd, request.node, results, name, fault, three_wd.mode)


@pytest.mark.parametrize("name,fault", sc.WITNESS, ids=[n for n, _ in sc.WITNESS])
def test_two_nodes_and_witness(pair, request, results, name, fault):
    sc.run_scenario(pair, request.node, results, name, fault, pair.mode)


def test_soak(three, request, results):
    """N faults drawn at random (--soak N --seed S); not part of CI."""
    n = request.config.getoption("--soak")
    if not n:
        pytest.skip("soak mode is off (--soak N [--seed S], or FAULT_SOAK/FAULT_SEED)")
    seed = request.config.getoption("--seed")
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 32)
    print(f"\nsoak: {n} faults, seed {seed} (replay: --soak {n} --seed {seed})")
    rng = random.Random(seed)
    for i in range(n):
        name, fault = rng.choice(sc.SOAK)
        print(f"soak {i + 1}/{n}: {name}")
        sc.run_scenario(three, request.node, results, f"soak{i + 1}-{name}", fault, three.mode,
                        extra={"soak_seed": seed, "soak_index": i + 1})
