/*
 * ha_run: the HA cycle and the members record.
 *
 * A cycle runs every loop_wait and at once after every relevant store event
 * (a new lease epoch or holder, initialize, the holder's record) and every
 * finished action; kicks coalesce into one cycle. Each cycle:
 *
 *   inspect the data directory (I/O thread) -> probe PostgreSQL if a
 *   postmaster runs -> facts -> ha_decide -> start the action, if any
 *
 * One action runs at a time (acting); its completion kicks the next cycle.
 * The lease (ha_lease.c) lives beside the cycle on its own timers: renewals
 * and the fence never wait for a cycle or an action.
 *
 * The members record is written when role, state, timeline, tags or the
 * pending restart change, and when only the LSNs moved at most every
 * loop_wait (DESIGN.md, "Status traffic").
 */
#include "agent/ha_run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ha_internal.h"
#include "agent/rg_log.h"
#include "pg/pgi_conf.h"

#define PROBE_TIMEOUT_MS  2000
#define MEMBER_TIMEOUT_MS 5000

static void cycle(struct ha *ha);

static void pg_freed(void *arg);

/* --- small helpers --------------------------------------------------------- */

const struct store_member *ha__member(const struct ha *ha, const char *name)
{
    return name != NULL ? store_state_member(store_get_state(ha->store), name) : NULL;
}

