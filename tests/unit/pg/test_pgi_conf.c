/*
 * Unit tests for pgi_conf: Patroni's defaults and minima for the
 * dynamic-only GUCs, dynamic vs local precedence and the warnings, the GUCs
 * Regent controls, wal_keep_* translation per version, refusal of names and
 * values that could inject lines, postgresql.conf quoting (quotes,
 * backslashes, unicode, control characters), numbers and booleans, the
 * standby block, pg_hba.conf, postgresql.listen parsing, conninfo escaping
 * checked by libpq's own PQconninfoParse, and .pgpass escaping.
 */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "pg/pgi_conf.h"

/* --- helpers ------------------------------------------------------------- */

static cJSON *json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; s != NULL && *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

static void assert_text(const cJSON *params, const char *name, const char *want)
{
    char buf[256];
    if (!pgi_conf_value_text(params, name, buf, sizeof buf)) {
        fail_msg("%s: absent", name);
    }
    if (strcmp(buf, want) != 0) {
        fail_msg("%s: got \"%s\", want \"%s\"", name, buf, want);
    }
}

static void assert_absent(const cJSON *params, const char *name)
{
    assert_null(cJSON_GetObjectItem(params, name));
}

static void assert_warned(const char *warnings, const char *fragment)
{
    if (warnings == NULL || strstr(warnings, fragment) == NULL) {
        fail_msg("no warning with \"%s\" in:\n%s", fragment, warnings ? warnings : "(none)");
    }
}

/* Parameters from JSON texts (NULL: none), PostgreSQL 15, standard Regent args. */
static cJSON *params(const char *dynamic, const char *local, char **warnings)
{
    cJSON *d = dynamic ? json(dynamic) : NULL;
    cJSON *l = local ? json(local) : NULL;
    cJSON *p = pgi_conf_parameters(d, l, "127.0.0.1,10.0.0.1", 5432, "demo", 150000, warnings);
    cJSON_Delete(d);
    cJSON_Delete(l);
    assert_true(cJSON_IsObject(p));
    return p;
}

/* --- merging --------------------------------------------------------------- */

static void test_defaults_and_regent_controlled_gucs(void **state)
{
    (void)state;
    char *w = (char *)"unset";
    cJSON *p = params(NULL, NULL, &w);

    assert_null(w);
    assert_text(p, "max_connections", "100");
    assert_text(p, "max_locks_per_transaction", "64");
    assert_text(p, "max_worker_processes", "8");
    assert_text(p, "max_prepared_transactions", "0");
    assert_text(p, "wal_level", "replica");
    assert_text(p, "track_commit_timestamp", "off");
    assert_text(p, "max_wal_senders", "10");
    assert_text(p, "max_replication_slots", "10");
    assert_text(p, "wal_keep_size", "128MB");
    assert_absent(p, "wal_keep_segments");
    assert_text(p, "wal_log_hints", "on");
    assert_text(p, "listen_addresses", "127.0.0.1,10.0.0.1");
    assert_text(p, "port", "5432");
    assert_text(p, "cluster_name", "demo");
    assert_text(p, "hot_standby", "on");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(p, "port")));
    assert_true(cJSON_IsBool(cJSON_GetObjectItem(p, "hot_standby")));
    assert_int_equal(cJSON_GetArraySize(p), 14);
    cJSON_Delete(p);

    /* NULL listen/port/scope: left out (and @warnings may be NULL). */
    p = pgi_conf_parameters(NULL, NULL, NULL, 0, NULL, 170000, NULL);
    assert_absent(p, "listen_addresses");
    assert_absent(p, "port");
    assert_absent(p, "cluster_name");
    assert_text(p, "hot_standby", "on");
    cJSON_Delete(p);
}

static void test_values_below_minimum_are_raised(void **state)
{
    (void)state;
    char *w = NULL;
    cJSON *p = params("{\"max_connections\": 10, \"max_locks_per_transaction\": \"16\","
                      " \"max_worker_processes\": 1, \"max_prepared_transactions\": -5,"
                      " \"max_wal_senders\": 2, \"max_replication_slots\": 0,"
                      " \"wal_keep_size\": \"8MB\"}",
                      NULL, &w);
    assert_text(p, "max_connections", "25");
    assert_text(p, "max_locks_per_transaction", "32");
    assert_text(p, "max_worker_processes", "2");
    assert_text(p, "max_prepared_transactions", "0");
    assert_text(p, "max_wal_senders", "3");
    assert_text(p, "max_replication_slots", "4");
    assert_text(p, "wal_keep_size", "16MB");
    assert_int_equal(count_lines(w), 7);
    assert_warned(w, "dynamic postgresql.parameters.max_connections = 10 is below the minimum 25: "
                     "using 25\n");
    assert_warned(w, "wal_keep_size is below the minimum 16MB");
    rg_free(w);
    cJSON_Delete(p);
}

