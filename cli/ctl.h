/*
 * ctl: regentctl's internals — parsing its command line, finding the
 * cluster, talking to the members' REST API (libcurl easy: the CLI has no
 * loop to protect) and printing the answers the way patronictl does.
 *
 * Files: ctl_args.c (command line and help texts), ctl_http.c (requests with
 * failover across the URLs), ctl_table.c (the shared table and record
 * printers), ctl_list.c ("list"), ctl_member.c ("member", "leadership").
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

#define CTL_DEFAULT_URL "http://127.0.0.1:8008"

/* Requests that change the cluster get this long unless --timeout is given:
 * the agents allow the cluster 10 s to complete them. */
#define CTL_CHANGE_TIMEOUT_MS 15000L
/* member add waits this long for the new node to appear (--wait SEC). */
#define CTL_DEFAULT_WAIT_MS 30000L

enum ctl_format { CTL_PRETTY, CTL_TSV, CTL_JSON, CTL_YAML };

struct ctl_opts {
    char **urls; /* owned array of owned base URLs ("http://127.0.0.1:8008") */
    size_t n_urls;
    const char *config; /* borrowed from argv */
    enum ctl_format format;
    long timeout_ms;
    bool timeout_set; /* --timeout given: it applies to changes too */
};

/* Add the comma-separated URLs of @list (trimmed, trailing '/' dropped). */
void ctl_urls_add(struct ctl_opts *o, const char *list);
void ctl_opts_free(struct ctl_opts *o);

/* --- the command line (ctl_args.c) ---------------------------------------- */

/* CTL_CMD_MEMBER and CTL_CMD_LEADERSHIP are the groups, for their --help. */
enum ctl_cmd {
    CTL_CMD_NONE,
    CTL_CMD_VERSION,
    CTL_CMD_LIST,
    CTL_CMD_MEMBER,
    CTL_CMD_MEMBER_ADD,
    CTL_CMD_MEMBER_REMOVE,
    CTL_CMD_MEMBER_LIST,
    CTL_CMD_LEADERSHIP,
    CTL_CMD_LEADERSHIP_TRANSFER,
};

struct ctl_args {
    struct ctl_opts o;
    enum ctl_cmd cmd;
    bool help;
    const char *arg; /* borrowed from argv: ADDRESS or NAME, or NULL */
    bool force;      /* member remove: no confirmation */
    bool no_wait;    /* member add: do not wait for the new node */
    long wait_ms;    /* member add: how long to wait for it */
};

/*
 * Parse @argv into @a (ctl_args_close() it on every path). Options may come
 * before or after the words of the command. CTL_EXIT_OK, or CTL_EXIT_USAGE
 * after a message on @err. With --help, the command's words are checked
 * only as far as needed to pick the help text (a->cmd).
 */
int ctl_args_parse(struct ctl_args *a, int argc, char **argv, FILE *err);
void ctl_args_close(struct ctl_args *a);

/* The help text of @cmd (CTL_CMD_NONE: regentctl's own). */
void ctl_usage(FILE *fp, enum ctl_cmd cmd);

/* --- requests (ctl_http.c) ----------------------------------------------- */

/*
 * GET @path from each URL in turn until one answers 2xx with JSON. 0 and
 * *@out (caller cJSON_Delete()s), or -1 with @err naming every URL tried
 * and why it failed.
 */
int ctl_get_json(const struct ctl_opts *o, const char *path, cJSON **out, char *err, size_t errlen);

struct ctl_answer {
    long status;     /* the HTTP status of the member that answered */
    cJSON *body;     /* owned: its answer, NULL when that is not JSON */
    const char *url; /* borrowed from the ctl_opts: the member that answered */
};

/*
 * Send @method @path with the JSON text @body (NULL: no body), for requests
 * that change the cluster. The URLs are tried in order, and only a URL that
 * could not be reached passes the request on: any HTTP answer is final (the
 * member forwards to the Raft leader and retries by itself), and so is a
 * request that left but got no answer, whose outcome is unknown. 0 and *@ans
 * (ctl_answer_close() it) when a member answered, whatever the status; -1
 * and @err otherwise. The timeout is --timeout, else CTL_CHANGE_TIMEOUT_MS.
 */
int ctl_send_json(const struct ctl_opts *o,
                  const char *method,
                  const char *path,
                  const char *body,
                  struct ctl_answer *ans,
                  char *err,
                  size_t errlen);
void ctl_answer_close(struct ctl_answer *ans);

/* --- tables and records (ctl_table.c) ------------------------------------- */

struct ctl_table {
    size_t n_cols;
    const char *const *names; /* borrowed: the column headers */
    const bool *right;        /* borrowed: right-aligned columns, or NULL */
    size_t n_rows;
    char **cells; /* owned: n_rows * n_cols owned strings or NULL (""), by row */
};

/* A table of @n_rows empty rows; ctl_table_close() frees it. */
void ctl_table_init(
    struct ctl_table *t, size_t n_cols, const char *const *names, const bool *right, size_t n_rows);
void ctl_table_close(struct ctl_table *t);
/* Set a cell to @text (taken: rg_free()d by the table). */
void ctl_table_set(struct ctl_table *t, size_t row, size_t col, char *text);
/* A cell's text ("" when unset). */
const char *ctl_table_get(const struct ctl_table *t, size_t row, size_t col);

/* patronictl's boxed table, @title in its top border (widened to fit). */
void ctl_table_print_pretty(FILE *fp, const struct ctl_table *t, const char *title);
/* A header line, then one line per row; both start with a Cluster column. */
void ctl_table_print_tsv(FILE *fp, const struct ctl_table *t, const char *scope);
/* An array of flat objects (string and number values) as one JSON line, or
 * as a YAML list with sorted keys, as patronictl's json and yaml formats. */
void ctl_records_print(FILE *fp, const cJSON *records, enum ctl_format format);

/* --- commands ------------------------------------------------------------- */

/* "regentctl list": print GET /cluster in @format to @fp. */
void ctl_print_cluster(FILE *fp, const cJSON *cluster, enum ctl_format format);

enum ctl_raft_role { CTL_RAFT_NONE, CTL_RAFT_LEADER, CTL_RAFT_VOTER, CTL_RAFT_STANDBY };

/* @name's place in GET /cluster's "raft" object @raft (NULL: none). */
enum ctl_raft_role ctl_raft_role_of(const cJSON *raft, const char *name);

/* "regentctl member list": the servers of GET /cluster's Raft
 * configuration and their roles, in @format. -1 when @cluster has no
 * "raft" object (nothing printed). */
int ctl_print_raft_members(FILE *fp, const cJSON *cluster, enum ctl_format format);

/* Ask @question on @out and read one line from @in: true for y or yes (any
 * case), false for anything else, an empty line or end of file. */
bool ctl_confirm(FILE *in, FILE *out, const char *question);

/* The commands proper: messages on stdout and stderr, a CTL_EXIT_* code. */
int ctl_cmd_member_add(const struct ctl_args *a);
int ctl_cmd_member_remove(const struct ctl_args *a);
int ctl_cmd_member_list(const struct ctl_args *a);
int ctl_cmd_leadership_transfer(const struct ctl_args *a);

#endif
