/*
 * pgi: one PostgreSQL instance, controlled without ever blocking the loop.
 *
 * Programs (pg_ctl, initdb, pg_controldata, pg_basebackup, pg_rewind,
 * postgres --single) run under pgi_proc with deadlines; queries run on
 * non-blocking libpq (pgi_sql); files in the data directory are read and
 * written by the PostgreSQL I/O thread (pgi_fileio), never on the loop and
 * never in libuv's thread pool, so a stalled PostgreSQL disk cannot stall
 * Raft (DESIGN.md, "One loop"). pgi knows nothing of Raft or leases: the
 * agent's HA state machine decides, pgi does.
 *
 * Every operation is a struct pgi_op the caller owns: 0 from the start
 * function means its callback fires exactly once, never inside the call,
 * and the caller may free the op in the callback; an error return means it
 * never fires. One operation at a time per instance (the agent serialises
 * them) except pgi_probe and pgi_query, which may run alongside.
 *
 * Fencing (pgi_fence) is the one synchronous call: it SIGKILLs the
 * postmaster and every process whose parent it is, found in /proc, at once.
 */
#ifndef REGENT_PGI_H
#define REGENT_PGI_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "agent/rg.h"
#include "pg/pgi_controldata.h"
#include "pg/pgi_fileio.h"
#include "pg/pgi_proc.h"
#include "pg/pgi_sql.h"

struct pgi_user {
    const char *username; /* NULL: none configured */
    const char *password; /* NULL: none (trust, peer or a pgpass entry of the operator) */
};

struct pgi_options {
    const char *name;             /* member name: application_name of its replication */
    const char *scope;            /* cluster_name */
    const char *data_dir;         /* absolute */
    const char *bin_dir;          /* NULL: programs are looked up in PATH */
    const char *listen_addresses; /* "127.0.0.1" or "*" */
    unsigned port;
    const char *socket_dir; /* unix_socket_directories, and where we connect; NULL: TCP */
    const char *pgpass;     /* the pgpass file pgi writes and points libpq at (0600) */
    struct pgi_user superuser, replication, rewind;
    unsigned pg_ctl_timeout_ms; /* start/stop/promote budget */
    const cJSON *initdb;        /* bootstrap.initdb: ["data-checksums", {"encoding": "UTF8"}] */
    const cJSON *basebackup;    /* postgresql.basebackup: list or map of options */
    const char *log_file;       /* PostgreSQL's own stderr (pg_ctl -l) */
};

/* What a status query found (pgi_probe). LSNs are 0 when unknown. */
struct pgi_status {
    bool in_recovery;
    unsigned timeline;
    uint64_t wal_lsn;        /* primary: pg_current_wal_flush_lsn() */
    uint64_t received_lsn;   /* replica: pg_last_wal_receive_lsn() */
    uint64_t replayed_lsn;   /* replica: pg_last_wal_replay_lsn() */
    uint64_t latest_end_lsn; /* replica: the WAL receiver's latest_end_lsn */
    bool replay_paused;
    char replayed_timestamp[40]; /* "" when NULL */
    bool streaming;              /* a WAL receiver is streaming */
    char receiver_host[64];      /* the host it streams from, "" when none */
    unsigned server_version;     /* server_version_num */
    char sysid[32];              /* the database system identifier */
    char postmaster_start_time[48];
    char sync_names[512];   /* synchronous_standby_names as the server runs with it */
    cJSON *replication;     /* owned: pg_stat_replication as Patroni reports it (primary) */
    cJSON *pending_restart; /* owned: {name: {"old_value", "new_value"}} of pending_restart GUCs */
};
void pgi_status_close(struct pgi_status *st);

/* What the data directory holds (pgi_inspect). */
struct pgi_dirinfo {
    bool exists;           /* the directory exists */
    bool empty;            /* exists and has no entry */
    bool initialized;      /* PG_VERSION and global/pg_control are there */
    bool standby_signal;   /* standby.signal exists */
    bool base_conf;        /* postgresql.base.conf exists (we manage postgresql.conf) */
    pid_t postmaster_pid;  /* from postmaster.pid, 0 when none */
    bool postmaster_alive; /* that pid exists and is a postgres process */
    bool have_controldata; /* initialized, no postmaster, pg_controldata parsed */
    struct pgi_controldata controldata;
};

/* Desired configuration (pgi_configure). */
struct pgi_config {
    const cJSON *parameters;  /* from pgi_conf_parameters */
    const cJSON *pg_hba;      /* lines, or NULL: leave pg_hba.conf alone */
    bool standby;             /* write standby.signal (else remove it) */
    const char *primary_host; /* standby: whom to stream from (NULL: nobody yet) */
    unsigned primary_port;
    const char *primary_slot_name; /* NULL: none */
};

enum pgi_stop_mode { PGI_STOP_SMART, PGI_STOP_FAST, PGI_STOP_IMMEDIATE };

struct pgi;
struct pgi_op;
typedef void (*pgi_op_cb)(struct pgi_op *op, int status);

