/*
 * Unit tests for ha_decide, the member's decision table: the lease rules
 * (never a primary without our own renewal), the operator's requests
 * (switchover, restart, reinitialize, a new configuration) and pause, in
 * which nothing automatic may happen to PostgreSQL.
 *
 * Each case starts from one of a few base situations and changes the facts
 * it is about; the expected action and target are checked, and the reason
 * must never be empty.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
/* clang-format on */

#include "agent/ha.h"

/* An initialized cluster whose holder is node2; we are node1. */
static struct ha_facts base(enum ha_pg pg, bool in_recovery)
{
    struct ha_facts f = {
        .me = "node1",
        .pg = pg,
        .in_recovery = in_recovery,
        .sysid = "7000",
        .store_ready = true,
        .init_sysid = "7000",
        .init_claim = "",
        .holder = "node2",
        .holder_running = true,
        .clone_from = "node2",
        .upstream = "node2",
        .following = "node2",
    };
    return f;
}

/* We hold the lease and run as the primary. */
static struct ha_facts primary(void)
{
    struct ha_facts f = base(HA_PG_RUNNING, false);
    f.lease_mine = f.lease_granted = true;
    f.holder = "node1";
    f.upstream = "node1";
    f.following = NULL;
    return f;
}

static void expect(const struct ha_facts *f, enum ha_act act, const char *target)
{
    struct ha_action a;
    ha_decide(f, &a);
    if (a.act != act) {
        fail_msg("got %s (%s), want %s", ha_act_name(a.act), a.why, ha_act_name(act));
    }
    if (target == NULL) {
        assert_null(a.target);
    } else {
        assert_non_null(a.target);
        assert_string_equal(a.target, target);
    }
    assert_true(a.why[0] != '\0');
}

static void test_the_holder_carries_out_a_switchover(void **state)
{
    (void)state;
    struct ha_facts f = primary();
    expect(&f, HA_WAIT, NULL);
    f.switchover = "node3";
    expect(&f, HA_HANDOVER, "node3");
    f.switchover = ""; /* no candidate named: the best one */
    expect(&f, HA_HANDOVER, NULL);
    /* A switchover comes before the operator's other requests. */
    f.restart_requested = f.reconfigure = true;
    expect(&f, HA_HANDOVER, NULL);
    /* In pause too: it is the operator's. */
    f.paused = true;
    expect(&f, HA_HANDOVER, NULL);
}

/* Synchronous mode: the winner promotes only once PostgreSQL runs with the
 * synchronous_standby_names it must start with. */
static void test_the_winner_writes_synchronous_standby_names_before_it_promotes(void **state)
{
    (void)state;
    struct ha_facts f = base(HA_PG_RUNNING, true);
    f.lease_mine = f.lease_granted = true;
    f.holder = "node1";
    f.sync_unready = true;
    f.reconfigure = true;
    expect(&f, HA_RECONFIGURE, NULL);
    f.reconfigure = false; /* written, not reloaded yet */
    expect(&f, HA_WAIT, NULL);
    f.sync_unready = false;
    expect(&f, HA_PROMOTE, NULL);
    /* Without the lease it changes nothing. */
    f.lease_mine = f.lease_granted = false;
    f.holder = "node2";
    f.sync_unready = true;
    expect(&f, HA_WAIT, NULL);
}

static void test_a_switchover_needs_the_lease(void **state)
{
    (void)state;
    struct ha_facts f = primary();
    f.switchover = "node3";
    f.lease_mine = false; /* granted, not yet confirmed by our renewal */
    expect(&f, HA_WAIT, NULL);
    f.lease_granted = false;
    f.holder = "node2";
    expect(&f, HA_DEMOTE, NULL);
}

static void test_a_holder_whose_postgres_is_down_releases_for_a_failover(void **state)
{
    (void)state;
    struct ha_facts f = primary();
    f.pg = HA_PG_STOPPED;
    f.was_primary = true;
    expect(&f, HA_START_PRIMARY, NULL);
    f.switchover = "node3";
    expect(&f, HA_RELEASE, NULL);
}

static void test_a_stale_failover_request_is_cleared(void **state)
{
    (void)state;
    struct ha_facts f = primary();
    f.failover_stale = true;
    expect(&f, HA_CLEAR_FAILOVER, NULL);
}

static void test_restart_and_reconfigure_on_either_role(void **state)
{
    (void)state;
    struct ha_facts f = primary();
    f.reconfigure = true;
    expect(&f, HA_RECONFIGURE, NULL);
    f.restart_requested = true;
    expect(&f, HA_RESTART, NULL); /* a restart rereads the configuration anyway */

    f = base(HA_PG_RUNNING, true);
    f.reconfigure = true;
    expect(&f, HA_RECONFIGURE, NULL);
    f.restart_requested = true;
    expect(&f, HA_RESTART, "node2"); /* as a standby of its upstream */
    /* Following the primary comes before a reload. */
    f.restart_requested = false;
    f.following = "node3";
    expect(&f, HA_FOLLOW, "node2");
}

static void test_a_standby_the_primary_outgrew_restarts_unless_paused(void **state)
{
    (void)state;
    struct ha_facts f = base(HA_PG_RUNNING, true);
    f.outgrown = true;
    expect(&f, HA_RESTART, "node2");
    f.paused = true;
    expect(&f, HA_WAIT, NULL);
    f.restart_requested = true; /* the operator's, though, happens */
    expect(&f, HA_RESTART, "node2");
}

