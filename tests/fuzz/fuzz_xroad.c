/*
 * tests/fuzz/fuzz_xroad.c — libFuzzer target for base/xroad's parsers:
 * xroad_id_parse + xroad_id_encode (identifiers from the config and the
 * menus) and xroad_call_split (the rendered menu call gateway/fetch reads).
 *
 * The input is any bytes.  Checks, with abort() on a broken property:
 *   - an identifier parsed with 4 or 5 parts has exactly that many
 *     non-empty parts of at most XROAD_PART_MAX bytes, inside the input,
 *     with no '/' and no control byte; parts joined by '/' give the input;
 *   - its encoding holds only unreserved bytes, '%XX' and the n-1 '/'
 *     separators, starts with "/r1/" when asked, and a buffer one byte
 *     short of the result is refused (never overrun, NUL-terminated "");
 *   - a split call's path lies inside the input, starts with "/r1/", has
 *     no space, control byte, non-ASCII byte or '#'; its service prefix is
 *     within the path; the issue is NUL-terminated, as long as said, at
 *     most XROAD_ISSUE_MAX bytes and without a control byte, so it can go
 *     into a header line (xroad_headers_build accepts it).
 * Also linked with tests/fuzz/replay.c into build/tests/replay_xroad.
 *
 * May call: base/xroad.h, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xroad.h"
#include "tests/fuzz/fuzz.h"

static int ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static void check_id(const char *s, size_t n, size_t want)
{
    struct xroad_id id;
    size_t at = 0;
    char err[120];
    if (xroad_id_parse(s, n, want, &id, &at, err, sizeof err) != 0) {
        CHECK(at <= n);
        CHECK(err[0] != '\0');
        return;
    }
    CHECK(id.n == want);
    size_t total = 0;
    for (size_t k = 0; k < id.n; k++) {
        CHECK(id.len[k] > 0 && id.len[k] <= XROAD_PART_MAX);
        CHECK(id.part[k] >= s && id.part[k] + id.len[k] <= s + n);
        CHECK(id.part[k] == s + total);
        for (size_t i = 0; i < id.len[k]; i++)
            CHECK(id.part[k][i] != '/' && !ctl((unsigned char)id.part[k][i]));
        total += id.len[k] + 1;
    }
    CHECK(total == n + 1);
    static char out[XROAD_SERVICE_PARTS * 3 * XROAD_PART_MAX + 16];
    for (int path = 0; path < 2; path++) {
        long l = xroad_id_encode(&id, path, out, sizeof out);
        CHECK(l > 0 && (size_t)l < sizeof out && out[l] == '\0' && strlen(out) == (size_t)l);
        size_t i = 0, slashes = 0;
        if (path) {
            CHECK(strncmp(out, "/r1/", 4) == 0);
            i = 4;
        }
        for (; i < (size_t)l; i++) {
            unsigned char c = (unsigned char)out[i];
            if (c == '%') {
                CHECK(i + 2 < (size_t)l && strchr("0123456789ABCDEF", out[i + 1]) &&
                      strchr("0123456789ABCDEF", out[i + 2]));
                i += 2;
            } else if (c == '/') {
                slashes++;
            } else {
                CHECK(strchr("-._~", c) || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                      (c >= 'A' && c <= 'Z'));
            }
        }
        CHECK(slashes == want - 1);
        char *small = malloc((size_t)l);   /* one byte short */
        CHECK(small != NULL);
        CHECK(xroad_id_encode(&id, path, small, (size_t)l) == -1 && small[0] == '\0');
        free(small);
    }
}

static void check_call(const char *s, size_t n)
{
    struct xroad_call c;
    char issue[XROAD_ISSUE_MAX + 1];
    if (xroad_call_split(s, n, &c, issue, sizeof issue, NULL, 0) != 0)
        return;
    CHECK(c.path >= s && c.path + c.path_len <= s + n);
    CHECK(c.path_len >= 4 && memcmp(c.path, "/r1/", 4) == 0);
    CHECK(c.service_len > 4 && c.service_len <= c.path_len);
    for (size_t i = 0; i < c.path_len; i++) {
        unsigned char ch = (unsigned char)c.path[i];
        CHECK(!ctl(ch) && ch != ' ' && ch != '#' && ch < 0x80);
    }
    CHECK(c.issue_len <= XROAD_ISSUE_MAX && strlen(issue) == c.issue_len);
    for (size_t i = 0; i < c.issue_len; i++)
        CHECK(!ctl((unsigned char)issue[i]));
    static struct xroad_headers h;
    CHECK(xroad_headers_build(&h, "KG/GOV/1/k", "id", NULL, issue) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_id(s, size, XROAD_CLIENT_PARTS);
    check_id(s, size, XROAD_SERVICE_PARTS);
    check_call(s, size);
    return 0;
}
