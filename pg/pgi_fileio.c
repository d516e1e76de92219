/*
 * pgi_fileio: one worker thread that does file work on PostgreSQL's disks.
 *
 * Happy path. A submission (loop thread) copies its arguments into the
 * caller's struct pgi_fop, appends it to the `todo` list under the mutex and
 * signals the worker. The worker pops the head, runs it with no lock held,
 * appends it to the `done` list and pokes the uv_async_t. The async callback
 * (loop thread) drains `done` in order: it frees the op's private copies,
 * runs op->cb (which may free or resubmit the op) and then frees the content
 * the op read. uv_async_send coalesces, so one callback may drain many ops.
 *
 * Stop. pgi_fileio_stop moves `todo` to `done` with RG_ECANCELED and sets
 * `stopping`; the worker finishes the op in progress, hands it back, sets
 * `exited` and pokes the async once more. The async callback that sees
 * `exited` with nothing left to drain joins the thread (it has already left
 * its loop, so the join is short), then closes the async handle; its close
 * callback fires the caller's stop callback and frees the struct. The join
 * comes before uv_close so that no uv_async_send can race with the close.
 *
 * Failure modes. Each op reports errno as RG_ENOENT (ENOENT) or RG_EIO with a
 * PostgreSQL-style message; a write that fails leaves no .tmp file behind. A
 * hung disk blocks the worker, never the loop: later ops wait in `todo` and
 * stop waits for the op in progress.
 *
 * States of one op: QUEUED (todo) -> RUNNING (worker) -> DONE (done) -> cb;
 * or QUEUED -> DONE with RG_ECANCELED at stop.
 */
#include "pg/pgi_fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pgi_fileio {
    uv_loop_t *loop;  /* borrowed */
    uv_async_t async; /* worker -> loop: completions, exit */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* loop -> worker: work queued, or stop */
    /* under mu */
    struct pgi_fop *todo, **todo_tail;
    struct pgi_fop *done, **done_tail;
    bool stopping; /* the worker exits after the op in progress */
    bool exited;   /* the worker has left its loop */
    /* loop thread only */
    bool stopped; /* pgi_fileio_stop was called: no new submissions */
    bool closing; /* the async handle is closing */
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

/* --- the worker's operations --------------------------------------------- */

/* Fill op->status and op->errmsg from @err (an errno): "<fmt>: <strerror>". */
static void __attribute__((format(printf, 3, 4)))
op_fail(struct pgi_fop *op, int err, const char *fmt, ...)
{
    char what[RG_ERRMSG_SIZE];
    char text[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (strerror_r(err, text, sizeof text) != 0) {
        snprintf(text, sizeof text, "error %d", err);
    }
    rg_errmsg_printf(op->errmsg, "%s: %s", what, text);
    op->status = err == ENOENT ? RG_ENOENT : RG_EIO;
}

/* The directory part of @path, rg_malloc'd ("." or "/" at the extremes). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return rg_strdup(".");
    }
    if (slash == path) {
        return rg_strdup("/");
    }
    return rg_strndup(path, (size_t)(slash - path));
}

/* fsync the directory holding @path, so a rename or unlink in it is durable.
 * EINVAL/EBADF mean the file system cannot fsync directories (PostgreSQL's
 * fsync_fname ignores them too). 0 or -1 with op filled. */
static int fsync_dir_of(struct pgi_fop *op, const char *path)
{
    char *dir = dir_of(path);
    int rc = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        op_fail(op, errno, "could not open directory \"%s\"", dir);
        rc = -1;
    } else {
        if (fsync(fd) != 0 && errno != EINVAL && errno != EBADF) {
            op_fail(op, errno, "could not fsync directory \"%s\"", dir);
            rc = -1;
        }
        close(fd);
    }
    rg_free(dir);
    return rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void do_write(struct pgi_fop *op)
{
    char *tmp = rg_asprintf("%s.tmp", op->path);
    int fd;

    /* A .tmp left by a crash (or planted as a symlink) is removed first, and
     * O_EXCL makes sure we write a fresh file of our own. */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        op_fail(op, errno, "could not remove \"%s\"", tmp);
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        op_fail(op, errno, "could not open \"%s\"", tmp);
        goto out;
    }
    /* fchmod, not open's mode: the umask must not change what we asked for. */
    if (fchmod(fd, (mode_t)op->mode) != 0) {
        op_fail(op, errno, "could not change the mode of \"%s\"", tmp);
    } else if (write_all(fd, op->wcontent, op->wlen) != 0) {
        op_fail(op, errno, "could not write \"%s\"", tmp);
    } else if (fsync(fd) != 0) {
        op_fail(op, errno, "could not fsync \"%s\"", tmp);
    }
    if (close(fd) != 0 && op->status == 0) {
        op_fail(op, errno, "could not close \"%s\"", tmp);
    }
    if (op->status == 0 && rename(tmp, op->path) != 0) {
        op_fail(op, errno, "could not rename \"%s\" to \"%s\"", tmp, op->path);
    }
    if (op->status != 0) {
        unlink(tmp);
        goto out;
    }
    fsync_dir_of(op, op->path);
out:
    rg_free(tmp);
}

