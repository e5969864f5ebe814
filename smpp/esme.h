/*
 * smpp/esme.h — one ESME's link to one SMSC, on a libevent event_base.
 *
 * What it does: connects (non-blocking; over TLS when the config carries
 * a TLS context, see esme_config.tls), binds (transceiver, or a
 * transmitter + receiver pair), keeps the link alive with enquire_link,
 * sends submit_sm / data_sm / any request within a window of outstanding
 * requests and a TPS limit, times out every request, retries requests the
 * SMSC throttled (ESME_RTHROTTLED / ESME_RMSGQFUL) after a short pause and
 * adapts its send rate to the SMSC's (see "Throttling" below),
 * answers deliver_sm / data_sm / enquire_link / unbind from the SMSC,
 * reconnects with exponential back-off and jitter, unbinds on shutdown.
 * The link's life is one explicit state table in esme.c.
 *
 * Ownership: struct esme owns its bufferevents, timers and queued requests.
 * The caller owns the esme and frees it with esme_free(), which is safe to
 * call from inside any esme callback (the free is deferred).
 * PDUs handed to callbacks are views into the read buffer: valid only for
 * the duration of the callback.
 *
 * May call: smpp/pdu, base/metrics (observe only), base/tls (host-name
 * check, failure reasons), libevent (with bufferevent_openssl), OpenSSL,
 * libc.  Never
 * includes gateway/.  Logging
 * goes through the log callback the caller gives (the password is never
 * logged).  The process must ignore SIGPIPE: libevent writes with send().
 *
 * Re-entrancy: from inside on_state, on_deliver and done the caller may
 * call esme_send, esme_stop and esme_free (deferred) on the same esme.
 * The log callback must only log.
 * Single-threaded: all calls on the event_base's thread.
 */
#ifndef KYZMAT_SMPP_ESME_H
#define KYZMAT_SMPP_ESME_H

#include <stdint.h>
#include <stdarg.h>
#include "pdu.h"

struct event_base;
struct esme;
struct kz_hist;
struct ssl_ctx_st;             /* OpenSSL's SSL_CTX */

enum esme_bind_mode {
    ESME_BIND_TRX = 0,   /* one bind_transceiver */
    ESME_BIND_TX_RX,     /* a bind_transmitter and a bind_receiver link */
};

enum esme_state {
    ESME_IDLE = 0,       /* created, not started */
    ESME_CONNECTING,     /* TCP connect in progress */
    ESME_BINDING,        /* bind sent, waiting for the response */
    ESME_BOUND,          /* bound: requests flow */
    ESME_UNBINDING,      /* unbind sent, waiting for unbind_resp / close */
    ESME_BACKOFF,        /* disconnected, waiting to reconnect */
    ESME_CLOSED,         /* stopped for good */
};

/* Log levels, same order as the gateway's. */
enum { ESME_LOG_ERROR = 0, ESME_LOG_WARN, ESME_LOG_INFO, ESME_LOG_DEBUG };

