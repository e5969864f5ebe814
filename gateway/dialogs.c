/*
 * gateway/dialogs.c — the dialog store (see dialogs.h for the contract).
 *
 * Design.
 *  - One struct dialogs, two back-ends chosen by `kind`.  What they share:
 *    the request objects (struct req, from a free list that grows in slabs
 *    of REQ_SLAB and never shrinks), the "done queue" through which every
 *    result not coming straight from a hiredis reply is delivered (one
 *    event made active, drained in FIFO order), the counters.
 *  - Memory back-end: chained hash table whose bucket array is sized once
 *    (next power of two >= max_entries), so it never rehashes — no O(n)
 *    pause on the loop.  Each operation runs at call time (so the order of
 *    effects is the order of calls) and its result waits in the done queue;
 *    a GET's bytes are copied into the request's own reusable buffer.
 *    Expiry is checked on every access; a 100 ms timer also sweeps a slice
 *    of the buckets (1/32 of them, at least 256) so expired entries are
 *    reclaimed without a full scan; a SET meeting a full table first sweeps
 *    one more slice.
 *  - Redis back-end: a small state machine over one hiredis async context.
 *        DOWN --retry timer--> CONNECTING --[AUTH ok,] SELECT/PING ok--> UP
 *        CONNECTING --connect error, connect timer, handshake error--> DOWN
 *        UP --disconnect (hiredis), stall (our timer)--> DOWN
 *        any --dialogs_set_url--> CONNECTING (new server) or memory
 *    The handshake is pipelined: AUTH (when the URL has a password), then
 *    SELECT or PING; only the last answer makes the store UP, any error
 *    answer drops the context ("AUTH failed: ...", "SELECT refused: ...").
 *    The password lives in the store (wiped when replaced or freed) and in
 *    hiredis's output buffer until sent; it is never put in a text.
 *    Requests are sent only when UP; otherwise they fail with UNAVAILABLE
 *    through the done queue.  Sent requests sit in an in-flight list, oldest
 *    first (the order Redis answers in).  All requests share one timeout, so
 *    deadlines fall due in list order: one timer, `cursor` pointing at the
 *    oldest request not yet timed out.  A timed-out request is completed at
 *    once with TIMEOUT and stays in the list, marked, until hiredis hands
 *    its reply (swallowed) or a NULL reply (context freed) back.
 *  - Behind Redis Sentinels (opts.sentinels, issue 9) every connect starts
 *    with a question to them (gateway/sentinel.c): CONNECTING covers it,
 *    its failure is a failed attempt with the sentinels' reasons.  The
 *    handshake ends with ROLE, which must say "master"; a READONLY answer
 *    later (a master demoted under an open connection) drops the
 *    connection from free_ev, so the next attempt asks again.
 *  - hiredis 0.14.1 facts this relies on: after onConnect(REDIS_ERR) and
 *    after onDisconnect hiredis frees the context itself; freeing a context
 *    calls every pending reply callback with a NULL reply; onDisconnect is
 *    only called for a context that had connected.  When we decide to drop
 *    a connection (connect timeout, bad handshake, stall) the context moves
 *    to `ac_dead` and a zero-delay event frees it — never inside one of its
 *    own callbacks.
 *  - Switching (dialogs_set_url): an UP context with requests still
 *    waiting becomes `ac_old`; it takes no new requests, and `old_pending`
 *    counts its RQ_SENT requests down as they are answered or time out
 *    (requests carry the context they went out on).  At zero the same
 *    zero-delay event frees it (its timed-out requests come back NULL and
 *    are released).  The in-flight list and its one timer are shared by old
 *    and new contexts (still in send order); the stall watch is paused
 *    while an old context drains, which lasts at most request_timeout_ms.
 *    Memory <-> Redis switches swap the table for the connection; the done
 *    queue carries results across unchanged.
 *
 * Owns: the hiredis contexts (current, dropped, draining), their timers and
 * events, the memory table and its entries, the request slabs, the AUTH
 * credentials, the sentinel asker.
 * May call: hiredis (async + libevent adapter), libevent, base/clock, base/base64 (hex digits),
 * gateway/sentinel, libc (getaddrinfo
 * only in dialogs_new_redis and dialogs_set_url).
 */
#include "gateway/dialogs.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "base/base64.h"
#include "base/clock.h"
#include "gateway/sentinel.h"

#define REQ_SLAB        256
#define SWEEP_EVERY_MS  100
#define SWEEP_MIN       256
#define CMD_STACK       4096    /* formatted command kept on the stack */

enum kind { K_MEMORY, K_REDIS };
enum op { OP_GET, OP_SET, OP_DEL };
enum rq_state {
    RQ_FREE = 0,
    RQ_QUEUED,      /* in the done queue, result known */
    RQ_SENT,        /* handed to hiredis, waiting for the reply */
    RQ_TIMED_OUT    /* completed with TIMEOUT, reply still owed by hiredis */
};

struct dialogs;

/* A request is on exactly one list at a time, so the lists share the
 * link: the free list and the done queue are singly linked (STAILQ), the
 * in-flight list, whose requests leave from the middle, is a TAILQ. */
struct req {
    union {
        STAILQ_ENTRY(req) q;    /* free list, done queue */
        TAILQ_ENTRY(req) fl;    /* in-flight list */
    } link;
    struct dialogs *d;
    redisAsyncContext *ac;      /* Redis: the context it was sent on */
    dialogs_cb cb;
    void *arg;
    uint64_t sent_ms;
    uint8_t op, state;
    enum dialogs_status st;
    const char *err;
    uint8_t *buf;               /* memory GET result; reused across uses */
    size_t len, cap;
};

STAILQ_HEAD(req_queue, req);
TAILQ_HEAD(req_list, req);

struct slab {
    SLIST_ENTRY(slab) link;
    struct req r[REQ_SLAB];
};

struct mem_entry {
    LIST_ENTRY(mem_entry) link; /* its bucket's chain */
    uint64_t expires_ms;
    uint64_t hash;
    uint8_t *val;
    uint32_t vlen, vcap;
    uint16_t klen;
    char key[];
};

struct dialogs {
    struct event_base *base;
    enum kind kind;
    struct dialogs_opts o;      /* defaults applied */
    struct dialogs_stats st;
    char desc[600];
    bool closing;
    int in_cb;                  /* depth of calls into the caller */

    struct req_queue free_reqs; /* LIFO */
    SLIST_HEAD(, slab) slabs;
    struct req_queue done;      /* FIFO */
    struct event *done_ev;
    bool done_active;

    /* memory */
    LIST_HEAD(bucket, mem_entry) *buckets;
    size_t nbuckets, sweep_pos, sweep_slice;
    struct event *sweep_ev;

    struct event *up_ev;        /* memory after dialogs_set_url: report UP */

