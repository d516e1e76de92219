/*
 * The agent's HA runtime, shared by:
 *   ha_run.c      the cycle: gather facts, ha_decide, dispatch; the members record
 *   ha_act.c      the actions, as chains of pgi operations
 *   ha_lease.c    renewals, the deadline, the fence timer, release, Raft leadership
 *   ha_api.c      REST routes (health checks, /patroni, /history) and the "status" peer request
 *   ha_settings.c the effective settings (local configuration + dynamic configuration)
 *   ha_side.c     side work that may run beside an action: slots, callbacks
 */
#ifndef REGENT_HA_INTERNAL_H
#define REGENT_HA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/cfg.h"
#include "agent/ha.h"
#include "agent/ha_sync.h"
#include "agent/rg.h"
#include "agent/watchdog.h"
#include "api/api.h"
#include "api/api_health.h"
#include "pg/pgi.h"
#include "raft/coord.h"
#include "raft/store.h"

#define HA_LOGM "ha"

/* Every agent rewrites its members record at least this often, stamped with
 * the cluster time ("ct"); a record older than HA_MEMBER_STALE_MS is the
 * last word of a member that is gone (Patroni's member key TTL). */
#define HA_MEMBER_REFRESH_MS 5000
#define HA_MEMBER_STALE_MS   API_MEMBER_STALE_MS
/* Slots of members gone for longer are dropped (Patroni's member_slots_ttl). */
#define HA_MEMBER_SLOTS_TTL_MS (30u * 60 * 1000)

/* What the agent runs with: the local configuration overlaid with the
 * cluster's dynamic configuration (store config record), recomputed on each
 * cycle and on reload. Strings and JSON borrow from cfg or the store state;
 * the latter change with every config_set, so whoever uses them outside the
 * cycle that computed them calls ha__settings first. */
struct ha_settings {
    unsigned ttl_ms, loop_wait_ms, renew_interval_ms, safety_margin_ms, fence_budget_ms;
    unsigned switchover_timeout_ms;
    uint64_t maximum_lag_on_failover;
    bool check_timeline, use_slots, use_pg_rewind;
    bool remove_on_diverged, remove_on_rewind_failure;
    bool nofailover, noloadbalance, clonefrom;
    bool paused; /* the dynamic configuration's pause */
    int failover_priority;
    const char *replicatefrom;
    const cJSON *dynamic_parameters; /* dynamic postgresql.parameters, or NULL */
    const cJSON *local_parameters;   /* local postgresql.parameters, or NULL */
    const cJSON *pg_hba;             /* postgresql.pg_hba, else bootstrap.pg_hba, or NULL */
    const char *on_start, *on_stop, *on_restart, *on_reload, *on_role_change;
    unsigned callbacks_timeout_ms;
    /* synchronous replication (dynamic synchronous_mode, _strict, _node_count; tags) */
    enum ha_sync_mode sync_mode;
    bool sync_strict;
    unsigned sync_node_count;
    /* PostgreSQL users (postgresql.authentication) */
    const char *su_user, *su_password, *rep_user, *rep_password, *rw_user, *rw_password;
};

/* An operator's restart: its conditions (POST /restart). */
struct ha_restart {
    char role[16];    /* "" any */
    char version[24]; /* postgres_version as given, "" none */
    unsigned version_num;
    bool if_pending; /* restart_pending */
    unsigned timeout_ms;
    char schedule[48]; /* as given, "" immediate */
    int64_t at_ms;     /* unix ms of the schedule */
};

/* One queued callback script. */
struct ha_cb {
    char action[24];
    char role[24];
};

struct ha {
    uv_loop_t *loop;       /* borrowed */
    const struct cfg *cfg; /* borrowed; replaced on reload (ha_reload) */
    struct store *store;   /* borrowed */
    struct pgi *pg;        /* owned */
    struct ha_settings set;
    void (*fatal)(void *arg); /* exit the agent (HA_EXIT) */
    void *fatal_arg;
    bool stopping;

    /* facts */
    struct pgi_op fact_op;
    bool gathering;
    struct pgi_dirinfo dir;
    bool have_dir;
    struct pgi_status st;
    bool have_st;     /* the last probe answered */
    uint64_t st_at;   /* boot ms of the last good probe */
    uint64_t view_at; /* boot ms when the store view was last caught up */
    enum ha_pg pgstate;
    char following[STORE_NAME_SIZE]; /* whom our standby configuration streams from, "" none */
    bool refused;                    /* REJOIN concluded: stay stopped */
    char refused_why[256];
    char last_why[256];
    enum ha_act last_act;

