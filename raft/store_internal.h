/*
 * store internals, shared by store.c (lifecycle, identity, c-raft glue,
 * cluster clock, events), store_req.c (requests to the leader: proposals and
 * forwarding), store_rpc.c (the peer RPC endpoint and the leader's handlers)
 * and store_member.c (discovery, Raft bootstrap, joining, membership upkeep).
 */
#ifndef REGENT_STORE_INTERNAL_H
#define REGENT_STORE_INTERNAL_H

#include <raft.h>
#include <raft/uv.h>

#include "agent/rg.h"
#include "raft/rtx.h"
#include "raft/store.h"

#define STORE_ATTEMPT_TIMEOUT_MS 1000 /* one forwarded attempt */
#define STORE_RETRY_DELAY_MS     25   /* between attempts when no leader is known */
#define STORE_PROBE_TIMEOUT_MS   800
#define STORE_DISCOVER_EVERY_MS  300
#define STORE_UPKEEP_EVERY_MS    300
#define STORE_DEMOTE_AFTER_MS    10000 /* an even voter count with no standby to promote */
#define STORE_STANDBY_FRESH_MS   2000  /* a standby answered a probe this recently */
#define STORE_MAX_SERVERS        16

/* RPC reply codes (HTTP's meanings). */
enum {
    STORE_RC_OK = 200,
    STORE_RC_ACCEPTED = 202,
    STORE_RC_BAD = 400,
    STORE_RC_NOTFOUND = 404,
    STORE_RC_CONFLICT = 409,
    STORE_RC_GONE = 410,
    STORE_RC_MISDIRECTED = 421,
    STORE_RC_UNAVAILABLE = 503,
};

/* One queued event for the watcher. */
struct store_ev {
    enum store_event ev;
    struct store_cmd cmd; /* owned (its json) */
    struct store_result res;
    uint64_t index;
};

/*
 * Who answers a request handled by the leader: the RPC connection of a
 * forwarded request, or a local store_req. reply() takes @body.
 */
struct store_responder {
    void (*reply)(struct store_responder *r, cJSON *body);
    uint64_t peer_id; /* the requester's Raft id (0: local) */
};

/* What the leader's upkeep knows of a standby's liveness. */
struct store_seen {
    uint64_t id;
    uint64_t ok_at; /* boot clock, ms, of its last good probe answer */
    bool probing;
};

struct store {
    uv_loop_t *loop; /* borrowed */
    enum store_phase phase;
    char errmsg[512]; /* c-raft's load errors name a file, a batch and a byte */

    /* Options, copied. */
    char *scope, *name, *data_dir, *self_addr, *bind_addr, *secret, *api_url;
    char **partners;
    size_t n_partners;
    enum store_peer_kind kind;
    unsigned election_timeout, heartbeat_interval, voters;
    unsigned segment_size, snapshot_threshold, snapshot_trailing;
    store_watch_cb watch;
    void *watch_data;
    uint64_t digest; /* of the sorted partner list, self included */

    uint64_t id;    /* our Raft id, from the identity file */
    bool member;    /* the identity file says we joined or bootstrapped */
    bool has_state; /* data_dir holds c-raft metadata */

    /* The network: rtx, always; c-raft's io and instance while raft_on. */
    struct raft_uv_transport transport;
    bool transport_init;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    bool raft_init;       /* raft_init done, raft_close not yet called back */
    bool raft_on;         /* started and not closing */
    uint64_t start_index; /* raft_last_index() right after raft_start */

    /* The replicated state and the result of the entry being applied. */
    struct store_state state;
    struct store_result apply_res;
    bool fatal_apply; /* stop applying: every later apply fails */

    /* Cluster clock (DESIGN.md, "Cluster time"). */
    bool leading;             /* raft_state() == RAFT_LEADER at the last check */
    bool barrier_pending;     /* raft_barrier of this term not called back */
    bool clock_ready;         /* the barrier applied: proposals are welcome */
    uint64_t clock_base_ct;   /* cluster time when the clock started */
    uint64_t clock_base_mono; /* boot clock then */
    uint64_t ct_issued;       /* the largest ct handed to an entry by us */
    uint64_t applied_mono;    /* boot clock when the last entry applied (estimates) */
    struct raft_barrier barrier;
    uint64_t known_leader; /* the leader id at the last check (0: none) */
    int known_state;

    /* Events for the watcher, delivered from the check handle. */
    struct store_ev *evq;
    size_t n_evq, cap_evq;
    uv_check_t check;

    /* Requests we originated (store_req), for shutdown. */
    struct store_req *reqs;

