/*
 * tests/unit/test_text.c — cmocka tests for smpp/text.[ch].
 *
 * Vectors come from outside the code under test: the GSM 03.38 table is
 * typed here again from TS 23.038 as UTF-8 strings, UCS-2 bytes and packed
 * septets were produced with Python's codecs and an independent packer
 * ("*100#" -> AA 18 0C 36 02 and "hellohello" are the classic published
 * vectors).  Boundaries (160/161, 153/154 per part, 67/66 UCS-2, 80/81 and
 * 182/183 per USSD screen) are tested on purpose, with ESC pairs and
 * surrogate pairs straddling them.
 *
 * May call: smpp/text.h, cmocka, libc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/utf8.h"
#include "smpp/text.h"

#define U8(s) ((const uint8_t *)(s))
#define LEN(s) (sizeof(s) - 1)

/* GSM 03.38 default alphabet typed from TS 23.038 §6.2.1; index = septet.
 * 0x1B (ESC) has no char of its own: NULL. */
static const char *const gsm_default[128] = {
    "@", "£", "$", "¥", "è", "é", "ù", "ì", "ò", "Ç", "\n", "Ø", "ø", "\r", "Å", "å",
    "Δ", "_", "Φ", "Γ", "Λ", "Ω", "Π", "Ψ", "Σ", "Θ", "Ξ", NULL, "Æ", "æ", "ß", "É",
    " ", "!", "\"", "#", "¤", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/",
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ":", ";", "<", "=", ">", "?",
    "¡", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O",
    "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z", "Ä", "Ö", "Ñ", "Ü", "§",
    "¿", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
    "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "ä", "ö", "ñ", "ü", "à",
};

static const struct {
    uint8_t code;
    const char *utf8;
} gsm_extension[] = {
    {0x0A, "\f"}, {0x14, "^"}, {0x28, "{"}, {0x29, "}"}, {0x2F, "\\"},
    {0x3C, "["}, {0x3D, "~"}, {0x3E, "]"}, {0x40, "|"}, {0x65, "€"},
};

/* ---- helpers ------------------------------------------------------------ */

static void fill(char *buf, const char *unit, size_t times)
{
    size_t ul = strlen(unit);
    for (size_t i = 0; i < times; i++)
        memcpy(buf + i * ul, unit, ul);
    buf[times * ul] = '\0';
}

static void expect_encode(enum smpp_text_enc enc, const char *utf8, const uint8_t *want,
                          size_t want_len)
{
    uint8_t out[1024];
    size_t n = 0, off = 99;
    assert_int_equal(smpp_text_encode(enc, U8(utf8), strlen(utf8), out, sizeof out, &n, &off),
                     SMPP_TEXT_OK);
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, want_len);
}

static void expect_decode(enum smpp_text_enc enc, const uint8_t *in, size_t in_len,
                          const char *want)
{
    uint8_t out[1024];
    size_t n = 0;
    assert_int_equal(smpp_text_decode(enc, in, in_len, out, sizeof out, &n), SMPP_TEXT_OK);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

/* ---- UTF-8 validation ---------------------------------------------------- */

static void test_utf8_valid(void **state)
{
    (void)state;
    const char *ok[] = {"", "plain ascii", "Кызмат көрсөтүү борбору", "€", "😀",
                        "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF", "\xEE\x80\x80"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(smpp_text_utf8_validate(U8(ok[i]), strlen(ok[i]), NULL), SMPP_TEXT_OK);
    /* U+0000 is valid UTF-8 */
    assert_int_equal(smpp_text_utf8_validate(U8("a\0b"), 3, NULL), SMPP_TEXT_OK);
    size_t chars = 0;
    assert_int_equal(smpp_text_utf8_chars(U8("Өтүнмө №12345: даяр"), LEN("Өтүнмө №12345: даяр"),
                                          &chars, NULL), SMPP_TEXT_OK);
    assert_int_equal(chars, 19);
}

static void test_utf8_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len, off;
    } bad[] = {
        {"\xC0\x80", 2, 0},             /* overlong NUL */
        {"ab\xC1\xBF", 4, 2},           /* overlong 2-byte */
        {"x\xE0\x80\x80", 4, 1},        /* overlong 3-byte */
        {"\xF0\x80\x80\x80", 4, 0},     /* overlong 4-byte */
        {"ok\xED\xA0\x80", 5, 2},       /* U+D800 encoded: surrogate */
        {"\xED\xBF\xBF", 3, 0},         /* U+DFFF */
        {"\xF4\x90\x80\x80", 4, 0},     /* U+110000 */
        {"\xF5\x80\x80\x80", 4, 0},     /* lead > F4 */
        {"abc\xE2\x82", 5, 3},          /* truncated € */
        {"\xF0\x9F\x98", 3, 0},         /* truncated emoji */
        {"\xC3", 1, 0},                 /* truncated 2-byte */
        {"a\x80", 2, 1},                /* lone continuation */
        {"\xC3\x28", 2, 0},             /* lead then non-continuation */
        {"Кы\xFF", 5, 4},               /* FF */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t off = 999;
        assert_int_equal(smpp_text_utf8_validate(U8(bad[i].s), bad[i].len, &off), SMPP_TEXT_EUTF8);
        assert_int_equal(off, bad[i].off);
        /* every strict entry point refuses it, with the same offset */
        uint8_t out[64];
        size_t n;
        off = 999;
        assert_int_equal(smpp_text_encode(SMPP_ENC_UCS2, U8(bad[i].s), bad[i].len, out,
                                          sizeof out, &n, &off), SMPP_TEXT_EUTF8);
        assert_int_equal(off, bad[i].off);
        struct smpp_text_choice ch;
        assert_int_equal(smpp_text_choose(U8(bad[i].s), bad[i].len, 0, &ch, &off), SMPP_TEXT_EUTF8);
        struct smpp_text_fit f;
        assert_int_equal(smpp_text_fit(U8(bad[i].s), bad[i].len, SMPP_ENC_UCS2, 160, &f, &off),
                         SMPP_TEXT_EUTF8);
    }
}

/* ---- GSM 03.38 tables both ways ----------------------------------------- */

