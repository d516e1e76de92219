/*
 * watchdog: see watchdog.h. The Linux driver speaks <linux/watchdog.h>; the
 * test driver appends the same operations to an events file.
 */
#include "agent/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "agent/rg.h"
#include "agent/rg_log.h"

#define WD_LOGM "watchdog"

/* --- pure -------------------------------------------------------------------- */

enum wd_mode wd_mode_parse(const char *text)
{
    if (text == NULL) {
        return WD_AUTOMATIC;
    }
    if (strcmp(text, "off") == 0) {
        return WD_OFF;
    }
    if (strcmp(text, "required") == 0) {
        return WD_REQUIRED;
    }
    return WD_AUTOMATIC;
}

enum wd_driver wd_driver_parse(const char *text)
{
    return text != NULL && strcmp(text, "testing") == 0 ? WD_TESTING : WD_LINUX;
}

bool wd_timing_ok(uint64_t ttl_ms, uint64_t safety_margin_ms, uint64_t timeout_ms)
{
    return ttl_ms >= safety_margin_ms + timeout_ms + WD_MIN_SLACK_MS;
}

bool wd_may_kick(uint64_t deadline, uint64_t now, uint64_t timeout_ms)
{
    return deadline > now && deadline - now >= timeout_ms;
}

uint64_t wd_fence_at(
    uint64_t deadline, bool armed, uint64_t last_kick, uint64_t timeout_ms, uint64_t fence_budget)
{
    uint64_t at = deadline > fence_budget ? deadline - fence_budget : deadline != 0;
    if (armed) {
        /* The device must find PostgreSQL dead and itself disarmed: the fence
         * kills, waits for every process to go, then does the magic close,
         * which can take tens of ms on a loaded machine. Fencing that much
         * earlier than DESIGN's fence_budget costs nothing in safety (earlier
         * is always safe) and spares a cut-off primary a machine reset. */
        uint64_t lead = fence_budget > WD_FENCE_LEAD_MS ? fence_budget : WD_FENCE_LEAD_MS;
        uint64_t dev = last_kick + timeout_ms > lead ? last_kick + timeout_ms - lead : 1;
        if (at == 0 || dev < at) {
            at = dev;
        }
    }
    return at;
}

bool wd_fails_requirement(enum wd_mode mode, bool timing_ok, bool device_ok)
{
    return mode == WD_REQUIRED && (!timing_ok || !device_ok);
}

/* --- the device ------------------------------------------------------------------ */

void wd_init(
    struct wd *w, enum wd_mode mode, enum wd_driver driver, const char *device, unsigned timeout_ms)
{
    memset(w, 0, sizeof *w);
    w->mode = mode;
    w->driver = driver;
    snprintf(w->device, sizeof w->device, "%s", device != NULL ? device : "/dev/watchdog");
    w->timeout_s = (timeout_ms + 999) / 1000;
    w->fd = -1;
}

/* The test driver's line. Short appends to a local file: the events file
 * lives on the test's own disk, and a test-only driver may cost that. */
static int event(struct wd *w, const char *what)
{
    char line[160];
    int n = snprintf(line, sizeof line, "%" PRIu64 " %s\n", rg_boottime_ms(), what);
    if (n < 0 || (size_t)n >= sizeof line || write(w->fd, line, (size_t)n) != (ssize_t)n) {
        return -1;
    }
    return 0;
}

bool wd_device_ok(const struct wd *w)
{
    if (w->armed) {
        return true;
    }
    /* A device that refused to arm is tried again only after a while. */
    if (w->failed && rg_boottime_ms() - w->failed_at < WD_RETRY_MS) {
        return false;
    }
    if (access(w->device, W_OK) == 0) {
        return true;
    }
    if (w->driver == WD_TESTING && errno == ENOENT) {
        /* The events file is created on the first arm: its directory must
         * be writable. */
        char dir[sizeof w->device];
        snprintf(dir, sizeof dir, "%s", w->device);
        char *slash = strrchr(dir, '/');
        if (slash != NULL) {
            *(slash == dir ? slash + 1 : slash) = '\0';
            return access(dir, W_OK) == 0;
        }
    }
    return false;
}

static int fail(struct wd *w, int rv, const char *fmt, const char *arg)
{
    int e = errno;
    char what[200];
    snprintf(what, sizeof what, fmt, arg);
    snprintf(w->why, sizeof w->why, "%.200s %.300s: %.200s", what, w->device, strerror(e));
    w->failed = true;
    w->failed_at = rg_boottime_ms();
    return rv;
}

