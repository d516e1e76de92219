/*
 * Unit tests for pgi_sql against a real PostgreSQL 15: the group setup
 * initdb's a throwaway cluster (as the postgres user when we are root) in
 * a temporary directory and starts it with pg_ctl on a port picked at
 * runtime, listening on 127.0.0.1 and on a socket in that directory; the
 * group teardown stops it (immediate) and removes the directory. Both run
 * the programs through pgi_proc. Without /usr/lib/postgresql/15/bin/initdb
 * every test is skipped, saying so.
 *
 * Covered: rows and NULLs, statements in turn on one session, a failing
 * statement (sqlstate, earlier results kept), COPY refused, refused and
 * impossible connections, the deadline in the middle of a query, cancel,
 * a replication connection (IDENTIFY_SYSTEM, TIMELINE_HISTORY), a Unix
 * socket host, argument checks (host names refused), freeing the request
 * in its cb, and that the loop keeps running while a query waits.
 */
#define _GNU_SOURCE /* nftw */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/rg.h"
#include "pg/pgi_controldata.h"
#include "pg/pgi_proc.h"
#include "pg/pgi_sql.h"
#include "pg_helpers.h"

#ifndef PG_BIN
#define PG_BIN "/usr/lib/postgresql/15/bin"
#endif

/* --- the throwaway cluster --------------------------------------------- */

static struct {
    bool up;
    char dir[64]; /* owned by postgres: data/, postgres.log, the socket */
    char data[96];
    char logfile[96];
    char port[16];
} cl;

static const char *const tcp_kw[] = {"host",    "port",       "user", "dbname",
                                     "sslmode", "gssencmode", NULL};
/* 127.0.0.1 without SSL or GSS; the port is filled in by the group setup. */
static const char *tcp_val[] = {"127.0.0.1", NULL,      "postgres", "postgres",
                                "disable",   "disable", NULL};

struct cmd_done {
    bool done;
    int status;
    int exit_status;
};

static void on_cmd_done(struct pgi_proc *p, int status)
{
    struct cmd_done *d = p->data;
    d->done = true;
    d->status = status;
    d->exit_status = p->exit_status;
    if (status != 0 || p->exit_status != 0 || p->term_signal != 0) {
        fprintf(stderr, "%s\n%s", p->errmsg, p->output);
    }
}

/* Run @argv (as postgres when we are root) on a loop of its own; true when it exited with 0. */
static bool run_cmd(char **argv, unsigned timeout_ms)
{
    char *full[32];
    size_t n = 0;
    if (geteuid() == 0) {
        full[n++] = access("/usr/sbin/runuser", X_OK) == 0 ? "/usr/sbin/runuser" : "/sbin/runuser";
        full[n++] = "-u";
        full[n++] = "postgres";
        full[n++] = "--";
    }
    for (size_t i = 0; argv[i] != NULL && n < RG_ARRAY_SIZE(full) - 1; i++) {
        full[n++] = argv[i];
    }
    full[n] = NULL;

    uv_loop_t loop;
    struct pgi_proc p;
    struct cmd_done d = {0};
    struct pgi_proc_options o = {.file = full[0], .args = full, .timeout_ms = timeout_ms};
    uv_loop_init(&loop);
    p.data = &d;
    if (pgi_proc_start(&loop, &p, &o, on_cmd_done) != 0) {
        fprintf(stderr, "%s\n", p.errmsg);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return false;
    }
    while (!d.done) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return d.status == 0 && d.exit_status == 0;
}

