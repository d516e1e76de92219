/*
 * ctl_table: the printers every listing command shares, so that "list" and
 * "member list" look alike and like patronictl 4.0.
 *
 * A command fills a ctl_table with text cells and prints it pretty (the
 * boxed table, the cluster's name in the top border) or as tsv (a Cluster
 * column first). For json and yaml it builds an array of flat records
 * instead, keeping numbers typed, and ctl_records_print() writes them: json
 * on one line, yaml as PyYAML's safe_dump would (sorted keys, scalars
 * quoted when a reader could take them for something else).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/rg.h"
#include "cli/ctl.h"

void ctl_table_init(
    struct ctl_table *t, size_t n_cols, const char *const *names, const bool *right, size_t n_rows)
{
    t->n_cols = n_cols;
    t->names = names;
    t->right = right;
    t->n_rows = n_rows;
    size_t n = n_rows * n_cols;
    t->cells = rg_calloc(n > 0 ? n : 1, sizeof *t->cells);
}

void ctl_table_close(struct ctl_table *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++) {
        rg_free(t->cells[i]);
    }
    rg_free(t->cells);
    t->cells = NULL;
    t->n_rows = 0;
}

void ctl_table_set(struct ctl_table *t, size_t row, size_t col, char *text)
{
    RG_PRE(row < t->n_rows && col < t->n_cols);
    char **cell = &t->cells[row * t->n_cols + col];
    rg_free(*cell);
    *cell = text;
}

const char *ctl_table_get(const struct ctl_table *t, size_t row, size_t col)
{
    RG_PRE(row < t->n_rows && col < t->n_cols);
    const char *text = t->cells[row * t->n_cols + col];
    return text != NULL ? text : "";
}

/* --- pretty ------------------------------------------------------------- */

static void hline(FILE *fp, const size_t *w, size_t n_cols, const char *title)
{
    char line[1024];
    size_t pos = 0;
    line[pos++] = '+';
    for (size_t c = 0; c < n_cols && pos + w[c] + 3 < sizeof line; c++) {
        memset(line + pos, '-', w[c] + 2);
        pos += w[c] + 2;
        line[pos++] = '+';
    }
    line[pos] = '\0';
    if (title != NULL) {
        size_t tlen = strlen(title);
        if (tlen > pos - 2) {
            tlen = pos - 2;
        }
        memcpy(line + 1, title, tlen);
    }
    fprintf(fp, "%s\n", line);
}

/* Each column as wide as its widest cell; the last one widened rather
 * than cut the title. */
static size_t *col_widths(const struct ctl_table *t, const char *title)
{
    size_t *w = rg_calloc(t->n_cols ? t->n_cols : 1, sizeof *w);
    size_t total = 1;
    for (size_t c = 0; c < t->n_cols; c++) {
        w[c] = strlen(t->names[c]);
        for (size_t i = 0; i < t->n_rows; i++) {
            size_t l = strlen(ctl_table_get(t, i, c));
            w[c] = l > w[c] ? l : w[c];
        }
        total += w[c] + 3;
    }
    if (title != NULL && t->n_cols > 0 && strlen(title) + 2 > total) {
        w[t->n_cols - 1] += strlen(title) + 2 - total;
    }
    return w;
}

void ctl_table_print_pretty(FILE *fp, const struct ctl_table *t, const char *title)
{
    size_t *w = col_widths(t, title);
    hline(fp, w, t->n_cols, title);
    fputc('|', fp);
    for (size_t c = 0; c < t->n_cols; c++) {
        fprintf(fp, " %-*s |", (int)w[c], t->names[c]);
    }
    fputc('\n', fp);
    hline(fp, w, t->n_cols, NULL);
    for (size_t i = 0; i < t->n_rows; i++) {
        fputc('|', fp);
        for (size_t c = 0; c < t->n_cols; c++) {
            bool right = t->right != NULL && t->right[c];
            fprintf(fp, right ? " %*s |" : " %-*s |", (int)w[c], ctl_table_get(t, i, c));
        }
        fputc('\n', fp);
    }
    hline(fp, w, t->n_cols, NULL);
    rg_free(w);
}

/* --- tsv ------------------------------------------------------------------ */

void ctl_table_print_tsv(FILE *fp, const struct ctl_table *t, const char *scope)
{
    fprintf(fp, "Cluster");
    for (size_t c = 0; c < t->n_cols; c++) {
        fprintf(fp, "\t%s", t->names[c]);
    }
    fputc('\n', fp);
    for (size_t i = 0; i < t->n_rows; i++) {
        fprintf(fp, "%s", scope);
        for (size_t c = 0; c < t->n_cols; c++) {
            fprintf(fp, "\t%s", ctl_table_get(t, i, c));
        }
        fputc('\n', fp);
    }
}

/* --- json and yaml ---------------------------------------------------------- */

/* Plain YAML scalars, quoted when a reader could take them for something
 * else (numbers, booleans, null, or text with YAML punctuation). */
static void yaml_scalar(FILE *fp, const char *s)
{
    static const char *const words[] = {"",   "~",  "null", "true", "false", "yes",
                                        "no", "on", "off",  "y",    "n"};
    bool quote = strpbrk(s, ":#{}[],&*!|>'\"%@`") != NULL || s[0] == '-' || s[0] == ' ' ||
                 s[0] == '?' || (s[0] != '\0' && s[strlen(s) - 1] == ' ');
    char *end;
    if (s[0] != '\0') {
        strtod(s, &end);
        quote = quote || *end == '\0';
    }
    for (size_t i = 0; i < RG_ARRAY_SIZE(words) && !quote; i++) {
        quote = strcasecmp(s, words[i]) == 0;
    }
    if (!quote) {
        fputs(s, fp);
        return;
    }
    fputc('\'', fp);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\'') {
            fputc('\'', fp);
        }
        fputc(*p, fp);
    }
    fputc('\'', fp);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static void yaml_record(FILE *fp, const cJSON *rec)
{
    size_t n = (size_t)cJSON_GetArraySize(rec);
    const cJSON **items = rg_calloc(n ? n : 1, sizeof *items);
    size_t k = 0;
    for (const cJSON *it = rec->child; it != NULL && k < n; it = it->next) {
        items[k++] = it;
    }
    qsort(items, k, sizeof items[0], key_cmp); /* PyYAML sorts keys */
    for (size_t j = 0; j < k; j++) {
        fprintf(fp, "%s%s: ", j == 0 ? "- " : "  ", items[j]->string);
        if (cJSON_IsNumber(items[j])) {
            fprintf(fp, "%.0f", items[j]->valuedouble);
        } else {
            yaml_scalar(fp, cJSON_IsString(items[j]) ? items[j]->valuestring : "");
        }
        fputc('\n', fp);
    }
    rg_free(items);
}

void ctl_records_print(FILE *fp, const cJSON *records, enum ctl_format format)
{
    if (format == CTL_JSON) {
        char *text = cJSON_PrintUnformatted(records);
        fprintf(fp, "%s\n", text);
        cJSON_free(text);
        return;
    }
    if (cJSON_GetArraySize(records) == 0) {
        fprintf(fp, "[]\n");
        return;
    }
    const cJSON *rec;
    cJSON_ArrayForEach(rec, records)
    {
        yaml_record(fp, rec);
    }
}
