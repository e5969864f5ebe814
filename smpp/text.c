/*
 * smpp/text.c — text encodings for SMS and USSD (see smpp/text.h for the
 * contract, the units and the GSM packing rules).
 *
 * Design: every conversion walks the UTF-8 input one code point at a time
 * with kz_utf8_next() and asks smpp_text_char_units() what the char
 * costs in the target encoding, so validation, counting, choosing, fitting
 * and splitting all agree on the same numbers.  Packed GSM goes through one
 * small bit accumulator (struct packer) instead of index arithmetic.
 *
 * The GSM 03.38 tables and the UTF-8 decoder are the floor's (base/gsm0338.c,
 * base/utf8.c), shared with the USSD screen fitter.
 *
 * Owns: nothing.  May call: base/, libc (memcpy, memset).
 */
#include "smpp/text.h"

#include <string.h>

#include "base/gsm0338.h"
#include "base/utf8.h"

#define UCS_REPLACEMENT KZ_UCS_REPLACEMENT

/* ---- status and names ---------------------------------------------------- */

const char *smpp_text_strerror(int status)
{
    switch (status) {
    case SMPP_TEXT_OK: return "ok";
    case SMPP_TEXT_EUTF8: return "invalid UTF-8";
    case SMPP_TEXT_EUNREPR: return "character not representable in the target encoding";
    case SMPP_TEXT_ENOSPACE: return "output buffer too small";
    case SMPP_TEXT_EDCS: return "unknown or non-text data_coding";
    case SMPP_TEXT_ETOOMANY: return "text needs more parts than allowed";
    case SMPP_TEXT_EARG: return "bad argument";
    default: return "unknown status";
    }
}

const char *smpp_text_enc_name(enum smpp_text_enc enc)
{
    switch (enc) {
    case SMPP_ENC_NONE: return "NONE";
    case SMPP_ENC_GSM7: return "GSM7";
    case SMPP_ENC_GSM7_PACKED: return "GSM7_PACKED";
    case SMPP_ENC_IA5: return "IA5";
    case SMPP_ENC_LATIN1: return "LATIN1";
    case SMPP_ENC_ISO8859_5: return "ISO8859_5";
    case SMPP_ENC_UCS2: return "UCS2";
    case SMPP_ENC_BINARY: return "BINARY";
    case SMPP_ENC_HEX: return "HEX";
    }
    return "?";
}

/* ---- UTF-8 (the decoder itself is base/utf8.c) -------------------------- */

int smpp_text_utf8_chars(const uint8_t *s, size_t len, size_t *chars, size_t *err_off)
{
    return kz_utf8_count(s, len, chars, err_off) ? SMPP_TEXT_OK : SMPP_TEXT_EUTF8;
}

int smpp_text_utf8_validate(const uint8_t *s, size_t len, size_t *err_off)
{
    return smpp_text_utf8_chars(s, len, NULL, err_off);
}

/* Append cp as UTF-8 at out[*pos], cap checked.  cp must be a scalar value. */
static int utf8_put(uint32_t cp, uint8_t *out, size_t cap, size_t *pos)
{
    return kz_utf8_put(cp, out, cap, pos) == 0 ? SMPP_TEXT_OK : SMPP_TEXT_ENOSPACE;
}

/* ---- single characters ----------------------------------------------------- */

unsigned smpp_text_gsm7_from_ucs(uint32_t cp, uint8_t out[2])
{
    return kz_gsm_from_ucs(cp, out);
}

/* ISO-8859-5 octet of cp, or -1. */
static int iso8859_5_from_ucs(uint32_t cp)
{
    if (cp <= 0xA0 || cp == 0xAD)
        return (int)cp;
    if (cp >= 0x0401 && cp <= 0x040C)
        return (int)(cp - 0x0401 + 0xA1);
    if (cp >= 0x040E && cp <= 0x044F)
        return (int)(cp - 0x040E + 0xAE);
    if (cp == 0x2116)
        return 0xF0;
    if (cp >= 0x0451 && cp <= 0x045C)
        return (int)(cp - 0x0451 + 0xF1);
    if (cp == 0x00A7)
        return 0xFD;
    if (cp == 0x045E || cp == 0x045F)
        return (int)(cp - 0x045E + 0xFE);
    return -1;
}

