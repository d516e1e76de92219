/*
 * pgi_sql: a short libpq session on the loop — connect, run statements,
 * PQfinish — that never blocks.
 *
 * Happy path: PQconnectStartParams opens the socket; we poll it for
 * writing, then call PQconnectPoll whenever libuv says the socket is
 * ready, each time re-arming the poll for what libpq asks next
 * (PGRES_POLLING_READING/WRITING) on whatever socket PQsocket now names.
 * Once connected, the connection goes non-blocking (PQsetnonblocking) and
 * each statement is sent with PQsendQuery, flushed with PQflush while the
 * socket takes it, and its results read with PQconsumeInput, PQisBusy and
 * PQgetResult until PQgetResult returns NULL; then the next statement.
 * After the last one, or on any failure, we close the poll and timer
 * handles, PQfinish, and the last close callback calls the cb.
 *
 *     CONNECTING --OK--> RUNNING (statement i: send, flush, read) --last--> CLOSING --> cb
 *         |                  |                                              ^
 *         +--- failure, deadline or pgi_sql_cancel ------------------------+
 *
 * libpq's traps (../shared/STACK-NOTES.md): with a multi-host list libpq
 * closes and reopens its socket between PQconnectPoll calls, often under
 * the same number, so the poll is started again after every call (libuv
 * then registers the descriptor anew) and replaced when the number
 * changes; a libuv poll error still needs a PQconnectPoll to learn what
 * happened; connect_timeout is not enforced in non-blocking mode, hence
 * our own deadline timer over the whole session. PQconnectStart resolves
 * host names synchronously, so host names are refused up front.
 *
 * The poll handle is stopped before PQfinish closes its socket, and
 * before libpq can reuse the number: libuv must never hold a registration
 * for a descriptor that is not ours any more.
 */
#include "pg/pgi_sql.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

enum sql_state {
    SQL_CONNECTING, /* PQconnectPoll until OK or FAILED */
    SQL_RUNNING,    /* statement q->next - 1 is being sent or its results read */
    SQL_CLOSING,    /* handles closing, connection finished; cb at the last close */
};

/* Consecutive libuv poll errors tolerated while connecting before giving up. */
#define MAX_POLL_ERRORS 3

static void on_poll(uv_poll_t *h, int status, int events);

/* Copy the first line of @src into @errmsg, without trailing blanks. */
static void first_line(char *errmsg, const char *src)
{
    size_t n = strcspn(src, "\n");
    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\t' || src[n - 1] == '\r')) {
        n--;
    }
    rg_errmsg_printf(errmsg, "%.*s", (int)n, src);
}

static void free_results(struct pgi_result *results, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct pgi_result *r = &results[i];
        for (int c = 0; c < r->ncols; c++) {
            rg_free(r->names[c]);
        }
        for (size_t v = 0; v < (size_t)r->nrows * (size_t)r->ncols; v++) {
            rg_free(r->values[v]);
        }
        rg_free(r->names);
        rg_free(r->values);
    }
    rg_free(results);
}

static void deliver(struct pgi_sql *q)
{
    struct pgi_result *results = q->results;
    size_t n = q->n_results;
    /* The caller may free @q in the cb: nothing of it is touched after. */
    q->cb(q, q->status);
    free_results(results, n);
}

static void on_handle_close(uv_handle_t *h)
{
    struct pgi_sql *q = h->data;
    if (h->type == UV_POLL) {
        rg_free(h);
    }
    if (--q->open_handles == 0) {
        deliver(q);
    }
}

static void drop_poll(struct pgi_sql *q)
{
    if (q->poll != NULL) {
        uv_poll_stop(q->poll);
        uv_close((uv_handle_t *)q->poll, on_handle_close);
        q->poll = NULL;
        q->poll_fd = -1;
    }
}