static void test_valid_dynamic_values_are_kept(void **state)
{
    (void)state;
    char *w = NULL;
    cJSON *p = params("{\"max_connections\": \"200\", \"wal_level\": \"logical\","
                      " \"track_commit_timestamp\": \"on\", \"wal_keep_size\": \"1GB\","
                      " \"max_prepared_transactions\": 50, \"wal_log_hints\": true,"
                      " \"work_mem\": \"4MB\", \"checkpoint_completion_target\": 0.9}",
                      NULL, &w);
    assert_null(w);
    assert_text(p, "max_connections", "200");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(p, "max_connections")));
    assert_text(p, "wal_level", "logical");
    assert_text(p, "track_commit_timestamp", "on");
    assert_text(p, "wal_keep_size", "1GB");
    assert_text(p, "max_prepared_transactions", "50");
    assert_text(p, "work_mem", "4MB");
    assert_text(p, "checkpoint_completion_target", "0.9");
    cJSON_Delete(p);
}

static void test_wal_level_and_wal_log_hints(void **state)
{
    (void)state;
    static const struct {
        const char *value, *want;
        bool warns;
    } cases[] = {
        {"\"hot_standby\"", "replica", false},
        {"\"archive\"", "replica", false},
        {"\"REPLICA\"", "replica", false},
        {"\"minimal\"", "replica", true},
        {"5", "replica", true},
        {"\"logical\"", "logical", false},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        char text[64], *w = NULL;
        snprintf(text, sizeof text, "{\"wal_level\": %s}", cases[i].value);
        cJSON *p = params(text, NULL, &w);
        assert_text(p, "wal_level", cases[i].want);
        if (cases[i].warns) {
            assert_warned(w, "wal_level");
        } else {
            assert_null(w);
        }
        rg_free(w);
        cJSON_Delete(p);
    }

    char *w = NULL;
    cJSON *p =
        params("{\"wal_log_hints\": \"off\", \"track_commit_timestamp\": \"maybe\"}", NULL, &w);
    assert_text(p, "wal_log_hints", "on");
    assert_text(p, "track_commit_timestamp", "off");
    assert_warned(w, "wal_log_hints = off refused: using on");
    assert_warned(w, "track_commit_timestamp is not a boolean: using off");
    rg_free(w);
    cJSON_Delete(p);
}

static void test_unparsable_integers_take_the_default(void **state)
{
    (void)state;
    char *w = NULL;
    cJSON *p = params("{\"max_connections\": \"lots\", \"max_wal_senders\": 10.5,"
                      " \"max_replication_slots\": \" 7\"}",
                      NULL, &w);
    assert_text(p, "max_connections", "100");
    assert_text(p, "max_wal_senders", "10");
    assert_text(p, "max_replication_slots", "10");
    assert_int_equal(count_lines(w), 3);
    assert_warned(w, "max_connections is not an integer: using the default 100");
    rg_free(w);
    cJSON_Delete(p);
}

static void test_local_wins_except_for_dynamic_only(void **state)
{
    (void)state;
    char *w = NULL;
    cJSON *p = params("{\"work_mem\": \"4MB\", \"shared_buffers\": \"128MB\","
                      " \"max_connections\": 300}",
                      "{\"work_mem\": \"8MB\", \"Max_Connections\": 500,"
                      " \"wal_level\": \"logical\", \"Log_Line_Prefix\": \"%m \"}",
                      &w);
    assert_text(p, "work_mem", "8MB");
    assert_text(p, "shared_buffers", "128MB");
    assert_text(p, "max_connections", "300");
    assert_text(p, "wal_level", "replica");
    assert_text(p, "log_line_prefix", "%m ");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(p, "log_line_prefix")); /* lower-cased */
    assert_int_equal(count_lines(w), 2);
    assert_warned(w, "local postgresql.parameters.max_connections ignored: it can only be set in "
                     "the dynamic configuration\n");
    assert_warned(w, "local postgresql.parameters.wal_level ignored");
    rg_free(w);
    cJSON_Delete(p);
}

