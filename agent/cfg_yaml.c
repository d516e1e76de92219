/*
 * cfg_yaml: walk a libyaml document against the key table.
 *
 * Happy path: yaml_parser_load() builds the whole document (nodes carry
 * their marks); walk_map() visits the top mapping, finds each key's table
 * entry by its dotted path and stores the value (set_value). Sections we pass
 * on as JSON (postgresql, bootstrap.dcs, tags, ctl, bootstrap.initdb/pg_hba)
 * are converted with to_json(), which turns plain scalars into JSON numbers,
 * booleans (YAML 1.1 spellings, as PyYAML reads Patroni's files) and null.
 *
 * Failure modes, all reported with a 1-based "FILE:LINE:COL" (libyaml's
 * marks are 0-based) and the walk goes on to find more:
 * - syntax errors (libyaml's problem text), several documents, an empty
 *   document, a top level that is not a mapping;
 * - non-string keys, duplicate keys, values of the wrong shape;
 * - hostile documents: an alias may point at an enclosing node (a cycle) or
 *   multiply a subtree (billion laughs), so every visit spends from a node
 *   budget and nesting is capped at CFG_MAX_DEPTH.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cfg_internal.h"
#include "agent/rg.h"

#define CFG_MAX_PAIRS 10000 /* keys in one mapping (duplicate checks are quadratic) */

struct walk {
    struct cfg_ctx *ctx;
    yaml_document_t *doc;
};

static unsigned mline(yaml_mark_t m)
{
    return (unsigned)m.line + 1;
}

static unsigned mcol(yaml_mark_t m)
{
    return (unsigned)m.column + 1;
}

static yaml_node_t *node_at(struct walk *w, int index)
{
    return yaml_document_get_node(w->doc, index);
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null_node(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           cfg__is_null(scalar(n));
}

/* Spend one node of the budget; false (once reported) when it is gone. */
static bool spend(struct walk *w, const yaml_node_t *n, int depth)
{
    struct cfg_ctx *ctx = w->ctx;
    if (ctx->budget_hit) {
        return false;
    }
    if (ctx->budget == 0 || depth > CFG_MAX_DEPTH) {
        cfg__error_at(ctx, mline(n->start_mark), mcol(n->start_mark), NULL,
                      "document too large, too deeply nested or too many aliases (at most %u "
                      "nodes, %d levels)",
                      CFG_BUDGET, CFG_MAX_DEPTH);
        ctx->budget_hit = true;
        return false;
    }
    ctx->budget--;
    return true;
}

static char *join(const char *prefix, const char *key)
{
    return prefix != NULL && prefix[0] != '\0' ? rg_asprintf("%s.%s", prefix, key) : rg_strdup(key);
}

static size_t n_pairs(const yaml_node_t *map)
{
    return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

/* Checks on one key of a mapping: a scalar, not a duplicate. Returns the key
 * text, or NULL after reporting. */
static const char *pair_key(struct walk *w, const yaml_node_t *map, size_t i, const char *prefix)
{
    yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
    const yaml_node_t *kn = node_at(w, pairs[i].key);
    if (kn == NULL) {
        return NULL;
    }
    if (kn->type != YAML_SCALAR_NODE) {
        cfg__error_at(w->ctx, mline(kn->start_mark), mcol(kn->start_mark), prefix,
                      "mapping keys must be strings");
        return NULL;
    }
    const char *key = scalar(kn);
    for (size_t j = 0; j < i; j++) {
        const yaml_node_t *prev = node_at(w, pairs[j].key);
        if (prev != NULL && prev->type == YAML_SCALAR_NODE && strcmp(scalar(prev), key) == 0) {
            char *path = join(prefix, key);
            cfg__error_at(w->ctx, mline(kn->start_mark), mcol(kn->start_mark), path,
                          "duplicate key (first at line %u)", mline(prev->start_mark));
            rg_free(path);
            return NULL;
        }
    }
    return key;
}

static bool too_many_pairs(struct walk *w, const yaml_node_t *map, const char *path)
{
    if (n_pairs(map) <= CFG_MAX_PAIRS) {
        return false;
    }
    cfg__error_at(w->ctx, mline(map->start_mark), mcol(map->start_mark), path,
                  "more than %d keys in one mapping", CFG_MAX_PAIRS);
    return true;
}

/* --- YAML → JSON ------------------------------------------------------ */

static bool yaml11_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* [-+]?(0|[1-9][0-9]*)(\.[0-9]*)?([eE][-+]?[0-9]+)? or [-+]?\.[0-9]+ */
static bool looks_numeric(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+') {
        p++;
    }
    size_t int_digits = 0;
    const char *int_start = p;
    while (*p >= '0' && *p <= '9') {
        p++;
        int_digits++;
    }
    if (int_digits > 1 && *int_start == '0') {
        return false; /* 0755: octal in YAML 1.1; keep the text */
    }
    size_t frac_digits = 0;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            frac_digits++;
        }
    }
    if (int_digits == 0 && frac_digits == 0) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+') {
            p++;
        }
        if (!(*p >= '0' && *p <= '9')) {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    return *p == '\0';
}

