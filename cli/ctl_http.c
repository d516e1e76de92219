/*
 * ctl_http: the URLs that reach the cluster, and requests with failover
 * across them. Each URL is tried once, in order, with a short connect
 * timeout. Failures are collected so the final message names every URL
 * tried and what went wrong with it.
 *
 * Reads (ctl_get) take the first 2xx JSON answer and try the next URL on
 * anything else. Changes (ctl_send) are more careful, because the member
 * that receives one forwards it to the Raft leader: a URL passes the
 * request on only when it certainly never got it (nothing could be sent:
 * refused, unresolved, connect timeout). An HTTP answer of any status is
 * final, and a request that left without an answer has an unknown outcome,
 * so sending it elsewhere could apply it twice; both stop the walk.
 * ctl_send_to() is for the requests a member carries out itself (restart,
 * reload, reinitialize, its GET /patroni).
 *
 * Every request carries the credentials (HTTP Basic, as patronictl sends
 * them on every request) and the TLS settings of ctl_opts. A URL never
 * holds a password: ctl_urls_add() takes "user:password@" out of it.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/rg.h"
#include "cli/ctl.h"

#define MAX_ANSWER (64u << 20)

/* "http://user:pw@host:1/x" -> "http://host:1/x", user and pw decoded into
 * o->url_auth. */
static char *strip_userinfo(struct ctl_opts *o, const char *url)
{
    const char *auth = strstr(url, "://");
    auth = auth != NULL ? auth + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + alen; p++) {
        at = *p == '@' ? p : at;
    }
    if (at == NULL) {
        return rg_strdup(url);
    }
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    size_t ulen = colon != NULL ? (size_t)(colon - auth) : (size_t)(at - auth);
    char *user = curl_easy_unescape(NULL, auth, (int)ulen, NULL);
    char *pw =
        colon != NULL ? curl_easy_unescape(NULL, colon + 1, (int)(at - colon - 1), NULL) : NULL;
    rg_free(o->url_auth.username);
    rg_free(o->url_auth.password);
    o->url_auth.username = rg_strdup(user != NULL ? user : "");
    o->url_auth.password = pw != NULL ? rg_strdup(pw) : NULL;
    curl_free(user);
    curl_free(pw);
    return rg_asprintf("%.*s%s", (int)(auth - url), url, at + 1);
}

static void add_url(struct ctl_opts *o, char *tok)
{
    char *url = strstr(tok, "://") != NULL ? rg_strdup(tok) : rg_asprintf("http://%s", tok);
    char *clean = strip_userinfo(o, url);
    rg_free(url);
    for (size_t i = 0; i < o->n_urls; i++) {
        if (strcmp(o->urls[i], clean) == 0) {
            rg_free(clean);
            return;
        }
    }
    o->urls = rg_realloc(o->urls, (o->n_urls + 1) * sizeof *o->urls);
    o->urls[o->n_urls++] = clean;
}

void ctl_urls_add(struct ctl_opts *o, const char *list)
{
    char *copy = rg_strdup(list);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t') {
            tok++;
        }
        size_t n = strlen(tok);
        while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t' || tok[n - 1] == '/')) {
            tok[--n] = '\0';
        }
        if (n > 0) {
            add_url(o, tok);
        }
    }
    rg_free(copy);
}

static void auth_free(struct ctl_auth *a)
{
    rg_free(a->username);
    rg_free(a->password);
    a->username = a->password = NULL;
}

void ctl_opts_free(struct ctl_opts *o)
{
    for (size_t i = 0; i < o->n_urls; i++) {
        rg_free(o->urls[i]);
    }
    rg_free(o->urls);
    o->urls = NULL;
    o->n_urls = 0;
    auth_free(&o->auth);
    auth_free(&o->url_auth);
    rg_free(o->tls.cacert);
    rg_free(o->tls.certfile);
    rg_free(o->tls.keyfile);
    rg_free(o->tls.keyfile_password);
    memset(&o->tls, 0, sizeof o->tls);
    rg_free(o->scope);
    o->scope = NULL;
}

/* --- one request ----------------------------------------------------------------- */

