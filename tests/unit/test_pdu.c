/*
 * tests/unit/test_pdu.c — cmocka tests of the SMPP 3.4 codec (smpp/pdu.c).
 *
 * Golden vectors: every PDU type kyzmat exchanges, written by hand from the
 * SMPP 3.4 specification (chapter 4 field order, §5.3.2 TLV lengths) as hex
 * with one group per field.  Each is checked three ways: the struct encodes
 * to exactly those bytes, the bytes decode to exactly that struct, and the
 * decoded struct re-encodes to the same bytes.  Then boundaries (lengths,
 * C-string maxima, sm_length, TLV overruns and sizes, empty error bodies)
 * and the TLVs the USSD and receipt paths rely on.  Last, the readers of
 * the message inside a PDU: its body (short_message or message_payload)
 * and its concatenation (8- and 16-bit UDH IEs, sar_* TLVs), and the
 * framing that cuts one PDU off an evbuffer (smpp/frame.h).
 *
 * Owns: nothing global.  May call: smpp/pdu.h, smpp/frame.h, libevent's
 * evbuffer, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "smpp/frame.h"
#include "smpp/pdu.h"
#include "tests/unit/pdu_build.h"

/* ---- helpers ---------------------------------------------------------- */

/* Parse hex with any separators ("00 0a|ff") into out; returns the length. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *s = hex; *s; s++) {
        int v;
        if (*s >= '0' && *s <= '9')
            v = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            v = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            v = *s - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            assert_true(n < cap);
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    assert_int_equal(hi, -1);
    return n;
}

static const char *norm(const char *s)
{
    return s ? s : "";
}

/* Field-by-field equality; NULL and "" C-strings are the same on the wire. */
static void assert_pdu_equal(const struct smpp_pdu *a, const struct smpp_pdu *b)
{
    assert_int_equal(a->command_id, b->command_id);
    assert_int_equal(a->command_status, b->command_status);
    assert_int_equal(a->sequence_number, b->sequence_number);
    assert_string_equal(norm(a->system_id), norm(b->system_id));
    assert_string_equal(norm(a->password), norm(b->password));
    assert_string_equal(norm(a->system_type), norm(b->system_type));
    assert_int_equal(a->interface_version, b->interface_version);
    assert_int_equal(a->addr_ton, b->addr_ton);
    assert_int_equal(a->addr_npi, b->addr_npi);
    assert_string_equal(norm(a->address_range), norm(b->address_range));
    assert_string_equal(norm(a->service_type), norm(b->service_type));
    assert_int_equal(a->source_addr_ton, b->source_addr_ton);
    assert_int_equal(a->source_addr_npi, b->source_addr_npi);
    assert_string_equal(norm(a->source_addr), norm(b->source_addr));
    assert_int_equal(a->dest_addr_ton, b->dest_addr_ton);
    assert_int_equal(a->dest_addr_npi, b->dest_addr_npi);
    assert_string_equal(norm(a->destination_addr), norm(b->destination_addr));
    assert_int_equal(a->esm_class, b->esm_class);
    assert_int_equal(a->protocol_id, b->protocol_id);
    assert_int_equal(a->priority_flag, b->priority_flag);
    assert_string_equal(norm(a->schedule_delivery_time), norm(b->schedule_delivery_time));
    assert_string_equal(norm(a->validity_period), norm(b->validity_period));
    assert_int_equal(a->registered_delivery, b->registered_delivery);
    assert_int_equal(a->replace_if_present_flag, b->replace_if_present_flag);
    assert_int_equal(a->data_coding, b->data_coding);
    assert_int_equal(a->sm_default_msg_id, b->sm_default_msg_id);
    assert_int_equal(a->sm_length, b->sm_length);
    if (a->sm_length)
        assert_memory_equal(a->short_message, b->short_message, a->sm_length);
    assert_string_equal(norm(a->message_id), norm(b->message_id));
    assert_string_equal(norm(a->final_date), norm(b->final_date));
    assert_int_equal(a->message_state, b->message_state);
    assert_int_equal(a->error_code, b->error_code);
    assert_int_equal(a->tlv_count, b->tlv_count);
    for (unsigned i = 0; i < a->tlv_count; i++) {
        assert_int_equal(a->tlv[i].tag, b->tlv[i].tag);
        assert_int_equal(a->tlv[i].len, b->tlv[i].len);
        if (a->tlv[i].len)
            assert_memory_equal(a->tlv[i].val, b->tlv[i].val, a->tlv[i].len);
    }
}

/* The golden check: struct -> bytes, bytes -> struct, struct -> bytes. */
static void golden(struct smpp_pdu *built, const char *hex)
{
    uint8_t want[1024], got[1024], again[1024];
    size_t n = unhex(hex, want, sizeof want);
    struct smpp_err err = {0, ""};

    int w = smpp_pdu_encode(built, got, sizeof got, &err);
    if (w < 0)
        fail_msg("encode failed: %s", err.text);
    assert_int_equal((size_t)w, n);
    assert_memory_equal(got, want, n);
    assert_int_equal(built->command_length, n);

    /* Decode from an exact-size heap copy so ASan sees any overread. */
    uint8_t *exact = malloc(n);
    assert_non_null(exact);
    memcpy(exact, want, n);
    struct smpp_pdu dec;
    memset(&dec, 0xA5, sizeof dec);       /* decode must not rely on a zeroed struct */
    if (smpp_pdu_decode(&dec, exact, n, NULL, &err) != 0)
        fail_msg("decode failed: %s", err.text);
    assert_int_equal(dec.command_length, n);
    assert_pdu_equal(&dec, built);

    int w2 = smpp_pdu_encode(&dec, again, sizeof again, &err);
    assert_int_equal((size_t)w2, n);
    assert_memory_equal(again, want, n);
    free(exact);
}

static char last_err_text[96];   /* err.text of the last expected failure */

/* Decode hex, expect failure with `status`; returns the pdu for more checks. */
static struct smpp_pdu expect_decode_error(const uint8_t *bytes, size_t n, uint32_t max,
                                           uint32_t status)
{
    struct smpp_pdu p;
    struct smpp_err err = {0, ""};
    struct smpp_limits lim = {max};
    uint8_t *exact = malloc(n ? n : 1);
    assert_non_null(exact);
    memcpy(exact, bytes, n);
    int rc = smpp_pdu_decode(&p, exact, n, &lim, &err);
    free(exact);
    if (rc == 0)
        fail_msg("decode succeeded, wanted status 0x%x", status);
    if (err.status != status)
        fail_msg("status 0x%x (%s), wanted 0x%x", err.status, err.text, status);
    assert_true(strlen(err.text) > 0);
    memcpy(last_err_text, err.text, sizeof last_err_text);
    /* the views now dangle; callers only look at header numbers */
    return p;
}

static struct smpp_pdu expect_hex_error(const char *hex, uint32_t status)
{
    uint8_t b[1024];
    size_t n = unhex(hex, b, sizeof b);
    return expect_decode_error(b, n, 0, status);
}

static void decode_ok(struct smpp_pdu *p, const uint8_t *b, size_t n)
{
    struct smpp_err err = {0, ""};
    if (smpp_pdu_decode(p, b, n, NULL, &err) != 0)
        fail_msg("decode failed: %s", err.text);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- golden vectors: sessions ----------------------------------------- */

static void test_bind_transmitter(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_BIND_TRANSMITTER, 0, 1);
    p.system_id = "kyzmat";
    p.password = "secret";
    p.system_type = "";
    p.interface_version = 0x34;
    p.addr_ton = 1;
    p.addr_npi = 1;
    p.address_range = NULL;
    golden(&p, "00000023 00000002 00000000 00000001"
               "6b797a6d617400"            /* system_id "kyzmat" */
               "73656372657400"            /* password "secret" */
               "00"                        /* system_type "" */
               "34 01 01"                  /* interface_version, addr_ton, addr_npi */
               "00");                      /* address_range "" */
}

static void test_bind_receiver(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_BIND_RECEIVER, 0, 2);
    p.system_id = "rx";
    p.password = "pw";
    p.system_type = "VMA";
    p.interface_version = 0x34;
    p.address_range = "^996";
    golden(&p, "00000022 00000001 00000000 00000002"
               "727800 707700 564d4100"
               "34 00 00"
               "5e39393600");
}

