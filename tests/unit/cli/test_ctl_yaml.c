/*
 * Unit tests for ctl_yaml: PyYAML's YAML 1.1 resolver, loading documents
 * the way safe_load does, and dumping the way safe_dump does (what
 * show-config prints and edit-config diffs).
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

static void test_resolver_follows_yaml_1_1(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        enum ctl_yaml_type t;
    } cases[] = {
        {"", CTL_YAML_NULL},
        {"~", CTL_YAML_NULL},
        {"null", CTL_YAML_NULL},
        {"NULL", CTL_YAML_NULL},
        {"nULL", CTL_YAML_STR},
        {"on", CTL_YAML_BOOL},
        {"Off", CTL_YAML_BOOL},
        {"YES", CTL_YAML_BOOL},
        {"y", CTL_YAML_STR},
        {"True", CTL_YAML_BOOL},
        {"tRue", CTL_YAML_STR},
        {"0", CTL_YAML_INT},
        {"-17", CTL_YAML_INT},
        {"+5", CTL_YAML_INT},
        {"1_000", CTL_YAML_INT},
        {"010", CTL_YAML_INT},
        {"08", CTL_YAML_STR}, /* not octal, not decimal */
        {"0x1F", CTL_YAML_INT},
        {"0b101", CTL_YAML_INT},
        {"1:30", CTL_YAML_INT},
        {"1.5", CTL_YAML_FLOAT},
        {"-1.", CTL_YAML_FLOAT},
        {".5", CTL_YAML_FLOAT},
        {"1.5e+3", CTL_YAML_FLOAT},
        {"1e5", CTL_YAML_STR},   /* YAML 1.1 wants a dot */
        {"1.5e3", CTL_YAML_STR}, /* and a signed exponent */
        {".inf", CTL_YAML_FLOAT},
        {"-.Inf", CTL_YAML_FLOAT},
        {".NaN", CTL_YAML_FLOAT},
        {"1:30.5", CTL_YAML_FLOAT},
        {"2024-05-01", CTL_YAML_TIMESTAMP},
        {"2024-05-01T10:00:00+02:00", CTL_YAML_TIMESTAMP},
        {"2024-5-1 10:00:00", CTL_YAML_TIMESTAMP},
        {"2024-05-01T10:00", CTL_YAML_STR},
        {"10.0.0.1", CTL_YAML_STR},
        {"128MB", CTL_YAML_STR},
        {"=", CTL_YAML_TIMESTAMP}, /* a value tag: quoted like one */
        {"plain text", CTL_YAML_STR},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        if (ctl_yaml_resolve(cases[i].s) != cases[i].t) {
            fail_msg("\"%s\": %d, not %d", cases[i].s, ctl_yaml_resolve(cases[i].s), cases[i].t);
        }
    }
}

static cJSON *parse_ok(const char *text)
{
    cJSON *v = NULL;
    char err[256];
    if (ctl_yaml_parse(text, strlen(text), &v, err, sizeof err) != 0) {
        fail_msg("\"%s\": %s", text, err);
    }
    return v;
}

static void assert_parses_to(const char *yaml, const char *json)
{
    cJSON *v = parse_ok(yaml);
    char *text = cJSON_PrintUnformatted(v);
    assert_string_equal(text, json);
    cJSON_free(text);
    cJSON_Delete(v);
}

static void test_parse_types_scalars_as_safe_load(void **state)
{
    (void)state;
    assert_parses_to(
        "a: 1\nb: on\nc: '5'\nd: ~\ne: 1.5\nf: 128MB\ng: \"yes\"\nh: 010\n"
        "i: 0x10\nj: 1:30\nk: 2024-05-01\nl: .inf\n",
        "{\"a\":1,\"b\":true,\"c\":\"5\",\"d\":null,\"e\":1.5,\"f\":\"128MB\","
        "\"g\":\"yes\",\"h\":8,\"i\":16,\"j\":90,\"k\":\"2024-05-01\",\"l\":\".inf\"}");
    assert_parses_to("postgresql:\n  parameters:\n    work_mem: 4MB\n    max_connections: 100\n"
                     "  pg_hba:\n  - host all all 0.0.0.0/0 md5\n  - local all all trust\n",
                     "{\"postgresql\":{\"parameters\":{\"work_mem\":\"4MB\",\"max_connections\":"
                     "100},\"pg_hba\":[\"host all all 0.0.0.0/0 md5\",\"local all all trust\"]}}");
    assert_parses_to("[1, {a: b}, [x]]", "[1,{\"a\":\"b\"},[\"x\"]]");
    assert_parses_to("", "null");
    assert_parses_to("# only a comment\n", "null");
    assert_parses_to("-17", "-17");
    assert_parses_to("a: 1\na: 2\n", "{\"a\":2}"); /* the last one wins */
    assert_parses_to("base: &b {x: 1}\nother: *b\n", "{\"base\":{\"x\":1},\"other\":{\"x\":1}}");
    assert_parses_to("s: |\n  two\n  lines\n", "{\"s\":\"two\\nlines\\n\"}");
}

