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
 * cancel_sm, replace_sm), partial long messages being reassembled, USSD
 * dialogs keyed by MSISDN, and control-port clients.
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
 *   DEAD     | nothing; freed by the reaper             | -
 *
 * Ownership: connections, dialogs and control clients are never freed in
 * their own callbacks: they are unlinked, marked dead and put on a
 * graveyard list that a zero-delay event (reap_ev) empties on the next loop
 * pass.  Observers may therefore call any smsc_* function (except
 * smsc_free) from inside an event.
 *
 * USSD follows one dialect preset of smpp/dialect (the same table the
 * gateway reads): ussd_network_deliver() builds what the handset sends,
 * ussd_network_read() reads the gateway's answers and notes where they
 * stray from the preset.  Each dialog keeps a record of the ops both ways
 * (key, end bit, data_coding); finished records go to a small ring that
 * the control port shows ("ussd-log MSISDN").
 *
 * May call: smpp/pdu, smpp/text, smpp/dialect, libevent, jansson, libc.
 */
#include "smpp/sim/smsc.h"
#include "smpp/dialect.h"
#include "smpp/pdu.h"
#include "smpp/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>

/* ------------------------------------------------------------------ */
/* Sizes                                                               */

#define MSG_RING      32768u   /* recent messages for query/cancel/replace */
#define OUT_RING      16384u   /* our outstanding requests per connection */
#define DIALOG_BUCKETS 4096u
#define CTL_MAX_LINE  8192
#define CTL_MAX_SUBS  16
#define TEXT_MAX      4096     /* decoded UTF-8 text of one message */
#define PARTS_MAX     32       /* segments of one long message */
#define PARTS_TTL_S   120      /* incomplete long messages expire */
#define MO_MAX_PARTS  16       /* parts of one MO SMS from the control port */
#define REC_STEPS     24       /* PDUs remembered per direction per dialog */
#define REC_RING      64       /* finished dialog records kept */

enum log_level { L_ERR = 0, L_INFO, L_DEBUG };

/* ------------------------------------------------------------------ */
/* Types                                                               */

struct dlr {
    struct dlr *next;
    uint64_t due_ms;
    uint64_t msg_id;
    int fail;
    time_t submit_time;
    char src[22], dst[22];
    char text20[24];
};

struct account {
    struct smsc *s;
    char id[16];
    char pw[9];
    uint64_t binds, bind_fail, submits, throttled, dlrs, violations;
    unsigned bound;
    struct dlr *dq_head, *dq_tail;
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
    struct dresp *next;
    uint64_t due_ms;
    size_t len;
    uint8_t data[];
};

struct conn {
    struct conn *next;         /* s->conns or s->dead_conns */
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
    struct dresp *dq_head, *dq_tail;
    struct event *idle_ev, *tick_ev, *dq_ev;
};

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

struct dialog {
    struct dialog *next;       /* hash chain or s->dead_dialogs */
    struct smsc *s;
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

struct ctl {
    struct ctl *next;
    struct smsc *s;
    struct bufferevent *bev;
    int dead;
    int closing;               /* close once the output has drained */
    int sub_all;
    struct event *wait_ev;     /* armed while "wait-bind" is pending */
    unsigned n_subs;
    char subs[CTL_MAX_SUBS][22];
};

struct partial {               /* a long MT message being reassembled */
    struct partial *next;
    struct account *acct;
    char src[22], dst[22];
    unsigned ref, total, have;
    uint8_t dc;
    time_t first;
    uint16_t len[PARTS_MAX];
    uint8_t *data[PARTS_MAX];
};

struct smsc {
    struct event_base *base;
    struct smsc_config cfg;
    char listen_host[64], control_host[64];
    struct account accounts[SMSC_MAX_ACCOUNTS];
    size_t n_accounts;

    struct evconnlistener *lst, *ctl_lst;
    uint16_t smpp_port, ctl_port;

    struct conn *conns, *dead_conns;
    unsigned next_conn_id;
    unsigned rr;               /* round robin over receivers */
    struct ctl *ctls, *dead_ctls;
    struct dialog *dialogs[DIALOG_BUCKETS];
    struct dialog *dead_dialogs;
    unsigned n_dialogs;
    uint8_t next_session;
    uint16_t next_umr;
    const struct ussd_dialect *dialect;
    struct ussd_rec *recs;     /* REC_RING finished dialogs */
    unsigned rec_next;
    struct partial *partials;
    struct msg *msgs;          /* MSG_RING */
    uint64_t next_id;
    uint8_t next_ref;
    uint64_t rng;

    struct event *reap_ev;
    smsc_event_fn *obs;
    void *obs_arg;
    int refuse_binds;
    int quit;

    uint64_t binds, bind_fail, submits, throttled, dlrs, dlrs_again, violations, mo,
             ussd_in, ussd_out, nacks_out, throttle_count, ussd_mismatches;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void ms_to_tv(uint64_t ms, struct timeval *tv)
{
    tv->tv_sec = (time_t)(ms / 1000u);
    tv->tv_usec = (suseconds_t)((ms % 1000u) * 1000u);
}

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

__attribute__((format(printf, 4, 5)))
static void slog(const struct smsc *s, int level, const char *tag,
                 const char *fmt, ...)
{
    if (level == L_DEBUG && !s->cfg.verbose)
        return;
    if (level == L_INFO && s->cfg.quiet)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%s] %s\n", tag ? tag : "smsc", line);
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
    for (size_t i = 0; i < n; i++)
        if (!((dial[i] >= '0' && dial[i] <= '9') || dial[i] == '*' ||
              dial[i] == '#'))
            return -1;
    const char *p = dial;
    while (*p == '*' || *p == '#')
        p++;
    size_t k = 0;
    while (p[k] >= '0' && p[k] <= '9')
        k++;
    if (k == 0 || k >= cap)
        return -1;
    memcpy(out, p, k);
    out[k] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ */
/* Text: the bridge to smpp/text                                       */

/* Decode an SM body (UDH already removed) to NUL-terminated UTF-8; never
 * fails: what does not decode comes out as U+FFFD or as hex.  GSM 7-bit
 * under data_coding 0x0F (and the 3GPP GSM groups) arrives packed on some
 * links and unpacked on others: unpacked septets never have the top bit
 * set, so an octet >= 0x80 means packed. */
static void sm_to_utf8(uint8_t dc, const uint8_t *b, size_t n, char *out,
                       size_t cap)
{
    unsigned flags = SMPP_TEXT_DCS_HEX_FALLBACK;
    if (dc != 0 && smpp_text_dcs_encoding(dc, 0) == SMPP_ENC_GSM7)
        for (size_t i = 0; i < n; i++)
            if (b[i] & 0x80) {
                flags |= SMPP_TEXT_DCS_GSM7_PACKED;
                break;
            }
    size_t ol = 0;
    int rc = smpp_text_decode_dcs(dc, flags, b ? b : (const uint8_t *)"", n,
                                  (uint8_t *)out, cap - 1, &ol, NULL);
    if (rc != SMPP_TEXT_OK) {
        snprintf(out, cap, "<%zu octets, data_coding 0x%02x: %s>", n, dc,
                 smpp_text_strerror(rc));
        return;
    }
    out[ol] = '\0';
}

/* Observer + control fan-out ----------------------------------------- */

static void ctl_push_event(struct smsc *s, const char *msisdn, const char *line);
static void ctl_bind_waiters(struct smsc *s);

static void emit(struct smsc *s, const struct smsc_event *ev)
{
    if (s->obs)
        s->obs(s->obs_arg, ev);
}

/* ------------------------------------------------------------------ */
/* Deferred frees                                                      */

static void conn_free_now(struct conn *c)
{
    if (c->idle_ev)
        event_free(c->idle_ev);
    if (c->tick_ev)
        event_free(c->tick_ev);
    if (c->dq_ev)
        event_free(c->dq_ev);
    if (c->bev)
        bufferevent_free(c->bev);
    while (c->dq_head) {
        struct dresp *d = c->dq_head;
        c->dq_head = d->next;
        free(d);
    }
    for (unsigned i = 0; c->out && i < OUT_RING; i++)
        free(c->out[i].dlr);
    free(c->out);
    free(c);
}

static void dialog_free_now(struct dialog *d)
{
    if (d->timer)
        event_free(d->timer);
    free(d);
}

static void ctl_free_now(struct ctl *k)
{
    if (k->wait_ev)
        event_free(k->wait_ev);
    if (k->bev)
        bufferevent_free(k->bev);
    free(k);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct smsc *s = arg;
    while (s->dead_conns) {
        struct conn *c = s->dead_conns;
        s->dead_conns = c->next;
        conn_free_now(c);
    }
    while (s->dead_dialogs) {
        struct dialog *d = s->dead_dialogs;
        s->dead_dialogs = d->next;
        dialog_free_now(d);
    }
    while (s->dead_ctls) {
        struct ctl *k = s->dead_ctls;
        s->dead_ctls = k->next;
        ctl_free_now(k);
    }
}

static void schedule_reap(struct smsc *s)
{
    event_active(s->reap_ev, EV_TIMEOUT, 0);
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
        slog(c->s, L_ERR, c->tag, "cannot encode %s: %s",
             smpp_command_name(p->command_id), e.text);
        return -1;
    }
    slog(c->s, L_DEBUG, c->tag, "> %s seq=%u status=0x%02x len=%d",
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
    if (!c->dq_head)
        return;
    uint64_t t = now_ms();
    struct timeval tv;
    ms_to_tv(c->dq_head->due_ms > t ? c->dq_head->due_ms - t : 0, &tv);
    evtimer_add(c->dq_ev, &tv);
}

static void dq_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    uint64_t t = now_ms();
    while (c->dq_head && c->dq_head->due_ms <= t && c->st != CONN_DEAD) {
        struct dresp *d = c->dq_head;
        c->dq_head = d->next;
        if (!c->dq_head)
            c->dq_tail = NULL;
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
        slog(c->s, L_ERR, c->tag, "cannot encode response: %s", e.text);
        return;
    }
    struct dresp *d = malloc(sizeof *d + (size_t)n);
    if (!d)
        return;
    d->next = NULL;
    d->due_ms = now_ms() + c->s->cfg.resp_delay_ms;
    d->len = (size_t)n;
    memcpy(d->data, buf, (size_t)n);
    slog(c->s, L_DEBUG, c->tag, "> %s seq=%u held %u ms",
         smpp_command_name(p->command_id), p->sequence_number,
         c->s->cfg.resp_delay_ms);
    int was_empty = c->dq_head == NULL;
    if (c->dq_tail)
        c->dq_tail->next = d;
    else
        c->dq_head = d;
    c->dq_tail = d;
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
    o->sent_ms = now_ms();
    c->n_out++;
    return 0;
}

/* Outstanding request finished (response, timeout or link lost). */
static void dlr_arm(struct account *a);

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
    d->next = NULL;
    d->due_ms = now_ms() + 1000;
    if (a->dq_tail)
        a->dq_tail->next = d;
    else
        a->dq_head = d;
    a->dq_tail = d;
    c->s->dlrs_again++;
    slog(c->s, L_INFO, c->tag, "receipt for message %llu not acknowledged "
         "(0x%08x): sending it again in 1 s", (unsigned long long)d->msg_id, status);
    dlr_arm(a);
}

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
        emit(c->s, &ev);
    }
}

