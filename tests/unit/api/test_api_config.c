/*
 * Unit tests for the pure parts of api_config: If-Match parsing and the
 * document a PATCH or PUT /config would write (merge or replace, secrets
 * sent back masked, the checks). The routes themselves run against real
 * agents in tests/cluster/test_config.py.
 */
/* cmocka.h needs these first; keep clang-format from sorting it above them. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <stdio.h>
#include <string.h>

#include "agent/cfg_dcs.h"
#include "agent/rg.h"
#include "api/api_config.h"

static void test_if_match(void **state)
{
    (void)state;
    uint64_t v = 99;
    assert_int_equal(api_config_if_match("\"7\"", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(api_config_if_match("  W/\"12\" ", &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(api_config_if_match("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(api_config_if_match("*", &v), 1);
    const char *const bad[] = {
        "", "\"\"", "\"7", "\"x\"", "\"-1\"", "\"1\", \"2\"", "18446744073709551616999", "\"7\"x"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        if (api_config_if_match(bad[i], &v) != RG_EINVAL) {
            fail_msg("If-Match %s accepted", bad[i]);
        }
    }
}

static const char current_doc[] =
    "{\"ttl\":2.5,\"loop_wait\":1,\"retry_timeout\":0.5,\"postgresql\":{\"use_pg_rewind\":true,"
    "\"parameters\":{\"max_connections\":30,\"work_mem\":\"4MB\"}},"
    "\"standby_cluster\":{\"host\":\"h\",\"password\":\"stored-secret\"}}";

/* api_config_build of @body onto current_doc; the result as text or the error. */
static int build(const char *body, bool replace, char *out, size_t len)
{
    cJSON *cur = cJSON_Parse(current_doc);
    cJSON *b = cJSON_Parse(body);
    assert_non_null(b);
    cJSON *doc = NULL;
    char err[CFG_DCS_ERRLEN];
    int rc = api_config_build(cur, b, replace, NULL, &doc, err, sizeof err);
    if (rc == 0) {
        char *t = cJSON_PrintUnformatted(doc);
        snprintf(out, len, "%s", t);
        cJSON_free(t);
    } else {
        assert_null(doc);
        snprintf(out, len, "%s", err);
    }
    cJSON_Delete(doc);
    cJSON_Delete(b);
    cJSON_Delete(cur);
    return rc;
}

static void test_patch_merges_and_checks(void **state)
{
    (void)state;
    char out[2048];
    assert_int_equal(build("{\"postgresql\":{\"parameters\":{\"work_mem\":null,\"jit\":false}},"
                           "\"pause\":true}",
                           false, out, sizeof out),
                     0);
    assert_string_equal(out, "{\"ttl\":2.5,\"loop_wait\":1,\"retry_timeout\":0.5,\"postgresql\":{"
                             "\"use_pg_rewind\":true,\"parameters\":{\"max_connections\":30,"
                             "\"jit\":false}},\"standby_cluster\":{\"host\":\"h\",\"password\":"
                             "\"stored-secret\"},\"pause\":true}");
    /* The merged document is what is checked: the relation spans the patch
     * and the stored ttl. */
    assert_int_equal(build("{\"loop_wait\":2,\"retry_timeout\":1}", false, out, sizeof out),
                     RG_EINVAL);
    assert_string_equal(out, "ttl: loop_wait + 2 x retry_timeout (2 + 2 x 1 = 4 s) must not "
                             "exceed ttl (2.5 s)");
    assert_int_equal(build("{\"postgresql\":{\"parameters\":{\"max_connections\":\"lots\"}}}",
                           false, out, sizeof out),
                     RG_EINVAL);
    assert_string_equal(out, "postgresql.parameters.max_connections: must be an integer");
}

static void test_masked_secrets_keep_the_stored_value(void **state)
{
    (void)state;
    char out[2048];
    /* What GET /config shows, sent back as it is (edit-config's round trip). */
    cJSON *cur = cJSON_Parse(current_doc);
    cJSON *shown = cfg_dcs_masked(cur);
    char *shown_text = cJSON_PrintUnformatted(shown);
    assert_non_null(strstr(shown_text, "\"password\":\"******\""));
    assert_int_equal(build(shown_text, true, out, sizeof out), 0);
    char *cur_text = cJSON_PrintUnformatted(cur);
    assert_string_equal(out, cur_text);
    cJSON_free(cur_text);
    cJSON_free(shown_text);
    cJSON_Delete(shown);
    cJSON_Delete(cur);
    /* A PATCH touching the section keeps it too; a new value replaces it. */
    assert_int_equal(build("{\"standby_cluster\":{\"password\":\"******\",\"port\":5433}}", false,
                           out, sizeof out),
                     0);
    assert_non_null(strstr(out, "\"password\":\"stored-secret\",\"port\":5433"));
    assert_int_equal(build("{\"standby_cluster\":{\"password\":\"new\"}}", false, out, sizeof out),
                     0);
    assert_non_null(strstr(out, "\"password\":\"new\""));
    /* Nothing stored to keep. */
    assert_int_equal(build("{\"slots\":{\"x\":{\"password\":\"******\"}}}", false, out, sizeof out),
                     RG_EINVAL);
    assert_non_null(strstr(out, "slots.x.password: "));
}

static void test_put_replaces(void **state)
{
    (void)state;
    char out[2048];
    assert_int_equal(build("{\"ttl\":5,\"check_timeline\":true}", true, out, sizeof out), 0);
    assert_string_equal(out, "{\"ttl\":5,\"check_timeline\":true}");
    assert_int_equal(build("{\"ttl\":\"5\"}", true, out, sizeof out), RG_EINVAL);
    assert_string_equal(out, "ttl: must be a number of seconds");
}

static void test_oversized_patch_is_refused_before_merging(void **state)
{
    (void)state;
    cJSON *body = cJSON_CreateObject();
    cJSON *slots = cJSON_AddObjectToObject(body, "slots");
    for (int i = 0; i <= CFG_DCS_MAX_KEYS; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        cJSON_AddObjectToObject(slots, name);
    }
    cJSON *doc = NULL;
    char err[CFG_DCS_ERRLEN];
    assert_int_equal(api_config_build(NULL, body, false, NULL, &doc, err, sizeof err), RG_EINVAL);
    assert_null(doc);
    assert_string_equal(err, "slots: more than 500 keys");
    cJSON_Delete(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_match),
        cmocka_unit_test(test_patch_merges_and_checks),
        cmocka_unit_test(test_masked_secrets_keep_the_stored_value),
        cmocka_unit_test(test_put_replaces),
        cmocka_unit_test(test_oversized_patch_is_refused_before_merging),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