    /* redis */
    char addr[INET6_ADDRSTRLEN];
    int port, db;
    char user[128];             /* AUTH user, "" = none */
    char pass[512];             /* AUTH password, "" = no AUTH; never logged */
    redisAsyncContext *ac;      /* current context, or NULL */
    redisAsyncContext *ac_dead; /* dropped, to be freed by free_ev */
    redisAsyncContext *ac_old;  /* retired by dialogs_set_url, draining */
    unsigned old_pending;       /* RQ_SENT requests still on ac_old */
    bool old_forced;            /* ac_old being freed before it drained */
    enum dialogs_state state;
    bool down_reported;
    char last_reason[300];      /* the DOWN reason last reported */
    struct sentinel *sent;      /* opts.sentinels: asked before each connect */
    bool demoted;               /* a READONLY answer: drop, ask again */
    char host_desc[420];        /* the desc's host part ("sentinels ...") */
    unsigned backoff_ms;
    uint64_t rng;
    struct event *retry_ev, *connect_ev, *req_ev, *free_ev;
    struct req_list inflight;   /* sent, oldest first */
    struct req *cursor;         /* oldest RQ_SENT in the in-flight list */
    uint64_t timer_at;          /* when req_ev fires; 0 = not armed */
    uint64_t last_rx_ms;
    char unavail[300];          /* text for UNAVAILABLE results */
    char timeout_text[64];
};

static const uint8_t empty_value[1];

const char *dialogs_status_name(enum dialogs_status st)
{
    switch (st) {
    case DIALOGS_OK: return "ok";
    case DIALOGS_NOT_FOUND: return "not found";
    case DIALOGS_UNAVAILABLE: return "unavailable";
    case DIALOGS_TIMEOUT: return "timeout";
    case DIALOGS_ERROR: return "error";
    }
    return "?";
}

/* ---- keys and URLs (pure) ---------------------------------------------- */

int dialogs_key(char *buf, size_t cap, enum dialogs_key_kind kind,
                const char *msisdn, const char *suffix)
{
    if (!buf || !msisdn || (kind != DIALOGS_KEY_DIALOG && kind != DIALOGS_KEY_LANG))
        return -1;
    size_t n = strlen(msisdn);
    if (n == 0 || n > DIALOGS_MSISDN_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = msisdn[i];
        if (!(c >= '0' && c <= '9') && !(c == '+' && i == 0))
            return -1;
    }
    if (n == 1 && msisdn[0] == '+')
        return -1;
    size_t sn = suffix ? strlen(suffix) : 0;
    if (sn > 32)
        return -1;
    for (size_t i = 0; i < sn; i++) {
        char c = suffix[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-'))
            return -1;
    }
    int w = sn ? snprintf(buf, cap, "kz:%c:{%s}:%s", (char)kind, msisdn, suffix)
               : snprintf(buf, cap, "kz:%c:{%s}", (char)kind, msisdn);
    if (w < 0 || (size_t)w >= cap)
        return -1;
    return w;
}

static int parse_num(const char *s, size_t n, long lo, long hi, long *out)
{
    if (n == 0 || n > 6)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Decode n bytes of URL user info (%XX escapes) into out (cap bytes,
 * NUL-terminated).  Errors name `what`, never the text itself (it may be
 * a password). */
static int pct_decode(const char *s, size_t n, char *out, size_t cap,
                      const char *what, char *err, size_t errlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3 || kz_hex_value(s[i + 1]) < 0 || kz_hex_value(s[i + 2]) < 0) {
                snprintf(err, errlen, "redis url: bad %%-escape in the %s", what);
                return -1;
            }
            c = (unsigned char)(kz_hex_value(s[i + 1]) * 16 + kz_hex_value(s[i + 2]));
            if (c == 0) {
                snprintf(err, errlen, "redis url: %%00 in the %s", what);
                return -1;
            }
            i += 2;
        } else if (c <= ' ' || c == 0x7f) {
            snprintf(err, errlen, "redis url: space or control character in the %s "
                     "(write it as %%XX)", what);
            return -1;
        }
        if (o + 1 >= cap) {
            snprintf(err, errlen, "redis url: %s too long", what);
            return -1;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

const char *dialogs_redact_url(const char *url, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return buf;
    if (!url) {
        buf[0] = '\0';
        return buf;
    }
    const char *at = NULL;
    if (strncmp(url, "redis://", 8) == 0)
        at = memrchr(url + 8, '@', strcspn(url + 8, "/?#"));
    if (!at) {
        snprintf(buf, cap, "%s", url);
        return buf;
    }
    const char *colon = memchr(url + 8, ':', (size_t)(at - (url + 8)));
    /* "redis://USER:" kept; without a colon all of the user info goes */
    const char *keep_end = colon ? colon + 1 : url + 8;
    snprintf(buf, cap, "%.*s***%s", (int)(keep_end - url), url, at);
    return buf;
}

int dialogs_parse_url(const char *url, struct dialogs_redis_url *out,
                      char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!url || strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "redis url must start with redis://");
        return -1;
    }
    const char *p = url + 8;
    if (strpbrk(p, "?#")) {
        snprintf(err, errlen, "redis url: query or fragment not supported");
        return -1;
    }
    out->user[0] = out->password[0] = '\0';
    size_t alen = strcspn(p, "/");          /* the authority */
    const char *at = memrchr(p, '@', alen);
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            snprintf(err, errlen, "redis url: user info must be :PASSWORD@ or "
                     "USER:PASSWORD@");
            return -1;
        }
        if (pct_decode(p, (size_t)(colon - p), out->user, sizeof out->user,
                       "user", err, errlen) != 0 ||
            pct_decode(colon + 1, (size_t)(at - colon - 1), out->password,
                       sizeof out->password, "password", err, errlen) != 0)
            return -1;
        if (!out->password[0]) {
            snprintf(err, errlen, "redis url: empty password");
            return -1;
        }
        p = at + 1;
    }
    const char *h, *he;
    if (*p == '[') {
        h = p + 1;
        he = strchr(h, ']');
        if (!he) {
            snprintf(err, errlen, "redis url: missing ] after IPv6 address");
            return -1;
        }
        p = he + 1;
    } else {
        h = p;
        he = p + strcspn(p, ":/");
        p = he;
    }
    size_t hn = (size_t)(he - h);
    if (hn == 0) {
        snprintf(err, errlen, "redis url: missing host");
        return -1;
    }
    if (hn >= sizeof out->host) {
        snprintf(err, errlen, "redis url: host name too long");
        return -1;
    }
    for (size_t i = 0; i < hn; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= ' ' || c >= 0x7f || c == '[' || c == ']') {
            snprintf(err, errlen, "redis url: bad character in host");
            return -1;
        }
    }
    long port = 6379, db = 0;
    if (*p == ':') {
        p++;
        size_t n = strcspn(p, "/");
        if (parse_num(p, n, 1, 65535, &port) != 0) {
            snprintf(err, errlen, "redis url: port must be 1..65535");
            return -1;
        }
        p += n;
    }
    if (*p == '/') {
        p++;
        size_t n = strlen(p);
        if (n > 0 && parse_num(p, n, 0, 65535, &db) != 0) {
            snprintf(err, errlen, "redis url: database must be a number 0..65535");
            return -1;
        }
        p += n;
    }
    if (*p != '\0') {
        snprintf(err, errlen, "redis url: unexpected text after the host");
        return -1;
    }
    memcpy(out->host, h, hn);
    out->host[hn] = '\0';
    out->port = (int)port;
    out->db = (int)db;
    return 0;
}

