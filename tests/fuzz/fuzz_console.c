/*
 * tests/fuzz/fuzz_console.c — libFuzzer target for the console's parsers
 * of what a browser sends (gateway/console_core): the Cookie header
 * reader, the static-file path check, the time parser and the CSV cell.
 *
 * The input is one C string (cut at its first NUL).  Checks, with abort()
 * on a broken property:
 *   - console_cookie_get finds a value that fits, NUL-terminated, and
 *     that value occurs in the header;
 *   - a path console_path_safe accepts has no backslash and no '%', and
 *     every '/'-separated segment is non-empty and does not start with
 *     '.' (so none is "." or "..", none hidden, nothing absolute);
 *   - console_parse_time gives -1 or a value >= 0;
 *   - a CSV cell never begins with = + - @ (it is quoted and prefixed),
 *     and read back (quotes undone) it is the input, with the ' prefix
 *     when the input begins like a formula.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_console.
 *
 * May call: gateway/console_core.h (pure), libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/console_core.h"
#include "tests/fuzz/fuzz.h"

static void check_cell(const char *in)
{
    char *c = console_csv_cell(in);
    CHECK(c != NULL);
    CHECK(!strchr("=+-@", c[0]) || c[0] == '\0');
    size_t n = strlen(c), o = 0;
    char *back = malloc(n + 1);
    CHECK(back != NULL);
    if (c[0] == '"') {
        CHECK(n >= 2 && c[n - 1] == '"');
        for (size_t i = 1; i + 1 < n; i++) {
            if (c[i] == '"') {
                CHECK(c[i + 1] == '"');
                i++;
            }
            back[o++] = c[i];
        }
    } else {
        CHECK(!strpbrk(c, ",\"\r\n"));
        memcpy(back, c, n);
        o = n;
    }
    back[o] = '\0';
    bool formula = in[0] && strchr("=+-@\t\r", in[0]);
    CHECK(strcmp(back + (formula ? 1 : 0), in) == 0);
    CHECK(!formula || back[0] == '\'');
    free(back);
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char v[100];
    if (console_cookie_get(s, "kz_console", v, sizeof v)) {
        CHECK(strlen(v) < sizeof v);
        CHECK(strstr(s, v) != NULL);
    }
    if (console_path_safe(s)) {
        CHECK(!strchr(s, '\\') && !strchr(s, '%'));
        /* every segment is non-empty and starts with neither '.' nor '/':
         * no "..", no ".", no hidden file, no absolute path */
        for (const char *seg = s; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
            CHECK(*seg && *seg != '.' && *seg != '/');
    }
    int64_t t = console_parse_time(s, size & 1);
    CHECK(t >= -1);
    check_cell(s);
    free(s);
    return 0;
}
