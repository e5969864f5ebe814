/*
 * smpp/sim/smsc.c — the SMSC side of SMPP 3.4 for kyzmat-smsc (see smsc.h).
 *
 * Design: one struct smsc on the caller's event_base.  Each accepted TCP
 * connection is a struct conn with an explicit state (OPEN -> BOUND ->
 * CLOSING -> DEAD, table below); the read callback cuts the stream into
 * PDUs (command_length is checked before anything is buffered) and
 * dispatches on (state, command_id).  Everything the SMSC remembers lives in
 * a few plain tables: accounts (credentials, counters, a FIFO of receipts
 * waiting for their delay), a ring of recent messages (for query_sm,
 * cancel_sm, replace_sm), partial long messages being reassembled
 * (smpp/sim/concat.c), USSD dialogs keyed by MSISDN (smpp/sim/ussd.c), and
 * the control port (smpp/sim/control.c), which hears every event.
 *
 * Connection states:
 *
 *   state    | accepts                                  | next
 *   ---------+------------------------------------------+---------------
 *   OPEN     | bind_*, enquire_link; other requests get | BOUND, CLOSING
 *            | ESME_RINVBNDSTS                          |
 *   BOUND    | submit_sm, data_sm, query_sm, cancel_sm, | CLOSING
 *            | replace_sm, enquire_link, unbind, resps  |
 *   CLOSING  | nothing (output drains, then DEAD)       | DEAD
 *   DEAD     | nothing; freed from the grave            | -
 *
 * Ownership: connections, dialogs and control clients are never freed in
 * their own callbacks: they are unlinked, marked dead and put in their
 * owner's grave (smpp/sim/loop.h), which frees them on the next loop
 * pass.  Observers may therefore call any smsc_* function (except
 * smsc_free) from inside an event.
 *
 * Receipts: a submit_sm asking for one queues a struct dlr on its account
 * (after --dlr-delay); a receipt the ESME does not acknowledge with
 * ESME_ROK (an error, no answer, the link lost) goes back on the queue and
 * is sent again a second later: a receipt is never dropped unanswered.
 *
 * TLS (issue 13 tls-smpp): with cfg.tls_cert the listener's connections
 * are bufferevent_openssl sockets in the accepting state, from one server
 * context made at start (base/tls); everything above the byte stream is
 * the same.  A failed handshake is logged with OpenSSL's reason.
 *
 * May call: smpp/pdu, smpp/frame, smpp/text, smpp/dialect, smpp/sim/{ussd, concat,
 * control, jsonw, log, loop}, base/utf8, base/clock, base/tls, libevent
 * (bufferevent_openssl), OpenSSL, libc.
 */
#include "smpp/sim/smsc.h"

#include "base/clock.h"
#include "base/tls.h"
#include "base/utf8.h"
#include "smpp/dialect.h"
#include "smpp/frame.h"
#include "smpp/pdu.h"
#include "smpp/sim/concat.h"
#include "smpp/sim/control.h"
#include "smpp/sim/jsonw.h"
#include "smpp/sim/log.h"
#include "smpp/sim/loop.h"
#include "smpp/sim/ussd.h"
#include "smpp/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* ------------------------------------------------------------------ */
/* Sizes                                                               */

#define MSG_RING      32768u   /* recent messages for query/cancel/replace */
#define OUT_RING      16384u   /* our outstanding requests per connection */
#define MO_MAX_PARTS  16       /* parts of one MO SMS from the control port */

/* ------------------------------------------------------------------ */
/* Types                                                               */

struct dlr {
    STAILQ_ENTRY(dlr) link;
    uint64_t due_ms;
    uint64_t msg_id;
    int fail;
    time_t submit_time;
    char src[22], dst[22];
    char text20[24];
};

STAILQ_HEAD(dlr_queue, dlr);

struct account {
    struct smsc *s;
    char id[16];
    char pw[9];
    uint64_t binds, bind_fail, submits, throttled, dlrs, violations;
    unsigned bound;
    struct dlr_queue dq;       /* receipts waiting for their time */
    struct event *dlr_ev;
};

enum msg_state { MS_NONE = 0, MS_ENROUTE = 1, MS_DELIVERED = 2,
                 MS_DELETED = 4, MS_UNDELIVERABLE = 5 };

struct msg {
    uint64_t id;               /* 0 = slot empty */
    uint8_t state;
    uint8_t err;
    time_t done;
    struct account *acct;
    char text20[24];
};

enum conn_state { CONN_OPEN = 0, CONN_BOUND, CONN_CLOSING, CONN_DEAD };
enum bind_kind { BIND_NONE = 0, BIND_TX, BIND_RX, BIND_TRX };

enum out_kind { OUT_NONE = 0, OUT_MO, OUT_DLR, OUT_USSD, OUT_ENQ };

struct outst {
    uint32_t seq;
    uint8_t kind;              /* enum out_kind; OUT_NONE = free slot */
    uint64_t tag;
    uint64_t sent_ms;
    struct dlr *dlr;           /* OUT_DLR: the receipt, owned here until the
                                  ESME acknowledges it (else sent again) */
};

struct dresp {                 /* a response held back by --resp-delay */
    STAILQ_ENTRY(dresp) link;
    uint64_t due_ms;
    size_t len;
    uint8_t data[];
};

struct conn {
    LIST_ENTRY(conn) link;     /* s->conns while alive */
    struct sim_dead gone;      /* in s->grave once dead */
    struct smsc *s;
    unsigned id;
    struct bufferevent *bev;
    enum conn_state st;
    enum bind_kind bind;
    struct account *acct;
    char peer[64];
    char tag[24];              /* log tag: system_id once bound, else peer */
    uint32_t seq;
    struct outst *out;         /* OUT_RING slots, allocated on first send */
    unsigned n_out;
    int enq_pending;
    unsigned unanswered;       /* ESME requests we have not answered yet */
    STAILQ_HEAD(, dresp) dq;   /* held responses, in order */
    struct event *idle_ev, *tick_ev, *dq_ev;
};

LIST_HEAD(conn_list, conn);

struct smsc {
    struct event_base *base;
    struct smsc_config cfg;
    char listen_host[64], control_host[64];
    struct account accounts[SMSC_MAX_ACCOUNTS];
    size_t n_accounts;

    struct evconnlistener *lst;
    uint16_t smpp_port;
    SSL_CTX *tls;              /* issue 13 tls-smpp: NULL = plain TCP */
    struct sim_ctl *ctl;       /* the control port, or NULL */

    struct conn_list conns;
    struct sim_grave grave;    /* dead connections, freed next loop pass */
    unsigned next_conn_id;
    unsigned rr;               /* round robin over receivers */
    struct sim_ussd ussd;      /* the USSD network */
    struct sim_concat concat;  /* long MT messages being reassembled */
    struct msg *msgs;          /* MSG_RING */
    uint64_t next_id;
    uint8_t next_ref;
    uint64_t rng;

    smsc_event_fn *obs;
    void *obs_arg;
    int refuse_binds;
    int quit;

