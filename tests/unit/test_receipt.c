/*
 * tests/unit/test_receipt.c — cmocka tests of the one delivery-receipt
 * reader (smpp/receipt.c).
 *
 * Covered: the Appendix B text (every field, any order and case, long hex
 * ids, dates with and without seconds, hex and out-of-range err, "text:"
 * ending the scan, unknown words, only len octets read); the TLVs over the
 * text (receipted_message_id, message_state, network_error_code), TLVs
 * alone, bad TLV sizes; stat words and message_state names; a receipt
 * through the codec (encode, decode, read).  The outbox's view of the same
 * parser (row states) stays in test_outbox.c.
 *
 * Owns: nothing global.  May call: smpp/receipt.h, smpp/pdu.h, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smpp/pdu.h"
#include "smpp/receipt.h"

static int parse(const char *s, struct smpp_receipt *r)
{
    return smpp_receipt_parse((const uint8_t *)s, strlen(s), r);
}

static void test_text(void **state)
{
    (void)state;
    struct smpp_receipt r;
    assert_int_equal(parse("id:1234567890 sub:001 dlvrd:001 submit date:"
                           "2611260840 done date:2611260841 stat:DELIVRD "
                           "err:000 text:Hello id:999", &r), 0);
    assert_string_equal(r.id, "1234567890");
    assert_string_equal(r.stat, "DELIVRD");
    assert_int_equal(r.state, SMPP_STATE_DELIVERED);
    assert_int_equal(r.state_tlv, 0);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.sub, 1);
    assert_int_equal(r.dlvrd, 1);
    /* 2026-11-26 08:40 UTC */
    assert_int_equal(r.submit_date, 1795682400);
    assert_int_equal(r.done_date, 1795682460);

    /* long hex id, seconds, Text:, hex err, other order */
    assert_int_equal(parse("stat:UNDELIV id:4F3A2B1C9D8E7F6012 err:0x0B "
                           "done date:261126084155 Text:abc", &r), 0);
    assert_string_equal(r.id, "4F3A2B1C9D8E7F6012");
    assert_int_equal(r.state, SMPP_STATE_UNDELIVERABLE);
    assert_int_equal(r.err, 11);
    assert_int_equal(r.done_date, 1795682400 + 115);
    assert_int_equal(r.sub, -1);

    assert_int_equal(parse("ID:42 SUBMIT_DATE:2611260840 STAT:EXPIRED "
                           "ERR:1", &r), 0);
    assert_string_equal(r.id, "42");
    assert_int_equal(r.state, SMPP_STATE_EXPIRED);
    assert_int_equal(r.err, 1);
    assert_int_equal(r.submit_date, 1795682400);
    /* "submitdate:" (no separator) reads too; tabs and CRs separate */
    assert_int_equal(parse("id:9\tsubmitdate:2611260840\r\nstat:delivrd", &r), 0);
    assert_string_equal(r.id, "9");
    assert_int_equal(r.submit_date, 1795682400);
    assert_string_equal(r.stat, "delivrd");
    assert_int_equal(r.state, SMPP_STATE_DELIVERED);
}

