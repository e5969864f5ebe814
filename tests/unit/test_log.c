/*
 * tests/unit/test_log.c — gateway/log: number masking, the line format,
 * level names (syslog's too), a citizen's free text made safe
 * (log_text_safe), level filtering, the file destination and reopen after
 * a rotation.
 *
 * Lines are read back from a real file in a fresh temporary directory, so
 * the test sees exactly what an operator would.  May call: gateway/log,
 * tests/unit/tmpdb.h, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/log.h"
#include "tests/unit/tmpdb.h"

/* ---- masking ----------------------------------------------------------- */

static void test_mask_msisdn(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(log_msisdn(buf, sizeof buf, "996555123456"), "********3456");
    assert_string_equal(log_msisdn(buf, sizeof buf, "+996555123456"), "+********3456");
    assert_string_equal(log_msisdn(buf, sizeof buf, "12345"), "*2345");
    /* 4 characters or fewer (service codes) have nothing to hide */
    assert_string_equal(log_msisdn(buf, sizeof buf, "1234"), "1234");
    assert_string_equal(log_msisdn(buf, sizeof buf, "100"), "100");
    assert_string_equal(log_msisdn(buf, sizeof buf, "+1"), "+1");
    assert_string_equal(log_msisdn(buf, sizeof buf, ""), "");
    assert_string_equal(log_msisdn(buf, sizeof buf, NULL), "-");
    assert_string_equal(log_mask("996700000042").s, "********0042");
}

static void test_mask_small_buffer_never_leaks_digits(void **state)
{
    (void)state;
    char buf[6];
    /* cut to fit: what is cut is the tail, and no hidden digit shows */
    assert_string_equal(log_msisdn(buf, sizeof buf, "996555123456"), "*****");
    char one[1];
    assert_string_equal(log_msisdn(one, sizeof one, "996555123456"), "");
}

/* ---- line format ---------------------------------------------------- */

static size_t fmt(char *buf, size_t cap, const struct timespec *ts, int level,
                  const char *peer, const char *f, ...)
    __attribute__((format(printf, 6, 7)));

static size_t fmt(char *buf, size_t cap, const struct timespec *ts, int level,
                  const char *peer, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    size_t n = log_format(buf, cap, ts, level, peer, f, ap);
    va_end(ap);
    return n;
}

/* 2026-11-26T08:40:00.123Z */
static const struct timespec T0 = { 1795682400, 123456789 };

static void test_line_format(void **state)
{
    (void)state;
    char buf[256];
    size_t n = fmt(buf, sizeof buf, &T0, KLOG_INFO, "megacom", "bound as %s", "kyzmat");
    assert_string_equal(buf, "2026-11-26T08:40:00.123Z info [megacom] bound as kyzmat\n");
    assert_int_equal(n, strlen(buf));

    fmt(buf, sizeof buf, &T0, KLOG_ERROR, NULL, "no peer %d", 7);
    assert_string_equal(buf, "2026-11-26T08:40:00.123Z error no peer 7\n");
    fmt(buf, sizeof buf, &T0, KLOG_WARN, "", "x");
    assert_string_equal(buf, "2026-11-26T08:40:00.123Z warn x\n");
    struct timespec t1 = { 0, 999999999 };
    fmt(buf, sizeof buf, &t1, KLOG_DEBUG, "o", "y");
    assert_string_equal(buf, "1970-01-01T00:00:00.999Z debug [o] y\n");
}

static void test_line_escapes_control_characters(void **state)
{
    (void)state;
    char buf[256];
    fmt(buf, sizeof buf, &T0, KLOG_INFO, "p", "MO: \"%s\"", "a\nb\r\tc\x01");
    assert_string_equal(buf,
        "2026-11-26T08:40:00.123Z info [p] MO: \"a\\nb\\r\\tc\\x01\"\n");
    /* UTF-8 passes through untouched */
    fmt(buf, sizeof buf, &T0, KLOG_INFO, "p", "%s", "Саламатсызбы ң");
    assert_string_equal(buf, "2026-11-26T08:40:00.123Z info [p] Саламатсызбы ң\n");
}

static void test_line_cut_when_too_long(void **state)
{
    (void)state;
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char buf[LOG_LINE_MAX];
    size_t n = fmt(buf, sizeof buf, &T0, KLOG_INFO, "p", "%s", big);
    assert_true(n < sizeof buf);
    assert_int_equal(n, strlen(buf));
    assert_int_equal(buf[n - 1], '\n');
    assert_memory_equal(buf + n - 4, "...\n", 4);

    char small[40];
    n = fmt(small, sizeof small, &T0, KLOG_INFO, "peer", "%s", "a long message here");
    assert_int_equal(n, strlen(small));
    assert_int_equal(small[n - 1], '\n');
    assert_true(n < sizeof small);
}

