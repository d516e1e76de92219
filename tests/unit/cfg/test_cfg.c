/*
 * Unit tests for cfg: loading regent.yml / patroni.yml into struct cfg,
 * defaults, environment overrides, every class of error (with its exact
 * "FILE:LINE:COL: key.path:" prefix), the timing rules and cfg_to_json().
 *
 * YAML is written inline; line and column numbers in the expectations are
 * those of the text as written (1-based).
 */
/* cmocka.h needs these first; keep clang-format from sorting it above them. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cfg.h"
#include "agent/rg.h"

#define ERRLEN 8192

/* A valid agent configuration without any optional key. It ends inside
 * "raft:" (tests append raft keys) at line 8. */
#define MINIMAL                                                                                    \
    "scope: demo\n"                                                                                \
    "name: node1\n"                                                                                \
    "restapi: {listen: '127.0.0.1:8008'}\n"                                                        \
    "postgresql: {data_dir: /var/lib/postgresql/15/main}\n"                                        \
    "raft:\n"                                                                                      \
    "  data_dir: /var/lib/regent/raft\n"                                                           \
    "  self_addr: 127.0.0.1:2222\n"                                                                \
    "  password: s3cret-pass\n"

/* The same lines without postgresql (a witness, or a test that writes its
 * own postgresql section). */
#define MINIMAL_NO_PG                                                                              \
    "scope: demo\n"                                                                                \
    "name: node1\n"                                                                                \
    "restapi:\n"                                                                                   \
    "  listen: 127.0.0.1:8008\n"                                                                   \
    "raft:\n"                                                                                      \
    "  data_dir: /var/lib/regent/raft\n"                                                           \
    "  self_addr: 127.0.0.1:2222\n"                                                                \
    "  password: s3cret-pass\n"

struct fx {
    struct cfg *cfg;
    char err[ERRLEN];
};

static int setup(void **state)
{
    *state = calloc(1, sizeof(struct fx));
    return *state == NULL;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    cfg_free(fx->cfg);
    free(fx);
    return 0;
}

static int load_kind(struct fx *fx, const char *yaml, enum cfg_kind kind, unsigned flags)
{
    cfg_free(fx->cfg);
    fx->cfg = NULL;
    int rc = cfg_load_string(yaml, strlen(yaml), "regent.yml", kind, flags | CFG_QUIET, &fx->cfg,
                             fx->err, sizeof fx->err);
    if (rc != 0) {
        assert_null(fx->cfg);
    }
    return rc;
}

/* Load an agent configuration without the environment. */
static int load(struct fx *fx, const char *yaml)
{
    return load_kind(fx, yaml, CFG_AGENT, CFG_NO_ENV);
}

/* True when @text has a line starting with @prefix. */
static bool has_line(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, prefix, n) == 0) {
            return true;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    return false;
}

static size_t count_lines(const char *text)
{
    if (text == NULL || *text == '\0') {
        return 0;
    }
    size_t n = 1;
    for (const char *p = text; *p; p++) {
        n += *p == '\n';
    }
    return n;
}

#define assert_line(text, prefix)                                                                  \
    do {                                                                                           \
        if (!has_line((text), (prefix))) {                                                         \
            fail_msg("no line starting with \"%s\" in:\n%s", (prefix), (text));                    \
        }                                                                                          \
    } while (0)

/* --- valid configurations -------------------------------------------- */

static const char full_agent[] =
    "scope: pgcluster\n"
    "namespace: /regent\n"
    "name: node1\n"
    "restapi:\n"
    "  listen: 0.0.0.0:8008\n"
    "  connect_address: node1.example.com:8008\n"
    "  authentication:\n"
    "    username: admin\n"
    "    password: rest-secret\n"
    "  certfile: /etc/regent/cert.pem\n"
    "  keyfile: /etc/regent/key.pem\n"
    "  cafile: /etc/regent/ca.pem\n"
    "  verify_client: required\n"
    "  allowlist: [10.0.0.0/24, 127.0.0.1]\n"
    "  allowlist_include_members: true\n"
    "raft:\n"
    "  data_dir: /var/lib/regent/raft\n"
    "  self_addr: 10.0.0.1:2222\n"
    "  bind_addr: 0.0.0.0:2222\n"
    "  partner_addrs:\n"
    "    - 10.0.0.2:2222\n"
    "    - 10.0.0.3:2222\n"
    "  password: cluster-secret\n"
    "  election_timeout: 0.6\n"
    "  heartbeat_interval: 0.06\n"
    "  renew_interval: 0.2\n"
    "  voters: 5\n"
    "  segment_size: 1048576\n"
    "  snapshot_threshold: 64\n"
    "  snapshot_trailing: 32\n"
    "bootstrap:\n"
    "  dcs:\n"
    "    ttl: 3\n"
    "    loop_wait: 1\n"
    "    retry_timeout: 0.75\n"
    "    maximum_lag_on_failover: 2097152\n"
    "    synchronous_mode: on\n"
    "    postgresql:\n"
    "      use_pg_rewind: true\n"
    "      parameters: {max_connections: 200, wal_level: replica, work_mem: '4MB'}\n"
    "  initdb: [{encoding: UTF8}, data-checksums]\n"
    "  pg_hba:\n"
    "    - host replication replicator 10.0.0.0/24 scram-sha-256\n"
    "postgresql:\n"
    "  listen: 0.0.0.0:5432\n"
    "  connect_address: 10.0.0.1:5432\n"
    "  data_dir: /var/lib/postgresql/15/main\n"
    "  bin_dir: /usr/lib/postgresql/15/bin\n"
    "  pgpass: /tmp/pgpass\n"
    "  authentication:\n"
    "    superuser: {username: postgres, password: super-secret}\n"
    "  parameters: {unix_socket_directories: /run/postgresql}\n"
    "watchdog:\n"
    "  mode: required\n"
    "  device: /dev/watchdog1\n"
    "  safety_margin: 0.5\n"
    "  timeout: 2\n"
    "tags:\n"
    "  nofailover: false\n"
    "  failover_priority: 2\n"
    "  zone: eu-1\n"
    "ctl:\n"
    "  authentication: {username: admin, password: ctl-secret}\n"
    "log:\n"
    "  level: debug\n"
    "  dir: /var/log/regent\n"
    "  file_size: 1000000\n"
    "  file_num: 7\n"
    "  loggers: {raft: WARNING, api: error}\n"
    "  max_queue_size: 5000\n";

static void test_full_agent_config_loads_typed_values(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, full_agent), 0);
    const struct cfg *c = fx->cfg;
    assert_null(c->warnings);
    assert_int_equal(c->kind, CFG_AGENT);
    assert_string_equal(c->path, "regent.yml");
    assert_string_equal(c->scope, "pgcluster");
    assert_string_equal(c->name, "node1");
    assert_string_equal(c->namespace, "/regent");
    assert_string_equal(c->restapi.listen, "0.0.0.0:8008");
    assert_string_equal(c->restapi.connect_address, "node1.example.com:8008");
    assert_string_equal(c->restapi.authentication.username, "admin");
    assert_string_equal(c->restapi.authentication.password, "rest-secret");
    assert_string_equal(c->restapi.certfile, "/etc/regent/cert.pem");
    assert_string_equal(c->restapi.keyfile, "/etc/regent/key.pem");
    assert_string_equal(c->restapi.cafile, "/etc/regent/ca.pem");
    assert_string_equal(c->restapi.verify_client, "required");
    assert_int_equal(c->restapi.n_allowlist, 2);
    assert_string_equal(c->restapi.allowlist[0], "10.0.0.0/24");
    assert_string_equal(c->restapi.allowlist[1], "127.0.0.1");
    assert_true(c->restapi.allowlist_include_members);

    assert_string_equal(c->raft.data_dir, "/var/lib/regent/raft");
    assert_string_equal(c->raft.self_addr, "10.0.0.1:2222");
    assert_string_equal(c->raft.bind_addr, "0.0.0.0:2222");
    assert_int_equal(c->raft.n_partner_addrs, 2);
    assert_string_equal(c->raft.partner_addrs[0], "10.0.0.2:2222");
    assert_string_equal(c->raft.partner_addrs[1], "10.0.0.3:2222");
    assert_string_equal(c->raft.password, "cluster-secret");
    assert_int_equal(c->raft.election_timeout, 600);
    assert_int_equal(c->raft.heartbeat_interval, 60);
    assert_int_equal(c->raft.voters, 5);
    assert_int_equal(c->raft.segment_size, 1048576);
    assert_int_equal(c->raft.snapshot_threshold, 64);
    assert_int_equal(c->raft.snapshot_trailing, 32);

    assert_int_equal(c->lease.ttl, 3000);
    assert_int_equal(c->lease.loop_wait, 1000);
    assert_int_equal(c->lease.retry_timeout, 750);
    assert_int_equal(c->lease.renew_interval, 200);
    assert_int_equal(c->lease.safety_margin, 500);
    assert_int_equal(c->lease.fence_budget, 50);
    assert_int_equal(c->lease.maximum_lag_on_failover, 2097152);

    /* bootstrap.dcs kept whole, YAML scalars turned into JSON types */
    const cJSON *dcs = c->bootstrap_dcs;
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(dcs, "synchronous_mode")));
    assert_int_equal(cJSON_GetObjectItem(dcs, "ttl")->valuedouble, 3);
    const cJSON *params = cJSON_GetObjectItem(cJSON_GetObjectItem(dcs, "postgresql"), "parameters");
    assert_int_equal(cJSON_GetObjectItem(params, "max_connections")->valuedouble, 200);
    assert_string_equal(cJSON_GetObjectItem(params, "work_mem")->valuestring, "4MB");
    assert_true(cJSON_IsArray(c->bootstrap_initdb));
    assert_int_equal(cJSON_GetArraySize(c->bootstrap_initdb), 2);
    assert_string_equal(cJSON_GetArrayItem(c->bootstrap_initdb, 1)->valuestring, "data-checksums");
    assert_int_equal(cJSON_GetArraySize(c->bootstrap_pg_hba), 1);

    assert_string_equal(c->postgresql.listen, "0.0.0.0:5432");
    assert_string_equal(c->postgresql.connect_address, "10.0.0.1:5432");
    assert_string_equal(c->postgresql.data_dir, "/var/lib/postgresql/15/main");
    assert_string_equal(c->postgresql.bin_dir, "/usr/lib/postgresql/15/bin");
    assert_string_equal(c->postgresql.pgpass, "/tmp/pgpass");
    const cJSON *su =
        cJSON_GetObjectItem(cJSON_GetObjectItem(c->postgresql.raw, "authentication"), "superuser");
    assert_string_equal(cJSON_GetObjectItem(su, "password")->valuestring, "super-secret");

    assert_string_equal(c->watchdog.mode, "required");
    assert_string_equal(c->watchdog.device, "/dev/watchdog1");
    assert_int_equal(c->watchdog.timeout, 2000);

    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c->tags, "nofailover")));
    assert_int_equal(cJSON_GetObjectItem(c->tags, "failover_priority")->valuedouble, 2);
    assert_string_equal(cJSON_GetObjectItem(c->tags, "zone")->valuestring, "eu-1");
    assert_non_null(cJSON_GetObjectItem(c->ctl, "authentication"));

    assert_int_equal(c->log.level, RG_DEBUG);
    assert_string_equal(c->log.dir, "/var/log/regent");
    assert_int_equal(c->log.file_size, 1000000);
    assert_int_equal(c->log.file_num, 7);
    assert_int_equal(c->log.max_queue_size, 5000);
    assert_int_equal(c->log.n_modules, 2);
    assert_string_equal(c->log.modules[0].module, "raft");
    assert_int_equal(c->log.modules[0].level, RG_WARNING);
    assert_string_equal(c->log.modules[1].module, "api");
    assert_int_equal(c->log.modules[1].level, RG_ERROR);
}

