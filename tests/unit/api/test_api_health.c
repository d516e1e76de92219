/*
 * Unit tests for api_health: Patroni's health-check codes for every path on
 * every kind of node (one table row per node and query: the expected codes
 * of all 18 routed paths in a row), tag filters and their value rendering,
 * ?lag= sizes, readiness, the /patroni and /history documents, query-string
 * decoding, and a few thousand generated queries that must never crash.
 *
 * The expected codes were worked out by hand from spec/patroni-compat.md 1.2
 * and Patroni's api.py do_GET, not from the code under test.
 */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <stdio.h>
#include <string.h>

#include "agent/rg.h"
#include "api/api_health.h"

#define MB  (1024u * 1024u)
#define LSN 0x5000000u

/* --- nodes ------------------------------------------------------------------- */

enum node {
    N_PRIMARY,               /* holds the lease, running primary */
    N_PRIMARY_NOLEASE,       /* running primary, lease elsewhere */
    N_REPLICA,               /* streaming, caught up; tags of every kind */
    N_REPLICA_LAG,           /* streaming, 20 MB behind the leader */
    N_REPLICA_NOLB,          /* noloadbalance: true */
    N_REPLICA_NOLB_STR,      /* noloadbalance: "false" (a string: truthy) */
    N_REPLICA_PRIO,          /* nofailover/nosync false next to their priorities */
    N_REPLICA_NOVIEW,        /* no store view; a stale optime 20 MB ahead */
    N_REPLICA_NOVIEW_RECV,   /* no store view; the receiver says 20 MB behind */
    N_ARCHIVE,               /* replica restoring from archive */
    N_STANDBY_LEADER,        /* standby cluster, holds the lease */
    N_SC_REPLICA,            /* standby cluster, replica */
    N_SC_LEASE_REPLICA,      /* standby cluster, holds the lease, still "replica" */
    N_PAUSED_NOVIEW_PRIMARY, /* paused, no view, live role primary */
    N_PAUSED_NOVIEW_REPLICA, /* paused, no view, replica */
    N_PAUSED_NOVIEW_STOPPED, /* paused, no view, PostgreSQL stopped, was primary */
    N_STOPPED_LEASE,         /* holds the lease, PostgreSQL stopped */
    N_CRASHED_LEASE,         /* holds the lease, PostgreSQL crashed */
    N_RUNNING_UNKNOWN,       /* "running" but the status query failed */
    N_SYNC,                  /* synchronous standby */
    N_QUORUM,                /* quorum standby */
    N_SYNC_NOVIEW,           /* listed as sync, but no store view */
    N_MASTER,                /* role given as "master" */
};

static cJSON *t_replica, *t_nolb, *t_nolb_str, *t_prio, *t_primary, *replication;

static const char *const paths[] = {
    "/",
    "/primary",
    "/master",
    "/read-write",
    "/leader",
    "/standby-leader",
    "/standby_leader",
    "/replica",
    "/read-only",
    "/health",
    "/sync",
    "/synchronous",
    "/quorum",
    "/async",
    "/asynchronous",
    "/read-only-sync",
    "/read-only-synchronous",
    "/read-only-quorum",
};

static void fill(enum node n, struct api_node_status *st)
{
    memset(st, 0, sizeof *st);
    st->have_view = true;
    st->state = "running";
    st->role = "replica";
    st->server_version = 150004;
    st->postmaster_start_time = "2024-08-28 19:39:26.352526+00:00";
    st->timeline = 3;
    st->has_xlog = true;
    st->received_lsn = LSN;
    st->replayed_lsn = LSN;
    st->replication_state = "streaming";
    st->latest_end_lsn = LSN;
    st->has_leader_optime = true;
    st->leader_optime = LSN;
    st->dcs_last_seen = 1692356928;
    st->tags = t_replica;
    st->sysid = "7268616322854375442";
    st->maximum_lag_on_failover = MB;
    st->scope = "demo";
    st->name = "node2";
    st->version = "0.1.0";
    st->lease_epoch = 7;
    st->lease_ms_left = -1;

    switch (n) {
    case N_MASTER:
    case N_PRIMARY:
    case N_PRIMARY_NOLEASE:
    case N_STOPPED_LEASE:
    case N_CRASHED_LEASE:
        st->holds_lease = n != N_PRIMARY_NOLEASE;
        st->lease_ms_left = st->holds_lease ? 1840 : -1;
        st->role = n == N_MASTER ? "master" : "primary";
        st->tags = t_primary;
        st->name = "node1";
        st->wal_lsn = LSN;
        st->received_lsn = st->replayed_lsn = st->latest_end_lsn = 0;
        st->replication_state = NULL;
        st->replication = replication;
        if (n == N_STOPPED_LEASE || n == N_CRASHED_LEASE) {
            st->state = n == N_STOPPED_LEASE ? "stopped" : "crashed";
            st->has_xlog = false;
        }
        break;
    case N_REPLICA:
        break;
    case N_REPLICA_LAG:
        st->received_lsn = st->replayed_lsn = st->latest_end_lsn = LSN - 20 * MB;
        break;
    case N_REPLICA_NOLB:
        st->tags = t_nolb;
        break;
    case N_REPLICA_NOLB_STR:
        st->tags = t_nolb_str;
        break;
    case N_REPLICA_PRIO:
        st->tags = t_prio;
        break;
    case N_REPLICA_NOVIEW:
        st->have_view = false;
        st->leader_optime = LSN + 20 * MB; /* stale: must not count */
        st->latest_end_lsn = 0;
        break;
    case N_REPLICA_NOVIEW_RECV:
        st->have_view = false;
        st->latest_end_lsn = LSN + 20 * MB;
        break;
    case N_ARCHIVE:
        st->replication_state = "in archive recovery";
        break;
    case N_STANDBY_LEADER:
    case N_SC_LEASE_REPLICA:
        st->holds_lease = true;
        st->lease_ms_left = 1500;
        st->standby_cluster = true;
        st->role = n == N_STANDBY_LEADER ? "standby_leader" : "replica";
        break;
    case N_SC_REPLICA:
        st->standby_cluster = true;
        break;
    case N_PAUSED_NOVIEW_PRIMARY:
    case N_PAUSED_NOVIEW_REPLICA:
    case N_PAUSED_NOVIEW_STOPPED:
        st->paused = true;
        st->have_view = false;
        st->tags = NULL;
        if (n != N_PAUSED_NOVIEW_REPLICA) {
            st->role = "primary";
            st->wal_lsn = LSN;
            st->replication_state = NULL;
        }
        if (n == N_PAUSED_NOVIEW_STOPPED) {
            st->state = "stopped";
            st->has_xlog = false;
        }
        break;
    case N_RUNNING_UNKNOWN:
        st->has_xlog = false;
        break;
    case N_SYNC:
    case N_SYNC_NOVIEW:
        st->sync_standby = true;
        st->have_view = n == N_SYNC;
        break;
    case N_QUORUM:
        st->quorum_standby = true;
        break;
    }
}