static uint32_t iso8859_5_to_ucs(uint8_t b)
{
    if (b <= 0xA0 || b == 0xAD)
        return b;
    if (b <= 0xAC)
        return 0x0401u + (b - 0xA1u);
    if (b <= 0xEF)
        return 0x040Eu + (b - 0xAEu);
    if (b == 0xF0)
        return 0x2116;
    if (b <= 0xFC)
        return 0x0451u + (b - 0xF1u);
    if (b == 0xFD)
        return 0x00A7;
    return 0x045Eu + (b - 0xFEu);
}

unsigned smpp_text_char_units(enum smpp_text_enc enc, uint32_t cp)
{
    uint8_t g[2];
    switch (enc) {
    case SMPP_ENC_GSM7:
    case SMPP_ENC_GSM7_PACKED:
        return smpp_text_gsm7_from_ucs(cp, g);
    case SMPP_ENC_IA5:
        return cp < 0x80 ? 1 : 0;
    case SMPP_ENC_LATIN1:
        return cp < 0x100 ? 1 : 0;
    case SMPP_ENC_ISO8859_5:
        return iso8859_5_from_ucs(cp) >= 0 ? 1 : 0;
    case SMPP_ENC_UCS2:
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return 0;
        return cp < 0x10000 ? 2 : (cp <= 0x10FFFF ? 4 : 0);
    default:
        return 0;
    }
}

static int is_text_enc(enum smpp_text_enc enc)
{
    return enc == SMPP_ENC_GSM7 || enc == SMPP_ENC_GSM7_PACKED || enc == SMPP_ENC_IA5 ||
           enc == SMPP_ENC_LATIN1 || enc == SMPP_ENC_ISO8859_5 || enc == SMPP_ENC_UCS2;
}

/* ---- GSM 7-bit packing ----------------------------------------------------- */

/* LSB-first septet packer into out[0..cap). */
struct packer {
    uint8_t *out;
    size_t cap, len;
    uint32_t acc;   /* pending bits, LSB first */
    unsigned nbits; /* how many of acc's bits are pending (< 8 between calls) */
    int overflow;
};

static void packer_init(struct packer *p, uint8_t *out, size_t cap, unsigned fill_bits)
{
    p->out = out, p->cap = cap, p->len = 0;
    p->acc = 0, p->nbits = fill_bits, p->overflow = 0;
}

static void packer_put(struct packer *p, uint8_t septet)
{
    p->acc |= (uint32_t)(septet & 0x7F) << p->nbits;
    p->nbits += 7;
    while (p->nbits >= 8) {
        if (p->len < p->cap)
            p->out[p->len++] = (uint8_t)(p->acc & 0xFF);
        else
            p->overflow = 1;
        p->acc >>= 8;
        p->nbits -= 8;
    }
}

static int packer_finish(struct packer *p, size_t *out_len)
{
    if (p->nbits > 0) {
        if (p->len < p->cap)
            p->out[p->len++] = (uint8_t)(p->acc & 0xFF);
        else
            p->overflow = 1;
        p->nbits = 0;
    }
    if (p->overflow)
        return SMPP_TEXT_ENOSPACE;
    *out_len = p->len;
    return SMPP_TEXT_OK;
}

unsigned smpp_text_udh_fill_bits(size_t udh_octets)
{
    return (unsigned)((7 - (udh_octets * 8) % 7) % 7);
}

int smpp_text_gsm7_pack(const uint8_t *septets, size_t n, unsigned fill_bits,
                        uint8_t *out, size_t cap, size_t *out_len)
{
    if (fill_bits > 6 || (n > 0 && !septets) || !out_len || (cap > 0 && !out))
        return SMPP_TEXT_EARG;
    struct packer p;
    packer_init(&p, out, cap, fill_bits);
    for (size_t i = 0; i < n; i++)
        packer_put(&p, septets[i]);
    return packer_finish(&p, out_len);
}

