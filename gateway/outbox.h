/*
 * gateway/outbox.h — the SMS sender: drains the durable outbox
 * (gateway/store.h) onto the SMPP links, applies delivery receipts and
 * calls each message's callback URL on its final state.
 *
 * What it does: a pump on the event loop claims due rows in small batches
 * (never the whole table; only as many as the links can take soon), checks
 * the opt-out list, routes each message to a link through the caller's
 * router (longest number prefix among bound links, else the default link:
 * outbox_route_pick() below is that rule as a pure function), sends it in
 * all its parts with smpp/mt (registered_delivery 1) and, when the
 * SMSC answered every part, records the outcome: submitted with the SMSC's
 * message id, retry with exponential back-off (temporary errors, throttling
 * and lost links), or failed (permanent errors, opted-out numbers, no
 * route).  Rows past their lifetime become 'expired' in the store.  All
 * writes of one pass are one atomic group in the store's batch, and the
 * pass acts (sends, answers receipts, starts callbacks) only from the
 * store's commit waiter: nothing is sent that a failed commit undoes.  A
 * row's own source address (store_msg_new.sender) and preferred link
 * (.via) are honoured; others go from opts.from by the routing rule.
 *
 * Receipts: outbox_receipt_deliver() (or outbox_receipt()) takes a
 * deliver_sm with esm_class 0x04, prefers the TLVs (receipted_message_id,
 * message_state, network_error_code) and falls back to the text, both read
 * by the one receipt reader, smpp/receipt (pure, fuzzed); outbox_receipt_parse()
 * maps its result onto the outbox's states; the store matches the id
 * whatever its format (exact text, else decimal <-> hex), against every
 * part of a long SMS (each part has its own id and receipt: the message is
 * delivered when all its parts are, failed or expired at the first part
 * that is).  A receipt that arrives before its message's submit_sm_resp
 * was recorded is kept a few seconds and tried again.
 *
 * Receipts and kill -9: the SMSC sends a receipt once; once answered it is
 * ours to keep.  So outbox_receipt_deliver() defers the deliver_sm's
 * answer (esme_defer_answer) and the pump answers it only after the
 * pass's commit (its store waiter) made the receipt durable: applied to
 * its message, or, when no message matches yet, held in the store
 * (store_receipt_hold) and filed again by the next outbox_new() after a
 * crash.  All receipts of one pass share that one commit.
 *
 * Ownership: struct outbox is owned by the caller (outbox_new /
 * outbox_free).  The store, the router's user data, the fetch client and
 * the event_base are the caller's and must outlive the outbox.  Messages
 * in flight on an esme when the outbox is freed are orphaned: their
 * context is freed when the esme reports them, their rows go back to
 * 'queued' when their lease ends (or at once with store_outbox_recover()).
 *
 * May call: gateway/store, gateway/fetch, gateway/log, smpp/mt,
 * smpp/receipt, smpp/esme, smpp/pdu, libevent, libc.  Single-threaded: every call on the
 * event_base's thread; none may be made from inside a store call.  The
 * store must be attached to the same event_base (store_attach): the
 * pump's passes wait for its commits.
 */
#ifndef KYZMAT_GATEWAY_OUTBOX_H
#define KYZMAT_GATEWAY_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/config.h"
#include "smpp/esme.h"
#include "smpp/pdu.h"
#include "smpp/text.h"

struct event_base;
struct store;
struct fetch;
struct outbox;

/* The outbox's own error codes, stored in the row's err when no SMPP
 * status applies (SMPP statuses are below 0x10000). */
#define OUTBOX_ERR_NO_ROUTE   0x10001  /* no link serves the number */
#define OUTBOX_ERR_OPTED_OUT  0x10002  /* the number opted out */
#define OUTBOX_ERR_BAD_TEXT   0x10003  /* invalid UTF-8, too long, no text */
#define OUTBOX_ERR_TIMEOUT    0x10004  /* ESME_DONE_TIMEOUT */
#define OUTBOX_ERR_LINK_LOST  0x10005  /* ESME_DONE_LINK_LOST */
#define OUTBOX_ERR_QUEUE_FULL 0x10006  /* ESME_DONE_QUEUE_FULL */
#define OUTBOX_ERR_STOPPED    0x10007  /* ESME_DONE_STOPPED */
#define OUTBOX_ERR_LINK_DOWN  0x10008  /* the routed link is not bound */

