/*
 * pgi_controldata: a parser of `pg_controldata` output (LC_ALL=C) and LSN
 * helpers.
 *
 * pg_controldata prints one "Name:   value" line per field, the name
 * padded with spaces after its colon (or not at all, as in "Latest
 * checkpoint's oldestCommitTsXid:0"). Names hold no colon, values may
 * ("Latest checkpoint's NextXID: 0:724", times), so a line splits at its
 * first colon. The fields we read are in one table below: name, kind and
 * where the value goes. Each line is matched against the table; lines of
 * other names (the many this agent does not use, and those of versions we
 * have not seen) are skipped. Once the text is consumed, every table
 * field must have been seen.
 *
 * Failure modes: a missing field, or a value that does not parse (an LSN
 * that is not "X/X", a number with a sign or out of range, "on"/"off"
 * that is neither, a text longer than its buffer). Input is untrusted in
 * the fuzzing sense: any bytes, NULs included, never read past @len.
 */
#include "pg/pgi_controldata.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "agent/rg.h"

enum field_kind {
    F_SYSID, /* decimal digits, at most 20, into a string */
    F_STATE, /* the cluster state text */
    F_LSN,   /* "X/X" */
    F_UINT,  /* decimal, fits unsigned */
    F_ONOFF, /* "on" | "off" */
    F_WORD,  /* any non-empty text that fits */
};

struct field {
    const char *name;
    enum field_kind kind;
    size_t offset; /* in struct pgi_controldata */
    size_t size;   /* of the destination, for F_SYSID and F_WORD */
};

#define FIELD(n, k, m)                                                                             \
    {                                                                                              \
        n, k, offsetof(struct pgi_controldata, m), sizeof(((struct pgi_controldata *)0)->m)        \
    }

static const struct field fields[] = {
    FIELD("pg_control version number", F_UINT, pg_control_version),
    FIELD("Database system identifier", F_SYSID, sysid),
    FIELD("Database cluster state", F_STATE, state),
    FIELD("Latest checkpoint location", F_LSN, checkpoint_lsn),
    FIELD("Latest checkpoint's REDO location", F_LSN, redo_lsn),
    FIELD("Latest checkpoint's TimeLineID", F_UINT, timeline),
    FIELD("Latest checkpoint's PrevTimeLineID", F_UINT, prev_timeline),
    FIELD("Minimum recovery ending location", F_LSN, min_recovery_lsn),
    FIELD("Min recovery ending loc's timeline", F_UINT, min_recovery_tli),
    FIELD("wal_level setting", F_WORD, wal_level),
    FIELD("wal_log_hints setting", F_ONOFF, wal_log_hints),
    FIELD("max_connections setting", F_UINT, max_connections),
    FIELD("max_worker_processes setting", F_UINT, max_worker_processes),
    FIELD("max_wal_senders setting", F_UINT, max_wal_senders),
    FIELD("max_prepared_xacts setting", F_UINT, max_prepared_xacts),
    FIELD("max_locks_per_xact setting", F_UINT, max_locks_per_xact),
    FIELD("Data page checksum version", F_UINT, data_checksum_version),
};

_Static_assert(RG_ARRAY_SIZE(fields) <= 32, "the seen bitmask is 32 bits");

static const char *const state_names[] = {
    [PGI_DB_UNKNOWN] = "unknown",
    [PGI_DB_STARTING_UP] = "starting up",
    [PGI_DB_SHUT_DOWN] = "shut down",
    [PGI_DB_SHUT_DOWN_IN_RECOVERY] = "shut down in recovery",
    [PGI_DB_SHUTTING_DOWN] = "shutting down",
    [PGI_DB_IN_CRASH_RECOVERY] = "in crash recovery",
    [PGI_DB_IN_ARCHIVE_RECOVERY] = "in archive recovery",
    [PGI_DB_IN_PRODUCTION] = "in production",
};

const char *pgi_db_state_name(enum pgi_db_state s)
{
    if ((unsigned)s >= RG_ARRAY_SIZE(state_names)) {
        return "unknown";
    }
    return state_names[s];
}

/* Up to 8 hex digits into *@out; the number of characters used, 0 if none or too many. */
static size_t hex32(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    size_t i;
    for (i = 0; i < 9; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            d = (unsigned)(c - 'A' + 10);
        } else {
            break;
        }
        if (i == 8) {
            return 0; /* a ninth digit */
        }
        v = v << 4 | d;
    }
    *out = v;
    return i;
}

int pgi_lsn_parse(const char *s, uint64_t *out)
{
    uint32_t hi, lo;
    size_t n;
    if (s == NULL || (n = hex32(s, &hi)) == 0 || s[n] != '/') {
        return RG_EPARSE;
    }
    s += n + 1;
    if ((n = hex32(s, &lo)) == 0 || s[n] != '\0') {
        return RG_EPARSE;
    }
    *out = (uint64_t)hi << 32 | lo;
    return 0;
}

