/*
 * cfg_keys: the key table and everything done per key — parsing a value from
 * text (YAML scalars, environment variables and defaults all go through
 * cfg__key_set_text), environment overrides, defaults, validators and the
 * cross-key rules (addresses, timing).
 *
 * The table is the only place that knows a key: its path, type, default,
 * bounds, whether it reloads, its Patroni environment name and its
 * validator. A section comes before its keys (cfg_to_json relies on it).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h> /* isfinite: a macro, no libm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/cfg_internal.h"
#include "agent/rg.h"

/* --- validators ------------------------------------------------------- */

static bool check_name(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    size_t n = strlen(s);
    if (n < 1 || n > 63) {
        snprintf(why, len, "must be 1 to 63 characters long");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') {
            snprintf(why, len, "\"%s\" may contain only letters, digits, '.', '_' and '-'", s);
            return false;
        }
    }
    return true;
}

static bool check_abs_path(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    if (s[0] != '/') {
        snprintf(why, len, "must be an absolute path");
        return false;
    }
    return true;
}

static bool check_namespace(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    if (s[0] != '/' || strlen(s) > 255) {
        snprintf(why, len, "must start with '/' (as \"/service\") and be at most 255 characters");
        return false;
    }
    return true;
}

static bool check_password(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    if (strlen(*(char *const *)field) < 8) {
        snprintf(why, len,
                 "must be at least 8 characters: it is the cluster secret that authenticates "
                 "every Raft connection");
        return false;
    }
    return true;
}

static bool check_voters(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    unsigned v = *(const unsigned *)field;
    if (v != 3 && v != 5) {
        snprintf(why, len, "must be 3 or 5");
        return false;
    }
    return true;
}

static bool check_whole_secs(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    if (*(const unsigned *)field % 1000 != 0) {
        snprintf(why, len, "must be a whole number of seconds (the Linux watchdog API)");
        return false;
    }
    return true;
}

static bool parse_port(const char *s, unsigned *port)
{
    if (*s == '\0' || strlen(s) > 5) {
        return false;
    }
    unsigned v = 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) {
            return false;
        }
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v < 1 || v > 65535) {
        return false;
    }
    *port = v;
    return true;
}

int cfg_parse_ipv4_addr(const char *s, char *host, size_t hostlen, unsigned *port)
{
    if (s == NULL) {
        return RG_EINVAL;
    }
    const char *colon = strchr(s, ':');
    if (colon == NULL || strchr(colon + 1, ':') != NULL) {
        return RG_EINVAL;
    }
    /* Four decimal octets, no leading zeros (inet_aton would read 010 as 8). */
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        const char *start = p;
        unsigned v = 0;
        while (p < colon && isdigit((unsigned char)*p) && p - start < 3) {
            v = v * 10 + (unsigned)(*p - '0');
            p++;
        }
        size_t n = (size_t)(p - start);
        if (n == 0 || v > 255 || (n > 1 && *start == '0')) {
            return RG_EINVAL;
        }
        if (i < 3) {
            if (*p != '.') {
                return RG_EINVAL;
            }
            p++;
        }
    }
    unsigned pt;
    if (p != colon || !parse_port(colon + 1, &pt)) {
        return RG_EINVAL;
    }
    size_t hl = (size_t)(colon - s);
    if (host != NULL) {
        if (hl >= hostlen) {
            return RG_EINVAL;
        }
        memcpy(host, s, hl);
        host[hl] = '\0';
    }
    if (port != NULL) {
        *port = pt;
    }
    return 0;
}

#define RAFT_ADDR_MSG                                                                              \
    "must be an IPv4 address and port (a.b.c.d:port); host names and IPv6 are not supported for "  \
    "raft addresses"

static bool check_raft_addr(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    if (cfg_parse_ipv4_addr(s, NULL, 0, NULL) != 0) {
        snprintf(why, len, "\"%s\" " RAFT_ADDR_MSG, s);
        return false;
    }
    return true;
}

/* restapi.listen: an IPv4 literal, "[ipv6]", "*" or nothing, then ":port". */
static bool check_api_listen(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    const char *colon = strrchr(s, ':');
    unsigned port;
    bool ok = colon != NULL && parse_port(colon + 1, &port);
    if (ok) {
        size_t hl = (size_t)(colon - s);
        char host[64];
        unsigned char a[16];
        if (hl >= sizeof host) {
            ok = false;
        } else {
            memcpy(host, s, hl);
            host[hl] = '\0';
            if (hl == 0 || strcmp(host, "*") == 0) {
                ok = true;
            } else if (host[0] == '[' && host[hl - 1] == ']' && hl > 2) {
                host[hl - 1] = '\0';
                ok = inet_pton(AF_INET6, host + 1, a) == 1;
            } else {
                ok = cfg_parse_ipv4_addr(s, NULL, 0, NULL) == 0;
            }
        }
    }
    if (!ok) {
        snprintf(why, len,
                 "\"%s\" must be HOST:PORT, HOST an IPv4 address, [IPv6 address], * or empty "
                 "(all addresses), PORT 1..65535",
                 s);
    }
    return ok;
}

/* A host others connect to: a name, an IPv4 address or "[ipv6]"; never a
 * wildcard. *@wildcard says that this was the problem. */
static bool hostport_ok(const char *s, bool *wildcard)
{
    *wildcard = false;
    const char *colon = strrchr(s, ':');
    unsigned port;
    if (colon == NULL || !parse_port(colon + 1, &port)) {
        return false;
    }
    size_t hl = (size_t)(colon - s);
    char host[256];
    if (hl == 0 || hl >= sizeof host) {
        *wildcard = hl == 0;
        return false;
    }
    memcpy(host, s, hl);
    host[hl] = '\0';
    unsigned char a[16];
    if (host[0] == '[') {
        if (hl < 3 || host[hl - 1] != ']') {
            return false;
        }
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, a) != 1) {
            return false;
        }
        *wildcard = memcmp(a, in6addr_any.s6_addr, 16) == 0;
        return !*wildcard;
    }
    if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        *wildcard = true;
        return false;
    }
    for (size_t i = 0; i < hl; i++) {
        if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-' &&
            host[i] != '_') {
            return false;
        }
    }
    return true;
}

