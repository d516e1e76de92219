/*
 * Unit tests for the pure half of edit-config: -s/-p path setting
 * (ctl_config_set), merge patches both ways (ctl_merge_patch,
 * ctl_merge_diff), and the unified diff (ctl_diff_print) against what
 * Python's difflib.unified_diff prints for the same texts.
 */
#define _GNU_SOURCE /* strcasestr, asprintf, open_memstream */

/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"
#include "ctl_helpers.h"

static const char base_config[] =
    "{\"loop_wait\":10,\"ttl\":30,\"postgresql\":{\"use_pg_rewind\":true,"
    "\"parameters\":{\"max_connections\":100,\"auto_explain.log_min_duration\":\"1s\"}},"
    "\"tags\":{\"dc\":\"east\"}}";

/* Each -s pair in turn on base_config; the result as compact JSON. */
static void assert_sets(const char *const *pairs, size_t n, const char *want)
{
    cJSON *c = cJSON_Parse(base_config);
    char err[256];
    for (size_t i = 0; i < n; i++) {
        if (ctl_config_set(c, pairs[i], err, sizeof err) != 0) {
            fail_msg("%s: %s", pairs[i], err);
        }
    }
    char *text = cJSON_PrintUnformatted(c);
    assert_string_equal(text, want);
    cJSON_free(text);
    cJSON_Delete(c);
}

#define SETS(want, ...)                                                                            \
    assert_sets((const char *const[]){__VA_ARGS__},                                                \
                sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), (want))

static void test_set_values_are_yaml(void **state)
{
    (void)state;
    SETS("{\"loop_wait\":5,\"ttl\":30,\"postgresql\":{\"use_pg_rewind\":false,\"parameters\":{"
         "\"max_connections\":100,\"auto_explain.log_min_duration\":\"1s\"}},\"tags\":{\"dc\":"
         "\"east\"},\"synchronous_mode\":\"on\",\"slots\":[\"a\",\"b\"],\"standby_cluster\":{"
         "\"host\":\"10.0.0.9\"}}",
         "loop_wait=5", " postgresql.use_pg_rewind = off", "synchronous_mode='on'", "slots=[a, b]",
         "standby_cluster={host: 10.0.0.9}");
}

static void test_set_null_or_empty_deletes_and_prunes(void **state)
{
    (void)state;
    /* tags.dc removed leaves tags empty: it goes too. */
    SETS("{\"ttl\":30,\"postgresql\":{\"use_pg_rewind\":true,\"parameters\":{"
         "\"max_connections\":100,\"auto_explain.log_min_duration\":\"1s\"}}}",
         "loop_wait=null", "tags.dc=", "nosuch.key=~");
}

static void test_set_under_parameters_keeps_dots(void **state)
{
    (void)state;
    /* -p x=y is -s postgresql.parameters.x=y; GUC names keep their dots. */
    SETS("{\"loop_wait\":10,\"ttl\":30,\"postgresql\":{\"use_pg_rewind\":true,\"parameters\":{"
         "\"max_connections\":200,\"pg_stat_statements.max\":5000}},\"tags\":{\"dc\":\"east\"}}",
         "postgresql.parameters.max_connections=200",
         "postgresql.parameters.auto_explain.log_min_duration=null",
         "postgresql.parameters.pg_stat_statements.max=5000");
    /* Elsewhere a dot is a level, and a scalar in the way becomes a mapping. */
    SETS("{\"loop_wait\":{\"a\":{\"b\":1}},\"ttl\":30,\"postgresql\":{\"use_pg_rewind\":true,"
         "\"parameters\":{\"max_connections\":100,\"auto_explain.log_min_duration\":\"1s\"}},"
         "\"tags\":{\"dc\":\"east\"},\"parameters\":{\"x\":{\"y\":1}}}",
         "loop_wait.a.b=1", "parameters.x.y=1");
}

static void test_set_refuses_what_it_cannot_read(void **state)
{
    (void)state;
    cJSON *c = cJSON_Parse(base_config);
    char err[256];
    assert_int_equal(ctl_config_set(c, "loop_wait", err, sizeof err), -1);
    assert_string_equal(err, "Invalid parameter setting loop_wait");
    assert_int_equal(ctl_config_set(c, "ttl=[1, 2", err, sizeof err), -1);
    assert_non_null(strstr(err, "ttl: the value is not YAML"));
    char *text = cJSON_PrintUnformatted(c);
    cJSON *orig = cJSON_Parse(base_config);
    assert_true(cJSON_Compare(c, orig, true)); /* nothing changed */
    cJSON_free(text);
    cJSON_Delete(orig);
    cJSON_Delete(c);
}

