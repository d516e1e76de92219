/*
 * ha_api: what the agent answers about itself — Patroni's health checks
 * (GET/HEAD/OPTIONS on /, /primary, /replica, …), GET /patroni, /history,
 * /readiness — and the coordinator's "status" peer request.
 *
 * Health checks are answered from the agent's last facts (the status query
 * of the last cycle, at most loop_wait old) and its lease deadline, never
 * from a query made for the request, so they stay cheap and keep answering
 * when the store has no quorum (spec 7: only /sync-style checks need a
 * fresh store view).
 *
 * "status" (from the coordinator, during a failover) is answered from a
 * status query started after the request arrived, so the report is final:
 * the old holder's lease had already expired when it was asked.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/ha_internal.h"
#include "agent/ha_run.h"
#include "agent/rg_log.h"
#include "api/api_metrics.h"

#define STATUS_PROBE_TIMEOUT_MS 150

static struct ha *ha_of(void *data)
{
    return ((struct api_store_ctx *)data)->app;
}

void ha__node_status(struct ha *ha, struct api_node_status *st, cJSON **scratch)
{
    const struct store_state *s = store_get_state(ha->store);
    const struct store_lease *l = &s->lease;
    memset(st, 0, sizeof *st);
    *scratch = NULL;
    bool mine = ha__lease_mine(ha);
    st->holds_lease = mine;
    /* D: the store view is fresh while our replica follows a known leader,
     * and for ttl after that (Patroni: a cached view less than ttl old). */
    uint64_t now = rg_boottime_ms();
    if (store_caught_up(ha->store)) {
        ha->view_at = now;
    }
    st->have_view = ha->view_at != 0 && now - ha->view_at < ha->set.ttl_ms;
    st->paused = ha->set.paused;
    bool running = ha->pgstate == HA_PG_RUNNING;
    st->state = ha->pgstate == HA_PG_RUNNING       ? "running"
                : ha->pgstate == HA_PG_UNREACHABLE ? "starting"
                : ha->fenced                       ? "crashed"
                                                   : "stopped";
    if (ha->acting && ha->action.act == HA_CLONE) {
        st->state = "creating replica";
    } else if (ha->acting && ha->action.act == HA_INITDB) {
        st->state = "initializing new cluster";
    } else if (ha->acting && ha->restarting) {
        st->state = "restarting";
    }
    st->scheduled_restart = ha__mgmt_scheduled(ha, scratch);
    st->role = running ? (ha->st.in_recovery ? "replica" : "primary")
                       : (ha->pgstate == HA_PG_NO_DATA ? "uninitialized" : "demoted");
    if (running) {
        st->server_version = ha->st.server_version;
        st->postmaster_start_time =
            ha->st.postmaster_start_time[0] ? ha->st.postmaster_start_time : NULL;
        st->timeline = ha->st.timeline;
        st->has_xlog = true;
        st->wal_lsn = ha->st.wal_lsn;
        st->received_lsn = ha->st.received_lsn;
        st->replayed_lsn = ha->st.replayed_lsn;
        st->latest_end_lsn = ha->st.latest_end_lsn;
        st->replayed_timestamp = ha->st.replayed_timestamp[0] ? ha->st.replayed_timestamp : NULL;
        st->replay_paused = ha->st.replay_paused;
        if (ha->st.in_recovery) {
            st->replication_state = ha->st.streaming ? "streaming" : "in archive recovery";
        }
        st->replication = ha->st.replication;
        st->pending_restart =
            ha->st.pending_restart != NULL && cJSON_GetArraySize(ha->st.pending_restart) > 0;
        st->pending_restart_reason = st->pending_restart ? ha->st.pending_restart : NULL;
        st->sysid = ha->st.sysid[0] ? ha->st.sysid : NULL;
    } else if (ha->dir.have_controldata) {
        st->sysid = ha->dir.controldata.sysid;
    }
    /* The primary's position travels in its renewals (lease.lsn). */
    st->has_leader_optime = l->epoch != 0 && l->lsn != 0;
    st->leader_optime = l->lsn;
    st->cluster_unlocked =
        l->epoch == 0 || l->released || !store_lease_valid(l, store_now_ct(ha->store));
    /* Listed in the sync record of the current holder (Patroni's /sync key). */
    struct ha_sync_set sync;
    if (ha->set.sync_mode != HA_SYNC_OFF && l->epoch != 0 &&
        ha__sync_record(ha, l->holder, &sync) && ha_sync_has(&sync, ha->cfg->name)) {
        st->quorum_standby = ha->set.sync_mode == HA_SYNC_QUORUM;
        st->sync_standby = !st->quorum_standby;
    }
    st->dcs_last_seen = rg_realtime_ms() / 1000;
    st->tags = ha->cfg->tags;
    st->maximum_lag_on_failover = ha->set.maximum_lag_on_failover;
    st->scope = ha->cfg->scope;
    st->name = ha->cfg->name;
    st->version = REGENT_VERSION;
    st->lease_epoch = mine ? ha->book.epoch : 0;
    st->lease_ms_left = mine && ha->book.deadline > now ? (int64_t)(ha->book.deadline - now) : -1;
    st->watchdog_failed = ha__wd_failed(ha);
    st->ha_action = ha_act_name(ha->last_act);
    st->ha_reason = ha->refused ? ha->refused_why : ha->last_why;
}

