/*
 * ctl_help: the help texts, one per command ("regentctl COMMAND --help").
 * docs/regentctl.md says the same at more length; keep them in step.
 */
#include <stdio.h>

#include "cli/ctl.h"

static const char usage_main[] =
    "Usage: regentctl [OPTIONS] COMMAND [ARGS]...\n"
    "\n"
    "Manage a Regent cluster through its members' REST API, as patronictl does.\n"
    "\n"
    "Commands:\n"
    "  list [CLUSTER]                 the members, their roles, state and lag\n"
    "  topology [CLUSTER]             the same as a tree of who streams from whom\n"
    "  switchover [CLUSTER]           move the primary to a replica (planned)\n"
    "  failover [CLUSTER]             promote a replica now\n"
    "  restart [CLUSTER] [MEMBER]...  restart PostgreSQL on members\n"
    "  reload [CLUSTER] [MEMBER]...   reload the configuration of members\n"
    "  reinit [CLUSTER] MEMBER...     rebuild replicas from a fresh base backup\n"
    "  flush [CLUSTER] [MEMBER]... restart|switchover\n"
    "                                 cancel scheduled restarts or the switchover\n"
    "  pause [CLUSTER]                maintenance mode: no automatic failover\n"
    "  resume [CLUSTER]               end maintenance mode\n"
    "  show-config [CLUSTER]          the dynamic configuration, as YAML\n"
    "  edit-config [CLUSTER]          change the dynamic configuration\n"
    "  history [CLUSTER]              the failovers and switchovers so far\n"
    "  version [CLUSTER [MEMBER]...]  the versions of regentctl (and the members)\n"
    "  member add ADDRESS             invite a new node into the Raft cluster\n"
    "  member remove NAME             remove a member from the cluster\n"
    "  member list                    the Raft voters and standbys\n"
    "  leadership transfer [NAME]     move Raft leadership (not the primary)\n"
    "\n"
    "CLUSTER, when given, must be the cluster's name (its scope): the URLs\n"
    "choose the cluster.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   an agent's YAML config or a ctl one: its REST address\n"
    "                      (ctl.urls, restapi.connect_address), credentials and\n"
    "                      TLS settings (default $REGENTCTL_CONFIG_FILE)\n"
    "      --url URL       a member's REST API, e.g. http://127.0.0.1:8008\n"
    "                      (repeatable; default $REGENTCTL_URL, comma-separated,\n"
    "                      else " CTL_DEFAULT_URL ")\n"
    "  -k, --insecure      do not check the members' TLS certificates\n"
    "  -f, --format FMT    pretty (default), tsv, json or yaml: list, topology,\n"
    "                      history, member list; yaml or json: show-config\n"
    "      --timeout SEC   time allowed per request (default 5; 15 for requests\n"
    "                      that change the cluster, 60 for switchover and failover)\n"
    "  -h, --help          show this help (also: regentctl COMMAND --help)\n"
    "\n"
    "Environment: REGENTCTL_URL, REGENTCTL_CONFIG_FILE, REGENTCTL_USERNAME,\n"
    "REGENTCTL_PASSWORD, REGENTCTL_CACERT, REGENTCTL_CERTFILE, REGENTCTL_KEYFILE,\n"
    "REGENTCTL_KEYFILE_PASSWORD, REGENTCTL_INSECURE, EDITOR.\n"
    "\n"
    "Exit status: 0 done, 1 refused or failed (the cluster could not be\n"
    "reached, a member refused), 2 usage error.\n";

#define FORMAT_OPT "  -f, --format FMT   pretty (default), tsv, json or yaml\n"

static const char usage_list[] =
    "Usage: regentctl list [CLUSTER] [-e] [-t] [-W | -w SEC] [-f FMT]\n"
    "\n"
    "Show the members as patronictl 4.0's list does: Member, Host, Role, State,\n"
    "TL and Lag in MB, then Pending restart, Pending restart reason, Scheduled\n"
    "restart and Tags when -e is given or a member has one. The top border names\n"
    "the cluster and its system identifier; the footers say whether the cluster\n"
    "is paused and when a switchover is scheduled; the last line is Raft's.\n"
    "tsv, json and yaml add a Cluster column and leave the footers out.\n"
    "\n"
    "Options:\n"
    "  -e, --extended     show the extra columns even when empty\n"
    "  -t, --timestamp    print the time first\n"
    "  -W                 refresh every 2 seconds, until interrupted\n"
    "  -w, --watch SEC    refresh every SEC seconds\n" FORMAT_OPT;

