/*
 * Unit tests for api_access: allowlist entries, address matching, URL
 * hosts, HTTP Basic decoding, the constant-time comparison and the order of
 * the checks. Pure functions: no loop, no sockets.
 */
/* cmocka.h needs these first. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "agent/rg.h"
#include "api/api_access.h"

/* The single address @s as api_net_from_sockaddr gives it. */
static struct api_net host(const char *s)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, s, &a6->sin6_addr), 1);
        a6->sin6_family = AF_INET6;
    }
    struct api_net n;
    assert_true(api_net_from_sockaddr((struct sockaddr *)&ss, &n));
    return n;
}

static struct api_net entry(const char *s)
{
    struct api_net n;
    char err[RG_ERRMSG_SIZE];
    assert_int_equal(api_access_entry_parse(s, &n, err), API_ENTRY_NET);
    return n;
}

static bool in(const char *net, const char *addr)
{
    struct api_net n = entry(net), a = host(addr);
    return api_net_contains(&n, 1, &a);
}

/* --- allowlist entries and matching -------------------------------------- */

static void test_addresses_and_blocks_match_what_they_cover(void **state)
{
    (void)state;
    assert_true(in("127.0.0.1", "127.0.0.1"));
    assert_false(in("127.0.0.1", "127.0.0.2"));
    assert_true(in("10.0.0.0/8", "10.255.1.2"));
    assert_false(in("10.0.0.0/8", "11.0.0.1"));
    assert_true(in("192.168.1.0/25", "192.168.1.127"));
    assert_false(in("192.168.1.0/25", "192.168.1.128"));
    assert_true(in("0.0.0.0/0", "203.0.113.9"));
    assert_false(in("0.0.0.0/0", "::1")); /* no family crosses over */
    assert_true(in("::1", "::1"));
    assert_true(in("fd00::/8", "fdab::5"));
    assert_false(in("fd00::/8", "fe80::1"));
    assert_true(in("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(in("2001:db8::/33", "2001:db8:8000::1"));
}

static void test_host_bits_of_a_block_are_ignored(void **state)
{
    (void)state;
    /* As Python's ip_network(strict=False): 10.1.2.3/8 is 10.0.0.0/8. */
    struct api_net n = entry("10.1.2.3/8");
    assert_int_equal(n.bits, 8);
    assert_int_equal(n.addr[0], 10);
    assert_int_equal(n.addr[1], 0);
    assert_int_equal(n.addr[3], 0);
    assert_true(in("10.1.2.3/8", "10.200.0.1"));
    assert_true(in("192.168.1.77/28", "192.168.1.64"));
    assert_false(in("192.168.1.77/28", "192.168.1.80"));
}

static void test_ipv4_mapped_clients_match_ipv4_entries(void **state)
{
    (void)state;
    /* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
    struct api_net a = host("::ffff:127.0.0.1");
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(a.bits, 32);
    assert_true(in("127.0.0.0/8", "::ffff:127.0.0.1"));
    assert_false(in("10.0.0.0/8", "::ffff:127.0.0.1"));
    /* And an IPv4-mapped entry is the IPv4 block. */
    struct api_net n = entry("::ffff:10.0.0.0/104");
    assert_int_equal(n.family, AF_INET);
    assert_int_equal(n.bits, 8);
    assert_true(in("::ffff:10.0.0.0/104", "10.9.8.7"));
    assert_true(in("::ffff:10.0.0.0/104", "::ffff:10.9.8.7"));
}

static void test_host_names_are_recognised_for_resolution(void **state)
{
    (void)state;
    struct api_net n;
    char err[RG_ERRMSG_SIZE];
    assert_int_equal(api_access_entry_parse("localhost", &n, err), API_ENTRY_NAME);
    assert_int_equal(api_access_entry_parse("db-1.example.com", &n, err), API_ENTRY_NAME);
    assert_int_equal(api_access_entry_parse("node_2", &n, err), API_ENTRY_NAME);
}

static void test_malformed_entries_are_refused_with_a_reason(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",         "10.0.0.0/33", "10.0.0.0/",   "10.0.0.0/-1", "10.0.0.0/08", "::/129",
        "10.0.0/8", "host/8",      "a b",         "*",           ".example",    "-x",
        "a..b",     "10.0.0.0/8x", "10.0.0.0/+8", "[::1]",       "1.2.3.4:80",
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        struct api_net n;
        char err[RG_ERRMSG_SIZE] = "";
        assert_int_equal(api_access_entry_parse(bad[i], &n, err), RG_EINVAL);
        assert_non_null(strstr(err, bad[i]));
    }
    char err[RG_ERRMSG_SIZE];
    struct api_net n;
    api_access_entry_parse("10.0.0.0/33", &n, err);
    assert_non_null(strstr(err, "prefix length"));
}

static void test_a_list_matches_when_any_entry_does(void **state)
{
    (void)state;
    struct api_net nets[] = {entry("10.0.0.0/8"), entry("::1"), entry("192.0.2.7")};
    struct api_net a = host("192.0.2.7"), b = host("::1"), c = host("192.0.2.8");
    assert_true(api_net_contains(nets, 3, &a));
    assert_true(api_net_contains(nets, 3, &b));
    assert_false(api_net_contains(nets, 3, &c));
    assert_false(api_net_contains(nets, 0, &a));
}

static void test_url_host_takes_the_host_of_urls_and_addresses(void **state)
{
    (void)state;
    char h[64];
    assert_int_equal(api_access_url_host("http://127.0.0.1:8008", h, sizeof h), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(api_access_url_host("https://[::1]:8008/patroni", h, sizeof h), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(api_access_url_host("http://node1.example:8008/", h, sizeof h), 0);
    assert_string_equal(h, "node1.example");
    assert_int_equal(api_access_url_host("https://user:pw@10.1.1.1:8443", h, sizeof h), 0);
    assert_string_equal(h, "10.1.1.1");
    assert_int_equal(api_access_url_host("http://node2", h, sizeof h), 0);
    assert_string_equal(h, "node2");
    assert_int_equal(api_access_url_host("10.0.0.5:7001", h, sizeof h), 0);
    assert_string_equal(h, "10.0.0.5");
    assert_int_equal(api_access_url_host("[fd00::5]:7001", h, sizeof h), 0);
    assert_string_equal(h, "fd00::5");
    assert_int_equal(api_access_url_host("http://:8008", h, sizeof h), RG_EINVAL);
    assert_int_equal(api_access_url_host("http://[::1", h, sizeof h), RG_EINVAL);
    assert_int_equal(api_access_url_host("", h, sizeof h), RG_EINVAL);
    assert_int_equal(api_access_url_host("http://a-rather-long-host:1", h, 8), RG_EINVAL);
}

/* --- HTTP Basic ---------------------------------------------------------- */

static int decode(const char *v, char *user, char *pass)
{
    size_t ul = 99, pl = 99;
    int rv = api_access_basic_decode(v, strlen(v), user, &ul, pass, &pl);
    if (rv == 0) {
        assert_int_equal(ul, strlen(user));
        assert_int_equal(pl, strlen(pass));
    }
    return rv;
}

static void test_basic_header_decodes_user_and_password(void **state)
{
    (void)state;
    char u[API_BASIC_MAX + 1], p[API_BASIC_MAX + 1];
    /* base64("admin:s3cret") */
    assert_int_equal(decode("Basic YWRtaW46czNjcmV0", u, p), 0);
    assert_string_equal(u, "admin");
    assert_string_equal(p, "s3cret");
    /* Scheme in any case, extra blanks, padding or none. */
    assert_int_equal(decode("  bAsIc   YWRtaW46czNjcmV0  ", u, p), 0);
    assert_string_equal(p, "s3cret");
    assert_int_equal(decode("Basic YTpi", u, p), 0); /* a:b */
    assert_string_equal(u, "a");
    assert_string_equal(p, "b");
    assert_int_equal(decode("Basic YTpiYw==", u, p), 0); /* a:bc */
    assert_string_equal(p, "bc");
    assert_int_equal(decode("Basic YTpiYw", u, p), 0);
    assert_string_equal(p, "bc");
    /* The password keeps every ':' after the first. */
    assert_int_equal(decode("Basic dTpwOnE6cg==", u, p), 0); /* u:p:q:r */
    assert_string_equal(u, "u");
    assert_string_equal(p, "p:q:r");
    /* Empty user and password are still credentials. */
    assert_int_equal(decode("Basic Og==", u, p), 0); /* ":" */
    assert_string_equal(u, "");
    assert_string_equal(p, "");
}

static void test_basic_header_refuses_what_is_not_basic(void **state)
{
    (void)state;
    char u[API_BASIC_MAX + 1], p[API_BASIC_MAX + 1];
    static const char *const bad[] = {
        "",
        "Basic",
        "Basic ",
        "Bearer YWRtaW46czNjcmV0",
        "BasicYWRtaW46czNjcmV0",
        "Basic YWRtaW46czNjcmV0!", /* not base64 */
        "Basic YWRtaW4=",          /* "admin": no ':' */
        "Basic YQ",                /* "a" */
        "Basic Y",                 /* one character: not base64 */
        "Basic YTpiAGM=",          /* "a:b\0c": a NUL */
        "Basic YWRtaW46czNj cmV0", /* a blank inside */
    };
    for (size_t i = 0; i < RG_ARRAY_SIZE(bad); i++) {
        assert_int_equal(decode(bad[i], u, p), RG_EPARSE);
    }
}

static void test_basic_header_bounds_each_part(void **state)
{
    (void)state;
    /* "u:" then 255 'x' decodes; 256 does not. Build the base64 by hand:
     * 3 bytes -> 4 characters. */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t plen = 255; plen <= 256; plen++) {
        char raw[300];
        size_t n = 0;
        raw[n++] = 'u';
        raw[n++] = ':';
        memset(raw + n, 'x', plen);
        n += plen;
        char hdr[500] = "Basic ";
        size_t o = strlen(hdr);
        for (size_t i = 0; i < n; i += 3) {
            uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
            v |= i + 1 < n ? (uint32_t)(unsigned char)raw[i + 1] << 8 : 0;
            v |= i + 2 < n ? (uint32_t)(unsigned char)raw[i + 2] : 0;
            hdr[o++] = b64[(v >> 18) & 63];
            hdr[o++] = b64[(v >> 12) & 63];
            hdr[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
            hdr[o++] = i + 2 < n ? b64[v & 63] : '=';
        }
        hdr[o] = '\0';
        char u[API_BASIC_MAX + 1], p[API_BASIC_MAX + 1];
        assert_int_equal(decode(hdr, u, p), plen <= API_BASIC_MAX ? 0 : RG_EPARSE);
    }
}

static void test_equal_compares_whole_strings(void **state)
{
    (void)state;
    assert_true(api_access_equal("secret", 6, "secret", 6));
    assert_false(api_access_equal("secret", 6, "secreT", 6));
    assert_false(api_access_equal("secret", 6, "secret2", 7));
    assert_false(api_access_equal("secret2", 7, "secret", 6));
    assert_false(api_access_equal("", 0, "x", 1));
    assert_true(api_access_equal("", 0, "", 0));
    /* A NUL inside counts like any byte. */
    assert_false(api_access_equal("a\0b", 3, "a\0c", 3));
    assert_false(api_access_equal("a", 1, "a\0", 2));
}

/* --- the checks ---------------------------------------------------------- */

static void test_only_get_head_options_are_safe(void **state)
{
    (void)state;
    assert_false(api_access_unsafe_method("GET", 3));
    assert_false(api_access_unsafe_method("HEAD", 4));
    assert_false(api_access_unsafe_method("OPTIONS", 7));
    assert_true(api_access_unsafe_method("POST", 4));
    assert_true(api_access_unsafe_method("PUT", 3));
    assert_true(api_access_unsafe_method("PATCH", 5));
    assert_true(api_access_unsafe_method("DELETE", 6));
    assert_true(api_access_unsafe_method("get", 3)); /* methods are case-sensitive */
    assert_true(api_access_unsafe_method("GETX", 4));
    assert_true(api_access_unsafe_method("BREW", 4));
}

#define AUTH_OK  "Basic YWRtaW46czNjcmV0" /* admin:s3cret */
#define AUTH_BAD "Basic YWRtaW46czNjcmV1" /* admin:s3creu */

static struct api_access_facts facts(const char *authz)
{
    struct api_access_facts f = {
        .username = "admin",
        .password = "s3cret",
        .authorization = authz,
        .authorization_len = authz != NULL ? strlen(authz) : 0,
    };
    return f;
}

static void test_credentials_decide_when_nothing_else_is_on(void **state)
{
    (void)state;
    struct api_access_facts f = facts(AUTH_OK);
    assert_int_equal(api_access_check(&f), API_ACCESS_OK);
    f = facts(NULL);
    assert_int_equal(api_access_check(&f), API_ACCESS_NO_AUTH);
    f = facts(AUTH_BAD);
    assert_int_equal(api_access_check(&f), API_ACCESS_BAD_AUTH);
    f = facts("Basic YWRtaW46czNjcmV0Mg=="); /* admin:s3cret2 */
    assert_int_equal(api_access_check(&f), API_ACCESS_BAD_AUTH);
    f = facts("Basic cm9vdDpzM2NyZXQ="); /* root:s3cret: right password, wrong user */
    assert_int_equal(api_access_check(&f), API_ACCESS_BAD_AUTH);
    f = facts("Bearer abc");
    assert_int_equal(api_access_check(&f), API_ACCESS_BAD_AUTH);
    /* No authentication configured: any header or none passes. */
    f = facts(NULL);
    f.username = f.password = NULL;
    assert_int_equal(api_access_check(&f), API_ACCESS_OK);
    f.authorization = "garbage";
    f.authorization_len = 7;
    assert_int_equal(api_access_check(&f), API_ACCESS_OK);
}

static void test_checks_run_in_patronis_order(void **state)
{
    (void)state;
    /* Everything wrong: the allowlist speaks first. */
    struct api_access_facts f = facts(NULL);
    f.allowlist_on = true;
    f.cert_on = true;
    assert_int_equal(api_access_check(&f), API_ACCESS_NOT_LISTED);
    /* Listed: then the certificate, even with good credentials. */
    f = facts(AUTH_OK);
    f.allowlist_on = f.listed = true;
    f.cert_on = true;
    assert_int_equal(api_access_check(&f), API_ACCESS_NO_CERT);
    /* Certificate verified: then the credentials. */
    f.cert_ok = true;
    assert_int_equal(api_access_check(&f), API_ACCESS_OK);
    f.authorization = NULL;
    assert_int_equal(api_access_check(&f), API_ACCESS_NO_AUTH);
    /* An allowlist that is off ignores "listed". */
    f = facts(AUTH_OK);
    assert_int_equal(api_access_check(&f), API_ACCESS_OK);
    /* A verified certificate does not replace the credentials. */
    f = facts(NULL);
    f.cert_on = f.cert_ok = true;
    assert_int_equal(api_access_check(&f), API_ACCESS_NO_AUTH);
}

static void test_verdicts_have_patronis_status_and_text(void **state)
{
    (void)state;
    assert_int_equal(api_access_verdict_status(API_ACCESS_OK), 200);
    assert_int_equal(api_access_verdict_status(API_ACCESS_NOT_LISTED), 403);
    assert_string_equal(api_access_verdict_text(API_ACCESS_NOT_LISTED), "Access is denied");
    assert_int_equal(api_access_verdict_status(API_ACCESS_NO_CERT), 403);
    assert_string_equal(api_access_verdict_text(API_ACCESS_NO_CERT), "client certificate required");
    assert_int_equal(api_access_verdict_status(API_ACCESS_NO_AUTH), 401);
    assert_string_equal(api_access_verdict_text(API_ACCESS_NO_AUTH), "no auth header received");
    assert_int_equal(api_access_verdict_status(API_ACCESS_BAD_AUTH), 401);
    assert_string_equal(api_access_verdict_text(API_ACCESS_BAD_AUTH), "not authenticated");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses_and_blocks_match_what_they_cover),
        cmocka_unit_test(test_host_bits_of_a_block_are_ignored),
        cmocka_unit_test(test_ipv4_mapped_clients_match_ipv4_entries),
        cmocka_unit_test(test_host_names_are_recognised_for_resolution),
        cmocka_unit_test(test_malformed_entries_are_refused_with_a_reason),
        cmocka_unit_test(test_a_list_matches_when_any_entry_does),
        cmocka_unit_test(test_url_host_takes_the_host_of_urls_and_addresses),
        cmocka_unit_test(test_basic_header_decodes_user_and_password),
        cmocka_unit_test(test_basic_header_refuses_what_is_not_basic),
        cmocka_unit_test(test_basic_header_bounds_each_part),
        cmocka_unit_test(test_equal_compares_whole_strings),
        cmocka_unit_test(test_only_get_head_options_are_safe),
        cmocka_unit_test(test_credentials_decide_when_nothing_else_is_on),
        cmocka_unit_test(test_checks_run_in_patronis_order),
        cmocka_unit_test(test_verdicts_have_patronis_status_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