    /* the cycle */
    uv_timer_t cycle_timer;  /* every loop_wait */
    uv_timer_t kick_timer;   /* coalesces kicks into one cycle */
    bool acting;             /* an action chain runs */
    struct pgi_op op;        /* the action's operation */
    struct ha_action action; /* the action running */
    char target[STORE_NAME_SIZE];
    char target_host[256];
    unsigned target_port;
    int step;                 /* within the action */
    struct store_req act_req; /* the action's proposal */
    uint64_t act_epoch;       /* the lease epoch the action was decided under */

    /* the lease (ha_lease.c) */
    struct coord_lease book;
    uint64_t epoch; /* the store epoch we renew under (0: none) */
    uv_timer_t renew_timer;
    unsigned renew_out;   /* renewals in flight */
    uv_poll_t fence_poll; /* on a CLOCK_BOOTTIME timerfd */
    int fence_fd;
    bool primary_allowed; /* we started or promoted PostgreSQL as primary: fence it at the deadline
                           */
    bool fenced;          /* the fence fired since the last start */
    uint64_t transfer_at; /* boot ms of the last Raft leadership hand-off attempt */
    struct store_req transfer_req;
    bool transfer_out;
    bool releasing;
    struct store_req release_req;
    char handed_to[STORE_NAME_SIZE]; /* whom our last handover named ("" none) */
    uint64_t took_epoch;             /* the epoch that last came to us */
    uint64_t took_ct;     /* when the service of its previous holder ended (0: nobody's) */
    struct pgi_op lsn_op; /* the primary's flush LSN, for the next renewal */
    bool lsn_out;
    uint64_t primary_lsn;
    /* the watchdog (ha_lease.c) */
    struct wd wd;
    uv_timer_t wd_timer;   /* after a fence: polls until its processes are gone */
    uint64_t wd_fenced_at; /* boot ms of that fence */
    bool wd_swept;         /* the start-up check for a leftover PostgreSQL ran */

    /* switchover (ha_switch.c) */
    uv_timer_t sched_timer; /* wakes the cycle when a scheduled switchover is due */
    uv_timer_t gate_timer;  /* the handover candidate's replay polls */
    struct pgi_op gate_op;
    bool gate_out;
    uint64_t gate_epoch; /* the handover epoch whose LSN we replayed past (0: none) */

    /* the operator's requests (ha_mgmt.c) */
    struct api_req *restart_wait; /* an immediate POST /restart waiting for its end */
    uv_timer_t restart_wait_timer;
    bool restart_due;
    bool restart_scheduled;
    struct ha_restart restart_sched;
    uv_timer_t restart_sched_timer;
    bool restarting; /* the start that follows is a restart's (on_restart, the reply) */
    bool reinit_due, reinit_from_leader;
    /* the configuration (ha_act.c) */
    cJSON *written;       /* owned: {"parameters", "pg_hba"} as last written, NULL unknown */
    char *param_warnings; /* owned: the last warnings about them, said once */
    struct {
        bool known;
        unsigned max_connections, max_worker_processes, max_wal_senders, max_prepared_xacts,
            max_locks_per_xact;
        uint64_t at; /* boot ms when read */
    } hs;            /* the primary's hot-standby settings, from our control file */

    /* pause, as our renewals say it (ha_lease.c) */
    unsigned fencing_out; /* renewals in flight that said fencing = true */
    uint64_t renew_seq;   /* renewals sent */
    uint64_t ok_seq;      /* the newest renewal that applied, by send order */
    bool ok_fencing;      /* and what it said */

    /* side work (ha_side.c) */
    struct pgi_op slot_op;
    bool slots_out;
    uint64_t slots_at;
    struct pgi_op cb_op;
    bool cb_out;
    struct ha_cb cbq[8];
    size_t n_cbq;

