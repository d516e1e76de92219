/*
 * ha_mgmt: what an operator asks of this one member over REST — POST and
 * DELETE /restart, POST /reload, POST /reinitialize — and the actions that
 * carry it out (HA_RECONFIGURE, what a new configuration asks for, is
 * ha_act.c's: a FOLLOW without a new upstream).
 *
 * The REST handlers only validate and record the request; the HA cycle
 * decides when it runs (ha_decide's restart_requested / reinit_requested),
 * so a restart never races a failover or a promotion. An immediate restart
 * answers when PostgreSQL is back (or failed, or its timeout passed): the
 * request waits in ha->restart_wait, owned here, answered exactly once —
 * by the action's end, its deadline, or the agent's stop. A scheduled
 * restart lives in memory (as in Patroni) and is published in the members
 * record as "scheduled_restart".
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ha_internal.h"
#include "agent/rg_log.h"

#define RESTART_WAIT_DEFAULT_MS 60000u

static struct ha *ha_of(void *data)
{
    return ((struct api_store_ctx *)data)->app;
}

/* --- the restart's conditions ----------------------------------------------------- */

/* "15", "15.4", "9.6.24" as server_version_num (150000, 150004, 90624); 0 if not. */
static unsigned version_num(const char *v)
{
    unsigned a = 0, b = 0, c = 0;
    char tail;
    int n = sscanf(v, "%u.%u.%u%c", &a, &b, &c, &tail);
    if (n < 1 || n > 3 || a == 0) {
        return 0;
    }
    return a >= 10 ? a * 10000 + (n >= 2 ? b : 0) : a * 10000 + b * 100 + c;
}

static const char *current_role(const struct ha *ha)
{
    if (ha->pgstate != HA_PG_RUNNING) {
        return NULL;
    }
    return ha->st.in_recovery ? "replica" : "primary";
}

/* Do the filters hold now? (Patroni's restart_matches) */
static bool restart_matches(const struct ha *ha, const struct ha_restart *r, char *why, size_t len)
{
    const char *role = current_role(ha);
    bool pending = ha->st.pending_restart != NULL && cJSON_GetArraySize(ha->st.pending_restart) > 0;
    if (role == NULL) {
        snprintf(why, len, "postgres is not running");
        return false;
    }
    if (r->role[0] != '\0' && strcmp(r->role, role) != 0 &&
        !(strcmp(r->role, "master") == 0 && strcmp(role, "primary") == 0)) {
        snprintf(why, len, "restart conditions are not satisfied (role is %s)", role);
        return false;
    }
    if (r->version_num != 0 && ha->st.server_version >= r->version_num) {
        snprintf(why, len, "restart conditions are not satisfied (postgres_version %u >= %s)",
                 ha->st.server_version, r->version);
        return false;
    }
    if (r->if_pending && !pending) {
        snprintf(why, len, "restart conditions are not satisfied (no restart pending)");
        return false;
    }
    return true;
}

/* A "timeout": seconds, or with a unit (30s, 2min, 1h). 0 when invalid. */
static unsigned timeout_ms(const cJSON *v)
{
    if (cJSON_IsNumber(v)) {
        return v->valuedouble > 0 && v->valuedouble < 86400 ? (unsigned)(v->valuedouble * 1000) : 0;
    }
    if (!cJSON_IsString(v)) {
        return 0;
    }
    char *end;
    double n = strtod(v->valuestring, &end);
    double unit = strcmp(end, "") == 0 || strcmp(end, "s") == 0      ? 1
                  : strcmp(end, "min") == 0 || strcmp(end, "m") == 0 ? 60
                  : strcmp(end, "h") == 0                            ? 3600
                  : strcmp(end, "ms") == 0                           ? 0.001
                                                                     : -1;
    double ms = n * unit * 1000;
    return unit > 0 && ms >= 1 && ms < 86400e3 ? (unsigned)ms : 0;
}

