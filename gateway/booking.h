/*
 * gateway/booking.h — appointment booking as a USSD sub-dialog over the
 * gateway's own store (menu node kind `booking`), and the texts of the
 * booking SMS.
 *
 * What it does: booking_step() is called by gateway/ussd for every turn
 * of a `booking` node.  It takes the sub-dialog's state (an opaque string
 * it returned the turn before, kept in the dialog by the step engine, so
 * any gateway sharing the Redis dialogs can take the next turn), the
 * citizen's answer, and answers with the next screen and the new state,
 * a final text, "leave backwards", or a failure.
 *
 *   book:    service -> office -> day -> time -> confirm -> booked
 *   manage:  my bookings -> one booking -> cancel (confirm) | move
 *            (day -> time -> confirm)
 *
 * Lists are read from the store at every turn (indexed, bounded), paged
 * to fit one USSD screen (80 UCS-2 characters), with the set's "more" and
 * "back" keys.  A list with one entry (service, office) is skipped.  The
 * state names what was chosen by id, never by position, so a list that
 * changes between two turns cannot turn an answer into another choice.
 * Writes (book, cancel, move) are one atomic group each (store_atomic)
 * with the SMS they cause (confirmation, change, cancellation) queued in
 * the durable outbox: both join the store's batch, or neither does, so the
 * SMS of a booking cannot be lost.  What the final screen confirms must be
 * committed before the screen is sent: the caller shows a screen of a
 * turn that wrote (res.booking_id set) only from its commit waiter
 * (store_on_commit, gateway/ussd).  No double
 * booking and no booking over capacity: the store guarantees it (see
 * store_book); a place taken by someone else between the list and the
 * confirmation is answered "just taken" and the times are shown again.
 *
 * Texts: built in for ky, ru and en (others fall back to the default
 * language, then to en); an operator rewords any screen in the menu set
 * (settings.booking_texts, rq.texts).  SMS texts come from the agency's status
 * templates "booking.confirmed", "booking.moved", "booking.cancelled",
 * "booking.reminder" (placeholders {service} {office} {address} {day}
 * {time} {ticket}) when it has them, else from the built-in ones.
 *
 * Owns nothing between calls.  Not re-entrant with other store users
 * inside a call (the store is single-threaded).  Runs on the loop: every
 * store call is short (see gateway/store.h).
 * May call: gateway/store, gateway/phone, gateway/template, menus/screen,
 * libc.
 */
#ifndef KYZMAT_GATEWAY_BOOKING_H
#define KYZMAT_GATEWAY_BOOKING_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/store.h"
#include "menus/menu.h"
#include "menus/screen.h"

enum booking_mode { BOOKING_BOOK = 0, BOOKING_MANAGE };

#define BOOKING_STATE_MAX 160   /* fits the dialog's app buffer */
#define BOOKING_HORIZON_DEFAULT 14

struct booking_req {
    int mode;                  /* enum booking_mode */
    const char *services;      /* service codes offered, comma-separated;
                                  NULL or "": every service with places */
    unsigned horizon_days;     /* days ahead offered, today included (0: 14) */
    const char *state;         /* last turn's res.state; NULL or "" on entry */
    const char *input;         /* the citizen's answer; NULL on entry/resume */
    const char *phone;         /* the citizen (any form; canonicalised) */
    const char *lang;          /* the dialog's language code */
    const char *fallback_lang; /* the menu set's default language */
    const char *key_back;      /* reserved keys of the set ("0", "99") */
    const char *key_more;
    const char *label_back;    /* footer entries, translated ("0 Назад") */
    const char *label_more;
    const char *const *texts;  /* the operator's wording (settings.
                                  booking_texts) by enum menu_booking_text,
                                  NULL entries (or NULL): built in */
    int64_t now_ms;            /* wall clock; days are local days */
};

enum booking_outcome {
    BOOKING_CON = 0,   /* show res.screen, keep res.state, wait for input */
    BOOKING_END,       /* show res.screen as the final screen */
    BOOKING_BACK,      /* "back" on the first screen: leave the node */
    BOOKING_FAIL,      /* the store failed: res.why says why (for the log) */
    BOOKING_BUSY       /* another process holds the write lock: nothing
                          changed; run the same turn (state and input) again
                          shortly.  res.screen holds the "try again" text to
                          show when the caller gives up */
};

struct booking_res {
    int outcome;               /* enum booking_outcome */
    char screen[MENU_SCREEN_BUF];
    size_t screen_len;
    char state[BOOKING_STATE_MAX + 1];
    int64_t sms_id;            /* outbox id of an SMS queued by this turn */
    int64_t booking_id;        /* the booking made/moved/cancelled, or 0 */
    char why[160];
};

/*
 * booking_step — one turn.  Returns 0 with res filled (any outcome), -1
 * when rq or res is NULL.  A write joins the store's batch (see the top:
 * its screen waits for the commit); STORE_BUSY (a gateway sharing the
 * database holds the write lock past the short busy timeout) is
 * BOOKING_BUSY: nothing changed, the caller retries the turn from a timer
 * (the loop never waits longer).
 */
int booking_step(struct store *st, const struct booking_req *rq,
                 struct booking_res *res);

/*
 * booking_sms_text — the SMS for booking b of kind "confirmed", "moved",
 * "cancelled" or "reminder", in lang (b->lang when lang is NULL), else
 * fallback_lang, else en: the agency's template "booking.<kind>" when it
 * has one, else the built-in text.  Returns the length written into out
 * (always NUL-terminated), or -1 on a store error or a too-small out.
 */
/* The local day ("YYYY-MM-DD") add_days after the one of now_ms. */
void booking_day_of(int64_t now_ms, int add_days, char out[STORE_DAY_MAX]);

int booking_sms_text(struct store *st, const struct store_booking *b,
                     const char *kind, const char *lang,
                     const char *fallback_lang, char *out, size_t cap);

#endif
