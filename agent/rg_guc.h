/*
 * rg_guc: PostgreSQL parameter values as JSON gives them (Patroni's
 * dynamic configuration, postgresql.parameters), read the way Patroni's
 * parse_bool / parse_int / size parsing do. One reader for the validation
 * of the dynamic configuration (agent/cfg_dcs.c) and for the managed
 * configuration (pg/pgi_conf.c), so the two never disagree.
 */
#ifndef RG_GUC_H
#define RG_GUC_H

#include <cJSON.h>
#include <stdbool.h>

/* true/false, 0/1, or "on"/"off", "true"/"false", "yes"/"no", "1"/"0"
 * (any case). */
bool rg_guc_bool(const cJSON *v, bool *out);

/* An integral JSON number (within ±2^53) or a string of digits with an
 * optional sign, no spaces. */
bool rg_guc_int(const cJSON *v, long long *out);

/* A size in kB: a number (in MB, wal_keep_size's unit) or a string
 * "<n>[ ](B|kB|MB|GB|TB)" (no unit: MB). */
bool rg_guc_size_kb(const cJSON *v, long long *kb);

#endif
