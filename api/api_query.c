/*
 * api_query: the parsing under the health checks — query strings the way
 * Python's parse_qs reads them, and sizes the way Patroni's
 * parse_int(value, 'B') does (?lag=10MB) — pure, split out of
 * api_health.c to keep each file one concern.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "api/api_health.h"
#include "api/api_health_internal.h"

/* --- query strings (Python's parse_qs) ----------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The next decoded byte of @s[*@i..@n): '+' is a space, %XX a byte, a bad
 * escape stays as it is (urllib's unquote). */
static char dec_byte(const char *s, size_t n, size_t *i)
{
    char c = s[*i];
    if (c == '+') {
        (*i)++;
        return ' ';
    }
    if (c == '%' && *i + 2 < n && hexval(s[*i + 1]) >= 0 && hexval(s[*i + 2]) >= 0) {
        c = (char)(hexval(s[*i + 1]) * 16 + hexval(s[*i + 2]));
        *i += 3;
        return c;
    }
    (*i)++;
    return c;
}

/* Decode @s[0..@n) into @buf (@len ≥ 1, truncated); the full decoded length. */
static size_t decode(const char *s, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char c = dec_byte(s, n, &i);
        if (o + 1 < len) {
            buf[o] = c;
        }
        o++;
    }
    buf[o < len ? o : len - 1] = '\0';
    return o;
}

/* A decoded heap copy (rg_free), *@dlen its length: it may hold NUL bytes. */
char *api__decode_dup(const char *s, size_t n, size_t *dlen)
{
    char *b = rg_malloc(n + 1);
    *dlen = decode(s, n, b, n + 1);
    return b;
}

static bool name_is(const struct qparam *p, const char *key)
{
    for (size_t i = 0; i < p->nlen;) {
        char c = dec_byte(p->name, p->nlen, &i);
        if (*key == '\0' || c != *key) {
            return false;
        }
        key++;
    }
    return *key == '\0';
}

/* parse_qsl: split on '&', skip "" and "name" and "name=" (no value). */
bool api__qnext(const char **cursor, struct qparam *p)
{
    const char *s = *cursor;
    while (*s != '\0' && *s != '#') {
        size_t n = strcspn(s, "&#");
        const char *eq = memchr(s, '=', n);
        const char *next = s[n] == '&' ? s + n + 1 : s + n;
        if (eq != NULL && eq + 1 < s + n) {
            p->name = s;
            p->nlen = (size_t)(eq - s);
            p->val = eq + 1;
            p->vlen = (size_t)(s + n - (eq + 1));
            *cursor = next;
            return true;
        }
        s = next;
    }
    *cursor = s;
    return false;
}

/* The first parameter named @key: parse_qs keeps a list, Patroni reads [0]. */
bool api__qfind(const char *query, const char *key, struct qparam *p)
{
    const char *cur = query;
    while (api__qnext(&cur, p)) {
        if (name_is(p, key)) {
            return true;
        }
    }
    return false;
}

/* The first value of @key, decoded (rg_free), or NULL. */
char *api__qvalue(const char *query, const char *key, size_t *dlen)
{
    struct qparam p;
    return api__qfind(query, key, &p) ? api__decode_dup(p.val, p.vlen, dlen) : NULL;
}

bool api__qvalue_is(const char *query, const char *key, const char *want)
{
    size_t n;
    char *v = api__qvalue(query, key, &n);
    bool eq = v != NULL && want != NULL && n == strlen(want) && memcmp(v, want, n) == 0;
    rg_free(v);
    return eq;
}

const char *api_query_get(const char *query, const char *key, char *buf, size_t len)
{
    RG_PRE(len > 0);
    struct qparam p;
    if (query == NULL || key == NULL || !api__qfind(query, key, &p)) {
        return NULL;
    }
    decode(p.val, p.vlen, buf, len);
    return buf;
}

bool api_query_next(const char **cursor, char *key, size_t klen, char *val, size_t vlen)
{
    RG_PRE(klen > 0 && vlen > 0);
    struct qparam p;
    if (*cursor == NULL || !api__qnext(cursor, &p)) {
        return false;
    }
    decode(p.name, p.nlen, key, klen);
    decode(p.val, p.vlen, val, vlen);
    return true;
}

/* --- sizes (Patroni's parse_int(value, 'B')) ------------------------------ */

#define TWO_POW_64 18446744073709551616.0
#define TWO_POW_52 4503599627370496.0

/* The units of convert_to_base_unit(v, unit, 'B') and the granularity it
 * rounds each to (one unit down). */
static const struct {
    const char *name;
    double factor;
    double step;
} units[] = {
    {"B", 1.0, 1.0},
    {"kB", 1024.0, 1.0},
    {"MB", 1048576.0, 1024.0},
    {"GB", 1073741824.0, 1048576.0},
    {"TB", 1099511627776.0, 1073741824.0},
};

static bool py_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Python's round() of a finite double ≥ 0: half to even. */
static double round_even(double a)
{
    if (a >= TWO_POW_52) {
        return a; /* already integral */
    }
    uint64_t u = (uint64_t)a;
    double f = a - (double)u;
    if (f > 0.5 || (f == 0.5 && (u & 1) != 0)) {
        u++;
    }
    return (double)u;
}

