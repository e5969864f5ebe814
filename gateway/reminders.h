/*
 * gateway/reminders.h — the reminder SMS the day before an appointment: a
 * timer on kyzmatd's event loop, not a cron job elsewhere.
 *
 * What it does: every `check_s` seconds, once the local time of day is at
 * or past `at_minute` (default 18:00), takes one page (default 200) of
 * tomorrow's active bookings whose reminder is not sent yet
 * (store_reminders_due) and, in ONE atomic group (store_atomic), for
 * each of them: queues the reminder SMS in the durable outbox (text from
 * booking_sms_text(..., "reminder", ...), in the language the citizen
 * booked in, else the fallback) with the idempotency key
 * "reminder:<booking id>" under client "kyzmat", and marks the booking
 * reminded (store_booking_reminded).  Once the store has committed the
 * page (its commit waiter), wakes the SMS sender (outbox_kick).  A crash
 * between the enqueue and the mark cannot send two: both are in one
 * transaction, and a re-run would meet the
 * idempotency key (STORE_DUPLICATE) and only mark.  A full page is
 * followed by the next one at once (through the loop, so other events run
 * between pages); the log gets one info line per page that queued
 * anything ("reminders: 37 queued for 2026-11-27").
 *
 * Which bookings get no SMS (they are marked reminded all the same, so
 * they never come back):
 *   - the number opted out (STOP): a reminder is not law-required; the
 *     same rule as the API's status notices (skip, queue nothing), and the
 *     sender would refuse it anyway;
 *   - the booking was made after, or less than `skip_recent_ms` (default
 *     6 h) before, its reminder time (the day before the appointment at
 *     `at_minute`): its confirmation SMS is recent, a reminder minutes or
 *     a few hours later is noise.  With 18:00 and 6 h: booked before
 *     12:00 the day before -> reminded at 18:00; booked later -> only the
 *     confirmation.  skip_recent_ms 0 turns the rule off (every booking
 *     made before its appointment day gets one, also at the next tick
 *     after a late booking);
 *   - no reminder text could be made (booking_sms_text failed: a store
 *     error or an agency template longer than REMINDERS_TEXT_MAX): logged
 *     with the booking id, so that one bad template cannot hold up every
 *     other reminder of the day.
 * Only tomorrow's appointments are looked at: a gateway that is down for
 * the whole evening before sends no late reminders on the day itself.
 * The SMS expires at the appointment's start (no point after it).
 *
 * Days and times of day are local (localtime_r, the TZ of the process),
 * like the booking dialog's days.
 *
 * Ownership: struct reminders is the caller's (reminders_new /
 * reminders_free); the event_base, the store and the outbox are the
 * caller's and must outlive it.  Options are copied.
 * May call: gateway/store, gateway/booking, gateway/outbox (outbox_kick),
 * gateway/log, libevent, libc.  Single-threaded: every call on the
 * event_base's thread, none from inside a store call.
 */
#ifndef KYZMAT_GATEWAY_REMINDERS_H
#define KYZMAT_GATEWAY_REMINDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/store.h"

struct event_base;
struct outbox;
struct reminders;

#define REMINDERS_PAGE_DEFAULT 200
#define REMINDERS_PAGE_MAX 1000
#define REMINDERS_TEXT_MAX 2048          /* octets of one reminder's text */
#define REMINDERS_SKIP_RECENT_DEFAULT (6 * 3600 * 1000LL)
#define REMINDERS_CLIENT "kyzmat"        /* idempotency scope of the keys */

/* Settings.  Zero numbers take the default in brackets. */
struct reminders_opts {
    bool enabled;               /* false: the timer does nothing */
    unsigned at_minute;         /* minute of the local day, 0..1439 [0 = 00:00;
                                   the config's default is 18:00] */
    unsigned check_s;           /* timer interval, seconds [60] */
    unsigned page;              /* bookings per page [200], at most 1000 */
    int64_t skip_recent_ms;     /* see above; < 0 = default [6 h], 0 = off */
    const char *fallback_lang;  /* for bookings without a language and as
                                   booking_sms_text's fallback; NULL or ""
                                   = "ru"; copied */
    int64_t (*clock_ms)(void);  /* wall clock in ms [CLOCK_REALTIME] (tests) */
};

/* What one run did. */
struct reminders_result {
    bool due;                   /* the time of day had come */
    char day[STORE_DAY_MAX];    /* the appointments' day looked at ("" when
                                   not due) */
    size_t seen;                /* bookings taken from the store */
    size_t queued;              /* SMS queued now */
    size_t duplicate;           /* already queued earlier (key seen): marked */
    size_t opted_out;           /* number opted out: marked, no SMS */
    size_t recent;              /* booked too recently: marked, no SMS */
    size_t no_text;             /* no text could be made: marked, no SMS */
    bool more;                  /* the page was full: run again soon */
};

/*
 * reminders_run — one page, at wall-clock time now_ms (ms since the Unix
 * epoch), with the settings in o (o->enabled and o->check_s are not
 * looked at; o->clock_ms neither).  Callable without any loop (tests),
 * the timer calls it.  The page is one atomic group in the store's batch:
 * durable at the store's commit (store_on_commit; on return when the
 * store is not attached to a loop).  Returns STORE_OK with *res filled
 * (also when not due yet: res->due false), STORE_BUSY when another
 * connection holds the write lock (nothing changed), or the store error
 * (nothing of the page is stored; store_errmsg() says why).  res may not
 * be NULL.
 */
int reminders_run(struct store *st, int64_t now_ms,
                  const struct reminders_opts *o, struct reminders_result *res);

/*
 * reminders_tomorrow — the local day after the one holding now_ms, as
 * YYYY-MM-DD into day (STORE_DAY_MAX octets).  Returns 0, -1 when the
 * time cannot be converted.  Exposed for tests.
 */
int reminders_tomorrow(int64_t now_ms, char day[STORE_DAY_MAX]);

/*
 * reminders_new — the timer on base over st, waking ob (may be NULL) after
 * a page that queued SMS.  The first run is 1 s after start (not at once:
 * kyzmatd is still binding its links).  o may be NULL (defaults, enabled).
 * Returns NULL when out of memory.
 */
struct reminders *reminders_new(struct event_base *base, struct store *st,
                                struct outbox *ob,
                                const struct reminders_opts *o);

/*
 * reminders_set_opts — new settings (SIGHUP reload): copied (logged when
 * they changed), the timer re-armed to run 1 s later and then at the new
 * interval; disabled, it stops.  Returns 0, -1 when r is NULL.
 */
int reminders_set_opts(struct reminders *r, const struct reminders_opts *o);

/* Counters since reminders_new, for logs and tests. */
struct reminders_stats {
    uint64_t runs, pages, queued, skipped, errors;
};
void reminders_get_stats(const struct reminders *r, struct reminders_stats *out);

/* Stop the timer, cancel a commit waiter, free.  Not from inside a store
 * call.  NULL is fine. */
void reminders_free(struct reminders *r);

#endif
