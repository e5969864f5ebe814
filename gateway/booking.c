/*
 * gateway/booking.c — the USSD booking sub-dialog and the booking SMS
 * texts (see booking.h for the contract).
 *
 * Shape: parse the state ("T;s=3;o=2;d=2026-12-01;p=0;f=1"), apply the
 * answer to it (choose, page, back, confirm), then draw the screen of the
 * stage it ends in.  Drawing reads the stage's list from the store again,
 * so what is shown is always current; a choice is stored by id.  A stage
 * with nothing to offer says so and stays one stage earlier.
 *
 * Stages: S service, O office, D day, T time, C confirm (book), L my
 * bookings, B one booking (cancel / move), X confirm cancel.  Moving a
 * booking walks D -> T -> C with the booking's id kept (`b`).
 *
 * Owns: nothing between calls; every buffer is on the stack or in res.
 * May call: gateway/store, gateway/phone, gateway/template, menus/screen,
 * libc.
 */
#include "gateway/booking.h"

#include "gateway/phone.h"
#include "gateway/template.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_MAX 30          /* entries offered on one stage (paged) */
#define NAME_MAX_B 96        /* a service/office name on a screen */
#define SMS_EXPIRY_MS (6 * 3600 * 1000LL)
#define SCREEN_OCTETS 160    /* one USSD message (menus/screen.h) */

/* ---- texts ---------------------------------------------------------------- */

enum bt {
    T_SERVICE, T_OFFICE, T_DAY, T_TIME, T_CONFIRM, T_YES_BOOK, T_BOOKED,
    T_TAKEN, T_INVALID, T_NO_SERVICES, T_NO_DAYS, T_NO_TIMES, T_ALREADY,
    T_BUSY, T_LIST, T_LIST_EMPTY, T_CANCEL_OPT, T_MOVE_OPT, T_CANCEL_Q,
    T_YES, T_CANCELLED, T_MOVED, T_GONE,
    SMS_CONFIRMED, SMS_MOVED, SMS_CANCELLED, SMS_REMINDER, T_COUNT
};

/* ky, ru, en */
static const char *const texts[T_COUNT][3] = {
    [T_SERVICE] = { "Кызматты тандаңыз:", "Выберите услугу:", "Choose a service:" },
    [T_OFFICE] = { "Бөлүмдү тандаңыз:", "Выберите отделение:", "Choose an office:" },
    [T_DAY] = { "Күндү тандаңыз:", "Выберите день:", "Choose a day:" },
    [T_TIME] = { "{day}: убакытты тандаңыз:", "{day}: выберите время:",
                 "{day}: choose a time:" },
    [T_CONFIRM] = { "{service}\n{office}\n{day}, {time}",
                    "{service}\n{office}\n{day}, {time}",
                    "{service}\n{office}\n{day}, {time}" },
    [T_YES_BOOK] = { "1. Ырастоо", "1. Записаться", "1. Confirm" },
    [T_BOOKED] = {
        "Сиз жазылдыңыз: {day}, {time}, {office}. Талон №{ticket}. SMS келет.",
        "Вы записаны: {day}, {time}, {office}. Талон №{ticket}. Придёт SMS.",
        "Booked: {day}, {time}, {office}. Ticket {ticket}. An SMS follows." },
    [T_TAKEN] = { "Бул убакыт азыр эле ээленди.", "Это время только что заняли.",
                  "That time was just taken." },
    [T_INVALID] = { "Туура эмес тандоо.", "Неверный выбор.", "Invalid choice." },
    [T_NO_SERVICES] = { "Азыр жазылууга бош орун жок.",
                        "Сейчас нет свободных мест для записи.",
                        "There are no free places to book now." },
    [T_NO_DAYS] = { "Бул жерде бош күн жок.", "Здесь нет свободных дней.",
                    "No free days there." },
    [T_NO_TIMES] = { "Бул күнү бош убакыт жок.", "На этот день мест нет.",
                     "No free times that day." },
    [T_ALREADY] = {
        "Сизде бул кызматка жазылуу бар: {day}, {time}. Өзгөртүү: \"Менин жазылууларым\".",
        "У вас уже есть запись на эту услугу: {day}, {time}. Изменить: \"Мои записи\".",
        "You already have a booking for this service: {day}, {time}. Change it under \"My bookings\"." },
    [T_BUSY] = { "Азыр жазуу мүмкүн эмес. Бир аздан кийин кайра териңиз.",
                 "Запись сейчас недоступна. Наберите чуть позже.",
                 "Booking is not available right now. Please dial again shortly." },
    [T_LIST] = { "Сиздин жазылууларыңыз:", "Ваши записи:", "Your bookings:" },
    [T_LIST_EMPTY] = { "Сизде жазылуу жок.", "У вас нет записей.",
                       "You have no bookings." },
    [T_CANCEL_OPT] = { "1. Жокко чыгаруу", "1. Отменить", "1. Cancel it" },
    [T_MOVE_OPT] = { "2. Башка убакытка которуу", "2. Перенести", "2. Move it" },
    [T_CANCEL_Q] = { "Жазылууну жокко чыгарасызбы?\n{service}, {day}, {time}",
                     "Отменить запись?\n{service}, {day}, {time}",
                     "Cancel this booking?\n{service}, {day}, {time}" },
    [T_YES] = { "1. Ооба", "1. Да", "1. Yes" },
    [T_CANCELLED] = { "Жазылуу жокко чыгарылды. SMS келет.",
                      "Запись отменена. Придёт SMS.",
                      "Your booking is cancelled. An SMS follows." },
    [T_MOVED] = {
        "Жазылуу которулду: {day}, {time}, {office}. Талон №{ticket}. SMS келет.",
        "Запись перенесена: {day}, {time}, {office}. Талон №{ticket}. Придёт SMS.",
        "Moved to {day}, {time}, {office}. Ticket {ticket}. An SMS follows." },
    [T_GONE] = { "Бул жазылуу мындан ары жок.", "Этой записи больше нет.",
                 "That booking no longer exists." },
    [SMS_CONFIRMED] = {
        "Кызматтар борбору: {service}, {date} саат {time}, {place}. Талон №{ticket}.",
        "Центр госуслуг: {service}, {date} в {time}, {place}. Талон №{ticket}.",
        "Public Service Centre: {service}, {date} at {time}, {place}. Ticket {ticket}." },
    [SMS_MOVED] = {
        "Кызматтар борбору: жазылуу которулду: {service}, {date} саат {time}, {place}. Талон №{ticket}.",
        "Центр госуслуг: запись перенесена: {service}, {date} в {time}, {place}. Талон №{ticket}.",
        "Public Service Centre: booking moved: {service}, {date} at {time}, {place}. Ticket {ticket}." },
    [SMS_CANCELLED] = {
        "Кызматтар борбору: {service}, {date} саат {time} жазылуу жокко чыгарылды.",
        "Центр госуслуг: запись {service}, {date} в {time} отменена.",
        "Public Service Centre: your booking {service}, {date} at {time} is cancelled." },
    [SMS_REMINDER] = {
        "Эскертүү: эртең, {date} саат {time}, {place}: {service}. Талон №{ticket}.",
        "Напоминание: завтра, {date} в {time}, {place}: {service}. Талон №{ticket}.",
        "Reminder: tomorrow, {date} at {time}, {place}: {service}. Ticket {ticket}." },
};

