/*
 * rtx_client: outgoing connections, for c-raft (t->connect) and for RPC
 * calls (rtx_call_start). Both run the same handshake:
 *
 *   TCP connect [CONNECTING] -> read HELLO [HELLO] -> write AUTH, read OK
 *   [AUTH] -> both done:
 *     RAFT: hand the stream to c-raft's connect callback (DONE)
 *     RPC:  write the request frame, read the response length [REQUEST]
 *           and body [RESPONSE] -> close, then the call's callback
 *
 * Every attempt has one deadline (2 s for Raft connects, the caller's
 * timeout for calls). Failure modes, with the status reported:
 *   - TCP connect fails, the peer closes or resets before OK: RG_ECONNECT
 *     (c-raft: RAFT_NOCONNECTION); a close after our AUTH means the server
 *     refused it: RG_EAUTH;
 *   - HELLO with a wrong magic or version, oversize response: RG_EPARSE;
 *   - OK does not carry the server's proof of the secret: RG_EAUTH;
 *   - deadline: RG_ETIMEDOUT; rtx_call_cancel, rtx_shutdown: RG_ECANCELED;
 *   - t->close: pending Raft connects complete with RAFT_CANCELED, which is
 *     what c-raft's client expects while it is closing.
 * Except after a successful Raft hand-over, every callback fires from the
 * last handle's close callback, so the caller may free its request there and
 * no callback runs inside the call that started the work.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/rg_log.h"
#include "raft/rtx_internal.h"

enum out_kind { OUT_RAFT, OUT_CALL };
enum out_state {
    OUT_CONNECTING,
    OUT_HELLO,
    OUT_AUTH,
    OUT_REQUEST,
    OUT_RESPONSE,
    OUT_CLOSING,
    OUT_DONE
};

struct rtx_out {
    struct rtx *x; /* borrowed */
    struct rtx_link link;
    enum out_kind kind;
    enum out_state state;
    uv_tcp_t *tcp; /* owned until handed to c-raft (then NULL); raft_malloc'd */
    uv_timer_t timer;
    unsigned open; /* handles not closed yet */
    uv_connect_t creq;
    uv_write_t wauth;
    uv_write_t wreq;
    bool auth_written;
    bool ok_read;
    struct rtx_reader reader;
    char target[RTX_ADDR_MAX + 1];

    unsigned char hello[RTX_HELLO_SIZE];
    unsigned char server_nonce[RTX_NONCE_SIZE];
    unsigned char client_nonce[RTX_NONCE_SIZE];
    unsigned char auth[RTX_AUTH_MAX_SIZE];
    unsigned char ok[RTX_OK_SIZE];
    unsigned char len_buf[4];

    int status; /* RG_E*, for calls */
    char errmsg[RG_ERRMSG_SIZE];

    /* OUT_RAFT */
    struct raft_uv_connect *req; /* borrowed: c-raft's */
    int raft_status;             /* RAFT_NOCONNECTION or RAFT_CANCELED on failure */

    /* OUT_CALL */
    struct rtx_call *call; /* borrowed: the caller's */
    raft_id self_id;
    char self_address[RTX_ADDR_MAX + 1];
    unsigned char *request; /* owned: the request frame */
    size_t request_len;
    char *resp; /* owned */
    size_t resp_len;
};

static void out_close_cb(uv_handle_t *handle);

