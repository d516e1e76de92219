/*
 * ha_sync: the next step of synchronous replication on the primary (see
 * ha_sync.h for the rule every step keeps). Pure.
 *
 * The target: D, the synchronous standbys we want — FIRST mode the ones
 * already in the record or the configuration first (Patroni's sticky
 * choice), then by sync_priority and name, up to synchronous_node_count;
 * quorum mode every eligible standby, with k = min(synchronous_node_count,
 * |D|). Strict mode without an eligible standby keeps the record's members
 * (commits wait for them), or with none uses the placeholder.
 */
#include "agent/ha_sync.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool ha_sync_has(const struct ha_sync_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static void add(struct ha_sync_set *s, const char *name)
{
    if (s->n < HA_SYNC_MAX && !ha_sync_has(s, name) && strlen(name) < HA_SYNC_NAME_SIZE) {
        snprintf(s->names[s->n++], HA_SYNC_NAME_SIZE, "%s", name);
    }
}

static bool subset(const struct ha_sync_set *a, const struct ha_sync_set *b)
{
    for (size_t i = 0; i < a->n; i++) {
        if (!ha_sync_has(b, a->names[i])) {
            return false;
        }
    }
    return true;
}

bool ha_sync_equal(const struct ha_sync_set *a, const struct ha_sync_set *b)
{
    return a->n == b->n && a->k == b->k && a->any == b->any && subset(a, b);
}

static bool same_members(const struct ha_sync_set *a, const struct ha_sync_set *b)
{
    return a->n == b->n && a->k == b->k && subset(a, b);
}

bool ha_sync_satisfies(const struct ha_sync_set *c, const struct ha_sync_set *r)
{
    size_t outside = 0;
    if (r->k == 0) {
        return true; /* a record that promises nothing */
    }
    for (size_t i = 0; i < c->n; i++) {
        outside += !ha_sync_has(r, c->names[i]);
    }
    return (long)c->k - (long)outside >= (long)r->k;
}

void ha_sync_render(const struct ha_sync_set *c, char *buf, size_t len)
{
    if (len == 0) {
        return;
    }
    buf[0] = '\0';
    if (c->n == 0) {
        return;
    }
    size_t off = (size_t)snprintf(buf, len, "%s %u (", c->any ? "ANY" : "FIRST", c->k);
    for (size_t i = 0; i < c->n && off < len; i++) {
        off += (size_t)snprintf(buf + off, len - off, "%s\"%s\"", i > 0 ? "," : "", c->names[i]);
    }
    if (off < len) {
        snprintf(buf + off, len - off, ")");
    }
}

void ha_sync_join(const struct ha_sync_set *s, char *buf, size_t len)
{
    size_t off = 0;
    if (len == 0) {
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < s->n && off < len; i++) {
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i > 0 ? "," : "", s->names[i]);
    }
}

void ha_sync_split(const char *text, struct ha_sync_set *s)
{
    char name[HA_SYNC_NAME_SIZE];
    s->n = 0;
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t l = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (l > 0 && l < sizeof name) {
            memcpy(name, p, l);
            name[l] = '\0';
            add(s, name);
        }
        p = comma != NULL ? comma + 1 : NULL;
    }
}

bool ha_sync_mode_parse(const cJSON *v, enum ha_sync_mode *mode)
{
    if (cJSON_IsBool(v)) {
        *mode = cJSON_IsTrue(v) ? HA_SYNC_ON : HA_SYNC_OFF;
        return true;
    }
    if (!cJSON_IsString(v)) {
        return false;
    }
    static const struct {
        const char *text;
        enum ha_sync_mode mode;
    } words[] = {{"on", HA_SYNC_ON},
                 {"true", HA_SYNC_ON},
                 {"off", HA_SYNC_OFF},
                 {"false", HA_SYNC_OFF},
                 {"quorum", HA_SYNC_QUORUM}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcasecmp(v->valuestring, words[i].text) == 0) {
            *mode = words[i].mode;
            return true;
        }
    }
    return false;
}

/* --- the plan ------------------------------------------------------------- */

static void say(struct ha_sync_plan *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct ha_sync_plan *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
}

static const struct ha_sync_standby *standby(const struct ha_sync_facts *f, const char *name)
{
    for (size_t i = 0; i < f->n_sb; i++) {
        if (strcmp(f->sb[i].name, name) == 0) {
            return &f->sb[i];
        }
    }
    return NULL;
}

static bool eligible(const struct ha_sync_facts *f, const char *name)
{
    const struct ha_sync_standby *s = standby(f, name);
    return s != NULL && s->eligible;
}