/* The first MENU_BT_COUNT texts are the ones an operator may reword. */
_Static_assert((int)T_GONE + 1 == (int)MENU_BT_COUNT &&
               (int)T_SERVICE == (int)MENU_BT_SERVICE &&
               (int)T_BUSY == (int)MENU_BT_BUSY &&
               (int)T_YES == (int)MENU_BT_YES,
               "gateway/booking.c texts and enum menu_booking_text disagree");

static const char *const wdays[3][7] = {
    { "Жк", "Дш", "Шш", "Шр", "Бш", "Жм", "Иш" },
    { "Вс", "Пн", "Вт", "Ср", "Чт", "Пт", "Сб" },
    { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" },
};

static int pick_lang(const char *lang, const char *fallback)
{
    int i = template_lang_index(lang);
    if (i < 0)
        i = template_lang_index(fallback);
    return i < 0 ? 2 : i;
}

/* ---- small buffers -------------------------------------------------------- */

struct buf {
    char *p;
    size_t cap, n;
};

static void put(struct buf *b, const char *s, size_t len)
{
    if (b->n + 1 >= b->cap)
        return;
    if (len > b->cap - 1 - b->n) {
        len = b->cap - 1 - b->n;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;                 /* never cut a UTF-8 character */
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Values a text may name. */
struct vars {
    const char *service, *office, *address, *place, *day, *date, *time;
    char ticket[24];
};

/* Render tmpl with v's values after what b holds (gateway/template.h: an
 * unknown {name} is kept as it is). */
static void render(struct buf *b, const char *tmpl, const struct vars *v)
{
    const struct template_var tv[] = {
        { "service", v ? v->service : NULL }, { "office", v ? v->office : NULL },
        { "address", v ? v->address : NULL }, { "place", v ? v->place : NULL },
        { "day", v ? v->day : NULL }, { "date", v ? v->date : NULL },
        { "time", v ? v->time : NULL }, { "ticket", v ? v->ticket : NULL },
    };
    if (b->n + 1 < b->cap)
        b->n += template_render(tmpl, tv, v ? sizeof tv / sizeof tv[0] : 0,
                                b->p + b->n, b->cap - b->n);
}

/* ---- days ----------------------------------------------------------------- */

void booking_day_of(int64_t now_ms, int add_days, char out[STORE_DAY_MAX])
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday += add_days;
    tm.tm_hour = 12;               /* away from DST edges */
    tm.tm_isdst = -1;
    mktime(&tm);
    strftime(out, STORE_DAY_MAX, "%Y-%m-%d", &tm);
}

static void hhmm_of(int64_t now_ms, char out[STORE_TIME_MAX])
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, STORE_TIME_MAX, "%H:%M", &tm);
}

/* "Пн 01.12" (short) or "01.12.2026" (date) of "2026-12-01". */
static void day_label(const char *day, int li, bool with_year, char *out,
                      size_t cap)
{
    int y = 0, m = 0, d = 0;
    if (sscanf(day, "%4d-%2d-%2d", &y, &m, &d) != 3) {
        snprintf(out, cap, "%s", day);
        return;
    }
    if (with_year) {
        snprintf(out, cap, "%02d.%02d.%04d", d, m, y);
        return;
    }
    struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d,
                     .tm_hour = 12, .tm_isdst = -1 };
    time_t t = mktime(&tm);
    if (t == (time_t)-1)
        snprintf(out, cap, "%02d.%02d", d, m);
    else
        snprintf(out, cap, "%s %02d.%02d", wdays[li][tm.tm_wday % 7], d, m);
}

/* ---- state ---------------------------------------------------------------- */

