/*
 * cfg: load, free and print the local configuration.
 *
 * Happy path (cfg_load_string): parse the YAML into a document and walk it
 * against the key table (cfg_yaml.c), storing typed values and keeping the
 * sections we pass on untouched (postgresql, bootstrap.dcs, tags, ctl) as
 * cJSON; then apply environment overrides, then the table's defaults, then
 * validate every key and the timing rules (cfg_keys.c). Only a configuration
 * without any error is handed out.
 *
 * Failure modes: nothing stops at the first problem. Every error found is a
 * line "FILE:LINE:COL: key.path: what is wrong" (or "environment VAR: …") in
 * ctx->errors; at the end they are copied, truncated, into the caller's
 * errbuf and the half-built struct is freed. Unknown keys are warnings
 * (cfg->warnings and rg_log), or errors under CFG_STRICT.
 *
 * Everything a struct cfg owns is reachable from the key table, so cfg_free()
 * and cfg_to_json() are table walks too.
 */
#include "agent/cfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cfg_internal.h"
#include "agent/rg.h"

#define CFG_MAX_FILE (16u << 20) /* a configuration file larger than this is a mistake */

static void buf_vappendf(struct cfg_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return;
    }
    size_t need = b->len + (size_t)n + 2; /* text, '\n', NUL */
    if (need > b->cap) {
        b->cap = need > 2 * b->cap ? need : 2 * b->cap;
        b->s = rg_realloc(b->s, b->cap);
    }
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    b->s[b->len++] = '\n';
    b->s[b->len] = '\0';
}

static void buf_appendf(struct cfg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void buf_appendf(struct cfg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vappendf(b, fmt, ap);
    va_end(ap);
}

void cfg__errorf(struct cfg_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vappendf(&ctx->errors, fmt, ap);
    va_end(ap);
    ctx->n_errors++;
}

void cfg__error_at(
    struct cfg_ctx *ctx, unsigned line, unsigned col, const char *path, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (path != NULL && path[0] != '\0') {
        cfg__errorf(ctx, "%s:%u:%u: %s: %s", ctx->file, line, col, path, what);
    } else {
        cfg__errorf(ctx, "%s:%u:%u: %s", ctx->file, line, col, what);
    }
}

void cfg__warn_at(
    struct cfg_ctx *ctx, unsigned line, unsigned col, const char *path, const char *what)
{
    if (ctx->flags & CFG_STRICT) {
        cfg__error_at(ctx, line, col, path, "%s", what);
        return;
    }
    buf_appendf(&ctx->warnings, "%s:%u:%u: %s: %s", ctx->file, line, col, path, what);
    if (!(ctx->flags & CFG_QUIET)) {
        rg_log(RG_WARNING, "cfg", "%s:%u:%u: %s: %s", ctx->file, line, col, path, what);
    }
}

/* The place to blame for key @i: where its value came from, else the
 * section that should have held it, else the top of the file. */
void cfg__error_key(struct cfg_ctx *ctx, size_t i, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const struct cfg_src *s = &ctx->src[i];
    const char *path = cfg__keys[i].path;
    if (s->kind == CFG_SRC_ENV) {
        cfg__errorf(ctx, "environment %s: %s", s->env, what);
        return;
    }
    if (s->kind == CFG_SRC_FILE) {
        cfg__error_at(ctx, s->line, s->col, path, "%s", what);
        return;
    }
    /* Default or missing: the nearest enclosing section seen in the file. */
    const char *dot = strrchr(path, '.');
    while (dot != NULL) {
        const struct cfg_key *parent = cfg__key_find(path, (size_t)(dot - path));
        if (parent != NULL && ctx->src[cfg__key_index(parent)].seen) {
            const struct cfg_src *ps = &ctx->src[cfg__key_index(parent)];
            cfg__error_at(ctx, ps->line, ps->col, path, "%s", what);
            return;
        }
        const char *p = dot;
        dot = NULL;
        while (p > path) {
            p--;
            if (*p == '.') {
                dot = p;
                break;
            }
        }
    }
    cfg__error_at(ctx, 1, 1, path, "%s", what);
}

static void ctx_close(struct cfg_ctx *ctx)
{
    for (size_t i = 0; i < cfg__n_keys; i++) {
        rg_free(ctx->src[i].env);
    }
    rg_free(ctx->src);
    rg_free(ctx->errors.s);
    rg_free(ctx->warnings.s);
}

static void copy_errors(const struct cfg_ctx *ctx, char *errbuf, size_t errlen)
{
    if (errbuf == NULL || errlen == 0) {
        return;
    }
    size_t n = ctx->errors.len;
    /* Drop the final newline: the text reads like the other errmsgs. */
    if (n > 0 && ctx->errors.s[n - 1] == '\n') {
        n--;
    }
    if (n >= errlen) {
        n = errlen - 1;
    }
    if (n > 0) {
        memcpy(errbuf, ctx->errors.s, n);
    }
    errbuf[n] = '\0';
}

int cfg_load_string(const char *yaml,
                    size_t len,
                    const char *name,
                    enum cfg_kind kind,
                    unsigned flags,
                    struct cfg **out,
                    char *errbuf,
                    size_t errlen)
{
    RG_PRE(out != NULL);
    *out = NULL;
    if (errbuf != NULL && errlen > 0) {
        errbuf[0] = '\0';
    }
    struct cfg_ctx ctx = {
        .file = name != NULL ? name : "<string>",
        .kind = kind,
        .flags = flags,
        .budget = CFG_BUDGET,
    };
    ctx.src = rg_calloc(cfg__n_keys, sizeof *ctx.src);
    ctx.cfg = rg_calloc(1, sizeof *ctx.cfg);
    ctx.cfg->kind = kind;
    ctx.cfg->path = rg_strdup(ctx.file);

    cfg__yaml_load(&ctx, yaml != NULL ? yaml : "", yaml != NULL ? len : 0);
    if (!(flags & CFG_NO_ENV)) {
        cfg__apply_env(&ctx);
    }
    cfg__apply_defaults(&ctx);
    if (!ctx.unusable) {
        cfg__validate(&ctx);
    }

    if (ctx.n_errors > 0) {
        copy_errors(&ctx, errbuf, errlen);
        cfg_free(ctx.cfg);
        ctx_close(&ctx);
        return RG_ECONFIG;
    }
    if (ctx.warnings.len > 0) {
        ctx.warnings.s[--ctx.warnings.len] = '\0'; /* no final newline */
        ctx.cfg->warnings = ctx.warnings.s;
        ctx.warnings.s = NULL;
    }
    *out = ctx.cfg;
    ctx_close(&ctx);
    return 0;
}

static int read_file(const char *path, char **text, size_t *len, char *errbuf, size_t errlen)
{
    char msg[RG_ERRMSG_SIZE + 4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, sizeof msg, "could not open \"%s\": %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, sizeof msg, "could not read \"%s\": %s", path,
                 S_ISDIR(st.st_mode) ? "Is a directory" : "not a regular file");
        close(fd);
        goto fail;
    }
    if ((uint64_t)st.st_size > CFG_MAX_FILE) {
        snprintf(msg, sizeof msg, "could not read \"%s\": larger than %u bytes", path,
                 CFG_MAX_FILE);
        close(fd);
        goto fail;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = rg_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > CFG_MAX_FILE) {
                break; /* grew while we read it: the rest is ignored, parsing will say */
            }
            cap *= 2;
            buf = rg_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            snprintf(msg, sizeof msg, "could not read \"%s\": %s", path, strerror(errno));
            rg_free(buf);
            close(fd);
            goto fail;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
fail:
    if (errbuf != NULL && errlen > 0) {
        snprintf(errbuf, errlen, "%s", msg);
    }
    return RG_EIO;
}

