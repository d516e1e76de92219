/*
 * coord_run: the coordinator's loop (see coord_run.h).
 *
 * Every tick and every store event, on the Raft leader only (with its clock
 * running), coord_next says what the lease needs. One action is in flight at
 * a time:
 *
 *   IDLE --(grant due)--> GATHERING --(reports)--> PROPOSING --(applied)--> IDLE
 *     \--(bootstrap claim / stale claim)-----------> PROPOSING ------------^
 *
 * A grant is conditional at apply time (store_fsm), so a coordinator that
 * lost Raft leadership or raced another one cannot grant wrongly: the worst
 * is a refused proposal, which is logged and retried on the next tick. The
 * reports are final once sampled after the request arrived, because the old
 * holder's lease had already expired (DESIGN.md, "Unplanned failover").
 */
#include "raft/coord_run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "agent/rg_log.h"
#include "raft/coord_pick.h"
#include "raft/store_fsm.h"

#define LOGM                  "coord"
#define NO_CANDIDATE_RETRY_MS 500
#define LOG_EVERY_MS          5000

enum coord_state { COORD_S_IDLE, COORD_S_GATHERING, COORD_S_PROPOSING };

struct coord_run {
    uv_loop_t *loop;
    struct store *s;
    struct coord_run_options o;
    enum coord_state state;
    uv_timer_t timer;
    struct store_req req;
    uint64_t epoch; /* the lease epoch the action in flight is about */
    char exclude[STORE_NAME_SIZE];
    uint64_t retry_at;  /* boot ms: no new failover attempt before */
    uint64_t logged_at; /* boot ms of the last "no candidate" line */
    char last_why[256];
    char step_why[256]; /* why the failover in flight started */
    bool stopping;
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

static void tick(struct coord_run *c);

static void say(struct coord_run *c, int level, const char *why)
{
    uint64_t now = rg_boottime_ms();
    if (strcmp(why, c->last_why) != 0 || now - c->logged_at >= LOG_EVERY_MS) {
        rg_log(level, LOGM, "%s", why);
        snprintf(c->last_why, sizeof c->last_why, "%s", why);
        c->logged_at = now;
    }
}

static void maybe_finish_stop(struct coord_run *c);

static void proposed(struct store_req *req, int status, const cJSON *reply)
{
    struct coord_run *c = req->data;
    struct store_result res;
    c->state = COORD_S_IDLE;
    if (c->stopping) {
        maybe_finish_stop(c);
        return;
    }
    if (status == 0 && store_reply_result(reply, &res, NULL) == 0) {
        if (res.code == 0) {
            rg_log(RG_INFO, LOGM, "applied: lease epoch is now %" PRIu64, res.epoch);
        } else {
            rg_log(RG_INFO, LOGM, "refused at apply time: %s", res.reason);
        }
    } else if (status != 0 && status != RG_ESHUTDOWN) {
        rg_log(RG_WARNING, LOGM, "proposal failed: %s", rg_strerror(status));
        /* Not again at once: the next tick is soon enough. */
        c->retry_at = rg_boottime_ms() + c->o.tick_ms;
        return;
    }
    tick(c);
}

static void propose(struct coord_run *c, struct store_cmd *cmd)
{
    store_new_req_id("coord", cmd->id);
    c->req.data = c;
    c->state = COORD_S_PROPOSING;
    if (store_propose(c->s, &c->req, cmd, 0, c->o.ttl_ms, proposed) != 0) {
        c->state = COORD_S_IDLE;
    }
}

static void propose_grant(struct coord_run *c, const char *to, cJSON *reports)
{
    const struct store_state *st = store_get_state(c->s);
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_GRANT;
    snprintf(cmd.name, sizeof cmd.name, "%s", to);
    cmd.epoch = st->lease.epoch;
    cmd.ttl = c->o.ttl_ms;
    cmd.switchover_timeout = c->o.switchover_timeout_ms;
    cmd.json = reports;
    propose(c, &cmd);
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

/* The member an operator's manual failover names: the failover record's
 * "member", unless the record is scheduled (the holder's business) or was
 * answered as failed. */
static const char *manual_candidate(const struct store_state *st)
{
    const cJSON *fo = st->failover;
    if (!cJSON_IsObject(fo) || cJSON_GetObjectItemCaseSensitive(fo, "failed") != NULL ||
        jstr(fo, "scheduled_at") != NULL) {
        return NULL;
    }
    return jstr(fo, "member");
}

static bool paused(const struct store_state *st)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st->config, "pause"));
}

