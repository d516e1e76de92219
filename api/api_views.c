/*
 * api_views: JSON documents built from the store's state — pure (no clock,
 * no I/O; the caller passes the cluster time in).
 *
 * GET /cluster follows Patroni's shape (spec/patroni-compat.md 1.5): members
 * sorted by name with role, state, api_url, host, port, timeline, tags, lag
 * and the optional fields copied from each member record, "scope", "pause"
 * when paused and "scheduled_switchover" when one is set. Regent adds
 * "lease" (who holds it, its epoch, whether it is valid at @now_ct and for
 * how long) and "raft" (exactly term, leader, voters, standbys,
 * commit_index, applied_index).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "raft/store_fsm.h"

/* Fields copied as they are from a member record when present. */
static const char *const member_copy_fields[] = {
    "api_url",
    "timeline",
    "tags",
    "pending_restart",
    "pending_restart_reason",
    "scheduled_restart",
    "receive_lag",
    "replay_lag",
    "lsn",
    "receive_lsn",
    "replay_lsn",
    "proxy_url",
    "version",
};

static void copy_item(cJSON *dst, const cJSON *src, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    if (v != NULL) {
        cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, 1));
    }
}

/* host and port: the record's own, else parsed from conn_url
 * ("postgres://10.0.0.2:5432/postgres"). */
static void add_host_port(cJSON *m, const cJSON *data)
{
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(data, "host");
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(data, "port");
    if (host != NULL || port != NULL) {
        copy_item(m, data, "host");
        copy_item(m, data, "port");
        return;
    }
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(data, "conn_url");
    if (!cJSON_IsString(url)) {
        return;
    }
    const char *p = strstr(url->valuestring, "://");
    p = p != NULL ? p + 3 : url->valuestring;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at != NULL && (slash == NULL || at < slash)) {
        p = at + 1;
    }
    size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
    char hostport[256];
    if (n == 0 || n >= sizeof hostport) {
        return;
    }
    memcpy(hostport, p, n);
    hostport[n] = '\0';
    char *colon = strrchr(hostport, ':');
    if (colon != NULL && strchr(hostport, ']') < colon) {
        *colon = '\0';
        cJSON_AddStringToObject(m, "host", hostport);
        cJSON_AddNumberToObject(m, "port", atoi(colon + 1));
    } else {
        cJSON_AddStringToObject(m, "host", hostport);
        cJSON_AddNumberToObject(m, "port", 5432);
    }
}

/* Patroni: lag = the leader's last optime (/status) - the member's position,
 * floored at 0, "unknown" without a position. A record's own "lag" wins.
 * Without a status record the primary's LSN of its last renewal (the lease
 * record) is the optime. */
static void add_lag(cJSON *m, const cJSON *data, const struct store_state *s)
{
    const cJSON *lag = cJSON_GetObjectItemCaseSensitive(data, "lag");
    if (lag != NULL) {
        cJSON_AddItemToObject(m, "lag", cJSON_Duplicate(lag, 1));
        return;
    }
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(data, "xlog_location");
    const cJSON *optime = cJSON_GetObjectItemCaseSensitive(s->status, "optime");
    bool known = cJSON_IsNumber(optime) || (s->lease.epoch != 0 && s->lease.lsn != 0);
    double leader = cJSON_IsNumber(optime) ? optime->valuedouble : (double)s->lease.lsn;
    if (cJSON_IsNumber(pos) && known) {
        double d = leader - pos->valuedouble;
        cJSON_AddNumberToObject(m, "lag", d > 0 ? d : 0);
    } else {
        cJSON_AddStringToObject(m, "lag", "unknown");
    }
}

/* A record its member stopped refreshing (agents rewrite theirs every few
 * seconds with the cluster time "ct"): the member is gone or cut off. */
static bool record_stale(const cJSON *data, uint64_t now_ct)
{
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(data, "ct");
    if (!cJSON_IsString(ct)) {
        return false; /* a record of before the stamps: nothing to say */
    }
    uint64_t at = strtoull(ct->valuestring, NULL, 10);
    return now_ct > at && now_ct - at > API_MEMBER_STALE_MS;
}

/* "sync_standby" / "quorum_standby" for a replica listed in the holder's
 * sync record while synchronous_mode is on (Patroni's /cluster roles). */
static const char *sync_role(const struct store_state *s, const char *name)
{
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(s->config, "synchronous_mode");
    bool on = cJSON_IsTrue(mode), quorum = false;
    if (cJSON_IsString(mode)) {
        quorum = strcasecmp(mode->valuestring, "quorum") == 0;
        on = quorum || strcasecmp(mode->valuestring, "on") == 0 ||
             strcasecmp(mode->valuestring, "true") == 0;
    }
    const cJSON *leader = cJSON_GetObjectItemCaseSensitive(s->sync, "leader");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(s->sync, "sync_standby");
    if (!on || s->lease.epoch == 0 || !cJSON_IsString(leader) ||
        strcmp(leader->valuestring, s->lease.holder) != 0 || !cJSON_IsString(names)) {
        return NULL;
    }
    size_t n = strlen(name);
    for (const char *p = names->valuestring; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t l = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (l == n && strncmp(p, name, n) == 0) {
            return quorum ? "quorum_standby" : "sync_standby";
        }
        p = comma != NULL ? comma + 1 : NULL;
    }
    return NULL;
}

