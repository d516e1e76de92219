/*
 * ctl: regentctl's internals — its command line, finding the cluster and
 * the credentials to talk to it, requests to the members' REST API (libcurl
 * easy: the CLI has no loop to protect), and printing the answers the way
 * patronictl does.
 *
 * Files, by concern:
 *   ctl_args.c     the command line (what each command takes)
 *   ctl_opts.c     the options and their values (ctl_args_internal.h)
 *   ctl_help.c     the help texts
 *   ctl_run.c      from the command line to the command
 *   ctl_conf.c     -c CONFIG, $REGENTCTL_*: URLs, credentials, TLS
 *   ctl_http.c     requests, tried across the URLs in turn
 *   ctl_cluster.c  GET /cluster, member discovery, choosing members
 *   ctl_yaml.c     YAML in (libyaml, PyYAML's resolver)
 *   ctl_yaml_dump.c YAML out (as PyYAML's safe_dump)
 *   ctl_table.c    the boxed table, tsv and json/yaml records
 *   ctl_list.c     list, topology (and -W watching)
 *   ctl_history.c  history, version
 *   ctl_prompt.c   prompts, confirmations, times (ISO 8601)
 *   ctl_switch.c   switchover, failover, flush switchover
 *   ctl_node.c     restart, reload, flush restart
 *   ctl_reinit.c   reinit (and --wait)
 *   ctl_config.c   show-config, edit-config, pause, resume
 *   ctl_edit.c     the pure half of edit-config: -s paths, merge patches
 *   ctl_diff.c     the unified diff edit-config shows
 *   ctl_member.c   member add|remove|list, leadership transfer
 *
 * Every command writes through the ctl_io it is given (stdout, stderr and
 * stdin in the binary; memory streams in the tests) and returns a CTL_EXIT_*
 * code. Passwords (restapi/ctl authentication, keyfile_password, the
 * password of a URL) are kept in ctl_opts and never printed.
 */
#ifndef REGENT_CTL_H
#define REGENT_CTL_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_EXIT_OK    0
#define CTL_EXIT_FAIL  1 /* cluster unreachable, request refused or failed */
#define CTL_EXIT_USAGE 2

#define CTL_DEFAULT_URL "http://127.0.0.1:8008"

/* A read gets this long unless --timeout is given. */
#define CTL_READ_TIMEOUT_MS 5000L
/* Requests that change the cluster get this long unless --timeout is given:
 * the agents allow the cluster 10 s to complete them. */
#define CTL_CHANGE_TIMEOUT_MS 15000L
/* switchover/failover: the member answers once the new primary is in place
 * (Patroni's handler waits up to 2 * max(10, loop_wait) s). */
#define CTL_SWITCH_TIMEOUT_MS 60000L
/* restart: an immediate restart answers once PostgreSQL is up again. */
#define CTL_RESTART_TIMEOUT_MS 120000L
/* member add, pause/resume --wait, reinit --wait: the default bound. */
#define CTL_DEFAULT_WAIT_MS 30000L
/* Between two looks while waiting. */
#define CTL_POLL_MS 200L

enum ctl_format { CTL_PRETTY, CTL_TSV, CTL_JSON, CTL_YAML };

/* Where a command reads and writes. */
struct ctl_io {
    FILE *in;     /* borrowed: answers to prompts */
    FILE *out;    /* borrowed: results, prompts */
    FILE *err;    /* borrowed: errors */
    bool out_tty; /* out is a terminal: colour the diff, clear the screen */
};

/* HTTP Basic credentials; every string owned, NULL when unset. */
struct ctl_auth {
    char *username;
    char *password; /* never printed */
};

/* TLS settings of the requests; every string owned, NULL when unset. */
struct ctl_tls {
    char *cacert;           /* CA bundle the members' certificates are checked against */
    char *certfile;         /* client certificate (verify_client) */
    char *keyfile;          /* its key; NULL: in certfile */
    char *keyfile_password; /* never printed */
    bool insecure;          /* do not check the members' certificates */
};

