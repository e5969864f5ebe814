/*
 * smpp/text.h — text encodings for SMS and USSD: UTF-8 <-> GSM 03.38,
 * UCS-2/UTF-16BE, Latin-1, IA5, ISO-8859-5; encoding choice; USSD screen
 * fitting; long-SMS splitting.
 *
 * What it does: everything between "the UTF-8 string the application wants
 * to send / wants to read" and "the octets in short_message or
 * message_payload with a data_coding value".  Pure: no I/O, no allocation,
 * no global mutable state (all tables are const).  Every function is
 * re-entrant and thread-safe; every output goes into a buffer the caller
 * owns and passes in with its capacity.
 *
 * Owns: nothing.  May call: libc (memcpy, memset) only.
 *
 * Two directions, two attitudes:
 *   - ENCODING (our UTF-8 -> wire) is STRICT.  Input must be valid UTF-8
 *     (no overlongs, no UTF-8-encoded surrogates, nothing above U+10FFFF,
 *     no truncated sequence, no stray continuation byte) and every
 *     character must exist in the target charset; otherwise the function
 *     returns an error value and the byte offset of the offending sequence.
 *     Nothing half-converted is ever meant for the wire.
 *   - DECODING (wire -> UTF-8) is LENIENT and SAFE.  Any octets decode;
 *     anything unmappable (unpaired UTF-16 surrogate, odd trailing octet,
 *     IA5 octet >= 0x80, GSM septet byte >= 0x80) becomes U+FFFD.  The
 *     output is always valid UTF-8.  The only decode errors are "buffer
 *     too small" and "unknown data_coding".
 *
 * UNITS — mixing them is the classic bug, so every length below says which:
 *   bytes     UTF-8 bytes of the application's text
 *   chars     Unicode code points (what a person counts; "ң" is 1 char)
 *   septets   GSM 7-bit code units; a basic-table char is 1 septet, an
 *             extension-table char (FF ^ { } \ [ ~ ] | €) is 2 septets
 *             (ESC 0x1B + code).  In SMPP data_coding 0 short_message each
 *             septet occupies one octet ("unpacked").
 *   octets    8-bit bytes on the wire.  GSM packed: ceil(7*septets/8).
 *             Latin-1/IA5/ISO-8859-5: 1 octet per char.  UCS-2 (really
 *             UTF-16BE): 2 octets per char, 4 for a char above U+FFFF
 *             (surrogate pair).
 *   units     the encoding's own counting unit: septets for GSM 7-bit,
 *             octets for everything else.
 *
 * GSM 7-bit packing and the UDH septet alignment (3GPP TS 23.040 §9.2.3.24,
 * TS 23.038 §6.1.2.1.1): septets are packed LSB first, 8 septets in 7
 * octets.  When a User Data Header precedes packed text, the header takes
 * U = 1 + UDHL octets and the first septet must start on a septet boundary
 * counted from the start of the user data, so (7 - (8*U) % 7) % 7 zero "fill
 * bits" follow the header: U = 6 (`05 00 03 ref tot seq`) needs 1 fill bit,
 * leaving (140*8 - 48 - 1) / 7 = 153 septets; U = 7 (`06 08 04 rh rl tot
 * seq`) needs 0 fill bits, leaving (1120 - 56) / 7 = 152 septets.  See
 * smpp_text_udh_fill_bits().  Over SMPP with data_coding 0 the ESME sends
 * UDH octets followed by UNPACKED septets and the SMSC does this packing;
 * SMPP_ENC_GSM7_PACKED is for links that want the packed form themselves.
 *
 * USSD packed padding (TS 23.038 §6.1.2.3.1): when 7 spare bits would be
 * left in the last octet they must not be read as '@', so a <CR> is added
 * as padding; if the text itself ends with <CR> on an octet boundary, a
 * second <CR> is added.  smpp_text_gsm7_pack_ussd() does both;
 * smpp_text_gsm7_unpack_ussd() strips the padding <CR> of the first case.
 * The second case is ambiguous by design of the spec: the receiver sees
 * the extra <CR> (the spec says <CR><CR> displays like <CR>).
 */
#ifndef KYZMAT_SMPP_TEXT_H
#define KYZMAT_SMPP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* ---- status values (errors are values) -------------------------------- */
enum smpp_text_status {
    SMPP_TEXT_OK = 0,
    SMPP_TEXT_EUTF8 = -1,       /* input is not valid UTF-8; *err_off = byte offset */
    SMPP_TEXT_EUNREPR = -2,     /* a char has no code in the target charset; *err_off = its byte offset */
    SMPP_TEXT_ENOSPACE = -3,    /* the caller's output buffer is too small */
    SMPP_TEXT_EDCS = -4,        /* data_coding unknown / not text (binary, compressed) */
    SMPP_TEXT_ETOOMANY = -5,    /* the text needs more parts than the caller allows */
    SMPP_TEXT_EARG = -6         /* bad argument (unknown enum, NULL buffer, max_parts 0 or > 255) */
};