/* ---- requests and delivery ---------------------------------------------- */

static struct req *req_alloc(struct dialogs *d)
{
    if (STAILQ_EMPTY(&d->free_reqs)) {
        struct slab *s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        SLIST_INSERT_HEAD(&d->slabs, s, link);
        for (int i = 0; i < REQ_SLAB; i++)
            STAILQ_INSERT_TAIL(&d->free_reqs, &s->r[i], link.q);
    }
    struct req *r = STAILQ_FIRST(&d->free_reqs);
    STAILQ_REMOVE_HEAD(&d->free_reqs, link.q);
    r->d = d;
    r->ac = NULL;
    r->err = NULL;
    r->len = 0;
    return r;
}

static void req_release(struct dialogs *d, struct req *r)
{
    r->state = RQ_FREE;
    r->cb = NULL;
    r->arg = NULL;
    STAILQ_INSERT_HEAD(&d->free_reqs, r, link.q);
}

/* Call the caller's callback, counting the result. */
static void deliver(struct dialogs *d, dialogs_cb cb, void *arg,
                    const struct dialogs_result *res)
{
    switch (res->status) {
    case DIALOGS_OK: d->st.ok++; break;
    case DIALOGS_NOT_FOUND: d->st.not_found++; break;
    case DIALOGS_UNAVAILABLE: d->st.unavailable++; break;
    case DIALOGS_TIMEOUT: d->st.timeouts++; break;
    case DIALOGS_ERROR: d->st.errors++; break;
    }
    if (d->st.inflight > 0)
        d->st.inflight--;
    d->in_cb++;
    cb(arg, res);
    d->in_cb--;
}

static void queue_done(struct dialogs *d, struct req *r,
                       enum dialogs_status st, const char *err)
{
    r->st = st;
    r->err = err;
    r->state = RQ_QUEUED;
    STAILQ_INSERT_TAIL(&d->done, r, link.q);
    if (!d->done_active) {
        d->done_active = true;
        event_active(d->done_ev, EV_TIMEOUT, 1);
    }
}

/* Deliver the queued results present when the pass began; results queued
 * by those callbacks wait for the next pass (no unbounded loop). */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dialogs *d = arg;
    struct req *r = STAILQ_FIRST(&d->done), *next;
    STAILQ_INIT(&d->done);
    d->done_active = false;
    for (; r; r = next) {
        next = STAILQ_NEXT(r, link.q);
        struct dialogs_result res = { r->st, NULL, 0, r->err };
        if (r->st == DIALOGS_OK && r->op == OP_GET) {
            res.value = r->cap ? r->buf : empty_value;
            res.len = r->len;
        }
        deliver(d, r->cb, r->arg, &res);
        req_release(d, r);
    }
}

static bool check_args(struct dialogs *d, struct req *r, size_t keylen,
                       size_t vlen)
{
    if (keylen == 0 || keylen > DIALOGS_KEY_MAX) {
        queue_done(d, r, DIALOGS_ERROR, "key empty or too long");
        return false;
    }
    if (vlen > DIALOGS_VALUE_MAX) {
        queue_done(d, r, DIALOGS_ERROR, "value too large");
        return false;
    }
    return true;
}

/* ---- memory back-end ----------------------------------------------------- */