static const char *member_str(const struct store_member *m, const char *key)
{
    const cJSON *v = m != NULL ? cJSON_GetObjectItemCaseSensitive(m->data, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool ha__member_pg_addr(
    const struct ha *ha, const char *name, char *host, size_t hl, unsigned *port)
{
    const char *url = member_str(ha__member(ha, name), "conn_url");
    if (url == NULL) {
        return false;
    }
    const char *p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at != NULL && (slash == NULL || at < slash)) {
        p = at + 1;
    }
    size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
    char hp[300];
    if (n == 0 || n >= sizeof hp) {
        return false;
    }
    memcpy(hp, p, n);
    hp[n] = '\0';
    char *colon = strrchr(hp, ':');
    *port = 5432;
    if (colon != NULL && (strchr(hp, ']') == NULL || strchr(hp, ']') < colon)) {
        *colon = '\0';
        *port = (unsigned)strtoul(colon + 1, NULL, 10);
    }
    const char *h = hp;
    if (h[0] == '[') {
        h++;
        char *end = strchr(hp, ']');
        if (end != NULL) {
            *end = '\0';
        }
    }
    snprintf(host, hl, "%s", h);
    return true;
}

/* Patroni's slot names: the member name, lower case, other characters _. */
void ha__slot_name(const char *member, char *buf, size_t len)
{
    size_t i = 0;
    for (; member[i] != '\0' && i + 1 < len; i++) {
        char c = member[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        buf[i] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c : '_';
    }
    buf[i] = '\0';
}

/*
 * The end of a stop: pgi goes once none of its operations runs; the ha goes
 * once pgi, every handle and every store request of ours are gone (their
 * callbacks touch the ha). Called from each of those completions.
 */
void ha__maybe_close(struct ha *ha)
{
    if (!ha->closing || ha->cb_out || ha->n_cbq > 0 || ha->slots_out || ha->status_probe_out ||
        ha->lsn_out || ha->gate_out || ha->sync_out) {
        return;
    }
    if (ha->pg != NULL) {
        if (!ha->pg_freeing) {
            ha->pg_freeing = true;
            pgi_free(ha->pg, pg_freed, ha);
        }
        return;
    }
    if (ha->open_handles > 0 || ha->member_out || ha->renew_out > 0 || ha->transfer_out ||
        ha->sync_req_out) {
        return;
    }
    void (*cb)(void *) = ha->stop_cb;
    void *arg = ha->stop_arg;
    pgi_status_close(&ha->st);
    cJSON_Delete(ha->member_sent);
    cJSON_Delete(ha->written);
    rg_free(ha->param_warnings);
    rg_free(ha);
    if (cb != NULL) {
        cb(arg);
    }
}

static void pg_freed(void *arg)
{
    struct ha *ha = arg;
    ha->pg = NULL;
    ha__maybe_close(ha);
}

void ha__handle_closed(uv_handle_t *h)
{
    struct ha *ha = h->data;
    RG_ASSERT(ha->open_handles > 0);
    ha->open_handles--;
    ha__maybe_close(ha);
}

/* --- facts ------------------------------------------------------------------- */

static bool store_ready(struct ha *ha)
{
    return store_caught_up(ha->store);
}

static enum ha_pg pg_state(const struct ha *ha)
{
    if (!ha->have_dir) {
        return HA_PG_UNKNOWN;
    }
    if (!ha->dir.exists || ha->dir.empty) {
        return HA_PG_NO_DATA;
    }
    if (!ha->dir.initialized) {
        return HA_PG_UNKNOWN; /* a directory we do not recognise: never touch it */
    }
    if (ha->dir.postmaster_alive) {
        return ha->have_st ? HA_PG_RUNNING : HA_PG_UNREACHABLE;
    }
    return HA_PG_STOPPED;
}

static bool was_primary(const struct ha *ha)
{
    if (!ha->dir.have_controldata || ha->dir.standby_signal) {
        return false;
    }
    switch (ha->dir.controldata.state) {
    case PGI_DB_IN_PRODUCTION:
    case PGI_DB_SHUT_DOWN:
    case PGI_DB_SHUTTING_DOWN:
    case PGI_DB_IN_CRASH_RECOVERY:
        return true;
    default:
        return false;
    }
}

bool ha__member_fresh(const struct ha *ha, const struct store_member *m, uint64_t max_age_ms)
{
    const cJSON *ct = m != NULL ? cJSON_GetObjectItemCaseSensitive(m->data, "ct") : NULL;
    if (m != NULL && strcmp(m->name, ha->cfg->name) == 0) {
        return true;
    }
    if (!cJSON_IsString(ct)) {
        return false;
    }
    uint64_t at = strtoull(ct->valuestring, NULL, 10);
    uint64_t now = store_now_ct(ha->store);
    return now < at || now - at <= max_age_ms;
}

static bool member_is_running_primary(const struct ha *ha, const char *name)
{
    const struct store_member *m = ha__member(ha, name);
    if (!ha__member_fresh(ha, m, HA_MEMBER_STALE_MS)) {
        return false;
    }
    const char *role = member_str(m, "role");
    const char *state = member_str(m, "state");
    return role != NULL && state != NULL &&
           (strcmp(role, "primary") == 0 || strcmp(role, "master") == 0) &&
           strcmp(state, "running") == 0;
}

static bool member_running(const struct ha *ha, const char *name)
{
    const struct store_member *m = ha__member(ha, name);
    const char *state = member_str(m, "state");
    return state != NULL && strcmp(state, "running") == 0 &&
           ha__member_fresh(ha, m, HA_MEMBER_STALE_MS);
}

/* Cascading replication: @name streams from its replicatefrom member while
 * that one runs (and is not @name itself), else from the holder. */
const char *ha__upstream(const struct ha *ha, const char *name, const char *holder)
{
    /* Our own tags come from our configuration, the others' from their records. */
    const struct store_member *m = ha__member(ha, name);
    const cJSON *tags =
        strcmp(name, ha->cfg->name) == 0
            ? ha->cfg->tags
            : (m != NULL ? cJSON_GetObjectItemCaseSensitive(m->data, "tags") : NULL);
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(tags, "replicatefrom");
    if (cJSON_IsString(rf) && strcmp(rf->valuestring, name) != 0 &&
        (holder == NULL || strcmp(rf->valuestring, holder) != 0) &&
        member_running(ha, rf->valuestring)) {
        return rf->valuestring;
    }
    return holder;
}

static const char *clone_source(const struct ha *ha, const char *holder)
{
    const struct store_state *s = store_get_state(ha->store);
    for (size_t i = 0; i < s->n_members; i++) {
        const struct store_member *m = &s->members[i];
        const cJSON *tags = cJSON_GetObjectItemCaseSensitive(m->data, "tags");
        const char *state = member_str(m, "state");
        if (strcmp(m->name, ha->cfg->name) != 0 &&
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tags, "clonefrom")) && state != NULL &&
            strcmp(state, "running") == 0 && ha__member_fresh(ha, m, HA_MEMBER_STALE_MS)) {
            return m->name;
        }
    }
    return holder != NULL && member_is_running_primary(ha, holder) ? holder : NULL;
}

