"""regentctl against real agents: list, topology, history, show-config,
edit-config (a reloadable change, and the abort on a concurrent one) and
pause/resume --wait, on one small cluster shared by the module: two
PostgreSQL members and a witness (node2 carries a tag, so the Tags column
shows).

The exact formats are the unit tests' (tests/unit/cli, golden files); here
the point is that what regentctl prints and sends agrees with what the
agents answer over REST. Switchover, failover, restart, reload and reinit
through regentctl are tested end to end with the HA tests.
"""

import json
import os
import re
import stat
import subprocess
import textwrap

import pytest
import yaml

import conftest
import pg_tools as pt
import regent_harness as rh

TIMEOUT = 60.0
CTL_TIMEOUT = 60  # one regentctl run
CONFLICT = "Config modification aborted due to concurrent changes"


def ctl(*args, input_text="", env=None):
    """Run regentctl with @args; the CompletedProcess. Nothing of the
    developer's REGENTCTL_* or EDITOR leaks in; a sanitizer report fails."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("REGENTCTL_")}
    e.pop("EDITOR", None)
    e.update(env or {})
    p = subprocess.run([str(rh.regentctl_bin()), *map(str, args)], input=input_text,
                       capture_output=True, text=True, timeout=CTL_TIMEOUT, env=e)
    for mark in conftest.SANITIZER_MARKS:
        assert mark not in p.stderr, p.stderr
    return p


def ok(*args, **kw):
    p = ctl(*args, **kw)
    assert p.returncode == 0, f"regentctl {' '.join(map(str, args))}: {p.returncode}\n{p.stdout}{p.stderr}"
    return p


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, regent_build):
    c = rh.Cluster(tmp_path_factory.mktemp("ctl"), n=2, witness=True, scope="ctl")
    c["node2"].overrides = {"tags": {"dc": "west"}}
    try:
        c.start()
        pt.wait_for_primary_and_replicas(c)
        c.wait_until(lambda: all(n.api("/config").status_code == 200 for n in c.nodes), TIMEOUT,
                     "every node to have the dynamic configuration")
        c.wait_until(lambda: "system_identifier" in c["node1"].cluster(), TIMEOUT,
                     "the system identifier in GET /cluster")
        yield c
    finally:
        c.stop()
    conftest._check_sanitizers(c.nodes)


@pytest.fixture(autouse=True)
def _settled(request, cluster):
    request.node._regent_nodes = list(cluster.nodes)
    # Every node shows the same configuration version before a test starts.
    cluster.wait_until(lambda: len({n.api("/config").headers.get("ETag") for n in cluster.nodes})
                       == 1, TIMEOUT, "every node to show the same config version")


def roles(cluster):
    """(leader name, replica name) from node1's GET /cluster."""
    ms = {m["role"]: m["name"] for m in cluster["node1"].cluster()["members"]}
    return ms["leader"], ms["replica"]


def config_of(node):
    r = node.api("/config")
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------
# Reading


