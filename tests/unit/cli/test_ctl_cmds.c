/*
 * The commands end to end, against fake members that answer as the REST
 * contract says (Patroni's bodies, codes and texts): what regentctl sends,
 * to which member, what it asks and what it prints, and its exit status.
 * Three fakes play node1 (the leader), node2 (a replica) and node3 (a
 * replica tagged nofailover); GET /cluster names them by their URLs.
 */
#define _GNU_SOURCE /* strcasestr, asprintf, open_memstream */

/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <curl/curl.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"
#include "ctl_helpers.h"

static const char cluster_tmpl[] =
    "{\"members\":["
    "{\"name\":\"node1\",\"role\":\"leader\",\"state\":\"running\",\"api_url\":\"@1@/patroni\","
    "\"host\":\"127.0.0.1\",\"port\":5432,\"timeline\":2,\"pending_restart\":true},"
    "{\"name\":\"node2\",\"role\":\"replica\",\"state\":\"streaming\",\"api_url\":\"@2@/patroni\","
    "\"host\":\"127.0.0.2\",\"port\":5432,\"timeline\":2,\"lag\":0,"
    "\"scheduled_restart\":{\"schedule\":\"2030-01-01T10:00:00+00:00\"}},"
    "{\"name\":\"node3\",\"role\":\"replica\",\"state\":\"streaming\",\"api_url\":\"@3@/patroni\","
    "\"host\":\"127.0.0.3\",\"port\":5432,\"timeline\":2,\"lag\":0,"
    "\"tags\":{\"nofailover\":true}}],"
    "\"scope\":\"demo\",\"system_identifier\":\"7000000000000000001\"%s}";

struct env {
    struct fake f[3];
    struct fake *fp[3];
    char *cluster; /* GET /cluster's answer */
};

/* Three fakes (not started) and the cluster document; @extra goes at the
 * end of it (",\"pause\":true"). */
static void env_open(struct env *e, const char *extra)
{
    for (int i = 0; i < 3; i++) {
        fake_open(&e->f[i]);
        e->fp[i] = &e->f[i];
    }
    char *tmpl;
    if (asprintf(&tmpl, cluster_tmpl, extra != NULL ? extra : "") < 0) {
        abort();
    }
    e->cluster = subst(tmpl, e->fp, 3);
    free(tmpl);
    fake_route(&e->f[0], "GET", "/cluster", 200, e->cluster);
}

static void env_start(struct env *e)
{
    for (int i = 0; i < 3; i++) {
        fake_start(&e->f[i]);
    }
}

/* Stop the fakes; their request logs stay until env_free. */
static void env_stop(struct env *e)
{
    for (int i = 0; i < 3; i++) {
        fake_close_keep(&e->f[i]);
    }
}

static void env_free(struct env *e)
{
    for (int i = 0; i < 3; i++) {
        free(e->f[i].log);
    }
    free(e->cluster);
}

static void assert_has(const char *text, const char *want)
{
    if (strstr(text, want) == NULL) {
        fail_msg("\"%s\" is not in:\n%s", want, text);
    }
}

static void assert_lacks(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted) != NULL) {
        fail_msg("\"%s\" should not be in:\n%s", unwanted, text);
    }
}

/* --- reading ------------------------------------------------------------------------ */

