/*
 * gateway/http_edge.c — an HTTP listener's edge, for the agencies' API and
 * the admin listener alike (see http_edge.h for what it enforces): evhttp,
 * its listener, and a record per client connection.
 *
 * Design.  libevent 2.1's evhttp accepts by itself and has no connection
 * limit, no error callback and no hook where a connection starts, so the
 * edge uses the three places it does offer:
 *   - evhttp_set_bevcb: every accepted connection's bufferevent is made
 *     here (make_bev), so each one is counted at once and gets a record
 *     (struct conn).  evhttp makes its connection object around that
 *     bufferevent only after make_bev returns; the edge holds a reference
 *     on the bufferevent and, from a deferred event later in the same loop
 *     pass (attach_cb), reads the connection back from its callback
 *     argument (bufferevent_getcb), registers a close callback on it and
 *     drops the reference.  Should evhttp have dropped the connection in
 *     between (out of memory), its callbacks are gone and the record is
 *     simply forgotten; the reference kept the bufferevent readable.
 *   - the listener's error callback (accept_error): EMFILE and friends
 *     disable the listener instead of libevent's warn-and-retry spin; the
 *     oldest connection without a request is closed to free a descriptor
 *     and accepting resumes in the next pass (after a second when there
 *     is none to close).
 *   - evhttp's generic callback, wrapped (on_request): the request is
 *     complete, the connection is busy until the answer leaves its output
 *     buffer (output_cb sees the buffer drained), then its next head
 *     deadline starts.
 * A connection is in one of three states, each with its own list:
 *     FRESH  accepted, not attached yet (same loop pass)   -> HEAD
 *     HEAD   reading a head, or idle between requests       -> BUSY, closed
 *     BUSY   a request is with the router or being answered -> HEAD
 * HEAD is ordered by the time its deadline started, and the deadline is the
 * same for all, so one timer (tick) serves every connection: it closes the
 * expired ones at the front.  At the cap the front of HEAD (the oldest
 * without a request in progress) is closed to make room; with HEAD empty
 * the listener stays disabled until a connection closes.  A BUSY
 * connection is never closed by the edge: its request is the router's.
 * Connections are closed with evhttp_connection_free from the edge's own
 * timer or deferred event, never from inside a callback of that
 * connection; evhttp then calls conn_closed, which frees the record.
 *
 * The listener's error callback gets the evhttp as its argument (evhttp
 * installs its own accept callback and argument), so live edges are kept
 * in a list to find theirs by listener (edges; one per API, loop thread
 * only).
 *
 * HTTPS (issue 13 tls-http).  make_bev makes an OpenSSL bufferevent in
 * the accepting state around a new SSL from the edge's SSL_CTX instead of
 * a socket one; evhttp then reads and writes plaintext through it as
 * before, and the edge's buffer callbacks see plaintext too (unlike a
 * socket bufferevent the OpenSSL one never freezes its output, so
 * output_cb leaves it unfrozen: c->tls).  The handshake happens while the
 * connection is HEAD, so the head deadline covers it.  When evhttp closes
 * a connection whose handshake never finished, conn_closed counts it and
 * logs the reason (the certificate check's result, else the OpenSSL error
 * the bufferevent kept, else kz_tls_reason's "connection closed during
 * handshake"), through the per-peer limiter (peer_log).  A reload swaps
 * the SSL_CTX; each SSL holds a reference on the context it was made from,
 * so connections made before keep theirs.  A plain listener learns the
 * peer's address when it attaches a connection and closes one that is
 * not loopback unless plain_anywhere.
 *
 * Owns: the evhttp (and through it the listener and every connection),
 * the records, four events, the fd index, the SSL_CTX and the paths it
 * was read from.  Logging: a warn line at most every 10 s with counts;
 * single closes at debug; TLS failures and refused peers through
 * peer_log.
 * May call: libevent (with bufferevent_openssl), OpenSSL, jansson,
 * gateway/log, base/clock, base/tls, base/metrics, libc.
 */
#include "gateway/http_edge.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/tls.h"
#include "gateway/log.h"

#define EDGE_RESERVE 256u        /* descriptors kept for everything else */
#define EDGE_LOG_EVERY_MS 10000
#define EDGE_RESUME_MS 1000      /* accept retried after an accept error */
#define EDGE_LINGER_MS 5000      /* longest drain after an early 413 */
#define EDGE_LINGER_MAX 64       /* connections drained at once, at most */
#define EDGE_PEERS 64            /* peers remembered by peer_log */
#define EDGE_PEER_QUIET_MS 600000   /* one line per peer per 10 minutes */
#define EDGE_PEER_LINES 20       /* at most this many peer lines a minute */
#define EDGE_ADDR 64             /* a peer's address as text */

enum conn_state { C_FRESH, C_HEAD, C_BUSY };

struct conn {
    TAILQ_ENTRY(conn) q;         /* in the list of its state */
    struct http_edge *e;
    struct bufferevent *bev;     /* evhttp's (we hold a ref while FRESH) */
    struct evhttp_connection *evcon;   /* NULL while FRESH */
    int fd;
    enum conn_state state;
    uint64_t since;              /* HEAD: its deadline started (mono ms) */
    unsigned requests;           /* complete requests seen */
    size_t resp_at;              /* output offset of the latest response */
    bool rewriting;              /* error_page is editing the output */
    bool nul;                    /* a NUL byte arrived (sticky) */
    bool linger;                 /* an early 413 went out: drain at close */
    bool tls;                    /* an OpenSSL bufferevent (issue 13) */
    const char *closed_by;       /* the edge closed it: why (a log phrase) */
    char peer[EDGE_ADDR];        /* the peer's address, once attached */
};
TAILQ_HEAD(conn_list, conn);

enum pause { OPEN, PAUSED_CAP, PAUSED_ERR };

