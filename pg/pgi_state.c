/*
 * pgi_state: what pgi reads and writes rather than runs — the status query,
 * arbitrary local queries, the data directory's contents and control data,
 * the configuration files, and a primary's timeline history.
 *
 * File work happens on the PostgreSQL I/O thread (pgi_fileio_call): one
 * work function per operation does every stat, read and write of it in one
 * trip, so a slow disk costs one wait, not ten. Rendering (pgi_conf) and
 * parsing happen on the loop; they are pure and short.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/rg_log.h"
#include "pg/pgi_conf.h"
#include "pg/pgi_internal.h"

#define OUR_CONF_MARK "# Written by regent"

/* snprintf into an error buffer, without gcc's truncation warnings: a long
 * path is cut, which is fine for a message. */
static void put_err(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_err(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* --- the status query ------------------------------------------------------ */

static const char probe_sql[] =
    "SELECT pg_is_in_recovery() AS in_recovery,"
    " CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END AS wal_lsn,"
    " pg_last_wal_receive_lsn()::text AS received_lsn,"
    " pg_last_wal_replay_lsn()::text AS replayed_lsn,"
    " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused,"
    " pg_last_xact_replay_timestamp()::text AS replayed_ts,"
    " (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status,"
    " (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1) AS received_tli,"
    " (SELECT sender_host FROM pg_stat_wal_receiver LIMIT 1) AS sender_host,"
    " (SELECT latest_end_lsn::text FROM pg_stat_wal_receiver LIMIT 1) AS latest_end_lsn,"
    " CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint())"
    "  ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END"
    "  AS timeline,"
    " current_setting('server_version_num') AS version,"
    " current_setting('synchronous_standby_names') AS sync_names,"
    " (SELECT system_identifier::text FROM pg_control_system()) AS sysid,"
    " to_char(pg_postmaster_start_time() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    "  || '+00:00' AS started,"
    " (SELECT json_agg(json_build_object('usename', usename, 'application_name',"
    "  application_name, 'client_addr', host(client_addr), 'state', state, 'sync_state',"
    "  sync_state, 'sync_priority', sync_priority) ORDER BY application_name)"
    "  FROM pg_stat_replication) AS replication,"
    " (SELECT json_object_agg(s.name, json_build_object('old_value', s.setting, 'new_value',"
    "  (SELECT f.setting FROM pg_file_settings f WHERE f.name = s.name ORDER BY f.seqno DESC"
    "  LIMIT 1))) FROM pg_settings s WHERE s.pending_restart) AS pending";

static uint64_t lsn_of(const struct pgi_result *r, const char *col)
{
    const char *v = pgi_result_get(r, 0, col);
    uint64_t lsn = 0;
    if (v != NULL && pgi_lsn_parse(v, &lsn) != 0) {
        lsn = 0;
    }
    return lsn;
}

static cJSON *json_of(const struct pgi_result *r, const char *col)
{
    const char *v = pgi_result_get(r, 0, col);
    return v != NULL ? cJSON_Parse(v) : NULL;
}

static void probe_parse(const struct pgi_result *r, struct pgi_status *st)
{
    const char *v;
    st->in_recovery = (v = pgi_result_get(r, 0, "in_recovery")) != NULL && strcmp(v, "t") == 0;
    st->wal_lsn = lsn_of(r, "wal_lsn");
    st->received_lsn = lsn_of(r, "received_lsn");
    st->replayed_lsn = lsn_of(r, "replayed_lsn");
    st->latest_end_lsn = lsn_of(r, "latest_end_lsn");
    st->replay_paused = (v = pgi_result_get(r, 0, "paused")) != NULL && strcmp(v, "t") == 0;
    v = pgi_result_get(r, 0, "replayed_ts");
    snprintf(st->replayed_timestamp, sizeof st->replayed_timestamp, "%s", v != NULL ? v : "");
    v = pgi_result_get(r, 0, "receiver_status");
    st->streaming = v != NULL && strcmp(v, "streaming") == 0;
    v = pgi_result_get(r, 0, "sender_host");
    snprintf(st->receiver_host, sizeof st->receiver_host, "%s", v != NULL ? v : "");
    v = pgi_result_get(r, 0, "timeline");
    st->timeline = v != NULL ? (unsigned)strtoul(v, NULL, 10) : 0;
    v = pgi_result_get(r, 0, "received_tli");
    if (v != NULL && strtoul(v, NULL, 10) > st->timeline) {
        st->timeline = (unsigned)strtoul(v, NULL, 10);
    }
    v = pgi_result_get(r, 0, "sysid");
    snprintf(st->sysid, sizeof st->sysid, "%s", v != NULL ? v : "");
    v = pgi_result_get(r, 0, "version");
    st->server_version = v != NULL ? (unsigned)strtoul(v, NULL, 10) : 0;
    v = pgi_result_get(r, 0, "started");
    snprintf(st->postmaster_start_time, sizeof st->postmaster_start_time, "%s", v != NULL ? v : "");
    v = pgi_result_get(r, 0, "sync_names");
    snprintf(st->sync_names, sizeof st->sync_names, "%s", v != NULL ? v : "");
    st->replication = json_of(r, "replication");
    st->pending_restart = json_of(r, "pending");
}

static void sql_done(struct pgi_sql *q, int status)
{
    struct pgi_op *op = q->data;
    if (status != 0) {
        rg_errmsg_printf(op->errmsg, "%s", q->errmsg);
    } else if (op->kind == PGI_OP_PROBE) {
        if (q->n_results == 0 || q->results[0].nrows != 1) {
            rg_errmsg_printf(op->errmsg, "status query: no row");
            status = RG_EIO;
        } else {
            probe_parse(&q->results[0], &op->status);
        }
    }
    op->results = q->results;
    op->n_results = q->n_results;
    pgi__op_done(op, status);
}

static int run_local(struct pgi_op *op, const char *const *queries, size_t n, unsigned timeout_ms)
{
    struct pgi_kv kv;
    pgi__kv_local(op->pg, &kv);
    memset(&op->sql, 0, sizeof op->sql);
    op->sql.data = op;
    int rv = pgi_sql_start(op->pg->loop, &op->sql, kv.k, kv.v, queries, n, timeout_ms, sql_done);
    if (rv != 0) {
        rg_errmsg_printf(op->errmsg, "%s", op->sql.errmsg);
    }
    return rv;
}

int pgi_probe(struct pgi *pg, struct pgi_op *op, unsigned timeout_ms, pgi_op_cb cb)
{
    static const char *const q[] = {probe_sql};
    pgi__op_init(pg, op, PGI_OP_PROBE, cb);
    return run_local(op, q, 1, timeout_ms);
}

int pgi_query(struct pgi *pg,
              struct pgi_op *op,
              const char *const *queries,
              size_t n,
              unsigned timeout_ms,
              pgi_op_cb cb)
{
    pgi__op_init(pg, op, PGI_OP_QUERY, cb);
    return run_local(op, queries, n, timeout_ms);
}

/* --- the data directory ----------------------------------------------------- */

static bool path_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* On the I/O thread. */
static void inspect_work(struct pgi_fop *f, void *arg)
{
    struct pgi_op *op = arg;
    struct pgi_dirinfo *d = &op->dir;
    const char *dir = op->pg->data_dir;
    struct stat st;

    f->status = 0;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT) {
            f->status = RG_EIO;
            rg_errmsg_printf(f->errmsg, "could not stat \"%s\": %s", dir, strerror(errno));
        }
        return;
    }
    d->exists = true;
    d->empty = true;
    DIR *dh = opendir(dir);
    if (dh == NULL) {
        f->status = RG_EIO;
        rg_errmsg_printf(f->errmsg, "could not open directory \"%s\": %s", dir, strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            d->empty = false;
            break;
        }
    }
    closedir(dh);
    d->initialized = path_exists(dir, "PG_VERSION") && path_exists(dir, "global/pg_control");
    d->standby_signal = path_exists(dir, "standby.signal");
    d->base_conf = path_exists(dir, "postgresql.base.conf");
    char path[4096];
    snprintf(path, sizeof path, "%s/postmaster.pid", dir);
    FILE *pf = fopen(path, "re");
    if (pf != NULL) {
        long pid = 0;
        if (fscanf(pf, "%ld", &pid) == 1 && pid > 0) {
            d->postmaster_pid = (pid_t)pid;
        }
        fclose(pf);
    }
}