static cJSON *scalar_json(const yaml_node_t *n)
{
    const char *s = scalar(n);
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return cJSON_CreateString(s);
    }
    if (cfg__is_null(s)) {
        return cJSON_CreateNull();
    }
    bool b;
    if (yaml11_bool(s, &b)) {
        return cJSON_CreateBool(b);
    }
    if (looks_numeric(s)) {
        double d = strtod(s, NULL);
        /* Past 2^53 a double loses digits: keep such integers as text. */
        if (isfinite(d) && d < 9007199254740992.0 && d > -9007199254740992.0) {
            return cJSON_CreateNumber(d);
        }
    }
    return cJSON_CreateString(s);
}

/* @check_top_dups false: the caller's walk already checked this mapping. */
static cJSON *
to_json(struct walk *w, const yaml_node_t *n, const char *path, int depth, bool check_top_dups)
{
    if (!spend(w, n, depth)) {
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar_json(n);
    case YAML_SEQUENCE_NODE: {
        cJSON *arr = cJSON_CreateArray();
        size_t i = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++, i++) {
            const yaml_node_t *c = node_at(w, *it);
            if (c == NULL) {
                continue;
            }
            char *cpath = rg_asprintf("%s[%zu]", path, i);
            cJSON *j = to_json(w, c, cpath, depth + 1, true);
            rg_free(cpath);
            if (j == NULL) {
                cJSON_Delete(arr);
                return NULL;
            }
            cJSON_AddItemToArray(arr, j);
        }
        return arr;
    }
    case YAML_MAPPING_NODE: {
        if (too_many_pairs(w, n, path)) {
            return NULL;
        }
        cJSON *obj = cJSON_CreateObject();
        yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
        for (size_t i = 0; i < n_pairs(n); i++) {
            const char *key;
            if (check_top_dups) {
                key = pair_key(w, n, i, path);
            } else {
                const yaml_node_t *kn = node_at(w, pairs[i].key);
                key = kn != NULL && kn->type == YAML_SCALAR_NODE ? scalar(kn) : NULL;
            }
            const yaml_node_t *vn = node_at(w, pairs[i].value);
            if (key == NULL || vn == NULL || cJSON_GetObjectItemCaseSensitive(obj, key) != NULL) {
                continue; /* reported by pair_key (or by the caller's walk) */
            }
            char *cpath = join(path, key);
            cJSON *j = to_json(w, vn, cpath, depth + 1, true);
            rg_free(cpath);
            if (j == NULL) {
                cJSON_Delete(obj);
                return NULL;
            }
            cJSON_AddItemToObject(obj, key, j);
        }
        return obj;
    }
    default:
        return cJSON_CreateNull();
    }
}

/* --- typed walk ------------------------------------------------------- */

static void walk_map(struct walk *w,
                     const yaml_node_t *map,
                     const char *prefix,
                     const struct cfg_key *section,
                     int depth);

