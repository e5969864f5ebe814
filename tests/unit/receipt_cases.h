/*
 * tests/unit/receipt_cases.h — the delivery receipts both readers are
 * tested on (header-only; static data and static functions): smpp/receipt
 * (test_receipt.c) and the outbox's view of it, row states
 * (test_outbox.c).  One table, so the two tests cannot drift apart.
 *
 * rc_texts[]: receipt texts (Appendix B), each with what the reader must
 * find.  rc_tlvs[]: deliver_sm bodies (a text in short_message or
 * message_payload, and receipted_message_id, message_state and
 * network_error_code TLVs), built by rc_pdu(), with the same.
 * struct rc_want is one expectation: the answer (0 or -1); for an answer
 * of -1 nothing else is checked (what the scan left is no promise).
 * .state is the smpp_message_state, .row the outbox row state
 * (STORE_MSG_*, or -1).  Every other field is checked as written, so a row
 * says all the reader fills in.
 *
 * rc_check(i, want, got) compares one result, converted by the test to a
 * struct rc_want, and fails with the case number.
 *
 * Owns: nothing.  May call: smpp/pdu.h, smpp/receipt.h, gateway/store.h
 * (row state names), libc, cmocka.
 */
#ifndef KYZMAT_TESTS_RECEIPT_CASES_H
#define KYZMAT_TESTS_RECEIPT_CASES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/store.h"
#include "smpp/pdu.h"
#include "smpp/receipt.h"

/* What a reader must give, or gave (then: state INT32_MIN from the
 * outbox, row INT32_MIN and state_tlv -1 from smpp/receipt: not said). */
struct rc_want {
    int rc;
    const char *id, *stat;
    int state, state_tlv, row;
    int err, sub, dlvrd;
    int64_t submit, done;
};

/* A receipt that says nothing beyond its id. */
#define RC_BARE(i) 0, i, "", -1, 0, -1, 0, -1, -1, 0, 0
#define RC_REFUSED -1, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0

#define RC_MINUTE0 INT64_C(1795682400)   /* 2026-11-26 08:40 UTC */

struct rc_text {
    const char *text;
    int len;                    /* -1: strlen(text) */
    struct rc_want want;
};

static const struct rc_text rc_texts[] = {
    { "id:1234567890 sub:001 dlvrd:001 submit date:2611260840 done date:"
      "2611260841 stat:DELIVRD err:000 text:Hello id:999", -1,
      { 0, "1234567890", "DELIVRD", SMPP_STATE_DELIVERED, 0, STORE_MSG_DELIVERED, 0, 1, 1,
        RC_MINUTE0, RC_MINUTE0 + 60 } },
    /* long hex id, seconds, Text:, hex err, other order */
    { "stat:UNDELIV id:4F3A2B1C9D8E7F6012 err:0x0B done date:261126084155 Text:abc",
      -1, { 0, "4F3A2B1C9D8E7F6012", "UNDELIV", SMPP_STATE_UNDELIVERABLE, 0,
            STORE_MSG_FAILED, 11, -1, -1, 0, RC_MINUTE0 + 115 } },
    { "ID:42 SUBMIT_DATE:2611260840 STAT:EXPIRED ERR:1", -1,
      { 0, "42", "EXPIRED", SMPP_STATE_EXPIRED, 0, STORE_MSG_EXPIRED, 1, -1, -1,
        RC_MINUTE0, 0 } },
    /* "submitdate:" (no separator) reads too; tabs and CRs separate */
    { "id:9\tsubmitdate:2611260840\r\nstat:delivrd", -1,
      { 0, "9", "delivrd", SMPP_STATE_DELIVERED, 0, STORE_MSG_DELIVERED, 0, -1, -1, RC_MINUTE0, 0 } },
    /* err beyond int: not a number, so 0 (found by fuzz_receipt) */
    { "id:7 err:FFFFFFFF", -1, { RC_BARE("7") } },
    { "id:7 err:7FFFFFFF", -1,
      { 0, "7", "", -1, 0, -1, 0x7FFFFFFF, -1, -1, 0, 0 } },
    { "id:7 err:999999999 sub:0x", -1,
      { 0, "7", "", -1, 0, -1, 999999999, -1, -1, 0, 0 } },
    { "id:7 stat:ACCEPTD", -1,
      { 0, "7", "ACCEPTD", SMPP_STATE_ACCEPTED, 0, -1, 0, -1, -1, 0, 0 } },
    /* month 13: not a date */
    { "id:7 stat:REJECTD done date:9913329999", -1,
      { 0, "7", "REJECTD", SMPP_STATE_REJECTED, 0, STORE_MSG_FAILED, 0, -1, -1,
        0, 0 } },
    { "id:7 stat:NOSUCHWORD", -1,
      { 0, "7", "NOSUCHWORD", -1, 0, -1, 0, -1, -1, 0, 0 } },
    /* a stat word of 16 octets or more is not kept */
    { "id:7 stat:DELIVRDDELIVRDDELIVRD", -1, { RC_BARE("7") } },
    { "stat:DELIVRD text:id:5", -1, { RC_REFUSED } },
    { "", -1, { RC_REFUSED } },
    { "id: stat:DELIVRD", -1, { RC_REFUSED } },
    { "xid:5 stat:DELIVRD", -1, { RC_REFUSED } },
    { NULL, 0, { RC_REFUSED } },
    /* not NUL-terminated: only len bytes are read */
    { "id:123456", 5, { RC_BARE("12") } },
    /* the first id wins */
    { "id:1 id:2", -1, { RC_BARE("1") } },
};

