/*
 * store_cmd: the cluster store's commands as JSON text, and the small JSON
 * and validation helpers the state machine shares (store_fsm_internal.h).
 *
 * A command is one JSON object: {"v":1,"op":"renew","id":"r-17","ct":"1234",
 * "name":"node1","epoch":"3","ttl":"2500","lsn":"50331648","fencing":true}.
 * Only the fields meaningful for the op appear (the table `ops` below says
 * which). Every uint64 field is written as a decimal string, since a JSON
 * number is a double and loses precision above 2^53 (Raft ids are random 64-bit
 * numbers); decode also accepts a JSON number that is an exact integer up to
 * 2^53, which is convenient for hand-written commands.
 *
 * Decode is strict: a missing required field, a field the op does not take,
 * a duplicate key, a wrong type, a name outside [A-Za-z0-9._-], an over-long
 * string or a JSON payload that nests deeper than STORE_JSON_MAX_DEPTH or
 * holds a non-finite number is RG_EPARSE, with an errmsg naming the field.
 * A "v" above STORE_CMD_VERSION or an op this build does not know is
 * RG_EUNSUPPORTED: the caller must stop applying, never skip.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "raft/store_fsm.h"
#include "raft/store_fsm_internal.h"

/* Command fields; the bit (1 << F_x) marks a field in an op's masks. */
enum field {
    F_NAME,
    F_TO,
    F_EPOCH,
    F_TTL,
    F_LSN,
    F_FENCING,
    F_VERSION,
    F_LEVEL,
    F_SWITCHOVER_TIMEOUT,
    F_SYSID,
    F_PEER_ID,
    F_ADDRESS,
    F_API_URL,
    F_KIND,
    F_JSON,
    F__COUNT
};

static const char *const field_keys[F__COUNT] = {
    [F_NAME] = "name",       [F_TO] = "to",           [F_EPOCH] = "epoch",
    [F_TTL] = "ttl",         [F_LSN] = "lsn",         [F_FENCING] = "fencing",
    [F_VERSION] = "version", [F_LEVEL] = "level",     [F_SWITCHOVER_TIMEOUT] = "switchover_timeout",
    [F_SYSID] = "sysid",     [F_PEER_ID] = "peer_id", [F_ADDRESS] = "address",
    [F_API_URL] = "api_url", [F_KIND] = "kind",       [F_JSON] = NULL, /* per op: ops[].json_key */
};

#define B(f) (1u << (f))

/* What an op's JSON payload may be. */
enum json_kind {
    J_NONE,           /* no payload */
    J_OBJECT,         /* required object */
    J_OBJECT_OR_NULL, /* object, or null/absent (cmd->json NULL) */
    J_ANY_OR_NULL,    /* any value, null/absent gives NULL */
    J_ANY,            /* any value but null */
};

struct op_def {
    const char *name;
    unsigned required; /* fields that must be present */
    unsigned optional; /* fields that may be present */
    const char *json_key;
    enum json_kind json;
};

#define HOLDER_EPOCH (B(F_NAME) | B(F_EPOCH))

static const struct op_def ops[STORE_OP__COUNT] = {
    [STORE_OP_NONE] = {"none", 0, 0, NULL, J_NONE},
    [STORE_OP_INIT_CLAIM] = {"init_claim", B(F_NAME), 0, NULL, J_NONE},
    [STORE_OP_INIT_SET] = {"init_set", HOLDER_EPOCH | B(F_SYSID), 0, NULL, J_NONE},
    [STORE_OP_INIT_CLEAR] = {"init_clear", B(F_NAME), 0, NULL, J_NONE},
    [STORE_OP_CONFIG_SET] = {"config_set", B(F_VERSION) | B(F_JSON), 0, "config", J_OBJECT},
    [STORE_OP_PEER_SET] = {"peer_set",
                           B(F_PEER_ID) | B(F_NAME) | B(F_ADDRESS) | B(F_API_URL) | B(F_KIND), 0,
                           NULL, J_NONE},
    [STORE_OP_PEER_DEL] = {"peer_del", B(F_PEER_ID), 0, NULL, J_NONE},
    [STORE_OP_MEMBER_SET] = {"member_set", B(F_NAME) | B(F_JSON), 0, "data", J_OBJECT},
    [STORE_OP_MEMBER_DEL] = {"member_del", B(F_NAME), 0, NULL, J_NONE},
    [STORE_OP_RENEW] = {"renew", HOLDER_EPOCH | B(F_TTL) | B(F_LSN) | B(F_FENCING), 0, NULL,
                        J_NONE},
    [STORE_OP_GRANT] = {"grant", HOLDER_EPOCH | B(F_TTL) | B(F_SWITCHOVER_TIMEOUT), B(F_JSON),
                        "reports", J_ANY_OR_NULL},
    [STORE_OP_RELEASE] = {"release", HOLDER_EPOCH | B(F_LSN), 0, NULL, J_NONE},
    [STORE_OP_HANDOVER] = {"handover", HOLDER_EPOCH | B(F_TO) | B(F_LSN), 0, NULL, J_NONE},
    [STORE_OP_FAILOVER_SET] = {"failover_set", B(F_EPOCH), B(F_NAME) | B(F_JSON), "failover",
                               J_OBJECT_OR_NULL},
    [STORE_OP_SYNC_SET] = {"sync_set", HOLDER_EPOCH, B(F_JSON), "sync", J_ANY_OR_NULL},
    [STORE_OP_STATUS_SET] = {"status_set", HOLDER_EPOCH, B(F_JSON), "status", J_ANY_OR_NULL},
    [STORE_OP_HISTORY_ADD] = {"history_add", HOLDER_EPOCH | B(F_JSON), 0, "entry", J_ANY},
    [STORE_OP_FORMAT_RAISE] = {"format_raise", B(F_LEVEL), 0, NULL, J_NONE},
    [STORE_OP_NOOP] = {"noop", 0, 0, NULL, J_NONE},
};

