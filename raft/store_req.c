/*
 * store_req: requests to the Raft leader — proposals, joins, removals,
 * leadership transfers — from any node, one hop.
 *
 * Happy path. store__req_start queues the request; each attempt either hands
 * it to this node's own leader handler (when we lead and our clock runs) or
 * sends it over the authenticated RPC channel to the leader that
 * raft_leader() names. The leader answers after applying; the answer's
 * "code" (HTTP's meanings) decides: 200/202 done, 421/503 try again (a new
 * leader, a barrier not yet applied), 410 we are not a member.
 *
 * Failure modes. An attempt that times out or loses its connection has an
 * unknown outcome: it is retried under the same request id (the state
 * machine's dedup ring makes the retry harmless) until the caller's deadline,
 * which then yields RG_EUNKNOWN. Renewals (STORE_NO_RETRY) get one attempt.
 *
 * States of one request:
 *
 *   WAITING (timer) --attempt--> IN_CALL (rtx call) or LOCAL (our handler)
 *        ^                               |
 *        +-------- retry ----------------+--> DONE: the timer closes, then cb
 *
 * The callback runs from the timer's close callback, so the caller may free
 * the request inside it; it never runs inside the call that started it.
 */
#include <inttypes.h>
#include <string.h>

#include "agent/rg_log.h"
#include "raft/store_internal.h"

#define LOGM "store"

/* --- one RPC call ------------------------------------------------------- */

struct store_call {
    struct rtx_call call;
    store_call_cb cb;
    void *data;
};

static void
call_done_cb(struct rtx_call *call, int status, const char *body, size_t len, const char *errmsg)
{
    struct store_call *c = rg_container_of(call, struct store_call, call);
    cJSON *reply = NULL;
    char err[RG_ERRMSG_SIZE];

    (void)len;
    snprintf(err, sizeof err, "%s", errmsg != NULL ? errmsg : "");
    if (status == 0) {
        reply = cJSON_Parse(body);
        if (!cJSON_IsObject(reply)) {
            status = RG_EPARSE;
            snprintf(err, sizeof err, "malformed answer");
        }
    }
    c->cb(c->data, status, status == 0 ? reply : NULL, err);
    cJSON_Delete(reply);
    rg_free(c);
}

int store__call(struct store *s,
                const char *address,
                cJSON *body,
                unsigned timeout_ms,
                store_call_cb cb,
                void *data,
                struct store_call **out)
{
    struct store_call *c = rg_calloc(1, sizeof *c);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    c->cb = cb;
    c->data = data;
    int rv = rtx_call_start(&s->transport, &c->call, address, text, strlen(text), timeout_ms, s->id,
                            s->self_addr, call_done_cb);
    cJSON_free(text);
    if (rv != 0) {
        rg_free(c);
        c = NULL;
    }
    if (out != NULL) {
        *out = c;
    }
    return rv;
}

/* --- requests ------------------------------------------------------------ */

/* The responder of a request this node handles itself as leader. Detached
 * (req NULL) when the request ends first, e.g. at shutdown. */
struct local_resp {
    struct store_responder r;
    struct store_req *req;
};

static void attempt(struct store_req *req);
static void handle_answer(struct store_req *req, const cJSON *reply);

static void req_closed_cb(uv_handle_t *h)
{
    struct store_req *req = h->data;
    int status = req->status;
    cJSON *reply = req->reply;
    store_req_cb cb = req->cb;
    req->reply = NULL;
    cb(req, status, reply); /* may free req */
    cJSON_Delete(reply);
}

static void finish(struct store_req *req, int status, const cJSON *reply)
{
    struct store *s = req->s;
    if (req->done) {
        return;
    }
    req->done = true;
    req->status = status;
    cJSON_Delete(req->reply); /* a held answer (STORE__APPLY_WAIT) that is not the one given */
    req->reply = reply != NULL ? cJSON_Duplicate(reply, 1) : NULL;
    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else {
        s->reqs = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    }
    req->next = req->prev = NULL;
    rg_free(req->body);
    req->body = NULL;
    uv_close((uv_handle_t *)&req->timer, req_closed_cb);
}

