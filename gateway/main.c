/*
 * gateway/main.c — kyzmatd: the one event_base, the links, signals, reload.
 *
 * What it does: parses the command line and the config (refusing to start
 * on any error), opens the log, creates one esme per smsc entry on a single
 * libevent event_base, and runs the loop.  MO SMS are logged (text decoded
 * to UTF-8, numbers masked); PING is answered on its link, the citizens'
 * keywords (STATUS, STOP, START, HELP: gateway/keywords) through the
 * outbox; delivery receipts go to the outbox; USSD to gateway/ussd.
 *
 * Signals arrive through libevent (evsignal), so handlers run as ordinary
 * loop callbacks:
 *   SIGTERM, SIGINT  stop every link (unbind), leave the loop when all are
 *                    CLOSED or 3 s have passed; exit status 0.  A second
 *                    signal leaves at once.
 *   SIGHUP           reopen the log and reload the config file.  A file with
 *                    errors is refused (errors logged, old config kept).  A
 *                    good one is applied: smsc entries added get a new link,
 *                    removed ones are stopped and freed, changed ones are
 *                    restarted, unchanged ones are not touched.
 *
 * Ownership: struct daemon owns the config, the links and the events; each
 * link owns its esme.  A link being retired (removed or changed on reload)
 * is stopped and freed from a timer of its own, never from inside the
 * esme's callback: when it reports CLOSED, or after a 3 s grace period.
 * May call: gateway/config, gateway/log, gateway/keywords, smpp/esme, smpp/text, libevent,
 * libc.  No exit() anywhere: main returns.
 */
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/mt.h"
#include "smpp/dialect.h"
#include "gateway/dialogs.h"
#include "gateway/fetch.h"
#include "gateway/keywords.h"
#include "gateway/ussd.h"
#include "gateway/api.h"
#include "gateway/outbox.h"
#include "gateway/reminders.h"
#include "gateway/store.h"
#include "menus/load.h"
#include "menus/menu.h"
#include "smpp/esme.h"
#include "smpp/pdu.h"
#include "smpp/text.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef KYZMAT_VERSION
#define KYZMAT_VERSION "0.1.0"
#endif

#define STOP_GRACE_MS 3000

struct daemon;

struct link {
    struct daemon *d;
    struct esme *e;
    char *name;                 /* copy: matches config entries on reload */
    int retiring;               /* on d->retiring, waiting to be freed */
    int restart;                /* retiring for a config change: start the
                                 * new entry of that name once it is gone */
    struct event *reap;         /* retiring: frees the link (0 s or grace) */
    /* read per USSD PDU, so kept here rather than looked up each time; an
     * entry whose settings change on reload gets a new link */
    const struct ussd_dialect *dialect;
    unsigned session_timeout_ms;
    struct link *next;
};

struct daemon {
    struct event_base *base;
    struct config *cfg;
    const char *config_path;    /* NULL: embedded defaults */
    int verbose;
    struct link *links;         /* active links, one per cfg->smsc entry */
    struct link *retiring;      /* stopped on reload, not yet freed */
    struct event *ev_term, *ev_int, *ev_hup, *ev_deadline;
    struct menu_set *menus;     /* the menu set in use (one reference) */
    struct dialogs *store;      /* USSD dialogs: Redis or in process */
    struct fetch *fetch;        /* back-end and app calls */
    struct ussd_service *ussd;
    struct store *db;           /* SQLite: outbox, applications, bookings */
    struct api *api;            /* the agencies' HTTP API */
    struct outbox *outbox;      /* drains the SMS outbox onto the links */
    struct reminders *reminders;/* the day-before booking reminder SMS */
    int links_started;          /* links bind only once the dialog store
                                 * is up (or 3 s have passed), so the first
                                 * dials are not told "unavailable" */
    struct event *ev_gate;
    int stopping;               /* SIGTERM/SIGINT seen: links unbinding */
    int exiting;                /* loopexit requested */
};

/* ---- links ------------------------------------------------------------- */

static void link_free(struct link *l)
{
    if (!l)
        return;
    if (l->e)
        esme_free(l->e);
    if (l->reap)
        event_free(l->reap);
    free(l->name);
    free(l);
}

static void unlink_from(struct link **head, struct link *l)
{
    for (struct link **pp = head; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            l->next = NULL;
            return;
        }
    }
}

static int count_open(const struct link *l)
{
    int n = 0;
    for (; l; l = l->next)
        if (l->e && esme_state(l->e) != ESME_CLOSED)
            n++;
    return n;
}

static void check_all_closed(struct daemon *d)
{
    if (d->stopping && !d->exiting && count_open(d->links) == 0 &&
        count_open(d->retiring) == 0) {
        d->exiting = 1;
        log_msg(KLOG_INFO, NULL, "all links closed; exiting");
        event_base_loopexit(d->base, NULL);
    }
}

static void start_entry(struct daemon *d, const char *name);

/* Timer callback: a retiring link is CLOSED (or its grace ran out).  We are
 * not inside any esme callback here, so esme_free() frees at once. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct link *l = arg;
    struct daemon *d = l->d;
    if (l->e && esme_state(l->e) != ESME_CLOSED)
        log_msg(KLOG_WARN, l->name, "not closed after %d ms; dropping the link",
                STOP_GRACE_MS);
    unlink_from(&d->retiring, l);
    int restart = l->restart && !d->stopping;
    char *name = l->name;
    l->name = NULL;
    link_free(l);
    if (restart)
        start_entry(d, name);
    free(name);
    check_all_closed(d);
}

static void on_state(struct esme *e, enum esme_state st, void *ud)
{
    struct link *l = ud;
    (void)e;
    /* the esme logs its own transitions (connected, bound as ..., closed) */
    log_msg(KLOG_DEBUG, l->name, "link state %s", esme_state_name(st));
    if (st != ESME_CLOSED)
        return;
    if (l->retiring) {
        /* free it from the loop, not from inside the esme's callback */
        struct timeval now = { 0, 0 };
        evtimer_add(l->reap, &now);
    }
    check_all_closed(l->d);
}

