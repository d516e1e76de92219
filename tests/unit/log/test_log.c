/*
 * Unit tests for rg_log: level filtering, file output and rotation, a full
 * queue that drops and counts while a FIFO nobody reads blocks the writer,
 * reconfiguration, and shutdown of a writer stuck in write().
 */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/rg.h"
#include "agent/rg_log.h"

struct fixture {
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = rg_calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rg_log_test.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rg_log_shutdown(2000);
    DIR *d = opendir(f->dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.') {
                char p[512];
                snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(f->dir);
    rg_free(f);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return NULL;
    }
    char *buf = rg_malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static char *slurp_in(const struct fixture *f, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", f->dir, name);
    return slurp(p);
}

static bool exists_in(const struct fixture *f, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", f->dir, name);
    return stat(p, &st) == 0;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void test_level_names_parse_both_ways(void **state)
{
    (void)state;
    assert_int_equal(rg_log_level_parse("debug"), RG_DEBUG);
    assert_int_equal(rg_log_level_parse("INFO"), RG_INFO);
    assert_int_equal(rg_log_level_parse("Warn"), RG_WARNING);
    assert_int_equal(rg_log_level_parse("warning"), RG_WARNING);
    assert_int_equal(rg_log_level_parse("CRITICAL"), RG_ERROR);
    assert_int_equal(rg_log_level_parse("loud"), -1);
    assert_string_equal(rg_log_level_name(RG_WARNING), "WARNING");
}

static void test_levels_and_module_overrides_filter_lines(void **state)
{
    struct fixture *f = *state;
    struct rg_log_module_level mods[] = {{"store", RG_DEBUG}, {"api", RG_ERROR}};
    struct rg_log_options o = {.level = RG_WARNING,
                               .dir = f->dir,
                               .file_num = 1,
                               .modules = mods,
                               .n_modules = 2,
                               .ident = "regent"};
    char err[RG_ERRMSG_SIZE];
    assert_int_equal(rg_log_configure(&o, err), 0);
    assert_true(rg_log_enabled(RG_DEBUG, "store"));
    assert_false(rg_log_enabled(RG_WARNING, "api"));
    assert_false(rg_log_enabled(RG_INFO, "ha"));
    assert_true(rg_log_enabled(RG_WARNING, NULL));

    rg_log(RG_INFO, "ha", "hidden info %d", 1);
    rg_log(RG_WARNING, "ha", "shown warning %d", 2);
    rg_log(RG_DEBUG, "store", "shown debug %d", 3);
    rg_log(RG_WARNING, "api", "hidden warning %d", 4);
    rg_log(RG_ERROR, "api", "shown error %d", 5);
    rg_log(RG_ERROR, NULL, "no module\n");
    assert_int_equal(rg_log_flush(2000), 0);

    char *text = slurp_in(f, "regent.log");
    assert_non_null(text);
    assert_null(strstr(text, "hidden"));
    assert_non_null(strstr(text, " UTC WARNING ha: shown warning 2\n"));
    assert_non_null(strstr(text, " UTC DEBUG store: shown debug 3\n"));
    assert_non_null(strstr(text, " UTC ERROR api: shown error 5\n"));
    assert_non_null(strstr(text, " UTC ERROR no module\n"));
    assert_null(strstr(text, "\n\n"));
    /* "2026-11-22 06:40:01.123 UTC WARNING ha: ..." */
    assert_true(strlen(text) > 28);
    assert_true(text[4] == '-' && text[10] == ' ' && text[19] == '.' && text[23] == ' ');
    assert_memory_equal(text + 24, "UTC ", 4);
    rg_free(text);
}

static void test_file_rotates_and_keeps_file_num_files(void **state)
{
    struct fixture *f = *state;
    struct rg_log_options o = {
        .level = RG_INFO, .dir = f->dir, .file_size = 400, .file_num = 3, .ident = "rot"};
    char err[RG_ERRMSG_SIZE];
    assert_int_equal(rg_log_configure(&o, err), 0);
    for (int i = 0; i < 60; i++) {
        rg_log(RG_INFO, "test", "line number %03d with some padding", i);
    }
    assert_int_equal(rg_log_flush(2000), 0);
    assert_true(exists_in(f, "rot.log"));
    assert_true(exists_in(f, "rot.log.1"));
    assert_true(exists_in(f, "rot.log.2"));
    assert_false(exists_in(f, "rot.log.3"));
    const char *names[] = {"rot.log", "rot.log.1", "rot.log.2"};
    for (size_t i = 0; i < 3; i++) {
        char *t = slurp_in(f, names[i]);
        assert_non_null(t);
        assert_true(strlen(t) <= 400);
        assert_true(strlen(t) > 0);
        rg_free(t);
    }
    /* The newest line is in the current file, older ones rotated out. */
    char *cur = slurp_in(f, "rot.log");
    assert_non_null(strstr(cur, "line number 059"));
    assert_null(strstr(cur, "line number 000"));
    rg_free(cur);
    char *old = slurp_in(f, "rot.log.1");
    assert_null(strstr(old, "line number 059"));
    rg_free(old);
}

/* A FIFO nobody reads: the writer blocks in write() once the pipe is full. */
static int stuck_fifo(const struct fixture *f, const char *ident, size_t max_queue)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s.log", f->dir, ident);
    assert_int_equal(mkfifo(p, 0600), 0);
    int rfd = open(p, O_RDONLY | O_NONBLOCK);
    assert_true(rfd >= 0);
    struct rg_log_options o = {
        .level = RG_INFO, .dir = f->dir, .file_num = 1, .max_queue = max_queue, .ident = ident};
    char err[RG_ERRMSG_SIZE];
    assert_int_equal(rg_log_configure(&o, err), 0);
    return rfd;
}

static void test_full_queue_drops_counts_and_never_blocks(void **state)
{
    struct fixture *f = *state;
    uint64_t at_start = rg_log_dropped();
    int rfd = stuck_fifo(f, "fifo", 10);
    char pad[1001];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';

    /* Paced lines first, so the writer fills the 64 KB pipe and blocks. */
    for (int i = 0; i < 100; i++) {
        rg_log(RG_INFO, "test", "paced %d %s", i, pad);
        usleep(1000);
    }
    uint64_t before = rg_log_dropped();
    uint64_t worst = 0;
    for (int i = 0; i < 500; i++) {
        uint64_t t0 = now_us();
        rg_log(RG_INFO, "test", "%d %s", i, pad);
        uint64_t dt = now_us() - t0;
        worst = dt > worst ? dt : worst;
    }
    /* 500 KB against a 64 KB pipe and 10 slots: most lines are dropped. */
    uint64_t dropped = rg_log_dropped();
    assert_true(dropped - before >= 480);
    /* No call waited for the stuck writer (generous bound for sanitizers). */
    assert_true(worst < 200000);
    assert_int_equal(rg_log_flush(100), RG_ETIMEDOUT);

    /* Unblock the writer: read everything until the note shows up. */
    char *seen = rg_calloc(1, 1 << 20);
    size_t len = 0;
    uint64_t deadline = now_us() + 5000000;
    while (strstr(seen, "log lines dropped") == NULL && now_us() < deadline) {
        struct pollfd pfd = {.fd = rfd, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) {
            ssize_t n = read(rfd, seen + len, (1 << 20) - 1 - len);
            if (n > 0) {
                len += (size_t)n;
                seen[len] = '\0';
            }
        }
    }
    char expect[64];
    snprintf(expect, sizeof expect, "WARNING log: %llu log lines dropped\n",
             (unsigned long long)(dropped - at_start));
    assert_non_null(strstr(seen, expect));
    /* The queue is usable again. */
    rg_log(RG_INFO, "test", "after the storm");
    while (strstr(seen, "after the storm") == NULL && now_us() < deadline) {
        struct pollfd pfd = {.fd = rfd, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) {
            ssize_t n = read(rfd, seen + len, (1 << 20) - 1 - len);
            if (n > 0) {
                len += (size_t)n;
                seen[len] = '\0';
            }
        }
    }
    assert_non_null(strstr(seen, "after the storm"));
    assert_int_equal(rg_log_dropped(), dropped);
    rg_free(seen);
    rg_log_shutdown(2000);
    close(rfd);
}

static void test_shutdown_gives_up_on_a_stuck_writer(void **state)
{
    struct fixture *f = *state;
    int rfd = stuck_fifo(f, "stuck", 50);
    char pad[2001];
    memset(pad, 'y', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < 100; i++) {
        rg_log(RG_INFO, "test", "%s", pad);
    }
    uint64_t t0 = now_us();
    rg_log_shutdown(200);
    uint64_t dt = now_us() - t0;
    assert_true(dt >= 150000);
    assert_true(dt < 3000000);
    close(rfd);
    /* The log starts again from the defaults. */
    assert_true(rg_log_enabled(RG_INFO, "x"));
    assert_false(rg_log_enabled(RG_DEBUG, "x"));
}

static void test_reconfigure_swaps_destination_in_order(void **state)
{
    struct fixture *f = *state;
    char dir2[600];
    snprintf(dir2, sizeof dir2, "%s/second", f->dir);
    assert_int_equal(mkdir(dir2, 0700), 0);
    char err[RG_ERRMSG_SIZE];
    struct rg_log_options o = {.level = RG_INFO, .dir = f->dir, .file_num = 1, .ident = "a"};
    assert_int_equal(rg_log_configure(&o, err), 0);
    rg_log(RG_INFO, "t", "first line");
    o.dir = dir2;
    o.ident = "b";
    assert_int_equal(rg_log_configure(&o, err), 0);
    rg_log(RG_INFO, "t", "second line");

    /* An unusable directory is refused and the current destination stays. */
    o.dir = "/nonexistent/regent-log-dir";
    assert_int_equal(rg_log_configure(&o, err), RG_EIO);
    assert_non_null(strstr(err, "could not open log file \"/nonexistent/regent-log-dir/b.log\""));
    rg_log(RG_INFO, "t", "third line");
    assert_int_equal(rg_log_flush(2000), 0);

    char *a = slurp_in(f, "a.log");
    char p[700];
    snprintf(p, sizeof p, "%s/b.log", dir2);
    char *b = slurp(p);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(strstr(a, "first line"));
    assert_null(strstr(a, "second line"));
    assert_null(strstr(b, "first line"));
    assert_non_null(strstr(b, "second line"));
    assert_non_null(strstr(b, "third line"));
    rg_free(a);
    rg_free(b);
    rg_log_shutdown(2000);
    unlink(p);
    rmdir(dir2);
}

static void test_lines_before_configure_go_to_stderr_without_blocking(void **state)
{
    (void)state;
    /* Unconfigured: INFO and above are kept, DEBUG is not. */
    assert_true(rg_log_enabled(RG_INFO, "early"));
    assert_false(rg_log_enabled(RG_DEBUG, "early"));
    rg_log(RG_INFO, "early", "an early line on stderr");
    assert_int_equal(rg_log_flush(2000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_names_parse_both_ways),
        cmocka_unit_test_setup_teardown(test_lines_before_configure_go_to_stderr_without_blocking,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels_and_module_overrides_filter_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_rotates_and_keeps_file_num_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_queue_drops_counts_and_never_blocks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_gives_up_on_a_stuck_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconfigure_swaps_destination_in_order, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
