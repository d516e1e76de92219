/*
 * store_fsm: the state, look-ups and apply of the cluster store's state
 * machine. Snapshot, restore and equality are in store_fsm_snap.c; the
 * command format in store_cmd.c; docs/internals/store.md describes every
 * record and command.
 *
 * Apply, step by step (store_fsm_apply):
 *   1. last_ct := max(last_ct, ct) — for every command, refused and
 *      duplicate ones included, so cluster time never goes backwards.
 *   2. A command version above the format level (or above what this build
 *      speaks), or an op it does not know: RG_EUNSUPPORTED, nothing else
 *      changes, and the caller must stop.
 *   3. The request id is in the dedup ring: return the recorded result.
 *   4. Evaluate the op's apply-time condition against the current state and
 *      the entry's cluster time: code 0 (applied) or RG_ECONFLICT with a
 *      short reason. Record {id, code, epoch} in the ring.
 *
 * Everything is deterministic: no clock, no disk, no network, no iteration
 * over anything unordered. Peers stay sorted by id, members by name
 * (strcmp, i.e. bytewise).
 */
#include "raft/store_fsm.h"

#include <stdio.h>
#include <string.h>

#include "agent/rg.h"
#include "raft/store_fsm_internal.h"

/* ---- state ------------------------------------------------------------- */

void store_state_init(struct store_state *s)
{
    memset(s, 0, sizeof *s);
    s->format_level = 1;
    s->history = cJSON_CreateArray();
    RG_ASSERT(s->history != NULL);
    s->dedup = rg_calloc(STORE_DEDUP_SIZE, sizeof *s->dedup);
}

void store_state_close(struct store_state *s)
{
    rg_free(s->init_sysid);
    cJSON_Delete(s->config);
    for (size_t i = 0; i < s->n_peers; i++) {
        rg_free(s->peers[i].name);
        rg_free(s->peers[i].address);
        rg_free(s->peers[i].api_url);
    }
    rg_free(s->peers);
    for (size_t i = 0; i < s->n_members; i++) {
        rg_free(s->members[i].name);
        cJSON_Delete(s->members[i].data);
    }
    rg_free(s->members);
    cJSON_Delete(s->failover);
    cJSON_Delete(s->sync);
    cJSON_Delete(s->status);
    cJSON_Delete(s->history);
    cJSON_Delete(s->lease_reports);
    rg_free(s->dedup);
    memset(s, 0, sizeof *s);
}

static void replace_json(cJSON **slot, const cJSON *v)
{
    cJSON_Delete(*slot);
    *slot = store__json_dup(v);
}

/* ---- look-ups ---------------------------------------------------------- */

/* Index of peer @id, or where it would be inserted (with *found false). */
static size_t peer_index(const struct store_state *s, uint64_t id, bool *found)
{
    size_t lo = 0, hi = s->n_peers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->peers[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = lo < s->n_peers && s->peers[lo].id == id;
    return lo;
}

static size_t member_index(const struct store_state *s, const char *name, bool *found)
{
    size_t lo = 0, hi = s->n_members;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->members[mid].name, name) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = lo < s->n_members && strcmp(s->members[lo].name, name) == 0;
    return lo;
}

const struct store_peer *store_state_peer(const struct store_state *s, uint64_t id)
{
    bool found;
    size_t i = peer_index(s, id, &found);
    return found ? &s->peers[i] : NULL;
}

/* The first peer (lowest id) with this name: a rejoined node may briefly
 * appear under its old and its new id until the runtime deletes the old. */
const struct store_peer *store_state_peer_by_name(const struct store_state *s, const char *name)
{
    for (size_t i = 0; i < s->n_peers; i++) {
        if (strcmp(s->peers[i].name, name) == 0) {
            return &s->peers[i];
        }
    }
    return NULL;
}

const struct store_member *store_state_member(const struct store_state *s, const char *name)
{
    bool found;
    size_t i = member_index(s, name, &found);
    return found ? &s->members[i] : NULL;
}

