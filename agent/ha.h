/*
 * ha: the member's HA decisions — pure. Facts about the local PostgreSQL,
 * this agent's lease and the cluster store go in; the one next action comes
 * out, with its reason. The runtime (ha_run.c) gathers the facts, carries
 * the action out and asks again; it never decides anything itself.
 *
 * The safety rules of DESIGN.md that live here:
 * - PostgreSQL runs as a primary only while lease_mine (a renewal of ours
 *   under the current epoch has applied and its deadline has not passed):
 *   a grant alone is not enough (rule 2), so the grantee waits for its
 *   first renewal before it promotes or starts as a primary.
 * - A primary without the lease is demoted at once (the fence timer of
 *   ha_lease.c kills it anyway when the deadline passes).
 * - A former primary never follows a new primary without a timeline check
 *   (REJOIN): follow, rewind, re-clone or stay stopped — never silently.
 * The one exception to the first rule is a cluster that was never
 * initialized: an already running primary is adopted while it claims the
 * bootstrap, since no other primary can exist yet.
 *
 * In pause (maintenance mode) PostgreSQL is neither started, stopped,
 * demoted, rewound nor cloned automatically; what the operator asked for
 * (switchover, restart, reinitialize, a new configuration) still happens,
 * and so does the promotion of a member the operator failed over to.
 */
#ifndef REGENT_HA_H
#define REGENT_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ha_pg {
    HA_PG_UNKNOWN,     /* not inspected yet */
    HA_PG_NO_DATA,     /* the data directory is missing or empty */
    HA_PG_STOPPED,     /* initialized, no postmaster */
    HA_PG_RUNNING,     /* the postmaster answers queries */
    HA_PG_UNREACHABLE, /* a postmaster runs but does not answer (starting, recovering) */
};

struct ha_facts {
    const char *me;
    bool nofailover;
    bool watchdog_failed; /* watchdog.mode required, and the device or timing is unusable */
    /* PostgreSQL */
    enum ha_pg pg;
    bool in_recovery;      /* RUNNING: a standby */
    bool standby_signal;   /* the data directory is set up as a standby */
    bool was_primary;      /* controldata says a primary's state (in production, shut down) */
    const char *sysid;     /* of the data directory, "" when none */
    const char *following; /* the member our standby configuration streams from, or NULL */
    bool refused;          /* the last REJOIN concluded that we must stay stopped */
    /* this agent's lease */
    bool lease_mine;    /* a valid deadline of ours under the store's current epoch */
    bool lease_granted; /* the store names us holder, not released */
    /* the cluster store */
    bool store_ready;       /* a Raft leader is known and our replica is caught up */
    const char *init_sysid; /* NULL: the cluster was never initialized */
    const char *init_claim; /* "" when nobody claims the bootstrap */
    const char *holder;     /* holder of a valid lease, or NULL */
    bool holder_running;    /* the holder's record says its PostgreSQL runs as a primary */
    const char *clone_from; /* the member to clone from (clonefrom tag or the holder), or NULL */
    const char *upstream;   /* whom a replica streams from: the replicatefrom member while
                             * it runs, else the holder; NULL when neither */
    /* the operator */
    bool paused;            /* maintenance mode: nothing automatic happens to PostgreSQL */
    const char *switchover; /* a switchover away from us is due: its candidate, "" for the
                             * best one; NULL when none is (see ha_switch.c) */
    bool failover_stale;    /* the failover record cannot be ours to carry out: clear it */
    bool restart_requested; /* an operator's restart is due (POST /restart) */
    bool reinit_requested;  /* an operator's reinitialize is due (POST /reinitialize) */
    bool reconfigure;       /* PostgreSQL runs with other parameters than it should */
    bool outgrown;          /* a standby running with lower hot-standby settings than the
                             * primary's: PostgreSQL cannot replay past that, restart */
    bool sync_unready;      /* synchronous mode: this standby does not run yet with the
                             * synchronous_standby_names it must promote with */
};

enum ha_act {
    HA_WAIT,           /* nothing to do now */
    HA_CLAIM,          /* propose init_claim */
    HA_INITDB,         /* initdb, configure as a primary, start, users, then initialize */
    HA_SET_INITIALIZE, /* record the system identifier (init_set) */
    HA_CLONE,          /* pg_basebackup from target, configure as its standby, start */
    HA_START_PRIMARY,  /* configure as a primary and start (a crash restart in place) */
    HA_START_REPLICA,  /* configure as a standby of target (may be NULL) and start */
    HA_PROMOTE,        /* promote the running standby */
    HA_FOLLOW,         /* point the running standby at target and reload */
    HA_DEMOTE,         /* immediate stop of a primary without the lease */
    HA_REJOIN,         /* a former primary: timeline check against target, then
                          follow/rewind/re-clone/refuse */
    HA_EXIT,     /* a condition Patroni exits on (another cluster's data, an orphan standby) */
    HA_HANDOVER, /* switchover: checkpoint, clean stop, handover(target or the best
                    candidate, shutdown checkpoint) */
    HA_RELEASE,  /* a manual failover while our PostgreSQL is down: release the lease */
    HA_CLEAR_FAILOVER, /* drop a failover record nobody will carry out */
    HA_RESTART,        /* the operator's restart: stop, start in the same role */
    HA_REINIT,         /* the operator's reinitialize: stop, wipe (the next cycle clones) */
    HA_RECONFIGURE,    /* write the configuration and reload PostgreSQL */
};

struct ha_action {
    enum ha_act act;
    const char *target; /* member name, borrowed from the facts */
    char why[256];
};

void ha_decide(const struct ha_facts *f, struct ha_action *out);
const char *ha_act_name(enum ha_act a);

#endif
