/*
 * tests/fuzz/fuzz_receipt.c — libFuzzer target for the delivery-receipt
 * readers in gateway/outbox.[ch].
 *
 * The input is a receipt text.  Checks, with abort() on a broken property:
 *   - outbox_receipt_parse() never reads past the input (ASan), returns 0
 *     exactly when an id was found, and then the id is non-empty,
 *     NUL-terminated, shorter than OUTBOX_DLR_ID_MAX and free of spaces;
 *   - stat is NUL-terminated and state agrees with outbox_stat_state(stat);
 *   - state is -1 or a final store state; err >= 0; dates are 0 or within
 *     2000..2100;
 *   - the same text in a deliver_sm (short_message when it fits, else
 *     message_payload) gives the same reading through outbox_receipt_read,
 *     and a receipted_message_id TLV overrides the id.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_receipt.
 *
 * May call: gateway/outbox.h, gateway/store.h (state names), smpp/pdu.h, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/outbox.h"
#include "gateway/store.h"
#include "smpp/pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define Y2000 946684800LL
#define Y2100 4102444800LL

static void check(const struct outbox_dlr *d, int rc)
{
    if (rc == 0) {
        size_t n = strnlen(d->id, OUTBOX_DLR_ID_MAX);
        if (n == 0 || n >= OUTBOX_DLR_ID_MAX)
            abort();
        for (size_t i = 0; i < n; i++)
            if (d->id[i] == ' ')
                abort();
    }
    if (strnlen(d->stat, sizeof d->stat) >= sizeof d->stat)
        abort();
    if (d->state != -1 && d->state != STORE_MSG_DELIVERED &&
        d->state != STORE_MSG_FAILED && d->state != STORE_MSG_EXPIRED)
        abort();
    if (d->err < 0)
        abort();
    if (d->submit_date && (d->submit_date < Y2000 || d->submit_date >= Y2100))
        abort();
    if (d->done_date && (d->done_date < Y2000 || d->done_date >= Y2100))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    /* an exact-size copy so ASan sees any read past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    struct outbox_dlr d;
    int rc = outbox_receipt_parse(buf, size, &d);
    if (rc != 0 && rc != -1)
        abort();
    check(&d, rc);
    if (d.stat[0] && d.state != outbox_stat_state(d.stat))
        abort();

    /* the same through a deliver_sm */
    if (size <= 0xFFFF) {
        struct smpp_pdu p;
        smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 1);
        p.esm_class = 0x04;
        if (size <= SMPP_SM_MAX) {
            p.sm_length = (uint8_t)size;
            p.short_message = buf;
        } else {
            smpp_pdu_set_bytes(&p, SMPP_TLV_MESSAGE_PAYLOAD, buf, (uint16_t)size);
        }
        struct outbox_dlr e;
        int rc2 = outbox_receipt_read(&p, &e);
        check(&e, rc2);
        if (rc2 != rc || memcmp(&d, &e, sizeof d) != 0)
            abort();
        static const char rid[] = "ABCDEF0123";
        smpp_pdu_set_bytes(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, rid, sizeof rid);
        smpp_pdu_set_u8(&p, SMPP_TLV_MESSAGE_STATE, 2);
        if (outbox_receipt_read(&p, &e) != 0 || strcmp(e.id, rid) != 0 ||
            e.state != STORE_MSG_DELIVERED)
            abort();
    }
    free(buf);
    return 0;
}
