/*
 * Unit tests for pgi_fileio: every operation's success and failure (a path
 * under a regular file gives ENOTDIR, which works even as root), FIFO order,
 * callbacks never inside the submitting call, stop with queued operations,
 * the loop ticking while the worker blocks, freeing and resubmitting ops from
 * their callbacks, and rmtree never following a symlink out of the tree.
 * Each test has its own loop and temporary directory; teardown stops the
 * worker and insists on uv_loop_close() == 0.
 */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <dirent.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "agent/rg.h"
#include "pg/pgi_fileio.h"

/* --- loop stepping --------------------------------------------------------- */

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

/* Step @loop until @cond holds or @ms have passed; the value of @cond. */
#define RUN_UNTIL(loop, cond, ms)                                                                  \
    ({                                                                                             \
        uv_timer_t tk_;                                                                            \
        uint64_t until_;                                                                           \
        bool ok_;                                                                                  \
        uv_timer_init((loop), &tk_);                                                               \
        uv_timer_start(&tk_, tick_cb, 5, 5);                                                       \
        uv_update_time(loop);                                                                      \
        until_ = uv_now(loop) + (ms);                                                              \
        while (!(cond) && uv_now(loop) < until_) {                                                 \
            uv_run((loop), UV_RUN_ONCE);                                                           \
        }                                                                                          \
        ok_ = (cond);                                                                              \
        uv_close((uv_handle_t *)&tk_, NULL);                                                       \
        uv_run((loop), UV_RUN_NOWAIT);                                                             \
        ok_;                                                                                       \
    })

/* --- fixture ------------------------------------------------------------- */

struct fx {
    uv_loop_t loop;
    struct pgi_fileio *io;
    bool stopped; /* the stop callback ran */
    bool stop_called;
    int completions; /* callbacks so far, for ordering */
    char dir[64];    /* this test's temporary directory */
    char errmsg[RG_ERRMSG_SIZE];
};

static void on_stopped(void *arg)
{
    struct fx *f = arg;
    f->stopped = true;
}

static int setup(void **state)
{
    struct fx *f = rg_calloc(1, sizeof *f);
    if (uv_loop_init(&f->loop) != 0) {
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "/tmp/test_pgi_fileio.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    if (pgi_fileio_start(&f->io, &f->loop, f->errmsg) != 0) {
        return -1;
    }
    *state = f;
    return 0;
}

/* rm -r for the test's own directory (lstat: links are removed, not followed). */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                char *child = rg_asprintf("%s/%s", path, de->d_name);
                remove_tree(child);
                rg_free(child);
            }
        }
        if (d != NULL) {
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void print_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "left open: %s handle %p\n", uv_handle_type_name(h->type), (void *)h);
}

