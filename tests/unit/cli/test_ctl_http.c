/*
 * Unit tests for ctl_http: which member a request goes to, and what it
 * carries (credentials, If-Match) and brings back (ETag, text). Tiny HTTP
 * servers on 127.0.0.1 (port 0) answer from a thread, and a listening
 * socket that nobody accepts on shows whether a URL was tried at all.
 */
#define _GNU_SOURCE /* strcasestr, asprintf, open_memstream */

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
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/rg.h"
#include "cli/ctl.h"
#include "ctl_helpers.h"

/* --- which member a change goes to ------------------------------------------ */

/* A listening socket on 127.0.0.1; with @reply, a thread accepts one
 * connection, reads one request and answers @reply (a whole HTTP response),
 * or, when @reply is "", never answers and waits for the client to go. */
struct raw {
    int fd;
    char url[64];
    const char *reply; /* borrowed; NULL: nobody accepts */
    char request[4096];
    pthread_t thread;
};

static void raw_open(struct raw *f, const char *reply)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    memset(f, 0, sizeof *f);
    f->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(f->fd >= 0);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(f->fd, 4), 0);
    assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u", ntohs(sa.sin_port));
    f->reply = reply;
}

/* Read until the headers and Content-Length bytes of body are in. */
static void raw_read_request(struct raw *f, int c)
{
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0) {
            return;
        }
        ssize_t n = recv(c, f->request + got, sizeof f->request - 1 - got, 0);
        if (n <= 0) {
            return;
        }
        got += (size_t)n;
        f->request[got] = '\0';
        const char *end = strstr(f->request, "\r\n\r\n");
        const char *cl = strcasestr(f->request, "Content-Length:");
        size_t body = cl != NULL ? strtoul(cl + 15, NULL, 10) : 0;
        if (end != NULL && got >= (size_t)(end + 4 - f->request) + body) {
            return;
        }
    }
}

static void *raw_run(void *arg)
{
    struct raw *f = arg;
    struct pollfd p = {.fd = f->fd, .events = POLLIN};
    if (poll(&p, 1, 5000) <= 0) {
        return NULL;
    }
    int c = accept(f->fd, NULL, NULL);
    if (c < 0) {
        return NULL;
    }
    raw_read_request(f, c);
    if (f->reply[0] != '\0') {
        ssize_t n = send(c, f->reply, strlen(f->reply), MSG_NOSIGNAL);
        (void)n;
    } else {
        char buf[256];
        struct pollfd q = {.fd = c, .events = POLLIN};
        while (poll(&q, 1, 5000) > 0 && recv(c, buf, sizeof buf, 0) > 0) {
        }
    }
    close(c);
    return NULL;
}

static void raw_start(struct raw *f)
{
    assert_int_equal(pthread_create(&f->thread, NULL, raw_run, f), 0);
}

/* True when some client connected (the connection waits in the backlog). */
static bool raw_was_reached(struct raw *f)
{
    int c = accept(f->fd, NULL, NULL);
    if (c >= 0) {
        close(c);
        return true;
    }
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    return false;
}

static void raw_close(struct raw *f)
{
    if (f->reply != NULL) {
        pthread_join(f->thread, NULL);
    }
    close(f->fd);
}

static void opts_with(struct ctl_opts *o, const char *a, const char *b, const char *c)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = 5000;
    ctl_urls_add(o, a);
    ctl_urls_add(o, b);
    if (c != NULL) {
        ctl_urls_add(o, c);
    }
}

#define HTTP_409                                                                                   \
    "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: 31\r\n"            \
    "Connection: close\r\n\r\n{\"error\": \"already a member!!\"}"

static void test_change_passes_unreachable_url_and_stops_at_a_4xx(void **state)
{
    (void)state;
    struct raw a, b;
    raw_open(&a, HTTP_409);
    raw_open(&b, NULL);
    raw_start(&a);
    struct ctl_opts o;
    opts_with(&o, "http://127.0.0.1:1", a.url, b.url);
    struct ctl_answer ans;
    char err[1024];
    assert_int_equal(ctl_send_json(&o, "POST", "/raft/members", "{\"address\":\"1.2.3.4:5\"}", &ans,
                                   err, sizeof err),
                     0);
    raw_close(&a);
    assert_int_equal(ans.status, 409);
    assert_string_equal(ans.url, a.url);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ans.body, "error")->valuestring,
                        "already a member!!");
    assert_true(strncmp(a.request, "POST /raft/members HTTP/1.1\r\n", 29) == 0);
    assert_non_null(strstr(a.request, "\r\n\r\n{\"address\":\"1.2.3.4:5\"}"));
    assert_non_null(strcasestr(a.request, "Content-Type: application/json"));
    assert_false(raw_was_reached(&b));
    ctl_answer_close(&ans);
    ctl_opts_free(&o);
    raw_close(&b);
}

