/*
 * ctl_list: "regentctl list" — GET /cluster printed as patronictl 4.0 does
 * (spec/patroni-compat.md 5.2): columns Member, Host, Role, State, TL,
 * Lag in MB. pretty is the boxed table with the cluster name in its top
 * border and, under it, one line of Raft facts; tsv, json and yaml add a
 * Cluster column and drop empty values (json/yaml), without footers.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

#define NCOLS 6

static const char *const col_names[NCOLS] = {"Member", "Host", "Role", "State", "TL", "Lag in MB"};
static const bool col_right[NCOLS] = {false, false, false, false, true, true};

struct row {
    char *cell[NCOLS]; /* owned */
    const cJSON *tl;   /* borrowed: typed values for json/yaml */
    const cJSON *lag;
};

static char *json_scalar_text(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        return rg_strdup(v->valuestring);
    }
    if (cJSON_IsNumber(v)) {
        return rg_asprintf("%.0f", v->valuedouble);
    }
    if (cJSON_IsBool(v)) {
        return rg_strdup(cJSON_IsTrue(v) ? "true" : "false");
    }
    return rg_strdup("");
}

/* "standby_leader" -> "Standby Leader" */
static char *role_title(const char *role)
{
    char *t = rg_strdup(role);
    bool start = true;
    for (char *p = t; *p != '\0'; p++) {
        if (*p == '_') {
            *p = ' ';
            start = true;
        } else {
            *p = start ? (char)toupper((unsigned char)*p) : *p;
            start = false;
        }
    }
    return t;
}

static const char *str_field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Patroni appends ":port" when any port is not 5432 or hosts repeat. */
static bool need_port(const cJSON *members)
{
    const cJSON *m, *n;
    cJSON_ArrayForEach(m, members)
    {
        const cJSON *port = cJSON_GetObjectItemCaseSensitive(m, "port");
        if (cJSON_IsNumber(port) && port->valueint != 5432) {
            return true;
        }
        const char *h = str_field(m, "host");
        cJSON_ArrayForEach(n, members)
        {
            const char *h2 = str_field(n, "host");
            if (n != m && h != NULL && h2 != NULL && strcmp(h, h2) == 0) {
                return true;
            }
        }
    }
    return false;
}

static size_t build_rows(const cJSON *cluster, struct row **out)
{
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(cluster, "members");
    size_t n = (size_t)cJSON_GetArraySize(members);
    struct row *rows = rg_calloc(n ? n : 1, sizeof *rows);
    bool with_port = need_port(members);
    size_t i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, members)
    {
        struct row *r = &rows[i++];
        const char *name = str_field(m, "name");
        const char *host = str_field(m, "host");
        const char *role = str_field(m, "role");
        const char *st = str_field(m, "state");
        const cJSON *port = cJSON_GetObjectItemCaseSensitive(m, "port");
        r->cell[0] = rg_strdup(name != NULL ? name : "");
        if (host != NULL && with_port && cJSON_IsNumber(port)) {
            r->cell[1] = rg_asprintf("%s:%d", host, port->valueint);
        } else {
            r->cell[1] = rg_strdup(host != NULL ? host : "");
        }
        r->cell[2] = role_title(role != NULL ? role : "");
        r->cell[3] = rg_strdup(st != NULL ? st : "");
        r->tl = cJSON_GetObjectItemCaseSensitive(m, "timeline");
        r->cell[4] = json_scalar_text(r->tl);
        bool leader =
            role != NULL && (strcmp(role, "leader") == 0 || strcmp(role, "standby_leader") == 0);
        const cJSON *lag = leader ? NULL : cJSON_GetObjectItemCaseSensitive(m, "lag");
        r->lag = lag;
        if (cJSON_IsNumber(lag)) {
            r->cell[5] = rg_asprintf("%.0f", round(lag->valuedouble / 1048576.0));
        } else {
            r->cell[5] = json_scalar_text(lag);
        }
    }
    *out = rows;
    return i;
}

static void free_rows(struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < NCOLS; c++) {
            rg_free(rows[i].cell[c]);
        }
    }
    rg_free(rows);
}

static void hline(FILE *fp, const size_t *w, const char *title)
{
    char line[1024];
    size_t pos = 0;
    line[pos++] = '+';
    for (int c = 0; c < NCOLS && pos + w[c] + 3 < sizeof line; c++) {
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

static void print_pretty(FILE *fp, const cJSON *cluster, struct row *rows, size_t n)
{
    size_t w[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        w[c] = strlen(col_names[c]);
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(rows[i].cell[c]);
            w[c] = l > w[c] ? l : w[c];
        }
    }
    const char *scope = str_field(cluster, "scope");
    char *title = rg_asprintf(" Cluster: %s ", scope != NULL ? scope : "(unknown)");
    /* Widen the last column rather than cut the title. */
    size_t total = 1;
    for (int c = 0; c < NCOLS; c++) {
        total += w[c] + 3;
    }
    if (strlen(title) + 2 > total) {
        w[NCOLS - 1] += strlen(title) + 2 - total;
    }
    hline(fp, w, title);
    rg_free(title);
    fputc('|', fp);
    for (int c = 0; c < NCOLS; c++) {
        fprintf(fp, " %-*s |", (int)w[c], col_names[c]);
    }
    fputc('\n', fp);
    hline(fp, w, NULL);
    for (size_t i = 0; i < n; i++) {
        fputc('|', fp);
        for (int c = 0; c < NCOLS; c++) {
            fprintf(fp, col_right[c] ? " %*s |" : " %-*s |", (int)w[c], rows[i].cell[c]);
        }
        fputc('\n', fp);
    }
    hline(fp, w, NULL);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cluster, "pause"))) {
        fprintf(fp, " Maintenance mode: on\n");
    }
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(cluster, "scheduled_switchover");
    if (sw != NULL) {
        const char *at = str_field(sw, "at");
        fprintf(fp, " Switchover scheduled at: %s\n", at != NULL ? at : "?");
        if (str_field(sw, "from") != NULL) {
            fprintf(fp, "                    from: %s\n", str_field(sw, "from"));
        }
        if (str_field(sw, "to") != NULL) {
            fprintf(fp, "                      to: %s\n", str_field(sw, "to"));
        }
    }
}

