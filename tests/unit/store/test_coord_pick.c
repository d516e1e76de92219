/*
 * Unit tests for the coordinator's decisions: coord_next (what the lease
 * needs), coord_pick (whom to grant it to) and coord_reports_json.
 *
 * Every coord_next answer is cross-checked against the state machine: the
 * same state gets a real grant (or init_clear) command through
 * store_fsm_apply, on a copy, at the same cluster time. GRANT_CLAIMANT and
 * FAILOVER must apply; IDLE and PAUSED must be refused — except where the
 * coordinator is stricter than the state machine on purpose (documented in
 * coord_pick.h), which the tests name.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
/* clang-format on */

#include "agent/rg.h"
#include "raft/coord_pick.h"
#include "store_helpers.h"

#define TTL 2500
#define SO  1000 /* switchover_timeout, ms */

/* ---- helpers ------------------------------------------------------------ */

/* A copy of @s made through a snapshot (the state is not copyable otherwise). */
static void state_copy(const struct store_state *s, struct store_state *out)
{
    char *buf;
    size_t len;
    char errmsg[RG_ERRMSG_SIZE];
    store_state_snapshot(s, &buf, &len);
    store_state_init(out);
    assert_int_equal(store_state_restore(out, buf, len, errmsg), 0);
    rg_free(buf);
}

/* The code of a grant to @to proposed at @ct with the state's epoch, as the
 * coordinator would send it. @reason gets the refusal (may be NULL). */
static int grant_code(const struct store_state *s, uint64_t ct, const char *to, char *reason)
{
    struct store_state c;
    state_copy(s, &c);
    struct store_cmd cmd = mk_grant(ct, to, s->lease.epoch, TTL);
    cmd.switchover_timeout = SO;
    struct store_result r;
    int code = apply_cmd(&c, cmd, &r);
    if (reason != NULL) {
        snprintf(reason, sizeof r.reason, "%s", r.reason);
    }
    store_state_close(&c);
    return code;
}

static int init_clear_code(const struct store_state *s, uint64_t ct)
{
    struct store_state c;
    state_copy(s, &c);
    int code = apply_cmd(&c, mk_named(STORE_OP_INIT_CLEAR, ct, s->init_claim, 0), NULL);
    store_state_close(&c);
    return code;
}

struct next {
    enum coord_step step;
    char exclude[STORE_NAME_SIZE];
    char why[256];
};

static struct next next_at(const struct store_state *s, uint64_t now)
{
    struct next n;
    memset(&n, 0x5a, sizeof n); /* coord_next must write both strings */
    n.step = coord_next(s, now, SO, n.exclude, n.why, sizeof n.why);
    return n;
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL) {                                                     \
            fail_msg("\"%s\" not in \"%s\"", (needle), (hay));                                     \
        }                                                                                          \
    } while (0)

/* Assert the step and cross-check it with the state machine at @now. */
static struct next expect_step(const struct store_state *s, uint64_t now, enum coord_step step)
{
    struct next n = next_at(s, now);
    if (n.step != step) {
        fail_msg("at %llu: %s (%s), expected %s", (unsigned long long)now, coord_step_name(n.step),
                 n.why, coord_step_name(step));
    }
    char reason[128];
    switch (step) {
    case COORD_GRANT_CLAIMANT:
        assert_string_equal(n.exclude, "");
        assert_int_equal(grant_code(s, now, s->init_claim, reason), 0);
        break;
    case COORD_FAILOVER:
        /* Any data member but the excluded one: node3 is never a holder here. */
        assert_int_equal(grant_code(s, now, "node3", reason), 0);
        break;
    case COORD_CLEAR_CLAIM:
        assert_string_equal(n.exclude, "");
        assert_int_equal(init_clear_code(s, now), 0);
        break;
    case COORD_IDLE:
    case COORD_PAUSED:
        assert_string_equal(n.exclude, "");
        break;
    }
    return n;
}

static void
expect_refused(const struct store_state *s, uint64_t now, const char *to, const char *reason)
{
    char got[128];
    assert_int_equal(grant_code(s, now, to, got), RG_ECONFLICT);
    assert_string_equal(got, reason);
}

/* A cluster bootstrapped by node1: claim, grant at 1000, renew at 1100
 * (expires 3600), initialize at 1200. */