static void test_defaults_applied_when_keys_are_missing(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL), 0);
    const struct cfg *c = fx->cfg;
    assert_null(c->warnings);
    assert_string_equal(c->namespace, "/service");
    assert_string_equal(c->restapi.connect_address, "127.0.0.1:8008");
    assert_null(c->restapi.authentication.username);
    assert_null(c->restapi.authentication.password);
    assert_string_equal(c->restapi.verify_client, "none");
    assert_int_equal(c->restapi.n_allowlist, 0);
    assert_false(c->restapi.allowlist_include_members);
    assert_string_equal(c->raft.bind_addr, "127.0.0.1:2222");
    assert_int_equal(c->raft.n_partner_addrs, 0);
    assert_int_equal(c->raft.election_timeout, 500);
    assert_int_equal(c->raft.heartbeat_interval, 50);
    assert_int_equal(c->raft.voters, 3);
    assert_false(c->raft.allow_public_addr);
    assert_int_equal(c->raft.segment_size, 0);
    assert_int_equal(c->raft.snapshot_threshold, 1024);
    assert_int_equal(c->raft.snapshot_trailing, 512);
    assert_int_equal(c->lease.ttl, 2500);
    assert_int_equal(c->lease.loop_wait, 1000);
    assert_int_equal(c->lease.retry_timeout, 500);
    assert_int_equal(c->lease.renew_interval, 250);
    assert_int_equal(c->lease.safety_margin, 400);
    assert_int_equal(c->lease.fence_budget, 50);
    assert_int_equal(c->lease.maximum_lag_on_failover, 1048576);
    assert_string_equal(c->watchdog.mode, "automatic");
    assert_string_equal(c->watchdog.device, "/dev/watchdog");
    assert_int_equal(c->watchdog.timeout, 2000);
    assert_int_equal(c->log.level, RG_INFO);
    assert_null(c->log.dir);
    assert_int_equal(c->log.file_size, 25000000);
    assert_int_equal(c->log.file_num, 4);
    assert_int_equal(c->log.n_modules, 0);
    assert_int_equal(c->log.max_queue_size, 1000);
    assert_string_equal(c->postgresql.data_dir, "/var/lib/postgresql/15/main");
    assert_true(cJSON_IsObject(c->postgresql.raw));
    assert_true(cJSON_IsObject(c->tags));
    assert_int_equal(cJSON_GetArraySize(c->tags), 0);
    assert_null(c->ctl);
    assert_null(c->bootstrap_initdb);
    assert_null(c->bootstrap_pg_hba);
    /* bootstrap.dcs carries the effective lease settings, in seconds */
    assert_true(cJSON_GetObjectItem(c->bootstrap_dcs, "ttl")->valuedouble == 2.5);
    assert_true(cJSON_GetObjectItem(c->bootstrap_dcs, "retry_timeout")->valuedouble == 0.5);
}

static void test_ttl_default_is_3s_with_required_watchdog(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL "watchdog:\n  mode: required\n"), 0);
    assert_int_equal(fx->cfg->lease.ttl, 3000);
    assert_int_equal(load(fx, MINIMAL "watchdog:\n  mode: 'off'\n"), 0);
    assert_string_equal(fx->cfg->watchdog.mode, "off");
    assert_int_equal(fx->cfg->lease.ttl, 2500);
}

/* watchdog.driver: linux by default; testing selects the test driver
 * (agent/watchdog.h); nothing else. */
static void test_watchdog_driver(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL), 0);
    assert_string_equal(fx->cfg->watchdog.driver, "linux");
    assert_int_equal(load(fx, MINIMAL "watchdog:\n  driver: testing\n  device: /tmp/wd.events\n"),
                     0);
    assert_string_equal(fx->cfg->watchdog.driver, "testing");
    assert_string_equal(fx->cfg->watchdog.device, "/tmp/wd.events");
    assert_int_not_equal(load(fx, MINIMAL "watchdog:\n  driver: softdog\n"), 0);
}

static void test_durations_accept_decimal_seconds(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL "bootstrap:\n  dcs:\n    ttl: 2.75\n    loop_wait: .5\n"), 0);
    assert_int_equal(fx->cfg->lease.ttl, 2750);
    assert_int_equal(fx->cfg->lease.loop_wait, 500);
}

static void test_witness_config_loads(void **state)
{
    struct fx *fx = *state;
    const char *yaml = "scope: demo\n"
                       "name: witness1\n"
                       "restapi:\n"
                       "  listen: 10.0.0.9:8008\n"
                       "raft:\n"
                       "  data_dir: /var/lib/regent-witness\n"
                       "  self_addr: 10.0.0.9:2222\n"
                       "  partner_addrs: 10.0.0.1:2222, 10.0.0.2:2222\n"
                       "  password: s3cret-pass\n"
                       "log:\n"
                       "  level: WARNING\n";
    assert_int_equal(load_kind(fx, yaml, CFG_WITNESS, CFG_NO_ENV), 0);
    const struct cfg *c = fx->cfg;
    assert_null(c->warnings);
    assert_int_equal(c->kind, CFG_WITNESS);
    assert_string_equal(c->name, "witness1");
    assert_int_equal(c->raft.n_partner_addrs, 2);
    assert_string_equal(c->raft.partner_addrs[1], "10.0.0.2:2222");
    assert_int_equal(c->log.level, RG_WARNING);
    assert_string_equal(c->restapi.connect_address, "10.0.0.9:8008");
    assert_null(c->postgresql.raw);
    assert_null(c->bootstrap_dcs);
}

static void test_witness_treats_agent_sections_as_unknown(void **state)
{
    struct fx *fx = *state;
    const char *yaml = MINIMAL_NO_PG "postgresql:\n"    /* line 9 */
                                     "  data_dir: /x\n" /* line 10 */
                                     "watchdog: {mode: required}\n";
    assert_int_equal(load_kind(fx, yaml, CFG_WITNESS, CFG_NO_ENV), 0);
    assert_line(fx->cfg->warnings, "regent.yml:10:3: postgresql.data_dir: unknown key, ignored");
    assert_line(fx->cfg->warnings, "regent.yml:11:12: watchdog.mode: unknown key, ignored");
    assert_int_equal(load_kind(fx, yaml, CFG_WITNESS, CFG_NO_ENV | CFG_STRICT), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:10:3: postgresql.data_dir: unknown key, ignored");
}

static const char patroni_raft_yml[] = "scope: batman\n"
                                       "namespace: /service/\n"
                                       "name: postgresql0\n"
                                       "\n"
                                       "restapi:\n"
                                       "  listen: 127.0.0.1:8008\n"
                                       "  connect_address: 127.0.0.1:8008\n"
                                       "  authentication:\n"
                                       "    username: username\n"
                                       "    password: password\n"
                                       "\n"
                                       "raft:\n"
                                       "  data_dir: /var/lib/patroni/raft\n"
                                       "  self_addr: 127.0.0.1:2222\n"
                                       "  partner_addrs: ['127.0.0.1:2223', '127.0.0.1:2224']\n"
                                       "  password: my-raft-password\n"
                                       "\n"
                                       "bootstrap:\n"
                                       "  dcs:\n"
                                       "    ttl: 30\n"
                                       "    loop_wait: 10\n"
                                       "    retry_timeout: 10\n"
                                       "    maximum_lag_on_failover: 1048576\n"
                                       "    postgresql:\n"
                                       "      use_pg_rewind: true\n"
                                       "      parameters:\n"
                                       "        wal_level: hot_standby\n"
                                       "        hot_standby: \"on\"\n"
                                       "        max_wal_senders: 5\n"
                                       "  initdb:\n"
                                       "  - encoding: UTF8\n"
                                       "  - data-checksums\n"
                                       "  pg_hba:\n"
                                       "  - host replication replicator 127.0.0.1/32 md5\n"
                                       "  - host all all 0.0.0.0/0 md5\n"
                                       "\n"
                                       "postgresql:\n"
                                       "  listen: 127.0.0.1:5432\n"
                                       "  connect_address: 127.0.0.1:5432\n"
                                       "  data_dir: /var/lib/postgresql/data/postgresql0\n"
                                       "  pgpass: /tmp/pgpass0\n"
                                       "  authentication:\n"
                                       "    replication:\n"
                                       "      username: replicator\n"
                                       "      password: rep-pass\n"
                                       "    superuser:\n"
                                       "      username: postgres\n"
                                       "      password: zalando\n"
                                       "  parameters:\n"
                                       "    unix_socket_directories: '..'\n"
                                       "\n"
                                       "log:\n"
                                       "  level: INFO\n"
                                       "  format: '%(asctime)s %(levelname)s: %(message)s'\n"
                                       "  dateformat: '%Y-%m-%d'\n"
                                       "\n"
                                       "tags:\n"
                                       "  nofailover: false\n"
                                       "  noloadbalance: false\n"
                                       "  clonefrom: false\n"
                                       "  nosync: false\n";

static void test_patroni_raft_yml_loads_with_warnings(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, patroni_raft_yml), 0);
    const struct cfg *c = fx->cfg;
    assert_int_equal(count_lines(c->warnings), 2);
    assert_line(c->warnings, "regent.yml:54:3: log.format: Patroni setting not used by regent, "
                             "ignored");
    assert_line(c->warnings, "regent.yml:55:3: log.dateformat: ");
    /* Patroni's slow timing passes: it only means a slow failover. */
    assert_int_equal(c->lease.ttl, 30000);
    assert_int_equal(c->lease.loop_wait, 10000);
    assert_int_equal(c->lease.retry_timeout, 10000);
    assert_int_equal(c->raft.n_partner_addrs, 2);
    assert_string_equal(c->postgresql.data_dir, "/var/lib/postgresql/data/postgresql0");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(c->postgresql.raw, "parameters"),
                                            "unix_socket_directories")
                            ->valuestring,
                        "..");
    /* a quoted "on" stays a string, as in PyYAML */
    const cJSON *params =
        cJSON_GetObjectItem(cJSON_GetObjectItem(c->bootstrap_dcs, "postgresql"), "parameters");
    assert_string_equal(cJSON_GetObjectItem(params, "hot_standby")->valuestring, "on");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c->tags, "nosync")));
}

