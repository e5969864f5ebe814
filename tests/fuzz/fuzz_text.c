/*
 * tests/fuzz/fuzz_text.c — libFuzzer target for smpp/text.[ch].
 *
 * Input layout: byte 0 = flags for decode-by-dcs and a budget seed,
 * byte 1 = data_coding, the rest = payload (used both as wire octets and,
 * when it is valid UTF-8, as application text).  Checks, with abort() on
 * any broken property:
 *   - decoding arbitrary octets in every encoding and by data_coding never
 *     fails except EDCS, stays within SMPP_TEXT_DECODE_MAX, and yields valid
 *     UTF-8;
 *   - validation agrees with kz_utf8_next() walking the same bytes;
 *   - valid UTF-8 encoded in any encoding that accepts it decodes back to the
 *     identical bytes (packed GSM: except the documented <CR><CR> case);
 *   - smpp_text_choose() picks an encoding that really encodes the text, and
 *     its units match the encoded length;
 *   - smpp_text_fit() cuts at a char boundary, the prefix fits, one more
 *     char would not;
 *   - smpp_text_split() parts re-join to the whole text in every mode, never
 *     exceed the part capacity, and carry correct seq/total;
 *   - gsm7 unpack(pack(x)) == x & 0x7F for any septets and fill bits.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_text.
 *
 * May call: smpp/text.h, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "smpp/text.h"
#include "tests/fuzz/fuzz.h"

#define MAX_IN 2048

static uint8_t out_buf[SMPP_TEXT_DECODE_MAX(MAX_IN)];
static uint8_t enc_buf[4 * MAX_IN + 16];
static uint8_t dec_buf[SMPP_TEXT_DECODE_MAX(4 * MAX_IN + 16)];
static uint8_t payload[4 * MAX_IN + 16];
static struct smpp_text_part parts[SMPP_TEXT_MAX_PARTS];

static const enum smpp_text_enc all_text[] = {
    SMPP_ENC_GSM7, SMPP_ENC_GSM7_PACKED, SMPP_ENC_IA5,
    SMPP_ENC_LATIN1, SMPP_ENC_ISO8859_5, SMPP_ENC_UCS2,
};
#define N_TEXT (sizeof all_text / sizeof all_text[0])

static void decode_anything(const uint8_t *flags_dcs, const uint8_t *in, size_t n)
{
    size_t m;
    for (size_t e = 0; e < N_TEXT; e++) {
        CHECK(smpp_text_decode(all_text[e], in, n, out_buf, sizeof out_buf, &m) == SMPP_TEXT_OK);
        CHECK(m <= SMPP_TEXT_DECODE_MAX(n));
        CHECK(smpp_text_utf8_validate(out_buf, m, NULL) == SMPP_TEXT_OK);
    }
    CHECK(smpp_text_decode(SMPP_ENC_HEX, in, n, out_buf, sizeof out_buf, &m) == SMPP_TEXT_OK);
    CHECK(m == 2 * n);
    enum smpp_text_enc used = SMPP_ENC_NONE;
    int rc = smpp_text_decode_dcs(flags_dcs[1], flags_dcs[0], in, n, out_buf, sizeof out_buf, &m,
                                  &used);
    CHECK(rc == SMPP_TEXT_OK || rc == SMPP_TEXT_EDCS);
    if (rc == SMPP_TEXT_OK) {
        CHECK(smpp_text_utf8_validate(out_buf, m, NULL) == SMPP_TEXT_OK);
        CHECK(used != SMPP_ENC_NONE && used != SMPP_ENC_BINARY);
    } else {
        CHECK(!(flags_dcs[0] & SMPP_TEXT_DCS_HEX_FALLBACK));
    }
    /* a too-small buffer is an error, never an overrun */
    if (n > 0)
        (void)smpp_text_decode(SMPP_ENC_UCS2, in, n, out_buf, n / 2, &m);
}

