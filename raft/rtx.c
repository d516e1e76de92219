/*
 * rtx: the transport object, the listener, the handshake wire format and its
 * HMACs. Accepted connections live in rtx_server.c, outgoing Raft connects and
 * RPC calls in rtx_client.c; docs/internals/transport.md describes the
 * protocol and what it does and does not protect against.
 *
 * Lifetime. rtx_init allocates the state behind t->impl (c-raft owns t->data:
 * raft_uv_init stores its own pointer there). raft_uv drives t->init,
 * t->listen, t->connect and t->close; t->close only detaches c-raft, the
 * listener and the RPC channel keep working. rtx_shutdown closes every handle;
 * every handle we own is counted in n_handles and its close callback ends in
 * rtx__handle_closed(), which fires the shutdown callback once the count drops
 * to zero. Both close callbacks are made asynchronous by a timer handle that
 * is closed as soon as it is created (its close callback runs on the next
 * loop iteration at the earliest).
 */
#include "raft/rtx.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg_log.h"
#include "raft/rtx_internal.h"

/* --- small helpers ------------------------------------------------------ */

void rtx__link_init(struct rtx_link *l)
{
    l->prev = l;
    l->next = l;
}

void rtx__link_push(struct rtx_link *head, struct rtx_link *l)
{
    l->next = head;
    l->prev = head->prev;
    head->prev->next = l;
    head->prev = l;
}

void rtx__link_remove(struct rtx_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    rtx__link_init(l);
}

bool rtx__link_empty(const struct rtx_link *head)
{
    return head->next == head;
}

void rtx__put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

uint32_t rtx__get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put64(unsigned char *p, uint64_t v)
{
    rtx__put32(p, (uint32_t)(v >> 32));
    rtx__put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)rtx__get32(p) << 32 | rtx__get32(p + 4);
}

/* "a.b.c.d:port", IPv4 literal only (as c-raft's own transport). */
int rtx__parse_addr(const char *address, bool allow_port_0, struct sockaddr_in *sa)
{
    const char *colon = address != NULL ? strrchr(address, ':') : NULL;
    char host[INET_ADDRSTRLEN];
    size_t host_len;
    unsigned long port;
    char *end;

    if (colon == NULL) {
        return RG_EINVAL;
    }
    host_len = (size_t)(colon - address);
    if (host_len == 0 || host_len >= sizeof host || colon[1] < '0' || colon[1] > '9') {
        return RG_EINVAL;
    }
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port > 65535 || (port == 0 && !allow_port_0)) {
        return RG_EINVAL;
    }
    if (uv_ip4_addr(host, (int)port, sa) != 0) {
        return RG_EINVAL;
    }
    return 0;
}

void rtx__peer_name(uv_tcp_t *tcp, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    int n = (int)sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";

    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &n) != 0) {
        snprintf(buf, len, "unknown peer");
        return;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        uv_ip4_name(in, ip, sizeof ip);
        snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(in6, ip, sizeof ip);
        snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    }
}

/* At most one warning per RTX_WARN_INTERVAL_MS: a peer with the wrong secret
 * reconnects every second or so, and a scanner may connect much faster. */
void rtx__warn(struct rtx *x, const char *fmt, ...)
{
    uint64_t now = uv_now(x->loop);
    char line[RG_ERRMSG_SIZE];
    va_list ap;

    if (x->warned && now - x->warn_last_ms < RTX_WARN_INTERVAL_MS) {
        x->warn_suppressed++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (x->warn_suppressed > 0) {
        rg_log(RG_WARNING, "rtx", "%s (%u similar warnings suppressed)", line, x->warn_suppressed);
    } else {
        rg_log(RG_WARNING, "rtx", "%s", line);
    }
    x->warned = true;
    x->warn_last_ms = now;
    x->warn_suppressed = 0;
}

/* TCP handles that may be handed to c-raft come from raft_malloc, since
 * raft_uv releases them with raft_free. Out of memory aborts, as rg_malloc. */
uv_tcp_t *rtx__tcp_new(void)
{
    uv_tcp_t *tcp = raft_malloc(sizeof *tcp);
    if (tcp == NULL) {
        fprintf(stderr, "regent: out of memory (%zu bytes)\n", sizeof *tcp);
        abort();
    }
    memset(tcp, 0, sizeof *tcp);
    return tcp;
}

/* --- exact-size reads --------------------------------------------------- */

static void reader_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct rtx_reader *r = handle->data;
    (void)suggested;
    /* Only the bytes still missing from the current message: whatever the
     * peer sent after it stays in the kernel for the next owner. */
    buf->base = (char *)r->buf + r->got;
    buf->len = r->want - r->got;
}

