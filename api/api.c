/*
 * api: the REST server — h2o 2.2.5 (libuv flavour) on the caller's loop.
 *
 * Happy path: the listening socket is created, bound and put in listen
 * state with plain syscalls (so a failed start leaves no libuv handle
 * behind), then handed to libuv. Each accepted connection is a struct
 * api_conn whose uv_tcp_t is given to h2o (h2o_uv_socket_create); h2o parses
 * HTTP/1.x and calls on_req() for every request, where the route table picks
 * a handler. The handler gets a struct api_req and replies now or later with
 * api_reply_*().
 *
 * Access control. Before the handler of an unsafe request (any method but
 * GET, HEAD and OPTIONS) runs, api_secure_check() judges the facts gathered
 * here: the client's address, whether the connection's TLS handshake
 * verified a client certificate (recorded on the api_conn by on_handshake),
 * the Authorization header. A refusal is answered here (403/401, text) and
 * the handler never runs. With a certificate set, accept_ctx.ssl_ctx makes
 * h2o_accept() run the TLS handshake before any request.
 *
 * Request lifetime (the tricky part). h2o frees a request's pool when the
 * response is done or the connection goes away — and a client that
 * disconnects while a handler is still waiting (on a Raft commit, say) does
 * not get the generator's stop callback (STACK-NOTES.md). So an api_req is a
 * shared h2o allocation with two references:
 *   - the handler's, released by its one api_reply_*() call;
 *   - a guard object's, allocated in req->pool: when h2o clears that pool the
 *     guard's dispose callback marks the api_req as orphaned (req = NULL) and
 *     drops its reference.
 * Whichever comes last frees the api_req; a reply to an orphan is a no-op.
 *
 * Failure modes: malformed HTTP is answered by h2o itself (400) and bodies
 * above API_MAX_BODY too (413, h2o's text body); unknown path 404, known
 * path with another method 405 (with Allow), method no route uses 501 — ours
 * as JSON {"error": "..."}. A write to a vanished client gets EPIPE, never
 * SIGPIPE (ignored process-wide at start, as any libuv server must).
 *
 * Stop (states RUNNING -> STOPPING -> DISPOSING -> CLOSED):
 *   1. close the listener; answer every request still waiting on its
 *      handler with 503; shutdown(2) each connection's socket so h2o sees
 *      EOF or EPIPE and closes it itself (h2o 2.2.5 has no API to close its
 *      connections);
 *   2. once the listener and every connection are closed, an idle callback
 *      calls h2o_context_dispose() (which uv_close()s h2o's timers and its
 *      async handle) from inside the loop;
 *   3. one iteration later — after the loop ran those close callbacks — the
 *      idle handle itself is closed and the caller's cb fires; the server is
 *      freed. uv_loop_close() then returns 0.
 */
#include "api/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/rg.h"
#include "agent/rg_log.h"
#include "api/api_internal.h"

enum server_state { SRV_RUNNING, SRV_STOPPING, SRV_DISPOSING, SRV_CLOSED };

struct api_conn {
    uv_tcp_t tcp; /* handed to h2o after accept; freed in its close callback */
    struct api_server *srv;
    h2o_socket_t *sock; /* borrowed: h2o's socket on tcp, NULL until accepted */
    bool cert_ok;       /* TLS verified a client certificate (api_secure.c) */
    struct api_conn *prev, *next;
};

struct api_handler {
    h2o_handler_t super;
    struct api_server *srv; /* borrowed */
};

struct api_server {
    uv_loop_t *loop;
    const struct api_route *routes; /* borrowed */
    size_t n_routes;
    void *data;
    enum server_state state;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx; /* .ssl_ctx: api_secure's, NULL for plain HTTP */
    struct api_secure *sec;      /* owned: access control and TLS */
    uv_tcp_t listener;
    bool listener_open;
    uv_idle_t finisher; /* drives steps 2 and 3 of stop */
    struct api_conn *conns;
    unsigned n_conns;
    struct api_req *pending; /* requests whose handler has not replied, h2o req alive */
    unsigned port;
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

struct api_req {
    struct api_server *srv; /* borrowed; NULL once orphaned */
    h2o_req_t *req;         /* NULL once h2o disposed it (orphaned) */
    struct api_req *prev, *next;
    bool sent;     /* a response was started (by the handler or by stop) */
    bool answered; /* the handler called api_reply_*() */
    const char *method, *path, *query, *body, *tail; /* inline after the struct */
    size_t body_len;
};

struct api_req_guard {
    struct api_req *ar; /* holds one reference */
};

static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

static void send_raw(
    h2o_req_t *req, int status, const char *body, size_t len, const char *ctype, const char *allow)
{
    req->res.status = status;
    req->res.reason = status_reason(status);
    req->res.content_length = len;
    if (ctype != NULL) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                       strlen(ctype));
    }
    if (allow != NULL) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    }
    h2o_send_inline(req, body, len);
}

