/*
 * cfg_check: validation once the file, the environment and the defaults are
 * in: required keys, per-key validators, then the rules that span keys —
 * derived defaults (restapi.connect_address, raft.bind_addr), the Raft
 * address rules, and the timing budget of DESIGN.md ("Leases", "Timing
 * budget"). Every failure is reported, none stops the others.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agent/cfg_internal.h"
#include "agent/rg.h"

static const struct cfg_key *key(const char *path)
{
    const struct cfg_key *k = cfg__key_find(path, strlen(path));
    RG_ASSERT(k != NULL);
    return k;
}

static size_t idx(const char *path)
{
    return cfg__key_index(key(path));
}

static bool key_set(struct cfg *cfg, const struct cfg_key *k)
{
    if (k->type == CFG_T_STR || k->type == CFG_T_ENUM) {
        return *(char **)cfg__field(cfg, k) != NULL;
    }
    return true;
}

static const char *required_msg(const struct cfg_key *k)
{
    if (strcmp(k->path, "raft.password") == 0) {
        return "required: the cluster secret that authenticates every Raft connection (at "
               "least 8 characters, the same on every member)";
    }
    if (strcmp(k->path, "raft.data_dir") == 0) {
        return "required: the absolute path of the directory holding the Raft log";
    }
    if (strcmp(k->path, "raft.self_addr") == 0) {
        return "required: the a.b.c.d:port other members reach this node's Raft at";
    }
    if (strcmp(k->path, "postgresql.data_dir") == 0) {
        return "required: the PostgreSQL data directory this agent manages";
    }
    return "required";
}

static void check_keys(struct cfg_ctx *ctx)
{
    struct cfg *cfg = ctx->cfg;
    char why[512];
    for (size_t i = 0; i < cfg__n_keys; i++) {
        const struct cfg_key *k = &cfg__keys[i];
        if (k->off == CFG_NOFIELD || !cfg__key_allowed(ctx->kind, k)) {
            continue;
        }
        if (!key_set(cfg, k)) {
            if (k->flags & CFG_K_REQUIRED) {
                cfg__error_key(ctx, i, "%s", required_msg(k));
            }
            continue;
        }
        if (k->check == NULL) {
            continue;
        }
        if (k->type == CFG_T_STRLIST) {
            char **items = *(char ***)cfg__field(cfg, k);
            size_t n = *(size_t *)(void *)((char *)cfg + k->off_n);
            for (size_t j = 0; j < n; j++) {
                if (!k->check(k, &items[j], why, sizeof why)) {
                    cfg__error_key(ctx, i, "%s", why);
                }
            }
        } else if (!k->check(k, cfg__field(cfg, k), why, sizeof why)) {
            cfg__error_key(ctx, i, "%s", why);
        }
    }
}

static bool private_ipv4(const char *host)
{
    unsigned char a[4];
    if (inet_pton(AF_INET, host, a) != 1) {
        return false;
    }
    return a[0] == 127 || a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
           (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254);
}

/* raft.self_addr privacy, raft.bind_addr default, self_addr and duplicates
 * out of raft.partner_addrs. */
static void check_raft_addrs(struct cfg_ctx *ctx)
{
    struct cfg_raft *r = &ctx->cfg->raft;
    char host[32];
    bool self_ok =
        r->self_addr != NULL && cfg_parse_ipv4_addr(r->self_addr, host, sizeof host, NULL) == 0;
    if (self_ok && strcmp(host, "0.0.0.0") == 0) {
        cfg__error_key(ctx, idx("raft.self_addr"),
                       "0.0.0.0 cannot be reached: give the address other members use for this "
                       "node (raft.bind_addr may be 0.0.0.0)");
    } else if (self_ok && !r->allow_public_addr && !private_ipv4(host)) {
        cfg__error_key(ctx, idx("raft.self_addr"),
                       "\"%s\" is not a private address (127/8, 10/8, 172.16/12, 192.168/16, "
                       "169.254/16); keep Raft traffic on a private network or set "
                       "raft.allow_public_addr: true",
                       r->self_addr);
    }
    if (r->bind_addr == NULL && r->self_addr != NULL) {
        r->bind_addr = rg_strdup(r->self_addr);
    }
    size_t out = 0;
    for (size_t i = 0; i < r->n_partner_addrs; i++) {
        char *a = r->partner_addrs[i];
        bool drop = r->self_addr != NULL && strcmp(a, r->self_addr) == 0;
        for (size_t j = 0; j < out && !drop; j++) {
            drop = strcmp(a, r->partner_addrs[j]) == 0;
        }
        if (drop) {
            rg_free(a);
        } else {
            r->partner_addrs[out++] = a;
        }
    }
    r->n_partner_addrs = out;
}

