/*
 * tests/unit/test_log.c — gateway/log: number masking, the line format,
 * level filtering, the file destination and reopen after a rotation.
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
        cmocka_unit_test_setup_teardown(test_level_filtering, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_append_reopen_and_esme_adapter,
                                        setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_open_failure_keeps_old_destination,
                                        setup_tmp, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