/* A connection closed right after an early 413 whose client may still be
 * uploading the refused body: its bufferevent (evhttp freed it; our
 * reference keeps it and its socket) is read and emptied until EOF or a
 * deadline, so the client's send completes and it reads the 413 instead
 * of a reset. */
struct lingerer {
    LIST_ENTRY(lingerer) all;
    struct http_edge *e;
    struct bufferevent *bev;
    uint64_t until;              /* mono ms */
    bool ready, done;            /* our callbacks set; finished */
};

struct http_edge {
    LIST_ENTRY(http_edge) all;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct evconnlistener *lev;  /* evhttp's; NULL once evhttp is freed */
    struct event *attach, *tick, *resume, *logt;
    struct event *waiting;       /* at the cap: a client waits to be accepted */
    struct event *lingering;     /* sets up and frees lingerers */
    LIST_HEAD(, lingerer) lingerers;
    unsigned n_lingerers;
    struct conn_list fresh, head, busy;
    struct conn **by_fd;         /* fd -> record, for on_request */
    size_t nfd;
    unsigned open, max;
    uint64_t head_ms;
    size_t max_body;
    const char *peer, *key;      /* log tag ("api"), config section ("http") */
    enum pause paused;
    bool saw_close;              /* set by conn_gone (see conn_close) */
    void (*on_request)(struct evhttp_request *req, void *arg);
    void *arg;
    struct {                     /* since the last line */
        unsigned long evicted, expired, paused;
        int err;                 /* last accept error */
        unsigned long quiet;     /* peer lines left out (issue 13) */
    } n;
    /* issue 13 tls-http */
    SSL_CTX *ssl;                /* NULL: plain HTTP */
    char *tls_cert, *tls_key, *tls_ca;  /* where ssl was read from */
    bool plain_anywhere;         /* plain: serve non-loopback peers too */
    struct kz_metrics *metrics;
    uint64_t tls_failures, plain_refused;   /* counters (metrics) */
    struct {
        char addr[EDGE_ADDR];
        uint64_t at;             /* last line about it (mono ms); 0: free */
    } peers[EDGE_PEERS];
    uint64_t lines_since;        /* peer lines: the minute's start */
    unsigned lines;              /* ... and how many went out in it */
};

static LIST_HEAD(, http_edge) edges = LIST_HEAD_INITIALIZER(edges);

unsigned http_edge_default_cap(uint64_t nofile)
{
    uint64_t reserve = nofile / 4 < EDGE_RESERVE ? nofile / 4 : EDGE_RESERVE;
    uint64_t cap = nofile - reserve;
    if (cap > 1000000)
        cap = 1000000;
    return cap ? (unsigned)cap : 1;
}

/* ---- the rate-limited log line --------------------------------------------- */

static bool log_due(const struct http_edge *e)
{
    return e->n.evicted || e->n.expired || e->n.paused || e->n.quiet;
}

static void log_flush(struct http_edge *e)
{
    if (e->n.quiet)
        log_msg(KLOG_WARN, e->peer, "%lu more failed TLS handshakes or refused "
                "plain connections not logged one by one (one line per peer per "
                "10 minutes, %u a minute)", e->n.quiet, EDGE_PEER_LINES);
    e->n.quiet = 0;
    if (!log_due(e))
        return;
    char why[96] = "";
    if (e->n.paused)
        snprintf(why, sizeof why, " (%s)", evutil_socket_error_to_string(e->n.err));
    log_msg(KLOG_WARN, e->peer, "connections: %u open (cap %u); since the "
            "last report %lu closed to make room (the oldest without a "
            "request), %lu closed at the head deadline (%" PRIu64 " ms) "
            "without a request, accept paused %lu times%s", e->open, e->max,
            e->n.evicted, e->n.expired, e->head_ms, e->n.paused, why);
    memset(&e->n, 0, sizeof e->n);
}

/* Something worth a line happened: write it now unless a line went out
 * less than 10 s ago; then the timer writes the sum. */
static void log_note(struct http_edge *e)
{
    if (evtimer_pending(e->logt, NULL))
        return;
    log_flush(e);
    struct timeval tv = { EDGE_LOG_EVERY_MS / 1000, 0 };
    evtimer_add(e->logt, &tv);
}

static void logt_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_edge *e = arg;
    if (!log_due(e))
        return;                 /* quiet: the next event logs at once */
    log_note(e);
}

/* ---- issue 13 tls-http: lines about one peer, loopback -------------------- */

/* A warn line about peer addr (a failed handshake, a refused plain
 * connection): at most one per peer per EDGE_PEER_QUIET_MS and
 * EDGE_PEER_LINES a minute in all; the rest are counted in the 10 s line.
 * The table of recent peers is small and fixed: a scanner cycling through
 * many addresses still meets the per-minute cap. */