/* ---- shared helpers ---------------------------------------------------- */

bool store__name_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || n >= STORE_NAME_SIZE - 1) {
            return false;
        }
    }
    return n > 0;
}

bool store__token_valid(const char *s, size_t max_len, bool allow_empty)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c <= 0x20 || c >= 0x7f || n >= max_len) {
            return false;
        }
    }
    return n > 0 || allow_empty;
}

bool store__sysid_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 31) {
            return false;
        }
    }
    return n > 0;
}

int store__json_u64(const cJSON *item, uint64_t *out)
{
    if (cJSON_IsString(item)) {
        const char *s = item->valuestring;
        size_t n = strlen(s);
        if (n == 0 || n > 20 || (n > 1 && s[0] == '0')) {
            return RG_EPARSE;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') {
                return RG_EPARSE;
            }
            uint64_t d = (uint64_t)(s[i] - '0');
            if (v > (UINT64_MAX - d) / 10) {
                return RG_EPARSE;
            }
            v = v * 10 + d;
        }
        *out = v;
        return 0;
    }
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || floor(d) != d) {
            return RG_EPARSE;
        }
        *out = (uint64_t)d;
        return 0;
    }
    return RG_EPARSE;
}

void store__json_add_u64(cJSON *obj, const char *key, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    RG_ASSERT(cJSON_AddStringToObject(obj, key, num) != NULL);
}

static bool payload_valid(const cJSON *item, int depth)
{
    if (depth > STORE_JSON_MAX_DEPTH) {
        return false;
    }
    if (cJSON_IsNumber(item)) {
        return isfinite(item->valuedouble);
    }
    if (cJSON_IsRaw(item) || cJSON_IsInvalid(item)) {
        return false;
    }
    for (const cJSON *c = item->child; c != NULL; c = c->next) {
        if (!payload_valid(c, depth + 1)) {
            return false;
        }
        /* Duplicate keys: cJSON keeps both, but every look-up (and
         * cJSON_Compare) sees only the first, so refuse them. */
        for (const cJSON *d = item->child; cJSON_IsObject(item) && d != c; d = d->next) {
            if (c->string == NULL || d->string == NULL || strcmp(c->string, d->string) == 0) {
                return false;
            }
        }
    }
    return true;
}

bool store__json_payload_valid(const cJSON *item)
{
    return payload_valid(item, 1);
}

cJSON *store__json_parse(const void *buf, size_t len)
{
    /* cJSON wants a C string: refuse embedded NULs rather than silently
     * ignoring what follows one. */
    if (buf == NULL || memchr(buf, '\0', len) != NULL) {
        return NULL;
    }
    char *text = rg_malloc(len + 1);
    memcpy(text, buf, len);
    text[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, true);
    rg_free(text);
    return root;
}

void store__json_print(const cJSON *root, char **buf, size_t *len)
{
    char *text = cJSON_PrintUnformatted(root);
    RG_ASSERT(text != NULL); /* cJSON only fails on memory exhaustion */
    size_t n = strlen(text);
    *buf = rg_malloc(n + 1);
    memcpy(*buf, text, n + 1);
    *len = n;
    cJSON_free(text);
}

bool store__json_equal(const cJSON *a, const cJSON *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return cJSON_Compare(a, b, true);
}

