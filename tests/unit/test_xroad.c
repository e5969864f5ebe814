/*
 * tests/unit/test_xroad.c — base/xroad: X-Road identifiers, the service
 * path with its percent-encoding, the rendered menu call, the X-Road-Id
 * UUID and the header lines (issue 13 xroad).
 *
 * Boundary values on purpose: 4 and 5 parts and one more or less, empty
 * parts at each end, a 255-byte part and a 256-byte one, control bytes,
 * invalid UTF-8, buffers one byte too small.
 * Owns: nothing.  May call: base/xroad.h, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/xroad.h"

static int parse(const char *s, size_t want, struct xroad_id *id, size_t *at, char *err)
{
    return xroad_id_parse(s, strlen(s), want, id, at, err, 120);
}

static void test_id_parse(void **state)
{
    (void)state;
    struct xroad_id id;
    size_t at = 99;
    char err[120];
    assert_int_equal(parse("KG/GOV/70000003/kyzmat", 4, &id, &at, err), 0);
    assert_int_equal(id.n, 4);
    assert_int_equal(id.len[2], 8);
    assert_memory_equal(id.part[3], "kyzmat", 6);
    assert_int_equal(parse("KG/GOV/70000001/tax-sub/getStatus", 5, &id, &at, err), 0);
    assert_int_equal(id.n, 5);
    assert_memory_equal(id.part[4], "getStatus", 9);
    /* too few, too many */
    assert_int_equal(parse("KG/GOV/70000003", 4, &id, &at, err), -1);
    assert_string_equal(err, "an identifier has too few parts");
    assert_int_equal(at, 15);
    assert_int_equal(parse("KG/GOV/70000001/tax-sub/getStatus/v1", 5, &id, &at, err), -1);
    assert_string_equal(err, "an identifier has too many parts");
    assert_int_equal(at, 34);
    assert_int_equal(parse("KG/GOV/70000003/kyzmat/", 4, &id, &at, err), -1);
    assert_string_equal(err, "an identifier has too many parts");
    /* empty parts: first, middle, last, whole */
    assert_int_equal(parse("/GOV/70000003/kyzmat", 4, &id, &at, err), -1);
    assert_string_equal(err, "an identifier part is empty");
    assert_int_equal(at, 0);
    assert_int_equal(parse("KG//70000003/kyzmat", 4, &id, &at, err), -1);
    assert_int_equal(at, 3);
    assert_int_equal(parse("KG/GOV/70000003/", 4, &id, &at, err), -1);
    assert_string_equal(err, "an identifier part is empty");
    assert_int_equal(parse("", 4, &id, &at, err), -1);
    /* control bytes and bad UTF-8, with the offset of the fault */
    assert_int_equal(parse("KG/GO\tV/1/s", 4, &id, &at, err), -1);
    assert_string_equal(err, "an identifier part holds a control character");
    assert_int_equal(at, 5);
    assert_int_equal(parse("KG/GOV/1/s\x7f", 4, &id, &at, err), -1);
    assert_int_equal(parse("KG/GOV/1/\xc3(", 4, &id, &at, err), -1);
    assert_string_equal(err, "an identifier part is not valid UTF-8");
    assert_int_equal(at, 9);
    /* UTF-8 and punctuation are fine: they are encoded on the wire */
    assert_int_equal(parse("KG/GOV/1/Салык %", 4, &id, &at, err), 0);
    /* 255 bytes per part, not 256 */
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big, "KG/GOV/1/", 9);
    big[9 + 255] = '\0';
    assert_int_equal(parse(big, 4, &id, &at, err), 0);
    big[9 + 255] = 'a';
    big[9 + 256] = '\0';
    assert_int_equal(parse(big, 4, &id, &at, err), -1);
    assert_string_equal(err, "an identifier part is longer than 255 bytes");
    /* no output is touched on failure; NULL arguments */
    assert_int_equal(xroad_id_parse(NULL, 0, 4, &id, NULL, NULL, 0), -1);
    assert_int_equal(xroad_id_parse("a/b", 3, 0, &id, NULL, NULL, 0), -1);
    assert_int_equal(xroad_id_parse("a/b/c/d/e/f", 11, 6, &id, NULL, NULL, 0), -1);
}

