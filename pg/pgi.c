/*
 * pgi: the instance object, the machinery every operation shares, and
 * fencing.
 *
 * An operation is a small chain of steps, each one asynchronous request of a
 * lower layer (a program under pgi_proc, a query under pgi_sql, a file
 * operation on the PostgreSQL I/O thread); each step's callback starts the
 * next or completes the operation with pgi__op_done, which closes the
 * operation's own timer (used for polling) before calling back, so the
 * caller may free the operation in its callback.
 *
 * Fencing must work when everything else is stuck, so it reads only /proc
 * (memory, never the PostgreSQL disk): the postmaster is the process whose
 * command line is the postgres binary with "-D <data_dir>", or the pid last
 * read from postmaster.pid; everything whose parent it is goes with it.
 */
#include "pg/pgi.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/rg_log.h"
#include "pg/pgi_internal.h"

extern char **environ;

static char *dup_or_null(const char *s)
{
    return s != NULL ? rg_strdup(s) : NULL;
}

/* The agent's environment, minus what would redirect our programs, plus
 * what they need: C messages (we parse them) and our pgpass file. */
static char **build_env(const struct pgi *pg)
{
    size_t n = 0;
    while (environ[n] != NULL) {
        n++;
    }
    char **env = rg_calloc(n + 4, sizeof *env);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "LC_ALL=", 7) == 0 || strncmp(environ[i], "PGPASSFILE=", 11) == 0 ||
            strncmp(environ[i], "PGDATA=", 7) == 0 || strncmp(environ[i], "PGHOST=", 7) == 0 ||
            strncmp(environ[i], "PGPORT=", 7) == 0) {
            continue;
        }
        env[j++] = rg_strdup(environ[i]);
    }
    env[j++] = rg_strdup("LC_ALL=C");
    if (pg->pgpass != NULL) {
        env[j++] = rg_asprintf("PGPASSFILE=%s", pg->pgpass);
    }
    env[j] = NULL;
    return env;
}

int pgi_new(struct pgi **out, uv_loop_t *loop, const struct pgi_options *o, char *errmsg)
{
    if (o->data_dir == NULL || o->data_dir[0] != '/') {
        rg_errmsg_printf(errmsg, "the PostgreSQL data directory must be an absolute path");
        return RG_EINVAL;
    }
    struct pgi *pg = rg_calloc(1, sizeof *pg);
    pg->loop = loop;
    pg->name = rg_strdup(o->name != NULL ? o->name : "regent");
    pg->scope = rg_strdup(o->scope != NULL ? o->scope : "regent");
    pg->data_dir = rg_strdup(o->data_dir);
    pg->bin_dir = dup_or_null(o->bin_dir);
    pg->listen = rg_strdup(o->listen_addresses != NULL ? o->listen_addresses : "127.0.0.1");
    pg->socket_dir = dup_or_null(o->socket_dir);
    pg->pgpass = dup_or_null(o->pgpass);
    pg->log_file =
        o->log_file != NULL ? rg_strdup(o->log_file) : rg_asprintf("%s.log", o->data_dir);
    pg->port = o->port ? o->port : 5432;
    snprintf(pg->port_text, sizeof pg->port_text, "%u", pg->port);
    pg->timeout_ms = o->pg_ctl_timeout_ms ? o->pg_ctl_timeout_ms : 60000;
    pg->su_user = rg_strdup(o->superuser.username != NULL ? o->superuser.username : "postgres");
    pg->su_pass = dup_or_null(o->superuser.password);
    pg->rep_user = dup_or_null(o->replication.username);
    pg->rep_pass = dup_or_null(o->replication.password);
    pg->rw_user = dup_or_null(o->rewind.username);
    pg->rw_pass = dup_or_null(o->rewind.password);
    pg->initdb = o->initdb != NULL ? cJSON_Duplicate(o->initdb, 1) : NULL;
    pg->basebackup = o->basebackup != NULL ? cJSON_Duplicate(o->basebackup, 1) : NULL;
    pg->env = build_env(pg);
    int rv = pgi_fileio_start(&pg->io, loop, errmsg);
    if (rv != 0) {
        pg->io = NULL;
        pgi_free(pg, NULL, NULL);
        return rv;
    }
    *out = pg;
    return 0;
}

