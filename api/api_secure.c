/*
 * api_secure: the REST server's access state — the TLS context, the
 * credentials, the allowlist and the members' addresses — and the verdict
 * on each unsafe request (api_internal.h; the rules are api_access.c's).
 *
 * Happy path. api_secure_set() builds everything new from the settings —
 * parses the allowlist, reads the certificate, key and CA files into a new
 * SSL_CTX — and only when all of it worked swaps it in, so a bad reload
 * leaves the previous settings in force. Connections accepted later use
 * the new context; a connection keeps the context it was accepted with
 * (OpenSSL counts the references, SSL_CTX_free() only drops ours).
 *
 * Address lists. An allowlist (or the members' hosts) is a struct sec_list:
 * the entries as given, and the address blocks they stand for. Literal
 * addresses and CIDR blocks are there at once; host names are resolved with
 * uv_getaddrinfo, one name at a time (libuv's thread pool also carries
 * c-raft's disk writes, DESIGN.md "One loop"), and their addresses are
 * appended as they arrive. A name not resolved yet, or that failed (logged),
 * matches nothing: the check fails closed.
 *
 * A list outlives its owner while a lookup runs: replacing or freeing it
 * sets `dropped` and cancels the lookup; the lookup's callback (which libuv
 * always runs, UV_ECANCELED included) frees it. So a list is in one of:
 * IDLE -> RESOLVING <-> IDLE, and DROPPED (freed once not RESOLVING).
 *
 * Client certificates. With verify_client optional or required the context
 * asks for a certificate and OpenSSL verifies it against cafile (an invalid
 * one fails the handshake; "required" also fails it when there is none).
 * h2o 2.2.5 has no accessor for a socket's SSL object, so an info callback
 * reports each finished handshake, with the h2o socket that h2o set as its
 * BIO's data (lib/common/socket.c, setup_bio), to api.c, which remembers
 * the result on the connection. A socket it cannot match counts as "no
 * certificate": unsafe requests are then refused, never let through.
 */
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "agent/rg.h"
#include "agent/rg_log.h"
#include "api/api_internal.h"

#define LOGM "api"

struct sec_list {
    uv_loop_t *loop;
    const char *what; /* static: "restapi.allowlist", "members" (log lines) */
    char **src;       /* owned: the entries as given, duplicates left out */
    size_t n_src;
    struct api_net *nets; /* owned: literal blocks, then resolved addresses */
    size_t n_nets, cap_nets;
    size_t *names; /* owned: indexes in src of the host names */
    size_t n_names;
    size_t next; /* the name being (or next to be) resolved */
    uv_getaddrinfo_t gai;
    bool resolving; /* gai is outstanding */
    bool dropped;   /* the owner let go: free once not resolving */
};

struct api_secure {
    uv_loop_t *loop;
    SSL_CTX *ssl_ctx; /* one reference, or NULL: plain HTTP */
    bool cert_on;     /* TLS with verify_client optional or required */
    char *username;   /* owned or NULL */
    char *password;   /* owned or NULL; wiped before it is freed */
    bool include_members;
    struct sec_list *allow;   /* owned or NULL (empty allowlist) */
    struct sec_list *members; /* owned or NULL (none known yet) */
    api_secure_handshake_cb on_handshake;
    void *arg;
};

/* --- address lists ------------------------------------------------------- */

static void list_free(struct sec_list *l)
{
    for (size_t i = 0; i < l->n_src; i++) {
        rg_free(l->src[i]);
    }
    rg_free(l->src);
    rg_free(l->nets);
    rg_free(l->names);
    rg_free(l);
}

static void list_add_net(struct sec_list *l, const struct api_net *net)
{
    if (l->n_nets == l->cap_nets) {
        l->cap_nets = l->cap_nets > 0 ? 2 * l->cap_nets : 8;
        l->nets = rg_realloc(l->nets, l->cap_nets * sizeof *l->nets);
    }
    l->nets[l->n_nets++] = *net;
}

/*
 * A list of @n entries. @strict (the allowlist): a malformed entry is an
 * error naming it; otherwise (members' hosts, which the store validated)
 * it is left out. Nothing is resolved before list_start().
 */
