/*
 * store_fsm_snap: the whole cluster-store state as one JSON document, its
 * restore, and state equality.
 *
 * Format 1 (docs/internals/store.md has an example):
 *   {"format":1, "format_level":"1", "last_ct":"…", "applied":"…",
 *    "initialize":{"sysid":null|"…","claim":"","claim_epoch":"0"},
 *    "config":null|{…}, "config_version":"0",
 *    "peers":[{"id":"…","name":"…","address":"…","api_url":"…","kind":"member"}],
 *    "members":[{"name":"…","data":{…}}],
 *    "lease":{"holder":"","epoch":"0","renewed_at":"0","expires_at":"0",
 *             "released":false,"handover_unconfirmed":false,"fencing":false,
 *             "lsn":"0","reports":null},
 *    "failover":null, "sync":null, "status":null, "history":[],
 *    "dedup":[["id",code,"epoch"], …]}             (oldest first)
 * Every uint64 is a decimal string. Restore checks every field (types,
 * lengths, names, sort order, codes), builds a fresh state and swaps it in
 * only when all of it is good; a snapshot "format" or "format_level" above
 * what this build knows is RG_EUNSUPPORTED, anything else wrong RG_EPARSE.
 * Unknown keys are refused: the format is versioned, not extensible.
 */
#include <stdio.h>
#include <string.h>

#include "agent/rg.h"
#include "raft/store_fsm.h"
#include "raft/store_fsm_internal.h"

/* ---- snapshot ---------------------------------------------------------- */

static void add_json(cJSON *obj, const char *key, const cJSON *v)
{
    cJSON_AddItemToObject(obj, key, v ? store__json_dup(v) : cJSON_CreateNull());
}

static void add_str(cJSON *obj, const char *key, const char *v)
{
    RG_ASSERT(cJSON_AddStringToObject(obj, key, v) != NULL);
}

static void add_bool(cJSON *obj, const char *key, bool v)
{
    RG_ASSERT(cJSON_AddBoolToObject(obj, key, v) != NULL);
}

static cJSON *new_object(void)
{
    cJSON *o = cJSON_CreateObject();
    RG_ASSERT(o != NULL);
    return o;
}

static cJSON *new_array(void)
{
    cJSON *a = cJSON_CreateArray();
    RG_ASSERT(a != NULL);
    return a;
}

static cJSON *snapshot_lease(const struct store_state *s)
{
    const struct store_lease *l = &s->lease;
    cJSON *o = new_object();
    add_str(o, "holder", l->holder);
    store__json_add_u64(o, "epoch", l->epoch);
    store__json_add_u64(o, "renewed_at", l->renewed_at);
    store__json_add_u64(o, "expires_at", l->expires_at);
    add_bool(o, "released", l->released);
    add_bool(o, "handover_unconfirmed", l->handover_unconfirmed);
    add_bool(o, "fencing", l->fencing);
    store__json_add_u64(o, "lsn", l->lsn);
    add_json(o, "reports", s->lease_reports);
    return o;
}

void store_state_snapshot(const struct store_state *s, char **buf, size_t *len)
{
    cJSON *root = new_object();
    RG_ASSERT(cJSON_AddNumberToObject(root, "format", STORE_SNAPSHOT_FORMAT) != NULL);
    store__json_add_u64(root, "format_level", s->format_level);
    store__json_add_u64(root, "last_ct", s->last_ct);
    store__json_add_u64(root, "applied", s->applied);

    cJSON *init = new_object();
    if (s->init_sysid != NULL) {
        add_str(init, "sysid", s->init_sysid);
    } else {
        cJSON_AddItemToObject(init, "sysid", cJSON_CreateNull());
    }
    add_str(init, "claim", s->init_claim);
    store__json_add_u64(init, "claim_epoch", s->init_claim_epoch);
    cJSON_AddItemToObject(root, "initialize", init);

    add_json(root, "config", s->config);
    store__json_add_u64(root, "config_version", s->config_version);

    cJSON *peers = new_array();
    for (size_t i = 0; i < s->n_peers; i++) {
        const struct store_peer *p = &s->peers[i];
        cJSON *o = new_object();
        store__json_add_u64(o, "id", p->id);
        add_str(o, "name", p->name);
        add_str(o, "address", p->address);
        add_str(o, "api_url", p->api_url);
        add_str(o, "kind", store__peer_kind_name(p->kind));
        cJSON_AddItemToArray(peers, o);
    }
    cJSON_AddItemToObject(root, "peers", peers);

    cJSON *members = new_array();
    for (size_t i = 0; i < s->n_members; i++) {
        cJSON *o = new_object();
        add_str(o, "name", s->members[i].name);
        add_json(o, "data", s->members[i].data);
        cJSON_AddItemToArray(members, o);
    }
    cJSON_AddItemToObject(root, "members", members);

    cJSON_AddItemToObject(root, "lease", snapshot_lease(s));
    add_json(root, "failover", s->failover);
    add_json(root, "sync", s->sync);
    add_json(root, "status", s->status);
    add_json(root, "history", s->history);

    cJSON *dedup = new_array();
    size_t n = store__dedup_count(s);
    for (size_t i = 0; i < n; i++) {
        const struct store_dedup *d = store__dedup_at(s, i);
        cJSON *e = new_array();
        cJSON_AddItemToArray(e, cJSON_CreateString(d->id));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(d->code));
        char num[24];
        snprintf(num, sizeof num, "%llu", (unsigned long long)d->epoch);
        cJSON_AddItemToArray(e, cJSON_CreateString(num));
        cJSON_AddItemToArray(dedup, e);
    }
    cJSON_AddItemToObject(root, "dedup", dedup);

    store__json_print(root, buf, len);
    cJSON_Delete(root);
}

