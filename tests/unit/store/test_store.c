/*
 * Unit tests for the cluster store's state machine: command encoding and
 * decoding, every apply-time rule of DESIGN.md "The cluster store" and
 * "Leases", dedup, format levels, snapshots.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
/* clang-format on */

#include "agent/rg.h"
#include "raft/store_fsm.h"
#include "store_helpers.h"

static int setup_state(void **state)
{
    struct store_state *s = rg_malloc(sizeof *s);
    store_state_init(s);
    *state = s;
    return 0;
}

static int teardown_state(void **state)
{
    struct store_state *s = *state;
    store_state_close(s);
    rg_free(s);
    return 0;
}

/* ---- encode / decode --------------------------------------------------- */

static void assert_round_trip(const struct store_cmd *c)
{
    char *a, *b;
    size_t alen, blen;
    char errmsg[RG_ERRMSG_SIZE] = "";
    struct store_cmd d;
    store_cmd_encode(c, &a, &alen);
    int rv = store_cmd_decode(a, alen, &d, errmsg);
    if (rv != 0) {
        fail_msg("decode of %s failed: %s", a, errmsg);
    }
    assert_int_equal(d.v, c->v);
    assert_int_equal(d.op, c->op);
    assert_string_equal(d.id, c->id);
    assert_true(d.ct == c->ct);
    assert_string_equal(d.name, c->name);
    assert_string_equal(d.to, c->to);
    assert_true(d.epoch == c->epoch);
    assert_true(d.ttl == c->ttl);
    assert_true(d.lsn == c->lsn);
    assert_int_equal(d.fencing, c->fencing);
    assert_true(d.version == c->version);
    assert_true(d.level == c->level);
    assert_true(d.switchover_timeout == c->switchover_timeout);
    assert_string_equal(d.sysid, c->sysid);
    assert_true(d.peer_id == c->peer_id);
    assert_string_equal(d.address, c->address);
    assert_string_equal(d.api_url, c->api_url);
    assert_int_equal(d.kind, c->kind);
    assert_true((d.json == NULL) == (c->json == NULL));
    if (c->json != NULL) {
        assert_true(cJSON_Compare(d.json, c->json, true));
    }
    store_cmd_encode(&d, &b, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    store_cmd_close(&d);
    rg_free(a);
    rg_free(b);
}

static void test_every_op_round_trips_with_u64_max(void **state)
{
    (void)state;
    for (int op = STORE_OP_NONE + 1; op < STORE_OP__COUNT; op++) {
        struct store_cmd c = mk((enum store_op)op, UINT64_MAX);
        snprintf(c.id, sizeof c.id, "%039d", op); /* 39 characters, the longest */
        /* Fill only the fields this op carries: the rest must stay zero. */
        switch (c.op) {
        case STORE_OP_INIT_SET:
            snprintf(c.sysid, sizeof c.sysid, "%s", "7234567890123456789012345678901");
            c.epoch = UINT64_MAX;
            __attribute__((fallthrough));
        case STORE_OP_INIT_CLAIM:
        case STORE_OP_INIT_CLEAR:
        case STORE_OP_MEMBER_DEL:
            memset(c.name, 'n', STORE_NAME_SIZE - 1);
            break;
        case STORE_OP_CONFIG_SET:
            c.version = UINT64_MAX;
            c.json = json("{\"ttl\":30,\"postgresql\":{\"parameters\":{\"a\":[1,2.5,null]}}}");
            break;
        case STORE_OP_PEER_SET:
            c.peer_id = UINT64_MAX;
            strcpy(c.name, "node-1.a_b");
            memset(c.address, 'a', sizeof c.address - 1);
            strcpy(c.api_url, "https://10.0.0.1:8008/");
            c.kind = STORE_PEER_WITNESS;
            break;
        case STORE_OP_PEER_DEL:
            c.peer_id = UINT64_MAX;
            break;
        case STORE_OP_MEMBER_SET:
            strcpy(c.name, "node1");
            c.json = json("{\"role\":\"replica\",\"lsn\":\"18446744073709551615\"}");
            break;
        case STORE_OP_RENEW:
            strcpy(c.name, "node1");
            c.epoch = c.ttl = c.lsn = UINT64_MAX;
            c.fencing = true;
            break;
        case STORE_OP_GRANT:
            strcpy(c.name, "node1");
            c.epoch = c.ttl = c.switchover_timeout = UINT64_MAX;
            c.json = json("[{\"name\":\"node2\",\"lsn\":5}]");
            break;
        case STORE_OP_RELEASE:
            strcpy(c.name, "node1");
            c.epoch = c.lsn = UINT64_MAX;
            break;
        case STORE_OP_HANDOVER:
            strcpy(c.name, "node1");
            strcpy(c.to, "node2");
            c.epoch = c.lsn = UINT64_MAX;
            break;
        case STORE_OP_FAILOVER_SET:
            strcpy(c.name, "node1");
            c.epoch = UINT64_MAX;
            c.json = json("{\"from\":\"node1\",\"to\":\"node2\"}");
            break;
        case STORE_OP_SYNC_SET:
        case STORE_OP_STATUS_SET:
        case STORE_OP_HISTORY_ADD:
            strcpy(c.name, "node1");
            c.epoch = UINT64_MAX;
            c.json = json("[1,\"0/3000000\",\"failover\"]");
            break;
        case STORE_OP_FORMAT_RAISE:
            c.level = UINT64_MAX;
            break;
        default:
            break;
        }
        assert_round_trip(&c);
        store_cmd_close(&c);
    }
}

static void test_optional_fields_round_trip_when_absent(void **state)
{
    (void)state;
    struct store_cmd c = mk_grant(5, "node1", 0, 2500);
    assert_round_trip(&c); /* no reports */
    c = mk_named(STORE_OP_FAILOVER_SET, 5, "", 0);
    assert_round_trip(&c); /* operator request clearing the record */
    c = mk_named(STORE_OP_SYNC_SET, 5, "node1", 3);
    assert_round_trip(&c);
}

static void test_u64_fields_are_encoded_as_strings(void **state)
{
    (void)state;
    struct store_cmd c = mk_renew(UINT64_MAX, "node1", 9007199254740993ULL, 2500, true);
    char *buf;
    size_t len;
    store_cmd_encode(&c, &buf, &len);
    assert_non_null(strstr(buf, "\"epoch\":\"9007199254740993\""));
    assert_non_null(strstr(buf, "\"ct\":\"18446744073709551615\""));
    assert_non_null(strstr(buf, "\"v\":1"));
    assert_int_equal(strlen(buf), len);
    rg_free(buf);
}

static void test_decode_accepts_exact_json_numbers(void **state)
{
    (void)state;
    const char *t = "{\"v\":1,\"op\":\"renew\",\"id\":\"x\",\"ct\":123,\"name\":\"n1\","
                    "\"epoch\":2,\"ttl\":2500,\"lsn\":9007199254740992,\"fencing\":false}";
    struct store_cmd c;
    char errmsg[RG_ERRMSG_SIZE];
    assert_int_equal(store_cmd_decode(t, strlen(t), &c, errmsg), 0);
    assert_true(c.ct == 123 && c.epoch == 2 && c.ttl == 2500 && c.lsn == 9007199254740992ULL);
    store_cmd_close(&c);
}

struct bad_case {
    const char *text;
    int code;
    const char *errmsg_part;
};

static void test_malformed_commands_are_rejected_naming_the_field(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"", RG_EPARSE, "not valid JSON"},
        {"[1]", RG_EPARSE, "JSON object"},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"a\",\"ct\":1} x", RG_EPARSE, "not valid JSON"},
        {"{\"op\":\"noop\",\"id\":\"a\",\"ct\":1}", RG_EPARSE, "\"v\""},
        {"{\"v\":\"1\",\"op\":\"noop\",\"id\":\"a\",\"ct\":1}", RG_EPARSE, "\"v\""},
        {"{\"v\":0,\"op\":\"noop\",\"id\":\"a\",\"ct\":1}", RG_EPARSE, "\"v\""},
        {"{\"v\":1.5,\"op\":\"noop\",\"id\":\"a\",\"ct\":1}", RG_EPARSE, "\"v\""},
        {"{\"v\":2,\"op\":\"noop\",\"id\":\"a\",\"ct\":1}", RG_EUNSUPPORTED, "version 2"},
        {"{\"v\":2,\"op\":\"teleport\",\"id\":\"a\",\"ct\":1}", RG_EUNSUPPORTED, "version 2"},
        {"{\"v\":1,\"op\":\"teleport\",\"id\":\"a\",\"ct\":1}", RG_EUNSUPPORTED, "teleport"},
        {"{\"v\":1,\"op\":7,\"id\":\"a\",\"ct\":1}", RG_EPARSE, "\"op\""},
        {"{\"v\":1,\"op\":\"noop\",\"ct\":1}", RG_EPARSE, "\"id\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"\",\"ct\":1}", RG_EPARSE, "\"id\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"a b\",\"ct\":1}", RG_EPARSE, "\"id\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"0123456789012345678901234567890123456789\",\"ct\":1}",
         RG_EPARSE, "\"id\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"a\"}", RG_EPARSE, "\"ct\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"a\",\"ct\":-1}", RG_EPARSE, "\"ct\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"a\",\"ct\":\"18446744073709551616\"}", RG_EPARSE,
         "\"ct\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"a\",\"ct\":\"012\"}", RG_EPARSE, "\"ct\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"a\",\"ct\":1e300}", RG_EPARSE, "\"ct\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"a\",\"ct\":1,\"name\":\"x\"}", RG_EPARSE, "\"name\""},
        {"{\"v\":1,\"op\":\"noop\",\"id\":\"a\",\"ct\":1,\"ct\":2}", RG_EPARSE, "twice"},
        {"{\"v\":1,\"op\":\"init_claim\",\"id\":\"a\",\"ct\":1}", RG_EPARSE, "\"name\": missing"},
        {"{\"v\":1,\"op\":\"init_claim\",\"id\":\"a\",\"ct\":1,\"name\":\"a/b\"}", RG_EPARSE,
         "\"name\""},
        {"{\"v\":1,\"op\":\"init_claim\",\"id\":\"a\",\"ct\":1,\"name\":\"\"}", RG_EPARSE,
         "\"name\""},
        {"{\"v\":1,\"op\":\"init_claim\",\"id\":\"a\",\"ct\":1,\"name\":"
         "\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"}",
         RG_EPARSE, "\"name\""},
        {"{\"v\":1,\"op\":\"init_claim\",\"id\":\"a\",\"ct\":1,\"name\":\"a\",\"name\":\"b\"}",
         RG_EPARSE, "twice"},
        {"{\"v\":1,\"op\":\"init_set\",\"id\":\"a\",\"ct\":1,\"name\":\"a\",\"epoch\":\"1\","
         "\"sysid\":\"12ab\"}",
         RG_EPARSE, "\"sysid\""},
        {"{\"v\":1,\"op\":\"init_set\",\"id\":\"a\",\"ct\":1,\"name\":\"a\",\"epoch\":\"1\","
         "\"sysid\":\"12345678901234567890123456789012\"}",
         RG_EPARSE, "\"sysid\""},
        {"{\"v\":1,\"op\":\"config_set\",\"id\":\"a\",\"ct\":1,\"version\":\"0\",\"config\":[]}",
         RG_EPARSE, "\"config\""},
        {"{\"v\":1,\"op\":\"config_set\",\"id\":\"a\",\"ct\":1,\"version\":\"0\",\"config\":"
         "{\"x\":1e999}}",
         RG_EPARSE, "\"config\""},
        {"{\"v\":1,\"op\":\"peer_set\",\"id\":\"a\",\"ct\":1,\"peer_id\":\"0\",\"name\":\"n\","
         "\"address\":\"1.2.3.4:5\",\"api_url\":\"\",\"kind\":\"member\"}",
         RG_EPARSE, "\"peer_id\""},
        {"{\"v\":1,\"op\":\"peer_set\",\"id\":\"a\",\"ct\":1,\"peer_id\":\"5\",\"name\":\"n\","
         "\"address\":\"\",\"api_url\":\"\",\"kind\":\"member\"}",
         RG_EPARSE, "\"address\""},
        {"{\"v\":1,\"op\":\"peer_set\",\"id\":\"a\",\"ct\":1,\"peer_id\":\"5\",\"name\":\"n\","
         "\"address\":\"1.2.3.4:5\",\"api_url\":\"\",\"kind\":\"voter\"}",
         RG_EPARSE, "\"kind\""},
        {"{\"v\":1,\"op\":\"renew\",\"id\":\"a\",\"ct\":1,\"name\":\"n\",\"epoch\":\"1\","
         "\"ttl\":\"0\",\"lsn\":\"0\",\"fencing\":true}",
         RG_EPARSE, "\"ttl\""},
        {"{\"v\":1,\"op\":\"renew\",\"id\":\"a\",\"ct\":1,\"name\":\"n\",\"epoch\":\"1\","
         "\"ttl\":\"5\",\"lsn\":\"0\",\"fencing\":1}",
         RG_EPARSE, "\"fencing\""},
        {"{\"v\":1,\"op\":\"handover\",\"id\":\"a\",\"ct\":1,\"name\":\"n\",\"epoch\":\"1\","
         "\"lsn\":\"0\"}",
         RG_EPARSE, "\"to\""},
        {"{\"v\":1,\"op\":\"history_add\",\"id\":\"a\",\"ct\":1,\"name\":\"n\",\"epoch\":\"1\","
         "\"entry\":null}",
         RG_EPARSE, "\"entry\""},
        {"{\"v\":1,\"op\":\"failover_set\",\"id\":\"a\",\"ct\":1,\"epoch\":\"0\",\"failover\":3}",
         RG_EPARSE, "\"failover\""},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(cases); i++) {
        struct store_cmd c;
        char errmsg[RG_ERRMSG_SIZE] = "";
        int rv = store_cmd_decode(cases[i].text, strlen(cases[i].text), &c, errmsg);
        if (rv != cases[i].code || strstr(errmsg, cases[i].errmsg_part) == NULL) {
            fail_msg("case %zu (%s): got %d \"%s\"", i, cases[i].text, rv, errmsg);
        }
        assert_null(c.json);
    }
}