static void peer_log(struct http_edge *e, const char *addr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void peer_log(struct http_edge *e, const char *addr, const char *fmt, ...)
{
    uint64_t now = kz_mono_ms() | 1;    /* 0 marks a free slot */
    size_t i, oldest = 0;
    for (i = 0; i < EDGE_PEERS; i++) {
        if (e->peers[i].at && strcmp(e->peers[i].addr, addr) == 0)
            break;
        if (e->peers[i].at < e->peers[oldest].at)
            oldest = i;
    }
    if (now - e->lines_since >= 60000) {
        e->lines_since = now;
        e->lines = 0;
    }
    if ((i < EDGE_PEERS && now - e->peers[i].at < EDGE_PEER_QUIET_MS) ||
        e->lines >= EDGE_PEER_LINES) {
        e->n.quiet++;
        log_note(e);
        return;
    }
    e->lines++;
    if (i == EDGE_PEERS)
        i = oldest;
    snprintf(e->peers[i].addr, sizeof e->peers[i].addr, "%s", addr);
    e->peers[i].at = now;
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_msg(KLOG_WARN, e->peer, "%s: %s", addr, line);
}

bool http_edge_loopback(const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (sa && sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (!sa || sa->sa_family != AF_INET6)
        return false;
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if (memcmp(a, mapped, sizeof mapped) == 0)
        return a[12] == 127;
    return memcmp(a, &in6addr_loopback, 16) == 0;
}

bool http_edge_loopback_host(const char *host)
{
    struct sockaddr_in v4 = { .sin_family = AF_INET };
    struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
    if (host && inet_pton(AF_INET, host, &v4.sin_addr) == 1)
        return http_edge_loopback((const struct sockaddr *)&v4);
    if (host && inet_pton(AF_INET6, host, &v6.sin6_addr) == 1)
        return http_edge_loopback((const struct sockaddr *)&v6);
    return false;
}

/* The peer of fd as text into c->peer; whether it is loopback. */
static bool conn_peer(struct conn *c, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    const void *a = NULL;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(c->peer, sizeof c->peer, "(unknown peer)");
        return false;
    }
    if (ss.ss_family == AF_INET)
        a = &((struct sockaddr_in *)&ss)->sin_addr;
    else if (ss.ss_family == AF_INET6)
        a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (!a || !inet_ntop(ss.ss_family, a, c->peer, sizeof c->peer))
        snprintf(c->peer, sizeof c->peer, "(unknown peer)");
    return http_edge_loopback((struct sockaddr *)&ss);
}

/* A connection closed before its TLS handshake finished: count it and
 * say why (once per peer, see peer_log). */
static void tls_failed(struct http_edge *e, struct conn *c)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    /* Finished: the handshake completed once.  Not SSL_is_init_finished:
     * OpenSSL 3 puts an SSL back "in init" on a fatal error, and a client
     * closing without close_notify is one ("unexpected eof"). */
    unsigned char fin[EVP_MAX_MD_SIZE];
    if (!ssl || SSL_get_peer_finished(ssl, fin, sizeof fin) > 0)
        return;
    e->tls_failures++;
    char why[200];
    unsigned long err = bufferevent_get_openssl_error(c->bev);
    while (bufferevent_get_openssl_error(c->bev) != 0)
        ;
    if (c->closed_by) {
        snprintf(why, sizeof why, "%s", c->closed_by);
    } else if (err && SSL_get_verify_result(ssl) == X509_V_OK) {
        const char *r = ERR_reason_error_string(err);
        snprintf(why, sizeof why, "%s", r ? r : "TLS error");
    } else {
        kz_tls_reason(ssl, why, sizeof why);
    }
    peer_log(e, c->peer[0] ? c->peer : "(unknown peer)",
             "TLS handshake failed: %s", why);
}

/* ---- accepting ----------------------------------------------------------------- */

static void pause_accept(struct http_edge *e, enum pause why)
{
    if (e->paused == OPEN && e->lev)
        evconnlistener_disable(e->lev);
    if (why == PAUSED_ERR || e->paused == OPEN)
        e->paused = why;
    if (e->paused == PAUSED_CAP && e->lev)
        event_add(e->waiting, NULL);
    else
        event_del(e->waiting);
}

static void resume_accept(struct http_edge *e)
{
    if (e->paused == OPEN || !e->lev)
        return;
    if (e->open >= e->max) {
        e->paused = PAUSED_CAP;
        event_add(e->waiting, NULL);
        return;
    }
    e->paused = OPEN;
    evtimer_del(e->resume);
    event_del(e->waiting);
    evconnlistener_enable(e->lev);
}

static void evict_oldest(struct http_edge *e);

/* After an accept error: make room as at the cap when a connection has no
 * request (its descriptor is closed later in this pass, so the listener's
 * next try finds one), then accept again. */
static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_edge *e = arg;
    if (e->paused == PAUSED_ERR) {
        evict_oldest(e);
        e->paused = PAUSED_CAP;  /* resume_accept decides */
    }
    resume_accept(e);
}

static void accept_error(struct evconnlistener *lev, void *http)
{
    (void)http;                  /* evhttp's argument, not ours */
    int err = EVUTIL_SOCKET_ERROR();
    struct http_edge *e;
    LIST_FOREACH(e, &edges, all)
        if (e->lev == lev)
            break;
    if (!e) {
        evconnlistener_disable(lev);
        return;
    }
    pause_accept(e, PAUSED_ERR);
    e->n.paused++;
    e->n.err = err;
    /* at once when there is a connection to close, else in a second */
    struct timeval tv = { 0, TAILQ_EMPTY(&e->head) ? EDGE_RESUME_MS * 1000 : 0 };
    evtimer_add(e->resume, &tv);
    log_note(e);
}

/* ---- connection records ------------------------------------------------------- */

static struct conn_list *list_of(struct http_edge *e, enum conn_state s)
{
    return s == C_FRESH ? &e->fresh : s == C_HEAD ? &e->head : &e->busy;
}

static void set_state(struct conn *c, enum conn_state s)
{
    struct http_edge *e = c->e;
    TAILQ_REMOVE(list_of(e, c->state), c, q);
    c->state = s;
    TAILQ_INSERT_TAIL(list_of(e, s), c, q);
    if (s != C_HEAD)
        return;
    c->since = kz_mono_ms();
    if (e->paused == PAUSED_CAP)
        event_add(e->waiting, NULL);    /* it may make room now */
    if (!evtimer_pending(e->tick, NULL)) {
        struct timeval tv = { (time_t)(e->head_ms / 1000),
                              (suseconds_t)(e->head_ms % 1000) * 1000 };
        evtimer_add(e->tick, &tv);
    }
}

static void output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                      void *arg);
static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                     void *arg);

/* The record lets go of its bufferevent's buffers. */
static void conn_unhook(struct conn *c)
{
    evbuffer_remove_cb(bufferevent_get_output(c->bev), output_cb, c);
    evbuffer_remove_cb(bufferevent_get_input(c->bev), input_cb, c);
}

