/*
 * rg_daemon: the command line, the configuration, the log, the loop and the
 * signals of a Regent daemon (see rg_daemon.h).
 *
 * Start: parse arguments; load the configuration (exit 2 with every problem
 * as FILE:LINE:COL: key: what); configure the log; make sure libuv's thread
 * pool is large enough for c-raft's disk writes (DESIGN.md, "One loop");
 * start the service; run the loop.
 *
 * Stop: the first SIGTERM/SIGINT (or a fatal error of the service) calls
 * ops->stop; once the service calls rg_daemon_stopped, the signal handles
 * close and the loop runs out. A second signal during the stop is only
 * logged: the stop is already bounded by the service's own deadlines.
 */
#include "agent/rg_daemon.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "agent/rg_log.h"

#define LOGM        "main"
#define ERRBUF_SIZE 16384

struct rg_daemon {
    const struct rg_daemon_ops *ops;
    void *app;
    uv_loop_t loop;
    struct cfg *cfg; /* owned */
    unsigned flags;  /* CFG_* used for every load */
    uv_signal_t sig_hup, sig_term, sig_int;
    bool stopping;
    int exit_code;
};

static void usage(FILE *fp, const char *prog)
{
    fprintf(fp,
            "usage: %s [--strict] [--config] FILE\n"
            "       %s [--strict] --validate-config [--config] FILE\n"
            "       %s --version | --help\n"
            "\n"
            "  -c, --config FILE        run with this configuration\n"
            "      --validate-config    print the effective configuration (secrets masked),\n"
            "                           or every error, and exit (0 valid, 2 invalid)\n"
            "      --strict             unknown configuration keys are errors, not warnings\n"
            "      --version            print the version and exit\n"
            "  -h, --help               this help\n",
            prog, prog, prog);
}

static void configure_log(const struct cfg *cfg, const char *prog)
{
    char err[RG_ERRMSG_SIZE] = "";
    struct rg_log_options lo = {
        .level = cfg->log.level,
        .dir = cfg->log.dir,
        .file_size = cfg->log.file_size,
        .file_num = cfg->log.file_num,
        .modules = cfg->log.modules,
        .n_modules = cfg->log.n_modules,
        .max_queue = cfg->log.max_queue_size,
        .ident = prog,
    };
    if (rg_log_configure(&lo, err) != 0) {
        rg_log(RG_ERROR, LOGM, "log: %s (the previous destination stays in force)", err);
    }
}

static void print_errors(const char *err)
{
    size_t n = strlen(err);
    fprintf(stderr, "%s%s", err, n > 0 && err[n - 1] != '\n' ? "\n" : "");
}

static int validate(const char *path, enum cfg_kind kind, unsigned flags)
{
    char *err = rg_malloc(ERRBUF_SIZE);
    struct cfg *cfg = NULL;
    int rv = cfg_load(path, kind, flags | CFG_QUIET, &cfg, err, ERRBUF_SIZE);
    if (rv != 0) {
        print_errors(err);
        rg_free(err);
        return 2;
    }
    if (cfg->warnings != NULL) {
        fprintf(stderr, "%s\n", cfg->warnings);
    }
    cJSON *j = cfg_to_json(cfg);
    char *text = cJSON_Print(j);
    printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(j);
    cfg_free(cfg);
    rg_free(err);
    return 0;
}

static void on_close_noop(uv_handle_t *h)
{
    (void)h;
}

void rg_daemon_stopped(struct rg_daemon *d)
{
    uv_close((uv_handle_t *)&d->sig_hup, on_close_noop);
    uv_close((uv_handle_t *)&d->sig_term, on_close_noop);
    uv_close((uv_handle_t *)&d->sig_int, on_close_noop);
}

static void begin_stop(struct rg_daemon *d, int code)
{
    if (d->stopping) {
        return;
    }
    d->stopping = true;
    d->exit_code = code;
    d->ops->stop(d);
}

void rg_daemon_fail(struct rg_daemon *d, int code)
{
    begin_stop(d, code);
}

static void on_term(uv_signal_t *h, int signum)
{
    struct rg_daemon *d = h->data;
    if (d->stopping) {
        rg_log(RG_INFO, LOGM, "%s: already stopping", strsignal(signum));
        return;
    }
    rg_log(RG_INFO, LOGM, "%s: stopping", strsignal(signum));
    begin_stop(d, 0);
}

