/*
 * smpp/text.c — text encodings for SMS and USSD (see smpp/text.h for the
 * contract, the units and the GSM packing rules).
 *
 * Design: every conversion walks the UTF-8 input one code point at a time
 * with smpp_text_utf8_next() and asks smpp_text_char_units() what the char
 * costs in the target encoding, so validation, counting, choosing, fitting
 * and splitting all agree on the same numbers.  Packed GSM goes through one
 * small bit accumulator (struct packer) instead of index arithmetic.
 *
 * Owns: nothing; the tables are const.  May call: libc (memcpy, memset).
 */
#include "smpp/text.h"

#include <string.h>

/* ---- tables ------------------------------------------------------------ */

#define GSM_ESC 0x1B
#define GSM_CR 0x0D
#define UCS_REPLACEMENT 0xFFFDu

/* GSM 03.38 default alphabet (TS 23.038 §6.2.1), septet -> code point.
 * 0x1B (ESC) decodes to a space when it stands alone (§6.2.1 note). */
static const uint16_t gsm_basic[128] = {
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, /* 00 */
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5, /* 08 */
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, /* 10 */
    0x03A3, 0x0398, 0x039E, 0x0020, 0x00C6, 0x00E6, 0x00DF, 0x00C9, /* 18 */
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027, /* 20 */
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F, /* 28 */
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037, /* 30 */
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F, /* 38 */
    0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, /* 40 */
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F, /* 48 */
    0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057, /* 50 */
    0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, /* 58 */
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, /* 60 */
    0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F, /* 68 */
    0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077, /* 70 */
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, /* 78 */
};

/* GSM 03.38 extension table (§6.2.1.1): the septet after ESC. */
static const struct {
    uint8_t code;
    uint16_t cp;
} gsm_ext[] = {
    {0x0A, 0x000C}, {0x14, 0x005E}, {0x28, 0x007B}, {0x29, 0x007D}, {0x2F, 0x005C},
    {0x3C, 0x005B}, {0x3D, 0x007E}, {0x3E, 0x005D}, {0x40, 0x007C}, {0x65, 0x20AC},
};
#define GSM_EXT_N (sizeof gsm_ext / sizeof gsm_ext[0])

/* Reverse of the two tables for U+0000..U+00FF (generated from them):
 * 0x00-0x7F basic septet, 0x80|code extension code (ESC + code), 0xFF none.
 * The rest of GSM is the Greek capitals and the euro sign, handled in
 * smpp_text_gsm7_from_ucs(). */
static const uint8_t gsm_from_latin[256] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0A, 0xFF, 0x8A, 0x0D, 0xFF, 0xFF, /* U+0000 */
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* U+0010 */
    0x20, 0x21, 0x22, 0x23, 0x02, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, /* U+0020 */
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, /* U+0030 */
    0x00, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F, /* U+0040 */
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0xBC, 0xAF, 0xBE, 0x94, 0x11, /* U+0050 */
    0xFF, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, /* U+0060 */
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0xA8, 0xC0, 0xA9, 0xBD, 0xFF, /* U+0070 */
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* U+0080 */
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* U+0090 */
    0xFF, 0x40, 0xFF, 0x01, 0x24, 0x03, 0xFF, 0x5F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* U+00A0 */
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x60, /* U+00B0 */
    0xFF, 0xFF, 0xFF, 0xFF, 0x5B, 0x0E, 0x1C, 0x09, 0xFF, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* U+00C0 */
    0xFF, 0x5D, 0xFF, 0xFF, 0xFF, 0xFF, 0x5C, 0xFF, 0x0B, 0xFF, 0xFF, 0xFF, 0x5E, 0xFF, 0xFF, 0x1E, /* U+00D0 */
    0x7F, 0xFF, 0xFF, 0xFF, 0x7B, 0x0F, 0x1D, 0xFF, 0x04, 0x05, 0xFF, 0xFF, 0x07, 0xFF, 0xFF, 0xFF, /* U+00E0 */
    0xFF, 0x7D, 0x08, 0xFF, 0xFF, 0xFF, 0x7C, 0xFF, 0x0C, 0x06, 0xFF, 0xFF, 0x7E, 0xFF, 0xFF, 0xFF, /* U+00F0 */
};

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

/* ---- UTF-8 --------------------------------------------------------------- */

size_t smpp_text_utf8_next(const uint8_t *s, size_t len, uint32_t *cp)
{
    if (len == 0)
        return 0;
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2, c = b0 & 0x1Fu, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3, c = b0 & 0x0Fu, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4, c = b0 & 0x07u, min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
    }
    if (len < n)
        return 0; /* truncated */
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0; /* overlong, out of range, encoded surrogate */
    *cp = c;
    return n;
}

