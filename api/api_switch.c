/*
 * api_switch: POST /switchover, DELETE /switchover and POST /failover, with
 * Patroni's bodies, codes and texts (spec/patroni-compat.md 1.6), on every
 * node — the witness too: the request is the store's failover record, and
 * whoever must act on it reads it there (DESIGN.md, "Switchover"; the
 * holder of the lease hands it over, or the coordinator grants it when
 * there is no holder).
 *
 *   validate (400/422) -> pre-check against the store's view (412)
 *   -> write the record (an operator's write, epoch 0; 503 when it cannot be)
 *   -> scheduled: 202 | immediate: wait for the outcome in the state
 *      (store_wait): 200 when the lease changed hands and the new holder
 *      runs as primary, 503 when the record came back failed, or with
 *      "status unknown" when the wait ran out.
 *
 * The record carries the request's id, so a waiter reads its own outcome.
 */
#include "api/api_switch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "api/api.h"
#include "raft/coord_pick.h"
#include "raft/store.h"

#define SWITCH_WAIT_MS   10000u
#define WRITE_TIMEOUT_MS 10000u
#define DEFAULT_MAX_LAG  1048576u

struct switch_req {
    struct store_req sreq;
    struct api_req *req;
    struct store *store;
    bool failover; /* the reply says "failed over" */
    bool scheduled;
    char id[STORE_REQ_ID_SIZE];
    uint64_t epoch;             /* the lease epoch when the request came */
    char from[STORE_NAME_SIZE]; /* the holder then ("" none) */
    char to[STORE_NAME_SIZE];   /* the candidate ("" any) */
};

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

static void reply_fmt(struct api_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_fmt(struct api_req *req, int status, const char *fmt, ...)
{
    char text[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    api_reply_text(req, status, text);
}

/* --- the store's view of the candidates ---------------------------------------- */

static const char *mstr(const struct store_member *m, const char *key)
{
    return jstr(m->data, key);
}

static bool member_fresh(const struct store_member *m, uint64_t now_ct)
{
    const char *ct = mstr(m, "ct");
    uint64_t at = ct != NULL ? strtoull(ct, NULL, 10) : 0;
    return at != 0 && (now_ct < at || now_ct - at <= API_MEMBER_STALE_MS);
}

/* Why @m could not take over now, or NULL when it could. */
static const char *unfit(const struct store_member *m,
                         uint64_t now_ct,
                         bool check_lag,
                         uint64_t primary_lsn,
                         uint64_t max_lag,
                         char *buf,
                         size_t len)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(m->data, "tags");
    const cJSON *prio = cJSON_GetObjectItemCaseSensitive(tags, "failover_priority");
    const char *role = mstr(m, "role"), *state = mstr(m, "state");
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(m->data, "xlog_location");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tags, "nofailover")) ||
        (cJSON_IsNumber(prio) && prio->valuedouble <= 0)) {
        return "nofailover";
    }
    if (!member_fresh(m, now_ct)) {
        return "its agent does not report";
    }
    if (role == NULL || strcmp(role, "replica") != 0 || state == NULL ||
        strcmp(state, "running") != 0) {
        return "not a running replica";
    }
    if (check_lag && cJSON_IsNumber(pos) && primary_lsn > (uint64_t)pos->valuedouble &&
        primary_lsn - (uint64_t)pos->valuedouble > max_lag) {
        snprintf(buf, len, "lag %" PRIu64 " > %" PRIu64 " bytes",
                 primary_lsn - (uint64_t)pos->valuedouble, max_lag);
        return buf;
    }
    return NULL;
}

/* Is @name listed in @holder's sync record? @name NULL: is anyone? */
static bool in_sync_record(const struct store_state *st, const char *holder, const char *name)
{
    const cJSON *leader = cJSON_GetObjectItemCaseSensitive(st->sync, "leader");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(st->sync, "sync_standby");
    if (holder == NULL || !cJSON_IsString(leader) || strcmp(leader->valuestring, holder) != 0 ||
        !cJSON_IsString(names) || names->valuestring[0] == '\0') {
        return false;
    }
    if (name == NULL) {
        return true;
    }
    size_t n = strlen(name);
    for (const char *p = names->valuestring; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t l = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0) {
            return true;
        }
        p = comma != NULL ? comma + 1 : NULL;
    }
    return false;
}