cJSON *store__json_dup(const cJSON *item)
{
    if (item == NULL) {
        return NULL;
    }
    cJSON *d = cJSON_Duplicate(item, true);
    RG_ASSERT(d != NULL);
    return d;
}

uint64_t store__add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

const char *store__peer_kind_name(enum store_peer_kind kind)
{
    return kind == STORE_PEER_WITNESS ? "witness" : "member";
}

int store__peer_kind_parse(const char *s, enum store_peer_kind *kind)
{
    if (strcmp(s, "member") == 0) {
        *kind = STORE_PEER_MEMBER;
    } else if (strcmp(s, "witness") == 0) {
        *kind = STORE_PEER_WITNESS;
    } else {
        return RG_EPARSE;
    }
    return 0;
}

/* ---- commands ---------------------------------------------------------- */

void store_cmd_init(struct store_cmd *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->v = STORE_CMD_VERSION;
}

void store_cmd_close(struct store_cmd *cmd)
{
    cJSON_Delete(cmd->json);
    cmd->json = NULL;
}

const char *store_op_name(enum store_op op)
{
    if ((int)op < 0 || op >= STORE_OP__COUNT) {
        return "unknown";
    }
    return ops[op].name;
}

static void add_str(cJSON *obj, const char *key, const char *v)
{
    RG_ASSERT(cJSON_AddStringToObject(obj, key, v) != NULL);
}

static void
encode_field(cJSON *root, const struct op_def *def, const struct store_cmd *cmd, enum field f)
{
    const char *key = field_keys[f];
    switch (f) {
    case F_NAME:
        add_str(root, key, cmd->name);
        break;
    case F_TO:
        add_str(root, key, cmd->to);
        break;
    case F_EPOCH:
        store__json_add_u64(root, key, cmd->epoch);
        break;
    case F_TTL:
        store__json_add_u64(root, key, cmd->ttl);
        break;
    case F_LSN:
        store__json_add_u64(root, key, cmd->lsn);
        break;
    case F_FENCING:
        RG_ASSERT(cJSON_AddBoolToObject(root, key, cmd->fencing) != NULL);
        break;
    case F_VERSION:
        store__json_add_u64(root, key, cmd->version);
        break;
    case F_LEVEL:
        store__json_add_u64(root, key, cmd->level);
        break;
    case F_SWITCHOVER_TIMEOUT:
        store__json_add_u64(root, key, cmd->switchover_timeout);
        break;
    case F_SYSID:
        add_str(root, key, cmd->sysid);
        break;
    case F_PEER_ID:
        store__json_add_u64(root, key, cmd->peer_id);
        break;
    case F_ADDRESS:
        add_str(root, key, cmd->address);
        break;
    case F_API_URL:
        add_str(root, key, cmd->api_url);
        break;
    case F_KIND:
        add_str(root, key, store__peer_kind_name(cmd->kind));
        break;
    case F_JSON:
        cJSON_AddItemToObject(root, def->json_key,
                              cmd->json ? store__json_dup(cmd->json) : cJSON_CreateNull());
        break;
    case F__COUNT:
        break;
    }
}

/* Is an optional field worth writing? Absent optional fields decode to the
 * zero value, so skipping them keeps the round trip exact. */
static bool field_set(const struct store_cmd *cmd, enum field f)
{
    switch (f) {
    case F_NAME:
        return cmd->name[0] != '\0';
    case F_JSON:
        return cmd->json != NULL;
    default:
        return true;
    }
}

void store_cmd_encode(const struct store_cmd *cmd, char **buf, size_t *len)
{
    enum store_op op = cmd->op;
    if ((int)op < 0 || op >= STORE_OP__COUNT) {
        op = STORE_OP_NONE;
    }
    const struct op_def *def = &ops[op];
    cJSON *root = cJSON_CreateObject();
    RG_ASSERT(root != NULL);
    RG_ASSERT(cJSON_AddNumberToObject(root, "v", cmd->v) != NULL);
    add_str(root, "op", def->name);
    add_str(root, "id", cmd->id);
    store__json_add_u64(root, "ct", cmd->ct);
    for (int f = 0; f < F__COUNT; f++) {
        if ((def->required & B(f)) || ((def->optional & B(f)) && field_set(cmd, (enum field)f))) {
            encode_field(root, def, cmd, (enum field)f);
        }
    }
    store__json_print(root, buf, len);
    cJSON_Delete(root);
}

