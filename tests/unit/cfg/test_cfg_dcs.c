/*
 * Unit tests for cfg_dcs: checking a dynamic configuration document (every
 * class of problem, with its exact "field: what" message), the timing rules
 * against an agent's, a watchdog agent's and a witness's local settings,
 * merge patch (RFC 7386, its appendix A examples among them), secret
 * masking and unmasking, and the agreement of the parameter rules with
 * pg/pgi_conf.c, which applies them on the members.
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
#include <stdlib.h>
#include <string.h>

#include "agent/cfg.h"
#include "agent/cfg_dcs.h"
#include "agent/rg.h"
#include "pg/pgi_conf.h"

#define LOCAL_AGENT_NO_RAFT                                                                        \
    "scope: demo\n"                                                                                \
    "name: node1\n"                                                                                \
    "restapi: {listen: '127.0.0.1:8008'}\n"                                                        \
    "postgresql: {data_dir: /var/lib/postgresql/15/main}\n"

#define LOCAL_AGENT                                                                                \
    LOCAL_AGENT_NO_RAFT "raft: {data_dir: /r, self_addr: '127.0.0.1:2222', password: "             \
                        "s3cret-pass}\n"

#define LOCAL_WITNESS                                                                              \
    "scope: demo\n"                                                                                \
    "name: w\n"                                                                                    \
    "restapi: {listen: '127.0.0.1:8008'}\n"                                                        \
    "raft: {data_dir: /r, self_addr: '127.0.0.1:2222', password: s3cret-pass}\n"

static struct cfg *load_local(const char *yaml, enum cfg_kind kind)
{
    struct cfg *cfg = NULL;
    char err[4096];
    int rc = cfg_load_string(yaml, strlen(yaml), "regent.yml", kind, CFG_NO_ENV | CFG_QUIET, &cfg,
                             err, sizeof err);
    if (rc != 0) {
        fail_msg("local configuration: %s", err);
    }
    return cfg;
}

/* cfg_dcs_check of @json (which must parse) with @local; the message. */
static int check(const char *json, const struct cfg *local, char *err)
{
    cJSON *doc = cJSON_Parse(json);
    if (doc == NULL) {
        fail_msg("test JSON does not parse: %s", json);
    }
    int rc = cfg_dcs_check(doc, local, err, CFG_DCS_ERRLEN);
    cJSON_Delete(doc);
    return rc;
}

static void assert_ok(const char *json, const struct cfg *local)
{
    char err[CFG_DCS_ERRLEN];
    if (check(json, local, err) != 0) {
        fail_msg("%s refused: %s", json, err);
    }
}

static void assert_refused(const char *json, const struct cfg *local, const char *want)
{
    char err[CFG_DCS_ERRLEN];
    int rc = check(json, local, err);
    if (rc != RG_EINVAL || strcmp(err, want) != 0) {
        fail_msg("%s: rc %d, message\n  \"%s\"\nwanted\n  \"%s\"", json, rc, err, want);
    }
}

static int setup_agent(void **state)
{
    *state = load_local(LOCAL_AGENT, CFG_AGENT);
    return 0;
}

static int teardown_local(void **state)
{
    cfg_free(*state);
    return 0;
}

/* --- documents that pass ----------------------------------------------- */