def test_list_shows_the_members_as_patronictl_does(cluster, tmp_path):
    n1, n2 = cluster["node1"], cluster["node2"]
    leader, replica = roles(cluster)
    doc = n1.cluster()
    out = ok("list", "--url", n1.api_url).stdout.splitlines()
    assert out[0].startswith(f"+ Cluster: ctl ({doc['system_identifier']}) "), out[0]
    assert re.fullmatch(r"\| Member +\| Host +\| Role +\| State +\| TL \| Lag in MB \| Tags +\|",
                        out[1]), out[1]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out[3:5]}
    # Ports are not 5432: every host shows its port.
    assert rows[leader][:3] == [f"127.0.0.1:{cluster[leader].pg_port}", "Leader", "running"]
    assert rows[replica][:3] == [f"127.0.0.1:{cluster[replica].pg_port}", "Replica", "streaming"]
    assert rows["node2"][-1] == "dc: west" and rows["node1"][-1] == ""
    assert out[-1].startswith("Raft: term ")

    records = json.loads(ok("list", "-f", "json", "--url", n2.api_url).stdout)
    assert [r["Member"] for r in records] == ["node1", "node2"]
    by_name = {r["Member"]: r for r in records}
    assert all(r["Cluster"] == "ctl" for r in records)
    assert by_name[leader]["Role"] == "Leader" and "Lag in MB" not in by_name[leader]
    assert isinstance(by_name[replica]["Lag in MB"], int)
    assert by_name["node2"]["Tags"] == {"dc": "west"} and "Tags" not in by_name["node1"]
    assert [m["timeline"] for m in doc["members"]] == [r["TL"] for r in records]
    assert yaml.safe_load(ok("list", "-f", "yaml", "--url", n1.api_url).stdout) == records
    tsv = ok("list", "-f", "tsv", "--url", n1.api_url).stdout.splitlines()
    assert tsv[0].split("\t") == ["Cluster", "Member", "Host", "Role", "State", "TL", "Lag in MB",
                                  "Tags"]
    # -e adds the extra columns.
    assert "| Pending restart | Pending restart reason | Scheduled restart | Tags" in \
        ok("list", "-e", "--url", n1.api_url).stdout

    # The agent's own config finds the cluster; a ctl-only file as well, and
    # the first URL that cannot be reached is passed over.
    assert json.loads(ok("list", "-f", "json", "-c", n1.config_path).stdout) == records
    ctl_file = tmp_path / "ctl.yml"
    ctl_file.write_text(yaml.safe_dump(
        {"ctl": {"urls": ["http://127.0.0.1:1", n2.api_url]}, "scope": "ctl"}))
    assert json.loads(ok("list", "-f", "json", "-c", ctl_file).stdout) == records
    assert json.loads(ok("list", "ctl", "-f", "json", "--url", n1.api_url).stdout) == records

    # Another cluster's name stops it.
    p = ctl("list", "other", "--url", n1.api_url)
    assert p.returncode == 1 and p.stdout == ""
    assert 'serve cluster "ctl", not "other"' in p.stderr


def test_topology_puts_the_replica_under_the_leader(cluster):
    leader, replica = roles(cluster)
    out = ok("topology", "--url", cluster["node1"].api_url).stdout.splitlines()
    assert re.match(rf"\| {leader} +\| ", out[3]), out
    assert re.match(rf"\| \+ {replica} +\| ", out[4]), out
    assert "{dc: west}" in (out[3] if leader == "node2" else out[4])
    records = json.loads(ok("topology", "-f", "json", "--url", cluster["node2"].api_url).stdout)
    assert [(r["Member"], r.get("Upstream")) for r in records] == [(leader, None),
                                                                    (replica, leader)]


def test_history_prints_patronictl_columns(cluster):
    n1 = cluster["node1"]
    history = n1.api("/history").json()
    out = ok("history", "--url", n1.api_url).stdout.splitlines()
    assert re.fullmatch(r"\| TL +\| LSN +\| Reason +\| Timestamp +\| New Leader +\|", out[1]), out
    assert len(out) == 4 + len(history)
    records = json.loads(ok("history", "-f", "json", "--url", n1.api_url).stdout)
    assert [[r["TL"], r["LSN"]] for r in records] == [h[:2] for h in history]
    assert ok("history", "-f", "tsv", "--url", n1.api_url).stdout.splitlines()[0] == \
        "TL\tLSN\tReason\tTimestamp\tNew Leader"


def test_show_config_is_the_dynamic_configuration(cluster):
    n1 = cluster["node1"]
    assert yaml.safe_load(ok("show-config", "--url", n1.api_url).stdout) == config_of(n1)
    assert json.loads(ok("show-config", "-f", "json", "--url", n1.api_url).stdout) == \
        config_of(n1)


# --------------------------------------------------------------------------
# Changing


