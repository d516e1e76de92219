/*
 * ctl_node: the commands each member carries out itself — "restart",
 * "reload" and "flush restart" — sent to the member's own REST
 * API (its api_url in GET /cluster), one member after the other, as
 * patronictl's restart, reload and flush do.
 *
 * Each prints the list first, picks the members (ctl_members_pick: the
 * names given, else every member with -r ROLE), asks what is missing
 * unless --force (restart: when, and for which older version; reinit:
 * which member), confirms, then prints one line per member in patronictl's
 * words ("Success: restart on member node2", "Failed: restart for member
 * node2, status code=503, (restart conditions are not satisfied)"). The
 * exit status is 1 when any member failed or could not be reached.
 *
 * reinit is ctl_reinit.c's; it shares the helpers declared in ctl.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/rg.h"
#include "cli/ctl.h"

static char *names_of(const cJSON **ms, size_t n)
{
    char *text = rg_strdup("");
    for (size_t i = 0; i < n; i++) {
        char *next = rg_asprintf("%s%s%s", text, i > 0 ? ", " : "", ctl_str(ms[i], "name"));
        rg_free(text);
        text = next;
    }
    return text;
}

/* patronictl's confirm_members_action() for an immediate action (ctl.h). */
bool ctl_confirm_members(struct ctl_args *a, const char *action, const cJSON **ms, size_t n)
{
    if (a->force) {
        return true;
    }
    char *names = names_of(ms, n);
    char *q = rg_asprintf("Are you sure you want to %s members %s?", action, names);
    bool yes = ctl_ask_yes(&a->io, q);
    rg_free(q);
    rg_free(names);
    if (!yes) {
        fprintf(a->io.err, "Error: Aborted %s\n", action);
    }
    return yes;
}

/* @method @path to member @m itself. 0 and *@ans; -1 after "Failed: ...". */
int ctl_to_member(struct ctl_args *a,
                  const cJSON *m,
                  const struct ctl_request *rq,
                  const char *action,
                  struct ctl_answer *ans)
{
    char *base = ctl_member_base_url(m);
    char err[2048];
    int rv = -1;
    if (base == NULL) {
        snprintf(err, sizeof err, "it publishes no REST API address (api_url)");
    } else {
        rv = ctl_send_to(&a->o, base, rq, ans, err, sizeof err);
    }
    if (rv != 0) {
        fprintf(a->io.out, "Failed: %s for member %s, %s\n", action, ctl_str(m, "name"), err);
    }
    rg_free(base);
    return rv;
}

/* patronictl's ctl_check_response(). */
bool ctl_check_response(struct ctl_args *a,
                        const struct ctl_answer *ans,
                        const cJSON *m,
                        const char *action,
                        bool silent_success)
{
    if (ans->status >= 400) {
        fprintf(a->io.out, "Failed: %s for member %s, status code=%ld, (%s)\n", action,
                ctl_str(m, "name"), ans->status, ctl_answer_reason(ans));
        return false;
    }
    if (!silent_success) {
        fprintf(a->io.out, "Success: %s for member %s\n", action, ctl_str(m, "name"));
    }
    return true;
}

