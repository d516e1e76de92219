/*
 * pgi_conf: merging and rendering PostgreSQL's configuration (pure).
 *
 * pgi_conf_parameters merges in three passes. The dynamic object, then the
 * local one, go through take(): a name or value that cannot be written
 * safely is refused, names Regent controls are dropped, dynamic-only names
 * are set aside (from the dynamic object) or dropped (from the local one),
 * and everything else lands in the result, the local value replacing the
 * dynamic one. Then the dynamic-only table is resolved against what was set
 * aside (validate, default, raise to the minimum), wal_keep_* is translated
 * for the server version, and Regent's own GUCs go in last.
 *
 * This follows Patroni's ConfigHandler.CMDLINE_OPTIONS and
 * Config._process_postgresql_parameters, with one difference: Patroni
 * replaces a value below the minimum with the default, Regent raises it to
 * the minimum (the operator asked for less, not for the default).
 *
 * Rendering quotes the way PostgreSQL's GUC lexer reads (guc-file.l): inside
 * '…', '' is a quote and a backslash escapes (\n, \r, octal, or the next
 * character itself). Control characters are always escaped, so a value can
 * never end its line; pgi_conf_parameters refuses line breaks anyway, so that
 * a dynamic configuration cannot even try.
 */
#include "pg/pgi_conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/rg.h"
#include "agent/rg_guc.h"

#define NAME_MAX_LEN 127

/* --- a growing string ----------------------------------------------------- */

struct sb {
    char *s; /* owned */
    size_t len, cap;
};

static void sb_reserve(struct sb *b, size_t more)
{
    if (b->len + more + 1 <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) {
        cap *= 2;
    }
    b->s = rg_realloc(b->s, cap);
    b->cap = cap;
}