struct ctl_opts {
    char **urls; /* owned array of owned base URLs ("http://127.0.0.1:8008") */
    size_t n_urls;
    const char *config; /* borrowed from argv (-c), or NULL */
    enum ctl_format format;
    long timeout_ms;
    bool timeout_set;         /* --timeout given: it applies to changes too */
    bool insecure;            /* -k */
    struct ctl_auth auth;     /* the credentials in force (ctl_find_cluster) */
    struct ctl_auth url_auth; /* user:password@ of a URL (stripped from it): wins */
    struct ctl_tls tls;
    char *scope; /* owned: the cluster name the members must serve, or NULL */
};

/* Add the comma-separated URLs of @list (trimmed, trailing '/' dropped,
 * "http://" added when there is no scheme, duplicates skipped). A
 * "user:password@" part is taken out of the URL into o->url_auth, so no
 * stored URL carries a password. */
void ctl_urls_add(struct ctl_opts *o, const char *list);
void ctl_opts_free(struct ctl_opts *o);

/* --- the command line (ctl_args.c) ---------------------------------------- */

/* CTL_CMD_MEMBER and CTL_CMD_LEADERSHIP are the groups, for their --help. */
enum ctl_cmd {
    CTL_CMD_NONE,
    CTL_CMD_VERSION,
    CTL_CMD_LIST,
    CTL_CMD_TOPOLOGY,
    CTL_CMD_SWITCHOVER,
    CTL_CMD_FAILOVER,
    CTL_CMD_RESTART,
    CTL_CMD_RELOAD,
    CTL_CMD_REINIT,
    CTL_CMD_FLUSH,
    CTL_CMD_PAUSE,
    CTL_CMD_RESUME,
    CTL_CMD_SHOW_CONFIG,
    CTL_CMD_EDIT_CONFIG,
    CTL_CMD_HISTORY,
    CTL_CMD_MEMBER,
    CTL_CMD_MEMBER_ADD,
    CTL_CMD_MEMBER_REMOVE,
    CTL_CMD_MEMBER_LIST,
    CTL_CMD_LEADERSHIP,
    CTL_CMD_LEADERSHIP_TRANSFER,
};

/* -r/--role (spec 5.1); "standby" is "replica", "master" is "primary". */
enum ctl_role {
    CTL_ROLE_ANY,
    CTL_ROLE_LEADER,
    CTL_ROLE_PRIMARY,
    CTL_ROLE_STANDBY_LEADER,
    CTL_ROLE_REPLICA
};

struct ctl_args {
    struct ctl_opts o;
    struct ctl_io io;
    enum ctl_cmd cmd;
    bool help;
    char **words; /* owned array of argv's strings: the arguments after the command's name */
    size_t n_words;
    const char *arg;     /* words[0] or NULL (member add/remove, leadership transfer) */
    const char *cluster; /* the CLUSTER word of a command that takes only that, or NULL */
    const char *target;  /* flush: "restart" or "switchover" (not in words) */
    bool force;
    bool no_wait;     /* member add */
    bool wait;        /* --wait given (pause, resume, reinit, member add) */
    long wait_ms;     /* --wait SEC, else CTL_DEFAULT_WAIT_MS */
    bool extended;    /* list, topology: -e */
    bool timestamp;   /* list, topology: -t */
    long watch_ms;    /* list, topology: -W (2 s) or -w SEC; 0: once */
    long watch_count; /* --watch-count N (hidden, for tests): stop after N; 0: never */
    enum ctl_role role;
    bool role_given;        /* -r given (else CTL_ROLE_ANY) */
    const char *leader;     /* switchover --leader/--primary, borrowed */
    const char *candidate;  /* switchover, failover --candidate, borrowed */
    bool scheduled_given;   /* --scheduled given */
    char *scheduled;        /* owned ISO 8601 with zone; NULL with scheduled_given: "now" */
    bool any;               /* restart --any */
    bool pending;           /* restart --pending */
    const char *pg_version; /* restart --pg-version, borrowed */
    bool from_leader;       /* reinit --from-leader */
    bool quiet;             /* edit-config -q */
    const char **sets;      /* edit-config -s KEY=VAL..., borrowed strings, owned array */
    size_t n_sets;
    const char **pgs; /* edit-config -p GUC=VAL... */
    size_t n_pgs;
    const char *apply_file;   /* edit-config --apply FILE|- */
    const char *replace_file; /* edit-config --replace FILE|- */
};