static void test_bind_transceiver(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_BIND_TRANSCEIVER, 0, 3);
    p.system_id = "kyzmat";
    p.password = "secret";
    p.system_type = "USSD";
    p.interface_version = 0x34;
    p.addr_ton = 5;
    golden(&p, "00000027 00000009 00000000 00000003"
               "6b797a6d617400 73656372657400 5553534400"
               "34 05 00"
               "00");
}

static void test_bind_resps(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_BIND_TRANSMITTER_RESP, 0, 1);
    p.system_id = "SMSC";
    assert_int_equal(smpp_pdu_set_u8(&p, SMPP_TLV_SC_INTERFACE_VERSION, 0x34), 0);
    golden(&p, "0000001a 80000002 00000000 00000001"
               "534d534300"
               "0210 0001 34");              /* sc_interface_version */

    smpp_pdu_reset(&p, SMPP_BIND_RECEIVER_RESP, 0, 2);
    p.system_id = "SMSC";
    golden(&p, "00000015 80000001 00000000 00000002 534d534300");

    smpp_pdu_reset(&p, SMPP_BIND_TRANSCEIVER_RESP, ESME_RINVPASWD, 3);
    p.system_id = "";
    golden(&p, "00000011 80000009 0000000e 00000003 00");
}

static void test_outbind(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_OUTBIND, 0, 9);
    p.system_id = "smsc1";
    p.password = "pw";
    golden(&p, "00000019 0000000b 00000000 00000009 736d73633100 707700");
}

static void test_header_only(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_UNBIND, 0, 10);
    golden(&p, "00000010 00000006 00000000 0000000a");
    smpp_pdu_reset(&p, SMPP_UNBIND_RESP, 0, 10);
    golden(&p, "00000010 80000006 00000000 0000000a");
    smpp_pdu_reset(&p, SMPP_ENQUIRE_LINK, 0, 0x7fffffff);
    golden(&p, "00000010 00000015 00000000 7fffffff");
    smpp_pdu_reset(&p, SMPP_ENQUIRE_LINK_RESP, 0, 0x7fffffff);
    golden(&p, "00000010 80000015 00000000 7fffffff");
    smpp_pdu_reset(&p, SMPP_GENERIC_NACK, ESME_RINVCMDID, 77);
    golden(&p, "00000010 80000000 00000003 0000004d");
    smpp_pdu_reset(&p, SMPP_CANCEL_SM_RESP, 0, 5);
    golden(&p, "00000010 80000008 00000000 00000005");
    smpp_pdu_reset(&p, SMPP_REPLACE_SM_RESP, ESME_RREPLACEFAIL, 6);
    golden(&p, "00000010 80000007 00000013 00000006");
}

/* ---- golden vectors: messages ----------------------------------------- */

static const uint8_t ucs2_sa[] = {0x04, 0x21, 0x04, 0x30};   /* "Са" */

static void test_submit_sm_ussd_ucs2(void **state)
{
    (void)state;
    struct smpp_pdu p;
    pdu_submit_to_phone(&p, 0x0102, 0, "100", 8, ucs2_sa, sizeof ucs2_sa);
    p.service_type = "USSD";
    assert_int_equal(smpp_pdu_set_u8(&p, SMPP_TLV_USSD_SERVICE_OP, SMPP_USSD_USSR_REQ), 0);
    uint8_t its[2] = {0x12, 0x00};
    assert_int_equal(smpp_pdu_set_bytes(&p, SMPP_TLV_ITS_SESSION_INFO, its, 2), 0);
    golden(&p, "00000043 00000004 00000000 00000102"
               "5553534400"                    /* service_type "USSD" */
               "00 00 31303000"                /* source 0/0 "100" */
               "01 01 39393635353531323334353600" /* dest 1/1 "996555123456" */
               "00 00 00"                      /* esm_class protocol_id priority */
               "00 00"                         /* schedule, validity "" */
               "00 00 08 00"                   /* reg, replace, data_coding 8, default id */
               "04 04210430"                   /* sm_length 4, UCS-2 "Са" */
               "0501 0001 02"                  /* ussd_service_op USSR request */
               "1383 0002 1200");              /* its_session_info 0x12, seq 0 */
}

/* Every field distinct and non-zero, so a swapped field cannot hide. */
static void test_submit_sm_all_fields(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, 0x01020304);
    p.service_type = "CMT";
    p.source_addr_ton = 5;
    p.source_addr_npi = 0;
    p.source_addr = "Kyzmat";
    p.dest_addr_ton = 1;
    p.dest_addr_npi = 2;
    p.destination_addr = "996700000001";
    p.esm_class = 0x03;
    p.protocol_id = 0x7f;
    p.priority_flag = 1;
    p.schedule_delivery_time = "240101120000000+";
    p.validity_period = "000002000000000R";
    p.registered_delivery = 0x11;
    p.replace_if_present_flag = 1;
    p.data_coding = 3;
    p.sm_default_msg_id = 5;
    p.sm_length = 5;
    p.short_message = (const uint8_t *)"hello";
    golden(&p, "0000005b 00000004 00000000 01020304"
               "434d5400"                              /* service_type "CMT" */
               "05 00 4b797a6d617400"                  /* source 5/0 "Kyzmat" */
               "01 02 39393637303030303030303100"      /* dest 1/2 "996700000001" */
               "03 7f 01"                              /* esm_class protocol_id priority */
               "3234303130313132303030303030302b00"    /* schedule_delivery_time */
               "3030303030323030303030303030305200"    /* validity_period */
               "11 01 03 05"                           /* reg replace data_coding default */
               "05 68656c6c6f");                       /* sm_length, "hello" */
}

static void test_submit_sm_resp(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM_RESP, 0, 0x0102);
    p.message_id = "5f3a9c01";
    golden(&p, "00000019 80000004 00000000 00000102 3566336139633031 00");
}

static void test_deliver_sm_ussd_start(void **state)
{
    (void)state;
    struct smpp_pdu p;
    pdu_ussd_from_phone(&p, 7, "*100#", 0x0f, "*100#", 5);
    assert_int_equal(smpp_pdu_set_u8(&p, SMPP_TLV_USSD_SERVICE_OP, SMPP_USSD_PSSR_IND), 0);
    assert_int_equal(smpp_pdu_set_u16(&p, SMPP_TLV_ITS_SESSION_INFO, 0x1200), 0);
    golden(&p, "00000046 00000005 00000000 00000007"
               "5553534400"
               "01 01 39393635353531323334353600"
               "00 00 2a3130302300"
               "00 00 00 00 00"
               "00 00 0f 00"
               "05 2a31303023"
               "0501 0001 01"
               "1383 0002 1200");
}

static void test_deliver_sm_receipt(void **state)
{
    (void)state;
    static const char text[] = "id:42 stat:DELIVRD err:000";
    struct smpp_pdu p;
    /* receipted_message_id "42", message_state 2, network_error_code 03 00 00 */
    assert_int_equal(pdu_receipt_from_phone(&p, 8, "100", text, sizeof text - 1, "42", 2), 0);
    golden(&p, "0000005d 00000005 00000000 00000008"
               "00"
               "01 01 39393635353531323334353600"
               "00 00 31303000"
               "04 00 00 00 00"
               "00 00 00 00"
               "1a 69643a3432207374 61743a44454c495652 44206572723a303030"
               "001e 0003 343200"              /* receipted_message_id "42" */
               "0427 0001 02"                  /* message_state DELIVERED */
               "0423 0003 030000");            /* network_error_code GSM 0 */

    /* and what the receipt path reads out of it */
    uint8_t b[256];
    struct smpp_err err;
    int w = smpp_pdu_encode(&p, b, sizeof b, &err);
    assert_int_equal(w, 0x5d);
    size_t n = (size_t)w;
    struct smpp_pdu d;
    decode_ok(&d, b, n);
    const struct smpp_tlv *r = smpp_tlv_find(&d, SMPP_TLV_RECEIPTED_MESSAGE_ID);
    assert_non_null(r);
    assert_string_equal((const char *)r->val, "42");
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_MESSAGE_STATE), 2);
    const struct smpp_tlv *e = smpp_tlv_find(&d, SMPP_TLV_NETWORK_ERROR_CODE);
    assert_non_null(e);
    assert_int_equal(e->len, 3);
    assert_int_equal(e->val[0], 3);
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_NETWORK_ERROR_CODE), -1); /* 3 octets */
    assert_int_equal(d.esm_class & 0x04, 0x04);
}

