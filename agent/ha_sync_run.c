/*
 * ha_sync_run: synchronous replication at run time, on the primary. Once a
 * cycle (and again right after each step) it reads, in one round trip on
 * its own pgi operation, the synchronous_standby_names PostgreSQL runs with,
 * its flush LSN and pg_stat_replication; ha_sync_plan (ha_sync.c) says the
 * next step, and it is carried out here:
 *   - a record step proposes the store's sync record under our epoch (the
 *     state machine refuses it once the lease is not ours); one at a time;
 *   - a configuration step only changes what ha__pg_parameters gives
 *     synchronous_standby_names: the cycle then sees that the configuration
 *     differs and reloads PostgreSQL (HA_RECONFIGURE), and a later query sees
 *     PostgreSQL run with it ("adopted") and reads the flush LSN that a new
 *     member must pass.
 * Nothing is assumed from a step having been asked for: the record is read
 * back from the applied state, the configuration from current_setting().
 *
 * The record: {"leader": <us>, "sync_standby": "a,b" or null, "quorum": k in
 * quorum mode else 0 (Patroni's fields), "k": k (Regent's: every
 * acknowledged commit is on k members of sync_standby)}.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ha_internal.h"
#include "agent/rg_log.h"

#define SYNC_SQL_TIMEOUT_MS 2000
#define SYNC_MIN_GAP_MS     100 /* between two queries, whatever kicks us */
#define SYNC_SOON_MS        150 /* the next look while a step is under way */
#define SYNC_SOON_MAX       20  /* that many, then once a loop_wait */

static bool quorum(const struct ha *ha)
{
    return ha->set.sync_mode == HA_SYNC_QUORUM;
}

bool ha__sync_record(const struct ha *ha, const char *leader, struct ha_sync_set *out)
{
    const cJSON *rec = store_get_state(ha->store)->sync;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(rec)) {
        return false;
    }
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(rec, "leader");
    if (leader != NULL && (!cJSON_IsString(l) || strcmp(l->valuestring, leader) != 0)) {
        return false;
    }
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(rec, "sync_standby");
    ha_sync_split(cJSON_IsString(names) ? names->valuestring : NULL, out);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(rec, "k");
    out->k = cJSON_IsNumber(k) && k->valuedouble >= 0 && k->valuedouble <= (double)out->n
                 ? (unsigned)k->valuedouble
                 : (unsigned)out->n;
    return true;
}

/* What a new primary starts with: the grant emptied the record, so nobody
 * may acknowledge — in strict mode nobody can (the placeholder). */
static void pre_promotion(const struct ha *ha, struct ha_sync_set *c)
{
    memset(c, 0, sizeof *c);
    if (ha->set.sync_strict) {
        snprintf(c->names[0], sizeof c->names[0], "%s", HA_SYNC_PLACEHOLDER);
        c->n = 1;
        c->k = 1;
        c->any = quorum(ha);
    }
}

static char pre_names[128];

const char *ha__sync_names(struct ha *ha, bool standby)
{
    struct ha_sync_set c;
    if (ha->set.sync_mode == HA_SYNC_OFF) {
        ha->sync_known = false;
        return NULL;
    }
    if (standby) {
        pre_promotion(ha, &c);
        ha_sync_render(&c, pre_names, sizeof pre_names);
        return pre_names;
    }
    if (!ha->sync_known) {
        /* A primary we have not configured in this role yet (just promoted,
         * or our agent restarted): the record in force, which the
         * configuration it describes keeps true; else the start value. */
        if (ha__sync_record(ha, ha->cfg->name, &c)) {
            c.any = quorum(ha) || c.k < c.n;
        } else {
            pre_promotion(ha, &c);
        }
        ha->sync_cfg = c;
        ha_sync_render(&c, ha->sync_names, sizeof ha->sync_names);
        ha->sync_known = true;
        ha->sync_adopted = false;
    }
    return ha->sync_names;
}

bool ha__sync_unready(struct ha *ha)
{
    if (ha->set.sync_mode == HA_SYNC_OFF || ha->pgstate != HA_PG_RUNNING || !ha->have_st ||
        !ha->st.in_recovery || !ha__lease_mine(ha)) {
        return false;
    }
    return strcmp(ha->st.sync_names, ha__sync_names(ha, true)) != 0;
}

/* --- the record ------------------------------------------------------------- */