/* The manual failover cannot be carried out: say so in the record (an
 * operator's write, epoch 0), where the REST request waiting for it reads. */
static void refuse_manual(struct coord_run *c, const char *member, const char *why)
{
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_FAILOVER_SET;
    cmd.json = cJSON_CreateObject();
    cJSON_AddStringToObject(cmd.json, "member", member);
    cJSON_AddStringToObject(cmd.json, "failed", why);
    cJSON_AddNumberToObject(cmd.json, "code", 412);
    const char *id = jstr(store_get_state(c->s)->failover, "id");
    if (id != NULL) {
        cJSON_AddStringToObject(cmd.json, "id", id); /* the waiting request's */
    }
    rg_log(RG_WARNING, LOGM, "manual failover to %s refused: %s", member, why);
    propose(c, &cmd);
}

#define SYNC_MAX 16

struct sync_view {
    char names[SYNC_MAX][STORE_NAME_SIZE];
    const char *ptr[SYNC_MAX];
    size_t n;
    unsigned k;
};

/* The sync record (S, k) as the old holder @holder wrote it. A record of
 * anyone else (or none: a grant empties it) promises nothing: S is empty. */
static void sync_view(const struct store_state *st, const char *holder, struct sync_view *v)
{
    memset(v, 0, sizeof *v);
    const cJSON *leader = cJSON_GetObjectItemCaseSensitive(st->sync, "leader");
    if (!cJSON_IsString(leader) || holder == NULL || strcmp(leader->valuestring, holder) != 0) {
        return;
    }
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(st->sync, "sync_standby");
    for (const char *p = cJSON_IsString(names) ? names->valuestring : NULL; p != NULL && *p;) {
        const char *comma = strchr(p, ',');
        size_t l = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (l > 0 && l < STORE_NAME_SIZE && v->n < SYNC_MAX) {
            memcpy(v->names[v->n], p, l);
            v->names[v->n][l] = '\0';
            v->ptr[v->n] = v->names[v->n];
            v->n++;
        }
        p = comma != NULL ? comma + 1 : NULL;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(st->sync, "k");
    v->k = cJSON_IsNumber(k) && k->valuedouble >= 0 && k->valuedouble <= (double)v->n
               ? (unsigned)k->valuedouble
               : (unsigned)v->n;
}

static unsigned cluster_timeline(const struct store_state *st)
{
    /* History entries are [timeline, lsn, reason, time, new_primary]: the
     * timeline after the last switch is its timeline + 1. */
    int n = cJSON_GetArraySize(st->history);
    const cJSON *last = n > 0 ? cJSON_GetArrayItem(st->history, n - 1) : NULL;
    const cJSON *tl = cJSON_GetArrayItem(last, 0);
    return cJSON_IsNumber(tl) && tl->valuedouble >= 0 ? (unsigned)tl->valuedouble + 1u : 0u;
}

static void gathered(void *data, size_t n, const char *const *names, cJSON **replies)
{
    struct coord_run *c = data;
    char why[1024];
    c->state = COORD_S_IDLE;
    if (c->stopping) {
        maybe_finish_stop(c);
        return;
    }
    const struct store_state *st = store_get_state(c->s);
    if (!store_is_leader(c->s) || st->lease.epoch != c->epoch) {
        tick(c); /* the world moved on while we asked */
        return;
    }
    struct coord_report *r = rg_calloc(n + 1, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        coord_report_parse(names[i], replies[i], &r[i]);
    }
    char manual[STORE_NAME_SIZE] = "";
    if (manual_candidate(st) != NULL) {
        snprintf(manual, sizeof manual, "%s", manual_candidate(st));
    }
    struct coord_policy p = {
        .primary_lsn = st->lease.lsn,
        .maximum_lag = c->o.maximum_lag,
        .check_timeline = c->o.check_timeline,
        .cluster_timeline = cluster_timeline(st),
        .exclude = c->exclude,
        .candidate = manual[0] != '\0' ? manual : NULL,
    };
    struct sync_view sv;
    sync_view(st, c->exclude, &sv);
    if (coord_sync_mode_on(st)) {
        p.sync_mode = true;
        p.sync = sv.ptr;
        p.n_sync = sv.n;
        p.sync_k = sv.k;
    }
    if (manual[0] != '\0') {
        /* A manual failover in a cluster without a leader skips the lag,
         * timeline and synchronous checks, as Patroni's does: the operator
         * chose. */
        p.maximum_lag = UINT64_MAX;
        p.check_timeline = false;
        p.sync_mode = false;
    }
    int pick = coord_pick(r, n, &p, why, sizeof why);
    if (pick < 0 && manual[0] != '\0') {
        rg_free(r);
        refuse_manual(c, manual, why);
        return;
    }
    if (pick < 0) {
        char line[1100];
        snprintf(line, sizeof line, "failover: no eligible member (%s)", why);
        say(c, RG_WARNING, line);
        c->retry_at = rg_boottime_ms() + NO_CANDIDATE_RETRY_MS;
        rg_free(r);
        return;
    }
    /* The record says why the lease moved, who won and why the others did
     * not: "lease of node1 (epoch 3) expired ...; node2: highest lsn ...;
     * candidate node3: lag 9437184 > 1048576 bytes". */
    char *reason = rg_asprintf("%s; %s", c->step_why, why);
    for (size_t i = 0; i < n; i++) {
        char other[512];
        struct coord_policy only = p;
        only.candidate = r[i].name;
        if ((int)i != pick && coord_pick(r, n, &only, other, sizeof other) < 0) {
            char *next = rg_asprintf("%s; %s", reason, other);
            rg_free(reason);
            reason = next;
        }
    }
    rg_log(RG_INFO, LOGM,
           "failover: granting the lease (epoch %" PRIu64 " -> %" PRIu64 ") to %s: %s",
           st->lease.epoch, st->lease.epoch + 1, r[pick].name, reason);
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "reason", reason);
    rg_free(reason);
    if (c->exclude[0] != '\0') {
        cJSON_AddStringToObject(rec, "from", c->exclude);
        /* The old holder's last renewal: where its service may have ended,
         * for the new primary's "unavailable_ms" in the history. */
        char since[24];
        snprintf(since, sizeof since, "%" PRIu64, st->lease.renewed_at);
        cJSON_AddStringToObject(rec, "since_ct", since);
    }
    cJSON_AddItemToObject(rec, "reports", coord_reports_json(r, n));
    char to[STORE_NAME_SIZE];
    snprintf(to, sizeof to, "%s", r[pick].name);
    rg_free(r);
    propose_grant(c, to, rec);
}

