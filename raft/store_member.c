/*
 * store_member: how a node gets into a Raft cluster and how the leader keeps
 * the membership in shape (DESIGN.md, "Membership and bootstrap of Raft").
 *
 * Discovery (a node without Raft data). Every STORE_DISCOVER_EVERY_MS it
 * probes its partners (and any addresses an invitation named). If one of
 * them is a member of a cluster, it joins through it. If every partner
 * answered "pristine" with the same digest of the address list, the node
 * whose self_addr is numerically lowest bootstraps a single-voter
 * configuration; the others then find it a member and join. A node without
 * partners bootstraps alone.
 *
 * Joining. The join request goes to the leader (a non-leader answers 421 with
 * its leader, which the joiner tries next). The leader (store_change.c)
 * removes an old identity with the same name or address first (a node whose
 * Raft directory was wiped comes back under a new id and never votes under
 * the old one), then raft_add (spare) -> raft_assign (standby) -> peer_set,
 * and answers; only then does the joiner start Raft with an empty log.
 *
 * Upkeep (the leader, every STORE_UPKEEP_EVERY_MS, one change at a time):
 * spares become standbys; standbys that answer probes are promoted while the
 * voter count is below the target, passing at most once through an even
 * count (from an odd count only when two live standbys are there); an even
 * count that lasts STORE_DEMOTE_AFTER_MS without a live standby is made odd
 * by demoting a voter; peers records of servers outside the configuration
 * are deleted. Every node keeps its own peers record right.
 *
 * Removal (store_change.c) ends with the leader telling the removed node,
 * which stops its Raft instance. A node that has known no leader for long
 * asks the leader its peers name whether it is still a member, for the case
 * where that message was lost.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg_log.h"
#include "raft/store_fsm_internal.h"
#include "raft/store_internal.h"

#define LOGM "store"

#define STORE_JOIN_TIMEOUT_MS    5000
#define STORE_ORPHAN_AFTER_MS    5000
#define STORE_PROPOSE_TIMEOUT_MS 5000

const char *store__kind_name(enum store_peer_kind k)
{
    return k == STORE_PEER_WITNESS ? "witness" : "member";
}

/* Compare "a.b.c.d:port" numerically (address, then port). */
static int addr_cmp(const char *a, const char *b)
{
    char ha[64], hb[64];
    unsigned pa = 0, pb = 0;
    struct in_addr ia = {0}, ib = {0};
    if (sscanf(a, "%63[^:]:%u", ha, &pa) != 2 || sscanf(b, "%63[^:]:%u", hb, &pb) != 2 ||
        inet_pton(AF_INET, ha, &ia) != 1 || inet_pton(AF_INET, hb, &ib) != 1) {
        return strcmp(a, b);
    }
    uint32_t xa = ntohl(ia.s_addr), xb = ntohl(ib.s_addr);
    if (xa != xb) {
        return xa < xb ? -1 : 1;
    }
    return pa < pb ? -1 : pa > pb;
}

static const char *probe_state(const struct store *s)
{
    switch (s->phase) {
    case STORE_DISCOVER:
        return "pristine";
    case STORE_BOOTSTRAP:
    case STORE_JOIN:
        return "joining";
    case STORE_RUNNING:
        return "member";
    case STORE_REMOVED:
        return "removed";
    default:
        return "failed";
    }
}

cJSON *store__probe_answer(struct store *s, uint64_t peer_id)
{
    cJSON *a = store__reply_new(STORE_RC_OK, NULL);
    cJSON_AddStringToObject(a, "scope", s->scope);
    cJSON_AddStringToObject(a, "name", s->name);
    store__u64_add(a, "id", s->id);
    cJSON_AddStringToObject(a, "address", s->self_addr);
    cJSON_AddStringToObject(a, "kind", store__kind_name(s->kind));
    cJSON_AddStringToObject(a, "state", probe_state(s));
    store__u64_add(a, "digest", s->digest);
    cJSON *hint = store__leader_hint(s, STORE_RC_OK);
    cJSON_AddItemToObject(a, "leader", cJSON_DetachItemFromObject(hint, "leader"));
    cJSON_Delete(hint);
    cJSON_AddBoolToObject(a, "is_leader", store_is_leader(s));
    cJSON_AddBoolToObject(a, "is_member", peer_id != 0 && store__in_config(s, peer_id, NULL));
    return a;
}