/* ------------------------------------------------------------------ */
/* Connections: life cycle                                             */

static void conn_unlink(struct smsc *s, struct conn *c)
{
    for (struct conn **pp = &s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
}

/* Close now (output not flushed).  Safe anywhere; the free is deferred. */
static void conn_kill(struct conn *c, const char *why)
{
    struct smsc *s = c->s;
    if (c->st == CONN_DEAD)
        return;
    int was_bound = c->st == CONN_BOUND ||
                    (c->st == CONN_CLOSING && c->bind != BIND_NONE);
    c->st = CONN_DEAD;
    conn_unlink(s, c);
    c->next = s->dead_conns;
    s->dead_conns = c;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_del(c->idle_ev);
    event_del(c->tick_ev);
    event_del(c->dq_ev);
    schedule_reap(s);
    slog(s, L_INFO, c->tag, "connection closed (%s)", why);
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
        emit(s, &ev);
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
    slog(c->s, L_DEBUG, c->tag, "closing: %s", why);
    /* Held responses go out first. */
    while (c->dq_head) {
        struct dresp *d = c->dq_head;
        c->dq_head = d->next;
        bufferevent_write(c->bev, d->data, d->len);
        free(d);
    }
    c->dq_tail = NULL;
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
    uint64_t t = now_ms();
    unsigned limit = c->s->cfg.resp_timeout_ms;
    for (unsigned i = 0; i < OUT_RING && c->st != CONN_DEAD; i++) {
        struct outst *o = &c->out[i];
        if (o->kind != OUT_NONE && o->kind != OUT_ENQ &&
            t - o->sent_ms >= limit) {
            slog(c->s, L_INFO, c->tag, "no response to seq=%u in %u ms",
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
    for (struct conn *c = s->conns; c; c = c->next) {
        if (!can_receive(c) || (acct && c->acct != acct))
            continue;
        if (prefer && c->id == prefer)
            return c;
        n++;
    }
    if (n == 0)
        return NULL;
    unsigned k = s->rr++ % n;
    for (struct conn *c = s->conns; c; c = c->next) {
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
    for (const struct conn *c = s->conns; c; c = c->next)
        n += can_receive(c) ? 1u : 0u;
    return n;
}

unsigned smsc_bound(const struct smsc *s)
{
    unsigned n = 0;
    for (const struct conn *c = s->conns; c; c = c->next)
        n += c->st == CONN_BOUND ? 1u : 0u;
    return n;
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
    if (!a->dq_head)
        return;
    uint64_t t = now_ms();
    struct timeval tv;
    ms_to_tv(a->dq_head->due_ms > t ? a->dq_head->due_ms - t : 0, &tv);
    evtimer_add(a->dlr_ev, &tv);
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
    slog(s, L_INFO, c->tag, "receipt id:%s stat:%s -> %s", id,
         d->fail ? "UNDELIV" : "DELIVRD", d->src);
    return 0;
}

static void dlr_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct account *a = arg;
    struct smsc *s = a->s;
    uint64_t t = now_ms();
    while (a->dq_head && a->dq_head->due_ms <= t) {
        struct dlr *d = a->dq_head;
        struct msg *m = msg_find(s, d->msg_id);
        if (m && m->state == MS_DELETED) {
            /* cancelled in the meantime: nothing to report */
        } else {
            struct conn *c = pick_receiver(s, a, 0);
            if (!c) {
                /* No receiver bound: keep it, look again in a second (or
                 * as soon as a receiver binds). */
                struct timeval tv = { 1, 0 };
                evtimer_add(a->dlr_ev, &tv);
                return;
            }
            if (m) {
                m->state = d->fail ? MS_UNDELIVERABLE : MS_DELIVERED;
                m->err = d->fail ? 1 : 0;
                m->done = time(NULL);
                copy_str(d->text20, sizeof d->text20, m->text20);
            }
            a->dq_head = d->next;       /* off the queue before sending: */
            if (!a->dq_head)            /* a failed answer may requeue it */
                a->dq_tail = NULL;
            d->next = NULL;
            if (dlr_send(s, c, d) != 0) {
                d->next = a->dq_head;   /* back at the head, try in 1 s */
                a->dq_head = d;
                if (!a->dq_tail)
                    a->dq_tail = d;
                struct timeval tv = { 1, 0 };
                evtimer_add(a->dlr_ev, &tv);
                return;
            }
            continue;
        }
        a->dq_head = d->next;
        if (!a->dq_head)
            a->dq_tail = NULL;
        free(d);
    }
    dlr_arm(a);
}

/* ------------------------------------------------------------------ */
/* Long messages                                                       */

static void partial_free(struct partial *p)
{
    for (unsigned i = 0; i < PARTS_MAX; i++)
        free(p->data[i]);
    free(p);
}

/* Drop partial messages older than PARTS_TTL_S. */
static void partials_expire(struct smsc *s)
{
    time_t t = time(NULL);
    for (struct partial **pp = &s->partials; *pp;) {
        struct partial *p = *pp;
        if (t - p->first > PARTS_TTL_S) {
            slog(s, L_INFO, p->acct->id,
                 "long message ref %u from %s: %u of %u parts, expired",
                 p->ref, p->src, p->have, p->total);
            *pp = p->next;
            partial_free(p);
        } else {
            pp = &p->next;
        }
    }
}

/*
 * Add one segment.  When the message is complete, its text (all bodies
 * concatenated, then decoded once so a UCS-2 surrogate pair or an ESC split
 * across parts still decodes) goes to out and 1 is returned; 0 while
 * incomplete, -1 when the segment is inconsistent.
 */
static int partial_add(struct smsc *s, struct account *a, const char *src,
                       const char *dst, unsigned ref, unsigned total,
                       unsigned seqn, uint8_t dc, const uint8_t *body,
                       size_t len, char *out, size_t cap)
{
    if (total == 0 || total > PARTS_MAX || seqn == 0 || seqn > total)
        return -1;
    partials_expire(s);
    struct partial *p = s->partials;
    for (; p; p = p->next)
        if (p->acct == a && p->ref == ref && p->total == total &&
            strcmp(p->src, src) == 0 && strcmp(p->dst, dst) == 0)
            break;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            return -1;
        p->acct = a;
        copy_str(p->src, sizeof p->src, src);
        copy_str(p->dst, sizeof p->dst, dst);
        p->ref = ref;
        p->total = total;
        p->dc = dc;
        p->first = time(NULL);
        p->next = s->partials;
        s->partials = p;
    }
    if (!p->data[seqn - 1]) {
        p->data[seqn - 1] = malloc(len ? len : 1);
        if (!p->data[seqn - 1])
            return -1;
        memcpy(p->data[seqn - 1], body, len);
        p->len[seqn - 1] = (uint16_t)len;
        p->have++;
    }
    if (p->have < p->total)
        return 0;
    size_t tot = 0;
    for (unsigned i = 0; i < p->total; i++)
        tot += p->len[i];
    uint8_t *all = malloc(tot ? tot : 1);
    if (all) {
        size_t o = 0;
        for (unsigned i = 0; i < p->total; i++) {
            memcpy(all + o, p->data[i], p->len[i]);
            o += p->len[i];
        }
        sm_to_utf8(p->dc, all, tot, out, cap);
        free(all);
    }
    for (struct partial **pp = &s->partials; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    partial_free(p);
    return all ? 1 : -1;
}

/*
 * The text of an MT submit_sm / data_sm, reassembled when it is a segment
 * (UDH with IE 0x00 or 0x08, or sar_* TLVs).  Returns 1 with the full text
 * in out, 0 when more segments are due, -1 on a malformed UDH.
 */
int smsc_parse_udh(const uint8_t *body, size_t len, unsigned *ref,
                   unsigned *total, unsigned *seq)
{
    *ref = *total = *seq = 0;
    if (!body || len == 0)
        return -1;
    size_t udhl = body[0];
    if (udhl + 1 > len)
        return -1;
    /* a lone trailing octet after the last IE is ignored (lenient) */
    for (size_t i = 1; i + 1 < udhl + 1;) {
        uint8_t iei = body[i], iel = body[i + 1];
        if (i + 2 + iel > udhl + 1)
            return -1;
        const uint8_t *v = body + i + 2;
        if (iei == 0x00 && iel == 3) {
            *ref = v[0]; *total = v[1]; *seq = v[2];
        } else if (iei == 0x08 && iel == 4) {
            *ref = (unsigned)v[0] << 8 | v[1]; *total = v[2]; *seq = v[3];
        }
        i += 2 + (size_t)iel;
    }
    return (int)(udhl + 1);
}

static int mt_text(struct smsc *s, struct account *a, const struct smpp_pdu *p,
                   char *out, size_t cap)
{
    const uint8_t *body = p->short_message;
    size_t len = p->sm_length;
    const struct smpp_tlv *pl = smpp_tlv_find(p, SMPP_TLV_MESSAGE_PAYLOAD);
    if (pl && len == 0) {
        body = pl->val;
        len = pl->len;
    }
    unsigned ref = 0, total = 0, seqn = 0;
    if ((p->esm_class & 0x40) && len > 0) {
        int hl = smsc_parse_udh(body, len, &ref, &total, &seqn);
        if (hl < 0)
            return -1;
        body += hl;
        len -= (size_t)hl;
    } else {
        int64_t r = smpp_tlv_uint(p, SMPP_TLV_SAR_MSG_REF_NUM);
        int64_t t = smpp_tlv_uint(p, SMPP_TLV_SAR_TOTAL_SEGMENTS);
        int64_t q = smpp_tlv_uint(p, SMPP_TLV_SAR_SEGMENT_SEQNUM);
        if (r >= 0 && t >= 0 && q >= 0) {
            ref = (unsigned)r; total = (unsigned)t; seqn = (unsigned)q;
        }
    }
    if (total > 1)
        return partial_add(s, a, p->source_addr ? p->source_addr : "",
                           p->destination_addr ? p->destination_addr : "",
                           ref, total, seqn, p->data_coding, body, len, out,
                           cap);
    sm_to_utf8(p->data_coding, body, len, out, cap);
    return 1;
}

/* First 20 characters of text, non-ASCII as '?', for a receipt's text:. */
static void text20(const char *utf8, char *out, size_t cap)
{
    size_t o = 0;
    unsigned chars = 0;
    for (const unsigned char *u = (const unsigned char *)utf8;
         *u && chars < 20 && o + 1 < cap; chars++) {
        if (*u < 0x80) {
            out[o++] = (*u >= 0x20) ? (char)*u : ' ';
            u++;
        } else {
            out[o++] = '?';
            u++;
            while ((*u & 0xC0) == 0x80)
                u++;
        }
    }
    out[o] = '\0';
}

/* ------------------------------------------------------------------ */
/* USSD dialogs                                                        */

static unsigned dlg_hash(const char *msisdn)
{
    unsigned h = 5381;
    for (; *msisdn; msisdn++)
        h = h * 33u + (unsigned char)*msisdn;
    return h % DIALOG_BUCKETS;
}

static struct dialog *dialog_find(struct smsc *s, const char *msisdn)
{
    for (struct dialog *d = s->dialogs[dlg_hash(msisdn)]; d; d = d->next)
        if (strcmp(d->msisdn, msisdn) == 0)
            return d;
    return NULL;
}

/* Close d with outcome ("end", "abort", "timeout", "failed"); its record
 * goes to the ring. */
static void dialog_end(struct smsc *s, struct dialog *d, const char *outcome)
{
    if (d->st == DLG_DEAD)
        return;
    d->rec.outcome = outcome;
    if (s->recs) {
        s->recs[s->rec_next % REC_RING] = d->rec;
        s->rec_next++;
    }
    for (struct dialog **pp = &s->dialogs[dlg_hash(d->msisdn)]; *pp;
         pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    d->st = DLG_DEAD;
    event_del(d->timer);
    d->next = s->dead_dialogs;
    s->dead_dialogs = d;
    s->n_dialogs--;
    schedule_reap(s);
}

static void dialog_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dialog *d = arg;
    struct smsc *s = d->s;
    char line[64];
    slog(s, L_INFO, "ussd", "%s: dialog %u timed out after %u s", d->msisdn,
         d->session, s->cfg.ussd_timeout_s);
    snprintf(line, sizeof line, "ussd %s timeout", d->msisdn);
    ctl_push_event(s, d->msisdn, line);
    struct smsc_event ev = { .kind = SMSC_EV_USSD_TIMEOUT, .to = d->msisdn,
                             .from = d->service, .text = "" };
    dialog_end(s, d, "timeout");
    emit(s, &ev);
}

static void dialog_touch(struct smsc *s, struct dialog *d)
{
    struct timeval tv = { (time_t)s->cfg.ussd_timeout_s, 0 };
    evtimer_add(d->timer, &tv);
}

static struct dialog *dialog_new(struct smsc *s, const char *msisdn,
                                 const char *service)
{
    struct dialog *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->s = s;
    copy_str(d->msisdn, sizeof d->msisdn, msisdn);
    copy_str(d->service, sizeof d->service, service);
    d->timer = evtimer_new(s->base, dialog_timeout_cb, d);
    if (!d->timer) {
        free(d);
        return NULL;
    }
    d->session = s->next_session++;
    d->umr = s->next_umr++;
    if (s->next_umr == 0)
        s->next_umr = 1;
    copy_str(d->rec.msisdn, sizeof d->rec.msisdn, msisdn);
    copy_str(d->rec.service, sizeof d->rec.service, service);
    d->rec.outcome = "open";
    d->rec.session = d->session;
    d->rec.umr = d->umr;
    unsigned h = dlg_hash(d->msisdn);
    d->next = s->dialogs[h];
    s->dialogs[h] = d;
    s->n_dialogs++;
    return d;
}

/* Remember one USSD PDU of d in its record. */
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

/* deliver_sm for USSD from the subscriber, in the dialect's way. */
static int ussd_deliver(struct smsc *s, struct dialog *d, enum ussd_net_kind kind,
                        const char *text, char *err, size_t errlen)
{
    struct smpp_pdu p;
    struct ussd_reply_buf buf;
    struct ussd_net_session ses = { d->session, d->seq, d->umr };
    if (ussd_network_deliver(s->dialect, kind,
                             s->cfg.ussd_abort == SMSC_ABORT_USSREL,
                             d->msisdn, d->service, &ses,
                             (const uint8_t *)text, strlen(text), &p, &buf,
                             err, errlen) != 0)
        return -1;
    struct conn *c = pick_receiver(s, NULL, d->conn_id);
    if (!c) {
        snprintf(err, errlen, "no bound receiver");
        return -1;
    }
    if (send_request(c, &p, OUT_USSD, 0) != 0) {
        snprintf(err, errlen, "cannot send deliver_sm");
        return -1;
    }
    rec_step(d->rec.out, &d->rec.n_out, &p);
    d->conn_id = c->id;
    s->ussd_out++;
    char esc[512];
    smsc_escape_line(text, esc, sizeof esc);
    slog(s, L_INFO, c->tag, "ussd <- %s op=%u session=%u seq=%u umr=%u dcs=0x%02x%s \"%s\"",
         d->msisdn, buf.op, d->session, d->seq, d->umr, p.data_coding,
         kind == USSD_NET_ABORT ? " abort" : "", esc);
    return 0;
}

int smsc_ussd(struct smsc *s, const char *msisdn, const char *service,
              const char *text, char *err, size_t errlen)
{
    if (!msisdn || !*msisdn || strlen(msisdn) > 20) {
        snprintf(err, errlen, "bad msisdn");
        return -1;
    }
    if (!text)
        text = "";
    struct dialog *d = dialog_find(s, msisdn);
    if (d && d->st == DLG_WAIT_APP) {
        snprintf(err, errlen, "dialog waits for the gateway");
        return -1;
    }
    if (d) {
        d->seq = (uint8_t)((d->seq + 1) & 0x7F);
        if (ussd_deliver(s, d, USSD_NET_ANSWER, text, err, errlen) != 0) {
            d->seq = (uint8_t)((d->seq - 1) & 0x7F);
            return -1;
        }
        d->st = DLG_WAIT_APP;
        dialog_touch(s, d);
        return 0;
    }
    char svc[22];
    if (!service || !*service || strcmp(service, "-") == 0) {
        if (smsc_dial_service(text, svc, sizeof svc) != 0) {
            snprintf(err, errlen, "no dialog open and no service code");
            return -1;
        }
    } else {
        for (const char *p = service; *p; p++)
            if (!((*p >= '0' && *p <= '9') || *p == '*' || *p == '#')) {
                snprintf(err, errlen, "bad service code");
                return -1;
            }
        if (strlen(service) > 20) {
            snprintf(err, errlen, "bad service code");
            return -1;
        }
        copy_str(svc, sizeof svc, service);
    }
    d = dialog_new(s, msisdn, svc);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ussd_deliver(s, d, USSD_NET_DIAL, text, err, errlen) != 0) {
        dialog_end(s, d, "failed");
        return -1;
    }
    d->st = DLG_WAIT_APP;
    dialog_touch(s, d);
    return 0;
}

int smsc_ussd_abort(struct smsc *s, const char *msisdn, char *err,
                    size_t errlen)
{
    struct dialog *d = dialog_find(s, msisdn);
    if (!d) {
        snprintf(err, errlen, "no dialog");
        return -1;
    }
    d->seq = (uint8_t)((d->seq + 1) & 0x7F);
    int rc = ussd_deliver(s, d, USSD_NET_ABORT, "", err, errlen);
    dialog_end(s, d, "abort");
    return rc;
}

/* A USSD submit_sm from the gateway, read in the dialect's way. */
static void ussd_mt(struct conn *c, const struct smpp_pdu *p)
{
    struct smsc *s = c->s;
    const char *msisdn = p->destination_addr ? p->destination_addr : "";
    struct dialog *d = dialog_find(s, msisdn);
    struct ussd_net_session ses = { 0, 0, 0 };
    if (d) {
        ses.session = d->session;
        ses.seq = d->seq;
        ses.umr = d->umr;
    }
    struct ussd_net_in in;
    ussd_network_read(s->dialect, p, d ? &ses : NULL, &in);
    char text[TEXT_MAX];
    if (in.dcs == s->dialect->dcs_gsm || in.dcs == s->dialect->dcs_ucs2) {
        size_t n = in.text_len < sizeof text - 1 ? in.text_len : sizeof text - 1;
        memcpy(text, in.text, n);
        text[n] = '\0';
    } else {
        /* not this dialect's data_coding: decode leniently anyway */
        const uint8_t *body = p->short_message;
        size_t len = p->sm_length;
        const struct smpp_tlv *pl = smpp_tlv_find(p, SMPP_TLV_MESSAGE_PAYLOAD);
        if (pl && len == 0) {
            body = pl->val;
            len = pl->len;
        }
        sm_to_utf8(p->data_coding, body, len, text, sizeof text);
    }
    s->ussd_in++;

    enum smsc_ussd_kind kind = in.kind == USSD_SCREEN_END ? SMSC_USSD_END
                             : in.kind == USSD_SCREEN_NOTICE ? SMSC_USSD_NOTICE
                             : SMSC_USSD_CONTINUE;
    if (in.n_mismatch) {
        s->ussd_mismatches += in.n_mismatch;
        slog(s, L_INFO, c->tag, "ussd -> %s: dialect %s mismatch: %s%s", msisdn,
             s->dialect->name, in.mismatch,
             in.n_mismatch > 1 ? " (and more)" : "");
    }
    if (d && d->st != DLG_WAIT_APP && kind != SMSC_USSD_NOTICE)
        slog(s, L_INFO, c->tag, "ussd -> %s: second answer without input",
             msisdn);
    if (!d && kind == SMSC_USSD_CONTINUE) {
        /* network-initiated USSR: the gateway opens the dialog */
        d = dialog_new(s, msisdn, p->source_addr ? p->source_addr : "");
        if (d && in.has_its)
            d->session = d->rec.session = in.its_session;
        if (d && in.has_umr)
            d->umr = d->rec.umr = in.umr;
    }
    if (d && kind != SMSC_USSD_NOTICE) {
        rec_step(d->rec.in, &d->rec.n_in, p);
        if (in.n_mismatch) {
            if (d->rec.mismatches == 0)
                copy_str(d->rec.mismatch, sizeof d->rec.mismatch, in.mismatch);
            d->rec.mismatches += in.n_mismatch;
        }
    }
    if (d) {
        d->conn_id = c->id;
        if (kind == SMSC_USSD_END) {
            dialog_end(s, d, "end");
        } else if (kind == SMSC_USSD_CONTINUE) {
            d->st = DLG_WAIT_USER;
            dialog_touch(s, d);
        }
    }
    static const char *const names[] = { "continue", "end", "notice" };
    char esc[TEXT_MAX * 2];
    smsc_escape_line(text, esc, sizeof esc);
    slog(s, L_INFO, c->tag, "ussd -> %s op=%u%s dcs=0x%02x %s: \"%s\"", msisdn,
         in.op, in.its_end ? " end-bit" : "", in.dcs, names[kind], esc);
    char line[TEXT_MAX * 2 + 64];
    snprintf(line, sizeof line, "ussd %s %s %s", msisdn, names[kind], esc);
    ctl_push_event(s, msisdn, line);
    struct smsc_event ev = { .kind = SMSC_EV_USSD,
                             .system_id = c->acct ? c->acct->id : NULL,
                             .from = p->source_addr ? p->source_addr : "",
                             .to = msisdn, .text = text, .ussd = kind };
    emit(s, &ev);
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
    if (!s->cfg.quiet) {
        char esc[512];
        smsc_escape_line(utf8, esc, sizeof esc);
        slog(s, L_INFO, c->tag, "mo %s -> %s (%zu part%s, dc %u): \"%s\"",
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
        slog(s, L_INFO, tag, "%s refused: 0x%02x %s", kind, st,
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
    slog(s, L_INFO, c->tag, "%s ok (%s)", kind, c->peer);
    if (c->bind != BIND_TX && a->dq_head)
        event_active(a->dlr_ev, EV_TIMEOUT, 0);   /* receipts waited for us */
    if (c->bind != BIND_TX)
        ctl_bind_waiters(s);
    struct smsc_event ev = { .kind = SMSC_EV_BIND, .system_id = a->id,
                             .text = kind };
    emit(s, &ev);
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
        slog(s, L_DEBUG, c->tag, "throttled seq=%u", req->sequence_number);
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

    if (is_ussd) {
        ussd_mt(c, req);
        return;
    }
    char text[TEXT_MAX];
    int full = mt_text(s, a, req, text, sizeof text);
    const char *src = req->source_addr ? req->source_addr : "";
    const char *dst = req->destination_addr ? req->destination_addr : "";
    if (full < 0)
        slog(s, L_INFO, c->tag, "sms %s -> %s: bad UDH / segment", src, dst);
    struct msg *m = &s->msgs[id % MSG_RING];
    memset(m, 0, sizeof *m);
    m->id = id;
    m->state = MS_ENROUTE;
    m->acct = a;
    text20(full == 1 ? text : "", m->text20, sizeof m->text20);
    if (full == 1) {
        char esc[TEXT_MAX * 2];
        smsc_escape_line(text, esc, sizeof esc);
        slog(s, L_INFO, c->tag, "sms %s -> %s id:%s: \"%s\"", src, dst, idstr,
             esc);
        char line[TEXT_MAX * 2 + 64];
        snprintf(line, sizeof line, "sms %s %s %s", src, dst, esc);
        ctl_push_event(s, dst, line);
        struct smsc_event ev = { .kind = SMSC_EV_SMS, .system_id = a->id,
                                 .from = src, .to = dst, .text = text };
        emit(s, &ev);
    } else {
        slog(s, L_DEBUG, c->tag, "sms %s -> %s id:%s: segment kept", src, dst,
             idstr);
    }
    uint8_t rd = req->registered_delivery & 3;
    int fail = s->cfg.dlr_fail_ratio > 0 && rng_unit(s) < s->cfg.dlr_fail_ratio;
    if (rd == 1 || (rd == 2 && fail)) {
        struct dlr *d = calloc(1, sizeof *d);
        if (!d)
            return;
        d->due_ms = now_ms() + s->cfg.dlr_delay_ms;
        d->msg_id = id;
        d->fail = fail;
        d->submit_time = time(NULL);
        copy_str(d->src, sizeof d->src, src);
        copy_str(d->dst, sizeof d->dst, dst);
        copy_str(d->text20, sizeof d->text20, m->text20);
        int was_empty = a->dq_head == NULL;
        if (a->dq_tail)
            a->dq_tail->next = d;
        else
            a->dq_head = d;
        a->dq_tail = d;
        if (was_empty)
            dlr_arm(a);
    } else if (m->state == MS_ENROUTE) {
        m->state = fail ? MS_UNDELIVERABLE : MS_DELIVERED;
        m->done = time(NULL);
    }
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
        char text[TEXT_MAX];
        sm_to_utf8(0, req->short_message, req->sm_length, text, sizeof text);
        text20(text, m->text20, sizeof m->text20);
    }
    slog(s, L_INFO, c->tag, "%s %s: %s", cancel ? "cancel_sm" : "replace_sm",
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
        slog(c->s, L_DEBUG, c->tag, "%s seq=%u matches nothing",
             smpp_command_name(p->command_id), p->sequence_number);
        return;
    }
    if (p->command_status != ESME_ROK)
        slog(c->s, L_INFO, c->tag, "%s seq=%u status 0x%02x",
             smpp_command_name(p->command_id), p->sequence_number,
             p->command_status);
    out_done(c, o, p->command_status);
}

static void handle_pdu(struct conn *c, const uint8_t *buf, size_t len)
{
    struct smsc *s = c->s;
    struct smpp_pdu p;
    struct smpp_err e;
    struct smpp_limits lim = { .max_len = s->cfg.max_pdu_len };
    memset(&p, 0, sizeof p);
    memset(&e, 0, sizeof e);
    if (smpp_pdu_decode(&p, buf, len, &lim, &e) != 0) {
        slog(s, L_INFO, c->tag, "bad %s seq=%u: %s -> generic_nack",
             smpp_command_name(p.command_id), p.sequence_number, e.text);
        send_nack(c, e.status ? e.status : ESME_RSYSERR, p.sequence_number);
        return;
    }
    slog(s, L_DEBUG, c->tag, "< %s seq=%u status=0x%02x len=%u",
         smpp_command_name(p.command_id), p.sequence_number, p.command_status,
         p.command_length);
    idle_arm(c);
    if (SMPP_IS_RESP(p.command_id)) {
        if (p.command_id == SMPP_GENERIC_NACK)
            slog(s, L_INFO, c->tag, "generic_nack seq=%u status 0x%02x",
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
        break;
    default:
        slog(s, L_INFO, c->tag, "%s not accepted -> generic_nack",
             smpp_command_name(p.command_id));
        send_nack(c, ESME_RINVCMDID, p.sequence_number);
        return;
    }
    uint32_t resp_id = smpp_resp_id(p.command_id);
    if (c->st != CONN_BOUND ||
        (c->bind == BIND_RX && p.command_id != SMPP_UNBIND)) {
        slog(s, L_INFO, c->tag, "%s while not bound for it -> ESME_RINVBNDSTS",
             smpp_command_name(p.command_id));
        smpp_pdu_reset(&r, resp_id, ESME_RINVBNDSTS, p.sequence_number);
        send_resp(c, &r, 0);
        return;
    }
    if (p.command_id == SMPP_UNBIND) {
        smpp_pdu_reset(&r, SMPP_UNBIND_RESP, ESME_ROK, p.sequence_number);
        send_resp(c, &r, 0);
        slog(s, L_INFO, c->tag, "unbind");
        conn_close_after_flush(c, "unbind");
        return;
    }
    c->unanswered++;
    if (s->cfg.window_check && c->unanswered > s->cfg.window_check) {
        s->violations++;
        c->acct->violations++;
        slog(s, L_INFO, c->tag,
             "window violation: %u requests unanswered (limit %u)",
             c->unanswered, s->cfg.window_check);
    }
    switch (p.command_id) {
    case SMPP_SUBMIT_SM:
    case SMPP_DATA_SM:
        handle_submit(c, &p);
        break;
    case SMPP_QUERY_SM:
        handle_query(c, &p);
        break;
    default:
        handle_cancel_replace(c, &p);
        break;
    }
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct smsc *s = c->s;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (c->st == CONN_OPEN || c->st == CONN_BOUND) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 4)
            break;
        uint8_t hdr[16];
        evbuffer_copyout(in, hdr, avail < 16 ? avail : 16);
        uint32_t len = smpp_pdu_peek_length(hdr, 4);
        if (!smpp_length_ok(len, s->cfg.max_pdu_len)) {
            uint32_t seq = 0;
            if (avail >= 16)
                seq = (uint32_t)hdr[12] << 24 | (uint32_t)hdr[13] << 16 |
                      (uint32_t)hdr[14] << 8 | hdr[15];
            slog(s, L_INFO, c->tag, "command_length %u out of range -> "
                 "generic_nack and close", len);
            send_nack(c, ESME_RINVCMDLEN, seq);
            conn_close_after_flush(c, "bad command_length");
            break;
        }
        if (avail < len)
            break;
        const uint8_t *pdu = evbuffer_pullup(in, len);
        if (!pdu) {
            conn_kill(c, "out of memory");
            break;
        }
        handle_pdu(c, pdu, len);
        evbuffer_drain(in, len);
    }
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (what & BEV_EVENT_EOF)
        conn_kill(c, "peer closed");
    else if (what & BEV_EVENT_ERROR)
        conn_kill(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
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
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%u", host, port);
    copy_str(c->tag, sizeof c->tag, c->peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->idle_ev = evtimer_new(s->base, idle_cb, c);
    c->tick_ev = event_new(s->base, -1, EV_PERSIST, tick_cb, c);
    c->dq_ev = evtimer_new(s->base, dq_cb, c);
    if (!c->bev || !c->idle_ev || !c->tick_ev || !c->dq_ev) {
        if (!c->bev)
            evutil_closesocket(fd);
        conn_free_now(c);
        return;
    }
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    struct timeval sec = { 1, 0 };
    event_add(c->tick_ev, &sec);
    idle_arm(c);
    c->next = s->conns;
    s->conns = c;
    slog(s, L_DEBUG, c->tag, "connected");
}

/* ------------------------------------------------------------------ */
/* Control port                                                        */

static void ctl_send(struct ctl *k, const char *line)
{
    if (k->dead)
        return;
    struct evbuffer *out = bufferevent_get_output(k->bev);
    evbuffer_add(out, line, strlen(line));
    evbuffer_add(out, "\n", 1);
}

__attribute__((format(printf, 2, 3)))
static void ctl_reply(struct ctl *k, const char *fmt, ...)
{
    char line[CTL_MAX_LINE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctl_send(k, line);
}

static void ctl_push_event(struct smsc *s, const char *msisdn, const char *line)
{
    for (struct ctl *k = s->ctls; k; k = k->next) {
        int want = k->sub_all;
        for (unsigned i = 0; !want && i < k->n_subs; i++)
            want = strcmp(k->subs[i], msisdn) == 0;
        if (want)
            ctl_send(k, line);
    }
}

/* A receiver bound: answer every pending "wait-bind". */
static void ctl_bind_waiters(struct smsc *s)
{
    for (struct ctl *k = s->ctls; k; k = k->next)
        if (k->wait_ev && evtimer_pending(k->wait_ev, NULL)) {
            evtimer_del(k->wait_ev);
            ctl_send(k, "ok bound");
        }
}

static void ctl_wait_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ctl_send(arg, "err no receiver bound in time");
}

static void ctl_kill(struct ctl *k)
{
    struct smsc *s = k->s;
    if (k->dead)
        return;
    k->dead = 1;
    for (struct ctl **pp = &s->ctls; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    bufferevent_disable(k->bev, EV_READ | EV_WRITE);
    if (k->wait_ev)
        evtimer_del(k->wait_ev);
    k->next = s->dead_ctls;
    s->dead_ctls = k;
    schedule_reap(s);
}

/* Next space-separated word of *p (NULL at the end). */
static char *next_word(char **p)
{
    char *w = *p;
    while (*w == ' ' || *w == '\t')
        w++;
    if (!*w) {
        *p = w;
        return NULL;
    }
    char *e = w;
    while (*e && *e != ' ' && *e != '\t')
        e++;
    if (*e)
        *e++ = '\0';
    *p = e;
    return w;
}

/* The rest of the line after one separating space (may be empty). */
static char *rest_of_line(char **p)
{
    return *p;
}

static const char ctl_help[] =
    "ok commands: stats | drop [SYSTEM_ID] | mo FROM TO TEXT | "
    "ussd MSISDN SERVICE|- TEXT | ussd MSISDN *CODE# | ussd-abort MSISDN | "
    "ussd-log MSISDN | "
    "throttle N | refuse-binds on|off | subscribe MSISDN|* | unsubscribe | "
    "wait-bind [S] | help | bye | quit";

int smsc_ctl_parse(char *line, struct smsc_ctl_req *r, char *err, size_t errlen)
{
    static const struct { const char *name; enum smsc_ctl_cmd cmd; } cmds[] = {
        { "stats", SMSC_CTL_STATS }, { "drop", SMSC_CTL_DROP },
        { "mo", SMSC_CTL_MO }, { "ussd", SMSC_CTL_USSD },
        { "ussd-log", SMSC_CTL_USSD_LOG }, { "ussd-abort", SMSC_CTL_USSD_ABORT },
        { "throttle", SMSC_CTL_THROTTLE }, { "refuse-binds", SMSC_CTL_REFUSE_BINDS },
        { "subscribe", SMSC_CTL_SUBSCRIBE }, { "unsubscribe", SMSC_CTL_UNSUBSCRIBE },
        { "wait-bind", SMSC_CTL_WAIT_BIND }, { "help", SMSC_CTL_HELP },
        { "bye", SMSC_CTL_BYE }, { "quit", SMSC_CTL_QUIT },
    };
    memset(r, 0, sizeof *r);
    r->text = "";
    char *p = line;
    char *cmd = next_word(&p);
    if (!cmd)
        return SMSC_CTL_NONE;
    r->cmd = SMSC_CTL_UNKNOWN;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i].name) == 0)
            r->cmd = cmds[i].cmd;
    char *end = NULL;
    switch (r->cmd) {
    case SMSC_CTL_NONE:
    case SMSC_CTL_STATS:
    case SMSC_CTL_UNSUBSCRIBE:
    case SMSC_CTL_HELP:
    case SMSC_CTL_BYE:
    case SMSC_CTL_QUIT:
        break;
    case SMSC_CTL_UNKNOWN:
        snprintf(err, errlen, "unknown command '%.40s' (try help)", cmd);
        return -1;
    case SMSC_CTL_DROP:
        r->a = next_word(&p);
        break;
    case SMSC_CTL_MO:
        r->a = next_word(&p);
        r->b = next_word(&p);
        r->text = rest_of_line(&p);
        if (!r->a || !r->b) {
            snprintf(err, errlen, "usage: mo FROM TO TEXT");
            return -1;
        }
        smsc_unescape_line(r->text);
        break;
    case SMSC_CTL_USSD:
        r->a = next_word(&p);
        r->b = next_word(&p);
        r->text = rest_of_line(&p);
        if (!r->a || !r->b) {
            snprintf(err, errlen, "usage: ussd MSISDN SERVICE|- TEXT");
            return -1;
        }
        smsc_unescape_line(r->text);
        break;
    case SMSC_CTL_USSD_LOG:
    case SMSC_CTL_USSD_ABORT:
        r->a = next_word(&p);
        if (!r->a) {
            snprintf(err, errlen, "usage: %s MSISDN", cmd);
            return -1;
        }
        break;
    case SMSC_CTL_THROTTLE:
        r->a = next_word(&p);
        r->n = r->a ? strtoul(r->a, &end, 10) : 0;
        if (!r->a || *end || r->n > 1000000 || r->a[0] == '-') {
            snprintf(err, errlen, "usage: throttle N (0 = off)");
            return -1;
        }
        break;
    case SMSC_CTL_REFUSE_BINDS:
        r->a = next_word(&p);
        if (r->a && strcmp(r->a, "on") == 0) {
            r->n = 1;
        } else if (!r->a || strcmp(r->a, "off") != 0) {
            snprintf(err, errlen, "usage: refuse-binds on|off");
            return -1;
        }
        break;
    case SMSC_CTL_SUBSCRIBE:
        r->a = next_word(&p);
        if (!r->a || strlen(r->a) > 20) {
            snprintf(err, errlen, "usage: subscribe MSISDN|*");
            return -1;
        }
        break;
    case SMSC_CTL_WAIT_BIND:
        r->a = next_word(&p);
        r->n = r->a ? strtoul(r->a, &end, 10) : 30;
        if ((r->a && (*end || r->a[0] == '-')) || r->n == 0 || r->n > 86400) {
            snprintf(err, errlen, "usage: wait-bind [SECONDS]");
            return -1;
        }
        break;
    }
    return (int)r->cmd;
}

static void ctl_command(struct ctl *k, char *line)
{
    struct smsc *s = k->s;
    char err[128];
    struct smsc_ctl_req r;
    if (smsc_ctl_parse(line, &r, err, sizeof err) < 0) {
        ctl_reply(k, "err %s", err);
        return;
    }
    switch (r.cmd) {
    case SMSC_CTL_NONE:
    case SMSC_CTL_UNKNOWN:
        break;
    case SMSC_CTL_STATS: {
        char *j = smsc_stats_json(s);
        ctl_reply(k, "ok %s", j ? j : "{}");
        free(j);
        break;
    }
    case SMSC_CTL_DROP:
        ctl_reply(k, "ok dropped %u", smsc_drop(s, r.a));
        break;
    case SMSC_CTL_MO: {
        int n = smsc_mo(s, r.a, r.b, r.text, 0, err, sizeof err);
        if (n < 0)
            ctl_reply(k, "err %s", err);
        else
            ctl_reply(k, "ok parts=%d", n);
        break;
    }
    case SMSC_CTL_USSD: {
        char *msisdn = r.a, *svc = r.b, *text = r.text;
        char dial_svc[22];
        if (!*text && !dialog_find(s, msisdn) &&
            smsc_dial_service(svc, dial_svc, sizeof dial_svc) == 0) {
            /* "ussd MSISDN *100#": dial, service derived from the string */
            text = svc;
            svc = dial_svc;
        } else if (!*text && dialog_find(s, msisdn) && strcmp(svc, "-") != 0) {
            /* "ussd MSISDN 1": an answer given as the only argument */
            text = svc;
        } else if (!*text && !dialog_find(s, msisdn)) {
            ctl_send(k, "err no dialog open; dial with: ussd MSISDN *CODE#");
            return;
        }
        if (smsc_ussd(s, msisdn, svc, text, err, sizeof err) != 0) {
            ctl_reply(k, "err %s", err);
        } else {
            struct dialog *d = dialog_find(s, msisdn);
            ctl_reply(k, "ok session=%u", d ? d->session : 0);
        }
        break;
    }
    case SMSC_CTL_USSD_LOG: {
        char *j = smsc_ussd_log_json(s, r.a);
        if (!j)
            ctl_reply(k, "err no USSD dialog recorded for %s", r.a);
        else
            ctl_reply(k, "ok %s", j);
        free(j);
        break;
    }
    case SMSC_CTL_USSD_ABORT:
        if (smsc_ussd_abort(s, r.a, err, sizeof err) != 0)
            ctl_reply(k, "err %s", err);
        else
            ctl_send(k, "ok");
        break;
    case SMSC_CTL_THROTTLE:
        smsc_set_throttle(s, (unsigned)r.n);
        ctl_send(k, "ok");
        break;
    case SMSC_CTL_REFUSE_BINDS:
        smsc_set_refuse_binds(s, r.n ? 1 : 0);
        ctl_send(k, "ok");
        break;
    case SMSC_CTL_SUBSCRIBE:
        if (strcmp(r.a, "*") == 0) {
            k->sub_all = 1;
            ctl_send(k, "ok");
        } else if (k->n_subs >= CTL_MAX_SUBS) {
            ctl_send(k, "err too many subscriptions");
        } else {
            copy_str(k->subs[k->n_subs++], sizeof k->subs[0], r.a);
            ctl_send(k, "ok");
        }
        break;
    case SMSC_CTL_UNSUBSCRIBE:
        k->sub_all = 0;
        k->n_subs = 0;
        ctl_send(k, "ok");
        break;
    case SMSC_CTL_WAIT_BIND:
        if (smsc_receivers(s) > 0) {
            ctl_send(k, "ok bound");
        } else {
            if (!k->wait_ev)
                k->wait_ev = evtimer_new(s->base, ctl_wait_timeout_cb, k);
            struct timeval tv = { (time_t)r.n, 0 };
            if (!k->wait_ev || evtimer_add(k->wait_ev, &tv) != 0)
                ctl_send(k, "err out of memory");
        }
        break;
    case SMSC_CTL_HELP:
        ctl_send(k, ctl_help);
        break;
    case SMSC_CTL_BYE:
        ctl_send(k, "ok bye");
        bufferevent_disable(k->bev, EV_READ);
        k->closing = 1;        /* close once the reply is written */
        break;
    case SMSC_CTL_QUIT: {
        ctl_send(k, "ok quitting");
        slog(s, L_INFO, NULL, "quit requested on the control port");
        s->quit = 1;
        /* give the reply a loop pass to leave */
        struct timeval tv = { 0, 50000 };
        event_base_loopexit(s->base, &tv);
        break;
    }
    }
}

static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
    struct ctl *k = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!k->dead && !k->closing) {
        size_t n = 0;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (!line) {
            if (evbuffer_get_length(in) > CTL_MAX_LINE) {
                ctl_send(k, "err line too long");
                k->closing = 1;
                bufferevent_disable(bev, EV_READ);
            }
            break;
        }
        if (n > CTL_MAX_LINE)
            ctl_send(k, "err line too long");
        else
            ctl_command(k, line);
        free(line);
    }
}

static void ctl_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct ctl *k = arg;
    if (k->closing)
        ctl_kill(k);
}

static void ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    ctl_kill(arg);
}

