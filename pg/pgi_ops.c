/*
 * pgi_ops: the operations that run PostgreSQL's programs — initdb, pg_ctl
 * start/stop/reload, pg_basebackup, pg_rewind, single-user crash recovery,
 * callbacks — and promotion, which is a query followed by polling.
 *
 * Each runs one program under a deadline (pg_ctl_timeout for pg_ctl, a
 * generous fixed budget for the copying programs) and fails with the
 * program's last output line: `pg_ctl: exit status 1: pg_ctl: could not
 * start server`. Output lines also go to the log under the "pg" module.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/rg_log.h"
#include "pg/pgi_conf.h"
#include "pg/pgi_internal.h"

#define COPY_TIMEOUT_MS   (6u * 3600 * 1000) /* pg_basebackup, pg_rewind: hours for big clusters */
#define PROMOTE_POLL_MS   10
#define CALLBACK_KILL_SIG SIGKILL

/* --- argv ------------------------------------------------------------------ */

struct argv {
    char **v;
    size_t n, cap;
};

static void arg_add(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg_add(struct argv *a, const char *fmt, ...)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = rg_realloc(a->v, a->cap * sizeof *a->v);
    }
    va_list ap;
    va_start(ap, fmt);
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    a->v[a->n++] = rg_strdup(buf);
    a->v[a->n] = NULL;
}

static void arg_free(struct argv *a)
{
    for (size_t i = 0; i < a->n; i++) {
        rg_free(a->v[i]);
    }
    rg_free(a->v);
}

/* Options written Patroni's way: ["data-checksums", {"encoding": "UTF8"}] or
 * {"encoding": "UTF8", "data-checksums": true} → --data-checksums --encoding=UTF8. */
static void add_options(struct argv *a, const cJSON *opts)
{
    const cJSON *o;
    if (cJSON_IsObject(opts)) {
        cJSON_ArrayForEach(o, opts)
        {
            if (cJSON_IsTrue(o)) {
                arg_add(a, "--%s", o->string);
            } else if (cJSON_IsString(o)) {
                arg_add(a, "--%s=%s", o->string, o->valuestring);
            } else if (cJSON_IsNumber(o)) {
                arg_add(a, "--%s=%g", o->string, o->valuedouble);
            }
        }
        return;
    }
    cJSON_ArrayForEach(o, opts)
    {
        if (cJSON_IsString(o)) {
            arg_add(a, "--%s", o->valuestring);
        } else if (cJSON_IsObject(o)) {
            add_options(a, o);
        }
    }
}

/* --- running one program ------------------------------------------------- */

static void program_done(struct pgi_proc *p, int status)
{
    struct pgi_op *op = p->data;
    char last[200];
    if (status == 0 && p->exit_status == 0 && p->term_signal == 0) {
        pgi__op_done(op, 0);
        return;
    }
    pgi__last_line(p->output, last, sizeof last);
    if (status != 0) {
        rg_errmsg_printf(op->errmsg, "%s", p->errmsg);
    } else if (p->term_signal != 0) {
        rg_errmsg_printf(op->errmsg, "%s: killed by signal %d%s%s", op->arg, p->term_signal,
                         last[0] ? ": " : "", last);
    } else {
        rg_errmsg_printf(op->errmsg, "%s: exit status %d%s%s", op->arg, p->exit_status,
                         last[0] ? ": " : "", last);
    }
    pgi__op_done(op, status != 0 ? status : RG_EIO);
}

/* Start @a for @op; takes @a. */
static int run_program(struct pgi_op *op, struct argv *a, unsigned timeout_ms, pgi_proc_cb cb)
{
    rg_free(op->arg);
    op->arg = rg_strdup(a->v[0]); /* the name, for messages */
    int rv = pgi__run(op, a->v, timeout_ms, cb != NULL ? cb : program_done);
    arg_free(a);
    return rv;
}

int pgi_initdb(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb)
{
    struct argv a = {0};
    pgi__op_init(pg, op, PGI_OP_INITDB, cb);
    arg_add(&a, "initdb");
    arg_add(&a, "-D");
    arg_add(&a, "%s", pg->data_dir);
    arg_add(&a, "--username=%s", pg->su_user);
    add_options(&a, pg->initdb);
    rg_log(RG_INFO, PGI_LOGM, "initdb: creating a new database cluster in %s", pg->data_dir);
    op->quiet = true; /* its chatter; a failure keeps the last line */
    return run_program(op, &a, COPY_TIMEOUT_MS, NULL);
}

/* pg_ctl's start -w fails when the server is already up; the HA loop knows
 * whether it runs, so this is only a belt: "server started" or "another
 * server might be running" followed by success are both fine. */
static void start_done(struct pgi_proc *p, int status)
{
    if (status == 0 && p->exit_status != 0 && p->output != NULL &&
        strstr(p->output, "another server might be running") != NULL &&
        strstr(p->output, "server started") != NULL) {
        p->exit_status = 0;
    }
    program_done(p, status);
}