static void reader_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct rtx_reader *r = stream->data;
    (void)buf;

    if (nread == 0) {
        return; /* EAGAIN */
    }
    if (nread < 0) {
        uv_read_stop(stream);
        r->cb(r, (int)nread);
        return;
    }
    RG_ASSERT((size_t)nread <= r->want - r->got);
    r->got += (size_t)nread;
    if (r->got == r->want) {
        uv_read_stop(stream);
        r->cb(r, 0);
    }
}

int rtx__read_start(uv_tcp_t *tcp, struct rtx_reader *r, void *buf, size_t want, rtx_reader_cb cb)
{
    r->buf = buf;
    r->want = want;
    r->got = 0;
    r->cb = cb;
    tcp->data = r;
    RG_PRE(want > 0);
    return uv_read_start((uv_stream_t *)tcp, reader_alloc_cb, reader_read_cb);
}

/* --- handshake messages ------------------------------------------------- */

static void
mac(const struct rtx *x, const unsigned char *data, size_t len, unsigned char out[RTX_MAC_SIZE])
{
    unsigned int out_len = RTX_MAC_SIZE;
    unsigned char *p = HMAC(EVP_sha256(), x->secret, (int)x->secret_len, data, len, out, &out_len);
    RG_ASSERT(p != NULL && out_len == RTX_MAC_SIZE);
}

void rtx__hello_encode(unsigned char *buf, const unsigned char *server_nonce)
{
    memcpy(buf, RTX_MAGIC, 4);
    buf[4] = 0;
    buf[5] = RTX_PROTO_VERSION;
    buf[6] = 0; /* flags, none yet */
    buf[7] = 0;
    memcpy(buf + 8, server_nonce, RTX_NONCE_SIZE);
}

static int check_magic_version(const unsigned char *buf, const char *what, char *errmsg)
{
    unsigned version = (unsigned)buf[4] << 8 | buf[5];
    if (memcmp(buf, RTX_MAGIC, 4) != 0) {
        rg_errmsg_printf(errmsg, "%s: bad magic (not a regent raft port)", what);
        return RG_EPARSE;
    }
    if (version != RTX_PROTO_VERSION) {
        rg_errmsg_printf(errmsg, "%s: unsupported protocol version %u (this node speaks %u)", what,
                         version, RTX_PROTO_VERSION);
        return RG_EPARSE;
    }
    return 0;
}

int rtx__hello_decode(const unsigned char *buf, unsigned char *server_nonce, char *errmsg)
{
    int rv = check_magic_version(buf, "hello", errmsg);
    if (rv != 0) {
        return rv;
    }
    memcpy(server_nonce, buf + 8, RTX_NONCE_SIZE);
    return 0;
}

/* The client's MAC covers a label, the server's nonce and every byte of the
 * AUTH message before the MAC: client nonce, channel, id and address. */
