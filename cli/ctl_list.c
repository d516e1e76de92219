/*
 * ctl_list: "regentctl list" and "topology" — GET /cluster printed as
 * patronictl 4.0 does (spec/patroni-compat.md 5.2).
 *
 * Columns: Member, Host, Role, State, TL, Lag in MB, then Pending restart
 * ("*"), Pending restart reason ("guc: old->new", one per line), Scheduled
 * restart ("<time> [if version < X]") and Tags, each when -e is given or
 * any member has a value for it. pretty is the boxed table with
 * " Cluster: <scope> (<system identifier>) " in its top border, the
 * footers (maintenance mode, scheduled switchover) and one line of Raft
 * facts, Regent's own. tsv, json and yaml have no footers; json and yaml
 * drop empty values and keep numbers and tags typed.
 *
 * topology orders the members as a tree: the leader, then under each
 * member the replicas that stream from it (tags.replicatefrom naming
 * another replica; else the leader), indented "+ name" in the pretty
 * table. patronictl prints Tags there in YAML's flow style, as in tsv.
 * Members a replicatefrom cycle keeps out of the tree (patronictl drops
 * them) are shown under the leader's level. tsv, json and yaml keep the
 * order but not the indentation: an Upstream column names the parent.
 *
 * The printing itself is ctl_table's; watching (-W, -w) is here too.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "agent/rg.h"
#include "cli/ctl.h"

enum col {
    C_MEMBER,
    C_UPSTREAM, /* topology, machine formats only */
    C_HOST,
    C_ROLE,
    C_STATE,
    C_TL,
    C_LAG,
    C_PENDING,
    C_REASON,
    C_SCHEDULED,
    C_TAGS,
    N_COLS
};

static const char *const col_names[N_COLS] = {"Member",
                                              "Upstream",
                                              "Host",
                                              "Role",
                                              "State",
                                              "TL",
                                              "Lag in MB",
                                              "Pending restart",
                                              "Pending restart reason",
                                              "Scheduled restart",
                                              "Tags"};

/* Extra columns and the member fields that give them a value. */
static const char *const extra_fields[] = {"pending_restart", "pending_restart_reason",
                                           "scheduled_restart", "tags"};

const char *ctl_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

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
            *p = start ? (char)toupper((unsigned char)*p) : (char)tolower((unsigned char)*p);
            start = false;
        }
    }
    return t;
}

