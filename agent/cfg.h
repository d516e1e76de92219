/*
 * cfg: the local YAML configuration (close to patroni.yml) → typed structs.
 *
 * cfg_load() reads the file with libyaml, applies the defaults of the key
 * table, then environment overrides (REGENT_<SECTION>_<KEY>, and Patroni's
 * PATRONI_* names for the keys we support), then validates. Errors name the
 * place: "regent.yml:12:5: postgresql.data_dir: must be an absolute path"
 * (1-based line and column). Keys we do not use produce one warning each with
 * their full path ("regent.yml:7:3: etcd3.hosts: unknown key, ignored"), kept
 * in cfg->warnings and logged; with CFG_STRICT they are errors. A loaded
 * struct cfg is read-only; a reload (SIGHUP) loads a fresh copy and swaps it
 * in only when it is valid.
 *
 * Time values are seconds in YAML (decimals allowed, as "2.5") and are
 * stored here in milliseconds.
 */
#ifndef REGENT_CFG_H
#define REGENT_CFG_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/rg_log.h"

enum cfg_kind {
    CFG_AGENT,   /* regent: every section */
    CFG_WITNESS, /* regent-witness: scope, name, raft, restapi, log only */
};

enum cfg_flags {
    CFG_STRICT = 1 << 0, /* unknown keys are errors */
    CFG_NO_ENV = 1 << 1, /* ignore REGENT_* / PATRONI_* (tests, fuzzing) */
    CFG_QUIET = 1 << 2,  /* do not send warnings to rg_log (cfg->warnings still has them) */
};

struct cfg_auth {
    char *username; /* owned, NULL when unset */
    char *password; /* owned, NULL when unset; masked when printed */
};

struct cfg_restapi {
    char *listen;          /* "host:port" ("*:8008", "[::]:8008", "127.0.0.1:8008"); required */
    char *connect_address; /* "host:port" others use; default: listen's */
    struct cfg_auth authentication;
    char *certfile, *keyfile, *cafile; /* owned or NULL; TLS comes with issue 4 */
    char *verify_client;               /* "none" | "optional" | "required" */
    char **allowlist;                  /* owned array of owned strings */
    size_t n_allowlist;
    bool allowlist_include_members;
};

struct cfg_raft {
    char *data_dir;       /* required for agent and witness */
    char *self_addr;      /* "a.b.c.d:port" IPv4 literal; required */
    char *bind_addr;      /* listen address, default self_addr */
    char **partner_addrs; /* IPv4 "a.b.c.d:port", may be empty */
    size_t n_partner_addrs;
    char *password; /* the cluster secret; required (>= 8 chars) */
    /* Timing (ms), DESIGN.md "Timing budget". */
    unsigned election_timeout;   /* 500 */
    unsigned heartbeat_interval; /* 50 */
    unsigned voters;             /* target voter count: 3 or 5 (default 3) */
    bool allow_public_addr;      /* opt-in for a non-private self_addr */
    /* Storage tuning (tests shrink these). */
    unsigned segment_size;       /* bytes, 0: c-raft default (8 MiB) */
    unsigned snapshot_threshold; /* entries between snapshots, default 1024 */
    unsigned snapshot_trailing;  /* entries kept after a snapshot, default 512 */
};

/* The lease timing actually used by the agent (DESIGN.md, "Leases"). */
struct cfg_lease {
    unsigned ttl;            /* ms; bootstrap.dcs.ttl; 2500 (3000 if watchdog.mode required) */
    unsigned loop_wait;      /* ms; bootstrap.dcs.loop_wait; default 1000 */
    unsigned retry_timeout;  /* ms; bootstrap.dcs.retry_timeout; default 500 */
    unsigned renew_interval; /* ms; raft.renew_interval; default 250 */
    unsigned safety_margin;  /* ms; watchdog.safety_margin; default 400 */
    unsigned fence_budget;   /* ms; default 50 */
    uint64_t maximum_lag_on_failover; /* bytes; default 1048576 */
};

struct cfg_log {
    int level;                           /* RG_INFO */
    char *dir;                           /* NULL: stderr */
    uint64_t file_size;                  /* 25000000 */
    unsigned file_num;                   /* 4 */
    struct rg_log_module_level *modules; /* log.loggers: {module: level} */
    size_t n_modules;
    size_t max_queue_size; /* 1000 */
};

struct cfg_watchdog {
    char *mode;       /* "off" | "automatic" | "required"; default "automatic" */
    char *driver;     /* "linux" (default) | "testing" (agent/watchdog.h; tests only) */
    char *device;     /* default "/dev/watchdog"; the testing driver's events file */
    unsigned timeout; /* ms, default 2000 */
};

/* postgresql.authentication.<user>: libpq connection parameters (Patroni's
 * names). Every field is owned, NULL when unset. */
struct cfg_pg_user {
    char *username;        /* superuser: "postgres", replication: "replicator", rewind: unset */
    char *password;        /* secret: masked by cfg_to_json */
    char *sslmode;         /* disable | allow | prefer | require | verify-ca | verify-full */
    char *sslkey;          /* path */
    char *sslpassword;     /* secret */
    char *sslcert;         /* path */
    char *sslrootcert;     /* path */
    char *sslcrl;          /* path */
    char *sslcrldir;       /* path */
    char *sslnegotiation;  /* postgres | direct */
    char *gssencmode;      /* disable | prefer | require */
    char *channel_binding; /* disable | prefer | require */
};

