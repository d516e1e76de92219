/*
 * Unit tests for pgi_controldata: the output of PostgreSQL 15's
 * pg_controldata (LC_ALL=C, captured from a throwaway initdb'd cluster,
 * shut down and in production), variants edited from it (shut down in
 * recovery, every cluster state, CRLF), malformed input of every kind,
 * and LSN parsing and formatting.
 */
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

#include "agent/rg.h"
#include "pg/pgi_controldata.h"

/* pg_controldata of a fresh initdb (PostgreSQL 15.20), cleanly shut down. */
static const char shut_down[] =
    "pg_control version number:            1300\n"
    "Catalog version number:               202209061\n"
    "Database system identifier:           7714424257302543371\n"
    "Database cluster state:               shut down\n"
    "pg_control last modified:             Tue Dec  1 19:46:06 2026\n"
    "Latest checkpoint location:           0/1511A88\n"
    "Latest checkpoint's REDO location:    0/1511A88\n"
    "Latest checkpoint's REDO WAL file:    000000010000000000000001\n"
    "Latest checkpoint's TimeLineID:       1\n"
    "Latest checkpoint's PrevTimeLineID:   1\n"
    "Latest checkpoint's full_page_writes: on\n"
    "Latest checkpoint's NextXID:          0:724\n"
    "Latest checkpoint's NextOID:          13573\n"
    "Latest checkpoint's NextMultiXactId:  1\n"
    "Latest checkpoint's NextMultiOffset:  0\n"
    "Latest checkpoint's oldestXID:        716\n"
    "Latest checkpoint's oldestXID's DB:   1\n"
    "Latest checkpoint's oldestActiveXID:  0\n"
    "Latest checkpoint's oldestMultiXid:   1\n"
    "Latest checkpoint's oldestMulti's DB: 1\n"
    "Latest checkpoint's oldestCommitTsXid:0\n"
    "Latest checkpoint's newestCommitTsXid:0\n"
    "Time of latest checkpoint:            Tue Dec  1 19:46:06 2026\n"
    "Fake LSN counter for unlogged rels:   0/3E8\n"
    "Minimum recovery ending location:     0/0\n"
    "Min recovery ending loc's timeline:   0\n"
    "Backup start location:                0/0\n"
    "Backup end location:                  0/0\n"
    "End-of-backup record required:        no\n"
    "wal_level setting:                    replica\n"
    "wal_log_hints setting:                off\n"
    "max_connections setting:              100\n"
    "max_worker_processes setting:         8\n"
    "max_wal_senders setting:              10\n"
    "max_prepared_xacts setting:           0\n"
    "max_locks_per_xact setting:           64\n"
    "track_commit_timestamp setting:       off\n"
    "Maximum data alignment:               8\n"
    "Database block size:                  8192\n"
    "Blocks per segment of large relation: 131072\n"
    "WAL block size:                       8192\n"
    "Bytes per WAL segment:                16777216\n"
    "Maximum length of identifiers:        64\n"
    "Maximum columns in an index:          32\n"
    "Maximum size of a TOAST chunk:        1996\n"
    "Size of a large-object chunk:         2048\n"
    "Date/time type storage:               64-bit integers\n"
    "Float8 argument passing:              by value\n"
    "Data page checksum version:           0\n"
    "Mock authentication nonce:            "
    "c6af7ca9e06103309e8ba3c9020ded0cc74fbc6551e1d91f0f15a70f02baec2f\n";

