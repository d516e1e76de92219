/*
 * store_rpc: the peer RPC endpoint (requests that arrived over rtx's RPC
 * channel, already authenticated with the cluster secret) and the leader's
 * handling of proposals.
 *
 * Every request is one JSON object with a "type"; every answer is one JSON
 * object with a "code" (HTTP's meanings, see store_internal.h):
 *
 *   probe     any node: who are you, are you pristine, who leads (discovery,
 *             liveness of standbys, the membership check of an orphan)
 *   welcome   a pristine node: join the cluster of these addresses
 *   removed   a former member: the leader removed you
 *   propose   the leader: apply this command   -> {"index", "result"}
 *   join      the leader: add this node        (store_member.c)
 *   remove    the leader: remove this member   (store_member.c)
 *   transfer  the leader: hand leadership over (store_member.c)
 *   invite    the leader: welcome the node at this address (store_member.c)
 *   (other)   the application's handler (store_set_app_rpc), e.g. "status"
 *
 * A leader-directed request reaching a node that does not lead (or whose
 * barrier has not applied, or that is transferring leadership) is answered
 * 421 or 503 with the leader it knows; the requester tries again. A proposal
 * from a node outside the Raft configuration is answered 410.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg_log.h"
#include "raft/store_internal.h"

#define LOGM "store"

/* --- JSON helpers -------------------------------------------------------- */

void store__u64_add(cJSON *o, const char *key, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    cJSON_AddStringToObject(o, key, buf);
}

bool store__u64_get(const cJSON *o, const char *key, uint64_t *v)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(j) || j->valuestring[0] < '0' || j->valuestring[0] > '9') {
        return false;
    }
    char *end;
    unsigned long long x = strtoull(j->valuestring, &end, 10);
    if (*end != '\0') {
        return false;
    }
    *v = x;
    return true;
}

cJSON *store__reply_new(int code, const char *fmt, ...)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "code", code);
    if (fmt != NULL) {
        char buf[RG_ERRMSG_SIZE];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        cJSON_AddStringToObject(r, "error", buf);
    }
    return r;
}

cJSON *store__leader_hint(struct store *s, int code)
{
    cJSON *r = store__reply_new(code, code == STORE_RC_MISDIRECTED
                                          ? "not the Raft leader"
                                          : "the Raft leader is not ready; try again");
    raft_id lid = 0;
    const char *laddr = NULL;
    if (s->raft_on) {
        raft_leader(&s->raft, &lid, &laddr);
    }
    if (lid != 0) {
        cJSON *l = cJSON_AddObjectToObject(r, "leader");
        store__u64_add(l, "id", lid);
        cJSON_AddStringToObject(l, "address", laddr);
    } else {
        cJSON_AddNullToObject(r, "leader");
    }
    return r;
}

/* --- proposals, on the leader ------------------------------------------- */

struct apply_req {
    struct raft_apply req;
    struct store *s;
    struct store_responder *r;
    bool fault; /* the test fault applies to this one */
};

static void fault_timer_cb(uv_timer_t *t)
{
    struct store *s = rg_container_of(t, struct store, fault_timer);
    struct store_responder *r = s->fault_resp;
    cJSON *body = s->fault_body;
    s->fault_resp = NULL;
    s->fault_body = NULL;
    if (r != NULL) {
        rg_log(RG_WARNING, LOGM, "test fault: sending the delayed reply now");
        r->reply(r, body);
    }
}

void store__fault_flush(struct store *s)
{
    uv_timer_stop(&s->fault_timer);
    fault_timer_cb(&s->fault_timer);
}