/* Copy up to `cap` printable octets of an "id:... stat:..." receipt field. */
static void receipt_field(const uint8_t *body, size_t len, const char *tag,
                          char *out, size_t cap)
{
    size_t tl = strlen(tag);
    out[0] = '\0';
    for (size_t i = 0; i + tl <= len; i++) {
        if ((i == 0 || body[i - 1] == ' ') && strncasecmp((const char *)body + i, tag, tl) == 0) {
            size_t j = i + tl, k = 0;
            while (j < len && body[j] != ' ' && k + 1 < cap)
                out[k++] = (char)body[j++];
            out[k] = '\0';
            return;
        }
    }
}

/* The message octets of a deliver_sm/data_sm: short_message, or
 * message_payload when short_message is empty. */
static const uint8_t *message_octets(const struct smpp_pdu *pdu, size_t *len)
{
    if (pdu->sm_length > 0 && pdu->short_message) {
        *len = pdu->sm_length;
        return pdu->short_message;
    }
    const struct smpp_tlv *t = smpp_tlv_find(pdu, SMPP_TLV_MESSAGE_PAYLOAD);
    if (t && t->val) {
        *len = t->len;
        return t->val;
    }
    *len = 0;
    return (const uint8_t *)"";
}

static void log_receipt(const struct link *l, const struct smpp_pdu *pdu)
{
    size_t len;
    const uint8_t *body = message_octets(pdu, &len);
    char id[72], stat[16];
    const struct smpp_tlv *rid = smpp_tlv_find(pdu, SMPP_TLV_RECEIPTED_MESSAGE_ID);
    if (rid && rid->val && rid->len > 0) {
        size_t n = rid->len < sizeof id ? rid->len : sizeof id - 1;
        memcpy(id, rid->val, n);
        id[n] = '\0';
        id[strnlen(id, n)] = '\0';
    } else {
        receipt_field(body, len, "id:", id, sizeof id);
    }
    static const char *const states[] = { "?", "ENROUTE", "DELIVRD", "EXPIRED",
                                          "DELETED", "UNDELIV", "ACCEPTD",
                                          "UNKNOWN", "REJECTD" };
    int64_t ms = smpp_tlv_uint(pdu, SMPP_TLV_MESSAGE_STATE);
    if (ms >= 1 && ms <= 8)
        snprintf(stat, sizeof stat, "%s", states[ms]);
    else
        receipt_field(body, len, "stat:", stat, sizeof stat);
    log_msg(KLOG_INFO, l->name, "receipt from %s: id %s stat %s",
            log_mask(pdu->source_addr).s, id[0] ? id : "?",
            stat[0] ? stat : "?");
}

#define MO_LOG_OCTETS 512

static void log_mo(const struct link *l, const struct smpp_pdu *pdu)
{
    size_t len;
    const uint8_t *data = message_octets(pdu, &len);
    unsigned part = 0, parts = 0;
    if ((pdu->esm_class & 0x40) && len > 0) {
        /* UDH: note a concatenation IE (0x00 8-bit ref, 0x08 16-bit ref),
         * then skip UDHL and the header it announces */
        size_t udh = (size_t)data[0] + 1;
        if (udh > len)
            udh = len;
        for (size_t i = 1; i + 2 <= udh;) {
            uint8_t iei = data[i], iel = data[i + 1];
            if (i + 2 + iel > udh)
                break;
            if ((iei == 0x00 && iel == 3) || (iei == 0x08 && iel == 4)) {
                parts = data[i + 2 + iel - 2];
                part = data[i + 2 + iel - 1];
            }
            i += 2 + (size_t)iel;
        }
        data += udh;
        len -= udh;
    } else {
        int64_t tot = smpp_tlv_uint(pdu, SMPP_TLV_SAR_TOTAL_SEGMENTS);
        int64_t seq = smpp_tlv_uint(pdu, SMPP_TLV_SAR_SEGMENT_SEQNUM);
        if (tot > 0 && seq > 0) {
            parts = (unsigned)tot;
            part = (unsigned)seq;
        }
    }
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
    log_msg(KLOG_INFO, l->name, "MO from %s to %s%s: %s\"%.*s\"",
            log_mask(pdu->source_addr).s, log_mask(pdu->destination_addr).s,
            partinfo, used == SMPP_ENC_HEX ? "hex " : "", (int)tlen,
            (const char *)text);
}

static const struct config_smsc *link_entry(const struct link *l)
{
    const struct config *c = l->d->cfg;
    for (size_t i = 0; i < c->smsc_count; i++)
        if (strcmp(c->smsc[i].name, l->name) == 0)
            return &c->smsc[i];
    return NULL;
}

static enum smpp_text_split_mode split_mode(int split)
{
    switch (split) {
    case CONFIG_SPLIT_UDH16: return SMPP_SPLIT_UDH16;
    case CONFIG_SPLIT_SAR: return SMPP_SPLIT_SAR;
    case CONFIG_SPLIT_PAYLOAD: return SMPP_SPLIT_PAYLOAD;
    default: return SMPP_SPLIT_UDH8;
    }
}

/* Concatenation reference for MT SMS sent from here (PING, menu sms). */
static uint16_t next_concat_ref(void)
{
    static uint16_t ref;
    return ++ref;
}

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
    const uint8_t *data = message_octets(pdu, &len);
    if (pdu->esm_class & 0x40 || len > 32)
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
        .split = split_mode(s ? s->split : CONFIG_SPLIT_UDH), .ref = next_concat_ref(),
    };
    char err[120];
    log_msg(KLOG_INFO, l->name, "PING from %s", p->to);
    if (mt_send(l->e, &m, on_ping_sent, p, err, sizeof err) != 0) {
        log_msg(KLOG_WARN, l->name, "PONG to %s not sent: %s", p->to, err);
        free(p);
    }
    return 1;
}


/* ---- USSD: what the dialog service needs from the links ---------------- */

static struct link *find_link(struct link *l, const char *name);