/* A TCP port on 127.0.0.1 that nobody listens on (right now). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int cluster_setup(void **state)
{
    (void)state;
    if (access(PG_BIN "/initdb", X_OK) != 0) {
        fprintf(stderr, "pgi_sql tests skipped: %s/initdb is absent (no PostgreSQL 15)\n", PG_BIN);
        return 0;
    }
    snprintf(cl.dir, sizeof cl.dir, "/tmp/pgi_sql.XXXXXX");
    if (mkdtemp(cl.dir) == NULL) {
        return -1;
    }
    if (geteuid() == 0) {
        const struct passwd *pw = getpwnam("postgres");
        if (pw == NULL || chown(cl.dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "cannot give %s to the postgres user\n", cl.dir);
            return -1;
        }
    }
    snprintf(cl.data, sizeof cl.data, "%s/data", cl.dir);
    snprintf(cl.logfile, sizeof cl.logfile, "%s/postgres.log", cl.dir);
    snprintf(cl.port, sizeof cl.port, "%d", free_port());
    tcp_val[1] = cl.port;

    char *initdb[] = {PG_BIN "/initdb", "-D",        cl.data,      "-A", "trust", "-U",
                      "postgres",       "--no-sync", "--locale=C", "-E", "UTF8",  NULL};
    if (!run_cmd(initdb, 120000)) {
        return -1;
    }
    char opts[256];
    snprintf(opts, sizeof opts, "-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off", cl.port,
             cl.dir);
    char *start[] = {
        PG_BIN "/pg_ctl", "-D", cl.data, "-l", cl.logfile, "-o", opts, "-w", "-t", "60",
        "start",          NULL};
    if (!run_cmd(start, 90000)) {
        return -1;
    }
    cl.up = true;
    return 0;
}

static int cluster_teardown(void **state)
{
    (void)state;
    if (cl.dir[0] == '\0') {
        return 0;
    }
    if (cl.up) {
        char *stop[] = {PG_BIN "/pg_ctl", "-D", cl.data, "-m", "immediate", "-w", "stop", NULL};
        run_cmd(stop, 60000);
    }
    nftw(cl.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

#define NEED_PG()                                                                                  \
    do {                                                                                           \
        if (!cl.up) {                                                                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* --- running a session ------------------------------------------------- */

/* What the cb saw, copied (results live only during the cb). */
struct got {
    int calls;
    int status;
    char errmsg[RG_ERRMSG_SIZE];
    char sqlstate[6];
    struct pgi_result *res;
    size_t n;
    uint64_t at_ms;
};

static void on_sql_done(struct pgi_sql *q, int status)
{
    struct got *g = q->data;
    g->calls++;
    g->status = status;
    g->at_ms = pgt_now_ms();
    snprintf(g->errmsg, sizeof g->errmsg, "%s", q->errmsg);
    snprintf(g->sqlstate, sizeof g->sqlstate, "%s", q->sqlstate);
    g->n = q->n_results;
    g->res = rg_calloc(q->n_results + 1, sizeof *g->res);
    for (size_t i = 0; i < q->n_results; i++) {
        const struct pgi_result *r = &q->results[i];
        size_t nv = (size_t)r->nrows * (size_t)r->ncols;
        g->res[i].nrows = r->nrows;
        g->res[i].ncols = r->ncols;
        g->res[i].names = rg_calloc((size_t)r->ncols + 1, sizeof(char *));
        g->res[i].values = rg_calloc(nv + 1, sizeof(char *));
        for (int c = 0; c < r->ncols; c++) {
            g->res[i].names[c] = rg_strdup(r->names[c]);
        }
        for (size_t v = 0; v < nv; v++) {
            g->res[i].values[v] = r->values[v] != NULL ? rg_strdup(r->values[v]) : NULL;
        }
    }
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        for (int c = 0; c < g->res[i].ncols; c++) {
            rg_free(g->res[i].names[c]);
        }
        for (size_t v = 0; v < (size_t)g->res[i].nrows * (size_t)g->res[i].ncols; v++) {
            rg_free(g->res[i].values[v]);
        }
        rg_free(g->res[i].names);
        rg_free(g->res[i].values);
    }
    rg_free(g->res);
}

