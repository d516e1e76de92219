/*
 * ha_side: work that runs beside the HA actions, each on its own pgi
 * operation so it never holds an action up.
 *
 * Replication slots (use_slots): each node keeps one physical slot per
 * member that streams from it — on the primary every member but the
 * cascading ones, on a replica the members whose replicatefrom names it —
 * named after the member, and drops the other physical slots (as Patroni,
 * which does not keep unknown slots either), at most once per loop_wait.
 * Active slots are never dropped. A member the lease has just come to
 * creates its slots at once, still a standby: the other members repoint at
 * it as soon as the lease moves, and a walreceiver refused for a missing
 * slot waits wal_retrieve_retry_interval (5 s) before it tries again.
 *
 * Callbacks: on_start, on_stop, on_restart, on_reload, on_role_change run
 * one at a time in the order they were asked for, each with a deadline;
 * their output goes to the log. A full queue drops the oldest (and says so).
 */
#include <stdio.h>
#include <string.h>

#include "agent/ha_internal.h"
#include "agent/rg_log.h"

#define SLOT_SQL_TIMEOUT_MS 5000

/* --- slots ------------------------------------------------------------------ */

/* The members that stream from us: every other one whose upstream we are
 * (the primary serves all but the cascading ones, a replica the members
 * whose replicatefrom names it). */
static bool serves(const struct ha *ha, const char *member)
{
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    if (!ha__member_fresh(ha, ha__member(ha, member), HA_MEMBER_SLOTS_TTL_MS)) {
        return false; /* gone for longer than member_slots_ttl */
    }
    const char *up = ha__upstream(ha, member, l->epoch != 0 ? l->holder : NULL);
    return strcmp(member, ha->cfg->name) != 0 && up != NULL && strcmp(up, ha->cfg->name) == 0;
}

static bool wanted(const struct ha *ha, const char *slot)
{
    const struct store_state *s = store_get_state(ha->store);
    char name[64];
    for (size_t i = 0; i < s->n_members; i++) {
        if (!serves(ha, s->members[i].name)) {
            continue;
        }
        ha__slot_name(s->members[i].name, name, sizeof name);
        if (strcmp(name, slot) == 0) {
            return true;
        }
    }
    return false;
}

static void slots_changed(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    ha->slots_out = false;
    if (status != 0) {
        rg_log(RG_WARNING, HA_LOGM, "replication slots: %s", op->errmsg);
    }
    ha__maybe_close(ha);
}

/* Build the CREATE/DROP statements from the list of existing slots. */
static void slots_listed(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    const struct store_state *s = store_get_state(ha->store);
    char *q[64];
    size_t n = 0;
    char name[64];
    if (status != 0 || op->n_results == 0) {
        slots_changed(op, status != 0 ? status : RG_EIO);
        return;
    }
    const struct pgi_result *r = &op->results[0];
    for (int i = 0; i < r->nrows && n < RG_ARRAY_SIZE(q); i++) {
        const char *slot = pgi_result_get(r, i, "slot_name");
        const char *active = pgi_result_get(r, i, "active");
        if (slot != NULL && !wanted(ha, slot) && active != NULL && strcmp(active, "f") == 0) {
            rg_log(RG_INFO, HA_LOGM,
                   "dropping the replication slot %s: no member streams from us through it", slot);
            q[n++] = rg_asprintf("SELECT pg_drop_replication_slot('%s')", slot);
        }
    }
    for (size_t m = 0; m < s->n_members && n < RG_ARRAY_SIZE(q); m++) {
        if (!serves(ha, s->members[m].name)) {
            continue;
        }
        ha__slot_name(s->members[m].name, name, sizeof name);
        bool have = false;
        for (int i = 0; i < r->nrows && !have; i++) {
            const char *slot = pgi_result_get(r, i, "slot_name");
            have = slot != NULL && strcmp(slot, name) == 0;
        }
        if (!have) {
            rg_log(RG_INFO, HA_LOGM, "creating the replication slot %s", name);
            q[n++] = rg_asprintf("SELECT pg_create_physical_replication_slot('%s', true)", name);
        }
    }
    if (n == 0) {
        slots_changed(op, 0);
        return;
    }
    /* The names are [a-z0-9_] only (ha__slot_name), safe inside quotes. */
    if (pgi_query(ha->pg, &ha->slot_op, (const char *const *)q, n, SLOT_SQL_TIMEOUT_MS,
                  slots_changed) != 0) {
        ha->slots_out = false;
    }
    for (size_t i = 0; i < n; i++) {
        rg_free(q[i]);
    }
}

