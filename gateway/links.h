/*
 * gateway/links.h — the link registry: one SMPP link (an esme) per smsc
 * entry of the config, started, restarted on reload, retired and reaped.
 *
 * What it does: creates a link for a config entry (the esme's settings
 * come from the entry), starts the links once the dialog store is up,
 * applies a new config to them on reload (entries added get a link,
 * removed ones are stopped and freed, changed ones restarted, unchanged
 * ones not touched), stops them all on SIGTERM, and reports when none is
 * open.  It is also what other modules see of the links, through their ops
 * structs: the USSD service sends a screen on a link by name (ussd_send),
 * the outbox routes a number to a bound link or to the link a message
 * prefers, asks how much room the links have and answers deferred
 * receipts and MOs (outbox_route_cb, outbox_route_via_cb, outbox_room_cb,
 * outbox_answer_cb), the API pushes a USSD notice
 * (api_ussd_notice).  Each link's deliver_sm/data_sm go to the MO router
 * (gateway/mo).
 *
 * Ownership: a link is on exactly one of d->links (active) and
 * d->retiring, and the list owns it with its esme and its reap timer.  A
 * link being retired (removed or changed on reload) is stopped and freed
 * from its own reap timer, never from inside the esme's callback: when it
 * reports CLOSED, or after STOP_GRACE_MS.  Nothing here may be called from
 * inside an esme callback of the link it frees (only links_free_all frees
 * directly, at exit).
 * An entry with tls.enabled connects over TLS (issue 13 tls-smpp): its
 * client context is made once per link (base/tls) and handed to the esme.
 * May call: base/tls, gateway/config, gateway/log, gateway/mo, gateway/outbox,
 * gateway/ussd, smpp/esme, smpp/mt, smpp/dialect, smpp/text, menus/menu,
 * libevent, libc.
 */
#ifndef KYZMAT_GATEWAY_LINKS_H
#define KYZMAT_GATEWAY_LINKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "gateway/daemon.h"
#include "gateway/outbox.h"
#include "smpp/dialect.h"
#include "smpp/text.h"

struct config_smsc;
struct esme;
struct kz_hist;

struct link {
    LIST_ENTRY(link) entry;     /* on d->links or d->retiring */
    struct daemon *d;
    struct esme *e;
    char *name;                 /* copy: matches config entries on reload */
    int retiring;               /* on d->retiring, waiting to be freed */
    int restart;                /* retiring for a config change: start the
                                 * new entry of that name once it is gone */
    struct event *reap;         /* retiring: frees the link (0 s or grace) */
    /* read per USSD PDU, so kept here rather than looked up each time; an
     * entry whose settings change on reload gets a new link */
    const struct ussd_dialect *dialect;
    unsigned session_timeout_ms;
    /* metrics (d->metrics): what the series read at scrape time */
    unsigned window;
    struct kz_hist *resp_seconds;
    struct link_outcome {
        struct link *l;
        int kind;               /* enum esme_outcome */
    } outcome[8];               /* >= ESME_OUT_COUNT (checked in links.c) */
};

/* What a reload did to the links (for its log line). */
struct links_change {
    unsigned added, removed, restarted, kept, failed;
};

/*
 * link_new — create a link for entry s and put it on d->links; it starts
 * at once when the links have started (links_start), else with them.
 * Returns the link, or NULL (logged) on failure.  s is only read.
 */
struct link *link_new(struct daemon *d, const struct config_smsc *s);

/* Start every link that has not started yet (once, at start-up): cancels
 * d->ev_gate.  No-op when started already or stopping. */
void start_links(struct daemon *d);

/*
 * links_apply — move the links from d->cfg to cfg (a new, checked config;
 * d->cfg is still the old one and the caller swaps them after): retire
 * removed and changed entries, create links for new ones; a changed entry
 * starts again once its old link is gone.  Logs each change; *ch counts.
 */
void links_apply(struct daemon *d, const struct config *cfg,
                 struct links_change *ch);

/* Stop every link (unbind); they stay listed until CLOSED. */
void links_stop_all(struct daemon *d);

/* Links, active or retiring, whose esme is not CLOSED. */
int links_open(const struct daemon *d);

/* Active links that are not bound now: up to max of their names, each
 * "link NAME" cut to cap bytes, into what[]; returns how many (the
 * readiness probe, gateway/admin). */
size_t links_unbound(const struct daemon *d, char (*what)[64], size_t max);

/* When stopping and no link is open: leave the loop (once). */
void links_check_all_closed(struct daemon *d);

/* Free every link at once (exit only: not from an esme callback). */
void links_free_all(struct daemon *d);

/* The current config's entry of link l, or NULL when it has none. */
const struct config_smsc *link_entry(const struct link *l);

/* The text splitter's mode for a config split value (CONFIG_SPLIT_*). */
enum smpp_text_split_mode link_split_mode(int split);

/* Concatenation reference for MT SMS sent from the daemon (PING, menu sms). */
uint16_t link_next_ref(void);

/* ---- what other modules call through their ops structs ----------------- */

/* ussd_ops.send (ud: the daemon). */
int ussd_send(void *ud, const char *link, struct smpp_pdu *pdu);

/* outbox_links.route / .route_via / .room / .answer (ud: the daemon).
 * route_via: the link named `link` when it has an esme (a menu SMS goes
 * out on its dialog's link), else -1 and the outbox routes by number. */
int outbox_route_cb(void *ud, const char *msisdn, struct outbox_route *r);
int outbox_route_via_cb(void *ud, const char *link, const char *msisdn,
                        struct outbox_route *r);
unsigned outbox_room_cb(void *ud);
void outbox_answer_cb(void *ud, const char *link, uint64_t ticket,
                      uint32_t status);

/* api_opts.ussd_notice (ud: the daemon): POST /v1/ussd/notices. */
int api_ussd_notice(void *ud, const char *msisdn, const char *from,
                    const char *text, int *too_long, char *err,
                    size_t errlen);

#endif