struct free_ctx {
    struct pgi *pg;
    void (*cb)(void *);
    void *arg;
};

static void free_now(struct pgi *pg)
{
    for (char **e = pg->env; e != NULL && *e != NULL; e++) {
        rg_free(*e);
    }
    rg_free(pg->env);
    cJSON_Delete(pg->initdb);
    cJSON_Delete(pg->basebackup);
    rg_free(pg->fenced);
    char *strs[] = {pg->name,       pg->scope,    pg->data_dir, pg->bin_dir, pg->listen,
                    pg->socket_dir, pg->pgpass,   pg->log_file, pg->su_user, pg->su_pass,
                    pg->rep_user,   pg->rep_pass, pg->rw_user,  pg->rw_pass};
    for (size_t i = 0; i < RG_ARRAY_SIZE(strs); i++) {
        if (strs[i] != NULL &&
            (strs[i] == pg->su_pass || strs[i] == pg->rep_pass || strs[i] == pg->rw_pass)) {
            memset(strs[i], 0, strlen(strs[i]));
        }
        rg_free(strs[i]);
    }
    rg_free(pg);
}

static void io_stopped(void *arg)
{
    struct free_ctx *fc = arg;
    void (*cb)(void *) = fc->cb;
    void *cb_arg = fc->arg;
    free_now(fc->pg);
    rg_free(fc);
    if (cb != NULL) {
        cb(cb_arg);
    }
}

void pgi_free(struct pgi *pg, void (*cb)(void *arg), void *arg)
{
    if (pg->io == NULL) {
        free_now(pg);
        if (cb != NULL) {
            cb(arg);
        }
        return;
    }
    struct free_ctx *fc = rg_calloc(1, sizeof *fc);
    fc->pg = pg;
    fc->cb = cb;
    fc->arg = arg;
    pgi_fileio_stop(pg->io, io_stopped, fc);
}

/* --- operations ----------------------------------------------------------- */

void pgi__op_init(struct pgi *pg, struct pgi_op *op, int kind, pgi_op_cb cb)
{
    void *data = op->data;
    pgi_status_close(&op->status);
    rg_free(op->text);
    rg_free(op->arg);
    memset(op, 0, sizeof *op);
    op->data = data;
    op->pg = pg;
    op->kind = kind;
    op->cb = cb;
}

static void op_timer_closed(uv_handle_t *h)
{
    struct pgi_op *op = h->data;
    op->timer_init = false;
    int status = op->step; /* parked here by pgi__op_done */
    op->step = -1;
    rg_free(op->arg);
    op->arg = NULL;
    op->cb(op, status);
}

void pgi__op_done(struct pgi_op *op, int status)
{
    if (op->timer_init) {
        op->step = status;
        op->timer.data = op;
        uv_close((uv_handle_t *)&op->timer, op_timer_closed);
        return;
    }
    rg_free(op->arg);
    op->arg = NULL;
    op->cb(op, status);
}

char *pgi__bin(const struct pgi *pg, const char *name)
{
    if (pg->bin_dir == NULL || pg->bin_dir[0] == '\0' || strchr(name, '/') != NULL) {
        return rg_strdup(name);
    }
    return rg_asprintf("%s/%s", pg->bin_dir, name);
}

/* Every program's completion passes here first: it is no longer cancellable. */
static void proc_done(struct pgi_proc *p, int status)
{
    struct pgi_op *op = p->data;
    op->proc_active = false;
    op->proc_cb(p, status);
}

int pgi__run(struct pgi_op *op, char **args, unsigned timeout_ms, pgi_proc_cb cb)
{
    struct pgi *pg = op->pg;
    char *file = pgi__bin(pg, args[0]);
    struct pgi_proc_options po = {
        .file = file,
        .args = args,
        .env = pg->env,
        .timeout_ms = timeout_ms,
        .log_module = op->quiet ? NULL : PGI_LOGM,
    };
    memset(&op->proc, 0, sizeof op->proc);
    op->proc.data = op;
    op->proc_cb = cb;
    int rv = pgi_proc_start(pg->loop, &op->proc, &po, proc_done);
    if (rv != 0) {
        rg_errmsg_printf(op->errmsg, "%s", op->proc.errmsg);
    } else {
        op->proc_active = true;
    }
    rg_free(file);
    return rv;
}

