/*
 * pgi_conf: the PostgreSQL configuration Regent manages, rendered the way
 * Patroni does it (spec/patroni-compat.md 4.1 and 4.2). Pure: no I/O, no
 * clock; the caller writes the files (pgi_fileio).
 *
 * Files in the configuration directory (the data directory):
 *   postgresql.base.conf  the original postgresql.conf (initdb's, or the
 *                         primary's copy), renamed once by the caller
 *   postgresql.conf       written by Regent from pgi_conf_render():
 *                         `include 'postgresql.base.conf'` first, then every
 *                         parameter, then the standby settings
 *   pg_hba.conf           from pgi_conf_render_hba() when pg_hba is set
 * PostgreSQL's precedence: postgresql.base.conf < postgresql.conf <
 * postgresql.auto.conf (ALTER SYSTEM) < the postgres command line, where
 * Patroni also passes the GUCs of pgi_conf_is_cmdline().
 *
 * Parameters come from three places: the dynamic configuration's
 * postgresql.parameters (cluster-wide), the local postgresql.parameters (this
 * node; wins over the dynamic one), and what Regent controls itself
 * (listen_addresses, port, cluster_name, hot_standby). The dynamic-only GUCs
 * (listed at pgi_conf_parameters) ignore local values.
 *
 * Standby. PostgreSQL 12 and later read primary_conninfo, primary_slot_name
 * and recovery_target_* as ordinary GUCs, and a file `standby.signal` in the
 * data directory is what makes the server start as a standby: this module
 * renders the settings, the caller writes (or removes) standby.signal. The
 * output is the same for PostgreSQL 13 to 17.
 *
 * Odd input never crashes and never reaches a file: names outside
 * [A-Za-z0-9_.], nested values and values with a line break (which would let a
 * dynamic configuration inject lines) are refused with a warning.
 */
#ifndef REGENT_PGI_CONF_H
#define REGENT_PGI_CONF_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define PGI_CONF_BASE_CONF "postgresql.base.conf"

/*
 * The parameters PostgreSQL should run with, as a JSON object {name: value}
 * (names lower-cased; values JSON strings, numbers or booleans). From, in
 * increasing precedence:
 *   - @dynamic: the dynamic configuration's postgresql.parameters, may be NULL;
 *   - @local: the local postgresql.parameters, may be NULL;
 *   - what Regent controls: listen_addresses (@listen_addresses, skipped
 *     when NULL), port (@port, skipped when 0), cluster_name (@cluster_name,
 *     the scope; skipped when NULL) and hot_standby = on. Values for these
 *     in @dynamic or @local are ignored (a warning when they differ), and so
 *     are primary_conninfo, primary_slot_name and recovery_target_timeline,
 *     which belong to pgi_conf_render's standby block.
 * Dynamic-only parameters (max_connections, max_locks_per_transaction,
 * max_worker_processes, max_prepared_transactions, wal_level,
 * track_commit_timestamp, max_wal_senders, max_replication_slots,
 * wal_keep_size, wal_keep_segments, wal_log_hints) take the dynamic value or
 * Patroni's default (100, 64, 8, 0, replica, off, 10, 10, 128MB, 8, on); a
 * value below Patroni's minimum (25, 32, 2, 0, -, -, 3, 4, 16MB, 1) is raised to
 * it; a value that does not parse takes the default; a local value is
 * ignored. wal_level "hot_standby"/"archive" become "replica" (only replica
 * and logical are kept); wal_log_hints is always on (pg_rewind needs it).
 * For @pg_version_num >= 130000 wal_keep_segments becomes wal_keep_size (16 MB
 * a segment) unless wal_keep_size is set; below 13 the other way round.
 *
 * Each ignored, refused or adjusted value adds one line (ending in '\n') to
 * *@warnings (rg_malloc'd, NULL when there is nothing to say; @warnings may
 * be NULL). Never NULL; the caller cJSON_Delete()s it.
 */