int smpp_text_gsm7_unpack(const uint8_t *in, size_t in_len, unsigned fill_bits,
                          size_t n_septets, uint8_t *out, size_t cap, size_t *out_len)
{
    if (fill_bits > 6 || (in_len > 0 && !in) || !out_len || (cap > 0 && !out))
        return SMPP_TEXT_EARG;
    size_t bits = in_len * 8;
    size_t avail = bits >= fill_bits ? (bits - fill_bits) / 7 : 0;
    size_t n = n_septets < avail ? n_septets : avail;
    if (n > cap)
        return SMPP_TEXT_ENOSPACE;
    for (size_t i = 0; i < n; i++) {
        size_t off = fill_bits + 7 * i;
        size_t o = off / 8;
        unsigned sh = (unsigned)(off % 8);
        unsigned v = in[o] >> sh;
        if (sh > 1) /* the septet continues into the next octet */
            v |= (unsigned)in[o + 1] << (8 - sh);
        out[i] = (uint8_t)(v & 0x7F);
    }
    *out_len = n;
    return SMPP_TEXT_OK;
}

/* Does the USSD rule want a padding <CR> after these n septets (last one = last)? */
static int ussd_needs_cr(size_t n, uint8_t last)
{
    return n % 8 == 7 || (n > 0 && n % 8 == 0 && last == KZ_GSM_CR);
}

int smpp_text_gsm7_pack_ussd(const uint8_t *septets, size_t n,
                             uint8_t *out, size_t cap, size_t *out_len)
{
    if ((n > 0 && !septets) || !out_len || (cap > 0 && !out))
        return SMPP_TEXT_EARG;
    struct packer p;
    packer_init(&p, out, cap, 0);
    for (size_t i = 0; i < n; i++)
        packer_put(&p, septets[i]);
    if (ussd_needs_cr(n, n ? (septets[n - 1] & 0x7F) : 0))
        packer_put(&p, KZ_GSM_CR);
    return packer_finish(&p, out_len);
}

int smpp_text_gsm7_unpack_ussd(const uint8_t *in, size_t in_len,
                               uint8_t *out, size_t cap, size_t *out_len)
{
    int rc = smpp_text_gsm7_unpack(in, in_len, 0, SMPP_TEXT_SEPTETS_ALL, out, cap, out_len);
    if (rc != SMPP_TEXT_OK)
        return rc;
    if (in_len % 7 == 0 && *out_len > 0 && out[*out_len - 1] == KZ_GSM_CR)
        (*out_len)--;
    return SMPP_TEXT_OK;
}

/* ---- encode (strict) ------------------------------------------------------- */

/* A text that cannot go on from octet i: say where (err_off may be NULL)
 * and hand back the status, so every loop below fails the same way. */
static int fail_at(int rc, size_t i, size_t *err_off)
{
    if (err_off)
        *err_off = i;
    return rc;
}

int smpp_text_encode(enum smpp_text_enc enc, const uint8_t *utf8, size_t len,
                     uint8_t *out, size_t cap, size_t *out_len, size_t *err_off)
{
    if (!is_text_enc(enc) || (len > 0 && !utf8) || !out_len || (cap > 0 && !out))
        return SMPP_TEXT_EARG;
    struct packer p;
    packer_init(&p, out, cap, 0);
    size_t pos = 0, n_septets = 0;
    uint8_t last_septet = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = kz_utf8_next(utf8 + i, len - i, &cp);
        if (k == 0)
            return fail_at(SMPP_TEXT_EUTF8, i, err_off);
        uint8_t buf[4];
        size_t nb = 0;
        switch (enc) {
        case SMPP_ENC_GSM7:
        case SMPP_ENC_GSM7_PACKED:
            nb = smpp_text_gsm7_from_ucs(cp, buf);
            break;
        case SMPP_ENC_IA5:
        case SMPP_ENC_LATIN1:
            if (smpp_text_char_units(enc, cp)) {
                buf[0] = (uint8_t)cp;
                nb = 1;
            }
            break;
        case SMPP_ENC_ISO8859_5: {
            int b = iso8859_5_from_ucs(cp);
            if (b >= 0) {
                buf[0] = (uint8_t)b;
                nb = 1;
            }
            break;
        }
        default: /* UCS2 (is_text_enc() checked the rest) */
            if (cp < 0x10000) {
                buf[0] = (uint8_t)(cp >> 8), buf[1] = (uint8_t)cp;
                nb = 2;
            } else {
                uint32_t v = cp - 0x10000;
                uint32_t hi = 0xD800 + (v >> 10), lo = 0xDC00 + (v & 0x3FF);
                buf[0] = (uint8_t)(hi >> 8), buf[1] = (uint8_t)hi;
                buf[2] = (uint8_t)(lo >> 8), buf[3] = (uint8_t)lo;
                nb = 4;
            }
            break;
        }
        if (nb == 0)
            return fail_at(SMPP_TEXT_EUNREPR, i, err_off);
        if (enc == SMPP_ENC_GSM7_PACKED) {
            for (size_t j = 0; j < nb; j++)
                packer_put(&p, buf[j]);
            n_septets += nb;
            last_septet = buf[nb - 1];
        } else {
            if (cap - pos < nb)
                return SMPP_TEXT_ENOSPACE;
            memcpy(out + pos, buf, nb);
            pos += nb;
        }
        i += k;
    }
    if (enc == SMPP_ENC_GSM7_PACKED) {
        if (ussd_needs_cr(n_septets, last_septet))
            packer_put(&p, KZ_GSM_CR);
        return packer_finish(&p, out_len);
    }
    *out_len = pos;
    return SMPP_TEXT_OK;
}

