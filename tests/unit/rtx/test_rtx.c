/*
 * Unit tests for rtx, the authenticated transport: RPC round trips,
 * refusal of wrong secrets and malformed peers (driven by a raw client that
 * speaks the wire format of docs/internals/transport.md on its own), call
 * timeouts and cancellation, the RAFT channel hand-over, and real c-raft
 * clusters of three nodes on one loop. Loopback only, ports from the kernel.
 * The loop is stepped with bounded RUN_UNTIL waits, never with sleeps.
 */
#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <raft.h>
#include <raft/uv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
/* cmocka.h needs setjmp.h, stdarg.h and stddef.h first. */
#include <cmocka.h>

#include "agent/rg.h"
#include "raft/rtx.h"

/* --- loop stepping ------------------------------------------------------ */

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

struct ticker {
    uv_timer_t timer;
    uint64_t deadline;
};

static void ticker_start(struct ticker *tk, uv_loop_t *loop, unsigned ms)
{
    uv_timer_init(loop, &tk->timer);
    uv_timer_start(&tk->timer, tick_cb, 5, 5);
    uv_update_time(loop);
    tk->deadline = uv_now(loop) + ms;
}

static bool ticker_expired(struct ticker *tk)
{
    return uv_now(tk->timer.loop) >= tk->deadline;
}

static void ticker_stop(struct ticker *tk)
{
    uv_close((uv_handle_t *)&tk->timer, NULL);
    uv_run(tk->timer.loop, UV_RUN_NOWAIT); /* completes the close */
}

/* Step @loop until @cond holds or @ms have passed; the value of @cond. */
#define RUN_UNTIL(loop, cond, ms)                                                                  \
    ({                                                                                             \
        struct ticker tk_;                                                                         \
        bool ok_;                                                                                  \
        ticker_start(&tk_, (loop), (ms));                                                          \
        while (!(cond) && !ticker_expired(&tk_)) {                                                 \
            uv_run((loop), UV_RUN_ONCE);                                                           \
        }                                                                                          \
        ok_ = (cond);                                                                              \
        ticker_stop(&tk_);                                                                         \
        ok_;                                                                                       \
    })

static uint64_t now_ms(uv_loop_t *loop)
{
    uv_update_time(loop);
    return uv_now(loop);
}

/* --- fixture ------------------------------------------------------------ */

struct fx {
    uv_loop_t loop;
    char errmsg[RG_ERRMSG_SIZE];
};

static int setup(void **state)
{
    struct fx *f = rg_calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    *state = f;
    return 0;
}

static void print_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "left open: %s handle %p\n", uv_handle_type_name(h->type), (void *)h);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int i;
    for (i = 0; i < 10; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    uv_walk(&f->loop, print_handle, NULL);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    rg_free(f);
    return 0;
}

/* --- transports --------------------------------------------------------- */

struct node {
    struct raft_uv_transport t;
    char addr[32];
    bool shut;
};

static void node_init(struct fx *f, struct node *n, const char *secret, bool listen)
{
    memset(n, 0, sizeof *n);
    assert_int_equal(rtx_init(&n->t, &f->loop, secret, f->errmsg), 0);
    if (listen) {
        int rv = rtx_listen(&n->t, "127.0.0.1:0", f->errmsg);
        assert_int_equal(rv, 0);
        assert_true(rtx_listen_port(&n->t) > 0);
        snprintf(n->addr, sizeof n->addr, "127.0.0.1:%d", rtx_listen_port(&n->t));
    }
}

static void node_shutdown_cb(struct raft_uv_transport *t)
{
    struct node *n = rg_container_of(t, struct node, t);
    n->shut = true;
}

static void node_close(struct fx *f, struct node *n)
{
    rtx_shutdown(&n->t, node_shutdown_cb);
    assert_false(n->shut); /* never inside the call */
    assert_true(RUN_UNTIL(&f->loop, n->shut, 5000));
    assert_int_equal(rtx_active_handles(&n->t), 0);
    rtx_free(&n->t);
}

/* --- RPC helpers -------------------------------------------------------- */

struct server_ctx {
    int calls;
    bool hold; /* keep the request instead of answering */
    struct rtx_rpc_req *held;
    uint64_t peer_id;
    char peer_address[64];
    size_t len;
};

static void handler(void *data,
                    struct rtx_rpc_req *req,
                    uint64_t peer_id,
                    const char *peer_address,
                    const char *body,
                    size_t len)
{
    struct server_ctx *s = data;
    char *out;
    s->calls++;
    s->peer_id = peer_id;
    snprintf(s->peer_address, sizeof s->peer_address, "%s", peer_address);
    s->len = len;
    assert_int_equal(body[len], '\0');
    if (s->hold) {
        s->held = req;
        return;
    }
    out = rg_asprintf("{\"len\":%zu,\"head\":\"%.8s\"}", len, body);
    rtx_rpc_reply(req, out, strlen(out));
    rg_free(out);
}