static void test_seeded_and_patroni_documents_pass(void **state)
{
    const struct cfg *local = *state;
    assert_ok("{}", local);
    /* What the cluster tests' bootstrap.dcs seeds. */
    assert_ok(
        "{\"postgresql\": {\"use_pg_rewind\": true, \"parameters\": {\"max_connections\": 30}},"
        " \"ttl\": 2.5, \"loop_wait\": 1, \"retry_timeout\": 0.5,"
        " \"maximum_lag_on_failover\": 1048576}",
        local);
    /* Patroni's defaults and the keys Regent accepts and ignores. */
    assert_ok(
        "{\"ttl\": 30, \"loop_wait\": 10, \"retry_timeout\": 10, \"maximum_lag_on_failover\":"
        " 1048576, \"check_timeline\": false, \"pause\": null,"
        " \"synchronous_mode\": \"quorum\", \"synchronous_node_count\": 1,"
        " \"slots\": {\"s1\": {\"type\": \"physical\"}}, \"ignore_slots\": [{\"name\": \"x\"}],"
        " \"standby_cluster\": null, \"failsafe_mode\": true, \"member_slots_ttl\": \"30min\","
        " \"primary_start_timeout\": 300, \"master_start_timeout\": 300,"
        " \"postgresql\": {\"use_slots\": true, \"use_pg_rewind\": false,"
        "   \"recovery_conf\": {\"restore_command\": \"cp x y\"},"
        "   \"pg_hba\": [\"host all all 0.0.0.0/0 md5\"], \"pg_ident\": [],"
        "   \"parameters\": {\"wal_level\": \"hot_standby\", \"hot_standby\": \"on\","
        "     \"max_wal_senders\": 5, \"max_replication_slots\": \"10\","
        "     \"wal_keep_size\": \"128MB\", \"wal_log_hints\": \"on\","
        "     \"track_commit_timestamp\": false, \"work_mem\": \"4MB\","
        "     \"random_page_cost\": 1.1, \"jit\": false, \"pg_stat_statements.max\": 1000,"
        "     \"shared_preload_libraries\": null}}}",
        local);
}

static void test_synchronous_keys(void **state)
{
    const struct cfg *local = *state;
    assert_ok("{\"synchronous_mode\": true, \"synchronous_mode_strict\": true,"
              " \"synchronous_node_count\": 2}",
              local);
    assert_ok("{\"synchronous_mode\": \"on\"}", local);
    assert_ok("{\"synchronous_mode\": \"OFF\"}", local);
    assert_ok("{\"synchronous_mode\": false}", local);
    assert_ok("{\"synchronous_mode\": null}", local);
}

static void test_pause_is_true_false_or_null(void **state)
{
    const struct cfg *local = *state;
    assert_ok("{\"pause\": true}", local);
    assert_ok("{\"pause\": false}", local);
    assert_ok("{\"pause\": null}", local);
    assert_refused("{\"pause\": \"true\"}", local, "pause: must be true or false");
    assert_refused("{\"pause\": 1}", local, "pause: must be true or false");
}

static void test_local_postgresql_keys_are_accepted_and_ignored(void **state)
{
    /* Patroni applies or strips these; Regent reads them from each file. */
    assert_ok("{\"postgresql\": {\"data_dir\": \"/x\", \"use_unix_socket\": true,"
              " \"authentication\": {\"replication\": {\"password\": \"x\"}}}}",
              *state);
}

/* --- problems, one message each ------------------------------------------ */

