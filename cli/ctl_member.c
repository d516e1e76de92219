/*
 * ctl_member: the Raft membership commands, "member add|remove|list" and
 * "leadership transfer", over the agents' POST /raft/members, DELETE
 * /raft/members/<name>, POST /raft/leadership and GET /cluster.
 *
 * Happy paths. add: POST the address; the member that answers forwards the
 * invitation, the invited node accepts (202, with its name), and then, unless
 * --no-wait, GET /cluster is asked every 200 ms until the name shows in the
 * Raft configuration (raft.voters or raft.standbys), for at most --wait.
 * remove: confirm on the terminal (GET /cluster gives the scope to name),
 * then DELETE. leadership transfer: POST, and the answer names the new
 * Raft leader. member list: GET /cluster's "raft" object as a table.
 *
 * Failure modes. A change goes through ctl_send_json(): the first member
 * that answers decides, and its error text is printed with its status and
 * URL (exit 1). A change that was sent but got no answer is reported as
 * possibly done. A wait that runs out says so (exit 1): the node may still
 * appear. remove refuses to run without a terminal to ask on unless --force
 * (exit 2), and a "no" (or end of input) aborts (exit 1) as patronictl does.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "agent/rg.h"
#include "cli/ctl.h"

static bool in_names(const cJSON *arr, const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, name) == 0) {
            return true;
        }
    }
    return false;
}

enum ctl_raft_role ctl_raft_role_of(const cJSON *raft, const char *name)
{
    if (!cJSON_IsObject(raft) || name == NULL) {
        return CTL_RAFT_NONE;
    }
    if (in_names(cJSON_GetObjectItemCaseSensitive(raft, "voters"), name)) {
        const char *leader = ctl_str(raft, "leader");
        return leader != NULL && strcmp(leader, name) == 0 ? CTL_RAFT_LEADER : CTL_RAFT_VOTER;
    }
    if (in_names(cJSON_GetObjectItemCaseSensitive(raft, "standbys"), name)) {
        return CTL_RAFT_STANDBY;
    }
    return CTL_RAFT_NONE;
}

/* --- member list -------------------------------------------------------- */

static const char *const raft_cols[] = {"Member", "Raft role"};
static const char *const role_titles[] = {"", "Leader", "Voter", "Standby"};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of the Raft configuration, sorted (borrowed from @raft; the
 * array is the caller's to rg_free()). */
static size_t raft_servers(const cJSON *raft, const char ***out)
{
    const cJSON *lists[] = {cJSON_GetObjectItemCaseSensitive(raft, "voters"),
                            cJSON_GetObjectItemCaseSensitive(raft, "standbys")};
    size_t cap = (size_t)cJSON_GetArraySize(lists[0]) + (size_t)cJSON_GetArraySize(lists[1]);
    const char **names = rg_calloc(cap ? cap : 1, sizeof *names);
    size_t n = 0;
    for (size_t l = 0; l < RG_ARRAY_SIZE(lists); l++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, lists[l])
        {
            if (cJSON_IsString(it) && n < cap) {
                names[n++] = it->valuestring;
            }
        }
    }
    qsort(names, n, sizeof *names, name_cmp);
    *out = names;
    return n;
}

static void print_raft_footer(FILE *fp, const cJSON *raft)
{
    const cJSON *term = cJSON_GetObjectItemCaseSensitive(raft, "term");
    const cJSON *commit = cJSON_GetObjectItemCaseSensitive(raft, "commit_index");
    const cJSON *applied = cJSON_GetObjectItemCaseSensitive(raft, "applied_index");
    const char *leader = ctl_str(raft, "leader");
    fprintf(fp, "Raft: term %.0f, leader %s, commit index %.0f, applied index %.0f\n",
            cJSON_IsNumber(term) ? term->valuedouble : 0.0, leader != NULL ? leader : "none",
            cJSON_IsNumber(commit) ? commit->valuedouble : 0.0,
            cJSON_IsNumber(applied) ? applied->valuedouble : 0.0);
}

static void
print_raft_records(FILE *fp, const struct ctl_table *t, const char *scope, enum ctl_format format)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < t->n_rows; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Cluster", scope);
        cJSON_AddStringToObject(o, raft_cols[0], ctl_table_get(t, i, 0));
        cJSON_AddStringToObject(o, raft_cols[1], ctl_table_get(t, i, 1));
        cJSON_AddItemToArray(arr, o);
    }
    ctl_records_print(fp, arr, format);
    cJSON_Delete(arr);
}