struct call_res {
    struct rtx_call call;
    int count;
    int status;
    char body[256];
    size_t len;
    char errmsg[RG_ERRMSG_SIZE];
};

static void
call_cb(struct rtx_call *call, int status, const char *body, size_t len, const char *errmsg)
{
    struct call_res *r = call->data;
    r->count++;
    r->status = status;
    r->len = len;
    snprintf(r->body, sizeof r->body, "%s", body != NULL ? body : "");
    snprintf(r->errmsg, sizeof r->errmsg, "%s", errmsg);
}

static void call(struct node *client,
                 struct call_res *r,
                 const char *addr,
                 const char *body,
                 unsigned timeout_ms)
{
    memset(r, 0, sizeof *r);
    r->call.data = r;
    assert_int_equal(rtx_call_start(&client->t, &r->call, addr, body, strlen(body), timeout_ms, 42,
                                    "127.0.0.1:9999", call_cb),
                     0);
    assert_int_equal(r->count, 0); /* never inside the call */
}

/* --- RPC tests ---------------------------------------------------------- */

static void test_rpc_round_trip(void **state)
{
    struct fx *f = *state;
    struct node server, client;
    struct server_ctx s = {0};
    struct call_res r;
    char *big;

    node_init(f, &server, "s3cret", true);
    node_init(f, &client, "s3cret", false);
    rtx_set_rpc_handler(&server.t, handler, &s);

    call(&client, &r, server.addr, "{\"ping\":1}", 2000);
    assert_true(RUN_UNTIL(&f->loop, r.count > 0, 3000));
    assert_int_equal(r.count, 1);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.body, "{\"len\":10,\"head\":\"{\"ping\":\"}");
    assert_int_equal(r.len, strlen(r.body));
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.peer_id, 42);
    assert_string_equal(s.peer_address, "127.0.0.1:9999");

    /* A request far larger than a socket buffer arrives whole. */
    big = rg_malloc(3u << 20);
    memset(big, 'a', (3u << 20) - 1);
    big[(3u << 20) - 1] = '\0';
    call(&client, &r, server.addr, big, 5000);
    assert_true(RUN_UNTIL(&f->loop, r.count > 0, 6000));
    assert_int_equal(r.status, 0);
    assert_int_equal(s.len, (3u << 20) - 1);
    rg_free(big);

    assert_true(RUN_UNTIL(
        &f->loop, rtx_active_handles(&server.t) == 0 && rtx_active_handles(&client.t) == 0, 2000));
    node_close(f, &client);
    node_close(f, &server);
}

static void check_refused(struct fx *f, const char *server_secret, const char *client_secret)
{
    struct node server, client;
    struct server_ctx s = {0};
    struct call_res r;

    node_init(f, &server, server_secret, true);
    node_init(f, &client, client_secret, false);
    rtx_set_rpc_handler(&server.t, handler, &s);
    call(&client, &r, server.addr, "{}", 2000);
    assert_true(RUN_UNTIL(&f->loop, r.count > 0, 3000));
    assert_int_equal(r.status, RG_EAUTH);
    assert_non_null(strstr(r.errmsg, "refused"));
    assert_int_equal(s.calls, 0);
    assert_true(RUN_UNTIL(&f->loop, rtx_active_handles(&server.t) == 0, 2000));
    node_close(f, &client);
    node_close(f, &server);
}

static void test_rpc_refused_when_server_has_other_secret(void **state)
{
    check_refused(*state, "other", "s3cret");
}

static void test_rpc_refused_when_client_has_other_secret(void **state)
{
    check_refused(*state, "s3cret", "other");
}

static void test_call_to_closed_port_fails(void **state)
{
    struct fx *f = *state;
    struct node gone, client;
    struct call_res r;
    char addr[32];

    node_init(f, &gone, "s3cret", true);
    snprintf(addr, sizeof addr, "%s", gone.addr);
    node_close(f, &gone);
    node_init(f, &client, "s3cret", false);
    call(&client, &r, addr, "{}", 2000);
    assert_true(RUN_UNTIL(&f->loop, r.count > 0, 3000));
    assert_int_equal(r.status, RG_ECONNECT);
    assert_int_equal(
        rtx_call_start(&client.t, &r.call, "localhost:1", "{}", 2, 100, 0, "", call_cb), RG_EINVAL);
    node_close(f, &client);
}