static const struct refusal {
    const char *json;
    const char *err;
} refusals[] = {
    {"[]", "the dynamic configuration must be a JSON object"},
    {"{\"ttl\": \"30\"}", "ttl: must be a number of seconds"},
    {"{\"ttl\": 0.5}", "ttl: must be between 1 and 3600 seconds"},
    {"{\"ttl\": -3}", "ttl: must be between 1 and 3600 seconds"},
    {"{\"ttl\": 1e300}", "ttl: must be between 1 and 3600 seconds"},
    {"{\"loop_wait\": 0.01}", "loop_wait: must be between 0.1 and 3600 seconds"},
    {"{\"retry_timeout\": true}", "retry_timeout: must be a number of seconds"},
    {"{\"maximum_lag_on_failover\": -1}", "maximum_lag_on_failover: must be a whole number"},
    {"{\"maximum_lag_on_failover\": 1.5}", "maximum_lag_on_failover: must be a whole number"},
    {"{\"maximum_lag_on_failover\": 1e19}", "maximum_lag_on_failover: must be between 0 and 1e+18"},
    {"{\"maximum_lag_on_failover\": \"1MB\"}", "maximum_lag_on_failover: must be a whole number"},
    {"{\"check_timeline\": \"yes\"}", "check_timeline: must be true or false"},
    {"{\"synchronous_mode\": \"yes\"}",
     "synchronous_mode: must be true, false, \"on\", \"off\" or \"quorum\""},
    {"{\"synchronous_mode\": 1}",
     "synchronous_mode: must be true, false, \"on\", \"off\" or \"quorum\""},
    {"{\"synchronous_mode_strict\": \"on\"}", "synchronous_mode_strict: must be true or false"},
    {"{\"synchronous_node_count\": 0}", "synchronous_node_count: must be between 1 and 16"},
    {"{\"synchronous_node_count\": 1.5}", "synchronous_node_count: must be a whole number"},
    {"{\"foo\": 1}", "foo: unknown key"},
    {"{\"ttl\": 30, \"loop_wait\": 10, \"retry_timeout\": 10, \"synchronus_mode\": true}",
     "synchronus_mode: unknown key"},
    {"{\"postgresql\": {\"foo\": 1}}", "postgresql.foo: unknown key"},
    {"{\"postgresql.use_slots\": false}",
     "postgresql.use_slots: unknown key (keys are not dotted paths: nest the objects)"},
    {"{\"postgresql\": {\"parameters.x\": 1}}",
     "postgresql.parameters.x: unknown key (keys are not dotted paths: nest the objects)"},
    {"{\"restapi\": {\"listen\": \"*:8008\"}}",
     "restapi: unknown key (a setting of each node's configuration file, not of the dynamic "
     "configuration)"},
    {"{\"bootstrap\": {}}",
     "bootstrap: unknown key (a setting of each node's configuration file, not of the dynamic "
     "configuration)"},
    {"{\"postgresql\": 1}", "postgresql: must be an object"},
    {"{\"postgresql\": {\"use_slots\": \"on\"}}", "postgresql.use_slots: must be true or false"},
    {"{\"postgresql\": {\"use_pg_rewind\": 0}}", "postgresql.use_pg_rewind: must be true or false"},
    {"{\"postgresql\": {\"pg_hba\": \"host all all all trust\"}}",
     "postgresql.pg_hba: must be a list"},
    {"{\"postgresql\": {\"pg_hba\": [\"local all all trust\", 7]}}",
     "postgresql.pg_hba: must be a list of strings (one line each); item 2 is not"},
    {"{\"postgresql\": {\"parameters\": []}}", "postgresql.parameters: must be an object"},
    {"{\"postgresql\": {\"parameters\": {\"max_connections\": \"lots\"}}}",
     "postgresql.parameters.max_connections: must be an integer"},
    {"{\"postgresql\": {\"parameters\": {\"max_connections\": 100.5}}}",
     "postgresql.parameters.max_connections: must be an integer"},
    {"{\"postgresql\": {\"parameters\": {\"max_connections\": 10}}}",
     "postgresql.parameters.max_connections: must be at least 25 (Patroni's minimum)"},
    {"{\"postgresql\": {\"parameters\": {\"MAX_WAL_SENDERS\": 2}}}",
     "postgresql.parameters.MAX_WAL_SENDERS: must be at least 3 (Patroni's minimum)"},
    {"{\"postgresql\": {\"parameters\": {\"max_locks_per_transaction\": 99999999999}}}",
     "postgresql.parameters.max_locks_per_transaction: must be an integer"},
    {"{\"postgresql\": {\"parameters\": {\"wal_level\": \"minimal\"}}}",
     "postgresql.parameters.wal_level: must be replica or logical (hot_standby and archive mean "
     "replica)"},
    {"{\"postgresql\": {\"parameters\": {\"track_commit_timestamp\": \"maybe\"}}}",
     "postgresql.parameters.track_commit_timestamp: must be on or off"},
    {"{\"postgresql\": {\"parameters\": {\"wal_log_hints\": false}}}",
     "postgresql.parameters.wal_log_hints: must be on: regent always runs with it (pg_rewind "
     "needs it)"},
    {"{\"postgresql\": {\"parameters\": {\"wal_keep_size\": \"8MB\"}}}",
     "postgresql.parameters.wal_keep_size: must be a size of at least 16MB (as \"128MB\", or a "
     "number of MB)"},
    {"{\"postgresql\": {\"parameters\": {\"wal_keep_size\": \"lots\"}}}",
     "postgresql.parameters.wal_keep_size: must be a size of at least 16MB (as \"128MB\", or a "
     "number of MB)"},
    {"{\"postgresql\": {\"parameters\": {\"work_mem\": {\"a\": 1}}}}",
     "postgresql.parameters.work_mem: must be a string, a number or a boolean"},
    {"{\"postgresql\": {\"parameters\": {\"work_mem\": [1]}}}",
     "postgresql.parameters.work_mem: must be a string, a number or a boolean"},
    {"{\"postgresql\": {\"parameters\": {\"work_mem\": \"4MB\\nshared_buffers = 1TB\"}}}",
     "postgresql.parameters.work_mem: must not contain a line break"},
    {"{\"postgresql\": {\"parameters\": {\"x = 1\\n#\": 1}}}",
     "postgresql.parameters: \"x = 1?#\" is not a parameter name"},
    {"{\"postgresql\": {\"parameters\": {\"9lives\": 1}}}",
     "postgresql.parameters: \"9lives\" is not a parameter name"},
    {"{\"postgresql\": {\"parameters\": {\"Work_Mem\": \"1MB\", \"work_mem\": \"2MB\"}}}",
     "postgresql.parameters: \"work_mem\" is given twice (names are case-insensitive)"},
    {"{\"ttl\": 30, \"ttl\": 40}", "ttl: duplicate key"},
    {"{\"slots\": {\"a\": {}, \"a\": {}}}", "slots.a: duplicate key"},
    /* The timing rules, blaming ttl (the rule's first dynamic key). */
    {"{\"ttl\": 2.5, \"loop_wait\": 2, \"retry_timeout\": 1}",
     "ttl: loop_wait + 2 x retry_timeout (2 + 2 x 1 = 4 s) must not exceed ttl (2.5 s)"},
    {"{\"ttl\": 20, \"loop_wait\": 10, \"retry_timeout\": 6}",
     "ttl: loop_wait + 2 x retry_timeout (10 + 2 x 6 = 22 s) must not exceed ttl (20 s)"},
    {"{\"ttl\": 1.5, \"loop_wait\": 0.5, \"retry_timeout\": 0.5}",
     "ttl: ttl - watchdog.safety_margin - fence budget 0.05 s - raft.renew_interval = 0.8 s must "
     "be at least 2 x raft.election_timeout + 3 x raft.heartbeat_interval + 0.03 s of round trips "
     "= 1.18 s, so that a Raft leader crash does not fence the primary; raise ttl or lower the "
     "Raft timings"},
};

