/*
 * coord: the coordinator's decisions and the holder's lease bookkeeping —
 * pure (facts in, decisions out; no clock, disk or network).
 *
 * Lease bookkeeping (DESIGN.md, "Leases", rule 1): the holder records the
 * boot-clock time t0 just before each renewal is handed to the network
 * (coord_lease_sent). When that renewal applies successfully
 * (coord_lease_applied), deadline := max(deadline, t0 + ttl − safety_margin)
 * with the ttl that renewal carried. A renewal this process did not send (an
 * earlier lifetime, or one absorbed into a snapshot) never extends the
 * deadline; neither does a failed one. Renewals are never retried: each
 * attempt has its own id and its own t0.
 *
 * Fencing is due at deadline − fence_budget (coord_lease_fence_at).
 */
#ifndef REGENT_COORD_H
#define REGENT_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/store_fsm.h"

#define COORD_MAX_INFLIGHT 64

struct coord_inflight {
    char id[STORE_REQ_ID_SIZE];
    uint64_t t0;  /* boot clock, ms */
    uint64_t ttl; /* ms */
    uint64_t epoch;
};

struct coord_lease {
    uint64_t safety_margin; /* ms */
    uint64_t fence_budget;  /* ms */
    uint64_t epoch;         /* the epoch the deadline belongs to (0: none) */
    uint64_t deadline;      /* boot clock, ms; 0 = no valid lease */
    struct coord_inflight inflight[COORD_MAX_INFLIGHT];
    size_t n_inflight;
};

void coord_lease_init(struct coord_lease *l, uint64_t safety_margin, uint64_t fence_budget);

/* A renewal with @id, @ttl, @epoch is about to be sent; @t0 is read just
 * before this call. When COORD_MAX_INFLIGHT are outstanding the oldest is
 * forgotten (it can then never extend the deadline: safe). */
void coord_lease_sent(
    struct coord_lease *l, const char *id, uint64_t epoch, uint64_t ttl, uint64_t t0);

/* The renewal @id applied with @code (0 = success). Returns true when the
 * deadline moved. An unknown id changes nothing. A success under a newer
 * epoch than l->epoch starts a fresh deadline for that epoch. */
bool coord_lease_applied(struct coord_lease *l, const char *id, int code);

/* Forget a renewal whose outcome will never be known (e.g. shutdown). */
void coord_lease_forget(struct coord_lease *l, const char *id);

/* The lease is lost (refused renewal, another epoch granted): deadline 0,
 * epoch 0, and every renewal still in flight is forgotten (none of them may
 * revive the lost lease). */
void coord_lease_drop(struct coord_lease *l);

/* True while @now < deadline − fence_budget. */
bool coord_lease_valid(const struct coord_lease *l, uint64_t now);

/* deadline − fence_budget, or 0 when there is no deadline. */
uint64_t coord_lease_fence_at(const struct coord_lease *l);

#endif
