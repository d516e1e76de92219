"""The agent as a process: refusing bad starts, reloading on SIGHUP, and
reporting a damaged Raft log instead of repairing it silently."""

import signal
import socket
import subprocess

import regent_harness as rh
from test_raft import TIMEOUT, settled

START_TIMEOUT = 15


def run_once(node):
    """Run the agent in the foreground until it exits; (status, output)."""
    node.write_config()
    r = subprocess.run(
        rh.agent_argv(node.binary, node.config_path),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env=rh._clean_env(),
    )
    return r.returncode, r.stdout + r.stderr


def test_invalid_config_exits_2_before_anything_starts(make_node):
    n = make_node("node1", start=False, overrides={"raft": {"self_addr": "localhost:7000"}})
    status, out = run_once(n)
    assert status == 2, out
    assert f"{n.config_path}:" in out and "raft.self_addr" in out, out
    assert not (n.dir / "raft").exists()


def test_unknown_keys_warn_and_strict_refuses(make_node):
    n = make_node("node1", start=False, overrides={"etcd3": {"hosts": ["x:2379"]}})
    n.write_config()
    ok = subprocess.run(
        [str(n.binary), "--validate-config", str(n.config_path)], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "etcd3" in ok.stderr, ok.stderr
    assert "******" in ok.stdout and rh.TEST_PASSWORD not in ok.stdout
    strict = subprocess.run(
        [str(n.binary), "--strict", "--validate-config", str(n.config_path)],
        capture_output=True,
        text=True,
    )
    assert strict.returncode == 2 and "etcd3" in strict.stderr, strict.stderr


def test_raft_port_in_use_is_a_clear_error(make_node):
    n = make_node("node1", start=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", n.raft_port))
        s.listen()
        status, out = run_once(n)
    assert status == 1, out
    assert n.raft_addr in out and "in use" in out, out


def test_damaged_raft_segment_is_reported_at_start(make_cluster):
    c = make_cluster(3)
    settled(c)
    victim = c["node3"]
    assert victim.stop() == 0
    segments = [
        p for p in (victim.dir / "raft").iterdir() if p.name[0].isdigit() and "-" in p.name
    ]
    assert segments, "no closed segment to damage"
    seg = max(segments, key=lambda p: p.stat().st_size)
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))

    status, out = run_once(victim)
    assert status == 1, out
    assert "could not load the Raft log" in out and seg.name in out, out
    # Reported, never repaired: the damaged file is still there as it was.
    assert seg.read_bytes() == bytes(data)


def test_sighup_applies_a_valid_file_and_keeps_the_old_one_otherwise(make_node):
    n = make_node("node1")
    rh.wait_until(lambda: n.cluster()["raft"]["leader"] == "node1", TIMEOUT, "a leader", [n])

    n.config_path.write_text("scope: [unclosed\n")
    n.proc.send_signal(signal.SIGHUP)
    rh.wait_until(
        lambda: "the previous configuration stays in force" in n.log_tail(20),
        TIMEOUT,
        "the reload to be refused",
        [n],
    )
    assert n.api("/liveness").status_code == 200

    n.log_level = "DEBUG"
    n.write_config()
    n.proc.send_signal(signal.SIGHUP)
    rh.wait_until(
        lambda: "configuration reloaded" in n.log_tail(20), TIMEOUT, "the reload", [n]
    )
    assert n.api("/liveness").status_code == 200


def test_sigterm_stops_cleanly(make_cluster):
    c = make_cluster(3)
    settled(c)
    for node in c.nodes:
        assert node.stop() == 0, node.log_tail(20)
        assert "regent stopped" in node.log_tail(5)
