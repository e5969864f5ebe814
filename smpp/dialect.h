/*
 * smpp/dialect.h — USSD over SMPP as each operator's SMSC speaks it.
 *
 * What it does: turns a deliver_sm/data_sm into "a USSD event" (start,
 * continue, abort; the subscriber, the service code, the correlation key,
 * the text as UTF-8) and builds the submit_sm that answers it (show and
 * wait, or final screen), following one dialect preset.  The presets are
 * data (one table in dialect.c), not branches scattered over the code:
 * op codes in and out, where the end flag lives, which field carries the
 * session key, which data_coding values USSD text uses, and whether
 * its_session_info / user_message_reference are echoed.  The SMPP 3.4
 * reading in ../shared/docs/protocol.md is the preset "standard".
 *
 * Pure: no I/O, no allocation, no globals but the const preset table.
 * Ownership: struct ussd_in copies the text and the addresses it needs
 * (the pdu may go after the call); ussd_reply() points the pdu it fills
 * at the caller's buffers and at the ussd_in, which must outlive it.
 * May call: smpp/pdu, smpp/text, libc.
 */
#ifndef KYZMAT_SMPP_DIALECT_H
#define KYZMAT_SMPP_DIALECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smpp/pdu.h"

enum ussd_key_src {
    USSD_KEY_ITS = 0,        /* (MSISDN, its_session_info octet 1) */
    USSD_KEY_UMR,            /* (MSISDN, user_message_reference) */
    USSD_KEY_MSISDN          /* MSISDN alone: one dialog per subscriber */
};

#define USSD_MAX_ABORT_OPS 4

struct ussd_dialect {
    const char *name;
    const char *help;            /* one line for --help-config and docs */
    /* network -> gateway */
    uint8_t op_start;            /* PSSR indication: a dial (1) */
    uint8_t op_continue;         /* USSR confirm: an answer (18) */
    uint8_t abort_ops[USSD_MAX_ABORT_OPS]; /* ops that mean release */
    uint8_t n_abort_ops;
    bool end_bit_in_aborts;      /* its_session_info end bit set = release */
    /* gateway -> network */
    uint8_t op_show;             /* USSR request: show, wait (2) */
    uint8_t op_end;              /* PSSR response: final text (17) */
    uint8_t op_notice;           /* USSN request: push notice (3) */
    bool end_by_op;              /* final screen uses op_end (else op_show) */
    bool end_bit_out;            /* final screen sets its end bit */
    enum ussd_key_src key;
    bool echo_its;               /* answer with its_session_info (octet 1 echoed) */
    bool echo_umr;               /* answer with the user_message_reference received */
    bool service_type_ussd;      /* service_type "USSD" on answers */
    uint8_t dcs_gsm;             /* data_coding for GSM 7-bit text (0 or 0x0F) */
    uint8_t dcs_ucs2;            /* data_coding for UCS-2 text (8 or 0x48) */
    bool gsm_packed;             /* GSM text packed 8 septets in 7 octets */
};

/* The presets, ending with a NULL name. */
extern const struct ussd_dialect ussd_dialects[];

/* The preset named name, or NULL. */
const struct ussd_dialect *ussd_dialect_find(const char *name);

enum ussd_kind {
    USSD_NOT = 0,        /* not a USSD PDU: an SMS (or a receipt) */
    USSD_START,          /* the subscriber dialled a code */
    USSD_CONTINUE,       /* the subscriber answered a screen */
    USSD_ABORT,          /* the network or the handset released the dialog */
    USSD_OTHER           /* USSD we do not act on (USSN confirm, PSSD...) */
};

#define USSD_TEXT_MAX 640        /* UTF-8 bytes of one decoded screen/answer */
#define USSD_KEY_MAX 48

struct ussd_in {
    enum ussd_kind kind;
    uint8_t op;                  /* ussd_service_op received (0xFF none) */
    char msisdn[22];             /* source_addr */
    char service[22];            /* destination_addr (the service code) */
    bool has_its;
    uint8_t its_session, its_seq;
    bool its_end;
    bool has_umr;
    uint16_t umr;
    char key[USSD_KEY_MAX];      /* correlation key per the dialect, e.g.
                                  * "996555123456/17" (its), "996555123456/u4711"
                                  * (umr), "996555123456" (msisdn) */
    uint8_t text[USSD_TEXT_MAX]; /* UTF-8 */
    size_t text_len;
};

/*
 * ussd_classify — read a deliver_sm/data_sm.  Returns 0 with *in filled
 * (kind USSD_NOT when the PDU is no USSD at all), or -1 with a reason in
 * err when it is USSD but unusable (no source_addr, text that does not
 * decode in its data_coding, a session key the dialect needs missing).
 */
int ussd_classify(const struct ussd_dialect *d, const struct smpp_pdu *pdu,
                  struct ussd_in *in, char *err, size_t errlen);

