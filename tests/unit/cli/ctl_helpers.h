/*
 * Helpers shared by the cli tests. Include after cmocka.h, in a file that
 * defines _GNU_SOURCE first (strcasestr, asprintf, open_memstream).
 *
 *   capture      what a printer writes, through open_memstream
 *   golden       compare a text with tests/unit/cli/golden/<name>; the
 *                directory comes from argv[1] (meson passes it). With
 *                CTL_GOLDEN_UPDATE=1 in the environment the files are
 *                written instead (then read them before committing).
 *   fake members tiny HTTP servers on 127.0.0.1 (port 0), each answering
 *                from a script of routes, one request per connection, in
 *                a thread; every request is kept for the test to read
 *   run_cmd      a whole regentctl command line, stdin given, stdout and
 *                stderr captured
 */
#ifndef REGENT_TEST_CLI_HELPERS_H
#define REGENT_TEST_CLI_HELPERS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/ctl.h"

/* --- capture -------------------------------------------------------------------- */

struct capture {
    FILE *fp;
    char *text;
    size_t len;
};

static inline void capture_open(struct capture *c)
{
    c->text = NULL;
    c->fp = open_memstream(&c->text, &c->len);
    assert_non_null(c->fp);
}

/* The text written so far; the capture stays open. */
static inline const char *capture_text(struct capture *c)
{
    fflush(c->fp);
    return c->text != NULL ? c->text : "";
}

static inline void capture_close(struct capture *c)
{
    fclose(c->fp);
    free(c->text);
}

/* --- golden files --------------------------------------------------------------- */

static const char *golden_dir = "tests/unit/cli/golden";

static inline char *read_whole(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return NULL;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) {
        fwrite(buf, 1, n, out);
    }
    fclose(out);
    fclose(fp);
    return text;
}

/* The golden file @name (caller free()s). */
static inline char *golden_read(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", golden_dir, name);
    char *text = read_whole(path);
    if (text == NULL) {
        fail_msg("golden file %s is missing", path);
    }
    return text;
}

static inline void assert_golden(const char *text, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", golden_dir, name);
    const char *update = getenv("CTL_GOLDEN_UPDATE");
    if (update != NULL && strcmp(update, "1") == 0) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
        return;
    }
    char *want = golden_read(name);
    if (strcmp(text, want) != 0) {
        print_error("--- %s (golden)\n%s--- got\n%s---\n", name, want, text);
    }
    assert_string_equal(text, want);
    free(want);
}

/* --- fake members --------------------------------------------------------------- */

struct fake_route {
    const char *method; /* "GET" */
    const char *path;   /* "/cluster" */
    int status;
    const char *headers; /* extra header lines, each ending "\r\n", or NULL */
    const char *body;    /* borrowed, or NULL */
    int times;           /* answers this many requests; 0: every one */
};

#define FAKE_MAX_ROUTES 16

struct fake {
    int fd;
    char url[64];
    pthread_t thread;
    pthread_mutex_t mu;
    volatile int stop;
    struct fake_route routes[FAKE_MAX_ROUTES];
    int used[FAKE_MAX_ROUTES];
    size_t n_routes;
    char *log;    /* every request: "METHOD PATH\n" + headers of note + body + "\n" */
    size_t n_req; /* requests answered */
};

static inline void
fake_route(struct fake *f, const char *method, const char *path, int status, const char *body)
{
    assert_true(f->n_routes < FAKE_MAX_ROUTES);
    f->routes[f->n_routes++] = (struct fake_route){method, path, status, NULL, body, 0};
}

/* The route answers @times requests, then the next one that matches. */
static inline void fake_route_n(struct fake *f,
                                const char *method,
                                const char *path,
                                int status,
                                const char *headers,
                                const char *body,
                                int times)
{
    assert_true(f->n_routes < FAKE_MAX_ROUTES);
    f->routes[f->n_routes++] = (struct fake_route){method, path, status, headers, body, times};
}

/* Headers, then Content-Length bytes of body. */
static inline size_t fake_read(int c, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0) {
            return got;
        }
        ssize_t n = recv(c, buf + got, cap - 1 - got, 0);
        if (n <= 0) {
            return got;
        }
        got += (size_t)n;
        buf[got] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "Content-Length:");
        size_t body = cl != NULL ? strtoul(cl + 15, NULL, 10) : 0;
        if (end != NULL && got >= (size_t)(end + 4 - buf) + body) {
            return got;
        }
    }
}

static inline void fake_log(struct fake *f, const char *req)
{
    char method[16] = "", path[512] = "";
    sscanf(req, "%15s %511s", method, path);
    const char *body = strstr(req, "\r\n\r\n");
    body = body != NULL ? body + 4 : "";
    char extra[512] = "";
    const char *h;
    if ((h = strcasestr(req, "\r\nIf-Match:")) != NULL) {
        snprintf(extra, sizeof extra, "If-Match:%.*s\n", (int)strcspn(h + 11, "\r"), h + 11);
    }
    if ((h = strcasestr(req, "\r\nAuthorization:")) != NULL) {
        size_t k = strlen(extra);
        snprintf(extra + k, sizeof extra - k, "Authorization:%.*s\n", (int)strcspn(h + 16, "\r"),
                 h + 16);
    }
    char *entry;
    if (asprintf(&entry, "%s%s %s\n%s%s%s", f->log != NULL ? f->log : "", method, path, extra, body,
                 body[0] ? "\n" : "") < 0) {
        abort();
    }
    free(f->log);
    f->log = entry;
}

