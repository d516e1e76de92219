/*
 * Unit tests for ctl_args: regentctl's command line — what each command
 * takes, which options belong to which command, the values checked before
 * anything is sent, the usage errors (exit 2) — and its help texts.
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

#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"
#include "ctl_helpers.h"

/* ctl_args_parse() on a NULL-terminated word list, stderr captured. */
static int parse(struct ctl_args *a, struct capture *err, char **words)
{
    char *argv[48] = {"regentctl"};
    int argc = 1;
    for (; words[argc - 1] != NULL; argc++) {
        assert_true(argc < 47);
        argv[argc] = words[argc - 1];
    }
    capture_open(err);
    return ctl_args_parse(a, argc, argv, err->fp);
}

#define PARSE(a, err, ...) parse((a), (err), (char *[]){__VA_ARGS__, NULL})

static void done(struct ctl_args *a, struct capture *err)
{
    ctl_args_close(a);
    capture_close(err);
}

/* A usage error whose message contains @want. */
static void assert_usage(char **words, const char *want)
{
    struct ctl_args a;
    struct capture err;
    assert_int_equal(parse(&a, &err, words), CTL_EXIT_USAGE);
    if (strstr(capture_text(&err), want) == NULL) {
        fail_msg("\"%s\" not in \"%s\"", want, capture_text(&err));
    }
    done(&a, &err);
}

#define USAGE(want, ...) assert_usage((char *[]){__VA_ARGS__, NULL}, (want))

/* --- member and leadership (as before) ------------------------------------------- */

static void test_member_add_takes_address_and_waits_30_s_by_default(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "member", "add", "10.0.0.4:5010", "--url", "h:1,h:2"),
                     CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_MEMBER_ADD);
    assert_string_equal(a.arg, "10.0.0.4:5010");
    assert_false(a.no_wait);
    assert_int_equal(a.wait_ms, 30000);
    assert_int_equal(a.o.n_urls, 2);
    assert_string_equal(a.o.urls[0], "http://h:1");
    assert_false(a.o.timeout_set);
    assert_string_equal(capture_text(&err), "");
    done(&a, &err);
}

static void test_member_add_wait_options(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "--wait", "2.5", "member", "add", "x:1"), CTL_EXIT_OK);
    assert_int_equal(a.wait_ms, 2500);
    assert_true(a.wait);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "member", "add", "x:1", "--no-wait"), CTL_EXIT_OK);
    assert_true(a.no_wait);
    done(&a, &err);

    USAGE("contradict", "member", "add", "x:1", "--no-wait", "--wait", "3");

    /* Numbers out of range are refused; anything else after --wait is a word. */
    static const char *const bad[] = {"0", "-1", "3601", "1e9"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        USAGE("invalid --wait", "member", "add", "x:1", "--wait", (char *)bad[i]);
    }
    USAGE("invalid --wait", "member", "add", "x:1", "--wait=abc");
    USAGE("unexpected argument \"abc\"", "member", "add", "x:1", "--wait", "abc");
}

static void test_member_remove_name_and_force_in_any_order(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "member", "remove", "--force", "node2"), CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_MEMBER_REMOVE);
    assert_string_equal(a.arg, "node2");
    assert_true(a.force);
    done(&a, &err);

    /* "--" lets a name start with '-'. */
    assert_int_equal(PARSE(&a, &err, "member", "remove", "--", "-odd"), CTL_EXIT_OK);
    assert_string_equal(a.arg, "-odd");
    assert_false(a.force);
    done(&a, &err);
}

static void test_wrong_argument_counts_are_usage_errors(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "member", "remove"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err), "regentctl: member remove: missing NAME\n"
                                            "Try \"regentctl member remove --help\".\n");
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "member", "add", "a:1", "b:2"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err), "regentctl: member add: unexpected argument \"b:2\"\n");
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "member", "list", "x"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err), "regentctl: member list takes no arguments\n");
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "list", "a", "b"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err),
                        "regentctl: list: unexpected argument \"b\" (one CLUSTER at most: the "
                        "URLs choose the cluster)\n");
    done(&a, &err);

    static const char *const one_cluster[] = {"topology", "switchover",  "failover",    "pause",
                                              "resume",   "show-config", "edit-config", "history"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(one_cluster); i++) {
        USAGE("one CLUSTER at most", (char *)one_cluster[i], "demo", "extra");
    }
}

