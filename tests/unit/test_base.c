/*
 * tests/unit/test_base.c — the floor (base/): UTF-8, the GSM 03.38 table,
 * SHA-256 and HMAC-SHA256, base64, the clocks, the callback address rules
 * (netaddr) and the metrics registry, tested on their own, below every
 * user of them.  The metrics text is also checked by Debian's promtool
 * (package prometheus; scripts/setup.sh --test installs it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "base/base64.h"
#include "base/clock.h"
#include "base/gsm0338.h"
#include "base/metrics.h"
#include "base/netaddr.h"
#include "base/sha256.h"
#include "base/utf8.h"

#define U8(s) ((const uint8_t *)(s))

static void test_utf8_round_trip_every_length(void **state)
{
    (void)state;
    const uint32_t cps[] = { 0x24, 0x7F, 0x80, 0x4E9, 0x7FF, 0x800, 0x20AC, 0xFFFD,
                             0xFFFF, 0x10000, 0x1F600, 0x10FFFF };
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        uint8_t buf[4];
        size_t pos = 0;
        assert_int_equal(kz_utf8_put(cps[i], buf, sizeof buf, &pos), 0);
        assert_int_equal(pos, kz_utf8_len(cps[i]));
        uint32_t back = 0;
        assert_int_equal(kz_utf8_next(buf, pos, &back), pos);
        assert_int_equal(back, cps[i]);
    }
}

static void test_utf8_rejects_what_rfc3629_forbids(void **state)
{
    (void)state;
    static const struct { const char *s; size_t len; size_t off; } bad[] = {
        { "\xC0\xAF", 2, 0 },          /* overlong '/' */
        { "\xE0\x80\xAF", 3, 0 },      /* overlong, 3 bytes */
        { "\xED\xA0\x80", 3, 0 },      /* encoded surrogate */
        { "\xF4\x90\x80\x80", 4, 0 },  /* above U+10FFFF */
        { "ab\x80", 3, 2 },            /* stray continuation */
        { "\xD0", 1, 0 },              /* truncated */
        { "ok\xF5\x80\x80\x80", 6, 2 },/* F5 lead */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t off = 99;
        uint32_t cp = 7;
        assert_false(kz_utf8_valid(U8(bad[i].s), bad[i].len, &off));
        assert_int_equal(off, bad[i].off);
        assert_int_equal(kz_utf8_next(U8(bad[i].s) + off, bad[i].len - off, &cp), 0);
        assert_int_equal(cp, 7); /* untouched */
        assert_int_equal(kz_utf8_next_lossy(U8(bad[i].s) + off, bad[i].len - off, &cp), 1);
        assert_int_equal(cp, KZ_UCS_REPLACEMENT);
    }
    size_t chars = 0;
    assert_true(kz_utf8_count(U8("Арыз №1"), strlen("Арыз №1"), &chars, NULL));
    assert_int_equal(chars, 7);
    assert_int_equal(kz_utf8_next(U8(""), 0, &(uint32_t){ 0 }), 0);
}

static void test_utf8_put_never_writes_past_cap(void **state)
{
    (void)state;
    uint8_t buf[3] = { 0xAA, 0xAA, 0xAA };
    size_t pos = 1;
    assert_int_equal(kz_utf8_put(0x20AC, buf, sizeof buf, &pos), -1); /* needs 3, has 2 */
    assert_int_equal(pos, 1);
    assert_int_equal(buf[1], 0xAA);
    assert_int_equal(kz_utf8_put(0x0416, buf, sizeof buf, &pos), 0); /* Ж, 2 bytes */
    assert_int_equal(pos, 3);
}

static void test_utf8_prefix_cuts_between_characters(void **state)
{
    (void)state;
    const char *s = "Өтүнмө";  /* 6 characters, 12 bytes */
    assert_int_equal(kz_utf8_prefix(U8(s), strlen(s), 0), 0);
    assert_int_equal(kz_utf8_prefix(U8(s), strlen(s), 2), 4);
    assert_int_equal(kz_utf8_prefix(U8(s), strlen(s), 6), 12);
    assert_int_equal(kz_utf8_prefix(U8(s), strlen(s), 60), 12);
    assert_int_equal(kz_utf8_prefix(U8("a\xFF" "b"), 3, 2), 2); /* a bad byte is one */
}