static int setup(void **state)
{
    (void)state;
    t_replica = cJSON_Parse("{\"dc\":\"east\",\"nofailover\":false,\"prio\":1,\"w\":1.5,"
                            "\"flag\":true,\"big\":1.5e17,\"huge\":1e16,\"vast\":1e22,"
                            "\"small\":0.00001,\"tenth\":0.1,\"odd\":123456.789,"
                            "\"list\":[\"a\",1,true,null],\"obj\":{\"k\":\"it's\"},"
                            "\"nothing\":null,\"s\":\"ea st\",\"neg\":-2,"
                            "\"noloadbalance\":false,\"clonefrom\":0}");
    t_nolb = cJSON_Parse("{\"noloadbalance\":true,\"dc\":\"east\"}");
    t_nolb_str = cJSON_Parse("{\"noloadbalance\":\"false\"}");
    t_prio = cJSON_Parse("{\"nofailover\":false,\"failover_priority\":1,\"nosync\":false,"
                         "\"sync_priority\":0,\"nostream\":false}");
    t_primary = cJSON_Parse("{\"clonefrom\":false,\"dc\":\"east\"}");
    replication = cJSON_Parse("[{\"usename\":\"replicator\",\"application_name\":\"node2\","
                              "\"client_addr\":\"10.0.0.2\",\"state\":\"streaming\","
                              "\"sync_state\":\"async\",\"sync_priority\":0}]");
    return t_replica && t_nolb && t_nolb_str && t_prio && t_primary && replication ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cJSON_Delete(t_replica);
    cJSON_Delete(t_nolb);
    cJSON_Delete(t_nolb_str);
    cJSON_Delete(t_prio);
    cJSON_Delete(t_primary);
    cJSON_Delete(replication);
    return 0;
}

/* --- the path × node matrix ---------------------------------------------------- */

/* '2' = 200, '5' = 503, one per entry of paths[] in order:
 *   /  prim mast r-w  lead s-l  s_l  repl r-o  hlth sync syn. quor asyn asy. ros  ross roq */
static const struct {
    enum node node;
    const char *query;
    const char *codes;
} matrix[] = {
    {N_PRIMARY, "", "222225552255555222"},
    {N_PRIMARY, "lag=1", "222225552255555222"},
    {N_MASTER, "", "222225552255555222"},
    {N_PRIMARY_NOLEASE, "", "555555555255555555"},
    {N_REPLICA, "", "555555522255522555"},
    {N_REPLICA, "lag=0", "555555522255522555"},
    {N_REPLICA, "replication_state=streaming", "555555522255522555"},
    {N_REPLICA_LAG, "", "555555522255522555"},
    {N_REPLICA_LAG, "lag=10MB", "555555555255555555"},
    {N_REPLICA_LAG, "lag=30MB", "555555522255522555"},
    {N_REPLICA_LAG, "lag=20971520", "555555522255522555"}, /* exactly 20 MB: not more */
    {N_REPLICA_LAG, "lag=20971519", "555555555255555555"},
    {N_REPLICA_LAG, "lag=20480kB", "555555522255522555"},
    {N_REPLICA_LAG, "lag=19MB", "555555555255555555"},
    {N_REPLICA_LAG, "lag=10KB", "555555522255522555"}, /* unparsable: no limit */
    {N_REPLICA_LAG, "lag=garbage", "555555522255522555"},
    {N_REPLICA_LAG, "lag=", "555555522255522555"},
    {N_REPLICA_LAG, "lag=10+MB", "555555555255555555"}, /* "10 MB" */
    {N_REPLICA_LAG, "lag=1e400", "555555555555555555"}, /* Patroni raises */
    {N_PRIMARY, "lag=1e400", "555555555555555555"},
    {N_REPLICA_NOVIEW, "lag=10MB", "555555522255555555"},
    {N_REPLICA_NOVIEW_RECV, "lag=10MB", "555555555255555555"},
    {N_REPLICA_NOVIEW_RECV, "lag=30MB", "555555522255555555"},
    {N_REPLICA_NOLB, "", "555555555255555555"},
    {N_REPLICA_NOLB_STR, "", "555555555255555555"},
    {N_REPLICA_PRIO, "", "555555522255522555"},
    {N_ARCHIVE, "", "555555522255522555"},
    {N_ARCHIVE, "replication_state=streaming", "555555555255555555"},
    {N_ARCHIVE, "replication_state=in+archive+recovery", "555555522255522555"},
    {N_STANDBY_LEADER, "", "555522252255555222"},
    {N_SC_REPLICA, "", "555555522255522555"},
    {N_SC_LEASE_REPLICA, "", "555522252255555222"},
    {N_PAUSED_NOVIEW_PRIMARY, "", "222225552255555555"},
    {N_PAUSED_NOVIEW_REPLICA, "", "555555522255555555"},
    {N_PAUSED_NOVIEW_STOPPED, "", "222225552555555555"},
    {N_STOPPED_LEASE, "", "222225552555555222"},
    {N_CRASHED_LEASE, "", "222225552555555222"},
    {N_RUNNING_UNKNOWN, "", "555555555555555555"},
    {N_SYNC, "", "555555522222555225"},
    {N_SYNC, "lag=-1", "555555555255555555"}, /* 0 > -1: lagging */
    {N_QUORUM, "", "555555522255255552"},
    {N_SYNC_NOVIEW, "", "555555522255555555"},
};

