/*
 * api: the REST server (h2o 2.2.5, libuv flavour) on the agent's loop.
 *
 * The agent (or witness) registers a table of routes; api dispatches each
 * request on the loop to the matching handler. A handler answers now or
 * later with api_reply_*: the request's state lives in the h2o request pool
 * (h2o_mem_alloc_shared), so a reply made after the client disconnected is
 * harmless. Every request gets exactly one reply.
 *
 * Unknown paths answer 404 with a JSON body {"error": "..."}; a known path
 * with a method it does not serve answers 405 (501 for methods no route uses
 * at all, as Patroni does); bodies over API_MAX_BODY answer 413; malformed
 * HTTP is refused by h2o itself. Nothing a client sends can crash the agent.
 */
#ifndef REGENT_API_H
#define REGENT_API_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define API_MAX_BODY (1u << 20)

struct api_server;
struct api_req;

typedef void (*api_handler_fn)(void *data, struct api_req *req);

struct api_route {
    const char *method; /* "GET" (also serves HEAD), "POST", "DELETE", "PATCH", "PUT", "OPTIONS" */
    const char *path;   /* exact path, or a prefix ending in '/' then '*': "/raft/members/" "*" */
    api_handler_fn fn;
};

/*
 * Listen on @listen: "host:port" where host is an IPv4 literal, "[v6]" or
 * "*" (all addresses, IPv6 dual-stack when possible). @routes is borrowed
 * and must outlive the server. 0, or RG_EIO / RG_EINVAL with @errmsg
 * ("could not bind 127.0.0.1:8008: address already in use").
 */
int api_server_start(struct api_server **out,
                     uv_loop_t *loop,
                     const char *listen,
                     const struct api_route *routes,
                     size_t n_routes,
                     void *data,
                     char *errmsg);

/* Stop listening, close connections; @cb(@arg) fires once every handle is
 * closed (never inside this call). Then the server is freed. */
void api_server_stop(struct api_server *s, void (*cb)(void *arg), void *arg);

/* The bound port (useful when listening on port 0 in tests). */
unsigned api_server_port(const struct api_server *s);

/* Request accessors; strings are NUL-terminated and valid until the reply. */
const char *api_req_method(const struct api_req *req);
const char *api_req_path(const struct api_req *req);  /* without the query */
const char *api_req_query(const struct api_req *req); /* "" when none */
const char *api_req_body(const struct api_req *req, size_t *len);
/* The part of the path after a prefix route's prefix ("" otherwise). */
const char *api_req_tail(const struct api_req *req);
/* The value of query parameter @key (decoded, copied into @buf), or NULL. */
const char *api_req_param(const struct api_req *req, const char *key, char *buf, size_t len);

