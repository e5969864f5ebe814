/*
 * smpp/dialect.c — USSD dialect presets, reading USSD PDUs and building
 * the answers (gateway side), and the same presets played from the
 * network side (kyzmat-smsc).  See dialect.h for the contract.  Pure: no I/O, no malloc.
 *
 * Correlation follows ../shared/docs/protocol.md: the dialect names the
 * preferred session key; when a PDU lacks it, the next one is used
 * (its_session_info, then user_message_reference, then the MSISDN alone),
 * so a link that leaves out a field now and then still correlates.
 * May call: smpp/pdu, smpp/text, libc.
 */
#include "smpp/dialect.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "smpp/text.h"

const struct ussd_dialect ussd_dialects[] = {
    {
        .name = "standard",
        .help = "SMPP 3.4: op 1/18 in, 2/17 out, its_session_info echoed with the end bit, data_coding 0/8",
        .op_start = 1, .op_continue = 18,
        .abort_ops = { 0x81, 17 }, .n_abort_ops = 2, .end_bit_in_aborts = true,
        .op_show = 2, .op_end = 17, .op_notice = 3,
        .end_by_op = true, .end_bit_out = true,
        .key = USSD_KEY_ITS, .echo_its = true, .echo_umr = true,
        .service_type_ussd = true, .dcs_gsm = 0x00, .dcs_ucs2 = 0x08,
    },
    {
        .name = "standard-3gpp",
        .help = "as standard, with 3GPP USSD data_coding: 0x0F (GSM 7-bit packed) / 0x48 (UCS-2)",
        .op_start = 1, .op_continue = 18,
        .abort_ops = { 0x81, 17 }, .n_abort_ops = 2, .end_bit_in_aborts = true,
        .op_show = 2, .op_end = 17, .op_notice = 3,
        .end_by_op = true, .end_bit_out = true,
        .key = USSD_KEY_ITS, .echo_its = true, .echo_umr = true,
        .service_type_ussd = true, .dcs_gsm = 0x0F, .dcs_ucs2 = 0x48,
        .gsm_packed = true,
    },
    {
        .name = "end-bit",
        .help = "ends with op 2 and the its_session_info end bit (no op 17), otherwise standard",
        .op_start = 1, .op_continue = 18,
        .abort_ops = { 0x81, 17 }, .n_abort_ops = 2, .end_bit_in_aborts = true,
        .op_show = 2, .op_end = 17, .op_notice = 3,
        .end_by_op = false, .end_bit_out = true,
        .key = USSD_KEY_ITS, .echo_its = true, .echo_umr = true,
        .service_type_ussd = true, .dcs_gsm = 0x00, .dcs_ucs2 = 0x08,
    },
    {
        .name = "umr",
        .help = "session key in user_message_reference (echoed), no its_session_info, ends with op 17",
        .op_start = 1, .op_continue = 18,
        .abort_ops = { 0x81, 17 }, .n_abort_ops = 2, .end_bit_in_aborts = false,
        .op_show = 2, .op_end = 17, .op_notice = 3,
        .end_by_op = true, .end_bit_out = false,
        .key = USSD_KEY_UMR, .echo_its = false, .echo_umr = true,
        .service_type_ussd = true, .dcs_gsm = 0x00, .dcs_ucs2 = 0x08,
    },
    {
        .name = "msisdn",
        .help = "no session id at all: one dialog per subscriber, ends with op 17, release by op 0x81 or 17",
        .op_start = 1, .op_continue = 18,
        .abort_ops = { 0x81, 17 }, .n_abort_ops = 2, .end_bit_in_aborts = false,
        .op_show = 2, .op_end = 17, .op_notice = 3,
        .end_by_op = true, .end_bit_out = false,
        .key = USSD_KEY_MSISDN, .echo_its = false, .echo_umr = false,
        .service_type_ussd = true, .dcs_gsm = 0x00, .dcs_ucs2 = 0x08,
    },
    { .name = NULL },
};