/*
 * Parse @argv into @a (ctl_args_close() it on every path); a->io is left
 * for the caller to fill. Options may come before or after the words of
 * the command. CTL_EXIT_OK, or CTL_EXIT_USAGE after a message on @err.
 * With --help, the command's words are checked only as far as needed to
 * pick the help text (a->cmd).
 */
int ctl_args_parse(struct ctl_args *a, int argc, char **argv, FILE *err);
void ctl_args_close(struct ctl_args *a);

/* The help text of @cmd (CTL_CMD_NONE: regentctl's own). */
void ctl_usage(FILE *fp, enum ctl_cmd cmd);

/* "list", "member add", ... */
const char *ctl_cmd_name(enum ctl_cmd cmd);

/* --- finding the cluster (ctl_conf.c) -------------------------------------- */

/*
 * Load the ctl settings of the YAML file @path: an agent's configuration or
 * a ctl-only one (only its scope, restapi and ctl sections are read, and
 * nothing in it is required). Adds ctl.urls and the restapi address to
 * o->urls, and takes scope, the credentials (ctl.authentication, else
 * restapi.authentication), ctl.cacert (else restapi.cafile),
 * ctl.certfile/keyfile/keyfile_password and ctl.insecure. 0, or -1 after a
 * message on @err (the file cannot be read or is not YAML). Unknown ctl.*
 * keys are warned about on @err; no value is ever printed.
 */
int ctl_conf_load(struct ctl_opts *o, const char *path, FILE *err);

/*
 * Everything regentctl needs before its first request: -c (else
 * $REGENTCTL_CONFIG_FILE), then the $REGENTCTL_* variables over the file's
 * settings, -k, the URL credentials over all, and the URLs: --url and -c,
 * else $REGENTCTL_URL, else CTL_DEFAULT_URL. 0, or -1 after a message.
 */
int ctl_find_cluster(struct ctl_opts *o, FILE *err);

/* --- requests (ctl_http.c) ------------------------------------------------- */

struct ctl_answer {
    long status;     /* the HTTP status of the member that answered */
    cJSON *body;     /* owned: its answer, NULL when that is not JSON */
    char *text;      /* owned: the raw answer, "" when empty */
    char *etag;      /* owned: its ETag header (quotes kept), or NULL */
    const char *url; /* borrowed: the base URL that answered */
};

/* What to send: @method @path, a JSON @body (NULL: none), If-Match. */
struct ctl_request {
    const char *method;   /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *path;     /* "/cluster" */
    const char *body;     /* borrowed JSON text, or NULL */
    const char *if_match; /* borrowed ETag value, or NULL */
    long timeout_ms;      /* 0: --timeout, else the default for the method */
};

/*
 * GET @path from each URL in turn until one answers 2xx with JSON. 0 and
 * *@out (caller cJSON_Delete()s), or -1 with @err naming every URL tried
 * and why it failed.
 */
int ctl_get_json(const struct ctl_opts *o, const char *path, cJSON **out, char *err, size_t errlen);

/* The same, keeping the whole answer (ETag, text); *@last_status is the
 * status of the last member that answered at all (0: none did). */
int ctl_get(const struct ctl_opts *o,
            const char *path,
            struct ctl_answer *ans,
            long *last_status,
            char *err,
            size_t errlen);

