/*
 * rtx: Regent's authenticated TCP transport for c-raft, and the peer RPC
 * channel that shares its port.
 *
 * Every TCP connection to a node's raft address starts with a mutual
 * challenge–response handshake keyed by the cluster secret
 * (raft.password), HMAC-SHA256 from OpenSSL:
 *
 *   server → client  HELLO   magic "RGNT", proto version, 32-byte server nonce
 *   client → server  AUTH    client nonce, channel (RAFT | RPC), raft id,
 *                            address, HMAC(secret, "c" | both nonces | fields)
 *   server → client  OK      HMAC(secret, "s" | both nonces)   (or close)
 *
 * Messages are read with exact-size buffers, then reading stops
 * (uv_read_stop) before the stream is handed on, so no byte of the peer's
 * first Raft message is swallowed. A peer that fails the handshake, sends
 * garbage or stays silent for the handshake timeout (2 s) is disconnected;
 * nothing it sent reaches c-raft or the RPC handler.
 *
 * RAFT channel: the authenticated stream (a uv_tcp_t allocated with
 * raft_malloc, as raft_uv frees it with raft_free) is handed to c-raft
 * through the raft_uv_transport interface: accept_cb(t, id, address, stream)
 * on the server, the connect callback on the client.
 *
 * RPC channel: after the handshake the client sends one request frame and
 * the server answers one response frame, then the connection closes. A frame
 * is a 4-byte big-endian length followed by that many bytes of JSON (at most
 * RTX_MAX_FRAME). The server hands each request to the rpc handler set with
 * rtx_set_rpc_handler, which answers through rtx_rpc_reply — now or later.
 */
#ifndef REGENT_RTX_H
#define REGENT_RTX_H

#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define RTX_MAX_FRAME (4u << 20)

struct rtx;

/* Create a transport on @loop authenticating with @secret (copied). The
 * caller passes @t to raft_uv_init. Its listen op only records c-raft's
 * accept callback: RAFT-channel connections that arrive before it (or after
 * raft_uv closed the transport) are authenticated and then closed. */
int rtx_init(struct raft_uv_transport *t, uv_loop_t *loop, const char *secret, char *errmsg);

/* Listen on @bind_addr ("a.b.c.d:port") for both channels, now: the RPC
 * channel works before (and without) a Raft instance. RG_EIO with a clear
 * @errmsg when the port is in use ("could not bind 127.0.0.1:7001: address
 * already in use"). */
int rtx_listen(struct raft_uv_transport *t, const char *bind_addr, char *errmsg);

/* The port rtx_listen bound (useful with port 0), or -1 when not listening. */
int rtx_listen_port(struct raft_uv_transport *t);

/* raft_uv's close op (t->close) only detaches c-raft: pending Raft connects
 * fail, no further RAFT-channel stream is handed over, the listener and the
 * RPC channel keep working. rtx_shutdown closes the listener and every
 * connection and call (calls complete with RG_ECANCELED); @cb fires once all
 * handles are closed. Then rtx_free releases the memory. */
void rtx_shutdown(struct raft_uv_transport *t, void (*cb)(struct raft_uv_transport *t));
void rtx_free(struct raft_uv_transport *t);

/* --- RPC server side ---------------------------------------------------- */

struct rtx_rpc_req;
/*
 * Called on the loop for each authenticated request. @body (NUL-terminated
 * JSON text of @len bytes) is valid until the reply. The handler must call
 * rtx_rpc_reply exactly once for @req, now or later; if the peer has gone,
 * the reply is discarded but must still be made.
 */
typedef void (*rtx_rpc_handler)(void *data,
                                struct rtx_rpc_req *req,
                                uint64_t peer_id,
                                const char *peer_address,
                                const char *body,
                                size_t len);

void rtx_set_rpc_handler(struct raft_uv_transport *t, rtx_rpc_handler handler, void *data);

/* Answer @req with @body (copied). Frees @req. */
void rtx_rpc_reply(struct rtx_rpc_req *req, const char *body, size_t len);

/* --- RPC client side ---------------------------------------------------- */

struct rtx_call;
/* status 0: @body (NUL-terminated, @len bytes) is the response, valid during
 * the callback only. Otherwise RG_ECONNECT, RG_EAUTH (handshake refused or
 * the server failed to prove it knows the secret), RG_ETIMEDOUT, RG_EPARSE,
 * RG_ECANCELED (rtx_call_cancel or transport closing); @errmsg says more. */
typedef void (*rtx_call_cb)(
    struct rtx_call *call, int status, const char *body, size_t len, const char *errmsg);

struct rtx_call {
    void *data; /* caller's */
    /* private */
    void *impl;
    rtx_call_cb cb;
};

/*
 * Send @body (copied) to the node at @address ("a.b.c.d:port") and wait for
 * its answer, at most @timeout_ms in all. The transport need not listen (a
 * transport that raft_uv never initialised can make calls: regent uses this
 * before its Raft instance exists). 0: @cb fires exactly once, never inside
 * this call. An error code: @cb never fires.
 * @self_id/@self_address identify the caller in the handshake (0/"" if none).
 */
int rtx_call_start(struct raft_uv_transport *t,
                   struct rtx_call *call,
                   const char *address,
                   const char *body,
                   size_t len,
                   unsigned timeout_ms,
                   uint64_t self_id,
                   const char *self_address,
                   rtx_call_cb cb);

/* Cancel: the callback fires with RG_ECANCELED (on a later loop iteration). */
void rtx_call_cancel(struct rtx_call *call);

/* Open connections and calls, for leak checks in tests (the listener is not
 * counted; a connection counts until its handles are closed). */
unsigned rtx_active_handles(struct raft_uv_transport *t);

#endif
