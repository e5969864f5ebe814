/*
 * gateway/reminders.c — the day-before reminder SMS (see reminders.h for
 * the contract and which bookings get none).
 *
 * Design: reminders_run() is the whole job for one page and takes the time
 * as an argument, so tests drive it directly on a real store; the timer is
 * a thin shell around it.  One page = one atomic group (store_atomic) in
 * the store's batch: the enqueues and the marks of a page are stored
 * together or not at all.  Every store call is an indexed, bounded one (a
 * page of at most REMINDERS_PAGE_MAX bookings), so a tick never holds the
 * loop long.  The timer is a one-shot evtimer re-armed after each run: a
 * page that was due is counted, logged and followed (at once after a full
 * page, else after the interval) from the store's commit waiter, once it
 * is durable; in 1 s when another process held the write lock; else after
 * the interval.
 *
 * Owns: struct reminders (its timer and a copy of the options).
 * May call: gateway/store, gateway/booking, gateway/outbox (outbox_kick),
 * gateway/log, libevent, libc.
 */
#include "gateway/reminders.h"
#include "gateway/booking.h"
#include "gateway/log.h"
#include "gateway/outbox.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK_S_DEFAULT 60
#define RETRY_BUSY_MS 1000    /* another process held the write lock */

struct reminders {
    struct event_base *base;
    struct store *st;
    struct outbox *ob;
    struct event *timer;
    struct reminders_opts o;
    struct reminders_result last;   /* the page waiting for its commit */
    bool waiting;                   /* a commit waiter is registered */
    char fallback[STORE_LANG_MAX];
    struct reminders_stats stats;
};

/* ---- time ---------------------------------------------------------------- */

static int local_tm(int64_t now_ms, struct tm *tm)
{
    time_t t = (time_t)(now_ms / 1000);
    return localtime_r(&t, tm) ? 0 : -1;
}

int reminders_tomorrow(int64_t now_ms, char day[STORE_DAY_MAX])
{
    struct tm tm;
    if (local_tm(now_ms, &tm) != 0)
        return -1;
    /* noon, so a DST change at midnight cannot move the day */
    tm.tm_mday += 1;
    tm.tm_hour = 12;
    tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    if (mktime(&tm) == (time_t)-1)
        return -1;
    /* 0 when it does not fit: a year beyond 9999 */
    return strftime(day, STORE_DAY_MAX, "%Y-%m-%d", &tm) == 10 ? 0 : -1;
}

/* Local time day_offset days from "YYYY-MM-DD" at minute_of_day, in ms;
 * -1 when day is malformed. */
static int64_t local_ms(const char *day, int day_offset, unsigned minute_of_day)
{
    int y, mo, d;
    if (sscanf(day, "%4d-%2d-%2d", &y, &mo, &d) != 3)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d + day_offset;
    tm.tm_hour = (int)(minute_of_day / 60);
    tm.tm_min = (int)(minute_of_day % 60);
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1)
        return -1;
    return (int64_t)t * 1000;
}

/* "HH:MM" -> minute of the day; 0 for anything malformed. */
static unsigned hhmm_minutes(const char *s)
{
    int h, m;
    if (sscanf(s, "%2d:%2d", &h, &m) != 2 || h < 0 || h > 23 || m < 0 ||
        m > 59)
        return 0;
    return (unsigned)(h * 60 + m);
}

/* ---- one page -------------------------------------------------------------- */

static void opts_fill(const struct reminders_opts *in, struct reminders_opts *o)
{
    memset(o, 0, sizeof *o);
    if (in)
        *o = *in;
    else
        o->enabled = true;
    if (o->at_minute > 1439)
        o->at_minute = 1439;
    if (!o->check_s)
        o->check_s = CHECK_S_DEFAULT;
    if (!o->page)
        o->page = REMINDERS_PAGE_DEFAULT;
    if (o->page > REMINDERS_PAGE_MAX)
        o->page = REMINDERS_PAGE_MAX;
    if (o->skip_recent_ms < 0)
        o->skip_recent_ms = REMINDERS_SKIP_RECENT_DEFAULT;
    if (!o->fallback_lang || !*o->fallback_lang ||
        strlen(o->fallback_lang) >= STORE_LANG_MAX)
        o->fallback_lang = "ru";
}

/* One booking: 0 when settled (queued, or decided not to send), or a
 * store error code. */