    uint64_t binds, bind_fail, submits, throttled, dlrs, dlrs_again, violations, mo,
             nacks_out, throttle_count;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static void copy_str(char *dst, size_t cap, const char *src)
{
    if (!src)
        src = "";
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The timer ev fires at due (CLOCK_MONOTONIC ms), or now when that is past. */
static void arm_at(struct event *ev, uint64_t due)
{
    uint64_t t = kz_mono_ms();
    struct timeval tv = sim_tv_ms(due > t ? due - t : 0);
    evtimer_add(ev, &tv);
}

/* xorshift64*: the simulator's dice for --dlr-fail-ratio. */
static double rng_unit(struct smsc *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void format_id(uint64_t id, enum smsc_id_format f, char *out, size_t cap)
{
    if (f == SMSC_ID_HEX)
        snprintf(out, cap, "%llx", (unsigned long long)id);
    else
        snprintf(out, cap, "%llu", (unsigned long long)id);
}

static int parse_id(const char *str, enum smsc_id_format f, uint64_t *out)
{
    if (!str || !*str)
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(str, &end, f == SMSC_ID_HEX ? 16 : 10);
    if (errno || *end || str[0] == '-' || str[0] == '+')
        return -1;
    *out = v;
    return 0;
}

static void fmt_date(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%02d%02d%02d%02d%02d", tm.tm_year % 100,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
    copy_str(out, cap, tmp);
}

void smsc_escape_line(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (; in && *in; in++) {
        const char *rep = NULL;
        char one[2] = { *in, 0 };
        switch (*in) {
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        default: rep = one; break;
        }
        size_t n = strlen(rep);
        if (o + n >= cap)
            break;
        memcpy(out + o, rep, n);
        o += n;
    }
    out[o] = '\0';
}

void smsc_unescape_line(char *str)
{
    char *w = str;
    for (const char *r = str; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 'r' ? '\r' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

int smsc_dial_service(const char *dial, char *out, size_t cap)
{
    size_t n = dial ? strlen(dial) : 0;
    if (n < 3 || (dial[0] != '*' && dial[0] != '#') || dial[n - 1] != '#')
        return -1;
    if (strspn(dial, "0123456789*#") != n)
        return -1;
    const char *p = dial + strspn(dial, "*#");
    size_t k = strspn(p, "0123456789");
    if (k == 0 || k >= cap)
        return -1;
    memcpy(out, p, k);
    out[k] = '\0';
    return 0;
}

/* First 20 characters of text, non-ASCII as '?', for a receipt's text:. */
static void text20(const char *utf8, char *out, size_t cap)
{
    const uint8_t *u = (const uint8_t *)utf8;
    size_t o = 0, len = strlen(utf8), i = 0;
    for (unsigned chars = 0; i < len && chars < 20 && o + 1 < cap; chars++) {
        uint32_t cp;
        i += kz_utf8_next_lossy(u + i, len - i, &cp);
        out[o++] = cp >= 0x80 ? '?' : cp >= 0x20 ? (char)cp : ' ';
    }
    out[o] = '\0';
}

/* Observer + control port ------------------------------------------- */

void smsc_emit(struct smsc *s, const struct smsc_event *ev)
{
    if (s->ctl)
        sim_ctl_event(s->ctl, ev);
    if (s->obs)
        s->obs(s->obs_arg, ev);
}

/* ------------------------------------------------------------------ */
/* Deferred frees                                                      */

static void conn_free_now(struct conn *c)
{
    sim_event_free(&c->idle_ev);
    sim_event_free(&c->tick_ev);
    sim_event_free(&c->dq_ev);
    sim_bev_free(&c->bev);
    struct dresp *d;
    while ((d = STAILQ_FIRST(&c->dq))) {
        STAILQ_REMOVE_HEAD(&c->dq, link);
        free(d);
    }
    for (unsigned i = 0; c->out && i < OUT_RING; i++)
        free(c->out[i].dlr);
    free(c->out);
    free(c);
}

static void conn_bury(struct sim_dead *d)
{
    conn_free_now(SIM_OWNER(d, struct conn, gone));
}

/* ------------------------------------------------------------------ */
/* Connections: writing                                                */

static void conn_kill(struct conn *c, const char *why);

static int conn_write_pdu(struct conn *c, struct smpp_pdu *p)
{
    uint8_t buf[8192];
    struct smpp_err e;
    int n = smpp_pdu_encode(p, buf, sizeof buf, &e);
    if (n < 0) {
        sim_log(&c->s->cfg, SIM_LOG_ERR, c->tag, "cannot encode %s: %s",
                smpp_command_name(p->command_id), e.text);
        return -1;
    }
    sim_log(&c->s->cfg, SIM_LOG_DEBUG, c->tag, "> %s seq=%u status=0x%02x len=%d",
            smpp_command_name(p->command_id), p->sequence_number,
            p->command_status, n);
    if (bufferevent_write(c->bev, buf, (size_t)n) != 0)
        return -1;
    return 0;
}

static void send_nack(struct conn *c, uint32_t status, uint32_t seq)
{
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_GENERIC_NACK, status, seq);
    c->s->nacks_out++;
    conn_write_pdu(c, &p);
}

static void dq_arm(struct conn *c)
{
    if (!STAILQ_EMPTY(&c->dq))
        arm_at(c->dq_ev, STAILQ_FIRST(&c->dq)->due_ms);
}

static void dq_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    uint64_t t = kz_mono_ms();
    struct dresp *d;
    while ((d = STAILQ_FIRST(&c->dq)) && d->due_ms <= t && c->st != CONN_DEAD) {
        STAILQ_REMOVE_HEAD(&c->dq, link);
        bufferevent_write(c->bev, d->data, d->len);
        if (c->unanswered)
            c->unanswered--;
        free(d);
    }
    dq_arm(c);
}

/* Send the response to an ESME request, now or after --resp-delay (only
 * submit_sm / data_sm responses are delayed, in order). */
static void send_resp(struct conn *c, struct smpp_pdu *p, int delayable)
{
    if (!delayable || c->s->cfg.resp_delay_ms == 0) {
        conn_write_pdu(c, p);
        if (c->unanswered)
            c->unanswered--;
        return;
    }
    uint8_t buf[1024];
    struct smpp_err e;
    int n = smpp_pdu_encode(p, buf, sizeof buf, &e);
    if (n < 0) {
        sim_log(&c->s->cfg, SIM_LOG_ERR, c->tag, "cannot encode response: %s", e.text);
        return;
    }
    struct dresp *d = malloc(sizeof *d + (size_t)n);
    if (!d)
        return;
    d->due_ms = kz_mono_ms() + c->s->cfg.resp_delay_ms;
    d->len = (size_t)n;
    memcpy(d->data, buf, (size_t)n);
    sim_log(&c->s->cfg, SIM_LOG_DEBUG, c->tag, "> %s seq=%u held %u ms",
            smpp_command_name(p->command_id), p->sequence_number,
            c->s->cfg.resp_delay_ms);
    int was_empty = STAILQ_EMPTY(&c->dq);
    STAILQ_INSERT_TAIL(&c->dq, d, link);
    if (was_empty)
        dq_arm(c);
}

/* Send one of our own requests, remembering it for the response. */
static int send_request(struct conn *c, struct smpp_pdu *p, enum out_kind kind,
                        uint64_t tag)
{
    if (!c->out) {
        c->out = calloc(OUT_RING, sizeof *c->out);
        if (!c->out)
            return -1;
    }
    uint32_t seq = c->seq + 1;
    if (seq > 0x7FFFFFFFu)
        seq = 1;
    struct outst *o = &c->out[seq % OUT_RING];
    if (o->kind != OUT_NONE)
        return -1;             /* OUT_RING requests unanswered: window full */
    c->seq = seq;
    p->sequence_number = seq;
    if (conn_write_pdu(c, p) != 0)
        return -1;
    o->seq = seq;
    o->kind = (uint8_t)kind;
    o->tag = tag;
    o->sent_ms = kz_mono_ms();
    c->n_out++;
    return 0;
}

static void dlr_arm(struct account *a);

/* Queue receipt d on account a, due at due_ms. */
static void dlr_enqueue(struct account *a, struct dlr *d, uint64_t due_ms)
{
    d->due_ms = due_ms;
    int was_empty = STAILQ_EMPTY(&a->dq);
    STAILQ_INSERT_TAIL(&a->dq, d, link);
    if (was_empty)
        dlr_arm(a);
}

/*
 * A receipt the ESME did not acknowledge (an error status, no answer, the
 * link lost) goes back on its account's queue and is sent again in a
 * second, as a real SMSC retries: a receipt is never dropped unanswered.
 */
static void dlr_again(struct conn *c, struct dlr *d, uint32_t status)
{
    struct account *a = c->acct;
    if (!a) {
        free(d);
        return;
    }
    d->due_ms = kz_mono_ms() + 1000;
    STAILQ_INSERT_TAIL(&a->dq, d, link);
    c->s->dlrs_again++;
    sim_log(&c->s->cfg, SIM_LOG_INFO, c->tag, "receipt for message %llu not acknowledged "
            "(0x%08x): sending it again in 1 s", (unsigned long long)d->msg_id, status);
    dlr_arm(a);
}

/* Outstanding request finished (response, timeout or link lost). */
static void out_done(struct conn *c, struct outst *o, uint32_t status)
{
    uint8_t kind = o->kind;
    uint64_t tag = o->tag;
    struct dlr *d = o->dlr;
    o->dlr = NULL;
    o->kind = OUT_NONE;
    c->n_out--;
    if (kind == OUT_DLR && d) {
        if (status == 0)
            free(d);
        else
            dlr_again(c, d, status);
        return;
    }
    if (kind == OUT_ENQ) {
        c->enq_pending = 0;
        return;
    }
    if (kind == OUT_MO) {
        struct smsc_event ev = { .kind = SMSC_EV_DELIVER_RESP,
                                 .system_id = c->acct ? c->acct->id : NULL,
                                 .tag = tag, .status = status, .text = "" };
        smsc_emit(c->s, &ev);
    }
}

/* ------------------------------------------------------------------ */
/* Connections: life cycle                                             */

/* Close now (output not flushed).  Safe anywhere; the free is deferred. */
static void conn_kill(struct conn *c, const char *why)
{
    struct smsc *s = c->s;
    if (c->st == CONN_DEAD)
        return;
    int was_bound = c->st == CONN_BOUND ||
                    (c->st == CONN_CLOSING && c->bind != BIND_NONE);
    c->st = CONN_DEAD;
    LIST_REMOVE(c, link);
    sim_grave_put(&s->grave, &c->gone, conn_bury);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_del(c->idle_ev);
    event_del(c->tick_ev);
    event_del(c->dq_ev);
    sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "connection closed (%s)", why);
    if (c->acct && c->bind != BIND_NONE && c->acct->bound)
        c->acct->bound--;
    if (c->out && c->n_out) {
        for (unsigned i = 0; i < OUT_RING && c->n_out; i++)
            if (c->out[i].kind != OUT_NONE)
                out_done(c, &c->out[i], SMSC_STATUS_LINK_LOST);
    }
    if (was_bound) {
        struct smsc_event ev = { .kind = SMSC_EV_CLOSE,
                                 .system_id = c->acct ? c->acct->id : NULL,
                                 .text = why };
        smsc_emit(s, &ev);
    }
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (c->st == CONN_CLOSING)
        conn_kill(c, "closed after flush");
}

/* Stop reading; close once everything written has left. */
static void conn_close_after_flush(struct conn *c, const char *why)
{
    if (c->st == CONN_DEAD || c->st == CONN_CLOSING)
        return;
    sim_log(&c->s->cfg, SIM_LOG_DEBUG, c->tag, "closing: %s", why);
    /* Held responses go out first. */
    struct dresp *d;
    while ((d = STAILQ_FIRST(&c->dq))) {
        STAILQ_REMOVE_HEAD(&c->dq, link);
        bufferevent_write(c->bev, d->data, d->len);
        free(d);
    }
    c->st = CONN_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_kill(c, why);
}

static void idle_arm(struct conn *c)
{
    if (c->s->cfg.enquire_link_s == 0)
        return;
    struct timeval tv = { (time_t)c->s->cfg.enquire_link_s, 0 };
    evtimer_add(c->idle_ev, &tv);
}

static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->st != CONN_BOUND && c->st != CONN_OPEN)
        return;
    if (c->enq_pending) {
        conn_kill(c, "no enquire_link_resp");
        return;
    }
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_ENQUIRE_LINK, 0, 0);
    if (send_request(c, &p, OUT_ENQ, 0) == 0)
        c->enq_pending = 1;
    idle_arm(c);
}