static void timer_cb(uv_timer_t *t)
{
    attempt(rg_container_of(t, struct store_req, timer));
}

static void retry_in(struct store_req *req, uint64_t ms)
{
    uint64_t now = rg_boottime_ms();
    if (now + ms >= req->deadline) {
        ms = req->deadline > now ? req->deadline - now : 0;
    }
    uv_timer_start(&req->timer, timer_cb, ms, 0);
}

static void call_cb(void *data, int status, const cJSON *reply, const char *errmsg)
{
    struct store_req *req = data;
    struct store *s = req->s;
    req->in_call = false;
    req->call = NULL;
    if (req->done) {
        return;
    }
    if (s->phase == STORE_CLOSING) {
        finish(req, RG_ESHUTDOWN, NULL);
        return;
    }
    if (req->cancelled) {
        finish(req, RG_EUNKNOWN, NULL);
        return;
    }
    if (status != 0) {
        rg_log(RG_DEBUG, LOGM, "request to the leader: attempt %u: %s: %s", req->attempts,
               rg_strerror(status), errmsg);
        if (req->flags & STORE_NO_RETRY) {
            finish(req, RG_EUNKNOWN, NULL);
        } else {
            retry_in(req, STORE_RETRY_DELAY_MS);
        }
        return;
    }
    handle_answer(req, reply);
}

static void local_reply(struct store_responder *r, cJSON *body)
{
    struct local_resp *lr = rg_container_of(r, struct local_resp, r);
    struct store_req *req = lr->req;
    rg_free(lr);
    if (req != NULL) {
        req->local = false;
        req->lresp = NULL;
        if (!req->done) {
            handle_answer(req, body);
        }
    }
    cJSON_Delete(body);
}

#define STORE__APPLY_WAIT (1u << 17)

static void apply_wait_expired(uv_timer_t *t)
{
    struct store_req *req = rg_container_of(t, struct store_req, timer);
    cJSON *reply = req->reply;
    req->reply = NULL;
    finish(req, 0, reply); /* applied on the leader; we are just slow */
    cJSON_Delete(reply);
}

/* A proposal the leader applied at an index this node has not applied yet:
 * hold the answer until it has (store__wait_poke), so that the caller reads
 * its own write here. */
static bool applied_elsewhere(struct store_req *req, const cJSON *reply)
{
    uint64_t index = 0;
    if (req->local || !store__u64_get(reply, "index", &index) ||
        index <= raft_last_applied(&req->s->raft)) {
        return false;
    }
    uint64_t now = rg_boottime_ms();
    req->flags |= STORE__APPLY_WAIT;
    req->wait_index = index;
    req->reply = cJSON_Duplicate(reply, 1);
    uv_timer_start(&req->timer, apply_wait_expired, req->deadline > now ? req->deadline - now : 0,
                   0);
    return true;
}

static void handle_answer(struct store_req *req, const cJSON *reply)
{
    uint64_t code = 0;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(reply, "code");
    if (cJSON_IsNumber(c)) {
        code = (uint64_t)c->valuedouble;
    }
    switch (code) {
    case STORE_RC_OK:
    case STORE_RC_ACCEPTED:
        if (applied_elsewhere(req, reply)) {
            return;
        }
        finish(req, 0, reply);
        return;
    case STORE_RC_MISDIRECTED:
    case STORE_RC_UNAVAILABLE:
        /* Certainly not applied by this attempt (a 503 after a lost
         * leadership is "unknown": the retry's dedup answers it). */
        if (req->flags & STORE_NO_RETRY) {
            finish(req, code == STORE_RC_MISDIRECTED ? RG_ENOTLEADER : RG_EUNKNOWN, reply);
        } else {
            retry_in(req, code == STORE_RC_MISDIRECTED ? 0 : STORE_RETRY_DELAY_MS);
        }
        return;
    case STORE_RC_GONE:
        store__removed(req->s, "the Raft leader answered that we are not a member");
        finish(req, RG_ENOTMEMBER, reply);
        return;
    case STORE_RC_NOTFOUND:
        finish(req, RG_ENOENT, reply);
        return;
    case STORE_RC_CONFLICT:
        finish(req, RG_ECONFLICT, reply);
        return;
    case STORE_RC_BAD:
        finish(req, RG_EINVAL, reply);
        return;
    default:
        finish(req, RG_EIO, reply);
        return;
    }
}