static void ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                          struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    struct smsc *s = arg;
    struct ctl *k = calloc(1, sizeof *k);
    if (!k) {
        evutil_closesocket(fd);
        return;
    }
    k->s = s;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    k->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!k->bev) {
        evutil_closesocket(fd);
        free(k);
        return;
    }
    bufferevent_setcb(k->bev, ctl_read_cb, ctl_write_cb, ctl_event_cb, k);
    bufferevent_enable(k->bev, EV_READ | EV_WRITE);
    k->next = s->ctls;
    s->ctls = k;
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

/* Numeric IPv4/IPv6 host + port (0 allowed) -> sockaddr.  0 or -1. */
static int make_sockaddr(const char *host, uint16_t port,
                         struct sockaddr_storage *ss, int *sslen)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *sslen = sizeof *in;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *sslen = sizeof *in6;
        return 0;
    }
    return -1;
}

static struct evconnlistener *listen_on(struct smsc *s, const char *host,
                                        uint16_t port, evconnlistener_cb cb,
                                        uint16_t *bound, char *err,
                                        size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen = 0;
    if (make_sockaddr(host, port, &ss, &sslen) != 0) {
        snprintf(err, errlen, "bad address '%s' (numeric IPv4/IPv6 only)", host);
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        s->base, cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
        (struct sockaddr *)&ss, sslen);
    if (!l) {
        snprintf(err, errlen, "cannot listen on %s port %u: %s", host, port,
                 strerror(errno));
        return NULL;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&got, &gl);
    *bound = got.ss_family == AF_INET6
                 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                 : ntohs(((struct sockaddr_in *)&got)->sin_port);
    return l;
}