/* Once a second while requests are outstanding: time them out. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (!c->out || !c->n_out || c->st == CONN_DEAD)
        return;
    uint64_t t = kz_mono_ms();
    unsigned limit = c->s->cfg.resp_timeout_ms;
    for (unsigned i = 0; i < OUT_RING && c->st != CONN_DEAD; i++) {
        struct outst *o = &c->out[i];
        if (o->kind != OUT_NONE && o->kind != OUT_ENQ &&
            t - o->sent_ms >= limit) {
            sim_log(&c->s->cfg, SIM_LOG_INFO, c->tag, "no response to seq=%u in %u ms",
                    o->seq, limit);
            out_done(c, o, SMSC_STATUS_TIMEOUT);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Receivers and accounts                                              */

static struct account *find_account(struct smsc *s, const char *id)
{
    for (size_t i = 0; i < s->n_accounts; i++)
        if (strcmp(s->accounts[i].id, id) == 0)
            return &s->accounts[i];
    return NULL;
}

static int can_receive(const struct conn *c)
{
    return c->st == CONN_BOUND && (c->bind == BIND_RX || c->bind == BIND_TRX);
}

/* A receiver: the one with id `prefer` if still there, else round robin;
 * only of account `acct` when acct is not NULL. */
static struct conn *pick_receiver(struct smsc *s, struct account *acct,
                                  unsigned prefer)
{
    unsigned n = 0;
    struct conn *c;
    LIST_FOREACH(c, &s->conns, link) {
        if (!can_receive(c) || (acct && c->acct != acct))
            continue;
        if (prefer && c->id == prefer)
            return c;
        n++;
    }
    if (n == 0)
        return NULL;
    unsigned k = s->rr++ % n;
    LIST_FOREACH(c, &s->conns, link) {
        if (!can_receive(c) || (acct && c->acct != acct))
            continue;
        if (k-- == 0)
            return c;
    }
    return NULL;
}

