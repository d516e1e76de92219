/*
 * ctl_switch: "switchover", "failover" and "flush switchover", as
 * patronictl's _do_failover_or_switchover() and flush do them, over POST
 * /switchover, POST /failover and DELETE /switchover.
 *
 * Happy path: GET /cluster, print "Current cluster topology" and the list,
 * settle the leader (switchover: --leader, else asked with the current one
 * as default, and it must be the current one), the candidate (--candidate,
 * else asked among the members that are neither the leader nor tagged
 * nofailover; empty means any, for a switchover only) and, for a
 * switchover, the time (--scheduled, else asked, "now" by default), then
 * confirm, POST to the first member that can be reached (it forwards), and
 * print "<timestamp> <its answer>" and the new list. --force asks nothing:
 * the leader is the current one, the candidate any, the time now.
 *
 * Refusals found here, before anything is sent ("Error: ...", exit 1):
 * no leader to switch over from, a leader or candidate that does not fit,
 * no candidate at all, a schedule while paused, an answer of no. A member
 * that refuses prints "Switchover failed, details: <code>, <text>" (exit 1).
 */
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

static int refuse(const struct ctl_args *a, const char *fmt, const char *x, const char *y)
{
    fprintf(a->io.err, "Error: ");
    fprintf(a->io.err, fmt, x != NULL ? x : "(unnamed)", y != NULL ? y : "(unnamed)");
    fputc('\n', a->io.err);
    return CTL_EXIT_FAIL;
}

/* The members one may switch over to: not the leader, not nofailover,
 * sorted by name (the /cluster order). "['a', 'b']" into *@shown. */
static size_t candidates(const cJSON *cluster, const char *leader, const char **names, char **shown)
{
    size_t n = 0;
    char *text = rg_strdup("[");
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(cluster, "members"))
    {
        const char *name = ctl_str(m, "name");
        if (name == NULL || (leader != NULL && strcmp(name, leader) == 0) ||
            ctl_member_nofailover(m)) {
            continue;
        }
        names[n++] = name;
        char *next = rg_asprintf("%s%s'%s'", text, n > 1 ? ", " : "", name);
        rg_free(text);
        text = next;
    }
    *shown = rg_asprintf("%s]", text);
    rg_free(text);
    return n;
}

static bool is_sync(const cJSON *m)
{
    const char *role = ctl_str(m, "role");
    return role != NULL &&
           (strcmp(role, "sync_standby") == 0 || strcmp(role, "quorum_standby") == 0);
}

/* In synchronous mode, failing over to an asynchronous node can lose
 * commits: patronictl asks once more. */
static bool async_candidate(const cJSON *cluster, const char *candidate)
{
    bool any_sync = false;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(cluster, "members"))
    {
        any_sync = any_sync || is_sync(m);
    }
    return any_sync && !is_sync(ctl_member_find(cluster, candidate));
}

struct plan {
    const char *action; /* "switchover" or "failover" */
    const char *leader; /* the current leader (borrowed from the cluster), or NULL */
    char *candidate;    /* owned, NULL or "": any */
    char *scheduled;    /* owned ISO 8601, or NULL: now */
};

static int settle_leader(struct ctl_args *a, const cJSON *cluster, struct plan *p)
{
    const char *scope = ctl_str(cluster, "scope");
    if (p->leader == NULL) {
        return refuse(a, "This cluster has no leader%s%s", "", "");
    }
    char *want = NULL;
    if (a->leader != NULL || a->force) {
        want = rg_strdup(a->leader != NULL ? a->leader : p->leader);
    } else {
        const cJSON *lm = ctl_member_find(cluster, p->leader);
        const char *role = ctl_str(lm, "role");
        bool standby = role != NULL && strcmp(role, "standby_leader") == 0;
        if (ctl_prompt(&a->io, standby ? "Standby Leader" : "Primary", p->leader, &want) != 0) {
            return refuse(a, "Aborted%s%s", "", "");
        }
    }
    int rv = CTL_EXIT_OK;
    if (strcmp(want, p->leader) != 0) {
        rv = refuse(a, "Member %s is not the leader of cluster %s", want, scope);
    }
    rg_free(want);
    return rv;
}