static void test_utf8_clip_backs_off_to_a_character_start(void **state)
{
    (void)state;
    const char *s = "aЖб€";   /* 1 + 2 + 2 + 3 bytes */
    size_t len = strlen(s);
    static const struct { size_t max, want; } cut[] = {
        { 0, 0 }, { 1, 1 }, { 2, 1 }, { 3, 3 }, { 4, 3 }, { 5, 5 },
        { 6, 5 }, { 7, 5 }, { 8, 8 }, { 9, 8 }, { 100, 8 },
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++)
        assert_int_equal(kz_utf8_clip(U8(s), len, cut[i].max), cut[i].want);
    /* 'b' and the stray continuation bytes after it are cut as one
     * (broken) character */
    assert_int_equal(kz_utf8_clip(U8("ab\x80\x80\x80" "c"), 6, 4), 1);
}

static void test_utf8_text_fault_finds_bad_bytes_and_nul(void **state)
{
    (void)state;
    static const struct { const char *s; size_t len, fault; } t[] = {
        { "", 0, 0 },
        { "Арыз №1", 12, 12 },          /* text: no fault */
        { "ab\0c", 4, 2 },               /* a NUL */
        { "a\xC0\xAF", 3, 1 },           /* an overlong */
        { "a\0\xFF", 3, 1 },             /* the earlier of the two */
        { "a\xFF\0", 3, 1 },
        { "\xD0", 1, 0 },                /* truncated */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_int_equal(kz_utf8_text_fault(U8(t[i].s), t[i].len), t[i].fault);
}

static void test_utf8_line_col_counts_characters(void **state)
{
    (void)state;
    const char *s = "ab\nЖЖx\n\nq";
    static const struct { size_t off; int line, col; } at[] = {
        { 0, 1, 1 }, { 2, 1, 3 }, { 3, 2, 1 }, { 5, 2, 2 }, { 7, 2, 3 },
        { 8, 2, 4 }, { 9, 3, 1 }, { 10, 4, 1 }, { 11, 4, 2 },
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        int line = 0, col = 0;
        kz_utf8_line_col(U8(s), at[i].off, &line, &col);
        assert_int_equal(line, at[i].line);
        assert_int_equal(col, at[i].col);
    }
    int line = 0, col = 0;
    kz_utf8_line_col(U8("\xFF\xFEz"), 2, &line, &col);   /* bad bytes: one each */
    assert_int_equal(line, 1);
    assert_int_equal(col, 3);
}

/* Every septet of both tables reads back through the reverse lookup. */
static void test_gsm_tables_agree_both_ways(void **state)
{
    (void)state;
    for (unsigned s = 0; s < 0x80; s++) {
        if (s == KZ_GSM_ESC)
            continue;
        uint8_t out[2];
        uint32_t cp = kz_gsm_to_ucs((uint8_t)s);
        assert_int_equal(kz_gsm_from_ucs(cp, out), 1);
        assert_int_equal(out[0], s);
        assert_int_equal(kz_gsm_septets(cp), 1);
    }
    unsigned ext = 0;
    for (unsigned c = 0; c < 0x80; c++) {
        uint32_t cp = kz_gsm_ext_to_ucs((uint8_t)c);
        if (cp == 0)
            continue;
        ext++;
        uint8_t out[2];
        assert_int_equal(kz_gsm_from_ucs(cp, out), 2);
        assert_int_equal(out[0], KZ_GSM_ESC);
        assert_int_equal(out[1], c);
        assert_int_equal(kz_gsm_septets(cp), 2);
    }
    assert_int_equal(ext, 10);
    /* Cyrillic, the backtick and controls are not GSM */
    assert_int_equal(kz_gsm_septets(0x0416), 0);
    assert_int_equal(kz_gsm_septets('`'), 0);
    assert_int_equal(kz_gsm_septets(0x01), 0);
    assert_int_equal(kz_gsm_septets(0x20AC), 2);
}

static void hex(const uint8_t *h, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void test_sha256_fips_vectors(void **state)
{
    (void)state;
    uint8_t h[KZ_SHA256_LEN];
    char x[65];
    kz_sha256("abc", 3, h);
    hex(h, x);
    assert_string_equal(x, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    kz_sha256("", 0, h);
    hex(h, x);
    assert_string_equal(x, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: 2 blocks */
    kz_sha256(two, strlen(two), h);
    hex(h, x);
    assert_string_equal(x, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* SHA-256 in pieces of every size gives the one-call digest. */
static void test_sha256_in_pieces(void **state)
{
    (void)state;
    uint8_t data[300], want[KZ_SHA256_LEN], got[KZ_SHA256_LEN];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    kz_sha256(data, sizeof data, want);
    for (size_t step = 1; step <= 130; step++) {
        struct kz_sha256_ctx c;
        kz_sha256_init(&c);
        for (size_t i = 0; i < sizeof data; i += step)
            kz_sha256_update(&c, data + i, sizeof data - i < step ? sizeof data - i : step);
        kz_sha256_final(&c, got);
        assert_memory_equal(got, want, sizeof want);
    }
}

/* RFC 4231's HMAC-SHA256 test cases 1, 2, 3, 4, 6 and 7 (5 is truncated). */
static void test_hmac_sha256_rfc4231(void **state)
{
    (void)state;
    uint8_t k0b[20], kaa[131], dd[50], k4[25], cd[50];
    memset(k0b, 0x0b, sizeof k0b);
    memset(kaa, 0xaa, sizeof kaa);
    memset(dd, 0xdd, sizeof dd);
    memset(cd, 0xcd, sizeof cd);
    for (int i = 0; i < 25; i++)
        k4[i] = (uint8_t)(i + 1);
    static const char big[] = "This is a test using a larger than block-size key "
        "and a larger than block-size data. The key needs to be hashed before "
        "being used by the HMAC algorithm.";
    const struct {
        const void *key;
        size_t klen;
        const void *data;
        size_t len;
        const char *mac;
    } v[] = {
        { k0b, 20, "Hi There", 8,
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { "Jefe", 4, "what do ya want for nothing?", 28,
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { kaa, 20, dd, 50,
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
        { k4, 25, cd, 50,
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
        { kaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
        { kaa, 131, big, sizeof big - 1,
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t h[KZ_SHA256_LEN];
        char x[65];
        kz_hmac_sha256(v[i].key, v[i].klen, v[i].data, v[i].len, h);
        hex(h, x);
        assert_string_equal(x, v[i].mac);
        /* in two pieces: the same */
        struct kz_hmac_sha256 m;
        kz_hmac_sha256_init(&m, v[i].key, v[i].klen);
        kz_hmac_sha256_update(&m, v[i].data, v[i].len / 2);
        kz_hmac_sha256_update(&m, (const char *)v[i].data + v[i].len / 2,
                              v[i].len - v[i].len / 2);
        kz_hmac_sha256_final(&m, h);
        hex(h, x);
        assert_string_equal(x, v[i].mac);
    }
}

/* RFC 4648 section 10's vectors, and a buffer one byte short. */
static void test_base64_rfc4648(void **state)
{
    (void)state;
    static const char *const v[][2] = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
    };
    char out[16];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i][0]);
        assert_int_equal(kz_base64_encode(v[i][0], n, out, sizeof out),
                         (int)strlen(v[i][1]));
        assert_string_equal(out, v[i][1]);
        assert_int_equal(KZ_BASE64_LEN(n), strlen(v[i][1]));
    }
    static const uint8_t bin[] = { 0xfb, 0xff, 0xbf };
    assert_int_equal(kz_base64_encode(bin, 3, out, sizeof out), 4);
    assert_string_equal(out, "+/+/");
    assert_int_equal(kz_base64_encode("foobar", 6, out, 8), -1);   /* 8 + NUL */
    assert_string_equal(out, "");
    assert_int_equal(kz_base64_encode("foobar", 6, out, 9), 8);
}

static void test_clocks_read_what_they_say(void **state)
{
    (void)state;
    int64_t wall = kz_wall_ms();
    assert_true(wall > INT64_C(1700000000000)); /* after 2023 */
    uint64_t a = kz_mono_ms(), b = kz_mono_ms();
    assert_true(b >= a);
}

/* ---- metrics ------------------------------------------------------------ */

static double forty_two(void *arg)
{
    return *(double *)arg;
}

/* A registry with one of everything, rendered exactly. */
static void test_metrics_render_exposition(void **state)
{
    (void)state;
    struct kz_metrics *m = kz_metrics_new();
    char err[160];
    struct kz_label a[] = { { "link", "mega" }, { "status", "ok" } };
    struct kz_label b[] = { { "link", "o!\"\\\nx" }, { "status", "throttled" } };
    struct kz_counter *ca = kz_metrics_counter(m, "kyzmat_submits_total",
                                               "Submits by outcome.\nSecond line \\ here",
                                               a, 2, err, sizeof err);
    struct kz_counter *cb = kz_metrics_counter(m, "kyzmat_submits_total",
                                               "Submits by outcome.\nSecond line \\ here",
                                               b, 2, err, sizeof err);
    assert_non_null(ca);
    assert_non_null(cb);
    kz_counter_add(ca, 3);
    kz_counter_add(cb, 1);
    struct kz_gauge *g = kz_metrics_gauge(m, "kyzmat_window", "Window in use.",
                                          NULL, 0, err, sizeof err);
    assert_non_null(g);
    kz_gauge_set(g, 0.1);
    double v = 42;
    assert_int_equal(kz_metrics_gauge_fn(m, "kyzmat_queue", "Queued.", NULL, 0,
                                         forty_two, &v, err, sizeof err), 0);
    const double le[] = { 0.005, 1, 120 };
    struct kz_label h1[] = { { "link", "mega" } };
    struct kz_hist *h = kz_metrics_histogram(m, "kyzmat_resp_seconds", "Latency.",
                                             h1, 1, le, 3, err, sizeof err);
    assert_non_null(h);
    kz_hist_observe(h, 0.001);
    kz_hist_observe(h, 0.005);     /* on the bound: counts in le="0.005" */
    kz_hist_observe(h, 7);
    kz_hist_observe(h, 1e9);
    kz_hist_observe(h, 0.0 / 0.0); /* NaN: not counted */
    size_t len = 0;
    char *t = kz_metrics_render(m, &len);
    assert_non_null(t);
    assert_int_equal(len, strlen(t));
    assert_string_equal(t,
        "# HELP kyzmat_submits_total Submits by outcome.\\nSecond line \\\\ here\n"
        "# TYPE kyzmat_submits_total counter\n"
        "kyzmat_submits_total{link=\"mega\",status=\"ok\"} 3\n"
        "kyzmat_submits_total{link=\"o!\\\"\\\\\\nx\",status=\"throttled\"} 1\n"
        "# HELP kyzmat_window Window in use.\n"
        "# TYPE kyzmat_window gauge\n"
        "kyzmat_window 0.1\n"
        "# HELP kyzmat_queue Queued.\n"
        "# TYPE kyzmat_queue gauge\n"
        "kyzmat_queue 42\n"
        "# HELP kyzmat_resp_seconds Latency.\n"
        "# TYPE kyzmat_resp_seconds histogram\n"
        "kyzmat_resp_seconds_bucket{link=\"mega\",le=\"0.005\"} 2\n"
        "kyzmat_resp_seconds_bucket{link=\"mega\",le=\"1\"} 2\n"
        "kyzmat_resp_seconds_bucket{link=\"mega\",le=\"120\"} 3\n"
        "kyzmat_resp_seconds_bucket{link=\"mega\",le=\"+Inf\"} 4\n"
        "kyzmat_resp_seconds_sum{link=\"mega\"} 1000000007.006\n"
        "kyzmat_resp_seconds_count{link=\"mega\"} 4\n");
    free(t);
    kz_metrics_free(m);
}

/* Bad names, clashing families, duplicate series, non-UTF-8 values. */
static void test_metrics_refusals(void **state)
{
    (void)state;
    struct kz_metrics *m = kz_metrics_new();
    char err[160];
    struct kz_label ok[] = { { "link", "a" } };
    struct kz_label bad_name[] = { { "__x", "a" } };
    struct kz_label le[] = { { "le", "a" } };
    struct kz_label bad_value[] = { { "link", "\xff" } };
    struct kz_label twice[] = { { "link", "a" }, { "link", "b" } };
    assert_null(kz_metrics_counter(m, "9lives", "", NULL, 0, err, sizeof err));
    assert_string_equal(err, "bad metric name \"9lives\"");
    assert_null(kz_metrics_counter(m, "a-b", "", NULL, 0, err, sizeof err));
    assert_null(kz_metrics_counter(m, "x", "", bad_name, 1, err, sizeof err));
    assert_string_equal(err, "bad label name \"__x\"");
    assert_null(kz_metrics_counter(m, "x", "", bad_value, 1, err, sizeof err));
    assert_string_equal(err, "label link: the value is not UTF-8");
    assert_null(kz_metrics_counter(m, "x", "", twice, 2, err, sizeof err));
    assert_string_equal(err, "label link given twice");
    const double b[] = { 1, 2 }, unsorted[] = { 2, 1 };
    assert_null(kz_metrics_histogram(m, "h", "", le, 1, b, 2, err, sizeof err));
    assert_string_equal(err, "a histogram may not have the label \"le\"");
    assert_null(kz_metrics_histogram(m, "h", "", NULL, 0, unsorted, 2, err,
                                     sizeof err));
    assert_string_equal(err, "h: bucket bounds must be finite and increasing");
    assert_non_null(kz_metrics_counter(m, "x_total", "X.", ok, 1, err, sizeof err));
    assert_null(kz_metrics_counter(m, "x_total", "X.", ok, 1, err, sizeof err));
    assert_string_equal(err, "x_total: this series is registered already");
    assert_null(kz_metrics_gauge(m, "x_total", "X.", ok, 1, err, sizeof err));
    assert_string_equal(err, "x_total: registered before with another type, "
                             "help or label names");
    assert_null(kz_metrics_counter(m, "x_total", "Other help.", ok, 1, err,
                                   sizeof err));
    assert_int_equal(kz_metrics_retire(m, &err), -1);
    kz_metrics_free(m);
}

/* A retired series leaves the scrape; registered again it comes back
 * with its count (a counter never goes down). */
static void test_metrics_retire_and_revive(void **state)
{
    (void)state;
    struct kz_metrics *m = kz_metrics_new();
    char err[160];
    struct kz_label l[] = { { "link", "mega" } };
    struct kz_counter *c = kz_metrics_counter(m, "binds_total", "Binds.", l, 1,
                                              err, sizeof err);
    kz_counter_add(c, 5);
    assert_int_equal(kz_metrics_retire(m, c), 0);
    char *t = kz_metrics_render(m, NULL);
    assert_string_equal(t, "");
    free(t);
    struct kz_counter *again = kz_metrics_counter(m, "binds_total", "Binds.", l,
                                                  1, err, sizeof err);
    assert_ptr_equal(again, c);
    kz_counter_add(again, 1);
    t = kz_metrics_render(m, NULL);
    assert_string_equal(t, "# HELP binds_total Binds.\n# TYPE binds_total counter\n"
                           "binds_total{link=\"mega\"} 6\n");
    free(t);
    /* a counter read from a module's own stats at scrape time */
    double seen = 12;
    struct kz_label l2[] = { { "link", "o" } };
    assert_int_equal(kz_metrics_counter_fn(m, "binds_total", "Binds.", l2, 1,
                                           forty_two, &seen, err, sizeof err), 0);
    assert_int_equal(kz_metrics_counter_fn(m, "binds_total", "Binds.", l2, 1,
                                           NULL, &seen, err, sizeof err), -1);
    t = kz_metrics_render(m, NULL);
    assert_string_equal(t, "# HELP binds_total Binds.\n# TYPE binds_total counter\n"
                           "binds_total{link=\"mega\"} 6\nbinds_total{link=\"o\"} 12\n");
    free(t);
    assert_int_equal(kz_metrics_retire(m, &seen), 0);
    /* a count read through a pointer into a module's struct, retired with
     * the struct's range */
    struct { uint64_t a, b; } mod = { 7, 9 };
    assert_int_equal(kz_metrics_counter_u64(m, "mod_a_total", "A.", NULL, 0,
                                            &mod.a, err, sizeof err), 0);
    assert_int_equal(kz_metrics_counter_u64(m, "mod_b_total", "B.", NULL, 0,
                                            NULL, err, sizeof err), -1);
    mod.a = 8;
    t = kz_metrics_render(m, NULL);
    assert_non_null(strstr(t, "# TYPE mod_a_total counter\nmod_a_total 8\n"));
    free(t);
    assert_int_equal(kz_metrics_retire_range(m, &mod, sizeof mod), 0);
    assert_int_equal(kz_metrics_retire_range(m, &mod, sizeof mod), 0);
    t = kz_metrics_render(m, NULL);
    assert_null(strstr(t, "mod_a_total"));
    free(t);
    assert_int_equal(kz_metrics_retire_range(m, &mod.b, sizeof mod.b), -1);
    const double b[] = { 1 }, other[] = { 2 };
    struct kz_hist *h = kz_metrics_histogram(m, "h_seconds", "H.", l, 1, b, 1,
                                             err, sizeof err);
    assert_int_equal(kz_metrics_retire(m, h), 0);
    assert_null(kz_metrics_histogram(m, "h_seconds", "H.", l, 1, other, 1, err,
                                     sizeof err));
    assert_string_equal(err, "h_seconds: registered before with other bounds");
    assert_ptr_equal(kz_metrics_histogram(m, "h_seconds", "H.", l, 1, b, 1, err,
                                          sizeof err), h);
    kz_metrics_free(m);
}

/* Debian's promtool accepts what the registry writes. */
static void test_metrics_promtool_accepts(void **state)
{
    (void)state;
    struct kz_metrics *m = kz_metrics_new();
    char err[160];
    struct kz_label l[] = { { "link", "mega \"1\"" }, { "lang", "ky" } };
    kz_counter_add(kz_metrics_counter(m, "kyzmat_mo_received_total",
                                      "MO messages received.", l, 2, err,
                                      sizeof err), 7);
    kz_gauge_set(kz_metrics_gauge(m, "kyzmat_link_up", "1 when bound.", l, 2,
                                  err, sizeof err), 1);
    const double le[] = { 120, 300, 900, 3600, 14400 };
    struct kz_hist *h = kz_metrics_histogram(m, "kyzmat_receipt_latency_seconds",
                                             "Submit to receipt.", l, 2, le, 5,
                                             err, sizeof err);
    for (int i = 0; i < 100; i++)
        kz_hist_observe(h, i * 97.5);
    char *t = kz_metrics_render(m, NULL);
    FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");
    assert_non_null(p);
    fputs(t, p);
    int rc = pclose(p);
    if (rc != 0)
        fprintf(stderr, "promtool check metrics failed (exit %d; is package "
                "prometheus installed? scripts/setup.sh --test) on:\n%s", rc, t);
    assert_int_equal(rc, 0);
    free(t);
    kz_metrics_free(m);
}

/* Issue 14 item 9: every spelling of a loopback, unspecified, link-local
 * or metadata address is internal; public and private ones are not. */
static void test_netaddr_internal_in_every_spelling(void **state)
{
    (void)state;
    static const char *const inside[] = {
        "127.0.0.1", "127.1", "127.255.255.254", "2130706433", "0x7f000001",
        "0177.0.0.1", "0x7f.1", "0.0.0.0", "0", "0.1.2.3", "169.254.169.254",
        "169.254.0.1", "::1", "::", "fe80::1", "febf::1", "fd00:ec2::254",
        "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:169.254.169.254",
        "::127.0.0.1", "64:ff9b::127.0.0.1", "::ffff:0.0.0.0",
    };
    static const char *const outside[] = {
        "8.8.8.8", "10.0.0.1", "192.168.1.1", "128.0.0.1", "169.253.1.1",
        "2001:db8::1", "fec0::1", "fd00:ec2::253", "::ffff:8.8.8.8", "::8.8.8.8",
        "fc00::1",
    };
    struct sockaddr_storage ss;
    for (size_t i = 0; i < sizeof inside / sizeof *inside; i++) {
        assert_int_equal(kz_host_literal(inside[i], &ss), 1);
        if (!kz_addr_internal((struct sockaddr *)&ss))
            fail_msg("%s should be internal", inside[i]);
    }
    for (size_t i = 0; i < sizeof outside / sizeof *outside; i++) {
        assert_int_equal(kz_host_literal(outside[i], &ss), 1);
        if (kz_addr_internal((struct sockaddr *)&ss))
            fail_msg("%s should not be internal", outside[i]);
    }
    assert_int_equal(kz_host_literal("example.org", &ss), 0);
    assert_int_equal(kz_host_literal("localhost", &ss), 0);
}

static void test_netaddr_url_host_and_cidrs(void **state)
{
    (void)state;
    char h[64];
    assert_int_equal(kz_url_host("https://Hooks.Example.ORG./x?y", h, sizeof h), 0);
    assert_string_equal(h, "hooks.example.org");
    assert_int_equal(kz_url_host("http://u:p@[::1]:8080/cb", h, sizeof h), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(kz_url_host("http://x.org@127.0.0.1/", h, sizeof h), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(kz_url_host("http://127.0.0.1#@x.org/", h, sizeof h), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(kz_url_host("http://a@b@127.0.0.1/", h, sizeof h), -1);
    assert_int_equal(kz_url_host("http://x.org\\@127.0.0.1/", h, sizeof h), -1);
    assert_int_equal(kz_url_host("http://%6c%6fcalhost/", h, sizeof h), -1);
    assert_int_equal(kz_url_host("http://[fe80::1%25eth0]/", h, sizeof h), -1);
    assert_int_equal(kz_url_host("http:///x", h, sizeof h), -1);
    assert_int_equal(kz_url_host("http://[::1/x", h, sizeof h), -1);

    struct kz_cidr c;
    struct sockaddr_storage ss;
    assert_int_equal(kz_cidr_parse("127.0.0.0/8", &c), 0);
    kz_host_literal("127.9.9.9", &ss);
    assert_true(kz_cidr_match(&c, (struct sockaddr *)&ss));
    kz_host_literal("::ffff:127.0.0.2", &ss);        /* mapped counts */
    assert_true(kz_cidr_match(&c, (struct sockaddr *)&ss));
    kz_host_literal("128.0.0.1", &ss);
    assert_false(kz_cidr_match(&c, (struct sockaddr *)&ss));
    assert_int_equal(kz_cidr_parse("fe80::/10", &c), 0);
    kz_host_literal("febf::5", &ss);
    assert_true(kz_cidr_match(&c, (struct sockaddr *)&ss));
    assert_int_equal(kz_cidr_parse("::1", &c), 0);
    assert_int_equal(c.bits, 128);
    assert_int_equal(kz_cidr_parse("10.0.0.0/33", &c), -1);
    assert_int_equal(kz_cidr_parse("10.0.0.0/", &c), -1);
    assert_int_equal(kz_cidr_parse("10.0.0.0/-1", &c), -1);
    assert_int_equal(kz_cidr_parse("hooks", &c), -1);
}

static void test_netaddr_allow_list(void **state)
{
    (void)state;
    /* no list: literal internal addresses and localhost are refused,
     * other names wait for the connect-time check */
    static const char *const refused[] = {
        "http://127.0.0.1:8080/cb", "http://127.1/", "http://2130706433/",
        "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
        "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
        "http://[fe80::1]/", "http://localhost:9/", "http://LOCALHOST./",
        "http://api.localhost/", "http://x@127.0.0.1/", "http://:80/",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        if (kz_netallow_url(NULL, refused[i]) != -1)
            fail_msg("%s should be refused", refused[i]);
    assert_int_equal(kz_netallow_url(NULL, "https://hooks.example.org/cb"), 0);
    assert_int_equal(kz_netallow_url(NULL, "http://10.1.2.3/cb"), 0);
    assert_int_equal(kz_netallow_url(NULL, "http://notlocalhost/cb"), 0);

    const char *items[] = { "127.0.0.1", "Hooks.Local", "fe80::/10" };
    struct kz_netallow a;
    size_t bad = 99;
    assert_int_equal(kz_netallow_init(&a, items, 3, &bad), 0);
    assert_int_equal(kz_netallow_url(&a, "http://127.0.0.1:8080/cb"), 0);
    assert_int_equal(kz_netallow_url(&a, "http://127.1:8080/cb"), 0);
    assert_int_equal(kz_netallow_url(&a, "http://127.0.0.2/cb"), -1);
    assert_int_equal(kz_netallow_url(&a, "http://[fe80::2]/"), 0);
    assert_int_equal(kz_netallow_url(&a, "http://hooks.local./"), 0);
    assert_int_equal(kz_netallow_url(&a, "http://localhost/"), -1);
    assert_true(kz_netallow_name(&a, "HOOKS.local"));
    assert_false(kz_netallow_name(&a, "hooks.local.evil"));
    struct sockaddr_storage ss;
    kz_host_literal("::ffff:127.0.0.1", &ss);
    assert_true(kz_netallow_addr(&a, (struct sockaddr *)&ss));
    kz_host_literal("169.254.169.254", &ss);
    assert_false(kz_netallow_addr(&a, (struct sockaddr *)&ss));
    assert_false(kz_netallow_addr(NULL, (struct sockaddr *)&ss));
    kz_host_literal("8.8.8.8", &ss);
    assert_true(kz_netallow_addr(NULL, (struct sockaddr *)&ss));
    kz_netallow_free(&a);

    const char *worse[] = { "ok.example", "10.0.0.0/99", "x" };
    assert_int_equal(kz_netallow_init(&a, worse, 3, &bad), -1);
    assert_int_equal(bad, 1);
    assert_null(a.names);
    assert_false(kz_netallow_item_ok("a b"));
    assert_false(kz_netallow_item_ok(""));
    assert_true(kz_netallow_item_ok("::1/128"));
    assert_true(kz_netallow_item_ok("callbacks-test_1.internal"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_round_trip_every_length),
        cmocka_unit_test(test_utf8_rejects_what_rfc3629_forbids),
        cmocka_unit_test(test_utf8_put_never_writes_past_cap),
        cmocka_unit_test(test_utf8_prefix_cuts_between_characters),
        cmocka_unit_test(test_utf8_clip_backs_off_to_a_character_start),
        cmocka_unit_test(test_utf8_text_fault_finds_bad_bytes_and_nul),
        cmocka_unit_test(test_utf8_line_col_counts_characters),
        cmocka_unit_test(test_gsm_tables_agree_both_ways),
        cmocka_unit_test(test_sha256_fips_vectors),
        cmocka_unit_test(test_sha256_in_pieces),
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_clocks_read_what_they_say),
        cmocka_unit_test(test_metrics_render_exposition),
        cmocka_unit_test(test_metrics_refusals),
        cmocka_unit_test(test_metrics_retire_and_revive),
        cmocka_unit_test(test_metrics_promtool_accepts),
        cmocka_unit_test(test_netaddr_internal_in_every_spelling),
        cmocka_unit_test(test_netaddr_url_host_and_cidrs),
        cmocka_unit_test(test_netaddr_allow_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