static void send_error_json(h2o_req_t *req, int status, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void send_error_json(h2o_req_t *req, int status, const char *allow, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "error", msg);
    char *text = cJSON_PrintUnformatted(root);
    send_raw(req, status, text, strlen(text), CT_JSON, allow);
    cJSON_free(text);
    cJSON_Delete(root);
}

/* --- requests ------------------------------------------------------------ */

static void pending_unlink(struct api_req *ar)
{
    struct api_server *s = ar->srv;
    if (s == NULL) {
        return;
    }
    if (ar->prev != NULL) {
        ar->prev->next = ar->next;
    } else if (s->pending == ar) {
        s->pending = ar->next;
    }
    if (ar->next != NULL) {
        ar->next->prev = ar->prev;
    }
    ar->prev = ar->next = NULL;
}

/* h2o cleared the request's pool: the response is done or the client left. */
static void on_guard_dispose(void *p)
{
    struct api_req_guard *g = p;
    struct api_req *ar = g->ar;
    pending_unlink(ar);
    ar->srv = NULL;
    ar->req = NULL;
    h2o_mem_release_shared(ar);
}

static char *copy_iov(char **cursor, const char *base, size_t len)
{
    char *dst = *cursor;
    if (len > 0) {
        memcpy(dst, base, len);
    }
    dst[len] = '\0';
    *cursor += len + 1;
    return dst;
}

static struct api_req *req_new(struct api_server *s, h2o_req_t *req, size_t prefix_len)
{
    h2o_iovec_t query = {NULL, 0};
    if (req->query_at != SIZE_MAX) {
        query =
            h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    }
    size_t need = sizeof(struct api_req) + req->method.len + 1 + req->path_normalized.len + 1 +
                  query.len + 1 + req->entity.len + 1;
    struct api_req *ar = h2o_mem_alloc_shared(NULL, need, NULL); /* the handler's reference */
    memset(ar, 0, sizeof *ar);
    char *cursor = (char *)(ar + 1);
    ar->method = copy_iov(&cursor, req->method.base, req->method.len);
    ar->path = copy_iov(&cursor, req->path_normalized.base, req->path_normalized.len);
    ar->query = copy_iov(&cursor, query.base, query.len);
    ar->body = copy_iov(&cursor, req->entity.base, req->entity.len);
    ar->body_len = req->entity.len;
    ar->tail = prefix_len > 0 ? ar->path + prefix_len : "";
    ar->req = req;
    ar->srv = s;

    struct api_req_guard *g = h2o_mem_alloc_shared(&req->pool, sizeof *g, on_guard_dispose);
    g->ar = ar;
    h2o_mem_addref_shared(ar);

    ar->next = s->pending;
    if (s->pending != NULL) {
        s->pending->prev = ar;
    }
    s->pending = ar;
    return ar;
}

/* Sends at most once, and only while h2o still has the request. */
static void
req_send(struct api_req *ar, int status, const char *body, size_t len, const char *ctype)
{
    if (ar->req == NULL || ar->sent) {
        return;
    }
    ar->sent = true;
    h2o_req_t *req = ar->req;
    pending_unlink(ar);
    send_raw(req, status, body, len, ctype, NULL);
}

static void req_answered(struct api_req *ar)
{
    RG_PRE(!ar->answered);
    ar->answered = true;
    h2o_mem_release_shared(ar); /* may free ar */
}

/* --- routing ------------------------------------------------------------- */

static bool iov_is(h2o_iovec_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && memcmp(v.base, s, n) == 0;
}

/* 0 when @route does not match @path, else the length of its prefix plus one
 * (so an exact match returns 1 and a prefix match prefix_len + 1). */