/* How the sender treats an answer (outbox_status_class). */
enum outbox_class {
    OUTBOX_OK = 0,      /* accepted */
    OUTBOX_TEMP,        /* try again later, the attempt counts */
    OUTBOX_THROTTLE,    /* try again later, the attempt is refunded */
    OUTBOX_PERM         /* final failure */
};

/*
 * outbox_status_class — the class of an SMPP command_status or ESME_DONE_*
 * code as mt_send reports it.  Permanent: address, TON/NPI, length, option
 * and application-permanent errors (RINVDSTADR, RINVSRCADR, RX_P_APPN,
 * RX_R_APPN, ...).  Throttle: RTHROTTLED (after the esme's own retries),
 * QUEUE_FULL, STOPPED: the link's fault, not the message's.  Everything
 * else (RMSGQFUL after the esme's retries — often the subscriber's queue
 * at the SMSC —, RSYSERR, RX_T_APPN, TIMEOUT, LINK_LOST, vendor codes) is
 * temporary: exponential back-off, bounded by the message's lifetime.
 * Pure.
 */
enum outbox_class outbox_status_class(uint32_t status);

/* The row error code for a status: the SMPP status itself, or one of the
 * OUTBOX_ERR_* codes for ESME_DONE_*.  Pure. */
int outbox_status_err(uint32_t status);

/*
 * outbox_route_pick — the routing rule, pure: among the n smsc entries
 * whose bound[i] is true, the one with the longest prefix that starts
 * msisdn (a leading '+' on either side is ignored; the first entry wins a
 * tie); else the first bound entry with default_route.  Returns its index,
 * -2 when some entry would serve the number but none of those is bound
 * (wait for the link), -1 when no entry serves the number at all (neither
 * a prefix nor a default_route).  bound may be NULL (all bound).
 */
int outbox_route_pick(const struct config_smsc *smsc, size_t n,
                      const bool *bound, const char *msisdn);

/* What the router answers for one number. */
struct outbox_route {
    struct esme *esme;                /* the link to send on */
    const char *link;                 /* its name (stored as the row's smsc;
                                         receipts come back under it);
                                         must live while the esme does */
    enum smpp_text_split_mode split;  /* 0 = UDH 8-bit */
    unsigned allow;                   /* SMPP_TEXT_ALLOW_LATIN1 or 0 */
};

/*
 * The caller's links, as a small interface (outbox.c does not know the
 * gateway's link list).
 *  route: fill *r for msisdn and return 0; return -2 when the link that
 *         should carry the number is not bound now (the row waits), -1 when
 *         no link serves the number (the row fails: OUTBOX_ERR_NO_ROUTE).
 *  room:  how many more messages the bound links can take soon (e.g. the
 *         sum over bound links of 2 x window - in_flight - queued, from
 *         esme_get_stats); 0 when none is bound.  NULL: no limit but
 *         opts.max_inflight.
 */
struct outbox_links {
    int (*route)(void *ud, const char *msisdn, struct outbox_route *r);
    unsigned (*room)(void *ud);
    void *ud;
    /* answer: send the deferred answer `ticket` (from esme_defer_answer)
     * on the link named `link` with status: i.e. esme_answer() on that
     * link's esme, when it still exists (a stale ticket is refused by the
     * esme, so trying every esme of that name is safe).  NULL: receipts
     * are answered at once, as by outbox_receipt(). */
    void (*answer)(void *ud, const char *link, uint64_t ticket,
                   uint32_t status);
    /* route_via: a message's preferred link (store_msg_new.via, e.g. the
     * USSD link a menu SMS comes from): fill *r for the link named `link`
     * and return 0 (bound or not: the outbox checks esme_state), or -1
     * when no link has that name.  The outbox uses it when that link is
     * bound, else the routing rule (waiting for the link only when the
     * rule serves the number nowhere).  NULL: preferences are ignored. */
    int (*route_via)(void *ud, const char *link, const char *msisdn,
                     struct outbox_route *r);
};

