/*
 * cfg_dcs: the dynamic configuration — the store's config record, a JSON
 * object seeded from bootstrap.dcs and changed with PATCH / PUT /config —
 * checked, merged and masked. Pure: no clock, no I/O, no logging.
 *
 * The keys and their types, bounds and choices are the key table's
 * bootstrap.dcs.* entries (cfg_keys.c): the four the local file also reads
 * (ttl, loop_wait, retry_timeout, maximum_lag_on_failover), the ones only
 * the dynamic configuration has (check_timeline, pause, postgresql.*), and
 * the Patroni keys Regent accepts and ignores (synchronous_mode, slots,
 * standby_cluster, ...). Times are seconds, as in Patroni.
 */
#ifndef REGENT_CFG_DCS_H
#define REGENT_CFG_DCS_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/cfg.h"

/* Room for any message of cfg_dcs_check (the timing rules are long). */
#define CFG_DCS_ERRLEN 1024

/* What a secret looks like in every document shown to a client. */
#define CFG_DCS_MASK "******"

/* Shape limits of a document (and of a patch), so that merging and checking
 * stay cheap on the loop whatever a client sends. */
#define CFG_DCS_MAX_DEPTH 64
#define CFG_DCS_MAX_KEYS  500   /* members of one object, items of one array */
#define CFG_DCS_MAX_NODES 10000 /* values in the whole document */

/*
 * Check @doc as a whole dynamic configuration. 0, or RG_EINVAL with the
 * first problem in @errbuf (@errlen bytes, CFG_DCS_ERRLEN is enough) as
 * "<dotted.field>: <what is wrong>", e.g.
 *   "ttl: must be between 1 and 3600 seconds"
 *   "postgresql.parameters.max_connections: must be an integer"
 *   "foo: unknown key"
 *   "ttl: loop_wait + 2 x retry_timeout (2 + 2 x 1 = 4 s) must not exceed ttl (2.5 s)"
 * Rules: the shape limits above and no duplicate keys; every key is one the
 * table knows (keys of the local postgresql section are accepted under
 * postgresql and ignored, as Patroni ignores or applies them; other local
 * keys and unknown keys are refused); a null value means "not set"; values
 * have the table's JSON types (seconds and sizes as numbers, switches as
 * true/false), bounds and validators; postgresql.parameters holds valid
 * parameter names with string, number or boolean values without line
 * breaks, and the cluster-wide parameters (max_connections, wal_level, ...)
 * parse and reach Patroni's minima; and ttl, loop_wait and retry_timeout
 * (the document's, else this node's) pass the timing rules of the local
 * file with this node's local settings (@local; a witness's or NULL: the
 * table's defaults for what it lacks).
 */
int cfg_dcs_check(const cJSON *doc, const struct cfg *local, char *errbuf, size_t errlen);

/* The shape limits and the duplicate-key rule alone, on any JSON value (a
 * patch before it is merged). 0, or RG_EINVAL with @errbuf as above. */
int cfg_dcs_check_shape(const cJSON *j, char *errbuf, size_t errlen);

/*
 * JSON merge patch (RFC 7386): a new value (caller cJSON_Delete()s it) that
 * is @target with @patch applied — an object patch merges member by member
 * (null deletes, objects merge recursively, anything else replaces, into
 * an empty object when @target is not one); any other patch replaces the
 * whole value. @target may be NULL; neither argument is changed.
 */
cJSON *cfg_dcs_merge_patch(const cJSON *target, const cJSON *patch);

/* True for the name of a member whose value is a secret: it ends in
 * "password", in any case ("password", "sslpassword"), at any depth. */
bool cfg_dcs_secret_name(const char *name);

/* A copy of @doc with every non-null secret value replaced by CFG_DCS_MASK.
 * Caller cJSON_Delete()s it. */
cJSON *cfg_dcs_masked(const cJSON *doc);

/*
 * Undo the mask in @doc (a document a client sent back, changed in place):
 * a secret member whose value is the string CFG_DCS_MASK takes the value at
 * the same place in @stored (may be NULL), so that showing a configuration
 * and sending it back never clobbers a secret. 0, or RG_EINVAL (@errbuf)
 * when @stored has no value there to keep.
 */
int cfg_dcs_unmask(cJSON *doc, const cJSON *stored, char *errbuf, size_t errlen);

#endif