static void test_every_path_on_every_node(void **state)
{
    (void)state;
    for (size_t i = 0; i < RG_ARRAY_SIZE(matrix); i++) {
        struct api_node_status st;
        fill(matrix[i].node, &st);
        for (size_t p = 0; p < RG_ARRAY_SIZE(paths); p++) {
            int want = matrix[i].codes[p] == '2' ? 200 : 503;
            int got = api_health_code(paths[p], matrix[i].query, &st);
            if (got != want) {
                print_error("row %zu (node %d, ?%s): %s gave %d, want %d\n", i, (int)matrix[i].node,
                            matrix[i].query, paths[p], got, want);
            }
            assert_int_equal(got, want);
        }
    }
}

/* --- single checks: tags, odd paths --------------------------------------------- */

static const struct {
    enum node node;
    const char *path;
    const char *query;
    int code;
} cases[] = {
    /* tag filters */
    {N_REPLICA, "/replica", "tag_dc=east", 200},
    {N_REPLICA, "/replica", "tag_dc=west", 503},
    {N_REPLICA, "/replica", "tag_dc=East", 503},
    {N_REPLICA, "/replica", "tag_nofailover=false", 503}, /* dropped as false */
    {N_REPLICA, "/replica", "tag_noloadbalance=false", 503},
    {N_REPLICA, "/replica", "tag_clonefrom=0", 503},
    {N_REPLICA, "/replica", "tag_missing=x", 503},
    {N_REPLICA, "/replica", "tag_prio=1", 200},
    {N_REPLICA, "/replica", "tag_prio=1.0", 503},
    {N_REPLICA, "/replica", "tag_w=1.5", 200},
    {N_REPLICA, "/replica", "tag_flag=true", 200},
    {N_REPLICA, "/replica", "tag_flag=True", 503},
    {N_REPLICA, "/replica", "tag_flag=1", 503},
    /* integral numbers render as integers (Python: a float 1.5e17 is "1.5e+17") */
    {N_REPLICA, "/replica", "tag_big=150000000000000000", 200},
    {N_REPLICA, "/replica", "tag_huge=10000000000000000", 200},
    {N_REPLICA, "/replica", "tag_vast=1e%2B22", 200},
    {N_REPLICA, "/replica", "tag_small=1e-05", 200},
    {N_REPLICA, "/replica", "tag_tenth=0.1", 200},
    {N_REPLICA, "/replica", "tag_odd=123456.789", 200},
    {N_REPLICA, "/replica", "tag_neg=-2", 200},
    {N_REPLICA, "/replica", "tag_list=%5B%27a%27%2C+1%2C+true%2C+none%5D", 200},
    {N_REPLICA, "/replica", "tag_obj=%7B%27k%27%3A+%22it%27s%22%7D", 200},
    {N_REPLICA, "/replica", "tag_nothing=none", 503},
    {N_REPLICA, "/replica", "tag_s=ea+st", 200},
    {N_REPLICA, "/replica", "tag_s=ea%20st", 200},
    {N_REPLICA, "/replica", "tag_dc=e%61st", 200},
    {N_REPLICA, "/replica", "tag%5Fdc=east", 200},
    {N_REPLICA, "/replica", "tag_dc=east&tag_prio=1&lag=1MB", 200},
    {N_REPLICA, "/replica", "tag_dc=east&tag_prio=2", 503},
    {N_REPLICA, "/replica", "tag_dc=east&tag_dc=west", 200}, /* the first value counts */
    {N_REPLICA, "/replica", "tag_dc=west&tag_dc=east", 503},
    {N_REPLICA, "/replica", "tag_dc=", 200}, /* parse_qs drops blank values */
    {N_REPLICA, "/replica", "tag_dc", 200},
    {N_REPLICA, "/replica", "tag_dc=east%00", 503},
    {N_REPLICA, "/replica", "tag_d%00c=east", 503},
    {N_REPLICA, "/replica", "tag_=x", 503},
    {N_REPLICA, "/replica", "tag_dc=west#", 503},
    {N_REPLICA, "/replica", "#tag_dc=west", 200}, /* a fragment */
    {N_REPLICA, "/read-only", "tag_dc=west", 503},
    {N_REPLICA, "/health", "tag_dc=west", 503},
    {N_REPLICA, "/health", "tag_dc=east", 200},
    {N_REPLICA, "/async", "tag_dc=east", 200},
    {N_REPLICA, "/async", "tag_dc=west", 503},
    {N_REPLICA_PRIO, "/replica", "tag_nofailover=false", 200},
    {N_REPLICA_PRIO, "/replica", "tag_nosync=false", 200},
    {N_REPLICA_PRIO, "/replica", "tag_nostream=false", 503},
    {N_REPLICA_PRIO, "/replica", "tag_sync_priority=0", 200},
    {N_REPLICA_NOLB, "/health", "", 200},
    {N_REPLICA_NOLB, "/health", "tag_noloadbalance=true", 200},
    {N_REPLICA_NOLB_STR, "/health", "tag_noloadbalance=false", 200},
    {N_PRIMARY, "/primary", "tag_dc=west", 200}, /* leader-style: tags ignored */
    {N_PRIMARY, "/", "tag_x=y", 200},
    {N_PRIMARY, "/leader", "tag_x=y", 200},
    {N_PRIMARY, "/read-only", "tag_x=y", 503}, /* applied to the primary too */
    {N_PRIMARY, "/read-only", "tag_dc=east", 200},
    {N_PRIMARY, "/read-only", "tag_clonefrom=false", 503},
    {N_PRIMARY, "/read-only-sync", "tag_x=y", 503},
    {N_PRIMARY, "/health", "tag_x=y", 503},
    {N_STANDBY_LEADER, "/standby-leader", "tag_x=y", 200},
    {N_STANDBY_LEADER, "/read-only", "tag_x=y", 503},
    {N_SYNC, "/sync", "tag_dc=east", 200},
    {N_SYNC, "/sync", "tag_dc=west", 503},
    /* paths as Patroni reads them */
    {N_REPLICA, "/replicas", "", 200},
    {N_REPLICA, "//replica", "", 200},
    {N_REPLICA, "/replica;x", "", 200},
    {N_REPLICA, "/replica#x", "tag_dc=west", 200},
    {N_REPLICA, "/healthy", "", 200},
    {N_SYNC, "/sync;v=1", "", 200},
    {N_PRIMARY, "/primary/foo", "", 200},
    {N_PRIMARY, "/mastery", "", 200},
    {N_PRIMARY, "//", "", 200},
    {N_PRIMARY, "/;x", "", 200},
    {N_PRIMARY, "/x/leader", "", 200},
    {N_STANDBY_LEADER, "/standby_leader/x", "", 200},
    {N_REPLICA, "/foo", "", 0},
    {N_REPLICA, "/sync/", "", 0},
    {N_PRIMARY, "/read-only-sync/", "", 0},
    {N_REPLICA, "/patroni", "", 0},
    {N_REPLICA, "/liveness", "", 0},
    {N_REPLICA, "", "", 0},
    {N_REPLICA, "/replica", NULL, 200},
};

