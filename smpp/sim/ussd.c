/*
 * smpp/sim/ussd.c — the simulator's USSD network: dialogs, their records,
 * the dialect's way both ways (see ussd.h).
 *
 * Owns: struct sim_dialog (one open or ended dialog, its timer and its
 * record) and the ring of finished records.  May call: smpp/pdu,
 * smpp/dialect, smpp/sim/smsc.c (smsc_send_ussd, smsc_emit),
 * smpp/sim/concat, smpp/sim/jsonw, smpp/sim/log, libevent, libc.
 */
#include "smpp/sim/ussd.h"

#include "smpp/dialect.h"
#include "smpp/pdu.h"
#include "smpp/sim/concat.h"
#include "smpp/sim/jsonw.h"
#include "smpp/sim/log.h"
#include "smpp/sim/loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define REC_STEPS     24       /* PDUs remembered per direction per dialog */
#define REC_RING      64       /* finished dialog records kept */

enum dlg_state { DLG_WAIT_APP = 0, DLG_WAIT_USER, DLG_DEAD };

/* One USSD PDU of a dialog, as the record keeps it. */
struct ussd_step {
    uint8_t op, dcs;
    uint8_t end;               /* its_session_info end bit */
    int16_t its;               /* its session, -1 = no its_session_info */
    int32_t umr;               /* user_message_reference, -1 = none */
};

/* What happened in one dialog, both directions. */
struct ussd_rec {
    char msisdn[22], service[22];
    const char *outcome;       /* "open", "end", "abort", "timeout", "failed" */
    uint8_t session;
    uint16_t umr;
    unsigned n_out, n_in;      /* PDUs sent / received (steps keep REC_STEPS) */
    struct ussd_step out[REC_STEPS], in[REC_STEPS];
    unsigned mismatches;
    char mismatch[160];        /* the first one */
};

struct sim_dialog {
    LIST_ENTRY(sim_dialog) link;   /* hash chain while open */
    struct sim_dead gone;          /* in u->grave once ended */
    struct sim_ussd *u;
    char msisdn[22];
    char service[22];
    uint8_t session;
    uint8_t seq;               /* 7 bits, its_session_info octet 2 bits 7..1 */
    uint16_t umr;              /* user_message_reference (umr dialect) */
    enum dlg_state st;
    unsigned conn_id;          /* connection used last (preferred) */
    struct event *timer;
    struct ussd_rec rec;
};

/* ------------------------------------------------------------------ */
/* The table of dialogs                                                */

int sim_ussd_init(struct sim_ussd *u, struct smsc *s, struct event_base *base,
                  const struct smsc_config *cfg,
                  const struct ussd_dialect *dialect, uint64_t seed)
{
    memset(u, 0, sizeof *u);
    u->s = s;
    u->base = base;
    u->cfg = cfg;
    u->dialect = dialect;
    for (unsigned i = 0; i < SIM_DIALOG_BUCKETS; i++)
        LIST_INIT(&u->dialogs[i]);
    u->next_session = (uint8_t)(seed & 0xFF);
    u->next_umr = (uint16_t)(((seed >> 8) & 0x7FFF) + 1);
    u->recs = calloc(REC_RING, sizeof *u->recs);
    return u->recs && sim_grave_init(&u->grave, base) == 0 ? 0 : -1;
}

static void dialog_free_now(struct sim_dialog *d)
{
    sim_event_free(&d->timer);
    free(d);
}

static void dialog_bury(struct sim_dead *x)
{
    dialog_free_now(SIM_OWNER(x, struct sim_dialog, gone));
}

void sim_ussd_clear(struct sim_ussd *u)
{
    struct sim_dialog *d;
    for (unsigned i = 0; i < SIM_DIALOG_BUCKETS; i++)
        while ((d = LIST_FIRST(&u->dialogs[i]))) {
            LIST_REMOVE(d, link);
            dialog_free_now(d);
        }
    sim_grave_close(&u->grave);
    free(u->recs);
    u->recs = NULL;
}

static unsigned dlg_hash(const char *msisdn)
{
    unsigned h = 5381;
    for (; *msisdn; msisdn++)
        h = h * 33u + (unsigned char)*msisdn;
    return h % SIM_DIALOG_BUCKETS;
}

static struct sim_dialog *dialog_find(const struct sim_ussd *u, const char *msisdn)
{
    struct sim_dialog *d;
    LIST_FOREACH(d, &u->dialogs[dlg_hash(msisdn)], link)
        if (strcmp(d->msisdn, msisdn) == 0)
            return d;
    return NULL;
}

int sim_ussd_session(const struct sim_ussd *u, const char *msisdn)
{
    const struct sim_dialog *d = dialog_find(u, msisdn);
    return d ? d->session : -1;
}