static void test_patroni_raft_yml_fails_under_strict(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load_kind(fx, patroni_raft_yml, CFG_AGENT, CFG_NO_ENV | CFG_STRICT),
                     RG_ECONFIG);
    assert_int_equal(count_lines(fx->err), 2);
    assert_line(fx->err, "regent.yml:54:3: log.format: Patroni setting not used by regent");
    assert_line(fx->err, "regent.yml:55:3: log.dateformat: ");
}

/* --- unknown keys ------------------------------------------------------ */

static void test_unknown_keys_warn_with_full_path(void **state)
{
    struct fx *fx = *state;
    const char *yaml = MINIMAL_NO_PG                 /* lines 1-8 */
        "  self_adress: 127.0.0.1:2222\n"            /* 9: misspelled raft key */
        "scpoe: typo\n"                              /* 10 */
        "etcd3:\n"                                   /* 11 */
        "  hosts: 10.0.0.1:2379\n"                   /* 12 */
        "  protocol: https\n"                        /* 13 */
        "consul: {host: 'c:8500'}\n"                 /* 14 */
        "citus: 3\n"                                 /* 15 */
        "postgresql: {whatever: 1, data_dir: /pg}\n" /* 16: whatever kept silently */
        "bootstrap: {dcs: {slots: {}}}\n";           /* 17: kept silently */
    assert_int_equal(load(fx, yaml), 0);
    const char *w = fx->cfg->warnings;
    assert_int_equal(count_lines(w), 6);
    assert_line(w, "regent.yml:9:3: raft.self_adress: unknown key, ignored");
    assert_line(w, "regent.yml:10:1: scpoe: unknown key, ignored");
    assert_line(w, "regent.yml:12:3: etcd3.hosts: unknown key, ignored");
    assert_line(w, "regent.yml:13:3: etcd3.protocol: unknown key, ignored");
    assert_line(w, "regent.yml:14:10: consul.host: unknown key, ignored");
    assert_line(w, "regent.yml:15:1: citus: unknown key, ignored");
}

static void test_unknown_keys_are_errors_under_strict(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load_kind(fx,
                               "scope: demo\nname: n1\npostgresql: {data_dir: /pg}\n\n\n"
                               "etcd3:\n  hosts: 10.0.0.1:2379\n"
                               "restapi: {listen: '127.0.0.1:8008'}\n"
                               "raft: {data_dir: /r, self_addr: '127.0.0.1:1', password: "
                               "12345678}\n",
                               CFG_AGENT, CFG_NO_ENV | CFG_STRICT),
                     RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:7:3: etcd3.hosts: unknown key, ignored");
}

/* --- errors ------------------------------------------------------------ */

static void test_wrong_types_are_reported_at_the_value(void **state)
{
    struct fx *fx = *state;
    const char *yaml = MINIMAL         /* 1-8 */
        "  election_timeout: [1]\n"    /* 9 */
        "  heartbeat_interval: fast\n" /* 10 */
        "  partner_addrs: {a: b}\n"    /* 11 */
        "  allow_public_addr: maybe\n" /* 12 */
        "  snapshot_threshold: -5\n"   /* 13 */
        "tags: [a]\n"                  /* 14 */
        "bootstrap:\n"                 /* 15 */
        "  initdb: data-checksums\n"   /* 16 */
        "log:\n"                       /* 17 */
        "  level: LOUD\n"              /* 18 */
        "  loggers: {raft: chatty}\n"  /* 19 */
        "watchdog: automatic\n";       /* 20 */
    assert_int_equal(load(fx, yaml), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:9:21: raft.election_timeout: must be a number of seconds");
    assert_line(fx->err, "regent.yml:10:23: raft.heartbeat_interval: must be a number of seconds "
                         "(decimals allowed, as 2.5)");
    assert_line(fx->err, "regent.yml:11:18: raft.partner_addrs: must be a list");
    assert_line(fx->err, "regent.yml:12:22: raft.allow_public_addr: must be true or false");
    assert_line(fx->err, "regent.yml:13:23: raft.snapshot_threshold: must be a whole number");
    assert_line(fx->err, "regent.yml:14:7: tags: must be a mapping");
    assert_line(fx->err, "regent.yml:16:11: bootstrap.initdb: must be a list");
    assert_line(fx->err, "regent.yml:18:10: log.level: must be one of DEBUG, INFO, WARNING");
    assert_line(fx->err, "regent.yml:19:19: log.loggers.raft: must be a log level");
    assert_line(fx->err, "regent.yml:20:11: watchdog: must be a mapping");
}

static void test_out_of_range_values_give_the_range(void **state)
{
    struct fx *fx = *state;
    const char *yaml = MINIMAL       /* 1-8 */
        "  voters: 4\n"              /* 9 */
        "  election_timeout: 0.05\n" /* 10 */
        "bootstrap:\n"               /* 11 */
        "  dcs:\n"                   /* 12 */
        "    ttl: 5000\n"            /* 13 */
        "log:\n"                     /* 14 */
        "  file_num: 0\n"            /* 15 */
        "restapi:\n"                 /* 16: duplicate section */
        "  verify_client: sometimes\n";
    assert_int_equal(load(fx, yaml), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:9:11: raft.voters: must be 3 or 5");
    assert_line(fx->err,
                "regent.yml:10:21: raft.election_timeout: must be between 0.1 and 60 seconds");
    assert_line(fx->err, "regent.yml:13:10: bootstrap.dcs.ttl: must be between 1 and 3600 seconds");
    assert_line(fx->err, "regent.yml:15:13: log.file_num: must be between 1 and 1000");
    assert_line(fx->err, "regent.yml:16:1: restapi: duplicate key (first at line 3)");
}

static void test_enum_lists_its_choices(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL "watchdog:\n  mode: sometimes\n"), RG_ECONFIG);
    assert_string_equal(fx->err,
                        "regent.yml:10:9: watchdog.mode: must be one of off, automatic, required");
}