static void on_ussd_sent(struct esme *e, void *arg, uint32_t status,
                         const struct smpp_pdu *resp)
{
    (void)arg;
    (void)resp;
    if (status != ESME_ROK)
        log_msg(KLOG_WARN, esme_name(e), "USSD screen not accepted: %s (0x%08x)",
                smpp_status_name(status) ? smpp_status_name(status) : "no answer",
                status);
}

static int ussd_send(void *ud, const char *link, struct smpp_pdu *pdu)
{
    struct daemon *d = ud;
    struct link *l = find_link(d->links, link);
    if (!l || !l->e)
        return -1;
    return esme_send(l->e, pdu, on_ussd_sent, NULL);
}

static void ussd_outbox_kick(void *ud)
{
    struct daemon *d = ud;
    if (d->outbox)
        outbox_kick(d->outbox);
}

/* Start every link that has not started yet (once, at start-up). */
static void start_links(struct daemon *d)
{
    if (d->links_started || d->stopping)
        return;
    d->links_started = 1;
    if (d->ev_gate)
        evtimer_del(d->ev_gate);
    const struct config *c = d->cfg;
    for (struct link *l = d->links; l; l = l->next) {
        const struct config_smsc *s = config_find_smsc(c, l->name);
        if (s)
            log_msg(KLOG_INFO, s->name, "connecting to %s:%u as %s (%s)", s->host,
                    s->port, s->system_id, config_bind_name(s->bind));
        esme_start(l->e);
    }
}

static void on_gate(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    log_msg(KLOG_WARN, "dialogs", "%s not up after 3 s; binding anyway (USSD "
            "answers \"temporarily unavailable\" until it is)",
            dialogs_describe(d->store));
    start_links(d);
}

static void on_store_state(void *arg, enum dialogs_state st, const char *reason)
{
    struct daemon *d = arg;
    if (st == DIALOGS_UP)
        start_links(d);
    if (st == DIALOGS_UP)
        log_msg(KLOG_INFO, "dialogs", "%s is up", dialogs_describe(d->store));
    else
        log_msg(KLOG_WARN, "dialogs", "%s is down: %s; USSD answers "
                "\"temporarily unavailable\" until it is back",
                dialogs_describe(d->store), reason ? reason : "?");
}

/* ---- the outbox's view of the links ------------------------------------ */

#define ROUTE_MAX_LINKS 256

static int outbox_route_cb(void *ud, const char *msisdn, struct outbox_route *r)
{
    struct daemon *d = ud;
    bool bound[ROUTE_MAX_LINKS] = { false };
    size_t n = d->cfg->smsc_count < ROUTE_MAX_LINKS ? d->cfg->smsc_count : ROUTE_MAX_LINKS;
    for (size_t i = 0; i < n; i++) {
        struct link *l = find_link(d->links, d->cfg->smsc[i].name);
        bound[i] = l && l->e && esme_state(l->e) == ESME_BOUND;
    }
    int i = outbox_route_pick(d->cfg->smsc, n, bound, msisdn);
    if (i == -1) {
        /* No entry routes anything (no prefixes, no default_route), as in
         * a one-link set-up: the first link carries every number. */
        bool any = false;
        for (size_t k = 0; k < n && !any; k++)
            any = d->cfg->smsc[k].prefix_count > 0 || d->cfg->smsc[k].default_route;
        if (!any && n > 0)
            i = bound[0] ? 0 : -2;
    }
    if (i < 0)
        return i;
    struct link *l = find_link(d->links, d->cfg->smsc[i].name);
    if (!l || !l->e)
        return -2;
    r->esme = l->e;
    r->link = l->name;
    r->split = split_mode(d->cfg->smsc[i].split);
    r->allow = 0;
    return 0;
}

/* The link a message prefers (a menu SMS: its dialog's link), by name. */
static int outbox_route_via_cb(void *ud, const char *link, const char *msisdn,
                               struct outbox_route *r)
{
    (void)msisdn;
    struct daemon *d = ud;
    struct link *l = find_link(d->links, link);
    if (!l || !l->e)
        return -1;
    const struct config_smsc *s = link_entry(l);
    r->esme = l->e;
    r->link = l->name;
    r->split = split_mode(s ? s->split : CONFIG_SPLIT_UDH);
    r->allow = 0;
    return 0;
}

/* How many more messages the bound links can take soon. */
static unsigned outbox_room_cb(void *ud)
{
    struct daemon *d = ud;
    unsigned total = 0;
    for (struct link *l = d->links; l; l = l->next) {
        if (!l->e || esme_state(l->e) != ESME_BOUND)
            continue;
        const struct config_smsc *s = link_entry(l);
        unsigned cap = 2 * (s && s->window ? s->window : 10);
        struct esme_stats st;
        esme_get_stats(l->e, &st);
        unsigned used = st.in_flight + st.queued;
        if (used < cap)
            total += cap - used;
    }
    return total;
}

/* POST /v1/ussd/notices: route the number to a bound link, push a USSN. */
static int api_ussd_notice(void *ud, const char *msisdn, const char *from,
                           const char *text, int *too_long, char *err,
                           size_t errlen)
{
    struct daemon *d = ud;
    struct smpp_text_choice ch;
    size_t off = 0;
    *too_long = 0;
    if (smpp_text_choose((const uint8_t *)text, strlen(text), 0, &ch, &off) !=
        SMPP_TEXT_OK) {
        snprintf(err, errlen, "text is not valid UTF-8");
        *too_long = 1;
        return -1;
    }
    size_t air = ch.enc == SMPP_ENC_UCS2 ? ch.octets : (ch.units * 7 + 7) / 8;
    if (air > SMPP_TEXT_USSD_OCTETS) {
        snprintf(err, errlen, "text needs %zu octets; one USSD screen holds 160 "
                 "(182 GSM or 80 Cyrillic characters)", air);
        *too_long = 1;
        return -1;
    }
    struct outbox_route r;
    memset(&r, 0, sizeof r);
    if (outbox_route_cb(d, msisdn, &r) != 0) {
        snprintf(err, errlen, "no bound link serves this number now");
        return -1;
    }
    const struct config_smsc *s = config_find_smsc(d->cfg, r.link);
    const struct ussd_dialect *dia = s ? ussd_dialect_find(s->dialect) : NULL;
    if (!dia) {
        snprintf(err, errlen, "link %s has no USSD dialect", r.link);
        return -1;
    }
    char code[24] = "";
    if (!from && d->menus && d->menus->ncode > 0) {
        /* the gateway's own service code, "*100#" -> "100" */
        size_t k = 0;
        for (const char *p = d->menus->code[0].code; *p && k + 1 < sizeof code; p++)
            if (*p != '*' && *p != '#')
                code[k++] = *p;
        code[k] = '\0';
        from = code;
    }
    return ussd_push(d->ussd, r.link, dia, from ? from : "", msisdn, text, err, errlen);
}

