/*
 * ctl_args: regentctl's command line. Pure: it reads argv only, writes
 * messages to the FILE it is given, and leaves finding the cluster (config
 * files, $REGENTCTL_*) to ctl_conf.c. The help texts are ctl_help.c's.
 *
 * The command is one or two words: "list", "switchover", ..., or a group
 * and a subcommand ("member add", "leadership transfer"), then its
 * arguments. Options may come anywhere, before or after the words, as
 * patronictl users type them; "--" ends them (for a name that starts with
 * '-'). argv is read in two passes: first every option is recognised by its
 * name alone (one table: the kind of value it takes is the same for every
 * command), then, once the command is known, each is checked against the
 * commands it belongs to, so that a typo or a misplaced option does not
 * pass silently. "--wait" alone is a flag, and takes a number of seconds
 * when one follows ("--wait 2.5"), for member add and the other waits.
 *
 * The option table and what each value does are ctl_opts.c's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"
#include "cli/ctl_args_internal.h"

struct cmd_def {
    enum ctl_cmd cmd;
    const char *group; /* "member", or NULL for a one-word command */
    const char *name;
    int min_args, max_args; /* -1: any number */
    const char *arg_name;   /* for "missing ADDRESS" */
};

static const struct cmd_def cmds[] = {
    {CTL_CMD_VERSION, NULL, "version", 0, -1, NULL},
    {CTL_CMD_LIST, NULL, "list", 0, 1, NULL},
    {CTL_CMD_TOPOLOGY, NULL, "topology", 0, 1, NULL},
    {CTL_CMD_SWITCHOVER, NULL, "switchover", 0, 1, NULL},
    {CTL_CMD_FAILOVER, NULL, "failover", 0, 1, NULL},
    {CTL_CMD_RESTART, NULL, "restart", 0, -1, NULL},
    {CTL_CMD_RELOAD, NULL, "reload", 0, -1, NULL},
    {CTL_CMD_REINIT, NULL, "reinit", 0, -1, NULL},
    {CTL_CMD_FLUSH, NULL, "flush", 1, -1, "restart|switchover"},
    {CTL_CMD_PAUSE, NULL, "pause", 0, 1, NULL},
    {CTL_CMD_RESUME, NULL, "resume", 0, 1, NULL},
    {CTL_CMD_SHOW_CONFIG, NULL, "show-config", 0, 1, NULL},
    {CTL_CMD_EDIT_CONFIG, NULL, "edit-config", 0, 1, NULL},
    {CTL_CMD_HISTORY, NULL, "history", 0, 1, NULL},
    {CTL_CMD_MEMBER_ADD, "member", "add", 1, 1, "ADDRESS"},
    {CTL_CMD_MEMBER_REMOVE, "member", "remove", 1, 1, "NAME"},
    {CTL_CMD_MEMBER_LIST, "member", "list", 0, 0, NULL},
    {CTL_CMD_LEADERSHIP_TRANSFER, "leadership", "transfer", 0, 1, NULL},
};

static const struct {
    enum ctl_cmd cmd;
    const char *name;
    const char *subs;
} groups[] = {
    {CTL_CMD_MEMBER, "member", "add, remove, list"},
    {CTL_CMD_LEADERSHIP, "leadership", "transfer"},
};

/* The commands whose only word is an optional CLUSTER. */
static const uint32_t cluster_only = LISTING | CMD(CTL_CMD_SWITCHOVER) | CMD(CTL_CMD_FAILOVER) |
                                     CMD(CTL_CMD_PAUSE) | CMD(CTL_CMD_RESUME) |
                                     CMD(CTL_CMD_SHOW_CONFIG) | CMD(CTL_CMD_EDIT_CONFIG) |
                                     CMD(CTL_CMD_HISTORY);

const char *ctl_cmd_name(enum ctl_cmd cmd)
{
    static char buf[32];
    for (size_t i = 0; i < RG_ARRAY_SIZE(cmds); i++) {
        if (cmds[i].cmd == cmd) {
            snprintf(buf, sizeof buf, "%s%s%s", cmds[i].group ? cmds[i].group : "",
                     cmds[i].group ? " " : "", cmds[i].name);
            return buf;
        }
    }
    for (size_t i = 0; i < RG_ARRAY_SIZE(groups); i++) {
        if (groups[i].cmd == cmd) {
            return groups[i].name;
        }
    }
    return "regentctl";
}

