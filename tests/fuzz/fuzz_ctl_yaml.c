/*
 * Fuzz target for regentctl's YAML (cli/ctl_yaml.c, ctl_yaml_dump.c): any
 * bytes as a document, as edit-config --apply and -c CONFIG read them.
 * Must never crash, hang or leak; a document that loads is dumped in both
 * styles, and the block dump must load back to the same value (what
 * edit-config's diff and the editor rely on).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *v = NULL;
    char err[512];
    if (ctl_yaml_parse((const char *)data, size, &v, err, sizeof err) != 0) {
        if (v != NULL) {
            abort(); /* a failed load hands nothing out */
        }
        return 0;
    }
    char *flow = ctl_yaml_dump_flow(v);
    char *block = ctl_yaml_dump(v);
    cJSON *back = NULL;
    if (ctl_yaml_parse(block, strlen(block), &back, err, sizeof err) != 0 ||
        !cJSON_Compare(v, back, true)) {
        abort(); /* what regentctl writes, it must read back */
    }
    cJSON_Delete(back);
    rg_free(block);
    rg_free(flow);
    cJSON_Delete(v);
    return 0;
}
