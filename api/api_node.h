/*
 * api_node: the half every Regent daemon runs — the cluster store (raft/)
 * and the REST server with the store's routes, started from one
 * configuration on one loop. regent adds PostgreSQL control around it;
 * regent-witness is little more than this.
 */
#ifndef REGENT_API_NODE_H
#define REGENT_API_NODE_H

#include <uv.h>

#include "agent/cfg.h"
#include "api/api.h"
#include "raft/store.h"

struct api_node;

struct api_node_options {
    const struct cfg *cfg; /* borrowed during the call */
    enum store_peer_kind kind;
    store_watch_cb watch; /* every store event, STORE_EV_FATAL included */
    void *watch_data;
    const struct api_route *routes; /* the daemon's routes besides the store's (borrowed) */
    size_t n_routes;
    void *app; /* api_store_ctx.app for those routes */
};

/*
 * Start the REST server on restapi.listen with restapi's access settings,
 * then the store. 0 and *@out; or RG_E* with @errmsg (a bad certificate
 * file: "restapi.certfile: could not open \"/x.pem\": No such file or
 * directory"), in which case whatever had started is closing on its own
 * (let the loop run out).
 */
int api_node_start(struct api_node **out,
                   uv_loop_t *loop,
                   const struct api_node_options *o,
                   char *errmsg);

/* Stop the REST server and the store; @cb(@arg) once both are closed (never
 * inside this call). The node is freed before @cb. */
void api_node_stop(struct api_node *n, void (*cb)(void *arg), void *arg);

struct store *api_node_store(struct api_node *n);

/* Set api_store_ctx.app for the daemon's routes (once its state exists). */
void api_node_set_app(struct api_node *n, void *app);

/* Apply what a reload (SIGHUP) may change here: raft.voters, and the REST
 * server's access settings (restapi.authentication, certfile, keyfile,
 * cafile, verify_client, allowlist, allowlist_include_members; the
 * certificate files are read again). Settings that do not load (a bad
 * certificate) are logged and the previous ones stay in force. */
void api_node_reload(struct api_node *n, const struct cfg *fresh);

/* "http://host:port" from restapi.connect_address ("*" and "0.0.0.0" mean
 * 127.0.0.1, "::" means ::1); "https://" when restapi.certfile is set.
 * Caller rg_free()s it. */
char *api_node_base_url(const struct cfg *cfg);

#endif