bool store_lease_valid(const struct store_lease *l, uint64_t ct)
{
    return l->epoch > 0 && !l->released && ct < l->expires_at;
}

/* True when @name is a witness peer (under any of its ids). */
static bool is_witness(const struct store_state *s, const char *name)
{
    for (size_t i = 0; i < s->n_peers; i++) {
        if (s->peers[i].kind == STORE_PEER_WITNESS && strcmp(s->peers[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- dedup ring -------------------------------------------------------- */

/* The ring fills slots 0, 1, ... and then wraps; once full, the oldest entry
 * is the one dedup_next points at. */
size_t store__dedup_count(const struct store_state *s)
{
    return s->dedup[s->dedup_next].id[0] != '\0' ? STORE_DEDUP_SIZE : s->dedup_next;
}

const struct store_dedup *store__dedup_at(const struct store_state *s, size_t i)
{
    size_t start = s->dedup[s->dedup_next].id[0] != '\0' ? s->dedup_next : 0;
    return &s->dedup[(start + i) % STORE_DEDUP_SIZE];
}

static const struct store_dedup *dedup_find(const struct store_state *s, const char *id)
{
    for (size_t i = 0; i < STORE_DEDUP_SIZE; i++) {
        if (s->dedup[i].id[0] == id[0] && strcmp(s->dedup[i].id, id) == 0) {
            return &s->dedup[i];
        }
    }
    return NULL;
}

static void dedup_record(struct store_state *s, const char *id, int code, uint64_t epoch)
{
    struct store_dedup *d = &s->dedup[s->dedup_next];
    snprintf(d->id, sizeof d->id, "%s", id);
    d->code = code;
    d->epoch = epoch;
    s->dedup_next = (s->dedup_next + 1) % STORE_DEDUP_SIZE;
}

/* ---- ops --------------------------------------------------------------- */

#define REFUSE(...)                                                                                \
    do {                                                                                           \
        snprintf(res->reason, sizeof res->reason, __VA_ARGS__);                                    \
        return RG_ECONFLICT;                                                                       \
    } while (0)

/* The common condition of commands only the current holder may send. */
static int
check_holder(const struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    const struct store_lease *l = &s->lease;
    if (l->epoch == 0 || strcmp(l->holder, cmd->name) != 0) {
        REFUSE("not the lease holder");
    }
    if (l->epoch != cmd->epoch) {
        REFUSE("epoch mismatch (current %llu)", (unsigned long long)l->epoch);
    }
    if (l->released) {
        REFUSE("lease released");
    }
    return 0;
}

static int
apply_init_claim(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    if (s->init_sysid != NULL) {
        REFUSE("already initialized");
    }
    if (s->init_claim[0] != '\0') {
        REFUSE("already claimed by \"%s\"", s->init_claim);
    }
    snprintf(s->init_claim, sizeof s->init_claim, "%s", cmd->name);
    s->init_claim_epoch = 0;
    return 0;
}

static int
apply_init_set(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    if (s->init_sysid != NULL) {
        REFUSE("already initialized");
    }
    if (strcmp(s->init_claim, cmd->name) != 0) {
        REFUSE("not the claimant");
    }
    int rv = check_holder(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    s->init_sysid = rg_strdup(cmd->sysid);
    s->init_claim[0] = '\0';
    s->init_claim_epoch = 0;
    return 0;
}

static int
apply_init_clear(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    if (s->init_sysid != NULL) {
        REFUSE("already initialized");
    }
    if (strcmp(s->init_claim, cmd->name) != 0) {
        REFUSE("not the claimant");
    }
    if (strcmp(s->lease.holder, cmd->name) == 0 && store_lease_valid(&s->lease, cmd->ct)) {
        REFUSE("the claimant holds a valid lease");
    }
    s->init_claim[0] = '\0';
    s->init_claim_epoch = 0;
    return 0;
}

static int
apply_config_set(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    if (cmd->version != s->config_version) {
        REFUSE("version mismatch (current %llu)", (unsigned long long)s->config_version);
    }
    if (!cJSON_IsObject(cmd->json)) {
        REFUSE("config must be an object");
    }
    replace_json(&s->config, cmd->json);
    s->config_version++;
    return 0;
}

static int
apply_peer_set(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    if (cmd->peer_id == 0 || !store__name_valid(cmd->name) || cmd->address[0] == '\0' ||
        cmd->kind > STORE_PEER_WITNESS) {
        REFUSE("invalid peer");
    }
    bool found;
    size_t i = peer_index(s, cmd->peer_id, &found);
    struct store_peer *p;
    if (found) {
        p = &s->peers[i];
        rg_free(p->name);
        rg_free(p->address);
        rg_free(p->api_url);
    } else {
        s->peers = rg_realloc(s->peers, (s->n_peers + 1) * sizeof *s->peers);
        memmove(&s->peers[i + 1], &s->peers[i], (s->n_peers - i) * sizeof *s->peers);
        s->n_peers++;
        p = &s->peers[i];
    }
    p->id = cmd->peer_id;
    p->name = rg_strdup(cmd->name);
    p->address = rg_strdup(cmd->address);
    p->api_url = rg_strdup(cmd->api_url);
    p->kind = cmd->kind;
    return 0;
}

static int
apply_peer_del(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    bool found;
    size_t i = peer_index(s, cmd->peer_id, &found);
    if (!found) {
        REFUSE("unknown peer");
    }
    struct store_peer *p = &s->peers[i];
    rg_free(p->name);
    rg_free(p->address);
    rg_free(p->api_url);
    memmove(p, p + 1, (s->n_peers - i - 1) * sizeof *p);
    s->n_peers--;
    return 0;
}

static int
apply_member_set(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    if (!store__name_valid(cmd->name) || !cJSON_IsObject(cmd->json)) {
        REFUSE("invalid member");
    }
    bool found;
    size_t i = member_index(s, cmd->name, &found);
    if (!found) {
        s->members = rg_realloc(s->members, (s->n_members + 1) * sizeof *s->members);
        memmove(&s->members[i + 1], &s->members[i], (s->n_members - i) * sizeof *s->members);
        s->n_members++;
        s->members[i].name = rg_strdup(cmd->name);
        s->members[i].data = NULL;
    }
    replace_json(&s->members[i].data, cmd->json);
    return 0;
}

static int
apply_member_del(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    bool found;
    size_t i = member_index(s, cmd->name, &found);
    if (!found) {
        REFUSE("unknown member");
    }
    rg_free(s->members[i].name);
    cJSON_Delete(s->members[i].data);
    memmove(&s->members[i], &s->members[i + 1], (s->n_members - i - 1) * sizeof *s->members);
    s->n_members--;
    return 0;
}

static int apply_renew(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    int rv = check_holder(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    struct store_lease *l = &s->lease;
    /* Never shorten: a lower ttl takes effect only once every lease promised
     * under a higher one has run out (DESIGN.md, "Leases"). */
    uint64_t expires = store__add_sat(cmd->ct, cmd->ttl);
    if (cmd->ct > l->renewed_at) {
        l->renewed_at = cmd->ct;
    }
    if (expires > l->expires_at) {
        l->expires_at = expires;
    }
    l->fencing = cmd->fencing;
    l->lsn = cmd->lsn;
    l->handover_unconfirmed = false;
    return 0;
}

/* The lease changes hands under a new epoch (grant or handover). */
static void lease_new_holder(struct store_state *s, const char *to)
{
    struct store_lease *l = &s->lease;
    snprintf(l->holder, sizeof l->holder, "%s", to);
    l->epoch++;
    l->released = false;
    l->fencing = true;
    cJSON_Delete(s->failover);
    s->failover = NULL;
    if (s->init_sysid == NULL && strcmp(s->init_claim, to) == 0) {
        s->init_claim_epoch = l->epoch;
    }
}

static int apply_grant(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    struct store_lease *l = &s->lease;
    if (is_witness(s, cmd->name)) {
        REFUSE("a witness never holds the lease");
    }
    if (cmd->epoch != l->epoch) {
        REFUSE("epoch mismatch (current %llu)", (unsigned long long)l->epoch);
    }
    bool free_lease = l->epoch == 0 || l->released;
    bool expired = cmd->ct >= l->expires_at && l->fencing;
    bool unconfirmed = l->handover_unconfirmed &&
                       cmd->ct >= store__add_sat(l->renewed_at, cmd->switchover_timeout);
    if (!free_lease && !expired && !unconfirmed) {
        if (cmd->ct < l->expires_at) {
            REFUSE("lease is valid");
        }
        REFUSE("lease expired but the holder is not fencing (paused)");
    }
    lease_new_holder(s, cmd->name);
    l->renewed_at = cmd->ct;
    /* A grantee that never renews must not block a later grant forever; it
     * never ran PostgreSQL as primary before its first own renewal. */
    l->expires_at = store__add_sat(cmd->ct, cmd->ttl);
    l->handover_unconfirmed = false;
    cJSON_Delete(s->sync);
    s->sync = NULL;
    replace_json(&s->lease_reports, cmd->json);
    return 0;
}

static int
apply_release(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    int rv = check_holder(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    /* expires_at stays: released alone lets a grant through. */
    s->lease.released = true;
    s->lease.lsn = cmd->lsn;
    return 0;
}

static int
apply_handover(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    int rv = check_holder(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    if (is_witness(s, cmd->to)) {
        REFUSE("a witness never holds the lease");
    }
    struct store_lease *l = &s->lease;
    lease_new_holder(s, cmd->to);
    l->renewed_at = cmd->ct;
    if (cmd->ct > l->expires_at) {
        l->expires_at = cmd->ct;
    }
    l->handover_unconfirmed = true;
    l->lsn = cmd->lsn;
    return 0;
}

static int
apply_failover_set(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    if (cmd->json != NULL && !cJSON_IsObject(cmd->json)) {
        REFUSE("failover must be an object");
    }
    /* epoch 0: an operator's request, unconditional. */
    if (cmd->epoch > 0) {
        if (s->lease.epoch == 0 || strcmp(s->lease.holder, cmd->name) != 0) {
            REFUSE("not the lease holder");
        }
        if (s->lease.epoch != cmd->epoch) {
            REFUSE("epoch mismatch (current %llu)", (unsigned long long)s->lease.epoch);
        }
    }
    replace_json(&s->failover, cmd->json);
    return 0;
}

static int
apply_holder_json(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    int rv = check_holder(s, cmd, res);
    if (rv != 0) {
        return rv;
    }
    switch (cmd->op) {
    case STORE_OP_SYNC_SET:
        replace_json(&s->sync, cmd->json);
        break;
    case STORE_OP_STATUS_SET:
        replace_json(&s->status, cmd->json);
        break;
    default: /* STORE_OP_HISTORY_ADD */
        if (cmd->json == NULL) {
            REFUSE("empty history entry");
        }
        cJSON_AddItemToArray(s->history, store__json_dup(cmd->json));
        break;
    }
    return 0;
}

static int
apply_format_raise(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    if (cmd->level > STORE_FORMAT_LEVEL) {
        snprintf(res->reason, sizeof res->reason, "format level %llu is not supported",
                 (unsigned long long)cmd->level);
        return RG_EUNSUPPORTED;
    }
    if (cmd->level != s->format_level + 1) {
        REFUSE("format level is %llu", (unsigned long long)s->format_level);
    }
    s->format_level = cmd->level;
    return 0;
}

/* Commands normally come from store_cmd_decode, which checked all this; a
 * command built in memory gets the same checks so that nothing enters the
 * state that a snapshot could not carry (restore validates as strictly). */
static bool cmd_fields_valid(const struct store_cmd *cmd)
{
    if (memchr(cmd->name, '\0', sizeof cmd->name) == NULL ||
        memchr(cmd->to, '\0', sizeof cmd->to) == NULL ||
        memchr(cmd->sysid, '\0', sizeof cmd->sysid) == NULL ||
        memchr(cmd->address, '\0', sizeof cmd->address) == NULL ||
        memchr(cmd->api_url, '\0', sizeof cmd->api_url) == NULL ||
        memchr(cmd->id, '\0', sizeof cmd->id) == NULL) {
        return false;
    }
    return (cmd->name[0] == '\0' || store__name_valid(cmd->name)) &&
           (cmd->to[0] == '\0' || store__name_valid(cmd->to)) &&
           (cmd->sysid[0] == '\0' || store__sysid_valid(cmd->sysid)) &&
           store__token_valid(cmd->address, sizeof cmd->address - 1, true) &&
           store__token_valid(cmd->api_url, sizeof cmd->api_url - 1, true) &&
           store__token_valid(cmd->id, sizeof cmd->id - 1, true) &&
           (cmd->json == NULL || store__json_payload_valid(cmd->json));
}

typedef int (*apply_fn)(struct store_state *s,
                        const struct store_cmd *cmd,
                        struct store_result *res);

static const apply_fn apply_fns[STORE_OP__COUNT] = {
    [STORE_OP_INIT_CLAIM] = apply_init_claim,
    [STORE_OP_INIT_SET] = apply_init_set,
    [STORE_OP_INIT_CLEAR] = apply_init_clear,
    [STORE_OP_CONFIG_SET] = apply_config_set,
    [STORE_OP_PEER_SET] = apply_peer_set,
    [STORE_OP_PEER_DEL] = apply_peer_del,
    [STORE_OP_MEMBER_SET] = apply_member_set,
    [STORE_OP_MEMBER_DEL] = apply_member_del,
    [STORE_OP_RENEW] = apply_renew,
    [STORE_OP_GRANT] = apply_grant,
    [STORE_OP_RELEASE] = apply_release,
    [STORE_OP_HANDOVER] = apply_handover,
    [STORE_OP_FAILOVER_SET] = apply_failover_set,
    [STORE_OP_SYNC_SET] = apply_holder_json,
    [STORE_OP_STATUS_SET] = apply_holder_json,
    [STORE_OP_HISTORY_ADD] = apply_holder_json,
    [STORE_OP_FORMAT_RAISE] = apply_format_raise,
};

void store_fsm_apply(struct store_state *s, const struct store_cmd *cmd, struct store_result *res)
{
    memset(res, 0, sizeof *res);
    if (cmd->ct > s->last_ct) {
        s->last_ct = cmd->ct;
    }
    if ((int)cmd->op <= STORE_OP_NONE || cmd->op >= STORE_OP__COUNT) {
        res->code = RG_EUNSUPPORTED;
        snprintf(res->reason, sizeof res->reason, "unknown op %d", (int)cmd->op);
        res->epoch = s->lease.epoch;
        return;
    }
    if (cmd->v < 1 || cmd->v > STORE_CMD_VERSION || (uint64_t)cmd->v > s->format_level) {
        res->code = RG_EUNSUPPORTED;
        snprintf(res->reason, sizeof res->reason, "command version %d above format level %llu",
                 cmd->v, (unsigned long long)s->format_level);
        res->epoch = s->lease.epoch;
        return;
    }
    if (!cmd_fields_valid(cmd)) {
        /* Not recorded in the dedup ring: the id itself may be the problem. */
        res->code = RG_ECONFLICT;
        res->epoch = s->lease.epoch;
        snprintf(res->reason, sizeof res->reason, "invalid command");
        s->applied++;
        return;
    }
    const struct store_dedup *d = cmd->id[0] != '\0' ? dedup_find(s, cmd->id) : NULL;
    if (d != NULL) {
        res->code = d->code;
        res->epoch = d->epoch;
        snprintf(res->reason, sizeof res->reason, "duplicate request id");
        return;
    }
    if (apply_fns[cmd->op] != NULL) {
        res->code = apply_fns[cmd->op](s, cmd, res);
    }
    res->epoch = s->lease.epoch;
    if (res->code == RG_EUNSUPPORTED) {
        return;
    }
    s->applied++;
    if (cmd->id[0] != '\0') {
        dedup_record(s, cmd->id, res->code, res->epoch);
    }
}
