/*
 * Unit tests for api: the REST server on a real loop (127.0.0.1, port 0)
 * with clients in threads (libcurl easy, or raw sockets for what curl will
 * not send), and the pure /cluster view on a hand-built store state.
 *
 * The loop runs in the test's thread; a 5 ms ticker keeps uv_run(ONCE)
 * returning so run_until() can poll the client's "done" flag.
 */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/rg.h"
#include "api/api.h"
#include "raft/store_fsm.h"

/* --- handlers ------------------------------------------------------------ */

struct handlers {
    uv_loop_t *loop;
    int echo_calls;   /* h_echo ran (a refused request never gets there) */
    int slow_replies; /* deferred replies made (whatever became of the client) */
    int slow_started;
    unsigned slow_ms;
};

struct slow {
    uv_timer_t timer;
    struct api_req *req;
    struct handlers *h;
};

static void h_ping(void *data, struct api_req *req)
{
    (void)data;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddTrueToObject(o, "pong");
    api_reply_json(req, 200, o);
}

static void h_query(void *data, struct api_req *req)
{
    (void)data;
    char buf[64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "query", api_req_query(req));
    const char *a = api_req_param(req, "a", buf, sizeof buf);
    cJSON_AddStringToObject(o, "a", a != NULL ? a : "(none)");
    const char *b = api_req_param(req, "b", buf, sizeof buf);
    cJSON_AddStringToObject(o, "b", b != NULL ? b : "(none)");
    const char *c = api_req_param(req, "c", buf, sizeof buf);
    cJSON_AddStringToObject(o, "c", c != NULL ? c : "(none)");
    const char *z = api_req_param(req, "z", buf, sizeof buf);
    cJSON_AddStringToObject(o, "z", z != NULL ? z : "(none)");
    api_reply_json(req, 200, o);
}

static void h_echo(void *data, struct api_req *req)
{
    struct handlers *h = data;
    h->echo_calls++;
    size_t len;
    const char *body = api_req_body(req, &len);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "len", (double)len);
    cJSON_AddStringToObject(o, "body", len < 100 ? body : "(long)");
    cJSON_AddStringToObject(o, "method", api_req_method(req));
    api_reply_json(req, 201, o);
}

static void h_members(void *data, struct api_req *req)
{
    (void)data;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tail", api_req_tail(req));
    cJSON_AddStringToObject(o, "path", api_req_path(req));
    api_reply_json(req, 200, o);
}

static void h_liveness(void *data, struct api_req *req)
{
    (void)data;
    api_reply_status(req, 200);
}

static void h_conflict(void *data, struct api_req *req)
{
    (void)data;
    api_reply_error(req, 409, "lease held by %s", "node1");
}

/* Echo request header X-Probe in response headers (whole, and cut to three
 * characters by a small buffer), answer in plain text. */
static void h_text(void *data, struct api_req *req)
{
    (void)data;
    char buf[64], small[4];
    const char *v = api_req_header(req, "x-PROBE", buf, sizeof buf);
    const char *cut = api_req_header(req, "X-Probe", small, sizeof small);
    api_reply_header(req, "X-Echo", v != NULL ? v : "(none)");
    api_reply_header(req, "X-Short", cut != NULL ? cut : "(none)");
    api_reply_text(req, 202, "text body");
}

static void on_slow_closed(uv_handle_t *h)
{
    rg_free(rg_container_of((uv_timer_t *)h, struct slow, timer));
}

static void on_slow_timer(uv_timer_t *t)
{
    struct slow *sl = rg_container_of(t, struct slow, timer);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "slow", "done");
    api_reply_json(sl->req, 200, o);
    sl->h->slow_replies++;
    uv_close((uv_handle_t *)t, on_slow_closed);
}

static void h_slow(void *data, struct api_req *req)
{
    struct handlers *h = data;
    struct slow *sl = rg_calloc(1, sizeof *sl);
    sl->req = req;
    sl->h = h;
    h->slow_started++;
    uv_timer_init(h->loop, &sl->timer);
    uv_timer_start(&sl->timer, on_slow_timer, h->slow_ms, 0);
}

static const struct api_route routes[] = {
    {"GET", "/ping", h_ping},
    {"GET", "/q", h_query},
    {"POST", "/echo", h_echo},
    {"PATCH", "/echo", h_echo},
    {"GET", "/raft/members/*", h_members},
    {"GET", "/liveness", h_liveness},
    {"GET", "/slow", h_slow},
    {"POST", "/conflict", h_conflict},
    {"POST", "/text", h_text},
};

/* --- fixture ------------------------------------------------------------- */