static void test_deliver_sm_resp(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DELIVER_SM_RESP, 0, 7);
    golden(&p, "00000011 80000005 00000000 00000007 00");
}

static void test_data_sm(void **state)
{
    (void)state;
    struct smpp_pdu p;
    pdu_from_phone(&p, SMPP_DATA_SM, 11, "100");
    p.esm_class = 3;
    p.registered_delivery = 1;
    p.data_coding = 8;
    assert_int_equal(smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, "hi", 2), 0);
    golden(&p, "0000002f 00000103 00000000 0000000b"
               "00"
               "01 01 39393635353531323334353600"
               "00 00 31303000"
               "03 01 08"                      /* esm_class, registered_delivery, data_coding */
               "0424 0002 6869");              /* message_payload "hi" */

    smpp_pdu_reset(&p, SMPP_DATA_SM_RESP, 0, 11);
    p.message_id = "77";
    assert_int_equal(smpp_pdu_set_bytes(&p, SMPP_TLV_ADDITIONAL_STATUS_INFO_TEXT, "ok", 3), 0);
    golden(&p, "0000001a 80000103 00000000 0000000b 373700 001d 0003 6f6b00");
}

static void test_query_sm(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_QUERY_SM, 0, 12);
    p.message_id = "5f3a9c01";
    p.source_addr = "100";
    golden(&p, "0000001f 00000003 00000000 0000000c 356633613963303100 00 00 31303000");

    smpp_pdu_reset(&p, SMPP_QUERY_SM_RESP, 0, 12);
    p.message_id = "5f3a9c01";
    p.final_date = "240101120000000+";
    p.message_state = 2;
    p.error_code = 0;
    golden(&p, "0000002c 80000003 00000000 0000000c 356633613963303100"
               "3234303130313132303030303030302b00"
               "02 00");
}

static void test_cancel_sm(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_CANCEL_SM, 0, 13);
    p.message_id = "5f3a9c01";
    p.source_addr = "100";
    p.dest_addr_ton = 1;
    p.dest_addr_npi = 1;
    p.destination_addr = "996555123456";
    golden(&p, "0000002f 00000008 00000000 0000000d"
               "00 356633613963303100 00 00 31303000 01 01 39393635353531323334353600");
}

static void test_replace_sm(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_REPLACE_SM, 0, 14);
    p.message_id = "5f3a9c01";
    p.source_addr = "100";
    p.validity_period = "000001000000000R";
    p.registered_delivery = 1;
    p.sm_length = 2;
    p.short_message = (const uint8_t *)"hi";
    golden(&p, "00000036 00000007 00000000 0000000e"
               "356633613963303100 00 00 31303000"
               "00 3030303030313030303030303030305200"
               "01 00 02 6869");
}

static void test_alert_notification(void **state)
{
    (void)state;
    struct smpp_pdu p;
    pdu_from_phone(&p, SMPP_ALERT_NOTIFICATION, 15, "100");   /* esme_addr "100" */
    assert_int_equal(smpp_pdu_set_u8(&p, SMPP_TLV_MS_AVAILABILITY_STATUS, 0), 0);
    golden(&p, "0000002a 00000102 00000000 0000000f"
               "01 01 39393635353531323334353600 00 00 31303000 0422 0001 00");
}

/* ---- boundaries: lengths ---------------------------------------------- */

static void test_command_length_bounds(void **state)
{
    (void)state;
    uint8_t b[32];
    /* 15 octets: not even a header */
    size_t n = unhex("0000000f 00000015 00000000 000000", b, sizeof b);
    assert_int_equal(n, 15);
    expect_decode_error(b, n, 0, ESME_RINVCMDLEN);
    /* a 16-octet header that claims 15 */
    n = unhex("0000000f 00000015 00000000 00000042", b, sizeof b);
    struct smpp_pdu p = expect_decode_error(b, n, 0, ESME_RINVCMDLEN);
    assert_int_equal(p.sequence_number, 0x42);
    assert_int_equal(p.command_id, SMPP_ENQUIRE_LINK);
    /* exactly 16 */
    n = unhex("00000010 00000015 00000000 00000042", b, sizeof b);
    decode_ok(&p, b, n);
    /* length field disagrees with the octets given */
    n = unhex("00000011 00000015 00000000 00000042", b, sizeof b);
    expect_decode_error(b, n, 0, ESME_RINVCMDLEN);
    /* a small configured cap: a 21-octet PDU with cap 21 passes, cap 20 fails */
    n = unhex("00000015 80000004 00000000 00000001 3132333400", b, sizeof b);
    struct smpp_limits lim = {21};
    struct smpp_err err;
    assert_int_equal(smpp_pdu_decode(&p, b, n, &lim, &err), 0);
    p = expect_decode_error(b, n, 20, ESME_RINVCMDLEN);
    assert_int_equal(p.sequence_number, 1);
    assert_int_equal(p.command_id, SMPP_SUBMIT_SM_RESP);

    assert_int_equal(smpp_length_ok(15, 0), 0);
    assert_int_equal(smpp_length_ok(16, 0), 1);
    assert_int_equal(smpp_length_ok(SMPP_DEFAULT_MAX_LEN, 0), 1);
    assert_int_equal(smpp_length_ok(SMPP_DEFAULT_MAX_LEN + 1, 0), 0);
    assert_int_equal(smpp_length_ok(100, 100), 1);
    assert_int_equal(smpp_length_ok(101, 100), 0);
    assert_int_equal(smpp_pdu_peek_length(b, 3), 0);
    assert_int_equal(smpp_pdu_peek_length(b, 4), 0x15);
}

/* The default cap (64 KiB): a data_sm with a big message_payload of
 * exactly 65536 octets passes; 65537 is refused before the body is read. */
static void test_default_cap(void **state)
{
    (void)state;
    size_t cap = SMPP_DEFAULT_MAX_LEN + 1;
    uint8_t *b = calloc(1, cap);
    uint8_t *payload = calloc(1, 65535);
    assert_non_null(b);
    assert_non_null(payload);
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DATA_SM, 0, 1);
    /* empty data_sm = 16 + 1+2+1+2+1+3 = 26; TLV header 4 -> payload 65506 */
    size_t plen = SMPP_DEFAULT_MAX_LEN - 26 - 4;
    assert_int_equal(smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, payload, (uint16_t)plen), 0);
    struct smpp_err err;
    int n = smpp_pdu_encode(&p, b, cap, &err);
    assert_int_equal(n, SMPP_DEFAULT_MAX_LEN);
    struct smpp_pdu d;
    decode_ok(&d, b, (size_t)n);
    assert_int_equal(smpp_tlv_find(&d, SMPP_TLV_MESSAGE_PAYLOAD)->len, plen);

    put32(b, SMPP_DEFAULT_MAX_LEN + 1);
    expect_decode_error(b, SMPP_DEFAULT_MAX_LEN + 1, 0, ESME_RINVCMDLEN);
    free(payload);
    free(b);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    /* header-only command with one extra octet */
    expect_hex_error("00000011 00000015 00000000 00000001 00", ESME_RINVCMDLEN);
    /* generic_nack has no body */
    expect_hex_error("00000011 80000000 00000003 00000001 00", ESME_RINVCMDLEN);
    /* query_sm takes no TLVs: one trailing octet */
    expect_hex_error("00000020 00000003 00000000 0000000c 356633613963303100 00 00 31303000 ff",
                     ESME_RINVCMDLEN);
    /* bind_transmitter takes no TLVs either */
    expect_hex_error("00000028 00000002 00000000 00000001 6b797a6d617400 73656372657400 00"
                     "34 01 01 00 0210 0001 34", ESME_RINVCMDLEN);
    /* submit_sm_resp with TLVs allowed: a lone trailing octet is a broken TLV */
    expect_hex_error("00000013 80000004 00000000 00000001 3100 ff",
                     ESME_RINVOPTPARSTREAM);
}

