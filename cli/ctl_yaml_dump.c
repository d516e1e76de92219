/*
 * ctl_yaml_dump: YAML out, the way patronictl's PyYAML writes it.
 *
 * Block style as yaml.safe_dump(data, default_flow_style=False) writes it
 * (keys sorted, sequences in mappings not indented, "{}" and "[]" for empty
 * ones), and flow style on one line for the Tags column. A string is plain
 * unless PyYAML would quote it: when it would read back as another type
 * (ctl_yaml_resolve), or its characters forbid it (indicators, leading or
 * trailing space); then single-quoted, or double-quoted with escapes when
 * it holds line breaks or control characters (PyYAML folds multi-line
 * strings into single quotes instead; both read back the same).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

enum style { PLAIN, SINGLE, DOUBLE };

/* Keys this long or longer are written "? key" (PyYAML's limit of a
 * simple key). */
#define SIMPLE_KEY_MAX 128

static bool is_space_or_end(const char *p)
{
    return *p == '\0' || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
}

/* The code point at @p and its length in *@n, or -1 (*@n = 1) when the
 * bytes are not UTF-8. */
static long utf8_next(const unsigned char *p, size_t *n)
{
    static const unsigned char lead_bits[] = {0, 0, 0x1F, 0x0F, 0x07};
    static const long min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = p[0] < 0x80             ? 1
                 : (p[0] & 0xE0) == 0xC0 ? 2
                 : (p[0] & 0xF0) == 0xE0 ? 3
                 : (p[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    *n = 1;
    if (len <= 1) {
        return len == 1 ? p[0] : -1;
    }
    long cp = p[0] & lead_bits[len];
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return -1;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return -1;
    }
    *n = len;
    return cp;
}

/* PyYAML writes these as they are (allow_unicode); the rest is escaped. */
static bool printable(long cp)
{
    return (cp >= 0x20 && cp <= 0x7E) || cp == 0x85 || (cp >= 0xA0 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD && cp != 0xFEFF) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

static bool is_break(long cp)
{
    return cp == '\n' || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

/* Indicators, after PyYAML's analyze_scalar; *@flow_ind and *@block_ind. */
static void indicators(const char *s, size_t i, bool *flow_ind, bool *block_ind)
{
    unsigned char c = (unsigned char)s[i];
    bool followed_ws = is_space_or_end(s + i + 1);
    bool preceded_ws = i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n';
    if (i == 0 && strchr("#,[]{}&*!|>'\"%@`", c) != NULL) {
        *flow_ind = *block_ind = true;
    } else if (i == 0 && (c == '?' || c == ':')) {
        *flow_ind = true;
        *block_ind = *block_ind || followed_ws;
    } else if (i == 0 && c == '-' && followed_ws) {
        *flow_ind = *block_ind = true;
    } else if (i > 0 && strchr(",?[]{}", c) != NULL) {
        *flow_ind = true;
    } else if (i > 0 && c == ':') {
        *flow_ind = true;
        *block_ind = *block_ind || followed_ws;
    } else if (i > 0 && c == '#' && preceded_ws) {
        *flow_ind = *block_ind = true;
    }
}

/* PyYAML's analyze_scalar and choose_scalar_style, for a string. */
static enum style choose_style(const char *s, bool flow)
{
    size_t len = strlen(s);
    bool special = false, line_breaks = false, flow_ind = false, block_ind = false;
    if (len == 0 || ctl_yaml_resolve(s) != CTL_YAML_STR) {
        return SINGLE;
    }
    if (strncmp(s, "---", 3) == 0 || strncmp(s, "...", 3) == 0) {
        flow_ind = block_ind = true;
    }
    for (size_t i = 0, n; i < len; i += n) {
        long cp = utf8_next((const unsigned char *)s + i, &n);
        if (n == 1) {
            indicators(s, i, &flow_ind, &block_ind);
        }
        if (is_break(cp)) {
            line_breaks = true;
        } else if (cp < 0 || !printable(cp)) {
            special = true;
        }
    }
    if (special || line_breaks) {
        return DOUBLE;
    }
    if (s[0] == ' ' || s[len - 1] == ' ' || (flow ? flow_ind : block_ind)) {
        return SINGLE;
    }
    return PLAIN;
}

static void write_double_quoted(FILE *fp, const char *s)
{
    static const struct {
        long cp;
        const char *esc;
    } named[] = {{'"', "\\\""}, {'\\', "\\\\"}, {'\n', "\\n"},   {'\t', "\\t"},
                 {'\r', "\\r"}, {0x85, "\\N"},  {0x2028, "\\L"}, {0x2029, "\\P"}};
    fputc('"', fp);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t n; *p != '\0'; p += n) {
        long cp = utf8_next(p, &n);
        const char *esc = NULL;
        for (size_t k = 0; k < RG_ARRAY_SIZE(named) && esc == NULL; k++) {
            esc = named[k].cp == cp ? named[k].esc : NULL;
        }
        if (esc != NULL) {
            fputs(esc, fp);
        } else if (cp < 0) {
            fprintf(fp, "\\x%02X", *p); /* not UTF-8: the byte as a code point */
        } else if (printable(cp)) {
            fwrite(p, 1, n, fp);
        } else if (cp <= 0xFF) {
            fprintf(fp, "\\x%02lX", cp);
        } else if (cp <= 0xFFFF) {
            fprintf(fp, "\\u%04lX", cp);
        } else {
            fprintf(fp, "\\U%08lX", cp);
        }
    }
    fputc('"', fp);
}

static void write_string(FILE *fp, const char *s, bool flow)
{
    switch (choose_style(s, flow)) {
    case PLAIN:
        fputs(s, fp);
        return;
    case SINGLE:
        fputc('\'', fp);
        for (const char *p = s; *p != '\0'; p++) {
            if (*p == '\'') {
                fputc('\'', fp);
            }
            fputc(*p, fp);
        }
        fputc('\'', fp);
        return;
    case DOUBLE:
        write_double_quoted(fp, s);
        return;
    }
}

/* Python's repr() of a float, close enough: the shortest text that reads
 * back the same, with ".0" when it would look like an integer. */
static void write_number(FILE *fp, double v)
{
    if (!isfinite(v)) {
        fputs("null", fp); /* as cJSON prints it: JSON has no such number */
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        fprintf(fp, "%.0f", v);
        return;
    }
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            break;
        }
    }
    char *e = strchr(buf, 'e');
    if (e != NULL && strchr(buf, '.') == NULL) {
        fprintf(fp, "%.*s.0%s", (int)(e - buf), buf, e); /* 1e+20 -> 1.0e+20 */
    } else {
        fputs(buf, fp);
    }
}

