/*
 * Golden tests of the printers: "list" and "topology" (ctl_list), "history"
 * (ctl_history), "member list" (ctl_member) and the table itself
 * (ctl_table), in every format, on fixed GET /cluster and GET /history
 * documents (JSON files of golden/ in, text files of golden/ out); and the confirmation
 * prompt.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"
#include "ctl_helpers.h"

/* --- list and member list ------------------------------------------------- */

static const char cluster_json[] =
    "{\"members\":["
    "{\"name\":\"node1\",\"host\":\"10.0.0.1\",\"port\":5432,\"role\":\"leader\","
    "\"state\":\"running\",\"timeline\":5},"
    "{\"name\":\"node2\",\"host\":\"10.0.0.2\",\"port\":5432,\"role\":\"replica\","
    "\"state\":\"streaming\",\"timeline\":5,\"lag\":3145728},"
    "{\"name\":\"node3\",\"host\":\"10.0.0.3\",\"port\":5432,\"role\":\"replica\","
    "\"state\":\"streaming\",\"timeline\":5,\"lag\":\"unknown\"},"
    "{\"name\":\"n4: yes\",\"host\":\"10.0.0.4\",\"port\":5432,\"role\":\"standby_leader\","
    "\"state\":\"running\"}],"
    "\"scope\":\"demo\",\"pause\":true,"
    "\"scheduled_switchover\":{\"at\":\"2024-01-01T00:00:00+00:00\",\"from\":\"node1\","
    "\"to\":\"node2\"},"
    "\"raft\":{\"term\":3,\"leader\":\"node1\",\"voters\":[\"node1\",\"node2\",\"node3\"],"
    "\"standbys\":[\"n4: yes\"],\"commit_index\":10,\"applied_index\":10}}";

typedef void (*print_fn)(FILE *fp, const cJSON *cluster, enum ctl_format format);

static void print_members(FILE *fp, const cJSON *cluster, enum ctl_format format)
{
    assert_int_equal(ctl_print_raft_members(fp, cluster, format), 0);
}

static void assert_prints(print_fn fn, const char *json, enum ctl_format format, const char *want)
{
    cJSON *cluster = cJSON_Parse(json);
    assert_non_null(cluster);
    struct capture out;
    capture_open(&out);
    fn(out.fp, cluster, format);
    assert_string_equal(capture_text(&out), want);
    capture_close(&out);
    cJSON_Delete(cluster);
}

/* The output regentctl list gave before its table printer was shared (and
 * before the header named the system identifier). */
static void test_list_output_is_unchanged(void **state)
{
    (void)state;
    assert_prints(ctl_print_cluster, cluster_json, CTL_PRETTY,
                  "+ Cluster: demo (uninitialized) ------+-----------+----+-----------+\n"
                  "| Member  | Host     | Role           | State     | TL | Lag in MB |\n"
                  "+---------+----------+----------------+-----------+----+-----------+\n"
                  "| node1   | 10.0.0.1 | Leader         | running   |  5 |           |\n"
                  "| node2   | 10.0.0.2 | Replica        | streaming |  5 |         3 |\n"
                  "| node3   | 10.0.0.3 | Replica        | streaming |  5 |   unknown |\n"
                  "| n4: yes | 10.0.0.4 | Standby Leader | running   |    |           |\n"
                  "+---------+----------+----------------+-----------+----+-----------+\n"
                  " Maintenance mode: on\n"
                  " Switchover scheduled at: 2024-01-01T00:00:00+00:00\n"
                  "                    from: node1\n"
                  "                      to: node2\n"
                  "Raft: term 3, leader node1, voters node1,node2,node3, standbys n4: yes\n");
    assert_prints(ctl_print_cluster, cluster_json, CTL_TSV,
                  "Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\n"
                  "demo\tnode1\t10.0.0.1\tLeader\trunning\t5\t\n"
                  "demo\tnode2\t10.0.0.2\tReplica\tstreaming\t5\t3\n"
                  "demo\tnode3\t10.0.0.3\tReplica\tstreaming\t5\tunknown\n"
                  "demo\tn4: yes\t10.0.0.4\tStandby Leader\trunning\t\t\n");
    assert_prints(ctl_print_cluster, cluster_json, CTL_JSON,
                  "[{\"Cluster\":\"demo\",\"Member\":\"node1\",\"Host\":\"10.0.0.1\",\"Role\":"
                  "\"Leader\",\"State\":\"running\",\"TL\":5},{\"Cluster\":\"demo\",\"Member\":"
                  "\"node2\",\"Host\":\"10.0.0.2\",\"Role\":\"Replica\",\"State\":\"streaming\","
                  "\"TL\":5,\"Lag in MB\":3},{\"Cluster\":\"demo\",\"Member\":\"node3\",\"Host\":"
                  "\"10.0.0.3\",\"Role\":\"Replica\",\"State\":\"streaming\",\"TL\":5,\"Lag in "
                  "MB\":\"unknown\"},{\"Cluster\":\"demo\",\"Member\":\"n4: yes\",\"Host\":"
                  "\"10.0.0.4\",\"Role\":\"Standby Leader\",\"State\":\"running\"}]\n");
    assert_prints(ctl_print_cluster, cluster_json, CTL_YAML,
                  "- Cluster: demo\n  Host: 10.0.0.1\n  Member: node1\n  Role: Leader\n"
                  "  State: running\n  TL: 5\n"
                  "- Cluster: demo\n  Host: 10.0.0.2\n  Lag in MB: 3\n  Member: node2\n"
                  "  Role: Replica\n  State: streaming\n  TL: 5\n"
                  "- Cluster: demo\n  Host: 10.0.0.3\n  Lag in MB: unknown\n  Member: node3\n"
                  "  Role: Replica\n  State: streaming\n  TL: 5\n"
                  "- Cluster: demo\n  Host: 10.0.0.4\n  Member: 'n4: yes'\n"
                  "  Role: Standby Leader\n  State: running\n");
}

