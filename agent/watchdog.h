/*
 * watchdog: the Linux watchdog device (DESIGN.md, "Leases", rule 5), and a
 * test driver that behaves like one.
 *
 * While a PostgreSQL of ours may run as a primary, the device is armed: if
 * nobody kicks it for `timeout` whole seconds the machine is reset, so a
 * frozen agent (SIGSTOP, a stalled VM) cannot leave a primary running past
 * its lease. The agent kicks only while `deadline − now ≥ timeout` (now read
 * just before the ioctl): then the reset comes no later than the lease
 * deadline, and the fence (ha_lease.c) fires at min(deadline, last_kick +
 * timeout) − fence_budget, before the device would. The device is disarmed
 * with the magic close ('V', then close) only once every PostgreSQL
 * process is gone; any other close (the agent dies, exits with PostgreSQL
 * running) leaves it armed, and the kernel counts the close as one last
 * keepalive.
 *
 * Why these syscalls may run on the loop: open() and ioctl() of a watchdog
 * character device are handled by the driver in a few microseconds and
 * never wait for I/O (softdog only re-arms a kernel timer), and they happen
 * only when a primary is about to start or promote (open, WDIOC_SETTIMEOUT,
 * WDIOC_GETSUPPORT), at each applied renewal while primary (WDIOC_KEEPALIVE,
 * 4 per second) and at disarm. Doing them in a thread would make the
 * keepalive less, not more, faithful to the loop's health, which is the
 * whole point of the keepalive.
 *
 * The test driver (watchdog.driver: testing; test-only, never for
 * production): watchdog.device names an events file. Each operation appends
 * one line, "<CLOCK_BOOTTIME ms> <event> [key=value ...]\n":
 *   <ms> arm timeout=<s> pid=<agent pid>   opened and timeout set (a kick)
 *   <ms> keepalive                          WDIOC_KEEPALIVE
 *   <ms> disarm                             magic close: the device stops
 *   <ms> close                              closed without the magic character:
 *                                           still armed (one last keepalive)
 * A supervisor (tests/cluster/wd_supervisor.py) reads the file and, like the
 * kernel, SIGKILLs the node's PostgreSQL and agent when an armed device is
 * not kicked within the timeout; the death of the agent holding it counts
 * as a close. docs/internals/watchdog.md has the details.
 */
#ifndef REGENT_WATCHDOG_H
#define REGENT_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

enum wd_mode { WD_OFF, WD_AUTOMATIC, WD_REQUIRED };
enum wd_driver { WD_LINUX, WD_TESTING };

/* ttl − safety_margin − timeout must leave this much (ms) for renewals to
 * keep the watchdog kicked (DESIGN.md, timing budget). */
#define WD_MIN_SLACK_MS 500
/* After a failed arm the device counts as unusable for this long (ms). */
#define WD_RETRY_MS 30000

struct wd {
    enum wd_mode mode;
    enum wd_driver driver;
    char device[512];
    unsigned timeout_s; /* what we ask for */
    unsigned granted_s; /* what the device took (0 while not armed) */
    int fd;             /* -1 while closed */
    bool armed;
    uint64_t last_kick; /* boot ms read before the last keepalive (or the arm) */
    char identity[64];  /* WDIOC_GETSUPPORT's identity, for the log */
    bool failed;        /* the last attempt to arm failed: why says why */
    uint64_t failed_at; /* boot ms of that attempt */
    char why[768];
    bool warned; /* automatic mode said once why it runs without */
};

/* --- pure -------------------------------------------------------------------- */

/* "off" | "automatic" | "required" (cfg_keys.c maps Patroni's spellings);
 * NULL is the default, automatic. */
enum wd_mode wd_mode_parse(const char *text);
/* "linux" (default, NULL) | "testing". */
enum wd_driver wd_driver_parse(const char *text);

/* Do ttl, safety_margin and the watchdog timeout leave the renewals enough
 * slack (WD_MIN_SLACK_MS) to keep a watchdog kicked? */
bool wd_timing_ok(uint64_t ttl_ms, uint64_t safety_margin_ms, uint64_t timeout_ms);

/* May the watchdog be kicked at @now (boot ms) under a lease @deadline (0:
 * none)? Only while deadline − now ≥ timeout: a reset that comes one
 * timeout after this kick still comes before the deadline. */
bool wd_may_kick(uint64_t deadline, uint64_t now, uint64_t timeout_ms);

/* How long before the device would fire the fence comes (ms): time for the
 * kill, the wait for every process and the magic close. */
#define WD_FENCE_LEAD_MS 250

/* When the fence is due (boot ms): min(deadline − fence_budget, last_kick +
 * timeout − max(fence_budget, WD_FENCE_LEAD_MS)) while @armed, deadline −
 * fence_budget otherwise; 0 when there is no deadline and no armed device.
 * Never 0 otherwise. */
uint64_t wd_fence_at(
    uint64_t deadline, bool armed, uint64_t last_kick, uint64_t timeout_ms, uint64_t fence_budget);

/* Is this member unfit for the lease because of its watchdog? Only in
 * required mode: when the timing cannot keep it kicked, or the device is
 * not usable (@device_ok: it is armed, or it can be opened for writing and
 * the last attempt to arm it did not fail). */
bool wd_fails_requirement(enum wd_mode mode, bool timing_ok, bool device_ok);

/* --- the device ------------------------------------------------------------------ */

void wd_init(struct wd *w,
             enum wd_mode mode,
             enum wd_driver driver,
             const char *device,
             unsigned timeout_ms);

/* Could the device be armed now (cheap: access(2), no open)? Not for
 * WD_RETRY_MS after an attempt to arm it failed. */
bool wd_device_ok(const struct wd *w);

/* Open the device, set the timeout, read back what it granted, and kick it.
 * A device that grants a longer timeout than asked is not safe: it is
 * closed (still armed, as the kernel will have it) and the arm fails.
 * Returns 0 (armed, or already armed) or an RG_ error with w->why set. */
int wd_arm(struct wd *w);

/* WDIOC_KEEPALIVE if wd_may_kick(deadline, now) with now read here, just
 * before the ioctl. Returns true when it kicked. */
bool wd_kick(struct wd *w, uint64_t deadline);

/* Magic close: every PostgreSQL process is gone (or pause); @why is logged. */
void wd_disarm(struct wd *w, const char *why);

/* Close without the magic character: the device stays armed and counts
 * down from this last keepalive (the agent exits with PostgreSQL running). */
void wd_close_armed(struct wd *w);

#endif
