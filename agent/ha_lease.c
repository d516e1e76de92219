/*
 * ha_lease: this agent's side of the leader lease (DESIGN.md, "Leases").
 *
 * While the store names us holder (not released), a renewal goes out every
 * renew_interval — and at once when Raft elects a new leader. Each renewal
 * has a fresh request id and its own t0, read just before it is handed to
 * the store; renewals are never retried (rule 1). When one applies
 * successfully, coord_lease moves the deadline to t0 + ttl − safety_margin;
 * a refusal (another epoch, released) drops the lease at once.
 *
 * The fence (rule 3) is a CLOCK_BOOTTIME timerfd set to deadline −
 * fence_budget: when it fires and the deadline has not moved, every process
 * of our PostgreSQL is SIGKILLed if it may be running as a primary. Lease
 * decisions read CLOCK_BOOTTIME directly, never the loop's cached time.
 *
 * Pause (rule 6): renewals say fencing = false, and the fence stands down
 * only while the store's last applied renewal of ours said so and no
 * renewal saying true is in flight — until then a grant elsewhere is still
 * possible after an expiry, so the fence must still be there. On resume
 * the fence is back at once, before any renewal says fencing = true.
 *
 * The watchdog (rule 5, agent/watchdog.h) is armed before PostgreSQL may
 * run as a primary (ha__wd_arm, from ha__may_be_primary) and kicked right
 * after a renewal of ours applied — the loop runs and the lease holds —
 * but only while deadline − now ≥ timeout. The fence then fires at
 * min(deadline, last_kick + timeout) − fence_budget, before the device
 * would; once every process it killed is gone (polled every 2 ms) the
 * device is disarmed with the magic close. A clean stop, a demotion or a
 * handover disarm it at the next cycle that finds PostgreSQL stopped
 * (ha__wd_check); in pause it is disarmed when the fence stands down.
 *
 * A handover target renews only once it has replayed past the handover's
 * LSN (ha__handover_gate, ha_switch.c).
 *
 * The holder should not lead Raft: while we hold the lease and lead, Raft
 * leadership is handed to another voter (at most every 2 s), right after a
 * renewal has applied and none is in flight — a transfer in the middle of
 * one would lose it (renewals are never retried), and the first one after a
 * grant is what allows the promotion.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent/ha_internal.h"
#include "agent/rg_log.h"

#define TRANSFER_EVERY_MS 2000
/* After a fence: how often, and for how long, to look whether the killed
 * processes are gone (the device fires fence_budget after the fence). */
#define WD_POLL_MS     2
#define WD_POLL_MAX_MS 10000

struct renewal {
    struct store_req req;
    struct ha *ha;
    char id[STORE_REQ_ID_SIZE];
    uint64_t seq;
    bool fencing;
};

static void arm_fence(struct ha *ha);
static void maybe_hand_off_raft(struct ha *ha);

bool ha__lease_mine(struct ha *ha)
{
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    return ha->book.epoch != 0 && ha->book.epoch == l->epoch && !l->released &&
           strcmp(l->holder, ha->cfg->name) == 0 && coord_lease_valid(&ha->book, rg_boottime_ms());
}

static void lease_lost(struct ha *ha, const char *why)
{
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    if (ha->handed_to[0] != '\0' && strcmp(l->holder, ha->handed_to) == 0) {
        rg_log(RG_INFO, HA_LOGM, "lease epoch %" PRIu64 " handed over to %s", ha->book.epoch,
               ha->handed_to);
    } else if (ha->book.deadline != 0) {
        rg_log(RG_WARNING, HA_LOGM, "lease epoch %" PRIu64 " lost: %s", ha->book.epoch, why);
    }
    ha->handed_to[0] = '\0';
    coord_lease_drop(&ha->book);
    ha->primary_lsn = 0;
    arm_fence(ha);
    ha__kick(ha);
}