static void apply_done_cb(struct raft_apply *req, int status, void *result)
{
    struct apply_req *ar = rg_container_of(req, struct apply_req, req);
    struct store *s = ar->s;
    struct store_responder *r = ar->r;
    cJSON *body;

    if (status == 0 && result != NULL) {
        const struct store_result *res = result;
        body = store__reply_new(STORE_RC_OK, NULL);
        store__u64_add(body, "index", req->index);
        cJSON *jr = cJSON_AddObjectToObject(body, "result");
        cJSON_AddNumberToObject(jr, "code", res->code);
        store__u64_add(jr, "epoch", res->epoch);
        cJSON_AddStringToObject(jr, "reason", res->reason);
    } else {
        /* Appended but maybe not committed: the outcome is unknown, and the
         * proposer's retry under the same id finds out. */
        body =
            store__reply_new(STORE_RC_UNAVAILABLE, "leadership lost before the entry applied: %s",
                             raft_strerror(status));
    }
    bool fault = ar->fault;
    rg_free(ar);
    if (status == 0 && fault && s->fault_resp == NULL) {
        s->fault_prefix[0] = '\0';
        s->fault_resp = r;
        s->fault_body = body;
        rg_log(RG_WARNING, LOGM, "test fault: delaying the reply to a forwarded proposal by %u ms",
               2 * STORE_ATTEMPT_TIMEOUT_MS);
        uv_timer_start(&s->fault_timer, fault_timer_cb, 2 * STORE_ATTEMPT_TIMEOUT_MS, 0);
        return;
    }
    r->reply(r, body);
}

static void handle_propose(struct store *s, const cJSON *body, struct store_responder *r)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(body, "cmd");
    char err[RG_ERRMSG_SIZE] = "";
    struct store_cmd cmd;

    if (r->peer_id != 0 && !store__in_config(s, r->peer_id, NULL)) {
        r->reply(r, store__reply_new(STORE_RC_GONE, "not a member of this cluster"));
        return;
    }
    if (!cJSON_IsString(text)) {
        r->reply(r, store__reply_new(STORE_RC_BAD, "field \"cmd\": must be a string"));
        return;
    }
    int rv = store_cmd_decode(text->valuestring, strlen(text->valuestring), &cmd, err);
    if (rv != 0) {
        r->reply(r, store__reply_new(STORE_RC_BAD, "command: %s", err));
        return;
    }
    bool fault = s->fault_prefix[0] != '\0' && r->peer_id != 0 &&
                 strncmp(cmd.id, s->fault_prefix, strlen(s->fault_prefix)) == 0;
    cmd.ct = store__next_ct(s);
    char *enc;
    size_t len;
    store_cmd_encode(&cmd, &enc, &len);
    store_cmd_close(&cmd);
    /* c-raft 0.15's decoder of an entries batch steps over each payload
     * rounded up to 8 bytes, which its network encoder does not pad: a
     * follower receiving several entries in one message got the second one
     * shifted. Pad every payload to a multiple of 8 with spaces, which JSON
     * ignores. */
    size_t padded = (len + 7) & ~(size_t)7;
    struct raft_buffer buf = {.base = raft_malloc(padded), .len = padded};
    memcpy(buf.base, enc, len);
    memset((char *)buf.base + len, ' ', padded - len);
    rg_free(enc);
    struct apply_req *ar = rg_calloc(1, sizeof *ar);
    ar->s = s;
    ar->r = r;
    ar->fault = fault;
    rv = raft_apply(&s->raft, &ar->req, &buf, 1, apply_done_cb);
    if (rv != 0) {
        raft_free(buf.base);
        rg_free(ar);
        r->reply(r,
                 store__reply_new(STORE_RC_UNAVAILABLE, "could not append: %s", raft_strerror(rv)));
    }
}