struct smsc *smsc_new(struct event_base *base, const struct smsc_config *cfg,
                      char *err, size_t errlen)
{
    if (cfg->dlr_fail_ratio < 0.0 || cfg->dlr_fail_ratio > 1.0) {
        snprintf(err, errlen, "dlr fail ratio must be within 0.0..1.0");
        return NULL;
    }
    if (cfg->n_accounts > SMSC_MAX_ACCOUNTS) {
        snprintf(err, errlen, "at most %d accounts", SMSC_MAX_ACCOUNTS);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_accounts; i++) {
        const struct smsc_account *a = &cfg->accounts[i];
        if (!a->system_id || !*a->system_id || strlen(a->system_id) > 15) {
            snprintf(err, errlen, "account %zu: system_id must be 1..15 chars",
                     i + 1);
            return NULL;
        }
        if (!a->password || strlen(a->password) > 8) {
            snprintf(err, errlen, "account %s: password must be 0..8 chars",
                     a->system_id);
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->accounts[j].system_id, a->system_id) == 0) {
                snprintf(err, errlen, "account %s given twice", a->system_id);
                return NULL;
            }
    }
    if (cfg->ussd_timeout_s == 0) {
        snprintf(err, errlen, "ussd timeout must be at least 1 s");
        return NULL;
    }
    const struct ussd_dialect *dia =
        ussd_dialect_find(cfg->dialect ? cfg->dialect : "standard");
    if (!dia) {
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
        return NULL;
    }
    struct smsc *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->cfg = *cfg;
    s->dialect = dia;
    s->cfg.dialect = dia->name;
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
    s->rng = cfg->seed ? cfg->seed : ((uint64_t)time(NULL) << 20) ^ now_ms() ^ 0x9E3779B97F4A7C15ull;
    if (!s->rng)
        s->rng = 1;
    s->next_session = (uint8_t)(s->rng & 0xFF);
    s->next_umr = (uint16_t)(((s->rng >> 8) & 0x7FFF) + 1);
    s->n_accounts = cfg->n_accounts ? cfg->n_accounts : 1;
    for (size_t i = 0; i < s->n_accounts; i++) {
        struct account *a = &s->accounts[i];
        a->s = s;
        copy_str(a->id, sizeof a->id,
                 cfg->n_accounts ? cfg->accounts[i].system_id : "kyzmat");
        copy_str(a->pw, sizeof a->pw,
                 cfg->n_accounts ? cfg->accounts[i].password : "secret");
        a->dlr_ev = evtimer_new(base, dlr_cb, a);
        if (!a->dlr_ev) {
            snprintf(err, errlen, "out of memory");
            smsc_free(s);
            return NULL;
        }
    }
    s->msgs = calloc(MSG_RING, sizeof *s->msgs);
    s->recs = calloc(REC_RING, sizeof *s->recs);
    s->reap_ev = event_new(base, -1, 0, reap_cb, s);
    if (!s->msgs || !s->recs || !s->reap_ev) {
        snprintf(err, errlen, "out of memory");
        smsc_free(s);
        return NULL;
    }
    s->lst = listen_on(s, s->listen_host, cfg->listen_port, accept_cb,
                       &s->smpp_port, err, errlen);
    if (!s->lst) {
        smsc_free(s);
        return NULL;
    }
    if (cfg->control_host) {
        s->ctl_lst = listen_on(s, s->control_host, cfg->control_port,
                               ctl_accept_cb, &s->ctl_port, err, errlen);
        if (!s->ctl_lst) {
            smsc_free(s);
            return NULL;
        }
    }
    return s;
}

