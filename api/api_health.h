/*
 * api_health: Patroni-compatible health checks, readiness and the node status
 * document (spec/patroni-compat.md 1.2, 1.3, 1.5) — pure: facts in, decisions
 * out. No clock, no I/O, no h2o.
 *
 * The agent fills a struct api_node_status from its own state at the moment
 * of a request; the route handlers call api_health_code() (GET, HEAD and
 * OPTIONS on the paths api_health_path() accepts), api_readiness_code()
 * (GET /readiness) and api_view_patroni() (the body of GET /patroni and of a
 * GET health check). GET /liveness is decided by the caller (loop not
 * overdue, or paused).
 *
 * Where Regent deliberately differs from Patroni is listed at the top of
 * api_health.c and in docs/rest-api.md, "Health checks".
 */
#ifndef REGENT_API_HEALTH_H
#define REGENT_API_HEALTH_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the agent knows of its node at the moment of a request. Strings and
 * JSON are borrowed for the duration of the call. */
struct api_node_status {
    /* Patroni's terms (spec 1.2) */
    bool holds_lease;     /* L: this agent's lease deadline is valid now */
    bool have_view;       /* D: the local store replica is fresh enough to trust */
    bool paused;          /* P */
    bool standby_cluster; /* SC */
    /* PostgreSQL */
    const char *state;                 /* Patroni's PostgreSQL state strings (spec 1.3): "running",
                                        * "starting", "stopped", "crashed", "creating replica", ...;
                                        * NULL = "unknown" */
    const char *role;                  /* live role: "primary" ("master" accepted), "replica",
                                        * "standby_leader"; when PostgreSQL is down the agent's role
                                        * ("uninitialized", "demoted", ...); NULL unknown */
    unsigned server_version;           /* 150004; 0 unknown */
    const char *postmaster_start_time; /* as Patroni renders it, or NULL */
    unsigned timeline;                 /* 0 unknown */
    bool has_xlog;                     /* the live status query succeeded: the fields from here to
                                        * replication are known. false turns a "running" state into
                                        * "unknown", as a failed query does in Patroni */
    uint64_t wal_lsn;                  /* primary: current flush LSN */
    uint64_t received_lsn;             /* replica: the receiver's written LSN, else
                                        * pg_last_wal_receive_lsn(); 0: replayed_lsn is shown */
    uint64_t replayed_lsn;             /* replica */
    const char *replayed_timestamp;    /* pg_last_xact_replay_timestamp() or NULL */
    bool replay_paused;
    const char *replication_state; /* "streaming", "in archive recovery" or NULL */
    const cJSON *replication;      /* WAL senders: array of {usename, application_name,
                                    * client_addr, state, sync_state, sync_priority}, or NULL */
    uint64_t latest_end_lsn;       /* replica: pg_stat_wal_receiver.latest_end_lsn, 0 unknown */
    /* cluster */
    bool has_leader_optime;
    uint64_t leader_optime; /* from the store's status record (used only with have_view) */
    bool sync_standby;      /* listed in the store's sync record, synchronous_mode on */
    bool quorum_standby;    /* listed in the store's sync record, synchronous_mode quorum */
    bool cluster_unlocked;  /* no valid lease in the store view */
    uint64_t dcs_last_seen; /* epoch seconds of the last applied store entry, 0 unknown */
    const cJSON *tags;      /* effective tags object (may be NULL) */
    const char *sysid;      /* database system identifier or NULL */
    bool pending_restart;
    const cJSON *scheduled_restart;      /* {"schedule", "postgres_version"} or NULL */
    const cJSON *pending_restart_reason; /* {"<guc>": {"old_value", "new_value"}} or NULL */
    bool watchdog_failed;                /* the watchdog is required but unusable */
    uint64_t maximum_lag_on_failover;    /* readiness limit default (bytes) */
    const char *scope, *name, *version;  /* version: Regent's */
    /* Regent additions to /patroni ("lease"): epoch and deadline left */
    uint64_t lease_epoch;
    int64_t lease_ms_left; /* -1 when not holding */
    const char *ha_action; /* the agent's last decision ("wait", "promote", …), or NULL */
    const char *ha_reason; /* and why */
};

/*
 * Does Regent's router serve @path (exact, without the query) as a health
 * check? True for /, /primary, /master, /read-write, /leader, /replica,
 * /read-only, /standby-leader, /standby_leader, /sync, /synchronous, /quorum,
 * /async, /asynchronous, /read-only-sync, /read-only-synchronous,
 * /read-only-quorum and /health; every other path answers 404.
 */
bool api_health_path(const char *path);

/*
 * Status code (200 or 503) of a health check GET/HEAD/OPTIONS on @path with
 * the raw query string @query ("" when none), per spec 1.2: substring rules
 * in Patroni's order (first match wins), ?lag= (bytes or B|kB|MB|GB|TB,
 * 1024-based, case-sensitive; unparsable = no limit), ?replication_state=,
 * tag_<key>=<value> filters applied only when the result would otherwise be
 * 200 and not for leader-style paths (predefined boolean tags set to false
 * are dropped first). @path is read as Patroni reads it ("/replicas" is a
 * replica check, "//replica" and "/replica;x" are "/replica").
 *
 * Returns 0 when no rule of Patroni's table matches @path ("/foo", "/sync/"):
 * Patroni answers 503 there, Regent's router never routes such a path here
 * and answers 404.
 */
int api_health_code(const char *path, const char *query, const struct api_node_status *st);

/*
 * GET /readiness, Patroni ≥ 4.1: 200 when holding the lease; else 200 only if
 * PostgreSQL runs, streams, (have_view or latest_end_lsn known) and its lag
 * behind the leader (?mode=apply (default): replayed, ?mode=write: received)
 * is at most ?lag= (else maximum_lag_on_failover). 503 otherwise.
 */
int api_readiness_code(const char *query, const struct api_node_status *st);

/* The body of GET /patroni and of GET health checks (spec 1.3), with
 * Regent's "lease" object. Caller cJSON_Delete()s it. */
cJSON *api_view_patroni(const struct api_node_status *st);

/* GET /history body from the store's history array (entries of 3–5
 * elements, copied; non-array entries skipped; a timeline or LSN stored as
 * text, "25623960" or "0/186F6B8", becomes a number). [] when NULL. Caller
 * cJSON_Delete()s it. */
cJSON *api_view_history(const cJSON *history);

/*
 * Parse a size as Patroni's parse_int(s, 'B'): "10MB" → 10485760, "123" →
 * 123, " 16 kB " → 16384, "1.5kB" → 1536, "0x10" → 16, "010" → 8 (octal, as
 * strtol). Units B, kB, MB, GB, TB, case-sensitive, 1024-based. 0 and *@out;
 * RG_EINVAL for garbage, a negative value, or one of 2^64 or more.
 */
int api_parse_size(const char *s, uint64_t *out);

/*
 * Query strings, read as Python's parse_qs does: parameters split on '&',
 * the query ends at '#', '+' is a space, %XX a byte (an invalid escape stays
 * as it is), and a parameter without '=' or with an empty value is absent.
 *
 * api_query_get: the first value of parameter @key, decoded into @buf
 * (@len ≥ 1, truncated to fit) and returned; NULL when absent.
 * api_query_next: the next parameter at *@cursor (start it at the query);
 * name and value decoded into @key and @val (truncated to fit, sizes ≥ 1),
 * *@cursor advanced; false at the end.
 */
const char *api_query_get(const char *query, const char *key, char *buf, size_t len);
bool api_query_next(const char **cursor, char *key, size_t klen, char *val, size_t vlen);

#endif