/* --- reading the options ------------------------------------------------------ */

/* A number of any kind: the value of "--wait" when one follows it. */
static bool is_number(const char *s)
{
    char *end;
    strtod(s, &end);
    return end != s && *end == '\0';
}

static const struct opt_def *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < ctl__n_opts; i++) {
        const char *names[] = {ctl__opts[i].long_name, ctl__opts[i].alias};
        for (size_t k = 0; k < 2; k++) {
            if (names[k] != NULL && strlen(names[k]) == len && strncmp(names[k], name, len) == 0) {
                return &ctl__opts[i];
            }
        }
    }
    return NULL;
}

static const struct opt_def *find_short(char c)
{
    for (size_t i = 0; i < ctl__n_opts; i++) {
        if (ctl__opts[i].short_name == c) {
            return &ctl__opts[i];
        }
    }
    return NULL;
}

static int unknown_option(const char *as, FILE *err)
{
    fprintf(err, "regentctl: unknown option \"%s\"\nTry \"regentctl --help\".\n", as);
    return CTL_EXIT_USAGE;
}

/* argv[*i] is "--name[=value]": one option, its value taken from the next
 * argument when it needs one. */
static int scan_long(char **argv, int argc, int *i, struct seen *s, FILE *err)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    s->def = find_long(name, len);
    snprintf(s->as_buf, sizeof s->as_buf, "--%.*s", (int)len, name);
    s->as = s->as_buf;
    if (s->def == NULL) {
        return unknown_option(s->as, err);
    }
    if (eq != NULL) {
        if (s->def->kind == A_NONE) {
            fprintf(err, "regentctl: option \"%s\" takes no value\n", s->as);
            return CTL_EXIT_USAGE;
        }
        s->value = eq + 1;
    } else if (s->def->kind == A_REQ) {
        if (*i + 1 >= argc) {
            fprintf(err, "regentctl: option \"%s\" needs a value\n", s->as);
            return CTL_EXIT_USAGE;
        }
        s->value = argv[++*i];
    } else if (s->def->kind == A_OPT_SECS && *i + 1 < argc && is_number(argv[*i + 1])) {
        s->value = argv[++*i]; /* checked with the others: "--wait 0" is refused */
    }
    return CTL_EXIT_OK;
}

/* argv[*i] is "-abc" or "-fjson": flags, then at most one that takes the
 * rest (or the next argument) as its value. */
static int scan_short(char **argv, int argc, int *i, struct seen *seen, size_t *n_seen, FILE *err)
{
    const char *arg = argv[*i];
    for (size_t j = 1; arg[j] != '\0'; j++) {
        struct seen *s = &seen[(*n_seen)++];
        memset(s, 0, sizeof *s);
        snprintf(s->as_buf, sizeof s->as_buf, "-%c", arg[j]);
        s->as = s->as_buf;
        s->def = find_short(arg[j]);
        if (s->def == NULL) {
            return unknown_option(s->as, err);
        }
        if (s->def->kind == A_NONE) {
            continue;
        }
        if (arg[j + 1] != '\0') {
            s->value = arg + j + 1;
        } else if (*i + 1 < argc) {
            s->value = argv[++*i];
        } else {
            fprintf(err, "regentctl: option \"%s\" needs a value\n", s->as);
            return CTL_EXIT_USAGE;
        }
        break;
    }
    return CTL_EXIT_OK;
}

/* --- the words -------------------------------------------------------------- */

static const struct cmd_def *find_cmd(const char *group, const char *name)
{
    for (size_t i = 0; i < RG_ARRAY_SIZE(cmds); i++) {
        bool same_group = group == NULL
                              ? cmds[i].group == NULL
                              : cmds[i].group != NULL && strcmp(cmds[i].group, group) == 0;
        if (same_group && strcmp(cmds[i].name, name) == 0) {
            return &cmds[i];
        }
    }
    return NULL;
}

