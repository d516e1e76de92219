/*
 * pgi_sql: connect, run a few statements, disconnect — on non-blocking
 * libpq under uv_poll, with one deadline for the whole of it.
 *
 * Every statement is sent with the simple query protocol (PQsendQuery), so
 * replication commands such as IDENTIFY_SYSTEM or TIMELINE_HISTORY 2 work
 * on a replication=1 connection. Results are copied out of libpq as text.
 * Nothing resolves host names: callers pass an IP literal or a Unix socket
 * directory (see pgi_sql_start).
 */
#ifndef REGENT_PGI_SQL_H
#define REGENT_PGI_SQL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "agent/rg.h"

/* One result of a statement, in text. */
struct pgi_result {
    int nrows, ncols;
    char **names;  /* owned: ncols column names */
    char **values; /* owned: nrows*ncols, row-major; NULL for SQL NULL */
};

struct pgi_sql;
typedef void (*pgi_sql_cb)(struct pgi_sql *q, int status);

struct pgi_sql {
    void *data;                 /* caller's; pgi_sql never touches it */
    struct pgi_result *results; /* borrowed, valid during cb only: one per result */
    size_t n_results;
    char sqlstate[6]; /* of the failing statement, "" otherwise */
    char errmsg[RG_ERRMSG_SIZE];
    /* private */
    uv_loop_t *loop;      /* borrowed */
    PGconn *conn;         /* owned; PQfinish()ed before cb */
    uv_poll_t *poll;      /* owned: on PQsocket(conn); a new one when the socket changes */
    int poll_fd;          /* the socket @poll watches */
    unsigned poll_errors; /* consecutive libuv poll errors while connecting */
    uv_timer_t timer;     /* the deadline */
    unsigned open_handles;
    int state;     /* enum sql_state in pgi_sql.c */
    int status;    /* what cb will get */
    bool flushing; /* the current statement is not all sent yet */
    unsigned timeout_ms;
    char **queries; /* owned: copies */
    size_t n_queries, next;
    size_t cap_results; /* of @results */
    pgi_sql_cb cb;
};

/*
 * Connect with @keywords/@values (NULL-terminated arrays, as
 * PQconnectStartParams with expand_dbname 0), run each of @queries in
 * turn, at most @timeout_ms in all (connecting included), then PQfinish.
 * A query string may hold several statements; each result is one entry
 * of q->results. With @n_queries 0 it only connects.
 *
 * "host" (each entry of a comma-separated list) must be an IP address or
 * a Unix socket directory starting with '/' (or '@'), unless "hostaddr"
 * is given: libpq would resolve a name synchronously. Without "host",
 * libpq's defaults apply (PGHOST, then the default socket directory).
 *
 * status in cb:
 *   0             all ran;
 *   RG_ECONNECT   could not connect (errmsg: libpq's message, first line);
 *   RG_EIO        a statement failed or the connection broke (errmsg:
 *                 "ERROR:  …", sqlstate set when the server sent one;
 *                 results holds those before it); COPY is refused as such;
 *   RG_ETIMEDOUT  the deadline passed;
 *   RG_ECANCELED  pgi_sql_cancel.
 * 0 return: cb fires once, never inside this call, after the poll and
 * timer handles are closed and the connection finished (the caller may
 * free @q in cb; results are freed after cb returns).
 * Error return (RG_EINVAL: a NULL argument, @timeout_ms 0, a host name;
 * RG_ENOMEM: libpq could not allocate), with @q->errmsg: cb never fires.
 * All strings are copied.
 */
int pgi_sql_start(uv_loop_t *loop,
                  struct pgi_sql *q,
                  const char *const *keywords,
                  const char *const *values,
                  const char *const *queries,
                  size_t n_queries,
                  unsigned timeout_ms,
                  pgi_sql_cb cb);

/* Stop now: cb fires (later) with RG_ECANCELED, unless it is already
 * finishing with another status. A statement running on the server is not
 * cancelled there; it ends when the server sees the connection gone. */
void pgi_sql_cancel(struct pgi_sql *q);

/* The value at @row, column named @col, or NULL (no such row or column, or SQL NULL). */
const char *pgi_result_get(const struct pgi_result *res, int row, const char *col);

#endif
