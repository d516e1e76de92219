/*
 * store: the cluster store at run time — one c-raft instance (raft_uv on
 * disk, rtx for the network) driving the pure state machine of store_fsm,
 * plus everything around it that a node needs: its Raft identity, Raft
 * bootstrap and joining, proposals from any node (forwarded one hop to the
 * leader), the leader's cluster clock, membership upkeep, and the peer RPC
 * endpoint that agents and witnesses share.
 *
 * Phases of a store (store_phase):
 *
 *   DISCOVER --(lowest pristine partner, or no partners)--> BOOTSTRAP --+
 *      |                                                                 v
 *      +--(a partner is a member)--> JOIN --(leader added us)-------> RUNNING
 *   (a node with Raft data starts in RUNNING directly)                   |
 *                                              (removed by the cluster)  v
 *                                                                     REMOVED
 *   any --(store_stop)--> CLOSING --> CLOSED;  any --(fatal error)--> FAILED
 *
 * A FAILED store (the Raft port is taken, the Raft log is damaged, a command
 * this build does not understand was committed) reports STORE_EV_FATAL with
 * store_errmsg(); the owner stops it and exits non-zero.
 *
 * Everything runs on the owner's loop; no call blocks except store_start,
 * which reads (and on first start creates) the node's identity file.
 */
#ifndef REGENT_STORE_H
#define REGENT_STORE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "raft/store_fsm.h"

#define STORE_ID_FILE "regent-node.json"

enum store_phase {
    STORE_DISCOVER,
    STORE_BOOTSTRAP,
    STORE_JOIN,
    STORE_RUNNING,
    STORE_REMOVED,
    STORE_FAILED,
    STORE_CLOSING,
    STORE_CLOSED,
};

enum store_event {
    STORE_EV_APPLIED,  /* cmd, res and index are set */
    STORE_EV_RESTORED, /* the state was replaced by a snapshot */
    STORE_EV_ROLE,     /* the Raft state, the known leader or the clock's readiness changed */
    STORE_EV_REMOVED,  /* this node is no longer a member: its Raft instance is stopped */
    STORE_EV_FATAL,    /* store_errmsg() says why; stop the store and exit non-zero */
};

struct store;

/*
 * Watchers run on the loop, after the c-raft callback that caused the event
 * has returned (events are queued and delivered from a check handle), so a
 * watcher may call any store function. @cmd and @res are valid during the
 * call only; the state (store_get_state) may already include later entries.
 */
typedef void (*store_watch_cb)(void *data,
                               enum store_event ev,
                               const struct store_cmd *cmd,
                               const struct store_result *res,
                               uint64_t index);

struct store_options {
    const char *scope;     /* borrowed, like every string here (copied by store_start) */
    const char *name;      /* this node's member name */
    const char *data_dir;  /* the Raft directory (created 0700 when missing) */
    const char *self_addr; /* "a.b.c.d:port" */
    const char *bind_addr; /* NULL: self_addr */
    const char *const *partners;
    size_t n_partners;
    const char *secret;
    const char *api_url; /* this node's REST base URL, "http://127.0.0.1:8008" */
    enum store_peer_kind kind;
    unsigned election_timeout;   /* ms */
    unsigned heartbeat_interval; /* ms */
    unsigned voters;             /* target voter count, 3 or 5 */
    unsigned segment_size;       /* bytes; 0: c-raft's default */
    unsigned snapshot_threshold; /* 0: c-raft's default */
    unsigned snapshot_trailing;  /* 0: c-raft's default */
    store_watch_cb watch;
    void *watch_data;
};

/*
 * Create the store on @loop and start it: read (or create) the identity file
 * in data_dir, listen on the Raft address, then start Raft (when this node
 * has Raft data) or discover its partners. 0 and *@out; or RG_EINVAL /
 * RG_EIO / RG_ECONFIG with @errmsg for problems found before any handle
 * exists (an unusable directory, a damaged or foreign identity file). Later
 * failures (port taken, damaged log) arrive as STORE_EV_FATAL.
 */
int store_start(struct store **out, uv_loop_t *loop, const struct store_options *o, char *errmsg);