static void do_read(struct pgi_fop *op)
{
    /* One byte more than allowed tells a file of exactly max_len bytes from
     * a longer one. */
    size_t limit = op->max_len < SIZE_MAX - 1 ? op->max_len + 1 : SIZE_MAX - 1;
    size_t cap = limit < 8192 ? limit : 8192;
    size_t len = 0;
    char *buf;
    int fd = open(op->path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        op_fail(op, errno, "could not open \"%s\"", op->path);
        return;
    }
    buf = rg_malloc(cap + 1);
    while (len < limit) {
        if (len == cap) {
            cap = cap > limit / 2 ? limit : cap * 2;
            buf = rg_realloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            op_fail(op, errno, "could not read \"%s\"", op->path);
            break;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    if (op->status == 0 && len > op->max_len) {
        rg_errmsg_printf(op->errmsg, "\"%s\" is larger than %zu bytes", op->path, op->max_len);
        op->status = RG_EIO;
    }
    if (op->status != 0) {
        rg_free(buf);
        return;
    }
    buf[len] = '\0';
    op->content = buf;
    op->len = len;
}

static void do_stat(struct pgi_fop *op)
{
    struct stat st;
    if (stat(op->path, &st) != 0) {
        if (errno != ENOENT) {
            op_fail(op, errno, "could not stat \"%s\"", op->path);
        }
        return;
    }
    op->exists = true;
    op->is_dir = S_ISDIR(st.st_mode);
    if (!op->is_dir) {
        return;
    }
    DIR *d = opendir(op->path);
    if (d == NULL) {
        op_fail(op, errno, "could not open directory \"%s\"", op->path);
        return;
    }
    struct dirent *de;
    op->dir_empty = true;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            op->dir_empty = false;
            break;
        }
    }
    if (de == NULL && errno != 0) {
        op_fail(op, errno, "could not read directory \"%s\"", op->path);
    }
    closedir(d);
}

static void do_unlink(struct pgi_fop *op)
{
    if (unlink(op->path) != 0) {
        if (errno != ENOENT) {
            op_fail(op, errno, "could not remove \"%s\"", op->path);
        }
        return;
    }
    fsync_dir_of(op, op->path);
}

static void do_rename(struct pgi_fop *op)
{
    if (rename(op->path, op->path2) != 0) {
        op_fail(op, errno, "could not rename \"%s\" to \"%s\"", op->path, op->path2);
        return;
    }
    char *from_dir = dir_of(op->path);
    char *to_dir = dir_of(op->path2);
    if (fsync_dir_of(op, op->path2) == 0 && strcmp(from_dir, to_dir) != 0) {
        fsync_dir_of(op, op->path);
    }
    rg_free(from_dir);
    rg_free(to_dir);
}

/*
 * Remove @name, relative to the open directory @parent, and what is below it;
 * @path names it in messages. Symlinks are never followed: fstatat looks at
 * the link itself, and a directory is opened with O_NOFOLLOW | O_DIRECTORY, so
 * an entry swapped for a symlink after the fstatat fails instead of leading
 * us out of the tree. 0 or -1 with op filled.
 */
