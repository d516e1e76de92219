/*
 * pgi_proc: run a program (pg_ctl, initdb, pg_controldata, a callback
 * script) under uv_spawn with a deadline, without ever blocking the loop.
 *
 * The child's stdin is /dev/null; its stdout and stderr share one pipe,
 * of which the last max_output bytes are kept (and each line optionally
 * logged). Completion waits for the program's exit only, never for EOF on
 * that pipe: `pg_ctl start` leaves a postmaster behind that could keep the
 * pipe open for days. At the deadline the program gets SIGTERM, then
 * SIGKILL after a grace period.
 */
#ifndef REGENT_PGI_PROC_H
#define REGENT_PGI_PROC_H

#include <stddef.h>
#include <uv.h>

#include "agent/rg.h"

struct pgi_proc_options {
    const char *file;    /* program path (searched in PATH when it holds no '/') */
    char **args;         /* argv, NULL-terminated; args[0] is the name. NULL: {file, NULL} */
    char **env;          /* NULL: inherit the agent's environment; else the whole environment */
    const char *cwd;     /* NULL: inherit */
    unsigned timeout_ms; /* 0: none. At the deadline: SIGTERM, then SIGKILL after kill_grace_ms */
    unsigned kill_grace_ms; /* 0: 2000 */
    size_t max_output;      /* bytes of combined stdout+stderr kept (the last ones); 0: 65536 */
    const char *log_module; /* non-NULL: every output line is also logged
                             * rg_log(RG_INFO, log_module, "%s: %s", basename, line) */
};

struct pgi_proc;
struct pgi_proc_run;
typedef void (*pgi_proc_cb)(struct pgi_proc *p, int status);

struct pgi_proc {
    void *data;      /* caller's; pgi_proc never touches it */
    int exit_status; /* valid when status == 0 */
    int term_signal; /* 0, or the signal that ended it */
    char *output;    /* borrowed, valid during cb only: the output kept, NUL-terminated */
    size_t output_len;
    /* When status != 0: "pg_ctl: timed out after 60 s". When status == 0
     * but the program failed, also says so: "pg_ctl: exit status 1",
     * "pg_ctl: killed by signal 9"; "" when it exited with 0. */
    char errmsg[RG_ERRMSG_SIZE];
    /* private */
    struct pgi_proc_run *run; /* owned: handles and buffers, which live apart so that
                               * a failed spawn can close them after @p is gone */
};

/*
 * Start @o->file. The options and their strings are only read during the
 * call. 0: @cb fires exactly once, never inside this call, after every
 * handle is closed (the caller may free @p in @cb), with status
 *   0            the program ran and exited (exit_status/term_signal say how);
 *   RG_ETIMEDOUT killed at the deadline (term_signal says with what).
 * RG_EINVAL (no file), or RG_EIO when the program could not be started
 * (p->errmsg: `could not run "/usr/lib/postgresql/15/bin/pg_ctl": no such
 * file or directory`): @cb never fires and @p may be freed at once.
 */
int pgi_proc_start(uv_loop_t *loop,
                   struct pgi_proc *p,
                   const struct pgi_proc_options *o,
                   pgi_proc_cb cb);

/* Send @signum now (e.g. SIGTERM to stop early); the cb still fires once.
 * A no-op once the program has exited. */
void pgi_proc_kill(struct pgi_proc *p, int signum);

#endif