static void initialized(struct store_state *s, bool fencing)
{
    store_state_init(s);
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLAIM, 900, "node1", 0), NULL), 0);
    assert_int_equal(apply_cmd(s, mk_grant(1000, "node1", 0, TTL), NULL), 0);
    assert_int_equal(apply_cmd(s, mk_renew(1100, "node1", 1, TTL, fencing), NULL), 0);
    struct store_cmd set = mk_named(STORE_OP_INIT_SET, 1200, "node1", 1);
    snprintf(set.sysid, sizeof set.sysid, "7301234567890123456");
    assert_int_equal(apply_cmd(s, set, NULL), 0);
    assert_non_null(s->init_sysid);
    assert_true(s->lease.expires_at == 3600);
}

/* ---- coord_next: bootstrap ---------------------------------------------- */

static void test_next_idle_without_claim(void **state)
{
    (void)state;
    struct store_state s;
    store_state_init(&s);
    struct next n = expect_step(&s, 0, COORD_IDLE);
    assert_string_equal(n.why, "not initialized: waiting for a bootstrap claim");
    /* Not a lease condition: the state machine would take a grant, but
     * nobody may hold the lease before someone claims the bootstrap. */
    assert_int_equal(grant_code(&s, 0, "node1", NULL), 0);
    store_state_close(&s);
}

static void test_next_grants_claimant_of_never_held_lease(void **state)
{
    (void)state;
    struct store_state s;
    store_state_init(&s);
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_INIT_CLAIM, 100, "node2", 0), NULL), 0);
    struct next n = expect_step(&s, 100, COORD_GRANT_CLAIMANT);
    assert_string_equal(n.why, "bootstrap: grant the lease to claimant node2 (the lease was never "
                               "granted)");
    /* The grant makes the claimant's lease epoch known. */
    assert_int_equal(apply_cmd(&s, mk_grant(100, "node2", 0, TTL), NULL), 0);
    assert_true(s.init_claim_epoch == 1);
    n = expect_step(&s, 200, COORD_IDLE);
    assert_string_equal(n.why, "node2 holds the lease (epoch 1): waiting for it to initialize");
    expect_refused(&s, 200, "node3", "lease is valid");
    store_state_close(&s);
}

static void test_next_clears_claim_whose_lease_expired(void **state)
{
    (void)state;
    struct store_state s;
    store_state_init(&s);
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_INIT_CLAIM, 900, "node1", 0), NULL), 0);
    assert_int_equal(apply_cmd(&s, mk_grant(1000, "node1", 0, TTL), NULL), 0);
    /* expires_at 3500: valid at 3499, not at 3500 */
    expect_step(&s, 3499, COORD_IDLE);
    assert_int_not_equal(init_clear_code(&s, 3499), 0);
    struct next n = expect_step(&s, 3500, COORD_CLEAR_CLAIM);
    assert_string_equal(n.why, "node1 did not initialize under its lease (epoch 1): lease of "
                               "node1 (epoch 1) expired at 3500 (now 3500); clear its claim");
    /* Cleared: idle until the next claim, which is granted over the
     * expired lease (the old claimant was fencing). */
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_INIT_CLEAR, 3500, "node1", 0), NULL), 0);
    expect_step(&s, 3600, COORD_IDLE);
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_INIT_CLAIM, 3700, "node2", 0), NULL), 0);
    n = expect_step(&s, 3700, COORD_GRANT_CLAIMANT);
    assert_contains(n.why, "claimant node2 (lease of node1 (epoch 1) expired at 3500");
    store_state_close(&s);
}

static void test_next_clears_claim_whose_lease_was_released(void **state)
{
    (void)state;
    struct store_state s;
    store_state_init(&s);
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_INIT_CLAIM, 900, "node1", 0), NULL), 0);
    assert_int_equal(apply_cmd(&s, mk_grant(1000, "node1", 0, TTL), NULL), 0);
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_RELEASE, 1500, "node1", 1), NULL), 0);
    struct next n = expect_step(&s, 1600, COORD_CLEAR_CLAIM);
    assert_contains(n.why, "lease released by node1 (epoch 1)");
    store_state_close(&s);
}

