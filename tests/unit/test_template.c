/*
 * tests/unit/test_template.c — agency SMS templates (gateway/template.h):
 * languages, the two kinds and their placeholders, the unknown-placeholder
 * check, and the renderer (status texts, booking texts, ordinary braces,
 * cutting at a character boundary, the malloc'd form of the exact size).
 * Pure; no fixture.
 *
 * May call: gateway/template.h, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/template.h"

static void test_langs_and_kinds(void **state)
{
    (void)state;
    assert_int_equal(template_lang_index("ky"), 0);
    assert_int_equal(template_lang_index("ru"), 1);
    assert_int_equal(template_lang_index("en"), 2);
    assert_int_equal(template_lang_index("de"), -1);
    assert_int_equal(template_lang_index("kyr"), -1);
    assert_int_equal(template_lang_index(NULL), -1);
    assert_string_equal(template_langs[1], "ru");
    assert_true(template_is_booking("booking.moved"));
    assert_true(template_is_booking("booking."));
    assert_false(template_is_booking("bookings"));
    assert_false(template_is_booking(NULL));
    assert_string_equal(template_placeholders("booking.moved")[0], "service");
    assert_string_equal(template_placeholders("ready")[0], "number");
    assert_string_equal(template_placeholders("*")[2], "note");
    assert_null(template_placeholders("*")[3]);
}

static void test_unknown(void **state)
{
    (void)state;
    size_t n = 0;
    assert_null(template_unknown("ready", "Арыз {number}: {status}. {note}", &n));
    /* ordinary braces and near-placeholders are text, not placeholders */
    assert_null(template_unknown("*", "{} { number } {{number}} a{b c} {", &n));
    const char *p = template_unknown("ready", "ok {numbr} {day}", &n);
    assert_non_null(p);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "numbr", 5);
    p = template_unknown("booking.moved", "{service} {number}", &n);
    assert_non_null(p);
    assert_memory_equal(p, "number", n);
    assert_null(template_unknown("booking.x", "{place} {date} {ticket}", &n));
    /* a name over TEMPLATE_PLACEHOLDER_MAX is no placeholder at all */
    char big[64] = "{";
    memset(big + 1, 'a', TEMPLATE_PLACEHOLDER_MAX + 1);
    strcat(big, "}");
    assert_null(template_unknown("ready", big, &n));
    big[TEMPLATE_PLACEHOLDER_MAX + 1] = '}';
    big[TEMPLATE_PLACEHOLDER_MAX + 2] = '\0';
    assert_non_null(template_unknown("ready", big, &n));
    assert_int_equal(n, TEMPLATE_PLACEHOLDER_MAX);
}

/* template_next walks exactly the {name}s the renderer fills, in order. */
static void test_next(void **state)
{
    (void)state;
    const char *t = "{} {a} { b } {{c}} x{d e} {f.g-1}} {";
    const char *want[] = { "a", "c", "f.g-1" };
    size_t n = 0, i = 0;
    for (const char *p = t; (p = template_next(p, &n)) != NULL; p += n, i++) {
        assert_true(i < 3);
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(p, want[i], n);
    }
    assert_int_equal(i, 3);
    assert_null(template_next("no placeholder {", &n));
    assert_null(template_next("", &n));
}

static void test_render_status(void **state)
{
    (void)state;
    char *r = template_render_status("Арыз {number}: {status} {note}{x}", "A-1",
                                     "ready", NULL);
    assert_string_equal(r, "Арыз A-1: ready {x}");
    free(r);
    r = template_render_status("{{number}} {number {note}", "N", NULL, "n{number}");
    assert_string_equal(r, "{N} {number n{number}");   /* values not re-read */
    free(r);
    r = template_render_status("", "N", "s", "n");
    assert_string_equal(r, "");
    free(r);
}

static void test_render_bounded(void **state)
{
    (void)state;
    const struct template_var v[] = {
        { "day", "Пн 01.12" }, { "time", "09:30" }, { "ticket", NULL },
    };
    char out[64];
    size_t n = template_render("{day}, {time} №{ticket} {office}", v, 3, out,
                               sizeof out);
    assert_string_equal(out, "Пн 01.12, 09:30 № {office}");
    assert_int_equal(n, strlen(out));
    /* no vars: everything kept */
    template_render("{day}", NULL, 0, out, sizeof out);
    assert_string_equal(out, "{day}");
    /* "Пн" is 4 bytes: 3 bytes of room keep "П" only, and nothing after
     * the cut is written (not even text that would still fit) */
    n = template_render("{day}, x", v, 3, out, 4);
    assert_string_equal(out, "П");
    assert_int_equal(n, 2);
    n = template_render("ab{time}", v, 3, out, 5);
    assert_string_equal(out, "ab09");
    assert_int_equal(n, 4);
    assert_int_equal(template_render("x", v, 3, out, 0), 0);
    /* the malloc'd form is exactly as long as the text */
    char *d = template_render_dup("{day} {time}", v, 3);
    assert_string_equal(d, "Пн 01.12 09:30");
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_langs_and_kinds),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_render_status),
        cmocka_unit_test(test_render_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