/* ---- decode (lenient) ------------------------------------------------------ */

/* Septet i of packed GSM (fill 0) in in[]; the caller makes sure the
 * 7*(i+1) bits are there. */
static uint8_t septet_at(const uint8_t *in, size_t i)
{
    size_t off = 7 * i;
    size_t o = off / 8;
    unsigned sh = (unsigned)(off % 8);
    unsigned v = in[o] >> sh;
    if (sh > 1)
        v |= (unsigned)in[o + 1] << (8 - sh);
    return (uint8_t)(v & 0x7F);
}

/* n septets -> UTF-8; unpacked (one per octet of in) or packed (fill 0).
 * Unpacked bytes >= 0x80 are not septets: U+FFFD.  ESC + a code not in the
 * extension table shows the basic-table char (TS 23.038 §6.2.1.1); ESC ESC
 * and a trailing ESC show a space. */
static int gsm_to_utf8(const uint8_t *in, size_t n, int packed,
                       uint8_t *out, size_t cap, size_t *out_len)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp;
        uint8_t s = packed ? septet_at(in, i) : in[i];
        if (s >= 0x80) {
            cp = UCS_REPLACEMENT;
        } else if (s == KZ_GSM_ESC) {
            if (i + 1 >= n) {
                cp = 0x20;
            } else {
                i++;
                uint8_t c = packed ? septet_at(in, i) : in[i];
                if (c >= 0x80) {
                    cp = UCS_REPLACEMENT;
                } else {
                    cp = kz_gsm_ext_to_ucs(c);
                    if (cp == 0)
                        cp = kz_gsm_to_ucs(c); /* also ESC ESC -> space */
                }
            }
        } else {
            cp = kz_gsm_to_ucs(s);
        }
        int rc = utf8_put(cp, out, cap, &pos);
        if (rc != SMPP_TEXT_OK)
            return rc;
    }
    *out_len = pos;
    return SMPP_TEXT_OK;
}

static int ucs2_to_utf8(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t pos = 0;
    size_t i = 0;
    while (i + 1 < n) {
        uint32_t u = ((uint32_t)in[i] << 8) | in[i + 1];
        uint32_t cp;
        i += 2;
        if (u >= 0xD800 && u <= 0xDBFF) {
            uint32_t lo = i + 1 < n ? (((uint32_t)in[i] << 8) | in[i + 1]) : 0;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                i += 2;
            } else {
                cp = UCS_REPLACEMENT; /* unpaired high surrogate; next unit read normally */
            }
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            cp = UCS_REPLACEMENT; /* unpaired low surrogate */
        } else {
            cp = u;
        }
        int rc = utf8_put(cp, out, cap, &pos);
        if (rc != SMPP_TEXT_OK)
            return rc;
    }
    if (i < n) { /* odd trailing octet */
        int rc = utf8_put(UCS_REPLACEMENT, out, cap, &pos);
        if (rc != SMPP_TEXT_OK)
            return rc;
    }
    *out_len = pos;
    return SMPP_TEXT_OK;
}

