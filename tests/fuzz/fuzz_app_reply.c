/*
 * tests/fuzz/fuzz_app_reply.c — libFuzzer target for fetch_app_reply_parse()
 * (gateway/fetch.h): an external app's "CON text" / "END text" answer.
 *
 * Input layout: byte 0 picks the text buffer's size (1..256), the rest is
 * the HTTP body.  Checks, with abort() on any broken property:
 *   - the result is FETCH_OK or FETCH_EAPP, nothing else;
 *   - on FETCH_OK: the text is NUL-terminated at len < cap, is valid UTF-8
 *     without NUL or CR, has no trailing space/tab/LF, and `end` matches the
 *     keyword after the BOM and leading white space;
 *   - a larger buffer gives the same reply, and a cut text is a prefix of
 *     the whole one;
 *   - the whole text wrapped again as "CON "/"END " + text parses back to
 *     the identical text (the parser's output is a fixed point);
 *   - on FETCH_EAPP the text buffer holds "".
 * Also linked with tests/fuzz/replay.c into build/tests/replay_app_reply.
 *
 * May call: gateway/fetch.h, base/utf8 (UTF-8 check), libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "gateway/fetch.h"
#include "tests/fuzz/fuzz.h"

#define BIG 70000

static char small[257], whole[BIG], again[BIG + 8], wrap[BIG + 8];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > BIG - 8)
        return 0;
    size_t cap = (size_t)data[0] + 1;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct fetch_app_reply r, w;
    char err[128];

    int rc = fetch_app_reply_parse(body, len, small, cap, &r, err, sizeof err);
    CHECK(rc == FETCH_OK || rc == FETCH_EAPP);
    int rc2 = fetch_app_reply_parse(body, len, whole, sizeof whole, &w, NULL, 0);
    CHECK(rc2 == rc);
    if (rc != FETCH_OK) {
        CHECK(small[0] == '\0' && whole[0] == '\0' && err[0] != '\0');
        return 0;
    }
    CHECK(!w.truncated); /* the whole body always fits in BIG */
    CHECK(r.len < cap && small[r.len] == '\0' && strlen(small) == r.len);
    CHECK(w.len <= len && whole[w.len] == '\0' && strlen(whole) == w.len);
    CHECK(r.end == w.end);
    CHECK(kz_utf8_valid((const uint8_t *)whole, w.len, NULL));
    CHECK(kz_utf8_valid((const uint8_t *)small, r.len, NULL));
    CHECK(memchr(whole, '\r', w.len) == NULL);
    if (w.len > 0) {
        char last = whole[w.len - 1];
        CHECK(last != ' ' && last != '\t' && last != '\n');
    }
    /* cut or not, the small text is a prefix of the whole one */
    CHECK(r.len <= w.len && memcmp(small, whole, r.len) == 0);
    CHECK(r.truncated == (r.len < w.len));

    /* which keyword: the first byte after a BOM and white space */
    size_t i = 0;
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && strchr(" \t\r\n", body[i]) && body[i] != '\0')
        i++;
    CHECK(i + 3 <= len);
    CHECK(memcmp(body + i, w.end ? "END" : "CON", 3) == 0);

    /* fixed point: the text in a fresh reply comes back unchanged */
    memcpy(wrap, w.end ? "END " : "CON ", 4);
    memcpy(wrap + 4, whole, w.len);
    struct fetch_app_reply a;
    CHECK(fetch_app_reply_parse(wrap, w.len + 4, again, sizeof again, &a, NULL, 0) == FETCH_OK);
    CHECK(a.end == w.end && a.len == w.len && memcmp(again, whole, w.len) == 0);
    return 0;
}
