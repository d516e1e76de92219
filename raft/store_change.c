/*
 * store_change: the membership changes the Raft leader carries out on
 * request — a join, a removal, a leadership transfer, an invitation — one
 * at a time (see store_member.c for how nodes get into the cluster and the
 * upkeep that keeps the voter count odd).
 *
 * A join or a removal is a chain of steps: check that an identity being
 * replaced is really gone (else two live processes want one name: refused),
 * the Raft configuration changes, then the records (peer_del, member_del,
 * peer_set), then the answer. The lease holder cannot be removed; the
 * leader hands leadership away before removing itself.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg_log.h"
#include "raft/store_fsm_internal.h"
#include "raft/store_internal.h"

#define LOGM                     "store"
#define STORE_PROPOSE_TIMEOUT_MS 5000

/* --- membership changes on the leader --------------------------------------- */

/*
 * One membership operation at a time (join or remove), a chain of steps:
 * Raft configuration changes first, then the records, then the answer.
 */
enum op_step {
    OP_CHECK_OLD,  /* join: is the identity being replaced still alive? */
    OP_REMOVE_OLD, /* raft_remove of the identity being replaced or removed */
    OP_ADD,        /* raft_add: spare */
    OP_ASSIGN,     /* raft_assign: standby */
    OP_RECORDS,    /* proposals: peer_del / member_del / peer_set */
    OP_DONE,
};

struct member_op {
    struct store *s;
    struct store_responder *r;
    enum op_step step;
    bool is_join;
    uint64_t old_id; /* 0: none */
    char old_name[STORE_NAME_SIZE];
    char old_address[64];
    bool old_holds_lease; /* a join under a new identity must wait for it */
    /* join */
    uint64_t id;
    char name[STORE_NAME_SIZE];
    char address[64];
    char api_url[256];
    enum store_peer_kind kind;
    /* proposals still to make, in order */
    struct store_cmd cmds[3];
    size_t n_cmds, next_cmd;
    struct store_req req;
};

static void op_next(struct member_op *op);

static void op_end(struct member_op *op, cJSON *answer)
{
    struct store *s = op->s;
    for (size_t i = op->next_cmd; i < op->n_cmds; i++) {
        store_cmd_close(&op->cmds[i]);
    }
    s->member_op = NULL;
    op->r->reply(op->r, answer);
    rg_free(op);
}

static void op_change_cb(struct raft_change *req, int status)
{
    struct store *s = req->data;
    struct member_op *op = s->member_op;
    s->change_pending = false;
    if (op == NULL) {
        return;
    }
    if (status != 0) {
        rg_log(RG_WARNING, LOGM, "membership change failed: %s", raft_strerror(status));
        op_end(op, store__reply_new(STORE_RC_UNAVAILABLE, "membership change failed: %s",
                                    raft_strerror(status)));
        return;
    }
    op->step++;
    op_next(op);
}

static void op_propose_cb(struct store_req *req, int status, const cJSON *reply)
{
    struct member_op *op = req->data;
    (void)reply;
    if (status != 0) {
        rg_log(RG_WARNING, LOGM, "membership record update: %s", rg_strerror(status));
    }
    op_next(op);
}

static void add_cmd(struct member_op *op, enum store_op kind)
{
    struct store_cmd *c = &op->cmds[op->n_cmds++];
    store_cmd_init(c);
    c->op = kind;
    store_new_req_id("member", c->id);
}

static void notify_removed_cb(void *data, int status, const cJSON *reply, const char *errmsg)
{
    (void)data, (void)status, (void)reply, (void)errmsg;
}

/* The old identity of a rejoining name still holds the leader lease: its
 * removal would strand the lease's renewals, so the join waits until the
 * lease has expired (true: @op is answered). */
static bool lease_blocks(struct member_op *op)
{
    if (!op->old_holds_lease) {
        return false;
    }
    op_end(op, store__reply_new(STORE_RC_CONFLICT,
                                "member %s holds the leader lease under its old identity; try "
                                "again once it has expired",
                                op->old_name));
    return true;
}