int pgi_start(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb)
{
    struct argv a = {0};
    pgi__op_init(pg, op, PGI_OP_START, cb);
    arg_add(&a, "pg_ctl");
    arg_add(&a, "start");
    arg_add(&a, "-w");
    arg_add(&a, "-t");
    arg_add(&a, "%u", (pg->timeout_ms + 999) / 1000);
    arg_add(&a, "-D");
    arg_add(&a, "%s", pg->data_dir);
    arg_add(&a, "-l");
    arg_add(&a, "%s", pg->log_file);
    return run_program(op, &a, pg->timeout_ms + 5000, start_done);
}

static void stop_done(struct pgi_proc *p, int status)
{
    /* "Is server running?": it was not; that is what we wanted. */
    if (status == 0 && p->exit_status != 0 && p->output != NULL &&
        strstr(p->output, "Is server running?") != NULL) {
        p->exit_status = 0;
    }
    program_done(p, status);
}

int pgi_stop(struct pgi *pg, struct pgi_op *op, enum pgi_stop_mode mode, pgi_op_cb cb)
{
    struct argv a = {0};
    pgi__op_init(pg, op, PGI_OP_STOP, cb);
    arg_add(&a, "pg_ctl");
    arg_add(&a, "stop");
    arg_add(&a, "-w");
    arg_add(&a, "-t");
    arg_add(&a, "%u", (pg->timeout_ms + 999) / 1000);
    arg_add(&a, "-D");
    arg_add(&a, "%s", pg->data_dir);
    arg_add(&a, "-m");
    arg_add(&a, "%s", pgi_stop_mode_name(mode));
    return run_program(op, &a, pg->timeout_ms + 5000, stop_done);
}

int pgi_reload(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb)
{
    struct argv a = {0};
    pgi__op_init(pg, op, PGI_OP_RELOAD, cb);
    arg_add(&a, "pg_ctl");
    arg_add(&a, "reload");
    arg_add(&a, "-D");
    arg_add(&a, "%s", pg->data_dir);
    return run_program(op, &a, pg->timeout_ms, NULL);
}

int pgi_basebackup(struct pgi *pg, struct pgi_op *op, const char *host, unsigned port, pgi_op_cb cb)
{
    struct argv a = {0};
    pgi__op_init(pg, op, PGI_OP_BASEBACKUP, cb);
    if (pg->rep_user == NULL) {
        rg_errmsg_printf(
            op->errmsg,
            "pg_basebackup: no replication user (postgresql.authentication.replication)");
        return RG_EINVAL;
    }
    arg_add(&a, "pg_basebackup");
    arg_add(&a, "-D");
    arg_add(&a, "%s", pg->data_dir);
    arg_add(&a, "-h");
    arg_add(&a, "%s", host);
    arg_add(&a, "-p");
    arg_add(&a, "%u", port);
    arg_add(&a, "-U");
    arg_add(&a, "%s", pg->rep_user);
    arg_add(&a, "-w");
    if (pg->basebackup == NULL) {
        arg_add(&a, "--wal-method=stream");
        arg_add(&a, "--checkpoint=fast");
    } else {
        add_options(&a, pg->basebackup);
    }
    rg_log(RG_INFO, PGI_LOGM, "pg_basebackup: cloning %s:%u into %s", host, port, pg->data_dir);
    return run_program(op, &a, COPY_TIMEOUT_MS, NULL);
}

int pgi_rewind(struct pgi *pg, struct pgi_op *op, const char *host, unsigned port, pgi_op_cb cb)
{
    struct argv a = {0};
    struct pgi_kv kv;
    struct pgi_user u = {pg->rw_user != NULL ? pg->rw_user : pg->su_user,
                         pg->rw_user != NULL ? pg->rw_pass : pg->su_pass};
    pgi__op_init(pg, op, PGI_OP_REWIND, cb);
    pgi__kv_remote(pg, &kv, host, port, &u, false);
    char *conninfo = pgi_conninfo_build(kv.k, kv.v);
    arg_add(&a, "pg_rewind");
    arg_add(&a, "-D");
    arg_add(&a, "%s", pg->data_dir);
    arg_add(&a, "--source-server=%s", conninfo);
    rg_free(conninfo);
    rg_log(RG_INFO, PGI_LOGM, "pg_rewind: rewinding %s to the primary at %s:%u", pg->data_dir, host,
           port);
    return run_program(op, &a, COPY_TIMEOUT_MS, NULL);
}

int pgi_crash_recover(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb)
{
    struct argv a = {0};
    pgi__op_init(pg, op, PGI_OP_CRASH_RECOVER, cb);
    /* With standard input at end of file the single-user backend finishes
     * recovery, writes a shutdown checkpoint and exits. */
    arg_add(&a, "postgres");
    arg_add(&a, "--single");
    arg_add(&a, "-D");
    arg_add(&a, "%s", pg->data_dir);
    arg_add(&a, "-c");
    arg_add(&a, "archive_mode=off");
    arg_add(&a, "template1");
    rg_log(RG_INFO, PGI_LOGM, "crash recovery in single-user mode for %s", pg->data_dir);
    return run_program(op, &a, COPY_TIMEOUT_MS, NULL);
}

