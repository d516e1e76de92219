/*
 * ctl_reinit: "regentctl reinit" — POST /reinitialize {"force", "from_leader"}
 * to each replica named, as patronictl's reinit does.
 *
 * Happy path: the list; the replicas named (asked for when none is named
 * and --force is not given); "Are you sure you want to reinitialize members
 * X?"; then per member "Success: reinitialize for member X". A member busy
 * with another action answers 503 "... already in progress": without
 * --force regentctl offers to cancel it ("Do you want to cancel it and
 * reinitialize anyway?") and asks again with force; with --force the first
 * request already carried force.
 *
 * --wait: each started member's GET /patroni is asked every 200 ms until
 * its PostgreSQL runs again. An instance that still runs from before the
 * request must not count, so "again" means state "running" under a
 * postmaster_start_time other than the one read before the request (or
 * after some other state was seen, when the member does not publish the
 * start time). A state that ends in "failed" ("start failed") stops the
 * wait for that member. All of it is bounded by --wait SEC (default 30 s):
 * members still not done are named and the exit status is 1.
 */
#include <string.h>
#include <time.h>

#include "agent/rg.h"
#include "cli/ctl.h"

struct waiting {
    const cJSON *m;     /* borrowed from the /cluster document */
    char *start_before; /* owned: postmaster_start_time before the request, or NULL */
    bool saw_other;     /* a state other than running was seen since */
    bool done;
};

/* GET /patroni of @m within @timeout_ms: its state and start time (owned),
 * or false. */
static bool look(struct ctl_args *a, const cJSON *m, long timeout_ms, char **state, char **start)
{
    char *base = ctl_member_base_url(m);
    if (base == NULL) {
        return false;
    }
    struct ctl_request rq = {.method = "GET", .path = "/patroni", .timeout_ms = timeout_ms};
    struct ctl_answer ans;
    char err[1024];
    bool ok = ctl_send_to(&a->o, base, &rq, &ans, err, sizeof err) == 0 && ans.status == 200 &&
              ans.body != NULL;
    rg_free(base);
    if (ok) {
        const char *s = ctl_str(ans.body, "state");
        const char *t = ctl_str(ans.body, "postmaster_start_time");
        *state = rg_strdup(s != NULL ? s : "unknown");
        *start = t != NULL ? rg_strdup(t) : NULL;
    }
    ctl_answer_close(&ans);
    return ok;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* One member; true when the reinitialize started. */
static bool reinit_one(struct ctl_args *a, const cJSON *m)
{
    bool force = a->force;
    for (;;) {
        cJSON *body = cJSON_CreateObject();
        cJSON_AddBoolToObject(body, "force", force);
        cJSON_AddBoolToObject(body, "from_leader", a->from_leader);
        char *text = cJSON_PrintUnformatted(body);
        cJSON_Delete(body);
        struct ctl_request rq = {.method = "POST", .path = "/reinitialize", .body = text};
        struct ctl_answer ans;
        int rv = ctl_to_member(a, m, &rq, "reinitialize", &ans);
        cJSON_free(text);
        if (rv != 0) {
            return false;
        }
        bool started = ctl_check_response(a, &ans, m, "reinitialize", false);
        bool retry =
            !started && !force && ends_with(ctl_answer_reason(&ans), " already in progress");
        ctl_answer_close(&ans);
        if (retry && ctl_ask_yes(&a->io, "Do you want to cancel it and reinitialize anyway?")) {
            force = true;
            continue;
        }
        return started;
    }
}

static void print_waiting(struct ctl_args *a, const struct waiting *w, size_t n)
{
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (!w[i].done) {
            fprintf(a->io.out, "%s%s", first ? "Waiting for reinitialize to complete on: " : ", ",
                    ctl_str(w[i].m, "name"));
            first = false;
        }
    }
    if (!first) {
        fputc('\n', a->io.out);
    }
    fflush(a->io.out);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One look at @w: true when it is finished (and said so). */
static bool check(struct ctl_args *a, struct waiting *w, long timeout_ms, int *rv)
{
    char *state = NULL, *start = NULL;
    if (!look(a, w->m, timeout_ms, &state, &start)) {
        return false; /* unreachable while it restarts: ask again */
    }
    bool running = strcmp(state, "running") == 0;
    bool restarted = w->start_before != NULL && start != NULL ? strcmp(w->start_before, start) != 0
                                                              : w->saw_other;
    bool finished = false;
    if (ends_with(state, "failed")) {
        fprintf(a->io.out, "Reinitialize failed on: %s (%s)\n", ctl_str(w->m, "name"), state);
        *rv = CTL_EXIT_FAIL;
        finished = true;
    } else if (running && restarted) {
        fprintf(a->io.out, "Reinitialize is completed on: %s\n", ctl_str(w->m, "name"));
        finished = true;
    }
    w->saw_other = w->saw_other || !running;
    rg_free(state);
    rg_free(start);
    return finished;
}

static int wait_all(struct ctl_args *a, struct waiting *w, size_t n)
{
    uint64_t deadline = rg_boottime_ms() + (uint64_t)a->wait_ms;
    size_t left = n;
    int rv = CTL_EXIT_OK;
    print_waiting(a, w, n);
    while (left > 0) {
        uint64_t now = rg_boottime_ms();
        if (now >= deadline) {
            break;
        }
        sleep_ms(deadline - now < (uint64_t)CTL_POLL_MS ? (long)(deadline - now) : CTL_POLL_MS);
        bool changed = false;
        for (size_t i = 0; i < n; i++) {
            now = rg_boottime_ms();
            long budget = now < deadline ? (long)(deadline - now) : 1;
            if (!w[i].done && check(a, &w[i], budget < 2000 ? budget : 2000, &rv)) {
                w[i].done = changed = true;
                left--;
            }
        }
        if (changed && left > 0) {
            print_waiting(a, w, n);
        }
    }
    if (left > 0) {
        fprintf(a->io.err, "Error: reinitialize did not complete within %g s on:",
                (double)a->wait_ms / 1000.0);
        for (size_t i = 0; i < n; i++) {
            if (!w[i].done) {
                fprintf(a->io.err, " %s", ctl_str(w[i].m, "name"));
            }
        }
        fputc('\n', a->io.err);
        rv = CTL_EXIT_FAIL;
    }
    return rv;
}

/* The replicas to reinitialize: those named, else the one the user names. */
static int pick(struct ctl_args *a, const cJSON *cluster, const cJSON ***ms, size_t *n)
{
    size_t skip = ctl_skip_cluster_word(cluster, a->words, a->n_words);
    char **words = a->words + skip;
    size_t n_words = a->n_words - skip;
    char *chosen = NULL;
    if (n_words == 0 && a->force) {
        fprintf(a->io.err, "regentctl: reinit: missing MEMBER (with --force, name the members "
                           "to reinitialize)\n");
        return CTL_EXIT_USAGE;
    }
    if (n_words == 0) {
        const cJSON *m;
        char *names = rg_strdup("");
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(cluster, "members"))
        {
            if (ctl_role_matches(m, CTL_ROLE_REPLICA)) {
                char *next = rg_asprintf("%s%s%s", names, names[0] ? ", " : "", ctl_str(m, "name"));
                rg_free(names);
                names = next;
            }
        }
        char *q = rg_asprintf("Which member do you want to reinitialize [%s]?", names);
        int rv = ctl_prompt(&a->io, q, "", &chosen);
        rg_free(q);
        rg_free(names);
        if (rv != 0 || chosen[0] == '\0') {
            fprintf(a->io.err, "Error: Aborted reinitialize\n");
            rg_free(chosen);
            return CTL_EXIT_FAIL;
        }
        words = &chosen;
        n_words = 1;
    }
    int rv = ctl_members_pick(a, cluster, words, n_words, CTL_ROLE_REPLICA, ms, n);
    rg_free(chosen);
    return rv;
}