void smsc_free(struct smsc *s)
{
    if (!s)
        return;
    if (s->lst)
        evconnlistener_free(s->lst);
    if (s->ctl_lst)
        evconnlistener_free(s->ctl_lst);
    s->obs = NULL;
    while (s->conns) {
        struct conn *c = s->conns;
        s->conns = c->next;
        conn_free_now(c);
    }
    while (s->ctls) {
        struct ctl *k = s->ctls;
        s->ctls = k->next;
        ctl_free_now(k);
    }
    for (unsigned i = 0; i < DIALOG_BUCKETS; i++)
        while (s->dialogs[i]) {
            struct dialog *d = s->dialogs[i];
            s->dialogs[i] = d->next;
            dialog_free_now(d);
        }
    if (s->reap_ev)
        reap_cb(-1, 0, s);
    while (s->partials) {
        struct partial *p = s->partials;
        s->partials = p->next;
        partial_free(p);
    }
    for (size_t i = 0; i < s->n_accounts; i++) {
        struct account *a = &s->accounts[i];
        while (a->dq_head) {
            struct dlr *d = a->dq_head;
            a->dq_head = d->next;
            free(d);
        }
        if (a->dlr_ev)
            event_free(a->dlr_ev);
    }
    if (s->reap_ev)
        event_free(s->reap_ev);
    free(s->msgs);
    free(s->recs);
    free(s);
}

