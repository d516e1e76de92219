/*
 * api_health: Patroni's health checks, readiness and node status document,
 * as pure functions of a struct api_node_status (spec/patroni-compat.md 1.2,
 * 1.3, 1.5; Patroni's api.py do_GET, _readiness, get_postgresql_status,
 * utils.parse_int and tags.py read alongside).
 *
 * Happy path: the agent fills the status, a handler asks api_health_code()
 * for 200/503 and, for GET, sends api_view_patroni() with it. Both first
 * derive the "response" Patroni builds (struct resp below): the state reads
 * "unknown" when PostgreSQL was believed running but the live query failed,
 * "master" reads "primary", sync/quorum count only on a live replica with a
 * store view. Every decision is taken from that, so the body and the code
 * can never disagree.
 *
 * Failure modes: none — any query string, any tags, any status give a code
 * and a document. Query values are decoded into heap copies of their full
 * length, so nothing is truncated before it is compared.
 *
 * Deliberate differences from Patroni (also in docs/rest-api.md, "Health
 * checks"):
 *
 *  1. L is "this agent's lease is valid now", D "the local store replica is
 *     fresh enough", not a leader key and a cached DCS read.
 *  2. Only the documented health paths are routed (api_health_path); any
 *     other path answers 404 where Patroni runs the health check (503, or
 *     e.g. a replica check for "/replicas"). api_health_code itself still
 *     reads any path as Patroni does and returns 0 where no rule matches.
 *  3. No DCS failsafe mode: "failsafe_mode_is_active" is never emitted and
 *     readiness has no failsafe clause. "logger_queue_size"
 *     and "logger_records_lost" are not emitted (no inputs yet).
 *  4. "role" is always "primary", never "master" ("master" is accepted from
 *     the caller); a NULL role is left out. A live node whose timeline is
 *     unknown shows "timeline": null (Patroni's replica_cached_timeline).
 *  5. Regent adds "lease": {"epoch", "held", "expires_in_ms"} to the
 *     document, and "ha": {"action", "reason"}, the agent's last decision
 *     and why (e.g. why a former primary stays stopped).
 *  6. Tag values are JSON numbers (doubles): an integral number renders as
 *     an integer, so a YAML 1.0 compares as "1" (Patroni: "1.0"). Lists and
 *     objects render as Python's str() with ASCII lower-casing only. The tag
 *     filter reads the effective tags (Patroni: the configured ones; they
 *     differ only while nosync is added to leave synchronous duty).
 *  7. A ?lag= whose evaluation raises in Patroni ("1e400": round(inf)) kills
 *     the request there without a reply; here it is 503. Only ASCII
 *     whitespace is stripped around it (Python strips Unicode spaces too).
 *  8. Query bytes are compared as bytes: invalid UTF-8 is not replaced by
 *     U+FFFD first.
 *  9. ?replication_state= compares its first value (Patroni's master, where
 *     it is unreleased, compares the whole parse_qs list and never matches).
 * 10. /readiness has ≥ 4.1 semantics (streaming and lag), not ≤ 4.0's.
 * 11. LSNs are JSON numbers: exact up to 2^53.
 * 12. /history skips entries that are not arrays (the store accepts any
 *     JSON) and turns a timeline or LSN stored as text into a number.
 */
#include "api/api_health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "api/api_health_internal.h"

/* --- tags ------------------------------------------------------------------ */

static bool truthy(const cJSON *v)
{
    if (v == NULL || cJSON_IsNull(v) || cJSON_IsFalse(v)) {
        return false;
    }
    if (cJSON_IsNumber(v)) {
        return v->valuedouble != 0;
    }
    if (cJSON_IsString(v)) {
        return v->valuestring != NULL && v->valuestring[0] != '\0';
    }
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        return v->child != NULL;
    }
    return true;
}

/* Tags._filter_tags: predefined boolean tags are kept only when truthy, or
 * (nofailover, nosync) when failover_priority / sync_priority is set. */
static bool tag_kept(const cJSON *tags, const cJSON *t)
{
    static const char *const predefined[] = {"clonefrom", "nofailover", "noloadbalance", "nosync",
                                             "nostream"};
    const char *k = t->string != NULL ? t->string : "";
    bool pre = false;
    for (size_t i = 0; i < RG_ARRAY_SIZE(predefined); i++) {
        pre = pre || strcmp(k, predefined[i]) == 0;
    }
    if (!pre || truthy(t)) {
        return true;
    }
    return (strcmp(k, "nofailover") == 0 &&
            cJSON_GetObjectItemCaseSensitive(tags, "failover_priority") != NULL) ||
           (strcmp(k, "nosync") == 0 &&
            cJSON_GetObjectItemCaseSensitive(tags, "sync_priority") != NULL);
}