static int settle_candidate(struct ctl_args *a, const cJSON *cluster, struct plan *p)
{
    const char *scope = ctl_str(cluster, "scope");
    const char **names = rg_calloc(
        (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cluster, "members")) + 1,
        sizeof *names);
    char *shown;
    size_t n = candidates(cluster, p->leader, names, &shown);
    int rv = CTL_EXIT_OK;
    if (n == 0) {
        rv = refuse(a, "No candidates found to %s to%s", p->action, "");
    } else if (a->candidate != NULL || a->force) {
        p->candidate = a->candidate != NULL ? rg_strdup(a->candidate) : NULL;
    } else {
        char *q = rg_asprintf("Candidate %s", shown);
        rv = ctl_prompt(&a->io, q, "", &p->candidate) == 0 ? CTL_EXIT_OK
                                                           : refuse(a, "Aborted%s%s", "", "");
        rg_free(q);
    }
    bool any = p->candidate == NULL || p->candidate[0] == '\0';
    if (rv == CTL_EXIT_OK && strcmp(p->action, "failover") == 0 && any) {
        rv = refuse(a, "Failover could be performed only to a specific candidate%s%s", "", "");
    }
    bool known = any;
    for (size_t i = 0; i < n && !known; i++) {
        known = strcmp(names[i], p->candidate) == 0;
    }
    if (rv == CTL_EXIT_OK && !known) {
        rv = p->leader != NULL && strcmp(p->candidate, p->leader) == 0
                 ? refuse(a, "Member %s is already the leader of cluster %s", p->candidate, scope)
                 : refuse(a, "Member %s does not exist in cluster %s or is tagged as nofailover",
                          p->candidate, scope);
    }
    rg_free(shown);
    rg_free(names);
    return rv;
}

static int settle_time(struct ctl_args *a, const cJSON *cluster, struct plan *p)
{
    if (a->scheduled_given || a->force) {
        p->scheduled = a->scheduled != NULL ? rg_strdup(a->scheduled) : NULL;
    } else {
        char example[32], *q, *answer;
        ctl_next_hour(example, sizeof example);
        q = rg_asprintf("When should the switchover take place (e.g. %s ) ", example);
        int rv = ctl_prompt(&a->io, q, "now", &answer);
        rg_free(q);
        if (rv != 0) {
            return refuse(a, "Aborted%s%s", "", "");
        }
        rv = ctl_time_parse(answer, &p->scheduled);
        if (rv != 0) {
            refuse(a,
                   "Unable to parse scheduled timestamp (%s). It should be in an unambiguous "
                   "format (e.g. ISO 8601)%s",
                   answer, "");
        }
        rg_free(answer);
        if (rv != 0) {
            return CTL_EXIT_FAIL;
        }
    }
    if (p->scheduled != NULL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cluster, "pause"))) {
        return refuse(a, "Can't schedule switchover in the paused state%s%s", "", "");
    }
    return CTL_EXIT_OK;
}

static int confirm(struct ctl_args *a, const cJSON *cluster, const struct plan *p)
{
    const char *scope = ctl_str(cluster, "scope");
    bool failover = strcmp(p->action, "failover") == 0;
    if (a->force) {
        return CTL_EXIT_OK;
    }
    if (failover && async_candidate(cluster, p->candidate)) {
        char *q = rg_asprintf("Are you sure you want to failover to the asynchronous node %s?",
                              p->candidate);
        bool yes = ctl_ask_yes(&a->io, q);
        rg_free(q);
        if (!yes) {
            return refuse(a, "Aborting %s%s", p->action, "");
        }
    }
    char *demote =
        p->leader != NULL ? rg_asprintf(", demoting current leader %s", p->leader) : rg_strdup("");
    char *q =
        p->scheduled != NULL
            ? rg_asprintf("Are you sure you want to schedule switchover of cluster %s at %s%s?",
                          scope, p->scheduled, demote)
            : rg_asprintf("Are you sure you want to %s cluster %s%s?", p->action, scope, demote);
    bool yes = ctl_ask_yes(&a->io, q);
    rg_free(q);
    rg_free(demote);
    if (!yes) {
        return refuse(a, p->scheduled != NULL ? "Aborting scheduled %s%s" : "Aborting %s%s",
                      p->action, "");
    }
    return CTL_EXIT_OK;
}

