/*
 * smpp/mt.h — send one mobile-terminated SMS (all its parts) on a link.
 *
 * What it does: takes UTF-8 text, picks the cheapest encoding the text
 * fits exactly (GSM 03.38, Latin-1 where the SMSC allows it, else UCS-2:
 * all Kyrgyz and Russian text), splits a long text by the link's split
 * mode (8-bit or 16-bit reference UDH, sar_* TLVs, or one message_payload),
 * builds one submit_sm per part and hands them to the esme, which applies
 * the link's window, TPS limit and throttling retries.  When every part has
 * an answer, done() is called once with the first failure (or ESME_ROK) and
 * the SMSC's message id of each part (delivery receipts come per part).
 *
 * Ownership: mt_send copies what it needs; the caller's strings may go
 * after the call.  The per-message context is owned by this module and
 * freed after done() returns.  Invalid UTF-8 or a text longer than
 * MT_MAX_PARTS parts is refused up front (an error value, nothing sent).
 *
 * MT assembly is protocol knowledge (one MT in all its parts), so it lives
 * in smpp/ beside the esme it feeds: it uses only smpp/ symbols and knows
 * nothing of the gateway (no config, no store, no log).  Callers pick the
 * split mode and the concatenation reference: the gateway's link registry
 * (gateway/links) and its outbox.
 *
 * May call: smpp/esme, smpp/pdu, smpp/text, libc.
 */
#ifndef KYZMAT_SMPP_MT_H
#define KYZMAT_SMPP_MT_H

#include <stddef.h>
#include <stdint.h>

#include "smpp/esme.h"
#include "smpp/text.h"

#define MT_MAX_PARTS 16          /* 16 x 153 GSM chars, 16 x 67 Cyrillic */
#define MT_MSGID_MAX 65          /* SMPP message_id, NUL included */

struct mt_msg {
    const char *from;            /* source_addr: short code, number or alphanumeric */
    const char *to;              /* destination_addr: the subscriber's number */
    const uint8_t *text;         /* UTF-8, not NUL-terminated */
    size_t len;                  /* bytes */
    enum smpp_text_split_mode split; /* 0 means SMPP_SPLIT_UDH8 */
    unsigned allow;              /* SMPP_TEXT_ALLOW_LATIN1 or 0 */
    uint8_t registered_delivery; /* 0, 1 (always) or 2 (on failure) */
    uint16_t ref;                /* concatenation reference (caller picks) */
};

struct mt_result {
    uint32_t status;             /* ESME_ROK, the first SMSC error, or ESME_DONE_* */
    unsigned parts;              /* parts sent */
    unsigned parts_ok;           /* parts the SMSC accepted */
    const char *const *ids;      /* ids[i]: message id of part i ("" if refused) */
    enum smpp_text_enc enc;      /* the encoding chosen */
};

typedef void mt_done_fn(void *arg, const struct mt_result *res);

/*
 * Queue the SMS on e.  Returns 0 and calls done(arg, ...) exactly once,
 * later (never from inside mt_send); or returns -1 with a reason in err
 * (invalid UTF-8 with its offset, too long, out of memory) and does not
 * call done.  done may be NULL.  May be called from inside esme callbacks.
 */
int mt_send(struct esme *e, const struct mt_msg *m, mt_done_fn *done,
            void *arg, char *err, size_t errlen);

/* Fill submit_sm addressing for a number or a name: digits (with an
 * optional leading +) -> international/ISDN when longer than 8 digits,
 * else unknown/ISDN (short codes); anything else -> alphanumeric.  The
 * leading + is skipped.  Returns the string to put in the address field. */
const char *mt_address(const char *addr, uint8_t *ton, uint8_t *npi);

#endif
