/*
 * tests/unit/test_reminders.c — the day-before reminder SMS
 * (gateway/reminders.c) on a real SQLite store in a fresh mkdtemp
 * directory: bookings for today, tomorrow and the day after, some already
 * reminded, cancelled, opted out or booked too recently, languages ky, ru
 * and none; reminders_run() driven with a given "now" in a time zone that
 * is not UTC (KGT-6, Bishkek), so a day or hour taken in UTC would show.
 * Also: nothing before the hour, nothing twice, a crash between enqueue and
 * mark (idempotency key), pages, the page in the store's open batch (and
 * a failed commit), the timer on a real event_base (its page counted once
 * the store has committed it).
 *
 * Owns: its temp directories (made and removed by tests/unit/tmpdb.h).
 * May call: gateway/reminders.h, gateway/booking.h, gateway/store.h,
 * tests/unit/tmpdb.h, tests/unit/clock_at.h, libevent, libc, POSIX, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <event2/event.h>
#include <unistd.h>

#include "tests/unit/clock_at.h"
#include "tests/unit/tmpdb.h"
#include "gateway/booking.h"
#include "gateway/reminders.h"
#include "gateway/store.h"


#define HOUR (3600 * 1000LL)
#define NOW clock_at(2026, 11, 26, 18, 30)     /* the evening before 2026-11-27 */
#define OLD clock_at(2026, 11, 20, 10, 0)      /* booked a week ahead */

struct fx {
    struct tmpdb db;            /* first: tmpdb_setup/teardown */
    int64_t agency, service, office;
    int64_t s_today, s_tom9, s_tom10, s_after;
};

static int seed(void *fx)
{
    struct fx *f = fx;
    struct store *st = f->db.st;
    int ok = store_agency_put(st, "tax", "Tax service", &f->agency) == STORE_OK &&
        store_service_put(st, f->agency, "passport", &f->service) == STORE_OK &&
        store_service_name_set(st, f->service, "ky", "Паспорт") == STORE_OK &&
        store_service_name_set(st, f->service, "ru", "Паспорт") == STORE_OK &&
        store_service_name_set(st, f->service, "en", "Passport") == STORE_OK &&
        store_office_put(st, f->agency, "bishkek-1", &f->office) == STORE_OK &&
        store_office_name_set(st, f->office, "ky", "ЦОН №1", "Чүй 100") == STORE_OK &&
        store_office_name_set(st, f->office, "ru", "ЦОН №1", "Чуй 100") == STORE_OK &&
        store_office_name_set(st, f->office, "en", "PSC 1", "Chui 100") == STORE_OK &&
        store_slot_put(st, f->office, f->service, "2026-11-26", "15:00", 50,
                       &f->s_today) == STORE_OK &&
        store_slot_put(st, f->office, f->service, "2026-11-27", "09:00", 50,
                       &f->s_tom9) == STORE_OK &&
        store_slot_put(st, f->office, f->service, "2026-11-27", "10:00", 50,
                       &f->s_tom10) == STORE_OK &&
        store_slot_put(st, f->office, f->service, "2026-11-28", "09:00", 50,
                       &f->s_after) == STORE_OK;
    return ok ? 0 : -1;
}

static int fx_setup(void **state)
{
    return tmpdb_setup(state, sizeof(struct fx), "kzrem", seed);
}

/* One booking by msisdn in slot, made at created, in lang (NULL: none). */
static int64_t book(struct fx *f, const char *msisdn, int64_t slot,
                    int64_t created, const char *lang)
{
    int64_t id = 0;
    assert_int_equal(store_book(f->db.st, msisdn, slot, created, &id), STORE_OK);
    if (lang)
        assert_int_equal(store_booking_set_lang(f->db.st, id, lang), STORE_OK);
    return id;
}

/* Every queued outbox message (claimed, so each is seen once). */
static size_t queued(struct fx *f, struct store_msg **out, size_t max)
{
    size_t n = 0;
    assert_int_equal(store_claim_due(f->db.st, INT64_MAX / 2, 60000, out, max, &n),
                     STORE_OK);
    return n;
}