static int rm_entry(struct pgi_fop *op, int parent, const char *name, const char *path)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
            return 0;
        }
        op_fail(op, errno, "could not stat \"%s\"", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent, name, 0) != 0 && errno != ENOENT) {
            op_fail(op, errno, "could not remove \"%s\"", path);
            return -1;
        }
        return 0;
    }
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        op_fail(op, errno, "could not open directory \"%s\"", path);
        return -1;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        op_fail(op, errno, "could not open directory \"%s\"", path);
        close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0) {
                op_fail(op, errno, "could not read directory \"%s\"", path);
                rc = -1;
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        char *child = rg_asprintf("%s/%s", path, de->d_name);
        rc = rm_entry(op, dirfd(d), de->d_name, child);
        rg_free(child);
        if (rc != 0) {
            break;
        }
    }
    closedir(d);
    if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        op_fail(op, errno, "could not remove directory \"%s\"", path);
        rc = -1;
    }
    return rc;
}

static void do_rmtree(struct pgi_fop *op)
{
    if (op->path[0] == '\0' || strcmp(op->path, "/") == 0) {
        rg_errmsg_printf(op->errmsg, "refusing to remove \"%s\"", op->path);
        op->status = RG_EIO;
        return;
    }
    rm_entry(op, AT_FDCWD, op->path, op->path);
}

/* Create @p (NUL-terminated prefix of the path) if missing; @last is the
 * final component. 0 or -1 with op filled. */
static int mkdir_one(struct pgi_fop *op, const char *p, bool last)
{
    struct stat st;
    if (mkdir(p, (mode_t)op->mode) == 0) {
        if (chmod(p, (mode_t)op->mode) != 0) {
            op_fail(op, errno, "could not change the mode of \"%s\"", p);
            return -1;
        }
        return 0;
    }
    if (errno != EEXIST) {
        op_fail(op, errno, "could not create directory \"%s\"", p);
        return -1;
    }
    /* An intermediate component that is not a directory makes the next
     * mkdir fail with ENOTDIR, which says it better. */
    if (last && (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))) {
        op_fail(op, EEXIST, "could not create directory \"%s\"", p);
        return -1;
    }
    return 0;
}

static void do_mkdir(struct pgi_fop *op)
{
    char *p = op->path;
    size_t len = strlen(p);
    if (len == 0) {
        op_fail(op, ENOENT, "could not create directory \"\"");
        return;
    }
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != '\0') {
            continue;
        }
        if (p[i - 1] == '/') {
            continue; /* "//" or a trailing slash */
        }
        char saved = p[i];
        p[i] = '\0';
        int rc = mkdir_one(op, p, saved == '\0' || p[i + 1] == '\0');
        p[i] = saved;
        if (rc != 0) {
            return;
        }
    }
}

static void run_op(struct pgi_fop *op)
{
    switch (op->kind) {
    case PGI_FOP_WRITE:
        do_write(op);
        break;
    case PGI_FOP_READ:
        do_read(op);
        break;
    case PGI_FOP_STAT:
        do_stat(op);
        break;
    case PGI_FOP_UNLINK:
        do_unlink(op);
        break;
    case PGI_FOP_RENAME:
        do_rename(op);
        break;
    case PGI_FOP_RMTREE:
        do_rmtree(op);
        break;
    case PGI_FOP_MKDIR:
        do_mkdir(op);
        break;
    case PGI_FOP_CALL:
        op->work(op, op->work_arg);
        break;
    }
}

/* --- the worker thread ----------------------------------------------------- */

static void done_push(struct pgi_fileio *io, struct pgi_fop *op)
{
    op->next = NULL;
    *io->done_tail = op;
    io->done_tail = &op->next;
}

static void *worker_main(void *arg)
{
    struct pgi_fileio *io = arg;

    pthread_mutex_lock(&io->mu);
    for (;;) {
        while (!io->stopping && io->todo == NULL) {
            pthread_cond_wait(&io->wake, &io->mu);
        }
        if (io->stopping) {
            break;
        }
        struct pgi_fop *op = io->todo;
        io->todo = op->next;
        if (io->todo == NULL) {
            io->todo_tail = &io->todo;
        }
        pthread_mutex_unlock(&io->mu);

        run_op(op);

        pthread_mutex_lock(&io->mu);
        done_push(io, op);
        uv_async_send(&io->async);
    }
    io->exited = true;
    pthread_mutex_unlock(&io->mu);
    uv_async_send(&io->async);
    return NULL;
}

/* --- the loop side ----------------------------------------------------------- */

static void on_close(uv_handle_t *h)
{
    struct pgi_fileio *io = rg_container_of((uv_async_t *)h, struct pgi_fileio, async);
    void (*cb)(void *) = io->stop_cb;
    void *arg = io->stop_arg;

    pthread_mutex_destroy(&io->mu);
    pthread_cond_destroy(&io->wake);
    rg_free(io);
    if (cb != NULL) {
        cb(arg);
    }
}