static void test_single_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        struct api_node_status st;
        fill(cases[i].node, &st);
        int got = api_health_code(cases[i].path, cases[i].query, &st);
        if (got != cases[i].code) {
            print_error("case %zu: %s?%s gave %d, want %d\n", i, cases[i].path,
                        cases[i].query ? cases[i].query : "(null)", got, cases[i].code);
        }
        assert_int_equal(got, cases[i].code);
    }
}

static void test_router_paths(void **state)
{
    (void)state;
    for (size_t p = 0; p < RG_ARRAY_SIZE(paths); p++) {
        assert_true(api_health_path(paths[p]));
    }
    const char *no[] = {"/replicas",  "//replica", "/replica/", "/patroni", "/liveness",
                        "/readiness", "/foo",      "",          "/Primary", "/health?x"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(no); i++) {
        assert_false(api_health_path(no[i]));
    }
    assert_false(api_health_path(NULL));
}

/* --- sizes ---------------------------------------------------------------------- */

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        uint64_t out;
    } t[] = {
        {"123", 0, 123},
        {"0", 0, 0},
        {"10MB", 0, 10485760},
        {"16kB", 0, 16384},
        {"5B", 0, 5},
        {"1GB", 0, 1073741824},
        {"1TB", 0, 1099511627776},
        {" 10 MB ", 0, 10485760},
        {"\t16kB\n", 0, 16384},
        {"+7", 0, 7},
        {"-0", 0, 0},
        {"0x10", 0, 16},
        {"0x1F", 0, 31},
        {"010", 0, 8}, /* octal, as strtol */
        {"1.5kB", 0, 1536},
        {".5kB", 0, 512},
        {"0.3MB", 0, 314368}, /* rounded to whole kB, as Patroni */
        {"1.5", 0, 2},        /* half to even */
        {"2.5", 0, 2},
        {"3.5", 0, 4},
        {"1e3", 0, 1000},
        {"1.5e3B", 0, 1500},
        {"18446744073709551615", 0, UINT64_MAX},
        {"16777215TB", 0, UINT64_MAX - 1099511627775u},
        {"16KB", RG_EINVAL, 0}, /* units are case-sensitive */
        {"16kb", RG_EINVAL, 0},
        {"16mB", RG_EINVAL, 0},
        {"10 M B", RG_EINVAL, 0},
        {"10MB junk", RG_EINVAL, 0},
        {"MB", RG_EINVAL, 0},
        {"", RG_EINVAL, 0},
        {"   ", RG_EINVAL, 0},
        {"abc", RG_EINVAL, 0},
        {"08", RG_EINVAL, 0}, /* "0" then unit "8" */
        {"0x", RG_EINVAL, 0},
        {"1.", RG_EINVAL, 0},
        {"1e", RG_EINVAL, 0},
        {"-.5", RG_EINVAL, 0},
        {"-1", RG_EINVAL, 0},
        {"-1MB", RG_EINVAL, 0},
        {"18446744073709551616", RG_EINVAL, 0},
        {"99999999999999999999999999", RG_EINVAL, 0},
        {"16777216TB", RG_EINVAL, 0},
        {"1e400", RG_EINVAL, 0},
        {"1e308TB", RG_EINVAL, 0},
        {"nan", RG_EINVAL, 0},
        {"inf", RG_EINVAL, 0},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(t); i++) {
        uint64_t v = 42;
        int rc = api_parse_size(t[i].in, &v);
        if (rc != t[i].rc || (rc == 0 && v != t[i].out)) {
            print_error("\"%s\": rc %d value %llu\n", t[i].in, rc, (unsigned long long)v);
        }
        assert_int_equal(rc, t[i].rc);
        if (rc == 0) {
            assert_true(v == t[i].out);
        } else {
            assert_true(v == 42);
        }
    }
    uint64_t v;
    assert_int_equal(api_parse_size(NULL, &v), RG_EINVAL);
}