static void test_regent_controlled_values_are_ignored(void **state)
{
    (void)state;
    char *w = NULL;
    cJSON *p = params("{\"port\": 6000, \"listen_addresses\": \"*\", \"cluster_name\": \"demo\","
                      " \"hot_standby\": \"on\"}",
                      "{\"port\": \"5432\", \"hot_standby\": false,"
                      " \"primary_conninfo\": \"host=elsewhere\", \"primary_slot_name\": \"x\"}",
                      &w);
    assert_text(p, "port", "5432");
    assert_text(p, "listen_addresses", "127.0.0.1,10.0.0.1");
    assert_text(p, "cluster_name", "demo");
    assert_text(p, "hot_standby", "on");
    assert_absent(p, "primary_conninfo");
    assert_absent(p, "primary_slot_name");
    /* Same values as Regent's (cluster_name, the local port, hot_standby on)
     * are not worth a warning. */
    assert_int_equal(count_lines(w), 5);
    assert_warned(w, "dynamic postgresql.parameters.port ignored: regent sets it (from "
                     "postgresql.listen)\n");
    assert_warned(w, "dynamic postgresql.parameters.listen_addresses ignored");
    assert_warned(w, "local postgresql.parameters.hot_standby ignored: regent sets it (to on)");
    assert_warned(w, "local postgresql.parameters.primary_conninfo ignored: regent sets it on "
                     "standbys");
    assert_warned(w, "local postgresql.parameters.primary_slot_name ignored");
    rg_free(w);
    cJSON_Delete(p);
}

static void test_wal_keep_translation(void **state)
{
    (void)state;
    static const struct {
        const char *dynamic;
        unsigned version;
        const char *name, *want, *gone;
    } cases[] = {
        {"{\"wal_keep_segments\": 64}", 130000, "wal_keep_size", "1024MB", "wal_keep_segments"},
        {"{\"wal_keep_segments\": 64, \"wal_keep_size\": \"2GB\"}", 160000, "wal_keep_size", "2GB",
         "wal_keep_segments"},
        {"{\"wal_keep_size\": 512}", 170000, "wal_keep_size", "512", "wal_keep_segments"},
        {"{\"wal_keep_segments\": 0}", 150000, "wal_keep_size", "16MB", "wal_keep_segments"},
        {"{}", 120000, "wal_keep_segments", "8", "wal_keep_size"},
        {"{\"wal_keep_size\": \"256MB\"}", 120000, "wal_keep_segments", "16", "wal_keep_size"},
        {"{\"wal_keep_segments\": 32}", 120000, "wal_keep_segments", "32", "wal_keep_size"},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        cJSON *d = json(cases[i].dynamic);
        cJSON *p = pgi_conf_parameters(d, NULL, "*", 5432, "c", cases[i].version, NULL);
        assert_text(p, cases[i].name, cases[i].want);
        assert_absent(p, cases[i].gone);
        cJSON_Delete(p);
        cJSON_Delete(d);
    }
}

static void test_injection_and_odd_input_are_refused(void **state)
{
    (void)state;
    char *w = NULL;
    cJSON *p = params("{\"archive_command\": \"true'\\ninclude '/etc/evil.conf\","
                      " \"restore_command\": \"cp %p x\\r\","
                      " \"evil\\ninclude\": 1, \"a b\": 1, \"x=y\": 1, \"1abc\": 1,"
                      " \"bad..name\": 1, \"trailing.\": 1, \"\": 1,"
                      " \"nested\": {\"a\": 1}, \"list\": [1], \"nothing\": null,"
                      " \"pg_stat_statements.max\": 10000, \"_under\": \"ok\"}",
                      "[\"not\", \"an\", \"object\"]", &w);
    assert_absent(p, "archive_command");
    assert_absent(p, "restore_command");
    assert_absent(p, "nested");
    assert_absent(p, "list");
    assert_absent(p, "nothing");
    assert_text(p, "pg_stat_statements.max", "10000");
    assert_text(p, "_under", "ok");
    assert_warned(w, "dynamic postgresql.parameters.archive_command refused: the value contains "
                     "a line break\n");
    assert_warned(w, "restore_command refused: the value contains a line break");
    assert_warned(w, "\"evil?include\" refused: not a parameter name");
    assert_warned(w, "\"a b\" refused");
    assert_warned(w, "\"bad..name\" refused");
    assert_warned(w, "\"\" refused");
    assert_warned(w, "nested refused: the value is not a string, number or boolean");
    assert_warned(w, "local postgresql.parameters ignored: not an object\n");
    /* One line per refusal: no name or value broke a line. */
    assert_int_equal(count_lines(w), 13);

    char *text = pgi_conf_render(p, PGI_CONF_BASE_CONF, NULL);
    assert_null(strstr(text, "evil"));
    rg_free(text);
    rg_free(w);
    cJSON_Delete(p);

    /* A dynamic configuration that is not an object. */
    cJSON *d = json("\"max_connections=5\"");
    p = pgi_conf_parameters(d, NULL, "*", 5432, "c", 150000, &w);
    assert_text(p, "max_connections", "100");
    assert_warned(w, "dynamic postgresql.parameters ignored: not an object");
    rg_free(w);
    cJSON_Delete(p);
    cJSON_Delete(d);
}