/* --- discovery and joining ------------------------------------------------ */

static void discover_round(uv_timer_t *t);

static void bootstrap_self(struct store *s)
{
    struct raft_configuration conf;
    char err[RG_ERRMSG_SIZE];

    s->phase = STORE_BOOTSTRAP;
    uv_timer_stop(&s->discover_timer);
    raft_configuration_init(&conf);
    int rv = raft_configuration_add(&conf, s->id, s->self_addr, RAFT_VOTER);
    if (rv != 0) {
        raft_configuration_close(&conf);
        store__fail(s, "could not build the bootstrap configuration: %s", raft_strerror(rv));
        return;
    }
    rg_log(RG_INFO, LOGM,
           "bootstrapping a new Raft cluster \"%s\" with this node as its only voter", s->scope);
    rv = store__raft_start(s, &conf);
    raft_configuration_close(&conf);
    if (rv == 0 && store__identity_write(s, true, err) != 0) {
        store__fail(s, "%s", err);
    }
}

static void join_cb(void *data, int status, const cJSON *reply, const char *errmsg)
{
    struct store *s = data;
    char err[RG_ERRMSG_SIZE];
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(reply, "code");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(reply, "error");

    s->joining = false;
    if (s->phase != STORE_JOIN) {
        return;
    }
    s->phase = STORE_DISCOVER;
    if (status != 0) {
        rg_log(RG_INFO, LOGM, "join through %s: %s: %s", s->join_via, rg_strerror(status), errmsg);
        rg_free(s->join_via);
        s->join_via = NULL;
        return;
    }
    int c = cJSON_IsNumber(code) ? code->valueint : 0;
    if (c == STORE_RC_OK) {
        rg_log(RG_INFO, LOGM, "joined cluster \"%s\" through %s as a standby", s->scope,
               s->join_via);
        if (store__identity_write(s, true, err) != 0) {
            store__fail(s, "%s", err);
            return;
        }
        uv_timer_stop(&s->discover_timer);
        s->phase = STORE_JOIN;
        uint64_t index = 0;
        store__u64_get(reply, "index", &index);
        if (store__raft_start(s, NULL) == 0 && index > s->start_index) {
            s->start_index = index;
        }
        return;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "name_in_use"))) {
        store__fail(s, "refusing to start: %s",
                    cJSON_IsString(error) ? error->valuestring : "member name in use");
        return;
    }
    const cJSON *leader = cJSON_GetObjectItemCaseSensitive(reply, "leader");
    const cJSON *laddr = cJSON_GetObjectItemCaseSensitive(leader, "address");
    char *via = s->join_via;
    s->join_via = NULL;
    if (c == STORE_RC_MISDIRECTED && cJSON_IsString(laddr) &&
        strcmp(laddr->valuestring, s->self_addr) != 0) {
        s->join_via = rg_strdup(laddr->valuestring); /* the next round asks the leader */
    } else if (rg_boottime_ms() - s->waiting_logged_at >= 5000) {
        /* Discovery starts over: the hint may have been stale. */
        s->waiting_logged_at = rg_boottime_ms();
        rg_log(c == STORE_RC_UNAVAILABLE || c == STORE_RC_MISDIRECTED ? RG_INFO : RG_WARNING, LOGM,
               "join through %s refused: %s", via,
               cJSON_IsString(error) ? error->valuestring : "no reason given");
    }
    rg_free(via);
}

static void start_join(struct store *s)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "join");
    cJSON_AddStringToObject(b, "scope", s->scope);
    store__u64_add(b, "id", s->id);
    cJSON_AddStringToObject(b, "name", s->name);
    cJSON_AddStringToObject(b, "address", s->self_addr);
    cJSON_AddStringToObject(b, "api_url", s->api_url);
    cJSON_AddStringToObject(b, "kind", store__kind_name(s->kind));
    s->phase = STORE_JOIN;
    s->joining = true;
    if (store__call(s, s->join_via, b, STORE_JOIN_TIMEOUT_MS, join_cb, s, NULL) != 0) {
        s->joining = false;
        s->phase = STORE_DISCOVER;
    }
}

struct probe_ctx {
    struct store *s;
    char address[64];
};

static bool self_is_lowest(const struct store *s)
{
    for (size_t i = 0; i < s->n_partners; i++) {
        if (addr_cmp(s->partners[i], s->self_addr) <= 0) {
            return false;
        }
    }
    return true;
}

