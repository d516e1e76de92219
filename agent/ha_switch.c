/*
 * ha_switch: switchover and manual failover, the agent's part (DESIGN.md,
 * "Switchover").
 *
 * The operator's request is the store's failover record {"leader",
 * "member", "scheduled_at"}, written by any node's REST API. The holder of
 * the lease carries it out once it is due:
 *
 *   pick the candidate (it must stream from us now, per pg_stat_replication,
 *   with small lag and no nofailover) -> CHECKPOINT -> fast shutdown ->
 *   read the shutdown checkpoint X -> handover(epoch, to, after_lsn = X)
 *
 * The candidate, named holder by the handover but unconfirmed, does not
 * renew until its replay position is past X (ha__handover_gate): the
 * renewal that confirms the lease is the promise that nothing the old
 * primary wrote is missing. Then it promotes like any holder. If it never
 * confirms, the coordinator grants again after switchover_timeout (the old
 * primary, shut down cleanly at X, is eligible).
 *
 * A request that cannot be carried out (no eligible candidate, the wrong
 * leader) is answered by writing the record back with "failed": reason —
 * such a record is inert, and the REST request that waits for the outcome
 * reports it. A holder whose PostgreSQL is down releases the lease instead,
 * and the coordinator grants it to the requested member.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ha_internal.h"
#include "agent/rg_log.h"

#define GATE_POLL_MS       10
#define GATE_RETRY_MS      50
#define PICK_TIMEOUT_MS    5000
#define CHECKPOINT_TIMEOUT 60000

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

static void sched_cb(uv_timer_t *t)
{
    ha__kick(rg_container_of(t, struct ha, sched_timer));
}

/* Wake the cycle when a scheduled switchover becomes due. */
static void wake_at(struct ha *ha, int64_t at_ms)
{
    int64_t now = (int64_t)rg_realtime_ms();
    uint64_t in = at_ms > now ? (uint64_t)(at_ms - now) : 0;
    uv_timer_start(&ha->sched_timer, sched_cb, in + 1, 0);
}

void ha__switch_facts(struct ha *ha, struct ha_facts *f)
{
    const cJSON *fo = store_get_state(ha->store)->failover;
    const char *me = ha->cfg->name;
    if (!cJSON_IsObject(fo) || !f->lease_granted ||
        cJSON_GetObjectItemCaseSensitive(fo, "failed") != NULL) {
        return;
    }
    const char *leader = jstr(fo, "leader");
    const char *member = jstr(fo, "member");
    if ((leader != NULL && strcmp(leader, me) != 0) ||
        (member != NULL && strcmp(member, me) == 0)) {
        f->failover_stale = true;
        return;
    }
    const char *at = jstr(fo, "scheduled_at");
    int64_t at_ms;
    if (at != NULL) {
        if (rg_iso8601_parse(at, &at_ms) == RG_EPARSE) {
            f->failover_stale = true;
            return;
        }
        if (at_ms > (int64_t)rg_realtime_ms()) {
            wake_at(ha, at_ms);
            return;
        }
        /* Due, but it waits out a pause (it cannot be scheduled in one, but
         * a pause may begin after it was); the resume wakes the cycle. */
        if (f->paused) {
            return;
        }
    }
    f->switchover = member != NULL ? member : "";
}

/* --- the holder: hand the lease over ------------------------------------------ */

/* Write the request back as failed (inert), so the REST call that waits
 * for it can say why. */
static int propose_failed(struct ha *ha, const char *why, int code)
{
    const cJSON *fo = store_get_state(ha->store)->failover;
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_FAILOVER_SET;
    snprintf(cmd.name, sizeof cmd.name, "%s", ha->cfg->name);
    cmd.epoch = ha->act_epoch;
    cmd.json = cJSON_IsObject(fo) ? cJSON_Duplicate(fo, 1) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(cmd.json, "failed");
    cJSON_DeleteItemFromObjectCaseSensitive(cmd.json, "code");
    cJSON_AddStringToObject(cmd.json, "failed", why);
    cJSON_AddNumberToObject(cmd.json, "code", code); /* the HTTP status for the waiting request */
    return ha__act_propose(ha, &cmd);
}