/* --- readiness ------------------------------------------------------------------ */

static void test_readiness(void **state)
{
    (void)state;
    struct api_node_status st;
    fill(N_STOPPED_LEASE, &st);
    assert_int_equal(api_readiness_code("", &st), 200); /* L: ready whatever PG does */
    fill(N_PRIMARY_NOLEASE, &st);
    assert_int_equal(api_readiness_code("", &st), 503); /* not streaming */
    fill(N_REPLICA, &st);
    assert_int_equal(api_readiness_code("", &st), 200);
    assert_int_equal(api_readiness_code(NULL, &st), 200);
    assert_int_equal(api_readiness_code("lag=-1", &st), 503);
    st.maximum_lag_on_failover = 0;
    assert_int_equal(api_readiness_code("", &st), 200);

    fill(N_REPLICA_LAG, &st); /* 20 MB behind, limit 1 MB */
    assert_int_equal(api_readiness_code("", &st), 503);
    assert_int_equal(api_readiness_code("lag=30MB", &st), 200);
    assert_int_equal(api_readiness_code("lag=20MB", &st), 200);
    assert_int_equal(api_readiness_code("lag=10MB", &st), 503);
    assert_int_equal(api_readiness_code("lag=junk", &st), 503); /* falls back to 1 MB */
    st.maximum_lag_on_failover = 25 * MB;
    assert_int_equal(api_readiness_code("lag=junk", &st), 200);
    assert_int_equal(api_readiness_code("lag=1e400", &st), 503);

    /* ?mode=write reads the received position. */
    fill(N_REPLICA_LAG, &st);
    st.received_lsn = LSN;
    assert_int_equal(api_readiness_code("", &st), 503);
    assert_int_equal(api_readiness_code("mode=apply", &st), 503);
    assert_int_equal(api_readiness_code("mode=write", &st), 200);
    assert_int_equal(api_readiness_code("mode=WRITE", &st), 503);
    assert_int_equal(api_readiness_code("mode=write%00", &st), 503);
    /* received 0: Patroni shows (and compares) the replayed position */
    st.received_lsn = 0;
    assert_int_equal(api_readiness_code("mode=write", &st), 503);

    fill(N_ARCHIVE, &st);
    assert_int_equal(api_readiness_code("", &st), 503);
    fill(N_RUNNING_UNKNOWN, &st);
    assert_int_equal(api_readiness_code("", &st), 503);
    fill(N_REPLICA, &st);
    st.state = "starting";
    assert_int_equal(api_readiness_code("", &st), 503);
    st.state = NULL;
    assert_int_equal(api_readiness_code("", &st), 503);

    /* Without a view the store's optime is stale: only the receiver counts. */
    fill(N_REPLICA_NOVIEW, &st);
    assert_int_equal(api_readiness_code("", &st), 503); /* no latest_end_lsn */
    st.latest_end_lsn = LSN;
    assert_int_equal(api_readiness_code("", &st), 200);
    fill(N_REPLICA_NOVIEW_RECV, &st);
    assert_int_equal(api_readiness_code("", &st), 503);
    assert_int_equal(api_readiness_code("lag=20MB", &st), 200);
    /* With a view, the larger of the two. */
    fill(N_REPLICA, &st);
    st.latest_end_lsn = LSN + 2 * MB;
    assert_int_equal(api_readiness_code("", &st), 503);
    st.latest_end_lsn = 0;
    st.leader_optime = LSN + 2 * MB;
    assert_int_equal(api_readiness_code("", &st), 503);
    st.has_leader_optime = false;
    assert_int_equal(api_readiness_code("", &st), 200);
}

/* A negative ?lag= (Python ints are signed) against a replica that is ahead of
 * the leader's last reported position: lag -100 exceeds -200, not -50. */
static void test_negative_lag_replica_ahead(void **state)
{
    (void)state;
    struct api_node_status st;
    fill(N_REPLICA, &st);
    st.leader_optime = st.latest_end_lsn = LSN - 100;
    assert_int_equal(api_health_code("/replica", "lag=-200", &st), 503);
    assert_int_equal(api_health_code("/replica", "lag=-100", &st), 200);
    assert_int_equal(api_health_code("/replica", "lag=-50", &st), 200);
    assert_int_equal(api_health_code("/replica", "lag=-99999999999999999999999", &st), 503);
    assert_int_equal(api_health_code("/replica", "lag=99999999999999999999999", &st), 200);
    assert_int_equal(api_readiness_code("lag=-200", &st), 503);
    assert_int_equal(api_readiness_code("lag=-50", &st), 200);
    assert_int_equal(api_readiness_code("", &st), 200);
    /* No leader position at all: never lagging, whatever the limit. */
    st.leader_optime = st.latest_end_lsn = 0;
    assert_int_equal(api_health_code("/replica", "lag=-200", &st), 200);
}