static cJSON *member_view(const struct store_state *s,
                          const struct store_member *mem,
                          bool is_leader,
                          uint64_t now_ct)
{
    const cJSON *data = mem->data;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", mem->name);

    const cJSON *role = cJSON_GetObjectItemCaseSensitive(data, "role");
    if (is_leader) {
        bool standby_leader =
            cJSON_IsString(role) && strcmp(role->valuestring, "standby_leader") == 0;
        cJSON_AddStringToObject(m, "role", standby_leader ? "standby_leader" : "leader");
    } else if (cJSON_IsString(role) && strcmp(role->valuestring, "replica") == 0 &&
               sync_role(s, mem->name) != NULL) {
        cJSON_AddStringToObject(m, "role", sync_role(s, mem->name));
    } else if (cJSON_IsString(role)) {
        cJSON_AddStringToObject(m, "role", role->valuestring);
    }

    /* Non-leaders show their replication state ("streaming") when known. */
    const cJSON *rstate = cJSON_GetObjectItemCaseSensitive(data, "replication_state");
    if (!is_leader && record_stale(data, now_ct)) {
        cJSON_AddStringToObject(m, "state", "unknown");
    } else if (!is_leader && cJSON_IsString(rstate)) {
        cJSON_AddStringToObject(m, "state", rstate->valuestring);
    } else {
        copy_item(m, data, "state");
    }
    add_host_port(m, data);
    for (size_t i = 0; i < sizeof member_copy_fields / sizeof member_copy_fields[0]; i++) {
        copy_item(m, data, member_copy_fields[i]);
    }
    if (!is_leader) {
        add_lag(m, data, s);
    }
    return m;
}

static int member_cmp(const void *a, const void *b)
{
    const struct store_member *const *x = a;
    const struct store_member *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static cJSON *string_array(const char **items, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
    }
    return a;
}

static cJSON *raft_view(const struct api_raft_info *ri)
{
    if (ri == NULL) {
        return cJSON_CreateNull();
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "term", (double)ri->term);
    if (ri->leader != NULL) {
        cJSON_AddStringToObject(r, "leader", ri->leader);
    } else {
        cJSON_AddNullToObject(r, "leader");
    }
    cJSON_AddItemToObject(r, "voters", string_array(ri->voters, ri->n_voters));
    cJSON_AddItemToObject(r, "standbys", string_array(ri->standbys, ri->n_standbys));
    cJSON_AddNumberToObject(r, "commit_index", (double)ri->commit_index);
    cJSON_AddNumberToObject(r, "applied_index", (double)ri->applied_index);
    return r;
}

static cJSON *lease_view(const struct store_lease *l, bool valid, uint64_t now_ct)
{
    cJSON *o = cJSON_CreateObject();
    if (l->holder[0] != '\0') {
        cJSON_AddStringToObject(o, "holder", l->holder);
    } else {
        cJSON_AddNullToObject(o, "holder");
    }
    cJSON_AddNumberToObject(o, "epoch", (double)l->epoch);
    cJSON_AddBoolToObject(o, "valid", valid);
    cJSON_AddNumberToObject(o, "expires_in_ms",
                            valid && l->expires_at > now_ct ? (double)(l->expires_at - now_ct) : 0);
    cJSON_AddBoolToObject(o, "released", l->released);
    return o;
}

cJSON *api_view_cluster(const struct store_state *s,
                        const struct api_raft_info *ri,
                        const char *scope,
                        uint64_t now_ct)
{
    bool valid = store_lease_valid(&s->lease, now_ct);
    cJSON *root = cJSON_CreateObject();
    cJSON *members = cJSON_AddArrayToObject(root, "members");

    const struct store_member **sorted = calloc(s->n_members ? s->n_members : 1, sizeof *sorted);
    for (size_t i = 0; i < s->n_members; i++) {
        sorted[i] = &s->members[i];
    }
    qsort(sorted, s->n_members, sizeof *sorted, member_cmp);
    for (size_t i = 0; i < s->n_members; i++) {
        bool is_leader = valid && strcmp(sorted[i]->name, s->lease.holder) == 0;
        cJSON_AddItemToArray(members, member_view(s, sorted[i], is_leader, now_ct));
    }
    free(sorted);

    if (scope != NULL) {
        cJSON_AddStringToObject(root, "scope", scope);
    }
    if (s->init_sysid != NULL) {
        /* Not in Patroni's /cluster: patronictl reads it from the DCS. */
        cJSON_AddStringToObject(root, "system_identifier", s->init_sysid);
    }
    const cJSON *pause = cJSON_GetObjectItemCaseSensitive(s->config, "pause");
    if (cJSON_IsTrue(pause)) {
        cJSON_AddTrueToObject(root, "pause");
    }
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(s->failover, "scheduled_at");
    if (at != NULL) {
        cJSON *sw = cJSON_AddObjectToObject(root, "scheduled_switchover");
        cJSON_AddItemToObject(sw, "at", cJSON_Duplicate(at, 1));
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(s->failover, "leader");
        if (from == NULL) {
            from = cJSON_GetObjectItemCaseSensitive(s->failover, "from");
        }
        if (cJSON_IsString(from)) {
            cJSON_AddStringToObject(sw, "from", from->valuestring);
        }
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(s->failover, "member");
        if (to == NULL) {
            to = cJSON_GetObjectItemCaseSensitive(s->failover, "to");
        }
        if (cJSON_IsString(to)) {
            cJSON_AddStringToObject(sw, "to", to->valuestring);
        }
    }
    cJSON_AddItemToObject(root, "lease", lease_view(&s->lease, valid, now_ct));
    cJSON_AddItemToObject(root, "raft", raft_view(ri));
    return root;
}
