/*
 * gateway/ussd.h — USSD dialogs over SMPP: from a deliver_sm to the
 * answering submit_sm, through the dialog store and the menu engine.
 *
 * What it does, per USSD PDU a link hands it:
 *   1. reads it by the link's dialect (smpp/dialect): start, continue,
 *      abort, or nothing to do;
 *   2. loads the subscriber's dialog (and, on a dial, the remembered
 *      language) from the dialog store (gateway/dialogs: Redis or memory);
 *   3. runs one step of the menu engine (menus/step, pure);
 *   4. carries out the step's effects: back-end calls and CON/END apps
 *      through gateway/fetch, whose results are fed back as further steps;
 *      SMS into the durable outbox (gateway/store: sent, retried and
 *      tracked by gateway/outbox like every SMS, from the dialled service
 *      code, preferably on the dialog's link); the language remembered in
 *      the dialog store;
 *   5. saves the dialog (TTL = the link's session_timeout) and only then
 *      sends the screen, so a second gateway sharing the store always
 *      finds the state the citizen answers;
 *   6. on a final screen, sends it and drops the dialog.
 * A store that is down or slow gives the citizen a short "service
 * temporarily unavailable" final screen at once; an answer to a dialog
 * that has expired gets "session expired" — never silence, never a crash.
 *
 * Dialog key: kz:d:{MSISDN} (one dialog per subscriber, which is what a
 * handset can hold; Redis Cluster hash tag on the number).  The stored
 * value wraps the engine's blob with the dialect's session key and a
 * gateway-made session id (stable for the dialog; the app contract's
 * sessionId): a continue whose session key differs from the stored one
 * belongs to an older dialog and is answered as expired.
 *
 * Ownership: the service owns every dialog in flight (struct ussd_call),
 * each holding a reference to the menu set it started on, so a reload
 * never pulls a set from under a running step.  PDUs are not kept: what a
 * call needs is copied.  Links are reached by name through the ops the
 * caller gives, so a link removed by a reload while a back-end call runs
 * is simply not found (the reply is dropped and logged).
 * Status nodes (menu `status`) are answered from the gateway's SQLite
 * store (gateway/store), synchronously inside the effect handler: the
 * calls are a few indexed reads/writes on a local file (no network), so
 * the loop is held for well under a millisecond.  Privacy rule: the
 * details go only to the application's owner; to anyone else, and for a
 * number that does not exist, the same "not found for this phone" result;
 * each such miss counts as a failed lookup for the caller (USSD_LOOKUP_*
 * below) and a caller past the limit is told to try later.  Numbers are
 * per agency (gateway/notify's notify_app_find: the caller's own
 * applications of the number typed, else of "CODE-number"); a caller
 * with the number at several agencies gets the gateway's screen asking
 * for the agency's code (MENU_EV_STATUS_AMBIGUOUS), which is no miss.
 * Subscribe nodes follow the same rule (only the owner may turn the
 * application's SMS off or on again).  Booking nodes (gateway/booking)
 * also run synchronously; their writes, with the SMS they cause, join the
 * store's batch, and ops.outbox_kick wakes the sender.  A turn that wrote
 * to the SQL store (a booking, a menu SMS, a subscription change, a
 * lock-out counter) shows its screen only from the store's commit waiter
 * (store_on_commit): what a screen confirms is durable before the citizen
 * reads it, and a failed commit ends the dialog with "temporarily
 * unavailable" instead.  A booking write that finds another gateway
 * holding the database's write lock changes nothing and runs again from a
 * timer a few milliseconds later (up to 60 times).
 * May call: smpp/dialect, gateway/dialogs, gateway/fetch, gateway/store,
 * gateway/phone, gateway/notify, gateway/booking, gateway/log, menus/step, menus/dialog,
 * smpp/pdu, libevent, libc.
 */
#ifndef KYZMAT_GATEWAY_USSD_H
#define KYZMAT_GATEWAY_USSD_H

#include <stddef.h>
#include <stdint.h>

#include "smpp/dialect.h"
#include "smpp/pdu.h"

struct event_base;
struct dialogs;
struct fetch;
struct menu_set;
struct store;
struct ussd_service;

/* Failed status lookups: USSD_LOOKUP_MAX misses within USSD_LOOKUP_WINDOW_MS
 * lock the phone out of status lookups for USSD_LOOKUP_LOCK_MS. */