static struct store_msg *find_to(struct store_msg **v, size_t n, const char *to)
{
    for (size_t i = 0; i < n; i++)
        if (v[i]->to && strcmp(v[i]->to, to) == 0)
            return v[i];
    return NULL;
}

static void free_msgs(struct store_msg **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_msg_free(v[i]);
}

static int reminded(struct fx *f, int64_t booking_id)
{
    /* reminded bookings are no longer due: look for it among tomorrow's */
    struct store_booking b[64];
    size_t n = 0;
    assert_int_equal(store_reminders_due(f->db.st, "2026-11-27", b, 64, &n), STORE_OK);
    for (size_t i = 0; i < n; i++)
        if (b[i].id == booking_id)
            return 0;
    return 1;
}

static struct reminders_opts opts18(void)
{
    struct reminders_opts o;
    memset(&o, 0, sizeof o);
    o.enabled = true;
    o.at_minute = 18 * 60;
    o.skip_recent_ms = -1;      /* default: 6 h */
    return o;
}

/* One run at NOW with o that queues `want` SMS, and those SMS (as many as
 * fit in cap) into m: the caller frees them. */
static size_t run_queues(struct fx *f, const struct reminders_opts *o, size_t want,
                         struct store_msg **m, size_t cap)
{
    struct reminders_result r;
    assert_int_equal(reminders_run(f->db.st, NOW, o, &r), STORE_OK);
    assert_int_equal(r.queued, want);
    size_t n = queued(f, m, cap);
    assert_int_equal(n, want);
    return n;
}

/* What a run counted, field by field. */
struct counts {
    size_t queued, opted_out, recent, duplicate, no_text, seen;
};

static void expect_counts(const struct reminders_result *r, struct counts w)
{
    struct counts got = { r->queued, r->opted_out, r->recent, r->duplicate,
                          r->no_text, r->seen };
    if (memcmp(&got, &w, sizeof got) != 0)
        fail_msg("queued %zu opted_out %zu recent %zu duplicate %zu no_text %zu "
                 "seen %zu; wanted %zu %zu %zu %zu %zu %zu", got.queued,
                 got.opted_out, got.recent, got.duplicate, got.no_text, got.seen,
                 w.queued, w.opted_out, w.recent, w.duplicate, w.no_text, w.seen);
}

/* ---- days ------------------------------------------------------------------- */

static void test_tomorrow(void **state)
{
    (void)state;
    char d[STORE_DAY_MAX];
    assert_int_equal(reminders_tomorrow(NOW, d), 0);
    assert_string_equal(d, "2026-11-27");
    assert_int_equal(reminders_tomorrow(clock_at(2026, 12, 31, 23, 59), d), 0);
    assert_string_equal(d, "2027-01-01");
    assert_int_equal(reminders_tomorrow(clock_at(2028, 2, 28, 0, 0), d), 0);
    assert_string_equal(d, "2028-02-29");
    /* 20:00 UTC on the 26th is already 02:00 on the 27th in Bishkek */
    int64_t utc20 = (int64_t)1795723200 * 1000;    /* 2026-11-26T20:00:00Z */
    assert_int_equal(reminders_tomorrow(utc20, d), 0);
    assert_string_equal(d, "2026-11-28");
}

/* ---- the run ------------------------------------------------------------------- */