static void renewed(struct store_req *req, int status, const cJSON *reply)
{
    struct renewal *rn = req->data;
    struct ha *ha = rn->ha;
    struct store_result res;
    ha->renew_out--;
    if (rn->fencing) {
        ha->fencing_out--;
    }
    if (ha->closing) {
        rg_free(rn);
        ha__maybe_close(ha);
        return;
    }
    if (status == 0 && store_reply_result(reply, &res, NULL) == 0) {
        if (res.code == 0) {
            bool first = ha->book.deadline == 0 || ha->book.epoch != ha->epoch;
            if (rn->seq > ha->ok_seq) {
                ha->ok_seq = rn->seq;
                ha->ok_fencing = rn->fencing;
            }
            if (coord_lease_applied(&ha->book, rn->id, 0)) {
                /* The keepalive: our loop runs and a renewal applied. */
                wd_kick(&ha->wd, ha->book.deadline);
                arm_fence(ha);
                if (first) {
                    rg_log(RG_INFO, HA_LOGM, "lease epoch %" PRIu64 " confirmed by our renewal",
                           ha->book.epoch);
                    ha__kick(ha);
                }
            }
        } else {
            coord_lease_applied(&ha->book, rn->id, res.code);
            lease_lost(ha, res.reason);
        }
    } else {
        coord_lease_forget(&ha->book, rn->id);
    }
    rg_free(rn);
    if (ha->renew_out == 0 && ha__lease_mine(ha)) {
        maybe_hand_off_raft(ha);
    }
    ha__maybe_close(ha);
}

static void send_renewal(struct ha *ha)
{
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    struct store_cmd cmd;
    struct renewal *rn = rg_calloc(1, sizeof *rn);
    rn->ha = ha;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_RENEW;
    snprintf(cmd.name, sizeof cmd.name, "%s", ha->cfg->name);
    cmd.epoch = l->epoch;
    cmd.ttl = ha->set.ttl_ms;
    uint64_t lsn = ha->have_st && !ha->st.in_recovery ? ha->st.wal_lsn : 0;
    cmd.lsn = ha->primary_lsn > lsn ? ha->primary_lsn : lsn;
    if (cmd.lsn == 0) {
        cmd.lsn = l->lsn;
    }
    /* In pause our renewals say we do not fence (rule 6); the fence itself
     * stands down only once one of them has applied (ha__lease_unfenced). */
    cmd.fencing = !ha->set.paused;
    rn->fencing = cmd.fencing;
    rn->seq = ++ha->renew_seq;
    store_new_req_id("renew", cmd.id);
    memcpy(rn->id, cmd.id, sizeof rn->id);
    rn->req.data = rn;
    /* t0 is read just before the renewal is handed to the network. */
    uint64_t t0 = rg_boottime_ms();
    coord_lease_sent(&ha->book, rn->id, l->epoch, ha->set.ttl_ms, t0);
    if (store_propose(ha->store, &rn->req, &cmd, STORE_NO_RETRY, ha->set.ttl_ms, renewed) != 0) {
        coord_lease_forget(&ha->book, rn->id);
        rg_free(rn);
        return;
    }
    ha->renew_out++;
    ha->fencing_out += rn->fencing;
}

bool ha__lease_unfenced(struct ha *ha)
{
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    return ha->set.paused && ha->fencing_out == 0 && ha->ok_seq > 0 && !ha->ok_fencing &&
           !l->fencing;
}

static void transferred(struct store_req *req, int status, const cJSON *reply)
{
    struct ha *ha = req->data;
    (void)reply;
    ha->transfer_out = false;
    if (status == 0) {
        rg_log(RG_INFO, HA_LOGM, "Raft leadership handed to another voter (we hold the lease)");
    }
    ha__maybe_close(ha);
}

/* The holder should not stay Raft leader: then a crash of the primary's
 * machine leaves the coordinator alive and counting. */