static const char usage_topology[] =
    "Usage: regentctl topology [CLUSTER] [-e] [-t] [-W | -w SEC] [-f FMT]\n"
    "\n"
    "The table of list, with each replica under the member it streams from\n"
    "(its replicatefrom tag, else the leader), indented \"+ name\". tsv, json and\n"
    "yaml keep the tree's order and name each member's upstream instead.\n"
    "\n"
    "Options: as list.\n";

static const char usage_switchover[] =
    "Usage: regentctl switchover [CLUSTER] [--leader NAME] [--candidate NAME]\n"
    "                            [--scheduled TIME|now] [--force]\n"
    "\n"
    "Move the primary to a replica: the leader stops cleanly and hands over to the\n"
    "candidate (any healthy replica when none is named). Prints the topology, asks\n"
    "for what is missing (leader: the current one; candidate: empty for any;\n"
    "when: now) and for confirmation, then POST /switchover and the new topology.\n"
    "\n"
    "Options:\n"
    "      --leader NAME, --primary NAME   the current leader\n"
    "      --candidate NAME                the member to promote\n"
    "      --scheduled TIME                ISO 8601 (a time without a zone is\n"
    "                                      local), or now\n"
    "      --force                         ask nothing: use the defaults\n";

static const char usage_failover[] =
    "Usage: regentctl failover [CLUSTER] --candidate NAME [--force]\n"
    "\n"
    "Promote the candidate now, also when the cluster has no healthy primary.\n"
    "Without --force, asks for the candidate and for confirmation.\n"
    "\n"
    "Options:\n"
    "      --candidate NAME   the member to promote (required with --force)\n"
    "      --force            ask nothing: use the defaults\n";

static const char usage_restart[] =
    "Usage: regentctl restart [CLUSTER] [MEMBER]... [-r ROLE] [--any] [--pending]\n"
    "                         [--pg-version V] [--scheduled TIME|now]\n"
    "                         [--timeout SEC] [--force]\n"
    "\n"
    "Restart PostgreSQL on the members named (default: every member with ROLE).\n"
    "Without --force, asks when and for which older version, and confirms.\n"
    "\n"
    "Options:\n"
    "  -r, --role ROLE       leader, primary, standby-leader, replica, standby,\n"
    "                        any (default)\n"
    "      --any             one member only, picked at random\n"
    "      --pending         only the members whose restart is pending\n"
    "      --pg-version V    only if their PostgreSQL is older than V (X.Y[.Z])\n"
    "      --scheduled TIME  ISO 8601, or now\n"
    "      --timeout SEC     report a failure when PostgreSQL is not back within\n"
    "                        SEC; the request waits 30 s more\n"
    "      --force           ask nothing (and replace a restart already scheduled)\n";

static const char usage_reload[] =
    "Usage: regentctl reload [CLUSTER] [MEMBER]... [-r ROLE] [--force]\n"
    "\n"
    "Ask the members to reload their configuration (as SIGHUP would).\n"
    "\n"
    "Options:\n"
    "  -r, --role ROLE   leader, primary, standby-leader, replica, standby, any\n"
    "      --force       ask nothing: use the defaults\n";

static const char usage_reinit[] =
    "Usage: regentctl reinit [CLUSTER] MEMBER... [--from-leader] [--wait [SEC]]\n"
    "                        [--force]\n"
    "\n"
    "Rebuild replicas: stop PostgreSQL, empty the data directory and clone it\n"
    "again. Without --force, asks which member and confirms; an action already in\n"
    "progress is cancelled only when confirmed (or with --force).\n"
    "\n"
    "Options:\n"
    "      --from-leader   clone from the leader, not a clonefrom member\n"
    "      --wait [SEC]    wait until PostgreSQL runs again (at most SEC, default\n"
    "                      30)\n"
    "      --force         ask nothing: use the defaults\n";

static const char usage_flush[] =
    "Usage: regentctl flush [CLUSTER] [MEMBER]... restart|switchover [-r ROLE]\n"
    "                       [--force]\n"
    "\n"
    "restart: cancel the restarts scheduled on the members (DELETE /restart).\n"
    "switchover: cancel the scheduled switchover (DELETE /switchover).\n"
    "\n"
    "Options:\n"
    "  -r, --role ROLE   restart: only members with this role\n"
    "      --force       ask nothing: use the defaults\n";