static int group_of(const char *word)
{
    for (size_t i = 0; i < RG_ARRAY_SIZE(groups); i++) {
        if (strcmp(groups[i].name, word) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* The command named by the first of @words: *@d and how many words it
 * took, or a usage message. */
static int find_command(
    struct ctl_args *a, char **words, size_t n, const struct cmd_def **d, size_t *used, FILE *err)
{
    *d = find_cmd(NULL, words[0]);
    *used = 1;
    int g = *d == NULL ? group_of(words[0]) : -1;
    if (g >= 0) {
        if (n == 1) {
            a->cmd = groups[g].cmd;
            if (!a->help) {
                fprintf(err, "regentctl: %s: missing command (%s)\n", words[0], groups[g].subs);
            }
            return a->help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
        *d = find_cmd(words[0], words[1]);
        *used = 2;
        if (*d == NULL) {
            fprintf(err, "regentctl: unknown command \"%s %s\" (%s)\n", words[0], words[1],
                    groups[g].subs);
            return CTL_EXIT_USAGE;
        }
    }
    if (*d == NULL) {
        fprintf(err, "regentctl: unknown command \"%s\"\nTry \"regentctl --help\".\n", words[0]);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

static int check_word_count(const struct ctl_args *a, const struct cmd_def *d, FILE *err)
{
    const char *name = ctl_cmd_name(d->cmd);
    if ((int)a->n_words < d->min_args) {
        fprintf(err, "regentctl: %s: missing %s\nTry \"regentctl %s --help\".\n", name, d->arg_name,
                name);
        return CTL_EXIT_USAGE;
    }
    if (d->max_args >= 0 && (int)a->n_words > d->max_args) {
        if (d->max_args == 0) {
            fprintf(err, "regentctl: %s takes no arguments\n", name);
        } else if ((cluster_only & CMD(d->cmd)) != 0) {
            fprintf(err,
                    "regentctl: %s: unexpected argument \"%s\" (one CLUSTER at most: the URLs "
                    "choose the cluster)\n",
                    name, a->words[d->max_args]);
        } else {
            fprintf(err, "regentctl: %s: unexpected argument \"%s\"\n", name,
                    a->words[d->max_args]);
        }
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

/* The command of @words: a->cmd, a->words and the like, or a message. */
static int parse_words(struct ctl_args *a, char **words, size_t n, FILE *err)
{
    if (n == 0) {
        if (!a->help) {
            ctl_usage(err, CTL_CMD_NONE);
        }
        return a->help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    const struct cmd_def *d;
    size_t used;
    int rv = find_command(a, words, n, &d, &used, err);
    if (rv != CTL_EXIT_OK || d == NULL) {
        return rv;
    }
    a->cmd = d->cmd;
    if (a->help) {
        return CTL_EXIT_OK;
    }
    a->n_words = n - used;
    a->words = rg_calloc(a->n_words + 1, sizeof *a->words);
    memcpy(a->words, words + used, a->n_words * sizeof *a->words);
    if ((rv = check_word_count(a, d, err)) != CTL_EXIT_OK) {
        return rv;
    }
    a->arg = a->n_words > 0 ? a->words[0] : NULL;
    if ((cluster_only & CMD(a->cmd)) != 0) {
        a->cluster = a->arg;
    }
    if (a->cmd == CTL_CMD_FLUSH) {
        const char *last = a->words[--a->n_words];
        if (strcmp(last, "restart") != 0 && strcmp(last, "switchover") != 0) {
            fprintf(err,
                    "regentctl: flush: the last argument must be restart or switchover, not "
                    "\"%s\"\n",
                    last);
            return CTL_EXIT_USAGE;
        }
        a->target = last;
    }
    return CTL_EXIT_OK;
}

/* "applies only to "a", "b" and "c"" */
static void print_owners(const struct opt_def *def, FILE *err)
{
    size_t n = 0, total = 0;
    for (size_t i = 0; i < RG_ARRAY_SIZE(cmds); i++) {
        total += (def->cmds & CMD(cmds[i].cmd)) != 0;
    }
    for (size_t i = 0; i < RG_ARRAY_SIZE(cmds); i++) {
        if ((def->cmds & CMD(cmds[i].cmd)) != 0) {
            n++;
            fprintf(err, "%s\"%s\"",
                    n == 1       ? ""
                    : n == total ? " and "
                                 : ", ",
                    ctl_cmd_name(cmds[i].cmd));
        }
    }
}

/* Each option given belongs to the command; the combinations make sense. */
static int check_scoped(const struct ctl_args *a, const struct seen *seen, size_t n, FILE *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct opt_def *def = seen[i].def;
        if (def->cmds != 0 && (def->cmds & CMD(a->cmd)) == 0) {
            fprintf(err, "regentctl: %s applies only to ", seen[i].as);
            print_owners(def, err);
            fputc('\n', err);
            return CTL_EXIT_USAGE;
        }
    }
    const char *why = NULL;
    if (a->wait && a->no_wait) {
        why = "--wait and --no-wait contradict each other";
    } else if (a->watch_count != 0 && a->watch_ms == 0) {
        why = "--watch-count needs -W or -w SEC";
    } else if (a->cmd == CTL_CMD_FAILOVER && a->force && a->candidate == NULL) {
        why = "failover: --candidate is required with --force";
    } else if (a->cmd == CTL_CMD_REINIT && a->force && a->n_words == 0) {
        why = "reinit: missing MEMBER (with --force, name the members to reinitialize)";
    } else if (((a->apply_file != NULL && strcmp(a->apply_file, "-") == 0) ||
                (a->replace_file != NULL && strcmp(a->replace_file, "-") == 0)) &&
               !a->force) {
        why = "edit-config: reading the configuration from standard input needs --force "
              "(standard input cannot answer the confirmation)";
    }
    if (why != NULL) {
        fprintf(err, "regentctl: %s\n", why);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

/* First pass: the options, recognised by name, and the words. */
static int scan(int argc,
                char **argv,
                struct seen *seen,
                size_t *n_seen,
                char **words,
                size_t *n_words,
                FILE *err)
{
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int rv = CTL_EXIT_OK;
        if (opts_done || s[0] != '-' || s[1] == '\0') {
            words[(*n_words)++] = argv[i];
        } else if (strcmp(s, "--") == 0) {
            opts_done = true;
        } else if (s[1] == '-') {
            memset(&seen[*n_seen], 0, sizeof seen[*n_seen]);
            rv = scan_long(argv, argc, &i, &seen[*n_seen], err);
            (*n_seen)++;
        } else {
            rv = scan_short(argv, argc, &i, seen, n_seen, err);
        }
        if (rv != CTL_EXIT_OK) {
            return rv;
        }
    }
    return CTL_EXIT_OK;
}

int ctl_args_parse(struct ctl_args *a, int argc, char **argv, FILE *err)
{
    memset(a, 0, sizeof *a);
    a->o.format = CTL_PRETTY;
    a->o.timeout_ms = CTL_READ_TIMEOUT_MS;
    a->wait_ms = CTL_DEFAULT_WAIT_MS;
    /* Every argument is at most one word or a few options (short flags). */
    size_t cap = 0;
    for (int i = 1; i < argc; i++) {
        cap += strlen(argv[i]) + 1;
    }
    struct seen *seen = rg_calloc(cap + 1, sizeof *seen);
    char **words = rg_calloc((size_t)argc + 1, sizeof *words);
    size_t n_seen = 0, n_words = 0;
    int rv = scan(argc, argv, seen, &n_seen, words, &n_words, err);
    for (size_t i = 0; i < n_seen && rv == CTL_EXIT_OK; i++) {
        rv = ctl__opt_apply(a, &seen[i], err);
    }
    if (rv == CTL_EXIT_OK) {
        rv = parse_words(a, words, n_words, err);
    }
    if (rv == CTL_EXIT_OK && !a->help) {
        rv = check_scoped(a, seen, n_seen, err);
    }
    rg_free(words);
    rg_free(seen);
    return rv;
}

void ctl_args_close(struct ctl_args *a)
{
    ctl_opts_free(&a->o);
    rg_free(a->words);
    rg_free(a->sets);
    rg_free(a->pgs);
    rg_free(a->scheduled);
    a->words = NULL;
    a->sets = a->pgs = NULL;
    a->scheduled = NULL;
}