int smpp_text_utf8_chars(const uint8_t *s, size_t len, size_t *chars, size_t *err_off)
{
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = smpp_text_utf8_next(s + i, len - i, &cp);
        if (k == 0) {
            if (err_off)
                *err_off = i;
            return SMPP_TEXT_EUTF8;
        }
        i += k;
        n++;
    }
    if (chars)
        *chars = n;
    return SMPP_TEXT_OK;
}

int smpp_text_utf8_validate(const uint8_t *s, size_t len, size_t *err_off)
{
    return smpp_text_utf8_chars(s, len, NULL, err_off);
}

/* Append cp as UTF-8 at out[*pos], cap checked.  cp must be a scalar value. */
static int utf8_put(uint32_t cp, uint8_t *out, size_t cap, size_t *pos)
{
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp, n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (cap - *pos < n)
        return SMPP_TEXT_ENOSPACE;
    memcpy(out + *pos, b, n);
    *pos += n;
    return SMPP_TEXT_OK;
}

/* ---- single characters ----------------------------------------------------- */

unsigned smpp_text_gsm7_from_ucs(uint32_t cp, uint8_t out[2])
{
    unsigned v = 0xFF;
    if (cp < 0x100) {
        v = gsm_from_latin[cp];
    } else if (cp == 0x20AC) {
        v = 0x80 | 0x65;
    } else if (cp >= 0x0393 && cp <= 0x03A9) {
        for (unsigned i = 0x10; i <= 0x1A; i++) /* Greek capitals live at 0x10-0x1A */
            if (gsm_basic[i] == cp)
                v = i;
    }
    if (v == 0xFF)
        return 0;
    if (v & 0x80) {
        out[0] = GSM_ESC;
        out[1] = (uint8_t)(v & 0x7F);
        return 2;
    }
    out[0] = (uint8_t)v;
    return 1;
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
    return n % 8 == 7 || (n > 0 && n % 8 == 0 && last == GSM_CR);
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
        packer_put(&p, GSM_CR);
    return packer_finish(&p, out_len);
}

int smpp_text_gsm7_unpack_ussd(const uint8_t *in, size_t in_len,
                               uint8_t *out, size_t cap, size_t *out_len)
{
    int rc = smpp_text_gsm7_unpack(in, in_len, 0, SMPP_TEXT_SEPTETS_ALL, out, cap, out_len);
    if (rc != SMPP_TEXT_OK)
        return rc;
    if (in_len % 7 == 0 && *out_len > 0 && out[*out_len - 1] == GSM_CR)
        (*out_len)--;
    return SMPP_TEXT_OK;
}

/* ---- encode (strict) ------------------------------------------------------- */

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
        size_t k = smpp_text_utf8_next(utf8 + i, len - i, &cp);
        if (k == 0) {
            if (err_off)
                *err_off = i;
            return SMPP_TEXT_EUTF8;
        }
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
        if (nb == 0) {
            if (err_off)
                *err_off = i;
            return SMPP_TEXT_EUNREPR;
        }
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
            packer_put(&p, GSM_CR);
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
        } else if (s == GSM_ESC) {
            if (i + 1 >= n) {
                cp = 0x20;
            } else {
                i++;
                uint8_t c = packed ? septet_at(in, i) : in[i];
                if (c >= 0x80) {
                    cp = UCS_REPLACEMENT;
                } else {
                    cp = gsm_basic[c]; /* also ESC ESC -> space */
                    for (size_t j = 0; j < GSM_EXT_N; j++)
                        if (gsm_ext[j].code == c)
                            cp = gsm_ext[j].cp;
                }
            }
        } else {
            cp = gsm_basic[s];
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
        if (in_len % 7 == 0 && n > 0 && septet_at(in, n - 1) == GSM_CR)
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
        size_t k = smpp_text_utf8_next(utf8 + i, len - i, &cp);
        if (k == 0) {
            if (err_off)
                *err_off = i;
            return SMPP_TEXT_EUTF8;
        }
        unsigned cu = smpp_text_char_units(enc, cp);
        if (cu == 0) {
            if (err_off)
                *err_off = i;
            return SMPP_TEXT_EUNREPR;
        }
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
        size_t k = smpp_text_utf8_next(utf8 + i, len - i, &cp);
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
        size_t k = smpp_text_utf8_next(utf8 + i, len - i, &cp);
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
            j += smpp_text_utf8_next(utf8 + j, len - j, &last);
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
            size_t step = smpp_text_utf8_next(utf8 + i, len - i, &cp);
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