static void test_list_widens_the_last_column_for_a_long_scope(void **state)
{
    (void)state;
    assert_prints(ctl_print_cluster,
                  "{\"members\":[{\"name\":\"a\",\"host\":\"h\",\"port\":5433,\"role\":\"replica\","
                  "\"state\":\"stopped\",\"lag\":0}],\"scope\":\"a-rather-long-cluster-name-here\","
                  "\"raft\":{\"term\":1,\"leader\":null,\"voters\":[],\"standbys\":[]}}",
                  CTL_PRETTY,
                  "+ Cluster: a-rather-long-cluster-name-here (uninitialized) +\n"
                  "| Member | Host   | Role    | State   | TL | Lag in MB     |\n"
                  "+--------+--------+---------+---------+----+---------------+\n"
                  "| a      | h:5433 | Replica | stopped |    |             0 |\n"
                  "+--------+--------+---------+---------+----+---------------+\n"
                  "Raft: term 1, leader none, voters none, standbys none\n");
    assert_prints(ctl_print_cluster, "{\"members\":[],\"scope\":\"x\"}", CTL_YAML, "[]\n");
}

static void test_member_list_pretty_sorts_servers_and_marks_the_leader(void **state)
{
    (void)state;
    assert_prints(print_members, cluster_json, CTL_PRETTY,
                  "+ Cluster: demo ------+\n"
                  "| Member  | Raft role |\n"
                  "+---------+-----------+\n"
                  "| n4: yes | Standby   |\n"
                  "| node1   | Leader    |\n"
                  "| node2   | Voter     |\n"
                  "| node3   | Voter     |\n"
                  "+---------+-----------+\n"
                  "Raft: term 3, leader node1, commit index 10, applied index 10\n");
}

static void test_member_list_tsv_json_yaml_have_a_cluster_column(void **state)
{
    (void)state;
    assert_prints(print_members, cluster_json, CTL_TSV,
                  "Cluster\tMember\tRaft role\n"
                  "demo\tn4: yes\tStandby\n"
                  "demo\tnode1\tLeader\n"
                  "demo\tnode2\tVoter\n"
                  "demo\tnode3\tVoter\n");
    assert_prints(print_members, cluster_json, CTL_JSON,
                  "[{\"Cluster\":\"demo\",\"Member\":\"n4: yes\",\"Raft role\":\"Standby\"},"
                  "{\"Cluster\":\"demo\",\"Member\":\"node1\",\"Raft role\":\"Leader\"},"
                  "{\"Cluster\":\"demo\",\"Member\":\"node2\",\"Raft role\":\"Voter\"},"
                  "{\"Cluster\":\"demo\",\"Member\":\"node3\",\"Raft role\":\"Voter\"}]\n");
    assert_prints(print_members, cluster_json, CTL_YAML,
                  "- Cluster: demo\n  Member: 'n4: yes'\n  Raft role: Standby\n"
                  "- Cluster: demo\n  Member: node1\n  Raft role: Leader\n"
                  "- Cluster: demo\n  Member: node2\n  Raft role: Voter\n"
                  "- Cluster: demo\n  Member: node3\n  Raft role: Voter\n");
}