static bool check_hostport(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    bool wildcard;
    if (hostport_ok(s, &wildcard)) {
        return true;
    }
    if (wildcard) {
        snprintf(why, len,
                 "\"%s\": a wildcard address cannot be connected to; give the address "
                 "others reach this node at",
                 s);
    } else {
        snprintf(why, len, "\"%s\" must be HOST:PORT (a host name, IPv4 address or [IPv6 address])",
                 s);
    }
    return false;
}

/* postgresql.listen: "addr[,addr…]:port". */
static bool check_pg_listen(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    const char *colon = strrchr(s, ':');
    unsigned port;
    if (colon == NULL || colon == s || !parse_port(colon + 1, &port)) {
        snprintf(why, len, "\"%s\" must be ADDRESS[,ADDRESS...]:PORT, PORT 1..65535", s);
        return false;
    }
    return true;
}

/* postgresql.callbacks.*: a command line whose first word is an absolute
 * path or a program name looked up in PATH. A relative path would depend on
 * the agent's working directory. */
static bool check_command(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strcspn(s, " \t\n");
    if (n == 0) {
        snprintf(why, len, "must be a command (an absolute path or a program name)");
        return false;
    }
    if (s[0] != '/' && memchr(s, '/', n) != NULL) {
        snprintf(why, len,
                 "\"%.*s\" is a relative path: give an absolute path or a program name found "
                 "in PATH",
                 (int)n, s);
        return false;
    }
    return true;
}

/* postgresql.bin_name.*: a program name (looked up in bin_dir or PATH) or an
 * absolute path. */
static bool check_bin_name(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    if (s[0] == '\0' || (s[0] != '/' && strchr(s, '/') != NULL) || strpbrk(s, " \t\n") != NULL) {
        snprintf(why, len,
                 "\"%s\" must be a program name (looked up in postgresql.bin_dir, or PATH) or "
                 "an absolute path",
                 s);
        return false;
    }
    return true;
}

/* postgresql.basebackup and postgresql.rewind: Patroni takes a mapping of
 * options or a list of options (strings or one-key mappings). */
static bool check_map_or_list(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const cJSON *j = *(cJSON *const *)field;
    if (j != NULL && !cJSON_IsObject(j) && !cJSON_IsArray(j)) {
        snprintf(why, len, "must be a mapping or a list of options");
        return false;
    }
    return true;
}

/* postgresql.pg_hba and pg_ident: one line of the file per item. */
static bool check_string_list(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const cJSON *j = *(cJSON *const *)field;
    int i = 0;
    for (const cJSON *c = j != NULL ? j->child : NULL; c != NULL; c = c->next, i++) {
        if (!cJSON_IsString(c)) {
            snprintf(why, len, "must be a list of strings (one line each); item %d is not", i + 1);
            return false;
        }
    }
    return true;
}

/* synchronous_mode: Patroni takes a boolean or the string "quorum" (and
 * "on"/"off" as YAML 1.1 spells the booleans). */
static bool check_sync_mode(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const cJSON *j = *(cJSON *const *)field;
    static const char *const words[] = {"on", "off", "true", "false", "quorum"};
    if (cJSON_IsBool(j)) {
        return true;
    }
    for (size_t i = 0; cJSON_IsString(j) && i < sizeof words / sizeof words[0]; i++) {
        if (strcasecmp(j->valuestring, words[i]) == 0) {
            return true;
        }
    }
    snprintf(why, len, "must be true, false, \"on\", \"off\" or \"quorum\"");
    return false;
}

/* postgresql.create_replica_methods: regent clones with pg_basebackup only. */
static bool check_replica_method(const struct cfg_key *k, const void *field, char *why, size_t len)
{
    (void)k;
    const char *s = *(char *const *)field;
    if (strcmp(s, "basebackup") != 0) {
        snprintf(why, len,
                 "\"%s\" is not supported: regent creates replicas only with basebackup "
                 "(pg_basebackup); remove the other methods",
                 s);
        return false;
    }
    return true;
}

/* --- the table -------------------------------------------------------- */

static const char *const verify_client_choices[] = {"none", "optional", "required", NULL};
/* "alias=canonical" entries are accepted but not listed in messages:
 * Patroni's spellings of the watchdog modes. */
static const char *const watchdog_mode_choices[] = {
    "off",    "automatic",      "required",         "false=off",
    "no=off", "auto=automatic", "require=required", NULL};

static const char *const watchdog_driver_choices[] = {"linux", "testing", NULL};

/* libpq's values. */
static const char *const sslmode_choices[] = {"disable",   "allow",       "prefer", "require",
                                              "verify-ca", "verify-full", NULL};
static const char *const gss_choices[] = {"disable", "prefer", "require", NULL};
static const char *const sslnegotiation_choices[] = {"postgres", "direct", NULL};

/* The ttl default when watchdog.mode is required (DESIGN.md: 2.5 s without a
 * watchdog, 3.0 s with one, so that ttl - safety_margin - timeout >= 0.5 s). */
#define TTL_DEFAULT_WITH_WATCHDOG "3"

#define F(m)   offsetof(struct cfg, m)
#define NOF    CFG_NOFIELD
#define RL     CFG_K_RELOAD
#define REQ    CFG_K_REQUIRED
#define WIT    CFG_K_WITNESS
#define SECRET CFG_K_SECRET
#define UNUSED(p)                                                                                  \
    {                                                                                              \
        .path = p, .type = CFG_T_UNUSED, .off = NOF                                                \
    }