struct esme_config {
    const char *name;          /* peer tag for logs, e.g. "megacom" */
    const char *host;          /* numeric IPv4/IPv6 address or host name */
    uint16_t port;
    const char *system_id;     /* <= 15 chars */
    const char *password;      /* <= 8 chars; never logged */
    const char *system_type;   /* may be NULL */
    uint8_t addr_ton, addr_npi;
    const char *address_range; /* may be NULL */
    enum esme_bind_mode bind_mode;
    unsigned window;           /* max outstanding requests, default 10 */
    unsigned tps;              /* max requests per second, 0 = unlimited */
    unsigned enquire_link_ms;  /* idle time before enquire_link, default 30000 */
    unsigned response_timeout_ms; /* per request, default 10000 */
    unsigned connect_timeout_ms;  /* TCP connect + bind, default 10000 */
    unsigned reconnect_min_ms; /* first back-off, default 1000 */
    unsigned reconnect_max_ms; /* cap, default 60000 */
    unsigned throttle_retry_ms;/* pause on the 2nd consecutive throttle round,
                                * default 100; doubles per further round */
    unsigned throttle_max_ms;  /* cap on that pause, default 2000 */
    unsigned throttle_min_tps; /* floor of the adaptive rate, default 1 */
    unsigned max_retries;      /* throttling retries per request, default 10 */
    unsigned queue_max;        /* requests waiting for the window, default 10000 */
    uint32_t max_pdu_len;      /* cap on incoming command_length, default 64 KiB */
    unsigned queue_timeout_ms; /* max wait in the queue (window, tps, no link);
                                * then done(ESME_DONE_TIMEOUT); 0 = no limit */
    struct kz_hist *resp_seconds; /* optional (metrics): each submit_sm /
                                * data_sm response time, seconds, observed
                                * when its response arrives; the caller's,
                                * alive as long as the esme */
    /* issue 13 tls-smpp: SMPP over TLS.  tls: a client context (base/tls.h
     * kz_tls_client_ctx, made once by the caller); NULL = plain TCP.  The
     * esme takes its own reference (SSL_CTX_up_ref), so the caller may free
     * its own after esme_new.  Every connection gets a fresh SSL from it;
     * tls_name (NULL: host) goes out as SNI and, when the context
     * verifies, must be named by the server's certificate.  A failed
     * handshake is a failed connect: one "disconnected: TLS handshake with
     * HOST:PORT failed: REASON" line, then the usual back-off. */
    struct ssl_ctx_st *tls;
    const char *tls_name;
};
/* Zero in a numeric field means its default (so max_retries 0 means 10).
 * Back-off: reconnect_min_ms doubling per failed attempt up to
 * reconnect_max_ms, +-20% jitter, back to min after a successful bind.
 * TX_RX: requests go on the transmitter link; the receiver link only
 * takes deliver_sm / data_sm; either link failing drops both.
 *
 * Throttling (ESME_RTHROTTLED / ESME_RMSGQFUL: "slow down", not "drop").
 * The link keeps an effective send rate, at most tps.  A throttle round
 * cuts it, deeper with consecutive rounds: the first after a success by a
 * quarter and without a pause, each further one (no success in between)
 * by half plus a pause of throttle_retry_ms doubled per round, capped at
 * throttle_max_ms; never below throttle_min_tps.  With tps 0 the first cut
 * starts from what the window can carry (window / smoothed response time).
 * A round is one reaction: throttles of requests already on the wire when
 * the rate was cut are only requeued.  Every 2 successes of requests sent
 * since the last cut add a tenth of the target (tps, or with tps 0 the
 * rate the cuts started from, where the limit is lifted again).  The
 * throttled request goes back to the front of the queue, after the others
 * throttled before it (original order); with window 1 requests are never
 * reordered.  After max_retries throttles of the same request its last
 * answer goes to done(). */

/* A request finished: status is the SMSC's command_status, or one of the
 * ESME_DONE_* codes below when no response came.  resp is NULL unless a
 * response PDU arrived (then resp->message_id etc. are valid during the
 * call). */
#define ESME_DONE_TIMEOUT   0xFFFF0001u  /* no response within the timer */
#define ESME_DONE_LINK_LOST 0xFFFF0002u  /* connection dropped while outstanding */
#define ESME_DONE_QUEUE_FULL 0xFFFF0003u /* queue_max reached (never sent) */
#define ESME_DONE_STOPPED   0xFFFF0004u  /* esme stopped / freed */
typedef void esme_done_fn(struct esme *e, void *arg, uint32_t status,
                          const struct smpp_pdu *resp);

struct esme_callbacks {
    /* The link changed state (optional). */
    void (*on_state)(struct esme *e, enum esme_state st, void *ud);
    /* A deliver_sm or data_sm arrived; return the command_status to put in
     * the response (ESME_ROK normally).  The response is sent right after
     * the callback returns, unless the callback called
     * esme_defer_answer() (see below). */
    uint32_t (*on_deliver)(struct esme *e, const struct smpp_pdu *pdu, void *ud);
    /* A line to log (optional; defaults to stderr). */
    void (*log)(void *ud, int level, const char *peer, const char *fmt,
                va_list ap);
    void *ud;
};

/* Create an idle esme; copies cfg's strings (cfg and cb may be freed after
 * the call).  Returns NULL on a bad config (err gets the reason). */
struct esme *esme_new(struct event_base *base, const struct esme_config *cfg,
                      const struct esme_callbacks *cb, char *err, size_t errlen);
/* Start connecting (from IDLE or CLOSED; a no-op otherwise).  Returns 0,
 * or -1 when e is being freed. */
int esme_start(struct esme *e);
/* Unbind gracefully: when BOUND, send unbind and wait up to ~2 s for
 * unbind_resp (responses to outstanding requests are still taken), then
 * close; otherwise close at once (then on_state(ESME_CLOSED) and the
 * done(ESME_DONE_STOPPED) calls happen inside esme_stop).  Every request
 * still pending at CLOSED gets ESME_DONE_STOPPED.  esme_start() may be
 * called again afterwards. */
void esme_stop(struct esme *e);
/* Free now, without unbind; every pending done() is called exactly once
 * during the free: ESME_DONE_STOPPED (or ESME_DONE_QUEUE_FULL for a refusal
 * not yet delivered).  on_state is not called.  Deferred to the end of the
 * callback dispatch when called from inside one of e's callbacks: no
 * further callback of e runs except those done() calls. */