void store__leader_handle(struct store *s, const cJSON *body, struct store_responder *r)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
    if (!cJSON_IsString(type)) {
        r->reply(r, store__reply_new(STORE_RC_BAD, "field \"type\": must be a string"));
        return;
    }
    if (!store_is_leader(s)) {
        bool soon = s->raft_on && raft_state(&s->raft) == RAFT_LEADER;
        r->reply(r, store__leader_hint(s, soon ? STORE_RC_UNAVAILABLE : STORE_RC_MISDIRECTED));
        return;
    }
    if (s->raft.transfer != NULL) {
        r->reply(r, store__reply_new(STORE_RC_UNAVAILABLE, "transferring Raft leadership"));
        return;
    }
    const char *t = type->valuestring;
    if (strcmp(t, "propose") == 0) {
        handle_propose(s, body, r);
    } else if (strcmp(t, "join") == 0) {
        store__handle_join(s, body, r);
    } else if (strcmp(t, "remove") == 0) {
        store__handle_remove(s, body, r);
    } else if (strcmp(t, "transfer") == 0) {
        store__handle_transfer(s, body, r);
    } else if (strcmp(t, "invite") == 0) {
        store__handle_invite(s, body, r);
    } else {
        r->reply(r, store__reply_new(STORE_RC_BAD, "unknown request type \"%s\"", t));
    }
}

/* --- the RPC endpoint ------------------------------------------------------ */

struct rpc_resp {
    struct store_responder r;
    struct rtx_rpc_req *req;
};

struct store_answer {
    struct rtx_rpc_req *req;
};

static bool is_leader_request(const char *t)
{
    static const char *const types[] = {"propose", "join", "remove", "transfer", "invite"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(types); i++) {
        if (strcmp(t, types[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void rpc_reply(struct store_responder *r, cJSON *body)
{
    struct rpc_resp *rr = rg_container_of(r, struct rpc_resp, r);
    char *text = cJSON_PrintUnformatted(body);
    rtx_rpc_reply(rr->req, text, strlen(text));
    cJSON_free(text);
    cJSON_Delete(body);
    rg_free(rr);
}

static void reply_now(struct rtx_rpc_req *req, cJSON *body)
{
    struct rpc_resp *rr = rg_calloc(1, sizeof *rr);
    rr->req = req;
    rpc_reply(&rr->r, body);
}

void store__rpc_handler(void *data,
                        struct rtx_rpc_req *req,
                        uint64_t peer_id,
                        const char *peer_address,
                        const char *body,
                        size_t len)
{
    struct store *s = data;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");

    if (!cJSON_IsString(type)) {
        rg_log(RG_WARNING, LOGM, "malformed peer request from %s", peer_address);
        reply_now(req, store__reply_new(STORE_RC_BAD, "expected a JSON object with \"type\""));
        cJSON_Delete(j);
        return;
    }
    const char *t = type->valuestring;
    if (s->phase == STORE_CLOSING || s->phase == STORE_FAILED) {
        reply_now(req, store__reply_new(STORE_RC_UNAVAILABLE, "shutting down"));
    } else if (strcmp(t, "probe") == 0) {
        reply_now(req, store__probe_answer(s, peer_id));
    } else if (strcmp(t, "welcome") == 0) {
        reply_now(req, store__invited(s, j));
    } else if (strcmp(t, "removed") == 0) {
        uint64_t id = 0;
        if (store__u64_get(j, "id", &id) && id == s->id) {
            store__removed(s, "the Raft leader removed us");
        }
        reply_now(req, store__reply_new(STORE_RC_OK, NULL));
    } else if (is_leader_request(t)) {
        struct rpc_resp *rr = rg_calloc(1, sizeof *rr);
        rr->req = req;
        rr->r.reply = rpc_reply;
        rr->r.peer_id = peer_id;
        store__leader_handle(s, j, &rr->r);
    } else if (s->app_rpc != NULL) {
        struct store_answer *a = rg_calloc(1, sizeof *a);
        a->req = req;
        s->app_rpc(s->app_rpc_data, j, a);
    } else {
        reply_now(req, store__reply_new(STORE_RC_NOTFOUND, "unknown request type \"%s\"", t));
    }
    cJSON_Delete(j);
}

void store_set_app_rpc(struct store *s, store_app_rpc fn, void *data)
{
    s->app_rpc = fn;
    s->app_rpc_data = data;
}

void store_answer(struct store_answer *a, cJSON *body)
{
    if (!cJSON_HasObjectItem(body, "code")) {
        cJSON_AddNumberToObject(body, "code", STORE_RC_OK);
    }
    reply_now(a->req, body);
    rg_free(a);
}
