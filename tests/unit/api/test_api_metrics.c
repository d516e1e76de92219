/*
 * Unit tests for api_metrics_render: the Prometheus text of GET /metrics.
 *
 * Every output is read back by a strict parser of the text format (version
 * 0.0.4) written here: lines end in '\n'; "# HELP name text" and "# TYPE
 * name type" once per metric, before its sample; other '#' lines are
 * comments; a sample is name{labels} value with a valid name, label values
 * with only the \\, \" and \n escapes, and a number. The node documents
 * come from api_view_patroni, as on an agent, so both endpoints agree.
 */
/* cmocka.h needs these first; keep clang-format from sorting it above them. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "api/api_health.h"
#include "api/api_metrics.h"

#define MAX_METRICS 64

struct metric {
    char name[64];
    char type[16];
    bool help, has_type;
    unsigned samples;
    double value;
    char raw[64];                           /* the value's text */
    char label_scope[128], label_name[128]; /* decoded */
};

struct parsed {
    struct metric m[MAX_METRICS];
    size_t n;
};

static struct metric *find(struct parsed *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->m[i].name, name) == 0) {
            return &p->m[i];
        }
    }
    return NULL;
}

static struct metric *find_or_add(struct parsed *p, const char *name, size_t len)
{
    char n[64];
    assert_true(len > 0 && len < sizeof n);
    memcpy(n, name, len);
    n[len] = '\0';
    struct metric *m = find(p, n);
    if (m == NULL) {
        assert_true(p->n < MAX_METRICS);
        m = &p->m[p->n++];
        memset(m, 0, sizeof *m);
        memcpy(m->name, n, len + 1);
    }
    return m;
}

static size_t name_len(const char *s)
{
    size_t i = 0;
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':')) {
        return 0;
    }
    while (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':') {
        i++;
    }
    return i;
}

/* One label value after its opening quote, decoded into @out; returns the
 * position after the closing quote. */
static const char *label_value(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s != '"'; s++) {
        assert_true(*s != '\0' && *s != '\n');
        char c = *s;
        if (c == '\\') {
            s++;
            assert_true(*s == '\\' || *s == '"' || *s == 'n');
            c = *s == 'n' ? '\n' : *s;
        }
        assert_true(o + 1 < len);
        out[o++] = c;
    }
    out[o] = '\0';
    return s + 1;
}

static void parse_sample(struct parsed *p, const char *line, size_t n)
{
    size_t nl = name_len(line);
    assert_true(nl > 0);
    struct metric *m = find_or_add(p, line, nl);
    /* The sample comes after its HELP and TYPE lines, once. */
    assert_true(m->help && m->has_type);
    assert_int_equal(m->samples, 0);
    m->samples++;
    const char *s = line + nl;
    bool seen_scope = false, seen_name = false;
    assert_true(*s == '{');
    s++;
    while (*s != '}') {
        size_t kl = name_len(s);
        assert_true(kl > 0 && s[kl] == '=' && s[kl + 1] == '"');
        bool is_scope = kl == 5 && strncmp(s, "scope", 5) == 0;
        bool is_name = kl == 4 && strncmp(s, "name", 4) == 0;
        assert_true(is_scope || is_name);
        assert_false(is_scope ? seen_scope : seen_name);
        seen_scope |= is_scope;
        seen_name |= is_name;
        s = label_value(s + kl + 2, is_scope ? m->label_scope : m->label_name,
                        sizeof m->label_scope);
        if (*s == ',') {
            s++;
        }
    }
    assert_true(seen_scope && seen_name);
    s++;
    assert_true(*s == ' ');
    s++;
    size_t vl = (size_t)(line + n - s);
    assert_true(vl > 0 && vl < sizeof m->raw);
    memcpy(m->raw, s, vl);
    m->raw[vl] = '\0';
    char *end;
    m->value = strtod(m->raw, &end);
    assert_true(*end == '\0');
}