/* A wiped node comes back under a new id and its old one is removed; but
 * if the old one still answers, two live processes want one name: refuse
 * (the joiner then refuses to start). Asked before the lease check, so a
 * twin of the live lease holder is told that, not to retry. */
static void old_probed(void *data, int status, const cJSON *reply, const char *errmsg)
{
    struct member_op *op = data;
    uint64_t id = 0;
    (void)errmsg;
    if (status == 0 && store__u64_get(reply, "id", &id) && id == op->old_id) {
        cJSON *a = store__reply_new(STORE_RC_CONFLICT,
                                    "member name %s is already used by a live node at %s (Raft "
                                    "id %" PRIx64 ")",
                                    op->name, op->old_address, op->old_id);
        cJSON_AddTrueToObject(a, "name_in_use");
        op_end(op, a);
        return;
    }
    if (lease_blocks(op)) {
        return;
    }
    op->step++;
    op_next(op);
}

static void check_old(struct member_op *op)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "probe");
    if (store__call(op->s, op->old_address, b, STORE_PROBE_TIMEOUT_MS, old_probed, op, NULL) != 0 &&
        !lease_blocks(op)) {
        op->step++;
        op_next(op);
    }
}

static void op_next(struct member_op *op)
{
    struct store *s = op->s;
    int rv = 0;

    if (s->phase != STORE_RUNNING) {
        op_end(op, store__reply_new(STORE_RC_UNAVAILABLE, "shutting down"));
        return;
    }
    s->change.data = s;
    switch (op->step) {
    case OP_CHECK_OLD:
        if (!op->is_join || op->old_id == 0 || op->old_address[0] == '\0') {
            if (lease_blocks(op)) {
                return;
            }
            op->step++;
            op_next(op);
            return;
        }
        check_old(op);
        return;
    case OP_REMOVE_OLD:
        if (op->old_id == 0 || !store__in_config(s, op->old_id, NULL)) {
            op->step++;
            op_next(op);
            return;
        }
        rg_log(RG_INFO, LOGM, "removing Raft server %" PRIx64 " (%s, %s)%s", op->old_id,
               op->old_name, op->old_address,
               op->is_join ? ": a node with its name or address rejoins under a new identity" : "");
        rv = raft_remove(&s->raft, &s->change, op->old_id, op_change_cb);
        break;
    case OP_ADD:
        if (!op->is_join) {
            op->step = OP_RECORDS;
            op_next(op);
            return;
        }
        rg_log(RG_INFO, LOGM, "adding %s %s (Raft id %" PRIx64 ", %s) as a standby",
               store__kind_name(op->kind), op->name, op->id, op->address);
        rv = raft_add(&s->raft, &s->change, op->id, op->address, op_change_cb);
        break;
    case OP_ASSIGN:
        rv = raft_assign(&s->raft, &s->change, op->id, RAFT_STANDBY, op_change_cb);
        break;
    case OP_RECORDS: {
        if (op->next_cmd < op->n_cmds) {
            struct store_cmd *c = &op->cmds[op->next_cmd++];
            op->req.data = op;
            rv = store_propose(s, &op->req, c, 0, STORE_PROPOSE_TIMEOUT_MS, op_propose_cb);
            if (rv != 0) {
                op_end(op, store__reply_new(STORE_RC_UNAVAILABLE, "%s", rg_strerror(rv)));
            }
            return;
        }
        op->step = OP_DONE;
        if (op->old_id != 0 && op->old_address[0] != '\0') {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "type", "removed");
            store__u64_add(b, "id", op->old_id);
            store__call(s, op->old_address, b, 1000, notify_removed_cb, NULL, NULL);
        }
        cJSON *ok = store__reply_new(STORE_RC_OK, NULL);
        /* A joiner is not caught up before it has applied this far: an empty
         * log's commit index says nothing (store_caught_up). */
        store__u64_add(ok, "index", raft_last_applied(&s->raft));
        op_end(op, ok);
        return;
    }
    case OP_DONE:
        return;
    }
    if (rv != 0) {
        op_end(op,
               store__reply_new(rv == RAFT_CANTCHANGE ? STORE_RC_UNAVAILABLE : STORE_RC_CONFLICT,
                                "membership change refused: %s", raft_errmsg(&s->raft)));
        return;
    }
    s->change_pending = true;
}