/* A value that shows: true, a non-empty string, object or array. */
static bool has_value(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        return v->valuestring[0] != '\0';
    }
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        return v->child != NULL;
    }
    return cJSON_IsTrue(v) || cJSON_IsNumber(v);
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
        const char *h = ctl_str(m, "host");
        cJSON_ArrayForEach(n, members)
        {
            const char *h2 = ctl_str(n, "host");
            if (n != m && h != NULL && h2 != NULL && strcmp(h, h2) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* --- the tree ------------------------------------------------------------------ */

struct row {
    const cJSON *m;       /* borrowed from the /cluster document */
    int level;            /* topology: 0 the leader, 1 under it, ... */
    const char *upstream; /* topology: the parent's name, or NULL */
};

static bool is_leader_role(const cJSON *m)
{
    const char *role = ctl_str(m, "role");
    size_t n = role != NULL ? strlen(role) : 0;
    return n >= 6 && strcmp(role + n - 6, "leader") == 0;
}

/* Index of the parent of member @i, -1 for the leader (or none). */
static int parent_of(const cJSON **ms, size_t n, size_t i, int leader)
{
    if ((int)i == leader) {
        return -2;
    }
    const char *from = ctl_str(cJSON_GetObjectItemCaseSensitive(ms[i], "tags"), "replicatefrom");
    for (size_t j = 0; from != NULL && j < n; j++) {
        if (j != i && (int)j != leader && strcmp(from, ctl_str(ms[j], "name")) == 0) {
            return (int)j;
        }
    }
    return -1;
}

static void visit(const cJSON **ms,
                  const int *parent,
                  size_t n,
                  int node,
                  int level,
                  bool *seen,
                  struct row *rows,
                  size_t *k)
{
    for (size_t i = 0; i < n; i++) {
        if (!seen[i] && parent[i] == node) {
            seen[i] = true;
            rows[(*k)++] = (struct row){ms[i], level, node >= 0 ? ctl_str(ms[node], "name") : NULL};
            visit(ms, parent, n, (int)i, level + 1, seen, rows, k);
        }
    }
}

/* The members in list order, or in the topology's. */
static size_t order_rows(const cJSON *members, bool topology, struct row *rows)
{
    size_t n = 0;
    const cJSON *m;
    const cJSON **ms = rg_calloc((size_t)cJSON_GetArraySize(members) + 1, sizeof *ms);
    cJSON_ArrayForEach(m, members)
    {
        ms[n++] = m;
    }
    int leader = -1;
    for (size_t i = 0; i < n && leader < 0; i++) {
        leader = is_leader_role(ms[i]) && ctl_str(ms[i], "name") != NULL ? (int)i : -1;
    }
    size_t k = 0;
    if (!topology) {
        for (size_t i = 0; i < n; i++) {
            rows[k++] = (struct row){ms[i], 0, NULL};
        }
        rg_free(ms);
        return k;
    }
    int *parent = rg_calloc(n + 1, sizeof *parent);
    bool *seen = rg_calloc(n + 1, sizeof *seen);
    for (size_t i = 0; i < n; i++) {
        parent[i] = parent_of(ms, n, i, leader);
    }
    if (leader >= 0) {
        seen[leader] = true;
        rows[k++] = (struct row){ms[leader], 0, NULL};
    }
    for (size_t i = 0; i < n; i++) {
        parent[i] = parent[i] == -1 ? leader : parent[i];
    }
    visit(ms, parent, n, leader, 1, seen, rows, &k);
    for (size_t i = 0; i < n; i++) {
        if (!seen[i]) { /* in a replicatefrom cycle */
            rows[k++] = (struct row){ms[i], 1, ctl_str(ms[parent[i]], "name")};
            seen[i] = true;
        }
    }
    rg_free(seen);
    rg_free(parent);
    rg_free(ms);
    return k;
}

/* --- cells ---------------------------------------------------------------------- */

/* "guc: old->new" per line; in the pretty table, long ones are hidden. */
static char *restart_reasons(const cJSON *reasons, bool hide_long)
{
    char *out = rg_strdup("");
    const cJSON *r;
    cJSON_ArrayForEach(r, reasons)
    {
        char *old_v = json_scalar_text(cJSON_GetObjectItemCaseSensitive(r, "old_value"));
        char *new_v = json_scalar_text(cJSON_GetObjectItemCaseSensitive(r, "new_value"));
        char *line = rg_asprintf("%s: %s->%s", r->string, old_v, new_v);
        if (hide_long && strlen(line) > 50) {
            rg_free(line);
            line = rg_asprintf("%s: [hidden - too long]", r->string);
        }
        char *next = rg_asprintf("%s%s%s", out, out[0] != '\0' ? "\n" : "", line);
        rg_free(out);
        rg_free(line);
        rg_free(old_v);
        rg_free(new_v);
        out = next;
    }
    return out;
}

static char *scheduled_restart(const cJSON *sr)
{
    const char *at = ctl_str(sr, "schedule");
    const char *version = ctl_str(sr, "postgres_version");
    if (at == NULL) {
        return rg_strdup("");
    }
    return version != NULL ? rg_asprintf("%s if version < %s", at, version) : rg_strdup(at);
}

struct shape {
    enum ctl_format format;
    bool topology;
    bool with_port;
    bool show[N_COLS];
};

static char *member_name(const struct shape *sh, const struct row *r)
{
    const char *name = ctl_str(r->m, "name");
    name = name != NULL ? name : "";
    if (!sh->topology || r->level == 0 || sh->format != CTL_PRETTY) {
        return rg_strdup(name);
    }
    return rg_asprintf("%*s+ %s", (r->level - 1) * 2, "", name);
}

static char *cell_text(const struct shape *sh, const struct row *r, enum col c)
{
    const cJSON *m = r->m;
    const cJSON *v;
    switch (c) {
    case C_MEMBER:
        return member_name(sh, r);
    case C_UPSTREAM:
        return rg_strdup(r->upstream != NULL ? r->upstream : "");
    case C_HOST: {
        const char *host = ctl_str(m, "host");
        v = cJSON_GetObjectItemCaseSensitive(m, "port");
        if (host != NULL && host[0] != '\0' && sh->with_port && cJSON_IsNumber(v)) {
            return rg_asprintf("%s:%d", host, v->valueint);
        }
        return rg_strdup(host != NULL ? host : "");
    }
    case C_ROLE:
        return role_title(ctl_str(m, "role") != NULL ? ctl_str(m, "role") : "");
    case C_STATE:
        return rg_strdup(ctl_str(m, "state") != NULL ? ctl_str(m, "state") : "");
    case C_TL:
        return json_scalar_text(cJSON_GetObjectItemCaseSensitive(m, "timeline"));
    case C_LAG:
        v = is_leader_role(m) ? NULL : cJSON_GetObjectItemCaseSensitive(m, "lag");
        if (cJSON_IsNumber(v)) {
            return rg_asprintf("%.0f", nearbyint(v->valuedouble / 1048576.0));
        }
        return json_scalar_text(v);
    case C_PENDING:
        return rg_strdup(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "pending_restart")) ? "*"
                                                                                              : "");
    case C_REASON:
        return restart_reasons(cJSON_GetObjectItemCaseSensitive(m, "pending_restart_reason"),
                               sh->format == CTL_PRETTY);
    case C_SCHEDULED:
        return scheduled_restart(cJSON_GetObjectItemCaseSensitive(m, "scheduled_restart"));
    default: /* C_TAGS */
        v = cJSON_GetObjectItemCaseSensitive(m, "tags");
        if (!has_value(v)) {
            return rg_strdup("");
        }
        if (sh->format == CTL_PRETTY && !sh->topology) {
            char *y = ctl_yaml_dump(v);
            size_t n = strlen(y);
            while (n > 0 && y[n - 1] == '\n') {
                y[--n] = '\0';
            }
            return y;
        }
        return ctl_yaml_dump_flow(v);
    }
}

