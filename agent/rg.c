/*
 * rg core: error texts, error-message buffers, allocation that aborts on
 * exhaustion, clocks and randomness. Nothing here touches the loop.
 */
#include "agent/rg.h"

#include <errno.h>
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