static void auth_mac(const struct rtx *x,
                     const unsigned char *msg,
                     size_t msg_len,
                     const unsigned char *server_nonce,
                     unsigned char out[RTX_MAC_SIZE])
{
    unsigned char data[8 + RTX_NONCE_SIZE + RTX_AUTH_FIXED_SIZE + RTX_ADDR_MAX];
    RG_PRE(msg_len <= RTX_AUTH_FIXED_SIZE + RTX_ADDR_MAX);
    memcpy(data, "rtx1 c\0\0", 8);
    memcpy(data + 8, server_nonce, RTX_NONCE_SIZE);
    memcpy(data + 8 + RTX_NONCE_SIZE, msg, msg_len);
    mac(x, data, 8 + RTX_NONCE_SIZE + msg_len, out);
}

size_t rtx__auth_encode(const struct rtx *x,
                        unsigned char *buf,
                        const unsigned char *server_nonce,
                        const unsigned char *client_nonce,
                        unsigned channel,
                        raft_id id,
                        const char *address)
{
    size_t addr_len = strlen(address);
    RG_PRE(addr_len <= RTX_ADDR_MAX);
    memcpy(buf, RTX_MAGIC, 4);
    buf[4] = 0;
    buf[5] = RTX_PROTO_VERSION;
    buf[6] = (unsigned char)channel;
    buf[7] = (unsigned char)addr_len;
    put64(buf + 8, id);
    memcpy(buf + 16, client_nonce, RTX_NONCE_SIZE);
    memcpy(buf + RTX_AUTH_FIXED_SIZE, address, addr_len);
    auth_mac(x, buf, RTX_AUTH_FIXED_SIZE + addr_len, server_nonce,
             buf + RTX_AUTH_FIXED_SIZE + addr_len);
    return RTX_AUTH_FIXED_SIZE + addr_len + RTX_MAC_SIZE;
}

int rtx__auth_decode_fixed(const unsigned char *buf, struct rtx_auth *a, char *errmsg)
{
    int rv = check_magic_version(buf, "auth", errmsg);
    if (rv != 0) {
        return rv;
    }
    a->version = (unsigned)buf[4] << 8 | buf[5];
    a->channel = buf[6];
    a->addr_len = buf[7]; /* one byte: at most RTX_ADDR_MAX by construction */
    a->id = get64(buf + 8);
    memcpy(a->nonce, buf + 16, RTX_NONCE_SIZE);
    if (a->channel != RTX_CHANNEL_RAFT && a->channel != RTX_CHANNEL_RPC) {
        rg_errmsg_printf(errmsg, "auth: unknown channel %u", a->channel);
        return RG_EPARSE;
    }
    if (a->channel == RTX_CHANNEL_RAFT && (a->id == 0 || a->addr_len == 0)) {
        rg_errmsg_printf(errmsg, "auth: raft channel without id or address");
        return RG_EPARSE;
    }
    return 0;
}

/* @buf holds the whole AUTH message (fixed part, address, MAC). */
int rtx__auth_verify(const struct rtx *x,
                     const unsigned char *buf,
                     struct rtx_auth *a,
                     const unsigned char *server_nonce,
                     char *errmsg)
{
    unsigned char expect[RTX_MAC_SIZE];
    const unsigned char *addr = buf + RTX_AUTH_FIXED_SIZE;
    size_t i;

    auth_mac(x, buf, RTX_AUTH_FIXED_SIZE + a->addr_len, server_nonce, expect);
    if (CRYPTO_memcmp(expect, addr + a->addr_len, RTX_MAC_SIZE) != 0) {
        rg_errmsg_printf(errmsg, "authentication failed (wrong raft.password?)");
        return RG_EAUTH;
    }
    /* Only now look at the address: it goes to c-raft and into log lines. */
    for (i = 0; i < a->addr_len; i++) {
        if (addr[i] <= ' ' || addr[i] > '~') {
            rg_errmsg_printf(errmsg, "auth: address contains a non-printable byte");
            return RG_EPARSE;
        }
    }
    memcpy(a->address, addr, a->addr_len);
    a->address[a->addr_len] = '\0';
    return 0;
}