/* Start a session and wait (bounded) for its cb; the time it took in *@ms. */
static void run_sql(uv_loop_t *loop,
                    const char *const *kw,
                    const char *const *val,
                    const char *const *queries,
                    size_t n,
                    unsigned timeout_ms,
                    struct got *g,
                    uint64_t *ms)
{
    struct pgi_sql q;
    memset(g, 0, sizeof *g);
    q.data = g;
    uint64_t t0 = pgt_now_ms();
    assert_int_equal(pgi_sql_start(loop, &q, kw, val, queries, n, timeout_ms, on_sql_done), 0);
    assert_int_equal(g->calls, 0); /* never inside the call */
    assert_true(RUN_UNTIL(loop, g->calls > 0, timeout_ms + 5000));
    for (int i = 0; i < 5; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(g->calls, 1);
    if (ms != NULL) {
        *ms = g->at_ms - t0;
    }
}

/* --- tests -------------------------------------------------------------- */

static void test_query_returns_rows_and_nulls(void **state)
{
    struct pgt_loop *f = *state;
    struct got g;
    NEED_PG();
    /* libpq's defaults for SSL and GSS here (prefer): still non-blocking. */
    const char *kw[] = {"host", "port", "user", "dbname", NULL};
    const char *val[] = {"127.0.0.1", cl.port, "postgres", "postgres", NULL};
    const char *sql[] = {"SELECT 1 AS a, NULL::text AS b, 'x' AS c "
                         "UNION ALL SELECT 2, 'y', NULL ORDER BY 1"};
    run_sql(&f->loop, kw, val, sql, 1, 5000, &g, NULL);
    assert_int_equal(g.status, 0);
    assert_string_equal(g.errmsg, "");
    assert_string_equal(g.sqlstate, "");
    assert_int_equal(g.n, 1);
    const struct pgi_result *r = &g.res[0];
    assert_int_equal(r->nrows, 2);
    assert_int_equal(r->ncols, 3);
    assert_string_equal(r->names[0], "a");
    assert_string_equal(r->names[2], "c");
    assert_string_equal(pgi_result_get(r, 0, "a"), "1");
    assert_null(pgi_result_get(r, 0, "b"));
    assert_string_equal(pgi_result_get(r, 0, "c"), "x");
    assert_string_equal(pgi_result_get(r, 1, "a"), "2");
    assert_string_equal(pgi_result_get(r, 1, "b"), "y");
    assert_null(pgi_result_get(r, 1, "c"));
    assert_null(r->values[5]);
    /* No such row or column. */
    assert_null(pgi_result_get(r, 2, "a"));
    assert_null(pgi_result_get(r, -1, "a"));
    assert_null(pgi_result_get(r, 0, "nope"));
    assert_null(pgi_result_get(NULL, 0, "a"));
    got_free(&g);
}

static void test_runs_statements_in_turn_on_one_session(void **state)
{
    struct pgt_loop *f = *state;
    struct got g;
    NEED_PG();
    const char *sql[] = {
        "CREATE TEMP TABLE t (a int)",
        "INSERT INTO t VALUES (1), (2), (3)",
        "SELECT count(*) AS n, sum(a) AS s FROM t",
        "SELECT 'one' AS x; SELECT 'two' AS y", /* two statements, two results */
        "",                                     /* an empty query: an empty result */
    };
    run_sql(&f->loop, tcp_kw, tcp_val, sql, RG_ARRAY_SIZE(sql), 5000, &g, NULL);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.n, 6);
    assert_int_equal(g.res[0].nrows, 0);
    assert_int_equal(g.res[0].ncols, 0);
    assert_string_equal(pgi_result_get(&g.res[2], 0, "n"), "3");
    assert_string_equal(pgi_result_get(&g.res[2], 0, "s"), "6");
    assert_string_equal(pgi_result_get(&g.res[3], 0, "x"), "one");
    assert_string_equal(pgi_result_get(&g.res[4], 0, "y"), "two");
    assert_int_equal(g.res[5].nrows, 0);
    got_free(&g);
}