def test_edit_config_set_changes_a_reloadable_key(cluster):
    n1 = cluster["node1"]
    leader, _ = roles(cluster)
    before = config_of(n1)
    old_lag = before.get("maximum_lag_on_failover")
    p = ok("edit-config", "-s", "maximum_lag_on_failover=2097152", "-p", "work_mem=8MB",
           "--force", "--url", n1.api_url)
    assert "+maximum_lag_on_failover: 2097152" in p.stdout
    assert "+    work_mem: 8MB" in p.stdout
    assert p.stdout.endswith("Configuration changed\n")
    try:
        for n in cluster.nodes:
            cluster.wait_until(
                lambda n=n: config_of(n).get("maximum_lag_on_failover") == 2097152
                and config_of(n)["postgresql"]["parameters"].get("work_mem") == "8MB",
                TIMEOUT, f"{n.name} to show the new configuration")
        # work_mem needs no restart: the primary reloads it.
        cluster.wait_until(lambda: pt.try_query(cluster[leader], "SHOW work_mem") == [("8MB",)],
                           TIMEOUT, "the primary to apply work_mem")
        # The same again changes nothing.
        p = ok("edit-config", "-s", "maximum_lag_on_failover=2097152", "--force", "--url",
               n1.api_url)
        assert p.stdout == "Not changed\n"
    finally:
        ok("edit-config", "-q", "-s",
           f"maximum_lag_on_failover={old_lag if old_lag is not None else 'null'}", "-p",
           "work_mem=null", "--force", "--url", n1.api_url)
    cluster.wait_until(lambda: config_of(n1) == before, TIMEOUT, "the configuration restored")


def test_edit_config_aborts_on_a_concurrent_change(cluster, tmp_path):
    """The editor changes the configuration behind regentctl's back, then
    edits the file: regentctl's write carries the version it read, which
    is stale by then, and is refused; the other change stays."""
    n1 = cluster["node1"]
    before = config_of(n1)
    editor = tmp_path / "editor.py"
    editor.write_text(textwrap.dedent(f"""\
        import json, sys, urllib.request, yaml
        req = urllib.request.Request({n1.api_url + "/config"!r}, method="PATCH",
                                     data=json.dumps({{"maximum_lag_on_failover": 4194304}}).encode(),
                                     headers={{"Content-Type": "application/json"}})
        assert urllib.request.urlopen(req, timeout=15).status == 200
        with open(sys.argv[1]) as f:
            doc = yaml.safe_load(f)
        doc["maximum_lag_on_failover"] = 3145728
        with open(sys.argv[1], "w") as f:
            yaml.safe_dump(doc, f)
        """))
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    try:
        p = ctl("edit-config", "--force", "--url", n1.api_url,
                env={"EDITOR": f"/usr/bin/python3 {editor}"})
        assert p.returncode == 1, p.stdout + p.stderr
        assert "+maximum_lag_on_failover: 3145728" in p.stdout
        assert p.stderr == f"Error: {CONFLICT}\n"
        assert config_of(n1).get("maximum_lag_on_failover") == 4194304
    finally:
        old = before.get("maximum_lag_on_failover")
        ok("edit-config", "-q", "-s",
           f"maximum_lag_on_failover={old if old is not None else 'null'}", "--force", "--url",
           n1.api_url)


def test_pause_and_resume_wait_for_every_member(cluster):
    n1, n2 = cluster["node1"], cluster["node2"]
    try:
        p = ok("pause", "--wait", "30", "--url", n1.api_url)
        assert p.stdout == ("'pause' request sent, waiting until it is recognized by all nodes\n"
                            "Success: cluster management is paused\n")
        assert all(n.api("/patroni").json().get("pause") is True for n in (n1, n2))
        assert " Maintenance mode: on\n" in ok("list", "--url", n2.api_url).stdout
        p = ctl("pause", "--url", n2.api_url)
        assert (p.returncode, p.stderr) == (1, "Error: Cluster is already paused\n")
        p = ok("resume", "--wait", "30", "--url", n2.api_url)
        assert p.stdout.endswith("Success: cluster management is resumed\n")
        assert all(n.api("/patroni").json().get("pause") is None for n in (n1, n2))
        p = ctl("resume", "--url", n1.api_url)
        assert (p.returncode, p.stderr) == (1, "Error: Cluster is not paused\n")
    finally:
        n1.api("/config", method="PATCH", json={"pause": None}, timeout=15)