unsigned smsc_receivers(const struct smsc *s)
{
    unsigned n = 0;
    const struct conn *c;
    LIST_FOREACH(c, &s->conns, link)
        n += can_receive(c) ? 1u : 0u;
    return n;
}

unsigned smsc_bound(const struct smsc *s)
{
    unsigned n = 0;
    const struct conn *c;
    LIST_FOREACH(c, &s->conns, link)
        n += c->st == CONN_BOUND ? 1u : 0u;
    return n;
}

int smsc_send_ussd(struct smsc *s, unsigned prefer, struct smpp_pdu *p,
                   unsigned *conn_id, const char **tag, char *err,
                   size_t errlen)
{
    struct conn *c = pick_receiver(s, NULL, prefer);
    if (!c) {
        snprintf(err, errlen, "no bound receiver");
        return -1;
    }
    if (send_request(c, p, OUT_USSD, 0) != 0) {
        snprintf(err, errlen, "cannot send deliver_sm");
        return -1;
    }
    *conn_id = c->id;
    *tag = c->tag;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Delivery receipts                                                   */

static struct msg *msg_find(struct smsc *s, uint64_t id)
{
    struct msg *m = &s->msgs[id % MSG_RING];
    return m->id == id ? m : NULL;
}

static void dlr_arm(struct account *a)
{
    if (!STAILQ_EMPTY(&a->dq))
        arm_at(a->dlr_ev, STAILQ_FIRST(&a->dq)->due_ms);
}

/* Build and send one receipt to conn c; the outstanding request then owns
 * d (see out_done).  Returns 0 or -1 (d still the caller's). */
static int dlr_send(struct smsc *s, struct conn *c, struct dlr *d)
{
    char id[32], sub_date[16], done_date[16], body[256];
    format_id(d->msg_id, s->cfg.dlr_id_format, id, sizeof id);
    fmt_date(d->submit_time, sub_date, sizeof sub_date);
    fmt_date(time(NULL), done_date, sizeof done_date);
    int n = snprintf(body, sizeof body,
                     "id:%s sub:001 dlvrd:%s submit date:%s done date:%s "
                     "stat:%s err:%s text:%s",
                     id, d->fail ? "000" : "001", sub_date, done_date,
                     d->fail ? "UNDELIV" : "DELIVRD", d->fail ? "001" : "000",
                     d->text20);
    if (n < 0 || n > SMPP_SM_MAX)
        n = SMPP_SM_MAX;
    struct smpp_pdu p;
    smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 0);
    p.source_addr_ton = 1;
    p.source_addr_npi = 1;
    p.source_addr = d->dst;          /* the receipt comes from the phone */
    p.dest_addr_ton = 1;
    p.dest_addr_npi = 1;
    p.destination_addr = d->src;
    p.esm_class = 0x04;
    p.data_coding = 0;
    p.sm_length = (uint8_t)n;
    p.short_message = (const uint8_t *)body;
    static const uint8_t nec[3] = { 3, 0x00, 0x01 };   /* GSM, error 1 */
    smpp_pdu_set_bytes(&p, SMPP_TLV_RECEIPTED_MESSAGE_ID, id,
                       (uint16_t)(strlen(id) + 1));
    smpp_pdu_set_u8(&p, SMPP_TLV_MESSAGE_STATE,
                    d->fail ? MS_UNDELIVERABLE : MS_DELIVERED);
    if (d->fail)
        smpp_pdu_set_bytes(&p, SMPP_TLV_NETWORK_ERROR_CODE, nec, 3);
    if (send_request(c, &p, OUT_DLR, d->msg_id) != 0)
        return -1;
    c->out[c->seq % OUT_RING].dlr = d;
    s->dlrs++;
    c->acct->dlrs++;
    sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "receipt id:%s stat:%s -> %s", id,
            d->fail ? "UNDELIV" : "DELIVRD", d->src);
    return 0;
}

static void dlr_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct account *a = arg;
    struct smsc *s = a->s;
    uint64_t t = kz_mono_ms();
    struct timeval sec = { 1, 0 };
    struct dlr *d;
    while ((d = STAILQ_FIRST(&a->dq)) && d->due_ms <= t) {
        struct msg *m = msg_find(s, d->msg_id);
        if (m && m->state == MS_DELETED) {
            /* cancelled in the meantime: nothing to report */
            STAILQ_REMOVE_HEAD(&a->dq, link);
            free(d);
            continue;
        }
        struct conn *c = pick_receiver(s, a, 0);
        if (!c) {
            /* No receiver bound: keep it, look again in a second (or as
             * soon as a receiver binds). */
            evtimer_add(a->dlr_ev, &sec);
            return;
        }
        if (m) {
            m->state = d->fail ? MS_UNDELIVERABLE : MS_DELIVERED;
            m->err = d->fail ? 1 : 0;
            m->done = time(NULL);
            copy_str(d->text20, sizeof d->text20, m->text20);
        }
        STAILQ_REMOVE_HEAD(&a->dq, link);  /* off the queue before sending: */
        if (dlr_send(s, c, d) != 0) {      /* a failed answer may requeue it */
            STAILQ_INSERT_HEAD(&a->dq, d, link);  /* back at the head, try in 1 s */
            evtimer_add(a->dlr_ev, &sec);
            return;
        }
    }
    dlr_arm(a);
}

/* ------------------------------------------------------------------ */
/* USSD: the network side lives in ussd.c                              */

int smsc_ussd(struct smsc *s, const char *msisdn, const char *service,
              const char *text, char *err, size_t errlen)
{
    return sim_ussd_input(&s->ussd, msisdn, service, text, err, errlen);
}

int smsc_ussd_abort(struct smsc *s, const char *msisdn, char *err,
                    size_t errlen)
{
    return sim_ussd_abort(&s->ussd, msisdn, err, errlen);
}

int smsc_ussd_session(const struct smsc *s, const char *msisdn)
{
    return sim_ussd_session(&s->ussd, msisdn);
}

char *smsc_ussd_log_json(const struct smsc *s, const char *msisdn)
{
    return sim_ussd_log_json(&s->ussd, msisdn);
}

/* ------------------------------------------------------------------ */
/* MO SMS                                                              */

