/*
 * ha_act: the actions ha_decide asks for, each a chain of pgi operations
 * and store proposals driven by ha__act_step(). The chain ends in ha__act_done.
 *
 * Two rules are re-checked inside the chains, right before the operation
 * they guard, because a chain can take long and the lease can be lost
 * meanwhile: PostgreSQL is started as a primary, or promoted, only while
 * ha__lease_mine() holds; and primary_allowed (what the fence kills) is set
 * before that start or promotion, never after.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ha_internal.h"
#include "agent/rg_log.h"
#include "pg/pgi_conf.h"

#define SQL_TIMEOUT_MS 10000

void ha__op_cb(struct pgi_op *op, int status)
{
    ha__act_step(op->data, status);
}

static void req_cb(struct store_req *req, int status, const cJSON *reply)
{
    struct ha *ha = req->data;
    struct store_result res;
    if (status == 0 && store_reply_result(reply, &res, NULL) == 0 && res.code != 0) {
        rg_errmsg_printf(ha->op.errmsg, "refused: %s", res.reason);
        status = RG_ECONFLICT;
    } else if (status != 0) {
        rg_errmsg_printf(ha->op.errmsg, "%s", rg_strerror(status));
    }
    ha__act_step(ha, status);
}

void ha__act_finish(struct ha *ha, int status)
{
    ha__act_done(ha, status, ha->op.errmsg);
}

int ha__act_propose(struct ha *ha, struct store_cmd *cmd)
{
    store_new_req_id("ha", cmd->id);
    ha->act_req.data = ha;
    int rv = store_propose(ha->store, &ha->act_req, cmd, 0, ha->set.ttl_ms * 2, req_cb);
    if (rv != 0) {
        rg_errmsg_printf(ha->op.errmsg, "%s", rg_strerror(rv));
    }
    return rv;
}

uint64_t ha__store_epoch(const struct ha *ha)
{
    return store_get_state(ha->store)->lease.epoch;
}

/* --- configuration ---------------------------------------------------------- */

/* A standby's hot-standby settings may not be below the primary's, which
 * its control file records (PostgreSQL pauses recovery otherwise): raise
 * them to those, as Patroni does, so a replica restarts whatever order the
 * operator restarts the members in. */
size_t ha__hot_standby(const struct ha *ha, struct ha_hs_setting out[HA_HS_SETTINGS])
{
    if (!ha->hs.known) {
        return 0;
    }
    out[0] = (struct ha_hs_setting){"max_connections", ha->hs.max_connections};
    out[1] = (struct ha_hs_setting){"max_worker_processes", ha->hs.max_worker_processes};
    out[2] = (struct ha_hs_setting){"max_wal_senders", ha->hs.max_wal_senders};
    out[3] = (struct ha_hs_setting){"max_prepared_transactions", ha->hs.max_prepared_xacts};
    out[4] = (struct ha_hs_setting){"max_locks_per_transaction", ha->hs.max_locks_per_xact};
    return HA_HS_SETTINGS;
}

static void raise_to_primary(struct ha *ha, cJSON *params)
{
    struct ha_hs_setting hs[HA_HS_SETTINGS];
    size_t n = ha__hot_standby(ha, hs);
    for (size_t i = 0; i < n; i++) {
        char text[32];
        if (pgi_conf_value_text(params, hs[i].name, text, sizeof text) &&
            strtoul(text, NULL, 10) < hs[i].primary) {
            cJSON_DeleteItemFromObjectCaseSensitive(params, hs[i].name);
            cJSON_AddNumberToObject(params, hs[i].name, hs[i].primary);
        }
    }
}

void ha__hot_standby_seen(struct ha *ha, const struct pgi_controldata *c)
{
    ha->hs.known = true;
    ha->hs.max_connections = c->max_connections;
    ha->hs.max_worker_processes = c->max_worker_processes;
    ha->hs.max_wal_senders = c->max_wal_senders;
    ha->hs.max_prepared_xacts = c->max_prepared_xacts;
    ha->hs.max_locks_per_xact = c->max_locks_per_xact;
    ha->hs.at = rg_boottime_ms();
}

