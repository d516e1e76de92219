"""REST API access control and TLS (spec/patroni-compat.md 1.7) with real
agents: credentials, the allowlist (addresses, names, members) and client
certificates guard the unsafe methods; a refused request changes nothing.

No PostgreSQL is needed, so the nodes are witnesses. The unsafe request
whose effect is checked is POST /debug/propose (REGENT_TEST_HOOKS=1) with a
config_set: applied, it raises config_version by exactly one, so "nothing
changed" is visible. Test nodes live on distinct loopback addresses
(127.0.0.2 for REST, 127.0.0.3 for Raft) and clients bind their source
address, so the allowlist sees who is calling. Settings change through
SIGHUP, as an operator would change them.

Two module-scoped witnesses: one on plain HTTP with authentication, one on
HTTPS with certificates made here with the openssl CLI.
"""

import base64
import os
import signal
import subprocess

import pytest
import requests

import conftest
import regent_harness as rh

HOOKS = {"REGENT_TEST_HOOKS": "1"}
TIMEOUT = 30.0
USER = "operator"
PASSWORD = "Zq8-access-test-secret"
AUTH = (USER, PASSWORD)
REALM = 'Basic realm="Patroni"'

_module_nodes = []


@pytest.fixture(autouse=True)
def _logs_on_failure(request):
    # conftest attaches these nodes' logs to a failed test's report.
    request.node._regent_nodes = list(_module_nodes)


class SourceAdapter(requests.adapters.HTTPAdapter):
    """Connect from a given local address (the allowlist sees it)."""

    def __init__(self, source):
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kw)


def call(url, method="GET", source="127.0.0.1", **kw):
    """One request from @source; returns the requests.Response."""
    with requests.Session() as s:
        s.mount("http://", SourceAdapter(source))
        s.mount("https://", SourceAdapter(source))
        kw.setdefault("timeout", rh.API_TIMEOUT)
        return s.request(method, url, **kw)


def log_count(node, text):
    return sum(f.read_text(errors="replace").count(text) for f in node.log_files())


def reload(node, **restapi):
    """Rewrite the node's restapi settings (on top of listen and
    connect_address) and SIGHUP it; returns once it says it reloaded."""
    before = log_count(node, "configuration reloaded")
    node.overrides = {**node.overrides, "restapi": restapi}
    node.write_config()
    os.kill(node.pid, signal.SIGHUP)
    rh.wait_until(
        lambda: log_count(node, "configuration reloaded") > before,
        TIMEOUT,
        f"{node.name} to reload",
        nodes=[node],
    )


def on_addresses(node, rest_host, raft_host):
    node.rest_addr = f"{rest_host}:{node.rest_port}"
    node.raft_addr = f"{raft_host}:{node.raft_port}"
    node.api_url = f"http://{node.rest_addr}"


def start_witness(base, name, restapi, rest_host="127.0.0.1", raft_host="127.0.0.1", partners=()):
    n = rh.Node(name, base, witness=True, env=HOOKS, overrides={"restapi": restapi})
    on_addresses(n, rest_host, raft_host)
    n.partner_addrs = list(partners)
    _module_nodes.append(n)
    n.start()
    return n


def stop_nodes(nodes):
    for n in nodes:
        n.cleanup()
    conftest._check_sanitizers(nodes)


def raft_state(node, **kw):
    r = call(node.api_url + "/raft/state", **kw)
    r.raise_for_status()
    return r.json()


def config_version(node):
    return int(raft_state(node)["state"]["config_version"])


def propose(node, version, req_id, **kw):
    """A config_set through @node (compare-and-set on @version)."""
    cmd = {"v": 1, "op": "config_set", "id": req_id, "ct": "0", "version": str(version),
           "config": {"ttl": 30, "req": req_id}}
    return call(node.api_url + "/debug/propose", "POST", json=cmd, timeout=15, **kw)


def assert_refused(r, status, text):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.text == text
    assert r.headers["Content-Type"].startswith("text/plain")
    if status == 401:
        assert r.headers["WWW-Authenticate"] == REALM
    else:
        assert "WWW-Authenticate" not in r.headers


# --------------------------------------------------------------------------
# Plain HTTP: credentials and the allowlist


@pytest.fixture(scope="module")
def node(tmp_path_factory, regent_build):
    base = tmp_path_factory.mktemp("access")
    n = start_witness(base, "w1", {"authentication": {"username": USER, "password": PASSWORD}},
                      rest_host="127.0.0.2", raft_host="127.0.0.3")
    others = []
    n.others = others  # nodes a test adds, stopped with this one
    rh.wait_until(lambda: config_version(n) >= 0 and raft_state(n)["state"]["peers"], TIMEOUT,
                  "w1 to bootstrap its store", nodes=[n])
    yield n
    stop_nodes([n] + others)