static void complete(struct pgi_fop *op)
{
    /* The callback may free or resubmit @op: take what we free afterwards
     * now, and touch @op no more once it has run. */
    char *content = op->content;
    rg_free(op->path);
    rg_free(op->path2);
    rg_free(op->wcontent);
    op->path = op->path2 = NULL;
    op->wcontent = NULL;
    op->cb(op);
    rg_free(content);
}

static void on_async(uv_async_t *h)
{
    struct pgi_fileio *io = rg_container_of(h, struct pgi_fileio, async);
    bool exited = false;

    for (;;) {
        pthread_mutex_lock(&io->mu);
        struct pgi_fop *op = io->done;
        if (op != NULL) {
            io->done = op->next;
            if (io->done == NULL) {
                io->done_tail = &io->done;
            }
        } else {
            /* Read under the same lock as the empty list: the worker hands
             * back its last op before it sets `exited`. */
            exited = io->exited;
        }
        pthread_mutex_unlock(&io->mu);
        if (op == NULL) {
            break;
        }
        complete(op);
    }
    if (io->stopped && exited && !io->closing) {
        pthread_join(io->thread, NULL);
        io->closing = true;
        uv_close((uv_handle_t *)&io->async, on_close);
    }
}

static void on_close_failed_start(uv_handle_t *h)
{
    struct pgi_fileio *io = rg_container_of((uv_async_t *)h, struct pgi_fileio, async);
    pthread_mutex_destroy(&io->mu);
    pthread_cond_destroy(&io->wake);
    rg_free(io);
}

int pgi_fileio_start(struct pgi_fileio **out, uv_loop_t *loop, char *errmsg)
{
    struct pgi_fileio *io = rg_calloc(1, sizeof *io);
    sigset_t all, old;
    int rv;

    io->loop = loop;
    io->todo_tail = &io->todo;
    io->done_tail = &io->done;
    pthread_mutex_init(&io->mu, NULL);
    pthread_cond_init(&io->wake, NULL);
    rv = uv_async_init(loop, &io->async, on_async);
    if (rv != 0) {
        rg_errmsg_printf(errmsg, "could not create the file I/O async handle: %s", uv_strerror(rv));
        pthread_mutex_destroy(&io->mu);
        pthread_cond_destroy(&io->wake);
        rg_free(io);
        return RG_EIO;
    }
    /* The worker blocks every signal (it inherits this mask): signals are
     * the loop's business, and the worker's syscalls then see no EINTR. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rv = pthread_create(&io->thread, NULL, worker_main, io);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != 0) {
        rg_errmsg_printf(errmsg, "could not start the file I/O thread: %s", strerror(rv));
        /* The handle is on the loop already: free only from its close cb. */
        uv_close((uv_handle_t *)&io->async, on_close_failed_start);
        return RG_EIO;
    }
    *out = io;
    return 0;
}

void pgi_fileio_stop(struct pgi_fileio *io, void (*cb)(void *arg), void *arg)
{
    RG_PRE(!io->stopped);
    io->stopped = true;
    io->stop_cb = cb;
    io->stop_arg = arg;

    pthread_mutex_lock(&io->mu);
    while (io->todo != NULL) {
        struct pgi_fop *op = io->todo;
        io->todo = op->next;
        op->status = RG_ECANCELED;
        rg_errmsg_printf(op->errmsg, "canceled: file I/O is stopping");
        done_push(io, op);
    }
    io->todo_tail = &io->todo;
    io->stopping = true;
    pthread_cond_signal(&io->wake);
    pthread_mutex_unlock(&io->mu);
    uv_async_send(&io->async);
}

/* --- submissions ------------------------------------------------------------- */

/* RG_ESHUTDOWN after stop; else reset @op's results and fill the common part. */
static int
fop_prepare(struct pgi_fileio *io, struct pgi_fop *op, enum pgi_fop_kind kind, pgi_fop_cb cb)
{
    if (io->stopped) {
        return RG_ESHUTDOWN;
    }
    op->status = 0;
    op->errmsg[0] = '\0';
    op->content = NULL;
    op->len = 0;
    op->exists = op->is_dir = op->dir_empty = false;
    op->kind = kind;
    op->path = op->path2 = NULL;
    op->wcontent = NULL;
    op->wlen = op->max_len = 0;
    op->mode = 0;
    op->work = NULL;
    op->work_arg = NULL;
    op->next = NULL;
    op->cb = cb;
    return 0;
}