static void test_truncated_fields(void **state)
{
    (void)state;
    /* bind_transmitter cut after system_id */
    expect_hex_error("00000017 00000002 00000000 00000001 6b797a6d617400", ESME_RINVCMDLEN);
    /* system_id without NUL before the end */
    expect_hex_error("00000013 00000002 00000000 00000001 6b797a", ESME_RINVCMDLEN);
    /* query_sm_resp missing error_code */
    expect_hex_error("0000002b 80000003 00000000 0000000c 356633613963303100"
                     "3234303130313132303030303030302b00 02", ESME_RINVCMDLEN);
    /* submit_sm ending right before sm_length */
    expect_hex_error("00000022 00000004 00000000 00000001 00 0000 3100 0000 3200 000000 00 00"
                     "00000000", ESME_RINVCMDLEN);
}

static void test_unknown_command(void **state)
{
    (void)state;
    struct smpp_pdu p = expect_hex_error("00000010 00000099 00000000 00000123", ESME_RINVCMDID);
    assert_int_equal(p.command_id, 0x99);
    assert_int_equal(p.sequence_number, 0x123);
    expect_hex_error("00000010 80000099 00000000 00000123", ESME_RINVCMDID);
    expect_hex_error("00000010 00000000 00000000 00000123", ESME_RINVCMDID);
    expect_hex_error("00000010 8000000b 00000000 00000123", ESME_RINVCMDID); /* no outbind_resp */
    /* submit_multi is refused by choice */
    expect_hex_error("00000010 00000021 00000000 00000001", ESME_RINVCMDID);
    struct smpp_pdu q;
    smpp_pdu_reset(&q, 0x99, 0, 1);
    uint8_t b[64];
    struct smpp_err err;
    assert_int_equal(smpp_pdu_encode(&q, b, sizeof b, &err), -1);
    assert_int_equal(err.status, ESME_RINVCMDID);
    smpp_pdu_reset(&q, SMPP_SUBMIT_MULTI, 0, 1);
    assert_int_equal(smpp_pdu_encode(&q, b, sizeof b, &err), -1);
}

/* ---- boundaries: C-strings at their maximum --------------------------- */

struct cstr_case {
    const char *name;  /* as the error text must name it */
    uint32_t command_id;
    size_t off;        /* offsetof the field in struct smpp_pdu */
    unsigned max;      /* SMPP 3.4 maximum including the NUL */
    uint32_t status;   /* status when one octet too long */
};

static const struct cstr_case cstr_cases[] = {
    {"system_id", SMPP_BIND_TRANSMITTER, offsetof(struct smpp_pdu, system_id), 16, ESME_RINVSYSID},
    {"password", SMPP_BIND_TRANSMITTER, offsetof(struct smpp_pdu, password), 9, ESME_RINVPASWD},
    {"system_type", SMPP_BIND_RECEIVER, offsetof(struct smpp_pdu, system_type), 13, ESME_RINVSYSTYP},
    {"address_range", SMPP_BIND_TRANSCEIVER, offsetof(struct smpp_pdu, address_range), 41, ESME_RINVPARLEN},
    {"system_id", SMPP_BIND_TRANSCEIVER_RESP, offsetof(struct smpp_pdu, system_id), 16, ESME_RINVSYSID},
    {"password", SMPP_OUTBIND, offsetof(struct smpp_pdu, password), 9, ESME_RINVPASWD},
    {"service_type", SMPP_SUBMIT_SM, offsetof(struct smpp_pdu, service_type), 6, ESME_RINVSERTYP},
    {"source_addr", SMPP_SUBMIT_SM, offsetof(struct smpp_pdu, source_addr), 21, ESME_RINVSRCADR},
    {"destination_addr", SMPP_SUBMIT_SM, offsetof(struct smpp_pdu, destination_addr), 21, ESME_RINVDSTADR},
    {"schedule_delivery_time", SMPP_SUBMIT_SM, offsetof(struct smpp_pdu, schedule_delivery_time), 17, ESME_RINVSCHED},
    {"validity_period", SMPP_DELIVER_SM, offsetof(struct smpp_pdu, validity_period), 17, ESME_RINVEXPIRY},
    {"source_addr", SMPP_DATA_SM, offsetof(struct smpp_pdu, source_addr), 65, ESME_RINVSRCADR},
    {"destination_addr", SMPP_DATA_SM, offsetof(struct smpp_pdu, destination_addr), 65, ESME_RINVDSTADR},
    {"message_id", SMPP_SUBMIT_SM_RESP, offsetof(struct smpp_pdu, message_id), 65, ESME_RINVMSGID},
    {"final_date", SMPP_QUERY_SM_RESP, offsetof(struct smpp_pdu, final_date), 17, ESME_RINVPARLEN},
    {"destination_addr", SMPP_CANCEL_SM, offsetof(struct smpp_pdu, destination_addr), 21, ESME_RINVDSTADR},
    {"message_id", SMPP_REPLACE_SM, offsetof(struct smpp_pdu, message_id), 65, ESME_RINVMSGID},
    {"source_addr", SMPP_ALERT_NOTIFICATION, offsetof(struct smpp_pdu, source_addr), 65, ESME_RINVSRCADR},
    {"esme_addr", SMPP_ALERT_NOTIFICATION, offsetof(struct smpp_pdu, destination_addr), 65, ESME_RINVDSTADR},
};

static void test_cstring_max(void **state)
{
    (void)state;
    char longest[80], over[80];
    for (size_t i = 0; i < sizeof cstr_cases / sizeof cstr_cases[0]; i++) {
        const struct cstr_case *c = &cstr_cases[i];
        memset(longest, 'A', c->max - 1);
        longest[c->max - 1] = 0;
        memset(over, 'A', c->max);
        over[c->max] = 0;

        struct smpp_pdu p;
        smpp_pdu_reset(&p, c->command_id, 0, 1);
        *(const char **)(void *)((char *)&p + c->off) = longest;
        uint8_t b[512], b2[512];
        struct smpp_err err;
        int n = smpp_pdu_encode(&p, b, sizeof b, &err);
        assert_true(n > 0);
        struct smpp_pdu d;
        decode_ok(&d, b, (size_t)n);
        const char *got = *(const char **)(void *)((char *)&d + c->off);
        assert_string_equal(got, longest);

        /* encoding one octet more fails with the field's status */
        *(const char **)(void *)((char *)&p + c->off) = over;
        assert_int_equal(smpp_pdu_encode(&p, b2, sizeof b2, &err), -1);
        if (err.status != c->status)
            fail_msg("case %zu: encode status 0x%x (%s)", i, err.status, err.text);

        /* decoding: insert one more 'A' into the wire bytes */
        size_t at = (size_t)((const uint8_t *)got - b);
        memcpy(b2, b, at);
        b2[at] = 'A';
        memcpy(b2 + at + 1, b + at, (size_t)n - at);
        put32(b2, (uint32_t)n + 1);
        struct smpp_pdu e = expect_decode_error(b2, (size_t)n + 1, 0, c->status);
        assert_int_equal(e.sequence_number, 1);
        if (strncmp(last_err_text, c->name, strlen(c->name)) != 0)
            fail_msg("case %zu: error text \"%s\" does not name %s", i, last_err_text, c->name);
        if (strncmp(err.text, c->name, strlen(c->name)) != 0)
            fail_msg("case %zu: encode error \"%s\" does not name %s", i, err.text, c->name);
    }
}

/* ---- boundaries: short_message ---------------------------------------- */

