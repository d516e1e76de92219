/*
 * ctl_table: the printers every listing command shares, so that "list",
 * "history" and "member list" look alike and like patronictl 4.0.
 *
 * A command fills a ctl_table with text cells and prints it pretty (the
 * boxed table of PrettyTable, with the cluster's name in the top border) or
 * as tsv (a Cluster column first when the command lists members). For json
 * and yaml it builds an array of records instead, keeping numbers typed,
 * and ctl_records_print() writes them: json on one line, yaml as PyYAML's
 * safe_dump would (ctl_yaml.c).
 *
 * A pretty cell may hold several lines (Tags as YAML, several pending
 * restart reasons): each line is padded on its own, the row is as tall as
 * its tallest cell, and, as patronictl switches PrettyTable to hrules=ALL
 * then, every row gets a rule under it.
 */
#include <stdlib.h>
#include <string.h>

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

/* Characters, not bytes: a UTF-8 name is as wide as its letters. */
static size_t text_width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return w;
}

/* The width of the widest line of @s, and how many lines it has. */
static size_t cell_width(const char *s, size_t *lines)
{
    size_t w = 0;
    *lines = 1;
    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        size_t lw = text_width(s, n);
        w = lw > w ? lw : w;
        if (nl == NULL) {
            return w;
        }
        (*lines)++;
        s = nl + 1;
    }
}

static void hline(FILE *fp, const size_t *w, size_t n_cols, const char *title)
{
    size_t len = 1;
    for (size_t c = 0; c < n_cols; c++) {
        len += w[c] + 3;
    }
    char *line = rg_malloc(len + 1);
    size_t pos = 0;
    line[pos++] = '+';
    for (size_t c = 0; c < n_cols; c++) {
        memset(line + pos, '-', w[c] + 2);
        pos += w[c] + 2;
        line[pos++] = '+';
    }
    line[pos] = '\0';
    if (title != NULL && pos >= 2) {
        size_t tlen = strlen(title);
        memcpy(line + 1, title, tlen < pos - 2 ? tlen : pos - 2);
    }
    fprintf(fp, "%s\n", line);
    rg_free(line);
}

/* Each column as wide as its widest cell; the last one widened rather
 * than cut the title. *@multi: some cell has several lines. */
static size_t *col_widths(const struct ctl_table *t, const char *title, bool *multi)
{
    size_t *w = rg_calloc(t->n_cols ? t->n_cols : 1, sizeof *w);
    size_t total = 1;
    *multi = false;
    for (size_t c = 0; c < t->n_cols; c++) {
        w[c] = strlen(t->names[c]);
        for (size_t i = 0; i < t->n_rows; i++) {
            size_t lines;
            size_t l = cell_width(ctl_table_get(t, i, c), &lines);
            w[c] = l > w[c] ? l : w[c];
            *multi = *multi || lines > 1;
        }
        total += w[c] + 3;
    }
    if (title != NULL && t->n_cols > 0 && strlen(title) + 2 > total) {
        w[t->n_cols - 1] += strlen(title) + 2 - total;
    }
    return w;
}

/* Line @k of @s ("" past its last line) into *@start/@n. */
static void nth_line(const char *s, size_t k, const char **start, size_t *n)
{
    for (size_t i = 0; i < k && s != NULL; i++) {
        s = strchr(s, '\n');
        s = s != NULL ? s + 1 : NULL;
    }
    if (s == NULL) {
        *start = "";
        *n = 0;
        return;
    }
    const char *nl = strchr(s, '\n');
    *start = s;
    *n = nl != NULL ? (size_t)(nl - s) : strlen(s);
}

static void print_row(FILE *fp, const struct ctl_table *t, size_t i, const size_t *w)
{
    size_t height = 1;
    for (size_t c = 0; c < t->n_cols; c++) {
        size_t lines;
        cell_width(ctl_table_get(t, i, c), &lines);
        height = lines > height ? lines : height;
    }
    for (size_t k = 0; k < height; k++) {
        fputc('|', fp);
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *s;
            size_t n;
            nth_line(ctl_table_get(t, i, c), k, &s, &n);
            size_t pad = w[c] - text_width(s, n);
            bool right = t->right != NULL && t->right[c];
            fprintf(fp, " %*s%.*s%*s |", right ? (int)pad : 0, "", (int)n, s, right ? 0 : (int)pad,
                    "");
        }
        fputc('\n', fp);
    }
}

void ctl_table_print_pretty(FILE *fp, const struct ctl_table *t, const char *title)
{
    bool multi;
    size_t *w = col_widths(t, title, &multi);
    hline(fp, w, t->n_cols, title);
    fputc('|', fp);
    for (size_t c = 0; c < t->n_cols; c++) {
        fprintf(fp, " %-*s |", (int)w[c], t->names[c]);
    }
    fputc('\n', fp);
    hline(fp, w, t->n_cols, NULL);
    for (size_t i = 0; i < t->n_rows; i++) {
        print_row(fp, t, i, w);
        if (multi && i + 1 < t->n_rows) {
            hline(fp, w, t->n_cols, NULL);
        }
    }
    hline(fp, w, t->n_cols, NULL);
    rg_free(w);
}

/* --- tsv ------------------------------------------------------------------ */

void ctl_table_print_tsv(FILE *fp, const struct ctl_table *t, const char *scope)
{
    if (scope != NULL) {
        fprintf(fp, "Cluster\t");
    }
    for (size_t c = 0; c < t->n_cols; c++) {
        fprintf(fp, "%s%s", c > 0 ? "\t" : "", t->names[c]);
    }
    fputc('\n', fp);
    for (size_t i = 0; i < t->n_rows; i++) {
        if (scope != NULL) {
            fprintf(fp, "%s\t", scope);
        }
        for (size_t c = 0; c < t->n_cols; c++) {
            fprintf(fp, "%s%s", c > 0 ? "\t" : "", ctl_table_get(t, i, c));
        }
        fputc('\n', fp);
    }
}

/* --- json and yaml ---------------------------------------------------------- */

void ctl_records_print(FILE *fp, const cJSON *records, enum ctl_format format)
{
    char *text;
    if (format == CTL_JSON) {
        text = cJSON_PrintUnformatted(records);
        fprintf(fp, "%s\n", text);
        cJSON_free(text);
        return;
    }
    text = ctl_yaml_dump(records);
    fputs(text, fp);
    rg_free(text);
}