static int send_plan(struct ctl_args *a, const struct plan *p)
{
    cJSON *body = cJSON_CreateObject();
    bool switchover = strcmp(p->action, "switchover") == 0;
    if (switchover) {
        cJSON_AddStringToObject(body, "leader", p->leader);
    }
    if (p->candidate != NULL && p->candidate[0] != '\0') {
        cJSON_AddStringToObject(body, "candidate", p->candidate);
    }
    if (p->scheduled != NULL) {
        cJSON_AddStringToObject(body, "scheduled_at", p->scheduled);
    }
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char *path = rg_asprintf("/%s", p->action);
    struct ctl_request rq = {.method = "POST",
                             .path = path,
                             .body = text,
                             .timeout_ms = a->o.timeout_set ? 0 : CTL_SWITCH_TIMEOUT_MS};
    struct ctl_answer ans;
    char err[4096];
    int rv = ctl_send(&a->o, &rq, &ans, err, sizeof err);
    cJSON_free(text);
    rg_free(path);
    if (rv != 0) {
        fprintf(a->io.err, "regentctl: %s: %s\n", p->action, err);
        return CTL_EXIT_FAIL;
    }
    if (ans.status == 200 || ans.status == 202) {
        char ts[40];
        ctl_timestamp(ts, sizeof ts, true);
        fprintf(a->io.out, "%s %s\n", ts, ctl_answer_reason(&ans));
        rv = CTL_EXIT_OK;
    } else {
        fprintf(a->io.out, "%s failed, details: %ld, %s\n", switchover ? "Switchover" : "Failover",
                ans.status, ctl_answer_reason(&ans));
        rv = CTL_EXIT_FAIL;
    }
    ctl_answer_close(&ans);
    return rv;
}

static int switch_or_fail(struct ctl_args *a, const char *action)
{
    cJSON *cluster = NULL;
    int rv = ctl_cluster_fetch(a, &cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    fprintf(a->io.out, "Current cluster topology\n");
    ctl_print_cluster(a->io.out, cluster, CTL_PRETTY);
    struct plan p = {.action = action, .leader = ctl_cluster_leader(cluster)};
    bool switchover = strcmp(action, "switchover") == 0;
    rv = switchover ? settle_leader(a, cluster, &p) : CTL_EXIT_OK;
    rv = rv == CTL_EXIT_OK ? settle_candidate(a, cluster, &p) : rv;
    rv = rv == CTL_EXIT_OK && switchover ? settle_time(a, cluster, &p) : rv;
    rv = rv == CTL_EXIT_OK ? confirm(a, cluster, &p) : rv;
    rv = rv == CTL_EXIT_OK ? send_plan(a, &p) : rv;
    cJSON_Delete(cluster);
    if (rv == CTL_EXIT_OK) {
        /* The topology after the change, as patronictl shows it. */
        fflush(a->io.out);
        if (ctl_cluster_fetch(a, &cluster) == CTL_EXIT_OK) {
            ctl_print_cluster(a->io.out, cluster, CTL_PRETTY);
            cJSON_Delete(cluster);
        }
    }
    rg_free(p.candidate);
    rg_free(p.scheduled);
    return rv;
}

int ctl_cmd_switchover(struct ctl_args *a)
{
    return switch_or_fail(a, "switchover");
}

int ctl_cmd_failover(struct ctl_args *a)
{
    return switch_or_fail(a, "failover");
}

int ctl_flush_switchover(struct ctl_args *a, const cJSON *cluster)
{
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cluster, "scheduled_switchover"))) {
        fprintf(a->io.out, "No pending scheduled switchover\n");
        return CTL_EXIT_OK;
    }
    struct ctl_request rq = {.method = "DELETE", .path = "/switchover"};
    struct ctl_answer ans;
    char err[4096];
    if (ctl_send(&a->o, &rq, &ans, err, sizeof err) != 0) {
        fprintf(a->io.err, "regentctl: flush switchover: %s\n", err);
        return CTL_EXIT_FAIL;
    }
    int rv = ans.status == 200 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    if (ans.status == 200 || ans.status == 404) {
        fprintf(a->io.out, "%s: %s\n", ans.status == 200 ? "Success" : "Failed",
                ctl_answer_reason(&ans));
    } else {
        fprintf(a->io.out, "Failed: member=%s, status_code=%ld, (%s)\n", ans.url, ans.status,
                ctl_answer_reason(&ans));
    }
    ctl_answer_close(&ans);
    return rv;
}