/* Stop: pending requests complete with RG_ESHUTDOWN, Raft closes, the
 * transport closes; @cb(@arg) fires once every handle is closed (never
 * inside this call), and the store is freed just before. */
void store_stop(struct store *s, void (*cb)(void *arg), void *arg);

enum store_phase store_get_phase(const struct store *s);
const char *store_phase_name(enum store_phase p);
const char *store_errmsg(const struct store *s);
uint64_t store_self_id(const struct store *s);

/* The local replica of the state (borrowed; changes as entries apply). */
const struct store_state *store_get_state(const struct store *s);

/* True when this node leads Raft and its cluster clock runs (the barrier of
 * its term has applied): it may propose and coordinate. */
bool store_is_leader(const struct store *s);

/* True once this node's replica can be trusted for decisions: Raft runs, a
 * leader is known, everything known committed has applied, and so has every
 * entry this node had on disk when it started (a restarted node must not
 * judge the cluster from an empty state while it replays its own log). */
bool store_caught_up(const struct store *s);

/* Cluster time now, ms: the leader's clock on the leader; elsewhere an
 * estimate (the last applied entry's time plus the time since), for display. */
uint64_t store_now_ct(const struct store *s);

/* Change the target voter count (3 or 5; raft.voters on SIGHUP). The
 * leader's upkeep moves towards it one role change at a time. */
void store_set_voters(struct store *s, unsigned voters);

/* Raft facts, names resolved through the peers records ("id:<hex>" for a
 * server without one). Arrays are owned by @out: store_raft_info_close. */
struct store_raft_info {
    uint64_t term;
    char *leader; /* NULL when unknown */
    char **voters;
    size_t n_voters;
    char **standbys;
    size_t n_standbys;
    uint64_t commit_index;
    uint64_t applied_index;
    int raft_state; /* RAFT_UNAVAILABLE … RAFT_LEADER; RAFT_UNAVAILABLE without Raft */
};
void store_raft_info_get(const struct store *s, struct store_raft_info *out);
void store_raft_info_close(struct store_raft_info *info);

/* --- requests to the leader --------------------------------------------- */

enum store_req_flags {
    STORE_NO_RETRY = 1 << 0, /* one attempt only (lease renewals) */
};

struct store_req;
/*
 * status 0: the leader answered; @reply is its JSON answer (borrowed during
 * the call): for a proposal {"code":200,"index":"…","result":{"code":0,
 * "epoch":"…","reason":"…"}}. Otherwise: RG_EUNKNOWN (no answer in time: the
 * request may or may not have taken effect), RG_ETIMEDOUT (no leader reached
 * at all), RG_ESHUTDOWN, RG_ENOTMEMBER (the cluster says this node is not a
 * member; the store moves to REMOVED), RG_ECONFLICT / RG_EINVAL / RG_ENOENT
 * (the leader refused: @reply has "code" and "error").
 */
typedef void (*store_req_cb)(struct store_req *req, int status, const cJSON *reply);

struct store_req;
typedef bool (*store_wait_fn)(struct store_req *req, const struct store_state *st);

struct store_req {
    void *data; /* caller's */
    /* private */
    struct store *s;
    char *body; /* owned: the JSON request */
    size_t len;
    unsigned flags;
    uint64_t deadline; /* boot clock, ms */
    unsigned attempts;
    bool maybe_applied; /* an attempt may have reached the leader */
    bool in_call;       /* an rtx call is outstanding */
    bool local;         /* being handled by this node as leader */
    bool done;
    bool cancelled; /* store_req_cancel: the outstanding call ends it */
    int status;     /* for the callback */
    void *reply;    /* owned cJSON: the answer, for the callback */
    void *call;     /* the outstanding call (store_req.c), or NULL */
    void *lresp;    /* the local responder while handled here as leader, or NULL */
    uv_timer_t timer;
    struct store_req *next, *prev; /* s->reqs */
    store_req_cb cb;
    store_wait_fn check; /* store_wait */
    uint64_t wait_index; /* a forwarded proposal: answered once applied here too */
};

