/*
 * Unit tests for agent/watchdog.c: when the agent may kick (only while the
 * lease has at least a timeout left), when the fence is due (min(deadline,
 * last_kick + timeout) − fence_budget), the timing rule, modes and
 * eligibility; then the test driver's events file (arm, keepalive, disarm,
 * close, in that format) and the Linux driver's refusals (no device, a
 * character device that is not a watchdog).
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

#include <stdlib.h>
#include <unistd.h>

#include "agent/rg.h"
#include "agent/watchdog.h"

static void test_kick_only_while_a_timeout_of_lease_is_left(void **state)
{
    (void)state;
    assert_true(wd_may_kick(10000, 7000, 2000));
    assert_true(wd_may_kick(10000, 8000, 2000)); /* exactly a timeout left */
    assert_false(wd_may_kick(10000, 8001, 2000));
    assert_false(wd_may_kick(10000, 10000, 2000));
    assert_false(wd_may_kick(10000, 12000, 2000)); /* past the deadline */
    assert_false(wd_may_kick(0, 5, 2000));         /* no lease */
}

static void test_the_fence_comes_before_the_device(void **state)
{
    (void)state;
    /* Unarmed: deadline − fence_budget, as without a watchdog. */
    assert_int_equal(wd_fence_at(10000, false, 9000, 2000, 50), 9950);
    assert_int_equal(wd_fence_at(0, false, 9000, 2000, 50), 0);
    /* Armed: whichever comes first; the device's expiry with a longer lead,
     * for the kill, the wait and the magic close to finish before it. */
    assert_int_equal(wd_fence_at(10000, true, 7000, 2000, 50), 9000 - WD_FENCE_LEAD_MS);
    assert_int_equal(wd_fence_at(10000, true, 8500, 2000, 50), 9950);
    assert_int_equal(wd_fence_at(10000, true, 7000, 2000, 400), 8600);
    /* The lease is gone but the device is armed: its expiry still fences. */
    assert_int_equal(wd_fence_at(0, true, 7000, 2000, 50), 9000 - WD_FENCE_LEAD_MS);
    /* Overdue, never 0 ("none"). */
    assert_int_equal(wd_fence_at(30, false, 0, 2000, 50), 1);
    /* A kick allowed by wd_may_kick never lets the device outlive the
     * deadline: last_kick + timeout <= deadline. */
    for (uint64_t now = 5000; now < 10000; now += 7) {
        if (wd_may_kick(10000, now, 2000)) {
            assert_true(wd_fence_at(10000, true, now, 2000, 50) <= 10000 - 50);
            assert_true(wd_fence_at(10000, true, now, 2000, 50) <= now + 2000 - WD_FENCE_LEAD_MS);
        }
    }
}

static void test_timing_modes_and_eligibility(void **state)
{
    (void)state;
    /* DESIGN.md: ttl − safety_margin − timeout >= 0.5 s. */
    assert_true(wd_timing_ok(3000, 400, 2000));
    assert_false(wd_timing_ok(2500, 400, 2000)); /* the defaults without a watchdog */
    assert_true(wd_timing_ok(2900, 400, 2000));
    assert_false(wd_timing_ok(2899, 400, 2000));
    assert_false(wd_timing_ok(1000, 400, 2000)); /* no unsigned wrap */

    assert_int_equal(wd_mode_parse(NULL), WD_AUTOMATIC);
    assert_int_equal(wd_mode_parse("off"), WD_OFF);
    assert_int_equal(wd_mode_parse("automatic"), WD_AUTOMATIC);
    assert_int_equal(wd_mode_parse("required"), WD_REQUIRED);
    assert_int_equal(wd_driver_parse(NULL), WD_LINUX);
    assert_int_equal(wd_driver_parse("linux"), WD_LINUX);
    assert_int_equal(wd_driver_parse("testing"), WD_TESTING);

    /* Only required makes a member ineligible. */
    assert_false(wd_fails_requirement(WD_OFF, false, false));
    assert_false(wd_fails_requirement(WD_AUTOMATIC, false, false));
    assert_false(wd_fails_requirement(WD_REQUIRED, true, true));
    assert_true(wd_fails_requirement(WD_REQUIRED, true, false));
    assert_true(wd_fails_requirement(WD_REQUIRED, false, true));
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 4096);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Each line: "<ms> <event> [k=v...]"; returns the event names, space-joined. */
static void events_of(const char *text, char *out, size_t len)
{
    out[0] = '\0';
    for (const char *p = text; *p != '\0';) {
        unsigned long long ms;
        char ev[32];
        assert_int_equal(sscanf(p, "%llu %31s", &ms, ev), 2);
        assert_true(ms > 0);
        strncat(out, out[0] ? " " : "", len - strlen(out) - 1);
        strncat(out, ev, len - strlen(out) - 1);
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        p = nl + 1;
    }
}

