/*
 * Helpers shared by the pg/ unit tests: bounded loop stepping (RUN_UNTIL,
 * as in tests/unit/rtx), a per-test loop fixture whose teardown insists
 * that every handle is closed, and a millisecond clock. Include after
 * cmocka.h.
 */
#ifndef REGENT_TESTS_PG_HELPERS_H
#define REGENT_TESTS_PG_HELPERS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "agent/rg.h"

static inline void pgt_tick_cb(uv_timer_t *t)
{
    (void)t;
}

struct pgt_ticker {
    uv_timer_t timer;
    uint64_t deadline;
};

static inline void pgt_ticker_start(struct pgt_ticker *tk, uv_loop_t *loop, unsigned ms)
{
    uv_timer_init(loop, &tk->timer);
    uv_timer_start(&tk->timer, pgt_tick_cb, 5, 5);
    uv_update_time(loop);
    tk->deadline = uv_now(loop) + ms;
}

static inline bool pgt_ticker_expired(struct pgt_ticker *tk)
{
    return uv_now(tk->timer.loop) >= tk->deadline;
}

static inline void pgt_ticker_stop(struct pgt_ticker *tk)
{
    uv_close((uv_handle_t *)&tk->timer, NULL);
    uv_run(tk->timer.loop, UV_RUN_NOWAIT); /* completes the close */
}

/* Step @loop until @cond holds or @ms have passed; the value of @cond. */
#define RUN_UNTIL(loop, cond, ms)                                                                  \
    ({                                                                                             \
        struct pgt_ticker tk_;                                                                     \
        bool ok_;                                                                                  \
        pgt_ticker_start(&tk_, (loop), (ms));                                                      \
        while (!(cond) && !pgt_ticker_expired(&tk_)) {                                             \
            uv_run((loop), UV_RUN_ONCE);                                                           \
        }                                                                                          \
        ok_ = (cond);                                                                              \
        pgt_ticker_stop(&tk_);                                                                     \
        ok_;                                                                                       \
    })

static inline uint64_t pgt_now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

struct pgt_loop {
    uv_loop_t loop;
};

static inline int pgt_loop_setup(void **state)
{
    struct pgt_loop *f = rg_calloc(1, sizeof *f);
    if (uv_loop_init(&f->loop) != 0) {
        return -1;
    }
    *state = f;
    return 0;
}

static inline void pgt_print_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "left open: %s handle %p\n", uv_handle_type_name(h->type), (void *)h);
}

/* A few iterations complete pending closes; anything left open is a bug. */
static inline int pgt_loop_teardown(void **state)
{
    struct pgt_loop *f = *state;
    for (int i = 0; i < 10; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    uv_walk(&f->loop, pgt_print_handle, NULL);
    int rc = uv_loop_close(&f->loop);
    rg_free(f);
    return rc == 0 ? 0 : -1;
}

#endif
