/*
 * ctl_opts: regentctl's options — one table for every command, with the
 * kind of value each takes and the commands it belongs to — and what each
 * option's value does to struct ctl_args. Values are checked here whenever
 * that needs no cluster: formats, seconds, roles, --scheduled times (naive
 * ones are local time), --pg-version, KEY=VALUE pairs; a bad one is a
 * usage error (exit 2). Reading argv is ctl_args.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"
#include "cli/ctl_args_internal.h"

const struct opt_def ctl__opts[] = {
    {O_CONFIG, 'c', "config", "config-file", A_REQ, 0},
    {O_URL, 0, "url", NULL, A_REQ, 0},
    {O_FORMAT, 'f', "format", NULL, A_REQ,
     LISTING | CMD(CTL_CMD_HISTORY) | CMD(CTL_CMD_MEMBER_LIST) | CMD(CTL_CMD_SHOW_CONFIG)},
    {O_TIMEOUT, 0, "timeout", NULL, A_REQ, 0},
    {O_INSECURE, 'k', "insecure", NULL, A_NONE, 0},
    {O_HELP, 'h', "help", NULL, A_NONE, 0},
    {O_FORCE, 0, "force", NULL, A_NONE,
     CMD(CTL_CMD_SWITCHOVER) | CMD(CTL_CMD_FAILOVER) | CMD(CTL_CMD_RESTART) | CMD(CTL_CMD_RELOAD) |
         CMD(CTL_CMD_REINIT) | CMD(CTL_CMD_FLUSH) | CMD(CTL_CMD_EDIT_CONFIG) |
         CMD(CTL_CMD_MEMBER_REMOVE)},
    {O_WAIT, 0, "wait", NULL, A_OPT_SECS,
     CMD(CTL_CMD_MEMBER_ADD) | CMD(CTL_CMD_PAUSE) | CMD(CTL_CMD_RESUME) | CMD(CTL_CMD_REINIT)},
    {O_NO_WAIT, 0, "no-wait", NULL, A_NONE, CMD(CTL_CMD_MEMBER_ADD)},
    {O_EXTENDED, 'e', "extended", NULL, A_NONE, LISTING},
    {O_TIMESTAMP, 't', "timestamp", NULL, A_NONE, LISTING},
    {O_WATCH2, 'W', NULL, NULL, A_NONE, LISTING},
    {O_WATCH, 'w', "watch", NULL, A_REQ, LISTING},
    {O_WATCH_COUNT, 0, "watch-count", NULL, A_REQ, LISTING},
    {O_LEADER, 0, "leader", "primary", A_REQ, CMD(CTL_CMD_SWITCHOVER)},
    {O_CANDIDATE, 0, "candidate", NULL, A_REQ, CMD(CTL_CMD_SWITCHOVER) | CMD(CTL_CMD_FAILOVER)},
    {O_SCHEDULED, 0, "scheduled", NULL, A_REQ, CMD(CTL_CMD_SWITCHOVER) | CMD(CTL_CMD_RESTART)},
    {O_ROLE, 'r', "role", NULL, A_REQ,
     CMD(CTL_CMD_RESTART) | CMD(CTL_CMD_RELOAD) | CMD(CTL_CMD_FLUSH)},
    {O_ANY, 0, "any", NULL, A_NONE, CMD(CTL_CMD_RESTART)},
    {O_PG_VERSION, 0, "pg-version", NULL, A_REQ, CMD(CTL_CMD_RESTART)},
    {O_PENDING, 0, "pending", NULL, A_NONE, CMD(CTL_CMD_RESTART)},
    {O_FROM_LEADER, 0, "from-leader", NULL, A_NONE, CMD(CTL_CMD_REINIT)},
    {O_QUIET, 'q', "quiet", NULL, A_NONE, CMD(CTL_CMD_EDIT_CONFIG)},
    {O_SET, 's', "set", NULL, A_REQ, CMD(CTL_CMD_EDIT_CONFIG)},
    {O_PG, 'p', "pg", NULL, A_REQ, CMD(CTL_CMD_EDIT_CONFIG)},
    {O_APPLY, 0, "apply", NULL, A_REQ, CMD(CTL_CMD_EDIT_CONFIG)},
    {O_REPLACE, 0, "replace", NULL, A_REQ, CMD(CTL_CMD_EDIT_CONFIG)},
};

const size_t ctl__n_opts = sizeof ctl__opts / sizeof ctl__opts[0];

long ctl__parse_secs(const char *s)
{
    char *end;
    double secs = strtod(s, &end);
    if (end == s || *end != '\0' || !(secs > 0) || secs > 3600) {
        return -1;
    }
    return (long)(secs * 1000);
}

/* --- values ------------------------------------------------------------------ */

