/*
 * pgi internals, shared by pgi.c (the instance, the operation machinery,
 * fencing), pgi_ops.c (programs: initdb, pg_ctl, pg_basebackup, pg_rewind,
 * single-user recovery, callbacks) and pgi_state.c (queries, the data
 * directory, configuration files, timeline histories).
 */
#ifndef REGENT_PGI_INTERNAL_H
#define REGENT_PGI_INTERNAL_H

#include "pg/pgi.h"

#define PGI_LOGM "pg"

struct pgi {
    uv_loop_t *loop; /* borrowed */
    struct pgi_fileio *io;
    char *name, *scope, *data_dir, *bin_dir, *listen, *socket_dir, *pgpass, *log_file;
    unsigned port;
    unsigned timeout_ms;
    char *su_user, *su_pass, *rep_user, *rep_pass, *rw_user, *rw_pass;
    cJSON *initdb, *basebackup; /* owned copies */
    char **env;                 /* owned: the environment of every program we run */
    pid_t postmaster_pid;       /* last known; 0 when none */
    pid_t *fenced;              /* owned: the processes the last fence signalled */
    size_t n_fenced;
    char port_text[16];
};

enum pgi_op_kind {
    PGI_OP_PROBE = 1,
    PGI_OP_QUERY,
    PGI_OP_INSPECT,
    PGI_OP_INITDB,
    PGI_OP_CONFIGURE,
    PGI_OP_START,
    PGI_OP_STOP,
    PGI_OP_RELOAD,
    PGI_OP_PROMOTE,
    PGI_OP_BASEBACKUP,
    PGI_OP_REWIND,
    PGI_OP_CRASH_RECOVER,
    PGI_OP_HISTORY,
    PGI_OP_WIPE,
    PGI_OP_CALLBACK,
    PGI_OP_CONTROLDATA,
};

/* pgi.c */
void pgi__op_init(struct pgi *pg, struct pgi_op *op, int kind, pgi_op_cb cb);
/* Complete @op: closes its timer if any, then calls its callback. */
void pgi__op_done(struct pgi_op *op, int status);
/* The path of program @name ("pg_ctl") in bin_dir, or the bare name (PATH). rg_free. */
char *pgi__bin(const struct pgi *pg, const char *name);
/* Run @args (NULL-terminated; args[0] the program name, looked up by pgi__bin)
 * for @op with @timeout_ms; @cb is the proc callback. 0 or RG_EIO (errmsg set). */
int pgi__run(struct pgi_op *op, char **args, unsigned timeout_ms, pgi_proc_cb cb);
/* Connection keywords/values for the local superuser ("replication": a
 * physical replication connection; @host NULL: the local instance). The
 * arrays and strings live in @kv (PGI_KV_MAX entries). */
#define PGI_KV_MAX 16
struct pgi_kv {
    const char *k[PGI_KV_MAX + 1];
    const char *v[PGI_KV_MAX + 1];
    size_t n;
    char port[16];
    char host[256];
};
void pgi__kv_local(const struct pgi *pg, struct pgi_kv *kv);
void pgi__kv_remote(const struct pgi *pg,
                    struct pgi_kv *kv,
                    const char *host,
                    unsigned port,
                    const struct pgi_user *u,
                    bool replication);
/* The last line of a program's output, for error messages. */
void pgi__last_line(const char *output, char *buf, size_t len);

#endif