static void test_gsm_basic_table(void **state)
{
    (void)state;
    for (unsigned code = 0; code < 128; code++) {
        if (!gsm_default[code])
            continue;
        const char *ch = gsm_default[code];
        uint8_t sept = (uint8_t)code;
        expect_decode(SMPP_ENC_GSM7, &sept, 1, ch);
        expect_encode(SMPP_ENC_GSM7, ch, &sept, 1);
        uint32_t cp;
        assert_int_equal(kz_utf8_next(U8(ch), strlen(ch), &cp), strlen(ch));
        assert_int_equal(smpp_text_char_units(SMPP_ENC_GSM7, cp), 1);
    }
}

static void test_gsm_extension_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof gsm_extension / sizeof gsm_extension[0]; i++) {
        uint8_t pair[2] = {0x1B, gsm_extension[i].code};
        expect_decode(SMPP_ENC_GSM7, pair, 2, gsm_extension[i].utf8);
        expect_encode(SMPP_ENC_GSM7, gsm_extension[i].utf8, pair, 2);
        uint32_t cp;
        kz_utf8_next(U8(gsm_extension[i].utf8), strlen(gsm_extension[i].utf8), &cp);
        assert_int_equal(smpp_text_char_units(SMPP_ENC_GSM7, cp), 2);
    }
    /* a whole sentence mixing both tables */
    static const uint8_t want[] = {0x50, 0x72, 0x69, 0x63, 0x65, 0x3A, 0x20, 0x35, 0x1B, 0x65,
                                   0x20, 0x1B, 0x28, 0x6F, 0x6B, 0x1B, 0x29};
    expect_encode(SMPP_ENC_GSM7, "Price: 5€ {ok}", want, sizeof want);
    expect_decode(SMPP_ENC_GSM7, want, sizeof want, "Price: 5€ {ok}");
}

/* Exhaustive: every code point the encoder maps decodes back to itself,
 * and exactly 127 + 10 code points are in GSM 03.38. */
static void test_gsm_exhaustive(void **state)
{
    (void)state;
    size_t basic = 0, ext = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        uint8_t code[2], text[8];
        size_t n;
        unsigned k = smpp_text_gsm7_from_ucs(cp, code);
        if (k == 0)
            continue;
        if (k == 1)
            basic++;
        else
            ext++;
        assert_int_equal(smpp_text_decode(SMPP_ENC_GSM7, code, k, text, sizeof text, &n),
                         SMPP_TEXT_OK);
        uint32_t back = 0;
        assert_int_equal(kz_utf8_next(text, n, &back), n);
        assert_int_equal(back, cp);
    }
    assert_int_equal(basic, 127);
    assert_int_equal(ext, 10);
}

static void test_gsm_not_representable(void **state)
{
    (void)state;
    static const char *const no[] = {"ç", "`", "Ж", "ң", "ө", "ү", "Ң", "Ө", "Ү", "😀", "\t"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        uint8_t out[16];
        size_t n, off = 99;
        char s[32];
        snprintf(s, sizeof s, "ab%s", no[i]);
        assert_int_equal(smpp_text_encode(SMPP_ENC_GSM7, U8(s), strlen(s), out, sizeof out, &n,
                                          &off), SMPP_TEXT_EUNREPR);
        assert_int_equal(off, 2);
    }
}

static void test_gsm_lenient_decode(void **state)
{
    (void)state;
    /* ESC + code not in the extension table: the basic char; ESC ESC and a
     * trailing ESC: space; a byte >= 0x80 is no septet: U+FFFD */
    static const uint8_t a[] = {0x1B, 0x41, 0x1B, 0x1B, 0x62, 0x80, 0x1B};
    expect_decode(SMPP_ENC_GSM7, a, sizeof a, "A b\xEF\xBF\xBD ");
    static const uint8_t b[] = {0x1B, 0xFF};
    expect_decode(SMPP_ENC_GSM7, b, sizeof b, "\xEF\xBF\xBD");
}

/* ---- UCS-2 / UTF-16BE ----------------------------------------------------- */

static void test_ucs2_kyrgyz(void **state)
{
    (void)state;
    static const uint8_t kyzmat[] = {
        0x04, 0x1A, 0x04, 0x4B, 0x04, 0x37, 0x04, 0x3C, 0x04, 0x30, 0x04, 0x42, 0x00, 0x20,
        0x04, 0x3A, 0x04, 0xE9, 0x04, 0x40, 0x04, 0x41, 0x04, 0xE9, 0x04, 0x42, 0x04, 0xAF,
        0x04, 0xAF, 0x00, 0x20, 0x04, 0x31, 0x04, 0x3E, 0x04, 0x40, 0x04, 0x31, 0x04, 0x3E,
        0x04, 0x40, 0x04, 0x43};
    expect_encode(SMPP_ENC_UCS2, "Кызмат көрсөтүү борбору", kyzmat, sizeof kyzmat);
    expect_decode(SMPP_ENC_UCS2, kyzmat, sizeof kyzmat, "Кызмат көрсөтүү борбору");
    static const uint8_t order[] = {
        0x04, 0xE8, 0x04, 0x42, 0x04, 0xAF, 0x04, 0x3D, 0x04, 0x3C, 0x04, 0xE9, 0x00, 0x20,
        0x21, 0x16, 0x00, 0x31, 0x00, 0x32, 0x00, 0x33, 0x00, 0x34, 0x00, 0x35, 0x00, 0x3A,
        0x00, 0x20, 0x04, 0x34, 0x04, 0x30, 0x04, 0x4F, 0x04, 0x40};
    expect_encode(SMPP_ENC_UCS2, "Өтүнмө №12345: даяр", order, sizeof order);
    expect_decode(SMPP_ENC_UCS2, order, sizeof order, "Өтүнмө №12345: даяр");
    static const uint8_t letters[] = {0x04, 0xA3, 0x00, 0x20, 0x04, 0xE9, 0x00, 0x20, 0x04, 0xAF,
                                      0x00, 0x20, 0x04, 0xA2, 0x00, 0x20, 0x04, 0xE8, 0x00, 0x20,
                                      0x04, 0xAE};
    expect_encode(SMPP_ENC_UCS2, "ң ө ү Ң Ө Ү", letters, sizeof letters);
}