static void test_next_paused_claimant_keeps_its_claim(void **state)
{
    (void)state;
    struct store_state s;
    store_state_init(&s);
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_INIT_CLAIM, 900, "node1", 0), NULL), 0);
    assert_int_equal(apply_cmd(&s, mk_grant(1000, "node1", 0, TTL), NULL), 0);
    assert_int_equal(apply_cmd(&s, mk_renew(1100, "node1", 1, TTL, false), NULL), 0);
    struct next n = expect_step(&s, 3600, COORD_PAUSED);
    assert_contains(n.why, "bootstrap of node1: lease of node1 (epoch 1) expired at 3600 but its "
                           "last renewal said fencing=false (paused)");
    expect_refused(&s, 3600, "node2", "lease expired but the holder is not fencing (paused)");
    /* Stricter than the state machine: init_clear would apply. */
    assert_int_equal(init_clear_code(&s, 3600), 0);
    store_state_close(&s);
}

static void test_next_never_grants_a_witness_claimant(void **state)
{
    (void)state;
    struct store_state s;
    store_state_init(&s);
    struct store_cmd peer = mk(STORE_OP_PEER_SET, 10);
    peer.peer_id = 77;
    snprintf(peer.name, sizeof peer.name, "wit");
    snprintf(peer.address, sizeof peer.address, "10.0.0.9:2222");
    peer.kind = STORE_PEER_WITNESS;
    assert_int_equal(apply_cmd(&s, peer, NULL), 0);
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_INIT_CLAIM, 20, "wit", 0), NULL), 0);
    struct next n = expect_step(&s, 30, COORD_IDLE);
    assert_string_equal(n.why, "bootstrap claimant wit is a witness and can never hold the lease");
    expect_refused(&s, 30, "wit", "a witness never holds the lease");
    store_state_close(&s);
}

/* ---- coord_next: after initialize --------------------------------------- */

static void test_next_idle_while_lease_valid_until_boundary(void **state)
{
    (void)state;
    struct store_state s;
    initialized(&s, true);
    struct next n = expect_step(&s, 3000, COORD_IDLE);
    assert_string_equal(n.why, "lease held by node1 (epoch 1) until 3600 (600 ms left)");
    expect_refused(&s, 3000, "node2", "lease is valid");
    expect_step(&s, 3599, COORD_IDLE);
    expect_refused(&s, 3599, "node2", "lease is valid");
    /* ct == expires_at: expired (the state machine's ct >= expires_at). */
    n = expect_step(&s, 3600, COORD_FAILOVER);
    assert_string_equal(n.exclude, "node1");
    assert_string_equal(n.why, "lease of node1 (epoch 1) expired at 3600 (now 3600): failover");
    store_state_close(&s);
}

static void test_next_paused_when_expired_without_fencing(void **state)
{
    (void)state;
    struct store_state s;
    initialized(&s, false);
    expect_step(&s, 3599, COORD_IDLE);
    struct next n = expect_step(&s, 3600, COORD_PAUSED);
    assert_string_equal(n.why, "lease of node1 (epoch 1) expired at 3600 but its last renewal "
                               "said fencing=false (paused): no automatic grant until it "
                               "releases or renews in normal mode");
    expect_refused(&s, 3600, "node2", "lease expired but the holder is not fencing (paused)");
    expect_step(&s, 100000, COORD_PAUSED);
    /* Resumed: one renewal in normal mode, then expiry fails over again. */
    assert_int_equal(apply_cmd(&s, mk_renew(5000, "node1", 1, TTL, true), NULL), 0);
    expect_step(&s, 7499, COORD_IDLE);
    expect_step(&s, 7500, COORD_FAILOVER);
    store_state_close(&s);
}

static void test_next_fails_over_a_released_lease_at_once(void **state)
{
    (void)state;
    struct store_state s;
    initialized(&s, true);
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_RELEASE, 2000, "node1", 1), NULL), 0);
    struct next n = expect_step(&s, 2001, COORD_FAILOVER);
    assert_string_equal(n.exclude, "node1");
    assert_string_equal(n.why, "lease released by node1 (epoch 1): failover");
    store_state_close(&s);
    /* Released in pause too: a release means PostgreSQL is stopped. */
    initialized(&s, false);
    assert_int_equal(apply_cmd(&s, mk_named(STORE_OP_RELEASE, 2000, "node1", 1), NULL), 0);
    expect_step(&s, 2001, COORD_FAILOVER);
    store_state_close(&s);
}