static void on_hup(uv_signal_t *h, int signum)
{
    struct rg_daemon *d = h->data;
    char *err = rg_malloc(ERRBUF_SIZE);
    struct cfg *fresh = NULL;
    char fixed[1024];
    (void)signum;

    if (d->stopping) {
        rg_free(err);
        return;
    }
    /* Reading a small file on the loop: rare (operator-driven) and bounded. */
    int rv = cfg_load(d->cfg->path, d->ops->kind, d->flags, &fresh, err, ERRBUF_SIZE);
    if (rv != 0) {
        rg_log(RG_ERROR, LOGM,
               "SIGHUP: %s is invalid; the previous configuration stays in force:", d->cfg->path);
        for (char *line = strtok(err, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            rg_log(RG_ERROR, LOGM, "  %s", line);
        }
        rg_free(err);
        return;
    }
    rg_free(err);
    if (cfg_fixed_changes(d->cfg, fresh, fixed, sizeof fixed) > 0) {
        rg_log(RG_WARNING, LOGM,
               "SIGHUP: changed settings that take effect only after a restart: %s", fixed);
    }
    configure_log(fresh, d->ops->prog);
    if (d->ops->reload != NULL) {
        d->ops->reload(d, d->cfg, fresh);
    }
    cfg_free(d->cfg);
    d->cfg = fresh;
    rg_log(RG_INFO, LOGM, "SIGHUP: configuration reloaded from %s", fresh->path);
}

/* c-raft's disk writes share libuv's thread pool (DESIGN.md): at least 16. */
static void size_thread_pool(void)
{
    const char *v = getenv("UV_THREADPOOL_SIZE");
    if (v == NULL || atoi(v) < 16) {
        setenv("UV_THREADPOOL_SIZE", "16", 1);
    }
}

static int run(struct rg_daemon *d, const char *path)
{
    char *err = rg_malloc(ERRBUF_SIZE);
    int rv = cfg_load(path, d->ops->kind, d->flags, &d->cfg, err, ERRBUF_SIZE);
    if (rv != 0) {
        print_errors(err);
        rg_free(err);
        return 2;
    }
    configure_log(d->cfg, d->ops->prog);
    size_thread_pool();
    uv_loop_init(&d->loop);
    uv_signal_init(&d->loop, &d->sig_hup);
    uv_signal_init(&d->loop, &d->sig_term);
    uv_signal_init(&d->loop, &d->sig_int);
    d->sig_hup.data = d->sig_term.data = d->sig_int.data = d;
    uv_signal_start(&d->sig_hup, on_hup, SIGHUP);
    uv_signal_start(&d->sig_term, on_term, SIGTERM);
    uv_signal_start(&d->sig_int, on_term, SIGINT);
    rg_log(RG_INFO, LOGM, "%s %s starting: scope %s, member %s, configuration %s", d->ops->prog,
           REGENT_VERSION, d->cfg->scope, d->cfg->name, path);

    char errmsg[RG_ERRMSG_SIZE] = "";
    if (d->ops->start(d, d->cfg, errmsg) != 0) {
        rg_log(RG_ERROR, LOGM, "%s", errmsg);
        d->stopping = true;
        d->exit_code = 1;
        rg_daemon_stopped(d);
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d->loop) != 0) {
        rg_log(RG_WARNING, LOGM, "event loop closed with handles still open");
    }
    rg_log(RG_INFO, LOGM, "%s stopped", d->ops->prog);
    cfg_free(d->cfg);
    rg_free(err);
    return d->exit_code;
}

int rg_daemon_main(int argc, char **argv, const struct rg_daemon_ops *ops, void *app)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"validate-config", no_argument, NULL, 'V'},
        {"strict", no_argument, NULL, 's'},       {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct rg_daemon d = {.ops = ops, .app = app};
    const char *config = NULL;
    bool check = false;
    int c;

    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'V':
            check = true;
            break;
        case 's':
            d.flags |= CFG_STRICT;
            break;
        case 'v':
            printf("%s %s\n", ops->prog, REGENT_VERSION);
            return 0;
        case 'h':
            usage(stdout, ops->prog);
            return 0;
        default:
            usage(stderr, ops->prog);
            return 2;
        }
    }
    if (config == NULL && optind < argc) {
        config = argv[optind++]; /* "patroni /etc/patroni.yml" habit */
    }
    if (optind < argc || config == NULL) {
        usage(stderr, ops->prog);
        return 2;
    }
    int code = check ? validate(config, ops->kind, d.flags) : run(&d, config);
    rg_log_shutdown(2000);
    return code;
}

uv_loop_t *rg_daemon_loop(struct rg_daemon *d)
{
    return &d->loop;
}

void *rg_daemon_app(struct rg_daemon *d)
{
    return d->app;
}

const struct cfg *rg_daemon_cfg(struct rg_daemon *d)
{
    return d->cfg;
}
