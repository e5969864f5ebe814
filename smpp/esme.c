/*
 * smpp/esme.c — one ESME's SMPP 3.4 session with one SMSC, on libevent.
 *
 * Design.  The session's life is ONE transition table, fsm[state][event]
 * -> {action, next state}.  Every change of state goes through fsm_event():
 * it sets the next state, logs the transition at debug, runs the action and
 * reports the new state to on_state.  Actions may raise further events
 * (a bind_resp that arrives as PDU_IN raises BIND_OK); they call user
 * callbacks last and re-check the state afterwards, because a callback may
 * stop or free the esme.
 *
 * Links.  TRX mode has one link (bind_transceiver).  TX_RX mode has two:
 * link[0] is the transmitter (carries our requests), link[1] the receiver
 * (takes deliver_sm / data_sm only).  The FSM sees the pair as one session:
 * CONNECTED / BIND_OK fire when every link got there, a failure on either
 * link drops both.
 *
 * Framing.  The reader peeks command_length and checks it against
 * max_pdu_len before waiting for (buffering) the body; an absurd length is
 * answered with generic_nack(ESME_RINVCMDLEN) and the link is dropped (the
 * stream cannot be resynchronised).  A whole PDU is decoded in place from
 * the evbuffer (evbuffer_pullup of exactly one PDU, zero copy when the
 * bytes are contiguous) into a struct on the stack: no malloc per PDU in.
 * The cutting is smpp/frame's, shared with the SMSC simulator.
 *
 * Requests.  esme_send() encodes at once into a request object (a free-list
 * recycles them; the bytes live inline unless the PDU is large).  The
 * sequence number is patched into the bytes when the request is put on the
 * wire, so a retried request gets a fresh number and a late answer to the
 * old one cannot be mistaken for the new.  Outstanding requests sit in an
 * array of 2^k >= 2*window slots indexed by seq & mask; a new sequence
 * number skips values whose slot is busy, so lookup is one probe, O(1).
 * Each outstanding request has its own timer (a libevent common timeout:
 * O(1) add/remove since all share one duration).  A token bucket, refilled
 * lazily from the monotonic clock and woken by one timer, enforces the
 * effective rate.
 *
 * Throttling (AIMD, as TCP does with its window).  ESME_RTHROTTLED /
 * ESME_RMSGQFUL mean "you exceed my rate", so the answer is to slow the
 * link down, not to stall it: the effective rate (e->rate, <= tps) is
 * cut by a quarter, or by half with a brief pause when the previous round
 * had no success since (throttle_retry_ms doubled per further consecutive
 * round, capped).  One throttle round per rate: a throttle of
 * a request sent before the last cut (it went out at the old rate, or was
 * already in flight) only requeues it, so a full window of throttles
 * counts once, as TCP cuts once per window of losses.  Successes of
 * requests sent since the last cut raise the rate additively back to tps
 * (with tps 0: to the rate the cuts started from, then the limit is
 * lifted).  Kannel pauses a throttled link for a fixed 15 s; the Python
 * clients (naz, aiosmpplib) deny sends while the throttled share of a
 * sampling period is high; this keeps sending, only slower.
 *
 * Deferred free (as hiredis REDIS_IN_CALLBACK / redis freeClientAsync):
 * every entry point from libevent or the caller that can reach a user
 * callback runs between enter() and leave(); esme_free() inside that
 * window only sets free_pending, and the outermost leave() frees.
 *
 * Deferred answers (esme_defer_answer): a ring of deliver_sm answers the
 * handler holds back until its work is durable, with one timer that
 * answers a late one with the handler's fallback status; see the section
 * at the end of the file.
 *
 * TLS (issue 13 tls-smpp).  With cfg.tls set, each connection is a plain
 * socket bufferevent that connects as usual, wrapped at once in a
 * bufferevent_openssl filter in BUFFEREVENT_SSL_CONNECTING state (as
 * libevent's sample le-proxy does): the filter owns the socket bufferevent
 * and the SSL (BEV_OPT_CLOSE_ON_FREE), so freeing the link's bev frees all
 * three.  Its BEV_EVENT_CONNECTED means "handshake done"; a failed TCP
 * connect still arrives as the socket's error (errno intact), a failed
 * handshake as an error with the certificate's verify result or OpenSSL's
 * reasons (libevent moves them from OpenSSL's queue into the bufferevent's
 * own: bufferevent_get_openssl_error).  Dirty shutdowns are allowed: SMPP
 * frames its own PDUs, so a peer that closes without close_notify is
 * "connection closed by the SMSC" as over TCP, not an error.  Nothing above
 * the byte stream knows which kind of link it is.
 *
 * Owns: its bufferevents, timers, the request objects (queued, in flight,
 * awaiting a deferred done()), copies of the config strings, an evdns base
 * when the host is a name, the ring of deferred answers, a reference to the
 * TLS context.  May call: smpp/pdu, smpp/frame, base/clock, base/tls,
 * libevent (bufferevent_openssl too), OpenSSL, libc.
 * The process must ignore SIGPIPE (libevent writes with plain send()).
 */
#include "esme.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/tls.h"
#include "smpp/frame.h"

/* ---- tunables that are not config ------------------------------------ */
#define REQ_INLINE        384     /* request bytes stored inside the object */
#define REQ_FREELIST_MAX  1024    /* request objects kept for reuse */
#define UNBIND_WAIT_MS    2000    /* esme_stop: wait this long for unbind_resp */
#define LINGER_MS         1000    /* flush a last PDU before closing */
#define LINGER_POLL_MS    10      /* TLS: how often to look at the socket's output */
#define RATE_STEPS        10      /* a raise adds target/RATE_STEPS ... */
#define RATE_OK_PER_STEP  2       /* ... per this many successes */
#define RATE_REF_MAX      100000.0 /* tps 0: cap on window / response time */
#define SRTT_DEFAULT_US   10000   /* response time before the first sample */
#define SEQ_MAX           0x7FFFFFFFu

/* ---- events and the transition table --------------------------------- */
enum esme_event {
    EV_START = 0,       /* esme_start() */
    EV_CONNECTED,       /* every link's TCP connect completed */
    EV_CONNECT_FAILED,  /* a TCP connect (or name lookup) failed; arg: reason */
    EV_BIND_OK,         /* every link got a bind_*_resp with ESME_ROK */
    EV_BIND_FAILED,     /* a bind_*_resp with an error; arg: uint32_t *status */
    EV_PDU_IN,          /* a whole PDU arrived; arg: struct pdu_in * */
    EV_IO_ERROR,        /* read/write error, EOF, bad framing; arg: reason */
    EV_LINK_DEAD,       /* no enquire_link_resp in time; arg: reason */
    EV_PEER_UNBIND,     /* the SMSC sent unbind (we already answered it) */
    EV_UNBIND_DONE,     /* every link got its unbind_resp */
    EV_TIMER,           /* the state's timer: connect+bind, back-off, unbind */
    EV_STOP,            /* esme_stop() */
    EV_COUNT
};

static const char *const event_names[EV_COUNT] = {
    "START", "CONNECTED", "CONNECT_FAILED", "BIND_OK", "BIND_FAILED",
    "PDU_IN", "IO_ERROR", "LINK_DEAD", "PEER_UNBIND", "UNBIND_DONE",
    "TIMER", "STOP",
};

enum link_kind { LINK_TRX = 0, LINK_TX, LINK_RX };

struct esme;

/* One TCP connection to the SMSC. */
struct esme_link {
    struct esme *e;
    enum link_kind kind;
    struct bufferevent *bev;    /* NULL when closed */
    unsigned gen;               /* bumped on every close: stale-callback guard */
    unsigned connected, bound, unbound, enq_pending;
    uint32_t bind_seq, enq_seq, unbind_seq;
    struct event *idle_timer;   /* enquire_link after enquire_link_ms idle */
    struct event *enq_timer;    /* enquire_link_resp deadline */
    uint64_t last_io_ms;        /* last PDU in either direction (monotonic) */
};

/* A request from esme_send(), in exactly one place at a time: the queue,
 * the in-flight table, the deferred-completion list or the free-list.  The
 * lists share the link: the queue (requeued into, timed out of its middle)
 * is a TAILQ, the other two are singly linked STAILQs. */
struct esme_req {
    union {
        TAILQ_ENTRY(esme_req) tq;   /* queue */
        STAILQ_ENTRY(esme_req) q;   /* deferred, free-list */
    } link;
    struct esme *e;
    esme_done_fn *done;
    void *arg;
    struct event *timer;        /* response timer, made once per object */
    uint32_t seq;               /* on the wire as this number; 0 = not */
    uint32_t cmd_id;
    uint32_t fail_status;       /* for the deferred-completion list */
    unsigned retries;
    uint64_t sent_us;           /* when it last went on the wire */
    uint64_t order;             /* esme_send() order, for requeueing */
    uint32_t len;
    uint8_t *bytes;             /* inl, or heap when len > REQ_INLINE */
    uint8_t inl[REQ_INLINE];
};

/* A socket closed after its last bytes are flushed (unbind_resp,
 * generic_nack before a drop).  Owned by the esme until done. */
struct lingerer {
    LIST_ENTRY(lingerer) link;  /* e->lingering */
    struct bufferevent *bev;
    struct event *timer;
    uint64_t until_ms;          /* give up then (monotonic) */
};

TAILQ_HEAD(req_list, esme_req);
STAILQ_HEAD(req_slist, esme_req);

struct esme {
    struct event_base *base;
    struct esme_config cfg;     /* strings point into strs */
    char *strs;                 /* one block holding the copied strings */
    struct esme_callbacks cb;
    struct sockaddr_storage sa; /* resolved when host is numeric */
    int salen;                  /* 0: host is a name, use evdns */
    struct evdns_base *dns;

    enum esme_state state, reported;
    struct esme_link link[2];
    unsigned nlinks;
    struct event *state_timer;  /* connect+bind / back-off / unbind wait */
    struct event *pause_timer;  /* throttling pause */
    struct event *tps_timer;    /* token bucket wake-up */
    struct event *defer_ev;     /* deferred done() (queue full, stopped) */
    const struct timeval *resp_tv; /* common timeout for request timers */
    struct timeval resp_tv_plain;  /* fallback when the base has no slot left */