static int fop_enqueue(struct pgi_fileio *io, struct pgi_fop *op)
{
    pthread_mutex_lock(&io->mu);
    *io->todo_tail = op;
    io->todo_tail = &op->next;
    pthread_cond_signal(&io->wake);
    pthread_mutex_unlock(&io->mu);
    return 0;
}

int pgi_fileio_write(struct pgi_fileio *io,
                     struct pgi_fop *op,
                     const char *path,
                     const void *content,
                     size_t len,
                     unsigned mode,
                     pgi_fop_cb cb)
{
    int rv = fop_prepare(io, op, PGI_FOP_WRITE, cb);
    if (rv != 0) {
        return rv;
    }
    op->path = rg_strdup(path);
    op->wcontent = rg_malloc(len > 0 ? len : 1);
    if (len > 0) {
        memcpy(op->wcontent, content, len);
    }
    op->wlen = len;
    op->mode = mode;
    return fop_enqueue(io, op);
}

int pgi_fileio_read(
    struct pgi_fileio *io, struct pgi_fop *op, const char *path, size_t max_len, pgi_fop_cb cb)
{
    int rv = fop_prepare(io, op, PGI_FOP_READ, cb);
    if (rv != 0) {
        return rv;
    }
    op->path = rg_strdup(path);
    op->max_len = max_len;
    return fop_enqueue(io, op);
}

/* The path-only operations. */
static int submit_path(struct pgi_fileio *io,
                       struct pgi_fop *op,
                       enum pgi_fop_kind kind,
                       const char *path,
                       pgi_fop_cb cb)
{
    int rv = fop_prepare(io, op, kind, cb);
    if (rv != 0) {
        return rv;
    }
    op->path = rg_strdup(path);
    return fop_enqueue(io, op);
}

int pgi_fileio_stat(struct pgi_fileio *io, struct pgi_fop *op, const char *path, pgi_fop_cb cb)
{
    return submit_path(io, op, PGI_FOP_STAT, path, cb);
}

int pgi_fileio_unlink(struct pgi_fileio *io, struct pgi_fop *op, const char *path, pgi_fop_cb cb)
{
    return submit_path(io, op, PGI_FOP_UNLINK, path, cb);
}

int pgi_fileio_rmtree(struct pgi_fileio *io, struct pgi_fop *op, const char *path, pgi_fop_cb cb)
{
    int rv = fop_prepare(io, op, PGI_FOP_RMTREE, cb);
    if (rv != 0) {
        return rv;
    }
    /* "dir/" would make fstatat follow a symlink named dir: strip trailing
     * slashes ("/" stays "/", which the worker refuses). */
    op->path = rg_strdup(path);
    size_t n = strlen(op->path);
    while (n > 1 && op->path[n - 1] == '/') {
        op->path[--n] = '\0';
    }
    return fop_enqueue(io, op);
}

int pgi_fileio_rename(
    struct pgi_fileio *io, struct pgi_fop *op, const char *from, const char *to, pgi_fop_cb cb)
{
    int rv = fop_prepare(io, op, PGI_FOP_RENAME, cb);
    if (rv != 0) {
        return rv;
    }
    op->path = rg_strdup(from);
    op->path2 = rg_strdup(to);
    return fop_enqueue(io, op);
}

int pgi_fileio_mkdir(
    struct pgi_fileio *io, struct pgi_fop *op, const char *path, unsigned mode, pgi_fop_cb cb)
{
    int rv = fop_prepare(io, op, PGI_FOP_MKDIR, cb);
    if (rv != 0) {
        return rv;
    }
    op->path = rg_strdup(path);
    op->mode = mode;
    return fop_enqueue(io, op);
}

int pgi_fileio_call(
    struct pgi_fileio *io, struct pgi_fop *op, pgi_fop_work_fn work, void *arg, pgi_fop_cb cb)
{
    int rv = fop_prepare(io, op, PGI_FOP_CALL, cb);
    if (rv != 0) {
        return rv;
    }
    op->work = work;
    op->work_arg = arg;
    return fop_enqueue(io, op);
}