static const char usage_pause[] =
    "Usage: regentctl pause [CLUSTER] [--wait [SEC]]\n"
    "       regentctl resume [CLUSTER] [--wait [SEC]]\n"
    "\n"
    "pause puts the cluster in maintenance mode: the agents keep reporting and\n"
    "hold the lease, but do nothing to PostgreSQL by themselves (no failover).\n"
    "resume ends it. An error when the cluster already is in that state.\n"
    "\n"
    "Options:\n"
    "      --wait [SEC]   wait until every member reports the new state (at most\n"
    "                     SEC seconds, default 30)\n";

static const char usage_show_config[] =
    "Usage: regentctl show-config [CLUSTER] [-f yaml|json]\n"
    "\n"
    "Print the dynamic configuration (GET /config) as YAML, keys sorted, or as\n"
    "JSON. Passwords show as ******.\n";

static const char usage_edit_config[] =
    "Usage: regentctl edit-config [CLUSTER] [-q] [-s KEY=VALUE]... [-p GUC=VALUE]...\n"
    "                             [--apply FILE|-] [--replace FILE|-] [--force]\n"
    "\n"
    "Change the dynamic configuration. Without -s, -p, --apply or --replace,\n"
    "opens it in $EDITOR (else editor, else vi). Shows the change as a unified\n"
    "diff and asks before applying it, which is conditional on the version read:\n"
    "a concurrent change aborts it.\n"
    "\n"
    "Options:\n"
    "  -s, --set KEY=VALUE  set a dotted path to a YAML value (null deletes)\n"
    "  -p, --pg GUC=VALUE   -s postgresql.parameters.GUC=VALUE (GUC may hold dots)\n"
    "      --apply FILE     merge a YAML file in (- for standard input)\n"
    "      --replace FILE   replace the whole configuration (- for standard input)\n"
    "  -q, --quiet          do not show the diff\n"
    "      --force          apply without asking (needed with -)\n";

static const char usage_history[] =
    "Usage: regentctl history [CLUSTER] [-f FMT]\n"
    "\n"
    "The timeline switches: TL, LSN, Reason, Timestamp and New Leader. json and\n"
    "yaml add Regent's \"Unavailable (ms)\" when the member recorded it.\n"
    "\n"
    "Options:\n" FORMAT_OPT;

static const char usage_version[] =
    "Usage: regentctl version [CLUSTER [MEMBER]...]\n"
    "\n"
    "Print the version of regentctl and, given the cluster's name (or members'),\n"
    "the Regent and PostgreSQL versions of its members.\n";

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
    static const char *const texts[] = {
        [CTL_CMD_NONE] = usage_main,
        [CTL_CMD_VERSION] = usage_version,
        [CTL_CMD_LIST] = usage_list,
        [CTL_CMD_TOPOLOGY] = usage_topology,
        [CTL_CMD_SWITCHOVER] = usage_switchover,
        [CTL_CMD_FAILOVER] = usage_failover,
        [CTL_CMD_RESTART] = usage_restart,
        [CTL_CMD_RELOAD] = usage_reload,
        [CTL_CMD_REINIT] = usage_reinit,
        [CTL_CMD_FLUSH] = usage_flush,
        [CTL_CMD_PAUSE] = usage_pause,
        [CTL_CMD_RESUME] = usage_pause,
        [CTL_CMD_SHOW_CONFIG] = usage_show_config,
        [CTL_CMD_EDIT_CONFIG] = usage_edit_config,
        [CTL_CMD_HISTORY] = usage_history,
        [CTL_CMD_MEMBER] = usage_member,
        [CTL_CMD_MEMBER_ADD] = usage_member_add,
        [CTL_CMD_MEMBER_REMOVE] = usage_member_remove,
        [CTL_CMD_MEMBER_LIST] = usage_member_list,
        [CTL_CMD_LEADERSHIP] = usage_leadership,
        [CTL_CMD_LEADERSHIP_TRANSFER] = usage_leadership_transfer,
    };
    const char *text = (size_t)cmd < sizeof texts / sizeof texts[0] ? texts[cmd] : NULL;
    fputs(text != NULL ? text : usage_main, fp);
}