struct state {
    char stage;                    /* S O D T C L B X; 0 = entry */
    int64_t service, office, slot, booking;
    char day[STORE_DAY_MAX];
    unsigned page;
    unsigned skipped;              /* 1: service list skipped, 2: office */
};

static bool parse_state(const char *s, struct state *st)
{
    memset(st, 0, sizeof *st);
    if (!s || !*s)
        return true;
    if (!strchr("SODTCLBX", s[0]) || (s[1] != '\0' && s[1] != ';'))
        return false;
    st->stage = s[0];
    const char *p = s + 1;
    while (*p == ';') {
        p++;
        char k = *p;
        if (!k || p[1] != '=')
            return false;
        p += 2;
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char v[24];
        if (len >= sizeof v)
            return false;
        memcpy(v, p, len);
        v[len] = '\0';
        char *end;
        long long n = strtoll(v, &end, 10);
        bool num = len > 0 && *end == '\0' && n >= 0;
        switch (k) {
        case 's': if (!num) return false; st->service = n; break;
        case 'o': if (!num) return false; st->office = n; break;
        case 't': if (!num) return false; st->slot = n; break;
        case 'b': if (!num) return false; st->booking = n; break;
        case 'p': if (!num || n > 100) return false; st->page = (unsigned)n; break;
        case 'f': if (!num || n > 3) return false; st->skipped = (unsigned)n; break;
        case 'd':
            if (len != 10)
                return false;
            memcpy(st->day, v, 11);
            break;
        default:
            return false;
        }
        p += len;
    }
    return *p == '\0';
}

static void format_state(const struct state *st, char *out, size_t cap)
{
    snprintf(out, cap, "%c;s=%" PRId64 ";o=%" PRId64 ";t=%" PRId64 ";b=%" PRId64
             ";p=%u;f=%u%s%s", st->stage, st->service, st->office, st->slot,
             st->booking, st->page, st->skipped, st->day[0] ? ";d=" : "", st->day);
}

/* ---- lists ---------------------------------------------------------------- */

struct item {
    int64_t id;
    char label[NAME_MAX_B + 40];
    char day[STORE_DAY_MAX];
};

struct turn {
    struct store *st;
    const struct booking_req *rq;
    struct booking_res *res;
    int li;                        /* built-in text language */
    const char *lang, *fb;
    char today[STORE_DAY_MAX], last_day[STORE_DAY_MAX], now_hm[STORE_TIME_MAX];
    char phone[STORE_MSISDN_MAX];
    int store_rc;                  /* first store failure of the turn */
    int redraws;                   /* "just taken" redraws of the turn */
};

/* The operator's wording in the dialog's language, else the built-in. */
static const char *T(const struct turn *t, enum bt k)
{
    if (t->rq && t->rq->texts && (int)k < MENU_BT_COUNT && t->rq->texts[k])
        return t->rq->texts[k];
    return texts[k][t->li];
}

static bool store_ok(struct turn *t, int rc, const char *what)
{
    if (rc == STORE_OK)
        return true;
    if (!t->store_rc) {
        t->store_rc = rc;
        snprintf(t->res->why, sizeof t->res->why, "%s: %s: %s", what,
                 store_rc_name(rc), store_errmsg(t->st));
    }
    return false;
}

static void service_name(struct turn *t, int64_t id, char *out, size_t cap)
{
    if (store_service_name(t->st, id, t->lang, t->fb, out, cap) == STORE_OK)
        return;
    if (store_service_get(t->st, id, out, cap, NULL) != STORE_OK)
        snprintf(out, cap, "#%" PRId64, id);
}

static void office_name(struct turn *t, int64_t id, char *name, size_t cap,
                        char *addr, size_t acap)
{
    if (addr && acap)
        addr[0] = '\0';
    if (store_office_name(t->st, id, t->lang, t->fb, name, cap, addr, acap) ==
        STORE_OK)
        return;
    snprintf(name, cap, "#%" PRId64, id);
}

/* Does id appear among the configured codes (or are none configured)? */
static int services_list(struct turn *t, struct item *it, size_t *n)
{
    *n = 0;
    const char *cfg = t->rq->services;
    if (cfg && *cfg) {
        const char *p = cfg;
        while (*p && *n < LIST_MAX) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            char code[STORE_CODE_MAX];
            while (len && *p == ' ')
                p++, len--;
            while (len && p[len - 1] == ' ')
                len--;
            if (len && len < sizeof code) {
                memcpy(code, p, len);
                code[len] = '\0';
                int64_t id = 0;
                int rc = store_service_by_code(t->st, code, &id, NULL);
                if (rc == STORE_OK) {
                    it[*n].id = id;
                    (*n)++;
                } else if (rc != STORE_NOTFOUND) {
                    store_ok(t, rc, "service by code");
                    return -1;
                }
            }
            if (!e)
                break;
            p = e + 1;
        }
    } else {
        int64_t ids[LIST_MAX];
        size_t k = 0;
        if (!store_ok(t, store_services_bookable(t->st, t->today, 0, ids,
                                                 LIST_MAX, &k), "services"))
            return -1;
        for (size_t i = 0; i < k; i++)
            it[(*n)++].id = ids[i];
    }
    for (size_t i = 0; i < *n; i++)
        service_name(t, it[i].id, it[i].label, sizeof it[i].label);
    return 0;
}

static int offices_list(struct turn *t, int64_t service, struct item *it,
                        size_t *n)
{
    int64_t ids[LIST_MAX];
    size_t k = 0;
    *n = 0;
    if (!store_ok(t, store_offices_for_service(t->st, service, 0, ids, LIST_MAX,
                                               &k), "offices"))
        return -1;
    for (size_t i = 0; i < k; i++) {
        it[*n].id = ids[i];
        office_name(t, ids[i], it[*n].label, sizeof it[*n].label, NULL, 0);
        (*n)++;
    }
    return 0;
}