static void test_ucs2_surrogates(void **state)
{
    (void)state;
    static const uint8_t smile[] = {0xD8, 0x3D, 0xDE, 0x00};
    expect_encode(SMPP_ENC_UCS2, "😀", smile, sizeof smile);
    expect_decode(SMPP_ENC_UCS2, smile, sizeof smile, "😀");
    static const uint8_t maxcp[] = {0xDB, 0xFF, 0xDF, 0xFF}; /* U+10FFFF */
    expect_encode(SMPP_ENC_UCS2, "\xF4\x8F\xBF\xBF", maxcp, sizeof maxcp);
    /* lenient decode: unpaired surrogates and an odd octet become U+FFFD */
    static const uint8_t lone_hi[] = {0xD8, 0x3D, 0x00, 0x41};
    expect_decode(SMPP_ENC_UCS2, lone_hi, sizeof lone_hi, "\xEF\xBF\xBD" "A");
    static const uint8_t lone_lo[] = {0x00, 0x41, 0xDE, 0x00};
    expect_decode(SMPP_ENC_UCS2, lone_lo, sizeof lone_lo, "A\xEF\xBF\xBD");
    static const uint8_t hi_at_end[] = {0xD8, 0x3D};
    expect_decode(SMPP_ENC_UCS2, hi_at_end, sizeof hi_at_end, "\xEF\xBF\xBD");
    static const uint8_t hi_hi[] = {0xD8, 0x3D, 0xD8, 0x3D, 0xDE, 0x00};
    expect_decode(SMPP_ENC_UCS2, hi_hi, sizeof hi_hi, "\xEF\xBF\xBD😀");
    static const uint8_t odd[] = {0x00, 0x41, 0x04};
    expect_decode(SMPP_ENC_UCS2, odd, sizeof odd, "A\xEF\xBF\xBD");
}

/* ---- Latin-1, IA5, ISO-8859-5 --------------------------------------------- */

static void test_8bit(void **state)
{
    (void)state;
    static const uint8_t cafe[] = {0x63, 0x61, 0x66, 0xE9, 0xE7, 0xFF};
    expect_encode(SMPP_ENC_LATIN1, "caféçÿ", cafe, sizeof cafe);
    expect_decode(SMPP_ENC_LATIN1, cafe, sizeof cafe, "caféçÿ");
    uint8_t out[16];
    size_t n, off;
    assert_int_equal(smpp_text_encode(SMPP_ENC_LATIN1, U8("aЖ"), LEN("aЖ"), out, sizeof out, &n,
                                      &off), SMPP_TEXT_EUNREPR);
    assert_int_equal(off, 1);
    expect_encode(SMPP_ENC_IA5, "Hi `~", U8("Hi `~"), 5);
    assert_int_equal(smpp_text_encode(SMPP_ENC_IA5, U8("é"), LEN("é"), out, sizeof out, &n, &off),
                     SMPP_TEXT_EUNREPR);
    expect_decode(SMPP_ENC_IA5, U8("a\xE9"), 2, "a\xEF\xBF\xBD");
    static const uint8_t privet[] = {0xBF, 0xE0, 0xD8, 0xD2, 0xD5, 0xE2, 0xF0, 0xA1, 0xF1};
    expect_encode(SMPP_ENC_ISO8859_5, "Привет№Ёё", privet, sizeof privet);
    expect_decode(SMPP_ENC_ISO8859_5, privet, sizeof privet, "Привет№Ёё");
    assert_int_equal(smpp_text_encode(SMPP_ENC_ISO8859_5, U8("ң"), LEN("ң"), out, sizeof out, &n,
                                      &off), SMPP_TEXT_EUNREPR);
}

static void test_nospace(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t n;
    assert_int_equal(smpp_text_encode(SMPP_ENC_UCS2, U8("abcde"), 5, out, 8, &n, NULL),
                     SMPP_TEXT_ENOSPACE);
    assert_int_equal(smpp_text_encode(SMPP_ENC_UCS2, U8("abcd"), 4, out, 8, &n, NULL), SMPP_TEXT_OK);
    assert_int_equal(n, 8);
    assert_int_equal(smpp_text_encode(SMPP_ENC_GSM7_PACKED, U8("0123456789"), 10, out, 8, &n, NULL),
                     SMPP_TEXT_ENOSPACE);
    static const uint8_t zh[] = {0x04, 0x16, 0x04, 0x16, 0x04, 0x16};
    assert_int_equal(smpp_text_decode(SMPP_ENC_UCS2, zh, sizeof zh, out, 5, &n), SMPP_TEXT_ENOSPACE);
    assert_int_equal(smpp_text_decode(SMPP_ENC_UCS2, zh, sizeof zh, out, 6, &n), SMPP_TEXT_OK);
    assert_int_equal(smpp_text_encode(SMPP_ENC_NONE, U8("a"), 1, out, 8, &n, NULL), SMPP_TEXT_EARG);
}

/* ---- GSM packing ------------------------------------------------------- */

static void test_pack_vectors(void **state)
{
    (void)state;
    uint8_t out[64], back[64];
    size_t n, m;
    static const uint8_t hh[] = {0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37};
    assert_int_equal(smpp_text_gsm7_pack(U8("hellohello"), 10, 0, out, sizeof out, &n), SMPP_TEXT_OK);
    assert_int_equal(n, 9);
    assert_memory_equal(out, hh, 9);
    assert_int_equal(smpp_text_gsm7_unpack(hh, 9, 0, 10, back, sizeof back, &m), SMPP_TEXT_OK);
    assert_int_equal(m, 10);
    assert_memory_equal(back, "hellohello", 10);
    static const uint8_t hello[] = {0xE8, 0x32, 0x9B, 0xFD, 0x06};
    assert_int_equal(smpp_text_gsm7_pack(U8("hello"), 5, 0, out, sizeof out, &n), SMPP_TEXT_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, hello, 5);
    static const uint8_t code[] = {0xAA, 0x18, 0x0C, 0x36, 0x02}; /* "*100#" */
    expect_encode(SMPP_ENC_GSM7_PACKED, "*100#", code, sizeof code);
    expect_decode(SMPP_ENC_GSM7_PACKED, code, sizeof code, "*100#");
    /* 8 septets in 7 octets, and the SEPTETS_ALL count */
    assert_int_equal(smpp_text_gsm7_pack(U8("abcdefgh"), 8, 0, out, sizeof out, &n), SMPP_TEXT_OK);
    assert_int_equal(n, 7);
    assert_int_equal(smpp_text_gsm7_unpack(out, 7, 0, SMPP_TEXT_SEPTETS_ALL, back, sizeof back, &m),
                     SMPP_TEXT_OK);
    assert_int_equal(m, 8);
    assert_memory_equal(back, "abcdefgh", 8);
    /* asking for more septets than the octets hold gives only whole ones */
    assert_int_equal(smpp_text_gsm7_unpack(hello, 5, 0, 50, back, sizeof back, &m), SMPP_TEXT_OK);
    assert_int_equal(m, 5);
    assert_int_equal(smpp_text_gsm7_pack(U8("x"), 1, 7, out, sizeof out, &n), SMPP_TEXT_EARG);
    assert_int_equal(smpp_text_gsm7_pack(U8("hello"), 5, 0, out, 4, &n), SMPP_TEXT_ENOSPACE);
    assert_int_equal(smpp_text_gsm7_unpack(hh, 9, 0, 10, back, 9, &m), SMPP_TEXT_ENOSPACE);
}