/* The record goes; its connection is closed or closing (evhttp's). */
static void conn_gone(struct conn *c)
{
    struct http_edge *e = c->e;
    TAILQ_REMOVE(list_of(e, c->state), c, q);
    if (c->fd >= 0 && (size_t)c->fd < e->nfd && e->by_fd[c->fd] == c)
        e->by_fd[c->fd] = NULL;
    e->open--;
    e->saw_close = true;
    free(c);
    if (e->paused == PAUSED_CAP)
        resume_accept(e);
    else if (e->paused == PAUSED_ERR) {
        /* its descriptor is closed later in this pass: retry next pass */
        struct timeval now = { 0, 0 };
        evtimer_add(e->resume, &now);
    }
}

/* ---- lingering after an early 413 ------------------------------------------ */

static void linger_done(struct lingerer *l)
{
    bufferevent_disable(l->bev, EV_READ);
    bufferevent_setcb(l->bev, NULL, NULL, NULL, NULL);
    l->done = true;
    event_active(l->e->lingering, EV_TIMEOUT, 1);
}

static void linger_read(struct bufferevent *bev, void *arg)
{
    struct lingerer *l = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (kz_mono_ms() >= l->until)
        linger_done(l);
}

static void linger_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;                  /* EOF, error or the read timeout */
    linger_done(arg);
}

/* The edge's event: give new lingerers our callbacks (evhttp's free
 * cleared them after conn_closed), drop finished ones. */
static void lingering_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_edge *e = arg;
    struct lingerer *l = LIST_FIRST(&e->lingerers), *next;
    for (; l; l = next) {
        next = LIST_NEXT(l, all);
        if (!l->ready && !l->done) {
            struct timeval tv = { 1, 0 };
            l->ready = true;
            bufferevent_setcb(l->bev, linger_read, NULL, linger_event, l);
            bufferevent_set_timeouts(l->bev, &tv, NULL);
            if (bufferevent_enable(l->bev, EV_READ) == 0) {
                linger_read(l->bev, l);
                continue;
            }
            linger_done(l);
        }
        if (l->done) {
            LIST_REMOVE(l, all);
            e->n_lingerers--;
            bufferevent_decref(l->bev);  /* the last reference: closes */
            free(l);
        }
    }
}

/* Keep c's bufferevent past evhttp's free to drain what the client still
 * sends.  Best effort: when too many linger or memory is short, evhttp's
 * close goes ahead as it is. */
static void linger_start(struct http_edge *e, struct conn *c)
{
    if (e->n_lingerers >= EDGE_LINGER_MAX || !e->lev)
        return;
    struct lingerer *l = calloc(1, sizeof *l);
    if (!l)
        return;
    l->e = e;
    l->bev = c->bev;
    l->until = kz_mono_ms() + EDGE_LINGER_MS;
    bufferevent_incref(l->bev);
    LIST_INSERT_HEAD(&e->lingerers, l, all);
    e->n_lingerers++;
    event_active(e->lingering, EV_TIMEOUT, 1);
}

/* evhttp's close callback (inside evhttp_connection_free or its reset). */
static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct conn *c = arg;
    conn_unhook(c);
    if (c->tls)
        tls_failed(c->e, c);
    if (c->linger)
        linger_start(c->e, c);
    conn_gone(c);
}

/* Close a HEAD connection now (never a BUSY one: its request is the
 * router's).  From the edge's own events only. */
static void conn_close(struct conn *c)
{
    struct http_edge *e = c->e;
    e->saw_close = false;
    conn_unhook(c);
    evhttp_connection_free(c->evcon);
    if (!e->saw_close)
        conn_gone(c);           /* evhttp did not call back: forget it */
}

static int index_fd(struct http_edge *e, int fd, struct conn *c)
{
    if ((size_t)fd >= e->nfd) {
        size_t n = e->nfd ? e->nfd : 256;
        while (n <= (size_t)fd)
            n *= 2;
        struct conn **v = realloc(e->by_fd, n * sizeof *v);
        if (!v)
            return -1;
        memset(v + e->nfd, 0, (n - e->nfd) * sizeof *v);
        e->by_fd = v;
        e->nfd = n;
    }
    e->by_fd[fd] = c;
    return 0;
}

/* FRESH -> HEAD: learn evhttp's connection object (see the top). */
static void attach_fresh(struct http_edge *e)
{
    struct conn *c;
    while ((c = TAILQ_FIRST(&e->fresh)) != NULL) {
        bufferevent_data_cb readcb = NULL;
        void *arg = NULL;
        bufferevent_getcb(c->bev, &readcb, NULL, NULL, &arg);
        struct evhttp_connection *evcon = arg;
        int fd = bufferevent_getfd(c->bev);
        struct bufferevent *bev = c->bev;
        if (!readcb || !evcon || evhttp_connection_get_bufferevent(evcon) != bev ||
            fd < 0) {
            /* evhttp gave it up before we saw it */
            conn_unhook(c);
            conn_gone(c);
            bufferevent_decref(bev);
            continue;
        }
        c->evcon = evcon;
        c->fd = fd;
        set_state(c, C_HEAD);
        bufferevent_decref(bev);
        if (index_fd(e, fd, c) < 0) {
            conn_close(c);      /* out of memory: refuse it */
            continue;
        }
        evhttp_connection_set_closecb(evcon, conn_closed, c);
        /* issue 13 tls-http: plain HTTP for loopback peers only */
        if (e->ssl || !e->plain_anywhere) {
            bool local = conn_peer(c, fd);      /* TLS: for its log lines */
            if (!e->ssl && !local) {
                e->plain_refused++;
                peer_log(e, c->peer, "plain HTTP from a non-loopback peer "
                         "refused (plain HTTP is for loopback only: set %s.tls)",
                         e->key);
                conn_close(c);
            }
        }
    }
}

static void attach_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    attach_fresh(arg);
}

/* Close the oldest connection without a request (the newest itself when
 * it is the only one), to make room for a new client. */