/* --- /patroni ------------------------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *v = o;
    for (char *save, *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        v = cJSON_GetObjectItemCaseSensitive(v, k);
    }
    return v;
}

static void assert_str(const cJSON *o, const char *path, const char *want)
{
    const cJSON *v = get(o, path);
    if (!cJSON_IsString(v)) {
        print_error("%s: not a string\n", path);
    }
    assert_true(cJSON_IsString(v));
    assert_string_equal(v->valuestring, want);
}

static void assert_num(const cJSON *o, const char *path, double want)
{
    const cJSON *v = get(o, path);
    if (!cJSON_IsNumber(v)) {
        print_error("%s: not a number\n", path);
    }
    assert_true(cJSON_IsNumber(v));
    assert_true(v->valuedouble == want);
}

static void assert_absent(const cJSON *o, const char *path)
{
    if (get(o, path) != NULL) {
        print_error("%s: present\n", path);
    }
    assert_null(get(o, path));
}

static void test_patroni_primary(void **state)
{
    (void)state;
    struct api_node_status st;
    fill(N_PRIMARY, &st);
    cJSON *d = api_view_patroni(&st);
    assert_str(d, "state", "running");
    assert_str(d, "postmaster_start_time", "2024-08-28 19:39:26.352526+00:00");
    assert_str(d, "role", "primary");
    assert_num(d, "server_version", 150004);
    assert_num(d, "xlog.location", LSN);
    assert_absent(d, "xlog.received_location");
    assert_absent(d, "xlog.replayed_location");
    assert_num(d, "timeline", 3);
    assert_absent(d, "replication_state");
    assert_true(cJSON_IsArray(get(d, "replication")));
    assert_int_equal(cJSON_GetArraySize(get(d, "replication")), 1);
    assert_str(cJSON_GetArrayItem(get(d, "replication"), 0), "application_name", "node2");
    assert_absent(d, "sync_standby");
    assert_absent(d, "quorum_standby");
    assert_absent(d, "pause");
    assert_absent(d, "cluster_unlocked");
    assert_absent(d, "failsafe_mode_is_active");
    assert_num(d, "dcs_last_seen", 1692356928);
    assert_str(d, "tags.dc", "east");
    assert_absent(d, "tags.clonefrom"); /* false: dropped */
    assert_str(d, "database_system_identifier", "7268616322854375442");
    assert_absent(d, "pending_restart");
    assert_str(d, "patroni.version", "0.1.0");
    assert_str(d, "patroni.scope", "demo");
    assert_str(d, "patroni.name", "node1");
    assert_num(d, "lease.epoch", 7);
    assert_true(cJSON_IsTrue(get(d, "lease.held")));
    assert_num(d, "lease.expires_in_ms", 1840);
    assert_absent(d, "watchdog_failed");
    cJSON_Delete(d);

    fill(N_MASTER, &st);
    d = api_view_patroni(&st);
    assert_str(d, "role", "primary");
    assert_num(d, "xlog.location", LSN);
    cJSON_Delete(d);

    /* An empty WAL sender list is left out. */
    fill(N_PRIMARY, &st);
    cJSON *empty = cJSON_CreateArray();
    st.replication = empty;
    st.timeline = 0;
    st.postmaster_start_time = NULL;
    st.watchdog_failed = true;
    d = api_view_patroni(&st);
    assert_absent(d, "replication");
    assert_true(cJSON_IsNull(get(d, "timeline")));
    assert_true(cJSON_IsNull(get(d, "postmaster_start_time")));
    assert_true(cJSON_IsTrue(get(d, "watchdog_failed")));
    cJSON_Delete(d);
    cJSON_Delete(empty);
}

static void test_patroni_replica(void **state)
{
    (void)state;
    struct api_node_status st;
    fill(N_REPLICA_LAG, &st);
    st.received_lsn = LSN;
    st.replayed_timestamp = "2024-08-28 19:40:00.1+00:00";
    st.replay_paused = true;
    cJSON *d = api_view_patroni(&st);
    assert_str(d, "role", "replica");
    assert_num(d, "xlog.received_location", LSN);
    assert_num(d, "xlog.replayed_location", LSN - 20 * MB);
    assert_str(d, "xlog.replayed_timestamp", "2024-08-28 19:40:00.1+00:00");
    assert_true(cJSON_IsTrue(get(d, "xlog.paused")));
    assert_absent(d, "xlog.location");
    assert_absent(d, "latest_end_lsn");
    assert_str(d, "replication_state", "streaming");
    assert_absent(d, "replication");
    assert_absent(d, "sync_standby");
    assert_true(cJSON_IsFalse(get(d, "lease.held")));
    assert_num(d, "lease.expires_in_ms", 0);
    /* tags: falsy predefined ones dropped, custom ones (even null) kept */
    assert_absent(d, "tags.nofailover");
    assert_absent(d, "tags.noloadbalance");
    assert_absent(d, "tags.clonefrom");
    assert_true(cJSON_IsNull(get(d, "tags.nothing")));
    assert_num(d, "tags.prio", 1);
    cJSON_Delete(d);

    fill(N_REPLICA, &st);
    st.received_lsn = 0; /* falls back to replayed, as Patroni's "or" */
    d = api_view_patroni(&st);
    assert_num(d, "xlog.received_location", LSN);
    assert_true(cJSON_IsNull(get(d, "xlog.replayed_timestamp")));
    assert_true(cJSON_IsFalse(get(d, "xlog.paused")));
    cJSON_Delete(d);

    fill(N_SYNC, &st);
    d = api_view_patroni(&st);
    assert_true(cJSON_IsTrue(get(d, "sync_standby")));
    assert_absent(d, "quorum_standby");
    cJSON_Delete(d);
    fill(N_QUORUM, &st);
    d = api_view_patroni(&st);
    assert_true(cJSON_IsTrue(get(d, "quorum_standby")));
    assert_absent(d, "sync_standby");
    cJSON_Delete(d);
    fill(N_SYNC_NOVIEW, &st); /* not from a store view: not shown */
    d = api_view_patroni(&st);
    assert_absent(d, "sync_standby");
    assert_true(cJSON_IsTrue(get(d, "cluster_unlocked")));
    cJSON_Delete(d);

    fill(N_STANDBY_LEADER, &st);
    d = api_view_patroni(&st);
    assert_str(d, "role", "standby_leader");
    assert_num(d, "xlog.replayed_location", LSN);
    assert_absent(d, "xlog.location");
    assert_num(d, "lease.expires_in_ms", 1500);
    cJSON_Delete(d);

    fill(N_ARCHIVE, &st);
    d = api_view_patroni(&st);
    assert_str(d, "replication_state", "in archive recovery");
    cJSON_Delete(d);
}