static size_t route_match(const struct api_route *route, h2o_iovec_t path)
{
    size_t n = strlen(route->path);
    if (n >= 2 && route->path[n - 1] == '*' && route->path[n - 2] == '/') {
        size_t plen = n - 1; /* keep the '/' */
        if (path.len >= plen && memcmp(path.base, route->path, plen) == 0) {
            return plen + 1;
        }
        return 0;
    }
    return iov_is(path, route->path) ? 1 : 0;
}

static bool method_matches(const struct api_route *route, h2o_iovec_t method)
{
    return iov_is(method, route->method) ||
           (iov_is(method, "HEAD") && strcmp(route->method, "GET") == 0);
}

static void build_allow(const struct api_server *s, h2o_iovec_t path, char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct api_route *r = &s->routes[i];
        if (route_match(r, path) == 0 || strstr(buf, r->method) != NULL) {
            continue;
        }
        int n = snprintf(buf + pos, len - pos, "%s%s%s", pos > 0 ? ", " : "", r->method,
                         strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
        if (n < 0 || (size_t)n >= len - pos) {
            break;
        }
        pos += (size_t)n;
    }
}

/* --- access control (the rules: api_access.c; the state: api_secure.c) --- */

static struct api_conn *conn_of_socket(struct api_server *s, const void *sock)
{
    for (struct api_conn *c = s->conns; c != NULL && sock != NULL; c = c->next) {
        if (c->sock == sock) {
            return c;
        }
    }
    return NULL;
}

static void on_handshake(void *arg, const void *sock, bool cert_ok)
{
    struct api_conn *c = conn_of_socket(arg, sock);
    if (c != NULL) {
        c->cert_ok = cert_ok;
    }
}

/* The verdict on an unsafe request; @ip gets the client's address (logs). */
static enum api_access_verdict
access_check(struct api_server *s, h2o_req_t *req, char *ip, size_t iplen)
{
    h2o_conn_t *conn = req->conn;
    struct sockaddr_storage ss;
    socklen_t slen = 0;
    if (conn->callbacks->get_peername != NULL) {
        slen = conn->callbacks->get_peername(conn, (struct sockaddr *)&ss);
    }
    struct api_net addr;
    snprintf(ip, iplen, "?");
    if (slen > 0 && api_net_from_sockaddr((struct sockaddr *)&ss, &addr)) {
        inet_ntop(addr.family, addr.addr, ip, (socklen_t)iplen);
    }
    bool cert_ok = false;
    if (conn->callbacks->get_socket != NULL) {
        struct api_conn *c = conn_of_socket(s, conn->callbacks->get_socket(conn));
        cert_ok = c != NULL && c->cert_ok;
    }
    const char *authz = NULL;
    size_t authz_len = 0;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i >= 0) {
        authz = req->headers.entries[i].value.base;
        authz_len = req->headers.entries[i].value.len;
    }
    return api_secure_check(s->sec, slen > 0 ? (struct sockaddr *)&ss : NULL, cert_ok, authz,
                            authz_len);
}

/* Answer a refused request; the handler never sees it. The log line names
 * the client and the reason, never a header's value. */
static void refuse(struct api_req *ar, enum api_access_verdict v, const char *ip)
{
    int status = api_access_verdict_status(v);
    const char *text = api_access_verdict_text(v);
    rg_log(RG_WARNING, "api", "%s %s from %s refused: %d %s", ar->method, ar->path, ip, status,
           text);
    if (status == 401) {
        api_reply_header(ar, "WWW-Authenticate", "Basic realm=\"Patroni\"");
    }
    api_reply_text(ar, status, text);
}

int api_server_set_security(struct api_server *s, const struct api_security *sec, char *errmsg)
{
    int rv = api_secure_set(s->sec, sec, errmsg);
    if (rv == 0) {
        s->accept_ctx.ssl_ctx = api_secure_ssl_ctx(s->sec);
    }
    return rv;
}

void api_server_set_members(struct api_server *s, const char *const *hosts, size_t n)
{
    api_secure_set_members(s->sec, hosts, n);
}