static void gather_facts(struct ha *ha, struct ha_facts *f)
{
    const struct store_state *s = store_get_state(ha->store);
    const struct store_lease *l = &s->lease;
    memset(f, 0, sizeof *f);
    f->me = ha->cfg->name;
    f->nofailover = ha->set.nofailover;
    f->pg = ha->pgstate = pg_state(ha);
    f->in_recovery = ha->have_st && ha->st.in_recovery;
    f->standby_signal = ha->have_dir && ha->dir.standby_signal;
    f->was_primary = was_primary(ha);
    f->sysid =
        ha->have_st ? ha->st.sysid : (ha->dir.have_controldata ? ha->dir.controldata.sysid : "");
    f->following = ha->following[0] != '\0' ? ha->following : NULL;
    f->refused = ha->refused;
    f->lease_mine = ha__lease_mine(ha);
    f->lease_granted = l->epoch != 0 && !l->released && strcmp(l->holder, ha->cfg->name) == 0;
    f->store_ready = store_ready(ha);
    f->init_sysid = s->init_sysid;
    f->init_claim = s->init_claim;
    bool valid = l->epoch != 0 && !l->released && store_lease_valid(l, store_now_ct(ha->store));
    f->holder = valid ? l->holder : NULL;
    f->holder_running = f->holder != NULL && member_is_running_primary(ha, f->holder);
    f->clone_from = clone_source(ha, f->holder);
    f->upstream = ha__upstream(ha, ha->cfg->name, f->holder);
    f->paused = ha->set.paused;
    f->watchdog_failed = ha__wd_failed(ha);
    ha__switch_facts(ha, f);
    ha__mgmt_facts(ha, f);
    f->sync_unready = ha__sync_unready(ha);
}

/* --- the members record ------------------------------------------------------- */

static const char *state_text(const struct ha *ha)
{
    if (ha->acting && ha->restarting) {
        return "restarting";
    }
    if (ha->acting) {
        switch (ha->action.act) {
        case HA_INITDB:
            return "initializing new cluster";
        case HA_CLONE:
            return "creating replica";
        case HA_START_PRIMARY:
        case HA_START_REPLICA:
        case HA_REJOIN:
            return "starting";
        case HA_DEMOTE:
        case HA_HANDOVER:
        case HA_REINIT:
            return "stopping";
        default:
            break;
        }
    }
    switch (ha->pgstate) {
    case HA_PG_RUNNING:
        return "running";
    case HA_PG_UNREACHABLE:
        return "starting";
    case HA_PG_STOPPED:
        return ha->fenced ? "crashed" : "stopped";
    default:
        return "stopped";
    }
}

static const char *role_text(const struct ha *ha)
{
    if (ha->pgstate == HA_PG_RUNNING) {
        return ha->st.in_recovery ? "replica" : "primary";
    }
    if (ha->pgstate == HA_PG_STOPPED && was_primary(ha)) {
        return "demoted";
    }
    return ha->pgstate == HA_PG_STOPPED ? "replica" : "uninitialized";
}

static void add_lsn_text(cJSON *o, const char *key, uint64_t lsn)
{
    char buf[32];
    pgi_lsn_format(lsn, buf, sizeof buf);
    cJSON_AddStringToObject(o, key, buf);
}

