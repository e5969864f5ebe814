/*
 * gateway/mo.h — the MO router: where a deliver_sm / data_sm that came in
 * on a link goes.
 *
 * What it does, in this order:
 *   - a delivery receipt (esm_class & SMPP_ESM_RECEIPT) is logged (id and
 *     state, read by smpp/receipt) and handed to the outbox, which answers
 *     it only once it is durable;
 *   - USSD goes to the dialog service (gateway/ussd) on a link with a
 *     dialect;
 *   - "PING" is answered "PONG" on the same link (an operator's end-to-end
 *     check of a bind: MO in, MT out through the window and the TPS limit);
 *   - any other MO is logged (text decoded to UTF-8, numbers masked, the
 *     part of a long SMS noted) and the citizens' keywords (STATUS, STOP,
 *     START, HELP: gateway/keywords) answered through the outbox.
 * Every log line is tagged with the link's name.
 *
 * Ownership: nothing is kept past the call; the pdu is only read.  Runs
 * inside the esme's on_deliver callback: it never frees the link.
 * May call: gateway/keywords, gateway/links (the link and its entry),
 * gateway/log, gateway/outbox, gateway/store, gateway/ussd, smpp/esme,
 * smpp/mt, smpp/pdu, smpp/receipt, smpp/text, base/clock, libc.
 */
#ifndef KYZMAT_GATEWAY_MO_H
#define KYZMAT_GATEWAY_MO_H

#include <stdint.h>

struct esme;
struct smpp_pdu;

/*
 * mo_deliver — the esme_callbacks.on_deliver of every link (ud: its struct
 * link).  Returns the deliver_sm_resp status: ESME_ROK (for a receipt the
 * outbox's, which may be deferred), or ESME_RX_T_APPN when a keyword's
 * reply could not be stored (the SMSC delivers the MO again later).
 */
uint32_t mo_deliver(struct esme *e, const struct smpp_pdu *pdu, void *ud);

#endif