static void test_patroni_down(void **state)
{
    (void)state;
    struct api_node_status st;
    fill(N_STOPPED_LEASE, &st);
    st.paused = true;
    st.cluster_unlocked = true;
    st.pending_restart = true;
    cJSON *d = api_view_patroni(&st);
    assert_str(d, "state", "stopped");
    assert_str(d, "role", "primary");
    const char *live[] = {"postmaster_start_time", "server_version", "xlog",        "timeline",
                          "replication_state",     "replication",    "sync_standby"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(live); i++) {
        assert_absent(d, live[i]);
    }
    assert_true(cJSON_IsTrue(get(d, "pause")));
    assert_true(cJSON_IsTrue(get(d, "cluster_unlocked")));
    assert_true(cJSON_IsTrue(get(d, "pending_restart")));
    assert_true(cJSON_IsObject(get(d, "pending_restart_reason")));
    assert_true(cJSON_IsTrue(get(d, "lease.held")));
    cJSON_Delete(d);

    fill(N_RUNNING_UNKNOWN, &st);
    cJSON *reason = cJSON_Parse("{\"work_mem\":{\"old_value\":\"4MB\",\"new_value\":\"8MB\"}}");
    st.pending_restart = true;
    st.pending_restart_reason = reason;
    st.tags = t_prio; /* only the predefined falses kept by their priorities remain */
    d = api_view_patroni(&st);
    assert_str(d, "state", "unknown");
    assert_str(d, "role", "replica");
    assert_absent(d, "xlog");
    assert_str(d, "pending_restart_reason.work_mem.new_value", "8MB");
    assert_true(cJSON_IsFalse(get(d, "tags.nofailover")));
    assert_true(cJSON_IsFalse(get(d, "tags.nosync")));
    assert_absent(d, "tags.nostream");
    cJSON_Delete(d);
    cJSON_Delete(reason);

    /* Nothing known at all. */
    struct api_node_status none;
    memset(&none, 0, sizeof none);
    none.lease_ms_left = -1;
    d = api_view_patroni(&none);
    assert_str(d, "state", "unknown");
    assert_absent(d, "role");
    assert_absent(d, "tags");
    assert_absent(d, "database_system_identifier");
    assert_true(cJSON_IsTrue(get(d, "cluster_unlocked")));
    assert_true(cJSON_IsNull(get(d, "patroni.version")));
    assert_num(d, "dcs_last_seen", 0);
    cJSON_Delete(d);
    none.tags = t_nolb_str; /* "false" as text is kept */
    d = api_view_patroni(&none);
    assert_str(d, "tags.noloadbalance", "false");
    cJSON_Delete(d);
    cJSON *falses = cJSON_Parse("{\"nofailover\":false,\"nosync\":0}");
    none.tags = falses;
    d = api_view_patroni(&none);
    assert_absent(d, "tags");
    cJSON_Delete(d);
    cJSON_Delete(falses);
}

/* --- /history ------------------------------------------------------------------- */

static void test_history(void **state)
{
    (void)state;
    cJSON *h = api_view_history(NULL);
    char *s = cJSON_PrintUnformatted(h);
    assert_string_equal(s, "[]");
    cJSON_free(s);
    cJSON_Delete(h);

    cJSON *in = cJSON_Parse(
        "[[1,25623960,\"no recovery target specified\"],"
        "[2,25623961,\"no recovery target specified\",\"2019-09-23T16:57:57+02:00\"],"
        "[3,5000000000,\"no recovery target specified\",\"2019-09-23T16:57:57+02:00\",\"node2\"],"
        "{\"not\":\"a line\"},null,"
        "[\"4\",\"0/186F6B8\",\"switchover\",\"2024-01-01T00:00:00+00:00\",\"node1\"],"
        "[5,\"12345\",\"x\"],[6,\"0/zz\",\"x\"]]");
    assert_non_null(in);
    h = api_view_history(in);
    s = cJSON_PrintUnformatted(h);
    assert_string_equal(
        s, "[[1,25623960,\"no recovery target specified\"],"
           "[2,25623961,\"no recovery target specified\",\"2019-09-23T16:57:57+02:00\"],"
           "[3,5000000000,\"no recovery target specified\",\"2019-09-23T16:57:57+02:00\","
           "\"node2\"],"
           "[4,25622200,\"switchover\",\"2024-01-01T00:00:00+00:00\",\"node1\"],"
           "[5,12345,\"x\"],[6,\"0/zz\",\"x\"]]");
    cJSON_free(s);
    cJSON_Delete(h);
    cJSON_Delete(in);

    in = cJSON_Parse("{\"a\":1}");
    h = api_view_history(in);
    assert_int_equal(cJSON_GetArraySize(h), 0);
    cJSON_Delete(h);
    cJSON_Delete(in);
}

/* --- query strings -------------------------------------------------------------- */