static void transfer_cb(struct raft_transfer *req);

static struct member_op *op_new(struct store *s, struct store_responder *r, bool is_join)
{
    struct member_op *op = rg_calloc(1, sizeof *op);
    op->s = s;
    op->r = r;
    op->is_join = is_join;
    s->member_op = op;
    return op;
}

static bool busy(struct store *s, struct store_responder *r)
{
    if (s->member_op != NULL || s->change_pending) {
        r->reply(r, store__reply_new(STORE_RC_UNAVAILABLE, "a membership change is in progress"));
        return true;
    }
    return false;
}

/* The lease holder's node must not disappear from under its lease. */
static bool holds_lease(struct store *s, const char *name)
{
    return strcmp(s->state.lease.holder, name) == 0 &&
           store_lease_valid(&s->state.lease, store_now_ct(s));
}

static const char *config_address(const struct store *s, uint64_t id)
{
    const struct raft_configuration *c = &s->raft.configuration;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].id == id) {
            return c->servers[i].address;
        }
    }
    return NULL;
}

/* An identity the joiner replaces: same address in the configuration, or
 * same name in the peers records, under another id. */
static uint64_t old_identity(struct store *s, uint64_t id, const char *name, const char *address)
{
    const struct raft_configuration *c = &s->raft.configuration;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].id != id && strcmp(c->servers[i].address, address) == 0) {
            return c->servers[i].id;
        }
    }
    const struct store_peer *p = store_state_peer_by_name(&s->state, name);
    return p != NULL && p->id != id ? p->id : 0;
}

static int parse_join(const cJSON *b, struct member_op *op, char *err, size_t errlen)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
    const cJSON *address = cJSON_GetObjectItemCaseSensitive(b, "address");
    const cJSON *api_url = cJSON_GetObjectItemCaseSensitive(b, "api_url");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(b, "kind");
    if (!store__u64_get(b, "id", &op->id) || op->id == 0) {
        snprintf(err, errlen, "field \"id\": must be a non-zero decimal string");
        return -1;
    }
    if (!cJSON_IsString(name) || !store__name_valid(name->valuestring)) {
        snprintf(err, errlen, "field \"name\": must match [A-Za-z0-9._-]{1,63}");
        return -1;
    }
    if (!cJSON_IsString(address) || !store__token_valid(address->valuestring, 63, false)) {
        snprintf(err, errlen, "field \"address\": must be a Raft address");
        return -1;
    }
    if (!cJSON_IsString(api_url) || !store__token_valid(api_url->valuestring, 255, true)) {
        snprintf(err, errlen, "field \"api_url\": must be a URL without spaces");
        return -1;
    }
    if (!cJSON_IsString(kind) ||
        (strcmp(kind->valuestring, "member") != 0 && strcmp(kind->valuestring, "witness") != 0)) {
        snprintf(err, errlen, "field \"kind\": must be \"member\" or \"witness\"");
        return -1;
    }
    snprintf(op->name, sizeof op->name, "%s", name->valuestring);
    snprintf(op->address, sizeof op->address, "%s", address->valuestring);
    snprintf(op->api_url, sizeof op->api_url, "%s", api_url->valuestring);
    op->kind = strcmp(kind->valuestring, "witness") == 0 ? STORE_PEER_WITNESS : STORE_PEER_MEMBER;
    return 0;
}

static void add_peer_set(struct member_op *op)
{
    add_cmd(op, STORE_OP_PEER_SET);
    struct store_cmd *c = &op->cmds[op->n_cmds - 1];
    c->peer_id = op->id;
    snprintf(c->name, sizeof c->name, "%s", op->name);
    snprintf(c->address, sizeof c->address, "%s", op->address);
    snprintf(c->api_url, sizeof c->api_url, "%s", op->api_url);
    c->kind = op->kind;
}

