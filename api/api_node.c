/*
 * api_node: the store and the REST server of a daemon, started together and
 * stopped together (see api_node.h).
 *
 * Start order: the REST server first (a failed bind leaves no handle
 * behind), then the store; when the store cannot start, the server is
 * stopped again and the node frees itself from the server's stop callback.
 * Stop: both at once; the caller's callback fires after the second one.
 *
 * The REST server's access settings (restapi.authentication, certfile,
 * keyfile, cafile, verify_client, allowlist) are given to it right after it
 * binds and again on every reload; the members' addresses (for
 * allowlist_include_members) whenever the store's peers records change.
 */
#include "api/api_node.h"

#include <stdio.h>
#include <string.h>

#include "agent/rg.h"
#include "agent/rg_log.h"
#include "api/api_access.h"
#include "raft/coord_run.h"

struct api_node {
    struct api_store_ctx ctx; /* first: the routes' data */
    struct api_server *api;
    struct store *store;
    struct coord_run *coord;
    struct api_route *routes; /* owned: the store's and the daemon's */
    char *scope;              /* owned: ctx.scope */
    unsigned running;         /* api, store and coordinator not yet stopped */
    store_watch_cb watch;
    void *watch_data;
    struct coord_run_options co;
    const struct cfg *cfg; /* borrowed until the next reload */
    bool stopping;         /* api_node_stop was called (or the start failed) */
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

char *api_node_base_url(const struct cfg *cfg)
{
    const char *a =
        cfg->restapi.connect_address != NULL ? cfg->restapi.connect_address : cfg->restapi.listen;
    /* With a certificate the server speaks HTTPS only. */
    const char *scheme = cfg->restapi.certfile != NULL ? "https" : "http";
    const char *colon = strrchr(a, ':');
    if (colon == NULL) {
        return rg_asprintf("%s://%s", scheme, a);
    }
    size_t hl = (size_t)(colon - a);
    if ((hl == 1 && a[0] == '*') || (hl == 7 && strncmp(a, "0.0.0.0", 7) == 0) || hl == 0) {
        return rg_asprintf("%s://127.0.0.1%s", scheme, colon);
    }
    if (hl == 4 && strncmp(a, "[::]", 4) == 0) {
        return rg_asprintf("%s://[::1]%s", scheme, colon);
    }
    return rg_asprintf("%s://%s", scheme, a);
}

static enum api_verify_client verify_client_of(const char *v)
{
    if (v != NULL && strcmp(v, "required") == 0) {
        return API_VERIFY_REQUIRED;
    }
    if (v != NULL && strcmp(v, "optional") == 0) {
        return API_VERIFY_OPTIONAL;
    }
    return API_VERIFY_NONE;
}

/* restapi's authentication, TLS and allowlist, to the REST server. */
static int node_security(struct api_node *n, const struct cfg *cfg, char *errmsg)
{
    const struct cfg_restapi *r = &cfg->restapi;
    struct api_security sec = {
        .username = r->authentication.username,
        .password = r->authentication.password,
        .certfile = r->certfile,
        .keyfile = r->keyfile,
        .cafile = r->cafile,
        .verify_client = verify_client_of(r->verify_client),
        .allowlist = (const char *const *)r->allowlist,
        .n_allowlist = r->n_allowlist,
        .allowlist_include_members = r->allowlist_include_members,
    };
    return api_server_set_security(n->api, &sec, errmsg);
}

/* For allowlist_include_members: the host of every peer's REST URL and
 * Raft address (the server leaves out duplicates and ignores a list it
 * already has). */
static void node_members(struct api_node *n)
{
    if (n->stopping) {
        return; /* the server may be gone already */
    }
    const struct store_state *st = store_get_state(n->store);
    size_t cap = 2 * st->n_peers;
    const char **hosts = rg_calloc(cap + 1, sizeof *hosts);
    char(*buf)[256] = rg_calloc(cap + 1, sizeof *buf);
    size_t k = 0;
    for (size_t i = 0; i < st->n_peers; i++) {
        const struct store_peer *p = &st->peers[i];
        if (p->api_url != NULL && api_access_url_host(p->api_url, buf[k], sizeof buf[k]) == 0) {
            hosts[k] = buf[k];
            k++;
        }
        if (p->address != NULL && api_access_url_host(p->address, buf[k], sizeof buf[k]) == 0) {
            hosts[k] = buf[k];
            k++;
        }
    }
    api_server_set_members(n->api, hosts, k);
    rg_free(buf);
    rg_free(hosts);
}

static void node_free(struct api_node *n)
{
    void (*cb)(void *) = n->stop_cb;
    void *arg = n->stop_arg;
    rg_free(n->scope);
    rg_free(n->routes);
    rg_free(n);
    if (cb != NULL) {
        cb(arg);
    }
}

static void part_stopped(void *arg)
{
    struct api_node *n = arg;
    if (--n->running == 0) {
        node_free(n);
    }
}

/* The coordinator's settings: the dynamic configuration's when there is
 * one, else the local file's (bootstrap.dcs seeds the dynamic one). */
static void coord_options(struct api_node *n)
{
    const struct cfg *cfg = n->cfg;
    const cJSON *dyn = store_get_state(n->store)->config;
    const cJSON *src = dyn != NULL ? dyn : cfg->bootstrap_dcs;
    const cJSON *v;
    memset(&n->co, 0, sizeof n->co);
    n->co.ttl_ms = cfg->lease.ttl;
    n->co.maximum_lag = cfg->lease.maximum_lag_on_failover;
    if (cfg->kind == CFG_WITNESS) {
        /* A witness has no bootstrap section: until the dynamic
         * configuration exists, DESIGN.md's defaults. */
        n->co.ttl_ms = 2500;
        n->co.maximum_lag = 1048576;
    }
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(src, "ttl")) && v->valuedouble > 0) {
        n->co.ttl_ms = (unsigned)(v->valuedouble * 1000);
    }
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(src, "maximum_lag_on_failover")) &&
        v->valuedouble >= 0) {
        n->co.maximum_lag = (uint64_t)v->valuedouble;
    }
    n->co.check_timeline = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(src, "check_timeline"));
    n->co.switchover_timeout_ms = 2 * n->co.ttl_ms;
    n->co.tick_ms = cfg->raft.heartbeat_interval;
}