/* restapi.connect_address defaults to restapi.listen unless that listens on
 * every address, which nobody can connect to. */
static void check_connect_address(struct cfg_ctx *ctx)
{
    struct cfg_restapi *api = &ctx->cfg->restapi;
    if (api->connect_address != NULL || api->listen == NULL) {
        return;
    }
    const char *colon = strrchr(api->listen, ':');
    if (colon == NULL) {
        return; /* reported by the validator */
    }
    size_t hl = (size_t)(colon - api->listen);
    bool wildcard =
        hl == 0 || (hl == 1 && api->listen[0] == '*') || strncmp(api->listen, "0.0.0.0:", 8) == 0;
    if (!wildcard && api->listen[0] == '[' && hl > 2) {
        char h[64];
        unsigned char a[16];
        if (hl - 2 < sizeof h) {
            memcpy(h, api->listen + 1, hl - 2);
            h[hl - 2] = '\0';
            wildcard = inet_pton(AF_INET6, h, a) == 1 && memcmp(a, in6addr_any.s6_addr, 16) == 0;
        }
    }
    if (wildcard) {
        cfg__error_key(ctx, idx("restapi.connect_address"),
                       "required because restapi.listen (\"%s\") listens on every address: give "
                       "the host:port other members and clients use to reach this node",
                       api->listen);
        return;
    }
    api->connect_address = rg_strdup(api->listen);
    ctx->src[idx("restapi.connect_address")].kind = CFG_SRC_DEFAULT;
}

/* The key to blame for a rule over several keys: the first one the user
 * set (file or environment), else the first one. */
static size_t blame(struct cfg_ctx *ctx, const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum cfg_src_kind s = ctx->src[idx(paths[i])].kind;
        if (s == CFG_SRC_FILE || s == CFG_SRC_ENV) {
            return idx(paths[i]);
        }
    }
    return idx(paths[0]);
}

static void fmt_ms(int64_t ms, char *buf, size_t len)
{
    if (ms < 0) {
        buf[0] = '-';
        cfg__fmt_secs((unsigned)-ms, buf + 1, len - 1);
    } else {
        cfg__fmt_secs((unsigned)ms, buf, len);
    }
}