/* GET /cluster, the list, and the members picked with @role. */
int ctl_members_prepare(
    struct ctl_args *a, enum ctl_role role, cJSON **cluster, const cJSON ***ms, size_t *n)
{
    int rv = ctl_cluster_fetch(a, cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    ctl_print_cluster(a->io.out, *cluster, CTL_PRETTY);
    fflush(a->io.out);
    rv = ctl_members_pick(a, *cluster, a->words, a->n_words, role, ms, n);
    if (rv != CTL_EXIT_OK) {
        cJSON_Delete(*cluster);
        *cluster = NULL;
    }
    return rv;
}

/* --- restart -------------------------------------------------------------------- */

/* When, and for which version: asked unless given or --force. */
static int restart_questions(struct ctl_args *a, char **scheduled, char **version)
{
    *scheduled = a->scheduled != NULL ? rg_strdup(a->scheduled) : NULL;
    *version = a->pg_version != NULL ? rg_strdup(a->pg_version) : NULL;
    if (a->scheduled_given || a->force) {
        return CTL_EXIT_OK;
    }
    char example[32], *q, *answer;
    ctl_next_hour(example, sizeof example);
    q = rg_asprintf("When should the restart take place (e.g. %s) ", example);
    int rv = ctl_prompt(&a->io, q, "now", &answer);
    rg_free(q);
    if (rv != 0) {
        fprintf(a->io.err, "Error: Aborted restart\n");
        return CTL_EXIT_FAIL;
    }
    if (ctl_time_parse(answer, scheduled) != 0) {
        fprintf(a->io.err,
                "Error: Unable to parse scheduled timestamp (%s). It should be in an unambiguous "
                "format (e.g. ISO 8601)\n",
                answer);
        rg_free(answer);
        return CTL_EXIT_FAIL;
    }
    rg_free(answer);
    return CTL_EXIT_OK;
}

static int ask_version(struct ctl_args *a, char **version)
{
    if (*version != NULL || a->force) {
        return CTL_EXIT_OK;
    }
    if (ctl_prompt(&a->io, "Restart if the PostgreSQL version is less than provided (e.g. 9.5.2) ",
                   "", version) != 0) {
        fprintf(a->io.err, "Error: Aborted restart\n");
        return CTL_EXIT_FAIL;
    }
    const char *p = *version;
    int parts = p[0] != '\0';
    for (; *p != '\0'; p++) {
        parts += *p == '.';
        if ((*p < '0' || *p > '9') && *p != '.') {
            parts = 0;
            break;
        }
    }
    if ((*version)[0] != '\0' && (parts < 2 || parts > 3 || strstr(*version, "..") != NULL)) {
        fprintf(a->io.err,
                "Error: Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: %s\n",
                *version);
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

static bool confirm_restart(struct ctl_args *a, const cJSON **ms, size_t n, const char *scheduled)
{
    if (scheduled == NULL) {
        return ctl_confirm_members(a, "restart", ms, n);
    }
    if (a->force) {
        return true;
    }
    char *names = names_of(ms, n);
    char *when = rg_strdup(scheduled);
    char *t = strchr(when, 'T');
    if (t != NULL) {
        *t = ' '; /* Python's str(datetime) */
    }
    char *q = a->pending ? rg_strdup("The nodes needing a restart will be identified at the "
                                     "scheduled time, and might be different from the ones "
                                     "showing pending restart right now. Is this fine?")
                         : rg_asprintf("Are you sure you want to schedule restart of members "
                                       "%s at %s?",
                                       names, when);
    bool yes = ctl_ask_yes(&a->io, q);
    if (!yes) {
        fprintf(a->io.err, "Error: Aborted scheduled restart\n");
    }
    rg_free(q);
    rg_free(when);
    rg_free(names);
    return yes;
}

/* --pending (immediate) keeps the members flagged; --any one of them. */
static size_t restart_filter(struct ctl_args *a, const cJSON **ms, size_t n, bool scheduled)
{
    size_t k = n;
    if (a->pending && !scheduled) {
        k = 0;
        for (size_t i = 0; i < n; i++) {
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ms[i], "pending_restart"))) {
                ms[k++] = ms[i];
            }
        }
    }
    if (a->any && k > 1) {
        srand((unsigned)time(NULL) ^ (unsigned)getpid());
        ms[0] = ms[(size_t)rand() % k];
        k = 1;
    }
    return k;
}

static bool restart_one(struct ctl_args *a, const cJSON *m, const char *body, bool scheduled)
{
    struct ctl_answer ans;
    long timeout = a->o.timeout_set ? a->o.timeout_ms + 30000 : CTL_RESTART_TIMEOUT_MS;
    if (scheduled && a->force &&
        cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(m, "scheduled_restart"))) {
        struct ctl_request del = {.method = "DELETE", .path = "/restart"};
        if (ctl_to_member(a, m, &del, "flush scheduled restart", &ans) == 0) {
            ctl_check_response(a, &ans, m, "flush scheduled restart", true);
            ctl_answer_close(&ans);
        }
    }
    struct ctl_request rq = {
        .method = "POST", .path = "/restart", .body = body, .timeout_ms = timeout};
    if (ctl_to_member(a, m, &rq, "restart", &ans) != 0) {
        return false;
    }
    const char *name = ctl_str(m, "name");
    bool ok = ans.status == 200 || ans.status == 202;
    if (ans.status == 200) {
        fprintf(a->io.out, "Success: restart on member %s\n", name);
    } else if (ans.status == 202) {
        fprintf(a->io.out, "Success: restart scheduled on member %s\n", name);
    } else if (ans.status == 409) {
        fprintf(a->io.out, "Failed: another restart is already scheduled on member %s\n", name);
    } else {
        fprintf(a->io.out, "Failed: restart for member %s, status code=%ld, (%s)\n", name,
                ans.status, ctl_answer_reason(&ans));
    }
    ctl_answer_close(&ans);
    return ok;
}

static char *restart_body(struct ctl_args *a, const char *scheduled, const char *version)
{
    cJSON *body = cJSON_CreateObject();
    if (a->pending) {
        cJSON_AddTrueToObject(body, "restart_pending");
    }
    if (version != NULL && version[0] != '\0') {
        cJSON_AddStringToObject(body, "postgres_version", version);
    }
    if (scheduled != NULL) {
        cJSON_AddStringToObject(body, "schedule", scheduled);
    }
    if (a->o.timeout_set) {
        cJSON_AddNumberToObject(body, "timeout", (double)a->o.timeout_ms / 1000.0);
    }
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    return text;
}