static void test_pack_fill_bits(void **state)
{
    (void)state;
    assert_int_equal(smpp_text_udh_fill_bits(6), 1);
    assert_int_equal(smpp_text_udh_fill_bits(7), 0);
    assert_int_equal(smpp_text_udh_fill_bits(0), 0);
    assert_int_equal(smpp_text_udh_fill_bits(1), 6);
    /* one fill bit: "hello" shifted left by one bit */
    uint8_t out[8], back[8];
    size_t n, m;
    static const uint8_t want[] = {0xD0, 0x65, 0x36, 0xFB, 0x0D};
    assert_int_equal(smpp_text_gsm7_pack(U8("hello"), 5, 1, out, sizeof out, &n), SMPP_TEXT_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, want, 5);
    assert_int_equal(smpp_text_gsm7_unpack(out, n, 1, 5, back, sizeof back, &m), SMPP_TEXT_OK);
    assert_int_equal(m, 5);
    assert_memory_equal(back, "hello", 5);
}

static void test_pack_ussd_cr(void **state)
{
    (void)state;
    uint8_t out[32], back[32];
    size_t n, m;
    /* 7 septets leave 7 spare bits: a <CR> fills them, unpack drops it */
    static const uint8_t seven[] = {0x31, 0xD9, 0x8C, 0x56, 0xB3, 0xDD, 0x1A};
    assert_int_equal(smpp_text_gsm7_pack_ussd(U8("1234567"), 7, out, sizeof out, &n), SMPP_TEXT_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(out, seven, 7);
    assert_int_equal(smpp_text_gsm7_unpack_ussd(out, n, back, sizeof back, &m), SMPP_TEXT_OK);
    assert_int_equal(m, 7);
    assert_memory_equal(back, "1234567", 7);
    expect_decode(SMPP_ENC_GSM7_PACKED, seven, 7, "1234567");
    /* text ending with <CR> on an octet boundary gets a second <CR> */
    static const uint8_t crcr[] = {0x61, 0xF1, 0x98, 0x5C, 0x36, 0x9F, 0x1B, 0x0D};
    assert_int_equal(smpp_text_gsm7_pack_ussd(U8("abcdefg\r"), 8, out, sizeof out, &n), SMPP_TEXT_OK);
    assert_int_equal(n, 8);
    assert_memory_equal(out, crcr, 8);
    expect_encode(SMPP_ENC_GSM7_PACKED, "abcdefg\r", crcr, sizeof crcr);
    /* 8 septets not ending in <CR>: no padding, nothing dropped */
    assert_int_equal(smpp_text_gsm7_pack_ussd(U8("abcdefgh"), 8, out, sizeof out, &n), SMPP_TEXT_OK);
    assert_int_equal(n, 7);
    expect_decode(SMPP_ENC_GSM7_PACKED, out, n, "abcdefgh");
    /* ESC pair across the 8-septet boundary in packed form */
    static const uint8_t esc[] = {0x61, 0xF1, 0x98, 0x5C, 0x36, 0x9F, 0x37, 0x65, 0x3C};
    expect_encode(SMPP_ENC_GSM7_PACKED, "abcdefg€x", esc, sizeof esc);
    expect_decode(SMPP_ENC_GSM7_PACKED, esc, sizeof esc, "abcdefg€x");
}

/* ---- data_coding ------------------------------------------------------- */

static void test_dcs_table(void **state)
{
    (void)state;
    assert_int_equal(smpp_text_dcs_encoding(0x00, 0), SMPP_ENC_GSM7);
    assert_int_equal(smpp_text_dcs_encoding(0x00, SMPP_TEXT_DCS0_LATIN1), SMPP_ENC_LATIN1);
    assert_int_equal(smpp_text_dcs_encoding(0x00, SMPP_TEXT_DCS0_IA5), SMPP_ENC_IA5);
    assert_int_equal(smpp_text_dcs_encoding(0x01, 0), SMPP_ENC_IA5);
    assert_int_equal(smpp_text_dcs_encoding(0x02, 0), SMPP_ENC_BINARY);
    assert_int_equal(smpp_text_dcs_encoding(0x03, 0), SMPP_ENC_LATIN1);
    assert_int_equal(smpp_text_dcs_encoding(0x04, 0), SMPP_ENC_BINARY);
    assert_int_equal(smpp_text_dcs_encoding(0x05, 0), SMPP_ENC_NONE);
    assert_int_equal(smpp_text_dcs_encoding(0x06, 0), SMPP_ENC_ISO8859_5);
    assert_int_equal(smpp_text_dcs_encoding(0x08, 0), SMPP_ENC_UCS2);
    assert_int_equal(smpp_text_dcs_encoding(0x0F, 0), SMPP_ENC_GSM7);
    assert_int_equal(smpp_text_dcs_encoding(0x0F, SMPP_TEXT_DCS_GSM7_PACKED), SMPP_ENC_GSM7_PACKED);
    assert_int_equal(smpp_text_dcs_encoding(0x48, 0), SMPP_ENC_UCS2);
    assert_int_equal(smpp_text_dcs_encoding(0x44, 0), SMPP_ENC_BINARY);
    assert_int_equal(smpp_text_dcs_encoding(0x40, SMPP_TEXT_DCS_GSM7_PACKED), SMPP_ENC_GSM7_PACKED);
    assert_int_equal(smpp_text_dcs_encoding(0x11, 0), SMPP_ENC_GSM7);
    assert_int_equal(smpp_text_dcs_encoding(0x18, 0), SMPP_ENC_UCS2);
    assert_int_equal(smpp_text_dcs_encoding(0x19, 0), SMPP_ENC_UCS2);
    assert_int_equal(smpp_text_dcs_encoding(0x15, 0), SMPP_ENC_BINARY);
    assert_int_equal(smpp_text_dcs_encoding(0x1C, 0), SMPP_ENC_NONE);
    assert_int_equal(smpp_text_dcs_encoding(0x30, 0), SMPP_ENC_NONE); /* compressed */
    assert_int_equal(smpp_text_dcs_encoding(0xC0, 0), SMPP_ENC_GSM7);
    assert_int_equal(smpp_text_dcs_encoding(0xD8, 0), SMPP_ENC_GSM7);
    assert_int_equal(smpp_text_dcs_encoding(0xE0, 0), SMPP_ENC_UCS2);
    assert_int_equal(smpp_text_dcs_encoding(0xF0, 0), SMPP_ENC_GSM7);
    assert_int_equal(smpp_text_dcs_encoding(0xF1, 0), SMPP_ENC_GSM7);
    assert_int_equal(smpp_text_dcs_encoding(0xF4, 0), SMPP_ENC_BINARY);
    assert_int_equal(smpp_text_dcs_encoding(0x80, 0), SMPP_ENC_NONE);
    for (int e = SMPP_ENC_GSM7; e <= SMPP_ENC_BINARY; e++) {
        int dcs = smpp_text_enc_dcs((enum smpp_text_enc)e);
        assert_true(dcs >= 0);
        unsigned fl = e == SMPP_ENC_GSM7_PACKED ? SMPP_TEXT_DCS_GSM7_PACKED : 0;
        assert_int_equal(smpp_text_dcs_encoding((uint8_t)dcs, fl), e);
    }
    assert_int_equal(smpp_text_enc_dcs(SMPP_ENC_HEX), -1);
}

static void test_decode_dcs(void **state)
{
    (void)state;
    uint8_t out[256];
    size_t n;
    enum smpp_text_enc used = SMPP_ENC_NONE;
    static const uint8_t code[] = {0xAA, 0x18, 0x0C, 0x36, 0x02};
    assert_int_equal(smpp_text_decode_dcs(0x0F, SMPP_TEXT_DCS_GSM7_PACKED, code, sizeof code, out,
                                          sizeof out, &n, &used), SMPP_TEXT_OK);
    assert_int_equal(used, SMPP_ENC_GSM7_PACKED);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "*100#", 5);
    /* default for 0x0F: unpacked septets */
    assert_int_equal(smpp_text_decode_dcs(0x0F, 0, U8("*100#"), 5, out, sizeof out, &n, &used),
                     SMPP_TEXT_OK);
    assert_int_equal(used, SMPP_ENC_GSM7);
    assert_memory_equal(out, "*100#", 5);
    static const uint8_t ky[] = {0x04, 0xA3, 0x04, 0xE9};
    assert_int_equal(smpp_text_decode_dcs(0x48, 0, ky, sizeof ky, out, sizeof out, &n, &used),
                     SMPP_TEXT_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "ңө", 4);
    assert_int_equal(smpp_text_decode_dcs(0x08, 0, ky, sizeof ky, out, sizeof out, &n, NULL),
                     SMPP_TEXT_OK);
    assert_int_equal(smpp_text_decode_dcs(0x03, 0, U8("\xE9"), 1, out, sizeof out, &n, NULL),
                     SMPP_TEXT_OK);
    assert_memory_equal(out, "é", 2);
    static const uint8_t bin[] = {0x01, 0xAB};
    assert_int_equal(smpp_text_decode_dcs(0x04, 0, bin, 2, out, sizeof out, &n, &used), SMPP_TEXT_EDCS);
    assert_int_equal(smpp_text_decode_dcs(0x05, 0, bin, 2, out, sizeof out, &n, &used), SMPP_TEXT_EDCS);
    assert_int_equal(smpp_text_decode_dcs(0x05, SMPP_TEXT_DCS_HEX_FALLBACK, bin, 2, out, sizeof out,
                                          &n, &used), SMPP_TEXT_OK);
    assert_int_equal(used, SMPP_ENC_HEX);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "01AB", 4);
}