/* --- routes --------------------------------------------------------------------- */

static void on_health(void *data, struct api_req *req)
{
    struct ha *ha = ha_of(data);
    struct api_node_status st;
    cJSON *scratch;
    ha__node_status(ha, &st, &scratch);
    int code = api_health_code(api_req_path(req), api_req_query(req), &st);
    if (code == 0) {
        code = 503;
    }
    if (strcmp(api_req_method(req), "OPTIONS") == 0) {
        api_reply_status(req, code);
    } else {
        api_reply_json(req, code, api_view_patroni(&st));
    }
    cJSON_Delete(scratch);
}

static void on_patroni(void *data, struct api_req *req)
{
    struct ha *ha = ha_of(data);
    struct api_node_status st;
    cJSON *scratch;
    ha__node_status(ha, &st, &scratch);
    api_reply_json(req, 200, api_view_patroni(&st));
    cJSON_Delete(scratch);
}

static void on_readiness(void *data, struct api_req *req)
{
    struct ha *ha = ha_of(data);
    struct api_node_status st;
    cJSON *scratch;
    ha__node_status(ha, &st, &scratch);
    api_reply_status(req, api_readiness_code(api_req_query(req), &st));
    cJSON_Delete(scratch);
}

static void on_metrics(void *data, struct api_req *req)
{
    struct ha *ha = ha_of(data);
    struct api_node_status st;
    cJSON *scratch;
    ha__node_status(ha, &st, &scratch);
    api_metrics_reply(req, &st, ha->store);
    cJSON_Delete(scratch);
}

static void on_history(void *data, struct api_req *req)
{
    struct ha *ha = ha_of(data);
    api_reply_json(req, 200, api_view_history(store_get_state(ha->store)->history));
}

#define HEALTH(path)                                                                               \
    {"GET", path, on_health},                                                                      \
    {                                                                                              \
        "OPTIONS", path, on_health                                                                 \
    }

static const struct api_route routes[] = {
    {"GET", "/patroni", on_patroni},
    {"GET", "/history", on_history},
    {"GET", "/readiness", on_readiness},
    {"GET", "/metrics", on_metrics},
    {"POST", "/restart", ha__on_restart},
    {"DELETE", "/restart", ha__on_restart_delete},
    {"POST", "/reload", ha__on_reload},
    {"POST", "/reinitialize", ha__on_reinitialize},
    HEALTH("/"),
    HEALTH("/primary"),
    HEALTH("/master"),
    HEALTH("/read-write"),
    HEALTH("/leader"),
    HEALTH("/replica"),
    HEALTH("/read-only"),
    HEALTH("/standby-leader"),
    HEALTH("/standby_leader"),
    HEALTH("/sync"),
    HEALTH("/synchronous"),
    HEALTH("/quorum"),
    HEALTH("/async"),
    HEALTH("/asynchronous"),
    HEALTH("/read-only-sync"),
    HEALTH("/read-only-synchronous"),
    HEALTH("/read-only-quorum"),
    HEALTH("/health"),
};

const struct api_route *ha_routes(size_t *n)
{
    *n = RG_ARRAY_SIZE(routes);
    return routes;
}