/* --- dispatch ------------------------------------------------------------ */

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct api_server *s = ((struct api_handler *)self)->srv;
    if (s->state != SRV_RUNNING) {
        send_error_json(req, 503, NULL, "shutting down");
        return 0;
    }
    if (req->entity.len > API_MAX_BODY) {
        send_error_json(req, 413, NULL, "request body above %u bytes", API_MAX_BODY);
        return 0;
    }
    bool method_known = false;
    bool path_known = false;
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct api_route *r = &s->routes[i];
        bool m = method_matches(r, req->method);
        size_t match = route_match(r, req->path_normalized);
        method_known = method_known || m;
        path_known = path_known || match > 0;
        if (m && match > 0) {
            struct api_req *ar = req_new(s, req, match - 1);
            if (api_access_unsafe_method(req->method.base, req->method.len)) {
                char ip[INET6_ADDRSTRLEN];
                enum api_access_verdict v = access_check(s, req, ip, sizeof ip);
                if (v != API_ACCESS_OK) {
                    refuse(ar, v, ip);
                    return 0;
                }
            }
            r->fn(s->data, ar);
            return 0;
        }
    }
    if (!method_known) {
        send_error_json(req, 501, NULL, "method %.*s not implemented", (int)req->method.len,
                        req->method.base);
    } else if (!path_known) {
        send_error_json(req, 404, NULL, "no such path: %.*s", (int)req->path_normalized.len,
                        req->path_normalized.base);
    } else {
        char allow[128];
        build_allow(s, req->path_normalized, allow, sizeof allow);
        send_error_json(req, 405, allow, "method %.*s not allowed on %.*s", (int)req->method.len,
                        req->method.base, (int)req->path_normalized.len, req->path_normalized.base);
    }
    return 0;
}

/* --- connections --------------------------------------------------------- */

static void maybe_finish(struct api_server *s);

static void on_conn_close(uv_handle_t *h)
{
    struct api_conn *c = rg_container_of((uv_tcp_t *)h, struct api_conn, tcp);
    struct api_server *s = c->srv;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    s->n_conns--;
    rg_free(c);
    maybe_finish(s);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct api_server *s = rg_container_of((uv_tcp_t *)listener, struct api_server, listener);
    if (status != 0) {
        rg_log(RG_WARNING, "api", "could not accept a connection: %s", uv_strerror(status));
        return;
    }
    struct api_conn *c = rg_calloc(1, sizeof *c);
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->n_conns++;
    int rv = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rv != 0 || s->state != SRV_RUNNING) {
        uv_close((uv_handle_t *)&c->tcp, on_conn_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_close);
    /* With TLS, h2o_accept starts the handshake (bounded by h2o's
     * handshake timeout); on_handshake() records its client certificate. */
    h2o_accept(&s->accept_ctx, c->sock);
}

/* --- listening ----------------------------------------------------------- */

/* "host:port", "[v6]:port", "*:port" (or ":port") → a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *any, char *errmsg)
{
    const char *colon = strrchr(listen, ':');
    char host[INET6_ADDRSTRLEN + 2];
    if (colon == NULL || colon[1] == '\0') {
        rg_errmsg_printf(errmsg, "invalid listen address \"%s\": expected host:port", listen);
        return RG_EINVAL;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        rg_errmsg_printf(errmsg, "invalid listen address \"%s\": bad port", listen);
        return RG_EINVAL;
    }
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= sizeof host) {
        rg_errmsg_printf(errmsg, "invalid listen address \"%s\": host too long", listen);
        return RG_EINVAL;
    }
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    *any = false;
    if (hlen == 0 || strcmp(host, "*") == 0) {
        *any = true;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_any;
        a6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (uv_ip6_addr(host + 1, (int)port, a6) != 0) {
            rg_errmsg_printf(errmsg, "invalid listen address \"%s\": bad IPv6 literal", listen);
            return RG_EINVAL;
        }
        return 0;
    }
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof host, "127.0.0.1");
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) != 0) {
        rg_errmsg_printf(errmsg,
                         "invalid listen address \"%s\": host must be an IPv4 literal, "
                         "[IPv6] or *",
                         listen);
        return RG_EINVAL;
    }
    return 0;
}

static int open_listen_socket(const char *addr, int *out, char *errmsg)
{
    struct sockaddr_storage ss;
    bool any;
    int rv = parse_listen(addr, &ss, &any, errmsg);
    if (rv != 0) {
        return rv;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 && any && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
            goto fallback_v4;
        }
        if (fd < 0) {
            rg_errmsg_printf(errmsg, "could not create a socket for %s: %s", addr, strerror(errno));
            return RG_EIO;
        }
        int on = 1, off = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (ss.ss_family == AF_INET6) {
            /* "*" is dual-stack; an explicit [v6] address is IPv6 only. */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &off : &on, sizeof on);
        }
        socklen_t slen =
            ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, 128) != 0) {
            int err = errno;
            close(fd);
            if (any && ss.ss_family == AF_INET6 && (err == EADDRNOTAVAIL || err == EAFNOSUPPORT)) {
                goto fallback_v4;
            }
            rg_errmsg_printf(errmsg, "could not bind %s: %s", addr, strerror(err));
            return RG_EIO;
        }
        *out = fd;
        return 0;
    fallback_v4 : {
        /* No IPv6 on this host: "*" means every IPv4 address. */
        uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;
        memset(&ss, 0, sizeof ss);
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        a4->sin_port = port;
        any = false;
    }
    }
    rg_errmsg_printf(errmsg, "could not bind %s", addr);
    return RG_EIO;
}