#define PG(m) F(postgresql.m)
#define DYN   CFG_K_DYNAMIC
#define DYN_UNUSED(p)                                                                              \
    {                                                                                              \
        .path = p, .type = CFG_T_UNUSED, .flags = DYN, .off = NOF                                  \
    }

/* clang-format off */
/* postgresql.authentication.<u>: Patroni's connection parameters, each with
 * its PATRONI_<U>_<FIELD> variable. */
#define PG_USER_KEY(u, U, field, FIELD, t, fl, init)                                              \
    {.path = "postgresql.authentication." #u "." #field, .type = t, .flags = RL | (fl),            \
     .off = PG(authentication.u.field), .patroni_env = "PATRONI_" #U "_" #FIELD, init}
#define PG_USER(u, U, defuser)                                                                     \
    {.path = "postgresql.authentication." #u, .type = CFG_T_SECTION, .flags = CFG_K_OPEN,          \
     .off = NOF},                                                                                  \
    PG_USER_KEY(u, U, username, USERNAME, CFG_T_STR, 0, .def = defuser),                           \
    PG_USER_KEY(u, U, password, PASSWORD, CFG_T_STR, SECRET, .def = NULL),                         \
    PG_USER_KEY(u, U, sslmode, SSLMODE, CFG_T_ENUM, 0, .choices = sslmode_choices),                \
    PG_USER_KEY(u, U, sslkey, SSLKEY, CFG_T_STR, 0, .def = NULL),                                  \
    PG_USER_KEY(u, U, sslpassword, SSLPASSWORD, CFG_T_STR, SECRET, .def = NULL),                   \
    PG_USER_KEY(u, U, sslcert, SSLCERT, CFG_T_STR, 0, .def = NULL),                                \
    PG_USER_KEY(u, U, sslrootcert, SSLROOTCERT, CFG_T_STR, 0, .def = NULL),                        \
    PG_USER_KEY(u, U, sslcrl, SSLCRL, CFG_T_STR, 0, .def = NULL),                                  \
    PG_USER_KEY(u, U, sslcrldir, SSLCRLDIR, CFG_T_STR, 0, .def = NULL),                            \
    PG_USER_KEY(u, U, sslnegotiation, SSLNEGOTIATION, CFG_T_ENUM, 0,                               \
                .choices = sslnegotiation_choices),                                                \
    PG_USER_KEY(u, U, gssencmode, GSSENCMODE, CFG_T_ENUM, 0, .choices = gss_choices),              \
    PG_USER_KEY(u, U, channel_binding, CHANNEL_BINDING, CFG_T_ENUM, 0, .choices = gss_choices)

#define PG_CALLBACK(a)                                                                             \
    {.path = "postgresql.callbacks." #a, .type = CFG_T_STR, .flags = RL, .off = PG(callbacks.a),   \
     .check = check_command}
#define PG_BIN(b, B)                                                                               \
    {.path = "postgresql.bin_name." #b, .type = CFG_T_STR, .off = PG(bin_name.b),                  \
     .patroni_env = "PATRONI_POSTGRESQL_BIN_" #B, .check = check_bin_name}
/* clang-format on */

/* clang-format off */
const struct cfg_key cfg__keys[] = {
    {.path = "scope", .type = CFG_T_STR, .flags = REQ | WIT, .off = F(scope),
     .patroni_env = "PATRONI_SCOPE", .check = check_name},
    {.path = "name", .type = CFG_T_STR, .flags = REQ | WIT, .off = F(name),
     .patroni_env = "PATRONI_NAME", .check = check_name},
    {.path = "namespace", .type = CFG_T_STR, .off = F(namespace), .def = "/service",
     .patroni_env = "PATRONI_NAMESPACE", .check = check_namespace},
    UNUSED("thread_pool_size"),
    UNUSED("thread_stack_size"),

    {.path = "restapi", .type = CFG_T_SECTION, .flags = WIT, .off = NOF},
    {.path = "restapi.listen", .type = CFG_T_STR, .flags = REQ, .off = F(restapi.listen),
     .patroni_env = "PATRONI_RESTAPI_LISTEN", .check = check_api_listen},
    {.path = "restapi.connect_address", .type = CFG_T_STR, .off = F(restapi.connect_address),
     .patroni_env = "PATRONI_RESTAPI_CONNECT_ADDRESS", .check = check_hostport},
    {.path = "restapi.authentication", .type = CFG_T_SECTION, .off = NOF},
    {.path = "restapi.authentication.username", .type = CFG_T_STR, .flags = RL,
     .off = F(restapi.authentication.username), .patroni_env = "PATRONI_RESTAPI_USERNAME"},
    {.path = "restapi.authentication.password", .type = CFG_T_STR, .flags = RL | SECRET,
     .off = F(restapi.authentication.password), .patroni_env = "PATRONI_RESTAPI_PASSWORD"},
    {.path = "restapi.certfile", .type = CFG_T_STR, .flags = RL, .off = F(restapi.certfile),
     .patroni_env = "PATRONI_RESTAPI_CERTFILE"},
    {.path = "restapi.keyfile", .type = CFG_T_STR, .flags = RL, .off = F(restapi.keyfile),
     .patroni_env = "PATRONI_RESTAPI_KEYFILE"},
    {.path = "restapi.cafile", .type = CFG_T_STR, .flags = RL, .off = F(restapi.cafile),
     .patroni_env = "PATRONI_RESTAPI_CAFILE"},
    {.path = "restapi.verify_client", .type = CFG_T_ENUM, .flags = RL,
     .off = F(restapi.verify_client), .def = "none", .choices = verify_client_choices,
     .patroni_env = "PATRONI_RESTAPI_VERIFY_CLIENT"},
    {.path = "restapi.allowlist", .type = CFG_T_STRLIST, .flags = RL, .off = F(restapi.allowlist),
     .off_n = F(restapi.n_allowlist), .patroni_env = "PATRONI_RESTAPI_ALLOWLIST"},
    {.path = "restapi.allowlist_include_members", .type = CFG_T_BOOL, .flags = RL,
     .off = F(restapi.allowlist_include_members), .def = "false",
     .patroni_env = "PATRONI_RESTAPI_ALLOWLIST_INCLUDE_MEMBERS"},
    UNUSED("restapi.keyfile_password"),
    UNUSED("restapi.ciphers"),
    UNUSED("restapi.http_extra_headers"),
    UNUSED("restapi.https_extra_headers"),
    UNUSED("restapi.request_queue_size"),
    UNUSED("restapi.server_tokens"),
    UNUSED("restapi.thread_pool_size"),

    {.path = "raft", .type = CFG_T_SECTION, .flags = WIT, .off = NOF},
    {.path = "raft.data_dir", .type = CFG_T_STR, .flags = REQ, .off = F(raft.data_dir),
     .patroni_env = "PATRONI_RAFT_DATA_DIR", .check = check_abs_path},
    {.path = "raft.self_addr", .type = CFG_T_STR, .flags = REQ, .off = F(raft.self_addr),
     .patroni_env = "PATRONI_RAFT_SELF_ADDR", .check = check_raft_addr},
    {.path = "raft.bind_addr", .type = CFG_T_STR, .off = F(raft.bind_addr),
     .patroni_env = "PATRONI_RAFT_BIND_ADDR", .check = check_raft_addr},
    {.path = "raft.partner_addrs", .type = CFG_T_STRLIST, .off = F(raft.partner_addrs),
     .off_n = F(raft.n_partner_addrs), .patroni_env = "PATRONI_RAFT_PARTNER_ADDRS",
     .check = check_raft_addr},
    {.path = "raft.password", .type = CFG_T_STR, .flags = REQ | SECRET, .off = F(raft.password),
     .patroni_env = "PATRONI_RAFT_PASSWORD", .check = check_password},
    {.path = "raft.election_timeout", .type = CFG_T_MS, .off = F(raft.election_timeout),
     .def = "0.5", .min = 0.1, .max = 60},
    {.path = "raft.heartbeat_interval", .type = CFG_T_MS, .off = F(raft.heartbeat_interval),
     .def = "0.05", .min = 0.01, .max = 10},
    {.path = "raft.renew_interval", .type = CFG_T_MS, .off = F(lease.renew_interval),
     .def = "0.25", .min = 0.05, .max = 600},
    {.path = "raft.voters", .type = CFG_T_UINT, .flags = RL, .off = F(raft.voters), .def = "3",
     .min = 0, .max = 1000, .check = check_voters},
    {.path = "raft.allow_public_addr", .type = CFG_T_BOOL, .off = F(raft.allow_public_addr),
     .def = "false"},
    {.path = "raft.segment_size", .type = CFG_T_UINT, .off = F(raft.segment_size), .def = "0",
     .min = 0, .max = 1073741824},
    {.path = "raft.snapshot_threshold", .type = CFG_T_UINT, .off = F(raft.snapshot_threshold),
     .def = "1024", .min = 1, .max = 1000000000},
    {.path = "raft.snapshot_trailing", .type = CFG_T_UINT, .off = F(raft.snapshot_trailing),
     .def = "512", .min = 0, .max = 1000000000},
    UNUSED("raft.min_timeout"),
    UNUSED("raft.max_timeout"),
    UNUSED("raft.connection_timeout"),
    UNUSED("raft.append_entries_period"),
    UNUSED("raft.connection_retry_time"),
    UNUSED("raft.leader_fallback_timeout"),

    {.path = "bootstrap", .type = CFG_T_SECTION, .off = NOF},
    {.path = "bootstrap.dcs", .type = CFG_T_SECTION, .flags = CFG_K_OPEN, .off = F(bootstrap_dcs),
     .def = "{}"},
    {.path = "bootstrap.dcs.ttl", .type = CFG_T_MS, .off = F(lease.ttl), .def = "2.5", .min = 1,
     .max = 3600},
    {.path = "bootstrap.dcs.loop_wait", .type = CFG_T_MS, .off = F(lease.loop_wait), .def = "1",
     .min = 0.1, .max = 3600},
    {.path = "bootstrap.dcs.retry_timeout", .type = CFG_T_MS, .off = F(lease.retry_timeout),
     .def = "0.5", .min = 0.1, .max = 3600},
    {.path = "bootstrap.dcs.maximum_lag_on_failover", .type = CFG_T_U64,
     .off = F(lease.maximum_lag_on_failover), .def = "1048576", .min = 0, .max = 1e18},
    /* The rest of the dynamic configuration (spec 4.2): checked only there,
     * by cfg_dcs_check (CFG_K_DYNAMIC); a local file keeps them as written. */
    {.path = "bootstrap.dcs.check_timeline", .type = CFG_T_BOOL, .flags = DYN, .off = NOF},
    {.path = "bootstrap.dcs.pause", .type = CFG_T_BOOL, .flags = DYN, .off = NOF},
    {.path = "bootstrap.dcs.postgresql", .type = CFG_T_SECTION, .flags = DYN, .off = NOF},
    {.path = "bootstrap.dcs.postgresql.use_pg_rewind", .type = CFG_T_BOOL, .flags = DYN,
     .off = NOF},
    {.path = "bootstrap.dcs.postgresql.use_slots", .type = CFG_T_BOOL, .flags = DYN, .off = NOF},
    {.path = "bootstrap.dcs.postgresql.parameters", .type = CFG_T_JSON, .flags = DYN, .off = NOF,
     .json_type = cJSON_Object},
    {.path = "bootstrap.dcs.postgresql.pg_hba", .type = CFG_T_JSON, .flags = DYN, .off = NOF,
     .json_type = cJSON_Array, .check = check_string_list},
    {.path = "bootstrap.dcs.postgresql.pg_ident", .type = CFG_T_JSON, .flags = DYN, .off = NOF,
     .json_type = cJSON_Array, .check = check_string_list},
    DYN_UNUSED("bootstrap.dcs.postgresql.recovery_conf"),
    DYN_UNUSED("bootstrap.dcs.maximum_lag_on_syncnode"),
    DYN_UNUSED("bootstrap.dcs.max_timelines_history"),
    DYN_UNUSED("bootstrap.dcs.primary_start_timeout"),
    DYN_UNUSED("bootstrap.dcs.master_start_timeout"),
    DYN_UNUSED("bootstrap.dcs.primary_stop_timeout"),
    DYN_UNUSED("bootstrap.dcs.master_stop_timeout"),
    {.path = "bootstrap.dcs.synchronous_mode", .type = CFG_T_JSON, .flags = DYN, .off = NOF,
     .check = check_sync_mode},
    {.path = "bootstrap.dcs.synchronous_mode_strict", .type = CFG_T_BOOL, .flags = DYN,
     .off = NOF},
    {.path = "bootstrap.dcs.synchronous_node_count", .type = CFG_T_UINT, .flags = DYN,
     .off = NOF, .min = 1, .max = 16},
    DYN_UNUSED("bootstrap.dcs.failsafe_mode"),
    DYN_UNUSED("bootstrap.dcs.member_slots_ttl"),
    DYN_UNUSED("bootstrap.dcs.slots"),
    DYN_UNUSED("bootstrap.dcs.permanent_slots"),
    DYN_UNUSED("bootstrap.dcs.permanent_replication_slots"),
    DYN_UNUSED("bootstrap.dcs.ignore_slots"),
    DYN_UNUSED("bootstrap.dcs.standby_cluster"),
    {.path = "bootstrap.initdb", .type = CFG_T_JSON, .off = F(bootstrap_initdb),
     .json_type = cJSON_Array},
    {.path = "bootstrap.pg_hba", .type = CFG_T_JSON, .off = F(bootstrap_pg_hba),
     .json_type = cJSON_Array},
    UNUSED("bootstrap.method"),
    UNUSED("bootstrap.post_bootstrap"),
    UNUSED("bootstrap.post_init"),
    UNUSED("bootstrap.users"),

    /* Open: keys missing from the table (per-method sections, parameters_<role>,
     * ...) are kept in postgresql.raw without a warning. */
    {.path = "postgresql", .type = CFG_T_SECTION, .flags = CFG_K_OPEN | RL, .off = F(postgresql.raw),
     .def = "{}"},
    {.path = "postgresql.listen", .type = CFG_T_STR, .off = PG(listen),
     .patroni_env = "PATRONI_POSTGRESQL_LISTEN", .check = check_pg_listen},
    {.path = "postgresql.connect_address", .type = CFG_T_STR, .off = PG(connect_address),
     .patroni_env = "PATRONI_POSTGRESQL_CONNECT_ADDRESS", .check = check_hostport},
    {.path = "postgresql.proxy_address", .type = CFG_T_STR, .flags = RL, .off = PG(proxy_address),
     .patroni_env = "PATRONI_POSTGRESQL_PROXY_ADDRESS", .check = check_hostport},
    {.path = "postgresql.data_dir", .type = CFG_T_STR, .flags = REQ, .off = PG(data_dir),
     .patroni_env = "PATRONI_POSTGRESQL_DATA_DIR", .check = check_abs_path},
    {.path = "postgresql.config_dir", .type = CFG_T_STR, .off = PG(config_dir),
     .patroni_env = "PATRONI_POSTGRESQL_CONFIG_DIR", .check = check_abs_path},
    {.path = "postgresql.bin_dir", .type = CFG_T_STR, .off = PG(bin_dir),
     .patroni_env = "PATRONI_POSTGRESQL_BIN_DIR"},
    {.path = "postgresql.pgpass", .type = CFG_T_STR, .off = PG(pgpass),
     .patroni_env = "PATRONI_POSTGRESQL_PGPASS"},
    {.path = "postgresql.bin_name", .type = CFG_T_SECTION, .flags = CFG_K_OPEN, .off = NOF},
    PG_BIN(pg_ctl, PG_CTL),
    PG_BIN(initdb, INITDB),
    PG_BIN(pg_controldata, PG_CONTROLDATA),
    PG_BIN(pg_basebackup, PG_BASEBACKUP),
    PG_BIN(postgres, POSTGRES),
    PG_BIN(pg_isready, PG_ISREADY),
    PG_BIN(pg_rewind, PG_REWIND),
    {.path = "postgresql.authentication", .type = CFG_T_SECTION, .flags = CFG_K_OPEN, .off = NOF},
    PG_USER(superuser, SUPERUSER, "postgres"),
    PG_USER(replication, REPLICATION, "replicator"),
    PG_USER(rewind, REWIND, NULL),
    {.path = "postgresql.callbacks", .type = CFG_T_SECTION, .flags = CFG_K_OPEN, .off = NOF},
    PG_CALLBACK(on_start),
    PG_CALLBACK(on_stop),
    PG_CALLBACK(on_restart),
    PG_CALLBACK(on_reload),
    PG_CALLBACK(on_role_change),
    {.path = "postgresql.callbacks_timeout", .type = CFG_T_MS, .flags = RL,
     .off = PG(callbacks_timeout), .def = "30", .min = 1, .max = 3600},
    {.path = "postgresql.pg_ctl_timeout", .type = CFG_T_MS, .flags = RL, .off = PG(pg_ctl_timeout),
     .def = "60", .min = 1, .max = 86400},
    {.path = "postgresql.use_pg_rewind", .type = CFG_T_BOOL, .flags = RL, .off = PG(use_pg_rewind),
     .def = "false"},
    {.path = "postgresql.remove_data_directory_on_rewind_failure", .type = CFG_T_BOOL, .flags = RL,
     .off = PG(remove_data_directory_on_rewind_failure), .def = "false"},
    {.path = "postgresql.remove_data_directory_on_diverged_timelines", .type = CFG_T_BOOL,
     .flags = RL, .off = PG(remove_data_directory_on_diverged_timelines), .def = "false"},
    {.path = "postgresql.use_unix_socket", .type = CFG_T_BOOL, .flags = RL,
     .off = PG(use_unix_socket), .def = "false"},
    {.path = "postgresql.use_unix_socket_repl", .type = CFG_T_BOOL, .flags = RL,
     .off = PG(use_unix_socket_repl), .def = "false"},
    {.path = "postgresql.parameters", .type = CFG_T_JSON, .flags = RL, .off = PG(parameters),
     .json_type = cJSON_Object},
    {.path = "postgresql.pg_hba", .type = CFG_T_JSON, .flags = RL, .off = PG(pg_hba),
     .json_type = cJSON_Array, .check = check_string_list},
    {.path = "postgresql.pg_ident", .type = CFG_T_JSON, .flags = RL, .off = PG(pg_ident),
     .json_type = cJSON_Array, .check = check_string_list},
    {.path = "postgresql.basebackup", .type = CFG_T_JSON, .flags = RL, .off = PG(basebackup),
     .check = check_map_or_list},
    {.path = "postgresql.rewind", .type = CFG_T_JSON, .flags = RL, .off = PG(rewind),
     .check = check_map_or_list},
    {.path = "postgresql.create_replica_methods", .type = CFG_T_STRLIST, .flags = RL,
     .off = PG(create_replica_methods), .off_n = PG(n_create_replica_methods),
     .def = "basebackup", .check = check_replica_method},
    UNUSED("postgresql.pre_promote"),
    UNUSED("postgresql.before_stop"),
    UNUSED("postgresql.recovery_conf"),
    UNUSED("postgresql.custom_conf"),

    {.path = "watchdog", .type = CFG_T_SECTION, .off = NOF},
    {.path = "watchdog.mode", .type = CFG_T_ENUM, .off = F(watchdog.mode), .def = "automatic",
     .choices = watchdog_mode_choices},
    /* testing: the test driver of agent/watchdog.h (device = its events
     * file). For test suites only. */
    {.path = "watchdog.driver", .type = CFG_T_ENUM, .off = F(watchdog.driver), .def = "linux",
     .choices = watchdog_driver_choices},
    {.path = "watchdog.device", .type = CFG_T_STR, .off = F(watchdog.device),
     .def = "/dev/watchdog", .check = check_abs_path},
    {.path = "watchdog.safety_margin", .type = CFG_T_MS, .off = F(lease.safety_margin),
     .def = "0.4", .min = 0.1, .max = 3600},
    {.path = "watchdog.timeout", .type = CFG_T_MS, .off = F(watchdog.timeout), .def = "2",
     .min = 1, .max = 600, .check = check_whole_secs},

    {.path = "tags", .type = CFG_T_JSON, .flags = RL, .off = F(tags), .def = "{}",
     .json_type = cJSON_Object},
    {.path = "ctl", .type = CFG_T_JSON, .off = F(ctl), .json_type = cJSON_Object},

    {.path = "log", .type = CFG_T_SECTION, .flags = WIT, .off = NOF},
    {.path = "log.level", .type = CFG_T_LOGLEVEL, .flags = RL, .off = F(log.level), .def = "INFO",
     .patroni_env = "PATRONI_LOG_LEVEL"},
    {.path = "log.dir", .type = CFG_T_STR, .flags = RL, .off = F(log.dir),
     .patroni_env = "PATRONI_LOG_DIR"},
    {.path = "log.file_size", .type = CFG_T_U64, .flags = RL, .off = F(log.file_size),
     .def = "25000000", .min = 0, .max = 1e15, .patroni_env = "PATRONI_LOG_FILE_SIZE"},
    {.path = "log.file_num", .type = CFG_T_UINT, .flags = RL, .off = F(log.file_num), .def = "4",
     .min = 1, .max = 1000, .patroni_env = "PATRONI_LOG_FILE_NUM"},
    {.path = "log.loggers", .type = CFG_T_LOGGERS, .flags = RL, .off = F(log.modules),
     .off_n = F(log.n_modules)},
    {.path = "log.max_queue_size", .type = CFG_T_SIZE, .flags = RL, .off = F(log.max_queue_size),
     .def = "1000", .min = 1, .max = 10000000, .patroni_env = "PATRONI_LOG_MAX_QUEUE_SIZE"},
    UNUSED("log.type"),
    UNUSED("log.format"),
    UNUSED("log.dateformat"),
    UNUSED("log.traceback_level"),
    UNUSED("log.static_fields"),
    UNUSED("log.mode"),
    UNUSED("log.deduplicate_heartbeat_logs"),
};
/* clang-format on */
const size_t cfg__n_keys = RG_ARRAY_SIZE(cfg__keys);

/* --- lookup and field access ----------------------------------------- */

const struct cfg_key *cfg__key_find(const char *path, size_t len)
{
    for (size_t i = 0; i < cfg__n_keys; i++) {
        if (strncmp(cfg__keys[i].path, path, len) == 0 && cfg__keys[i].path[len] == '\0') {
            return &cfg__keys[i];
        }
    }
    return NULL;
}

size_t cfg__key_index(const struct cfg_key *k)
{
    return (size_t)(k - cfg__keys);
}

/* A witness accepts only the sections flagged CFG_K_WITNESS at the top;
 * nobody's local file has the dynamic-only keys. */
bool cfg__key_allowed(enum cfg_kind kind, const struct cfg_key *k)
{
    if (k->flags & CFG_K_DYNAMIC) {
        return false; /* not a key of the local file (see CFG_K_DYNAMIC) */
    }
    if (kind == CFG_AGENT) {
        return true;
    }
    const struct cfg_key *top = cfg__key_find(k->path, strcspn(k->path, "."));
    return top != NULL && (top->flags & CFG_K_WITNESS);
}

void *cfg__field(struct cfg *cfg, const struct cfg_key *k)
{
    RG_PRE(k->off != CFG_NOFIELD);
    return (char *)cfg + k->off;
}

static size_t *field_count(struct cfg *cfg, const struct cfg_key *k)
{
    return (size_t *)(void *)((char *)cfg + k->off_n);
}

void cfg__key_clear(struct cfg *cfg, const struct cfg_key *k)
{
    if (k->off == CFG_NOFIELD) {
        return;
    }
    void *f = cfg__field(cfg, k);
    switch (k->type) {
    case CFG_T_STR:
    case CFG_T_ENUM:
        rg_free(*(char **)f);
        *(char **)f = NULL;
        break;
    case CFG_T_STRLIST: {
        char **items = *(char ***)f;
        size_t *n = field_count(cfg, k);
        for (size_t i = 0; i < *n; i++) {
            rg_free(items[i]);
        }
        rg_free(items);
        *(char ***)f = NULL;
        *n = 0;
        break;
    }
    case CFG_T_LOGGERS: {
        struct rg_log_module_level *m = *(struct rg_log_module_level **)f;
        size_t *n = field_count(cfg, k);
        for (size_t i = 0; i < *n; i++) {
            rg_free(m[i].module);
        }
        rg_free(m);
        *(struct rg_log_module_level **)f = NULL;
        *n = 0;
        break;
    }
    case CFG_T_JSON:
    case CFG_T_SECTION:
        cJSON_Delete(*(cJSON **)f);
        *(cJSON **)f = NULL;
        break;
    default:
        break;
    }
}

bool cfg__is_null(const char *s)
{
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

void cfg__fmt_secs(unsigned ms, char *buf, size_t len)
{
    if (ms % 1000 == 0) {
        snprintf(buf, len, "%u", ms / 1000);
        return;
    }
    snprintf(buf, len, "%u.%03u", ms / 1000, ms % 1000);
    char *end = buf + strlen(buf) - 1;
    while (*end == '0') {
        *end-- = '\0';
    }
}

/* --- parsing values --------------------------------------------------- */

static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0') {
        return false;
    }
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) {
            return false;
        }
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* "2.5" seconds → 2500 ms; digits with at most one '.', no sign or exponent. */
static bool parse_secs(const char *s, double *secs)
{
    size_t n = strlen(s), digits = 0, dots = 0;
    if (n == 0 || n > 20) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i])) {
            digits++;
        } else if (s[i] == '.') {
            dots++;
        } else {
            return false;
        }
    }
    if (digits == 0 || dots > 1) {
        return false;
    }
    *secs = strtod(s, NULL);
    return isfinite(*secs);
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static void range_msg(const struct cfg_key *k, char *why, size_t len)
{
    snprintf(why, len, "must be between %.15g and %.15g%s", k->min, k->max,
             k->type == CFG_T_MS ? " seconds" : "");
}