static void test_missing_required_keys_point_at_section_or_top(void **state)
{
    struct fx *fx = *state;
    const char *yaml = "name: node1\n"
                       "restapi:\n"
                       "  listen: 127.0.0.1:8008\n"
                       "raft:\n"
                       "  data_dir: /var/lib/regent/raft\n"
                       "  self_addr: 127.0.0.1:2222\n";
    assert_int_equal(load(fx, yaml), RG_ECONFIG);
    assert_int_equal(count_lines(fx->err), 3);
    assert_line(fx->err, "regent.yml:1:1: scope: required");
    assert_line(fx->err, "regent.yml:1:1: postgresql.data_dir: required: the PostgreSQL data "
                         "directory this agent manages");
    assert_line(fx->err, "regent.yml:4:1: raft.password: required: the cluster secret that "
                         "authenticates every Raft connection");
    assert_int_equal(load(fx, "scope: x\nname: y\n"), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:1:1: restapi.listen: required");
    assert_line(fx->err, "regent.yml:1:1: raft.data_dir: required");
    assert_line(fx->err, "regent.yml:1:1: raft.self_addr: required");
}

static void test_bad_names_paths_and_password(void **state)
{
    struct fx *fx = *state;
    const char *yaml = "scope: 'my cluster'\n"
                       "name: 'node/1'\n"
                       "restapi:\n"
                       "  listen: 127.0.0.1:8008\n"
                       "raft:\n"
                       "  data_dir: relative/raft\n"
                       "  self_addr: 127.0.0.1:2222\n"
                       "  password: short\n"
                       "postgresql:\n"
                       "  data_dir: data\n";
    assert_int_equal(load(fx, yaml), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:1:8: scope: \"my cluster\" may contain only letters, "
                         "digits, '.', '_' and '-'");
    assert_line(fx->err, "regent.yml:2:7: name: ");
    assert_line(fx->err, "regent.yml:6:13: raft.data_dir: must be an absolute path");
    assert_line(fx->err, "regent.yml:8:13: raft.password: must be at least 8 characters: it is "
                         "the cluster secret that authenticates every Raft connection");
    assert_line(fx->err, "regent.yml:10:13: postgresql.data_dir: must be an absolute path");

    char longname[100];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    char buf[512];
    snprintf(buf, sizeof buf, "%sname: %s\n", MINIMAL, longname);
    assert_int_equal(load(fx, buf), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:9:1: name: duplicate key");
    snprintf(buf, sizeof buf, "%s", MINIMAL);
    memcpy(strstr(buf, "name: node1"), "name: n@de1", 11);
    assert_int_equal(load(fx, buf), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:2:7: name: \"n@de1\" may contain only");
}

static void test_name_longer_than_63_is_refused(void **state)
{
    struct fx *fx = *state;
    char buf[1024];
    char longname[65];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    snprintf(buf, sizeof buf,
             "scope: demo\nname: %s\nrestapi: {listen: '127.0.0.1:8008'}\n"
             "raft: {data_dir: /r, self_addr: '127.0.0.1:1', password: 12345678}\n"
             "postgresql: {data_dir: /pg}\n",
             longname);
    assert_int_equal(load(fx, buf), RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:2:7: name: must be 1 to 63 characters long");
}

static void test_malformed_addresses_are_refused(void **state)
{
    struct fx *fx = *state;
    const char *yaml = "scope: demo\n"
                       "name: node1\n"
                       "restapi:\n"
                       "  listen: localhost:8008\n"
                       "raft:\n"
                       "  data_dir: /var/lib/regent/raft\n"
                       "  self_addr: localhost:2222\n"
                       "  bind_addr: 10.0.0.1\n"
                       "  partner_addrs: ['[::1]:2222', 10.0.0.256:2222, 10.0.0.2:0]\n"
                       "  password: s3cret-pass\n"
                       "postgresql:\n"
                       "  listen: 5432\n"
                       "  connect_address: '*:5432'\n";
    assert_int_equal(load(fx, yaml), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:4:11: restapi.listen: \"localhost:8008\" must be HOST:PORT");
    assert_line(fx->err, "regent.yml:7:14: raft.self_addr: \"localhost:2222\" must be an IPv4 "
                         "address and port (a.b.c.d:port); host names and IPv6 are not supported "
                         "for raft addresses");
    assert_line(fx->err, "regent.yml:8:14: raft.bind_addr: \"10.0.0.1\" must be an IPv4");
    assert_line(fx->err, "regent.yml:9:18: raft.partner_addrs: \"[::1]:2222\" must be an IPv4");
    assert_line(fx->err, "regent.yml:9:18: raft.partner_addrs: \"10.0.0.256:2222\" must be");
    assert_line(fx->err, "regent.yml:9:18: raft.partner_addrs: \"10.0.0.2:0\" must be");
    assert_line(fx->err, "regent.yml:12:11: postgresql.listen: \"5432\" must be ADDRESS");
    assert_line(fx->err, "regent.yml:13:20: postgresql.connect_address: \"*:5432\": a wildcard");
}

static void test_restapi_listen_forms(void **state)
{
    struct fx *fx = *state;
    static const char *const good[] = {"*:8008",     ":8008",        "[::]:8008",
                                       "[::1]:8008", "0.0.0.0:8008", "10.1.2.3:65535"};
    static const char *const bad[] = {"8008", "[::1:8008", "10.0.0.1:65536", "host:8008",
                                      "10.0.0.1:0"};
    char buf[1024];
    for (size_t i = 0; i < RG_ARRAY_SIZE(good); i++) {
        snprintf(buf, sizeof buf, "%srestapi: {listen: '%s', connect_address: 'node1:8008'}\n",
                 "scope: demo\nname: n1\nraft: {data_dir: /r, self_addr: '127.0.0.1:1', "
                 "password: 12345678}\n",
                 good[i]);
        strcat(buf, "postgresql: {data_dir: /pg}\n");
        if (load(fx, buf) != 0) {
            fail_msg("%s: %s", good[i], fx->err);
        }
    }
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        snprintf(buf, sizeof buf, "%srestapi: {listen: '%s', connect_address: 'node1:8008'}\n",
                 "scope: demo\nname: n1\nraft: {data_dir: /r, self_addr: '127.0.0.1:1', "
                 "password: 12345678}\n",
                 bad[i]);
        assert_int_equal(load(fx, buf), RG_ECONFIG);
        assert_line(fx->err, "regent.yml:4:19: restapi.listen: ");
    }
}

static void test_connect_address_required_for_wildcard_listen(void **state)
{
    struct fx *fx = *state;
    const char *yaml = "scope: demo\n"
                       "name: node1\n"
                       "restapi:\n"
                       "  listen: '*:8008'\n"
                       "raft:\n"
                       "  data_dir: /var/lib/regent/raft\n"
                       "  self_addr: 127.0.0.1:2222\n"
                       "  password: s3cret-pass\n"
                       "postgresql: {data_dir: /pg}\n";
    assert_int_equal(load(fx, yaml), RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:3:1: restapi.connect_address: required because "
                                 "restapi.listen (\"*:8008\") listens on every address: give the "
                                 "host:port other members and clients use to reach this node");
}

static void test_public_self_addr_needs_opt_in(void **state)
{
    struct fx *fx = *state;
    const char *yaml = "scope: demo\n"
                       "name: node1\n"
                       "restapi: {listen: '127.0.0.1:8008'}\n"
                       "postgresql: {data_dir: /pg}\n"
                       "raft:\n"
                       "  data_dir: /var/lib/regent/raft\n"
                       "  self_addr: 8.8.8.8:2222\n"
                       "  password: s3cret-pass\n";
    assert_int_equal(load(fx, yaml), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:7:14: raft.self_addr: \"8.8.8.8:2222\" is not a private "
                         "address");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s  allow_public_addr: true\n", yaml);
    assert_int_equal(load(fx, buf), 0);
    static const char *const private[] = {"10.1.1.1",    "172.16.0.1",  "172.31.255.1",
                                          "192.168.1.1", "169.254.1.1", "127.0.0.2"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(private); i++) {
        snprintf(buf, sizeof buf,
                 "scope: d\nname: n\nrestapi: {listen: '127.0.0.1:8008'}\n"
                 "postgresql: {data_dir: /pg}\n"
                 "raft: {data_dir: /r, self_addr: '%s:2222', password: 12345678}\n",
                 private[i]);
        if (load(fx, buf) != 0) {
            fail_msg("%s: %s", private[i], fx -> err);
        }
    }
    snprintf(buf, sizeof buf,
             "scope: d\nname: n\nrestapi: {listen: '127.0.0.1:8008'}\n"
             "raft: {data_dir: /r, self_addr: '172.32.0.1:2222', password: 12345678}\n");
    assert_int_equal(load(fx, buf), RG_ECONFIG);
}

static void test_self_addr_and_duplicates_removed_from_partners(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL "  partner_addrs: [127.0.0.1:2223, 127.0.0.1:2222, "
                                      "127.0.0.1:2224, 127.0.0.1:2223]\n"),
                     0);
    assert_int_equal(fx->cfg->raft.n_partner_addrs, 2);
    assert_string_equal(fx->cfg->raft.partner_addrs[0], "127.0.0.1:2223");
    assert_string_equal(fx->cfg->raft.partner_addrs[1], "127.0.0.1:2224");
    assert_int_equal(load(fx, MINIMAL "  partner_addrs: 127.0.0.1:2222,127.0.0.1:2225\n"), 0);
    assert_int_equal(fx->cfg->raft.n_partner_addrs, 1);
    assert_string_equal(fx->cfg->raft.partner_addrs[0], "127.0.0.1:2225");
}

static void test_yaml_syntax_error_has_position(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, "scope: x\n  name: bad indent\n"), RG_ECONFIG);
    assert_string_equal(fx->err,
                        "regent.yml:2:7: YAML syntax error: mapping values are not allowed in "
                        "this context");
    assert_int_equal(load(fx, "scope: x\nname: [unclosed\n"), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:3:1: YAML syntax error: did not find expected ',' or ']' "
                         "(while parsing a flow sequence at line 2, column 7)");
}

static void test_empty_and_non_mapping_documents(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, ""), RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:1:1: empty configuration: expected a mapping of "
                                 "keys (scope, name, restapi, raft, ...)");
    assert_int_equal(load(fx, "# only a comment\n\n"), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:1:1: empty configuration");
    assert_int_equal(load(fx, "\n- a\n- b\n"), RG_ECONFIG);
    assert_string_equal(fx->err,
                        "regent.yml:2:1: the top level must be a mapping of keys, not a list");
    assert_int_equal(load(fx, "just text\n"), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:1:1: the top level must be a mapping of keys, not a single");
    assert_int_equal(load(fx, MINIMAL "---\nscope: other\n"), RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:9:1: only one YAML document is allowed");
}

static void test_duplicate_keys_are_errors(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL_NO_PG "  password: again-and-again\n"
                                            "tags: {a: 1, a: 2}\n"
                                            "postgresql:\n"
                                            "  data_dir: /pg\n"
                                            "  parameters:\n"
                                            "    work_mem: 1MB\n"
                                            "    work_mem: 2MB\n"
                                            "  callbacks: {on_start: /a, on_start: /b}\n"),
                     RG_ECONFIG);
    assert_line(fx->err, "regent.yml:9:3: raft.password: duplicate key (first at line 8)");
    assert_line(fx->err, "regent.yml:10:14: tags.a: duplicate key (first at line 10)");
    assert_line(fx->err,
                "regent.yml:15:5: postgresql.parameters.work_mem: duplicate key (first at line "
                "14)");
    assert_line(fx->err,
                "regent.yml:16:29: postgresql.callbacks.on_start: duplicate key (first at line "
                "16)");
    /* found by both the raw copy and the typed walk, reported once */
    assert_int_equal(count_lines(fx->err), 4);
}

static void test_non_string_keys_are_errors(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL "? [a, b]\n: c\n"), RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:9:3: mapping keys must be strings");
}