/* A short static English description of a status ("invalid UTF-8", ...). */
const char *smpp_text_strerror(int status);

/* ---- encodings -------------------------------------------------------- */
enum smpp_text_enc {
    SMPP_ENC_NONE = 0,      /* "no encoding": returned for unknown data_coding */
    SMPP_ENC_GSM7,          /* GSM 03.38 default alphabet + extension, one septet per octet (unpacked) */
    SMPP_ENC_GSM7_PACKED,   /* same alphabet, 8 septets in 7 octets, USSD <CR> padding rule */
    SMPP_ENC_IA5,           /* IA5 / US-ASCII, 0x00-0x7F, 1 octet per char */
    SMPP_ENC_LATIN1,        /* ISO-8859-1, U+0000-U+00FF, 1 octet per char */
    SMPP_ENC_ISO8859_5,     /* ISO-8859-5 (Cyrillic, SMPP data_coding 6); no Kyrgyz ң ө ү */
    SMPP_ENC_UCS2,          /* UTF-16BE: UCS-2 plus surrogate pairs above U+FFFF */
    SMPP_ENC_BINARY,        /* 8-bit data, not text (data_coding 2, 4, 3GPP 8-bit groups) */
    SMPP_ENC_HEX            /* decode only: the octets shown as upper-case hex text */
};

/* Short name of an encoding ("GSM7", "UCS2", ...), static. */
const char *smpp_text_enc_name(enum smpp_text_enc enc);

/* Worst-case UTF-8 bytes that decoding n wire octets can produce, for any
 * encoding including the hex fallback and packed GSM (8 septets per 7
 * octets, up to 3 bytes each).  Use it to size decode buffers. */
#define SMPP_TEXT_DECODE_MAX(n_octets) (4 * (size_t)(n_octets) + 8)

/* ---- UTF-8 ------------------------------------------------------------ */

/* Strictly validate UTF-8 (RFC 3629) with base/utf8.h's decoder (one
 * character at a time: kz_utf8_next()).  Takes s[0..len) (not NUL-terminated;
 * U+0000 is a valid char).  Returns SMPP_TEXT_OK, or SMPP_TEXT_EUTF8 with
 * *err_off (if err_off != NULL) = byte offset of the first byte of the
 * invalid or truncated sequence, or of the stray continuation byte. */
int smpp_text_utf8_validate(const uint8_t *s, size_t len, size_t *err_off);

/* Number of chars (code points) in s[0..len); SMPP_TEXT_EUTF8 semantics as
 * validate: returns OK and *chars, or EUTF8 and *err_off. */
int smpp_text_utf8_chars(const uint8_t *s, size_t len, size_t *chars, size_t *err_off);

/* ---- single characters ------------------------------------------------- */

/* How many units code point cp takes in enc: septets for GSM7 (1 basic,
 * 2 extension), octets otherwise (UCS2: 2, or 4 above U+FFFF).  0 if enc
 * cannot represent cp (or enc is not a text encoding). */
unsigned smpp_text_char_units(enum smpp_text_enc enc, uint32_t cp);

/* GSM 03.38 code of cp: returns 1 and out[0] = septet (basic table),
 * 2 and out = {0x1B, code} (extension table), or 0 if cp is not in GSM.
 * Strict: only the exact characters of the tables (no "ç -> Ç" folding). */
unsigned smpp_text_gsm7_from_ucs(uint32_t cp, uint8_t out[2]);

/* ---- whole strings: encode (strict) and decode (lenient) --------------- */

/* Encode UTF-8 utf8[0..len) into enc.  Writes *out_len octets to out[0..cap)
 * (for SMPP_ENC_GSM7 those octets are unpacked septets; for
 * SMPP_ENC_GSM7_PACKED they are packed with the USSD <CR> padding rule;
 * nothing is NUL-terminated).  enc must be GSM7, GSM7_PACKED, IA5, LATIN1,
 * ISO8859_5 or UCS2.  Errors: EUTF8 / EUNREPR with *err_off = byte offset in
 * utf8, ENOSPACE (out contents then unspecified), EARG.  err_off may be NULL. */