    uint32_t next_seq;
    struct esme_req **slots;    /* in flight, by seq & mask */
    uint32_t mask;
    struct req_list queue;      /* waiting for the window */
    struct esme_req *qretry;    /* end of the queue's front part of
                                 * throttled requests put back (NULL: none) */
    uint64_t next_order;
    struct req_slist deferred;  /* waiting for a deferred done(), FIFO */
    struct req_slist freelist;  /* LIFO */
    unsigned nfree;
    LIST_HEAD(, lingerer) lingering;

    double tokens, burst;
    uint64_t tokens_us;
    /* adaptive rate (see Throttling above) */
    double rate;                /* effective tps now; 0 = unlimited */
    double rate_target;         /* where raises stop (tps, or the tps-0 ref) */
    unsigned rate_ok;           /* successes towards the next raise (kept
                                 * across cuts: an SMSC that throttles a
                                 * fixed share at any rate must not pin
                                 * the rate to the floor) */
    uint64_t cut_us;            /* last cut: older sends are stale rounds */
    uint64_t srtt_us;           /* smoothed response time, 0 = no sample */
    unsigned streak;            /* consecutive throttle rounds */
    unsigned last_pause_ms;
    int paused;
    uint64_t pause_until_ms;
    unsigned backoff_ms;
    uint64_t rng;
    int started_once;
    char smsc_id[17];

    unsigned depth;             /* nesting of enter()/leave() */
    int free_pending, freeing;
    struct esme_stats st;

    /* deferred answers to deliver_sm / data_sm (esme_defer_answer) */
    struct esme_answers *ans;   /* NULL until the first deferral */
    struct esme_link *dlv_link; /* the deliver_sm being handled, or NULL */
    uint32_t dlv_seq, dlv_resp;
    int dlv_deferred;           /* on_deliver took the answer over */
};

/* ---- small helpers ----------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}

static struct timeval ms_tv(unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000u), (suseconds_t)((ms % 1000u) * 1000u) };
    return tv;
}

static void timer_ms(struct event *ev, unsigned ms)
{
    struct timeval tv = ms_tv(ms);
    evtimer_add(ev, &tv);
}

__attribute__((format(printf, 4, 0)))
static void default_log(void *ud, int level, const char *peer,
                        const char *fmt, va_list ap)
{
    (void)ud;
    static const char *const lv[] = { "error", "warn", "info", "debug" };
    if (level > ESME_LOG_INFO)
        return;
    fprintf(stderr, "[%s] %s: ", peer, lv[level < 0 ? 0 : level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

__attribute__((format(printf, 3, 4)))
static void elog(struct esme *e, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (e->cb.log)
        e->cb.log(e->cb.ud, level, e->cfg.name, fmt, ap);
    else
        default_log(NULL, level, e->cfg.name, fmt, ap);
    va_end(ap);
}

static const char *status_str(uint32_t st)
{
    const char *n = smpp_status_name(st);
    return n ? n : "unknown status";
}

const char *esme_outcome_name(enum esme_outcome o)
{
    static const char *const names[ESME_OUT_COUNT] = {
        "ESME_ROK", "ESME_RTHROTTLED", "ESME_RMSGQFUL", "ESME_RINVDSTADR",
        "ESME_RSYSERR", "other", "timeout",
    };
    return (unsigned)o < ESME_OUT_COUNT ? names[o] : "other";
}

static enum esme_outcome outcome_of(uint32_t status)
{
    switch (status) {
    case ESME_ROK:        return ESME_OUT_OK;
    case ESME_RTHROTTLED: return ESME_OUT_THROTTLED;
    case ESME_RMSGQFUL:   return ESME_OUT_QUEUE_FULL;
    case ESME_RINVDSTADR: return ESME_OUT_INVALID_DEST;
    case ESME_RSYSERR:    return ESME_OUT_SYSTEM_ERROR;
    case ESME_DONE_TIMEOUT: return ESME_OUT_TIMEOUT;
    default:              return ESME_OUT_OTHER;
    }
}

static bool is_message(uint32_t cmd)
{
    return cmd == SMPP_SUBMIT_SM || cmd == SMPP_DATA_SM;
}

/* xorshift64*: jitter only, not security. */
static uint32_t rnd(struct esme *e)
{
    e->rng ^= e->rng >> 12;
    e->rng ^= e->rng << 25;
    e->rng ^= e->rng >> 27;
    return (uint32_t)((e->rng * 2685821657736338717ull) >> 32);
}

static void destroy(struct esme *e);
static void answers_free(struct esme *e);

static void enter(struct esme *e) { e->depth++; }

/* After leave() returns nonzero, e is gone: the caller must not touch it. */
static int leave(struct esme *e)
{
    if (--e->depth == 0 && e->free_pending) {
        destroy(e);
        return 1;
    }
    return 0;
}

/* ---- request objects --------------------------------------------------- */

static void req_timeout_cb(evutil_socket_t fd, short what, void *arg);

static struct esme_req *req_get(struct esme *e)
{
    struct esme_req *r = STAILQ_FIRST(&e->freelist);
    if (r) {
        STAILQ_REMOVE_HEAD(&e->freelist, link.q);
        e->nfree--;
    } else {
        r = malloc(sizeof *r);
        if (!r)
            return NULL;
        r->e = e;
        r->timer = evtimer_new(e->base, req_timeout_cb, r);
        if (!r->timer) {
            free(r);
            return NULL;
        }
    }
    r->seq = 0;
    r->retries = 0;
    r->len = 0;
    r->bytes = r->inl;
    return r;
}

static void req_put(struct esme *e, struct esme_req *r)
{
    if (r->bytes != r->inl)
        free(r->bytes);
    r->bytes = r->inl;
    evtimer_del(r->timer);
    if (e->nfree < REQ_FREELIST_MAX && !e->freeing) {
        STAILQ_INSERT_HEAD(&e->freelist, r, link.q);
        e->nfree++;
        return;
    }
    event_free(r->timer);
    free(r);
}

/* Hand a finished request to its owner: recycle the object first (the
 * callback may send again), then call done. */
static void req_finish(struct esme *e, struct esme_req *r, uint32_t status,
                       const struct smpp_pdu *resp)
{
    esme_done_fn *done = r->done;
    void *arg = r->arg;
    req_put(e, r);
    if (done)
        done(e, arg, status, resp);
}

static void q_push_back(struct esme *e, struct esme_req *r)
{
    TAILQ_INSERT_TAIL(&e->queue, r, link.tq);
    e->st.queued++;
}

/* Put a throttled request back at the front of the queue, among the
 * others put back and not yet resent, by esme_send() order: they go out
 * again in their original order even when one is throttled twice. */
static void q_requeue(struct esme *e, struct esme_req *r)
{
    struct esme_req *after = NULL, *n;
    if (e->qretry) {
        TAILQ_FOREACH(n, &e->queue, link.tq) {
            if (n->order > r->order)
                break;
            after = n;
            if (n == e->qretry)
                break;
        }
    }
    int last = after == e->qretry;     /* r ends the front part */
    if (after)
        TAILQ_INSERT_AFTER(&e->queue, after, r, link.tq);
    else
        TAILQ_INSERT_HEAD(&e->queue, r, link.tq);
    if (last)
        e->qretry = r;
    e->st.queued++;
}

/* Take r out of the middle of the queue (its queue timer fired). */
static void q_remove(struct esme *e, struct esme_req *r)
{
    if (e->qretry == r)
        e->qretry = TAILQ_PREV(r, req_list, link.tq);
    TAILQ_REMOVE(&e->queue, r, link.tq);
    e->st.queued--;
}

/* Arm the queue-wait limit of a request that goes (back) to the queue. */
static void q_arm(struct esme *e, struct esme_req *r)
{
    if (e->cfg.queue_timeout_ms) {
        struct timeval tv = { (time_t)(e->cfg.queue_timeout_ms / 1000u),
                              (suseconds_t)(e->cfg.queue_timeout_ms % 1000u) * 1000 };
        evtimer_add(r->timer, &tv);
    }
}

static struct esme_req *q_pop(struct esme *e)
{
    struct esme_req *r = TAILQ_FIRST(&e->queue);
    if (r)
        q_remove(e, r);
    return r;
}

/* Complete r with status later, from defer_ev (never inside esme_send). */
static void defer_done(struct esme *e, struct esme_req *r, uint32_t status)
{
    r->fail_status = status;
    STAILQ_INSERT_TAIL(&e->deferred, r, link.q);
    event_active(e->defer_ev, EV_TIMEOUT, 0);
}

static struct esme_req *inflight_take(struct esme *e, uint32_t seq)
{
    struct esme_req **slot = &e->slots[seq & e->mask];
    struct esme_req *r = *slot;
    if (!r || r->seq != seq)
        return NULL;
    *slot = NULL;
    r->seq = 0;
    evtimer_del(r->timer);
    e->st.in_flight--;
    return r;
}

/* Next sequence number: 1..0x7FFFFFFF wrapping, skipping numbers whose
 * slot is busy (at most `window` are, of >= 2*window slots). */
static uint32_t seq_alloc(struct esme *e)
{
    for (;;) {
        uint32_t s = e->next_seq;
        e->next_seq = s >= SEQ_MAX ? 1 : s + 1;
        if (!e->slots[s & e->mask])
            return s;
    }
}

/* ---- writing ----------------------------------------------------------- */

static void link_write(struct esme_link *l, const void *buf, size_t len)
{
    if (!l->bev)
        return;
    bufferevent_write(l->bev, buf, len);
    l->last_io_ms = kz_mono_ms();
}

/* Header-only PDUs (enquire_link, unbind, generic_nack, *_resp with an
 * error) and *_resp with an empty message_id are written by hand: they are
 * on the hot path and have no fields worth a full encode. */
static void link_send_simple(struct esme_link *l, uint32_t id, uint32_t status,
                             uint32_t seq, int empty_msgid)
{
    uint8_t b[17];
    size_t n = empty_msgid ? 17 : 16;
    put32(b, (uint32_t)n);
    put32(b + 4, id);
    put32(b + 8, status);
    put32(b + 12, seq);
    b[16] = 0;
    link_write(l, b, n);
}

