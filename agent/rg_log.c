/*
 * rg_log: a bounded queue of formatted lines and one writer thread.
 *
 * Happy path: rg_log() checks the level, formats the whole line
 * ("2026-11-22 06:40:01.123 UTC INFO store: message\n") into a malloc()ed
 * buffer without any lock, then takes the mutex only to push the pointer onto
 * a ring of max_queue slots and signal the writer. The writer thread takes the
 * whole ring in one swap, releases the mutex, and does the blocking write()s
 * (and rotations) with nothing held. So a producer — the event loop above
 * all — never waits on a destination; it waits at most for another thread's
 * push or the writer's pointer swap.
 *
 * Failure modes:
 * - The destination is slow or stuck (a full pipe, a hung NFS mount): the ring
 *   fills up and further lines are dropped and counted. Because the writer
 *   takes the ring as a whole, every line it holds was queued before any line
 *   dropped since, so the note "N log lines dropped" written right after the
 *   batch sits at the place of the loss.
 * - write() fails (ENOSPC, EPIPE): the line is lost; there is nowhere better
 *   to report it. SIGPIPE is blocked in the writer so it never kills us.
 * - rg_log_shutdown() cannot drain within its timeout: the writer waits for
 *   the destination in poll() next to a wake pipe, and writes at most a page
 *   once it polls writable; shutdown sets "abandon" and wakes it, the writer
 *   leaves, is joined, and whatever is still queued is discarded. (No
 *   pthread_cancel: it would leave the writer's stack unwound under ASan.)
 *   A regular file on a hung disk cannot be abandoned this way (nor in any
 *   other): shutdown then waits for the kernel.
 *
 * States: UNSTARTED (no thread; lines go to stderr at INFO once the writer is
 * started lazily by the first line) -> RUNNING -> STOPPING (shutdown draining)
 * -> UNSTARTED again (a later line or configure restarts the writer, which
 * keeps tests and short programs simple).
 *
 * Reconfiguration (SIGHUP): rg_log_configure() opens the new file itself, so
 * it can report an unusable directory while the old destination stays in
 * force, then hands the open fd to the writer, which swaps it in between two
 * batches. Levels change at once.
 */
#include "agent/rg_log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/rg.h"

#define RG_LOG_DEFAULT_QUEUE 1000
#define RG_LOG_LINE_MAX      8192 /* longer lines are cut and end with "..." */
#define RG_LOG_MODULE_MAX    32
#define RG_LOG_WBUF_SIZE     65536

struct log_level_override {
    char module[RG_LOG_MODULE_MAX];
    int level;
};

/* A destination: stderr (path NULL) or a file that rotates. */
struct log_dest {
    int fd;             /* owned unless 2 */
    char *path;         /* owned; NULL for stderr */
    uint64_t size;      /* bytes in the current file */
    uint64_t file_size; /* rotate above this; 0: never */
    unsigned file_num;  /* files kept, >= 1 */
};

/* A destination handed over by configure: lines up to sequence @after were
 * logged under the previous configuration and still go to the previous one. */
struct log_dest_change {
    struct log_dest dest;
    uint64_t after;
    struct log_dest_change *next; /* owned */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* producer -> writer: lines, pending dest, stop */
    pthread_cond_t idle; /* writer -> flush/shutdown: batch done or exited */
    /* levels */
    int level;
    struct log_level_override *overrides; /* owned */
    size_t n_overrides;
    /* the ring of owned lines */
    char **ring;
    size_t cap, head, count;
    uint64_t dropped_total;
    uint64_t dropped_pending; /* not yet reported in a note */
    /* writer */
    bool started;
    bool stopping;
    bool exited;
    bool busy; /* the writer holds a batch it has not finished */
    pthread_t thread;
    struct log_dest_change *changes; /* FIFO of configure()s the writer has not seen */
    uint64_t pushed;                 /* lines ever queued (sequence of the last one) */
    uint64_t taken;                  /* lines ever taken by the writer */
    /* writer-owned while running (read by shutdown after the join) */
    struct log_dest dest;
    struct log_dest_change *next; /* owned: taken from changes, installed mid-batch */
    uint64_t batch_first;         /* sequence of batch[0] */
    char **batch;
    size_t batch_cap, batch_n, batch_pos;
    char *wbuf;
    size_t wbuf_len;
} L = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .level = RG_INFO,
    .dest = {.fd = 2},
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static int log_wake[2] = {-1, -1}; /* shutdown -> a writer stuck in write_all() */
static atomic_bool log_abandon;