int pgi_callback(struct pgi *pg,
                 struct pgi_op *op,
                 const char *cmd,
                 const char *action,
                 const char *role,
                 unsigned timeout_ms,
                 pgi_op_cb cb)
{
    struct argv a = {0};
    pgi__op_init(pg, op, PGI_OP_CALLBACK, cb);
    /* Patroni splits the command like a shell would and appends
     * "<action> <role> <scope>": sh does both, then execs it, so that the
     * deadline's signals reach the command and not only the shell. */
    arg_add(&a, "/bin/sh");
    arg_add(&a, "-c");
    arg_add(&a, "exec %s \"$@\"", cmd);
    arg_add(&a, "%s", action);
    arg_add(&a, "%s", action);
    arg_add(&a, "%s", role);
    arg_add(&a, "%s", pg->scope);
    rg_log(RG_INFO, PGI_LOGM, "callback %s: %s %s %s %s", action, cmd, action, role, pg->scope);
    rg_free(op->arg);
    op->arg = rg_strdup(action);
    int rv = pgi__run(op, a.v, timeout_ms, program_done);
    arg_free(&a);
    return rv;
}

/* --- promotion ------------------------------------------------------------ */

static void promote_poll(struct pgi_op *op);

static void promote_timer_cb(uv_timer_t *t)
{
    promote_poll(rg_container_of(t, struct pgi_op, timer));
}

static void promote_polled(struct pgi_sql *q, int status)
{
    struct pgi_op *op = q->data;
    const char *rec =
        status == 0 && q->n_results > 0 ? pgi_result_get(&q->results[0], 0, "r") : NULL;
    if (rec != NULL && strcmp(rec, "f") == 0) {
        rg_log(RG_INFO, PGI_LOGM, "promoted: out of recovery");
        pgi__op_done(op, 0);
        return;
    }
    if (rg_boottime_ms() >= op->deadline) {
        rg_errmsg_printf(op->errmsg, "promote: still in recovery after %u ms%s%s",
                         op->pg->timeout_ms, status != 0 ? ": " : "", status != 0 ? q->errmsg : "");
        pgi__op_done(op, RG_ETIMEDOUT);
        return;
    }
    uv_timer_start(&op->timer, promote_timer_cb, PROMOTE_POLL_MS, 0);
}

static void promote_poll(struct pgi_op *op)
{
    static const char *const q[] = {"SELECT pg_is_in_recovery() AS r"};
    struct pgi_kv kv;
    pgi__kv_local(op->pg, &kv);
    memset(&op->sql, 0, sizeof op->sql);
    op->sql.data = op;
    if (pgi_sql_start(op->pg->loop, &op->sql, kv.k, kv.v, q, 1, 1000, promote_polled) != 0) {
        uv_timer_start(&op->timer, promote_timer_cb, PROMOTE_POLL_MS, 0);
    }
}

static void promote_sent(struct pgi_sql *q, int status)
{
    struct pgi_op *op = q->data;
    if (status != 0) {
        rg_errmsg_printf(op->errmsg, "promote: %s", q->errmsg);
        pgi__op_done(op, status);
        return;
    }
    promote_poll(op);
}

int pgi_promote(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb)
{
    static const char *const q[] = {"SELECT pg_promote(wait => false)"};
    struct pgi_kv kv;
    pgi__op_init(pg, op, PGI_OP_PROMOTE, cb);
    op->deadline = rg_boottime_ms() + pg->timeout_ms;
    pgi__kv_local(pg, &kv);
    op->sql.data = op;
    int rv = pgi_sql_start(pg->loop, &op->sql, kv.k, kv.v, q, 1, pg->timeout_ms, promote_sent);
    if (rv != 0) {
        rg_errmsg_printf(op->errmsg, "promote: %s", op->sql.errmsg);
        return rv;
    }
    /* Only now: after an error return the caller may free the op at once. */
    uv_timer_init(pg->loop, &op->timer);
    op->timer_init = true;
    rg_log(RG_INFO, PGI_LOGM, "promoting %s", pg->data_dir);
    return 0;
}

/* --- wiping ---------------------------------------------------------------- */

static void wipe_done(struct pgi_fop *f)
{
    struct pgi_op *op = f->data;
    if (f->status != 0) {
        rg_errmsg_printf(op->errmsg, "%s", f->errmsg);
    }
    pgi__op_done(op, f->status);
}

int pgi_wipe(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb)
{
    pgi__op_init(pg, op, PGI_OP_WIPE, cb);
    op->fop.data = op;
    rg_log(RG_WARNING, PGI_LOGM, "removing the data directory %s", pg->data_dir);
    return pgi_fileio_rmtree(pg->io, &op->fop, pg->data_dir, wipe_done);
}