static void test_cmdline_and_name_checks(void **state)
{
    (void)state;
    assert_true(pgi_conf_is_cmdline("max_connections"));
    assert_true(pgi_conf_is_cmdline("PORT"));
    assert_true(pgi_conf_is_cmdline("wal_log_hints"));
    assert_true(pgi_conf_is_cmdline("hot_standby"));
    assert_false(pgi_conf_is_cmdline("wal_keep_size"));
    assert_false(pgi_conf_is_cmdline("wal_keep_segments"));
    assert_false(pgi_conf_is_cmdline("work_mem"));
    assert_false(pgi_conf_is_cmdline(NULL));

    assert_true(pgi_conf_name_valid("work_mem"));
    assert_true(pgi_conf_name_valid("auto_explain.log_min_duration"));
    assert_true(pgi_conf_name_valid("_x1.y_2"));
    assert_false(pgi_conf_name_valid(""));
    assert_false(pgi_conf_name_valid(NULL));
    assert_false(pgi_conf_name_valid(".x"));
    assert_false(pgi_conf_name_valid("x."));
    assert_false(pgi_conf_name_valid("a..b"));
    assert_false(pgi_conf_name_valid("a.1b"));
    assert_false(pgi_conf_name_valid("9lives"));
    assert_false(pgi_conf_name_valid("with-dash"));
    assert_false(pgi_conf_name_valid("caf\xc3\xa9"));
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(pgi_conf_name_valid(longname));
    longname[127] = '\0';
    assert_true(pgi_conf_name_valid(longname));
}

/* --- rendering --------------------------------------------------------------- */

static const char header[] =
    "# Written by regent: do not edit, changes here are overwritten.\n"
    "# Put settings in the dynamic configuration (postgresql.parameters)\n"
    "# or in the local postgresql.parameters of regent's configuration file.\n\n";

static void test_render_quotes_sorts_and_includes(void **state)
{
    (void)state;
    cJSON *p =
        json("{\"zeta\": \"it's\", \"alpha\": \"C:\\\\dir\\\\\", \"mu\": \"caf\\u00e9 \\u2713\","
             " \"n_int\": 100, \"n_neg\": -1, \"n_real\": 0.9, \"n_big\": 1e20,"
             " \"b_on\": true, \"b_off\": false, \"empty\": \"\", \"tab\": \"a\\tb\"}");
    char *text = pgi_conf_render(p, PGI_CONF_BASE_CONF, NULL);
    char want[2048];
    snprintf(want, sizeof want,
             "%s"
             "include 'postgresql.base.conf'\n\n"
             "alpha = 'C:\\\\dir\\\\'\n"
             "b_off = off\n"
             "b_on = on\n"
             "empty = ''\n"
             "mu = 'caf\xc3\xa9 \xe2\x9c\x93'\n"
             "n_big = '1e+20'\n"
             "n_int = 100\n"
             "n_neg = -1\n"
             "n_real = 0.9\n"
             "tab = 'a\tb'\n"
             "zeta = 'it''s'\n",
             header);
    assert_string_equal(text, want);
    rg_free(text);

    /* No base file: no include line. */
    text = pgi_conf_render(p, NULL, NULL);
    assert_null(strstr(text, "include"));
    assert_true(strncmp(text, header, strlen(header)) == 0);
    rg_free(text);
    cJSON_Delete(p);

    /* An odd base file name is quoted too. */
    text = pgi_conf_render(NULL, "my 'base'.conf", NULL);
    assert_non_null(strstr(text, "\ninclude 'my ''base''.conf'\n"));
    rg_free(text);
}

