/*
 * rg_daemon: what every Regent daemon (regent, regent-witness) does around
 * its service — the command line, loading and validating the configuration,
 * the log, the event loop, and the signals:
 *
 *   SIGHUP          re-read the file; a valid one is applied (ops->reload),
 *                   an invalid one is reported and the old one stays in force
 *   SIGTERM/SIGINT  a clean stop (ops->stop), then exit 0
 *
 * Command line:
 *   PROG [--strict] [--config] FILE     run
 *   PROG [--strict] --validate-config [--config] FILE
 *                                       print the effective configuration
 *                                       (secrets masked) or the errors
 *   PROG --version | --help
 *
 * Exit status: 0 after a clean stop or a valid --validate-config; 1 when
 * the service fails (ops->start or a fatal error later); 2 for a bad command
 * line or an invalid configuration, before anything starts.
 */
#ifndef REGENT_RG_DAEMON_H
#define REGENT_RG_DAEMON_H

#include <uv.h>

#include "agent/cfg.h"

struct rg_daemon;

struct rg_daemon_ops {
    const char *prog; /* "regent" */
    enum cfg_kind kind;
    /* Start the service on rg_daemon_loop(d) with @cfg (valid until the
     * next reload). 0, or RG_E* with @errmsg: the daemon exits 1. */
    int (*start)(struct rg_daemon *d, const struct cfg *cfg, char *errmsg);
    /* A valid new configuration: apply what can be applied now. @fresh
     * replaces @old right after the call (then @old is freed). */
    void (*reload)(struct rg_daemon *d, const struct cfg *old, const struct cfg *fresh);
    /* Stop everything, then call rg_daemon_stopped(d). */
    void (*stop)(struct rg_daemon *d);
};

/* Run; returns the exit status. @app is the service's state. */
int rg_daemon_main(int argc, char **argv, const struct rg_daemon_ops *ops, void *app);

uv_loop_t *rg_daemon_loop(struct rg_daemon *d);
void *rg_daemon_app(struct rg_daemon *d);
const struct cfg *rg_daemon_cfg(struct rg_daemon *d);

/* A fatal error of the service: stop (ops->stop) and exit with @code. */
void rg_daemon_fail(struct rg_daemon *d, int code);

/* The service has stopped: the loop ends once every handle is closed. */
void rg_daemon_stopped(struct rg_daemon *d);

#endif