static void ok_mac(const struct rtx *x,
                   const unsigned char *server_nonce,
                   const unsigned char *client_nonce,
                   unsigned char out[RTX_MAC_SIZE])
{
    unsigned char data[8 + 2 * RTX_NONCE_SIZE];
    memcpy(data, "rtx1 s\0\0", 8);
    memcpy(data + 8, server_nonce, RTX_NONCE_SIZE);
    memcpy(data + 8 + RTX_NONCE_SIZE, client_nonce, RTX_NONCE_SIZE);
    mac(x, data, sizeof data, out);
}

void rtx__ok_encode(const struct rtx *x,
                    unsigned char *buf,
                    const unsigned char *server_nonce,
                    const unsigned char *client_nonce)
{
    ok_mac(x, server_nonce, client_nonce, buf);
}

bool rtx__ok_verify(const struct rtx *x,
                    const unsigned char *buf,
                    const unsigned char *server_nonce,
                    const unsigned char *client_nonce)
{
    unsigned char expect[RTX_MAC_SIZE];
    ok_mac(x, server_nonce, client_nonce, expect);
    return CRYPTO_memcmp(expect, buf, RTX_MAC_SIZE) == 0;
}

/* --- raft_uv_transport ops ---------------------------------------------- */

static int op_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct rtx *x = t->impl;
    if (id == 0 || address == NULL || strlen(address) > RTX_ADDR_MAX) {
        snprintf(t->errmsg, sizeof t->errmsg, "invalid raft id or address");
        return RAFT_INVALID;
    }
    rg_free(x->address);
    x->address = rg_strdup(address);
    x->id = id;
    x->raft_detached = false;
    return 0;
}

static int op_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct rtx *x = t->impl;
    /* Nothing to bind: rtx_listen did. From now on RAFT-channel connections
     * are handed to c-raft. */
    x->accept_cb = cb;
    return 0;
}

static void close_defer_cb(uv_handle_t *handle)
{
    struct rtx *x = rg_container_of(handle, struct rtx, close_defer);
    x->close_deferred = true;
    rtx__maybe_fire_close(x);
    rtx__handle_closed(x);
}

void rtx__maybe_fire_close(struct rtx *x)
{
    raft_uv_transport_close_cb cb = x->close_cb;
    if (cb == NULL || !x->close_deferred || x->n_raft_connects > 0) {
        return;
    }
    x->close_cb = NULL;
    cb(x->t);
}

/* raft_uv's close: detach c-raft, cancel its pending connects, and tell it
 * (asynchronously) once they have all called back. */
static void op_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct rtx *x = t->impl;
    RG_PRE(x->close_cb == NULL);
    x->accept_cb = NULL;
    x->raft_detached = true;
    x->close_cb = cb;
    x->close_deferred = false;
    rtx__client_cancel_raft(x);
    uv_timer_init(x->loop, &x->close_defer);
    x->n_handles++;
    uv_close((uv_handle_t *)&x->close_defer, close_defer_cb);
}

/* --- public API --------------------------------------------------------- */

int rtx_init(struct raft_uv_transport *t, uv_loop_t *loop, const char *secret, char *errmsg)
{
    struct rtx *x;
    void *data = t->data;

    if (secret == NULL || secret[0] == '\0') {
        rg_errmsg_printf(errmsg, "the cluster secret (raft.password) must not be empty");
        return RG_EINVAL;
    }
    if (strlen(secret) > 4096) {
        rg_errmsg_printf(errmsg, "the cluster secret (raft.password) is longer than 4096 bytes");
        return RG_EINVAL;
    }
    memset(t, 0, sizeof *t);
    t->data = data;
    x = rg_calloc(1, sizeof *x);
    x->t = t;
    x->loop = loop;
    x->secret = rg_strdup(secret);
    x->secret_len = strlen(secret);
    rtx__link_init(&x->ins);
    rtx__link_init(&x->outs);
    t->impl = x;
    t->init = op_init;
    t->listen = op_listen;
    t->connect = rtx__client_raft_connect;
    t->close = op_close;
    return 0;
}

