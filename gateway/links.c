/*
 * gateway/links.c — the link registry.  See links.h for the contract.
 *
 * Design: two lists from <sys/queue.h> in struct daemon, d->links (one
 * link per smsc entry of d->cfg) and d->retiring (stopped, waiting for
 * CLOSED or the grace period); a link moves from the first to the second
 * once and leaves the second only through its reap timer (on_reap), which
 * frees it and, for a changed entry, starts the new link of that name.  The
 * esme callbacks (on_state; deliveries go to gateway/mo) never free the
 * link they came on: on CLOSED they arm the reap timer at 0 s.
 *
 * The adapters other modules call through their ops structs (ussd_send,
 * outbox_route_cb, outbox_route_via_cb, outbox_room_cb, outbox_answer_cb,
 * api_ussd_notice) take the daemon as ud, as main.c wires them.
 *
 * Each link registers its series in d->metrics (state, binds, window,
 * rate, submits by outcome, response times, MO) when it is made; they are
 * read from the esme's stats at scrape time, and retired when it is freed.
 *
 * SMPP over TLS (issue 13 tls-smpp): an entry with tls.enabled gets its
 * client context made here, once per link, by base/tls; the esme takes its
 * own reference and makes a fresh SSL from it per connection.  A context
 * that cannot be made (unreadable files) fails the link with the reason;
 * tls.verify false is warned about each time the link is made.
 *
 * Owns: the links and their esmes and reap timers.
 * May call: base/metrics, base/tls, gateway/config, gateway/log, gateway/mo, gateway/outbox,
 * gateway/ussd, smpp/esme, smpp/mt, smpp/dialect, smpp/text, menus/menu,
 * libevent, libc.
 */
#include "gateway/links.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/metrics.h"
#include "base/tls.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/mo.h"
#include "gateway/ussd.h"
#include "menus/menu.h"
#include "smpp/esme.h"
#include "smpp/mt.h"

static struct link *find_link(struct link_list *list, const char *name);
static void start_entry(struct daemon *d, const char *name);
static void on_reap(evutil_socket_t fd, short what, void *arg);
static void on_state(struct esme *e, enum esme_state st, void *ud);

/* ---- the link's metrics ------------------------------------------------ */

_Static_assert(ESME_OUT_COUNT <= sizeof ((struct link *)0)->outcome /
                                   sizeof ((struct link *)0)->outcome[0],
               "struct link's outcome[] too small");

static struct esme_stats stats_of(void *arg)
{
    struct esme_stats st = { 0 };
    esme_get_stats(((struct link *)arg)->e, &st);
    return st;
}

static double m_up(void *arg)
{
    return esme_state(((struct link *)arg)->e) == ESME_BOUND;
}
static double m_binds(void *arg) { return (double)stats_of(arg).binds; }
static double m_reconnects(void *arg) { return (double)stats_of(arg).reconnects; }
static double m_mo(void *arg) { return (double)stats_of(arg).delivered_in; }
static double m_in_use(void *arg) { return stats_of(arg).in_flight; }
static double m_queued(void *arg) { return stats_of(arg).queued; }
static double m_rate(void *arg) { return stats_of(arg).rate_tps; }
static double m_window(void *arg) { return ((struct link *)arg)->window; }

static double m_outcome(void *arg)
{
    struct link_outcome *o = arg;
    return (double)stats_of(o->l).submits[o->kind];
}

/* Register l's series (revived when the link comes back on reload).  A
 * refusal costs the metrics only, never the link: logged once. */