static void test_text_edges(void **state)
{
    (void)state;
    struct smpp_receipt r;
    /* err beyond int: not a number, so 0 (found by fuzz_receipt) */
    assert_int_equal(parse("id:7 err:FFFFFFFF", &r), 0);
    assert_int_equal(r.err, 0);
    assert_int_equal(parse("id:7 err:7FFFFFFF", &r), 0);
    assert_int_equal(r.err, 0x7FFFFFFF);
    assert_int_equal(parse("id:7 err:999999999 sub:0x", &r), 0);
    assert_int_equal(r.err, 999999999);
    assert_int_equal(r.sub, -1);
    assert_int_equal(parse("id:7 stat:ACCEPTD", &r), 0);
    assert_int_equal(r.state, SMPP_STATE_ACCEPTED);
    assert_int_equal(parse("id:7 stat:REJECTD done date:9913329999", &r), 0);
    assert_int_equal(r.state, SMPP_STATE_REJECTED);
    assert_int_equal(r.done_date, 0);         /* month 13: not a date */
    assert_int_equal(parse("id:7 stat:NOSUCHWORD", &r), 0);
    assert_string_equal(r.stat, "NOSUCHWORD");
    assert_int_equal(r.state, -1);
    /* a stat word of 16 octets or more is not kept */
    assert_int_equal(parse("id:7 stat:DELIVRDDELIVRDDELIVRD", &r), 0);
    assert_string_equal(r.stat, "");
    assert_int_equal(r.state, -1);
    assert_int_equal(parse("stat:DELIVRD text:id:5", &r), -1);
    assert_int_equal(parse("", &r), -1);
    assert_int_equal(parse("id: stat:DELIVRD", &r), -1);
    assert_int_equal(parse("xid:5 stat:DELIVRD", &r), -1);
    assert_int_equal(smpp_receipt_parse(NULL, 0, &r), -1);
    assert_int_equal(r.state, -1);
    assert_int_equal(r.sub, -1);
    /* not NUL-terminated: only len bytes are read */
    assert_int_equal(smpp_receipt_parse((const uint8_t *)"id:123456", 5, &r), 0);
    assert_string_equal(r.id, "12");
    /* ids: 64 octets fit, 65 do not (and the first id wins) */
    char buf[160];
    memset(buf, 0, sizeof buf);
    memcpy(buf, "id:", 3);
    memset(buf + 3, 'A', 64);
    assert_int_equal(parse(buf, &r), 0);
    assert_int_equal(strlen(r.id), 64);
    memset(buf + 3, 'B', 65);
    assert_int_equal(parse(buf, &r), -1);
    assert_int_equal(parse("id:1 id:2", &r), 0);
    assert_string_equal(r.id, "1");
}

static void test_tlvs(void **state)
{
    (void)state;
    struct smpp_receipt r;
    /* TLVs win over the text */
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    p.esm_class = SMPP_ESM_RECEIPT;
    const char *txt = "id:1 stat:DELIVRD err:000";
    p.short_message = (const uint8_t *)txt;
    p.sm_length = (uint8_t)strlen(txt);
    static const char rid[] = "00FF";
    static const uint8_t nec[3] = { 3, 0x01, 0x02 };
    smpp_pdu_set_bytes(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, rid, sizeof rid);
    smpp_pdu_set_u8(&p, SMPP_TLV_MESSAGE_STATE, 5);
    smpp_pdu_set_bytes(&p, SMPP_TLV_NETWORK_ERROR_CODE, nec, 3);
    assert_int_equal(smpp_receipt_read(&p, &r), 0);
    assert_string_equal(r.id, "00FF");
    assert_int_equal(r.state, SMPP_STATE_UNDELIVERABLE);
    assert_int_equal(r.state_tlv, 1);
    assert_string_equal(r.stat, "DELIVRD");   /* the text's word stays */
    assert_int_equal(r.err, 0x0102);
    /* TLV only, no text */
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    smpp_pdu_set_bytes(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, rid, 4);
    smpp_pdu_set_u8(&p, SMPP_TLV_MESSAGE_STATE, 2);
    assert_int_equal(smpp_receipt_read(&p, &r), 0);
    assert_string_equal(r.id, "00FF");
    assert_int_equal(r.state, SMPP_STATE_DELIVERED);
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    assert_int_equal(smpp_receipt_read(&p, &r), -1);
    assert_int_equal(r.state, -1);
    assert_int_equal(r.state_tlv, 0);
    assert_int_equal(smpp_receipt_read(NULL, &r), -1);

    /* the text in message_payload */
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, txt, (uint16_t)strlen(txt));
    assert_int_equal(smpp_receipt_read(&p, &r), 0);
    assert_string_equal(r.id, "1");
    assert_int_equal(r.state, SMPP_STATE_DELIVERED);
    /* an empty receipted_message_id (just the NUL) keeps the text's id;
     * a network_error_code of another size is not read; message_state 0
     * is the TLV's all the same */
    static const uint8_t nec2[2] = { 1, 2 };
    smpp_pdu_set_bytes(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, "", 1);
    smpp_pdu_set_bytes(&p, SMPP_TLV_NETWORK_ERROR_CODE, nec2, 2);
    smpp_pdu_set_u8(&p, SMPP_TLV_MESSAGE_STATE, 0);
    assert_int_equal(smpp_receipt_read(&p, &r), 0);
    assert_string_equal(r.id, "1");
    assert_int_equal(r.err, 0);
    assert_int_equal(r.state, 0);
    assert_int_equal(r.state_tlv, 1);
    assert_null(smpp_message_state_name(r.state));
    /* a receipted_message_id without its NUL still reads */
    smpp_pdu_set_bytes(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, "abc", 3);
    assert_int_equal(smpp_receipt_read(&p, &r), 0);
    assert_string_equal(r.id, "abc");
}