static void test_render_escapes_control_characters(void **state)
{
    (void)state;
    /* Built by hand, past pgi_conf_parameters' refusal: render alone must
     * still never let a value start a line. */
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "archive_command", "x'\ninclude '/etc/evil'\r\x01\x7f");
    cJSON_AddItemToObject(p, "nested", cJSON_CreateArray());
    cJSON_AddNumberToObject(p, "bad name", 1);
    cJSON_AddNullToObject(p, "nothing");
    char *text = pgi_conf_render(p, NULL, NULL);
    char want[512];
    snprintf(want, sizeof want, "%sarchive_command = 'x''\\ninclude ''/etc/evil''\\r\\001\\177'\n",
             header);
    assert_string_equal(text, want);
    rg_free(text);
    cJSON_Delete(p);
}

static void test_render_standby_block(void **state)
{
    (void)state;
    cJSON *p = json("{\"port\": 5432}");
    struct pgi_standby st = {
        .primary_conninfo = "host='10.0.0.1' port='5432' password='p\\'w'",
        .primary_slot_name = "node2",
    };
    char *text = pgi_conf_render(p, NULL, &st);
    char want[1024];
    snprintf(want, sizeof want,
             "%s"
             "port = 5432\n"
             "\n# Standby (standby.signal in the data directory makes PostgreSQL use these).\n"
             "primary_conninfo = 'host=''10.0.0.1'' port=''5432'' password=''p\\\\''w'''\n"
             "primary_slot_name = 'node2'\n"
             "recovery_target_timeline = 'latest'\n"
             "recovery_target = ''\n"
             "recovery_target_lsn = ''\n"
             "recovery_target_name = ''\n"
             "recovery_target_time = ''\n"
             "recovery_target_xid = ''\n",
             header);
    assert_string_equal(text, want);
    rg_free(text);

    struct pgi_standby bare = {.recovery_target_timeline = "3"};
    text = pgi_conf_render(p, NULL, &bare);
    assert_non_null(strstr(text, "\nprimary_conninfo = ''\nprimary_slot_name = ''\n"
                                 "recovery_target_timeline = '3'\n"));
    rg_free(text);

    text = pgi_conf_render(p, NULL, NULL);
    assert_null(strstr(text, "primary_conninfo"));
    rg_free(text);
    cJSON_Delete(p);
}

static void test_render_of_merged_parameters(void **state)
{
    (void)state;
    cJSON *p = params("{\"shared_buffers\": \"256MB\"}", NULL, NULL);
    char *text = pgi_conf_render(p, PGI_CONF_BASE_CONF, NULL);
    assert_non_null(strstr(text, "\nhot_standby = on\n"));
    assert_non_null(strstr(text, "\nlisten_addresses = '127.0.0.1,10.0.0.1'\n"));
    assert_non_null(strstr(text, "\nmax_connections = 100\n"));
    assert_non_null(strstr(text, "\nshared_buffers = '256MB'\n"));
    assert_non_null(strstr(text, "\nwal_keep_size = '128MB'\n"));
    assert_non_null(strstr(text, "\nwal_level = 'replica'\n"));
    assert_true(strstr(text, "include") < strstr(text, "cluster_name"));
    /* header (4 lines), include + blank, 15 parameters */
    assert_int_equal(count_lines(text), 4 + 2 + 15);
    rg_free(text);
    cJSON_Delete(p);
}