/* --- the coordinator's status request --------------------------------------------- */

static cJSON *status_report(struct ha *ha, bool probe_ok, const struct pgi_status *st)
{
    cJSON *r = cJSON_CreateObject();
    char buf[24];
    cJSON_AddStringToObject(r, "name", ha->cfg->name);
    cJSON_AddBoolToObject(r, "running", probe_ok);
    cJSON_AddBoolToObject(r, "in_recovery", probe_ok && st->in_recovery);
    cJSON_AddBoolToObject(r, "nofailover", ha->set.nofailover);
    cJSON_AddBoolToObject(r, "watchdog_failed", ha__wd_failed(ha));
    cJSON_AddNumberToObject(r, "failover_priority", ha->set.failover_priority);
    unsigned tl = probe_ok ? st->timeline : 0;
    cJSON_AddNumberToObject(r, "timeline", tl);
    uint64_t lsn = 0;
    if (probe_ok) {
        lsn = st->received_lsn > st->replayed_lsn ? st->received_lsn : st->replayed_lsn;
    }
    snprintf(buf, sizeof buf, "%" PRIu64, lsn);
    cJSON_AddStringToObject(r, "lsn", buf);
    /* A replica whose timeline is past the old primary's has a history of
     * its own: it is not a continuation. */
    const struct store_member *holder = ha__member(ha, store_get_state(ha->store)->lease.holder);
    const cJSON *htl =
        holder != NULL ? cJSON_GetObjectItemCaseSensitive(holder->data, "timeline") : NULL;
    bool ok = probe_ok && (!cJSON_IsNumber(htl) || tl <= (unsigned)htl->valuedouble);
    cJSON_AddBoolToObject(r, "history_ok", ok);
    /* A former primary shut down cleanly (a planned stop of the whole
     * cluster, a switchover): eligible at its shutdown checkpoint, so the
     * node with the most WAL is not passed over for a replica that lags. */
    bool clean = !probe_ok && ha->have_dir && ha->dir.have_controldata && !ha->dir.standby_signal &&
                 ha->dir.controldata.state == PGI_DB_SHUT_DOWN;
    if (clean) {
        cJSON_ReplaceItemInObject(r, "history_ok", cJSON_CreateTrue());
        snprintf(buf, sizeof buf, "%" PRIu64, ha->dir.controldata.checkpoint_lsn);
        cJSON_AddStringToObject(r, "shutdown_lsn", buf);
        cJSON_ReplaceItemInObject(r, "timeline", cJSON_CreateNumber(ha->dir.controldata.timeline));
    }
    cJSON_AddBoolToObject(r, "clean_shutdown", clean);
    return r;
}

void ha__status_answer_all(struct ha *ha)
{
    if (ha->status_probe_out) {
        return; /* answered when the probe comes back */
    }
    for (size_t i = 0; i < ha->n_status_wait; i++) {
        store_answer(ha->status_wait[i], status_report(ha, false, &ha->st));
    }
    ha->n_status_wait = 0;
}

static void status_probed(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    ha->status_probe_out = false;
    for (size_t i = 0; i < ha->n_status_wait; i++) {
        store_answer(ha->status_wait[i], status_report(ha, status == 0, &op->status));
    }
    ha->n_status_wait = 0;
    pgi_status_close(&op->status);
    ha__maybe_close(ha);
}

void ha__status_rpc(void *data, const cJSON *body, struct store_answer *a)
{
    struct ha *ha = data;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "status") != 0 || ha->closing ||
        ha->n_status_wait == RG_ARRAY_SIZE(ha->status_wait)) {
        cJSON *err = cJSON_CreateObject();
        cJSON_AddNumberToObject(err, "code", 404);
        store_answer(a, err);
        return;
    }
    ha->status_wait[ha->n_status_wait++] = a;
    if (ha->status_probe_out) {
        return;
    }
    if (!ha->have_dir || !ha->dir.postmaster_alive) {
        ha__status_answer_all(ha); /* nothing runs: a report without PostgreSQL */
        return;
    }
    ha->status_op.data = ha;
    if (pgi_probe(ha->pg, &ha->status_op, STATUS_PROBE_TIMEOUT_MS, status_probed) == 0) {
        ha->status_probe_out = true;
    } else {
        ha__status_answer_all(ha);
    }
}