int ctl_cmd_restart(struct ctl_args *a)
{
    cJSON *cluster;
    const cJSON **ms;
    size_t n;
    int rv = ctl_members_prepare(a, a->role, &cluster, &ms, &n);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    char *scheduled = NULL, *version = NULL;
    rv = restart_questions(a, &scheduled, &version);
    n = rv == CTL_EXIT_OK ? restart_filter(a, ms, n, scheduled != NULL) : n;
    if (rv == CTL_EXIT_OK && n == 0) {
        fprintf(a->io.out, "No member is pending a restart\n");
    } else if (rv == CTL_EXIT_OK) {
        rv = confirm_restart(a, ms, n, scheduled) ? ask_version(a, &version) : CTL_EXIT_FAIL;
        if (rv == CTL_EXIT_OK && scheduled != NULL &&
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cluster, "pause"))) {
            fprintf(a->io.err, "Error: Can't schedule restart in the paused state\n");
            rv = CTL_EXIT_FAIL;
        }
        char *body = rv == CTL_EXIT_OK ? restart_body(a, scheduled, version) : NULL;
        for (size_t i = 0; i < n && body != NULL; i++) {
            rv = restart_one(a, ms[i], body, scheduled != NULL) ? rv : CTL_EXIT_FAIL;
        }
        cJSON_free(body);
    }
    rg_free(scheduled);
    rg_free(version);
    rg_free(ms);
    cJSON_Delete(cluster);
    return rv;
}

/* --- reload ---------------------------------------------------------------------- */

/* loop_wait of the dynamic configuration; 10 s when it says nothing. */
static long loop_wait(struct ctl_args *a)
{
    cJSON *config = NULL;
    char err[1024];
    long v = 10;
    if (ctl_get_json(&a->o, "/config", &config, err, sizeof err) == 0) {
        const cJSON *lw = cJSON_GetObjectItemCaseSensitive(config, "loop_wait");
        v = cJSON_IsNumber(lw) && lw->valuedouble > 0 ? (long)lw->valuedouble : v;
        cJSON_Delete(config);
    }
    return v;
}

int ctl_cmd_reload(struct ctl_args *a)
{
    cJSON *cluster;
    const cJSON **ms;
    size_t n;
    int rv = ctl_members_prepare(a, a->role, &cluster, &ms, &n);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    if (!ctl_confirm_members(a, "reload", ms, n)) {
        n = 0;
        rv = CTL_EXIT_FAIL;
    }
    long wait = -1;
    for (size_t i = 0; i < n; i++) {
        struct ctl_request rq = {.method = "POST", .path = "/reload"};
        struct ctl_answer ans;
        if (ctl_to_member(a, ms[i], &rq, "reload", &ans) != 0) {
            rv = CTL_EXIT_FAIL;
            continue;
        }
        const char *name = ctl_str(ms[i], "name");
        if (ans.status == 200) {
            fprintf(a->io.out, "No changes to apply on member %s\n", name);
        } else if (ans.status == 202) {
            wait = wait < 0 ? loop_wait(a) : wait;
            fprintf(a->io.out,
                    "Reload request received for member %s and will be processed within %ld "
                    "seconds\n",
                    name, wait);
        } else {
            fprintf(a->io.out, "Failed: reload for member %s, status code=%ld, (%s)\n", name,
                    ans.status, ctl_answer_reason(&ans));
            rv = CTL_EXIT_FAIL;
        }
        ctl_answer_close(&ans);
    }
    rg_free(ms);
    cJSON_Delete(cluster);
    return rv;
}

/* --- flush restart ------------------------------------------------------------------ */

static int flush_restart(struct ctl_args *a)
{
    cJSON *cluster;
    const cJSON **ms;
    size_t n;
    int rv = ctl_members_prepare(a, a->role, &cluster, &ms, &n);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    if (!ctl_confirm_members(a, "flush", ms, n)) {
        n = 0;
        rv = CTL_EXIT_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ms[i], "scheduled_restart"))) {
            fprintf(a->io.out, "No scheduled restart for member %s\n", ctl_str(ms[i], "name"));
            continue;
        }
        struct ctl_request rq = {.method = "DELETE", .path = "/restart"};
        struct ctl_answer ans;
        if (ctl_to_member(a, ms[i], &rq, "flush scheduled restart", &ans) != 0) {
            rv = CTL_EXIT_FAIL;
            continue;
        }
        rv = ctl_check_response(a, &ans, ms[i], "flush scheduled restart", false) ? rv
                                                                                  : CTL_EXIT_FAIL;
        ctl_answer_close(&ans);
    }
    rg_free(ms);
    cJSON_Delete(cluster);
    return rv;
}

int ctl_cmd_flush(struct ctl_args *a)
{
    if (strcmp(a->target, "restart") == 0) {
        return flush_restart(a);
    }
    cJSON *cluster = NULL;
    int rv = ctl_cluster_fetch(a, &cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    size_t skip = ctl_skip_cluster_word(cluster, a->words, a->n_words);
    if (a->n_words > skip) {
        fprintf(a->io.err, "Error: flush switchover takes no MEMBER (the switchover is the "
                           "cluster's)\n");
        rv = CTL_EXIT_USAGE;
    } else {
        rv = ctl_flush_switchover(a, cluster);
    }
    cJSON_Delete(cluster);
    return rv;
}
