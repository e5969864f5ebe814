/*
 * tests/unit/test_publish.c — issue 10 publish: the line diff between two
 * menu sets (gateway/mdiff: a changed line with its context, an added and
 * a removed file, equal sets, hunks far apart, a last line without a
 * newline, the output bound) and the maker-checker rules
 * (gateway/console_publish: who publishes live, who makes a pending
 * version, who may approve it).
 * May call: gateway/mdiff, gateway/console_publish, gateway/console_core,
 * jansson, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/console_core.h"
#include "gateway/console_publish.h"
#include "gateway/mdiff.h"

static struct mdiff_file F(const char *name, const char *text)
{
    return (struct mdiff_file){ name, text, strlen(text) };
}

static char *diff1(const char *a, const char *b, size_t max)
{
    struct mdiff_file fa = F("m.yaml", a), fb = F("m.yaml", b);
    char *out = NULL;
    assert_int_equal(mdiff_sets(&fa, 1, &fb, 1, max, &out), 0);
    assert_non_null(out);
    return out;
}

static void test_diff_changed_line(void **state)
{
    (void)state;
    char *d = diff1("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\n", 0);
    assert_string_equal(d, "--- a/m.yaml\n+++ b/m.yaml\n"
                           "@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n");
    free(d);
    d = diff1("x\n", "x\n", 0);
    assert_string_equal(d, "");
    free(d);
    /* insert at the top, delete at the end */
    d = diff1("a\nb\n", "new\na\n", 0);
    assert_string_equal(d, "--- a/m.yaml\n+++ b/m.yaml\n"
                           "@@ -1,2 +1,2 @@\n+new\n a\n-b\n");
    free(d);
}

static void test_diff_files_added_removed(void **state)
{
    (void)state;
    struct mdiff_file a[] = { F("10-main.yaml", "k: 1\n"), F("20-old.yaml", "o\n") };
    struct mdiff_file b[] = { F("05-new.yaml", "n\nm\n"), F("10-main.yaml", "k: 1\n") };
    char *out = NULL;
    assert_int_equal(mdiff_sets(a, 2, b, 2, 0, &out), 0);
    assert_string_equal(out, "--- /dev/null\n+++ b/05-new.yaml\n@@ -0,0 +1,2 @@\n+n\n+m\n"
                             "--- a/20-old.yaml\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-o\n");
    free(out);
    /* from nothing (the first publish) */
    assert_int_equal(mdiff_sets(NULL, 0, a, 1, 0, &out), 0);
    assert_string_equal(out, "--- /dev/null\n+++ b/10-main.yaml\n@@ -0,0 +1,1 @@\n+k: 1\n");
    free(out);
}

static void test_diff_hunks_and_newline(void **state)
{
    (void)state;
    /* two changes 10 lines apart: two hunks */
    char a[256] = "", b[256] = "";
    for (int i = 1; i <= 20; i++) {
        char l[16];
        snprintf(l, sizeof l, "%d\n", i);
        strcat(a, l);
        strcat(b, i == 2 ? "two\n" : i == 15 ? "fifteen\n" : l);
    }
    char *d = diff1(a, b, 0);
    assert_string_equal(d, "--- a/m.yaml\n+++ b/m.yaml\n"
                           "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"
                           "@@ -12,7 +12,7 @@\n 12\n 13\n 14\n-15\n+fifteen\n 16\n 17\n 18\n");
    free(d);
    d = diff1("a\nb", "a\nb\n", 0);
    assert_string_equal(d, "--- a/m.yaml\n+++ b/m.yaml\n@@ -1,2 +1,2 @@\n a\n-b\n"
                           "\\ No newline at end of file\n+b\n");
    free(d);
}

static void test_diff_bounded(void **state)
{
    (void)state;
    char big[4096] = "";
    for (int i = 0; i < 300; i++)
        strcat(big, "line\n");
    char *d = diff1("", big, 200);
    assert_true(strlen(d) <= 200 + strlen("... diff truncated\n"));
    size_t n = strlen(d);
    assert_true(n > 20);
    assert_string_equal(d + n - strlen("... diff truncated\n"), "... diff truncated\n");
    free(d);
}

static void test_maker_checker(void **state)
{
    (void)state;
    /* off: publishers and admins publish live, editors and viewers not */
    assert_int_equal(publish_mode(CONSOLE_VIEWER, false), PUBLISH_FORBIDDEN);
    assert_int_equal(publish_mode(CONSOLE_EDITOR, false), PUBLISH_FORBIDDEN);
    assert_int_equal(publish_mode(CONSOLE_PUBLISHER, false), PUBLISH_LIVE);
    assert_int_equal(publish_mode(CONSOLE_ADMIN, false), PUBLISH_LIVE);
    /* on: every publish waits for a second pair of eyes */
    assert_int_equal(publish_mode(CONSOLE_VIEWER, true), PUBLISH_FORBIDDEN);
    assert_int_equal(publish_mode(CONSOLE_EDITOR, true), PUBLISH_PENDING);
    assert_int_equal(publish_mode(CONSOLE_PUBLISHER, true), PUBLISH_PENDING);
    /* the checker: a publisher who is not the author */
    assert_int_equal(publish_may_decide(CONSOLE_PUBLISHER, "pat", "ed"), 0);
    assert_int_equal(publish_may_decide(CONSOLE_ADMIN, "root", "ed"), 0);
    assert_int_equal(publish_may_decide(CONSOLE_PUBLISHER, "pat", "pat"), 403);
    assert_int_equal(publish_may_decide(CONSOLE_EDITOR, "ed2", "ed"), 403);
    assert_int_equal(publish_may_decide(CONSOLE_VIEWER, "v", "ed"), 403);
}

static void test_files_view(void **state)
{
    (void)state;
    json_t *files = json_pack("{s:s, s:i, s:s}", "a.yaml", "x: 1\n", "bad", 3,
                              "b.yaml", "");
    struct mdiff_file v[4];
    size_t n = publish_files_view(files, v, 4);
    assert_int_equal(n, 2);
    assert_int_equal(publish_files_view(files, v, 1), 1);
    json_decref(files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_changed_line),
        cmocka_unit_test(test_diff_files_added_removed),
        cmocka_unit_test(test_diff_hunks_and_newline),
        cmocka_unit_test(test_diff_bounded),
        cmocka_unit_test(test_maker_checker),
        cmocka_unit_test(test_files_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