static void maybe_hand_off_raft(struct ha *ha)
{
    uint64_t now = rg_boottime_ms();
    if (!store_is_leader(ha->store) || ha->transfer_out ||
        now - ha->transfer_at < TRANSFER_EVERY_MS) {
        return;
    }
    struct store_raft_info ri;
    store_raft_info_get(ha->store, &ri);
    size_t voters = ri.n_voters;
    store_raft_info_close(&ri);
    if (voters < 2) {
        return;
    }
    ha->transfer_at = now;
    ha->transfer_req.data = ha;
    if (store_transfer(ha->store, &ha->transfer_req, NULL, 2000, transferred) == 0) {
        ha->transfer_out = true;
    }
}

static void lsn_read(struct pgi_op *op, int status)
{
    struct ha *ha = op->data;
    const char *v =
        status == 0 && op->n_results > 0 ? pgi_result_get(&op->results[0], 0, "lsn") : NULL;
    uint64_t lsn;
    ha->lsn_out = false;
    if (v != NULL && pgi_lsn_parse(v, &lsn) == 0 && lsn > ha->primary_lsn) {
        ha->primary_lsn = lsn;
    }
    ha__maybe_close(ha);
}

/* The primary's position travels in every renewal (DESIGN.md, "Status
 * traffic"): read it at the renewal rate, so the coordinator's lag check
 * compares replicas with where the primary really was. */
static void refresh_lsn(struct ha *ha)
{
    static const char *const q[] = {"SELECT pg_current_wal_flush_lsn()::text AS lsn"};
    if (ha->lsn_out || ha->closing || !ha->primary_allowed || ha->pgstate != HA_PG_RUNNING ||
        ha->st.in_recovery) {
        return;
    }
    ha->lsn_op.data = ha;
    if (pgi_query(ha->pg, &ha->lsn_op, q, 1, ha->set.renew_interval_ms * 4, lsn_read) == 0) {
        ha->lsn_out = true;
    }
}

static void renew_tick(uv_timer_t *t)
{
    struct ha *ha = rg_container_of(t, struct ha, renew_timer);
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    if (ha->stopping && ha->releasing) {
        return;
    }
    if (l->epoch == 0 || l->released || strcmp(l->holder, ha->cfg->name) != 0) {
        return;
    }
    if (!ha__handover_gate(ha)) {
        return; /* it renews as soon as it has replayed the old primary's WAL */
    }
    if (ha->epoch != l->epoch) {
        ha->epoch = l->epoch;
        rg_log(RG_INFO, HA_LOGM, "lease epoch %" PRIu64 " granted to us: renewing", l->epoch);
    }
    /* Bounded: a store that does not answer must not pile requests up. */
    if (ha->renew_out < 4) {
        send_renewal(ha);
    }
    refresh_lsn(ha);
}

/* The lease just came to us: when did the old holder's service end? A
 * handover's entry, or the old holder's last renewal as the grant records
 * it (cluster time). For the history's "unavailable_ms". */
static void took_over(struct ha *ha)
{
    const struct store_state *s = store_get_state(ha->store);
    ha__slots_now(ha);
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(s->lease_reports, "since_ct");
    ha->took_epoch = s->lease.epoch;
    if (s->lease.handover_unconfirmed) {
        ha->took_ct = s->lease.renewed_at;
    } else if (cJSON_IsString(since)) {
        ha->took_ct = strtoull(since->valuestring, NULL, 10);
    } else {
        ha->took_ct = 0; /* the bootstrap: nobody served before */
    }
}

void ha__lease_renew_now(struct ha *ha)
{
    renew_tick(&ha->renew_timer);
}