int smpp_text_encode(enum smpp_text_enc enc, const uint8_t *utf8, size_t len,
                     uint8_t *out, size_t cap, size_t *out_len, size_t *err_off);

/* Decode in[0..in_len) in enc into UTF-8 out[0..cap), *out_len bytes (no NUL
 * added).  Lenient (see top).  enc may also be SMPP_ENC_HEX (BINARY decodes
 * as HEX too).  Errors: ENOSPACE, EARG.  The output is always valid UTF-8;
 * SMPP_TEXT_DECODE_MAX(in_len) bytes are always enough. */
int smpp_text_decode(enum smpp_text_enc enc, const uint8_t *in, size_t in_len,
                     uint8_t *out, size_t cap, size_t *out_len);

/* ---- GSM 7-bit packing ------------------------------------------------- */

/* Pass as n_septets to the unpack functions: "as many septets as the
 * octets hold", i.e. (8 * in_len - fill_bits) / 7. */
#define SMPP_TEXT_SEPTETS_ALL ((size_t)-1)

/* Zero fill bits needed after a UDH of udh_octets octets (UDHL octet
 * included) so packed septets start on a septet boundary: 6 -> 1, 7 -> 0. */
unsigned smpp_text_udh_fill_bits(size_t udh_octets);

/* Pack n septets (one per octet, values 0..0x7F; the top bit is ignored)
 * LSB first into out, after fill_bits (0..6) zero bits at the low end of
 * out[0].  Writes *out_len = ceil((fill_bits + 7*n) / 8) octets; unused
 * high bits of the last octet are 0.  No padding char added.  Errors:
 * ENOSPACE, EARG (fill_bits > 6). */
int smpp_text_gsm7_pack(const uint8_t *septets, size_t n, unsigned fill_bits,
                        uint8_t *out, size_t cap, size_t *out_len);

/* Unpack: the reverse.  Reads n_septets (or SMPP_TEXT_SEPTETS_ALL) septets
 * that start fill_bits into in[0] and writes them one per octet into out,
 * *out_len = septet count.  If n_septets needs more bits than in_len has,
 * only the complete septets present are written.  Errors: ENOSPACE, EARG. */
int smpp_text_gsm7_unpack(const uint8_t *in, size_t in_len, unsigned fill_bits,
                          size_t n_septets, uint8_t *out, size_t cap, size_t *out_len);

/* As smpp_text_gsm7_pack with fill 0, plus the USSD/CBS <CR> padding rule
 * of TS 23.038 §6.1.2.3.1 (see top of file). */
int smpp_text_gsm7_pack_ussd(const uint8_t *septets, size_t n,
                             uint8_t *out, size_t cap, size_t *out_len);

/* As smpp_text_gsm7_unpack with fill 0 and all septets, then drops the
 * last septet if it is a padding <CR> (the octets end exactly on an
 * 8-septet boundary and the last septet is 0x0D). */
int smpp_text_gsm7_unpack_ussd(const uint8_t *in, size_t in_len,
                               uint8_t *out, size_t cap, size_t *out_len);

/* ---- decode by SMPP data_coding --------------------------------------- */

/* Flags for smpp_text_dcs_encoding() / smpp_text_decode_dcs(): */
#define SMPP_TEXT_DCS_GSM7_PACKED 0x01u /* 0x0F and the 3GPP GSM 7-bit groups carry PACKED
                                           septets (default: unpacked, like data_coding 0) */
#define SMPP_TEXT_DCS0_LATIN1     0x02u /* this SMSC's default alphabet (data_coding 0) is Latin-1 */
#define SMPP_TEXT_DCS0_IA5        0x04u /* ... is IA5/ASCII (LATIN1 wins if both are set) */
#define SMPP_TEXT_DCS_HEX_FALLBACK 0x08u /* unknown or binary data_coding: decode as hex text
                                            instead of returning SMPP_TEXT_EDCS */

/* Which encoding a data_coding value means.  The table:
 *   0x00            GSM7 unpacked (SMSC default; see DCS0_* flags)
 *   0x01            IA5            0x03  LATIN1      0x06  ISO8859_5
 *   0x02, 0x04      BINARY         0x08  UCS2
 *   0x0F            GSM7, unpacked by default, GSM7_PACKED with
 *                   SMPP_TEXT_DCS_GSM7_PACKED (3GPP 23.038 CBS/USSD
 *                   "language unspecified")
 *   0x10-0x7F       3GPP general data coding (SMS groups 00xx/01xx, CBS
 *                   group 01xx, so 0x48 = UCS2): bit 5 set (compressed) ->
 *                   NONE; else bits 3..2: 00 GSM7 (packing per flag),
 *                   01 BINARY, 10 UCS2, 11 NONE
 *   0xC0-0xDF       3GPP MWI groups, GSM7 (packing per flag)
 *   0xE0-0xEF       3GPP MWI group, UCS2
 *   0xF0-0xFF       3GPP data coding/message class: bit 2: 0 GSM7 (packing
 *                   per flag), 1 BINARY
 *   everything else (0x05 JIS, 0x07 Hebrew, 0x09-0x0E, 0x80-0xBF) -> NONE
 * 0x10-0x3F in 3GPP CBS terms would mean other things (language groups);
 * SMPP carries SMS data coding, so the SMS meaning is used. */
