/*
 * Unit tests for ha_sync: the synchronous_standby_names text, the mode
 * parser, and the planner's order of steps — FIRST mode adds to
 * synchronous_standby_names first and to the record once caught up, removes
 * from the record first; quorum mode the other way round; strict mode never
 * leaves a configuration that lets a commit through unreplicated.
 *
 * The planner is also driven to a fixed point by a small simulation (each
 * step applied, PostgreSQL reloading at once) checking after every step the
 * invariant the record states: the configuration in force satisfies it.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
/* clang-format on */

#include "agent/ha_sync.h"

static struct ha_sync_set set_of(unsigned k, bool any, const char *a, const char *b, const char *c)
{
    struct ha_sync_set s;
    memset(&s, 0, sizeof s);
    const char *n[3] = {a, b, c};
    for (size_t i = 0; i < 3; i++) {
        if (n[i] != NULL) {
            snprintf(s.names[s.n++], HA_SYNC_NAME_SIZE, "%s", n[i]);
        }
    }
    s.k = k;
    s.any = any;
    return s;
}

static void test_render(void **state)
{
    (void)state;
    char buf[256];
    struct ha_sync_set s = set_of(0, false, NULL, NULL, NULL);
    ha_sync_render(&s, buf, sizeof buf);
    assert_string_equal(buf, "");
    s = set_of(1, false, "node2", NULL, NULL);
    ha_sync_render(&s, buf, sizeof buf);
    assert_string_equal(buf, "FIRST 1 (\"node2\")");
    s = set_of(1, true, "a.b", "c-d", NULL);
    ha_sync_render(&s, buf, sizeof buf);
    assert_string_equal(buf, "ANY 1 (\"a.b\",\"c-d\")");
    s = set_of(1, false, HA_SYNC_PLACEHOLDER, NULL, NULL);
    ha_sync_render(&s, buf, sizeof buf);
    assert_string_equal(buf, "FIRST 1 (\"regent no synchronous standby\")");
    /* Never '*': the placeholder has a space, which no member name has. */
    assert_null(strchr(HA_SYNC_PLACEHOLDER, '*'));
    /* A short buffer truncates, never overflows. */
    char small[8];
    s = set_of(2, false, "node2", "node3", NULL);
    ha_sync_render(&s, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
}

static void test_join_split_mode(void **state)
{
    (void)state;
    char buf[64];
    struct ha_sync_set s = set_of(2, false, "a", "b", NULL), t;
    ha_sync_join(&s, buf, sizeof buf);
    assert_string_equal(buf, "a,b");
    memset(&t, 0, sizeof t);
    ha_sync_split("a,,b,a", &t);
    assert_int_equal(t.n, 2);
    assert_true(ha_sync_has(&t, "a") && ha_sync_has(&t, "b"));
    enum ha_sync_mode m = HA_SYNC_OFF;
    cJSON *v = cJSON_CreateString("Quorum");
    assert_true(ha_sync_mode_parse(v, &m));
    assert_int_equal(m, HA_SYNC_QUORUM);
    cJSON_Delete(v);
    v = cJSON_CreateTrue();
    assert_true(ha_sync_mode_parse(v, &m));
    assert_int_equal(m, HA_SYNC_ON);
    cJSON_Delete(v);
    v = cJSON_CreateString("on");
    assert_true(ha_sync_mode_parse(v, &m));
    assert_int_equal(m, HA_SYNC_ON);
    cJSON_Delete(v);
    v = cJSON_CreateString("off");
    assert_true(ha_sync_mode_parse(v, &m));
    assert_int_equal(m, HA_SYNC_OFF);
    cJSON_Delete(v);
    v = cJSON_CreateString("maybe");
    m = HA_SYNC_ON;
    assert_false(ha_sync_mode_parse(v, &m));
    assert_int_equal(m, HA_SYNC_ON);
    cJSON_Delete(v);
}

static void test_satisfies(void **state)
{
    (void)state;
    struct ha_sync_set rec = set_of(1, false, "a", NULL, NULL);
    struct ha_sync_set cfg = set_of(1, false, "a", NULL, NULL);
    assert_true(ha_sync_satisfies(&cfg, &rec));
    /* FIRST 1 (a, b) lets b acknowledge alone: not "on a". */
    cfg = set_of(1, false, "a", "b", NULL);
    assert_false(ha_sync_satisfies(&cfg, &rec));
    /* FIRST 2 (a, b): a always acknowledges. */
    cfg = set_of(2, false, "a", "b", NULL);
    assert_true(ha_sync_satisfies(&cfg, &rec));
    struct ha_sync_set none = set_of(0, false, NULL, NULL, NULL);
    cfg = set_of(0, false, NULL, NULL, NULL);
    assert_false(ha_sync_satisfies(&cfg, &rec));
    assert_true(ha_sync_satisfies(&cfg, &none));
    cfg = set_of(1, false, HA_SYNC_PLACEHOLDER, NULL, NULL);
    assert_true(ha_sync_satisfies(&cfg, &none));
    assert_false(ha_sync_satisfies(&cfg, &rec));
    /* ANY 1 (a, b) for the record ({a, b}, 1). */
    rec = set_of(1, false, "a", "b", NULL);
    cfg = set_of(1, true, "a", "b", NULL);
    assert_true(ha_sync_satisfies(&cfg, &rec));
}

/* --- the planner ----------------------------------------------------------- */

struct world {
    struct ha_sync_facts f;
    struct ha_sync_standby sb[3];
    uint64_t primary_lsn;
};

static void world_init(struct world *w, enum ha_sync_mode mode)
{
    memset(w, 0, sizeof *w);
    w->f.mode = mode;
    w->f.node_count = 1;
    w->f.record_mine = true;
    const char *names[3] = {"node2", "node3", "node4"};
    for (size_t i = 0; i < 3; i++) {
        w->sb[i] = (struct ha_sync_standby){.name = names[i],
                                            .eligible = true,
                                            .priority = 1,
                                            .reporting = true,
                                            .sync_ok = false,
                                            .flush = 100};
    }
    w->f.sb = w->sb;
    w->f.n_sb = 2; /* node2, node3 */
    w->primary_lsn = 100;
}

static struct ha_sync_plan plan(struct world *w)
{
    struct ha_sync_plan p;
    ha_sync_plan(&w->f, &p);
    assert_true(p.why[0] != '\0');
    return p;
}

/* Carry one step out as the runtime would, PostgreSQL reloading at once and
 * the standbys catching up; the configuration in force must satisfy the
 * record after every step. Returns the step. */
static enum ha_sync_step step(struct world *w)
{
    struct ha_sync_plan p = plan(w);
    switch (p.step) {
    case HA_SYNC_RECORD:
        if (getenv("SYNC_DEBUG")) {
            char a[256], b[256];
            ha_sync_render(&w->f.config, a, sizeof a);
            ha_sync_join(&p.set, b, sizeof b);
            printf("cfg %s rec %s k %u: %s\n", a, b, p.set.k, p.why);
            fflush(stdout);
        }
        /* Never published unless the configuration in force keeps it. */
        assert_true(ha_sync_satisfies(&w->f.config, &p.set));
        w->f.record = p.set;
        w->f.record_mine = true;
        break;
    case HA_SYNC_CONFIG:
        assert_true(ha_sync_satisfies(&p.set, &w->f.record));
        w->f.config = p.set;
        w->f.adopted = true;
        w->f.adopted_lsn = ++w->primary_lsn;
        for (size_t i = 0; i < w->f.n_sb; i++) {
            w->sb[i].sync_ok = ha_sync_has(&p.set, w->sb[i].name);
        }
        break;
    case HA_SYNC_IDLE:
        break;
    }
    return p.step;
}

static void settle(struct world *w)
{
    for (int i = 0; i < 20; i++) {
        /* The standbys stream: they flush everything. */
        for (size_t j = 0; j < w->f.n_sb; j++) {
            if (w->sb[j].reporting) {
                w->sb[j].flush = w->primary_lsn;
            }
        }
        if (step(w) == HA_SYNC_IDLE) {
            return;
        }
    }
    fail_msg("the planner does not settle");
}

static void test_first_adds_to_the_configuration_then_the_record(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, HA_SYNC_ON);
    struct ha_sync_plan p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_CONFIG);
    assert_true(ha_sync_has(&p.set, "node2") && p.set.n == 1 && p.set.k == 1 && !p.set.any);
    step(&w);
    /* Adopted, but not caught up past the LSN read after the change: wait,
     * and look again soon (a standby's flush takes milliseconds). */
    w.sb[0].flush = w.f.adopted_lsn - 1;
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_IDLE);
    assert_true(p.soon);
    w.sb[0].flush = w.f.adopted_lsn;
    w.sb[0].sync_ok = false;
    assert_int_equal(plan(&w).step, HA_SYNC_IDLE); /* not "sync" in pg_stat_replication */
    w.sb[0].sync_ok = true;
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_RECORD);
    assert_true(ha_sync_has(&p.set, "node2") && p.set.k == 1);
    step(&w);
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_IDLE);
    assert_false(p.soon); /* in line: nothing to look at before loop_wait */
    /* Not adopted yet (a reload pending): no record change, a look soon. */
    w.f.record.n = 0;
    w.f.record.k = 0;
    w.f.adopted = false;
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_IDLE);
    assert_true(p.soon);
}

