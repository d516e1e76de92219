/*
 * api_store: the REST routes every node with a store serves, agent and
 * witness alike:
 *
 *   GET    /liveness              200 while the loop runs
 *   GET    /cluster               the members, the lease and the Raft facts
 *   GET    /raft/state            the whole replicated state (for operators and tests)
 *   POST   /raft/members          {"address": "a.b.c.d:port"}: invite a pristine node
 *   DELETE /raft/members/<name>   remove a member from the cluster
 *   POST   /raft/leadership       {"to": "name"} (optional): transfer Raft leadership
 *   POST   /switchover, /failover and DELETE /switchover (api_switch.c)
 *   GET, PATCH, PUT /config       the dynamic configuration (api_config.c)
 *   POST   /debug/propose         a store command (REGENT_TEST_HOOKS=1 only)
 *
 * Requests that need the Raft leader (the last four) are forwarded by the
 * store and answered when the leader has; the reply waits in the h2o request
 * pool, so a client that goes away does no harm. Read-only views come from
 * the local replica without any network round trip.
 */
#include <inttypes.h>
#include <string.h>

#include "agent/cfg_dcs.h"
#include "agent/rg.h"
#include "api/api.h"
#include "api/api_config.h"
#include "api/api_switch.h"
#include "raft/store.h"

#define API_STORE_TIMEOUT_MS 10000

static struct api_store_ctx *ctx_of(void *data)
{
    return data;
}

static void on_liveness(void *data, struct api_req *req)
{
    (void)data;
    api_reply_status(req, 200);
}

static void on_cluster(void *data, struct api_req *req)
{
    struct api_store_ctx *c = ctx_of(data);
    struct store_raft_info info;
    store_raft_info_get(c->store, &info);
    struct api_raft_info ri = {
        .term = info.term,
        .leader = info.leader,
        .voters = (const char **)info.voters,
        .n_voters = info.n_voters,
        .standbys = (const char **)info.standbys,
        .n_standbys = info.n_standbys,
        .commit_index = info.commit_index,
        .applied_index = info.applied_index,
    };
    cJSON *body =
        api_view_cluster(store_get_state(c->store), &ri, c->scope, store_now_ct(c->store));
    store_raft_info_close(&info);
    api_reply_json(req, 200, body);
}

static void on_raft_state(void *data, struct api_req *req)
{
    struct api_store_ctx *c = ctx_of(data);
    struct store_raft_info info;
    char *text;
    size_t len;

    store_state_snapshot(store_get_state(c->store), &text, &len);
    cJSON *state = cJSON_ParseWithLength(text, len);
    rg_free(text);
    /* The dynamic configuration's secrets are shown masked, as by GET /config. */
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(state, "config");
    if (cJSON_IsObject(config)) {
        cJSON_ReplaceItemInObjectCaseSensitive(state, "config", cfg_dcs_masked(config));
    }
    store_raft_info_get(c->store, &info);
    cJSON *body = cJSON_CreateObject();
    char id[24];
    snprintf(id, sizeof id, "%" PRIx64, store_self_id(c->store));
    cJSON_AddStringToObject(body, "raft_id", id);
    cJSON_AddStringToObject(body, "phase", store_phase_name(store_get_phase(c->store)));
    cJSON_AddNumberToObject(body, "applied_index", (double)info.applied_index);
    cJSON_AddNumberToObject(body, "commit_index", (double)info.commit_index);
    cJSON_AddItemToObject(body, "state", state != NULL ? state : cJSON_CreateNull());
    store_raft_info_close(&info);
    api_reply_json(req, 200, body);
}

/* --- requests that wait for the leader --------------------------------- */

struct pending {
    struct store_req sreq;
    struct api_req *req;
};

static int http_status(int status)
{
    switch (status) {
    case 0:
        return 200;
    case RG_ENOENT:
        return 404;
    case RG_ECONFLICT:
        return 409;
    case RG_EINVAL:
        return 400;
    case RG_ENOTMEMBER:
        return 410;
    case RG_EUNKNOWN:
        return 504;
    default:
        return 503;
    }
}

static void pending_cb(struct store_req *sreq, int status, const cJSON *reply)
{
    struct pending *p = sreq->data;
    struct api_req *req = p->req;
    rg_free(p);
    if (status == 0) {
        cJSON *body = cJSON_Duplicate(reply, 1);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(body, "code");
        int http = cJSON_IsNumber(code) ? code->valueint : 200;
        cJSON_DeleteItemFromObject(body, "code");
        api_reply_json(req, http, body);
        return;
    }
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(reply, "error");
    if (cJSON_IsString(error)) {
        api_reply_error(req, http_status(status), "%s", error->valuestring);
    } else {
        api_reply_error(req, http_status(status), "%s", rg_strerror(status));
    }
}