static inline const struct fake_route *fake_match(struct fake *f, const char *req)
{
    for (size_t i = 0; i < f->n_routes; i++) {
        const struct fake_route *r = &f->routes[i];
        size_t ml = strlen(r->method), pl = strlen(r->path);
        if (strncmp(req, r->method, ml) == 0 && req[ml] == ' ' &&
            strncmp(req + ml + 1, r->path, pl) == 0 &&
            (req[ml + 1 + pl] == ' ' || req[ml + 1 + pl] == '?') &&
            (r->times == 0 || f->used[i] < r->times)) {
            f->used[i]++;
            return r;
        }
    }
    return NULL;
}

static inline void *fake_run(void *arg)
{
    struct fake *f = arg;
    while (!f->stop) {
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        int c = accept(f->fd, NULL, NULL);
        if (c < 0) {
            continue;
        }
        char req[16384];
        fake_read(c, req, sizeof req);
        pthread_mutex_lock(&f->mu);
        fake_log(f, req);
        const struct fake_route *r = fake_match(f, req);
        f->n_req++;
        pthread_mutex_unlock(&f->mu);
        char *resp;
        const char *body = r != NULL && r->body != NULL ? r->body : "";
        if (r == NULL) {
            body = "no route in the fake";
        }
        if (asprintf(&resp, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
                     r != NULL ? r->status : 404, strlen(body),
                     r != NULL && r->headers != NULL ? r->headers : "", body) < 0) {
            abort();
        }
        ssize_t n = send(c, resp, strlen(resp), MSG_NOSIGNAL);
        (void)n;
        free(resp);
        close(c);
    }
    return NULL;
}

static inline void fake_open(struct fake *f)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(f->fd >= 0);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(f->fd, 16), 0);
    assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u", ntohs(sa.sin_port));
}

static inline void fake_start(struct fake *f)
{
    assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

/* The requests so far (borrowed until fake_close). */
static inline const char *fake_requests(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    const char *log = f->log != NULL ? f->log : "";
    pthread_mutex_unlock(&f->mu);
    return log;
}

/* Stop the fake; its log stays for the test to read (and free). */
static inline void fake_close_keep(struct fake *f)
{
    f->stop = 1;
    pthread_join(f->thread, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
}

static inline void fake_close(struct fake *f)
{
    fake_close_keep(f);
    free(f->log);
    f->log = NULL;
}

/* @tmpl with each "@N@" (N = 1..9) replaced by fakes[N-1]->url (free()). */
static inline char *subst(const char *tmpl, struct fake **fakes, size_t n)
{
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);
    for (const char *p = tmpl; *p != '\0'; p++) {
        if (p[0] == '@' && p[1] >= '1' && p[1] <= '9' && p[2] == '@' && (size_t)(p[1] - '1') < n) {
            fputs(fakes[p[1] - '1']->url, fp);
            p += 2;
        } else {
            fputc(*p, fp);
        }
    }
    fclose(fp);
    return out;
}

/* --- whole commands ---------------------------------------------------------------- */

struct cmd_result {
    int rc;
    char *out; /* free() */
    char *err;
};

/* regentctl with the NULL-terminated @words, @input on stdin. */
static inline struct cmd_result run_argv(const char *input, char **words)
{
    char *argv[64] = {"regentctl"};
    int argc = 1;
    for (; words[argc - 1] != NULL; argc++) {
        assert_true(argc < 63);
        argv[argc] = words[argc - 1];
    }
    struct capture out, err;
    capture_open(&out);
    capture_open(&err);
    FILE *in =
        fmemopen((void *)(input != NULL ? input : ""), input != NULL ? strlen(input) : 0, "r");
    if (in == NULL) { /* fmemopen of 0 bytes fails on some libcs */
        in = fopen("/dev/null", "r");
    }
    struct ctl_args a;
    struct cmd_result r;
    r.rc = ctl_args_parse(&a, argc, argv, err.fp);
    if (r.rc == CTL_EXIT_OK) {
        a.io = (struct ctl_io){.in = in, .out = out.fp, .err = err.fp, .out_tty = false};
        r.rc = ctl_run(&a);
    }
    ctl_args_close(&a);
    fclose(in);
    r.out = strdup(capture_text(&out));
    r.err = strdup(capture_text(&err));
    capture_close(&out);
    capture_close(&err);
    return r;
}

#define RUN(input, ...) run_argv((input), (char *[]){__VA_ARGS__, NULL})

static inline void result_free(struct cmd_result *r)
{
    free(r->out);
    free(r->err);
}

/* No REGENTCTL_* setting of the developer's leaks into a test. */
static inline void clean_environment(void)
{
    static const char *const vars[] = {"REGENTCTL_URL",      "REGENTCTL_CONFIG_FILE",
                                       "REGENTCTL_USERNAME", "REGENTCTL_PASSWORD",
                                       "REGENTCTL_CACERT",   "REGENTCTL_CERTFILE",
                                       "REGENTCTL_KEYFILE",  "REGENTCTL_KEYFILE_PASSWORD",
                                       "REGENTCTL_INSECURE", "EDITOR"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        unsetenv(vars[i]);
    }
    setenv("TZ", "UTC", 1);
}

#endif
