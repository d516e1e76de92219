/*
 * api_config: GET, PATCH and PUT /config — the cluster's dynamic
 * configuration (the store's config record) over REST, on every node
 * (agents and the witness: the routes are in api_store.c's table).
 *
 *   GET   /config  200 the document, secrets masked, with ETag: "<version>";
 *                  502 "no dynamic configuration" before the cluster has one
 *   PATCH /config  a JSON merge patch (RFC 7386): merged into the current
 *                  document, checked (cfg_dcs_check), written with
 *                  compare-and-set on the version it was based on; 200 the
 *                  merged document and the new ETag
 *   PUT   /config  the whole document: checked and written the same way;
 *                  identical to the current one: 200 without a write
 *
 * With If-Match: "<version>" the write is based on that version or on
 * nothing (409 "Config modification aborted due to concurrent changes",
 * regentctl edit-config's compare-and-set); without it a write that loses
 * the race at apply time is merged again onto what won, a few times. See
 * docs/rest-api.md for every status.
 */
#ifndef REGENT_API_CONFIG_H
#define REGENT_API_CONFIG_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/cfg.h"

struct api_req;

/* Route handlers; @data is the node's struct api_store_ctx. */
void api_config_get(void *data, struct api_req *req);
void api_config_patch(void *data, struct api_req *req);
void api_config_put(void *data, struct api_req *req);

/* The reply to a write that lost to another one (Patroni's, and patronictl
 * edit-config prints it). */
#define API_CONFIG_CONFLICT "Config modification aborted due to concurrent changes"

/*
 * An If-Match header's value: "\"7\"" (also W/"7" and a bare 7) → 0 and
 * *@version; "*" → 1 (any version: no condition); anything else, or a list
 * of several tags, → RG_EINVAL.
 */
int api_config_if_match(const char *value, uint64_t *version);

/*
 * The document a PATCH (@replace false: @body merged into @current) or a
 * PUT (@replace true: @body itself) would write, secrets sent back masked
 * restored from @current: 0 and *@out (caller cJSON_Delete()s it), or
 * RG_EINVAL with @errbuf ("field: what is wrong", CFG_DCS_ERRLEN bytes are
 * enough) when @body is too large or the result fails cfg_dcs_check with
 * @local. Pure.
 */
int api_config_build(const cJSON *current,
                     const cJSON *body,
                     bool replace,
                     const struct cfg *local,
                     cJSON **out,
                     char *errbuf,
                     size_t errlen);

#endif