static void log_init_once(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&L.wake, &attr);
    pthread_cond_init(&L.idle, &attr);
    pthread_condattr_destroy(&attr);
    if (pipe(log_wake) != 0) {
        log_wake[0] = log_wake[1] = -1; /* poll() ignores fd -1: no abandoning */
    }
    for (int i = 0; i < 2 && log_wake[i] >= 0; i++) {
        fcntl(log_wake[i], F_SETFD, FD_CLOEXEC);
        fcntl(log_wake[i], F_SETFL, O_NONBLOCK);
    }
}

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};

int rg_log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        {"debug", RG_DEBUG},  {"info", RG_INFO},   {"warning", RG_WARNING},
        {"warn", RG_WARNING}, {"error", RG_ERROR}, {"critical", RG_ERROR},
    };
    if (name == NULL) {
        return -1;
    }
    for (size_t i = 0; i < RG_ARRAY_SIZE(names); i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            return names[i].level;
        }
    }
    return -1;
}

const char *rg_log_level_name(int level)
{
    if (level < RG_DEBUG || level > RG_ERROR) {
        return "UNKNOWN";
    }
    return level_names[level];
}

/* Called with L.mu held. */
static int level_for(const char *module)
{
    if (module != NULL) {
        for (size_t i = 0; i < L.n_overrides; i++) {
            if (strcmp(L.overrides[i].module, module) == 0) {
                return L.overrides[i].level;
            }
        }
    }
    return L.level;
}

bool rg_log_enabled(int level, const char *module)
{
    pthread_mutex_lock(&L.mu);
    bool on = level >= level_for(module);
    pthread_mutex_unlock(&L.mu);
    return on;
}

uint64_t rg_log_dropped(void)
{
    pthread_mutex_lock(&L.mu);
    uint64_t n = L.dropped_total;
    pthread_mutex_unlock(&L.mu);
    return n;
}

/* "2026-11-22 06:40:01.123 UTC " */
static size_t format_stamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    int m = snprintf(buf + n, len - n, ".%03ld UTC ", ts.tv_nsec / 1000000L);
    return n + (size_t)(m > 0 ? m : 0);
}

static char *format_line(int level, const char *module, const char *fmt, va_list ap)
{
    char *line = rg_malloc(RG_LOG_LINE_MAX);
    size_t n = format_stamp(line, RG_LOG_LINE_MAX);
    int m;
    if (module != NULL) {
        m = snprintf(line + n, RG_LOG_LINE_MAX - n, "%s %s: ", rg_log_level_name(level), module);
    } else {
        m = snprintf(line + n, RG_LOG_LINE_MAX - n, "%s ", rg_log_level_name(level));
    }
    n += (size_t)(m > 0 ? m : 0);
    m = vsnprintf(line + n, RG_LOG_LINE_MAX - n, fmt, ap);
    if (m < 0) {
        m = 0;
    }
    if ((size_t)m >= RG_LOG_LINE_MAX - n - 1) {
        /* Cut: keep room for "...\n". */
        n = RG_LOG_LINE_MAX - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    } else {
        n += (size_t)m;
    }
    /* One line per record: a trailing newline from the caller is not doubled. */
    if (n > 0 && line[n - 1] == '\n') {
        n--;
    }
    line[n++] = '\n';
    line[n] = '\0';
    return line;
}

/* Called with L.mu held. Frees everything the ring holds. */
static void ring_clear(void)
{
    for (size_t i = 0; i < L.count; i++) {
        free(L.ring[(L.head + i) % L.cap]);
    }
    L.head = 0;
    L.count = 0;
}