static void evict_oldest(struct http_edge *e)
{
    attach_fresh(e);
    struct conn *c = TAILQ_FIRST(&e->head);
    if (!c)
        return;
    e->n.evicted++;
    log_msg(KLOG_DEBUG, e->peer, "connection closed to make room (%u open)",
            e->open);
    c->closed_by = "closed to make room at the connection cap before the "
                   "handshake finished";
    conn_close(c);
    log_note(e);
}

/* At the cap, a client waits in the listen queue: make room.  With every
 * connection busy, accepting resumes when one closes or finishes its
 * answer (set_state re-arms this). */
static void waiting_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_edge *e = arg;
    if (e->paused == PAUSED_CAP)
        evict_oldest(e);        /* conn_gone resumes accepting */
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_edge *e = arg;
    uint64_t now = kz_mono_ms();
    struct conn *c;
    bool noted = false;
    while ((c = TAILQ_FIRST(&e->head)) != NULL && c->since + e->head_ms <= now) {
        log_msg(KLOG_DEBUG, e->peer, "connection closed at the head deadline "
                "(%" PRIu64 " ms) after %u requests", e->head_ms, c->requests);
        if (c->requests == 0) {  /* an idle keep-alive is routine */
            e->n.expired++;
            noted = true;
        }
        c->closed_by = "no TLS handshake within the head deadline";
        conn_close(c);
    }
    if (c) {
        uint64_t left = c->since + e->head_ms - now;
        struct timeval tv = { (time_t)(left / 1000),
                              (suseconds_t)(left % 1000) * 1000 };
        evtimer_add(e->tick, &tv);
    }
    if (noted)
        log_note(e);
}

/* ---- evhttp's own error pages ------------------------------------------------ */

/*
 * A few answers evhttp gives by itself, before any callback of ours runs:
 * 413 for a body over http.max_body (refused by its Content-Length as soon
 * as the head is in, also under Expect: 100-continue), 400 for a
 * malformed request, 501 for a method it does not allow (CONNECT, TRACE).
 * It writes them as an HTML page (evhttp_send_error) and libevent 2.1 has
 * no hook to change that (2.2's evhttp_set_errorcb).  So every
 * connection's bufferevent is made here (make_bev), a plain socket
 * bufferevent like evhttp's own, with one callback on its output buffer:
 * evhttp adds a whole response to that buffer before the socket write is
 * even scheduled (writes happen from the loop).  The buffer may still hold
 * earlier answers (pipelined requests), so output_cb notes where the
 * latest response starts (an add that begins with "HTTP/1.") in resp_at.
 * When the response there is complete, a 4xx/5xx and says Content-Type:
 * text/html — which only evhttp's error pages do; our answers are all JSON
 * — it is replaced in place by the same status with our JSON error
 * {"error": ..., "field": null}.  A page without Content-Length (evhttp
 * writes CONNECT's so) is complete when it ends as evhttp's pages end.
 * For every other response the callback reads a few bytes and returns.
 * The memory bound stays evhttp's: its limit is http.max_body itself.
 */

/* The error message for evhttp's page with status code (reason: its
 * reason phrase). */
static void page_message(int code, const char *reason, int rlen,
                         size_t max_body, char *msg, size_t cap)
{
    if (code == 413)
        snprintf(msg, cap, "request body too large: at most %zu bytes "
                 "(http.max_body)", max_body);
    else if (code == 400)
        snprintf(msg, cap, "malformed HTTP request");
    else if (code == 501)
        snprintf(msg, cap, "method not implemented");
    else
        snprintf(msg, cap, "%.*s", rlen, reason);
}

/* The head (NUL-terminated, in head[cap]) and body length of a complete
 * evhttp error page at offset at of buf; 0 when there is none (yet). */
static size_t find_page(struct evbuffer *buf, size_t at, char *head,
                        size_t cap, size_t *blen)
{
    static const char tail[] = "</BODY></HTML>\n";
    char st[13];
    struct evbuffer_ptr p;
    size_t len = evbuffer_get_length(buf);
    if (len < at + sizeof st || evbuffer_ptr_set(buf, &p, at, EVBUFFER_PTR_SET) ||
        evbuffer_copyout_from(buf, &p, st, sizeof st) != (ev_ssize_t)sizeof st ||
        memcmp(st, "HTTP/1.", 7) != 0 || st[8] != ' ' ||
        (st[9] != '4' && st[9] != '5'))
        return 0;
    struct evbuffer_ptr end = evbuffer_search(buf, "\r\n\r\n", 4, &p);
    if (end.pos < 0 || (size_t)end.pos - at + 4 >= cap)
        return 0;               /* not complete yet, or not evhttp's page */
    size_t hl = (size_t)end.pos - at + 4;
    evbuffer_copyout_from(buf, &p, head, hl);
    head[hl] = '\0';
    if (!strcasestr(head, "\r\nContent-Type: text/html"))
        return 0;
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    if (cl) {
        *blen = strtoul(cl + 17, NULL, 10);
        return len >= at + hl + *blen ? hl : 0;
    }
    char end_of[sizeof tail - 1];
    if (len < at + hl + sizeof end_of ||
        evbuffer_ptr_set(buf, &p, len - sizeof end_of, EVBUFFER_PTR_SET) ||
        evbuffer_copyout_from(buf, &p, end_of, sizeof end_of) !=
            (ev_ssize_t)sizeof end_of ||
        memcmp(end_of, tail, sizeof end_of) != 0)
        return 0;
    *blen = len - at - hl;
    return hl;
}

