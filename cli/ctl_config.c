/*
 * ctl_config: the dynamic configuration — "show-config", "edit-config",
 * "pause" and "resume" — over GET, PATCH and PUT /config.
 *
 * edit-config: GET /config and its ETag; build the new configuration from
 * --replace FILE (the whole of it), --apply FILE (merged in), -s and -p
 * (ctl_edit.c), in that order as patronictl does, or else from $EDITOR;
 * show the unified diff of the YAML before and after (not with -q); ask
 * "Apply these changes?" (not with --force); then send it with If-Match:
 * the ETag, so that a change made by someone else in between aborts this
 * one (409: "Config modification aborted due to concurrent changes"). A
 * --replace goes out as PUT of the whole configuration; everything else as
 * PATCH of the merge patch from the old configuration to the new one, so
 * that only what was changed is sent. Passwords come as "******" and go
 * back unchanged, which the agents read as "keep the stored one".
 *
 * pause/resume: PATCH /config {"pause": true} / {"pause": null}, refused
 * here when the cluster already is in that state. --wait then asks every
 * member's GET /patroni until each reports the new state; a member that
 * never answers in that time is named but does not fail the wait.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/rg.h"
#include "cli/ctl.h"

/* GET /config into *@ans (ETag and all); a message and -1 otherwise. */
static int get_config(struct ctl_args *a, const cJSON *cluster, struct ctl_answer *ans)
{
    long status;
    char err[4096];
    if (ctl_get(&a->o, "/config", ans, &status, err, sizeof err) == 0 &&
        cJSON_IsObject(ans->body)) {
        return 0;
    }
    if (status == 502 || status == 503 || status == 404) {
        fprintf(a->io.err, "Error: The config key does not exist in the cluster %s\n",
                ctl_str(cluster, "scope") != NULL ? ctl_str(cluster, "scope") : "(unnamed)");
    } else {
        fprintf(a->io.err, "regentctl: %s\n", err);
    }
    ctl_answer_close(ans);
    return -1;
}

int ctl_cmd_show_config(struct ctl_args *a)
{
    if (a->o.format == CTL_TSV) {
        fprintf(a->io.err, "regentctl: show-config prints yaml or json, not tsv\n");
        return CTL_EXIT_USAGE;
    }
    cJSON *cluster = NULL;
    int rv = ctl_cluster_fetch(a, &cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    struct ctl_answer ans;
    if (get_config(a, cluster, &ans) == 0) {
        char *text =
            a->o.format == CTL_JSON ? cJSON_PrintUnformatted(ans.body) : ctl_yaml_dump(ans.body);
        fprintf(a->io.out, "%s%s", text, a->o.format == CTL_JSON ? "\n" : "");
        if (a->o.format == CTL_JSON) {
            cJSON_free(text);
        } else {
            rg_free(text);
        }
        ctl_answer_close(&ans);
    } else {
        rv = CTL_EXIT_FAIL;
    }
    cJSON_Delete(cluster);
    return rv;
}

/* --- edit-config: where the new configuration comes from --------------------------- */

static char *slurp(FILE *fp, size_t *len)
{
    char *text = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 4096 + 1 > cap) {
            cap = cap * 2 + 8192;
            text = rg_realloc(text, cap);
        }
        size_t n = fread(text + *len, 1, cap - *len - 1, fp);
        *len += n;
        if (n == 0) {
            break;
        }
    }
    text[*len] = '\0';
    return text;
}

/* A YAML mapping from @path ("-": the command's input); NULL after a
 * message. An empty file is an empty mapping. */