/*
 * Send @rq to the URLs in order, for requests that change the cluster.
 * Only a URL that could not be reached passes the request on: any HTTP
 * answer is final (the member forwards to the Raft leader and retries by
 * itself), and so is a request that left but got no answer, whose outcome
 * is unknown. 0 and *@ans (ctl_answer_close() it) when a member answered,
 * whatever the status; -1 and @err otherwise.
 */
int ctl_send(const struct ctl_opts *o,
             const struct ctl_request *rq,
             struct ctl_answer *ans,
             char *err,
             size_t errlen);

/* ctl_send() of @method @path with @body (CTL_CHANGE_TIMEOUT_MS). */
int ctl_send_json(const struct ctl_opts *o,
                  const char *method,
                  const char *path,
                  const char *body,
                  struct ctl_answer *ans,
                  char *err,
                  size_t errlen);

/* @rq to one member's @base_url only. 0 and *@ans when it answered. */
int ctl_send_to(const struct ctl_opts *o,
                const char *base_url,
                const struct ctl_request *rq,
                struct ctl_answer *ans,
                char *err,
                size_t errlen);

void ctl_answer_close(struct ctl_answer *ans);

/* The reason an answer gives: its JSON "error", else its text trimmed. */
const char *ctl_answer_reason(const struct ctl_answer *ans);

/* --- the cluster (ctl_cluster.c) -------------------------------------------- */

/*
 * GET /cluster from the first member that answers. Its scope must be
 * o->scope when that is set ("Error: ..." otherwise). Then the members'
 * api_urls (without "/patroni") join o->urls after the member that
 * answered, which moves first: later requests go there first. CTL_EXIT_OK
 * and *@out, or CTL_EXIT_FAIL after a message on a->io.err.
 */
int ctl_cluster_fetch(struct ctl_args *a, cJSON **out);

const char *ctl_str(const cJSON *o, const char *key); /* a string field or NULL */
const cJSON *ctl_member_find(const cJSON *cluster, const char *name);
/* The name of the member whose role is leader or standby_leader, or NULL. */
const char *ctl_cluster_leader(const cJSON *cluster);
/* A member's REST base URL from its api_url (owned), or NULL. */
char *ctl_member_base_url(const cJSON *member);
bool ctl_member_nofailover(const cJSON *member);

/* 1 when @words starts with the cluster's name (patronictl's CLUSTER
 * argument of the per-member commands), else 0. */
size_t ctl_skip_cluster_word(const cJSON *cluster, char *const *words, size_t n_words);

/*
 * The members a per-member command acts on, as patronictl's get_members():
 * the words that follow an optional cluster name (taken when it equals the
 * scope), filtered by @role; no words: every member with that role. A word
 * naming no member, or no member left, is an error (CTL_EXIT_FAIL after a
 * message). On success *@out is an owned array of borrowed members.
 */
int ctl_members_pick(const struct ctl_args *a,
                     const cJSON *cluster,
                     char **words,
                     size_t n_words,
                     enum ctl_role role,
                     const cJSON ***out,
                     size_t *n_out);
bool ctl_role_matches(const cJSON *member, enum ctl_role role);
const char *ctl_role_name(enum ctl_role role);

/* --- YAML (ctl_yaml.c) ------------------------------------------------------ */

/* What a plain YAML scalar means, by PyYAML's (YAML 1.1) resolver. */
enum ctl_yaml_type {
    CTL_YAML_STR,
    CTL_YAML_NULL,
    CTL_YAML_BOOL,
    CTL_YAML_INT,
    CTL_YAML_FLOAT,
    CTL_YAML_TIMESTAMP,
};
enum ctl_yaml_type ctl_yaml_resolve(const char *s);

