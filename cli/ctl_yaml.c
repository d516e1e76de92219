/*
 * ctl_yaml: YAML in, the way patronictl's PyYAML reads it, into cJSON
 * values; and PyYAML's YAML 1.1 implicit resolver, which the way out
 * (ctl_yaml_dump.c) needs as well.
 *
 * libyaml's document API loads one document; plain scalars are typed by
 * the resolver ("on" is true, "010" is 8, "1:30" is 90, "1e5" is a string),
 * quoted and block scalars are strings. Timestamps, ".inf" and ".nan" stay
 * strings: JSON has no such values. Aliases are followed; a budget of
 * nodes and a depth limit keep a document made of aliases from growing
 * without end.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "agent/rg.h"
#include "cli/ctl.h"

#define MAX_DEPTH 64
#define MAX_NODES 200000

/* --- the resolver ------------------------------------------------------------ */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* At *p: one or more of @set (or '_' when @underscore); advances. */
static bool span(const char **p, const char *set, bool underscore, bool at_least_one)
{
    const char *start = *p;
    while (**p != '\0' && (strchr(set, **p) != NULL || (underscore && **p == '_'))) {
        (*p)++;
    }
    return !at_least_one || *p > start;
}

#define DIGITS "0123456789"

/* (:[0-5]?[0-9])+ */
static bool sexagesimal_tail(const char **p)
{
    int n = 0;
    while (**p == ':') {
        const char *q = *p + 1;
        if (q[0] >= '0' && q[0] <= '5' && is_digit(q[1])) {
            q += 2;
        } else if (is_digit(q[0])) {
            q += 1;
        } else {
            return false;
        }
        *p = q;
        n++;
    }
    return n > 0;
}

static bool is_int(const char *s)
{
    const char *p = s + (*s == '-' || *s == '+');
    if (p[0] == '0' && p[1] == 'b') {
        p += 2;
        return span(&p, "01", true, true) && *p == '\0';
    }
    if (p[0] == '0' && p[1] == 'x') {
        p += 2;
        return span(&p, "0123456789abcdefABCDEF", true, true) && *p == '\0';
    }
    if (p[0] == '0') {
        p++;
        return *p == '\0' || (span(&p, "01234567", true, true) && *p == '\0');
    }
    if (p[0] < '1' || p[0] > '9') {
        return false;
    }
    span(&p, DIGITS, true, false);
    return *p == '\0' || (sexagesimal_tail(&p) && *p == '\0');
}

static bool exponent(const char **p)
{
    if (**p != 'e' && **p != 'E') {
        return true;
    }
    const char *q = *p + 1;
    if (*q != '-' && *q != '+') {
        return false;
    }
    q++;
    if (!span(&q, DIGITS, false, true)) {
        return false;
    }
    *p = q;
    return true;
}

static bool is_float(const char *s)
{
    static const char *const special[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf", "+.INF",
                                          "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN",  ".NAN"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(special); i++) {
        if (strcmp(s, special[i]) == 0) {
            return true;
        }
    }
    const char *p = s;
    if (*p == '.') {
        p++;
        return span(&p, DIGITS, true, true) && exponent(&p) && *p == '\0';
    }
    p += (*p == '-' || *p == '+');
    if (!is_digit(*p)) {
        return false;
    }
    span(&p, DIGITS, true, false);
    if (*p == ':') {
        if (!sexagesimal_tail(&p) || *p != '.') {
            return false;
        }
        p++;
        span(&p, DIGITS, true, false);
        return *p == '\0';
    }
    if (*p != '.') {
        return false;
    }
    p++;
    span(&p, DIGITS, true, false);
    return exponent(&p) && *p == '\0';
}

/* @n digits, or between @min and @max of them. */
static bool ndigits(const char **p, int min, int max)
{
    int n = 0;
    while (n < max && is_digit(**p)) {
        (*p)++;
        n++;
    }
    return n >= min;
}