static void test_first_removes_from_the_record_first(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, HA_SYNC_ON);
    settle(&w);
    assert_true(ha_sync_has(&w.f.record, "node2"));
    /* node2 goes: out of the record first, then node3 in its place. */
    w.sb[0].eligible = w.sb[0].reporting = false;
    struct ha_sync_plan p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_RECORD);
    assert_int_equal(p.set.n, 0);
    step(&w);
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_CONFIG);
    assert_true(ha_sync_has(&p.set, "node3") && !ha_sync_has(&p.set, "node2"));
    settle(&w);
    assert_true(ha_sync_has(&w.f.record, "node3") && w.f.record.n == 1);
}

static void test_first_sticky_and_node_count(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, HA_SYNC_ON);
    w.sb[0].priority = 1;
    w.sb[1].priority = 5; /* node3 preferred */
    settle(&w);
    assert_true(ha_sync_has(&w.f.record, "node3") && w.f.record.n == 1);
    /* A better standby appears: the current one stays (sticky). */
    w.f.n_sb = 3;
    w.sb[2].priority = 9;
    assert_int_equal(plan(&w).step, HA_SYNC_IDLE);
    /* synchronous_node_count 2: one more, the best of the others. */
    w.f.node_count = 2;
    settle(&w);
    assert_int_equal(w.f.record.n, 2);
    assert_true(ha_sync_has(&w.f.record, "node3") && ha_sync_has(&w.f.record, "node4"));
    assert_int_equal(w.f.config.k, 2);
    /* nosync (not eligible) members are never chosen. */
    w.f.node_count = 3;
    w.sb[0].eligible = false;
    settle(&w);
    assert_false(ha_sync_has(&w.f.record, "node2"));
    /* Fewer eligible standbys than the count: the count is lowered. */
    assert_int_equal(w.f.config.k, 2);
}

