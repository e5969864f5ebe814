/*
 * tests/unit/test_booking.c — the USSD booking sub-dialog and its SMS
 * texts (gateway/booking.c) on a real SQLite store in a fresh mkdtemp
 * directory per test.
 *
 * Each test publishes its own agencies, services, offices and slots, then
 * drives booking_step() the way gateway/ussd does: the state of one turn
 * is the res.state of the turn before, answers are the strings a citizen
 * types, the set's reserved keys are "0" (back) and "99" (more).  The
 * clock is fixed (TZ=UTC, now = Tue 2026-12-01 12:00) so days, week-day
 * names and "past times" are deterministic.  Every screen a turn returns
 * is checked to fit one USSD message (menu_text_octets <= 160).
 *
 * Cases: the full walk in ky, ru and en with the SMS it queues; one-entry
 * lists skipped and "back" from the first shown list; pagination with
 * global choice numbers; invalid input; past times of today; the horizon;
 * capacity (a place taken between list and confirmation); a write in the
 * store's batch, durable only with the commit; one active
 * booking per service; manage mode (cancel, move); another phone's
 * booking; garbage states; no store; the agency's SMS templates.
 *
 * Owns: its temp directories (made and removed by tests/unit/tmpdb.h).
 * May call: gateway/booking.h, gateway/store.h, menus/screen.h,
 * tests/unit/tmpdb.h, tests/unit/clock_at.h, libc, POSIX, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/clock_at.h"
#include "tests/unit/tmpdb.h"
#include "gateway/booking.h"
#include "gateway/store.h"
#include "menus/screen.h"

#define PHONE_A "+996555123456"
#define CANON_A "996555123456"
#define PHONE_B "+996700987654"


#define NOW clock_at(2026, 12, 1, 12, 0)   /* a Tuesday, noon */

struct fx {
    struct tmpdb db;                   /* first: tmpdb_setup/teardown */
    int64_t agency;
    /* the dialog being driven */
    int mode;
    unsigned horizon;
    const char *phone, *lang, *services;
    const char *const *texts;          /* the operator's wording, or NULL */
    char state[BOOKING_STATE_MAX + 1];
    struct booking_res res;
};

static int seed(void *fx)
{
    struct fx *f = fx;
    f->phone = PHONE_A;
    f->lang = "ky";
    return store_agency_put(f->db.st, "psc", "Public Service Centre",
                            &f->agency) == STORE_OK ? 0 : -1;
}

static int fx_setup(void **state)
{
    return tmpdb_setup(state, sizeof(struct fx), "kzbook", seed);
}

/* ---- data ----------------------------------------------------------------- */

static int64_t service(struct fx *f, const char *code, const char *ky,
                       const char *ru, const char *en)
{
    int64_t id = 0;
    assert_int_equal(store_service_put(f->db.st, f->agency, code, &id), STORE_OK);
    assert_int_equal(store_service_name_set(f->db.st, id, "ky", ky), STORE_OK);
    assert_int_equal(store_service_name_set(f->db.st, id, "ru", ru), STORE_OK);
    assert_int_equal(store_service_name_set(f->db.st, id, "en", en), STORE_OK);
    return id;
}

static int64_t office(struct fx *f, const char *code, const char *ky,
                      const char *ru, const char *en, const char *addr)
{
    int64_t id = 0;
    assert_int_equal(store_office_put(f->db.st, f->agency, code, &id), STORE_OK);
    assert_int_equal(store_office_name_set(f->db.st, id, "ky", ky, addr), STORE_OK);
    assert_int_equal(store_office_name_set(f->db.st, id, "ru", ru, addr), STORE_OK);
    assert_int_equal(store_office_name_set(f->db.st, id, "en", en, addr), STORE_OK);
    return id;
}

static int64_t slot(struct fx *f, int64_t off, int64_t svc, const char *day,
                    const char *time, int cap)
{
    int64_t id = 0;
    assert_int_equal(store_slot_put(f->db.st, off, svc, day, time, cap, &id), STORE_OK);
    return id;
}

static int booked(struct fx *f, int64_t slot_id)
{
    struct store_slot sl;
    assert_int_equal(store_slot_get(f->db.st, slot_id, &sl), STORE_OK);
    return sl.booked;
}

static void booking_state(struct fx *f, int64_t id, const char *want)
{
    struct store_booking b;
    char st[16] = "";
    assert_int_equal(store_booking_get(f->db.st, id, &b, st, sizeof st), STORE_OK);
    assert_string_equal(st, want);
}

/* ---- driving -------------------------------------------------------------- */

/* One turn with the fixture's dialog; in NULL on entry.  Checks what must
 * hold of every answer and keeps the state of a CON screen. */
static int turn(struct fx *f, const char *in)
{
    struct booking_req rq = {
        .mode = f->mode, .services = f->services, .horizon_days = f->horizon,
        .state = f->state, .input = in, .phone = f->phone, .lang = f->lang,
        .fallback_lang = "ky", .key_back = "0", .key_more = "99",
        .label_back = "0 Артка", .label_more = "99 Дагы", .now_ms = NOW,
        .texts = f->texts,
    };
    assert_int_equal(booking_step(f->db.st, &rq, &f->res), 0);
    struct booking_res *r = &f->res;
    assert_true(r->outcome >= BOOKING_CON && r->outcome <= BOOKING_BUSY);
    assert_int_equal(r->screen_len, strlen(r->screen));
    assert_true(strlen(r->state) <= BOOKING_STATE_MAX);
    if (r->outcome == BOOKING_CON || r->outcome == BOOKING_END) {
        int enc = 0;
        assert_true(r->screen_len > 0);
        assert_true(menu_text_octets(r->screen, r->screen_len, &enc) <= 160);
    }
    if (r->outcome == BOOKING_CON) {
        assert_true(r->state[0] != '\0');
        snprintf(f->state, sizeof f->state, "%s", r->state);
    } else if (r->outcome != BOOKING_BUSY) {   /* busy: the same turn again */
        f->state[0] = '\0';
    }
    return r->outcome;
}