/* Open the database named by cfg (creating its directory).  Returns NULL
 * with a reason in err. */
static struct store *open_db(const struct config *cfg, char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", cfg->db_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; *p; p++)
            if (*p == '/') {
                *p = '\0';
                mkdir(dir, 0755);
                *p = '/';
            }
        mkdir(dir, 0755);
    }
    struct store *st = NULL;
    if (store_open(cfg->db_path, cfg->db_synchronous == CONFIG_SYNC_FULL
                                     ? STORE_SYNC_FULL : STORE_SYNC_NORMAL,
                   &st, err, errlen) != STORE_OK)
        return NULL;
    return st;
}

/* Reminder settings from the config; the fallback language (bookings made
 * without one) is the menu set's default language, else "ru". */
static void reminders_opts_from(const struct config *cfg,
                                const struct menu_set *menus,
                                struct reminders_opts *o)
{
    memset(o, 0, sizeof *o);
    o->enabled = cfg->reminders;
    int at = config_hhmm_minutes(cfg->reminder_at);
    o->at_minute = at < 0 ? 18 * 60 : (unsigned)at;
    o->check_s = cfg->reminder_check_s;
    o->skip_recent_ms = cfg->reminder_skip_recent_ms;
    o->fallback_lang = menus && menus->nlang > 0 && menus->default_lang < menus->nlang
                           ? menus->lang[menus->default_lang] : "ru";
}

/* Load the menu set named by cfg; on errors print (or log) every one. */
static struct menu_set *load_menus(const struct config *cfg, FILE *fp)
{
    struct menu_set *set = NULL;
    struct menu_errors errs;
    memset(&errs, 0, sizeof errs);
    if (menu_set_load_dir(cfg->menus, &set, &errs) != 0) {
        char line[512];
        for (size_t i = 0; i < errs.n; i++) {
            menu_error_format(&errs.v[i], line, sizeof line);
            if (fp)
                fprintf(fp, "%s\n", line);
            else
                log_msg(KLOG_ERROR, NULL, "%s", line);
        }
        if (errs.dropped) {
            if (fp)
                fprintf(fp, "(and %zu more errors)\n", errs.dropped);
            else
                log_msg(KLOG_ERROR, NULL, "(and %zu more errors)", errs.dropped);
        }
        menu_errors_free(&errs);
        return NULL;
    }
    menu_errors_free(&errs);
    return set;
}

/* Wall clock in ms (the store's times). */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The outbox's answer hook: a receipt's deferred deliver_sm_resp, on the
 * link of that name (active or retiring: a ticket is refused by any esme
 * but its own, so trying both is safe). */
static void outbox_answer_cb(void *ud, const char *link, uint64_t ticket,
                             uint32_t status)
{
    struct daemon *d = ud;
    struct link *heads[2] = { d->links, d->retiring };
    for (int k = 0; k < 2; k++)
        for (struct link *l = heads[k]; l; l = l->next)
            if (l->e && strcmp(l->name, link) == 0 &&
                esme_answer(l->e, ticket, status) == 0)
                return;
}

static uint32_t on_deliver(struct esme *e, const struct smpp_pdu *pdu, void *ud)
{
    struct link *l = ud;
    if (pdu->esm_class & 0x04) {
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
        uint32_t st = keywords_deliver(l->d->db, e, l->name, pdu, wall_ms(), NULL,
                                       &ka, &kr);
        if (kr.reply_id && l->d->outbox)
            outbox_kick(l->d->outbox);
        return st;
    }
    return ESME_ROK;
}

static void esme_config_from(const struct config_smsc *s, struct esme_config *ec)
{
    memset(ec, 0, sizeof *ec);
    ec->name = s->name;
    ec->host = s->host;
    ec->port = (uint16_t)s->port;
    ec->system_id = s->system_id;
    ec->password = s->password;
    ec->system_type = s->system_type && *s->system_type ? s->system_type : NULL;
    ec->bind_mode = s->bind == CONFIG_BIND_TX_RX ? ESME_BIND_TX_RX : ESME_BIND_TRX;
    ec->window = s->window;
    ec->tps = s->tps;
    ec->throttle_retry_ms = s->throttle_pause_ms;
    ec->throttle_max_ms = s->throttle_max_pause_ms;
    ec->throttle_min_tps = s->throttle_min_tps;
    ec->enquire_link_ms = s->enquire_link_ms;
    ec->response_timeout_ms = s->response_timeout_ms;
    ec->reconnect_min_ms = s->reconnect_min_ms;
    ec->reconnect_max_ms = s->reconnect_max_ms;
    ec->max_pdu_len = s->max_pdu_len;
    /* every request is answered well inside the outbox's claim lease */
    ec->queue_timeout_ms = 20000;
}