/* Close d with outcome ("end", "abort", "timeout", "failed"); its record
 * goes to the ring. */
static void dialog_end(struct sim_ussd *u, struct sim_dialog *d, const char *outcome)
{
    if (d->st == DLG_DEAD)
        return;
    d->rec.outcome = outcome;
    if (u->recs) {
        u->recs[u->rec_next % REC_RING] = d->rec;
        u->rec_next++;
    }
    LIST_REMOVE(d, link);
    d->st = DLG_DEAD;
    event_del(d->timer);
    sim_grave_put(&u->grave, &d->gone, dialog_bury);
    u->n_dialogs--;
}

static void dialog_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sim_dialog *d = arg;
    struct sim_ussd *u = d->u;
    sim_log(u->cfg, SIM_LOG_INFO, "ussd", "%s: dialog %u timed out after %u s",
            d->msisdn, d->session, u->cfg->ussd_timeout_s);
    struct smsc_event ev = { .kind = SMSC_EV_USSD_TIMEOUT, .to = d->msisdn,
                             .from = d->service, .text = "" };
    dialog_end(u, d, "timeout");
    smsc_emit(u->s, &ev);
}

static void dialog_touch(struct sim_ussd *u, struct sim_dialog *d)
{
    struct timeval tv = { (time_t)u->cfg->ussd_timeout_s, 0 };
    evtimer_add(d->timer, &tv);
}

static struct sim_dialog *dialog_new(struct sim_ussd *u, const char *msisdn,
                                     const char *service)
{
    struct sim_dialog *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->u = u;
    snprintf(d->msisdn, sizeof d->msisdn, "%s", msisdn);
    snprintf(d->service, sizeof d->service, "%s", service);
    d->timer = evtimer_new(u->base, dialog_timeout_cb, d);
    if (!d->timer) {
        free(d);
        return NULL;
    }
    d->session = u->next_session++;
    d->umr = u->next_umr++;
    if (u->next_umr == 0)
        u->next_umr = 1;
    memcpy(d->rec.msisdn, d->msisdn, sizeof d->rec.msisdn);
    memcpy(d->rec.service, d->service, sizeof d->rec.service);
    d->rec.outcome = "open";
    d->rec.session = d->session;
    d->rec.umr = d->umr;
    LIST_INSERT_HEAD(&u->dialogs[dlg_hash(d->msisdn)], d, link);
    u->n_dialogs++;
    return d;
}

/* Remember one USSD PDU of a dialog in its record. */
static void rec_step(struct ussd_step *steps, unsigned *n, const struct smpp_pdu *p)
{
    if (*n < REC_STEPS) {
        struct ussd_step *st = &steps[*n];
        int64_t op = smpp_tlv_uint(p, SMPP_TLV_USSD_SERVICE_OP);
        const struct smpp_tlv *its = smpp_tlv_find(p, SMPP_TLV_ITS_SESSION_INFO);
        int64_t umr = smpp_tlv_uint(p, SMPP_TLV_USER_MESSAGE_REFERENCE);
        st->op = op < 0 ? 0xFF : (uint8_t)op;
        st->dcs = p->data_coding;
        st->its = its && its->len == 2 ? its->val[0] : -1;
        st->end = its && its->len == 2 ? (its->val[1] & 1) : 0;
        st->umr = umr < 0 ? -1 : (int32_t)umr;
    }
    (*n)++;
}

/* ------------------------------------------------------------------ */
/* The subscriber's side: dial, answer, abort                          */

/* deliver_sm for USSD from the subscriber, in the dialect's way. */
static int ussd_deliver(struct sim_ussd *u, struct sim_dialog *d,
                        enum ussd_net_kind kind, const char *text, char *err,
                        size_t errlen)
{
    struct smpp_pdu p;
    struct ussd_reply_buf buf;
    struct ussd_net_session ses = { d->session, d->seq, d->umr };
    if (ussd_network_deliver(u->dialect, kind,
                             u->cfg->ussd_abort == SMSC_ABORT_USSREL,
                             d->msisdn, d->service, &ses,
                             (const uint8_t *)text, strlen(text), &p, &buf,
                             err, errlen) != 0)
        return -1;
    unsigned conn_id = 0;
    const char *tag = NULL;
    if (smsc_send_ussd(u->s, d->conn_id, &p, &conn_id, &tag, err, errlen) != 0)
        return -1;
    rec_step(d->rec.out, &d->rec.n_out, &p);
    d->conn_id = conn_id;
    u->n_out++;
    char esc[512];
    smsc_escape_line(text, esc, sizeof esc);
    sim_log(u->cfg, SIM_LOG_INFO, tag,
            "ussd <- %s op=%u session=%u seq=%u umr=%u dcs=0x%02x%s \"%s\"",
            d->msisdn, buf.op, d->session, d->seq, d->umr, p.data_coding,
            kind == USSD_NET_ABORT ? " abort" : "", esc);
    return 0;
}

