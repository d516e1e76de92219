/*
 * regentctl: the command-line client. It talks only to the members' REST
 * API (never to Raft directly). The cluster is found from, in order:
 * --url URL (repeatable) and -c CONFIG (an agent's YAML: its
 * restapi.connect_address); else $REGENTCTL_URL (comma-separated); else
 * http://127.0.0.1:8008. Each URL is tried in turn.
 *
 * Exit status: 0 ok, 1 cluster unreachable or request failed, 2 usage.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cfg.h"
#include "agent/rg.h"
#include "agent/rg_log.h"
#include "cli/ctl.h"

#define CTL_DEFAULT_URL "http://127.0.0.1:8008"

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: regentctl [OPTIONS] COMMAND [ARGS]...\n"
                "\n"
                "Manage a Regent cluster through its members' REST API.\n"
                "\n"
                "Commands:\n"
                "  list      show the members of the cluster, their roles and lag\n"
                "  version   print the version of regentctl\n"
                "\n"
                "Options:\n"
                "  -c, --config FILE   an agent's YAML config: use its restapi.connect_address\n"
                "      --url URL       a member's REST API, e.g. http://127.0.0.1:8008\n"
                "                      (repeatable; default $REGENTCTL_URL, comma-separated,\n"
                "                      else " CTL_DEFAULT_URL ")\n"
                "  -f, --format FMT    output format: pretty (default), tsv, json, yaml\n"
                "      --timeout SEC   time allowed per request (default 5)\n"
                "  -h, --help          show this help (also: regentctl COMMAND --help)\n"
                "\n"
                "Exit status: 0 ok, 1 the cluster could not be reached or the request failed,\n"
                "2 usage error.\n");
}

static void usage_list(FILE *fp)
{
    fprintf(fp, "Usage: regentctl list [-f pretty|tsv|json|yaml] [--url URL]... [-c CONFIG]\n"
                "\n"
                "Show the members of the cluster as patronictl list does: Member, Host, Role,\n"
                "State, TL and Lag in MB, then one line of Raft facts (term, leader, voters,\n"
                "standbys). tsv, json and yaml add a Cluster column and leave the footers out.\n");
}

static void usage_version(FILE *fp)
{
    fprintf(fp, "Usage: regentctl version\n\nPrint the version of regentctl.\n");
}

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

enum { OPT_URL = 256, OPT_TIMEOUT };

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"url", required_argument, NULL, OPT_URL},
        {"format", required_argument, NULL, 'f'}, {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct ctl_opts o = {.format = CTL_PRETTY, .timeout_ms = 5000};
    bool help = false;
    int c;
    /* Options may come before or after the command (getopt permutes). */
    while ((c = getopt_long(argc, argv, "c:f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case OPT_URL:
            ctl_urls_add(&o, optarg);
            break;
        case 'f':
            if (parse_format(optarg, &o.format) != 0) {
                fprintf(stderr, "regentctl: unknown format \"%s\" (pretty, tsv, json, yaml)\n",
                        optarg);
                ctl_opts_free(&o);
                return CTL_EXIT_USAGE;
            }
            break;
        case OPT_TIMEOUT: {
            char *end;
            double secs = strtod(optarg, &end);
            if (*end != '\0' || secs <= 0 || secs > 3600) {
                fprintf(stderr, "regentctl: invalid --timeout \"%s\"\n", optarg);
                ctl_opts_free(&o);
                return CTL_EXIT_USAGE;
            }
            o.timeout_ms = (long)(secs * 1000);
            break;
        }
        case 'h':
            help = true;
            break;
        default:
            fprintf(stderr, "Try \"regentctl --help\".\n");
            ctl_opts_free(&o);
            return CTL_EXIT_USAGE;
        }
    }
    const char *cmd = optind < argc ? argv[optind] : NULL;
    int extra = optind < argc ? argc - optind - 1 : 0;
    int rv = CTL_EXIT_OK;
    if (cmd == NULL) {
        usage(help ? stdout : stderr);
        rv = help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    } else if (strcmp(cmd, "version") == 0) {
        if (help) {
            usage_version(stdout);
        } else if (extra > 0) {
            fprintf(stderr, "regentctl: version takes no arguments\n");
            rv = CTL_EXIT_USAGE;
        } else {
            printf("regentctl " REGENT_VERSION "\n");
        }
    } else if (strcmp(cmd, "list") == 0) {
        if (help) {
            usage_list(stdout);
        } else if (extra > 0) {
            fprintf(stderr, "regentctl: list takes no arguments (one cluster per URL set)\n");
            rv = CTL_EXIT_USAGE;
        } else {
            if (o.config != NULL && url_from_config(&o, o.config) != 0) {
                rv = CTL_EXIT_USAGE;
            } else {
                if (o.n_urls == 0 && getenv("REGENTCTL_URL") != NULL) {
                    ctl_urls_add(&o, getenv("REGENTCTL_URL"));
                }
                if (o.n_urls == 0) {
                    ctl_urls_add(&o, CTL_DEFAULT_URL);
                }
                rv = cmd_list(&o);
            }
        }
    } else {
        fprintf(stderr, "regentctl: unknown command \"%s\"\nTry \"regentctl --help\".\n", cmd);
        rv = CTL_EXIT_USAGE;
    }
    ctl_opts_free(&o);
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