/* Create and start a link for entry s.  Returns NULL (logged) on failure. */
static struct link *link_new(struct daemon *d, const struct config_smsc *s)
{
    struct link *l = calloc(1, sizeof *l);
    if (!l || !(l->name = strdup(s->name))) {
        free(l);
        log_msg(KLOG_ERROR, s->name, "out of memory");
        return NULL;
    }
    l->d = d;
    l->dialect = ussd_dialect_find(s->dialect);   /* validated by config */
    l->session_timeout_ms = s->session_timeout_ms;
    l->reap = evtimer_new(d->base, on_reap, l);
    if (!l->reap) {
        link_free(l);
        log_msg(KLOG_ERROR, s->name, "cannot create a timer");
        return NULL;
    }
    struct esme_config ec;
    esme_config_from(s, &ec);
    struct esme_callbacks cb = { on_state, on_deliver, log_esme, l };
    char err[160] = "";
    l->e = esme_new(d->base, &ec, &cb, err, sizeof err);
    if (!l->e) {
        log_msg(KLOG_ERROR, s->name, "cannot create the link: %s", err);
        link_free(l);
        return NULL;
    }
    if (d->links_started) {
        log_msg(KLOG_INFO, s->name, "connecting to %s:%u as %s (%s)", s->host,
                s->port, s->system_id, config_bind_name(s->bind));
        esme_start(l->e);
    }
    return l;
}

static struct link *find_link(struct link *l, const char *name)
{
    for (; l; l = l->next)
        if (l->name && !strcmp(l->name, name))
            return l;
    return NULL;
}

/* Start a link for the current config's entry `name` (after a restart),
 * unless there is none or one is running already. */
static void start_entry(struct daemon *d, const char *name)
{
    const struct config_smsc *s = config_find_smsc(d->cfg, name);
    if (!s || find_link(d->links, name))
        return;
    struct link *l = link_new(d, s);
    if (l) {
        l->next = d->links;
        d->links = l;
    }
}

/* Stop a link and move it to the retiring list; it is freed when CLOSED or
 * after the grace period. */
static void link_retire(struct daemon *d, struct link *l)
{
    unlink_from(&d->links, l);
    l->retiring = 1;
    l->next = d->retiring;
    d->retiring = l;
    struct timeval grace = { STOP_GRACE_MS / 1000, (STOP_GRACE_MS % 1000) * 1000 };
    evtimer_add(l->reap, &grace);
    if (esme_state(l->e) == ESME_CLOSED) {
        struct timeval now = { 0, 0 };
        evtimer_add(l->reap, &now);
    } else {
        esme_stop(l->e);
    }
}

/* ---- config, reload ------------------------------------------------------ */

static void print_errors(FILE *fp, const struct config_errors *errs)
{
    char line[512];
    for (size_t i = 0; i < errs->n; i++)
        fprintf(fp, "%s\n", config_error_format(errs, &errs->v[i], line, sizeof line));
    if (errs->dropped)
        fprintf(fp, "(and %zu more errors)\n", errs->dropped);
}

static void log_errors(const struct config_errors *errs)
{
    char line[512];
    for (size_t i = 0; i < errs->n; i++)
        log_msg(KLOG_ERROR, NULL, "%s",
                config_error_format(errs, &errs->v[i], line, sizeof line));
    if (errs->dropped)
        log_msg(KLOG_ERROR, NULL, "(and %zu more errors)", errs->dropped);
}

/* Load the configuration named on the command line (or the defaults). */
static int load_config(const char *path, struct config **out,
                       struct config_errors *errs)
{
    if (path)
        return config_load_file(path, out, errs);
    *out = config_defaults();
    return *out ? 0 : -1;
}

static void apply_log_settings(const struct daemon *d, const struct config *old,
                               const struct config *cfg)
{
    log_set_level(d->verbose ? KLOG_DEBUG : cfg->log_level);
    char err[256];
    if (old && strcmp(old->log_file, cfg->log_file) == 0) {
        if (log_reopen(err, sizeof err) != 0)
            log_msg(KLOG_ERROR, NULL, "cannot reopen the log: %s", err);
        return;
    }
    if (log_open(cfg->log_file, err, sizeof err) != 0)
        log_msg(KLOG_ERROR, NULL, "cannot open the log: %s; keeping the old one",
                err);
}