struct fixture {
    uv_loop_t loop;
    uv_timer_t ticker;
    struct api_server *srv;
    struct handlers h;
    bool stopped;
    char base[64];
};

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static int setup_listen(void **state, const char *listen)
{
    struct fixture *f = rg_calloc(1, sizeof *f);
    uv_loop_init(&f->loop);
    uv_timer_init(&f->loop, &f->ticker);
    uv_timer_start(&f->ticker, on_tick, 5, 5);
    f->h.loop = &f->loop;
    f->h.slow_ms = 100;
    char err[RG_ERRMSG_SIZE];
    if (api_server_start(&f->srv, &f->loop, listen, routes, RG_ARRAY_SIZE(routes), &f->h, err) !=
        0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%u", api_server_port(f->srv));
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_listen(state, "127.0.0.1:0");
}

/* Every address, IPv6 dual-stack: IPv4 clients arrive as ::ffff:a.b.c.d. */
static int setup_any(void **state)
{
    return setup_listen(state, "*:0");
}

static void run_until(struct fixture *f, bool (*pred)(void *), void *arg, unsigned max_iter)
{
    for (unsigned i = 0; i < max_iter && !pred(arg); i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(pred(arg));
}

static void on_stopped(void *arg)
{
    *(bool *)arg = true;
}

static bool is_true(void *arg)
{
    return *(bool *)arg;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->srv != NULL) {
        api_server_stop(f->srv, on_stopped, &f->stopped);
        assert_false(f->stopped); /* never inside the call */
        run_until(f, is_true, &f->stopped, 2000);
    }
    /* Let pending test timers (deferred replies) finish, then the ticker. */
    for (int i = 0; i < 100 && f->h.slow_replies < f->h.slow_started; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&f->ticker, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    int rv = uv_loop_close(&f->loop);
    if (rv != 0) {
        uv_walk(&f->loop, close_walk, NULL);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        uv_loop_close(&f->loop);
    }
    assert_int_equal(rv, 0);
    rg_free(f);
    return 0;
}

/* --- clients ------------------------------------------------------------- */

struct call_opts {
    const char *header;  /* one more request header, "X-Probe: abc" */
    const char *userpwd; /* "user:password": HTTP Basic */
    const char *source;  /* the local address to connect from, "127.0.0.5" */
};

struct call {
    struct call_opts opts;
    const char *method;
    char url[256];
    const char *body;
    size_t body_len;
    long status;
    char resp[4096];
    size_t resp_len;
    char ctype[256];
    char allow[256];
    char www_auth[256];
    char x_echo[256];
    char x_short[256];
    int curl_rc;
    atomic_bool done;
};

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    size_t len = size * n;
    size_t room = sizeof c->resp - 1 - c->resp_len;
    size_t take = len < room ? len : room;
    memcpy(c->resp + c->resp_len, ptr, take);
    c->resp_len += take;
    c->resp[c->resp_len] = '\0';
    return len;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    size_t len = size * n;
    char line[256];
    size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, ptr, l);
    line[l] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "content-type: ", 14) == 0) {
        snprintf(c->ctype, sizeof c->ctype, "%s", line + 14);
    } else if (strncasecmp(line, "allow: ", 7) == 0) {
        snprintf(c->allow, sizeof c->allow, "%s", line + 7);
    } else if (strncasecmp(line, "www-authenticate: ", 18) == 0) {
        snprintf(c->www_auth, sizeof c->www_auth, "%s", line + 18);
    } else if (strncasecmp(line, "x-echo: ", 8) == 0) {
        snprintf(c->x_echo, sizeof c->x_echo, "%s", line + 8);
    } else if (strncasecmp(line, "x-short: ", 9) == 0) {
        snprintf(c->x_short, sizeof c->x_short, "%s", line + 9);
    }
    return len;
}

static void *call_thread(void *arg)
{
    struct call *c = arg;
    CURL *curl = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    char iface[64];
    if (c->opts.header != NULL) {
        hdrs = curl_slist_append(hdrs, c->opts.header);
    }
    if (c->opts.userpwd != NULL) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERPWD, c->opts.userpwd);
    }
    if (c->opts.source != NULL) {
        snprintf(iface, sizeof iface, "host!%s", c->opts.source);
        curl_easy_setopt(curl, CURLOPT_INTERFACE, iface);
    }
    curl_easy_setopt(curl, CURLOPT_URL, c->url);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, c);
    if (strcmp(c->method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (strcmp(c->method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c->method);
    }
    if (c->body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
    }
    c->curl_rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &c->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    atomic_store(&c->done, true);
    return NULL;
}

static bool call_done(void *arg)
{
    return atomic_load(&((struct call *)arg)->done);
}

/* Run one request against the server, driving the loop meanwhile. */
static struct call *do_call_opts(struct fixture *f,
                                 const char *method,
                                 const char *path,
                                 const char *body,
                                 size_t body_len,
                                 const struct call_opts *opts)
{
    struct call *c = rg_calloc(1, sizeof *c);
    if (opts != NULL) {
        c->opts = *opts;
    }
    c->method = method;
    snprintf(c->url, sizeof c->url, "%s%s", f->base, path);
    c->body = body;
    c->body_len = body_len;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, call_thread, c), 0);
    run_until(f, call_done, c, 2000);
    pthread_join(t, NULL);
    return c;
}