/*
 * Parse one YAML document as PyYAML's safe_load would, into JSON: plain
 * scalars typed by ctl_yaml_resolve() (timestamps stay strings), quoted
 * ones strings, keys strings, the last of duplicate keys kept. An empty
 * document is JSON null. 0 and *@out, or -1 with @err ("line 3, column 5:
 * mapping values are not allowed here").
 */
int ctl_yaml_parse(const char *text, size_t len, cJSON **out, char *err, size_t errlen);

/* @v as YAML, as PyYAML's safe_dump(default_flow_style=False) writes it:
 * block style, keys sorted, strings quoted when they would read back as
 * something else. Owned text, ending in a newline. */
char *ctl_yaml_dump(const cJSON *v);
/* The same in flow style on one line ("{dc: east, nofailover: true}"), no
 * newline. */
char *ctl_yaml_dump_flow(const cJSON *v);

/* --- tables and records (ctl_table.c) -------------------------------------- */

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

/* patronictl's boxed table, @title (or NULL) in its top border (widened to
 * fit). A cell may hold several lines; then every row gets a rule under it,
 * as PrettyTable's hrules=ALL. */
void ctl_table_print_pretty(FILE *fp, const struct ctl_table *t, const char *title);
/* A header line, then one line per row; with @scope, both start with a
 * Cluster column. */
void ctl_table_print_tsv(FILE *fp, const struct ctl_table *t, const char *scope);
/* An array of objects as one JSON line, or as YAML (ctl_yaml_dump), as
 * patronictl's json and yaml formats. */
void ctl_records_print(FILE *fp, const cJSON *records, enum ctl_format format);

/* --- list, topology, history (ctl_list.c, ctl_history.c) -------------------- */

struct ctl_list_opts {
    enum ctl_format format;
    bool extended; /* Pending restart, Pending restart reason, Scheduled restart, Tags */
    bool topology; /* members as a tree under their upstream */
};

/* GET /cluster printed as "list" or "topology" do. */
void ctl_print_members(FILE *fp, const cJSON *cluster, const struct ctl_list_opts *lo);
/* ctl_print_members() as plain "list" in @format. */
void ctl_print_cluster(FILE *fp, const cJSON *cluster, enum ctl_format format);
/* GET /history printed as "history" does. */
void ctl_print_history(FILE *fp, const cJSON *history, enum ctl_format format);
/* 150004 -> "15.4", 90624 -> "9.6.24" (owned). */
char *ctl_pg_version_text(long version);

/* --- prompts and times (ctl_prompt.c) --------------------------------------- */

/* Ask @question on @out and read one line from @in: true for y or yes (any
 * case), false for anything else, an empty line or end of file. */
bool ctl_confirm(FILE *in, FILE *out, const char *question);
/* click's confirm: "@question [y/N]: ". */
bool ctl_ask_yes(const struct ctl_io *io, const char *question);
/* click's prompt: "@question [@def]: ", the default on an empty line.
 * 0 and *@answer (owned), or -1 at end of input. */
int ctl_prompt(const struct ctl_io *io, const char *question, const char *def, char **answer);

/* --scheduled: "now" -> 0 and *@iso NULL; an ISO 8601 time (a naive one is
 * local time, as patronictl does) -> 0 and *@iso owned, "2024-05-01T10:00:00+02:00";
 * -1 otherwise. */
int ctl_time_parse(const char *s, char **iso);
/* patronictl's timestamp(): local "YYYY-MM-DD HH:MM:SS" and, with
 * @fraction, 5 more digits ".12345". */
void ctl_timestamp(char *buf, size_t len, bool fraction);
/* Local time in an hour, "YYYY-MM-DDTHH:MM", for the prompts' example. */
void ctl_next_hour(char *buf, size_t len);

/* --- edit-config, pure (ctl_edit.c, ctl_diff.c) ------------------------------ */

/* patronictl's -s: "a.b.c=VALUE", VALUE read as YAML (null deletes, and
 * empty mappings left behind go too); under postgresql.parameters the rest
 * of the path is one key ("-p a.b=1"). 0, or -1 with @err. */