int smsc_mo(struct smsc *s, const char *from, const char *to,
            const char *utf8, uint64_t tag, char *err, size_t errlen)
{
    if (!from || !*from || strlen(from) > 20 || !to || !*to ||
        strlen(to) > 20) {
        snprintf(err, errlen, "bad address");
        return -1;
    }
    if (!utf8)
        utf8 = "";
    struct smpp_text_choice ch;
    struct smpp_text_part parts[MO_MAX_PARTS];
    size_t n_parts = 0, len = strlen(utf8), off = 0;
    int rc = smpp_text_choose((const uint8_t *)utf8, len, 0, &ch, &off);
    if (rc == SMPP_TEXT_OK) {
        struct smpp_text_split_req req = { .enc = ch.enc,
                                           .mode = SMPP_SPLIT_UDH8,
                                           .ref = s->next_ref++ };
        rc = smpp_text_split((const uint8_t *)utf8, len, &req, parts,
                             MO_MAX_PARTS, &n_parts, &off);
    }
    if (rc != SMPP_TEXT_OK) {
        snprintf(err, errlen, "text: %s at byte %zu", smpp_text_strerror(rc),
                 off);
        return -1;
    }
    uint8_t dc = (uint8_t)smpp_text_enc_dcs(ch.enc);
    struct conn *c = pick_receiver(s, NULL, 0);
    if (!c) {
        snprintf(err, errlen, "no bound receiver");
        return -1;
    }
    for (size_t i = 0; i < n_parts; i++) {
        struct smpp_pdu p;
        smpp_pdu_reset(&p, SMPP_DELIVER_SM, 0, 0);
        p.source_addr_ton = 1;
        p.source_addr_npi = 1;
        p.source_addr = from;
        p.destination_addr = to;
        p.esm_class = parts[i].udh_len ? 0x40 : 0;
        p.data_coding = dc;
        p.sm_length = (uint8_t)parts[i].len;
        p.short_message = parts[i].data;
        if (send_request(c, &p, OUT_MO, tag) != 0) {
            snprintf(err, errlen, "cannot send deliver_sm (window full?)");
            return i ? (int)i : -1;
        }
        s->mo++;
    }
    if (sim_log_on(&s->cfg, SIM_LOG_INFO)) {
        char esc[512];
        smsc_escape_line(utf8, esc, sizeof esc);
        sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "mo %s -> %s (%zu part%s, dc %u): \"%s\"",
                from, to, n_parts, n_parts == 1 ? "" : "s", dc, esc);
    }
    return (int)n_parts;
}

/* ------------------------------------------------------------------ */
/* Handling ESME requests                                              */

static void handle_bind(struct conn *c, const struct smpp_pdu *req)
{
    struct smsc *s = c->s;
    struct smpp_pdu r;
    uint32_t st = ESME_ROK;
    const char *sid = req->system_id ? req->system_id : "";
    struct account *a = NULL;
    if (c->st == CONN_BOUND)
        st = ESME_RALYBND;
    else if (s->refuse_binds)
        st = ESME_RBINDFAIL;
    else if (!(a = find_account(s, sid)))
        st = ESME_RINVSYSID;
    else if (strcmp(a->pw, req->password ? req->password : "") != 0)
        st = ESME_RINVPASWD;
    smpp_pdu_reset(&r, smpp_resp_id(req->command_id), st, req->sequence_number);
    r.system_id = "kyzmat-smsc";
    const char *kind = req->command_id == SMPP_BIND_TRANSCEIVER ? "bind_transceiver"
                     : req->command_id == SMPP_BIND_RECEIVER ? "bind_receiver"
                     : "bind_transmitter";
    if (st != ESME_ROK) {
        s->bind_fail++;
        if (a)
            a->bind_fail++;
        char tag[sizeof c->peer];
        snprintf(tag, sizeof tag, "%s", *sid ? sid : c->peer);
        sim_log(&s->cfg, SIM_LOG_INFO, tag, "%s refused: 0x%02x %s", kind, st,
                smpp_status_name(st) ? smpp_status_name(st) : "");
        send_resp(c, &r, 0);
        return;
    }
    smpp_pdu_set_u8(&r, SMPP_TLV_SC_INTERFACE_VERSION, 0x34);
    send_resp(c, &r, 0);
    c->st = CONN_BOUND;
    c->acct = a;
    c->bind = req->command_id == SMPP_BIND_TRANSCEIVER ? BIND_TRX
            : req->command_id == SMPP_BIND_RECEIVER ? BIND_RX : BIND_TX;
    copy_str(c->tag, sizeof c->tag, a->id);
    a->binds++;
    a->bound++;
    s->binds++;
    sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "%s ok (%s)", kind, c->peer);
    if (c->bind != BIND_TX && !STAILQ_EMPTY(&a->dq))
        event_active(a->dlr_ev, EV_TIMEOUT, 0);   /* receipts waited for us */
    struct smsc_event ev = { .kind = SMSC_EV_BIND, .system_id = a->id,
                             .text = kind };
    smsc_emit(s, &ev);
}

/* Queue the receipt req asks for (registered_delivery 1, or 2 when the
 * dice say the message failed); else the message is settled now. */
static void mt_receipt(struct smsc *s, struct account *a,
                       const struct smpp_pdu *req, struct msg *m,
                       const char *src, const char *dst)
{
    uint8_t rd = req->registered_delivery & 3;
    int fail = s->cfg.dlr_fail_ratio > 0 && rng_unit(s) < s->cfg.dlr_fail_ratio;
    if (rd == 1 || (rd == 2 && fail)) {
        struct dlr *d = calloc(1, sizeof *d);
        if (!d)
            return;
        d->msg_id = m->id;
        d->fail = fail;
        d->submit_time = time(NULL);
        copy_str(d->src, sizeof d->src, src);
        copy_str(d->dst, sizeof d->dst, dst);
        copy_str(d->text20, sizeof d->text20, m->text20);
        dlr_enqueue(a, d, kz_mono_ms() + s->cfg.dlr_delay_ms);
    } else if (m->state == MS_ENROUTE) {
        m->state = fail ? MS_UNDELIVERABLE : MS_DELIVERED;
        m->done = time(NULL);
    }
}

/* An MT SMS accepted as message id (idstr): its text (reassembled when
 * it is a segment), its record for query/cancel/replace, the event, and
 * its receipt. */
static void mt_sms(struct conn *c, const struct smpp_pdu *req, uint64_t id,
                   const char *idstr)
{
    struct smsc *s = c->s;
    struct account *a = c->acct;
    char text[SMSC_TEXT_MAX];
    int full = sim_concat_text(&s->concat, a->id, req, text, sizeof text);
    const char *src = req->source_addr ? req->source_addr : "";
    const char *dst = req->destination_addr ? req->destination_addr : "";
    if (full < 0)
        sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "sms %s -> %s: bad UDH / segment",
                src, dst);
    struct msg *m = &s->msgs[id % MSG_RING];
    memset(m, 0, sizeof *m);
    m->id = id;
    m->state = MS_ENROUTE;
    m->acct = a;
    text20(full == 1 ? text : "", m->text20, sizeof m->text20);
    if (full == 1) {
        char esc[SMSC_TEXT_MAX * 2];
        smsc_escape_line(text, esc, sizeof esc);
        sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "sms %s -> %s id:%s: \"%s\"", src, dst,
                idstr, esc);
        struct smsc_event ev = { .kind = SMSC_EV_SMS, .system_id = a->id,
                                 .from = src, .to = dst, .text = text };
        smsc_emit(s, &ev);
    } else {
        sim_log(&s->cfg, SIM_LOG_DEBUG, c->tag, "sms %s -> %s id:%s: segment kept", src,
                dst, idstr);
    }
    mt_receipt(s, a, req, m, src, dst);
}

