/*
 * gateway/outbox.c — the SMS sender: outbox rows -> SMPP links, receipts
 * -> row states, final states -> callback URLs.  See outbox.h for the
 * contract.
 *
 * Design.  One evtimer, the pump.  Everything that changes a row happens in
 * a pass of the pump, as one atomic group in the store's batch
 * (store_atomic: all of the pass or none of it), in steps:
 *   1. outcomes of sends that finished since the last pass (mt's done()
 *      only files a result and kicks the pump: no SQL in callbacks),
 *   2. receipts filed by outbox_receipt[_deliver]() (one that matches
 *      nothing yet is held in the store; its deliver_sm is answered only
 *      after this pass's commit),
 *   3. now and then, leases of a dead process put back to 'queued',
 *   4. a claim of at most min(batch, max_inflight - inflight, room) due
 *      rows, each checked (expired, opted out, text, route) and either
 *      settled at once or put on the to-send list,
 * then the pass waits for the store's commit (store_on_commit; one pass
 * at a time) and only after a successful commit are the messages routed
 * again (their link may have gone meanwhile) and handed to mt_send, the
 * receipts answered and the callbacks started (a failed commit undoes the
 * claim; the results and receipts are filed again for the next pass).
 * The next pass is due at once when the claim filled its budget or
 * something was filed, else after idle_ms.
 *
 * Owns: the pump timer, the pass waiting for its commit (and its commit
 * waiter), one struct ob_send per message on a link (freed when its
 * outcome is written, or by mt's done() once orphaned), filed receipts,
 * and one struct ob_cb per callback (its retry timer and fetch request).
 * Never frees the outbox inside a callback of its own.
 * May call: gateway/store, gateway/fetch, gateway/log, smpp/mt,
 * smpp/receipt, smpp/esme, smpp/pdu, base/sha256, base/base64 (signing
 * callbacks), base/xroad (X-Road callbacks), libevent, libc.
 */
#include "gateway/outbox.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/queue.h>

#include <event2/event.h>

#include "base/base64.h"
#include "base/metrics.h"
#include "base/sha256.h"
#include "base/xroad.h"
#include "gateway/fetch.h"
#include "gateway/log.h"
#include "smpp/mt.h"
#include "smpp/receipt.h"
#include "gateway/store.h"

#define LINK_MAX 64
#define OB_METRIC_LINKS 32      /* links whose receipts are counted */
#define PARKED_MAX 10000
#define CLAIM_MAX 1024          /* rows claimed per pass, at most */
#define PEER "outbox"
/* A status of our own for a message mt_send refused up front. */
#define ST_BAD_TEXT 0xFFFF00FFu
/* ... and for one whose link went between its claim and the commit. */
#define ST_LINK_DOWN 0xFFFF00FEu

/* One message handed to mt_send; on ob->inflight until done, then on
 * ob->results until its outcome is written. */
struct ob_send {
    struct outbox *ob;             /* NULL once orphaned by outbox_free */
    LIST_ENTRY(ob_send) live;      /* on ob->inflight while sent */
    struct ob_send *next;          /* on the results queue, a pass's lists */
    int64_t id;
    int attempts;
    uint32_t status;
    char link[LINK_MAX];
    char msgid[MT_MSGID_MAX];      /* part 1's id */
    char (*more)[MT_MSGID_MAX];    /* parts 2..nparts (malloc'd), or NULL */
    unsigned nparts;               /* ids known: 1 + those in more */
    char *callback_url;
};

/* One receipt waiting for the next pass (or for its message's submit). */
struct ob_rcpt {
    struct ob_rcpt *next;
    int64_t deadline;
    int state, err;
    unsigned tries;             /* times it was looked up and not found */
    int64_t next_try;           /* parked: not looked up again before this */
    uint64_t seen_submits;      /* parked: stats.submitted at last lookup */
    uint64_t ticket;            /* its deliver_sm's deferred answer; 0: none
                                   (answered, or loaded from the store) */
    uint32_t answer;            /* status to answer with after the commit */
    int64_t held_id;            /* its row in receipts_held; 0: none */
    bool held_now;              /* held_id written by the running pass */
    int final_state;            /* the final state it gave its message
                                 * (STORE_MSG_*), or -1 (metrics) */
    int64_t latency_ms;         /* then: from the submit to this receipt */
    char link[LINK_MAX];
    char id[OUTBOX_DLR_ID_MAX];
};

/* One callback URL call, with its retries. */
struct ob_cb {
    struct outbox *ob;
    LIST_ENTRY(ob_cb) live;        /* on ob->cbs once started */
    struct ob_cb *next;            /* on a pass's list until launched */
    struct event *timer;
    fetch_id fid;
    unsigned tries;
    char *url;
    char body[192];
    char wid[48];                  /* webhook-id: one per message and state */
    struct store_webhook_keys keys;/* its agency's signing keys (n may be 0) */
};

/* One pass, kept from its writes to its commit (see pass()). */
struct ob_pass {
    int64_t now;
    bool ok;                       /* no store failure so far */
    struct ob_cb *cbs;             /* callbacks to start after the commit */
    struct ob_send *done, *kept;   /* outcomes written / to file again */
    struct ob_rcpt *rdone;         /* receipts settled: answer, free */
    struct ob_rcpt *parked;        /* receipts unmatched: keep */
    struct ob_rcpt *back;          /* receipts to file again */
    size_t n_parked;
    size_t budget, n_claimed, n_send;
    struct store_msg *claimed[CLAIM_MAX];
    struct store_msg *send[CLAIM_MAX];   /* of claimed: to mt_send */
};

struct outbox {
    struct event_base *base;
    struct store *st;
    struct outbox_links links;
    struct outbox_opts o;
    char *from;
    struct event *pump;
    int64_t next_recover;
    uint16_t ref;
    LIST_HEAD(, ob_send) inflight;   /* handed to mt_send */
    struct ob_send *res_head, *res_tail;
    struct ob_rcpt *rq_head, *rq_tail; /* filed receipts */
    struct ob_rcpt *parked;            /* unmatched, waiting for a submit */
    size_t n_parked;
    LIST_HEAD(, ob_cb) cbs;          /* callbacks pending */
    unsigned n_cbs;
    bool waiting;                      /* p waits for the store's commit */
    struct ob_pass p;
    struct outbox_stats stats;
    struct kz_metrics *metrics;        /* outbox_metrics(); NULL: none */
    struct ob_link_metrics {           /* receipts per link, registered at
                                        * the link's first final receipt */
        char link[LINK_MAX];
        struct kz_counter *by_state[3]; /* delivered, failed, expired */
        struct kz_hist *latency;
    } lm[OB_METRIC_LINKS];
    size_t n_lm;
};

/* ---- pure parts ------------------------------------------------------- */