/* ---- lingering close -------------------------------------------------- */

static void linger_free(struct lingerer *g)
{
    LIST_REMOVE(g, link);
    bufferevent_free(g->bev);
    event_free(g->timer);
    free(g);
}

/* Bytes still to go out on bev: for a TLS filter (issue 13 tls-smpp) also
 * the records waiting in its socket's output.  The filter encrypts what is
 * written to it at once, and libevent calls none of the filter's callbacks
 * when its socket drains: a lingering TLS link is looked at every
 * LINGER_POLL_MS (linger_timer_cb) until this is 0 or LINGER_MS is over. */
static size_t pending_out(struct bufferevent *bev)
{
    struct bufferevent *sock = bufferevent_get_underlying(bev);
    return evbuffer_get_length(bufferevent_get_output(bev)) +
           (sock ? evbuffer_get_length(bufferevent_get_output(sock)) : 0);
}

static void linger_write_cb(struct bufferevent *bev, void *arg)
{
    struct lingerer *g = arg;
    if (pending_out(bev) == 0)
        linger_free(g);
}

static void linger_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev; (void)what;
    struct lingerer *g = arg;
    linger_free(g);
}

static void linger_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct lingerer *g = arg;
    if (pending_out(g->bev) > 0 && kz_mono_ms() < g->until_ms)
        timer_ms(g->timer, LINGER_POLL_MS);
    else
        linger_free(g);
}

/* Close a link: free its socket now, or once its output is flushed. */
static void link_close(struct esme *e, struct esme_link *l, int flush)
{
    struct bufferevent *bev = l->bev;
    l->bev = NULL;
    l->gen++;
    l->connected = l->bound = l->unbound = l->enq_pending = 0;
    if (l->idle_timer)
        evtimer_del(l->idle_timer);
    if (l->enq_timer)
        evtimer_del(l->enq_timer);
    if (!bev)
        return;
    struct lingerer *g = NULL;
    if (flush && !e->freeing && pending_out(bev) > 0 &&
        (g = calloc(1, sizeof *g)) != NULL &&
        (g->timer = evtimer_new(e->base, linger_timer_cb, g)) != NULL) {
        g->bev = bev;
        LIST_INSERT_HEAD(&e->lingering, g, link);
        bufferevent_disable(bev, EV_READ);
        bufferevent_setcb(bev, NULL, linger_write_cb, linger_event_cb, g);
        g->until_ms = kz_mono_ms() + LINGER_MS;
        timer_ms(g->timer, bufferevent_get_underlying(bev) ? LINGER_POLL_MS
                                                           : LINGER_MS);
        return;
    }
    free(g);
    bufferevent_free(bev);
}

static void close_links(struct esme *e, int flush)
{
    for (unsigned i = 0; i < e->nlinks; i++)
        link_close(e, &e->link[i], flush);
}

/* ---- the state machine ------------------------------------------------ */

typedef void action_fn(struct esme *e, void *arg);

struct transition {
    action_fn *act;       /* may be NULL */
    unsigned char next;   /* next state, or S_STAY */
    unsigned char valid;  /* 0: the event is ignored in this state */
};

#define S_STAY 0xFF
#define T(a, s) { (a), (unsigned char)(s), 1 }

static action_fn a_connect, a_bind, a_bound, a_bind_failed, a_drop,
                 a_pdu, a_unbind, a_close, a_peer_unbind, a_unbound;

static const struct transition fsm[ESME_CLOSED + 1][EV_COUNT] = {
    [ESME_IDLE] = {
        [EV_START]          = T(a_connect,     ESME_CONNECTING),
        [EV_STOP]           = T(a_close,       ESME_CLOSED),
    },
    [ESME_CONNECTING] = {
        [EV_CONNECTED]      = T(a_bind,        ESME_BINDING),
        [EV_CONNECT_FAILED] = T(a_drop,        ESME_BACKOFF),
        [EV_IO_ERROR]       = T(a_drop,        ESME_BACKOFF),
        [EV_PDU_IN]         = T(a_pdu,         S_STAY),
        [EV_TIMER]          = T(a_drop,        ESME_BACKOFF),
        [EV_STOP]           = T(a_close,       ESME_CLOSED),
    },
    [ESME_BINDING] = {
        [EV_BIND_OK]        = T(a_bound,       ESME_BOUND),
        [EV_BIND_FAILED]    = T(a_bind_failed, ESME_BACKOFF),
        [EV_PDU_IN]         = T(a_pdu,         S_STAY),
        [EV_IO_ERROR]       = T(a_drop,        ESME_BACKOFF),
        [EV_PEER_UNBIND]    = T(a_peer_unbind, ESME_BACKOFF),
        [EV_TIMER]          = T(a_drop,        ESME_BACKOFF),
        [EV_STOP]           = T(a_close,       ESME_CLOSED),
    },
    [ESME_BOUND] = {
        [EV_PDU_IN]         = T(a_pdu,         S_STAY),
        [EV_IO_ERROR]       = T(a_drop,        ESME_BACKOFF),
        [EV_LINK_DEAD]      = T(a_drop,        ESME_BACKOFF),
        [EV_PEER_UNBIND]    = T(a_peer_unbind, ESME_BACKOFF),
        [EV_STOP]           = T(a_unbind,      ESME_UNBINDING),
    },
    [ESME_UNBINDING] = {
        [EV_PDU_IN]         = T(a_pdu,         S_STAY),
        [EV_UNBIND_DONE]    = T(a_unbound,     ESME_CLOSED),
        [EV_PEER_UNBIND]    = T(a_unbound,     ESME_CLOSED),
        [EV_IO_ERROR]       = T(a_close,       ESME_CLOSED),
        [EV_LINK_DEAD]      = T(a_close,       ESME_CLOSED),
        [EV_TIMER]          = T(a_close,       ESME_CLOSED),
        [EV_STOP]           = T(NULL,          S_STAY),
    },
    [ESME_BACKOFF] = {
        [EV_TIMER]          = T(a_connect,     ESME_CONNECTING),
        [EV_STOP]           = T(a_close,       ESME_CLOSED),
    },
    [ESME_CLOSED] = {
        [EV_START]          = T(a_connect,     ESME_CONNECTING),
        [EV_STOP]           = T(NULL,          S_STAY),
    },
};

static void fsm_event(struct esme *e, enum esme_event ev, void *arg)
{
    const struct transition *t = &fsm[e->state][ev];
    if (!t->valid) {
        elog(e, ESME_LOG_DEBUG, "event %s ignored in state %s",
             event_names[ev], esme_state_name(e->state));
        return;
    }
    if (t->next != S_STAY) {
        elog(e, ESME_LOG_DEBUG, "%s --%s--> %s", esme_state_name(e->state),
             event_names[ev], esme_state_name((enum esme_state)t->next));
        e->state = (enum esme_state)t->next;
    }
    if (t->act)
        t->act(e, arg);
    if (e->state != e->reported && !e->free_pending && !e->freeing) {
        e->reported = e->state;
        if (e->cb.on_state)
            e->cb.on_state(e, e->state, e->cb.ud);
    }
}

/* ---- sending requests ------------------------------------------------- */

static void pump(struct esme *e);

static int take_token(struct esme *e)
{
    uint64_t t = kz_mono_us();
    e->tokens += (double)(t - e->tokens_us) * e->rate / 1e6;
    if (e->tokens > e->burst)
        e->tokens = e->burst;
    e->tokens_us = t;
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
        return 1;
    }
    if (!evtimer_pending(e->tps_timer, NULL)) {
        uint64_t w = (uint64_t)((1.0 - e->tokens) * 1e6 / e->rate) + 1;
        struct timeval tv = { (time_t)(w / 1000000u), (suseconds_t)(w % 1000000u) };
        evtimer_add(e->tps_timer, &tv);
    }
    return 0;
}

static void transmit(struct esme *e, struct esme_req *r)
{
    struct esme_link *tx = &e->link[0];
    r->seq = seq_alloc(e);
    put32(r->bytes + 12, r->seq);
    e->slots[r->seq & e->mask] = r;
    e->st.in_flight++;
    if (r->retries == 0)        /* a throttling retry is not a new attempt */
        e->st.sent++;
    r->sent_us = kz_mono_us();
    event_add(r->timer, e->resp_tv);
    link_write(tx, r->bytes, r->len);
}

/* Move requests from the queue to the wire while the window, the token
 * bucket and any throttling pause allow.  Calls no user callback. */
static void pump(struct esme *e)
{
    if (e->state != ESME_BOUND || e->paused || !e->link[0].bev)
        return;
    while (!TAILQ_EMPTY(&e->queue) && e->st.in_flight < e->cfg.window) {
        if (e->rate > 0 && !take_token(e))
            break;
        transmit(e, q_pop(e));
    }
}

static void pause_sending(struct esme *e, unsigned ms)
{
    uint64_t until = kz_mono_ms() + ms;
    if (e->paused && until <= e->pause_until_ms)
        return;
    e->paused = 1;
    e->pause_until_ms = until;
    timer_ms(e->pause_timer, ms);
}

/* Set the effective rate (0 = unlimited) and the bucket's size with it:
 * a tenth of a second's worth, at least one request. */
static void set_rate(struct esme *e, double rate)
{
    e->rate = rate;
    e->burst = rate >= 20 ? rate / 10.0 : 1.0;
    if (e->tokens > e->burst)
        e->tokens = e->burst;
}

static unsigned rate_shown(double rate)
{
    return rate <= 0 ? 0 : rate < 1 ? 1 : (unsigned)(rate + 0.5);
}

/* What the window can carry now: window / smoothed response time. */
static double window_rate(const struct esme *e)
{
    uint64_t rtt = e->srtt_us ? e->srtt_us : SRTT_DEFAULT_US;
    double r = (double)e->cfg.window * 1e6 / (double)(rtt ? rtt : 1);
    return r > RATE_REF_MAX ? RATE_REF_MAX : r;
}

/* A new throttle round.  The cut deepens with consecutive rounds: the
 * first after a success takes a quarter off and does not pause (the
 * emptied bucket holds the next send back one interval at the new rate);
 * each further round without a success in between halves the rate and
 * pauses throttle_retry_ms, doubled per round, capped at throttle_max_ms.
 * Returns the pause in ms (0: none). */
