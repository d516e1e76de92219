/*
 * ctl_args_internal: what ctl_args.c (reading argv) and ctl_opts.c (the
 * option table and what each option's value does) share.
 */
#ifndef REGENT_CTL_ARGS_INTERNAL_H
#define REGENT_CTL_ARGS_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "cli/ctl.h"

#define CMD(c)  (1u << (c))
#define LISTING (CMD(CTL_CMD_LIST) | CMD(CTL_CMD_TOPOLOGY))

enum opt_id {
    O_CONFIG,
    O_URL,
    O_FORMAT,
    O_TIMEOUT,
    O_INSECURE,
    O_HELP,
    O_FORCE,
    O_WAIT,
    O_NO_WAIT,
    O_EXTENDED,
    O_TIMESTAMP,
    O_WATCH2,
    O_WATCH,
    O_WATCH_COUNT,
    O_LEADER,
    O_CANDIDATE,
    O_SCHEDULED,
    O_ROLE,
    O_ANY,
    O_PG_VERSION,
    O_PENDING,
    O_FROM_LEADER,
    O_QUIET,
    O_SET,
    O_PG,
    O_APPLY,
    O_REPLACE,
};

enum arg_kind { A_NONE, A_REQ, A_OPT_SECS };

struct opt_def {
    enum opt_id id;
    char short_name; /* 0: none */
    const char *long_name;
    const char *alias; /* another long name, or NULL */
    enum arg_kind kind;
    uint32_t cmds; /* the commands it belongs to; 0: every command */
};

/* One option as it was written, and its value (borrowed from argv). */
struct seen {
    const struct opt_def *def;
    const char *as; /* "--force", "-f": for messages */
    char as_buf[40];
    const char *value;
};

/* The options, one table for every command (ctl_opts.c). */
extern const struct opt_def ctl__opts[];
extern const size_t ctl__n_opts;

/* Seconds in (0, 3600] as milliseconds, or -1. */
long ctl__parse_secs(const char *s);

/* What option @s does to @a, its value checked: CTL_EXIT_OK, or
 * CTL_EXIT_USAGE after a message on @err. */
int ctl__opt_apply(struct ctl_args *a, const struct seen *s, FILE *err);

#endif