static void test_first_non_strict_without_standbys_empties_record_then_config(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, HA_SYNC_ON);
    settle(&w);
    w.sb[0].eligible = w.sb[1].eligible = false;
    struct ha_sync_plan p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_RECORD);
    assert_int_equal(p.set.n, 0);
    step(&w);
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_CONFIG);
    assert_int_equal(p.set.n, 0);
}

static void test_strict_without_standbys_keeps_or_uses_the_placeholder(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, HA_SYNC_ON);
    w.f.strict = true;
    settle(&w);
    assert_true(ha_sync_has(&w.f.record, "node2"));
    /* Every standby gone: the record and configuration stay (commits wait). */
    w.sb[0].eligible = w.sb[1].eligible = false;
    w.sb[0].reporting = w.sb[1].reporting = false;
    assert_int_equal(plan(&w).step, HA_SYNC_IDLE);
    assert_true(ha_sync_has(&w.f.config, "node2"));
    /* A new primary (empty record) with none: the placeholder, never "". */
    world_init(&w, HA_SYNC_ON);
    w.f.strict = true;
    w.sb[0].eligible = w.sb[1].eligible = false;
    struct ha_sync_plan p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_CONFIG);
    assert_true(ha_sync_has(&p.set, HA_SYNC_PLACEHOLDER) && p.set.k == 1);
}

