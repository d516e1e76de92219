/*
 * ha_sync: synchronous replication on the primary — the pure part. Facts
 * in (the mode, the store's sync record, the synchronous_standby_names we
 * asked PostgreSQL for and whether it runs with it, pg_stat_replication),
 * one next step out. The runtime (ha_sync_run.c) gathers the facts, carries
 * the step out and asks again; it never decides anything itself.
 *
 * Both the store's `sync` record and synchronous_standby_names are read as
 * a set and a count (DESIGN.md, "Synchronous mode"):
 *   record (S, k): every acknowledged commit is flushed on at least k
 *     members of S (FIRST mode: k = |S|, all of them; quorum: the k of
 *     ANY k). The coordinator grants only to a member of S, after hearing
 *     from |S| - k + 1 of them, to the one with the highest LSN heard; k = 0
 *     means no automatic failover at all.
 *   configuration (P, m): PostgreSQL acknowledges a commit once m members of
 *     P flushed it (FIRST m (P) or ANY m (P); "" is m = 0; the placeholder of
 *     strict mode is a P no standby matches, m = 1).
 * Configuration (P, m) keeps record (S, k) true for new commits when
 * m - |P \ S| >= k. A step is taken only when it keeps the record true:
 *   - a configuration change only when the new one satisfies the record in
 *     force;
 *   - a record change only when PostgreSQL runs with (has reloaded) a
 *     configuration that satisfies the new record, and every commit
 *     acknowledged before is covered: by the old record (k - |S \ S'| >= k'),
 *     or because k' members of S' reported a flush position at least the
 *     primary's flush LSN read after PostgreSQL took the configuration.
 * FIRST mode adds a standby to synchronous_standby_names first, to the
 * record once it is synchronous and caught up, and removes it from the
 * record first; quorum mode adds to the record first and removes from it
 * last — both orders fall out of the rule above.
 */
#ifndef REGENT_HA_SYNC_H
#define REGENT_HA_SYNC_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HA_SYNC_MAX       16 /* members of a synchronous set */
#define HA_SYNC_NAME_SIZE 64 /* STORE_NAME_SIZE */
/* The strict-mode name no standby can have (member names have no spaces):
 * with it alone in synchronous_standby_names every commit waits. */
#define HA_SYNC_PLACEHOLDER "regent no synchronous standby"

enum ha_sync_mode { HA_SYNC_OFF, HA_SYNC_ON, HA_SYNC_QUORUM };

/* A set of member names and a count: a record (S, k) or a configuration
 * (P, m). @any: rendered ANY m (…), else FIRST m (…). */
struct ha_sync_set {
    char names[HA_SYNC_MAX][HA_SYNC_NAME_SIZE];
    size_t n;
    unsigned k;
    bool any;
};

/* One other member as the primary sees it. */
struct ha_sync_standby {
    const char *name;
    bool eligible;  /* streams from us, its record is fresh, not nosync, sync_priority > 0 */
    int priority;   /* sync_priority (default 1): higher is preferred */
    bool reporting; /* has a pg_stat_replication row */
    bool sync_ok;   /* sync_state says it acknowledges ("sync" or "quorum") */
    uint64_t flush; /* its flush_lsn there */
};

struct ha_sync_facts {
    enum ha_sync_mode mode;
    bool strict;
    unsigned node_count; /* synchronous_node_count, >= 1 */
    /* the store's sync record: valid = it names us as leader */
    bool record_mine;
    struct ha_sync_set record;
    /* what we asked PostgreSQL for, and whether it runs with it */
    struct ha_sync_set config;
    bool adopted;         /* current_setting() equals it */
    uint64_t adopted_lsn; /* our flush LSN read once it did */
    const struct ha_sync_standby *sb;
    size_t n_sb;
};

enum ha_sync_step {
    HA_SYNC_IDLE,   /* nothing to do now (in line, or waiting for a standby/a reload) */
    HA_SYNC_RECORD, /* propose the sync record @set (leader: us) */
    HA_SYNC_CONFIG, /* write synchronous_standby_names for @set and reload */
};

struct ha_sync_plan {
    enum ha_sync_step step;
    struct ha_sync_set set;
    /* IDLE, waiting for what takes milliseconds (a reload, a standby's
     * flush): look again soon rather than a loop_wait later. */
    bool soon;
    char why[256];
};

void ha_sync_plan(const struct ha_sync_facts *f, struct ha_sync_plan *out);

/* synchronous_standby_names for @c: "" for none, else FIRST m ("a","b") or
 * ANY m ("a","b"), names double-quoted (member names may hold '.' and '-'). */
void ha_sync_render(const struct ha_sync_set *c, char *buf, size_t len);

/* Parse "synchronous_mode" of a dynamic configuration (true/false, "on",
 * "off", "true", "false", "quorum"; case-insensitive); false when it is none
 * of those, with *mode untouched. */
bool ha_sync_mode_parse(const cJSON *v, enum ha_sync_mode *mode);

/* The record as JSON text values: names joined by ','. */
void ha_sync_join(const struct ha_sync_set *s, char *buf, size_t len);
/* Split "a,b" into @s (names that fit; k left alone). */
void ha_sync_split(const char *text, struct ha_sync_set *s);

bool ha_sync_has(const struct ha_sync_set *s, const char *name);
bool ha_sync_equal(const struct ha_sync_set *a, const struct ha_sync_set *b);
/* m - |P \ S| >= k (or k = 0): configuration @c keeps record @r true for new
 * commits. */
bool ha_sync_satisfies(const struct ha_sync_set *c, const struct ha_sync_set *r);

#endif