struct pgi_op {
    void *data;                  /* caller's */
    char errmsg[RG_ERRMSG_SIZE]; /* when status != 0 */
    /* results, by operation */
    struct pgi_status status; /* pgi_probe (closed when the op is reused or by the caller) */
    struct pgi_dirinfo dir;   /* pgi_inspect */
    struct pgi_controldata controldata; /* pgi_controldata */
    char *text;                         /* owned: pgi_timeline_history's file content */
    unsigned leader_timeline;           /* pgi_timeline_history: IDENTIFY_SYSTEM's timeline */
    struct pgi_result *results;         /* pgi_query: valid during the callback */
    size_t n_results;
    /* private */
    struct pgi *pg;
    int kind, step;
    pgi_op_cb cb;
    struct pgi_proc proc;
    bool proc_active; /* proc runs: pgi_op_cancel may signal it */
    bool quiet;       /* the program's output is parsed, not logged */
    pgi_proc_cb proc_cb;
    struct pgi_sql sql;
    struct pgi_fop fop;
    uv_timer_t timer;
    bool timer_init;
    uint64_t deadline;
    char *arg;     /* owned: a program's name or a host, for messages */
    void *files;   /* pgi_configure: what the I/O thread writes */
    unsigned port; /* pgi_timeline_history: the primary's port */
};

int pgi_new(struct pgi **out, uv_loop_t *loop, const struct pgi_options *o, char *errmsg);
/* Stop the I/O thread and free; @cb(@arg) when done. No operation may be running. */
void pgi_free(struct pgi *pg, void (*cb)(void *arg), void *arg);

/* Connect locally as the superuser and read the status (one round trip). */
int pgi_probe(struct pgi *pg, struct pgi_op *op, unsigned timeout_ms, pgi_op_cb cb);
/* Run SQL statements locally as the superuser. */
int pgi_query(struct pgi *pg,
              struct pgi_op *op,
              const char *const *queries,
              size_t n,
              unsigned timeout_ms,
              pgi_op_cb cb);
/* Inspect the data directory (and run pg_controldata when it is initialized
 * and no postmaster runs). */
int pgi_inspect(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb);

/* pg_controldata now, whether PostgreSQL runs or not (into op->controldata):
 * a standby's copy of the primary's hot-standby settings lives there. */
int pgi_controldata(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb);
/* initdb with the bootstrap options; the directory must be empty or absent. */
int pgi_initdb(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb);
/* Write postgresql.conf (keeping the original as postgresql.base.conf the
 * first time), pg_hba.conf, the pgpass file, standby.signal. */
int pgi_configure(struct pgi *pg, struct pgi_op *op, const struct pgi_config *c, pgi_op_cb cb);
/* pg_ctl start -w; also succeeds when it is already running. */
int pgi_start(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb);
/* pg_ctl stop -w in @mode; also succeeds when it is not running. */
int pgi_stop(struct pgi *pg, struct pgi_op *op, enum pgi_stop_mode mode, pgi_op_cb cb);
int pgi_reload(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb);
/* pg_promote(wait => false), then pg_is_in_recovery() every 10 ms until false. */
int pgi_promote(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb);
/* pg_basebackup into the (empty or absent) data directory from host:port as the replication user.
 */
int pgi_basebackup(
    struct pgi *pg, struct pgi_op *op, const char *host, unsigned port, pgi_op_cb cb);
/* pg_rewind against the running primary at host:port (as the rewind user, else the superuser). */
int pgi_rewind(struct pgi *pg, struct pgi_op *op, const char *host, unsigned port, pgi_op_cb cb);
/* Finish crash recovery in single-user mode so the data directory is shut down cleanly. */
int pgi_crash_recover(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb);
/* The primary's timeline and the history file of it (replication connection to host:port). */
int pgi_timeline_history(
    struct pgi *pg, struct pgi_op *op, const char *host, unsigned port, pgi_op_cb cb);
/* Remove the data directory entirely. */
int pgi_wipe(struct pgi *pg, struct pgi_op *op, pgi_op_cb cb);
/* Run a callback script: "<cmd> <action> <role> <scope>" with a deadline; its output goes to the
 * log. */
int pgi_callback(struct pgi *pg,
                 struct pgi_op *op,
                 const char *cmd,
                 const char *action,
                 const char *role,
                 unsigned timeout_ms,
                 pgi_op_cb cb);

/* Ask the program @op runs, if any, to stop (SIGTERM): its callback still
 * fires, with a failure. Nothing happens for an operation without one. */
void pgi_op_cancel(struct pgi_op *op);

/* SIGKILL the postmaster of the data directory (the one pgi started or
 * found) and every process whose parent it is. Returns how many processes
 * were signalled. Synchronous: reads /proc only. */
int pgi_fence(struct pgi *pg);
/* Are all the processes the last pgi_fence signalled gone (exited, or
 * zombies)? Synchronous: reads /proc only; true when nothing was fenced. */
bool pgi_fence_done(struct pgi *pg);
/* The postmaster pid pgi knows of (0: none). */
pid_t pgi_postmaster_pid(const struct pgi *pg);

/* Does @status say it diverged from the primary's history? @history is the
 * primary's timeline history file content, @primary_tli its timeline; our
 * timeline and end-of-WAL position from a cleanly shut down controldata.
 * Pure. Returns true when following would be wrong, with @why. */
bool pgi_history_diverged(const char *history,
                          unsigned primary_tli,
                          unsigned our_tli,
                          uint64_t our_lsn,
                          char *why,
                          size_t whylen);

const char *pgi_stop_mode_name(enum pgi_stop_mode m);

#endif