static cJSON *load_yaml_file(struct ctl_args *a, const char *path)
{
    FILE *fp = strcmp(path, "-") == 0 ? a->io.in : fopen(path, "r");
    if (fp == NULL) {
        fprintf(a->io.err, "Error: could not open \"%s\": %s\n", path, strerror(errno));
        return NULL;
    }
    size_t len;
    char *text = slurp(fp, &len);
    if (fp != a->io.in) {
        fclose(fp);
    }
    cJSON *doc = NULL;
    char why[512];
    int rv = ctl_yaml_parse(text, len, &doc, why, sizeof why);
    rg_free(text);
    if (rv != 0) {
        fprintf(a->io.err, "Error: could not parse \"%s\": %s\n", path, why);
        return NULL;
    }
    if (cJSON_IsNull(doc)) {
        cJSON_Delete(doc);
        return cJSON_CreateObject();
    }
    if (!cJSON_IsObject(doc)) {
        fprintf(a->io.err, "Error: \"%s\" is not a YAML mapping\n", path);
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

/* @name found in $PATH (owned), or NULL. */
static char *which(const char *name)
{
    const char *path = getenv("PATH");
    char *copy = rg_strdup(path != NULL ? path : "/usr/bin:/bin");
    char *save = NULL, *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir != NULL && found == NULL;
         dir = strtok_r(NULL, ":", &save)) {
        char *cand = rg_asprintf("%s/%s", dir, name);
        if (access(cand, X_OK) == 0) {
            found = cand;
        } else {
            rg_free(cand);
        }
    }
    rg_free(copy);
    return found;
}

/* Run the editor on @file and wait for it. $EDITOR goes through the shell
 * so that it may carry options ("code --wait"). */
static int run_editor(struct ctl_args *a, const char *file)
{
    const char *editor = getenv("EDITOR");
    char *found = NULL;
    if (editor == NULL || editor[0] == '\0') {
        found = which("editor");
        found = found != NULL ? found : which("vi");
        if (found == NULL) {
            fprintf(a->io.err,
                    "Error: EDITOR environment variable is not set. editor or vi are not "
                    "available\n");
            return -1;
        }
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (found != NULL) {
            execl(found, found, file, (char *)NULL);
        } else {
            char *cmd = rg_asprintf("%s \"$1\"", editor);
            execl("/bin/sh", "sh", "-c", cmd, "sh", file, (char *)NULL);
        }
        _exit(127);
    }
    rg_free(found);
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(a->io.err, "Error: Editor exited with return code %d\n",
                pid < 0             ? -1
                : WIFEXITED(status) ? WEXITSTATUS(status)
                                    : 128 + WTERMSIG(status));
        return -1;
    }
    return 0;
}

/* The configuration as the user leaves it in the editor: *@text, *@out. */
static int
edit_in_editor(struct ctl_args *a, const char *scope, const char *before, char **text, cJSON **out)
{
    const char *tmp = getenv("TMPDIR");
    char *safe = rg_strdup(scope != NULL ? scope : "regent");
    for (char *p = safe; *p != '\0'; p++) {
        *p = *p == '/' ? '_' : *p;
    }
    char *path =
        rg_asprintf("%s/%s-config-XXXXXX.yaml", tmp != NULL && tmp[0] ? tmp : "/tmp", safe);
    rg_free(safe);
    int fd = mkstemps(path, 5);
    int rv = -1;
    if (fd < 0) {
        fprintf(a->io.err, "Error: could not create \"%s\": %s\n", path, strerror(errno));
        rg_free(path);
        return -1;
    }
    FILE *fp = fdopen(fd, "w");
    fputs(before, fp);
    fclose(fp);
    if (run_editor(a, path) == 0 && (fp = fopen(path, "r")) != NULL) {
        size_t len;
        *text = slurp(fp, &len);
        fclose(fp);
        char why[512];
        if (ctl_yaml_parse(*text, len, out, why, sizeof why) != 0) {
            fprintf(a->io.err, "Error: the edited configuration is not YAML: %s\n", why);
        } else if (!cJSON_IsObject(*out)) {
            fprintf(a->io.err, "Error: the edited configuration is not a YAML mapping\n");
        } else {
            rv = 0;
        }
        if (rv != 0) {
            cJSON_Delete(*out);
            *out = NULL;
            rg_free(*text);
            *text = NULL;
        }
    }
    unlink(path);
    rg_free(path);
    return rv;
}

/* The new configuration from the options; NULL after a message. */
static cJSON *changed_config(struct ctl_args *a, const cJSON *config)
{
    cJSON *changed = cJSON_Duplicate(config, 1);
    char err[512];
    if (a->replace_file != NULL) {
        cJSON_Delete(changed);
        if ((changed = load_yaml_file(a, a->replace_file)) == NULL) {
            return NULL;
        }
    }
    if (a->apply_file != NULL) {
        cJSON *patch = load_yaml_file(a, a->apply_file);
        if (patch == NULL) {
            cJSON_Delete(changed);
            return NULL;
        }
        changed = ctl_merge_patch(changed, patch);
        cJSON_Delete(patch);
    }
    for (size_t i = 0; i < a->n_sets + a->n_pgs; i++) {
        char *pair =
            i < a->n_sets
                ? rg_strdup(a->sets[i])
                : rg_asprintf("postgresql.parameters.%s",
                              a->pgs[i - a->n_sets] + strspn(a->pgs[i - a->n_sets], " \t"));
        int rv = ctl_config_set(changed, pair, err, sizeof err);
        rg_free(pair);
        if (rv != 0) {
            fprintf(a->io.err, "Error: %s\n", err);
            cJSON_Delete(changed);
            return NULL;
        }
    }
    return changed;
}