static void test_leadership_transfer_name_is_optional(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "leadership", "transfer"), CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_LEADERSHIP_TRANSFER);
    assert_null(a.arg);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "leadership", "transfer", "node3", "--timeout", "20"),
                     CTL_EXIT_OK);
    assert_string_equal(a.arg, "node3");
    assert_int_equal(a.o.timeout_ms, 20000);
    assert_true(a.o.timeout_set);
    done(&a, &err);
}

static void test_groups_need_a_known_subcommand(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "member"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err),
                        "regentctl: member: missing command (add, remove, list)\n");
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "leadership", "grab"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err),
                        "regentctl: unknown command \"leadership grab\" (transfer)\n");
    done(&a, &err);

    USAGE("unknown command \"scaffold\"", "scaffold");
    USAGE("Usage: regentctl [OPTIONS] COMMAND", "--url", "h:1");
}

/* --- the commands and their options --------------------------------------------------- */

static void test_list_and_topology_options(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "list", "demo", "-e", "-t", "-W", "-f", "json"), CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_LIST);
    assert_string_equal(a.cluster, "demo");
    assert_true(a.extended && a.timestamp);
    assert_int_equal(a.watch_ms, 2000);
    assert_int_equal(a.o.format, CTL_JSON);
    done(&a, &err);

    /* Bundled flags, an attached value, --name=value; -w wins over -W. */
    assert_int_equal(PARSE(&a, &err, "-etfyaml", "topology", "--watch=0.5", "-W", "--watch-count",
                           "3", "--extended"),
                     CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_TOPOLOGY);
    assert_null(a.cluster);
    assert_true(a.extended && a.timestamp);
    assert_int_equal(a.o.format, CTL_YAML);
    assert_int_equal(a.watch_ms, 500);
    assert_int_equal(a.watch_count, 3);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "list", "-f", "yml", "-w", "1"), CTL_EXIT_OK);
    assert_int_equal(a.o.format, CTL_YAML);
    assert_int_equal(a.watch_count, 0);
    done(&a, &err);

    USAGE("unknown format \"xml\"", "list", "-f", "xml");
    USAGE("invalid -w \"0\"", "list", "-w", "0");
    USAGE("invalid --watch-count \"0\"", "list", "-W", "--watch-count", "0");
    USAGE("--watch-count needs -W or -w SEC", "list", "--watch-count", "2");
    USAGE("-e applies only to \"list\" and \"topology\"", "history", "-e");
    USAGE("-W applies only to \"list\" and \"topology\"", "switchover", "-W");
}

static void test_switchover_and_failover_options(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "switchover", "demo", "--leader", "n1", "--candidate", "n2",
                           "--scheduled", "2024-05-01T10:00", "--force"),
                     CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_SWITCHOVER);
    assert_string_equal(a.cluster, "demo");
    assert_string_equal(a.leader, "n1");
    assert_string_equal(a.candidate, "n2");
    assert_true(a.scheduled_given);
    assert_string_equal(a.scheduled, "2024-05-01T10:00:00+00:00"); /* TZ=UTC here */
    assert_true(a.force);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "--primary", "n1", "switchover", "--scheduled", "now"),
                     CTL_EXIT_OK);
    assert_string_equal(a.leader, "n1");
    assert_true(a.scheduled_given);
    assert_null(a.scheduled);
    assert_false(a.force);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "failover", "--candidate", "n2", "--force"), CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_FAILOVER);
    assert_string_equal(a.candidate, "n2");
    done(&a, &err);

    /* Without --force the candidate is asked for. */
    assert_int_equal(PARSE(&a, &err, "failover"), CTL_EXIT_OK);
    done(&a, &err);

    USAGE("failover: --candidate is required with --force", "failover", "--force");
    USAGE("--scheduled applies only to \"switchover\" and \"restart\"", "failover", "--candidate",
          "x", "--scheduled", "now");
    USAGE("--leader applies only to \"switchover\"", "failover", "--leader", "x");
    USAGE("invalid --scheduled \"tomorrow\"", "switchover", "--scheduled", "tomorrow");
    USAGE("invalid --scheduled \"2024-13-01T10:00\"", "switchover", "--scheduled",
          "2024-13-01T10:00");
    USAGE("option \"--candidate\" needs a value", "switchover", "--candidate");
}