static void test_decode_rejects_embedded_nul_and_deep_nesting(void **state)
{
    (void)state;
    struct store_cmd c;
    char errmsg[RG_ERRMSG_SIZE];
    const char nul[] = "{\"v\":1,\"op\":\"noop\",\"id\":\"a\",\"ct\":1}\0garbage";
    assert_int_equal(store_cmd_decode(nul, sizeof nul - 1, &c, errmsg), RG_EPARSE);
    /* 100 levels: valid JSON, too deep for a payload */
    char deep[512] =
        "{\"v\":1,\"op\":\"member_set\",\"id\":\"a\",\"ct\":1,\"name\":\"n\",\"data\":{"
        "\"x\":";
    for (int i = 0; i < 100; i++) {
        strcat(deep, "[");
    }
    for (int i = 0; i < 100; i++) {
        strcat(deep, "]");
    }
    strcat(deep, "}}");
    assert_int_equal(store_cmd_decode(deep, strlen(deep), &c, errmsg), RG_EPARSE);
    assert_non_null(strstr(errmsg, "\"data\""));
}

/* ---- lease rules ------------------------------------------------------- */

/* node1 holds epoch 1, renewed at ct 1000 with ttl 2500: expires 3500. */
static void hold_lease(struct store_state *s)
{
    assert_int_equal(apply_cmd(s, mk_grant(900, "node1", 0, 2500), NULL), 0);
    assert_int_equal(apply_cmd(s, mk_renew(1000, "node1", 1, 2500, true), NULL), 0);
    assert_true(s->lease.expires_at == 3500);
}