static int hex_to_utf8(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    static const char digits[] = "0123456789ABCDEF";
    if (n > cap / 2)
        return SMPP_TEXT_ENOSPACE;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (uint8_t)digits[in[i] >> 4];
        out[2 * i + 1] = (uint8_t)digits[in[i] & 0x0F];
    }
    *out_len = 2 * n;
    return SMPP_TEXT_OK;
}

int smpp_text_decode(enum smpp_text_enc enc, const uint8_t *in, size_t in_len,
                     uint8_t *out, size_t cap, size_t *out_len)
{
    if ((in_len > 0 && !in) || !out_len || (cap > 0 && !out))
        return SMPP_TEXT_EARG;
    switch (enc) {
    case SMPP_ENC_GSM7:
        return gsm_to_utf8(in, in_len, 0, out, cap, out_len);
    case SMPP_ENC_GSM7_PACKED: {
        size_t n = in_len * 8 / 7;
        /* USSD padding <CR> (see smpp_text_gsm7_unpack_ussd). */
        if (in_len % 7 == 0 && n > 0 && septet_at(in, n - 1) == KZ_GSM_CR)
            n--;
        return gsm_to_utf8(in, n, 1, out, cap, out_len);
    }
    case SMPP_ENC_IA5:
    case SMPP_ENC_LATIN1:
    case SMPP_ENC_ISO8859_5: {
        size_t pos = 0;
        for (size_t i = 0; i < in_len; i++) {
            uint32_t cp = in[i];
            if (enc == SMPP_ENC_IA5 && cp >= 0x80)
                cp = UCS_REPLACEMENT;
            else if (enc == SMPP_ENC_ISO8859_5)
                cp = iso8859_5_to_ucs(in[i]);
            int rc = utf8_put(cp, out, cap, &pos);
            if (rc != SMPP_TEXT_OK)
                return rc;
        }
        *out_len = pos;
        return SMPP_TEXT_OK;
    }
    case SMPP_ENC_UCS2:
        return ucs2_to_utf8(in, in_len, out, cap, out_len);
    case SMPP_ENC_BINARY:
    case SMPP_ENC_HEX:
        return hex_to_utf8(in, in_len, out, cap, out_len);
    default:
        return SMPP_TEXT_EARG;
    }
}

/* ---- data_coding ----------------------------------------------------------- */

enum smpp_text_enc smpp_text_dcs_encoding(uint8_t dcs, unsigned flags)
{
    enum smpp_text_enc gsm =
        (flags & SMPP_TEXT_DCS_GSM7_PACKED) ? SMPP_ENC_GSM7_PACKED : SMPP_ENC_GSM7;
    switch (dcs) {
    case 0x00:
        if (flags & SMPP_TEXT_DCS0_LATIN1)
            return SMPP_ENC_LATIN1;
        if (flags & SMPP_TEXT_DCS0_IA5)
            return SMPP_ENC_IA5;
        return SMPP_ENC_GSM7;
    case 0x01: return SMPP_ENC_IA5;
    case 0x02: return SMPP_ENC_BINARY;
    case 0x03: return SMPP_ENC_LATIN1;
    case 0x04: return SMPP_ENC_BINARY;
    case 0x06: return SMPP_ENC_ISO8859_5;
    case 0x08: return SMPP_ENC_UCS2;
    case 0x0F: return gsm;
    default: break;
    }
    if (dcs >= 0x10 && dcs <= 0x7F) { /* 3GPP general data coding */
        if (dcs & 0x20)
            return SMPP_ENC_NONE; /* compressed */
        switch ((dcs >> 2) & 0x03) {
        case 0: return gsm;
        case 1: return SMPP_ENC_BINARY;
        case 2: return SMPP_ENC_UCS2;
        default: return SMPP_ENC_NONE;
        }
    }
    if (dcs >= 0xC0 && dcs <= 0xDF)
        return gsm;
    if (dcs >= 0xE0 && dcs <= 0xEF)
        return SMPP_ENC_UCS2;
    if (dcs >= 0xF0)
        return (dcs & 0x04) ? SMPP_ENC_BINARY : gsm;
    return SMPP_ENC_NONE;
}