void esme_free(struct esme *e);

/*
 * Send a request (submit_sm, data_sm, query_sm, ...).  The pdu is encoded at
 * once (sequence_number is assigned by the esme), so it and what it points
 * to may be freed after the call.  done is called exactly once, later (never
 * from inside esme_send).  Returns 0, or -1 when the pdu does not encode,
 * is a bind / unbind / response (the session's own business) or e is being
 * freed (then done is not called).  The request waits in the queue while
 * the link is down and goes out after the next bind; a request that was on
 * the wire when the link dropped gets ESME_DONE_LINK_LOST.  After
 * esme_stop, requests get ESME_DONE_STOPPED (asynchronously).
 * ESME_RTHROTTLED / ESME_RMSGQFUL answers are retried (see Throttling
 * above; at most max_retries times); the last such answer goes to done.
 */
int esme_send(struct esme *e, struct smpp_pdu *pdu, esme_done_fn *done,
              void *arg);

/*
 * Deferred answers.  By default a deliver_sm / data_sm is answered with
 * on_deliver's return value right after the callback.  A handler that may
 * acknowledge only once its work is durable (a receipt written to disk)
 * calls esme_defer_answer() from inside on_deliver: the return value is
 * then ignored and the PDU is answered later by esme_answer(), or, when
 * that does not come within ESME_DEFER_MS, by the esme itself with
 * timeout_status (use a temporary error such as ESME_RX_T_APPN so the SMSC
 * delivers it again).  At most ESME_DEFER_MAX answers wait at once; past
 * that esme_defer_answer() returns 0 and the return value answers as
 * usual.  An answer goes only on the connection the PDU came in on: after
 * a reconnect a late esme_answer() sends nothing (the SMSC resends what it
 * never got an answer to).
 *
 * esme_defer_answer: only from inside on_deliver, at most once per PDU.
 * Returns a ticket (never 0), or 0 when the answer cannot be deferred (not
 * in on_deliver, the ring is full, out of memory, e is being freed).
 * esme_answer: answer the PDU of ticket with status.  Returns 0 when the
 * answer was written, -1 when the ticket is unknown, already answered or
 * timed out, or its connection is gone.  Never calls a callback; may be
 * called from anywhere on e's thread, including inside e's callbacks.
 * Tickets are unique per process across esmes, so a ticket of a freed esme
 * is refused by a new one.
 * esme_deferred: answers waiting now (for stats and tests).
 */
#define ESME_DEFER_MS  2000u
#define ESME_DEFER_MAX 1024u    /* a power of two */
uint64_t esme_defer_answer(struct esme *e, uint32_t timeout_status);
int esme_answer(struct esme *e, uint64_t ticket, uint32_t status);
unsigned esme_deferred(const struct esme *e);

enum esme_state esme_state(const struct esme *e);
const char *esme_state_name(enum esme_state st);
const char *esme_name(const struct esme *e);
/* Counters for logs, stats and tests.  sent counts requests put on the
 * wire once (a throttling retry is not a new delivery attempt: it counts
 * in retried); throttled counts every throttling answer.  rate_tps is the
 * effective send rate now (0 = unlimited), rate_cuts how often a throttle
 * round cut it, throttle_streak the consecutive throttle rounds without a
 * success (0 = not throttled now), pause_ms the last pause chosen. */
/* What became of submit_sm / data_sm requests, by the SMSC's answer (each
 * throttled attempt counts) or by the timer (ESME_OUT_TIMEOUT): bounded
 * kinds, so a metric label never takes an SMSC's arbitrary code. */
enum esme_outcome {
    ESME_OUT_OK = 0,           /* ESME_ROK */
    ESME_OUT_THROTTLED,        /* ESME_RTHROTTLED */
    ESME_OUT_QUEUE_FULL,       /* ESME_RMSGQFUL */
    ESME_OUT_INVALID_DEST,     /* ESME_RINVDSTADR */
    ESME_OUT_SYSTEM_ERROR,     /* ESME_RSYSERR */
    ESME_OUT_OTHER,            /* any other command_status, or a nack */
    ESME_OUT_TIMEOUT,          /* no answer in time (or never sent) */
    ESME_OUT_COUNT
};
/* "ESME_ROK", ..., "other", "timeout". */
const char *esme_outcome_name(enum esme_outcome o);

struct esme_stats {
    uint64_t sent, resp_ok, resp_err, timeouts, throttled, retried,
             delivered_in, nacks_in, nacks_out, reconnects, rate_cuts, binds;
    uint64_t submits[ESME_OUT_COUNT];
    unsigned in_flight, queued;
    unsigned rate_tps, throttle_streak, pause_ms;
};
void esme_get_stats(const struct esme *e, struct esme_stats *out);

#endif
