/*
 * rtx internals, shared by rtx.c (transport object, wire format, HMAC),
 * rtx_server.c (accepted connections) and rtx_client.c (Raft connects and
 * RPC calls). The wire format is described in docs/internals/transport.md.
 */
#ifndef REGENT_RTX_INTERNAL_H
#define REGENT_RTX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/rg.h"
#include "raft/rtx.h"

#define RTX_MAGIC                "RGNT"
#define RTX_PROTO_VERSION        1
#define RTX_NONCE_SIZE           32
#define RTX_MAC_SIZE             32
#define RTX_ADDR_MAX             255
#define RTX_HELLO_SIZE           40 /* magic 4, version 2, flags 2, nonce 32 */
#define RTX_AUTH_FIXED_SIZE      48 /* magic 4, version 2, channel 1, addr_len 1, id 8, nonce 32 */
#define RTX_AUTH_MAX_SIZE        (RTX_AUTH_FIXED_SIZE + RTX_ADDR_MAX + RTX_MAC_SIZE)
#define RTX_OK_SIZE              RTX_MAC_SIZE
#define RTX_HANDSHAKE_TIMEOUT_MS 2000
#define RTX_FRAME_TIMEOUT_MS     10000
#define RTX_WARN_INTERVAL_MS     1000

enum rtx_channel { RTX_CHANNEL_RAFT = 1, RTX_CHANNEL_RPC = 2 };

/* Intrusive doubly linked list (a ring with a sentinel head). */
struct rtx_link {
    struct rtx_link *prev;
    struct rtx_link *next;
};

struct rtx {
    struct raft_uv_transport *t; /* borrowed: the interface we implement */
    uv_loop_t *loop;             /* borrowed */
    char *secret;                /* owned */
    size_t secret_len;

    /* Identity given by raft_uv through t->init. */
    raft_id id;
    char *address; /* owned */

    /* c-raft attachment: accept_cb is set by t->listen, cleared by t->close. */
    raft_uv_accept_cb accept_cb;
    bool raft_detached;                  /* t->close called (and no t->init since) */
    raft_uv_transport_close_cb close_cb; /* pending t->close */
    bool close_deferred;                 /* t->close's deferral handle has closed */
    uv_timer_t close_defer;              /* closed at once: makes close_cb asynchronous */
    unsigned n_raft_connects;            /* t->connect requests whose cb has not fired */

    uv_tcp_t listener;
    bool listener_open; /* initialised, close callback not run yet */
    bool listening;     /* bound and listening, not closing */

    rtx_rpc_handler handler;
    void *handler_data;

    struct rtx_link ins;  /* struct rtx_in: accepted connections */
    struct rtx_link outs; /* struct rtx_out: Raft connects and RPC calls */
    unsigned n_ins;
    unsigned n_outs;

    unsigned n_handles; /* libuv handles we own that are not closed yet */
    bool shutting_down;
    void (*shutdown_cb)(struct raft_uv_transport *t);
    uv_timer_t shutdown_defer; /* closed at once: makes shutdown_cb asynchronous */

    /* Warning rate limit. */
    bool warned;
    uint64_t warn_last_ms;
    unsigned warn_suppressed;
};

/* Reads exactly @want bytes into @buf, offering libuv only the bytes still
 * missing, so nothing that follows is consumed; then stops reading and calls
 * @cb with 0, or with a negative libuv code (UV_EOF, ...) on error. The stream's
 * data field must point at the reader. */
struct rtx_reader;
typedef void (*rtx_reader_cb)(struct rtx_reader *r, int status);
struct rtx_reader {
    unsigned char *buf; /* borrowed */
    size_t want;
    size_t got;
    rtx_reader_cb cb;
};

/* Authenticated fields of an AUTH message. */
struct rtx_auth {
    unsigned version;
    unsigned channel;
    size_t addr_len;
    raft_id id;
    unsigned char nonce[RTX_NONCE_SIZE];
    char address[RTX_ADDR_MAX + 1];
};

/* rtx.c */
void rtx__link_init(struct rtx_link *l);
void rtx__link_push(struct rtx_link *head, struct rtx_link *l);
void rtx__link_remove(struct rtx_link *l);
bool rtx__link_empty(const struct rtx_link *head);

int rtx__parse_addr(const char *address, bool allow_port_0, struct sockaddr_in *sa);
void rtx__peer_name(uv_tcp_t *tcp, char *buf, size_t len);
void rtx__warn(struct rtx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uv_tcp_t *rtx__tcp_new(void);
void rtx__handle_closed(struct rtx *x);
void rtx__maybe_fire_close(struct rtx *x);

int rtx__read_start(uv_tcp_t *tcp, struct rtx_reader *r, void *buf, size_t want, rtx_reader_cb cb);

void rtx__hello_encode(unsigned char *buf, const unsigned char *server_nonce);
int rtx__hello_decode(const unsigned char *buf, unsigned char *server_nonce, char *errmsg);
size_t rtx__auth_encode(const struct rtx *x,
                        unsigned char *buf,
                        const unsigned char *server_nonce,
                        const unsigned char *client_nonce,
                        unsigned channel,
                        raft_id id,
                        const char *address);
int rtx__auth_decode_fixed(const unsigned char *buf, struct rtx_auth *a, char *errmsg);
int rtx__auth_verify(const struct rtx *x,
                     const unsigned char *buf,
                     struct rtx_auth *a,
                     const unsigned char *server_nonce,
                     char *errmsg);
void rtx__ok_encode(const struct rtx *x,
                    unsigned char *buf,
                    const unsigned char *server_nonce,
                    const unsigned char *client_nonce);
bool rtx__ok_verify(const struct rtx *x,
                    const unsigned char *buf,
                    const unsigned char *server_nonce,
                    const unsigned char *client_nonce);

void rtx__put32(unsigned char *p, uint32_t v);
uint32_t rtx__get32(const unsigned char *p);

/* rtx_server.c */
void rtx__server_connection_cb(uv_stream_t *listener, int status);
void rtx__server_close_all(struct rtx *x);

/* rtx_client.c */
int rtx__client_raft_connect(struct raft_uv_transport *t,
                             struct raft_uv_connect *req,
                             raft_id id,
                             const char *address,
                             raft_uv_connect_cb cb);
void rtx__client_cancel_raft(struct rtx *x);
void rtx__client_close_all(struct rtx *x);

#endif