/*
 * Patroni's is_failover_possible, from the store: 0, or 412 with the text.
 * @holder: the valid lease holder or NULL.
 */
static int precheck(const struct store_state *st,
                    uint64_t now_ct,
                    const char *action,
                    const char *holder,
                    const char *leader,
                    const char *candidate,
                    char *text,
                    size_t len)
{
    if (leader != NULL && (holder == NULL || strcmp(leader, holder) != 0)) {
        snprintf(text, len, "leader name does not match");
        return 412;
    }
    if (candidate != NULL && store_state_member(st, candidate) == NULL) {
        snprintf(text, len, "candidate does not exists");
        return 412;
    }
    /* With a leader in synchronous mode only a synchronous standby may take
     * over: any other may lack acknowledged commits (Patroni's checks; a
     * failover without a leader skips them). */
    if (holder != NULL && coord_sync_mode_on(st)) {
        if (candidate != NULL && !in_sync_record(st, holder, candidate)) {
            snprintf(text, len, "candidate name does not match with sync_standby");
            return 412;
        }
        if (candidate == NULL && !in_sync_record(st, holder, NULL)) {
            snprintf(text, len, "%s is not possible: can not find sync_standby", action);
            return 412;
        }
    }
    const cJSON *lag = cJSON_GetObjectItemCaseSensitive(st->config, "maximum_lag_on_failover");
    uint64_t max_lag =
        cJSON_IsNumber(lag) && lag->valuedouble >= 0 ? (uint64_t)lag->valuedouble : DEFAULT_MAX_LAG;
    /* Members' records carry their positions at most every loop_wait: too
     * old to judge lag by. The holder judges it from pg_stat_replication
     * (and answers 412 through the record); the coordinator from fresh
     * reports. A manual failover without a leader skips it (Patroni). */
    bool check_lag = false;
    size_t others = 0, off = 0;
    char why[512] = "";
    for (size_t i = 0; i < st->n_members; i++) {
        const struct store_member *m = &st->members[i];
        char buf[96];
        if ((holder != NULL && strcmp(m->name, holder) == 0) ||
            (candidate != NULL && strcmp(m->name, candidate) != 0)) {
            continue;
        }
        others++;
        const char *no = unfit(m, now_ct, check_lag, st->lease.lsn, max_lag, buf, sizeof buf);
        if (no == NULL) {
            return 0;
        }
        off += (size_t)snprintf(why + off, off < sizeof why ? sizeof why - off : 0, "%s%s: %s",
                                off > 0 ? "; " : "", m->name, no);
    }
    if (others == 0) {
        snprintf(text, len, "%s is not possible: cluster does not have members except leader",
                 action);
    } else {
        snprintf(text, len, "%s is not possible: no good candidates have been found (%s)", action,
                 why);
    }
    return 412;
}

/* --- waiting for the outcome ------------------------------------------------------ */

static bool holder_runs_primary(const struct store_state *st, uint64_t now_ct)
{
    const struct store_member *m = store_state_member(st, st->lease.holder);
    const char *role = m != NULL ? mstr(m, "role") : NULL;
    const char *state = m != NULL ? mstr(m, "state") : NULL;
    return role != NULL && state != NULL && strcmp(role, "primary") == 0 &&
           strcmp(state, "running") == 0 && member_fresh(m, now_ct);
}

static bool outcome_known(struct store_req *sreq, const struct store_state *st)
{
    struct switch_req *r = sreq->data;
    const struct store_lease *l = &st->lease;
    const char *id = jstr(st->failover, "id");
    if (id != NULL && strcmp(id, r->id) == 0 &&
        cJSON_GetObjectItemCaseSensitive(st->failover, "failed")) {
        return true;
    }
    if (l->epoch == r->epoch || l->released || l->handover_unconfirmed) {
        return false;
    }
    /* Handed on, or back to the old primary (the candidate never confirmed):
     * known once the holder runs as primary. */
    return holder_runs_primary(st, store_now_ct(r->store));
}

