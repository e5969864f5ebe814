/*
 * smpp/mt.c — one MT SMS onto a link: encode, split, submit each part,
 * gather the answers.  See mt.h for the contract.
 *
 * Owns: struct mt_ctx, one per message, allocated in mt_send and freed
 * after its done() has run, when the last part's answer came back.  The
 * esme calls our per-part callback exactly once per part, never from inside
 * esme_send, so the count of outstanding parts is the whole state.
 * May call: smpp/esme, smpp/pdu, smpp/text, libc (smpp/ and the libc
 * only: make check-deps holds it to that).
 */
#include "smpp/mt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mt_ctx {
    mt_done_fn *done;
    void *arg;
    unsigned parts, pending, ok;
    uint32_t status;
    enum smpp_text_enc enc;
    char ids[MT_MAX_PARTS][MT_MSGID_MAX];
    const char *idp[MT_MAX_PARTS];
};

struct mt_part_arg {
    struct mt_ctx *ctx;
    unsigned idx;
};

const char *mt_address(const char *addr, uint8_t *ton, uint8_t *npi)
{
    const char *p = addr ? addr : "";
    if (*p == '+')
        p++;
    size_t n = 0;
    while (p[n] >= '0' && p[n] <= '9')
        n++;
    if (n > 0 && p[n] == '\0') {
        *ton = n > 8 ? 1 : 0;  /* international : unknown (short code) */
        *npi = 1;              /* ISDN E.164 */
        return p;
    }
    *ton = 5;                  /* alphanumeric */
    *npi = 0;
    return addr ? addr : "";
}

static void part_done(struct esme *e, void *arg, uint32_t status,
                      const struct smpp_pdu *resp)
{
    (void)e;
    struct mt_part_arg *pa = arg;
    struct mt_ctx *c = pa->ctx;
    unsigned i = pa->idx;
    free(pa);
    if (status == ESME_ROK) {
        c->ok++;
        if (resp && resp->message_id)
            snprintf(c->ids[i], MT_MSGID_MAX, "%s", resp->message_id);
    } else if (c->status == ESME_ROK) {
        c->status = status;
    }
    if (--c->pending > 0)
        return;
    if (c->done) {
        struct mt_result r = { c->status, c->parts, c->ok, c->idp, c->enc };
        c->done(c->arg, &r);
    }
    free(c);
}

int mt_send(struct esme *e, const struct mt_msg *m, mt_done_fn *done,
            void *arg, char *err, size_t errlen)
{
    struct smpp_text_choice ch;
    size_t off = 0;
    int rc = smpp_text_choose(m->text, m->len, m->allow, &ch, &off);
    if (rc != SMPP_TEXT_OK) {
        snprintf(err, errlen, "text is not valid UTF-8 (byte %zu)", off);
        return -1;
    }
    enum smpp_text_split_mode mode = m->split ? m->split : SMPP_SPLIT_UDH8;
    uint8_t payload[MT_MAX_PARTS * 160];
    struct smpp_text_split_req req = { ch.enc, mode, m->ref, payload, sizeof payload };
    struct smpp_text_part parts[MT_MAX_PARTS];
    size_t n = 0;
    rc = smpp_text_split(m->text, m->len, &req, parts, MT_MAX_PARTS, &n, &off);
    if (rc == SMPP_TEXT_ETOOMANY || rc == SMPP_TEXT_ENOSPACE) {
        snprintf(err, errlen, "text too long: %zu parts needed, at most %d",
                 n, MT_MAX_PARTS);
        return -1;
    }
    if (rc != SMPP_TEXT_OK) {
        snprintf(err, errlen, "cannot encode the text: %s (byte %zu)",
                 smpp_text_strerror(rc), off);
        return -1;
    }
    struct mt_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->done = done;
    c->arg = arg;
    c->enc = ch.enc;
    c->parts = (unsigned)n;
    for (unsigned i = 0; i < MT_MAX_PARTS; i++)
        c->idp[i] = c->ids[i];

    struct smpp_pdu pdu;
    uint8_t ston, snpi, dton, dnpi;
    const char *src = mt_address(m->from, &ston, &snpi);
    const char *dst = mt_address(m->to, &dton, &dnpi);
    int dcs = smpp_text_enc_dcs(ch.enc);
    /* Count every part as pending before the first send, so a part that
     * fails at once cannot finish the message early. */
    c->pending = (unsigned)n;
    unsigned sent = 0;
    for (size_t i = 0; i < n; i++) {
        smpp_pdu_reset(&pdu, SMPP_SUBMIT_SM, 0, 0);
        pdu.source_addr_ton = ston;
        pdu.source_addr_npi = snpi;
        pdu.source_addr = src;
        pdu.dest_addr_ton = dton;
        pdu.dest_addr_npi = dnpi;
        pdu.destination_addr = dst;
        pdu.registered_delivery = m->registered_delivery;
        pdu.data_coding = (uint8_t)dcs;
        const struct smpp_text_part *p = &parts[i];
        if (mode == SMPP_SPLIT_PAYLOAD) {
            pdu.sm_length = 0;
            if (p->units <= ch.single_units && p->len <= SMPP_SM_MAX) {
                /* fits one SMS: short_message, the common case */
                pdu.sm_length = (uint8_t)p->len;
                pdu.short_message = payload;
            } else {
                smpp_pdu_set_bytes(&pdu, SMPP_TLV_MESSAGE_PAYLOAD, payload,
                                   (uint16_t)p->len);
            }
        } else {
            pdu.sm_length = (uint8_t)p->len;
            pdu.short_message = p->data;
            if (p->udh_len > 0)
                pdu.esm_class |= SMPP_ESM_UDHI;
            if (mode == SMPP_SPLIT_SAR && p->total > 1) {
                smpp_pdu_set_u16(&pdu, SMPP_TLV_SAR_MSG_REF_NUM, p->ref);
                smpp_pdu_set_u8(&pdu, SMPP_TLV_SAR_TOTAL_SEGMENTS, p->total);
                smpp_pdu_set_u8(&pdu, SMPP_TLV_SAR_SEGMENT_SEQNUM, p->seq);
            }
        }
        struct mt_part_arg *pa = malloc(sizeof *pa);
        if (!pa)
            break;
        pa->ctx = c;
        pa->idx = (unsigned)i;
        if (esme_send(e, &pdu, part_done, pa) != 0) {
            free(pa);
            break;
        }
        sent++;
    }
    if (sent == n)
        return 0;
    /* A part could not be queued (encode error or no memory).  Parts
     * already queued will complete through part_done; account for the
     * rest now.  With none queued, refuse the whole message. */
    if (sent == 0) {
        free(c);
        snprintf(err, errlen, "cannot queue the message");
        return -1;
    }
    c->status = ESME_RSYSERR;
    c->pending -= (unsigned)(n - sent);
    return 0;
}