static void out_finish(struct rtx_out *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void out_finish(struct rtx_out *out, int status, const char *fmt, ...)
{
    va_list ap;
    if (out->state == OUT_CLOSING || out->state == OUT_DONE) {
        return;
    }
    out->state = OUT_CLOSING;
    out->status = status;
    va_start(ap, fmt);
    vsnprintf(out->errmsg, sizeof out->errmsg, fmt, ap);
    va_end(ap);
    if (out->kind == OUT_RAFT && status != 0) {
        if (status == RG_EAUTH || status == RG_EPARSE) {
            rtx__warn(out->x, "raft connection: %s", out->errmsg);
        } else {
            rg_log(RG_DEBUG, "rtx", "raft connection: %s", out->errmsg);
        }
    }
    uv_close((uv_handle_t *)out->tcp, out_close_cb);
    uv_close((uv_handle_t *)&out->timer, out_close_cb);
}

static void out_fire(struct rtx_out *out)
{
    struct rtx *x = out->x;
    if (out->kind == OUT_RAFT) {
        struct raft_uv_connect *req = out->req;
        RG_ASSERT(x->n_raft_connects > 0);
        x->n_raft_connects--;
        req->cb(req, NULL, out->raft_status);
        rtx__maybe_fire_close(x);
    } else {
        struct rtx_call *call = out->call;
        call->impl = NULL;
        call->cb(call, out->status, out->status == 0 ? out->resp : NULL,
                 out->status == 0 ? out->resp_len : 0, out->status == 0 ? "" : out->errmsg);
    }
}

static void out_close_cb(uv_handle_t *handle)
{
    struct rtx_out *out;
    struct rtx *x;

    if (handle->type == UV_TIMER) {
        out = rg_container_of(handle, struct rtx_out, timer);
    } else {
        out = rg_container_of(handle->data, struct rtx_out, reader);
        raft_free(handle);
        out->tcp = NULL;
    }
    x = out->x;
    if (--out->open == 0) {
        rtx__link_remove(&out->link);
        x->n_outs--;
        if (out->state == OUT_CLOSING) {
            out_fire(out);
        }
        rg_free(out->request);
        rg_free(out->resp);
        rg_free(out);
    }
    /* Last: this may fire the shutdown callback, which may free x. */
    rtx__handle_closed(x);
}

static void out_timer_cb(uv_timer_t *timer)
{
    struct rtx_out *out = rg_container_of(timer, struct rtx_out, timer);
    out_finish(out, RG_ETIMEDOUT, "%s to %s timed out",
               out->kind == OUT_RAFT ? "handshake" : "call", out->target);
}

static void out_read(struct rtx_out *out, void *buf, size_t want, rtx_reader_cb cb)
{
    int rv = rtx__read_start(out->tcp, &out->reader, buf, want, cb);
    if (rv != 0) {
        out_finish(out, RG_ECONNECT, "could not read from %s: %s", out->target, uv_strerror(rv));
    }
}

static bool out_read_failed(struct rtx_out *out, int status, const char *what)
{
    if (status == 0) {
        return false;
    }
    out_finish(out, RG_ECONNECT, "%s: %s", what,
               status == UV_EOF ? "connection closed by peer" : uv_strerror(status));
    return true;
}

/* --- RPC request and response ------------------------------------------- */

static void out_body_cb(struct rtx_reader *r, int status)
{
    struct rtx_out *out = rg_container_of(r, struct rtx_out, reader);
    if (out_read_failed(out, status, "reading the response")) {
        return;
    }
    out->resp[out->resp_len] = '\0';
    out_finish(out, 0, "%s", "");
}

static void out_len_cb(struct rtx_reader *r, int status)
{
    struct rtx_out *out = rg_container_of(r, struct rtx_out, reader);
    uint32_t len;

    if (out_read_failed(out, status, "reading the response")) {
        return;
    }
    len = rtx__get32(out->len_buf);
    if (len > RTX_MAX_FRAME) {
        out_finish(out, RG_EPARSE, "response of %u bytes from %s exceeds the limit of %u bytes",
                   len, out->target, RTX_MAX_FRAME);
        return;
    }
    out->resp_len = len;
    out->resp = rg_malloc((size_t)len + 1);
    out->state = OUT_RESPONSE;
    if (len == 0) {
        out_body_cb(&out->reader, 0);
        return;
    }
    out_read(out, out->resp, len, out_body_cb);
}

static void out_request_written_cb(uv_write_t *w, int status)
{
    struct rtx_out *out = rg_container_of(w, struct rtx_out, wreq);
    if (status != 0 && (out->state == OUT_REQUEST || out->state == OUT_RESPONSE)) {
        out_finish(out, RG_ECONNECT, "could not send the request to %s: %s", out->target,
                   uv_strerror(status));
    }
}

static void out_send_request(struct rtx_out *out)
{
    uv_buf_t buf = uv_buf_init((char *)out->request, (unsigned)out->request_len);
    int rv;

    out->state = OUT_REQUEST;
    rv = uv_write(&out->wreq, (uv_stream_t *)out->tcp, &buf, 1, out_request_written_cb);
    if (rv != 0) {
        out_finish(out, RG_ECONNECT, "could not send the request to %s: %s", out->target,
                   uv_strerror(rv));
        return;
    }
    out_read(out, out->len_buf, sizeof out->len_buf, out_len_cb);
}

/* --- handshake ---------------------------------------------------------- */

static void out_hand_over(struct rtx_out *out)
{
    struct rtx *x = out->x;
    struct raft_uv_connect *req = out->req;
    uv_tcp_t *tcp = out->tcp;

    /* Our AUTH write has completed and reading has stopped after OK, so
     * nothing of ours is pending on the stream. */
    out->state = OUT_DONE;
    out->tcp = NULL;
    out->open--;
    rtx__handle_closed(x);
    uv_close((uv_handle_t *)&out->timer, out_close_cb);
    tcp->data = NULL;
    RG_ASSERT(x->n_raft_connects > 0);
    x->n_raft_connects--;
    req->cb(req, (uv_stream_t *)tcp, 0);
}

static void out_maybe_authenticated(struct rtx_out *out)
{
    if (!out->auth_written || !out->ok_read) {
        return;
    }
    if (out->kind == OUT_RAFT) {
        out_hand_over(out);
    } else {
        out_send_request(out);
    }
}

static void out_ok_cb(struct rtx_reader *r, int status)
{
    struct rtx_out *out = rg_container_of(r, struct rtx_out, reader);

    if (status == UV_EOF || status == UV_ECONNRESET) {
        out_finish(out, RG_EAUTH, "%s refused the handshake (wrong raft.password?)", out->target);
        return;
    }
    if (out_read_failed(out, status, "handshake")) {
        return;
    }
    if (!rtx__ok_verify(out->x, out->ok, out->server_nonce, out->client_nonce)) {
        out_finish(out, RG_EAUTH, "%s failed to prove it knows the secret", out->target);
        return;
    }
    out->ok_read = true;
    out_maybe_authenticated(out);
}

static void out_auth_written_cb(uv_write_t *w, int status)
{
    struct rtx_out *out = rg_container_of(w, struct rtx_out, wauth);
    if (out->state != OUT_AUTH) {
        return;
    }
    if (status != 0) {
        out_finish(out, RG_ECONNECT, "handshake with %s: %s", out->target, uv_strerror(status));
        return;
    }
    out->auth_written = true;
    out_maybe_authenticated(out);
}

static void out_hello_cb(struct rtx_reader *r, int status)
{
    struct rtx_out *out = rg_container_of(r, struct rtx_out, reader);
    struct rtx *x = out->x;
    char errmsg[RG_ERRMSG_SIZE];
    size_t len;
    uv_buf_t buf;
    int rv;

    if (out_read_failed(out, status, "handshake")) {
        return;
    }
    if (rtx__hello_decode(out->hello, out->server_nonce, errmsg) != 0) {
        out_finish(out, RG_EPARSE, "%s: %s", out->target, errmsg);
        return;
    }
    if (rg_random_bytes(out->client_nonce, sizeof out->client_nonce) != 0) {
        out_finish(out, RG_ECONNECT, "could not generate a nonce");
        return;
    }
    if (out->kind == OUT_RAFT) {
        len = rtx__auth_encode(x, out->auth, out->server_nonce, out->client_nonce, RTX_CHANNEL_RAFT,
                               x->id, x->address);
    } else {
        len = rtx__auth_encode(x, out->auth, out->server_nonce, out->client_nonce, RTX_CHANNEL_RPC,
                               out->self_id, out->self_address);
    }
    out->state = OUT_AUTH;
    buf = uv_buf_init((char *)out->auth, (unsigned)len);
    rv = uv_write(&out->wauth, (uv_stream_t *)out->tcp, &buf, 1, out_auth_written_cb);
    if (rv != 0) {
        out_finish(out, RG_ECONNECT, "handshake with %s: %s", out->target, uv_strerror(rv));
        return;
    }
    out_read(out, out->ok, sizeof out->ok, out_ok_cb);
}

static void out_connect_cb(uv_connect_t *creq, int status)
{
    struct rtx_out *out = rg_container_of(creq, struct rtx_out, creq);
    if (out->state != OUT_CONNECTING) {
        return; /* closed meanwhile: ECANCELED */
    }
    if (status != 0) {
        out_finish(out, RG_ECONNECT, "could not connect to %s: %s", out->target,
                   uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(out->tcp, 1);
    out->state = OUT_HELLO;
    out_read(out, out->hello, sizeof out->hello, out_hello_cb);
}

/* Start connecting; failures after the handles exist are reported through the
 * callback, from their close callbacks. */
static struct rtx_out *out_start(struct rtx *x,
                                 enum out_kind kind,
                                 const char *address,
                                 const struct sockaddr_in *sa,
                                 unsigned timeout_ms)
{
    struct rtx_out *out = rg_calloc(1, sizeof *out);
    int rv;

    out->x = x;
    out->kind = kind;
    out->state = OUT_CONNECTING;
    out->raft_status = RAFT_NOCONNECTION;
    snprintf(out->target, sizeof out->target, "%s", address);
    out->tcp = rtx__tcp_new();
    uv_tcp_init(x->loop, out->tcp);
    out->tcp->data = &out->reader;
    uv_timer_init(x->loop, &out->timer);
    out->open = 2;
    x->n_handles += 2;
    rtx__link_push(&x->outs, &out->link);
    x->n_outs++;
    uv_timer_start(&out->timer, out_timer_cb, timeout_ms, 0);
    rv = uv_tcp_connect(&out->creq, out->tcp, (const struct sockaddr *)sa, out_connect_cb);
    if (rv != 0) {
        out_finish(out, RG_ECONNECT, "could not connect to %s: %s", address, uv_strerror(rv));
    }
    return out;
}

int rtx__client_raft_connect(struct raft_uv_transport *t,
                             struct raft_uv_connect *req,
                             raft_id id,
                             const char *address,
                             raft_uv_connect_cb cb)
{
    struct rtx *x = t->impl;
    struct sockaddr_in sa;
    struct rtx_out *out;

    (void)id; /* the server proves the secret, not its id */
    if (x->shutting_down || x->raft_detached || x->address == NULL) {
        return RAFT_NOCONNECTION;
    }
    if (rtx__parse_addr(address, false, &sa) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "invalid address \"%s\"", address);
        return RAFT_NOCONNECTION;
    }
    req->cb = cb;
    x->n_raft_connects++;
    out = out_start(x, OUT_RAFT, address, &sa, RTX_HANDSHAKE_TIMEOUT_MS);
    out->req = req;
    return 0;
}

/* t->close: c-raft's pending connects complete with RAFT_CANCELED. */
void rtx__client_cancel_raft(struct rtx *x)
{
    struct rtx_link *l;
    for (l = x->outs.next; l != &x->outs; l = l->next) {
        struct rtx_out *out = rg_container_of(l, struct rtx_out, link);
        if (out->kind == OUT_RAFT && out->state != OUT_CLOSING && out->state != OUT_DONE) {
            out->raft_status = RAFT_CANCELED;
            out_finish(out, RG_ECANCELED, "canceled: raft is closing");
        }
    }
}

void rtx__client_close_all(struct rtx *x)
{
    struct rtx_link *l;
    for (l = x->outs.next; l != &x->outs; l = l->next) {
        struct rtx_out *out = rg_container_of(l, struct rtx_out, link);
        /* A Raft instance still attached gets a plain connection failure:
         * RAFT_CANCELED is only expected while it is closing itself. */
        if (out->kind == OUT_RAFT && x->raft_detached) {
            out->raft_status = RAFT_CANCELED;
        }
        out_finish(out, RG_ECANCELED, "canceled: transport shutting down");
    }
}

/* --- public RPC client API ---------------------------------------------- */

int rtx_call_start(struct raft_uv_transport *t,
                   struct rtx_call *call,
                   const char *address,
                   const char *body,
                   size_t len,
                   unsigned timeout_ms,
                   uint64_t self_id,
                   const char *self_address,
                   rtx_call_cb cb)
{
    struct rtx *x = t->impl;
    struct sockaddr_in sa;
    struct rtx_out *out;

    if (self_address == NULL) {
        self_address = "";
    }
    if (x->shutting_down) {
        return RG_ESHUTDOWN;
    }
    if (rtx__parse_addr(address, false, &sa) != 0 || len > RTX_MAX_FRAME || timeout_ms == 0 ||
        strlen(self_address) > RTX_ADDR_MAX || cb == NULL) {
        return RG_EINVAL;
    }
    call->cb = cb;
    out = out_start(x, OUT_CALL, address, &sa, timeout_ms);
    out->call = call;
    out->self_id = self_id;
    snprintf(out->self_address, sizeof out->self_address, "%s", self_address);
    out->request_len = 4 + len;
    out->request = rg_malloc(out->request_len);
    rtx__put32(out->request, (uint32_t)len);
    if (len > 0) {
        memcpy(out->request + 4, body, len);
    }
    call->impl = out;
    return 0;
}

void rtx_call_cancel(struct rtx_call *call)
{
    struct rtx_out *out = call->impl;
    if (out == NULL) {
        return;
    }
    out_finish(out, RG_ECANCELED, "call to %s canceled", out->target);
}