/* Copy a string field into a fixed buffer after checking it. */
static int decode_string(const cJSON *item,
                         const char *key,
                         char *dst,
                         size_t size,
                         bool (*valid)(const char *),
                         size_t max_len,
                         bool allow_empty,
                         char *errmsg)
{
    if (!cJSON_IsString(item)) {
        rg_errmsg_printf(errmsg, "field \"%s\": must be a string", key);
        return RG_EPARSE;
    }
    const char *s = item->valuestring;
    bool ok = valid ? valid(s) : store__token_valid(s, max_len, allow_empty);
    if (!ok || strlen(s) >= size) {
        rg_errmsg_printf(errmsg, "field \"%s\": invalid value", key);
        return RG_EPARSE;
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int decode_u64(const cJSON *item, const char *key, uint64_t *out, char *errmsg)
{
    if (store__json_u64(item, out) != 0) {
        rg_errmsg_printf(errmsg, "field \"%s\": must be an unsigned 64-bit integer", key);
        return RG_EPARSE;
    }
    return 0;
}

static int
decode_json(const cJSON *item, const struct op_def *def, struct store_cmd *cmd, char *errmsg)
{
    bool is_null = cJSON_IsNull(item);
    bool ok;
    switch (def->json) {
    case J_OBJECT:
        ok = cJSON_IsObject(item);
        break;
    case J_OBJECT_OR_NULL:
        ok = is_null || cJSON_IsObject(item);
        break;
    case J_ANY:
        ok = !is_null;
        break;
    case J_ANY_OR_NULL:
        ok = true;
        break;
    default:
        ok = false;
        break;
    }
    if (!ok) {
        rg_errmsg_printf(errmsg, "field \"%s\": wrong type", def->json_key);
        return RG_EPARSE;
    }
    if (!store__json_payload_valid(item)) {
        rg_errmsg_printf(errmsg, "field \"%s\": nested too deeply or has a non-finite number",
                         def->json_key);
        return RG_EPARSE;
    }
    if (!is_null) {
        cmd->json = store__json_dup(item);
    }
    return 0;
}

static int decode_field(
    const cJSON *item, const struct op_def *def, enum field f, struct store_cmd *cmd, char *errmsg)
{
    const char *key = field_keys[f];
    int rv = 0;
    switch (f) {
    case F_NAME:
        return decode_string(item, key, cmd->name, sizeof cmd->name, store__name_valid, 0, false,
                             errmsg);
    case F_TO:
        return decode_string(item, key, cmd->to, sizeof cmd->to, store__name_valid, 0, false,
                             errmsg);
    case F_EPOCH:
        return decode_u64(item, key, &cmd->epoch, errmsg);
    case F_TTL:
        rv = decode_u64(item, key, &cmd->ttl, errmsg);
        if (rv == 0 && cmd->ttl == 0) {
            rg_errmsg_printf(errmsg, "field \"%s\": must be positive", key);
            rv = RG_EPARSE;
        }
        return rv;
    case F_LSN:
        return decode_u64(item, key, &cmd->lsn, errmsg);
    case F_FENCING:
        if (!cJSON_IsBool(item)) {
            rg_errmsg_printf(errmsg, "field \"%s\": must be a boolean", key);
            return RG_EPARSE;
        }
        cmd->fencing = cJSON_IsTrue(item);
        return 0;
    case F_VERSION:
        return decode_u64(item, key, &cmd->version, errmsg);
    case F_LEVEL:
        return decode_u64(item, key, &cmd->level, errmsg);
    case F_SWITCHOVER_TIMEOUT:
        return decode_u64(item, key, &cmd->switchover_timeout, errmsg);
    case F_SYSID:
        return decode_string(item, key, cmd->sysid, sizeof cmd->sysid, store__sysid_valid, 0, false,
                             errmsg);
    case F_PEER_ID:
        rv = decode_u64(item, key, &cmd->peer_id, errmsg);
        if (rv == 0 && cmd->peer_id == 0) {
            rg_errmsg_printf(errmsg, "field \"%s\": must not be 0", key);
            rv = RG_EPARSE;
        }
        return rv;
    case F_ADDRESS:
        return decode_string(item, key, cmd->address, sizeof cmd->address, NULL,
                             sizeof cmd->address - 1, false, errmsg);
    case F_API_URL:
        return decode_string(item, key, cmd->api_url, sizeof cmd->api_url, NULL,
                             sizeof cmd->api_url - 1, true, errmsg);
    case F_KIND:
        if (!cJSON_IsString(item) || store__peer_kind_parse(item->valuestring, &cmd->kind) != 0) {
            rg_errmsg_printf(errmsg, "field \"%s\": must be \"member\" or \"witness\"", key);
            return RG_EPARSE;
        }
        return 0;
    case F_JSON:
        return decode_json(item, def, cmd, errmsg);
    case F__COUNT:
        break;
    }
    return RG_EPARSE;
}

/* The field a key names for @def, or -1. */
static int field_of_key(const struct op_def *def, const char *key)
{
    if (def->json_key != NULL && strcmp(key, def->json_key) == 0) {
        return F_JSON;
    }
    for (int f = 0; f < F__COUNT; f++) {
        if (field_keys[f] != NULL && strcmp(key, field_keys[f]) == 0) {
            return f;
        }
    }
    return -1;
}

/* v, op, id and ct: the envelope every command has. */
static int decode_envelope(const cJSON *root, struct store_cmd *cmd, char *errmsg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    uint64_t vv;
    if (v == NULL || !cJSON_IsNumber(v) || store__json_u64(v, &vv) != 0 || vv == 0) {
        rg_errmsg_printf(errmsg, "field \"v\": must be a positive integer");
        return RG_EPARSE;
    }
    if (vv > STORE_CMD_VERSION) {
        rg_errmsg_printf(errmsg, "command version %llu is not supported (highest %d)",
                         (unsigned long long)vv, STORE_CMD_VERSION);
        return RG_EUNSUPPORTED;
    }
    cmd->v = (int)vv;
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
    if (!cJSON_IsString(op)) {
        rg_errmsg_printf(errmsg, "field \"op\": must be a string");
        return RG_EPARSE;
    }
    cmd->op = STORE_OP_NONE;
    for (int i = STORE_OP_NONE + 1; i < STORE_OP__COUNT; i++) {
        if (strcmp(op->valuestring, ops[i].name) == 0) {
            cmd->op = (enum store_op)i;
        }
    }
    if (cmd->op == STORE_OP_NONE) {
        rg_errmsg_printf(errmsg, "field \"op\": unknown op \"%.64s\"", op->valuestring);
        return RG_EUNSUPPORTED;
    }
    int rv = decode_string(cJSON_GetObjectItemCaseSensitive(root, "id"), "id", cmd->id,
                           sizeof cmd->id, NULL, STORE_REQ_ID_SIZE - 1, false, errmsg);
    if (rv != 0) {
        return rv;
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(root, "ct");
    return decode_u64(ct, "ct", &cmd->ct, errmsg);
}

static int decode_object(const cJSON *root, struct store_cmd *cmd, char *errmsg)
{
    if (!cJSON_IsObject(root)) {
        rg_errmsg_printf(errmsg, "command must be a JSON object");
        return RG_EPARSE;
    }
    int rv = decode_envelope(root, cmd, errmsg);
    if (rv != 0) {
        return rv;
    }
    const struct op_def *def = &ops[cmd->op];
    unsigned seen = 0;
    unsigned envelope_seen = 0;
    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        const char *key = c->string;
        static const char *const env[] = {"v", "op", "id", "ct"};
        bool is_env = false;
        for (unsigned i = 0; i < RG_ARRAY_SIZE(env); i++) {
            if (strcmp(key, env[i]) == 0) {
                if (envelope_seen & (1u << i)) {
                    rg_errmsg_printf(errmsg, "field \"%s\": appears twice", key);
                    return RG_EPARSE;
                }
                envelope_seen |= 1u << i;
                is_env = true;
            }
        }
        if (is_env) {
            continue;
        }
        int f = field_of_key(def, key);
        if (f < 0 || !((def->required | def->optional) & B(f))) {
            rg_errmsg_printf(errmsg, "field \"%.64s\": not allowed for op \"%s\"", key, def->name);
            return RG_EPARSE;
        }
        if (seen & B(f)) {
            rg_errmsg_printf(errmsg, "field \"%s\": appears twice", key);
            return RG_EPARSE;
        }
        seen |= B(f);
        rv = decode_field(c, def, (enum field)f, cmd, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    unsigned missing = def->required & ~seen;
    if (missing != 0) {
        int f = __builtin_ctz(missing);
        rg_errmsg_printf(errmsg, "field \"%s\": missing",
                         f == F_JSON ? def->json_key : field_keys[f]);
        return RG_EPARSE;
    }
    return 0;
}

int store_cmd_decode(const void *buf, size_t len, struct store_cmd *cmd, char *errmsg)
{
    store_cmd_init(cmd);
    cJSON *root = store__json_parse(buf, len);
    if (root == NULL) {
        rg_errmsg_printf(errmsg, "command is not valid JSON");
        return RG_EPARSE;
    }
    int rv = decode_object(root, cmd, errmsg);
    cJSON_Delete(root);
    if (rv != 0) {
        store_cmd_close(cmd);
    }
    return rv;
}