#define USSD_LOOKUP_MAX       5
#define USSD_LOOKUP_WINDOW_MS (15 * 60 * 1000)
#define USSD_LOOKUP_LOCK_MS   (60 * 60 * 1000)

struct ussd_ops {
    /* Send pdu (a submit_sm) on the link named `link`; 0, or -1 when the
     * link is gone.  The pdu is encoded during the call. */
    int (*send)(void *ud, const char *link, struct smpp_pdu *pdu);
    /* The outbox has new messages due now (may be NULL). */
    void (*outbox_kick)(void *ud);
    void *ud;
};

struct ussd_stats {
    uint64_t starts, continues, aborts, screens, ends, expired, unavailable,
             http_calls, app_calls, pushes, errors, status_lookups,
             booking_turns, bookings_made, subscribe_changes;
    unsigned in_flight;
};

/* A service on base.  store, fetch and set must be non-NULL; the service
 * takes a reference on set; store and fetch stay the caller's and must
 * outlive it.  Returns NULL when memory runs out. */
struct ussd_service *ussd_new(struct event_base *base, struct dialogs *store,
                              struct fetch *fetch, struct menu_set *set,
                              const struct ussd_ops *ops);

/* Use set for dialogs started from now on (takes a reference; dialogs in
 * flight finish on theirs; saved dialogs are mapped onto the new set by
 * node id when they continue). */
void ussd_set_menus(struct ussd_service *s, struct menu_set *set);

/*
 * ussd_set_store — the SQLite store status, subscribe and booking nodes
 * use and menu SMS are queued in (NULL: none; a status node then takes its
 * on_error branch, a menu SMS is not sent).  It must be attached to the
 * service's loop (store_attach): screens wait for its commits.  The store
 * stays the caller's and must outlive the service (or be unset first).
 */
void ussd_set_store(struct ussd_service *s, struct store *st);

/* issue 12 appeals: the limit, SMS expiry and counts an appeal node files
 * with (gateway/appeals.h; copied; the stats it points to stay the
 * caller's).  Before: the defaults, uncounted. */
struct appeals_opts;
void ussd_set_appeals(struct ussd_service *s, const struct appeals_opts *o);

/*
 * ussd_deliver — a deliver_sm/data_sm arrived on link `link` (its name is
 * copied) with that link's dialect and session timeout.  Returns 0 when
 * the PDU is no USSD (the caller treats it as SMS), 1 when it was USSD and
 * is being handled (the caller answers deliver_sm_resp OK at once).
 */
int ussd_deliver(struct ussd_service *s, const char *link,
                 const struct ussd_dialect *dialect,
                 unsigned session_timeout_ms, const struct smpp_pdu *pdu);

/*
 * ussd_push — a USSN push notice (the dialect's op_notice, usually 3): a
 * short text shown on the handset with no answer expected, outside any
 * dialog.  from is the service code it comes from ("100").  The text must
 * fit one USSD screen (160 octets: 182 GSM or 80 UCS-2 characters).
 * Returns 0 when sent to the link, -1 with a reason in err (not UTF-8, too
 * long, link gone).
 */
int ussd_push(struct ussd_service *s, const char *link,
              const struct ussd_dialect *dialect, const char *from,
              const char *msisdn, const char *utf8, char *err, size_t errlen);

void ussd_get_stats(const struct ussd_service *s, struct ussd_stats *out);

/*
 * ussd_metrics — register the service's series in m (issue 11): dialogs by
 * menu set and event (kyzmat_ussd_dialogs_total{menu_set,event}: started,
 * completed, timed_out, aborted, unavailable, error; menu_set names the
 * set, the last part of its folder's path), screens, steps in flight, and the step
 * latency histogram (kyzmat_ussd_step_seconds, arrival to screen, 0.5 ms
 * to 5 s; one clock read per step), and per node of the menu set visits
 * and answers (kyzmat_ussd_node_visits_total{node}, _answers_total{node}:
 * the difference is the drop-offs), re-registered by ussd_set_menus.  0,
 * or -1 (err).  m must outlive the service; ussd_free retires the series.
 */
struct kz_metrics;
int ussd_metrics(struct ussd_service *s, struct kz_metrics *m,
                 const char *menu_set, char *err, size_t errlen);

/* Free the service.  Dialogs in flight are dropped (their store and fetch
 * requests are cancelled or answered into the void); call it after the
 * links have stopped and before freeing the store and fetch. */
void ussd_free(struct ussd_service *s);

#endif
