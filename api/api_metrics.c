/*
 * api_metrics: the Prometheus text of GET /metrics (see api_metrics.h).
 *
 * Happy path: api_metrics_reply builds the node's GET /patroni document
 * (api_view_patroni, so both endpoints always agree), reads the Raft facts,
 * the lease epoch and the history from the store, and api_metrics_render
 * writes every metric as three lines (HELP, TYPE, sample) in Patroni's
 * order, Regent's after them.
 *
 * Where Regent differs from Patroni 4.1.4, deliberately:
 *   - patroni_master is there too (Patroni 3.x; 4.0 dropped it), right
 *     before patroni_primary as 3.x had it;
 *   - patroni_version is Regent's version, padded the same way
 *     ("0.1.0" -> 000100);
 *   - patroni_failsafe_mode_is_active is always 0 (no failsafe mode), and
 *     the unreleased patroni_failsafe_* and patroni_failover_priority are
 *     not emitted;
 *   - timestamps (postmaster start, last replayed transaction) have
 *     millisecond resolution.
 * Nothing here fails: a field missing from the document is 0.
 */
#include "api/api_metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent/rg.h"
#include "api/api.h"
#include "api/api_health.h"
#include "raft/store.h"

/* --- a growing text --------------------------------------------------------- */

struct text {
    char *s; /* owned */
    size_t len, cap;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + (size_t)n + 1) {
            cap *= 2;
        }
        t->s = rg_realloc(t->s, cap);
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* A label value as the text format wants it: \ " and newline escaped. */
static void label_value(struct text *t, const char *v)
{
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '\\') {
            text_printf(t, "\\\\");
        } else if (*p == '"') {
            text_printf(t, "\\\"");
        } else if (*p == '\n') {
            text_printf(t, "\\n");
        } else {
            text_printf(t, "%c", *p);
        }
    }
}

/* --- reading the status document ------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static bool flag(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(get(o, key));
}

static bool str_is(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = get(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

/* A timestamp as GET /patroni renders it ("2024-08-28 19:39:26.352526+00:00")
 * in Unix seconds; 0 when absent or unreadable, as Patroni has it. */
static double epoch_seconds(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    int64_t ms;
    if (!cJSON_IsString(v) || rg_iso8601_parse(v->valuestring, &ms) != 0) {
        return 0;
    }
    return (double)ms / 1000.0;
}

/* Patroni's padded_semver: every dotted part's leading digits, two digits
 * at least ("4.1.4" -> "040104"). */
static void padded_version(const char *v, char *buf, size_t len)
{
    size_t o = 0;
    while (v != NULL && o + 8 < len) {
        size_t digits = strspn(v, "0123456789");
        if (digits == 0 || digits > 6) {
            break;
        }
        o += (size_t)snprintf(buf + o, len - o, "%s%.*s", digits < 2 ? "0" : "", (int)digits, v);
        v = strchr(v, '.');
        v = v != NULL ? v + 1 : NULL;
    }
    if (o == 0) {
        snprintf(buf, len, "0");
    }
}

/* Patroni's PostgresqlState numbers (spec 1.3), fixed forever. */
static const char *const pg_states[] = {
    "initializing new cluster",
    "initdb failed",
    "running custom bootstrap script",
    "custom bootstrap failed",
    "creating replica",
    "running",
    "starting",
    "starting after custom bootstrap",
    "start failed",
    "restarting",
    "restart failed",
    "stopping",
    "stopped",
    "stop failed",
    "crashed",
};

