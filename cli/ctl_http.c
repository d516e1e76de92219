/*
 * ctl_http: the URLs that reach the cluster, and requests with failover
 * across them. Each URL is tried once, in order, with a short connect
 * timeout. Failures are collected so the final message names every URL
 * tried and what went wrong with it.
 *
 * Reads (ctl_get_json) take the first 2xx JSON answer and try the next URL
 * on anything else. Changes (ctl_send_json) are more careful, because the
 * member that receives one forwards it to the Raft leader: a URL passes the
 * request on only when it certainly never got it (nothing could be sent:
 * refused, unresolved, connect timeout). An HTTP answer of any status is
 * final, and a request that left without an answer has an unknown outcome,
 * so sending it elsewhere could apply it twice; both stop the walk.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

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
        if (n == 0) {
            continue;
        }
        o->urls = rg_realloc(o->urls, (o->n_urls + 1) * sizeof *o->urls);
        o->urls[o->n_urls++] =
            strstr(tok, "://") != NULL ? rg_strdup(tok) : rg_asprintf("http://%s", tok);
    }
    rg_free(copy);
}

void ctl_opts_free(struct ctl_opts *o)
{
    for (size_t i = 0; i < o->n_urls; i++) {
        rg_free(o->urls[i]);
    }
    rg_free(o->urls);
    o->urls = NULL;
    o->n_urls = 0;
}

struct buf {
    char *data;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t len = size * n;
    if (b->len + len > (64u << 20)) {
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
    const char *method; /* borrowed: "GET", "POST", "DELETE" */
    const char *body;   /* borrowed JSON text, or NULL */
    long timeout_ms;
    CURLcode rc;
    long status; /* HTTP status; 0 when no answer came */
    bool sent;   /* some of the request was written */
    char why[CURL_ERROR_SIZE + 64];
    struct buf answer; /* owned */
};

static void xfer_run(struct xfer *x, const char *url)
{
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, x->timeout_ms < 2000 ? x->timeout_ms : 2000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, x->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x->answer);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "regentctl/" REGENT_VERSION);
    if (strcmp(x->method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, x->method);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, x->body != NULL ? x->body : "");
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }
    x->rc = curl_easy_perform(curl);
    long request_size = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_size);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    x->sent = request_size > 0;
    if (x->rc != CURLE_OK) {
        snprintf(x->why, sizeof x->why, "%s", cerr[0] != '\0' ? cerr : curl_easy_strerror(x->rc));
    }
}

static void append(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    size_t pos = strlen(err);
    if (pos < errlen) {
        snprintf(err + pos, errlen - pos, fmt, a, b);
    }
}

static cJSON *answer_json(const struct xfer *x)
{
    return cJSON_ParseWithLength(x->answer.data != NULL ? x->answer.data : "", x->answer.len);
}

int ctl_get_json(const struct ctl_opts *o, const char *path, cJSON **out, char *err, size_t errlen)
{
    snprintf(err, errlen, "could not reach the cluster:");
    for (size_t i = 0; i < o->n_urls; i++) {
        char *url = rg_asprintf("%s%s", o->urls[i], path);
        struct xfer x = {.method = "GET", .timeout_ms = o->timeout_ms};
        xfer_run(&x, url);
        cJSON *doc = NULL;
        if (x.rc != CURLE_OK) {
            /* x.why says it */
        } else if (x.status < 200 || x.status > 299) {
            snprintf(x.why, sizeof x.why, "HTTP status %ld", x.status);
        } else if ((doc = answer_json(&x)) == NULL) {
            snprintf(x.why, sizeof x.why, "the answer is not JSON");
        }
        rg_free(x.answer.data);
        if (doc != NULL) {
            rg_free(url);
            *out = doc;
            return 0;
        }
        append(err, errlen, "\n  %s: %s", url, x.why);
        rg_free(url);
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
    memset(ans, 0, sizeof *ans);
    snprintf(err, errlen, "could not reach the cluster:");
    long timeout_ms = o->timeout_set ? o->timeout_ms : CTL_CHANGE_TIMEOUT_MS;
    for (size_t i = 0; i < o->n_urls; i++) {
        char *url = rg_asprintf("%s%s", o->urls[i], path);
        struct xfer x = {.method = method, .body = body, .timeout_ms = timeout_ms};
        xfer_run(&x, url);
        bool answered = x.status != 0;
        bool final = answered || x.sent;
        if (answered) {
            ans->status = x.status;
            ans->body = answer_json(&x);
            ans->url = o->urls[i];
        } else if (x.sent) {
            /* Not "could not reach": the member may be applying it now. */
            snprintf(err, errlen,
                     "no answer from %s: %s (the request was sent: it may still take effect)", url,
                     x.why);
        } else {
            append(err, errlen, "\n  %s: %s", url, x.why);
        }
        rg_free(x.answer.data);
        rg_free(url);
        if (final) {
            return answered ? 0 : -1;
        }
    }
    if (o->n_urls == 0) {
        append(err, errlen, "%s%s", " no URL to try", "");
    }
    return -1;
}

void ctl_answer_close(struct ctl_answer *ans)
{
    cJSON_Delete(ans->body);
    memset(ans, 0, sizeof *ans);
}
