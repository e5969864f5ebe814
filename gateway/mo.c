/*
 * gateway/mo.c — the MO router.  See mo.h for the contract.
 *
 * Design: mo_deliver is a short chain of "is it mine?" steps, the cheapest
 * and most specific first (receipt flag, USSD dialect, PING), ending with
 * the MO log line and the keywords.  The protocol reading is smpp/'s: the
 * body and its concatenation (smpp_pdu_body, smpp_pdu_concat), the receipt
 * (smpp_receipt_read), the text (smpp_text_decode_dcs); this file only
 * decides and logs.  The citizen's text reaches the log only through
 * log_text_safe (numbers masked, controls and bidi marks escaped).
 *
 * Owns: one struct ping_reply per PONG in flight (freed by its mt done).
 * May call: gateway/keywords, gateway/links, gateway/log, gateway/outbox,
 * gateway/store, gateway/ussd, smpp/esme, smpp/mt, smpp/pdu, smpp/receipt,
 * smpp/text, base/clock, libc.
 */
#include "gateway/mo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "gateway/config.h"
#include "gateway/keywords.h"
#include "gateway/links.h"
#include "gateway/log.h"
#include "gateway/outbox.h"
#include "gateway/store.h"
#include "gateway/ussd.h"
#include "smpp/esme.h"
#include "smpp/mt.h"
#include "smpp/pdu.h"
#include "smpp/receipt.h"
#include "smpp/text.h"

/* ---- the log lines ------------------------------------------------------ */

/* One line per receipt, before the outbox files it: the id and the state
 * as the SMSC gave them (the message_state TLV's name, else the text's stat
 * word). */
static void log_receipt(const struct link *l, const struct smpp_pdu *pdu)
{
    struct smpp_receipt r;
    smpp_receipt_read(pdu, &r);
    const char *stat = r.state_tlv ? smpp_message_state_name(r.state) : NULL;
    if (!stat)
        stat = r.stat;
    log_msg(KLOG_INFO, l->name, "receipt from %s: id %s stat %s",
            log_mask(pdu->source_addr).s, r.id[0] ? r.id : "?",
            stat[0] ? stat : "?");
}

#define MO_LOG_OCTETS 512

static void log_mo(const struct link *l, const struct smpp_pdu *pdu)
{
    /* the part's own text, after any UDH; "(part 2/3)" for a part */
    struct smpp_concat c;
    smpp_pdu_concat(pdu, &c);
    const uint8_t *data = c.text;
    size_t len = c.len;
    unsigned part = c.seq, parts = c.total;
    char partinfo[32] = "";
    if (parts > 1)
        snprintf(partinfo, sizeof partinfo, " (part %u/%u)", part, parts);
    if (len > MO_LOG_OCTETS)
        len = MO_LOG_OCTETS;
    uint8_t text[SMPP_TEXT_DECODE_MAX(MO_LOG_OCTETS)];
    size_t tlen = 0;
    enum smpp_text_enc used = SMPP_ENC_NONE;
    int rc = smpp_text_decode_dcs(pdu->data_coding, SMPP_TEXT_DCS_HEX_FALLBACK,
                                  data, len, text, sizeof text, &tlen, &used);
    if (rc != SMPP_TEXT_OK) {
        log_msg(KLOG_INFO, l->name,
                "MO from %s to %s%s: data_coding 0x%02x, %zu octets (%s)",
                log_mask(pdu->source_addr).s, log_mask(pdu->destination_addr).s,
                partinfo, pdu->data_coding, len, smpp_text_strerror(rc));
        return;
    }
    /* the citizen's words, numbers masked and controls escaped (the line
     * cuts what does not fit; LOG_LINE_MAX holds more than one line) */
    char safe[LOG_LINE_MAX];
    log_text_safe(text, tlen, safe, sizeof safe);
    log_msg(KLOG_INFO, l->name, "MO from %s to %s%s: %s\"%s\"",
            log_mask(pdu->source_addr).s, log_mask(pdu->destination_addr).s,
            partinfo, used == SMPP_ENC_HEX ? "hex " : "", safe);
}

/* ---- PING ------------------------------------------------------------- */

struct ping_reply {
    char link[40];
    char to[80];                /* masked: only for the log line */
};

