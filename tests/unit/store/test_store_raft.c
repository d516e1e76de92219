/*
 * The same log gives the same state on every node: three c-raft servers in
 * raft_fixture (in-memory I/O, fake clock), each with a struct raft_fsm that
 * decodes entries with store_cmd_decode and applies them with
 * store_fsm_apply. Snapshots go through store_state_snapshot/restore, and a
 * node that was down while the log was compacted catches up by
 * InstallSnapshot.
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
#include <raft.h>
#include <raft/fixture.h>
/* clang-format on */

#include "agent/rg.h"
#include "raft/store_fsm.h"
#include "store_helpers.h"

#define N_NODES 3

struct node {
    struct raft_fsm fsm;
    struct store_state s;
    unsigned applied;  /* entries applied */
    unsigned restores; /* snapshots restored */
    int last_code;
};

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct node *n = fsm->data;
    struct store_cmd cmd;
    char errmsg[RG_ERRMSG_SIZE];
    if (store_cmd_decode(buf->base, buf->len, &cmd, errmsg) != 0) {
        return RAFT_MALFORMED;
    }
    struct store_result r;
    store_fsm_apply(&n->s, &cmd, &r);
    store_cmd_close(&cmd);
    if (r.code == RG_EUNSUPPORTED) {
        return RAFT_MALFORMED;
    }
    n->applied++;
    n->last_code = r.code;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct node *n = fsm->data;
    char *text;
    size_t len;
    store_state_snapshot(&n->s, &text, &len);
    *bufs = raft_malloc(sizeof **bufs);
    assert_non_null(*bufs);
    (*bufs)[0].base = raft_malloc(len);
    assert_non_null((*bufs)[0].base);
    memcpy((*bufs)[0].base, text, len);
    (*bufs)[0].len = len;
    *n_bufs = 1;
    rg_free(text);
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct node *n = fsm->data;
    char errmsg[RG_ERRMSG_SIZE];
    if (store_state_restore(&n->s, buf->base, buf->len, errmsg) != 0) {
        return RAFT_MALFORMED;
    }
    n->restores++;
    raft_free(buf->base); /* on success the FSM owns the buffer */
    return 0;
}

struct fix {
    struct raft_fixture f;
    struct node nodes[N_NODES];
    struct raft_apply reqs[256];
    unsigned n_reqs;
    unsigned cb_errors;
};

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    (void)result;
    struct fix *fx = req->data;
    if (status != 0) {
        fx->cb_errors++;
    }
}

static int setup(void **state)
{
    struct fix *fx = rg_calloc(1, sizeof *fx);
    memset(&fx->f, 0, sizeof fx->f); /* raft_fixture_initialize does not zero it */
    assert_int_equal(raft_fixture_initialize(&fx->f), 0);
    for (unsigned i = 0; i < N_NODES; i++) {
        struct node *n = &fx->nodes[i];
        store_state_init(&n->s);
        n->fsm.version = 1;
        n->fsm.data = n;
        n->fsm.apply = fsm_apply;
        n->fsm.snapshot = fsm_snapshot;
        n->fsm.restore = fsm_restore;
        assert_int_equal(raft_fixture_grow(&fx->f, &n->fsm), 0);
        raft_set_snapshot_threshold(raft_fixture_get(&fx->f, i), 16);
        raft_set_snapshot_trailing(raft_fixture_get(&fx->f, i), 4);
    }
    struct raft_configuration conf;
    assert_int_equal(raft_fixture_configuration(&fx->f, N_NODES, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&fx->f, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&fx->f), 0);
    assert_true(raft_fixture_step_until_has_leader(&fx->f, 10000));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fix *fx = *state;
    raft_fixture_close(&fx->f);
    for (unsigned i = 0; i < N_NODES; i++) {
        store_state_close(&fx->nodes[i].s);
    }
    rg_free(fx);
    return 0;
}

/* Propose @c on the leader; returns the entry's index. */
static raft_index propose(struct fix *fx, struct store_cmd c)
{
    struct raft *leader = raft_fixture_get(&fx->f, raft_fixture_leader_index(&fx->f));
    char *text;
    size_t len;
    store_cmd_encode(&c, &text, &len);
    store_cmd_close(&c);
    struct raft_buffer buf = {.base = raft_malloc(len), .len = len};
    assert_non_null(buf.base);
    memcpy(buf.base, text, len);
    rg_free(text);
    assert_true(fx->n_reqs < RG_ARRAY_SIZE(fx->reqs));
    struct raft_apply *req = &fx->reqs[fx->n_reqs++];
    req->data = fx;
    assert_int_equal(raft_apply(leader, req, &buf, 1, apply_cb), 0);
    return raft_last_index(leader);
}