static void test_failing_statement_sets_sqlstate_and_keeps_earlier_results(void **state)
{
    struct pgt_loop *f = *state;
    struct got g;
    NEED_PG();
    const char *sql[] = {"SELECT 1 AS a", "SELECT * FROM no_such_table", "SELECT 2"};
    run_sql(&f->loop, tcp_kw, tcp_val, sql, 3, 5000, &g, NULL);
    assert_int_equal(g.status, RG_EIO);
    assert_string_equal(g.sqlstate, "42P01");
    assert_string_equal(g.errmsg, "ERROR:  relation \"no_such_table\" does not exist");
    assert_int_equal(g.n, 1);
    assert_string_equal(pgi_result_get(&g.res[0], 0, "a"), "1");
    got_free(&g);

    const char *copy[] = {"COPY (SELECT 1) TO STDOUT"};
    run_sql(&f->loop, tcp_kw, tcp_val, copy, 1, 5000, &g, NULL);
    assert_int_equal(g.status, RG_EIO);
    assert_string_equal(g.errmsg, "statement 1: COPY is not supported");
    got_free(&g);
}

static void test_refused_connection_fails_fast(void **state)
{
    struct pgt_loop *f = *state;
    struct got g;
    uint64_t ms;
    char dead[16];
    snprintf(dead, sizeof dead, "%d", free_port());
    const char *val[] = {"127.0.0.1", dead, "postgres", "postgres", "disable", "disable", NULL};
    run_sql(&f->loop, tcp_kw, val, NULL, 0, 5000, &g, &ms);
    assert_int_equal(g.status, RG_ECONNECT);
    assert_non_null(strstr(g.errmsg, "Connection refused"));
    assert_null(strchr(g.errmsg, '\n'));
    assert_true(ms < 1000);
    got_free(&g);
}

/* A socket directory without a server: libpq fails inside PQconnectStart,
 * and the cb still comes later, from the loop. */
static void test_missing_socket_fails_through_cb(void **state)
{
    struct pgt_loop *f = *state;
    struct got g;
    const char *kw[] = {"host", "port", "user", NULL};
    const char *val[] = {"/nonexistent/socket/dir", "5432", "postgres", NULL};
    run_sql(&f->loop, kw, val, NULL, 0, 5000, &g, NULL);
    assert_int_equal(g.status, RG_ECONNECT);
    assert_non_null(strstr(g.errmsg, "/nonexistent/socket/dir"));
    got_free(&g);
}

static void test_deadline_during_query_times_out(void **state)
{
    struct pgt_loop *f = *state;
    struct got g;
    uint64_t ms;
    NEED_PG();
    const char *sql[] = {"SELECT 1", "SELECT pg_sleep(5)"};
    run_sql(&f->loop, tcp_kw, tcp_val, sql, 2, 300, &g, &ms);
    assert_int_equal(g.status, RG_ETIMEDOUT);
    assert_string_equal(g.errmsg, "timed out after 300 ms while running statement 2");
    assert_int_equal(g.n, 1);
    assert_true(ms >= 290);
    assert_true(ms < 1500);
    got_free(&g);
    /* The teardown checks that the poll and timer handles are closed. */
}

struct canceller {
    uv_timer_t timer;
    struct pgi_sql *q;
};

