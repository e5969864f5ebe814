/*
 * tests/fuzz/fuzz_dialect.c — libFuzzer target: any bytes -> SMPP decode ->
 * USSD classification under every dialect preset -> an answer built from
 * the decoded text.  Must never crash, read outside the input, or build a
 * screen over 160 octets on the air.
 * May call: smpp/dialect, smpp/pdu, smpp/text, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp/dialect.h"
#include "smpp/pdu.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smpp_pdu pdu;
    if (smpp_pdu_decode(&pdu, data, size, NULL, NULL) != 0)
        return 0;
    for (const struct ussd_dialect *d = ussd_dialects; d->name; d++) {
        struct ussd_in in;
        char err[128];
        if (ussd_classify(d, &pdu, &in, err, sizeof err) != 0)
            continue;
        if (in.kind != USSD_START && in.kind != USSD_CONTINUE)
            continue;
        struct smpp_pdu r;
        struct ussd_reply_buf b;
        for (int ucs2 = 0; ucs2 < 2; ucs2++) {
            if (ussd_reply(d, &in, in.text, in.text_len, ucs2, ucs2, &r, &b, err,
                           sizeof err) == 0) {
                size_t air = r.sm_length;
                if (!ucs2 && !d->gsm_packed)
                    air = (air * 7 + 7) / 8;
                if (air > 160)
                    abort();
                uint8_t out[600];
                if (smpp_pdu_encode(&r, out, sizeof out, NULL) <= 0)
                    abort();
            }
        }
    }
    return 0;
}