static bool is_timestamp(const char *s)
{
    const char *p = s;
    if (!ndigits(&p, 4, 4) || *p++ != '-') {
        return false;
    }
    if (is_digit(p[0]) && is_digit(p[1]) && p[2] == '-' && is_digit(p[3]) && is_digit(p[4]) &&
        p[5] == '\0') {
        return true; /* a date */
    }
    if (!ndigits(&p, 1, 2) || *p++ != '-' || !ndigits(&p, 1, 2)) {
        return false;
    }
    if (*p == 'T' || *p == 't') {
        p++;
    } else if (!span(&p, " \t", false, true)) {
        return false;
    }
    if (!ndigits(&p, 1, 2) || *p++ != ':' || !ndigits(&p, 2, 2) || *p++ != ':' ||
        !ndigits(&p, 2, 2)) {
        return false;
    }
    if (*p == '.') {
        p++;
        span(&p, DIGITS, false, false);
    }
    span(&p, " \t", false, false);
    if (*p == 'Z') {
        p++;
    } else if (*p == '-' || *p == '+') {
        p++;
        if (!ndigits(&p, 1, 2)) {
            return false;
        }
        if (*p == ':') {
            p++;
            if (!ndigits(&p, 2, 2)) {
                return false;
            }
        }
    }
    return *p == '\0';
}

enum ctl_yaml_type ctl_yaml_resolve(const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const bools[] = {"yes",  "Yes",  "YES",  "no",    "No",    "NO",
                                        "true", "True", "TRUE", "false", "False", "FALSE",
                                        "on",   "On",   "ON",   "off",   "Off",   "OFF"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(nulls); i++) {
        if (strcmp(s, nulls[i]) == 0) {
            return CTL_YAML_NULL;
        }
    }
    for (size_t i = 0; i < RG_ARRAY_SIZE(bools); i++) {
        if (strcmp(s, bools[i]) == 0) {
            return CTL_YAML_BOOL;
        }
    }
    if (is_int(s)) {
        return CTL_YAML_INT;
    }
    if (is_float(s)) {
        return CTL_YAML_FLOAT;
    }
    if (is_timestamp(s)) {
        return CTL_YAML_TIMESTAMP;
    }
    /* PyYAML's merge ("<<") and value ("=") tags are not strings either. */
    return strcmp(s, "<<") == 0 || strcmp(s, "=") == 0 ? CTL_YAML_TIMESTAMP : CTL_YAML_STR;
}

/* --- in ------------------------------------------------------------------------ */