static int times_list(struct turn *t, int64_t office, int64_t service,
                      const char *day, struct item *it, size_t *n);

static int days_list(struct turn *t, int64_t office, int64_t service,
                     struct item *it, size_t *n)
{
    char days[LIST_MAX][STORE_DAY_MAX];
    size_t k = 0;
    *n = 0;
    if (!store_ok(t, store_slot_days(t->st, office, service, t->today, days,
                                     LIST_MAX, &k), "days"))
        return -1;
    for (size_t i = 0; i < k; i++) {
        if (strcmp(days[i], t->last_day) > 0)
            break;
        if (strcmp(days[i], t->today) == 0) {
            /* today counts only while a free time is still ahead */
            struct item tmp[LIST_MAX];
            size_t nt = 0;
            if (times_list(t, office, service, days[i], tmp, &nt) < 0)
                return -1;
            if (nt == 0)
                continue;
        }
        it[*n].id = (int64_t)i;
        memcpy(it[*n].day, days[i], STORE_DAY_MAX);
        day_label(days[i], t->li, false, it[*n].label, sizeof it[*n].label);
        (*n)++;
    }
    return 0;
}

static int times_list(struct turn *t, int64_t office, int64_t service,
                      const char *day, struct item *it, size_t *n)
{
    struct store_slot sl[LIST_MAX];
    size_t k = 0;
    *n = 0;
    if (!store_ok(t, store_slot_times(t->st, office, service, day, sl, LIST_MAX,
                                      &k), "times"))
        return -1;
    bool today = strcmp(day, t->today) == 0;
    for (size_t i = 0; i < k; i++) {
        if (today && strcmp(sl[i].time, t->now_hm) <= 0)
            continue;              /* already past */
        it[*n].id = sl[i].id;
        snprintf(it[*n].label, sizeof it[*n].label, "%s", sl[i].time);
        (*n)++;
    }
    return 0;
}

static int bookings_list(struct turn *t, struct item *it, size_t *n)
{
    struct store_booking b[10];
    size_t k = 0;
    *n = 0;
    if (!store_ok(t, store_bookings_active(t->st, t->phone, b, 10, &k),
                  "my bookings"))
        return -1;
    for (size_t i = 0; i < k; i++) {
        char d[24], svc[NAME_MAX_B];
        day_label(b[i].day, t->li, false, d, sizeof d);
        service_name(t, b[i].service_id, svc, sizeof svc);
        it[*n].id = b[i].id;
        snprintf(it[*n].label, sizeof it[*n].label, "%s %s %s", d, b[i].time, svc);
        (*n)++;
    }
    return 0;
}

/* The list of a list stage; -1 on a store error. */
static int list_of(struct turn *t, const struct state *s, struct item *it,
                   size_t *n)
{
    switch (s->stage) {
    case 'S': return services_list(t, it, n);
    case 'O': return offices_list(t, s->service, it, n);
    case 'D': return days_list(t, s->office, s->service, it, n);
    case 'T': return times_list(t, s->office, s->service, s->day, it, n);
    case 'L': return bookings_list(t, it, n);
    default: *n = 0; return 0;
    }
}

/* ---- drawing -------------------------------------------------------------- */

static void set_screen(struct turn *t, int outcome, const char *text)
{
    struct booking_res *r = t->res;
    r->outcome = outcome;
    snprintf(r->screen, sizeof r->screen, "%s", text);
    r->screen_len = strlen(r->screen);
}

/* A final screen: note (may be NULL: why we got here) above the text. */
static void end_note(struct turn *t, const char *note, enum bt k,
                     const struct vars *v)
{
    char buf[MENU_SCREEN_BUF];
    struct buf b = { buf, sizeof buf, 0 };
    buf[0] = '\0';
    if (note && strcmp(note, T(t, k)) != 0) {
        puts_(&b, note);
        puts_(&b, " ");
    }
    render(&b, T(t, k), v);
    set_screen(t, BOOKING_END, buf);
}

static void end_text(struct turn *t, enum bt k, const struct vars *v)
{
    end_note(t, NULL, k, v);
}

static void fail_turn(struct turn *t)
{
    end_text(t, T_BUSY, NULL);
    t->res->outcome = t->store_rc == STORE_BUSY ? BOOKING_BUSY : BOOKING_FAIL;
    if (t->res->outcome == BOOKING_BUSY)
        t->res->why[0] = '\0';
}

/* Draw a screen: note (may be NULL) above body, options, footer. */
static void page_out(struct turn *t, struct state *s, const char *note,
                     const char *body, const char *const *opt,
                     const size_t *opt_len, size_t nopt)
{
    char head[MENU_SCREEN_BUF];
    struct buf b = { head, sizeof head, 0 };
    head[0] = '\0';
    if (note) {
        puts_(&b, note);
        puts_(&b, "\n");
    }
    puts_(&b, body);
    struct menu_screen_in si = { 0 };
    si.body = head;
    si.body_len = b.n;
    si.opt = opt;
    si.opt_len = opt_len;
    si.nopt = nopt;
    si.more = t->rq->label_more;
    si.back = t->rq->label_back;
    si.back_paged = t->rq->label_back;
    struct booking_res *r = t->res;
    size_t len = 0;
    int enc = 0;
    unsigned np = 0, shown = 0;
    if (menu_screen_page(&si, s->page, r->screen, sizeof r->screen, &len, &enc,
                         &np, &shown) != 0) {
        snprintf(t->res->why, sizeof t->res->why, "screen does not fit");
        t->res->outcome = BOOKING_FAIL;
        return;
    }
    s->page = shown;
    r->screen_len = len;
    r->outcome = BOOKING_CON;
    format_state(s, r->state, sizeof r->state);
}

