/*
 * regentctl: the command-line client. It talks only to the members' REST
 * API (never to Raft directly); see cli/ctl.h for its parts and
 * docs/regentctl.md for its use. This file wires the standard streams in
 * and runs the command.
 *
 * Exit status: 0 done, 1 refused or failed, 2 usage.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/ctl.h"

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct ctl_args a;
    int rv = ctl_args_parse(&a, argc, argv, stderr);
    if (rv == CTL_EXIT_OK) {
        a.io = (struct ctl_io){
            .in = stdin, .out = stdout, .err = stderr, .out_tty = isatty(STDOUT_FILENO) == 1};
        rv = ctl_run(&a);
    }
    ctl_args_close(&a);
    fflush(stdout);
    curl_global_cleanup();
    return rv;
}