int api_server_start(struct api_server **out,
                     uv_loop_t *loop,
                     const char *listen,
                     const struct api_route *routes,
                     size_t n_routes,
                     void *data,
                     char *errmsg)
{
    int fd;
    int rv = open_listen_socket(listen, &fd, errmsg);
    if (rv != 0) {
        return rv;
    }
    /* A client that goes away must give EPIPE, not kill the agent. */
    signal(SIGPIPE, SIG_IGN);

    struct api_server *s = rg_calloc(1, sizeof *s);
    s->loop = loop;
    s->routes = routes;
    s->n_routes = n_routes;
    s->data = data;

    struct sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &slen) == 0) {
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    }

    h2o_config_init(&s->config);
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("Regent/" REGENT_VERSION));
    s->config.max_request_entity_size = API_MAX_BODY;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    struct api_handler *h = (struct api_handler *)h2o_create_handler(pathconf, sizeof *h);
    h->super.on_req = on_req;
    h->srv = s;
    h2o_context_init(&s->ctx, loop, &s->config);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;
    s->sec = api_secure_new(loop, on_handshake, s);

    uv_idle_init(loop, &s->finisher);
    uv_tcp_init(loop, &s->listener);
    s->listener_open = true;
    rv = uv_tcp_open(&s->listener, fd);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&s->listener, 128, on_accept);
    }
    if (rv != 0) {
        /* Not expected after a successful listen(2); still, undo in order. */
        rg_errmsg_printf(errmsg, "could not listen on %s: %s", listen, uv_strerror(rv));
        s->state = SRV_RUNNING;
        api_server_stop(s, NULL, NULL);
        return RG_EIO;
    }
    rg_log(RG_INFO, "api", "listening on %s (port %u)", listen, s->port);
    *out = s;
    return 0;
}

unsigned api_server_port(const struct api_server *s)
{
    return s->port;
}

/* --- stop ---------------------------------------------------------------- */

static void on_finisher_close(uv_handle_t *h)
{
    struct api_server *s = rg_container_of((uv_idle_t *)h, struct api_server, finisher);
    void (*cb)(void *) = s->stop_cb;
    void *arg = s->stop_arg;
    RG_ASSERT(s->pending == NULL && s->conns == NULL);
    api_secure_free(s->sec);
    rg_free(s);
    if (cb != NULL) {
        cb(arg);
    }
}

static void on_finisher(uv_idle_t *idle)
{
    struct api_server *s = rg_container_of(idle, struct api_server, finisher);
    if (s->state == SRV_STOPPING) {
        /* Step 2: h2o's own handles. h2o_context_dispose() runs the loop
         * once (UV_RUN_NOWAIT) to reap them, so this idle callback must not
         * be runnable meanwhile; it is restarted for step 3, by which time
         * the loop has run any close callback still pending. */
        s->state = SRV_DISPOSING;
        uv_idle_stop(idle);
        h2o_context_dispose(&s->ctx);
        h2o_config_dispose(&s->config);
        uv_idle_start(idle, on_finisher);
        return;
    }
    /* Step 3: everything else is closed by now. */
    uv_idle_stop(idle);
    s->state = SRV_CLOSED;
    uv_close((uv_handle_t *)idle, on_finisher_close);
}

static void maybe_finish(struct api_server *s)
{
    if (s->state == SRV_STOPPING && !s->listener_open && s->n_conns == 0) {
        uv_idle_start(&s->finisher, on_finisher);
    }
}

static void on_listener_close(uv_handle_t *h)
{
    struct api_server *s = rg_container_of((uv_tcp_t *)h, struct api_server, listener);
    s->listener_open = false;
    maybe_finish(s);
}