static void test_next_unconfirmed_handover_before_and_after_timeout(void **state)
{
    (void)state;
    struct store_state s;
    initialized(&s, true);
    struct store_cmd h = mk_named(STORE_OP_HANDOVER, 2000, "node1", 1);
    snprintf(h.to, sizeof h.to, "node2");
    assert_int_equal(apply_cmd(&s, h, NULL), 0);
    assert_true(s.lease.handover_unconfirmed && s.lease.epoch == 2);
    /* renewed_at 2000 + SO 1000: grantable at 3000 (expires_at is 3600). */
    struct next n = expect_step(&s, 2999, COORD_IDLE);
    assert_string_equal(n.why, "handover to node2 (epoch 2) unconfirmed since 2000, grantable at "
                               "3000");
    expect_refused(&s, 2999, "node3", "lease is valid");
    n = expect_step(&s, 3000, COORD_FAILOVER);
    assert_string_equal(n.exclude, "node2");
    assert_string_equal(n.why, "handover to node2 (epoch 2) unconfirmed since 2000, switchover "
                               "timeout passed at 3000: failover");
    /* Confirmed by the target's first renewal: an ordinary lease again. */
    assert_int_equal(apply_cmd(&s, mk_renew(2500, "node2", 2, TTL, true), NULL), 0);
    n = expect_step(&s, 3000, COORD_IDLE);
    assert_contains(n.why, "lease held by node2 (epoch 2) until 5000");
    store_state_close(&s);
}

static void test_next_handover_waits_whole_timeout_past_expiry(void **state)
{
    (void)state;
    struct store_state s;
    initialized(&s, true);
    struct store_cmd h = mk_named(STORE_OP_HANDOVER, 3000, "node1", 1);
    snprintf(h.to, sizeof h.to, "node2");
    assert_int_equal(apply_cmd(&s, h, NULL), 0);
    /* expires_at stays 3600, the timeout ends at 4000. The state machine
     * would grant at 3600 (expired, fencing); the coordinator waits. */
    struct next n = next_at(&s, 3700);
    assert_int_equal(n.step, COORD_IDLE);
    assert_string_equal(n.exclude, "");
    assert_int_equal(grant_code(&s, 3700, "node3", NULL), 0);
    expect_step(&s, 4000, COORD_FAILOVER);
    store_state_close(&s);
}

static void test_next_why_may_be_empty_or_truncated(void **state)
{
    (void)state;
    struct store_state s;
    initialized(&s, true);
    char exclude[STORE_NAME_SIZE];
    assert_int_equal(coord_next(&s, 5000, SO, exclude, NULL, 0), COORD_FAILOVER);
    assert_string_equal(exclude, "node1");
    char small[8];
    assert_int_equal(coord_next(&s, 5000, SO, exclude, small, sizeof small), COORD_FAILOVER);
    assert_string_equal(small, "lease o");
    store_state_close(&s);
}

/* ---- coord_pick --------------------------------------------------------- */

#define LSN 0x5000060ull

static struct coord_report replica(const char *name, uint64_t lsn)
{
    struct coord_report r;
    memset(&r, 0, sizeof r);
    snprintf(r.name, sizeof r.name, "%s", name);
    r.answered = true;
    r.running = true;
    r.in_recovery = true;
    r.failover_priority = 1;
    r.timeline = 3;
    r.lsn = lsn;
    r.history_ok = true;
    return r;
}

static struct coord_policy policy(void)
{
    struct coord_policy p = {
        .primary_lsn = LSN,
        .maximum_lag = 1048576,
        .check_timeline = false,
        .cluster_timeline = 3,
        .exclude = "node1",
        .candidate = NULL,
    };
    return p;
}

static void test_pick_highest_lsn_wins_over_priority(void **state)
{
    (void)state;
    struct coord_report r[3] = {replica("node2", LSN - 100), replica("node3", LSN),
                                replica("node4", LSN - 50)};
    r[0].failover_priority = 5;
    struct coord_policy p = policy();
    char why[256];
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), 1);
    assert_string_equal(why, "node3: highest lsn 0/5000060 of 3 eligible");
}

static void test_pick_equal_lsn_higher_priority_wins(void **state)
{
    (void)state;
    struct coord_report r[3] = {replica("node2", LSN), replica("node3", LSN),
                                replica("node4", LSN - 1)};
    r[1].failover_priority = 2;
    struct coord_policy p = policy();
    char why[256];
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), 1);
    assert_string_equal(why, "node3: highest failover_priority 2 of 2 at lsn 0/5000060 (3 "
                             "eligible)");
}