static void write_scalar(FILE *fp, const cJSON *v, bool flow)
{
    if (cJSON_IsString(v)) {
        write_string(fp, v->valuestring, flow);
    } else if (cJSON_IsNumber(v)) {
        write_number(fp, v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        fputs(cJSON_IsTrue(v) ? "true" : "false", fp);
    } else if (cJSON_IsArray(v)) {
        fputs("[]", fp);
    } else if (cJSON_IsObject(v)) {
        fputs("{}", fp);
    } else {
        fputs("null", fp);
    }
}

static bool is_container(const cJSON *v)
{
    return (cJSON_IsObject(v) || cJSON_IsArray(v)) && v->child != NULL;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The items of an object sorted by key (borrowed; caller rg_free()s). */
static const cJSON **sorted_items(const cJSON *obj, size_t *n)
{
    size_t cap = (size_t)cJSON_GetArraySize(obj);
    const cJSON **items = rg_calloc(cap + 1, sizeof *items);
    size_t k = 0;
    for (const cJSON *it = obj->child; it != NULL && k < cap; it = it->next) {
        items[k++] = it;
    }
    qsort(items, k, sizeof items[0], key_cmp);
    *n = k;
    return items;
}

static void emit_mapping(FILE *fp, const cJSON *obj, int indent, bool inline_first);
static void emit_sequence(FILE *fp, const cJSON *arr, int indent, bool inline_first);

/* What follows "key:" */
static void emit_value(FILE *fp, const cJSON *v, int indent)
{
    if (!is_container(v)) {
        fputc(' ', fp);
        write_scalar(fp, v, false);
        fputc('\n', fp);
    } else if (cJSON_IsObject(v)) {
        fputc('\n', fp);
        emit_mapping(fp, v, indent + 2, false);
    } else {
        fputc('\n', fp);
        emit_sequence(fp, v, indent, false); /* PyYAML does not indent these */
    }
}

/* A key too long to be a simple one: "? key" on its line, ":" on the next. */
static void emit_long_key(FILE *fp, const cJSON *item, int indent)
{
    fputs("? ", fp);
    write_string(fp, item->string, false);
    fprintf(fp, "\n%*s:", indent, "");
}

static void emit_mapping(FILE *fp, const cJSON *obj, int indent, bool inline_first)
{
    size_t n;
    const cJSON **items = sorted_items(obj, &n);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 || !inline_first) {
            fprintf(fp, "%*s", indent, "");
        }
        if (strlen(items[i]->string) >= SIMPLE_KEY_MAX) {
            emit_long_key(fp, items[i], indent);
        } else {
            write_string(fp, items[i]->string, false);
            fputc(':', fp);
        }
        emit_value(fp, items[i], indent);
    }
    rg_free(items);
}

