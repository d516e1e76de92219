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

static void test_iso8601_parse_round_trips_and_zones(void **state)
{
    (void)state;
    int64_t ms = 0;
    char buf[64];
    rg_iso8601(1700000000123ull, buf, sizeof buf);
    assert_int_equal(rg_iso8601_parse(buf, &ms), 0);
    assert_int_equal(ms, 1700000000123LL);
    /* The same instant in other zones and spellings. */
    const char *same[] = {"2023-11-14T22:13:20Z", "2023-11-15T00:13:20+02:00",
                          "2023-11-14 20:13:20-0200", "2023-11-14t22:13:20.000z",
                          "2023-11-15T01:13:20+03"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(same); i++) {
        assert_int_equal(rg_iso8601_parse(same[i], &ms), 0);
        assert_int_equal(ms, 1700000000000LL);
    }
    assert_int_equal(rg_iso8601_parse("2023-11-14T22:13", &ms), RG_ENOENT);
    assert_int_equal(ms, 1699999980000LL);
    assert_int_equal(rg_iso8601_parse("2024-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 1709164800000LL);
}

static void test_iso8601_parse_refuses_malformed(void **state)
{
    (void)state;
    int64_t ms;
    const char *bad[] = {"",
                         "tomorrow",
                         "2023-11-14",
                         "2023-11-14T25:00:00Z",
                         "2023-13-01T00:00:00Z",
                         "2023-02-29T00:00:00Z",
                         "2023-11-14T22:13:20+24:00",
                         "2023-11-14T22:13:20Zjunk",
                         "2023-11-14T22:13:20.Z",
                         "1969-12-31T23:59:59Z",
                         "2023-11-14T22:13:20+2"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        assert_int_equal(rg_iso8601_parse(bad[i], &ms), RG_EPARSE);
    }
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
        cmocka_unit_test(test_iso8601_parse_round_trips_and_zones),
        cmocka_unit_test(test_iso8601_parse_refuses_malformed),
        cmocka_unit_test(test_random_bytes_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