/* The body of POST /restart into @r: 0, or the HTTP status and @why. */
static int parse_restart(const cJSON *body, struct ha_restart *r, char *why, size_t len)
{
    memset(r, 0, sizeof *r);
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        const char *k = it->string;
        if (strcmp(k, "role") == 0) {
            if (!cJSON_IsString(it) || (strcmp(it->valuestring, "primary") != 0 &&
                                        strcmp(it->valuestring, "master") != 0 &&
                                        strcmp(it->valuestring, "replica") != 0 &&
                                        strcmp(it->valuestring, "standby_leader") != 0)) {
                snprintf(why, len,
                         "PostgreSQL role should be either primary, standby_leader, or "
                         "replica");
                return 400;
            }
            snprintf(r->role, sizeof r->role, "%s", it->valuestring);
        } else if (strcmp(k, "postgres_version") == 0) {
            if (!cJSON_IsString(it) || (r->version_num = version_num(it->valuestring)) == 0) {
                snprintf(why, len, "PostgreSQL version should be in the first.major.minor format");
                return 400;
            }
            snprintf(r->version, sizeof r->version, "%s", it->valuestring);
        } else if (strcmp(k, "restart_pending") == 0) {
            if (!cJSON_IsBool(it)) {
                snprintf(why, len, "restart_pending should be a boolean");
                return 400;
            }
            r->if_pending = cJSON_IsTrue(it);
        } else if (strcmp(k, "timeout") == 0) {
            if ((r->timeout_ms = timeout_ms(it)) == 0) {
                snprintf(why, len, "timeout should be a positive number of seconds");
                return 400;
            }
        } else if (strcmp(k, "schedule") == 0) {
            int rv = cJSON_IsString(it) ? rg_iso8601_parse(it->valuestring, &r->at_ms) : RG_EPARSE;
            if (rv == RG_ENOENT) {
                snprintf(why, len, "Timezone information is mandatory for the scheduled restart");
                return 400;
            }
            if (rv != 0) {
                snprintf(why, len,
                         "Unable to parse scheduled timestamp. It should be in an "
                         "unambiguous format, e.g. ISO 8601");
                return 422;
            }
            if (r->at_ms < (int64_t)rg_realtime_ms()) {
                snprintf(why, len, "Cannot schedule restart in the past");
                return 422;
            }
            snprintf(r->schedule, sizeof r->schedule, "%s", it->valuestring);
        } else {
            snprintf(why, len, "Unknown filter for the scheduled restart: %s", k);
            return 400;
        }
    }
    return 0;
}

/* --- answering the waiting request --------------------------------------------------- */

static void answer_restart(struct ha *ha, int code, const char *text)
{
    struct api_req *req = ha->restart_wait;
    if (req == NULL) {
        return;
    }
    ha->restart_wait = NULL;
    uv_timer_stop(&ha->restart_wait_timer);
    api_reply_text(req, code, text);
}

static void restart_wait_expired(uv_timer_t *t)
{
    struct ha *ha = rg_container_of(t, struct ha, restart_wait_timer);
    answer_restart(ha, 503, "restart failed: PostgreSQL is not back within the timeout");
}

static void sched_fired(uv_timer_t *t)
{
    struct ha *ha = rg_container_of(t, struct ha, restart_sched_timer);
    char why[160];
    if (!ha->restart_scheduled) {
        return;
    }
    ha->restart_scheduled = false;
    if (!restart_matches(ha, &ha->restart_sched, why, sizeof why)) {
        rg_log(RG_INFO, HA_LOGM, "scheduled restart skipped: %s", why);
        ha__kick(ha);
        return;
    }
    rg_log(RG_INFO, HA_LOGM, "scheduled restart (%s) is due", ha->restart_sched.schedule);
    ha->restart_due = true;
    ha__kick(ha);
}

/* --- REST ------------------------------------------------------------------------ */

static cJSON *body_object(struct api_req *req, bool *ok)
{
    size_t len;
    const char *text = api_req_body(req, &len);
    *ok = true;
    if (len == 0) {
        return cJSON_CreateObject();
    }
    cJSON *b = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        *ok = false;
        return NULL;
    }
    return b;
}

/* A long action holds PostgreSQL: Patroni's "<action> already in progress".
 * Behind a short one (a reload, a follow) the request simply waits its turn. */
static bool busy(struct ha *ha, struct api_req *req)
{
    static const enum ha_act long_acts[] = {HA_INITDB, HA_CLONE, HA_REJOIN, HA_REINIT, HA_HANDOVER};
    bool hold = false;
    for (size_t i = 0; ha->acting && i < RG_ARRAY_SIZE(long_acts); i++) {
        hold = hold || ha->action.act == long_acts[i];
    }
    if (!hold) {
        return false;
    }
    char text[96];
    snprintf(text, sizeof text, "%s already in progress", ha_act_name(ha->action.act));
    api_reply_text(req, 503, text);
    return true;
}