static const cJSON *tag_get(const cJSON *tags, const char *key)
{
    if (!cJSON_IsObject(tags)) {
        return NULL;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(tags, key);
    return t != NULL && tag_kept(tags, t) ? t : NULL;
}

struct sbuf {
    char *p;
    size_t n, cap;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = rg_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

/* repr(float): the shortest digits that read back, fixed notation for
 * exponents -4..15, else d.ddde±XX. */
static void py_float(struct sbuf *b, double x)
{
    if (!isfinite(x)) {
        sb_puts(b, x != x ? "nan" : x < 0 ? "-inf" : "inf");
        return;
    }
    char e[48];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, x);
        if (strtod(e, NULL) == x) {
            break;
        }
    }
    const char *p = e;
    if (*p == '-') {
        sb_puts(b, "-");
        p++;
    }
    char dig[24];
    int nd = 0;
    for (; *p != 'e' && *p != '\0'; p++) {
        if (*p != '.' && nd < (int)sizeof dig - 1) {
            dig[nd++] = *p;
        }
    }
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && dig[nd - 1] == '0') {
        nd--;
    }
    dig[nd] = '\0';
    char tail[16];
    if (exp < -4 || exp >= 16) {
        sb_putn(b, dig, 1);
        if (nd > 1) {
            sb_puts(b, ".");
            sb_puts(b, dig + 1);
        }
        snprintf(tail, sizeof tail, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        sb_puts(b, tail);
    } else if (exp < 0) {
        sb_puts(b, "0.");
        for (int i = -1; i > exp; i--) {
            sb_puts(b, "0");
        }
        sb_puts(b, dig);
    } else if (exp + 1 >= nd) {
        sb_puts(b, dig);
        for (int i = nd; i < exp + 1; i++) {
            sb_puts(b, "0");
        }
        sb_puts(b, ".0");
    } else {
        sb_putn(b, dig, (size_t)exp + 1);
        sb_puts(b, ".");
        sb_puts(b, dig + exp + 1);
    }
}

/* repr(str): single quotes unless the text has ' and no ". */
static void py_str_repr(struct sbuf *b, const char *s)
{
    char q = strchr(s, '\'') != NULL && strchr(s, '"') == NULL ? '"' : '\'';
    sb_putn(b, &q, 1);
    for (; *s != '\0'; s++) {
        char esc[8];
        unsigned char c = (unsigned char)*s;
        if (c == (unsigned char)q || c == '\\') {
            snprintf(esc, sizeof esc, "\\%c", c);
        } else if (c == '\t' || c == '\n' || c == '\r') {
            snprintf(esc, sizeof esc, "\\%c", c == '\t' ? 't' : c == '\n' ? 'n' : 'r');
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
        } else {
            esc[0] = (char)c;
            esc[1] = '\0';
        }
        sb_puts(b, esc);
    }
    sb_putn(b, &q, 1);
}

/* Python's repr() of the value YAML would have given (int for an integral
 * number, else float). */
static void py_repr(struct sbuf *b, const cJSON *v)
{
    if (v == NULL || cJSON_IsNull(v)) {
        sb_puts(b, "None");
    } else if (cJSON_IsBool(v)) {
        sb_puts(b, cJSON_IsTrue(v) ? "True" : "False");
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -9223372036854775808.0 && d < 9223372036854775808.0 && (double)(long long)d == d) {
            char n[32];
            snprintf(n, sizeof n, "%lld", (long long)d);
            sb_puts(b, n);
        } else {
            py_float(b, d);
        }
    } else if (cJSON_IsString(v)) {
        py_str_repr(b, v->valuestring != NULL ? v->valuestring : "");
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        bool obj = cJSON_IsObject(v);
        sb_puts(b, obj ? "{" : "[");
        for (const cJSON *c = v->child; c != NULL; c = c->next) {
            if (c != v->child) {
                sb_puts(b, ", ");
            }
            if (obj) {
                py_str_repr(b, c->string != NULL ? c->string : "");
                sb_puts(b, ": ");
            }
            py_repr(b, c);
        }
        sb_puts(b, obj ? "}" : "]");
    } else {
        sb_puts(b, v->valuestring != NULL ? v->valuestring : "");
    }
}