static void draw_list(struct turn *t, struct state *s, const char *note,
                      const char *title, const struct item *it, size_t n)
{
    char lines[LIST_MAX][NAME_MAX_B + 40];
    const char *opt[LIST_MAX];
    size_t olen[LIST_MAX];
    for (size_t i = 0; i < n; i++) {
        snprintf(lines[i], sizeof lines[i], "%zu. %s", i + 1, it[i].label);
        opt[i] = lines[i];
        olen[i] = strlen(lines[i]);
    }
    page_out(t, s, note, title, opt, olen, n);
}

static void slot_vars(struct turn *t, const struct store_slot *sl,
                      struct vars *v, char *svc, char *off, char *addr,
                      char *dayb, char *dateb)
{
    service_name(t, sl->service_id, svc, NAME_MAX_B);
    office_name(t, sl->office_id, off, NAME_MAX_B, addr, NAME_MAX_B);
    day_label(sl->day, t->li, false, dayb, 32);
    day_label(sl->day, t->li, true, dateb, 32);
    v->service = svc;
    v->office = off;
    v->address = addr;
    v->place = off;
    v->day = dayb;
    v->date = dateb;
    v->time = sl->time;
}

static void draw(struct turn *t, struct state *s, const char *note);

/* Booking id if it is this citizen's and still active: STORE_OK with *b
 * filled; STORE_NOTFOUND when it is gone, not active or someone else's
 * (the two are not told apart); another STORE_* on a store error. */
static int own_booking(struct turn *t, int64_t id, struct store_booking *b)
{
    char state[16] = "";
    int rc = store_booking_get(t->st, id, b, state, sizeof state);
    if (rc == STORE_OK && (strcmp(state, "active") != 0 ||
                           strcmp(b->msisdn, t->phone) != 0))
        return STORE_NOTFOUND;
    return rc;
}

/* own_booking(), and when it is not (or the store failed) the final
 * screen that says so.  True when b is the caller's active booking. */
static bool own_booking_or_end(struct turn *t, int64_t id,
                               struct store_booking *b)
{
    int rc = own_booking(t, id, b);
    if (rc == STORE_NOTFOUND) {
        end_text(t, T_GONE, NULL);
        return false;
    }
    if (!store_ok(t, rc, "booking get")) {
        fail_turn(t);
        return false;
    }
    return true;
}

static void draw(struct turn *t, struct state *s, const char *note);

/* The stages about one slot: confirm (C), one booking (B), cancel it (X). */
static void draw_slot(struct turn *t, struct state *s, const char *note)
{
    struct store_slot sl;
    int64_t slot = s->slot;
    if (s->stage != 'C') {
        struct store_booking bk;
        if (!own_booking_or_end(t, s->booking, &bk))
            return;
        slot = bk.slot_id;
    }
    int rc = store_slot_get(t->st, slot, &sl);
    if (rc == STORE_NOTFOUND && s->stage == 'C' && t->redraws++ == 0) {
        /* the slot was withdrawn since the times were listed */
        s->stage = 'T';
        s->page = 0;
        s->slot = 0;
        draw(t, s, T(t, T_TAKEN));
        return;
    }
    if (rc == STORE_NOTFOUND && s->stage != 'C') {
        end_text(t, T_GONE, NULL);
        return;
    }
    if (!store_ok(t, rc, "slot get")) {
        fail_turn(t);
        return;
    }
    char svc[NAME_MAX_B], off[NAME_MAX_B], addr[NAME_MAX_B], dl[32], dd[32];
    struct vars v = { 0 };
    slot_vars(t, &sl, &v, svc, off, addr, dl, dd);
    char body[MENU_SCREEN_BUF];
    struct buf b = { body, sizeof body, 0 };
    body[0] = '\0';
    const char *opt[2];
    size_t olen[2], nopt = 1;
    if (s->stage == 'C') {
        render(&b, T(t, T_CONFIRM), &v);
        opt[0] = T(t, T_YES_BOOK);
    } else if (s->stage == 'X') {
        render(&b, T(t, T_CANCEL_Q), &v);
        opt[0] = T(t, T_YES);
    } else {
        render(&b, T(t, T_CONFIRM), &v);
        opt[0] = T(t, T_CANCEL_OPT);
        opt[1] = T(t, T_MOVE_OPT);
        nopt = 2;
    }
    for (size_t i = 0; i < nopt; i++)
        olen[i] = strlen(opt[i]);
    page_out(t, s, note, body, opt, olen, nopt);
}