static void test_call_timeout_then_late_reply_is_harmless(void **state)
{
    struct fx *f = *state;
    struct node server, client;
    struct server_ctx s = {.hold = true};
    struct call_res r;
    uint64_t start;

    node_init(f, &server, "s3cret", true);
    node_init(f, &client, "s3cret", false);
    rtx_set_rpc_handler(&server.t, handler, &s);
    start = now_ms(&f->loop);
    call(&client, &r, server.addr, "{}", 300);
    assert_true(RUN_UNTIL(&f->loop, r.count > 0, 3000));
    assert_int_equal(r.status, RG_ETIMEDOUT);
    assert_true(now_ms(&f->loop) - start >= 295);
    assert_int_equal(s.calls, 1);
    assert_int_equal(rtx_active_handles(&client.t), 0);

    /* The client is gone; the handler still answers, and nothing breaks. */
    rtx_rpc_reply(s.held, "{\"late\":true}", 13);
    assert_true(RUN_UNTIL(&f->loop, rtx_active_handles(&server.t) == 0, 2000));
    assert_int_equal(r.count, 1);
    node_close(f, &client);
    node_close(f, &server);
}

static void test_call_cancel(void **state)
{
    struct fx *f = *state;
    struct node server, client;
    struct server_ctx s = {.hold = true};
    struct call_res r;

    node_init(f, &server, "s3cret", true);
    node_init(f, &client, "s3cret", false);
    rtx_set_rpc_handler(&server.t, handler, &s);
    call(&client, &r, server.addr, "{}", 5000);
    assert_true(RUN_UNTIL(&f->loop, s.calls == 1, 3000));
    rtx_call_cancel(&r.call);
    assert_int_equal(r.count, 0); /* later, not inside cancel */
    rtx_call_cancel(&r.call);
    assert_true(RUN_UNTIL(&f->loop, r.count > 0, 1000));
    assert_int_equal(r.status, RG_ECANCELED);
    rtx_call_cancel(&r.call); /* after completion: no-op */
    rtx_rpc_reply(s.held, "{}", 2);
    assert_true(RUN_UNTIL(&f->loop, rtx_active_handles(&server.t) == 0, 2000));
    assert_int_equal(r.count, 1);
    node_close(f, &client);
    node_close(f, &server);
}

static void test_reply_after_server_shutdown_only_frees(void **state)
{
    struct fx *f = *state;
    struct node server, client;
    struct server_ctx s = {.hold = true};
    struct call_res r;

    node_init(f, &server, "s3cret", true);
    node_init(f, &client, "s3cret", false);
    rtx_set_rpc_handler(&server.t, handler, &s);
    call(&client, &r, server.addr, "{}", 5000);
    assert_true(RUN_UNTIL(&f->loop, s.calls == 1, 3000));
    node_close(f, &server); /* frees the transport, the request stays */
    rtx_rpc_reply(s.held, "{}", 2);
    assert_true(RUN_UNTIL(&f->loop, r.count > 0, 3000));
    assert_int_equal(r.status, RG_ECONNECT);
    node_close(f, &client);
}

static void test_shutdown_cancels_calls(void **state)
{
    struct fx *f = *state;
    struct node server, client;
    struct server_ctx s = {.hold = true};
    struct call_res r;

    node_init(f, &server, "s3cret", true);
    node_init(f, &client, "s3cret", false);
    rtx_set_rpc_handler(&server.t, handler, &s);
    call(&client, &r, server.addr, "{}", 5000);
    assert_true(RUN_UNTIL(&f->loop, s.calls == 1, 3000));
    node_close(f, &client);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.status, RG_ECANCELED);
    rtx_rpc_reply(s.held, "{}", 2);
    node_close(f, &server);
}

static void test_listen_port_in_use_gives_clear_errmsg(void **state)
{
    struct fx *f = *state;
    struct node a, b;
    char expect[128];

    node_init(f, &a, "s3cret", true);
    node_init(f, &b, "s3cret", false);
    assert_int_equal(rtx_listen(&b.t, a.addr, f->errmsg), RG_EIO);
    snprintf(expect, sizeof expect, "could not bind %s: address already in use", a.addr);
    assert_string_equal(f->errmsg, expect);
    assert_int_equal(rtx_listen_port(&b.t), -1);
    node_close(f, &b);

    node_init(f, &b, "s3cret", false);
    assert_int_equal(rtx_listen(&b.t, "localhost:7001", f->errmsg), RG_EINVAL);
    assert_non_null(strstr(f->errmsg, "invalid bind address"));
    node_close(f, &b);
    node_close(f, &a);

    assert_int_equal(rtx_init(&a.t, &f->loop, "", f->errmsg), RG_EINVAL);
}

/* --- a raw peer that speaks the wire format by itself --------------------- */

enum raw_mode {
    RAW_GARBAGE,
    RAW_BAD_MAGIC,
    RAW_BAD_VERSION,
    RAW_BAD_MAC,
    RAW_OVERSIZE,
    RAW_SILENT,
    RAW_FAKE_SERVER
};

struct raw {
    enum raw_mode mode;
    const char *secret;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t w[3];
    int n_writes;
    unsigned char out[3][512];
    unsigned char in[1024];
    size_t nin;
    bool sent_auth;
    bool sent_frame;
    bool ended; /* EOF or reset seen */
    bool closed;
    uint64_t ended_at;
    /* fake server */
    uv_tcp_t listener;
    bool listener_closed;
    bool accepted;
};

