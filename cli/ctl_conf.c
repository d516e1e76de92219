/*
 * ctl_conf: where regentctl finds the cluster and how it proves who it is.
 *
 * -c CONFIG (else $REGENTCTL_CONFIG_FILE) names a YAML file: an agent's own
 * configuration, or a ctl-only file with just ctl: (and maybe restapi: and
 * scope:). Both load the same way, with ctl_yaml, not with cfg_load: a ctl
 * file is not a valid agent configuration and must still load, and regentctl
 * needs only three sections of an agent's. From it, as patronictl reads it:
 *
 *   URLs         ctl.urls (Regent's own: a list, or a comma-separated
 *                string), then restapi.connect_address (else .listen; a
 *                wildcard address means loopback; https with restapi.certfile)
 *   credentials  ctl.authentication, else restapi.authentication
 *   TLS          ctl.cacert, else restapi.cafile; ctl.certfile, ctl.keyfile,
 *                ctl.keyfile_password (never restapi's: patronictl >= 3.1);
 *                ctl.insecure
 *   scope        the name the cluster must have
 *
 * Then the environment overrides the file, field by field: REGENTCTL_USERNAME,
 * REGENTCTL_PASSWORD, REGENTCTL_CACERT, REGENTCTL_CERTFILE,
 * REGENTCTL_KEYFILE, REGENTCTL_KEYFILE_PASSWORD, REGENTCTL_INSECURE; -k
 * forces insecure; a URL's own user:password@ wins over all. URLs: --url and
 * -c, else $REGENTCTL_URL (comma-separated), else CTL_DEFAULT_URL.
 *
 * No message here ever shows a value: unknown ctl.* keys are named by path
 * only, and YAML errors give a line and a column.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/rg.h"
#include "cli/ctl.h"

#define MAX_CONFIG_SIZE (16u << 20)

static void set_str(char **field, const char *v)
{
    rg_free(*field);
    *field = v != NULL ? rg_strdup(v) : NULL;
}

/* A scalar as text: YAML may have made a password or a port a number. */
static char *scalar_text(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        return rg_strdup(v->valuestring);
    }
    if (cJSON_IsNumber(v)) {
        return v->valuedouble == (double)(long long)v->valuedouble
                   ? rg_asprintf("%lld", (long long)v->valuedouble)
                   : rg_asprintf("%g", v->valuedouble);
    }
    if (cJSON_IsBool(v)) {
        return rg_strdup(cJSON_IsTrue(v) ? "true" : "false");
    }
    return NULL;
}

static void take(char **field, const cJSON *obj, const char *key)
{
    char *v = scalar_text(cJSON_GetObjectItemCaseSensitive(obj, key));
    if (v != NULL) {
        rg_free(*field);
        *field = v;
    }
}

/* "true", "yes", "on", "1" (any case) -> 1; their opposites and "" -> 0. */
static int parse_bool(const char *s)
{
    static const char *const yes[] = {"1", "true", "yes", "on", "y"};
    static const char *const no[] = {"0", "false", "no", "off", "n", ""};
    for (size_t i = 0; i < RG_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            return 1;
        }
    }
    for (size_t i = 0; i < RG_ARRAY_SIZE(no); i++) {
        if (strcasecmp(s, no[i]) == 0) {
            return 0;
        }
    }
    return -1;
}

/* restapi.connect_address (else listen) as a base URL. */
static void add_restapi_url(struct ctl_opts *o, const cJSON *restapi)
{
    const char *addr = ctl_str(restapi, "connect_address");
    addr = addr != NULL ? addr : ctl_str(restapi, "listen");
    if (addr == NULL) {
        return;
    }
    const char *colon = strrchr(addr, ':');
    const char *port = colon != NULL ? colon + 1 : "8008";
    size_t hlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)hlen, addr);
    /* A wildcard listen address is reached on loopback. */
    const char *h = host;
    if (host[0] == '\0' || strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        h = "127.0.0.1";
    } else if (strcmp(host, "[::]") == 0 || strcmp(host, "::") == 0) {
        h = "[::1]";
    }
    bool tls = cJSON_GetObjectItemCaseSensitive(restapi, "certfile") != NULL &&
               !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(restapi, "certfile"));
    char *url = rg_asprintf("%s://%s:%s", tls ? "https" : "http", h, port);
    ctl_urls_add(o, url);
    rg_free(url);
}

static void take_auth(struct ctl_auth *auth, const cJSON *section)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(section, "authentication");
    if (ctl_str(a, "username") == NULL) {
        return;
    }
    take(&auth->username, a, "username");
    set_str(&auth->password, NULL);
    take(&auth->password, a, "password");
}