static void sb_putc(struct sb *b, char c)
{
    sb_reserve(b, 1);
    b->s[b->len++] = c;
    b->s[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    size_t n = strlen(s);
    sb_reserve(b, n);
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

static void __attribute__((format(printf, 2, 3))) sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    RG_ASSERT(n >= 0);
    sb_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The text, never NULL (rg_malloc'd). */
static char *sb_take(struct sb *b)
{
    if (b->s == NULL) {
        return rg_strdup("");
    }
    char *s = b->s;
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

/* --- names and values ----------------------------------------------------- */

bool pgi_conf_name_valid(const char *name)
{
    size_t n = 0;
    bool part_start = true;

    if (name == NULL) {
        return false;
    }
    for (const char *p = name; *p != '\0'; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (n >= NAME_MAX_LEN) {
            return false;
        }
        if (c == '.') {
            if (part_start) {
                return false; /* leading dot or ".." */
            }
            part_start = true;
            continue;
        }
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!letter && !(digit && !part_start)) {
            return false;
        }
        part_start = false;
    }
    return n > 0 && !part_start;
}

/* @name (valid) lower-cased into @out (NAME_MAX_LEN + 1 bytes). */
static void lower_name(const char *name, char *out)
{
    size_t i;
    for (i = 0; name[i] != '\0' && i < NAME_MAX_LEN; i++) {
        out[i] = (char)tolower((unsigned char)name[i]);
    }
    out[i] = '\0';
}

/* @s made safe for a one-line message: control characters become '?', and
 * long text is cut ("…"). */
static const char *shown(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    if (s == NULL) {
        return "(null)";
    }
    for (; s[i] != '\0' && i + 4 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

/* A number as PostgreSQL prints it: integers without ".0", others in the
 * shortest form that reads back the same. False for NaN/infinity. */
static bool format_number(double v, char *buf, size_t len)
{
    if (!isfinite(v)) {
        return false;
    }
    if (v > -1e15 && v < 1e15 && (double)(long long)v == v) {
        snprintf(buf, len, "%lld", (long long)v);
        return true;
    }
    snprintf(buf, len, "%.15g", v);
    if (strtod(buf, NULL) != v) {
        snprintf(buf, len, "%.17g", v);
    }
    return true;
}

/* NULL when @v can be a parameter value; else why not. */
static const char *value_refusal(const cJSON *v)
{
    char num[64];
    if (cJSON_IsString(v)) {
        if (strpbrk(v->valuestring, "\n\r") != NULL) {
            return "the value contains a line break";
        }
        return NULL;
    }
    if (cJSON_IsNumber(v)) {
        return format_number(v->valuedouble, num, sizeof num) ? NULL : "the value is not finite";
    }
    if (cJSON_IsBool(v)) {
        return NULL;
    }
    return "the value is not a string, number or boolean";
}

bool pgi_conf_value_text(const cJSON *parameters, const char *name, char *buf, size_t len)
{
    char num[64];
    const char *text;
    const cJSON *v;

    if (!cJSON_IsObject(parameters) || name == NULL || len == 0) {
        return false;
    }
    v = cJSON_GetObjectItem(parameters, name);
    if (cJSON_IsString(v)) {
        text = v->valuestring;
    } else if (cJSON_IsBool(v)) {
        text = cJSON_IsTrue(v) ? "on" : "off";
    } else if (cJSON_IsNumber(v) && format_number(v->valuedouble, num, sizeof num)) {
        text = num;
    } else {
        return false;
    }
    if (strlen(text) >= len) {
        return false;
    }
    memcpy(buf, text, strlen(text) + 1);
    return true;
}

/* --- merging --------------------------------------------------------------- */

enum dyn_type { DYN_INT, DYN_BOOL, DYN_BOOL_ON, DYN_WAL_LEVEL, DYN_WAL_KEEP };

/* Patroni's CMDLINE_OPTIONS, minus what Regent sets itself. */
static const struct dyn_param {
    const char *name;
    enum dyn_type type;
    long long def, min; /* DYN_INT; DYN_BOOL*: def is 0 or 1 */
    bool cmdline;       /* Patroni passes it on the postgres command line */
} dynamic_only[] = {
    {"max_connections", DYN_INT, 100, 25, true},
    {"max_locks_per_transaction", DYN_INT, 64, 32, true},
    {"max_worker_processes", DYN_INT, 8, 2, true},
    {"max_prepared_transactions", DYN_INT, 0, 0, true},
    {"wal_level", DYN_WAL_LEVEL, 0, 0, true},
    {"track_commit_timestamp", DYN_BOOL, 0, 0, true},
    {"max_wal_senders", DYN_INT, 10, 3, true},
    {"max_replication_slots", DYN_INT, 10, 4, true},
    {"wal_log_hints", DYN_BOOL_ON, 1, 0, true},
    {"wal_keep_size", DYN_WAL_KEEP, 128 * 1024, 16 * 1024, false}, /* kB */
    {"wal_keep_segments", DYN_WAL_KEEP, 8, 1, false},
};

/* Set by Regent itself: from postgresql.listen, the scope, and always on. */
static const char *const controlled[] = {"listen_addresses", "port", "cluster_name", "hot_standby"};

/* pgi_conf_render's standby block. */
static const char *const recovery[] = {"primary_conninfo", "primary_slot_name",
                                       "recovery_target_timeline"};

static const struct dyn_param *find_dynamic_only(const char *name)
{
    for (size_t i = 0; i < RG_ARRAY_SIZE(dynamic_only); i++) {
        if (strcasecmp(name, dynamic_only[i].name) == 0) {
            return &dynamic_only[i];
        }
    }
    return NULL;
}

static bool in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(name, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

bool pgi_conf_is_cmdline(const char *name)
{
    const struct dyn_param *p;
    if (name == NULL) {
        return false;
    }
    if (in_list(name, controlled, RG_ARRAY_SIZE(controlled))) {
        return true;
    }
    p = find_dynamic_only(name);
    return p != NULL && p->cmdline;
}

struct merge {
    cJSON *out;        /* owned until returned */
    cJSON *dyn;        /* owned: dynamic-only values from @dynamic */
    struct sb warn;    /* lines */
    const char *addrs; /* borrowed */
    unsigned port;
    const char *scope; /* borrowed */
};

static void put(cJSON *obj, const char *name, cJSON *item)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, name) != NULL) {
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item);
    } else {
        cJSON_AddItemToObject(obj, name, item);
    }
}

/* Warn when a user value for a controlled GUC differs from Regent's. */
static void check_controlled(struct merge *m, const char *src, const char *name, const cJSON *v)
{
    char have[256], want[32];
    const char *expect = NULL;
    bool on;

    if (strcmp(name, "hot_standby") == 0) {
        if (rg_guc_bool(v, &on) && on) {
            return;
        }
        expect = "on";
    } else if (strcmp(name, "port") == 0) {
        if (m->port != 0) {
            snprintf(want, sizeof want, "%u", m->port);
            expect = want;
        }
    } else if (strcmp(name, "listen_addresses") == 0) {
        expect = m->addrs;
    } else {
        expect = m->scope;
    }
    cJSON *wrap = cJSON_CreateObject();
    cJSON_AddItemToObject(wrap, "v", cJSON_Duplicate(v, false));
    bool same = pgi_conf_value_text(wrap, "v", have, sizeof have) && expect != NULL &&
                strcmp(have, expect) == 0;
    cJSON_Delete(wrap);
    if (!same) {
        sb_printf(&m->warn, "%s postgresql.parameters.%s ignored: regent sets it%s\n", src, name,
                  strcmp(name, "cluster_name") == 0  ? " (to the scope)"
                  : strcmp(name, "hot_standby") == 0 ? " (to on)"
                                                     : " (from postgresql.listen)");
    }
}

static void take(struct merge *m, const cJSON *params, bool local)
{
    const char *src = local ? "local" : "dynamic";
    const cJSON *item;
    char name[NAME_MAX_LEN + 1], buf[80];

    if (params == NULL) {
        return;
    }
    if (!cJSON_IsObject(params)) {
        sb_printf(&m->warn, "%s postgresql.parameters ignored: not an object\n", src);
        return;
    }
    cJSON_ArrayForEach(item, params)
    {
        if (!pgi_conf_name_valid(item->string)) {
            sb_printf(&m->warn, "%s postgresql.parameters: \"%s\" refused: not a parameter name\n",
                      src, shown(item->string, buf, sizeof buf));
            continue;
        }
        lower_name(item->string, name);
        const char *why = value_refusal(item);
        if (why != NULL) {
            sb_printf(&m->warn, "%s postgresql.parameters.%s refused: %s\n", src, name, why);
            continue;
        }
        if (in_list(name, controlled, RG_ARRAY_SIZE(controlled))) {
            check_controlled(m, src, name, item);
            continue;
        }
        if (in_list(name, recovery, RG_ARRAY_SIZE(recovery))) {
            sb_printf(&m->warn, "%s postgresql.parameters.%s ignored: regent sets it on standbys\n",
                      src, name);
            continue;
        }
        if (find_dynamic_only(name) != NULL) {
            if (local) {
                sb_printf(&m->warn,
                          "local postgresql.parameters.%s ignored: it can only be set in the "
                          "dynamic configuration\n",
                          name);
            } else {
                put(m->dyn, name, cJSON_Duplicate(item, false));
            }
            continue;
        }
        put(m->out, name, cJSON_Duplicate(item, false));
    }
}

static void resolve_int(struct merge *m, const struct dyn_param *p)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->dyn, p->name);
    long long n = p->def;
    if (v != NULL && !rg_guc_int(v, &n)) {
        sb_printf(&m->warn,
                  "dynamic postgresql.parameters.%s is not an integer: using the default %lld\n",
                  p->name, p->def);
        n = p->def;
    } else if (n < p->min) {
        sb_printf(&m->warn,
                  "dynamic postgresql.parameters.%s = %lld is below the minimum %lld: using %lld\n",
                  p->name, n, p->min, p->min);
        n = p->min;
    }
    put(m->out, p->name, cJSON_CreateNumber((double)n));
}

