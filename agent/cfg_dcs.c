/*
 * cfg_dcs: checking a dynamic configuration document (see cfg_dcs.h); the
 * JSON helpers of PATCH / PUT /config (merge patch, secret masking) are in
 * cfg_dcs_json.c.
 *
 * cfg_dcs_check in order, stopping at the first problem (the REST API
 * answers 400 with it and changes nothing):
 *   1. shape: depth, size and duplicate keys (check_shape);
 *   2. every key against the key table's "bootstrap.dcs." entries
 *      (check_object): unknown keys, JSON types, then the table's own
 *      parsers for bounds and choices (cfg__key_check_text) and validators;
 *   3. postgresql.parameters, parameter by parameter (check_parameters);
 *   4. the timing rules of the local file (cfg__timing_check) over the
 *      document's ttl, loop_wait and retry_timeout and this node's local
 *      lease and Raft settings.
 * The key table is the only list of keys; the parameters' rules follow
 * pg/pgi_conf.c (agent/ cannot depend on pg/): a value pgi_conf would
 * refuse, replace by its default or raise to Patroni's minimum is refused
 * here, so what the API accepts is what the members run with.
 */
#include "agent/cfg_dcs.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h> /* isfinite: a macro, no libm */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/cfg_internal.h"
#include "agent/rg.h"
#include "agent/rg_guc.h"

#define DCS_PREFIX "bootstrap.dcs."