static void listener_close_cb(uv_handle_t *handle)
{
    struct rtx *x = handle->data;
    x->listener_open = false;
    rtx__handle_closed(x);
}

int rtx_listen(struct raft_uv_transport *t, const char *bind_addr, char *errmsg)
{
    struct rtx *x = t->impl;
    struct sockaddr_in sa;
    int rv;

    RG_PRE(!x->listener_open && !x->shutting_down);
    if (rtx__parse_addr(bind_addr, true, &sa) != 0) {
        rg_errmsg_printf(errmsg, "invalid bind address \"%s\": expected an IPv4 address and port",
                         bind_addr != NULL ? bind_addr : "");
        return RG_EINVAL;
    }
    uv_tcp_init(x->loop, &x->listener);
    x->listener.data = x;
    x->listener_open = true;
    x->n_handles++;
    /* libuv reports EADDRINUSE from uv_listen, not from uv_tcp_bind. */
    rv = uv_tcp_bind(&x->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&x->listener, 64, rtx__server_connection_cb);
    }
    if (rv != 0) {
        rg_errmsg_printf(errmsg, "could not bind %s: %s", bind_addr, uv_strerror(rv));
        uv_close((uv_handle_t *)&x->listener, listener_close_cb);
        return RG_EIO;
    }
    x->listening = true;
    return 0;
}

int rtx_listen_port(struct raft_uv_transport *t)
{
    struct rtx *x = t->impl;
    struct sockaddr_storage ss;
    int n = (int)sizeof ss;

    if (!x->listening || uv_tcp_getsockname(&x->listener, (struct sockaddr *)&ss, &n) != 0 ||
        ss.ss_family != AF_INET) {
        return -1;
    }
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void rtx__handle_closed(struct rtx *x)
{
    void (*cb)(struct raft_uv_transport * t);
    RG_ASSERT(x->n_handles > 0);
    x->n_handles--;
    if (x->n_handles > 0 || !x->shutting_down || x->shutdown_cb == NULL) {
        return;
    }
    cb = x->shutdown_cb;
    x->shutdown_cb = NULL;
    cb(x->t);
}

static void shutdown_defer_cb(uv_handle_t *handle)
{
    struct rtx *x = rg_container_of(handle, struct rtx, shutdown_defer);
    rtx__handle_closed(x);
}

void rtx_shutdown(struct raft_uv_transport *t, void (*cb)(struct raft_uv_transport *t))
{
    struct rtx *x = t->impl;
    RG_PRE(!x->shutting_down);
    x->shutting_down = true;
    x->shutdown_cb = cb;
    x->accept_cb = NULL;
    /* Holds n_handles above zero until the next loop iteration at the
     * earliest, so cb never runs inside this call. */
    uv_timer_init(x->loop, &x->shutdown_defer);
    x->n_handles++;
    uv_close((uv_handle_t *)&x->shutdown_defer, shutdown_defer_cb);
    if (x->listening) {
        x->listening = false;
        uv_close((uv_handle_t *)&x->listener, listener_close_cb);
    }
    rtx__server_close_all(x);
    rtx__client_close_all(x);
}

void rtx_free(struct raft_uv_transport *t)
{
    struct rtx *x = t->impl;
    if (x == NULL) {
        return;
    }
    RG_PRE(x->n_handles == 0 && x->close_cb == NULL);
    RG_PRE(rtx__link_empty(&x->ins) && rtx__link_empty(&x->outs));
    OPENSSL_cleanse(x->secret, x->secret_len);
    rg_free(x->secret);
    rg_free(x->address);
    rg_free(x);
    t->impl = NULL;
}

void rtx_set_rpc_handler(struct raft_uv_transport *t, rtx_rpc_handler handler, void *data)
{
    struct rtx *x = t->impl;
    x->handler = handler;
    x->handler_data = data;
}

unsigned rtx_active_handles(struct raft_uv_transport *t)
{
    struct rtx *x = t->impl;
    return x->n_ins + x->n_outs;
}
