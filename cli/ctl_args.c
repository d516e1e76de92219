/*
 * ctl_args: regentctl's command line and its help texts. Pure: it reads
 * argv only, writes messages to the FILE it is given, and leaves finding
 * the cluster (config files, $REGENTCTL_URL) to main.c.
 *
 * The command is one or two words: "list", "version", or a group and a
 * subcommand ("member add", "leadership transfer"), then its arguments.
 * getopt_long permutes, so options may come anywhere; "--" ends them (for a
 * NAME that starts with '-'). Options that belong to one command (--force,
 * --wait, --no-wait) are refused elsewhere, so that a typo does not pass
 * silently.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

struct cmd_def {
    enum ctl_cmd cmd;
    const char *group; /* "member", or NULL for a one-word command */
    const char *name;
    int min_args, max_args;
    const char *arg_name; /* for "missing ADDRESS" */
    const char *hint;     /* after "takes no arguments", or NULL */
};

static const struct cmd_def cmds[] = {
    {CTL_CMD_VERSION, NULL, "version", 0, 0, NULL, NULL},
    {CTL_CMD_LIST, NULL, "list", 0, 0, NULL, "one cluster per URL set"},
    {CTL_CMD_MEMBER_ADD, "member", "add", 1, 1, "ADDRESS", NULL},
    {CTL_CMD_MEMBER_REMOVE, "member", "remove", 1, 1, "NAME", NULL},
    {CTL_CMD_MEMBER_LIST, "member", "list", 0, 0, NULL, NULL},
    {CTL_CMD_LEADERSHIP_TRANSFER, "leadership", "transfer", 0, 1, NULL, NULL},
};

static const struct {
    enum ctl_cmd cmd;
    const char *name;
    const char *subs;
} groups[] = {
    {CTL_CMD_MEMBER, "member", "add, remove, list"},
    {CTL_CMD_LEADERSHIP, "leadership", "transfer"},
};

static int parse_format(const char *s, enum ctl_format *out)
{
    if (strcmp(s, "pretty") == 0) {
        *out = CTL_PRETTY;
    } else if (strcmp(s, "tsv") == 0) {
        *out = CTL_TSV;
    } else if (strcmp(s, "json") == 0) {
        *out = CTL_JSON;
    } else if (strcmp(s, "yaml") == 0 || strcmp(s, "yml") == 0) {
        *out = CTL_YAML;
    } else {
        return -1;
    }
    return 0;
}

/* Seconds in (0, 3600] as milliseconds, or -1. */
static long parse_secs(const char *s)
{
    char *end;
    double secs = strtod(s, &end);
    if (end == s || *end != '\0' || !(secs > 0) || secs > 3600) {
        return -1;
    }
    return (long)(secs * 1000);
}

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