struct buf {
    char *data;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t len = size * n;
    if (b->len + len > MAX_ANSWER) {
        return 0; /* absurdly large: abort the transfer */
    }
    b->data = rg_realloc(b->data, b->len + len + 1);
    memcpy(b->data + b->len, ptr, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

/* One request to one URL, and what came of it. */
struct xfer {
    const struct ctl_request *rq;
    long timeout_ms;
    CURLcode rc;
    long status; /* HTTP status; 0 when no answer came */
    bool sent;   /* some of the request was written */
    char why[CURL_ERROR_SIZE + 64];
    struct buf answer; /* owned */
    char *etag;        /* owned */
};

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    if (len > 5 && strncasecmp(line, "ETag:", 5) == 0) {
        const char *v = line + 5;
        size_t vl = len - 5;
        while (vl > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) {
            vl--;
        }
        rg_free(x->etag);
        x->etag = rg_strndup(v, vl);
    }
    return len;
}

static void set_security(CURL *curl, const struct ctl_opts *o)
{
    if (o->auth.username != NULL) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, o->auth.username);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, o->auth.password != NULL ? o->auth.password : "");
    }
    if (o->tls.cacert != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, o->tls.cacert);
    }
    if (o->tls.certfile != NULL) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, o->tls.certfile);
        if (o->tls.keyfile != NULL) {
            curl_easy_setopt(curl, CURLOPT_SSLKEY, o->tls.keyfile);
        }
        if (o->tls.keyfile_password != NULL) {
            curl_easy_setopt(curl, CURLOPT_KEYPASSWD, o->tls.keyfile_password);
        }
    }
    if (o->tls.insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static void xfer_run(const struct ctl_opts *o, struct xfer *x, const char *url)
{
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, x->timeout_ms < 2000 ? x->timeout_ms : 2000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, x->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x->answer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "regentctl/" REGENT_VERSION);
    set_security(curl, o);
    if (strcmp(x->rq->method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, x->rq->method);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, x->rq->body != NULL ? x->rq->body : "");
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    }
    char *if_match = NULL;
    if (x->rq->if_match != NULL) {
        if_match = rg_asprintf("If-Match: %s", x->rq->if_match);
        headers = curl_slist_append(headers, if_match);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    x->rc = curl_easy_perform(curl);
    long request_size = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_size);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    rg_free(if_match);
    x->sent = request_size > 0;
    if (x->rc != CURLE_OK) {
        snprintf(x->why, sizeof x->why, "%s", cerr[0] != '\0' ? cerr : curl_easy_strerror(x->rc));
    }
}

static long timeout_of(const struct ctl_opts *o, const struct ctl_request *rq)
{
    if (rq->timeout_ms > 0) {
        return rq->timeout_ms;
    }
    if (o->timeout_set || strcmp(rq->method, "GET") == 0) {
        return o->timeout_ms;
    }
    return CTL_CHANGE_TIMEOUT_MS;
}

/* The answer @x got into @ans (taking its buffers). */
static void take_answer(struct xfer *x, struct ctl_answer *ans, const char *base)
{
    ans->status = x->status;
    ans->text = x->answer.data != NULL ? x->answer.data : rg_strdup("");
    size_t n = strlen(ans->text);
    while (n > 0 && strchr(" \t\r\n", ans->text[n - 1]) != NULL) {
        ans->text[--n] = '\0';
    }
    ans->body = cJSON_Parse(ans->text);
    ans->etag = x->etag;
    ans->url = base;
    x->answer.data = NULL;
    x->etag = NULL;
}

static void xfer_close(struct xfer *x)
{
    rg_free(x->answer.data);
    rg_free(x->etag);
}

static void append(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    size_t pos = strlen(err);
    if (pos < errlen) {
        snprintf(err + pos, errlen - pos, fmt, a, b);
    }
}

/* --- reads ---------------------------------------------------------------------- */