/* ---- restore ----------------------------------------------------------- */

/* Keys of an object must be exactly @keys (each once). */
static int
check_keys(const cJSON *obj, const char *const *keys, size_t n, const char *what, char *errmsg)
{
    if (!cJSON_IsObject(obj)) {
        rg_errmsg_printf(errmsg, "%s: must be an object", what);
        return RG_EPARSE;
    }
    size_t count = 0;
    for (const cJSON *c = obj->child; c != NULL; c = c->next, count++) {
        bool known = false;
        for (size_t i = 0; i < n; i++) {
            known = known || strcmp(c->string, keys[i]) == 0;
        }
        if (!known) {
            rg_errmsg_printf(errmsg, "%s: unknown key \"%.64s\"", what, c->string);
            return RG_EPARSE;
        }
    }
    /* Every key known and present: with n distinct keys, count == n means
     * no duplicates and nothing missing. */
    for (size_t i = 0; i < n; i++) {
        if (cJSON_GetObjectItemCaseSensitive(obj, keys[i]) == NULL) {
            rg_errmsg_printf(errmsg, "%s: missing \"%s\"", what, keys[i]);
            return RG_EPARSE;
        }
    }
    if (count != n) {
        rg_errmsg_printf(errmsg, "%s: duplicate key", what);
        return RG_EPARSE;
    }
    return 0;
}

static int get_u64(const cJSON *obj, const char *key, uint64_t *out, char *errmsg)
{
    if (store__json_u64(cJSON_GetObjectItemCaseSensitive(obj, key), out) != 0) {
        rg_errmsg_printf(errmsg, "\"%s\": must be an unsigned 64-bit integer", key);
        return RG_EPARSE;
    }
    return 0;
}

static int get_bool(const cJSON *obj, const char *key, bool *out, char *errmsg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsBool(v)) {
        rg_errmsg_printf(errmsg, "\"%s\": must be a boolean", key);
        return RG_EPARSE;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A JSON payload: null gives NULL when @nullable; objects only when
 * @object_only. */
static int get_payload(
    const cJSON *obj, const char *key, bool nullable, bool object_only, cJSON **out, char *errmsg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNull(v) && nullable) {
        *out = NULL;
        return 0;
    }
    if (v == NULL || cJSON_IsNull(v) || (object_only && !cJSON_IsObject(v)) ||
        !store__json_payload_valid(v)) {
        rg_errmsg_printf(errmsg, "\"%s\": invalid value", key);
        return RG_EPARSE;
    }
    *out = store__json_dup(v);
    return 0;
}

static int get_name(const cJSON *obj, const char *key, bool allow_empty, char *dst, char *errmsg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v) ||
        (!(allow_empty && v->valuestring[0] == '\0') && !store__name_valid(v->valuestring))) {
        rg_errmsg_printf(errmsg, "\"%s\": invalid name", key);
        return RG_EPARSE;
    }
    snprintf(dst, STORE_NAME_SIZE, "%s", v->valuestring);
    return 0;
}

static int restore_init(struct store_state *t, const cJSON *init, char *errmsg)
{
    static const char *const keys[] = {"sysid", "claim", "claim_epoch"};
    int rv = check_keys(init, keys, RG_ARRAY_SIZE(keys), "initialize", errmsg);
    if (rv != 0) {
        return rv;
    }
    const cJSON *sysid = cJSON_GetObjectItemCaseSensitive(init, "sysid");
    if (cJSON_IsString(sysid) && store__sysid_valid(sysid->valuestring)) {
        t->init_sysid = rg_strdup(sysid->valuestring);
    } else if (!cJSON_IsNull(sysid)) {
        rg_errmsg_printf(errmsg, "\"sysid\": invalid value");
        return RG_EPARSE;
    }
    rv = get_name(init, "claim", true, t->init_claim, errmsg);
    return rv != 0 ? rv : get_u64(init, "claim_epoch", &t->init_claim_epoch, errmsg);
}