static void record_done(struct store_req *req, int status, const cJSON *reply)
{
    struct ha *ha = req->data;
    struct store_result res;
    ha->sync_req_out = false;
    if (status == 0 && store_reply_result(reply, &res, NULL) == 0 && res.code != 0) {
        rg_log(RG_WARNING, HA_LOGM, "sync record refused: %s", res.reason);
    } else if (status != 0) {
        rg_log(RG_WARNING, HA_LOGM, "sync record: %s", rg_strerror(status));
    } else {
        ha->sync_at = 0; /* look again at once */
        ha__kick(ha);
    }
    ha__maybe_close(ha);
}

/* Propose the record @s (NULL: delete it). */
static void propose_record(struct ha *ha, const struct ha_sync_set *s)
{
    char names[HA_SYNC_MAX * HA_SYNC_NAME_SIZE];
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_SYNC_SET;
    snprintf(cmd.name, sizeof cmd.name, "%s", ha->cfg->name);
    cmd.epoch = ha__store_epoch(ha);
    if (s != NULL) {
        cmd.json = cJSON_CreateObject();
        cJSON_AddStringToObject(cmd.json, "leader", ha->cfg->name);
        ha_sync_join(s, names, sizeof names);
        if (s->n > 0) {
            cJSON_AddStringToObject(cmd.json, "sync_standby", names);
        } else {
            cJSON_AddNullToObject(cmd.json, "sync_standby");
        }
        cJSON_AddNumberToObject(cmd.json, "quorum", quorum(ha) ? s->k : 0);
        cJSON_AddNumberToObject(cmd.json, "k", s->k);
    }
    store_new_req_id("sync", cmd.id);
    ha->sync_req.data = ha;
    if (store_propose(ha->store, &ha->sync_req, &cmd, 0, ha->set.ttl_ms * 2, record_done) == 0) {
        ha->sync_req_out = true;
    }
    store_cmd_close(&cmd);
}

/* --- the query ---------------------------------------------------------------- */

static bool primary_now(struct ha *ha)
{
    return ha->pgstate == HA_PG_RUNNING && ha->have_st && !ha->st.in_recovery &&
           ha__lease_mine(ha) && !ha->closing && !ha->stopping;
}

static bool tag_true(const cJSON *tags, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tags, key));
}

