/*
 * ctl_diff: the unified diff edit-config shows, in the shape of Python's
 * difflib.unified_diff() as patronictl prints it: "--- " and "+++ " with no
 * file names, hunks "@@ -a,b +c,d @@" with 3 lines of context, and in a
 * changed stretch every removed line before the added ones.
 *
 * The lines that stay are a longest common subsequence (dynamic
 * programming over the lines left once the common head and tail are set
 * aside). difflib matches by longest contiguous blocks instead; on the
 * small edits of a configuration both give the same hunks. Should the
 * middle be huge (more than 4M line pairs), it is shown as all removed,
 * then all added.
 *
 * With @color (stdout is a terminal) removed lines are red, added ones
 * green and hunk headers cyan; patronictl pages the diff through ydiff,
 * regentctl just prints it.
 */
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

#define CONTEXT   3
#define MAX_CELLS (4u << 20)

struct lines {
    char **v; /* owned copy of the text, split; v[i] borrowed from it */
    size_t n;
    char *text;
};

/* Python's s.rstrip('\n').split('\n'). */
static void split(const char *s, struct lines *l)
{
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '\n') {
        len--;
    }
    l->text = rg_strndup(s, len);
    l->n = 1;
    for (size_t i = 0; i < len; i++) {
        l->n += s[i] == '\n';
    }
    l->v = rg_calloc(l->n, sizeof *l->v);
    size_t k = 0;
    char *p = l->text;
    for (;;) {
        l->v[k++] = p;
        p = strchr(p, '\n');
        if (p == NULL) {
            break;
        }
        *p++ = '\0';
    }
}

/* An edit script: for each step, '=' (both), '-' (a only) or '+' (b only). */
static size_t script(const struct lines *a, const struct lines *b, char *ops)
{
    size_t head = 0, tail = 0, k = 0;
    while (head < a->n && head < b->n && strcmp(a->v[head], b->v[head]) == 0) {
        head++;
    }
    while (tail < a->n - head && tail < b->n - head &&
           strcmp(a->v[a->n - 1 - tail], b->v[b->n - 1 - tail]) == 0) {
        tail++;
    }
    size_t n = a->n - head - tail, m = b->n - head - tail;
    memset(ops, '=', head);
    k = head;
    if ((n + 1) * (m + 1) > MAX_CELLS) {
        memset(ops + k, '-', n);
        memset(ops + k + n, '+', m);
        k += n + m;
    } else {
        /* L[i][j]: the LCS of a[head+i..] and b[head+j..] */
        unsigned *L = rg_calloc((n + 1) * (m + 1), sizeof *L);
        for (size_t i = n; i-- > 0;) {
            for (size_t j = m; j-- > 0;) {
                L[i * (m + 1) + j] = strcmp(a->v[head + i], b->v[head + j]) == 0
                                         ? L[(i + 1) * (m + 1) + j + 1] + 1
                                         : (L[(i + 1) * (m + 1) + j] >= L[i * (m + 1) + j + 1]
                                                ? L[(i + 1) * (m + 1) + j]
                                                : L[i * (m + 1) + j + 1]);
            }
        }
        size_t i = 0, j = 0;
        while (i < n || j < m) {
            if (i < n && j < m && strcmp(a->v[head + i], b->v[head + j]) == 0) {
                ops[k++] = '=';
                i++;
                j++;
            } else if (j == m || (i < n && L[(i + 1) * (m + 1) + j] >= L[i * (m + 1) + j + 1])) {
                ops[k++] = '-';
                i++;
            } else {
                ops[k++] = '+';
                j++;
            }
        }
        rg_free(L);
    }
    memset(ops + k, '=', tail);
    return k + tail;
}

/* In each changed stretch, the removals first (difflib's "replace"). */
static void removals_first(char *ops, size_t n)
{
    for (size_t s = 0; s < n;) {
        if (ops[s] == '=') {
            s++;
            continue;
        }
        size_t e = s, minus = 0;
        while (e < n && ops[e] != '=') {
            minus += ops[e] == '-';
            e++;
        }
        memset(ops + s, '-', minus);
        memset(ops + s + minus, '+', e - s - minus);
        s = e;
    }
}

/* difflib's _format_range_unified */
static void range(FILE *fp, size_t start, size_t stop)
{
    size_t beginning = start + 1, length = stop - start;
    if (length == 1) {
        fprintf(fp, "%zu", beginning);
    } else {
        fprintf(fp, "%zu,%zu", length == 0 ? beginning - 1 : beginning, length);
    }
}

static void line(FILE *fp, char tag, const char *text, bool color)
{
    const char *on = !color ? "" : tag == '-' ? "\033[31m" : tag == '+' ? "\033[32m" : "";
    fprintf(fp, "%s%c%s%s\n", on, tag, text, on[0] != '\0' ? "\033[0m" : "");
}

/* One hunk: steps [s, e) of the script, which starts at line ai of a and
 * bi of b. */
static void hunk(FILE *fp,
                 const char *ops,
                 size_t s,
                 size_t e,
                 size_t ai,
                 size_t bi,
                 const struct lines *a,
                 const struct lines *b,
                 bool color)
{
    size_t na = 0, nb = 0;
    for (size_t k = s; k < e; k++) {
        na += ops[k] != '+';
        nb += ops[k] != '-';
    }
    fputs(color ? "\033[36m@@ -" : "@@ -", fp);
    range(fp, ai, ai + na);
    fputs(" +", fp);
    range(fp, bi, bi + nb);
    fputs(color ? " @@\033[0m\n" : " @@\n", fp);
    for (size_t k = s; k < e; k++) {
        if (ops[k] == '=') {
            line(fp, ' ', a->v[ai++], false);
            bi++;
        } else if (ops[k] == '-') {
            line(fp, '-', a->v[ai++], color);
        } else {
            line(fp, '+', b->v[bi++], color);
        }
    }
}

void ctl_diff_print(FILE *fp, const char *atext, const char *btext, bool color)
{
    struct lines a, b;
    split(atext, &a);
    split(btext, &b);
    char *ops = rg_malloc(a.n + b.n + 1);
    size_t n = script(&a, &b, ops);
    removals_first(ops, n);
    bool headers = false;
    size_t ai = 0, bi = 0; /* lines of a and b before step k */
    for (size_t k = 0; k < n;) {
        if (ops[k] == '=') {
            ai++, bi++, k++;
            continue;
        }
        /* A hunk: from CONTEXT lines before this change to CONTEXT after
         * the last change that is at most 2 * CONTEXT equal lines away. */
        size_t back = 0;
        while (back < CONTEXT && back < k && ops[k - back - 1] == '=') {
            back++;
        }
        size_t s = k - back, e = k;
        for (;;) {
            while (e < n && ops[e] != '=') {
                e++;
            }
            size_t eq = 0;
            while (e + eq < n && ops[e + eq] == '=') {
                eq++;
            }
            if (e + eq == n || eq > 2 * CONTEXT) {
                e += eq < CONTEXT ? eq : CONTEXT;
                break;
            }
            e += eq;
        }
        if (!headers) {
            fputs(color ? "\033[31m--- \033[0m\n\033[32m+++ \033[0m\n" : "--- \n+++ \n", fp);
            headers = true;
        }
        hunk(fp, ops, s, e, ai - back, bi - back, &a, &b, color);
        for (; k < e; k++) {
            ai += ops[k] != '+';
            bi += ops[k] != '-';
        }
    }
    rg_free(ops);
    rg_free(a.v);
    rg_free(a.text);
    rg_free(b.v);
    rg_free(b.text);
}