static void test_value_text(void **state)
{
    (void)state;
    cJSON *p = json("{\"s\": \"4MB\", \"t\": true, \"f\": false, \"i\": 100.0, \"r\": 0.25,"
                    " \"neg\": -0.5, \"o\": {}, \"a\": [], \"z\": null}");
    char buf[8];
    assert_text(p, "s", "4MB");
    assert_text(p, "S", "4MB");
    assert_text(p, "t", "on");
    assert_text(p, "f", "off");
    assert_text(p, "i", "100");
    assert_text(p, "r", "0.25");
    assert_text(p, "neg", "-0.5");
    assert_false(pgi_conf_value_text(p, "o", buf, sizeof buf));
    assert_false(pgi_conf_value_text(p, "a", buf, sizeof buf));
    assert_false(pgi_conf_value_text(p, "z", buf, sizeof buf));
    assert_false(pgi_conf_value_text(p, "missing", buf, sizeof buf));
    assert_false(pgi_conf_value_text(p, "s", buf, 3)); /* "4MB" needs 4 bytes */
    assert_true(pgi_conf_value_text(p, "s", buf, 4));
    assert_false(pgi_conf_value_text(NULL, "s", buf, sizeof buf));
    cJSON_Delete(p);
}

static void test_render_hba(void **state)
{
    (void)state;
    char errmsg[RG_ERRMSG_SIZE] = "";
    char *out = NULL;
    cJSON *lines = json("[\"local all all trust\", \"host replication repl 0.0.0.0/0 md5\"]");
    assert_int_equal(pgi_conf_render_hba(lines, &out, errmsg), 0);
    assert_string_equal(out, "# Written by regent from pg_hba in its configuration: do not edit,\n"
                             "# changes here are overwritten.\n"
                             "local all all trust\n"
                             "host replication repl 0.0.0.0/0 md5\n");
    rg_free(out);
    cJSON_Delete(lines);

    lines = json("[\"local all all trust\", 5, {\"a\": 1}, \"host all all ::1/128 md5\\nx\"]");
    assert_int_equal(pgi_conf_render_hba(lines, &out, errmsg), RG_EINVAL);
    assert_string_equal(errmsg, "pg_hba: 3 items skipped (item 1: not a string)");
    assert_int_equal(count_lines(out), 3);
    assert_non_null(strstr(out, "\nlocal all all trust\n"));
    rg_free(out);
    cJSON_Delete(lines);

    lines = json("{\"local\": \"all\"}");
    assert_int_equal(pgi_conf_render_hba(lines, &out, errmsg), RG_EINVAL);
    assert_string_equal(errmsg, "pg_hba: not a list of strings");
    assert_int_equal(count_lines(out), 2);
    rg_free(out);
    cJSON_Delete(lines);
}

/* --- postgresql.listen ------------------------------------------------------- */

static void test_parse_listen_good(void **state)
{
    (void)state;
    static const struct {
        const char *in, *addrs;
        unsigned port;
    } cases[] = {
        {"127.0.0.1,10.0.0.1:5433", "127.0.0.1,10.0.0.1", 5433},
        {" 127.0.0.1 , 10.0.0.1 :5432", "127.0.0.1,10.0.0.1", 5432},
        {"*:5432", "*", 5432},
        {"0.0.0.0", "0.0.0.0", 5432},
        {"[::1]:6543", "::1", 6543},
        {"[::1],127.0.0.1:1", "::1,127.0.0.1", 1},
        {"db-1.example.com:65535", "db-1.example.com", 65535},
        {"fe80::1%eth0:5432", "fe80::1%eth0", 5432},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        char addrs[64];
        unsigned port = 0;
        if (pgi_conf_parse_listen(cases[i].in, addrs, sizeof addrs, &port) != 0) {
            fail_msg("\"%s\" refused", cases[i].in);
        }
        assert_string_equal(addrs, cases[i].addrs);
        assert_int_equal(port, cases[i].port);
    }
}

static void test_parse_listen_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",         ":5432",     "a:",        "a:0",      "a:65536", "a:12x",
        "a:-1",     "a: 5432",   "a,,b:5432", "a,:5432",  " :5432",  "a'b:5432",
        "a b:5432", "a\n:5432",  "[]:5432",   "a;b:5432", "a:+5",    "1.2.3.4:99999999999",
        "a/b:5432", "a\"b:5432",
    };
    char addrs[64];
    unsigned port;
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        if (pgi_conf_parse_listen(bad[i], addrs, sizeof addrs, &port) != RG_EINVAL) {
            fail_msg("\"%s\" accepted", bad[i]);
        }
    }
    assert_int_equal(pgi_conf_parse_listen(NULL, addrs, sizeof addrs, &port), RG_EINVAL);
    /* Too small a buffer: "10.0.0.1" needs 9 bytes. */
    assert_int_equal(pgi_conf_parse_listen("10.0.0.1:5432", addrs, 8, &port), RG_EINVAL);
    assert_int_equal(pgi_conf_parse_listen("10.0.0.1:5432", addrs, 9, &port), 0);
    assert_string_equal(addrs, "10.0.0.1");
}

