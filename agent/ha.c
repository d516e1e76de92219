/*
 * ha: the decision table (see ha.h). Read top to bottom: the first rule
 * that applies gives the action. Every branch writes its reason, which the
 * runtime logs once per change and shows in /patroni.
 */
#include "agent/ha.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const act_names[] = {
    [HA_WAIT] = "wait",
    [HA_CLAIM] = "claim the bootstrap",
    [HA_INITDB] = "initdb",
    [HA_SET_INITIALIZE] = "record the system identifier",
    [HA_CLONE] = "clone",
    [HA_START_PRIMARY] = "start as primary",
    [HA_START_REPLICA] = "start as replica",
    [HA_PROMOTE] = "promote",
    [HA_FOLLOW] = "follow",
    [HA_DEMOTE] = "demote",
    [HA_REJOIN] = "rejoin",
    [HA_EXIT] = "exit",
    [HA_HANDOVER] = "switch over",
    [HA_RELEASE] = "release the lease",
    [HA_CLEAR_FAILOVER] = "clear the failover request",
    [HA_RESTART] = "restart",
    [HA_REINIT] = "reinitialize",
    [HA_RECONFIGURE] = "reconfigure",
};

const char *ha_act_name(enum ha_act a)
{
    return (unsigned)a < sizeof act_names / sizeof act_names[0] ? act_names[a] : "?";
}