static void link_metrics(struct link *l)
{
    struct kz_metrics *m = l->d->metrics;
    if (!m)
        return;
    static const struct {
        const char *name, *help;
        kz_gauge_fn *fn;
        bool counter;
    } one[] = {
        { "kyzmat_link_up", "1 while the SMPP link is bound, else 0.", m_up, false },
        { "kyzmat_link_binds_total", "Successful binds of the link.", m_binds, true },
        { "kyzmat_link_reconnects_total", "Reconnections after the link dropped "
          "or failed to bind.", m_reconnects, true },
        { "kyzmat_link_mo_received_total", "deliver_sm and data_sm received "
          "(MO SMS, USSD, receipts).", m_mo, true },
        { "kyzmat_link_window_in_use", "Requests sent and not yet answered.",
          m_in_use, false },
        { "kyzmat_link_window_size", "The link's window (smsc.window).",
          m_window, false },
        { "kyzmat_link_queued", "Requests waiting for the window or the rate.",
          m_queued, false },
        { "kyzmat_link_send_rate", "Current send rate limit, requests per "
          "second (cut while the SMSC throttles; 0: none).", m_rate, false },
    };
    static const double le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25, 0.5, 1, 2.5, 5, 10 };
    struct kz_label lab[2] = { { "link", l->name }, { "status", NULL } };
    char err[160] = "";
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof one / sizeof one[0]; i++)
        ok = (one[i].counter ? kz_metrics_counter_fn : kz_metrics_gauge_fn)(
                 m, one[i].name, one[i].help, lab, 1, one[i].fn, l, err,
                 sizeof err) == 0;
    for (int k = 0; ok && k < ESME_OUT_COUNT; k++) {
        l->outcome[k] = (struct link_outcome){ l, k };
        lab[1].value = esme_outcome_name((enum esme_outcome)k);
        ok = kz_metrics_counter_fn(m, "kyzmat_link_submits_total",
                                   "submit_sm and data_sm answers by "
                                   "command_status (each throttled try counts), "
                                   "and timeouts.", lab, 2, m_outcome,
                                   &l->outcome[k], err, sizeof err) == 0;
    }
    if (ok)
        ok = (l->resp_seconds = kz_metrics_histogram(
                  m, "kyzmat_link_submit_response_seconds",
                  "Time from a submit_sm or data_sm to its response.", lab, 1,
                  le, sizeof le / sizeof le[0], err, sizeof err)) != NULL;
    if (!ok)
        log_msg(KLOG_WARN, l->name, "metrics for this link: %s", err);
}

/* Leave l's series out of scrapes (the link is freed). */
static void link_metrics_retire(struct link *l)
{
    struct kz_metrics *m = l->d ? l->d->metrics : NULL;
    if (!m)
        return;
    kz_metrics_retire(m, l);
    for (int k = 0; k < ESME_OUT_COUNT; k++)
        kz_metrics_retire(m, &l->outcome[k]);
    if (l->resp_seconds)
        kz_metrics_retire(m, l->resp_seconds);
}

/* ---- one link -------------------------------------------------------------- */

static void link_free(struct link *l)
{
    if (!l)
        return;
    link_metrics_retire(l);
    if (l->e)
        esme_free(l->e);
    if (l->reap)
        event_free(l->reap);
    free(l->name);
    free(l);
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
    /* issue 13 tls-smpp: the context comes from link_tls_ctx */
    ec->tls_name = s->tls.verify_name && *s->tls.verify_name ? s->tls.verify_name
                                                            : NULL;
    /* every request is answered well inside the outbox's claim lease */
    ec->queue_timeout_ms = 20000;
}

/* "connecting to HOST:PORT as ID (bind)[ over TLS]", once the links run. */
static void log_connecting(const struct config_smsc *s)
{
    log_msg(KLOG_INFO, s->name, "connecting to %s:%u as %s (%s)%s", s->host,
            s->port, s->system_id, config_bind_name(s->bind),
            s->tls.enabled ? " over TLS" : "");
}

/* issue 13 tls-smpp: entry s's TLS client context into *out (NULL when
 * tls is off).  0, or -1 logged with the reason (a file that cannot be
 * read, a key that does not fit its certificate). */
static int link_tls_ctx(const struct config_smsc *s, SSL_CTX **out)
{
    *out = NULL;
    if (!s->tls.enabled)
        return 0;
    const struct kz_tls_opts o = {
        .ca = *s->tls.ca ? s->tls.ca : NULL,
        .cert = *s->tls.cert ? s->tls.cert : NULL,
        .key = *s->tls.key ? s->tls.key : NULL,
        .min_version = config_tls_version_name(s->tls.min_version),
        .verify = s->tls.verify,
    };
    char err[256] = "";
    *out = kz_tls_client_ctx(&o, err, sizeof err);
    if (!*out) {
        log_msg(KLOG_ERROR, s->name, "TLS: %s", err);
        return -1;
    }
    if (!s->tls.verify)
        log_msg(KLOG_WARN, s->name, "tls.verify is false: the SMSC's certificate "
                "and name are not checked, so anyone on the path can read and "
                "change this link");
    return 0;
}

struct link *link_new(struct daemon *d, const struct config_smsc *s)
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
    l->window = s->window;
    link_metrics(l);
    struct esme_config ec;
    esme_config_from(s, &ec);
    ec.resp_seconds = l->resp_seconds;
    if (link_tls_ctx(s, &ec.tls) != 0) {
        link_free(l);
        return NULL;
    }
    struct esme_callbacks cb = { on_state, mo_deliver, log_esme, l };
    char err[160] = "";
    l->e = esme_new(d->base, &ec, &cb, err, sizeof err);
    SSL_CTX_free(ec.tls);       /* the esme holds its own reference */
    if (!l->e) {
        log_msg(KLOG_ERROR, s->name, "cannot create the link: %s", err);
        link_free(l);
        return NULL;
    }
    LIST_INSERT_HEAD(&d->links, l, entry);
    if (d->links_started) {
        log_connecting(s);
        esme_start(l->e);
    }
    return l;
}

