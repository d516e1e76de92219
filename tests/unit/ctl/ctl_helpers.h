/* Helpers shared by the ctl tests: capture what a printer writes. Include
 * after cmocka.h. */
#ifndef REGENT_TEST_CTL_HELPERS_H
#define REGENT_TEST_CTL_HELPERS_H

#include <stdio.h>
#include <stdlib.h>

struct capture {
    FILE *fp;
    char *text;
    size_t len;
};

static inline void capture_open(struct capture *c)
{
    c->text = NULL;
    c->fp = open_memstream(&c->text, &c->len);
    assert_non_null(c->fp);
}

/* The text written so far; the capture stays open. */
static inline const char *capture_text(struct capture *c)
{
    fflush(c->fp);
    return c->text != NULL ? c->text : "";
}

static inline void capture_close(struct capture *c)
{
    fclose(c->fp);
    free(c->text);
}

#endif