static void test_quorum_record_first_then_config_then_k(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, HA_SYNC_QUORUM);
    struct ha_sync_plan p = plan(&w);
    /* Into the record first, with k 0 (no failover yet). */
    assert_int_equal(p.step, HA_SYNC_RECORD);
    assert_int_equal(p.set.n, 2);
    assert_int_equal(p.set.k, 0);
    step(&w);
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_CONFIG);
    assert_true(p.set.any && p.set.k == 1 && p.set.n == 2);
    step(&w);
    /* k raised only once k members flushed past the change. */
    w.sb[0].flush = w.sb[1].flush = w.f.adopted_lsn - 1;
    assert_int_equal(plan(&w).step, HA_SYNC_IDLE);
    w.sb[1].flush = w.f.adopted_lsn;
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_RECORD);
    assert_int_equal(p.set.k, 1);
    step(&w);
    assert_int_equal(plan(&w).step, HA_SYNC_IDLE);

    /* node2 leaves: out of the configuration first, out of the record last. */
    w.sb[0].eligible = w.sb[0].reporting = false;
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_CONFIG);
    assert_false(ha_sync_has(&p.set, "node2"));
    step(&w);
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_IDLE); /* node3 has not flushed past the change */
    w.sb[1].flush = w.f.adopted_lsn;
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_RECORD);
    assert_false(ha_sync_has(&p.set, "node2"));
    assert_int_equal(p.set.k, 1);
}

static void test_switching_modes_and_taking_over(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, HA_SYNC_QUORUM);
    w.f.n_sb = 3;
    w.f.node_count = 2;
    settle(&w);
    assert_int_equal(w.f.record.n, 3);
    assert_int_equal(w.f.record.k, 2);
    /* To FIRST: a quorum record is emptied first, then rebuilt. */
    w.f.mode = HA_SYNC_ON;
    struct ha_sync_plan p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_RECORD);
    assert_int_equal(p.set.n, 0);
    settle(&w);
    assert_int_equal(w.f.record.n, 2);
    assert_int_equal(w.f.record.k, 2);
    assert_false(w.f.config.any);
    /* Back to quorum. */
    w.f.mode = HA_SYNC_QUORUM;
    settle(&w);
    assert_int_equal(w.f.record.n, 3);
    assert_true(w.f.config.any);
    /* A record of another leader: replaced by an empty one of ours first. */
    w.f.record_mine = false;
    p = plan(&w);
    assert_int_equal(p.step, HA_SYNC_RECORD);
    assert_int_equal(p.set.n, 0);
    /* Mode off: nothing to plan here (the runtime drops the record). */
    w.f.mode = HA_SYNC_OFF;
    assert_int_equal(plan(&w).step, HA_SYNC_IDLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_join_split_mode),
        cmocka_unit_test(test_satisfies),
        cmocka_unit_test(test_first_adds_to_the_configuration_then_the_record),
        cmocka_unit_test(test_first_removes_from_the_record_first),
        cmocka_unit_test(test_first_sticky_and_node_count),
        cmocka_unit_test(test_first_non_strict_without_standbys_empties_record_then_config),
        cmocka_unit_test(test_strict_without_standbys_keeps_or_uses_the_placeholder),
        cmocka_unit_test(test_quorum_record_first_then_config_then_k),
        cmocka_unit_test(test_switching_modes_and_taking_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