static void test_list_checks_the_cluster_name(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    env_start(&e);
    struct cmd_result r = RUN(NULL, "list", "demo", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_has(r.out, "+ Cluster: demo (7000000000000000001) -");
    assert_has(r.out, "| node3  | 127.0.0.3 | Replica | streaming |  2 |         0 | "
                      "                |                           | nofailover: true |\n");
    result_free(&r);

    r = RUN(NULL, "list", "other", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    char want[256];
    snprintf(want, sizeof want, "Error: the members at %s serve cluster \"demo\", not \"other\"\n",
             e.f[0].url);
    assert_string_equal(r.err, want);
    assert_string_equal(r.out, "");
    result_free(&r);

    /* -t, and -w bounded by --watch-count. */
    r = RUN(NULL, "topology", "-t", "-w", "0.05", "--watch-count", "2", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    const char *second = strstr(r.out + 1, "+ Cluster: demo");
    assert_non_null(second);
    assert_non_null(strstr(second + 1, "+ Cluster: demo"));
    assert_has(r.out, "| + node2 |");
    assert_true(r.out[4] == '-' && r.out[10] == ' '); /* "YYYY-MM-DD HH:MM:SS" first */
    result_free(&r);
    env_stop(&e);
    env_free(&e);
}

static void test_history_show_config_version(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route(&e.f[0], "GET", "/history", 200,
               "[[1,25623960,\"no recovery target specified\",\"2024-04-30T16:57:57+00:00\","
               "\"node2\"]]");
    fake_route_n(&e.f[0], "GET", "/config", 200, "ETag: \"4\"\r\n",
                 "{\"ttl\":30,\"loop_wait\":10,\"postgresql\":{\"parameters\":{\"max_connections\":"
                 "100}},\"restapi\":{\"authentication\":{\"password\":\"******\"}}}",
                 0);
    static const char patroni[] = "{\"state\":\"running\",\"server_version\":150004,"
                                  "\"patroni\":{\"version\":\"0.1.0\",\"scope\":\"demo\"}}";
    fake_route(&e.f[0], "GET", "/patroni", 200, patroni);
    fake_route(&e.f[1], "GET", "/patroni", 200, patroni);
    env_start(&e);
    struct cmd_result r = RUN(NULL, "history", "-f", "tsv", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "TL\tLSN\tReason\tTimestamp\tNew Leader\n"
                               "1\t25623960\tno recovery target specified\t"
                               "2024-04-30T16:57:57+00:00\tnode2\n");
    result_free(&r);

    r = RUN(NULL, "show-config", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "loop_wait: 10\n"
                               "postgresql:\n"
                               "  parameters:\n"
                               "    max_connections: 100\n"
                               "restapi:\n"
                               "  authentication:\n"
                               "    password: '******'\n"
                               "ttl: 30\n");
    result_free(&r);

    r = RUN(NULL, "show-config", "-f", "json", "--url", e.f[0].url);
    assert_has(r.out, "{\"ttl\":30,\"loop_wait\":10,");
    result_free(&r);

    r = RUN(NULL, "version", "demo", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL); /* node3 has no /patroni route */
    assert_string_equal(r.out, "regentctl version " REGENT_VERSION "\n\n"
                               "node1: Regent 0.1.0 PostgreSQL 15.4\n"
                               "node2: Regent 0.1.0 PostgreSQL 15.4\n"
                               "node3: failed to get version: HTTP status 404\n");
    result_free(&r);

    r = RUN(NULL, "version", "node2", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "regentctl version " REGENT_VERSION "\n\n"
                               "node2: Regent 0.1.0 PostgreSQL 15.4\n");
    result_free(&r);
    env_stop(&e);
    env_free(&e);
}

/* --- switchover and failover ---------------------------------------------------------- */

static void test_switchover_force_asks_nothing(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route(&e.f[0], "POST", "/switchover", 200, "Successfully switched over to \"node2\"");
    env_start(&e);
    /* The first URL cannot be reached: the member that answered is used. */
    struct cmd_result r =
        RUN("", "switchover", "--force", "--url", "http://127.0.0.1:1", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_true(strncmp(r.out, "Current cluster topology\n+ Cluster: demo", 40) == 0);
    assert_has(r.out, " Successfully switched over to \"node2\"\n+ Cluster: demo");
    assert_lacks(r.out, "[y/N]");
    assert_string_equal(r.err, "");
    result_free(&r);
    env_stop(&e);
    assert_has(e.f[0].log, "POST /switchover\n{\"leader\":\"node1\"}\n");
    env_free(&e);
}

static void test_switchover_prompts_with_defaults(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route(&e.f[0], "POST", "/switchover", 200, "Successfully switched over to \"node2\"");
    env_start(&e);
    /* leader: default; candidate: node2; when: default (now); yes. */
    struct cmd_result r = RUN("\nnode2\n\ny\n", "switchover", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_has(r.out, "Primary [node1]: Candidate ['node2'] []: When should the switchover take "
                      "place (e.g. ");
    assert_has(r.out, " )  [now]: Are you sure you want to switchover cluster demo, demoting "
                      "current leader node1? [y/N]: ");
    result_free(&r);

    /* A schedule, given as an option. */
    r = RUN("y\n", "switchover", "--candidate", "node2", "--leader", "node1", "--scheduled",
            "2030-01-01T10:00+00:00", "--url", e.f[0].url);
    assert_has(r.out, "Are you sure you want to schedule switchover of cluster demo at "
                      "2030-01-01T10:00:00+00:00, demoting current leader node1? [y/N]: ");
    result_free(&r);
    env_stop(&e);
    assert_has(e.f[0].log, "POST /switchover\n{\"leader\":\"node1\",\"candidate\":\"node2\"}\n");
    assert_has(e.f[0].log, "POST /switchover\n{\"leader\":\"node1\",\"candidate\":\"node2\","
                           "\"scheduled_at\":\"2030-01-01T10:00:00+00:00\"}\n");
    env_free(&e);
}

static void test_switchover_refusals(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, ",\"pause\":true");
    fake_route(&e.f[0], "POST", "/switchover", 412, "candidate does not exists");
    env_start(&e);
    static const struct {
        const char *input;
        const char *args[4];
        const char *err;
    } cases[] = {
        {"",
         {"--candidate", "node3", "--force", NULL},
         "Error: Member node3 does not exist in cluster demo or is tagged as nofailover\n"},
        {"",
         {"--candidate", "node1", "--force", NULL},
         "Error: Member node1 is already the leader of cluster demo\n"},
        {"",
         {"--leader", "node2", "--force", NULL},
         "Error: Member node2 is not the leader of cluster demo\n"},
        {"\n\n\nn\n", {NULL}, "Error: Aborting switchover\n"},
        {"", {NULL}, "Error: Aborted\n"}, /* end of input at the first prompt */
        {"",
         {"--scheduled", "2030-01-01T10:00Z", "--force", NULL},
         "Error: Can't schedule switchover in the paused state\n"},
        {"\n\nlater\n",
         {NULL},
         "Error: Unable to parse scheduled timestamp (later). It should be in an unambiguous "
         "format (e.g. ISO 8601)\n"},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        char *argv[12] = {"switchover", "--url", e.f[0].url};
        size_t n = 3;
        for (size_t k = 0; cases[i].args[k] != NULL; k++) {
            argv[n++] = (char *)cases[i].args[k];
        }
        struct cmd_result r = run_argv(cases[i].input, argv);
        assert_int_equal(r.rc, CTL_EXIT_FAIL);
        assert_string_equal(r.err, cases[i].err);
        result_free(&r);
    }
    /* The member refuses: its code and text, no new topology. */
    struct cmd_result r = RUN("", "switchover", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_has(r.out, "\nSwitchover failed, details: 412, candidate does not exists\n");
    assert_null(strstr(strstr(r.out, "Switchover failed"), "+ Cluster"));
    result_free(&r);
    env_stop(&e);
    /* Only the last one was sent. */
    const char *first = strstr(e.f[0].log, "POST /switchover");
    assert_non_null(first);
    assert_null(strstr(first + 1, "POST /switchover"));
    env_free(&e);
}

static void test_failover(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route(&e.f[0], "POST", "/failover", 200, "Successfully failed over to \"node2\"");
    env_start(&e);
    struct cmd_result r =
        RUN("", "failover", "--candidate", "node2", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_has(r.out, " Successfully failed over to \"node2\"\n");
    result_free(&r);

    r = RUN("node2\ny\n", "failover", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_has(r.out, "Candidate ['node2'] []: Are you sure you want to failover cluster demo, "
                      "demoting current leader node1? [y/N]: ");
    result_free(&r);

    r = RUN("\n", "failover", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_string_equal(r.err, "Error: Failover could be performed only to a specific candidate\n");
    result_free(&r);
    env_stop(&e);
    assert_has(e.f[0].log, "POST /failover\n{\"candidate\":\"node2\"}\n");
    env_free(&e);
}

/* --- per-member commands -------------------------------------------------------------- */

static void test_restart_messages_per_member(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route(&e.f[0], "POST", "/restart", 503, "restart conditions are not satisfied");
    fake_route(&e.f[1], "POST", "/restart", 200, "restarted successfully");
    fake_route(&e.f[2], "POST", "/restart", 409, "Failed: another restart is already scheduled");
    env_start(&e);
    struct cmd_result r = RUN("", "restart", "demo", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_has(r.out, "-+\n"
                      "Failed: restart for member node1, status code=503, (restart conditions "
                      "are not satisfied)\n"
                      "Success: restart on member node2\n"
                      "Failed: another restart is already scheduled on member node3\n");
    result_free(&r);

    /* Each member's own API; only the one named. */
    r = RUN("", "restart", "node2", "--pg-version", "15.4", "--timeout", "30", "--force", "--url",
            e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    result_free(&r);

    r = RUN("", "restart", "-r", "replica", "--pending", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_has(r.out, "No member is pending a restart\n"); /* only node1 is, and it leads */
    result_free(&r);

    r = RUN("", "restart", "nodeX", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_string_equal(r.err, "Error: nodeX is not a member of cluster demo\n");
    result_free(&r);
    env_stop(&e);
    assert_has(e.f[1].log, "POST /restart\n{}\n");
    assert_has(e.f[1].log, "POST /restart\n{\"postgres_version\":\"15.4\",\"timeout\":30}\n");
    const char *n1 = e.f[0].log;
    assert_non_null(strstr(n1, "POST /restart\n{}\n"));
    assert_null(strstr(strstr(n1, "POST /restart") + 1, "POST /restart")); /* once */
    env_free(&e);
}

static void test_restart_asks_when_and_version(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route(&e.f[1], "DELETE", "/restart", 200, "scheduled restart deleted");
    fake_route(&e.f[1], "POST", "/restart", 202, "Restart scheduled");
    env_start(&e);
    struct cmd_result r =
        RUN("2030-06-01T12:00\ny\n15.6\n", "restart", "node2", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_has(r.out, "When should the restart take place (e.g. ");
    assert_has(r.out, ")  [now]: Are you sure you want to schedule restart of members node2 at "
                      "2030-06-01 12:00:00+00:00? [y/N]: Restart if the PostgreSQL version is "
                      "less than provided (e.g. 9.5.2)  []: Success: restart scheduled on member "
                      "node2\n");
    result_free(&r);

    /* --force with a schedule replaces the restart already scheduled. */
    r = RUN("", "restart", "node2", "--scheduled", "2030-06-01T12:00Z", "--force", "--url",
            e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    result_free(&r);

    r = RUN("now\nn\n", "restart", "node2", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_string_equal(r.err, "Error: Aborted restart\n");
    result_free(&r);
    env_stop(&e);
    assert_has(e.f[1].log,
               "POST /restart\n{\"postgres_version\":\"15.6\",\"schedule\":"
               "\"2030-06-01T12:00:00+00:00\"}\nDELETE /restart\nPOST /restart\n{\"schedule\":"
               "\"2030-06-01T12:00:00+00:00\"}\n");
    env_free(&e);
}

static void test_reload_and_flush(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, ",\"scheduled_switchover\":{\"at\":\"2030-01-01T10:00:00+00:00\"}");
    fake_route_n(&e.f[0], "GET", "/config", 200, NULL, "{\"loop_wait\":5}", 0);
    fake_route(&e.f[0], "POST", "/reload", 202, "reload scheduled");
    fake_route(&e.f[1], "POST", "/reload", 200, "nothing to do");
    fake_route(&e.f[2], "POST", "/reload", 500, "boom");
    fake_route(&e.f[0], "DELETE", "/switchover", 200, "scheduled switchover deleted");
    fake_route(&e.f[1], "DELETE", "/restart", 200, "scheduled restart deleted");
    env_start(&e);
    struct cmd_result r = RUN("y\n", "reload", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_has(r.out, "Are you sure you want to reload members node1, node2, node3? [y/N]: "
                      "Reload request received for member node1 and will be processed within 5 "
                      "seconds\nNo changes to apply on member node2\n"
                      "Failed: reload for member node3, status code=500, (boom)\n");
    result_free(&r);

    r = RUN("", "flush", "switchover", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "Success: scheduled switchover deleted\n");
    result_free(&r);

    r = RUN("", "flush", "demo", "restart", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_has(r.out, "No scheduled restart for member node1\n"
                      "Success: flush scheduled restart for member node2\n"
                      "No scheduled restart for member node3\n");
    result_free(&r);
    env_stop(&e);
    assert_has(e.f[1].log, "DELETE /restart\n");
    env_free(&e);

    env_open(&e, NULL);
    env_start(&e);
    r = RUN("", "flush", "switchover", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "No pending scheduled switchover\n");
    result_free(&r);
    env_stop(&e);
    env_free(&e);
}

static void test_reinit_waits_for_a_new_postmaster(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route_n(&e.f[1], "GET", "/patroni", 200, NULL,
                 "{\"state\":\"running\",\"postmaster_start_time\":\"t1\"}", 2);
    fake_route_n(&e.f[1], "GET", "/patroni", 200, NULL, "{\"state\":\"creating replica\"}", 1);
    fake_route(&e.f[1], "GET", "/patroni", 200,
               "{\"state\":\"running\",\"postmaster_start_time\":\"t2\"}");
    fake_route(&e.f[1], "POST", "/reinitialize", 200, "reinitialize started");
    fake_route_n(&e.f[2], "POST", "/reinitialize", 503, NULL, "restart already in progress", 1);
    fake_route(&e.f[2], "POST", "/reinitialize", 200, "reinitialize started");
    env_start(&e);
    struct cmd_result r =
        RUN("", "reinit", "node2", "--from-leader", "--force", "--wait", "10", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_has(r.out, "Success: reinitialize for member node2\n"
                      "Waiting for reinitialize to complete on: node2\n"
                      "Reinitialize is completed on: node2\n");
    result_free(&r);

    /* Busy: asked whether to cancel, then sent again with force. */
    r = RUN("y\ny\n", "reinit", "node3", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_has(r.out, "Are you sure you want to reinitialize members node3? [y/N]: "
                      "Failed: reinitialize for member node3, status code=503, (restart already "
                      "in progress)\nDo you want to cancel it and reinitialize anyway? [y/N]: "
                      "Success: reinitialize for member node3\n");
    result_free(&r);

    r = RUN("", "reinit", "node1", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_string_equal(r.err, "Error: No replica among provided members\n");
    result_free(&r);

    r = RUN("node2\nn\n", "reinit", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_has(r.out, "Which member do you want to reinitialize [node2, node3]? []: ");
    assert_string_equal(r.err, "Error: Aborted reinitialize\n");
    result_free(&r);
    env_stop(&e);
    assert_has(e.f[1].log, "POST /reinitialize\n{\"force\":true,\"from_leader\":true}\n");
    assert_has(e.f[2].log, "POST /reinitialize\n{\"force\":false,\"from_leader\":false}\n"
                           "POST /reinitialize\n{\"force\":true,\"from_leader\":false}\n");
    env_free(&e);
}

/* --- pause, resume --------------------------------------------------------------------- */

static void test_pause_and_resume(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route(&e.f[0], "PATCH", "/config", 200, "{\"pause\":true}");
    fake_route(&e.f[0], "GET", "/patroni", 200, "{\"state\":\"running\",\"pause\":true}");
    fake_route(&e.f[1], "GET", "/patroni", 200, "{\"state\":\"running\",\"pause\":true}");
    /* node3 never answers /patroni: named, but not a failure. */
    env_start(&e);
    struct cmd_result r = RUN("", "pause", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "Success: cluster management is paused\n");
    result_free(&r);

    r = RUN("", "pause", "--wait", "1", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "'pause' request sent, waiting until it is recognized by all "
                               "nodes\nSuccess: cluster management is paused\n");
    assert_string_equal(r.err, "regentctl: node3 did not answer: its state is unknown\n");
    result_free(&r);

    r = RUN("", "resume", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_string_equal(r.err, "Error: Cluster is not paused\n");
    result_free(&r);
    env_stop(&e);
    assert_has(e.f[0].log, "PATCH /config\n{\"pause\":true}\n");
    env_free(&e);

    env_open(&e, ",\"pause\":true");
    fake_route(&e.f[0], "PATCH", "/config", 200, "{}");
    fake_route(&e.f[0], "GET", "/patroni", 200, "{\"state\":\"running\",\"pause\":true}");
    fake_route(&e.f[1], "GET", "/patroni", 200, "{\"state\":\"running\"}");
    env_start(&e);
    r = RUN("", "pause", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_string_equal(r.err, "Error: Cluster is already paused\n");
    result_free(&r);

    r = RUN("", "resume", "--wait", "0.5", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_has(r.out, "node1 members didn't recognized pause state after 0.5 seconds\n");
    result_free(&r);
    env_stop(&e);
    assert_has(e.f[0].log, "PATCH /config\n{\"pause\":null}\n");
    env_free(&e);
}

/* --- edit-config ------------------------------------------------------------------------- */

static const char config_json[] =
    "{\"loop_wait\":10,\"ttl\":30,\"postgresql\":{\"parameters\":{\"max_connections\":100}},"
    "\"restapi\":{\"authentication\":{\"username\":\"api\",\"password\":\"******\"}}}";

static void test_edit_config_set_and_pg(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route_n(&e.f[0], "GET", "/config", 200, "ETag: \"3\"\r\n", config_json, 0);
    fake_route_n(&e.f[0], "PATCH", "/config", 200, NULL, "{}", 1);
    fake_route(&e.f[0], "PATCH", "/config", 409, "config changed");
    env_start(&e);
    struct cmd_result r = RUN("", "edit-config", "-s", "loop_wait=5", "-p", "work_mem=8MB",
                              "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "--- \n"
                               "+++ \n"
                               "@@ -1,7 +1,8 @@\n"
                               "-loop_wait: 10\n"
                               "+loop_wait: 5\n"
                               " postgresql:\n"
                               "   parameters:\n"
                               "     max_connections: 100\n"
                               "+    work_mem: 8MB\n"
                               " restapi:\n"
                               "   authentication:\n"
                               "     password: '******'\n"
                               "Configuration changed\n");
    result_free(&r);

    /* The version moved on meanwhile: the member answers 409. */
    r = RUN("", "edit-config", "-q", "-s", "ttl=20", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "Error: Config modification aborted due to concurrent changes\n");
    result_free(&r);

    r = RUN("", "edit-config", "-s", "ttl=30", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "Not changed\n");
    result_free(&r);

    r = RUN("n\n", "edit-config", "-s", "ttl=25", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_has(r.out, "+ttl: 25\nApply these changes? [y/N]: ");
    result_free(&r);
    env_stop(&e);
    /* Conditional on the version read; only what changed; passwords not sent back. */
    assert_has(e.f[0].log,
               "PATCH /config\nIf-Match: \"3\"\n"
               "{\"loop_wait\":5,\"postgresql\":{\"parameters\":{\"work_mem\":\"8MB\"}}}\n");
    assert_has(e.f[0].log, "PATCH /config\nIf-Match: \"3\"\n{\"ttl\":20}\n");
    const char *third = strstr(strstr(strstr(e.f[0].log, "PATCH") + 1, "PATCH") + 1, "PATCH");
    assert_null(third);
    env_free(&e);
}

static void test_edit_config_apply_replace_and_editor(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route_n(&e.f[0], "GET", "/config", 200, "ETag: \"3\"\r\n", config_json, 0);
    fake_route(&e.f[0], "PATCH", "/config", 200, "{}");
    fake_route(&e.f[0], "PUT", "/config", 200, "{}");
    env_start(&e);
    struct cmd_result r = RUN("postgresql:\n  parameters:\n    max_connections: null\nttl: 40\n",
                              "edit-config", "--apply", "-", "-q", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    assert_string_equal(r.out, "Configuration changed\n");
    result_free(&r);

    r = RUN("loop_wait: 3\n", "edit-config", "--replace", "-", "-q", "--force", "--url",
            e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    result_free(&r);

    r = RUN("a: [1\n", "edit-config", "--apply", "-", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_has(r.err, "Error: could not parse \"-\": line 2");
    result_free(&r);

    /* The editor changes ttl; the temporary file is YAML of the config. */
    setenv("EDITOR", "sed -i -e 's/^ttl: 30$/ttl: 20/'", 1);
    r = RUN("", "edit-config", "-q", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_OK);
    result_free(&r);
    setenv("EDITOR", "false", 1);
    r = RUN("", "edit-config", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_string_equal(r.err, "Error: Editor exited with return code 1\n");
    result_free(&r);
    unsetenv("EDITOR");
    env_stop(&e);
    assert_has(e.f[0].log,
               "PATCH /config\nIf-Match: \"3\"\n"
               "{\"ttl\":40,\"postgresql\":{\"parameters\":{\"max_connections\":null}}}\n");
    assert_has(e.f[0].log, "PUT /config\nIf-Match: \"3\"\n{\"loop_wait\":3}\n");
    assert_has(e.f[0].log, "PATCH /config\nIf-Match: \"3\"\n{\"ttl\":20}\n");
    env_free(&e);
}

static void test_edit_config_without_a_config(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, NULL);
    fake_route(&e.f[0], "GET", "/config", 502, "no config");
    env_start(&e);
    struct cmd_result r = RUN("", "edit-config", "-s", "ttl=20", "--force", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_FAIL);
    assert_has(r.err, "Error: The config key does not exist in the cluster demo\n");
    result_free(&r);
    r = RUN("", "show-config", "-f", "tsv", "--url", e.f[0].url);
    assert_int_equal(r.rc, CTL_EXIT_USAGE);
    result_free(&r);
    env_stop(&e);
    env_free(&e);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    clean_environment();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_checks_the_cluster_name),
        cmocka_unit_test(test_history_show_config_version),
        cmocka_unit_test(test_switchover_force_asks_nothing),
        cmocka_unit_test(test_switchover_prompts_with_defaults),
        cmocka_unit_test(test_switchover_refusals),
        cmocka_unit_test(test_failover),
        cmocka_unit_test(test_restart_messages_per_member),
        cmocka_unit_test(test_restart_asks_when_and_version),
        cmocka_unit_test(test_reload_and_flush),
        cmocka_unit_test(test_reinit_waits_for_a_new_postmaster),
        cmocka_unit_test(test_pause_and_resume),
        cmocka_unit_test(test_edit_config_set_and_pg),
        cmocka_unit_test(test_edit_config_apply_replace_and_editor),
        cmocka_unit_test(test_edit_config_without_a_config),
    };
    int rv = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rv;
}