int smpp_text_decode_dcs(uint8_t data_coding, unsigned flags,
                         const uint8_t *in, size_t in_len,
                         uint8_t *out, size_t cap, size_t *out_len,
                         enum smpp_text_enc *used)
{
    enum smpp_text_enc enc = smpp_text_dcs_encoding(data_coding, flags);
    if (enc == SMPP_ENC_NONE || enc == SMPP_ENC_BINARY) {
        if (!(flags & SMPP_TEXT_DCS_HEX_FALLBACK))
            return SMPP_TEXT_EDCS;
        enc = SMPP_ENC_HEX;
    }
    if (used)
        *used = enc;
    return smpp_text_decode(enc, in, in_len, out, cap, out_len);
}

int smpp_text_enc_dcs(enum smpp_text_enc enc)
{
    switch (enc) {
    case SMPP_ENC_GSM7: return 0x00;
    case SMPP_ENC_GSM7_PACKED: return 0x0F;
    case SMPP_ENC_IA5: return 0x01;
    case SMPP_ENC_LATIN1: return 0x03;
    case SMPP_ENC_ISO8859_5: return 0x06;
    case SMPP_ENC_UCS2: return 0x08;
    case SMPP_ENC_BINARY: return 0x04;
    default: return -1;
    }
}

/* ---- sizes ------------------------------------------------------------------ */

static int is_gsm(enum smpp_text_enc enc)
{
    return enc == SMPP_ENC_GSM7 || enc == SMPP_ENC_GSM7_PACKED;
}

size_t smpp_text_part_units(enum smpp_text_enc enc, enum smpp_text_split_mode mode, int single)
{
    if (!is_text_enc(enc))
        return 0;
    int gsm = is_gsm(enc), ucs = enc == SMPP_ENC_UCS2;
    if (single)
        return gsm ? 160 : 140;
    switch (mode) {
    case SMPP_SPLIT_UDH8:
    case SMPP_SPLIT_SAR:
        return gsm ? 153 : 134;
    case SMPP_SPLIT_UDH16:
        return gsm ? 152 : (ucs ? 132 : 133);
    default:
        return 0;
    }
}

/* Octets that `units` units of enc take as smpp_text_encode() writes them:
 * packed GSM ceil(7u/8), plus the septet of the second USSD <CR> when the
 * text ends with <CR> on an 8-septet boundary (the first padding <CR>
 * only fills spare bits); everything else u.  last_cp = the last char. */
static size_t units_to_octets(enum smpp_text_enc enc, size_t units, uint32_t last_cp)
{
    if (enc == SMPP_ENC_GSM7_PACKED) {
        if (units > 0 && units % 8 == 0 && last_cp == '\r')
            units++;
        return (7 * units + 7) / 8;
    }
    return units;
}

/* Walk utf8[0..len) in enc: total units and chars, and greedy parts of at
 * most `limit` units each (limit 0: do not count parts).  Returns OK, EUTF8
 * or EUNREPR with *err_off. */
static int measure(const uint8_t *utf8, size_t len, enum smpp_text_enc enc, size_t limit,
                   size_t *units, size_t *chars, size_t *parts, size_t *err_off)
{
    size_t u = 0, c = 0, p = 0, cur = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = kz_utf8_next(utf8 + i, len - i, &cp);
        if (k == 0)
            return fail_at(SMPP_TEXT_EUTF8, i, err_off);
        unsigned cu = smpp_text_char_units(enc, cp);
        if (cu == 0)
            return fail_at(SMPP_TEXT_EUNREPR, i, err_off);
        if (limit) {
            if (p == 0 || cur + cu > limit) {
                p++;
                cur = 0;
            }
            cur += cu;
        }
        u += cu;
        c++;
        i += k;
    }
    *units = u;
    *chars = c;
    if (parts)
        *parts = p;
    return SMPP_TEXT_OK;
}

/* ---- choice ----------------------------------------------------------------- */