static void sync_queried(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    ha->sync_out = false;
    if (status != 0 || op->n_results < 2 || op->results[0].nrows != 1) {
        if (status != 0) {
            rg_log(RG_WARNING, HA_LOGM, "synchronous replication: %s", op->errmsg);
        }
        ha__maybe_close(ha);
        return;
    }
    if (!primary_now(ha) || ha->set.sync_mode == HA_SYNC_OFF || ha->sync_req_out) {
        ha__maybe_close(ha);
        return;
    }
    const struct pgi_result *cur = &op->results[0], *rep = &op->results[1];
    const char *names = pgi_result_get(cur, 0, "names");
    uint64_t flush = 0;
    const char *fl = pgi_result_get(cur, 0, "flush");
    if (fl != NULL) {
        pgi_lsn_parse(fl, &flush);
    }
    ha__sync_names(ha, false);
    bool adopted = names != NULL && strcmp(names, ha->sync_names) == 0;
    if (adopted && !ha->sync_adopted) {
        /* Read after PostgreSQL took the configuration: what a member it
         * adds must have flushed before it counts. */
        ha->sync_adopted_lsn = flush;
    }
    ha->sync_adopted = adopted;

    const struct store_state *s = store_get_state(ha->store);
    struct ha_sync_standby *sb = rg_calloc(s->n_members + 1, sizeof *sb);
    size_t n = 0, off = 0;
    char inel[256] = "";
    for (size_t i = 0; i < s->n_members; i++) {
        const struct store_member *m = &s->members[i];
        if (strcmp(m->name, ha->cfg->name) == 0) {
            continue;
        }
        struct ha_sync_standby *x = &sb[n++];
        x->name = m->name;
        const cJSON *tags = cJSON_GetObjectItemCaseSensitive(m->data, "tags");
        const cJSON *prio = cJSON_GetObjectItemCaseSensitive(tags, "sync_priority");
        x->priority = cJSON_IsNumber(prio) ? prio->valueint : 1;
        const char *up = ha__upstream(ha, m->name, ha->cfg->name);
        bool streaming = false;
        for (int r = 0; r < rep->nrows; r++) {
            const char *app = pgi_result_get(rep, r, "application_name");
            if (app == NULL || strcmp(app, m->name) != 0) {
                continue;
            }
            const char *state = pgi_result_get(rep, r, "state");
            const char *ss = pgi_result_get(rep, r, "sync_state");
            const char *f = pgi_result_get(rep, r, "flush_lsn");
            x->reporting = true;
            streaming = state != NULL && strcmp(state, "streaming") == 0;
            x->sync_ok = ss != NULL && (strcmp(ss, "sync") == 0 || strcmp(ss, "quorum") == 0);
            if (f != NULL) {
                pgi_lsn_parse(f, &x->flush);
            }
        }
        const char *no = !x->reporting                                  ? "not connected"
                         : !streaming                                   ? "not streaming"
                         : !ha__member_fresh(ha, m, HA_MEMBER_STALE_MS) ? "stale record"
                         : tag_true(tags, "nosync")                     ? "nosync"
                         : tag_true(tags, "nostream")                   ? "nostream"
                         : x->priority <= 0                             ? "sync_priority <= 0"
                         : up == NULL || strcmp(up, ha->cfg->name) != 0 ? "cascading"
                                                                        : NULL;
        x->eligible = no == NULL;
        if (no != NULL && off < sizeof inel) {
            off += (size_t)snprintf(inel + off, sizeof inel - off, "%s%s: %s", off ? ", " : "",
                                    m->name, no);
        }
    }
    struct ha_sync_facts f = {
        .mode = ha->set.sync_mode,
        .strict = ha->set.sync_strict,
        .node_count = ha->set.sync_node_count,
        .config = ha->sync_cfg,
        .adopted = ha->sync_adopted,
        .adopted_lsn = ha->sync_adopted_lsn,
        .sb = sb,
        .n_sb = n,
    };
    f.record_mine = ha__sync_record(ha, ha->cfg->name, &f.record);
    struct ha_sync_plan p;
    ha_sync_plan(&f, &p);
    rg_free(sb);
    if (inel[0] != '\0') {
        size_t l = strlen(p.why);
        snprintf(p.why + l, sizeof p.why - l, " (not eligible: %s)", inel);
    }
    if (p.step != HA_SYNC_IDLE || strcmp(p.why, ha->sync_why) != 0) {
        rg_log(RG_INFO, HA_LOGM, "synchronous replication: %s", p.why);
        snprintf(ha->sync_why, sizeof ha->sync_why, "%s", p.why);
        ha->sync_soon = 0;
    }
    switch (p.step) {
    case HA_SYNC_RECORD:
        propose_record(ha, &p.set);
        break;
    case HA_SYNC_CONFIG:
        ha->sync_cfg = p.set;
        ha_sync_render(&p.set, ha->sync_names, sizeof ha->sync_names);
        ha->sync_adopted = false;
        ha->sync_at = 0;
        ha__kick(ha); /* the cycle sees the configuration differ and reloads */
        break;
    case HA_SYNC_IDLE:
        /* A standby far behind takes long to catch up: then loop_wait. */
        if (p.soon && ha->sync_soon++ < SYNC_SOON_MAX) {
            ha__kick_in(ha, SYNC_SOON_MS);
        }
        break;
    }
    ha__maybe_close(ha);
}

void ha__sync_tick(struct ha *ha)
{
    static const char *const q[] = {
        "SELECT current_setting('synchronous_standby_names') AS names,"
        " pg_current_wal_flush_lsn()::text AS flush",
        "SELECT application_name, state, sync_state, flush_lsn::text AS flush_lsn"
        " FROM pg_stat_replication"};
    uint64_t now = rg_boottime_ms();
    if (ha->pg == NULL || ha->closing || ha->stopping || ha->sync_out || ha->sync_req_out) {
        return;
    }
    if (!primary_now(ha)) {
        ha->sync_known = false;
        ha->sync_adopted = false;
        return;
    }
    if (ha->set.sync_mode == HA_SYNC_OFF) {
        ha->sync_known = false;
        if (store_get_state(ha->store)->sync != NULL) {
            /* The coordinator ignores the record with the mode off. */
            rg_log(RG_INFO, HA_LOGM, "synchronous_mode is off: removing the sync record");
            propose_record(ha, NULL);
        }
        return;
    }
    if (now - ha->sync_at < SYNC_MIN_GAP_MS) {
        return;
    }
    ha->sync_at = now;
    ha->sync_op.data = ha;
    if (pgi_query(ha->pg, &ha->sync_op, q, 2, SYNC_SQL_TIMEOUT_MS, sync_queried) == 0) {
        ha->sync_out = true;
    }
}