static unsigned throttle_cut(struct esme *e)
{
    double floor = e->cfg.throttle_min_tps;
    double from = e->rate;
    if (e->streak < 64)
        e->streak++;
    if (from <= 0) {            /* unlimited: start from what was possible */
        from = window_rate(e);
        if (from < 2 * floor)
            from = 2 * floor;
        e->rate_target = from;
    }
    double to = e->streak == 1 ? from * 0.75 : from / 2;
    set_rate(e, to < floor ? floor : to);
    e->tokens = 0;              /* what the bucket held was for the old rate */
    e->tokens_us = e->cut_us = kz_mono_us();
    e->st.rate_cuts++;
    uint64_t d = 0;
    if (e->streak > 1) {
        d = e->cfg.throttle_retry_ms;
        for (unsigned i = 2; i < e->streak && d < e->cfg.throttle_max_ms; i++)
            d *= 2;
        if (d > e->cfg.throttle_max_ms)
            d = e->cfg.throttle_max_ms;
    }
    e->last_pause_ms = (unsigned)d;
    return (unsigned)d;
}

/* A success of a request sent at the current rate: additive increase,
 * target/RATE_STEPS per RATE_OK_PER_STEP successes; at the target the
 * limit goes back to tps (or none with tps 0). */
static void throttle_ok(struct esme *e)
{
    e->streak = 0;
    if (e->rate <= 0 || (e->cfg.tps && e->rate >= e->cfg.tps))
        return;
    if (++e->rate_ok < RATE_OK_PER_STEP)
        return;
    e->rate_ok = 0;
    double step = e->rate_target / RATE_STEPS;
    double r = e->rate + (step < 1 ? 1 : step);
    if (r >= e->rate_target) {
        set_rate(e, e->cfg.tps ? (double)e->cfg.tps : 0);
        if (e->cfg.tps)
            elog(e, ESME_LOG_INFO, "throttling over: rate back to %u/s",
                 e->cfg.tps);
        else
            elog(e, ESME_LOG_INFO, "throttling over: rate limit lifted");
        return;
    }
    set_rate(e, r);
    elog(e, ESME_LOG_DEBUG, "rate raised to %u/s", rate_shown(r));
}

/* A response (or generic_nack) for request r arrived. */
static void req_answered(struct esme *e, struct esme_req *r, uint32_t status,
                         const struct smpp_pdu *resp)
{
    uint64_t t = kz_mono_us();
    uint64_t rtt = t > r->sent_us ? t - r->sent_us : 1;
    e->srtt_us = e->srtt_us ? (7 * e->srtt_us + rtt) / 8 : rtt;
    if (is_message(r->cmd_id)) {
        e->st.submits[outcome_of(status)]++;
        if (e->cfg.resp_seconds)
            kz_hist_observe(e->cfg.resp_seconds, (double)rtt / 1e6);
    }
    int fresh = r->sent_us >= e->cut_us;   /* sent at the current rate */
    if (status == ESME_RTHROTTLED || status == ESME_RMSGQFUL) {
        e->st.throttled++;
        if (r->retries < e->cfg.max_retries) {
            r->retries++;
            e->st.retried++;
            unsigned seq = resp ? resp->sequence_number : 0;
            if (fresh) {
                unsigned d = throttle_cut(e);
                elog(e, ESME_LOG_INFO,
                     "%s seq %u: %s, retry %u/%u in %u ms, rate %u/s",
                     smpp_command_name(r->cmd_id), seq, status_str(status),
                     r->retries, e->cfg.max_retries, d, rate_shown(e->rate));
                if (d)
                    pause_sending(e, d);
            } else {
                elog(e, ESME_LOG_DEBUG,
                     "%s seq %u: %s, retry %u/%u after this pause",
                     smpp_command_name(r->cmd_id), seq, status_str(status),
                     r->retries, e->cfg.max_retries);
            }
            q_requeue(e, r);
            q_arm(e, r);
            return;
        }
        elog(e, ESME_LOG_WARN, "%s: %s after %u retries, giving up",
             smpp_command_name(r->cmd_id), status_str(status), r->retries);
    } else if (fresh) {
        throttle_ok(e);
    }
    if (status == ESME_ROK)
        e->st.resp_ok++;
    else
        e->st.resp_err++;
    req_finish(e, r, status, resp);
}

/* ---- timers ------------------------------------------------------------ */

static void req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct esme_req *r = arg;
    struct esme *e = r->e;
    enter(e);
    if (r->seq == 0) {                 /* waited too long in the queue */
        q_remove(e, r);
        e->st.timeouts++;
        e->st.submits[ESME_OUT_TIMEOUT] += is_message(r->cmd_id);
        elog(e, ESME_LOG_WARN, "%s: not sent within %u ms (link %s)",
             smpp_command_name(r->cmd_id), e->cfg.queue_timeout_ms,
             esme_state_name(e->state));
        req_finish(e, r, ESME_DONE_TIMEOUT, NULL);
    } else if (inflight_take(e, r->seq) == r) {
        e->st.timeouts++;
        e->st.submits[ESME_OUT_TIMEOUT] += is_message(r->cmd_id);
        elog(e, ESME_LOG_WARN, "%s: no response within %u ms",
             smpp_command_name(r->cmd_id), e->cfg.response_timeout_ms);
        req_finish(e, r, ESME_DONE_TIMEOUT, NULL);
        if (!e->free_pending)
            pump(e);
    }
    leave(e);
}

static void state_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct esme *e = arg;
    enter(e);
    if (e->state == ESME_BACKOFF)
        fsm_event(e, EV_TIMER, NULL);
    else
        fsm_event(e, EV_TIMER, e->state == ESME_UNBINDING
                  ? "no unbind_resp in time" : "connect/bind timed out");
    leave(e);
}

static void pause_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct esme *e = arg;
    enter(e);
    e->paused = 0;
    pump(e);
    leave(e);
}

static void tps_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct esme *e = arg;
    enter(e);
    pump(e);
    leave(e);
}

static void defer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct esme *e = arg;
    enter(e);
    struct esme_req *r;
    while (!e->free_pending && (r = STAILQ_FIRST(&e->deferred)) != NULL) {
        STAILQ_REMOVE_HEAD(&e->deferred, link.q);
        req_finish(e, r, r->fail_status, NULL);
    }
    leave(e);
}

static void idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct esme_link *l = arg;
    struct esme *e = l->e;
    if (!l->bev)
        return;
    uint64_t idle = kz_mono_ms() - l->last_io_ms;
    unsigned period = e->cfg.enquire_link_ms;
    if (idle + 1 < period) {                 /* traffic since: wait the rest */
        timer_ms(l->idle_timer, (unsigned)(period - idle));
        return;
    }
    if (!l->enq_pending) {
        l->enq_pending = 1;
        l->enq_seq = seq_alloc(e);
        elog(e, ESME_LOG_DEBUG, "idle %u ms: enquire_link seq %u",
             (unsigned)idle, l->enq_seq);
        link_send_simple(l, SMPP_ENQUIRE_LINK, ESME_ROK, l->enq_seq, 0);
        timer_ms(l->enq_timer, e->cfg.response_timeout_ms);
    }
    timer_ms(l->idle_timer, period);
}

static void enq_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct esme_link *l = arg;
    struct esme *e = l->e;
    char reason[80];
    enter(e);
    snprintf(reason, sizeof reason, "no enquire_link_resp within %u ms",
             e->cfg.response_timeout_ms);
    fsm_event(e, EV_LINK_DEAD, reason);
    leave(e);
}

/* ---- actions ----------------------------------------------------------- */

static void link_event_cb(struct bufferevent *bev, short what, void *arg);
static void link_read_cb(struct bufferevent *bev, void *arg);

/* issue 13 tls-smpp: wrap the connecting socket bufferevent l->bev in a
 * TLS client filter (see "TLS" at the top).  On success l->bev is the
 * filter, which owns the socket and the SSL.  -1 (l->bev untouched, the
 * reason logged) when the SSL cannot be made. */
