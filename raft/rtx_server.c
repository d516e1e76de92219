/*
 * rtx_server: connections accepted on the raft port.
 *
 * Happy path (states in brackets):
 *
 *   accept -> write HELLO, read AUTH fixed part [AUTH] -> read address and
 *   MAC [AUTH_TAIL] -> verify, write OK [OK] -> OK written:
 *     RAFT channel: hand the stream to c-raft's accept_cb (DONE)
 *     RPC channel:  read frame length [RPC_LEN] -> body [RPC_BODY] -> call the
 *                   handler [HANDLER] -> rtx_rpc_reply writes the response
 *                   [REPLY] -> close [CLOSING]
 *
 * Failure modes: a peer that sends garbage, a wrong magic, version or
 * channel, fails the MAC check, sends an oversize frame, or stays silent past
 * the deadline (2 s for the handshake, 10 s for the request frame and for
 * writing the response) is closed with a rate-limited warning; nothing it
 * sent reaches c-raft or the handler. RAFT-channel connections that arrive
 * while c-raft is not attached are authenticated, then closed. rtx_shutdown
 * closes every connection; a request still with the handler is detached
 * (req->in = NULL) and rtx_rpc_reply then only frees it.
 *
 * Memory: struct rtx_in is freed once both its handles (tcp, timer) are
 * closed; after a hand-over only the timer is ours. The tcp comes from
 * raft_malloc because c-raft releases handed-over streams with raft_free.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/rg_log.h"
#include "raft/rtx_internal.h"

enum in_state {
    IN_AUTH,
    IN_AUTH_TAIL,
    IN_OK,
    IN_RPC_LEN,
    IN_RPC_BODY,
    IN_HANDLER,
    IN_REPLY,
    IN_CLOSING,
    IN_DONE
};

struct rtx_in {
    struct rtx *x; /* borrowed */
    struct rtx_link link;
    enum in_state state;
    uv_tcp_t *tcp; /* owned until handed to c-raft (then NULL); raft_malloc'd */
    uv_timer_t timer;
    unsigned open; /* handles not closed yet */
    struct rtx_reader reader;
    uv_write_t whello;
    uv_write_t wok;
    uv_write_t wreply;
    char peer[64]; /* "ip:port", for log lines */

    unsigned char hello[RTX_HELLO_SIZE];
    unsigned char server_nonce[RTX_NONCE_SIZE];
    unsigned char auth[RTX_AUTH_MAX_SIZE];
    struct rtx_auth a;
    unsigned char ok[RTX_OK_SIZE];

    unsigned char len_buf[4];
    char *body; /* owned: request, until handed to req */
    size_t body_len;
    struct rtx_rpc_req *req; /* borrowed: outstanding with the handler */
    unsigned char *reply;    /* owned: response frame being written */
};

struct rtx_rpc_req {
    struct rtx_in *in; /* borrowed; NULL once the connection is gone */
    char *body;        /* owned */
};

static void in_close_cb(uv_handle_t *handle);

static void in_close(struct rtx_in *in)
{
    if (in->state == IN_CLOSING || in->state == IN_DONE) {
        return;
    }
    in->state = IN_CLOSING;
    if (in->req != NULL) {
        in->req->in = NULL;
        in->req = NULL;
    }
    uv_close((uv_handle_t *)in->tcp, in_close_cb);
    uv_close((uv_handle_t *)&in->timer, in_close_cb);
}