/* Warn about an unknown key; for a mapping, about each of its leaves. */
static void
unknown(struct walk *w, const yaml_node_t *kn, const yaml_node_t *vn, const char *path, int depth)
{
    if (vn != NULL && vn->type == YAML_MAPPING_NODE && n_pairs(vn) > 0 &&
        !too_many_pairs(w, vn, path)) {
        yaml_node_pair_t *pairs = vn->data.mapping.pairs.start;
        for (size_t i = 0; i < n_pairs(vn); i++) {
            const yaml_node_t *ckn = node_at(w, pairs[i].key);
            if (ckn == NULL || !spend(w, ckn, depth + 1)) {
                return;
            }
            const char *key = pair_key(w, vn, i, path);
            if (key == NULL) {
                continue;
            }
            char *cpath = join(path, key);
            unknown(w, ckn, node_at(w, pairs[i].value), cpath, depth + 1);
            rg_free(cpath);
        }
        return;
    }
    cfg__warn_at(w->ctx, mline(kn->start_mark), mcol(kn->start_mark), path, "unknown key, ignored");
}

static const char *shape_msg(const struct cfg_key *k)
{
    switch (k->type) {
    case CFG_T_MS:
        return "must be a number of seconds";
    case CFG_T_UINT:
    case CFG_T_U64:
    case CFG_T_SIZE:
        return "must be a whole number";
    case CFG_T_BOOL:
        return "must be true or false";
    case CFG_T_STRLIST:
        return "must be a list";
    case CFG_T_LOGLEVEL:
        return "must be a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)";
    default:
        return "must be a string";
    }
}

static void set_src(struct cfg_ctx *ctx, const struct cfg_key *k, const yaml_node_t *n)
{
    struct cfg_src *s = &ctx->src[cfg__key_index(k)];
    s->kind = CFG_SRC_FILE;
    s->line = mline(n->start_mark);
    s->col = mcol(n->start_mark);
}

static void set_list(
    struct walk *w, const struct cfg_key *k, const yaml_node_t *vn, const char *path, int depth)
{
    char why[512];
    if (vn->type == YAML_SCALAR_NODE) {
        if (cfg__key_set_text(w->ctx->cfg, k, scalar(vn), why, sizeof why) != 0) {
            cfg__error_at(w->ctx, mline(vn->start_mark), mcol(vn->start_mark), path, "%s", why);
            return;
        }
        set_src(w->ctx, k, vn);
        return;
    }
    if (vn->type != YAML_SEQUENCE_NODE) {
        cfg__error_at(w->ctx, mline(vn->start_mark), mcol(vn->start_mark), path, "must be a list");
        return;
    }
    size_t n = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
    char **items = n > 0 ? rg_calloc(n, sizeof *items) : NULL;
    size_t count = 0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *c = node_at(w, vn->data.sequence.items.start[i]);
        if (c == NULL || !spend(w, c, depth + 1)) {
            ok = false;
            break;
        }
        if (c->type != YAML_SCALAR_NODE || is_null_node(c)) {
            cfg__error_at(w->ctx, mline(c->start_mark), mcol(c->start_mark), path,
                          "must be a list of strings");
            ok = false;
            continue;
        }
        items[count++] = (char *)scalar(c);
    }
    if (ok) {
        cfg__key_set_list(w->ctx->cfg, k, items, count, why, sizeof why);
        set_src(w->ctx, k, vn);
    }
    rg_free(items);
}

static void set_loggers(
    struct walk *w, const struct cfg_key *k, const yaml_node_t *vn, const char *path, int depth)
{
    if (vn->type != YAML_MAPPING_NODE) {
        cfg__error_at(w->ctx, mline(vn->start_mark), mcol(vn->start_mark), path,
                      "must be a mapping of module: level");
        return;
    }
    if (too_many_pairs(w, vn, path)) {
        return;
    }
    struct cfg *cfg = w->ctx->cfg;
    cfg__key_clear(cfg, k);
    size_t n = n_pairs(vn), count = 0;
    struct rg_log_module_level *m = n > 0 ? rg_calloc(n, sizeof *m) : NULL;
    yaml_node_pair_t *pairs = vn->data.mapping.pairs.start;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *vc = node_at(w, pairs[i].value);
        if (vc == NULL || !spend(w, vc, depth + 1)) {
            break;
        }
        const char *module = pair_key(w, vn, i, path);
        if (module == NULL) {
            continue;
        }
        int level = vc->type == YAML_SCALAR_NODE ? rg_log_level_parse(scalar(vc)) : -1;
        if (level < 0) {
            char *cpath = join(path, module);
            cfg__error_at(w->ctx, mline(vc->start_mark), mcol(vc->start_mark), cpath,
                          "must be a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)");
            rg_free(cpath);
            continue;
        }
        m[count].module = rg_strdup(module);
        m[count].level = level;
        count++;
    }
    *(struct rg_log_module_level **)cfg__field(cfg, k) = m;
    *(size_t *)(void *)((char *)cfg + k->off_n) = count;
    set_src(w->ctx, k, vn);
}

