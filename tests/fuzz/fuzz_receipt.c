/*
 * tests/fuzz/fuzz_receipt.c — libFuzzer target for the one delivery-receipt
 * reader, smpp/receipt.[ch], and the outbox's view of it.
 *
 * The input is a receipt text.  Checks, with abort() on a broken property:
 *   - smpp_receipt_parse() never reads past the input (ASan), returns 0
 *     exactly when an id was found, and then the id is non-empty,
 *     NUL-terminated, shorter than SMPP_RECEIPT_ID_MAX and free of spaces;
 *   - stat is NUL-terminated and, from a text, state agrees with
 *     smpp_receipt_stat_state(stat) (-1 without a stat word);
 *   - state is -1 or a message_state 1..8; err >= 0; sub and dlvrd are -1
 *     or 0..0xFFFF; dates are 0 or within 2000..2100;
 *   - the same text in a deliver_sm (short_message when it fits, else
 *     message_payload) gives the same reading through smpp_receipt_read,
 *     and a receipted_message_id TLV overrides the id, a message_state TLV
 *     the state;
 *   - the outbox's readers (outbox_receipt_parse / _read, the same parser
 *     mapped onto row states) agree with it: same id, stat, err and dates,
 *     state == outbox_tlv_state(state), a final row state or -1.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_receipt.
 *
 * May call: smpp/receipt.h, smpp/pdu.h, gateway/outbox.h, gateway/store.h
 * (row state names), libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/outbox.h"
#include "gateway/store.h"
#include "smpp/pdu.h"
#include "smpp/receipt.h"
#include "tests/fuzz/fuzz.h"

#define Y2000 946684800LL
#define Y2100 4102444800LL

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_date(int64_t t)
{
    check(t == 0 || (t >= Y2000 && t < Y2100));
}

static void check_receipt(const struct smpp_receipt *r, int rc)
{
    check(rc == 0 || rc == -1);
    size_t n = strnlen(r->id, SMPP_RECEIPT_ID_MAX);
    check(n < SMPP_RECEIPT_ID_MAX);
    if (rc == 0) {
        check(n > 0);
        for (size_t i = 0; i < n; i++)
            check(r->id[i] != ' ');
    }
    check(strnlen(r->stat, sizeof r->stat) < sizeof r->stat);
    if (!r->state_tlv) {
        check(r->state == -1 || (r->state >= 1 && r->state <= 8));
        check(r->state == (r->stat[0] ? smpp_receipt_stat_state(r->stat) : -1));
    }
    check(r->err >= 0);
    check(r->sub >= -1 && r->sub <= 0xFFFF);
    check(r->dlvrd >= -1 && r->dlvrd <= 0xFFFF);
    check_date(r->submit_date);
    check_date(r->done_date);
}

/* The outbox's reading is the same parser's, its state mapped. */
static void check_outbox(const struct smpp_receipt *r, const struct outbox_dlr *d)
{
    check(strcmp(d->id, r->id) == 0 && strcmp(d->stat, r->stat) == 0);
    check(d->state == outbox_tlv_state(r->state));
    check(d->state == -1 || d->state == STORE_MSG_DELIVERED ||
          d->state == STORE_MSG_FAILED || d->state == STORE_MSG_EXPIRED);
    if (!r->state_tlv && d->stat[0])
        check(d->state == outbox_stat_state(d->stat));
    check(d->err == r->err && d->sub == r->sub && d->dlvrd == r->dlvrd);
    check(d->submit_date == r->submit_date && d->done_date == r->done_date);
}

static void fuzz_pdu(uint8_t *buf, size_t size, const struct smpp_receipt *r, int rc)
{
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
    p.esm_class = SMPP_ESM_RECEIPT;
    if (size <= SMPP_SM_MAX) {
        p.sm_length = (uint8_t)size;
        p.short_message = buf;
    } else {
        smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, buf, (uint16_t)size);
    }
    struct smpp_receipt e;
    int rc2 = smpp_receipt_read(&p, &e);
    check_receipt(&e, rc2);
    check(rc2 == rc && memcmp(r, &e, sizeof e) == 0);
    struct outbox_dlr d;
    check(outbox_receipt_read(&p, &d) == rc);
    check_outbox(&e, &d);

    static const char rid[] = "ABCDEF0123";
    smpp_pdu_set_bytes(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, rid, sizeof rid);
    smpp_pdu_set_u8(&p, SMPP_TLV_MESSAGE_STATE, 2);
    check(smpp_receipt_read(&p, &e) == 0);
    check_receipt(&e, 0);
    check(strcmp(e.id, rid) == 0 && e.state == SMPP_STATE_DELIVERED && e.state_tlv);
    check(strcmp(e.stat, r->stat) == 0 && e.err == r->err);
    check(outbox_receipt_read(&p, &d) == 0 && strcmp(d.id, rid) == 0 &&
          d.state == STORE_MSG_DELIVERED);
    check_outbox(&e, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    /* an exact-size copy so ASan sees any read past the end */
    uint8_t *buf = calloc(size ? size : 1, 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    struct smpp_receipt r;
    int rc = smpp_receipt_parse(buf, size, &r);
    check_receipt(&r, rc);
    struct outbox_dlr d;
    check(outbox_receipt_parse(buf, size, &d) == rc);
    check_outbox(&r, &d);
    /* the same through a deliver_sm */
    if (size <= 0xFFFF)
        fuzz_pdu(buf, size, &r, rc);
    free(buf);
    return 0;
}
