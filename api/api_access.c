/*
 * api_access: allowlist entries, address matching, HTTP Basic decoding and
 * the order of the access checks (see api_access.h). Pure: no I/O, no
 * clock, no allocation — it is fuzzed (tests/fuzz/fuzz_access.c).
 *
 * Credentials are compared with api_access_equal(), which looks at every
 * byte of the longer string whatever it finds, and both the user name and
 * the password are always compared, so the time a refusal takes says
 * nothing about how much of a guess was right. The decoded password lives
 * on the caller's stack only while it is compared, and is wiped after.
 */
#include "api/api_access.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "agent/rg.h"

/* --- allowlist entries --------------------------------------------------- */

/* "0".."128" without sign, spaces or leading zeros; -1 otherwise. */
static int parse_prefix(const char *s)
{
    if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 3) {
        return -1;
    }
    int v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        v = v * 10 + (*p - '0');
    }
    return v;
}

static bool parse_addr(const char *s, struct api_net *net)
{
    memset(net, 0, sizeof *net);
    if (inet_pton(AF_INET, s, net->addr) == 1) {
        net->family = AF_INET;
        net->bits = 32;
        return true;
    }
    if (inet_pton(AF_INET6, s, net->addr) == 1) {
        net->family = AF_INET6;
        net->bits = 128;
        return true;
    }
    return false;
}

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ::ffff:a.b.c.d/n (n >= 96) is the IPv4 block a.b.c.d/(n - 96). */
static void unmap_v4(struct api_net *net)
{
    if (net->family == AF_INET6 && net->bits >= 96 &&
        memcmp(net->addr, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) {
        uint8_t v4[4];
        memcpy(v4, net->addr + 12, 4);
        memset(net->addr, 0, sizeof net->addr);
        memcpy(net->addr, v4, 4);
        net->family = AF_INET;
        net->bits -= 96;
    }
}

static void mask_host_bits(struct api_net *net)
{
    size_t total = net->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < total; i++) {
        unsigned keep = net->bits >= 8 * (i + 1) ? 8 : net->bits > 8 * i ? net->bits - 8 * i : 0;
        net->addr[i] &= (uint8_t)(0xff00u >> keep);
    }
}

/* Letters, digits, '-', '_' and '.', between dots never empty. */
static bool is_host_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || (c == '.' && i + 1 < n && s[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

int api_access_entry_parse(const char *s, struct api_net *net, char *errmsg)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    if (slash == NULL) {
        if (parse_addr(s, net)) {
            unmap_v4(net);
            return API_ENTRY_NET;
        }
        if (is_host_name(s)) {
            return API_ENTRY_NAME;
        }
        rg_errmsg_printf(errmsg, "\"%s\": not an IP address, a CIDR block or a host name", s);
        return RG_EINVAL;
    }
    size_t alen = (size_t)(slash - s);
    if (alen >= sizeof buf) {
        rg_errmsg_printf(errmsg, "\"%s\": not a CIDR block", s);
        return RG_EINVAL;
    }
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    if (!parse_addr(buf, net)) {
        rg_errmsg_printf(errmsg, "\"%s\": not a CIDR block (bad address)", s);
        return RG_EINVAL;
    }
    int bits = parse_prefix(slash + 1);
    if (bits < 0 || (unsigned)bits > (net->family == AF_INET ? 32u : 128u)) {
        rg_errmsg_printf(errmsg, "\"%s\": bad prefix length (0-%u)", s,
                         net->family == AF_INET ? 32u : 128u);
        return RG_EINVAL;
    }
    net->bits = (unsigned)bits;
    unmap_v4(net);
    mask_host_bits(net);
    return API_ENTRY_NET;
}

/* --- matching ------------------------------------------------------------ */

bool api_net_from_sockaddr(const struct sockaddr *sa, struct api_net *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        out->bits = 32;
        memcpy(out->addr, &a4->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
        out->family = AF_INET6;
        out->bits = 128;
        memcpy(out->addr, &a6->sin6_addr, 16);
        unmap_v4(out);
        return true;
    }
    return false;
}

static bool net_contains(const struct api_net *net, const struct api_net *addr)
{
    if (net->family != addr->family) {
        return false;
    }
    unsigned full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, addr->addr, full) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (addr->addr[full] & mask) == net->addr[full];
}

bool api_net_contains(const struct api_net *nets, size_t n, const struct api_net *addr)
{
    for (size_t i = 0; i < n; i++) {
        if (net_contains(&nets[i], addr)) {
            return true;
        }
    }
    return false;
}

int api_access_url_host(const char *url, char *host, size_t len)
{
    const char *p = strstr(url, "://");
    const char *start = p != NULL ? p + 3 : url;
    const char *end = start + strcspn(start, "/?#");
    const char *at = memchr(start, '@', (size_t)(end - start));
    if (at != NULL) {
        start = at + 1;
    }
    const char *hend;
    if (*start == '[') {
        start++;
        hend = memchr(start, ']', (size_t)(end - start));
        if (hend == NULL) {
            return RG_EINVAL;
        }
    } else {
        hend = memchr(start, ':', (size_t)(end - start));
        if (hend == NULL) {
            hend = end;
        }
    }
    size_t n = (size_t)(hend - start);
    if (n == 0 || n >= len) {
        return RG_EINVAL;
    }
    memcpy(host, start, n);
    host[n] = '\0';
    return 0;
}