static void test_who_gets_one(void **state)
{
    struct fx *f = *state;
    int64_t a = book(f, "996555000001", f->s_tom9, OLD, "ky");
    int64_t b = book(f, "996555000002", f->s_tom10, OLD, "ru");
    int64_t c = book(f, "996555000003", f->s_tom9, OLD, NULL);
    int64_t d = book(f, "996555000004", f->s_tom9, OLD, "ru");
    assert_int_equal(store_booking_cancel(f->db.st, d, "996555000004", OLD + HOUR),
                     STORE_OK);
    int64_t e = book(f, "996555000005", f->s_tom9, OLD, "ky");
    assert_int_equal(store_booking_reminded(f->db.st, e), STORE_OK);
    int64_t today = book(f, "996555000006", f->s_today, OLD, "ky");
    int64_t after = book(f, "996555000007", f->s_after, OLD, "ky");
    int64_t h = book(f, "996555000008", f->s_tom9, OLD, "ky");
    assert_int_equal(store_optout_set(f->db.st, "996555000008", OLD + HOUR), STORE_OK);
    /* booked at 13:00 the day before: 5 h before the 18:00 reminder */
    int64_t recent = book(f, "996555000009", f->s_tom10, clock_at(2026, 11, 26, 13, 0), "ru");
    /* booked at 11:00: 7 h before, so it gets one */
    int64_t j = book(f, "996555000010", f->s_tom10, clock_at(2026, 11, 26, 11, 0), "ru");
    /* booked after the reminder time (20:00 the day before) */
    int64_t late = book(f, "996555000011", f->s_tom10, clock_at(2026, 11, 26, 20, 0), "ky");
    (void)today;
    (void)after;

    struct reminders_opts o = opts18();
    struct reminders_result r;

    /* 17:59 local (11:59 UTC): not yet */
    assert_int_equal(reminders_run(f->db.st, clock_at(2026, 11, 26, 17, 59), &o, &r), STORE_OK);
    assert_false(r.due);
    assert_int_equal(r.seen, 0);
    struct store_msg *m[64];
    assert_int_equal(queued(f, m, 64), 0);

    /* 18:30: a, b, c and j; the rest marked or never due */
    int64_t now = NOW;
    assert_int_equal(reminders_run(f->db.st, now, &o, &r), STORE_OK);
    assert_true(r.due);
    assert_string_equal(r.day, "2026-11-27");
    expect_counts(&r, (struct counts){ .queued = 4, .opted_out = 1, .recent = 2,
                                       .duplicate = 0, .no_text = 0, .seen = 7 });
    assert_false(r.more);
    /* no batch left open: not attached, the page is durable on return and
     * the write lock is free for another connection */
    struct store *other = tmpdb_connect(&f->db);
    assert_int_equal(store_lookup_clear(other, "996555000099"), STORE_OK);
    store_close(other);

    size_t n = queued(f, m, 64);
    assert_int_equal(n, 4);
    struct { int64_t id; const char *to, *lang; int64_t appt; } want[] = {
        { a, "996555000001", "ky", clock_at(2026, 11, 27, 9, 0) },
        { b, "996555000002", "ru", clock_at(2026, 11, 27, 10, 0) },
        { c, "996555000003", "ru", clock_at(2026, 11, 27, 9, 0) },   /* fallback */
        { j, "996555000010", "ru", clock_at(2026, 11, 27, 10, 0) },
    };
    for (size_t i = 0; i < 4; i++) {
        struct store_msg *x = find_to(m, n, want[i].to);
        assert_non_null(x);
        assert_string_equal(x->lang, want[i].lang);
        assert_string_equal(x->client, "kyzmat");
        char key[48];
        snprintf(key, sizeof key, "reminder:%lld", (long long)want[i].id);
        assert_string_equal(x->idem_key, key);
        assert_false(x->law_required);
        assert_int_equal(x->expires_at, want[i].appt);
        /* the text is booking_sms_text's, in the booking's language */
        struct store_booking bk;
        assert_int_equal(store_booking_get(f->db.st, want[i].id, &bk, NULL, 0), STORE_OK);
        char text[REMINDERS_TEXT_MAX];
        assert_true(booking_sms_text(f->db.st, &bk, "reminder", NULL, "ru", text,
                                     sizeof text) > 0);
        assert_string_equal(x->text, text);
        assert_true(reminded(f, want[i].id));
    }
    /* Kyrgyz and Russian texts differ (the language was used) */
    assert_string_not_equal(find_to(m, n, "996555000001")->text,
                            find_to(m, n, "996555000002")->text);
    free_msgs(m, n);
    assert_true(reminded(f, h));
    assert_true(reminded(f, recent));
    assert_true(reminded(f, late));

    /* the next tick: nothing new */
    assert_int_equal(reminders_run(f->db.st, now + 60000, &o, &r), STORE_OK);
    assert_true(r.due);
    assert_int_equal(r.seen, 0);
    assert_int_equal(r.queued, 0);
    assert_int_equal(queued(f, m, 64), 0);

    /* a booking made now for tomorrow: only the confirmation */
    int64_t k = book(f, "996555000012", f->s_tom9, now + 120000, "ky");
    assert_int_equal(reminders_run(f->db.st, now + 180000, &o, &r), STORE_OK);
    assert_int_equal(r.recent, 1);
    assert_int_equal(r.queued, 0);
    assert_true(reminded(f, k));
}