static void resolve_bool(struct merge *m, const struct dyn_param *p)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->dyn, p->name);
    bool b = p->def != 0;
    if (v != NULL && !rg_guc_bool(v, &b)) {
        sb_printf(&m->warn, "dynamic postgresql.parameters.%s is not a boolean: using %s\n",
                  p->name, p->def ? "on" : "off");
        b = p->def != 0;
    } else if (p->type == DYN_BOOL_ON && !b) {
        sb_printf(&m->warn, "dynamic postgresql.parameters.%s = off refused: using on\n", p->name);
        b = true;
    }
    put(m->out, p->name, cJSON_CreateBool(b));
}

static void resolve_wal_level(struct merge *m, const struct dyn_param *p)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->dyn, p->name);
    const char *level = "replica";
    char buf[80];
    if (cJSON_IsString(v) && strcasecmp(v->valuestring, "logical") == 0) {
        level = "logical";
    } else if (v != NULL &&
               !(cJSON_IsString(v) && (strcasecmp(v->valuestring, "replica") == 0 ||
                                       strcasecmp(v->valuestring, "hot_standby") == 0 ||
                                       strcasecmp(v->valuestring, "archive") == 0))) {
        sb_printf(&m->warn,
                  "dynamic postgresql.parameters.wal_level = %s refused (replication needs "
                  "replica or logical): using replica\n",
                  cJSON_IsString(v) ? shown(v->valuestring, buf, sizeof buf) : "(not a string)");
    }
    put(m->out, p->name, cJSON_CreateString(level));
}

