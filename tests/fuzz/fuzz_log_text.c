/*
 * tests/fuzz/fuzz_log_text.c — libFuzzer target for log_text_safe(), the
 * filter a citizen's free text (an MO SMS) goes through before the log.
 *
 * The input is the text, any bytes (NULs included).  Checks, with abort()
 * on a broken property:
 *   - with the documented room (4 * len + 1) the result is NUL-terminated,
 *     its length is the return value, at most 4 * len, with no NUL inside;
 *   - it is valid UTF-8 and holds no C0 control, no DEL, no C1 control and
 *     none of the bidi marks, embeddings, overrides, isolates nor U+2028/9
 *     (all of them must come out as escapes);
 *   - every '"' in it is escaped (preceded by an odd run of backslashes),
 *     so the text can never end the quotes the log puts around it;
 *   - a smaller room gives a prefix of the whole result (whole escapes and
 *     characters only), NUL-terminated, never longer than room - 1;
 *   - when the input is plain printable ASCII without '\\' or '"' (nothing
 *     to escape), no run of LOG_TEXT_MASK_MIN digits survives: numbers
 *     keep only their last 4 digits.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_log_text.
 *
 * May call: gateway/log.h (log_text_safe only, which is pure), base/utf8.h,
 * libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "gateway/log.h"
#include "tests/fuzz/fuzz.h"

/* No code point the filter must escape. */
static int forbidden(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c ||
           c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
           (c >= 0x2066 && c <= 0x2069) || c == 0x2028 || c == 0x2029;
}

static void check_clean(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c;
        size_t k = kz_utf8_next((const uint8_t *)s + i, n - i, &c);
        CHECK(k > 0);
        CHECK(!forbidden(c));
        if (c == '"') {
            size_t bs = 0;
            while (bs < i && s[i - 1 - bs] == '\\')
                bs++;
            CHECK(bs % 2 == 1);
        }
        i += k;
    }
}

static int plain(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (d[i] < 0x20 || d[i] > 0x7e || d[i] == '\\' || d[i] == '"')
            return 0;
    return 1;
}

static void check_masked(const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        run = (s[i] >= '0' && s[i] <= '9') ? run + 1 : 0;
        CHECK(run < LOG_TEXT_MASK_MIN);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    size_t cap = 4 * size + 1;
    char *out = malloc(cap);
    char *part = malloc(cap);
    CHECK(out && part);
    size_t n = log_text_safe(data, size, out, cap);
    CHECK(n <= 4 * size);
    CHECK(out[n] == '\0' && strlen(out) == n);
    check_clean(out, n);
    if (plain(data, size))
        check_masked(out, n);
    /* a smaller room: a prefix, cut between escapes and characters */
    size_t room = size ? 1 + data[0] % cap : 1;
    size_t m = log_text_safe(data, size, part, room);
    CHECK(m < room && part[m] == '\0' && strlen(part) == m);
    CHECK(m <= n && memcmp(part, out, m) == 0);
    check_clean(part, m);
    CHECK(log_text_safe(data, size, part, 0) == 0);
    free(out);
    free(part);
    return 0;
}
