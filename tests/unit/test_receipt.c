/*
 * tests/unit/test_receipt.c — cmocka tests of the one delivery-receipt
 * reader (smpp/receipt.c).
 *
 * Covered: the Appendix B text (every field, any order and case, long hex
 * ids, dates with and without seconds, hex and out-of-range err, "text:"
 * ending the scan, unknown words, only len octets read); the TLVs over the
 * text (receipted_message_id, message_state, network_error_code), TLVs
 * alone, bad TLV sizes; stat words and message_state names; a receipt
 * through the codec (encode, decode, read).  The texts and TLV bodies are
 * the table in receipt_cases.h, which test_outbox.c reads too for the
 * outbox's view of the same parser (row states).
 *
 * Owns: nothing global.  May call: smpp/receipt.h, smpp/pdu.h,
 * tests/unit/receipt_cases.h, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smpp/pdu.h"
#include "smpp/receipt.h"
#include "tests/unit/receipt_cases.h"

/* The table's readers: what smpp/receipt reads (no row state here). */
static struct smpp_receipt last;

static struct rc_want got(int rc)
{
    struct rc_want g = { rc, last.id, last.stat, last.state, last.state_tlv,
                         INT32_MIN, last.err, last.sub, last.dlvrd,
                         last.submit_date, last.done_date };
    return g;
}

static struct rc_want read_text(const uint8_t *text, size_t len)
{
    return got(smpp_receipt_parse(text, len, &last));
}

static struct rc_want read_pdu(const struct smpp_pdu *p)
{
    return got(smpp_receipt_read(p, &last));
}

static void test_text(void **state)
{
    (void)state;
    rc_run(read_text, NULL);
}

static void test_text_edges(void **state)
{
    (void)state;
    struct smpp_receipt r;
    assert_int_equal(smpp_receipt_parse(NULL, 0, &r), -1);
    assert_int_equal(r.state, -1);
    assert_int_equal(r.sub, -1);
    /* ids: 64 octets fit, 65 do not */
    char buf[160];
    memset(buf, 0, sizeof buf);
    memcpy(buf, "id:", 3);
    memset(buf + 3, 'A', 64);
    assert_int_equal(smpp_receipt_parse((const uint8_t *)buf, strlen(buf), &r), 0);
    assert_int_equal(strlen(r.id), 64);
    memset(buf + 3, 'B', 65);
    assert_int_equal(smpp_receipt_parse((const uint8_t *)buf, strlen(buf), &r), -1);
}

static void test_tlvs(void **state)
{
    (void)state;
    rc_run(NULL, read_pdu);
    /* message_state 0 (a table row) is the TLV's, but names nothing */
    assert_null(smpp_message_state_name(0));
    struct smpp_receipt r;
    struct smpp_pdu p;
    /* nothing to read: neither a state nor a TLV's */
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    assert_int_equal(smpp_receipt_read(&p, &r), -1);
    assert_int_equal(r.state, -1);
    assert_int_equal(r.state_tlv, 0);
    assert_int_equal(smpp_receipt_read(NULL, &r), -1);
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
