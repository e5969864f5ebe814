/*
 * base/netaddr.h — which IP addresses an outbound call to a URL that a
 * client gave (an agency's callback_url) may reach, and the operator's
 * allow-list of exceptions (issue 14 item 9: blind SSRF).
 *
 * "Internal" means the machine itself or its cloud's metadata service,
 * never a public host: 127.0.0.0/8, 0.0.0.0/8, ::1, ::, 169.254.0.0/16
 * (169.254.169.254 included), fe80::/10, fd00:ec2::254, and each of those
 * written IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) or
 * NAT64 (64:ff9b::a.b.c.d).  Private networks (10/8, 192.168/16, fc00::/7)
 * are not internal here: an agency's hooks may live there.
 *
 * An allow-list holds host names (matched without case and without a
 * final dot) and CIDRs ("127.0.0.1", "10.1.0.0/16", "::1/128").  A URL
 * whose host a name entry names is allowed whatever it resolves to;
 * otherwise every address it reaches must be outside the internal ranges
 * or inside one of the CIDRs.
 *
 * The gateway checks twice: when it accepts a URL (kz_netallow_url: a
 * literal internal address or a "localhost" name is refused at once), and
 * when it connects (kz_netallow_addr on each address the name resolved
 * to), so a DNS name that points inside (or is rebound there) is refused
 * too.
 *
 * Pure: no I/O, no global state; a struct kz_netallow is read-only once
 * built and may be shared.  Owns: what kz_netallow_init allocates (freed
 * by kz_netallow_free).  May call: libc (inet_pton, inet_aton, string).
 */
#ifndef KZ_BASE_NETADDR_H
#define KZ_BASE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

struct kz_cidr {
    int family;             /* AF_INET or AF_INET6 */
    uint8_t addr[16];       /* network order; 4 bytes used for AF_INET */
    unsigned bits;
};

/* "a.b.c.d[/n]" or "v6[/n]" (without brackets) -> c.  0, or -1. */
int kz_cidr_parse(const char *s, struct kz_cidr *c);
/* Is sa (AF_INET or AF_INET6; an IPv4-mapped v6 address counts as its
 * IPv4 one) inside c? */
bool kz_cidr_match(const struct kz_cidr *c, const struct sockaddr *sa);

/* Is sa one of the internal addresses above?  Any other family: false. */
bool kz_addr_internal(const struct sockaddr *sa);

/*
 * kz_url_host — the host of an http:// or https:// URL into host[0..cap):
 * after "//", without user info, port or IPv6 brackets, lower case, a
 * final dot removed.  0, or -1 (no host, an '@' twice, a backslash, a
 * '%' in the host (an escape or an IPv6 zone), too long).
 */
int kz_url_host(const char *url, char *host, size_t cap);

/* Is host an IP address literal?  Every form a resolver takes as one
 * (inet_aton's "127.1", "0x7f000001", "017700000001"; IPv6 without
 * brackets): 1 with *ss (a struct sockaddr_storage) filled, else 0. */
int kz_host_literal(const char *host, void *ss);

struct kz_netallow {
    char **names;           /* lower case, no final dot */
    size_t nnames;
    struct kz_cidr *cidrs;
    size_t ncidrs;
};

/* Is item a valid allow-list entry (a CIDR, or a host name of 1..253 of
 * A-Z a-z 0-9 . - _)? */
bool kz_netallow_item_ok(const char *item);
/* Build a from items[0..n) (checked as above).  0, or -1 (a bad item:
 * *bad = its index; or out of memory: *bad = n) with a left empty.
 * a must be zeroed; free with kz_netallow_free. */
int kz_netallow_init(struct kz_netallow *a, const char *const *items,
                     size_t n, size_t *bad);
void kz_netallow_free(struct kz_netallow *a);
/* Does a name host (any case, final dot ignored)? */
bool kz_netallow_name(const struct kz_netallow *a, const char *host);
/* May a connection go to sa: not internal, or inside a CIDR of a (a may
 * be NULL: no exceptions)? */
bool kz_netallow_addr(const struct kz_netallow *a, const struct sockaddr *sa);
/* The check when a URL is accepted: 0 when its host is named by a, or is
 * a literal address kz_netallow_addr allows, or another name than
 * "localhost" / "*.localhost"; -1 when refused or when it has no host
 * (kz_url_host).  a may be NULL. */
int kz_netallow_url(const struct kz_netallow *a, const char *url);

#endif