struct cfg_pg_auth {
    struct cfg_pg_user superuser;
    struct cfg_pg_user replication;
    struct cfg_pg_user rewind; /* unset: pg_rewind connects as the superuser */
};

/* postgresql.callbacks: "<command> <action> <role> <scope>" is run; each is a
 * command line whose first word is an absolute path or a name found in PATH.
 * Owned, NULL when unset. */
struct cfg_pg_callbacks {
    char *on_start;
    char *on_stop;
    char *on_restart;
    char *on_reload;
    char *on_role_change;
};

/* postgresql.bin_name: the program names, looked up in bin_dir (or PATH when
 * bin_dir is unset); an absolute path is used as it is. NULL: the usual name. */
struct cfg_pg_bin_name {
    char *pg_ctl;
    char *initdb;
    char *pg_controldata;
    char *pg_basebackup;
    char *postgres;
    char *pg_isready;
    char *pg_rewind;
};

struct cfg_postgresql {
    char *listen;          /* "addr[,addr]:port" */
    char *connect_address; /* "host:port" */
    char *proxy_address;   /* "host:port" published for clients (a pooler), or NULL */
    char *data_dir;        /* absolute path; required for regent */
    char *config_dir;      /* absolute path, or NULL: data_dir */
    char *bin_dir;         /* NULL: the programs are looked up in PATH */
    char *pgpass;
    struct cfg_pg_bin_name bin_name;
    struct cfg_pg_auth authentication;
    struct cfg_pg_callbacks callbacks;
    unsigned callbacks_timeout; /* ms, default 30000: a callback still running is killed */
    unsigned pg_ctl_timeout;    /* ms, default 60000 */
    bool use_pg_rewind;         /* default false */
    bool remove_data_directory_on_rewind_failure;     /* default false */
    bool remove_data_directory_on_diverged_timelines; /* default false */
    bool use_unix_socket;          /* connect locally through the socket; default false */
    bool use_unix_socket_repl;     /* replication connections too; default false */
    cJSON *parameters;             /* owned object or NULL: local GUCs */
    cJSON *pg_hba;                 /* owned array of strings or NULL */
    cJSON *pg_ident;               /* owned array of strings or NULL (stored only) */
    cJSON *basebackup;             /* owned object or array (pg_basebackup options), or NULL */
    cJSON *rewind;                 /* owned object or array (pg_rewind options), or NULL */
    char **create_replica_methods; /* owned; only "basebackup" (the default) is supported */
    size_t n_create_replica_methods;
    /* owned: the whole postgresql section as JSON, unknown keys included, with
     * the effective values of the typed keys above (secrets in clear) */
    cJSON *raw;
};

struct cfg {
    enum cfg_kind kind;
    char *path;      /* owned: the file it came from */
    char *scope;     /* required */
    char *name;      /* required */
    char *namespace; /* default "/service" */
    struct cfg_restapi restapi;
    struct cfg_raft raft;
    struct cfg_lease lease;
    struct cfg_log log;
    struct cfg_watchdog watchdog;
    struct cfg_postgresql postgresql;
    cJSON *bootstrap_dcs;    /* owned: bootstrap.dcs as JSON (seeds the store's config) */
    cJSON *bootstrap_initdb; /* owned or NULL */
    cJSON *bootstrap_pg_hba; /* owned or NULL */
    cJSON *tags;             /* owned: object, {} when unset */
    cJSON *ctl;              /* owned or NULL: the ctl section (regentctl) */
    /* owned or NULL: the warnings of the load (unknown or unused keys), one
     * per line without a final newline: "regent.yml:7:3: etcd3.hosts:
     * unknown key, ignored". Also sent to rg_log unless CFG_QUIET. */
    char *warnings;
};

/*
 * Load and validate @path. 0 and *@out set (free with cfg_free), or
 * RG_ECONFIG / RG_EIO with every problem found written to @errbuf (one per
 * line, "FILE:LINE:COL: key.path: what is wrong"), truncated to @errlen.
 * Warnings (unknown keys without CFG_STRICT) go to rg_log at WARNING.
 */
int cfg_load(const char *path,
             enum cfg_kind kind,
             unsigned flags,
             struct cfg **out,
             char *errbuf,
             size_t errlen);

/* The same from a YAML text (fuzzing, tests); @name labels messages. */
int cfg_load_string(const char *yaml,
                    size_t len,
                    const char *name,
                    enum cfg_kind kind,
                    unsigned flags,
                    struct cfg **out,
                    char *errbuf,
                    size_t errlen);

void cfg_free(struct cfg *cfg);

/* The effective configuration as JSON, secrets masked ("******"). Caller
 * cJSON_Delete()s it. */
cJSON *cfg_to_json(const struct cfg *cfg);

/* The keys a reload cannot apply (not marked reloadable) whose values differ
 * between @a and @b, comma-separated into @buf; returns how many. */
size_t cfg_fixed_changes(const struct cfg *a, const struct cfg *b, char *buf, size_t len);

/* Parse "a.b.c.d:port" (IPv4 literal). 0 or RG_EINVAL. */
int cfg_parse_ipv4_addr(const char *s, char *host, size_t hostlen, unsigned *port);

#endif