/* The same cluster running, after a CHECKPOINT. */
static const char in_production[] =
    "pg_control version number:            1300\n"
    "Catalog version number:               202209061\n"
    "Database system identifier:           7714424257302543371\n"
    "Database cluster state:               in production\n"
    "pg_control last modified:             Tue Dec  1 19:46:09 2026\n"
    "Latest checkpoint location:           0/15C4508\n"
    "Latest checkpoint's REDO location:    0/15C44A0\n"
    "Latest checkpoint's REDO WAL file:    000000010000000000000001\n"
    "Latest checkpoint's TimeLineID:       1\n"
    "Latest checkpoint's PrevTimeLineID:   1\n"
    "Latest checkpoint's full_page_writes: on\n"
    "Latest checkpoint's NextXID:          0:725\n"
    "Latest checkpoint's NextOID:          24576\n"
    "Latest checkpoint's NextMultiXactId:  1\n"
    "Latest checkpoint's NextMultiOffset:  0\n"
    "Latest checkpoint's oldestXID:        716\n"
    "Latest checkpoint's oldestXID's DB:   1\n"
    "Latest checkpoint's oldestActiveXID:  724\n"
    "Latest checkpoint's oldestMultiXid:   1\n"
    "Latest checkpoint's oldestMulti's DB: 1\n"
    "Latest checkpoint's oldestCommitTsXid:0\n"
    "Latest checkpoint's newestCommitTsXid:0\n"
    "Time of latest checkpoint:            Tue Dec  1 19:46:09 2026\n"
    "Fake LSN counter for unlogged rels:   0/3E8\n"
    "Minimum recovery ending location:     0/0\n"
    "Min recovery ending loc's timeline:   0\n"
    "Backup start location:                0/0\n"
    "Backup end location:                  0/0\n"
    "End-of-backup record required:        no\n"
    "wal_level setting:                    replica\n"
    "wal_log_hints setting:                off\n"
    "max_connections setting:              100\n"
    "max_worker_processes setting:         8\n"
    "max_wal_senders setting:              10\n"
    "max_prepared_xacts setting:           0\n"
    "max_locks_per_xact setting:           64\n"
    "track_commit_timestamp setting:       off\n"
    "Maximum data alignment:               8\n"
    "Database block size:                  8192\n"
    "Blocks per segment of large relation: 131072\n"
    "WAL block size:                       8192\n"
    "Bytes per WAL segment:                16777216\n"
    "Maximum length of identifiers:        64\n"
    "Maximum columns in an index:          32\n"
    "Maximum size of a TOAST chunk:        1996\n"
    "Size of a large-object chunk:         2048\n"
    "Date/time type storage:               64-bit integers\n"
    "Float8 argument passing:              by value\n"
    "Data page checksum version:           0\n"
    "Mock authentication nonce:            "
    "c6af7ca9e06103309e8ba3c9020ded0cc74fbc6551e1d91f0f15a70f02baec2f\n";

/*
 * @base with the line that starts with @key replaced by @line (NULL:
 * removed). The caller frees the result.
 */
static char *edit(const char *base, const char *key, const char *line)
{
    const char *at = strstr(base, key);
    assert_non_null(at);
    const char *end = strchr(at, '\n');
    assert_non_null(end);
    end++;
    return rg_asprintf("%.*s%s%s%s", (int)(at - base), base, line != NULL ? line : "",
                       line != NULL ? "\n" : "", end);
}

static int parse(const char *text, struct pgi_controldata *cd, char *errmsg)
{
    return pgi_controldata_parse(text, strlen(text), cd, errmsg);
}