static void test_fallback_and_rule_off(void **state)
{
    struct fx *f = *state;
    int64_t c = book(f, "996555000021", f->s_tom9, OLD, NULL);
    int64_t late = book(f, "996555000022", f->s_tom9, NOW - 60000, "ru");
    struct reminders_opts o = opts18();
    o.fallback_lang = "ky";
    o.skip_recent_ms = 0;       /* every booking gets one */
    struct store_msg *m[8];
    size_t n = run_queues(f, &o, 2, m, 8);
    struct store_msg *x = find_to(m, n, "996555000021");
    assert_non_null(x);
    assert_string_equal(x->lang, "ky");
    struct store_booking bk;
    assert_int_equal(store_booking_get(f->db.st, c, &bk, NULL, 0), STORE_OK);
    char text[REMINDERS_TEXT_MAX];
    assert_true(booking_sms_text(f->db.st, &bk, "reminder", NULL, "ky", text,
                                 sizeof text) > 0);
    assert_string_equal(x->text, text);
    assert_non_null(find_to(m, n, "996555000022"));
    free_msgs(m, n);
    assert_true(reminded(f, late));
}

static void test_agency_template(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_template_set(f->db.st, f->agency, "booking.reminder", "ky",
                                        "Эртең {time}: {service}"), STORE_OK);
    book(f, "996555000031", f->s_tom10, OLD, "ky");
    struct reminders_opts o = opts18();
    struct store_msg *m[4];
    size_t n = run_queues(f, &o, 1, m, 4);
    assert_non_null(strstr(m[0]->text, "Эртең"));
    assert_non_null(strstr(m[0]->text, "10:00"));
    free_msgs(m, n);
}

/* A crash after the SMS was queued but before the mark (another process,
 * an older build): the key is seen, only the mark is made. */
static void test_crash_between_enqueue_and_mark(void **state)
{
    struct fx *f = *state;
    int64_t a = book(f, "996555000041", f->s_tom9, OLD, "ru");
    char key[48];
    snprintf(key, sizeof key, "reminder:%lld", (long long)a);
    struct store_msg_new pre = {
        .client = "kyzmat", .idem_key = key, .to = "996555000041",
        .text = "earlier", .not_before = OLD, .expires_at = NOW + 24 * HOUR,
    };
    int64_t id;
    assert_int_equal(store_enqueue(f->db.st, &pre, OLD, &id), STORE_OK);
    struct reminders_opts o = opts18();
    struct reminders_result r;
    assert_int_equal(reminders_run(f->db.st, NOW, &o, &r), STORE_OK);
    assert_int_equal(r.queued, 0);
    assert_int_equal(r.duplicate, 1);
    assert_true(reminded(f, a));
    struct store_msg *m[4];
    size_t n = queued(f, m, 4);
    assert_int_equal(n, 1);     /* the earlier one only */
    assert_string_equal(m[0]->text, "earlier");
    free_msgs(m, n);
}

static void test_pages(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 7; i++) {
        char msisdn[24];
        snprintf(msisdn, sizeof msisdn, "99655510%04d", i);
        book(f, msisdn, i % 2 ? f->s_tom9 : f->s_tom10, OLD, i % 2 ? "ky" : "ru");
    }
    struct reminders_opts o = opts18();
    o.page = 3;
    struct reminders_result r;
    size_t total = 0;
    int runs = 0;
    do {
        assert_int_equal(reminders_run(f->db.st, NOW, &o, &r), STORE_OK);
        assert_true(r.seen <= 3);
        total += r.queued;
        runs++;
    } while (r.more && runs < 10);
    assert_int_equal(runs, 3);
    assert_int_equal(total, 7);
    struct store_msg *m[16];
    size_t n = queued(f, m, 16);
    assert_int_equal(n, 7);
    free_msgs(m, n);
}