static void test_change_answered_5xx_is_final_too(void **state)
{
    (void)state;
    struct raw a, b;
    raw_open(&a, "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n");
    raw_open(&b, NULL);
    raw_start(&a);
    struct ctl_opts o;
    opts_with(&o, a.url, b.url, NULL);
    struct ctl_answer ans;
    char err[1024];
    assert_int_equal(
        ctl_send_json(&o, "DELETE", "/raft/members/n%20x", NULL, &ans, err, sizeof err), 0);
    raw_close(&a);
    assert_int_equal(ans.status, 504);
    assert_null(ans.body);
    assert_true(strncmp(a.request, "DELETE /raft/members/n%20x HTTP/1.1\r\n", 37) == 0);
    assert_false(raw_was_reached(&b));
    ctl_answer_close(&ans);
    ctl_opts_free(&o);
    raw_close(&b);
}

static void test_change_sent_without_answer_is_not_retried(void **state)
{
    (void)state;
    struct raw a, b;
    raw_open(&a, "");
    raw_open(&b, NULL);
    raw_start(&a);
    struct ctl_opts o;
    opts_with(&o, a.url, b.url, NULL);
    o.timeout_ms = 300;
    o.timeout_set = true;
    struct ctl_answer ans;
    char err[1024];
    assert_int_equal(ctl_send_json(&o, "POST", "/raft/leadership", "{}", &ans, err, sizeof err),
                     -1);
    raw_close(&a);
    assert_non_null(strstr(err, "it may still take effect"));
    assert_non_null(strstr(err, a.url));
    assert_false(raw_was_reached(&b));
    ctl_opts_free(&o);
    raw_close(&b);
}

static void test_change_with_no_member_reachable_names_each_url(void **state)
{
    (void)state;
    struct ctl_opts o;
    opts_with(&o, "http://127.0.0.1:1", "http://127.0.0.1:2", NULL);
    struct ctl_answer ans;
    char err[2048];
    assert_int_equal(ctl_send_json(&o, "DELETE", "/raft/members/x", NULL, &ans, err, sizeof err),
                     -1);
    assert_true(strncmp(err, "could not reach the cluster:\n  http://127.0.0.1:1/raft/members/x: ",
                        66) == 0);
    assert_non_null(strstr(err, "\n  http://127.0.0.1:2/raft/members/x: "));
    assert_null(ans.body);
    ctl_opts_free(&o);
}

static void test_read_tries_the_next_url_after_an_error_status(void **state)
{
    (void)state;
    struct raw a, b;
    raw_open(&a, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n");
    raw_open(&b, "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"
                 "{\"scope\":\"d\"}");
    raw_start(&a);
    raw_start(&b);
    struct ctl_opts o;
    opts_with(&o, a.url, b.url, NULL);
    cJSON *doc = NULL;
    char err[1024];
    assert_int_equal(ctl_get_json(&o, "/cluster", &doc, err, sizeof err), 0);
    raw_close(&a);
    raw_close(&b);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "scope")->valuestring, "d");
    cJSON_Delete(doc);
    ctl_opts_free(&o);
}

/* --- what a request carries and brings back --------------------------------------- */

