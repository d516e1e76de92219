/*
 * Fuzz target for cfg: any bytes as a configuration, for both kinds and in
 * strict mode, without the environment. Must never crash, hang or leak;
 * a loaded configuration is also printed (cfg_to_json) and freed.
 */
#include <stdint.h>
#include <stdlib.h>

#include "agent/cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum cfg_kind kinds[] = {CFG_AGENT, CFG_WITNESS};
    static const unsigned flags[] = {CFG_NO_ENV | CFG_QUIET, CFG_NO_ENV | CFG_QUIET | CFG_STRICT};
    char errbuf[4096];
    for (size_t k = 0; k < 2; k++) {
        for (size_t f = 0; f < 2; f++) {
            struct cfg *cfg = NULL;
            int rc = cfg_load_string((const char *)data, size, "fuzz.yml", kinds[k], flags[f], &cfg,
                                     errbuf, sizeof errbuf);
            if (rc == 0) {
                cJSON *j = cfg_to_json(cfg);
                char *s = cJSON_PrintUnformatted(j);
                cJSON_free(s);
                cJSON_Delete(j);
                cfg_free(cfg);
            } else if (cfg != NULL) {
                abort(); /* a failed load hands nothing out */
            }
        }
    }
    return 0;
}