/* End the session with @status (errmsg already set); the first call wins. */
static void finish(struct pgi_sql *q, int status)
{
    if (q->state == SQL_CLOSING) {
        return;
    }
    q->state = SQL_CLOSING;
    q->status = status;
    drop_poll(q); /* before PQfinish closes the socket */
    uv_timer_stop(&q->timer);
    uv_close((uv_handle_t *)&q->timer, on_handle_close);
    PQfinish(q->conn);
    q->conn = NULL;
    for (size_t i = 0; i < q->n_queries; i++) {
        rg_free(q->queries[i]);
    }
    rg_free(q->queries);
    q->queries = NULL;
}

/* Fail with libpq's connection message, first line. */
static void fail_conn(struct pgi_sql *q, int status)
{
    const char *m = q->conn != NULL ? PQerrorMessage(q->conn) : "";
    if (m[0] == '\0') {
        m = status == RG_ECONNECT ? "could not connect" : "connection lost";
    }
    first_line(q->errmsg, m);
    finish(q, status);
}

/* Poll the connection's socket for @events, following it if it changed. */
static int watch(struct pgi_sql *q, int events)
{
    int fd = PQsocket(q->conn);
    int rc;
    if (fd < 0) {
        rg_errmsg_printf(q->errmsg, "connection has no socket");
        return RG_EIO;
    }
    if (q->poll != NULL && q->poll_fd != fd) {
        drop_poll(q);
    }
    if (q->poll == NULL) {
        uv_poll_t *h = rg_malloc(sizeof *h);
        if ((rc = uv_poll_init_socket(q->loop, h, fd)) != 0) {
            rg_free(h); /* a failed init leaves nothing registered */
            rg_errmsg_printf(q->errmsg, "could not poll socket %d: %s", fd, uv_strerror(rc));
            return RG_EIO;
        }
        h->data = q;
        q->poll = h;
        q->poll_fd = fd;
        q->open_handles++;
    }
    if ((rc = uv_poll_start(q->poll, events, on_poll)) != 0) {
        rg_errmsg_printf(q->errmsg, "could not poll socket %d: %s", fd, uv_strerror(rc));
        return RG_EIO;
    }
    return 0;
}

static void copy_result(struct pgi_sql *q, const PGresult *res)
{
    if (q->n_results == q->cap_results) {
        q->cap_results = q->cap_results != 0 ? q->cap_results * 2 : 4;
        q->results = rg_realloc(q->results, q->cap_results * sizeof *q->results);
    }
    struct pgi_result *r = &q->results[q->n_results++];
    r->nrows = PQntuples(res);
    r->ncols = PQnfields(res);
    size_t nvalues = (size_t)r->nrows * (size_t)r->ncols;
    r->names = rg_calloc(r->ncols > 0 ? (size_t)r->ncols : 1, sizeof *r->names);
    r->values = rg_calloc(nvalues > 0 ? nvalues : 1, sizeof *r->values);
    for (int c = 0; c < r->ncols; c++) {
        r->names[c] = rg_strdup(PQfname(res, c));
    }
    for (int row = 0; row < r->nrows; row++) {
        for (int c = 0; c < r->ncols; c++) {
            if (!PQgetisnull(res, row, c)) {
                r->values[(size_t)row * (size_t)r->ncols + (size_t)c] =
                    rg_strdup(PQgetvalue(res, row, c));
            }
        }
    }
}

/* Keep @res or fail on it. Consumes @res; false when the session ended. */
static bool take_result(struct pgi_sql *q, PGresult *res)
{
    const char *m, *state;
    switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        copy_result(q, res);
        PQclear(res);
        return true;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        PQclear(res);
        rg_errmsg_printf(q->errmsg, "statement %zu: COPY is not supported", q->next);
        finish(q, RG_EIO);
        return false;
    default:
        m = PQresultErrorMessage(res);
        first_line(q->errmsg, m[0] != '\0' ? m : PQerrorMessage(q->conn));
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(q->sqlstate, sizeof q->sqlstate, "%s", state != NULL ? state : "");
        PQclear(res);
        finish(q, RG_EIO);
        return false;
    }
}