static bool pid_is_postgres(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return false;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strncmp(buf, "postgres", 8) == 0 || strncmp(buf, "postmaster", 10) == 0;
}

static void controldata_done(struct pgi_proc *p, int status)
{
    struct pgi_op *op = p->data;
    char err[RG_ERRMSG_SIZE] = "";
    if (status == 0 && p->exit_status == 0 &&
        pgi_controldata_parse(p->output, p->output_len, &op->dir.controldata, err) == 0) {
        op->dir.have_controldata = true;
        op->controldata = op->dir.controldata;
        pgi__op_done(op, 0);
        return;
    }
    char last[160];
    pgi__last_line(p->output, last, sizeof last);
    rg_errmsg_printf(op->errmsg, "pg_controldata: %s",
                     status != 0 ? p->errmsg
                     : err[0]    ? err
                                 : last);
    pgi__op_done(op, RG_EIO);
}

static void inspected(struct pgi_fop *f)
{
    struct pgi_op *op = f->data;
    struct pgi *pg = op->pg;
    if (f->status != 0) {
        rg_errmsg_printf(op->errmsg, "%s", f->errmsg);
        pgi__op_done(op, f->status);
        return;
    }
    op->dir.postmaster_alive =
        op->dir.postmaster_pid > 0 && pid_is_postgres(op->dir.postmaster_pid);
    pg->postmaster_pid = op->dir.postmaster_alive ? op->dir.postmaster_pid : 0;
    /* A running postmaster's control data changes under our feet and the
     * status query says more: read it only when PostgreSQL is down. */
    if (!op->dir.initialized || op->dir.postmaster_alive) {
        pgi__op_done(op, 0);
        return;
    }
    char *args[] = {"pg_controldata", "-D", pg->data_dir, NULL};
    op->quiet = true;
    if (pgi__run(op, args, 10000, controldata_done) != 0) {
        pgi__op_done(op, RG_EIO);
    }
}