static void test_pick_full_tie_lowest_name_wins_in_any_order(void **state)
{
    (void)state;
    struct coord_report r[3] = {replica("node4", LSN), replica("node2", LSN),
                                replica("node3", LSN)};
    struct coord_policy p = policy();
    char why[256];
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), 1);
    assert_string_equal(why, "node2: first by name of 3 at lsn 0/5000060 with failover_priority "
                             "1 (3 eligible)");
    /* Every order gives the same member. */
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (size_t k = 0; k < 6; k++) {
        struct coord_report q[3];
        for (int i = 0; i < 3; i++) {
            q[i] = r[perms[k][i]];
        }
        int i = coord_pick(q, 3, &p, NULL, 0);
        assert_true(i >= 0);
        assert_string_equal(q[i].name, "node2");
    }
    /* Names compare bytewise: "Node9" < "node1". */
    struct coord_report c[2] = {replica("node5", LSN), replica("Node9", LSN)};
    assert_int_equal(coord_pick(c, 2, &p, NULL, 0), 1);
}

/* ---- synchronous mode ---------------------------------------------------- */

static void test_pick_sync_first_only_a_sync_member(void **state)
{
    (void)state;
    char why[512];
    static const char *const sync[] = {"node3"};
    struct coord_policy p = policy();
    p.sync_mode = true;
    p.sync = sync;
    p.n_sync = 1;
    p.sync_k = 1;
    /* node2 is ahead but asynchronous: it may lack nothing, yet only the
     * synchronous standby is sure to have every acknowledged commit. */
    struct coord_report r[2] = {replica("node2", LSN), replica("node3", LSN - 100)};
    assert_int_equal(coord_pick(r, 2, &p, why, sizeof why), 1);
    /* The sync member gone: no automatic failover, and why. */
    r[1].answered = false;
    assert_int_equal(coord_pick(r, 2, &p, why, sizeof why), -1);
    assert_non_null(strstr(why, "heard from 0 of the 1"));
    r[1].answered = true;
    r[1].running = false;
    assert_int_equal(coord_pick(r, 2, &p, why, sizeof why), -1);
    assert_non_null(strstr(why, "node2: not a synchronous standby"));
    r[1].running = true;
    /* Empty record (a grant emptied it, non-strict without standbys): nobody. */
    p.n_sync = 0;
    p.sync_k = 0;
    r[1].answered = true;
    assert_int_equal(coord_pick(r, 2, &p, why, sizeof why), -1);
    /* The former primary of a timed-out switchover, shut down cleanly, is
     * eligible without sync status. */
    struct coord_report old = replica("node4", 0);
    old.running = false;
    old.in_recovery = false;
    old.clean_shutdown = true;
    old.shutdown_lsn = LSN;
    struct coord_report q[2] = {replica("node2", LSN), old};
    assert_int_equal(coord_pick(q, 2, &p, why, sizeof why), 1);
}

static void test_pick_quorum_needs_enough_reports_and_the_highest_lsn(void **state)
{
    (void)state;
    char why[512];
    static const char *const sync[] = {"node2", "node3", "node4"};
    struct coord_policy p = policy();
    p.sync_mode = true;
    p.sync = sync;
    p.n_sync = 3;
    p.sync_k = 2; /* ANY 2 of 3: hear from 2 */
    struct coord_report r[3] = {replica("node2", LSN - 10), replica("node3", LSN),
                                replica("node4", LSN - 20)};
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), 1);
    r[0].answered = false;
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), 1);
    r[2].answered = false; /* one of 3 heard, 2 needed */
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), -1);
    assert_non_null(strstr(why, "heard from 1 of the 3"));
    /* The highest LSN heard belongs to a member that may not win: no
     * automatic failover rather than a loser of commits. */
    r[0].answered = r[2].answered = true;
    r[1].nofailover = true;
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), -1);
    assert_non_null(strstr(why, "behind a synchronous standby"));
    /* k = 0: no guarantee recorded, no failover. */
    r[1].nofailover = false;
    p.sync_k = 0;
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), -1);
}

static void test_pick_lag_beyond_maximum_is_not_eligible(void **state)
{
    (void)state;
    struct coord_policy p = policy();
    /* exactly maximum_lag behind: eligible; one byte more: not */
    struct coord_report r[2] = {replica("node2", LSN - 1048576), replica("node3", LSN - 1048577)};
    char why[256];
    assert_int_equal(coord_pick(r, 2, &p, why, sizeof why), 0);
    assert_int_equal(coord_pick(&r[1], 1, &p, why, sizeof why), -1);
    assert_string_equal(why, "node3: lag 1048577 > 1048576 bytes");
    /* Ahead of the primary's last report: no lag. */
    struct coord_report ahead = replica("node4", LSN + 10);
    p.maximum_lag = 0;
    assert_int_equal(coord_pick(&ahead, 1, &p, NULL, 0), 0);
}