static void stop_io(struct fx *f)
{
    pgi_fileio_stop(f->io, on_stopped, f);
    f->stop_called = true;
    assert_false(f->stopped); /* never inside the call */
    assert_true(RUN_UNTIL(&f->loop, f->stopped, 5000));
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (!f->stop_called) {
        stop_io(f);
    }
    for (int i = 0; i < 5; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    uv_walk(&f->loop, print_handle, NULL);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    remove_tree(f->dir);
    rg_free(f);
    return 0;
}

/* --- recording callbacks ----------------------------------------------------- */

struct rec {
    struct pgi_fop op;
    struct fx *f;
    bool fired;
    int order; /* 1 for the first callback of the test, 2 for the next, ... */
    int status;
    char errmsg[RG_ERRMSG_SIZE];
    char content[256];
    size_t len;
    bool exists, is_dir, dir_empty;
};

static void rec_init(struct rec *r, struct fx *f)
{
    memset(r, 0, sizeof *r);
    r->f = f;
}

static void rec_cb(struct pgi_fop *op)
{
    struct rec *r = rg_container_of(op, struct rec, op);
    assert_false(r->fired);
    r->fired = true;
    r->order = ++r->f->completions;
    r->status = op->status;
    memcpy(r->errmsg, op->errmsg, sizeof r->errmsg);
    if (op->content != NULL) {
        assert_true(op->len < sizeof r->content);
        assert_int_equal(op->content[op->len], '\0');
        memcpy(r->content, op->content, op->len + 1);
    }
    r->len = op->len;
    r->exists = op->exists;
    r->is_dir = op->is_dir;
    r->dir_empty = op->dir_empty;
}

static void wait_rec(struct fx *f, struct rec *r)
{
    assert_false(r->fired);
    assert_true(RUN_UNTIL(&f->loop, r->fired, 5000));
}

/* Path @name under the test's directory, in @buf. */
static const char *at(struct fx *f, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", f->dir, name);
    return buf;
}

static void make_file(const char *path, const char *content)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static bool path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* --- write and read -------------------------------------------------------- */

static void test_write_then_read_round_trip(void **state)
{
    struct fx *f = *state;
    char p[128], tmp[140];
    struct rec w, r;
    struct stat st;

    rec_init(&w, f);
    at(f, "pgpass", p, sizeof p);
    assert_int_equal(pgi_fileio_write(f->io, &w.op, p, "h:5432:*:u:pw\n", 14, 0600, rec_cb), 0);
    wait_rec(f, &w);
    assert_int_equal(w.status, 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    assert_false(path_exists(tmp));

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_read(f->io, &r.op, p, 1024, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.len, 14);
    assert_string_equal(r.content, "h:5432:*:u:pw\n");
}

static void test_write_replaces_and_ignores_umask(void **state)
{
    struct fx *f = *state;
    char p[128];
    struct rec w, r;
    struct stat st;
    mode_t old = umask(077);

    at(f, "postgresql.conf", p, sizeof p);
    make_file(p, "old content that is longer\n");
    rec_init(&w, f);
    assert_int_equal(pgi_fileio_write(f->io, &w.op, p, "new\n", 4, 0644, rec_cb), 0);
    wait_rec(f, &w);
    umask(old);
    assert_int_equal(w.status, 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_read(f->io, &r.op, p, 1024, rec_cb), 0);
    wait_rec(f, &r);
    assert_string_equal(r.content, "new\n");
}

static void test_write_replaces_a_stale_tmp_symlink(void **state)
{
    struct fx *f = *state;
    char p[128], tmp[140], victim[128];
    struct rec w, r;

    at(f, "victim", victim, sizeof victim);
    make_file(victim, "keep me\n");
    at(f, "x.conf", p, sizeof p);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    assert_int_equal(symlink(victim, tmp), 0);
    rec_init(&w, f);
    assert_int_equal(pgi_fileio_write(f->io, &w.op, p, "x = 1\n", 6, 0600, rec_cb), 0);
    wait_rec(f, &w);
    assert_int_equal(w.status, 0);
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_read(f->io, &r.op, victim, 1024, rec_cb), 0);
    wait_rec(f, &r);
    assert_string_equal(r.content, "keep me\n");
}

static void test_write_under_a_file_fails_with_clear_message(void **state)
{
    struct fx *f = *state;
    char file[128], p[160], want[200];
    struct rec w;

    at(f, "plain", file, sizeof file);
    make_file(file, "x");
    snprintf(p, sizeof p, "%s/postgresql.conf", file);
    rec_init(&w, f);
    assert_int_equal(pgi_fileio_write(f->io, &w.op, p, "a", 1, 0600, rec_cb), 0);
    wait_rec(f, &w);
    assert_int_equal(w.status, RG_EIO);
    snprintf(want, sizeof want, "could not remove \"%s.tmp\": Not a directory", p);
    assert_string_equal(w.errmsg, want);
}

static void test_write_into_missing_directory_is_enoent(void **state)
{
    struct fx *f = *state;
    char p[128];
    struct rec w;

    at(f, "no/such/dir/file", p, sizeof p);
    rec_init(&w, f);
    assert_int_equal(pgi_fileio_write(f->io, &w.op, p, "a", 1, 0600, rec_cb), 0);
    wait_rec(f, &w);
    assert_int_equal(w.status, RG_ENOENT);
    assert_non_null(strstr(w.errmsg, "could not open \""));
    assert_non_null(strstr(w.errmsg, ".tmp\": No such file or directory"));
}

static void test_read_missing_is_enoent(void **state)
{
    struct fx *f = *state;
    char p[128], want[200];
    struct rec r;

    at(f, "missing.conf", p, sizeof p);
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_read(f->io, &r.op, p, 10, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_ENOENT);
    snprintf(want, sizeof want, "could not open \"%s\": No such file or directory", p);
    assert_string_equal(r.errmsg, want);
}

static void test_read_enforces_max_len(void **state)
{
    struct fx *f = *state;
    char p[128], want[200];
    char big[101];
    struct rec r;

    memset(big, 'x', 100);
    big[100] = '\0';
    at(f, "big", p, sizeof p);
    make_file(p, big);

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_read(f->io, &r.op, p, 99, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_EIO);
    snprintf(want, sizeof want, "\"%s\" is larger than 99 bytes", p);
    assert_string_equal(r.errmsg, want);

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_read(f->io, &r.op, p, 100, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.len, 100);
    assert_string_equal(r.content, big);
}

static void test_read_empty_file_and_directory(void **state)
{
    struct fx *f = *state;
    char p[128];
    struct rec r;

    at(f, "empty", p, sizeof p);
    make_file(p, "");
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_read(f->io, &r.op, p, 10, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.len, 0);
    assert_string_equal(r.content, "");

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_read(f->io, &r.op, f->dir, 10, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_EIO);
    assert_non_null(strstr(r.errmsg, "could not read \""));
    assert_non_null(strstr(r.errmsg, "Is a directory"));
}

/* --- stat, unlink, rename, mkdir --------------------------------------------- */

static void do_stat(struct fx *f, struct rec *r, const char *path)
{
    rec_init(r, f);
    assert_int_equal(pgi_fileio_stat(f->io, &r->op, path, rec_cb), 0);
    wait_rec(f, r);
}

static void test_stat_reports_kinds(void **state)
{
    struct fx *f = *state;
    char p[128], q[160];
    struct rec r;

    do_stat(f, &r, at(f, "missing", p, sizeof p));
    assert_int_equal(r.status, 0);
    assert_false(r.exists);

    at(f, "file", p, sizeof p);
    make_file(p, "x");
    do_stat(f, &r, p);
    assert_int_equal(r.status, 0);
    assert_true(r.exists);
    assert_false(r.is_dir);
    assert_false(r.dir_empty);

    snprintf(q, sizeof q, "%s/under", p);
    do_stat(f, &r, q);
    assert_int_equal(r.status, RG_EIO);
    assert_non_null(strstr(r.errmsg, "could not stat \""));
    assert_non_null(strstr(r.errmsg, "/file/under\": Not a directory"));

    at(f, "d", p, sizeof p);
    assert_int_equal(mkdir(p, 0700), 0);
    do_stat(f, &r, p);
    assert_true(r.exists);
    assert_true(r.is_dir);
    assert_true(r.dir_empty);

    snprintf(q, sizeof q, "%s/PG_VERSION", p);
    make_file(q, "15\n");
    do_stat(f, &r, p);
    assert_true(r.is_dir);
    assert_false(r.dir_empty);
}

static void test_unlink(void **state)
{
    struct fx *f = *state;
    char p[128], q[160];
    struct rec r;

    at(f, "standby.signal", p, sizeof p);
    make_file(p, "");
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_unlink(f->io, &r.op, p, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
    assert_false(path_exists(p));

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_unlink(f->io, &r.op, p, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0); /* missing: fine */

    make_file(p, "");
    snprintf(q, sizeof q, "%s/x", p);
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_unlink(f->io, &r.op, q, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_EIO);
    assert_non_null(strstr(r.errmsg, "could not remove \""));
    assert_non_null(strstr(r.errmsg, "Not a directory"));

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_unlink(f->io, &r.op, f->dir, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_EIO);
    assert_true(path_exists(f->dir));
}

static void test_rename(void **state)
{
    struct fx *f = *state;
    char a[128], b[128], c[160];
    struct rec r;

    at(f, "postgresql.conf", a, sizeof a);
    at(f, "postgresql.base.conf", b, sizeof b);
    make_file(a, "orig\n");
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_rename(f->io, &r.op, a, b, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
    assert_false(path_exists(a));
    assert_true(path_exists(b));

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_rename(f->io, &r.op, a, b, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_ENOENT);
    assert_non_null(strstr(r.errmsg, "could not rename \""));
    assert_non_null(strstr(r.errmsg, "No such file or directory"));

    snprintf(c, sizeof c, "%s/under", b);
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_rename(f->io, &r.op, b, c, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_EIO);
    assert_non_null(strstr(r.errmsg, "Not a directory"));
    assert_true(path_exists(b));
}

static void test_mkdir_p(void **state)
{
    struct fx *f = *state;
    char p[128], q[160];
    struct rec r;
    struct stat st;
    mode_t old = umask(077);

    at(f, "a/b/c/", p, sizeof p);
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_mkdir(f->io, &r.op, p, 0750, rec_cb), 0);
    wait_rec(f, &r);
    umask(old);
    assert_int_equal(r.status, 0);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(stat(at(f, "a", q, sizeof q), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);

    /* Existing: 0, mode untouched. */
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_mkdir(f->io, &r.op, p, 0700, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);

    /* A file where the directory should be. */
    at(f, "plain", p, sizeof p);
    make_file(p, "x");
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_mkdir(f->io, &r.op, p, 0700, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_EIO);
    assert_non_null(strstr(r.errmsg, "could not create directory \""));
    assert_non_null(strstr(r.errmsg, "File exists"));

    snprintf(q, sizeof q, "%s/sub/dir", p);
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_mkdir(f->io, &r.op, q, 0700, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_EIO);
    assert_non_null(strstr(r.errmsg, "/plain/sub\": Not a directory"));
}

/* --- rmtree ------------------------------------------------------------------ */

static void test_rmtree_never_follows_symlinks_out(void **state)
{
    struct fx *f = *state;
    char tree[128], outside[128], p[200], q[200];
    struct rec r;

    /* outside/ holds a file and a directory that links from the tree point at. */
    at(f, "outside", outside, sizeof outside);
    assert_int_equal(mkdir(outside, 0700), 0);
    snprintf(p, sizeof p, "%s/precious", outside);
    make_file(p, "data");
    snprintf(p, sizeof p, "%s/sub", outside);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/sub/deep", outside);
    make_file(p, "data");

    at(f, "pgdata", tree, sizeof tree);
    assert_int_equal(mkdir(tree, 0700), 0);
    snprintf(p, sizeof p, "%s/base", tree);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/base/1", tree);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/base/1/1234", tree);
    make_file(p, "rel");
    snprintf(p, sizeof p, "%s/PG_VERSION", tree);
    make_file(p, "15\n");
    snprintf(p, sizeof p, "%s/pg_wal", tree); /* like a pg_wal on another disk */
    assert_int_equal(symlink(outside, p), 0);
    snprintf(p, sizeof p, "%s/base/1/link_to_file", tree);
    snprintf(q, sizeof q, "%s/precious", outside);
    assert_int_equal(symlink(q, p), 0);
    snprintf(p, sizeof p, "%s/dangling", tree);
    assert_int_equal(symlink("/nonexistent/target", p), 0);

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_rmtree(f->io, &r.op, tree, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
    assert_false(path_exists(tree));
    snprintf(p, sizeof p, "%s/precious", outside);
    assert_true(path_exists(p));
    snprintf(p, sizeof p, "%s/sub/deep", outside);
    assert_true(path_exists(p));

    /* Missing: 0. */
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_rmtree(f->io, &r.op, tree, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);

    /* The path itself a symlink (with a trailing slash): only the link goes. */
    assert_int_equal(symlink(outside, tree), 0);
    snprintf(p, sizeof p, "%s/", tree);
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_rmtree(f->io, &r.op, p, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
    assert_false(path_exists(tree));
    snprintf(p, sizeof p, "%s/sub/deep", outside);
    assert_true(path_exists(p));
}

static void test_rmtree_failures(void **state)
{
    struct fx *f = *state;
    char p[128], q[160];
    struct rec r;

    at(f, "plain", p, sizeof p);
    make_file(p, "x");
    snprintf(q, sizeof q, "%s/x", p);
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_rmtree(f->io, &r.op, q, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_EIO);
    assert_non_null(strstr(r.errmsg, "could not stat \""));
    assert_non_null(strstr(r.errmsg, "Not a directory"));

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_rmtree(f->io, &r.op, "/", rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, RG_EIO);
    assert_string_equal(r.errmsg, "refusing to remove \"/\"");

    /* A plain file is simply removed. */
    rec_init(&r, f);
    assert_int_equal(pgi_fileio_rmtree(f->io, &r.op, p, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
    assert_false(path_exists(p));
}

/* --- call, ordering, callbacks ------------------------------------------------ */

struct seq {
    int ran[32]; /* written by the worker only, read after completion */
    int n;
};

struct seq_arg {
    struct seq *seq;
    int index;
};

static void seq_work(struct pgi_fop *op, void *arg)
{
    struct seq_arg *a = arg;
    (void)op;
    a->seq->ran[a->seq->n++] = a->index;
}

static void test_ops_run_and_complete_in_fifo_order(void **state)
{
    struct fx *f = *state;
    enum { N = 24 };
    struct rec recs[N];
    struct seq seq = {0};
    struct seq_arg args[N];
    char p[128];

    at(f, "f", p, sizeof p);
    for (int i = 0; i < N; i++) {
        rec_init(&recs[i], f);
        args[i] = (struct seq_arg){&seq, i};
        switch (i % 4) {
        case 0:
            assert_int_equal(pgi_fileio_call(f->io, &recs[i].op, seq_work, &args[i], rec_cb), 0);
            break;
        case 1:
            assert_int_equal(pgi_fileio_write(f->io, &recs[i].op, p, "abc", 3, 0600, rec_cb), 0);
            break;
        case 2:
            assert_int_equal(pgi_fileio_read(f->io, &recs[i].op, p, 10, rec_cb), 0);
            break;
        default:
            assert_int_equal(pgi_fileio_unlink(f->io, &recs[i].op, p, rec_cb), 0);
            break;
        }
        assert_false(recs[i].fired);
    }
    assert_true(RUN_UNTIL(&f->loop, recs[N - 1].fired, 5000));
    for (int i = 0; i < N; i++) {
        assert_true(recs[i].fired);
        assert_int_equal(recs[i].order, i + 1);
        assert_int_equal(recs[i].status, 0);
        if (i % 4 == 2) {
            /* The write just before ran first; the unlink just after, later. */
            assert_string_equal(recs[i].content, "abc");
        }
    }
    assert_int_equal(seq.n, N / 4);
    for (int i = 0; i < seq.n; i++) {
        assert_int_equal(seq.ran[i], i * 4);
    }
}

static void quick_work(struct pgi_fop *op, void *arg)
{
    (void)op;
    (void)arg;
}

static void test_callback_never_inside_the_call(void **state)
{
    struct fx *f = *state;
    struct rec r;

    rec_init(&r, f);
    assert_int_equal(pgi_fileio_call(f->io, &r.op, quick_work, NULL, rec_cb), 0);
    /* The worker is done long before this, but only the loop runs callbacks. */
    usleep(50 * 1000);
    assert_false(r.fired);
    wait_rec(f, &r);
    assert_int_equal(r.status, 0);
}

struct fail_arg {
    int seen_status; /* what the work function found in the op */
    bool seen_empty_errmsg;
};

/* Runs on the worker: no cmocka asserts here, only records. */
static void failing_work(struct pgi_fop *op, void *arg)
{
    struct fail_arg *a = arg;
    a->seen_status = op->status;
    a->seen_empty_errmsg = op->errmsg[0] == '\0';
    op->status = RG_EIO;
    rg_errmsg_printf(op->errmsg, "could not frob \"%s\": broken", "x");
}

static void test_call_reports_work_status(void **state)
{
    struct fx *f = *state;
    struct fail_arg a = {.seen_status = 1};
    struct rec r;

    rec_init(&r, f);
    r.op.status = 42; /* stale values from an earlier use are cleared */
    snprintf(r.op.errmsg, sizeof r.op.errmsg, "stale");
    assert_int_equal(pgi_fileio_call(f->io, &r.op, failing_work, &a, rec_cb), 0);
    wait_rec(f, &r);
    assert_int_equal(a.seen_status, 0);
    assert_true(a.seen_empty_errmsg);
    assert_int_equal(r.status, RG_EIO);
    assert_string_equal(r.errmsg, "could not frob \"x\": broken");
}

static void sleep_work(struct pgi_fop *op, void *arg)
{
    (void)op;
    usleep(*(unsigned *)arg * 1000);
}

struct ticks {
    uv_timer_t timer;
    int n;
};

static void count_tick(uv_timer_t *t)
{
    struct ticks *tk = rg_container_of(t, struct ticks, timer);
    tk->n++;
}

static void test_loop_keeps_running_while_an_op_blocks(void **state)
{
    struct fx *f = *state;
    struct ticks tk = {0};
    unsigned ms = 300;
    struct rec r;

    uv_timer_init(&f->loop, &tk.timer);
    uv_timer_start(&tk.timer, count_tick, 10, 10);
    rec_init(&r, f);
    uint64_t t0 = uv_hrtime();
    assert_int_equal(pgi_fileio_call(f->io, &r.op, sleep_work, &ms, rec_cb), 0);
    wait_rec(f, &r);
    uint64_t elapsed_ms = (uv_hrtime() - t0) / 1000000u;
    assert_true(elapsed_ms >= 300);
    /* ~30 ticks expected; a loop blocked by the op would see at most 1-2. */
    assert_true(tk.n >= 10);
    uv_close((uv_handle_t *)&tk.timer, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* tk is on this stack: finish the close here */
}

struct gate {
    sem_t started, release;
};

static void gate_work(struct pgi_fop *op, void *arg)
{
    struct gate *g = arg;
    (void)op;
    sem_post(&g->started);
    sem_wait(&g->release);
}

static void never_cb(struct pgi_fop *op)
{
    (void)op;
    fail_msg("callback of a refused submission ran");
}

static void test_stop_cancels_queued_and_finishes_the_one_in_progress(void **state)
{
    struct fx *f = *state;
    struct gate g;
    struct rec blocker, queued[3], late;
    char p[128];

    sem_init(&g.started, 0, 0);
    sem_init(&g.release, 0, 0);
    rec_init(&late, f);
    rec_init(&blocker, f);
    assert_int_equal(pgi_fileio_call(f->io, &blocker.op, gate_work, &g, rec_cb), 0);
    for (int i = 0; i < 3; i++) {
        rec_init(&queued[i], f);
        assert_int_equal(pgi_fileio_stat(f->io, &queued[i].op, f->dir, rec_cb), 0);
    }
    sem_wait(&g.started); /* the worker is inside the blocker now */

    pgi_fileio_stop(f->io, on_stopped, f);
    f->stop_called = true;
    assert_false(f->stopped);
    assert_int_equal(pgi_fileio_stat(f->io, &late.op, f->dir, never_cb), RG_ESHUTDOWN);
    assert_int_equal(
        pgi_fileio_write(f->io, &late.op, at(f, "x", p, sizeof p), "a", 1, 0600, never_cb),
        RG_ESHUTDOWN);

    /* The queued ones complete while the blocker still blocks. */
    assert_true(RUN_UNTIL(&f->loop, queued[2].fired, 5000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(queued[i].status, RG_ECANCELED);
        assert_string_equal(queued[i].errmsg, "canceled: file I/O is stopping");
    }
    assert_false(blocker.fired);
    assert_false(f->stopped);

    sem_post(&g.release);
    assert_true(RUN_UNTIL(&f->loop, f->stopped, 5000));
    assert_true(blocker.fired);
    assert_int_equal(blocker.status, 0);
    assert_int_equal(blocker.order, 4);
    sem_destroy(&g.started);
    sem_destroy(&g.release);
}

/* --- ops owned by their callbacks ---------------------------------------------- */

static void free_cb(struct pgi_fop *op)
{
    int *count = op->data;
    assert_non_null(op->content); /* valid during the callback */
    (*count)++;
    rg_free(op);
}

static void test_op_freed_inside_its_callback(void **state)
{
    struct fx *f = *state;
    char p[128];
    int count = 0;

    at(f, "f", p, sizeof p);
    make_file(p, "content");
    for (int i = 0; i < 5; i++) {
        struct pgi_fop *op = rg_calloc(1, sizeof *op);
        op->data = &count;
        assert_int_equal(pgi_fileio_read(f->io, op, p, 100, free_cb), 0);
    }
    assert_true(RUN_UNTIL(&f->loop, count == 5, 5000));
}

struct chain {
    struct pgi_fop op;
    struct fx *f;
    int left;
    char path[128];
};

static void chain_cb(struct pgi_fop *op)
{
    struct chain *c = rg_container_of(op, struct chain, op);
    assert_int_equal(op->status, 0);
    assert_string_equal(op->content, "content");
    if (--c->left > 0) {
        /* Resubmitting the same op from its callback: its old content is
         * freed after this returns, the new read gets a fresh one. */
        assert_int_equal(pgi_fileio_read(c->f->io, op, c->path, 100, chain_cb), 0);
    }
}

static void test_op_resubmitted_from_its_callback(void **state)
{
    struct fx *f = *state;
    struct chain c = {.f = f, .left = 4};

    at(f, "f", c.path, sizeof c.path);
    make_file(c.path, "content");
    assert_int_equal(pgi_fileio_read(f->io, &c.op, c.path, 100, chain_cb), 0);
    assert_true(RUN_UNTIL(&f->loop, c.left == 0, 5000));
}

static void test_start_stop_idle(void **state)
{
    struct fx *f = *state;
    stop_io(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_write_then_read_round_trip),
        T(test_write_replaces_and_ignores_umask),
        T(test_write_replaces_a_stale_tmp_symlink),
        T(test_write_under_a_file_fails_with_clear_message),
        T(test_write_into_missing_directory_is_enoent),
        T(test_read_missing_is_enoent),
        T(test_read_enforces_max_len),
        T(test_read_empty_file_and_directory),
        T(test_stat_reports_kinds),
        T(test_unlink),
        T(test_rename),
        T(test_mkdir_p),
        T(test_rmtree_never_follows_symlinks_out),
        T(test_rmtree_failures),
        T(test_ops_run_and_complete_in_fifo_order),
        T(test_callback_never_inside_the_call),
        T(test_call_reports_work_status),
        T(test_loop_keeps_running_while_an_op_blocks),
        T(test_stop_cancels_queued_and_finishes_the_one_in_progress),
        T(test_op_freed_inside_its_callback),
        T(test_op_resubmitted_from_its_callback),
        T(test_start_stop_idle),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
