/*
 * base/xroad.c — X-Road REST protocol pieces: identifiers, the service
 * path, the rendered menu call, X-Road-Id and the header lines.  See
 * base/xroad.h for the why and the rules.
 *
 * Every function reads a bounded input and writes into the caller's
 * buffer with the bound checked before each byte; nothing allocates.
 * Owns: nothing.  May call: base/utf8, libc.
 */
#include "base/xroad.h"

#include <stdio.h>
#include <string.h>

#include "base/base64.h"
#include "base/utf8.h"

static void say(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* RFC 3986 unreserved: kept as they are by the percent-encoding. */
static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* ---- identifiers ------------------------------------------------------- */

/* One part s[0..n): not empty, bounded, UTF-8, no control byte; on a
 * fault *bad is the offset inside the part. */
static const char *part_fault(const char *s, size_t n, size_t *bad)
{
    *bad = 0;
    if (n == 0)
        return "an identifier part is empty";
    if (n > XROAD_PART_MAX)
        return "an identifier part is longer than 255 bytes";
    for (size_t i = 0; i < n; i++)
        if (is_ctl((unsigned char)s[i])) {
            *bad = i;
            return "an identifier part holds a control character";
        }
    if (!kz_utf8_valid((const uint8_t *)s, n, bad))
        return "an identifier part is not valid UTF-8";
    return NULL;
}

int xroad_id_parse(const char *s, size_t len, size_t want, struct xroad_id *out,
                   size_t *at, char *err, size_t errlen)
{
    size_t where = 0;
    const char *why = NULL;
    struct xroad_id id = { 0 };
    if (!s || !out || want == 0 || want > XROAD_SERVICE_PARTS) {
        why = "no identifier";
        goto fail;
    }
    size_t start = 0;
    for (size_t i = 0; i <= len && !why; i++) {
        if (i < len && s[i] != '/')
            continue;
        if (id.n == want) {
            where = start;
            why = "an identifier has too many parts";
            break;
        }
        size_t bad;
        why = part_fault(s + start, i - start, &bad);
        where = start + bad;
        id.part[id.n] = s + start;
        id.len[id.n++] = i - start;
        start = i + 1;
    }
    if (!why && id.n != want) {
        where = len;
        why = "an identifier has too few parts";
    }
    if (!why) {
        *out = id;
        return 0;
    }
fail:
    if (at)
        *at = where;
    say(err, errlen, why);
    return -1;
}

long xroad_id_encode(const struct xroad_id *id, bool path, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *pre = path ? XROAD_PROTOCOL "/" : "";
    size_t o = strlen(pre);
    if (!out || cap == 0)
        return -1;
    if (o >= cap)
        goto full;
    memcpy(out, pre, o);
    for (size_t k = 0; id && k < id->n; k++) {
        if (k > 0) {
            if (cap - o < 2)
                goto full;
            out[o++] = '/';
        }
        for (size_t i = 0; i < id->len[k]; i++) {
            unsigned char c = (unsigned char)id->part[k][i];
            bool keep = unreserved(c);
            if (cap - o < (keep ? 2u : 4u))
                goto full;
            if (keep) {
                out[o++] = (char)c;
                continue;
            }
            out[o] = '%';
            out[o + 1] = hex[c >> 4];
            out[o + 2] = hex[c & 15];
            o += 3;
        }
    }
    out[o] = '\0';
    return (long)o;
full:
    out[0] = '\0';
    return -1;
}

/* ---- an agency's callback through X-Road -------------------------------- */

/* A path or query byte we pass on as it is: printable ASCII but '#'. */
static bool path_byte(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

long xroad_callback_url(const char *url, const char *issue, char *out, size_t cap,
                        char *err, size_t errlen)
{
    size_t sl = strlen(XROAD_SCHEME);
    if (!url || strncmp(url, XROAD_SCHEME, sl) != 0 || url[sl] == '/') {
        say(err, errlen, "an X-Road callback is xroad:INSTANCE/CLASS/MEMBER/"
                         "SUBSYSTEM/SERVICE[/path]");
        return -1;
    }
    const char *svc = url + sl;
    size_t n = 0, slashes = 0;
    while (svc[n] && svc[n] != '?' && svc[n] != '#' && !(svc[n] == '/' && slashes == 4)) {
        slashes += svc[n] == '/';
        n++;
    }
    struct xroad_id id;
    if (xroad_id_parse(svc, n, XROAD_SERVICE_PARTS, &id, NULL, err, errlen) != 0)
        return -1;
    const char *path = svc + n;
    for (const char *p = path; *p; p++)
        if (!path_byte((unsigned char)*p)) {
            say(err, errlen, "the path after the service has a space, '#' or a "
                             "byte that is not printable ASCII");
            return -1;
        }
    for (const char *p = issue; p && *p; p++)
        if (!unreserved((unsigned char)*p)) {
            say(err, errlen, "the issue is not plain letters, digits, '-._~'");
            return -1;
        }
    if (cap < sl + 1) {
        say(err, errlen, "too long");
        return -1;
    }
    memcpy(out, XROAD_SCHEME, sl);
    long e = xroad_id_encode(&id, true, out + sl, cap - sl);
    size_t o = e < 0 ? 0 : sl + (size_t)e;
    size_t pl = strlen(path), il = issue && *issue ? strlen(issue) + 1 : 0;
    if (e < 0 || o + pl + il >= cap) {
        out[0] = '\0';
        say(err, errlen, "too long");
        return -1;
    }
    memcpy(out + o, path, pl);
    o += pl;
    if (il) {
        out[o++] = '#';
        memcpy(out + o, issue, il - 1);
        o += il - 1;
    }
    out[o] = '\0';
    return (long)o;
}

/* ---- the rendered menu call -------------------------------------------- */

/* Percent-decode s[0..n) into out[cap]; "%" not followed by two hex
 * digits stays as it is.  -1 when too long or a control byte comes out. */
static long decode_issue(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi = c == '%' && n - i > 2 ? kz_hex_value(s[i + 1]) : -1;
        int lo = hi >= 0 ? kz_hex_value(s[i + 2]) : -1;
        if (lo >= 0) {
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (is_ctl(c) || o + 1 >= cap || o >= XROAD_ISSUE_MAX)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

int xroad_call_split(const char *s, size_t len, struct xroad_call *out, char *issue,
                     size_t cap, char *err, size_t errlen)
{
    const size_t sl = strlen(XROAD_SCHEME), pl = strlen(XROAD_PROTOCOL "/");
    if (!s || !out || !issue || cap == 0) {
        say(err, errlen, "no call");
        return -1;
    }
    issue[0] = '\0';
    memset(out, 0, sizeof *out);
    if (len < sl + pl || memcmp(s, XROAD_SCHEME, sl) != 0 ||
        memcmp(s + sl, XROAD_PROTOCOL "/", pl) != 0) {
        say(err, errlen, "an X-Road call starts with xroad:/r1/");
        return -1;
    }
    const char *p = s + sl, *end = s + len;
    const char *hash = memchr(p, '#', (size_t)(end - p));
    const char *pend = hash ? hash : end;
    /* five non-empty parts after "/r1/" */
    const char *q = p + pl;
    for (int k = 0; k < XROAD_SERVICE_PARTS; k++) {
        const char *e = q;
        while (e < pend && *e != '/' && *e != '?')
            e++;
        if (e == q || (k < XROAD_SERVICE_PARTS - 1 && (e == pend || *e != '/'))) {
            say(err, errlen, "an X-Road service needs five non-empty parts");
            return -1;
        }
        q = k < XROAD_SERVICE_PARTS - 1 ? e + 1 : e;
    }
    for (const char *c = p; c < pend; c++)
        if (is_ctl((unsigned char)*c) || *c == ' ' || (unsigned char)*c >= 0x80) {
            say(err, errlen, "the X-Road path holds a space, a control character or "
                             "a byte that is not ASCII");
            return -1;
        }
    long il = 0;
    if (hash && (il = decode_issue(hash + 1, (size_t)(end - hash - 1), issue, cap)) < 0) {
        issue[0] = '\0';
        say(err, errlen, "the X-Road issue is too long or holds a control character");
        return -1;
    }
    out->path = p;
    out->path_len = (size_t)(pend - p);
    out->service_len = (size_t)(q - p);
    out->issue_len = (size_t)il;
    return 0;
}

/* ---- X-Road-Id and the header lines ------------------------------------ */

void xroad_uuid_format(const uint8_t b[16], char out[XROAD_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t u[16];
    memcpy(u, b, 16);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);   /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);   /* variant 10xx */
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
    out[o] = '\0';
}

bool xroad_header_value_ok(const char *s)
{
    size_t n = s ? strnlen(s, XROAD_ISSUE_MAX + 1) : 0;
    if (!s || n > XROAD_ISSUE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (is_ctl((unsigned char)s[i]))
            return false;
    return true;
}

int xroad_headers_build(struct xroad_headers *h, const char *client, const char *id,
                        const char *user_id, const char *issue)
{
    static const char *const names[4] = { "X-Road-Client", "X-Road-Id", "X-Road-UserId",
                                          "X-Road-Issue" };
    const char *vals[4] = { client, id, user_id, issue };
    if (!h)
        return -1;
    h->n = 0;
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        const char *v = vals[i];
        if (i >= 2 && (!v || !*v))
            continue;
        bool ok = v && *v && (i == 0 ? strlen(v) < sizeof h->buf / 2 && !strpbrk(v, "\r\n")
                                     : xroad_header_value_ok(v));
        int k = ok ? snprintf(h->buf + o, sizeof h->buf - o, "%s: %s", names[i], v) : -1;
        if (k < 0 || (size_t)k >= sizeof h->buf - o) {
            h->n = 0;
            return -1;
        }
        h->line[h->n++] = h->buf + o;
        o += (size_t)k + 1;
    }
    return 0;
}
