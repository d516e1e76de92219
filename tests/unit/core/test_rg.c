/* Unit tests for the rg core: error texts and messages, allocation, clocks. */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
// clang-format on

#include "agent/rg.h"

static void test_strerror_knows_every_code(void **state)
{
    (void)state;
    assert_string_equal(rg_strerror(0), "success");
    assert_string_equal(rg_strerror(RG_ECONFIG), "invalid configuration");
    assert_string_equal(rg_strerror(RG_ENOTLEADER), "not the Raft leader");
    assert_string_equal(rg_strerror(12345), "unknown error");
}

static void test_errmsg_wrap_prefixes_context(void **state)
{
    (void)state;
    char msg[RG_ERRMSG_SIZE];
    rg_errmsg_printf(msg, "exit status %d", 1);
    rg_errmsg_wrapf(msg, "pg_ctl");
    rg_errmsg_wrapf(msg, "promote");
    assert_string_equal(msg, "promote: pg_ctl: exit status 1");
}

static void test_errmsg_truncates_long_text(void **state)
{
    (void)state;
    char msg[RG_ERRMSG_SIZE];
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rg_errmsg_printf(msg, "%s", big);
    assert_int_equal(strlen(msg), RG_ERRMSG_SIZE - 1);
    rg_errmsg_wrapf(msg, "ctx");
    assert_int_equal(strlen(msg), RG_ERRMSG_SIZE - 1);
    assert_memory_equal(msg, "ctx: ", 5);
}

static void test_asprintf_and_strndup(void **state)
{
    (void)state;
    char *s = rg_asprintf("%s-%d", "node", 3);
    assert_string_equal(s, "node-3");
    rg_free(s);
    s = rg_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    rg_free(s);
}

static void test_boottime_is_monotonic(void **state)
{
    (void)state;
    uint64_t a = rg_boottime_us();
    uint64_t b = rg_boottime_us();
    assert_true(b >= a);
    assert_true(rg_boottime_ms() > 0);
}

static void test_iso8601_formats_utc(void **state)
{
    (void)state;
    char buf[64];
    rg_iso8601(1700000000123ull, buf, sizeof buf);
    assert_string_equal(buf, "2023-11-14T22:13:20.123+00:00");
}

static void test_random_bytes_differ(void **state)
{
    (void)state;
    uint64_t a = 0, b = 0;
    assert_int_equal(rg_random_bytes(&a, sizeof a), 0);
    assert_int_equal(rg_random_bytes(&b, sizeof b), 0);
    assert_true(a != b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_knows_every_code),
        cmocka_unit_test(test_errmsg_wrap_prefixes_context),
        cmocka_unit_test(test_errmsg_truncates_long_text),
        cmocka_unit_test(test_asprintf_and_strndup),
        cmocka_unit_test(test_boottime_is_monotonic),
        cmocka_unit_test(test_iso8601_formats_utc),
        cmocka_unit_test(test_random_bytes_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