/* The command of @words: a->cmd and a->arg, or a usage message. */
static int parse_words(struct ctl_args *a, char **words, int n, FILE *err)
{
    if (n == 0) {
        if (!a->help) {
            ctl_usage(err, CTL_CMD_NONE);
        }
        return a->help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    const struct cmd_def *d = find_cmd(NULL, words[0]);
    int used = 1;
    int g = d == NULL ? group_of(words[0]) : -1;
    if (g >= 0) {
        if (n == 1) {
            a->cmd = groups[g].cmd;
            if (!a->help) {
                fprintf(err, "regentctl: %s: missing command (%s)\n", words[0], groups[g].subs);
            }
            return a->help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
        d = find_cmd(words[0], words[1]);
        used = 2;
        if (d == NULL) {
            fprintf(err, "regentctl: unknown command \"%s %s\" (%s)\n", words[0], words[1],
                    groups[g].subs);
            return CTL_EXIT_USAGE;
        }
    }
    if (d == NULL) {
        fprintf(err, "regentctl: unknown command \"%s\"\nTry \"regentctl --help\".\n", words[0]);
        return CTL_EXIT_USAGE;
    }
    a->cmd = d->cmd;
    if (a->help) {
        return CTL_EXIT_OK;
    }
    int n_args = n - used;
    const char *full = d->group != NULL ? words[0] : "";
    const char *sep = d->group != NULL ? " " : "";
    if (n_args < d->min_args) {
        fprintf(err, "regentctl: %s%s%s: missing %s\nTry \"regentctl %s%s%s --help\".\n", full, sep,
                d->name, d->arg_name, full, sep, d->name);
        return CTL_EXIT_USAGE;
    }
    if (n_args > d->max_args) {
        if (d->max_args == 0) {
            fprintf(err, "regentctl: %s%s%s takes no arguments%s%s%s\n", full, sep, d->name,
                    d->hint != NULL ? " (" : "", d->hint != NULL ? d->hint : "",
                    d->hint != NULL ? ")" : "");
        } else {
            fprintf(err, "regentctl: %s%s%s: unexpected argument \"%s\"\n", full, sep, d->name,
                    words[used + d->max_args]);
        }
        return CTL_EXIT_USAGE;
    }
    a->arg = n_args > 0 ? words[used] : NULL;
    return CTL_EXIT_OK;
}

/* Options that only one command takes. */
static int check_scoped(const struct ctl_args *a, bool wait_given, FILE *err)
{
    if (a->help) {
        return CTL_EXIT_OK;
    }
    if (a->force && a->cmd != CTL_CMD_MEMBER_REMOVE) {
        fprintf(err, "regentctl: --force applies only to \"member remove\"\n");
        return CTL_EXIT_USAGE;
    }
    if ((wait_given || a->no_wait) && a->cmd != CTL_CMD_MEMBER_ADD) {
        fprintf(err, "regentctl: --%s applies only to \"member add\"\n",
                a->no_wait ? "no-wait" : "wait");
        return CTL_EXIT_USAGE;
    }
    if (wait_given && a->no_wait) {
        fprintf(err, "regentctl: --wait and --no-wait contradict each other\n");
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

enum { OPT_URL = 256, OPT_TIMEOUT, OPT_FORCE, OPT_WAIT, OPT_NO_WAIT };

static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"url", required_argument, NULL, OPT_URL},
    {"format", required_argument, NULL, 'f'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {"force", no_argument, NULL, OPT_FORCE},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"no-wait", no_argument, NULL, OPT_NO_WAIT},
    {NULL, 0, NULL, 0},
};

/* One option; @argv for naming a bad one. */
static int parse_opt(struct ctl_args *a, int c, char **argv, bool *wait_given, FILE *err)
{
    switch (c) {
    case 'c':
        a->o.config = optarg;
        return CTL_EXIT_OK;
    case OPT_URL:
        ctl_urls_add(&a->o, optarg);
        return CTL_EXIT_OK;
    case 'f':
        if (parse_format(optarg, &a->o.format) != 0) {
            fprintf(err, "regentctl: unknown format \"%s\" (pretty, tsv, json, yaml)\n", optarg);
            return CTL_EXIT_USAGE;
        }
        return CTL_EXIT_OK;
    case OPT_TIMEOUT:
    case OPT_WAIT: {
        long ms = parse_secs(optarg);
        if (ms < 0) {
            fprintf(err, "regentctl: invalid --%s \"%s\" (seconds, more than 0 and at most 3600)\n",
                    c == OPT_WAIT ? "wait" : "timeout", optarg);
            return CTL_EXIT_USAGE;
        }
        if (c == OPT_WAIT) {
            a->wait_ms = ms;
            *wait_given = true;
        } else {
            a->o.timeout_ms = ms;
            a->o.timeout_set = true;
        }
        return CTL_EXIT_OK;
    }
    case 'h':
        a->help = true;
        return CTL_EXIT_OK;
    case OPT_FORCE:
        a->force = true;
        return CTL_EXIT_OK;
    case OPT_NO_WAIT:
        a->no_wait = true;
        return CTL_EXIT_OK;
    case ':':
        fprintf(err, "regentctl: option \"%s\" needs a value\n", argv[optind - 1]);
        return CTL_EXIT_USAGE;
    default:
        if (optopt != 0) {
            fprintf(err, "regentctl: unknown option \"-%c\"\n", optopt);
        } else {
            fprintf(err, "regentctl: unknown option \"%s\"\n", argv[optind - 1]);
        }
        fprintf(err, "Try \"regentctl --help\".\n");
        return CTL_EXIT_USAGE;
    }
}

int ctl_args_parse(struct ctl_args *a, int argc, char **argv, FILE *err)
{
    memset(a, 0, sizeof *a);
    a->o.format = CTL_PRETTY;
    a->o.timeout_ms = 5000;
    a->wait_ms = CTL_DEFAULT_WAIT_MS;
    bool wait_given = false;
    int c;
    optind = 0; /* GNU: start over, also when called again (tests) */
    opterr = 0; /* our messages, on @err */
    while ((c = getopt_long(argc, argv, ":c:f:h", longopts, NULL)) != -1) {
        int rv = parse_opt(a, c, argv, &wait_given, err);
        if (rv != CTL_EXIT_OK) {
            return rv;
        }
    }
    int rv = parse_words(a, argv + optind, argc - optind, err);
    return rv != CTL_EXIT_OK ? rv : check_scoped(a, wait_given, err);
}

void ctl_args_close(struct ctl_args *a)
{
    ctl_opts_free(&a->o);
}

/* --- help ----------------------------------------------------------------- */

static const char usage_main[] =
    "Usage: regentctl [OPTIONS] COMMAND [ARGS]...\n"
    "\n"
    "Manage a Regent cluster through its members' REST API.\n"
    "\n"
    "Commands:\n"
    "  list                        show the members of the cluster, their roles and lag\n"
    "  member add ADDRESS          invite a new node into the cluster\n"
    "  member remove NAME          remove a member from the cluster\n"
    "  member list                 show the Raft voters and standbys\n"
    "  leadership transfer [NAME]  move Raft leadership (not the PostgreSQL primary)\n"
    "  version                     print the version of regentctl\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   an agent's YAML config: use its restapi.connect_address\n"
    "      --url URL       a member's REST API, e.g. http://127.0.0.1:8008\n"
    "                      (repeatable; default $REGENTCTL_URL, comma-separated,\n"
    "                      else " CTL_DEFAULT_URL ")\n"
    "  -f, --format FMT    output format: pretty (default), tsv, json, yaml\n"
    "      --timeout SEC   time allowed per request (default 5; 15 for requests\n"
    "                      that change the cluster)\n"
    "  -h, --help          show this help (also: regentctl COMMAND --help)\n"
    "\n"
    "Exit status: 0 ok, 1 the cluster could not be reached or the request failed,\n"
    "2 usage error.\n";

static const char usage_list[] =
    "Usage: regentctl list [-f pretty|tsv|json|yaml] [--url URL]... [-c CONFIG]\n"
    "\n"
    "Show the members of the cluster as patronictl list does: Member, Host, Role,\n"
    "State, TL and Lag in MB, then one line of Raft facts (term, leader, voters,\n"
    "standbys). tsv, json and yaml add a Cluster column and leave the footers out.\n";

static const char usage_version[] = "Usage: regentctl version\n\nPrint the version of regentctl.\n";

static const char usage_member[] =
    "Usage: regentctl member COMMAND [ARGS]...\n"
    "\n"
    "Manage the membership of the Raft cluster the agents share.\n"
    "\n"
    "Commands:\n"
    "  add ADDRESS   invite the pristine node at Raft address ADDRESS\n"
    "  remove NAME   remove member NAME from the cluster (asks first)\n"
    "  list          show each Raft server and its role: Leader, Voter, Standby\n"
    "\n"
    "See \"regentctl member COMMAND --help\".\n";

static const char usage_member_add[] =
    "Usage: regentctl member add ADDRESS [--wait SEC | --no-wait] [--url URL]...\n"
    "\n"
    "Invite the pristine node whose Raft address (its raft.self_addr) is ADDRESS,\n"
    "a.b.c.d:port, into the cluster. A pristine node has never joined a cluster (its\n"
    "raft.data_dir is empty) and is still looking for one: none of its\n"
    "raft.partner_addrs is a member. It joins as a Raft standby; the Raft leader\n"
    "promotes standbys while there are fewer voters than raft.voters.\n"
    "\n"
    "Once the node has accepted, regentctl asks GET /cluster every 200 ms until the\n"
    "node appears in the Raft configuration, and says whether it is a voter or a\n"
    "standby.\n"
    "\n"
    "Options:\n"
    "      --wait SEC   wait at most SEC seconds for the node to appear (default 30)\n"
    "      --no-wait    return once the node has accepted the invitation\n"
    "\n"
    "Exit status: 0 the node accepted (and appeared); 1 the invitation failed or\n"
    "was refused, or the node did not appear in time; 2 usage error.\n";

static const char usage_member_remove[] =
    "Usage: regentctl member remove NAME [--force] [--url URL]...\n"
    "\n"
    "Remove member NAME from the Raft configuration and delete its records. The\n"
    "holder of the leader lease (the PostgreSQL primary) cannot be removed: switch\n"
    "over first. regentctl asks for confirmation on the terminal unless --force\n"
    "is given, and refuses to run without either.\n"
    "\n"
    "Options:\n"
    "      --force   do not ask for confirmation\n"
    "\n"
    "Exit status: 0 removed; 1 the removal failed, was refused or was not\n"
    "confirmed; 2 usage error, or no terminal to confirm on and no --force.\n";

static const char usage_member_list[] =
    "Usage: regentctl member list [-f pretty|tsv|json|yaml] [--url URL]...\n"
    "\n"
    "Show the servers of the Raft configuration, as the first member that answers\n"
    "sees it: Member and Raft role (Leader, Voter or Standby), then the Raft term,\n"
    "leader and log indexes. tsv, json and yaml add a Cluster column and leave the\n"
    "footer out.\n";

static const char usage_leadership[] =
    "Usage: regentctl leadership COMMAND [ARGS]...\n"
    "\n"
    "Manage the leadership of the Raft log (not the PostgreSQL primary).\n"
    "\n"
    "Commands:\n"
    "  transfer [NAME]   move Raft leadership to voter NAME, or to any other voter\n"
    "\n"
    "See \"regentctl leadership transfer --help\".\n";

static const char usage_leadership_transfer[] =
    "Usage: regentctl leadership transfer [NAME] [--url URL]...\n"
    "\n"
    "Move the leadership of the Raft log to voter NAME, or to another voter of the\n"
    "Raft leader's choosing when NAME is left out, and print the new Raft leader.\n"
    "\n"
    "This is Raft leadership only: the node that orders the replicated log. The\n"
    "PostgreSQL primary (the holder of the leader lease) stays where it is; moving\n"
    "it is a switchover.\n"
    "\n"
    "Exit status: 0 moved; 1 refused (NAME is not a voter, or leadership did not\n"
    "move) or failed; 2 usage error.\n";

void ctl_usage(FILE *fp, enum ctl_cmd cmd)
{
    const char *text = usage_main;
    switch (cmd) {
    case CTL_CMD_NONE:
        break;
    case CTL_CMD_VERSION:
        text = usage_version;
        break;
    case CTL_CMD_LIST:
        text = usage_list;
        break;
    case CTL_CMD_MEMBER:
        text = usage_member;
        break;
    case CTL_CMD_MEMBER_ADD:
        text = usage_member_add;
        break;
    case CTL_CMD_MEMBER_REMOVE:
        text = usage_member_remove;
        break;
    case CTL_CMD_MEMBER_LIST:
        text = usage_member_list;
        break;
    case CTL_CMD_LEADERSHIP:
        text = usage_leadership;
        break;
    case CTL_CMD_LEADERSHIP_TRANSFER:
        text = usage_leadership_transfer;
        break;
    }
    fputs(text, fp);
}
