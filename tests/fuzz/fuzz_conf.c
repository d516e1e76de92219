/*
 * Fuzz target for pgi_conf: the input is JSON text, used as the dynamic
 * postgresql.parameters, as the local ones and as a pg_hba list. Whatever it
 * holds, pgi_conf_parameters must return an object whose every entry has a
 * valid name and a scalar value without a line break, and the rendered
 * postgresql.conf must consist of the header, the include line, and exactly
 * one "name = value" line per parameter (so no value can inject a line). The
 * raw input, parsed or not, also goes through pgi_conf_render as a parameters
 * object, pgi_conf_parse_listen and pgi_pgpass_line.
 */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "pg/pgi_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

/* Lines of @text that are neither blank nor comments. */
static size_t setting_lines(const char *text)
{
    size_t n = 0;
    const char *line = text;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        check(end != NULL); /* every line ends with '\n' */
        if (end > line && *line != '#') {
            n++;
        }
        line = end + 1;
    }
    return n;
}

static void check_parameters(const cJSON *p)
{
    const cJSON *item;
    char buf[64];
    size_t n = 0;

    check(cJSON_IsObject(p));
    cJSON_ArrayForEach(item, p)
    {
        check(pgi_conf_name_valid(item->string));
        check(cJSON_IsString(item) || cJSON_IsNumber(item) || cJSON_IsBool(item));
        if (cJSON_IsString(item)) {
            check(strpbrk(item->valuestring, "\n\r") == NULL);
        }
        (void)pgi_conf_value_text(p, item->string, buf, sizeof buf);
        n++;
    }
    check(cJSON_GetObjectItem(p, "hot_standby") != NULL);
    check(cJSON_GetObjectItem(p, "max_connections") != NULL);

    char *text = pgi_conf_render(p, PGI_CONF_BASE_CONF, NULL);
    check(setting_lines(text) == n + 1); /* + the include line */
    rg_free(text);
}

static void fuzz_text(const char *text)
{
    char addrs[256];
    unsigned port;
    (void)pgi_conf_parse_listen(text, addrs, sizeof addrs, &port);
    char *line = pgi_pgpass_line(text, "5432", "*", text, text);
    if (line != NULL) {
        check(strchr(line, '\n') == line + strlen(line) - 1);
        rg_free(line);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = rg_strndup((const char *)data, size);
    cJSON *j = cJSON_Parse(text);
    char *warnings = NULL;
    char errmsg[RG_ERRMSG_SIZE];

    fuzz_text(text);

    cJSON *p = pgi_conf_parameters(j, NULL, "127.0.0.1", 5432, "fuzz", 150000, &warnings);
    check_parameters(p);
    cJSON_Delete(p);
    rg_free(warnings);

    p = pgi_conf_parameters(NULL, j, NULL, 0, NULL, 120000, NULL);
    check_parameters(p);
    cJSON_Delete(p);

    p = pgi_conf_parameters(j, j, text, 1, text, 170000, &warnings);
    if (warnings != NULL) {
        check(warnings[strlen(warnings) - 1] == '\n');
    }
    rg_free(warnings);
    cJSON_Delete(p);

    /* Straight into render, past the merge's refusals. */
    struct pgi_standby st = {.primary_conninfo = text, .primary_slot_name = text};
    char *conf = pgi_conf_render(j, text, &st);
    rg_free(conf);

    char *hba = NULL;
    (void)pgi_conf_render_hba(j, &hba, errmsg);
    check(hba != NULL);
    rg_free(hba);

    cJSON_Delete(j);
    rg_free(text);
    return 0;
}