static int remind_one(struct store *st, const struct store_booking *b,
                      const struct reminders_opts *o, int64_t now,
                      struct reminders_result *res, char *text)
{
    char masked[LOG_MSISDN_MAX];
    int64_t appt = local_ms(b->day, 0, hhmm_minutes(b->time));
    if (o->skip_recent_ms > 0) {
        int64_t due_at = local_ms(b->day, -1, o->at_minute);
        if (due_at >= 0 && b->created_at > due_at - o->skip_recent_ms) {
            res->recent++;
            return store_booking_reminded(st, b->id);
        }
    }
    bool out = false;
    int rc = store_optout_get(st, b->msisdn, &out);
    if (rc != STORE_OK)
        return rc;
    if (out) {
        res->opted_out++;
        return store_booking_reminded(st, b->id);
    }
    int len = booking_sms_text(st, b, "reminder", NULL, o->fallback_lang, text,
                               REMINDERS_TEXT_MAX);
    if (len <= 0) {
        log_msg(KLOG_WARN, NULL, "reminders: booking %lld for %s: no reminder text (%s); "
                "not sent", (long long)b->id,
                log_msisdn(masked, sizeof masked, b->msisdn),
                len < 0 ? store_errmsg(st) : "empty");
        res->no_text++;
        return store_booking_reminded(st, b->id);
    }
    char key[48];
    snprintf(key, sizeof key, "reminder:%lld", (long long)b->id);
    struct store_msg_new m = {
        .client = REMINDERS_CLIENT, .idem_key = key, .to = b->msisdn,
        .text = text, .lang = b->lang[0] ? b->lang : o->fallback_lang,
        .law_required = false, .not_before = now,
        /* no point after the appointment has begun; a day at most when the
         * slot's time cannot be read */
        .expires_at = appt > now ? appt : now + 24 * 3600 * 1000LL,
    };
    int64_t id = 0;
    rc = store_enqueue(st, &m, now, &id);
    if (rc == STORE_DUPLICATE)
        res->duplicate++;
    else if (rc == STORE_OK)
        res->queued++;
    else
        return rc;
    return store_booking_reminded(st, b->id);
}

/* One page for store_atomic(). */
struct page {
    const struct reminders_opts *o;
    int64_t now;
    struct reminders_result *res;
    size_t n;
};

static int run_page(struct store *st, void *arg)
{
    struct page *p = arg;
    struct store_booking *page = calloc(p->o->page, sizeof *page);
    char *text = malloc(REMINDERS_TEXT_MAX);
    if (!page || !text) {
        free(page);
        free(text);
        return STORE_ERROR;
    }
    int rc = store_reminders_due(st, p->res->day, page, p->o->page, &p->n);
    p->res->seen = p->n;
    for (size_t i = 0; rc == STORE_OK && i < p->n; i++)
        rc = remind_one(st, &page[i], p->o, p->now, p->res, text);
    free(page);
    free(text);
    return rc;
}

int reminders_run(struct store *st, int64_t now_ms,
                  const struct reminders_opts *opts,
                  struct reminders_result *res)
{
    memset(res, 0, sizeof *res);
    struct reminders_opts o;
    opts_fill(opts, &o);
    struct tm tm;
    if (local_tm(now_ms, &tm) != 0)
        return STORE_INVALID;
    if ((unsigned)(tm.tm_hour * 60 + tm.tm_min) < o.at_minute)
        return STORE_OK;
    res->due = true;
    if (reminders_tomorrow(now_ms, res->day) != 0)
        return STORE_INVALID;
    struct page p = { &o, now_ms, res, 0 };
    int rc = store_atomic(st, run_page, &p);
    if (rc != STORE_OK) {
        /* nothing of the page is stored */
        struct reminders_result keep = { .due = true };
        memcpy(keep.day, res->day, sizeof keep.day);
        *res = keep;
        return rc;
    }
    res->more = p.n == o.page;
    return STORE_OK;
}

/* ---- the timer ------------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm(struct reminders *r, int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(r->timer, &tv);
}

static void log_error(struct reminders *r, const char *day, int rc)
{
    r->stats.errors++;
    log_msg(KLOG_ERROR, NULL, "reminders for %s not queued: %s (%s); "
            "trying again in %us", day[0] ? day : "tomorrow",
            store_rc_name(rc), store_errmsg(r->st), r->o.check_s);
}

/* The page that was due is durable (rc STORE_OK) or gone: count, log,
 * wake the sender, and arm the next run. */