/* ---- choice ------------------------------------------------------------ */

/* One smpp_text_choose case: the text (`unit` repeated `times`, or as it is
 * when times is 0), the allowed encodings, and what must come out; a -1
 * is a figure this case does not check. */
struct choose_case {
    const char *unit;
    int times;
    unsigned allow;
    int enc, units, octets, chars, single_units, parts, fit_chars;
};

#define L1 SMPP_TEXT_ALLOW_LATIN1
#define GSM SMPP_ENC_GSM7
#define UCS SMPP_ENC_UCS2
#define LAT SMPP_ENC_LATIN1

static void test_choose(void **state)
{
    (void)state;
    static const struct choose_case cases[] = {
        /* unit, times, allow:  enc, units, octets, chars, single, parts, fit */
        {"Hello", 0, 0,         GSM, 5, -1, 5, -1, 1, -1},
        {"{5€}", 0, 0,          GSM, 7, -1, 4, -1, -1, -1},  /* 3 ESC pairs + '5' */
        {"café Δ", 0, 0,        GSM, -1, -1, -1, -1, -1, -1},
        /* Russian and Kyrgyz: UCS-2 even when Latin-1 is allowed */
        {"Привет", 0, L1,       UCS, -1, -1, -1, -1, -1, -1},
        {"ң", 0, L1,            UCS, -1, -1, -1, -1, -1, -1},
        {"ө", 0, L1,            UCS, -1, -1, -1, -1, -1, -1},
        {"ү", 0, L1,            UCS, -1, -1, -1, -1, -1, -1},
        {"Ң", 0, L1,            UCS, -1, -1, -1, -1, -1, -1},
        {"Ө", 0, L1,            UCS, -1, -1, -1, -1, -1, -1},
        {"Ү", 0, L1,            UCS, -1, -1, -1, -1, -1, -1},
        {"Кызмат көрсөтүү борбору", 0, L1, UCS, 46, 46, 23, 140, -1, 23},
        /* ç is not GSM: UCS-2 unless Latin-1 is allowed */
        {"garçon", 0, 0,        UCS, 12, -1, -1, -1, -1, -1},
        {"garçon", 0, L1,       LAT, 6, -1, -1, -1, -1, -1},
        /* emoji: 4 octets */
        {"a😀", 0, 0,           UCS, 6, -1, 2, -1, -1, -1},
        /* GSM boundaries: 160 one part, 161 two, fit_chars 160 */
        {"a", 160, 0,           -1, -1, -1, -1, -1, 1, 160},
        {"a", 161, 0,           -1, -1, -1, -1, -1, 2, 160},
        /* 100 '{' cost 200 septets (2 parts) in GSM but 100 octets in Latin-1 */
        {"{", 100, 0,           GSM, -1, -1, -1, -1, 2, 80},
        {"{", 100, L1,          LAT, -1, -1, -1, -1, 1, -1},
        /* empty text */
        {"", 0, 0,              GSM, 0, -1, -1, -1, 1, -1},
    };
    char buf[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct choose_case *k = &cases[i];
        if (k->times)
            fill(buf, k->unit, (size_t)k->times);
        else
            snprintf(buf, sizeof buf, "%s", k->unit);
        struct smpp_text_choice c;
        assert_int_equal(smpp_text_choose(U8(buf), strlen(buf), k->allow, &c, NULL),
                         SMPP_TEXT_OK);
        const long got[] = {c.enc, (long)c.units, (long)c.octets, (long)c.chars,
                            (long)c.single_units, (long)c.parts, (long)c.fit_chars};
        const int want[] = {k->enc, k->units, k->octets, k->chars, k->single_units,
                            k->parts, k->fit_chars};
        for (size_t j = 0; j < sizeof want / sizeof want[0]; j++) {
            if (want[j] < 0)
                continue;
            if (got[j] != want[j])
                print_message("case %zu (\"%s\" x%d): figure %zu\n", i, k->unit, k->times, j);
            assert_int_equal(got[j], want[j]);
        }
    }
}

