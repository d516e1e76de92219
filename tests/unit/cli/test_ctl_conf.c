/*
 * Unit tests for ctl_conf: what regentctl takes from an agent's config, a
 * ctl-only config and the environment (URLs, credentials, TLS, scope), in
 * which order, and that no password ever shows in what it prints.
 */
#define _GNU_SOURCE /* strcasestr, asprintf, open_memstream, mkdtemp */

/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <curl/curl.h>
#include <string.h>

#include "agent/rg.h"
#include "cli/ctl.h"
#include "ctl_helpers.h"

static char tmpdir[256];

/* @text into tmpdir/@name; the path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static const char agent_config[] = "scope: demo\n"
                                   "name: node1\n"
                                   "restapi:\n"
                                   "  listen: 0.0.0.0:8008\n"
                                   "  connect_address: 10.0.0.1:8009\n"
                                   "  certfile: /etc/regent/server.pem\n"
                                   "  cafile: /etc/regent/ca.pem\n"
                                   "  authentication:\n"
                                   "    username: api\n"
                                   "    password: api-secret-1\n"
                                   "raft:\n"
                                   "  self_addr: 10.0.0.1:5010\n"
                                   "  password: raft-secret-2\n"
                                   "postgresql:\n"
                                   "  data_dir: /var/lib/pg\n"
                                   "  authentication:\n"
                                   "    superuser: {username: postgres, password: pg-secret-3}\n";

static void find(struct ctl_opts *o, struct capture *err)
{
    capture_open(err);
    assert_int_equal(ctl_find_cluster(o, err->fp), 0);
}

static void test_agent_config_gives_restapi_address_credentials_and_ca(void **state)
{
    (void)state;
    struct ctl_opts o = {.config = write_file("agent.yml", agent_config)};
    struct capture err;
    find(&o, &err);
    assert_int_equal(o.n_urls, 1);
    assert_string_equal(o.urls[0], "https://10.0.0.1:8009"); /* https: restapi.certfile */
    assert_string_equal(o.auth.username, "api");
    assert_string_equal(o.auth.password, "api-secret-1");
    assert_string_equal(o.tls.cacert, "/etc/regent/ca.pem");
    /* patronictl >= 3.1: no client certificate from restapi.certfile. */
    assert_null(o.tls.certfile);
    assert_false(o.tls.insecure);
    assert_string_equal(o.scope, "demo");
    assert_string_equal(capture_text(&err), "");
    capture_close(&err);
    ctl_opts_free(&o);

    /* A wildcard listen address and no connect_address: loopback. */
    struct ctl_opts o2 = {.config = write_file("listen.yml", "restapi:\n  listen: '*:8010'\n")};
    find(&o2, &err);
    assert_string_equal(o2.urls[0], "http://127.0.0.1:8010");
    assert_null(o2.auth.username);
    capture_close(&err);
    ctl_opts_free(&o2);
}

static void test_ctl_section_wins_over_restapi(void **state)
{
    (void)state;
    char *text = NULL;
    if (asprintf(&text,
                 "%sctl:\n"
                 "  urls: [http://10.0.0.2:8008, 10.0.0.3:8008]\n"
                 "  authentication: {username: ctl, password: ctl-secret-4}\n"
                 "  cacert: /etc/regent/ctl-ca.pem\n"
                 "  certfile: /etc/regent/client.pem\n"
                 "  keyfile: /etc/regent/client.key\n"
                 "  keyfile_password: key-secret-5\n"
                 "  insecure: true\n",
                 agent_config) < 0) {
        abort();
    }
    struct ctl_opts o = {.config = write_file("both.yml", text)};
    free(text);
    struct capture err;
    find(&o, &err);
    /* ctl.urls first, then the agent's own address. */
    assert_int_equal(o.n_urls, 3);
    assert_string_equal(o.urls[0], "http://10.0.0.2:8008");
    assert_string_equal(o.urls[1], "http://10.0.0.3:8008");
    assert_string_equal(o.urls[2], "https://10.0.0.1:8009");
    assert_string_equal(o.auth.username, "ctl");
    assert_string_equal(o.auth.password, "ctl-secret-4");
    assert_string_equal(o.tls.cacert, "/etc/regent/ctl-ca.pem");
    assert_string_equal(o.tls.certfile, "/etc/regent/client.pem");
    assert_string_equal(o.tls.keyfile, "/etc/regent/client.key");
    assert_string_equal(o.tls.keyfile_password, "key-secret-5");
    assert_true(o.tls.insecure);
    capture_close(&err);
    ctl_opts_free(&o);
}

