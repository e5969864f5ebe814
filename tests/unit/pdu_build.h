/*
 * tests/unit/pdu_build.h — the PDUs to and from one subscriber (what a
 * network delivers, what the gateway submits), built the same way by every
 * test and benchmark that needs one: the codec's tests
 * (tests/unit/test_pdu.c), the dialect tests (test_dialect.c) and the codec
 * benchmark (bench/bench_pdu.c).
 *
 * The subscriber is always PDU_PHONE, international (TON 1, NPI 1), so
 * golden bytes and expected keys ("996555123456/17") read the same
 * everywhere.  Strings and message bodies are views: the caller keeps them
 * alive while the PDU is used, as with smpp_pdu itself.
 *
 * Owns: nothing.  May call: smpp/pdu.h.  Header-only (static inline), so a
 * file that uses one builder does not warn about the others.
 */
#ifndef KYZMAT_TESTS_PDU_BUILD_H
#define KYZMAT_TESTS_PDU_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smpp/pdu.h"

#define PDU_PHONE "996555123456"

/* p reset to command `cmd`, status 0, sequence `seq`, from PDU_PHONE (1/1)
 * to `to`: the shape of deliver_sm, data_sm and alert_notification. */
static inline void pdu_from_phone(struct smpp_pdu *p, uint32_t cmd, uint32_t seq,
                                  const char *to)
{
    smpp_pdu_reset(p, cmd, 0, seq);
    p->source_addr_ton = 1;
    p->source_addr_npi = 1;
    p->source_addr = PDU_PHONE;
    p->destination_addr = to;
}

/* A USSD deliver_sm from PDU_PHONE to `to`: service_type "USSD",
 * data_coding dc, short_message sm of smlen octets (at most 255).  The
 * USSD TLVs are the caller's to add. */
static inline void pdu_ussd_from_phone(struct smpp_pdu *p, uint32_t seq, const char *to,
                                       uint8_t dc, const void *sm, size_t smlen)
{
    pdu_from_phone(p, SMPP_DELIVER_SM, seq, to);
    p->service_type = "USSD";
    p->data_coding = dc;
    p->sm_length = (uint8_t)smlen;
    p->short_message = sm;
}

/* A submit_sm to PDU_PHONE (1/1) from `from` (TON from_ton, NPI 0) with
 * data_coding dc and short_message sm of smlen octets (at most 255). */
static inline void pdu_submit_to_phone(struct smpp_pdu *p, uint32_t seq, uint8_t from_ton,
                                       const char *from, uint8_t dc, const void *sm,
                                       size_t smlen)
{
    smpp_pdu_reset(p, SMPP_SUBMIT_SM, 0, seq);
    p->source_addr_ton = from_ton;
    p->source_addr = from;
    p->dest_addr_ton = 1;
    p->dest_addr_npi = 1;
    p->destination_addr = PDU_PHONE;
    p->data_coding = dc;
    p->sm_length = (uint8_t)smlen;
    p->short_message = sm;
}

/* A delivery receipt deliver_sm from PDU_PHONE to `to` (esm_class 0x04)
 * with the text `dlr` as short_message and the TLVs a network adds:
 * receipted_message_id `id` (with its NUL), message_state `state` and
 * network_error_code GSM 0 (03 00 00).  Returns 0 when every TLV was set. */
static inline int pdu_receipt_from_phone(struct smpp_pdu *p, uint32_t seq, const char *to,
                                         const char *dlr, size_t dlr_len, const char *id,
                                         uint8_t state)
{
    static const uint8_t nec[3] = {0x03, 0x00, 0x00};
    pdu_from_phone(p, SMPP_DELIVER_SM, seq, to);
    p->esm_class = 0x04;
    p->sm_length = (uint8_t)dlr_len;
    p->short_message = (const uint8_t *)dlr;
    int rc = smpp_pdu_set_bytes(p, SMPP_TLV_RECEIPTED_MESSAGE_ID, id,
                                (uint16_t)(strlen(id) + 1));
    rc |= smpp_pdu_set_u8(p, SMPP_TLV_MESSAGE_STATE, state);
    rc |= smpp_pdu_set_bytes(p, SMPP_TLV_NETWORK_ERROR_CODE, nec, 3);
    return rc;
}

#endif