static void handle_submit(struct conn *c, const struct smpp_pdu *req)
{
    struct smsc *s = c->s;
    struct account *a = c->acct;
    struct smpp_pdu r;
    uint32_t resp_id = smpp_resp_id(req->command_id);
    s->submits++;
    a->submits++;
    if (s->cfg.throttle_every &&
        ++s->throttle_count % s->cfg.throttle_every == 0) {
        s->throttled++;
        a->throttled++;
        smpp_pdu_reset(&r, resp_id, ESME_RTHROTTLED, req->sequence_number);
        sim_log(&s->cfg, SIM_LOG_DEBUG, c->tag, "throttled seq=%u", req->sequence_number);
        send_resp(c, &r, 1);
        return;
    }
    int is_ussd = (req->service_type && strcmp(req->service_type, "USSD") == 0) ||
                  smpp_tlv_find(req, SMPP_TLV_USSD_SERVICE_OP) != NULL;
    uint64_t id = s->next_id++;
    char idstr[32];
    format_id(id, s->cfg.id_format, idstr, sizeof idstr);
    smpp_pdu_reset(&r, resp_id, ESME_ROK, req->sequence_number);
    r.message_id = idstr;
    send_resp(c, &r, 1);
    if (is_ussd)
        sim_ussd_mt(&s->ussd, req, c->id, c->tag, a->id);
    else
        mt_sms(c, req, id, idstr);
}

static void handle_query(struct conn *c, const struct smpp_pdu *req)
{
    struct smsc *s = c->s;
    struct smpp_pdu r;
    uint64_t id;
    struct msg *m = NULL;
    if (parse_id(req->message_id, s->cfg.id_format, &id) == 0)
        m = msg_find(s, id);
    if (!m || m->acct != c->acct) {
        smpp_pdu_reset(&r, SMPP_QUERY_SM_RESP, ESME_RQUERYFAIL,
                      req->sequence_number);
        r.message_id = req->message_id;
        send_resp(c, &r, 0);
        return;
    }
    char date[80] = "";
    if (m->state != MS_ENROUTE) {
        /* YYMMDDhhmmsstnnp, UTC: t = tenths, nn = quarter hours, p = + */
        struct tm tm;
        gmtime_r(&m->done, &tm);
        snprintf(date, sizeof date, "%02d%02d%02d%02d%02d%02d000+",
                 tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    }
    smpp_pdu_reset(&r, SMPP_QUERY_SM_RESP, ESME_ROK, req->sequence_number);
    r.message_id = req->message_id;
    r.final_date = date;
    r.message_state = m->state;
    r.error_code = m->err;
    send_resp(c, &r, 0);
}

static void handle_cancel_replace(struct conn *c, const struct smpp_pdu *req)
{
    struct smsc *s = c->s;
    struct smpp_pdu r;
    int cancel = req->command_id == SMPP_CANCEL_SM;
    uint64_t id;
    struct msg *m = NULL;
    if (parse_id(req->message_id, s->cfg.id_format, &id) == 0)
        m = msg_find(s, id);
    uint32_t st = ESME_ROK;
    if (!m || m->acct != c->acct || m->state != MS_ENROUTE) {
        st = cancel ? ESME_RCANCELFAIL : ESME_RREPLACEFAIL;
    } else if (cancel) {
        m->state = MS_DELETED;
        m->done = time(NULL);
    } else {
        char text[SMSC_TEXT_MAX];
        sim_sm_to_utf8(0, req->short_message, req->sm_length, text, sizeof text);
        text20(text, m->text20, sizeof m->text20);
    }
    sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "%s %s: %s",
            cancel ? "cancel_sm" : "replace_sm",
            req->message_id ? req->message_id : "",
            st == ESME_ROK ? "ok" : "refused");
    smpp_pdu_reset(&r, smpp_resp_id(req->command_id), st, req->sequence_number);
    send_resp(c, &r, 0);
}

static void handle_resp(struct conn *c, const struct smpp_pdu *p)
{
    if (!c->out)
        return;
    struct outst *o = &c->out[p->sequence_number % OUT_RING];
    if (o->kind == OUT_NONE || o->seq != p->sequence_number) {
        sim_log(&c->s->cfg, SIM_LOG_DEBUG, c->tag, "%s seq=%u matches nothing",
                smpp_command_name(p->command_id), p->sequence_number);
        return;
    }
    if (p->command_status != ESME_ROK)
        sim_log(&c->s->cfg, SIM_LOG_INFO, c->tag, "%s seq=%u status 0x%02x",
                smpp_command_name(p->command_id), p->sequence_number,
                p->command_status);
    out_done(c, o, p->command_status);
}

static void handle_session(struct conn *c, const struct smpp_pdu *p);

static void handle_pdu(struct conn *c, const uint8_t *buf, size_t len)
{
    struct smsc *s = c->s;
    struct smpp_pdu p;
    struct smpp_err e;
    struct smpp_limits lim = { .max_len = s->cfg.max_pdu_len };
    memset(&p, 0, sizeof p);
    memset(&e, 0, sizeof e);
    if (smpp_pdu_decode(&p, buf, len, &lim, &e) != 0) {
        sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "bad %s seq=%u: %s -> generic_nack",
                smpp_command_name(p.command_id), p.sequence_number, e.text);
        send_nack(c, e.status ? e.status : ESME_RSYSERR, p.sequence_number);
        return;
    }
    sim_log(&s->cfg, SIM_LOG_DEBUG, c->tag, "< %s seq=%u status=0x%02x len=%u",
            smpp_command_name(p.command_id), p.sequence_number, p.command_status,
            p.command_length);
    idle_arm(c);
    if (SMPP_IS_RESP(p.command_id)) {
        if (p.command_id == SMPP_GENERIC_NACK)
            sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "generic_nack seq=%u status 0x%02x",
                    p.sequence_number, p.command_status);
        handle_resp(c, &p);
        return;
    }
    struct smpp_pdu r;
    switch (p.command_id) {
    case SMPP_BIND_TRANSCEIVER:
    case SMPP_BIND_TRANSMITTER:
    case SMPP_BIND_RECEIVER:
        handle_bind(c, &p);
        return;
    case SMPP_ENQUIRE_LINK:
        smpp_pdu_reset(&r, SMPP_ENQUIRE_LINK_RESP, ESME_ROK, p.sequence_number);
        send_resp(c, &r, 0);
        return;
    case SMPP_SUBMIT_SM:
    case SMPP_DATA_SM:
    case SMPP_QUERY_SM:
    case SMPP_CANCEL_SM:
    case SMPP_REPLACE_SM:
    case SMPP_UNBIND:
        handle_session(c, &p);
        return;
    default:
        sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "%s not accepted -> generic_nack",
                smpp_command_name(p.command_id));
        send_nack(c, ESME_RINVCMDID, p.sequence_number);
        return;
    }
}

/* submit_sm, data_sm, query_sm, cancel_sm, replace_sm, unbind: only when
 * bound for it (a receiver may only unbind). */