static void on_ping_sent(void *arg, const struct mt_result *r)
{
    struct ping_reply *p = arg;
    if (r->status == ESME_ROK)
        log_msg(KLOG_INFO, p->link, "PONG to %s accepted, message id %s",
                p->to, r->ids[0]);
    else
        log_msg(KLOG_WARN, p->link, "PONG to %s not sent: %s (0x%08x)", p->to,
                smpp_status_name(r->status) ? smpp_status_name(r->status)
                                            : "no answer",
                r->status);
    free(p);
}

/*
 * PING: an operator checks a bind end to end by sending "PING" to the
 * gateway's number and gets "PONG" back on the same link: MO in, MT out,
 * through the window, the TPS limit and the throttling retries.  Returns 1
 * when the MO was a PING (answered or logged), else 0.
 */
static int keyword_ping(struct link *l, const struct smpp_pdu *pdu)
{
    size_t len;
    const uint8_t *data = smpp_pdu_body(pdu, &len);
    if (pdu->esm_class & SMPP_ESM_UDHI || len > 32)
        return 0;
    uint8_t text[SMPP_TEXT_DECODE_MAX(32)];
    size_t tlen = 0;
    if (smpp_text_decode_dcs(pdu->data_coding, 0, data, len, text, sizeof text,
                             &tlen, NULL) != SMPP_TEXT_OK)
        return 0;
    size_t a = 0, b = tlen;
    while (a < b && (text[a] == ' ' || text[a] == '\n' || text[a] == '\r'))
        a++;
    while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\n' || text[b - 1] == '\r'))
        b--;
    if (b - a != 4 || strncasecmp((const char *)text + a, "PING", 4) != 0)
        return 0;
    const struct config_smsc *s = link_entry(l);
    struct ping_reply *p = calloc(1, sizeof *p);
    if (!p)
        return 1;
    snprintf(p->link, sizeof p->link, "%s", l->name);
    snprintf(p->to, sizeof p->to, "%s", log_mask(pdu->source_addr).s);
    char reply[120];
    int n = snprintf(reply, sizeof reply, "PONG from kyzmat %s (%s)",
                     KYZMAT_VERSION, l->name);
    struct mt_msg m = {
        .from = pdu->destination_addr, .to = pdu->source_addr,
        .text = (const uint8_t *)reply, .len = (size_t)n,
        .split = link_split_mode(s ? s->split : CONFIG_SPLIT_UDH), .ref = link_next_ref(),
    };
    char err[120];
    log_msg(KLOG_INFO, l->name, "PING from %s", p->to);
    if (mt_send(l->e, &m, on_ping_sent, p, err, sizeof err) != 0) {
        log_msg(KLOG_WARN, l->name, "PONG to %s not sent: %s", p->to, err);
        free(p);
    }
    return 1;
}

/* ---- the router ------------------------------------------------------- */

uint32_t mo_deliver(struct esme *e, const struct smpp_pdu *pdu, void *ud)
{
    struct link *l = ud;
    if (pdu->esm_class & SMPP_ESM_RECEIPT) {
        /* answered only once the receipt is durable (the outbox defers the
         * deliver_sm_resp until its pass has committed): the SMSC never
         * sends an acknowledged receipt again, so kill -9 must not lose it */
        log_receipt(l, pdu);
        if (l->d->outbox)
            return outbox_receipt_deliver(l->d->outbox, e, l->name, pdu);
        return ESME_ROK;
    }
    if (l->dialect && l->d->ussd &&
        ussd_deliver(l->d->ussd, l->name, l->dialect, l->session_timeout_ms, pdu))
        return ESME_ROK;
    if (keyword_ping(l, pdu))
        return ESME_ROK;
    log_mo(l, pdu);
    if (l->d->db) {
        /* STATUS / STOP / START / HELP: acknowledged only once its writes
         * and its reply are durable (the answer waits for the store's
         * commit); a store failure asks the SMSC to deliver the MO again
         * later instead of losing the request. */
        struct kw_result kr;
        struct kw_answer ka = { outbox_answer_cb, l->d };
        uint32_t st = keywords_deliver(l->d->db, e, l->name, pdu, kz_wall_ms(),
                                       &l->d->kw, &ka, &kr);   /* issue 12 */
        if (kr.reply_id && l->d->outbox)
            outbox_kick(l->d->outbox);
        return st;
    }
    return ESME_ROK;
}
