/*
 * tests/unit/test_mo.c — gateway/mo, the MO router: what it logs, tagged
 * with the link's name, for the MO and receipt deliver_sm it routes.
 *
 * A link is faked (no esme: no PING here, test_link covers it end to end)
 * on a daemon without outbox, USSD service or database, so mo_deliver only
 * logs and answers.  Lines are read back from a real log file in a fresh
 * temporary directory: what an operator would see.  Covered: a plain MO; a
 * part of a long SMS by 8-bit UDH, 16-bit UDH and sar_* TLVs ("(part 2/3)",
 * the UDH not in the text); an MO in message_payload; a malformed UDH;
 * receipts by text, by TLVs (the TLV's state name wins) and without an id;
 * a citizen's text with numbers, a bidi override, a C1 control and a quote
 * (masked and escaped by log_text_safe).
 *
 * May call: gateway/mo, gateway/links (struct link), gateway/daemon.h,
 * gateway/config, gateway/log, smpp/pdu, tests/unit/tmpdb.h, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config.h"
#include "gateway/daemon.h"
#include "gateway/links.h"
#include "gateway/log.h"
#include "gateway/mo.h"
#include "smpp/pdu.h"
#include "tests/unit/tmpdb.h"

struct fx {
    struct tmpdb log;           /* first: tmpdb_setup_dir/teardown */
    struct daemon d;
    struct link l;
};

static int setup(void **state)
{
    if (tmpdb_setup_dir(state, sizeof(struct fx), "kyzmat-mo", "kyzmatd.log") != 0)
        return -1;
    struct fx *f = *state;
    char err[128];
    assert_int_equal(log_open(f->log.path, err, sizeof err), 0);
    log_set_level(KLOG_INFO);
    LIST_INIT(&f->d.links);
    LIST_INIT(&f->d.retiring);
    f->d.cfg = config_defaults();
    assert_non_null(f->d.cfg);
    f->l.d = &f->d;
    f->l.name = "megacom";
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    log_close();
    config_free(f->d.cfg);
    return tmpdb_teardown(state);
}

/* The last line of the log (without its newline). */
static const char *last_line(struct fx *f)
{
    static char line[1024], prev[1024];
    FILE *fp = fopen(f->log.path, "r");
    assert_non_null(fp);
    prev[0] = '\0';
    while (fgets(line, sizeof line, fp))
        snprintf(prev, sizeof prev, "%s", line);
    fclose(fp);
    prev[strcspn(prev, "\n")] = '\0';
    return prev;
}

static void mo(struct smpp_pdu *p, uint8_t esm, uint8_t dcs, const void *sm, size_t n)
{
    smpp_pdu_reset(p, SMPP_DELIVER_SM, 0, 1);
    p->source_addr = "996555123456";
    p->destination_addr = "100";
    p->esm_class = esm;
    p->data_coding = dcs;
    p->short_message = sm;
    p->sm_length = (uint8_t)n;
}

static void expect_line(struct fx *f, const char *tail)
{
    const char *l = last_line(f);
    const char *at = strstr(l, "info [megacom] ");
    if (!at || strcmp(at + strlen("info [megacom] "), tail) != 0)
        fail_msg("log line %s\n  wanted ... info [megacom] %s", l, tail);
}

static void test_mo_lines(void **state)
{
    struct fx *f = *state;
    struct smpp_pdu p;
    mo(&p, 0, 0, "hello", 5);
    assert_int_equal(mo_deliver(NULL, &p, &f->l), ESME_ROK);
    expect_line(f, "MO from ********3456 to 100: \"hello\"");

    /* part 2 of 3, 8-bit reference: the UDH is not text */
    static const uint8_t u8[] = { 5, 0x00, 3, 0x2a, 3, 2, 'w', 'o', 'r', 'l', 'd' };
    mo(&p, SMPP_ESM_UDHI, 0, u8, sizeof u8);
    assert_int_equal(mo_deliver(NULL, &p, &f->l), ESME_ROK);
    expect_line(f, "MO from ********3456 to 100 (part 2/3): \"world\"");

    /* 16-bit reference, UCS-2 */
    static const uint8_t u16[] = { 6, 0x08, 4, 0xbe, 0xef, 2, 1,
                                   0x04, 0x21, 0x04, 0x30 };   /* "Са" */
    mo(&p, SMPP_ESM_UDHI, 8, u16, sizeof u16);
    assert_int_equal(mo_deliver(NULL, &p, &f->l), ESME_ROK);
    expect_line(f, "MO from ********3456 to 100 (part 1/2): \"Са\"");

    /* sar_* TLVs, the text in message_payload */
    mo(&p, 0, 0, NULL, 0);
    smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, "tail", 4);
    smpp_pdu_set_u16(&p, SMPP_TLV_SAR_MSG_REF_NUM, 7);
    smpp_pdu_set_u8(&p, SMPP_TLV_SAR_TOTAL_SEGMENTS, 3);
    smpp_pdu_set_u8(&p, SMPP_TLV_SAR_SEGMENT_SEQNUM, 3);
    assert_int_equal(mo_deliver(NULL, &p, &f->l), ESME_ROK);
    expect_line(f, "MO from ********3456 to 100 (part 3/3): \"tail\"");

    /* a one-part "concatenation" is no part */
    static const uint8_t one[] = { 5, 0x00, 3, 1, 1, 1, 'x' };
    mo(&p, SMPP_ESM_UDHI, 0, one, sizeof one);
    mo_deliver(NULL, &p, &f->l);
    expect_line(f, "MO from ********3456 to 100: \"x\"");

    /* a UDH longer than the message: nothing left to show */
    static const uint8_t bad[] = { 9, 0x00, 3, 1, 2, 1 };
    mo(&p, SMPP_ESM_UDHI, 0, bad, sizeof bad);
    assert_int_equal(mo_deliver(NULL, &p, &f->l), ESME_ROK);
    expect_line(f, "MO from ********3456 to 100 (part 1/2): \"\"");
}