/* The best eligible standby not in @d yet: priority, then name. */
static const struct ha_sync_standby *next_best(const struct ha_sync_facts *f,
                                               const struct ha_sync_set *d)
{
    const struct ha_sync_standby *best = NULL;
    for (size_t i = 0; i < f->n_sb; i++) {
        const struct ha_sync_standby *s = &f->sb[i];
        if (!s->eligible || ha_sync_has(d, s->name)) {
            continue;
        }
        if (best == NULL || s->priority > best->priority ||
            (s->priority == best->priority && strcmp(s->name, best->name) < 0)) {
            best = s;
        }
    }
    return best;
}

/* D (into @rec with its k) and the configuration that goes with it. */
static void target(const struct ha_sync_facts *f,
                   const struct ha_sync_set *r,
                   struct ha_sync_set *rec,
                   struct ha_sync_set *cfg)
{
    bool quorum = f->mode == HA_SYNC_QUORUM;
    unsigned want = f->node_count > 0 ? f->node_count : 1;
    memset(rec, 0, sizeof *rec);
    /* Sticky: the standbys already in the record, then in the configuration. */
    if (!quorum) {
        for (size_t i = 0; i < r->n && rec->n < want; i++) {
            if (eligible(f, r->names[i])) {
                add(rec, r->names[i]);
            }
        }
        for (size_t i = 0; i < f->config.n && rec->n < want; i++) {
            if (eligible(f, f->config.names[i])) {
                add(rec, f->config.names[i]);
            }
        }
    }
    for (const struct ha_sync_standby *s;
         (quorum || rec->n < want) && rec->n < HA_SYNC_MAX && (s = next_best(f, rec)) != NULL;) {
        add(rec, s->name);
    }
    if (rec->n == 0 && f->strict && r->n > 0) {
        /* Strict: keep waiting for the last synchronous standbys. */
        *rec = *r;
        rec->any = false;
    }
    if (quorum) {
        unsigned k = want;
        if (k > rec->n) {
            k = (unsigned)rec->n;
        }
        rec->k = k;
    } else {
        rec->k = (unsigned)rec->n;
    }
    *cfg = *rec;
    cfg->any = quorum;
    if (rec->n == 0 && f->strict) {
        memset(cfg, 0, sizeof *cfg);
        add(cfg, HA_SYNC_PLACEHOLDER);
        cfg->k = 1;
        cfg->any = quorum;
    }
}

static void plan_record(struct ha_sync_plan *out, const struct ha_sync_set *s)
{
    out->step = HA_SYNC_RECORD;
    out->set = *s;
    out->set.any = false;
}

static void plan_config(const struct ha_sync_facts *f,
                        const struct ha_sync_set *r,
                        const struct ha_sync_set *c,
                        struct ha_sync_plan *out)
{
    char text[256];
    if (!ha_sync_satisfies(c, r)) {
        /* Cannot happen after the record steps; never weaken PostgreSQL's
         * configuration under a record it would break. */
        struct ha_sync_set none;
        memset(&none, 0, sizeof none);
        plan_record(out, &none);
        say(out, "the configuration wanted does not keep the sync record: emptying the record");
        return;
    }
    (void)f;
    ha_sync_render(c, text, sizeof text);
    out->step = HA_SYNC_CONFIG;
    out->set = *c;
    say(out, "synchronous_standby_names: '%s'", text);
}

/* The members of @a not in @b, for messages. */
static void
diff_text(const struct ha_sync_set *a, const struct ha_sync_set *b, char *buf, size_t len)
{
    struct ha_sync_set d;
    memset(&d, 0, sizeof d);
    for (size_t i = 0; i < a->n; i++) {
        if (!ha_sync_has(b, a->names[i])) {
            add(&d, a->names[i]);
        }
    }
    ha_sync_join(&d, buf, len);
}

static bool caught_up(const struct ha_sync_facts *f, const char *name, bool need_sync_state)
{
    const struct ha_sync_standby *s = standby(f, name);
    return s != NULL && s->reporting && (!need_sync_state || s->sync_ok) &&
           s->flush >= f->adopted_lsn;
}