static void test_parses_shut_down_cluster(void **state)
{
    struct pgi_controldata cd;
    char errmsg[RG_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(parse(shut_down, &cd, errmsg), 0);
    assert_string_equal(cd.sysid, "7714424257302543371");
    assert_int_equal(cd.state, PGI_DB_SHUT_DOWN);
    assert_string_equal(cd.state_text, "shut down");
    assert_true(cd.checkpoint_lsn == 0x1511A88);
    assert_true(cd.redo_lsn == 0x1511A88);
    assert_int_equal(cd.timeline, 1);
    assert_int_equal(cd.prev_timeline, 1);
    assert_true(cd.min_recovery_lsn == 0);
    assert_int_equal(cd.min_recovery_tli, 0);
    assert_false(cd.wal_log_hints);
    assert_int_equal(cd.data_checksum_version, 0);
    assert_string_equal(cd.wal_level, "replica");
    assert_int_equal(cd.max_connections, 100);
    assert_int_equal(cd.max_worker_processes, 8);
    assert_int_equal(cd.max_wal_senders, 10);
    assert_int_equal(cd.max_prepared_xacts, 0);
    assert_int_equal(cd.max_locks_per_xact, 64);
    assert_int_equal(cd.pg_control_version, 1300);
}

static void test_parses_cluster_in_production(void **state)
{
    struct pgi_controldata cd;
    char errmsg[RG_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(parse(in_production, &cd, errmsg), 0);
    assert_int_equal(cd.state, PGI_DB_IN_PRODUCTION);
    assert_string_equal(cd.state_text, "in production");
    assert_true(cd.checkpoint_lsn == 0x15C4508);
    assert_true(cd.redo_lsn == 0x15C44A0);
}

/* A standby on timeline 3, shut down cleanly, with settings changed. */
static void test_parses_standby_shut_down_in_recovery(void **state)
{
    static const char *const edits[][2] = {
        {"Database cluster state:", "Database cluster state:               shut down in recovery"},
        {"Latest checkpoint location:", "Latest checkpoint location:           16/B374D848"},
        {"Latest checkpoint's REDO location:", "Latest checkpoint's REDO location:    16/B374D810"},
        {"Latest checkpoint's TimeLineID:", "Latest checkpoint's TimeLineID:       3"},
        {"Latest checkpoint's PrevTimeLineID:", "Latest checkpoint's PrevTimeLineID:   2"},
        {"Minimum recovery ending location:", "Minimum recovery ending location:     16/B4000000"},
        {"Min recovery ending loc's timeline:", "Min recovery ending loc's timeline:   3"},
        {"wal_level setting:", "wal_level setting:                    logical"},
        {"wal_log_hints setting:", "wal_log_hints setting:                on"},
        {"max_connections setting:", "max_connections setting:              250"},
        {"Data page checksum version:", "Data page checksum version:           1"},
    };
    struct pgi_controldata cd;
    char errmsg[RG_ERRMSG_SIZE];
    char *text = rg_strdup(shut_down);
    (void)state;
    for (size_t i = 0; i < RG_ARRAY_SIZE(edits); i++) {
        char *t = edit(text, edits[i][0], edits[i][1]);
        rg_free(text);
        text = t;
    }
    assert_int_equal(parse(text, &cd, errmsg), 0);
    assert_int_equal(cd.state, PGI_DB_SHUT_DOWN_IN_RECOVERY);
    assert_string_equal(pgi_db_state_name(cd.state), "shut down in recovery");
    assert_true(cd.checkpoint_lsn == 0x16B374D848ull);
    assert_true(cd.redo_lsn == 0x16B374D810ull);
    assert_int_equal(cd.timeline, 3);
    assert_int_equal(cd.prev_timeline, 2);
    assert_true(cd.min_recovery_lsn == 0x16B4000000ull);
    assert_int_equal(cd.min_recovery_tli, 3);
    assert_string_equal(cd.wal_level, "logical");
    assert_true(cd.wal_log_hints);
    assert_int_equal(cd.max_connections, 250);
    assert_int_equal(cd.data_checksum_version, 1);
    rg_free(text);
}

static void test_maps_every_cluster_state(void **state)
{
    static const struct {
        const char *text;
        enum pgi_db_state s;
    } states[] = {
        {"starting up", PGI_DB_STARTING_UP},
        {"shut down", PGI_DB_SHUT_DOWN},
        {"shut down in recovery", PGI_DB_SHUT_DOWN_IN_RECOVERY},
        {"shutting down", PGI_DB_SHUTTING_DOWN},
        {"in crash recovery", PGI_DB_IN_CRASH_RECOVERY},
        {"in archive recovery", PGI_DB_IN_ARCHIVE_RECOVERY},
        {"in production", PGI_DB_IN_PRODUCTION},
        {"unrecognized status code", PGI_DB_UNKNOWN},
    };
    (void)state;
    for (size_t i = 0; i < RG_ARRAY_SIZE(states); i++) {
        struct pgi_controldata cd;
        char errmsg[RG_ERRMSG_SIZE];
        char line[128];
        snprintf(line, sizeof line, "Database cluster state:               %s", states[i].text);
        char *text = edit(shut_down, "Database cluster state:", line);
        assert_int_equal(parse(text, &cd, errmsg), 0);
        assert_int_equal(cd.state, states[i].s);
        assert_string_equal(cd.state_text, states[i].text);
        if (states[i].s != PGI_DB_UNKNOWN) {
            assert_string_equal(pgi_db_state_name(states[i].s), states[i].text);
        }
        rg_free(text);
    }
    assert_string_equal(pgi_db_state_name(PGI_DB_UNKNOWN), "unknown");
    assert_string_equal(pgi_db_state_name((enum pgi_db_state)99), "unknown");
}

static void test_accepts_crlf_and_no_final_newline(void **state)
{
    struct pgi_controldata cd, ref;
    char errmsg[RG_ERRMSG_SIZE];
    size_t n = 0;
    char *crlf = rg_malloc(2 * sizeof shut_down);
    (void)state;
    for (const char *p = shut_down; *p != '\0'; p++) {
        if (*p == '\n') {
            crlf[n++] = '\r';
        }
        crlf[n++] = *p;
    }
    assert_int_equal(pgi_controldata_parse(crlf, n, &cd, errmsg), 0);
    assert_int_equal(parse(shut_down, &ref, errmsg), 0);
    assert_memory_equal(&cd, &ref, sizeof cd);
    /* Without the last "\n" (and so without the final line's end). */
    assert_int_equal(pgi_controldata_parse(shut_down, strlen(shut_down) - 1, &cd, errmsg), 0);
    assert_memory_equal(&cd, &ref, sizeof cd);
    rg_free(crlf);
}

static void test_ignores_unknown_lines(void **state)
{
    struct pgi_controldata cd;
    char errmsg[RG_ERRMSG_SIZE];
    (void)state;
    char *text = rg_asprintf("no colon here\n\n:\nFuture field of PostgreSQL 99: yes\n"
                             "   Database system identifier: 1\n%s",
                             shut_down);
    assert_int_equal(parse(text, &cd, errmsg), 0);
    assert_string_equal(cd.sysid, "7714424257302543371");
    rg_free(text);
}

/* A field given twice keeps its last value. */
static void test_last_duplicate_wins(void **state)
{
    struct pgi_controldata cd;
    char errmsg[RG_ERRMSG_SIZE];
    (void)state;
    char *text = rg_asprintf("%sLatest checkpoint's TimeLineID: 7\n", shut_down);
    assert_int_equal(parse(text, &cd, errmsg), 0);
    assert_int_equal(cd.timeline, 7);
    rg_free(text);
}

static void test_missing_field_is_named(void **state)
{
    static const char *const keys[] = {
        "pg_control version number",
        "Database system identifier",
        "Database cluster state",
        "Latest checkpoint location",
        "Latest checkpoint's REDO location",
        "Latest checkpoint's TimeLineID",
        "Latest checkpoint's PrevTimeLineID",
        "Minimum recovery ending location",
        "Min recovery ending loc's timeline",
        "wal_level setting",
        "wal_log_hints setting",
        "max_connections setting",
        "max_worker_processes setting",
        "max_wal_senders setting",
        "max_prepared_xacts setting",
        "max_locks_per_xact setting",
        "Data page checksum version",
    };
    (void)state;
    for (size_t i = 0; i < RG_ARRAY_SIZE(keys); i++) {
        struct pgi_controldata cd;
        char errmsg[RG_ERRMSG_SIZE], key[80], want[128];
        snprintf(key, sizeof key, "%s:", keys[i]);
        snprintf(want, sizeof want, "missing \"%s\"", keys[i]);
        char *text = edit(shut_down, key, NULL);
        assert_int_equal(parse(text, &cd, errmsg), RG_EPARSE);
        assert_string_equal(errmsg, want);
        rg_free(text);
    }
}

static void test_bad_values_are_named(void **state)
{
    static const struct {
        const char *key, *line, *errmsg;
    } bad[] = {
        {"Latest checkpoint location:", "Latest checkpoint location: zz",
         "invalid \"Latest checkpoint location\": \"zz\""},
        {"Latest checkpoint location:", "Latest checkpoint location: 0/",
         "invalid \"Latest checkpoint location\": \"0/\""},
        {"Latest checkpoint location:", "Latest checkpoint location: 123456789/0",
         "invalid \"Latest checkpoint location\": \"123456789/0\""},
        {"Latest checkpoint location:", "Latest checkpoint location: 0/1 2",
         "invalid \"Latest checkpoint location\": \"0/1 2\""},
        {"Latest checkpoint location:", "Latest checkpoint location:",
         "invalid \"Latest checkpoint location\": \"\""},
        {"Latest checkpoint's TimeLineID:", "Latest checkpoint's TimeLineID: -1",
         "invalid \"Latest checkpoint's TimeLineID\": \"-1\""},
        {"Latest checkpoint's TimeLineID:", "Latest checkpoint's TimeLineID: 4294967296",
         "invalid \"Latest checkpoint's TimeLineID\": \"4294967296\""},
        {"max_connections setting:", "max_connections setting: 10x",
         "invalid \"max_connections setting\": \"10x\""},
        {"wal_log_hints setting:", "wal_log_hints setting: maybe",
         "invalid \"wal_log_hints setting\": \"maybe\""},
        {"Database system identifier:", "Database system identifier: 12ab",
         "invalid \"Database system identifier\": \"12ab\""},
        {"Database system identifier:", "Database system identifier: 18446744073709551616",
         "invalid \"Database system identifier\": \"18446744073709551616\""},
        {"wal_level setting:", "wal_level setting: abcdefghijklmnopqrstuvwxyzabcdefghij",
         "invalid \"wal_level setting\": \"abcdefghijklmnopqrstuvwxyzabcdefghij\""},
        {"Database cluster state:", "Database cluster state:",
         "invalid \"Database cluster state\": \"\""},
    };
    (void)state;
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        struct pgi_controldata cd;
        char errmsg[RG_ERRMSG_SIZE];
        char *text = edit(shut_down, bad[i].key, bad[i].line);
        assert_int_equal(parse(text, &cd, errmsg), RG_EPARSE);
        assert_string_equal(errmsg, bad[i].errmsg);
        rg_free(text);
    }
}

static void test_malformed_input_never_crashes(void **state)
{
    struct pgi_controldata cd;
    char errmsg[RG_ERRMSG_SIZE];
    char garbage[4096];
    (void)state;
    assert_int_equal(pgi_controldata_parse(NULL, 0, &cd, errmsg), RG_EPARSE);
    assert_string_equal(errmsg, "missing \"pg_control version number\"");
    assert_int_equal(pgi_controldata_parse("", 0, &cd, errmsg), RG_EPARSE);

    /* A NUL inside a value is malformed, and is not quoted. */
    char *text = rg_strdup(shut_down);
    char *v = strstr(text, "0/1511A88");
    v[1] = '\0';
    assert_int_equal(pgi_controldata_parse(text, strlen(shut_down), &cd, errmsg), RG_EPARSE);
    assert_string_equal(errmsg, "invalid \"Latest checkpoint location\": \"\"");
    rg_free(text);

    /* A very long value. */
    char *longv = rg_malloc(10000);
    memset(longv, '7', 9999);
    longv[9999] = '\0';
    char *line = rg_asprintf("max_connections setting: %s", longv);
    text = edit(shut_down, "max_connections setting:", line);
    assert_int_equal(parse(text, &cd, errmsg), RG_EPARSE);
    assert_non_null(strstr(errmsg, "invalid \"max_connections setting\""));
    rg_free(text);
    rg_free(line);
    rg_free(longv);

    /* Prefixes of the real output: no crash, and an error until the last
     * field we need ("Data page checksum version") is there. */
    size_t last = (size_t)(strstr(shut_down, "Data page checksum version") - shut_down);
    for (size_t n = 0; n < strlen(shut_down); n += 7) {
        int rc = pgi_controldata_parse(shut_down, n, &cd, errmsg);
        assert_true(rc == 0 || rc == RG_EPARSE);
        assert_true(rc != 0 || n > last);
    }

    /* Pseudo-random bytes, some of them colons and newlines. */
    unsigned seed = 1;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof garbage; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned b = (seed >> 16) & 0xff;
            garbage[i] = b < 20 ? ':' : b < 40 ? '\n' : (char)b;
        }
        assert_int_equal(pgi_controldata_parse(garbage, sizeof garbage, &cd, errmsg), RG_EPARSE);
    }
}