static struct call *
do_call(struct fixture *f, const char *method, const char *path, const char *body, size_t body_len)
{
    return do_call_opts(f, method, path, body, body_len, NULL);
}

static cJSON *call_json(const struct call *c)
{
    cJSON *o = cJSON_Parse(c->resp);
    assert_non_null(o);
    return o;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* A raw client: connect, send @req, optionally read the answer, close. */
struct raw {
    unsigned port;
    const char *req;
    bool read_reply;
    char resp[2048];
    atomic_bool done;
};

static void *raw_thread(void *arg)
{
    struct raw *r = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        ssize_t w = write(fd, r->req, strlen(r->req));
        (void)w;
        if (r->read_reply) {
            struct timeval tv = {.tv_sec = 5};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            size_t len = 0;
            ssize_t n;
            while (len < sizeof r->resp - 1 &&
                   (n = read(fd, r->resp + len, sizeof r->resp - 1 - len)) > 0) {
                len += (size_t)n;
                if (strstr(r->resp, "\r\n\r\n") != NULL) {
                    break;
                }
            }
            r->resp[len] = '\0';
        }
    }
    close(fd);
    atomic_store(&r->done, true);
    return NULL;
}

static bool raw_done(void *arg)
{
    return atomic_load(&((struct raw *)arg)->done);
}

static void do_raw(struct fixture *f, struct raw *r)
{
    r->port = api_server_port(f->srv);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, raw_thread, r), 0);
    run_until(f, raw_done, r, 2000);
    pthread_join(t, NULL);
}

/* --- server tests -------------------------------------------------------- */

static void test_get_route_answers_json(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "GET", "/ping", NULL, 0);
    assert_int_equal(c->curl_rc, CURLE_OK);
    assert_int_equal(c->status, 200);
    assert_string_equal(c->ctype, "application/json");
    assert_string_equal(c->resp, "{\"pong\":true}");
    rg_free(c);
}

static void test_head_is_served_by_get_route_without_body(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "HEAD", "/ping", NULL, 0);
    assert_int_equal(c->curl_rc, CURLE_OK);
    assert_int_equal(c->status, 200);
    assert_int_equal(c->resp_len, 0);
    rg_free(c);
}

static void test_unknown_path_is_404_json(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "GET", "/nope", NULL, 0);
    assert_int_equal(c->status, 404);
    assert_string_equal(c->ctype, "application/json");
    cJSON *o = call_json(c);
    assert_non_null(strstr(jstr(o, "error"), "/nope"));
    cJSON_Delete(o);
    rg_free(c);
}

static void test_known_path_other_method_is_405_with_allow(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "POST", "/ping", "x", 1);
    assert_int_equal(c->status, 405);
    assert_string_equal(c->allow, "GET, HEAD");
    cJSON *o = call_json(c);
    jstr(o, "error");
    cJSON_Delete(o);
    rg_free(c);
}

static void test_method_no_route_uses_is_501(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "PUT", "/ping", "x", 1);
    assert_int_equal(c->status, 501);
    cJSON *o = call_json(c);
    jstr(o, "error");
    cJSON_Delete(o);
    rg_free(c);
    c = do_call(f, "PUT", "/nope", "x", 1);
    assert_int_equal(c->status, 501);
    rg_free(c);
}

static void test_body_is_collected(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "POST", "/echo", "{\"a\":1}", 7);
    assert_int_equal(c->status, 201);
    cJSON *o = call_json(c);
    assert_string_equal(jstr(o, "body"), "{\"a\":1}");
    assert_string_equal(jstr(o, "method"), "POST");
    cJSON_Delete(o);
    rg_free(c);

    /* A large body (below the limit) arrives whole. */
    size_t n = 200000;
    char *big = rg_malloc(n);
    memset(big, 'b', n);
    c = do_call(f, "PATCH", "/echo", big, n);
    assert_int_equal(c->status, 201);
    o = call_json(c);
    assert_int_equal((int)cJSON_GetObjectItem(o, "len")->valuedouble, (int)n);
    cJSON_Delete(o);
    rg_free(c);
    rg_free(big);
}

static void test_body_above_limit_is_413(void **state)
{
    struct fixture *f = *state;
    size_t n = API_MAX_BODY + 1;
    char *big = rg_malloc(n);
    memset(big, 'b', n);
    struct call *c = do_call(f, "POST", "/echo", big, n);
    assert_int_equal(c->status, 413);
    rg_free(c);
    rg_free(big);
    /* Still serving. */
    c = do_call(f, "GET", "/ping", NULL, 0);
    assert_int_equal(c->status, 200);
    rg_free(c);
}

static void test_prefix_route_gives_tail(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "GET", "/raft/members/node2", NULL, 0);
    assert_int_equal(c->status, 200);
    cJSON *o = call_json(c);
    assert_string_equal(jstr(o, "tail"), "node2");
    assert_string_equal(jstr(o, "path"), "/raft/members/node2");
    cJSON_Delete(o);
    rg_free(c);
    /* The prefix without its slash is not the route. */
    c = do_call(f, "GET", "/raft/members", NULL, 0);
    assert_int_equal(c->status, 404);
    rg_free(c);
}