/* Output buffers of one answer: keep them alive until the pdu is sent. */
struct ussd_reply_buf {
    uint8_t sm[SMPP_SM_MAX];
    uint8_t its[2];
    uint8_t op;
    uint16_t umr;
};

/*
 * ussd_reply — fill *pdu with the submit_sm answering `in` with utf8 text
 * (at most one screen: 160 octets on the air), as a screen that waits for
 * an answer (end false) or a final one (end true).  enc_ucs2 selects UCS-2
 * (else GSM 7-bit; the caller has chosen and fitted the text).  Returns 0,
 * or -1 with err when the text does not encode or fit.
 */
int ussd_reply(const struct ussd_dialect *d, const struct ussd_in *in,
               const uint8_t *utf8, size_t len, bool enc_ucs2, bool end,
               struct smpp_pdu *pdu, struct ussd_reply_buf *buf,
               char *err, size_t errlen);

/* A USSN push notice (op_notice) to msisdn from service. */
int ussd_notice(const struct ussd_dialect *d, const char *msisdn,
                const char *service, const uint8_t *utf8, size_t len,
                bool enc_ucs2, struct smpp_pdu *pdu,
                struct ussd_reply_buf *buf, char *err, size_t errlen);

const char *ussd_kind_name(enum ussd_kind k);

/* ---- the network side (kyzmat-smsc plays the operator) ---------------
 * The same preset table, read from the other end: the deliver_sm a
 * network following the preset sends for a dial, an answer or a release,
 * and how it reads the gateway's submit_sm (screen that waits, final
 * screen, notice), noting where the gateway strays from the preset. */

enum ussd_net_kind {
    USSD_NET_DIAL = 0,       /* op_start: the subscriber dialled */
    USSD_NET_ANSWER,         /* op_continue: the subscriber answered */
    USSD_NET_ABORT           /* release: op_continue + end bit, or an abort op */
};

/* The network's view of one dialog's session key. */
struct ussd_net_session {
    uint8_t session;         /* its_session_info octet 1 (its-keyed presets) */
    uint8_t seq;             /* its_session_info octet 2 bits 7..1 */
    uint16_t umr;            /* user_message_reference (umr preset) */
};

/*
 * ussd_network_deliver — fill *pdu with the deliver_sm the network sends
 * for kind, from msisdn to service, text utf8[0..len) (GSM 7-bit when every
 * character has a GSM code, packed if the preset says so, else UCS-2; the
 * preset's data_coding).  The session key goes where the preset keeps it
 * (its_session_info, user_message_reference, or nowhere).  A release uses
 * the end bit on op_continue when the preset reads the end bit as a
 * release and by_op is false, else the preset's first abort op (with the
 * end bit too on its-keyed presets).  *dcs_out (may be NULL) gets the
 * data_coding used.  pdu points into buf and at msisdn/service, which must
 * outlive it.  Returns 0, or -1 with err (text does not fit one screen).
 */
int ussd_network_deliver(const struct ussd_dialect *d, enum ussd_net_kind kind,
                         bool by_op, const char *msisdn, const char *service,
                         const struct ussd_net_session *ses,
                         const uint8_t *utf8, size_t len,
                         struct smpp_pdu *pdu, struct ussd_reply_buf *buf,
                         char *err, size_t errlen);

/* The op the network uses for a release under d (by_op as above). */
uint8_t ussd_network_abort_op(const struct ussd_dialect *d, bool by_op);

enum ussd_screen {
    USSD_SCREEN_SHOW = 0,    /* a screen that waits for an answer */
    USSD_SCREEN_END,         /* the final screen: the dialog is over */
    USSD_SCREEN_NOTICE       /* a USSN notice */
};

struct ussd_net_in {
    enum ussd_screen kind;
    uint8_t op;                  /* ussd_service_op (0xFF none) */
    uint8_t dcs;
    bool has_its;
    uint8_t its_session, its_seq;
    bool its_end;
    bool has_umr;
    uint16_t umr;
    uint8_t text[USSD_TEXT_MAX]; /* UTF-8 (lenient: what does not decode is hex) */
    size_t text_len;
    char mismatch[160];          /* "" when the PDU follows the preset; else
                                  * the first deviation found */
    unsigned n_mismatch;
};

/*
 * ussd_network_read — read the gateway's USSD submit_sm as a network that
 * follows d.  ses is the dialog's key (NULL when no dialog is open: then
 * the key is not checked).  Lenient: op_end, the PSSD response (16) and
 * the end bit all end a dialog, op_notice without the end bit is a notice,
 * anything else shows a screen; every deviation from the preset (wrong
 * final signalling, session key not echoed or wrong, data_coding outside
 * the preset's pair, text that does not decode) is counted in n_mismatch
 * and the first described in mismatch.  Never fails.
 */
void ussd_network_read(const struct ussd_dialect *d, const struct smpp_pdu *pdu,
                       const struct ussd_net_session *ses,
                       struct ussd_net_in *in);

const char *ussd_screen_name(enum ussd_screen k);

#endif