void pgi_op_cancel(struct pgi_op *op)
{
    if (op->proc_active) {
        pgi_proc_kill(&op->proc, SIGTERM);
    }
}

static void kv_add(struct pgi_kv *kv, const char *k, const char *v)
{
    if (v != NULL && kv->n < PGI_KV_MAX) {
        kv->k[kv->n] = k;
        kv->v[kv->n] = v;
        kv->n++;
        kv->k[kv->n] = NULL;
        kv->v[kv->n] = NULL;
    }
}

void pgi__kv_local(const struct pgi *pg, struct pgi_kv *kv)
{
    memset(kv, 0, sizeof *kv);
    const char *host = pg->socket_dir;
    if (host == NULL) {
        host = strcmp(pg->listen, "*") == 0 || strcmp(pg->listen, "0.0.0.0") == 0 ? "127.0.0.1"
                                                                                  : pg->listen;
    }
    /* listen_addresses may list several: the first is ours to use. */
    snprintf(kv->host, sizeof kv->host, "%s", host);
    char *comma = strchr(kv->host, ',');
    if (comma != NULL) {
        *comma = '\0';
    }
    kv_add(kv, "host", kv->host);
    kv_add(kv, "port", pg->port_text);
    kv_add(kv, "user", pg->su_user);
    kv_add(kv, "password", pg->su_pass);
    kv_add(kv, "dbname", "postgres");
    kv_add(kv, "passfile", pg->pgpass);
    kv_add(kv, "application_name", "regent");
    kv_add(kv, "connect_timeout", "2");
}

void pgi__kv_remote(const struct pgi *pg,
                    struct pgi_kv *kv,
                    const char *host,
                    unsigned port,
                    const struct pgi_user *u,
                    bool replication)
{
    memset(kv, 0, sizeof *kv);
    snprintf(kv->port, sizeof kv->port, "%u", port);
    kv_add(kv, "host", host);
    kv_add(kv, "port", kv->port);
    kv_add(kv, "user", u->username);
    kv_add(kv, "password", u->password);
    kv_add(kv, "dbname", replication ? "replication" : "postgres");
    kv_add(kv, "passfile", pg->pgpass);
    kv_add(kv, "application_name", pg->name);
    kv_add(kv, "connect_timeout", "2");
    if (replication) {
        kv_add(kv, "replication", "1");
    }
}

void pgi__last_line(const char *output, char *buf, size_t len)
{
    buf[0] = '\0';
    if (output == NULL) {
        return;
    }
    const char *end = output + strlen(output);
    while (end > output && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ')) {
        end--;
    }
    const char *start = end;
    while (start > output && start[-1] != '\n') {
        start--;
    }
    snprintf(buf, len, "%.*s", (int)(end - start), start);
}

/* --- fencing -------------------------------------------------------------- */

static bool read_proc(pid_t pid, const char *what, char *buf, size_t len, size_t *n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return false;
    }
    *n = fread(buf, 1, len - 1, f);
    buf[*n] = '\0';
    fclose(f);
    return true;
}

static pid_t parent_of(pid_t pid)
{
    char buf[512];
    size_t n;
    if (!read_proc(pid, "stat", buf, sizeof buf, &n)) {
        return 0;
    }
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
    char *close = strrchr(buf, ')');
    int ppid = 0;
    if (close == NULL || sscanf(close + 1, " %*c %d", &ppid) != 1) {
        return 0;
    }
    return (pid_t)ppid;
}

/* Is @pid a postmaster of our data directory ("postgres -D <dir>")? */
static bool is_our_postmaster(const struct pgi *pg, pid_t pid)
{
    char buf[4096];
    size_t n;
    if (!read_proc(pid, "cmdline", buf, sizeof buf, &n) || n == 0) {
        return false;
    }
    const char *argv0 = buf;
    const char *base = strrchr(argv0, '/');
    base = base != NULL ? base + 1 : argv0;
    if (strcmp(base, "postgres") != 0 && strcmp(base, "postmaster") != 0) {
        return false;
    }
    for (size_t i = 0; i < n;) {
        const char *arg = buf + i;
        size_t l = strlen(arg);
        if (strcmp(arg, "-D") == 0 && i + l + 1 < n && strcmp(arg + l + 1, pg->data_dir) == 0) {
            return true;
        }
        if (strncmp(arg, "-D", 2) == 0 && strcmp(arg + 2, pg->data_dir) == 0) {
            return true;
        }
        i += l + 1;
    }
    return false;
}

