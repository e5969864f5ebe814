/*
 * base/netaddr.c — internal addresses, CIDRs and the callback allow-list;
 * see netaddr.h.
 *
 * Design.  Everything works on 16-byte addresses: an IPv4 address is
 * looked at as itself, and an IPv6 one that carries an IPv4 address
 * (mapped, compatible, NAT64) as that IPv4 address too, so no spelling of
 * 127.0.0.1 slips past a rule written for IPv4.
 *
 * Owns: nothing between calls.  May call: libc.
 */
#include "base/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---- addresses ----------------------------------------------------------- */

/* The IPv4 address an IPv6 one carries (::ffff:a.b.c.d, ::a.b.c.d other
 * than :: and ::1, 64:ff9b::a.b.c.d), into v4[4]: true when it has one. */
static bool v6_carries_v4(const uint8_t *a, uint8_t *v4)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
    static const uint8_t zero[12];
    bool compat = memcmp(a, zero, 12) == 0 &&
                  !(a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] <= 1);
    if (memcmp(a, mapped, 12) != 0 && memcmp(a, nat64, 12) != 0 && !compat)
        return false;
    memcpy(v4, a + 12, 4);
    return true;
}

/* sa -> family and bytes; the IPv4 address an IPv6 one carries in v4
 * (*has_v4).  false for other families. */
static bool addr_of(const struct sockaddr *sa, int *family, uint8_t *a,
                    uint8_t *v4, bool *has_v4)
{
    *has_v4 = false;
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        *family = AF_INET;
        memcpy(a, &s4->sin_addr, 4);
        memcpy(v4, a, 4);
        *has_v4 = true;
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        *family = AF_INET6;
        memcpy(a, &s6->sin6_addr, 16);
        *has_v4 = v6_carries_v4(a, v4);
        return true;
    }
    return false;
}

static bool v4_internal(const uint8_t *v4)
{
    return v4[0] == 127 || v4[0] == 0 || (v4[0] == 169 && v4[1] == 254);
}

static bool v6_internal(const uint8_t *a)
{
    static const uint8_t zero[15];
    static const uint8_t ec2[16] = { 0xfd, 0x00, 0x0e, 0xc2, [15] = 0x54, [14] = 0x02 };
    if (memcmp(a, zero, 15) == 0 && a[15] <= 1)        /* :: and ::1 */
        return true;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)          /* fe80::/10 */
        return true;
    return memcmp(a, ec2, 16) == 0;                     /* fd00:ec2::254 */
}

bool kz_addr_internal(const struct sockaddr *sa)
{
    int family;
    uint8_t a[16], v4[4];
    bool has_v4;
    if (!addr_of(sa, &family, a, v4, &has_v4))
        return false;
    if (has_v4 && v4_internal(v4))
        return true;
    return family == AF_INET6 && v6_internal(a);
}

/* Do the first bits of a and b agree? */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int kz_cidr_parse(const char *s, struct kz_cidr *c)
{
    char buf[64];
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        bits = strtol(slash + 1, &end, 10);
        if (*end)
            return -1;
    }
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, buf, c->addr) == 1)
        c->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, c->addr) == 1)
        c->family = AF_INET6;
    else
        return -1;
    long max = c->family == AF_INET ? 32 : 128;
    if (bits > max)
        return -1;
    c->bits = (unsigned)(bits < 0 ? max : bits);
    return 0;
}

bool kz_cidr_match(const struct kz_cidr *c, const struct sockaddr *sa)
{
    int family;
    uint8_t a[16], v4[4];
    bool has_v4;
    if (!c || !addr_of(sa, &family, a, v4, &has_v4))
        return false;
    if (c->family == AF_INET)
        return has_v4 && prefix_eq(v4, c->addr, c->bits);
    return family == AF_INET6 && prefix_eq(a, c->addr, c->bits);
}

/* ---- URLs and host names ------------------------------------------------- */