void store__handle_join(struct store *s, const cJSON *body, struct store_responder *r)
{
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(body, "scope");
    char err[RG_ERRMSG_SIZE];
    struct member_op tmp = {0};

    if (!cJSON_IsString(scope) || strcmp(scope->valuestring, s->scope) != 0) {
        r->reply(r, store__reply_new(STORE_RC_CONFLICT, "this is cluster \"%s\"", s->scope));
        return;
    }
    if (parse_join(body, &tmp, err, sizeof err) != 0) {
        r->reply(r, store__reply_new(STORE_RC_BAD, "%s", err));
        return;
    }
    if (busy(s, r)) {
        return;
    }
    uint64_t old = old_identity(s, tmp.id, tmp.name, tmp.address);
    struct member_op *op = op_new(s, r, true);
    memcpy(op->name, tmp.name, sizeof op->name);
    memcpy(op->address, tmp.address, sizeof op->address);
    memcpy(op->api_url, tmp.api_url, sizeof op->api_url);
    op->id = tmp.id;
    op->kind = tmp.kind;
    op->old_id = old;
    if (old != 0) {
        const struct store_peer *p = store_state_peer(&s->state, old);
        snprintf(op->old_name, sizeof op->old_name, "%s", p != NULL ? p->name : "?");
        op->old_holds_lease = p != NULL && holds_lease(s, p->name);
        const char *a = config_address(s, old);
        snprintf(op->old_address, sizeof op->old_address, "%s", a != NULL ? a : "");
        if (p != NULL) {
            add_cmd(op, STORE_OP_PEER_DEL);
            op->cmds[op->n_cmds - 1].peer_id = old;
        }
    }
    add_peer_set(op);
    int role;
    if (store__in_config(s, op->id, &role)) {
        /* A retry after our answer was lost: the Raft part is done. */
        op->step = role == RAFT_SPARE ? OP_ASSIGN : OP_RECORDS;
    }
    op_next(op);
}

void store__handle_remove(struct store *s, const cJSON *body, struct store_responder *r)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    if (!cJSON_IsString(name) || !store__name_valid(name->valuestring)) {
        r->reply(r, store__reply_new(STORE_RC_BAD, "field \"name\": must be a member name"));
        return;
    }
    const struct store_peer *p = store_state_peer_by_name(&s->state, name->valuestring);
    const struct store_member *m = store_state_member(&s->state, name->valuestring);
    if (p == NULL && m == NULL) {
        r->reply(r,
                 store__reply_new(STORE_RC_NOTFOUND, "no member named \"%s\"", name->valuestring));
        return;
    }
    if (holds_lease(s, name->valuestring)) {
        r->reply(r,
                 store__reply_new(STORE_RC_CONFLICT, "%s holds the leader lease: switch over first",
                                  name->valuestring));
        return;
    }
    if (p != NULL && p->id == s->id) {
        /* The leader cannot commit its own removal safely: hand over first;
         * the requester retries at the new leader. */
        if (!s->transfer_pending && raft_transfer(&s->raft, &s->transfer, 0, transfer_cb) == 0) {
            s->transfer_pending = true;
        }
        r->reply(r, store__reply_new(STORE_RC_UNAVAILABLE,
                                     "handing Raft leadership over before removing this node"));
        return;
    }
    if (busy(s, r)) {
        return;
    }
    struct member_op *op = op_new(s, r, false);
    if (p != NULL) {
        op->old_id = p->id;
        snprintf(op->old_name, sizeof op->old_name, "%s", p->name);
        const char *a = config_address(s, p->id);
        snprintf(op->old_address, sizeof op->old_address, "%s", a != NULL ? a : p->address);
        add_cmd(op, STORE_OP_PEER_DEL);
        op->cmds[op->n_cmds - 1].peer_id = p->id;
    }
    if (m != NULL) {
        add_cmd(op, STORE_OP_MEMBER_DEL);
        snprintf(op->cmds[op->n_cmds - 1].name, STORE_NAME_SIZE, "%s", m->name);
    }
    op_next(op);
}