static void raw_write(struct raw *raw, const void *buf, size_t len)
{
    uv_buf_t b;
    assert_true(raw->n_writes < 3);
    memcpy(raw->out[raw->n_writes], buf, len);
    b = uv_buf_init((char *)raw->out[raw->n_writes], (unsigned)len);
    assert_int_equal(uv_write(&raw->w[raw->n_writes], (uv_stream_t *)&raw->tcp, &b, 1, NULL), 0);
    raw->n_writes++;
}

static void hmac256(const char *secret, const unsigned char *data, size_t len, unsigned char *out)
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), data, len, out, &n);
}

/* AUTH for the RPC channel, id 7, address "10.0.0.1:1" (wire format v1). */
static void raw_send_auth(struct raw *raw)
{
    unsigned char msg[48 + 10 + 32];
    unsigned char data[8 + 32 + 48 + 10];
    const char *addr = "10.0.0.1:1";

    memcpy(msg, raw->mode == RAW_BAD_MAGIC ? "RGNX" : "RGNT", 4);
    msg[4] = 0;
    msg[5] = raw->mode == RAW_BAD_VERSION ? 99 : 1;
    msg[6] = 2; /* RPC */
    msg[7] = 10;
    memset(msg + 8, 0, 8);
    msg[15] = 7;
    memset(msg + 16, 0x5a, 32); /* client nonce */
    memcpy(msg + 48, addr, 10);
    memcpy(data, "rtx1 c\0\0", 8);
    memcpy(data + 8, raw->in + 8, 32); /* server nonce from HELLO */
    memcpy(data + 40, msg, 58);
    hmac256(raw->mode == RAW_BAD_MAC ? "wrong" : raw->secret, data, sizeof data, msg + 58);
    raw_write(raw, msg, sizeof msg);
    raw->sent_auth = true;
}

static void raw_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct raw *raw = h->data;
    (void)suggested;
    buf->base = (char *)raw->in + raw->nin;
    buf->len = sizeof raw->in - raw->nin;
}

static void raw_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct raw *raw = s->data;
    (void)buf;
    if (nread < 0) {
        raw->ended = true;
        raw->ended_at = now_ms(s->loop);
        uv_read_stop(s);
        return;
    }
    raw->nin += (size_t)nread;
    if (raw->mode == RAW_FAKE_SERVER) {
        /* A server without the secret: answers any AUTH with a made-up OK. */
        if (!raw->sent_auth && raw->nin >= 48 + (size_t)raw->in[7] + 32) {
            unsigned char ok[32];
            memset(ok, 0x17, sizeof ok);
            raw_write(raw, ok, sizeof ok);
            raw->sent_auth = true;
        }
        return;
    }
    if (raw->nin >= 40 && !raw->sent_auth && raw->mode != RAW_SILENT && raw->mode != RAW_GARBAGE) {
        raw_send_auth(raw);
    }
    if (raw->nin >= 40 + 32 && raw->mode == RAW_OVERSIZE && !raw->sent_frame) {
        unsigned char hdr[4] = {0x7f, 0xff, 0xff, 0xff};
        raw_write(raw, hdr, 4);
        raw->sent_frame = true;
    }
}

static void raw_connect_cb(uv_connect_t *creq, int status)
{
    struct raw *raw = creq->data;
    assert_int_equal(status, 0);
    if (raw->mode == RAW_GARBAGE) {
        unsigned char junk[100];
        memset(junk, 'G', sizeof junk);
        raw_write(raw, junk, sizeof junk);
    }
    uv_read_start((uv_stream_t *)&raw->tcp, raw_alloc_cb, raw_read_cb);
}

static void raw_close_cb(uv_handle_t *h)
{
    struct raw *raw = h->data;
    if (h == (uv_handle_t *)&raw->listener) {
        raw->listener_closed = true;
    } else {
        raw->closed = true;
    }
}

static void raw_connect(struct fx *f, struct raw *raw, const char *addr)
{
    struct sockaddr_in sa;
    int port = atoi(strchr(addr, ':') + 1);
    uv_ip4_addr("127.0.0.1", port, &sa);
    uv_tcp_init(&f->loop, &raw->tcp);
    raw->tcp.data = raw;
    raw->creq.data = raw;
    assert_int_equal(
        uv_tcp_connect(&raw->creq, &raw->tcp, (const struct sockaddr *)&sa, raw_connect_cb), 0);
}

