"""The Raft port authenticates every peer with the cluster secret.

A small client here speaks rtx's wire format (docs/internals/transport.md)
on its own, so the tests can play a process that knows the secret and one
that does not, against real agents. The positive cases prove the client is
right, so the refusals cannot pass by accident.
"""

import hashlib
import hmac
import json
import os
import socket
import struct

import pytest

import regent_harness as rh
from test_raft import HOOKS, TIMEOUT, config_of, settled

CHANNEL_RAFT = 1
CHANNEL_RPC = 2


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return buf  # closed early
        buf += chunk
    return buf


class Handshake:
    """One connection to a node's Raft address, through AUTH."""

    def __init__(self, address, secret, channel=CHANNEL_RPC, raft_id=0, self_addr=""):
        host, port = address.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.secret = secret.encode()
        hello = recv_exact(self.sock, 40)
        assert len(hello) == 40 and hello[:4] == b"RGNT", hello
        assert struct.unpack(">H", hello[4:6])[0] == 1
        self.server_nonce = hello[8:40]
        self.client_nonce = os.urandom(32)
        addr = self_addr.encode()
        auth = (
            b"RGNT"
            + struct.pack(">HBB", 1, channel, len(addr))
            + struct.pack(">Q", raft_id)
            + self.client_nonce
            + addr
        )
        mac = hmac.new(self.secret, b"rtx1 c\0\0" + self.server_nonce + auth, hashlib.sha256)
        self.sock.sendall(auth + mac.digest())

    def ok(self):
        """True when the server answered OK and proved it knows our secret."""
        reply = recv_exact(self.sock, 32)
        if len(reply) != 32:
            return False
        want = hmac.new(
            self.secret, b"rtx1 s\0\0" + self.server_nonce + self.client_nonce, hashlib.sha256
        ).digest()
        assert hmac.compare_digest(reply, want), "the server's proof is wrong"
        return True

    def call(self, obj):
        body = json.dumps(obj).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        head = recv_exact(self.sock, 4)
        if len(head) != 4:
            return None
        return json.loads(recv_exact(self.sock, struct.unpack(">I", head)[0]))

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


@pytest.fixture
def cluster(make_cluster):
    c = make_cluster(3, env=HOOKS)
    settled(c)
    return c


def propose_body(req_id):
    cmd = {"v": 1, "op": "config_set", "id": req_id, "ct": "0", "version": "0", "config": {"x": 1}}
    return {"type": "propose", "cmd": json.dumps(cmd)}


def test_the_secret_opens_the_rpc_channel(cluster):
    n = cluster["node1"]
    h = Handshake(n.raft_addr, rh.TEST_PASSWORD)
    assert h.ok()
    answer = h.call({"type": "probe"})
    h.close()
    assert answer["code"] == 200 and answer["scope"] == "test" and answer["name"] == "node1"


def test_a_non_member_with_the_secret_cannot_propose(cluster):
    leader = cluster[cluster.leader()]
    before = config_of(leader)
    h = Handshake(leader.raft_addr, rh.TEST_PASSWORD, raft_id=0x1234, self_addr="127.0.0.1:1")
    assert h.ok()
    answer = h.call(propose_body("outsider-1"))
    h.close()
    assert answer["code"] == 410, answer
    assert config_of(leader) == before


@pytest.mark.parametrize("channel", [CHANNEL_RPC, CHANNEL_RAFT], ids=["rpc", "raft"])
def test_without_the_secret_nothing_gets_through(cluster, channel):
    leader = cluster[cluster.leader()]
    before = config_of(leader)
    h = Handshake(
        leader.raft_addr, "not-the-cluster-secret", channel=channel, raft_id=7, self_addr="127.0.0.1:9"
    )
    # The server closes without proving anything, and reads nothing more.
    assert not h.ok()
    with pytest.raises(OSError):
        for _ in range(50):
            h.sock.sendall(struct.pack(">I", 10) + b'{"type":1}')
    h.close()
    assert config_of(leader) == before
    cluster.wait_until(
        lambda: "rtx" in leader.log_tail(100) and "127.0.0.1" in leader.log_tail(100),
        TIMEOUT,
        "the leader to log the refused connection",
    )


def test_an_agent_with_the_wrong_secret_never_joins(cluster, make_node):
    intruder = make_node("node4", start=False, scope=cluster.scope, password="wrong-password-1")
    intruder.partner_addrs = [n.raft_addr for n in cluster.nodes]
    intruder.start()
    rh.wait_until(
        lambda: "is raft.password the same on every member?" in intruder.log_tail(50),
        TIMEOUT,
        "node4 to report the refused handshakes",
        [intruder],
    )
    for n in cluster.nodes:
        raft = n.cluster()["raft"]
        assert sorted(raft["voters"]) == ["node1", "node2", "node3"] and raft["standbys"] == []
    r = intruder.api("/raft/state")
    assert r.json()["phase"] == "discovering"