int ctl_get(const struct ctl_opts *o,
            const char *path,
            struct ctl_answer *ans,
            long *last_status,
            char *err,
            size_t errlen)
{
    struct ctl_request rq = {.method = "GET", .path = path};
    memset(ans, 0, sizeof *ans);
    *last_status = 0;
    snprintf(err, errlen, "could not reach the cluster:");
    for (size_t i = 0; i < o->n_urls; i++) {
        char *url = rg_asprintf("%s%s", o->urls[i], path);
        struct xfer x = {.rq = &rq, .timeout_ms = timeout_of(o, &rq)};
        xfer_run(o, &x, url);
        if (x.rc == CURLE_OK) {
            *last_status = x.status;
            take_answer(&x, ans, o->urls[i]);
            if (x.status >= 200 && x.status <= 299 && ans->body != NULL) {
                rg_free(url);
                return 0;
            }
            if (x.status < 200 || x.status > 299) {
                snprintf(x.why, sizeof x.why, "HTTP status %ld%s%.200s", x.status,
                         ans->text[0] != '\0' ? ": " : "", ctl_answer_reason(ans));
            } else {
                snprintf(x.why, sizeof x.why, "the answer is not JSON");
            }
            ctl_answer_close(ans);
        }
        xfer_close(&x);
        append(err, errlen, "\n  %s: %s", url, x.why);
        rg_free(url);
    }
    if (o->n_urls == 0) {
        append(err, errlen, "%s%s", " no URL to try", "");
    }
    return -1;
}

int ctl_get_json(const struct ctl_opts *o, const char *path, cJSON **out, char *err, size_t errlen)
{
    struct ctl_answer ans;
    long status;
    if (ctl_get(o, path, &ans, &status, err, errlen) != 0) {
        return -1;
    }
    *out = ans.body;
    ans.body = NULL;
    ctl_answer_close(&ans);
    return 0;
}

/* --- changes --------------------------------------------------------------------- */

/* One URL: 0 answered; 1 never reached (try the next); -1 sent, no answer. */
static int send_one(const struct ctl_opts *o,
                    const char *base,
                    const struct ctl_request *rq,
                    struct ctl_answer *ans,
                    char *err,
                    size_t errlen)
{
    char *url = rg_asprintf("%s%s", base, rq->path);
    struct xfer x = {.rq = rq, .timeout_ms = timeout_of(o, rq)};
    xfer_run(o, &x, url);
    int rv;
    if (x.status != 0) {
        take_answer(&x, ans, base);
        rv = 0;
    } else if (x.sent) {
        /* Not "could not reach": the member may be applying it now. */
        snprintf(err, errlen,
                 "no answer from %s: %s (the request was sent: it may still take effect)", url,
                 x.why);
        rv = -1;
    } else {
        append(err, errlen, "\n  %s: %s", url, x.why);
        rv = 1;
    }
    xfer_close(&x);
    rg_free(url);
    return rv;
}

int ctl_send(const struct ctl_opts *o,
             const struct ctl_request *rq,
             struct ctl_answer *ans,
             char *err,
             size_t errlen)
{
    memset(ans, 0, sizeof *ans);
    snprintf(err, errlen, "could not reach the cluster:");
    for (size_t i = 0; i < o->n_urls; i++) {
        int rv = send_one(o, o->urls[i], rq, ans, err, errlen);
        if (rv <= 0) {
            return rv;
        }
    }
    if (o->n_urls == 0) {
        append(err, errlen, "%s%s", " no URL to try", "");
    }
    return -1;
}

int ctl_send_json(const struct ctl_opts *o,
                  const char *method,
                  const char *path,
                  const char *body,
                  struct ctl_answer *ans,
                  char *err,
                  size_t errlen)
{
    struct ctl_request rq = {.method = method, .path = path, .body = body};
    return ctl_send(o, &rq, ans, err, errlen);
}

int ctl_send_to(const struct ctl_opts *o,
                const char *base_url,
                const struct ctl_request *rq,
                struct ctl_answer *ans,
                char *err,
                size_t errlen)
{
    memset(ans, 0, sizeof *ans);
    snprintf(err, errlen, "could not reach");
    int rv = send_one(o, base_url, rq, ans, err, errlen);
    if (rv == 1) {
        /* "could not reach\n  URL: why" -> "could not reach URL: why" */
        char *nl = strstr(err, "\n  ");
        if (nl != NULL) {
            memmove(nl + 1, nl + 3, strlen(nl + 3) + 1);
            *nl = ' ';
        }
    }
    return rv == 0 ? 0 : -1;
}

void ctl_answer_close(struct ctl_answer *ans)
{
    cJSON_Delete(ans->body);
    rg_free(ans->text);
    rg_free(ans->etag);
    memset(ans, 0, sizeof *ans);
}

const char *ctl_answer_reason(const struct ctl_answer *ans)
{
    const char *e = ctl_str(ans->body, "error");
    if (e != NULL) {
        return e;
    }
    return ans->text != NULL ? ans->text : "";
}
