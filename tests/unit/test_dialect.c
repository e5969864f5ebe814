/*
 * tests/unit/test_dialect.c — USSD dialect presets: reading deliver_sm and
 * building the answering submit_sm, byte for byte, for each preset.
 * May call: smpp/dialect, smpp/pdu, smpp/text, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "smpp/dialect.h"
#include "smpp/pdu.h"
#include "tests/unit/pdu_build.h"
#include "tests/unit/smpp_wire.h"

/* A deliver_sm as a network sends it, encoded and decoded again so the
 * test reads what the codec hands the gateway. */
struct wire {
    uint8_t bytes[512];
    struct smpp_pdu pdu;
};

static void make_deliver(struct wire *w, int op, int its_session, int its_seq,
                         int its_end, int umr, uint8_t dc, const void *sm,
                         size_t smlen)
{
    struct smpp_pdu p;
    pdu_ussd_from_phone(&p, 7, "100", dc, sm, smlen);
    uint8_t its[2];
    if (op >= 0)
        smpp_pdu_set_u8(&p, SMPP_TLV_USSD_SERVICE_OP, (uint8_t)op);
    if (its_session >= 0) {
        its[0] = (uint8_t)its_session;
        its[1] = (uint8_t)(its_seq << 1 | its_end);
        smpp_pdu_set_bytes(&p, SMPP_TLV_ITS_SESSION_INFO, its, 2);
    }
    if (umr >= 0)
        smpp_pdu_set_u16(&p, SMPP_TLV_USER_MESSAGE_REFERENCE, (uint16_t)umr);
    wire_roundtrip(&p, w->bytes, sizeof w->bytes, &w->pdu);
}

static const struct ussd_dialect *D(const char *name)
{
    const struct ussd_dialect *d = ussd_dialect_find(name);
    assert_non_null(d);
    return d;
}

static char err[128];   /* the last reason given */

static struct wire heard_wire;  /* the last deliver_sm classify() built */
static struct ussd_in heard;     /* what the dialect read from it (views into it) */

/* A deliver_sm built as make_deliver() does, read under dialect `name`
 * into `heard`; ussd_classify's result. */
static int classify(const char *name, int op, int its_session, int its_seq, int its_end,
                    int umr, uint8_t dc, const void *sm, size_t smlen)
{
    make_deliver(&heard_wire, op, its_session, its_seq, its_end, umr, dc, sm, smlen);
    return ussd_classify(D(name), &heard_wire.pdu, &heard, err, sizeof err);
}

/* ussd_reply under dialect `name` with text t; its result. */
static int reply(const char *name, const struct ussd_in *in, const char *t, size_t len,
                 bool ucs2, bool end, struct smpp_pdu *r, struct ussd_reply_buf *b)
{
    return ussd_reply(D(name), in, (const uint8_t *)t, len, ucs2, end, r, b, err, sizeof err);
}

static void standard_start_continue_end(void **state)
{
    (void)state;
    assert_int_equal(classify("standard", 1, 17, 0, 0, -1, 0, "*100*2#", 7), 0);
    assert_int_equal(heard.kind, USSD_START);
    assert_string_equal(heard.msisdn, "996555123456");
    assert_string_equal(heard.service, "100");
    assert_string_equal(heard.key, "996555123456/17");
    assert_int_equal(heard.text_len, 7);
    assert_memory_equal(heard.text, "*100*2#", 7);

    /* The answer: op 2, its echoed (session 17, seq 0, no end bit),
     * service_type USSD, from the service code to the subscriber. */
    struct smpp_pdu r;
    struct ussd_reply_buf b;
    const char *scr = "1 Status\n2 Booking";
    assert_int_equal(reply("standard", &heard, scr, strlen(scr), false, false, &r, &b), 0);
    uint8_t out[512];
    struct smpp_pdu back;
    wire_roundtrip(&r, out, sizeof out, &back);
    assert_string_equal(back.service_type, "USSD");
    assert_string_equal(back.source_addr, "100");
    assert_string_equal(back.destination_addr, "996555123456");
    assert_int_equal(back.data_coding, 0);
    assert_int_equal(back.sm_length, strlen(scr));
    assert_int_equal(smpp_tlv_uint(&back, SMPP_TLV_USSD_SERVICE_OP), 2);
    const struct smpp_tlv *its = smpp_tlv_find(&back, SMPP_TLV_ITS_SESSION_INFO);
    assert_non_null(its);
    assert_int_equal(its->val[0], 17);
    assert_int_equal(its->val[1], 0);

    /* Continue, then a final screen: op 17 and the end bit. */
    assert_int_equal(classify("standard", 18, 17, 1, 0, -1, 0, "1", 1), 0);
    assert_int_equal(heard.kind, USSD_CONTINUE);
    assert_string_equal(heard.key, "996555123456/17");
    assert_int_equal(reply("standard", &heard, "Bye", 3, false, true, &r, &b), 0);
    assert_int_equal(smpp_tlv_uint(&r, SMPP_TLV_USSD_SERVICE_OP), 17);
    its = smpp_tlv_find(&r, SMPP_TLV_ITS_SESSION_INFO);
    assert_int_equal(its->val[0], 17);
    assert_int_equal(its->val[1], (1 << 1) | 1);
}