static void start_failover(struct coord_run *c)
{
    const struct store_state *st = store_get_state(c->s);
    const char **names = rg_calloc(st->n_peers + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < st->n_peers; i++) {
        if (st->peers[i].kind == STORE_PEER_MEMBER && strcmp(st->peers[i].name, c->exclude) != 0) {
            names[n++] = st->peers[i].name;
        }
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", "status");
    char epoch[24];
    snprintf(epoch, sizeof epoch, "%" PRIu64, st->lease.epoch);
    cJSON_AddStringToObject(body, "epoch", epoch);
    c->epoch = st->lease.epoch;
    c->state = COORD_S_GATHERING;
    if (store_gather(c->s, names, n, body, c->o.collect_timeout_ms, gathered, c) != 0) {
        c->state = COORD_S_IDLE;
    }
    cJSON_Delete(body);
    rg_free(names);
}

static void tick(struct coord_run *c)
{
    char why[256];
    if (c->stopping || c->state != COORD_S_IDLE || !store_is_leader(c->s) ||
        rg_boottime_ms() < c->retry_at) {
        return;
    }
    const struct store_state *st = store_get_state(c->s);
    enum coord_step step =
        coord_next(st, store_now_ct(c->s), c->o.switchover_timeout_ms, c->exclude, why, sizeof why);
    switch (step) {
    case COORD_IDLE:
        c->last_why[0] = '\0';
        return;
    case COORD_PAUSED:
        say(c, RG_INFO, why);
        return;
    case COORD_GRANT_CLAIMANT: {
        rg_log(RG_INFO, LOGM, "bootstrap: granting the lease to the claimant %s (%s)",
               st->init_claim, why);
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "reason", "bootstrap");
        propose_grant(c, st->init_claim, rec);
        return;
    }
    case COORD_CLEAR_CLAIM: {
        rg_log(RG_INFO, LOGM, "bootstrap: clearing the claim of %s (%s)", st->init_claim, why);
        struct store_cmd cmd;
        store_cmd_init(&cmd);
        cmd.op = STORE_OP_INIT_CLEAR;
        snprintf(cmd.name, sizeof cmd.name, "%s", st->init_claim);
        propose(c, &cmd);
        return;
    }
    case COORD_FAILOVER:
        if (paused(st) && manual_candidate(st) == NULL) {
            char line[300];
            snprintf(line, sizeof line, "paused: no automatic failover (%s)", why);
            say(c, RG_INFO, line);
            return;
        }
        say(c, RG_INFO, why);
        snprintf(c->step_why, sizeof c->step_why, "%s", why);
        start_failover(c);
        return;
    }
}