static void test_query_get(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(api_query_get("a=1&b=2", "b", buf, sizeof buf), "2");
    assert_string_equal(api_query_get("a=1&b=2", "a", buf, sizeof buf), "1");
    assert_null(api_query_get("a=1&b=2", "c", buf, sizeof buf));
    assert_null(api_query_get("", "a", buf, sizeof buf));
    assert_null(api_query_get(NULL, "a", buf, sizeof buf));
    assert_null(api_query_get("a", "a", buf, sizeof buf));
    assert_null(api_query_get("a=", "a", buf, sizeof buf));
    assert_string_equal(api_query_get("a=&a=3", "a", buf, sizeof buf), "3");
    assert_string_equal(api_query_get("a=1&a=3", "a", buf, sizeof buf), "1");
    assert_string_equal(api_query_get("%61=x", "a", buf, sizeof buf), "x");
    assert_string_equal(api_query_get("a=x+y%2Bz", "a", buf, sizeof buf), "x y+z");
    assert_string_equal(api_query_get("a=%zz%4", "a", buf, sizeof buf), "%zz%4");
    assert_string_equal(api_query_get("a=%", "a", buf, sizeof buf), "%");
    assert_string_equal(api_query_get("a=b=c", "a", buf, sizeof buf), "b=c");
    assert_string_equal(api_query_get("=5", "", buf, sizeof buf), "5");
    assert_null(api_query_get("a=1#b=2", "b", buf, sizeof buf));
    assert_null(api_query_get("a;b=2", "b", buf, sizeof buf)); /* ';' separates nothing */
    assert_string_equal(api_query_get("a=12345", "a", buf, 3), "12");
    assert_string_equal(api_query_get("a=12345", "a", buf, 1), "");
    assert_null(api_query_get("ab=1", "a", buf, sizeof buf));
    assert_null(api_query_get("a=1", "ab", buf, sizeof buf));
}

static void test_query_next(void **state)
{
    (void)state;
    const char *cur = "a=1&&b&c=&d=4&=5&e%3D=%26#f=6";
    char k[8], v[8];
    assert_true(api_query_next(&cur, k, sizeof k, v, sizeof v));
    assert_string_equal(k, "a");
    assert_string_equal(v, "1");
    assert_true(api_query_next(&cur, k, sizeof k, v, sizeof v));
    assert_string_equal(k, "d");
    assert_string_equal(v, "4");
    assert_true(api_query_next(&cur, k, sizeof k, v, sizeof v));
    assert_string_equal(k, "");
    assert_string_equal(v, "5");
    assert_true(api_query_next(&cur, k, sizeof k, v, sizeof v));
    assert_string_equal(k, "e=");
    assert_string_equal(v, "&");
    assert_false(api_query_next(&cur, k, sizeof k, v, sizeof v));
    assert_false(api_query_next(&cur, k, sizeof k, v, sizeof v));

    cur = "tag_datacenter=somewhere";
    assert_true(api_query_next(&cur, k, sizeof k, v, sizeof v));
    assert_string_equal(k, "tag_dat");
    assert_string_equal(v, "somewhe");
    assert_false(api_query_next(&cur, k, sizeof k, v, sizeof v));
    cur = NULL;
    assert_false(api_query_next(&cur, k, sizeof k, v, sizeof v));
}

/* --- robustness ----------------------------------------------------------------- */

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

static void gen(char *buf, size_t max)
{
    static const char *const bits[] = {
        "tag_", "dc",  "lag", "mode",  "write",     "replication_state",
        "=",    "&",   "#",   "%",     "%2",        "%4",
        "%00",  "%zz", "+",   "MB",    "kB",        "TB",
        "B",    "0x",  "0",   "1",     "9",         ".",
        "e",    "-",   " ",   "1e400", "streaming", "true",
        "none", "[",   "'",   ";",     "/",
    };
    size_t n = 0, parts = rnd() % 12;
    buf[0] = '\0';
    for (size_t i = 0; i < parts; i++) {
        char one[2] = {(char)(rnd() % 255 + 1), '\0'};
        const char *b = rnd() % 4 == 0 ? one : bits[rnd() % RG_ARRAY_SIZE(bits)];
        size_t l = strlen(b);
        if (n + l + 1 > max) {
            break;
        }
        memcpy(buf + n, b, l + 1);
        n += l;
    }
}

static void test_random_queries_never_crash(void **state)
{
    (void)state;
    static const char *const extra[] = {"/replicas", "/foo", "", "//", "/a;b", "/x#y"};
    for (int i = 0; i < 5000; i++) {
        char q[128], path[64], k[4], v[6], buf[3];
        gen(q, sizeof q);
        struct api_node_status st;
        fill((enum node)(rnd() % (N_MASTER + 1)), &st);
        if (rnd() % 3 == 0) {
            const char *p = rnd() % 2 ? extra[rnd() % RG_ARRAY_SIZE(extra)]
                                      : paths[rnd() % RG_ARRAY_SIZE(paths)];
            snprintf(path, sizeof path, "%s", p);
        } else {
            gen(path, sizeof path);
        }
        int c = api_health_code(rnd() % 2 ? paths[rnd() % RG_ARRAY_SIZE(paths)] : path, q, &st);
        assert_true(c == 0 || c == 200 || c == 503);
        c = api_readiness_code(q, &st);
        assert_true(c == 200 || c == 503);
        uint64_t size;
        c = api_parse_size(q, &size);
        assert_true(c == 0 || c == RG_EINVAL);
        const char *cur = q;
        int n = 0;
        while (api_query_next(&cur, k, sizeof k, v, sizeof v)) {
            assert_true(strlen(k) < sizeof k && strlen(v) < sizeof v);
            n++;
            assert_true(n < 128);
        }
        const char *got = api_query_get(q, "lag", buf, sizeof buf);
        assert_true(got == NULL || strlen(got) < sizeof buf);
        cJSON *d = api_view_patroni(&st);
        assert_non_null(d);
        cJSON_Delete(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_path_on_every_node),
        cmocka_unit_test(test_single_cases),
        cmocka_unit_test(test_router_paths),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_readiness),
        cmocka_unit_test(test_negative_lag_replica_ahead),
        cmocka_unit_test(test_patroni_primary),
        cmocka_unit_test(test_patroni_replica),
        cmocka_unit_test(test_patroni_down),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_query_next),
        cmocka_unit_test(test_random_queries_never_crash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