/* A file with only ctl: is not an agent config, and loads all the same. */
static void test_ctl_only_config_loads(void **state)
{
    (void)state;
    struct ctl_opts o = {.config = write_file("ctl.yml", "ctl:\n"
                                                         "  urls: 'http://h1:8008,http://h2:8008'\n"
                                                         "  authentication:\n"
                                                         "    username: ops\n"
                                                         "    password: 12345678\n"
                                                         "  authentcation: {}\n")};
    struct capture err;
    find(&o, &err);
    assert_int_equal(o.n_urls, 2);
    assert_string_equal(o.urls[1], "http://h2:8008");
    assert_string_equal(o.auth.username, "ops");
    assert_string_equal(o.auth.password, "12345678"); /* YAML made it a number */
    assert_null(o.scope);
    /* An unknown key is named, never its value. */
    char want[600];
    snprintf(want, sizeof want, "regentctl: %s/ctl.yml: ctl.authentcation: unknown key, ignored\n",
             tmpdir);
    assert_string_equal(capture_text(&err), want);
    capture_close(&err);
    ctl_opts_free(&o);
}

static void test_environment_overrides_the_file_and_urls_win(void **state)
{
    (void)state;
    setenv("REGENTCTL_USERNAME", "env-user", 1);
    setenv("REGENTCTL_PASSWORD", "env-secret-6", 1);
    setenv("REGENTCTL_CACERT", "/env/ca.pem", 1);
    setenv("REGENTCTL_CERTFILE", "/env/client.pem", 1);
    setenv("REGENTCTL_KEYFILE", "/env/client.key", 1);
    setenv("REGENTCTL_INSECURE", "yes", 1);
    setenv("REGENTCTL_URL", "http://env:1", 1);
    setenv("REGENTCTL_CONFIG_FILE", write_file("env.yml", agent_config), 1);
    struct ctl_opts o = {0};
    struct capture err;
    find(&o, &err);
    /* The config file's URL, so not $REGENTCTL_URL. */
    assert_int_equal(o.n_urls, 1);
    assert_string_equal(o.urls[0], "https://10.0.0.1:8009");
    assert_string_equal(o.auth.username, "env-user");
    assert_string_equal(o.auth.password, "env-secret-6");
    assert_string_equal(o.tls.cacert, "/env/ca.pem");
    assert_string_equal(o.tls.certfile, "/env/client.pem");
    assert_string_equal(o.tls.keyfile, "/env/client.key");
    assert_true(o.tls.insecure);
    capture_close(&err);
    ctl_opts_free(&o);

    /* No --url and no config: $REGENTCTL_URL; a URL's own user wins. */
    unsetenv("REGENTCTL_CONFIG_FILE");
    setenv("REGENTCTL_INSECURE", "0", 1);
    struct ctl_opts o2 = {0};
    find(&o2, &err);
    assert_string_equal(o2.urls[0], "http://env:1");
    assert_false(o2.tls.insecure);
    capture_close(&err);
    ctl_opts_free(&o2);

    struct ctl_opts o3 = {.insecure = true};
    ctl_urls_add(&o3, "http://url-user:url-secret-7@h:1");
    find(&o3, &err);
    assert_int_equal(o3.n_urls, 1);
    assert_string_equal(o3.auth.username, "url-user");
    assert_string_equal(o3.auth.password, "url-secret-7");
    assert_true(o3.tls.insecure); /* -k */
    capture_close(&err);
    ctl_opts_free(&o3);

    setenv("REGENTCTL_INSECURE", "perhaps", 1);
    struct ctl_opts o4 = {0};
    capture_open(&err);
    assert_int_equal(ctl_find_cluster(&o4, err.fp), -1);
    assert_string_equal(capture_text(&err),
                        "regentctl: REGENTCTL_INSECURE: must be true or false\n");
    capture_close(&err);
    ctl_opts_free(&o4);
    clean_environment();
    unsetenv("REGENTCTL_URL");

    struct ctl_opts o5 = {0};
    find(&o5, &err);
    assert_string_equal(o5.urls[0], CTL_DEFAULT_URL);
    capture_close(&err);
    ctl_opts_free(&o5);
}