/* --- leadership transfer ---------------------------------------------------- */

static void transfer_cb(struct raft_transfer *req)
{
    struct store *s = rg_container_of(req, struct store, transfer);
    struct store_responder *r = s->transfer_resp;
    char buf[64];
    s->transfer_pending = false;
    s->transfer_resp = NULL;
    if (r == NULL) {
        return;
    }
    raft_id lid = 0;
    const char *laddr;
    if (s->raft_on) {
        raft_leader(&s->raft, &lid, &laddr);
    }
    if (lid != 0 && lid != s->id) {
        cJSON *a = store__reply_new(STORE_RC_OK, NULL);
        cJSON_AddStringToObject(a, "leader", store__server_name(s, lid, buf, sizeof buf));
        r->reply(r, a);
    } else {
        r->reply(r, store__reply_new(STORE_RC_CONFLICT, "leadership did not move"));
    }
}

void store__handle_transfer(struct store *s, const cJSON *body, struct store_responder *r)
{
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(body, "to");
    uint64_t id = 0;
    if (cJSON_IsString(to) && to->valuestring[0] != '\0') {
        const struct store_peer *p = store_state_peer_by_name(&s->state, to->valuestring);
        int role = -1;
        if (p == NULL || !store__in_config(s, p->id, &role) || role != RAFT_VOTER) {
            r->reply(r, store__reply_new(STORE_RC_CONFLICT, "\"%s\" is not a Raft voter",
                                         to->valuestring));
            return;
        }
        if (p->id == s->id) {
            cJSON *a = store__reply_new(STORE_RC_OK, NULL);
            cJSON_AddStringToObject(a, "leader", s->name);
            r->reply(r, a);
            return;
        }
        id = p->id;
    }
    if (s->transfer_pending) {
        r->reply(r, store__reply_new(STORE_RC_UNAVAILABLE, "a transfer is in progress"));
        return;
    }
    int rv = raft_transfer(&s->raft, &s->transfer, id, transfer_cb);
    if (rv != 0) {
        r->reply(r, store__reply_new(STORE_RC_CONFLICT, "cannot transfer leadership: %s",
                                     raft_strerror(rv)));
        return;
    }
    s->transfer_pending = true;
    s->transfer_resp = r;
}

/* --- invitations -------------------------------------------------------------- */

struct invite_ctx {
    struct store_responder *r;
};

static void invite_cb(void *data, int status, const cJSON *reply, const char *errmsg)
{
    struct invite_ctx *ic = data;
    struct store_responder *r = ic->r;
    rg_free(ic);
    if (status != 0) {
        r->reply(r, store__reply_new(STORE_RC_CONFLICT, "could not reach the node: %s: %s",
                                     rg_strerror(status), errmsg));
        return;
    }
    r->reply(r, cJSON_Duplicate(reply, 1));
}

void store__handle_invite(struct store *s, const cJSON *body, struct store_responder *r)
{
    const cJSON *address = cJSON_GetObjectItemCaseSensitive(body, "address");
    char host[64];
    unsigned port;
    if (!cJSON_IsString(address) || strlen(address->valuestring) >= sizeof host ||
        sscanf(address->valuestring, "%63[0-9.]:%u", host, &port) != 2) {
        r->reply(r, store__reply_new(STORE_RC_BAD, "field \"address\": must be a.b.c.d:port"));
        return;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "welcome");
    cJSON_AddStringToObject(b, "scope", s->scope);
    cJSON *join = cJSON_AddArrayToObject(b, "join");
    const struct raft_configuration *c = &s->raft.configuration;
    for (unsigned i = 0; i < c->n; i++) {
        cJSON_AddItemToArray(join, cJSON_CreateString(c->servers[i].address));
    }
    struct invite_ctx *ic = rg_calloc(1, sizeof *ic);
    ic->r = r;
    if (store__call(s, address->valuestring, b, 2000, invite_cb, ic, NULL) != 0) {
        rg_free(ic);
        r->reply(r, store__reply_new(STORE_RC_BAD, "cannot call %s", address->valuestring));
    }
}