static void discover_decide(struct store *s)
{
    if (s->join_via != NULL) {
        start_join(s);
        return;
    }
    if (s->n_invited == 0 && s->probes_pristine == s->n_partners && self_is_lowest(s)) {
        bootstrap_self(s);
        return;
    }
    uint64_t now = rg_boottime_ms();
    if (now - s->waiting_logged_at >= 5000) {
        s->waiting_logged_at = now;
        rg_log(RG_INFO, LOGM,
               "waiting for the cluster: %u of %zu partners answered pristine with the same "
               "partner list, none is a member yet",
               s->probes_pristine, s->n_partners);
    }
}

static void probe_cb(void *data, int status, const cJSON *reply, const char *errmsg)
{
    struct probe_ctx *pc = data;
    struct store *s = pc->s;

    s->probes_out--;
    if (status == RG_EAUTH && rg_boottime_ms() - s->auth_warned_at >= 5000) {
        s->auth_warned_at = rg_boottime_ms();
        rg_log(RG_WARNING, LOGM, "partner %s: %s: is raft.password the same on every member?",
               pc->address, errmsg);
    }
    if (status == 0 && s->phase == STORE_DISCOVER) {
        const cJSON *scope = cJSON_GetObjectItemCaseSensitive(reply, "scope");
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(reply, "state");
        const cJSON *leader = cJSON_GetObjectItemCaseSensitive(reply, "leader");
        const cJSON *laddr = cJSON_GetObjectItemCaseSensitive(leader, "address");
        uint64_t digest = 0;
        if (!cJSON_IsString(scope) || strcmp(scope->valuestring, s->scope) != 0) {
            rg_log(RG_WARNING, LOGM, "partner %s belongs to another cluster (\"%s\"): ignored",
                   pc->address, cJSON_IsString(scope) ? scope->valuestring : "?");
        } else if (cJSON_IsString(state) && strcmp(state->valuestring, "member") == 0) {
            /* A partner may still name a leader that is gone: us, before
             * our directory was wiped. Then ask the partner itself. */
            bool hint = cJSON_IsString(laddr) && strcmp(laddr->valuestring, s->self_addr) != 0;
            if (s->join_via == NULL) {
                s->join_via = rg_strdup(hint ? laddr->valuestring : pc->address);
            }
        } else if (cJSON_IsString(state) && strcmp(state->valuestring, "pristine") == 0 &&
                   store__u64_get(reply, "digest", &digest) && digest == s->digest) {
            s->probes_pristine++;
        }
    }
    rg_free(pc);
    if (s->probes_out == 0 && s->phase == STORE_DISCOVER) {
        discover_decide(s);
    }
}

static void probe_one(struct store *s, const char *address, store_call_cb cb)
{
    struct probe_ctx *pc = rg_calloc(1, sizeof *pc);
    pc->s = s;
    snprintf(pc->address, sizeof pc->address, "%s", address);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "probe");
    if (store__call(s, address, b, STORE_PROBE_TIMEOUT_MS, cb, pc, NULL) == 0) {
        s->probes_out++;
    } else {
        rg_free(pc);
    }
}

static void discover_round(uv_timer_t *t)
{
    struct store *s = rg_container_of(t, struct store, discover_timer);
    if (s->phase != STORE_DISCOVER || s->probes_out > 0 || s->joining) {
        return;
    }
    if (s->join_via != NULL) {
        start_join(s); /* a leader hint from the last join attempt */
        return;
    }
    s->probes_pristine = 0;
    for (size_t i = 0; i < s->n_partners; i++) {
        probe_one(s, s->partners[i], probe_cb);
    }
    for (size_t i = 0; i < s->n_invited; i++) {
        probe_one(s, s->invited[i], probe_cb);
    }
    if (s->probes_out == 0) {
        discover_decide(s);
    }
}

void store__discover_start(struct store *s)
{
    s->phase = STORE_DISCOVER;
    if (s->n_partners == 0) {
        bootstrap_self(s);
        return;
    }
    rg_log(RG_INFO, LOGM, "no Raft data yet: looking for the cluster through %zu partner(s)",
           s->n_partners);
    uv_timer_start(&s->discover_timer, discover_round, 0, STORE_DISCOVER_EVERY_MS);
}