/* A stage whose list is empty falls back to the one before, with a note. */
static void draw(struct turn *t, struct state *s, const char *note)
{
    struct item it[LIST_MAX];
    size_t n = 0;
    for (int guard = 0; guard < 8; guard++) {
        if (s->stage == 'C' || s->stage == 'B' || s->stage == 'X')
            break;
        if (list_of(t, s, it, &n) < 0) {
            fail_turn(t);
            return;
        }
        if (n > 0)
            break;
        /* nothing to offer here: say so one stage earlier (a first note,
         * "just taken", is kept: it says why) */
        const char *first = note;
        switch (s->stage) {
        case 'S':
            end_note(t, first, T_NO_SERVICES, NULL);
            return;
        case 'L':
            end_note(t, first, T_LIST_EMPTY, NULL);
            return;
        case 'O':
            end_note(t, first, T_NO_DAYS, NULL);
            return;
        case 'D':
            if (s->booking) {          /* moving: nowhere to move to */
                note = first ? first : T(t, T_NO_DAYS);
                s->stage = 'B';
                s->page = 0;
                continue;
            }
            if ((s->skipped & 3) == 3) {
                end_note(t, first, T_NO_DAYS, NULL);
                return;
            }
            note = first ? first : T(t, T_NO_DAYS);
            s->stage = (s->skipped & 2) ? 'S' : 'O';
            s->page = 0;
            continue;
        case 'T':
            note = first ? first : T(t, T_NO_TIMES);
            s->stage = 'D';
            s->page = 0;
            continue;
        }
    }
    switch (s->stage) {
    case 'S':
        draw_list(t, s, note, T(t, T_SERVICE), it, n);
        return;
    case 'O':
        draw_list(t, s, note, T(t, T_OFFICE), it, n);
        return;
    case 'D':
        draw_list(t, s, note, T(t, T_DAY), it, n);
        return;
    case 'T': {
        char title[160], dl[32];
        struct buf b = { title, sizeof title, 0 };
        struct vars v = { 0 };
        day_label(s->day, t->li, false, dl, sizeof dl);
        v.day = dl;
        title[0] = '\0';
        render(&b, T(t, T_TIME), &v);
        draw_list(t, s, note, title, it, n);
        return;
    }
    case 'L':
        draw_list(t, s, note, T(t, T_LIST), it, n);
        return;
    case 'C':
    case 'X':
    case 'B':
        draw_slot(t, s, note);
        return;
    default:
        fail_turn(t);
        return;
    }
}

/* ---- writes --------------------------------------------------------------- */

/* Queue the SMS of kind for booking id (inside the write's group). */
static int queue_sms(struct turn *t, int64_t booking_id, const char *kind)
{
    struct store_booking b;
    int rc = store_booking_get(t->st, booking_id, &b, NULL, 0);
    if (rc != STORE_OK)
        return rc;
    char text[640];
    if (booking_sms_text(t->st, &b, kind, t->lang, t->fb, text, sizeof text) < 0)
        return STORE_ERROR;
    char key[64];
    snprintf(key, sizeof key, "booking:%" PRId64 ":%s", booking_id, kind);
    int64_t now = t->rq->now_ms;
    struct store_msg_new m = {
        .client = "kyzmat", .idem_key = key, .to = t->phone, .text = text,
        .lang = t->lang,
        .law_required = true,      /* the answer to the citizen's own request */
        .not_before = now, .expires_at = now + SMS_EXPIRY_MS,
    };
    rc = store_enqueue(t->st, &m, now, &t->res->sms_id);
    return rc == STORE_DUPLICATE ? STORE_OK : rc;
}

enum wr { W_BOOK, W_MOVE, W_CANCEL };

/* One write and its SMS: what store_atomic() runs. */
struct write_op {
    struct turn *t;
    enum wr what;
    const struct state *s;
    int64_t *id;
};

static int write_ops(struct store *st, void *arg)
{
    struct write_op *w = arg;
    struct turn *t = w->t;
    const struct state *s = w->s;
    int64_t now = t->rq->now_ms;
    int rc;
    const char *kind;
    if (w->what == W_BOOK) {
        rc = store_book(st, t->phone, s->slot, now, w->id);
        kind = "confirmed";
    } else if (w->what == W_MOVE) {
        rc = store_booking_move(st, s->booking, t->phone, s->slot, now, w->id);
        kind = "moved";
    } else {
        rc = store_booking_cancel(st, s->booking, t->phone, now);
        *w->id = s->booking;
        kind = "cancelled";
    }
    if (rc == STORE_OK && w->what != W_CANCEL && t->lang)
        rc = store_booking_set_lang(st, *w->id, t->lang);
    if (rc == STORE_OK)
        rc = queue_sms(t, *w->id, kind);
    return rc;
}

/* One write and its SMS, together in the store's batch (all or nothing).
 * STORE_* of the write. */
static int write_tx(struct turn *t, enum wr what, const struct state *s,
                    int64_t *id)
{
    struct write_op w = { t, what, s, id };
    return store_atomic(t->st, write_ops, &w);
}

