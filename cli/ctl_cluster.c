/*
 * ctl_cluster: GET /cluster, and the members a command talks to.
 *
 * Discovery: the first member that answers GET /cluster names the others
 * (their api_url, "http://10.0.0.2:8008/patroni"). Their base URLs join the
 * list after it, and it moves to the front: commands aimed at the cluster
 * (switchover, failover, pause, the configuration) go to the first member
 * that can be reached, which forwards them where they belong, and per-member
 * commands (restart, reload, reinit) go to that member's own api_url.
 *
 * The cluster's name: patronictl takes an optional CLUSTER argument, and a
 * config's scope as its default. Here the URLs choose the cluster, so the
 * name, when there is one, is checked against the answer's scope, so that a
 * script meant for another cluster stops instead of acting on this one.
 * For per-member commands the first word is the cluster's name only when it
 * equals the scope; otherwise every word is a member.
 */
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

const cJSON *ctl_member_find(const cJSON *cluster, const char *name)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(cluster, "members"))
    {
        const char *n = ctl_str(m, "name");
        if (n != NULL && name != NULL && strcmp(n, name) == 0) {
            return m;
        }
    }
    return NULL;
}

const char *ctl_cluster_leader(const cJSON *cluster)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(cluster, "members"))
    {
        const char *role = ctl_str(m, "role");
        if (role != NULL && (strcmp(role, "leader") == 0 || strcmp(role, "standby_leader") == 0)) {
            return ctl_str(m, "name");
        }
    }
    return NULL;
}

char *ctl_member_base_url(const cJSON *member)
{
    const char *api = ctl_str(member, "api_url");
    if (api == NULL || api[0] == '\0') {
        return NULL;
    }
    size_t n = strlen(api);
    static const char suffix[] = "/patroni";
    if (n >= sizeof suffix - 1 && strcmp(api + n - (sizeof suffix - 1), suffix) == 0) {
        n -= sizeof suffix - 1;
    }
    while (n > 0 && api[n - 1] == '/') {
        n--;
    }
    return rg_strndup(api, n);
}

bool ctl_member_nofailover(const cJSON *member)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(member, "tags");
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(tags, "nofailover");
    if (nf != NULL) {
        return cJSON_IsTrue(nf) || (cJSON_IsString(nf) && strcmp(nf->valuestring, "true") == 0);
    }
    /* failover_priority <= 0 acts like nofailover (spec 4.5). */
    const cJSON *prio = cJSON_GetObjectItemCaseSensitive(tags, "failover_priority");
    return cJSON_IsNumber(prio) && prio->valuedouble <= 0;
}

/* The answering member first, then the members' URLs after the others. */
static void discover(struct ctl_opts *o, const char *answered, const cJSON *cluster)
{
    for (size_t i = 0; i < o->n_urls; i++) {
        if (o->urls[i] == answered && i > 0) {
            char *first = o->urls[i];
            memmove(o->urls + 1, o->urls, i * sizeof *o->urls);
            o->urls[0] = first;
            break;
        }
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(cluster, "members"))
    {
        char *base = ctl_member_base_url(m);
        if (base != NULL) {
            ctl_urls_add(o, base);
        }
        rg_free(base);
    }
}

int ctl_cluster_fetch(struct ctl_args *a, cJSON **out)
{
    struct ctl_answer ans;
    long status;
    char err[4096];
    *out = NULL;
    if (ctl_get(&a->o, "/cluster", &ans, &status, err, sizeof err) != 0) {
        fprintf(a->io.err, "regentctl: %s\n", err);
        return CTL_EXIT_FAIL;
    }
    const char *want = a->cluster != NULL ? a->cluster : a->o.scope;
    const char *scope = ctl_str(ans.body, "scope");
    if (want != NULL && (scope == NULL || strcmp(want, scope) != 0)) {
        fprintf(a->io.err, "Error: the members at %s serve cluster \"%s\", not \"%s\"\n", ans.url,
                scope != NULL ? scope : "(unnamed)", want);
        ctl_answer_close(&ans);
        return CTL_EXIT_FAIL;
    }
    /* A user:password in a discovered URL would replace ours: none is expected. */
    struct ctl_auth keep = a->o.url_auth;
    a->o.url_auth = (struct ctl_auth){0};
    discover(&a->o, ans.url, ans.body);
    rg_free(a->o.url_auth.username);
    rg_free(a->o.url_auth.password);
    a->o.url_auth = keep;
    *out = ans.body;
    ans.body = NULL;
    ctl_answer_close(&ans);
    return CTL_EXIT_OK;
}

/* --- choosing members ----------------------------------------------------------- */

const char *ctl_role_name(enum ctl_role role)
{
    static const char *const names[] = {"any", "leader", "primary", "standby-leader", "replica"};
    return names[role];
}

bool ctl_role_matches(const cJSON *member, enum ctl_role role)
{
    const char *r = ctl_str(member, "role");
    bool leader = r != NULL && strcmp(r, "leader") == 0;
    bool standby_leader = r != NULL && strcmp(r, "standby_leader") == 0;
    switch (role) {
    case CTL_ROLE_ANY:
        return true;
    case CTL_ROLE_LEADER:
        return leader || standby_leader;
    case CTL_ROLE_PRIMARY:
        return leader;
    case CTL_ROLE_STANDBY_LEADER:
        return standby_leader;
    default:
        return !leader && !standby_leader;
    }
}

size_t ctl_skip_cluster_word(const cJSON *cluster, char *const *words, size_t n_words)
{
    const char *scope = ctl_str(cluster, "scope");
    return n_words > 0 && scope != NULL && strcmp(words[0], scope) == 0 ? 1 : 0;
}

int ctl_members_pick(const struct ctl_args *a,
                     const cJSON *cluster,
                     char **words,
                     size_t n_words,
                     enum ctl_role role,
                     const cJSON ***out,
                     size_t *n_out)
{
    const char *scope = ctl_str(cluster, "scope");
    size_t skip = ctl_skip_cluster_word(cluster, words, n_words);
    words += skip;
    n_words -= skip;
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(cluster, "members");
    size_t cap = (size_t)cJSON_GetArraySize(members);
    *out = rg_calloc(cap + 1, sizeof **out);
    *n_out = 0;
    for (size_t i = 0; i < n_words; i++) {
        if (ctl_member_find(cluster, words[i]) == NULL) {
            fprintf(a->io.err, "Error: %s is not a member of cluster %s\n", words[i],
                    scope != NULL ? scope : "(unnamed)");
            goto fail;
        }
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, members)
    {
        bool named = n_words == 0;
        for (size_t i = 0; i < n_words && !named; i++) {
            named = strcmp(words[i], ctl_str(m, "name")) == 0;
        }
        if (named && ctl_role_matches(m, role) && *n_out < cap) {
            (*out)[(*n_out)++] = m;
        }
    }
    if (*n_out == 0 && n_words > 0) {
        fprintf(a->io.err, "Error: No %s among provided members\n", ctl_role_name(role));
        goto fail;
    }
    if (*n_out == 0) {
        fprintf(a->io.err, "Error: %s cluster doesn't have any members\n",
                scope != NULL ? scope : "(unnamed)");
        goto fail;
    }
    return CTL_EXIT_OK;
fail:
    rg_free(*out);
    *out = NULL;
    *n_out = 0;
    return CTL_EXIT_FAIL;
}