static void test_first_grant_sets_epoch_one_and_a_ttl(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    struct store_cmd g = mk_grant(900, "node1", 0, 2500);
    g.json = json("[{\"name\":\"node1\",\"lsn\":\"7\"}]");
    assert_int_equal(apply_cmd(s, g, &r), 0);
    assert_true(r.epoch == 1);
    assert_string_equal(s->lease.holder, "node1");
    assert_true(s->lease.renewed_at == 900 && s->lease.expires_at == 3400);
    assert_true(s->lease.fencing && !s->lease.released && !s->lease.handover_unconfirmed);
    assert_non_null(s->lease_reports);
    assert_true(store_lease_valid(&s->lease, 3399));
    assert_false(store_lease_valid(&s->lease, 3400));
}

static void test_renew_extends_and_never_shortens(void **state)
{
    struct store_state *s = *state;
    hold_lease(s);
    assert_int_equal(apply_cmd(s, mk_renew(1250, "node1", 1, 2500, true), NULL), 0);
    assert_true(s->lease.expires_at == 3750 && s->lease.renewed_at == 1250);
    /* A lower ttl takes effect only once the higher one has run out. */
    assert_int_equal(apply_cmd(s, mk_renew(1500, "node1", 1, 1000, true), NULL), 0);
    assert_true(s->lease.expires_at == 3750);
    assert_int_equal(apply_cmd(s, mk_renew(3000, "node1", 1, 1000, true), NULL), 0);
    assert_true(s->lease.expires_at == 4000);
    /* An entry stamped earlier (leader change) never moves renewed_at back. */
    assert_int_equal(apply_cmd(s, mk_renew(2000, "node1", 1, 1000, true), NULL), 0);
    assert_true(s->lease.renewed_at == 3000 && s->lease.expires_at == 4000);
    assert_true(s->lease.lsn == 20000);
}