static void parse(const char *text, struct parsed *p)
{
    memset(p, 0, sizeof *p);
    size_t len = strlen(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    for (const char *line = text; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t n = (size_t)(nl - line);
        assert_true(n > 0);
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            bool help = line[2] == 'H';
            size_t l = name_len(line + 7);
            assert_true(l > 0 && line[7 + l] == ' ' && 7 + l + 1 < n);
            struct metric *m = find_or_add(p, line + 7, l);
            assert_int_equal(m->samples, 0);
            if (help) {
                assert_false(m->help); /* once */
                assert_false(m->has_type);
                m->help = true;
            } else {
                assert_false(m->has_type);
                size_t tl = n - (7 + l + 1);
                assert_true(tl < sizeof m->type);
                memcpy(m->type, line + 7 + l + 1, tl);
                m->type[tl] = '\0';
                assert_true(strcmp(m->type, "gauge") == 0 || strcmp(m->type, "counter") == 0);
                m->has_type = true;
            }
        } else if (line[0] == '#') {
            /* a comment (Patroni's "# Values: ..." line) */
        } else {
            parse_sample(p, line, n);
        }
        line = nl + 1;
    }
    for (size_t i = 0; i < p->n; i++) {
        assert_true(p->m[i].help && p->m[i].has_type);
        assert_int_equal(p->m[i].samples, 1);
    }
}

static struct api_node_status base_status(void)
{
    struct api_node_status st;
    memset(&st, 0, sizeof st);
    st.have_view = true;
    st.scope = "demo";
    st.name = "node1";
    st.version = "0.1.0";
    st.dcs_last_seen = 1700000000;
    st.lease_ms_left = -1;
    return st;
}

static char *
render(const struct api_node_status *st, const struct api_metrics_facts *f, struct parsed *p)
{
    cJSON *doc = api_view_patroni(st);
    size_t len;
    char *text = api_metrics_render(doc, f, &len);
    cJSON_Delete(doc);
    assert_int_equal(len, strlen(text));
    parse(text, p);
    return text;
}

static double value(struct parsed *p, const char *name)
{
    struct metric *m = find(p, name);
    if (m == NULL) {
        fail_msg("metric %s is missing", name);
    }
    return m->value;
}

static const char *type(struct parsed *p, const char *name)
{
    struct metric *m = find(p, name);
    assert_non_null(m);
    return m->type;
}

/* Patroni 4.1.4's metrics for a node that runs PostgreSQL. */
static const char *const patroni_names[] = {
    "patroni_version",
    "patroni_postgres_running",
    "patroni_postmaster_start_time",
    "patroni_primary",
    "patroni_xlog_location",
    "patroni_standby_leader",
    "patroni_replica",
    "patroni_sync_standby",
    "patroni_quorum_standby",
    "patroni_xlog_received_location",
    "patroni_xlog_replayed_location",
    "patroni_xlog_replayed_timestamp",
    "patroni_xlog_paused",
    "patroni_postgres_streaming",
    "patroni_postgres_in_archive_recovery",
    "patroni_postgres_server_version",
    "patroni_cluster_unlocked",
    "patroni_failsafe_mode_is_active",
    "patroni_postgres_timeline",
    "patroni_dcs_last_seen",
    "patroni_pending_restart",
    "patroni_is_paused",
    "patroni_postgres_state",
};