static void test_id_encode(void **state)
{
    (void)state;
    struct xroad_id id;
    char out[256];
    const char *svc = "KG/GOV/70000001/tax sub/BAR%SERVICE~ok";
    assert_int_equal(xroad_id_parse(svc, strlen(svc), 5, &id, NULL, NULL, 0), 0);
    const char *want = "/r1/KG/GOV/70000001/tax%20sub/BAR%25SERVICE~ok";
    assert_int_equal(xroad_id_encode(&id, true, out, sizeof out), (long)strlen(want));
    assert_string_equal(out, want);
    assert_int_equal(xroad_id_encode(&id, false, out, sizeof out), (long)strlen(want) - 4);
    assert_string_equal(out, want + 4);
    /* UTF-8 is encoded byte by byte, upper-case hex */
    const char *cy = "KG/GOV/1/Ы";
    assert_int_equal(xroad_id_parse(cy, strlen(cy), 4, &id, NULL, NULL, 0), 0);
    assert_int_equal(xroad_id_encode(&id, false, out, sizeof out), 15);
    assert_string_equal(out, "KG/GOV/1/%D0%AB");
    /* exactly fits; one byte short */
    assert_int_equal(xroad_id_encode(&id, false, out, 16), 15);
    assert_int_equal(xroad_id_encode(&id, false, out, 15), -1);
    assert_string_equal(out, "");
    assert_int_equal(xroad_id_encode(&id, true, out, 4), -1);
    assert_int_equal(xroad_id_encode(&id, true, out, 0), -1);
}

static int split(const char *s, struct xroad_call *c, char *issue, char *err)
{
    return xroad_call_split(s, strlen(s), c, issue, XROAD_ISSUE_MAX + 1, err, 120);
}

static void test_call_split(void **state)
{
    (void)state;
    struct xroad_call c;
    char issue[XROAD_ISSUE_MAX + 1], err[120];
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/get/status/12?x=1#A%2D1%20x%zz%4",
                           &c, issue, err), 0);
    assert_int_equal(c.path_len, strlen("/r1/KG/GOV/1/sub/get/status/12?x=1"));
    assert_memory_equal(c.path, "/r1/KG/GOV/1/sub/get/status/12?x=1", c.path_len);
    assert_int_equal(c.service_len, strlen("/r1/KG/GOV/1/sub/get"));
    assert_string_equal(issue, "A-1 x%zz%4");
    assert_int_equal(c.issue_len, strlen(issue));
    /* no path, no issue; an empty issue; a query straight after the service */
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/get", &c, issue, err), 0);
    assert_int_equal(c.path_len, c.service_len);
    assert_int_equal(c.issue_len, 0);
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/get#", &c, issue, err), 0);
    assert_string_equal(issue, "");
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/get?q=1", &c, issue, err), 0);
    assert_int_equal(c.service_len, strlen("/r1/KG/GOV/1/sub/get"));
    /* four parts; an empty part; a query inside the service */
    assert_int_equal(split("xroad:/r1/KG/GOV/1/get", &c, issue, err), -1);
    assert_string_equal(err, "an X-Road service needs five non-empty parts");
    assert_int_equal(split("xroad:/r1/KG//1/sub/get", &c, issue, err), -1);
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/", &c, issue, err), -1);
    assert_int_equal(split("xroad:/r1/KG/GOV?/1/sub/get", &c, issue, err), -1);
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub#/get", &c, issue, err), -1);
    /* not a call */
    assert_int_equal(split("https://x/r1/KG/GOV/1/sub/get", &c, issue, err), -1);
    assert_string_equal(err, "an X-Road call starts with xroad:/r1/");
    assert_int_equal(split("xroad:/r2/KG/GOV/1/sub/get", &c, issue, err), -1);
    assert_int_equal(split("xroad:", &c, issue, err), -1);
    /* the path: no space, control byte or non-ASCII */
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/get/a b", &c, issue, err), -1);
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/get/\r", &c, issue, err), -1);
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/get/\xd0\xab", &c, issue, err), -1);
    /* the issue: a decoded CR/LF (header injection) or a raw one is refused */
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/get#a%0D%0AX-Evil:1", &c, issue, err), -1);
    assert_string_equal(issue, "");
    assert_int_equal(split("xroad:/r1/KG/GOV/1/sub/get#a\nb", &c, issue, err), -1);
    /* 255 bytes of issue, not 256; and the caller's smaller buffer */
    char s[400];
    int k = snprintf(s, sizeof s, "xroad:/r1/KG/GOV/1/sub/get#");
    memset(s + k, 'i', 255);
    s[k + 255] = '\0';
    assert_int_equal(split(s, &c, issue, err), 0);
    assert_int_equal(c.issue_len, 255);
    s[k + 255] = 'i';
    s[k + 256] = '\0';
    assert_int_equal(split(s, &c, issue, err), -1);
    char small[4];
    assert_int_equal(xroad_call_split("xroad:/r1/a/b/c/d/e#abc", 23, &c, small, 4, NULL, 0), 0);
    assert_int_equal(xroad_call_split("xroad:/r1/a/b/c/d/e#abcd", 24, &c, small, 4, NULL, 0), -1);
    assert_int_equal(xroad_call_split(NULL, 0, &c, small, 4, NULL, 0), -1);
}