def test_reads_need_no_credentials(node):
    for path in ("/liveness", "/cluster", "/raft/state"):
        assert call(node.api_url + path).status_code == 200, path
    assert call(node.api_url + "/cluster", "HEAD").status_code == 200


def test_unsafe_requests_need_the_credentials_and_refusals_change_nothing(node):
    v = config_version(node)
    assert_refused(propose(node, v, "noauth-1"), 401, "no auth header received")
    assert_refused(propose(node, v, "wrong-1", auth=(USER, PASSWORD + "x")), 401,
                   "not authenticated")
    assert_refused(propose(node, v, "wrong-2", auth=("root", PASSWORD)), 401, "not authenticated")
    assert_refused(propose(node, v, "wrong-3", headers={"Authorization": "Bearer " + PASSWORD}),
                   401, "not authenticated")
    assert config_version(node) == v

    r = propose(node, v, "right-1", auth=AUTH)
    assert r.status_code == 200 and r.json()["result"]["code"] == 0, r.text
    assert config_version(node) == v + 1

    # Other unsafe routes: refused without credentials, the handler's own
    # answer with them.
    assert_refused(call(node.api_url + "/raft/members/nosuch", "DELETE"), 401,
                   "no auth header received")
    r = call(node.api_url + "/raft/members/nosuch", "DELETE", auth=AUTH, timeout=15)
    assert r.status_code == 404, r.text
    r = call(node.api_url + "/raft/members", "POST", data="{}", auth=AUTH)
    assert r.status_code == 400 and "address" in r.json()["error"], r.text


def test_allowlist_refuses_other_clients_before_the_credentials(node):
    reload(node, authentication={"username": USER, "password": PASSWORD},
           allowlist=["127.0.0.5", "10.0.0.0/8"])
    try:
        v = config_version(node)
        assert_refused(propose(node, v, "unlisted-1", auth=AUTH), 403, "Access is denied")
        assert_refused(propose(node, v, "unlisted-2"), 403, "Access is denied")
        assert config_version(node) == v
        # Reads are never checked.
        assert call(node.api_url + "/cluster").status_code == 200
        # From a listed address the credentials decide.
        assert_refused(propose(node, v, "listed-1", source="127.0.0.5"), 401,
                       "no auth header received")
        r = propose(node, v, "listed-2", source="127.0.0.5", auth=AUTH)
        assert r.status_code == 200 and r.json()["result"]["code"] == 0, r.text
        assert config_version(node) == v + 1
    finally:
        reload(node, authentication={"username": USER, "password": PASSWORD})


def test_allowlist_host_names_are_resolved(node):
    reload(node, allowlist=["localhost"])
    try:
        # Resolved off the loop: wait for it, bounded.
        rh.wait_until(
            lambda: call(node.api_url + "/raft/members", "POST", data="{}").status_code == 400,
            TIMEOUT, "localhost (127.0.0.1) to pass the allowlist", nodes=[node])
        r = call(node.api_url + "/raft/members", "POST", data="{}", source="127.0.0.5")
        assert_refused(r, 403, "Access is denied")
    finally:
        reload(node, authentication={"username": USER, "password": PASSWORD})


def test_allowlist_include_members_follows_the_peers(node):
    """The members' REST and Raft hosts pass; a node that joins adds its
    own, and removing it takes them away again."""
    reload(node, authentication={"username": USER, "password": PASSWORD},
           allowlist=["10.0.0.0/8"], allowlist_include_members=True)

    def status_from(source):
        r = call(node.api_url + "/raft/members", "POST", data="{}", source=source, auth=AUTH)
        return r.status_code

    # 127.0.0.2: w1's REST host; 127.0.0.3: its Raft host.
    assert status_from("127.0.0.2") == 400
    assert status_from("127.0.0.3") == 400
    assert status_from("127.0.0.1") == 403
    assert status_from("127.0.0.4") == 403

    w2 = start_witness(node.dir.parent, "w2", {}, rest_host="127.0.0.4", raft_host="127.0.0.4",
                       partners=[node.raft_addr])
    node.others.append(w2)
    rh.wait_until(lambda: status_from("127.0.0.4") == 400, TIMEOUT,
                  "w2's address to pass w1's allowlist once it has joined", nodes=[node, w2])
    assert status_from("127.0.0.1") == 403

    r = call(node.api_url + "/raft/members/w2", "DELETE", source="127.0.0.2", auth=AUTH,
             timeout=15)
    assert r.status_code == 200, r.text
    rh.wait_until(lambda: status_from("127.0.0.4") == 403, TIMEOUT,
                  "w2's address to be refused once it is removed", nodes=[node])
    w2.stop()
    reload(node, authentication={"username": USER, "password": PASSWORD})