static int set_enum(char **f, const struct cfg_key *k, const char *text, char *why, size_t len)
{
    for (const char *const *c = k->choices; *c != NULL; c++) {
        const char *eq = strchr(*c, '=');
        size_t n = eq != NULL ? (size_t)(eq - *c) : strlen(*c);
        if (strncasecmp(text, *c, n) == 0 && text[n] == '\0') {
            rg_free(*f);
            *f = rg_strdup(eq != NULL ? eq + 1 : *c);
            return 0;
        }
    }
    size_t off = (size_t)snprintf(why, len, "must be one of");
    for (const char *const *c = k->choices; *c != NULL && off < len; c++) {
        if (strchr(*c, '=') == NULL) {
            off += (size_t)snprintf(why + off, len - off, "%s %s", c == k->choices ? "" : ",", *c);
        }
    }
    return -1;
}

/* "a, b" or "[a, b]" (as Patroni reads list variables) → items. */
static int
set_list_text(struct cfg *cfg, const struct cfg_key *k, const char *text, char *why, size_t len)
{
    char *copy = rg_strdup(text);
    char *s = copy;
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s[n - 1] = '\0';
        s++;
    }
    char **items = NULL;
    size_t count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) {
            tok++;
        }
        size_t tl = strlen(tok);
        while (tl > 0 && isspace((unsigned char)tok[tl - 1])) {
            tok[--tl] = '\0';
        }
        if (tl >= 2 && (tok[0] == '"' || tok[0] == '\'') && tok[tl - 1] == tok[0]) {
            tok[tl - 1] = '\0';
            tok++;
        }
        if (*tok == '\0') {
            continue;
        }
        items = rg_realloc(items, (count + 1) * sizeof *items);
        items[count++] = tok;
    }
    int rc = cfg__key_set_list(cfg, k, items, count, why, len);
    rg_free(items);
    rg_free(copy);
    return rc;
}

