/* Unit tests for the holder's lease bookkeeping (coord_lease_*). */
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

#include "agent/rg.h"
#include "raft/coord.h"

#define MARGIN 400
#define BUDGET 50

static void test_deadline_is_max_of_t0_plus_ttl_minus_margin(void **state)
{
    (void)state;
    struct coord_lease l;
    coord_lease_init(&l, MARGIN, BUDGET);
    assert_true(l.deadline == 0 && coord_lease_fence_at(&l) == 0);
    assert_false(coord_lease_valid(&l, 0));
    coord_lease_sent(&l, "a", 1, 2500, 10000);
    coord_lease_sent(&l, "b", 1, 2500, 10250);
    coord_lease_sent(&l, "c", 1, 1000, 10500); /* lower ttl */
    /* Applied out of order: b, then a (older), then c (shorter). */
    assert_true(coord_lease_applied(&l, "b", 0));
    assert_true(l.deadline == 10250 + 2500 - MARGIN && l.epoch == 1);
    assert_false(coord_lease_applied(&l, "a", 0));
    assert_true(l.deadline == 12350);
    assert_false(coord_lease_applied(&l, "c", 0));
    assert_true(l.deadline == 12350);
    assert_true(coord_lease_fence_at(&l) == 12350 - BUDGET);
    assert_true(coord_lease_valid(&l, 12299));
    assert_false(coord_lease_valid(&l, 12300));
    assert_int_equal(l.n_inflight, 0);
}

static void test_unknown_or_failed_renewals_never_extend(void **state)
{
    (void)state;
    struct coord_lease l;
    coord_lease_init(&l, MARGIN, BUDGET);
    coord_lease_sent(&l, "a", 1, 2500, 1000);
    assert_true(coord_lease_applied(&l, "a", 0));
    uint64_t d = l.deadline;
    assert_false(coord_lease_applied(&l, "a", 0)); /* already consumed */
    assert_false(coord_lease_applied(&l, "never-sent", 0));
    coord_lease_sent(&l, "b", 1, 2500, 5000);
    assert_false(coord_lease_applied(&l, "b", RG_ECONFLICT));
    coord_lease_sent(&l, "c", 1, 2500, 6000);
    coord_lease_forget(&l, "c");
    assert_false(coord_lease_applied(&l, "c", 0));
    assert_true(l.deadline == d);
    assert_int_equal(l.n_inflight, 0);
}

static void test_new_epoch_resets_the_deadline(void **state)
{
    (void)state;
    struct coord_lease l;
    coord_lease_init(&l, MARGIN, BUDGET);
    coord_lease_sent(&l, "a", 1, 5000, 1000);
    assert_true(coord_lease_applied(&l, "a", 0));
    assert_true(l.deadline == 5600);
    /* A later epoch (granted again after losing it) starts afresh, even
     * with an earlier deadline than the old epoch had. */
    coord_lease_sent(&l, "b", 3, 1000, 2000);
    coord_lease_sent(&l, "old", 1, 9000, 2100);
    assert_true(coord_lease_applied(&l, "b", 0));
    assert_true(l.epoch == 3 && l.deadline == 2600);
    assert_false(coord_lease_applied(&l, "old", 0)); /* an older epoch never counts */
    assert_true(l.deadline == 2600);
}

static void test_drop_loses_the_lease_and_inflight_renewals(void **state)
{
    (void)state;
    struct coord_lease l;
    coord_lease_init(&l, MARGIN, BUDGET);
    coord_lease_sent(&l, "a", 1, 2500, 1000);
    coord_lease_sent(&l, "b", 1, 2500, 1200);
    assert_true(coord_lease_applied(&l, "a", 0));
    coord_lease_drop(&l);
    assert_true(l.deadline == 0 && coord_lease_fence_at(&l) == 0);
    assert_false(coord_lease_valid(&l, 0));
    assert_false(coord_lease_applied(&l, "b", 0));
}

static void test_oldest_inflight_is_forgotten(void **state)
{
    (void)state;
    struct coord_lease l;
    coord_lease_init(&l, MARGIN, BUDGET);
    char id[STORE_REQ_ID_SIZE];
    for (int i = 0; i <= COORD_MAX_INFLIGHT; i++) {
        snprintf(id, sizeof id, "r%d", i);
        coord_lease_sent(&l, id, 1, 2500, 1000 + (uint64_t)i);
    }
    assert_int_equal(l.n_inflight, COORD_MAX_INFLIGHT);
    assert_false(coord_lease_applied(&l, "r0", 0));
    assert_true(l.deadline == 0);
    assert_true(coord_lease_applied(&l, "r1", 0));
    snprintf(id, sizeof id, "r%d", COORD_MAX_INFLIGHT);
    assert_true(coord_lease_applied(&l, id, 0));
    assert_true(l.deadline == 1000 + COORD_MAX_INFLIGHT + 2500 - MARGIN);
}

static void test_deadline_without_room_before_fencing_is_no_lease(void **state)
{
    (void)state;
    struct coord_lease l;
    coord_lease_init(&l, MARGIN, BUDGET);
    coord_lease_sent(&l, "a", 1, 300, 0); /* t0 + ttl < margin */
    assert_false(coord_lease_applied(&l, "a", 0));
    coord_lease_sent(&l, "b", 1, UINT64_MAX, UINT64_MAX); /* saturates */
    assert_true(coord_lease_applied(&l, "b", 0));
    assert_true(l.deadline == UINT64_MAX - MARGIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_is_max_of_t0_plus_ttl_minus_margin),
        cmocka_unit_test(test_unknown_or_failed_renewals_never_extend),
        cmocka_unit_test(test_new_epoch_resets_the_deadline),
        cmocka_unit_test(test_drop_loses_the_lease_and_inflight_renewals),
        cmocka_unit_test(test_oldest_inflight_is_forgotten),
        cmocka_unit_test(test_deadline_without_room_before_fencing_is_no_lease),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