enum outbox_class outbox_status_class(uint32_t status)
{
    switch (status) {
    case ESME_ROK:
        return OUTBOX_OK;
    case ESME_RTHROTTLED:
    case ESME_DONE_QUEUE_FULL:
    case ESME_DONE_STOPPED:
    case ST_LINK_DOWN:
        return OUTBOX_THROTTLE;
    case ESME_RINVMSGLEN:
    case ESME_RINVSRCADR:
    case ESME_RINVDSTADR:
    case ESME_RINVESMCLASS:
    case ESME_RINVSRCTON:
    case ESME_RINVSRCNPI:
    case ESME_RINVDSTTON:
    case ESME_RINVDSTNPI:
    case ESME_RINVSERTYP:
    case ESME_RINVREGDLVFLG:
    case ESME_RINVPRTFLG:
    case ESME_RINVDFTMSGID:
    case ESME_RINVNUMMSGS:
    case ESME_RINVEXPIRY:
    case ESME_RINVSCHED:
    case ESME_RX_P_APPN:
    case ESME_RX_R_APPN:
    case ESME_RINVOPTPARSTREAM:
    case ESME_ROPTPARNOTALLWD:
    case ESME_RINVPARLEN:
    case ESME_RMISSINGOPTPARAM:
    case ESME_RINVOPTPARAMVAL:
    case ST_BAD_TEXT:
        return OUTBOX_PERM;
    default:
        return OUTBOX_TEMP;
    }
}

int outbox_status_err(uint32_t status)
{
    switch (status) {
    case ESME_DONE_TIMEOUT:    return OUTBOX_ERR_TIMEOUT;
    case ESME_DONE_LINK_LOST:  return OUTBOX_ERR_LINK_LOST;
    case ESME_DONE_QUEUE_FULL: return OUTBOX_ERR_QUEUE_FULL;
    case ESME_DONE_STOPPED:    return OUTBOX_ERR_STOPPED;
    case ST_BAD_TEXT:          return OUTBOX_ERR_BAD_TEXT;
    case ST_LINK_DOWN:         return OUTBOX_ERR_LINK_DOWN;
    default:
        return status < 0x10000u ? (int)status : OUTBOX_ERR_LINK_LOST;
    }
}

/* Length of prefix p (without a leading '+') when it starts msisdn
 * (without one), else 0.  An empty prefix matches nothing. */
static size_t prefix_len(const char *p, const char *msisdn)
{
    if (*p == '+')
        p++;
    if (*msisdn == '+')
        msisdn++;
    size_t n = strlen(p);
    return n > 0 && strncmp(p, msisdn, n) == 0 ? n : 0;
}

int outbox_route_pick(const struct config_smsc *smsc, size_t n,
                      const bool *bound, const char *msisdn)
{
    if (!smsc || !msisdn)
        return -1;
    int best = -1, dflt = -1;
    size_t best_len = 0;
    bool served = false;
    for (size_t i = 0; i < n; i++) {
        bool up = bound ? bound[i] : true;
        size_t longest = 0;
        for (size_t k = 0; k < smsc[i].prefix_count; k++) {
            size_t l = smsc[i].prefixes[k]
                     ? prefix_len(smsc[i].prefixes[k], msisdn) : 0;
            if (l > longest)
                longest = l;
        }
        if (longest > 0)
            served = true;
        if (smsc[i].default_route)
            served = true;
        if (!up)
            continue;
        if (longest > best_len) {
            best_len = longest;
            best = (int)i;
        }
        if (smsc[i].default_route && dflt < 0)
            dflt = (int)i;
    }
    if (best >= 0)
        return best;
    if (dflt >= 0)
        return dflt;
    return served ? -2 : -1;
}

/* The receipt readers are smpp/receipt's (the one parser of receipt texts
 * and TLVs); the outbox maps its message_state onto the row states. */
int outbox_stat_state(const char *stat)
{
    return outbox_tlv_state(smpp_receipt_stat_state(stat));
}

int outbox_tlv_state(int64_t message_state)
{
    switch (message_state) {
    case 2: return STORE_MSG_DELIVERED;
    case 3: return STORE_MSG_EXPIRED;
    case 4: case 5: case 8: return STORE_MSG_FAILED;
    default: return -1;
    }
}

static void dlr_from(const struct smpp_receipt *r, struct outbox_dlr *out)
{
    _Static_assert(OUTBOX_DLR_ID_MAX == SMPP_RECEIPT_ID_MAX, "receipt id sizes");
    memset(out, 0, sizeof *out);
    memcpy(out->id, r->id, sizeof out->id);
    memcpy(out->stat, r->stat, sizeof out->stat);
    out->state = outbox_tlv_state(r->state);
    out->err = r->err;
    out->sub = r->sub;
    out->dlvrd = r->dlvrd;
    out->submit_date = r->submit_date;
    out->done_date = r->done_date;
}

int outbox_receipt_parse(const uint8_t *t, size_t len, struct outbox_dlr *out)
{
    struct smpp_receipt r;
    int rc = smpp_receipt_parse(t, len, &r);
    dlr_from(&r, out);
    return rc;
}

int outbox_receipt_read(const struct smpp_pdu *p, struct outbox_dlr *out)
{
    struct smpp_receipt r;
    int rc = smpp_receipt_read(p, &r);
    dlr_from(&r, out);
    return rc;
}

/* ---- helpers ----------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(const struct outbox *ob)
{
    return ob->o.clock_ms ? ob->o.clock_ms() : wall_ms();
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void schedule(struct outbox *ob, unsigned ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(ob->pump, &tv);
}

void outbox_kick(struct outbox *ob)
{
    if (ob)
        schedule(ob, 0);
}

/* ---- callbacks --------------------------------------------------------- */

static void cb_free(struct ob_cb *c)
{
    struct outbox *ob = c->ob;
    LIST_REMOVE(c, live);
    ob->n_cbs--;
    if (c->timer)
        event_free(c->timer);
    free(c->url);
    free(c);
}

static void cb_start(struct ob_cb *c);

static void cb_done(void *arg, const struct fetch_result *res)
{
    struct ob_cb *c = arg;
    struct outbox *ob = c->ob;
    c->fid = 0;
    if (res->status == FETCH_DONE_OK) {
        ob->stats.callbacks_ok++;
        cb_free(c);
        return;
    }
    if (res->status == FETCH_SHUTDOWN || c->tries >= ob->o.callback_tries) {
        ob->stats.callbacks_failed++;
        log_msg(KLOG_WARN, PEER, "callback %s gave up after %u tries: %s %ld",
                c->body, c->tries, fetch_status_name(res->status),
                res->http_code);
        cb_free(c);
        return;
    }
    unsigned ms = 1000u << (c->tries - 1 < 5 ? c->tries - 1 : 5);
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(c->timer, &tv);
}

static void cb_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cb_start(arg);
}

/*
 * The Standard Webhooks headers of c's next attempt (issue 14 item 9):
 * webhook-id (the same on every attempt), webhook-timestamp (now, Unix
 * seconds) and, when its agency has a key, webhook-signature: "v1,"
 * base64(HMAC-SHA256(key, id "." timestamp "." body)) per key, separated
 * by a space (two while a rotated-out key is still honoured).
 */