static void attempt(struct store_req *req)
{
    struct store *s = req->s;
    uint64_t now = rg_boottime_ms();

    if (req->done) {
        return;
    }
    if (now >= req->deadline) {
        finish(req, req->maybe_applied ? RG_EUNKNOWN : RG_ETIMEDOUT, NULL);
        return;
    }
    if (s->phase == STORE_REMOVED) {
        finish(req, RG_ENOTMEMBER, NULL);
        return;
    }
    if (s->phase == STORE_FAILED) {
        finish(req, RG_ESHUTDOWN, NULL);
        return;
    }
    if (!s->raft_on) {
        retry_in(req, STORE_RETRY_DELAY_MS * 4); /* not in a cluster yet */
        return;
    }
    req->attempts++;
    if (store_is_leader(s)) {
        struct local_resp *lr = rg_calloc(1, sizeof *lr);
        lr->r.reply = local_reply;
        lr->req = req;
        req->local = true;
        req->lresp = lr;
        req->maybe_applied = true;
        cJSON *body = cJSON_Parse(req->body);
        store__leader_handle(s, body, &lr->r);
        cJSON_Delete(body);
        return;
    }
    raft_id lid;
    const char *laddr;
    raft_leader(&s->raft, &lid, &laddr);
    if (lid == 0 || lid == s->id) {
        retry_in(req, STORE_RETRY_DELAY_MS); /* an election, or our barrier, is under way */
        return;
    }
    unsigned timeout = STORE_ATTEMPT_TIMEOUT_MS;
    if (req->deadline - now < timeout) {
        timeout = (unsigned)(req->deadline - now);
    }
    struct store_call *call;
    if (store__call(s, laddr, cJSON_Parse(req->body), timeout, call_cb, req, &call) != 0) {
        retry_in(req, STORE_RETRY_DELAY_MS);
        return;
    }
    req->in_call = true;
    req->call = call;
    req->maybe_applied = true;
}

/* A fresh request (req->data kept) in s->reqs, its timer initialized. */
static void req_init(
    struct store *s, struct store_req *req, unsigned flags, unsigned timeout_ms, store_req_cb cb)
{
    void *data = req->data;
    memset(req, 0, sizeof *req);
    req->data = data;
    req->s = s;
    req->flags = flags;
    req->deadline = rg_boottime_ms() + timeout_ms;
    req->cb = cb;
    req->next = s->reqs;
    if (s->reqs != NULL) {
        s->reqs->prev = req;
    }
    s->reqs = req;
    uv_timer_init(s->loop, &req->timer);
    req->timer.data = req;
}

int store__req_start(struct store *s,
                     struct store_req *req,
                     cJSON *body,
                     unsigned flags,
                     unsigned timeout_ms,
                     store_req_cb cb)
{
    if (s->phase == STORE_CLOSING || s->phase == STORE_CLOSED || s->phase == STORE_FAILED) {
        cJSON_Delete(body);
        return RG_ESHUTDOWN;
    }
    req_init(s, req, flags, timeout_ms, cb);
    req->body = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    uv_timer_start(&req->timer, timer_cb, 0, 0);
    return 0;
}

/* End @req now with @status, or, while a call is out, once it comes back
 * (call_cb). */
