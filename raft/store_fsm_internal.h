/*
 * store_fsm_internal: helpers shared by store_cmd.c, store_fsm.c and
 * store_fsm_snap.c. Not part of the public interface.
 */
#ifndef REGENT_STORE_FSM_INTERNAL_H
#define REGENT_STORE_FSM_INTERNAL_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/store_fsm.h"

/* The deepest nesting accepted inside a JSON payload (config, member data,
 * reports, ...). The snapshot nests payloads a few levels deeper, and cJSON
 * refuses to parse beyond CJSON_NESTING_LIMIT: a payload that was accepted
 * in a command must always fit in a snapshot. */
#define STORE_JSON_MAX_DEPTH 64

#define STORE_SNAPSHOT_FORMAT 1

/* [A-Za-z0-9._-]{1,STORE_NAME_SIZE-1} */
bool store__name_valid(const char *s);
/* Printable ASCII without spaces, 1..max_len characters. */
bool store__token_valid(const char *s, size_t max_len, bool allow_empty);
/* 1..31 decimal digits. */
bool store__sysid_valid(const char *s);

/* A u64 is encoded as a decimal string; a JSON number is accepted when it is
 * an integer in [0, 2^53] (exact in a double). 0 or RG_EPARSE. */
int store__json_u64(const cJSON *item, uint64_t *out);
void store__json_add_u64(cJSON *obj, const char *key, uint64_t v);

/* True when @item nests at most STORE_JSON_MAX_DEPTH levels and has only
 * finite numbers (cJSON prints inf/nan as null, which would make a restored
 * state differ from the applied one) and no object with a duplicate key. */
bool store__json_payload_valid(const cJSON *item);

/* Parse @len bytes (no NUL needed) as one JSON document, nothing after it
 * but white space. NULL when malformed. */
cJSON *store__json_parse(const void *buf, size_t len);

/* Print unformatted into an rg_malloc()ed buffer. */
void store__json_print(const cJSON *root, char **buf, size_t *len);

/* Both NULL, or both non-NULL and equal. */
bool store__json_equal(const cJSON *a, const cJSON *b);
/* cJSON_Duplicate that aborts on memory exhaustion; NULL stays NULL. */
cJSON *store__json_dup(const cJSON *item);

uint64_t store__add_sat(uint64_t a, uint64_t b);

/* Dedup ring in chronological order. */
size_t store__dedup_count(const struct store_state *s);
const struct store_dedup *store__dedup_at(const struct store_state *s, size_t i);

const char *store__peer_kind_name(enum store_peer_kind kind);
int store__peer_kind_parse(const char *s, enum store_peer_kind *kind);

#endif