int pgi_controldata(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb)
{
    char *args[] = {"pg_controldata", "-D", pg->data_dir, NULL};
    pgi__op_init(pg, op, PGI_OP_CONTROLDATA, cb);
    memset(&op->dir, 0, sizeof op->dir);
    op->quiet = true;
    return pgi__run(op, args, 10000, controldata_done);
}

int pgi_inspect(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb)
{
    pgi__op_init(pg, op, PGI_OP_INSPECT, cb);
    op->fop.data = op;
    return pgi_fileio_call(pg->io, &op->fop, inspect_work, op, inspected);
}

/* --- configuration files --------------------------------------------------- */

struct conf_files {
    char *dir;
    char *conf, *hba, *pgpass_path, *pgpass;
    bool standby;
};

static int write_file(const char *path, const char *text, unsigned mode, char *errmsg, size_t len)
{
    char *tmp = rg_asprintf("%s.tmp", path);
    int rv = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t n = strlen(text);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
        put_err(errmsg, len, "could not write \"%s\": %s", tmp, strerror(errno));
        rv = RG_EIO;
    } else if (fchmod(fd, mode) != 0 || rename(tmp, path) != 0) {
        put_err(errmsg, len, "could not install \"%s\": %s", path, strerror(errno));
        rv = RG_EIO;
    }
    if (fd >= 0) {
        close(fd);
    }
    rg_free(tmp);
    return rv;
}

/* Keep the original postgresql.conf as postgresql.base.conf, once. */
static int keep_base_conf(const char *dir, char *errmsg, size_t len)
{
    char conf[4096], base[4096], head[64] = "";
    snprintf(conf, sizeof conf, "%s/postgresql.conf", dir);
    snprintf(base, sizeof base, "%s/postgresql.base.conf", dir);
    if (access(base, F_OK) == 0) {
        return 0;
    }
    FILE *f = fopen(conf, "re");
    if (f != NULL) {
        size_t n = fread(head, 1, sizeof head - 1, f);
        head[n] = '\0';
        fclose(f);
        if (strncmp(head, OUR_CONF_MARK, strlen(OUR_CONF_MARK)) != 0) {
            if (rename(conf, base) != 0) {
                put_err(errmsg, len, "could not rename \"%s\": %s", conf, strerror(errno));
                return RG_EIO;
            }
            return 0;
        }
    }
    return write_file(base, "# the original postgresql.conf (none was found)\n", 0600, errmsg, len);
}