enum { CB_HDR_MAX = 160 };
static void cb_sign(const struct outbox *ob, const struct ob_cb *c,
                    char hdr[3][CB_HDR_MAX])
{
    char ts[24];
    snprintf(ts, sizeof ts, "%lld", (long long)(now_ms(ob) / 1000));
    snprintf(hdr[0], CB_HDR_MAX, "webhook-id: %s", c->wid);
    snprintf(hdr[1], CB_HDR_MAX, "webhook-timestamp: %s", ts);
    size_t at = (size_t)snprintf(hdr[2], CB_HDR_MAX, "webhook-signature:");
    for (unsigned i = 0; i < c->keys.n; i++) {
        struct kz_hmac_sha256 m;
        uint8_t mac[KZ_SHA256_LEN];
        kz_hmac_sha256_init(&m, c->keys.key[i], c->keys.len[i]);
        kz_hmac_sha256_update(&m, c->wid, strlen(c->wid));
        kz_hmac_sha256_update(&m, ".", 1);
        kz_hmac_sha256_update(&m, ts, strlen(ts));
        kz_hmac_sha256_update(&m, ".", 1);
        kz_hmac_sha256_update(&m, c->body, strlen(c->body));
        kz_hmac_sha256_final(&m, mac);
        at += (size_t)snprintf(hdr[2] + at, CB_HDR_MAX - at, " v1,");
        kz_base64_encode(mac, sizeof mac, hdr[2] + at, CB_HDR_MAX - at);
        at += strlen(hdr[2] + at);
    }
}

static void cb_start(struct ob_cb *c)
{
    struct outbox *ob = c->ob;
    c->tries++;
    char hdr[3][CB_HDR_MAX];
    const char *hv[3] = { hdr[0], hdr[1], hdr[2] };
    cb_sign(ob, c, hdr);
    /* issue 13: "xroad:SERVICE[/path]" goes through the operator's security
     * server (not a host the agency chose: no guard), the webhook-id
     * ("msg_<id>_<state>") as its X-Road-Issue */
    char xurl[1024], why[160];
    const char *url = c->url;
    bool xroad = strncmp(url, XROAD_SCHEME, strlen(XROAD_SCHEME)) == 0;
    if (xroad && xroad_callback_url(url, c->wid, xurl, sizeof xurl, why, sizeof why) < 0) {
        ob->stats.callbacks_failed++;
        log_msg(KLOG_WARN, PEER, "callback %s not started: %s", c->body, why);
        cb_free(c);
        return;
    }
    struct fetch_req req = {
        .method = "POST", .url = xroad ? xurl : url, .body = c->body,
        .body_len = strlen(c->body), .content_type = "application/json",
        .timeout_ms = ob->o.callback_timeout_ms,
        .max_response_bytes = 4096,
        .guard = !xroad,  /* an agency's URL: no internal address (item 9) */
        .headers = hv, .nheaders = c->keys.n ? 3 : 2,
    };
    int rc = fetch_start(ob->o.fetch, &req, cb_done, c, &c->fid);
    if (rc != FETCH_OK) {
        ob->stats.callbacks_failed++;
        log_msg(KLOG_WARN, PEER, "callback %s not started: %s", c->body,
                fetch_strerror(rc));
        cb_free(c);
    }
}

/* A callback to start after the pass's commit: put on *list. */
static void cb_prepare(struct outbox *ob, struct ob_cb **list,
                       const char *url, int64_t id, int state, int err,
                       int64_t now)
{
    if (!url || !*url || !ob->o.fetch)
        return;
    if (ob->n_cbs >= ob->o.callback_max) {
        ob->stats.callbacks_failed++;
        log_msg(KLOG_WARN, PEER, "callback for message %lld dropped: %u pending",
                (long long)id, ob->n_cbs);
        return;
    }
    struct ob_cb *c = calloc(1, sizeof *c);
    if (!c)
        return;
    int rc = store_webhook_keys(ob->st, id, now, &c->keys);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        /* not sent unsigned to an agency that expects a signature */
        ob->stats.callbacks_failed++;
        log_msg(KLOG_WARN, PEER, "callback for message %lld dropped: "
                "signing key: %s", (long long)id, store_errmsg(ob->st));
        free(c);
        return;
    }
    snprintf(c->wid, sizeof c->wid, "msg_%lld_%s", (long long)id,
             store_msg_state_name(state));
    c->url = strdup(url);
    c->timer = evtimer_new(ob->base, cb_timer, c);
    if (!c->url || !c->timer) {
        free(c->url);
        if (c->timer)
            event_free(c->timer);
        free(c);
        return;
    }
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(c->body, sizeof c->body,
             "{\"id\":%lld,\"state\":\"%s\",\"error\":%d,"
             "\"at\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"}",
             (long long)id, store_msg_state_name(state), err,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(now % 1000));
    c->ob = ob;
    c->next = *list;
    *list = c;
}

/* Start the prepared callbacks (after a commit) or drop them. */
static void cb_launch(struct outbox *ob, struct ob_cb *list, bool go)
{
    while (list) {
        struct ob_cb *c = list;
        list = c->next;
        if (!go) {
            event_free(c->timer);
            free(c->url);
            free(c);
            continue;
        }
        LIST_INSERT_HEAD(&ob->cbs, c, live);
        ob->n_cbs++;
        cb_start(c);
    }
}

/* ---- sending ----------------------------------------------------------- */

static void send_free(struct ob_send *s)
{
    free(s->callback_url);
    free(s->more);
    free(s);
}

static void file_result(struct outbox *ob, struct ob_send *s)
{
    s->next = NULL;
    if (ob->res_tail)
        ob->res_tail->next = s;
    else
        ob->res_head = s;
    ob->res_tail = s;
}

static void unlink_inflight(struct outbox *ob, struct ob_send *s)
{
    LIST_REMOVE(s, live);
    ob->stats.inflight--;
}

static void mt_done(void *arg, const struct mt_result *res)
{
    struct ob_send *s = arg;
    struct outbox *ob = s->ob;
    if (!ob) {                 /* the outbox is gone: the lease will tell */
        send_free(s);
        return;
    }
    unlink_inflight(ob, s);
    s->status = res->status;
    if (res->status == ESME_ROK && res->parts_ok < res->parts)
        s->status = ESME_RSYSERR;
    if (res->status == ESME_ROK && res->parts > 0) {
        copy(s->msgid, sizeof s->msgid, res->ids[0][0] ? res->ids[0] : "-");
        s->nparts = 1;
        /* every part's id: each part has its own receipt */
        if (res->parts > 1 &&
            (s->more = calloc(res->parts - 1, sizeof *s->more)) != NULL) {
            for (unsigned i = 1; i < res->parts; i++)
                copy(s->more[i - 1], sizeof s->more[0],
                     res->ids[i][0] ? res->ids[i] : "-");
            s->nparts = res->parts;
        } else if (res->parts > 1) {
            log_msg(KLOG_WARN, s->link, "message %lld: out of memory; only "
                    "part 1's id is recorded", (long long)s->id);
        }
    }
    file_result(ob, s);
    schedule(ob, 0);
}

