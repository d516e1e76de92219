/*
 * rg: the core every Regent binary links — error codes, error messages,
 * allocation, time and small helpers.
 *
 * Errors are 0 or a negative RG_E* code (one X-macro table below); the text
 * for a code comes from rg_strerror(). Context travels in a caller-owned
 * buffer of RG_ERRMSG_SIZE bytes, filled with rg_errmsg_printf() and
 * prefixed with rg_errmsg_wrapf(), worded the PostgreSQL way:
 * `could not open "x": No such file or directory`.
 *
 * Running out of memory aborts inside rg_malloc() and friends (as h2o and
 * redis do), so callers never check for NULL.
 */
#ifndef REGENT_RG_H
#define REGENT_RG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define RG_ERRMSG_SIZE 256

/* X(name, value, text) */
#define RG_ERRORS(X)                                                                               \
    X(RG_EINVAL, -1, "invalid argument")                                                           \
    X(RG_ENOMEM, -2, "out of memory")                                                              \
    X(RG_EIO, -3, "input/output error")                                                            \
    X(RG_ENOENT, -4, "not found")                                                                  \
    X(RG_EEXIST, -5, "already exists")                                                             \
    X(RG_EPARSE, -6, "malformed input")                                                            \
    X(RG_ECONFIG, -7, "invalid configuration")                                                     \
    X(RG_ETIMEDOUT, -8, "timed out")                                                               \
    X(RG_ECANCELED, -9, "canceled")                                                                \
    X(RG_ENOTLEADER, -10, "not the Raft leader")                                                   \
    X(RG_ESHUTDOWN, -11, "shutting down")                                                          \
    X(RG_EAUTH, -12, "authentication failed")                                                      \
    X(RG_ECONFLICT, -13, "condition not met")                                                      \
    X(RG_EUNKNOWN, -14, "outcome unknown")                                                         \
    X(RG_ENOTMEMBER, -15, "not a member of the cluster")                                           \
    X(RG_EBUSY, -16, "busy")                                                                       \
    X(RG_EUNSUPPORTED, -17, "unsupported")                                                         \
    X(RG_ECONNECT, -18, "connection failed")                                                       \
    X(RG_ERAFT, -19, "raft error")

enum {
#define RG_ERR_ENUM(name, value, text) name = value,
    RG_ERRORS(RG_ERR_ENUM)
#undef RG_ERR_ENUM
};

/* The static text of an RG_E* code; "unknown error" for anything else. */
const char *rg_strerror(int code);

/* Fill @errmsg (RG_ERRMSG_SIZE bytes), truncating. */
void rg_errmsg_printf(char *errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix @errmsg with "<fmt>: ", truncating. */
void rg_errmsg_wrapf(char *errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation: aborts with a message when memory runs out. */
void *rg_malloc(size_t size);
void *rg_calloc(size_t nmemb, size_t size);
void *rg_realloc(void *ptr, size_t size);
char *rg_strdup(const char *s);
char *rg_strndup(const char *s, size_t n);
char *rg_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rg_free(void *ptr);

/*
 * Time. Lease and fencing decisions use rg_boottime_ms() (CLOCK_BOOTTIME,
 * which keeps counting through suspend), never the loop's cached uv_now().
 * rg_realtime_ms() is wall-clock time, for display only.
 */
uint64_t rg_boottime_ms(void);
uint64_t rg_boottime_us(void);
uint64_t rg_realtime_ms(void);

/* Format wall-clock @ms as ISO 8601 UTC with milliseconds into @buf. */
void rg_iso8601(uint64_t ms, char *buf, size_t len);

/*
 * Parse an ISO 8601 date and time, "2026-12-01T10:36:00+02:00" (a space for
 * the T, seconds and a fraction optional, "Z" or ±HH[:MM] for the zone) into
 * Unix milliseconds. 0; RG_ENOENT when it parses but has no zone (*@ms as
 * if it were UTC: the caller decides, as Patroni refuses naive schedules);
 * RG_EPARSE otherwise (a bad field, trailing text, a date that does not
 * exist, a year before 1970).
 */
int rg_iso8601_parse(const char *s, int64_t *ms);

/* Cryptographically random bytes (getrandom). 0 or RG_EIO. */
int rg_random_bytes(void *buf, size_t len);

#define rg_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define RG_ARRAY_SIZE(a)                   (sizeof(a) / sizeof((a)[0]))

/* For bugs only: abort with file and line. */
void rg_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define RG_ASSERT(e) ((e) ? (void)0 : rg_assert_fail(#e, __FILE__, __LINE__))
#define RG_PRE(e)    RG_ASSERT(e)
#define RG_POST(e)   RG_ASSERT(e)

#endif