static void pack_roundtrip(const uint8_t *in, size_t n, unsigned fill)
{
    size_t m, k;
    CHECK(smpp_text_gsm7_pack(in, n, fill, enc_buf, sizeof enc_buf, &m) == SMPP_TEXT_OK);
    CHECK(m == (fill + 7 * n + 7) / 8);
    CHECK(smpp_text_gsm7_unpack(enc_buf, m, fill, n, dec_buf, sizeof dec_buf, &k) == SMPP_TEXT_OK);
    CHECK(k == n);
    for (size_t i = 0; i < n; i++)
        CHECK(dec_buf[i] == (in[i] & 0x7F));
    if (fill == 0) {
        CHECK(smpp_text_gsm7_pack_ussd(in, n, enc_buf, sizeof enc_buf, &m) == SMPP_TEXT_OK);
        CHECK(smpp_text_gsm7_unpack_ussd(enc_buf, m, dec_buf, sizeof dec_buf, &k) == SMPP_TEXT_OK);
        CHECK(k == n || (k == n + 1 && n % 8 == 0 && n > 0 && (in[n - 1] & 0x7F) == 0x0D));
        for (size_t i = 0; i < n; i++)
            CHECK(dec_buf[i] == (in[i] & 0x7F));
    }
}

/* Does text end in a way that makes packed GSM add an undroppable <CR>? */
static int packed_cr_case(const uint8_t *t, size_t n)
{
    size_t septets = 0;
    if (smpp_text_encode(SMPP_ENC_GSM7, t, n, enc_buf, sizeof enc_buf, &septets, NULL) != SMPP_TEXT_OK)
        return 0;
    return septets > 0 && septets % 8 == 0 && t[n - 1] == '\r';
}

static void roundtrips(const uint8_t *t, size_t n)
{
    size_t chars = 0;
    CHECK(smpp_text_utf8_chars(t, n, &chars, NULL) == SMPP_TEXT_OK);
    for (size_t e = 0; e < N_TEXT; e++) {
        size_t m, k, off = (size_t)-1;
        int rc = smpp_text_encode(all_text[e], t, n, enc_buf, sizeof enc_buf, &m, &off);
        if (rc == SMPP_TEXT_EUNREPR) {
            CHECK(off < n);
            uint32_t cp;
            CHECK(kz_utf8_next(t + off, n - off, &cp) > 0);
            CHECK(smpp_text_char_units(all_text[e], cp) == 0);
            continue;
        }
        CHECK(rc == SMPP_TEXT_OK);
        CHECK(smpp_text_decode(all_text[e], enc_buf, m, dec_buf, sizeof dec_buf, &k) == SMPP_TEXT_OK);
        if (all_text[e] == SMPP_ENC_GSM7_PACKED && packed_cr_case(t, n)) {
            CHECK(k == n + 1 && dec_buf[n] == '\r');
            k = n;
        }
        CHECK(k == n);
        CHECK(memcmp(dec_buf, t, n) == 0);
    }
}