static void test_credentials_if_match_and_etag(void **state)
{
    (void)state;
    struct fake f;
    fake_open(&f);
    fake_route_n(&f, "GET", "/config", 200, "ETag: \"7\"\r\n", "{\"loop_wait\":10}", 0);
    fake_route(&f, "PATCH", "/config", 409, "config changed meanwhile\n");
    fake_start(&f);
    struct ctl_opts o = {.timeout_ms = 5000};
    ctl_urls_add(&o, f.url);
    o.auth.username = rg_strdup("admin");
    o.auth.password = rg_strdup("s3cret");
    struct ctl_answer ans;
    long status;
    char err[1024];
    assert_int_equal(ctl_get(&o, "/config", &ans, &status, err, sizeof err), 0);
    assert_int_equal(status, 200);
    assert_string_equal(ans.etag, "\"7\"");
    assert_string_equal(ans.url, o.urls[0]);
    ctl_answer_close(&ans);

    struct ctl_request rq = {
        .method = "PATCH", .path = "/config", .body = "{\"ttl\":30}", .if_match = "\"7\""};
    assert_int_equal(ctl_send(&o, &rq, &ans, err, sizeof err), 0);
    assert_int_equal(ans.status, 409);
    assert_null(ans.body);
    /* A text answer, trimmed, is the reason. */
    assert_string_equal(ctl_answer_reason(&ans), "config changed meanwhile");
    ctl_answer_close(&ans);
    fake_close_keep(&f);
    /* Basic credentials on every request; If-Match on the change. */
    const char *log = f.log;
    assert_non_null(strstr(log, "GET /config\nAuthorization: Basic YWRtaW46czNjcmV0\n"));
    assert_non_null(strstr(log, "PATCH /config\nIf-Match: \"7\"\n"
                                "Authorization: Basic YWRtaW46czNjcmV0\n{\"ttl\":30}\n"));
    free(f.log);
    ctl_opts_free(&o);
}

static void test_json_error_is_the_reason(void **state)
{
    (void)state;
    struct fake f;
    fake_open(&f);
    fake_route(&f, "POST", "/restart", 503,
               "{\"error\": \"restart conditions are not satisfied\"}");
    fake_start(&f);
    struct ctl_opts o = {.timeout_ms = 5000};
    struct ctl_request rq = {.method = "POST", .path = "/restart", .body = "{}"};
    struct ctl_answer ans;
    char err[1024];
    assert_int_equal(ctl_send_to(&o, f.url, &rq, &ans, err, sizeof err), 0);
    assert_int_equal(ans.status, 503);
    assert_string_equal(ctl_answer_reason(&ans), "restart conditions are not satisfied");
    ctl_answer_close(&ans);
    fake_close(&f);

    /* One member only: no URL list is walked, and the failure names it. */
    assert_int_equal(ctl_send_to(&o, "http://127.0.0.1:1", &rq, &ans, err, sizeof err), -1);
    assert_true(strncmp(err, "could not reach http://127.0.0.1:1/restart: ", 44) == 0);
    ctl_opts_free(&o);
}

static void test_urls_are_cleaned_deduplicated_and_never_hold_a_password(void **state)
{
    (void)state;
    struct ctl_opts o = {.timeout_ms = 300};
    ctl_urls_add(&o, " 127.0.0.1:1/ , http://127.0.0.1:1,https://bob:hunter2@127.0.0.1:2/x/");
    assert_int_equal(o.n_urls, 2);
    assert_string_equal(o.urls[0], "http://127.0.0.1:1");
    assert_string_equal(o.urls[1], "https://127.0.0.1:2/x");
    assert_string_equal(o.url_auth.username, "bob");
    assert_string_equal(o.url_auth.password, "hunter2");
    char err[2048];
    cJSON *doc = NULL;
    assert_int_equal(ctl_get_json(&o, "/cluster", &doc, err, sizeof err), -1);
    assert_null(strstr(err, "hunter2"));
    assert_non_null(strstr(err, "https://127.0.0.1:2/x/cluster"));
    ctl_opts_free(&o);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    clean_environment();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_passes_unreachable_url_and_stops_at_a_4xx),
        cmocka_unit_test(test_change_answered_5xx_is_final_too),
        cmocka_unit_test(test_change_sent_without_answer_is_not_retried),
        cmocka_unit_test(test_change_with_no_member_reachable_names_each_url),
        cmocka_unit_test(test_read_tries_the_next_url_after_an_error_status),
        cmocka_unit_test(test_credentials_if_match_and_etag),
        cmocka_unit_test(test_json_error_is_the_reason),
        cmocka_unit_test(test_urls_are_cleaned_deduplicated_and_never_hold_a_password),
    };
    int rv = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rv;
}