int cfg_load(const char *path,
             enum cfg_kind kind,
             unsigned flags,
             struct cfg **out,
             char *errbuf,
             size_t errlen)
{
    RG_PRE(path != NULL && out != NULL);
    *out = NULL;
    char *text;
    size_t len;
    int rc = read_file(path, &text, &len, errbuf, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = cfg_load_string(text, len, path, kind, flags, out, errbuf, errlen);
    rg_free(text);
    return rc;
}

void cfg_free(struct cfg *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg__n_keys; i++) {
        cfg__key_clear(cfg, &cfg__keys[i]);
    }
    rg_free(cfg->path);
    rg_free(cfg->warnings);
    rg_free(cfg);
}

/* --- cfg_to_json ------------------------------------------------------ */

/* The object at the dotted prefix of @path (created on the way); *@leaf
 * points at the last component. */
static cJSON *json_parent(cJSON *root, const char *path, const char **leaf)
{
    cJSON *obj = root;
    const char *p = path;
    const char *dot;
    while ((dot = strchr(p, '.')) != NULL) {
        char name[128];
        size_t n = (size_t)(dot - p);
        if (n >= sizeof name) {
            n = sizeof name - 1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, name);
        if (!cJSON_IsObject(child)) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
            child = cJSON_AddObjectToObject(obj, name);
        }
        obj = child;
        p = dot + 1;
    }
    *leaf = p;
    return obj;
}

static void json_put(cJSON *root, const char *path, cJSON *value)
{
    const char *leaf;
    cJSON *obj = json_parent(root, path, &leaf);
    if (cJSON_GetObjectItemCaseSensitive(obj, leaf) != NULL) {
        cJSON_ReplaceItemInObjectCaseSensitive(obj, leaf, value);
    } else {
        cJSON_AddItemToObject(obj, leaf, value);
    }
}

