/*
 * pgi_proc: one program run under uv_spawn, with a deadline.
 *
 * Happy path: pgi_proc_start() makes a pipe, opens its read end as a
 * uv_pipe_t, spawns the program with /dev/null as stdin and the pipe's
 * write end as both stdout and stderr, and arms the deadline timer. Output
 * is appended to a buffer that keeps the last max_output bytes (and cut
 * into lines for the log). When the program exits, whatever it wrote is
 * already in the pipe: we stop libuv's reading and drain the pipe
 * ourselves with non-blocking read()s until it is empty, then close the
 * three handles. The last close callback hands the result to the caller.
 *
 * Why not wait for EOF: a program may leave a child behind that inherited
 * the pipe (`pg_ctl start` and the postmaster; `sh -c 'sleep 5 & echo'`),
 * and EOF would then come only when that child exits. Its later output is
 * not ours to wait for.
 *
 *     RUNNING --deadline--> TERMINATING --grace--> KILLING
 *        |   (SIGTERM sent)      |     (SIGKILL sent)  |
 *        +--------exit-----------+--------exit---------+--> CLOSING --last close--> cb
 *
 *     spawn failed: ABANDONED --last close--> run freed, no cb
 *
 * Failure modes: the spawn fails (no such program, not executable, no
 * such cwd): RG_EIO at once, no cb. The deadline passes: SIGTERM, and
 * SIGKILL once the grace is over; the cb says RG_ETIMEDOUT. A process
 * that survives SIGKILL (stuck in the kernel) keeps the run open until
 * it dies, since its handle must see the exit to reap it.
 *
 * The handles live in a heap block (struct pgi_proc_run), not in the
 * caller's struct: a failed uv_spawn still leaves its handle registered
 * with the loop and it must be closed, which takes a loop iteration, while
 * our contract lets the caller free the request as soon as the start
 * function returns an error.
 */
#include "pg/pgi_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/rg_log.h"

#define DEFAULT_KILL_GRACE_MS 2000
#define DEFAULT_MAX_OUTPUT    65536
#define LINE_MAX_LOGGED       1024 /* longer lines are logged in pieces */
#define DRAIN_MAX_READS       64   /* after exit, at most this many reads of READ_BUF */
#define READ_BUF              16384

enum proc_state {
    PROC_RUNNING,     /* running; deadline armed (if any) */
    PROC_TERMINATING, /* deadline passed: SIGTERM sent, kill grace armed */
    PROC_KILLING,     /* grace passed: SIGKILL sent, waiting for the exit */
    PROC_CLOSING,     /* exited: closing the handles; cb at the last close */
    PROC_ABANDONED,   /* start failed: closing the handles; no cb, free at the last close */
};

struct pgi_proc_run {
    struct pgi_proc *p; /* borrowed: the caller's request; NULL once abandoned */
    uv_process_t process;
    uv_pipe_t out;    /* read end of the child's stdout+stderr */
    uv_timer_t timer; /* the deadline, then the kill grace */
    unsigned open_handles;
    enum proc_state state;
    bool out_open; /* @out not closed yet (an error or EOF closes it early) */
    bool timed_out;
    unsigned timeout_ms, kill_grace_ms;
    pgi_proc_cb cb;

    char *buf; /* owned: the last max_output bytes of output, room for a NUL */
    size_t len, cap, max_output;
    char *log_module; /* owned; NULL: lines are not logged */
    char line[LINE_MAX_LOGGED + 1];
    size_t line_len;
    char name[64]; /* basename of the program, for messages */
    char readbuf[READ_BUF];
};

static void log_line(struct pgi_proc_run *r)
{
    r->line[r->line_len] = '\0';
    rg_log(RG_INFO, r->log_module, "%s: %s", r->name, r->line);
    r->line_len = 0;
}

/* Cut @data into lines for the log; a line's "\r\n" loses its "\r". */
static void log_output(struct pgi_proc_run *r, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            if (r->line_len > 0 && r->line[r->line_len - 1] == '\r') {
                r->line_len--;
            }
            log_line(r);
        } else {
            r->line[r->line_len++] = data[i];
            if (r->line_len == LINE_MAX_LOGGED) {
                log_line(r);
            }
        }
    }
}

