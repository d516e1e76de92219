/*
 * ctl: regentctl's internals — finding the cluster, fetching documents from
 * the members' REST API (libcurl easy: the CLI has no loop to protect) and
 * printing them the way patronictl does.
 */
#ifndef REGENT_CTL_H
#define REGENT_CTL_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CTL_EXIT_OK    0
#define CTL_EXIT_FAIL  1 /* cluster unreachable, request failed */
#define CTL_EXIT_USAGE 2

enum ctl_format { CTL_PRETTY, CTL_TSV, CTL_JSON, CTL_YAML };

struct ctl_opts {
    char **urls; /* owned array of owned base URLs ("http://127.0.0.1:8008") */
    size_t n_urls;
    const char *config; /* borrowed from argv */
    enum ctl_format format;
    long timeout_ms;
};

/* Add the comma-separated URLs of @list (trimmed, trailing '/' dropped). */
void ctl_urls_add(struct ctl_opts *o, const char *list);
void ctl_opts_free(struct ctl_opts *o);

/*
 * GET @path from each URL in turn until one answers 2xx with JSON. 0 and
 * *@out (caller cJSON_Delete()s), or -1 with @err naming every URL tried
 * and why it failed.
 */
int ctl_get_json(const struct ctl_opts *o, const char *path, cJSON **out, char *err, size_t errlen);

/* "regentctl list": print GET /cluster in @o->format to @fp. */
void ctl_print_cluster(FILE *fp, const cJSON *cluster, enum ctl_format format);

#endif