static void start(struct fx *f, int mode, const char *lang, const char *phone)
{
    f->mode = mode;
    f->lang = lang;
    f->phone = phone;
    f->state[0] = '\0';
}

/* The turn, checked; the first string of ap its screen lacks, or NULL. */
static const char *vstep(struct fx *f, const char *in, int want, va_list ap)
{
    assert_int_equal(turn(f, in), want);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        if (!strstr(f->res.screen, s))
            return s;
    return NULL;
}

static void screen_has(struct fx *f, const char *lacking)
{
    if (lacking)
        fail_msg("screen lacks \"%s\":\n%s", lacking, f->res.screen);
}

/* One turn (in NULL: a resume) that must answer `want` with a screen
 * showing every string of the NULL-ended list that follows. */
static void step(struct fx *f, const char *in, int want, ...)
{
    va_list ap;
    va_start(ap, want);
    const char *lacking = vstep(f, in, want, ap);
    va_end(ap);
    screen_has(f, lacking);
}

/* A new dialog (start) and its entry turn, checked as step() does. */
static void enter(struct fx *f, int mode, const char *lang, const char *phone,
                  int want, ...)
{
    start(f, mode, lang, phone);
    va_list ap;
    va_start(ap, want);
    const char *lacking = vstep(f, NULL, want, ap);
    va_end(ap);
    screen_has(f, lacking);
}

/* Turns in a row: the entry (no input) when `entry`, then each input of
 * the space-separated path; every turn but the last must answer CON, the
 * last one `last`. */
static void turns(struct fx *f, bool entry, const char *path, int last)
{
    const char *in[16];
    size_t n = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", path);
    if (entry)
        in[n++] = NULL;
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t && n < 16; t = strtok_r(NULL, " ", &save))
        in[n++] = t;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(turn(f, in[i]), i + 1 == n ? last : BOOKING_CON);
}

/* One service (passport) at one office (b1): both lists are skipped. */
struct node {
    int64_t svc, off;
};

static struct node one_node(struct fx *f)
{
    struct node n;
    n.svc = service(f, "passport", "Паспорт", "Паспорт", "Passport");
    n.off = office(f, "b1", "ЦОН №1", "ЦОН №1", "PSC 1", "Чуй 100");
    return n;
}

#define SEES(f, s) do {                                                    \
        if (!strstr((f)->res.screen, (s)))                                 \
            fail_msg("screen lacks \"%s\":\n%s", (s), (f)->res.screen);    \
    } while (0)
#define LACKS(f, s) do {                                                   \
        if (strstr((f)->res.screen, (s)))                                  \
            fail_msg("screen has \"%s\":\n%s", (s), (f)->res.screen);      \
    } while (0)

/* Two services, two offices for the first, a few slots. */
struct world {
    int64_t passport, license, o1, o2;
    int64_t p1_d2_0900, p1_d2_1000, p1_d3_0900, p2_d2_1100, l1_d4_0900;
};

static void world(struct fx *f, struct world *w)
{
    w->passport = service(f, "passport", "Паспорт алуу", "Получение паспорта",
                          "Passport");
    w->license = service(f, "license", "Айдоочу күбөлүгү",
                         "Водительское удостоверение", "Driving licence");
    w->o1 = office(f, "bishkek-1", "ЦОН №1", "ЦОН №1", "PSC 1", "Чуй 100");
    w->o2 = office(f, "osh-1", "ЦОН Ош", "ЦОН Ош", "PSC Osh", "Ленина 5");
    w->p1_d2_0900 = slot(f, w->o1, w->passport, "2026-12-02", "09:00", 5);
    w->p1_d2_1000 = slot(f, w->o1, w->passport, "2026-12-02", "10:00", 5);
    w->p1_d3_0900 = slot(f, w->o1, w->passport, "2026-12-03", "09:00", 5);
    w->p2_d2_1100 = slot(f, w->o2, w->passport, "2026-12-02", "11:00", 5);
    w->l1_d4_0900 = slot(f, w->o1, w->license, "2026-12-04", "09:00", 5);
}

/* ---- the full walk -------------------------------------------------------- */

struct lang_case {
    const char *lang;
    const char *t_service, *t_office, *t_day, *passport, *office1, *wed;
    const char *t_time, *confirm, *booked, *sms_head, *sms_at;
};

static const struct lang_case lang_cases[] = {
    { "ky", "Кызматты тандаңыз:", "Бөлүмдү тандаңыз:", "Күндү тандаңыз:",
      "Паспорт алуу", "ЦОН №1", "Шр 02.12", "убакытты тандаңыз:", "1. Ырастоо",
      "Сиз жазылдыңыз: Шр 02.12, 10:00, ЦОН №1. Талон №",
      "Кызматтар борбору: Паспорт алуу, 02.12.2026 саат 10:00, ЦОН №1, Чуй 100. Талон №",
      NULL },
    { "ru", "Выберите услугу:", "Выберите отделение:", "Выберите день:",
      "Получение паспорта", "ЦОН №1", "Ср 02.12", "выберите время:",
      "1. Записаться", "Вы записаны: Ср 02.12, 10:00, ЦОН №1. Талон №",
      "Центр госуслуг: Получение паспорта, 02.12.2026 в 10:00, ЦОН №1, Чуй 100. Талон №",
      NULL },
    { "en", "Choose a service:", "Choose an office:", "Choose a day:",
      "Passport", "PSC 1", "Wed 02.12", "choose a time:", "1. Confirm",
      "Booked: Wed 02.12, 10:00, PSC 1. Ticket ",
      "Public Service Centre: Passport, 02.12.2026 at 10:00, PSC 1, Chui 100. Ticket ",
      NULL },
};