static int list_new(uv_loop_t *loop,
                    const char *what,
                    const char *const *entries,
                    size_t n,
                    bool strict,
                    struct sec_list **out,
                    char *errmsg)
{
    struct sec_list *l = rg_calloc(1, sizeof *l);
    l->loop = loop;
    l->what = what;
    l->src = rg_calloc(n > 0 ? n : 1, sizeof *l->src);
    l->names = rg_calloc(n > 0 ? n : 1, sizeof *l->names);
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < l->n_src && !dup; j++) {
            dup = strcmp(l->src[j], entries[i]) == 0;
        }
        if (dup) {
            continue;
        }
        struct api_net net;
        char why[RG_ERRMSG_SIZE];
        int kind = api_access_entry_parse(entries[i], &net, why);
        if (kind < 0 && strict) {
            rg_errmsg_printf(errmsg, "%s: %s", what, why);
            list_free(l);
            return RG_EINVAL;
        }
        if (kind < 0) {
            continue;
        }
        if (kind == API_ENTRY_NET) {
            list_add_net(l, &net);
        } else {
            l->names[l->n_names++] = l->n_src;
        }
        l->src[l->n_src++] = rg_strdup(entries[i]);
    }
    *out = l;
    return 0;
}

static bool list_same(const struct sec_list *a, const struct sec_list *b)
{
    if (a->n_src != b->n_src) {
        return false;
    }
    for (size_t i = 0; i < a->n_src; i++) {
        if (strcmp(a->src[i], b->src[i]) != 0) {
            return false;
        }
    }
    return true;
}

static void list_resolve_next(struct sec_list *l);

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct sec_list *l = rg_container_of(req, struct sec_list, gai);
    l->resolving = false;
    if (l->dropped) {
        uv_freeaddrinfo(res);
        list_free(l);
        return;
    }
    const char *name = l->src[l->names[l->next]];
    if (status != 0) {
        rg_log(RG_WARNING, LOGM, "%s: could not resolve \"%s\": %s; it matches no client", l->what,
               name, uv_strerror(status));
    } else {
        size_t before = l->n_nets;
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            struct api_net net;
            if (ai->ai_addr != NULL && api_net_from_sockaddr(ai->ai_addr, &net) &&
                !api_net_contains(l->nets + before, l->n_nets - before, &net)) {
                list_add_net(l, &net);
            }
        }
        rg_log(RG_DEBUG, LOGM, "%s: \"%s\" resolved to %zu address(es)", l->what, name,
               l->n_nets - before);
    }
    uv_freeaddrinfo(res);
    l->next++;
    list_resolve_next(l);
}

static void list_resolve_next(struct sec_list *l)
{
    static const struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    while (l->next < l->n_names) {
        const char *name = l->src[l->names[l->next]];
        int rv = uv_getaddrinfo(l->loop, &l->gai, on_resolved, name, NULL, &hints);
        if (rv == 0) {
            l->resolving = true;
            return;
        }
        rg_log(RG_WARNING, LOGM, "%s: could not resolve \"%s\": %s; it matches no client", l->what,
               name, uv_strerror(rv));
        l->next++;
    }
}

static void list_start(struct sec_list *l)
{
    list_resolve_next(l);
}

/* The owner lets go of @l (NULL is fine). */
static void list_drop(struct sec_list *l)
{
    if (l == NULL) {
        return;
    }
    l->dropped = true;
    if (l->resolving) {
        /* Fails harmlessly when the lookup already runs: on_resolved frees. */
        uv_cancel((uv_req_t *)&l->gai);
        return;
    }
    list_free(l);
}

static bool list_has(const struct sec_list *l, const struct api_net *addr)
{
    return l != NULL && api_net_contains(l->nets, l->n_nets, addr);
}

/* --- TLS ----------------------------------------------------------------- */

static void on_ssl_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if ((where & SSL_CB_HANDSHAKE_DONE) == 0) {
        return;
    }
    struct api_secure *sec = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    BIO *bio = SSL_get_rbio(ssl);
    const void *sock = bio != NULL ? BIO_get_data(bio) : NULL;
    bool ok = SSL_get0_peer_certificate(ssl) != NULL && SSL_get_verify_result(ssl) == X509_V_OK;
    if (sec != NULL && sec->on_handshake != NULL) {
        sec->on_handshake(sec->arg, sock, ok);
    }
}