static void set_json(
    struct walk *w, const struct cfg_key *k, const yaml_node_t *vn, const char *path, int depth)
{
    if (k->json_type == cJSON_Object && vn->type != YAML_MAPPING_NODE) {
        cfg__error_at(w->ctx, mline(vn->start_mark), mcol(vn->start_mark), path,
                      "must be a mapping");
        return;
    }
    if (k->json_type == cJSON_Array && vn->type != YAML_SEQUENCE_NODE) {
        cfg__error_at(w->ctx, mline(vn->start_mark), mcol(vn->start_mark), path, "must be a list");
        return;
    }
    cJSON *j = to_json(w, vn, path, depth, true);
    if (j == NULL) {
        return;
    }
    cfg__key_clear(w->ctx->cfg, k);
    *(cJSON **)cfg__field(w->ctx->cfg, k) = j;
    set_src(w->ctx, k, vn);
}

static void set_section(struct walk *w,
                        const struct cfg_key *k,
                        const yaml_node_t *kn,
                        const yaml_node_t *vn,
                        const char *path,
                        int depth)
{
    struct cfg_src *s = &w->ctx->src[cfg__key_index(k)];
    s->seen = true;
    s->line = mline(kn->start_mark);
    s->col = mcol(kn->start_mark);
    if (vn->type != YAML_MAPPING_NODE) {
        cfg__error_at(w->ctx, mline(vn->start_mark), mcol(vn->start_mark), path,
                      "must be a mapping");
        return;
    }
    if (k->off != CFG_NOFIELD) {
        /* Keep the whole section as JSON; the walk below checks its keys. */
        cJSON *j = to_json(w, vn, path, depth, false);
        if (j == NULL) {
            return;
        }
        cfg__key_clear(w->ctx->cfg, k);
        *(cJSON **)cfg__field(w->ctx->cfg, k) = j;
        s->kind = CFG_SRC_FILE;
    }
    walk_map(w, vn, path, k, depth);
}

static void set_value(struct walk *w,
                      const struct cfg_key *k,
                      const yaml_node_t *kn,
                      const yaml_node_t *vn,
                      const char *path,
                      int depth)
{
    struct cfg_ctx *ctx = w->ctx;
    if (k->type == CFG_T_UNUSED) {
        cfg__warn_at(ctx, mline(kn->start_mark), mcol(kn->start_mark), path,
                     "Patroni setting not used by regent, ignored");
        return;
    }
    /* "key:" with nothing (or ~, null) leaves the key unset: its default. */
    if (is_null_node(vn)) {
        if (k->type == CFG_T_SECTION) {
            struct cfg_src *s = &ctx->src[cfg__key_index(k)];
            s->seen = true;
            s->line = mline(kn->start_mark);
            s->col = mcol(kn->start_mark);
        }
        return;
    }
    switch (k->type) {
    case CFG_T_SECTION:
        set_section(w, k, kn, vn, path, depth + 1);
        return;
    case CFG_T_JSON:
        set_json(w, k, vn, path, depth + 1);
        return;
    case CFG_T_LOGGERS:
        set_loggers(w, k, vn, path, depth + 1);
        return;
    case CFG_T_STRLIST:
        set_list(w, k, vn, path, depth + 1);
        return;
    default:
        break;
    }
    if (vn->type != YAML_SCALAR_NODE) {
        cfg__error_at(ctx, mline(vn->start_mark), mcol(vn->start_mark), path, "%s", shape_msg(k));
        return;
    }
    char why[512];
    if (cfg__key_set_text(ctx->cfg, k, scalar(vn), why, sizeof why) != 0) {
        cfg__error_at(ctx, mline(vn->start_mark), mcol(vn->start_mark), path, "%s", why);
        return;
    }
    set_src(ctx, k, vn);
}

