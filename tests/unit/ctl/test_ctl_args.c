/*
 * Unit tests for ctl_args: regentctl's command line (what each command
 * takes, which options belong to which command, the usage messages) and
 * its help texts.
 */
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
    char *argv[32] = {"regentctl"};
    int argc = 1;
    for (; words[argc - 1] != NULL; argc++) {
        assert_true(argc < 31);
        argv[argc] = words[argc - 1];
    }
    capture_open(err);
    return ctl_args_parse(a, argc, argv, err->fp);
}

#define PARSE(a, err, ...) parse((a), (err), (char *[]){__VA_ARGS__, NULL})

/* --- the command line ------------------------------------------------------- */

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
    ctl_args_close(&a);
    capture_close(&err);
}

static void test_member_add_wait_options(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "--wait", "2.5", "member", "add", "x:1"), CTL_EXIT_OK);
    assert_int_equal(a.wait_ms, 2500);
    ctl_args_close(&a);
    capture_close(&err);

    assert_int_equal(PARSE(&a, &err, "member", "add", "x:1", "--no-wait"), CTL_EXIT_OK);
    assert_true(a.no_wait);
    ctl_args_close(&a);
    capture_close(&err);

    assert_int_equal(PARSE(&a, &err, "member", "add", "x:1", "--no-wait", "--wait", "3"),
                     CTL_EXIT_USAGE);
    assert_non_null(strstr(capture_text(&err), "contradict"));
    ctl_args_close(&a);
    capture_close(&err);

    static const char *const bad[] = {"0", "-1", "abc", "3601", ""};
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        assert_int_equal(PARSE(&a, &err, "member", "add", "x:1", "--wait", (char *)bad[i]),
                         CTL_EXIT_USAGE);
        assert_non_null(strstr(capture_text(&err), "invalid --wait"));
        ctl_args_close(&a);
        capture_close(&err);
    }
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
    ctl_args_close(&a);
    capture_close(&err);

    /* "--" lets a name start with '-'. */
    assert_int_equal(PARSE(&a, &err, "member", "remove", "--", "-odd"), CTL_EXIT_OK);
    assert_string_equal(a.arg, "-odd");
    assert_false(a.force);
    ctl_args_close(&a);
    capture_close(&err);
}

static void test_wrong_argument_counts_are_usage_errors(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "member", "remove"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err), "regentctl: member remove: missing NAME\n"
                                            "Try \"regentctl member remove --help\".\n");
    ctl_args_close(&a);
    capture_close(&err);

    assert_int_equal(PARSE(&a, &err, "member", "add", "a:1", "b:2"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err), "regentctl: member add: unexpected argument \"b:2\"\n");
    ctl_args_close(&a);
    capture_close(&err);

    assert_int_equal(PARSE(&a, &err, "member", "list", "x"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err), "regentctl: member list takes no arguments\n");
    ctl_args_close(&a);
    capture_close(&err);

    assert_int_equal(PARSE(&a, &err, "list", "x"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err),
                        "regentctl: list takes no arguments (one cluster per URL set)\n");
    ctl_args_close(&a);
    capture_close(&err);
}

static void test_leadership_transfer_name_is_optional(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "leadership", "transfer"), CTL_EXIT_OK);
    assert_int_equal(a.cmd, CTL_CMD_LEADERSHIP_TRANSFER);
    assert_null(a.arg);
    ctl_args_close(&a);
    capture_close(&err);

    assert_int_equal(PARSE(&a, &err, "leadership", "transfer", "node3", "--timeout", "20"),
                     CTL_EXIT_OK);
    assert_string_equal(a.arg, "node3");
    assert_int_equal(a.o.timeout_ms, 20000);
    assert_true(a.o.timeout_set);
    ctl_args_close(&a);
    capture_close(&err);
}

static void test_groups_need_a_known_subcommand(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "member"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err),
                        "regentctl: member: missing command (add, remove, list)\n");
    ctl_args_close(&a);
    capture_close(&err);

    assert_int_equal(PARSE(&a, &err, "leadership", "grab"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err),
                        "regentctl: unknown command \"leadership grab\" (transfer)\n");
    ctl_args_close(&a);
    capture_close(&err);

    assert_int_equal(PARSE(&a, &err, "switchover"), CTL_EXIT_USAGE);
    assert_non_null(strstr(capture_text(&err), "unknown command \"switchover\""));
    ctl_args_close(&a);
    capture_close(&err);
}

static void test_options_of_one_command_are_refused_elsewhere(void **state)
{
    (void)state;
    struct ctl_args a;
    struct capture err;
    assert_int_equal(PARSE(&a, &err, "member", "list", "--force"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err),
                        "regentctl: --force applies only to \"member remove\"\n");
    ctl_args_close(&a);
    capture_close(&err);

    assert_int_equal(PARSE(&a, &err, "member", "remove", "x", "--no-wait"), CTL_EXIT_USAGE);
    assert_string_equal(capture_text(&err),
                        "regentctl: --no-wait applies only to \"member add\"\n");
    ctl_args_close(&a);
    capture_close(&err);
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
        ctl_args_close(&a);
        capture_close(&err);
    }
}

static void test_every_help_text_names_its_command(void **state)
{
    (void)state;
    static const struct {
        enum ctl_cmd cmd;
        const char *usage;
    } cases[] = {
        {CTL_CMD_NONE, "Usage: regentctl [OPTIONS] COMMAND"},
        {CTL_CMD_MEMBER_ADD, "Usage: regentctl member add ADDRESS"},
        {CTL_CMD_MEMBER_REMOVE, "Usage: regentctl member remove NAME [--force]"},
        {CTL_CMD_MEMBER_LIST, "Usage: regentctl member list"},
        {CTL_CMD_LEADERSHIP_TRANSFER, "Usage: regentctl leadership transfer [NAME]"},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        struct capture out;
        capture_open(&out);
        ctl_usage(out.fp, cases[i].cmd);
        assert_non_null(strstr(capture_text(&out), cases[i].usage));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_add_takes_address_and_waits_30_s_by_default),
        cmocka_unit_test(test_member_add_wait_options),
        cmocka_unit_test(test_member_remove_name_and_force_in_any_order),
        cmocka_unit_test(test_wrong_argument_counts_are_usage_errors),
        cmocka_unit_test(test_leadership_transfer_name_is_optional),
        cmocka_unit_test(test_groups_need_a_known_subcommand),
        cmocka_unit_test(test_options_of_one_command_are_refused_elsewhere),
        cmocka_unit_test(test_help_picks_the_deepest_command_named),
        cmocka_unit_test(test_every_help_text_names_its_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