static int check_readable(const char *key, const char *path, char *errmsg)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        rg_errmsg_printf(errmsg, "%s: could not open \"%s\": %s", key, path, strerror(errno));
        return RG_EIO;
    }
    fclose(f);
    return 0;
}

/* "<key>: could not load <what> from "<path>": <OpenSSL's reason>". The
 * first error queued is the specific one ("no start line"), later ones only
 * say which call failed ("PEM lib"). */
static int ssl_error(char *errmsg, const char *key, const char *what, const char *path)
{
    unsigned long e = ERR_peek_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    rg_errmsg_printf(errmsg, "%s: could not load %s from \"%s\": %s", key, what, path,
                     reason != NULL ? reason : "not in PEM format");
    ERR_clear_error();
    return RG_EINVAL;
}

static int tls_load_ca(SSL_CTX *ctx, const char *cafile, char *errmsg)
{
    int rv = check_readable("restapi.cafile", cafile, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
        return ssl_error(errmsg, "restapi.cafile", "CA certificates", cafile);
    }
    /* The CA names sent to clients, so they pick the right certificate. */
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cafile);
    if (names == NULL) {
        return ssl_error(errmsg, "restapi.cafile", "CA certificates", cafile);
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    return 0;
}

static int tls_load(SSL_CTX *ctx, const struct api_security *c, char *errmsg)
{
    const char *keyfile = c->keyfile != NULL ? c->keyfile : c->certfile;
    const char *keykey = c->keyfile != NULL ? "restapi.keyfile" : "restapi.certfile";
    int rv = check_readable("restapi.certfile", c->certfile, errmsg);
    if (rv == 0 && c->keyfile != NULL) {
        rv = check_readable("restapi.keyfile", c->keyfile, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, c->certfile) != 1) {
        return ssl_error(errmsg, "restapi.certfile", "a certificate", c->certfile);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, keyfile, SSL_FILETYPE_PEM) != 1 &&
        ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH) {
        return ssl_error(errmsg, keykey, "a private key", keyfile);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        rg_errmsg_printf(errmsg, "%s: the key in \"%s\" does not match the certificate in \"%s\"",
                         keykey, keyfile, c->certfile);
        return RG_EINVAL;
    }
    if (c->verify_client != API_VERIFY_NONE && c->cafile == NULL) {
        rg_errmsg_printf(errmsg,
                         "restapi.verify_client: %s needs restapi.cafile (the CA that signs the "
                         "client certificates)",
                         c->verify_client == API_VERIFY_OPTIONAL ? "optional" : "required");
        return RG_EINVAL;
    }
    if (c->cafile != NULL) {
        rv = tls_load_ca(ctx, c->cafile, errmsg);
    }
    return rv;
}

static int
tls_ctx_new(struct api_secure *sec, const struct api_security *c, SSL_CTX **out, char *errmsg)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        rg_errmsg_printf(errmsg, "restapi.certfile: could not create a TLS context");
        ERR_clear_error();
        return RG_EIO;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* h2o 2.2.5 closes a connection that renegotiates; say no up front. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Required by OpenSSL for session resumption once clients are verified. */
    static const unsigned char sid_ctx[] = "regent-restapi";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    int rv = tls_load(ctx, c, errmsg);
    if (rv != 0) {
        SSL_CTX_free(ctx);
        return rv;
    }
    int mode = SSL_VERIFY_NONE;
    if (c->verify_client == API_VERIFY_OPTIONAL) {
        mode = SSL_VERIFY_PEER;
    } else if (c->verify_client == API_VERIFY_REQUIRED) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(ctx, mode, NULL);
    SSL_CTX_set_app_data(ctx, sec);
    SSL_CTX_set_info_callback(ctx, on_ssl_info);
    *out = ctx;
    return 0;
}

/* --- the access state ---------------------------------------------------- */

struct api_secure *api_secure_new(uv_loop_t *loop, api_secure_handshake_cb cb, void *arg)
{
    struct api_secure *sec = rg_calloc(1, sizeof *sec);
    sec->loop = loop;
    sec->on_handshake = cb;
    sec->arg = arg;
    return sec;
}

static void free_credentials(struct api_secure *sec)
{
    if (sec->password != NULL) {
        explicit_bzero(sec->password, strlen(sec->password));
    }
    rg_free(sec->password);
    rg_free(sec->username);
    sec->password = sec->username = NULL;
}