/* Does tag @name equal @val (@vlen bytes) as Patroni compares it: a string
 * exactly, anything else as str(value).lower(); a missing or null tag never. */
static bool tag_matches(const cJSON *tags, const char *name, const char *val, size_t vlen)
{
    const cJSON *t = tag_get(tags, name);
    if (t == NULL || cJSON_IsNull(t) || memchr(val, '\0', vlen) != NULL) {
        return false;
    }
    if (cJSON_IsString(t)) {
        return t->valuestring != NULL && strcmp(t->valuestring, val) == 0;
    }
    struct sbuf b = {0};
    sb_puts(&b, "");
    py_repr(&b, t);
    for (char *p = b.p; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    bool eq = strcmp(b.p, val) == 0;
    rg_free(b.p);
    return eq;
}

/* Every tag_<key>=<value> of @query (first value of each key) matches. */
static bool tags_match(const char *query, const cJSON *tags)
{
    const char *cur = query;
    struct qparam p;
    bool ok = true;
    while (ok && api__qnext(&cur, &p)) {
        size_t klen;
        char *key = api__decode_dup(p.name, p.nlen, &klen);
        if (klen >= 4 && memcmp(key, "tag_", 4) == 0) {
            struct qparam first;
            size_t vlen;
            /* A name holding NUL names no tag. */
            ok = memchr(key, '\0', klen) == NULL && api__qfind(query, key, &first);
            if (ok) {
                char *val = api__decode_dup(first.val, first.vlen, &vlen);
                ok = tag_matches(tags, key + 4, val, vlen);
                rg_free(val);
            }
        }
        rg_free(key);
    }
    return ok;
}

/* --- the response Patroni builds ------------------------------------------ */

struct resp {
    const char *state;           /* "unknown" for NULL, or running without a live query */
    const char *role;            /* "master" read as "primary"; NULL unknown */
    bool live;                   /* the status query's fields are there */
    bool primary_form;           /* xlog {"location"} rather than the recovery form */
    uint64_t received, replayed; /* the recovery form's; 0 otherwise */
    bool sync, quorum;
    const char *repl_state;
};

static bool str_is(const char *s, const char *want)
{
    return s != NULL && strcmp(s, want) == 0;
}

static void derive(const struct api_node_status *st, struct resp *r)
{
    memset(r, 0, sizeof *r);
    r->live = st->has_xlog;
    r->role = str_is(st->role, "master") ? "primary" : st->role;
    r->state = st->state != NULL ? st->state : "unknown";
    if (!r->live && strcmp(r->state, "running") == 0) {
        r->state = "unknown";
    }
    r->primary_form = str_is(r->role, "primary");
    if (r->live && !r->primary_form) {
        r->replayed = st->replayed_lsn;
        r->received = st->received_lsn != 0 ? st->received_lsn : st->replayed_lsn;
    }
    /* Patroni sets one key, named after synchronous_mode. */
    bool listed = r->live && str_is(r->role, "replica") && st->have_view;
    r->quorum = listed && st->quorum_standby;
    r->sync = listed && st->sync_standby && !st->quorum_standby;
    r->repl_state = r->live ? st->replication_state : NULL;
}

/* max(the store's status optime (with a view), the receiver's latest_end_lsn). */
static uint64_t leader_optime(const struct api_node_status *st, const struct resp *r)
{
    uint64_t o = st->have_view && st->has_leader_optime ? st->leader_optime : 0;
    uint64_t lel = r->live ? st->latest_end_lsn : 0;
    return lel > o ? lel : o;
}

/* ?lag= into @lim, left as it is when absent or unparsable; false when
 * Patroni would raise. */
static bool lag_limit(const char *query, struct size *lim)
{
    size_t n;
    char *v = api__qvalue(query, "lag", &n);
    if (v == NULL) {
        return true;
    }
    struct size p;
    int rc = api__parse_b(v, n, &p);
    rg_free(v);
    if (rc == SZ_OK) {
        *lim = p;
    }
    return rc != SZ_RAISES;
}

/* --- health checks ---------------------------------------------------------- */

enum rule {
    R_NONE,
    R_STANDBY_LEADER,
    R_LEADER,
    R_PRIMARY,
    R_REPLICA,
    R_READ_ONLY,
    R_HEALTH,
    R_SYNC,
    R_QUORUM,
    R_ASYNC,
    R_RO_QUORUM,
    R_RO_SYNC,
};

static bool has(const char *p, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        if (memcmp(p + i, needle, m) == 0) {
            return true;
        }
    }
    return false;
}