static void test_lsn_round_trips(void **state)
{
    static const struct {
        const char *text;
        uint64_t value;
    } lsns[] = {
        {"0/0", 0},
        {"FFFFFFFF/FFFFFFFF", UINT64_MAX},
        {"16/B374D848", 0x16B374D848ull},
        {"0/1511A88", 0x1511A88},
        {"1/0", 0x100000000ull},
        {"0/FFFFFFFF", 0xFFFFFFFFull},
    };
    (void)state;
    for (size_t i = 0; i < RG_ARRAY_SIZE(lsns); i++) {
        uint64_t v = 1;
        char buf[24];
        assert_int_equal(pgi_lsn_parse(lsns[i].text, &v), 0);
        assert_true(v == lsns[i].value);
        pgi_lsn_format(v, buf, sizeof buf);
        assert_string_equal(buf, lsns[i].text);
    }
    uint64_t v;
    assert_int_equal(pgi_lsn_parse("16/b374d848", &v), 0);
    assert_true(v == 0x16B374D848ull);
    assert_int_equal(pgi_lsn_parse("00000000/00000001", &v), 0);
    assert_true(v == 1);
}

static void test_lsn_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "",     "/",    "0",     "0/",          "/0",          "0/0/0", " 0/0", "0/0 ", "+0/0",
        "-1/0", "0/-1", "0x1/0", "100000000/0", "0/100000000", "G/0",   "0/1G", "0//0", "0:0",
    };
    (void)state;
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        uint64_t v = 42;
        assert_int_equal(pgi_lsn_parse(bad[i], &v), RG_EPARSE);
        assert_true(v == 42);
    }
    uint64_t v;
    assert_int_equal(pgi_lsn_parse(NULL, &v), RG_EPARSE);

    char small[4];
    pgi_lsn_format(UINT64_MAX, small, sizeof small);
    assert_string_equal(small, "FFF"); /* truncated, still terminated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_shut_down_cluster),
        cmocka_unit_test(test_parses_cluster_in_production),
        cmocka_unit_test(test_parses_standby_shut_down_in_recovery),
        cmocka_unit_test(test_maps_every_cluster_state),
        cmocka_unit_test(test_accepts_crlf_and_no_final_newline),
        cmocka_unit_test(test_ignores_unknown_lines),
        cmocka_unit_test(test_last_duplicate_wins),
        cmocka_unit_test(test_missing_field_is_named),
        cmocka_unit_test(test_bad_values_are_named),
        cmocka_unit_test(test_malformed_input_never_crashes),
        cmocka_unit_test(test_lsn_round_trips),
        cmocka_unit_test(test_lsn_rejects_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