static void error_page(struct conn *c, struct evbuffer *buf)
{
    char head[2048];
    size_t blen = 0, at = c->resp_at;
    size_t hl = find_page(buf, at, head, sizeof head, &blen);
    if (!hl)
        return;
    int code = atoi(head + 9);
    const char *eol = strstr(head, "\r\n");
    char msg[160];
    page_message(code, head + 13, (int)(eol - head - 13), c->e->max_body, msg,
                 sizeof msg);
    json_t *j = json_pack("{s:s, s:n}", "error", msg, "field");
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    struct evbuffer *before = body ? evbuffer_new() : NULL;
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "%.*s\r\nContent-Type: application/json"
                     "\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
                     (int)(eol - head), head, body ? strlen(body) : 0);
    if (!before || n <= 0 || (size_t)n >= sizeof hdr) {
        free(body);             /* no memory: evhttp's page goes out */
        return;
    }
    c->rewriting = true;        /* our own edits are not responses */
    evbuffer_remove_buffer(buf, before, at);   /* earlier answers */
    evbuffer_drain(buf, hl + blen);
    evbuffer_prepend(buf, body, strlen(body));
    evbuffer_prepend(buf, hdr, (size_t)n);
    evbuffer_prepend_buffer(buf, before);
    c->rewriting = false;
    evbuffer_free(before);
    free(body);
    if (code == 413)
        c->linger = true;       /* the client may still be sending */
    log_msg(KLOG_DEBUG, c->e->peer, "%d from evhttp answered as JSON: %s", code,
            msg);
}

/* 1 when the bytes at offset at of buf start a response. */
static int starts_response(struct evbuffer *buf, size_t at)
{
    char v[7];
    struct evbuffer_ptr p;
    return evbuffer_ptr_set(buf, &p, at, EVBUFFER_PTR_SET) == 0 &&
           evbuffer_copyout_from(buf, &p, v, sizeof v) == (ev_ssize_t)sizeof v &&
           memcmp(v, "HTTP/1.", 7) == 0;
}

/* The output buffer of every connection: where each response starts,
 * error pages, and the end of an answer (drained to the socket: the next
 * head deadline starts). */
static void output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                      void *arg)
{
    struct conn *c = arg;
    if (c->rewriting)
        return;
    if (info->n_deleted)
        c->resp_at = c->resp_at > info->n_deleted ? c->resp_at - info->n_deleted
                                                  : 0;
    if (info->n_added) {
        /* The socket bufferevent freezes its output's start after its first
         * write (only its own write thaws it); reading or editing it needs
         * it thawed, and frozen again as libevent keeps it. */
        evbuffer_unfreeze(buf, 1);
        if (starts_response(buf, info->orig_size))
            c->resp_at = info->orig_size;
        error_page(c, buf);
        if (!c->tls)            /* an OpenSSL bufferevent never freezes it */
            evbuffer_freeze(buf, 1);
    } else if (c->state == C_BUSY && evbuffer_get_length(buf) == 0) {
        set_state(c, C_HEAD);
    }
}

/* The input buffer: a NUL byte is never part of a valid head (RFC 9110
 * 5.5); evhttp keeps header values as C strings, so "Bearer TOKEN\0junk"
 * would reach us as "Bearer TOKEN".  It marks the connection for good
 * (http_edge_nul). */
static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                     void *arg)
{
    struct conn *c = arg;
    struct evbuffer_ptr p;
    if (!info->n_added || c->nul ||
        evbuffer_ptr_set(buf, &p, info->orig_size, EVBUFFER_PTR_SET))
        return;
    c->nul = evbuffer_search(buf, "", 1, &p).pos >= 0;
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    struct http_edge *e = arg;
    struct conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = NULL;
    if (c && e->ssl) {          /* issue 13 tls-http */
        SSL *ssl = SSL_new(e->ssl);
        bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl,
                                                   BUFFEREVENT_SSL_ACCEPTING,
                                                   BEV_OPT_CLOSE_ON_FREE)
                  : NULL;
        if (ssl && !bev)
            SSL_free(ssl);
        c->tls = bev != NULL;
    } else if (c) {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev || !evbuffer_add_cb(bufferevent_get_output(bev), output_cb, c) ||
        !evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c)) {
        if (bev)
            bufferevent_free(bev);
        free(c);
        return NULL;            /* evhttp then makes its own, untracked */
    }
    bufferevent_incref(bev);    /* until attach_fresh */
    c->e = e;
    c->bev = bev;
    c->fd = -1;
    c->state = C_FRESH;
    TAILQ_INSERT_TAIL(&e->fresh, c, q);
    if (++e->open >= e->max)
        pause_accept(e, PAUSED_CAP);    /* the accept loop stops here */
    event_active(e->attach, EV_TIMEOUT, 1);
    return bev;
}

/* The record of req's connection, or NULL (untracked). */
static struct conn *conn_of(struct http_edge *e, struct evhttp_request *req)
{
    attach_fresh(e);
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon)
                                    : NULL;
    int fd = bev ? bufferevent_getfd(bev) : -1;
    struct conn *c = fd >= 0 && (size_t)fd < e->nfd ? e->by_fd[fd] : NULL;
    return c && c->evcon == evcon ? c : NULL;
}

/* What is wrong with req's framing headers, or NULL: evhttp reads the body
 * by the first Content-Length, or by chunks when Transfer-Encoding says
 * so, and ignores the rest — a proxy in front may have framed the same
 * bytes differently (request smuggling, RFC 9112 6.3). */
static const char *framing_problem(struct evhttp_request *req)
{
    unsigned cl = 0, te = 0;
    struct evkeyval *h;
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
        cl += strcasecmp(h->key, "Content-Length") == 0;
        te += strcasecmp(h->key, "Transfer-Encoding") == 0;
    }
    if (cl > 1)
        return "more than one Content-Length header";
    if (cl && te)
        return "both Content-Length and Transfer-Encoding";
    if (te > 1)
        return "more than one Transfer-Encoding header";
    return NULL;
}

/* Answer req with a JSON error and close its connection. */
static void refuse(const struct http_edge *e, struct evhttp_request *req,
                   int code, const char *msg)
{
    json_t *j = json_pack("{s:s, s:n}", "error", msg, "field");
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add(b, s ? s : "{}", strlen(s ? s : "{}"));
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Connection", "close");
    evhttp_send_reply(req, code, NULL, b);
    if (b)
        evbuffer_free(b);
    free(s);
    log_msg(KLOG_DEBUG, e->peer, "%d: %s", code, msg);
}