static void
check_raw_client_closed(struct fx *f, enum raw_mode mode, unsigned min_ms, unsigned max_ms)
{
    struct node server;
    struct server_ctx s = {0};
    struct raw raw = {.mode = mode, .secret = "s3cret"};
    uint64_t start;

    node_init(f, &server, "s3cret", true);
    rtx_set_rpc_handler(&server.t, handler, &s);
    start = now_ms(&f->loop);
    raw_connect(f, &raw, server.addr);
    assert_true(RUN_UNTIL(&f->loop, raw.ended, max_ms + 1000));
    assert_true(raw.ended_at - start >= min_ms);
    assert_true(raw.ended_at - start <= max_ms);
    assert_int_equal(s.calls, 0);
    if (mode == RAW_OVERSIZE) {
        assert_int_equal(raw.nin, 40 + 32); /* the handshake itself succeeded */
    } else if (mode == RAW_GARBAGE) {
        assert_true(raw.nin <= 40); /* unread garbage: the close may be a reset */
    } else {
        assert_int_equal(raw.nin, 40); /* HELLO, never OK */
    }
    assert_true(RUN_UNTIL(&f->loop, rtx_active_handles(&server.t) == 0, 1000));
    uv_close((uv_handle_t *)&raw.tcp, raw_close_cb);
    assert_true(RUN_UNTIL(&f->loop, raw.closed, 1000));
    node_close(f, &server);
}

static void test_garbage_is_closed(void **state)
{
    check_raw_client_closed(*state, RAW_GARBAGE, 0, 500);
}

static void test_wrong_magic_is_closed(void **state)
{
    check_raw_client_closed(*state, RAW_BAD_MAGIC, 0, 500);
}

static void test_unknown_version_is_closed(void **state)
{
    check_raw_client_closed(*state, RAW_BAD_VERSION, 0, 500);
}

static void test_bad_mac_is_closed(void **state)
{
    check_raw_client_closed(*state, RAW_BAD_MAC, 0, 500);
}

static void test_oversize_frame_is_closed(void **state)
{
    check_raw_client_closed(*state, RAW_OVERSIZE, 0, 500);
}

static void test_silent_client_is_closed_after_handshake_timeout(void **state)
{
    check_raw_client_closed(*state, RAW_SILENT, 1900, 2600);
}

static void raw_listen_cb(uv_stream_t *listener, int status)
{
    struct raw *raw = listener->data;
    unsigned char hello[40];
    assert_int_equal(status, 0);
    uv_tcp_init(listener->loop, &raw->tcp);
    raw->tcp.data = raw;
    assert_int_equal(uv_accept(listener, (uv_stream_t *)&raw->tcp), 0);
    raw->accepted = true;
    if (raw->mode == RAW_FAKE_SERVER) {
        memcpy(hello, "RGNT\0\1\0\0", 8);
        memset(hello + 8, 0x33, 32);
        raw_write(raw, hello, sizeof hello);
    }
    uv_read_start((uv_stream_t *)&raw->tcp, raw_alloc_cb, raw_read_cb);
}

/* A listener that accepts; with RAW_FAKE_SERVER it plays a server that does
 * not know the secret, with RAW_SILENT it never says anything. */