int ctl_print_raft_members(FILE *fp, const cJSON *cluster, enum ctl_format format)
{
    const cJSON *raft = cJSON_GetObjectItemCaseSensitive(cluster, "raft");
    if (!cJSON_IsObject(raft)) {
        return -1;
    }
    const char **names;
    size_t n = raft_servers(raft, &names);
    struct ctl_table t;
    ctl_table_init(&t, RG_ARRAY_SIZE(raft_cols), raft_cols, NULL, n);
    for (size_t i = 0; i < n; i++) {
        ctl_table_set(&t, i, 0, rg_strdup(names[i]));
        ctl_table_set(&t, i, 1, rg_strdup(role_titles[ctl_raft_role_of(raft, names[i])]));
    }
    rg_free(names);
    const char *scope = ctl_str(cluster, "scope");
    if (format == CTL_PRETTY) {
        char *title = rg_asprintf(" Cluster: %s ", scope != NULL ? scope : "(unknown)");
        ctl_table_print_pretty(fp, &t, title);
        rg_free(title);
        print_raft_footer(fp, raft);
    } else if (format == CTL_TSV) {
        ctl_table_print_tsv(fp, &t, scope != NULL ? scope : "");
    } else {
        print_raft_records(fp, &t, scope != NULL ? scope : "", format);
    }
    ctl_table_close(&t);
    return 0;
}