static struct link *find_link(struct link_list *list, const char *name)
{
    struct link *l;
    LIST_FOREACH(l, list, entry)
        if (l->name && !strcmp(l->name, name))
            return l;
    return NULL;
}

const struct config_smsc *link_entry(const struct link *l)
{
    return config_find_smsc(l->d->cfg, l->name);
}

enum smpp_text_split_mode link_split_mode(int split)
{
    switch (split) {
    case CONFIG_SPLIT_UDH16: return SMPP_SPLIT_UDH16;
    case CONFIG_SPLIT_SAR: return SMPP_SPLIT_SAR;
    case CONFIG_SPLIT_PAYLOAD: return SMPP_SPLIT_PAYLOAD;
    default: return SMPP_SPLIT_UDH8;
    }
}

/* Concatenation reference for MT SMS sent from here (PING, menu sms). */
uint16_t link_next_ref(void)
{
    static uint16_t ref;
    return ++ref;
}

/* ---- life: state, reaping, start, retire, reload, stop ------------------ */

void links_check_all_closed(struct daemon *d)
{
    if (d->stopping && !d->exiting && links_open(d) == 0) {
        d->exiting = 1;
        log_msg(KLOG_INFO, NULL, "all links closed; exiting");
        event_base_loopexit(d->base, NULL);
    }
}

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
    LIST_REMOVE(l, entry);
    int restart = l->restart && !d->stopping;
    char *name = l->name;
    l->name = NULL;
    link_free(l);
    if (restart)
        start_entry(d, name);
    free(name);
    links_check_all_closed(d);
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
    links_check_all_closed(l->d);
}

/* Start every link that has not started yet (once, at start-up). */
void start_links(struct daemon *d)
{
    if (d->links_started || d->stopping)
        return;
    d->links_started = 1;
    if (d->ev_gate)
        evtimer_del(d->ev_gate);
    const struct config *c = d->cfg;
    struct link *l;
    LIST_FOREACH(l, &d->links, entry) {
        const struct config_smsc *s = config_find_smsc(c, l->name);
        if (s)
            log_connecting(s);
        esme_start(l->e);
    }
}

/* Start a link for the current config's entry `name` (after a restart),
 * unless there is none or one is running already. */
static void start_entry(struct daemon *d, const char *name)
{
    const struct config_smsc *s = config_find_smsc(d->cfg, name);
    if (!s || find_link(&d->links, name))
        return;
    link_new(d, s);
}

/* Stop a link and move it to the retiring list; it is freed when CLOSED or
 * after the grace period. */
static void link_retire(struct daemon *d, struct link *l)
{
    LIST_REMOVE(l, entry);
    l->retiring = 1;
    LIST_INSERT_HEAD(&d->retiring, l, entry);
    struct timeval grace = { STOP_GRACE_MS / 1000, (STOP_GRACE_MS % 1000) * 1000 };
    evtimer_add(l->reap, &grace);
    if (esme_state(l->e) == ESME_CLOSED) {
        struct timeval now = { 0, 0 };
        evtimer_add(l->reap, &now);
    } else {
        esme_stop(l->e);
    }
}

void links_apply(struct daemon *d, const struct config *cfg,
                 struct links_change *ch)
{
    memset(ch, 0, sizeof *ch);
    /* removed and changed entries */
    struct link *l, *next;
    for (l = LIST_FIRST(&d->links); l; l = next) {
        next = LIST_NEXT(l, entry);
        const struct config_smsc *ns = config_find_smsc(cfg, l->name);
        const struct config_smsc *os = config_find_smsc(d->cfg, l->name);
        if (!ns) {
            log_msg(KLOG_INFO, l->name, "removed from the configuration; stopping");
            link_retire(d, l);
            ch->removed++;
        } else if (!os || !config_smsc_equal(os, ns)) {
            char keys[256] = "?";
            if (os)
                config_smsc_diff(os, ns, keys, sizeof keys);
            log_msg(KLOG_INFO, l->name,
                    "configuration changed (%s); restarting once the old link "
                    "is closed", keys);
            l->restart = 1;
            link_retire(d, l);
            ch->restarted++;
        } else {
            ch->kept++;
        }
    }
    /* new entries and the restarted ones */
    for (size_t i = 0; i < cfg->smsc_count; i++) {
        const struct config_smsc *s = &cfg->smsc[i];
        if (find_link(&d->links, s->name))
            continue;
        struct link *old = find_link(&d->retiring, s->name);
        if (old) {
            /* still closing: start the new one when the old one is gone */
            old->restart = 1;
            continue;
        }
        if (!config_find_smsc(d->cfg, s->name))
            ch->added++;
        if (!link_new(d, s))
            ch->failed++;
    }
}