/* The service code a new dialog is for: `service` itself (digits, * and
 * #), or with "-" / none, the code of the dial string text.  0, or -1. */
static int dial_code(const char *service, const char *text, char *svc,
                     size_t cap, char *err, size_t errlen)
{
    if (!service || !*service || strcmp(service, "-") == 0) {
        if (smsc_dial_service(text, svc, cap) != 0) {
            snprintf(err, errlen, "no dialog open and no service code");
            return -1;
        }
        return 0;
    }
    if (strspn(service, "0123456789*#") != strlen(service) ||
        strlen(service) > 20) {
        snprintf(err, errlen, "bad service code");
        return -1;
    }
    snprintf(svc, cap, "%s", service);
    return 0;
}

int sim_ussd_input(struct sim_ussd *u, const char *msisdn, const char *service,
                   const char *text, char *err, size_t errlen)
{
    if (!msisdn || !*msisdn || strlen(msisdn) > 20) {
        snprintf(err, errlen, "bad msisdn");
        return -1;
    }
    if (!text)
        text = "";
    struct sim_dialog *d = dialog_find(u, msisdn);
    if (d && d->st == DLG_WAIT_APP) {
        snprintf(err, errlen, "dialog waits for the gateway");
        return -1;
    }
    if (d) {
        d->seq = (uint8_t)((d->seq + 1) & 0x7F);
        if (ussd_deliver(u, d, USSD_NET_ANSWER, text, err, errlen) != 0) {
            d->seq = (uint8_t)((d->seq - 1) & 0x7F);
            return -1;
        }
        d->st = DLG_WAIT_APP;
        dialog_touch(u, d);
        return 0;
    }
    char svc[22];
    if (dial_code(service, text, svc, sizeof svc, err, errlen) != 0)
        return -1;
    d = dialog_new(u, msisdn, svc);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ussd_deliver(u, d, USSD_NET_DIAL, text, err, errlen) != 0) {
        dialog_end(u, d, "failed");
        return -1;
    }
    d->st = DLG_WAIT_APP;
    dialog_touch(u, d);
    return 0;
}

int sim_ussd_abort(struct sim_ussd *u, const char *msisdn, char *err,
                   size_t errlen)
{
    struct sim_dialog *d = dialog_find(u, msisdn);
    if (!d) {
        snprintf(err, errlen, "no dialog");
        return -1;
    }
    d->seq = (uint8_t)((d->seq + 1) & 0x7F);
    int rc = ussd_deliver(u, d, USSD_NET_ABORT, "", err, errlen);
    dialog_end(u, d, "abort");
    return rc;
}

/* ------------------------------------------------------------------ */
/* The gateway's side: its USSD submit_sm                              */

/* The dialog p belongs to: d, or, when none is open and p continues, a
 * network-initiated one (USSR: the gateway opens the dialog). */
static struct sim_dialog *mt_dialog(struct sim_ussd *u, struct sim_dialog *d,
                                    const struct smpp_pdu *p,
                                    const struct ussd_net_in *in,
                                    enum smsc_ussd_kind kind)
{
    const char *msisdn = p->destination_addr ? p->destination_addr : "";
    if (!d && kind == SMSC_USSD_CONTINUE) {
        d = dialog_new(u, msisdn, p->source_addr ? p->source_addr : "");
        if (d && in->has_its)
            d->session = d->rec.session = in->its_session;
        if (d && in->has_umr)
            d->umr = d->rec.umr = in->umr;
    }
    if (d && kind != SMSC_USSD_NOTICE) {
        rec_step(d->rec.in, &d->rec.n_in, p);
        if (in->n_mismatch) {
            if (d->rec.mismatches == 0)
                snprintf(d->rec.mismatch, sizeof d->rec.mismatch, "%s",
                         in->mismatch);
            d->rec.mismatches += in->n_mismatch;
        }
    }
    return d;
}