int ctl_cmd_member_list(struct ctl_args *a)
{
    cJSON *cluster = NULL;
    char err[4096];
    if (ctl_get_json(&a->o, "/cluster", &cluster, err, sizeof err) != 0) {
        fprintf(a->io.err, "regentctl: %s\n", err);
        return CTL_EXIT_FAIL;
    }
    int rv = ctl_print_raft_members(a->io.out, cluster, a->o.format);
    cJSON_Delete(cluster);
    if (rv != 0) {
        fprintf(a->io.err, "regentctl: the member's GET /cluster answer has no \"raft\" object\n");
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

/* --- changes -------------------------------------------------------------- */

/* Send a change; 0 and *@ans on a 2xx answer, else a message that starts
 * with @what and CTL_EXIT_FAIL. */
static int send_change(struct ctl_args *a,
                       const char *method,
                       const char *path,
                       const cJSON *body,
                       const char *what,
                       struct ctl_answer *ans)
{
    char err[4096];
    char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
    int rv = ctl_send_json(&a->o, method, path, text, ans, err, sizeof err);
    cJSON_free(text);
    if (rv != 0) {
        fprintf(a->io.err, "regentctl: %s: %s\n", what, err);
        return CTL_EXIT_FAIL;
    }
    if (ans->status >= 200 && ans->status <= 299) {
        return CTL_EXIT_OK;
    }
    const char *e = ctl_answer_reason(ans);
    if (e[0] != '\0') {
        fprintf(a->io.err, "regentctl: %s: %s (HTTP %ld from %s)\n", what, e, ans->status,
                ans->url);
    } else {
        fprintf(a->io.err, "regentctl: %s: HTTP status %ld from %s\n", what, ans->status, ans->url);
    }
    ctl_answer_close(ans);
    return CTL_EXIT_FAIL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One look at GET /cluster: @name's Raft role, or NONE with @err. */
static enum ctl_raft_role
look_up(const struct ctl_opts *o, const char *name, long timeout_ms, char *err, size_t errlen)
{
    struct ctl_opts po = *o; /* a shallow copy: the URLs stay @o's */
    po.timeout_ms = timeout_ms;
    cJSON *cluster = NULL;
    if (ctl_get_json(&po, "/cluster", &cluster, err, errlen) != 0) {
        return CTL_RAFT_NONE;
    }
    err[0] = '\0';
    enum ctl_raft_role role =
        ctl_raft_role_of(cJSON_GetObjectItemCaseSensitive(cluster, "raft"), name);
    cJSON_Delete(cluster);
    return role;
}

/* Until @name is in the Raft configuration, for at most @wait_ms. A member
 * that cannot be reached meanwhile is asked again at the next poll. */
static int wait_member(struct ctl_args *a, const char *name, long wait_ms)
{
    const struct ctl_opts *o = &a->o;
    uint64_t deadline = rg_boottime_ms() + (uint64_t)wait_ms;
    char err[4096] = "";
    for (;;) {
        uint64_t now = rg_boottime_ms();
        long left = now < deadline ? (long)(deadline - now) : 0;
        long timeout = left < o->timeout_ms ? (left > 100 ? left : 100) : o->timeout_ms;
        enum ctl_raft_role role = look_up(o, name, timeout, err, sizeof err);
        if (role != CTL_RAFT_NONE) {
            fprintf(a->io.out, "%s is a Raft %s\n", name,
                    role == CTL_RAFT_STANDBY ? "standby" : "voter");
            return CTL_EXIT_OK;
        }
        now = rg_boottime_ms();
        if (now >= deadline) {
            break;
        }
        sleep_ms(deadline - now < CTL_POLL_MS ? (long)(deadline - now) : CTL_POLL_MS);
    }
    fprintf(a->io.err, "regentctl: %s did not appear in the Raft configuration within %g s\n", name,
            (double)wait_ms / 1000.0);
    if (err[0] != '\0') {
        fprintf(a->io.err, "The last look failed: %s\n", err);
    }
    fprintf(a->io.err, "It may still join: see \"regentctl member list\".\n");
    return CTL_EXIT_FAIL;
}

int ctl_cmd_member_add(struct ctl_args *a)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "address", a->arg);
    char *what = rg_asprintf("could not invite \"%s\"", a->arg);
    struct ctl_answer ans;
    int rv = send_change(a, "POST", "/raft/members", body, what, &ans);
    cJSON_Delete(body);
    if (rv != CTL_EXIT_OK) {
        rg_free(what);
        return rv;
    }
    const char *name = ctl_str(ans.body, "name");
    if (name == NULL) {
        fprintf(a->io.err, "regentctl: %s: the answer (HTTP %ld from %s) names no member\n", what,
                ans.status, ans.url);
        rv = CTL_EXIT_FAIL;
    } else {
        fprintf(a->io.out, "Invited %s (%s); it joins as a standby\n", name, a->arg);
        fflush(a->io.out);
        rv = a->no_wait ? CTL_EXIT_OK : wait_member(a, name, a->wait_ms);
    }
    ctl_answer_close(&ans);
    rg_free(what);
    return rv;
}

/* Ask before removing, as patronictl does before anything destructive. */
static int confirm_remove(struct ctl_args *a)
{
    if (!isatty(fileno(a->io.in))) {
        fprintf(a->io.err,
                "regentctl: member remove asks for confirmation, and standard input is not a "
                "terminal\nUse --force to remove \"%s\" without asking.\n",
                a->arg);
        return CTL_EXIT_USAGE;
    }
    cJSON *cluster = NULL;
    char err[4096];
    if (ctl_get_json(&a->o, "/cluster", &cluster, err, sizeof err) != 0) {
        fprintf(a->io.err, "regentctl: %s\n", err);
        return CTL_EXIT_FAIL;
    }
    const char *scope = ctl_str(cluster, "scope");
    char *q = rg_asprintf("Are you sure you want to remove member %s from cluster %s? [y/N]",
                          a->arg, scope != NULL ? scope : "(unknown)");
    cJSON_Delete(cluster);
    bool yes = ctl_confirm(a->io.in, a->io.err, q);
    rg_free(q);
    if (!yes) {
        fprintf(a->io.err, "Aborted\n");
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

int ctl_cmd_member_remove(struct ctl_args *a)
{
    int rv = a->force ? CTL_EXIT_OK : confirm_remove(a);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    /* h2o percent-decodes the path, so any name survives the trip. */
    char *esc = curl_easy_escape(NULL, a->arg, 0);
    char *path = rg_asprintf("/raft/members/%s", esc);
    curl_free(esc);
    char *what = rg_asprintf("could not remove \"%s\"", a->arg);
    struct ctl_answer ans;
    rv = send_change(a, "DELETE", path, NULL, what, &ans);
    if (rv == CTL_EXIT_OK) {
        fprintf(a->io.out, "Removed %s\n", a->arg);
        ctl_answer_close(&ans);
    }
    rg_free(what);
    rg_free(path);
    return rv;
}

int ctl_cmd_leadership_transfer(struct ctl_args *a)
{
    cJSON *body = cJSON_CreateObject();
    if (a->arg != NULL) {
        cJSON_AddStringToObject(body, "to", a->arg);
    }
    char *what = a->arg != NULL
                     ? rg_asprintf("could not transfer Raft leadership to \"%s\"", a->arg)
                     : rg_strdup("could not transfer Raft leadership");
    struct ctl_answer ans;
    int rv = send_change(a, "POST", "/raft/leadership", body, what, &ans);
    cJSON_Delete(body);
    if (rv == CTL_EXIT_OK) {
        const char *leader = ctl_str(ans.body, "leader");
        fprintf(a->io.out, "Raft leader: %s\n",
                leader != NULL ? leader : "(not named in the answer)");
        ctl_answer_close(&ans);
    }
    rg_free(what);
    return rv;
}
