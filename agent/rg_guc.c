#include "agent/rg_guc.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/rg.h"

bool rg_guc_bool(const cJSON *v, bool *out)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
        return true;
    }
    if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1)) {
        *out = v->valuedouble == 1;
        return true;
    }
    for (size_t i = 0; cJSON_IsString(v) && i < RG_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(v->valuestring, yes[i]) == 0 || strcasecmp(v->valuestring, no[i]) == 0) {
            *out = strcasecmp(v->valuestring, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

bool rg_guc_int(const cJSON *v, long long *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -9007199254740992.0 && d < 9007199254740992.0 && (double)(long long)d == d) {
            *out = (long long)d;
            return true;
        }
        return false;
    }
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
        isspace((unsigned char)v->valuestring[0])) {
        return false;
    }
    char *end;
    errno = 0;
    long long n = strtoll(v->valuestring, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = n;
    return true;
}

bool rg_guc_size_kb(const cJSON *v, long long *kb)
{
    static const struct {
        const char *unit;
        long long num, den;
    } units[] = {{"", 1024, 1},   {"B", 1, 1024},         {"kB", 1, 1},
                 {"MB", 1024, 1}, {"GB", 1024 * 1024, 1}, {"TB", 1024LL * 1024 * 1024, 1}};
    long long n;
    const char *unit = "";
    if (cJSON_IsNumber(v)) {
        if (!rg_guc_int(v, &n)) {
            return false;
        }
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        char *end;
        if (!isdigit((unsigned char)*s) && *s != '-') {
            return false;
        }
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno != 0 || end == s) {
            return false;
        }
        while (*end == ' ') {
            end++;
        }
        unit = end;
    } else {
        return false;
    }
    for (size_t i = 0; i < RG_ARRAY_SIZE(units); i++) {
        if (strcmp(unit, units[i].unit) == 0) {
            if (n > LLONG_MAX / units[i].num || n < -(LLONG_MAX / units[i].num)) {
                return false;
            }
            *kb = n * units[i].num / units[i].den;
            return true;
        }
    }
    return false;
}