/* Settings; zero fields take the default in brackets. */
struct outbox_opts {
    const char *from;           /* source_addr of every SMS ["kyzmat"]; copied */
    unsigned batch;             /* rows claimed per pass, at most [100] */
    unsigned max_inflight;      /* messages on the links at once [500] */
    unsigned idle_ms;           /* pass interval when idle [100] */
    int64_t lease_ms;           /* claim lease [300000]: must exceed the longest
                                   a message can spend on a link (esme
                                   queue_timeout_ms + response timeouts and
                                   throttling retries), or a slow message
                                   may be claimed and sent a second time.
                                   A crash resends after it, or at once when
                                   the gateway, sole user of its database,
                                   calls store_outbox_recover(INT64_MAX)
                                   before outbox_new(). */
    int64_t retry_min_ms;       /* first back-off [2000] */
    int64_t retry_max_ms;       /* back-off cap [600000] */
    int64_t throttle_ms;        /* delay after throttling / link down [1000] */
    int64_t receipt_wait_ms;    /* keep an unmatched receipt this long [10000] */
    struct fetch *fetch;        /* callback URLs; NULL = no callbacks */
    uint32_t callback_timeout_ms; /* per attempt [5000] */
    unsigned callback_tries;    /* attempts per callback [3] */
    unsigned callback_max;      /* callbacks pending at once, more dropped [1000] */
    int64_t (*clock_ms)(void);  /* wall clock in ms [CLOCK_REALTIME] (tests) */
};

/*
 * outbox_new — a sender on base over st with the given links (copied;
 * its ud is the caller's).  opts may be NULL.  The first pass is
 * scheduled at once (no wait: a million queued rows cost one indexed
 * claim).  Returns NULL when out of memory.
 */
struct outbox *outbox_new(struct event_base *base, struct store *st,
                          const struct outbox_links *links,
                          const struct outbox_opts *opts);

/*
 * outbox_free — stop the pump, commit a pass waiting for its commit
 * (store_flush: it sends and answers as usual), write the outcomes already
 * known and the pending receipts and commit them (store_flush: the loop is
 * over), cancel callbacks still pending (best effort: they are lost),
 * orphan the messages still on the links (see above).  Not from inside a
 * store call or a store commit waiter.  NULL is fine.  Free the esmes
 * first when possible: their ESME_DONE_STOPPED answers then go back to the
 * queue at once instead of after the lease.
 */
void outbox_free(struct outbox *ob);

/* Wake the pump now (the API enqueued something).  Cheap; coalesced. */
void outbox_kick(struct outbox *ob);

/* ---- receipts ---------------------------------------------------------- */

#define OUTBOX_DLR_ID_MAX 65

/* A receipt as read from its text and/or TLVs. */
struct outbox_dlr {
    char id[OUTBOX_DLR_ID_MAX];  /* the SMSC's message id, as written */
    char stat[16];               /* "DELIVRD", ... ("" when absent) */
    int state;                   /* STORE_MSG_DELIVERED / _FAILED / _EXPIRED,
                                    or -1 (intermediate or unknown) */
    int err;                     /* err: field or network error; 0 when none */
    int sub, dlvrd;              /* -1 when absent */
    int64_t submit_date;         /* Unix seconds (UTC assumed), 0 when absent */
    int64_t done_date;           /*   or malformed */
};