static void in_fail(struct rtx_in *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void in_fail(struct rtx_in *in, const char *fmt, ...)
{
    char why[RG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    rtx__warn(in->x, "closed connection from %s: %s", in->peer, why);
    in_close(in);
}

static void in_close_cb(uv_handle_t *handle)
{
    struct rtx_in *in;
    struct rtx *x;
    if (handle->type == UV_TIMER) {
        in = rg_container_of(handle, struct rtx_in, timer);
    } else {
        in = rg_container_of(handle->data, struct rtx_in, reader);
        raft_free(handle);
        in->tcp = NULL;
    }
    x = in->x;
    if (--in->open == 0) {
        rtx__link_remove(&in->link);
        x->n_ins--;
        rg_free(in->body);
        rg_free(in->reply);
        rg_free(in);
    }
    /* Last: this may fire the shutdown callback, which may free x. */
    rtx__handle_closed(x);
}

static void in_timer_cb(uv_timer_t *timer)
{
    struct rtx_in *in = rg_container_of(timer, struct rtx_in, timer);
    switch (in->state) {
    case IN_AUTH:
    case IN_AUTH_TAIL:
    case IN_OK:
        in_fail(in, "handshake timed out after %d ms", RTX_HANDSHAKE_TIMEOUT_MS);
        break;
    case IN_REPLY:
        in_fail(in, "writing the response timed out after %d ms", RTX_FRAME_TIMEOUT_MS);
        break;
    default:
        in_fail(in, "request timed out after %d ms", RTX_FRAME_TIMEOUT_MS);
        break;
    }
}

static void in_read(struct rtx_in *in, void *buf, size_t want, rtx_reader_cb cb)
{
    int rv = rtx__read_start(in->tcp, &in->reader, buf, want, cb);
    if (rv != 0) {
        in_fail(in, "could not read: %s", uv_strerror(rv));
    }
}

static bool in_read_failed(struct rtx_in *in, int status, const char *what)
{
    if (status == 0) {
        return false;
    }
    if (status == UV_EOF) {
        in_fail(in, "connection closed by peer during %s", what);
    } else {
        in_fail(in, "%s: %s", what, uv_strerror(status));
    }
    return true;
}

/* --- RPC channel -------------------------------------------------------- */

static void in_reply_written_cb(uv_write_t *w, int status)
{
    struct rtx_in *in = rg_container_of(w, struct rtx_in, wreply);
    if (in->state != IN_REPLY) {
        return; /* closed meanwhile (shutdown): ECANCELED */
    }
    if (status != 0) {
        /* The client went away: nothing to tell anybody. */
        rg_log(RG_DEBUG, "rtx", "response to %s not delivered: %s", in->peer, uv_strerror(status));
    }
    in_close(in);
}

void rtx_rpc_reply(struct rtx_rpc_req *req, const char *body, size_t len)
{
    struct rtx_in *in = req->in;
    uv_buf_t buf;
    int rv;

    rg_free(req->body);
    rg_free(req);
    if (in == NULL) {
        return; /* the connection is gone: discard */
    }
    RG_ASSERT(in->state == IN_HANDLER);
    in->req = NULL;
    if (len > RTX_MAX_FRAME) {
        rg_log(RG_ERROR, "rtx", "response to %s of %zu bytes exceeds %u bytes: not sent", in->peer,
               len, RTX_MAX_FRAME);
        in_close(in);
        return;
    }
    in->reply = rg_malloc(4 + len);
    rtx__put32(in->reply, (uint32_t)len);
    if (len > 0) {
        memcpy(in->reply + 4, body, len);
    }
    in->state = IN_REPLY;
    buf = uv_buf_init((char *)in->reply, (unsigned)(4 + len));
    rv = uv_write(&in->wreply, (uv_stream_t *)in->tcp, &buf, 1, in_reply_written_cb);
    if (rv != 0) {
        in_close(in);
        return;
    }
    uv_timer_start(&in->timer, in_timer_cb, RTX_FRAME_TIMEOUT_MS, 0);
}

static void in_body_cb(struct rtx_reader *r, int status)
{
    struct rtx_in *in = rg_container_of(r, struct rtx_in, reader);
    struct rtx *x = in->x;
    struct rtx_rpc_req *req;

    if (in_read_failed(in, status, "request")) {
        return;
    }
    uv_timer_stop(&in->timer);
    in->body[in->body_len] = '\0';
    if (x->handler == NULL) {
        in_fail(in, "no rpc handler");
        return;
    }
    req = rg_malloc(sizeof *req);
    req->in = in;
    req->body = in->body;
    in->body = NULL;
    in->req = req;
    in->state = IN_HANDLER;
    /* The handler may reply (and so change in's state) before returning. */
    x->handler(x->handler_data, req, in->a.id, in->a.address, req->body, in->body_len);
}

static void in_len_cb(struct rtx_reader *r, int status)
{
    struct rtx_in *in = rg_container_of(r, struct rtx_in, reader);
    uint32_t len;

    if (in_read_failed(in, status, "request")) {
        return;
    }
    len = rtx__get32(in->len_buf);
    if (len > RTX_MAX_FRAME) {
        in_fail(in, "request frame of %u bytes exceeds the limit of %u bytes", len, RTX_MAX_FRAME);
        return;
    }
    in->body_len = len;
    in->body = rg_malloc((size_t)len + 1);
    in->state = IN_RPC_BODY;
    if (len == 0) {
        in_body_cb(&in->reader, 0);
        return;
    }
    in_read(in, in->body, len, in_body_cb);
}

/* --- handshake ---------------------------------------------------------- */

static void in_hand_over(struct rtx_in *in)
{
    struct rtx *x = in->x;
    uv_tcp_t *tcp = in->tcp;

    if (x->accept_cb == NULL) {
        rg_log(RG_DEBUG, "rtx", "raft connection from %s (id %llu) closed: raft is not running",
               in->peer, (unsigned long long)in->a.id);
        in_close(in);
        return;
    }
    /* From here on the stream is c-raft's (it sets its data field and frees
     * it with raft_free); we keep only the timer, whose close callback frees
     * in, after accept_cb has copied the address. */
    in->state = IN_DONE;
    in->tcp = NULL;
    in->open--;
    rtx__handle_closed(x);
    uv_close((uv_handle_t *)&in->timer, in_close_cb);
    tcp->data = NULL;
    x->accept_cb(x->t, in->a.id, in->a.address, (uv_stream_t *)tcp);
}

static void in_ok_written_cb(uv_write_t *w, int status)
{
    struct rtx_in *in = rg_container_of(w, struct rtx_in, wok);
    if (in->state != IN_OK) {
        return;
    }
    if (status != 0) {
        in_fail(in, "could not send handshake: %s", uv_strerror(status));
        return;
    }
    /* The OK is written, so no write request of ours is left on the stream
     * and it can change hands. Reading stopped after AUTH: the peer's first
     * message is still in the kernel. */
    if (in->a.channel == RTX_CHANNEL_RAFT) {
        in_hand_over(in);
        return;
    }
    in->state = IN_RPC_LEN;
    uv_timer_start(&in->timer, in_timer_cb, RTX_FRAME_TIMEOUT_MS, 0);
    in_read(in, in->len_buf, sizeof in->len_buf, in_len_cb);
}

static void in_auth_tail_cb(struct rtx_reader *r, int status)
{
    struct rtx_in *in = rg_container_of(r, struct rtx_in, reader);
    char errmsg[RG_ERRMSG_SIZE];
    uv_buf_t buf;
    int rv;

    if (in_read_failed(in, status, "handshake")) {
        return;
    }
    rv = rtx__auth_verify(in->x, in->auth, &in->a, in->server_nonce, errmsg);
    if (rv != 0) {
        in_fail(in, "%s", errmsg);
        return;
    }
    rtx__ok_encode(in->x, in->ok, in->server_nonce, in->a.nonce);
    in->state = IN_OK;
    buf = uv_buf_init((char *)in->ok, sizeof in->ok);
    rv = uv_write(&in->wok, (uv_stream_t *)in->tcp, &buf, 1, in_ok_written_cb);
    if (rv != 0) {
        in_fail(in, "could not send handshake: %s", uv_strerror(rv));
    }
}

static void in_auth_cb(struct rtx_reader *r, int status)
{
    struct rtx_in *in = rg_container_of(r, struct rtx_in, reader);
    char errmsg[RG_ERRMSG_SIZE];

    if (in_read_failed(in, status, "handshake")) {
        return;
    }
    if (rtx__auth_decode_fixed(in->auth, &in->a, errmsg) != 0) {
        in_fail(in, "%s", errmsg);
        return;
    }
    in->state = IN_AUTH_TAIL;
    in_read(in, in->auth + RTX_AUTH_FIXED_SIZE, in->a.addr_len + RTX_MAC_SIZE, in_auth_tail_cb);
}

static void in_hello_written_cb(uv_write_t *w, int status)
{
    struct rtx_in *in = rg_container_of(w, struct rtx_in, whello);
    if (status != 0 && in->state != IN_CLOSING && in->state != IN_DONE) {
        in_fail(in, "could not send handshake: %s", uv_strerror(status));
    }
}

static void in_start(struct rtx_in *in)
{
    uv_buf_t buf;
    int rv;

    rtx__peer_name(in->tcp, in->peer, sizeof in->peer);
    uv_timer_start(&in->timer, in_timer_cb, RTX_HANDSHAKE_TIMEOUT_MS, 0);
    if (rg_random_bytes(in->server_nonce, sizeof in->server_nonce) != 0) {
        in_fail(in, "could not generate a nonce");
        return;
    }
    rtx__hello_encode(in->hello, in->server_nonce);
    buf = uv_buf_init((char *)in->hello, sizeof in->hello);
    rv = uv_write(&in->whello, (uv_stream_t *)in->tcp, &buf, 1, in_hello_written_cb);
    if (rv != 0) {
        in_fail(in, "could not send handshake: %s", uv_strerror(rv));
        return;
    }
    in->state = IN_AUTH;
    in_read(in, in->auth, RTX_AUTH_FIXED_SIZE, in_auth_cb);
}

void rtx__server_connection_cb(uv_stream_t *listener, int status)
{
    struct rtx *x = listener->data;
    struct rtx_in *in;
    int rv;

    if (status != 0) {
        rtx__warn(x, "accept on the raft port failed: %s", uv_strerror(status));
        return;
    }
    in = rg_calloc(1, sizeof *in);
    in->x = x;
    in->tcp = rtx__tcp_new();
    uv_tcp_init(x->loop, in->tcp);
    in->tcp->data = &in->reader;
    uv_timer_init(x->loop, &in->timer);
    in->open = 2;
    x->n_handles += 2;
    rtx__link_push(&x->ins, &in->link);
    x->n_ins++;
    in->state = IN_AUTH;
    snprintf(in->peer, sizeof in->peer, "unknown peer");
    rv = uv_accept(listener, (uv_stream_t *)in->tcp);
    if (rv != 0) {
        in_fail(in, "accept failed: %s", uv_strerror(rv));
        return;
    }
    uv_tcp_nodelay(in->tcp, 1);
    in_start(in);
}

void rtx__server_close_all(struct rtx *x)
{
    struct rtx_link *l = x->ins.next;
    while (l != &x->ins) {
        struct rtx_in *in = rg_container_of(l, struct rtx_in, link);
        l = l->next; /* in_close does not unlink; its close callbacks do */
        in_close(in);
    }
}