cJSON *store__invited(struct store *s, const cJSON *body)
{
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(body, "scope");
    const cJSON *join = cJSON_GetObjectItemCaseSensitive(body, "join");
    if (!cJSON_IsString(scope) || strcmp(scope->valuestring, s->scope) != 0) {
        return store__reply_new(STORE_RC_CONFLICT, "this node belongs to cluster \"%s\"", s->scope);
    }
    if (s->phase != STORE_DISCOVER) {
        return store__reply_new(STORE_RC_CONFLICT, "this node is already %s",
                                s->phase == STORE_RUNNING ? "a member" : probe_state(s));
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, join)
    {
        if (!cJSON_IsString(a) || strlen(a->valuestring) >= 64 || s->n_invited >= 16) {
            continue;
        }
        bool known = false;
        for (size_t i = 0; i < s->n_invited; i++) {
            known = known || strcmp(s->invited[i], a->valuestring) == 0;
        }
        if (!known) {
            s->invited = rg_realloc(s->invited, (s->n_invited + 1) * sizeof *s->invited);
            s->invited[s->n_invited++] = rg_strdup(a->valuestring);
        }
    }
    rg_log(RG_INFO, LOGM, "invited to join cluster \"%s\"", s->scope);
    if (!uv_is_active((uv_handle_t *)&s->discover_timer)) {
        uv_timer_start(&s->discover_timer, discover_round, 0, STORE_DISCOVER_EVERY_MS);
    }
    cJSON *r = store__reply_new(STORE_RC_ACCEPTED, NULL);
    cJSON_AddStringToObject(r, "name", s->name);
    store__u64_add(r, "id", s->id);
    return r;
}

/* --- upkeep ----------------------------------------------------------------- */

static struct store_seen *seen_of(struct store *s, uint64_t id)
{
    for (size_t i = 0; i < s->n_seen; i++) {
        if (s->seen[i].id == id) {
            return &s->seen[i];
        }
    }
    if (s->n_seen == STORE_MAX_SERVERS) {
        return NULL;
    }
    struct store_seen *e = &s->seen[s->n_seen++];
    memset(e, 0, sizeof *e);
    e->id = id;
    return e;
}

struct seen_ctx {
    struct store *s;
    uint64_t id;
};

static void seen_probe_cb(void *data, int status, const cJSON *reply, const char *errmsg)
{
    struct seen_ctx *sc = data;
    struct store_seen *e = seen_of(sc->s, sc->id);
    uint64_t id = 0;
    (void)errmsg;
    if (e != NULL) {
        e->probing = false;
        if (status == 0 && store__u64_get(reply, "id", &id) && id == sc->id) {
            e->ok_at = rg_boottime_ms();
        }
    }
    rg_free(sc);
}

/* True when @id answered a probe recently; starts a probe otherwise. */
static bool fresh(struct store *s, uint64_t id, const char *address)
{
    struct store_seen *e = seen_of(s, id);
    uint64_t now = rg_boottime_ms();
    if (e == NULL) {
        return false;
    }
    if (e->ok_at != 0 && now - e->ok_at < STORE_STANDBY_FRESH_MS) {
        return true;
    }
    if (!e->probing) {
        struct seen_ctx *sc = rg_calloc(1, sizeof *sc);
        sc->s = s;
        sc->id = id;
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "probe");
        if (store__call(s, address, b, STORE_PROBE_TIMEOUT_MS, seen_probe_cb, sc, NULL) == 0) {
            e->probing = true;
        } else {
            rg_free(sc);
        }
    }
    return false;
}

static void change_cb(struct raft_change *req, int status)
{
    struct store *s = req->data;
    s->change_pending = false;
    if (status != 0) {
        rg_log(RG_WARNING, LOGM, "Raft role change failed: %s", raft_strerror(status));
    }
}

static void assign(struct store *s, const struct raft_server *srv, int role, const char *why)
{
    char buf[64];
    s->change.data = s;
    int rv = raft_assign(&s->raft, &s->change, srv->id, role, change_cb);
    if (rv == 0) {
        s->change_pending = true;
        rg_log(RG_INFO, LOGM, "Raft: %s %s becomes a %s (%s)",
               store__server_name(s, srv->id, buf, sizeof buf), srv->address,
               role == RAFT_VOTER ? "voter" : "standby", why);
    } else {
        rg_log(RG_WARNING, LOGM, "Raft: cannot change the role of %s: %s", srv->address,
               raft_errmsg(&s->raft));
    }
}