cJSON *pgi_conf_parameters(const cJSON *dynamic,
                           const cJSON *local,
                           const char *listen_addresses,
                           unsigned port,
                           const char *cluster_name,
                           unsigned pg_version_num,
                           char **warnings);

/* True for a GUC Patroni passes on the postgres command line (above ALTER
 * SYSTEM): the ones Regent controls and the dynamic-only ones except
 * wal_keep_*. Case-insensitive. */
bool pgi_conf_is_cmdline(const char *name);

/* True when @name can be a GUC name in postgresql.conf: dot-separated parts
 * of [A-Za-z0-9_], each starting with a letter or '_', at most 127 bytes. */
bool pgi_conf_name_valid(const char *name);

/*
 * postgresql.listen, "addr[,addr…]:port", into listen_addresses (@addrs:
 * addresses trimmed and joined by ',', IPv6 brackets removed, e.g.
 * "127.0.0.1,10.0.0.1") and @port. Without any ':' the port is 5432, as in
 * Patroni. 0, or RG_EINVAL (bad port, empty or odd address, @addrs too small).
 */
int pgi_conf_parse_listen(const char *listen, char *addrs, size_t addrs_len, unsigned *port);

struct pgi_standby {                      /* NULL in pgi_conf_render: a primary */
    const char *primary_conninfo;         /* borrowed; pgi_conninfo_build; NULL: '' */
    const char *primary_slot_name;        /* borrowed; NULL: none ('') */
    const char *recovery_target_timeline; /* borrowed; NULL: "latest" */
};

/*
 * The text of postgresql.conf: a header saying Regent wrote it (do not edit;
 * put changes in the dynamic configuration or in the local
 * postgresql.parameters), then `include '<base_conf>'` when @base_conf is not
 * NULL, then every parameter of @parameters sorted by name — strings
 * single-quoted with ' doubled and \ doubled (control characters as \n, \r
 * or octal escapes, so no value can start a line), integers, decimals and
 * booleans (on/off) bare — then, when @standby is not NULL, primary_conninfo,
 * primary_slot_name, recovery_target_timeline and empty recovery_target* (so
 * that an included file cannot make the standby stop, pause or promote).
 * Entries that pgi_conf_parameters would refuse (bad names, nested values)
 * are left out. rg_malloc'd.
 */
char *
pgi_conf_render(const cJSON *parameters, const char *base_conf, const struct pgi_standby *standby);

/*
 * pg_hba.conf from a JSON array of strings (bootstrap.pg_hba or
 * postgresql.pg_hba), one line each, after a header. *@out is set in every
 * case (rg_malloc'd). 0, or RG_EINVAL with @errmsg when @lines is not an array
 * or items were skipped (not a string, or containing a line break).
 */
int pgi_conf_render_hba(const cJSON *lines, char **out, char *errmsg);

/* A libpq conninfo string "key='value' …" from NULL-terminated @keywords and
 * their @values (NULL values skipped); values are single-quoted with ' and \
 * backslash-escaped, as libpq's parser wants. Keywords must be [a-z_]+.
 * rg_malloc'd. */
char *pgi_conninfo_build(const char *const *keywords, const char *const *values);

/* One ~/.pgpass line "host:port:db:user:password\n" with ':' and '\' escaped
 * by a backslash; a field that is exactly "*" stays a wildcard; NULL host,
 * port, db or user mean "*", a NULL password is empty. NULL when a field holds
 * a line break (a pgpass file cannot represent it). rg_malloc'd. */
char *pgi_pgpass_line(
    const char *host, const char *port, const char *db, const char *user, const char *password);

/* GUC @name (case-insensitive) of @parameters as PostgreSQL prints it in
 * pg_settings, to compare with pending_restart reasons: strings as they are,
 * booleans "on"/"off", numbers without a trailing ".0". Copies into @buf;
 * false when absent, not a scalar, or longer than @len - 1. */
bool pgi_conf_value_text(const cJSON *parameters, const char *name, char *buf, size_t len);

#endif
