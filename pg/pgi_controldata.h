/*
 * pgi_controldata: what `pg_controldata` says about a data directory, and
 * write-ahead log positions (LSNs).
 *
 * Pure: the caller runs `pg_controldata DIR` with LC_ALL=C (pgi_proc) and
 * hands its output here. The parser knows the lines of PostgreSQL 13 to 17
 * and ignores any other line, so a newer version that adds fields still
 * parses; a field it needs that is missing or malformed is an error naming
 * that field.
 */
#ifndef REGENT_PGI_CONTROLDATA_H
#define REGENT_PGI_CONTROLDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "Database cluster state", as pg_controldata prints DBState. */
enum pgi_db_state {
    PGI_DB_UNKNOWN,               /* a text this parser does not know */
    PGI_DB_STARTING_UP,           /* "starting up" */
    PGI_DB_SHUT_DOWN,             /* "shut down": a clean primary shutdown */
    PGI_DB_SHUT_DOWN_IN_RECOVERY, /* "shut down in recovery": a clean standby shutdown */
    PGI_DB_SHUTTING_DOWN,         /* "shutting down" */
    PGI_DB_IN_CRASH_RECOVERY,     /* "in crash recovery" */
    PGI_DB_IN_ARCHIVE_RECOVERY,   /* "in archive recovery": a running standby (or crashed one) */
    PGI_DB_IN_PRODUCTION,         /* "in production": a running primary (or crashed one) */
};

struct pgi_controldata {
    char sysid[32];                 /* "Database system identifier", decimal digits */
    enum pgi_db_state state;        /* "Database cluster state" */
    char state_text[64];            /* its text as printed */
    uint64_t checkpoint_lsn;        /* "Latest checkpoint location" */
    uint64_t redo_lsn;              /* "Latest checkpoint's REDO location" */
    unsigned timeline;              /* "Latest checkpoint's TimeLineID" */
    unsigned prev_timeline;         /* "Latest checkpoint's PrevTimeLineID" */
    uint64_t min_recovery_lsn;      /* "Minimum recovery ending location" */
    unsigned min_recovery_tli;      /* "Min recovery ending loc's timeline" */
    bool wal_log_hints;             /* "wal_log_hints setting": on/off */
    unsigned data_checksum_version; /* "Data page checksum version": 0 when off */
    char wal_level[32];             /* "wal_level setting": minimal, replica, logical */
    unsigned max_connections;       /* "max_connections setting" */
    unsigned max_worker_processes;  /* "max_worker_processes setting" */
    unsigned max_wal_senders;       /* "max_wal_senders setting" */
    unsigned max_prepared_xacts;    /* "max_prepared_xacts setting" */
    unsigned max_locks_per_xact;    /* "max_locks_per_xact setting" */
    unsigned pg_control_version;    /* "pg_control version number" */
};

/*
 * Parse @len bytes of pg_controldata output (need not be NUL-terminated;
 * lines end with "\n" or "\r\n"). 0 with *@out filled, or RG_EPARSE with
 * @errmsg (RG_ERRMSG_SIZE bytes) naming the field: `missing "Latest
 * checkpoint location"` or `invalid "Latest checkpoint location": "zz"`.
 * Unknown lines are ignored; a field given twice keeps the last value; an
 * unknown cluster state parses as PGI_DB_UNKNOWN with its text kept.
 */
int pgi_controldata_parse(const char *text, size_t len, struct pgi_controldata *out, char *errmsg);

/* "in production" & co (the pg_controldata text); "unknown" for PGI_DB_UNKNOWN. */
const char *pgi_db_state_name(enum pgi_db_state s);

/*
 * LSNs as PostgreSQL writes them: two hexadecimal numbers of at most 8
 * digits, "16/B374D848" being 0x16B374D848. Parse: 0, or RG_EPARSE for
 * anything else (signs, spaces, trailing text). Format into @buf of at
 * least 24 bytes (upper case, no padding: "0/0", "FFFFFFFF/FFFFFFFF").
 */
int pgi_lsn_parse(const char *s, uint64_t *out);
void pgi_lsn_format(uint64_t lsn, char *buf, size_t len);

#endif