void ha__on_restart(void *data, struct api_req *req)
{
    struct ha *ha = ha_of(data);
    struct ha_restart r;
    char why[200];
    bool ok;
    cJSON *body = body_object(req, &ok);
    if (!ok) {
        api_reply_text(req, 400, "request body must be a JSON object");
        return;
    }
    int code = parse_restart(body, &r, why, sizeof why);
    cJSON_Delete(body);
    if (code != 0) {
        api_reply_text(req, code, why);
        return;
    }
    if (r.schedule[0] != '\0') {
        if (ha->set.paused) {
            api_reply_text(req, 500, "Can't schedule restart in the paused state");
        } else if (ha->restart_scheduled) {
            api_reply_text(req, 409, "Failed: another restart is already scheduled");
        } else {
            ha->restart_sched = r;
            ha->restart_scheduled = true;
            int64_t in = r.at_ms - (int64_t)rg_realtime_ms();
            uv_timer_start(&ha->restart_sched_timer, sched_fired, in > 0 ? (uint64_t)in : 0, 0);
            rg_log(RG_INFO, HA_LOGM, "restart scheduled at %s", r.schedule);
            ha__kick(ha); /* publish it in the members record */
            api_reply_text(req, 202, "Restart scheduled");
        }
        return;
    }
    if (ha->restart_wait != NULL || ha->restart_due) {
        api_reply_text(req, 503, "restart already in progress");
        return;
    }
    if (busy(ha, req)) {
        return;
    }
    if (!restart_matches(ha, &r, why, sizeof why)) {
        api_reply_text(req, 503, why);
        return;
    }
    ha->restart_due = true;
    ha->restart_wait = req;
    uv_timer_start(&ha->restart_wait_timer, restart_wait_expired,
                   r.timeout_ms != 0 ? r.timeout_ms : RESTART_WAIT_DEFAULT_MS, 0);
    ha__kick(ha);
}

void ha__on_restart_delete(void *data, struct api_req *req)
{
    struct ha *ha = ha_of(data);
    if (!ha->restart_scheduled) {
        api_reply_text(req, 404, "no restarts are scheduled");
        return;
    }
    ha->restart_scheduled = false;
    uv_timer_stop(&ha->restart_sched_timer);
    ha__kick(ha);
    api_reply_text(req, 200, "scheduled restart deleted");
}

void ha__on_reload(void *data, struct api_req *req)
{
    (void)data;
    /* Exactly SIGHUP: the daemon re-reads the file on its next turn. */
    raise(SIGHUP);
    api_reply_text(req, 202, "reload scheduled");
}

void ha__on_reinitialize(void *data, struct api_req *req)
{
    struct ha *ha = ha_of(data);
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    bool ok;
    cJSON *body = body_object(req, &ok);
    const cJSON *force = cJSON_GetObjectItemCaseSensitive(body, "force");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(body, "from_leader");
    if (!ok || (force != NULL && !cJSON_IsBool(force)) || (from != NULL && !cJSON_IsBool(from))) {
        cJSON_Delete(body);
        api_reply_text(req, 400,
                       "request body must be a JSON object with boolean force, from_leader");
        return;
    }
    bool valid = l->epoch != 0 && !l->released && store_lease_valid(l, store_now_ct(ha->store));
    bool forced = cJSON_IsTrue(force);
    bool from_leader = cJSON_IsTrue(from);
    cJSON_Delete(body);
    if ((valid && strcmp(l->holder, ha->cfg->name) == 0) ||
        (ha->pgstate == HA_PG_RUNNING && !ha->st.in_recovery)) {
        api_reply_text(req, 503, "I am the leader, can not reinitialize");
        return;
    }
    if (!valid) {
        api_reply_text(req, 503, "Cluster has no leader, can not reinitialize");
        return;
    }
    if (ha->reinit_due) {
        api_reply_text(req, 503, "reinitialize already in progress");
        return;
    }
    if (forced && ha->acting) {
        rg_log(RG_WARNING, HA_LOGM, "reinitialize (force): cancelling %s",
               ha_act_name(ha->action.act));
        pgi_op_cancel(&ha->op);
    } else if (busy(ha, req)) {
        return;
    }
    rg_log(RG_INFO, HA_LOGM, "reinitialize requested%s", from_leader ? " (from the leader)" : "");
    ha->reinit_from_leader = from_leader;
    ha->reinit_due = true;
    ha__kick(ha);
    api_reply_text(req, 200, "reinitialize started");
}

/* --- facts, the members record, the action's end ------------------------------------ */

/* A pending hot-standby setting whose running value is below the primary's
 * (our control file): the standby must restart to replay on. */