int smpp_text_choose(const uint8_t *utf8, size_t len, unsigned allow,
                     struct smpp_text_choice *out, size_t *err_off)
{
    if ((len > 0 && !utf8) || !out)
        return SMPP_TEXT_EARG;
    int rc = smpp_text_utf8_validate(utf8, len, err_off);
    if (rc != SMPP_TEXT_OK)
        return rc;
    static const enum smpp_text_enc order[] = {SMPP_ENC_GSM7, SMPP_ENC_LATIN1, SMPP_ENC_UCS2};
    int have = 0;
    size_t best_parts = 0, best_bits = 0;
    for (size_t e = 0; e < sizeof order / sizeof order[0]; e++) {
        enum smpp_text_enc enc = order[e];
        if (enc == SMPP_ENC_LATIN1 && !(allow & SMPP_TEXT_ALLOW_LATIN1))
            continue;
        size_t units, chars, parts;
        size_t single = smpp_text_part_units(enc, SMPP_SPLIT_UDH8, 1);
        if (measure(utf8, len, enc, smpp_text_part_units(enc, SMPP_SPLIT_UDH8, 0),
                    &units, &chars, &parts, NULL) != SMPP_TEXT_OK)
            continue;
        if (units <= single)
            parts = 1;
        size_t bits = units * (is_gsm(enc) ? 7 : 8);
        if (have && (parts > best_parts || (parts == best_parts && bits >= best_bits)))
            continue;
        have = 1, best_parts = parts, best_bits = bits;
        out->enc = enc;
        out->chars = chars;
        out->units = units;
        out->octets = units;
        out->single_units = single;
        out->parts = parts;
    }
    /* UCS2 represents every valid UTF-8 text, so `have` is set here. */
    size_t fit_units = 0, fit = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = kz_utf8_next(utf8 + i, len - i, &cp);
        unsigned cu = smpp_text_char_units(out->enc, cp);
        if (fit_units + cu > out->single_units)
            break;
        fit_units += cu;
        fit++;
        i += k;
    }
    out->fit_chars = fit;
    return SMPP_TEXT_OK;
}

/* ---- USSD fit ------------------------------------------------------------- */

int smpp_text_fit(const uint8_t *utf8, size_t len, enum smpp_text_enc enc,
                  size_t budget_octets, struct smpp_text_fit *out, size_t *err_off)
{
    if (!is_text_enc(enc) || (len > 0 && !utf8) || !out)
        return SMPP_TEXT_EARG;
    size_t units, chars;
    int rc = measure(utf8, len, enc, 0, &units, &chars, NULL, err_off);
    if (rc != SMPP_TEXT_OK)
        return rc;
    /* Octets only grow as the prefix grows (the <CR> case adds at most the
     * octet the next char would need anyway), so the first char that
     * overflows ends the longest fitting prefix. */
    size_t u = 0, c = 0, i = 0, cut_octets = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = kz_utf8_next(utf8 + i, len - i, &cp);
        unsigned cu = smpp_text_char_units(enc, cp);
        size_t o = units_to_octets(enc, u + cu, cp);
        if (o > budget_octets)
            break;
        cut_octets = o;
        u += cu;
        c++;
        i += k;
    }
    out->cut_bytes = i;
    out->cut_chars = c;
    out->cut_octets = cut_octets;
    out->chars = chars;
    out->fits = i == len;
    if (out->fits) {
        out->octets = cut_octets;
    } else {
        uint32_t last = 0;
        size_t j = 0;
        while (j < len) /* find the last char: the text is valid here */
            j += kz_utf8_next(utf8 + j, len - j, &last);
        out->octets = units_to_octets(enc, units, last);
    }
    return SMPP_TEXT_OK;
}

/* ---- split ------------------------------------------------------------------ */

/* Encode one slice of already-validated text into part->data after the UDH. */
static int encode_part(const uint8_t *utf8, const struct smpp_text_split_req *req,
                       struct smpp_text_part *part)
{
    size_t n;
    int rc;
    uint8_t *body = part->data + part->udh_len;
    size_t cap = sizeof part->data - part->udh_len;
    if (req->enc == SMPP_ENC_GSM7_PACKED) {
        /* Unpacked first (at most 160 septets), then packed after fill bits. */
        uint8_t sept[SMPP_TEXT_PART_DATA];
        rc = smpp_text_encode(SMPP_ENC_GSM7, utf8 + part->text_off, part->text_len,
                              sept, sizeof sept, &n, NULL);
        if (rc != SMPP_TEXT_OK)
            return rc;
        rc = smpp_text_gsm7_pack(sept, n, smpp_text_udh_fill_bits(part->udh_len),
                                 body, cap, &n);
    } else {
        rc = smpp_text_encode(req->enc, utf8 + part->text_off, part->text_len,
                              body, cap, &n, NULL);
    }
    if (rc != SMPP_TEXT_OK)
        return rc;
    part->len = part->udh_len + n;
    return SMPP_TEXT_OK;
}