void ha__lease_update(struct ha *ha)
{
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    bool ours = l->epoch != 0 && !l->released && strcmp(l->holder, ha->cfg->name) == 0;
    if (ha->book.epoch != 0 && (!ours || l->epoch != ha->book.epoch)) {
        lease_lost(ha, ours ? "a newer epoch was granted" : "the store names another holder");
    }
    if (ours && ha->epoch != l->epoch && ha->took_epoch != l->epoch) {
        took_over(ha);
    }
    if (ours && ha->epoch != l->epoch) {
        /* A fresh grant: renew now rather than at the next tick. */
        renew_tick(&ha->renew_timer);
    }
    uv_timer_set_repeat(&ha->renew_timer, ha->set.renew_interval_ms);
}

/* --- the fence ---------------------------------------------------------------- */

/* deadline − fence_budget, or earlier: last_kick + timeout − fence_budget
 * while the watchdog is armed (0: neither). */
static uint64_t fence_due(const struct ha *ha)
{
    return wd_fence_at(ha->book.deadline, ha->wd.armed, ha->wd.last_kick,
                       (uint64_t)ha->wd.granted_s * 1000, ha->book.fence_budget);
}

static void wd_poll_cb(uv_timer_t *t)
{
    struct ha *ha = rg_container_of(t, struct ha, wd_timer);
    if (!ha->wd.armed) {
        uv_timer_stop(t);
        return;
    }
    uint64_t now = rg_boottime_ms();
    if (pgi_fence_done(ha->pg)) {
        char why[96];
        snprintf(why, sizeof why, "every process the fence killed is gone (after %" PRIu64 " ms)",
                 now - ha->wd_fenced_at);
        uv_timer_stop(t);
        wd_disarm(&ha->wd, why);
        arm_fence(ha);
    } else if (now - ha->wd_fenced_at > WD_POLL_MAX_MS) {
        rg_log(RG_ERROR, HA_LOGM,
               "PostgreSQL processes still exist %u ms after the fence: the watchdog stays armed",
               WD_POLL_MAX_MS);
        uv_timer_stop(t); /* the device has fired by now; the cycle looks again */
    }
}

static void fence_now(struct ha *ha)
{
    uint64_t now = rg_boottime_ms();
    uint64_t due = fence_due(ha);
    if (due != 0 && now < due) {
        arm_fence(ha); /* a renewal moved the deadline meanwhile */
        return;
    }
    bool by_wd = ha->wd.armed && coord_lease_valid(&ha->book, now);
    if (ha->primary_allowed && ha__lease_unfenced(ha)) {
        rg_log(RG_WARNING, HA_LOGM,
               "the lease deadline passed without a renewal; paused: PostgreSQL is not fenced");
    } else if (ha->primary_allowed || ha->wd.armed) {
        /* Armed, the device fires fence_budget from now: whatever still
         * runs of PostgreSQL (a demotion under way) goes now, so the device
         * can be disarmed once it is gone. */
        rg_log(RG_ERROR, HA_LOGM, "fence: %s: killing PostgreSQL",
               by_wd ? "no renewal applied in time to kick the watchdog"
                     : "the lease deadline passed without a renewal");
        ha->wd_fenced_at = now;
        pgi_fence(ha->pg);
        ha->primary_allowed = false;
        ha->fenced = true;
        if (ha->wd.armed && !uv_is_closing((uv_handle_t *)&ha->wd_timer)) {
            wd_poll_cb(&ha->wd_timer);
            if (ha->wd.armed) {
                uv_timer_start(&ha->wd_timer, wd_poll_cb, WD_POLL_MS, WD_POLL_MS);
            }
        }
    }
    coord_lease_drop(&ha->book);
    ha__kick(ha);
}

