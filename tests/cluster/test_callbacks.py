"""Patroni's callbacks (spec/patroni-compat.md 4.6) run by real agents.

Every node's postgresql.callbacks point at a script in the node's own
directory, so the script knows its node by where it is: it appends one line
per call to callbacks.log next to itself, "<argc> <args>". Patroni runs
"<command> <action> <role> <scope>", so every line must read "3 <action>
<role> <scope>": exactly three arguments, in that order.

The agents run as the postgres user (when the tests run as root): the
scripts are made executable and handed to that user, and the node
directory, where the log is written, already belongs to it.
"""

import os
import re
import signal

import pg_tools
import regent_harness as rh

TIMEOUT = 90.0
# SLOW_STOP_SCRIPT's on_stop sleeps 1 s; after that it writes or never will.
SLOW_STOP_WAIT = 10.0
SCOPE = "batman"
ACTIONS = ("on_start", "on_stop", "on_restart", "on_reload", "on_role_change")
LINE = re.compile(
    r"^3 (on_start|on_stop|on_restart|on_reload|on_role_change)"
    r" (primary|replica|standby_leader|demoted) " + SCOPE + "$"
)

SCRIPT = """\
#!/bin/sh
# Regent cluster tests: one line per callback, "<argc> <args>".
echo "$# $*" >> "$(dirname "$0")/callbacks.log"
"""

# on_stop takes a while (an operator's script that deregisters a service,
# say): it logs when it starts and when it is done. Patroni starts the
# callback and lets it finish, even when Patroni itself exits right after.
SLOW_STOP_SCRIPT = """\
#!/bin/sh
# Regent cluster tests: one line per callback, "<argc> <args>"; on_stop
# writes its line only after a second, and leaves a mark when it starts.
log="$(dirname "$0")/callbacks.log"
if [ "$1" = on_stop ]; then
    echo "started $*" >> "$(dirname "$0")/on_stop.started"
    sleep 1
fi
echo "$# $*" >> "$log"
"""


def install_callbacks(node, script=SCRIPT):
    """Write the callback script into @node's directory and configure every
    callback to run it."""
    path = node.dir / "callback.sh"
    path.write_text(script)
    path.chmod(0o755)
    if node.run_as is not None:
        os.chown(path, *node.run_as)
    node.overrides = rh._deep_merge(
        node.overrides, {"postgresql": {"callbacks": {a: str(path) for a in ACTIONS}}}
    )
    return path


def calls(node):
    """The lines @node's callbacks wrote so far."""
    try:
        return (node.dir / "callbacks.log").read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_call(c, node, line, after=0):
    """Wait until @line is among @node's callback lines from index @after on;
    returns the lines from @after."""

    def seen():
        new = calls(node)[after:]
        return line in new and new

    try:
        return c.wait_until(seen, TIMEOUT, f"{node.name}: callback {line!r}")
    except rh.WaitTimeout as e:
        raise AssertionError(f"{e}\n{node.name}'s callback lines: {calls(node)}") from None


def assert_well_formed(nodes):
    for n in nodes:
        bad = [line for line in calls(n) if not LINE.match(line)]
        assert not bad, (
            f"{n.name}: callback lines not of the form '3 <action> <role> {SCOPE}': {bad} "
            f"(all: {calls(n)})"
        )


def test_callbacks_get_action_role_and_scope(make_cluster):
    c = make_cluster(3, start=False, scope=SCOPE)
    for n in c.nodes:
        install_callbacks(n)
    c.start()
    primary, replicas = pg_tools.wait_for_primary_and_replicas(c, timeout=TIMEOUT)
    a, b = replicas

    # Bootstrap: the primary started as primary, the replicas as replicas,
    # and nothing else happened to them.
    wait_call(c, primary, f"3 on_start primary {SCOPE}")
    for r in replicas:
        wait_call(c, r, f"3 on_start replica {SCOPE}")
    assert calls(primary) == [f"3 on_start primary {SCOPE}"], calls(primary)
    for r in replicas:
        assert calls(r) == [f"3 on_start replica {SCOPE}"], f"{r.name}: {calls(r)}"

    # SIGHUP reloads the configuration: on_reload with the current role.
    os.kill(primary.pid, signal.SIGHUP)
    wait_call(c, primary, f"3 on_reload primary {SCOPE}", after=1)
    os.kill(a.pid, signal.SIGHUP)
    wait_call(c, a, f"3 on_reload replica {SCOPE}", after=1)

    # A clean stop of a replica: on_stop replica; started again: on_start.
    mark = len(calls(b))
    assert b.stop() == 0, f"{b.name} did not exit cleanly" + rh.logs_report([b])
    wait_call(c, b, f"3 on_stop replica {SCOPE}", after=mark)
    b.start()
    pg_tools.wait_for_primary_and_replicas(c, timeout=TIMEOUT)
    wait_call(c, b, f"3 on_start replica {SCOPE}", after=mark + 1)

    # kill -9 of the primary's agent and postmaster: the replica promoted
    # gets on_role_change primary, and no stop or start (a promotion does
    # not restart PostgreSQL).
    marks = {r.name: len(calls(r)) for r in replicas}
    primary.kill()
    primary.kill_postmaster()
    new = pg_tools.wait_for_primary(c, replicas, TIMEOUT)
    since = wait_call(c, new, f"3 on_role_change primary {SCOPE}", after=marks[new.name])
    assert not [x for x in since if x.split()[1] in ("on_start", "on_stop")], (
        f"{new.name}: callbacks since the failover: {since}"
    )

    assert_well_formed(c.nodes)