static void walk_in(void **state, const struct lang_case *lc)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    if (strcmp(lc->lang, "en") == 0)   /* an English address too */
        assert_int_equal(store_office_name_set(f->db.st, w.o1, "en", "PSC 1",
                                               "Chui 100"), STORE_OK);
    enter(f, BOOKING_BOOK, lc->lang, PHONE_A, BOOKING_CON, lc->t_service, NULL);
    char line[128];
    snprintf(line, sizeof line, "1. %s", lc->passport);
    SEES(f, line);
    SEES(f, "0 Артка");

    step(f, "1", BOOKING_CON, lc->t_office, NULL);
    snprintf(line, sizeof line, "1. %s", lc->office1);
    SEES(f, line);

    step(f, "1", BOOKING_CON, lc->t_day, NULL);
    snprintf(line, sizeof line, "1. %s", lc->wed);
    SEES(f, line);
    LACKS(f, "01.12");                 /* nothing left today */

    step(f, "1", BOOKING_CON, lc->t_time, lc->wed, "1. 09:00", "2. 10:00", NULL);

    step(f, "2", BOOKING_CON, lc->passport, lc->office1, "10:00", lc->confirm, NULL);
    assert_int_equal(booked(f, w.p1_d2_1000), 0);

    assert_int_equal(turn(f, "1"), BOOKING_END);
    int64_t id = f->res.booking_id;
    assert_true(id > 0);
    char want[400];
    snprintf(want, sizeof want, "%s%lld", lc->booked, (long long)id);
    SEES(f, want);
    assert_int_equal(booked(f, w.p1_d2_1000), 1);
    booking_state(f, id, "active");

    struct store_booking b;
    assert_int_equal(store_booking_get(f->db.st, id, &b, NULL, 0), STORE_OK);
    assert_string_equal(b.msisdn, CANON_A);
    assert_int_equal(b.slot_id, w.p1_d2_1000);
    assert_string_equal(b.lang, lc->lang);

    assert_true(f->res.sms_id > 0);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, f->res.sms_id, &m), STORE_OK);
    snprintf(want, sizeof want, "%s%lld.", lc->sms_head, (long long)id);
    assert_string_equal(m->text, want);
    assert_true(m->law_required);
    assert_string_equal(m->to, CANON_A);
    assert_string_equal(m->lang, lc->lang);
    store_msg_free(m);
}

static void test_walk_ky(void **state) { walk_in(state, &lang_cases[0]); }
static void test_walk_ru(void **state) { walk_in(state, &lang_cases[1]); }
static void test_walk_en(void **state) { walk_in(state, &lang_cases[2]); }

/* An unknown language falls back to the set's default (ky). */
static void test_walk_unknown_lang(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    enter(f, BOOKING_BOOK, "de", PHONE_A, BOOKING_CON, "Кызматты тандаңыз:",
          "1. Паспорт алуу", NULL);
}

/* ---- skipping and back ---------------------------------------------------- */

static void test_single_entries_skipped(void **state)
{
    struct fx *f = *state;
    struct node n = one_node(f);
    slot(f, n.off, n.svc, "2026-12-02", "09:00", 3);
    slot(f, n.off, n.svc, "2026-12-03", "09:00", 3);
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, "Choose a day:", "1. Wed 02.12",
          "2. Thu 03.12", NULL);
    /* into the times and back to the days, still the node */
    step(f, "2", BOOKING_CON, "Thu 03.12: choose a time:", NULL);
    step(f, "0", BOOKING_CON, "Choose a day:", NULL);
    /* back from the first list shown leaves the node */
    assert_int_equal(turn(f, "0"), BOOKING_BACK);

    /* with two services the service list is shown, the office skipped,
     * and back from the days goes to the services */
    int64_t lic = service(f, "license", "Күбөлүк", "Права", "Licence");
    slot(f, n.off, lic, "2026-12-04", "09:00", 3);
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, "Choose a service:",
          "2. Licence", NULL);
    step(f, "2", BOOKING_CON, "Choose a day:", "1. Fri 04.12", NULL);
    step(f, "0", BOOKING_CON, "Choose a service:", NULL);
    assert_int_equal(turn(f, "0"), BOOKING_BACK);
}

/* The services offered can be restricted by code. */
static void test_services_configured(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    f->services = " license , nosuch";
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, NULL);
    SEES(f, "Choose a day:");          /* one service, one office: skipped */
    SEES(f, "1. Fri 04.12");
    LACKS(f, "Wed");
}

/* ---- pagination ----------------------------------------------------------- */