static int parse_format(const char *s, enum ctl_format *out)
{
    static const struct {
        const char *name;
        enum ctl_format f;
    } formats[] = {{"pretty", CTL_PRETTY},
                   {"tsv", CTL_TSV},
                   {"json", CTL_JSON},
                   {"yaml", CTL_YAML},
                   {"yml", CTL_YAML}};
    for (size_t i = 0; i < RG_ARRAY_SIZE(formats); i++) {
        if (strcmp(s, formats[i].name) == 0) {
            *out = formats[i].f;
            return 0;
        }
    }
    return -1;
}

static int parse_role(const char *s, enum ctl_role *out)
{
    static const struct {
        const char *name;
        enum ctl_role r;
    } roles[] = {{"leader", CTL_ROLE_LEADER},   {"primary", CTL_ROLE_PRIMARY},
                 {"master", CTL_ROLE_PRIMARY},  {"standby-leader", CTL_ROLE_STANDBY_LEADER},
                 {"replica", CTL_ROLE_REPLICA}, {"standby", CTL_ROLE_REPLICA},
                 {"any", CTL_ROLE_ANY}};
    for (size_t i = 0; i < RG_ARRAY_SIZE(roles); i++) {
        if (strcmp(s, roles[i].name) == 0) {
            *out = roles[i].r;
            return 0;
        }
    }
    return -1;
}

/* X.Y or X.Y.Z, as Patroni's postgres_version_to_int accepts. */
static bool valid_pg_version(const char *s)
{
    int parts = 0;
    const char *p = s;
    for (;;) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        parts++;
        if (*p == '\0') {
            return parts == 2 || parts == 3;
        }
        if (*p++ != '.') {
            return false;
        }
    }
}

static void push(const char ***arr, size_t *n, const char *v)
{
    *arr = rg_realloc(*arr, (*n + 1) * sizeof **arr);
    (*arr)[(*n)++] = v;
}

static int bad_value(const struct seen *s, const char *why, FILE *err)
{
    fprintf(err, "regentctl: invalid %s \"%s\" (%s)\n", s->as, s->value, why);
    return CTL_EXIT_USAGE;
}

/* Options with a value that is a number of seconds, a count or a format. */
static int apply_number(struct ctl_args *a, const struct seen *s, FILE *err)
{
    long ms = 0;
    if (s->def->id != O_FORMAT && s->def->id != O_WATCH_COUNT && s->value != NULL &&
        (ms = ctl__parse_secs(s->value)) < 0) {
        return bad_value(s, "seconds, more than 0 and at most 3600", err);
    }
    switch (s->def->id) {
    case O_FORMAT:
        if (parse_format(s->value, &a->o.format) != 0) {
            fprintf(err, "regentctl: unknown format \"%s\" (pretty, tsv, json, yaml)\n", s->value);
            return CTL_EXIT_USAGE;
        }
        return CTL_EXIT_OK;
    case O_TIMEOUT:
        a->o.timeout_ms = ms;
        a->o.timeout_set = true;
        return CTL_EXIT_OK;
    case O_WAIT:
        a->wait = true;
        a->wait_ms = s->value != NULL ? ms : a->wait_ms;
        return CTL_EXIT_OK;
    case O_WATCH:
        a->watch_ms = ms;
        return CTL_EXIT_OK;
    default: { /* O_WATCH_COUNT */
        char *end;
        long n = strtol(s->value, &end, 10);
        if (end == s->value || *end != '\0' || n < 1) {
            return bad_value(s, "a count, at least 1", err);
        }
        a->watch_count = n;
        return CTL_EXIT_OK;
    }
    }
}

