/*
 * Fuzz target for cfg_dcs: any bytes, parsed as JSON, are checked as a
 * dynamic configuration against an agent's, a witness's and no local
 * configuration. Must never crash, hang or leak. A document within the
 * shape limits also goes through the properties the REST API relies on:
 * merge patch is idempotent (patching twice with the same patch changes
 * nothing more), and masking then unmasking against the original gives the
 * original back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cfg.h"
#include "agent/cfg_dcs.h"
#include "agent/rg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char agent_yml[] = "scope: fuzz\nname: n1\nrestapi: {listen: '127.0.0.1:8008'}\n"
                                "postgresql: {data_dir: /pg}\n"
                                "raft: {data_dir: /r, self_addr: '127.0.0.1:2222', "
                                "password: fuzz-secret}\n";
static const char witness_yml[] = "scope: fuzz\nname: w\nrestapi: {listen: '127.0.0.1:8008'}\n"
                                  "raft: {data_dir: /r, self_addr: '127.0.0.1:2222', "
                                  "password: fuzz-secret}\n";

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static struct cfg *load(const char *yml, enum cfg_kind kind)
{
    struct cfg *cfg = NULL;
    char err[1024];
    check(cfg_load_string(yml, strlen(yml), "fuzz.yml", kind, CFG_NO_ENV | CFG_QUIET, &cfg, err,
                          sizeof err) == 0);
    return cfg;
}

/* cJSON reads 1e400 as infinity, and cJSON_Compare never finds two
 * infinities equal: the properties below are checked without them. */
static int all_finite(const cJSON *j)
{
    if (cJSON_IsNumber(j) && !(j->valuedouble - j->valuedouble == 0)) {
        return 0;
    }
    for (const cJSON *c = j->child; c != NULL; c = c->next) {
        if (!all_finite(c)) {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Loaded once: the fuzzer's process lives for the whole run. */
    static struct cfg *agent, *witness;
    if (agent == NULL) {
        agent = load(agent_yml, CFG_AGENT);
        witness = load(witness_yml, CFG_WITNESS);
    }
    cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
    if (doc == NULL) {
        return 0;
    }
    char err[CFG_DCS_ERRLEN];
    const struct cfg *const locals[] = {agent, witness, NULL};
    for (size_t i = 0; i < 3; i++) {
        int rc = cfg_dcs_check(doc, locals[i], err, sizeof err);
        check(rc == 0 || (rc == RG_EINVAL && err[0] != '\0'));
    }
    if (cfg_dcs_check_shape(doc, err, sizeof err) == 0 && all_finite(doc)) {
        cJSON *once = cfg_dcs_merge_patch(doc, doc);
        cJSON *twice = cfg_dcs_merge_patch(once, doc);
        check(cJSON_Compare(once, twice, 1));
        cJSON_Delete(twice);
        cJSON_Delete(once);
        cJSON *fresh = cfg_dcs_merge_patch(NULL, doc);
        cJSON_Delete(fresh);

        cJSON *masked = cfg_dcs_masked(doc);
        char *text = cJSON_PrintUnformatted(masked);
        cJSON_free(text);
        check(cfg_dcs_unmask(masked, doc, err, sizeof err) == 0);
        check(cJSON_Compare(masked, doc, 1));
        cJSON_Delete(masked);
    }
    cJSON_Delete(doc);
    return 0;
}