uint16_t smsc_smpp_port(const struct smsc *s) { return s->smpp_port; }
uint16_t smsc_control_port(const struct smsc *s) { return s->ctl_lst ? s->ctl_port : 0; }

void smsc_set_observer(struct smsc *s, smsc_event_fn *fn, void *arg)
{
    s->obs = fn;
    s->obs_arg = arg;
}

unsigned smsc_drop(struct smsc *s, const char *system_id)
{
    unsigned n = 0;
    struct conn *c = s->conns;
    while (c) {
        struct conn *next = c->next;
        if (!system_id || (c->acct && strcmp(c->acct->id, system_id) == 0)) {
            conn_kill(c, "dropped by control");
            n++;
        }
        c = next;
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

int smsc_quit_requested(const struct smsc *s) { return s->quit; }

static json_t *steps_json(const struct ussd_step *st, unsigned n)
{
    json_t *a = json_array();
    for (unsigned i = 0; a && i < n && i < REC_STEPS; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "op", json_integer(st[i].op));
        json_object_set_new(x, "dcs", json_integer(st[i].dcs));
        json_object_set_new(x, "its", st[i].its < 0 ? json_null() : json_integer(st[i].its));
        json_object_set_new(x, "end", json_boolean(st[i].end));
        json_object_set_new(x, "umr", st[i].umr < 0 ? json_null() : json_integer(st[i].umr));
        json_array_append_new(a, x);
    }
    return a;
}

static const struct ussd_rec *rec_latest(const struct smsc *s, const char *msisdn)
{
    struct dialog *d = dialog_find((struct smsc *)s, msisdn);
    if (d)
        return &d->rec;
    for (unsigned i = 0; s->recs && i < REC_RING && i < s->rec_next; i++) {
        const struct ussd_rec *r = &s->recs[(s->rec_next - 1 - i) % REC_RING];
        if (strcmp(r->msisdn, msisdn) == 0)
            return r;
    }
    return NULL;
}

char *smsc_ussd_log_json(const struct smsc *s, const char *msisdn)
{
    const struct ussd_rec *r = msisdn ? rec_latest(s, msisdn) : NULL;
    if (!r)
        return NULL;
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "msisdn", json_string(r->msisdn));
    json_object_set_new(o, "service", json_string(r->service));
    json_object_set_new(o, "dialect", json_string(s->dialect->name));
    json_object_set_new(o, "outcome", json_string(r->outcome ? r->outcome : "open"));
    json_object_set_new(o, "session", json_integer(r->session));
    json_object_set_new(o, "umr", json_integer(r->umr));
    json_object_set_new(o, "sent", steps_json(r->out, r->n_out));
    json_object_set_new(o, "received", steps_json(r->in, r->n_in));
    json_object_set_new(o, "n_sent", json_integer(r->n_out));
    json_object_set_new(o, "n_received", json_integer(r->n_in));
    json_object_set_new(o, "mismatches", json_integer(r->mismatches));
    json_object_set_new(o, "mismatch", json_string(r->mismatch));
    char *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return out;
}