/* --- edit-config: applying ------------------------------------------------------------ */

static int
apply_config(struct ctl_args *a, const cJSON *config, const cJSON *changed, const char *etag)
{
    bool replace = a->replace_file != NULL;
    cJSON *patch = replace ? NULL : ctl_merge_diff(config, changed);
    char *body = cJSON_PrintUnformatted(replace ? changed : patch);
    cJSON_Delete(patch);
    struct ctl_request rq = {
        .method = replace ? "PUT" : "PATCH", .path = "/config", .body = body, .if_match = etag};
    struct ctl_answer ans;
    char err[4096];
    int rv = ctl_send(&a->o, &rq, &ans, err, sizeof err);
    cJSON_free(body);
    if (rv != 0) {
        fprintf(a->io.err, "regentctl: edit-config: %s\n", err);
        return CTL_EXIT_FAIL;
    }
    if (ans.status == 200) {
        fprintf(a->io.out, "Configuration changed\n");
        rv = CTL_EXIT_OK;
    } else if (ans.status == 409 || ans.status == 412) {
        fprintf(a->io.err, "Error: Config modification aborted due to concurrent changes\n");
        rv = CTL_EXIT_FAIL;
    } else {
        fprintf(a->io.err, "Error: Config modification failed, details: %ld, %s (from %s)\n",
                ans.status, ctl_answer_reason(&ans), ans.url);
        rv = CTL_EXIT_FAIL;
    }
    ctl_answer_close(&ans);
    return rv;
}

static int edit(struct ctl_args *a, const cJSON *cluster, const struct ctl_answer *cur)
{
    char *before = ctl_yaml_dump(cur->body);
    char *after = NULL;
    cJSON *changed = NULL;
    bool from_options =
        a->replace_file != NULL || a->apply_file != NULL || a->n_sets + a->n_pgs > 0;
    int rv = CTL_EXIT_FAIL;
    if (from_options) {
        changed = changed_config(a, cur->body);
        after = changed != NULL ? ctl_yaml_dump(changed) : NULL;
    } else if (edit_in_editor(a, ctl_str(cluster, "scope"), before, &after, &changed) != 0) {
        changed = NULL;
    }
    if (changed == NULL) {
        /* the message is out */
    } else if (cJSON_Compare(cur->body, changed, true)) {
        if (!a->quiet) {
            fprintf(a->io.out, "Not changed\n");
        }
        rv = CTL_EXIT_OK;
    } else {
        if (!a->quiet) {
            ctl_diff_print(a->io.out, before, after, a->io.out_tty);
        }
        if (a->force || ctl_ask_yes(&a->io, "Apply these changes?")) {
            rv = apply_config(a, cur->body, changed, cur->etag);
        } else {
            fprintf(a->io.err, "Aborted\n");
        }
    }
    cJSON_Delete(changed);
    rg_free(after);
    rg_free(before);
    return rv;
}

int ctl_cmd_edit_config(struct ctl_args *a)
{
    cJSON *cluster = NULL;
    int rv = ctl_cluster_fetch(a, &cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    struct ctl_answer cur;
    if (get_config(a, cluster, &cur) == 0) {
        rv = edit(a, cluster, &cur);
        ctl_answer_close(&cur);
    } else {
        rv = CTL_EXIT_FAIL;
    }
    cJSON_Delete(cluster);
    return rv;
}

/* --- pause, resume ----------------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* 1 the member reports @paused, 0 it does not, -1 it did not answer. */
static int member_paused(struct ctl_args *a, const cJSON *m, bool paused, long timeout_ms)
{
    char *base = ctl_member_base_url(m);
    if (base == NULL) {
        return -1;
    }
    struct ctl_request rq = {.method = "GET", .path = "/patroni", .timeout_ms = timeout_ms};
    struct ctl_answer ans;
    char err[1024];
    int rv = -1;
    if (ctl_send_to(&a->o, base, &rq, &ans, err, sizeof err) == 0 && ans.status == 200 &&
        ans.body != NULL) {
        rv = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans.body, "pause")) == paused;
    }
    ctl_answer_close(&ans);
    rg_free(base);
    return rv;
}