/* --- HTTP Basic ---------------------------------------------------------- */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/* Standard base64, '=' padding optional; 0 or RG_EPARSE (also when the
 * result would not fit in @cap bytes). */
static int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    while (n > 0 && in[n - 1] == '=') {
        n--;
    }
    if (n % 4 == 1) {
        return RG_EPARSE;
    }
    size_t o = 0;
    uint32_t acc = 0;
    unsigned nbits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0) {
            return RG_EPARSE;
        }
        acc = (acc << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            if (o == cap) {
                return RG_EPARSE;
            }
            out[o++] = (uint8_t)(acc >> nbits);
            acc &= (1u << nbits) - 1;
        }
    }
    *outlen = o;
    return 0;
}

int api_access_basic_decode(
    const char *value, size_t len, char *user, size_t *ulen, char *pass, size_t *plen)
{
    /* user ':' password, both at most API_BASIC_MAX. */
    uint8_t raw[2 * API_BASIC_MAX + 1];
    size_t n = 0;
    int rv = RG_EPARSE;
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++, len--;
    }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) {
        len--;
    }
    if (len < 6 || strncasecmp(value, "basic", 5) != 0 || (value[5] != ' ' && value[5] != '\t')) {
        return RG_EPARSE;
    }
    value += 6, len -= 6;
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++, len--;
    }
    if (b64_decode(value, len, raw, sizeof raw, &n) != 0 || memchr(raw, '\0', n) != NULL) {
        goto out;
    }
    const uint8_t *colon = memchr(raw, ':', n);
    if (colon == NULL) {
        goto out;
    }
    size_t u = (size_t)(colon - raw), p = n - u - 1;
    if (u > API_BASIC_MAX || p > API_BASIC_MAX) {
        goto out;
    }
    memcpy(user, raw, u);
    user[u] = '\0';
    memcpy(pass, colon + 1, p);
    pass[p] = '\0';
    *ulen = u;
    *plen = p;
    rv = 0;
out:
    explicit_bzero(raw, sizeof raw);
    return rv;
}

bool api_access_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen > blen ? alen : blen;
    /* volatile: keep the compiler from ending the loop once diff is set. */
    volatile unsigned diff = alen != blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

/* --- the checks ---------------------------------------------------------- */

bool api_access_unsafe_method(const char *method, size_t len)
{
    static const char *const safe[] = {"GET", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < RG_ARRAY_SIZE(safe); i++) {
        if (len == strlen(safe[i]) && memcmp(method, safe[i], len) == 0) {
            return false;
        }
    }
    return true;
}

static bool credentials_match(const struct api_access_facts *f)
{
    char user[API_BASIC_MAX + 1], pass[API_BASIC_MAX + 1];
    size_t ulen, plen;
    if (api_access_basic_decode(f->authorization, f->authorization_len, user, &ulen, pass, &plen) !=
        0) {
        return false;
    }
    const char *wu = f->username != NULL ? f->username : "";
    const char *wp = f->password != NULL ? f->password : "";
    /* Both comparisons run whatever the first one found. */
    bool user_ok = api_access_equal(user, ulen, wu, strlen(wu));
    bool pass_ok = api_access_equal(pass, plen, wp, strlen(wp));
    explicit_bzero(pass, sizeof pass);
    return user_ok & pass_ok;
}

enum api_access_verdict api_access_check(const struct api_access_facts *f)
{
    if (f->allowlist_on && !f->listed) {
        return API_ACCESS_NOT_LISTED;
    }
    if (f->cert_on && !f->cert_ok) {
        return API_ACCESS_NO_CERT;
    }
    if (f->username == NULL && f->password == NULL) {
        return API_ACCESS_OK;
    }
    if (f->authorization == NULL) {
        return API_ACCESS_NO_AUTH;
    }
    return credentials_match(f) ? API_ACCESS_OK : API_ACCESS_BAD_AUTH;
}

int api_access_verdict_status(enum api_access_verdict v)
{
    switch (v) {
    case API_ACCESS_OK:
        return 200;
    case API_ACCESS_NOT_LISTED:
    case API_ACCESS_NO_CERT:
        return 403;
    case API_ACCESS_NO_AUTH:
    case API_ACCESS_BAD_AUTH:
        return 401;
    }
    return 403;
}

const char *api_access_verdict_text(enum api_access_verdict v)
{
    switch (v) {
    case API_ACCESS_OK:
        return "OK";
    case API_ACCESS_NOT_LISTED:
        return "Access is denied";
    case API_ACCESS_NO_CERT:
        return "client certificate required";
    case API_ACCESS_NO_AUTH:
        return "no auth header received";
    case API_ACCESS_BAD_AUTH:
        return "not authenticated";
    }
    return "Access is denied";
}