static void test_pick_timeline_rule_only_with_check_timeline(void **state)
{
    (void)state;
    struct coord_policy p = policy();
    struct coord_report r = replica("node2", LSN);
    r.timeline = 2;
    char why[256];
    assert_int_equal(coord_pick(&r, 1, &p, why, sizeof why), 0);
    p.check_timeline = true;
    assert_int_equal(coord_pick(&r, 1, &p, why, sizeof why), -1);
    assert_string_equal(why, "node2: timeline 2 < cluster timeline 3");
    r.timeline = 3;
    assert_int_equal(coord_pick(&r, 1, &p, why, sizeof why), 0);
    /* unknown cluster timeline: no check */
    r.timeline = 1;
    p.cluster_timeline = 0;
    assert_int_equal(coord_pick(&r, 1, &p, why, sizeof why), 0);
}

static void test_pick_lists_every_reason_when_nobody_is_eligible(void **state)
{
    (void)state;
    struct coord_policy p = policy();
    struct coord_report r[7] = {
        replica("node1", LSN), replica("node2", LSN), replica("node3", LSN - (5u << 20)),
        replica("node4", LSN), replica("node5", LSN), replica("node6", LSN),
        replica("node7", LSN)};
    r[1].nofailover = true;
    r[3].answered = false;
    r[4].failover_priority = 0; /* like nofailover */
    r[5].in_recovery = false;   /* a running primary */
    r[5].history_ok = false;
    r[6].running = false;
    r[6].watchdog_failed = true;
    char why[512];
    assert_int_equal(coord_pick(r, 7, &p, why, sizeof why), -1);
    assert_string_equal(why, "node1: the old holder; node2: nofailover; node3: lag 5242880 > "
                             "1048576 bytes; node4: no answer; node5: nofailover "
                             "(failover_priority 0); node6: not a replica, timeline history does "
                             "not continue the last primary's; node7: watchdog required but "
                             "unusable, not running");
    /* A bounded buffer is cut, never overrun. */
    char small[20];
    memset(small, 'x', sizeof small);
    assert_int_equal(coord_pick(r, 7, &p, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(coord_pick(NULL, 0, &p, why, sizeof why), -1);
    assert_string_equal(why, "no reports");
}

static void test_pick_clean_shutdown_former_primary_is_eligible(void **state)
{
    (void)state;
    struct coord_policy p = policy();
    p.exclude = "node2"; /* the switchover target that never confirmed */
    struct coord_report old = replica("node1", 0);
    old.running = false;
    old.in_recovery = false;
    old.clean_shutdown = true;
    old.shutdown_lsn = LSN;
    struct coord_report r[3] = {old, replica("node2", LSN), replica("node3", LSN - 4096)};
    char why[256];
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), 0);
    assert_string_equal(why, "node1: highest lsn 0/5000060 of 2 eligible");
    /* Without the clean shutdown a stopped member is not eligible. */
    r[0].clean_shutdown = false;
    assert_int_equal(coord_pick(r, 3, &p, why, sizeof why), 2);
    /* A clean shutdown that runs again as primary is not either. */
    r[0].clean_shutdown = true;
    r[0].running = true;
    assert_int_equal(coord_pick(r, 1, &p, why, sizeof why), -1);
    assert_string_equal(why, "node1: not a replica");
}

static void test_pick_candidate_wins_only_if_eligible(void **state)
{
    (void)state;
    struct coord_policy p = policy();
    struct coord_report r[2] = {replica("node2", LSN), replica("node3", LSN - (5u << 20))};
    char why[256];
    p.candidate = "node3";
    assert_int_equal(coord_pick(r, 2, &p, why, sizeof why), -1);
    assert_string_equal(why, "candidate node3: lag 5242880 > 1048576 bytes");
    r[1].lsn = LSN - 10;
    assert_int_equal(coord_pick(r, 2, &p, why, sizeof why), 1); /* though node2 is ahead */
    assert_string_equal(why, "node3: requested candidate, lsn 0/5000056");
    p.candidate = "node9";
    assert_int_equal(coord_pick(r, 2, &p, why, sizeof why), -1);
    assert_string_equal(why, "candidate node9: no report");
    p.candidate = "node1"; /* the old holder */
    struct coord_report held = replica("node1", LSN);
    assert_int_equal(coord_pick(&held, 1, &p, why, sizeof why), -1);
    assert_string_equal(why, "candidate node1: the old holder");
    p.candidate = ""; /* same as none */
    assert_int_equal(coord_pick(r, 2, &p, why, sizeof why), 0);
}