static void after_write(struct turn *t, struct state *s, enum wr what, int rc,
                        int64_t id)
{
    if (rc == STORE_OK) {
        t->res->booking_id = id;
        if (what == W_CANCEL) {
            end_text(t, T_CANCELLED, NULL);
            return;
        }
        struct store_booking b;
        struct store_slot sl;
        if (store_booking_get(t->st, id, &b, NULL, 0) != STORE_OK ||
            store_slot_get(t->st, b.slot_id, &sl) != STORE_OK) {
            end_text(t, what == W_BOOK ? T_BOOKED : T_MOVED, NULL);
            return;
        }
        char svc[NAME_MAX_B], off[NAME_MAX_B], addr[NAME_MAX_B], dl[32], dd[32];
        struct vars v = { 0 };
        slot_vars(t, &sl, &v, svc, off, addr, dl, dd);
        snprintf(v.ticket, sizeof v.ticket, "%" PRId64, id);
        /* the final screen is one USSD message: a long office name is
         * cut (character by character) rather than the ticket number */
        char offcut[NAME_MAX_B];
        snprintf(offcut, sizeof offcut, "%s", off);
        v.office = offcut;
        for (;;) {
            end_text(t, what == W_BOOK ? T_BOOKED : T_MOVED, &v);
            int enc = 0;
            size_t n = strlen(offcut);
            if (n == 0 || menu_text_octets(t->res->screen, t->res->screen_len,
                                           &enc) <= SCREEN_OCTETS)
                break;
            do
                n--;
            while (n > 0 && ((unsigned char)offcut[n] & 0xC0) == 0x80);
            offcut[n] = '\0';
        }
        return;
    }
    if (rc == STORE_NOTFOUND && what == W_MOVE) {
        /* the slot or the booking: a booking that is not (or no longer)
         * this citizen's active one is gone, whatever the slot */
        struct store_booking b;
        int brc = own_booking(t, s->booking, &b);
        if (brc == STORE_NOTFOUND) {
            end_text(t, T_GONE, NULL);
            return;
        }
    }
    if (rc == STORE_FULL || (rc == STORE_NOTFOUND && what != W_CANCEL)) {
        s->stage = 'T';
        s->page = 0;
        s->slot = 0;
        draw(t, s, T(t, T_TAKEN));
        return;
    }
    if (rc == STORE_CONFLICT && what == W_BOOK) {
        /* one active booking per citizen and service: say which */
        struct store_booking b[10];
        size_t n = 0;
        struct vars v = { 0 };
        char dl[32] = "";
        if (store_bookings_active(t->st, t->phone, b, 10, &n) == STORE_OK)
            for (size_t i = 0; i < n; i++)
                if (b[i].service_id == s->service) {
                    day_label(b[i].day, t->li, false, dl, sizeof dl);
                    v.day = dl;
                    v.time = b[i].time;
                    break;
                }
        end_text(t, T_ALREADY, &v);
        return;
    }
    if (rc == STORE_NOTFOUND && what == W_CANCEL) {
        end_text(t, T_GONE, NULL);
        return;
    }
    store_ok(t, rc, what == W_BOOK ? "book" : what == W_MOVE ? "move" : "cancel");
    fail_turn(t);
}

/* ---- moving through the stages -------------------------------------------- */

/* Enter stage `to` (after a choice), skipping a one-entry service/office
 * list.  Then draw. */
static void enter(struct turn *t, struct state *s, char to)
{
    s->stage = to;
    s->page = 0;
    for (int guard = 0; guard < 3; guard++) {
        if (s->stage != 'S' && s->stage != 'O')
            break;
        struct item it[LIST_MAX];
        size_t n = 0;
        if (list_of(t, s, it, &n) < 0) {
            fail_turn(t);
            return;
        }
        if (n != 1)
            break;
        if (s->stage == 'S') {
            s->service = it[0].id;
            s->skipped |= 1;
            s->stage = 'O';
        } else {
            s->office = it[0].id;
            s->skipped |= 2;
            s->stage = 'D';
        }
    }
    draw(t, s, NULL);
}

/* The stage before s's; 0 when s is the node's first. */
static char prev_stage(const struct state *s, int mode)
{
    switch (s->stage) {
    case 'S': return 0;
    case 'O': return (s->skipped & 1) ? 0 : 'S';
    case 'D':
        if (s->booking)
            return 'B';
        if (!(s->skipped & 2))
            return 'O';
        return (s->skipped & 1) ? 0 : 'S';
    case 'T': return 'D';
    case 'C': return 'T';
    case 'L': return 0;
    case 'B': return 'L';
    case 'X': return 'B';
    default: return mode == BOOKING_MANAGE ? 'L' : 'S';
    }
}

static bool is_key(const char *in, const char *key)
{
    return key && *key && strcmp(in, key) == 0;
}