static void abandon(struct store_req *req, int status)
{
    if (req->in_call) {
        rtx_call_cancel(&((struct store_call *)req->call)->call);
        return;
    }
    if (req->lresp != NULL) {
        ((struct local_resp *)req->lresp)->req = NULL;
        req->lresp = NULL;
    }
    uv_timer_stop(&req->timer);
    finish(req, status, NULL);
}

void store__req_cancel_all(struct store *s)
{
    struct store_req *req = s->reqs;
    while (req != NULL) {
        struct store_req *next = req->next;
        abandon(req, RG_ESHUTDOWN);
        req = next;
    }
}

void store_req_cancel(struct store_req *req)
{
    if (req->s == NULL || req->done || req->cancelled) {
        return;
    }
    req->cancelled = true;
    abandon(req, req->maybe_applied ? RG_EUNKNOWN : RG_ECANCELED);
}

/* --- waiting for the state --------------------------------------------------- */

#define STORE__WAIT (1u << 16)

static void wait_expired(uv_timer_t *t)
{
    finish(rg_container_of(t, struct store_req, timer), RG_ETIMEDOUT, NULL);
}

int store_wait(struct store *s,
               struct store_req *req,
               unsigned timeout_ms,
               store_wait_fn check,
               store_req_cb cb)
{
    if (s->phase == STORE_CLOSING || s->phase == STORE_CLOSED || s->phase == STORE_FAILED) {
        return RG_ESHUTDOWN;
    }
    req_init(s, req, STORE__WAIT, timeout_ms, cb);
    req->check = check;
    uv_timer_start(&req->timer, wait_expired, timeout_ms, 0);
    if (check(req, &s->state)) {
        finish(req, 0, NULL); /* cb fires from the timer's close callback */
    }
    return 0;
}

void store__wait_poke(struct store *s)
{
    uint64_t applied = s->raft_on ? raft_last_applied(&s->raft) : 0;
    struct store_req *req = s->reqs;
    while (req != NULL) {
        struct store_req *next = req->next;
        if (req->done) {
            req = next;
            continue;
        }
        if ((req->flags & STORE__WAIT) && req->check(req, &s->state)) {
            finish(req, 0, NULL);
        } else if ((req->flags & STORE__APPLY_WAIT) && applied >= req->wait_index) {
            uv_timer_stop(&req->timer);
            apply_wait_expired(&req->timer);
        }
        req = next;
    }
}

/* --- the public requests -------------------------------------------------- */

int store_propose(struct store *s,
                  struct store_req *req,
                  struct store_cmd *cmd,
                  unsigned flags,
                  unsigned timeout_ms,
                  store_req_cb cb)
{
    char *text;
    size_t len;
    if (cmd->id[0] == '\0') {
        store_cmd_close(cmd);
        return RG_EINVAL;
    }
    cmd->ct = 0; /* the leader stamps it */
    store_cmd_encode(cmd, &text, &len);
    store_cmd_close(cmd);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", "propose");
    cJSON_AddStringToObject(body, "cmd", text);
    rg_free(text);
    return store__req_start(s, req, body, flags, timeout_ms, cb);
}

int store_reply_result(const cJSON *reply, struct store_result *res, uint64_t *index)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(reply, "result");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(r, "code");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(r, "reason");
    memset(res, 0, sizeof *res);
    if (!cJSON_IsNumber(code) || !store__u64_get(r, "epoch", &res->epoch)) {
        return RG_EPARSE;
    }
    res->code = (int)code->valuedouble;
    if (cJSON_IsString(reason)) {
        snprintf(res->reason, sizeof res->reason, "%s", reason->valuestring);
    }
    if (index != NULL && !store__u64_get(reply, "index", index)) {
        *index = 0;
    }
    return 0;
}

static int simple_req(struct store *s,
                      struct store_req *req,
                      const char *type,
                      const char *key,
                      const char *value,
                      unsigned timeout_ms,
                      store_req_cb cb)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", type);
    cJSON_AddStringToObject(body, key, value != NULL ? value : "");
    return store__req_start(s, req, body, 0, timeout_ms, cb);
}

