/*
 * coord_pick: what the lease needs (coord_next), whom to grant it to
 * (coord_pick), and the reports a grant records (coord_reports_json).
 *
 * coord_next classifies the lease at the leader's cluster time with
 * lease_verdict(), the same conditions apply_grant() checks in store_fsm.c:
 *
 *   never granted / released ........ FREE         grantable (a)
 *   unconfirmed handover, timed out .. UNCONFIRMED  grantable (c)
 *   unconfirmed handover, waiting .... HANDOVER     not grantable by policy
 *   ct <  expires_at ................. VALID        refused "lease is valid"
 *   ct >= expires_at, fencing ........ EXPIRED      grantable (b)
 *   ct >= expires_at, !fencing ....... PAUSED       refused "... (paused)"
 *
 * and then maps it to a step, with the bootstrap claim taken into account
 * before initialize. Every grantable verdict satisfies one of the state
 * machine's conditions (a)–(c), so a grant asked for is never refused for a
 * reason visible here; the only refusals left are changes in between (a
 * renewal, another grant: the epoch no longer matches).
 *
 * coord_pick filters the reports (eligible()) and ranks the rest. The order
 * is total (LSN, priority, name), so every coordinator picks the same member
 * from the same reports. Reasons go into a bounded buffer (struct wbuf) that
 * silently truncates.
 */
#include "raft/coord_pick.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent/rg.h"
#include "raft/store_fsm_internal.h"

/* ---- bounded text ------------------------------------------------------ */

struct wbuf {
    char *s; /* borrowed; NULL when the caller wants no text */
    size_t len, cap;
};

static void wb_init(struct wbuf *b, char *s, size_t cap)
{
    b->s = cap > 0 ? s : NULL;
    b->len = 0;
    b->cap = cap;
    if (b->s != NULL) {
        b->s[0] = '\0';
    }
}