static const uint8_t rc_nec3[3] = { 3, 0x01, 0x02 };
static const uint8_t rc_nec2[2] = { 1, 2 };
#define RC_TEXT1 "id:1 stat:DELIVRD err:000"

struct rc_tlv {
    const char *note;
    const char *text;           /* NULL: none */
    int payload;                /* 1: the text in message_payload */
    const char *rid;            /* receipted_message_id, rid_len octets */
    uint16_t rid_len;
    int msg_state;              /* message_state, -1: none */
    const uint8_t *nec;         /* network_error_code, nec_len octets */
    uint16_t nec_len;
    struct rc_want want;
};

static const struct rc_tlv rc_tlvs[] = {
    { "TLVs win over the text (the text's stat word stays)", RC_TEXT1, 0,
      "00FF", 5, 5, rc_nec3, 3,
      { 0, "00FF", "DELIVRD", SMPP_STATE_UNDELIVERABLE, 1, STORE_MSG_FAILED,
        0x0102, -1, -1, 0, 0 } },
    { "TLVs only, no text", NULL, 0, "00FF", 4, 2, NULL, 0,
      { 0, "00FF", "", SMPP_STATE_DELIVERED, 1, STORE_MSG_DELIVERED, 0, -1, -1, 0, 0 } },
    { "nothing at all", NULL, 0, NULL, 0, -1, NULL, 0, { RC_REFUSED } },
    { "the text in message_payload", RC_TEXT1, 1, NULL, 0, -1, NULL, 0,
      { 0, "1", "DELIVRD", SMPP_STATE_DELIVERED, 0, STORE_MSG_DELIVERED, 0, -1, -1, 0, 0 } },
    /* an empty receipted_message_id (just the NUL) keeps the text's id; a
     * network_error_code of another size is not read; message_state 0 is
     * the TLV's all the same */
    { "empty id TLV, short error TLV, state 0", RC_TEXT1, 1, "", 1, 0, rc_nec2, 2,
      { 0, "1", "DELIVRD", 0, 1, -1, 0, -1, -1, 0, 0 } },
    { "an id TLV without its NUL", RC_TEXT1, 1, "abc", 3, 0, rc_nec2, 2,
      { 0, "abc", "DELIVRD", 0, 1, -1, 0, -1, -1, 0, 0 } },
};