static void handle_session(struct conn *c, const struct smpp_pdu *p)
{
    struct smsc *s = c->s;
    struct smpp_pdu r;
    uint32_t resp_id = smpp_resp_id(p->command_id);
    if (c->st != CONN_BOUND ||
        (c->bind == BIND_RX && p->command_id != SMPP_UNBIND)) {
        sim_log(&s->cfg, SIM_LOG_INFO, c->tag,
                "%s while not bound for it -> ESME_RINVBNDSTS",
                smpp_command_name(p->command_id));
        smpp_pdu_reset(&r, resp_id, ESME_RINVBNDSTS, p->sequence_number);
        send_resp(c, &r, 0);
        return;
    }
    if (p->command_id == SMPP_UNBIND) {
        smpp_pdu_reset(&r, SMPP_UNBIND_RESP, ESME_ROK, p->sequence_number);
        send_resp(c, &r, 0);
        sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "unbind");
        conn_close_after_flush(c, "unbind");
        return;
    }
    c->unanswered++;
    if (s->cfg.window_check && c->unanswered > s->cfg.window_check) {
        s->violations++;
        c->acct->violations++;
        sim_log(&s->cfg, SIM_LOG_INFO, c->tag,
                "window violation: %u requests unanswered (limit %u)",
                c->unanswered, s->cfg.window_check);
    }
    switch (p->command_id) {
    case SMPP_SUBMIT_SM:
    case SMPP_DATA_SM:
        handle_submit(c, p);
        break;
    case SMPP_QUERY_SM:
        handle_query(c, p);
        break;
    default:
        handle_cancel_replace(c, p);
        break;
    }
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct smsc *s = c->s;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (c->st == CONN_OPEN || c->st == CONN_BOUND) {
        const uint8_t *pdu = NULL;
        uint32_t len = 0, seq = 0;
        enum smpp_frame fr = smpp_frame_next(in, s->cfg.max_pdu_len, &pdu, &len, &seq);
        if (fr == SMPP_FRAME_MORE)
            break;
        if (fr == SMPP_FRAME_BAD_LEN) {
            sim_log(&s->cfg, SIM_LOG_INFO, c->tag, "command_length %u out of range -> "
                    "generic_nack and close", len);
            send_nack(c, ESME_RINVCMDLEN, seq);
            conn_close_after_flush(c, "bad command_length");
            break;
        }
        if (fr == SMPP_FRAME_NOMEM) {
            conn_kill(c, "out of memory");
            break;
        }
        handle_pdu(c, pdu, len);
        evbuffer_drain(in, len);
    }
}

/* issue 13 tls-smpp: OpenSSL's last reason on a TLS bufferevent into
 * buf ("" when none; libevent's SSL_get_error codes have no library). */