static void walk_map(struct walk *w,
                     const yaml_node_t *map,
                     const char *prefix,
                     const struct cfg_key *section,
                     int depth)
{
    if (too_many_pairs(w, map, prefix)) {
        return;
    }
    yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
    for (size_t i = 0; i < n_pairs(map); i++) {
        const yaml_node_t *kn = node_at(w, pairs[i].key);
        const yaml_node_t *vn = node_at(w, pairs[i].value);
        if (kn == NULL || vn == NULL || !spend(w, kn, depth)) {
            return;
        }
        const char *key = pair_key(w, map, i, prefix);
        if (key == NULL) {
            continue;
        }
        char *path = join(prefix, key);
        const struct cfg_key *k = cfg__key_find(path, strlen(path));
        if (k != NULL && !cfg__key_allowed(w->ctx->kind, k)) {
            k = NULL;
        }
        if (k != NULL) {
            set_value(w, k, kn, vn, path, depth);
        } else if (section == NULL || !(section->flags & CFG_K_OPEN)) {
            unknown(w, kn, vn, path, depth);
        }
        /* else: a key of a section kept as JSON (postgresql.parameters, …) */
        rg_free(path);
    }
}

/* --- document --------------------------------------------------------- */

static void syntax_error(struct cfg_ctx *ctx, const yaml_parser_t *p)
{
    if (p->error == YAML_READER_ERROR) {
        cfg__error_at(ctx, mline(p->mark), mcol(p->mark), NULL, "invalid input at byte %zu: %s",
                      p->problem_offset, p->problem != NULL ? p->problem : "unreadable");
        return;
    }
    if (p->error == YAML_MEMORY_ERROR || p->problem == NULL) {
        cfg__error_at(ctx, mline(p->mark), mcol(p->mark), NULL, "YAML parser error");
        return;
    }
    if (p->context != NULL) {
        cfg__error_at(ctx, mline(p->problem_mark), mcol(p->problem_mark), NULL,
                      "YAML syntax error: %s (%s at line %u, column %u)", p->problem, p->context,
                      mline(p->context_mark), mcol(p->context_mark));
    } else {
        cfg__error_at(ctx, mline(p->problem_mark), mcol(p->problem_mark), NULL,
                      "YAML syntax error: %s", p->problem);
    }
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return "a single value";
    default:
        return "something else";
    }
}

void cfg__yaml_load(struct cfg_ctx *ctx, const char *text, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        cfg__error_at(ctx, 1, 1, NULL, "could not initialize the YAML parser");
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        ctx->unusable = true;
        syntax_error(ctx, &parser);
        yaml_parser_delete(&parser);
        return;
    }
    struct walk w = {.ctx = ctx, .doc = &doc};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL || is_null_node(root) || root->type != YAML_MAPPING_NODE) {
        ctx->unusable = true;
    }
    if (root == NULL || is_null_node(root)) {
        cfg__error_at(ctx, 1, 1, NULL,
                      "empty configuration: expected a mapping of keys (scope, name, restapi, "
                      "raft, ...)");
    } else if (root->type != YAML_MAPPING_NODE) {
        cfg__error_at(ctx, mline(root->start_mark), mcol(root->start_mark), NULL,
                      "the top level must be a mapping of keys, not %s", node_kind(root));
    } else {
        walk_map(&w, root, NULL, NULL, 0);
    }
    if (root != NULL) {
        /* A second document would be silently ignored: refuse it. */
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            syntax_error(ctx, &parser);
        } else {
            yaml_node_t *nroot = yaml_document_get_root_node(&next);
            if (nroot != NULL) {
                cfg__error_at(ctx, mline(next.start_mark), mcol(next.start_mark), NULL,
                              "only one YAML document is allowed");
            }
            yaml_document_delete(&next);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
}