/* Keep the voter count odd and at the target (DESIGN.md, "Membership"). */
static void rebalance(struct store *s)
{
    const struct raft_configuration *c = &s->raft.configuration;
    const struct raft_server *live_standby = NULL, *stale_voter = NULL, *any_voter = NULL;
    unsigned voters = 0, live = 0;
    uint64_t now = rg_boottime_ms();

    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_server *srv = &c->servers[i];
        if (srv->role == RAFT_SPARE) {
            assign(s, srv, RAFT_STANDBY, "a spare left by an interrupted join");
            return;
        }
        if (srv->role == RAFT_VOTER) {
            voters++;
        }
    }
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_server *srv = &c->servers[i];
        if (srv->id == s->id) {
            continue;
        }
        if (srv->role == RAFT_STANDBY && fresh(s, srv->id, srv->address)) {
            live++;
            live_standby = live_standby != NULL ? live_standby : srv;
        } else if (srv->role == RAFT_VOTER) {
            any_voter = srv;
            if (voters % 2 == 0 && !fresh(s, srv->id, srv->address)) {
                stale_voter = srv;
            }
        }
    }
    if (voters > s->voters && any_voter != NULL) {
        assign(s, any_voter, RAFT_STANDBY, "above the target voter count");
        return;
    }
    if (voters < s->voters && live_standby != NULL && (voters % 2 == 0 || live >= 2)) {
        assign(s, live_standby, RAFT_VOTER, "below the target voter count");
        s->even_since = 0;
        return;
    }
    if (voters % 2 == 1) {
        s->even_since = 0;
        if (voters < s->voters && live == 1 && !s->waiting_for_pair) {
            rg_log(RG_INFO, LOGM,
                   "Raft has %u voter(s) and one live standby: waiting for another before "
                   "promoting (an even voter count survives no more failures)",
                   voters);
        }
        s->waiting_for_pair = voters < s->voters && live == 1;
        return;
    }
    if (s->even_since == 0) {
        s->even_since = now;
        rg_log(RG_WARNING, LOGM, "Raft has %u voters, an even count: waiting for a standby",
               voters);
    } else if (now - s->even_since >= STORE_DEMOTE_AFTER_MS && live_standby == NULL) {
        const struct raft_server *v = stale_voter != NULL ? stale_voter : any_voter;
        if (v != NULL) {
            assign(s, v, RAFT_STANDBY,
                   "an even voter count tolerates no more failures than one less");
            s->even_since = 0;
        }
    }
}

static void prune_cb(struct store_req *req, int status, const cJSON *reply)
{
    struct store *s = req->data;
    (void)status, (void)reply;
    s->prune_out = false;
}

/* Peers records of servers no longer in the committed configuration. */
static void prune_peers(struct store *s)
{
    if (s->prune_out || s->raft.configuration_uncommitted_index != 0) {
        return;
    }
    for (size_t i = 0; i < s->state.n_peers; i++) {
        const struct store_peer *p = &s->state.peers[i];
        if (!store__in_config(s, p->id, NULL)) {
            struct store_cmd c;
            store_cmd_init(&c);
            c.op = STORE_OP_PEER_DEL;
            c.peer_id = p->id;
            store_new_req_id("prune", c.id);
            rg_log(RG_INFO, LOGM,
                   "deleting the peers record of %s (Raft id %" PRIx64
                   "): not in the Raft configuration",
                   p->name, p->id);
            s->prune_req.data = s;
            if (store_propose(s, &s->prune_req, &c, 0, STORE_PROPOSE_TIMEOUT_MS, prune_cb) == 0) {
                s->prune_out = true;
            }
            return;
        }
    }
}

static void own_peer_cb(struct store_req *req, int status, const cJSON *reply)
{
    struct store *s = req->data;
    (void)reply;
    s->peer_set_out = false;
    if (status != 0) {
        rg_log(RG_INFO, LOGM, "updating our peers record: %s", rg_strerror(status));
    }
}

/* Every node keeps its own peers record: the bootstrapper writes it first,
 * a restart with another REST URL corrects it. Only once caught up, so that
 * a stale local state does not cause a needless write. */