void links_stop_all(struct daemon *d)
{
    struct link_list *heads[2] = { &d->links, &d->retiring };
    struct link *l;
    for (int k = 0; k < 2; k++)
        LIST_FOREACH(l, heads[k], entry)
            if (esme_state(l->e) != ESME_CLOSED)
                esme_stop(l->e);
}

int links_open(const struct daemon *d)
{
    const struct link_list *heads[2] = { &d->links, &d->retiring };
    const struct link *l;
    int n = 0;
    for (int k = 0; k < 2; k++)
        LIST_FOREACH(l, heads[k], entry)
            if (l->e && esme_state(l->e) != ESME_CLOSED)
                n++;
    return n;
}

size_t links_unbound(const struct daemon *d, char (*what)[64], size_t max)
{
    const struct link *l;
    size_t n = 0;
    LIST_FOREACH(l, &d->links, entry)
        if (n < max && (!l->e || esme_state(l->e) != ESME_BOUND))
            snprintf(what[n++], sizeof what[0], "link %s", l->name);
    return n;
}

void links_free_all(struct daemon *d)
{
    struct link_list *heads[2] = { &d->links, &d->retiring };
    for (int k = 0; k < 2; k++) {
        struct link *l;
        while ((l = LIST_FIRST(heads[k])) != NULL) {
            LIST_REMOVE(l, entry);
            link_free(l);
        }
    }
}

/* ---- USSD: what the dialog service needs from the links ---------------- */

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

int ussd_send(void *ud, const char *link, struct smpp_pdu *pdu)
{
    struct daemon *d = ud;
    struct link *l = find_link(&d->links, link);
    if (!l || !l->e)
        return -1;
    return esme_send(l->e, pdu, on_ussd_sent, NULL);
}

/* ---- the outbox's view of the links ------------------------------------ */

#define ROUTE_MAX_LINKS 256

int outbox_route_cb(void *ud, const char *msisdn, struct outbox_route *r)
{
    struct daemon *d = ud;
    bool bound[ROUTE_MAX_LINKS] = { false };
    size_t n = d->cfg->smsc_count < ROUTE_MAX_LINKS ? d->cfg->smsc_count : ROUTE_MAX_LINKS;
    for (size_t i = 0; i < n; i++) {
        struct link *l = find_link(&d->links, d->cfg->smsc[i].name);
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
    struct link *l = find_link(&d->links, d->cfg->smsc[i].name);
    if (!l || !l->e)
        return -2;
    r->esme = l->e;
    r->link = l->name;
    r->split = link_split_mode(d->cfg->smsc[i].split);
    r->allow = 0;
    return 0;
}

int outbox_route_via_cb(void *ud, const char *link, const char *msisdn,
                        struct outbox_route *r)
{
    (void)msisdn;
    struct daemon *d = ud;
    struct link *l = find_link(&d->links, link);
    if (!l || !l->e)
        return -1;
    const struct config_smsc *s = link_entry(l);
    r->esme = l->e;
    r->link = l->name;
    r->split = link_split_mode(s ? s->split : CONFIG_SPLIT_UDH);
    r->allow = 0;
    return 0;
}

/* How many more messages the bound links can take soon. */
unsigned outbox_room_cb(void *ud)
{
    struct daemon *d = ud;
    unsigned total = 0;
    struct link *l;
    LIST_FOREACH(l, &d->links, entry) {
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
int api_ussd_notice(void *ud, const char *msisdn, const char *from,
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

/* The outbox's answer hook: a receipt's deferred deliver_sm_resp, on the
 * link of that name (active or retiring: a ticket is refused by any esme
 * but its own, so trying both is safe). */
void outbox_answer_cb(void *ud, const char *link, uint64_t ticket,
                      uint32_t status)
{
    struct daemon *d = ud;
    struct link_list *heads[2] = { &d->links, &d->retiring };
    struct link *l;
    for (int k = 0; k < 2; k++)
        LIST_FOREACH(l, heads[k], entry)
            if (l->e && strcmp(l->name, link) == 0 &&
                esme_answer(l->e, ticket, status) == 0)
                return;
}