/* @s without '_', at most 127 characters. */
static void strip_underscores(const char *s, char *out, size_t len)
{
    size_t n = 0;
    for (; *s != '\0' && n + 1 < len; s++) {
        if (*s != '_') {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

/* Base-60 "1:30" (and "1:30.5"): the parts, most significant first. */
static double sexagesimal_value(const char *s)
{
    double v = 0;
    const char *p = s;
    for (;;) {
        char *end;
        double part = strtod(p, &end);
        v = v * 60 + part;
        if (*end != ':') {
            return v;
        }
        p = end + 1;
    }
}

static cJSON *int_json(const char *text)
{
    char s[128];
    strip_underscores(text, s, sizeof s);
    bool neg = s[0] == '-';
    const char *p = s + (s[0] == '-' || s[0] == '+');
    double v;
    if (strchr(p, ':') != NULL) {
        v = sexagesimal_value(p);
    } else if (p[0] == '0' && p[1] == 'b') {
        v = (double)strtoull(p + 2, NULL, 2);
    } else if (p[0] == '0' && p[1] == 'x') {
        v = (double)strtoull(p + 2, NULL, 16);
    } else if (p[0] == '0' && p[1] != '\0') {
        v = (double)strtoull(p + 1, NULL, 8);
    } else {
        v = strtod(p, NULL);
    }
    if (!isfinite(v)) {
        return cJSON_CreateString(text); /* too large for JSON's numbers */
    }
    return cJSON_CreateNumber(neg ? -v : v);
}

static cJSON *scalar_json(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return cJSON_CreateString(s);
    }
    switch (ctl_yaml_resolve(s)) {
    case CTL_YAML_NULL:
        return cJSON_CreateNull();
    case CTL_YAML_BOOL:
        /* true, yes, on (any of their spellings) */
        return cJSON_CreateBool(strchr("tTyY", s[0]) != NULL ||
                                ((s[0] == 'o' || s[0] == 'O') && (s[1] == 'n' || s[1] == 'N')));
    case CTL_YAML_INT:
        return int_json(s);
    case CTL_YAML_FLOAT: {
        char t[128];
        strip_underscores(s, t, sizeof t);
        if (strchr(t, 'n') != NULL || strchr(t, 'N') != NULL) {
            return cJSON_CreateString(s); /* .inf, .nan: not JSON */
        }
        const char *p = t + (t[0] == '-' || t[0] == '+');
        double v = strchr(p, ':') != NULL ? sexagesimal_value(p) : strtod(p, NULL);
        if (!isfinite(v)) {
            return cJSON_CreateString(s); /* 1.5e+330 */
        }
        return cJSON_CreateNumber(t[0] == '-' ? -v : v);
    }
    default:
        return cJSON_CreateString(s);
    }
}

struct load {
    yaml_document_t *doc;
    size_t budget;
    char *err;
    size_t errlen;
};

static cJSON *node_json(struct load *l, const yaml_node_t *n, int depth);

static cJSON *mapping_json(struct load *l, const yaml_node_t *n, int depth)
{
    cJSON *obj = cJSON_CreateObject();
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(l->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(l->doc, pr->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE) {
            snprintf(l->err, l->errlen, "line %lu, column %lu: only scalar keys are supported",
                     k != NULL ? (unsigned long)k->start_mark.line + 1 : 0UL,
                     k != NULL ? (unsigned long)k->start_mark.column + 1 : 0UL);
            cJSON_Delete(obj);
            return NULL;
        }
        cJSON *val = node_json(l, v, depth + 1);
        if (val == NULL) {
            cJSON_Delete(obj);
            return NULL;
        }
        const char *key = (const char *)k->data.scalar.value;
        if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL) {
            cJSON_ReplaceItemInObjectCaseSensitive(obj, key, val); /* the last one wins */
        } else {
            cJSON_AddItemToObject(obj, key, val);
        }
    }
    return obj;
}

static cJSON *node_json(struct load *l, const yaml_node_t *n, int depth)
{
    if (depth > MAX_DEPTH || l->budget == 0) {
        snprintf(l->err, l->errlen, "the document is nested too deeply or too large");
        return NULL;
    }
    l->budget--;
    if (n->type == YAML_SCALAR_NODE) {
        return scalar_json(n);
    }
    if (n->type == YAML_MAPPING_NODE) {
        return mapping_json(l, n, depth);
    }
    cJSON *arr = cJSON_CreateArray();
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *child = yaml_document_get_node(l->doc, *it);
        cJSON *val = child != NULL ? node_json(l, child, depth + 1) : cJSON_CreateNull();
        if (val == NULL) {
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, val);
    }
    return arr;
}

static void parser_error(const yaml_parser_t *p, char *err, size_t errlen)
{
    snprintf(err, errlen, "line %lu, column %lu: %s%s%s", (unsigned long)p->problem_mark.line + 1,
             (unsigned long)p->problem_mark.column + 1, p->problem ? p->problem : "syntax error",
             p->context ? " " : "", p->context ? p->context : "");
}

int ctl_yaml_parse(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    *out = NULL;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        parser_error(&parser, err, errlen);
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    struct load l = {.doc = &doc, .budget = MAX_NODES, .err = err, .errlen = errlen};
    cJSON *v = root != NULL ? node_json(&l, root, 0) : cJSON_CreateNull();
    yaml_document_delete(&doc);
    if (v != NULL && root != NULL) {
        /* A second document: PyYAML's safe_load refuses it too. */
        yaml_document_t more;
        if (!yaml_parser_load(&parser, &more)) {
            parser_error(&parser, err, errlen);
            cJSON_Delete(v);
            v = NULL;
        } else {
            if (yaml_document_get_root_node(&more) != NULL) {
                snprintf(err, errlen, "expected a single document in the stream");
                cJSON_Delete(v);
                v = NULL;
            }
            yaml_document_delete(&more);
        }
    }
    yaml_parser_delete(&parser);
    *out = v;
    return v != NULL ? 0 : -1;
}
