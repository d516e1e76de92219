/*
 * regent-witness: a Raft voter with no database, for two-node clusters. It
 * runs the cluster store and the REST API (api_node) and nothing else; it
 * never holds the lease (the state machine refuses a grant to a witness).
 */
#include "agent/rg.h"
#include "agent/rg_daemon.h"
#include "agent/rg_log.h"
#include "api/api_node.h"

struct witness {
    struct rg_daemon *d;
    struct api_node *node;
};

static void watch(void *data,
                  enum store_event ev,
                  const struct store_cmd *cmd,
                  const struct store_result *res,
                  uint64_t index)
{
    struct witness *w = data;
    (void)cmd, (void)res, (void)index;
    if (ev == STORE_EV_FATAL) {
        rg_daemon_fail(w->d, 1);
    } else if (ev == STORE_EV_REMOVED) {
        rg_log(RG_WARNING, "witness",
               "removed from the cluster: Raft is stopped; to rejoin, empty raft.data_dir and "
               "restart");
    }
}

static int start(struct rg_daemon *d, const struct cfg *cfg, char *errmsg)
{
    struct witness *w = rg_daemon_app(d);
    w->d = d;
    struct api_node_options o = {
        .cfg = cfg,
        .kind = STORE_PEER_WITNESS,
        .watch = watch,
        .watch_data = w,
    };
    return api_node_start(&w->node, rg_daemon_loop(d), &o, errmsg);
}

static void reload(struct rg_daemon *d, const struct cfg *old, const struct cfg *fresh)
{
    struct witness *w = rg_daemon_app(d);
    (void)old;
    api_node_reload(w->node, fresh);
}

static void node_stopped(void *arg)
{
    struct witness *w = arg;
    rg_daemon_stopped(w->d);
}

static void stop(struct rg_daemon *d)
{
    struct witness *w = rg_daemon_app(d);
    api_node_stop(w->node, node_stopped, w);
}

int main(int argc, char **argv)
{
    static const struct rg_daemon_ops ops = {
        .prog = "regent-witness",
        .kind = CFG_WITNESS,
        .start = start,
        .reload = reload,
        .stop = stop,
    };
    struct witness w = {0};
    return rg_daemon_main(argc, argv, &ops, &w);
}
