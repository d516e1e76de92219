/*
 * api_config: GET, PATCH and PUT /config (see api_config.h).
 *
 * Happy path of a write (PATCH or PUT): parse the body and If-Match, read
 * the current document and its version from this node's replica, build the
 * new document (api_config_build: merge or replace, restore masked secrets,
 * cfg_dcs_check), and propose STORE_OP_CONFIG_SET with the version it was
 * based on. The store forwards the proposal to the Raft leader; the state
 * machine applies it only if the version is still the same (compare and
 * set), and the reply comes once the leader has applied it.
 *
 * Failure modes:
 *   - a bad body, a bad If-Match or a document that fails the checks: 400,
 *     nothing proposed;
 *   - PATCH before the cluster has a configuration: 503 (Patroni's);
 *   - If-Match older than this node's version: 409 at once; newer (this
 *     replica is behind): catch up first, as below;
 *   - the version changed before the proposal applied ("version mismatch"):
 *     with If-Match 409; without it, merge again onto the winner's document
 *     and propose again, at most WRITE_PROPOSALS times in all, then 409.
 *     When this node's replica has not applied the winner yet (it learns
 *     commits one heartbeat later than the leader), it first proposes a
 *     no-op: once that has applied on the leader, the entries before it
 *     have reached this node as well (the leader sends them ahead of it);
 *   - a document identical to the current one is not written, but only
 *     once this node knows its replica is current (it leads Raft, or a
 *     no-op it proposed has applied here): on a replica that lags, a PATCH
 *     undoing a change not applied here yet looks like a no-op and would
 *     be lost;
 *   - the store's own failures: no leader reached 503, outcome unknown 504
 *     (the store retried under the same request id until the deadline;
 *     the write may or may not have happened), not a member 410.
 *
 * States of one write (struct write), all within WRITE_TIMEOUT_MS:
 *
 *   attempt --(propose CONFIG_SET)--> PROPOSING --applied--> 200
 *      ^  \                              | version mismatch, no If-Match
 *      |   +--(If-Match ahead)--+        v
 *      +------- CATCHING_UP <---+--(replica behind: propose NOOP)
 *
 * A write lives in its own allocation, not in the h2o pool: a client that
 * goes away leaves the store request running, whose callback then replies
 * to nobody (api_reply_* on an orphan is a no-op) and frees the write.
 * Request bodies are never logged: they may hold secrets.
 */
#include "api/api_config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cfg_dcs.h"
#include "agent/rg.h"
#include "agent/rg_log.h"
#include "api/api.h"
#include "raft/store.h"

#define WRITE_TIMEOUT_MS 10000 /* as api_store.c's requests to the leader */
#define WRITE_PROPOSALS  5     /* CONFIG_SET attempts of one request */
#define WRITE_CATCHUPS   5     /* no-ops proposed to catch up */

enum write_state { W_PROPOSING, W_CATCHING_UP };

struct write {
    struct store_req sreq;     /* the proposal in flight */
    struct api_req *req;       /* borrowed until the reply */
    struct api_store_ctx *ctx; /* borrowed: the node's, outlives its requests */
    cJSON *body;               /* owned: the patch or the whole document */
    cJSON *doc;                /* owned: the document proposed, or NULL */
    bool replace;              /* PUT */
    bool has_match;            /* If-Match gave a version */
    uint64_t match;
    uint64_t base; /* the version doc was built on */
    unsigned proposals, catchups;
    bool synced;       /* a no-op proposed since the last conflict has applied here */
    uint64_t deadline; /* boot clock, ms */
    enum write_state state;
};

static void set_etag(struct api_req *req, uint64_t version)
{
    char tag[32];
    snprintf(tag, sizeof tag, "\"%" PRIu64 "\"", version);
    api_reply_header(req, "ETag", tag);
}

static void reply_doc(struct api_req *req, const cJSON *doc, uint64_t version)
{
    set_etag(req, version);
    api_reply_json(req, 200, cfg_dcs_masked(doc));
}

/* --- pure parts ------------------------------------------------------------- */

int api_config_if_match(const char *value, uint64_t *version)
{
    const char *p = value;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
        n--;
    }
    if (n == 1 && p[0] == '*') {
        return 1;
    }
    if (n >= 2 && p[0] == 'W' && p[1] == '/') {
        p += 2;
        n -= 2;
    }
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    if (n == 0 || n > 19 || strspn(p, "0123456789") != n) {
        return RG_EINVAL;
    }
    char digits[20];
    memcpy(digits, p, n);
    digits[n] = '\0';
    *version = strtoull(digits, NULL, 10);
    return 0;
}