static void test_restart_reload_reinit_flush_options(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "restart", "demo", "n1", "n2", "-r", "replica", "--any",
                           "--pending", "--pg-version", "15.4", "--timeout", "30", "--scheduled",
                           "2024-05-01 10:00+02:00", "--force"),
                     CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_RESTART);
    assert_int_equal(a.n_words, 3);
    assert_string_equal(a.words[0], "demo");
    assert_string_equal(a.words[2], "n2");
    assert_null(a.cluster); /* decided against the scope later */
    assert_int_equal(a.role, CTL_ROLE_REPLICA);
    assert_true(a.any && a.pending && a.force);
    assert_string_equal(a.pg_version, "15.4");
    assert_int_equal(a.o.timeout_ms, 30000);
    assert_string_equal(a.scheduled, "2024-05-01T10:00:00+02:00");
    done(&a, &err);

    static const struct {
        const char *name;
        enum ctl_role role;
    } roles[] = {{"leader", CTL_ROLE_LEADER},   {"primary", CTL_ROLE_PRIMARY},
                 {"master", CTL_ROLE_PRIMARY},  {"standby-leader", CTL_ROLE_STANDBY_LEADER},
                 {"replica", CTL_ROLE_REPLICA}, {"standby", CTL_ROLE_REPLICA},
                 {"any", CTL_ROLE_ANY}};
    for (size_t i = 0; i < RG_ARRAY_SIZE(roles); i++) {
        assert_int_equal(PARSE(&a, &err, "reload", "--role", (char *)roles[i].name), CTL_EXIT_OK);
        assert_int_equal(a.role, roles[i].role);
        done(&a, &err);
    }

    assert_int_equal(PARSE(&a, &err, "reinit", "n2", "--from-leader", "--wait", "5", "--force"),
                     CTL_EXIT_OK);
    assert_true(a.from_leader && a.wait && a.force);
    assert_int_equal(a.wait_ms, 5000);
    assert_int_equal(a.n_words, 1);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "reinit", "--wait", "n2"), CTL_EXIT_OK);
    assert_true(a.wait);
    assert_int_equal(a.wait_ms, CTL_DEFAULT_WAIT_MS);
    assert_string_equal(a.words[0], "n2");
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "flush", "demo", "n1", "restart", "-r", "any", "--force"),
                     CTL_EXIT_OK);
    assert_string_equal(a.target, "restart");
    assert_int_equal(a.n_words, 2);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "flush", "switchover"), CTL_EXIT_OK);
    assert_string_equal(a.target, "switchover");
    assert_int_equal(a.n_words, 0);
    done(&a, &err);

    USAGE("invalid -r \"boss\"", "restart", "-r", "boss");
    USAGE("invalid --pg-version \"15\" (X.Y or X.Y.Z is accepted)", "restart", "--pg-version",
          "15");
    USAGE("invalid --pg-version \"15.x\"", "restart", "--pg-version", "15.x");
    USAGE("invalid --timeout \"soon\"", "restart", "--timeout", "soon");
    USAGE("reinit: missing MEMBER", "reinit", "--force");
    USAGE("--any applies only to \"restart\"", "reload", "--any");
    USAGE("-r applies only to \"restart\", \"reload\" and \"flush\"", "reinit", "-r", "any", "x");
    USAGE("flush: missing restart|switchover", "flush");
    USAGE("the last argument must be restart or switchover, not \"n1\"", "flush", "n1");
}

