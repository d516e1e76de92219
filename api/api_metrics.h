/*
 * api_metrics: GET /metrics on an agent, in the Prometheus text format
 * (version 0.0.4).
 *
 * Patroni's metrics (spec/patroni-compat.md 1.4) with Patroni 4.1.4's
 * names, types, help texts and labels {scope="…",name="…"}, taken from the
 * same status document as GET /patroni — plus patroni_master, which
 * Patroni 3.x had and 4.0 dropped, for dashboards written against 3.x —
 * and Regent's own: regent_raft_term, regent_raft_commit_index,
 * regent_raft_applied_index, regent_lease_epoch, regent_failovers_total and
 * regent_last_failover_seconds. One "# HELP" and one "# TYPE" line per
 * metric; label values escaped as the format says (\\, \" and \n).
 *
 * api_metrics_render is pure (the document and the facts in, the text
 * out); api_metrics_reply gathers the facts from the store and answers.
 */
#ifndef REGENT_API_METRICS_H
#define REGENT_API_METRICS_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define API_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What Regent adds, from the store. */
struct api_metrics_facts {
    uint64_t raft_term;
    uint64_t raft_commit_index;
    uint64_t raft_applied_index;
    uint64_t lease_epoch; /* the store's lease record: 0 before the first grant */
    /* borrowed: the store's history array, one entry per change of primary
     * ([timeline, lsn, reason, time, new primary, {"unavailable_ms": N}]),
     * or NULL. regent_failovers_total counts the entries;
     * regent_last_failover_seconds is the last entry's unavailable_ms / 1000,
     * and absent while there is no entry or the last one has no such number. */
    const cJSON *history;
};

/*
 * The metrics text for @patroni, a GET /patroni document
 * (api_view_patroni), and @f. rg_malloc()ed and NUL-terminated (caller
 * rg_free()s it); *@len (when not NULL) is its length. Fields missing from
 * the document count as Patroni counts them (0); a state string Patroni
 * does not number gives patroni_postgres_state -1.
 */
char *api_metrics_render(const cJSON *patroni, const struct api_metrics_facts *f, size_t *len);

struct api_req;
struct api_node_status;
struct store;

/* Answer GET /metrics for a node whose status is @st (borrowed), with the
 * Raft, lease and history facts of @store: 200 and the text. */
void api_metrics_reply(struct api_req *req, const struct api_node_status *st, struct store *store);

#endif