    /* Discovery and joining. */
    uv_timer_t discover_timer;
    unsigned probes_out;      /* probe calls of this round not called back */
    unsigned probes_pristine; /* partners that answered pristine with our digest */
    char *join_via;           /* owned: a member's Raft address to join through */
    char **invited;           /* owned: addresses an invitation told us about */
    size_t n_invited;
    bool joining;               /* a join request is outstanding */
    uint64_t no_leader_since;   /* boot ms; 0 while a leader is known */
    bool orphan_check;          /* a membership check is outstanding */
    uint64_t orphan_at;         /* boot ms of the last check */
    size_t orphan_rr;           /* round-robin position over peers and partners */
    char orphan_next[64];       /* the leader a peer named, to ask next */
    uint64_t waiting_logged_at; /* boot ms of the last "waiting" line */
    uint64_t auth_warned_at;    /* boot ms of the last handshake warning */

    /* Upkeep of the leader (and each node's own peer record). */
    uv_timer_t upkeep_timer;
    bool change_pending; /* a raft_add/assign/remove of ours is in flight */
    struct raft_change change;
    uint64_t even_since;   /* boot ms since the voter count has been even */
    bool waiting_for_pair; /* said that one standby is not enough to promote */
    struct store_seen seen[STORE_MAX_SERVERS];
    size_t n_seen;
    struct member_op *member_op; /* the join or removal being carried out, or NULL */
    bool peer_set_out;           /* our own peer_set proposal is outstanding */
    uint64_t peer_set_at;        /* boot ms of the last one */
    struct store_req own_peer_req;
    bool prune_out; /* a peer_del of upkeep is outstanding */
    struct store_req prune_req;
    struct raft_transfer transfer;
    bool transfer_pending;
    struct store_responder *transfer_resp; /* who waits for the transfer, or NULL */

    /* The application's peer requests. */
    store_app_rpc app_rpc;
    void *app_rpc_data;

    /* Test hook: one delayed reply (REGENT_TEST_FAULT). */
    char fault_prefix[STORE_REQ_ID_SIZE]; /* "": no fault armed */
    uv_timer_t fault_timer;
    struct store_responder *fault_resp;
    cJSON *fault_body;

    /* Shutdown. */
    void (*stop_cb)(void *arg);
    void *stop_arg;
    unsigned open_handles;
    bool transport_closing;
    bool handles_closing;
};

/* store.c */
void store__fail(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void store__queue_event(struct store *s,
                        enum store_event ev,
                        struct store_cmd *cmd,
                        const struct store_result *res,
                        uint64_t index);
int store__raft_start(struct store *s, const struct raft_configuration *bootstrap);
int store__identity_write(struct store *s, bool member, char *errmsg);
uint64_t store__next_ct(struct store *s);
bool store__in_config(const struct store *s, uint64_t id, int *role);
const char *store__server_name(const struct store *s, uint64_t id, char *buf, size_t len);
void store__handle_closed(uv_handle_t *h);
void store__removed(struct store *s, const char *why);

/* store_req.c */
int store__req_start(struct store *s,
                     struct store_req *req,
                     cJSON *body,
                     unsigned flags,
                     unsigned timeout_ms,
                     store_req_cb cb);
void store__req_cancel_all(struct store *s);
/* The state changed: finish the store_wait requests it satisfies. */
void store__wait_poke(struct store *s);
/* Send one RPC @body (taken) to @address; @cb(@data, status, reply) with
 * reply borrowed during the call (NULL unless status 0). 0 or RG_E*. */
typedef void (*store_call_cb)(void *data, int status, const cJSON *reply, const char *errmsg);
struct store_call;
int store__call(struct store *s,
                const char *address,
                cJSON *body,
                unsigned timeout_ms,
                store_call_cb cb,
                void *data,
                struct store_call **out);

/* store_rpc.c */
void store__rpc_handler(void *data,
                        struct rtx_rpc_req *req,
                        uint64_t peer_id,
                        const char *peer_address,
                        const char *body,
                        size_t len);
/* Handle a leader-directed request (@body borrowed) for @r, now or later. */
void store__leader_handle(struct store *s, const cJSON *body, struct store_responder *r);
void store__fault_flush(struct store *s); /* send a delayed test reply now */
cJSON *store__reply_new(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
cJSON *store__leader_hint(struct store *s, int code);
void store__u64_add(cJSON *o, const char *key, uint64_t v);
bool store__u64_get(const cJSON *o, const char *key, uint64_t *v);

/* store_member.c */
const char *store__kind_name(enum store_peer_kind k);
void store__discover_start(struct store *s);
void store__upkeep_start(struct store *s);
cJSON *store__probe_answer(struct store *s, uint64_t peer_id);
void store__handle_join(struct store *s, const cJSON *body, struct store_responder *r);
void store__handle_remove(struct store *s, const cJSON *body, struct store_responder *r);
void store__handle_transfer(struct store *s, const cJSON *body, struct store_responder *r);
cJSON *store__invited(struct store *s, const cJSON *body);
void store__handle_invite(struct store *s, const cJSON *body, struct store_responder *r);

#endif