static int64_t backoff(const struct outbox *ob, int attempts)
{
    int64_t d = ob->o.retry_min_ms;
    for (int i = 1; i < attempts && d < ob->o.retry_max_ms; i++)
        d *= 2;
    return d < ob->o.retry_max_ms ? d : ob->o.retry_max_ms;
}

/* Write one outcome.  Returns 0, or -1 when the store failed (keep it). */
static int apply_result(struct outbox *ob, struct ob_send *s, int64_t now,
                        struct ob_cb **cbs)
{
    enum outbox_class cl = outbox_status_class(s->status);
    int err = outbox_status_err(s->status);
    int rc, state = -1;
    switch (cl) {
    case OUTBOX_OK: {
        const char *ids[MT_MAX_PARTS];
        unsigned n = s->nparts ? s->nparts : 1;
        if (n > MT_MAX_PARTS)
            n = MT_MAX_PARTS;
        ids[0] = s->msgid[0] ? s->msgid : "-";
        for (unsigned i = 1; i < n; i++)
            ids[i] = s->more[i - 1];
        rc = store_mark_submitted_parts(ob->st, s->id, s->link, ids, n, now);
        if (rc == STORE_OK)
            ob->stats.submitted++;
        break;
    }
    case OUTBOX_THROTTLE:
    case OUTBOX_TEMP: {
        bool refund = cl == OUTBOX_THROTTLE;
        int64_t at = now + (refund ? ob->o.throttle_ms : backoff(ob, s->attempts));
        rc = store_mark_retry(ob->st, s->id, at, err, refund, now, &state);
        if (rc == STORE_OK) {
            ob->stats.retried++;
            if (state == STORE_MSG_EXPIRED) {
                ob->stats.expired++;
                cb_prepare(ob, cbs, s->callback_url, s->id, state, err, now);
            }
        }
        break;
    }
    default:
        rc = store_mark_failed(ob->st, s->id, err, now);
        if (rc == STORE_OK) {
            ob->stats.failed++;
            cb_prepare(ob, cbs, s->callback_url, s->id, STORE_MSG_FAILED, err,
                       now);
        }
        break;
    }
    if (rc == STORE_NOTFOUND) {
        log_msg(KLOG_INFO, PEER, "message %lld: outcome %s for a row no longer "
                "being sent (lease ran out?)", (long long)s->id,
                smpp_status_name(s->status) ? smpp_status_name(s->status) : "-");
        return 0;
    }
    if (rc != STORE_OK) {
        log_msg(KLOG_ERROR, PEER, "message %lld: %s", (long long)s->id,
                store_errmsg(ob->st));
        return -1;
    }
    return 0;
}

/* ---- receipts ---------------------------------------------------------- */

/* File a receipt for the next pass.  Returns it, or NULL (logged). */
static struct ob_rcpt *file_receipt(struct outbox *ob, const char *link,
                                    const struct outbox_dlr *d)
{
    ob->stats.receipts++;
    struct ob_rcpt *r = calloc(1, sizeof *r);
    if (!r) {
        log_msg(KLOG_ERROR, link, "receipt id:%s lost: out of memory", d->id);
        return NULL;
    }
    copy(r->link, sizeof r->link, link);
    copy(r->id, sizeof r->id, d->id);
    r->state = d->state;
    r->err = d->err;
    r->answer = ESME_ROK;
    r->deadline = now_ms(ob) + ob->o.receipt_wait_ms;
    if (ob->rq_tail)
        ob->rq_tail->next = r;
    else
        ob->rq_head = r;
    ob->rq_tail = r;
    schedule(ob, 0);
    return r;
}

int outbox_receipt(struct outbox *ob, const char *link,
                   const struct smpp_pdu *pdu)
{
    struct outbox_dlr d;
    if (!ob || !link || outbox_receipt_read(pdu, &d) != 0) {
        log_msg(KLOG_WARN, link, "receipt without a message id ignored");
        return -1;
    }
    return file_receipt(ob, link, &d) ? 0 : -1;
}

uint32_t outbox_receipt_deliver(struct outbox *ob, struct esme *e,
                                const char *link, const struct smpp_pdu *pdu)
{
    struct outbox_dlr d;
    if (!ob || !link || outbox_receipt_read(pdu, &d) != 0) {
        log_msg(KLOG_WARN, link, "receipt without a message id ignored");
        return ESME_ROK;        /* nothing in it to keep: do not ask again */
    }
    if (!ob->links.answer)      /* no way to answer later: as before */
        return file_receipt(ob, link, &d) ? ESME_ROK : ESME_RX_T_APPN;
    uint64_t ticket = esme_defer_answer(e, ESME_RX_T_APPN);
    if (!ticket) {
        /* too many answers waiting (a store that cannot keep up): let
         * the SMSC deliver it again later rather than risk losing it */
        ob->stats.receipts_refused++;
        log_msg(KLOG_WARN, link, "receipt id:%s refused for now: %u answers "
                "waiting", d.id, esme_deferred(e));
        return ESME_RX_T_APPN;
    }
    struct ob_rcpt *r = file_receipt(ob, link, &d);
    if (!r) {
        esme_answer(e, ticket, ESME_RX_T_APPN);
        return ESME_RX_T_APPN;  /* ignored: the answer went already */
    }
    r->ticket = ticket;
    return ESME_ROK;            /* ignored: deferred */
}

/* Send the deferred answer of r (after the commit that made it durable). */
static void answer_receipt(struct outbox *ob, struct ob_rcpt *r)
{
    if (!r->ticket)
        return;
    if (ob->links.answer)
        ob->links.answer(ob->links.ud, r->link, r->ticket, r->answer);
    r->ticket = 0;
}

/* Apply one receipt.  Returns 0 matched, 1 unmatched (park it), 2
 * unmatched and given up (its deadline passed), -1 store failure (keep
 * it).  The give-up is by time only: under a burst a pass with a submit
 * runs every few ms, so a count of passes would give up on a receipt
 * that simply came a few ms before its own submit_sm_resp.  The retries
 * of one parked receipt are spaced (25 ms doubling, at most 1 s), so an
 * id that never matches costs a bounded number of lookups. */
static int apply_receipt(struct outbox *ob, struct ob_rcpt *r, int64_t now,
                         struct ob_cb **cbs)
{
    struct store_receipt_info info;
    r->final_state = -1;
    int rc = store_receipt_ex(ob->st, r->link, r->id, r->state, r->err, now,
                              &info);
    if (rc == STORE_NOTFOUND) {
        if (now >= r->deadline)
            return 2;
        int64_t gap = r->tries < 6 ? (int64_t)25 << r->tries : 1000;
        r->tries++;
        r->next_try = now + gap;
        r->seen_submits = ob->stats.submitted;
        return 1;
    }
    if (rc != STORE_OK) {
        log_msg(KLOG_ERROR, r->link, "receipt id:%s: %s", r->id,
                store_errmsg(ob->st));
        return -1;
    }
    ob->stats.receipts_matched++;
    r->final_state = info.final_now;
    r->latency_ms = info.submitted_at > 0 && now > info.submitted_at
                        ? now - info.submitted_at : 0;
    if (info.final_now < 0 || !info.has_callback)   /* nothing to call */
        return 0;
    struct store_msg *m = NULL;
    if (store_msg_get(ob->st, info.id, &m) == STORE_OK && m) {
        if (m->callback_url)
            cb_prepare(ob, cbs, m->callback_url, info.id, info.final_now,
                       r->err, now);
        store_msg_free(m);
    }
    return 0;
}