static void waited(struct store_req *sreq, int status, const cJSON *reply)
{
    struct switch_req *r = sreq->data;
    const struct store_state *st = store_get_state(r->store);
    const char *kind = r->failover ? "Failover" : "Switchover";
    const char *done = r->failover ? "failed over" : "switched over";
    (void)reply;
    if (status != 0) {
        reply_fmt(r->req, 503, "%s status unknown", kind);
    } else if (jstr(st->failover, "failed") != NULL &&
               strcmp(jstr(st->failover, "id") ? jstr(st->failover, "id") : "", r->id) == 0) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(st->failover, "code");
        if (cJSON_IsNumber(code) && code->valueint == 412) {
            reply_fmt(r->req, 412, "%s is not possible: no good candidates have been found (%s)",
                      r->failover ? "failover" : "switchover", jstr(st->failover, "failed"));
        } else {
            reply_fmt(r->req, 503, "%s failed: %s", kind, jstr(st->failover, "failed"));
        }
    } else if (strcmp(st->lease.holder, r->from) == 0) {
        reply_fmt(r->req, 503, "%s failed: %s is the leader again", kind, r->from);
    } else if (r->to[0] == '\0' || strcmp(st->lease.holder, r->to) == 0) {
        reply_fmt(r->req, 200, "Successfully %s to \"%s\"", done, st->lease.holder);
    } else {
        reply_fmt(r->req, 200, "%s%s to \"%s\" instead of \"%s\"", r->failover ? "F" : "S",
                  r->failover ? "ailed over" : "witched over", st->lease.holder, r->to);
    }
    rg_free(r);
}

static void written(struct store_req *sreq, int status, const cJSON *reply)
{
    struct switch_req *r = sreq->data;
    struct store_result res;
    if (status != 0 || store_reply_result(reply, &res, NULL) != 0 || res.code != 0) {
        api_reply_text(r->req, 503, "failed to write failover key into DCS");
        rg_free(r);
        return;
    }
    if (r->scheduled) {
        api_reply_text(r->req, 202, r->failover ? "Failover scheduled" : "Switchover scheduled");
        rg_free(r);
        return;
    }
    if (store_wait(r->store, &r->sreq, SWITCH_WAIT_MS, outcome_known, waited) != 0) {
        reply_fmt(r->req, 503, "%s status unknown", r->failover ? "Failover" : "Switchover");
        rg_free(r);
    }
}

/* --- the handlers ------------------------------------------------------------------- */

struct request {
    bool failover;
    const char *leader, *candidate, *scheduled_at;
    int64_t at_ms;
};

/* Patroni's do_POST_failover rules 1–4: 0, or the status with @text. */
static int validate(const cJSON *body, bool paused, struct request *q, char *text, size_t len)
{
    q->leader = jstr(body, "leader");
    q->candidate = jstr(body, "candidate");
    if (q->candidate == NULL) {
        q->candidate = jstr(body, "member");
    }
    q->scheduled_at = jstr(body, "scheduled_at");
    if (q->failover && q->leader != NULL) {
        q->failover = false; /* [>= 3.2] a failover with a leader is a switchover */
    }
    const char *Action = q->failover ? "Failover" : "Switchover";
    if (q->failover && q->candidate == NULL) {
        snprintf(text, len, "Failover could be performed only to a specific candidate");
        return 400;
    }
    if (!q->failover && q->leader == NULL) {
        snprintf(text, len, "Switchover could be performed only from a specific leader");
        return 400;
    }
    if (q->failover && q->scheduled_at != NULL) {
        snprintf(text, len, "Failover can't be scheduled");
        return 400;
    }
    if (q->scheduled_at != NULL && paused) {
        snprintf(text, len, "Can't schedule switchover in the paused state");
        return 400;
    }
    if (paused && q->candidate == NULL) {
        snprintf(text, len, "%s is possible only to a specific candidate in a paused state",
                 Action);
        return 400;
    }
    if (q->leader != NULL && q->candidate != NULL && strcmp(q->leader, q->candidate) == 0) {
        snprintf(text, len, "Switchover target and source are the same");
        return 400;
    }
    if (q->scheduled_at != NULL) {
        int rv = rg_iso8601_parse(q->scheduled_at, &q->at_ms);
        if (rv == RG_ENOENT) {
            snprintf(text, len, "Timezone information is mandatory for the scheduled switchover");
            return 400;
        }
        if (rv != 0) {
            snprintf(text, len,
                     "Unable to parse scheduled timestamp. It should be in an "
                     "unambiguous format, e.g. ISO 8601");
            return 422;
        }
        if (q->at_ms < (int64_t)rg_realtime_ms()) {
            snprintf(text, len, "Cannot schedule switchover in the past");
            return 422;
        }
    }
    return 0;
}