static int restore_peer(struct store_state *t, const cJSON *o, char *errmsg)
{
    static const char *const keys[] = {"id", "name", "address", "api_url", "kind"};
    int rv = check_keys(o, keys, RG_ARRAY_SIZE(keys), "peer", errmsg);
    if (rv != 0) {
        return rv;
    }
    struct store_peer p = {0};
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(o, "address");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(o, "api_url");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    if (get_u64(o, "id", &p.id, errmsg) != 0 || p.id == 0 || !cJSON_IsString(name) ||
        !store__name_valid(name->valuestring) || !cJSON_IsString(addr) ||
        !store__token_valid(addr->valuestring, 63, false) || !cJSON_IsString(url) ||
        !store__token_valid(url->valuestring, 255, true) || !cJSON_IsString(kind) ||
        store__peer_kind_parse(kind->valuestring, &p.kind) != 0) {
        rg_errmsg_printf(errmsg, "peer: invalid value");
        return RG_EPARSE;
    }
    if (t->n_peers > 0 && t->peers[t->n_peers - 1].id >= p.id) {
        rg_errmsg_printf(errmsg, "peers: not sorted by id");
        return RG_EPARSE;
    }
    p.name = rg_strdup(name->valuestring);
    p.address = rg_strdup(addr->valuestring);
    p.api_url = rg_strdup(url->valuestring);
    t->peers = rg_realloc(t->peers, (t->n_peers + 1) * sizeof *t->peers);
    t->peers[t->n_peers++] = p;
    return 0;
}