static void page_committed(void *arg, int rc)
{
    struct reminders *r = arg;
    struct reminders_result *res = &r->last;
    r->waiting = false;
    int64_t next = (int64_t)r->o.check_s * 1000;
    if (rc != STORE_OK) {
        log_error(r, res->day, rc);
    } else {
        r->stats.pages++;
        r->stats.queued += res->queued;
        r->stats.skipped += res->seen - res->queued;
        if (res->queued)
            log_msg(KLOG_INFO, NULL, "reminders: %zu queued for %s%s",
                    res->queued, res->day, res->more ? " (more to come)" : "");
        if (res->seen > res->queued)
            log_msg(KLOG_DEBUG, NULL, "reminders: %s: %zu already queued, %zu opted out, "
                    "%zu booked too recently, %zu without text", res->day,
                    res->duplicate, res->opted_out, res->recent, res->no_text);
        if (res->queued && r->ob)
            outbox_kick(r->ob);
        if (res->more)
            next = 0;
    }
    if (r->o.enabled)
        arm(r, next);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct reminders *r = arg;
    if (!r->o.enabled || r->waiting)
        return;
    int64_t now = r->o.clock_ms ? r->o.clock_ms() : wall_ms();
    r->stats.runs++;
    int rc = reminders_run(r->st, now, &r->o, &r->last);
    int64_t next = (int64_t)r->o.check_s * 1000;
    if (rc == STORE_OK && r->last.due) {
        /* counted and followed once durable */
        if (store_on_commit(r->st, page_committed, r) == STORE_OK) {
            r->waiting = true;
            return;
        }
        rc = STORE_ERROR;
    }
    if (rc == STORE_BUSY)
        next = RETRY_BUSY_MS;
    else if (rc != STORE_OK)
        log_error(r, r->last.day, rc);
    arm(r, next);
}

/* Take the settings; log them when they are new or changed (start, reload). */
static void set_opts(struct reminders *r, const struct reminders_opts *o,
                     bool first)
{
    struct reminders_opts n;
    opts_fill(o, &n);
    bool same = !first && n.enabled == r->o.enabled &&
                n.at_minute == r->o.at_minute && n.check_s == r->o.check_s &&
                n.page == r->o.page && n.skip_recent_ms == r->o.skip_recent_ms &&
                strcmp(n.fallback_lang, r->fallback) == 0;
    snprintf(r->fallback, sizeof r->fallback, "%s", n.fallback_lang);
    n.fallback_lang = r->fallback;
    r->o = n;
    if (same)
        return;
    if (n.enabled)
        log_msg(KLOG_INFO, NULL, "reminders on: tomorrow's bookings from %02u:%02u local "
                "time, checked every %us, %u per page; none for bookings made "
                "within %lld min before their reminder time; fallback "
                "language %s", n.at_minute / 60, n.at_minute % 60, n.check_s,
                n.page, (long long)(n.skip_recent_ms / 60000), r->fallback);
    else
        log_msg(KLOG_INFO, NULL, "reminders off (booking.reminders: false)");
}

struct reminders *reminders_new(struct event_base *base, struct store *st,
                                struct outbox *ob,
                                const struct reminders_opts *o)
{
    struct reminders *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->base = base;
    r->st = st;
    r->ob = ob;
    r->timer = evtimer_new(base, on_tick, r);
    if (!r->timer) {
        free(r);
        return NULL;
    }
    set_opts(r, o, true);
    if (r->o.enabled)
        arm(r, 1000);
    return r;
}

int reminders_set_opts(struct reminders *r, const struct reminders_opts *o)
{
    if (!r)
        return -1;
    set_opts(r, o, false);
    evtimer_del(r->timer);
    if (r->o.enabled)
        arm(r, 1000);
    return 0;
}

void reminders_get_stats(const struct reminders *r, struct reminders_stats *out)
{
    if (r)
        *out = r->stats;
    else
        memset(out, 0, sizeof *out);
}

void reminders_free(struct reminders *r)
{
    if (!r)
        return;
    if (r->waiting)
        store_on_commit_cancel(r->st, page_committed, r);
    if (r->timer)
        event_free(r->timer);
    free(r);
}