#undef L1
#undef GSM
#undef UCS
#undef LAT

/* ---- USSD fit ---------------------------------------------------------- */

static void test_ussd_fit(void **state)
{
    (void)state;
    char buf[2048];
    struct smpp_text_fit f;
    fill(buf, "ж", 80);
    assert_int_equal(smpp_text_fit(U8(buf), strlen(buf), SMPP_ENC_UCS2, SMPP_TEXT_USSD_OCTETS, &f,
                                   NULL), SMPP_TEXT_OK);
    assert_true(f.fits);
    assert_int_equal(f.octets, 160);
    assert_int_equal(f.cut_chars, 80);
    assert_int_equal(f.cut_bytes, 160);
    fill(buf, "ү", 81);
    assert_int_equal(smpp_text_fit(U8(buf), strlen(buf), SMPP_ENC_UCS2, 160, &f, NULL), SMPP_TEXT_OK);
    assert_false(f.fits);
    assert_int_equal(f.octets, 162);
    assert_int_equal(f.chars, 81);
    assert_int_equal(f.cut_chars, 80);
    assert_int_equal(f.cut_bytes, 160);
    assert_int_equal(f.cut_octets, 160);
    /* surrogate pair on the edge: 79 chars + emoji = 162 octets, cut before it */
    fill(buf, "ж", 79);
    strcat(buf, "😀");
    assert_int_equal(smpp_text_fit(U8(buf), strlen(buf), SMPP_ENC_UCS2, 160, &f, NULL), SMPP_TEXT_OK);
    assert_false(f.fits);
    assert_int_equal(f.cut_chars, 79);
    assert_int_equal(f.cut_bytes, 158);
    assert_int_equal(f.cut_octets, 158);
    /* GSM packed: 182 fit in 160 octets, 183 do not */
    fill(buf, "a", 182);
    assert_int_equal(smpp_text_fit(U8(buf), 182, SMPP_ENC_GSM7_PACKED, 160, &f, NULL), SMPP_TEXT_OK);
    assert_true(f.fits);
    assert_int_equal(f.octets, 160);
    assert_int_equal(f.cut_bytes, 182);
    uint8_t wire[200];
    size_t n;
    assert_int_equal(smpp_text_encode(SMPP_ENC_GSM7_PACKED, U8(buf), 182, wire, sizeof wire, &n,
                                      NULL), SMPP_TEXT_OK);
    assert_int_equal(n, 160);
    fill(buf, "a", 183);
    assert_int_equal(smpp_text_fit(U8(buf), 183, SMPP_ENC_GSM7_PACKED, 160, &f, NULL), SMPP_TEXT_OK);
    assert_false(f.fits);
    assert_int_equal(f.octets, 161);
    assert_int_equal(f.cut_chars, 182);
    assert_int_equal(f.cut_bytes, 182);
    assert_int_equal(f.cut_octets, 160);
    assert_int_equal(smpp_text_encode(SMPP_ENC_GSM7_PACKED, U8(buf), 183, wire, sizeof wire, &n,
                                      NULL), SMPP_TEXT_OK);
    assert_int_equal(n, 161);
    /* ESC pair on the edge: 181 'a' + '€' = 183 septets; cut before the € */
    fill(buf, "a", 181);
    strcat(buf, "€");
    assert_int_equal(smpp_text_fit(U8(buf), strlen(buf), SMPP_ENC_GSM7_PACKED, 160, &f, NULL),
                     SMPP_TEXT_OK);
    assert_false(f.fits);
    assert_int_equal(f.cut_chars, 181);
    assert_int_equal(f.cut_bytes, 181);
    /* unpacked GSM counts one octet per septet */
    fill(buf, "a", 161);
    assert_int_equal(smpp_text_fit(U8(buf), 161, SMPP_ENC_GSM7, 160, &f, NULL), SMPP_TEXT_OK);
    assert_false(f.fits);
    assert_int_equal(f.cut_chars, 160);
    /* text ending in <CR> on an 8-septet boundary needs a second <CR>:
     * 8 septets take 8 octets, not 7 */
    assert_int_equal(smpp_text_fit(U8("abcdefg\r"), 8, SMPP_ENC_GSM7_PACKED, 7, &f, NULL),
                     SMPP_TEXT_OK);
    assert_false(f.fits);
    assert_int_equal(f.octets, 8);
    assert_int_equal(f.cut_chars, 7);
    assert_int_equal(f.cut_octets, 7);
    assert_int_equal(smpp_text_fit(U8("abcdefg\r"), 8, SMPP_ENC_GSM7_PACKED, 8, &f, NULL),
                     SMPP_TEXT_OK);
    assert_true(f.fits);
    assert_int_equal(f.octets, 8);
    /* a char the encoding lacks is an error with its offset */
    size_t off = 0;
    assert_int_equal(smpp_text_fit(U8("abж"), LEN("abж"), SMPP_ENC_GSM7_PACKED, 160, &f, &off),
                     SMPP_TEXT_EUNREPR);
    assert_int_equal(off, 2);
}