static void raw_listen(struct fx *f, struct raw *raw, char *addr, size_t len)
{
    struct sockaddr_in sa;
    struct sockaddr_storage ss;
    int n = sizeof ss;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(&f->loop, &raw->listener);
    raw->listener.data = raw;
    assert_int_equal(uv_tcp_bind(&raw->listener, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&raw->listener, 4, raw_listen_cb), 0);
    uv_tcp_getsockname(&raw->listener, (struct sockaddr *)&ss, &n);
    snprintf(addr, len, "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
}

static void raw_listen_close(struct fx *f, struct raw *raw)
{
    if (raw->accepted) {
        uv_close((uv_handle_t *)&raw->tcp, raw_close_cb);
        assert_true(RUN_UNTIL(&f->loop, raw->closed, 1000));
    }
    uv_close((uv_handle_t *)&raw->listener, raw_close_cb);
    assert_true(RUN_UNTIL(&f->loop, raw->listener_closed, 1000));
}

static void test_server_without_secret_is_not_trusted(void **state)
{
    struct fx *f = *state;
    struct raw raw = {.mode = RAW_FAKE_SERVER};
    struct node client;
    struct call_res r;
    char addr[32];

    raw_listen(f, &raw, addr, sizeof addr);
    node_init(f, &client, "s3cret", false);
    call(&client, &r, addr, "{\"secret-ish\":1}", 2000);
    assert_true(RUN_UNTIL(&f->loop, r.count > 0, 3000));
    assert_int_equal(r.status, RG_EAUTH);
    assert_non_null(strstr(r.errmsg, "failed to prove"));
    /* The fake server got the AUTH message and nothing more: no request. */
    assert_true(RUN_UNTIL(&f->loop, raw.ended, 1000));
    assert_int_equal(raw.nin, 48 + strlen("127.0.0.1:9999") + 32);
    node_close(f, &client);
    raw_listen_close(f, &raw);
}

static void test_call_to_silent_server_times_out(void **state)
{
    struct fx *f = *state;
    struct raw raw = {.mode = RAW_SILENT};
    struct node client;
    struct call_res r;
    char addr[32];

    raw_listen(f, &raw, addr, sizeof addr);
    node_init(f, &client, "s3cret", false);
    call(&client, &r, addr, "{}", 200);
    assert_true(RUN_UNTIL(&f->loop, r.count > 0, 2000));
    assert_int_equal(r.status, RG_ETIMEDOUT);
    node_close(f, &client);
    raw_listen_close(f, &raw);
}

/* --- RAFT channel without c-raft ------------------------------------------ */

#define FIRST_BYTES "first raft bytes, right after the handshake"

struct raft_side {
    struct raft_uv_connect req;
    uv_stream_t *stream;
    int connect_status;
    int connect_count;
    raft_id accepted_id;
    char accepted_address[64];
    uv_stream_t *accepted;
    uv_write_t w;
    char rbuf[256];
    size_t nread;
    bool eof;
    int closed_streams;
    bool transport_closed;
    int order; /* 1: connect cb before the close cb */
};

static struct raft_side *side;

static void
side_accept_cb(struct raft_uv_transport *t, raft_id id, const char *address, uv_stream_t *stream)
{
    (void)t;
    side->accepted_id = id;
    snprintf(side->accepted_address, sizeof side->accepted_address, "%s", address);
    side->accepted = stream;
}

static void side_connect_cb(struct raft_uv_connect *req, uv_stream_t *stream, int status)
{
    struct raft_side *sd = req->data;
    uv_buf_t b = uv_buf_init((char *)FIRST_BYTES, sizeof FIRST_BYTES - 1);
    sd->connect_count++;
    sd->connect_status = status;
    sd->stream = stream;
    if (!sd->transport_closed) {
        sd->order = 1;
    }
    if (status == 0) {
        assert_int_equal(uv_write(&sd->w, stream, &b, 1, NULL), 0);
    }
}

static void side_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = side->rbuf + side->nread;
    buf->len = sizeof side->rbuf - side->nread - 1;
}

static void side_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0) {
        side->eof = true;
        uv_read_stop(s);
        return;
    }
    side->nread += (size_t)nread;
}

static void side_stream_close_cb(uv_handle_t *h)
{
    raft_free(h); /* as raft_uv does */
    side->closed_streams++;
}

static void side_transport_close_cb(struct raft_uv_transport *t)
{
    (void)t;
    side->transport_closed = true;
}

static void test_raft_channel_hands_over_authenticated_stream(void **state)
{
    struct fx *f = *state;
    struct node server, client;
    struct raft_side sd = {0};

    side = &sd;
    node_init(f, &server, "s3cret", true);
    node_init(f, &client, "s3cret", false);
    assert_int_equal(server.t.init(&server.t, 2, server.addr), 0);
    assert_int_equal(server.t.listen(&server.t, side_accept_cb), 0);
    assert_int_equal(client.t.init(&client.t, 1, "127.0.0.1:5555"), 0);

    sd.req.data = &sd;
    assert_int_equal(client.t.connect(&client.t, &sd.req, 2, server.addr, side_connect_cb), 0);
    assert_int_equal(sd.connect_count, 0);
    assert_true(RUN_UNTIL(&f->loop, sd.connect_count == 1 && sd.accepted != NULL, 3000));
    assert_int_equal(sd.connect_status, 0);
    assert_int_equal(sd.accepted_id, 1);
    assert_string_equal(sd.accepted_address, "127.0.0.1:5555");

    /* The client wrote its first bytes inside the connect callback, maybe
     * before the server finished: they must all reach the new owner. */
    assert_int_equal(uv_read_start(sd.accepted, side_alloc_cb, side_read_cb), 0);
    assert_true(RUN_UNTIL(&f->loop, sd.nread >= sizeof FIRST_BYTES - 1, 2000));
    sd.rbuf[sd.nread] = '\0';
    assert_string_equal(sd.rbuf, FIRST_BYTES);

    uv_close((uv_handle_t *)sd.stream, side_stream_close_cb);
    uv_close((uv_handle_t *)sd.accepted, side_stream_close_cb);
    assert_true(RUN_UNTIL(&f->loop, sd.closed_streams == 2, 1000));
    assert_int_equal(rtx_active_handles(&server.t), 0);
    assert_int_equal(rtx_active_handles(&client.t), 0);

    /* t->close detaches c-raft asynchronously; the RPC channel stays. */
    client.t.close(&client.t, side_transport_close_cb);
    assert_false(sd.transport_closed);
    assert_true(RUN_UNTIL(&f->loop, sd.transport_closed, 1000));
    node_close(f, &client);
    node_close(f, &server);
}