static void test_level_names(void **state)
{
    (void)state;
    assert_string_equal(log_level_name(KLOG_ERROR), "error");
    assert_string_equal(log_level_name(KLOG_DEBUG), "debug");
    assert_string_equal(log_level_name(9), "?");
    assert_int_equal(log_level_from_name("warn"), KLOG_WARN);
    assert_int_equal(log_level_from_name("info"), KLOG_INFO);
    assert_int_equal(log_level_from_name("verbose"), -1);
    assert_int_equal(log_level_from_name(NULL), -1);
    /* syslog's names (issue 14 item 12) */
    assert_int_equal(log_level_from_name("emerg"), KLOG_ERROR);
    assert_int_equal(log_level_from_name("alert"), KLOG_ERROR);
    assert_int_equal(log_level_from_name("crit"), KLOG_ERROR);
    assert_int_equal(log_level_from_name("err"), KLOG_ERROR);
    assert_int_equal(log_level_from_name("warning"), KLOG_WARN);
    assert_int_equal(log_level_from_name("notice"), KLOG_INFO);
    assert_int_equal(log_level_from_name("Warning"), -1);
    assert_int_equal(log_level_from_name("warni"), -1);
    /* the names written stay kyzmat's own */
    assert_string_equal(log_level_name(KLOG_WARN), "warn");
}

/* ---- a citizen's free text (issue 14 item 11) ------------------------------ */

/* log_text_safe on a C string, into a buffer of `cap` bytes. */
static const char *safe(const char *in, size_t cap)
{
    static char out[512];
    assert_true(cap <= sizeof out);
    memset(out, 'Z', sizeof out);
    size_t n = log_text_safe(in, strlen(in), out, cap);
    assert_int_equal(n, strlen(out));
    assert_true(n < cap);
    return out;
}

