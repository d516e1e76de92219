/*
 * Unit tests for pgi_proc with /bin/sh scripts: exit statuses and
 * signals, output capture (stdout and stderr together) and its truncation
 * to the last max_output bytes, the deadline (SIGTERM, then SIGKILL after
 * the grace), spawn failures, a grandchild that keeps the output pipe open
 * (it must not delay completion), stdin at /dev/null, environment, working
 * directory and line logging. Every test ends with no handle left.
 */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "agent/rg.h"
#include "agent/rg_log.h"
#include "pg/pgi_proc.h"
#include "pg_helpers.h"

/* What the cb saw; the output is copied since it lives only during the cb. */
struct done {
    int calls;
    int status;
    int exit_status;
    int term_signal;
    char *output;
    size_t output_len;
    char errmsg[RG_ERRMSG_SIZE];
    uint64_t at_ms;
};

static void on_done(struct pgi_proc *p, int status)
{
    struct done *d = p->data;
    d->calls++;
    d->status = status;
    d->exit_status = p->exit_status;
    d->term_signal = p->term_signal;
    d->output = rg_malloc(p->output_len + 1);
    memcpy(d->output, p->output, p->output_len + 1);
    d->output_len = p->output_len;
    assert_int_equal(p->output[p->output_len], '\0');
    snprintf(d->errmsg, sizeof d->errmsg, "%s", p->errmsg);
    d->at_ms = pgt_now_ms();
}

/* Run "/bin/sh -c @script" with @o's other options to completion. */
static void run_sh(uv_loop_t *loop, const char *script, struct pgi_proc_options *o, struct done *d)
{
    char *args[] = {"sh", "-c", (char *)script, NULL};
    struct pgi_proc p;
    memset(d, 0, sizeof *d);
    p.data = d;
    o->file = "/bin/sh";
    o->args = args;
    assert_int_equal(pgi_proc_start(loop, &p, o, on_done), 0);
    assert_int_equal(d->calls, 0); /* never inside the call */
    assert_true(RUN_UNTIL(loop, d->calls > 0, 10000));
    /* And exactly once. */
    for (int i = 0; i < 5; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(d->calls, 1);
}

static void test_reports_exit_status(void **state)
{
    struct pgt_loop *f = *state;
    struct pgi_proc_options o = {0};
    struct done d;

    run_sh(&f->loop, "exit 0", &o, &d);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.exit_status, 0);
    assert_int_equal(d.term_signal, 0);
    assert_string_equal(d.errmsg, "");
    assert_int_equal(d.output_len, 0);
    rg_free(d.output);

    run_sh(&f->loop, "exit 3", &o, &d);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.exit_status, 3);
    assert_string_equal(d.errmsg, "sh: exit status 3");
    rg_free(d.output);
}

static void test_reports_signal_that_ended_it(void **state)
{
    struct pgt_loop *f = *state;
    struct pgi_proc_options o = {0};
    struct done d;
    char want[64];
    run_sh(&f->loop, "kill -USR1 $$; sleep 5", &o, &d);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.term_signal, SIGUSR1);
    snprintf(want, sizeof want, "sh: killed by signal %d", SIGUSR1);
    assert_string_equal(d.errmsg, want);
    rg_free(d.output);
}

static void test_captures_stdout_and_stderr_in_one_stream(void **state)
{
    struct pgt_loop *f = *state;
    struct pgi_proc_options o = {0};
    struct done d;
    run_sh(&f->loop, "echo out; echo err >&2; echo out2", &o, &d);
    assert_int_equal(d.exit_status, 0);
    assert_string_equal(d.output, "out\nerr\nout2\n");
    assert_int_equal(d.output_len, strlen("out\nerr\nout2\n"));
    rg_free(d.output);
}

static void test_keeps_last_max_output_bytes(void **state)
{
    struct pgt_loop *f = *state;
    struct pgi_proc_options o = {.max_output = 100};
    struct done d;
    char *all = rg_calloc(1, 8192);
    size_t n = 0;
    for (int i = 0; i < 500; i++) {
        n += (size_t)snprintf(all + n, 8192 - n, "line%d\n", i);
    }
    run_sh(&f->loop, "i=0; while [ $i -lt 500 ]; do echo line$i; i=$((i+1)); done", &o, &d);
    assert_int_equal(d.output_len, 100);
    assert_string_equal(d.output, all + n - 100);
    rg_free(d.output);
    rg_free(all);

    /* Far more than the default 64 KiB in big writes: the last 65536 bytes. */
    struct pgi_proc_options def = {0};
    run_sh(&f->loop, "head -c 1000000 /dev/zero | tr '\\0' a; echo END", &def, &d);
    assert_int_equal(d.output_len, 65536);
    assert_int_equal(strlen(d.output), 65536);
    assert_string_equal(d.output + 65536 - 4, "END\n");
    assert_int_equal(d.output[0], 'a');
    rg_free(d.output);
}