enum smpp_text_enc smpp_text_dcs_encoding(uint8_t data_coding, unsigned flags);

/* Decode short_message / message_payload octets by data_coding into UTF-8
 * out[0..cap), *out_len bytes, lenient.  *used (may be NULL) = the encoding
 * applied (SMPP_ENC_HEX when the hex fallback was taken).  BINARY or NONE
 * return SMPP_TEXT_EDCS unless SMPP_TEXT_DCS_HEX_FALLBACK is set.  Packed
 * GSM7 here uses smpp_text_gsm7_unpack_ussd().  Errors: EDCS, ENOSPACE. */
int smpp_text_decode_dcs(uint8_t data_coding, unsigned flags,
                         const uint8_t *in, size_t in_len,
                         uint8_t *out, size_t cap, size_t *out_len,
                         enum smpp_text_enc *used);

/* The data_coding value to put in a PDU for enc: GSM7 0x00, IA5 0x01,
 * LATIN1 0x03, ISO8859_5 0x06, UCS2 0x08, BINARY 0x04, GSM7_PACKED 0x0F
 * (the USSD value); -1 for NONE/HEX. */
int smpp_text_enc_dcs(enum smpp_text_enc enc);

/* ---- choosing the cheapest encoding ----------------------------------- */

#define SMPP_TEXT_ALLOW_LATIN1 0x01u /* this SMSC accepts data_coding 3 */

struct smpp_text_choice {
    enum smpp_text_enc enc; /* GSM7, LATIN1 (only if allowed) or UCS2 */
    size_t chars;           /* chars in the whole text */
    size_t units;           /* whole text in enc's units: septets (GSM7, ESC pairs count 2)
                               or octets (LATIN1 1 per char; UCS2 2 per char, 4 per astral char) */
    size_t octets;          /* octets in an SMPP short_message/message_payload: GSM7
                               unpacked = septets; others = units */
    size_t single_units;    /* unit capacity of one unsplit SMS: 160 septets / 140 octets */
    size_t fit_chars;       /* chars of this text that fit in one unsplit SMS */
    size_t parts;           /* SMS parts needed with the 8-bit-ref UDH (1 if it fits) */
};

/* Pick the cheapest encoding that represents utf8[0..len) exactly.
 * Candidates: GSM7 (if every char is in the basic or extension table),
 * LATIN1 (only with SMPP_TEXT_ALLOW_LATIN1 and every char <= U+00FF), UCS2
 * (always).  Cheapest = fewest parts (8-bit-ref UDH sizes), then fewest
 * bits (7 per septet, 8 per octet), then the order GSM7, LATIN1, UCS2.  So
 * Cyrillic and Kyrgyz (ң ө ү Ң Ө Ү) always end up UCS2.  Errors: EUTF8. */
int smpp_text_choose(const uint8_t *utf8, size_t len, unsigned allow,
                     struct smpp_text_choice *out, size_t *err_off);

/* ---- fitting a USSD screen -------------------------------------------- */

/* One USSD string: TS 29.002 maxUSSD-StringLength. */
#define SMPP_TEXT_USSD_OCTETS 160

struct smpp_text_fit {
    int fits;               /* 1 if the whole text fits in the budget */
    size_t octets;          /* octets the whole text needs in enc */
    size_t chars;           /* chars in the whole text */
    size_t cut_bytes;       /* UTF-8 bytes of the longest prefix that fits (= len if fits);
                               always on a char boundary, so never inside an ESC pair
                               or a surrogate pair */
    size_t cut_chars;       /* chars in that prefix */
    size_t cut_octets;      /* octets that prefix needs in enc */
};