/* --- libpq strings ------------------------------------------------------------- */

static void test_conninfo_round_trips_through_libpq(void **state)
{
    (void)state;
    const char *const keywords[] = {
        "host",    "port", "user", "password", "dbname", "sslmode", "application_name",
        "options", NULL};
    const char *const values[] = {"10.0.0.1,10.0.0.2",
                                  "5432",
                                  "rep user",
                                  "p'a\\s s=w\"o\\'rd \xe2\x9c\x93",
                                  "",
                                  NULL,
                                  "node-1",
                                  "-c search_path='a b'",
                                  NULL};
    char *conninfo = pgi_conninfo_build(keywords, values);
    assert_null(strstr(conninfo, "sslmode"));
    const char *prefix = "host='10.0.0.1,10.0.0.2' port='5432' user='rep user' password='p\\'a";
    assert_true(strncmp(conninfo, prefix, strlen(prefix)) == 0);

    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (opts == NULL) {
        fail_msg("libpq refused \"%s\": %s", conninfo, err ? err : "?");
    }
    int found = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        for (size_t i = 0; keywords[i] != NULL; i++) {
            if (strcmp(o->keyword, keywords[i]) != 0) {
                continue;
            }
            if (values[i] == NULL) {
                assert_null(o->val);
            } else {
                assert_non_null(o->val);
                assert_string_equal(o->val, values[i]);
                found++;
            }
        }
    }
    assert_int_equal(found, 7);
    PQconninfoFree(opts);
    rg_free(conninfo);

    const char *const none_k[] = {"host", NULL};
    const char *const none_v[] = {NULL, NULL};
    conninfo = pgi_conninfo_build(none_k, none_v);
    assert_string_equal(conninfo, "");
    rg_free(conninfo);
}

static void test_pgpass_line_escaping(void **state)
{
    (void)state;
    char *line = pgi_pgpass_line("10.0.0.1", "5432", "*", "rep:user", "pa:ss\\w*rd");
    assert_string_equal(line, "10.0.0.1:5432:*:rep\\:user:pa\\:ss\\\\w*rd\n");
    rg_free(line);

    line = pgi_pgpass_line(NULL, NULL, NULL, "u", NULL);
    assert_string_equal(line, "*:*:*:u:\n");
    rg_free(line);

    /* "*" is a wildcard only as a whole field; a password "*" is literal. */
    line = pgi_pgpass_line("*", "*", "db*", "*", "*");
    assert_string_equal(line, "*:*:db*:*:*\n");
    rg_free(line);

    /* A leading '#' would make the line a comment. */
    line = pgi_pgpass_line("#host", "1", "d", "u", "p");
    assert_string_equal(line, "\\#host:1:d:u:p\n");
    rg_free(line);

    assert_null(pgi_pgpass_line("h", "1", "d", "u", "pass\nword"));
    assert_null(pgi_pgpass_line("h\r", "1", "d", "u", "p"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_regent_controlled_gucs),
        cmocka_unit_test(test_values_below_minimum_are_raised),
        cmocka_unit_test(test_valid_dynamic_values_are_kept),
        cmocka_unit_test(test_wal_level_and_wal_log_hints),
        cmocka_unit_test(test_unparsable_integers_take_the_default),
        cmocka_unit_test(test_local_wins_except_for_dynamic_only),
        cmocka_unit_test(test_regent_controlled_values_are_ignored),
        cmocka_unit_test(test_wal_keep_translation),
        cmocka_unit_test(test_injection_and_odd_input_are_refused),
        cmocka_unit_test(test_cmdline_and_name_checks),
        cmocka_unit_test(test_render_quotes_sorts_and_includes),
        cmocka_unit_test(test_render_escapes_control_characters),
        cmocka_unit_test(test_render_standby_block),
        cmocka_unit_test(test_render_of_merged_parameters),
        cmocka_unit_test(test_value_text),
        cmocka_unit_test(test_render_hba),
        cmocka_unit_test(test_parse_listen_good),
        cmocka_unit_test(test_parse_listen_bad),
        cmocka_unit_test(test_conninfo_round_trips_through_libpq),
        cmocka_unit_test(test_pgpass_line_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