static int link_tls_wrap(struct esme *e, struct esme_link *l)
{
    char err[160] = "";
    ERR_clear_error();
    SSL *ssl = SSL_new(e->cfg.tls);
    if (!ssl) {
        elog(e, ESME_LOG_ERROR, "cannot make a TLS session: %s",
             kz_tls_reason(NULL, err, sizeof err));
        return -1;
    }
    const char *name = e->cfg.tls_name ? e->cfg.tls_name : e->cfg.host;
    if (kz_tls_client_name(ssl, name, err, sizeof err) != 0) {
        elog(e, ESME_LOG_ERROR, "TLS: %s", err);
        SSL_free(ssl);
        return -1;
    }
    /* from here the SSL is the filter's, even when it fails (then libevent
     * frees it); the socket bufferevent becomes the filter's only on success */
    struct bufferevent *f = bufferevent_openssl_filter_new(
        e->base, l->bev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!f) {
        elog(e, ESME_LOG_ERROR, "cannot make a TLS bufferevent");
        return -1;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
    l->bev = f;
    return 0;
}

static int link_open(struct esme *e, struct esme_link *l)
{
    l->bev = bufferevent_socket_new(e->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!l->bev)
        return -1;
    l->gen++;
    bufferevent_setcb(l->bev, link_read_cb, NULL, link_event_cb, l);
    bufferevent_enable(l->bev, EV_READ | EV_WRITE);
    int r;
    if (e->salen) {
        r = bufferevent_socket_connect(l->bev, (struct sockaddr *)&e->sa, e->salen);
    } else {
        if (!e->dns)
            e->dns = evdns_base_new(e->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        r = e->dns ? bufferevent_socket_connect_hostname(l->bev, e->dns,
                         AF_UNSPEC, e->cfg.host, e->cfg.port) : -1;
    }
    /* the filter goes on after the connect started, as in libevent's
     * le-proxy: its ClientHello waits in the socket's output meanwhile */
    if (r == 0 && e->cfg.tls) {
        if (link_tls_wrap(e, l) != 0)
            return -1;
        bufferevent_setcb(l->bev, link_read_cb, NULL, link_event_cb, l);
        bufferevent_enable(l->bev, EV_READ | EV_WRITE);
    }
    return r;
}

static void a_connect(struct esme *e, void *arg)
{
    (void)arg;
    if (e->started_once++)
        e->st.reconnects++;
    elog(e, ESME_LOG_DEBUG, "connecting to %s:%u", e->cfg.host, e->cfg.port);
    timer_ms(e->state_timer, e->cfg.connect_timeout_ms);
    for (unsigned i = 0; i < e->nlinks; i++) {
        if (link_open(e, &e->link[i]) < 0) {
            char reason[96];
            snprintf(reason, sizeof reason, "connect to %s:%u failed: %s",
                     e->cfg.host, e->cfg.port,
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
            fsm_event(e, EV_CONNECT_FAILED, reason);
            return;
        }
    }
}

static void a_bind(struct esme *e, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < e->nlinks; i++) {
        struct esme_link *l = &e->link[i];
        struct smpp_pdu p;
        struct smpp_err err;
        uint8_t buf[160];
        uint32_t id = l->kind == LINK_TRX ? SMPP_BIND_TRANSCEIVER
                    : l->kind == LINK_TX ? SMPP_BIND_TRANSMITTER
                    : SMPP_BIND_RECEIVER;
        l->bind_seq = seq_alloc(e);
        smpp_pdu_reset(&p, id, ESME_ROK, l->bind_seq);
        p.system_id = e->cfg.system_id;
        p.password = e->cfg.password;
        p.system_type = e->cfg.system_type;
        p.interface_version = 0x34;
        p.addr_ton = e->cfg.addr_ton;
        p.addr_npi = e->cfg.addr_npi;
        p.address_range = e->cfg.address_range;
        int n = smpp_pdu_encode(&p, buf, sizeof buf, &err);
        if (n < 0) {      /* esme_new checked the lengths: cannot happen */
            elog(e, ESME_LOG_ERROR, "cannot encode %s: %s",
                 smpp_command_name(id), err.text);
            fsm_event(e, EV_IO_ERROR, "bind does not encode");
            return;
        }
        elog(e, ESME_LOG_DEBUG, "%s as '%s' seq %u", smpp_command_name(id),
             e->cfg.system_id, l->bind_seq);
        link_write(l, buf, (size_t)n);
    }
}

static const char *mode_name(const struct esme *e)
{
    return e->cfg.bind_mode == ESME_BIND_TRX ? "transceiver"
                                             : "transmitter+receiver";
}

static void a_bound(struct esme *e, void *arg)
{
    (void)arg;
    evtimer_del(e->state_timer);
    e->backoff_ms = e->cfg.reconnect_min_ms;
    e->st.binds++;
    elog(e, ESME_LOG_INFO, "bound as %s to SMSC '%s'", mode_name(e), e->smsc_id);
    uint64_t t = kz_mono_ms();
    for (unsigned i = 0; i < e->nlinks; i++) {
        e->link[i].last_io_ms = t;
        timer_ms(e->link[i].idle_timer, e->cfg.enquire_link_ms);
    }
    e->tokens = e->burst;
    e->tokens_us = kz_mono_us();
    pump(e);
}

/* Every in-flight request completes with status (callbacks run last, and
 * stop early when a callback asked for esme_free: destroy() then reports
 * the rest as ESME_DONE_STOPPED). */
static void fail_inflight(struct esme *e, uint32_t status)
{
    for (uint32_t i = 0; i <= e->mask && !e->free_pending && !e->freeing; i++) {
        struct esme_req *r = e->slots[i];
        if (r && inflight_take(e, r->seq) == r)
            req_finish(e, r, status, NULL);
    }
}

static void fail_queued(struct esme *e, uint32_t status)
{
    struct esme_req *r;
    while (!e->free_pending && (r = q_pop(e)) != NULL)
        req_finish(e, r, status, NULL);
}

static void schedule_reconnect(struct esme *e)
{
    unsigned base = e->backoff_ms;
    /* +-20% jitter */
    int64_t j = (int64_t)base * 40 / 100;
    int64_t d = (int64_t)base - (int64_t)base * 20 / 100 + (j ? (int64_t)(rnd(e) % (uint64_t)(j + 1)) : 0);
    if (d < 1)
        d = 1;
    uint64_t next = (uint64_t)base * 2;
    e->backoff_ms = next > e->cfg.reconnect_max_ms ? e->cfg.reconnect_max_ms
                                                   : (unsigned)next;
    elog(e, ESME_LOG_INFO, "reconnect scheduled in %u ms", (unsigned)d);
    /* from now, not from when this loop pass began: a pass that did much
     * (a TLS handshake's verification, slow under valgrind) would
     * otherwise cut the wait short */
    event_base_update_cache_time(e->base);
    timer_ms(e->state_timer, (unsigned)d);
}

/* Leave the link for the back-off state.  arg: reason text. */
static void a_drop(struct esme *e, void *arg)
{
    const char *reason = arg ? arg : "unknown";
    elog(e, ESME_LOG_INFO, "disconnected: %s", reason);
    close_links(e, 1);
    evtimer_del(e->pause_timer);
    evtimer_del(e->tps_timer);
    e->paused = 0;
    schedule_reconnect(e);
    fail_inflight(e, ESME_DONE_LINK_LOST);   /* queued ones wait for the next bind */
}

static void a_bind_failed(struct esme *e, void *arg)
{
    uint32_t st = *(const uint32_t *)arg;
    switch (st) {
    case ESME_RINVPASWD:
        elog(e, ESME_LOG_ERROR, "bind refused: wrong password (ESME_RINVPASWD)");
        break;
    case ESME_RINVSYSID:
        elog(e, ESME_LOG_ERROR, "bind refused: wrong system_id '%s' (ESME_RINVSYSID)",
             e->cfg.system_id);
        break;
    case ESME_RALYBND:
        elog(e, ESME_LOG_ERROR, "bind refused: already bound (ESME_RALYBND)");
        break;
    case ESME_RBINDFAIL:
        elog(e, ESME_LOG_ERROR, "bind refused: bind failed at the SMSC (ESME_RBINDFAIL)");
        break;
    case ESME_RINVSYSTYP:
        elog(e, ESME_LOG_ERROR, "bind refused: wrong system_type '%s' (ESME_RINVSYSTYP)",
             e->cfg.system_type ? e->cfg.system_type : "");
        break;
    default:
        elog(e, ESME_LOG_ERROR, "bind refused: status 0x%08x (%s)",
             (unsigned)st, status_str(st));
        break;
    }
    char reason[64];
    snprintf(reason, sizeof reason, "bind refused (%s)", status_str(st));
    a_drop(e, reason);
}

static void a_peer_unbind(struct esme *e, void *arg)
{
    (void)arg;
    elog(e, ESME_LOG_INFO, "unbound by the SMSC");
    a_drop(e, "unbind from the SMSC");
}

static void a_unbind(struct esme *e, void *arg)
{
    (void)arg;
    evtimer_del(e->pause_timer);
    evtimer_del(e->tps_timer);
    for (unsigned i = 0; i < e->nlinks; i++) {
        struct esme_link *l = &e->link[i];
        l->unbind_seq = seq_alloc(e);
        l->unbound = 0;
        link_send_simple(l, SMPP_UNBIND, ESME_ROK, l->unbind_seq, 0);
    }
    elog(e, ESME_LOG_DEBUG, "unbind sent, waiting up to %u ms", UNBIND_WAIT_MS);
    timer_ms(e->state_timer, UNBIND_WAIT_MS);
}

/* Stopped for good: close, and every pending request gets STOPPED. */
static void a_close(struct esme *e, void *arg)
{
    if (arg)
        elog(e, ESME_LOG_INFO, "disconnected: %s", (const char *)arg);
    close_links(e, 1);
    evtimer_del(e->state_timer);
    evtimer_del(e->pause_timer);
    evtimer_del(e->tps_timer);
    e->paused = 0;
    elog(e, ESME_LOG_INFO, "closed");
    fail_inflight(e, ESME_DONE_STOPPED);
    fail_queued(e, ESME_DONE_STOPPED);
}

static void a_unbound(struct esme *e, void *arg)
{
    (void)arg;
    elog(e, ESME_LOG_INFO, "unbound");
    a_close(e, NULL);
}

/* ---- incoming PDUs ----------------------------------------------------- */

struct pdu_in {
    struct esme_link *l;
    const struct smpp_pdu *p;
};

static int all_links(const struct esme *e, size_t off)
{
    for (unsigned i = 0; i < e->nlinks; i++)
        if (!*(const unsigned *)((const char *)&e->link[i] + off))
            return 0;
    return 1;
}

static void on_bind_resp(struct esme *e, struct esme_link *l,
                         const struct smpp_pdu *p)
{
    if (l->bound || p->sequence_number != l->bind_seq) {
        elog(e, ESME_LOG_WARN, "unexpected %s seq %u ignored",
             smpp_command_name(p->command_id), p->sequence_number);
        return;
    }
    if (p->command_status != ESME_ROK) {
        uint32_t st = p->command_status;
        fsm_event(e, EV_BIND_FAILED, &st);
        return;
    }
    l->bound = 1;
    if (p->system_id && (l->kind != LINK_RX || !e->smsc_id[0]))
        snprintf(e->smsc_id, sizeof e->smsc_id, "%s", p->system_id);
    elog(e, ESME_LOG_DEBUG, "%s ok", smpp_command_name(p->command_id));
    if (all_links(e, offsetof(struct esme_link, bound)))
        fsm_event(e, EV_BIND_OK, NULL);
}

static void on_deliver(struct esme *e, struct esme_link *l,
                       const struct smpp_pdu *p)
{
    uint32_t resp = smpp_resp_id(p->command_id);
    uint32_t st = ESME_ROK;
    if (l->kind == LINK_TX || e->state == ESME_BINDING || !l->bound) {
        st = ESME_RINVBNDSTS;       /* not bound to receive on this link */
    } else {
        e->st.delivered_in++;
        e->dlv_link = l;
        e->dlv_seq = p->sequence_number;
        e->dlv_resp = resp;
        e->dlv_deferred = 0;
        if (e->cb.on_deliver)
            st = e->cb.on_deliver(e, p, e->cb.ud);
        e->dlv_link = NULL;
        if (e->dlv_deferred)
            return;                 /* answered by esme_answer() or its timer */
    }
    /* the callback may have dropped or freed: answer only a live link */
    if (l->bev && !e->free_pending)
        link_send_simple(l, resp, st, p->sequence_number, 1);
}

/* A response or generic_nack for one of our own requests. */
static void on_resp(struct esme *e, struct esme_link *l,
                    const struct smpp_pdu *p)
{
    uint32_t seq = p->sequence_number;
    if (p->command_id == SMPP_GENERIC_NACK)
        e->st.nacks_in++;
    if (l->enq_pending && seq == l->enq_seq &&
        (p->command_id == SMPP_ENQUIRE_LINK_RESP ||
         p->command_id == SMPP_GENERIC_NACK)) {
        l->enq_pending = 0;
        evtimer_del(l->enq_timer);
        return;
    }
    if (!l->bound && seq == l->bind_seq &&
        p->command_id == SMPP_GENERIC_NACK) {
        uint32_t st = p->command_status ? p->command_status : ESME_RBINDFAIL;
        fsm_event(e, EV_BIND_FAILED, &st);
        return;
    }
    struct esme_req *r = inflight_take(e, seq);
    if (!r) {
        elog(e, ESME_LOG_DEBUG, "%s seq %u matches no request (late?)",
             smpp_command_name(p->command_id), seq);
        return;
    }
    if (p->command_id != SMPP_GENERIC_NACK &&
        p->command_id != smpp_resp_id(r->cmd_id))
        elog(e, ESME_LOG_WARN, "%s seq %u answers a %s",
             smpp_command_name(p->command_id), seq, smpp_command_name(r->cmd_id));
    req_answered(e, r, p->command_status, p);
    if (!e->free_pending)
        pump(e);
}

/* PDU_IN in CONNECTING / BINDING / BOUND / UNBINDING. */
static void a_pdu(struct esme *e, void *arg)
{
    struct pdu_in *in = arg;
    struct esme_link *l = in->l;
    const struct smpp_pdu *p = in->p;

    switch (p->command_id) {
    case SMPP_BIND_TRANSCEIVER_RESP:
    case SMPP_BIND_TRANSMITTER_RESP:
    case SMPP_BIND_RECEIVER_RESP:
        on_bind_resp(e, l, p);
        return;
    case SMPP_ENQUIRE_LINK:
        link_send_simple(l, SMPP_ENQUIRE_LINK_RESP, ESME_ROK, p->sequence_number, 0);
        return;
    case SMPP_UNBIND:
        link_send_simple(l, SMPP_UNBIND_RESP, ESME_ROK, p->sequence_number, 0);
        fsm_event(e, EV_PEER_UNBIND, NULL);
        return;
    case SMPP_UNBIND_RESP:
        if (e->state == ESME_UNBINDING && p->sequence_number == l->unbind_seq) {
            l->unbound = 1;
            if (all_links(e, offsetof(struct esme_link, unbound)))
                fsm_event(e, EV_UNBIND_DONE, NULL);
        }
        return;
    case SMPP_DELIVER_SM:
    case SMPP_DATA_SM:
        on_deliver(e, l, p);
        return;
    case SMPP_ALERT_NOTIFICATION:
    case SMPP_OUTBIND:
        elog(e, ESME_LOG_DEBUG, "%s ignored", smpp_command_name(p->command_id));
        return;
    default:
        break;
    }
    if (SMPP_IS_RESP(p->command_id)) {
        on_resp(e, l, p);
        return;
    }
    /* A request we do not serve (submit_sm from the SMSC, ...). */
    elog(e, ESME_LOG_WARN, "%s from the SMSC not supported, nacked",
         smpp_command_name(p->command_id));
    e->st.nacks_out++;
    link_send_simple(l, SMPP_GENERIC_NACK, ESME_RINVCMDID, p->sequence_number, 0);
}

/* A PDU with a sane length that did not decode. */
static void on_bad_pdu(struct esme *e, struct esme_link *l,
                       const struct smpp_pdu *p, const struct smpp_err *err)
{
    uint32_t id = p->command_id, seq = p->sequence_number;
    uint32_t st = err->status ? err->status : ESME_RSYSERR;
    elog(e, ESME_LOG_WARN, "bad %s (0x%08x) seq %u from the SMSC: %s (%s)",
         smpp_command_name(id), (unsigned)id, (unsigned)seq, err->text,
         status_str(st));
    if (SMPP_IS_RESP(id)) {
        if (!l->bound && seq == l->bind_seq && l->bev &&
            (id == SMPP_BIND_TRANSCEIVER_RESP || id == SMPP_BIND_TRANSMITTER_RESP ||
             id == SMPP_BIND_RECEIVER_RESP || id == SMPP_GENERIC_NACK) &&
            e->state == ESME_BINDING) {
            fsm_event(e, EV_BIND_FAILED, &st);
            return;
        }
        /* A broken answer to one of ours: complete it with the error. */
        struct esme_req *r = inflight_take(e, seq);
        if (r) {
            e->st.resp_err++;
            req_finish(e, r, st, NULL);
            if (!e->free_pending)
                pump(e);
        }
        return;
    }
    uint32_t resp = smpp_resp_id(id);
    if (resp == SMPP_GENERIC_NACK)
        e->st.nacks_out++;
    link_send_simple(l, resp, st, seq, 0);
}

static void handle_pdu(struct esme_link *l, const uint8_t *buf, uint32_t len)
{
    struct esme *e = l->e;
    struct smpp_pdu p;
    struct smpp_err err;
    struct smpp_limits lim = { e->cfg.max_pdu_len };

    l->last_io_ms = kz_mono_ms();
    if (smpp_pdu_decode(&p, buf, len, &lim, &err) < 0) {
        on_bad_pdu(e, l, &p, &err);
        return;
    }
    struct pdu_in in = { l, &p };
    fsm_event(e, EV_PDU_IN, &in);
}

static void link_read_cb(struct bufferevent *bev, void *arg)
{
    struct esme_link *l = arg;
    struct esme *e = l->e;
    unsigned gen = l->gen;
    struct evbuffer *in = bufferevent_get_input(bev);

    enter(e);
    while (!e->free_pending && l->gen == gen) {
        const uint8_t *pdu = NULL;
        uint32_t len = 0, seq = 0;
        enum smpp_frame fr = smpp_frame_next(in, e->cfg.max_pdu_len, &pdu, &len, &seq);
        if (fr == SMPP_FRAME_MORE)
            break;
        if (fr == SMPP_FRAME_BAD_LEN) {
            char reason[80];
            snprintf(reason, sizeof reason,
                     "absurd command_length %u (max %u)", (unsigned)len,
                     (unsigned)e->cfg.max_pdu_len);
            elog(e, ESME_LOG_WARN, "%s from the SMSC: generic_nack and drop",
                 reason);
            e->st.nacks_out++;
            link_send_simple(l, SMPP_GENERIC_NACK, ESME_RINVCMDLEN, seq, 0);
            fsm_event(e, EV_IO_ERROR, reason);
            break;
        }
        if (fr == SMPP_FRAME_NOMEM) {
            fsm_event(e, EV_IO_ERROR, "out of memory");
            break;
        }
        handle_pdu(l, pdu, len);
        if (l->gen != gen)          /* link closed: the buffer went with it */
            break;
        evbuffer_drain(in, len);
    }
    leave(e);
}

/* issue 13 tls-smpp: when the failure of TLS link bev was a TLS matter,
 * its reason into buf and 1: the certificate's verify result, else
 * OpenSSL's last reason (libevent keeps them per bufferevent and mixes in
 * SSL_get_error codes, which have no library: skipped), else, for a close
 * before the handshake finished, "connection closed during handshake".
 * 0 for a plain link or a failure below TLS (a refused connect). */
static int tls_failure(struct bufferevent *bev, int connected, short what,
                       char *buf, size_t n)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (!ssl)
        return 0;
    unsigned long err, last = 0;
    while ((err = bufferevent_get_openssl_error(bev)) != 0)
        if (ERR_GET_LIB(err) != 0)
            last = err;
    if (SSL_get_verify_result(ssl) != X509_V_OK ||
        (!last && !connected && (what & BEV_EVENT_EOF))) {
        /* libevent took this link's errors; what is left in the thread's
         * queue belongs to someone else (curl shares OpenSSL) */
        ERR_clear_error();
        kz_tls_reason(ssl, buf, n);
        return 1;
    }
    if (!last)
        return 0;
    const char *r = ERR_reason_error_string(last);
    snprintf(buf, n, "%s", r ? r : "TLS error");
    return 1;
}

/* Why link l's bufferevent reported EOF or an error, into reason. */
static void link_failure(struct esme *e, struct esme_link *l,
                         struct bufferevent *bev, short what, char *reason,
                         size_t n)
{
    int sockerr = EVUTIL_SOCKET_ERROR();
    struct bufferevent *sock = bufferevent_get_underlying(bev);
    int dnserr = bufferevent_socket_get_dns_error(sock ? sock : bev);
    char tls[128];
    if (dnserr)
        snprintf(reason, n, "cannot resolve %s: %s",
                 e->cfg.host, evutil_gai_strerror(dnserr));
    else if (tls_failure(bev, l->connected, what, tls, sizeof tls))
        snprintf(reason, n, "TLS %s %s:%u%s: %s",
                 l->connected ? "error on" : "handshake with", e->cfg.host,
                 e->cfg.port, l->connected ? "" : " failed", tls);
    else if (what & BEV_EVENT_EOF)
        snprintf(reason, n, "connection closed by the SMSC");
    else
        snprintf(reason, n, "%s %s:%u: %s",
                 l->connected ? "socket error on" : "cannot connect to",
                 e->cfg.host, e->cfg.port,
                 evutil_socket_error_to_string(sockerr));
}

static void link_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct esme_link *l = arg;
    struct esme *e = l->e;
    char reason[200];

    enter(e);
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        evutil_socket_t fd = bufferevent_getfd(bev);
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
            elog(e, ESME_LOG_WARN, "TCP_NODELAY: %s", strerror(errno));
        l->connected = 1;
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        elog(e, ESME_LOG_INFO, "connected to %s:%u%s%s%s", e->cfg.host,
             e->cfg.port, l->kind == LINK_TX ? " (transmitter)"
                        : l->kind == LINK_RX ? " (receiver)" : "",
             ssl ? " over " : "", ssl ? SSL_get_version(ssl) : "");
        if (all_links(e, offsetof(struct esme_link, connected)))
            fsm_event(e, EV_CONNECTED, NULL);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        link_failure(e, l, bev, what, reason, sizeof reason);
        fsm_event(e, l->connected ? EV_IO_ERROR : EV_CONNECT_FAILED, reason);
    }
    leave(e);
}