static bool is(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Patroni's rule for @path, read as http.server and urlparse() leave it:
 * leading "//" reduced to "/", cut at '#' and at a ';' after the last '/',
 * "/" read as "/primary". *@frag: a '#' was found (the query is then part of
 * the fragment). */
static enum rule path_rule(const char *path, bool *frag)
{
    const char *p = path;
    size_t n = strcspn(p, "#");
    *frag = p[n] == '#';
    while (n >= 2 && p[0] == '/' && p[1] == '/') {
        p++;
        n--;
    }
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '/') {
            last = i;
        }
    }
    const char *semi = memchr(p + last, ';', n - last);
    if (semi != NULL) {
        n = (size_t)(semi - p);
    }
    if (is(p, n, "/")) {
        p = "/primary";
        n = strlen(p);
    }
    if (has(p, n, "standby_leader") || has(p, n, "standby-leader")) {
        return R_STANDBY_LEADER;
    }
    if (has(p, n, "leader")) {
        return R_LEADER;
    }
    if (has(p, n, "master") || has(p, n, "primary") || has(p, n, "read-write")) {
        return R_PRIMARY;
    }
    if (has(p, n, "replica")) {
        return R_REPLICA;
    }
    if (has(p, n, "read-only") && !has(p, n, "sync") && !has(p, n, "quorum")) {
        return R_READ_ONLY;
    }
    if (has(p, n, "health")) {
        return R_HEALTH;
    }
    if (is(p, n, "/sync") || is(p, n, "/synchronous")) {
        return R_SYNC;
    }
    if (is(p, n, "/quorum")) {
        return R_QUORUM;
    }
    if (is(p, n, "/async") || is(p, n, "/asynchronous")) {
        return R_ASYNC;
    }
    if (is(p, n, "/read-only-quorum")) {
        return R_RO_QUORUM;
    }
    if (is(p, n, "/read-only-sync") || is(p, n, "/read-only-synchronous")) {
        return R_RO_SYNC;
    }
    return R_NONE;
}