static void test_query_params_are_decoded(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "GET", "/q?a=1&b=hello%20world+x&c", NULL, 0);
    assert_int_equal(c->status, 200);
    cJSON *o = call_json(c);
    assert_string_equal(jstr(o, "query"), "a=1&b=hello%20world+x&c");
    assert_string_equal(jstr(o, "a"), "1");
    assert_string_equal(jstr(o, "b"), "hello world x");
    assert_string_equal(jstr(o, "c"), "");
    assert_string_equal(jstr(o, "z"), "(none)");
    cJSON_Delete(o);
    rg_free(c);
}

static void test_error_reply_and_bare_status(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "POST", "/conflict", "", 0);
    assert_int_equal(c->status, 409);
    cJSON *o = call_json(c);
    assert_string_equal(jstr(o, "error"), "lease held by node1");
    cJSON_Delete(o);
    rg_free(c);
    c = do_call(f, "GET", "/liveness", NULL, 0);
    assert_int_equal(c->status, 200);
    assert_int_equal(c->resp_len, 0);
    rg_free(c);
}

static void test_deferred_reply_after_timer(void **state)
{
    struct fixture *f = *state;
    struct call *c = do_call(f, "GET", "/slow", NULL, 0);
    assert_int_equal(c->status, 200);
    cJSON *o = call_json(c);
    assert_string_equal(jstr(o, "slow"), "done");
    cJSON_Delete(o);
    rg_free(c);
    assert_int_equal(f->h.slow_replies, 1);
}

static bool slow_replied(void *arg)
{
    struct fixture *f = arg;
    return f->h.slow_replies == f->h.slow_started && f->h.slow_started > 0;
}

static void test_deferred_reply_after_client_left(void **state)
{
    struct fixture *f = *state;
    struct raw r = {.req = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", .read_reply = false};
    do_raw(f, &r);
    /* The client is gone; the handler still answers later, harmlessly. */
    run_until(f, slow_replied, f, 2000);
    struct call *c = do_call(f, "GET", "/ping", NULL, 0);
    assert_int_equal(c->status, 200);
    rg_free(c);
}

static void test_malformed_request_gets_400_and_server_keeps_serving(void **state)
{
    struct fixture *f = *state;
    struct raw r = {.req = "THIS IS NOT HTTP\r\n\r\n", .read_reply = true};
    do_raw(f, &r);
    assert_memory_equal(r.resp, "HTTP/1.1 400", 12);
    struct raw r2 = {.req = "GET /ping HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
                     .read_reply = true};
    do_raw(f, &r2);
    assert_memory_equal(r2.resp, "HTTP/1.1 4", 10);
    struct call *c = do_call(f, "GET", "/ping", NULL, 0);
    assert_int_equal(c->status, 200);
    rg_free(c);
}

static bool slow_started(void *arg)
{
    return ((struct fixture *)arg)->h.slow_started > 0;
}

static void test_stop_answers_waiting_requests_503(void **state)
{
    struct fixture *f = *state;
    f->h.slow_ms = 300;
    struct call *c = rg_calloc(1, sizeof *c);
    c->method = "GET";
    snprintf(c->url, sizeof c->url, "%s/slow", f->base);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, call_thread, c), 0);
    run_until(f, slow_started, f, 2000);
    api_server_stop(f->srv, on_stopped, &f->stopped);
    f->srv = NULL;
    run_until(f, is_true, &f->stopped, 2000);
    run_until(f, call_done, c, 2000);
    pthread_join(t, NULL);
    assert_int_equal(c->status, 503);
    rg_free(c);
    /* The handler's own reply comes after the server is gone: a no-op. */
    run_until(f, slow_replied, f, 2000);
}

static void test_stop_with_idle_keepalive_connection(void **state)
{
    struct fixture *f = *state;
    /* A raw client that sends one request and keeps the connection open. */
    struct raw r = {.req = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", .read_reply = true};
    r.port = api_server_port(f->srv);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, raw_thread, &r), 0);
    run_until(f, raw_done, &r, 2000);
    pthread_join(t, NULL);
    assert_memory_equal(r.resp, "HTTP/1.1 200", 12);
    /* teardown stops the server and checks uv_loop_close() == 0 */
}