static int arm_linux(struct wd *w)
{
    struct watchdog_info info;
    int timeout = (int)w->timeout_s;
    w->fd = open(w->device, O_WRONLY | O_CLOEXEC);
    if (w->fd < 0) {
        return fail(w, RG_EIO, "%s", "cannot open");
    }
    memset(&info, 0, sizeof info);
    if (ioctl(w->fd, WDIOC_GETSUPPORT, &info) == 0) {
        snprintf(w->identity, sizeof w->identity, "%.32s", (const char *)info.identity);
    } else {
        snprintf(w->identity, sizeof w->identity, "unknown");
    }
    /* The driver may round the timeout; it returns what it set. Some
     * drivers refuse SETTIMEOUT: then the one in force is what counts. */
    if (ioctl(w->fd, WDIOC_SETTIMEOUT, &timeout) != 0 &&
        ioctl(w->fd, WDIOC_GETTIMEOUT, &timeout) != 0) {
        return fail(w, RG_EIO, "%s", "cannot set or read the timeout of");
    }
    if (timeout <= 0 || (unsigned)timeout > w->timeout_s) {
        char msg[160];
        snprintf(msg, sizeof msg, "the device grants a %d s timeout, more than the %u s asked, on",
                 timeout, w->timeout_s);
        errno = ERANGE;
        return fail(w, RG_EINVAL, "%s", msg);
    }
    w->granted_s = (unsigned)timeout;
    if (ioctl(w->fd, WDIOC_KEEPALIVE, 0) != 0) {
        return fail(w, RG_EIO, "%s", "cannot kick");
    }
    return 0;
}

static int arm_testing(struct wd *w)
{
    char line[96];
    w->fd = open(w->device, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        return fail(w, RG_EIO, "%s", "cannot open the test watchdog's events file");
    }
    snprintf(w->identity, sizeof w->identity, "regent testing watchdog");
    w->granted_s = w->timeout_s;
    snprintf(line, sizeof line, "arm timeout=%u pid=%ld", w->granted_s, (long)getpid());
    if (event(w, line) != 0) {
        return fail(w, RG_EIO, "%s", "cannot write to");
    }
    return 0;
}

int wd_arm(struct wd *w)
{
    if (w->armed) {
        return 0;
    }
    /* Read before the open: the kick the arm amounts to is no earlier. */
    uint64_t now = rg_boottime_ms();
    w->failed = false;
    w->why[0] = '\0';
    int rv = w->driver == WD_TESTING ? arm_testing(w) : arm_linux(w);
    if (rv != 0) {
        if (w->fd >= 0) {
            /* Nothing runs as a primary yet (we arm before it may): the
             * device can be stopped cleanly. */
            if (w->driver == WD_LINUX && write(w->fd, "V", 1) != 1) {
                rg_log(RG_WARNING, WD_LOGM, "magic close of %s: %s", w->device, strerror(errno));
            }
            close(w->fd);
            w->fd = -1;
        }
        w->granted_s = 0;
        return rv;
    }
    w->armed = true;
    w->last_kick = now;
    rg_log(RG_INFO, WD_LOGM, "armed %s (%s), timeout %u s", w->device, w->identity, w->granted_s);
    return 0;
}

bool wd_kick(struct wd *w, uint64_t deadline)
{
    if (!w->armed) {
        return false;
    }
    uint64_t now = rg_boottime_ms();
    if (!wd_may_kick(deadline, now, (uint64_t)w->granted_s * 1000)) {
        return false;
    }
    int rc = w->driver == WD_TESTING ? event(w, "keepalive") : ioctl(w->fd, WDIOC_KEEPALIVE, 0);
    if (rc != 0) {
        rg_log(RG_ERROR, WD_LOGM, "keepalive on %s failed: %s", w->device, strerror(errno));
        return false;
    }
    w->last_kick = now;
    return true;
}

void wd_disarm(struct wd *w, const char *why)
{
    if (!w->armed) {
        return;
    }
    int rc = w->driver == WD_TESTING ? event(w, "disarm") : (int)write(w->fd, "V", 1) - 1;
    if (rc != 0) {
        rg_log(RG_WARNING, WD_LOGM, "magic close of %s failed (it stays armed): %s", w->device,
               strerror(errno));
    } else {
        rg_log(RG_INFO, WD_LOGM, "disarmed %s: %s", w->device, why);
    }
    close(w->fd);
    w->fd = -1;
    w->armed = false;
    w->granted_s = 0;
}

void wd_close_armed(struct wd *w)
{
    if (!w->armed) {
        return;
    }
    if (w->driver == WD_TESTING) {
        (void)event(w, "close");
    }
    rg_log(RG_WARNING, WD_LOGM,
           "closing %s without disarming it: PostgreSQL may still run, the device will reset "
           "the machine in %u s",
           w->device, w->granted_s);
    close(w->fd);
    w->fd = -1;
    w->armed = false;
    w->granted_s = 0;
}