static void print_names(FILE *fp, const cJSON *arr)
{
    const cJSON *it;
    bool first = true;
    cJSON_ArrayForEach(it, arr)
    {
        fprintf(fp, "%s%s", first ? "" : ",", cJSON_IsString(it) ? it->valuestring : "?");
        first = false;
    }
    if (first) {
        fprintf(fp, "none");
    }
}

static void print_raft(FILE *fp, const cJSON *cluster)
{
    const cJSON *raft = cJSON_GetObjectItemCaseSensitive(cluster, "raft");
    if (!cJSON_IsObject(raft)) {
        return;
    }
    const cJSON *term = cJSON_GetObjectItemCaseSensitive(raft, "term");
    const char *leader = str_field(raft, "leader");
    fprintf(fp, "Raft: term %.0f, leader %s, voters ",
            cJSON_IsNumber(term) ? term->valuedouble : 0.0, leader != NULL ? leader : "none");
    print_names(fp, cJSON_GetObjectItemCaseSensitive(raft, "voters"));
    fprintf(fp, ", standbys ");
    print_names(fp, cJSON_GetObjectItemCaseSensitive(raft, "standbys"));
    fputc('\n', fp);
}

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
    for (size_t i = 0; i < sizeof words / sizeof words[0] && !quote; i++) {
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

static cJSON *row_object(const char *scope, const struct row *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Cluster", scope);
    for (int c = 0; c < 4; c++) {
        if (r->cell[c][0] != '\0') {
            cJSON_AddStringToObject(o, col_names[c], r->cell[c]);
        }
    }
    if (cJSON_IsNumber(r->tl)) {
        cJSON_AddNumberToObject(o, "TL", r->tl->valuedouble);
    }
    if (cJSON_IsNumber(r->lag)) {
        cJSON_AddNumberToObject(o, "Lag in MB", round(r->lag->valuedouble / 1048576.0));
    } else if (r->cell[5][0] != '\0') {
        cJSON_AddStringToObject(o, "Lag in MB", r->cell[5]);
    }
    return o;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static void print_yaml(FILE *fp, const char *scope, struct row *rows, size_t n)
{
    if (n == 0) {
        fprintf(fp, "[]\n");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *o = row_object(scope, &rows[i]);
        const cJSON *items[NCOLS + 1];
        size_t k = 0;
        for (const cJSON *it = o->child; it != NULL && k < NCOLS + 1; it = it->next) {
            items[k++] = it;
        }
        qsort(items, k, sizeof items[0], key_cmp); /* PyYAML sorts keys */
        for (size_t j = 0; j < k; j++) {
            fprintf(fp, "%s%s: ", j == 0 ? "- " : "  ", items[j]->string);
            if (cJSON_IsNumber(items[j])) {
                fprintf(fp, "%.0f", items[j]->valuedouble);
            } else {
                yaml_scalar(fp, items[j]->valuestring);
            }
            fputc('\n', fp);
        }
        cJSON_Delete(o);
    }
}

void ctl_print_cluster(FILE *fp, const cJSON *cluster, enum ctl_format format)
{
    struct row *rows;
    size_t n = build_rows(cluster, &rows);
    const char *scope = str_field(cluster, "scope");
    scope = scope != NULL ? scope : "";
    switch (format) {
    case CTL_PRETTY:
        print_pretty(fp, cluster, rows, n);
        print_raft(fp, cluster);
        break;
    case CTL_TSV:
        fprintf(fp, "Cluster");
        for (int c = 0; c < NCOLS; c++) {
            fprintf(fp, "\t%s", col_names[c]);
        }
        fputc('\n', fp);
        for (size_t i = 0; i < n; i++) {
            fprintf(fp, "%s", scope);
            for (int c = 0; c < NCOLS; c++) {
                fprintf(fp, "\t%s", rows[i].cell[c]);
            }
            fputc('\n', fp);
        }
        break;
    case CTL_JSON: {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) {
            cJSON_AddItemToArray(arr, row_object(scope, &rows[i]));
        }
        char *text = cJSON_PrintUnformatted(arr);
        fprintf(fp, "%s\n", text);
        cJSON_free(text);
        cJSON_Delete(arr);
        break;
    }
    case CTL_YAML:
        print_yaml(fp, scope, rows, n);
        break;
    }
    free_rows(rows, n);
}