/* A script touching every record: bootstrap, lease, members, handover. */
static raft_index propose_script(struct fix *fx, uint64_t *ct)
{
    struct store_cmd c = mk(STORE_OP_PEER_SET, ++*ct);
    c.peer_id = 0x8000000000000001ULL;
    strcpy(c.name, "node1");
    strcpy(c.address, "10.0.0.1:7000");
    c.kind = STORE_PEER_MEMBER;
    propose(fx, c);
    c = mk(STORE_OP_PEER_SET, ++*ct);
    c.peer_id = 3;
    strcpy(c.name, "wit");
    strcpy(c.address, "10.0.0.3:7000");
    c.kind = STORE_PEER_WITNESS;
    propose(fx, c);
    c = mk(STORE_OP_CONFIG_SET, ++*ct);
    c.json = json("{\"ttl\":2.5,\"synchronous_mode\":true}");
    propose(fx, c);
    propose(fx, mk_named(STORE_OP_INIT_CLAIM, ++*ct, "node1", 0));
    propose(fx, mk_grant(++*ct, "wit", 0, 2500)); /* refused: witness */
    c = mk_grant(++*ct, "node1", 0, 2500);
    struct store_cmd retry = c; /* same id, proposed twice */
    retry.json = NULL;
    propose(fx, c);
    propose(fx, retry);
    propose(fx, mk_renew(++*ct, "node1", 1, 2500, true));
    c = mk_named(STORE_OP_INIT_SET, ++*ct, "node1", 1);
    strcpy(c.sysid, "7301234567890123456");
    propose(fx, c);
    c = mk_named(STORE_OP_MEMBER_SET, ++*ct, "node2", 0);
    c.json = json("{\"role\":\"replica\",\"lsn\":\"100\"}");
    propose(fx, c);
    c = mk_named(STORE_OP_SYNC_SET, ++*ct, "node1", 1);
    c.json = json("[\"node2\"]");
    propose(fx, c);
    c = mk_named(STORE_OP_HISTORY_ADD, ++*ct, "node1", 1);
    c.json = json("[1,\"0/3000000\",\"initdb\"]");
    propose(fx, c);
    c = mk_named(STORE_OP_HANDOVER, ++*ct, "node1", 1);
    strcpy(c.to, "node2");
    propose(fx, c);
    return propose(fx, mk_renew(++*ct, "node2", 2, 2500, true));
}

static void assert_all_equal(struct fix *fx)
{
    for (unsigned i = 1; i < N_NODES; i++) {
        assert_true(store_state_equal(&fx->nodes[0].s, &fx->nodes[i].s));
    }
}

static void test_same_log_gives_the_same_state_on_every_node(void **state)
{
    struct fix *fx = *state;
    uint64_t ct = 1000;
    raft_index last = propose_script(fx, &ct);
    assert_true(raft_fixture_step_until_applied(&fx->f, N_NODES, last, 10000));
    assert_int_equal(fx->cb_errors, 0);
    assert_all_equal(fx);
    struct store_state *s = &fx->nodes[0].s;
    assert_true(s->lease.epoch == 2);
    assert_string_equal(s->lease.holder, "node2");
    assert_string_equal(s->init_sysid, "7301234567890123456");
    assert_int_equal(s->n_peers, 2);
    assert_int_equal(cJSON_GetArraySize(s->history), 1);
}

static void test_lagging_node_converges_through_a_snapshot(void **state)
{
    struct fix *fx = *state;
    uint64_t ct = 1000;
    raft_index last = propose_script(fx, &ct);
    assert_true(raft_fixture_step_until_applied(&fx->f, N_NODES, last, 10000));

    unsigned leader = raft_fixture_leader_index(&fx->f);
    unsigned lagging = (leader + 1) % N_NODES;
    raft_fixture_kill(&fx->f, lagging);
    /* Enough entries to take several snapshots and drop the lagging node's
     * next entries from the leader's log. */
    for (int i = 0; i < 60; i++) {
        ct += 250;
        if (i % 3 == 0) {
            struct store_cmd c = mk_named(STORE_OP_MEMBER_SET, ct, "node3", 0);
            c.json = cJSON_CreateObject();
            cJSON_AddNumberToObject(c.json, "i", i);
            last = propose(fx, c);
        } else {
            last = propose(fx, mk_renew(ct, "node2", 2, 2500, i % 2 == 0));
        }
    }
    assert_true(raft_fixture_step_until_applied(&fx->f, leader, last, 20000));
    assert_false(store_state_equal(&fx->nodes[leader].s, &fx->nodes[lagging].s));
    raft_fixture_revive(&fx->f, lagging);
    assert_true(raft_fixture_step_until_applied(&fx->f, N_NODES, last, 20000));
    assert_true(fx->nodes[lagging].restores > 0);
    assert_all_equal(fx);
    assert_int_equal(fx->cb_errors, 0);
    assert_true(fx->nodes[leader].s.last_ct == ct);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_log_gives_the_same_state_on_every_node, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lagging_node_converges_through_a_snapshot, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