static int state_number(const cJSON *doc)
{
    const cJSON *v = get(doc, "state");
    for (size_t i = 0; cJSON_IsString(v) && i < RG_ARRAY_SIZE(pg_states); i++) {
        if (strcmp(v->valuestring, pg_states[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* --- writing ---------------------------------------------------------------- */

struct out {
    struct text t;
    char labels[512]; /* {scope="…",name="…"} */
};

static void header(struct out *o, const char *name, const char *type, const char *help)
{
    text_printf(&o->t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_num(struct out *o, const char *name, double v)
{
    if (v == (double)(int64_t)v && v < 9.2e18 && v > -9.2e18) {
        text_printf(&o->t, "%s%s %" PRId64 "\n", name, o->labels, (int64_t)v);
    } else {
        text_printf(&o->t, "%s%s %.17g\n", name, o->labels, v);
    }
}

static void metric(struct out *o, const char *name, const char *type, const char *help, double v)
{
    header(o, name, type, help);
    sample_num(o, name, v);
}

static void
metric_u64(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
    header(o, name, type, help);
    text_printf(&o->t, "%s%s %" PRIu64 "\n", name, o->labels, v);
}

static void set_labels(struct out *o, const cJSON *patroni)
{
    struct text l = {0};
    const cJSON *scope = get(patroni, "scope"), *name = get(patroni, "name");
    text_printf(&l, "{scope=\"");
    label_value(&l, cJSON_IsString(scope) ? scope->valuestring : "");
    text_printf(&l, "\",name=\"");
    label_value(&l, cJSON_IsString(name) ? name->valuestring : "");
    text_printf(&l, "\"}");
    snprintf(o->labels, sizeof o->labels, "%s", l.s);
    /* A label cut short would leave the line unparsable: close it. */
    if (l.len >= sizeof o->labels) {
        snprintf(o->labels + sizeof o->labels - 3, 3, "\"}");
    }
    rg_free(l.s);
}

static void patroni_metrics(struct out *o, const cJSON *doc)
{
    const cJSON *patroni = get(doc, "patroni");
    const cJSON *xlog = get(doc, "xlog");
    const cJSON *version = get(patroni, "version");
    char padded[64];
    padded_version(cJSON_IsString(version) ? version->valuestring : NULL, padded, sizeof padded);
    header(o, "patroni_version", "gauge", "Patroni semver without periods.");
    text_printf(&o->t, "patroni_version%s %s\n", o->labels, padded);

    metric(o, "patroni_postgres_running", "gauge",
           "Value is 1 if Postgres is running, 0 otherwise.", str_is(doc, "state", "running"));
    metric(o, "patroni_postmaster_start_time", "gauge", "Epoch seconds since Postgres started.",
           epoch_seconds(doc, "postmaster_start_time"));
    bool primary = str_is(doc, "role", "primary") || str_is(doc, "role", "master");
    metric(o, "patroni_master", "gauge", "Value is 1 if this node is the leader, 0 otherwise.",
           primary);
    metric(o, "patroni_primary", "gauge", "Value is 1 if this node is the leader, 0 otherwise.",
           primary);
    metric(o, "patroni_xlog_location", "counter",
           "Current location of the Postgres transaction log, 0 if this node is not the leader.",
           num(xlog, "location"));
    metric(o, "patroni_standby_leader", "gauge",
           "Value is 1 if this node is the standby_leader, 0 otherwise.",
           str_is(doc, "role", "standby_leader"));
    metric(o, "patroni_replica", "gauge", "Value is 1 if this node is a replica, 0 otherwise.",
           str_is(doc, "role", "replica"));
    metric(o, "patroni_sync_standby", "gauge",
           "Value is 1 if this node is a sync standby, 0 otherwise.", flag(doc, "sync_standby"));
    metric(o, "patroni_quorum_standby", "gauge",
           "Value is 1 if this node is a quorum standby, 0 otherwise.",
           flag(doc, "quorum_standby"));
    metric(o, "patroni_xlog_received_location", "counter",
           "Current location of the received Postgres transaction log, 0 if this node is not a "
           "replica.",
           num(xlog, "received_location"));
    metric(o, "patroni_xlog_replayed_location", "counter",
           "Current location of the replayed Postgres transaction log, 0 if this node is not a "
           "replica.",
           num(xlog, "replayed_location"));
    metric(o, "patroni_xlog_replayed_timestamp", "gauge",
           "Current timestamp of the replayed Postgres transaction log, 0 if null.",
           epoch_seconds(xlog, "replayed_timestamp"));
    metric(o, "patroni_xlog_paused", "gauge",
           "Value is 1 if the Postgres xlog is paused, 0 otherwise.", flag(xlog, "paused"));
    if (num(doc, "server_version") >= 90600) {
        metric(o, "patroni_postgres_streaming", "gauge",
               "Value is 1 if Postgres is streaming, 0 otherwise.",
               str_is(doc, "replication_state", "streaming"));
        metric(o, "patroni_postgres_in_archive_recovery", "gauge",
               "Value is 1 if Postgres is replicating from archive, 0 otherwise.",
               str_is(doc, "replication_state", "in archive recovery"));
    }
    metric(o, "patroni_postgres_server_version", "gauge",
           "Version of Postgres (if running), 0 otherwise.", num(doc, "server_version"));
    metric(o, "patroni_cluster_unlocked", "gauge",
           "Value is 1 if the cluster is unlocked, 0 if locked.", flag(doc, "cluster_unlocked"));
    metric(o, "patroni_failsafe_mode_is_active", "gauge",
           "Value is 1 if failsafe mode is active, 0 if inactive.",
           flag(doc, "failsafe_mode_is_active"));
    metric(o, "patroni_postgres_timeline", "gauge",
           "Postgres timeline of this node (if running), 0 otherwise.", num(doc, "timeline"));
    metric(o, "patroni_dcs_last_seen", "gauge",
           "Epoch timestamp when DCS was last contacted successfully by Patroni.",
           num(doc, "dcs_last_seen"));
    metric(o, "patroni_pending_restart", "gauge",
           "Value is 1 if the node needs a restart, 0 otherwise.", flag(doc, "pending_restart"));
    metric(o, "patroni_is_paused", "gauge", "Value is 1 if auto failover is disabled, 0 otherwise.",
           flag(doc, "pause"));

    text_printf(&o->t, "# HELP patroni_postgres_state Numeric representation of Postgres state.\n"
                       "# Values: 0=initdb, 1=initdb_failed, 2=custom_bootstrap, "
                       "3=custom_bootstrap_failed, 4=creating_replica, 5=running, 6=starting, "
                       "7=bootstrap_starting, 8=start_failed, 9=restarting, 10=restart_failed, "
                       "11=stopping, 12=stopped, 13=stop_failed, 14=crashed\n"
                       "# TYPE patroni_postgres_state gauge\n");
    sample_num(o, "patroni_postgres_state", state_number(doc));
}

static void regent_metrics(struct out *o, const struct api_metrics_facts *f)
{
    metric_u64(o, "regent_raft_term", "gauge", "The Raft term this node is in.", f->raft_term);
    metric_u64(o, "regent_raft_commit_index", "gauge",
               "Index of the last Raft log entry known to be committed.", f->raft_commit_index);
    metric_u64(o, "regent_raft_applied_index", "gauge",
               "Index of the last Raft log entry applied by this node's store.",
               f->raft_applied_index);
    metric_u64(o, "regent_lease_epoch", "gauge",
               "Epoch of the leader lease (incremented by every grant), 0 before the first.",
               f->lease_epoch);
    uint64_t n = 0;
    const cJSON *last = NULL;
    for (const cJSON *e = cJSON_IsArray(f->history) ? f->history->child : NULL; e != NULL;
         e = e->next) {
        n++;
        last = e;
    }
    metric_u64(o, "regent_failovers_total", "counter",
               "Changes of primary recorded in the cluster's history.", n);
    const cJSON *extra = cJSON_IsArray(last) ? cJSON_GetArrayItem(last, 5) : NULL;
    const cJSON *ms = get(extra, "unavailable_ms");
    if (cJSON_IsNumber(ms) && ms->valuedouble >= 0) {
        metric(o, "regent_last_failover_seconds", "gauge",
               "How long the cluster had no writable primary in the last change of primary.",
               ms->valuedouble / 1000.0);
    }
}

char *api_metrics_render(const cJSON *patroni, const struct api_metrics_facts *f, size_t *len)
{
    struct out o = {0};
    set_labels(&o, get(patroni, "patroni"));
    patroni_metrics(&o, patroni);
    regent_metrics(&o, f);
    if (len != NULL) {
        *len = o.t.len;
    }
    return o.t.s;
}

void api_metrics_reply(struct api_req *req, const struct api_node_status *st, struct store *store)
{
    struct store_raft_info info;
    store_raft_info_get(store, &info);
    const struct store_state *s = store_get_state(store);
    struct api_metrics_facts f = {
        .raft_term = info.term,
        .raft_commit_index = info.commit_index,
        .raft_applied_index = info.applied_index,
        .lease_epoch = s->lease.epoch,
        .history = s->history,
    };
    store_raft_info_close(&info);
    cJSON *doc = api_view_patroni(st);
    size_t len;
    char *text = api_metrics_render(doc, &f, &len);
    cJSON_Delete(doc);
    api_reply_body(req, 200, API_METRICS_CONTENT_TYPE, text, len);
    rg_free(text);
}