static void standard_aborts(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int op, its_session, its_end;
        enum ussd_kind kind;
    } cases[] = {
        { "end bit on a continue", 18, 3, 1, USSD_ABORT },
        { "USSREL 0x81", 0x81, 3, 0, USSD_ABORT },
        { "op 17 from the network", 17, 3, 0, USSD_ABORT },
        { "USSN confirm: nothing to do", 19, 3, 0, USSD_OTHER },
        { "no ussd_service_op: an SMS", -1, -1, 0, USSD_NOT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *sm = cases[i].op < 0 ? "hi" : "";
        int its_seq = cases[i].its_session < 0 ? 0 : 2;
        assert_int_equal(classify("standard", cases[i].op, cases[i].its_session,
                                  its_seq, cases[i].its_end, -1, 0, sm, strlen(sm)), 0);
        if (heard.kind != cases[i].kind)
            fail_msg("%s: kind %s", cases[i].what, ussd_kind_name(heard.kind));
    }
}

static void cyrillic_in_and_out(void **state)
{
    (void)state;
    /* "Иә" as UCS-2 */
    const uint8_t ucs2[] = { 0x04, 0x18, 0x04, 0xD9 };
    assert_int_equal(classify("standard", 18, 9, 1, 0, -1, 8, ucs2, sizeof ucs2), 0);
    assert_int_equal(heard.text_len, 4);
    assert_memory_equal(heard.text, "\xd0\x98\xd3\x99", 4);
    struct smpp_pdu r;
    struct ussd_reply_buf b;
    const char *txt = "Өтүнмө"; /* Ө т ү н м ө */
    assert_int_equal(reply("standard", &heard, txt, strlen(txt), true, false, &r, &b), 0);
    assert_int_equal(r.data_coding, 8);
    const uint8_t want[] = { 0x04, 0xE8, 0x04, 0x42, 0x04, 0xAF, 0x04, 0x3D, 0x04, 0x3C, 0x04, 0xE9 };
    assert_int_equal(r.sm_length, sizeof want);
    assert_memory_equal(r.short_message, want, sizeof want);
    /* 3GPP data_coding: 0x48 for UCS-2 */
    assert_int_equal(reply("standard-3gpp", &heard, txt, strlen(txt), true, false, &r, &b), 0);
    assert_int_equal(r.data_coding, 0x48);
    /* 81 Cyrillic letters do not fit one screen */
    char big[81 * 2 + 1];
    for (int i = 0; i < 81; i++)
        memcpy(big + 2 * i, "\xd0\x90", 2);
    assert_int_equal(reply("standard", &heard, big, 162, true, false, &r, &b), -1);
    assert_non_null(strstr(err, "160"));
    assert_int_equal(reply("standard", &heard, big, 160, true, false, &r, &b), 0);
}

static void packed_gsm_3gpp(void **state)
{
    (void)state;
    /* "*100#" packed: AA 18 0C 36 02 under data_coding 0x0F */
    const uint8_t packed[] = { 0xAA, 0x18, 0x0C, 0x36, 0x02 };
    assert_int_equal(classify("standard-3gpp", 1, 1, 0, 0, -1, 0x0F, packed, sizeof packed), 0);
    assert_int_equal(heard.text_len, 5);
    assert_memory_equal(heard.text, "*100#", 5);
    struct smpp_pdu r;
    struct ussd_reply_buf b;
    assert_int_equal(reply("standard-3gpp", &heard, "*100#", 5, false, false, &r, &b), 0);
    assert_int_equal(r.data_coding, 0x0F);
    assert_int_equal(r.sm_length, 5);
    assert_memory_equal(r.short_message, packed, 5);
}