cJSON *ha__pg_parameters(struct ha *ha, bool standby)
{
    char listen[256] = "127.0.0.1";
    unsigned port = 5432;
    char *warnings = NULL;
    /* The dynamic parameters borrow from the store's state, which every
     * config_set replaces: take them fresh. */
    ha__settings(ha, &ha->set);
    if (ha->cfg->postgresql.listen != NULL) {
        pgi_conf_parse_listen(ha->cfg->postgresql.listen, listen, sizeof listen, &port);
    }
    unsigned version = ha->have_st && ha->st.server_version ? ha->st.server_version : 150000;
    cJSON *p = pgi_conf_parameters(ha->set.dynamic_parameters, ha->set.local_parameters, listen,
                                   port, ha->cfg->scope, version, &warnings);
    if (warnings != NULL && warnings[0] != '\0' &&
        (ha->param_warnings == NULL || strcmp(warnings, ha->param_warnings) != 0)) {
        rg_log(RG_WARNING, HA_LOGM, "postgresql.parameters: %s", warnings);
        rg_free(ha->param_warnings);
        ha->param_warnings = warnings;
        warnings = NULL;
    }
    rg_free(warnings);
    if (standby) {
        raise_to_primary(ha, p);
    }
    /* Synchronous mode owns synchronous_standby_names (ha_sync_run.c). */
    const char *sync_names = ha__sync_names(ha, standby);
    if (sync_names != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(p, "synchronous_standby_names");
        cJSON_AddStringToObject(p, "synchronous_standby_names", sync_names);
    }
    return p;
}

/* What ha__configure writes besides the standby block, to compare. */
static cJSON *written_doc(struct ha *ha, bool standby)
{
    cJSON *w = cJSON_CreateObject();
    cJSON_AddItemToObject(w, "parameters", ha__pg_parameters(ha, standby));
    if (ha->set.pg_hba != NULL) {
        cJSON_AddItemToObject(w, "pg_hba", cJSON_Duplicate(ha->set.pg_hba, 1));
    }
    return w;
}

bool ha__reconfigure_needed(struct ha *ha)
{
    if (ha->written == NULL) {
        return true; /* a PostgreSQL we did not configure in this lifetime */
    }
    cJSON *want = written_doc(ha, ha->st.in_recovery);
    bool differ = !cJSON_Compare(want, ha->written, true);
    cJSON_Delete(want);
    return differ;
}

/* Write the configuration: a primary's, or a standby's of ha->target. */
int ha__configure(struct ha *ha, bool standby)
{
    char slot[64];
    cJSON_Delete(ha->written);
    ha->written = written_doc(ha, standby);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(ha->written, "parameters");
    struct pgi_config c = {
        .parameters = params,
        .pg_hba = ha->set.pg_hba,
        .standby = standby,
    };
    if (standby && ha->target[0] != '\0') {
        c.primary_host = ha->target_host;
        c.primary_port = ha->target_port;
        if (ha->set.use_slots) {
            ha__slot_name(ha->cfg->name, slot, sizeof slot);
            c.primary_slot_name = slot;
        }
    }
    ha->op.data = ha;
    return pgi_configure(ha->pg, &ha->op, &c, ha__op_cb);
}

/* The lease is checked, the watchdog armed (DESIGN.md rule 5), then
 * primary_allowed set, before the operation. */
bool ha__may_be_primary(struct ha *ha)
{
    if (!ha__lease_mine(ha)) {
        rg_errmsg_printf(ha->op.errmsg, "the lease is no longer ours");
        return false;
    }
    if (ha__wd_arm(ha) != 0) {
        rg_errmsg_printf(ha->op.errmsg, "watchdog required but unusable: %s", ha->wd.why);
        return false;
    }
    ha->primary_allowed = true;
    ha->fenced = false;
    return true;
}

/* --- the actions ------------------------------------------------------------- */

static void act_claim(struct ha *ha, int status)
{
    struct store_cmd cmd;
    if (ha->step++ > 0) {
        ha__act_finish(ha, status);
        return;
    }
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_INIT_CLAIM;
    snprintf(cmd.name, sizeof cmd.name, "%s", ha->cfg->name);
    if (ha__act_propose(ha, &cmd) != 0) {
        ha__act_finish(ha, RG_EIO);
    }
}

