/* Helpers shared by the store tests: build commands and apply them. */
#ifndef REGENT_TEST_STORE_HELPERS_H
#define REGENT_TEST_STORE_HELPERS_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/rg.h"
#include "raft/store_fsm.h"

static unsigned helper_seq;

/* A command with a fresh id and the given op and cluster time. */
static inline struct store_cmd mk(enum store_op op, uint64_t ct)
{
    struct store_cmd c;
    store_cmd_init(&c);
    c.op = op;
    c.ct = ct;
    snprintf(c.id, sizeof c.id, "req-%u", ++helper_seq);
    return c;
}

static inline struct store_cmd
mk_named(enum store_op op, uint64_t ct, const char *name, uint64_t epoch)
{
    struct store_cmd c = mk(op, ct);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.epoch = epoch;
    return c;
}

static inline struct store_cmd mk_grant(uint64_t ct, const char *to, uint64_t epoch, uint64_t ttl)
{
    struct store_cmd c = mk_named(STORE_OP_GRANT, ct, to, epoch);
    c.ttl = ttl;
    c.switchover_timeout = 1000;
    return c;
}

static inline struct store_cmd
mk_renew(uint64_t ct, const char *holder, uint64_t epoch, uint64_t ttl, bool fencing)
{
    struct store_cmd c = mk_named(STORE_OP_RENEW, ct, holder, epoch);
    c.ttl = ttl;
    c.fencing = fencing;
    c.lsn = ct * 10;
    return c;
}

/* Apply and close the command; return the code. */
static inline int apply_cmd(struct store_state *s, struct store_cmd c, struct store_result *out)
{
    struct store_result r;
    store_fsm_apply(s, &c, &r);
    store_cmd_close(&c);
    if (out != NULL) {
        *out = r;
    }
    return r.code;
}

static inline cJSON *json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (j == NULL) {
        abort();
    }
    return j;
}

#endif