static void test_member_list_without_leader_or_servers(void **state)
{
    (void)state;
    static const char empty[] = "{\"members\":[],\"scope\":\"x\",\"raft\":{\"term\":2,"
                                "\"leader\":null,\"voters\":[],\"standbys\":[],"
                                "\"commit_index\":0,\"applied_index\":0}}";
    assert_prints(print_members, empty, CTL_PRETTY,
                  "+ Cluster: x --------+\n"
                  "| Member | Raft role |\n"
                  "+--------+-----------+\n"
                  "+--------+-----------+\n"
                  "Raft: term 2, leader none, commit index 0, applied index 0\n");
    assert_prints(print_members, empty, CTL_JSON, "[]\n");
    assert_prints(print_members, empty, CTL_YAML, "[]\n");

    cJSON *no_raft = cJSON_Parse("{\"members\":[],\"raft\":null}");
    struct capture out;
    capture_open(&out);
    assert_int_equal(ctl_print_raft_members(out.fp, no_raft, CTL_PRETTY), -1);
    assert_string_equal(capture_text(&out), "");
    capture_close(&out);
    cJSON_Delete(no_raft);
}

static void test_raft_role_of_a_name(void **state)
{
    (void)state;
    cJSON *cluster = cJSON_Parse(cluster_json);
    const cJSON *raft = cJSON_GetObjectItemCaseSensitive(cluster, "raft");
    assert_int_equal(ctl_raft_role_of(raft, "node1"), CTL_RAFT_LEADER);
    assert_int_equal(ctl_raft_role_of(raft, "node2"), CTL_RAFT_VOTER);
    assert_int_equal(ctl_raft_role_of(raft, "n4: yes"), CTL_RAFT_STANDBY);
    assert_int_equal(ctl_raft_role_of(raft, "node9"), CTL_RAFT_NONE);
    assert_int_equal(ctl_raft_role_of(NULL, "node1"), CTL_RAFT_NONE);
    cJSON_Delete(cluster);
}

/* --- golden files: list, topology, history in every format ----------------------- */

static const char *const format_names[] = {"pretty", "tsv", "json", "yaml"};

static cJSON *load_json(const char *name)
{
    char *text = golden_read(name);
    cJSON *doc = cJSON_Parse(text);
    free(text);
    assert_non_null(doc);
    return doc;
}

static void golden_members(const char *input, const char *prefix, bool extended, bool topology)
{
    cJSON *cluster = load_json(input);
    for (int f = CTL_PRETTY; f <= CTL_YAML; f++) {
        struct ctl_list_opts lo = {
            .format = (enum ctl_format)f, .extended = extended, .topology = topology};
        struct capture out;
        capture_open(&out);
        ctl_print_members(out.fp, cluster, &lo);
        char name[128];
        snprintf(name, sizeof name, "%s_%s.txt", prefix, format_names[f]);
        assert_golden(capture_text(&out), name);
        capture_close(&out);
    }
    cJSON_Delete(cluster);
}

/* Sysid header, ports, lag in MB or unknown, the extra columns with their
 * values (a long reason hidden in pretty only), tags as YAML, footers. */
static void test_list_golden(void **state)
{
    (void)state;
    golden_members("cluster_full.json", "list_full", false, false);
}

/* No extra values: the columns appear with -e only; no sysid yet. */
static void test_list_plain_and_extended_golden(void **state)
{
    (void)state;
    golden_members("cluster_plain.json", "list_plain", false, false);
    golden_members("cluster_plain.json", "list_plain_extended", true, false);
}

/* node3 streams from node2 and node4 from node3: a three-level tree. */
static void test_topology_golden(void **state)
{
    (void)state;
    golden_members("cluster_full.json", "topology_full", false, true);
}

static void test_history_golden(void **state)
{
    (void)state;
    cJSON *history = load_json("history.json");
    for (int f = CTL_PRETTY; f <= CTL_YAML; f++) {
        struct capture out;
        capture_open(&out);
        ctl_print_history(out.fp, history, (enum ctl_format)f);
        char name[64];
        snprintf(name, sizeof name, "history_%s.txt", format_names[f]);
        assert_golden(capture_text(&out), name);
        capture_close(&out);
    }
    cJSON_Delete(history);

    cJSON *empty = cJSON_CreateArray();
    struct capture out;
    capture_open(&out);
    ctl_print_history(out.fp, empty, CTL_PRETTY);
    ctl_print_history(out.fp, empty, CTL_JSON);
    ctl_print_history(out.fp, empty, CTL_YAML);
    assert_string_equal(capture_text(&out), "+----+-----+--------+-----------+------------+\n"
                                            "| TL | LSN | Reason | Timestamp | New Leader |\n"
                                            "+----+-----+--------+-----------+------------+\n"
                                            "+----+-----+--------+-----------+------------+\n"
                                            "[]\n[]\n");
    capture_close(&out);
    cJSON_Delete(empty);
}