def three_then_one(make_cluster, script, fourth_overrides):
    """Three nodes that form the cluster by themselves, with @script as
    every callback, and a fourth (not started) that joins through them."""
    c = make_cluster(4, start=False, scope=SCOPE)
    base = c.nodes[:3]
    for n in base:
        n.partner_addrs = [m.raft_addr for m in base if m is not n]
    for n in c.nodes:
        install_callbacks(n, script)
    c.nodes[3].overrides = rh._deep_merge(c.nodes[3].overrides, fourth_overrides)
    for n in base:
        n.start()
    primary, replicas = pg_tools.wait_for_primary_and_replicas(c, base, TIMEOUT)
    return c, primary, replicas, c.nodes[3]


def test_slow_on_stop_runs_to_the_end_after_the_agent_exits(make_cluster):
    c = make_cluster(3, start=False, scope=SCOPE)
    for n in c.nodes:
        install_callbacks(n, SLOW_STOP_SCRIPT)
    c.start()
    primary, replicas = pg_tools.wait_for_primary_and_replicas(c, timeout=TIMEOUT)
    replica = replicas[0]
    wait_call(c, replica, f"3 on_start replica {SCOPE}")

    # A replica stops cleanly and its agent exits: the on_stop it started
    # still writes its line a second later. The agent is gone, so the line
    # comes within a few seconds or never.
    assert replica.stop() == 0, f"{replica.name} did not exit cleanly" + rh.logs_report([replica])
    line = f"3 on_stop replica {SCOPE}"
    try:
        c.wait_until(lambda: line in calls(replica), SLOW_STOP_WAIT, f"{replica.name}: {line!r}")
    except rh.WaitTimeout:
        started = replica.dir / "on_stop.started"
        agent = [x for x in replica.log_tail(2000).splitlines() if "callback on_stop" in x]
        raise AssertionError(
            f"{replica.name}: the on_stop callback did not run to its end "
            f"(it {'started' if started.exists() else 'never got to its first line'}); "
            f"callback lines {calls(replica)}; the agent's log about it: {agent}"
        ) from None
    assert calls(replica) == [f"3 on_start replica {SCOPE}", line], calls(replica)
    # That it got there must not be luck: the agent may not kill the
    # callback it started on its way out (the kill reaches only the
    # `/bin/sh -c` wrapper once that has forked the script, so the line
    # above appears most of the time even when the agent does kill it;
    # the agent logs a callback it killed as "killed by signal").
    killed = [
        x for x in replica.log_tail(2000).splitlines() if "callback on_stop" in x and "killed" in x
    ]
    assert not killed, f"{replica.name}: the agent killed its on_stop callback: {killed}"
    assert_well_formed(c.nodes)


def test_no_start_or_stop_callbacks_for_a_postgres_that_never_ran(make_cluster):
    # The fourth node's PostgreSQL cannot start (a missing shared library):
    # it is cloned, every start fails. No on_start, and stopping the agent
    # stops no PostgreSQL, so no on_stop either: Patroni calls on_start
    # after a start that succeeded and on_stop only when it signalled a
    # running postmaster (Postgresql.stop: "if pg_signaled").
    c, primary, replicas, broken = three_then_one(
        make_cluster,
        SCRIPT,
        {"postgresql": {"parameters": {"shared_preload_libraries": "regent_test_no_such_library"}}},
    )
    broken.start()

    def cloned_not_running():
        doc = broken.api("/patroni").json()
        return doc.get("database_system_identifier") and doc["state"] not in (
            "running",
            "creating replica",
        )

    c.wait_until(cloned_not_running, TIMEOUT, f"{broken.name} to be cloned and fail to start")
    assert pg_tools.in_recovery(broken) is None, f"{broken.name}'s PostgreSQL accepts connections"
    assert broken.stop() == 0, f"{broken.name} did not exit cleanly" + rh.logs_report([broken])
    # The agent has exited: whatever it ran, it logged ("callback on_stop:
    # <command> …") before that; the script may still be writing.
    ran = [line for line in broken.log_tail(2000).splitlines() if "callback on_" in line]
    assert calls(broken) == [] and not ran, (
        f"{broken.name}, whose PostgreSQL never ran, got callbacks: {calls(broken)} {ran}"
        + rh.logs_report([broken], lines=30)
    )
    assert_well_formed(c.nodes)