/*
 * Propose @cmd (taken: closed here on every path; its id must be set, ct is
 * the leader's business) and wait until it has applied — on the leader and,
 * for a forwarded proposal, on this node too, so a read here right after
 * sees it (within the request's deadline). 0: @cb fires exactly
 * once, never inside this call; the caller owns @req until then and may free
 * it inside @cb. RG_ESHUTDOWN / RG_EINVAL: @cb never fires.
 */
int store_propose(struct store *s,
                  struct store_req *req,
                  struct store_cmd *cmd,
                  unsigned flags,
                  unsigned timeout_ms,
                  store_req_cb cb);

/* Decode the result of a proposal's reply: 0 and @res filled, or RG_EPARSE. */
int store_reply_result(const cJSON *reply, struct store_result *res, uint64_t *index);

/*
 * Give up on @req (a proposal, a wait, a simple request) if it is still
 * outstanding: its callback fires once, never inside this call, with
 * RG_EUNKNOWN when an attempt may have reached the leader (it may still
 * apply), else RG_ECANCELED. A request never started or already done is left
 * alone, so @req must be zeroed before its first use.
 */
void store_req_cancel(struct store_req *req);

/* Remove member @name from the cluster (Raft configuration, peers and
 * members records). Refused (409) for the lease holder. */
int store_remove(
    struct store *s, struct store_req *req, const char *name, unsigned timeout_ms, store_req_cb cb);

/* Transfer Raft leadership to @name (NULL or "": any voter). */
int store_transfer(
    struct store *s, struct store_req *req, const char *name, unsigned timeout_ms, store_req_cb cb);

/* Invite the pristine node listening on Raft address @address to join this
 * cluster (it joins through the members it is told about). The reply is the
 * invited node's answer: {"code":202,"name":…,"id":…}. */
int store_invite(struct store *s,
                 struct store_req *req,
                 const char *address,
                 unsigned timeout_ms,
                 store_req_cb cb);

/*
 * Wait until the replicated state satisfies @check, which is evaluated now
 * and after every batch of applied entries (or a restore), once the
 * watchers have seen them. @cb: 0 when @check said true, RG_ETIMEDOUT after
 * @timeout_ms, RG_ESHUTDOWN when the store stops — exactly once, never
 * inside this call. For REST requests that answer once the cluster has
 * acted (a switchover's outcome). RG_ESHUTDOWN: @cb never fires.
 */
int store_wait(struct store *s,
               struct store_req *req,
               unsigned timeout_ms,
               store_wait_fn check,
               store_req_cb cb);

/* A new request id: "<prefix>-<16 hex digits>", NUL-terminated in @buf
 * (STORE_REQ_ID_SIZE bytes). */
void store_new_req_id(const char *prefix, char *buf);

/* --- the application's peer requests --------------------------------------- */

/*
 * Peer requests whose "type" the store does not know go to the owner's
 * handler (the agent answers "status" for the coordinator). The handler must
 * answer exactly once through store_answer, now or later; @body is borrowed
 * for the call. Without a handler such requests get 404.
 */
struct store_answer;
typedef void (*store_app_rpc)(void *data, const cJSON *body, struct store_answer *a);
void store_set_app_rpc(struct store *s, store_app_rpc fn, void *data);
/* Answer with @body (taken); "code" 200 is added when absent. */
void store_answer(struct store_answer *a, cJSON *body);

/*
 * Ask every peer in @names (members' names) over the peer channel, in
 * parallel, with @body (borrowed; copied) and @timeout_ms; @cb fires once with
 * one reply per name (NULL: no answer in time), never inside this call.
 */
typedef void (*store_gather_cb)(void *data, size_t n, const char *const *names, cJSON **replies);
int store_gather(struct store *s,
                 const char *const *names,
                 size_t n,
                 const cJSON *body,
                 unsigned timeout_ms,
                 store_gather_cb cb,
                 void *data);

/* --- test hooks ----------------------------------------------------------- */

/* With REGENT_TEST_HOOKS=1 in the environment, REGENT_TEST_FAULT may name
 * one fault: "delay-forward-reply:PREFIX" makes the leader answer the first
 * forwarded proposal whose request id starts with PREFIX only after twice
 * the proposer's attempt timeout, so that the proposer retries under the
 * same request id. POST /debug/propose is served only with the hooks on. */
bool store_test_hooks_enabled(void);

#endif
