/*
 * ctl_prompt: asking the user, as click does for patronictl, and the times
 * regentctl reads and prints.
 *
 * Prompts go to the command's output and answers come from its input, a
 * line each; a test feeds them on stdin. click's shapes are kept:
 * "Question [default]: " and "Question? [y/N]: ". End of input answers
 * no to a confirmation and aborts a prompt (click raises Abort).
 *
 * --scheduled takes ISO 8601 (rg_iso8601_parse); a time without a zone is
 * local, as patronictl's dateutil does, and goes out with the local offset
 * of that day ("2024-05-01T10:00:00+02:00", what Python's isoformat()
 * gives).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "agent/rg.h"
#include "cli/ctl.h"

/* One line of @in without its end; -1 at end of input. */
static int read_line(FILE *in, char *buf, size_t len)
{
    if (fgets(buf, (int)len, in) == NULL) {
        return -1;
    }
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }
    return 0;
}

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
        p[--n] = '\0';
    }
    return p;
}

bool ctl_confirm(FILE *in, FILE *out, const char *question)
{
    char line[128];
    fprintf(out, "%s ", question);
    fflush(out);
    if (read_line(in, line, sizeof line) != 0) {
        fputc('\n', out); /* end of input: finish the prompt's line */
        return false;
    }
    char *p = trim(line);
    return strcasecmp(p, "y") == 0 || strcasecmp(p, "yes") == 0;
}

bool ctl_ask_yes(const struct ctl_io *io, const char *question)
{
    char *q = rg_asprintf("%s [y/N]:", question);
    bool yes = ctl_confirm(io->in, io->out, q);
    rg_free(q);
    return yes;
}

int ctl_prompt(const struct ctl_io *io, const char *question, const char *def, char **answer)
{
    char line[1024];
    if (def != NULL) {
        fprintf(io->out, "%s [%s]: ", question, def);
    } else {
        fprintf(io->out, "%s: ", question);
    }
    fflush(io->out);
    if (read_line(io->in, line, sizeof line) != 0) {
        fputc('\n', io->out);
        return -1;
    }
    char *p = trim(line);
    *answer = rg_strdup(p[0] == '\0' && def != NULL ? def : p);
    return 0;
}

/* --- times ----------------------------------------------------------------- */

/* The offset from UTC, in seconds, of local time at @t. */
static long local_offset(time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    return tm.tm_gmtoff;
}

/* The zone written at the end of a time rg_iso8601_parse() accepted ("Z",
 * "+HH", "+HHMM", "+HH:MM"), in seconds east of UTC. */
static long written_offset(const char *s)
{
    const char *z = s + 11 + strcspn(s + 11, "+-Zz"); /* after the date and the T */
    if (*z != '+' && *z != '-') {
        return 0;
    }
    const char *p = z + 1;
    long h = (p[0] - '0') * 10 + (p[1] - '0'), m = 0;
    p += 2;
    p += *p == ':';
    if (p[0] != '\0') {
        m = (p[0] - '0') * 10 + (p[1] - '0');
    }
    long off = h * 3600 + m * 60;
    return *z == '-' ? -off : off;
}

int ctl_time_parse(const char *s, char **iso)
{
    *iso = NULL;
    if (s[0] == '\0' || strcmp(s, "now") == 0) {
        return 0;
    }
    int64_t ms;
    int rv = rg_iso8601_parse(s, &ms);
    long off;
    if (rv == RG_ENOENT) {
        /* The fields are local time: find the instant they name. */
        time_t as_utc = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&as_utc, &tm);
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t == (time_t)-1) {
            return -1;
        }
        ms = (int64_t)t * 1000 + ms % 1000;
        off = local_offset(t);
    } else if (rv == 0) {
        off = written_offset(s);
    } else {
        return -1;
    }
    time_t shown = (time_t)(ms / 1000 + off);
    struct tm tm;
    gmtime_r(&shown, &tm);
    char base[32], frac[16] = "";
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms % 1000 != 0) {
        snprintf(frac, sizeof frac, ".%03d000", (int)(ms % 1000));
    }
    long a = off < 0 ? -off : off;
    *iso = rg_asprintf("%s%s%c%02ld:%02ld", base, frac, off < 0 ? '-' : '+', a / 3600,
                       (a % 3600) / 60);
    return 0;
}

void ctl_timestamp(char *buf, size_t len, bool fraction)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%d %H:%M:%S", &tm);
    if (fraction) {
        /* timestamp() cuts the last of the six digits. */
        snprintf(buf, len, "%s.%05ld", base, (long)tv.tv_usec / 10);
    } else {
        snprintf(buf, len, "%s", base);
    }
}

void ctl_next_hour(char *buf, size_t len)
{
    time_t t = time(NULL) + 3600;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M", &tm);
}