static void test_reinitialize_only_without_the_lease(void **state)
{
    (void)state;
    struct ha_facts f = base(HA_PG_RUNNING, true);
    f.reinit_requested = true;
    expect(&f, HA_REINIT, NULL);
    f.pg = HA_PG_STOPPED;
    expect(&f, HA_REINIT, NULL);
    f.pg = HA_PG_NO_DATA;
    expect(&f, HA_CLONE, "node2");
    /* Granted the lease meanwhile: promote, never wipe. */
    f = base(HA_PG_RUNNING, true);
    f.reinit_requested = true;
    f.lease_mine = f.lease_granted = true;
    expect(&f, HA_PROMOTE, NULL);
    f.pg = HA_PG_STOPPED;
    expect(&f, HA_START_REPLICA, NULL);
}

static void test_pause_stops_everything_automatic(void **state)
{
    (void)state;
    /* A primary without the lease is not demoted. */
    struct ha_facts f = base(HA_PG_RUNNING, false);
    expect(&f, HA_DEMOTE, NULL);
    f.paused = true;
    expect(&f, HA_WAIT, NULL);
    /* A stopped replica is not started, a former primary not rejoined. */
    f = base(HA_PG_STOPPED, false);
    expect(&f, HA_START_REPLICA, "node2");
    f.paused = true;
    expect(&f, HA_WAIT, NULL);
    f.was_primary = true;
    f.paused = false;
    expect(&f, HA_REJOIN, "node2");
    f.paused = true;
    expect(&f, HA_WAIT, NULL);
    /* The holder does not start its stopped PostgreSQL either. */
    f = primary();
    f.pg = HA_PG_STOPPED;
    f.was_primary = true;
    f.paused = true;
    expect(&f, HA_WAIT, NULL);
    /* No data: no clone, unless it finishes the operator's reinitialize. */
    f = base(HA_PG_NO_DATA, false);
    f.paused = true;
    expect(&f, HA_WAIT, NULL);
    f.reinit_requested = true;
    expect(&f, HA_CLONE, "node2");
}

static void test_pause_keeps_what_the_operator_asked_for(void **state)
{
    (void)state;
    /* A manual failover in pause grants us the lease: we promote. */
    struct ha_facts f = base(HA_PG_RUNNING, true);
    f.paused = true;
    f.lease_mine = f.lease_granted = true;
    expect(&f, HA_PROMOTE, NULL);
    /* Restart, reinitialize and a new configuration still happen. */
    f = base(HA_PG_RUNNING, true);
    f.paused = true;
    f.restart_requested = true;
    expect(&f, HA_RESTART, "node2");
    f.restart_requested = false;
    f.reinit_requested = true;
    expect(&f, HA_REINIT, NULL);
    f.reinit_requested = false;
    f.reconfigure = true;
    expect(&f, HA_RECONFIGURE, NULL);
    /* Pointing a running standby at the new primary is a reload, no stop. */
    f.reconfigure = false;
    f.following = "node3";
    expect(&f, HA_FOLLOW, "node2");
}

/* watchdog.mode required with an unusable device (DESIGN.md rule 5): no
 * bootstrap claim, no adoption, no promotion or start as primary with the
 * lease (it is released), a primary is demoted. */
static void test_a_failed_required_watchdog_keeps_the_member_from_the_lease(void **state)
{
    (void)state;
    struct ha_facts f = base(HA_PG_NO_DATA, false);
    f.init_sysid = NULL;
    f.holder = NULL;
    expect(&f, HA_CLAIM, NULL);
    f.watchdog_failed = true;
    expect(&f, HA_WAIT, NULL);

    f = base(HA_PG_RUNNING, false); /* a running primary to adopt */
    f.init_sysid = NULL;
    f.holder = NULL;
    expect(&f, HA_CLAIM, NULL);
    f.watchdog_failed = true;
    expect(&f, HA_WAIT, NULL);

    f = base(HA_PG_RUNNING, true);
    f.lease_mine = f.lease_granted = true;
    expect(&f, HA_PROMOTE, NULL);
    f.watchdog_failed = true;
    expect(&f, HA_RELEASE, NULL);
    f.lease_mine = f.lease_granted = false;
    expect(&f, HA_WAIT, NULL); /* a replica still, and says why it is no candidate */

    f = base(HA_PG_STOPPED, false);
    f.was_primary = true;
    f.lease_mine = f.lease_granted = true;
    expect(&f, HA_START_PRIMARY, NULL);
    f.watchdog_failed = true;
    expect(&f, HA_RELEASE, NULL);

    f = primary();
    f.watchdog_failed = true;
    expect(&f, HA_DEMOTE, NULL);
}

static void test_every_action_has_a_name(void **state)
{
    (void)state;
    for (int a = HA_WAIT; a <= HA_RECONFIGURE; a++) {
        assert_string_not_equal(ha_act_name((enum ha_act)a), "?");
    }
    assert_string_equal(ha_act_name((enum ha_act)(HA_RECONFIGURE + 1)), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_holder_carries_out_a_switchover),
        cmocka_unit_test(test_a_switchover_needs_the_lease),
        cmocka_unit_test(test_the_winner_writes_synchronous_standby_names_before_it_promotes),
        cmocka_unit_test(test_a_holder_whose_postgres_is_down_releases_for_a_failover),
        cmocka_unit_test(test_a_stale_failover_request_is_cleared),
        cmocka_unit_test(test_restart_and_reconfigure_on_either_role),
        cmocka_unit_test(test_a_standby_the_primary_outgrew_restarts_unless_paused),
        cmocka_unit_test(test_reinitialize_only_without_the_lease),
        cmocka_unit_test(test_pause_stops_everything_automatic),
        cmocka_unit_test(test_pause_keeps_what_the_operator_asked_for),
        cmocka_unit_test(test_a_failed_required_watchdog_keeps_the_member_from_the_lease),
        cmocka_unit_test(test_every_action_has_a_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