/* wal_keep_size (>= 13) or wal_keep_segments (< 13) from whichever of the two
 * the dynamic configuration sets (the version's own name first), 16 MB a
 * segment; the default is 8 segments or 128MB. */
static void resolve_wal_keep(struct merge *m, unsigned pg_version_num)
{
    const struct dyn_param *size_p = find_dynamic_only("wal_keep_size");
    const struct dyn_param *segs_p = find_dynamic_only("wal_keep_segments");
    const cJSON *size_v = cJSON_GetObjectItemCaseSensitive(m->dyn, "wal_keep_size");
    const cJSON *segs_v = cJSON_GetObjectItemCaseSensitive(m->dyn, "wal_keep_segments");
    long long kb = -1, segs = -1;
    char text[64];

    if (size_v != NULL && !rg_guc_size_kb(size_v, &kb)) {
        sb_printf(&m->warn, "dynamic postgresql.parameters.wal_keep_size is not a size: ignored\n");
        kb = -1;
        size_v = NULL;
    }
    if (segs_v != NULL && (!rg_guc_int(segs_v, &segs) || segs > (1LL << 40))) {
        sb_printf(&m->warn,
                  "dynamic postgresql.parameters.wal_keep_segments is not an integer: ignored\n");
        segs = -1;
        segs_v = NULL;
    }
    if (size_v != NULL && kb < size_p->min) {
        sb_printf(&m->warn,
                  "dynamic postgresql.parameters.wal_keep_size is below the minimum 16MB: "
                  "using 16MB\n");
        kb = size_p->min;
        size_v = NULL; /* replaced below */
    }
    if (segs_v != NULL && segs < segs_p->min) {
        sb_printf(&m->warn,
                  "dynamic postgresql.parameters.wal_keep_segments = %lld is below the minimum "
                  "1: using 1\n",
                  segs);
        segs = segs_p->min;
    }
    if (pg_version_num >= 130000) {
        if (size_v != NULL) {
            put(m->out, "wal_keep_size", cJSON_Duplicate(size_v, false));
            return;
        }
        if (kb < 0) {
            kb = segs >= 0 ? segs * 16 * 1024 : size_p->def;
        }
        snprintf(text, sizeof text, "%lldMB", kb / 1024);
        put(m->out, "wal_keep_size", cJSON_CreateString(text));
        return;
    }
    if (segs < 0) {
        segs = kb >= 0 ? (kb / 1024 + 8) / 16 : segs_p->def;
    }
    put(m->out, "wal_keep_segments", cJSON_CreateNumber((double)segs));
}

