/*
 * ctl_http: the URLs that reach the cluster, and GET with failover across
 * them. Each URL is tried once with a short connect timeout; the first 2xx
 * JSON answer wins. Failures are collected so the final message names every
 * URL tried and what went wrong with it.
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

static void append(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    size_t pos = strlen(err);
    if (pos < errlen) {
        snprintf(err + pos, errlen - pos, fmt, a, b);
    }
}

int ctl_get_json(const struct ctl_opts *o, const char *path, cJSON **out, char *err, size_t errlen)
{
    err[0] = '\0';
    snprintf(err, errlen, "could not reach the cluster:");
    for (size_t i = 0; i < o->n_urls; i++) {
        char *url = rg_asprintf("%s%s", o->urls[i], path);
        struct buf b = {NULL, 0};
        char cerr[CURL_ERROR_SIZE] = "";
        CURL *curl = curl_easy_init();
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                         o->timeout_ms < 2000 ? o->timeout_ms : 2000L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "regentctl/" REGENT_VERSION);
        CURLcode rc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(curl);

        char why[CURL_ERROR_SIZE + 64];
        cJSON *doc = NULL;
        if (rc != CURLE_OK) {
            snprintf(why, sizeof why, "%s", cerr[0] != '\0' ? cerr : curl_easy_strerror(rc));
        } else if (status < 200 || status > 299) {
            snprintf(why, sizeof why, "HTTP status %ld", status);
        } else if ((doc = cJSON_ParseWithLength(b.data != NULL ? b.data : "", b.len)) == NULL) {
            snprintf(why, sizeof why, "the answer is not JSON");
        }
        rg_free(b.data);
        if (doc != NULL) {
            rg_free(url);
            *out = doc;
            return 0;
        }
        append(err, errlen, "\n  %s: %s", url, why);
        rg_free(url);
    }
    if (o->n_urls == 0) {
        append(err, errlen, "%s%s", " no URL to try", "");
    }
    return -1;
}