static void test_each_problem_names_its_field(void **state)
{
    for (size_t i = 0; i < RG_ARRAY_SIZE(refusals); i++) {
        assert_refused(refusals[i].json, *state, refusals[i].err);
    }
}

static void test_missing_timing_keys_come_from_the_local_file(void **state)
{
    (void)state;
    struct cfg *local = load_local(LOCAL_AGENT "bootstrap: {dcs: {ttl: 30, loop_wait: 10, "
                                               "retry_timeout: 10}}\n",
                                   CFG_AGENT);
    assert_ok("{}", local);
    /* The local ttl (30) against the document's loop_wait. */
    assert_refused("{\"loop_wait\": 20}", local,
                   "ttl: loop_wait + 2 x retry_timeout (20 + 2 x 10 = 40 s) must not exceed ttl "
                   "(30 s)");
    cfg_free(local);
}

static void test_timing_uses_this_nodes_raft_and_watchdog(void **state)
{
    (void)state;
    struct cfg *wd = load_local(LOCAL_AGENT "watchdog: {mode: required}\n", CFG_AGENT);
    assert_ok("{\"ttl\": 3}", wd);
    assert_refused("{\"ttl\": 2.5}", wd,
                   "ttl: with watchdog.mode required, ttl - watchdog.safety_margin - "
                   "watchdog.timeout (0.1 s) must be at least 0.5 s: the primary may kick the "
                   "watchdog only while its lease has more than watchdog.timeout left, so "
                   "renewals need that slack to keep it kicked");
    cfg_free(wd);

    /* Slower Raft timing needs a longer ttl. */
    struct cfg *slow =
        load_local(LOCAL_AGENT_NO_RAFT "bootstrap: {dcs: {ttl: 10}}\n"
                                       "raft: {data_dir: /r, self_addr: '127.0.0.1:2222', "
                                       "password: s3cret-pass, election_timeout: 2}\n",
                   CFG_AGENT);
    assert_ok("{\"ttl\": 10}", slow);
    assert_refused("{\"ttl\": 3}", slow,
                   "ttl: ttl - watchdog.safety_margin - fence budget 0.05 s - "
                   "raft.renew_interval = 2.3 s must be at least 2 x raft.election_timeout + 3 x "
                   "raft.heartbeat_interval + 0.03 s of round trips = 4.18 s, so that a Raft "
                   "leader crash does not fence the primary; raise ttl or lower the Raft timings");
    cfg_free(slow);
}