static void test_pause_config_history_version_options(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "pause", "--wait"), CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_PAUSE);
    assert_true(a.wait);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "resume", "demo", "--wait", "3"), CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_RESUME);
    assert_string_equal(a.cluster, "demo");
    assert_int_equal(a.wait_ms, 3000);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "show-config", "-f", "json"), CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_SHOW_CONFIG);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "edit-config", "-q", "-s", "a=1", "--set", "b.c=2", "-p",
                           "x=1", "--pg=y.z=2", "--apply", "f.yml", "--replace", "g.yml",
                           "--force"),
                     CTL_EXIT_OK);
    assert_true(a.quiet && a.force);
    assert_int_equal(a.n_sets, 2);
    assert_string_equal(a.sets[1], "b.c=2");
    assert_int_equal(a.n_pgs, 2);
    assert_string_equal(a.pgs[1], "y.z=2");
    assert_string_equal(a.apply_file, "f.yml");
    assert_string_equal(a.replace_file, "g.yml");
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "edit-config", "--apply", "-", "--force"), CTL_EXIT_OK);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "history", "-f", "tsv"), CTL_EXIT_OK);
    assert_int_equal(a.o.format, CTL_TSV);
    done(&a, &err);

    assert_int_equal(PARSE(&a, &err, "version", "demo", "n1"), CTL_EXIT_OK);
    assert_int_equal(a.n_words, 2);
    done(&a, &err);

    USAGE("reading the configuration from standard input needs --force", "edit-config", "--apply",
          "-");
    USAGE("reading the configuration from standard input needs --force", "edit-config", "--replace",
          "-");
    USAGE("invalid -s \"loop_wait\" (KEY=VALUE expected)", "edit-config", "-s", "loop_wait");
    USAGE("invalid -p \"work_mem\"", "edit-config", "-p", "work_mem");
    USAGE("--wait applies only to \"reinit\", \"pause\", \"resume\" and \"member add\"",
          "show-config", "--wait");
    USAGE("-f applies only to", "pause", "-f", "json");
    USAGE("-q applies only to \"edit-config\"", "show-config", "-q");
}

static void test_global_options_anywhere(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "-k", "--config-file", "/etc/ctl.yml", "history", "--url",
                           "https://u:p%40ss@h:8008/,h2:1", "-c", "/etc/other.yml"),
                     CTL_EXIT_OK);
    assert_true(a.o.insecure);
    assert_string_equal(a.o.config, "/etc/other.yml");
    assert_int_equal(a.o.n_urls, 2);
    /* The credentials leave the URL; the password is decoded. */
    assert_string_equal(a.o.urls[0], "https://h:8008");
    assert_string_equal(a.o.urls[1], "http://h2:1");
    assert_string_equal(a.o.url_auth.username, "u");
    assert_string_equal(a.o.url_auth.password, "p@ss");
    done(&a, &err);

    USAGE("unknown option \"--bogus\"", "list", "--bogus");
    USAGE("unknown option \"-x\"", "list", "-x");
    USAGE("option \"--force\" takes no value", "switchover", "--force=yes");
    USAGE("option \"-c\" needs a value", "list", "-c");
    USAGE("--force applies only to \"switchover\", \"failover\", \"restart\", \"reload\", "
          "\"reinit\", \"flush\", \"edit-config\" and \"member remove\"",
          "--force", "list");
    USAGE("--no-wait applies only to \"member add\"", "member", "remove", "x", "--no-wait");
}

static void test_help_picks_the_deepest_command_named(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    static const struct {
        const char *w1, *w2;
        enum ctl_cmd cmd;
    } cases[] = {
        {NULL, NULL, CTL_CMD_NONE},
        {"member", NULL, CTL_CMD_MEMBER},
        {"member", "add", CTL_CMD_MEMBER_ADD},
        {"member", "remove", CTL_CMD_MEMBER_REMOVE},
        {"leadership", NULL, CTL_CMD_LEADERSHIP},
        {"leadership", "transfer", CTL_CMD_LEADERSHIP_TRANSFER},
        {"flush", NULL, CTL_CMD_FLUSH},
        {"reinit", NULL, CTL_CMD_REINIT},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        /* Arguments are not checked under --help: "member add --help" works. */
        int rv = cases[i].w1 == NULL ? PARSE(&a, &err, "--help")
                 : cases[i].w2 == NULL
                     ? PARSE(&a, &err, (char *)cases[i].w1, "-h")
                     : PARSE(&a, &err, (char *)cases[i].w1, (char *)cases[i].w2, "--help");
        assert_int_equal(rv, CTL_EXIT_OK);
        assert_true(a.help);
        assert_int_equal(a.cmd, cases[i].cmd);
        assert_string_equal(capture_text(&err), "");
        done(&a, &err);
    }
}

