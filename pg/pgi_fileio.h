/*
 * pgi_fileio: file operations on PostgreSQL's disks, off the event loop.
 *
 * DESIGN.md ("One loop"): nothing blocks the loop, and file work on
 * PostgreSQL's disks never goes to libuv's thread pool either, because
 * c-raft's disk writes use that pool and a stalled PostgreSQL disk must not
 * stall Raft. So pgi_fileio owns one dedicated worker thread with its own
 * FIFO queue. The loop submits operations; the thread runs them one at a time
 * in submission order; completions come back to the loop through a
 * uv_async_t, and every callback runs on the loop thread, in the same order
 * (except at stop: see pgi_fileio_stop).
 *
 * A hung disk hangs the operation in progress, and everything queued behind
 * it waits (the queue is FIFO). Nothing the loop does waits for it, except
 * that pgi_fileio_stop cannot finish (its callback cannot fire) until the
 * operation in progress returns.
 *
 * Submission, pgi_fileio_stop and all callbacks belong to the loop thread.
 * Error messages are worded the PostgreSQL way:
 *   could not open "/srv/pg/postgresql.conf.tmp": Permission denied
 */
#ifndef REGENT_PGI_FILEIO_H
#define REGENT_PGI_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "agent/rg.h"

struct pgi_fileio;

/* Start the worker thread and its async handle on @loop. 0, or RG_EIO with
 * @errmsg (then nothing is left on the loop once it has run one iteration). */
int pgi_fileio_start(struct pgi_fileio **out, uv_loop_t *loop, char *errmsg);

/*
 * Stop: operations still queued complete with RG_ECANCELED (their callbacks
 * run on the next loop iteration, possibly before the one of the operation in
 * progress); the operation in progress runs to its end — on a hung disk that
 * takes as long as the disk does, and so does the stop; then the thread is
 * joined, the async handle closed, @cb(@arg) fires (never inside this call)
 * and @io is freed. Later submissions return RG_ESHUTDOWN. Call once.
 */
void pgi_fileio_stop(struct pgi_fileio *io, void (*cb)(void *arg), void *arg);

enum pgi_fop_kind {
    PGI_FOP_WRITE,
    PGI_FOP_READ,
    PGI_FOP_STAT,
    PGI_FOP_UNLINK,
    PGI_FOP_RENAME,
    PGI_FOP_RMTREE,
    PGI_FOP_MKDIR,
    PGI_FOP_CALL,
};

struct pgi_fop;
typedef void (*pgi_fop_cb)(struct pgi_fop *op);
typedef void (*pgi_fop_work_fn)(struct pgi_fop *op, void *arg);

struct pgi_fop {
    void *data;                  /* caller's; pgi_fileio never touches it */
    int status;                  /* 0, RG_ENOENT (path missing), RG_EIO, RG_ECANCELED */
    char errmsg[RG_ERRMSG_SIZE]; /* when status != 0 */
    /* results */
    char *content;  /* READ: NUL-terminated, owned by the op; freed after cb returns */
    size_t len;     /* READ: bytes in content, without the NUL */
    bool exists;    /* STAT */
    bool is_dir;    /* STAT (follows symlinks) */
    bool dir_empty; /* STAT: a directory with no entry but . and .. */
    /* private */
    enum pgi_fop_kind kind;
    char *path;     /* owned */
    char *path2;    /* owned: RENAME's target */
    void *wcontent; /* owned: WRITE's bytes */
    size_t wlen;
    size_t max_len; /* READ */
    unsigned mode;  /* WRITE, MKDIR */
    pgi_fop_work_fn work;
    void *work_arg; /* borrowed */
    struct pgi_fop *next;
    pgi_fop_cb cb;
};

/*
 * Every submission below returns 0, and then @cb fires exactly once, on the
 * loop, never inside the call; the caller owns @op until then and may free
 * (or resubmit) it inside @cb. Or it returns RG_ESHUTDOWN after
 * pgi_fileio_stop, and @cb never fires. Paths and content are copied.
 * ENOENT gives RG_ENOENT, any other failure RG_EIO, each with @op->errmsg.
 */

/* Atomic replace: write "<path>.tmp" with @mode (umask not applied; 0600 for
 * a pgpass file), fsync it, rename it over @path, fsync the directory. On
 * failure the .tmp file is removed and @path is untouched. */
int pgi_fileio_write(struct pgi_fileio *io,
                     struct pgi_fop *op,
                     const char *path,
                     const void *content,
                     size_t len,
                     unsigned mode,
                     pgi_fop_cb cb);

/* Read the whole file into op->content/op->len. A file longer than @max_len
 * bytes fails with RG_EIO: "…" is larger than N bytes. */
int pgi_fileio_read(
    struct pgi_fileio *io, struct pgi_fop *op, const char *path, size_t max_len, pgi_fop_cb cb);

/* stat(2) into exists/is_dir/dir_empty. A missing path is status 0 with
 * exists false; a path under a regular file (ENOTDIR) is RG_EIO. */
int pgi_fileio_stat(struct pgi_fileio *io, struct pgi_fop *op, const char *path, pgi_fop_cb cb);

/* Remove a file (not a directory), then fsync its directory. Missing: 0. */
int pgi_fileio_unlink(struct pgi_fileio *io, struct pgi_fop *op, const char *path, pgi_fop_cb cb);

/* rename(2), then fsync the directories involved. */
int pgi_fileio_rename(
    struct pgi_fileio *io, struct pgi_fop *op, const char *from, const char *to, pgi_fop_cb cb);

/* Remove @path and everything below it without ever following a symlink: a
 * symlink inside is removed, never its target; @path itself being a symlink or
 * a file is unlinked. Missing: 0. Stops at the first error (RG_EIO, naming the
 * entry), leaving the rest in place. */
int pgi_fileio_rmtree(struct pgi_fileio *io, struct pgi_fop *op, const char *path, pgi_fop_cb cb);

/* mkdir -p: every directory created gets @mode (umask not applied); an existing
 * directory is 0 and keeps its mode; an existing non-directory is RG_EIO. */
int pgi_fileio_mkdir(
    struct pgi_fileio *io, struct pgi_fop *op, const char *path, unsigned mode, pgi_fop_cb cb);

/* Run @work(@op, @arg) on the I/O thread — it fills op->status and
 * op->errmsg (both start cleared) and may use op's result fields; op->content,
 * if it sets it, must be rg_malloc'd (it is freed after cb) — then @cb on the
 * loop. @arg is borrowed until @cb. */
int pgi_fileio_call(
    struct pgi_fileio *io, struct pgi_fop *op, pgi_fop_work_fn work, void *arg, pgi_fop_cb cb);

#endif