static void test_renew_refused_for_wrong_holder_epoch_or_released(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    assert_int_equal(apply_cmd(s, mk_renew(10, "node1", 0, 2500, true), &r), RG_ECONFLICT);
    hold_lease(s);
    assert_int_equal(apply_cmd(s, mk_renew(1100, "node2", 1, 2500, true), &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "not the lease holder");
    assert_int_equal(apply_cmd(s, mk_renew(1100, "node1", 2, 2500, true), &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "epoch mismatch (current 1)");
    struct store_cmd rel = mk_named(STORE_OP_RELEASE, 1200, "node1", 1);
    rel.lsn = 77;
    assert_int_equal(apply_cmd(s, rel, NULL), 0);
    assert_true(s->lease.released && s->lease.lsn == 77 && s->lease.expires_at == 3500);
    assert_int_equal(apply_cmd(s, mk_renew(1300, "node1", 1, 2500, true), &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "lease released");
    assert_true(s->lease.expires_at == 3500);
}

static void test_grant_refused_while_lease_valid(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    hold_lease(s);
    assert_int_equal(apply_cmd(s, mk_grant(3499, "node2", 1, 2500), &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "lease is valid");
    assert_true(r.epoch == 1);
    assert_string_equal(s->lease.holder, "node1");
}

static void test_grant_refused_for_stale_epoch(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    hold_lease(s);
    assert_int_equal(apply_cmd(s, mk_grant(9999, "node2", 0, 2500), &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "epoch mismatch (current 1)");
}

static void test_grant_after_expiry_by_cluster_time_when_fencing(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    hold_lease(s);
    cJSON *fo = json("{\"from\":\"node1\"}");
    s->failover = fo;
    s->sync = json("{\"members\":[\"node2\"]}");
    assert_int_equal(apply_cmd(s, mk_grant(3500, "node2", 1, 2500), &r), 0);
    assert_true(r.epoch == 2 && s->lease.epoch == 2);
    assert_string_equal(s->lease.holder, "node2");
    assert_true(s->lease.renewed_at == 3500 && s->lease.expires_at == 6000);
    assert_null(s->failover);
    assert_null(s->sync);
    /* The new holder renews under epoch 2; the old one is refused. */
    assert_int_equal(apply_cmd(s, mk_renew(3600, "node1", 1, 2500, true), NULL), RG_ECONFLICT);
    assert_int_equal(apply_cmd(s, mk_renew(3600, "node2", 2, 2500, true), NULL), 0);
}

static void test_grant_refused_after_expiry_while_paused_but_allowed_on_release(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    hold_lease(s);
    assert_int_equal(apply_cmd(s, mk_renew(2000, "node1", 1, 2500, false), NULL), 0);
    assert_false(s->lease.fencing);
    assert_int_equal(apply_cmd(s, mk_grant(100000, "node2", 1, 2500), &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "lease expired but the holder is not fencing (paused)");
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_RELEASE, 100001, "node1", 1), NULL), 0);
    assert_int_equal(apply_cmd(s, mk_grant(100002, "node2", 1, 2500), &r), 0);
    assert_true(r.epoch == 2);
}

static void test_grant_after_resume_needs_a_fencing_renewal(void **state)
{
    struct store_state *s = *state;
    hold_lease(s);
    assert_int_equal(apply_cmd(s, mk_renew(2000, "node1", 1, 2500, false), NULL), 0);
    assert_int_equal(apply_cmd(s, mk_renew(5000, "node1", 1, 2500, true), NULL), 0);
    assert_int_equal(apply_cmd(s, mk_grant(7499, "node2", 1, 2500), NULL), RG_ECONFLICT);
    assert_int_equal(apply_cmd(s, mk_grant(7500, "node2", 1, 2500), NULL), 0);
}

static void test_handover_then_grant_after_switchover_timeout(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    hold_lease(s);
    s->failover = json("{\"from\":\"node1\",\"to\":\"node2\"}");
    struct store_cmd h = mk_named(STORE_OP_HANDOVER, 2000, "node1", 1);
    strcpy(h.to, "node2");
    h.lsn = 4242;
    assert_int_equal(apply_cmd(s, h, &r), 0);
    assert_true(r.epoch == 2);
    assert_string_equal(s->lease.holder, "node2");
    assert_true(s->lease.handover_unconfirmed && s->lease.renewed_at == 2000);
    assert_true(s->lease.expires_at == 3500 && s->lease.lsn == 4242);
    assert_null(s->failover);
    /* Unconfirmed: grant possible once switchover_timeout (1000) has passed
     * since the handover, even though expires_at (3500) is later. */
    assert_int_equal(apply_cmd(s, mk_grant(2999, "node3", 2, 2500), &r), RG_ECONFLICT);
    assert_int_equal(apply_cmd(s, mk_grant(3000, "node3", 2, 2500), &r), 0);
    assert_true(r.epoch == 3);
    assert_false(s->lease.handover_unconfirmed);
}

static void test_renewal_confirms_handover(void **state)
{
    struct store_state *s = *state;
    hold_lease(s);
    struct store_cmd h = mk_named(STORE_OP_HANDOVER, 2000, "node1", 1);
    strcpy(h.to, "node2");
    assert_int_equal(apply_cmd(s, h, NULL), 0);
    assert_int_equal(apply_cmd(s, mk_renew(2100, "node2", 2, 2500, true), NULL), 0);
    assert_false(s->lease.handover_unconfirmed);
    assert_int_equal(apply_cmd(s, mk_grant(3100, "node3", 2, 2500), NULL), RG_ECONFLICT);
}

static void test_epoch_increments_on_every_grant_and_handover(void **state)
{
    struct store_state *s = *state;
    uint64_t ct = 0;
    for (uint64_t e = 0; e < 5; e++) {
        ct += 10000;
        assert_int_equal(apply_cmd(s, mk_grant(ct, e % 2 ? "node1" : "node2", e, 100), NULL), 0);
        assert_true(s->lease.epoch == e + 1);
    }
    assert_string_equal(s->lease.holder, "node2");
    struct store_cmd h = mk_named(STORE_OP_HANDOVER, ct + 1, "node2", 5);
    strcpy(h.to, "node1");
    assert_int_equal(apply_cmd(s, h, NULL), 0);
    assert_true(s->lease.epoch == 6);
}

static void
add_peer(struct store_state *s, uint64_t id, const char *name, enum store_peer_kind kind)
{
    struct store_cmd p = mk(STORE_OP_PEER_SET, 1);
    p.peer_id = id;
    strcpy(p.name, name);
    snprintf(p.address, sizeof p.address, "10.0.0.%llu:7000", (unsigned long long)(id % 250));
    strcpy(p.api_url, "http://x:8008");
    p.kind = kind;
    assert_int_equal(apply_cmd(s, p, NULL), 0);
}

static void test_witness_never_gets_the_lease(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    add_peer(s, 3, "wit", STORE_PEER_WITNESS);
    assert_int_equal(apply_cmd(s, mk_grant(10, "wit", 0, 2500), &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "a witness never holds the lease");
    hold_lease(s);
    struct store_cmd h = mk_named(STORE_OP_HANDOVER, 2000, "node1", 1);
    strcpy(h.to, "wit");
    assert_int_equal(apply_cmd(s, h, &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "a witness never holds the lease");
}

static void test_holder_writes_need_holder_epoch_and_no_release(void **state)
{
    struct store_state *s = *state;
    hold_lease(s);
    struct store_cmd c = mk_named(STORE_OP_SYNC_SET, 1100, "node1", 1);
    c.json = json("{\"members\":[\"node2\"],\"k\":1}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_non_null(s->sync);
    c = mk_named(STORE_OP_STATUS_SET, 1100, "node1", 1);
    c.json = json("{\"lsn\":\"100\"}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    c = mk_named(STORE_OP_HISTORY_ADD, 1100, "node1", 1);
    c.json = json("[1,\"0/3000000\",\"no recovery target\"]");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_int_equal(cJSON_GetArraySize(s->history), 1);
    c = mk_named(STORE_OP_STATUS_SET, 1100, "node2", 1);
    c.json = json("{}");
    assert_int_equal(apply_cmd(s, c, NULL), RG_ECONFLICT);
    c = mk_named(STORE_OP_HISTORY_ADD, 1100, "node1", 0);
    c.json = json("[]");
    assert_int_equal(apply_cmd(s, c, NULL), RG_ECONFLICT);
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_RELEASE, 1200, "node1", 1), NULL), 0);
    c = mk_named(STORE_OP_SYNC_SET, 1300, "node1", 1);
    assert_int_equal(apply_cmd(s, c, NULL), RG_ECONFLICT);
    assert_non_null(s->sync);
}

static void test_failover_by_operator_or_holder(void **state)
{
    struct store_state *s = *state;
    struct store_cmd c = mk_named(STORE_OP_FAILOVER_SET, 10, "", 0);
    c.json = json("{\"to\":\"node2\"}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_non_null(s->failover);
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_FAILOVER_SET, 11, "", 0), NULL), 0);
    assert_null(s->failover);
    hold_lease(s);
    c = mk_named(STORE_OP_FAILOVER_SET, 1100, "node2", 1);
    c.json = json("{}");
    assert_int_equal(apply_cmd(s, c, NULL), RG_ECONFLICT);
    c = mk_named(STORE_OP_FAILOVER_SET, 1100, "node1", 1);
    c.json = json("{\"from\":\"node1\",\"to\":\"node2\",\"scheduled_at\":\"x\"}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_non_null(s->failover);
}

/* ---- dedup ------------------------------------------------------------- */

static void test_same_request_id_applies_once_with_the_same_result(void **state)
{
    struct store_state *s = *state;
    struct store_result r1, r2;
    struct store_cmd g = mk_grant(100, "node1", 0, 2500);
    store_fsm_apply(s, &g, &r1);
    assert_int_equal(r1.code, 0);
    uint64_t applied = s->applied;
    g.ct = 20000; /* a retry proposed later: same id, must not grant again */
    store_fsm_apply(s, &g, &r2);
    assert_int_equal(r2.code, 0);
    assert_true(r2.epoch == 1 && s->lease.epoch == 1 && s->applied == applied);
    assert_string_equal(r2.reason, "duplicate request id");
    assert_true(s->last_ct == 20000);
    store_cmd_close(&g);
}

static void test_refused_result_is_recorded_for_retries(void **state)
{
    struct store_state *s = *state;
    struct store_result r1, r2;
    hold_lease(s);
    struct store_cmd g = mk_grant(1500, "node2", 1, 2500);
    store_fsm_apply(s, &g, &r1);
    assert_int_equal(r1.code, RG_ECONFLICT);
    g.ct = 9000; /* would succeed now, but the id already has its answer */
    store_fsm_apply(s, &g, &r2);
    assert_int_equal(r2.code, RG_ECONFLICT);
    assert_true(r2.epoch == 1 && s->lease.epoch == 1);
    store_cmd_close(&g);
}

static void test_dedup_ring_forgets_the_oldest(void **state)
{
    struct store_state *s = *state;
    struct store_cmd first = mk(STORE_OP_NOOP, 1);
    struct store_result r;
    store_fsm_apply(s, &first, &r);
    for (int i = 0; i < STORE_DEDUP_SIZE; i++) {
        apply_cmd(s, mk(STORE_OP_NOOP, 2), NULL);
    }
    uint64_t applied = s->applied;
    store_fsm_apply(s, &first, &r);
    assert_string_not_equal(r.reason, "duplicate request id");
    assert_true(s->applied == applied + 1);
}

/* ---- initialize, config, peers, members -------------------------------- */

static void test_init_claim_set_flow(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLAIM, 10, "node1", 0), NULL), 0);
    assert_string_equal(s->init_claim, "node1");
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLAIM, 11, "node2", 0), &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "already claimed by \"node1\"");
    /* INIT_SET needs the claimant to hold the lease under that epoch. */
    struct store_cmd set = mk_named(STORE_OP_INIT_SET, 12, "node1", 0);
    strcpy(set.sysid, "7301234567890123456");
    assert_int_equal(apply_cmd(s, set, NULL), RG_ECONFLICT);
    assert_int_equal(apply_cmd(s, mk_grant(20, "node1", 0, 2500), NULL), 0);
    assert_true(s->init_claim_epoch == 1);
    set = mk_named(STORE_OP_INIT_SET, 30, "node2", 1);
    strcpy(set.sysid, "7301234567890123456");
    assert_int_equal(apply_cmd(s, set, NULL), RG_ECONFLICT);
    set = mk_named(STORE_OP_INIT_SET, 30, "node1", 1);
    strcpy(set.sysid, "7301234567890123456");
    assert_int_equal(apply_cmd(s, set, NULL), 0);
    assert_string_equal(s->init_sysid, "7301234567890123456");
    assert_string_equal(s->init_claim, "");
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLAIM, 40, "node2", 0), &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "already initialized");
    set = mk_named(STORE_OP_INIT_SET, 30, "node1", 1);
    strcpy(set.sysid, "1");
    assert_int_equal(apply_cmd(s, set, NULL), RG_ECONFLICT);
}