static void test_bad_listen_addresses_are_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct api_server *s = NULL;
    char err[RG_ERRMSG_SIZE];
    assert_int_equal(api_server_start(&s, &loop, "node1:8008", routes, 1, NULL, err), RG_EINVAL);
    assert_non_null(strstr(err, "node1:8008"));
    assert_int_equal(api_server_start(&s, &loop, "127.0.0.1", routes, 1, NULL, err), RG_EINVAL);
    assert_int_equal(api_server_start(&s, &loop, "127.0.0.1:99999", routes, 1, NULL, err),
                     RG_EINVAL);
    /* Port taken. */
    assert_int_equal(api_server_start(&s, &loop, "127.0.0.1:0", routes, 1, NULL, err), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", api_server_port(s));
    struct api_server *s2 = NULL;
    assert_int_equal(api_server_start(&s2, &loop, addr, routes, 1, NULL, err), RG_EIO);
    assert_non_null(strstr(err, "could not bind"));
    bool stopped = false;
    api_server_stop(s, on_stopped, &stopped);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(stopped);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_listen_on_any_and_ipv6(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct api_server *s = NULL;
    char err[RG_ERRMSG_SIZE];
    assert_int_equal(api_server_start(&s, &loop, "*:0", routes, 1, NULL, err), 0);
    assert_true(api_server_port(s) > 0);
    bool stopped = false;
    api_server_stop(s, on_stopped, &stopped);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(stopped);
    /* [::1] only where the host has IPv6 loopback. */
    if (api_server_start(&s, &loop, "[::1]:0", routes, 1, NULL, err) == 0) {
        stopped = false;
        api_server_stop(s, on_stopped, &stopped);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_true(stopped);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* --- text replies, headers ----------------------------------------------- */

static void test_text_reply_carries_headers_and_reads_request_headers(void **state)
{
    struct fixture *f = *state;
    struct call_opts o = {.header = "X-Probe: hello world"};
    struct call *c = do_call_opts(f, "POST", "/text", "", 0, &o);
    assert_int_equal(c->status, 202);
    assert_string_equal(c->ctype, "text/plain; charset=utf-8");
    assert_string_equal(c->resp, "text body");
    /* Found in any case; a small buffer truncates, NUL-terminated. */
    assert_string_equal(c->x_echo, "hello world");
    assert_string_equal(c->x_short, "hel");
    rg_free(c);
    c = do_call(f, "POST", "/text", "", 0);
    assert_string_equal(c->x_echo, "(none)");
    assert_string_equal(c->x_short, "(none)");
    rg_free(c);
}

/* --- access control ------------------------------------------------------ */

static void set_security(struct fixture *f, const struct api_security *sec)
{
    char err[RG_ERRMSG_SIZE] = "";
    int rv = api_server_set_security(f->srv, sec, err);
    if (rv != 0) {
        fail_msg("api_server_set_security: %s", err);
    }
}

static void test_unsafe_methods_need_the_credentials(void **state)
{
    struct fixture *f = *state;
    struct api_security sec = {.username = "admin", .password = "s3cret"};
    set_security(f, &sec);

    struct call *c = do_call(f, "POST", "/echo", "x", 1);
    assert_int_equal(c->status, 401);
    assert_string_equal(c->resp, "no auth header received");
    assert_string_equal(c->ctype, "text/plain; charset=utf-8");
    assert_string_equal(c->www_auth, "Basic realm=\"Patroni\"");
    rg_free(c);

    struct call_opts wrong = {.userpwd = "admin:s3creT"};
    c = do_call_opts(f, "PATCH", "/echo", "x", 1, &wrong);
    assert_int_equal(c->status, 401);
    assert_string_equal(c->resp, "not authenticated");
    assert_string_equal(c->www_auth, "Basic realm=\"Patroni\"");
    rg_free(c);
    struct call_opts other = {.header = "Authorization: Bearer abc"};
    c = do_call_opts(f, "POST", "/echo", "x", 1, &other);
    assert_int_equal(c->status, 401);
    assert_string_equal(c->resp, "not authenticated");
    rg_free(c);
    assert_int_equal(f->h.echo_calls, 0);

    struct call_opts right = {.userpwd = "admin:s3cret"};
    c = do_call_opts(f, "POST", "/echo", "x", 1, &right);
    assert_int_equal(c->status, 201);
    assert_string_equal(c->www_auth, "");
    rg_free(c);
    assert_int_equal(f->h.echo_calls, 1);

    /* GET and HEAD are never checked; unknown paths answer as before. */
    c = do_call(f, "GET", "/ping", NULL, 0);
    assert_int_equal(c->status, 200);
    rg_free(c);
    c = do_call(f, "HEAD", "/ping", NULL, 0);
    assert_int_equal(c->status, 200);
    rg_free(c);
    c = do_call(f, "POST", "/nosuch", "", 0);
    assert_int_equal(c->status, 404);
    rg_free(c);

    /* Settings replaced: authentication off again. */
    struct api_security none = {0};
    set_security(f, &none);
    c = do_call(f, "POST", "/echo", "x", 1);
    assert_int_equal(c->status, 201);
    rg_free(c);
}

static void test_allowlist_refuses_other_clients_before_credentials(void **state)
{
    struct fixture *f = *state;
    const char *const list[] = {"10.0.0.0/8", "127.0.0.5"};
    struct api_security sec = {.username = "admin",
                               .password = "s3cret",
                               .allowlist = list,
                               .n_allowlist = RG_ARRAY_SIZE(list)};
    set_security(f, &sec);
    struct call_opts right = {.userpwd = "admin:s3cret"};
    struct call *c = do_call_opts(f, "POST", "/echo", "x", 1, &right);
    assert_int_equal(c->status, 403);
    assert_string_equal(c->resp, "Access is denied");
    assert_string_equal(c->www_auth, "");
    rg_free(c);
    assert_int_equal(f->h.echo_calls, 0);
    c = do_call(f, "GET", "/ping", NULL, 0);
    assert_int_equal(c->status, 200);
    rg_free(c);

    /* From a listed address: then the credentials decide. */
    struct call_opts listed = {.source = "127.0.0.5"};
    c = do_call_opts(f, "POST", "/echo", "x", 1, &listed);
    assert_int_equal(c->status, 401);
    rg_free(c);
    listed.userpwd = "admin:s3cret";
    c = do_call_opts(f, "POST", "/echo", "x", 1, &listed);
    assert_int_equal(c->status, 201);
    rg_free(c);
    assert_int_equal(f->h.echo_calls, 1);
}

/* POST /echo until it is let through (a name resolving in the thread
 * pool), at most @tries times; the answer of the last. */
static long post_until_allowed(struct fixture *f, const struct call_opts *o, int tries)
{
    long status = 0;
    for (int i = 0; i < tries && status != 201; i++) {
        struct call *c = do_call_opts(f, "POST", "/echo", "x", 1, o);
        status = c->status;
        rg_free(c);
        for (int j = 0; j < 4 && status != 201; j++) {
            uv_run(&f->loop, UV_RUN_ONCE); /* a 5 ms tick each */
        }
    }
    return status;
}

static void test_allowlist_host_names_are_resolved(void **state)
{
    struct fixture *f = *state;
    /* localhost comes from /etc/hosts: no DNS query leaves the machine. */
    const char *const list[] = {"localhost"};
    struct api_security sec = {.allowlist = list, .n_allowlist = RG_ARRAY_SIZE(list)};
    set_security(f, &sec);
    assert_int_equal(post_until_allowed(f, NULL, 200), 201);
    /* localhost is not 127.0.0.5. */
    struct call_opts other = {.source = "127.0.0.5"};
    struct call *c = do_call_opts(f, "POST", "/echo", "x", 1, &other);
    assert_int_equal(c->status, 403);
    rg_free(c);
}

static void test_members_addresses_pass_the_allowlist(void **state)
{
    struct fixture *f = *state;
    struct api_security sec = {.allowlist_include_members = true};
    set_security(f, &sec);
    /* No member known yet: nobody is listed. */
    struct call *c = do_call(f, "POST", "/echo", "x", 1);
    assert_int_equal(c->status, 403);
    rg_free(c);

    const char *const m1[] = {"127.0.0.9", "127.0.0.1", "127.0.0.1"};
    api_server_set_members(f->srv, m1, RG_ARRAY_SIZE(m1));
    c = do_call(f, "POST", "/echo", "x", 1);
    assert_int_equal(c->status, 201);
    rg_free(c);

    const char *const m2[] = {"127.0.0.9"};
    api_server_set_members(f->srv, m2, 1);
    c = do_call(f, "POST", "/echo", "x", 1);
    assert_int_equal(c->status, 403);
    rg_free(c);

    /* Names are resolved like the allowlist's. */
    const char *const m3[] = {"127.0.0.9", "localhost"};
    api_server_set_members(f->srv, m3, 2);
    assert_int_equal(post_until_allowed(f, NULL, 200), 201);

    /* Without allowlist_include_members the members do not count. */
    const char *const list[] = {"10.0.0.0/8"};
    struct api_security only = {.allowlist = list, .n_allowlist = 1};
    set_security(f, &only);
    c = do_call(f, "POST", "/echo", "x", 1);
    assert_int_equal(c->status, 403);
    rg_free(c);
}

static void test_dual_stack_clients_match_ipv4_entries(void **state)
{
    struct fixture *f = *state;
    const char *const list[] = {"127.0.0.1/32"};
    struct api_security sec = {.allowlist = list, .n_allowlist = 1};
    set_security(f, &sec);
    struct call *c = do_call(f, "POST", "/echo", "x", 1);
    assert_int_equal(c->status, 201);
    rg_free(c);
    struct call_opts other = {.source = "127.0.0.5"};
    c = do_call_opts(f, "POST", "/echo", "x", 1, &other);
    assert_int_equal(c->status, 403);
    rg_free(c);
}

static void test_bad_security_settings_change_nothing(void **state)
{
    struct fixture *f = *state;
    struct api_security sec = {.username = "admin", .password = "s3cret"};
    set_security(f, &sec);
    char err[RG_ERRMSG_SIZE];

    struct api_security bad = {.certfile = "/nonexistent/server.pem"};
    assert_int_equal(api_server_set_security(f->srv, &bad, err), RG_EIO);
    assert_non_null(strstr(err, "restapi.certfile"));
    assert_non_null(strstr(err, "/nonexistent/server.pem"));
    assert_non_null(strstr(err, "No such file or directory"));

    struct api_security half = {.username = "admin"};
    assert_int_equal(api_server_set_security(f->srv, &half, err), RG_EINVAL);
    assert_non_null(strstr(err, "restapi.authentication"));

    const char *const list[] = {"127.0.0.1", "10.0.0.0/40"};
    struct api_security badlist = {.allowlist = list, .n_allowlist = 2};
    assert_int_equal(api_server_set_security(f->srv, &badlist, err), RG_EINVAL);
    assert_non_null(strstr(err, "restapi.allowlist"));
    assert_non_null(strstr(err, "10.0.0.0/40"));

    struct api_security keyonly = {.keyfile = "/tmp/key.pem"};
    assert_int_equal(api_server_set_security(f->srv, &keyonly, err), RG_EINVAL);
    assert_non_null(strstr(err, "restapi.keyfile"));

    /* The first settings still hold; plain HTTP still answers. */
    struct call *c = do_call(f, "POST", "/echo", "x", 1);
    assert_int_equal(c->status, 401);
    rg_free(c);
    assert_int_equal(f->h.echo_calls, 0);
}

/* --- /cluster view ------------------------------------------------------- */

static void add_member(struct store_state *s, const char *name, const char *json)
{
    s->members = rg_realloc(s->members, (s->n_members + 1) * sizeof *s->members);
    s->members[s->n_members].name = rg_strdup(name);
    s->members[s->n_members].data = cJSON_Parse(json);
    assert_non_null(s->members[s->n_members].data);
    s->n_members++;
}

static const cJSON *member_at(const cJSON *view, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(view, "members"), i);
}

static void test_cluster_view_sorts_members_and_marks_the_leader(void **state)
{
    (void)state;
    struct store_state s;
    store_state_init(&s);
    /* Out of order on purpose: the view sorts by name. */
    add_member(&s, "node3",
               "{\"conn_url\":\"postgres://10.0.0.3:5433/postgres\",\"api_url\":"
               "\"http://10.0.0.3:8008/patroni\",\"state\":\"running\",\"role\":\"replica\","
               "\"replication_state\":\"streaming\",\"timeline\":5,\"xlog_location\":1000}");
    add_member(&s, "node1",
               "{\"host\":\"10.0.0.1\",\"port\":5432,\"api_url\":\"http://10.0.0.1:8008/"
               "patroni\",\"state\":\"running\",\"role\":\"primary\",\"timeline\":5,"
               "\"tags\":{\"nofailover\":false}}");
    add_member(&s, "node2",
               "{\"host\":\"10.0.0.2\",\"port\":5432,\"state\":\"running\",\"role\":\"replica\","
               "\"timeline\":5,\"lag\":0}");
    snprintf(s.lease.holder, sizeof s.lease.holder, "node1");
    s.lease.epoch = 7;
    s.lease.renewed_at = 10000;
    s.lease.expires_at = 12500;
    s.status = cJSON_Parse("{\"optime\":5000}");

    const char *voters[] = {"node1", "node2", "node3"};
    const char *standbys[] = {"witness1"};
    struct api_raft_info ri = {.term = 3,
                               .leader = "node2",
                               .voters = voters,
                               .n_voters = 3,
                               .standbys = standbys,
                               .n_standbys = 1,
                               .commit_index = 120,
                               .applied_index = 119};
    cJSON *v = api_view_cluster(&s, &ri, "demo", 11000);
    assert_string_equal(jstr(v, "scope"), "demo");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "members")), 3);
    assert_string_equal(jstr(member_at(v, 0), "name"), "node1");
    assert_string_equal(jstr(member_at(v, 1), "name"), "node2");
    assert_string_equal(jstr(member_at(v, 2), "name"), "node3");
    assert_string_equal(jstr(member_at(v, 0), "role"), "leader");
    assert_null(cJSON_GetObjectItem(member_at(v, 0), "lag"));
    assert_non_null(cJSON_GetObjectItem(member_at(v, 0), "tags"));
    assert_string_equal(jstr(member_at(v, 1), "role"), "replica");
    assert_int_equal(cJSON_GetObjectItem(member_at(v, 1), "lag")->valueint, 0);
    /* host/port from conn_url, state from replication_state, lag from optime. */
    const cJSON *m3 = member_at(v, 2);
    assert_string_equal(jstr(m3, "host"), "10.0.0.3");
    assert_int_equal(cJSON_GetObjectItem(m3, "port")->valueint, 5433);
    assert_string_equal(jstr(m3, "state"), "streaming");
    assert_int_equal(cJSON_GetObjectItem(m3, "lag")->valueint, 4000);
    assert_int_equal(cJSON_GetObjectItem(m3, "timeline")->valueint, 5);

    const cJSON *lease = cJSON_GetObjectItem(v, "lease");
    assert_string_equal(jstr(lease, "holder"), "node1");
    assert_int_equal(cJSON_GetObjectItem(lease, "epoch")->valueint, 7);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(lease, "valid")));
    assert_int_equal(cJSON_GetObjectItem(lease, "expires_in_ms")->valueint, 1500);

    /* raft: exactly these keys, in this order. */
    const cJSON *raft = cJSON_GetObjectItem(v, "raft");
    const char *keys[] = {"term", "leader", "voters", "standbys", "commit_index", "applied_index"};
    int i = 0;
    for (const cJSON *it = raft->child; it != NULL; it = it->next, i++) {
        assert_true(i < 6);
        assert_string_equal(it->string, keys[i]);
    }
    assert_int_equal(i, 6);
    assert_int_equal(cJSON_GetObjectItem(raft, "term")->valueint, 3);
    assert_string_equal(jstr(raft, "leader"), "node2");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(raft, "voters")), 3);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(raft, "standbys"), 0)->valuestring,
                        "witness1");
    assert_int_equal(cJSON_GetObjectItem(raft, "commit_index")->valueint, 120);
    assert_int_equal(cJSON_GetObjectItem(raft, "applied_index")->valueint, 119);
    cJSON_Delete(v);

    /* Expired lease: nobody is "leader", roles come from the records. */
    v = api_view_cluster(&s, &ri, "demo", 20000);
    assert_string_equal(jstr(member_at(v, 0), "role"), "primary");
    lease = cJSON_GetObjectItem(v, "lease");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(lease, "valid")));
    assert_int_equal(cJSON_GetObjectItem(lease, "expires_in_ms")->valueint, 0);
    cJSON_Delete(v);

    /* Unknown Raft leader is null. */
    ri.leader = NULL;
    v = api_view_cluster(&s, &ri, "demo", 11000);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "raft"), "leader")));
    cJSON_Delete(v);

    /* Synchronous mode: replicas in the holder's sync record get the role
     * sync_standby (on) or quorum_standby (quorum), as in Patroni. */
    s.config = cJSON_Parse("{\"synchronous_mode\": true}");
    s.sync = cJSON_Parse("{\"leader\":\"node1\",\"sync_standby\":\"node3\",\"k\":1}");
    v = api_view_cluster(&s, &ri, "demo", 11000);
    assert_string_equal(jstr(member_at(v, 1), "role"), "replica");
    assert_string_equal(jstr(member_at(v, 2), "role"), "sync_standby");
    cJSON_Delete(v);
    cJSON_Delete(s.config);
    s.config = cJSON_Parse("{\"synchronous_mode\": \"quorum\"}");
    v = api_view_cluster(&s, &ri, "demo", 11000);
    assert_string_equal(jstr(member_at(v, 2), "role"), "quorum_standby");
    cJSON_Delete(v);
    /* A record of another leader, or the mode off: plain replicas. */
    cJSON_Delete(s.sync);
    s.sync = cJSON_Parse("{\"leader\":\"node2\",\"sync_standby\":\"node3\",\"k\":1}");
    v = api_view_cluster(&s, &ri, "demo", 11000);
    assert_string_equal(jstr(member_at(v, 2), "role"), "replica");
    cJSON_Delete(v);
    cJSON_Delete(s.config);
    s.config = cJSON_Parse("{\"synchronous_mode\": false}");
    cJSON_Delete(s.sync);
    s.sync = cJSON_Parse("{\"leader\":\"node1\",\"sync_standby\":\"node3\",\"k\":1}");
    v = api_view_cluster(&s, &ri, "demo", 11000);
    assert_string_equal(jstr(member_at(v, 2), "role"), "replica");
    cJSON_Delete(v);
    store_state_close(&s);
}