static void set(struct ha_action *out, enum ha_act a, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set(struct ha_action *out, enum ha_act a, const char *target, const char *fmt, ...)
{
    va_list ap;
    out->act = a;
    out->target = target;
    va_start(ap, fmt);
    vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
}

static bool is_me(const struct ha_facts *f, const char *name)
{
    return name != NULL && strcmp(name, f->me) == 0;
}

static bool has_data(const struct ha_facts *f)
{
    return f->pg == HA_PG_STOPPED || f->pg == HA_PG_RUNNING || f->pg == HA_PG_UNREACHABLE;
}

/* A running primary: only with the lease (or while adopting before the
 * cluster was ever initialized). */
static bool primary_rules(const struct ha_facts *f, struct ha_action *out)
{
    if (f->pg != HA_PG_RUNNING || f->in_recovery) {
        return false;
    }
    if (f->lease_mine) {
        if (f->watchdog_failed) {
            set(out, HA_DEMOTE, NULL, "watchdog required but unusable: demoting the primary");
        } else if (f->store_ready && f->init_sysid == NULL && is_me(f, f->init_claim)) {
            set(out, HA_SET_INITIALIZE, NULL, "the primary holds the bootstrap lease");
        } else if (f->switchover != NULL) {
            set(out, HA_HANDOVER, f->switchover[0] != '\0' ? f->switchover : NULL,
                "switchover requested: handing the lease to %s",
                f->switchover[0] != '\0' ? f->switchover : "the best candidate");
        } else if (f->failover_stale) {
            set(out, HA_CLEAR_FAILOVER, NULL, "a failover request names another leader");
        } else if (f->restart_requested) {
            set(out, HA_RESTART, NULL, "restart requested: restarting the primary");
        } else if (f->reconfigure) {
            set(out, HA_RECONFIGURE, NULL, "the configuration changed: reloading");
        } else {
            set(out, HA_WAIT, NULL, "running as primary with the lease");
        }
        return true;
    }
    if (f->lease_granted) {
        set(out, HA_WAIT, NULL, "lease granted: waiting for our first renewal");
        return true;
    }
    if (f->store_ready && f->init_sysid == NULL) {
        if (f->init_claim[0] == '\0' && f->watchdog_failed) {
            set(out, HA_WAIT, NULL,
                "watchdog required but unusable: not adopting the running primary");
        } else if (f->init_claim[0] == '\0') {
            set(out, HA_CLAIM, NULL, "adopting a running primary: claiming the bootstrap");
        } else {
            set(out, HA_WAIT, NULL, "adopting a running primary: claim by %s", f->init_claim);
        }
        return true;
    }
    if (!f->store_ready && f->init_sysid == NULL) {
        set(out, HA_WAIT, NULL, "running as primary, waiting for the cluster store");
        return true;
    }
    set(out, HA_DEMOTE, NULL, "running as primary without the lease (holder: %s)",
        f->holder != NULL ? f->holder : "none");
    return true;
}

/* A cluster that was never initialized: bootstrap, or adopt what runs. */
static void bootstrap_rules(const struct ha_facts *f, struct ha_action *out)
{
    if (has_data(f) && (f->standby_signal || (f->pg == HA_PG_RUNNING && f->in_recovery))) {
        set(out, HA_EXIT, NULL,
            "this data directory is a standby and the cluster has no state: start the primary "
            "first");
        return;
    }
    if (f->pg == HA_PG_UNKNOWN || f->pg == HA_PG_UNREACHABLE) {
        set(out, HA_WAIT, NULL, "waiting for PostgreSQL's state");
        return;
    }
    if (f->init_claim[0] == '\0') {
        if (f->pg == HA_PG_NO_DATA && f->nofailover) {
            set(out, HA_WAIT, NULL, "nofailover: not bootstrapping, waiting for a primary");
            return;
        }
        if (f->watchdog_failed) {
            set(out, HA_WAIT, NULL,
                "watchdog required but unusable: not bootstrapping, waiting for a primary");
            return;
        }
        set(out, HA_CLAIM, NULL, "the cluster is not initialized: claiming the bootstrap");
        return;
    }
    if (!is_me(f, f->init_claim)) {
        set(out, HA_WAIT, NULL, "%s is bootstrapping the cluster", f->init_claim);
        return;
    }
    if (!f->lease_mine) {
        set(out, HA_WAIT, NULL, "our bootstrap claim waits for the lease");
        return;
    }
    if (f->pg == HA_PG_NO_DATA) {
        set(out, HA_INITDB, NULL, "bootstrapping a new cluster");
    } else if (f->pg == HA_PG_STOPPED) {
        set(out, HA_START_PRIMARY, NULL, "adopting an existing data directory as the primary");
    } else {
        set(out, HA_SET_INITIALIZE, NULL, "recording the adopted primary's system identifier");
    }
}

static void stopped_rules(const struct ha_facts *f, struct ha_action *out)
{
    if (f->lease_mine && f->switchover != NULL) {
        set(out, HA_RELEASE, NULL, "failover requested while PostgreSQL is down: releasing");
        return;
    }
    if (f->reinit_requested && !f->lease_mine) {
        set(out, HA_REINIT, NULL, "reinitialize requested: removing the data directory");
        return;
    }
    if (f->lease_mine && f->watchdog_failed) {
        set(out, HA_RELEASE, NULL, "watchdog required but unusable: releasing the lease");
        return;
    }
    if (f->lease_mine) {
        if (f->was_primary) {
            set(out, HA_START_PRIMARY, NULL, "holding the lease: starting PostgreSQL as primary");
        } else {
            set(out, HA_START_REPLICA, NULL, "holding the lease: starting as replica to promote");
        }
        return;
    }
    if (f->was_primary) {
        if (f->refused) {
            set(out, HA_WAIT, NULL, "staying stopped: our timeline diverged (see the log)");
        } else if (f->holder != NULL && f->holder_running && !is_me(f, f->holder)) {
            set(out, HA_REJOIN, f->holder, "a former primary rejoining %s", f->holder);
        } else {
            set(out, HA_WAIT, NULL, "a former primary waiting for a new primary to rejoin");
        }
        return;
    }
    if (f->upstream != NULL && !is_me(f, f->upstream)) {
        set(out, HA_START_REPLICA, f->upstream, "starting as a replica of %s", f->upstream);
    } else {
        set(out, HA_START_REPLICA, NULL, "starting as a replica (no primary yet)");
    }
}

/* A running standby. */
static void replica_rules(const struct ha_facts *f, struct ha_action *out)
{
    if (f->lease_mine && f->watchdog_failed) {
        set(out, HA_RELEASE, NULL, "watchdog required but unusable: releasing the lease");
    } else if (f->lease_mine && f->sync_unready) {
        /* DESIGN.md: the winner runs with the synchronous_standby_names of
         * the (emptied) sync record before it accepts a commit. */
        if (f->reconfigure) {
            set(out, HA_RECONFIGURE, NULL,
                "holding the lease: writing synchronous_standby_names before promoting");
        } else {
            set(out, HA_WAIT, NULL,
                "holding the lease: waiting for PostgreSQL to reload synchronous_standby_names "
                "before promoting");
        }
    } else if (f->lease_mine) {
        set(out, HA_PROMOTE, NULL, "holding the lease: promoting");
    } else if (f->reinit_requested) {
        set(out, HA_REINIT, NULL, "reinitialize requested: stopping and removing the data");
    } else if (f->restart_requested || f->outgrown) {
        set(out, HA_RESTART, f->upstream != NULL && !is_me(f, f->upstream) ? f->upstream : NULL,
            "%s",
            f->restart_requested
                ? "restart requested: restarting the replica"
                : "the primary runs with higher hot-standby settings: restarting to match");
    } else if (f->upstream != NULL && !is_me(f, f->upstream) &&
               (f->following == NULL || strcmp(f->following, f->upstream) != 0)) {
        set(out, HA_FOLLOW, f->upstream, "streaming from %s%s", f->upstream,
            f->holder != NULL && strcmp(f->upstream, f->holder) == 0 ? ", the primary"
                                                                     : " (replicatefrom)");
    } else if (f->reconfigure) {
        set(out, HA_RECONFIGURE, NULL, "the configuration changed: reloading");
    } else if (f->watchdog_failed) {
        set(out, HA_WAIT, NULL,
            "running as a replica; not a failover candidate: watchdog required but unusable");
    } else {
        set(out, HA_WAIT, NULL, "running as a replica");
    }
}

static void decide(const struct ha_facts *f, struct ha_action *out)
{
    if (primary_rules(f, out)) {
        return;
    }
    if (!f->store_ready) {
        set(out, HA_WAIT, NULL, "waiting for the cluster store");
        return;
    }
    if (f->init_sysid == NULL) {
        bootstrap_rules(f, out);
        return;
    }
    if (has_data(f) && f->sysid[0] != '\0' && strcmp(f->sysid, f->init_sysid) != 0) {
        set(out, HA_EXIT, NULL,
            "the data directory has system identifier %s, the cluster %s: refusing to join "
            "another cluster's data",
            f->sysid, f->init_sysid);
        return;
    }
    switch (f->pg) {
    case HA_PG_UNKNOWN:
    case HA_PG_UNREACHABLE:
        set(out, HA_WAIT, NULL, "waiting for PostgreSQL to answer");
        return;
    case HA_PG_NO_DATA:
        if (f->clone_from != NULL) {
            set(out, HA_CLONE, f->clone_from, "no data: cloning from %s", f->clone_from);
        } else {
            set(out, HA_WAIT, NULL, "no data and no running primary to clone from");
        }
        return;
    case HA_PG_STOPPED:
        stopped_rules(f, out);
        return;
    case HA_PG_RUNNING:
        replica_rules(f, out);
        return;
    }
}

/* What pause forbids: whatever starts, stops or rewrites PostgreSQL on the
 * agent's own initiative. A clone is the operator's when it finishes a
 * reinitialize. */
static bool automatic(const struct ha_facts *f, enum ha_act a)
{
    switch (a) {
    case HA_START_PRIMARY:
    case HA_START_REPLICA:
    case HA_DEMOTE:
    case HA_REJOIN:
        return true;
    case HA_CLONE:
        return !f->reinit_requested;
    case HA_RESTART:
        return !f->restart_requested;
    default:
        return false;
    }
}

void ha_decide(const struct ha_facts *f, struct ha_action *out)
{
    memset(out, 0, sizeof *out);
    decide(f, out);
    if (f->paused && automatic(f, out->act)) {
        char why[sizeof out->why];
        snprintf(why, sizeof why, "%s", out->why);
        set(out, HA_WAIT, NULL, "paused: would %s (%s)", ha_act_name(out->act), why);
    }
}