static void test_init_clear_only_after_the_claimants_lease_expired(void **state)
{
    struct store_state *s = *state;
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLAIM, 10, "node1", 0), NULL), 0);
    assert_int_equal(apply_cmd(s, mk_grant(20, "node1", 0, 2500), NULL), 0);
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLEAR, 2519, "node1", 0), NULL),
                     RG_ECONFLICT);
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLEAR, 2520, "node2", 0), NULL),
                     RG_ECONFLICT);
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLEAR, 2520, "node1", 0), NULL), 0);
    assert_string_equal(s->init_claim, "");
    assert_true(s->init_claim_epoch == 0);
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLAIM, 2600, "node2", 0), NULL), 0);
}

static void test_config_is_compare_and_set(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    struct store_cmd c = mk(STORE_OP_CONFIG_SET, 1);
    c.version = 1;
    c.json = json("{\"ttl\":30}");
    assert_int_equal(apply_cmd(s, c, &r), RG_ECONFLICT);
    assert_string_equal(r.reason, "version mismatch (current 0)");
    c = mk(STORE_OP_CONFIG_SET, 2);
    c.json = json("{\"ttl\":30}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_true(s->config_version == 1);
    c = mk(STORE_OP_CONFIG_SET, 3);
    c.json = json("{\"ttl\":20}");
    assert_int_equal(apply_cmd(s, c, &r), RG_ECONFLICT); /* stale: still 0 */
    assert_string_equal(r.reason, "version mismatch (current 1)");
    c = mk(STORE_OP_CONFIG_SET, 4);
    c.version = 1;
    c.json = json("{\"ttl\":20}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_true(s->config_version == 2);
    assert_int_equal(cJSON_GetObjectItem(s->config, "ttl")->valueint, 20);
}

static void test_peers_sorted_replaced_and_deleted(void **state)
{
    struct store_state *s = *state;
    add_peer(s, UINT64_MAX, "c", STORE_PEER_MEMBER);
    add_peer(s, 5, "a", STORE_PEER_MEMBER);
    add_peer(s, 9, "b", STORE_PEER_WITNESS);
    add_peer(s, 7, "a", STORE_PEER_MEMBER); /* same name, new id: both kept */
    assert_int_equal(s->n_peers, 4);
    assert_true(s->peers[0].id == 5 && s->peers[1].id == 7 && s->peers[3].id == UINT64_MAX);
    assert_true(store_state_peer_by_name(s, "a")->id == 5);
    add_peer(s, 5, "z", STORE_PEER_MEMBER);
    assert_string_equal(store_state_peer(s, 5)->name, "z");
    assert_int_equal(s->n_peers, 4);
    struct store_cmd d = mk(STORE_OP_PEER_DEL, 1);
    d.peer_id = 9;
    assert_int_equal(apply_cmd(s, d, NULL), 0);
    assert_null(store_state_peer(s, 9));
    d = mk(STORE_OP_PEER_DEL, 1);
    d.peer_id = 9;
    assert_int_equal(apply_cmd(s, d, NULL), RG_ECONFLICT);
    assert_int_equal(s->n_peers, 3);
}

static void test_members_sorted_replaced_and_deleted(void **state)
{
    struct store_state *s = *state;
    const char *names[] = {"node3", "node1", "node2", "node1"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(names); i++) {
        struct store_cmd c = mk_named(STORE_OP_MEMBER_SET, 1, names[i], 0);
        c.json = cJSON_CreateObject();
        cJSON_AddNumberToObject(c.json, "i", (double)i);
        assert_int_equal(apply_cmd(s, c, NULL), 0);
    }
    assert_int_equal(s->n_members, 3);
    assert_string_equal(s->members[0].name, "node1");
    assert_string_equal(s->members[2].name, "node3");
    assert_int_equal(cJSON_GetObjectItem(store_state_member(s, "node1")->data, "i")->valueint, 3);
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_MEMBER_DEL, 1, "node2", 0), NULL), 0);
    assert_null(store_state_member(s, "node2"));
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_MEMBER_DEL, 1, "node2", 0), NULL),
                     RG_ECONFLICT);
}