static struct pending *pending_new(struct api_req *req)
{
    struct pending *p = rg_calloc(1, sizeof *p);
    p->req = req;
    p->sreq.data = p;
    return p;
}

static void pending_start_failed(struct pending *p, int rv)
{
    struct api_req *req = p->req;
    rg_free(p);
    api_reply_error(req, http_status(rv), "%s", rg_strerror(rv));
}

/* A JSON object body, or an error reply (400) and NULL. */
static cJSON *body_object(struct api_req *req, bool optional)
{
    size_t len;
    const char *text = api_req_body(req, &len);
    if (len == 0 && optional) {
        return cJSON_CreateObject();
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        api_reply_error(req, 400, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

static void on_members_add(void *data, struct api_req *req)
{
    struct api_store_ctx *c = ctx_of(data);
    cJSON *b = body_object(req, false);
    if (b == NULL) {
        return;
    }
    const cJSON *address = cJSON_GetObjectItemCaseSensitive(b, "address");
    if (!cJSON_IsString(address)) {
        cJSON_Delete(b);
        api_reply_error(req, 400, "field \"address\": the new node's Raft address is required");
        return;
    }
    struct pending *p = pending_new(req);
    int rv =
        store_invite(c->store, &p->sreq, address->valuestring, API_STORE_TIMEOUT_MS, pending_cb);
    cJSON_Delete(b);
    if (rv != 0) {
        pending_start_failed(p, rv);
    }
}

static void on_members_remove(void *data, struct api_req *req)
{
    struct api_store_ctx *c = ctx_of(data);
    const char *name = api_req_tail(req);
    if (name[0] == '\0' || strchr(name, '/') != NULL) {
        api_reply_error(req, 400, "expected /raft/members/<name>");
        return;
    }
    struct pending *p = pending_new(req);
    int rv = store_remove(c->store, &p->sreq, name, API_STORE_TIMEOUT_MS, pending_cb);
    if (rv != 0) {
        pending_start_failed(p, rv);
    }
}

static void on_leadership(void *data, struct api_req *req)
{
    struct api_store_ctx *c = ctx_of(data);
    cJSON *b = body_object(req, true);
    if (b == NULL) {
        return;
    }
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(b, "to");
    if (to != NULL && !cJSON_IsString(to) && !cJSON_IsNull(to)) {
        cJSON_Delete(b);
        api_reply_error(req, 400, "field \"to\": must be a member name");
        return;
    }
    struct pending *p = pending_new(req);
    int rv = store_transfer(c->store, &p->sreq, cJSON_IsString(to) ? to->valuestring : NULL,
                            API_STORE_TIMEOUT_MS, pending_cb);
    cJSON_Delete(b);
    if (rv != 0) {
        pending_start_failed(p, rv);
    }
}

static void on_debug_propose(void *data, struct api_req *req)
{
    struct api_store_ctx *c = ctx_of(data);
    size_t len;
    const char *text = api_req_body(req, &len);
    char err[RG_ERRMSG_SIZE] = "";
    struct store_cmd cmd;

    if (!store_test_hooks_enabled()) {
        api_reply_error(req, 404, "no such path: /debug/propose");
        return;
    }
    if (store_cmd_decode(text, len, &cmd, err) != 0) {
        api_reply_error(req, 400, "command: %s", err);
        return;
    }
    struct pending *p = pending_new(req);
    int rv = store_propose(c->store, &p->sreq, &cmd, 0, API_STORE_TIMEOUT_MS, pending_cb);
    if (rv != 0) {
        pending_start_failed(p, rv);
    }
}

static const struct api_route routes[] = {
    {"GET", "/liveness", on_liveness},
    {"GET", "/cluster", on_cluster},
    {"GET", "/raft/state", on_raft_state},
    {"POST", "/raft/members", on_members_add},
    {"DELETE", "/raft/members/*", on_members_remove},
    {"POST", "/raft/leadership", on_leadership},
    {"POST", "/switchover", api_on_switchover},
    {"DELETE", "/switchover", api_on_switchover_delete},
    {"POST", "/failover", api_on_failover},
    {"GET", "/config", api_config_get},
    {"PATCH", "/config", api_config_patch},
    {"PUT", "/config", api_config_put},
    {"POST", "/debug/propose", on_debug_propose},
};

const struct api_route *api_store_routes(size_t *n)
{
    *n = RG_ARRAY_SIZE(routes);
    return routes;
}