int cfg__key_set_list(
    struct cfg *cfg, const struct cfg_key *k, char **items, size_t n, char *why, size_t len)
{
    (void)why;
    (void)len;
    cfg__key_clear(cfg, k);
    char **copy = n > 0 ? rg_calloc(n, sizeof *copy) : NULL;
    for (size_t i = 0; i < n; i++) {
        copy[i] = rg_strdup(items[i]);
    }
    *(char ***)cfg__field(cfg, k) = copy;
    *field_count(cfg, k) = n;
    return 0;
}

/* Parse @text into @f, the storage of a value of @k (its field, or a
 * scratch value); @cfg is needed only for string lists. */
static int parse_text(
    struct cfg *cfg, const struct cfg_key *k, void *f, const char *text, char *why, size_t len)
{
    uint64_t u;
    double secs;
    switch (k->type) {
    case CFG_T_STR:
        rg_free(*(char **)f);
        *(char **)f = rg_strdup(text);
        return 0;
    case CFG_T_ENUM:
        return set_enum(f, k, text, why, len);
    case CFG_T_BOOL:
        if (!parse_bool(text, f)) {
            snprintf(why, len, "must be true or false");
            return -1;
        }
        return 0;
    case CFG_T_UINT:
    case CFG_T_U64:
    case CFG_T_SIZE:
        if (!parse_u64(text, &u)) {
            snprintf(why, len, "must be a whole number");
            return -1;
        }
        if ((double)u < k->min || (double)u > k->max) {
            range_msg(k, why, len);
            return -1;
        }
        if (k->type == CFG_T_UINT) {
            *(unsigned *)f = (unsigned)u;
        } else if (k->type == CFG_T_U64) {
            *(uint64_t *)f = u;
        } else {
            *(size_t *)f = (size_t)u;
        }
        return 0;
    case CFG_T_MS:
        if (!parse_secs(text, &secs)) {
            snprintf(why, len, "must be a number of seconds (decimals allowed, as 2.5)");
            return -1;
        }
        /* Whole ms, rounded (rgcore does not link libm). */
        if (secs > k->max || (uint64_t)(secs * 1000 + 0.5) < (uint64_t)(k->min * 1000 + 0.5)) {
            range_msg(k, why, len);
            return -1;
        }
        *(unsigned *)f = (unsigned)(secs * 1000 + 0.5);
        return 0;
    case CFG_T_LOGLEVEL: {
        int level = rg_log_level_parse(text);
        if (level < 0) {
            snprintf(why, len, "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL");
            return -1;
        }
        *(int *)f = level;
        return 0;
    }
    case CFG_T_STRLIST:
        return set_list_text(cfg, k, text, why, len);
    default:
        snprintf(why, len, "cannot be given as a single value");
        return -1;
    }
}