int store_remove(
    struct store *s, struct store_req *req, const char *name, unsigned timeout_ms, store_req_cb cb)
{
    return simple_req(s, req, "remove", "name", name, timeout_ms, cb);
}

int store_invite(struct store *s,
                 struct store_req *req,
                 const char *address,
                 unsigned timeout_ms,
                 store_req_cb cb)
{
    return simple_req(s, req, "invite", "address", address, timeout_ms, cb);
}

int store_transfer(
    struct store *s, struct store_req *req, const char *name, unsigned timeout_ms, store_req_cb cb)
{
    return simple_req(s, req, "transfer", "to", name, timeout_ms, cb);
}

void store_new_req_id(const char *prefix, char *buf)
{
    uint64_t r = 0;
    if (rg_random_bytes(&r, sizeof r) != 0) {
        /* getrandom cannot fail for 8 bytes once the pool is ready; a clock
         * based id is still unique enough for the dedup ring. */
        r = rg_boottime_us() ^ ((uint64_t)rg_realtime_ms() << 20);
    }
    snprintf(buf, STORE_REQ_ID_SIZE, "%.16s-%016" PRIx64, prefix, r);
}

/* --- asking several peers at once ----------------------------------------- */

struct gather {
    struct store *s;
    size_t n, outstanding;
    char **names;
    cJSON **replies;
    store_gather_cb cb;
    void *data;
    uv_timer_t defer; /* keeps the callback out of store_gather itself */
};

struct gather_item {
    struct gather *g;
    size_t i;
};

static void gather_closed(uv_handle_t *h)
{
    struct gather *g = h->data;
    g->cb(g->data, g->n, (const char *const *)g->names, g->replies);
    for (size_t i = 0; i < g->n; i++) {
        rg_free(g->names[i]);
        cJSON_Delete(g->replies[i]);
    }
    rg_free(g->names);
    rg_free(g->replies);
    rg_free(g);
}

static void gather_release(struct gather *g)
{
    if (--g->outstanding == 0) {
        g->defer.data = g;
        uv_close((uv_handle_t *)&g->defer, gather_closed);
    }
}

static void gather_defer_cb(uv_timer_t *t)
{
    gather_release(rg_container_of(t, struct gather, defer));
}

static void gather_one_cb(void *data, int status, const cJSON *reply, const char *errmsg)
{
    struct gather_item *it = data;
    (void)errmsg;
    if (status == 0) {
        it->g->replies[it->i] = cJSON_Duplicate(reply, 1);
    }
    gather_release(it->g);
    rg_free(it);
}

int store_gather(struct store *s,
                 const char *const *names,
                 size_t n,
                 const cJSON *body,
                 unsigned timeout_ms,
                 store_gather_cb cb,
                 void *data)
{
    if (s->phase == STORE_CLOSING || s->phase == STORE_CLOSED) {
        return RG_ESHUTDOWN;
    }
    struct gather *g = rg_calloc(1, sizeof *g);
    g->s = s;
    g->n = n;
    g->names = rg_calloc(n + 1, sizeof *g->names);
    g->replies = rg_calloc(n + 1, sizeof *g->replies);
    g->cb = cb;
    g->data = data;
    g->outstanding = 1; /* the deferral's */
    for (size_t i = 0; i < n; i++) {
        g->names[i] = rg_strdup(names[i]);
        const struct store_peer *p = store_state_peer_by_name(&s->state, names[i]);
        if (p == NULL) {
            continue;
        }
        struct gather_item *it = rg_calloc(1, sizeof *it);
        it->g = g;
        it->i = i;
        if (store__call(s, p->address, cJSON_Duplicate(body, 1), timeout_ms, gather_one_cb, it,
                        NULL) == 0) {
            g->outstanding++;
        } else {
            rg_free(it);
        }
    }
    uv_timer_init(s->loop, &g->defer);
    uv_timer_start(&g->defer, gather_defer_cb, 0, 0);
    return 0;
}