static void test_stdin_is_dev_null(void **state)
{
    struct pgt_loop *f = *state;
    struct pgi_proc_options o = {.timeout_ms = 5000};
    struct done d;
    /* cat would wait for ever on an inherited terminal or pipe. */
    run_sh(&f->loop, "cat; readlink /proc/self/fd/0 || echo /dev/null", &o, &d);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.exit_status, 0);
    assert_string_equal(d.output, "/dev/null\n");
    rg_free(d.output);
}

static void test_deadline_terminates_quickly(void **state)
{
    struct pgt_loop *f = *state;
    char *args[] = {"sleep", "10", NULL};
    struct pgi_proc_options o = {.file = "/bin/sleep", .args = args, .timeout_ms = 200};
    struct pgi_proc p;
    struct done d = {0};
    p.data = &d;
    uint64_t t0 = pgt_now_ms();
    assert_int_equal(pgi_proc_start(&f->loop, &p, &o, on_done), 0);
    assert_true(RUN_UNTIL(&f->loop, d.calls > 0, 5000));
    assert_int_equal(d.status, RG_ETIMEDOUT);
    assert_int_equal(d.term_signal, SIGTERM);
    assert_string_equal(d.errmsg, "sleep: timed out after 200 ms");
    assert_true(d.at_ms - t0 >= 190);
    assert_true(d.at_ms - t0 < 1500);
    rg_free(d.output);
}

static void test_sigkill_after_grace_when_sigterm_is_ignored(void **state)
{
    struct pgt_loop *f = *state;
    struct pgi_proc_options o = {.timeout_ms = 200, .kill_grace_ms = 300};
    struct done d;
    uint64_t t0 = pgt_now_ms();
    /* exec keeps the ignored SIGTERM: no shell stays behind. */
    run_sh(&f->loop, "trap '' TERM; echo ready; exec sleep 10", &o, &d);
    assert_int_equal(d.status, RG_ETIMEDOUT);
    assert_int_equal(d.term_signal, SIGKILL);
    assert_string_equal(d.output, "ready\n");
    assert_true(d.at_ms - t0 >= 480);
    assert_true(d.at_ms - t0 < 2500);
    rg_free(d.output);

    /* Whole seconds read as such. */
    o.timeout_ms = 1000;
    o.kill_grace_ms = 100;
    run_sh(&f->loop, "trap '' TERM; exec sleep 10", &o, &d);
    assert_string_equal(d.errmsg, "sh: timed out after 1 s");
    rg_free(d.output);
}