void sim_ussd_mt(struct sim_ussd *u, const struct smpp_pdu *p,
                 unsigned conn_id, const char *tag, const char *system_id)
{
    const char *msisdn = p->destination_addr ? p->destination_addr : "";
    struct sim_dialog *d = dialog_find(u, msisdn);
    struct ussd_net_session ses = { 0, 0, 0 };
    if (d) {
        ses.session = d->session;
        ses.seq = d->seq;
        ses.umr = d->umr;
    }
    struct ussd_net_in in;
    ussd_network_read(u->dialect, p, d ? &ses : NULL, &in);
    char text[SMSC_TEXT_MAX];
    if (in.dcs == u->dialect->dcs_gsm || in.dcs == u->dialect->dcs_ucs2) {
        size_t n = in.text_len < sizeof text - 1 ? in.text_len : sizeof text - 1;
        memcpy(text, in.text, n);
        text[n] = '\0';
    } else {
        /* not this dialect's data_coding: decode leniently anyway */
        size_t len;
        const uint8_t *body = smpp_pdu_body(p, &len);
        sim_sm_to_utf8(p->data_coding, body, len, text, sizeof text);
    }
    u->n_in++;

    enum smsc_ussd_kind kind = in.kind == USSD_SCREEN_END ? SMSC_USSD_END
                             : in.kind == USSD_SCREEN_NOTICE ? SMSC_USSD_NOTICE
                             : SMSC_USSD_CONTINUE;
    if (in.n_mismatch) {
        u->n_mismatches += in.n_mismatch;
        sim_log(u->cfg, SIM_LOG_INFO, tag, "ussd -> %s: dialect %s mismatch: %s%s",
                msisdn, u->dialect->name, in.mismatch,
                in.n_mismatch > 1 ? " (and more)" : "");
    }
    if (d && d->st != DLG_WAIT_APP && kind != SMSC_USSD_NOTICE)
        sim_log(u->cfg, SIM_LOG_INFO, tag, "ussd -> %s: second answer without input",
                msisdn);
    d = mt_dialog(u, d, p, &in, kind);
    if (d) {
        d->conn_id = conn_id;
        if (kind == SMSC_USSD_END) {
            dialog_end(u, d, "end");
        } else if (kind == SMSC_USSD_CONTINUE) {
            d->st = DLG_WAIT_USER;
            dialog_touch(u, d);
        }
    }
    static const char *const names[] = { "continue", "end", "notice" };
    char esc[SMSC_TEXT_MAX * 2];
    smsc_escape_line(text, esc, sizeof esc);
    sim_log(u->cfg, SIM_LOG_INFO, tag, "ussd -> %s op=%u%s dcs=0x%02x %s: \"%s\"",
            msisdn, in.op, in.its_end ? " end-bit" : "", in.dcs, names[kind], esc);
    struct smsc_event ev = { .kind = SMSC_EV_USSD, .system_id = system_id,
                             .from = p->source_addr ? p->source_addr : "",
                             .to = msisdn, .text = text, .ussd = kind };
    smsc_emit(u->s, &ev);
}

/* ------------------------------------------------------------------ */
/* Records                                                             */

/* v, or null when the PDU had none (v < 0). */
static void int_or_null(struct sim_json *j, const char *key, long long v)
{
    if (v < 0)
        sim_json_null(j, key);
    else
        sim_json_int(j, key, v);
}

static void steps_json(struct sim_json *j, const char *key,
                       const struct ussd_step *st, unsigned n)
{
    sim_json_arr(j, key);
    for (unsigned i = 0; i < n && i < REC_STEPS; i++) {
        sim_json_obj(j, NULL);
        sim_json_int(j, "op", st[i].op);
        sim_json_int(j, "dcs", st[i].dcs);
        int_or_null(j, "its", st[i].its);
        sim_json_bool(j, "end", st[i].end);
        int_or_null(j, "umr", st[i].umr);
        sim_json_end(j);
    }
    sim_json_end(j);
}

static const struct ussd_rec *rec_latest(const struct sim_ussd *u, const char *msisdn)
{
    const struct sim_dialog *d = dialog_find(u, msisdn);
    if (d)
        return &d->rec;
    for (unsigned i = 0; u->recs && i < REC_RING && i < u->rec_next; i++) {
        const struct ussd_rec *r = &u->recs[(u->rec_next - 1 - i) % REC_RING];
        if (strcmp(r->msisdn, msisdn) == 0)
            return r;
    }
    return NULL;
}

char *sim_ussd_log_json(const struct sim_ussd *u, const char *msisdn)
{
    const struct ussd_rec *r = msisdn ? rec_latest(u, msisdn) : NULL;
    if (!r)
        return NULL;
    struct sim_json j;
    sim_json_init(&j);
    sim_json_obj(&j, NULL);
    sim_json_str(&j, "msisdn", r->msisdn);
    sim_json_str(&j, "service", r->service);
    sim_json_str(&j, "dialect", u->dialect->name);
    sim_json_str(&j, "outcome", r->outcome ? r->outcome : "open");
    sim_json_int(&j, "session", r->session);
    sim_json_int(&j, "umr", r->umr);
    steps_json(&j, "sent", r->out, r->n_out);
    steps_json(&j, "received", r->in, r->n_in);
    sim_json_int(&j, "n_sent", r->n_out);
    sim_json_int(&j, "n_received", r->n_in);
    sim_json_int(&j, "mismatches", r->mismatches);
    sim_json_str(&j, "mismatch", r->mismatch);
    sim_json_end(&j);
    return sim_json_done(&j);
}
