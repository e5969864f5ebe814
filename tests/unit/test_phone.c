/*
 * tests/unit/test_phone.c — the canonical phone number (gateway/phone.h):
 * the accepted forms, the refused ones, idempotence and the output
 * capacity.  Pure; no fixture.
 *
 * May call: gateway/phone.h, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/phone.h"
#include "gateway/store.h"

static void test_phone(void **state)
{
    (void)state;
    char o[STORE_MSISDN_MAX];
    static const struct { const char *in, *out; } good[] = {
        { "+996555123456", "996555123456" },
        { "996555123456", "996555123456" },
        { "0555123456", "996555123456" },   /* the national form */
        { "+4915112345678", "4915112345678" },
        { "12345678", "12345678" },         /* the shortest accepted */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(phone_canon(good[i].in, o, sizeof o), 0);
        assert_string_equal(o, good[i].out);
    }
    const char *bad[] = { "", "+", "1234567", "1234567890123456", "99655512345",
                          "9965551234567", "+0555123456", "0123", "555 123456",
                          "++996555123456", "abc", "05551234567" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(phone_canon(bad[i], o, sizeof o), -1);
        assert_string_equal(o, "");
    }
    assert_int_equal(phone_canon(NULL, o, sizeof o), -1);
    assert_string_equal(o, "");
}

static void test_phone_idempotent_and_capacity(void **state)
{
    (void)state;
    const char *good[] = { "+996555123456", "0700000001", "123456789012345",
                           "+4915112345678" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char once[PHONE_CANON_MAX], twice[PHONE_CANON_MAX];
        assert_int_equal(phone_canon(good[i], once, sizeof once), 0);
        assert_int_equal(phone_canon(once, twice, sizeof twice), 0);
        assert_string_equal(once, twice);
    }
    /* exactly enough room, and one byte short */
    char o[13];
    assert_int_equal(phone_canon("0555123456", o, 13), 0);
    assert_string_equal(o, "996555123456");
    assert_int_equal(phone_canon("0555123456", o, 12), -1);
    assert_string_equal(o, "");
    assert_int_equal(phone_canon("+996555123456", o, 12), -1);
    assert_string_equal(o, "");
    assert_int_equal(phone_canon("996555123456", NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_phone_idempotent_and_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