/* A citizen's text: the numbers typed in it are masked like the sender's,
 * and a bidi override, a C1 control or a quote cannot forge or reorder
 * the line (issue 14 item 11). */
static void test_mo_text_made_safe(void **state)
{
    struct fx *f = *state;
    struct smpp_pdu p;
    /* UCS-2: "Мой 0555 123 456" U+202E "ok" U+0085 "\"" */
    static const uint8_t ucs2[] = {
        0x04, 0x1c, 0x04, 0x3e, 0x04, 0x39, 0, ' ',
        0, '0', 0, '5', 0, '5', 0, '5', 0, ' ', 0, '1', 0, '2', 0, '3', 0, ' ',
        0, '4', 0, '5', 0, '6', 0, ' ', 0x20, 0x2e, 0, 'o', 0, 'k', 0x00, 0x85,
        0, '"',
    };
    mo(&p, 0, 8, ucs2, sizeof ucs2);
    assert_int_equal(mo_deliver(NULL, &p, &f->l), ESME_ROK);
    expect_line(f, "MO from ********3456 to 100: "
                   "\"Мой **** **3 456 \\u202eok\\u0085\\\"\"");

    /* the default alphabet: an application number and a phone number */
    mo(&p, 0, 0, "STATUS 2026001234 +996700123456", 31);
    assert_int_equal(mo_deliver(NULL, &p, &f->l), ESME_ROK);
    expect_line(f, "MO from ********3456 to 100: \"STATUS ******1234 +********3456\"");

    /* short numbers stay as typed */
    mo(&p, 0, 0, "STOP 1234", 9);
    mo_deliver(NULL, &p, &f->l);
    expect_line(f, "MO from ********3456 to 100: \"STOP 1234\"");
}

static void test_receipt_lines(void **state)
{
    struct fx *f = *state;
    struct smpp_pdu p;
    static const char txt[] = "id:0A1B sub:001 dlvrd:001 submit date:2611260840 "
                              "done date:2611260841 stat:DELIVRD err:000 text:hi";
    mo(&p, SMPP_ESM_RECEIPT, 0, txt, sizeof txt - 1);
    assert_int_equal(mo_deliver(NULL, &p, &f->l), ESME_ROK);
    expect_line(f, "receipt from ********3456: id 0A1B stat DELIVRD");

    /* the TLVs win: receipted_message_id and message_state's name */
    smpp_pdu_set_bytes(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, "2667", 5);
    smpp_pdu_set_u8(&p, SMPP_TLV_MESSAGE_STATE, 5);
    mo_deliver(NULL, &p, &f->l);
    expect_line(f, "receipt from ********3456: id 2667 stat UNDELIV");

    /* message_state outside 1..8: the text's stat word */
    smpp_pdu_set_u8(&p, SMPP_TLV_MESSAGE_STATE, 0);
    mo_deliver(NULL, &p, &f->l);
    expect_line(f, "receipt from ********3456: id 2667 stat DELIVRD");

    /* nothing readable */
    mo(&p, SMPP_ESM_RECEIPT, 0, "garbage", 7);
    assert_int_equal(mo_deliver(NULL, &p, &f->l), ESME_ROK);
    expect_line(f, "receipt from ********3456: id ? stat ?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mo_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mo_text_made_safe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_lines, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
