/*
 * cfg internals: the key table, the load context and the helpers shared by
 * cfg.c (load, free, JSON), cfg_keys.c (table, values, environment, checks)
 * and cfg_yaml.c (the YAML walk).
 */
#ifndef REGENT_CFG_INTERNAL_H
#define REGENT_CFG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "agent/cfg.h"

/* What a key holds and how its text is read. */
enum cfg_type {
    CFG_T_SECTION,  /* mapping of further keys; with a field: the whole section as cJSON * */
    CFG_T_STR,      /* char * (owned) */
    CFG_T_ENUM,     /* char * (owned), one of choices[] */
    CFG_T_BOOL,     /* bool */
    CFG_T_UINT,     /* unsigned, bounds min..max */
    CFG_T_U64,      /* uint64_t, bounds min..max */
    CFG_T_SIZE,     /* size_t, bounds min..max */
    CFG_T_MS,       /* seconds in YAML (decimals allowed) → unsigned ms; bounds in seconds */
    CFG_T_LOGLEVEL, /* int, rg_log_level_parse() */
    CFG_T_STRLIST,  /* char ** + size_t at off_n; a YAML list or "a,b" */
    CFG_T_JSON,     /* cJSON * (owned); json_type cJSON_Object/cJSON_Array, 0 any */
    CFG_T_LOGGERS,  /* struct rg_log_module_level * + size_t at off_n */
    CFG_T_UNUSED,   /* a Patroni key regent does not use: a warning */
};

enum cfg_key_flags {
    CFG_K_REQUIRED = 1 << 0, /* no default: must be set (file or environment) */
    CFG_K_RELOAD = 1 << 1,   /* a reload (SIGHUP) applies it without a restart */
    CFG_K_WITNESS = 1 << 2,  /* top-level key accepted by regent-witness too */
    CFG_K_OPEN = 1 << 3,     /* section: keys missing from the table are kept silently */
    CFG_K_SECRET = 1 << 4,   /* masked by cfg_to_json() */
    /* A key of the dynamic configuration only (bootstrap.dcs.*, no field):
     * the local load keeps it in the raw bootstrap.dcs JSON without looking
     * at it (an open section, as before); cfg_dcs_check() checks it. */
    CFG_K_DYNAMIC = 1 << 5,
};

#define CFG_NOFIELD ((size_t)-1)

struct cfg_key;
/* A validator: true when @field (the stored value, never unset) is fine;
 * otherwise false with the reason in @why. */
typedef bool (*cfg_check_fn)(const struct cfg_key *k, const void *field, char *why, size_t len);

/* One line of the declarative table (redis static_configs[] style). */
struct cfg_key {
    const char *path; /* "raft.election_timeout" */
    enum cfg_type type;
    unsigned flags;             /* enum cfg_key_flags */
    size_t off;                 /* offsetof(struct cfg, …) or CFG_NOFIELD */
    size_t off_n;               /* STRLIST, LOGGERS: offset of the count */
    const char *def;            /* default as YAML text; NULL: none */
    double min, max;            /* numeric bounds (seconds for CFG_T_MS) */
    const char *const *choices; /* CFG_T_ENUM: NULL-terminated */
    int json_type;              /* CFG_T_JSON */
    const char *patroni_env;    /* Patroni's variable for this key, or NULL */
    cfg_check_fn check;         /* extra validation, or NULL */
};

extern const struct cfg_key cfg__keys[];
extern const size_t cfg__n_keys;

/* Where the value of a key came from (for messages). */
enum cfg_src_kind { CFG_SRC_NONE, CFG_SRC_DEFAULT, CFG_SRC_FILE, CFG_SRC_ENV };
struct cfg_src {
    enum cfg_src_kind kind;
    unsigned line, col; /* 1-based: the value (CFG_SRC_FILE) or the section key */
    bool seen;          /* a section: present in the file at line:col */
    char *env;          /* owned: the variable (CFG_SRC_ENV) */
};

/* A growing text buffer of lines. */
struct cfg_buf {
    char *s; /* owned */
    size_t len, cap;
};