static void configure_work(struct pgi_fop *f, void *arg)
{
    struct conf_files *c = arg;
    char path[4096];
    f->status = keep_base_conf(c->dir, f->errmsg, sizeof f->errmsg);
    if (f->status == 0) {
        snprintf(path, sizeof path, "%s/postgresql.conf", c->dir);
        f->status = write_file(path, c->conf, 0600, f->errmsg, sizeof f->errmsg);
    }
    if (f->status == 0 && c->hba != NULL) {
        snprintf(path, sizeof path, "%s/pg_hba.conf", c->dir);
        f->status = write_file(path, c->hba, 0600, f->errmsg, sizeof f->errmsg);
    }
    if (f->status == 0 && c->pgpass_path != NULL) {
        f->status = write_file(c->pgpass_path, c->pgpass, 0600, f->errmsg, sizeof f->errmsg);
    }
    if (f->status == 0) {
        snprintf(path, sizeof path, "%s/standby.signal", c->dir);
        if (c->standby) {
            f->status = write_file(path, "", 0600, f->errmsg, sizeof f->errmsg);
        } else if (unlink(path) != 0 && errno != ENOENT) {
            rg_errmsg_printf(f->errmsg, "could not remove \"%s\": %s", path, strerror(errno));
            f->status = RG_EIO;
        }
    }
}

static void conf_files_free(struct conf_files *c)
{
    rg_free(c->dir);
    rg_free(c->conf);
    rg_free(c->hba);
    rg_free(c->pgpass_path);
    if (c->pgpass != NULL) {
        memset(c->pgpass, 0, strlen(c->pgpass));
    }
    rg_free(c->pgpass);
    rg_free(c);
}

static void configured(struct pgi_fop *f)
{
    struct pgi_op *op = f->data;
    conf_files_free(op->files);
    op->files = NULL;
    if (f->status != 0) {
        rg_errmsg_printf(op->errmsg, "%s", f->errmsg);
    }
    pgi__op_done(op, f->status);
}

static char *pgpass_text(const struct pgi *pg)
{
    const char *users[][2] = {
        {pg->su_user, pg->su_pass}, {pg->rep_user, pg->rep_pass}, {pg->rw_user, pg->rw_pass}};
    char *out = rg_strdup("");
    for (size_t i = 0; i < RG_ARRAY_SIZE(users); i++) {
        if (users[i][0] == NULL || users[i][1] == NULL) {
            continue;
        }
        char *line = pgi_pgpass_line("*", "*", "*", users[i][0], users[i][1]);
        if (line == NULL) {
            rg_log(RG_WARNING, PGI_LOGM, "pgpass: the entry of user %s holds a line break: skipped",
                   users[i][0]);
            continue;
        }
        char *next = rg_asprintf("%s%s", out, line);
        rg_free(line);
        rg_free(out);
        out = next;
    }
    return out;
}

static char *primary_conninfo(const struct pgi *pg, const struct pgi_config *c)
{
    struct pgi_kv kv;
    struct pgi_user u = {pg->rep_user, NULL}; /* the password comes from pgpass */
    pgi__kv_remote(pg, &kv, c->primary_host, c->primary_port, &u, false);
    /* primary_conninfo connects for replication by itself: drop dbname. */
    for (size_t i = 0; i < kv.n; i++) {
        if (strcmp(kv.k[i], "dbname") == 0 || strcmp(kv.k[i], "connect_timeout") == 0) {
            kv.v[i] = NULL;
        }
    }
    return pgi_conninfo_build(kv.k, kv.v);
}

int pgi_configure(struct pgi *pg, struct pgi_op *op, const struct pgi_config *c, pgi_op_cb cb)
{
    char err[RG_ERRMSG_SIZE] = "";
    pgi__op_init(pg, op, PGI_OP_CONFIGURE, cb);
    struct conf_files *files = rg_calloc(1, sizeof *files);
    files->dir = rg_strdup(pg->data_dir);
    files->standby = c->standby;
    char *conninfo = NULL;
    struct pgi_standby sb = {0};
    if (c->standby && c->primary_host != NULL) {
        conninfo = primary_conninfo(pg, c);
        sb.primary_conninfo = conninfo;
        sb.primary_slot_name = c->primary_slot_name;
    }
    char *conf = pgi_conf_render(c->parameters, "postgresql.base.conf", c->standby ? &sb : NULL);
    files->conf =
        rg_asprintf(OUR_CONF_MARK " for member %s of cluster %s.\n%s", pg->name, pg->scope, conf);
    rg_free(conf);
    rg_free(conninfo);
    if (c->pg_hba != NULL && pgi_conf_render_hba(c->pg_hba, &files->hba, err) != 0) {
        rg_errmsg_printf(op->errmsg, "%s", err);
        conf_files_free(files);
        return RG_EINVAL;
    }
    if (pg->pgpass != NULL) {
        files->pgpass_path = rg_strdup(pg->pgpass);
        files->pgpass = pgpass_text(pg);
    }
    op->files = files; /* freed in configured() */
    op->fop.data = op;
    int rv = pgi_fileio_call(pg->io, &op->fop, configure_work, files, configured);
    if (rv != 0) {
        conf_files_free(files);
        op->files = NULL;
    }
    return rv;
}