static void test_sm_length(void **state)
{
    (void)state;
    uint8_t sm[255];
    memset(sm, 'x', sizeof sm);
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, 1);
    p.sm_length = 254;
    p.short_message = sm;
    uint8_t b[600];
    struct smpp_err err;
    int n = smpp_pdu_encode(&p, b, sizeof b, &err);
    assert_int_equal(n, 16 + 16 + 1 + 254);   /* 16 one-octet fields / empty C-strings */
    struct smpp_pdu d;
    decode_ok(&d, b, (size_t)n);
    assert_int_equal(d.sm_length, 254);
    assert_ptr_equal(d.short_message, b + n - 254);

    /* 255 on the wire, with 255 octets present */
    uint8_t b2[600];
    memcpy(b2, b, (size_t)n);
    b2[n - 255] = 255;                          /* the sm_length octet */
    b2[n] = 'x';
    put32(b2, (uint32_t)n + 1);
    expect_decode_error(b2, (size_t)n + 1, 0, ESME_RINVMSGLEN);

    /* sm_length larger than what is left */
    memcpy(b2, b, (size_t)n);
    b2[n - 255] = 200;
    put32(b2, (uint32_t)(n - 60));
    expect_decode_error(b2, (size_t)(n - 60), 0, ESME_RINVMSGLEN);

    /* encoder refuses 255 */
    p.sm_length = 255;
    assert_int_equal(smpp_pdu_encode(&p, b, sizeof b, &err), -1);
    assert_int_equal(err.status, ESME_RINVMSGLEN);
    /* and a NULL short_message with a length */
    p.sm_length = 3;
    p.short_message = NULL;
    assert_int_equal(smpp_pdu_encode(&p, b, sizeof b, &err), -1);

    /* sm_length 0: short_message is NULL after decode */
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    n = smpp_pdu_encode(&p, b, sizeof b, &err);
    decode_ok(&d, b, (size_t)n);
    assert_int_equal(d.sm_length, 0);
    assert_null(d.short_message);
}

/* ---- TLVs ------------------------------------------------------------- */

static void test_tlv_overrun(void **state)
{
    (void)state;
    /* submit_sm_resp "1" + TLV claiming 5 octets with 4 present */
    expect_hex_error("0000001a 80000004 00000000 00000001 3100 0427 0005 01020304",
                     ESME_RINVOPTPARSTREAM);
    /* TLV header itself cut (3 octets) */
    expect_hex_error("00000015 80000004 00000000 00000001 3100 042700", ESME_RINVOPTPARSTREAM);
    /* unknown tag overrunning: still an error */
    expect_hex_error("00000018 80000004 00000000 00000001 3100 1400 0010 0102", ESME_RINVOPTPARSTREAM);
}

static void test_tlv_unknown_roundtrip(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 3);
    p.source_addr = "1";
    p.destination_addr = "2";
    uint8_t vendor[3] = {0xde, 0xad, 0x00};
    assert_int_equal(smpp_pdu_set_bytes(&p, 0x1400, vendor, 3), 0);
    assert_int_equal(smpp_pdu_set_u8(&p, SMPP_TLV_USSD_SERVICE_OP, 0x81), 0);
    assert_int_equal(smpp_pdu_set_bytes(&p, 0xFFFF, NULL, 0), 0);
    golden(&p, "00000033 00000005 00000000 00000003"
               "00 00 00 3100 00 00 3200 00 00 00 00 00 00 00 00 00 00"
               "1400 0003 dead00"
               "0501 0001 81"
               "ffff 0000");
    assert_null(smpp_tlv_name(0x1400));
}

struct tlv_len { uint16_t tag; uint16_t min, max; };

/* SMPP 3.4 §5.3.2, written out again here so the test does not trust the
 * codec's own table. */
static const struct tlv_len std_tlvs[] = {
    {0x0005, 1, 1}, {0x0006, 1, 1}, {0x0007, 1, 1}, {0x0008, 2, 2},
    {0x000D, 1, 1}, {0x000E, 1, 1}, {0x000F, 1, 1}, {0x0010, 1, 1},
    {0x0017, 4, 4}, {0x0019, 1, 1}, {0x001D, 1, 256}, {0x001E, 1, 65},
    {0x0030, 1, 1}, {0x0201, 1, 1}, {0x0202, 2, 23}, {0x0203, 2, 23},
    {0x0204, 2, 2}, {0x0205, 1, 1}, {0x020A, 2, 2}, {0x020B, 2, 2},
    {0x020C, 2, 2}, {0x020D, 1, 1}, {0x020E, 1, 1}, {0x020F, 1, 1},
    {0x0210, 1, 1}, {0x0302, 1, 1}, {0x0303, 0, 65}, {0x0304, 1, 1},
    {0x0381, 4, 19}, {0x0420, 1, 1}, {0x0421, 1, 1}, {0x0422, 1, 1},
    {0x0423, 3, 3}, {0x0424, 0, 65535}, {0x0425, 1, 1}, {0x0426, 1, 1},
    {0x0427, 1, 1}, {0x0501, 1, 1}, {0x1201, 1, 1}, {0x1203, 2, 2},
    {0x1204, 1, 1}, {0x130C, 0, 0}, {0x1380, 1, 1}, {0x1383, 2, 2},
};

/* Encode a submit_sm carrying one TLV of `len` octets; returns its size.
 * Uses vendor tag 0x1400 (any length) and patches in `tag` afterwards. */
static int submit_with_tlv(uint8_t *b, size_t cap, uint16_t tag, uint16_t len, const uint8_t *val)
{
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, 1);
    smpp_pdu_set_bytes(&p, 0x1400, val, len);
    struct smpp_err err;
    int n = smpp_pdu_encode(&p, b, cap, &err);
    assert_true(n > 0);
    size_t at = (size_t)n - 4 - len;
    b[at] = (uint8_t)(tag >> 8);
    b[at + 1] = (uint8_t)tag;
    return n;
}

static void test_tlv_standard_lengths(void **state)
{
    (void)state;
    static uint8_t val[300];
    static uint8_t b[400];
    memset(val, '1', sizeof val);
    for (size_t i = 0; i < sizeof std_tlvs / sizeof std_tlvs[0]; i++) {
        const struct tlv_len *t = &std_tlvs[i];
        assert_non_null(smpp_tlv_name(t->tag));
        uint16_t ok_lens[2] = {t->min, t->max > 260 ? 260 : t->max};
        for (int k = 0; k < 2; k++) {
            int n = submit_with_tlv(b, sizeof b, t->tag, ok_lens[k], val);
            struct smpp_pdu d;
            decode_ok(&d, b, (size_t)n);
            assert_int_equal(d.tlv_count, 1);
            assert_int_equal(d.tlv[0].tag, t->tag);
            assert_int_equal(d.tlv[0].len, ok_lens[k]);
            /* the encoder accepts it too */
            struct smpp_pdu e;
            smpp_pdu_reset(&e, SMPP_SUBMIT_SM, 0, 1);
            assert_int_equal(smpp_pdu_set_bytes(&e, t->tag, val, ok_lens[k]), 0);
            uint8_t b2[400];
            struct smpp_err err;
            assert_int_equal(smpp_pdu_encode(&e, b2, sizeof b2, &err), n);
        }
        uint16_t bad[2];
        int nbad = 0;
        if (t->min > 0)
            bad[nbad++] = (uint16_t)(t->min - 1);
        if (t->max < 260)
            bad[nbad++] = (uint16_t)(t->max + 1);
        for (int k = 0; k < nbad; k++) {
            int n = submit_with_tlv(b, sizeof b, t->tag, bad[k], val);
            expect_decode_error(b, (size_t)n, 0, ESME_RINVPARLEN);
            assert_non_null(strstr(last_err_text, smpp_tlv_name(t->tag)));
            struct smpp_pdu e;
            smpp_pdu_reset(&e, SMPP_SUBMIT_SM, 0, 1);
            smpp_pdu_set_bytes(&e, t->tag, val, bad[k]);
            uint8_t b2[400];
            struct smpp_err err;
            assert_int_equal(smpp_pdu_encode(&e, b2, sizeof b2, &err), -1);
            assert_int_equal(err.status, ESME_RINVPARLEN);
        }
    }
}

static void test_tlv_too_many(void **state)
{
    (void)state;
    uint8_t b[512];
    size_t n = 0;
    /* submit_sm_resp "" + 25 empty vendor TLVs */
    n = unhex("00000000 80000004 00000000 00000001 00", b, sizeof b);
    for (int i = 0; i < SMPP_MAX_TLVS + 1; i++) {
        b[n++] = 0x14;
        b[n++] = (uint8_t)i;
        b[n++] = 0;
        b[n++] = 0;
    }
    put32(b, (uint32_t)n);
    expect_decode_error(b, n, 0, ESME_RINVOPTPARSTREAM);
    /* exactly the maximum is fine */
    n -= 4;
    put32(b, (uint32_t)n);
    struct smpp_pdu d;
    decode_ok(&d, b, n);
    assert_int_equal(d.tlv_count, SMPP_MAX_TLVS);
    /* set_* refuses the 25th */
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, 1);
    for (int i = 0; i < SMPP_MAX_TLVS; i++)
        assert_int_equal(smpp_pdu_set_u8(&p, (uint16_t)(0x1400 + i), 1), 0);
    assert_int_equal(smpp_pdu_set_u8(&p, 0x1500, 1), -1);
    /* but replacing an existing one works */
    assert_int_equal(smpp_pdu_set_u8(&p, 0x1400, 7), 0);
    assert_int_equal(smpp_tlv_uint(&p, 0x1400), 7);
}