int ctl_cmd_reinit(struct ctl_args *a)
{
    cJSON *cluster = NULL;
    int rv = ctl_cluster_fetch(a, &cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    ctl_print_cluster(a->io.out, cluster, CTL_PRETTY);
    fflush(a->io.out);
    const cJSON **ms = NULL;
    size_t n = 0;
    rv = pick(a, cluster, &ms, &n);
    if (rv == CTL_EXIT_OK && !ctl_confirm_members(a, "reinitialize", ms, n)) {
        rv = CTL_EXIT_FAIL;
    }
    struct waiting *w = rg_calloc(n + 1, sizeof *w);
    size_t started = 0;
    bool go = rv == CTL_EXIT_OK; /* then every member is asked, whatever the others say */
    for (size_t i = 0; go && i < n; i++) {
        char *state = NULL, *start = NULL;
        if (a->wait && look(a, ms[i], a->o.timeout_ms, &state, &start)) {
            w[started].start_before = start;
            rg_free(state);
        }
        if (reinit_one(a, ms[i])) {
            w[started++].m = ms[i];
        } else {
            rg_free(w[started].start_before);
            w[started].start_before = NULL;
            rv = CTL_EXIT_FAIL;
        }
    }
    if (a->wait && started > 0) {
        int wrv = wait_all(a, w, started);
        rv = wrv != CTL_EXIT_OK ? wrv : rv;
    }
    for (size_t i = 0; i < started; i++) {
        rg_free(w[i].start_before); /* a failed member's was freed at once */
    }
    rg_free(w);
    rg_free(ms);
    cJSON_Delete(cluster);
    return rv;
}