unsigned cfg__timing_check(const struct cfg_timing *t,
                           const char *dcs,
                           cfg_timing_report_fn report,
                           void *arg)
{
    const char *D = dcs;
    char msg[1024], a[32], b[32], c[32], d[32];
    unsigned broken = 0;

    if (t->loop_wait + 2 * t->retry_timeout > t->ttl) {
        static const char *const keys[] = {"bootstrap.dcs.ttl", "bootstrap.dcs.loop_wait",
                                           "bootstrap.dcs.retry_timeout"};
        fmt_ms(t->loop_wait, a, sizeof a);
        fmt_ms(t->retry_timeout, b, sizeof b);
        fmt_ms(t->loop_wait + 2 * t->retry_timeout, c, sizeof c);
        fmt_ms(t->ttl, d, sizeof d);
        snprintf(msg, sizeof msg,
                 "%sloop_wait + 2 x %sretry_timeout (%s + 2 x %s = %s s) must not exceed %sttl "
                 "(%s s)",
                 D, D, a, b, c, D, d);
        report(arg, keys, RG_ARRAY_SIZE(keys), msg);
        broken++;
    }

    /* DESIGN.md: the primary's lease must outlast a Raft election (with
     * pre-vote up to ~2 election timeouts), a few heartbeats and three
     * loopback round trips after its last renewal. */
    int64_t lease_left = t->ttl - t->safety_margin - t->fence_budget;
    if (t->watchdog_required && t->watchdog_timeout < lease_left) {
        lease_left = t->watchdog_timeout;
    }
    int64_t avail = lease_left - t->renew_interval;
    int64_t need = 2 * t->election_timeout + 3 * t->heartbeat_interval + 30;
    if (avail < need) {
        static const char *const keys[] = {"bootstrap.dcs.ttl",      "raft.election_timeout",
                                           "raft.renew_interval",    "raft.heartbeat_interval",
                                           "watchdog.safety_margin", "watchdog.timeout"};
        bool wd = t->watchdog_required;
        fmt_ms(avail, a, sizeof a);
        fmt_ms(need, b, sizeof b);
        fmt_ms(t->fence_budget, c, sizeof c);
        snprintf(msg, sizeof msg,
                 "%s%sttl - watchdog.safety_margin - fence budget %s s%s - raft.renew_interval = "
                 "%s s must be at least 2 x raft.election_timeout + 3 x raft.heartbeat_interval + "
                 "0.03 s of round trips = %s s, so that a Raft leader crash does not fence the "
                 "primary; raise %sttl or lower the Raft timings",
                 wd ? "min(watchdog.timeout, " : "", D, c, wd ? ")" : "", a, b, D);
        report(arg, keys, wd ? 6 : 5, msg);
        broken++;
    }

    if (t->watchdog_required && t->ttl - t->safety_margin - t->watchdog_timeout < 500) {
        static const char *const keys[] = {"bootstrap.dcs.ttl", "watchdog.safety_margin",
                                           "watchdog.timeout"};
        fmt_ms(t->ttl - t->safety_margin - t->watchdog_timeout, a, sizeof a);
        snprintf(msg, sizeof msg,
                 "with watchdog.mode required, %sttl - watchdog.safety_margin - "
                 "watchdog.timeout (%s s) must be at least 0.5 s: the primary may kick the "
                 "watchdog only while its lease has more than watchdog.timeout left, so "
                 "renewals need that slack to keep it kicked",
                 D, a);
        report(arg, keys, RG_ARRAY_SIZE(keys), msg);
        broken++;
    }

    if (2 * t->heartbeat_interval >= t->election_timeout) {
        static const char *const keys[] = {"raft.heartbeat_interval", "raft.election_timeout"};
        fmt_ms(t->heartbeat_interval, a, sizeof a);
        fmt_ms(t->election_timeout, b, sizeof b);
        snprintf(msg, sizeof msg,
                 "raft.heartbeat_interval (%s s) must be less than half of "
                 "raft.election_timeout (%s s), or followers start needless elections",
                 a, b);
        report(arg, keys, RG_ARRAY_SIZE(keys), msg);
        broken++;
    }
    return broken;
}

static void report_local(void *arg, const char *const *keys, size_t n, const char *msg)
{
    struct cfg_ctx *ctx = arg;
    cfg__error_key(ctx, blame(ctx, keys, n), "%s", msg);
}

static void check_timing(struct cfg_ctx *ctx)
{
    const struct cfg *cfg = ctx->cfg;
    const struct cfg_lease *l = &cfg->lease;
    struct cfg_timing t = {
        .ttl = l->ttl,
        .loop_wait = l->loop_wait,
        .retry_timeout = l->retry_timeout,
        .renew_interval = l->renew_interval,
        .safety_margin = l->safety_margin,
        .fence_budget = l->fence_budget,
        .election_timeout = cfg->raft.election_timeout,
        .heartbeat_interval = cfg->raft.heartbeat_interval,
        .watchdog_timeout = cfg->watchdog.timeout,
        .watchdog_required =
            cfg->watchdog.mode != NULL && strcmp(cfg->watchdog.mode, "required") == 0,
    };
    cfg__timing_check(&t, "bootstrap.dcs.", report_local, ctx);
}

/* The value of @k for a raw section: like cfg__key_to_json, but secrets in
 * clear (the raw section is what the agent reads them from; cfg_to_json
 * masks them on output). */
static cJSON *raw_value(const struct cfg *cfg, const struct cfg_key *k)
{
    if (k->type == CFG_T_STR || k->type == CFG_T_ENUM) {
        return cJSON_CreateString(*(char **)cfg__field((struct cfg *)cfg, k));
    }
    return cfg__key_to_json(cfg, k);
}

/* Put @v at the dotted @rel path under @obj, creating the objects on the way.
 * A component that is there but not an object (reported by the walk) makes
 * the value go nowhere. */