static void post_switch(void *data, struct api_req *req, bool failover)
{
    struct api_store_ctx *c = data;
    const struct store_state *st = store_get_state(c->store);
    const struct store_lease *l = &st->lease;
    uint64_t now_ct = store_now_ct(c->store);
    char text[700];
    size_t len;
    const char *raw = api_req_body(req, &len);
    cJSON *body = cJSON_ParseWithLength(raw, len);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        api_reply_text(req, 400, "request body must be a JSON object");
        return;
    }
    struct request q = {.failover = failover};
    bool paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st->config, "pause"));
    int code = validate(body, paused, &q, text, sizeof text);
    const char *holder =
        l->epoch != 0 && !l->released && store_lease_valid(l, now_ct) ? l->holder : NULL;
    if (code == 0 && q.scheduled_at == NULL) {
        code = precheck(st, now_ct, q.failover ? "failover" : "switchover", holder, q.leader,
                        q.candidate, text, sizeof text);
    }
    if (code != 0) {
        cJSON_Delete(body);
        api_reply_text(req, code, text);
        return;
    }
    struct switch_req *r = rg_calloc(1, sizeof *r);
    r->req = req;
    r->store = c->store;
    r->failover = q.failover;
    r->scheduled = q.scheduled_at != NULL;
    r->epoch = l->epoch;
    snprintf(r->from, sizeof r->from, "%s", holder != NULL ? holder : "");
    snprintf(r->to, sizeof r->to, "%s", q.candidate != NULL ? q.candidate : "");
    store_new_req_id("switch", r->id);

    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_FAILOVER_SET;
    store_new_req_id("api", cmd.id);
    cmd.json = cJSON_CreateObject();
    if (q.leader != NULL) {
        cJSON_AddStringToObject(cmd.json, "leader", q.leader);
    }
    if (q.candidate != NULL) {
        cJSON_AddStringToObject(cmd.json, "member", q.candidate);
    }
    if (q.scheduled_at != NULL) {
        cJSON_AddStringToObject(cmd.json, "scheduled_at", q.scheduled_at);
    }
    cJSON_AddStringToObject(cmd.json, "id", r->id);
    cJSON_Delete(body);
    r->sreq.data = r;
    if (store_propose(c->store, &r->sreq, &cmd, 0, WRITE_TIMEOUT_MS, written) != 0) {
        api_reply_text(req, 503, "failed to write failover key into DCS");
        rg_free(r);
    }
}

void api_on_switchover(void *data, struct api_req *req)
{
    post_switch(data, req, false);
}

void api_on_failover(void *data, struct api_req *req)
{
    post_switch(data, req, true);
}

struct delete_req {
    struct store_req sreq;
    struct api_req *req;
};

static void deleted(struct store_req *sreq, int status, const cJSON *reply)
{
    struct delete_req *d = sreq->data;
    (void)reply;
    if (status == 0) {
        api_reply_text(d->req, 200, "scheduled switchover deleted");
    } else {
        api_reply_text(d->req, 503, "failed to delete the scheduled switchover");
    }
    rg_free(d);
}

void api_on_switchover_delete(void *data, struct api_req *req)
{
    struct api_store_ctx *c = data;
    const cJSON *fo = store_get_state(c->store)->failover;
    if (jstr(fo, "scheduled_at") == NULL || cJSON_GetObjectItemCaseSensitive(fo, "failed")) {
        api_reply_text(req, 404, "no switchover is scheduled");
        return;
    }
    struct delete_req *d = rg_calloc(1, sizeof *d);
    d->req = req;
    d->sreq.data = d;
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_FAILOVER_SET; /* json NULL: clear */
    store_new_req_id("api", cmd.id);
    if (store_propose(c->store, &d->sreq, &cmd, 0, WRITE_TIMEOUT_MS, deleted) != 0) {
        api_reply_text(req, 503, "failed to delete the scheduled switchover");
        rg_free(d);
    }
}
