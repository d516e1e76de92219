/*
 * regent: the agent. This agent runs the cluster store and the REST
 * API (api_node) and keeps its own members record; PostgreSQL control comes
 * with the HA loop (agent/ha_*, pg/).
 *
 * The members record says what the agent knows of itself: its REST and
 * PostgreSQL addresses, its tags, and — until this agent controls
 * PostgreSQL — role "uninitialized" and state "stopped". It is written
 * when it differs from the applied one: at start, after a reload that
 * changed tags or addresses, and when a snapshot or a removal lost it.
 */
#include <stdio.h>
#include <string.h>

#include "agent/rg.h"
#include "agent/rg_daemon.h"
#include "agent/rg_log.h"
#include "api/api_node.h"

#define LOGM              "agent"
#define MEMBER_CHECK_MS   1000
#define MEMBER_TIMEOUT_MS 5000

struct agent {
    struct rg_daemon *d;
    struct api_node *node;
    cJSON *member; /* owned: the record we want */
    struct store_req member_req;
    bool member_out; /* a member_set is outstanding */
    uv_timer_t member_timer;
    bool stopping;
};

static cJSON *member_record(const struct cfg *cfg)
{
    cJSON *m = cJSON_CreateObject();
    char *base = api_node_base_url(cfg);
    char *api_url = rg_asprintf("%s/patroni", base);
    cJSON_AddStringToObject(m, "api_url", api_url);
    if (cfg->postgresql.connect_address != NULL) {
        char *conn = rg_asprintf("postgres://%s/postgres", cfg->postgresql.connect_address);
        cJSON_AddStringToObject(m, "conn_url", conn);
        rg_free(conn);
    }
    cJSON_AddStringToObject(m, "role", "uninitialized");
    cJSON_AddStringToObject(m, "state", "stopped");
    cJSON_AddStringToObject(m, "version", REGENT_VERSION);
    if (cfg->tags != NULL && cJSON_GetArraySize(cfg->tags) > 0) {
        cJSON_AddItemToObject(m, "tags", cJSON_Duplicate(cfg->tags, 1));
    }
    rg_free(api_url);
    rg_free(base);
    return m;
}

static void member_cb(struct store_req *req, int status, const cJSON *reply)
{
    struct agent *a = req->data;
    (void)reply;
    a->member_out = false;
    if (status != 0 && status != RG_ESHUTDOWN) {
        rg_log(RG_INFO, LOGM, "writing our members record: %s (will retry)", rg_strerror(status));
    }
}

static void member_maybe_write(struct agent *a)
{
    if (a->stopping || a->member_out) {
        return;
    }
    struct store *s = api_node_store(a->node);
    if (store_get_phase(s) != STORE_RUNNING) {
        return;
    }
    const struct cfg *cfg = rg_daemon_cfg(a->d);
    const struct store_member *m = store_state_member(store_get_state(s), cfg->name);
    if (m != NULL && cJSON_Compare(m->data, a->member, true)) {
        return;
    }
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_MEMBER_SET;
    snprintf(cmd.name, sizeof cmd.name, "%s", cfg->name);
    cmd.json = cJSON_Duplicate(a->member, 1);
    store_new_req_id("member", cmd.id);
    a->member_req.data = a;
    if (store_propose(s, &a->member_req, &cmd, 0, MEMBER_TIMEOUT_MS, member_cb) == 0) {
        a->member_out = true;
    }
}

static void member_timer_cb(uv_timer_t *t)
{
    member_maybe_write(rg_container_of(t, struct agent, member_timer));
}

static void watch(void *data,
                  enum store_event ev,
                  const struct store_cmd *cmd,
                  const struct store_result *res,
                  uint64_t index)
{
    struct agent *a = data;
    (void)cmd, (void)res, (void)index;
    switch (ev) {
    case STORE_EV_FATAL:
        rg_daemon_fail(a->d, 1);
        return;
    case STORE_EV_REMOVED:
        rg_log(RG_WARNING, LOGM,
               "removed from the cluster: Raft is stopped; to rejoin, empty raft.data_dir and "
               "restart");
        return;
    default:
        member_maybe_write(a);
        return;
    }
}

static int start(struct rg_daemon *d, const struct cfg *cfg, char *errmsg)
{
    struct agent *a = rg_daemon_app(d);
    a->d = d;
    a->member = member_record(cfg);
    struct api_node_options o = {
        .cfg = cfg,
        .kind = STORE_PEER_MEMBER,
        .watch = watch,
        .watch_data = a,
    };
    int rv = api_node_start(&a->node, rg_daemon_loop(d), &o, errmsg);
    if (rv != 0) {
        cJSON_Delete(a->member);
        a->member = NULL;
        return rv;
    }
    uv_timer_init(rg_daemon_loop(d), &a->member_timer);
    uv_timer_start(&a->member_timer, member_timer_cb, MEMBER_CHECK_MS, MEMBER_CHECK_MS);
    return 0;
}

static void reload(struct rg_daemon *d, const struct cfg *old, const struct cfg *fresh)
{
    struct agent *a = rg_daemon_app(d);
    (void)old;
    api_node_reload(a->node, fresh);
    cJSON_Delete(a->member);
    a->member = member_record(fresh);
    member_maybe_write(a);
}

static void node_stopped(void *arg)
{
    struct agent *a = arg;
    cJSON_Delete(a->member);
    a->member = NULL;
    rg_daemon_stopped(a->d);
}

static void timer_closed(uv_handle_t *h)
{
    struct agent *a = rg_container_of((uv_timer_t *)h, struct agent, member_timer);
    api_node_stop(a->node, node_stopped, a);
}

static void stop(struct rg_daemon *d)
{
    struct agent *a = rg_daemon_app(d);
    a->stopping = true;
    uv_close((uv_handle_t *)&a->member_timer, timer_closed);
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