void api_server_stop(struct api_server *s, void (*cb)(void *arg), void *arg)
{
    RG_PRE(s->state == SRV_RUNNING);
    s->state = SRV_STOPPING;
    s->stop_cb = cb;
    s->stop_arg = arg;
    uv_close((uv_handle_t *)&s->listener, on_listener_close);

    static const char busy[] = "{\"error\":\"shutting down\"}";
    struct api_req *next;
    for (struct api_req *ar = s->pending; ar != NULL; ar = next) {
        next = ar->next;
        req_send(ar, 503, busy, sizeof busy - 1, CT_JSON);
    }
    for (struct api_conn *c = s->conns; c != NULL; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
            shutdown(fd, SHUT_RDWR);
        }
    }
    /* maybe_finish() only starts an idle handle: cb never runs in here. */
}

/* --- request accessors and replies --------------------------------------- */

const char *api_req_method(const struct api_req *req)
{
    return req->method;
}

const char *api_req_path(const struct api_req *req)
{
    return req->path;
}

const char *api_req_query(const struct api_req *req)
{
    return req->query;
}

const char *api_req_body(const struct api_req *req, size_t *len)
{
    if (len != NULL) {
        *len = req->body_len;
    }
    return req->body;
}

const char *api_req_tail(const struct api_req *req)
{
    return req->tail;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decode [src, src+n) into buf (NUL-terminated, truncated). */
static void url_decode(const char *src, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < len; i++) {
        char c = src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
            c = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
            i += 2;
        }
        buf[o++] = c;
    }
    buf[o] = '\0';
}

const char *api_req_param(const struct api_req *req, const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);
    const char *p = req->query;
    while (*p != '\0') {
        const char *end = strchr(p, '&');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t name_len = eq != NULL ? (size_t)(eq - p) : n;
        char name[128];
        url_decode(p, name_len, name, sizeof name);
        if (strlen(name) == klen && memcmp(name, key, klen) == 0) {
            if (eq == NULL) {
                url_decode("", 0, buf, len);
            } else {
                url_decode(eq + 1, n - name_len - 1, buf, len);
            }
            return buf;
        }
        p += n;
        if (*p == '&') {
            p++;
        }
    }
    return NULL;
}

void api_reply_json(struct api_req *req, int status, cJSON *body)
{
    if (req->req != NULL && !req->sent) {
        char *text = cJSON_PrintUnformatted(body);
        req_send(req, status, text, strlen(text), CT_JSON);
        cJSON_free(text);
    }
    cJSON_Delete(body);
    req_answered(req);
}

void api_reply_error(struct api_req *req, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "error", msg);
    api_reply_json(req, status, root);
}

void api_reply_status(struct api_req *req, int status)
{
    req_send(req, status, "", 0, NULL);
    req_answered(req);
}

void api_reply_text(struct api_req *req, int status, const char *text)
{
    req_send(req, status, text, strlen(text), CT_TEXT);
    req_answered(req);
}

void api_reply_body(
    struct api_req *req, int status, const char *content_type, const char *body, size_t len)
{
    req_send(req, status, body, len, content_type);
    req_answered(req);
}

void api_reply_header(struct api_req *req, const char *name, const char *value)
{
    if (req->req == NULL || req->sent) {
        return;
    }
    h2o_mem_pool_t *pool = &req->req->pool;
    h2o_iovec_t v = h2o_strdup(pool, value, SIZE_MAX);
    h2o_iovec_t n = h2o_strdup(pool, name, SIZE_MAX);
    h2o_strtolower(n.base, n.len);
    h2o_add_header_by_str(pool, &req->req->res.headers, n.base, n.len, 1, NULL, v.base, v.len);
}

const char *api_req_header(const struct api_req *req, const char *name, char *buf, size_t len)
{
    if (req->req == NULL || len == 0) {
        return NULL;
    }
    char lower[64];
    size_t n = strlen(name);
    if (n >= sizeof lower) {
        return NULL;
    }
    memcpy(lower, name, n + 1);
    h2o_strtolower(lower, n);
    ssize_t i = h2o_find_header_by_str(&req->req->headers, lower, n, -1);
    if (i < 0) {
        return NULL;
    }
    h2o_iovec_t v = req->req->headers.entries[i].value;
    size_t m = v.len < len - 1 ? v.len : len - 1;
    memcpy(buf, v.base, m);
    buf[m] = '\0';
    return buf;
}