static void test_text_numbers_masked(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        /* runs of 5+ digits keep their last 4, as log_msisdn does */
        { "STATUS 12345", "STATUS *2345" },
        { "call 996555123456 now", "call ********3456 now" },
        { "+996555123456", "+********3456" },
        /* groups joined by spaces, dashes, dots, brackets are one number */
        { "0555 123 456", "**** **3 456" },
        { "+996 (555) 12-34-56", "+*** (***) **-34-56" },
        { "12.03.2026", "**.**.2026" },
        /* short numbers stay: ages, counts, service codes, years */
        { "STOP 1234", "STOP 1234" },
        { "I am 25, 3 kids, 2026", "I am 25, 3 kids, 2026" },
        { "room 12 - 3", "room 12 - 3" },
        /* a separator that joins nothing stays outside the number */
        { "123456.", "**3456." },
        { "(12345) ", "(*2345) " },
        /* too many separators: two numbers, each too short to mask */
        { "1234   5678", "1234   5678" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(safe(cases[i].in, 512), cases[i].want);
    /* a cut inside a number never shows a digit the whole would hide */
    assert_string_equal(safe("996555123456", 6), "*****");
}

static void test_text_controls_escaped(void **state)
{
    (void)state;
    /* Cyrillic (Russian and Kyrgyz letters) stays readable */
    assert_string_equal(safe("Салам, өтүнүч ң", 512), "Салам, өтүнүч ң");
    assert_string_equal(safe("ok 👍", 512), "ok 👍");
    /* C0, DEL, and what would end the quotes or fake an escape */
    assert_string_equal(safe("a\nb\rc\td\x01\x1b[31m\x7f", 512),
                        "a\\nb\\rc\\td\\x01\\x1b[31m\\x7f");
    assert_string_equal(safe("say \"hi\" \\u202e", 512),
                        "say \\\"hi\\\" \\\\u202e");
    /* C1: U+0085 (NEL), U+009B (CSI) */
    assert_string_equal(safe("x\xc2\x85y\xc2\x9b", 512), "x\\u0085y\\u009b");
    /* bidi: RLO, PDF, LRI..PDI, LRM/RLM, ALM; line and paragraph separators */
    assert_string_equal(safe("\xe2\x80\xae" "abc" "\xe2\x80\xac", 512),
                        "\\u202eabc\\u202c");
    assert_string_equal(safe("\xe2\x81\xa6\xe2\x81\xa9\xe2\x80\x8e\xe2\x80\x8f"
                             "\xd8\x9c\xe2\x80\xa8\xe2\x80\xa9", 512),
                        "\\u2066\\u2069\\u200e\\u200f\\u061c\\u2028\\u2029");
    assert_string_equal(safe("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xad\xe2\x81\xa7"
                             "\xe2\x81\xa8", 512),
                        "\\u202a\\u202b\\u202d\\u2067\\u2068");
    /* not UTF-8: each byte as \xNN (a lone lead, an overlong, a cut tail) */
    assert_string_equal(safe("a\xff" "b\xc0\xaf" "c\xd0", 512),
                        "a\\xffb\\xc0\\xafc\\xd0");
    /* NULs inside */
    char out[32];
    assert_int_equal(log_text_safe("a\0b", 3, out, sizeof out), 6);
    assert_string_equal(out, "a\\x00b");
    /* whole pieces only: an escape or a letter that does not fit is left out */
    assert_string_equal(safe("ab\xe2\x80\xae", 8), "ab");
    assert_string_equal(safe("aСа", 4), "aС");
    assert_int_equal(log_text_safe("abc", 3, out, 0), 0);
    assert_int_equal(log_text_safe("", 0, out, 1), 0);
    assert_string_equal(out, "");
}

/* the bound the header promises: 4 * len + 1 is always enough */
static void test_text_worst_case_fits(void **state)
{
    (void)state;
    uint8_t in[64];
    char out[4 * sizeof in + 1];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(0x80 + i);          /* continuation bytes: \xNN each */
    assert_int_equal(log_text_safe(in, sizeof in, out, sizeof out), 4 * sizeof in);
}

/* ---- the file destination ------------------------------------------- */

static int setup_tmp(void **state)
{
    return tmpdb_setup_dir(state, sizeof(struct tmpdb), "kz_test_log", "kyzmatd.log");
}

static int teardown_tmp(void **state)
{
    struct tmpdb *t = *state;
    log_close();
    log_set_level(KLOG_INFO);
    char p[160];
    snprintf(p, sizeof p, "%s.1", t->path);
    unlink(p);
    return tmpdb_teardown(state);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    if (buf)
        fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (*s == '\n')
            n++;
    return n;
}

static void test_level_filtering(void **state)
{
    struct tmpdb *t = *state;
    char err[256];
    assert_int_equal(log_open(t->path, err, sizeof err), 0);

    log_set_level(KLOG_WARN);
    assert_true(log_enabled(KLOG_ERROR));
    assert_true(log_enabled(KLOG_WARN));
    assert_false(log_enabled(KLOG_INFO));
    log_msg(KLOG_ERROR, "a", "e1");
    log_msg(KLOG_WARN, "a", "w1");
    log_msg(KLOG_INFO, "a", "i1");
    log_msg(KLOG_DEBUG, "a", "d1");
    log_set_level(KLOG_DEBUG);
    log_msg(KLOG_DEBUG, NULL, "d2");
    log_set_level(KLOG_ERROR);
    log_msg(KLOG_WARN, NULL, "w2");

    char *s = slurp(t->path);
    assert_non_null(s);
    assert_int_equal(count_lines(s), 3);
    assert_non_null(strstr(s, " error [a] e1\n"));
    assert_non_null(strstr(s, " warn [a] w1\n"));
    assert_non_null(strstr(s, " debug d2\n"));
    assert_null(strstr(s, "i1"));
    assert_null(strstr(s, "d1"));
    assert_null(strstr(s, "w2"));
    /* every line starts with a UTC timestamp with milliseconds */
    assert_int_equal(s[4], '-');
    assert_int_equal(s[10], 'T');
    assert_int_equal(s[19], '.');
    assert_int_equal(s[23], 'Z');
    free(s);
}

static void esme_style(const char *f, ...) __attribute__((format(printf, 1, 2)));
static void esme_style(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    log_esme(NULL, KLOG_INFO, "megacom", f, ap);
    va_end(ap);
}

static void test_append_reopen_and_esme_adapter(void **state)
{
    struct tmpdb *t = *state;
    char err[256];
    FILE *f = fopen(t->path, "w");
    assert_non_null(f);
    fputs("old line\n", f);
    fclose(f);

    assert_int_equal(log_open(t->path, err, sizeof err), 0);
    esme_style("bound as %s", "transceiver");
    /* logrotate: move the file away, then SIGHUP -> log_reopen */
    char rotated[160];
    snprintf(rotated, sizeof rotated, "%s.1", t->path);
    assert_int_equal(rename(t->path, rotated), 0);
    log_msg(KLOG_INFO, NULL, "still to the moved file");
    assert_int_equal(log_reopen(err, sizeof err), 0);
    log_msg(KLOG_INFO, NULL, "to the new file");

    char *a = slurp(rotated), *b = slurp(t->path);
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_equal(a, "old line\n", 9);   /* appended, not truncated */
    assert_non_null(strstr(a, " info [megacom] bound as transceiver\n"));
    assert_non_null(strstr(a, "still to the moved file"));
    assert_null(strstr(a, " info to the new file"));
    assert_int_equal(count_lines(a), 3);
    assert_int_equal(count_lines(b), 1);
    assert_non_null(strstr(b, " info to the new file\n"));
    free(a);
    free(b);
}

static void test_open_failure_keeps_old_destination(void **state)
{
    struct tmpdb *t = *state;
    char err[256] = "";
    assert_int_equal(log_open(t->path, err, sizeof err), 0);
    assert_int_equal(log_open("/nonexistent-dir/x.log", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/x.log"));
    log_msg(KLOG_INFO, NULL, "after failure");
    char *s = slurp(t->path);
    assert_non_null(s);
    assert_non_null(strstr(s, "after failure"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_msisdn),
        cmocka_unit_test(test_mask_small_buffer_never_leaks_digits),
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_line_escapes_control_characters),
        cmocka_unit_test(test_line_cut_when_too_long),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_text_numbers_masked),
        cmocka_unit_test(test_text_controls_escaped),
        cmocka_unit_test(test_text_worst_case_fits),
        cmocka_unit_test_setup_teardown(test_level_filtering, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_append_reopen_and_esme_adapter,
                                        setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_open_failure_keeps_old_destination,
                                        setup_tmp, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
