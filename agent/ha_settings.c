/*
 * ha_settings: the settings the HA runtime uses, from the local
 * configuration and the cluster's dynamic configuration (the store's config
 * record, seeded from bootstrap.dcs by the node that bootstraps; before
 * that, bootstrap.dcs itself). As Patroni: ttl, loop_wait,
 * maximum_lag_on_failover, check_timeline and postgresql.use_slots are
 * dynamic; use_pg_rewind may be either; paths, users, callbacks and the
 * remove_data_directory_* switches are local.
 */
#include <stdio.h>
#include <string.h>

#include "agent/ha_internal.h"
#include "pg/pgi_conf.h"

static const cJSON *dyn_root(const struct ha *ha)
{
    const cJSON *c = store_get_state(ha->store)->config;
    return c != NULL ? c : ha->cfg->bootstrap_dcs;
}

static const cJSON *dyn_get(const struct ha *ha, const char *section, const char *key)
{
    const cJSON *root = dyn_root(ha);
    if (section != NULL) {
        root = cJSON_GetObjectItemCaseSensitive(root, section);
    }
    return cJSON_GetObjectItemCaseSensitive(root, key);
}

static unsigned dyn_ms(const struct ha *ha, const char *key, unsigned local)
{
    const cJSON *v = dyn_get(ha, NULL, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (unsigned)(v->valuedouble * 1000) : local;
}

static bool dyn_bool(const struct ha *ha, const char *section, const char *key, bool def)
{
    const cJSON *v = dyn_get(ha, section, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static bool tag_true(const cJSON *tags, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tags, key));
}

void ha__settings(struct ha *ha, struct ha_settings *set)
{
    const struct cfg *cfg = ha->cfg;
    const struct cfg_postgresql *pg = &cfg->postgresql;
    memset(set, 0, sizeof *set);
    set->ttl_ms = dyn_ms(ha, "ttl", cfg->lease.ttl);
    set->loop_wait_ms = dyn_ms(ha, "loop_wait", cfg->lease.loop_wait);
    set->renew_interval_ms = cfg->lease.renew_interval;
    set->safety_margin_ms = cfg->lease.safety_margin;
    set->fence_budget_ms = cfg->lease.fence_budget;
    set->switchover_timeout_ms = 2 * set->ttl_ms;
    const cJSON *lag = dyn_get(ha, NULL, "maximum_lag_on_failover");
    set->maximum_lag_on_failover = cJSON_IsNumber(lag) && lag->valuedouble >= 0
                                       ? (uint64_t)lag->valuedouble
                                       : cfg->lease.maximum_lag_on_failover;
    set->check_timeline = dyn_bool(ha, NULL, "check_timeline", false);
    set->paused = dyn_bool(ha, NULL, "pause", false);
    set->use_slots = dyn_bool(ha, "postgresql", "use_slots", true);
    set->use_pg_rewind = dyn_bool(ha, "postgresql", "use_pg_rewind", pg->use_pg_rewind);
    set->remove_on_diverged = pg->remove_data_directory_on_diverged_timelines;
    set->remove_on_rewind_failure = pg->remove_data_directory_on_rewind_failure;

    set->sync_mode = HA_SYNC_OFF;
    ha_sync_mode_parse(dyn_get(ha, NULL, "synchronous_mode"), &set->sync_mode);
    set->sync_strict = dyn_bool(ha, NULL, "synchronous_mode_strict", false);
    const cJSON *snc = dyn_get(ha, NULL, "synchronous_node_count");
    set->sync_node_count =
        cJSON_IsNumber(snc) && snc->valuedouble >= 1 ? (unsigned)snc->valuedouble : 1;

    const cJSON *tags = cfg->tags;
    const cJSON *prio = cJSON_GetObjectItemCaseSensitive(tags, "failover_priority");
    set->failover_priority = cJSON_IsNumber(prio) ? prio->valueint : 1;
    set->nofailover = tag_true(tags, "nofailover") || set->failover_priority <= 0;
    set->noloadbalance = tag_true(tags, "noloadbalance");
    set->clonefrom = tag_true(tags, "clonefrom");
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(tags, "replicatefrom");
    set->replicatefrom = cJSON_IsString(rf) ? rf->valuestring : NULL;

    const cJSON *dp = dyn_get(ha, "postgresql", "parameters");
    set->dynamic_parameters = cJSON_IsObject(dp) ? dp : NULL;
    set->local_parameters = pg->parameters;
    const cJSON *dyn_hba = dyn_get(ha, "postgresql", "pg_hba");
    set->pg_hba = pg->pg_hba != NULL       ? pg->pg_hba
                  : cJSON_IsArray(dyn_hba) ? dyn_hba
                                           : cfg->bootstrap_pg_hba;

    set->on_start = pg->callbacks.on_start;
    set->on_stop = pg->callbacks.on_stop;
    set->on_restart = pg->callbacks.on_restart;
    set->on_reload = pg->callbacks.on_reload;
    set->on_role_change = pg->callbacks.on_role_change;
    set->callbacks_timeout_ms = pg->callbacks_timeout ? pg->callbacks_timeout : 30000;

    const struct cfg_pg_auth *auth = &pg->authentication;
    set->su_user = auth->superuser.username != NULL ? auth->superuser.username : "postgres";
    set->su_password = auth->superuser.password;
    set->rep_user = auth->replication.username;
    set->rep_password = auth->replication.password;
    set->rw_user = auth->rewind.username;
    set->rw_password = auth->rewind.password;
}

int ha__pg_options(struct ha *ha, struct pgi_options *o, char *listen, size_t ll, char *errmsg)
{
    const struct cfg *cfg = ha->cfg;
    const struct ha_settings *set = &ha->set;
    unsigned port = 5432;
    memset(o, 0, sizeof *o);
    if (cfg->postgresql.data_dir == NULL) {
        rg_errmsg_printf(errmsg, "postgresql.data_dir: required");
        return RG_ECONFIG;
    }
    snprintf(listen, ll, "127.0.0.1");
    if (cfg->postgresql.listen != NULL &&
        pgi_conf_parse_listen(cfg->postgresql.listen, listen, ll, &port) != 0) {
        rg_errmsg_printf(errmsg, "postgresql.listen: must be addr[,addr]:port");
        return RG_ECONFIG;
    }
    o->name = cfg->name;
    o->scope = cfg->scope;
    o->data_dir = cfg->postgresql.data_dir;
    o->bin_dir = cfg->postgresql.bin_dir;
    o->listen_addresses = listen;
    o->port = port;
    o->pgpass = cfg->postgresql.pgpass;
    o->superuser = (struct pgi_user){set->su_user, set->su_password};
    o->replication = (struct pgi_user){set->rep_user, set->rep_password};
    o->rewind = (struct pgi_user){set->rw_user, set->rw_password};
    o->pg_ctl_timeout_ms = cfg->postgresql.pg_ctl_timeout;
    o->initdb = cfg->bootstrap_initdb;
    o->basebackup = cfg->postgresql.basebackup;
    return 0;
}