cJSON *pgi_conf_parameters(const cJSON *dynamic,
                           const cJSON *local,
                           const char *listen_addresses,
                           unsigned port,
                           const char *cluster_name,
                           unsigned pg_version_num,
                           char **warnings)
{
    struct merge m = {
        .out = cJSON_CreateObject(),
        .dyn = cJSON_CreateObject(),
        .addrs = listen_addresses,
        .port = port,
        .scope = cluster_name,
    };
    RG_ASSERT(m.out != NULL && m.dyn != NULL);

    take(&m, dynamic, false);
    take(&m, local, true);
    for (size_t i = 0; i < RG_ARRAY_SIZE(dynamic_only); i++) {
        const struct dyn_param *p = &dynamic_only[i];
        switch (p->type) {
        case DYN_INT:
            resolve_int(&m, p);
            break;
        case DYN_BOOL:
        case DYN_BOOL_ON:
            resolve_bool(&m, p);
            break;
        case DYN_WAL_LEVEL:
            resolve_wal_level(&m, p);
            break;
        case DYN_WAL_KEEP:
            break;
        }
    }
    resolve_wal_keep(&m, pg_version_num);
    if (listen_addresses != NULL) {
        put(m.out, "listen_addresses", cJSON_CreateString(listen_addresses));
    }
    if (port != 0) {
        put(m.out, "port", cJSON_CreateNumber(port));
    }
    if (cluster_name != NULL) {
        put(m.out, "cluster_name", cJSON_CreateString(cluster_name));
    }
    put(m.out, "hot_standby", cJSON_CreateTrue());
    cJSON_Delete(m.dyn);

    if (warnings != NULL) {
        *warnings = m.warn.len > 0 ? sb_take(&m.warn) : NULL;
    }
    rg_free(m.warn.s);
    return m.out;
}

/* --- postgresql.listen ------------------------------------------------------- */

static bool addr_char_ok(unsigned char c)
{
    return isalnum(c) || c == '.' || c == ':' || c == '-' || c == '_' || c == '*' || c == '%';
}

int pgi_conf_parse_listen(const char *listen, char *addrs, size_t addrs_len, unsigned *port)
{
    const char *colon, *end, *p;
    size_t out = 0;

    if (listen == NULL || addrs == NULL || addrs_len == 0) {
        return RG_EINVAL;
    }
    colon = strrchr(listen, ':');
    if (colon == NULL) {
        *port = 5432;
        end = listen + strlen(listen);
    } else {
        char *pend;
        if (!isdigit((unsigned char)colon[1])) {
            return RG_EINVAL;
        }
        errno = 0;
        unsigned long v = strtoul(colon + 1, &pend, 10);
        if (errno != 0 || *pend != '\0' || v == 0 || v > 65535) {
            return RG_EINVAL;
        }
        *port = (unsigned)v;
        end = colon;
    }
    for (p = listen; p <= end; p++) {
        const char *a = p, *b;
        while (p < end && *p != ',') {
            p++;
        }
        b = p; /* [a, b) is one address */
        while (a < b && *a == ' ') {
            a++;
        }
        while (b > a && b[-1] == ' ') {
            b--;
        }
        if (b - a >= 2 && *a == '[' && b[-1] == ']') {
            a++;
            b--;
        }
        if (a == b) {
            return RG_EINVAL;
        }
        if (out + (out > 0) + (size_t)(b - a) + 1 > addrs_len) {
            return RG_EINVAL;
        }
        if (out > 0) {
            addrs[out++] = ',';
        }
        for (; a < b; a++) {
            if (!addr_char_ok((unsigned char)*a)) {
                return RG_EINVAL;
            }
            addrs[out++] = *a;
        }
    }
    addrs[out] = '\0';
    return 0;
}

/* --- rendering --------------------------------------------------------------- */