static uint64_t hash_key(const char *k, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static void mem_remove(struct dialogs *d, struct mem_entry *e)
{
    LIST_REMOVE(e, link);
    free(e->val);
    free(e);
    d->st.entries--;
}

/* Find key; expired entries met on the way are removed. */
static struct mem_entry *mem_find(struct dialogs *d, const char *key,
                                  size_t klen, uint64_t h, uint64_t now)
{
    struct mem_entry *e, *next;
    for (e = LIST_FIRST(&d->buckets[h & (d->nbuckets - 1)]); e; e = next) {
        next = LIST_NEXT(e, link);
        if (e->expires_ms <= now) {
            mem_remove(d, e);
            d->st.expired++;
            continue;
        }
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    }
    return NULL;
}

static void mem_sweep(struct dialogs *d, size_t nb, uint64_t now)
{
    for (size_t i = 0; i < nb; i++) {
        struct mem_entry *e, *next;
        for (e = LIST_FIRST(&d->buckets[d->sweep_pos]); e; e = next) {
            next = LIST_NEXT(e, link);
            if (e->expires_ms <= now) {
                mem_remove(d, e);
                d->st.expired++;
            }
        }
        d->sweep_pos = (d->sweep_pos + 1) & (d->nbuckets - 1);
    }
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dialogs *d = arg;
    if (d->st.entries > 0)
        mem_sweep(d, d->sweep_slice, kz_mono_ms());
}

static void mem_get(struct dialogs *d, struct req *r, const char *key, size_t klen)
{
    struct mem_entry *e = mem_find(d, key, klen, hash_key(key, klen), kz_mono_ms());
    if (!e) {
        queue_done(d, r, DIALOGS_NOT_FOUND, "no such key");
        return;
    }
    if (r->cap < e->vlen || r->cap == 0) {
        size_t nc = e->vlen < 256 ? 256 : e->vlen;
        uint8_t *nb = realloc(r->buf, nc);
        if (!nb) {
            queue_done(d, r, DIALOGS_ERROR, "out of memory");
            return;
        }
        r->buf = nb;
        r->cap = nc;
    }
    if (e->vlen)
        memcpy(r->buf, e->val, e->vlen);
    r->len = e->vlen;
    queue_done(d, r, DIALOGS_OK, NULL);
}

static void mem_set(struct dialogs *d, struct req *r, const char *key,
                    size_t klen, const void *val, size_t vlen, unsigned ttl)
{
    uint64_t now = kz_mono_ms();
    uint64_t h = hash_key(key, klen);
    struct mem_entry *e = mem_find(d, key, klen, h, now);
    if (!e) {
        if (d->st.entries >= d->o.max_entries)
            mem_sweep(d, d->sweep_slice, now);
        if (d->st.entries >= d->o.max_entries) {
            queue_done(d, r, DIALOGS_ERROR, "memory store full");
            return;
        }
        e = malloc(sizeof *e + klen + 1);
        if (!e) {
            queue_done(d, r, DIALOGS_ERROR, "out of memory");
            return;
        }
        memcpy(e->key, key, klen);
        e->key[klen] = '\0';
        e->klen = (uint16_t)klen;
        e->hash = h;
        e->val = NULL;
        e->vlen = e->vcap = 0;
        LIST_INSERT_HEAD(&d->buckets[h & (d->nbuckets - 1)], e, link);
        d->st.entries++;
    }
    if (e->vcap < vlen || !e->val) {
        size_t nc = vlen ? vlen : 1;
        uint8_t *nv = realloc(e->val, nc);
        if (!nv) {
            /* Leave the table as it was: an old value stays, a new empty
             * entry goes. */
            if (!e->val)
                mem_remove(d, e);
            queue_done(d, r, DIALOGS_ERROR, "out of memory");
            return;
        }
        e->val = nv;
        e->vcap = (uint32_t)nc;
    }
    if (vlen)
        memcpy(e->val, val, vlen);
    e->vlen = (uint32_t)vlen;
    e->expires_ms = now + ttl;
    queue_done(d, r, DIALOGS_OK, NULL);
}

static void mem_del(struct dialogs *d, struct req *r, const char *key, size_t klen)
{
    struct mem_entry *e = mem_find(d, key, klen, hash_key(key, klen), kz_mono_ms());
    if (!e) {
        queue_done(d, r, DIALOGS_NOT_FOUND, "no such key");
        return;
    }
    mem_remove(d, e);
    queue_done(d, r, DIALOGS_OK, NULL);
}

/* ---- Redis back-end: connection state machine --------------------------- */

static void start_connect(struct dialogs *d);
static void rearm_req_timer(struct dialogs *d, uint64_t now);

static void report_state(struct dialogs *d, enum dialogs_state s, const char *why)
{
    if (!d->o.on_state || d->closing)
        return;
    d->in_cb++;
    d->o.on_state(d->o.state_arg, s, why);
    d->in_cb--;
}

static uint64_t rng_next(struct dialogs *d)
{
    uint64_t x = d->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    d->rng = x;
    return x;
}

static void arm_ms(struct event *ev, uint64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
    event_add(ev, &tv);
}

/* The connection is gone or failed (why: short text; refused: the server
 * answered the handshake with an error — AUTH, SELECT).  Schedules the
 * next attempt with back-off and reports DOWN once per outage, and again
 * when a refusal brings a new cause: a password changed on a running
 * server shows as "AUTH failed" after the "connection lost", once, not at
 * every retry. */
static void went_down_why(struct dialogs *d, const char *why, bool was_up,
                          bool refused)
{
    event_del(d->connect_ev);
    d->state = DIALOGS_DOWN;
    if (was_up)
        d->st.disconnects++;
    else
        d->st.connect_failures++;
    snprintf(d->unavail, sizeof d->unavail, "redis %s:%d not connected: %s",
             d->addr, d->port, why);
    if (d->closing)
        return;
    unsigned b = d->backoff_ms;
    uint64_t delay = (uint64_t)b * 3 / 4 + rng_next(d) % ((uint64_t)b / 2 + 1);
    d->backoff_ms = b >= d->o.backoff_max_ms / 2 ? d->o.backoff_max_ms : b * 2;
    arm_ms(d->retry_ev, delay);
    if (!d->down_reported || (refused && strcmp(d->last_reason, why) != 0)) {
        d->down_reported = true;
        snprintf(d->last_reason, sizeof d->last_reason, "%s", why);
        report_state(d, DIALOGS_DOWN, why);
    }
}

static void went_down(struct dialogs *d, const char *why, bool was_up)
{
    went_down_why(d, why, was_up, false);
}

/* We give up on the current context (outside or inside its callbacks):
 * it is freed from a zero-delay event. */
static void drop_conn_why(struct dialogs *d, const char *why, bool refused)
{
    bool was_up = d->state == DIALOGS_UP;
    assert(d->ac_dead == NULL);
    d->ac_dead = d->ac;
    d->ac = NULL;
    event_active(d->free_ev, EV_TIMEOUT, 1);
    went_down_why(d, why, was_up, refused);
}

static void drop_conn(struct dialogs *d, const char *why)
{
    drop_conn_why(d, why, false);
}

static void free_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dialogs *d = arg;
    redisAsyncContext *ac = d->ac_dead;
    d->ac_dead = NULL;
    if (ac)
        redisAsyncFree(ac);     /* pending replies come back NULL: on_reply */
    if (d->ac_old && d->old_pending == 0) {
        ac = d->ac_old;         /* drained: only timed-out requests left */
        d->ac_old = NULL;
        redisAsyncFree(ac);
        rearm_req_timer(d, kz_mono_ms());   /* the stall watch applies again */
    }
    if (d->demoted) {
        d->demoted = false;
        if (d->ac && d->state == DIALOGS_UP)
            drop_conn_why(d, "the master became a replica (READONLY): a failover",
                          true);
    }
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_connect(arg);
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dialogs *d = arg;
    if (d->ac && d->state == DIALOGS_CONNECTING) {
        char why[64];
        snprintf(why, sizeof why, "connect timed out after %u ms",
                 d->o.connect_timeout_ms);
        drop_conn(d, why);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct dialogs *d = ac->data;
    if (status == REDIS_OK || d->closing)
        return;
    /* hiredis frees ac after this returns. */
    if (ac == d->ac) {
        d->ac = NULL;
        went_down(d, ac->errstr[0] ? ac->errstr : "connect failed", false);
    } else if (ac == d->ac_dead) {
        d->ac_dead = NULL;
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct dialogs *d = ac->data;
    (void)status;
    if (d->closing)
        return;
    /* hiredis frees ac after this returns. */
    if (ac == d->ac) {
        bool was_up = d->state == DIALOGS_UP;
        d->ac = NULL;
        went_down(d, ac->err && ac->errstr[0] ? ac->errstr : "connection closed",
                  was_up);
    } else if (ac == d->ac_dead) {
        d->ac_dead = NULL;
    } else if (ac == d->ac_old) {
        d->ac_old = NULL;       /* its requests came back NULL already */
        d->old_pending = 0;
    }
}

/* Markers for the handshake replies (priv of on_handshake): AUTH, then
 * SELECT/PING, then (behind sentinels) ROLE, which must say "master": a
 * demoted master still answers, read-only. */
static char hs_auth, hs_select, hs_role;

/* Is this answer to ROLE a master's?  ["master", offset, [replicas]] */
static bool role_is_master(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
           r->element[0]->type == REDIS_REPLY_STRING &&
           strcmp(r->element[0]->str, "master") == 0;
}

static void on_handshake(redisAsyncContext *ac, void *reply_, void *priv)
{
    struct dialogs *d = ac->data;
    redisReply *reply = reply_;
    if (d->closing || ac != d->ac || !reply)
        return;     /* a NULL reply: on_connect/on_disconnect report it */
    if (priv == &hs_role && !role_is_master(reply)) {
        char why[160];
        snprintf(why, sizeof why, "%s:%d is not a master (%s): the sentinels "
                 "have not finished a failover yet", d->addr, d->port,
                 reply->type == REDIS_REPLY_ARRAY && reply->elements &&
                 reply->element[0]->type == REDIS_REPLY_STRING
                     ? reply->element[0]->str : "ROLE refused");
        drop_conn_why(d, why, true);
        return;
    }
    if (priv != &hs_role && (reply->type == REDIS_REPLY_ERROR ||
                             reply->type != REDIS_REPLY_STATUS)) {
        /* Redis's error texts never repeat the password sent. */
        char why[300];
        const char *text = reply->type == REDIS_REPLY_ERROR ? reply->str
                                                            : "unexpected reply";
        if (priv == &hs_auth)
            snprintf(why, sizeof why, "AUTH failed: %.200s", text);
        else
            snprintf(why, sizeof why, "%s refused: %.200s",
                     d->db ? "SELECT" : "PING", text);
        drop_conn_why(d, why, true);
        return;
    }
    if (priv == &hs_auth || (priv == &hs_select && d->sent))
        return;     /* accepted; SELECT/PING or ROLE follows */
    event_del(d->connect_ev);
    d->state = DIALOGS_UP;
    d->backoff_ms = d->o.backoff_min_ms;
    d->down_reported = false;
    d->last_rx_ms = kz_mono_ms();
    d->st.connects++;
    report_state(d, DIALOGS_UP, NULL);
}

/* The sentinels answered (issue 9): connect to the master they name, or
 * count a failed attempt with their reasons. */
static void connect_master(struct dialogs *d);
static void on_master(void *arg, const char *addr, int port, const char *err)
{
    struct dialogs *d = arg;
    if (!addr) {
        char why[400];
        snprintf(why, sizeof why, "no master from the sentinels: %.330s", err);
        went_down_why(d, why, false, true);
        return;
    }
    snprintf(d->addr, sizeof d->addr, "%s", addr);
    d->port = port;
    snprintf(d->desc, sizeof d->desc, "redis %s, master %s:%d/%d", d->host_desc,
             d->addr, d->port, d->db);
    connect_master(d);
}

static void start_connect(struct dialogs *d)
{
    if (d->ac_dead) {               /* not inside any hiredis callback here */
        redisAsyncContext *old = d->ac_dead;
        d->ac_dead = NULL;
        redisAsyncFree(old);
    }
    d->state = DIALOGS_CONNECTING;
    if (d->sent) {
        snprintf(d->unavail, sizeof d->unavail, "redis: asking the sentinels");
        if (sentinel_ask(d->sent, on_master, d) != 0)
            went_down(d, "a sentinel question is already under way", false);
        return;
    }
    connect_master(d);
}

/* Connect to d->addr:d->port and queue the handshake. */
static void connect_master(struct dialogs *d)
{
    snprintf(d->unavail, sizeof d->unavail, "redis %s:%d: connecting",
             d->addr, d->port);
    redisAsyncContext *ac = redisAsyncConnect(d->addr, d->port);
    if (!ac) {
        went_down(d, "out of memory", false);
        return;
    }
    if (ac->err) {
        char why[200];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        went_down(d, why, false);
        return;
    }
    ac->data = d;
    if (redisLibeventAttach(ac, d->base) != REDIS_OK) {
        redisAsyncFree(ac);
        went_down(d, "cannot attach to the event loop", false);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    d->ac = ac;
    /* Pipelined: AUTH, then SELECT/PING; a refused AUTH makes the second
     * answer NOAUTH, which is ignored since the context is dropped by then. */
    int rc = REDIS_OK;
    if (d->pass[0] && d->user[0])
        rc = redisAsyncCommand(ac, on_handshake, &hs_auth, "AUTH %b %b", d->user,
                               strlen(d->user), d->pass, strlen(d->pass));
    else if (d->pass[0])
        rc = redisAsyncCommand(ac, on_handshake, &hs_auth, "AUTH %b", d->pass,
                               strlen(d->pass));
    if (rc == REDIS_OK)
        rc = d->db ? redisAsyncCommand(ac, on_handshake, &hs_select, "SELECT %d", d->db)
                   : redisAsyncCommand(ac, on_handshake, &hs_select, "PING");
    if (rc == REDIS_OK && d->sent)
        rc = redisAsyncCommand(ac, on_handshake, &hs_role, "ROLE");
    if (rc != REDIS_OK) {
        drop_conn(d, "cannot queue the handshake");
        return;
    }
    arm_ms(d->connect_ev, d->o.connect_timeout_ms);
}

/* ---- Redis back-end: requests -------------------------------------------- */

static void fl_unlink(struct dialogs *d, struct req *r)
{
    if (d->cursor == r)
        d->cursor = TAILQ_NEXT(r, link.fl);
    TAILQ_REMOVE(&d->inflight, r, link.fl);
}

/* Whether silence on the current connection is being watched: only while
 * it is up and no retired connection still drains (the in-flight list then
 * mixes both; the old one's requests are bounded by their own timeouts). */
static bool stall_watch(const struct dialogs *d)
{
    return d->kind == K_REDIS && d->state == DIALOGS_UP && d->ac && !d->ac_old &&
           !TAILQ_EMPTY(&d->inflight);
}

/* When the stall watch fires: stall_ms after the later of the oldest
 * request's send and the last reply (stall_watch(d) must hold). */
static uint64_t stall_due(const struct dialogs *d)
{
    uint64_t sent = TAILQ_FIRST(&d->inflight)->sent_ms;
    return (sent > d->last_rx_ms ? sent : d->last_rx_ms) + d->o.stall_ms;
}

static void arm_req_timer(struct dialogs *d, uint64_t at, uint64_t now)
{
    if (d->timer_at && d->timer_at <= at)
        return;
    d->timer_at = at;
    arm_ms(d->req_ev, at > now ? at - now : 0);
}

static void rearm_req_timer(struct dialogs *d, uint64_t now)
{
    uint64_t at = UINT64_MAX;
    if (d->cursor)
        at = d->cursor->sent_ms + d->o.request_timeout_ms;
    if (stall_watch(d) && stall_due(d) < at)
        at = stall_due(d);
    d->timer_at = 0;
    event_del(d->req_ev);
    if (at != UINT64_MAX)
        arm_req_timer(d, at, now);
}

static void req_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dialogs *d = arg;
    uint64_t now = kz_mono_ms();
    d->timer_at = 0;
    while (d->cursor && d->cursor->sent_ms + d->o.request_timeout_ms <= now) {
        struct req *r = d->cursor;
        d->cursor = TAILQ_NEXT(r, link.fl);
        r->state = RQ_TIMED_OUT;
        if (d->ac_old && r->ac == d->ac_old && --d->old_pending == 0)
            event_active(d->free_ev, EV_TIMEOUT, 1);
        struct dialogs_result res = { DIALOGS_TIMEOUT, NULL, 0, d->timeout_text };
        dialogs_cb cb = r->cb;
        void *cbarg = r->arg;
        r->cb = NULL;
        deliver(d, cb, cbarg, &res);
    }
    if (stall_watch(d) && now >= stall_due(d)) {
        char why[80];
        snprintf(why, sizeof why, "no reply for %u ms", d->o.stall_ms);
        d->st.stalls++;
        drop_conn(d, why);
    }
    rearm_req_timer(d, now);
}

static void on_reply(redisAsyncContext *ac, void *reply_, void *priv)
{
    struct req *r = priv;
    struct dialogs *d = r->d;
    redisReply *reply = reply_;
    if (reply && ac == d->ac)
        d->last_rx_ms = kz_mono_ms();
    if (d->ac_old && ac == d->ac_old && r->state == RQ_SENT &&
        --d->old_pending == 0)
        event_active(d->free_ev, EV_TIMEOUT, 1);  /* not inside its callback */
    fl_unlink(d, r);
    if (r->state == RQ_TIMED_OUT) {
        if (reply)
            d->st.late_replies++;
        req_release(d, r);
        return;
    }
    struct dialogs_result res = { DIALOGS_ERROR, NULL, 0, NULL };
    if (!reply) {
        res.status = DIALOGS_UNAVAILABLE;
        res.error = d->closing ? "store closed"
                  : d->old_forced ? "redis url changed" : "connection lost";
    } else if (reply->type == REDIS_REPLY_ERROR) {
        res.error = reply->str;
        /* A failover demoted our master: ask the sentinels again. */
        if (d->sent && ac == d->ac && strncmp(reply->str, "READONLY", 8) == 0) {
            d->demoted = true;  /* dropped from free_ev, not inside ac's callback */
            event_active(d->free_ev, EV_TIMEOUT, 1);
        }
    } else if (r->op == OP_GET) {
        if (reply->type == REDIS_REPLY_NIL) {
            res.status = DIALOGS_NOT_FOUND;
            res.error = "no such key";
        } else if (reply->type == REDIS_REPLY_STRING) {
            res.status = DIALOGS_OK;
            res.value = reply->len ? (const uint8_t *)reply->str : empty_value;
            res.len = (size_t)reply->len;
        } else {
            res.error = "unexpected reply to GET";
        }
    } else if (r->op == OP_SET) {
        if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0)
            res.status = DIALOGS_OK;
        else
            res.error = "unexpected reply to SET";
    } else {
        if (reply->type == REDIS_REPLY_INTEGER) {
            res.status = reply->integer > 0 ? DIALOGS_OK : DIALOGS_NOT_FOUND;
            if (reply->integer == 0)
                res.error = "no such key";
        } else {
            res.error = "unexpected reply to DEL";
        }
    }
    dialogs_cb cb = r->cb;
    void *cbarg = r->arg;
    req_release(d, r);
    deliver(d, cb, cbarg, &res);
}

/* RESP writer into a fixed buffer. */
struct resp {
    char *p, *end;
    bool ok;
};

static void resp_raw(struct resp *w, const void *s, size_t n)
{
    if (!w->ok || (size_t)(w->end - w->p) < n) {
        w->ok = false;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

static void resp_num(struct resp *w, char lead, uint64_t v)
{
    char t[24];
    int i = (int)sizeof t;
    t[--i] = '\n';
    t[--i] = '\r';
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    t[--i] = lead;
    resp_raw(w, t + i, sizeof t - (size_t)i);
}

static void resp_bulk(struct resp *w, const void *s, size_t n)
{
    resp_num(w, '$', n);
    resp_raw(w, s, n);
    resp_raw(w, "\r\n", 2);
}

static void redis_send(struct dialogs *d, struct req *r, const char *key,
                       size_t klen, const void *val, size_t vlen, unsigned ttl)
{
    if (d->state != DIALOGS_UP || !d->ac) {
        queue_done(d, r, DIALOGS_UNAVAILABLE, d->unavail);
        return;
    }
    char ttlbuf[16];
    int tn = snprintf(ttlbuf, sizeof ttlbuf, "%u", ttl);
    char cmd[CMD_STACK];
    struct resp w = { cmd, cmd + sizeof cmd, true };
    static const char *const names[] = { "GET", "SET", "DEL" };
    resp_num(&w, '*', r->op == OP_SET ? 5 : 2);
    resp_bulk(&w, names[r->op], 3);
    resp_bulk(&w, key, klen);
    if (r->op == OP_SET) {
        resp_bulk(&w, val, vlen);
        resp_bulk(&w, "PX", 2);
        resp_bulk(&w, ttlbuf, (size_t)tn);
    }
    int rc;
    if (w.ok) {
        rc = redisAsyncFormattedCommand(d->ac, on_reply, r, cmd, (size_t)(w.p - cmd));
    } else {
        const char *argv[5] = { names[r->op], key, val, "PX", ttlbuf };
        size_t lens[5] = { 3, klen, vlen, 2, (size_t)tn };
        rc = redisAsyncCommandArgv(d->ac, on_reply, r, 5, argv, lens);
    }
    if (rc != REDIS_OK) {
        queue_done(d, r, DIALOGS_UNAVAILABLE, "redis connection closing");
        return;
    }
    uint64_t now = kz_mono_ms();
    r->state = RQ_SENT;
    r->ac = d->ac;
    r->sent_ms = now;
    TAILQ_INSERT_TAIL(&d->inflight, r, link.fl);
    if (!d->cursor)
        d->cursor = r;
    arm_req_timer(d, now + d->o.request_timeout_ms, now);
}

/* ---- the common entry points --------------------------------------------- */

static int submit(struct dialogs *d, enum op op, const char *key, size_t klen,
                  const void *val, size_t vlen, unsigned ttl, dialogs_cb cb,
                  void *arg)
{
    if (!d || d->closing || !cb || (!key && klen))
        return -1;
    if (op == OP_SET && !val && vlen)
        return -1;
    struct req *r = req_alloc(d);
    if (!r)
        return -1;
    r->op = (uint8_t)op;
    r->cb = cb;
    r->arg = arg;
    d->st.inflight++;
    if (op == OP_GET)
        d->st.gets++;
    else if (op == OP_SET)
        d->st.sets++;
    else
        d->st.dels++;
    if (!check_args(d, r, klen, vlen))
        return 0;
    if (ttl == 0)
        ttl = d->o.default_ttl_ms;
    if (d->kind == K_REDIS) {
        redis_send(d, r, key, klen, val, vlen, ttl);
    } else if (op == OP_GET) {
        mem_get(d, r, key, klen);
    } else if (op == OP_SET) {
        mem_set(d, r, key, klen, val, vlen, ttl);
    } else {
        mem_del(d, r, key, klen);
    }
    return 0;
}

int dialogs_get(struct dialogs *d, const char *key, size_t keylen,
                dialogs_cb cb, void *arg)
{
    return submit(d, OP_GET, key, keylen, NULL, 0, 0, cb, arg);
}

int dialogs_set(struct dialogs *d, const char *key, size_t keylen,
                const void *value, size_t len, unsigned ttl_ms,
                dialogs_cb cb, void *arg)
{
    return submit(d, OP_SET, key, keylen, value, len, ttl_ms, cb, arg);
}

int dialogs_del(struct dialogs *d, const char *key, size_t keylen,
                dialogs_cb cb, void *arg)
{
    return submit(d, OP_DEL, key, keylen, NULL, 0, 0, cb, arg);
}

/* ---- life cycle ---------------------------------------------------------- */

static struct dialogs *new_common(struct event_base *base, enum kind kind,
                                  const struct dialogs_opts *opts)
{
    struct dialogs *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->base = base;
    d->kind = kind;
    STAILQ_INIT(&d->free_reqs);
    SLIST_INIT(&d->slabs);
    STAILQ_INIT(&d->done);
    TAILQ_INIT(&d->inflight);
    if (opts)
        d->o = *opts;
#define DEF(f, v) if (!d->o.f) d->o.f = (v)
    DEF(default_ttl_ms, DIALOGS_DEFAULT_TTL_MS);
    DEF(request_timeout_ms, DIALOGS_DEFAULT_REQUEST_MS);
    DEF(connect_timeout_ms, DIALOGS_DEFAULT_CONNECT_MS);
    DEF(backoff_min_ms, DIALOGS_DEFAULT_BACKOFF_MIN_MS);
    DEF(backoff_max_ms, DIALOGS_DEFAULT_BACKOFF_MAX_MS);
    DEF(stall_ms, DIALOGS_DEFAULT_STALL_MS);
    DEF(max_entries, DIALOGS_DEFAULT_MAX_ENTRIES);
#undef DEF
    if (d->o.backoff_max_ms < d->o.backoff_min_ms)
        d->o.backoff_max_ms = d->o.backoff_min_ms;
    snprintf(d->timeout_text, sizeof d->timeout_text,
             "no reply within %u ms", d->o.request_timeout_ms);
    d->done_ev = event_new(base, -1, 0, done_cb, d);
    if (!d->done_ev) {
        free(d);
        return NULL;
    }
    return d;
}

/* A memory table for d's max_entries: buckets and the sweep timer, made
 * before anything is changed so a failure leaves the store as it was. */
struct mem_table {
    struct bucket *buckets;
    size_t nbuckets, sweep_slice;
};

static int mem_table_new(const struct dialogs *d, struct mem_table *t)
{
    size_t nb = 16;
    while (nb < d->o.max_entries && nb < ((size_t)1 << 40))
        nb <<= 1;
    t->nbuckets = nb;
    t->sweep_slice = nb / 32 > SWEEP_MIN ? nb / 32 : SWEEP_MIN;
    if (t->sweep_slice > nb)
        t->sweep_slice = nb;
    t->buckets = calloc(nb, sizeof *t->buckets);
    return t->buckets ? 0 : -1;
}

/* Become the memory back-end on table t (d->sweep_ev exists). */
static void mem_enter(struct dialogs *d, struct mem_table *t)
{
    d->kind = K_MEMORY;
    d->buckets = t->buckets;
    d->nbuckets = t->nbuckets;
    d->sweep_slice = t->sweep_slice;
    d->sweep_pos = 0;
    arm_ms(d->sweep_ev, SWEEP_EVERY_MS);
    d->state = DIALOGS_UP;
    snprintf(d->desc, sizeof d->desc, "memory");
}

/* Leave the memory back-end: every entry goes.  Requests made on it were
 * all decided at call time and wait in the done queue; they are delivered
 * as usual. */
static void mem_leave(struct dialogs *d)
{
    if (d->buckets) {
        for (size_t i = 0; i < d->nbuckets; i++)
            while (!LIST_EMPTY(&d->buckets[i]))
                mem_remove(d, LIST_FIRST(&d->buckets[i]));
        free(d->buckets);
        d->buckets = NULL;
    }
    d->nbuckets = d->sweep_pos = d->sweep_slice = 0;
    if (d->sweep_ev)
        event_del(d->sweep_ev);
}

struct dialogs *dialogs_new_memory(struct event_base *base,
                                   const struct dialogs_opts *opts)
{
    if (!base)
        return NULL;
    struct dialogs *d = new_common(base, K_MEMORY, opts);
    if (!d)
        return NULL;
    struct mem_table t;
    d->sweep_ev = event_new(base, -1, EV_PERSIST, sweep_cb, d);
    if (!d->sweep_ev || mem_table_new(d, &t) != 0) {
        dialogs_free(d);
        return NULL;
    }
    mem_enter(d, &t);
    return d;
}

/* A parsed and resolved Redis target. */
struct redis_target {
    struct dialogs_redis_url u;
    char addr[INET6_ADDRSTRLEN];
};

/* Parse url and resolve its host (blocking resolver).  Pure apart from the
 * resolver; errors in err never quote the user info. */
static int redis_target(const char *url, bool sentinels, struct redis_target *t,
                        char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (sentinels && (!url || !*url))
        url = "redis://sentinel/0";     /* no AUTH, database 0 */
    if (dialogs_parse_url(url, &t->u, err, errlen) != 0)
        return -1;
    if (sentinels)
        return 0;   /* the host part is ignored: the sentinels name the master */
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(t->u.host, NULL, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, errlen, "redis host %s: %s", t->u.host,
                 gai ? gai_strerror(gai) : "no address");
        if (ai)
            freeaddrinfo(ai);
        return -1;
    }
    const void *a = ai->ai_family == AF_INET6
        ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
        : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
    inet_ntop(ai->ai_family, a, t->addr, sizeof t->addr);
    freeaddrinfo(ai);
    return 0;
}

static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

/* The Redis back-end's timers and events (kept once made, also while the
 * store is on memory).  Returns 0, or -1 when memory ran out. */
static int redis_events(struct dialogs *d)
{
    if (!d->retry_ev)
        d->retry_ev = evtimer_new(d->base, retry_cb, d);
    if (!d->connect_ev)
        d->connect_ev = evtimer_new(d->base, connect_timeout_cb, d);
    if (!d->req_ev)
        d->req_ev = evtimer_new(d->base, req_timer_cb, d);
    if (!d->free_ev)
        d->free_ev = event_new(d->base, -1, 0, free_cb, d);
    return d->retry_ev && d->connect_ev && d->req_ev && d->free_ev ? 0 : -1;
}

/* Become the Redis back-end for t; the first attempt runs from the loop,
 * so on_state is never called from inside the caller's call. */
static void redis_enter(struct dialogs *d, const struct redis_target *t)
{
    d->kind = K_REDIS;
    memcpy(d->addr, t->addr, sizeof d->addr);
    d->port = t->u.port;
    d->db = t->u.db;
    snprintf(d->user, sizeof d->user, "%s", t->u.user);
    wipe(d->pass, sizeof d->pass);
    memcpy(d->pass, t->u.password, sizeof d->pass);
    d->backoff_ms = d->o.backoff_min_ms;
    d->down_reported = false;
    d->last_reason[0] = '\0';
    char who[160] = "";
    if (d->user[0])
        snprintf(who, sizeof who, "%.120s@", d->user);
    if (d->sent) {
        snprintf(d->host_desc, sizeof d->host_desc, "%s%.250s", who,
                 sentinel_describe(d->sent));
        snprintf(d->desc, sizeof d->desc, "redis %s/%d", d->host_desc, d->db);
    } else if (strcmp(t->u.host, d->addr) == 0)
        snprintf(d->desc, sizeof d->desc, "redis %s%s:%d/%d", who, d->addr, d->port,
                 d->db);
    else
        snprintf(d->desc, sizeof d->desc, "redis %s%s (%s):%d/%d", who, t->u.host,
                 d->addr, d->port, d->db);
    d->state = DIALOGS_CONNECTING;
    snprintf(d->unavail, sizeof d->unavail, "redis %s:%d: connecting",
             d->addr, d->port);
    arm_ms(d->retry_ev, 0);
}

/* Leave the current Redis server (outside every hiredis callback).  A
 * connection that still has requests waiting becomes ac_old and drains;
 * any other context is freed now. */
static void redis_leave(struct dialogs *d)
{
    sentinel_cancel(d->sent);
    event_del(d->retry_ev);
    event_del(d->connect_ev);
    if (d->ac_dead) {
        redisAsyncContext *ac = d->ac_dead;
        d->ac_dead = NULL;
        redisAsyncFree(ac);
    }
    if (d->ac_old) {            /* a second switch before the first drained */
        redisAsyncContext *ac = d->ac_old;
        d->ac_old = NULL;
        d->old_pending = 0;
        d->old_forced = true;
        redisAsyncFree(ac);     /* its waiting requests: "redis url changed" */
        d->old_forced = false;
    }
    if (d->ac) {
        redisAsyncContext *ac = d->ac;
        d->ac = NULL;
        unsigned pending = 0;
        struct req *r;
        TAILQ_FOREACH(r, &d->inflight, link.fl)
            if (r->ac == ac && r->state == RQ_SENT)
                pending++;
        if (pending && d->state == DIALOGS_UP) {
            d->ac_old = ac;
            d->old_pending = pending;
        } else {
            redisAsyncFree(ac); /* a handshake or timed-out requests only */
        }
    }
    d->state = DIALOGS_DOWN;
    wipe(d->pass, sizeof d->pass);
    d->user[0] = '\0';
    rearm_req_timer(d, kz_mono_ms());
}

static void up_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dialogs *d = arg;
    if (d->kind == K_MEMORY)
        report_state(d, DIALOGS_UP, NULL);
}

struct dialogs *dialogs_new_redis(struct event_base *base, const char *url,
                                  const struct dialogs_opts *opts,
                                  char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    struct redis_target t;
    bool via = opts && opts->nsentinels;
    int rc = redis_target(url, via, &t, err, errlen);
    if (rc == 0 && !base) {
        snprintf(err, errlen, "no event base");
        rc = -1;
    }
    struct dialogs *d = rc == 0 ? new_common(base, K_REDIS, opts) : NULL;
    if (rc == 0 && (!d || redis_events(d) != 0)) {
        dialogs_free(d);
        d = NULL;
        snprintf(err, errlen, "out of memory");
    }
    if (d && via) {
        d->sent = sentinel_new(base, opts->sentinels, opts->nsentinels, opts->master,
                               d->o.connect_timeout_ms);
        if (!d->sent) {
            dialogs_free(d);
            d = NULL;
            snprintf(err, errlen, "sentinels: no master name, or out of memory");
        }
    }
    if (d) {
        d->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)d ^ kz_mono_ms() ^
                 0x9e3779b97f4a7c15ull;
        if (!d->rng)
            d->rng = 1;
        redis_enter(d, &t);
    }
    wipe(&t, sizeof t);
    return d;
}