/* The typed value of a record; NULL when it has none (json/yaml drop it). */
static cJSON *cell_json(const struct shape *sh, const struct row *r, enum col c)
{
    const cJSON *v = NULL;
    if (c == C_TL) {
        v = cJSON_GetObjectItemCaseSensitive(r->m, "timeline");
    } else if (c == C_LAG && !is_leader_role(r->m)) {
        v = cJSON_GetObjectItemCaseSensitive(r->m, "lag");
        if (cJSON_IsNumber(v)) {
            return cJSON_CreateNumber(nearbyint(v->valuedouble / 1048576.0));
        }
    } else if (c == C_TAGS) {
        v = cJSON_GetObjectItemCaseSensitive(r->m, "tags");
        return has_value(v) ? cJSON_Duplicate(v, 1) : NULL;
    }
    if (cJSON_IsNumber(v)) {
        return cJSON_CreateNumber(v->valuedouble);
    }
    char *text = cell_text(sh, r, c);
    cJSON *out = text[0] != '\0' ? cJSON_CreateString(text) : NULL;
    rg_free(text);
    return out;
}

/* --- printing --------------------------------------------------------------------- */

static void print_footers(FILE *fp, const cJSON *cluster)
{
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cluster, "pause"))) {
        fprintf(fp, " Maintenance mode: on\n");
    }
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(cluster, "scheduled_switchover");
    if (cJSON_IsObject(sw)) {
        const char *at = ctl_str(sw, "at");
        fprintf(fp, " Switchover scheduled at: %s\n", at != NULL ? at : "?");
        if (ctl_str(sw, "from") != NULL) {
            fprintf(fp, "                    from: %s\n", ctl_str(sw, "from"));
        }
        if (ctl_str(sw, "to") != NULL) {
            fprintf(fp, "                      to: %s\n", ctl_str(sw, "to"));
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
    const char *leader = ctl_str(raft, "leader");
    fprintf(fp, "Raft: term %.0f, leader %s, voters ",
            cJSON_IsNumber(term) ? term->valuedouble : 0.0, leader != NULL ? leader : "none");
    print_names(fp, cJSON_GetObjectItemCaseSensitive(raft, "voters"));
    fprintf(fp, ", standbys ");
    print_names(fp, cJSON_GetObjectItemCaseSensitive(raft, "standbys"));
    fputc('\n', fp);
}

static void decide_columns(struct shape *sh, const cJSON *members, const struct ctl_list_opts *lo)
{
    memset(sh->show, 0, sizeof sh->show);
    for (int c = C_MEMBER; c <= C_LAG; c++) {
        sh->show[c] = true;
    }
    sh->show[C_UPSTREAM] = lo->topology && lo->format != CTL_PRETTY;
    for (size_t e = 0; e < RG_ARRAY_SIZE(extra_fields); e++) {
        bool any = lo->extended;
        const cJSON *m;
        cJSON_ArrayForEach(m, members)
        {
            any = any || has_value(cJSON_GetObjectItemCaseSensitive(m, extra_fields[e]));
        }
        sh->show[C_PENDING + e] = any;
    }
}

static void
print_records(FILE *fp, const struct shape *sh, const struct row *rows, size_t n, const char *scope)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "Cluster", scope);
        for (int c = 0; c < N_COLS; c++) {
            cJSON *v = sh->show[c] ? cell_json(sh, &rows[i], (enum col)c) : NULL;
            if (v != NULL) {
                cJSON_AddItemToObject(o, col_names[c], v);
            }
        }
        cJSON_AddItemToArray(arr, o);
    }
    ctl_records_print(fp, arr, sh->format);
    cJSON_Delete(arr);
}