/* init_set, then the dynamic configuration from bootstrap.dcs when there is none. */
static int propose_initialize(struct ha *ha, const char *sysid)
{
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_INIT_SET;
    snprintf(cmd.name, sizeof cmd.name, "%s", ha->cfg->name);
    snprintf(cmd.sysid, sizeof cmd.sysid, "%s", sysid);
    cmd.epoch = ha__store_epoch(ha);
    rg_log(RG_INFO, HA_LOGM, "initialize: system identifier %s", sysid);
    return ha__act_propose(ha, &cmd);
}

static int propose_config(struct ha *ha)
{
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_CONFIG_SET;
    cmd.version = 0;
    cmd.json = ha->cfg->bootstrap_dcs != NULL ? cJSON_Duplicate(ha->cfg->bootstrap_dcs, 1)
                                              : cJSON_CreateObject();
    return ha__act_propose(ha, &cmd);
}

static void act_set_initialize(struct ha *ha, int status)
{
    switch (ha->step++) {
    case 0: {
        const char *sysid = ha->have_st ? ha->st.sysid : ha->dir.controldata.sysid;
        if (sysid == NULL || sysid[0] == '\0' || propose_initialize(ha, sysid) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    case 1:
        if (status != 0 || store_get_state(ha->store)->config_version != 0 ||
            propose_config(ha) != 0) {
            ha__act_finish(ha, status);
        }
        return;
    default:
        ha__act_finish(ha, 0); /* a refused config_set means one exists: fine */
        return;
    }
}

/* SQL quoting of values we did not write ourselves (names, passwords). */
static char *sql_literal(const char *v)
{
    size_t n = strlen(v);
    char *out = rg_malloc(2 * n + 3), *o = out;
    *o++ = '\'';
    for (const char *p = v; *p; p++) {
        if (*p == '\'') {
            *o++ = '\'';
        }
        *o++ = *p;
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

static char *sql_ident(const char *v)
{
    size_t n = strlen(v);
    char *out = rg_malloc(2 * n + 3), *o = out;
    *o++ = '"';
    for (const char *p = v; *p; p++) {
        if (*p == '"') {
            *o++ = '"';
        }
        *o++ = *p;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* "DO <tag> ... <tag>" with a dollar-quote tag that the body cannot end. */
static char *sql_do(const char *body)
{
    char tag[32];
    uint64_t r = rg_boottime_us();
    do {
        snprintf(tag, sizeof tag, "$rg%" PRIx64 "$", r++);
    } while (strstr(body, tag) != NULL);
    return rg_asprintf("DO %s BEGIN %s END %s", tag, body, tag);
}

/* The replication user (created when missing) and the passwords the
 * configuration asks for; then the new cluster's system identifier. */
static int create_users(struct ha *ha)
{
    const struct ha_settings *set = &ha->set;
    char *q[4];
    size_t n = 0;
    if (set->rep_user != NULL) {
        char *lit = sql_literal(set->rep_user), *id = sql_ident(set->rep_user);
        char *body = rg_asprintf("IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) THEN "
                                 "CREATE ROLE %s WITH REPLICATION LOGIN; END IF;",
                                 lit, id);
        q[n++] = sql_do(body);
        rg_free(body);
        if (set->rep_password != NULL) {
            char *pw = sql_literal(set->rep_password);
            q[n++] = rg_asprintf("ALTER ROLE %s PASSWORD %s", id, pw);
            memset(pw, 0, strlen(pw));
            rg_free(pw);
        }
        rg_free(lit);
        rg_free(id);
    }
    if (set->su_password != NULL) {
        char *id = sql_ident(set->su_user), *pw = sql_literal(set->su_password);
        q[n++] = rg_asprintf("ALTER ROLE %s PASSWORD %s", id, pw);
        memset(pw, 0, strlen(pw));
        rg_free(pw);
        rg_free(id);
    }
    q[n++] = rg_strdup("SELECT system_identifier::text AS sysid FROM pg_control_system()");
    ha->op.data = ha;
    int rv = pgi_query(ha->pg, &ha->op, (const char *const *)q, n, SQL_TIMEOUT_MS, ha__op_cb);
    for (size_t i = 0; i < n; i++) {
        memset(q[i], 0, strlen(q[i])); /* some hold passwords */
        rg_free(q[i]);
    }
    return rv;
}

static void act_initdb(struct ha *ha, int status)
{
    int s = ha->step++;
    if (s > 0 && status != 0) {
        rg_log(RG_ERROR, HA_LOGM, "bootstrap failed (%s): removing the half-made data directory",
               ha->op.errmsg);
        ha->step = 100;
        if (pgi_wipe(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    switch (s) {
    case 0:
        ha->op.data = ha;
        if (!ha__lease_mine(ha) || pgi_initdb(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 1:
        if (ha__configure(ha, false) != 0) {
            ha__act_step(ha, RG_EIO);
        }
        return;
    case 2:
        if (!ha__may_be_primary(ha) || pgi_start(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_step(ha, RG_EIO);
        }
        return;
    case 3:
        if (create_users(ha) != 0) {
            ha__act_step(ha, RG_EIO);
        }
        return;
    case 4: {
        const struct pgi_result *r =
            ha->op.n_results > 0 ? &ha->op.results[ha->op.n_results - 1] : NULL;
        const char *sysid = r != NULL ? pgi_result_get(r, 0, "sysid") : NULL;
        char id[32];
        snprintf(id, sizeof id, "%s", sysid != NULL ? sysid : "");
        ha__callback(ha, "on_start", "primary");
        ha->action.act = HA_SET_INITIALIZE; /* the rest is SET_INITIALIZE's */
        ha->step = 1;
        if (id[0] == '\0' || propose_initialize(ha, id) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    default:
        ha__act_finish(ha, RG_EIO); /* after the wipe */
        return;
    }
}

bool ha__resolve_target(struct ha *ha, const char *target)
{
    char name[STORE_NAME_SIZE];
    if (target == NULL) {
        ha->target[0] = '\0';
        return true;
    }
    snprintf(name, sizeof name, "%s", target); /* it may be ha->target itself */
    ha->target[0] = '\0';
    if (!ha__member_pg_addr(ha, name, ha->target_host, sizeof ha->target_host, &ha->target_port)) {
        rg_errmsg_printf(ha->op.errmsg,
                         "member %s publishes no PostgreSQL address (postgresql.connect_address)",
                         name);
        return false;
    }
    snprintf(ha->target, sizeof ha->target, "%s", name);
    return true;
}

static void act_clone(struct ha *ha, int status)
{
    int s = ha->step++;
    if (s > 0 && status != 0) {
        if (s == 1) {
            rg_log(RG_WARNING, HA_LOGM, "clone failed (%s): removing the partial copy",
                   ha->op.errmsg);
            ha->step = 100;
            if (pgi_wipe(ha->pg, &ha->op, ha__op_cb) == 0) {
                return;
            }
        }
        ha__act_finish(ha, status);
        return;
    }
    switch (s) {
    case 0:
        ha->op.data = ha;
        if (!ha__resolve_target(ha, ha->action.target) ||
            pgi_basebackup(ha->pg, &ha->op, ha->target_host, ha->target_port, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 1:
        if (ha__configure(ha, true) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 2:
        if (pgi_start(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 3:
        snprintf(ha->following, sizeof ha->following, "%s", ha->target);
        ha__callback(ha, "on_start", "replica");
        ha__act_finish(ha, 0);
        return;
    default:
        ha__act_finish(ha, RG_EIO); /* after the wipe */
        return;
    }
}

static void act_start(struct ha *ha, int status, bool primary)
{
    int s = ha->step++;
    if (s > 0 && status != 0) {
        ha__act_finish(ha, status);
        return;
    }
    switch (s) {
    case 0:
        if ((primary && !ha__lease_mine(ha)) ||
            !ha__resolve_target(ha, primary ? NULL : ha->action.target) ||
            ha__configure(ha, !primary) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 1:
        if ((primary && !ha__may_be_primary(ha)) || pgi_start(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    default:
        snprintf(ha->following, sizeof ha->following, "%s", primary ? "" : ha->target);
        ha__callback(ha, ha->restarting ? "on_restart" : "on_start",
                     primary ? "primary" : "replica");
        ha__act_finish(ha, 0);
        return;
    }
}

/* [timeline, switch lsn, reason, time, new primary], Patroni's history entry,
 * from the new timeline's history file. */
static int propose_history(struct ha *ha)
{
    const struct pgi_result *r = ha->op.n_results > 0 ? &ha->op.results[0] : NULL;
    const char *text = r != NULL ? pgi_result_get(r, 0, "history") : NULL;
    unsigned tl = 0;
    char lsn_text[32] = "";
    const char *last = NULL;
    for (const char *p = text; p != NULL && *p != '\0';) {
        unsigned t;
        char l[32];
        if (sscanf(p, "%u %31s", &t, l) == 2) {
            tl = t;
            snprintf(lsn_text, sizeof lsn_text, "%s", l);
            last = p;
        }
        const char *nl = strchr(p, '\n');
        p = nl != NULL ? nl + 1 : NULL;
    }
    uint64_t lsn = 0;
    if (last == NULL || pgi_lsn_parse(lsn_text, &lsn) != 0) {
        return RG_ENOENT;
    }
    const cJSON *reason =
        cJSON_GetObjectItemCaseSensitive(store_get_state(ha->store)->lease_reports, "reason");
    char when[40];
    rg_iso8601(rg_realtime_ms(), when, sizeof when);
    cJSON *entry = cJSON_CreateArray();
    cJSON_AddItemToArray(entry, cJSON_CreateNumber(tl));
    cJSON_AddItemToArray(entry, cJSON_CreateNumber((double)lsn));
    cJSON_AddItemToArray(
        entry, cJSON_CreateString(cJSON_IsString(reason) ? reason->valuestring : "promoted"));
    cJSON_AddItemToArray(entry, cJSON_CreateString(when));
    cJSON_AddItemToArray(entry, cJSON_CreateString(ha->cfg->name));
    uint64_t now = store_now_ct(ha->store);
    if (ha->took_epoch == ha__store_epoch(ha) && ha->took_ct != 0 && now > ha->took_ct) {
        /* Regent's sixth element: how long the cluster had no primary, from
         * the end of the old one's service to this promotion's end. */
        cJSON *extra = cJSON_CreateObject();
        cJSON_AddNumberToObject(extra, "unavailable_ms", (double)(now - ha->took_ct));
        cJSON_AddItemToArray(entry, extra);
    }
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_HISTORY_ADD;
    snprintf(cmd.name, sizeof cmd.name, "%s", ha->cfg->name);
    cmd.epoch = ha__store_epoch(ha);
    cmd.json = entry;
    return ha__act_propose(ha, &cmd);
}

static void act_promote(struct ha *ha, int status)
{
    static const char *const q[] = {
        "SELECT pg_read_file('pg_wal/' || lpad(upper(to_hex(('x' || substr(pg_walfile_name("
        "pg_current_wal_lsn()), 1, 8))::bit(32)::int)), 8, '0') || '.history') AS history",
        /* As Patroni: the control file names the new timeline only after
         * this checkpoint, and a former primary's pg_rewind that runs before
         * it concludes "same timeline, no rewind required" and then cannot
         * follow. */
        "CHECKPOINT"};
    int s = ha->step++;
    if (s > 0 && status != 0 && s <= 2) {
        ha__act_finish(ha, status);
        return;
    }
    switch (s) {
    case 0:
        ha->op.data = ha;
        if (!ha__may_be_primary(ha) || pgi_promote(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 1:
        ha->following[0] = '\0';
        ha->target[0] = '\0';
        ha__callback(ha, "on_role_change", "primary");
        if (ha__configure(ha, false) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 2:
        if (pgi_query(ha->pg, &ha->op, q, 2, SQL_TIMEOUT_MS, ha__op_cb) != 0) {
            ha__act_finish(ha, 0);
        }
        return;
    case 3:
        if (status != 0 || propose_history(ha) != 0) {
            rg_log(RG_WARNING, HA_LOGM, "promoted, but the history entry was not written: %s",
                   status != 0 ? ha->op.errmsg : "no history file");
            ha__act_finish(ha, 0);
        }
        return;
    default:
        ha__act_finish(ha, 0);
        return;
    }
}

/* Write the configuration and reload (no restart): to stream from
 * action.target (FOLLOW), or with new parameters in the same role and from
 * the same upstream (RECONFIGURE). */
static void act_rewrite(struct ha *ha, int status)
{
    bool follow = ha->action.act == HA_FOLLOW;
    bool standby = follow || ha->st.in_recovery;
    int s = ha->step++;
    if (s > 0 && status != 0) {
        ha__act_finish(ha, status);
        return;
    }
    switch (s) {
    case 0: {
        const char *to = follow                                ? ha->action.target
                         : standby && ha->following[0] != '\0' ? ha->following
                                                               : NULL;
        if (!ha__resolve_target(ha, to) || ha__configure(ha, standby) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    case 1:
        if (pgi_reload(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    default:
        if (follow) {
            snprintf(ha->following, sizeof ha->following, "%s", ha->target);
            rg_log(RG_INFO, HA_LOGM, "now streaming from %s (%s:%u)", ha->target, ha->target_host,
                   ha->target_port);
        } else {
            rg_log(RG_INFO, HA_LOGM, "configuration written and PostgreSQL reloaded");
        }
        ha__act_finish(ha, 0);
        return;
    }
}

static void act_demote(struct ha *ha, int status)
{
    if (ha->step++ == 0) {
        ha->primary_allowed = false;
        ha->op.data = ha;
        if (pgi_stop(ha->pg, &ha->op, PGI_STOP_IMMEDIATE, ha__op_cb) != 0) {
            /* It must not go on as a primary: kill it. */
            pgi_fence(ha->pg);
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    if (status != 0) {
        pgi_fence(ha->pg);
    }
    ha__callback(ha, "on_role_change", "demoted");
    ha__act_finish(ha, status);
}

static bool clean(const struct pgi_controldata *c)
{
    return c->state == PGI_DB_SHUT_DOWN || c->state == PGI_DB_SHUT_DOWN_IN_RECOVERY;
}

/* After a diverged history: rewind, re-clone, or stay stopped. */
static void rejoin_diverged(struct ha *ha, const char *why)
{
    if (ha->set.use_pg_rewind) {
        rg_log(RG_WARNING, HA_LOGM, "rejoin %s: %s: running pg_rewind", ha->target, why);
        ha->step = 10;
        if (pgi_rewind(ha->pg, &ha->op, ha->target_host, ha->target_port, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    if (ha->set.remove_on_diverged) {
        rg_log(RG_WARNING, HA_LOGM,
               "rejoin %s: %s: removing the data directory to clone again "
               "(remove_data_directory_on_diverged_timelines)",
               ha->target, why);
        ha->step = 20;
        if (pgi_wipe(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    }
    ha->refused = true;
    rg_errmsg_printf(
        ha->refused_why,
        "%s; neither use_pg_rewind nor remove_data_directory_on_diverged_timelines is set", why);
    rg_log(RG_ERROR, HA_LOGM, "rejoin %s refused, PostgreSQL stays stopped: %s", ha->target,
           ha->refused_why);
    ha__act_finish(ha, 0);
}

static void act_rejoin(struct ha *ha, int status)
{
    char why[256];
    int s = ha->step++;
    switch (s) {
    case 0:
        ha->op.data = ha;
        if (!ha__resolve_target(ha, ha->action.target)) {
            ha__act_finish(ha, RG_EIO);
            return;
        }
        if (!clean(&ha->dir.controldata)) {
            if (pgi_crash_recover(ha->pg, &ha->op, ha__op_cb) != 0) {
                ha__act_finish(ha, RG_EIO);
            }
            return;
        }
        ha__act_step(ha, 0);
        return;
    case 1:
        if (status != 0 || pgi_inspect(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, status != 0 ? status : RG_EIO);
        }
        return;
    case 2:
        if (status != 0 || !ha->op.dir.have_controldata) {
            ha__act_finish(ha, status != 0 ? status : RG_EIO);
            return;
        }
        ha->dir = ha->op.dir;
        if (pgi_timeline_history(ha->pg, &ha->op, ha->target_host, ha->target_port, ha__op_cb) !=
            0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 3:
        if (status != 0) {
            ha__act_finish(ha, status);
            return;
        }
        if (pgi_history_diverged(ha->op.text, ha->op.leader_timeline, ha->dir.controldata.timeline,
                                 ha->dir.controldata.checkpoint_lsn, why, sizeof why)) {
            rejoin_diverged(ha, why);
            return;
        }
        rg_log(RG_INFO, HA_LOGM, "rejoin %s: our history is a prefix of the primary's: following",
               ha->target);
        ha->step = 30;
        ha__act_step(ha, 0);
        return;
    case 10: /* pg_rewind finished */
        if (status != 0) {
            if (ha->set.remove_on_rewind_failure) {
                rg_log(RG_WARNING, HA_LOGM, "pg_rewind failed (%s): removing the data directory",
                       ha->op.errmsg);
                ha->step = 20;
                if (pgi_wipe(ha->pg, &ha->op, ha__op_cb) != 0) {
                    ha__act_finish(ha, RG_EIO);
                }
                return;
            }
            ha->refused = true;
            rg_errmsg_printf(ha->refused_why, "pg_rewind failed: %s", ha->op.errmsg);
            ha__act_finish(ha, status);
            return;
        }
        ha->step = 30;
        ha__act_step(ha, 0);
        return;
    case 20: /* wiped: the next cycle clones */
    case 21:
        ha__act_finish(ha, status);
        return;
    case 30:
        if (ha__configure(ha, true) != 0) {
            ha__act_finish(ha, RG_EIO);
        }
        return;
    case 31:
        if (status != 0 || pgi_start(ha->pg, &ha->op, ha__op_cb) != 0) {
            ha__act_finish(ha, status != 0 ? status : RG_EIO);
        }
        return;
    default:
        if (status == 0) {
            snprintf(ha->following, sizeof ha->following, "%s", ha->target);
            ha__callback(ha, "on_role_change", "replica");
        }
        ha__act_finish(ha, status);
        return;
    }
}

void ha__act_step(struct ha *ha, int status)
{
    switch (ha->action.act) {
    case HA_CLAIM:
        act_claim(ha, status);
        return;
    case HA_SET_INITIALIZE:
        act_set_initialize(ha, status);
        return;
    case HA_INITDB:
        act_initdb(ha, status);
        return;
    case HA_CLONE:
        act_clone(ha, status);
        return;
    case HA_START_PRIMARY:
        act_start(ha, status, true);
        return;
    case HA_START_REPLICA:
        act_start(ha, status, false);
        return;
    case HA_PROMOTE:
        act_promote(ha, status);
        return;
    case HA_FOLLOW:
    case HA_RECONFIGURE:
        act_rewrite(ha, status);
        return;
    case HA_DEMOTE:
        act_demote(ha, status);
        return;
    case HA_REJOIN:
        act_rejoin(ha, status);
        return;
    case HA_HANDOVER:
        ha__act_handover(ha, status);
        return;
    case HA_RELEASE:
        ha__act_release(ha, status);
        return;
    case HA_CLEAR_FAILOVER:
        ha__act_clear_failover(ha, status);
        return;
    case HA_RESTART:
        ha__act_restart(ha, status);
        return;
    case HA_REINIT:
        ha__act_reinit(ha, status);
        return;
    case HA_WAIT:
    case HA_EXIT:
        ha__act_finish(ha, 0);
        return;
    }
}

void ha__act_start(struct ha *ha, const struct ha_action *a)
{
    ha->acting = true;
    ha->action = *a;
    /* The target string borrows from the store state, which may change. */
    snprintf(ha->target, sizeof ha->target, "%s", a->target != NULL ? a->target : "");
    ha->action.target = a->target != NULL ? ha->target : NULL;
    ha->step = 0;
    ha->act_epoch = ha__store_epoch(ha);
    ha->op.errmsg[0] = '\0';
    ha->op.data = ha;
    ha__act_step(ha, 0);
}