int smpp_text_split(const uint8_t *utf8, size_t len, const struct smpp_text_split_req *req,
                    struct smpp_text_part *parts, size_t max_parts, size_t *n_parts,
                    size_t *err_off)
{
    if (!req || !parts || !n_parts || (len > 0 && !utf8) || !is_text_enc(req->enc) ||
        max_parts == 0 || max_parts > SMPP_TEXT_MAX_PARTS)
        return SMPP_TEXT_EARG;
    if (req->mode != SMPP_SPLIT_UDH8 && req->mode != SMPP_SPLIT_UDH16 &&
        req->mode != SMPP_SPLIT_SAR && req->mode != SMPP_SPLIT_PAYLOAD)
        return SMPP_TEXT_EARG;
    size_t units, chars, nparts;
    size_t limit = smpp_text_part_units(req->enc, req->mode, 0);
    int rc = measure(utf8, len, req->enc, limit, &units, &chars, &nparts, err_off);
    if (rc != SMPP_TEXT_OK)
        return rc;
    struct smpp_text_part *p = &parts[0];
    if (req->mode == SMPP_SPLIT_PAYLOAD) {
        if (!req->payload && req->payload_cap > 0)
            return SMPP_TEXT_EARG;
        size_t n;
        rc = smpp_text_encode(req->enc, utf8, len, req->payload, req->payload_cap, &n, err_off);
        if (rc != SMPP_TEXT_OK)
            return rc;
        memset(p, 0, sizeof *p);
        p->len = n, p->seq = 1, p->total = 1, p->ref = req->ref;
        p->units = units, p->chars = chars, p->text_off = 0, p->text_len = len;
        *n_parts = 1;
        return SMPP_TEXT_OK;
    }
    if (units <= smpp_text_part_units(req->enc, req->mode, 1)) {
        memset(p, 0, sizeof *p);
        p->seq = 1, p->total = 1, p->ref = req->ref;
        p->units = units, p->chars = chars, p->text_off = 0, p->text_len = len;
        rc = encode_part(utf8, req, p);
        if (rc != SMPP_TEXT_OK)
            return rc;
        *n_parts = 1;
        return SMPP_TEXT_OK;
    }
    *n_parts = nparts;
    if (nparts > max_parts)
        return SMPP_TEXT_ETOOMANY;
    /* Second walk: the same greedy cut as measure(), now filling parts. */
    size_t k = 0, i = 0;
    while (i < len) {
        p = &parts[k];
        memset(p, 0, sizeof *p);
        p->seq = (uint8_t)(k + 1), p->total = (uint8_t)nparts, p->ref = req->ref;
        p->text_off = i;
        while (i < len) {
            uint32_t cp;
            size_t step = kz_utf8_next(utf8 + i, len - i, &cp);
            unsigned cu = smpp_text_char_units(req->enc, cp);
            if (p->units + cu > limit)
                break;
            p->units += cu;
            p->chars++;
            i += step;
        }
        p->text_len = i - p->text_off;
        uint8_t *h = p->data;
        if (req->mode == SMPP_SPLIT_UDH8) {
            h[0] = 0x05, h[1] = 0x00, h[2] = 0x03, h[3] = (uint8_t)(req->ref & 0xFF);
            h[4] = p->total, h[5] = p->seq;
            p->udh_len = 6;
        } else if (req->mode == SMPP_SPLIT_UDH16) {
            h[0] = 0x06, h[1] = 0x08, h[2] = 0x04;
            h[3] = (uint8_t)(req->ref >> 8), h[4] = (uint8_t)(req->ref & 0xFF);
            h[5] = p->total, h[6] = p->seq;
            p->udh_len = 7;
        }
        rc = encode_part(utf8, req, p);
        if (rc != SMPP_TEXT_OK)
            return rc;
        k++;
    }
    return SMPP_TEXT_OK;
}