static void test_merge_patch_and_diff_are_inverse(void **state)
{
    (void)state;
    cJSON *from = cJSON_Parse(base_config);
    cJSON *to = cJSON_Parse("{\"loop_wait\":10,\"ttl\":20,\"postgresql\":{\"use_pg_rewind\":true,"
                            "\"parameters\":{\"max_connections\":100,\"work_mem\":\"8MB\"}},"
                            "\"slots\":{\"s1\":{\"type\":\"physical\"}}}");
    cJSON *patch = ctl_merge_diff(from, to);
    char *text = cJSON_PrintUnformatted(patch);
    /* Only what changed, and null for what went. */
    assert_string_equal(text, "{\"tags\":null,\"ttl\":20,\"postgresql\":{\"parameters\":{"
                              "\"auto_explain.log_min_duration\":null,\"work_mem\":\"8MB\"}},"
                              "\"slots\":{\"s1\":{\"type\":\"physical\"}}}");
    cJSON_free(text);
    cJSON *applied = ctl_merge_patch(cJSON_Duplicate(from, 1), patch);
    assert_true(cJSON_Compare(applied, to, true));
    cJSON *none = ctl_merge_diff(to, to);
    assert_null(none->child);
    cJSON_Delete(none);
    cJSON_Delete(applied);
    cJSON_Delete(patch);
    cJSON_Delete(to);
    cJSON_Delete(from);

    /* RFC 7386: a non-object patch replaces; objects replace scalars. */
    cJSON *p = cJSON_Parse("[1]");
    cJSON *t = ctl_merge_patch(cJSON_Parse("{\"a\":1}"), p);
    text = cJSON_PrintUnformatted(t);
    assert_string_equal(text, "[1]");
    cJSON_free(text);
    cJSON_Delete(t);
    cJSON_Delete(p);
    p = cJSON_Parse("{\"a\":{\"b\":null,\"c\":1}}");
    t = ctl_merge_patch(cJSON_Parse("{\"a\":\"x\"}"), p);
    text = cJSON_PrintUnformatted(t);
    assert_string_equal(text, "{\"a\":{\"c\":1}}");
    cJSON_free(text);
    cJSON_Delete(t);
    cJSON_Delete(p);
}

static char *diff_of(const char *a, const char *b, bool color)
{
    struct capture out;
    capture_open(&out);
    ctl_diff_print(out.fp, a, b, color);
    char *text = strdup(capture_text(&out));
    capture_close(&out);
    return text;
}

static void assert_diff(const char *a, const char *b, const char *want)
{
    char *got = diff_of(a, b, false);
    assert_string_equal(got, want);
    free(got);
}

/* The expected texts are what difflib.unified_diff(a, b) prints here. */
static void test_diff_matches_difflib(void **state)
{
    (void)state;
    assert_diff("a\nb\n", "a\nb\n", "");
    assert_diff("loop_wait: 10\nttl: 30\n", "loop_wait: 5\nttl: 30\n",
                "--- \n+++ \n@@ -1,2 +1,2 @@\n-loop_wait: 10\n+loop_wait: 5\n ttl: 30\n");
    /* Context of three, and two hunks when the changes are far apart. */
    assert_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n",
                "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\nY\n14\n",
                "--- \n+++ \n@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n"
                "@@ -10,5 +10,5 @@\n 10\n 11\n 12\n-13\n+Y\n 14\n");
    /* Changes up to six lines apart share a hunk. */
    assert_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\nX\n3\n4\n5\n6\n7\n8\nY\n10\n",
                "--- \n+++ \n@@ -1,10 +1,10 @@\n 1\n-2\n+X\n 3\n 4\n 5\n 6\n 7\n 8\n-9\n+Y\n"
                " 10\n");
    /* Pure additions and removals; an empty side is one empty line. */
    assert_diff("a\nc\n", "a\nb\nc\n", "--- \n+++ \n@@ -1,2 +1,3 @@\n a\n+b\n c\n");
    assert_diff("a\nb\nc\n", "a\nc\n", "--- \n+++ \n@@ -1,3 +1,2 @@\n a\n-b\n c\n");
    assert_diff("", "x: 1\n", "--- \n+++ \n@@ -1 +1 @@\n-\n+x: 1\n");
    assert_diff("a\n", "a\nb\n", "--- \n+++ \n@@ -1 +1,2 @@\n a\n+b\n");
    /* Removed lines come before the added ones in a changed stretch. */
    assert_diff("k:\n  a: 1\n  b: 2\nz: 0\n", "k:\n  b: 3\n  c: 4\nz: 0\n",
                "--- \n+++ \n@@ -1,4 +1,4 @@\n k:\n-  a: 1\n-  b: 2\n+  b: 3\n+  c: 4\n z: 0\n");
}

static void test_diff_in_colour(void **state)
{
    (void)state;
    char *got = diff_of("a: 1\n", "a: 2\n", true);
    assert_string_equal(got, "\033[31m--- \033[0m\n\033[32m+++ \033[0m\n"
                             "\033[36m@@ -1 +1 @@\033[0m\n"
                             "\033[31m-a: 1\033[0m\n\033[32m+a: 2\033[0m\n");
    free(got);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_values_are_yaml),
        cmocka_unit_test(test_set_null_or_empty_deletes_and_prunes),
        cmocka_unit_test(test_set_under_parameters_keeps_dots),
        cmocka_unit_test(test_set_refuses_what_it_cannot_read),
        cmocka_unit_test(test_merge_patch_and_diff_are_inverse),
        cmocka_unit_test(test_diff_matches_difflib),
        cmocka_unit_test(test_diff_in_colour),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