static void assert_load_fails(const char *path, const char *want)
{
    struct ctl_opts o = {.config = path};
    struct capture err;
    capture_open(&err);
    assert_int_equal(ctl_find_cluster(&o, err.fp), -1);
    if (strstr(capture_text(&err), want) == NULL) {
        fail_msg("\"%s\" lacks \"%s\"", capture_text(&err), want);
    }
    assert_null(strstr(capture_text(&err), "secret"));
    capture_close(&err);
    ctl_opts_free(&o);
}

static void test_bad_files_are_refused_without_their_content(void **state)
{
    (void)state;
    assert_load_fails("/nonexistent/ctl.yml", "could not open \"/nonexistent/ctl.yml\"");
    assert_load_fails(write_file("bad.yml", "ctl:\n  authentication:\n    password: secret: x\n"),
                      "bad.yml\": line 3, column 21:");
    assert_load_fails(write_file("list.yml", "- secret\n"), "not a YAML mapping");
    assert_load_fails(write_file("insecure.yml", "ctl:\n  insecure: secretly\n"),
                      "ctl.insecure: must be true or false");
}

/* Every password of the config stays out of what regentctl prints, on
 * success, refusal and failure alike. */
static void test_passwords_are_never_printed(void **state)
{
    (void)state;
    static const char *const secrets[] = {"api-secret-1", "raft-secret-2", "pg-secret-3",
                                          "ctl-secret-4", "key-secret-5",  "url-secret-7"};
    struct fake f;
    fake_open(&f);
    fake_route(&f, "GET", "/cluster", 200, "{\"scope\":\"demo\",\"members\":[]}");
    fake_route(&f, "PATCH", "/config", 401, "not authenticated");
    fake_route(&f, "GET", "/config", 401, "not authenticated");
    fake_start(&f);
    char *text = NULL;
    if (asprintf(&text,
                 "%sctl:\n  urls: [%s]\n"
                 "  authentication: {username: ctl, password: ctl-secret-4}\n"
                 "  keyfile_password: key-secret-5\n",
                 agent_config, f.url) < 0) {
        abort();
    }
    const char *path = write_file("secrets.yml", text);
    free(text);
    char *url = NULL;
    if (asprintf(&url, "http://u:url-secret-7@127.0.0.1:1") < 0) {
        abort();
    }
    struct cmd_result runs[] = {
        RUN(NULL, "pause", "-c", (char *)path),
        RUN(NULL, "show-config", "-c", (char *)path),
        RUN(NULL, "list", "-c", (char *)path, "--url", url, "--timeout", "1"),
        RUN(NULL, "history", "--url", url),
        RUN(NULL, "--help"),
        RUN(NULL, "pause", "--help"),
        RUN(NULL, "list", "-c", (char *)path, "--bogus"),
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(runs); i++) {
        for (size_t k = 0; k < RG_ARRAY_SIZE(secrets); k++) {
            if (strstr(runs[i].out, secrets[k]) != NULL ||
                strstr(runs[i].err, secrets[k]) != NULL) {
                fail_msg("run %zu printed %s:\n%s%s", i, secrets[k], runs[i].out, runs[i].err);
            }
        }
    }
    /* The 401 came back and was reported, so the credentials were sent. */
    assert_int_equal(runs[0].rc, CTL_EXIT_FAIL);
    assert_non_null(strstr(runs[0].out, "status code=401, (not authenticated)"));
    assert_int_equal(runs[2].rc, CTL_EXIT_OK); /* past the URL that cannot be reached */
    assert_int_equal(runs[3].rc, CTL_EXIT_FAIL);
    for (size_t i = 0; i < RG_ARRAY_SIZE(runs); i++) {
        result_free(&runs[i]);
    }
    free(url);
    fake_close_keep(&f);
    assert_non_null(
        strstr(f.log, "PATCH /config\nAuthorization: Basic Y3RsOmN0bC1zZWNyZXQtNA==\n"));
    free(f.log);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    clean_environment();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_ctl_conf.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_config_gives_restapi_address_credentials_and_ca),
        cmocka_unit_test(test_ctl_section_wins_over_restapi),
        cmocka_unit_test(test_ctl_only_config_loads),
        cmocka_unit_test(test_environment_overrides_the_file_and_urls_win),
        cmocka_unit_test(test_bad_files_are_refused_without_their_content),
        cmocka_unit_test(test_passwords_are_never_printed),
    };
    int rv = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        rv = rv != 0 ? rv : 1;
    }
    curl_global_cleanup();
    return rv;
}