int cfg__dcs_fail(struct cfg_dcs_err *e, const char *path, const char *fmt, ...)
{
    char what[CFG_DCS_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (e->len > 0) {
        if (path != NULL && path[0] != '\0') {
            snprintf(e->buf, e->len, "%s: %s", path, what);
        } else {
            snprintf(e->buf, e->len, "%s", what);
        }
    }
    return RG_EINVAL;
}

/* "a.b" from "a" and "b"; @prefix may be "". Caller rg_free()s it. */
static char *join(const char *prefix, const char *name)
{
    name = name != NULL ? name : "";
    return prefix[0] != '\0' ? rg_asprintf("%s.%s", prefix, name) : rg_strdup(name);
}

/* --- 1. shape ------------------------------------------------------------ */

struct shape {
    struct cfg_dcs_err *e;
    size_t nodes;
};

static int shape_walk(struct shape *sh, const cJSON *j, const char *path, int depth)
{
    if (++sh->nodes > CFG_DCS_MAX_NODES) {
        return cfg__dcs_fail(sh->e, NULL, "the document is too large (more than %d values)",
                             CFG_DCS_MAX_NODES);
    }
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) {
        return 0;
    }
    if (depth >= CFG_DCS_MAX_DEPTH) {
        return cfg__dcs_fail(sh->e, path, "nested too deeply (more than %d levels)",
                             CFG_DCS_MAX_DEPTH);
    }
    int n = 0;
    for (const cJSON *c = j->child; c != NULL; c = c->next, n++) {
        if (n >= CFG_DCS_MAX_KEYS) {
            return cfg__dcs_fail(sh->e, path, "more than %d %s", CFG_DCS_MAX_KEYS,
                                 cJSON_IsObject(j) ? "keys" : "items");
        }
        char *cpath = cJSON_IsObject(j) ? join(path, c->string) : rg_asprintf("%s[%d]", path, n);
        int rc = 0;
        if (cJSON_IsObject(j)) {
            for (const cJSON *p = j->child; p != c && rc == 0; p = p->next) {
                if (strcmp(p->string, c->string) == 0) {
                    rc = cfg__dcs_fail(sh->e, cpath, "duplicate key");
                }
            }
        }
        if (rc == 0) {
            rc = shape_walk(sh, c, cpath, depth + 1);
        }
        rg_free(cpath);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int check_shape(const cJSON *j, struct cfg_dcs_err *e)
{
    struct shape sh = {.e = e};
    return shape_walk(&sh, j, "", 0);
}

int cfg_dcs_check_shape(const cJSON *j, char *errbuf, size_t errlen)
{
    struct cfg_dcs_err e = {errbuf, errlen};
    if (errlen > 0) {
        errbuf[0] = '\0';
    }
    return j == NULL ? cfg__dcs_fail(&e, NULL, "no document") : check_shape(j, &e);
}

/* --- 3. postgresql.parameters ------------------------------------------- */

/* The cluster-wide parameters: Patroni's CMDLINE_OPTIONS as pgi_conf.c's
 * dynamic_only table has them (names, kinds and minima must stay equal;
 * tests/unit/cfg/test_cfg_dcs.c checks them against pgi_conf). */
enum guc_kind { GUC_INT, GUC_BOOL, GUC_BOOL_ON, GUC_WAL_LEVEL, GUC_SIZE };

static const struct guc {
    const char *name;
    enum guc_kind kind;
    long long min; /* GUC_INT; GUC_SIZE in kB */
} gucs[] = {
    {"max_connections", GUC_INT, 25},     {"max_locks_per_transaction", GUC_INT, 32},
    {"max_worker_processes", GUC_INT, 2}, {"max_prepared_transactions", GUC_INT, 0},
    {"wal_level", GUC_WAL_LEVEL, 0},      {"track_commit_timestamp", GUC_BOOL, 0},
    {"max_wal_senders", GUC_INT, 3},      {"max_replication_slots", GUC_INT, 4},
    {"wal_log_hints", GUC_BOOL_ON, 0},    {"wal_keep_size", GUC_SIZE, 16 * 1024},
    {"wal_keep_segments", GUC_INT, 1},
};

/* PostgreSQL's GUC names as pgi_conf_name_valid takes them: parts of
 * letters, digits and '_' (not starting with a digit) joined by '.'. */
static bool guc_name_valid(const char *name)
{
    size_t n = 0;
    bool part_start = true;
    for (const char *p = name; *p != '\0'; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (n >= 127) {
            return false;
        }
        if (c == '.') {
            if (part_start) {
                return false;
            }
            part_start = true;
            continue;
        }
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!letter && !(digit && !part_start)) {
            return false;
        }
        part_start = false;
    }
    return n > 0 && !part_start;
}

static int check_guc(struct cfg_dcs_err *e, const struct guc *g, const cJSON *v, const char *path)
{
    long long n;
    bool b;
    switch (g->kind) {
    case GUC_INT:
        if (!rg_guc_int(v, &n) || n > INT_MAX) {
            return cfg__dcs_fail(e, path, "must be an integer");
        }
        if (n < g->min) {
            return cfg__dcs_fail(e, path, "must be at least %lld (Patroni's minimum)", g->min);
        }
        return 0;
    case GUC_BOOL:
    case GUC_BOOL_ON:
        if (!rg_guc_bool(v, &b)) {
            return cfg__dcs_fail(e, path, "must be on or off");
        }
        if (g->kind == GUC_BOOL_ON && !b) {
            return cfg__dcs_fail(e, path,
                                 "must be on: regent always runs with it (pg_rewind needs it)");
        }
        return 0;
    case GUC_WAL_LEVEL:
        if (!cJSON_IsString(v) || (strcasecmp(v->valuestring, "replica") != 0 &&
                                   strcasecmp(v->valuestring, "logical") != 0 &&
                                   strcasecmp(v->valuestring, "hot_standby") != 0 &&
                                   strcasecmp(v->valuestring, "archive") != 0)) {
            return cfg__dcs_fail(
                e, path, "must be replica or logical (hot_standby and archive mean replica)");
        }
        return 0;
    case GUC_SIZE:
        if (!rg_guc_size_kb(v, &n) || n < g->min) {
            return cfg__dcs_fail(
                e, path, "must be a size of at least %lldMB (as \"128MB\", or a number of MB)",
                g->min / 1024);
        }
        return 0;
    }
    return 0;
}

/* A name for messages: control characters and quotes shown as '?'. */
static void shown_name(const char *name, char *buf, size_t len)
{
    size_t i = 0;
    for (; name[i] != '\0' && i + 1 < len; i++) {
        unsigned char c = (unsigned char)name[i];
        buf[i] = c < 0x20 || c == 0x7f || c == '"' ? '?' : (char)c;
    }
    buf[i] = '\0';
}

static int check_parameters(struct cfg_dcs_err *e, const cJSON *params, const char *path)
{
    for (const cJSON *p = params->child; p != NULL; p = p->next) {
        char name[128];
        shown_name(p->string, name, sizeof name);
        if (!guc_name_valid(p->string)) {
            return cfg__dcs_fail(e, path, "\"%s\" is not a parameter name", name);
        }
        for (const cJSON *q = params->child; q != p; q = q->next) {
            if (strcasecmp(q->string, p->string) == 0) {
                return cfg__dcs_fail(e, path, "\"%s\" is given twice (names are case-insensitive)",
                                     name);
            }
        }
        char *ppath = join(path, p->string);
        int rc = 0;
        if (cJSON_IsNull(p)) {
            rc = 0; /* not set */
        } else if (cJSON_IsString(p)) {
            if (strpbrk(p->valuestring, "\n\r") != NULL) {
                rc = cfg__dcs_fail(e, ppath, "must not contain a line break");
            }
        } else if (cJSON_IsNumber(p)) {
            if (!isfinite(p->valuedouble)) {
                rc = cfg__dcs_fail(e, ppath, "must be a finite number");
            }
        } else if (!cJSON_IsBool(p)) {
            rc = cfg__dcs_fail(e, ppath, "must be a string, a number or a boolean");
        }
        for (size_t i = 0; rc == 0 && !cJSON_IsNull(p) && i < RG_ARRAY_SIZE(gucs); i++) {
            if (strcasecmp(p->string, gucs[i].name) == 0) {
                rc = check_guc(e, &gucs[i], p, ppath);
            }
        }
        rg_free(ppath);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* --- 2. keys ------------------------------------------------------------- */

static const struct cfg_key *dcs_key(const char *path)
{
    char *full = rg_asprintf(DCS_PREFIX "%s", path);
    const struct cfg_key *k = cfg__key_find(full, strlen(full));
    rg_free(full);
    return k;
}

static const char *type_msg(const struct cfg_key *k)
{
    switch (k->type) {
    case CFG_T_MS:
        return "must be a number of seconds";
    case CFG_T_UINT:
    case CFG_T_U64:
    case CFG_T_SIZE:
        return "must be a whole number";
    case CFG_T_BOOL:
        return "must be true or false";
    case CFG_T_SECTION:
        return "must be an object";
    case CFG_T_JSON:
        return k->json_type == cJSON_Array ? "must be a list" : "must be an object";
    case CFG_T_STRLIST:
        return "must be a list of strings";
    default:
        return "must be a string";
    }
}

/* A JSON number as the text the table's parser reads, so that its bounds
 * and messages apply as they do to the local file. */
static void number_text(const struct cfg_key *k, double d, char *buf, size_t len)
{
    if (k->type == CFG_T_MS) {
        /* Milliseconds are the resolution; below 0, the bounds speak. */
        snprintf(buf, len, "%.3f", d < 0 ? 0.0 : d > 1e9 ? 1e9 : d);
    } else if (d >= 0 && d < 18446744073709551616.0 && (double)(uint64_t)d == d) {
        snprintf(buf, len, "%" PRIu64, (uint64_t)d);
    } else if (d >= 18446744073709551616.0) {
        snprintf(buf, len, "%" PRIu64, UINT64_MAX);
    } else {
        snprintf(buf, len, "-1"); /* negative or a fraction: not a whole number */
    }
}

static int
check_scalar(struct cfg_dcs_err *e, const struct cfg_key *k, const cJSON *v, const char *path)
{
    char text[64], why[512];
    const char *t;
    switch (k->type) {
    case CFG_T_BOOL:
        return cJSON_IsBool(v) ? 0 : cfg__dcs_fail(e, path, "%s", type_msg(k));
    case CFG_T_MS:
    case CFG_T_UINT:
    case CFG_T_U64:
    case CFG_T_SIZE:
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            return cfg__dcs_fail(e, path, "%s", type_msg(k));
        }
        number_text(k, v->valuedouble, text, sizeof text);
        t = text;
        break;
    case CFG_T_STR:
    case CFG_T_ENUM:
    case CFG_T_LOGLEVEL:
        if (!cJSON_IsString(v)) {
            return cfg__dcs_fail(e, path, "%s", type_msg(k));
        }
        t = v->valuestring;
        break;
    default:
        return cfg__dcs_fail(e, path, "%s", type_msg(k));
    }
    if (cfg__key_check_text(k, t, why, sizeof why) != 0) {
        return cfg__dcs_fail(e, path, "%s", why);
    }
    return 0;
}

static int
check_value(struct cfg_dcs_err *e, const struct cfg_key *k, const cJSON *v, const char *path);

static int check_object(struct cfg_dcs_err *e, const cJSON *obj, const char *path)
{
    for (const cJSON *m = obj->child; m != NULL; m = m->next) {
        char *mpath = join(path, m->string);
        const struct cfg_key *k = strchr(m->string, '.') == NULL ? dcs_key(mpath) : NULL;
        int rc = 0;
        if (k != NULL) {
            rc = check_value(e, k, m, mpath);
        } else if (strchr(m->string, '.') != NULL) {
            rc = cfg__dcs_fail(e, mpath,
                               "unknown key (keys are not dotted paths: nest the objects)");
        } else if (strcmp(path, "postgresql") == 0 && cfg__key_find(mpath, strlen(mpath)) != NULL) {
            /* A key of the local postgresql section: Patroni takes some of
             * them from the dynamic configuration, Regent only from each
             * node's file. Accepted and ignored, as Patroni's unknown
             * dynamic keys are. */
        } else if (cfg__key_find(mpath, strlen(mpath)) != NULL) {
            rc = cfg__dcs_fail(
                e, mpath,
                "unknown key (a setting of each node's configuration file, not of the "
                "dynamic configuration)");
        } else {
            rc = cfg__dcs_fail(e, mpath, "unknown key");
        }
        rg_free(mpath);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int
check_value(struct cfg_dcs_err *e, const struct cfg_key *k, const cJSON *v, const char *path)
{
    char why[512];
    if (cJSON_IsNull(v) || k->type == CFG_T_UNUSED) {
        return 0; /* not set; or a Patroni key Regent ignores, kept as it is */
    }
    switch (k->type) {
    case CFG_T_SECTION:
        if (!cJSON_IsObject(v)) {
            return cfg__dcs_fail(e, path, "%s", type_msg(k));
        }
        return check_object(e, v, path);
    case CFG_T_JSON:
        if ((k->json_type == cJSON_Object && !cJSON_IsObject(v)) ||
            (k->json_type == cJSON_Array && !cJSON_IsArray(v))) {
            return cfg__dcs_fail(e, path, "%s", type_msg(k));
        }
        if (k->check != NULL && !k->check(k, &v, why, sizeof why)) {
            return cfg__dcs_fail(e, path, "%s", why);
        }
        if (strcmp(k->path, DCS_PREFIX "postgresql.parameters") == 0) {
            return check_parameters(e, v, path);
        }
        return 0;
    case CFG_T_STRLIST: {
        int i = 0;
        for (const cJSON *c = cJSON_IsArray(v) ? v->child : NULL; c != NULL; c = c->next, i++) {
            if (!cJSON_IsString(c)) {
                return cfg__dcs_fail(e, path, "must be a list of strings; item %d is not", i + 1);
            }
        }
        return cJSON_IsArray(v) ? 0 : cfg__dcs_fail(e, path, "%s", type_msg(k));
    }
    default:
        return check_scalar(e, k, v, path);
    }
}

/* --- 4. timing ----------------------------------------------------------- */

/* The table's default of a duration key, in ms. */
static int64_t default_ms(const char *path)
{
    const struct cfg_key *k = cfg__key_find(path, strlen(path));
    struct cfg scratch;
    char why[256];
    RG_ASSERT(k != NULL && k->type == CFG_T_MS && k->def != NULL);
    memset(&scratch, 0, sizeof scratch);
    int rc = cfg__key_set_text(&scratch, k, k->def, why, sizeof why);
    RG_ASSERT(rc == 0);
    return *(unsigned *)cfg__field(&scratch, k);
}

/* A duration of the document (checked by then), else @local_ms. */
static int64_t doc_ms(const cJSON *doc, const char *key, int64_t local_ms)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    return cJSON_IsNumber(v) ? (int64_t)(v->valuedouble * 1000 + 0.5) : local_ms;
}

struct first_broken {
    struct cfg_dcs_err *e;
    int rc;
};

static void report_dcs(void *arg, const char *const *keys, size_t n, const char *msg)
{
    struct first_broken *fb = arg;
    if (fb->rc != 0) {
        return;
    }
    /* Blame the first key of the dynamic configuration the rule names. */
    const char *blame = keys[0];
    for (size_t i = 0; i < n; i++) {
        if (strncmp(keys[i], DCS_PREFIX, strlen(DCS_PREFIX)) == 0) {
            blame = keys[i] + strlen(DCS_PREFIX);
            break;
        }
    }
    fb->rc = cfg__dcs_fail(fb->e, blame, "%s", msg);
}

static int check_timing(struct cfg_dcs_err *e, const cJSON *doc, const struct cfg *local)
{
    /* A witness has no lease settings of its own: it checks against the
     * defaults a member without them would run with. */
    bool agent = local != NULL && local->kind == CFG_AGENT;
    const struct cfg_lease *l = agent ? &local->lease : NULL;
    struct cfg_timing t = {
        .ttl = doc_ms(doc, "ttl", agent ? l->ttl : default_ms(DCS_PREFIX "ttl")),
        .loop_wait =
            doc_ms(doc, "loop_wait", agent ? l->loop_wait : default_ms(DCS_PREFIX "loop_wait")),
        .retry_timeout = doc_ms(doc, "retry_timeout",
                                agent ? l->retry_timeout : default_ms(DCS_PREFIX "retry_timeout")),
        .renew_interval = agent ? l->renew_interval : default_ms("raft.renew_interval"),
        .safety_margin = agent ? l->safety_margin : default_ms("watchdog.safety_margin"),
        .fence_budget = CFG_FENCE_MS,
        .election_timeout =
            local != NULL ? local->raft.election_timeout : default_ms("raft.election_timeout"),
        .heartbeat_interval =
            local != NULL ? local->raft.heartbeat_interval : default_ms("raft.heartbeat_interval"),
        .watchdog_timeout = agent ? local->watchdog.timeout : default_ms("watchdog.timeout"),
        .watchdog_required =
            agent && local->watchdog.mode != NULL && strcmp(local->watchdog.mode, "required") == 0,
    };
    struct first_broken fb = {.e = e};
    cfg__timing_check(&t, "", report_dcs, &fb);
    return fb.rc;
}

int cfg_dcs_check(const cJSON *doc, const struct cfg *local, char *errbuf, size_t errlen)
{
    struct cfg_dcs_err e = {errbuf, errlen};
    if (errlen > 0) {
        errbuf[0] = '\0';
    }
    if (!cJSON_IsObject(doc)) {
        return cfg__dcs_fail(&e, NULL, "the dynamic configuration must be a JSON object");
    }
    int rc = check_shape(doc, &e);
    if (rc == 0) {
        rc = check_object(&e, doc, "");
    }
    if (rc == 0) {
        rc = check_timing(&e, doc, local);
    }
    return rc;
}