static void end_bit_dialect_ends_with_op2(void **state)
{
    (void)state;
    assert_int_equal(classify("end-bit", 18, 5, 3, 0, -1, 0, "2", 1), 0);
    struct smpp_pdu r;
    struct ussd_reply_buf b;
    assert_int_equal(reply("end-bit", &heard, "Done", 4, false, true, &r, &b), 0);
    assert_int_equal(smpp_tlv_uint(&r, SMPP_TLV_USSD_SERVICE_OP), 2);
    assert_int_equal(smpp_tlv_find(&r, SMPP_TLV_ITS_SESSION_INFO)->val[1], (3 << 1) | 1);
}

static void umr_and_msisdn_keys(void **state)
{
    (void)state;
    assert_int_equal(classify("umr", 1, -1, 0, 0, 4711, 0, "*100#", 5), 0);
    assert_string_equal(heard.key, "996555123456/u4711");
    struct smpp_pdu r;
    struct ussd_reply_buf b;
    assert_int_equal(reply("umr", &heard, "x", 1, false, true, &r, &b), 0);
    assert_int_equal(smpp_tlv_uint(&r, SMPP_TLV_USER_MESSAGE_REFERENCE), 4711);
    assert_null(smpp_tlv_find(&r, SMPP_TLV_ITS_SESSION_INFO));
    assert_int_equal(smpp_tlv_uint(&r, SMPP_TLV_USSD_SERVICE_OP), 17);
    /* msisdn: the key ignores whatever session fields arrive */
    assert_int_equal(classify("msisdn", 1, 9, 0, 0, 12, 0, "*100#", 5), 0);
    assert_string_equal(heard.key, "996555123456");
    assert_int_equal(reply("msisdn", &heard, "x", 1, false, false, &r, &b), 0);
    assert_null(smpp_tlv_find(&r, SMPP_TLV_ITS_SESSION_INFO));
    assert_null(smpp_tlv_find(&r, SMPP_TLV_USER_MESSAGE_REFERENCE));
    /* standard without its: falls back to umr, then msisdn */
    assert_int_equal(classify("standard", 1, -1, 0, 0, 99, 0, "*100#", 5), 0);
    assert_string_equal(heard.key, "996555123456/u99");
    assert_int_equal(classify("standard", 1, -1, 0, 0, -1, 0, "*100#", 5), 0);
    assert_string_equal(heard.key, "996555123456");
}

static void start_without_text_uses_service_code(void **state)
{
    (void)state;
    assert_int_equal(classify("standard", 1, 2, 0, 0, -1, 0, "", 0), 0);
    assert_int_equal(heard.kind, USSD_START);
    assert_int_equal(heard.text_len, 5);
    assert_memory_equal(heard.text, "*100#", 5);
}

static void bad_input_is_an_error(void **state)
{
    (void)state;
    /* unknown data_coding 0x05 */
    assert_int_equal(classify("standard", 18, 2, 0, 0, -1, 0x05, "\x01\x02", 2), -1);
    assert_non_null(strstr(err, "0x05"));
    /* a reply text that is not UTF-8 */
    assert_int_equal(classify("standard", 18, 2, 0, 0, -1, 0, "1", 1), 0);
    struct smpp_pdu r;
    struct ussd_reply_buf b;
    assert_int_equal(reply("standard", &heard, "\xff", 1, false, false, &r, &b), -1);
    assert_null(ussd_dialect_find("no-such-dialect"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(standard_start_continue_end),
        cmocka_unit_test(standard_aborts),
        cmocka_unit_test(cyrillic_in_and_out),
        cmocka_unit_test(packed_gsm_3gpp),
        cmocka_unit_test(end_bit_dialect_ends_with_op2),
        cmocka_unit_test(umr_and_msisdn_keys),
        cmocka_unit_test(start_without_text_uses_service_code),
        cmocka_unit_test(bad_input_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