def test_secrets_never_reach_the_log(node):
    before = log_count(node, "refused: 401 not authenticated")
    assert propose(node, 0, "log-1", auth=(USER, PASSWORD + "-wrong")).status_code == 401
    rh.wait_until(lambda: log_count(node, "refused: 401 not authenticated") > before, TIMEOUT,
                  "the refusal to be logged", nodes=[node])
    text = "".join(f.read_text(errors="replace") for f in node.log_files())
    for secret in (PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
                   base64.b64encode(f"{USER}:{PASSWORD}-wrong".encode()).decode()):
        assert secret not in text
    assert "authorization" not in text.lower()


# --------------------------------------------------------------------------
# HTTPS


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d):
    """A CA; a server certificate for 127.0.0.1 and a client one it signs;
    a client certificate no CA here signs."""
    subj = {"ca": "/CN=regent-test-ca", "server": "/CN=127.0.0.1", "client": "/CN=operator",
            "rogue": "/CN=rogue"}
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key",
            "-out", "ca.crt", "-subj", subj["ca"], cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", subj[name], cwd=d)
        ext = ["-extfile", "server.ext"] if name == "server" else []
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *ext, cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "rogue.key",
            "-out", "rogue.crt", "-subj", subj["rogue"], cwd=d)
    for f in d.iterdir():
        f.chmod(0o644)  # the agents run as postgres
    d.chmod(0o755)
    return d


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def tls_settings(certs, verify_client):
    return {"certfile": str(certs / "server.crt"), "keyfile": str(certs / "server.key"),
            "cafile": str(certs / "ca.crt"), "verify_client": verify_client}


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory, certs, regent_build):
    base = tmp_path_factory.mktemp("access-tls")
    n = start_witness(base, "t1", tls_settings(certs, "optional"))
    n.https = f"https://{n.rest_addr}"
    ca = str(certs / "ca.crt")
    rh.wait_until(lambda: call(n.https + "/raft/state", verify=ca).json()["state"]["peers"],
                  TIMEOUT, "t1 to answer over HTTPS with its peers record", nodes=[n])
    yield n
    stop_nodes([n])


def test_https_serves_reads_and_publishes_an_https_url(tls_node, certs):
    ca = str(certs / "ca.crt")
    r = call(tls_node.https + "/raft/state", verify=ca)
    assert r.status_code == 200
    assert [p["api_url"] for p in r.json()["state"]["peers"]] == [tls_node.https]
    with pytest.raises(requests.exceptions.ConnectionError):
        call(f"http://{tls_node.rest_addr}/liveness")


def test_optional_client_certificate_guards_unsafe_methods(tls_node, certs):
    ca = str(certs / "ca.crt")
    client = (str(certs / "client.crt"), str(certs / "client.key"))
    url = tls_node.https + "/raft/members"
    assert_refused(call(url, "POST", data="{}", verify=ca), 403, "client certificate required")
    r = call(url, "POST", data="{}", verify=ca, cert=client)
    assert r.status_code == 400 and "address" in r.json()["error"], r.text
    # Reads need none.
    assert call(tls_node.https + "/cluster", verify=ca).status_code == 200
    # A certificate the CA did not sign fails the handshake.
    rogue = (str(certs / "rogue.crt"), str(certs / "rogue.key"))
    with pytest.raises(requests.exceptions.ConnectionError):
        call(tls_node.https + "/cluster", verify=ca, cert=rogue)


def test_required_client_certificate_is_checked_at_the_handshake(tls_node, certs):
    ca = str(certs / "ca.crt")
    client = (str(certs / "client.crt"), str(certs / "client.key"))
    reload(tls_node, **tls_settings(certs, "required"))
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            call(tls_node.https + "/liveness", verify=ca)
        assert call(tls_node.https + "/liveness", verify=ca, cert=client).status_code == 200
        r = call(tls_node.https + "/raft/members", "POST", data="{}", verify=ca, cert=client)
        assert r.status_code == 400, r.text
    finally:
        reload(tls_node, **tls_settings(certs, "optional"))


def test_bad_certificate_files_stop_the_start_with_the_key_and_file(tmp_path, certs, regent_build):
    cases = [
        ({"certfile": str(tmp_path / "nosuch.crt")}, "restapi.certfile", "nosuch.crt"),
        ({"certfile": str(certs / "server.crt"), "keyfile": str(certs / "client.key")},
         "restapi.keyfile", "client.key"),
        ({**tls_settings(certs, "optional"), "cafile": str(certs / "server.ext")},
         "restapi.cafile", "server.ext"),
    ]
    for i, (restapi, key, file) in enumerate(cases):
        n = rh.Node(f"bad{i}", tmp_path, witness=True, overrides={"restapi": restapi})
        n.write_config()
        r = subprocess.run(rh.agent_argv(n.binary, n.config_path), capture_output=True,
                           text=True, timeout=30, env=rh._clean_env())
        out = r.stdout + r.stderr
        assert not any(mark in out for mark in conftest.SANITIZER_MARKS), out
        assert r.returncode == 1, out
        assert f"{key}: " in out and file in out, out
        assert not (n.dir / "raft").exists(), "the store must not start"