static void test_alias_bomb_is_refused_quickly(void **state)
{
    struct fx *fx = *state;
    /* 10 levels of 10 aliases: 10^10 nodes when expanded. */
    char buf[4096] = MINIMAL "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; i++) {
        char line[128];
        snprintf(line, sizeof line,
                 "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
                 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
        strcat(buf, line);
    }
    strcat(buf, "tags: {bomb: *a9}\n");
    assert_int_equal(load(fx, buf), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:");
    assert_non_null(strstr(fx->err, "document too large, too deeply nested or too many aliases"));
    /* A self-referencing alias (a cycle) is cut by the depth limit. */
    assert_int_equal(load(fx, MINIMAL "tags: &t {self: *t}\n"), RG_ECONFIG);
    assert_non_null(strstr(fx->err, "too deeply nested"));
}

static void test_files_missing_unreadable_and_valid(void **state)
{
    struct fx *fx = *state;
    char dir[] = "/tmp/test_cfg.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];

    snprintf(path, sizeof path, "%s/missing.yml", dir);
    assert_int_equal(cfg_load(path, CFG_AGENT, CFG_NO_ENV, &fx->cfg, fx->err, sizeof fx->err),
                     RG_EIO);
    assert_null(fx->cfg);
    char want[512];
    snprintf(want, sizeof want, "could not open \"%s\": No such file or directory", path);
    assert_string_equal(fx->err, want);

    /* A directory cannot be read as a file (root can read a mode 000 file). */
    assert_int_equal(cfg_load(dir, CFG_AGENT, CFG_NO_ENV, &fx->cfg, fx->err, sizeof fx->err),
                     RG_EIO);
    snprintf(want, sizeof want, "could not read \"%s\": Is a directory", dir);
    assert_string_equal(fx->err, want);

    snprintf(path, sizeof path, "%s/regent.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(MINIMAL "log:\n  level: LOUD\n", f);
    fclose(f);
    assert_int_equal(cfg_load(path, CFG_AGENT, CFG_NO_ENV, &fx->cfg, fx->err, sizeof fx->err),
                     RG_ECONFIG);
    snprintf(want, sizeof want, "%s:10:10: log.level: must be one of", path);
    assert_line(fx->err, want);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs(MINIMAL, f);
    fclose(f);
    assert_int_equal(cfg_load(path, CFG_AGENT, CFG_NO_ENV, &fx->cfg, fx->err, sizeof fx->err), 0);
    assert_string_equal(fx->cfg->path, path);

    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    cfg_free(fx->cfg);
    fx->cfg = NULL;
    assert_int_equal(cfg_load(path, CFG_AGENT, CFG_NO_ENV, &fx->cfg, fx->err, sizeof fx->err),
                     RG_ECONFIG);
    snprintf(want, sizeof want, "%s:1:1: empty configuration", path);
    assert_line(fx->err, want);

    unlink(path);
    rmdir(dir);
}

static void test_errors_are_truncated_to_errbuf(void **state)
{
    struct fx *fx = *state;
    char small[16];
    struct cfg *c = NULL;
    assert_int_equal(
        cfg_load_string("x: [", 4, "regent.yml", CFG_AGENT, CFG_NO_ENV, &c, small, sizeof small),
        RG_ECONFIG);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(cfg_load_string("x: [", 4, "regent.yml", CFG_AGENT, CFG_NO_ENV, &c, NULL, 0),
                     RG_ECONFIG);
    (void)fx;
}

/* --- environment --------------------------------------------------------- */

static const char *const env_vars[] = {
    "REGENT_SCOPE",
    "PATRONI_SCOPE",
    "REGENT_NAME",
    "PATRONI_NAME",
    "REGENT_RAFT_SELF_ADDR",
    "PATRONI_RAFT_SELF_ADDR",
    "REGENT_RAFT_PASSWORD",
    "PATRONI_RAFT_PASSWORD",
    "REGENT_RAFT_PARTNER_ADDRS",
    "PATRONI_RAFT_PARTNER_ADDRS",
    "REGENT_RAFT_VOTERS",
    "REGENT_RAFT_ELECTION_TIMEOUT",
    "PATRONI_RESTAPI_USERNAME",
    "PATRONI_RESTAPI_PASSWORD",
    "REGENT_LOG_LEVEL",
    "PATRONI_LOG_LEVEL",
    "REGENT_POSTGRESQL_DATA_DIR",
    "PATRONI_SUPERUSER_PASSWORD",
    "REGENT_BOOTSTRAP_DCS_TTL",
    "PATRONI_RESTAPI_LISTEN",
    "PATRONI_SUPERUSER_USERNAME",
    "PATRONI_SUPERUSER_SSLMODE",
    "PATRONI_REPLICATION_PASSWORD",
    "PATRONI_REPLICATION_SSLMODE",
    "PATRONI_REWIND_USERNAME",
    "REGENT_POSTGRESQL_AUTHENTICATION_REWIND_USERNAME",
    "PATRONI_POSTGRESQL_BIN_PG_CTL",
    "REGENT_POSTGRESQL_BIN_NAME_INITDB",
    "PATRONI_POSTGRESQL_CONFIG_DIR",
    "PATRONI_POSTGRESQL_PROXY_ADDRESS",
    "REGENT_POSTGRESQL_USE_PG_REWIND",
    "REGENT_POSTGRESQL_PG_CTL_TIMEOUT",
    "REGENT_POSTGRESQL_CALLBACKS_ON_START",
    "REGENT_POSTGRESQL_CREATE_REPLICA_METHODS",
};

static int env_teardown(void **state)
{
    for (size_t i = 0; i < RG_ARRAY_SIZE(env_vars); i++) {
        unsetenv(env_vars[i]);
    }
    return teardown(state);
}

static void test_env_overrides_file_values(void **state)
{
    struct fx *fx = *state;
    setenv("REGENT_RAFT_SELF_ADDR", "127.0.0.1:3333", 1);
    setenv("REGENT_RAFT_PARTNER_ADDRS", "127.0.0.1:3334, 127.0.0.1:3335,127.0.0.1:3333", 1);
    setenv("PATRONI_NAME", "from-patroni-env", 1);
    setenv("PATRONI_RESTAPI_USERNAME", "envuser", 1);
    setenv("PATRONI_RESTAPI_PASSWORD", "envpass", 1);
    setenv("REGENT_LOG_LEVEL", "warning", 1);
    setenv("REGENT_POSTGRESQL_DATA_DIR", "/srv/pg", 1);
    setenv("PATRONI_SUPERUSER_PASSWORD", "env-super", 1);
    setenv("REGENT_BOOTSTRAP_DCS_TTL", "4.5", 1);
    assert_int_equal(load_kind(fx, MINIMAL, CFG_AGENT, 0), 0);
    const struct cfg *c = fx->cfg;
    assert_string_equal(c->raft.self_addr, "127.0.0.1:3333");
    assert_string_equal(c->raft.bind_addr, "127.0.0.1:3333");
    assert_int_equal(c->raft.n_partner_addrs, 2);
    assert_string_equal(c->raft.partner_addrs[0], "127.0.0.1:3334");
    assert_string_equal(c->raft.partner_addrs[1], "127.0.0.1:3335");
    assert_string_equal(c->name, "from-patroni-env");
    assert_string_equal(c->restapi.authentication.username, "envuser");
    assert_string_equal(c->restapi.authentication.password, "envpass");
    assert_int_equal(c->log.level, RG_WARNING);
    assert_string_equal(c->postgresql.data_dir, "/srv/pg");
    assert_string_equal(cJSON_GetObjectItem(c->postgresql.raw, "data_dir")->valuestring, "/srv/pg");
    const cJSON *su =
        cJSON_GetObjectItem(cJSON_GetObjectItem(c->postgresql.raw, "authentication"), "superuser");
    assert_string_equal(cJSON_GetObjectItem(su, "password")->valuestring, "env-super");
    assert_int_equal(c->lease.ttl, 4500);

    /* CFG_NO_ENV: the file alone */
    assert_int_equal(load(fx, MINIMAL), 0);
    assert_string_equal(fx->cfg->raft.self_addr, "127.0.0.1:2222");
    assert_string_equal(fx->cfg->name, "node1");
}

static void test_regent_env_wins_over_patroni_env(void **state)
{
    struct fx *fx = *state;
    setenv("PATRONI_SCOPE", "patroni-scope", 1);
    setenv("REGENT_SCOPE", "regent-scope", 1);
    setenv("PATRONI_LOG_LEVEL", "ERROR", 1);
    assert_int_equal(load_kind(fx, MINIMAL, CFG_AGENT, 0), 0);
    assert_string_equal(fx->cfg->scope, "regent-scope");
    assert_int_equal(fx->cfg->log.level, RG_ERROR);
}

static void test_env_supplies_missing_required_keys(void **state)
{
    struct fx *fx = *state;
    setenv("PATRONI_RAFT_PASSWORD", "env-cluster-secret", 1);
    setenv("PATRONI_RESTAPI_LISTEN", "127.0.0.1:8009", 1);
    assert_int_equal(load_kind(fx,
                               "scope: demo\nname: n1\n"
                               "raft: {data_dir: /r, self_addr: '127.0.0.1:1'}\n"
                               "postgresql: {data_dir: /pg}\n",
                               CFG_AGENT, 0),
                     0);
    assert_string_equal(fx->cfg->raft.password, "env-cluster-secret");
    assert_string_equal(fx->cfg->restapi.listen, "127.0.0.1:8009");
}

static void test_bad_env_value_names_the_variable(void **state)
{
    struct fx *fx = *state;
    setenv("REGENT_RAFT_VOTERS", "4", 1);
    setenv("REGENT_RAFT_ELECTION_TIMEOUT", "soon", 1);
    setenv("PATRONI_RAFT_SELF_ADDR", "node1:2222", 1);
    assert_int_equal(load_kind(fx, MINIMAL, CFG_AGENT, 0), RG_ECONFIG);
    assert_line(fx->err, "environment REGENT_RAFT_VOTERS: must be 3 or 5");
    assert_line(fx->err, "environment REGENT_RAFT_ELECTION_TIMEOUT: must be a number of seconds");
    assert_line(fx->err, "environment PATRONI_RAFT_SELF_ADDR: \"node1:2222\" must be an IPv4");
    assert_int_equal(count_lines(fx->err), 3);
}

/* --- timing -------------------------------------------------------------- */

static void test_timing_loop_wait_and_retry_must_fit_in_ttl(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL "bootstrap:\n"
                                      "  dcs:\n"
                                      "    ttl: 20\n"
                                      "    loop_wait: 10\n"
                                      "    retry_timeout: 6\n"),
                     RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:11:10: bootstrap.dcs.ttl: bootstrap.dcs.loop_wait + "
                                 "2 x bootstrap.dcs.retry_timeout (10 + 2 x 6 = 22 s) must not "
                                 "exceed bootstrap.dcs.ttl (20 s)");
    assert_int_equal(load(fx, MINIMAL "bootstrap:\n  dcs: {ttl: 30, loop_wait: 10, "
                                      "retry_timeout: 10}\n"),
                     0);
}