static void test_tlv_not_allowed(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_ENQUIRE_LINK, 0, 1);
    smpp_pdu_set_u8(&p, SMPP_TLV_USSD_SERVICE_OP, 1);
    uint8_t b[64];
    struct smpp_err err;
    assert_int_equal(smpp_pdu_encode(&p, b, sizeof b, &err), -1);
    assert_int_equal(err.status, ESME_ROPTPARNOTALLWD);
}

static void test_ussd_tlvs(void **state)
{
    (void)state;
    /* deliver_sm USSR confirm (18) with its_session_info session 0x12, seq 3, end flag */
    uint8_t b[256];
    size_t n = unhex("00000040 00000005 00000000 00000021"
                     "5553534400 0101 39393635353531323334353600 0000 31303000"
                     "000000 00 00 00000000 01 32"
                     "0501 0001 12"
                     "1383 0002 1207", b, sizeof b);
    struct smpp_pdu d;
    decode_ok(&d, b, n);
    assert_string_equal(d.service_type, "USSD");
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_USSD_SERVICE_OP), SMPP_USSD_USSR_CONF);
    int64_t its = smpp_tlv_uint(&d, SMPP_TLV_ITS_SESSION_INFO);
    assert_int_equal(its, 0x1207);
    assert_int_equal(its >> 8, 0x12);          /* session number */
    assert_int_equal((its & 0xff) >> 1, 3);    /* sequence */
    assert_int_equal(its & 1, 1);              /* end of session */
    assert_int_equal(d.sm_length, 1);
    assert_int_equal(d.short_message[0], '2');
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_USER_MESSAGE_REFERENCE), -1);
    assert_null(smpp_tlv_find(&d, SMPP_TLV_MESSAGE_PAYLOAD));
    /* its_session_info of 1 or 3 octets is refused */
    n = unhex("0000003f 00000005 00000000 00000021"
              "5553534400 0101 39393635353531323334353600 0000 31303000"
              "000000 00 00 00000000 01 32"
              "0501 0001 12"
              "1383 0001 12", b, sizeof b);
    expect_decode_error(b, n, 0, ESME_RINVPARLEN);
    /* ussd_service_op of 2 octets is refused */
    n = unhex("00000041 00000005 00000000 00000021"
              "5553534400 0101 39393635353531323334353600 0000 31303000"
              "000000 00 00 00000000 01 32"
              "0501 0002 1200"
              "1383 0002 1207", b, sizeof b);
    expect_decode_error(b, n, 0, ESME_RINVPARLEN);
}

static void test_sar_and_payload(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, 4);
    p.source_addr = "100";
    p.destination_addr = "996555123456";
    p.esm_class = 0;
    p.sm_length = 0;
    assert_int_equal(smpp_pdu_set_u16(&p, SMPP_TLV_SAR_MSG_REF_NUM, 0xBEEF), 0);
    assert_int_equal(smpp_pdu_set_u8(&p, SMPP_TLV_SAR_TOTAL_SEGMENTS, 3), 0);
    assert_int_equal(smpp_pdu_set_u8(&p, SMPP_TLV_SAR_SEGMENT_SEQNUM, 2), 0);
    assert_int_equal(smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, "abc", 3), 0);
    golden(&p, "00000047 00000004 00000000 00000004"
               "00 00 00 31303000 00 00 39393635353531323334353600"
               "00 00 00 00 00 00 00 00 00 00"
               "020c 0002 beef"
               "020e 0001 03"
               "020f 0001 02"
               "0424 0003 616263");
    uint8_t b[128];
    struct smpp_err err;
    int n = smpp_pdu_encode(&p, b, sizeof b, &err);
    struct smpp_pdu d;
    decode_ok(&d, b, (size_t)n);
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_SAR_MSG_REF_NUM), 0xBEEF);
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_SAR_TOTAL_SEGMENTS), 3);
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_SAR_SEGMENT_SEQNUM), 2);
    const struct smpp_tlv *mp = smpp_tlv_find(&d, SMPP_TLV_MESSAGE_PAYLOAD);
    assert_non_null(mp);
    assert_int_equal(mp->len, 3);
    assert_memory_equal(mp->val, "abc", 3);
    /* empty message_payload is legal */
    smpp_pdu_reset(&p, SMPP_DATA_SM, 0, 1);
    smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, NULL, 0);
    n = smpp_pdu_encode(&p, b, sizeof b, &err);
    decode_ok(&d, b, (size_t)n);
    assert_int_equal(smpp_tlv_find(&d, SMPP_TLV_MESSAGE_PAYLOAD)->len, 0);
    /* 4-octet integer TLV */
    smpp_pdu_reset(&p, SMPP_SUBMIT_SM, 0, 1);
    uint8_t ttl[4] = {0xff, 0xff, 0xff, 0xfe};
    smpp_pdu_set_bytes(&p, SMPP_TLV_QOS_TIME_TO_LIVE, ttl, 4);
    n = smpp_pdu_encode(&p, b, sizeof b, &err);
    decode_ok(&d, b, (size_t)n);
    assert_int_equal(smpp_tlv_uint(&d, SMPP_TLV_QOS_TIME_TO_LIVE), 0xfffffffeLL);
}

/* ---- the message inside a PDU: body and concatenation ------------------ */

static void test_body(void **state)
{
    (void)state;
    struct smpp_pdu p;
    size_t len = 99;
    /* neither: "" and 0, never NULL */
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    const uint8_t *b = smpp_pdu_body(&p, &len);
    assert_non_null(b);
    assert_int_equal(len, 0);
    /* short_message */
    p.short_message = (const uint8_t *)"hello";
    p.sm_length = 5;
    b = smpp_pdu_body(&p, &len);
    assert_int_equal(len, 5);
    assert_ptr_equal(b, p.short_message);
    /* short_message wins over message_payload when both are there */
    assert_int_equal(smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, "payload", 7), 0);
    b = smpp_pdu_body(&p, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(b, "hello", 5);
    /* message_payload when short_message is empty */
    p.sm_length = 0;
    b = smpp_pdu_body(&p, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(b, "payload", 7);
    /* an empty message_payload: "" and 0 */
    smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, NULL, 0);
    b = smpp_pdu_body(&p, &len);
    assert_non_null(b);
    assert_int_equal(len, 0);
    /* and through the codec: a data_sm's body is its message_payload */
    uint8_t buf[128];
    struct smpp_err err;
    smpp_pdu_reset(&p, SMPP_DATA_SM, 0, 2);
    smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, "abc", 3);
    int n = smpp_pdu_encode(&p, buf, sizeof buf, &err);
    struct smpp_pdu d;
    decode_ok(&d, buf, (size_t)n);
    b = smpp_pdu_body(&d, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(b, "abc", 3);
    assert_true(b > buf && b + len <= buf + n);
}