static void test_cluster_view_of_an_empty_store(void **state)
{
    (void)state;
    struct store_state s;
    store_state_init(&s);
    struct api_raft_info ri = {.term = 1};
    cJSON *v = api_view_cluster(&s, &ri, "demo", 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "members")), 0);
    const cJSON *lease = cJSON_GetObjectItem(v, "lease");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(lease, "holder")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(lease, "valid")));
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "raft"), "voters")), 0);
    cJSON_Delete(v);
    store_state_close(&s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_route_answers_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_is_served_by_get_route_without_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_path_is_404_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_path_other_method_is_405_with_allow, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_method_no_route_uses_is_501, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_is_collected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_above_limit_is_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_route_gives_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_params_are_decoded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_reply_and_bare_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_reply_after_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_reply_after_client_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_request_gets_400_and_server_keeps_serving,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_answers_waiting_requests_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_idle_keepalive_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_reply_carries_headers_and_reads_request_headers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_methods_need_the_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allowlist_refuses_other_clients_before_credentials,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_allowlist_host_names_are_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_members_addresses_pass_the_allowlist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dual_stack_clients_match_ipv4_entries, setup_any,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_security_settings_change_nothing, setup, teardown),
        cmocka_unit_test(test_bad_listen_addresses_are_refused),
        cmocka_unit_test(test_listen_on_any_and_ipv6),
        cmocka_unit_test(test_cluster_view_sorts_members_and_marks_the_leader),
        cmocka_unit_test(test_cluster_view_of_an_empty_store),
    };
    int rv = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rv;
}