int api_config_build(const cJSON *current,
                     const cJSON *body,
                     bool replace,
                     const struct cfg *local,
                     cJSON **out,
                     char *errbuf,
                     size_t errlen)
{
    *out = NULL;
    if (cfg_dcs_check_shape(body, errbuf, errlen) != 0) {
        return RG_EINVAL;
    }
    cJSON *doc = replace ? cJSON_Duplicate(body, true) : cfg_dcs_merge_patch(current, body);
    if (cfg_dcs_unmask(doc, current, errbuf, errlen) != 0 ||
        cfg_dcs_check(doc, local, errbuf, errlen) != 0) {
        cJSON_Delete(doc);
        return RG_EINVAL;
    }
    *out = doc;
    return 0;
}

/* --- GET ------------------------------------------------------------------- */

void api_config_get(void *data, struct api_req *req)
{
    struct api_store_ctx *c = data;
    const struct store_state *s = store_get_state(c->store);
    if (s->config == NULL) {
        api_reply_text(req, 502, "no dynamic configuration");
        return;
    }
    reply_doc(req, s->config, s->config_version);
}

/* --- writes ------------------------------------------------------------------ */

static void write_free(struct write *w)
{
    cJSON_Delete(w->body);
    cJSON_Delete(w->doc);
    rg_free(w);
}

static void finish_text(struct write *w, int status, const char *text)
{
    api_reply_text(w->req, status, text);
    write_free(w);
}

/* The store could not get an answer from the leader. */
static void finish_store_error(struct write *w, int status, const cJSON *reply)
{
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(reply, "error");
    char msg[RG_ERRMSG_SIZE];
    switch (status) {
    case RG_EUNKNOWN:
        finish_text(w, 504,
                    "no answer from the Raft leader in time: the configuration may or may not "
                    "have changed");
        return;
    case RG_ENOTMEMBER:
        finish_text(w, 410, "this node is not a member of the cluster");
        return;
    case RG_ETIMEDOUT:
        finish_text(w, 503, "no Raft leader reached in time");
        return;
    default:
        snprintf(msg, sizeof msg, "%s",
                 cJSON_IsString(error) ? error->valuestring : rg_strerror(status));
        finish_text(w, 503, msg);
        return;
    }
}

static unsigned time_left(const struct write *w)
{
    uint64_t now = rg_boottime_ms();
    return w->deadline > now + 1 ? (unsigned)(w->deadline - now) : 1;
}

static void write_attempt(struct write *w);

static uint64_t applied_index(struct store *s)
{
    struct store_raft_info info;
    store_raft_info_get(s, &info);
    uint64_t applied = info.applied_index;
    store_raft_info_close(&info);
    return applied;
}

static void catch_up(struct write *w);

static void catchup_cb(struct store_req *sreq, int status, const cJSON *reply)
{
    struct write *w = sreq->data;
    struct store_result res;
    uint64_t index = 0;
    if (status != 0) {
        finish_store_error(w, status, reply);
        return;
    }
    if (store_reply_result(reply, &res, &index) != 0) {
        finish_text(w, 503, "malformed answer from the Raft leader");
        return;
    }
    /* Applied on the leader; here only once this replica has learnt the
     * commit. Until then another no-op gives it the time of a round trip. */
    if (applied_index(w->ctx->store) >= index) {
        w->synced = true;
    } else if (w->catchups < WRITE_CATCHUPS) {
        catch_up(w);
        return;
    }
    write_attempt(w);
}

/* Propose a no-op and try again once it has applied (see the file comment). */
static void catch_up(struct write *w)
{
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_NOOP;
    store_new_req_id("cfg-sync", cmd.id);
    w->state = W_CATCHING_UP;
    w->synced = false;
    w->catchups++;
    w->sreq.data = w;
    int rv = store_propose(w->ctx->store, &w->sreq, &cmd, 0, time_left(w), catchup_cb);
    if (rv != 0) {
        finish_store_error(w, rv, NULL);
    }
}

static void proposed_cb(struct store_req *sreq, int status, const cJSON *reply)
{
    struct write *w = sreq->data;
    struct store_result res;
    uint64_t index;
    if (status != 0) {
        finish_store_error(w, status, reply);
        return;
    }
    if (store_reply_result(reply, &res, &index) != 0) {
        finish_text(w, 503, "malformed answer from the Raft leader");
        return;
    }
    if (res.code == 0) {
        rg_log(RG_INFO, "api", "dynamic configuration: version %" PRIu64 " written (%s /config)",
               w->base + 1, w->replace ? "PUT" : "PATCH");
        reply_doc(w->req, w->doc, w->base + 1);
        write_free(w);
        return;
    }
    if (res.code != RG_ECONFLICT) {
        finish_text(w, 503, res.reason[0] != '\0' ? res.reason : rg_strerror(res.code));
        return;
    }
    /* Someone else's write applied first. */
    w->synced = false;
    if (w->has_match || w->proposals >= WRITE_PROPOSALS) {
        finish_text(w, 409, API_CONFIG_CONFLICT);
        return;
    }
    if (store_get_state(w->ctx->store)->config_version == w->base && w->catchups < WRITE_CATCHUPS) {
        catch_up(w);
        return;
    }
    write_attempt(w);
}

