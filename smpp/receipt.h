/*
 * smpp/receipt.h — delivery receipts: the one reader of what an SMSC says
 * about an MT it accepted.
 *
 * What it does: reads a receipt deliver_sm (esm_class & SMPP_ESM_RECEIPT):
 *   - its text, SMPP 3.4 Appendix B, in short_message or message_payload
 *     (smpp_pdu_body):
 *       id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm
 *       done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
 *     with what real SMSCs make of it: fields in any order, names in any
 *     case ("Text:", "submit_date:"), ids of any length up to
 *     SMPP_RECEIPT_ID_MAX - 1 (decimal or hex), dates with or without
 *     seconds, err in decimal (hex when it has hex letters or 0x);
 *     unknown words are skipped and "text:" takes the rest;
 *   - its TLVs (SMPP 3.4 §5.3.2.12, .28, .31): receipted_message_id,
 *     message_state, network_error_code, which win over the text where
 *     present.
 * The result is one small struct in SMPP terms (message_state values);
 * what a state means to a caller (the outbox's row states, a log word) is
 * the caller's business.
 *
 * Pure: no I/O, no allocation, no global mutable state; re-entrant.  Every
 * reader is bounds-checked: it never reads past the octets it is given
 * (fuzzed by tests/fuzz/fuzz_receipt.c).
 * Owns: nothing.  May call: smpp/pdu, libc.
 */
#ifndef KYZMAT_SMPP_RECEIPT_H
#define KYZMAT_SMPP_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "smpp/pdu.h"

#define SMPP_RECEIPT_ID_MAX 65   /* a message_id: 64 octets and the NUL */

/* message_state values (SMPP 3.4 §5.2.28), in receipts and query_sm_resp. */
enum smpp_message_state {
    SMPP_STATE_ENROUTE = 1,
    SMPP_STATE_DELIVERED = 2,
    SMPP_STATE_EXPIRED = 3,
    SMPP_STATE_DELETED = 4,
    SMPP_STATE_UNDELIVERABLE = 5,
    SMPP_STATE_ACCEPTED = 6,
    SMPP_STATE_UNKNOWN = 7,
    SMPP_STATE_REJECTED = 8
};

struct smpp_receipt {
    char id[SMPP_RECEIPT_ID_MAX]; /* the SMSC's message id as written; "" when none */
    char stat[16];               /* the text's stat: word as written ("DELIVRD");
                                    "" when absent or longer than 15 */
    int state;                   /* enum smpp_message_state: the message_state
                                    TLV's value when present, else what the
                                    stat word means; -1 when neither says */
    int state_tlv;               /* 1 when state is the message_state TLV's */
    int err;                     /* network_error_code's error, else the text's
                                    err:; 0 when none */
    int sub, dlvrd;              /* -1 when absent */
    int64_t submit_date;         /* Unix seconds (UTC assumed), 0 when absent */
    int64_t done_date;           /*   or malformed */
};

/*
 * smpp_receipt_parse — read the receipt text text[0..len) (not
 * NUL-terminated; NULL with len 0 is fine) into *out (always filled).
 * Returns 0 when an id was found, -1 otherwise.
 */
int smpp_receipt_parse(const uint8_t *text, size_t len, struct smpp_receipt *out);

/*
 * smpp_receipt_read — the receipt in a deliver_sm: its text (short_message,
 * or message_payload when short_message is empty) read by
 * smpp_receipt_parse, then the TLVs over it: receipted_message_id (up to
 * its NUL, when 1..64 octets) replaces the id, message_state the state,
 * network_error_code (3 octets) the err.  *out is always filled; returns 0
 * when the text or the TLV gave an id, -1 otherwise.  The pdu is only read.
 */
int smpp_receipt_read(const struct smpp_pdu *deliver_sm, struct smpp_receipt *out);

/* The message_state a stat word stands for ("DELIVRD" or "DELIVERED" ->
 * SMPP_STATE_DELIVERED, "UNDELIV", "REJECTD", "ACCEPTD", "ENROUTE", ...;
 * any case); -1 for a word no spec or SMSC uses, or NULL. */
int smpp_receipt_stat_state(const char *stat);

/* The Appendix B stat word of a message_state (SMPP_STATE_DELIVERED ->
 * "DELIVRD"), or NULL outside 1..8. */
const char *smpp_message_state_name(int state);

#endif