static void test_witness_and_no_local_use_the_defaults(void **state)
{
    (void)state;
    struct cfg *w = load_local(LOCAL_WITNESS, CFG_WITNESS);
    const struct cfg *const locals[] = {w, NULL};
    for (size_t i = 0; i < RG_ARRAY_SIZE(locals); i++) {
        assert_ok("{\"ttl\": 2.5, \"loop_wait\": 1, \"retry_timeout\": 0.5}", locals[i]);
        /* A member with the default lease timing would refuse this. */
        assert_refused("{\"ttl\": 1.5, \"loop_wait\": 0.5, \"retry_timeout\": 0.5}", locals[i],
                       refusals[RG_ARRAY_SIZE(refusals) - 1].err);
        assert_refused("{\"ttl\": \"x\"}", locals[i], "ttl: must be a number of seconds");
    }
    cfg_free(w);
}

static void test_shape_limits(void **state)
{
    char err[CFG_DCS_ERRLEN];
    /* Too deep. */
    char deep[4 * CFG_DCS_MAX_DEPTH + 64];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"slots\":");
    for (int i = 0; i < CFG_DCS_MAX_DEPTH; i++) {
        deep[n++] = '[';
    }
    for (int i = 0; i < CFG_DCS_MAX_DEPTH; i++) {
        deep[n++] = ']';
    }
    snprintf(deep + n, sizeof deep - n, "}");
    assert_int_equal(check(deep, *state, err), RG_EINVAL);
    assert_non_null(strstr(err, "nested too deeply"));

    /* Too many keys in one object, checked on a patch alone too. */
    cJSON *patch = cJSON_CreateObject();
    cJSON *params =
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "postgresql"), "parameters");
    for (int i = 0; i <= CFG_DCS_MAX_KEYS; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i);
        cJSON_AddNumberToObject(params, name, i);
    }
    assert_int_equal(cfg_dcs_check_shape(patch, err, sizeof err), RG_EINVAL);
    assert_string_equal(err, "postgresql.parameters: more than 500 keys");
    cJSON_Delete(patch);

    /* Too many values in all. */
    cJSON *big = cJSON_CreateObject();
    cJSON *slots = cJSON_AddObjectToObject(big, "slots");
    for (int i = 0; i < 30; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d", i);
        cJSON *arr = cJSON_AddArrayToObject(slots, name);
        for (int j = 0; j < 400; j++) {
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(j));
        }
    }
    assert_int_equal(cfg_dcs_check(big, *state, err, sizeof err), RG_EINVAL);
    assert_string_equal(err, "the document is too large (more than 10000 values)");
    cJSON_Delete(big);
}

/* The dynamic-only keys of the table are not keys of the local file: its
 * bootstrap.dcs is kept as written, even under CFG_STRICT, and checked only
 * when it becomes the cluster's document. */
