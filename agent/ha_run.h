/*
 * ha_run: the agent's HA runtime — the loop that keeps the local
 * PostgreSQL in the role the cluster store and the lease allow (see ha.h
 * for the decisions, ha_internal.h for the parts).
 */
#ifndef REGENT_HA_RUN_H
#define REGENT_HA_RUN_H

#include <uv.h>

#include "agent/cfg.h"
#include "api/api.h"
#include "raft/store.h"

struct ha;

struct ha_options {
    const struct cfg *cfg;    /* borrowed until ha_reload replaces it */
    struct store *store;      /* borrowed; started already */
    void (*fatal)(void *arg); /* a condition the agent must exit on */
    void *fatal_arg;
};

/* 0, or RG_E* with @errmsg (the PostgreSQL I/O thread could not start). */
int ha_start(struct ha **out, uv_loop_t *loop, const struct ha_options *o, char *errmsg);

/* Feed every store event (the agent's watch callback). */
void ha_store_event(struct ha *ha, enum store_event ev, const struct store_cmd *cmd);

/* A new valid configuration (SIGHUP). */
void ha_reload(struct ha *ha, const struct cfg *fresh);

/* A clean stop: PostgreSQL is stopped (fast) and, once it is down, the
 * lease released so a replica takes over without waiting for ttl; then
 * every handle is closed and @cb(@arg) fires. */
void ha_stop(struct ha *ha, void (*cb)(void *arg), void *arg);

/* The routes the agent serves besides the store's: health checks, /patroni,
 * /history, /readiness. Their data is the api_store_ctx whose app is the ha. */
const struct api_route *ha_routes(size_t *n);

#endif