/* '…' with ' doubled, \ doubled and control characters escaped. */
static void put_quoted(struct sb *b, const char *s)
{
    sb_putc(b, '\'');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\'') {
            sb_puts(b, "''");
        } else if (c == '\\') {
            sb_puts(b, "\\\\");
        } else if (c == '\n') {
            sb_puts(b, "\\n");
        } else if (c == '\r') {
            sb_puts(b, "\\r");
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            sb_printf(b, "\\%03o", c);
        } else {
            sb_putc(b, (char)c);
        }
    }
    sb_putc(b, '\'');
}

/* A plain integer or decimal, which the GUC lexer reads bare; anything else
 * (an exponent without a dot: "1e+20") is quoted. */
static bool bare_number(const char *s)
{
    if (*s == '-') {
        s++;
    }
    if (!isdigit((unsigned char)*s)) {
        return false;
    }
    while (isdigit((unsigned char)*s)) {
        s++;
    }
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s)) {
            return false;
        }
        while (isdigit((unsigned char)*s)) {
            s++;
        }
    }
    return *s == '\0';
}

static bool renderable(const cJSON *item)
{
    return pgi_conf_name_valid(item->string) &&
           (cJSON_IsString(item) || cJSON_IsBool(item) ||
            (cJSON_IsNumber(item) && value_refusal(item) == NULL));
}

static void put_param(struct sb *b, const char *name, const cJSON *v)
{
    char num[64];
    sb_printf(b, "%s = ", name);
    if (cJSON_IsString(v)) {
        put_quoted(b, v->valuestring);
    } else if (cJSON_IsBool(v)) {
        sb_puts(b, cJSON_IsTrue(v) ? "on" : "off");
    } else {
        format_number(v->valuedouble, num, sizeof num);
        if (bare_number(num)) {
            sb_puts(b, num);
        } else {
            put_quoted(b, num);
        }
    }
    sb_putc(b, '\n');
}