static cJSON *member_record(struct ha *ha)
{
    const struct cfg *cfg = ha->cfg;
    cJSON *m = cJSON_CreateObject();
    if (cfg->postgresql.connect_address != NULL) {
        char *u = rg_asprintf("postgres://%s/postgres", cfg->postgresql.connect_address);
        cJSON_AddStringToObject(m, "conn_url", u);
        rg_free(u);
    }
    const char *api =
        cfg->restapi.connect_address != NULL ? cfg->restapi.connect_address : cfg->restapi.listen;
    char *a = rg_asprintf("http://%s/patroni", api);
    cJSON_AddStringToObject(m, "api_url", a);
    rg_free(a);
    cJSON_AddStringToObject(m, "state", state_text(ha));
    cJSON_AddStringToObject(m, "role", role_text(ha));
    cJSON_AddStringToObject(m, "version", REGENT_VERSION);
    if (ha->pgstate == HA_PG_RUNNING) {
        const struct pgi_status *st = &ha->st;
        uint64_t pos = st->in_recovery ? (st->received_lsn > st->replayed_lsn ? st->received_lsn
                                                                              : st->replayed_lsn)
                                       : st->wal_lsn;
        cJSON_AddNumberToObject(m, "xlog_location", (double)pos);
        cJSON_AddNumberToObject(m, "timeline", st->timeline);
        if (st->in_recovery) {
            cJSON_AddStringToObject(m, "replication_state",
                                    st->streaming ? "streaming" : "in archive recovery");
            add_lsn_text(m, "receive_lsn", st->received_lsn);
            add_lsn_text(m, "replay_lsn", st->replayed_lsn);
        }
        if (st->pending_restart != NULL && cJSON_GetArraySize(st->pending_restart) > 0) {
            cJSON_AddTrueToObject(m, "pending_restart");
            cJSON_AddItemToObject(m, "pending_restart_reason",
                                  cJSON_Duplicate(st->pending_restart, 1));
        }
    }
    if (cfg->tags != NULL && cJSON_GetArraySize(cfg->tags) > 0) {
        cJSON_AddItemToObject(m, "tags", cJSON_Duplicate(cfg->tags, 1));
    }
    if (ha->set.paused) {
        cJSON_AddTrueToObject(m, "pause"); /* as Patroni's member key */
    }
    ha__mgmt_member_fields(ha, m);
    return m;
}

/* The record without what changes with every write. */
static const char *const moving[] = {"xlog_location", "receive_lsn", "replay_lsn", "ct"};

static bool same_moving(const cJSON *a, const cJSON *b)
{
    for (size_t i = 0; i + 1 < RG_ARRAY_SIZE(moving); i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, moving[i]);
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, moving[i]);
        if ((x == NULL) != (y == NULL) || (x != NULL && !cJSON_Compare(x, y, true))) {
            return false;
        }
    }
    return true;
}

