/*
 * api_internal: what the REST server's two halves share, private to api/.
 * api.c runs h2o, the connections and the routing; api_secure.c holds the
 * access state (TLS context, credentials, allowlist and members' addresses)
 * and answers api_secure_check() for every unsafe request.
 */
#ifndef REGENT_API_INTERNAL_H
#define REGENT_API_INTERNAL_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "api/api.h"
#include "api/api_access.h"

struct api_secure;

/* A TLS handshake finished on h2o socket @sock (an h2o_socket_t *, or NULL
 * when it cannot be told); @cert_ok: the client sent a certificate that
 * verified against restapi.cafile. */
typedef void (*api_secure_handshake_cb)(void *arg, const void *sock, bool cert_ok);

/* Plain HTTP, no checks, until api_secure_set. */
struct api_secure *api_secure_new(uv_loop_t *loop, api_secure_handshake_cb cb, void *arg);

/* Free; lookups still running finish on the loop on their own (they hold
 * their address list, not @sec), after which nothing of it remains. */
void api_secure_free(struct api_secure *sec);

/* See api_server_set_security: 0, or RG_E* with @errmsg and nothing changed. */
int api_secure_set(struct api_secure *sec, const struct api_security *c, char *errmsg);

/* See api_server_set_members. */
void api_secure_set_members(struct api_secure *sec, const char *const *hosts, size_t n);

/* The TLS context new connections use (borrowed; it lives while a
 * connection uses it), or NULL for plain HTTP. */
SSL_CTX *api_secure_ssl_ctx(const struct api_secure *sec);

/* The verdict on an unsafe request from @peer (NULL when unknown: it is
 * then in no allowlist), @cert_ok as the handshake said, with the
 * Authorization header @authz (NULL when absent). */
enum api_access_verdict api_secure_check(const struct api_secure *sec,
                                         const struct sockaddr *peer,
                                         bool cert_ok,
                                         const char *authz,
                                         size_t authz_len);

#endif