static const char *tls_error(struct bufferevent *bev, char *buf, size_t n)
{
    unsigned long err, last = 0;
    while ((err = bufferevent_get_openssl_error(bev)) != 0)
        if (ERR_GET_LIB(err) != 0)
            last = err;
    const char *r = last ? ERR_reason_error_string(last) : NULL;
    snprintf(buf, n, "%s%s", r ? "TLS: " : "", r ? r : "");
    return buf;
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    char why[160] = "";
    if (c->s->tls)
        tls_error(bev, why, sizeof why);
    if (*why)
        conn_kill(c, why);
    else if (what & BEV_EVENT_EOF)
        conn_kill(c, "peer closed");
    else if (what & BEV_EVENT_ERROR)
        conn_kill(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* "host:port" of an accepted peer. */
static void peer_name(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, "%s:%u", host, port);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    (void)salen;
    struct smsc *s = arg;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->s = s;
    c->id = ++s->next_conn_id;
    STAILQ_INIT(&c->dq);
    peer_name(sa, c->peer, sizeof c->peer);
    copy_str(c->tag, sizeof c->tag, c->peer);
    c->bev = s->tls ? sim_accept_tls(s->base, fd, s->tls) : sim_accept(s->base, fd);
    c->idle_ev = evtimer_new(s->base, idle_cb, c);
    c->tick_ev = event_new(s->base, -1, EV_PERSIST, tick_cb, c);
    c->dq_ev = evtimer_new(s->base, dq_cb, c);
    if (!c->bev || !c->idle_ev || !c->tick_ev || !c->dq_ev) {
        conn_free_now(c);
        return;
    }
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    struct timeval sec = { 1, 0 };
    event_add(c->tick_ev, &sec);
    idle_arm(c);
    LIST_INSERT_HEAD(&s->conns, c, link);
    sim_log(&s->cfg, SIM_LOG_DEBUG, c->tag, "connected");
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

void smsc_config_defaults(struct smsc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen_host = "127.0.0.1";
    cfg->listen_port = 2775;
    cfg->control_host = "127.0.0.1";
    cfg->control_port = 2776;
    cfg->id_format = SMSC_ID_HEX;
    cfg->dlr_id_format = SMSC_ID_HEX;
    cfg->id_start = 1000000000u;
    cfg->enquire_link_s = 30;
    cfg->ussd_timeout_s = 180;
    cfg->resp_timeout_ms = 10000;
    cfg->ussd_abort = SMSC_ABORT_END_BIT;
    cfg->max_pdu_len = SMPP_DEFAULT_MAX_LEN;
}

/* Check cfg; the dialect it names goes to *dialect.  0, or -1 with err. */
static int config_check(const struct smsc_config *cfg,
                        const struct ussd_dialect **dialect, char *err,
                        size_t errlen)
{
    if (cfg->dlr_fail_ratio < 0.0 || cfg->dlr_fail_ratio > 1.0) {
        snprintf(err, errlen, "dlr fail ratio must be within 0.0..1.0");
        return -1;
    }
    if (cfg->n_accounts > SMSC_MAX_ACCOUNTS) {
        snprintf(err, errlen, "at most %d accounts", SMSC_MAX_ACCOUNTS);
        return -1;
    }
    for (size_t i = 0; i < cfg->n_accounts; i++) {
        const struct smsc_account *a = &cfg->accounts[i];
        if (!a->system_id || !*a->system_id || strlen(a->system_id) > 15) {
            snprintf(err, errlen, "account %zu: system_id must be 1..15 chars",
                     i + 1);
            return -1;
        }
        if (!a->password || strlen(a->password) > 8) {
            snprintf(err, errlen, "account %s: password must be 0..8 chars",
                     a->system_id);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->accounts[j].system_id, a->system_id) == 0) {
                snprintf(err, errlen, "account %s given twice", a->system_id);
                return -1;
            }
    }
    if (cfg->ussd_timeout_s == 0) {
        snprintf(err, errlen, "ussd timeout must be at least 1 s");
        return -1;
    }
    if (cfg->tls_client_ca && !cfg->tls_cert) {
        snprintf(err, errlen, "a TLS client CA needs the TLS certificate and key");
        return -1;
    }
    *dialect = ussd_dialect_find(cfg->dialect ? cfg->dialect : "standard");
    if (!*dialect) {
        char names[128];
        size_t o = 0;
        names[0] = '\0';
        for (const struct ussd_dialect *x = ussd_dialects; x->name; x++) {
            int w = snprintf(names + o, sizeof names - o, "%s%s", o ? ", " : "", x->name);
            if (w < 0 || (size_t)w >= sizeof names - o)
                break;
            o += (size_t)w;
        }
        snprintf(err, errlen, "unknown USSD dialect \"%s\" (presets: %s)",
                 cfg->dialect, names);
        return -1;
    }
    return 0;
}

/* The accounts of cfg (or the one kyzmat/secret) with their receipt
 * timers.  0, or -1 when out of memory. */
static int accounts_init(struct smsc *s, const struct smsc_config *cfg)
{
    s->n_accounts = cfg->n_accounts ? cfg->n_accounts : 1;
    for (size_t i = 0; i < s->n_accounts; i++) {
        struct account *a = &s->accounts[i];
        a->s = s;
        STAILQ_INIT(&a->dq);
        copy_str(a->id, sizeof a->id,
                 cfg->n_accounts ? cfg->accounts[i].system_id : "kyzmat");
        copy_str(a->pw, sizeof a->pw,
                 cfg->n_accounts ? cfg->accounts[i].password : "secret");
        a->dlr_ev = evtimer_new(s->base, dlr_cb, a);
        if (!a->dlr_ev)
            return -1;
    }
    return 0;
}

struct smsc *smsc_new(struct event_base *base, const struct smsc_config *cfg,
                      char *err, size_t errlen)
{
    const struct ussd_dialect *dia = NULL;
    if (config_check(cfg, &dia, err, errlen) != 0)
        return NULL;
    struct smsc *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->cfg = *cfg;
    s->cfg.dialect = dia->name;
    LIST_INIT(&s->conns);
    sim_concat_init(&s->concat, &s->cfg);
    copy_str(s->listen_host, sizeof s->listen_host,
             cfg->listen_host ? cfg->listen_host : "127.0.0.1");
    s->cfg.listen_host = s->listen_host;
    if (cfg->control_host) {
        copy_str(s->control_host, sizeof s->control_host, cfg->control_host);
        s->cfg.control_host = s->control_host;
    }
    if (!s->cfg.resp_timeout_ms)
        s->cfg.resp_timeout_ms = 10000;
    if (!s->cfg.max_pdu_len)
        s->cfg.max_pdu_len = SMPP_DEFAULT_MAX_LEN;
    s->next_id = cfg->id_start ? cfg->id_start : 1;
    s->rng = cfg->seed ? cfg->seed
                       : ((uint64_t)time(NULL) << 20) ^ kz_mono_ms() ^
                         0x9E3779B97F4A7C15ull;
    if (!s->rng)
        s->rng = 1;
    s->msgs = calloc(MSG_RING, sizeof *s->msgs);
    if (sim_grave_init(&s->grave, base) != 0 ||
        sim_ussd_init(&s->ussd, s, base, &s->cfg, dia, s->rng) != 0 ||
        accounts_init(s, cfg) != 0 || !s->msgs) {
        snprintf(err, errlen, "out of memory");
        smsc_free(s);
        return NULL;
    }
    if (cfg->tls_cert || cfg->tls_key) {
        /* issue 13 tls-smpp: one server context for every connection */
        const struct kz_tls_opts o = { .cert = cfg->tls_cert, .key = cfg->tls_key,
                                       .client_ca = cfg->tls_client_ca };
        if (!(s->tls = kz_tls_server_ctx(&o, err, errlen))) {
            smsc_free(s);
            return NULL;
        }
    }
    s->lst = sim_listen(base, s->listen_host, cfg->listen_port, accept_cb, s,
                        &s->smpp_port, err, errlen);
    if (!s->lst ||
        (cfg->control_host && !(s->ctl = sim_ctl_new(s, base, s->control_host,
                                                      cfg->control_port, err,
                                                      errlen)))) {
        smsc_free(s);
        return NULL;
    }
    return s;
}

void smsc_free(struct smsc *s)
{
    if (!s)
        return;
    if (s->lst)
        evconnlistener_free(s->lst);
    sim_ctl_free(s->ctl);
    s->ctl = NULL;
    s->obs = NULL;
    struct conn *c;
    while ((c = LIST_FIRST(&s->conns))) {
        LIST_REMOVE(c, link);
        conn_free_now(c);
    }
    sim_ussd_clear(&s->ussd);
    sim_grave_close(&s->grave);
    sim_concat_clear(&s->concat);
    for (size_t i = 0; i < s->n_accounts; i++) {
        struct account *a = &s->accounts[i];
        struct dlr *d;
        while ((d = STAILQ_FIRST(&a->dq))) {
            STAILQ_REMOVE_HEAD(&a->dq, link);
            free(d);
        }
        sim_event_free(&a->dlr_ev);
    }
    free(s->msgs);
    SSL_CTX_free(s->tls);
    free(s);
}

uint16_t smsc_smpp_port(const struct smsc *s) { return s->smpp_port; }
uint16_t smsc_control_port(const struct smsc *s)
{
    return s->ctl ? sim_ctl_port(s->ctl) : 0;
}

void smsc_set_observer(struct smsc *s, smsc_event_fn *fn, void *arg)
{
    s->obs = fn;
    s->obs_arg = arg;
}

unsigned smsc_drop(struct smsc *s, const char *system_id)
{
    unsigned n = 0;
    struct conn *c, *next;
    for (c = LIST_FIRST(&s->conns); c; c = next) {
        next = LIST_NEXT(c, link);
        if (!system_id || (c->acct && strcmp(c->acct->id, system_id) == 0)) {
            conn_kill(c, "dropped by control");
            n++;
        }
    }
    return n;
}

void smsc_set_throttle(struct smsc *s, unsigned every)
{
    s->cfg.throttle_every = every;
    s->throttle_count = 0;
}

void smsc_set_refuse_binds(struct smsc *s, int on)
{
    s->refuse_binds = on ? 1 : 0;
}

void smsc_request_quit(struct smsc *s)
{
    sim_log(&s->cfg, SIM_LOG_INFO, NULL, "quit requested on the control port");
    s->quit = 1;
    /* give the reply a loop pass to leave */
    struct timeval tv = { 0, 50000 };
    event_base_loopexit(s->base, &tv);
}

int smsc_quit_requested(const struct smsc *s) { return s->quit; }

char *smsc_stats_json(const struct smsc *s)
{
    const struct { const char *key; uint64_t v; } totals[] = {
        { "binds", s->binds }, { "bound", smsc_bound(s) },
        { "bind_failures", s->bind_fail }, { "submits", s->submits },
        { "throttled", s->throttled }, { "dlrs_sent", s->dlrs },
        { "dlrs_again", s->dlrs_again }, { "violations", s->violations },
        { "mo_sent", s->mo }, { "ussd_in", s->ussd.n_in },
        { "ussd_out", s->ussd.n_out }, { "ussd_dialogs", s->ussd.n_dialogs },
    };
    struct sim_json j;
    sim_json_init(&j);
    sim_json_obj(&j, NULL);
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++)
        sim_json_int(&j, totals[i].key, (long long)totals[i].v);
    sim_json_str(&j, "dialect", s->ussd.dialect->name);
    sim_json_int(&j, "ussd_mismatches", (long long)s->ussd.n_mismatches);
    sim_json_int(&j, "nacks_sent", (long long)s->nacks_out);
    sim_json_obj(&j, "accounts");
    for (size_t i = 0; i < s->n_accounts; i++) {
        const struct account *a = &s->accounts[i];
        const struct { const char *key; uint64_t v; } per[] = {
            { "binds", a->binds }, { "bound", a->bound },
            { "bind_failures", a->bind_fail }, { "submits", a->submits },
            { "throttled", a->throttled }, { "dlrs_sent", a->dlrs },
            { "violations", a->violations },
        };
        sim_json_obj(&j, a->id);
        for (size_t k = 0; k < sizeof per / sizeof per[0]; k++)
            sim_json_int(&j, per[k].key, (long long)per[k].v);
        sim_json_end(&j);
    }
    sim_json_end(&j);
    sim_json_end(&j);
    return sim_json_done(&j);
}