static void test_pagination(void **state)
{
    struct fx *f = *state;
    struct node n = one_node(f);
    int64_t ids[20];
    char times[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(times[i], sizeof times[i], "%02d:%02d", 9 + i / 2, i % 2 ? 30 : 0);
        ids[i] = slot(f, n.off, n.svc, "2026-12-02", times[i], 2);
    }
    enter(f, BOOKING_BOOK, "ru", PHONE_A, BOOKING_CON, "1. Ср 02.12", NULL);
    step(f, "1", BOOKING_CON, "выберите время:", "1. 09:00", "99 Дагы", NULL);
    LACKS(f, "20. 18:30");

    /* page through: every choice number appears exactly once, in order */
    int next = 1, pages = 1, page15 = -1;
    char line[32];
    for (;;) {
        int first = next;
        while (next <= 20) {
            snprintf(line, sizeof line, "%d. %s", next, times[next - 1]);
            if (!strstr(f->res.screen, line))
                break;
            if (next == 15)
                page15 = pages;
            next++;
        }
        assert_true(next > first);     /* each page shows something new */
        if (next > 20)
            break;
        SEES(f, "99 Дагы");
        assert_int_equal(turn(f, "99"), BOOKING_CON);
        pages++;
        assert_true(pages < 20);
    }
    assert_true(pages >= 3);
    assert_true(page15 >= 2);
    LACKS(f, "99 Дагы");               /* the last page has no "more" */
    /* more on the last page stays there */
    step(f, "99", BOOKING_CON, "20. 18:30", NULL);
    /* back on a later page goes a page back, not a stage back */
    step(f, "0", BOOKING_CON, "99 Дагы", NULL);
    LACKS(f, "20. 18:30");
    step(f, "99", BOOKING_CON, "20. 18:30", NULL);

    /* the numbers are global: "15" books the 15th time from any page */
    step(f, "15", BOOKING_CON, times[14], "1. Записаться", NULL);
    step(f, "1", BOOKING_END, times[14], NULL);
    struct store_booking b;
    assert_int_equal(store_booking_get(f->db.st, f->res.booking_id, &b, NULL, 0),
                     STORE_OK);
    assert_int_equal(b.slot_id, ids[14]);
    assert_string_equal(b.time, "16:00");
}

/* ---- invalid input --------------------------------------------------------- */

static void test_invalid_input(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, NULL);
    char before[BOOKING_STATE_MAX + 1];
    snprintf(before, sizeof before, "%s", f->state);
    const char *bad[] = { "7", "abc", "", "1a", "-1", "00", "0001",
                          "99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(turn(f, bad[i]), BOOKING_CON);
        if (strncmp(f->res.screen, "Invalid choice.\n", 16) != 0)
            fail_msg("input \"%s\": %s", bad[i], f->res.screen);
        SEES(f, "Choose a service:");
        assert_string_equal(f->state, before);
    }
    /* and the dialog goes on after it */
    step(f, "2", BOOKING_CON, "Choose a day:", "Fri 04.12", NULL);
    assert_int_equal(turn(f, "1"), BOOKING_CON);
    step(f, "1", BOOKING_CON, "1. Confirm", NULL);
    /* only 1 confirms */
    step(f, "2", BOOKING_CON, "Invalid choice.", "1. Confirm", NULL);
    assert_int_equal(booked(f, w.l1_d4_0900), 0);
    /* a resume (no input) redraws the same stage without a note */
    step(f, NULL, BOOKING_CON, "1. Confirm", NULL);
    LACKS(f, "Invalid choice.");
}

/* ---- time ------------------------------------------------------------------ */

static void test_past_times_hidden(void **state)
{
    struct fx *f = *state;
    struct node n = one_node(f);
    slot(f, n.off, n.svc, "2026-12-01", "09:00", 3);
    slot(f, n.off, n.svc, "2026-12-01", "12:00", 3);   /* now: gone too */
    int64_t s15 = slot(f, n.off, n.svc, "2026-12-01", "15:00", 3);
    slot(f, n.off, n.svc, "2026-12-02", "08:00", 3);
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, "1. Tue 01.12", "2. Wed 02.12",
          NULL);
    step(f, "1", BOOKING_CON, "1. 15:00", NULL);
    LACKS(f, "09:00");
    LACKS(f, "12:00");
    LACKS(f, "2. ");
    assert_int_equal(turn(f, "1"), BOOKING_CON);
    assert_int_equal(turn(f, "1"), BOOKING_END);
    struct store_booking b;
    assert_int_equal(store_booking_get(f->db.st, f->res.booking_id, &b, NULL, 0),
                     STORE_OK);
    assert_int_equal(b.slot_id, s15);

    /* once the 15:00 place is gone, today has nothing ahead: not offered */
    int64_t same = 0;
    assert_int_equal(store_slot_put(f->db.st, n.off, n.svc, "2026-12-01", "15:00", 1,
                                    &same), STORE_OK);
    assert_int_equal(same, s15);
    enter(f, BOOKING_BOOK, "en", PHONE_B, BOOKING_CON, "1. Wed 02.12", NULL);
    LACKS(f, "01.12");
}

static void test_horizon(void **state)
{
    struct fx *f = *state;
    struct node n = one_node(f);
    slot(f, n.off, n.svc, "2026-12-03", "09:00", 3);
    slot(f, n.off, n.svc, "2026-12-04", "09:00", 3);
    slot(f, n.off, n.svc, "2026-12-14", "09:00", 3);
    slot(f, n.off, n.svc, "2026-12-15", "09:00", 3);
    start(f, BOOKING_BOOK, "en", PHONE_A);
    /* default: 14 days, today included -> up to 2026-12-14 */
    step(f, NULL, BOOKING_CON, "1. Thu 03.12", "2. Fri 04.12", "3. Mon 14.12", NULL);
    LACKS(f, "15.12");
    /* three days: 01..03 */
    f->horizon = 3;
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, "1. Thu 03.12", NULL);
    LACKS(f, "04.12");
    LACKS(f, "2. ");
    /* one day (today): nothing to offer at all */
    f->horizon = 1;
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_END, "No free days there.", NULL);
}

/* ---- capacity -------------------------------------------------------------- */