/* A choice "1".."n" as 0-based index, or -1. */
static int choice(const char *in, size_t n)
{
    if (!*in || strlen(in) > 3)
        return -1;
    int v = 0;
    for (const char *p = in; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && (size_t)v <= n ? v - 1 : -1;
}

static void on_input(struct turn *t, struct state *s, const char *in)
{
    const struct booking_req *rq = t->rq;
    if (is_key(in, rq->key_back)) {
        if (s->page > 0) {         /* as on menus: a page back first */
            s->page--;
            draw(t, s, NULL);
            return;
        }
        char p = prev_stage(s, rq->mode);
        if (!p) {
            t->res->outcome = BOOKING_BACK;
            return;
        }
        if (p == 'S' || p == 'O')
            s->skipped &= p == 'S' ? ~1u : ~2u;
        s->stage = p;
        s->page = 0;
        draw(t, s, NULL);
        return;
    }
    if (is_key(in, rq->key_more)) {
        s->page++;                 /* clamped to the last page by drawing */
        draw(t, s, NULL);
        return;
    }
    switch (s->stage) {
    case 'S': case 'O': case 'D': case 'T': case 'L': {
        struct item it[LIST_MAX];
        size_t n = 0;
        if (list_of(t, s, it, &n) < 0) {
            fail_turn(t);
            return;
        }
        int k = choice(in, n);
        if (k < 0)
            break;
        switch (s->stage) {
        case 'S':
            s->service = it[k].id;
            s->skipped &= ~1u;
            enter(t, s, 'O');
            return;
        case 'O':
            s->office = it[k].id;
            s->skipped &= ~2u;
            enter(t, s, 'D');
            return;
        case 'D':
            memcpy(s->day, it[k].day, STORE_DAY_MAX);
            enter(t, s, 'T');
            return;
        case 'T':
            s->slot = it[k].id;
            enter(t, s, 'C');
            return;
        default:                   /* 'L' */
            s->booking = it[k].id;
            enter(t, s, 'B');
            return;
        }
    }
    case 'C':
        if (strcmp(in, "1") == 0) {
            int64_t id = 0;
            enum wr w = s->booking ? W_MOVE : W_BOOK;
            int rc = write_tx(t, w, s, &id);
            after_write(t, s, w, rc, id);
            return;
        }
        break;
    case 'B':
        if (strcmp(in, "1") == 0) {
            enter(t, s, 'X');
            return;
        }
        if (strcmp(in, "2") == 0) {
            struct store_booking b;
            if (!own_booking_or_end(t, s->booking, &b))
                return;
            s->service = b.service_id;
            s->office = b.office_id;
            enter(t, s, 'D');
            return;
        }
        break;
    case 'X':
        if (strcmp(in, "1") == 0) {
            int64_t id = 0;
            int rc = write_tx(t, W_CANCEL, s, &id);
            after_write(t, s, W_CANCEL, rc, id);
            return;
        }
        break;
    default:
        break;
    }
    draw(t, s, T(t, T_INVALID));
}

int booking_step(struct store *st, const struct booking_req *rq,
                 struct booking_res *res)
{
    if (!rq || !res)
        return -1;
    memset(res, 0, sizeof *res);
    struct turn t = { .st = st, .rq = rq, .res = res };
    t.li = pick_lang(rq->lang, rq->fallback_lang);
    t.lang = rq->lang && *rq->lang ? rq->lang
             : rq->fallback_lang && *rq->fallback_lang ? rq->fallback_lang : "en";
    t.fb = rq->fallback_lang && *rq->fallback_lang ? rq->fallback_lang : "en";
    if (!st) {
        snprintf(res->why, sizeof res->why, "no store configured");
        res->outcome = BOOKING_FAIL;
        return 0;
    }
    if (!rq->phone || phone_canon(rq->phone, t.phone, sizeof t.phone) != 0) {
        snprintf(res->why, sizeof res->why, "no usable phone number");
        res->outcome = BOOKING_FAIL;
        return 0;
    }
    unsigned horizon = rq->horizon_days ? rq->horizon_days : BOOKING_HORIZON_DEFAULT;
    if (horizon > 366)
        horizon = 366;
    booking_day_of(rq->now_ms, 0, t.today);
    booking_day_of(rq->now_ms, (int)horizon - 1, t.last_day);
    hhmm_of(rq->now_ms, t.now_hm);

    struct state s;
    if (!parse_state(rq->state, &s) || !s.stage) {
        /* entry (or a state this version cannot read): start over */
        memset(&s, 0, sizeof s);
        enter(&t, &s, rq->mode == BOOKING_MANAGE ? 'L' : 'S');
        return 0;
    }
    if (!rq->input) {
        draw(&t, &s, NULL);        /* resume: the same stage, read afresh */
        return 0;
    }
    on_input(&t, &s, rq->input);
    return 0;
}

/* ---- SMS texts ------------------------------------------------------------ */

int booking_sms_text(struct store *st, const struct store_booking *b,
                     const char *kind, const char *lang,
                     const char *fallback_lang, char *out, size_t cap)
{
    if (!st || !b || !kind || !out || cap < 2)
        return -1;
    enum bt k;
    if (strcmp(kind, "confirmed") == 0)
        k = SMS_CONFIRMED;
    else if (strcmp(kind, "moved") == 0)
        k = SMS_MOVED;
    else if (strcmp(kind, "cancelled") == 0)
        k = SMS_CANCELLED;
    else if (strcmp(kind, "reminder") == 0)
        k = SMS_REMINDER;
    else
        return -1;
    if (!lang || !*lang)
        lang = b->lang[0] ? b->lang : fallback_lang;
    if (!lang || !*lang)
        lang = "en";
    struct turn t = { .st = st, .lang = lang,
                      .fb = fallback_lang && *fallback_lang ? fallback_lang : "en" };
    t.li = pick_lang(lang, fallback_lang);

    struct store_slot sl = { 0 };
    sl.service_id = b->service_id;
    sl.office_id = b->office_id;
    memcpy(sl.day, b->day, sizeof sl.day);
    memcpy(sl.time, b->time, sizeof sl.time);
    char svc[NAME_MAX_B], off[NAME_MAX_B], addr[NAME_MAX_B], dl[32], dd[32];
    char place[2 * NAME_MAX_B + 4];
    struct vars v = { 0 };
    slot_vars(&t, &sl, &v, svc, off, addr, dl, dd);
    if (addr[0])
        snprintf(place, sizeof place, "%s, %s", off, addr);
    else
        snprintf(place, sizeof place, "%s", off);
    v.place = place;
    snprintf(v.ticket, sizeof v.ticket, "%" PRId64, b->id);

    int64_t agency = 0;
    char *tmpl = NULL;
    char name[32];
    snprintf(name, sizeof name, "booking.%s", kind);
    int rc = store_service_get(st, b->service_id, NULL, 0, &agency);
    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        return -1;
    rc = store_template_get(st, agency, name, lang, &tmpl);
    if (rc == STORE_NOTFOUND && strcmp(lang, t.fb) != 0 &&
        template_lang_index(lang) < 0)
        rc = store_template_get(st, agency, name, t.fb, &tmpl);
    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        return -1;
    struct buf o = { out, cap, 0 };
    out[0] = '\0';
    render(&o, tmpl ? tmpl : texts[k][t.li], &v);
    free(tmpl);
    return (int)o.n;
}