/* ---- public API -------------------------------------------------------- */

const char *esme_state_name(enum esme_state st)
{
    switch (st) {
    case ESME_IDLE:       return "IDLE";
    case ESME_CONNECTING: return "CONNECTING";
    case ESME_BINDING:    return "BINDING";
    case ESME_BOUND:      return "BOUND";
    case ESME_UNBINDING:  return "UNBINDING";
    case ESME_BACKOFF:    return "BACKOFF";
    case ESME_CLOSED:     return "CLOSED";
    }
    return "?";
}

static int check_str(const char *what, const char *s, size_t max, int need,
                     char *err, size_t errlen)
{
    if (!s) {
        if (need)
            snprintf(err, errlen, "%s is required", what);
        return need ? -1 : 0;
    }
    if (strlen(s) > max) {
        snprintf(err, errlen, "%s longer than %zu characters", what, max);
        return -1;
    }
    return 0;
}

static unsigned dflt(unsigned v, unsigned d) { return v ? v : d; }

/* What esme_new refuses: missing or over-long strings, no port, an unknown
 * bind mode, a window or max_pdu_len out of range.  0, or -1 with err. */
static int check_config(const struct esme_config *cfg, char *err, size_t errlen)
{
    if (check_str("host", cfg->host, 255, 1, err, errlen) ||
        check_str("system_id", cfg->system_id, 15, 1, err, errlen) ||
        check_str("password", cfg->password, 8, 0, err, errlen) ||
        check_str("system_type", cfg->system_type, 12, 0, err, errlen) ||
        check_str("address_range", cfg->address_range, 40, 0, err, errlen) ||
        check_str("name", cfg->name, 63, 0, err, errlen) ||
        check_str("tls_name", cfg->tls_name, 255, 0, err, errlen))
        return -1;
    if (!cfg->port) {
        snprintf(err, errlen, "port is required");
        return -1;
    }
    if (cfg->bind_mode != ESME_BIND_TRX && cfg->bind_mode != ESME_BIND_TX_RX) {
        snprintf(err, errlen, "unknown bind_mode %d", (int)cfg->bind_mode);
        return -1;
    }
    if (cfg->window > 65536) {
        snprintf(err, errlen, "window %u too large (max 65536)", cfg->window);
        return -1;
    }
    if (cfg->max_pdu_len && !smpp_length_ok(cfg->max_pdu_len, 0xFFFFFFFFu)) {
        snprintf(err, errlen, "max_pdu_len %u below the 16-octet header",
                 (unsigned)cfg->max_pdu_len);
        return -1;
    }
    return 0;
}