void pgi_lsn_format(uint64_t lsn, char *buf, size_t len)
{
    if (len == 0) {
        return;
    }
    snprintf(buf, len, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xFFFFFFFFu));
}

/* Decimal digits only, no sign or space; into *@out if it fits @max. */
static int parse_decimal(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0') {
        return RG_EPARSE;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return RG_EPARSE;
        }
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10) {
            return RG_EPARSE;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static enum pgi_db_state parse_state(const char *s)
{
    for (size_t i = 1; i < RG_ARRAY_SIZE(state_names); i++) {
        if (strcmp(s, state_names[i]) == 0) {
            return (enum pgi_db_state)i;
        }
    }
    return PGI_DB_UNKNOWN;
}

/* Store the NUL-terminated @value of field @f into @out. 0 or RG_EPARSE. */
static int store_field(const struct field *f, const char *value, struct pgi_controldata *out)
{
    char *dst = (char *)out + f->offset;
    uint64_t v;
    switch (f->kind) {
    case F_SYSID:
        /* A uint64 in decimal: at most 20 digits, and the buffer holds them. */
        if (parse_decimal(value, UINT64_MAX, &v) != 0 || strlen(value) >= f->size) {
            return RG_EPARSE;
        }
        memcpy(dst, value, strlen(value) + 1);
        return 0;
    case F_STATE:
        if (value[0] == '\0' || strlen(value) >= sizeof out->state_text) {
            return RG_EPARSE;
        }
        out->state = parse_state(value);
        memcpy(out->state_text, value, strlen(value) + 1);
        return 0;
    case F_LSN:
        return pgi_lsn_parse(value, (uint64_t *)(void *)dst);
    case F_UINT:
        if (parse_decimal(value, UINT_MAX, &v) != 0) {
            return RG_EPARSE;
        }
        *(unsigned *)(void *)dst = (unsigned)v;
        return 0;
    case F_ONOFF:
        if (strcmp(value, "on") == 0) {
            *(bool *)(void *)dst = true;
        } else if (strcmp(value, "off") == 0) {
            *(bool *)(void *)dst = false;
        } else {
            return RG_EPARSE;
        }
        return 0;
    case F_WORD:
        if (value[0] == '\0' || strlen(value) >= f->size) {
            return RG_EPARSE;
        }
        memcpy(dst, value, strlen(value) + 1);
        return 0;
    }
    return RG_EPARSE;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* The field named by the @n bytes at @name, or NULL. */
static const struct field *find_field(const char *name, size_t n)
{
    for (size_t i = 0; i < RG_ARRAY_SIZE(fields); i++) {
        if (strlen(fields[i].name) == n && memcmp(fields[i].name, name, n) == 0) {
            return &fields[i];
        }
    }
    return NULL;
}

/* One line (without its "\n"). 0, or RG_EPARSE with @errmsg. Sets bit i of *@seen for fields[i]. */
static int
parse_line(const char *line, size_t n, struct pgi_controldata *out, uint32_t *seen, char *errmsg)
{
    const char *colon = memchr(line, ':', n);
    if (colon == NULL) {
        return 0;
    }
    size_t name_len = (size_t)(colon - line);
    while (name_len > 0 && is_space(line[name_len - 1])) {
        name_len--;
    }
    const struct field *f = find_field(line, name_len);
    if (f == NULL) {
        return 0;
    }

    const char *v = colon + 1, *end = line + n;
    while (v < end && is_space(*v)) {
        v++;
    }
    while (end > v && is_space(end[-1])) {
        end--;
    }
    /* Every value we read is short: a longer one is malformed, and so is
     * one holding a NUL byte. */
    size_t vlen = (size_t)(end - v);
    bool has_nul = memchr(v, '\0', vlen) != NULL;
    char value[128];
    int rc = RG_EPARSE;
    if (vlen < sizeof value && !has_nul) {
        memcpy(value, v, vlen);
        value[vlen] = '\0';
        rc = store_field(f, value, out);
    }
    if (rc != 0) {
        int shown = has_nul ? 0 : (int)(vlen > 40 ? 40 : vlen);
        rg_errmsg_printf(errmsg, "invalid \"%s\": \"%.*s\"", f->name, shown, v);
        return RG_EPARSE;
    }
    *seen |= 1u << (f - fields);
    return 0;
}

int pgi_controldata_parse(const char *text, size_t len, struct pgi_controldata *out, char *errmsg)
{
    uint32_t seen = 0;
    size_t pos = 0;
    int rc;

    memset(out, 0, sizeof *out);
    errmsg[0] = '\0';
    while (text != NULL && pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
        if ((rc = parse_line(line, n, out, &seen, errmsg)) != 0) {
            return rc;
        }
        pos += n + 1;
    }
    for (size_t i = 0; i < RG_ARRAY_SIZE(fields); i++) {
        if ((seen & (1u << i)) == 0) {
            rg_errmsg_printf(errmsg, "missing \"%s\"", fields[i].name);
            return RG_EPARSE;
        }
    }
    return 0;
}