/* A leaderless cluster: every replica hangs one level down; a
 * replicatefrom cycle still shows both members. */
static void test_topology_without_leader_and_with_a_cycle(void **state)
{
    (void)state;
    cJSON *cluster =
        cJSON_Parse("{\"scope\":\"t\",\"members\":["
                    "{\"name\":\"a\",\"role\":\"replica\",\"state\":\"stopped\",\"host\":\"h1\"},"
                    "{\"name\":\"b\",\"role\":\"replica\",\"state\":\"streaming\",\"host\":\"h2\","
                    "\"tags\":{\"replicatefrom\":\"a\"}},"
                    "{\"name\":\"c\",\"role\":\"replica\",\"state\":\"streaming\",\"host\":\"h3\","
                    "\"tags\":{\"replicatefrom\":\"d\"}},"
                    "{\"name\":\"d\",\"role\":\"replica\",\"state\":\"streaming\",\"host\":\"h4\","
                    "\"tags\":{\"replicatefrom\":\"c\"}}]}");
    struct ctl_list_opts lo = {.format = CTL_PRETTY, .topology = true};
    struct capture out;
    capture_open(&out);
    ctl_print_members(out.fp, cluster, &lo);
    assert_string_equal(
        capture_text(&out),
        "+ Cluster: t (uninitialized) ---------+----+-----------+--------------------+\n"
        "| Member | Host | Role    | State     | TL | Lag in MB | Tags               |\n"
        "+--------+------+---------+-----------+----+-----------+--------------------+\n"
        "| + a    | h1   | Replica | stopped   |    |           |                    |\n"
        "|   + b  | h2   | Replica | streaming |    |           | {replicatefrom: a} |\n"
        "| + c    | h3   | Replica | streaming |    |           | {replicatefrom: d} |\n"
        "| + d    | h4   | Replica | streaming |    |           | {replicatefrom: c} |\n"
        "+--------+------+---------+-----------+----+-----------+--------------------+\n");
    capture_close(&out);
    cJSON_Delete(cluster);
}

/* --- confirmation ---------------------------------------------------------- */

static bool confirm_with(const char *typed, struct capture *out)
{
    FILE *in = fmemopen((void *)typed, strlen(typed), "r");
    assert_non_null(in);
    capture_open(out);
    bool yes = ctl_confirm(in, out->fp, "Remove? [y/N]");
    fclose(in);
    return yes;
}

static void test_confirm_accepts_only_y_or_yes(void **state)
{
    (void)state;
    static const struct {
        const char *typed;
        bool yes;
    } cases[] = {
        {"y\n", true},  {"YES\n", true},   {"  yes \r\n", true}, {"Y", true},       {"\n", false},
        {"n\n", false}, {"yess\n", false}, {"no\n", false},      {"y es\n", false},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        struct capture out;
        assert_int_equal(confirm_with(cases[i].typed, &out), cases[i].yes);
        assert_string_equal(capture_text(&out), "Remove? [y/N] ");
        capture_close(&out);
    }
}

static void test_confirm_at_end_of_input_is_no(void **state)
{
    (void)state;
    struct capture out;
    FILE *in = fopen("/dev/null", "r");
    capture_open(&out);
    assert_false(ctl_confirm(in, out.fp, "Remove? [y/N]"));
    assert_string_equal(capture_text(&out), "Remove? [y/N] \n");
    capture_close(&out);
    fclose(in);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        golden_dir = argv[1];
    }
    clean_environment();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_golden),
        cmocka_unit_test(test_list_plain_and_extended_golden),
        cmocka_unit_test(test_topology_golden),
        cmocka_unit_test(test_topology_without_leader_and_with_a_cycle),
        cmocka_unit_test(test_history_golden),
        cmocka_unit_test(test_list_output_is_unchanged),
        cmocka_unit_test(test_list_widens_the_last_column_for_a_long_scope),
        cmocka_unit_test(test_member_list_pretty_sorts_servers_and_marks_the_leader),
        cmocka_unit_test(test_member_list_tsv_json_yaml_have_a_cluster_column),
        cmocka_unit_test(test_member_list_without_leader_or_servers),
        cmocka_unit_test(test_raft_role_of_a_name),
        cmocka_unit_test(test_confirm_accepts_only_y_or_yes),
        cmocka_unit_test(test_confirm_at_end_of_input_is_no),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