static void test_timing_raft_leader_crash_must_not_fence_primary(void **state)
{
    struct fx *fx = *state;
    /* 2.5 - 0.4 - 0.05 - 0.25 = 1.8 s >= 2 x 0.8 + 3 x 0.05 + 0.03 = 1.78 s: fits */
    assert_int_equal(load(fx, MINIMAL "  election_timeout: 0.8\n"), 0);
    /* 1.8 s < 2 x 0.9 + 0.15 + 0.03 = 1.98 s */
    assert_int_equal(load(fx, MINIMAL "  election_timeout: 0.9\n"), RG_ECONFIG);
    assert_string_equal(fx->err,
                        "regent.yml:9:21: raft.election_timeout: bootstrap.dcs.ttl - "
                        "watchdog.safety_margin - fence budget 0.05 s - raft.renew_interval = 1.8 "
                        "s must be at least 2 x raft.election_timeout + 3 x "
                        "raft.heartbeat_interval + 0.03 s of round trips = 1.98 s, so that a Raft "
                        "leader crash does not fence the primary; raise bootstrap.dcs.ttl or "
                        "lower the Raft timings");
    /* With a required watchdog its timeout caps the time left. */
    assert_int_equal(load(fx, MINIMAL "  renew_interval: 0.9\n"
                                      "bootstrap: {dcs: {ttl: 10}}\n"
                                      "watchdog: {mode: required, timeout: 2}\n"),
                     RG_ECONFIG);
    assert_line(fx->err, "regent.yml:10:24: bootstrap.dcs.ttl: min(watchdog.timeout, "
                         "bootstrap.dcs.ttl - watchdog.safety_margin - fence budget 0.05 s) - "
                         "raft.renew_interval = 1.1 s must be at least");
    assert_int_equal(count_lines(fx->err), 1);
}

static void test_timing_required_watchdog_needs_half_second_slack(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL "bootstrap:\n"
                                      "  dcs:\n"
                                      "    ttl: 2.5\n"
                                      "watchdog:\n"
                                      "  mode: required\n"),
                     RG_ECONFIG);
    assert_string_equal(fx->err,
                        "regent.yml:11:10: bootstrap.dcs.ttl: with watchdog.mode required, "
                        "bootstrap.dcs.ttl - watchdog.safety_margin - watchdog.timeout (0.1 s) "
                        "must be at least 0.5 s: the primary may kick the watchdog only while its "
                        "lease has more than watchdog.timeout left, so renewals need that slack "
                        "to keep it kicked");
    /* automatic mode does not refuse the same timing */
    assert_int_equal(
        load(fx, MINIMAL "bootstrap: {dcs: {ttl: 2.5}}\nwatchdog: {mode: automatic}\n"), 0);
}

static void test_timing_heartbeat_below_half_election(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL "  heartbeat_interval: 0.25\n"), RG_ECONFIG);
    assert_line(fx->err, "regent.yml:9:23: raft.heartbeat_interval: raft.heartbeat_interval "
                         "(0.25 s) must be less than half of raft.election_timeout (0.5 s)");
    assert_int_equal(load(fx, MINIMAL "watchdog: {timeout: 1.5}\n"), RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:9:21: watchdog.timeout: must be a whole number of "
                                 "seconds (the Linux watchdog API)");
}

/* --- postgresql --------------------------------------------------------- */

static const char pg_full[] = MINIMAL_NO_PG /* 1-8 */
    "postgresql:\n"
    "  data_dir: /var/lib/postgresql/15/main\n"
    "  config_dir: /etc/postgresql/15/main\n"
    "  proxy_address: pgbouncer.example.com:6432\n"
    "  bin_name:\n"
    "    pg_ctl: pg_ctl15\n"
    "    pg_isready: /opt/pg/bin/pg_isready\n"
    "  authentication:\n"
    "    superuser: {username: admin, password: su-secret, sslmode: verify-full,\n"
    "                sslrootcert: /etc/ssl/ca.pem}\n"
    "    replication: {username: repl, password: repl-secret, channel_binding: require}\n"
    "    rewind: {username: rewinder, password: rw-secret, sslpassword: key-secret,\n"
    "             gssencmode: disable, sslnegotiation: direct}\n"
    "  callbacks:\n"
    "    on_start: /usr/local/bin/cb.sh\n"
    "    on_role_change: logger -t regent\n"
    "  callbacks_timeout: 5\n"
    "  pg_ctl_timeout: 120\n"
    "  use_pg_rewind: yes\n"
    "  remove_data_directory_on_rewind_failure: true\n"
    "  remove_data_directory_on_diverged_timelines: on\n"
    "  use_unix_socket: true\n"
    "  use_unix_socket_repl: false\n"
    "  parameters: {max_connections: 200, shared_buffers: 1GB}\n"
    "  pg_hba: ['local all all peer', 'host all all 10.0.0.0/8 scram-sha-256']\n"
    "  pg_ident: ['map1 os1 db1']\n"
    "  basebackup: [verbose, {max-rate: 100M}]\n"
    "  rewind: {debug: true}\n"
    "  create_replica_methods: [basebackup]\n"
    "  wal_e: {command: /bin/true}\n"
    "  parameters_primary: {work_mem: 8MB}\n";

static void test_postgresql_typed_keys_load(void **state)
{
    struct fx *fx = *state;
    if (load(fx, pg_full) != 0) {
        fail_msg("%s", fx->err);
    }
    const struct cfg_postgresql *pg = &fx->cfg->postgresql;
    assert_null(fx->cfg->warnings); /* wal_e, parameters_primary: kept silently */
    assert_string_equal(pg->data_dir, "/var/lib/postgresql/15/main");
    assert_string_equal(pg->config_dir, "/etc/postgresql/15/main");
    assert_string_equal(pg->proxy_address, "pgbouncer.example.com:6432");
    assert_null(pg->bin_dir);
    assert_string_equal(pg->bin_name.pg_ctl, "pg_ctl15");
    assert_string_equal(pg->bin_name.pg_isready, "/opt/pg/bin/pg_isready");
    assert_null(pg->bin_name.initdb);
    const struct cfg_pg_auth *a = &pg->authentication;
    assert_string_equal(a->superuser.username, "admin");
    assert_string_equal(a->superuser.password, "su-secret");
    assert_string_equal(a->superuser.sslmode, "verify-full");
    assert_string_equal(a->superuser.sslrootcert, "/etc/ssl/ca.pem");
    assert_string_equal(a->replication.username, "repl");
    assert_string_equal(a->replication.channel_binding, "require");
    assert_string_equal(a->rewind.username, "rewinder");
    assert_string_equal(a->rewind.sslpassword, "key-secret");
    assert_string_equal(a->rewind.gssencmode, "disable");
    assert_string_equal(a->rewind.sslnegotiation, "direct");
    assert_string_equal(pg->callbacks.on_start, "/usr/local/bin/cb.sh");
    assert_string_equal(pg->callbacks.on_role_change, "logger -t regent");
    assert_null(pg->callbacks.on_stop);
    assert_int_equal(pg->callbacks_timeout, 5000);
    assert_int_equal(pg->pg_ctl_timeout, 120000);
    assert_true(pg->use_pg_rewind);
    assert_true(pg->remove_data_directory_on_rewind_failure);
    assert_true(pg->remove_data_directory_on_diverged_timelines);
    assert_true(pg->use_unix_socket);
    assert_false(pg->use_unix_socket_repl);
    assert_int_equal(cJSON_GetObjectItem(pg->parameters, "max_connections")->valuedouble, 200);
    assert_string_equal(cJSON_GetObjectItem(pg->parameters, "shared_buffers")->valuestring, "1GB");
    assert_int_equal(cJSON_GetArraySize(pg->pg_hba), 2);
    assert_string_equal(cJSON_GetArrayItem(pg->pg_hba, 1)->valuestring,
                        "host all all 10.0.0.0/8 scram-sha-256");
    assert_int_equal(cJSON_GetArraySize(pg->pg_ident), 1);
    assert_true(cJSON_IsArray(pg->basebackup));
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(pg->basebackup, 1), "max-rate")->valuestring,
        "100M");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pg->rewind, "debug")));
    assert_int_equal(pg->n_create_replica_methods, 1);
    assert_string_equal(pg->create_replica_methods[0], "basebackup");
    /* raw keeps everything, the unknown keys too, typed values normalised */
    assert_non_null(cJSON_GetObjectItem(pg->raw, "wal_e"));
    assert_non_null(cJSON_GetObjectItem(pg->raw, "parameters_primary"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pg->raw, "use_pg_rewind")));
    assert_int_equal(cJSON_GetObjectItem(pg->raw, "pg_ctl_timeout")->valuedouble, 120);
}

static void test_postgresql_defaults(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL), 0);
    const struct cfg_postgresql *pg = &fx->cfg->postgresql;
    assert_null(pg->bin_dir); /* the programs come from PATH */
    assert_null(pg->config_dir);
    assert_null(pg->proxy_address);
    assert_null(pg->bin_name.pg_ctl);
    assert_string_equal(pg->authentication.superuser.username, "postgres");
    assert_null(pg->authentication.superuser.password);
    assert_string_equal(pg->authentication.replication.username, "replicator");
    assert_null(pg->authentication.rewind.username);
    assert_null(pg->authentication.superuser.sslmode);
    assert_null(pg->callbacks.on_start);
    assert_int_equal(pg->callbacks_timeout, 30000);
    assert_int_equal(pg->pg_ctl_timeout, 60000);
    assert_false(pg->use_pg_rewind);
    assert_false(pg->remove_data_directory_on_rewind_failure);
    assert_false(pg->remove_data_directory_on_diverged_timelines);
    assert_false(pg->use_unix_socket);
    assert_false(pg->use_unix_socket_repl);
    assert_null(pg->parameters);
    assert_null(pg->pg_hba);
    assert_null(pg->pg_ident);
    assert_null(pg->basebackup);
    assert_null(pg->rewind);
    assert_int_equal(pg->n_create_replica_methods, 1);
    assert_string_equal(pg->create_replica_methods[0], "basebackup");
    /* the defaults are in raw too, nested ones included */
    const cJSON *su =
        cJSON_GetObjectItem(cJSON_GetObjectItem(pg->raw, "authentication"), "superuser");
    assert_string_equal(cJSON_GetObjectItem(su, "username")->valuestring, "postgres");
    assert_null(cJSON_GetObjectItem(su, "password"));
    assert_null(cJSON_GetObjectItem(pg->raw, "parameters"));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(pg->raw, "use_pg_rewind")));
}