static void fence_cb(uv_poll_t *p, int status, int events)
{
    struct ha *ha = rg_container_of(p, struct ha, fence_poll);
    uint64_t expirations;
    (void)status, (void)events;
    if (read(ha->fence_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) {
        rg_log(RG_ERROR, HA_LOGM, "fence timer: %s", strerror(errno));
    }
    fence_now(ha);
}

/* Program the timerfd for deadline − fence_budget (absolute, CLOCK_BOOTTIME);
 * disarm it when there is no deadline. */
static void arm_fence(struct ha *ha)
{
    struct itimerspec its = {0};
    uint64_t at = fence_due(ha);
    if (at != 0) {
        its.it_value.tv_sec = (time_t)(at / 1000);
        its.it_value.tv_nsec = (long)(at % 1000) * 1000000L;
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) {
            its.it_value.tv_nsec = 1;
        }
    }
    if (timerfd_settime(ha->fence_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
        rg_log(RG_ERROR, HA_LOGM, "fence timer: %s", strerror(errno));
    }
}

int ha__lease_init(struct ha *ha)
{
    coord_lease_init(&ha->book, ha->set.safety_margin_ms, ha->set.fence_budget_ms);
    ha->fence_fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ha->fence_fd < 0) {
        return RG_EIO;
    }
    uv_poll_init(ha->loop, &ha->fence_poll, ha->fence_fd);
    uv_poll_start(&ha->fence_poll, UV_READABLE, fence_cb);
    uv_timer_init(ha->loop, &ha->renew_timer);
    uv_timer_start(&ha->renew_timer, renew_tick, ha->set.renew_interval_ms,
                   ha->set.renew_interval_ms);
    uv_timer_init(ha->loop, &ha->wd_timer);
    ha->open_handles += 3;
    ha__wd_configure(ha);
    return 0;
}

static void fence_closed(uv_handle_t *h)
{
    struct ha *ha = rg_container_of((uv_poll_t *)h, struct ha, fence_poll);
    close(ha->fence_fd);
    ha->fence_fd = -1;
    ha__handle_closed(h);
}

void ha__lease_close(struct ha *ha)
{
    ha->fence_poll.data = ha;
    ha->renew_timer.data = ha;
    ha->wd_timer.data = ha;
    uv_close((uv_handle_t *)&ha->fence_poll, fence_closed);
    uv_close((uv_handle_t *)&ha->renew_timer, ha__handle_closed);
    uv_close((uv_handle_t *)&ha->wd_timer, ha__handle_closed);
    /* Still armed here: PostgreSQL may still run (we leave it running, or
     * could not stop it). The device stays armed and counts down. */
    wd_close_armed(&ha->wd);
}

int ha__lease_release(struct ha *ha, uint64_t lsn, store_req_cb cb)
{
    const struct store_lease *l = &store_get_state(ha->store)->lease;
    if (l->epoch == 0 || l->released || strcmp(l->holder, ha->cfg->name) != 0) {
        return RG_ENOENT;
    }
    struct store_cmd cmd;
    store_cmd_init(&cmd);
    cmd.op = STORE_OP_RELEASE;
    snprintf(cmd.name, sizeof cmd.name, "%s", ha->cfg->name);
    cmd.epoch = l->epoch;
    cmd.lsn = lsn;
    store_new_req_id("release", cmd.id);
    ha->releasing = true;
    ha->release_req.data = ha;
    coord_lease_drop(&ha->book);
    arm_fence(ha);
    return store_propose(ha->store, &ha->release_req, &cmd, 0, ha->set.ttl_ms, cb);
}

/* --- the watchdog ---------------------------------------------------------------- */

void ha__wd_configure(struct ha *ha)
{
    const struct cfg_watchdog *c = &ha->cfg->watchdog;
    if (ha->wd.armed) {
        return; /* a reload takes effect at the next arm */
    }
    wd_init(&ha->wd, wd_mode_parse(c->mode), wd_driver_parse(c->driver), c->device, c->timeout);
    if (ha->wd.mode == WD_OFF) {
        return;
    }
    bool timing =
        wd_timing_ok(ha->set.ttl_ms, ha->set.safety_margin_ms, (uint64_t)ha->wd.timeout_s * 1000);
    bool dev = wd_device_ok(&ha->wd);
    if (ha->wd.mode == WD_REQUIRED && (!timing || !dev)) {
        rg_log(RG_ERROR, HA_LOGM,
               "watchdog.mode required, but %s: this member will not take the lease",
               !dev ? "the device cannot be opened for writing" : "ttl is too short for it");
    } else if (!timing || !dev) {
        rg_log(RG_WARNING, HA_LOGM,
               "watchdog.mode automatic: %s %s: running without a watchdog (a frozen agent "
               "could then leave its primary running past its lease)",
               ha->wd.device,
               !dev ? "cannot be opened for writing"
                    : "not used: ttl - safety_margin - watchdog.timeout is under 0.5 s");
        ha->wd.warned = true;
    }
}