static void reload(struct daemon *d)
{
    if (!d->config_path) {
        char err[256];
        if (log_reopen(err, sizeof err) != 0)
            log_msg(KLOG_ERROR, NULL, "cannot reopen the log: %s", err);
        log_msg(KLOG_INFO, NULL,
                "SIGHUP: running on the embedded defaults, nothing to reload");
        return;
    }
    struct config *cfg = NULL;
    struct config_errors errs = { 0 };
    if (config_load_file(d->config_path, &cfg, &errs) != 0) {
        char err[256];
        if (log_reopen(err, sizeof err) != 0)
            log_msg(KLOG_ERROR, NULL, "cannot reopen the log: %s", err);
        log_errors(&errs);
        log_msg(KLOG_ERROR, NULL,
                "reload refused: %zu error%s in %s; still running the previous "
                "configuration",
                errs.n + errs.dropped, errs.n + errs.dropped == 1 ? "" : "s",
                d->config_path);
        config_errors_free(&errs);
        return;
    }
    config_errors_free(&errs);
    struct menu_set *menus = load_menus(cfg, NULL);
    if (!menus) {
        log_msg(KLOG_ERROR, NULL,
                "reload refused: the menu set %s has errors; still running the "
                "previous configuration and menus", cfg->menus);
        config_free(cfg);
        return;
    }
    if (strcmp(cfg->redis_url, d->cfg->redis_url) != 0) {
        /* Applied live; a URL the store cannot use refuses the whole reload.
         * Descriptions never carry the password. */
        char was[600], serr[256] = "";
        snprintf(was, sizeof was, "%s", dialogs_describe(d->store));
        if (dialogs_set_url(d->store, cfg->redis_url, serr, sizeof serr) != 0) {
            log_msg(KLOG_ERROR, NULL, "reload refused: redis.url: %s; still running "
                    "the previous configuration and menus", serr);
            menu_set_unref(menus);
            config_free(cfg);
            return;
        }
        log_msg(KLOG_INFO, "dialogs", "redis.url changed: moving from %s to %s; "
                "dialogs in flight may end \"temporarily unavailable\"", was,
                dialogs_describe(d->store));
    }
    ussd_set_menus(d->ussd, menus);
    menu_set_unref(d->menus);
    d->menus = menus;
    log_msg(KLOG_INFO, NULL, "menus loaded from %s (%u nodes)", cfg->menus,
            (unsigned)menus->nnode);
    apply_log_settings(d, d->cfg, cfg);

    unsigned added = 0, removed = 0, restarted = 0, kept = 0, failed = 0;
    /* removed and changed entries */
    struct link *next;
    for (struct link *l = d->links; l; l = next) {
        next = l->next;
        const struct config_smsc *ns = config_find_smsc(cfg, l->name);
        const struct config_smsc *os = config_find_smsc(d->cfg, l->name);
        if (!ns) {
            log_msg(KLOG_INFO, l->name, "removed from the configuration; stopping");
            link_retire(d, l);
            removed++;
        } else if (!os || !config_smsc_equal(os, ns)) {
            char keys[256] = "?";
            if (os)
                config_smsc_diff(os, ns, keys, sizeof keys);
            log_msg(KLOG_INFO, l->name,
                    "configuration changed (%s); restarting once the old link "
                    "is closed", keys);
            l->restart = 1;
            link_retire(d, l);
            restarted++;
        } else {
            kept++;
        }
    }
    /* new entries and the restarted ones */
    for (size_t i = 0; i < cfg->smsc_count; i++) {
        const struct config_smsc *s = &cfg->smsc[i];
        if (find_link(d->links, s->name))
            continue;
        struct link *old = find_link(d->retiring, s->name);
        if (old) {
            /* still closing: start the new one when the old one is gone */
            old->restart = 1;
            continue;
        }
        if (!config_find_smsc(d->cfg, s->name))
            added++;
        struct link *l = link_new(d, s);
        if (!l) {
            failed++;
            continue;
        }
        l->next = d->links;
        d->links = l;
    }
    config_free(d->cfg);
    d->cfg = cfg;
    struct reminders_opts ro;
    reminders_opts_from(cfg, d->menus, &ro);
    reminders_set_opts(d->reminders, &ro);
    log_msg(KLOG_INFO, NULL,
            "reloaded %s: %zu smsc (%u added, %u removed, %u restarted, "
            "%u unchanged%s)",
            d->config_path, cfg->smsc_count, added, removed, restarted, kept,
            failed ? ", some failed to start" : "");
}

/* ---- signals ------------------------------------------------------------- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct daemon *d = arg;
    log_msg(KLOG_WARN, NULL, "%d link(s) not closed after %d ms; exiting anyway",
            count_open(d->links) + count_open(d->retiring), STOP_GRACE_MS);
    event_base_loopexit(d->base, NULL);
}

static const char *signame(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal";
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon *d = arg;
    if (d->stopping) {
        log_msg(KLOG_WARN, NULL, "%s again; exiting now", signame((int)sig));
        event_base_loopexit(d->base, NULL);
        return;
    }
    d->stopping = 1;
    log_msg(KLOG_INFO, NULL, "%s: unbinding %d link(s)", signame((int)sig),
            count_open(d->links) + count_open(d->retiring));
    struct timeval grace = { STOP_GRACE_MS / 1000, (STOP_GRACE_MS % 1000) * 1000 };
    evtimer_add(d->ev_deadline, &grace);
    for (struct link *l = d->links; l; l = l->next)
        if (esme_state(l->e) != ESME_CLOSED)
            esme_stop(l->e);
    for (struct link *l = d->retiring; l; l = l->next)
        if (esme_state(l->e) != ESME_CLOSED)
            esme_stop(l->e);
    check_all_closed(d);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct daemon *d = arg;
    if (d->stopping)
        return;
    log_msg(KLOG_INFO, NULL, "SIGHUP: reloading");
    reload(d);
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *fp, const char *prog)
{
    fprintf(fp,
"Usage: %s [-c FILE] [options]\n"
"\n"
"kyzmatd is an SMS/USSD gateway: it binds to one or more SMSCs over SMPP 3.4\n"
"as an ESME and runs USSD menus and SMS for them.\n"
"\n"
"Options:\n"
"  -c, --config FILE    read the configuration from FILE (YAML).  Without -c\n"
"                       the embedded defaults are used: one SMSC \"sim\" at\n"
"                       127.0.0.1:2775, system_id kyzmat, password secret\n"
"                       (what kyzmat-smsc accepts out of the box).\n"
"      --check          check the configuration, print \"configuration ok\"\n"
"                       or every error as file:line:column, and exit 0 or 1\n"
"      --pidfile FILE   write the process id to FILE while running\n"
"      --create-token AGENCY\n"
"                       create an HTTP API token for the agency with that\n"
"                       code (created if new) in the configured database,\n"
"                       print it once and exit; only its SHA-256 is kept\n"
"      --scopes LIST    with --create-token: messages,applications,offices,\n"
"                       slots,templates (comma-separated) or * (the default)\n"
"  -v, --verbose        log at debug level (overrides log.level)\n"
"      --help-config    list every configuration key with its default\n"
"  -h, --help           show this help\n"
"  -V, --version        show the version\n"
"\n"
"Signals:\n"
"  SIGHUP               reopen the log file and reload the configuration;\n"
"                       a file with errors is refused and the old one kept\n"
"  SIGTERM, SIGINT      unbind every link and exit (at most 3 s)\n"
"\n"
"Examples:\n"
"  %s                   run on the embedded defaults\n"
"  %s -c /etc/kyzmat/kyzmat.yaml --check\n"
"  %s -c /etc/kyzmat/kyzmat.yaml -v\n"
"  kill -HUP $(cat /run/kyzmatd.pid)        reload after editing the file\n"
"\n"
"A commented sample configuration is scripts/kyzmat.yaml in the source tree\n"
"(copy it to /etc/kyzmat/kyzmat.yaml); a sample systemd unit is\n"
"scripts/kyzmatd.service.  Exit status: 0 ok, 1 configuration or start-up\n"
"error, 2 bad command line.\n",
            prog, prog, prog, prog);
}

struct options {
    const char *config;
    const char *pidfile;
    const char *create_token;   /* agency code */
    const char *scopes;         /* for --create-token; NULL = all */
    int check, verbose, help, version, help_config;
};