    /* synchronous replication on the primary (ha_sync_run.c) */
    struct pgi_op sync_op;
    bool sync_out; /* its query runs */
    uint64_t sync_at;
    struct store_req sync_req;
    bool sync_req_out;
    bool sync_known;             /* sync_cfg is what we ask PostgreSQL for as the primary */
    struct ha_sync_set sync_cfg; /* synchronous_standby_names, as a set */
    char sync_names[512];        /* and rendered */
    bool sync_adopted;           /* PostgreSQL runs with it */
    uint64_t sync_adopted_lsn;   /* our flush LSN read once it did */
    char sync_why[256];          /* the last plan's reason, said once */
    unsigned sync_soon;          /* quick looks since the plan last changed (SYNC_SOON_MAX) */

    /* the members record */
    struct store_req member_req;
    bool member_out;
    cJSON *member_sent; /* owned: the last record proposed successfully */
    uint64_t member_at; /* boot ms of the last write */

    /* status requests of the coordinator waiting for a fresh probe */
    struct store_answer *status_wait[8];
    size_t n_status_wait;
    struct pgi_op status_op;
    bool status_probe_out;

    /* shutdown */
    bool closing;  /* close_all ran: free as soon as nothing is in flight */
    bool leave_pg; /* stopping on HA_EXIT: PostgreSQL is left as it is */
    bool pg_freeing;
    unsigned open_handles;
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

/* ha_run.c */
void ha__kick(struct ha *ha);
/* A cycle in @ms (or sooner, if something kicks it meanwhile). */
void ha__kick_in(struct ha *ha, uint64_t ms);
void ha__act_done(struct ha *ha, int status, const char *errmsg);
bool ha__lease_mine(struct ha *ha);
const struct store_member *ha__member(const struct ha *ha, const char *name);
/* host/port of @name's PostgreSQL from its members record conn_url. */
bool ha__member_pg_addr(
    const struct ha *ha, const char *name, char *host, size_t hl, unsigned *port);
void ha__slot_name(const char *member, char *buf, size_t len);
/* Was @m's record written within @max_age_ms (cluster time)? Ours always is. */
bool ha__member_fresh(const struct ha *ha, const struct store_member *m, uint64_t max_age_ms);
/* Whom member @name streams from (its replicatefrom member, else @holder). */
const char *ha__upstream(const struct ha *ha, const char *name, const char *holder);
void ha__handle_closed(uv_handle_t *h);
void ha__maybe_close(struct ha *ha);

/* ha_act.c — and the pieces the action chains of other files share: a
 * chain's pgi operations complete in ha__op_cb, its proposals through
 * ha__act_propose (a refusal arrives as RG_ECONFLICT with op.errmsg), and
 * it ends with ha__act_finish. */
void ha__act_start(struct ha *ha, const struct ha_action *a);
/* The parameters PostgreSQL should run with now (a standby's raised to the
 * primary's hot-standby settings). Caller cJSON_Delete()s. */
cJSON *ha__pg_parameters(struct ha *ha, bool standby);
/* Does the running PostgreSQL need ha__configure and a reload? */
bool ha__reconfigure_needed(struct ha *ha);
/* The control data just read: remember the hot-standby settings. */
void ha__hot_standby_seen(struct ha *ha, const struct pgi_controldata *c);
/* Those settings (the primary's, on a standby), by GUC name; 0 when unknown. */
#define HA_HS_SETTINGS 5
struct ha_hs_setting {
    const char *name;
    unsigned primary;
};
size_t ha__hot_standby(const struct ha *ha, struct ha_hs_setting out[HA_HS_SETTINGS]);
void ha__op_cb(struct pgi_op *op, int status);
/* Run the next step of the action in ha->action (after changing it). */
void ha__act_step(struct ha *ha, int status);
int ha__act_propose(struct ha *ha, struct store_cmd *cmd);
void ha__act_finish(struct ha *ha, int status);
uint64_t ha__store_epoch(const struct ha *ha);
/* Write the configuration: a primary's, or a standby's of ha->target. */
int ha__configure(struct ha *ha, bool standby);
/* ha->target, target_host and target_port for member @target (NULL: none). */
bool ha__resolve_target(struct ha *ha, const char *target);
/* The lease is checked, then primary_allowed set, before the operation. */
bool ha__may_be_primary(struct ha *ha);

/* ha_lease.c */
int ha__lease_init(struct ha *ha);
void ha__lease_update(struct ha *ha); /* the store or our state changed */
void ha__lease_close(struct ha *ha);
/* Propose release(me, epoch, lsn); @cb when applied (or failed). */
int ha__lease_release(struct ha *ha, uint64_t lsn, store_req_cb cb);

/* Renew at once (the handover gate opened). */
void ha__lease_renew_now(struct ha *ha);
/* May PostgreSQL go unfenced now? Only in pause, once the store's last
 * applied renewal of ours said fencing = false and none saying true is in
 * flight (DESIGN.md, "Leases", rule 6). */
bool ha__lease_unfenced(struct ha *ha);

/* The watchdog (DESIGN.md rule 5). Arm before PostgreSQL may run as a
 * primary: 0 when armed, or when it may run without (mode off, automatic
 * with an unusable device or timing: warned); else an RG_ error with
 * ha->wd.why (required). */
int ha__wd_arm(struct ha *ha);
/* (Re)read watchdog.* (at start, on reload while not armed). */
void ha__wd_configure(struct ha *ha);
/* Required but unusable: this member must not take the lease. */
bool ha__wd_failed(struct ha *ha);
/* Would the device be used (mode on, timing fine, the device there)? */
bool ha__wd_in_use(struct ha *ha);
/* Each cycle: disarm once no PostgreSQL process of ours is left, or in
 * pause; re-arm a primary that runs unarmed (after a pause). */
void ha__wd_check(struct ha *ha);

/* ha_switch.c */
void ha__switch_init(struct ha *ha);
void ha__switch_close(struct ha *ha);
void ha__switch_facts(struct ha *ha, struct ha_facts *f);
/* May our renewal confirm the lease now? false while we are an unconfirmed
 * handover target that has not replayed past its LSN (it polls meanwhile
 * and renews as soon as it has). */
bool ha__handover_gate(struct ha *ha);
void ha__act_handover(struct ha *ha, int status);
void ha__act_release(struct ha *ha, int status);
void ha__act_clear_failover(struct ha *ha, int status);

/* ha_mgmt.c */
void ha__mgmt_init(struct ha *ha);
void ha__mgmt_close(struct ha *ha);
void ha__mgmt_facts(struct ha *ha, struct ha_facts *f);
void ha__mgmt_member_fields(struct ha *ha, cJSON *rec);
/* {"schedule", "postgres_version"} of a scheduled restart, or NULL (the
 * document lives in *@scratch: cJSON_Delete() it). */
const cJSON *ha__mgmt_scheduled(struct ha *ha, cJSON **scratch);
/* An action ended: the operator's requests it served are settled. */
void ha__mgmt_act_done(struct ha *ha, enum ha_act act, int status);
void ha__act_restart(struct ha *ha, int status);
void ha__act_reinit(struct ha *ha, int status);
void ha__on_restart(void *data, struct api_req *req);
void ha__on_restart_delete(void *data, struct api_req *req);
void ha__on_reload(void *data, struct api_req *req);
void ha__on_reinitialize(void *data, struct api_req *req);

/* ha_settings.c */
void ha__settings(struct ha *ha, struct ha_settings *set);
/* The instance options from the configuration (strings borrowed from it). */
int ha__pg_options(struct ha *ha, struct pgi_options *o, char *listen, size_t ll, char *errmsg);

/* ha_side.c */
void ha__side_tick(struct ha *ha);
/* Bring the replication slots in line now, not at the next loop_wait. */
void ha__slots_now(struct ha *ha);
void ha__callback(struct ha *ha, const char *action, const char *role);

/* ha_sync_run.c */
void ha__sync_tick(struct ha *ha);
/* synchronous_standby_names PostgreSQL must run with (a standby: the one it
 * promotes with), or NULL to leave the configured one (mode off). */
const char *ha__sync_names(struct ha *ha, bool standby);
/* May a standby holding the lease promote: does it run with that value? */
bool ha__sync_unready(struct ha *ha);
/* The store's sync record as a set; false when there is none or it names
 * another leader than @leader (NULL: any). */
bool ha__sync_record(const struct ha *ha, const char *leader, struct ha_sync_set *out);

/* ha_api.c */
void ha__status_rpc(void *data, const cJSON *body, struct store_answer *a);
void ha__status_answer_all(struct ha *ha);
void ha__node_status(struct ha *ha, struct api_node_status *out, cJSON **scratch);

#endif