static void test_capacity_just_taken(void **state)
{
    struct fx *f = *state;
    struct node n = one_node(f);
    int64_t one = slot(f, n.off, n.svc, "2026-12-02", "09:00", 1);
    slot(f, n.off, n.svc, "2026-12-02", "10:00", 4);

    /* B walks to the confirmation of 09:00 and waits */
    struct fx fb;
    memcpy(&fb, f, sizeof fb);
    start(&fb, BOOKING_BOOK, "en", PHONE_B);
    turns(&fb, true, "1 1", BOOKING_CON);
    SEES(&fb, "09:00");
    SEES(&fb, "1. Confirm");

    /* A takes the only place */
    start(f, BOOKING_BOOK, "en", PHONE_A);
    turns(f, true, "1 1 1", BOOKING_END);
    assert_int_equal(booked(f, one), 1);

    /* B confirms: told, shown the times again (without 09:00) */
    step(&fb, "1", BOOKING_CON, "That time was just taken.", "choose a time:",
         "1. 10:00", NULL);
    LACKS(&fb, "09:00");
    assert_int_equal(fb.res.booking_id, 0);
    assert_int_equal(fb.res.sms_id, 0);
    assert_int_equal(booked(f, one), 1);
    struct store_booking bs[4];
    size_t nb = 9;
    assert_int_equal(store_bookings_active(f->db.st, "996700987654", bs, 4, &nb),
                     STORE_OK);
    assert_int_equal(nb, 0);
    /* B can still book the other time */
    assert_int_equal(turn(&fb, "1"), BOOKING_CON);
    step(&fb, "1", BOOKING_END, "10:00", NULL);
}

/* The operator's wording (settings.booking_texts) replaces the built-in
 * screens it names, placeholders filled; the others stay built in. */
static void test_operator_texts(void **state)
{
    struct fx *f = *state;
    struct node n = one_node(f);
    slot(f, n.off, n.svc, "2026-12-02", "09:00", 2);
    const char *words[MENU_BT_COUNT] = { 0 };
    words[MENU_BT_DAY] = "Which day suits you?";
    words[MENU_BT_YES_BOOK] = "1. Yes, book it";
    words[MENU_BT_BOOKED] = "See you {day} at {time}. No. {ticket}";
    f->texts = words;
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, "Which day suits you?", NULL);
    LACKS(f, "Choose a day");
    assert_int_equal(turn(f, "1"), BOOKING_CON);
    SEES(f, "choose a time");                      /* not reworded: built in */
    step(f, "1", BOOKING_CON, "1. Yes, book it", NULL);
    step(f, "1", BOOKING_END, "See you Wed 02.12 at 09:00. No. ", NULL);
    f->texts = NULL;
}

/* Another gateway holds the write lock past the busy timeout: the turn
 * says so (BUSY), nothing changed, and the same turn later books. */
static void test_busy_is_retryable(void **state)
{
    struct fx *f = *state;
    struct node n = one_node(f);
    int64_t one = slot(f, n.off, n.svc, "2026-12-02", "09:00", 2);
    /* days (lists skipped) */
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, NULL);
    assert_int_equal(turn(f, "1"), BOOKING_CON);
    step(f, "1", BOOKING_CON, "1. Confirm", NULL);
    struct store *other = tmpdb_connect(&f->db);
    assert_int_equal(store_attach(other, NULL), STORE_OK);
    /* a write opens its batch, which holds the lock */
    assert_int_equal(store_lookup_clear(other, "996700000000"), STORE_OK);
    assert_int_equal(turn(f, "1"), BOOKING_BUSY);
    SEES(f, "dial again");                           /* the give-up text */
    assert_int_equal(f->res.booking_id, 0);
    assert_int_equal(f->res.sms_id, 0);
    store_close(other);                              /* rolled back */
    assert_int_equal(booked(f, one), 0);
    /* the caller runs the same turn again: now it books */
    step(f, "1", BOOKING_END, "Booked", NULL);
    assert_int_equal(booked(f, one), 1);
}

/* In the store's batch (attached): the booking and its SMS are one group,
 * durable only with the commit, and gone together when it fails. */
static void test_write_joins_batch(void **state)
{
    struct fx *f = *state;
    struct node n = one_node(f);
    int64_t one = slot(f, n.off, n.svc, "2026-12-02", "09:00", 2);
    struct store *other = tmpdb_connect(&f->db);
    assert_int_equal(store_attach(f->db.st, NULL), STORE_OK);
    start(f, BOOKING_BOOK, "en", PHONE_A);
    turns(f, true, "1 1", BOOKING_CON);
    char keep[BOOKING_STATE_MAX + 1];
    snprintf(keep, sizeof keep, "%s", f->res.state);
    step(f, "1", BOOKING_END, "Booked", NULL);
    assert_true(f->res.booking_id > 0 && f->res.sms_id > 0);
    assert_int_equal(booked(f, one), 1);            /* this connection */
    struct store_slot sl;
    assert_int_equal(store_slot_get(other, one, &sl), STORE_OK);
    assert_int_equal(sl.booked, 0);                 /* not durable yet */
    /* the commit fails: the booking and its SMS are gone together */
    int64_t sms = f->res.sms_id;
    store_test_fail_commits(f->db.st, 1);
    assert_int_equal(store_flush(f->db.st), STORE_ERROR);
    assert_int_equal(booked(f, one), 0);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, sms, &m), STORE_NOTFOUND);
    /* the same confirmation again: now it is kept */
    snprintf(f->state, sizeof f->state, "%s", keep);
    assert_int_equal(turn(f, "1"), BOOKING_END);
    assert_int_equal(store_flush(f->db.st), STORE_OK);
    assert_int_equal(store_slot_get(other, one, &sl), STORE_OK);
    assert_int_equal(sl.booked, 1);
    assert_int_equal(store_msg_get(other, f->res.sms_id, &m), STORE_OK);
    store_msg_free(m);
    store_close(other);
}