static void print_table(
    FILE *fp, const struct shape *sh, const struct row *rows, size_t n, const cJSON *cluster)
{
    const char *names[N_COLS];
    bool right[N_COLS];
    int map[N_COLS];
    size_t k = 0;
    for (int c = 0; c < N_COLS; c++) {
        if (sh->show[c]) {
            map[k] = c;
            right[k] = c == C_TL || c == C_LAG;
            names[k++] = col_names[c];
        }
    }
    struct ctl_table t;
    ctl_table_init(&t, k, names, right, n);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < k; j++) {
            ctl_table_set(&t, i, j, cell_text(sh, &rows[i], (enum col)map[j]));
        }
    }
    const char *scope = ctl_str(cluster, "scope");
    if (sh->format == CTL_TSV) {
        ctl_table_print_tsv(fp, &t, scope != NULL ? scope : "");
    } else {
        const char *sysid = ctl_str(cluster, "system_identifier");
        char *title = rg_asprintf(" Cluster: %s (%s) ", scope != NULL ? scope : "(unknown)",
                                  sysid != NULL ? sysid : "uninitialized");
        ctl_table_print_pretty(fp, &t, title);
        rg_free(title);
        print_footers(fp, cluster);
        print_raft(fp, cluster);
    }
    ctl_table_close(&t);
}

void ctl_print_members(FILE *fp, const cJSON *cluster, const struct ctl_list_opts *lo)
{
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(cluster, "members");
    struct shape sh = {.format = lo->format, .topology = lo->topology};
    sh.with_port = need_port(members);
    decide_columns(&sh, members, lo);
    struct row *rows = rg_calloc((size_t)cJSON_GetArraySize(members) + 1, sizeof *rows);
    size_t n = order_rows(members, lo->topology, rows);
    if (lo->format == CTL_JSON || lo->format == CTL_YAML) {
        const char *scope = ctl_str(cluster, "scope");
        print_records(fp, &sh, rows, n, scope != NULL ? scope : "");
    } else {
        print_table(fp, &sh, rows, n, cluster);
    }
    rg_free(rows);
}

void ctl_print_cluster(FILE *fp, const cJSON *cluster, enum ctl_format format)
{
    struct ctl_list_opts lo = {.format = format};
    ctl_print_members(fp, cluster, &lo);
}

/* --- the command, and watching ----------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Sleep @ms unless interrupted: false once Ctrl-C was pressed. */
static bool nap(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (!interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return !interrupted;
}

static int list_once(struct ctl_args *a)
{
    cJSON *cluster = NULL;
    int rv = ctl_cluster_fetch(a, &cluster);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    struct ctl_list_opts lo = {
        .format = a->o.format, .extended = a->extended, .topology = a->cmd == CTL_CMD_TOPOLOGY};
    ctl_print_members(a->io.out, cluster, &lo);
    cJSON_Delete(cluster);
    return CTL_EXIT_OK;
}

int ctl_cmd_list(struct ctl_args *a)
{
    struct sigaction sa = {.sa_handler = on_sigint}, old;
    if (a->watch_ms > 0) {
        interrupted = 0;
        sigaction(SIGINT, &sa, &old); /* no SA_RESTART: the nap ends at once */
    }
    int rv = CTL_EXIT_OK;
    for (long n = 1;; n++) {
        if (a->watch_ms > 0 && a->io.out_tty) {
            fputs("\033[2J\033[1;1H", a->io.out); /* click.clear() */
        }
        if (a->timestamp) {
            char ts[32];
            ctl_timestamp(ts, sizeof ts, false);
            fprintf(a->io.out, "%s\n", ts);
        }
        rv = list_once(a);
        fflush(a->io.out);
        fflush(a->io.err);
        if (a->watch_ms == 0 || (a->watch_count > 0 && n >= a->watch_count) || !nap(a->watch_ms)) {
            break;
        }
    }
    if (a->watch_ms > 0) {
        sigaction(SIGINT, &old, NULL);
        rv = interrupted ? CTL_EXIT_OK : rv; /* watching ends with Ctrl-C */
    }
    return rv;
}
