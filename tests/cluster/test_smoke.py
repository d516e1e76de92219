"""Smoke tests: the binaries run, bad configs are refused, three nodes form a cluster."""

import re
import subprocess

import pytest

import regent_harness as rh

# A valid agent config whose line layout the bad variants below rely on:
# raft.data_dir's value is at line 7, column 13, raft.password's at 10:13.
GOOD_CONFIG = """\
scope: test
name: node1
restapi:
  listen: 127.0.0.1:{rest_port}
  connect_address: 127.0.0.1:{rest_port}
raft:
  data_dir: {data_dir}
  self_addr: 127.0.0.1:{raft_port}
  partner_addrs: ['127.0.0.1:{partner_port}']
  password: a-long-cluster-secret
  segment_size: 1048576
postgresql:
  data_dir: {data_dir}-pg
log:
  level: INFO
"""


def test_version_prints_the_project_version(regent_build):
    r = subprocess.run(
        [str(rh.regent_bin()), "--version"], capture_output=True, text=True, timeout=10
    )
    assert r.returncode == 0, r.stderr
    assert re.match(r"regent \d+\.\d+\.\d+\b", r.stdout), r.stdout
    version = rh.project_version()
    if version is not None:
        assert version in r.stdout


@pytest.mark.parametrize(
    "bad, where, key",
    [
        (("data_dir: {data_dir}", "data_dir: relative/raft"), "7:13", "raft.data_dir"),
        (("password: a-long-cluster-secret", "password: short"), "10:13", "raft.password"),
    ],
    ids=["relative-data-dir", "short-password"],
)
def test_validate_config_refuses_bad_file_with_position(tmp_path, regent_build, bad, where, key):
    text = GOOD_CONFIG.replace(*bad).format(
        rest_port=rh.free_port(),
        raft_port=rh.free_port(),
        partner_port=rh.free_port(),
        data_dir=tmp_path / "raft",
    )
    path = tmp_path / "regent.yml"
    path.write_text(text)

    r = subprocess.run(
        rh.validate_argv(rh.regent_bin(), path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=10,
    )

    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert f"{path}:{where}: {key}:" in out, out
    # Refused before anything starts: no Raft directory, relative or not.
    assert not (tmp_path / "raft").exists()
    assert not (tmp_path / "relative").exists()


def test_three_nodes_bootstrap_one_raft_cluster(make_cluster):
    c = make_cluster(3)
    names = sorted(c.names)

    leader = c.leader(timeout=rh.BOOTSTRAP_TIMEOUT)
    assert leader in names

    def settled():
        # Joins go through standby before voter, each member registers its
        # own record, and the lease holder hands Raft leadership to another
        # voter: wait for the final picture, the same on every node.
        views = [n.cluster() for n in c.nodes]
        leaders = {v["raft"]["leader"] for v in views}
        return (
            len(leaders) == 1
            and None not in leaders
            and all(sorted(v["raft"]["voters"]) == names for v in views)
            and all(v["raft"]["standbys"] == [] for v in views)
            and all(sorted(m["name"] for m in v["members"]) == names for v in views)
        )

    c.wait_until(
        settled,
        rh.BOOTSTRAP_TIMEOUT,
        f"every node to see one leader, voters {names}, no standbys, all members",
    )

    for n in c.nodes:
        assert n.api("/liveness").status_code == 200
        view = n.cluster()
        assert view["scope"] == "test"
        raft = view["raft"]
        assert raft["leader"] in names
        assert sorted(raft["voters"]) == names and raft["standbys"] == []
        assert isinstance(raft["term"], int) and raft["term"] >= 1
        assert raft["applied_index"] <= raft["commit_index"]
        assert sorted(m["name"] for m in view["members"]) == names