/* Returns 0, or 2 (usage error, already reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum { O_CHECK = 1000, O_HELP_CONFIG, O_PIDFILE, O_CREATE_TOKEN, O_SCOPES };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check", no_argument, NULL, O_CHECK },
        { "pidfile", required_argument, NULL, O_PIDFILE },
        { "create-token", required_argument, NULL, O_CREATE_TOKEN },
        { "scopes", required_argument, NULL, O_SCOPES },
        { "verbose", no_argument, NULL, 'v' },
        { "help-config", no_argument, NULL, O_HELP_CONFIG },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    int c;
    while ((c = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case O_CHECK:
            o->check = 1;
            break;
        case O_PIDFILE:
            o->pidfile = optarg;
            break;
        case O_CREATE_TOKEN:
            o->create_token = optarg;
            break;
        case O_SCOPES:
            o->scopes = optarg;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case O_HELP_CONFIG:
            o->help_config = 1;
            break;
        case 'h':
            o->help = 1;
            break;
        case 'V':
            o->version = 1;
            break;
        default:
            fprintf(stderr, "Try '%s --help'.\n", argv[0]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n",
                argv[0], argv[optind], argv[0]);
        return 2;
    }
    return 0;
}

static int write_pidfile(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    ssize_t w = write(fd, buf, (size_t)n);
    close(fd);
    return w == n ? 0 : -1;
}

/* ---- main ------------------------------------------------------------------- */