/* Does utf8[0..len) fit in budget_octets octets in enc, and where to cut.
 * Octets per enc, exactly as smpp_text_encode() writes them: GSM7_PACKED
 * ceil(7*septets/8), so 160 octets hold 182 septets (the padding <CR> only
 * fills spare bits, but a text ending in <CR> on an 8-septet boundary gets
 * a second <CR>, one septet more), GSM7 (unpacked)
 * septets, IA5/LATIN1/ISO8859_5 chars, UCS2 2 per char (4 above U+FFFF),
 * so 160 octets hold 80 Cyrillic chars.  To fit in the cheapest encoding,
 * pass the enc smpp_text_choose() picked (GSM7 -> GSM7_PACKED on links that
 * pack USSD text).  Errors: EUTF8, EUNREPR (with *err_off), EARG. */
int smpp_text_fit(const uint8_t *utf8, size_t len, enum smpp_text_enc enc,
                  size_t budget_octets, struct smpp_text_fit *out, size_t *err_off);

/* ---- splitting a long SMS --------------------------------------------- */

enum smpp_text_split_mode {
    SMPP_SPLIT_UDH8 = 1,    /* UDH `05 00 03 ref total seq` in each part (set esm_class |= 0x40) */
    SMPP_SPLIT_UDH16,       /* UDH `06 08 04 ref_hi ref_lo total seq` */
    SMPP_SPLIT_SAR,         /* no UDH; caller sets sar_msg_ref_num = ref,
                               sar_total_segments = total, sar_segment_seqnum = seq */
    SMPP_SPLIT_PAYLOAD      /* one part with the whole text, for message_payload */
};

/* Octets of storage per part: a 7-octet UDH + 160 (the largest single-SMS
 * body, 160 unpacked septets) rounded up. */
#define SMPP_TEXT_PART_DATA 168
#define SMPP_TEXT_MAX_PARTS 255

struct smpp_text_part {
    uint8_t data[SMPP_TEXT_PART_DATA]; /* UDH (if any) then the encoded text; unused in PAYLOAD mode */
    size_t len;             /* octets used in data (UDH included); in PAYLOAD mode the octets
                               written to the request's payload buffer */
    size_t udh_len;         /* octets of UDH at the start of data (0: none) */
    uint8_t seq;            /* 1-based part number */
    uint8_t total;          /* number of parts; 1 means "not concatenated": no UDH, no sar_* */
    uint16_t ref;           /* reference used (UDH8: only the low 8 bits are on the wire) */
    size_t units;           /* text units in this part: septets (GSM7*) or octets */
    size_t chars;           /* chars of the text in this part */
    size_t text_off;        /* this part's slice of the input: utf8[text_off .. text_off+text_len) */
    size_t text_len;        /* (bytes) */
};

struct smpp_text_split_req {
    enum smpp_text_enc enc;          /* GSM7 (unpacked septets after the UDH, as data_coding 0
                                        carries), GSM7_PACKED (UDH + fill bits + packed septets,
                                        TP-UD form, no <CR> padding: TP-UDL = udh septets +
                                        part units), IA5, LATIN1, ISO8859_5 or UCS2 */
    enum smpp_text_split_mode mode;
    uint16_t ref;                    /* concatenation reference chosen by the caller */
    uint8_t *payload;                /* PAYLOAD mode only: where the whole encoded text goes */
    size_t payload_cap;              /* its capacity in octets */
};

/* Per-part text capacity in enc's units for a split mode: total == 1 ->
 * 160 septets / 140 octets (70 UCS-2 chars); UDH8 and SAR -> 153 / 134 /
 * 134 (67 chars); UDH16 -> 152 / 133 / 132 (66 chars).  0 for PAYLOAD or
 * bad arguments. */
size_t smpp_text_part_units(enum smpp_text_enc enc, enum smpp_text_split_mode mode, int single);

/* Split utf8[0..len) into SMS parts in parts[0..max_parts), *n_parts set.
 * If the whole text fits in one SMS (160 septets / 140 octets) there is one
 * part with total = 1 and no UDH in every mode.  Otherwise parts hold the
 * mode's per-part capacity, cut greedily at char boundaries, so an ESC pair
 * or a surrogate pair is never split.  max_parts must be 1..255.  In
 * PAYLOAD mode the whole text is encoded into req->payload and parts[0]
 * describes it (len = octets written, seq = total = 1).  The caller owns
 * parts and the payload buffer; nothing is kept.  Errors: EUTF8 / EUNREPR
 * (*err_off), ETOOMANY (*n_parts = the number of parts the text needs),
 * ENOSPACE (payload buffer), EARG. */
int smpp_text_split(const uint8_t *utf8, size_t len, const struct smpp_text_split_req *req,
                    struct smpp_text_part *parts, size_t max_parts, size_t *n_parts,
                    size_t *err_off);

#endif /* KYZMAT_SMPP_TEXT_H */
