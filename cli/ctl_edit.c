/*
 * ctl_edit: the pure half of edit-config — what -s/-p do to a configuration,
 * and JSON merge patches (RFC 7386) both ways. No I/O.
 *
 * -s KEY=VALUE follows patronictl's apply_config_changes(): KEY is a dotted
 * path (each part stripped of nothing but the whole key of its spaces),
 * VALUE is read as YAML ("5" is a number, "on" true, "[a, b]" a list, ""
 * and "null" delete). Walking down, a part that is not a mapping is
 * replaced by one; after a deletion, mappings left empty go too. Under
 * postgresql.parameters the rest of the path is one key, since GUC names
 * may hold dots ("-p auto_explain.log_min_duration=10").
 *
 * edit-config sends the change as a merge patch: ctl_merge_diff() turns
 * "before" and "after" into one (a removed key becomes null). A null inside
 * the new configuration therefore means "delete", as in any merge patch.
 */
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

#define MAX_PARTS 64

/* Where a walk is: the prefix decides whether the rest is one GUC name. */
enum where { TOP, IN_POSTGRESQL, IN_PARAMETERS, ELSEWHERE };

static enum where below(enum where w, const char *key)
{
    if (w == TOP && strcmp(key, "postgresql") == 0) {
        return IN_POSTGRESQL;
    }
    if (w == IN_POSTGRESQL && strcmp(key, "parameters") == 0) {
        return IN_PARAMETERS;
    }
    return ELSEWHERE;
}

/* parts[0..n) joined by dots (owned). */
static char *join(char **parts, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        len += strlen(parts[i]) + 1;
    }
    char *s = rg_calloc(len, 1);
    for (size_t i = 0; i < n; i++) {
        strcat(s, parts[i]);
        strcat(s, i + 1 < n ? "." : "");
    }
    return s;
}

static void set_path(cJSON *obj, char **parts, size_t n, const cJSON *value, enum where w)
{
    char *joined = NULL;
    if (w == IN_PARAMETERS && n > 1) {
        joined = join(parts, n); /* a GUC name, dots and all */
        parts = &joined;
        n = 1;
    }
    const char *key = parts[0];
    if (n == 1) {
        if (cJSON_IsNull(value)) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
        } else if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL) {
            cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_Duplicate(value, 1));
        } else {
            cJSON_AddItemToObject(obj, key, cJSON_Duplicate(value, 1));
        }
        rg_free(joined);
        return;
    }
    cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (child == NULL) {
        child = cJSON_AddObjectToObject(obj, key);
    } else if (!cJSON_IsObject(child)) {
        /* In its place, as Python's config[key] = {} */
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateObject());
        child = cJSON_GetObjectItemCaseSensitive(obj, key);
    }
    set_path(child, parts + 1, n - 1, value, below(w, key));
    if (child->child == NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    }
}

int ctl_config_set(cJSON *config, const char *pair, char *err, size_t errlen)
{
    const char *eq = strchr(pair, '=');
    if (eq == NULL || !cJSON_IsObject(config)) {
        snprintf(err, errlen, "Invalid parameter setting %s", pair);
        return -1;
    }
    /* key_path.strip() */
    const char *k = pair;
    const char *kend = eq;
    while (k < kend && (*k == ' ' || *k == '\t')) {
        k++;
    }
    while (kend > k && (kend[-1] == ' ' || kend[-1] == '\t')) {
        kend--;
    }
    cJSON *value = NULL;
    char why[256];
    if (ctl_yaml_parse(eq + 1, strlen(eq + 1), &value, why, sizeof why) != 0) {
        snprintf(err, errlen, "%.*s: the value is not YAML: %s", (int)(kend - k), k, why);
        return -1;
    }
    char *path = rg_strndup(k, (size_t)(kend - k));
    char *parts[MAX_PARTS];
    size_t n = 0;
    for (char *p = path;; p++) {
        if (n == MAX_PARTS) {
            snprintf(err, errlen, "%s: more than %d parts", path, MAX_PARTS);
            rg_free(path);
            cJSON_Delete(value);
            return -1;
        }
        parts[n++] = p;
        p = strchr(p, '.');
        if (p == NULL) {
            break;
        }
        *p = '\0';
    }
    set_path(config, parts, n, value, TOP);
    rg_free(path);
    cJSON_Delete(value);
    return 0;
}

cJSON *ctl_merge_patch(cJSON *target, const cJSON *patch)
{
    if (!cJSON_IsObject(patch)) {
        cJSON_Delete(target);
        return cJSON_Duplicate(patch, 1);
    }
    if (!cJSON_IsObject(target)) {
        cJSON_Delete(target);
        target = cJSON_CreateObject();
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, patch)
    {
        cJSON *old = cJSON_GetObjectItemCaseSensitive(target, it->string);
        if (cJSON_IsNull(it)) {
            cJSON_DeleteItemFromObjectCaseSensitive(target, it->string);
        } else if (old != NULL) {
            /* In its place: the keys keep their order. */
            cJSON_ReplaceItemInObjectCaseSensitive(target, it->string,
                                                   ctl_merge_patch(cJSON_Duplicate(old, 1), it));
        } else {
            cJSON_AddItemToObject(target, it->string, ctl_merge_patch(NULL, it));
        }
    }
    return target;
}

cJSON *ctl_merge_diff(const cJSON *from, const cJSON *to)
{
    cJSON *out = cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, from)
    {
        if (cJSON_GetObjectItemCaseSensitive(to, it->string) == NULL) {
            cJSON_AddNullToObject(out, it->string);
        }
    }
    cJSON_ArrayForEach(it, to)
    {
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(from, it->string);
        if (old != NULL && cJSON_IsObject(old) && cJSON_IsObject(it)) {
            cJSON *d = ctl_merge_diff(old, it);
            if (d->child != NULL) {
                cJSON_AddItemToObject(out, it->string, d);
            } else {
                cJSON_Delete(d);
            }
        } else if (old == NULL || !cJSON_Compare(old, it, true)) {
            cJSON_AddItemToObject(out, it->string, cJSON_Duplicate(it, 1));
        }
    }
    return out;
}
