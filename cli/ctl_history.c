/*
 * ctl_history: "regentctl history" (GET /history) and "version".
 *
 * history prints patronictl's columns TL, LSN, Reason, Timestamp, New
 * Leader: a plain boxed table (no title) with TL and LSN on the right,
 * tsv without a Cluster column, json and yaml records that keep every
 * column, empty or not, as patronictl's do. Lines of fewer than five
 * elements are padded with empty cells. A sixth element, Regent's
 * {"unavailable_ms": N}, shows only in json and yaml, as "Unavailable (ms)".
 *
 * version prints regentctl's version and, given the cluster's name or
 * members, "<member>: Regent X PostgreSQL Y" from each member's GET
 * /patroni, as patronictl version does.
 */
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

#define HCOLS 5

static const char *const hist_cols[HCOLS] = {"TL", "LSN", "Reason", "Timestamp", "New Leader"};
static const bool hist_right[HCOLS] = {true, true, false, false, false};

static char *item_text(const cJSON *v)
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

static cJSON *history_records(const cJSON *history)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *line;
    cJSON_ArrayForEach(line, history)
    {
        cJSON *o = cJSON_CreateObject();
        for (int c = 0; c < HCOLS; c++) {
            const cJSON *v = cJSON_GetArrayItem(line, c);
            if (cJSON_IsNumber(v)) {
                cJSON_AddNumberToObject(o, hist_cols[c], v->valuedouble);
            } else {
                char *text = item_text(v);
                cJSON_AddStringToObject(o, hist_cols[c], text);
                rg_free(text);
            }
        }
        const cJSON *extra = cJSON_GetArrayItem(line, HCOLS);
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(extra, "unavailable_ms");
        if (cJSON_IsNumber(ms)) {
            cJSON_AddNumberToObject(o, "Unavailable (ms)", ms->valuedouble);
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

void ctl_print_history(FILE *fp, const cJSON *history, enum ctl_format format)
{
    if (format == CTL_JSON || format == CTL_YAML) {
        cJSON *arr = history_records(history);
        ctl_records_print(fp, arr, format);
        cJSON_Delete(arr);
        return;
    }
    struct ctl_table t;
    ctl_table_init(&t, HCOLS, hist_cols, hist_right, (size_t)cJSON_GetArraySize(history));
    size_t i = 0;
    const cJSON *line;
    cJSON_ArrayForEach(line, history)
    {
        for (int c = 0; c < HCOLS; c++) {
            ctl_table_set(&t, i, (size_t)c, item_text(cJSON_GetArrayItem(line, c)));
        }
        i++;
    }
    if (format == CTL_TSV) {
        ctl_table_print_tsv(fp, &t, NULL);
    } else {
        ctl_table_print_pretty(fp, &t, NULL);
    }
    ctl_table_close(&t);
}

int ctl_cmd_history(struct ctl_args *a)
{
    cJSON *cluster = NULL;
    int rv = ctl_cluster_fetch(a, &cluster); /* the scope check, and the members */
    cJSON_Delete(cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    cJSON *history = NULL;
    char err[4096];
    if (ctl_get_json(&a->o, "/history", &history, err, sizeof err) != 0) {
        fprintf(a->io.err, "regentctl: %s\n", err);
        return CTL_EXIT_FAIL;
    }
    if (!cJSON_IsArray(history)) {
        fprintf(a->io.err, "regentctl: GET /history did not answer a list\n");
        cJSON_Delete(history);
        return CTL_EXIT_FAIL;
    }
    ctl_print_history(a->io.out, history, a->o.format);
    cJSON_Delete(history);
    return CTL_EXIT_OK;
}

/* --- version ------------------------------------------------------------------ */

char *ctl_pg_version_text(long v)
{
    if (v < 100000) {
        return rg_asprintf("%ld.%ld.%ld", v / 10000, v % 10000 / 100, v % 100);
    }
    return rg_asprintf("%ld.%ld", v / 10000, v % 10000);
}

/* "<name>: Regent X PostgreSQL Y", or why not; false on failure. */
static bool member_version(struct ctl_args *a, const cJSON *m)
{
    const char *name = ctl_str(m, "name");
    char *base = ctl_member_base_url(m);
    if (base == NULL) {
        fprintf(a->io.out, "%s: failed to get version: it publishes no REST API address\n", name);
        return false;
    }
    struct ctl_request rq = {.method = "GET", .path = "/patroni"};
    struct ctl_answer ans;
    char err[1024];
    bool ok = ctl_send_to(&a->o, base, &rq, &ans, err, sizeof err) == 0;
    rg_free(base);
    if (ok && (ans.status != 200 || ans.body == NULL)) {
        snprintf(err, sizeof err, "HTTP status %ld", ans.status);
        ok = false;
    }
    if (!ok) {
        fprintf(a->io.out, "%s: failed to get version: %s\n", name, err);
        ctl_answer_close(&ans);
        return false;
    }
    const char *version = ctl_str(cJSON_GetObjectItemCaseSensitive(ans.body, "patroni"), "version");
    const cJSON *pg = cJSON_GetObjectItemCaseSensitive(ans.body, "server_version");
    fprintf(a->io.out, "%s: Regent %s", name, version != NULL ? version : "(unknown)");
    if (cJSON_IsNumber(pg) && pg->valuedouble > 0) {
        char *text = ctl_pg_version_text((long)pg->valuedouble);
        fprintf(a->io.out, " PostgreSQL %s", text);
        rg_free(text);
    }
    fputc('\n', a->io.out);
    ctl_answer_close(&ans);
    return true;
}

int ctl_cmd_version(struct ctl_args *a)
{
    fprintf(a->io.out, "regentctl version " REGENT_VERSION "\n");
    if (a->n_words == 0) {
        return CTL_EXIT_OK;
    }
    fflush(a->io.out);
    cJSON *cluster = NULL;
    int rv = ctl_cluster_fetch(a, &cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    const cJSON **members;
    size_t n;
    rv = ctl_members_pick(a, cluster, a->words, a->n_words, CTL_ROLE_ANY, &members, &n);
    if (rv == CTL_EXIT_OK) {
        fputc('\n', a->io.out);
        for (size_t i = 0; i < n; i++) {
            rv = member_version(a, members[i]) ? rv : CTL_EXIT_FAIL;
        }
        rg_free(members);
    }
    cJSON_Delete(cluster);
    return rv;
}