void api_secure_free(struct api_secure *sec)
{
    free_credentials(sec);
    list_drop(sec->allow);
    list_drop(sec->members);
    if (sec->ssl_ctx != NULL) {
        SSL_CTX_free(sec->ssl_ctx);
    }
    rg_free(sec);
}

static const char *verify_name(enum api_verify_client v)
{
    return v == API_VERIFY_REQUIRED ? "required" : v == API_VERIFY_OPTIONAL ? "optional" : "none";
}

int api_secure_set(struct api_secure *sec, const struct api_security *c, char *errmsg)
{
    if ((c->username == NULL) != (c->password == NULL)) {
        rg_errmsg_printf(errmsg, "restapi.authentication: username and password must both be set");
        return RG_EINVAL;
    }
    struct sec_list *allow = NULL;
    int rv = 0;
    if (c->n_allowlist > 0) {
        rv = list_new(sec->loop, "restapi.allowlist", c->allowlist, c->n_allowlist, true, &allow,
                      errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    SSL_CTX *ctx = NULL;
    if (c->certfile != NULL) {
        rv = tls_ctx_new(sec, c, &ctx, errmsg);
    } else if (c->keyfile != NULL) {
        rg_errmsg_printf(errmsg, "restapi.keyfile: needs restapi.certfile");
        rv = RG_EINVAL;
    }
    if (rv != 0) {
        if (allow != NULL) {
            list_free(allow); /* never started */
        }
        return rv;
    }
    if (c->certfile == NULL && (c->verify_client != API_VERIFY_NONE || c->cafile != NULL)) {
        rg_log(RG_WARNING, LOGM,
               "restapi.verify_client and restapi.cafile are ignored without restapi.certfile");
    }

    free_credentials(sec);
    if (c->username != NULL) {
        sec->username = rg_strdup(c->username);
        sec->password = rg_strdup(c->password);
    }
    list_drop(sec->allow);
    sec->allow = allow;
    if (allow != NULL) {
        list_start(allow);
    }
    if (sec->ssl_ctx != NULL) {
        SSL_CTX_free(sec->ssl_ctx);
    }
    sec->ssl_ctx = ctx;
    sec->cert_on = ctx != NULL && c->verify_client != API_VERIFY_NONE;
    sec->include_members = c->allowlist_include_members;
    rg_log(RG_INFO, LOGM, "access: %s, client certificates %s, authentication %s, allowlist %s%s",
           ctx != NULL ? "HTTPS" : "HTTP", ctx != NULL ? verify_name(c->verify_client) : "none",
           sec->username != NULL ? "on" : "off",
           allow != NULL                  ? "on"
           : c->allowlist_include_members ? "members only"
                                          : "off",
           allow != NULL && c->allowlist_include_members ? " (and members)" : "");
    return 0;
}

void api_secure_set_members(struct api_secure *sec, const char *const *hosts, size_t n)
{
    struct sec_list *l;
    char errmsg[RG_ERRMSG_SIZE];
    if (list_new(sec->loop, "members", hosts, n, false, &l, errmsg) != 0) {
        return; /* not strict: cannot fail */
    }
    if (sec->members != NULL && list_same(sec->members, l)) {
        list_free(l);
        return;
    }
    list_drop(sec->members);
    sec->members = l;
    list_start(l);
}

SSL_CTX *api_secure_ssl_ctx(const struct api_secure *sec)
{
    return sec->ssl_ctx;
}

enum api_access_verdict api_secure_check(const struct api_secure *sec,
                                         const struct sockaddr *peer,
                                         bool cert_ok,
                                         const char *authz,
                                         size_t authz_len)
{
    struct api_net addr;
    bool known = peer != NULL && api_net_from_sockaddr(peer, &addr);
    struct api_access_facts f = {
        .allowlist_on = sec->allow != NULL || sec->include_members,
        .listed = known && (list_has(sec->allow, &addr) ||
                            (sec->include_members && list_has(sec->members, &addr))),
        .cert_on = sec->cert_on,
        .cert_ok = cert_ok,
        .username = sec->username,
        .password = sec->password,
        .authorization = authz,
        .authorization_len = authz_len,
    };
    return api_access_check(&f);
}