static int restore_member(struct store_state *t, const cJSON *o, char *errmsg)
{
    static const char *const keys[] = {"name", "data"};
    int rv = check_keys(o, keys, RG_ARRAY_SIZE(keys), "member", errmsg);
    if (rv != 0) {
        return rv;
    }
    char name[STORE_NAME_SIZE];
    cJSON *data = NULL;
    rv = get_name(o, "name", false, name, errmsg);
    if (rv == 0) {
        rv = get_payload(o, "data", false, true, &data, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if (t->n_members > 0 && strcmp(t->members[t->n_members - 1].name, name) >= 0) {
        cJSON_Delete(data);
        rg_errmsg_printf(errmsg, "members: not sorted by name");
        return RG_EPARSE;
    }
    t->members = rg_realloc(t->members, (t->n_members + 1) * sizeof *t->members);
    t->members[t->n_members].name = rg_strdup(name);
    t->members[t->n_members].data = data;
    t->n_members++;
    return 0;
}

static int restore_list(struct store_state *t,
                        const cJSON *root,
                        const char *key,
                        int (*one)(struct store_state *, const cJSON *, char *),
                        char *errmsg)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsArray(a)) {
        rg_errmsg_printf(errmsg, "\"%s\": must be an array", key);
        return RG_EPARSE;
    }
    for (const cJSON *c = a->child; c != NULL; c = c->next) {
        int rv = one(t, c, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

static int restore_lease(struct store_state *t, const cJSON *o, char *errmsg)
{
    static const char *const keys[] = {"holder",     "epoch",    "renewed_at",
                                       "expires_at", "released", "handover_unconfirmed",
                                       "fencing",    "lsn",      "reports"};
    struct store_lease *l = &t->lease;
    int rv = check_keys(o, keys, RG_ARRAY_SIZE(keys), "lease", errmsg);
    if (rv == 0) {
        rv = get_name(o, "holder", true, l->holder, errmsg);
    }
    if (rv == 0) {
        rv = get_u64(o, "epoch", &l->epoch, errmsg);
    }
    if (rv == 0) {
        rv = get_u64(o, "renewed_at", &l->renewed_at, errmsg);
    }
    if (rv == 0) {
        rv = get_u64(o, "expires_at", &l->expires_at, errmsg);
    }
    if (rv == 0) {
        rv = get_bool(o, "released", &l->released, errmsg);
    }
    if (rv == 0) {
        rv = get_bool(o, "handover_unconfirmed", &l->handover_unconfirmed, errmsg);
    }
    if (rv == 0) {
        rv = get_bool(o, "fencing", &l->fencing, errmsg);
    }
    if (rv == 0) {
        rv = get_u64(o, "lsn", &l->lsn, errmsg);
    }
    if (rv == 0) {
        rv = get_payload(o, "reports", true, false, &t->lease_reports, errmsg);
    }
    if (rv == 0 && (l->epoch == 0) != (l->holder[0] == '\0')) {
        rg_errmsg_printf(errmsg, "lease: holder and epoch disagree");
        rv = RG_EPARSE;
    }
    return rv;
}

static int restore_dedup_entry(struct store_state *t, const cJSON *e, char *errmsg)
{
    if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 3) {
        rg_errmsg_printf(errmsg, "dedup: entry must be [id, code, epoch]");
        return RG_EPARSE;
    }
    const cJSON *id = cJSON_GetArrayItem(e, 0);
    const cJSON *code = cJSON_GetArrayItem(e, 1);
    uint64_t epoch;
    if (!cJSON_IsString(id) || !store__token_valid(id->valuestring, STORE_REQ_ID_SIZE - 1, false) ||
        !cJSON_IsNumber(code) ||
        (code->valuedouble != 0 && code->valuedouble != (double)RG_ECONFLICT) ||
        store__json_u64(cJSON_GetArrayItem(e, 2), &epoch) != 0) {
        rg_errmsg_printf(errmsg, "dedup: invalid entry");
        return RG_EPARSE;
    }
    if (t->dedup_next >= STORE_DEDUP_SIZE) {
        rg_errmsg_printf(errmsg, "dedup: more than %d entries", STORE_DEDUP_SIZE);
        return RG_EPARSE;
    }
    struct store_dedup *d = &t->dedup[t->dedup_next++];
    snprintf(d->id, sizeof d->id, "%s", id->valuestring);
    d->code = (int)code->valuedouble;
    d->epoch = epoch;
    return 0;
}

/* Each entry is a payload of its own (HISTORY_ADD checked each one). */
static int restore_history(struct store_state *t, const cJSON *h, char *errmsg)
{
    if (!cJSON_IsArray(h)) {
        rg_errmsg_printf(errmsg, "\"history\": must be an array");
        return RG_EPARSE;
    }
    for (const cJSON *c = h->child; c != NULL; c = c->next) {
        if (cJSON_IsNull(c) || !store__json_payload_valid(c)) {
            rg_errmsg_printf(errmsg, "\"history\": invalid entry");
            return RG_EPARSE;
        }
    }
    t->history = store__json_dup(h);
    return 0;
}

static int restore_root(struct store_state *t, const cJSON *root, char *errmsg)
{
    static const char *const keys[] = {"format",     "format_level", "last_ct",        "applied",
                                       "initialize", "config",       "config_version", "peers",
                                       "members",    "lease",        "failover",       "sync",
                                       "status",     "history",      "dedup"};
    if (!cJSON_IsObject(root)) {
        rg_errmsg_printf(errmsg, "snapshot must be a JSON object");
        return RG_EPARSE;
    }
    uint64_t format;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsNumber(f) || store__json_u64(f, &format) != 0) {
        rg_errmsg_printf(errmsg, "\"format\": must be an integer");
        return RG_EPARSE;
    }
    if (format != STORE_SNAPSHOT_FORMAT) {
        rg_errmsg_printf(errmsg, "snapshot format %llu is not supported",
                         (unsigned long long)format);
        return RG_EUNSUPPORTED;
    }
    int rv = check_keys(root, keys, RG_ARRAY_SIZE(keys), "snapshot", errmsg);
    if (rv != 0) {
        return rv;
    }
    if ((rv = get_u64(root, "format_level", &t->format_level, errmsg)) != 0 ||
        (rv = get_u64(root, "last_ct", &t->last_ct, errmsg)) != 0 ||
        (rv = get_u64(root, "applied", &t->applied, errmsg)) != 0 ||
        (rv = get_u64(root, "config_version", &t->config_version, errmsg)) != 0) {
        return rv;
    }
    if (t->format_level == 0 || t->format_level > STORE_FORMAT_LEVEL) {
        rg_errmsg_printf(errmsg, "format level %llu is not supported",
                         (unsigned long long)t->format_level);
        return t->format_level == 0 ? RG_EPARSE : RG_EUNSUPPORTED;
    }
    cJSON_Delete(t->history);
    t->history = NULL;
    if ((rv = restore_init(t, cJSON_GetObjectItemCaseSensitive(root, "initialize"), errmsg)) != 0 ||
        (rv = get_payload(root, "config", true, true, &t->config, errmsg)) != 0 ||
        (rv = restore_list(t, root, "peers", restore_peer, errmsg)) != 0 ||
        (rv = restore_list(t, root, "members", restore_member, errmsg)) != 0 ||
        (rv = restore_lease(t, cJSON_GetObjectItemCaseSensitive(root, "lease"), errmsg)) != 0 ||
        (rv = get_payload(root, "failover", true, true, &t->failover, errmsg)) != 0 ||
        (rv = get_payload(root, "sync", true, false, &t->sync, errmsg)) != 0 ||
        (rv = get_payload(root, "status", true, false, &t->status, errmsg)) != 0 ||
        (rv = restore_history(t, cJSON_GetObjectItemCaseSensitive(root, "history"), errmsg)) != 0 ||
        (rv = restore_list(t, root, "dedup", restore_dedup_entry, errmsg)) != 0) {
        return rv;
    }
    if ((t->config == NULL) != (t->config_version == 0)) {
        rg_errmsg_printf(errmsg, "\"config\": disagrees with \"config_version\"");
        return RG_EPARSE;
    }
    t->dedup_next %= STORE_DEDUP_SIZE;
    return 0;
}

int store_state_restore(struct store_state *s, const void *buf, size_t len, char *errmsg)
{
    cJSON *root = store__json_parse(buf, len);
    if (root == NULL) {
        rg_errmsg_printf(errmsg, "snapshot is not valid JSON");
        return RG_EPARSE;
    }
    struct store_state t;
    store_state_init(&t);
    int rv = restore_root(&t, root, errmsg);
    cJSON_Delete(root);
    if (rv != 0) {
        store_state_close(&t);
        rg_errmsg_wrapf(errmsg, "could not restore snapshot");
        return rv;
    }
    store_state_close(s);
    *s = t;
    return 0;
}

/* ---- equality ---------------------------------------------------------- */

static bool lease_equal(const struct store_lease *a, const struct store_lease *b)
{
    return strcmp(a->holder, b->holder) == 0 && a->epoch == b->epoch &&
           a->renewed_at == b->renewed_at && a->expires_at == b->expires_at &&
           a->released == b->released && a->handover_unconfirmed == b->handover_unconfirmed &&
           a->fencing == b->fencing && a->lsn == b->lsn;
}

static bool peers_equal(const struct store_state *a, const struct store_state *b)
{
    if (a->n_peers != b->n_peers) {
        return false;
    }
    for (size_t i = 0; i < a->n_peers; i++) {
        const struct store_peer *p = &a->peers[i], *q = &b->peers[i];
        if (p->id != q->id || p->kind != q->kind || strcmp(p->name, q->name) != 0 ||
            strcmp(p->address, q->address) != 0 || strcmp(p->api_url, q->api_url) != 0) {
            return false;
        }
    }
    return true;
}

static bool members_equal(const struct store_state *a, const struct store_state *b)
{
    if (a->n_members != b->n_members) {
        return false;
    }
    for (size_t i = 0; i < a->n_members; i++) {
        if (strcmp(a->members[i].name, b->members[i].name) != 0 ||
            !store__json_equal(a->members[i].data, b->members[i].data)) {
            return false;
        }
    }
    return true;
}

/* The ring is compared in chronological order: a restored ring starts at
 * slot 0 while the original may have wrapped. */
static bool dedup_equal(const struct store_state *a, const struct store_state *b)
{
    size_t n = store__dedup_count(a);
    if (n != store__dedup_count(b)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_dedup *x = store__dedup_at(a, i), *y = store__dedup_at(b, i);
        if (strcmp(x->id, y->id) != 0 || x->code != y->code || x->epoch != y->epoch) {
            return false;
        }
    }
    return true;
}

bool store_state_equal(const struct store_state *a, const struct store_state *b)
{
    bool sysid_eq = (a->init_sysid == NULL || b->init_sysid == NULL)
                        ? a->init_sysid == b->init_sysid
                        : strcmp(a->init_sysid, b->init_sysid) == 0;
    return a->format_level == b->format_level && a->last_ct == b->last_ct &&
           a->applied == b->applied && sysid_eq && strcmp(a->init_claim, b->init_claim) == 0 &&
           a->init_claim_epoch == b->init_claim_epoch && a->config_version == b->config_version &&
           store__json_equal(a->config, b->config) && peers_equal(a, b) && members_equal(a, b) &&
           lease_equal(&a->lease, &b->lease) && store__json_equal(a->failover, b->failover) &&
           store__json_equal(a->sync, b->sync) && store__json_equal(a->status, b->status) &&
           store__json_equal(a->history, b->history) &&
           store__json_equal(a->lease_reports, b->lease_reports) && dedup_equal(a, b);
}