static void test_postgresql_bad_values_are_reported_at_the_value(void **state)
{
    struct fx *fx = *state;
    const char *yaml = MINIMAL_NO_PG                       /* 1-8 */
        "postgresql:\n"                                    /* 9 */
        "  data_dir: /pg\n"                                /* 10 */
        "  use_pg_rewind: maybe\n"                         /* 11 */
        "  pg_ctl_timeout: soon\n"                         /* 12 */
        "  callbacks_timeout: 0\n"                         /* 13 */
        "  parameters: [a]\n"                              /* 14 */
        "  pg_hba: local all all peer\n"                   /* 15 */
        "  pg_ident: [ok, {a: b}]\n"                       /* 16 */
        "  callbacks:\n"                                   /* 17 */
        "    on_start: scripts/cb.sh\n"                    /* 18 */
        "    on_stop: ''\n"                                /* 19 */
        "  bin_name: {pg_ctl: bin/pg_ctl}\n"               /* 20 */
        "  config_dir: etc/pg\n"                           /* 21 */
        "  proxy_address: '*:6432'\n"                      /* 22 */
        "  create_replica_methods: [wal_e, basebackup]\n"  /* 23 */
        "  basebackup: verbose\n"                          /* 24 */
        "  authentication:\n"                              /* 25 */
        "    superuser: {sslmode: sometimes}\n"            /* 26 */
        "  remove_data_directory_on_rewind_failure: [x]\n" /* 27 */
        "  rewind: 3\n";                                   /* 28 */
    assert_int_equal(load(fx, yaml), RG_ECONFIG);
    const char *e = fx->err;
    assert_line(e, "regent.yml:11:18: postgresql.use_pg_rewind: must be true or false");
    assert_line(e, "regent.yml:12:19: postgresql.pg_ctl_timeout: must be a number of seconds");
    assert_line(e, "regent.yml:13:22: postgresql.callbacks_timeout: must be between 1 and 3600 "
                   "seconds");
    assert_line(e, "regent.yml:14:15: postgresql.parameters: must be a mapping");
    assert_line(e, "regent.yml:15:11: postgresql.pg_hba: must be a list");
    assert_line(e, "regent.yml:16:13: postgresql.pg_ident: must be a list of strings (one line "
                   "each); item 2 is not");
    assert_line(e, "regent.yml:18:15: postgresql.callbacks.on_start: \"scripts/cb.sh\" is a "
                   "relative path: give an absolute path or a program name found in PATH");
    assert_line(e, "regent.yml:19:14: postgresql.callbacks.on_stop: must be a command");
    assert_line(e, "regent.yml:20:22: postgresql.bin_name.pg_ctl: \"bin/pg_ctl\" must be a "
                   "program name");
    assert_line(e, "regent.yml:21:15: postgresql.config_dir: must be an absolute path");
    assert_line(e, "regent.yml:22:18: postgresql.proxy_address: \"*:6432\": a wildcard");
    assert_line(e, "regent.yml:23:27: postgresql.create_replica_methods: \"wal_e\" is not "
                   "supported: regent creates replicas only with basebackup (pg_basebackup)");
    assert_line(e, "regent.yml:24:15: postgresql.basebackup: must be a mapping or a list of "
                   "options");
    assert_line(e, "regent.yml:26:26: postgresql.authentication.superuser.sslmode: must be one "
                   "of disable, allow, prefer, require, verify-ca, verify-full");
    assert_line(e, "regent.yml:27:44: postgresql.remove_data_directory_on_rewind_failure: must "
                   "be true or false");
    assert_line(e, "regent.yml:28:11: postgresql.rewind: must be a mapping or a list");
    assert_int_equal(count_lines(e), 16);

    /* A section that is not a mapping. */
    assert_int_equal(load(fx, MINIMAL_NO_PG "postgresql:\n  data_dir: /pg\n  callbacks: x\n"),
                     RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:11:14: postgresql.callbacks: must be a mapping");
}

static void test_postgresql_patroni_keys_regent_does_not_use_warn(void **state)
{
    struct fx *fx = *state;
    const char *yaml = MINIMAL_NO_PG                       /* 1-8 */
        "postgresql:\n"                                    /* 9 */
        "  data_dir: /pg\n"                                /* 10 */
        "  pre_promote: /bin/true\n"                       /* 11 */
        "  before_stop: /bin/true\n"                       /* 12 */
        "  recovery_conf: {restore_command: 'cp %f %p'}\n" /* 13 */
        "  custom_conf: /etc/postgresql/custom.conf\n"     /* 14 */
        "  bin_name: {pg_isready: pg_isready}\n"           /* 15: used */
        "  callbacks: {on_whatever: /x}\n"                 /* 16: kept */
        "  authentication: {superuser: {sslfoo: 1}}\n"     /* 17: kept */
        "  wal_g: {command: wal-g}\n";                     /* 18: kept */
    assert_int_equal(load(fx, yaml), 0);
    const char *w = fx->cfg->warnings;
    assert_int_equal(count_lines(w), 4);
    assert_line(w, "regent.yml:11:3: postgresql.pre_promote: Patroni setting not used by regent, "
                   "ignored");
    assert_line(w, "regent.yml:12:3: postgresql.before_stop: Patroni setting not used by regent");
    assert_line(w, "regent.yml:13:3: postgresql.recovery_conf: Patroni setting not used");
    assert_line(w, "regent.yml:14:3: postgresql.custom_conf: Patroni setting not used");
    assert_string_equal(fx->cfg->postgresql.bin_name.pg_isready, "pg_isready");
    assert_non_null(cJSON_GetObjectItem(fx->cfg->postgresql.raw, "pre_promote"));
    assert_int_equal(load_kind(fx, yaml, CFG_AGENT, CFG_NO_ENV | CFG_STRICT), RG_ECONFIG);
    assert_int_equal(count_lines(fx->err), 4);
    assert_line(fx->err, "regent.yml:11:3: postgresql.pre_promote: Patroni setting not used");
}

static void test_postgresql_data_dir_required_for_agent_only(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, MINIMAL_NO_PG), RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:1:1: postgresql.data_dir: required: the PostgreSQL "
                                 "data directory this agent manages");
    assert_int_equal(load(fx, MINIMAL_NO_PG "postgresql: {listen: '*:5432'}\n"), RG_ECONFIG);
    assert_string_equal(fx->err, "regent.yml:9:1: postgresql.data_dir: required: the PostgreSQL "
                                 "data directory this agent manages");
    assert_int_equal(load_kind(fx, MINIMAL_NO_PG, CFG_WITNESS, CFG_NO_ENV), 0);
}

static void test_postgresql_env_overrides(void **state)
{
    struct fx *fx = *state;
    setenv("PATRONI_SUPERUSER_USERNAME", "envsu", 1);
    setenv("PATRONI_REPLICATION_PASSWORD", "env-repl-secret", 1);
    setenv("PATRONI_REWIND_USERNAME", "patroni-rw", 1);
    setenv("REGENT_POSTGRESQL_AUTHENTICATION_REWIND_USERNAME", "regent-rw", 1);
    setenv("PATRONI_REPLICATION_SSLMODE", "require", 1);
    setenv("PATRONI_POSTGRESQL_BIN_PG_CTL", "/opt/pg/bin/pg_ctl", 1);
    setenv("REGENT_POSTGRESQL_BIN_NAME_INITDB", "initdb15", 1);
    setenv("PATRONI_POSTGRESQL_CONFIG_DIR", "/etc/pgconf", 1);
    setenv("PATRONI_POSTGRESQL_PROXY_ADDRESS", "proxy.example.com:6432", 1);
    setenv("REGENT_POSTGRESQL_USE_PG_REWIND", "true", 1);
    setenv("REGENT_POSTGRESQL_PG_CTL_TIMEOUT", "90", 1);
    setenv("REGENT_POSTGRESQL_CALLBACKS_ON_START", "/bin/cb start", 1);
    assert_int_equal(load_kind(fx, MINIMAL, CFG_AGENT, 0), 0);
    const struct cfg_postgresql *pg = &fx->cfg->postgresql;
    assert_string_equal(pg->authentication.superuser.username, "envsu");
    assert_string_equal(pg->authentication.replication.username, "replicator");
    assert_string_equal(pg->authentication.replication.password, "env-repl-secret");
    assert_string_equal(pg->authentication.replication.sslmode, "require");
    assert_string_equal(pg->authentication.rewind.username, "regent-rw"); /* REGENT_ wins */
    assert_string_equal(pg->bin_name.pg_ctl, "/opt/pg/bin/pg_ctl");
    assert_string_equal(pg->bin_name.initdb, "initdb15");
    assert_string_equal(pg->config_dir, "/etc/pgconf");
    assert_string_equal(pg->proxy_address, "proxy.example.com:6432");
    assert_true(pg->use_pg_rewind);
    assert_int_equal(pg->pg_ctl_timeout, 90000);
    assert_string_equal(pg->callbacks.on_start, "/bin/cb start");
    /* raw carries them, the password in clear (cfg_to_json masks it) */
    const cJSON *auth = cJSON_GetObjectItem(pg->raw, "authentication");
    const cJSON *rep = cJSON_GetObjectItem(auth, "replication");
    assert_string_equal(cJSON_GetObjectItem(rep, "password")->valuestring, "env-repl-secret");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(auth, "superuser"), "username")->valuestring,
        "envsu");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(pg->raw, "bin_name"), "pg_ctl")->valuestring,
        "/opt/pg/bin/pg_ctl");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pg->raw, "use_pg_rewind")));
    cJSON *j = cfg_to_json(fx->cfg);
    char *text = cJSON_PrintUnformatted(j);
    assert_null(strstr(text, "env-repl-secret"));
    cJSON_free(text);
    cJSON_Delete(j);
}

static void test_postgresql_bad_env_values_name_the_variable(void **state)
{
    struct fx *fx = *state;
    setenv("REGENT_POSTGRESQL_USE_PG_REWIND", "maybe", 1);
    setenv("PATRONI_SUPERUSER_SSLMODE", "sometimes", 1);
    setenv("REGENT_POSTGRESQL_CREATE_REPLICA_METHODS", "wal_e,basebackup", 1);
    setenv("PATRONI_POSTGRESQL_CONFIG_DIR", "relative", 1);
    assert_int_equal(load_kind(fx, MINIMAL, CFG_AGENT, 0), RG_ECONFIG);
    assert_line(fx->err, "environment REGENT_POSTGRESQL_USE_PG_REWIND: must be true or false");
    assert_line(fx->err, "environment PATRONI_SUPERUSER_SSLMODE: must be one of disable, allow");
    assert_line(fx->err, "environment REGENT_POSTGRESQL_CREATE_REPLICA_METHODS: \"wal_e\" is not "
                         "supported");
    assert_line(fx->err, "environment PATRONI_POSTGRESQL_CONFIG_DIR: must be an absolute path");
    assert_int_equal(count_lines(fx->err), 4);
}