/* Options with a value that is text. */
static int apply_text(struct ctl_args *a, const struct seen *s, FILE *err)
{
    switch (s->def->id) {
    case O_CONFIG:
        a->o.config = s->value;
        return CTL_EXIT_OK;
    case O_URL:
        ctl_urls_add(&a->o, s->value);
        return CTL_EXIT_OK;
    case O_LEADER:
        a->leader = s->value;
        return CTL_EXIT_OK;
    case O_CANDIDATE:
        a->candidate = s->value;
        return CTL_EXIT_OK;
    case O_SCHEDULED:
        rg_free(a->scheduled);
        a->scheduled = NULL;
        a->scheduled_given = true;
        if (ctl_time_parse(s->value, &a->scheduled) != 0) {
            return bad_value(s,
                             "an ISO 8601 time such as 2024-05-01T10:00 or "
                             "2024-05-01T10:00:00+02:00, or now",
                             err);
        }
        return CTL_EXIT_OK;
    case O_ROLE:
        a->role_given = true;
        if (parse_role(s->value, &a->role) != 0) {
            return bad_value(s, "leader, primary, standby-leader, replica, standby or any", err);
        }
        return CTL_EXIT_OK;
    case O_PG_VERSION:
        a->pg_version = s->value;
        return valid_pg_version(s->value) ? CTL_EXIT_OK
                                          : bad_value(s, "X.Y or X.Y.Z is accepted", err);
    case O_SET:
    case O_PG:
        if (strchr(s->value, '=') == NULL) {
            return bad_value(s, "KEY=VALUE expected", err);
        }
        if (s->def->id == O_SET) {
            push(&a->sets, &a->n_sets, s->value);
        } else {
            push(&a->pgs, &a->n_pgs, s->value);
        }
        return CTL_EXIT_OK;
    case O_APPLY:
        a->apply_file = s->value;
        return CTL_EXIT_OK;
    default: /* O_REPLACE */
        a->replace_file = s->value;
        return CTL_EXIT_OK;
    }
}

int ctl__opt_apply(struct ctl_args *a, const struct seen *s, FILE *err)
{
    switch (s->def->id) {
    case O_INSECURE:
        a->o.insecure = true;
        return CTL_EXIT_OK;
    case O_HELP:
        a->help = true;
        return CTL_EXIT_OK;
    case O_FORCE:
        a->force = true;
        return CTL_EXIT_OK;
    case O_NO_WAIT:
        a->no_wait = true;
        return CTL_EXIT_OK;
    case O_EXTENDED:
        a->extended = true;
        return CTL_EXIT_OK;
    case O_TIMESTAMP:
        a->timestamp = true;
        return CTL_EXIT_OK;
    case O_WATCH2:
        a->watch_ms = a->watch_ms != 0 ? a->watch_ms : 2000;
        return CTL_EXIT_OK;
    case O_ANY:
        a->any = true;
        return CTL_EXIT_OK;
    case O_PENDING:
        a->pending = true;
        return CTL_EXIT_OK;
    case O_FROM_LEADER:
        a->from_leader = true;
        return CTL_EXIT_OK;
    case O_QUIET:
        a->quiet = true;
        return CTL_EXIT_OK;
    case O_FORMAT:
    case O_TIMEOUT:
    case O_WAIT:
    case O_WATCH:
    case O_WATCH_COUNT:
        return apply_number(a, s, err);
    default:
        return apply_text(a, s, err);
    }
}