/* --- timeline histories ------------------------------------------------------- */

static void history_fetched(struct pgi_sql *q, int status);

static int history_query(struct pgi_op *op, const char *sql)
{
    struct pgi_kv kv;
    struct pgi_user u = {op->pg->rep_user, op->pg->rep_pass};
    const char *queries[] = {sql};
    pgi__kv_remote(op->pg, &kv, op->arg, op->port, &u, true);
    memset(&op->sql, 0, sizeof op->sql);
    op->sql.data = op;
    int rv = pgi_sql_start(op->pg->loop, &op->sql, kv.k, kv.v, queries, 1, 5000, history_fetched);
    if (rv != 0) {
        rg_errmsg_printf(op->errmsg, "%s", op->sql.errmsg);
    }
    return rv;
}

static void history_fetched(struct pgi_sql *q, int status)
{
    struct pgi_op *op = q->data;
    const struct pgi_result *r = status == 0 && q->n_results > 0 ? &q->results[0] : NULL;
    if (r == NULL) {
        rg_errmsg_printf(op->errmsg, "timeline history from %s: %s", op->arg,
                         status != 0 ? q->errmsg : "no result");
        pgi__op_done(op, status != 0 ? status : RG_EIO);
        return;
    }
    if (op->step == 0) {
        const char *tli = pgi_result_get(r, 0, "timeline");
        op->leader_timeline = tli != NULL ? (unsigned)strtoul(tli, NULL, 10) : 0;
        if (op->leader_timeline <= 1) {
            op->text = rg_strdup(""); /* timeline 1 has no history */
            pgi__op_done(op, op->leader_timeline == 1 ? 0 : RG_EIO);
            return;
        }
        char sql[64];
        snprintf(sql, sizeof sql, "TIMELINE_HISTORY %u", op->leader_timeline);
        op->step = 1;
        if (history_query(op, sql) != 0) {
            pgi__op_done(op, RG_EIO);
        }
        return;
    }
    const char *content = pgi_result_get(r, 0, "content");
    op->text = rg_strdup(content != NULL ? content : "");
    pgi__op_done(op, 0);
}

int pgi_timeline_history(
    struct pgi *pg, struct pgi_op *op, const char *host, unsigned port, pgi_op_cb cb)
{
    pgi__op_init(pg, op, PGI_OP_HISTORY, cb);
    op->arg = rg_strdup(host);
    op->port = port;
    return history_query(op, "IDENTIFY_SYSTEM");
}

bool pgi_history_diverged(const char *history,
                          unsigned primary_tli,
                          unsigned our_tli,
                          uint64_t our_lsn,
                          char *why,
                          size_t whylen)
{
    char lsn_text[32];
    pgi_lsn_format(our_lsn, lsn_text, sizeof lsn_text);
    if (our_tli == primary_tli) {
        return false;
    }
    if (our_tli > primary_tli) {
        snprintf(why, whylen, "our timeline %u is ahead of the primary's %u", our_tli, primary_tli);
        return true;
    }
    /* Lines "<tli>\t<switch lsn>\t<reason>"; comments and blank lines skipped. */
    const char *p = history != NULL ? history : "";
    while (*p != '\0') {
        unsigned tli;
        char lsn[32];
        if (sscanf(p, "%u %31s", &tli, lsn) == 2 && tli == our_tli) {
            uint64_t sw = 0;
            if (pgi_lsn_parse(lsn, &sw) != 0) {
                break;
            }
            if (our_lsn >= sw) {
                snprintf(why, whylen,
                         "our WAL on timeline %u reaches %s, at or past the switch point %s to "
                         "the primary's timeline",
                         our_tli, lsn_text, lsn);
                return true;
            }
            return false;
        }
        const char *nl = strchr(p, '\n');
        if (nl == NULL) {
            break;
        }
        p = nl + 1;
    }
    snprintf(why, whylen, "our timeline %u is not in the primary's timeline %u history", our_tli,
             primary_tli);
    return true;
}