/* evhttp's generic callback: the request is complete and goes to the
 * router (unless its framing is ambiguous); its connection is busy until
 * the answer has left. */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct http_edge *e = arg;
    struct conn *c = conn_of(e, req);
    if (c) {
        c->requests++;
        if (c->state != C_BUSY)
            set_state(c, C_BUSY);
    }
    const char *bad = framing_problem(req);
    /* issue 13 tls-http: without a record (make_bev ran out of memory)
     * evhttp made a plain socket bufferevent of its own: neither TLS nor
     * the loopback check ran on it */
    if (!c && (e->ssl || !e->plain_anywhere))
        refuse(e, req, 503, "out of memory: try again");
    else if (bad)
        refuse(e, req, 400, bad);
    else
        e->on_request(req, e->arg);
}

bool http_edge_nul(struct http_edge *e, struct evhttp_request *req)
{
    struct conn *c = conn_of(e, req);
    return c && c->nul;
}

/* ---- life cycle ---------------------------------------------------------------- */

int http_edge_listen_parse(const char *listen, char *host, size_t hostcap,
                           int *port)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char *end;
    long p = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == listen || (size_t)(colon - listen) >= hostcap ||
        !colon[1] || *end || p < 0 || p > 65535)
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    *port = (int)p;
    return 0;
}

static unsigned choose_cap(const struct http_edge *e, unsigned want)
{
    struct rlimit rl;
    uint64_t nofile = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        nofile = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : rl.rlim_cur;
    unsigned cap = want ? want : http_edge_default_cap(nofile);
    if (!want)
        log_msg(KLOG_INFO, e->peer, "at most %u connections (%s.max_connections "
                "0: RLIMIT_NOFILE %" PRIu64 " less %" PRIu64 " kept for the links, "
                "the database, Redis and curl)", cap, e->key, nofile, nofile - cap);
    else if (want > http_edge_default_cap(nofile))
        log_msg(KLOG_WARN, e->peer, "%s.max_connections %u leaves too few of "
                "RLIMIT_NOFILE %" PRIu64 " for the links, the database, Redis and "
                "curl; accept pauses when descriptors run out", e->key, want, nofile);
    else
        log_msg(KLOG_INFO, e->peer, "at most %u connections", cap);
    return cap;
}