static bool member_nofailover(const struct store_member *m)
{
    const cJSON *tags = m != NULL ? cJSON_GetObjectItemCaseSensitive(m->data, "tags") : NULL;
    const cJSON *prio = cJSON_GetObjectItemCaseSensitive(tags, "failover_priority");
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tags, "nofailover")) ||
           (cJSON_IsNumber(prio) && prio->valuedouble <= 0);
}

static int member_priority(const struct store_member *m)
{
    const cJSON *tags = m != NULL ? cJSON_GetObjectItemCaseSensitive(m->data, "tags") : NULL;
    const cJSON *prio = cJSON_GetObjectItemCaseSensitive(tags, "failover_priority");
    return cJSON_IsNumber(prio) ? prio->valueint : 1;
}

/* In synchronous mode only a member of our sync record may take over. */
static bool in_sync(struct ha *ha, const char *name)
{
    struct ha_sync_set s;
    return ha__sync_record(ha, ha->cfg->name, &s) && ha_sync_has(&s, name);
}

/*
 * The candidate from pg_stat_replication (name, state, write, cur): one that
 * streams from us directly, is not nofailover and is within
 * maximum_lag_on_failover of our current position; @want, when set, is the
 * only one that may win. Best: highest write position, then priority, then
 * name. false with @why when there is none.
 */
static bool pick(struct ha *ha,
                 const struct pgi_result *r,
                 const char *want,
                 char *out,
                 char *why,
                 size_t whylen)
{
    uint64_t best_lsn = 0;
    int best_prio = 0;
    bool found = false;
    size_t off = 0;
    why[0] = '\0';
    for (int i = 0; r != NULL && i < r->nrows; i++) {
        const char *name = pgi_result_get(r, i, "name");
        const char *state = pgi_result_get(r, i, "state");
        const char *w = pgi_result_get(r, i, "write");
        const char *c = pgi_result_get(r, i, "cur");
        uint64_t wl = 0, cl = 0;
        if (name == NULL || (want != NULL && strcmp(name, want) != 0)) {
            continue;
        }
        const struct store_member *m = ha__member(ha, name);
        const char *no = NULL;
        char lag[96];
        if (m == NULL || !ha__member_fresh(ha, m, HA_MEMBER_STALE_MS)) {
            no = "not a live member";
        } else if (member_nofailover(m)) {
            no = "nofailover";
        } else if (state == NULL || strcmp(state, "streaming") != 0) {
            no = "not streaming";
        } else if (ha->set.sync_mode != HA_SYNC_OFF && !in_sync(ha, name)) {
            no = "not a synchronous standby";
        } else if (w == NULL || c == NULL || pgi_lsn_parse(w, &wl) != 0 ||
                   pgi_lsn_parse(c, &cl) != 0) {
            no = "no position";
        } else if (cl > wl && cl - wl > ha->set.maximum_lag_on_failover) {
            snprintf(lag, sizeof lag, "lag %" PRIu64 " > %" PRIu64 " bytes", cl - wl,
                     ha->set.maximum_lag_on_failover);
            no = lag;
        }
        if (no != NULL) {
            off += (size_t)snprintf(why + off, off < whylen ? whylen - off : 0, "%s%s: %s",
                                    off > 0 ? "; " : "", name, no);
            continue;
        }
        int prio = member_priority(m);
        if (!found || wl > best_lsn || (wl == best_lsn && prio > best_prio) ||
            (wl == best_lsn && prio == best_prio && strcmp(name, out) < 0)) {
            snprintf(out, STORE_NAME_SIZE, "%s", name);
            best_lsn = wl;
            best_prio = prio;
            found = true;
        }
    }
    if (!found && why[0] == '\0') {
        snprintf(why, whylen, "%s",
                 want != NULL ? "the candidate does not stream from the primary"
                              : "no replica streams from the primary");
    }
    return found;
}

