/*
 * coord: the holder's lease bookkeeping (DESIGN.md, "Leases", rule 1).
 *
 * The agent calls coord_lease_sent() with the boot-clock time t0 read just
 * before a renewal goes to the network, and coord_lease_applied() once the
 * renewal's result is known from the applied log. Only a successful renewal
 * this process sent moves the deadline, to max(deadline, t0 + ttl −
 * safety_margin) within one epoch; the first success under a newer epoch
 * starts a new deadline. Everything else (failures, unknown ids, renewals
 * of an older epoch, renewals forgotten because too many were in flight)
 * leaves it alone, which can only make the holder fence earlier: safe.
 *
 * Pure: all times are passed in (ms of CLOCK_BOOTTIME).
 */
#include "raft/coord.h"

#include <stdio.h>
#include <string.h>

void coord_lease_init(struct coord_lease *l, uint64_t safety_margin, uint64_t fence_budget)
{
    memset(l, 0, sizeof *l);
    l->safety_margin = safety_margin;
    l->fence_budget = fence_budget;
}

static void inflight_remove(struct coord_lease *l, size_t i)
{
    memmove(&l->inflight[i], &l->inflight[i + 1], (l->n_inflight - i - 1) * sizeof l->inflight[0]);
    l->n_inflight--;
}

static int inflight_find(const struct coord_lease *l, const char *id)
{
    for (size_t i = 0; i < l->n_inflight; i++) {
        if (strcmp(l->inflight[i].id, id) == 0) {
            return (int)i;
        }
    }
    return -1;
}

void coord_lease_sent(
    struct coord_lease *l, const char *id, uint64_t epoch, uint64_t ttl, uint64_t t0)
{
    /* The array is kept oldest first. */
    if (l->n_inflight == COORD_MAX_INFLIGHT) {
        inflight_remove(l, 0);
    }
    struct coord_inflight *e = &l->inflight[l->n_inflight++];
    snprintf(e->id, sizeof e->id, "%s", id);
    e->t0 = t0;
    e->ttl = ttl;
    e->epoch = epoch;
}

bool coord_lease_applied(struct coord_lease *l, const char *id, int code)
{
    int i = inflight_find(l, id);
    if (i < 0) {
        return false;
    }
    struct coord_inflight e = l->inflight[i];
    inflight_remove(l, (size_t)i);
    if (code != 0 || e.epoch == 0 || e.epoch < l->epoch) {
        return false;
    }
    /* t0 + ttl − safety_margin, saturating at both ends. A deadline that
     * would leave no time before fencing is no lease at all. */
    uint64_t end = e.t0 > UINT64_MAX - e.ttl ? UINT64_MAX : e.t0 + e.ttl;
    uint64_t cand = end > l->safety_margin ? end - l->safety_margin : 0;
    if (cand <= l->fence_budget) {
        return false;
    }
    if (e.epoch > l->epoch) {
        l->epoch = e.epoch;
        l->deadline = cand;
        return true;
    }
    if (cand > l->deadline) {
        l->deadline = cand;
        return true;
    }
    return false;
}

void coord_lease_forget(struct coord_lease *l, const char *id)
{
    int i = inflight_find(l, id);
    if (i >= 0) {
        inflight_remove(l, (size_t)i);
    }
}

/* Renewals still in flight are forgotten too: they were sent under a lease
 * that is gone and must never revive it. */
void coord_lease_drop(struct coord_lease *l)
{
    l->deadline = 0;
    l->epoch = 0;
    l->n_inflight = 0;
}

bool coord_lease_valid(const struct coord_lease *l, uint64_t now)
{
    return l->deadline > l->fence_budget && now < l->deadline - l->fence_budget;
}

uint64_t coord_lease_fence_at(const struct coord_lease *l)
{
    /* applied() never sets a deadline <= fence_budget, so this is > 0. */
    return l->deadline > l->fence_budget ? l->deadline - l->fence_budget : 0;
}