int ctl_config_set(cJSON *config, const char *pair, char *err, size_t errlen);
/* RFC 7386 merge: @patch into @target (null deletes). Returns @target,
 * or a new value that replaced it (the old one is deleted). */
cJSON *ctl_merge_patch(cJSON *target, const cJSON *patch);
/* The merge patch that turns @from into @to (owned object). */
cJSON *ctl_merge_diff(const cJSON *from, const cJSON *to);
/* A unified diff of two texts as difflib.unified_diff prints it (3 lines
 * of context, "--- " and "+++ " headers); red and green with @color.
 * Nothing when they are equal. */
void ctl_diff_print(FILE *fp, const char *a, const char *b, bool color);

/* --- raft membership (ctl_member.c) ----------------------------------------- */

enum ctl_raft_role { CTL_RAFT_NONE, CTL_RAFT_LEADER, CTL_RAFT_VOTER, CTL_RAFT_STANDBY };

/* @name's place in GET /cluster's "raft" object @raft (NULL: none). */
enum ctl_raft_role ctl_raft_role_of(const cJSON *raft, const char *name);

/* "regentctl member list": the servers of GET /cluster's Raft
 * configuration and their roles, in @format. -1 when @cluster has no
 * "raft" object (nothing printed). */
int ctl_print_raft_members(FILE *fp, const cJSON *cluster, enum ctl_format format);

/* --- the commands ----------------------------------------------------------- */

/* Each: messages on a->io, a CTL_EXIT_* code. */
int ctl_cmd_version(struct ctl_args *a);
int ctl_cmd_list(struct ctl_args *a);
int ctl_cmd_history(struct ctl_args *a);
int ctl_cmd_switchover(struct ctl_args *a);
int ctl_cmd_failover(struct ctl_args *a);
int ctl_cmd_restart(struct ctl_args *a);
int ctl_cmd_reload(struct ctl_args *a);
int ctl_cmd_reinit(struct ctl_args *a);
int ctl_cmd_flush(struct ctl_args *a);
int ctl_cmd_pause(struct ctl_args *a);
int ctl_cmd_show_config(struct ctl_args *a);
int ctl_cmd_edit_config(struct ctl_args *a);
int ctl_cmd_member_add(struct ctl_args *a);
int ctl_cmd_member_remove(struct ctl_args *a);
int ctl_cmd_member_list(struct ctl_args *a);
int ctl_cmd_leadership_transfer(struct ctl_args *a);

/* Shared by the per-member commands (ctl_node.c). ctl_members_prepare():
 * GET /cluster, the list printed, ctl_members_pick() with @role (the
 * caller rg_free()s *@ms and cJSON_Delete()s *@cluster). ctl_to_member():
 * @rq to member @m's own API, 0 and *@ans, or -1 after "Failed: @action for
 * member X, <why>". ctl_check_response(): patronictl's check_response().
 * ctl_confirm_members(): "Are you sure you want to @action members ...?"
 * unless --force. */
int ctl_members_prepare(
    struct ctl_args *a, enum ctl_role role, cJSON **cluster, const cJSON ***ms, size_t *n);
int ctl_to_member(struct ctl_args *a,
                  const cJSON *m,
                  const struct ctl_request *rq,
                  const char *action,
                  struct ctl_answer *ans);
bool ctl_check_response(struct ctl_args *a,
                        const struct ctl_answer *ans,
                        const cJSON *m,
                        const char *action,
                        bool silent_success);
bool ctl_confirm_members(struct ctl_args *a, const char *action, const cJSON **ms, size_t n);

/* flush switchover (ctl_switch.c), for ctl_cmd_flush. */
int ctl_flush_switchover(struct ctl_args *a, const cJSON *cluster);

/* Run the command @a holds (ctl_find_cluster() first when it needs the
 * cluster). */
int ctl_run(struct ctl_args *a);

#endif