static void own_peer(struct store *s)
{
    uint64_t now = rg_boottime_ms();
    if (s->peer_set_out || now - s->peer_set_at < 2000 || s->raft.commit_index == 0 ||
        raft_last_applied(&s->raft) < s->raft.commit_index || s->known_leader == 0 ||
        !store__in_config(s, s->id, NULL)) {
        return;
    }
    const struct store_peer *p = store_state_peer(&s->state, s->id);
    if (p != NULL && strcmp(p->name, s->name) == 0 && strcmp(p->address, s->self_addr) == 0 &&
        strcmp(p->api_url, s->api_url) == 0 && p->kind == s->kind) {
        return;
    }
    struct store_cmd c;
    store_cmd_init(&c);
    c.op = STORE_OP_PEER_SET;
    c.peer_id = s->id;
    snprintf(c.name, sizeof c.name, "%s", s->name);
    snprintf(c.address, sizeof c.address, "%s", s->self_addr);
    snprintf(c.api_url, sizeof c.api_url, "%s", s->api_url);
    c.kind = s->kind;
    store_new_req_id("peer", c.id);
    s->peer_set_at = now;
    s->own_peer_req.data = s;
    if (store_propose(s, &s->own_peer_req, &c, 0, STORE_PROPOSE_TIMEOUT_MS, own_peer_cb) == 0) {
        s->peer_set_out = true;
    }
}

static void orphan_cb(void *data, int status, const cJSON *reply, const char *errmsg)
{
    struct store *s = data;
    const cJSON *is_leader = cJSON_GetObjectItemCaseSensitive(reply, "is_leader");
    const cJSON *is_member = cJSON_GetObjectItemCaseSensitive(reply, "is_member");
    const cJSON *leader = cJSON_GetObjectItemCaseSensitive(reply, "leader");
    const cJSON *laddr = cJSON_GetObjectItemCaseSensitive(leader, "address");
    (void)errmsg;
    s->orphan_check = false;
    if (status != 0 || s->phase != STORE_RUNNING || s->known_leader != 0) {
        return;
    }
    if (cJSON_IsTrue(is_leader) && cJSON_IsFalse(is_member)) {
        store__removed(s, "the Raft leader does not list us");
    } else if (!cJSON_IsTrue(is_leader) && cJSON_IsString(laddr)) {
        /* Ask the leader this peer knows, next time. */
        snprintf(s->orphan_next, sizeof s->orphan_next, "%s", laddr->valuestring);
    }
}

/* A member that has known no leader for long may have been removed while
 * unreachable (the leader stops talking to removed servers). */
static void orphan(struct store *s)
{
    uint64_t now = rg_boottime_ms();
    if (s->orphan_check || s->no_leader_since == 0 ||
        now - s->no_leader_since < STORE_ORPHAN_AFTER_MS || now - s->orphan_at < 1000) {
        return;
    }
    s->orphan_at = now;
    const char *target = s->orphan_next[0] != '\0' ? s->orphan_next : NULL;
    if (target == NULL) {
        /* Round-robin over the peers records and the partners. */
        size_t n = s->state.n_peers + s->n_partners;
        for (size_t k = 0; k < n && target == NULL; k++) {
            size_t i = s->orphan_rr++ % (n ? n : 1);
            const char *a = i < s->state.n_peers ? s->state.peers[i].address
                                                 : s->partners[i - s->state.n_peers];
            if (strcmp(a, s->self_addr) != 0) {
                target = a;
            }
        }
    }
    if (target == NULL) {
        return;
    }
    char addr[64];
    snprintf(addr, sizeof addr, "%s", target);
    s->orphan_next[0] = '\0';
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "probe");
    if (store__call(s, addr, b, STORE_PROBE_TIMEOUT_MS, orphan_cb, s, NULL) == 0) {
        s->orphan_check = true;
    }
}

static void upkeep_cb(uv_timer_t *t)
{
    struct store *s = rg_container_of(t, struct store, upkeep_timer);
    if (s->phase != STORE_RUNNING || !s->raft_on) {
        return;
    }
    own_peer(s);
    orphan(s);
    if (store_is_leader(s) && s->raft.transfer == NULL) {
        if (!s->change_pending && s->member_op == NULL) {
            rebalance(s);
        }
        prune_peers(s);
    }
}

void store__upkeep_start(struct store *s)
{
    uv_timer_start(&s->upkeep_timer, upkeep_cb, STORE_UPKEEP_EVERY_MS, STORE_UPKEEP_EVERY_MS);
}