bool api_health_path(const char *path)
{
    static const char *const paths[] = {
        "/",
        "/primary",
        "/master",
        "/read-write",
        "/leader",
        "/replica",
        "/read-only",
        "/standby-leader",
        "/standby_leader",
        "/sync",
        "/synchronous",
        "/quorum",
        "/async",
        "/asynchronous",
        "/read-only-sync",
        "/read-only-synchronous",
        "/read-only-quorum",
        "/health",
    };
    for (size_t i = 0; path != NULL && i < RG_ARRAY_SIZE(paths); i++) {
        if (strcmp(path, paths[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The four verdicts of do_GET, before the path picks one. */
struct verdicts {
    int leader, primary, standby_leader, replica;
};

static void judge(const struct api_node_status *st,
                  const struct resp *r,
                  const char *query,
                  const struct size *lim,
                  struct verdicts *v)
{
    uint64_t lo = leader_optime(st, r);
    bool lagging = lo != 0 && api__diff_exceeds(lo, r->replayed, lim);
    size_t n;
    char *want = api__qvalue(query, "replication_state", &n);
    bool rs_ok = want == NULL || (r->repl_state != NULL && strlen(r->repl_state) == n &&
                                  memcmp(r->repl_state, want, n) == 0);
    rg_free(want);
    v->replica = !truthy(tag_get(st->tags, "noloadbalance")) && !lagging &&
                         str_is(r->role, "replica") && strcmp(r->state, "running") == 0 && rs_ok
                     ? 200
                     : 503;
    if (!st->have_view && st->paused) {
        /* Paused and cut off from the store: the live role alone. */
        v->primary = str_is(r->role, "primary") ? 200 : 503;
        v->standby_leader = str_is(r->role, "standby_leader") ? 200 : 503;
        v->leader = v->primary == 200 || v->standby_leader == 200 ? 200 : 503;
    } else if (st->holds_lease) {
        v->leader = 200;
        if (st->standby_cluster) {
            v->primary = v->replica = 503;
            v->standby_leader =
                str_is(r->role, "replica") || str_is(r->role, "standby_leader") ? 200 : 503;
        } else {
            v->primary = 200;
            v->standby_leader = 503;
        }
    } else {
        v->leader = v->primary = v->standby_leader = 503;
    }
}

int api_health_code(const char *path, const char *query, const struct api_node_status *st)
{
    bool frag;
    enum rule rule = path != NULL ? path_rule(path, &frag) : R_NONE;
    if (rule == R_NONE) {
        return 0;
    }
    if (frag || query == NULL) {
        query = "";
    }
    struct resp r;
    derive(st, &r);
    /* sys.maxsize when ?lag= is absent or unparsable. */
    struct size lim = {.neg = false, .inf = false, .mag = INT64_MAX};
    if (!lag_limit(query, &lim)) {
        return 503;
    }
    struct verdicts v;
    judge(st, &r, query, &lim, &v);

    int code = 503;
    bool ro = v.primary == 200 || v.standby_leader == 200;
    switch (rule) {
    case R_STANDBY_LEADER:
        return v.standby_leader; /* tags ignored */
    case R_LEADER:
        return v.leader;
    case R_PRIMARY:
        return v.primary;
    case R_REPLICA:
        code = v.replica;
        break;
    case R_READ_ONLY:
        code = ro ? 200 : v.replica;
        break;
    case R_HEALTH:
        code = strcmp(r.state, "running") == 0 ? 200 : 503;
        break;
    default:
        /* The rest need a store view. */
        if (!st->have_view) {
            break;
        }
        if ((rule == R_SYNC && r.sync) || (rule == R_QUORUM && r.quorum) ||
            (rule == R_ASYNC && !r.sync && !r.quorum)) {
            code = v.replica;
        } else if (rule == R_RO_QUORUM || rule == R_RO_SYNC) {
            bool listed = rule == R_RO_QUORUM ? r.quorum : r.sync;
            code = ro ? 200 : listed ? v.replica : 503;
        }
        break;
    }
    if (code == 200 && !tags_match(query, st->tags)) {
        code = 503;
    }
    return code;
}

int api_readiness_code(const char *query, const struct api_node_status *st)
{
    if (st->holds_lease) {
        return 200;
    }
    if (!str_is(st->state, "running")) {
        return 503;
    }
    if (query == NULL) {
        query = "";
    }
    struct resp r;
    derive(st, &r);
    if (!str_is(r.repl_state, "streaming")) {
        return 503;
    }
    /* No failsafe mode: without a view only the receiver's position will do. */
    if (!st->have_view && (!r.live || st->latest_end_lsn == 0)) {
        return 503;
    }
    uint64_t loc = api__qvalue_is(query, "mode", "write") ? r.received : r.replayed;
    struct size lim = {.neg = false, .inf = false, .mag = st->maximum_lag_on_failover};
    if (!lag_limit(query, &lim)) {
        return 503;
    }
    return api__diff_exceeds(leader_optime(st, &r), loc, &lim) ? 503 : 200;
}

/* --- documents --------------------------------------------------------------- */

static void add_str_or_null(cJSON *o, const char *key, const char *s)
{
    if (s != NULL) {
        cJSON_AddStringToObject(o, key, s);
    } else {
        cJSON_AddNullToObject(o, key);
    }
}

static void add_live(cJSON *o, const struct api_node_status *st, const struct resp *r)
{
    cJSON_AddNumberToObject(o, "server_version", st->server_version);
    cJSON *x = cJSON_AddObjectToObject(o, "xlog");
    if (r->primary_form) {
        cJSON_AddNumberToObject(x, "location", (double)st->wal_lsn);
    } else {
        cJSON_AddNumberToObject(x, "received_location", (double)r->received);
        cJSON_AddNumberToObject(x, "replayed_location", (double)r->replayed);
        add_str_or_null(x, "replayed_timestamp", st->replayed_timestamp);
        cJSON_AddBoolToObject(x, "paused", st->replay_paused);
    }
    if (r->quorum) {
        cJSON_AddTrueToObject(o, "quorum_standby");
    } else if (r->sync) {
        cJSON_AddTrueToObject(o, "sync_standby");
    }
    if (st->timeline != 0) {
        cJSON_AddNumberToObject(o, "timeline", st->timeline);
    } else {
        cJSON_AddNullToObject(o, "timeline");
    }
    if (r->repl_state != NULL) {
        cJSON_AddStringToObject(o, "replication_state", r->repl_state);
    }
    if (cJSON_IsArray(st->replication) && cJSON_GetArraySize(st->replication) > 0) {
        cJSON_AddItemToObject(o, "replication", cJSON_Duplicate(st->replication, 1));
    }
}

static void add_tags(cJSON *o, const cJSON *tags)
{
    if (!cJSON_IsObject(tags)) {
        return;
    }
    cJSON *out = NULL;
    for (const cJSON *t = tags->child; t != NULL; t = t->next) {
        if (t->string != NULL && tag_kept(tags, t)) {
            if (out == NULL) {
                out = cJSON_AddObjectToObject(o, "tags");
            }
            cJSON_AddItemToObject(out, t->string, cJSON_Duplicate(t, 1));
        }
    }
}

cJSON *api_view_patroni(const struct api_node_status *st)
{
    struct resp r;
    derive(st, &r);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", r.state);
    if (r.live) {
        add_str_or_null(o, "postmaster_start_time", st->postmaster_start_time);
    }
    if (r.role != NULL) {
        cJSON_AddStringToObject(o, "role", r.role);
    }
    if (r.live) {
        add_live(o, st, &r);
    }
    if (st->paused) {
        cJSON_AddTrueToObject(o, "pause");
    }
    if (!st->have_view || st->cluster_unlocked) {
        cJSON_AddTrueToObject(o, "cluster_unlocked");
    }
    cJSON_AddNumberToObject(o, "dcs_last_seen", (double)st->dcs_last_seen);
    add_tags(o, st->tags);
    if (st->sysid != NULL && st->sysid[0] != '\0') {
        cJSON_AddStringToObject(o, "database_system_identifier", st->sysid);
    }
    if (st->pending_restart) {
        cJSON_AddTrueToObject(o, "pending_restart");
        cJSON_AddItemToObject(o, "pending_restart_reason",
                              cJSON_IsObject(st->pending_restart_reason)
                                  ? cJSON_Duplicate(st->pending_restart_reason, 1)
                                  : cJSON_CreateObject());
    }
    if (cJSON_IsObject(st->scheduled_restart)) {
        cJSON_AddItemToObject(o, "scheduled_restart", cJSON_Duplicate(st->scheduled_restart, 1));
    }
    cJSON *p = cJSON_AddObjectToObject(o, "patroni");
    add_str_or_null(p, "version", st->version);
    add_str_or_null(p, "scope", st->scope);
    add_str_or_null(p, "name", st->name);
    if (st->watchdog_failed) {
        cJSON_AddTrueToObject(o, "watchdog_failed");
    }
    cJSON *l = cJSON_AddObjectToObject(o, "lease");
    cJSON_AddNumberToObject(l, "epoch", (double)st->lease_epoch);
    cJSON_AddBoolToObject(l, "held", st->holds_lease);
    cJSON_AddNumberToObject(l, "expires_in_ms",
                            st->holds_lease && st->lease_ms_left > 0 ? (double)st->lease_ms_left
                                                                     : 0);
    if (st->ha_action != NULL) {
        cJSON *h = cJSON_AddObjectToObject(o, "ha");
        cJSON_AddStringToObject(h, "action", st->ha_action);
        add_str_or_null(h, "reason", st->ha_reason);
    }
    return o;
}

/* A timeline or LSN stored as text ("25623960", or "0/186F6B8" for the LSN)
 * as a number; anything else copied. */
static cJSON *history_num(const cJSON *v, bool lsn)
{
    if (cJSON_IsString(v) && v->valuestring != NULL) {
        const char *s = v->valuestring;
        size_t n = strlen(s);
        if (n > 0 && n <= 19 && strspn(s, "0123456789") == n) {
            return cJSON_CreateNumber((double)strtoull(s, NULL, 10));
        }
        size_t hi = strspn(s, "0123456789abcdefABCDEF");
        size_t lo = hi < n && s[hi] == '/' ? strspn(s + hi + 1, "0123456789abcdefABCDEF") : 0;
        if (lsn && hi >= 1 && hi <= 8 && lo >= 1 && lo <= 8 && hi + 1 + lo == n) {
            uint64_t h = strtoull(s, NULL, 16), l = strtoull(s + hi + 1, NULL, 16);
            return cJSON_CreateNumber((double)(h << 32 | l));
        }
    }
    return cJSON_Duplicate(v, 1);
}

cJSON *api_view_history(const cJSON *history)
{
    cJSON *out = cJSON_CreateArray();
    if (!cJSON_IsArray(history)) {
        return out;
    }
    for (const cJSON *e = history->child; e != NULL; e = e->next) {
        if (!cJSON_IsArray(e)) {
            continue;
        }
        cJSON *line = cJSON_CreateArray();
        int i = 0;
        for (const cJSON *x = e->child; x != NULL; x = x->next, i++) {
            cJSON_AddItemToArray(line, i < 2 ? history_num(x, i == 1) : cJSON_Duplicate(x, 1));
        }
        cJSON_AddItemToArray(out, line);
    }
    return out;
}