/* Called with L.mu held: (re)size the ring, keeping the oldest lines. */
static void ring_resize(size_t cap)
{
    if (cap == L.cap) {
        return;
    }
    char **ring = rg_calloc(cap, sizeof *ring);
    size_t keep = L.count < cap ? L.count : cap;
    for (size_t i = 0; i < L.count; i++) {
        char *line = L.ring[(L.head + i) % L.cap];
        if (i < keep) {
            ring[i] = line;
        } else {
            free(line);
            L.dropped_total++;
            L.dropped_pending++;
            L.pushed--; /* the newest lines go: sequences stay dense */
        }
    }
    for (struct log_dest_change *c = L.changes; c != NULL; c = c->next) {
        c->after = c->after < L.pushed ? c->after : L.pushed;
    }
    free(L.ring);
    L.ring = ring;
    L.cap = cap;
    L.head = 0;
    L.count = keep;
}

/*
 * Blocking writes, but abandonable: wait for POLLOUT together with the wake
 * pipe, then write at most one page, which a pipe or socket that polled
 * writable takes without blocking. A regular file always polls writable.
 */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0 && !atomic_load(&log_abandon)) {
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLOUT},
                                {.fd = log_wake[0], .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if (atomic_load(&log_abandon)) {
            return;
        }
        ssize_t n = write(fd, buf, len < 4096 ? len : 4096);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; /* lost: nowhere better to say so */
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void wbuf_flush(void)
{
    if (L.wbuf_len > 0) {
        write_all(L.dest.fd, L.wbuf, L.wbuf_len);
        L.dest.size += L.wbuf_len;
        L.wbuf_len = 0;
    }
}

static void dest_close(struct log_dest *d)
{
    if (d->fd > 2) {
        close(d->fd);
    }
    free(d->path);
    *d = (struct log_dest){.fd = 2};
}

static int open_log_file(const char *path, uint64_t *size, int extra_flags)
{
    /* O_NONBLOCK only for open(): a FIFO without a reader fails instead of
     * hanging configure. Writes are blocking again (the writer may block). */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK | extra_flags, 0640);
    if (fd < 0) {
        return -errno;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    struct stat st;
    *size = (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? (uint64_t)st.st_size : 0;
    return fd;
}

/* Writer thread: regent.log -> regent.log.1 -> … -> regent.log.<file_num-1>. */
static void rotate(void)
{
    struct log_dest *d = &L.dest;
    char from[4096], to[4096];
    close(d->fd);
    d->fd = 2;
    for (unsigned i = d->file_num - 1; i >= 1; i--) {
        if (i == 1) {
            snprintf(from, sizeof from, "%s", d->path);
        } else {
            snprintf(from, sizeof from, "%s.%u", d->path, i - 1);
        }
        snprintf(to, sizeof to, "%s.%u", d->path, i);
        rename(from, to);
    }
    /* With file_num == 1 nothing is kept: start the file again. */
    int fd = open_log_file(d->path, &d->size, d->file_num == 1 ? O_TRUNC : 0);
    d->fd = fd >= 0 ? fd : 2;
    if (fd < 0) {
        d->size = 0;
    }
}

static void emit(const char *line, size_t len)
{
    struct log_dest *d = &L.dest;
    if (d->path != NULL && d->file_size > 0 && d->size + L.wbuf_len > 0 &&
        d->size + L.wbuf_len + len > d->file_size) {
        wbuf_flush();
        rotate();
    }
    if (L.wbuf_len + len > RG_LOG_WBUF_SIZE) {
        wbuf_flush();
    }
    if (len > RG_LOG_WBUF_SIZE) {
        write_all(d->fd, line, len);
        d->size += len;
        return;
    }
    memcpy(L.wbuf + L.wbuf_len, line, len);
    L.wbuf_len += len;
}

static void emit_dropped_note(uint64_t dropped)
{
    char line[160];
    size_t n = format_stamp(line, sizeof line);
    n += (size_t)snprintf(line + n, sizeof line - n, "WARNING log: %llu log lines dropped\n",
                          (unsigned long long)dropped);
    emit(line, n);
}

static void changes_append(struct log_dest_change **list, struct log_dest_change *more)
{
    while (*list != NULL) {
        list = &(*list)->next;
    }
    *list = more;
}

static void changes_free(struct log_dest_change **list)
{
    while (*list != NULL) {
        struct log_dest_change *c = *list;
        *list = c->next;
        dest_close(&c->dest);
        free(c);
    }
}

static void install_next(void)
{
    struct log_dest_change *c = L.next;
    wbuf_flush();
    dest_close(&L.dest);
    L.dest = c->dest;
    L.next = c->next;
    free(c);
}

static void *writer_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    pthread_mutex_lock(&L.mu);
    for (;;) {
        while (L.count == 0 && L.dropped_pending == 0 && L.changes == NULL && !L.stopping) {
            pthread_cond_wait(&L.wake, &L.mu);
        }
        changes_append(&L.next, L.changes);
        L.changes = NULL;
        L.batch_first = L.taken + 1;
        L.taken += L.count;
        if (L.batch_cap < L.count) {
            L.batch = rg_realloc(L.batch, L.count * sizeof *L.batch);
            L.batch_cap = L.count;
        }
        for (size_t i = 0; i < L.count; i++) {
            L.batch[i] = L.ring[(L.head + i) % L.cap];
        }
        L.batch_n = L.count;
        L.batch_pos = 0;
        L.head = 0;
        L.count = 0;
        uint64_t dropped = L.dropped_pending;
        L.dropped_pending = 0;
        bool stop = L.stopping;
        L.busy = true;
        pthread_mutex_unlock(&L.mu);

        for (; L.batch_pos < L.batch_n && !atomic_load(&log_abandon); L.batch_pos++) {
            while (L.next != NULL && L.next->after < L.batch_first + L.batch_pos) {
                install_next();
            }
            char *line = L.batch[L.batch_pos];
            emit(line, strlen(line));
            free(line);
        }
        while (L.next != NULL) {
            install_next();
        }
        if (dropped > 0) {
            emit_dropped_note(dropped);
        }
        wbuf_flush();

        pthread_mutex_lock(&L.mu);
        L.busy = false;
        pthread_cond_broadcast(&L.idle);
        if (atomic_load(&log_abandon)) {
            break; /* shutdown gave up on the destination */
        }
        L.batch_n = 0;
        if (stop && L.count == 0 && L.changes == NULL && L.dropped_pending == 0) {
            break;
        }
    }
    L.exited = true;
    pthread_cond_broadcast(&L.idle);
    pthread_mutex_unlock(&L.mu);
    return NULL;
}

static void log_atexit(void)
{
    rg_log_shutdown(1000);
}

/* Called with L.mu held. */
static void ensure_writer(void)
{
    static bool atexit_done;
    if (L.started) {
        return;
    }
    if (L.cap == 0) {
        ring_resize(RG_LOG_DEFAULT_QUEUE);
    }
    if (L.wbuf == NULL) {
        L.wbuf = rg_malloc(RG_LOG_WBUF_SIZE);
    }
    L.stopping = false;
    L.exited = false;
    if (pthread_create(&L.thread, NULL, writer_main, NULL) != 0) {
        return; /* lines stay queued (and then drop); try again on the next one */
    }
    L.started = true;
    if (!atexit_done) {
        atexit_done = true;
        atexit(log_atexit);
    }
}

void rg_log(int level, const char *module, const char *fmt, ...)
{
    pthread_once(&log_once, log_init_once);
    if (!rg_log_enabled(level, module)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *line = format_line(level, module, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&L.mu);
    ensure_writer();
    if (L.count < L.cap) {
        L.ring[(L.head + L.count) % L.cap] = line;
        L.count++;
        L.pushed++;
        line = NULL;
        pthread_cond_signal(&L.wake);
    } else {
        L.dropped_total++;
        L.dropped_pending++;
    }
    pthread_mutex_unlock(&L.mu);
    free(line);
}

int rg_log_configure(const struct rg_log_options *opts, char *errmsg)
{
    pthread_once(&log_once, log_init_once);
    struct log_dest d = {.fd = 2, .file_num = 1};
    if (opts->dir != NULL && opts->dir[0] != '\0') {
        const char *ident = opts->ident != NULL && opts->ident[0] != '\0' ? opts->ident : "regent";
        d.path = rg_asprintf("%s/%s.log", opts->dir, ident);
        int fd = open_log_file(d.path, &d.size, 0);
        if (fd < 0) {
            rg_errmsg_printf(errmsg, "could not open log file \"%s\": %s", d.path, strerror(-fd));
            free(d.path);
            return RG_EIO;
        }
        d.fd = fd;
        d.file_size = opts->file_size;
        d.file_num = opts->file_num >= 1 ? opts->file_num : 1;
    }
    struct log_level_override *ov = rg_calloc(opts->n_modules, sizeof *ov);
    for (size_t i = 0; i < opts->n_modules; i++) {
        snprintf(ov[i].module, sizeof ov[i].module, "%s", opts->modules[i].module);
        ov[i].level = opts->modules[i].level;
    }

    pthread_mutex_lock(&L.mu);
    L.level = opts->level;
    free(L.overrides);
    L.overrides = ov;
    L.n_overrides = opts->n_modules;
    ring_resize(opts->max_queue > 0 ? opts->max_queue : RG_LOG_DEFAULT_QUEUE);
    /* Lines already queued were logged under the old configuration. */
    struct log_dest_change *c = rg_calloc(1, sizeof *c);
    c->dest = d;
    c->after = L.pushed;
    changes_append(&L.changes, c);
    ensure_writer();
    pthread_cond_signal(&L.wake);
    pthread_mutex_unlock(&L.mu);
    return 0;
}

/* Called with L.mu held; false on timeout. */
static bool wait_until(bool (*done)(void), unsigned timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    while (!done()) {
        if (pthread_cond_timedwait(&L.idle, &L.mu, &dl) == ETIMEDOUT) {
            return done();
        }
    }
    return true;
}

static bool drained(void)
{
    return !L.started || L.exited ||
           (L.count == 0 && !L.busy && L.changes == NULL && L.dropped_pending == 0);
}

static bool writer_exited(void)
{
    return L.exited;
}

int rg_log_flush(unsigned timeout_ms)
{
    pthread_once(&log_once, log_init_once);
    pthread_mutex_lock(&L.mu);
    bool ok = wait_until(drained, timeout_ms);
    pthread_mutex_unlock(&L.mu);
    return ok ? 0 : RG_ETIMEDOUT;
}

void rg_log_shutdown(unsigned timeout_ms)
{
    pthread_once(&log_once, log_init_once);
    pthread_mutex_lock(&L.mu);
    if (!L.started) {
        pthread_mutex_unlock(&L.mu);
        return;
    }
    L.stopping = true;
    pthread_cond_signal(&L.wake);
    bool ok = wait_until(writer_exited, timeout_ms);
    pthread_t thread = L.thread;
    pthread_mutex_unlock(&L.mu);

    if (!ok) {
        /* Stuck waiting for a destination: make write_all() give up. */
        atomic_store(&log_abandon, true);
        ssize_t w = write(log_wake[1], "x", 1);
        (void)w;
    }
    pthread_join(thread, NULL);
    char drain[16];
    while (read(log_wake[0], drain, sizeof drain) > 0) {
    }
    atomic_store(&log_abandon, false);

    pthread_mutex_lock(&L.mu);
    for (; L.batch_pos < L.batch_n; L.batch_pos++) {
        free(L.batch[L.batch_pos]);
    }
    L.batch_n = 0;
    ring_clear();
    changes_free(&L.changes);
    changes_free(&L.next);
    dest_close(&L.dest);
    L.taken = L.pushed;
    free(L.batch);
    L.batch = NULL;
    L.batch_cap = 0;
    free(L.ring);
    L.ring = NULL;
    L.cap = 0;
    free(L.wbuf);
    L.wbuf = NULL;
    L.wbuf_len = 0;
    free(L.overrides);
    L.overrides = NULL;
    L.n_overrides = 0;
    L.level = RG_INFO;
    L.dropped_pending = 0;
    L.started = false;
    L.stopping = false;
    L.busy = false;
    pthread_mutex_unlock(&L.mu);
}
