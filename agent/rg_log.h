/*
 * rg_log: the process-wide log.
 *
 * rg_log() never blocks and never fails: it formats the line (timestamp,
 * level, module) into a bounded in-memory queue and returns. A writer drains
 * the queue to stderr or to rotating files (<dir>/regent.log,
 * regent.log.1 … regent.log.<file_num-1>, rotated at file_size bytes). When the
 * destination is slow or stuck the queue fills up; further lines are dropped
 * and counted, and a line "N log lines dropped" is written once the writer
 * catches up. The event loop therefore never waits on a log destination
 * (DESIGN.md, "One loop").
 *
 * Levels can be overridden per module ("raft", "store", "api", "rtx", …).
 */
#ifndef REGENT_RG_LOG_H
#define REGENT_RG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rg_log_level { RG_DEBUG = 0, RG_INFO = 1, RG_WARNING = 2, RG_ERROR = 3 };

struct rg_log_module_level {
    char *module; /* owned */
    int level;
};

struct rg_log_options {
    int level;                                 /* default RG_INFO */
    const char *dir;                           /* NULL: stderr */
    uint64_t file_size;                        /* bytes before rotating; 0: never */
    unsigned file_num;                         /* files kept, >= 1 */
    const struct rg_log_module_level *modules; /* borrowed during the call */
    size_t n_modules;
    size_t max_queue;  /* lines; 0: default 1000 */
    const char *ident; /* "regent", "regent-witness" */
};

/* "debug" | "info" | "warning" (also "warn") | "error" (also "critical") →
 * level; case-insensitive. -1 when unknown. */
int rg_log_level_parse(const char *name);
const char *rg_log_level_name(int level);

/*
 * Start (or reconfigure, e.g. after SIGHUP) the log. Before the first call,
 * lines go to stderr at level INFO. 0, or RG_EIO with @errmsg when the log
 * directory cannot be used (the previous destination stays in force).
 */
int rg_log_configure(const struct rg_log_options *opts, char *errmsg);

/* Queue a line. Safe from any thread. */
void rg_log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when a line of @level for @module would be kept (skip costly formatting). */
bool rg_log_enabled(int level, const char *module);

/* Lines dropped since start because the queue was full. */
uint64_t rg_log_dropped(void);

/* Wait until everything queued so far is written, at most @timeout_ms.
 * 0 or RG_ETIMEDOUT. Not for the event loop (it waits); for tests and exit. */
int rg_log_flush(unsigned timeout_ms);

/* Write out everything queued, waiting at most @timeout_ms (a writer stuck
 * on its destination is then abandoned); then stop the writer. Called at exit (also
 * registered with atexit()). A later rg_log() or rg_log_configure() starts
 * again from the defaults (stderr, INFO). */
void rg_log_shutdown(unsigned timeout_ms);

#endif