static void timer_cb(uv_timer_t *t)
{
    tick(rg_container_of(t, struct coord_run, timer));
}

int coord_run_start(struct coord_run **out,
                    uv_loop_t *loop,
                    struct store *s,
                    const struct coord_run_options *o)
{
    struct coord_run *c = rg_calloc(1, sizeof *c);
    c->loop = loop;
    c->s = s;
    coord_run_set_options(c, o);
    uv_timer_init(loop, &c->timer);
    uv_timer_start(&c->timer, timer_cb, c->o.tick_ms, c->o.tick_ms);
    *out = c;
    return 0;
}

void coord_run_set_options(struct coord_run *c, const struct coord_run_options *o)
{
    c->o = *o;
    if (c->o.ttl_ms == 0) {
        c->o.ttl_ms = 2500;
    }
    if (c->o.tick_ms == 0) {
        c->o.tick_ms = 50;
    }
    if (c->o.collect_timeout_ms == 0) {
        c->o.collect_timeout_ms = 200;
    }
    if (c->o.switchover_timeout_ms == 0) {
        c->o.switchover_timeout_ms = 5000;
    }
}

void coord_run_kick(struct coord_run *c)
{
    tick(c);
}

static void timer_closed(uv_handle_t *h)
{
    struct coord_run *c = h->data;
    void (*cb)(void *) = c->stop_cb;
    void *arg = c->stop_arg;
    rg_free(c);
    if (cb != NULL) {
        cb(arg);
    }
}

static void maybe_finish_stop(struct coord_run *c)
{
    if (c->stopping && c->state == COORD_S_IDLE && !uv_is_closing((uv_handle_t *)&c->timer)) {
        c->timer.data = c;
        uv_close((uv_handle_t *)&c->timer, timer_closed);
    }
}

void coord_run_stop(struct coord_run *c, void (*cb)(void *arg), void *arg)
{
    c->stopping = true;
    c->stop_cb = cb;
    c->stop_arg = arg;
    uv_timer_stop(&c->timer);
    maybe_finish_stop(c);
}

/* --- reports ------------------------------------------------------------------ */

static bool jbool(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static uint64_t ju64(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v)) {
        return strtoull(v->valuestring, NULL, 10);
    }
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

void coord_report_parse(const char *name, const cJSON *reply, struct coord_report *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(reply, "code");
    if (reply == NULL || !cJSON_IsNumber(code) || code->valueint != 200) {
        return;
    }
    r->answered = true;
    r->running = jbool(reply, "running");
    r->in_recovery = jbool(reply, "in_recovery");
    r->nofailover = jbool(reply, "nofailover");
    const cJSON *prio = cJSON_GetObjectItemCaseSensitive(reply, "failover_priority");
    r->failover_priority = cJSON_IsNumber(prio) ? prio->valueint : 1;
    r->timeline = (unsigned)ju64(reply, "timeline");
    r->lsn = ju64(reply, "lsn");
    r->history_ok = jbool(reply, "history_ok");
    r->clean_shutdown = jbool(reply, "clean_shutdown");
    r->shutdown_lsn = ju64(reply, "shutdown_lsn");
    r->watchdog_failed = jbool(reply, "watchdog_failed");
}
