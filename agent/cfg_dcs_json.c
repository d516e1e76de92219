/*
 * cfg_dcs_json: the JSON helpers of PATCH / PUT /config (see cfg_dcs.h) —
 * merge patch (RFC 7386) and the masking of secrets in what clients see
 * and send back. Pure.
 *
 * Masking works by name (cfg_dcs_secret_name), so that it needs no list of
 * where secrets may be and covers Patroni keys Regent only stores.
 * Unmasking walks the document a client sent and the stored one side by
 * side (objects by name, arrays by position): a CFG_DCS_MASK under a secret
 * name takes the stored value from the same place.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent/cfg_dcs.h"
#include "agent/cfg_internal.h"
#include "agent/rg.h"

/* "a.b" from "a" and "b"; @prefix may be "". Caller rg_free()s it. */
static char *join(const char *prefix, const char *name)
{
    name = name != NULL ? name : "";
    return prefix[0] != '\0' ? rg_asprintf("%s.%s", prefix, name) : rg_strdup(name);
}

/* --- merge patch (RFC 7386) ------------------------------------------------ */

static void put(cJSON *obj, const char *name, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, name) != NULL) {
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
    } else {
        cJSON_AddItemToObject(obj, name, v);
    }
}

/* Apply object @patch to object @out, in place. */
static void merge_into(cJSON *out, const cJSON *patch)
{
    for (const cJSON *p = patch->child; p != NULL; p = p->next) {
        if (cJSON_IsNull(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(out, p->string);
            continue;
        }
        if (!cJSON_IsObject(p)) {
            put(out, p->string, cJSON_Duplicate(p, true));
            continue;
        }
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(out, p->string);
        if (cJSON_IsObject(cur)) {
            merge_into(cur, p);
        } else {
            cJSON *fresh = cJSON_CreateObject();
            merge_into(fresh, p);
            put(out, p->string, fresh);
        }
    }
}

cJSON *cfg_dcs_merge_patch(const cJSON *target, const cJSON *patch)
{
    if (!cJSON_IsObject(patch)) {
        return patch != NULL ? cJSON_Duplicate(patch, true) : cJSON_CreateNull();
    }
    cJSON *out = cJSON_IsObject(target) ? cJSON_Duplicate(target, true) : cJSON_CreateObject();
    merge_into(out, patch);
    return out;
}

/* --- secrets --------------------------------------------------------------- */

bool cfg_dcs_secret_name(const char *name)
{
    static const char word[] = "password";
    size_t n = name != NULL ? strlen(name) : 0, w = sizeof word - 1;
    return n >= w && strcasecmp(name + n - w, word) == 0;
}

/* Replace member @old of @obj by @fresh, which takes over its name. */
static void replace_member(cJSON *obj, cJSON *old, cJSON *fresh)
{
    if (fresh->string != NULL && !(fresh->type & cJSON_StringIsConst)) {
        cJSON_free(fresh->string); /* a duplicate's copy of its own name */
    }
    fresh->type = (fresh->type & ~cJSON_StringIsConst) | (old->type & cJSON_StringIsConst);
    fresh->string = old->string;
    old->string = NULL;
    cJSON_ReplaceItemViaPointer(obj, old, fresh);
}

static void mask(cJSON *node)
{
    cJSON *next;
    for (cJSON *c = node->child; c != NULL; c = next) {
        next = c->next; /* c may be replaced (freed) below */
        if (cJSON_IsObject(node) && cfg_dcs_secret_name(c->string) && !cJSON_IsNull(c)) {
            replace_member(node, c, cJSON_CreateString(CFG_DCS_MASK));
            continue;
        }
        mask(c);
    }
}

cJSON *cfg_dcs_masked(const cJSON *doc)
{
    cJSON *out = cJSON_Duplicate(doc, true);
    if (out != NULL) {
        mask(out);
    }
    return out;
}

static bool is_mask(const cJSON *v)
{
    return cJSON_IsString(v) && strcmp(v->valuestring, CFG_DCS_MASK) == 0;
}

/* @stored: the value at the same place in the stored document, or NULL. */
static int unmask(struct cfg_dcs_err *e, cJSON *node, const cJSON *stored, const char *path)
{
    int i = 0;
    cJSON *next;
    for (cJSON *c = node->child; c != NULL; c = next, i++) {
        next = c->next;
        bool in_object = cJSON_IsObject(node);
        const cJSON *s = NULL;
        if (in_object && cJSON_IsObject(stored)) {
            s = cJSON_GetObjectItemCaseSensitive(stored, c->string);
        } else if (!in_object && cJSON_IsArray(stored)) {
            s = cJSON_GetArrayItem(stored, i);
        }
        char *cpath = in_object ? join(path, c->string) : rg_asprintf("%s[%d]", path, i);
        int rc = 0;
        if (in_object && cfg_dcs_secret_name(c->string) && is_mask(c)) {
            if (s == NULL || cJSON_IsNull(s)) {
                rc = cfg__dcs_fail(e, cpath,
                                   "\"" CFG_DCS_MASK
                                   "\" stands for the stored secret, and there is none: "
                                   "give the value");
            } else {
                replace_member(node, c, cJSON_Duplicate(s, true));
            }
        } else {
            rc = unmask(e, c, s, cpath);
        }
        rg_free(cpath);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int cfg_dcs_unmask(cJSON *doc, const cJSON *stored, char *errbuf, size_t errlen)
{
    struct cfg_dcs_err e = {errbuf, errlen};
    if (errlen > 0) {
        errbuf[0] = '\0';
    }
    return doc != NULL ? unmask(&e, doc, stored, "") : 0;
}