/* Zero means "the default" for every tunable; pairs are kept in order. */
static void apply_defaults(struct esme_config *c)
{
    c->window = dflt(c->window, 10);
    c->enquire_link_ms = dflt(c->enquire_link_ms, 30000);
    c->response_timeout_ms = dflt(c->response_timeout_ms, 10000);
    c->connect_timeout_ms = dflt(c->connect_timeout_ms, 10000);
    c->reconnect_min_ms = dflt(c->reconnect_min_ms, 1000);
    c->reconnect_max_ms = dflt(c->reconnect_max_ms, 60000);
    if (c->reconnect_max_ms < c->reconnect_min_ms)
        c->reconnect_max_ms = c->reconnect_min_ms;
    c->throttle_retry_ms = dflt(c->throttle_retry_ms, 100);
    c->throttle_max_ms = dflt(c->throttle_max_ms, 2000);
    if (c->throttle_max_ms < c->throttle_retry_ms)
        c->throttle_max_ms = c->throttle_retry_ms;
    c->throttle_min_tps = dflt(c->throttle_min_tps, 1);
    if (c->tps && c->throttle_min_tps > c->tps)
        c->throttle_min_tps = c->tps;
    c->max_retries = dflt(c->max_retries, 10);
    c->queue_max = dflt(c->queue_max, 10000);
    c->max_pdu_len = c->max_pdu_len ? c->max_pdu_len : SMPP_DEFAULT_MAX_LEN;
}

/* Copy the caller's strings into one block owned by e (e->strs) and point
 * e->cfg at the copies.  -1 when out of memory. */
static int copy_strings(struct esme *e, const struct esme_config *cfg)
{
    struct esme_config *c = &e->cfg;
    const char *src[7] = { cfg->name ? cfg->name : "smsc", cfg->host,
                           cfg->system_id, cfg->password ? cfg->password : "",
                           cfg->system_type, cfg->address_range, cfg->tls_name };
    const char **dst[7] = { &c->name, &c->host, &c->system_id, &c->password,
                            &c->system_type, &c->address_range, &c->tls_name };
    size_t total = 0;
    for (int i = 0; i < 7; i++)
        total += src[i] ? strlen(src[i]) + 1 : 0;
    e->strs = malloc(total);
    if (!e->strs)
        return -1;
    char *w = e->strs;
    for (int i = 0; i < 7; i++) {
        if (!src[i]) {
            *dst[i] = NULL;
            continue;
        }
        size_t n = strlen(src[i]) + 1;
        memcpy(w, src[i], n);
        *dst[i] = w;
        w += n;
    }
    return 0;
}

/* A numeric host is resolved once here; a name is left to evdns
 * (e->salen stays 0). */