#define RC_COUNT(a) (sizeof (a) / sizeof (a)[0])

/* The deliver_sm of c into *p (it points into c's static data). */
static inline void rc_pdu(struct smpp_pdu *p, const struct rc_tlv *c)
{
    smpp_pdu_reset(p, SMPP_DELIVER_SM, 0, 1);
    p->esm_class = SMPP_ESM_RECEIPT;
    if (c->text && c->payload) {
        smpp_pdu_set_bytes(p, SMPP_TLV_MESSAGE_PAYLOAD, c->text,
                           (uint16_t)strlen(c->text));
    } else if (c->text) {
        p->short_message = (const uint8_t *)c->text;
        p->sm_length = (uint8_t)strlen(c->text);
    }
    if (c->rid)
        smpp_pdu_set_bytes(p, SMPP_TLV_RECEIPTED_MESSAGE_ID, c->rid, c->rid_len);
    if (c->msg_state >= 0)
        smpp_pdu_set_u8(p, SMPP_TLV_MESSAGE_STATE, (uint8_t)c->msg_state);
    if (c->nec)
        smpp_pdu_set_bytes(p, SMPP_TLV_NETWORK_ERROR_CODE, c->nec, c->nec_len);
}

/* The text of case c as the reader is given it. */
static inline size_t rc_len(const struct rc_text *c)
{
    return c->len >= 0 ? (size_t)c->len : strlen(c->text);
}

/* got against want for case `what` number i; state_tlv is compared only
 * when got says it (>= 0), row or state only when got has it (the other
 * is INT32_MIN). */
static inline void rc_check(const char *what, size_t i, const struct rc_want *w,
                            const struct rc_want *g)
{
    if (g->rc != w->rc)
        fail_msg("%s %zu: answer %d, wanted %d", what, i, g->rc, w->rc);
    if (w->rc != 0)
        return;
    if (strcmp(g->id, w->id) != 0 || strcmp(g->stat, w->stat) != 0)
        fail_msg("%s %zu: id \"%s\" stat \"%s\", wanted \"%s\" \"%s\"", what, i,
                 g->id, g->stat, w->id, w->stat);
    if ((g->state != INT32_MIN && g->state != w->state) ||
        (g->row != INT32_MIN && g->row != w->row) ||
        (g->state_tlv >= 0 && g->state_tlv != w->state_tlv))
        fail_msg("%s %zu: state %d/%d row %d, wanted %d/%d row %d", what, i,
                 g->state, g->state_tlv, g->row, w->state, w->state_tlv, w->row);
    if (g->err != w->err || g->sub != w->sub || g->dlvrd != w->dlvrd)
        fail_msg("%s %zu: err %d sub %d dlvrd %d, wanted %d %d %d", what, i,
                 g->err, g->sub, g->dlvrd, w->err, w->sub, w->dlvrd);
    if (g->submit != w->submit || g->done != w->done)
        fail_msg("%s %zu: dates %lld %lld, wanted %lld %lld", what, i,
                 (long long)g->submit, (long long)g->done, (long long)w->submit,
                 (long long)w->done);
}

typedef struct rc_want rc_text_fn(const uint8_t *text, size_t len);
typedef struct rc_want rc_pdu_fn(const struct smpp_pdu *deliver_sm);

static inline void rc_run(rc_text_fn *text, rc_pdu_fn *pdu)
{
    for (size_t i = 0; text && i < RC_COUNT(rc_texts); i++) {
        const struct rc_text *c = &rc_texts[i];
        struct rc_want g = text((const uint8_t *)c->text, c->text ? rc_len(c) : 0);
        rc_check("text", i, &c->want, &g);
    }
    struct smpp_pdu p;
    for (size_t i = 0; pdu && i < RC_COUNT(rc_tlvs); i++) {
        rc_pdu(&p, &rc_tlvs[i]);
        struct rc_want g = pdu(&p);
        rc_check(rc_tlvs[i].note, i, &rc_tlvs[i].want, &g);
    }
}

#endif