int cfg__key_set_text(
    struct cfg *cfg, const struct cfg_key *k, const char *text, char *why, size_t len)
{
    return parse_text(cfg, k, cfg__field(cfg, k), text, why, len);
}

int cfg__key_check_text(const struct cfg_key *k, const char *text, char *why, size_t len)
{
    /* Every scalar type's storage fits in here; the validators read the
     * value through a pointer to it, as they read a field. */
    union {
        char *s;
        bool b;
        unsigned u;
        uint64_t u64;
        size_t z;
        int i;
    } v;
    memset(&v, 0, sizeof v);
    if (k->type == CFG_T_STRLIST || k->type == CFG_T_SECTION || k->type == CFG_T_JSON ||
        k->type == CFG_T_LOGGERS || k->type == CFG_T_UNUSED) {
        snprintf(why, len, "cannot be given as a single value");
        return -1;
    }
    int rc = parse_text(NULL, k, &v, text, why, len);
    if (rc == 0 && k->check != NULL && !k->check(k, &v, why, len)) {
        rc = -1;
    }
    if (k->type == CFG_T_STR || k->type == CFG_T_ENUM) {
        rg_free(v.s);
    }
    return rc;
}

/* --- environment ------------------------------------------------------ */

static bool env_settable(const struct cfg_key *k)
{
    return k->type != CFG_T_SECTION && k->type != CFG_T_JSON && k->type != CFG_T_LOGGERS &&
           k->type != CFG_T_UNUSED;
}

