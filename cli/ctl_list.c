/*
 * ctl_list: "regentctl list" — GET /cluster printed as patronictl 4.0 does
 * (spec/patroni-compat.md 5.2): columns Member, Host, Role, State, TL,
 * Lag in MB. pretty is the boxed table with the cluster name in its top
 * border and, under it, one line of Raft facts; tsv, json and yaml add a
 * Cluster column and drop empty values (json/yaml), without footers. The
 * printing itself is ctl_table's.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

#define NCOLS 6

static const char *const col_names[NCOLS] = {"Member", "Host", "Role", "State", "TL", "Lag in MB"};
static const bool col_right[NCOLS] = {false, false, false, false, true, true};

/* The typed values of a row, for json and yaml. */
struct typed {
    const cJSON *tl; /* borrowed from the /cluster document */
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

/* Fills @t (initialised here) and @typed (n entries, caller rg_free()s). */
static void build_rows(const cJSON *cluster, struct ctl_table *t, struct typed **typed)
{
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(cluster, "members");
    size_t n = (size_t)cJSON_GetArraySize(members);
    ctl_table_init(t, NCOLS, col_names, col_right, n);
    *typed = rg_calloc(n ? n : 1, sizeof **typed);
    bool with_port = need_port(members);
    size_t i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, members)
    {
        struct typed *ty = &(*typed)[i];
        const char *name = str_field(m, "name");
        const char *host = str_field(m, "host");
        const char *role = str_field(m, "role");
        const char *st = str_field(m, "state");
        const cJSON *port = cJSON_GetObjectItemCaseSensitive(m, "port");
        ctl_table_set(t, i, 0, rg_strdup(name != NULL ? name : ""));
        if (host != NULL && with_port && cJSON_IsNumber(port)) {
            ctl_table_set(t, i, 1, rg_asprintf("%s:%d", host, port->valueint));
        } else {
            ctl_table_set(t, i, 1, rg_strdup(host != NULL ? host : ""));
        }
        ctl_table_set(t, i, 2, role_title(role != NULL ? role : ""));
        ctl_table_set(t, i, 3, rg_strdup(st != NULL ? st : ""));
        ty->tl = cJSON_GetObjectItemCaseSensitive(m, "timeline");
        ctl_table_set(t, i, 4, json_scalar_text(ty->tl));
        bool leader =
            role != NULL && (strcmp(role, "leader") == 0 || strcmp(role, "standby_leader") == 0);
        ty->lag = leader ? NULL : cJSON_GetObjectItemCaseSensitive(m, "lag");
        if (cJSON_IsNumber(ty->lag)) {
            ctl_table_set(t, i, 5, rg_asprintf("%.0f", round(ty->lag->valuedouble / 1048576.0)));
        } else {
            ctl_table_set(t, i, 5, json_scalar_text(ty->lag));
        }
        i++;
    }
}

static void print_footers(FILE *fp, const cJSON *cluster)
{
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

static cJSON *
row_object(const char *scope, const struct ctl_table *t, size_t i, const struct typed *ty)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Cluster", scope);
    for (size_t c = 0; c < 4; c++) {
        if (ctl_table_get(t, i, c)[0] != '\0') {
            cJSON_AddStringToObject(o, col_names[c], ctl_table_get(t, i, c));
        }
    }
    if (cJSON_IsNumber(ty->tl)) {
        cJSON_AddNumberToObject(o, "TL", ty->tl->valuedouble);
    }
    if (cJSON_IsNumber(ty->lag)) {
        cJSON_AddNumberToObject(o, "Lag in MB", round(ty->lag->valuedouble / 1048576.0));
    } else if (ctl_table_get(t, i, 5)[0] != '\0') {
        cJSON_AddStringToObject(o, "Lag in MB", ctl_table_get(t, i, 5));
    }
    return o;
}

void ctl_print_cluster(FILE *fp, const cJSON *cluster, enum ctl_format format)
{
    struct ctl_table t;
    struct typed *typed;
    build_rows(cluster, &t, &typed);
    const char *scope = str_field(cluster, "scope");
    if (format == CTL_PRETTY) {
        char *title = rg_asprintf(" Cluster: %s ", scope != NULL ? scope : "(unknown)");
        ctl_table_print_pretty(fp, &t, title);
        rg_free(title);
        print_footers(fp, cluster);
        print_raft(fp, cluster);
    } else if (format == CTL_TSV) {
        ctl_table_print_tsv(fp, &t, scope != NULL ? scope : "");
    } else {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < t.n_rows; i++) {
            cJSON_AddItemToArray(arr, row_object(scope != NULL ? scope : "", &t, i, &typed[i]));
        }
        ctl_records_print(fp, arr, format);
        cJSON_Delete(arr);
    }
    rg_free(typed);
    ctl_table_close(&t);
}