static void test_local_file_keeps_bootstrap_dcs_as_written(void **state)
{
    (void)state;
    const char *yaml = LOCAL_AGENT "bootstrap:\n"
                                   "  dcs:\n"
                                   "    check_timeline: maybe\n"
                                   "    synchronous_mode: on\n"
                                   "    postgresql: {use_slots: 3, whatever: 1}\n";
    struct cfg *cfg = NULL;
    char err[4096];
    assert_int_equal(cfg_load_string(yaml, strlen(yaml), "regent.yml", CFG_AGENT,
                                     CFG_NO_ENV | CFG_QUIET | CFG_STRICT, &cfg, err, sizeof err),
                     0);
    assert_null(cfg->warnings);
    const cJSON *dcs = cfg->bootstrap_dcs;
    assert_string_equal(cJSON_GetObjectItem(dcs, "check_timeline")->valuestring, "maybe");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(dcs, "synchronous_mode")));
    assert_int_equal(check("{\"check_timeline\": \"maybe\"}", cfg, err), RG_EINVAL);
    char *text = cJSON_PrintUnformatted(dcs);
    assert_int_equal(check(text, cfg, err), RG_EINVAL);
    assert_string_equal(err, "check_timeline: must be true or false");
    cJSON_free(text);
    cfg_free(cfg);
}

/* --- merge patch ---------------------------------------------------------- */