static void test_raft_connection_closed_when_raft_not_attached(void **state)
{
    struct fx *f = *state;
    struct node server, client;
    struct raft_side sd = {0};

    side = &sd;
    node_init(f, &server, "s3cret", true); /* no t->listen: c-raft not started */
    node_init(f, &client, "s3cret", false);
    assert_int_equal(client.t.init(&client.t, 1, "127.0.0.1:5555"), 0);
    sd.req.data = &sd;
    assert_int_equal(client.t.connect(&client.t, &sd.req, 2, server.addr, side_connect_cb), 0);
    assert_true(RUN_UNTIL(&f->loop, sd.connect_count == 1, 3000));
    assert_int_equal(sd.connect_status, 0);
    assert_int_equal(uv_read_start(sd.stream, side_alloc_cb, side_read_cb), 0);
    assert_true(RUN_UNTIL(&f->loop, sd.eof, 2000)); /* the server hung up */
    assert_int_equal(sd.nread, 0);
    uv_close((uv_handle_t *)sd.stream, side_stream_close_cb);
    assert_true(RUN_UNTIL(&f->loop, sd.closed_streams == 1, 1000));
    node_close(f, &client);
    node_close(f, &server);
}

static void test_raft_connect_with_wrong_secret_fails(void **state)
{
    struct fx *f = *state;
    struct node server, client;
    struct raft_side sd = {0};

    side = &sd;
    node_init(f, &server, "s3cret", true);
    node_init(f, &client, "other", false);
    assert_int_equal(server.t.init(&server.t, 2, server.addr), 0);
    assert_int_equal(server.t.listen(&server.t, side_accept_cb), 0);
    assert_int_equal(client.t.init(&client.t, 1, "127.0.0.1:5555"), 0);
    sd.req.data = &sd;
    assert_int_equal(client.t.connect(&client.t, &sd.req, 2, server.addr, side_connect_cb), 0);
    assert_true(RUN_UNTIL(&f->loop, sd.connect_count == 1, 3000));
    assert_int_equal(sd.connect_status, RAFT_NOCONNECTION);
    assert_null(sd.stream);
    assert_null(sd.accepted);
    node_close(f, &client);
    node_close(f, &server);
}

static void test_raft_connect_canceled_by_close(void **state)
{
    struct fx *f = *state;
    struct raw raw = {.mode = RAW_SILENT};
    struct node client;
    struct raft_side sd = {0};
    char addr[32];

    side = &sd;
    raw_listen(f, &raw, addr, sizeof addr);
    node_init(f, &client, "s3cret", false);
    assert_int_equal(client.t.init(&client.t, 1, "127.0.0.1:5555"), 0);
    sd.req.data = &sd;
    assert_int_equal(client.t.connect(&client.t, &sd.req, 2, addr, side_connect_cb), 0);
    assert_true(RUN_UNTIL(&f->loop, raw.accepted, 1000));
    client.t.close(&client.t, side_transport_close_cb);
    assert_int_equal(sd.connect_count, 0);
    assert_false(sd.transport_closed);
    assert_true(RUN_UNTIL(&f->loop, sd.transport_closed, 1000));
    assert_int_equal(sd.connect_count, 1);
    assert_int_equal(sd.connect_status, RAFT_CANCELED);
    assert_int_equal(sd.order, 1);
    /* Detached: no new Raft connects. */
    assert_int_equal(client.t.connect(&client.t, &sd.req, 2, addr, side_connect_cb),
                     RAFT_NOCONNECTION);
    node_close(f, &client);
    raw_listen_close(f, &raw);
}

/* --- real c-raft clusters --------------------------------------------------- */

struct rnode {
    struct node n;
    raft_id id;
    char dir[64];
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    unsigned applied;
    bool closed;
};

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct rnode *rn = fsm->data;
    (void)buf;
    rn->applied++;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    *bufs = raft_malloc(sizeof **bufs);
    (*bufs)[0].len = 8;
    (*bufs)[0].base = raft_malloc(8);
    memset((*bufs)[0].base, 0, 8);
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    (void)fsm;
    raft_free(buf->base);
    return 0;
}

static void rnode_setup(struct fx *f, struct rnode *rn, raft_id id, const char *secret)
{
    memset(rn, 0, sizeof *rn);
    rn->id = id;
    node_init(f, &rn->n, secret, true);
    snprintf(rn->dir, sizeof rn->dir, "/tmp/rtx-test-XXXXXX");
    assert_non_null(mkdtemp(rn->dir));
    assert_int_equal(raft_uv_init(&rn->io, &f->loop, rn->dir, &rn->n.t), 0);
    raft_uv_set_auto_recovery(&rn->io, false);
    raft_uv_set_segment_size(&rn->io, 64 * 4096);
    rn->fsm.version = 1;
    rn->fsm.data = rn;
    rn->fsm.apply = fsm_apply;
    rn->fsm.snapshot = fsm_snapshot;
    rn->fsm.restore = fsm_restore;
    assert_int_equal(raft_init(&rn->raft, &rn->io, &rn->fsm, id, rn->n.addr), 0);
    raft_set_election_timeout(&rn->raft, 300);
    raft_set_heartbeat_timeout(&rn->raft, 50);
    raft_set_pre_vote(&rn->raft, true);
}