/* The store's batch is open (another module wrote in this pass): the page
 * joins it and is durable only with its commit; a failed commit undoes
 * the whole page, and the next run does it again. */
static void test_open_batch(void **state)
{
    struct fx *f = *state;
    int64_t a = book(f, "996555000051", f->s_tom9, OLD, "ru");
    assert_int_equal(store_attach(f->db.st, NULL), STORE_OK);
    assert_int_equal(store_lookup_clear(f->db.st, "996555000099"), STORE_OK);
    struct reminders_opts o = opts18();
    struct reminders_result r;
    assert_int_equal(reminders_run(f->db.st, NOW, &o, &r), STORE_OK);
    assert_true(r.due);
    assert_int_equal(r.queued, 1);
    assert_true(reminded(f, a));
    store_test_fail_commits(f->db.st, 1);
    assert_int_equal(store_flush(f->db.st), STORE_ERROR);
    assert_false(reminded(f, a));
    struct store_msg *m[4];
    assert_int_equal(queued(f, m, 4), 0);
    assert_int_equal(reminders_run(f->db.st, NOW, &o, &r), STORE_OK);
    assert_int_equal(r.queued, 1);
    assert_int_equal(store_flush(f->db.st), STORE_OK);
    assert_true(reminded(f, a));
}

/* ---- the timer --------------------------------------------------------------- */

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_timer(void **state)
{
    struct fx *f = *state;
    book(f, "996555000061", f->s_tom9, OLD, "ky");
    book(f, "996555000062", f->s_tom10, OLD, "ru");
    book(f, "996555000063", f->s_tom10, OLD, "ru");
    struct event_base *base = event_base_new();
    assert_non_null(base);
    assert_int_equal(store_attach(f->db.st, base), STORE_OK);
    fake_now = clock_at(2026, 11, 26, 17, 0);     /* before the hour */
    struct reminders_opts o = opts18();
    o.check_s = 1;
    o.page = 2;
    o.clock_ms = fake_clock;
    struct reminders *rm = reminders_new(base, f->db.st, NULL, &o);
    assert_non_null(rm);
    struct reminders_stats s;
    /* the first run (1 s after start): not due, nothing queued */
    int64_t deadline = mono_ms() + 5000;
    do {
        event_base_loop(base, EVLOOP_ONCE);
        reminders_get_stats(rm, &s);
    } while (s.runs < 1 && mono_ms() < deadline);
    assert_true(s.runs >= 1);
    assert_int_equal(s.queued, 0);
    /* the hour comes: two pages (2 + 1), the second at once after the first */
    fake_now = NOW;
    deadline = mono_ms() + 5000;
    do {
        event_base_loop(base, EVLOOP_ONCE);
        reminders_get_stats(rm, &s);
    } while (s.queued < 3 && mono_ms() < deadline);
    assert_int_equal(s.queued, 3);
    assert_int_equal(s.errors, 0);
    struct store_msg *m[8];
    size_t n = queued(f, m, 8);
    assert_int_equal(n, 3);
    free_msgs(m, n);
    /* disabled on reload: the timer stops */
    o.enabled = false;
    assert_int_equal(reminders_set_opts(rm, &o), 0);
    reminders_get_stats(rm, &s);
    uint64_t runs = s.runs;
    assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);  /* no events */
    reminders_get_stats(rm, &s);
    assert_int_equal(s.runs, runs);
    reminders_free(rm);
    store_close(f->db.st);                     /* its commit event is on base */
    f->db.st = NULL;
    event_base_free(base);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, tmpdb_teardown)

int main(void)
{
    /* Bishkek, UTC+6, no DST; a POSIX TZ string needs no tzdata */
    setenv("TZ", "KGT-6", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tomorrow),
        T(test_who_gets_one),
        T(test_fallback_and_rule_off),
        T(test_agency_template),
        T(test_crash_between_enqueue_and_mark),
        T(test_pages),
        T(test_open_batch),
        T(test_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