static void on_cancel_timer(uv_timer_t *t)
{
    struct canceller *c = rg_container_of(t, struct canceller, timer);
    pgi_sql_cancel(c->q);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel_ends_the_session(void **state)
{
    struct pgt_loop *f = *state;
    struct got g = {0};
    struct pgi_sql q;
    struct canceller c = {.q = &q};
    NEED_PG();
    const char *sql[] = {"SELECT pg_sleep(5)"};
    q.data = &g;
    uint64_t t0 = pgt_now_ms();
    assert_int_equal(pgi_sql_start(&f->loop, &q, tcp_kw, tcp_val, sql, 1, 10000, on_sql_done), 0);
    uv_timer_init(&f->loop, &c.timer);
    uv_timer_start(&c.timer, on_cancel_timer, 100, 0);
    assert_true(RUN_UNTIL(&f->loop, g.calls > 0, 5000));
    assert_int_equal(g.status, RG_ECANCELED);
    assert_string_equal(g.errmsg, "canceled");
    assert_true(g.at_ms - t0 < 1500);
    got_free(&g);
}

static void test_replication_connection_runs_identify_system(void **state)
{
    struct pgt_loop *f = *state;
    struct got g;
    uint64_t lsn;
    NEED_PG();
    const char *kw[] = {"host", "port", "user", "replication", "sslmode", "gssencmode", NULL};
    const char *val[] = {"127.0.0.1", cl.port, "postgres", "1", "disable", "disable", NULL};
    const char *sql[] = {"IDENTIFY_SYSTEM"};
    run_sql(&f->loop, kw, val, sql, 1, 5000, &g, NULL);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.n, 1);
    const char *sysid = pgi_result_get(&g.res[0], 0, "systemid");
    assert_non_null(sysid);
    assert_true(strlen(sysid) > 10 && strspn(sysid, "0123456789") == strlen(sysid));
    assert_string_equal(pgi_result_get(&g.res[0], 0, "timeline"), "1");
    assert_int_equal(pgi_lsn_parse(pgi_result_get(&g.res[0], 0, "xlogpos"), &lsn), 0);
    assert_true(lsn > 0);
    assert_null(pgi_result_get(&g.res[0], 0, "dbname")); /* physical: NULL */
    got_free(&g);

    /* Timeline 1 has no history file: the server says so. */
    const char *hist[] = {"IDENTIFY_SYSTEM", "TIMELINE_HISTORY 1"};
    run_sql(&f->loop, kw, val, hist, 2, 5000, &g, NULL);
    assert_int_equal(g.status, RG_EIO);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.sqlstate, "58P01");
    assert_non_null(strstr(g.errmsg, "00000001.history"));
    got_free(&g);
}

static void test_unix_socket_host(void **state)
{
    struct pgt_loop *f = *state;
    struct got g;
    NEED_PG();
    const char *kw[] = {"host", "port", "user", "dbname", NULL};
    const char *val[] = {cl.dir, cl.port, "postgres", "postgres", NULL};
    const char *sql[] = {"SELECT current_setting('unix_socket_directories') AS d, "
                         "inet_client_addr() IS NULL AS local"};
    run_sql(&f->loop, kw, val, sql, 1, 5000, &g, NULL);
    assert_int_equal(g.status, 0);
    assert_string_equal(pgi_result_get(&g.res[0], 0, "d"), cl.dir);
    assert_string_equal(pgi_result_get(&g.res[0], 0, "local"), "t");
    got_free(&g);
}

static void test_connect_only_with_no_statements(void **state)
{
    struct pgt_loop *f = *state;
    struct got g;
    NEED_PG();
    run_sql(&f->loop, tcp_kw, tcp_val, NULL, 0, 5000, &g, NULL);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.n, 0);
    got_free(&g);
}

struct ticks {
    uv_timer_t timer;
    unsigned n;
};

static void on_tick(uv_timer_t *t)
{
    rg_container_of(t, struct ticks, timer)->n++;
}

static void test_libpq_never_blocks_the_loop(void **state)
{
    struct pgt_loop *f = *state;
    struct got g = {0};
    struct pgi_sql q;
    struct ticks tk = {.n = 0};
    NEED_PG();
    const char *sql[] = {"SELECT pg_sleep(0.3)"};
    q.data = &g;
    uv_timer_init(&f->loop, &tk.timer);
    uv_timer_start(&tk.timer, on_tick, 10, 10);
    assert_int_equal(pgi_sql_start(&f->loop, &q, tcp_kw, tcp_val, sql, 1, 5000, on_sql_done), 0);
    assert_true(RUN_UNTIL(&f->loop, g.calls > 0, 5000));
    assert_int_equal(g.status, 0);
    /* ~30 ticks in 300 ms; a blocked loop would see one or two. */
    assert_true(tk.n >= 15);
    uv_close((uv_handle_t *)&tk.timer, NULL);
    got_free(&g);
}

