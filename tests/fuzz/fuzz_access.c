/*
 * Fuzz target for api_access: the input is used as an Authorization header
 * value and, NUL-terminated, as an allowlist entry and as a URL.
 *
 * Invariants checked: a decoded Basic header gives a user and a password of
 * at most API_BASIC_MAX bytes, without NUL, of the reported lengths, and
 * api_access_check() lets the request through exactly when they are the
 * configured ones; a parsed entry is a well-formed block (family, prefix
 * length in range, no bit set past the prefix) that contains its own
 * network address, and an error always says why; a URL's host is a
 * non-empty piece of the input.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rg.h"
#include "api/api_access.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static void fuzz_basic(const char *value, size_t len)
{
    char user[API_BASIC_MAX + 1], pass[API_BASIC_MAX + 1];
    size_t ulen = 0, plen = 0;
    int rv = api_access_basic_decode(value, len, user, &ulen, pass, &plen);
    check(rv == 0 || rv == RG_EPARSE);
    bool right = false;
    if (rv == 0) {
        check(ulen <= API_BASIC_MAX && plen <= API_BASIC_MAX);
        check(strlen(user) == ulen && strlen(pass) == plen);
        right = strcmp(user, "admin") == 0 && strcmp(pass, "s3cret") == 0;
    }
    struct api_access_facts f = {
        .username = "admin",
        .password = "s3cret",
        .authorization = value,
        .authorization_len = len,
    };
    enum api_access_verdict v = api_access_check(&f);
    check(v == (right ? API_ACCESS_OK : API_ACCESS_BAD_AUTH));
    check(api_access_equal(value, len, value, len));
}

static void fuzz_entry(const char *s)
{
    struct api_net net;
    char err[RG_ERRMSG_SIZE] = "";
    int kind = api_access_entry_parse(s, &net, err);
    check(kind == API_ENTRY_NET || kind == API_ENTRY_NAME || kind == RG_EINVAL);
    if (kind == RG_EINVAL) {
        check(err[0] != '\0');
        return;
    }
    if (kind == API_ENTRY_NAME) {
        check(strchr(s, '/') == NULL && strlen(s) > 0);
        return;
    }
    unsigned total = net.family == AF_INET ? 32 : 128;
    check(net.family == AF_INET || net.family == AF_INET6);
    check(net.bits <= total);
    for (unsigned bit = net.bits; bit < total; bit++) {
        check((net.addr[bit / 8] & (0x80u >> (bit % 8))) == 0);
    }
    for (unsigned i = total / 8; i < sizeof net.addr; i++) {
        check(net.addr[i] == 0);
    }
    struct api_net addr = net;
    addr.bits = total;
    check(api_net_contains(&net, 1, &addr));
}

static void fuzz_url(const char *s)
{
    char host[64];
    if (api_access_url_host(s, host, sizeof host) == 0) {
        check(host[0] != '\0' && strstr(s, host) != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_basic((const char *)data, size);
    char *s = rg_malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz_entry(s);
    fuzz_url(s);
    rg_free(s);
    return 0;
}