static void wb_vprintf(struct wbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void wb_vprintf(struct wbuf *b, const char *fmt, va_list ap)
{
    if (b->s == NULL || b->len + 1 >= b->cap) {
        return;
    }
    int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    if (n < 0) {
        b->s[b->len] = '\0';
        return;
    }
    b->len += (size_t)n;
    if (b->len >= b->cap) {
        b->len = b->cap - 1; /* truncated; vsnprintf wrote the NUL */
    }
}

static void wb_printf(struct wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wb_printf(struct wbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* A member name as stored in a fixed array: at most STORE_NAME_SIZE-1 bytes. */
#define NAMEF    "%.*s"
#define NAMEA(s) (int)strnlen((s), STORE_NAME_SIZE - 1), (s)

static bool name_eq(const char *a, const char *b)
{
    return strncmp(a, b, STORE_NAME_SIZE - 1) == 0;
}

/* "0/5000060", as PostgreSQL prints an LSN. */
static void fmt_lsn(uint64_t lsn, char *buf, size_t len)
{
    snprintf(buf, len, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
}

/* ---- coord_next -------------------------------------------------------- */

const char *coord_step_name(enum coord_step step)
{
    switch (step) {
    case COORD_IDLE:
        return "idle";
    case COORD_GRANT_CLAIMANT:
        return "grant-claimant";
    case COORD_CLEAR_CLAIM:
        return "clear-claim";
    case COORD_FAILOVER:
        return "failover";
    case COORD_PAUSED:
        return "paused";
    }
    return "unknown";
}

enum verdict {
    V_FREE,        /* never granted, or released: grantable */
    V_UNCONFIRMED, /* handover unconfirmed past switchover_timeout: grantable */
    V_HANDOVER,    /* handover unconfirmed, still within switchover_timeout */
    V_VALID,       /* held and unexpired */
    V_EXPIRED,     /* expired, the holder was fencing: grantable */
    V_PAUSED,      /* expired, the holder's last renewal said fencing=false */
};

static bool verdict_grantable(enum verdict v)
{
    return v == V_FREE || v == V_UNCONFIRMED || v == V_EXPIRED;
}

static enum verdict
lease_verdict(const struct store_lease *l, uint64_t now, uint64_t switchover_timeout)
{
    if (l->epoch == 0 || l->released) {
        return V_FREE;
    }
    if (l->handover_unconfirmed) {
        /* Wait for the target's whole timeout even past expires_at (where the
         * state machine would already accept a grant): it may be replaying up
         * to the handover LSN. */
        return now >= store__add_sat(l->renewed_at, switchover_timeout) ? V_UNCONFIRMED
                                                                        : V_HANDOVER;
    }
    if (now < l->expires_at) {
        return V_VALID;
    }
    return l->fencing ? V_EXPIRED : V_PAUSED;
}

/* The reason for @v, e.g. "lease of node1 (epoch 3) expired at 12500". */
static void verdict_why(struct wbuf *b,
                        enum verdict v,
                        const struct store_lease *l,
                        uint64_t now,
                        uint64_t switchover_timeout)
{
    unsigned long long epoch = (unsigned long long)l->epoch;
    unsigned long long exp = (unsigned long long)l->expires_at;
    switch (v) {
    case V_FREE:
        if (l->epoch == 0) {
            wb_printf(b, "the lease was never granted");
        } else {
            wb_printf(b, "lease released by " NAMEF " (epoch %llu)", NAMEA(l->holder), epoch);
        }
        return;
    case V_UNCONFIRMED:
    case V_HANDOVER: {
        unsigned long long at =
            (unsigned long long)store__add_sat(l->renewed_at, switchover_timeout);
        wb_printf(b, "handover to " NAMEF " (epoch %llu) unconfirmed since %llu, %s at %llu",
                  NAMEA(l->holder), epoch, (unsigned long long)l->renewed_at,
                  v == V_UNCONFIRMED ? "switchover timeout passed" : "grantable", at);
        return;
    }
    case V_VALID:
        wb_printf(b, "lease held by " NAMEF " (epoch %llu) until %llu (%llu ms left)",
                  NAMEA(l->holder), epoch, exp, (unsigned long long)(l->expires_at - now));
        return;
    case V_EXPIRED:
        wb_printf(b, "lease of " NAMEF " (epoch %llu) expired at %llu (now %llu)", NAMEA(l->holder),
                  epoch, exp, (unsigned long long)now);
        return;
    case V_PAUSED:
        wb_printf(b,
                  "lease of " NAMEF " (epoch %llu) expired at %llu but its last renewal said "
                  "fencing=false (paused): no automatic grant until it releases or renews in "
                  "normal mode",
                  NAMEA(l->holder), epoch, exp);
        return;
    }
}

/* True when @name is a witness peer under any of its ids (store_fsm refuses
 * to grant a witness). */
static bool is_witness(const struct store_state *s, const char *name)
{
    for (size_t i = 0; i < s->n_peers; i++) {
        if (s->peers[i].kind == STORE_PEER_WITNESS && name_eq(s->peers[i].name, name)) {
            return true;
        }
    }
    return false;
}

/* Before initialize: the bootstrap claim decides. */
static enum coord_step next_bootstrap(const struct store_state *s,
                                      uint64_t now,
                                      uint64_t switchover_timeout,
                                      struct wbuf *b)
{
    const struct store_lease *l = &s->lease;
    const char *claim = s->init_claim;
    if (claim[0] == '\0') {
        wb_printf(b, "not initialized: waiting for a bootstrap claim");
        return COORD_IDLE;
    }
    enum verdict v = lease_verdict(l, now, switchover_timeout);
    bool claimant_holds = l->epoch > 0 && name_eq(l->holder, claim);
    if (claimant_holds && store_lease_valid(l, now)) {
        wb_printf(b, NAMEF " holds the lease (epoch %llu): waiting for it to initialize",
                  NAMEA(claim), (unsigned long long)l->epoch);
        return COORD_IDLE;
    }
    if (s->init_claim_epoch > 0) {
        /* The claimant was granted a lease it no longer holds validly:
         * init_clear applies. In pause, leave the claim alone. */
        if (claimant_holds && v == V_PAUSED) {
            wb_printf(b, "bootstrap of " NAMEF ": ", NAMEA(claim));
            verdict_why(b, v, l, now, switchover_timeout);
            return COORD_PAUSED;
        }
        wb_printf(b, NAMEF " did not initialize under its lease (epoch %llu): ", NAMEA(claim),
                  (unsigned long long)s->init_claim_epoch);
        verdict_why(b, v, l, now, switchover_timeout);
        wb_printf(b, "; clear its claim");
        return COORD_CLEAR_CLAIM;
    }
    if (is_witness(s, claim)) {
        wb_printf(b, "bootstrap claimant " NAMEF " is a witness and can never hold the lease",
                  NAMEA(claim));
        return COORD_IDLE;
    }
    if (!verdict_grantable(v)) {
        wb_printf(b, "bootstrap claimed by " NAMEF " but ", NAMEA(claim));
        verdict_why(b, v, l, now, switchover_timeout);
        return v == V_PAUSED ? COORD_PAUSED : COORD_IDLE;
    }
    wb_printf(b, "bootstrap: grant the lease to claimant " NAMEF " (", NAMEA(claim));
    verdict_why(b, v, l, now, switchover_timeout);
    wb_printf(b, ")");
    return COORD_GRANT_CLAIMANT;
}

enum coord_step coord_next(const struct store_state *s,
                           uint64_t now_ct,
                           uint64_t switchover_timeout,
                           char *exclude,
                           char *why,
                           size_t whylen)
{
    RG_PRE(s != NULL && exclude != NULL);
    struct wbuf b;
    wb_init(&b, why, whylen);
    exclude[0] = '\0';
    if (s->init_sysid == NULL) {
        return next_bootstrap(s, now_ct, switchover_timeout, &b);
    }
    const struct store_lease *l = &s->lease;
    enum verdict v = lease_verdict(l, now_ct, switchover_timeout);
    verdict_why(&b, v, l, now_ct, switchover_timeout);
    switch (v) {
    case V_FREE:
    case V_EXPIRED:
    case V_UNCONFIRMED:
        /* The old holder fenced (expired), stopped (released) or never
         * confirmed (handover): it is not a candidate. */
        if (l->epoch > 0) {
            snprintf(exclude, STORE_NAME_SIZE, NAMEF, NAMEA(l->holder));
        }
        wb_printf(&b, ": failover");
        return COORD_FAILOVER;
    case V_PAUSED:
        return COORD_PAUSED;
    case V_VALID:
    case V_HANDOVER:
        break;
    }
    return COORD_IDLE;
}

/* ---- coord_pick -------------------------------------------------------- */

static bool running_replica(const struct coord_report *r)
{
    return r->running && r->in_recovery;
}

/* The position a member would be promoted at. */
static uint64_t report_lsn(const struct coord_report *r)
{
    if (r->clean_shutdown && !running_replica(r)) {
        return r->shutdown_lsn;
    }
    return r->lsn;
}

static bool in_sync(const struct coord_policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_sync; i++) {
        if (name_eq(p->sync[i], name)) {
            return true;
        }
    }
    return false;
}

/* Append ", " between reasons. */
static void reason(struct wbuf *b, unsigned *count, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reason(struct wbuf *b, unsigned *count, const char *fmt, ...)
{
    if (*count > 0) {
        wb_printf(b, ", ");
    }
    (*count)++;
    va_list ap;
    va_start(ap, fmt);
    wb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Every reason @r is not eligible, written to @b (may be a NULL buffer);
 * returns how many (0: eligible). The candidate filter is the caller's. */
static unsigned
ineligible(const struct coord_report *r, const struct coord_policy *p, struct wbuf *b)
{
    unsigned n = 0;
    if (!r->answered) {
        reason(b, &n, "no answer");
        return n;
    }
    if (p->exclude != NULL && p->exclude[0] != '\0' && name_eq(r->name, p->exclude)) {
        reason(b, &n, "the old holder");
        return n;
    }
    if (r->nofailover) {
        reason(b, &n, "nofailover");
    } else if (r->failover_priority <= 0) {
        reason(b, &n, "nofailover (failover_priority %d)", r->failover_priority);
    }
    if (r->watchdog_failed) {
        reason(b, &n, "watchdog required but unusable");
    }
    if (!running_replica(r) && !(r->clean_shutdown && !r->running)) {
        reason(b, &n, "%s", r->running ? "not a replica" : "not running");
    }
    if (!r->history_ok) {
        reason(b, &n, "timeline history does not continue the last primary's");
    }
    uint64_t lsn = report_lsn(r);
    uint64_t lag = p->primary_lsn > lsn ? p->primary_lsn - lsn : 0;
    if (lag > p->maximum_lag) {
        reason(b, &n, "lag %llu > %llu bytes", (unsigned long long)lag,
               (unsigned long long)p->maximum_lag);
    }
    if (p->check_timeline && p->cluster_timeline > 0 && r->timeline < p->cluster_timeline) {
        reason(b, &n, "timeline %u < cluster timeline %u", r->timeline, p->cluster_timeline);
    }
    if (p->sync_mode && !(r->clean_shutdown && !r->running)) {
        if (!in_sync(p, r->name)) {
            reason(b, &n, "not a synchronous standby");
        } else if (p->sync_k == 0) {
            reason(b, &n, "the sync record promises nothing (k 0)");
        }
    }
    return n;
}

/* Quorum: enough of the sync set answered, and the highest LSN among them.
 * False with the reason when no automatic failover may happen. */
static bool sync_quorum(const struct coord_report *r,
                        size_t n,
                        const struct coord_policy *p,
                        uint64_t *max_lsn,
                        struct wbuf *b)
{
    size_t heard = 0;
    *max_lsn = 0;
    if (!p->sync_mode) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (r[i].answered && in_sync(p, r[i].name)) {
            heard++;
            if (report_lsn(&r[i]) > *max_lsn) {
                *max_lsn = report_lsn(&r[i]);
            }
        }
    }
    if (p->n_sync == 0 || p->sync_k == 0) {
        /* A clean former primary may still win (a switchover that timed out). */
        return true;
    }
    size_t need = p->n_sync - p->sync_k + 1;
    if (heard < need) {
        wb_printf(b,
                  "synchronous mode: heard from %zu of the %zu synchronous standbys, %zu needed "
                  "(k %u): no automatic failover",
                  heard, p->n_sync, need, p->sync_k);
        return false;
    }
    if (p->sync_k == p->n_sync) {
        *max_lsn = 0; /* each of them has every acknowledged commit */
    }
    return true;
}

/* True when @a ranks before @b. */
static bool ranks_before(const struct coord_report *a, const struct coord_report *b)
{
    uint64_t la = report_lsn(a), lb = report_lsn(b);
    if (la != lb) {
        return la > lb;
    }
    if (a->failover_priority != b->failover_priority) {
        return a->failover_priority > b->failover_priority;
    }
    return strncmp(a->name, b->name, STORE_NAME_SIZE - 1) < 0;
}

static bool has_candidate(const struct coord_policy *p)
{
    return p->candidate != NULL && p->candidate[0] != '\0';
}

/* -1 with the reason the requested candidate cannot win. */
static int
pick_candidate(const struct coord_report *r, size_t n, const struct coord_policy *p, struct wbuf *b)
{
    struct wbuf none;
    wb_init(&none, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        if (!name_eq(r[i].name, p->candidate)) {
            continue;
        }
        if (ineligible(&r[i], p, &none) == 0) {
            char lsn[32];
            fmt_lsn(report_lsn(&r[i]), lsn, sizeof lsn);
            wb_printf(b, NAMEF ": requested candidate, lsn %s", NAMEA(r[i].name), lsn);
            return (int)i;
        }
        wb_printf(b, "candidate " NAMEF ": ", NAMEA(r[i].name));
        ineligible(&r[i], p, b);
        return -1;
    }
    wb_printf(b, "candidate " NAMEF ": no report", NAMEA(p->candidate));
    return -1;
}

/* Why @r[best] won among the eligible ones. */
static void won_why(const struct coord_report *r,
                    size_t n,
                    const struct coord_policy *p,
                    size_t best,
                    struct wbuf *b)
{
    struct wbuf none;
    wb_init(&none, NULL, 0);
    const struct coord_report *w = &r[best];
    size_t eligible = 0, same_lsn = 0, same_prio = 0;
    for (size_t i = 0; i < n; i++) {
        if (ineligible(&r[i], p, &none) != 0) {
            continue;
        }
        eligible++;
        if (report_lsn(&r[i]) == report_lsn(w)) {
            same_lsn++;
            same_prio += r[i].failover_priority == w->failover_priority;
        }
    }
    char lsn[32];
    fmt_lsn(report_lsn(w), lsn, sizeof lsn);
    if (same_lsn == 1) {
        wb_printf(b, NAMEF ": highest lsn %s of %zu eligible", NAMEA(w->name), lsn, eligible);
    } else if (same_prio == 1) {
        wb_printf(b, NAMEF ": highest failover_priority %d of %zu at lsn %s (%zu eligible)",
                  NAMEA(w->name), w->failover_priority, same_lsn, lsn, eligible);
    } else {
        wb_printf(b,
                  NAMEF ": first by name of %zu at lsn %s with failover_priority %d (%zu "
                        "eligible)",
                  NAMEA(w->name), same_prio, lsn, w->failover_priority, eligible);
    }
}

int coord_pick(
    const struct coord_report *r, size_t n, const struct coord_policy *p, char *why, size_t whylen)
{
    RG_PRE(p != NULL && (r != NULL || n == 0));
    struct wbuf b, none;
    wb_init(&b, why, whylen);
    wb_init(&none, NULL, 0);
    if (n == 0) {
        wb_printf(&b, "no reports");
        return -1;
    }
    if (has_candidate(p)) {
        return pick_candidate(r, n, p, &b);
    }
    uint64_t sync_max = 0;
    if (!sync_quorum(r, n, p, &sync_max, &b)) {
        return -1;
    }
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (ineligible(&r[i], p, &none) == 0 && (best < 0 || ranks_before(&r[i], &r[best]))) {
            best = (int)i;
        }
    }
    if (best >= 0 && report_lsn(&r[best]) < sync_max) {
        char lsn[32], max[32];
        fmt_lsn(report_lsn(&r[best]), lsn, sizeof lsn);
        fmt_lsn(sync_max, max, sizeof max);
        wb_printf(&b,
                  "synchronous mode: the best eligible member " NAMEF " (lsn %s) is behind a "
                  "synchronous standby heard (lsn %s): no automatic failover",
                  NAMEA(r[best].name), lsn, max);
        return -1;
    }
    if (best >= 0) {
        won_why(r, n, p, (size_t)best, &b);
        return best;
    }
    for (size_t i = 0; i < n; i++) {
        wb_printf(&b, "%s" NAMEF ": ", i > 0 ? "; " : "", NAMEA(r[i].name));
        ineligible(&r[i], p, &b);
    }
    return -1;
}

/* ---- coord_reports_json ------------------------------------------------ */

cJSON *coord_reports_json(const struct coord_report *r, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    RG_ASSERT(arr != NULL);
    for (size_t i = 0; i < n; i++) {
        const struct coord_report *x = &r[i];
        cJSON *o = cJSON_CreateObject();
        RG_ASSERT(o != NULL);
        char name[STORE_NAME_SIZE];
        snprintf(name, sizeof name, NAMEF, NAMEA(x->name));
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddBoolToObject(o, "answered", x->answered);
        if (x->answered) {
            cJSON_AddBoolToObject(o, "running", x->running);
            cJSON_AddBoolToObject(o, "in_recovery", x->in_recovery);
            cJSON_AddBoolToObject(o, "nofailover", x->nofailover);
            cJSON_AddNumberToObject(o, "failover_priority", x->failover_priority);
            cJSON_AddNumberToObject(o, "timeline", x->timeline);
            store__json_add_u64(o, "lsn", x->lsn);
            cJSON_AddBoolToObject(o, "history_ok", x->history_ok);
            cJSON_AddBoolToObject(o, "clean_shutdown", x->clean_shutdown);
            if (x->clean_shutdown) {
                store__json_add_u64(o, "shutdown_lsn", x->shutdown_lsn);
            }
            cJSON_AddBoolToObject(o, "watchdog_failed", x->watchdog_failed);
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

bool coord_sync_mode_on(const struct store_state *s)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(s->config, "synchronous_mode");
    if (cJSON_IsBool(m)) {
        return cJSON_IsTrue(m);
    }
    return cJSON_IsString(m) &&
           (strcasecmp(m->valuestring, "on") == 0 || strcasecmp(m->valuestring, "true") == 0 ||
            strcasecmp(m->valuestring, "quorum") == 0);
}