static void test_one_active_per_service(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    start(f, BOOKING_BOOK, "en", PHONE_A);
    turns(f, true, "1 1", BOOKING_CON);
    assert_int_equal(turn(f, "2"), BOOKING_CON);   /* Thu 03.12 */
    assert_int_equal(turn(f, "1"), BOOKING_CON);
    assert_int_equal(turn(f, "1"), BOOKING_END);
    int64_t first = f->res.booking_id;
    assert_int_equal(booked(f, w.p1_d3_0900), 1);

    /* again, the same service in another office */
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, NULL);
    assert_int_equal(turn(f, "1"), BOOKING_CON);
    /* PSC Osh: day list */
    step(f, "2", BOOKING_CON, "1. Wed 02.12", NULL);
    assert_int_equal(turn(f, "1"), BOOKING_CON);
    step(f, "1", BOOKING_CON, "11:00", NULL);
    step(f, "1", BOOKING_END,
         "You already have a booking for this service: Thu 03.12, 09:00.", NULL);
    assert_int_equal(f->res.booking_id, 0);
    assert_int_equal(f->res.sms_id, 0);
    assert_int_equal(booked(f, w.p2_d2_1100), 0);
    booking_state(f, first, "active");

    /* another service is fine */
    enter(f, BOOKING_BOOK, "en", PHONE_A, BOOKING_CON, NULL);
    /* one office: skipped */
    step(f, "2", BOOKING_CON, "1. Fri 04.12", NULL);
    turns(f, false, "1 1 1", BOOKING_END);
    SEES(f, "Booked: Fri 04.12, 09:00, PSC 1.");
}

/* Final screens are one USSD message too (the step engine shows page 0
 * of an end text only): a long office name is cut, never the ticket, and
 * the "already" text fits in every language. */
static void test_end_screens_fit(void **state)
{
    struct fx *f = *state;
    int64_t svc = service(f, "passport", "Паспорт", "Паспорт", "Passport");
    int64_t off = office(f, "b1",
        "Калкты тейлөө борбору Октябрь районунун №3 бөлүмү",
        "Центр обслуживания населения Октябрьского района №3",
        "Public Service Centre of the Oktyabr district, branch 3", "Чуй 100");
    slot(f, off, svc, "2026-12-02", "09:00", 10);
    const char *langs[] = { "ky", "ru", "en" };
    const char *phones[] = { PHONE_A, PHONE_B, "+996777000111" };
    const char *ticket[] = { "Талон №", "Талон №", "Ticket " };
    for (int i = 0; i < 3; i++) {
        start(f, BOOKING_BOOK, langs[i], phones[i]);
        turns(f, true, "1 1 1", BOOKING_END);   /* fits: checked by turn */
        char want[64];
        snprintf(want, sizeof want, "%s%lld.", ticket[i],
                 (long long)f->res.booking_id);
        SEES(f, want);
        /* and again: "already" */
        start(f, BOOKING_BOOK, langs[i], phones[i]);
        turns(f, true, "1 1 1", BOOKING_END);
        SEES(f, "09:00");
        assert_int_equal(f->res.booking_id, 0);
    }
}

/* ---- manage ---------------------------------------------------------------- */

/* A books w's Wed 10:00 passport slot in lang through the dialog. */
static int64_t book_via_dialog(struct fx *f, const char *lang, const char *phone)
{
    start(f, BOOKING_BOOK, lang, phone);
    turns(f, true, "1 1 1 2 1", BOOKING_END);
    return f->res.booking_id;
}

static void test_manage_cancel(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    int64_t id = book_via_dialog(f, "ru", PHONE_A);
    assert_int_equal(booked(f, w.p1_d2_1000), 1);

    /* the local form of the same phone */
    enter(f, BOOKING_MANAGE, "en", "0555123456", BOOKING_CON, "Your bookings:",
          "1. Wed 02.12 10:00 Passport", NULL);
    step(f, "1", BOOKING_CON, "1. Cancel it", "2. Move it", "PSC 1", NULL);
    /* back to the list and in again */
    step(f, "0", BOOKING_CON, "Your bookings:", NULL);
    assert_int_equal(turn(f, "1"), BOOKING_CON);
    step(f, "1", BOOKING_CON, "Cancel this booking?", "Passport, Wed 02.12, 10:00",
         "1. Yes", NULL);
    step(f, "1", BOOKING_END, "Your booking is cancelled.", NULL);
    assert_int_equal(f->res.booking_id, id);
    assert_int_equal(booked(f, w.p1_d2_1000), 0);
    booking_state(f, id, "cancelled");
    struct store_msg *m = NULL;
    assert_true(f->res.sms_id > 0);
    assert_int_equal(store_msg_get(f->db.st, f->res.sms_id, &m), STORE_OK);
    assert_string_equal(m->text, "Public Service Centre: your booking Passport, "
                        "02.12.2026 at 10:00 is cancelled.");
    assert_string_equal(m->to, CANON_A);
    assert_true(m->law_required);
    store_msg_free(m);

    /* nothing left to manage */
    enter(f, BOOKING_MANAGE, "en", PHONE_A, BOOKING_END, "You have no bookings.", NULL);
}