/* ---- split ------------------------------------------------------------- */

static struct smpp_text_part parts[SMPP_TEXT_MAX_PARTS];

/* Decode every part's body and check that the pieces re-join to text, and
 * that each part's text slice matches. */
static void check_rejoin(const char *text, enum smpp_text_enc enc, size_t n)
{
    static uint8_t joined[8192];
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(parts[i].seq, i + 1);
        assert_int_equal(parts[i].total, n);
        size_t m;
        const uint8_t *body = parts[i].data + parts[i].udh_len;
        size_t body_len = parts[i].len - parts[i].udh_len;
        if (enc == SMPP_ENC_GSM7_PACKED) {
            uint8_t sept[200];
            size_t ns;
            assert_int_equal(smpp_text_gsm7_unpack(body, body_len,
                                                   smpp_text_udh_fill_bits(parts[i].udh_len),
                                                   parts[i].units, sept, sizeof sept, &ns),
                             SMPP_TEXT_OK);
            assert_int_equal(ns, parts[i].units);
            assert_int_equal(smpp_text_decode(SMPP_ENC_GSM7, sept, ns, joined + pos,
                                              sizeof joined - pos, &m), SMPP_TEXT_OK);
        } else {
            assert_int_equal(body_len, parts[i].units);
            assert_int_equal(smpp_text_decode(enc, body, body_len, joined + pos,
                                              sizeof joined - pos, &m), SMPP_TEXT_OK);
        }
        assert_int_equal(m, parts[i].text_len);
        assert_memory_equal(joined + pos, text + parts[i].text_off, m);
        pos += m;
    }
    assert_int_equal(pos, strlen(text));
    assert_memory_equal(joined, text, pos);
}

static size_t do_split(const char *text, enum smpp_text_enc enc, enum smpp_text_split_mode mode,
                       uint16_t ref)
{
    struct smpp_text_split_req req = {.enc = enc, .mode = mode, .ref = ref};
    size_t n = 0;
    assert_int_equal(smpp_text_split(U8(text), strlen(text), &req, parts, SMPP_TEXT_MAX_PARTS, &n,
                                     NULL), SMPP_TEXT_OK);
    check_rejoin(text, enc, n);
    return n;
}

static void test_split_gsm_boundaries(void **state)
{
    (void)state;
    static char buf[4096];
    fill(buf, "a", 160);
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7, SMPP_SPLIT_UDH8, 7), 1);
    assert_int_equal(parts[0].udh_len, 0);
    assert_int_equal(parts[0].len, 160);
    fill(buf, "a", 161);
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7, SMPP_SPLIT_UDH8, 0x1234), 2);
    assert_int_equal(parts[0].udh_len, 6);
    static const uint8_t udh1[] = {0x05, 0x00, 0x03, 0x34, 0x02, 0x01};
    static const uint8_t udh2[] = {0x05, 0x00, 0x03, 0x34, 0x02, 0x02};
    assert_memory_equal(parts[0].data, udh1, 6);
    assert_memory_equal(parts[1].data, udh2, 6);
    assert_int_equal(parts[0].units, 153);
    assert_int_equal(parts[0].len, 159);
    assert_int_equal(parts[1].units, 8);
    /* exactly 2 * 153 -> 2 parts; 2 * 153 + 1 (the 154th in part 2) -> 3 */
    fill(buf, "b", 306);
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7, SMPP_SPLIT_UDH8, 1), 2);
    assert_int_equal(parts[1].units, 153);
    fill(buf, "b", 307);
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7, SMPP_SPLIT_UDH8, 1), 3);
    assert_int_equal(parts[2].units, 1);
    /* ESC pair straddling 153: 152 'a' + '€' -> part 1 holds 152 septets */
    fill(buf, "a", 152);
    strcat(buf, "€bbbbbbbbbb");
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7, SMPP_SPLIT_UDH8, 1), 2);
    assert_int_equal(parts[0].units, 152);
    assert_int_equal(parts[0].len, 6 + 152);
    assert_int_equal(parts[1].data[6], 0x1B);
    assert_int_equal(parts[1].data[7], 0x65);
    assert_int_equal(parts[1].units, 12);
    /* 151 'a' + '€': the pair ends exactly at 153 and stays in part 1 */
    fill(buf, "a", 151);
    strcat(buf, "€bbbbbbbbbb");
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7, SMPP_SPLIT_UDH8, 1), 2);
    assert_int_equal(parts[0].units, 153);
    assert_int_equal(parts[0].data[6 + 152], 0x65);
    /* 16-bit reference: 152 per part, UDH 06 08 04 */
    fill(buf, "c", 305);
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7, SMPP_SPLIT_UDH16, 0xBEEF), 3);
    static const uint8_t udh16[] = {0x06, 0x08, 0x04, 0xBE, 0xEF, 0x03, 0x01};
    assert_memory_equal(parts[0].data, udh16, 7);
    assert_int_equal(parts[0].units, 152);
    assert_int_equal(parts[1].units, 152);
    assert_int_equal(parts[2].units, 1);
    /* SAR: no UDH, same sizes as UDH8 */
    fill(buf, "d", 161);
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7, SMPP_SPLIT_SAR, 0xABCD), 2);
    assert_int_equal(parts[0].udh_len, 0);
    assert_int_equal(parts[0].len, 153);
    assert_int_equal(parts[0].ref, 0xABCD);
}

