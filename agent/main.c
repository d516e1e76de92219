/*
 * regent: the agent. It runs the cluster store, the coordinator and the
 * REST API (api_node), and the HA runtime (ha_run) that keeps the local
 * PostgreSQL in the role the lease allows.
 *
 * Stop order: the HA runtime first (PostgreSQL stopped, then the lease
 * released through the store, which must still run), then the node.
 */
#include "agent/ha_run.h"
#include "agent/rg.h"
#include "agent/rg_daemon.h"
#include "agent/rg_log.h"
#include "api/api_node.h"

#define LOGM "agent"

struct agent {
    struct rg_daemon *d;
    struct api_node *node;
    struct ha *ha;
    bool stopping;
};

static void watch(void *data,
                  enum store_event ev,
                  const struct store_cmd *cmd,
                  const struct store_result *res,
                  uint64_t index)
{
    struct agent *a = data;
    (void)res, (void)index;
    if (ev == STORE_EV_FATAL) {
        rg_daemon_fail(a->d, 1);
        return;
    }
    if (ev == STORE_EV_REMOVED) {
        rg_log(RG_WARNING, LOGM,
               "removed from the cluster: Raft is stopped; to rejoin, empty raft.data_dir and "
               "restart");
    }
    if (a->ha != NULL) {
        ha_store_event(a->ha, ev, cmd);
    }
}

static void fatal(void *arg)
{
    struct agent *a = arg;
    rg_daemon_fail(a->d, 1);
}

static int start(struct rg_daemon *d, const struct cfg *cfg, char *errmsg)
{
    struct agent *a = rg_daemon_app(d);
    size_t n_routes;
    const struct api_route *routes = ha_routes(&n_routes);
    a->d = d;
    struct api_node_options o = {
        .cfg = cfg,
        .kind = STORE_PEER_MEMBER,
        .watch = watch,
        .watch_data = a,
        .routes = routes,
        .n_routes = n_routes,
        .app = NULL,
    };
    int rv = api_node_start(&a->node, rg_daemon_loop(d), &o, errmsg);
    if (rv != 0) {
        return rv;
    }
    struct ha_options ho = {
        .cfg = cfg,
        .store = api_node_store(a->node),
        .fatal = fatal,
        .fatal_arg = a,
    };
    rv = ha_start(&a->ha, rg_daemon_loop(d), &ho, errmsg);
    if (rv != 0) {
        a->ha = NULL;
        /* The node is up: stop it; the daemon exits 1 once the loop is empty. */
        api_node_stop(a->node, NULL, NULL);
        a->node = NULL;
        return rv;
    }
    api_node_set_app(a->node, a->ha);
    return 0;
}

static void reload(struct rg_daemon *d, const struct cfg *old, const struct cfg *fresh)
{
    struct agent *a = rg_daemon_app(d);
    (void)old;
    api_node_reload(a->node, fresh);
    ha_reload(a->ha, fresh);
}

static void node_stopped(void *arg)
{
    struct agent *a = arg;
    rg_daemon_stopped(a->d);
}

static void ha_stopped(void *arg)
{
    struct agent *a = arg;
    a->ha = NULL;
    api_node_stop(a->node, node_stopped, a);
}

static void stop(struct rg_daemon *d)
{
    struct agent *a = rg_daemon_app(d);
    if (a->stopping) {
        return;
    }
    a->stopping = true;
    if (a->ha != NULL) {
        ha_stop(a->ha, ha_stopped, a);
    } else {
        ha_stopped(a);
    }
}

int main(int argc, char **argv)
{
    static const struct rg_daemon_ops ops = {
        .prog = "regent",
        .kind = CFG_AGENT,
        .start = start,
        .reload = reload,
        .stop = stop,
    };
    struct agent a = {0};
    return rg_daemon_main(argc, argv, &ops, &a);
}