static void test_manage_move(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    int64_t id = book_via_dialog(f, "ky", PHONE_A);
    int64_t s16 = slot(f, w.o1, w.passport, "2026-12-02", "16:00", 2);

    enter(f, BOOKING_MANAGE, "ru", PHONE_A, BOOKING_CON, "Ваши записи:", NULL);
    step(f, "1", BOOKING_CON, "2. Перенести", NULL);
    step(f, "2", BOOKING_CON, "Выберите день:", "1. Ср 02.12", "2. Чт 03.12", NULL);
    /* back from the days returns to the booking */
    step(f, "0", BOOKING_CON, "2. Перенести", NULL);
    assert_int_equal(turn(f, "2"), BOOKING_CON);
    step(f, "1", BOOKING_CON, "3. 16:00", NULL);
    step(f, "3", BOOKING_CON, "16:00", NULL);
    assert_int_equal(turn(f, "1"), BOOKING_END);
    int64_t nid = f->res.booking_id;
    assert_true(nid > 0 && nid != id);
    char want[400];
    snprintf(want, sizeof want, "Запись перенесена: Ср 02.12, 16:00, ЦОН №1. "
             "Талон №%lld.", (long long)nid);
    SEES(f, want);
    booking_state(f, id, "moved");
    booking_state(f, nid, "active");
    assert_int_equal(booked(f, w.p1_d2_1000), 0);
    assert_int_equal(booked(f, s16), 1);
    struct store_msg *m = NULL;
    assert_true(f->res.sms_id > 0);
    assert_int_equal(store_msg_get(f->db.st, f->res.sms_id, &m), STORE_OK);
    snprintf(want, sizeof want, "Центр госуслуг: запись перенесена: Получение "
             "паспорта, 02.12.2026 в 16:00, ЦОН №1, Чуй 100. Талон №%lld.",
             (long long)nid);
    assert_string_equal(m->text, want);
    assert_true(m->law_required);
    store_msg_free(m);
}

/* Another phone's booking: not listed, not reachable by a forged state. */
static void test_other_phone(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    int64_t id = book_via_dialog(f, "en", PHONE_A);
    int64_t msgs_before = f->res.sms_id;

    enter(f, BOOKING_MANAGE, "en", PHONE_B, BOOKING_END, "You have no bookings.", NULL);

    const char *inputs[] = { NULL, "1", "2" };
    const char forms[] = { 'B', 'X' };
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < 3; i++) {
            start(f, BOOKING_MANAGE, "en", PHONE_B);
            snprintf(f->state, sizeof f->state, "%c;s=%lld;b=%lld", forms[k],
                     (long long)w.passport, (long long)id);
            int out = turn(f, inputs[i]);
            if (out != BOOKING_END || !strstr(f->res.screen, "no longer exists"))
                fail_msg("%s + %s: %d %s", f->state, inputs[i] ? inputs[i] : "(resume)",
                         out, f->res.screen);
            assert_int_equal(f->res.sms_id, 0);
        }
    /* a forged move confirmation */
    start(f, BOOKING_MANAGE, "en", PHONE_B);
    snprintf(f->state, sizeof f->state, "C;s=%lld;o=%lld;t=%lld;b=%lld;d=2026-12-03",
             (long long)w.passport, (long long)w.o1, (long long)w.p1_d3_0900,
             (long long)id);
    step(f, "1", BOOKING_END, "no longer exists", NULL);
    assert_int_equal(f->res.sms_id, 0);

    booking_state(f, id, "active");
    assert_int_equal(booked(f, w.p1_d2_1000), 1);
    assert_int_equal(booked(f, w.p1_d3_0900), 0);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, msgs_before + 1, &m), STORE_NOTFOUND);
}

/* ---- robustness ------------------------------------------------------------ */

static void test_garbage_state(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    char longs[201];
    memset(longs, 'T', 200);
    longs[200] = '\0';
    char longk[201];
    memset(longk, ';', 200);
    longk[0] = 'D';
    longk[200] = '\0';
    const char *bad[] = { "Z;;", "T;s=abc", longs, longk, "S;", "S;s", "S;s=",
                          "T;s=-1", "T;d=2026", "D;p=101", "D;f=9",
                          "T;s=999999999999999999999999", "S;q=1", "C;t=1;;" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int inp = 0; inp < 2; inp++) {
            start(f, BOOKING_BOOK, "en", PHONE_A);
            snprintf(f->state, sizeof f->state, "%s", bad[i]);
            assert_int_equal(turn(f, inp ? "1" : NULL), BOOKING_CON);
            if (!strstr(f->res.screen, "Choose a service:"))
                fail_msg("state \"%s\": %s", bad[i], f->res.screen);
            assert_int_equal(f->state[0], 'S');
        }
    /* well-formed but pointing at nothing */
    const char *odd[] = { "T;s=999;o=999;d=2026-12-02", "C;t=99999",
                          "D;s=999;o=999", "L;b=5", "O;s=424242", "T;s=99999999999999999999999",
                          "T;d=abcdefghij" };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        for (int inp = 0; inp < 3; inp++) {
            start(f, BOOKING_BOOK, "en", PHONE_A);
            snprintf(f->state, sizeof f->state, "%s", odd[i]);
            int out = turn(f, inp == 0 ? NULL : inp == 1 ? "1" : "0");
            if (out == BOOKING_FAIL)
                fail_msg("state \"%s\" + %d: %s", odd[i], inp, f->res.why);
        }
    assert_int_equal(booked(f, w.p1_d2_0900) + booked(f, w.p1_d2_1000) +
                     booked(f, w.p1_d3_0900), 0);
}

static void test_no_store(void **state)
{
    (void)state;
    struct booking_req rq = {
        .phone = PHONE_A, .lang = "en", .fallback_lang = "ky",
        .key_back = "0", .key_more = "99", .label_back = "0 Артка",
        .label_more = "99 Дагы", .now_ms = NOW,
    };
    struct booking_res res;
    assert_int_equal(booking_step(NULL, &rq, &res), 0);
    assert_int_equal(res.outcome, BOOKING_FAIL);
    assert_true(res.why[0] != '\0');
    assert_int_equal(booking_step(NULL, NULL, &res), -1);
    assert_int_equal(booking_step(NULL, &rq, NULL), -1);
}