static void env_name(const char *prefix, const char *path, char *buf, size_t len)
{
    size_t off = (size_t)snprintf(buf, len, "%s", prefix);
    for (const char *p = path; *p && off + 1 < len; p++) {
        buf[off++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    }
    buf[off < len ? off : len - 1] = '\0';
}

static void env_apply_one(struct cfg_ctx *ctx, size_t i, const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        return;
    }
    char why[512];
    if (cfg__key_set_text(ctx->cfg, &cfg__keys[i], v, why, sizeof why) != 0) {
        cfg__errorf(ctx, "environment %s: %s", name, why);
        return;
    }
    struct cfg_src *s = &ctx->src[i];
    rg_free(s->env);
    s->kind = CFG_SRC_ENV;
    s->env = rg_strdup(name);
}

void cfg__apply_env(struct cfg_ctx *ctx)
{
    for (size_t i = 0; i < cfg__n_keys; i++) {
        const struct cfg_key *k = &cfg__keys[i];
        if (!env_settable(k) || !cfg__key_allowed(ctx->kind, k)) {
            continue;
        }
        /* Patroni's name first, so that ours wins when both are set. */
        if (k->patroni_env != NULL) {
            env_apply_one(ctx, i, k->patroni_env);
        }
        char name[128];
        env_name("REGENT_", k->path, name, sizeof name);
        env_apply_one(ctx, i, name);
    }
}