const struct ussd_dialect *ussd_dialect_find(const char *name)
{
    if (!name)
        return NULL;
    for (const struct ussd_dialect *d = ussd_dialects; d->name; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

const char *ussd_kind_name(enum ussd_kind k)
{
    switch (k) {
    case USSD_NOT: return "not-ussd";
    case USSD_START: return "start";
    case USSD_CONTINUE: return "continue";
    case USSD_ABORT: return "abort";
    case USSD_OTHER: return "other";
    }
    return "?";
}

static int copy_addr(char *dst, size_t cap, const char *src)
{
    if (!src)
        src = "";
    size_t n = strlen(src);
    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* The session TLVs: its_session_info (two octets: the session, then
 * sequence << 1 | end bit) and user_message_reference. */
static void read_session(const struct smpp_pdu *pdu, bool *has_its, uint8_t *session,
                         uint8_t *seq, bool *end, bool *has_umr, uint16_t *umr)
{
    const struct smpp_tlv *its = smpp_tlv_find(pdu, SMPP_TLV_ITS_SESSION_INFO);
    *has_its = its && its->len == 2;
    *session = *has_its ? its->val[0] : 0;
    *seq = *has_its ? (uint8_t)(its->val[1] >> 1) : 0;
    *end = *has_its && (its->val[1] & 1);
    int64_t u = smpp_tlv_uint(pdu, SMPP_TLV_USER_MESSAGE_REFERENCE);
    *has_umr = u >= 0;
    *umr = *has_umr ? (uint16_t)u : 0;
}

/* A screen's text in the dialect's encoding (UCS-2, or GSM 7-bit packed
 * or not) into buf->sm, n octets; *air: what it takes on the air (the
 * SMSC packs unpacked GSM).  The smpp_text status; *off as there. */
static int encode_screen(const struct ussd_dialect *d, bool ucs2, const uint8_t *utf8,
                         size_t len, struct ussd_reply_buf *buf,
                         enum smpp_text_enc *enc, size_t *n, size_t *off, size_t *air)
{
    *enc = ucs2 ? SMPP_ENC_UCS2 : d->gsm_packed ? SMPP_ENC_GSM7_PACKED : SMPP_ENC_GSM7;
    *n = 0;
    int rc = smpp_text_encode(*enc, utf8, len, buf->sm, sizeof buf->sm, n, off);
    *air = *enc == SMPP_ENC_GSM7 ? (*n * 7 + 7) / 8 : *n;
    return rc;
}

static bool is_abort_op(const struct ussd_dialect *d, uint8_t op)
{
    for (unsigned i = 0; i < d->n_abort_ops; i++)
        if (d->abort_ops[i] == op)
            return true;
    return false;
}

int ussd_classify(const struct ussd_dialect *d, const struct smpp_pdu *pdu,
                  struct ussd_in *in, char *err, size_t errlen)
{
    in->kind = USSD_NOT;
    in->op = 0xFF;
    in->text_len = 0;
    in->key[0] = '\0';
    int64_t op = smpp_tlv_uint(pdu, SMPP_TLV_USSD_SERVICE_OP);
    if (op < 0)
        return 0;
    in->op = (uint8_t)op;
    read_session(pdu, &in->has_its, &in->its_session, &in->its_seq, &in->its_end,
                 &in->has_umr, &in->umr);

    if (in->op == d->op_start && !in->its_end)
        in->kind = USSD_START;
    else if (in->op == d->op_continue && !(in->its_end && d->end_bit_in_aborts))
        in->kind = USSD_CONTINUE;
    else if (is_abort_op(d, in->op) || (in->its_end && d->end_bit_in_aborts))
        in->kind = USSD_ABORT;
    else
        in->kind = USSD_OTHER;

    if (!pdu->source_addr || !*pdu->source_addr ||
        copy_addr(in->msisdn, sizeof in->msisdn, pdu->source_addr) != 0) {
        snprintf(err, errlen, "USSD without a usable source_addr");
        return -1;
    }
    if (copy_addr(in->service, sizeof in->service, pdu->destination_addr) != 0) {
        snprintf(err, errlen, "USSD destination_addr too long");
        return -1;
    }

    /* Correlation key: the dialect's choice, falling back along
     * its -> umr -> msisdn when the PDU lacks the field. */
    enum ussd_key_src k = d->key;
    if (k == USSD_KEY_ITS && !in->has_its)
        k = in->has_umr ? USSD_KEY_UMR : USSD_KEY_MSISDN;
    if (k == USSD_KEY_UMR && !in->has_umr)
        k = USSD_KEY_MSISDN;
    if (k == USSD_KEY_ITS)
        snprintf(in->key, sizeof in->key, "%s/%u", in->msisdn, in->its_session);
    else if (k == USSD_KEY_UMR)
        snprintf(in->key, sizeof in->key, "%s/u%u", in->msisdn, in->umr);
    else
        snprintf(in->key, sizeof in->key, "%s", in->msisdn);

    if (in->kind == USSD_ABORT || in->kind == USSD_OTHER)
        return 0;

    size_t len;
    const uint8_t *data = smpp_pdu_body(pdu, &len);
    unsigned flags = d->gsm_packed ? SMPP_TEXT_DCS_GSM7_PACKED : 0;
    if (len > 0) {
        int rc = smpp_text_decode_dcs(pdu->data_coding, flags, data, len,
                                      in->text, sizeof in->text, &in->text_len,
                                      NULL);
        if (rc != SMPP_TEXT_OK) {
            snprintf(err, errlen, "USSD text in data_coding 0x%02x: %s",
                     pdu->data_coding, smpp_text_strerror(rc));
            return -1;
        }
    }
    /* A start without text: the dialled string is the service code. */
    if (in->kind == USSD_START && in->text_len == 0) {
        int n;
        if (in->service[0] == '*')
            n = snprintf((char *)in->text, sizeof in->text, "%s", in->service);
        else
            n = snprintf((char *)in->text, sizeof in->text, "*%s#", in->service);
        in->text_len = n > 0 ? (size_t)n : 0;
    }
    return 0;
}

static int fill_common(const struct ussd_dialect *d, const char *msisdn,
                       const char *service, const uint8_t *utf8, size_t len,
                       bool enc_ucs2, struct smpp_pdu *pdu,
                       struct ussd_reply_buf *buf, char *err, size_t errlen)
{
    enum smpp_text_enc enc;
    size_t n, off = 0, air;
    int rc = encode_screen(d, enc_ucs2, utf8, len, buf, &enc, &n, &off, &air);
    if (rc != SMPP_TEXT_OK) {
        snprintf(err, errlen, "screen text does not encode as %s: %s (byte %zu)",
                 smpp_text_enc_name(enc), smpp_text_strerror(rc), off);
        return -1;
    }
    /* The air budget is 160 octets; unpacked GSM carries one septet per
     * octet here and is packed by the SMSC, so 182 septets are the limit. */
    if (air > SMPP_TEXT_USSD_OCTETS) {
        snprintf(err, errlen, "screen text needs %zu octets, more than one USSD screen (160)", air);
        return -1;
    }
    smpp_pdu_reset(pdu, SMPP_SUBMIT_SM, 0, 0);
    pdu->service_type = d->service_type_ussd ? "USSD" : NULL;
    pdu->source_addr_ton = 0;
    pdu->source_addr_npi = 1;
    pdu->source_addr = service;
    pdu->dest_addr_ton = 1;
    pdu->dest_addr_npi = 1;
    pdu->destination_addr = msisdn;
    pdu->data_coding = enc_ucs2 ? d->dcs_ucs2 : d->dcs_gsm;
    pdu->sm_length = (uint8_t)n;
    pdu->short_message = buf->sm;
    return 0;
}

int ussd_reply(const struct ussd_dialect *d, const struct ussd_in *in,
               const uint8_t *utf8, size_t len, bool enc_ucs2, bool end,
               struct smpp_pdu *pdu, struct ussd_reply_buf *buf,
               char *err, size_t errlen)
{
    if (fill_common(d, in->msisdn, in->service, utf8, len, enc_ucs2, pdu, buf,
                    err, errlen) != 0)
        return -1;
    buf->op = end && d->end_by_op ? d->op_end : d->op_show;
    smpp_pdu_set_u8(pdu, SMPP_TLV_USSD_SERVICE_OP, buf->op);
    if (d->echo_its && in->has_its) {
        buf->its[0] = in->its_session;
        buf->its[1] = (uint8_t)((in->its_seq & 0x7F) << 1 |
                                (end && d->end_bit_out ? 1 : 0));
        smpp_pdu_set_bytes(pdu, SMPP_TLV_ITS_SESSION_INFO, buf->its, 2);
    }
    if (d->echo_umr && in->has_umr) {
        buf->umr = in->umr;
        smpp_pdu_set_u16(pdu, SMPP_TLV_USER_MESSAGE_REFERENCE, buf->umr);
    }
    return 0;
}

int ussd_notice(const struct ussd_dialect *d, const char *msisdn,
                const char *service, const uint8_t *utf8, size_t len,
                bool enc_ucs2, struct smpp_pdu *pdu,
                struct ussd_reply_buf *buf, char *err, size_t errlen)
{
    if (fill_common(d, msisdn, service, utf8, len, enc_ucs2, pdu, buf, err,
                    errlen) != 0)
        return -1;
    buf->op = d->op_notice;
    smpp_pdu_set_u8(pdu, SMPP_TLV_USSD_SERVICE_OP, buf->op);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The network side                                                    */

uint8_t ussd_network_abort_op(const struct ussd_dialect *d, bool by_op)
{
    if (d->end_bit_in_aborts && d->key == USSD_KEY_ITS && !by_op)
        return d->op_continue;
    return d->n_abort_ops > 0 ? d->abort_ops[0] : 0x81;
}

int ussd_network_deliver(const struct ussd_dialect *d, enum ussd_net_kind kind,
                         bool by_op, const char *msisdn, const char *service,
                         const struct ussd_net_session *ses,
                         const uint8_t *utf8, size_t len,
                         struct smpp_pdu *pdu, struct ussd_reply_buf *buf,
                         char *err, size_t errlen)
{
    struct smpp_text_choice ch;
    size_t off = 0, n, air;
    if (!utf8)
        utf8 = (const uint8_t *)"";
    if (smpp_text_choose(utf8, len, 0, &ch, &off) != SMPP_TEXT_OK) {
        snprintf(err, errlen, "text is not UTF-8 (byte %zu)", off);
        return -1;
    }
    bool ucs2 = ch.enc != SMPP_ENC_GSM7;
    enum smpp_text_enc enc;
    int rc = encode_screen(d, ucs2, utf8, len, buf, &enc, &n, &off, &air);
    if (rc != SMPP_TEXT_OK) {
        snprintf(err, errlen, "text does not encode as %s: %s",
                 smpp_text_enc_name(enc), smpp_text_strerror(rc));
        return -1;
    }
    if (air > SMPP_TEXT_USSD_OCTETS || n > 255) {
        snprintf(err, errlen, "text does not fit one USSD screen");
        return -1;
    }
    smpp_pdu_reset(pdu, SMPP_DELIVER_SM, 0, 0);
    pdu->service_type = d->service_type_ussd ? "USSD" : NULL;
    pdu->source_addr_ton = 1;
    pdu->source_addr_npi = 1;
    pdu->source_addr = msisdn;
    pdu->destination_addr = service;
    pdu->data_coding = ucs2 ? d->dcs_ucs2 : d->dcs_gsm;
    pdu->sm_length = (uint8_t)n;
    pdu->short_message = buf->sm;

    bool end = false;
    switch (kind) {
    case USSD_NET_DIAL: buf->op = d->op_start; break;
    case USSD_NET_ANSWER: buf->op = d->op_continue; break;
    case USSD_NET_ABORT:
        buf->op = ussd_network_abort_op(d, by_op);
        end = true;
        break;
    }
    smpp_pdu_set_u8(pdu, SMPP_TLV_USSD_SERVICE_OP, buf->op);
    if (d->key == USSD_KEY_ITS) {
        buf->its[0] = ses->session;
        buf->its[1] = (uint8_t)((ses->seq & 0x7F) << 1 | (end ? 1 : 0));
        smpp_pdu_set_bytes(pdu, SMPP_TLV_ITS_SESSION_INFO, buf->its, 2);
    } else if (d->key == USSD_KEY_UMR) {
        buf->umr = ses->umr;
        smpp_pdu_set_u16(pdu, SMPP_TLV_USER_MESSAGE_REFERENCE, buf->umr);
    }
    return 0;
}

const char *ussd_screen_name(enum ussd_screen k)
{
    switch (k) {
    case USSD_SCREEN_SHOW: return "continue";
    case USSD_SCREEN_END: return "end";
    case USSD_SCREEN_NOTICE: return "notice";
    }
    return "?";
}

__attribute__((format(printf, 2, 3)))
static void mismatch(struct ussd_net_in *in, const char *fmt, ...)
{
    if (in->n_mismatch++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(in->mismatch, sizeof in->mismatch, fmt, ap);
        va_end(ap);
    }
}

void ussd_network_read(const struct ussd_dialect *d, const struct smpp_pdu *pdu,
                       const struct ussd_net_session *ses,
                       struct ussd_net_in *in)
{
    in->kind = USSD_SCREEN_SHOW;
    in->mismatch[0] = '\0';
    in->n_mismatch = 0;
    in->text_len = 0;
    in->dcs = pdu->data_coding;
    int64_t op = smpp_tlv_uint(pdu, SMPP_TLV_USSD_SERVICE_OP);
    in->op = op < 0 ? 0xFF : (uint8_t)op;
    read_session(pdu, &in->has_its, &in->its_session, &in->its_seq, &in->its_end,
                 &in->has_umr, &in->umr);

    if (op < 0)
        mismatch(in, "no ussd_service_op");
    if (in->op == d->op_notice && !in->its_end)
        in->kind = USSD_SCREEN_NOTICE;
    else if (in->op == d->op_end || in->op == SMPP_USSD_PSSD_RESP || in->its_end)
        in->kind = USSD_SCREEN_END;
    else if (op >= 0 && in->op != d->op_show)
        mismatch(in, "op %u is none of this dialect's (show %u, end %u, notice %u)",
                 in->op, d->op_show, d->op_end, d->op_notice);

    if (in->kind == USSD_SCREEN_END) {
        uint8_t want = d->end_by_op ? d->op_end : d->op_show;
        if (in->op != want)
            mismatch(in, "final screen with op %u; %s ends with op %u%s",
                     in->op, d->name, want, d->end_bit_out ? " and the end bit" : "");
        else if (d->end_bit_out && d->echo_its && ses && !in->its_end)
            mismatch(in, "final screen without the its_session_info end bit");
        else if (!d->end_by_op && !in->its_end)
            mismatch(in, "final screen needs the end bit under %s", d->name);
    }

    if (ses) {
        if (d->key == USSD_KEY_ITS) {
            if (!in->has_its)
                mismatch(in, "no its_session_info echoed (session %u)", ses->session);
            else if (in->its_session != ses->session)
                mismatch(in, "its_session_info session %u, dialog has %u",
                         in->its_session, ses->session);
        } else if (d->key == USSD_KEY_UMR) {
            if (!in->has_umr)
                mismatch(in, "no user_message_reference echoed (umr %u)", ses->umr);
            else if (in->umr != ses->umr)
                mismatch(in, "user_message_reference %u, dialog has %u",
                         in->umr, ses->umr);
        }
        if (d->key != USSD_KEY_ITS && in->has_its && in->kind != USSD_SCREEN_NOTICE)
            mismatch(in, "its_session_info on a %s link (it never sent one)", d->name);
    }
    if (in->dcs != d->dcs_gsm && in->dcs != d->dcs_ucs2)
        mismatch(in, "data_coding 0x%02x; %s uses 0x%02x / 0x%02x", in->dcs,
                 d->name, d->dcs_gsm, d->dcs_ucs2);

    size_t len;
    const uint8_t *data = smpp_pdu_body(pdu, &len);
    if (len == 0)
        return;
    unsigned flags = d->gsm_packed ? SMPP_TEXT_DCS_GSM7_PACKED : 0;
    int rc = smpp_text_decode_dcs(in->dcs, flags, data, len, in->text,
                                  sizeof in->text, &in->text_len, NULL);
    if (rc != SMPP_TEXT_OK) {
        mismatch(in, "text in data_coding 0x%02x: %s", in->dcs,
                 smpp_text_strerror(rc));
        in->text_len = 0;
        rc = smpp_text_decode_dcs(in->dcs, flags | SMPP_TEXT_DCS_HEX_FALLBACK,
                                  data, len, in->text, sizeof in->text,
                                  &in->text_len, NULL);
        if (rc != SMPP_TEXT_OK)
            in->text_len = 0;
    }
}
