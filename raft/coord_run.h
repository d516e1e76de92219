/*
 * coord_run: the coordinator at run time. On whichever node leads Raft (an
 * agent or a witness) it watches the lease and, when DESIGN.md's rules say
 * so, grants it: to the bootstrap claimant, or after an expiry, a release or
 * an unconfirmed handover to the best member by coord_pick, from status
 * reports it gathers over the peer channel from every data member in
 * parallel ("status" requests, answered by the agents). Every decision and
 * its reason is logged and recorded in the grant (lease_reports).
 *
 * It is PostgreSQL-agnostic: LSNs and timelines are numbers in the reports.
 */
#ifndef REGENT_COORD_RUN_H
#define REGENT_COORD_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "raft/store.h"

struct coord_run_options {
    unsigned ttl_ms;                /* ttl of a granted lease */
    unsigned switchover_timeout_ms; /* an unconfirmed handover is grantable after this */
    uint64_t maximum_lag;           /* maximum_lag_on_failover, bytes */
    bool check_timeline;
    unsigned collect_timeout_ms; /* status reports: ~200 ms */
    unsigned tick_ms;            /* re-evaluation period (also on every store event) */
};

struct coord_run;

int coord_run_start(struct coord_run **out,
                    uv_loop_t *loop,
                    struct store *s,
                    const struct coord_run_options *o);
/* Stop; @cb(@arg) once its handles are closed and nothing of it is in flight. */
void coord_run_stop(struct coord_run *c, void (*cb)(void *arg), void *arg);
/* The store changed: look again now (cheap when nothing is due). */
void coord_run_kick(struct coord_run *c);
void coord_run_set_options(struct coord_run *c, const struct coord_run_options *o);

/* The report of one data member, parsed from its "status" answer (pure;
 * exposed for tests). @reply NULL: no answer. */
struct coord_report;
void coord_report_parse(const char *name, const cJSON *reply, struct coord_report *r);

#endif
