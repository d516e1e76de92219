/*
 * Fuzz target for the cluster store's commands and snapshots: arbitrary
 * bytes are decoded as a command; one that decodes is applied to a fresh
 * state (twice, to exercise dedup), round-tripped encode -> decode -> encode
 * (the two encodings must be identical), and the state is snapshotted and
 * restored (equal). The bytes are also restored as a snapshot, which must
 * either fail leaving the state intact or give a state whose own snapshot
 * restores to an equal one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "raft/store_fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static void check_snapshot_round_trip(const struct store_state *s)
{
    char errmsg[RG_ERRMSG_SIZE];
    char *snap;
    size_t len;
    store_state_snapshot(s, &snap, &len);
    struct store_state t;
    store_state_init(&t);
    check(store_state_restore(&t, snap, len, errmsg) == 0);
    check(store_state_equal(s, &t));
    store_state_close(&t);
    rg_free(snap);
}

static void fuzz_command(const uint8_t *data, size_t size)
{
    char errmsg[RG_ERRMSG_SIZE];
    struct store_cmd cmd;
    if (store_cmd_decode(data, size, &cmd, errmsg) != 0) {
        return;
    }
    char *a, *b;
    size_t alen, blen;
    store_cmd_encode(&cmd, &a, &alen);
    struct store_cmd again;
    check(store_cmd_decode(a, alen, &again, errmsg) == 0);
    store_cmd_encode(&again, &b, &blen);
    check(alen == blen && memcmp(a, b, alen) == 0);
    rg_free(a);
    rg_free(b);
    store_cmd_close(&again);

    struct store_state s;
    store_state_init(&s);
    struct store_result r1, r2;
    store_fsm_apply(&s, &cmd, &r1);
    check(s.last_ct >= cmd.ct);
    if (r1.code != RG_EUNSUPPORTED) {
        store_fsm_apply(&s, &cmd, &r2);
        check(r2.code == r1.code && r2.epoch == r1.epoch);
    }
    check_snapshot_round_trip(&s);
    store_state_close(&s);
    store_cmd_close(&cmd);
}

static void fuzz_snapshot(const uint8_t *data, size_t size)
{
    char errmsg[RG_ERRMSG_SIZE];
    struct store_state s, fresh;
    store_state_init(&s);
    store_state_init(&fresh);
    if (store_state_restore(&s, data, size, errmsg) == 0) {
        check_snapshot_round_trip(&s);
    } else {
        check(store_state_equal(&s, &fresh));
    }
    store_state_close(&s);
    store_state_close(&fresh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_command(data, size);
    fuzz_snapshot(data, size);
    return 0;
}