/* ---- metrics (issue 11) ------------------------------------------------ */

/* Receipt latency buckets: seconds to hours (operators ask for under 2, 5
 * and 15 minutes, and over). */
static const double latency_le[] = { 5, 15, 30, 60, 120, 300, 900, 1800,
                                     3600, 7200, 14400, 43200, 86400 };

/* The series of link's receipts, registered at its first final receipt
 * (NULL when the table is full or a registration was refused: logged). */
static struct ob_link_metrics *link_metrics(struct outbox *ob,
                                            const char *link)
{
    for (size_t i = 0; i < ob->n_lm; i++)
        if (strcmp(ob->lm[i].link, link) == 0)
            return &ob->lm[i];
    if (ob->n_lm == OB_METRIC_LINKS)
        return NULL;
    struct ob_link_metrics *lm = &ob->lm[ob->n_lm];
    memset(lm, 0, sizeof *lm);
    snprintf(lm->link, sizeof lm->link, "%s", link);
    char err[160] = "";
    struct kz_label l[2] = { { "link", lm->link }, { "state", NULL } };
    bool ok = true;
    for (int k = 0; ok && k < 3; k++) {
        l[1].value = store_msg_state_name(STORE_MSG_DELIVERED + k);
        lm->by_state[k] = kz_metrics_counter(
            ob->metrics, "kyzmat_receipts_total", "Delivery receipts that made "
            "a message final, by that state (delivered, failed, expired).", l, 2,
            err, sizeof err);
        ok = lm->by_state[k] != NULL;
    }
    if (ok)
        ok = (lm->latency = kz_metrics_histogram(
                  ob->metrics, "kyzmat_receipt_latency_seconds", "From a "
                  "message's submit to the receipt that made it final.", l, 1,
                  latency_le, sizeof latency_le / sizeof latency_le[0], err,
                  sizeof err)) != NULL;
    if (!ok) {
        log_msg(KLOG_WARN, link, "receipt metrics: %s", err);
        return NULL;
    }
    ob->n_lm++;
    return lm;
}

/* A durable final receipt: counted by state, its latency observed. */
static void count_receipt(struct outbox *ob, const struct ob_rcpt *r)
{
    struct ob_link_metrics *lm = ob->metrics ? link_metrics(ob, r->link) : NULL;
    if (!lm)
        return;
    kz_counter_add(lm->by_state[r->final_state - STORE_MSG_DELIVERED], 1);
    kz_hist_observe(lm->latency, (double)r->latency_ms / 1000.0);
}

/* A scrape counts the queue on the loop: bounded, so a deep queue costs a
 * scrape a few milliseconds at most (a partial-index walk), and reads as
 * this many.  The age gauge is the alert's signal, not the count. */
#define OB_QUEUED_LIMIT 100000

static double m_queued(void *arg)
{
    struct outbox *ob = arg;
    int64_t q = 0, due = 0;
    return store_outbox_gauges(ob->st, OB_QUEUED_LIMIT, &q, &due) == STORE_OK
               ? (double)q : NAN;
}

static double m_oldest(void *arg)
{
    struct outbox *ob = arg;
    int64_t q = 0, due = 0, now = now_ms(ob);
    if (store_outbox_gauges(ob->st, 1, &q, &due) != STORE_OK)
        return NAN;
    return q && due && due < now ? (double)(now - due) / 1000.0 : 0;
}