static void test_udh_concat(void **state)
{
    (void)state;
    struct smpp_concat c;
    /* 8-bit reference: 05 00 03 ref total seq */
    static const uint8_t u8[] = { 5, 0x00, 3, 0x2a, 3, 2, 'h', 'i' };
    assert_int_equal(smpp_udh_concat(u8, sizeof u8, &c), 0);
    assert_int_equal(c.ref, 0x2a);
    assert_int_equal(c.total, 3);
    assert_int_equal(c.seq, 2);
    assert_int_equal(c.udh_len, 6);
    assert_ptr_equal(c.text, u8 + 6);
    assert_int_equal(c.len, 2);
    /* 16-bit reference after another IE (port addressing, skipped) */
    static const uint8_t u16[] = { 12, 0x05, 4, 0x0b, 0x84, 0x23, 0xf0,
                                   0x08, 4, 0xbe, 0xef, 4, 4, 'x' };
    assert_int_equal(smpp_udh_concat(u16, sizeof u16, &c), 0);
    assert_int_equal(c.ref, 0xbeef);
    assert_int_equal(c.total, 4);
    assert_int_equal(c.seq, 4);
    assert_int_equal(c.udh_len, 13);
    assert_int_equal(c.len, 1);
    assert_int_equal(c.text[0], 'x');
    /* a UDH with no concatenation IE: total 0 */
    static const uint8_t other[] = { 3, 0x24, 1, 0x01, 'a' };
    assert_int_equal(smpp_udh_concat(other, sizeof other, &c), 0);
    assert_int_equal(c.total, 0);
    assert_int_equal(c.udh_len, 4);
    assert_int_equal(c.len, 1);
    /* an IE of the wrong length is not a concatenation IE */
    static const uint8_t wrong[] = { 4, 0x00, 2, 1, 2 };
    assert_int_equal(smpp_udh_concat(wrong, sizeof wrong, &c), 0);
    assert_int_equal(c.total, 0);
    /* a lone octet after the last IE is ignored */
    static const uint8_t lone[] = { 6, 0x00, 3, 9, 2, 1, 0x77, 'z' };
    assert_int_equal(smpp_udh_concat(lone, sizeof lone, &c), 0);
    assert_int_equal(c.total, 2);
    assert_int_equal(c.len, 1);
    /* the whole body is a header: nothing after it */
    static const uint8_t bare[] = { 5, 0x00, 3, 1, 2, 2 };
    assert_int_equal(smpp_udh_concat(bare, sizeof bare, &c), 0);
    assert_int_equal(c.len, 0);
    assert_int_equal(c.seq, 2);

    /* malformed: -1, but read leniently (a reader that only logs) */
    static const uint8_t shortie[] = { 9, 0x00, 3, 7, 2, 1 };   /* UDHL past the body */
    assert_int_equal(smpp_udh_concat(shortie, sizeof shortie, &c), -1);
    assert_int_equal(c.udh_len, sizeof shortie);
    assert_int_equal(c.len, 0);
    assert_int_equal(c.total, 2);                               /* the IE is whole */
    static const uint8_t ie_past[] = { 4, 0x00, 3, 7, 2, 1, 'q' }; /* IE past UDHL */
    assert_int_equal(smpp_udh_concat(ie_past, sizeof ie_past, &c), -1);
    assert_int_equal(c.total, 0);
    assert_int_equal(c.udh_len, 5);
    assert_int_equal(c.len, 2);
    /* octets after the header are text, even when they look like an IE */
    static const uint8_t after[] = { 5, 0x00, 3, 7, 2, 1, 0x00, 9, 'q' };
    assert_int_equal(smpp_udh_concat(after, sizeof after, &c), 0);
    assert_int_equal(c.len, 3);
    assert_int_equal(c.seq, 1);
    assert_int_equal(smpp_udh_concat(u8, 0, &c), -1);
    assert_int_equal(c.len, 0);
    assert_non_null(c.text);
    assert_int_equal(smpp_udh_concat(NULL, 0, &c), -1);
    assert_non_null(c.text);
}

static void test_pdu_concat(void **state)
{
    (void)state;
    struct smpp_pdu p;
    struct smpp_concat c;
    static const uint8_t part[] = { 6, 0x08, 4, 0x01, 0x02, 2, 1, 'o', 'k' };
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    p.short_message = part;
    p.sm_length = sizeof part;
    /* without UDHI the octets are text, not a header */
    assert_int_equal(smpp_pdu_concat(&p, &c), 0);
    assert_int_equal(c.total, 0);
    assert_int_equal(c.udh_len, 0);
    assert_int_equal(c.len, sizeof part);
    p.esm_class = SMPP_ESM_UDHI;
    assert_int_equal(smpp_pdu_concat(&p, &c), 0);
    assert_int_equal(c.ref, 0x0102);
    assert_int_equal(c.total, 2);
    assert_int_equal(c.seq, 1);
    assert_int_equal(c.len, 2);
    assert_memory_equal(c.text, "ok", 2);
    /* the UDH in message_payload */
    p.sm_length = 0;
    smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, part, sizeof part);
    assert_int_equal(smpp_pdu_concat(&p, &c), 0);
    assert_int_equal(c.seq, 1);
    assert_memory_equal(c.text, "ok", 2);
    /* UDHI with an empty body: the sar_* TLVs are read instead */
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    p.esm_class = SMPP_ESM_UDHI;
    smpp_pdu_set_u16(&p, SMPP_TLV_SAR_MSG_REF_NUM, 0xBEEF);
    smpp_pdu_set_u8(&p, SMPP_TLV_SAR_TOTAL_SEGMENTS, 3);
    smpp_pdu_set_u8(&p, SMPP_TLV_SAR_SEGMENT_SEQNUM, 2);
    assert_int_equal(smpp_pdu_concat(&p, &c), 0);
    assert_int_equal(c.ref, 0xBEEF);
    assert_int_equal(c.total, 3);
    assert_int_equal(c.seq, 2);
    assert_int_equal(c.len, 0);
    /* SAR: the body is all text */
    p.esm_class = 0;
    p.short_message = (const uint8_t *)"abc";
    p.sm_length = 3;
    assert_int_equal(smpp_pdu_concat(&p, &c), 0);
    assert_int_equal(c.total, 3);
    assert_int_equal(c.len, 3);
    assert_int_equal(c.udh_len, 0);
    /* sar_segment_seqnum 0 (or missing): no part */
    smpp_pdu_set_u8(&p, SMPP_TLV_SAR_SEGMENT_SEQNUM, 0);
    assert_int_equal(smpp_pdu_concat(&p, &c), 0);
    assert_int_equal(c.total, 0);
    assert_int_equal(c.seq, 0);
    /* without sar_msg_ref_num: ref 0 */
    smpp_pdu_reset(&p, SMPP_DATA_SM, 0, 1);
    smpp_pdu_set_u8(&p, SMPP_TLV_SAR_TOTAL_SEGMENTS, 2);
    smpp_pdu_set_u8(&p, SMPP_TLV_SAR_SEGMENT_SEQNUM, 2);
    assert_int_equal(smpp_pdu_concat(&p, &c), 0);
    assert_int_equal(c.ref, 0);
    assert_int_equal(c.total, 2);
    assert_int_equal(c.seq, 2);
    /* a malformed UDH comes back as -1 */
    static const uint8_t bad[] = { 7, 0x00, 3, 1, 2, 1 };
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    p.esm_class = SMPP_ESM_UDHI;
    p.short_message = bad;
    p.sm_length = sizeof bad;
    assert_int_equal(smpp_pdu_concat(&p, &c), -1);
    assert_int_equal(c.len, 0);
}

/* ---- error responses without a body ----------------------------------- */

static void test_empty_error_resps(void **state)
{
    (void)state;
    static const uint32_t ids[] = {
        SMPP_BIND_RECEIVER_RESP, SMPP_BIND_TRANSMITTER_RESP, SMPP_BIND_TRANSCEIVER_RESP,
        SMPP_SUBMIT_SM_RESP, SMPP_DELIVER_SM_RESP, SMPP_DATA_SM_RESP, SMPP_QUERY_SM_RESP,
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uint8_t b[16];
        put32(b, 16);
        put32(b + 4, ids[i]);
        put32(b + 8, ESME_RTHROTTLED);
        put32(b + 12, 99);
        struct smpp_pdu d;
        decode_ok(&d, b, 16);
        assert_int_equal(d.command_id, ids[i]);
        assert_int_equal(d.command_status, ESME_RTHROTTLED);
        assert_int_equal(d.sequence_number, 99);
        assert_int_equal(d.tlv_count, 0);
        if (ids[i] == SMPP_QUERY_SM_RESP) {
            assert_string_equal(d.message_id, "");
            assert_string_equal(d.final_date, "");
        } else if (ids[i] == SMPP_SUBMIT_SM_RESP || ids[i] == SMPP_DELIVER_SM_RESP
                   || ids[i] == SMPP_DATA_SM_RESP) {
            assert_non_null(d.message_id);
            assert_string_equal(d.message_id, "");
        } else {
            assert_string_equal(d.system_id, "");
        }
        /* the same empty body with status 0 is broken */
        put32(b + 8, 0);
        struct smpp_pdu e = expect_decode_error(b, 16, 0, ESME_RINVCMDLEN);
        assert_int_equal(e.sequence_number, 99);
    }
    /* a request with an empty body is never legal */
    uint8_t b[16];
    put32(b, 16);
    put32(b + 4, SMPP_SUBMIT_SM);
    put32(b + 8, ESME_RTHROTTLED);
    put32(b + 12, 1);
    expect_decode_error(b, 16, 0, ESME_RINVCMDLEN);
}