static void propose(struct write *w)
{
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_CONFIG_SET;
    cmd.version = w->base;
    cmd.json = cJSON_Duplicate(w->doc, true);
    store_new_req_id("cfg", cmd.id);
    w->state = W_PROPOSING;
    w->proposals++;
    w->sreq.data = w;
    int rv = store_propose(w->ctx->store, &w->sreq, &cmd, 0, time_left(w), proposed_cb);
    if (rv != 0) {
        finish_store_error(w, rv, NULL);
    }
}

/* Build the document on this node's current version and propose it. */
static void write_attempt(struct write *w)
{
    const struct store_state *s = store_get_state(w->ctx->store);
    char err[CFG_DCS_ERRLEN];
    if (!w->replace && s->config == NULL) {
        /* A node that has just started may not have replayed it yet. */
        if (!w->synced && !store_is_leader(w->ctx->store) && w->catchups < WRITE_CATCHUPS) {
            catch_up(w);
            return;
        }
        finish_text(w, 503, "config key missing: the cluster has no dynamic configuration yet");
        return;
    }
    if (w->has_match && w->match < s->config_version) {
        finish_text(w, 409, API_CONFIG_CONFLICT);
        return;
    }
    if (w->has_match && w->match > s->config_version) {
        if (w->catchups < WRITE_CATCHUPS) {
            catch_up(w);
        } else {
            finish_text(w, 503, "this node has not caught up with that version yet: try again");
        }
        return;
    }
    cJSON_Delete(w->doc);
    w->doc = NULL;
    w->base = s->config_version;
    if (api_config_build(s->config, w->body, w->replace, w->ctx->cfg, &w->doc, err, sizeof err) !=
        0) {
        finish_text(w, 400, err);
        return;
    }
    if (s->config != NULL && cJSON_Compare(w->doc, s->config, true)) {
        /* Nothing to write — if this replica is not behind: a write that
         * only undoes one it has not applied yet must still happen. */
        if (w->synced || store_is_leader(w->ctx->store)) {
            reply_doc(w->req, s->config, s->config_version);
            write_free(w);
            return;
        }
        if (w->catchups < WRITE_CATCHUPS) {
            catch_up(w);
            return;
        }
        /* Still unsure: writing the same document again is harmless. */
    }
    propose(w);
}

/* The body as a non-empty JSON object, or a 400 reply and NULL. */
static cJSON *body_object(struct api_req *req)
{
    size_t len;
    const char *text = api_req_body(req, &len);
    if (len == 0) {
        api_reply_text(req, 400, "request body is empty: a JSON object is expected");
        return NULL;
    }
    /* len + 1: the body is NUL-terminated, and nothing may follow the JSON. */
    cJSON *j = cJSON_ParseWithLengthOpts(text, len + 1, NULL, true);
    if (j == NULL) {
        api_reply_text(req, 400, "request body is not JSON");
        return NULL;
    }
    if (!cJSON_IsObject(j) || j->child == NULL) {
        const char *why = cJSON_IsObject(j) ? "request body is an empty JSON object"
                                            : "request body is not a JSON object";
        cJSON_Delete(j);
        api_reply_text(req, 400, why);
        return NULL;
    }
    return j;
}

static void write_start(void *data, struct api_req *req, bool replace)
{
    char value[128];
    uint64_t match = 0;
    int m = 1;
    const char *h = api_req_header(req, "If-Match", value, sizeof value);
    if (h != NULL && (m = api_config_if_match(h, &match)) < 0) {
        api_reply_text(req, 400,
                       "If-Match: expected one version tag, as \"7\" (the ETag of GET "
                       "/config)");
        return;
    }
    cJSON *body = body_object(req);
    if (body == NULL) {
        return;
    }
    struct write *w = rg_calloc(1, sizeof *w);
    w->req = req;
    w->ctx = data;
    w->body = body;
    w->replace = replace;
    w->has_match = m == 0;
    w->match = match;
    w->deadline = rg_boottime_ms() + WRITE_TIMEOUT_MS;
    write_attempt(w);
}

void api_config_patch(void *data, struct api_req *req)
{
    write_start(data, req, false);
}

void api_config_put(void *data, struct api_req *req)
{
    write_start(data, req, true);
}