static void test_uuid(void **state)
{
    (void)state;
    char u[XROAD_UUID_LEN + 1];
    uint8_t z[16] = { 0 }, f[16];
    memset(f, 0xff, sizeof f);
    xroad_uuid_format(z, u);
    assert_string_equal(u, "00000000-0000-4000-8000-000000000000");
    xroad_uuid_format(f, u);
    assert_string_equal(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    const uint8_t b[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
    xroad_uuid_format(b, u);
    assert_string_equal(u, "12345678-9abc-4ef0-8123-456789abcdef");
    assert_int_equal(strlen(u), XROAD_UUID_LEN);
}

static void test_headers(void **state)
{
    (void)state;
    struct xroad_headers h;
    const char *id = "12345678-9abc-4ef0-8123-456789abcdef";
    assert_int_equal(xroad_headers_build(&h, "KG/GOV/70000003/kyzmat", id, "", NULL), 0);
    assert_int_equal(h.n, 2);
    assert_string_equal(h.line[0], "X-Road-Client: KG/GOV/70000003/kyzmat");
    assert_string_equal(h.line[1], "X-Road-Id: 12345678-9abc-4ef0-8123-456789abcdef");
    assert_int_equal(xroad_headers_build(&h, "KG/GOV/70000003/kyzmat", id, "KG1234",
                                         "Арыз №7"), 0);
    assert_int_equal(h.n, 4);
    assert_string_equal(h.line[2], "X-Road-UserId: KG1234");
    assert_string_equal(h.line[3], "X-Road-Issue: Арыз №7");
    /* injection and bounds */
    assert_int_equal(xroad_headers_build(&h, "KG/GOV/1/k", id, NULL, "a\r\nX: y"), -1);
    assert_int_equal(h.n, 0);
    assert_int_equal(xroad_headers_build(&h, "KG/GOV/1/k\n", id, NULL, NULL), -1);
    assert_int_equal(xroad_headers_build(&h, "", id, NULL, NULL), -1);
    assert_int_equal(xroad_headers_build(&h, "KG/GOV/1/k", NULL, NULL, NULL), -1);
    char longv[300];
    memset(longv, 'x', sizeof longv);
    longv[255] = '\0';
    assert_true(xroad_header_value_ok(longv));
    assert_int_equal(xroad_headers_build(&h, "KG/GOV/1/k", id, longv, longv), 0);
    longv[255] = 'x';
    longv[256] = '\0';
    assert_false(xroad_header_value_ok(longv));
    assert_false(xroad_header_value_ok("a\tb"));
    assert_false(xroad_header_value_ok(NULL));
}

/* issue 13: an agency's callback_url through X-Road, made into the form
 * fetch sends to the security server (and back through the splitter). */
static void test_callback_url(void **state)
{
    (void)state;
    char out[256], err[160];
    long n = xroad_callback_url("xroad:KG/GOV/70000001/tax sub/smsStatus/cb?v=1",
                                "msg_7_delivered", out, sizeof out, err, sizeof err);
    assert_true(n > 0);
    assert_string_equal(out, "xroad:/r1/KG/GOV/70000001/tax%20sub/smsStatus/cb?v=1"
                             "#msg_7_delivered");
    struct xroad_call c;
    char issue[64];
    assert_int_equal(xroad_call_split(out, strlen(out), &c, issue, sizeof issue,
                                      err, sizeof err), 0);
    assert_string_equal(issue, "msg_7_delivered");
    assert_true(xroad_callback_url("xroad:KG/GOV/1/sub/svc", NULL, out, sizeof out,
                                   err, sizeof err) > 0);
    assert_string_equal(out, "xroad:/r1/KG/GOV/1/sub/svc");
    static const char *const bad[] = {
        "xroad:KG/GOV/1/sub",               /* four parts: a client, not a service */
        "xroad:KG//1/sub/svc",              /* an empty part */
        "xroad:/r1/KG/GOV/1/sub/svc",       /* the internal form */
        "xroad:KG/GOV/1/sub/svc/a b",       /* a space in the path */
        "xroad:KG/GOV/1/sub/svc#x",         /* a fragment */
        "https://example.org/cb",           /* not X-Road */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(xroad_callback_url(bad[i], NULL, out, sizeof out, err,
                                            sizeof err), -1);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(xroad_callback_url("xroad:KG/GOV/1/sub/svc", "a b", out, sizeof out,
                                        err, sizeof err), -1);
    assert_int_equal(xroad_callback_url("xroad:KG/GOV/1/sub/svc", NULL, out, 20,
                                        err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_parse),
        cmocka_unit_test(test_id_encode),
        cmocka_unit_test(test_call_split),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_callback_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