int kz_url_host(const char *url, char *host, size_t cap)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p || cap == 0)
        return -1;
    p += 3;
    size_t alen = strcspn(p, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++) {
        if (p[i] == '\\' || (p[i] == '@' && at))
            return -1;
        if (p[i] == '@')
            at = p + i;
    }
    const char *h = at ? at + 1 : p, *end = p + alen;
    const char *stop;
    if (*h == '[') {
        h++;
        stop = memchr(h, ']', (size_t)(end - h));
        if (!stop)
            return -1;
    } else {
        stop = memchr(h, ':', (size_t)(end - h));
        if (!stop)
            stop = end;
    }
    size_t n = (size_t)(stop - h);
    if (n > 0 && h[n - 1] == '.')
        n--;
    if (n == 0 || n >= cap || memchr(h, '%', n))   /* no escapes, no zones */
        return -1;
    for (size_t i = 0; i < n; i++)
        host[i] = (h[i] >= 'A' && h[i] <= 'Z') ? (char)(h[i] - 'A' + 'a') : h[i];
    host[n] = '\0';
    return 0;
}

int kz_host_literal(const char *host, void *ss)
{
    struct sockaddr_storage *st = ss;
    memset(st, 0, sizeof *st);
    struct sockaddr_in *s4 = (struct sockaddr_in *)st;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)st;
    if (inet_aton(host, &s4->sin_addr)) {
        s4->sin_family = AF_INET;
        return 1;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 1;
    }
    memset(st, 0, sizeof *st);
    return 0;
}

/* Compare host names without case and without a final dot. */
static bool name_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na && a[na - 1] == '.')
        na--;
    if (nb && b[nb - 1] == '.')
        nb--;
    return na == nb && strncasecmp(a, b, na) == 0;
}

/* 1..253 of A-Z a-z 0-9 . - _ */
static bool is_name(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789.-_";
    size_t n = strlen(s);
    return n > 0 && n <= 253 && strspn(s, ok) == n;
}

/* ---- the allow-list -------------------------------------------------------- */

bool kz_netallow_item_ok(const char *item)
{
    struct kz_cidr c;
    return item && (kz_cidr_parse(item, &c) == 0 || is_name(item));
}

void kz_netallow_free(struct kz_netallow *a)
{
    for (size_t i = 0; i < a->nnames; i++)
        free(a->names[i]);
    free(a->names);
    free(a->cidrs);
    memset(a, 0, sizeof *a);
}

int kz_netallow_init(struct kz_netallow *a, const char *const *items,
                     size_t n, size_t *bad)
{
    size_t unused;
    if (!bad)
        bad = &unused;
    memset(a, 0, sizeof *a);
    if (n == 0)
        return 0;
    a->names = calloc(n, sizeof *a->names);
    a->cidrs = calloc(n, sizeof *a->cidrs);
    *bad = n;
    if (!a->names || !a->cidrs) {
        kz_netallow_free(a);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (kz_cidr_parse(items[i], &a->cidrs[a->ncidrs]) == 0) {
            a->ncidrs++;
            continue;
        }
        char *name = is_name(items[i]) ? strdup(items[i]) : NULL;
        if (!name) {
            *bad = is_name(items[i]) ? n : i;
            kz_netallow_free(a);
            return -1;
        }
        a->names[a->nnames++] = name;
    }
    return 0;
}

bool kz_netallow_name(const struct kz_netallow *a, const char *host)
{
    for (size_t i = 0; a && host && i < a->nnames; i++)
        if (name_eq(a->names[i], host))
            return true;
    return false;
}

bool kz_netallow_addr(const struct kz_netallow *a, const struct sockaddr *sa)
{
    if (!kz_addr_internal(sa))
        return true;
    for (size_t i = 0; a && i < a->ncidrs; i++)
        if (kz_cidr_match(&a->cidrs[i], sa))
            return true;
    return false;
}

int kz_netallow_url(const struct kz_netallow *a, const char *url)
{
    char host[256];
    if (kz_url_host(url, host, sizeof host) != 0)
        return -1;
    if (kz_netallow_name(a, host))
        return 0;
    struct sockaddr_storage ss;
    if (kz_host_literal(host, &ss))
        return kz_netallow_addr(a, (const struct sockaddr *)&ss) ? 0 : -1;
    size_t n = strlen(host);
    bool local = strcmp(host, "localhost") == 0 ||
                 (n > 10 && strcmp(host + n - 10, ".localhost") == 0);
    return local ? -1 : 0;
}