struct cfg_ctx {
    struct cfg *cfg;
    const char *file; /* label used in messages */
    enum cfg_kind kind;
    unsigned flags;
    struct cfg_src *src; /* one per cfg__keys[] entry */
    struct cfg_buf errors, warnings;
    unsigned n_errors;
    size_t budget;   /* YAML nodes still allowed to visit (aliases can explode) */
    bool budget_hit; /* the "too large" error was given */
    bool unusable;   /* no mapping came out of the YAML: skip the checks of missing keys */
};

#define CFG_MAX_DEPTH 64
#define CFG_BUDGET    200000
#define CFG_FENCE_MS  50 /* lease.fence_budget: not configurable (DESIGN.md, "Leases") */

/* Messages (cfg.c). Each call adds one line. */
void cfg__errorf(struct cfg_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cfg__error_at(
    struct cfg_ctx *ctx, unsigned line, unsigned col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* An unknown or unused key: a warning, or an error under CFG_STRICT. */
void cfg__warn_at(
    struct cfg_ctx *ctx, unsigned line, unsigned col, const char *path, const char *what);
/* An error about key @i, placed where its value came from. */
void cfg__error_key(struct cfg_ctx *ctx, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keys (cfg_keys.c). */
const struct cfg_key *cfg__key_find(const char *path, size_t len);
size_t cfg__key_index(const struct cfg_key *k);
bool cfg__key_allowed(enum cfg_kind kind, const struct cfg_key *k);
void *cfg__field(struct cfg *cfg, const struct cfg_key *k);
/* Parse @text into the field of @k. 0, or -1 with the reason in @why. */
int cfg__key_set_text(
    struct cfg *cfg, const struct cfg_key *k, const char *text, char *why, size_t len);
/* Set a string list from items. 0, or -1 with @why. */
int cfg__key_set_list(
    struct cfg *cfg, const struct cfg_key *k, char **items, size_t n, char *why, size_t len);
void cfg__key_clear(struct cfg *cfg, const struct cfg_key *k);
/* Check @text as a value of scalar key @k (with or without a field) — its
 * parser, bounds, choices and validator — storing nothing. 0, or -1 with
 * the reason in @why, worded as for the local file ("must be between 1 and
 * 3600 seconds"). */
int cfg__key_check_text(const struct cfg_key *k, const char *text, char *why, size_t len);
/* The value of @k as JSON (secrets masked; MS as seconds). */
cJSON *cfg__key_to_json(const struct cfg *cfg, const struct cfg_key *k);
void cfg__apply_env(struct cfg_ctx *ctx);

/* The timing rules of DESIGN.md ("Leases", "Timing budget") over one set of
 * values, all in ms (cfg_check.c). The local load checks its own values;
 * cfg_dcs_check() checks a dynamic configuration's ttl, loop_wait and
 * retry_timeout against this node's local settings. */
struct cfg_timing {
    int64_t ttl, loop_wait, retry_timeout; /* the dynamic (bootstrap.dcs) ones */
    int64_t renew_interval, safety_margin, fence_budget;
    int64_t election_timeout, heartbeat_interval;
    int64_t watchdog_timeout;
    bool watchdog_required;
};
/* One broken rule: @keys[0..n) are the table paths of the keys it involves
 * (the first is the one to blame when nothing says otherwise), @msg says what
 * is wrong. */
typedef void (*cfg_timing_report_fn)(void *arg, const char *const *keys, size_t n, const char *msg);
/* Check every rule, reporting each broken one; @dcs prefixes the names of
 * the dynamic keys in the messages ("bootstrap.dcs." for the local file,
 * "" for the dynamic configuration). Returns the number of broken rules. */
unsigned cfg__timing_check(const struct cfg_timing *t,
                           const char *dcs,
                           cfg_timing_report_fn report,
                           void *arg);
void cfg__apply_defaults(struct cfg_ctx *ctx);
void cfg__validate(struct cfg_ctx *ctx);
/* "2.5" for 2500 ms. */
void cfg__fmt_secs(unsigned ms, char *buf, size_t len);
bool cfg__is_null(const char *s);

/* YAML (cfg_yaml.c): parse @text and fill ctx->cfg. */
void cfg__yaml_load(struct cfg_ctx *ctx, const char *text, size_t len);

/* An error of the dynamic configuration's checks (cfg_dcs*.c): "path: what"
 * (or "what" with no path) into buf, truncated; returns RG_EINVAL. */
struct cfg_dcs_err {
    char *buf;
    size_t len;
};
int cfg__dcs_fail(struct cfg_dcs_err *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