static bool outgrown(const struct ha *ha)
{
    struct ha_hs_setting hs[HA_HS_SETTINGS];
    size_t n = ha__hot_standby(ha, hs);
    if (ha->pgstate != HA_PG_RUNNING || !ha->st.in_recovery) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(ha->st.pending_restart, hs[i].name);
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(p, "old_value");
        if (cJSON_IsString(old) && strtoul(old->valuestring, NULL, 10) < hs[i].primary) {
            return true;
        }
    }
    return false;
}

void ha__mgmt_facts(struct ha *ha, struct ha_facts *f)
{
    f->restart_requested = ha->restart_due;
    f->reinit_requested = ha->reinit_due;
    if (ha->reinit_due && ha->reinit_from_leader) {
        f->clone_from = f->holder_running ? f->holder : NULL;
    }
    f->reconfigure = ha->pgstate == HA_PG_RUNNING && ha__reconfigure_needed(ha);
    f->outgrown = outgrown(ha);
}

void ha__mgmt_member_fields(struct ha *ha, cJSON *rec)
{
    if (!ha->restart_scheduled) {
        return;
    }
    cJSON *s = cJSON_AddObjectToObject(rec, "scheduled_restart");
    cJSON_AddStringToObject(s, "schedule", ha->restart_sched.schedule);
    if (ha->restart_sched.version[0] != '\0') {
        cJSON_AddStringToObject(s, "postgres_version", ha->restart_sched.version);
    }
}

const cJSON *ha__mgmt_scheduled(struct ha *ha, cJSON **scratch)
{
    cJSON *o = cJSON_CreateObject();
    ha__mgmt_member_fields(ha, o);
    *scratch = o;
    return cJSON_GetObjectItemCaseSensitive(o, "scheduled_restart");
}

void ha__mgmt_act_done(struct ha *ha, enum ha_act act, int status)
{
    if (ha->restarting) {
        ha->restarting = false;
        ha->restart_due = false;
        answer_restart(ha, status == 0 ? 200 : 503,
                       status == 0 ? "restarted successfully" : "restart failed");
        return;
    }
    switch (act) {
    case HA_CLONE:
        if (status == 0 && ha->reinit_due) {
            rg_log(RG_INFO, HA_LOGM, "reinitialize: done");
            ha->reinit_due = false;
        }
        return;
    default:
        return;
    }
}

/* --- the actions -------------------------------------------------------------------- */

/* Stop, then start in the same role as any start does (a primary only
 * under our lease, checked right before), with on_restart for on_start. */
void ha__act_restart(struct ha *ha, int status)
{
    bool primary = !ha->st.in_recovery;
    if (ha->step++ == 0) {
        ha->restarting = true;
        rg_log(RG_INFO, HA_LOGM, "restart: stopping PostgreSQL (%s)",
               primary ? "primary" : "replica");
        if (pgi_stop(ha->pg, &ha->op, PGI_STOP_FAST, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    if (status != 0) {
        ha__act_finish(ha, status);
        return;
    }
    ha->action.act = primary ? HA_START_PRIMARY : HA_START_REPLICA;
    if (primary) {
        ha->action.target = NULL;
    }
    ha->step = 0;
    ha__act_step(ha, 0);
}

void ha__act_reinit(struct ha *ha, int status)
{
    int s = ha->step++;
    if (s > 0 && status != 0) {
        ha__act_finish(ha, status);
        return;
    }
    switch (s) {
    case 0:
        if (pgi_stop(ha->pg, &ha->op, PGI_STOP_FAST, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 1:
        ha->following[0] = '\0';
        if (pgi_wipe(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    default:
        rg_log(RG_INFO, HA_LOGM, "reinitialize: data directory removed, cloning next");
        ha__act_finish(ha, 0);
        return;
    }
}

/* --- lifecycle ------------------------------------------------------------------------ */

void ha__mgmt_init(struct ha *ha)
{
    uv_timer_init(ha->loop, &ha->restart_wait_timer);
    uv_timer_init(ha->loop, &ha->restart_sched_timer);
    ha->open_handles += 2;
}

void ha__mgmt_close(struct ha *ha)
{
    answer_restart(ha, 503, "restart failed: the agent is stopping");
    ha->restart_wait_timer.data = ha;
    ha->restart_sched_timer.data = ha;
    uv_close((uv_handle_t *)&ha->restart_wait_timer, ha__handle_closed);
    uv_close((uv_handle_t *)&ha->restart_sched_timer, ha__handle_closed);
}