static int read_ctl(struct ctl_opts *o, const cJSON *ctl, const char *path, FILE *err)
{
    static const char *const known[] = {"authentication", "insecure", "cacert",          "certfile",
                                        "keyfile",        "urls",     "keyfile_password"};
    const cJSON *it;
    cJSON_ArrayForEach(it, ctl)
    {
        bool ok = false;
        for (size_t i = 0; i < RG_ARRAY_SIZE(known) && !ok; i++) {
            ok = strcmp(it->string, known[i]) == 0;
        }
        if (!ok) {
            fprintf(err, "regentctl: %s: ctl.%s: unknown key, ignored\n", path, it->string);
        }
    }
    const cJSON *urls = cJSON_GetObjectItemCaseSensitive(ctl, "urls");
    if (cJSON_IsString(urls)) {
        ctl_urls_add(o, urls->valuestring);
    }
    const cJSON *list = cJSON_IsArray(urls) ? urls : NULL;
    cJSON_ArrayForEach(it, list)
    {
        if (cJSON_IsString(it)) {
            ctl_urls_add(o, it->valuestring);
        }
    }
    take_auth(&o->auth, ctl);
    take(&o->tls.cacert, ctl, "cacert");
    take(&o->tls.certfile, ctl, "certfile");
    take(&o->tls.keyfile, ctl, "keyfile");
    take(&o->tls.keyfile_password, ctl, "keyfile_password");
    const cJSON *insecure = cJSON_GetObjectItemCaseSensitive(ctl, "insecure");
    char *text = scalar_text(insecure);
    if (text != NULL) {
        int b = parse_bool(text);
        if (b < 0) {
            fprintf(err, "regentctl: %s: ctl.insecure: must be true or false\n", path);
            rg_free(text);
            return -1;
        }
        o->tls.insecure = b == 1;
        rg_free(text);
    }
    return 0;
}

static char *read_file(const char *path, size_t *len, FILE *err)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        fprintf(err, "regentctl: could not open \"%s\": %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = rg_malloc(MAX_CONFIG_SIZE + 1);
    *len = fread(buf, 1, MAX_CONFIG_SIZE + 1, fp);
    bool bad = ferror(fp) != 0 || *len > MAX_CONFIG_SIZE;
    int e = errno;
    fclose(fp);
    if (bad) {
        fprintf(err, "regentctl: could not read \"%s\": %s\n", path,
                *len > MAX_CONFIG_SIZE ? "larger than 16 MiB" : strerror(e));
        rg_free(buf);
        return NULL;
    }
    buf[*len] = '\0';
    return buf;
}

int ctl_conf_load(struct ctl_opts *o, const char *path, FILE *err)
{
    size_t len;
    char *text = read_file(path, &len, err);
    if (text == NULL) {
        return -1;
    }
    cJSON *doc = NULL;
    char why[512];
    int rv = ctl_yaml_parse(text, len, &doc, why, sizeof why);
    rg_free(text);
    if (rv != 0) {
        fprintf(err, "regentctl: could not load \"%s\": %s\n", path, why);
        return -1;
    }
    if (!cJSON_IsObject(doc) && !cJSON_IsNull(doc)) {
        fprintf(err, "regentctl: could not load \"%s\": not a YAML mapping\n", path);
        cJSON_Delete(doc);
        return -1;
    }
    if (o->scope == NULL && ctl_str(doc, "scope") != NULL) {
        o->scope = rg_strdup(ctl_str(doc, "scope"));
    }
    const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(doc, "ctl");
    const cJSON *restapi = cJSON_GetObjectItemCaseSensitive(doc, "restapi");
    rv = 0;
    /* restapi's settings first: ctl's replace them. */
    take_auth(&o->auth, restapi);
    take(&o->tls.cacert, restapi, "cafile");
    if (cJSON_IsObject(ctl)) {
        rv = read_ctl(o, ctl, path, err);
    }
    add_restapi_url(o, restapi);
    cJSON_Delete(doc);
    return rv;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static int from_environment(struct ctl_opts *o, FILE *err)
{
    static const struct {
        const char *name;
        size_t off;
    } vars[] = {
        {"REGENTCTL_USERNAME", offsetof(struct ctl_opts, auth.username)},
        {"REGENTCTL_PASSWORD", offsetof(struct ctl_opts, auth.password)},
        {"REGENTCTL_CACERT", offsetof(struct ctl_opts, tls.cacert)},
        {"REGENTCTL_CERTFILE", offsetof(struct ctl_opts, tls.certfile)},
        {"REGENTCTL_KEYFILE", offsetof(struct ctl_opts, tls.keyfile)},
        {"REGENTCTL_KEYFILE_PASSWORD", offsetof(struct ctl_opts, tls.keyfile_password)},
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(vars); i++) {
        if (env(vars[i].name) != NULL) {
            set_str((char **)((char *)o + vars[i].off), env(vars[i].name));
        }
    }
    const char *insecure = getenv("REGENTCTL_INSECURE");
    if (insecure != NULL) {
        int b = parse_bool(insecure);
        if (b < 0) {
            fprintf(err, "regentctl: REGENTCTL_INSECURE: must be true or false\n");
            return -1;
        }
        o->tls.insecure = b == 1;
    }
    return 0;
}

int ctl_find_cluster(struct ctl_opts *o, FILE *err)
{
    const char *config = o->config != NULL ? o->config : env("REGENTCTL_CONFIG_FILE");
    if (config != NULL && ctl_conf_load(o, config, err) != 0) {
        return -1;
    }
    if (from_environment(o, err) != 0) {
        return -1;
    }
    if (o->url_auth.username != NULL) {
        set_str(&o->auth.username, o->url_auth.username);
        set_str(&o->auth.password, o->url_auth.password);
    }
    o->tls.insecure = o->tls.insecure || o->insecure;
    if (o->n_urls == 0 && env("REGENTCTL_URL") != NULL) {
        ctl_urls_add(o, env("REGENTCTL_URL"));
    }
    if (o->n_urls == 0) {
        ctl_urls_add(o, CTL_DEFAULT_URL);
    }
    return 0;
}