/* Keep the last max_output bytes of everything appended. */
static void append_output(struct pgi_proc_run *r, const char *data, size_t n)
{
    if (r->log_module != NULL) {
        log_output(r, data, n);
    }
    if (n >= r->max_output) {
        data += n - r->max_output;
        n = r->max_output;
    }
    if (r->len + n > r->max_output) {
        size_t drop = r->len + n - r->max_output;
        memmove(r->buf, r->buf + drop, r->len - drop);
        r->len -= drop;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap * 2;
        while (cap < r->len + n + 1) {
            cap *= 2;
        }
        r->cap = cap < r->max_output + 1 ? cap : r->max_output + 1;
        r->buf = rg_realloc(r->buf, r->cap);
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
}

static void free_run(struct pgi_proc_run *r)
{
    rg_free(r->buf);
    rg_free(r->log_module);
    rg_free(r);
}

/* Hand the result over: the caller may free its request in the cb, so
 * nothing of it is touched afterwards. */
static void deliver(struct pgi_proc_run *r)
{
    struct pgi_proc *p = r->p;
    int status = r->timed_out ? RG_ETIMEDOUT : 0;

    if (r->log_module != NULL && r->line_len > 0) {
        log_line(r);
    }
    r->buf[r->len] = '\0';
    p->output = r->buf;
    p->output_len = r->len;
    if (!r->timed_out) {
        if (p->term_signal != 0) {
            rg_errmsg_printf(p->errmsg, "%s: killed by signal %d", r->name, p->term_signal);
        } else if (p->exit_status != 0) {
            rg_errmsg_printf(p->errmsg, "%s: exit status %d", r->name, p->exit_status);
        }
    }
    p->run = NULL;
    r->cb(p, status);
    free_run(r);
}

static void on_close(uv_handle_t *h)
{
    struct pgi_proc_run *r = h->data;
    if (--r->open_handles > 0) {
        return;
    }
    if (r->state == PROC_ABANDONED) {
        free_run(r);
    } else {
        deliver(r);
    }
}

static void close_out(struct pgi_proc_run *r)
{
    if (r->out_open) {
        r->out_open = false;
        uv_close((uv_handle_t *)&r->out, on_close);
    }
}

/* Read what is left in the pipe without waiting: the program has exited,
 * so all it wrote is there; a leftover child may write more, hence the
 * bound on reads. */
static void drain_out(struct pgi_proc_run *r)
{
    uv_os_fd_t fd;
    if (!r->out_open || uv_fileno((uv_handle_t *)&r->out, &fd) != 0) {
        return;
    }
    uv_read_stop((uv_stream_t *)&r->out);
    for (int i = 0; i < DRAIN_MAX_READS; i++) {
        ssize_t n = read(fd, r->readbuf, sizeof r->readbuf);
        if (n > 0) {
            append_output(r, r->readbuf, (size_t)n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break; /* EOF, EAGAIN (empty), or an error */
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct pgi_proc_run *r = h->data;
    (void)suggested;
    *buf = uv_buf_init(r->readbuf, sizeof r->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct pgi_proc_run *r = s->data;
    if (nread > 0) {
        append_output(r, buf->base, (size_t)nread);
    } else if (nread < 0) {
        /* EOF or an error: the exit is still to come; the process handle
         * and the deadline carry on without the pipe. */
        close_out(r);
    }
}

static void on_process_exit(uv_process_t *h, int64_t exit_status, int term_signal)
{
    struct pgi_proc_run *r = h->data;
    r->p->exit_status = (int)exit_status;
    r->p->term_signal = term_signal;
    drain_out(r);
    r->state = PROC_CLOSING;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_close);
    uv_close((uv_handle_t *)&r->process, on_close);
    close_out(r);
}

static void format_duration(unsigned ms, char *buf, size_t len)
{
    if (ms % 1000 == 0) {
        snprintf(buf, len, "%u s", ms / 1000);
    } else {
        snprintf(buf, len, "%u ms", ms);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct pgi_proc_run *r = t->data;
    if (r->state == PROC_RUNNING) {
        char d[32];
        format_duration(r->timeout_ms, d, sizeof d);
        rg_errmsg_printf(r->p->errmsg, "%s: timed out after %s", r->name, d);
        r->timed_out = true;
        r->state = PROC_TERMINATING;
        uv_process_kill(&r->process, SIGTERM);
        uv_timer_start(&r->timer, on_timer, r->kill_grace_ms, 0);
    } else if (r->state == PROC_TERMINATING) {
        r->state = PROC_KILLING;
        uv_process_kill(&r->process, SIGKILL);
    }
}

/* Close what was opened of a run that did not start; it frees itself. */
static void abandon(struct pgi_proc_run *r, bool process_init, bool out_init)
{
    r->state = PROC_ABANDONED;
    r->p = NULL;
    r->open_handles = 0;
    if (process_init) {
        r->open_handles++;
        uv_close((uv_handle_t *)&r->process, on_close);
    }
    if (out_init) {
        r->open_handles++;
        uv_close((uv_handle_t *)&r->out, on_close);
    }
    if (r->open_handles == 0) {
        free_run(r);
    }
}

static struct pgi_proc_run *
run_new(struct pgi_proc *p, const struct pgi_proc_options *o, pgi_proc_cb cb)
{
    struct pgi_proc_run *r = rg_calloc(1, sizeof *r);
    const char *slash = strrchr(o->file, '/');
    r->p = p;
    r->cb = cb;
    r->timeout_ms = o->timeout_ms;
    r->kill_grace_ms = o->kill_grace_ms != 0 ? o->kill_grace_ms : DEFAULT_KILL_GRACE_MS;
    r->max_output = o->max_output != 0 ? o->max_output : DEFAULT_MAX_OUTPUT;
    r->cap = r->max_output + 1 < 4096 ? r->max_output + 1 : 4096;
    r->buf = rg_malloc(r->cap);
    r->log_module = o->log_module != NULL ? rg_strdup(o->log_module) : NULL;
    snprintf(r->name, sizeof r->name, "%s", slash != NULL ? slash + 1 : o->file);
    return r;
}

int pgi_proc_start(uv_loop_t *loop,
                   struct pgi_proc *p,
                   const struct pgi_proc_options *o,
                   pgi_proc_cb cb)
{
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];
    uv_file fds[2];
    char *default_args[2];
    int rc;

    p->exit_status = 0;
    p->term_signal = 0;
    p->output = NULL;
    p->output_len = 0;
    p->errmsg[0] = '\0';
    p->run = NULL;
    if (loop == NULL || o == NULL || o->file == NULL || o->file[0] == '\0' || cb == NULL) {
        rg_errmsg_printf(p->errmsg, "no program to run");
        return RG_EINVAL;
    }

    if ((rc = uv_pipe(fds, 0, 0)) != 0) {
        rg_errmsg_printf(p->errmsg, "could not run \"%s\": could not create pipe: %s", o->file,
                         uv_strerror(rc));
        return RG_EIO;
    }
    struct pgi_proc_run *r = run_new(p, o, cb);
    uv_pipe_init(loop, &r->out, 0);
    r->out.data = r;
    if ((rc = uv_pipe_open(&r->out, fds[0])) != 0) {
        rg_errmsg_printf(p->errmsg, "could not run \"%s\": %s", o->file, uv_strerror(rc));
        close(fds[0]);
        close(fds[1]);
        abandon(r, false, true);
        return RG_EIO;
    }

    memset(&po, 0, sizeof po);
    default_args[0] = (char *)o->file;
    default_args[1] = NULL;
    stdio[0].flags = UV_IGNORE; /* /dev/null */
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = fds[1];
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = fds[1];
    po.file = o->file;
    po.args = o->args != NULL ? o->args : default_args;
    po.env = o->env;
    po.cwd = o->cwd;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = on_process_exit;
    rc = uv_spawn(loop, &r->process, &po);
    r->process.data = r; /* a failed spawn registers the handle too */
    close(fds[1]);       /* the child has its copy */
    if (rc != 0) {
        rg_errmsg_printf(p->errmsg, "could not run \"%s\": %s", o->file, uv_strerror(rc));
        abandon(r, true, true); /* closes fds[0] with the pipe handle */
        return RG_EIO;
    }

    r->open_handles = 3;
    r->out_open = true;
    r->state = PROC_RUNNING;
    p->run = r;
    if (uv_read_start((uv_stream_t *)&r->out, on_alloc, on_read) != 0) {
        close_out(r); /* cannot happen on a fresh pipe; the exit still completes the run */
    }
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    if (o->timeout_ms != 0) {
        uv_timer_start(&r->timer, on_timer, o->timeout_ms, 0);
    }
    return 0;
}

void pgi_proc_kill(struct pgi_proc *p, int signum)
{
    struct pgi_proc_run *r = p->run;
    if (r != NULL && r->state < PROC_CLOSING) {
        uv_process_kill(&r->process, signum);
    }
}