/* @code: 412 when no candidate qualifies, 503 otherwise (Patroni's). */
static void abandon(struct ha *ha, const char *why, int code)
{
    rg_log(RG_WARNING, HA_LOGM, "switchover not possible: %s", why);
    rg_errmsg_printf(ha->op.errmsg, "%s", why);
    ha->step = 20;
    if (propose_failed(ha, why, code) != 0) {
        ha__act_finish(ha, RG_ECONFLICT);
    }
}

static int propose_handover(struct ha *ha, uint64_t lsn)
{
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_HANDOVER;
    snprintf(cmd.name, sizeof cmd.name, "%s", ha->cfg->name);
    snprintf(cmd.to, sizeof cmd.to, "%s", ha->target);
    cmd.epoch = ha->act_epoch;
    cmd.lsn = lsn;
    snprintf(ha->handed_to, sizeof ha->handed_to, "%s", ha->target);
    return ha__act_propose(ha, &cmd);
}

void ha__act_handover(struct ha *ha, int status)
{
    static const char *const q_pick[] = {
        "SELECT application_name AS name, state, write_lsn::text AS write, "
        "pg_current_wal_lsn()::text AS cur FROM pg_stat_replication"};
    static const char *const q_checkpoint[] = {"CHECKPOINT"};
    char why[512];
    int s = ha->step++;
    switch (s) {
    case 0:
        if (pgi_query(ha->pg, &ha->op, q_pick, 1, PICK_TIMEOUT_MS, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 1: {
        char to[STORE_NAME_SIZE] = "";
        const struct pgi_result *r = ha->op.n_results > 0 ? &ha->op.results[0] : NULL;
        if (status != 0) {
            ha__act_finish(ha, status);
            return;
        }
        if (!pick(ha, r, ha->action.target, to, why, sizeof why)) {
            abandon(ha, why, 412);
            return;
        }
        if (!ha__resolve_target(ha, to)) {
            abandon(ha, ha->op.errmsg, 503);
            return;
        }
        rg_log(RG_INFO, HA_LOGM, "switchover to %s: checkpoint, then a fast shutdown", to);
        if (pgi_query(ha->pg, &ha->op, q_checkpoint, 1, CHECKPOINT_TIMEOUT, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    case 2:
        /* A failed CHECKPOINT only makes the shutdown's own one longer. */
        if (pgi_stop(ha->pg, &ha->op, PGI_STOP_FAST, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 3:
        if (status != 0) {
            ha__act_finish(ha, status); /* the next cycle sees what runs */
            return;
        }
        ha->primary_allowed = false;
        ha__callback(ha, "on_stop", "primary");
        if (pgi_inspect(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 4: {
        const struct pgi_controldata *c = &ha->op.dir.controldata;
        if (status != 0 || !ha->op.dir.have_controldata || c->state != PGI_DB_SHUT_DOWN) {
            /* Not cleanly down: the next cycle releases the lease instead. */
            rg_errmsg_printf(ha->op.errmsg, "PostgreSQL did not shut down cleanly (%s)",
                             ha->op.dir.have_controldata ? c->state_text : "no control data");
            ha__act_finish(ha, RG_EIO);
            return;
        }
        char x[32];
        pgi_lsn_format(c->checkpoint_lsn, x, sizeof x);
        rg_log(RG_INFO, HA_LOGM, "switchover to %s: shut down at %s, handing the lease over",
               ha->target, x);
        if (propose_handover(ha, c->checkpoint_lsn) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    case 5:
        if (status == 0) {
            rg_log(RG_INFO, HA_LOGM, "switchover: the lease is %s's once it has replayed our WAL",
                   ha->target);
        }
        ha__act_finish(ha, status);
        return;
    default: /* 20: the failed record was written (or not) */
        ha__act_finish(ha, RG_ECONFLICT);
        return;
    }
}

static void released(struct store_req *req, int status, const cJSON *reply)
{
    struct ha *ha = req->data;
    (void)reply;
    ha->releasing = false;
    if (status != 0) {
        rg_errmsg_printf(ha->op.errmsg, "release: %s", rg_strerror(status));
    }
    ha__act_release(ha, status);
}

/* Our PostgreSQL is down and a failover is requested: let the coordinator
 * grant the lease to the requested member. */
void ha__act_release(struct ha *ha, int status)
{
    if (ha->step++ == 0) {
        uint64_t lsn = ha->dir.have_controldata ? ha->dir.controldata.checkpoint_lsn : 0;
        /* A replica's checkpoint is behind the primary's last position:
         * the candidates' lag check keeps the latter. */
        uint64_t last = store_get_state(ha->store)->lease.lsn;
        lsn = last > lsn ? last : lsn;
        ha->primary_allowed = false;
        rg_log(RG_INFO, HA_LOGM, "%s", ha->action.why);
        if (ha__lease_release(ha, lsn, released) != 0) {
            ha->releasing = false;
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    ha__act_finish(ha, status);
}

void ha__act_clear_failover(struct ha *ha, int status)
{
    if (ha->step++ == 0) {
        abandon(ha, "the request names another leader, or the leader as its candidate", 412);
        return;
    }
    ha__act_finish(ha, status);
}

/* --- the candidate: confirm only past the old primary's last WAL --------------- */

static void gate_cb(uv_timer_t *t);

static bool gate_pending(struct ha *ha)
{
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    return l->handover_unconfirmed && !l->released && strcmp(l->holder, ha->cfg->name) == 0 &&
           ha->gate_epoch != l->epoch;
}

static void gate_read(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    const struct pgi_result *r = op->n_results > 0 ? &op->results[0] : NULL;
    const char *v = status == 0 ? pgi_result_get(r, 0, "lsn") : NULL;
    uint64_t lsn = 0;
    ha->gate_out = false;
    if (ha->closing) {
        ha__maybe_close(ha);
        return;
    }
    if (!gate_pending(ha)) {
        return;
    }
    if (v != NULL && pgi_lsn_parse(v, &lsn) == 0 && lsn > l->lsn) {
        char a[32], b[32];
        pgi_lsn_format(l->lsn, a, sizeof a);
        pgi_lsn_format(lsn, b, sizeof b);
        rg_log(RG_INFO, HA_LOGM, "handover: replayed past %s (at %s): confirming the lease", a, b);
        ha->gate_epoch = l->epoch;
        ha__lease_renew_now(ha);
        return;
    }
    uv_timer_start(&ha->gate_timer, gate_cb, v != NULL ? GATE_POLL_MS : GATE_RETRY_MS, 0);
}

static void gate_query(struct ha *ha)
{
    static const char *const q[] = {"SELECT pg_last_wal_replay_lsn()::text AS lsn"};
    if (ha->gate_out || ha->closing) {
        return;
    }
    ha->gate_op.data = ha;
    if (pgi_query(ha->pg, &ha->gate_op, q, 1, PICK_TIMEOUT_MS, gate_read) == 0) {
        ha->gate_out = true;
    }
}

static void gate_cb(uv_timer_t *t)
{
    struct ha *ha = rg_container_of(t, struct ha, gate_timer);
    if (gate_pending(ha)) {
        gate_query(ha);
    }
}

bool ha__handover_gate(struct ha *ha)
{
    if (!gate_pending(ha)) {
        return true;
    }
    gate_query(ha);
    return false;
}

void ha__switch_init(struct ha *ha)
{
    uv_timer_init(ha->loop, &ha->sched_timer);
    uv_timer_init(ha->loop, &ha->gate_timer);
    ha->open_handles += 2;
}

void ha__switch_close(struct ha *ha)
{
    ha->sched_timer.data = ha;
    ha->gate_timer.data = ha;
    uv_close((uv_handle_t *)&ha->sched_timer, ha__handle_closed);
    uv_close((uv_handle_t *)&ha->gate_timer, ha__handle_closed);
}