static void rnode_close_cb(struct raft *r)
{
    struct rnode *rn = rg_container_of(r, struct rnode, raft);
    rn->closed = true;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

static void cluster_start(struct fx *f, struct rnode rn[3], const char *const secrets[3])
{
    struct raft_configuration conf;
    int i, j;

    for (i = 0; i < 3; i++) {
        rnode_setup(f, &rn[i], (raft_id)(i + 1), secrets[i]);
    }
    for (i = 0; i < 3; i++) {
        raft_configuration_init(&conf);
        for (j = 0; j < 3; j++) {
            assert_int_equal(raft_configuration_add(&conf, rn[j].id, rn[j].n.addr, RAFT_VOTER), 0);
        }
        assert_int_equal(raft_bootstrap(&rn[i].raft, &conf), 0);
        raft_configuration_close(&conf);
        assert_int_equal(raft_start(&rn[i].raft), 0);
    }
}

static void cluster_stop(struct fx *f, struct rnode rn[3])
{
    int i;
    for (i = 0; i < 3; i++) {
        raft_close(&rn[i].raft, rnode_close_cb);
    }
    assert_true(RUN_UNTIL(&f->loop, rn[0].closed && rn[1].closed && rn[2].closed, 5000));
    for (i = 0; i < 3; i++) {
        raft_uv_close(&rn[i].io);
        node_close(f, &rn[i].n);
        rm_dir(rn[i].dir);
    }
}

static struct rnode *cluster_leader(struct rnode rn[3])
{
    int i;
    for (i = 0; i < 3; i++) {
        if (raft_state(&rn[i].raft) == RAFT_LEADER) {
            return &rn[i];
        }
    }
    return NULL;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    int *st = req->data;
    (void)result;
    *st = status;
}

static void cluster_apply(struct fx *f, struct rnode *leader)
{
    struct raft_apply req;
    struct raft_buffer buf;
    int status = 1;

    buf.len = 8;
    buf.base = raft_malloc(buf.len);
    memcpy(buf.base, "rtx-test", 8);
    req.data = &status;
    assert_int_equal(raft_apply(&leader->raft, &req, &buf, 1, apply_cb), 0);
    assert_true(RUN_UNTIL(&f->loop, status != 1, 5000));
    assert_int_equal(status, 0);
}

static void test_raft_cluster_elects_and_replicates(void **state)
{
    struct fx *f = *state;
    static const char *const secrets[3] = {"s3cret", "s3cret", "s3cret"};
    struct rnode rn[3];
    struct rnode *leader;

    cluster_start(f, rn, secrets);
    assert_true(RUN_UNTIL(&f->loop, cluster_leader(rn) != NULL, 10000));
    leader = cluster_leader(rn);
    cluster_apply(f, leader);
    assert_true(
        RUN_UNTIL(&f->loop, rn[0].applied == 1 && rn[1].applied == 1 && rn[2].applied == 1, 5000));
    cluster_stop(f, rn);
}

static void test_raft_node_with_wrong_secret_is_left_out(void **state)
{
    struct fx *f = *state;
    static const char *const secrets[3] = {"s3cret", "s3cret", "intruder"};
    struct rnode rn[3];
    struct rnode *leader;

    cluster_start(f, rn, secrets);
    assert_true(RUN_UNTIL(&f->loop, cluster_leader(rn) != NULL, 10000));
    leader = cluster_leader(rn);
    assert_true(leader != &rn[2]);
    cluster_apply(f, leader);
    assert_true(RUN_UNTIL(&f->loop, rn[0].applied == 1 && rn[1].applied == 1, 5000));
    /* Give the odd one ample heartbeats to (not) catch up. */
    assert_false(RUN_UNTIL(&f->loop, rn[2].applied > 0, 1000));
    assert_int_equal(rn[2].applied, 0);
    assert_true(raft_state(&rn[2].raft) != RAFT_LEADER);
    cluster_stop(f, rn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rpc_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rpc_refused_when_server_has_other_secret, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rpc_refused_when_client_has_other_secret, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_without_secret_is_not_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_to_closed_port_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_to_silent_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_timeout_then_late_reply_is_harmless, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_call_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_after_server_shutdown_only_frees, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_cancels_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_port_in_use_gives_clear_errmsg, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_garbage_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_magic_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_version_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_mac_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_frame_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_client_is_closed_after_handshake_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raft_channel_hands_over_authenticated_stream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raft_connection_closed_when_raft_not_attached, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raft_connect_with_wrong_secret_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raft_connect_canceled_by_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raft_cluster_elects_and_replicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raft_node_with_wrong_secret_is_left_out, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