static void node_watch(void *data,
                       enum store_event ev,
                       const struct store_cmd *cmd,
                       const struct store_result *res,
                       uint64_t index)
{
    struct api_node *n = data;
    if (ev == STORE_EV_RESTORED || (ev == STORE_EV_APPLIED && (cmd->op == STORE_OP_PEER_SET ||
                                                               cmd->op == STORE_OP_PEER_DEL))) {
        node_members(n);
    }
    if (n->coord != NULL) {
        if (ev == STORE_EV_RESTORED || (ev == STORE_EV_APPLIED && cmd->op == STORE_OP_CONFIG_SET)) {
            coord_options(n);
            coord_run_set_options(n->coord, &n->co);
        }
        coord_run_kick(n->coord);
    }
    if (n->watch != NULL) {
        n->watch(n->watch_data, ev, cmd, res, index);
    }
}

int api_node_start(struct api_node **out,
                   uv_loop_t *loop,
                   const struct api_node_options *o,
                   char *errmsg)
{
    const struct cfg *cfg = o->cfg;
    struct api_node *n = rg_calloc(1, sizeof *n);
    size_t n_store;
    const struct api_route *store_routes = api_store_routes(&n_store);

    n->cfg = cfg;
    n->scope = rg_strdup(cfg->scope);
    n->ctx.scope = n->scope;
    n->ctx.cfg = cfg;
    n->ctx.app = o->app;
    n->watch = o->watch;
    n->watch_data = o->watch_data;
    n->routes = rg_calloc(n_store + o->n_routes, sizeof *n->routes);
    memcpy(n->routes, store_routes, n_store * sizeof *n->routes);
    if (o->n_routes > 0) {
        memcpy(n->routes + n_store, o->routes, o->n_routes * sizeof *n->routes);
    }
    int rv = api_server_start(&n->api, loop, cfg->restapi.listen, n->routes, n_store + o->n_routes,
                              &n->ctx, errmsg);
    if (rv != 0) {
        rg_errmsg_wrapf(errmsg, "restapi.listen");
        rg_free(n->routes);
        rg_free(n->scope);
        rg_free(n);
        return rv;
    }
    n->running = 1;
    /* Before the loop runs again: no connection is accepted without it. */
    rv = node_security(n, cfg, errmsg);
    if (rv != 0) {
        n->stopping = true;
        api_server_stop(n->api, part_stopped, n);
        return rv;
    }

    char *api_url = api_node_base_url(cfg);
    struct store_options so = {
        .scope = cfg->scope,
        .name = cfg->name,
        .data_dir = cfg->raft.data_dir,
        .self_addr = cfg->raft.self_addr,
        .bind_addr = cfg->raft.bind_addr,
        .partners = (const char *const *)cfg->raft.partner_addrs,
        .n_partners = cfg->raft.n_partner_addrs,
        .secret = cfg->raft.password,
        .api_url = api_url,
        .kind = o->kind,
        .election_timeout = cfg->raft.election_timeout,
        .heartbeat_interval = cfg->raft.heartbeat_interval,
        .voters = cfg->raft.voters,
        .segment_size = cfg->raft.segment_size,
        .snapshot_threshold = cfg->raft.snapshot_threshold,
        .snapshot_trailing = cfg->raft.snapshot_trailing,
        .watch = node_watch,
        .watch_data = n,
    };
    rv = store_start(&n->store, loop, &so, errmsg);
    rg_free(api_url);
    if (rv != 0) {
        api_server_stop(n->api, part_stopped, n);
        return rv;
    }
    n->ctx.store = n->store;
    n->running = 2;
    node_members(n);
    coord_options(n);
    coord_run_start(&n->coord, loop, n->store, &n->co);
    n->running = 3;
    *out = n;
    return 0;
}

void api_node_stop(struct api_node *n, void (*cb)(void *arg), void *arg)
{
    n->stop_cb = cb;
    n->stop_arg = arg;
    n->stopping = true;
    api_server_stop(n->api, part_stopped, n);
    coord_run_stop(n->coord, part_stopped, n);
    n->coord = NULL;
    store_stop(n->store, part_stopped, n);
}

struct store *api_node_store(struct api_node *n)
{
    return n->store;
}

void api_node_reload(struct api_node *n, const struct cfg *fresh)
{
    char errmsg[RG_ERRMSG_SIZE];
    n->cfg = fresh;
    n->ctx.cfg = fresh;
    if (node_security(n, fresh, errmsg) != 0) {
        rg_log(RG_ERROR, "api", "%s; the previous REST API access settings stay in force", errmsg);
    }
    store_set_voters(n->store, fresh->raft.voters);
    coord_options(n);
    coord_run_set_options(n->coord, &n->co);
}

void api_node_set_app(struct api_node *n, void *app)
{
    n->ctx.app = app;
}