/* ---- framing off an evbuffer (smpp/frame) ----------------------------- */

static void test_frame_next(void **state)
{
    (void)state;
    struct evbuffer *in = evbuffer_new();
    assert_non_null(in);
    const uint8_t *pdu = NULL;
    uint32_t len = 0, seq = 99;
    uint8_t b[64];
    /* fewer than 4 octets, then a header still short of its body */
    assert_int_equal(smpp_frame_next(in, 0, &pdu, &len, &seq), SMPP_FRAME_MORE);
    size_t n = unhex("00000015 80000004 00000000 00000007 3132333400", b, sizeof b);
    evbuffer_add(in, b, 3);
    assert_int_equal(smpp_frame_next(in, 0, &pdu, &len, &seq), SMPP_FRAME_MORE);
    evbuffer_add(in, b + 3, 17);
    assert_int_equal(smpp_frame_next(in, 0, &pdu, &len, &seq), SMPP_FRAME_MORE);
    /* whole: the PDU's octets, and nothing drained */
    evbuffer_add(in, b + 20, n - 20);
    assert_int_equal(smpp_frame_next(in, 0, &pdu, &len, &seq), SMPP_FRAME_PDU);
    assert_int_equal(len, 21);
    assert_memory_equal(pdu, b, n);
    assert_int_equal(evbuffer_get_length(in), 21);
    /* a cap below its length refuses it, naming its sequence number */
    assert_int_equal(smpp_frame_next(in, 20, &pdu, &len, &seq), SMPP_FRAME_BAD_LEN);
    assert_int_equal(len, 21);
    assert_int_equal(seq, 7);
    evbuffer_drain(in, len);
    /* 15 claimed: absurd; the sequence number only once 16 octets are in */
    n = unhex("0000000f 00000015 00000000 00000042", b, sizeof b);
    evbuffer_add(in, b, 8);
    seq = 99;
    assert_int_equal(smpp_frame_next(in, 0, &pdu, &len, &seq), SMPP_FRAME_BAD_LEN);
    assert_int_equal(len, 15);
    assert_int_equal(seq, 0);
    evbuffer_add(in, b + 8, n - 8);
    assert_int_equal(smpp_frame_next(in, 0, &pdu, &len, &seq), SMPP_FRAME_BAD_LEN);
    assert_int_equal(seq, 0x42);
    evbuffer_free(in);
}

/* ---- encoder buffer handling ------------------------------------------ */

static void test_encode_small_buffer(void **state)
{
    (void)state;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 7);
    p.service_type = "USSD";
    p.source_addr = "996555123456";
    p.destination_addr = "*100#";
    p.sm_length = 5;
    p.short_message = (const uint8_t *)"*100#";
    smpp_pdu_set_u8(&p, SMPP_TLV_USSD_SERVICE_OP, 1);
    uint8_t full[128];
    struct smpp_err err;
    int n = smpp_pdu_encode(&p, full, sizeof full, &err);
    assert_true(n > 16);
    for (int cap = 0; cap < n; cap++) {
        uint8_t *b = malloc((size_t)cap + 1);
        assert_int_equal(smpp_pdu_encode(&p, b, (size_t)cap, &err), -1);
        free(b);
    }
    uint8_t *b = malloc((size_t)n);
    assert_int_equal(smpp_pdu_encode(&p, b, (size_t)n, &err), n);
    assert_memory_equal(b, full, (size_t)n);
    free(b);
}

/* Names by number: each row is one expected name (NULL: the codec has none). */
struct name_case {
    const char *(*fn)(uint32_t);
    uint32_t v;
    const char *want;
};

/* smpp_tlv_name takes a 16-bit tag; the table holds 32-bit numbers. */
static const char *tlv_name(uint32_t v)
{
    return smpp_tlv_name((uint16_t)v);
}

static void test_names(void **state)
{
    (void)state;
    static const struct name_case names[] = {
        {smpp_command_name, SMPP_SUBMIT_SM, "submit_sm"},
        {smpp_command_name, SMPP_DELIVER_SM_RESP, "deliver_sm_resp"},
        {smpp_command_name, SMPP_GENERIC_NACK, "generic_nack"},
        {smpp_command_name, 0x12345, "unknown"},
        {smpp_status_name, ESME_RTHROTTLED, "ESME_RTHROTTLED"},
        {smpp_status_name, ESME_ROK, "ESME_ROK"},
        {smpp_status_name, 0x4242, NULL},
        {tlv_name, SMPP_TLV_USSD_SERVICE_OP, "ussd_service_op"},
        {tlv_name, SMPP_TLV_ITS_SESSION_INFO, "its_session_info"},
        {tlv_name, SMPP_TLV_DEST_ADDR_SUBUNIT, "dest_addr_subunit"},
        {tlv_name, 0x0000, NULL},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *got = names[i].fn(names[i].v);
        if (names[i].want)
            assert_string_equal(got, names[i].want);
        else
            assert_null(got);
    }
    /* the answer to each request; what has none is answered generic_nack */
    static const uint32_t resp[][2] = {
        {SMPP_SUBMIT_SM, SMPP_SUBMIT_SM_RESP},
        {SMPP_BIND_TRANSCEIVER, SMPP_BIND_TRANSCEIVER_RESP},
        {SMPP_ENQUIRE_LINK, SMPP_ENQUIRE_LINK_RESP},
        {SMPP_DATA_SM, SMPP_DATA_SM_RESP},
        {SMPP_OUTBIND, SMPP_GENERIC_NACK},
        {SMPP_ALERT_NOTIFICATION, SMPP_GENERIC_NACK},
        {SMPP_SUBMIT_SM_RESP, SMPP_GENERIC_NACK},
        {0x77, SMPP_GENERIC_NACK},
    };
    for (size_t i = 0; i < sizeof resp / sizeof resp[0]; i++)
        assert_int_equal(smpp_resp_id(resp[i][0]), resp[i][1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_transmitter),
        cmocka_unit_test(test_bind_receiver),
        cmocka_unit_test(test_bind_transceiver),
        cmocka_unit_test(test_bind_resps),
        cmocka_unit_test(test_outbind),
        cmocka_unit_test(test_header_only),
        cmocka_unit_test(test_submit_sm_ussd_ucs2),
        cmocka_unit_test(test_submit_sm_all_fields),
        cmocka_unit_test(test_submit_sm_resp),
        cmocka_unit_test(test_deliver_sm_ussd_start),
        cmocka_unit_test(test_deliver_sm_receipt),
        cmocka_unit_test(test_deliver_sm_resp),
        cmocka_unit_test(test_data_sm),
        cmocka_unit_test(test_query_sm),
        cmocka_unit_test(test_cancel_sm),
        cmocka_unit_test(test_replace_sm),
        cmocka_unit_test(test_alert_notification),
        cmocka_unit_test(test_command_length_bounds),
        cmocka_unit_test(test_default_cap),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_truncated_fields),
        cmocka_unit_test(test_unknown_command),
        cmocka_unit_test(test_cstring_max),
        cmocka_unit_test(test_sm_length),
        cmocka_unit_test(test_tlv_overrun),
        cmocka_unit_test(test_tlv_unknown_roundtrip),
        cmocka_unit_test(test_tlv_standard_lengths),
        cmocka_unit_test(test_tlv_too_many),
        cmocka_unit_test(test_tlv_not_allowed),
        cmocka_unit_test(test_ussd_tlvs),
        cmocka_unit_test(test_sar_and_payload),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_udh_concat),
        cmocka_unit_test(test_pdu_concat),
        cmocka_unit_test(test_empty_error_resps),
        cmocka_unit_test(test_encode_small_buffer),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_frame_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