static void numeric_addr(struct esme *e)
{
    const struct esme_config *c = &e->cfg;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&e->sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&e->sa;
    if (inet_pton(AF_INET, c->host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(c->port);
        e->salen = sizeof *s4;
    } else if (inet_pton(AF_INET6, c->host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(c->port);
        e->salen = sizeof *s6;
    }
}

/* The in-flight table: 2^k >= 2 * window slots. */
static int make_slots(struct esme *e)
{
    uint32_t nslots = 1;
    while (nslots < 2 * e->cfg.window)
        nslots <<= 1;
    e->slots = calloc(nslots, sizeof *e->slots);
    e->mask = nslots - 1;
    return e->slots ? 0 : -1;
}

/* Both links (the second idles in TRX mode) and the session's timers.
 * -1 when out of memory (destroy() frees what was made). */
static int make_events(struct esme *e)
{
    struct event_base *base = e->base;
    int trx = e->cfg.bind_mode == ESME_BIND_TRX;
    e->nlinks = trx ? 1 : 2;
    e->link[0].kind = trx ? LINK_TRX : LINK_TX;
    e->link[1].kind = LINK_RX;
    for (unsigned i = 0; i < 2; i++) {
        struct esme_link *l = &e->link[i];
        l->e = e;
        l->idle_timer = evtimer_new(base, idle_timer_cb, l);
        l->enq_timer = evtimer_new(base, enq_timer_cb, l);
        if (!l->idle_timer || !l->enq_timer)
            return -1;
    }
    e->state_timer = evtimer_new(base, state_timer_cb, e);
    e->pause_timer = evtimer_new(base, pause_timer_cb, e);
    e->tps_timer = evtimer_new(base, tps_timer_cb, e);
    e->defer_ev = event_new(base, -1, 0, defer_cb, e);
    struct timeval rtv = ms_tv(e->cfg.response_timeout_ms);
    /* libevent keeps at most 256 common timeouts per base; past that a
     * plain timeout works the same, only with an O(log n) heap insert */
    e->resp_tv_plain = rtv;
    e->resp_tv = event_base_init_common_timeout(base, &rtv);
    if (!e->resp_tv)
        e->resp_tv = &e->resp_tv_plain;
    return e->state_timer && e->pause_timer && e->tps_timer && e->defer_ev ? 0 : -1;
}

struct esme *esme_new(struct event_base *base, const struct esme_config *cfg,
                      const struct esme_callbacks *cb, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!base || !cfg) {
        snprintf(err, errlen, "no event base or config");
        return NULL;
    }
    if (check_config(cfg, err, errlen) != 0)
        return NULL;
    struct esme *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->base = base;
    e->cfg = *cfg;
    if (e->cfg.tls)     /* ours until destroy(), whatever the caller does */
        SSL_CTX_up_ref(e->cfg.tls);
    TAILQ_INIT(&e->queue);
    STAILQ_INIT(&e->deferred);
    STAILQ_INIT(&e->freelist);
    LIST_INIT(&e->lingering);
    apply_defaults(&e->cfg);
    if (cb)
        e->cb = *cb;
    e->state = e->reported = ESME_IDLE;
    if (copy_strings(e, cfg) != 0 || make_slots(e) != 0 || make_events(e) != 0) {
        snprintf(err, errlen, "out of memory");
        e->freeing = 1;
        destroy(e);
        return NULL;
    }
    numeric_addr(e);
    e->next_seq = 1;
    e->backoff_ms = e->cfg.reconnect_min_ms;
    set_rate(e, e->cfg.tps);
    e->rate_target = e->cfg.tps;
    e->rng = kz_mono_us() ^ (uint64_t)(uintptr_t)e ^ 0x9E3779B97F4A7C15ull;
    if (!e->rng)
        e->rng = 1;
    return e;
}

int esme_start(struct esme *e)
{
    if (!e || e->freeing || e->free_pending)
        return -1;
    enter(e);
    if (e->state == ESME_IDLE || e->state == ESME_CLOSED) {
        e->backoff_ms = e->cfg.reconnect_min_ms;
        fsm_event(e, EV_START, NULL);
    }
    leave(e);
    return 0;
}

void esme_stop(struct esme *e)
{
    if (!e || e->freeing || e->free_pending)
        return;
    enter(e);
    fsm_event(e, EV_STOP, NULL);
    leave(e);
}

static void destroy(struct esme *e)
{
    struct esme_req *r;
    e->freeing = 1;
    e->free_pending = 0;
    for (unsigned i = 0; i < 2; i++)
        link_close(e, &e->link[i], 0);
    while (!LIST_EMPTY(&e->lingering))
        linger_free(LIST_FIRST(&e->lingering));
    if (e->dns)
        evdns_base_free(e->dns, 0);
    e->dns = NULL;
    /* every pending done() exactly once */
    if (e->slots)
        for (uint32_t i = 0; i <= e->mask; i++)
            if ((r = e->slots[i]) != NULL && inflight_take(e, r->seq) == r)
                req_finish(e, r, ESME_DONE_STOPPED, NULL);
    while ((r = q_pop(e)) != NULL)
        req_finish(e, r, ESME_DONE_STOPPED, NULL);
    while ((r = STAILQ_FIRST(&e->deferred)) != NULL) {
        STAILQ_REMOVE_HEAD(&e->deferred, link.q);
        req_finish(e, r, r->fail_status, NULL);
    }
    while ((r = STAILQ_FIRST(&e->freelist)) != NULL) {
        STAILQ_REMOVE_HEAD(&e->freelist, link.q);
        event_free(r->timer);
        free(r);
    }
    for (unsigned i = 0; i < 2; i++) {
        if (e->link[i].idle_timer)
            event_free(e->link[i].idle_timer);
        if (e->link[i].enq_timer)
            event_free(e->link[i].enq_timer);
    }
    if (e->state_timer) event_free(e->state_timer);
    if (e->pause_timer) event_free(e->pause_timer);
    if (e->tps_timer) event_free(e->tps_timer);
    if (e->defer_ev) event_free(e->defer_ev);
    answers_free(e);
    if (e->cfg.tls)
        SSL_CTX_free(e->cfg.tls);
    free(e->slots);
    free(e->strs);
    free(e);
}

void esme_free(struct esme *e)
{
    if (!e || e->freeing)
        return;
    if (e->depth > 0) {
        e->free_pending = 1;
        return;
    }
    destroy(e);
}

int esme_send(struct esme *e, struct smpp_pdu *pdu, esme_done_fn *done,
              void *arg)
{
    if (!e || !pdu || e->freeing || e->free_pending)
        return -1;
    uint32_t id = pdu->command_id;
    if (SMPP_IS_RESP(id) || id == SMPP_BIND_RECEIVER || id == SMPP_BIND_TRANSMITTER ||
        id == SMPP_BIND_TRANSCEIVER || id == SMPP_UNBIND || id == SMPP_OUTBIND) {
        elog(e, ESME_LOG_WARN, "esme_send: %s is the session's own business",
             smpp_command_name(id));
        return -1;
    }
    struct esme_req *r = req_get(e);
    if (!r) {
        elog(e, ESME_LOG_ERROR, "esme_send: out of memory");
        return -1;
    }
    struct smpp_err err;
    pdu->sequence_number = 0;          /* patched when it goes on the wire */
    int n = smpp_pdu_encode(pdu, r->inl, sizeof r->inl, &err);
    if (n < 0) {
        /* too big for the inline buffer, or broken: try a full-size one */
        size_t cap = e->cfg.max_pdu_len > SMPP_DEFAULT_MAX_LEN
                     ? e->cfg.max_pdu_len : SMPP_DEFAULT_MAX_LEN;
        uint8_t *big = malloc(cap);
        if (big)
            n = smpp_pdu_encode(pdu, big, cap, &err);
        if (!big || n < 0) {
            free(big);
            elog(e, ESME_LOG_WARN, "esme_send: %s does not encode: %s",
                 smpp_command_name(id), big ? err.text : "out of memory");
            req_put(e, r);
            return -1;
        }
        uint8_t *fit = realloc(big, (size_t)n);   /* rare path: shrink */
        r->bytes = fit ? fit : big;
    }
    r->len = (uint32_t)n;
    r->cmd_id = id;
    r->order = e->next_order++;
    r->done = done;
    r->arg = arg;
    if (e->state == ESME_CLOSED || e->state == ESME_UNBINDING) {
        defer_done(e, r, ESME_DONE_STOPPED);
        return 0;
    }
    if (e->st.queued >= e->cfg.queue_max) {
        defer_done(e, r, ESME_DONE_QUEUE_FULL);
        return 0;
    }
    q_push_back(e, r);
    q_arm(e, r);
    pump(e);
    return 0;
}

enum esme_state esme_state(const struct esme *e) { return e->state; }

const char *esme_name(const struct esme *e) { return e->cfg.name; }

void esme_get_stats(const struct esme *e, struct esme_stats *out)
{
    *out = e->st;
    out->rate_tps = rate_shown(e->rate);
    out->throttle_streak = e->streak;
    out->pause_ms = e->last_pause_ms;
}

/* ---- deferred answers to deliver_sm / data_sm --------------------------
 *
 * A ring of ESME_DEFER_MAX entries in arrival order.  Every entry has the
 * same lifetime (ESME_DEFER_MS), so arrival order is deadline order and one
 * timer armed for the oldest live entry serves them all.  A ticket is
 * (instance << 32 | n): n picks the slot (n % ESME_DEFER_MAX) and the slot
 * keeps the whole ticket, so a stale ticket (answered, timed out,
 * overwritten, or from another esme) is refused in O(1).  The answer goes
 * out only on the very connection the PDU came in on (link gen unchanged):
 * after a reconnect the SMSC resends what was never answered.
 */
struct esme_defer {
    uint64_t ticket;            /* 0: free or done */
    uint64_t due_ms;
    uint32_t seq, resp_id, timeout_status;
    unsigned gen;               /* link gen at deferral */
    unsigned link;              /* index into e->link */
};

struct esme_answers {
    struct esme *e;
    struct event *timer;
    uint64_t instance;          /* high half of the tickets */
    uint32_t head, tail;        /* ring counters: [head, tail) in use */
    unsigned live;              /* entries not yet answered */
    struct esme_defer ring[ESME_DEFER_MAX];
};

static atomic_uint_fast32_t answers_instances;

static void answer_send(struct esme *e, struct esme_defer *d, uint32_t status)
{
    struct esme_link *l = &e->link[d->link];
    d->ticket = 0;
    e->ans->live--;
    if (l->bev && l->gen == d->gen && !e->free_pending && !e->freeing)
        link_send_simple(l, d->resp_id, status, d->seq, 1);
}

/* Drop answered entries from the front; re-arm for the oldest live one. */
static void answers_trim(struct esme *e)
{
    struct esme_answers *a = e->ans;
    while (a->head != a->tail && a->ring[a->head % ESME_DEFER_MAX].ticket == 0)
        a->head++;
    if (a->head == a->tail) {
        evtimer_del(a->timer);
        return;
    }
    if (!evtimer_pending(a->timer, NULL)) {
        uint64_t due = a->ring[a->head % ESME_DEFER_MAX].due_ms, t = kz_mono_ms();
        timer_ms(a->timer, due > t ? (unsigned)(due - t) : 0);
    }
}

static void answers_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    struct esme *e = arg;
    struct esme_answers *a = e->ans;
    uint64_t t = kz_mono_ms();
    unsigned n = 0;
    while (a->head != a->tail) {
        struct esme_defer *d = &a->ring[a->head % ESME_DEFER_MAX];
        if (d->ticket) {
            if (d->due_ms > t)
                break;
            answer_send(e, d, d->timeout_status);
            n++;
        }
        a->head++;
    }
    if (n)
        elog(e, ESME_LOG_WARN, "%u deliver_sm not answered within %u ms: "
             "answered with the fallback status", n, (unsigned)ESME_DEFER_MS);
    answers_trim(e);
}

static void answers_free(struct esme *e)
{
    if (!e->ans)
        return;
    if (e->ans->timer)
        event_free(e->ans->timer);
    free(e->ans);
    e->ans = NULL;
}

uint64_t esme_defer_answer(struct esme *e, uint32_t timeout_status)
{
    if (!e || !e->dlv_link || e->dlv_deferred || e->free_pending || e->freeing)
        return 0;
    if (!e->ans) {
        struct esme_answers *a = calloc(1, sizeof *a);
        if (!a)
            return 0;
        a->e = e;
        a->timer = evtimer_new(e->base, answers_timer_cb, e);
        if (!a->timer) {
            free(a);
            return 0;
        }
        a->instance = (uint64_t)(atomic_fetch_add(&answers_instances, 1) + 1) << 32;
        e->ans = a;
    }
    struct esme_answers *a = e->ans;
    if (a->tail - a->head >= ESME_DEFER_MAX) {
        answers_trim(e);
        if (a->tail - a->head >= ESME_DEFER_MAX)
            return 0;                  /* full: answer by the return value */
    }
    uint32_t n = a->tail++;            /* wraps; ESME_DEFER_MAX divides 2^32 */
    struct esme_defer *d = &a->ring[n % ESME_DEFER_MAX];
    d->ticket = a->instance | n;       /* instance >= 2^32: never 0 */
    d->due_ms = kz_mono_ms() + ESME_DEFER_MS;
    d->seq = e->dlv_seq;
    d->resp_id = e->dlv_resp;
    d->timeout_status = timeout_status;
    d->link = (unsigned)(e->dlv_link - e->link);
    d->gen = e->dlv_link->gen;
    a->live++;
    e->dlv_deferred = 1;
    if (!evtimer_pending(a->timer, NULL))
        timer_ms(a->timer, ESME_DEFER_MS);
    return d->ticket;
}

int esme_answer(struct esme *e, uint64_t ticket, uint32_t status)
{
    if (!e || !e->ans || !ticket || (ticket & ~0xFFFFFFFFull) != e->ans->instance)
        return -1;
    struct esme_answers *a = e->ans;
    uint32_t n = (uint32_t)ticket;
    struct esme_defer *d = &a->ring[n % ESME_DEFER_MAX];
    if (d->ticket != ticket || n - a->head >= a->tail - a->head)
        return -1;
    struct esme_link *l = &e->link[d->link];
    int live = l->bev && l->gen == d->gen && !e->free_pending && !e->freeing;
    answer_send(e, d, status);
    answers_trim(e);
    return live ? 0 : -1;
}

unsigned esme_deferred(const struct esme *e)
{
    return e && e->ans ? e->ans->live : 0;
}
