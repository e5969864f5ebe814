/*
 * tests/fuzz/fuzz_concat.c — libFuzzer target for the readers of the
 * message inside a PDU (smpp/pdu.h): smpp_pdu_body, smpp_udh_concat and
 * smpp_pdu_concat (8- and 16-bit UDH concatenation IEs, sar_* TLVs).
 *
 * Input layout: byte 0 holds flags, bytes 1..4 the sar_* values when
 * flag 4 is set (ref high, ref low, total, seq), the rest is the body:
 *   flag 1  esm_class has SMPP_ESM_UDHI;
 *   flag 2  the body goes in message_payload (else in short_message when
 *           it fits 254 octets);
 *   flag 4  sar_msg_ref_num, sar_total_segments, sar_segment_seqnum.
 * Checks, with abort() on a broken property:
 *   - smpp_udh_concat on the body (an exact-size copy, so ASan sees any
 *     read past it): the text is the tail of the body after udh_len
 *     octets; 0 exactly when the header is whole (UDHL + 1 <= len and
 *     every IE inside it), and then udh_len == UDHL + 1; total and seq fit
 *     an octet; a reference above 255 or a total only come from a
 *     concatenation IE inside the header;
 *   - smpp_pdu_body gives back the body where it was put;
 *   - smpp_pdu_concat reads the UDH exactly as smpp_udh_concat does when
 *     UDHI is set and the body is not empty, else the sar_* TLVs (total
 *     and seq both non-zero) with the whole body as text;
 *   - the same after an encode and a decode.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_concat.
 *
 * Owns: nothing.  May call: smpp/pdu.h, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp/pdu.h"
#include "tests/fuzz/fuzz.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

/* 1 when the header body[1..hdr) holds a concatenation IE (16-bit only
 * when want16), walking it the way the spec lays IEs out. */
static int has_ie(const uint8_t *body, size_t hdr, int want16)
{
    int seen = 0;
    for (size_t i = 1; i + 2 <= hdr && i + 2 + body[i + 1] <= hdr;
         i += 2 + (size_t)body[i + 1]) {
        if (body[i] == 0x08 && body[i + 1] == 4)
            seen = 1;
        if (!want16 && body[i] == 0x00 && body[i + 1] == 3)
            seen = 1;
    }
    return seen;
}

static void check_udh(const uint8_t *body, size_t n)
{
    struct smpp_concat c;
    int rc = smpp_udh_concat(body, n, &c);
    check(rc == 0 || rc == -1);
    check(c.udh_len <= n && c.udh_len + c.len == n);
    check(c.text != NULL && (n == 0 || c.text == body + c.udh_len));
    check(c.total <= 255 && c.seq <= 255 && c.ref <= 0xFFFF);
    if (n == 0) {
        check(rc == -1 && c.total == 0);
        return;
    }
    size_t hdr = (size_t)body[0] + 1;
    if (rc == 0)
        check(hdr <= n && c.udh_len == hdr);
    if (hdr > n)
        check(rc == -1 && c.udh_len == n);
    if (c.ref > 255)
        check(has_ie(body, c.udh_len, 1));
    if (c.total)
        check(has_ie(body, c.udh_len, 0));
}

static void check_pdu(const struct smpp_pdu *p, const uint8_t *body, size_t n,
                      int same_place)
{
    size_t len = 99;
    const uint8_t *b = smpp_pdu_body(p, &len);
    check(b != NULL && len == n);
    check(n == 0 || memcmp(b, body, n) == 0);
    if (same_place && n > 0)
        check(b == body);
    struct smpp_concat c, u;
    int rc = smpp_pdu_concat(p, &c);
    if ((p->esm_class & SMPP_ESM_UDHI) && n > 0) {
        check(rc == smpp_udh_concat(b, n, &u));
        check(memcmp(&c, &u, sizeof c) == 0);
        return;
    }
    check(rc == 0 && c.text == b && c.len == n && c.udh_len == 0);
    int64_t tot = smpp_tlv_uint(p, SMPP_TLV_SAR_TOTAL_SEGMENTS);
    int64_t seq = smpp_tlv_uint(p, SMPP_TLV_SAR_SEGMENT_SEQNUM);
    if (tot > 0 && seq > 0)
        check(c.total == (unsigned)tot && c.seq == (unsigned)seq);
    else
        check(c.total == 0 && c.seq == 0 && c.ref == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 2048)
        return 0;
    uint8_t flags = data[0];
    const uint8_t *sar = data + 1;
    size_t skip = 1;
    if ((flags & 4) && size >= 5)
        skip = 5;
    size_t n = size - skip;
    /* an exact-size copy so ASan sees any read past the end */
    uint8_t *body = malloc(n ? n : 1);
    if (!body)
        return 0;
    memcpy(body, data + skip, n);
    check_udh(body, n);

    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    p.esm_class = (flags & 1) ? SMPP_ESM_UDHI : 0;
    if (!(flags & 2) && n <= SMPP_SM_MAX) {
        p.sm_length = (uint8_t)n;
        p.short_message = n ? body : NULL;
    } else {
        smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, body, (uint16_t)n);
    }
    if (skip == 5) {
        smpp_pdu_set_u16(&p, SMPP_TLV_SAR_MSG_REF_NUM, (uint16_t)(sar[0] << 8 | sar[1]));
        smpp_pdu_set_u8(&p, SMPP_TLV_SAR_TOTAL_SEGMENTS, sar[2]);
        smpp_pdu_set_u8(&p, SMPP_TLV_SAR_SEGMENT_SEQNUM, sar[3]);
    }
    check_pdu(&p, body, n, 1);

    /* the same after the codec */
    size_t cap = n + 512;
    uint8_t *wire = malloc(cap);
    check(wire != NULL);
    struct smpp_err err;
    int w = smpp_pdu_encode(&p, wire, cap, &err);
    check(w > 0);
    struct smpp_pdu d;
    check(smpp_pdu_decode(&d, wire, (size_t)w, NULL, &err) == 0);
    check_pdu(&d, body, n, 0);
    free(wire);
    free(body);
    return 0;
}