static int edge_bind(struct http_edge *e, const struct http_edge_opts *o,
                     char *err, size_t errlen)
{
    e->sock = evhttp_bind_socket_with_handle(e->http, o->host,
                                             (ev_uint16_t)o->port);
    if (!e->sock) {
        snprintf(err, errlen, "cannot bind: %s", strerror(errno));
        return -1;
    }
    evutil_socket_t fd = evhttp_bound_socket_get_fd(e->sock);
    /* Accepted sockets inherit TCP_NODELAY from the listener (Linux): a
     * reply must not wait for the client's delayed ACK (Nagle). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    e->lev = evhttp_bound_socket_get_listener(e->sock);
    evconnlistener_set_error_cb(e->lev, accept_error);
    e->waiting = event_new(e->base, fd, EV_READ, waiting_cb, e);
    if (!e->waiting) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- issue 13 tls-http: the TLS context, its reload, the series ------------ */

static char *dup_or_null(const char *s)
{
    return s && s[0] ? strdup(s) : NULL;
}

/* A server context from the edge's paths, or NULL with err. */
static SSL_CTX *edge_ctx(const struct http_edge *e, char *err, size_t errlen)
{
    struct kz_tls_opts t = { .cert = e->tls_cert, .key = e->tls_key,
                             .client_ca = e->tls_ca };
    return kz_tls_server_ctx(&t, err, errlen);
}

/* The TLS context (when cert is set) and the two counters.  0, or -1. */
static int edge_tls_setup(struct http_edge *e, const struct http_edge_opts *o,
                          char *err, size_t errlen)
{
    e->plain_anywhere = o->plain_anywhere;
    if (o->tls_cert && o->tls_cert[0]) {
        e->tls_cert = dup_or_null(o->tls_cert);
        e->tls_key = dup_or_null(o->tls_key);
        e->tls_ca = dup_or_null(o->tls_client_ca);
        if (!e->tls_cert || (o->tls_key && o->tls_key[0] && !e->tls_key) ||
            (o->tls_client_ca && o->tls_client_ca[0] && !e->tls_ca)) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        char terr[300];
        e->ssl = edge_ctx(e, terr, sizeof terr);
        if (!e->ssl) {
            snprintf(err, errlen, "%s.tls: %s", e->key, terr);
            return -1;
        }
    }
    if (e->ssl)
        log_msg(KLOG_INFO, e->peer, "HTTPS only (certificate %s%s)", e->tls_cert,
                e->tls_ca ? "; client certificates required" : "");
    else if (e->plain_anywhere)
        log_msg(KLOG_WARN, e->peer, "plain HTTP from any peer (%s.insecure_plain): "
                "requests cross the network unencrypted unless a TLS proxy is "
                "in front", e->key);
    if (!o->metrics)
        return 0;
    e->metrics = o->metrics;
    struct kz_label l = { "listener", e->peer };
    if (kz_metrics_counter_u64(o->metrics, "kyzmat_http_tls_handshake_failures_total",
                               "Connections closed before their TLS handshake "
                               "finished (refused certificate, plain HTTP, "
                               "stalled), by listener.", &l, 1, &e->tls_failures,
                               err, errlen) != 0 ||
        kz_metrics_counter_u64(o->metrics, "kyzmat_http_plain_refused_total",
                               "Plain HTTP connections from a non-loopback peer "
                               "closed at accept, by listener.", &l, 1,
                               &e->plain_refused, err, errlen) != 0)
        return -1;
    return 0;
}

int http_edge_tls_reload(struct http_edge *e)
{
    if (!e || !e->ssl)
        return 0;
    char terr[300];
    SSL_CTX *ctx = edge_ctx(e, terr, sizeof terr);
    if (!ctx) {
        log_msg(KLOG_ERROR, e->peer, "TLS reload refused: %s; new connections "
                "keep the previous certificate", terr);
        return -1;
    }
    SSL_CTX_free(e->ssl);       /* connections made from it hold a reference */
    e->ssl = ctx;
    log_msg(KLOG_INFO, e->peer, "TLS certificate reloaded from %s: new "
            "connections use it", e->tls_cert);
    return 0;
}

int http_edge_peer_cert_sha256(struct http_edge *e, struct evhttp_request *req,
                               unsigned char out[32])
{
    struct conn *c = conn_of(e, req);
    SSL *ssl = c && c->tls ? bufferevent_openssl_get_ssl(c->bev) : NULL;
    X509 *x = ssl ? SSL_get_peer_certificate(ssl) : NULL;
    unsigned n = 0;
    int ok = x && SSL_get_verify_result(ssl) == X509_V_OK &&
             X509_digest(x, EVP_sha256(), out, &n) == 1 && n == 32;
    X509_free(x);
    return ok ? 0 : -1;
}

int http_edge_cert_file_sha256(const char *path, unsigned char out[32],
                               char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    unsigned n = 0;
    int ok = x && X509_digest(x, EVP_sha256(), out, &n) == 1 && n == 32;
    X509_free(x);
    ERR_clear_error();
    if (!ok)
        snprintf(err, errlen, "%s: not a PEM certificate", path);
    return ok ? 0 : -1;
}

/* ---- life cycle, continued ---------------------------------------------------- */

struct http_edge *http_edge_new(struct event_base *base,
                                const struct http_edge_opts *o, char *err,
                                size_t errlen)
{
    struct http_edge *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    LIST_INSERT_HEAD(&edges, e, all);
    e->base = base;
    TAILQ_INIT(&e->fresh);
    TAILQ_INIT(&e->head);
    TAILQ_INIT(&e->busy);
    e->head_ms = o->head_timeout_ms ? o->head_timeout_ms : 10000;
    e->peer = o->peer ? o->peer : "api";
    e->key = o->key ? o->key : "http";
    e->max_body = o->max_body;
    e->on_request = o->on_request;
    e->arg = o->arg;
    e->attach = event_new(base, -1, 0, attach_cb, e);
    e->tick = evtimer_new(base, tick_cb, e);
    e->resume = evtimer_new(base, resume_cb, e);
    e->logt = evtimer_new(base, logt_cb, e);
    e->lingering = event_new(base, -1, 0, lingering_cb, e);
    LIST_INIT(&e->lingerers);
    e->http = evhttp_new(base);
    if (!e->attach || !e->tick || !e->resume || !e->logt || !e->lingering ||
        !e->http) {
        snprintf(err, errlen, "out of memory");
        http_edge_free(e);
        return NULL;
    }
    if (edge_tls_setup(e, o, err, errlen) != 0) {   /* issue 13 tls-http */
        http_edge_free(e);
        return NULL;
    }
    evhttp_set_max_body_size(e->http, (ev_ssize_t)o->max_body);
    evhttp_set_bevcb(e->http, make_bev, e);
    evhttp_set_max_headers_size(e->http, 16384);
    evhttp_set_timeout(e->http, 60);
    /* No EVHTTP_SERVER_LINGERING_CLOSE: it reads a too large body to its
     * end before the 413, and under Expect: 100-continue waits for a body
     * that never comes.  The 413 goes out at once; the edge reads and drops
     * what the client still sends (linger_start). */
    evhttp_set_allowed_methods(e->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                        EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                        EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                        EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(e->http, on_request, e);
    if (edge_bind(e, o, err, errlen) < 0) {
        http_edge_free(e);
        return NULL;
    }
    e->max = choose_cap(e, o->max_connections);
    return e;
}

void http_edge_free(struct http_edge *e)
{
    if (!e)
        return;
    /* evhttp frees its listener first, then every connection (each one
     * calls conn_closed): nothing may touch the listener meanwhile. */
    e->lev = NULL;
    e->paused = OPEN;
    if (e->waiting)
        event_free(e->waiting);  /* before evhttp closes its descriptor */
    if (e->http)
        evhttp_free(e->http);
    struct conn *c;
    while ((c = TAILQ_FIRST(&e->fresh)) != NULL) {
        struct bufferevent *bev = c->bev;
        conn_unhook(c);
        conn_gone(c);
        bufferevent_decref(bev);
    }
    while ((c = TAILQ_FIRST(&e->head)) != NULL)
        conn_gone(c);
    while ((c = TAILQ_FIRST(&e->busy)) != NULL)
        conn_gone(c);
    if (e->attach)
        event_free(e->attach);
    if (e->tick)
        event_free(e->tick);
    if (e->resume)
        event_free(e->resume);
    if (e->logt)
        event_free(e->logt);
    struct lingerer *l;
    while ((l = LIST_FIRST(&e->lingerers)) != NULL) {
        LIST_REMOVE(l, all);
        bufferevent_setcb(l->bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(l->bev, EV_READ);
        bufferevent_decref(l->bev);
        free(l);
    }
    if (e->lingering)
        event_free(e->lingering);
    free(e->by_fd);
    if (e->metrics)             /* issue 13 tls-http */
        kz_metrics_retire_range(e->metrics, e, sizeof *e);
    SSL_CTX_free(e->ssl);
    free(e->tls_cert);
    free(e->tls_key);
    free(e->tls_ca);
    LIST_REMOVE(e, all);
    free(e);
}

struct evhttp *http_edge_http(const struct http_edge *e)
{
    return e->http;
}

int http_edge_port(const struct http_edge *e)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (!e->sock || getsockname(evhttp_bound_socket_get_fd(e->sock),
                                (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

unsigned http_edge_open(const struct http_edge *e)
{
    return e ? e->open : 0;
}