/* ---- coord_reports_json ------------------------------------------------- */

static void test_reports_json_goes_into_an_applied_grant(void **state)
{
    (void)state;
    struct coord_report r[2] = {replica("node2", 0xfffffffffffffff0ull), replica("node3", LSN)};
    r[1].answered = false;
    r[0].clean_shutdown = true;
    r[0].shutdown_lsn = 42;
    cJSON *j = coord_reports_json(r, 2);
    char *text = cJSON_PrintUnformatted(j);
    assert_string_equal(text,
                        "[{\"name\":\"node2\",\"answered\":true,\"running\":true,"
                        "\"in_recovery\":true,\"nofailover\":false,\"failover_priority\":1,"
                        "\"timeline\":3,\"lsn\":\"18446744073709551600\",\"history_ok\":true,"
                        "\"clean_shutdown\":true,\"shutdown_lsn\":\"42\","
                        "\"watchdog_failed\":false},{\"name\":\"node3\",\"answered\":false}]");
    cJSON_free(text);

    /* The payload survives encode/decode and the grant records it. */
    struct store_state s;
    initialized(&s, true);
    struct store_cmd g = mk_grant(4000, "node2", 1, TTL);
    g.json = j;
    char *buf;
    size_t len;
    store_cmd_encode(&g, &buf, &len);
    store_cmd_close(&g);
    struct store_cmd d;
    char errmsg[RG_ERRMSG_SIZE];
    assert_int_equal(store_cmd_decode(buf, len, &d, errmsg), 0);
    rg_free(buf);
    struct store_result res;
    store_fsm_apply(&s, &d, &res);
    assert_int_equal(res.code, 0);
    assert_true(cJSON_Compare(s.lease_reports, d.json, true));
    store_cmd_close(&d);
    store_state_close(&s);

    cJSON *empty = coord_reports_json(NULL, 0);
    assert_true(cJSON_IsArray(empty) && cJSON_GetArraySize(empty) == 0);
    cJSON_Delete(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_idle_without_claim),
        cmocka_unit_test(test_next_grants_claimant_of_never_held_lease),
        cmocka_unit_test(test_next_clears_claim_whose_lease_expired),
        cmocka_unit_test(test_next_clears_claim_whose_lease_was_released),
        cmocka_unit_test(test_next_paused_claimant_keeps_its_claim),
        cmocka_unit_test(test_next_never_grants_a_witness_claimant),
        cmocka_unit_test(test_next_idle_while_lease_valid_until_boundary),
        cmocka_unit_test(test_next_paused_when_expired_without_fencing),
        cmocka_unit_test(test_next_fails_over_a_released_lease_at_once),
        cmocka_unit_test(test_next_unconfirmed_handover_before_and_after_timeout),
        cmocka_unit_test(test_next_handover_waits_whole_timeout_past_expiry),
        cmocka_unit_test(test_next_why_may_be_empty_or_truncated),
        cmocka_unit_test(test_pick_highest_lsn_wins_over_priority),
        cmocka_unit_test(test_pick_equal_lsn_higher_priority_wins),
        cmocka_unit_test(test_pick_full_tie_lowest_name_wins_in_any_order),
        cmocka_unit_test(test_pick_lag_beyond_maximum_is_not_eligible),
        cmocka_unit_test(test_pick_sync_first_only_a_sync_member),
        cmocka_unit_test(test_pick_quorum_needs_enough_reports_and_the_highest_lsn),
        cmocka_unit_test(test_pick_timeline_rule_only_with_check_timeline),
        cmocka_unit_test(test_pick_lists_every_reason_when_nobody_is_eligible),
        cmocka_unit_test(test_pick_clean_shutdown_former_primary_is_eligible),
        cmocka_unit_test(test_pick_candidate_wins_only_if_eligible),
        cmocka_unit_test(test_reports_json_goes_into_an_applied_grant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