static void slots_tick(struct ha *ha)
{
    static const char *const q[] = {"SELECT slot_name, active FROM pg_replication_slots WHERE "
                                    "slot_type = 'physical' ORDER BY slot_name"};
    uint64_t now = rg_boottime_ms();
    /* A replica may serve cascading members; a primary only under its lease. */
    if (!ha->set.use_slots || ha->slots_out || now - ha->slots_at < ha->set.loop_wait_ms ||
        ha->pgstate != HA_PG_RUNNING || (!ha->st.in_recovery && !ha__lease_mine(ha))) {
        return;
    }
    ha->slots_at = now;
    ha->slot_op.data = ha;
    if (pgi_query(ha->pg, &ha->slot_op, q, 1, SLOT_SQL_TIMEOUT_MS, slots_listed) == 0) {
        ha->slots_out = true;
    }
}

/* --- callbacks ---------------------------------------------------------------- */

static const char *callback_cmd(const struct ha *ha, const char *action)
{
    const struct ha_settings *s = &ha->set;
    if (strcmp(action, "on_start") == 0) {
        return s->on_start;
    }
    if (strcmp(action, "on_stop") == 0) {
        return s->on_stop;
    }
    if (strcmp(action, "on_restart") == 0) {
        return s->on_restart;
    }
    if (strcmp(action, "on_reload") == 0) {
        return s->on_reload;
    }
    if (strcmp(action, "on_role_change") == 0) {
        return s->on_role_change;
    }
    return NULL;
}

static void callback_next(struct ha *ha);

static void callback_done(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    ha->cb_out = false;
    if (status != 0) {
        rg_log(RG_WARNING, HA_LOGM, "callback %s", op->errmsg);
    }
    callback_next(ha);
    ha__maybe_close(ha);
}

static void callback_next(struct ha *ha)
{
    while (!ha->cb_out && ha->n_cbq > 0) {
        struct ha_cb c = ha->cbq[0];
        memmove(&ha->cbq[0], &ha->cbq[1], (ha->n_cbq - 1) * sizeof ha->cbq[0]);
        ha->n_cbq--;
        const char *cmd = callback_cmd(ha, c.action);
        if (cmd == NULL || cmd[0] == '\0') {
            continue;
        }
        ha->cb_op.data = ha;
        if (pgi_callback(ha->pg, &ha->cb_op, cmd, c.action, c.role, ha->set.callbacks_timeout_ms,
                         callback_done) == 0) {
            ha->cb_out = true;
        } else {
            rg_log(RG_WARNING, HA_LOGM, "callback %s: %s", c.action, ha->cb_op.errmsg);
        }
    }
}

void ha__callback(struct ha *ha, const char *action, const char *role)
{
    const char *cmd = callback_cmd(ha, action);
    if (cmd == NULL || cmd[0] == '\0' || ha->pg == NULL || ha->closing || ha->pg_freeing) {
        return;
    }
    if (ha->n_cbq == RG_ARRAY_SIZE(ha->cbq)) {
        rg_log(RG_WARNING, HA_LOGM, "callbacks: queue full, dropping %s", ha->cbq[0].action);
        memmove(&ha->cbq[0], &ha->cbq[1], (ha->n_cbq - 1) * sizeof ha->cbq[0]);
        ha->n_cbq--;
    }
    struct ha_cb *c = &ha->cbq[ha->n_cbq++];
    snprintf(c->action, sizeof c->action, "%s", action);
    snprintf(c->role, sizeof c->role, "%s", role);
    callback_next(ha);
}

void ha__slots_now(struct ha *ha)
{
    ha->slots_at = 0;
    slots_tick(ha);
}

void ha__side_tick(struct ha *ha)
{
    slots_tick(ha);
    callback_next(ha);
}