static void test_kill_stops_early_and_cb_fires_once(void **state)
{
    struct pgt_loop *f = *state;
    char *args[] = {"sleep", "10", NULL};
    struct pgi_proc_options o = {.file = "/bin/sleep", .args = args, .timeout_ms = 20000};
    struct pgi_proc p;
    struct done d = {0};
    p.data = &d;
    uint64_t t0 = pgt_now_ms();
    assert_int_equal(pgi_proc_start(&f->loop, &p, &o, on_done), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    pgi_proc_kill(&p, SIGTERM);
    assert_true(RUN_UNTIL(&f->loop, d.calls > 0, 5000));
    assert_int_equal(d.status, 0);
    assert_int_equal(d.term_signal, SIGTERM);
    assert_true(d.at_ms - t0 < 2000);
    pgi_proc_kill(&p, SIGTERM); /* after completion: a no-op */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(d.calls, 1);
    rg_free(d.output);
}

static void test_spawn_failure_returns_eio_and_cb_never_fires(void **state)
{
    struct pgt_loop *f = *state;
    struct done d = {0};
    /* Freed right after the failed start: nothing may refer to it later. */
    struct pgi_proc *p = rg_malloc(sizeof *p);
    struct pgi_proc_options o = {.file = "/nonexistent/bin/pg_ctl", .timeout_ms = 1000};
    p->data = &d;
    assert_int_equal(pgi_proc_start(&f->loop, p, &o, on_done), RG_EIO);
    assert_string_equal(p->errmsg,
                        "could not run \"/nonexistent/bin/pg_ctl\": no such file or directory");
    rg_free(p);

    struct pgi_proc q;
    char path[] = "/tmp/pgi_proc_noexec.XXXXXX";
    char want[128];
    int fd = mkstemp(path); /* mode 0600: not executable */
    assert_true(fd >= 0);
    close(fd);
    q.data = &d;
    o.file = path;
    assert_int_equal(pgi_proc_start(&f->loop, &q, &o, on_done), RG_EIO);
    snprintf(want, sizeof want, "could not run \"%s\": permission denied", path);
    assert_string_equal(q.errmsg, want);
    unlink(path);

    o.file = NULL;
    assert_int_equal(pgi_proc_start(&f->loop, &q, &o, on_done), RG_EINVAL);
    for (int i = 0; i < 5; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(d.calls, 0);
}

static void test_grandchild_holding_pipe_does_not_delay_completion(void **state)
{
    struct pgt_loop *f = *state;
    struct pgi_proc_options o = {.timeout_ms = 10000};
    struct done d;
    uint64_t t0 = pgt_now_ms();
    run_sh(&f->loop, "sleep 5 & echo $!", &o, &d);
    assert_int_equal(d.status, 0);
    assert_int_equal(d.exit_status, 0);
    assert_true(d.at_ms - t0 < 1000);
    pid_t grandchild = (pid_t)atoi(d.output);
    assert_true(grandchild > 1);
    kill(grandchild, SIGKILL); /* what the test started */
    rg_free(d.output);
}

static void test_passes_environment_or_inherits_it(void **state)
{
    struct pgt_loop *f = *state;
    char *env[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
    struct pgi_proc_options o = {.env = env};
    struct done d;
    run_sh(&f->loop, "echo \"$FOO|${PGI_TEST_INHERITED-unset}\"", &o, &d);
    assert_string_equal(d.output, "bar baz|unset\n");
    rg_free(d.output);

    setenv("PGI_TEST_INHERITED", "yes", 1);
    struct pgi_proc_options inherit = {0};
    run_sh(&f->loop, "echo \"${FOO-unset}|$PGI_TEST_INHERITED\"", &inherit, &d);
    assert_string_equal(d.output, "unset|yes\n");
    unsetenv("PGI_TEST_INHERITED");
    rg_free(d.output);
}

static void test_runs_in_cwd(void **state)
{
    struct pgt_loop *f = *state;
    struct pgi_proc_options o = {.cwd = "/usr/lib"};
    struct done d;
    run_sh(&f->loop, "pwd", &o, &d);
    assert_string_equal(d.output, "/usr/lib\n");
    rg_free(d.output);

    /* A missing directory is a spawn failure. */
    char *args[] = {"sh", "-c", "pwd", NULL};
    struct pgi_proc p;
    struct pgi_proc_options bad = {.file = "/bin/sh", .args = args, .cwd = "/nonexistent/dir"};
    assert_int_equal(pgi_proc_start(&f->loop, &p, &bad, on_done), RG_EIO);
    assert_non_null(strstr(p.errmsg, "no such file or directory"));
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *buf = rg_calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_logs_each_output_line(void **state)
{
    struct pgt_loop *f = *state;
    char dir[] = "/tmp/pgi_proc_log.XXXXXX";
    char path[64];
    char err[RG_ERRMSG_SIZE];
    assert_non_null(mkdtemp(dir));
    struct rg_log_options lo = {.level = RG_INFO, .dir = dir, .file_num = 1, .ident = "regent"};
    assert_int_equal(rg_log_configure(&lo, err), 0);

    struct pgi_proc_options o = {.log_module = "pgtest"};
    struct done d;
    run_sh(&f->loop, "printf 'one\\ntwo\\r\\n'; printf 'three' >&2", &o, &d);
    assert_string_equal(d.output, "one\ntwo\r\nthree");
    rg_free(d.output);
    assert_int_equal(rg_log_flush(2000), 0);

    snprintf(path, sizeof path, "%s/regent.log", dir);
    char *text = slurp(path);
    assert_non_null(strstr(text, " INFO pgtest: sh: one\n"));
    assert_non_null(strstr(text, " INFO pgtest: sh: two\n"));
    assert_non_null(strstr(text, " INFO pgtest: sh: three\n")); /* the unterminated last line */
    rg_free(text);
    rg_log_shutdown(2000);
    unlink(path);
    rmdir(dir);
}

static void free_in_cb(struct pgi_proc *p, int status)
{
    int *calls = p->data;
    (void)status;
    (*calls)++;
    rg_free(p);
}

static void test_caller_may_free_request_in_cb(void **state)
{
    struct pgt_loop *f = *state;
    char *args[] = {"sh", "-c", "echo bye", NULL};
    struct pgi_proc_options o = {.file = "/bin/sh", .args = args, .timeout_ms = 5000};
    struct pgi_proc *p = rg_malloc(sizeof *p);
    int calls = 0;
    p->data = &calls;
    assert_int_equal(pgi_proc_start(&f->loop, p, &o, free_in_cb), 0);
    assert_true(RUN_UNTIL(&f->loop, calls > 0, 5000));
    assert_int_equal(calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, pgt_loop_setup, pgt_loop_teardown)
        T(test_reports_exit_status),
        T(test_reports_signal_that_ended_it),
        T(test_captures_stdout_and_stderr_in_one_stream),
        T(test_keeps_last_max_output_bytes),
        T(test_stdin_is_dev_null),
        T(test_deadline_terminates_quickly),
        T(test_sigkill_after_grace_when_sigterm_is_ignored),
        T(test_kill_stops_early_and_cb_fires_once),
        T(test_spawn_failure_returns_eio_and_cb_never_fires),
        T(test_grandchild_holding_pipe_does_not_delay_completion),
        T(test_passes_environment_or_inherits_it),
        T(test_runs_in_cwd),
        T(test_logs_each_output_line),
        T(test_caller_may_free_request_in_cb),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