static void test_postgresql_to_json_masks_passwords(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, pg_full), 0);
    cJSON *j = cfg_to_json(fx->cfg);
    char *text = cJSON_PrintUnformatted(j);
    static const char *const secrets[] = {"su-secret", "repl-secret", "rw-secret", "key-secret"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(secrets); i++) {
        if (strstr(text, secrets[i]) != NULL) {
            fail_msg("%s printed in %s", secrets[i], text);
        }
    }
    const cJSON *auth = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "postgresql"), "authentication");
    const cJSON *su = cJSON_GetObjectItem(auth, "superuser");
    assert_string_equal(cJSON_GetObjectItem(su, "password")->valuestring, "******");
    assert_string_equal(cJSON_GetObjectItem(su, "username")->valuestring, "admin");
    assert_string_equal(cJSON_GetObjectItem(su, "sslmode")->valuestring, "verify-full");
    const cJSON *rw = cJSON_GetObjectItem(auth, "rewind");
    assert_string_equal(cJSON_GetObjectItem(rw, "password")->valuestring, "******");
    assert_string_equal(cJSON_GetObjectItem(rw, "sslpassword")->valuestring, "******");
    const cJSON *pg = cJSON_GetObjectItem(j, "postgresql");
    assert_true(cJSON_GetObjectItem(pg, "pg_ctl_timeout")->valuedouble == 120);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pg, "use_unix_socket")));
    assert_non_null(cJSON_GetObjectItem(pg, "wal_e")); /* raw keys printed too */
    /* the struct and raw keep the secrets */
    assert_string_equal(fx->cfg->postgresql.authentication.superuser.password, "su-secret");
    cJSON_free(text);
    cJSON_Delete(j);
}

/* Replace the first @from in @buf (of @len bytes) by @to. */
static void replace_in(char *buf, size_t len, const char *from, const char *to)
{
    char *at = strstr(buf, from);
    assert_non_null(at);
    size_t fl = strlen(from), tl = strlen(to), rest = strlen(at + fl);
    assert_true((size_t)(at - buf) + tl + rest < len);
    memmove(at + tl, at + fl, rest + 1);
    memcpy(at, to, tl);
}

static void test_postgresql_reloadable_keys(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, pg_full), 0);
    char buf[4096];
    char changed[512];
    struct cfg *b = NULL;

    /* callbacks, parameters, pg_hba, authentication, flags: a reload applies them */
    snprintf(buf, sizeof buf, "%s", pg_full);
    replace_in(buf, sizeof buf, "/usr/local/bin/cb.sh", "/usr/local/bin/other.sh");
    replace_in(buf, sizeof buf, "max_connections: 200", "max_connections: 300");
    replace_in(buf, sizeof buf, "'local all all peer'", "'local all all trust'");
    replace_in(buf, sizeof buf, "su-secret", "new-secret");
    replace_in(buf, sizeof buf, "use_pg_rewind: yes", "use_pg_rewind: no");
    replace_in(buf, sizeof buf, "pg_ctl_timeout: 120", "pg_ctl_timeout: 30");
    assert_int_equal(cfg_load_string(buf, strlen(buf), "regent.yml", CFG_AGENT,
                                     CFG_NO_ENV | CFG_QUIET, &b, fx->err, sizeof fx->err),
                     0);
    assert_int_equal(cfg_fixed_changes(fx->cfg, b, changed, sizeof changed), 0);
    cfg_free(b);

    /* paths need a restart */
    snprintf(buf, sizeof buf, "%s", pg_full);
    replace_in(buf, sizeof buf, "pg_ctl: pg_ctl15", "pg_ctl: pg_ctl16");
    replace_in(buf, sizeof buf, "config_dir: /etc/postgresql/15/main",
               "config_dir: /etc/postgresql/16/main");
    replace_in(buf, sizeof buf, "data_dir: /var/lib/postgresql/15/main",
               "data_dir: /var/lib/postgresql/16/main");
    assert_int_equal(cfg_load_string(buf, strlen(buf), "regent.yml", CFG_AGENT,
                                     CFG_NO_ENV | CFG_QUIET, &b, fx->err, sizeof fx->err),
                     0);
    assert_int_equal(cfg_fixed_changes(fx->cfg, b, changed, sizeof changed), 3);
    assert_string_equal(changed, "postgresql.data_dir, postgresql.config_dir, "
                                 "postgresql.bin_name.pg_ctl");
    cfg_free(b);
}

/* --- output ------------------------------------------------------------- */

static void test_to_json_masks_every_secret(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(load(fx, full_agent), 0);
    cJSON *j = cfg_to_json(fx->cfg);
    char *text = cJSON_PrintUnformatted(j);
    assert_null(strstr(text, "rest-secret"));
    assert_null(strstr(text, "cluster-secret"));
    assert_null(strstr(text, "super-secret"));
    assert_null(strstr(text, "ctl-secret"));
    cJSON *raft = cJSON_GetObjectItem(j, "raft");
    assert_string_equal(cJSON_GetObjectItem(raft, "password")->valuestring, "******");
    assert_true(cJSON_GetObjectItem(raft, "election_timeout")->valuedouble == 0.6);
    cJSON *auth = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "restapi"), "authentication");
    assert_string_equal(cJSON_GetObjectItem(auth, "password")->valuestring, "******");
    assert_string_equal(cJSON_GetObjectItem(auth, "username")->valuestring, "admin");
    cJSON *su = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "postgresql"), "authentication"), "superuser");
    assert_string_equal(cJSON_GetObjectItem(su, "password")->valuestring, "******");
    assert_string_equal(cJSON_GetObjectItem(su, "username")->valuestring, "postgres");
    cJSON *ctl = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "ctl"), "authentication");
    assert_string_equal(cJSON_GetObjectItem(ctl, "password")->valuestring, "******");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "log"), "level")->valuestring,
                        "DEBUG");
    assert_true(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "bootstrap"), "dcs"), "ttl")
            ->valuedouble == 3);
    /* the struct itself keeps the secret */
    assert_string_equal(fx->cfg->raft.password, "cluster-secret");
    cJSON_free(text);
    cJSON_Delete(j);
}

static void test_parse_ipv4_addr(void **state)
{
    (void)state;
    char host[16];
    unsigned port;
    assert_int_equal(cfg_parse_ipv4_addr("10.0.0.1:2222", host, sizeof host, &port), 0);
    assert_string_equal(host, "10.0.0.1");
    assert_int_equal(port, 2222);
    assert_int_equal(cfg_parse_ipv4_addr("255.255.255.255:65535", host, sizeof host, &port), 0);
    static const char *const bad[] = {
        "10.0.0.1", "10.0.0:1",    "10.0.0.01:1",  "10.0.0.1:",    "10.0.0.1:70000", "a.b.c.d:1",
        "[::1]:1",  "localhost:1", "10.0.0.1:1:2", "10.0.0.1.5:1", "1000.0.0.1:1",   ""};
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        if (cfg_parse_ipv4_addr(bad[i], host, sizeof host, &port) != RG_EINVAL) {
            fail_msg("accepted \"%s\"", bad[i]);
        }
    }
    assert_int_equal(cfg_parse_ipv4_addr(NULL, host, sizeof host, &port), RG_EINVAL);
}

#define T(f)  cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TE(f) cmocka_unit_test_setup_teardown(f, setup, env_teardown)

int main(void)
{
    for (size_t i = 0; i < RG_ARRAY_SIZE(env_vars); i++) {
        unsetenv(env_vars[i]);
    }
    const struct CMUnitTest tests[] = {
        T(test_full_agent_config_loads_typed_values),
        T(test_defaults_applied_when_keys_are_missing),
        T(test_ttl_default_is_3s_with_required_watchdog),
        T(test_watchdog_driver),
        T(test_durations_accept_decimal_seconds),
        T(test_witness_config_loads),
        T(test_witness_treats_agent_sections_as_unknown),
        T(test_patroni_raft_yml_loads_with_warnings),
        T(test_patroni_raft_yml_fails_under_strict),
        T(test_unknown_keys_warn_with_full_path),
        T(test_unknown_keys_are_errors_under_strict),
        T(test_wrong_types_are_reported_at_the_value),
        T(test_out_of_range_values_give_the_range),
        T(test_enum_lists_its_choices),
        T(test_missing_required_keys_point_at_section_or_top),
        T(test_bad_names_paths_and_password),
        T(test_name_longer_than_63_is_refused),
        T(test_malformed_addresses_are_refused),
        T(test_restapi_listen_forms),
        T(test_connect_address_required_for_wildcard_listen),
        T(test_public_self_addr_needs_opt_in),
        T(test_self_addr_and_duplicates_removed_from_partners),
        T(test_yaml_syntax_error_has_position),
        T(test_empty_and_non_mapping_documents),
        T(test_duplicate_keys_are_errors),
        T(test_non_string_keys_are_errors),
        T(test_alias_bomb_is_refused_quickly),
        T(test_files_missing_unreadable_and_valid),
        T(test_errors_are_truncated_to_errbuf),
        TE(test_env_overrides_file_values),
        TE(test_regent_env_wins_over_patroni_env),
        TE(test_env_supplies_missing_required_keys),
        TE(test_bad_env_value_names_the_variable),
        T(test_timing_loop_wait_and_retry_must_fit_in_ttl),
        T(test_timing_raft_leader_crash_must_not_fence_primary),
        T(test_timing_required_watchdog_needs_half_second_slack),
        T(test_timing_heartbeat_below_half_election),
        T(test_postgresql_typed_keys_load),
        T(test_postgresql_defaults),
        T(test_postgresql_bad_values_are_reported_at_the_value),
        T(test_postgresql_patroni_keys_regent_does_not_use_warn),
        T(test_postgresql_data_dir_required_for_agent_only),
        TE(test_postgresql_env_overrides),
        TE(test_postgresql_bad_env_values_name_the_variable),
        T(test_postgresql_to_json_masks_passwords),
        T(test_postgresql_reloadable_keys),
        T(test_to_json_masks_every_secret),
        T(test_parse_ipv4_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