static void plan_first(const struct ha_sync_facts *f,
                       const struct ha_sync_set *r,
                       const struct ha_sync_set *trec,
                       const struct ha_sync_set *tcfg,
                       struct ha_sync_plan *out)
{
    char names[HA_SYNC_MAX * HA_SYNC_NAME_SIZE];
    struct ha_sync_set next;
    if (r->n > 0 && r->k != r->n) {
        memset(&next, 0, sizeof next);
        plan_record(out, &next);
        say(out, "sync record of quorum mode (k %u of %zu): emptying it for FIRST mode", r->k,
            r->n);
        return;
    }
    if (!subset(r, trec)) {
        /* Remove from the record first: an all-of record stays true for
         * any subset. */
        memset(&next, 0, sizeof next);
        for (size_t i = 0; i < r->n; i++) {
            if (ha_sync_has(trec, r->names[i])) {
                add(&next, r->names[i]);
            }
        }
        next.k = (unsigned)next.n;
        plan_record(out, &next);
        diff_text(r, trec, names, sizeof names);
        say(out, "removing %s from the sync record (before synchronous_standby_names)", names);
        return;
    }
    if (!ha_sync_equal(&f->config, tcfg)) {
        plan_config(f, r, tcfg, out);
        return;
    }
    if (!f->adopted) {
        out->soon = true;
        say(out, "waiting for PostgreSQL to reload synchronous_standby_names");
        return;
    }
    if (same_members(r, trec)) {
        say(out, "in line");
        return;
    }
    next = *r;
    for (size_t i = 0; i < trec->n; i++) {
        if (!ha_sync_has(r, trec->names[i]) && caught_up(f, trec->names[i], true)) {
            add(&next, trec->names[i]);
        }
    }
    next.k = (unsigned)next.n;
    diff_text(trec, r, names, sizeof names);
    if (next.n == r->n) {
        out->soon = true;
        say(out, "waiting for %s to be synchronous and flush past the LSN of the change", names);
        return;
    }
    plan_record(out, &next);
    diff_text(&next, r, names, sizeof names);
    say(out, "adding %s to the sync record: synchronous and caught up", names);
}

static void plan_quorum(const struct ha_sync_facts *f,
                        const struct ha_sync_set *r,
                        const struct ha_sync_set *trec,
                        const struct ha_sync_set *tcfg,
                        struct ha_sync_plan *out)
{
    char names[HA_SYNC_MAX * HA_SYNC_NAME_SIZE];
    struct ha_sync_set next;
    if (r->k > trec->k || !subset(trec, r)) {
        /* Entering the record first (and lowering k) only asks the
         * coordinator to hear from more members: always true. */
        next = *r;
        for (size_t i = 0; i < trec->n; i++) {
            add(&next, trec->names[i]);
        }
        next.k = r->k < trec->k ? r->k : trec->k;
        plan_record(out, &next);
        diff_text(trec, r, names, sizeof names);
        say(out, "sync record first: adding [%s], k %u", names, next.k);
        return;
    }
    if (!ha_sync_equal(&f->config, tcfg)) {
        plan_config(f, r, tcfg, out);
        return;
    }
    if (!f->adopted) {
        out->soon = true;
        say(out, "waiting for PostgreSQL to reload synchronous_standby_names");
        return;
    }
    if (same_members(r, trec)) {
        say(out, "in line");
        return;
    }
    /* Leaving the record (or raising k) last: every commit acknowledged so
     * far must be on k members of the new set. */
    size_t outside = 0, have = 0;
    for (size_t i = 0; i < r->n; i++) {
        outside += !ha_sync_has(trec, r->names[i]);
    }
    for (size_t i = 0; i < trec->n; i++) {
        have += caught_up(f, trec->names[i], false);
    }
    if ((long)r->k - (long)outside >= (long)trec->k || have >= trec->k) {
        plan_record(out, trec);
        diff_text(r, trec, names, sizeof names);
        say(out, "sync record last: k %u%s%s", trec->k, names[0] ? ", removing " : "", names);
        return;
    }
    out->soon = true;
    say(out, "waiting for %u of the quorum to flush past the LSN of the change (%zu have)", trec->k,
        have);
}

void ha_sync_plan(const struct ha_sync_facts *f, struct ha_sync_plan *out)
{
    struct ha_sync_set r, trec, tcfg;
    memset(out, 0, sizeof *out);
    out->step = HA_SYNC_IDLE;
    if (f->mode == HA_SYNC_OFF) {
        say(out, "synchronous_mode is off");
        return;
    }
    memset(&r, 0, sizeof r);
    if (!f->record_mine) {
        plan_record(out, &r);
        say(out, "taking over the sync record (empty: nobody is synchronous yet)");
        return;
    }
    r = f->record;
    r.any = false;
    target(f, &r, &trec, &tcfg);
    if (f->mode == HA_SYNC_QUORUM) {
        plan_quorum(f, &r, &trec, &tcfg, out);
    } else {
        plan_first(f, &r, &trec, &tcfg, out);
    }
}