bool ha__wd_in_use(struct ha *ha)
{
    return ha->wd.mode != WD_OFF &&
           wd_timing_ok(ha->set.ttl_ms, ha->set.safety_margin_ms,
                        (uint64_t)ha->wd.timeout_s * 1000) &&
           wd_device_ok(&ha->wd);
}

bool ha__wd_failed(struct ha *ha)
{
    return wd_fails_requirement(
        ha->wd.mode,
        wd_timing_ok(ha->set.ttl_ms, ha->set.safety_margin_ms, (uint64_t)ha->wd.timeout_s * 1000),
        wd_device_ok(&ha->wd));
}

int ha__wd_arm(struct ha *ha)
{
    struct wd *w = &ha->wd;
    if (w->mode == WD_OFF || w->armed) {
        return 0;
    }
    if (!wd_timing_ok(ha->set.ttl_ms, ha->set.safety_margin_ms, (uint64_t)w->timeout_s * 1000)) {
        snprintf(w->why, sizeof w->why,
                 "ttl %u ms - safety_margin %u ms - watchdog.timeout %u s is under 0.5 s",
                 ha->set.ttl_ms, ha->set.safety_margin_ms, w->timeout_s);
        if (w->mode == WD_REQUIRED) {
            rg_log(RG_ERROR, HA_LOGM, "watchdog required but unusable: %s", w->why);
            return RG_EINVAL;
        }
        if (!w->warned) {
            rg_log(RG_WARNING, HA_LOGM, "watchdog.mode automatic: not used: %s", w->why);
            w->warned = true;
        }
        return 0;
    }
    int rv = wd_arm(w);
    if (rv == 0) {
        w->warned = false;
        arm_fence(ha); /* now also bounded by last_kick + timeout */
        return 0;
    }
    if (w->mode == WD_REQUIRED) {
        rg_log(RG_ERROR, HA_LOGM,
               "watchdog required but unusable: %s: PostgreSQL does not run as a primary", w->why);
        return rv;
    }
    if (!w->warned) {
        rg_log(RG_WARNING, HA_LOGM, "watchdog.mode automatic: %s: running without a watchdog",
               w->why);
        w->warned = true;
    }
    return 0;
}

void ha__wd_check(struct ha *ha)
{
    struct wd *w = &ha->wd;
    bool unfenced = ha__lease_unfenced(ha);
    if (w->armed && unfenced) {
        wd_disarm(w, "paused: nothing is fenced in pause");
        arm_fence(ha);
        return;
    }
    bool down = ha->pgstate == HA_PG_STOPPED || ha->pgstate == HA_PG_NO_DATA;
    if (w->armed && !ha->primary_allowed && down && pgi_fence_done(ha->pg)) {
        wd_disarm(w, "PostgreSQL is stopped");
        arm_fence(ha);
        return;
    }
    /* A primary that runs unarmed under our lease: resumed from pause (or
     * the device came back, in automatic mode). */
    if (!w->armed && w->mode != WD_OFF && !unfenced && !ha->set.paused && ha->primary_allowed &&
        ha->pgstate == HA_PG_RUNNING && ha->have_st && !ha->st.in_recovery && ha__lease_mine(ha)) {
        (void)ha__wd_arm(ha);
    }
}