# --------------------------------------------------------------------------
# TLS and credentials, against a witness alone (no PostgreSQL needed)


def make_certs(d):
    """A CA, and a server (127.0.0.1) and a client certificate it signs."""
    def run(*args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", d / "ca.key", "-out", d / "ca.pem", "-days", "2",
        "-subj", "/CN=regentctl-test-ca")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        run("req", *ec, "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr", "-subj",
            f"/CN={name}")
        run("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
            "-CAcreateserial", "-out", d / f"{name}.pem", "-days", "2", "-extfile", d / f"{name}.ext")


def test_tls_client_certificates_and_credentials(make_node, tmp_path):
    secret = "ctl-test-password-9c1e"
    node = make_node("witness", witness=True, start=False)
    make_certs(node.dir)
    for f in node.dir.iterdir():
        f.chmod(0o644)
        if node.run_as is not None:
            os.chown(f, *node.run_as)
    node.overrides = {"restapi": {
        "certfile": str(node.dir / "server.pem"), "keyfile": str(node.dir / "server.key"),
        "cafile": str(node.dir / "ca.pem"), "verify_client": "required",
        "authentication": {"username": "admin", "password": secret}}}
    node.start()
    https = f"https://{node.rest_addr}"
    tls = {"cacert": str(node.dir / "ca.pem"), "certfile": str(node.dir / "client.pem"),
           "keyfile": str(node.dir / "client.key")}

    def ctl_file(name, ctl_section):
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"ctl": {"urls": [https], **ctl_section}}))
        return path

    with_cert = ctl_file("cert.yml", tls)
    rh.wait_until(lambda: ctl("list", "-c", with_cert).returncode == 0, TIMEOUT,
                  "regentctl list over TLS", [node])
    p = ok("list", "-f", "json", "-c", with_cert)
    assert json.loads(p.stdout) == []

    # The agent's own file: https and its cafile, but no client certificate
    # (patronictl takes those from ctl.* only): the handshake is refused.
    p = ctl("list", "-c", node.config_path)
    assert p.returncode == 1 and f"{https}/cluster" in p.stderr, p.stderr
    # Without the CA the server is not trusted, unless -k; the certificate
    # can come from the environment.
    p = ctl("list", "--url", https, env={"REGENTCTL_CERTFILE": tls["certfile"],
                                         "REGENTCTL_KEYFILE": tls["keyfile"]})
    assert p.returncode == 1, p.stdout
    ok("list", "-k", "--url", https, env={"REGENTCTL_CERTFILE": tls["certfile"],
                                          "REGENTCTL_KEYFILE": tls["keyfile"]})

    # A change needs the credentials: 401 without them, past that with them.
    p = ctl("member", "add", "127.0.0.1:1", "--no-wait", "-c", with_cert)
    assert p.returncode == 1 and "(HTTP 401 from" in p.stderr, p.stderr
    both = ctl_file("auth.yml", {**tls, "authentication": {"username": "admin",
                                                            "password": secret}})
    p = ctl("member", "add", "127.0.0.1:1", "--no-wait", "-c", both)
    assert p.returncode == 1 and "HTTP 401" not in p.stderr, p.stderr
    p2 = ctl("member", "add", "127.0.0.1:1", "--no-wait", "-c", with_cert,
             env={"REGENTCTL_USERNAME": "admin", "REGENTCTL_PASSWORD": secret})
    assert p2.returncode == 1 and "HTTP 401" not in p2.stderr, p2.stderr
    for run in (p, p2):
        assert secret not in run.stdout + run.stderr