/* ---- versions, cluster time -------------------------------------------- */

static void test_command_above_format_level_is_unsupported(void **state)
{
    struct store_state *s = *state;
    struct store_result r;
    struct store_cmd c = mk(STORE_OP_NOOP, 50);
    c.v = 2;
    uint64_t applied = s->applied;
    assert_int_equal(apply_cmd(s, c, &r), RG_EUNSUPPORTED);
    assert_true(s->applied == applied);
    c = mk(STORE_OP_FORMAT_RAISE, 60);
    c.level = STORE_FORMAT_LEVEL + 1;
    assert_int_equal(apply_cmd(s, c, &r), RG_EUNSUPPORTED);
    assert_true(s->format_level == 1);
    c = mk(STORE_OP_FORMAT_RAISE, 60);
    c.level = 1; /* already there */
    assert_int_equal(apply_cmd(s, c, &r), RG_ECONFLICT);
    c = mk(STORE_OP__COUNT, 60);
    assert_int_equal(apply_cmd(s, c, &r), RG_EUNSUPPORTED);
}

static void test_last_ct_never_decreases(void **state)
{
    struct store_state *s = *state;
    uint64_t cts[] = {100, 50, 300, 200, 0, 301};
    uint64_t max = 0;
    for (size_t i = 0; i < RG_ARRAY_SIZE(cts); i++) {
        /* Mix applied, refused and unsupported commands. */
        struct store_cmd c = i % 3 == 0   ? mk(STORE_OP_NOOP, cts[i])
                             : i % 3 == 1 ? mk_renew(cts[i], "nobody", 1, 100, true)
                                          : mk(STORE_OP_FORMAT_RAISE, cts[i]);
        c.level = 99;
        apply_cmd(s, c, NULL);
        max = cts[i] > max ? cts[i] : max;
        assert_true(s->last_ct == max);
    }
}

