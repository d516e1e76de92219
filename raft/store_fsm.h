/*
 * store_fsm: the cluster store's replicated state machine — pure.
 *
 * Commands (store_cmd) are JSON documents, versioned ("v") and carrying a
 * request id ("id") and the proposing leader's cluster time ("ct", ms).
 * store_fsm_apply() evaluates every condition at apply time against the
 * state left by earlier entries, never the proposer's view (DESIGN.md,
 * "Apply-time conditions"). It never reads a clock, the disk or the network:
 * the same log gives every node the same state.
 *
 * Idempotence: the state keeps the results of the last STORE_DEDUP_SIZE
 * request ids; a command whose id is already there is not applied again and
 * returns the recorded result (so a forwarded proposal retried under the same
 * id is applied exactly once). Renewals carry a fresh id per attempt.
 *
 * A command whose version or op this build does not know, or whose "v" is
 * above the cluster's format level, makes apply return RG_EUNSUPPORTED: the
 * caller must stop applying and exit, never skip.
 *
 * Snapshots serialise the whole state (dedup table and last_ct included) as
 * JSON; restore of a snapshot gives a state equal to the original
 * (store_state_equal).
 */
#ifndef REGENT_STORE_FSM_H
#define REGENT_STORE_FSM_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_CMD_VERSION  1 /* the highest command version this build speaks */
#define STORE_FORMAT_LEVEL 1 /* the highest cluster format level this build supports */
#define STORE_DEDUP_SIZE   4096
#define STORE_REQ_ID_SIZE  40 /* including the NUL */
#define STORE_NAME_SIZE    64 /* member names, including the NUL */

enum store_op {
    STORE_OP_NONE = 0,
    STORE_OP_INIT_CLAIM,   /* name: claim the bootstrap (applies while initialize is empty) */
    STORE_OP_INIT_SET,     /* name, epoch, sysid: record the system identifier under the lease */
    STORE_OP_INIT_CLEAR,   /* name: drop a claim whose lease expired (condition at apply) */
    STORE_OP_CONFIG_SET,   /* json, version (CAS: current version must equal it; 0 = create) */
    STORE_OP_PEER_SET,     /* peer_id, name, address, api_url, kind */
    STORE_OP_PEER_DEL,     /* peer_id */
    STORE_OP_MEMBER_SET,   /* name, json */
    STORE_OP_MEMBER_DEL,   /* name */
    STORE_OP_RENEW,        /* name (holder), epoch, ttl, lsn, fencing */
    STORE_OP_GRANT,        /* name (to), epoch (expected), json (reports), ttl */
    STORE_OP_RELEASE,      /* name (holder), epoch, lsn */
    STORE_OP_HANDOVER,     /* name (holder), epoch, to, lsn (after_lsn) */
    STORE_OP_FAILOVER_SET, /* name (holder), epoch, json ({} or {from,to,scheduled_at}); null clears
                            */
    STORE_OP_SYNC_SET,     /* name (holder), epoch, json */
    STORE_OP_STATUS_SET,   /* name (holder), epoch, json */
    STORE_OP_HISTORY_ADD,  /* name (holder), epoch, json (one entry) */
    STORE_OP_FORMAT_RAISE, /* level */
    STORE_OP_NOOP,         /* nothing; used to learn the applied index */
    STORE_OP__COUNT
};

enum store_peer_kind { STORE_PEER_MEMBER = 0, STORE_PEER_WITNESS = 1 };

struct store_cmd {
    int v; /* command version */
    enum store_op op;
    char id[STORE_REQ_ID_SIZE]; /* request id, never empty */
    uint64_t ct;                /* cluster time of the entry, ms; set by the leader */
    char name[STORE_NAME_SIZE]; /* holder / member / claimant / grantee */
    char to[STORE_NAME_SIZE];   /* handover target */
    uint64_t epoch;
    uint64_t ttl; /* ms */
    uint64_t lsn;
    bool fencing;
    uint64_t version;            /* CONFIG_SET compare-and-set */
    uint64_t level;              /* FORMAT_RAISE */
    uint64_t switchover_timeout; /* ms; GRANT may take an unconfirmed handover after it */
    char sysid[32];              /* INIT_SET */
    uint64_t peer_id;
    char address[64];          /* PEER_SET raft address */
    char api_url[256];         /* PEER_SET */
    enum store_peer_kind kind; /* PEER_SET */
    cJSON *json;               /* owned by the command, may be NULL */
};