static void test_primary_has_patronis_metrics_names_and_types(void **state)
{
    (void)state;
    struct api_node_status st = base_status();
    st.holds_lease = true;
    st.state = "running";
    st.role = "primary";
    st.has_xlog = true;
    st.server_version = 150004;
    st.postmaster_start_time = "2024-08-28 19:39:26.352526+00:00";
    st.timeline = 3;
    st.wal_lsn = 67419744;
    struct api_metrics_facts f = {
        .raft_term = 7, .raft_commit_index = 120, .raft_applied_index = 119, .lease_epoch = 4};
    struct parsed p;
    char *text = render(&st, &f, &p);

    for (size_t i = 0; i < RG_ARRAY_SIZE(patroni_names); i++) {
        assert_non_null(find(&p, patroni_names[i]));
    }
    /* Patroni 3.x's name for patroni_primary, kept for old dashboards. */
    assert_int_equal(value(&p, "patroni_master"), 1);
    assert_int_equal(value(&p, "patroni_primary"), 1);
    assert_int_equal(value(&p, "patroni_replica"), 0);
    assert_int_equal(value(&p, "patroni_postgres_running"), 1);
    assert_true(value(&p, "patroni_postmaster_start_time") == 1724873966.352);
    assert_int_equal(value(&p, "patroni_xlog_location"), 67419744);
    assert_int_equal(value(&p, "patroni_xlog_received_location"), 0);
    assert_int_equal(value(&p, "patroni_postgres_server_version"), 150004);
    assert_int_equal(value(&p, "patroni_postgres_timeline"), 3);
    assert_int_equal(value(&p, "patroni_postgres_streaming"), 0);
    assert_int_equal(value(&p, "patroni_cluster_unlocked"), 0);
    assert_int_equal(value(&p, "patroni_dcs_last_seen"), 1700000000);
    assert_int_equal(value(&p, "patroni_postgres_state"), 5);
    assert_int_equal(value(&p, "patroni_is_paused"), 0);
    /* Patroni's types: the log positions are counters, the rest gauges
     * (patroni_postgres_timeline as of 4.1.4). */
    assert_string_equal(type(&p, "patroni_xlog_location"), "counter");
    assert_string_equal(type(&p, "patroni_xlog_received_location"), "counter");
    assert_string_equal(type(&p, "patroni_xlog_replayed_location"), "counter");
    assert_string_equal(type(&p, "patroni_postgres_timeline"), "gauge");
    assert_string_equal(type(&p, "patroni_version"), "gauge");
    /* The labels, and Patroni's padded version. */
    assert_string_equal(find(&p, "patroni_primary")->label_scope, "demo");
    assert_string_equal(find(&p, "patroni_primary")->label_name, "node1");
    assert_non_null(strstr(text, "\npatroni_version{scope=\"demo\",name=\"node1\"} 000100\n"));
    assert_non_null(strstr(text, "# Values: 0=initdb, 1=initdb_failed,"));
    /* Regent's. */
    assert_int_equal(value(&p, "regent_raft_term"), 7);
    assert_int_equal(value(&p, "regent_raft_commit_index"), 120);
    assert_int_equal(value(&p, "regent_raft_applied_index"), 119);
    assert_int_equal(value(&p, "regent_lease_epoch"), 4);
    assert_int_equal(value(&p, "regent_failovers_total"), 0);
    assert_string_equal(type(&p, "regent_failovers_total"), "counter");
    assert_null(find(&p, "regent_last_failover_seconds"));
    rg_free(text);
}

static void test_streaming_replica(void **state)
{
    (void)state;
    struct api_node_status st = base_status();
    st.state = "running";
    st.role = "replica";
    st.has_xlog = true;
    st.server_version = 150004;
    st.timeline = 2;
    st.received_lsn = 5000;
    st.replayed_lsn = 4000;
    st.replayed_timestamp = "2024-08-28 19:40:00.5+00:00";
    st.replication_state = "streaming";
    st.replay_paused = true;
    st.pending_restart = true;
    st.paused = true;
    struct api_metrics_facts f = {0};
    struct parsed p;
    char *text = render(&st, &f, &p);
    assert_int_equal(value(&p, "patroni_primary"), 0);
    assert_int_equal(value(&p, "patroni_master"), 0);
    assert_int_equal(value(&p, "patroni_replica"), 1);
    assert_int_equal(value(&p, "patroni_xlog_location"), 0);
    assert_int_equal(value(&p, "patroni_xlog_received_location"), 5000);
    assert_int_equal(value(&p, "patroni_xlog_replayed_location"), 4000);
    assert_true(value(&p, "patroni_xlog_replayed_timestamp") == 1724874000.5);
    assert_int_equal(value(&p, "patroni_xlog_paused"), 1);
    assert_int_equal(value(&p, "patroni_postgres_streaming"), 1);
    assert_int_equal(value(&p, "patroni_postgres_in_archive_recovery"), 0);
    assert_int_equal(value(&p, "patroni_pending_restart"), 1);
    assert_int_equal(value(&p, "patroni_is_paused"), 1);
    rg_free(text);
}