static bool same_except_positions(const cJSON *a, const cJSON *b)
{
    cJSON *x = cJSON_Duplicate(a, 1), *y = cJSON_Duplicate(b, 1);
    for (size_t i = 0; i < RG_ARRAY_SIZE(moving); i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(x, moving[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(y, moving[i]);
    }
    bool same = cJSON_Compare(x, y, true);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return same;
}

static void member_written(struct store_req *req, int status, const cJSON *reply)
{
    struct ha *ha = req->data;
    (void)reply;
    ha->member_out = false;
    if (status != 0) {
        cJSON_Delete(ha->member_sent);
        ha->member_sent = NULL; /* try again next cycle */
    }
    ha__maybe_close(ha);
}

static void publish_member(struct ha *ha)
{
    if (ha->member_out || store_get_phase(ha->store) != STORE_RUNNING) {
        return;
    }
    cJSON *rec = member_record(ha);
    const struct store_member *cur = ha__member(ha, ha->cfg->name);
    uint64_t now = rg_boottime_ms();
    uint64_t since = now - ha->member_at;
    /* Written at once when something but the positions changed, for the
     * positions at most every loop_wait, and at least every refresh so the
     * others can tell a live member from a dead one's last words. */
    bool changed = cur == NULL || !same_except_positions(cur->data, rec);
    bool moved = !changed && !same_moving(cur->data, rec) && since >= ha->set.loop_wait_ms;
    bool refresh = since >= HA_MEMBER_REFRESH_MS;
    if (!changed && !moved && !refresh) {
        cJSON_Delete(rec);
        return;
    }
    char ct[24];
    snprintf(ct, sizeof ct, "%" PRIu64, store_now_ct(ha->store));
    cJSON_AddStringToObject(rec, "ct", ct);
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_MEMBER_SET;
    snprintf(cmd.name, sizeof cmd.name, "%s", ha->cfg->name);
    cmd.json = cJSON_Duplicate(rec, 1);
    store_new_req_id("member", cmd.id);
    cJSON_Delete(ha->member_sent);
    ha->member_sent = rec;
    ha->member_at = now;
    ha->member_req.data = ha;
    if (store_propose(ha->store, &ha->member_req, &cmd, 0, MEMBER_TIMEOUT_MS, member_written) ==
        0) {
        ha->member_out = true;
    }
}

/* --- the cycle ---------------------------------------------------------------- */

static void decide(struct ha *ha)
{
    struct ha_facts f;
    struct ha_action a;
    ha->gathering = false;
    if (ha->stopping) {
        ha_stop(ha, ha->stop_cb, ha->stop_arg); /* it waited for us */
        return;
    }
    unsigned loop_wait = ha->set.loop_wait_ms;
    ha__settings(ha, &ha->set);
    if (ha->set.loop_wait_ms != loop_wait) {
        /* loop_wait is dynamic: it takes effect without a restart. */
        uv_timer_set_repeat(&ha->cycle_timer, ha->set.loop_wait_ms);
    }
    gather_facts(ha, &f);
    if (f.pg == HA_PG_RUNNING && !f.in_recovery && f.lease_mine) {
        /* However it came to run (adopted after our own restart, say), a
         * primary under our lease is one the fence must kill. */
        ha->primary_allowed = true;
    }
    ha__wd_check(ha);
    ha_decide(&f, &a);
    if (a.act != ha->last_act || strcmp(a.why, ha->last_why) != 0) {
        rg_log(a.act == HA_EXIT ? RG_ERROR : RG_INFO, HA_LOGM, "%s: %s", ha_act_name(a.act), a.why);
        ha->last_act = a.act;
        snprintf(ha->last_why, sizeof ha->last_why, "%s", a.why);
    }
    publish_member(ha);
    ha__status_answer_all(ha);
    ha__side_tick(ha);
    ha__sync_tick(ha);
    if (a.act == HA_EXIT) {
        /* Patroni's exits leave PostgreSQL as it is: it is not ours. */
        ha->leave_pg = true;
        ha->fatal(ha->fatal_arg);
        return;
    }
    if (a.act != HA_WAIT) {
        ha__act_start(ha, &a);
    }
}

static void probed(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    pgi_status_close(&ha->st);
    ha->have_st = status == 0;
    if (ha->have_st) {
        ha->st = op->status;
        memset(&op->status, 0, sizeof op->status);
        ha->st_at = rg_boottime_ms();
    }
    decide(ha);
}

static void probe(struct ha *ha)
{
    if (pgi_probe(ha->pg, &ha->fact_op, PROBE_TIMEOUT_MS, probed) == 0) {
        return;
    }
    pgi_status_close(&ha->st);
    ha->have_st = false;
    decide(ha);
}

static void controldata_read(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    if (status == 0) {
        ha__hot_standby_seen(ha, &op->controldata);
    }
    probe(ha);
}

static void inspected(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    ha->have_dir = status == 0;
    if (status == 0) {
        ha->dir = op->dir;
        if (ha->dir.have_controldata) {
            ha__hot_standby_seen(ha, &ha->dir.controldata);
        }
    } else {
        rg_log(RG_WARNING, HA_LOGM, "could not inspect the data directory: %s", op->errmsg);
    }
    if (status == 0 && !ha->wd_swept) {
        /* DESIGN.md rule 5: a PostgreSQL that outlived its agent may be a
         * primary whose lease is gone, and a dead agent's device counts
         * down to the reset that kills it; opening (and kicking) the
         * device again would cancel that. Kill it first. */
        ha->wd_swept = true;
        if (ha->dir.postmaster_alive && ha__wd_in_use(ha)) {
            rg_log(RG_WARNING, HA_LOGM,
                   "PostgreSQL of our data directory runs without its agent: killing it before "
                   "the watchdog is opened");
            pgi_fence(ha->pg);
            if (ha->stopping) {
                decide(ha); /* ha_stop waits for the gathering to end there */
            } else {
                ha->gathering = false; /* the next cycle looks again */
            }
            return;
        }
    }
    /* A running standby's copy of the primary's hot-standby settings moves
     * when the primary restarts with new ones: look at it now and then. */
    if (ha->have_dir && ha->dir.postmaster_alive && ha->have_st && ha->st.in_recovery &&
        rg_boottime_ms() - ha->hs.at >= ha->set.loop_wait_ms) {
        if (pgi_controldata(ha->pg, &ha->fact_op, controldata_read) == 0) {
            return;
        }
    }
    if (ha->have_dir && ha->dir.postmaster_alive) {
        probe(ha);
        return;
    }
    pgi_status_close(&ha->st);
    ha->have_st = false;
    decide(ha);
}

static void cycle(struct ha *ha)
{
    if (ha->stopping || ha->gathering || ha->acting) {
        return;
    }
    ha->gathering = true;
    ha->fact_op.data = ha;
    if (pgi_inspect(ha->pg, &ha->fact_op, inspected) != 0) {
        ha->gathering = false;
    }
}

static void kick_cb(uv_timer_t *t)
{
    cycle(rg_container_of(t, struct ha, kick_timer));
}

static void cycle_cb(uv_timer_t *t)
{
    cycle(rg_container_of(t, struct ha, cycle_timer));
}

void ha__kick_in(struct ha *ha, uint64_t ms)
{
    if (!ha->stopping && !uv_is_closing((uv_handle_t *)&ha->kick_timer)) {
        uv_timer_start(&ha->kick_timer, kick_cb, ms, 0);
    }
}

void ha__kick(struct ha *ha)
{
    ha__kick_in(ha, 0);
}

void ha__act_done(struct ha *ha, int status, const char *errmsg)
{
    ha->acting = false;
    if (status != 0) {
        rg_log(RG_WARNING, HA_LOGM, "%s failed: %s", ha_act_name(ha->action.act), errmsg);
        ha->last_why[0] = '\0'; /* say it again next time */
        /* What was written may not be what runs: look again. */
        cJSON_Delete(ha->written);
        ha->written = NULL;
    }
    ha__mgmt_act_done(ha, ha->action.act, status);
    if (ha->stopping) {
        ha_stop(ha, ha->stop_cb, ha->stop_arg);
        return;
    }
    /* After a failure the next attempt waits for the next loop_wait tick:
     * a failing action must not spin. */
    if (status == 0) {
        ha__kick(ha);
    }
}

/* --- store events ---------------------------------------------------------------- */

void ha_store_event(struct ha *ha, enum store_event ev, const struct store_cmd *cmd)
{
    if (ha->stopping) {
        return;
    }
    ha__lease_update(ha);
    if (ev != STORE_EV_APPLIED) {
        ha__kick(ha);
        return;
    }
    /* Renewals apply four times a second: only a change of hands matters. */
    switch (cmd->op) {
    case STORE_OP_RENEW:
    case STORE_OP_STATUS_SET:
    case STORE_OP_NOOP:
    case STORE_OP_PEER_SET:
        return;
    case STORE_OP_MEMBER_SET:
        if (strcmp(cmd->name, ha->cfg->name) == 0) {
            return;
        }
        ha__kick(ha);
        return;
    default:
        ha__kick(ha);
        return;
    }
}

/* --- lifecycle ------------------------------------------------------------------- */

int ha_start(struct ha **out, uv_loop_t *loop, const struct ha_options *o, char *errmsg)
{
    struct ha *ha = rg_calloc(1, sizeof *ha);
    struct pgi_options po;
    char listen[256];
    ha->loop = loop;
    ha->cfg = o->cfg;
    ha->store = o->store;
    ha->fatal = o->fatal;
    ha->fatal_arg = o->fatal_arg;
    ha->fence_fd = -1;
    ha__settings(ha, &ha->set);
    int rv = ha__pg_options(ha, &po, listen, sizeof listen, errmsg);
    if (rv == 0) {
        rv = pgi_new(&ha->pg, loop, &po, errmsg);
    }
    if (rv == 0 && ha__lease_init(ha) != 0) {
        rg_errmsg_printf(errmsg, "could not create the fence timer");
        rv = RG_EIO;
    }
    if (rv == 0) {
        ha__switch_init(ha);
        ha__mgmt_init(ha);
    }
    if (rv != 0) {
        if (ha->pg != NULL) {
            pgi_free(ha->pg, NULL, NULL);
        }
        rg_free(ha);
        return rv;
    }
    uv_timer_init(loop, &ha->cycle_timer);
    uv_timer_init(loop, &ha->kick_timer);
    ha->open_handles += 2;
    uv_timer_start(&ha->cycle_timer, cycle_cb, 0, ha->set.loop_wait_ms);
    store_set_app_rpc(ha->store, ha__status_rpc, ha);
    *out = ha;
    return 0;
}

void ha_reload(struct ha *ha, const struct cfg *fresh)
{
    ha->cfg = fresh;
    ha__settings(ha, &ha->set);
    ha__wd_configure(ha);
    uv_timer_set_repeat(&ha->cycle_timer, ha->set.loop_wait_ms);
    ha__callback(ha, "on_reload", role_text(ha));
    ha__kick(ha);
}

/* --- stopping --------------------------------------------------------------------- */

static void close_all(struct ha *ha)
{
    store_set_app_rpc(ha->store, NULL, NULL);
    ha__status_answer_all(ha);
    ha__lease_close(ha);
    ha__switch_close(ha);
    ha__mgmt_close(ha);
    ha->cycle_timer.data = ha;
    ha->kick_timer.data = ha;
    uv_close((uv_handle_t *)&ha->cycle_timer, ha__handle_closed);
    uv_close((uv_handle_t *)&ha->kick_timer, ha__handle_closed);
    /* Callbacks still queued (on_stop) run to their end, each within its
     * deadline: they are fire-and-forget in Patroni, never killed on exit. */
    ha->closing = true;
    ha__maybe_close(ha);
}

static void released(struct store_req *req, int status, const cJSON *reply)
{
    struct ha *ha = req->data;
    (void)reply;
    rg_log(status == 0 ? RG_INFO : RG_WARNING, HA_LOGM, "lease release: %s",
           status == 0 ? "done: a replica can take over now" : rg_strerror(status));
    close_all(ha);
}

static void stopped_inspected(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    uint64_t lsn = status == 0 && op->dir.have_controldata ? op->dir.controldata.checkpoint_lsn : 0;
    bool down = status == 0 && !op->dir.postmaster_alive;
    if (down) {
        wd_disarm(&ha->wd, "PostgreSQL stopped: nothing is left to reset for");
    }
    if (down && ha__lease_release(ha, lsn, released) == 0) {
        return;
    }
    if (!down) {
        rg_log(RG_WARNING, HA_LOGM, "PostgreSQL is still running: keeping the lease");
    }
    close_all(ha);
}

static void pg_stopped(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    if (status != 0) {
        rg_log(RG_WARNING, HA_LOGM, "stopping PostgreSQL: %s", op->errmsg);
    } else {
        ha->primary_allowed = false;
        /* on_stop is for a PostgreSQL that ran, as in Patroni. */
        if (ha->pgstate == HA_PG_RUNNING || ha->pgstate == HA_PG_UNREACHABLE) {
            ha__callback(ha, "on_stop", role_text(ha));
        }
    }
    /* The lease may go only once PostgreSQL is confirmed stopped. */
    if (pgi_inspect(ha->pg, &ha->op, stopped_inspected) != 0) {
        close_all(ha);
    }
}

void ha_stop(struct ha *ha, void (*cb)(void *arg), void *arg)
{
    ha->stopping = true;
    ha->stop_cb = cb;
    ha->stop_arg = arg;
    uv_timer_stop(&ha->cycle_timer);
    uv_timer_stop(&ha->kick_timer);
    if (ha->sync_req_out) {
        store_req_cancel(&ha->sync_req); /* its outcome does not matter to a stopping agent */
    }
    if (ha->acting) {
        /* A long program (pg_basebackup, say) is asked to stop, and a
         * proposal that waits for a quorum is given up (its outcome does not
         * matter to a stopping agent); either completion comes back here
         * through ha__act_done. */
        pgi_op_cancel(&ha->op);
        store_req_cancel(&ha->act_req);
        return;
    }
    if (ha->gathering) {
        return; /* decide() sees stopping; the next call of ours comes from there */
    }
    if (ha->leave_pg) {
        close_all(ha);
        return;
    }
    if (ha->set.paused) {
        /* Patroni's paused shutdown: PostgreSQL keeps running, the lease
         * stays (our last renewal said we do not fence: nobody is granted
         * it meanwhile). */
        rg_log(RG_INFO, HA_LOGM, "paused: leaving PostgreSQL running and the lease in place");
        close_all(ha);
        return;
    }
    ha->op.data = ha;
    if (pgi_stop(ha->pg, &ha->op, PGI_STOP_FAST, pg_stopped) != 0) {
        close_all(ha);
    }
}
