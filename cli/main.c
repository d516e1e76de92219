/*
 * regentctl: the command-line client. It talks only to the members' REST
 * API (never to Raft directly). The cluster is found from, in order:
 * --url URL (repeatable) and -c CONFIG (an agent's YAML: its
 * restapi.connect_address); else $REGENTCTL_URL (comma-separated); else
 * http://127.0.0.1:8008. Each URL is tried in turn.
 *
 * The command line is ctl_args.c's; the commands are in ctl_list.c and
 * ctl_member.c. This file finds the cluster and dispatches.
 *
 * Exit status: 0 ok, 1 cluster unreachable or request failed, 2 usage.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cfg.h"
#include "agent/rg.h"
#include "agent/rg_log.h"
#include "cli/ctl.h"

/* restapi.connect_address of an agent's config as a base URL. */
static int url_from_config(struct ctl_opts *o, const char *path)
{
    char err[4096];
    struct cfg *cfg = NULL;
    if (cfg_load(path, CFG_AGENT, 0, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "regentctl: could not load \"%s\":\n%s\n", path, err);
        return -1;
    }
    const char *addr =
        cfg->restapi.connect_address != NULL ? cfg->restapi.connect_address : cfg->restapi.listen;
    if (addr == NULL) {
        fprintf(stderr, "regentctl: \"%s\" has no restapi.connect_address\n", path);
        cfg_free(cfg);
        return -1;
    }
    const char *colon = strrchr(addr, ':');
    const char *port = colon != NULL ? colon + 1 : "8008";
    size_t hlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)hlen, addr);
    /* A wildcard listen address is reached on loopback. */
    const char *h = host;
    if (host[0] == '\0' || strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        h = "127.0.0.1";
    } else if (strcmp(host, "[::]") == 0) {
        h = "[::1]";
    }
    char *url =
        rg_asprintf("%s://%s:%s", cfg->restapi.certfile != NULL ? "https" : "http", h, port);
    ctl_urls_add(o, url);
    rg_free(url);
    cfg_free(cfg);
    return 0;
}

static int cmd_list(struct ctl_opts *o)
{
    cJSON *cluster = NULL;
    char err[4096];
    if (ctl_get_json(o, "/cluster", &cluster, err, sizeof err) != 0) {
        fprintf(stderr, "regentctl: %s\n", err);
        return CTL_EXIT_FAIL;
    }
    ctl_print_cluster(stdout, cluster, o->format);
    cJSON_Delete(cluster);
    return CTL_EXIT_OK;
}

/* --url and -c, else $REGENTCTL_URL, else the default. */
static int find_cluster(struct ctl_opts *o)
{
    if (o->config != NULL && url_from_config(o, o->config) != 0) {
        return -1;
    }
    if (o->n_urls == 0 && getenv("REGENTCTL_URL") != NULL) {
        ctl_urls_add(o, getenv("REGENTCTL_URL"));
    }
    if (o->n_urls == 0) {
        ctl_urls_add(o, CTL_DEFAULT_URL);
    }
    return 0;
}

static int dispatch(struct ctl_args *a)
{
    if (a->cmd == CTL_CMD_VERSION) {
        printf("regentctl " REGENT_VERSION "\n");
        return CTL_EXIT_OK;
    }
    if (find_cluster(&a->o) != 0) {
        return CTL_EXIT_USAGE;
    }
    switch (a->cmd) {
    case CTL_CMD_LIST:
        return cmd_list(&a->o);
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

static int run(int argc, char **argv)
{
    struct ctl_args a;
    int rv = ctl_args_parse(&a, argc, argv, stderr);
    if (rv == CTL_EXIT_OK && a.help) {
        ctl_usage(stdout, a.cmd);
    } else if (rv == CTL_EXIT_OK) {
        rv = dispatch(&a);
    }
    ctl_args_close(&a);
    return rv;
}

int main(int argc, char **argv)
{
    /* cfg_load warns through rg_log: keep those on stderr, and quiet. */
    struct rg_log_options lo = {.level = RG_WARNING, .file_num = 1, .ident = "regentctl"};
    char err[RG_ERRMSG_SIZE];
    rg_log_configure(&lo, err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rv = run(argc, argv);
    curl_global_cleanup();
    rg_log_shutdown(1000);
    return rv;
}