/* Encode as JSON text. *@buf is rg_malloc()ed, caller frees. Never fails. */
void store_cmd_encode(const struct store_cmd *cmd, char **buf, size_t *len);

/* Decode; 0, RG_EPARSE (malformed, @errmsg says what) or RG_EUNSUPPORTED
 * (a version or op this build does not know). Free with store_cmd_close. */
int store_cmd_decode(const void *buf, size_t len, struct store_cmd *cmd, char *errmsg);

/* Zero a command (json NULL) and set v = STORE_CMD_VERSION. */
void store_cmd_init(struct store_cmd *cmd);
void store_cmd_close(struct store_cmd *cmd);
const char *store_op_name(enum store_op op);

struct store_peer {
    uint64_t id;
    char *name;    /* owned */
    char *address; /* owned */
    char *api_url; /* owned */
    enum store_peer_kind kind;
};

struct store_member {
    char *name;  /* owned */
    cJSON *data; /* owned */
};

struct store_lease {
    char holder[STORE_NAME_SIZE]; /* "" when nobody ever held it */
    uint64_t epoch;               /* 0 before the first grant */
    uint64_t renewed_at;          /* cluster time, ms */
    uint64_t expires_at;          /* cluster time, ms */
    bool released;
    bool handover_unconfirmed;
    bool fencing; /* what the last applied renewal said */
    uint64_t lsn;
};

struct store_dedup {
    char id[STORE_REQ_ID_SIZE];
    int code;
    uint64_t epoch;
};

struct store_state {
    uint64_t format_level; /* starts at 1 */
    uint64_t last_ct;      /* the largest cluster time ever applied */
    /* initialize */
    char *init_sysid;                 /* owned; NULL: not initialized */
    char init_claim[STORE_NAME_SIZE]; /* "" when nobody claims */
    uint64_t init_claim_epoch;        /* lease epoch granted to the claimant */
    /* config */
    cJSON *config; /* owned or NULL */
    uint64_t config_version;
    /* peers and members, sorted by id / name */
    struct store_peer *peers;
    size_t n_peers;
    struct store_member *members;
    size_t n_members;
    struct store_lease lease;
    cJSON *failover;      /* owned or NULL */
    cJSON *sync;          /* owned or NULL */
    cJSON *status;        /* owned or NULL */
    cJSON *history;       /* owned array, never NULL after init */
    cJSON *lease_reports; /* owned or NULL: the reports the last applied grant used */
    /* dedup ring */
    struct store_dedup *dedup; /* STORE_DEDUP_SIZE slots */
    size_t dedup_next;
    uint64_t applied; /* number of commands applied (not deduplicated) */
};

/* The result of one apply. code 0: applied; RG_ECONFLICT: refused by an
 * apply-time condition (reason says which); RG_EUNSUPPORTED: stop. */
struct store_result {
    int code;
    uint64_t epoch; /* the lease epoch after the command */
    char reason[128];
};

void store_state_init(struct store_state *s);
void store_state_close(struct store_state *s);

/* Apply one decoded command. See the file comment for the codes. */
void store_fsm_apply(struct store_state *s, const struct store_cmd *cmd, struct store_result *res);

/* Serialise / restore the whole state. Restore replaces @s entirely;
 * RG_EPARSE on a malformed snapshot (then @s is unchanged). */
void store_state_snapshot(const struct store_state *s, char **buf, size_t *len);
int store_state_restore(struct store_state *s, const void *buf, size_t len, char *errmsg);
bool store_state_equal(const struct store_state *a, const struct store_state *b);

/* Look-ups (borrowed pointers, valid until the next apply or restore). */
const struct store_peer *store_state_peer(const struct store_state *s, uint64_t id);
const struct store_peer *store_state_peer_by_name(const struct store_state *s, const char *name);
const struct store_member *store_state_member(const struct store_state *s, const char *name);

/* True when the lease is held and unexpired at cluster time @ct. */
bool store_lease_valid(const struct store_lease *l, uint64_t ct);

#endif