static void test_bad_phone(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    enter(f, BOOKING_BOOK, "en", "not a phone", BOOKING_FAIL, NULL);
    assert_true(f->res.why[0] != '\0');
}

/* Does s end on a whole UTF-8 character? */
static bool utf8_whole(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2
                 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        if (!k)
            return false;
        for (size_t i = 1; i < k; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += k;
    }
    return true;
}

/* ---- SMS templates --------------------------------------------------------- */

static void test_sms_templates(void **state)
{
    struct fx *f = *state;
    struct world w;
    world(f, &w);
    int64_t id = 0;
    assert_int_equal(store_book(f->db.st, CANON_A, w.p1_d2_1000, NOW, &id), STORE_OK);
    assert_int_equal(store_booking_set_lang(f->db.st, id, "ru"), STORE_OK);
    struct store_booking b;
    assert_int_equal(store_booking_get(f->db.st, id, &b, NULL, 0), STORE_OK);
    char out[640], want[640];

    /* built in, in the booking's language */
    int n = booking_sms_text(f->db.st, &b, "confirmed", NULL, "ky", out, sizeof out);
    snprintf(want, sizeof want, "Центр госуслуг: Получение паспорта, 02.12.2026 "
             "в 10:00, ЦОН №1, Чуй 100. Талон №%lld.", (long long)id);
    assert_string_equal(out, want);
    assert_int_equal(n, (int)strlen(want));

    /* a status "*" template (agency's and global) never stands in */
    assert_int_equal(store_template_set(f->db.st, f->agency, "*", "ru",
                                        "STAR {service}"), STORE_OK);
    assert_int_equal(store_template_set(f->db.st, 0, "*", "ru", "GSTAR"), STORE_OK);
    assert_true(booking_sms_text(f->db.st, &b, "confirmed", NULL, "ky", out,
                                 sizeof out) > 0);
    assert_string_equal(out, want);

    /* the agency's own template, every placeholder */
    assert_int_equal(store_template_set(f->db.st, f->agency, "booking.confirmed", "ru",
        "{service}|{office}|{address}|{day}|{time}|{ticket}|{date}|{place}|{x}"),
        STORE_OK);
    n = booking_sms_text(f->db.st, &b, "confirmed", NULL, "ky", out, sizeof out);
    snprintf(want, sizeof want, "Получение паспорта|ЦОН №1|Чуй 100|Ср 02.12|"
             "10:00|%lld|02.12.2026|ЦОН №1, Чуй 100|{x}", (long long)id);
    assert_string_equal(out, want);
    assert_int_equal(n, (int)strlen(want));
    /* other kinds and languages keep the built-in text */
    assert_true(booking_sms_text(f->db.st, &b, "cancelled", NULL, "ky", out,
                                 sizeof out) > 0);
    assert_string_equal(out, "Центр госуслуг: запись Получение паспорта, "
                        "02.12.2026 в 10:00 отменена.");
    assert_true(booking_sms_text(f->db.st, &b, "confirmed", "en", "ky", out,
                                 sizeof out) > 0);
    assert_non_null(strstr(out, "Public Service Centre: Passport"));
    assert_true(booking_sms_text(f->db.st, &b, "reminder", "ky", "ky", out,
                                 sizeof out) > 0);
    assert_non_null(strstr(out, "Эскертүү: эртең, 02.12.2026 саат 10:00"));

    /* the dialog queues the template's text */
    assert_int_equal(store_template_set(f->db.st, f->agency, "booking.confirmed", "en",
                                        "Booked {service} {date} {time} #{ticket}"),
                     STORE_OK);
    start(f, BOOKING_BOOK, "en", PHONE_B);
    turns(f, true, "1 1 1 1 1", BOOKING_END);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, f->res.sms_id, &m), STORE_OK);
    snprintf(want, sizeof want, "Booked Passport 02.12.2026 09:00 #%lld",
             (long long)f->res.booking_id);
    assert_string_equal(m->text, want);
    store_msg_free(m);

    /* bad arguments */
    assert_int_equal(booking_sms_text(f->db.st, &b, "nosuch", NULL, "ky", out,
                                      sizeof out), -1);
    assert_int_equal(booking_sms_text(NULL, &b, "confirmed", NULL, "ky", out,
                                      sizeof out), -1);
    assert_int_equal(booking_sms_text(f->db.st, &b, "confirmed", NULL, "ky", out, 1),
                     -1);
    /* a small buffer is cut, never overrun, on a character boundary */
    char small[12];
    n = booking_sms_text(f->db.st, &b, "cancelled", NULL, "ky", small, sizeof small);
    assert_true(n >= 0 && n < (int)sizeof small);
    assert_int_equal((size_t)n, strlen(small));
    assert_true(utf8_whole(small));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, tmpdb_teardown)

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        T(test_walk_ky),
        T(test_walk_ru),
        T(test_walk_en),
        T(test_walk_unknown_lang),
        T(test_single_entries_skipped),
        T(test_services_configured),
        T(test_pagination),
        T(test_invalid_input),
        T(test_past_times_hidden),
        T(test_horizon),
        T(test_operator_texts),
        T(test_busy_is_retryable),
        T(test_write_joins_batch),
        T(test_capacity_just_taken),
        T(test_one_active_per_service),
        T(test_end_screens_fit),
        T(test_manage_cancel),
        T(test_manage_move),
        T(test_other_phone),
        T(test_garbage_state),
        cmocka_unit_test(test_no_store),
        T(test_bad_phone),
        T(test_sms_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