static void test_split_ucs2_boundaries(void **state)
{
    (void)state;
    static char buf[4096];
    fill(buf, "ж", 70);
    assert_int_equal(do_split(buf, SMPP_ENC_UCS2, SMPP_SPLIT_UDH8, 9), 1);
    assert_int_equal(parts[0].len, 140);
    fill(buf, "ж", 71);
    assert_int_equal(do_split(buf, SMPP_ENC_UCS2, SMPP_SPLIT_UDH8, 9), 2);
    assert_int_equal(parts[0].chars, 67);
    assert_int_equal(parts[0].len, 6 + 134);
    assert_int_equal(parts[1].chars, 4);
    /* surrogate pair straddling 67: 66 chars + emoji -> emoji starts part 2 */
    fill(buf, "ө", 66);
    strcat(buf, "😀 Кызмат көрсөтүү борбору");
    assert_int_equal(do_split(buf, SMPP_ENC_UCS2, SMPP_SPLIT_UDH8, 9), 2);
    assert_int_equal(parts[0].chars, 66);
    assert_int_equal(parts[0].units, 132);
    assert_int_equal(parts[1].data[6], 0xD8);
    assert_int_equal(parts[1].data[7], 0x3D);
    assert_int_equal(parts[1].data[8], 0xDE);
    assert_int_equal(parts[1].data[9], 0x00);
    /* 16-bit reference: 66 chars per part */
    fill(buf, "ү", 133);
    assert_int_equal(do_split(buf, SMPP_ENC_UCS2, SMPP_SPLIT_UDH16, 2), 3);
    assert_int_equal(parts[0].chars, 66);
    assert_int_equal(parts[0].len, 7 + 132);
    assert_int_equal(parts[2].chars, 1);
    /* Latin-1: 140 single, 134 per UDH8 part, 133 per UDH16 part */
    fill(buf, "é", 141);
    assert_int_equal(do_split(buf, SMPP_ENC_LATIN1, SMPP_SPLIT_UDH8, 2), 2);
    assert_int_equal(parts[0].units, 134);
    assert_int_equal(do_split(buf, SMPP_ENC_LATIN1, SMPP_SPLIT_UDH16, 2), 2);
    assert_int_equal(parts[0].units, 133);
}

static void test_split_packed_and_payload(void **state)
{
    (void)state;
    static char buf[4096];
    /* packed parts: UDH + 1 fill bit + 153 septets = 6 + 134 octets */
    fill(buf, "hello", 40);
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7_PACKED, SMPP_SPLIT_UDH8, 5), 2);
    assert_int_equal(parts[0].len, 6 + 134);
    assert_int_equal(parts[0].data[6] & 1, 0); /* the fill bit */
    assert_int_equal(parts[0].data[6], 0xD0);  /* 'h' << 1 */
    fill(buf, "hello", 32);
    assert_int_equal(do_split(buf, SMPP_ENC_GSM7_PACKED, SMPP_SPLIT_UDH8, 5), 1);
    assert_int_equal(parts[0].len, 140);
    /* payload: the whole text in the caller's buffer */
    fill(buf, "Кызмат ", 100);
    uint8_t payload[2000];
    struct smpp_text_split_req req = {.enc = SMPP_ENC_UCS2, .mode = SMPP_SPLIT_PAYLOAD,
                                      .payload = payload, .payload_cap = sizeof payload};
    size_t n = 0;
    assert_int_equal(smpp_text_split(U8(buf), strlen(buf), &req, parts, 1, &n, NULL), SMPP_TEXT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].len, 1400);
    assert_int_equal(parts[0].total, 1);
    assert_int_equal(payload[0], 0x04);
    assert_int_equal(payload[1], 0x1A);
    req.payload_cap = 1399;
    assert_int_equal(smpp_text_split(U8(buf), strlen(buf), &req, parts, 1, &n, NULL),
                     SMPP_TEXT_ENOSPACE);
}

static void test_split_errors(void **state)
{
    (void)state;
    static char buf[4096];
    fill(buf, "x", 1000);
    struct smpp_text_split_req req = {.enc = SMPP_ENC_GSM7, .mode = SMPP_SPLIT_UDH8};
    size_t n = 0, off = 0;
    assert_int_equal(smpp_text_split(U8(buf), 1000, &req, parts, 3, &n, NULL), SMPP_TEXT_ETOOMANY);
    assert_int_equal(n, 7);
    assert_int_equal(smpp_text_split(U8(buf), 1000, &req, parts, 7, &n, NULL), SMPP_TEXT_OK);
    assert_int_equal(smpp_text_split(U8(buf), 1000, &req, parts, 0, &n, NULL), SMPP_TEXT_EARG);
    assert_int_equal(smpp_text_split(U8(buf), 1000, &req, parts, 256, &n, NULL), SMPP_TEXT_EARG);
    assert_int_equal(smpp_text_split(U8("ab\xC0\x80"), 4, &req, parts, 3, &n, &off), SMPP_TEXT_EUTF8);
    assert_int_equal(off, 2);
    assert_int_equal(smpp_text_split(U8("abcж"), LEN("abcж"), &req, parts, 3, &n, &off),
                     SMPP_TEXT_EUNREPR);
    assert_int_equal(off, 3);
    /* 255 parts is the ceiling */
    static char big[160 * 256 + 1];
    fill(big, "z", 153 * 255);
    assert_int_equal(smpp_text_split(U8(big), 153 * 255, &req, parts, 255, &n, NULL), SMPP_TEXT_OK);
    assert_int_equal(n, 255);
    assert_int_equal(parts[254].seq, 255);
    assert_int_equal(parts[254].total, 255);
    fill(big, "z", 153 * 255 + 1);
    assert_int_equal(smpp_text_split(U8(big), 153 * 255 + 1, &req, parts, 255, &n, NULL),
                     SMPP_TEXT_ETOOMANY);
    assert_int_equal(n, 256);
    assert_string_equal(smpp_text_strerror(SMPP_TEXT_ETOOMANY), "text needs more parts than allowed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_gsm_basic_table),
        cmocka_unit_test(test_gsm_extension_table),
        cmocka_unit_test(test_gsm_exhaustive),
        cmocka_unit_test(test_gsm_not_representable),
        cmocka_unit_test(test_gsm_lenient_decode),
        cmocka_unit_test(test_ucs2_kyrgyz),
        cmocka_unit_test(test_ucs2_surrogates),
        cmocka_unit_test(test_8bit),
        cmocka_unit_test(test_nospace),
        cmocka_unit_test(test_pack_vectors),
        cmocka_unit_test(test_pack_fill_bits),
        cmocka_unit_test(test_pack_ussd_cr),
        cmocka_unit_test(test_dcs_table),
        cmocka_unit_test(test_decode_dcs),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_ussd_fit),
        cmocka_unit_test(test_split_gsm_boundaries),
        cmocka_unit_test(test_split_ucs2_boundaries),
        cmocka_unit_test(test_split_packed_and_payload),
        cmocka_unit_test(test_split_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
