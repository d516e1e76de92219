/*
 * api_health internals: the query-string and size parsing of api_query.c,
 * which the health checks of api_health.c build on. Both follow Patroni's
 * Python exactly (parse_qs, parse_int(value, 'B')); see those files.
 */
#ifndef REGENT_API_HEALTH_INTERNAL_H
#define REGENT_API_HEALTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One parameter, raw (still encoded). */
struct qparam {
    const char *name;
    size_t nlen;
    const char *val;
    size_t vlen;
};

/* Python's ints have no bound: a magnitude of 2^64 or more is kept as
 * "inf", which compares like the real value against any LSN difference. */
struct size {
    bool neg;
    bool inf;     /* |value| ≥ 2^64 */
    uint64_t mag; /* UINT64_MAX when inf */
};

enum { SZ_NONE, SZ_OK, SZ_RAISES }; /* None / a value / Python raises */

char *api__decode_dup(const char *s, size_t n, size_t *dlen);
bool api__qnext(const char **cursor, struct qparam *p);
bool api__qfind(const char *query, const char *key, struct qparam *p);
char *api__qvalue(const char *query, const char *key, size_t *dlen);
bool api__qvalue_is(const char *query, const char *key, const char *want);
int api__parse_b(const char *s, size_t n, struct size *out);
bool api__diff_exceeds(uint64_t a, uint64_t b, const struct size *lim);

#endif