static void raw_put(cJSON *obj, const char *rel, cJSON *v)
{
    const char *dot;
    while ((dot = strchr(rel, '.')) != NULL) {
        char name[128];
        size_t n = (size_t)(dot - rel);
        RG_ASSERT(n < sizeof name);
        memcpy(name, rel, n);
        name[n] = '\0';
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (child == NULL) {
            child = cJSON_AddObjectToObject(obj, name);
        }
        if (!cJSON_IsObject(child)) {
            cJSON_Delete(v);
            return;
        }
        obj = child;
        rel = dot + 1;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, rel) != NULL) {
        cJSON_ReplaceItemInObjectCaseSensitive(obj, rel, v);
    } else {
        cJSON_AddItemToObject(obj, rel, v);
    }
}

/* The sections kept as JSON also carry the effective typed values, at any
 * depth, so that whoever reads postgresql.raw or bootstrap_dcs sees
 * environment overrides and defaults too. JSON-typed keys are not copied:
 * the raw section already holds them as written and they have neither
 * defaults nor environment variables. */
static void sync_raw_sections(struct cfg_ctx *ctx)
{
    struct cfg *cfg = ctx->cfg;
    for (size_t i = 0; i < cfg__n_keys; i++) {
        const struct cfg_key *sec = &cfg__keys[i];
        if (sec->type != CFG_T_SECTION || sec->off == CFG_NOFIELD ||
            !cfg__key_allowed(ctx->kind, sec)) {
            continue;
        }
        cJSON *raw = *(cJSON **)cfg__field(cfg, sec);
        if (!cJSON_IsObject(raw)) {
            continue;
        }
        size_t plen = strlen(sec->path);
        for (size_t j = 0; j < cfg__n_keys; j++) {
            const struct cfg_key *k = &cfg__keys[j];
            if (strncmp(k->path, sec->path, plen) != 0 || k->path[plen] != '.' ||
                k->off == CFG_NOFIELD || k->type == CFG_T_JSON || k->type == CFG_T_SECTION ||
                !key_set(cfg, k)) {
                continue;
            }
            raw_put(raw, k->path + plen + 1, raw_value(cfg, k));
        }
    }
}

/* A mapping nested in the postgresql section is read twice by the YAML walk
 * (once into postgresql.raw, once for its typed keys), so a duplicate key
 * in it is found twice. Keep the first of identical error lines. */
static void drop_repeated_errors(struct cfg_ctx *ctx)
{
    struct cfg_buf *b = &ctx->errors;
    if (b->s == NULL) {
        return;
    }
    size_t out = 0;
    for (size_t at = 0; at < b->len;) {
        const char *line = b->s + at;
        const char *nl = memchr(line, '\n', b->len - at);
        size_t n = nl != NULL ? (size_t)(nl - line) + 1 : b->len - at;
        bool seen = false;
        for (size_t p = 0; p < out && !seen;) {
            const char *prev = b->s + p;
            const char *pnl = memchr(prev, '\n', out - p);
            size_t pn = pnl != NULL ? (size_t)(pnl - prev) + 1 : out - p;
            seen = pn == n && memcmp(prev, line, n) == 0;
            p += pn;
        }
        if (seen) {
            ctx->n_errors--;
        } else {
            memmove(b->s + out, line, n);
            out += n;
        }
        at += n;
    }
    b->len = out;
    b->s[out] = '\0';
}

void cfg__validate(struct cfg_ctx *ctx)
{
    drop_repeated_errors(ctx);
    check_keys(ctx);
    check_raft_addrs(ctx);
    check_connect_address(ctx);
    if (ctx->kind == CFG_AGENT) {
        check_timing(ctx);
    } else {
        /* A witness has no lease, but its Raft timing must still hold. */
        const struct cfg_raft *r = &ctx->cfg->raft;
        if (2 * r->heartbeat_interval >= r->election_timeout) {
            char a[32], b[32];
            fmt_ms(r->heartbeat_interval, a, sizeof a);
            fmt_ms(r->election_timeout, b, sizeof b);
            cfg__error_key(ctx, idx("raft.heartbeat_interval"),
                           "raft.heartbeat_interval (%s s) must be less than half of "
                           "raft.election_timeout (%s s), or followers start needless elections",
                           a, b);
        }
    }
    sync_raw_sections(ctx);
}