static void test_the_test_driver_records_its_events(void **state)
{
    (void)state;
    char dir[] = "/tmp/regent-wd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/events", dir);
    struct wd w;
    wd_init(&w, WD_REQUIRED, WD_TESTING, path, 2000);
    assert_true(wd_device_ok(&w)); /* created on the first arm: the directory is writable */
    assert_false(wd_kick(&w, rg_boottime_ms() + 5000)); /* not armed */
    assert_int_equal(wd_arm(&w), 0);
    assert_true(w.armed);
    assert_int_equal(w.granted_s, 2);
    assert_int_equal(wd_arm(&w), 0); /* already armed: nothing more */
    uint64_t now = rg_boottime_ms();
    assert_true(wd_kick(&w, now + 5000));
    assert_true(w.last_kick >= now);
    assert_false(wd_kick(&w, now + 1000)); /* less than a timeout of lease left */
    wd_disarm(&w, "test");
    assert_false(w.armed);
    assert_int_equal(w.fd, -1);
    assert_int_equal(wd_arm(&w), 0);
    wd_close_armed(&w);
    assert_false(w.armed);

    char *text = read_all(path);
    char evs[256];
    events_of(text, evs, sizeof evs);
    assert_string_equal(evs, "arm keepalive disarm arm close");
    char want[64];
    snprintf(want, sizeof want, " arm timeout=2 pid=%ld\n", (long)getpid());
    assert_non_null(strstr(text, want));
    free(text);
    unlink(path);

    /* An events file that cannot be created: the arm fails, with why. */
    snprintf(path, sizeof path, "%s/missing/events", dir);
    wd_init(&w, WD_REQUIRED, WD_TESTING, path, 2000);
    assert_false(wd_device_ok(&w));
    assert_int_not_equal(wd_arm(&w), 0);
    assert_false(w.armed);
    assert_true(w.failed);
    assert_non_null(strstr(w.why, "events file"));
    assert_false(wd_device_ok(&w)); /* not again before WD_RETRY_MS */
    rmdir(dir);
}

static void test_the_linux_driver_refuses_what_is_not_a_watchdog(void **state)
{
    (void)state;
    struct wd w;
    wd_init(&w, WD_REQUIRED, WD_LINUX, "/nonexistent/watchdog", 2000);
    assert_false(wd_device_ok(&w));
    assert_int_not_equal(wd_arm(&w), 0);
    assert_false(w.armed);
    assert_non_null(strstr(w.why, "cannot open"));
    /* A character device whose driver knows no watchdog ioctl. */
    wd_init(&w, WD_REQUIRED, WD_LINUX, "/dev/null", 2000);
    assert_true(wd_device_ok(&w));
    assert_int_not_equal(wd_arm(&w), 0);
    assert_false(w.armed);
    assert_int_equal(w.fd, -1);
    assert_non_null(strstr(w.why, "timeout"));
    wd_disarm(&w, "nothing"); /* not armed: nothing happens */
    wd_close_armed(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kick_only_while_a_timeout_of_lease_is_left),
        cmocka_unit_test(test_the_fence_comes_before_the_device),
        cmocka_unit_test(test_timing_modes_and_eligibility),
        cmocka_unit_test(test_the_test_driver_records_its_events),
        cmocka_unit_test(test_the_linux_driver_refuses_what_is_not_a_watchdog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