static void test_rejects_host_names_and_bad_arguments(void **state)
{
    struct pgt_loop *f = *state;
    struct pgi_sql q;
    struct got g = {0};
    const char *sql[] = {"SELECT 1"};
    const char *kw[] = {"host", "port", NULL};
    q.data = &g;

    const char *names[] = {"localhost", "127.0.0.1,db.example.com", "::1,,nope"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(names); i++) {
        const char *val[] = {names[i], "5432", NULL};
        assert_int_equal(pgi_sql_start(&f->loop, &q, kw, val, sql, 1, 1000, on_sql_done),
                         RG_EINVAL);
        assert_non_null(strstr(q.errmsg, "is neither an IP address nor a socket directory"));
    }
    const char *val[] = {"127.0.0.1", "5432", NULL};
    assert_int_equal(pgi_sql_start(&f->loop, &q, kw, val, sql, 1, 0, on_sql_done), RG_EINVAL);
    assert_int_equal(pgi_sql_start(&f->loop, &q, kw, val, sql, 1, 1000, NULL), RG_EINVAL);
    assert_int_equal(pgi_sql_start(&f->loop, &q, kw, val, NULL, 1, 1000, on_sql_done), RG_EINVAL);
    const char *nullq[] = {"SELECT 1", NULL};
    assert_int_equal(pgi_sql_start(&f->loop, &q, kw, val, nullq, 2, 1000, on_sql_done), RG_EINVAL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(g.calls, 0);

    /* A host name with hostaddr is not looked up: allowed. */
    if (cl.up) {
        const char *hkw[] = {"host",   "hostaddr", "port",       "user",
                             "dbname", "sslmode",  "gssencmode", NULL};
        const char *hval[] = {"db.invalid", "127.0.0.1", cl.port,   "postgres",
                              "postgres",   "disable",   "disable", NULL};
        run_sql(&f->loop, hkw, hval, sql, 1, 5000, &g, NULL);
        assert_int_equal(g.status, 0);
        got_free(&g);
    }
}

static void free_in_cb(struct pgi_sql *q, int status)
{
    int *calls = q->data;
    (void)status;
    assert_int_equal(q->n_results, 1);
    (*calls)++;
    rg_free(q);
}

static void test_caller_may_free_request_in_cb(void **state)
{
    struct pgt_loop *f = *state;
    int calls = 0;
    NEED_PG();
    struct pgi_sql *q = rg_malloc(sizeof *q);
    const char *sql[] = {"SELECT 'a' AS x FROM generate_series(1, 1000)"};
    q->data = &calls;
    assert_int_equal(pgi_sql_start(&f->loop, q, tcp_kw, tcp_val, sql, 1, 5000, free_in_cb), 0);
    assert_true(RUN_UNTIL(&f->loop, calls > 0, 5000));
    assert_int_equal(calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, pgt_loop_setup, pgt_loop_teardown)
        T(test_query_returns_rows_and_nulls),
        T(test_runs_statements_in_turn_on_one_session),
        T(test_failing_statement_sets_sqlstate_and_keeps_earlier_results),
        T(test_refused_connection_fails_fast),
        T(test_missing_socket_fails_through_cb),
        T(test_deadline_during_query_times_out),
        T(test_cancel_ends_the_session),
        T(test_replication_connection_runs_identify_system),
        T(test_unix_socket_host),
        T(test_connect_only_with_no_statements),
        T(test_libpq_never_blocks_the_loop),
        T(test_rejects_host_names_and_bad_arguments),
        T(test_caller_may_free_request_in_cb),
#undef T
    };
    return cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
