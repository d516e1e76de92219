/*
 * coord_pick: the coordinator's decisions — pure (facts in, decision out; no
 * clock, disk or network).
 *
 * The coordinator runs on whichever node leads Raft (an agent or a witness).
 * Every loop iteration it asks coord_next() what the lease needs. When a
 * failover is due it collects one status report from every data member over
 * the peer endpoint (the caller does that I/O), asks coord_pick() whom to
 * grant the lease to, and proposes a grant carrying coord_reports_json().
 *
 * coord_next() evaluates the same conditions store_fsm applies to a grant
 * (docs/internals/store.md, "Apply"), so that a grant it asks for is never
 * refused for a reason it could see: a grant proposed right after
 * COORD_GRANT_CLAIMANT or COORD_FAILOVER, with the state's epoch and the same
 * switchover_timeout, applies unless the state changed in between. It is
 * stricter than the state machine in two places, on purpose:
 *  - an unconfirmed handover waits for renewed_at + switchover_timeout even
 *    when the old holder's expires_at passed earlier (the switchover target
 *    gets its whole timeout, DESIGN.md "Switchover");
 *  - a claimant whose lease expired while paused (fencing=false) keeps its
 *    claim (COORD_PAUSED): nothing automatic happens in pause.
 */
#ifndef REGENT_COORD_PICK_H
#define REGENT_COORD_PICK_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/store_fsm.h"

enum coord_step {
    COORD_IDLE,           /* nothing to do (the lease is valid, or nobody can be granted yet) */
    COORD_GRANT_CLAIMANT, /* bootstrap: grant the lease to state->init_claim (no reports needed) */
    COORD_CLEAR_CLAIM,    /* the claimant's lease ran out before it wrote initialize: init_clear */
    COORD_FAILOVER,       /* collect reports and grant to coord_pick's choice (exclude: *exclude) */
    COORD_PAUSED, /* expired but the holder's last renewal said fencing=false: never grant */
};

const char *coord_step_name(enum coord_step step);

/*
 * What the lease needs at the leader's cluster time @now_ct.
 * @switchover_timeout (ms): an unconfirmed handover becomes grantable at
 * renewed_at + switchover_timeout; pass the same value in the grant command.
 * Writes a short human reason into @why (@whylen bytes, may be 0) and, for
 * COORD_FAILOVER, the member to exclude from the candidates into @exclude
 * (STORE_NAME_SIZE bytes): the holder whose lease expired, was released or
 * whose handover went unconfirmed; "" when none (never held). @exclude is ""
 * for every other step.
 *
 * Before initialize (init_sysid NULL): no claim → IDLE; the claimant holds a
 * valid lease → IDLE (it is bootstrapping); the claimant was granted a lease
 * (init_claim_epoch > 0) that is no longer valid → CLEAR_CLAIM (PAUSED if it
 * expired with fencing=false); a claim not granted yet → GRANT_CLAIMANT when
 * a grant would apply (not for a witness claimant: IDLE). After initialize:
 * never granted, released, expired with fencing, or an unconfirmed handover
 * past its timeout → FAILOVER; valid or handover pending → IDLE; expired
 * with fencing=false → PAUSED.
 */
enum coord_step coord_next(const struct store_state *s,
                           uint64_t now_ct,
                           uint64_t switchover_timeout,
                           char *exclude,
                           char *why,
                           size_t whylen);

/* One data member's answer (or non-answer) to the coordinator's status request. */
struct coord_report {
    char name[STORE_NAME_SIZE];
    bool answered;         /* false: no answer within the collection timeout */
    bool running;          /* its PostgreSQL accepts connections */
    bool in_recovery;      /* running as a replica */
    bool nofailover;       /* tag nofailover, or failover_priority <= 0 */
    int failover_priority; /* default 1; <= 0 counts as nofailover */
    unsigned timeline;     /* its current timeline */
    uint64_t lsn;          /* max(received, replayed) */
    bool history_ok;       /* its timeline history continues the last primary's */
    bool clean_shutdown;   /* a former primary shut down cleanly (switchover) */
    uint64_t shutdown_lsn; /* its shutdown checkpoint when clean_shutdown */
    bool watchdog_failed;  /* watchdog required but unusable */
};

struct coord_policy {
    uint64_t primary_lsn;      /* the last primary's last reported LSN (the lease record's lsn) */
    uint64_t maximum_lag;      /* maximum_lag_on_failover, bytes */
    bool check_timeline;       /* require timeline >= cluster_timeline */
    unsigned cluster_timeline; /* from the history record (last tl + 1), 0 unknown */
    const char *exclude;       /* borrowed: the old holder, or "" / NULL */
    const char *candidate;     /* borrowed: a requested target, or NULL / "" (then anyone) */
    /* Synchronous mode (DESIGN.md): the store's sync record (S, k) of the
     * old holder — every acknowledged commit is on k members of S. Only
     * members of S may win; with k < |S| (quorum) only after reports from
     * |S| - k + 1 of them, and only a member holding the highest LSN of
     * those reports. k = 0 or S empty: no automatic failover. */
    bool sync_mode;
    const char *const *sync; /* borrowed names */
    size_t n_sync;
    unsigned sync_k;
};

/*
 * Index into @r of the member to grant, or -1 when nobody is eligible.
 *
 * Eligible: answered; not @p->exclude; not nofailover (nor failover_priority
 * <= 0); no watchdog failure; running as a replica, or a clean shutdown and
 * not running; history_ok; lag (primary_lsn − its LSN, 0 when ahead) at most
 * maximum_lag; with check_timeline and a known cluster_timeline, timeline >=
 * cluster_timeline. Its LSN is lsn, or shutdown_lsn for a clean shutdown
 * that is not running as a replica. With @p->candidate set only that member
 * may win, and only if eligible.
 *
 * In synchronous mode also a member of @p->sync (a clean shutdown that is
 * not running — the former primary of a switchover — excepted), see
 * struct coord_policy.
 *
 * Rank: highest LSN, then highest failover_priority, then name (bytewise,
 * lowest wins): the same reports always give the same answer.
 *
 * @why (may be NULL with @whylen 0): for -1 one line naming every member and
 * why it is not eligible ("node2: nofailover; node3: lag 5242880 > 1048576
 * bytes; node4: no answer"), or why the candidate is not ("candidate node3:
 * not running"); for a pick why it won ("node3: highest lsn 0/5000060 of 2
 * eligible"). Truncated to @whylen.
 */
int coord_pick(
    const struct coord_report *r, size_t n, const struct coord_policy *p, char *why, size_t whylen);

/*
 * The reports as the JSON a grant command records (store lease_reports,
 * history): an array of one object per report, in order. LSNs are decimal
 * strings (64-bit, as everywhere in the store). A report without an answer
 * is {"name":…, "answered":false}. Caller cJSON_Delete()s it; never NULL.
 */
cJSON *coord_reports_json(const struct coord_report *r, size_t n);

/* Is synchronous_mode on (true, "on", "true" or "quorum", any case) in the
 * dynamic configuration of @s? agent/ha_sync.c parses it the same way. */
bool coord_sync_mode_on(const struct store_state *s);

#endif