/* ---- snapshots --------------------------------------------------------- */

/* Populate every record of the state. */
static void populate(struct store_state *s)
{
    add_peer(s, 0xfedcba9876543210ULL, "node1", STORE_PEER_MEMBER);
    add_peer(s, 12, "wit", STORE_PEER_WITNESS);
    struct store_cmd c = mk(STORE_OP_CONFIG_SET, 5);
    c.json = json("{\"ttl\":30,\"pi\":3.141592653589793,\"big\":1e300,\"s\":\"\\u00e9\\n\"}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    c = mk_named(STORE_OP_MEMBER_SET, 6, "node1", 0);
    c.json = json("{\"role\":\"primary\",\"tags\":{\"nofailover\":false}}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_int_equal(apply_cmd(s, mk_named(STORE_OP_INIT_CLAIM, 7, "node1", 0), NULL), 0);
    c = mk_grant(8, "node1", 0, 2500);
    c.json = json("{\"node2\":{\"lsn\":\"5\"}}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_int_equal(apply_cmd(s, mk_renew(9, "node1", 1, 2500, true), NULL), 0);
    c = mk_named(STORE_OP_SYNC_SET, 10, "node1", 1);
    c.json = json("[\"node2\"]");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    c = mk_named(STORE_OP_STATUS_SET, 10, "node1", 1);
    c.json = json("{\"lsn\":\"123\",\"slots\":{\"s\":1}}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    c = mk_named(STORE_OP_HISTORY_ADD, 11, "node1", 1);
    c.json = json("[1,\"0/3000000\",\"x\"]");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    c = mk_named(STORE_OP_FAILOVER_SET, 12, "", 0);
    c.json = json("{\"to\":\"node2\"}");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_int_equal(apply_cmd(s, mk_grant(13, "node2", 1, 2500), NULL), RG_ECONFLICT);
}

static void assert_snapshot_round_trip(const struct store_state *s)
{
    char *buf;
    size_t len;
    char errmsg[RG_ERRMSG_SIZE] = "";
    store_state_snapshot(s, &buf, &len);
    struct store_state t;
    store_state_init(&t);
    int rv = store_state_restore(&t, buf, len, errmsg);
    if (rv != 0) {
        fail_msg("restore failed: %s", errmsg);
    }
    assert_true(store_state_equal(s, &t));
    /* And the restored state keeps behaving the same. */
    char *buf2;
    size_t len2;
    store_state_snapshot(&t, &buf2, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    store_state_close(&t);
    rg_free(buf);
    rg_free(buf2);
}

static void test_snapshot_restore_gives_an_equal_state(void **state)
{
    struct store_state *s = *state;
    assert_snapshot_round_trip(s); /* empty */
    populate(s);
    assert_non_null(s->config);
    assert_non_null(s->failover);
    assert_non_null(s->lease_reports);
    assert_snapshot_round_trip(s);
    /* Then the claimant sets the sysid and the handover is unconfirmed. */
    struct store_cmd c = mk_named(STORE_OP_INIT_SET, 20, "node1", 1);
    strcpy(c.sysid, "7301234567890123456");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    c = mk_named(STORE_OP_HANDOVER, 21, "node1", 1);
    strcpy(c.to, "node2");
    assert_int_equal(apply_cmd(s, c, NULL), 0);
    assert_snapshot_round_trip(s);
}

static void test_snapshot_round_trips_a_wrapped_dedup_ring(void **state)
{
    struct store_state *s = *state;
    populate(s);
    for (int i = 0; i < STORE_DEDUP_SIZE + 17; i++) {
        apply_cmd(s, mk(STORE_OP_NOOP, 100), NULL);
    }
    assert_snapshot_round_trip(s);
}

static void test_state_equal_notices_every_difference(void **state)
{
    struct store_state *s = *state;
    populate(s);
    char *buf;
    size_t len;
    char errmsg[RG_ERRMSG_SIZE];
    store_state_snapshot(s, &buf, &len);
    struct store_state t;
    store_state_init(&t);
    assert_int_equal(store_state_restore(&t, buf, len, errmsg), 0);
    assert_true(store_state_equal(s, &t));
    t.lease.fencing = !t.lease.fencing;
    assert_false(store_state_equal(s, &t));
    t.lease.fencing = !t.lease.fencing;
    t.dedup[0].code = 99;
    assert_false(store_state_equal(s, &t));
    t.dedup[0].code = s->dedup[0].code;
    cJSON_AddItemToArray(t.history, cJSON_CreateNull());
    assert_false(store_state_equal(s, &t));
    store_state_close(&t);
    rg_free(buf);
}

static void test_restore_of_garbage_fails_leaving_state_intact(void **state)
{
    struct store_state *s = *state;
    populate(s);
    char *good;
    size_t len;
    store_state_snapshot(s, &good, &len);
    struct store_state copy;
    store_state_init(&copy);
    char errmsg[RG_ERRMSG_SIZE];
    assert_int_equal(store_state_restore(&copy, good, len, errmsg), 0);

    const char *bad[] = {
        "", "garbage", "{}", "[]", "{\"format\":1}",
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        assert_int_equal(store_state_restore(s, bad[i], strlen(bad[i]), errmsg), RG_EPARSE);
        assert_true(store_state_equal(s, &copy));
    }
    /* Truncations of a good snapshot, and single-field corruptions. */
    for (size_t n = 0; n < len; n += 7) {
        assert_int_not_equal(store_state_restore(s, good, n, errmsg), 0);
        assert_true(store_state_equal(s, &copy));
    }
    struct {
        const char *from, *to;
        int code;
    } edits[] = {
        {"\"format\":1", "\"format\":2", RG_EUNSUPPORTED},
        {"\"format_level\":\"1\"", "\"format_level\":\"2\"", RG_EUNSUPPORTED},
        {"\"epoch\":\"1\"", "\"epoch\":\"x\"", RG_EPARSE},
        {"\"kind\":\"witness\"", "\"kind\":\"wizard\"", RG_EPARSE},
        {"\"name\":\"node1\"", "\"name\":\"no de\"", RG_EPARSE},
        {"\"released\":false", "\"released\":0", RG_EPARSE},
        {"\"history\":[", "\"history\":[null,", RG_EPARSE},
        {"\"dedup\":[[\"", "\"dedup\":[[\"a b\",0,\"0\"],[\"", RG_EPARSE},
        {"\"dedup\":[[\"", "\"dedup\":[[\"q\",-3,\"0\"],[\"", RG_EPARSE},
        {"\"sync\":", "\"extra\":1,\"sync\":", RG_EPARSE},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(edits); i++) {
        const char *at = strstr(good, edits[i].from);
        assert_non_null(at);
        char *b = rg_asprintf("%.*s%s%s", (int)(at - good), good, edits[i].to,
                              at + strlen(edits[i].from));
        int rv = store_state_restore(s, b, strlen(b), errmsg);
        if (rv != edits[i].code) {
            fail_msg("edit %zu: got %d (%s)", i, rv, errmsg);
        }
        assert_true(store_state_equal(s, &copy));
        rg_free(b);
    }
    store_state_close(&copy);
    rg_free(good);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_state, teardown_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_every_op_round_trips_with_u64_max),
        T(test_optional_fields_round_trip_when_absent),
        T(test_u64_fields_are_encoded_as_strings),
        T(test_decode_accepts_exact_json_numbers),
        T(test_malformed_commands_are_rejected_naming_the_field),
        T(test_decode_rejects_embedded_nul_and_deep_nesting),
        T(test_first_grant_sets_epoch_one_and_a_ttl),
        T(test_renew_extends_and_never_shortens),
        T(test_renew_refused_for_wrong_holder_epoch_or_released),
        T(test_grant_refused_while_lease_valid),
        T(test_grant_refused_for_stale_epoch),
        T(test_grant_after_expiry_by_cluster_time_when_fencing),
        T(test_grant_refused_after_expiry_while_paused_but_allowed_on_release),
        T(test_grant_after_resume_needs_a_fencing_renewal),
        T(test_handover_then_grant_after_switchover_timeout),
        T(test_renewal_confirms_handover),
        T(test_epoch_increments_on_every_grant_and_handover),
        T(test_witness_never_gets_the_lease),
        T(test_holder_writes_need_holder_epoch_and_no_release),
        T(test_failover_by_operator_or_holder),
        T(test_same_request_id_applies_once_with_the_same_result),
        T(test_refused_result_is_recorded_for_retries),
        T(test_dedup_ring_forgets_the_oldest),
        T(test_init_claim_set_flow),
        T(test_init_clear_only_after_the_claimants_lease_expired),
        T(test_config_is_compare_and_set),
        T(test_peers_sorted_replaced_and_deleted),
        T(test_members_sorted_replaced_and_deleted),
        T(test_command_above_format_level_is_unsupported),
        T(test_last_ct_never_decreases),
        T(test_snapshot_restore_gives_an_equal_state),
        T(test_snapshot_round_trips_a_wrapped_dedup_ring),
        T(test_state_equal_notices_every_difference),
        T(test_restore_of_garbage_fails_leaving_state_intact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