/* Reply with @body (taken: cJSON_Delete()d here) as application/json. */
void api_reply_json(struct api_req *req, int status, cJSON *body);
/* Reply {"error": "<formatted>"} with @status. */
void api_reply_error(struct api_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reply with a status line and no body (HEAD/OPTIONS health checks). */
void api_reply_status(struct api_req *req, int status);
/* Reply with @text as text/plain (Patroni's management replies). */
void api_reply_text(struct api_req *req, int status, const char *text);
/* Reply with @len bytes of @body (copied) as @content_type (GET /metrics). */
void api_reply_body(
    struct api_req *req, int status, const char *content_type, const char *body, size_t len);
/* Add a response header to the reply this request will get (call before
 * the api_reply_*; copied; a no-op once the client is gone). */
void api_reply_header(struct api_req *req, const char *name, const char *value);
/* The value of request header @name (any case; copied into @buf, truncated),
 * or NULL when absent. Valid in the handler before it replies. */
const char *api_req_header(const struct api_req *req, const char *name, char *buf, size_t len);

/* --- access control and TLS (api_secure.c, api_access.c) ---------------- */

enum api_verify_client {
    API_VERIFY_NONE,     /* no client certificate is asked for */
    API_VERIFY_OPTIONAL, /* asked for; unsafe methods need a valid one (403) */
    API_VERIFY_REQUIRED, /* the TLS handshake fails without a valid one */
};

/*
 * Patroni's restapi security settings (spec/patroni-compat.md 1.7). Unsafe
 * methods (all but GET, HEAD, OPTIONS) on every route are checked before
 * the handler runs, in this order: allowlist (403 "Access is denied"),
 * client certificate (403 "client certificate required"), credentials (401
 * "no auth header received" / "not authenticated", with WWW-Authenticate:
 * Basic realm="Patroni"); a refused request never reaches its handler.
 * Strings are borrowed during the call (copied).
 */
struct api_security {
    const char *username, *password;      /* HTTP Basic; both or neither */
    const char *certfile;                 /* PEM chain: the server speaks HTTPS only; NULL: HTTP */
    const char *keyfile;                  /* PEM key; NULL: the key is in certfile */
    const char *cafile;                   /* CAs that sign client certificates */
    enum api_verify_client verify_client; /* needs cafile unless NONE; ignored without certfile */
    const char *const *allowlist;         /* addresses, CIDR blocks, host names */
    size_t n_allowlist;
    bool allowlist_include_members; /* also let the addresses of api_server_set_members in */
};

/*
 * Apply @sec to the server, for connections accepted from now on (call it
 * right after api_server_start, before the loop runs, so no connection is
 * ever accepted without it; again on reload). The certificate files are
 * read now (a few small local files, like the configuration itself); host
 * names of the allowlist are resolved off the loop (uv_getaddrinfo, one at
 * a time) and match nothing until resolved. 0, or RG_EINVAL / RG_EIO with
 * @errmsg naming the restapi key and the file ("restapi.certfile: could
 * not load \"/x.pem\": ..."), in which case nothing changed.
 */
int api_server_set_security(struct api_server *s, const struct api_security *sec, char *errmsg);

/* The hosts (addresses or names, copied) of the cluster's members, for
 * allowlist_include_members. The same list again is a no-op; names are
 * resolved off the loop as above. */
void api_server_set_members(struct api_server *s, const char *const *hosts, size_t n);

/* --- the store's routes (api_store.c) ----------------------------------- */

struct store;

/* The data every route handler of a node gets: api_server_start's @data
 * must point to one (a daemon with more routes embeds it first). */
struct cfg;
struct api_store_ctx {
    struct store *store;   /* borrowed */
    const char *scope;     /* borrowed */
    const struct cfg *cfg; /* borrowed: the local configuration (PATCH /config checks with it) */
    void *app;             /* the daemon's own state, for its extra routes */
};

/* GET /liveness, /cluster, /raft/state; POST /raft/members, /raft/leadership;
 * DELETE /raft/members/<name>; GET, PATCH, PUT /config (api_config.h);
 * POST /debug/propose (REGENT_TEST_HOOKS=1). */
const struct api_route *api_store_routes(size_t *n);

/* --- views (pure) ------------------------------------------------------- */

struct store_state;

/* A member whose record is older than this (cluster time) is shown with
 * state "unknown": its agent stopped refreshing it (the agents' refresh is
 * HA_MEMBER_REFRESH_MS, 5 s). */
#define API_MEMBER_STALE_MS 15000

/* Raft facts for GET /cluster's "raft" object. Names are borrowed. */
struct api_raft_info {
    uint64_t term;
    const char *leader; /* member name, or NULL when unknown */
    const char **voters;
    size_t n_voters;
    const char **standbys;
    size_t n_standbys;
    uint64_t commit_index;
    uint64_t applied_index;
};

/*
 * The body of GET /cluster, shaped like Patroni's (members sorted by name,
 * "scope") plus "lease" (holder, epoch, expires_in_ms or released) and "raft"
 * with exactly the keys term, leader, voters, standbys, commit_index,
 * applied_index. @now_ct is the local estimate of cluster time. Caller
 * cJSON_Delete()s the result.
 */
cJSON *api_view_cluster(const struct store_state *s,
                        const struct api_raft_info *ri,
                        const char *scope,
                        uint64_t now_ct);

#endif
