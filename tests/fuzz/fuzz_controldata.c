/*
 * Fuzz target for pgi_controldata: any bytes as pg_controldata output.
 * Must never crash, hang or read past the input; a successful parse must
 * give LSNs that format and parse back to themselves and a state with a
 * name. The input, NUL-terminated, is also tried as an LSN.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "pg/pgi_controldata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lsn(uint64_t lsn)
{
    char buf[24];
    uint64_t back;
    pgi_lsn_format(lsn, buf, sizeof buf);
    if (pgi_lsn_parse(buf, &back) != 0 || back != lsn) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pgi_controldata cd;
    char errmsg[RG_ERRMSG_SIZE];
    /* A copy of exactly @size bytes, so that ASan sees any read past the end. */
    char *text = malloc(size > 0 ? size : 1);
    if (text == NULL) {
        abort();
    }
    memcpy(text, data, size);
    int rc = pgi_controldata_parse(text, size, &cd, errmsg);
    if (rc == 0) {
        check_lsn(cd.checkpoint_lsn);
        check_lsn(cd.redo_lsn);
        check_lsn(cd.min_recovery_lsn);
        if (pgi_db_state_name(cd.state) == NULL || strlen(cd.sysid) >= sizeof cd.sysid ||
            strlen(cd.state_text) >= sizeof cd.state_text) {
            abort();
        }
    } else if (rc != RG_EPARSE || errmsg[0] == '\0' || strlen(errmsg) >= RG_ERRMSG_SIZE) {
        abort();
    }
    free(text);

    if (size < 64) {
        char s[64];
        uint64_t lsn;
        memcpy(s, data, size);
        s[size] = '\0';
        if (pgi_lsn_parse(s, &lsn) == 0) {
            check_lsn(lsn);
        }
    }
    return 0;
}