static void test_codec(void **state)
{
    (void)state;
    /* the receipt of test_pdu's golden vector, encoded, decoded and read */
    static const char text[] = "id:42 stat:DELIVRD err:000";
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 8);
    p.source_addr = "996555123456";
    p.destination_addr = "100";
    p.esm_class = SMPP_ESM_RECEIPT;
    p.sm_length = (uint8_t)(sizeof text - 1);
    p.short_message = (const uint8_t *)text;
    smpp_pdu_set_bytes(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, "42", 3);
    smpp_pdu_set_u8(&p, SMPP_TLV_MESSAGE_STATE, 2);
    static const uint8_t nec[3] = { 0x03, 0x00, 0x00 };
    smpp_pdu_set_bytes(&p, SMPP_TLV_NETWORK_ERROR_CODE, nec, 3);
    uint8_t b[256];
    struct smpp_err err;
    int n = smpp_pdu_encode(&p, b, sizeof b, &err);
    assert_true(n > 0);
    struct smpp_pdu d;
    assert_int_equal(smpp_pdu_decode(&d, b, (size_t)n, NULL, &err), 0);
    struct smpp_receipt r;
    assert_int_equal(smpp_receipt_read(&d, &r), 0);
    assert_string_equal(r.id, "42");
    assert_string_equal(r.stat, "DELIVRD");
    assert_int_equal(r.state, SMPP_STATE_DELIVERED);
    assert_int_equal(r.err, 0);
}

static void test_names(void **state)
{
    (void)state;
    static const char *const words[] = { "ENROUTE", "DELIVRD", "EXPIRED",
                                         "DELETED", "UNDELIV", "ACCEPTD",
                                         "UNKNOWN", "REJECTD" };
    for (int s = 1; s <= 8; s++) {
        assert_string_equal(smpp_message_state_name(s), words[s - 1]);
        assert_int_equal(smpp_receipt_stat_state(words[s - 1]), s);
    }
    assert_null(smpp_message_state_name(0));
    assert_null(smpp_message_state_name(9));
    assert_null(smpp_message_state_name(-1));
    assert_int_equal(smpp_receipt_stat_state("delivered"), SMPP_STATE_DELIVERED);
    assert_int_equal(smpp_receipt_stat_state("Undeliverable"), SMPP_STATE_UNDELIVERABLE);
    assert_int_equal(smpp_receipt_stat_state("REJECTED"), SMPP_STATE_REJECTED);
    assert_int_equal(smpp_receipt_stat_state("DELIVRDX"), -1);
    assert_int_equal(smpp_receipt_stat_state(""), -1);
    assert_int_equal(smpp_receipt_stat_state(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_edges),
        cmocka_unit_test(test_tlvs),
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