static int wait_pause(struct ctl_args *a, const cJSON *cluster, bool paused)
{
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(cluster, "members");
    size_t n = (size_t)cJSON_GetArraySize(members);
    int *seen = rg_calloc(n + 1, sizeof *seen); /* -1 never answered, 0 no, 1 yes */
    for (size_t i = 0; i < n; i++) {
        seen[i] = -1;
    }
    fprintf(a->io.out, "'%s' request sent, waiting until it is recognized by all nodes\n",
            paused ? "pause" : "resume");
    fflush(a->io.out);
    uint64_t deadline = rg_boottime_ms() + (uint64_t)a->wait_ms;
    bool all = false;
    while (!all) {
        all = true;
        for (size_t i = 0; i < n; i++) {
            uint64_t now = rg_boottime_ms();
            long left = now < deadline ? (long)(deadline - now) : 1;
            if (seen[i] != 1) {
                int r = member_paused(a, cJSON_GetArrayItem(members, (int)i), paused,
                                      left < 2000 ? left : 2000);
                seen[i] = r >= 0 ? r : seen[i] == 0 ? 0 : -1;
            }
            all = all && seen[i] == 1;
        }
        uint64_t now = rg_boottime_ms();
        if (all || now >= deadline) {
            break;
        }
        sleep_ms(deadline - now < (uint64_t)CTL_POLL_MS ? (long)(deadline - now) : CTL_POLL_MS);
    }
    /* Members that never answered cannot say; those that answered must agree. */
    char *late = rg_strdup("");
    for (size_t i = 0; i < n; i++) {
        const char *name = ctl_str(cJSON_GetArrayItem(members, (int)i), "name");
        if (seen[i] == -1) {
            fprintf(a->io.err, "regentctl: %s did not answer: its state is unknown\n", name);
        } else if (seen[i] == 0) {
            char *next = rg_asprintf("%s%s%s", late, late[0] ? ", " : "", name);
            rg_free(late);
            late = next;
        }
    }
    int rv = CTL_EXIT_OK;
    if (late[0] != '\0') {
        fprintf(a->io.out, "%s members didn't recognized pause state after %g seconds\n", late,
                (double)a->wait_ms / 1000.0);
        rv = CTL_EXIT_FAIL;
    } else {
        fprintf(a->io.out, "Success: cluster management is %s\n", paused ? "paused" : "resumed");
    }
    rg_free(late);
    rg_free(seen);
    return rv;
}

int ctl_cmd_pause(struct ctl_args *a)
{
    bool paused = a->cmd == CTL_CMD_PAUSE;
    cJSON *cluster = NULL;
    int rv = ctl_cluster_fetch(a, &cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cluster, "pause")) == paused) {
        fprintf(a->io.err, "Error: Cluster is %s paused\n", paused ? "already" : "not");
        cJSON_Delete(cluster);
        return CTL_EXIT_FAIL;
    }
    struct ctl_request rq = {.method = "PATCH",
                             .path = "/config",
                             .body = paused ? "{\"pause\":true}" : "{\"pause\":null}"};
    struct ctl_answer ans;
    char err[4096];
    if (ctl_send(&a->o, &rq, &ans, err, sizeof err) != 0) {
        fprintf(a->io.err, "regentctl: %s: %s\n", paused ? "pause" : "resume", err);
        cJSON_Delete(cluster);
        return CTL_EXIT_FAIL;
    }
    if (ans.status != 200) {
        fprintf(a->io.out, "Failed: %s cluster management status code=%ld, (%s)\n",
                paused ? "pause" : "resume", ans.status, ctl_answer_reason(&ans));
        rv = CTL_EXIT_FAIL;
    } else if (a->wait) {
        rv = wait_pause(a, cluster, paused);
    } else {
        fprintf(a->io.out, "Success: cluster management is %s\n", paused ? "paused" : "resumed");
    }
    ctl_answer_close(&ans);
    cJSON_Delete(cluster);
    return rv;
}
