/*
 * ctl_run: from a parsed command line to the command that carries it out.
 * Everything but "version" without arguments and --help needs the cluster
 * found first (ctl_find_cluster: the URLs, credentials and TLS settings).
 */
#include "agent/rg.h"
#include "cli/ctl.h"

int ctl_run(struct ctl_args *a)
{
    if (a->help) {
        ctl_usage(a->io.out, a->cmd);
        return CTL_EXIT_OK;
    }
    if (a->cmd == CTL_CMD_VERSION && a->n_words == 0) {
        return ctl_cmd_version(a);
    }
    if (ctl_find_cluster(&a->o, a->io.err) != 0) {
        return CTL_EXIT_USAGE;
    }
    switch (a->cmd) {
    case CTL_CMD_VERSION:
        return ctl_cmd_version(a);
    case CTL_CMD_LIST:
    case CTL_CMD_TOPOLOGY:
        return ctl_cmd_list(a);
    case CTL_CMD_SWITCHOVER:
        return ctl_cmd_switchover(a);
    case CTL_CMD_FAILOVER:
        return ctl_cmd_failover(a);
    case CTL_CMD_RESTART:
        return ctl_cmd_restart(a);
    case CTL_CMD_RELOAD:
        return ctl_cmd_reload(a);
    case CTL_CMD_REINIT:
        return ctl_cmd_reinit(a);
    case CTL_CMD_FLUSH:
        return ctl_cmd_flush(a);
    case CTL_CMD_PAUSE:
    case CTL_CMD_RESUME:
        return ctl_cmd_pause(a);
    case CTL_CMD_SHOW_CONFIG:
        return ctl_cmd_show_config(a);
    case CTL_CMD_EDIT_CONFIG:
        return ctl_cmd_edit_config(a);
    case CTL_CMD_HISTORY:
        return ctl_cmd_history(a);
    case CTL_CMD_MEMBER_ADD:
        return ctl_cmd_member_add(a);
    case CTL_CMD_MEMBER_REMOVE:
        return ctl_cmd_member_remove(a);
    case CTL_CMD_MEMBER_LIST:
        return ctl_cmd_member_list(a);
    case CTL_CMD_LEADERSHIP_TRANSFER:
        return ctl_cmd_leadership_transfer(a);
    default:
        RG_ASSERT(!"ctl_args_parse() returned a group or no command");
        return CTL_EXIT_USAGE;
    }
}