static int by_name(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a;
    const cJSON *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static void put_standby(struct sb *b, const struct pgi_standby *st)
{
    static const char *const no_target[] = {"recovery_target", "recovery_target_lsn",
                                            "recovery_target_name", "recovery_target_time",
                                            "recovery_target_xid"};
    sb_puts(b, "\n# Standby (standby.signal in the data directory makes PostgreSQL use these).\n");
    sb_puts(b, "primary_conninfo = ");
    put_quoted(b, st->primary_conninfo != NULL ? st->primary_conninfo : "");
    sb_puts(b, "\nprimary_slot_name = ");
    put_quoted(b, st->primary_slot_name != NULL ? st->primary_slot_name : "");
    sb_puts(b, "\nrecovery_target_timeline = ");
    put_quoted(b, st->recovery_target_timeline != NULL ? st->recovery_target_timeline : "latest");
    sb_putc(b, '\n');
    /* As Patroni does: an included file must not make a standby stop at a
     * target, pause or promote. */
    for (size_t i = 0; i < RG_ARRAY_SIZE(no_target); i++) {
        sb_printf(b, "%s = ''\n", no_target[i]);
    }
}

char *
pgi_conf_render(const cJSON *parameters, const char *base_conf, const struct pgi_standby *standby)
{
    struct sb b = {0};
    const cJSON *item;

    sb_puts(&b, "# Written by regent: do not edit, changes here are overwritten.\n"
                "# Put settings in the dynamic configuration (postgresql.parameters)\n"
                "# or in the local postgresql.parameters of regent's configuration file.\n\n");
    if (base_conf != NULL) {
        sb_puts(&b, "include ");
        put_quoted(&b, base_conf);
        sb_puts(&b, "\n\n");
    }
    if (cJSON_IsObject(parameters)) {
        size_t n = 0, i = 0;
        cJSON_ArrayForEach(item, parameters)
        {
            n += renderable(item);
        }
        const cJSON **sorted = rg_calloc(n > 0 ? n : 1, sizeof *sorted);
        cJSON_ArrayForEach(item, parameters)
        {
            if (renderable(item)) {
                sorted[i++] = item;
            }
        }
        qsort(sorted, n, sizeof *sorted, by_name);
        for (i = 0; i < n; i++) {
            put_param(&b, sorted[i]->string, sorted[i]);
        }
        rg_free(sorted);
    }
    if (standby != NULL) {
        put_standby(&b, standby);
    }
    return sb_take(&b);
}

int pgi_conf_render_hba(const cJSON *lines, char **out, char *errmsg)
{
    struct sb b = {0};
    const cJSON *item;
    int skipped = 0, first = -1, i = 0;
    const char *first_why = NULL;

    sb_puts(&b, "# Written by regent from pg_hba in its configuration: do not edit,\n"
                "# changes here are overwritten.\n");
    if (!cJSON_IsArray(lines)) {
        *out = sb_take(&b);
        rg_errmsg_printf(errmsg, "pg_hba: not a list of strings");
        return RG_EINVAL;
    }
    cJSON_ArrayForEach(item, lines)
    {
        const char *why = NULL;
        if (!cJSON_IsString(item)) {
            why = "not a string";
        } else if (strpbrk(item->valuestring, "\n\r") != NULL) {
            why = "contains a line break";
        }
        if (why != NULL) {
            if (skipped++ == 0) {
                first = i;
                first_why = why;
            }
        } else {
            sb_puts(&b, item->valuestring);
            sb_putc(&b, '\n');
        }
        i++;
    }
    *out = sb_take(&b);
    if (skipped > 0) {
        rg_errmsg_printf(errmsg, "pg_hba: %d item%s skipped (item %d: %s)", skipped,
                         skipped > 1 ? "s" : "", first, first_why);
        return RG_EINVAL;
    }
    return 0;
}

/* --- libpq strings ------------------------------------------------------------- */

static bool keyword_ok(const char *k)
{
    if (*k == '\0') {
        return false;
    }
    for (; *k != '\0'; k++) {
        if (!((*k >= 'a' && *k <= 'z') || *k == '_')) {
            return false;
        }
    }
    return true;
}

char *pgi_conninfo_build(const char *const *keywords, const char *const *values)
{
    struct sb b = {0};
    for (size_t i = 0; keywords[i] != NULL; i++) {
        if (values[i] == NULL) {
            continue;
        }
        RG_PRE(keyword_ok(keywords[i]));
        if (b.len > 0) {
            sb_putc(&b, ' ');
        }
        sb_printf(&b, "%s='", keywords[i]);
        for (const char *v = values[i]; *v != '\0'; v++) {
            if (*v == '\'' || *v == '\\') {
                sb_putc(&b, '\\');
            }
            sb_putc(&b, *v);
        }
        sb_putc(&b, '\'');
    }
    return sb_take(&b);
}

/* One pgpass field; false when it cannot be written. */
static bool put_pgpass_field(struct sb *b, const char *f, bool wildcard_ok, bool first)
{
    if (wildcard_ok && strcmp(f, "*") == 0) {
        sb_putc(b, '*');
        return true;
    }
    if (strpbrk(f, "\n\r") != NULL) {
        return false;
    }
    /* A line starting with '#' is a comment to libpq: escape it. */
    if (first && *f == '#') {
        sb_putc(b, '\\');
    }
    for (; *f != '\0'; f++) {
        if (*f == ':' || *f == '\\') {
            sb_putc(b, '\\');
        }
        sb_putc(b, *f);
    }
    return true;
}

char *pgi_pgpass_line(
    const char *host, const char *port, const char *db, const char *user, const char *password)
{
    const char *f[] = {host, port, db, user};
    struct sb b = {0};
    for (size_t i = 0; i < RG_ARRAY_SIZE(f); i++) {
        if (!put_pgpass_field(&b, f[i] != NULL ? f[i] : "*", true, i == 0)) {
            rg_free(b.s);
            return NULL;
        }
        sb_putc(&b, ':');
    }
    if (!put_pgpass_field(&b, password != NULL ? password : "", false, false)) {
        rg_free(b.s);
        return NULL;
    }
    sb_putc(&b, '\n');
    return sb_take(&b);
}