static void choose_fit_split(const uint8_t *t, size_t n, uint8_t seed)
{
    struct smpp_text_choice c;
    CHECK(smpp_text_choose(t, n, seed & 1 ? SMPP_TEXT_ALLOW_LATIN1 : 0, &c, NULL) == SMPP_TEXT_OK);
    CHECK(c.enc == SMPP_ENC_GSM7 || c.enc == SMPP_ENC_UCS2 ||
          (c.enc == SMPP_ENC_LATIN1 && (seed & 1)));
    size_t m;
    CHECK(smpp_text_encode(c.enc, t, n, enc_buf, sizeof enc_buf, &m, NULL) == SMPP_TEXT_OK);
    CHECK(m == c.units && m == c.octets);
    CHECK(c.fit_chars <= c.chars);
    CHECK((c.parts == 1) == (c.units <= c.single_units));

    /* USSD fit in the chosen encoding (GSM packed as on USSD links) */
    enum smpp_text_enc fe = c.enc == SMPP_ENC_GSM7 ? SMPP_ENC_GSM7_PACKED : c.enc;
    size_t budget = (size_t)(seed >> 1) + 1;
    struct smpp_text_fit f;
    CHECK(smpp_text_fit(t, n, fe, budget, &f, NULL) == SMPP_TEXT_OK);
    CHECK(f.cut_bytes <= n);
    CHECK(smpp_text_utf8_validate(t, f.cut_bytes, NULL) == SMPP_TEXT_OK); /* char boundary */
    CHECK(f.cut_octets <= budget);
    CHECK(f.fits == (f.cut_bytes == n));
    CHECK(smpp_text_encode(fe, t, f.cut_bytes, enc_buf, sizeof enc_buf, &m, NULL) == SMPP_TEXT_OK);
    CHECK(m == f.cut_octets);
    if (!f.fits) {
        uint32_t cp;
        size_t k = kz_utf8_next(t + f.cut_bytes, n - f.cut_bytes, &cp);
        CHECK(k > 0);
        CHECK(smpp_text_encode(fe, t, f.cut_bytes + k, enc_buf, sizeof enc_buf, &m, NULL) ==
              SMPP_TEXT_OK);
        CHECK(m > budget);
    }

    /* split in every mode, in the chosen encoding and its packed form */
    static const enum smpp_text_split_mode modes[] = {SMPP_SPLIT_UDH8, SMPP_SPLIT_UDH16,
                                                      SMPP_SPLIT_SAR, SMPP_SPLIT_PAYLOAD};
    enum smpp_text_enc encs[2] = {c.enc, fe};
    for (size_t ei = 0; ei < 2; ei++) {
        for (size_t mi = 0; mi < 4; mi++) {
            struct smpp_text_split_req req = {.enc = encs[ei], .mode = modes[mi],
                                              .ref = (uint16_t)(seed * 257u),
                                              .payload = payload, .payload_cap = sizeof payload};
            size_t np = 0;
            size_t maxp = (seed & 2) ? 3 : SMPP_TEXT_MAX_PARTS;
            int rc = smpp_text_split(t, n, &req, parts, maxp, &np, NULL);
            if (rc == SMPP_TEXT_ETOOMANY) {
                CHECK(np > maxp);
                continue;
            }
            CHECK(rc == SMPP_TEXT_OK);
            CHECK(np >= 1 && np <= maxp);
            size_t pos = 0;
            for (size_t i = 0; i < np; i++) {
                const struct smpp_text_part *p = &parts[i];
                CHECK(p->seq == i + 1 && p->total == np);
                CHECK(p->text_off == pos);
                size_t cap = smpp_text_part_units(req.enc, req.mode, np == 1);
                if (req.mode != SMPP_SPLIT_PAYLOAD) {
                    CHECK(p->units <= cap);
                    CHECK(p->len <= SMPP_TEXT_PART_DATA);
                    if (np == 1)
                        CHECK(p->udh_len == 0);
                }
                /* the slice re-encodes to the part body */
                size_t body_len = p->len - p->udh_len;
                const uint8_t *body = req.mode == SMPP_SPLIT_PAYLOAD ? payload
                                                                      : p->data + p->udh_len;
                uint8_t *dst = dec_buf;
                size_t sl;
                if (req.enc == SMPP_ENC_GSM7_PACKED) {
                    size_t ns;
                    unsigned fill = smpp_text_udh_fill_bits(p->udh_len);
                    if (req.mode == SMPP_SPLIT_PAYLOAD) {
                        CHECK(smpp_text_decode(req.enc, body, body_len, dst, sizeof dec_buf,
                                               &sl) == SMPP_TEXT_OK);
                        if (packed_cr_case(t, n))
                            sl--;
                    } else {
                        CHECK(smpp_text_gsm7_unpack(body, body_len, fill, p->units, out_buf,
                                                    sizeof out_buf, &ns) == SMPP_TEXT_OK);
                        CHECK(ns == p->units);
                        CHECK(smpp_text_decode(SMPP_ENC_GSM7, out_buf, ns, dst, sizeof dec_buf,
                                               &sl) == SMPP_TEXT_OK);
                    }
                } else {
                    CHECK(body_len == p->units);
                    CHECK(smpp_text_decode(req.enc, body, body_len, dst, sizeof dec_buf, &sl) ==
                          SMPP_TEXT_OK);
                }
                CHECK(sl == p->text_len);
                CHECK(memcmp(dst, t + pos, sl) == 0);
                pos += sl;
            }
            CHECK(pos == n);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const uint8_t *body = data + 2;
    size_t n = size - 2;
    if (n > MAX_IN)
        n = MAX_IN;
    decode_anything(data, body, n);
    pack_roundtrip(body, n, data[0] % 7);

    /* validation must agree with a walk of utf8_next */
    size_t off = (size_t)-1, i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = kz_utf8_next(body + i, n - i, &cp);
        if (k == 0)
            break;
        CHECK(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF));
        i += k;
    }
    int rc = smpp_text_utf8_validate(body, n, &off);
    CHECK((rc == SMPP_TEXT_OK) == (i == n));
    if (rc != SMPP_TEXT_OK) {
        CHECK(off == i);
        return 0;
    }
    roundtrips(body, n);
    choose_fit_split(body, n, data[0]);
    return 0;
}