int pgi_fence(struct pgi *pg)
{
    pid_t masters[8];
    size_t n_masters = 0, n_victims = 0, cap = 64;
    pid_t *victims = rg_calloc(cap, sizeof *victims);
    int killed = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;

    if (pg->postmaster_pid > 0) {
        masters[n_masters++] = pg->postmaster_pid;
    }
    if (d == NULL) {
        rg_log(RG_ERROR, PGI_LOGM, "fence: could not open /proc: %s", strerror(errno));
    }
    while (d != NULL && (e = readdir(d)) != NULL) {
        pid_t pid = isdigit((unsigned char)e->d_name[0]) ? (pid_t)atoi(e->d_name) : 0;
        if (pid > 0 && n_masters < RG_ARRAY_SIZE(masters) && pid != pg->postmaster_pid &&
            is_our_postmaster(pg, pid)) {
            masters[n_masters++] = pid;
        }
    }
    /* Collect the children before anything dies: once the postmaster is
     * gone, they are reparented and no longer recognisable. */
    if (d != NULL) {
        rewinddir(d);
        while ((e = readdir(d)) != NULL) {
            pid_t pid = isdigit((unsigned char)e->d_name[0]) ? (pid_t)atoi(e->d_name) : 0;
            pid_t ppid = pid > 0 ? parent_of(pid) : 0;
            for (size_t i = 0; ppid > 0 && i < n_masters; i++) {
                if (ppid == masters[i]) {
                    if (n_victims == cap) {
                        cap *= 2;
                        victims = rg_realloc(victims, cap * sizeof *victims);
                    }
                    victims[n_victims++] = pid;
                }
            }
        }
        closedir(d);
    }
    for (size_t i = 0; i < n_masters; i++) {
        killed += kill(masters[i], SIGKILL) == 0;
    }
    for (size_t i = 0; i < n_victims; i++) {
        killed += kill(victims[i], SIGKILL) == 0;
    }
    /* Kept for pgi_fence_done: the watchdog is disarmed only once all of
     * them are gone. */
    if (n_victims + n_masters > cap) {
        victims = rg_realloc(victims, (n_victims + n_masters) * sizeof *victims);
    }
    memcpy(victims + n_victims, masters, n_masters * sizeof *masters);
    rg_free(pg->fenced);
    pg->fenced = victims;
    pg->n_fenced = n_victims + n_masters;
    rg_log(RG_WARNING, PGI_LOGM, "fence: SIGKILL sent to %d PostgreSQL process(es) of %s", killed,
           pg->data_dir);
    pg->postmaster_pid = 0;
    return killed;
}

bool pgi_fence_done(struct pgi *pg)
{
    char buf[512];
    size_t n, left = 0;
    for (size_t i = 0; i < pg->n_fenced; i++) {
        /* Gone: no /proc entry, or a zombie (it runs no code any more). A
         * reused pid looks alive: that only delays the answer. */
        const char *close =
            read_proc(pg->fenced[i], "stat", buf, sizeof buf, &n) ? strrchr(buf, ')') : NULL;
        char state = 0;
        if (close != NULL && sscanf(close + 1, " %c", &state) == 1 && state != 'Z' &&
            state != 'X') {
            pg->fenced[left++] = pg->fenced[i];
        }
    }
    pg->n_fenced = left;
    return left == 0;
}

pid_t pgi_postmaster_pid(const struct pgi *pg)
{
    return pg->postmaster_pid;
}

const char *pgi_stop_mode_name(enum pgi_stop_mode m)
{
    switch (m) {
    case PGI_STOP_SMART:
        return "smart";
    case PGI_STOP_FAST:
        return "fast";
    case PGI_STOP_IMMEDIATE:
        return "immediate";
    }
    return "fast";
}

void pgi_status_close(struct pgi_status *st)
{
    cJSON_Delete(st->replication);
    cJSON_Delete(st->pending_restart);
    memset(st, 0, sizeof *st);
}