int dialogs_set_url(struct dialogs *d, const char *url, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!d || d->closing) {
        snprintf(err, errlen, "no store");
        return -1;
    }
    assert(d->in_cb == 0 && "dialogs_set_url called from a dialogs callback");
    bool to_redis = (url && *url) || d->sent;
    if (!to_redis && d->kind == K_MEMORY)
        return 0;
    struct redis_target t;
    struct mem_table mt = { 0 };
    int rc = 0;
    if (to_redis) {
        rc = redis_target(url, d->sent != NULL, &t, err, errlen);
        if (rc == 0 && redis_events(d) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
        if (rc == 0 && !d->rng)
            d->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)d ^
                     kz_mono_ms() ^ 0x9e3779b97f4a7c15ull;
    } else {
        if (!d->sweep_ev)
            d->sweep_ev = event_new(d->base, -1, EV_PERSIST, sweep_cb, d);
        if (!d->up_ev)
            d->up_ev = event_new(d->base, -1, 0, up_cb, d);
        if (!d->sweep_ev || !d->up_ev || mem_table_new(d, &mt) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (rc != 0) {
        if (to_redis)
            wipe(&t, sizeof t);
        return -1;
    }
    if (d->kind == K_REDIS)
        redis_leave(d);
    else
        mem_leave(d);
    if (to_redis) {
        redis_enter(d, &t);
        wipe(&t, sizeof t);
    } else {
        mem_enter(d, &mt);
        event_active(d->up_ev, EV_TIMEOUT, 1);
    }
    return 0;
}

struct dialogs *dialogs_new(struct event_base *base, const char *url,
                            const struct dialogs_opts *opts,
                            char *err, size_t errlen)
{
    if ((!url || !*url) && !(opts && opts->nsentinels)) {
        struct dialogs *d = dialogs_new_memory(base, opts);
        if (!d && err && errlen)
            snprintf(err, errlen, "out of memory");
        return d;
    }
    return dialogs_new_redis(base, url, opts, err, errlen);
}

void dialogs_free(struct dialogs *d)
{
    if (!d)
        return;
    assert(d->in_cb == 0 && "dialogs_free called from a dialogs callback");
    d->closing = true;
    sentinel_free(d->sent);
    d->sent = NULL;
    if (d->ac) {
        redisAsyncContext *ac = d->ac;
        d->ac = NULL;
        redisAsyncFree(ac);     /* each pending on_reply: "store closed" */
    }
    if (d->ac_dead) {
        redisAsyncContext *ac = d->ac_dead;
        d->ac_dead = NULL;
        redisAsyncFree(ac);
    }
    if (d->ac_old) {
        redisAsyncContext *ac = d->ac_old;
        d->ac_old = NULL;
        redisAsyncFree(ac);
    }
    assert(TAILQ_EMPTY(&d->inflight));
    struct req *r;
    while ((r = STAILQ_FIRST(&d->done)) != NULL) {
        STAILQ_REMOVE_HEAD(&d->done, link.q);
        struct dialogs_result res = { DIALOGS_UNAVAILABLE, NULL, 0, "store closed" };
        deliver(d, r->cb, r->arg, &res);
        req_release(d, r);
    }
    mem_leave(d);
    struct event *evs[] = { d->done_ev, d->sweep_ev, d->retry_ev, d->connect_ev,
                            d->req_ev, d->free_ev, d->up_ev };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    struct slab *s;
    while ((s = SLIST_FIRST(&d->slabs)) != NULL) {
        SLIST_REMOVE_HEAD(&d->slabs, link);
        for (int i = 0; i < REQ_SLAB; i++)
            free(s->r[i].buf);
        free(s);
    }
    wipe(d->pass, sizeof d->pass);
    free(d);
}

enum dialogs_state dialogs_state(const struct dialogs *d)
{
    return d ? d->state : DIALOGS_DOWN;
}

const char *dialogs_describe(const struct dialogs *d)
{
    return d ? d->desc : "";
}

void dialogs_get_stats(const struct dialogs *d, struct dialogs_stats *out)
{
    if (!d || !out)
        return;
    *out = d->st;
}