static void test_node_without_postgresql(void **state)
{
    (void)state;
    struct api_node_status st = base_status();
    st.state = "stopped";
    st.role = "demoted";
    st.cluster_unlocked = true;
    struct api_metrics_facts f = {0};
    struct parsed p;
    char *text = render(&st, &f, &p);
    assert_int_equal(value(&p, "patroni_postgres_running"), 0);
    assert_int_equal(value(&p, "patroni_postmaster_start_time"), 0);
    assert_int_equal(value(&p, "patroni_postgres_server_version"), 0);
    assert_int_equal(value(&p, "patroni_postgres_timeline"), 0);
    assert_int_equal(value(&p, "patroni_cluster_unlocked"), 1);
    assert_int_equal(value(&p, "patroni_postgres_state"), 12);
    /* As Patroni: the replication-state metrics need a server >= 9.6. */
    assert_null(find(&p, "patroni_postgres_streaming"));
    assert_null(find(&p, "patroni_postgres_in_archive_recovery"));
    rg_free(text);

    /* A state Patroni does not number. */
    st.state = NULL;
    text = render(&st, &f, &p);
    assert_int_equal(value(&p, "patroni_postgres_state"), -1);
    rg_free(text);
}

static void test_label_values_are_escaped(void **state)
{
    (void)state;
    struct api_node_status st = base_status();
    st.scope = "a\"b\\c\nd";
    st.name = "n\\1";
    st.state = "stopped";
    struct api_metrics_facts f = {0};
    struct parsed p;
    char *text = render(&st, &f, &p);
    assert_non_null(strstr(text, "{scope=\"a\\\"b\\\\c\\nd\",name=\"n\\\\1\"}"));
    struct metric *m = find(&p, "regent_lease_epoch");
    assert_string_equal(m->label_scope, "a\"b\\c\nd");
    assert_string_equal(m->label_name, "n\\1");
    rg_free(text);
}

static void test_failovers_from_the_history(void **state)
{
    (void)state;
    struct api_node_status st = base_status();
    st.state = "running";
    struct api_metrics_facts f = {0};
    struct parsed p;
    f.history = cJSON_Parse("[[1, 100, \"no recovery target specified\", \"2024-01-01T00:00:00Z\","
                            " \"node1\"],"
                            " [2, 200, \"promoted\", \"2024-01-02T00:00:00Z\", \"node2\","
                            " {\"unavailable_ms\": 2750}]]");
    char *text = render(&st, &f, &p);
    assert_int_equal(value(&p, "regent_failovers_total"), 2);
    assert_true(value(&p, "regent_last_failover_seconds") == 2.75);
    assert_string_equal(type(&p, "regent_last_failover_seconds"), "gauge");
    rg_free(text);
    cJSON_Delete((cJSON *)f.history);

    /* The last entry has no measure: no metric rather than a made-up 0. */
    f.history = cJSON_Parse("[[2, 200, \"x\", \"t\", \"node2\", {\"unavailable_ms\": 10}],"
                            " [3, 300, \"x\", \"t\", \"node1\"]]");
    text = render(&st, &f, &p);
    assert_int_equal(value(&p, "regent_failovers_total"), 2);
    assert_null(find(&p, "regent_last_failover_seconds"));
    rg_free(text);
    cJSON_Delete((cJSON *)f.history);
}

static void test_version_padding(void **state)
{
    (void)state;
    static const struct {
        const char *version, *padded;
    } cases[] = {
        {"4.1.4", "040104"}, {"3.0.2", "030002"},     {"0.1.0", "000100"},
        {"10.2", "1002"},    {"1.2.3-rc1", "010203"}, {"garbage", "0"},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        struct api_node_status st = base_status();
        st.version = cases[i].version;
        struct api_metrics_facts f = {0};
        struct parsed p;
        char *text = render(&st, &f, &p);
        assert_string_equal(find(&p, "patroni_version")->raw, cases[i].padded);
        rg_free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primary_has_patronis_metrics_names_and_types),
        cmocka_unit_test(test_streaming_replica),
        cmocka_unit_test(test_node_without_postgresql),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_failovers_from_the_history),
        cmocka_unit_test(test_version_padding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