static void test_parse_errors_name_the_place(void **state)
{
    (void)state;
    static const char *const bad[] = {"a: b: c\n", "a: [1, 2\n", "key: 'open\n", "--- 1\n--- 2\n",
                                      "? [a]\n: b\n"};
    static const char *const want[] = {"line 1, column 5", "line 2", "line", "single document",
                                       "only scalar keys"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        cJSON *v = NULL;
        char err[256];
        assert_int_equal(ctl_yaml_parse(bad[i], strlen(bad[i]), &v, err, sizeof err), -1);
        assert_null(v);
        if (strstr(err, want[i]) == NULL) {
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i], err, want[i]);
        }
    }
}

/* A document made of aliases of aliases would be huge: refused. */
static void test_parse_bounds_alias_bombs(void **state)
{
    (void)state;
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    cJSON *v = NULL;
    char err[256];
    assert_int_equal(ctl_yaml_parse(bomb, strlen(bomb), &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "too large"));
}

static void assert_dumps(const char *json, const char *yaml, const char *flow)
{
    cJSON *v = cJSON_Parse(json);
    assert_non_null(v);
    char *text = ctl_yaml_dump(v);
    assert_string_equal(text, yaml);
    rg_free(text);
    if (flow != NULL) {
        text = ctl_yaml_dump_flow(v);
        assert_string_equal(text, flow);
        rg_free(text);
    }
    cJSON_Delete(v);
}

static void test_dump_as_safe_dump(void **state)
{
    (void)state;
    /* Sorted keys, unindented sequences, nested mappings by two. */
    assert_dumps("{\"ttl\":30,\"loop_wait\":10,\"postgresql\":{\"use_pg_rewind\":true,"
                 "\"parameters\":{\"max_connections\":100,\"work_mem\":\"4MB\"},"
                 "\"pg_hba\":[\"local all all trust\"]},\"tags\":{},\"slots\":[],"
                 "\"maximum_lag_on_failover\":1048576,\"retry_timeout\":0.5,\"x\":null}",
                 "loop_wait: 10\n"
                 "maximum_lag_on_failover: 1048576\n"
                 "postgresql:\n"
                 "  parameters:\n"
                 "    max_connections: 100\n"
                 "    work_mem: 4MB\n"
                 "  pg_hba:\n"
                 "  - local all all trust\n"
                 "  use_pg_rewind: true\n"
                 "retry_timeout: 0.5\n"
                 "slots: []\n"
                 "tags: {}\n"
                 "ttl: 30\n"
                 "x: null\n",
                 "{loop_wait: 10, maximum_lag_on_failover: 1048576, postgresql: {parameters: "
                 "{max_connections: 100, work_mem: 4MB}, pg_hba: [local all all trust], "
                 "use_pg_rewind: true}, retry_timeout: 0.5, slots: [], tags: {}, ttl: 30, "
                 "x: null}");
    /* Sequences of mappings and of sequences. */
    assert_dumps("[{\"b\":1,\"a\":[1,[2,3]]},\"x\"]",
                 "- a:\n  - 1\n  - - 2\n    - 3\n  b: 1\n- x\n", "[{a: [1, [2, 3]], b: 1}, x]");
    assert_dumps("{}", "{}\n", "{}");
    assert_dumps("[]", "[]\n", "[]");
    assert_dumps("1e20", "1.0e+20\n", NULL);
}