char *smsc_stats_json(const struct smsc *s)
{
    json_t *o = json_object();
    json_t *accts = json_object();
    if (!o || !accts) {
        json_decref(o);
        json_decref(accts);
        return NULL;
    }
    json_object_set_new(o, "binds", json_integer((json_int_t)s->binds));
    json_object_set_new(o, "bound", json_integer(smsc_bound(s)));
    json_object_set_new(o, "bind_failures", json_integer((json_int_t)s->bind_fail));
    json_object_set_new(o, "submits", json_integer((json_int_t)s->submits));
    json_object_set_new(o, "throttled", json_integer((json_int_t)s->throttled));
    json_object_set_new(o, "dlrs_sent", json_integer((json_int_t)s->dlrs));
    json_object_set_new(o, "dlrs_again", json_integer((json_int_t)s->dlrs_again));
    json_object_set_new(o, "violations", json_integer((json_int_t)s->violations));
    json_object_set_new(o, "mo_sent", json_integer((json_int_t)s->mo));
    json_object_set_new(o, "ussd_in", json_integer((json_int_t)s->ussd_in));
    json_object_set_new(o, "ussd_out", json_integer((json_int_t)s->ussd_out));
    json_object_set_new(o, "ussd_dialogs", json_integer(s->n_dialogs));
    json_object_set_new(o, "dialect", json_string(s->dialect->name));
    json_object_set_new(o, "ussd_mismatches", json_integer((json_int_t)s->ussd_mismatches));
    json_object_set_new(o, "nacks_sent", json_integer((json_int_t)s->nacks_out));
    for (size_t i = 0; i < s->n_accounts; i++) {
        const struct account *a = &s->accounts[i];
        json_t *x = json_object();
        json_object_set_new(x, "binds", json_integer((json_int_t)a->binds));
        json_object_set_new(x, "bound", json_integer(a->bound));
        json_object_set_new(x, "bind_failures", json_integer((json_int_t)a->bind_fail));
        json_object_set_new(x, "submits", json_integer((json_int_t)a->submits));
        json_object_set_new(x, "throttled", json_integer((json_int_t)a->throttled));
        json_object_set_new(x, "dlrs_sent", json_integer((json_int_t)a->dlrs));
        json_object_set_new(x, "violations", json_integer((json_int_t)a->violations));
        json_object_set_new(accts, a->id, x);
    }
    json_object_set_new(o, "accounts", accts);
    char *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return out;
}