cJSON *cfg__key_to_json(const struct cfg *cfg, const struct cfg_key *k)
{
    void *f = cfg__field((struct cfg *)cfg, k);
    switch (k->type) {
    case CFG_T_STR:
    case CFG_T_ENUM: {
        const char *s = *(char **)f;
        if (s == NULL) {
            return cJSON_CreateNull();
        }
        return cJSON_CreateString((k->flags & CFG_K_SECRET) ? "******" : s);
    }
    case CFG_T_BOOL:
        return cJSON_CreateBool(*(bool *)f);
    case CFG_T_UINT:
        return cJSON_CreateNumber(*(unsigned *)f);
    case CFG_T_U64:
        return cJSON_CreateNumber((double)*(uint64_t *)f);
    case CFG_T_SIZE:
        return cJSON_CreateNumber((double)*(size_t *)f);
    case CFG_T_MS:
        return cJSON_CreateNumber(*(unsigned *)f / 1000.0);
    case CFG_T_LOGLEVEL:
        return cJSON_CreateString(rg_log_level_name(*(int *)f));
    case CFG_T_STRLIST: {
        char **items = *(char ***)f;
        size_t n = *(size_t *)((char *)cfg + k->off_n);
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) {
            cJSON_AddItemToArray(arr, cJSON_CreateString(items[i]));
        }
        return arr;
    }
    case CFG_T_LOGGERS: {
        const struct rg_log_module_level *m = *(struct rg_log_module_level **)f;
        size_t n = *(size_t *)((char *)cfg + k->off_n);
        cJSON *obj = cJSON_CreateObject();
        for (size_t i = 0; i < n; i++) {
            cJSON_AddStringToObject(obj, m[i].module, rg_log_level_name(m[i].level));
        }
        return obj;
    }
    case CFG_T_JSON:
    case CFG_T_SECTION: {
        const cJSON *j = *(cJSON **)f;
        return j != NULL ? cJSON_Duplicate(j, true) : cJSON_CreateNull();
    }
    case CFG_T_UNUSED:
        break;
    }
    return NULL;
}

static bool is_secret_name(const char *name)
{
    static const char *const words[] = {"password", "secret", "token"};
    for (const char *p = name; p != NULL && *p != '\0'; p++) {
        for (size_t i = 0; i < RG_ARRAY_SIZE(words); i++) {
            if (strncasecmp(p, words[i], strlen(words[i])) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Mask every non-null member whose name says it is a secret, at any depth
 * (postgresql.authentication.*.password, ctl.authentication.password, …). */
static void json_mask(cJSON *node, int depth)
{
    if (depth > CFG_MAX_DEPTH + 8) {
        return;
    }
    cJSON *next;
    for (cJSON *c = node->child; c != NULL; c = next) {
        next = c->next; /* c may be replaced (freed) below */
        if (cJSON_IsObject(node) && is_secret_name(c->string) && !cJSON_IsNull(c) &&
            !cJSON_IsObject(c) && !cJSON_IsArray(c)) {
            cJSON *m = cJSON_CreateString("******");
            m->string = c->string; /* the name moves over; c goes without it */
            c->string = NULL;
            cJSON_ReplaceItemViaPointer(node, c, m);
            continue;
        }
        json_mask(c, depth + 1);
    }
}

cJSON *cfg_to_json(const struct cfg *cfg)
{
    RG_PRE(cfg != NULL);
    cJSON *root = cJSON_CreateObject();
    /* Table order puts a section before its keys, so a raw section is laid
     * down first and its typed keys then replace the raw values. */
    for (size_t i = 0; i < cfg__n_keys; i++) {
        const struct cfg_key *k = &cfg__keys[i];
        if (k->type == CFG_T_UNUSED || k->off == CFG_NOFIELD) {
            continue;
        }
        if (!cfg__key_allowed(cfg->kind, k)) {
            continue;
        }
        json_put(root, k->path, cfg__key_to_json(cfg, k));
    }
    cJSON *lease = cJSON_AddObjectToObject(root, "lease");
    cJSON_AddNumberToObject(lease, "fence_budget", cfg->lease.fence_budget / 1000.0);
    json_mask(root, 0);
    return root;
}

size_t cfg_fixed_changes(const struct cfg *a, const struct cfg *b, char *buf, size_t len)
{
    size_t n = 0, used = 0;
    if (len > 0) {
        buf[0] = '\0';
    }
    for (size_t i = 0; i < cfg__n_keys; i++) {
        const struct cfg_key *k = &cfg__keys[i];
        if (k->type == CFG_T_UNUSED || k->type == CFG_T_SECTION || k->off == CFG_NOFIELD ||
            (k->flags & CFG_K_RELOAD) || !cfg__key_allowed(a->kind, k)) {
            continue;
        }
        /* Secrets compare masked; compare the raw strings instead. */
        bool same;
        if ((k->type == CFG_T_STR || k->type == CFG_T_ENUM) && (k->flags & CFG_K_SECRET)) {
            const char *x = *(char **)cfg__field((struct cfg *)a, k);
            const char *y = *(char **)cfg__field((struct cfg *)b, k);
            same = (x == NULL && y == NULL) || (x != NULL && y != NULL && strcmp(x, y) == 0);
        } else {
            cJSON *x = cfg__key_to_json(a, k);
            cJSON *y = cfg__key_to_json(b, k);
            same = cJSON_Compare(x, y, true);
            cJSON_Delete(x);
            cJSON_Delete(y);
        }
        if (same) {
            continue;
        }
        n++;
        if (used < len) {
            int w = snprintf(buf + used, len - used, "%s%s", used > 0 ? ", " : "", k->path);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return n;
}