static void send_next(struct pgi_sql *q)
{
    if (q->next == q->n_queries) {
        finish(q, 0);
        return;
    }
    if (!PQsendQuery(q->conn, q->queries[q->next++])) {
        fail_conn(q, RG_EIO);
        return;
    }
    int r = PQflush(q->conn);
    if (r < 0) {
        fail_conn(q, RG_EIO);
        return;
    }
    q->flushing = r == 1;
    if (watch(q, UV_READABLE | (q->flushing ? UV_WRITABLE : 0)) != 0) {
        finish(q, RG_EIO);
    }
}

static void step_connect(struct pgi_sql *q)
{
    int rc = 0;
    switch (PQconnectPoll(q->conn)) {
    case PGRES_POLLING_READING:
        rc = watch(q, UV_READABLE);
        break;
    case PGRES_POLLING_WRITING:
    case PGRES_POLLING_ACTIVE: /* unused by libpq; "call again" */
        rc = watch(q, UV_WRITABLE);
        break;
    case PGRES_POLLING_OK:
        /* Non-blocking from now on: PQsendQuery, PQflush and PQfinish's
         * goodbye never wait for the socket. */
        if (PQsetnonblocking(q->conn, 1) != 0) {
            fail_conn(q, RG_ECONNECT);
            return;
        }
        q->state = SQL_RUNNING;
        send_next(q);
        return;
    case PGRES_POLLING_FAILED:
    default:
        fail_conn(q, RG_ECONNECT);
        return;
    }
    if (rc != 0) {
        finish(q, RG_ECONNECT);
    }
}