/*
 * outbox_receipt_parse — read a receipt text
 *   id:XXXX sub:001 dlvrd:001 submit date:YYMMDDhhmm[ss]
 *   done date:YYMMDDhhmm[ss] stat:DELIVRD err:000 text:...
 * Fields in any order, names in any case ("Text:", "submit_date:"),
 * ids of any length up to OUTBOX_DLR_ID_MAX - 1, dates with or without
 * seconds, err in decimal (hex when it has hex letters or 0x).  Unknown
 * words are skipped; "text:" takes the rest.  Returns 0 when an id was
 * found (*out filled), -1 otherwise.  Pure; never reads past len.
 */
int outbox_receipt_parse(const uint8_t *text, size_t len,
                         struct outbox_dlr *out);

/* State for a receipt stat word ("DELIVRD" -> STORE_MSG_DELIVERED ...);
 * -1 for intermediate or unknown.  Pure. */
int outbox_stat_state(const char *stat);
/* State for a message_state TLV value (2 DELIVERED, 3 EXPIRED, 4/5/8
 * failed); -1 otherwise.  Pure. */
int outbox_tlv_state(int64_t message_state);

/*
 * outbox_receipt_read — the receipt in a deliver_sm: the text (in
 * short_message or message_payload) and the TLVs, the TLVs winning where
 * present.  Returns 0 with *out filled, -1 when no id is found.  Pure.
 */
int outbox_receipt_read(const struct smpp_pdu *deliver_sm,
                        struct outbox_dlr *out);

/*
 * outbox_receipt — a deliver_sm with esm_class & 0x04 arrived on link
 * `link` (the name the router gives for it).  Reads it and queues the
 * update for the pump's next pass (one batch; the pass runs at once).
 * Returns 0 when it was a readable receipt, -1 when not (logged); answer
 * ESME_ROK either way.  The pdu is only read during the call.  Answering
 * at once leaves the receipt in memory until the pass commits: a crash in
 * between loses it; outbox_receipt_deliver() closes that window.
 */
int outbox_receipt(struct outbox *ob, const char *link,
                   const struct smpp_pdu *deliver_sm);

/*
 * outbox_receipt_deliver — the deliver_sm handler for receipts: call it
 * from esme's on_deliver (e: the esme it came on, link: that link's name
 * as the router gives it) and return its value.  A readable receipt is
 * filed and its answer deferred (esme_defer_answer) until the pass that
 * makes it durable has committed: then links.answer sends ESME_ROK (or
 * ESME_RX_T_APPN when it could not be kept, so the SMSC sends it again).
 * Returns the status for on_deliver: ESME_ROK (deferred: ignored by the
 * esme; or an unreadable receipt, logged: nothing to keep), or
 * ESME_RX_T_APPN when the answer cannot be deferred (too many waiting).
 * Without links.answer it behaves as outbox_receipt() and returns ESME_ROK.
 * The pdu is only read during the call.
 */
uint32_t outbox_receipt_deliver(struct outbox *ob, struct esme *e,
                                const char *link,
                                const struct smpp_pdu *deliver_sm);

/* Counters for logs and tests. */
struct outbox_stats {
    uint64_t passes, claimed, sent, submitted, retried, failed, expired,
             opted_out, receipts, receipts_matched, receipts_unmatched,
             callbacks_ok, callbacks_failed;
    unsigned inflight;
    uint64_t receipts_held,     /* parked receipts written to the store */
             receipts_refused;  /* answered ESME_RX_T_APPN: none deferrable */
};
void outbox_get_stats(const struct outbox *ob, struct outbox_stats *out);

/*
 * outbox_metrics — register the outbox's series in m (issue 11): queued
 * SMS and the oldest one's wait past its send time (read from the store at
 * scrape time), submitted / retried / failed / expired, callbacks by
 * outcome; and, from each link's first final receipt on, receipts by
 * message_state (kyzmat_receipts_total{link,state}) and the submit-to-
 * receipt latency (kyzmat_receipt_latency_seconds{link}, 5 s to a day),
 * counted once the receipt's pass is durable.  0, or -1 (err).  m must
 * outlive the outbox; outbox_free retires the series.
 */
struct kz_metrics;
int outbox_metrics(struct outbox *ob, struct kz_metrics *m, char *err,
                   size_t errlen);

#endif