static void test_dump_quotes_what_would_read_back_otherwise(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        const char *block; /* as a value in a block mapping */
        const char *flow;  /* in a flow mapping */
    } cases[] = {
        {"plain", "plain", "plain"},
        {"", "''", "''"},
        {"on", "'on'", "'on'"},
        {"100", "'100'", "'100'"},
        {"1.5", "'1.5'", "'1.5'"},
        {"null", "'null'", "'null'"},
        {"2024-05-01", "'2024-05-01'", "'2024-05-01'"},
        {"10.0.0.1:5432", "10.0.0.1:5432", "'10.0.0.1:5432'"},
        {"a: b", "'a: b'", "'a: b'"},
        {"a,b", "a,b", "'a,b'"},
        {"[x]", "'[x]'", "'[x]'"},
        {"- x", "'- x'", "'- x'"},
        {"-x", "-x", "-x"},
        {"#x", "'#x'", "'#x'"},
        {"a #b", "'a #b'", "'a #b'"},
        {"a#b", "a#b", "a#b"},
        {" lead", "' lead'", "' lead'"},
        {"it's", "it's", "it's"},
        {"'q'", "'''q'''", "'''q'''"},
        {"*star", "'*star'", "'*star'"},
        {"two\nlines", "\"two\\nlines\"", "\"two\\nlines\""},
        {"tab\there", "\"tab\\there\"", "\"tab\\there\""},
        {"---", "'---'", "'---'"},
        {"host all all 0.0.0.0/0 md5", "host all all 0.0.0.0/0 md5", "host all all 0.0.0.0/0 md5"},
        {"ünïcode", "ünïcode", "ünïcode"},
        /* Unicode line breaks and what PyYAML does not print as it is. */
        {"a\xe2\x80\xa8"
         "b",
         "\"a\\Lb\"", "\"a\\Lb\""},
        {"x\xc2\x85y", "\"x\\Ny\"", "\"x\\Ny\""},
        {"\xef\xbb\xbf"
         "z",
         "\"\\uFEFFz\"", "\"\\uFEFFz\""},
        {"\xc2\x80", "\"\\x80\"", "\"\\x80\""},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "k", cases[i].s);
        char *block = ctl_yaml_dump(o);
        char *flow = ctl_yaml_dump_flow(o);
        char want_block[128], want_flow[128];
        snprintf(want_block, sizeof want_block, "k: %s\n", cases[i].block);
        snprintf(want_flow, sizeof want_flow, "{k: %s}", cases[i].flow);
        if (strcmp(block, want_block) != 0 || strcmp(flow, want_flow) != 0) {
            fail_msg("\"%s\": block %s flow %s", cases[i].s, block, flow);
        }
        /* ... and every form reads back as the same string. */
        cJSON *back = parse_ok(block);
        assert_true(cJSON_Compare(back, o, true));
        cJSON_Delete(back);
        back = parse_ok(flow);
        assert_true(cJSON_Compare(back, o, true));
        cJSON_Delete(back);
        rg_free(block);
        rg_free(flow);
        cJSON_Delete(o);
    }
}

/* PyYAML writes a key of 128 characters or more as "? key". */
static void test_dump_long_keys(void **state)
{
    (void)state;
    char key[131];
    memset(key, 'k', 130);
    key[130] = '\0';
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, key);
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "z"), cJSON_CreateNumber(2));
    char *text = ctl_yaml_dump(o);
    char want[400];
    snprintf(want, sizeof want, "? %s\n:\n- 1\nz:\n- 2\n", key);
    assert_string_equal(text, want);
    cJSON *back = parse_ok(text);
    assert_true(cJSON_Compare(back, o, true));
    cJSON_Delete(back);
    rg_free(text);
    cJSON_Delete(o);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolver_follows_yaml_1_1),
        cmocka_unit_test(test_parse_types_scalars_as_safe_load),
        cmocka_unit_test(test_parse_errors_name_the_place),
        cmocka_unit_test(test_parse_bounds_alias_bombs),
        cmocka_unit_test(test_dump_as_safe_dump),
        cmocka_unit_test(test_dump_quotes_what_would_read_back_otherwise),
        cmocka_unit_test(test_dump_long_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