/* The socket is ready (or in error) while a statement runs. */
static void step_running(struct pgi_sql *q, int status)
{
    if (q->flushing) {
        int r = PQflush(q->conn);
        if (r < 0) {
            fail_conn(q, RG_EIO);
            return;
        }
        q->flushing = r == 1;
    }
    if (!PQconsumeInput(q->conn)) {
        fail_conn(q, RG_EIO);
        return;
    }
    while (!PQisBusy(q->conn)) {
        PGresult *res = PQgetResult(q->conn);
        if (res == NULL) {
            send_next(q); /* this statement is done */
            return;
        }
        if (!take_result(q, res)) {
            return;
        }
    }
    if (status < 0) {
        /* libpq saw nothing wrong, but the poll will keep failing. */
        rg_errmsg_printf(q->errmsg, "could not poll connection: %s", uv_strerror(status));
        finish(q, RG_EIO);
        return;
    }
    if (watch(q, UV_READABLE | (q->flushing ? UV_WRITABLE : 0)) != 0) {
        finish(q, RG_EIO);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct pgi_sql *q = h->data;
    (void)events; /* libpq finds out itself what the socket is ready for */
    if (q->state == SQL_CONNECTING) {
        /* A poll error too goes to PQconnectPoll, which finds the real
         * error or moves to the next host; but not forever. */
        if (status < 0 && ++q->poll_errors > MAX_POLL_ERRORS) {
            rg_errmsg_printf(q->errmsg, "could not poll connection: %s", uv_strerror(status));
            finish(q, RG_ECONNECT);
            return;
        }
        if (status == 0) {
            q->poll_errors = 0;
        }
        step_connect(q);
    } else if (q->state == SQL_RUNNING) {
        step_running(q, status);
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct pgi_sql *q = t->data;
    if (q->state == SQL_CONNECTING) {
        rg_errmsg_printf(q->errmsg, "timed out after %u ms while connecting", q->timeout_ms);
    } else {
        rg_errmsg_printf(q->errmsg, "timed out after %u ms while running statement %zu",
                         q->timeout_ms, q->next);
    }
    finish(q, RG_ETIMEDOUT);
}

void pgi_sql_cancel(struct pgi_sql *q)
{
    if (q->state != SQL_CLOSING) {
        rg_errmsg_printf(q->errmsg, "canceled");
        finish(q, RG_ECANCELED);
    }
}

/* An IP address or a socket directory, for each entry of a host list. */
static bool host_list_ok(const char *hosts, char *errmsg)
{
    const char *p = hosts;
    for (;;) {
        size_t n = strcspn(p, ",");
        char host[256];
        unsigned char addr[16];
        if (n >= sizeof host) {
            rg_errmsg_printf(errmsg, "host \"%.40s...\" is too long", p);
            return false;
        }
        memcpy(host, p, n);
        host[n] = '\0';
        if (n > 0 && host[0] != '/' && host[0] != '@' && inet_pton(AF_INET, host, addr) != 1 &&
            inet_pton(AF_INET6, host, addr) != 1) {
            rg_errmsg_printf(errmsg, "host \"%s\" is neither an IP address nor a socket directory",
                             host);
            return false;
        }
        if (p[n] == '\0') {
            return true;
        }
        p += n + 1;
    }
}

static bool params_ok(const char *const *keywords, const char *const *values, char *errmsg)
{
    const char *host = NULL;
    bool hostaddr = false;
    for (size_t i = 0; keywords[i] != NULL; i++) {
        if (values[i] == NULL) {
            continue;
        }
        if (strcmp(keywords[i], "host") == 0) {
            host = values[i];
        } else if (strcmp(keywords[i], "hostaddr") == 0 && values[i][0] != '\0') {
            hostaddr = true;
        }
    }
    return host == NULL || hostaddr || host_list_ok(host, errmsg);
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int pgi_sql_start(uv_loop_t *loop,
                  struct pgi_sql *q,
                  const char *const *keywords,
                  const char *const *values,
                  const char *const *queries,
                  size_t n_queries,
                  unsigned timeout_ms,
                  pgi_sql_cb cb)
{
    q->results = NULL;
    q->n_results = 0;
    q->sqlstate[0] = '\0';
    q->errmsg[0] = '\0';
    if (loop == NULL || keywords == NULL || values == NULL || (queries == NULL && n_queries > 0) ||
        timeout_ms == 0 || cb == NULL) {
        rg_errmsg_printf(q->errmsg, "invalid arguments");
        return RG_EINVAL;
    }
    for (size_t i = 0; i < n_queries; i++) {
        if (queries[i] == NULL) {
            rg_errmsg_printf(q->errmsg, "statement %zu is NULL", i + 1);
            return RG_EINVAL;
        }
    }
    if (!params_ok(keywords, values, q->errmsg)) {
        return RG_EINVAL;
    }
    q->conn = PQconnectStartParams(keywords, values, 0);
    if (q->conn == NULL) {
        rg_errmsg_printf(q->errmsg, "out of memory for a connection");
        return RG_ENOMEM;
    }
    PQsetNoticeProcessor(q->conn, ignore_notice, NULL);

    q->loop = loop;
    q->poll = NULL;
    q->poll_fd = -1;
    q->poll_errors = 0;
    q->state = SQL_CONNECTING;
    q->status = 0;
    q->flushing = false;
    q->timeout_ms = timeout_ms;
    q->queries = rg_calloc(n_queries > 0 ? n_queries : 1, sizeof *q->queries);
    for (size_t i = 0; i < n_queries; i++) {
        q->queries[i] = rg_strdup(queries[i]);
    }
    q->n_queries = n_queries;
    q->next = 0;
    q->cap_results = 0;
    q->cb = cb;
    uv_timer_init(loop, &q->timer);
    q->timer.data = q;
    q->open_handles = 1;
    uv_timer_start(&q->timer, on_deadline, timeout_ms, 0);

    /* Failures from here on reach the cb: finish() only closes handles,
     * whose callbacks run on a later loop iteration. */
    if (PQstatus(q->conn) == CONNECTION_BAD) {
        fail_conn(q, RG_ECONNECT);
    } else if (watch(q, UV_WRITABLE) != 0) { /* libpq: start as if told "writing" */
        finish(q, RG_ECONNECT);
    }
    return 0;
}

const char *pgi_result_get(const struct pgi_result *res, int row, const char *col)
{
    if (res == NULL || col == NULL || row < 0 || row >= res->nrows) {
        return NULL;
    }
    for (int c = 0; c < res->ncols; c++) {
        if (strcmp(res->names[c], col) == 0) {
            return res->values[(size_t)row * (size_t)res->ncols + (size_t)c];
        }
    }
    return NULL;
}
