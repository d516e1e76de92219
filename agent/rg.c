/*
 * rg core: error texts, error-message buffers, allocation that aborts on
 * exhaustion, clocks and randomness. Nothing here touches the loop.
 */
#include "agent/rg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

const char *rg_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define RG_ERR_CASE(name, value, text)                                                             \
    case name:                                                                                     \
        return text;
        RG_ERRORS(RG_ERR_CASE)
#undef RG_ERR_CASE
    default:
        return "unknown error";
    }
}

void rg_errmsg_printf(char *errmsg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, RG_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
}

void rg_errmsg_wrapf(char *errmsg, const char *fmt, ...)
{
    char prefix[RG_ERRMSG_SIZE];
    char old[RG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errmsg, RG_ERRMSG_SIZE);
    old[RG_ERRMSG_SIZE - 1] = '\0';
    /* Both parts may be long: build by hand so truncation is explicit. */
    size_t plen = strlen(prefix);
    size_t olen = strlen(old);
    size_t pos = 0;
    size_t max = RG_ERRMSG_SIZE - 1;
    size_t n = plen < max ? plen : max;
    memcpy(errmsg, prefix, n);
    pos = n;
    n = max - pos < 2 ? max - pos : 2;
    memcpy(errmsg + pos, ": ", n);
    pos += n;
    n = olen < max - pos ? olen : max - pos;
    memcpy(errmsg + pos, old, n);
    pos += n;
    errmsg[pos] = '\0';
}

static void oom(size_t size) __attribute__((noreturn));
static void oom(size_t size)
{
    fprintf(stderr, "regent: out of memory allocating %zu bytes\n", size);
    abort();
}

void *rg_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL) {
        oom(size);
    }
    return p;
}

void *rg_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL) {
        oom(nmemb * size);
    }
    return p;
}

void *rg_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL) {
        oom(size);
    }
    return p;
}

char *rg_strdup(const char *s)
{
    return rg_strndup(s, strlen(s));
}

char *rg_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = rg_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *rg_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return rg_strdup("");
    }
    char *p = rg_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void rg_free(void *ptr)
{
    free(ptr);
}

static uint64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t rg_boottime_us(void)
{
    return clock_us(CLOCK_BOOTTIME);
}

uint64_t rg_boottime_ms(void)
{
    return clock_us(CLOCK_BOOTTIME) / 1000u;
}

uint64_t rg_realtime_ms(void)
{
    return clock_us(CLOCK_REALTIME) / 1000u;
}

void rg_iso8601(uint64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03u+00:00", base, (unsigned)(ms % 1000u));
}

/* @n decimal digits at *@p, advanced past them. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') {
            return false;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c) {
        return false;
    }
    (*p)++;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

/* "Z", "+HH", "+HHMM" or "+HH:MM" into minutes east of UTC. */
static bool zone(const char **p, int *minutes)
{
    if (expect(p, 'Z') || expect(p, 'z')) {
        *minutes = 0;
        return true;
    }
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    int hh, mm = 0;
    if (sign == 0) {
        return false;
    }
    (*p)++;
    if (!digits(p, 2, &hh) || hh > 23) {
        return false;
    }
    if (**p != '\0') {
        (void)expect(p, ':');
        if (!digits(p, 2, &mm) || mm > 59) {
            return false;
        }
    }
    *minutes = sign * (hh * 60 + mm);
    return true;
}

int rg_iso8601_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    int y, mo, d, h, mi, sec = 0, frac = 0;
    if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
        !digits(&p, 2, &d) || !(expect(&p, 'T') || expect(&p, 't') || expect(&p, ' ')) ||
        !digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi)) {
        return RG_EPARSE;
    }
    if (expect(&p, ':')) {
        if (!digits(&p, 2, &sec)) {
            return RG_EPARSE;
        }
        if (expect(&p, '.') || expect(&p, ',')) {
            int scale = 100, nd = 0;
            for (; *p >= '0' && *p <= '9'; p++, nd++) {
                frac += (*p - '0') * scale;
                scale /= 10;
            }
            if (nd == 0) {
                return RG_EPARSE;
            }
        }
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 60) {
        return RG_EPARSE;
    }
    int offset = 0;
    bool zoned = *p != '\0';
    if (zoned && (!zone(&p, &offset) || *p != '\0')) {
        return RG_EPARSE;
    }
    int64_t t = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - offset) * 60 + sec;
    *ms = t * 1000 + frac;
    return zoned ? 0 : RG_ENOENT;
}

int rg_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return RG_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void rg_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "regent: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