/* RFC 7386, appendix A, plus nested and non-object targets. */
static const struct merge_case {
    const char *target, *patch, *result;
} merges[] = {
    {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
    {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
    {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
    {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
    {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
    {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
    {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
    {"{\"a\":\"foo\"}", "null", "null"},
    {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
    {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
    {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
    {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
    /* The dynamic configuration's own case: one parameter in, one out. */
    {"{\"ttl\":30,\"postgresql\":{\"use_slots\":true,\"parameters\":{\"max_connections\":30,"
     "\"work_mem\":\"4MB\"}}}",
     "{\"postgresql\":{\"parameters\":{\"work_mem\":null,\"shared_buffers\":\"1GB\"}},\"pause\":"
     "true}",
     "{\"ttl\":30,\"postgresql\":{\"use_slots\":true,\"parameters\":{\"max_connections\":30,"
     "\"shared_buffers\":\"1GB\"}},\"pause\":true}"},
};

static void test_merge_patch_follows_rfc_7386(void **state)
{
    (void)state;
    for (size_t i = 0; i < RG_ARRAY_SIZE(merges); i++) {
        cJSON *target = cJSON_Parse(merges[i].target);
        cJSON *patch = cJSON_Parse(merges[i].patch);
        cJSON *want = cJSON_Parse(merges[i].result);
        char *t_before = cJSON_PrintUnformatted(target);
        char *p_before = cJSON_PrintUnformatted(patch);
        cJSON *got = cfg_dcs_merge_patch(target, patch);
        char *g = cJSON_PrintUnformatted(got);
        if (!cJSON_Compare(got, want, true)) {
            fail_msg("merge %s with %s: %s, wanted %s", merges[i].target, merges[i].patch, g,
                     merges[i].result);
        }
        /* Neither input changes. */
        char *t_after = cJSON_PrintUnformatted(target);
        char *p_after = cJSON_PrintUnformatted(patch);
        assert_string_equal(t_before, t_after);
        assert_string_equal(p_before, p_after);
        cJSON_free(t_before);
        cJSON_free(p_before);
        cJSON_free(t_after);
        cJSON_free(p_after);
        cJSON_free(g);
        cJSON_Delete(got);
        cJSON_Delete(target);
        cJSON_Delete(patch);
        cJSON_Delete(want);
    }
    /* No target at all. */
    cJSON *patch = cJSON_Parse("{\"a\":{\"b\":null,\"c\":1}}");
    cJSON *got = cfg_dcs_merge_patch(NULL, patch);
    char *g = cJSON_PrintUnformatted(got);
    assert_string_equal(g, "{\"a\":{\"c\":1}}");
    cJSON_free(g);
    cJSON_Delete(got);
    cJSON_Delete(patch);
}

/* --- secrets -------------------------------------------------------------- */

static void test_secret_names(void **state)
{
    (void)state;
    assert_true(cfg_dcs_secret_name("password"));
    assert_true(cfg_dcs_secret_name("PassWord"));
    assert_true(cfg_dcs_secret_name("sslpassword"));
    assert_false(cfg_dcs_secret_name("password_encryption"));
    assert_false(cfg_dcs_secret_name("passwd"));
    assert_false(cfg_dcs_secret_name(""));
    assert_false(cfg_dcs_secret_name(NULL));
}

static const char secret_doc[] =
    "{\"ttl\":30,\"standby_cluster\":{\"host\":\"h\",\"password\":\"s1\",\"sslpassword\":7},"
    "\"postgresql\":{\"parameters\":{\"password_encryption\":\"scram-sha-256\"},"
    "\"authentication\":{\"replication\":{\"username\":\"r\",\"password\":\"s2\"},"
    "\"rewind\":{\"password\":null}}},\"list\":[{\"password\":\"s3\"},{\"password\":\"s4\"}]}";

static void test_masked_hides_every_secret_and_nothing_else(void **state)
{
    (void)state;
    cJSON *doc = cJSON_Parse(secret_doc);
    cJSON *m = cfg_dcs_masked(doc);
    char *text = cJSON_PrintUnformatted(m);
    assert_string_equal(
        text, "{\"ttl\":30,\"standby_cluster\":{\"host\":\"h\",\"password\":\"******\","
              "\"sslpassword\":\"******\"},\"postgresql\":{\"parameters\":{\"password_encryption\":"
              "\"scram-sha-256\"},\"authentication\":{\"replication\":{\"username\":\"r\","
              "\"password\":\"******\"},\"rewind\":{\"password\":null}}},\"list\":[{\"password\":"
              "\"******\"},{\"password\":\"******\"}]}");
    cJSON_free(text);
    /* The original is untouched. */
    char *orig = cJSON_PrintUnformatted(doc);
    cJSON *again = cJSON_Parse(secret_doc);
    char *want = cJSON_PrintUnformatted(again);
    assert_string_equal(orig, want);
    cJSON_free(orig);
    cJSON_free(want);
    cJSON_Delete(again);

    /* Sending the masked document back restores every secret. */
    char err[CFG_DCS_ERRLEN];
    assert_int_equal(cfg_dcs_unmask(m, doc, err, sizeof err), 0);
    assert_true(cJSON_Compare(m, doc, true));
    cJSON_Delete(m);
    cJSON_Delete(doc);
}

static void test_unmask_keeps_stored_secrets_and_takes_new_ones(void **state)
{
    (void)state;
    char err[CFG_DCS_ERRLEN];
    cJSON *stored = cJSON_Parse(secret_doc);
    /* A changed secret is taken as sent; a masked one keeps the stored. */
    cJSON *sent = cJSON_Parse("{\"standby_cluster\":{\"password\":\"new\",\"sslpassword\":"
                              "\"******\"},\"list\":[{\"password\":\"******\"}]}");
    assert_int_equal(cfg_dcs_unmask(sent, stored, err, sizeof err), 0);
    char *text = cJSON_PrintUnformatted(sent);
    assert_string_equal(text, "{\"standby_cluster\":{\"password\":\"new\",\"sslpassword\":7},"
                              "\"list\":[{\"password\":\"s3\"}]}");
    cJSON_free(text);
    cJSON_Delete(sent);

    /* "******" where nothing is stored (or null) is refused. */
    const char *const bad[] = {
        "{\"postgresql\":{\"authentication\":{\"superuser\":{\"password\":\"******\"}}}}",
        "{\"postgresql\":{\"authentication\":{\"rewind\":{\"password\":\"******\"}}}}",
        "{\"list\":[{},{},{\"password\":\"******\"}]}",
    };
    const char *const where[] = {
        "postgresql.authentication.superuser.password: ",
        "postgresql.authentication.rewind.password: ",
        "list[2].password: ",
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        cJSON *d = cJSON_Parse(bad[i]);
        assert_int_equal(cfg_dcs_unmask(d, stored, err, sizeof err), RG_EINVAL);
        assert_true(strncmp(err, where[i], strlen(where[i])) == 0);
        assert_non_null(strstr(err, "stands for the stored secret"));
        cJSON_Delete(d);
    }
    /* Without a stored document, too; a plain "******" elsewhere is data. */
    cJSON *d = cJSON_Parse("{\"standby_cluster\":{\"password\":\"******\"}}");
    assert_int_equal(cfg_dcs_unmask(d, NULL, err, sizeof err), RG_EINVAL);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"postgresql\":{\"parameters\":{\"application_name\":\"******\"}}}");
    assert_int_equal(cfg_dcs_unmask(d, stored, err, sizeof err), 0);
    cJSON_Delete(d);
    cJSON_Delete(stored);
}

/* --- agreement with pgi_conf ------------------------------------------------ */

/* Does pgi_conf say anything about parameter @name of @params? */
static bool pgi_conf_warns(const char *params, const char *name)
{
    cJSON *dyn = cJSON_Parse(params);
    char *warnings = NULL;
    cJSON *out = pgi_conf_parameters(dyn, NULL, NULL, 0, NULL, 150000, &warnings);
    bool warned = warnings != NULL && strstr(warnings, name) != NULL;
    rg_free(warnings);
    cJSON_Delete(out);
    cJSON_Delete(dyn);
    return warned;
}

static void test_parameter_rules_agree_with_pgi_conf(void **state)
{
    /* For each cluster-wide parameter: values both accept silently, and
     * values that pgi_conf would adjust or refuse, which the API refuses. */
    static const struct {
        const char *name, *ok, *bad;
    } cases[] = {
        {"max_connections", "25", "24"},
        {"max_connections", "\"100\"", "\"lots\""},
        {"max_locks_per_transaction", "32", "31"},
        {"max_worker_processes", "2", "1"},
        {"max_prepared_transactions", "0", "-1"},
        {"max_wal_senders", "3", "2"},
        {"max_replication_slots", "4", "3"},
        {"wal_keep_segments", "1", "0"},
        {"wal_keep_size", "\"16MB\"", "\"15MB\""},
        {"wal_keep_size", "16", "\"1TB or so\""},
        {"wal_level", "\"logical\"", "\"minimal\""},
        {"track_commit_timestamp", "\"off\"", "\"nope\""},
        {"wal_log_hints", "true", "false"},
    };
    char json[256], err[CFG_DCS_ERRLEN];
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        snprintf(json, sizeof json, "{\"%s\": %s}", cases[i].name, cases[i].ok);
        char doc[512];
        snprintf(doc, sizeof doc, "{\"postgresql\": {\"parameters\": %s}}", json);
        if (check(doc, *state, err) != 0 || pgi_conf_warns(json, cases[i].name)) {
            fail_msg("%s: refused (%s) or warned by pgi_conf", json, err);
        }
        snprintf(json, sizeof json, "{\"%s\": %s}", cases[i].name, cases[i].bad);
        snprintf(doc, sizeof doc, "{\"postgresql\": {\"parameters\": %s}}", json);
        if (check(doc, *state, err) != RG_EINVAL || !pgi_conf_warns(json, cases[i].name)) {
            fail_msg("%s: accepted by cfg_dcs or not warned by pgi_conf", json);
        }
    }
    /* Names and values pgi_conf refuses. */
    assert_true(pgi_conf_warns("{\"9lives\": 1}", "9lives"));
    assert_true(pgi_conf_warns("{\"work_mem\": \"1MB\\nx\"}", "work_mem"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_agent, teardown_local)
        T(test_seeded_and_patroni_documents_pass),
        T(test_synchronous_keys),
        T(test_pause_is_true_false_or_null),
        T(test_local_postgresql_keys_are_accepted_and_ignored),
        T(test_each_problem_names_its_field),
        T(test_missing_timing_keys_come_from_the_local_file),
        T(test_timing_uses_this_nodes_raft_and_watchdog),
        T(test_witness_and_no_local_use_the_defaults),
        T(test_shape_limits),
        T(test_local_file_keeps_bootstrap_dcs_as_written),
        T(test_merge_patch_follows_rfc_7386),
        T(test_secret_names),
        T(test_masked_hides_every_secret_and_nothing_else),
        T(test_unmask_keeps_stored_secrets_and_takes_new_ones),
        T(test_parameter_rules_agree_with_pgi_conf),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