/* --- defaults --------------------------------------------------------- */

void cfg__apply_defaults(struct cfg_ctx *ctx)
{
    struct cfg *cfg = ctx->cfg;
    for (size_t i = 0; i < cfg__n_keys; i++) {
        const struct cfg_key *k = &cfg__keys[i];
        if (k->def == NULL || ctx->src[i].kind != CFG_SRC_NONE || !cfg__key_allowed(ctx->kind, k)) {
            continue;
        }
        if (k->type == CFG_T_JSON || k->type == CFG_T_SECTION) {
            cJSON **j = cfg__field(cfg, k);
            if (*j == NULL) {
                *j = cJSON_Parse(k->def);
            }
        } else {
            char why[256];
            int rc = cfg__key_set_text(cfg, k, k->def, why, sizeof why);
            RG_ASSERT(rc == 0);
        }
        ctx->src[i].kind = CFG_SRC_DEFAULT;
    }
    const struct cfg_key *ttl = cfg__key_find("bootstrap.dcs.ttl", 17);
    if (ctx->kind == CFG_AGENT && ctx->src[cfg__key_index(ttl)].kind == CFG_SRC_DEFAULT &&
        cfg->watchdog.mode != NULL && strcmp(cfg->watchdog.mode, "required") == 0) {
        char why[256];
        int rc = cfg__key_set_text(cfg, ttl, TTL_DEFAULT_WITH_WATCHDOG, why, sizeof why);
        RG_ASSERT(rc == 0);
    }
    cfg->lease.fence_budget = CFG_FENCE_MS;
}