/* @r (integral) times @step (an integral power of two) into @out. */
static void size_from_double(double r, double step, struct size *out)
{
    double a = r < 0 ? -r : r;
    out->neg = r < 0;
    out->inf = a >= TWO_POW_64;
    out->mag = out->inf ? UINT64_MAX : (uint64_t)a;
    uint64_t m = (uint64_t)step;
    if (!out->inf && m > 1) {
        if (out->mag > UINT64_MAX / m) {
            out->inf = true;
            out->mag = UINT64_MAX;
        } else {
            out->mag *= m;
        }
    }
}

/* strtol(): the longest [-+]?(0x[0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*) at @b; its
 * end, or NULL. *@approx: the value as a double (inf past DBL_MAX). */
static const char *scan_int(const char *b, const char *e, struct size *v, double *approx)
{
    const char *q = b;
    bool neg = false;
    if (q < e && (*q == '+' || *q == '-')) {
        neg = *q == '-';
        q++;
    }
    unsigned base;
    if (e - q >= 3 && q[0] == '0' && q[1] == 'x' && hexval(q[2]) >= 0) {
        base = 16;
        q += 2;
    } else if (q < e && q[0] == '0') {
        base = 8;
    } else if (q < e && q[0] >= '1' && q[0] <= '9') {
        base = 10;
    } else {
        return NULL;
    }
    uint64_t mag = 0;
    bool inf = false;
    double d = 0;
    for (; q < e; q++) {
        int dv = hexval(*q);
        if (dv < 0 || (unsigned)dv >= base) {
            break;
        }
        if (inf || mag > (UINT64_MAX - (unsigned)dv) / base) {
            inf = true;
        } else {
            mag = mag * base + (unsigned)dv;
        }
        d = d * base + dv;
    }
    v->neg = neg;
    v->inf = inf;
    v->mag = inf ? UINT64_MAX : mag;
    *approx = inf ? d : (double)mag;
    if (neg) {
        *approx = -*approx;
    }
    return q;
}

/* DBL_RE: [-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)? at @b; its end, or NULL. */
static const char *scan_dbl(const char *b, const char *e)
{
    const char *q = b;
    if (q < e && (*q == '+' || *q == '-')) {
        q++;
    }
    const char *d0 = q;
    while (q < e && digit(*q)) {
        q++;
    }
    if (e - q >= 2 && *q == '.' && digit(q[1])) {
        for (q++; q < e && digit(*q); q++) {
        }
    } else if (q == d0) {
        return NULL;
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        const char *r = q + 1;
        if (r < e && (*r == '+' || *r == '-')) {
            r++;
        }
        if (r < e && digit(*r)) {
            while (r < e && digit(*r)) {
                r++;
            }
            q = r;
        }
    }
    return q;
}

/* parse_int(@s, 'B') on @n bytes (which may hold NUL: never a number). */
int api__parse_b(const char *s, size_t n, struct size *out)
{
    if (memchr(s, '\0', n) != NULL) {
        return SZ_NONE;
    }
    const char *b = s, *e = s + n;
    while (b < e && py_space(*b)) {
        b++;
    }
    while (e > b && py_space(e[-1])) {
        e--;
    }
    struct size iv;
    double x = 0;
    const char *unit = scan_int(b, e, &iv, &x);
    bool have = unit != NULL, real = false;
    if (unit == NULL) {
        unit = b;
    }
    /* A fraction or an exponent after the integer (or ".5"): strtod(). */
    if (unit < e && (*unit == '.' || *unit == 'e' || *unit == 'E')) {
        const char *q = scan_dbl(b, e);
        if (q == NULL) {
            return SZ_NONE;
        }
        char *num = rg_strndup(b, (size_t)(q - b));
        x = strtod(num, NULL);
        rg_free(num);
        have = real = true;
        unit = q;
    }
    if (!have) {
        return SZ_NONE;
    }
    while (unit < e && py_space(*unit)) {
        unit++;
    }
    size_t ulen = (size_t)(e - unit);
    if (ulen == 0 && !real) {
        *out = iv; /* an int stays exact */
        return SZ_OK;
    }
    double factor = 1.0, step = 1.0;
    if (ulen > 0) {
        size_t i = 0;
        while (i < RG_ARRAY_SIZE(units) &&
               !(strlen(units[i].name) == ulen && memcmp(units[i].name, unit, ulen) == 0)) {
            i++;
        }
        if (i == RG_ARRAY_SIZE(units)) {
            return SZ_NONE;
        }
        factor = units[i].factor;
        step = units[i].step;
    }
    /* float(int) past DBL_MAX and round(inf) raise OverflowError. */
    if (!isfinite(x)) {
        return SZ_RAISES;
    }
    double scaled = x * factor / step;
    if (!isfinite(scaled)) {
        return SZ_RAISES;
    }
    size_from_double(scaled < 0 ? -round_even(-scaled) : round_even(scaled), step, out);
    return SZ_OK;
}

int api_parse_size(const char *s, uint64_t *out)
{
    struct size v;
    if (s == NULL || api__parse_b(s, strlen(s), &v) != SZ_OK || v.inf || (v.neg && v.mag != 0)) {
        return RG_EINVAL;
    }
    *out = v.mag;
    return 0;
}

/* (@a - @b) > @lim, as Python's unbounded ints would say. */
bool api__diff_exceeds(uint64_t a, uint64_t b, const struct size *lim)
{
    if (lim->inf) {
        return lim->neg;
    }
    if (a >= b) {
        uint64_t d = a - b;
        return lim->neg ? (d > 0 || lim->mag > 0) : d > lim->mag;
    }
    return lim->neg && b - a < lim->mag;
}