static void daemon_free(struct daemon *d)
{
    /* the loop is over: commit its last pass, so what waits for it is
     * answered (202s, receipts, keyword MOs, screens) while links live */
    store_flush(d->db);
    struct link *next;
    for (struct link *l = d->links; l; l = next) {
        next = l->next;
        link_free(l);
    }
    for (struct link *l = d->retiring; l; l = next) {
        next = l->next;
        link_free(l);
    }
    d->links = d->retiring = NULL;
    api_free(d->api);
    d->api = NULL;
    reminders_free(d->reminders);
    d->reminders = NULL;
    outbox_free(d->outbox);
    d->outbox = NULL;
    ussd_free(d->ussd);
    d->ussd = NULL;
    fetch_free(d->fetch);
    d->fetch = NULL;
    dialogs_free(d->store);
    d->store = NULL;
    menu_set_unref(d->menus);
    d->menus = NULL;
    store_close(d->db);
    d->db = NULL;
    if (d->ev_term)
        event_free(d->ev_term);
    if (d->ev_int)
        event_free(d->ev_int);
    if (d->ev_hup)
        event_free(d->ev_hup);
    if (d->ev_deadline)
        event_free(d->ev_deadline);
    if (d->ev_gate)
        event_free(d->ev_gate);
    config_free(d->cfg);
    d->cfg = NULL;
    if (d->base)
        event_base_free(d->base);
    d->base = NULL;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc;
    if (o.help) {
        usage(stdout, argv[0]);
        return 0;
    }
    if (o.version) {
        printf("kyzmatd %s\n", KYZMAT_VERSION);
        return 0;
    }
    if (o.help_config) {
        config_print_help(stdout);
        return 0;
    }

    struct daemon d;
    memset(&d, 0, sizeof d);
    d.config_path = o.config;
    d.verbose = o.verbose;
    struct config_errors errs = { 0 };
    if (load_config(o.config, &d.cfg, &errs) != 0) {
        print_errors(stderr, &errs);
        if (!errs.n && !errs.dropped)
            fprintf(stderr, "%s: out of memory\n", argv[0]);
        fprintf(stderr, "%s: %zu error%s in the configuration; not starting\n",
                argv[0], errs.n + errs.dropped, errs.n + errs.dropped == 1 ? "" : "s");
        config_errors_free(&errs);
        return 1;
    }
    config_errors_free(&errs);
    if (o.create_token) {
        char err[256], tok[API_TOKEN_LEN];
        struct store *st = open_db(d.cfg, err, sizeof err);
        int trc = st ? api_token_create(st, o.create_token, o.scopes, tok, sizeof tok,
                                        err, sizeof err)
                     : -1;
        store_close(st);
        config_free(d.cfg);
        if (trc != STORE_OK) {
            fprintf(stderr, "%s: cannot create a token: %s\n", argv[0], err);
            return 1;
        }
        printf("%s\n", tok);
        return 0;
    }
    d.menus = load_menus(d.cfg, stderr);
    if (!d.menus) {
        fprintf(stderr, "%s: the menu set %s has errors; not starting\n", argv[0],
                d.cfg->menus);
        config_free(d.cfg);
        return 1;
    }
    if (o.check) {
        printf("configuration ok: %zu smsc%s; menus ok: %s (%u nodes)\n",
               d.cfg->smsc_count, o.config ? "" : " (embedded defaults)",
               d.cfg->menus, (unsigned)d.menus->nnode);
        menu_set_unref(d.menus);
        config_free(d.cfg);
        return 0;
    }

    log_set_level(d.verbose ? KLOG_DEBUG : d.cfg->log_level);
    char lerr[256];
    if (log_open(d.cfg->log_file, lerr, sizeof lerr) != 0) {
        /* refuse to start without the log that was asked for */
        fprintf(stderr, "%s: cannot open the log file: %s\n", argv[0], lerr);
        menu_set_unref(d.menus);
        config_free(d.cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    /* epoll changelist: bufferevents and evhttp switch a socket's write
     * interest on and off around every flush; the changelist folds the
     * changes of one loop pass into at most one epoll_ctl per socket
     * (measured: ~3.5 epoll_ctl calls per USSD step without it).  kyzmatd
     * never dup()s a watched descriptor, the case libevent warns about. */
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    d.base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    if (ecfg)
        event_config_free(ecfg);
    if (!d.base)
        d.base = event_base_new();
    if (!d.base) {
        fprintf(stderr, "%s: cannot create the event loop\n", argv[0]);
        menu_set_unref(d.menus);
        config_free(d.cfg);
        log_close();
        return 1;
    }
    d.ev_term = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
    d.ev_int = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
    d.ev_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
    d.ev_deadline = evtimer_new(d.base, on_deadline, &d);
    if (!d.ev_term || !d.ev_int || !d.ev_hup || !d.ev_deadline ||
        evsignal_add(d.ev_term, NULL) || evsignal_add(d.ev_int, NULL) ||
        evsignal_add(d.ev_hup, NULL)) {
        fprintf(stderr, "%s: cannot set up signal handling\n", argv[0]);
        daemon_free(&d);
        log_close();
        return 1;
    }

    log_msg(KLOG_INFO, NULL, "kyzmatd %s starting: %s, %zu smsc", KYZMAT_VERSION,
            o.config ? o.config : "embedded defaults", d.cfg->smsc_count);
    char serr[256] = "";
    struct dialogs_opts dopts;
    memset(&dopts, 0, sizeof dopts);
    dopts.on_state = on_store_state;
    dopts.state_arg = &d;
    d.store = dialogs_new(d.base, d.cfg->redis_url, &dopts, serr, sizeof serr);
    d.fetch = fetch_new(d.base, NULL);
    struct ussd_ops uops = { .send = ussd_send, .outbox_kick = ussd_outbox_kick,
                             .ud = &d };
    d.ussd = d.store && d.fetch ? ussd_new(d.base, d.store, d.fetch, d.menus, &uops)
                                : NULL;
    if (!d.ussd) {
        log_msg(KLOG_ERROR, NULL, "not starting: dialog store: %s",
                serr[0] ? serr : "out of memory");
        daemon_free(&d);
        log_close();
        return 1;
    }
    log_msg(KLOG_INFO, NULL, "menus %s (%u nodes); USSD dialogs in %s",
            d.cfg->menus, (unsigned)d.menus->nnode, dialogs_describe(d.store));
    char derr[256] = "";
    d.db = open_db(d.cfg, derr, sizeof derr);
    if (d.db && store_attach(d.db, d.base) != STORE_OK) {   /* one commit a pass */
        store_close(d.db);
        d.db = NULL;
        snprintf(derr, sizeof derr, "out of memory");
    }
    if (d.db)
        ussd_set_store(d.ussd, d.db);   /* the menus' status node reads it */
    if (!d.db) {
        log_msg(KLOG_ERROR, NULL, "not starting: database %s: %s", d.cfg->db_path, derr);
        daemon_free(&d);
        log_close();
        return 1;
    }
    /* This process is the database's only user: what a dead predecessor had
     * on the links goes out again at once rather than after its lease. */
    store_outbox_recover(d.db, INT64_MAX, NULL);
    struct outbox_links olinks = { .route = outbox_route_cb, .room = outbox_room_cb,
                                   .ud = &d, .answer = outbox_answer_cb,
                                   .route_via = outbox_route_via_cb };
    struct outbox_opts oopts;
    memset(&oopts, 0, sizeof oopts);
    oopts.from = "kyzmat";
    oopts.fetch = d.fetch;
    d.outbox = outbox_new(d.base, d.db, &olinks, &oopts);
    if (!d.outbox) {
        log_msg(KLOG_ERROR, NULL, "not starting: cannot start the SMS sender");
        daemon_free(&d);
        log_close();
        return 1;
    }
    struct reminders_opts ropts;
    reminders_opts_from(d.cfg, d.menus, &ropts);
    d.reminders = reminders_new(d.base, d.db, d.outbox, &ropts);
    if (!d.reminders) {
        log_msg(KLOG_ERROR, NULL, "not starting: cannot start the reminder timer");
        daemon_free(&d);
        log_close();
        return 1;
    }
    struct api_opts aopts;
    memset(&aopts, 0, sizeof aopts);
    aopts.listen = d.cfg->http_listen;
    aopts.max_body = d.cfg->http_max_body;
    aopts.ussd_notice = api_ussd_notice;
    aopts.ussd_ud = &d;
    d.api = api_new(d.base, d.db, &aopts, derr, sizeof derr);
    if (!d.api) {
        log_msg(KLOG_ERROR, NULL, "not starting: HTTP API on %s: %s",
                d.cfg->http_listen, derr);
        daemon_free(&d);
        log_close();
        return 1;
    }
    {
        char host[300];
        snprintf(host, sizeof host, "%s", d.cfg->http_listen);
        char *colon = strrchr(host, ':');
        if (colon)
            *colon = '\0';
        log_msg(KLOG_INFO, NULL, "HTTP API on %s:%d; database %s", host,
                api_port(d.api), d.cfg->db_path);
    }
    for (size_t i = 0; i < d.cfg->smsc_count; i++) {
        struct link *l = link_new(&d, &d.cfg->smsc[i]);
        if (!l) {
            log_msg(KLOG_ERROR, NULL, "not starting: link %s failed",
                    d.cfg->smsc[i].name);
            daemon_free(&d);
            log_close();
            return 1;
        }
        l->next = d.links;
        d.links = l;
    }
    if (dialogs_state(d.store) == DIALOGS_UP) {
        start_links(&d);
    } else {
        struct timeval gate = { 3, 0 };
        d.ev_gate = evtimer_new(d.base, on_gate, &d);
        if (!d.ev_gate || evtimer_add(d.ev_gate, &gate) != 0)
            start_links(&d);
    }
    if (o.pidfile && write_pidfile(o.pidfile) != 0) {
        log_msg(KLOG_ERROR, NULL, "cannot write pid file %s: %s", o.pidfile,
                strerror(errno));
        daemon_free(&d);
        log_close();
        return 1;
    }

    event_base_dispatch(d.base);

    log_msg(KLOG_INFO, NULL, "kyzmatd stopped");
    daemon_free(&d);
    fetch_global_cleanup();
    if (o.pidfile)
        unlink(o.pidfile);
    log_close();
    return 0;
}