int outbox_metrics(struct outbox *ob, struct kz_metrics *m, char *err,
                   size_t errlen)
{
    const struct outbox_stats *st = &ob->stats;
    const struct {
        const char *name, *help, *outcome;
        const uint64_t *count;
    } counts[] = {
        { "kyzmat_outbox_submitted_total", "SMS (all their parts) accepted by "
          "an SMSC.", NULL, &st->submitted },
        { "kyzmat_outbox_retries_total", "Sends tried again after a temporary "
          "failure.", NULL, &st->retried },
        { "kyzmat_outbox_failed_total", "SMS given up: refused for good or out "
          "of tries.", NULL, &st->failed },
        { "kyzmat_outbox_expired_total", "SMS that expired before they could "
          "be sent.", NULL, &st->expired },
        { "kyzmat_callbacks_total", "Agency callback calls by outcome.", "ok",
          &st->callbacks_ok },
        { "kyzmat_callbacks_total", "Agency callback calls by outcome.",
          "failed", &st->callbacks_failed },
    };
    ob->metrics = m;
    if (kz_metrics_gauge_fn(m, "kyzmat_outbox_queued", "SMS waiting to be sent "
                            "(counted up to 100,000).", NULL, 0, m_queued, ob,
                            err, errlen) != 0 ||
        kz_metrics_gauge_fn(m, "kyzmat_outbox_oldest_age_seconds", "How long the "
                            "most overdue queued SMS has waited past its send "
                            "time; 0 when none.", NULL, 0, m_oldest, ob, err,
                            errlen) != 0)
        return -1;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        struct kz_label l = { "outcome", counts[i].outcome };
        if (kz_metrics_counter_u64(m, counts[i].name, counts[i].help, &l,
                                   counts[i].outcome ? 1 : 0, counts[i].count,
                                   err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* ---- the pump ---------------------------------------------------------- */

/* A link for m: its preferred link (m->via) when that one is bound, else
 * the routing rule; as links.route answers (0, -1 no route, -2 wait). */
static int route_msg(struct outbox *ob, const struct store_msg *m,
                     struct outbox_route *r)
{
    int hint = -1;
    memset(r, 0, sizeof *r);
    if (m->via && ob->links.route_via) {
        hint = ob->links.route_via(ob->links.ud, m->via, m->to, r);
        if (hint == 0 && r->esme && esme_state(r->esme) == ESME_BOUND)
            return 0;
        memset(r, 0, sizeof *r);
    }
    int rc = ob->links.route(ob->links.ud, m->to, r);
    /* nothing else serves the number, but its own link is there: wait */
    return rc == -1 && hint != -1 ? -2 : rc;
}

/* Check one claimed row.  Returns 1 when it should be sent, 0 when
 * settled here, -1 on a store failure. */
static int vet(struct outbox *ob, struct store_msg *m, int64_t now,
               struct ob_cb **cbs)
{
    if (m->state == STORE_MSG_EXPIRED) {
        ob->stats.expired++;
        cb_prepare(ob, cbs, m->callback_url, m->id, STORE_MSG_EXPIRED, m->err,
                   now);
        return 0;
    }
    int err = 0;
    if (!m->text || !m->to || !*m->to) {
        err = OUTBOX_ERR_BAD_TEXT;
    } else {
        bool opted = false;
        int rc = store_optout_get(ob->st, m->to, &opted);
        if (rc != STORE_OK)
            return -1;
        if (opted && !m->law_required) {
            err = OUTBOX_ERR_OPTED_OUT;
            ob->stats.opted_out++;
        }
    }
    if (!err) {
        struct outbox_route r;
        int rc = route_msg(ob, m, &r);
        if (rc == 0 && r.esme && esme_state(r.esme) == ESME_BOUND)
            return 1;
        if (rc == -1) {
            err = OUTBOX_ERR_NO_ROUTE;
        } else {               /* the link is down: wait, refunded */
            int state = -1;
            if (store_mark_retry(ob->st, m->id, now + ob->o.throttle_ms,
                                 OUTBOX_ERR_LINK_DOWN, true, now,
                                 &state) != STORE_OK)
                return -1;
            ob->stats.retried++;
            if (state == STORE_MSG_EXPIRED) {
                ob->stats.expired++;
                cb_prepare(ob, cbs, m->callback_url, m->id, state,
                           OUTBOX_ERR_LINK_DOWN, now);
            }
            return 0;
        }
    }
    if (store_mark_failed(ob->st, m->id, err, now) != STORE_OK)
        return -1;
    ob->stats.failed++;
    log_msg(KLOG_INFO, PEER, "message %lld to %s failed: %s", (long long)m->id,
            log_mask(m->to).s,
            err == OUTBOX_ERR_OPTED_OUT ? "opted out"
            : err == OUTBOX_ERR_NO_ROUTE ? "no route" : "no text");
    cb_prepare(ob, cbs, m->callback_url, m->id, STORE_MSG_FAILED, err, now);
    return 0;
}

/* Hand one claimed (and committed) row to mt_send.  It is routed again:
 * the link chosen at the claim may have gone before the commit. */
static void send_one(struct outbox *ob, struct store_msg *m)
{
    struct ob_send *s = calloc(1, sizeof *s);
    if (!s) {
        log_msg(KLOG_ERROR, PEER, "message %lld: out of memory; resent after "
                "its lease", (long long)m->id);
        return;
    }
    s->ob = ob;
    s->id = m->id;
    s->attempts = m->attempts;
    s->callback_url = m->callback_url ? strdup(m->callback_url) : NULL;
    struct outbox_route r;
    if (route_msg(ob, m, &r) != 0 || !r.esme ||
        esme_state(r.esme) != ESME_BOUND) {
        s->status = ST_LINK_DOWN;      /* queued again, refunded */
        file_result(ob, s);
        schedule(ob, 0);
        return;
    }
    copy(s->link, sizeof s->link, r.link);
    struct mt_msg mm = {
        .from = m->sender ? m->sender : ob->from, .to = m->to,
        .text = (const uint8_t *)m->text, .len = strlen(m->text),
        .split = r.split, .allow = r.allow, .registered_delivery = 1,
        .ref = ++ob->ref,
    };
    char err[160];
    LIST_INSERT_HEAD(&ob->inflight, s, live);
    ob->stats.inflight++;
    if (mt_send(r.esme, &mm, mt_done, s, err, sizeof err) != 0) {
        log_msg(KLOG_WARN, r.link, "message %lld not sent: %s",
                (long long)m->id, err);
        unlink_inflight(ob, s);
        s->status = ST_BAD_TEXT;
        file_result(ob, s);
        schedule(ob, 0);
        return;
    }
    ob->stats.sent++;
}

/*
 * One pass, in steps.  pass() runs the writing steps inside
 * store_atomic() (pass_writes: all of the pass or none of it), then waits
 * for the store's commit; only a durable pass acts (pass_committed ->
 * pass_finish: messages to mt_send, receipts answered, callbacks
 * started); a failed one is undone (pass_undo: everything filed again).
 * One pass at a time: while one waits, pass() returns at once and the
 * commit waiter schedules the next.
 */

/* Push r onto the list *l. */
static void rcpt_push(struct ob_rcpt **l, struct ob_rcpt *r)
{
    r->next = *l;
    *l = r;
}

/* 1. outcomes of sends that finished since the last pass */
static void step_results(struct outbox *ob, struct ob_pass *p)
{
    while (ob->res_head && p->ok) {
        struct ob_send *s = ob->res_head;
        ob->res_head = s->next;
        if (!ob->res_head)
            ob->res_tail = NULL;
        struct ob_send **to = &p->done;
        if (apply_result(ob, s, p->now, &p->cbs) != 0) {
            p->ok = false;
            to = &p->kept;
        }
        s->next = *to;
        *to = s;
    }
}

/* A receipt parked (not matched) is held in the store, durable before it
 * is answered (the SMSC will not send it again); one matched or given up
 * is released.  0, or -1 on a store failure (logged). */
static int hold_or_release(struct outbox *ob, struct ob_rcpt *r, bool keep,
                           int64_t now)
{
    int hr = STORE_OK;
    if (keep && !r->held_id) {
        hr = store_receipt_hold(ob->st, r->link, r->id, r->state, r->err, now,
                                &r->held_id);
        r->held_now = hr == STORE_OK;
        if (hr == STORE_OK)
            ob->stats.receipts_held++;
    } else if (!keep && r->held_id) {
        hr = store_receipt_unhold(ob->st, r->held_id);
        if (hr == STORE_NOTFOUND)
            hr = STORE_OK;
    }
    if (hr == STORE_OK)
        return 0;
    log_msg(KLOG_ERROR, r->link, "receipt id:%s: %s", r->id,
            store_errmsg(ob->st));
    r->held_id = r->held_now ? 0 : r->held_id;
    return -1;
}

/* 2b. one receipt: matched, parked, given up, or back for the next pass */
static void receipt_one(struct outbox *ob, struct ob_pass *p,
                        struct ob_rcpt *r)
{
    int rc;
    if (r->tries && p->now < r->deadline &&
        (p->now < r->next_try || r->seen_submits == ob->stats.submitted))
        rc = 1;                 /* parked, nothing new could match it */
    else
        rc = p->ok ? apply_receipt(ob, r, p->now, &p->cbs) : -1;
    bool keep = rc == 1 && ob->n_parked + p->n_parked < PARKED_MAX;
    if (rc >= 0 && p->ok && hold_or_release(ob, r, keep, p->now) != 0)
        rc = -1;
    if (rc < 0) {
        p->ok = false;
        rcpt_push(&p->back, r);
    } else if (keep) {
        rcpt_push(&p->parked, r);
        p->n_parked++;
    } else {
        if (rc != 0) {
            ob->stats.receipts_unmatched++;
            log_msg(KLOG_DEBUG, r->link, "receipt id:%s matched no message",
                    r->id);
            if (rc == 1)        /* no room to park it: let the SMSC resend */
                r->answer = ESME_RX_T_APPN;
        }
        rcpt_push(&p->rdone, r);
    }
}

/* 2. receipts: new ones, and parked ones when a submit may match them
 * (each parked one is looked up again only when a submit was recorded
 * since its last lookup and its spacing is over, or at its deadline) */
static void step_receipts(struct outbox *ob, struct ob_pass *p)
{
    struct ob_rcpt *rq = ob->rq_head;
    ob->rq_head = ob->rq_tail = NULL;
    struct ob_rcpt *pk = ob->parked;
    while (pk) {               /* oldest first: parked is newest first */
        struct ob_rcpt *nx = pk->next;
        rcpt_push(&rq, pk);
        pk = nx;
    }
    ob->parked = NULL;
    ob->n_parked = 0;
    while (rq) {
        struct ob_rcpt *r = rq;
        rq = r->next;
        receipt_one(ob, p, r);
    }
}

/* 3. now and then, leases of a dead process */
static void step_recover(struct outbox *ob, struct ob_pass *p)
{
    if (p->now < ob->next_recover)
        return;
    int64_t n = 0;
    if (store_outbox_recover(ob->st, p->now, &n) == STORE_OK && n > 0)
        log_msg(KLOG_INFO, PEER, "%lld messages whose lease ended are "
                "queued again", (long long)n);
    ob->next_recover = p->now + ob->o.lease_ms / 4;
}

/* 4. a claim of at most min(batch, max_inflight - inflight, room) rows,
 * each vetted: settled at once or kept to be sent after the commit */
static void step_claim(struct outbox *ob, struct ob_pass *p)
{
    size_t budget = ob->o.batch;
    unsigned infl = ob->stats.inflight;
    if (infl >= ob->o.max_inflight)
        budget = 0;
    else if (budget > ob->o.max_inflight - infl)
        budget = ob->o.max_inflight - infl;
    if (budget && ob->links.room) {
        unsigned room = ob->links.room(ob->links.ud);
        if (room < budget)
            budget = room;
    }
    if (budget > CLAIM_MAX)
        budget = CLAIM_MAX;
    p->budget = budget;
    if (!budget)
        return;
    if (store_claim_due(ob->st, p->now, ob->o.lease_ms, p->claimed, budget,
                        &p->n_claimed) != STORE_OK) {
        log_msg(KLOG_ERROR, PEER, "claim: %s", store_errmsg(ob->st));
        p->ok = false;
        return;
    }
    ob->stats.claimed += p->n_claimed;
    for (size_t i = 0; i < p->n_claimed && p->ok; i++) {
        int v = vet(ob, p->claimed[i], p->now, &p->cbs);
        if (v < 0) {
            log_msg(KLOG_ERROR, PEER, "message %lld: %s",
                    (long long)p->claimed[i]->id, store_errmsg(ob->st));
            p->ok = false;
        } else if (v == 1) {
            p->send[p->n_send++] = p->claimed[i];
        }
    }
}

/* The writing steps, for store_atomic(): all of them or none. */
static int pass_writes(struct store *st, void *arg)
{
    (void)st;
    struct outbox *ob = arg;
    struct ob_pass *p = &ob->p;
    step_results(ob, p);
    step_receipts(ob, p);
    if (p->ok)
        step_recover(ob, p);
    if (p->ok)
        step_claim(ob, p);
    return p->ok ? STORE_OK : STORE_ERROR;
}

/* Put the pass's kept outcomes and receipts back at the front of their
 * queues, and its parked receipts on ob->parked (newest first). */
static void pass_refile(struct outbox *ob, struct ob_pass *p)
{
    while (p->kept) {
        struct ob_send *s = p->kept;
        p->kept = s->next;
        s->next = ob->res_head;
        ob->res_head = s;
        if (!ob->res_tail)
            ob->res_tail = s;
    }
    while (p->back) {
        struct ob_rcpt *r = p->back;
        p->back = r->next;
        r->next = ob->rq_head;
        ob->rq_head = r;
        if (!ob->rq_tail)
            ob->rq_tail = r;
    }
    while (p->parked) {
        struct ob_rcpt *r = p->parked;
        p->parked = r->next;
        rcpt_push(&ob->parked, r);
        ob->n_parked++;
    }
    p->n_parked = 0;
}

/* Nothing of the pass is stored: file everything again, send nothing. */
static void pass_undo(struct outbox *ob, struct ob_pass *p)
{
    while (p->done) {
        struct ob_send *s = p->done;
        p->done = s->next;
        s->next = p->kept;
        p->kept = s;
    }
    struct ob_rcpt **lists[2] = { &p->rdone, &p->parked };
    for (int k = 0; k < 2; k++)
        while (*lists[k]) {
            struct ob_rcpt *r = *lists[k];
            *lists[k] = r->next;
            rcpt_push(&p->back, r);
        }
    for (struct ob_rcpt *r = p->back; r; r = r->next) {
        if (r->held_now)
            r->held_id = 0;     /* rolled back with the pass */
        r->held_now = false;
    }
    cb_launch(ob, p->cbs, false);
    p->cbs = NULL;
    for (size_t i = 0; i < p->n_claimed; i++)
        store_msg_free(p->claimed[i]);
    p->n_claimed = p->n_send = 0;
    pass_refile(ob, p);
}

/* The pass is durable: answer its receipts, start its callbacks, send
 * its messages. */
static void pass_finish(struct outbox *ob, struct ob_pass *p)
{
    struct ob_rcpt *lists[2] = { p->rdone, p->parked };
    for (int k = 0; k < 2; k++)
        for (struct ob_rcpt *r = lists[k]; r; r = r->next) {
            answer_receipt(ob, r);
            r->held_now = false;
            if (r->final_state >= STORE_MSG_DELIVERED)
                count_receipt(ob, r);
        }
    cb_launch(ob, p->cbs, true);
    p->cbs = NULL;
    while (p->done) {
        struct ob_send *s = p->done;
        p->done = s->next;
        send_free(s);
    }
    while (p->rdone) {
        struct ob_rcpt *r = p->rdone;
        p->rdone = r->next;
        free(r);
    }
    pass_refile(ob, p);
    for (size_t i = 0; i < p->n_send; i++)
        send_one(ob, p->send[i]);
    for (size_t i = 0; i < p->n_claimed; i++)
        store_msg_free(p->claimed[i]);
}

/* The store's commit waiter for the pass. */
static void pass_committed(void *arg, int rc)
{
    struct outbox *ob = arg;
    struct ob_pass *p = &ob->p;
    ob->waiting = false;
    if (rc != STORE_OK) {
        log_msg(KLOG_ERROR, PEER, "commit: %s", store_errmsg(ob->st));
        pass_undo(ob, p);
        schedule(ob, ob->o.idle_ms);      /* the store is unwell: not a spin */
        return;
    }
    bool full = p->budget && p->n_claimed == p->budget;
    pass_finish(ob, p);
    if (full || ob->res_head || ob->rq_head)
        schedule(ob, 0);
    else
        schedule(ob, ob->o.idle_ms);
}

static void pass(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct outbox *ob = arg;
    if (ob->waiting)
        return;                 /* the commit waiter schedules the next */
    struct ob_pass *p = &ob->p;
    p->now = now_ms(ob);
    p->ok = true;
    p->budget = p->n_claimed = p->n_send = 0;
    ob->stats.passes++;
    int rc = store_atomic(ob->st, pass_writes, ob);
    if (rc == STORE_OK && store_on_commit(ob->st, pass_committed, ob) == STORE_OK) {
        ob->waiting = true;
        return;
    }
    if (rc != STORE_BUSY && p->ok)
        log_msg(KLOG_ERROR, PEER, "pass: %s", store_errmsg(ob->st));
    pass_undo(ob, p);
    schedule(ob, ob->o.idle_ms);          /* the store is unwell: not a spin */
}

/* ---- life -------------------------------------------------------------- */

/* Receipts a previous run acknowledged but could not match yet: filed
 * again (at most PARKED_MAX; any others stay until store_prune). */
static void load_held(struct outbox *ob)
{
    struct store_held_receipt h[128];
    int64_t after = 0;
    size_t n = 0, total = 0;
    int64_t now = now_ms(ob);
    do {
        if (store_receipts_held(ob->st, after, h, 128, &n) != STORE_OK) {
            log_msg(KLOG_ERROR, PEER, "held receipts: %s", store_errmsg(ob->st));
            break;
        }
        for (size_t i = 0; i < n && total < PARKED_MAX; i++, total++) {
            struct ob_rcpt *r = calloc(1, sizeof *r);
            if (!r)
                break;
            copy(r->link, sizeof r->link, h[i].smsc);
            copy(r->id, sizeof r->id, h[i].msgid);
            r->state = h[i].state;
            r->err = h[i].err;
            r->held_id = h[i].id;
            r->answer = ESME_ROK;
            r->deadline = now + ob->o.receipt_wait_ms;
            if (ob->rq_tail)
                ob->rq_tail->next = r;
            else
                ob->rq_head = r;
            ob->rq_tail = r;
        }
        if (n)
            after = h[n - 1].id;
    } while (n == 128 && total < PARKED_MAX);
    if (total)
        log_msg(KLOG_INFO, PEER, "%zu receipts held by an earlier run are "
                "matched again", total);
}

struct outbox *outbox_new(struct event_base *base, struct store *st,
                          const struct outbox_links *links,
                          const struct outbox_opts *opts)
{
    if (!base || !st || !links || !links->route)
        return NULL;
    struct outbox *ob = calloc(1, sizeof *ob);
    if (!ob)
        return NULL;
    LIST_INIT(&ob->inflight);
    LIST_INIT(&ob->cbs);
    ob->base = base;
    ob->st = st;
    ob->links = *links;
    if (opts)
        ob->o = *opts;
    struct outbox_opts *o = &ob->o;
    if (!o->batch)
        o->batch = 100;
    if (o->batch > 1024)
        o->batch = 1024;
    if (!o->max_inflight)
        o->max_inflight = 500;
    if (!o->idle_ms)
        o->idle_ms = 100;
    if (o->lease_ms <= 0)
        o->lease_ms = 300000;
    if (o->retry_min_ms <= 0)
        o->retry_min_ms = 2000;
    if (o->retry_max_ms <= 0)
        o->retry_max_ms = 600000;
    if (o->throttle_ms <= 0)
        o->throttle_ms = 1000;
    if (o->receipt_wait_ms <= 0)
        o->receipt_wait_ms = 10000;
    if (!o->callback_timeout_ms)
        o->callback_timeout_ms = 5000;
    if (!o->callback_tries)
        o->callback_tries = 3;
    if (!o->callback_max)
        o->callback_max = 1000;
    ob->from = strdup(o->from ? o->from : "kyzmat");
    o->from = NULL;
    ob->pump = evtimer_new(base, pass, ob);
    if (!ob->from || !ob->pump) {
        outbox_free(ob);
        return NULL;
    }
    ob->next_recover = 0;
    load_held(ob);
    schedule(ob, 0);
    return ob;
}

/* Write the outcomes and receipts still filed, commit them now (the loop
 * is over), answer the receipts.  Callbacks are not started. */
static void final_writes(struct outbox *ob)
{
    int64_t now = now_ms(ob);
    struct ob_cb *cbs = NULL;
    while (ob->res_head) {
        struct ob_send *s = ob->res_head;
        ob->res_head = s->next;
        apply_result(ob, s, now, &cbs);
        send_free(s);
    }
    ob->res_tail = NULL;
    /* receipts: applied, or held for the next start (a receipt
     * overtaking its submit_sm_resp is not lost by a clean stop) */
    struct ob_rcpt *lists[2] = { ob->rq_head, ob->parked }, *all = NULL;
    for (int k = 0; k < 2; k++) {
        while (lists[k]) {
            struct ob_rcpt *r = lists[k];
            lists[k] = r->next;
            int rc = apply_receipt(ob, r, now, &cbs);
            if (rc > 0 && !r->held_id && now < r->deadline)
                store_receipt_hold(ob->st, r->link, r->id, r->state,
                                   r->err, now, &r->held_id);
            else if ((rc == 0 || rc == 2) && r->held_id)
                store_receipt_unhold(ob->st, r->held_id);
            if (rc > 0)
                ob->stats.receipts_unmatched++;
            rcpt_push(&all, r);
        }
    }
    ob->rq_head = ob->rq_tail = ob->parked = NULL;
    bool ok = true;
    if (store_flush(ob->st) != STORE_OK) {
        log_msg(KLOG_ERROR, PEER, "final commit: %s", store_errmsg(ob->st));
        ok = false;
    }
    while (all) {
        struct ob_rcpt *r = all;
        all = r->next;
        if (!ok)
            r->answer = ESME_RX_T_APPN;   /* not durable: ask again */
        answer_receipt(ob, r);
        free(r);
    }
    cb_launch(ob, cbs, false);   /* no loop left to carry them */
}

void outbox_free(struct outbox *ob)
{
    if (!ob)
        return;
    /* a pass waiting for its commit: commit it now (it sends, answers) */
    if (ob->waiting && store_flush(ob->st) != STORE_OK && ob->waiting) {
        store_on_commit_cancel(ob->st, pass_committed, ob);
        ob->waiting = false;
        pass_undo(ob, &ob->p);
    }
    if (ob->pump) {
        event_free(ob->pump);
        ob->pump = NULL;
    }
    if (ob->res_head || ob->rq_head || ob->parked)
        final_writes(ob);
    struct ob_cb *c;
    while ((c = LIST_FIRST(&ob->cbs))) {
        if (c->fid)
            fetch_cancel(ob->o.fetch, c->fid);
        cb_free(c);
    }
    struct ob_send *s;
    LIST_FOREACH(s, &ob->inflight, live)
        s->ob = NULL;           /* mt's done() frees it */
    LIST_INIT(&ob->inflight);
    if (ob->metrics) {
        kz_metrics_retire_range(ob->metrics, ob, sizeof *ob);
        for (size_t i = 0; i < ob->n_lm; i++) {
            for (int k = 0; k < 3; k++)
                kz_metrics_retire(ob->metrics, ob->lm[i].by_state[k]);
            kz_metrics_retire(ob->metrics, ob->lm[i].latency);
        }
    }
    free(ob->from);
    free(ob);
}

void outbox_get_stats(const struct outbox *ob, struct outbox_stats *out)
{
    if (!ob) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = ob->stats;
}