static void test_every_command_has_its_help(void **state)
{
    (void)state;
    static const struct {
        enum ctl_cmd cmd;
        const char *usage;
    } cases[] = {
        {CTL_CMD_NONE, "Usage: regentctl [OPTIONS] COMMAND"},
        {CTL_CMD_VERSION, "Usage: regentctl version [CLUSTER [MEMBER]...]"},
        {CTL_CMD_LIST, "Usage: regentctl list [CLUSTER] [-e] [-t] [-W | -w SEC] [-f FMT]"},
        {CTL_CMD_TOPOLOGY, "Usage: regentctl topology"},
        {CTL_CMD_SWITCHOVER, "Usage: regentctl switchover [CLUSTER] [--leader NAME]"},
        {CTL_CMD_FAILOVER, "Usage: regentctl failover [CLUSTER] --candidate NAME [--force]"},
        {CTL_CMD_RESTART, "Usage: regentctl restart [CLUSTER] [MEMBER]... [-r ROLE]"},
        {CTL_CMD_RELOAD, "Usage: regentctl reload [CLUSTER] [MEMBER]..."},
        {CTL_CMD_REINIT, "Usage: regentctl reinit [CLUSTER] MEMBER..."},
        {CTL_CMD_FLUSH, "Usage: regentctl flush [CLUSTER] [MEMBER]... restart|switchover"},
        {CTL_CMD_PAUSE, "Usage: regentctl pause [CLUSTER] [--wait [SEC]]"},
        {CTL_CMD_RESUME, "regentctl resume [CLUSTER] [--wait [SEC]]"},
        {CTL_CMD_SHOW_CONFIG, "Usage: regentctl show-config [CLUSTER]"},
        {CTL_CMD_EDIT_CONFIG, "Usage: regentctl edit-config [CLUSTER] [-q] [-s KEY=VALUE]..."},
        {CTL_CMD_HISTORY, "Usage: regentctl history [CLUSTER] [-f FMT]"},
        {CTL_CMD_MEMBER_ADD, "Usage: regentctl member add ADDRESS"},
        {CTL_CMD_MEMBER_REMOVE, "Usage: regentctl member remove NAME [--force]"},
        {CTL_CMD_MEMBER_LIST, "Usage: regentctl member list"},
        {CTL_CMD_LEADERSHIP_TRANSFER, "Usage: regentctl leadership transfer [NAME]"},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        struct capture out;
        capture_open(&out);
        ctl_usage(out.fp, cases[i].cmd);
        if (strstr(capture_text(&out), cases[i].usage) == NULL) {
            fail_msg("help of %s lacks \"%s\"", ctl_cmd_name(cases[i].cmd), cases[i].usage);
        }
        capture_close(&out);
    }
    /* Raft leadership is not PostgreSQL's: the help must say so. */
    struct capture out;
    capture_open(&out);
    ctl_usage(out.fp, CTL_CMD_LEADERSHIP_TRANSFER);
    assert_non_null(strstr(capture_text(&out), "Raft leadership only"));
    assert_non_null(strstr(capture_text(&out), "PostgreSQL primary"));
    capture_close(&out);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    clean_environment();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_add_takes_address_and_waits_30_s_by_default),
        cmocka_unit_test(test_member_add_wait_options),
        cmocka_unit_test(test_member_remove_name_and_force_in_any_order),
        cmocka_unit_test(test_wrong_argument_counts_are_usage_errors),
        cmocka_unit_test(test_leadership_transfer_name_is_optional),
        cmocka_unit_test(test_groups_need_a_known_subcommand),
        cmocka_unit_test(test_list_and_topology_options),
        cmocka_unit_test(test_switchover_and_failover_options),
        cmocka_unit_test(test_restart_reload_reinit_flush_options),
        cmocka_unit_test(test_pause_config_history_version_options),
        cmocka_unit_test(test_global_options_anywhere),
        cmocka_unit_test(test_help_picks_the_deepest_command_named),
        cmocka_unit_test(test_every_command_has_its_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
