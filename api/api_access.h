/*
 * api_access: the pure half of the REST API's access control — Patroni's
 * restapi.allowlist, restapi.authentication and verify_client rules
 * (spec/patroni-compat.md 1.7): allowlist entries and matching a client
 * address against them, HTTP Basic credentials compared in constant time,
 * and the order in which the checks refuse a request.
 *
 * Nothing here reads a socket, a file or a clock: the server (api.c,
 * api_secure.c) gathers the facts — the client's address, whether TLS
 * verified a client certificate, the Authorization header — and
 * api_access_check() says what to answer.
 */
#ifndef REGENT_API_ACCESS_H
#define REGENT_API_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address block: IPv4 (family AF_INET, addr[0..3]) or IPv6 (AF_INET6).
 * A single address has bits 32 or 128. Bits past the prefix are zero. */
struct api_net {
    int family;
    unsigned bits;
    uint8_t addr[16]; /* network byte order */
};

enum api_entry_kind {
    API_ENTRY_NET = 1,  /* an address or a CIDR block: *net is set */
    API_ENTRY_NAME = 2, /* a host name: resolve it, then match its addresses */
};

/*
 * Parse one allowlist entry: an IPv4 or IPv6 address, a CIDR block
 * ("10.0.0.0/8", "fd00::/8"; host bits past the prefix are ignored, as
 * Python's ip_network(strict=False) does in Patroni), or a host name.
 * IPv4-mapped IPv6 entries ("::ffff:10.0.0.0/104") become IPv4 blocks, so
 * they match the same clients as their IPv4 form. API_ENTRY_NET (with
 * *@net), API_ENTRY_NAME, or RG_EINVAL with @errmsg ("bad prefix length").
 */
int api_access_entry_parse(const char *s, struct api_net *net, char *errmsg);

/* The single address of @sa (AF_INET or AF_INET6; an IPv4-mapped IPv6
 * address — a dual-stack listener's IPv4 client — becomes its IPv4 form).
 * false for any other family. */
bool api_net_from_sockaddr(const struct sockaddr *sa, struct api_net *out);

/* True when the single address @addr lies in one of @nets (n may be 0). */
bool api_net_contains(const struct api_net *nets, size_t n, const struct api_net *addr);

/* The host part of a URL ("https://user@[::1]:8008/x" → "::1",
 * "http://node1:8008" → "node1") or, without "://", of "host:port" /
 * "[v6]:port" / "host". 0, or RG_EINVAL when there is no host or it does
 * not fit in @len bytes. */
int api_access_url_host(const char *url, char *host, size_t len);

/* Longest user name or password api_access_basic_decode() accepts. */
#define API_BASIC_MAX 255

/*
 * Decode an Authorization header value "Basic <base64(user:password)>"
 * (scheme case-insensitive, padding optional) into @user and @pass (each
 * API_BASIC_MAX + 1 bytes, NUL-terminated; lengths in *@ulen, *@plen; the
 * password may hold any byte but NUL). 0, or RG_EPARSE for another scheme,
 * bad base64, no ':', a NUL, or a part longer than API_BASIC_MAX.
 */
int api_access_basic_decode(
    const char *value, size_t len, char *user, size_t *ulen, char *pass, size_t *plen);

/* Compare in time that depends only on the lengths: every byte of the
 * longer string is looked at, there is no early exit. */
bool api_access_equal(const char *a, size_t alen, const char *b, size_t blen);

/* True for the methods the checks apply to: everything but GET, HEAD and
 * OPTIONS (POST, PUT, PATCH, DELETE — and, failing closed, any other). */
bool api_access_unsafe_method(const char *method, size_t len);

/* The facts about one unsafe request, and what the configuration asks. */
struct api_access_facts {
    bool allowlist_on; /* restapi.allowlist is not empty or allowlist_include_members */
    bool listed;       /* the client's address is in the allowlist or a member's */
    bool cert_on;      /* TLS with verify_client optional or required */
    bool cert_ok;      /* TLS verified a client certificate on this connection */
    const char *username, *password; /* restapi.authentication; NULL: none (borrowed) */
    const char *authorization;       /* the header's value, NULL when absent (borrowed) */
    size_t authorization_len;
};

enum api_access_verdict {
    API_ACCESS_OK,
    API_ACCESS_NOT_LISTED, /* 403 Access is denied */
    API_ACCESS_NO_CERT,    /* 403 client certificate required */
    API_ACCESS_NO_AUTH,    /* 401 no auth header received */
    API_ACCESS_BAD_AUTH,   /* 401 not authenticated */
};

/* Patroni's order: allowlist, then client certificate, then credentials;
 * the first that fails decides. Credentials are checked only when
 * username or password is set (a missing one is then ""). */
enum api_access_verdict api_access_check(const struct api_access_facts *f);

/* 200, 401 or 403, and Patroni's text for the reply body. */
int api_access_verdict_status(enum api_access_verdict v);
const char *api_access_verdict_text(enum api_access_verdict v);

#endif