static void emit_sequence(FILE *fp, const cJSON *arr, int indent, bool inline_first)
{
    bool first = true;
    for (const cJSON *it = arr->child; it != NULL; it = it->next) {
        if (!first || !inline_first) {
            fprintf(fp, "%*s", indent, "");
        }
        first = false;
        fputs("- ", fp);
        if (!is_container(it)) {
            write_scalar(fp, it, false);
            fputc('\n', fp);
        } else if (cJSON_IsObject(it)) {
            emit_mapping(fp, it, indent + 2, true);
        } else {
            emit_sequence(fp, it, indent + 2, true);
        }
    }
}

char *ctl_yaml_dump(const cJSON *v)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    RG_ASSERT(fp != NULL);
    if (!is_container(v)) {
        write_scalar(fp, v, false);
        fputc('\n', fp);
    } else if (cJSON_IsObject(v)) {
        emit_mapping(fp, v, 0, false);
    } else {
        emit_sequence(fp, v, 0, false);
    }
    fclose(fp);
    char *out = rg_strdup(text);
    free(text);
    return out;
}

static void emit_flow(FILE *fp, const cJSON *v)
{
    if (!is_container(v)) {
        write_scalar(fp, v, true);
        return;
    }
    if (cJSON_IsArray(v)) {
        fputc('[', fp);
        for (const cJSON *it = v->child; it != NULL; it = it->next) {
            emit_flow(fp, it);
            fputs(it->next != NULL ? ", " : "", fp);
        }
        fputc(']', fp);
        return;
    }
    size_t n;
    const cJSON **items = sorted_items(v, &n);
    fputc('{', fp);
    for (size_t i = 0; i < n; i++) {
        write_string(fp, items[i]->string, true);
        fputs(": ", fp);
        emit_flow(fp, items[i]);
        fputs(i + 1 < n ? ", " : "", fp);
    }
    fputc('}', fp);
    rg_free(items);
}

char *ctl_yaml_dump_flow(const cJSON *v)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    RG_ASSERT(fp != NULL);
    emit_flow(fp, v);
    fclose(fp);
    char *out = rg_strdup(text);
    free(text);
    return out;
}
