/*
 * tests/fuzz/fuzz_booking.c — libFuzzer target for booking_step()
 * (gateway/booking.c), the USSD booking sub-dialog: its state string comes
 * back from the dialog store and its input from the citizen, so both are
 * untrusted.
 *
 * One real SQLite store is opened at the first call (a mkstemp file in
 * /tmp, removed at exit) with a small fixed data set: 2 services, 2
 * offices, a few slots around a fixed "now" (TZ=UTC, Tue 2026-12-01
 * 12:00).  Turns may book, move and cancel; every 500 runs the store is
 * thrown away and built again, so the data stay small and runs comparable.
 *
 * Input layout: byte 0 = flags (bit 0 manage mode, bits 1-2 language ky /
 * ru / en / de, bit 3 second phone, bit 4 no input (resume), bits 5-7
 * horizon 0..7); the rest is "state\ninput" (no '\n': all state).  Checks,
 * with abort() on any broken property:
 *   - booking_step returns 0 and the outcome is in range;
 *   - screen_len < MENU_SCREEN_BUF and equals strlen(screen);
 *   - CON and END screens are not empty and fit one USSD message
 *     (menu_text_octets <= 160);
 *   - CON leaves a non-empty state, NUL-terminated within
 *     BOOKING_STATE_MAX, that parses back: feeding it again with no input
 *     (a resume) is again CON;
 *   - a booking made or moved has an SMS queued, and booking_sms_text
 *     renders every kind for it.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_booking.
 *
 * Owns: the store and its temp file.  May call: gateway/booking.h,
 * gateway/store.h, menus/screen.h, libc, POSIX.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/booking.h"
#include "gateway/store.h"
#include "menus/screen.h"
#include "tests/fuzz/fuzz.h"

#define NOW_MS 1796126400000LL   /* 2026-12-01 12:00:00 UTC */
#define RESET_EVERY 500

static struct store *st;
static char path[64];
static unsigned runs;

static void remove_files(void)
{
    const char *sfx[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < 4; i++) {
        char p[96];
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static void at_exit(void)
{
    store_close(st);
    st = NULL;
    if (path[0])
        remove_files();
}

/* Publish the fixed data set; 0 or -1. */
static int populate(void)
{
    int64_t ag = 0, s1 = 0, s2 = 0, o1 = 0, o2 = 0;
    if (store_agency_put(st, "psc", "PSC", &ag) != STORE_OK ||
        store_service_put(st, ag, "passport", &s1) != STORE_OK ||
        store_service_put(st, ag, "license", &s2) != STORE_OK ||
        store_service_name_set(st, s1, "ky", "Паспорт") != STORE_OK ||
        store_service_name_set(st, s1, "en", "Passport") != STORE_OK ||
        store_service_name_set(st, s2, "ru", "Водительское удостоверение") != STORE_OK ||
        store_office_put(st, ag, "b1", &o1) != STORE_OK ||
        store_office_put(st, ag, "osh", &o2) != STORE_OK ||
        store_office_name_set(st, o1, "ky", "ЦОН №1", "Чүй 100") != STORE_OK ||
        store_office_name_set(st, o1, "en", "PSC 1", "Chui 100") != STORE_OK ||
        store_office_name_set(st, o2, "ru",
            "Центр обслуживания населения Октябрьского района №3 города Ош",
            "Ленина 5") != STORE_OK ||
        store_template_set(st, ag, "booking.confirmed", "ru",
                           "{service} {date} {time} {place} #{ticket} {x") != STORE_OK ||
        store_template_set(st, ag, "*", "en", "status {status}") != STORE_OK)
        return -1;
    static const struct { int o, s; const char *day, *time; int cap; } sl[] = {
        { 1, 1, "2026-12-01", "09:00", 2 }, { 1, 1, "2026-12-01", "15:00", 1 },
        { 1, 1, "2026-12-02", "09:00", 3 }, { 1, 1, "2026-12-02", "09:30", 1 },
        { 1, 1, "2026-12-02", "10:00", 2 }, { 1, 1, "2026-12-03", "11:00", 2 },
        { 1, 1, "2026-12-09", "12:00", 1 }, { 1, 1, "2026-12-30", "12:00", 5 },
        { 2, 1, "2026-12-02", "14:00", 2 }, { 2, 2, "2026-12-04", "08:00", 2 },
        { 1, 2, "2026-12-05", "16:30", 0 }, { 2, 2, "2026-11-30", "10:00", 4 },
    };
    for (size_t i = 0; i < sizeof sl / sizeof sl[0]; i++)
        if (store_slot_put(st, sl[i].o == 1 ? o1 : o2, sl[i].s == 1 ? s1 : s2,
                           sl[i].day, sl[i].time, sl[i].cap, NULL) != STORE_OK)
            return -1;
    /* a 20-time day for paging */
    for (int i = 0; i < 20; i++) {
        char t[16];
        snprintf(t, sizeof t, "%02d:%02d", 8 + i / 2, i % 2 ? 30 : 0);
        if (store_slot_put(st, o1, s1, "2026-12-07", t, 1, NULL) != STORE_OK)
            return -1;
    }
    return 0;
}

static int open_store(void)
{
    if (!path[0]) {
        setenv("TZ", "UTC", 1);
        tzset();
        snprintf(path, sizeof path, "/tmp/kzfuzzbook.XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0) {
            path[0] = '\0';
            return -1;
        }
        close(fd);
        atexit(at_exit);
    }
    store_close(st);
    st = NULL;
    remove_files();
    char err[256];
    if (store_open(path, STORE_SYNC_NORMAL, &st, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "fuzz_booking: %s\n", err);
        return -1;
    }
    if (populate() != 0) {
        fprintf(stderr, "fuzz_booking: populate: %s\n", store_errmsg(st));
        return -1;
    }
    return 0;
}

static void check(const struct booking_res *r)
{
    if (r->outcome < BOOKING_CON || r->outcome > BOOKING_BUSY)
        abort();
    if (r->screen_len >= MENU_SCREEN_BUF || r->screen_len != strlen(r->screen))
        abort();
    if (strnlen(r->state, sizeof r->state) > BOOKING_STATE_MAX)
        abort();
    if (strnlen(r->why, sizeof r->why) >= sizeof r->why)
        abort();
    if (r->outcome == BOOKING_CON || r->outcome == BOOKING_END) {
        int enc = 0;
        if (r->screen_len == 0 || menu_text_octets(r->screen, r->screen_len, &enc) > 160)
            abort();
    }
    if (r->outcome == BOOKING_CON && r->state[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!st || ++runs % RESET_EVERY == 0)
        if (open_store() != 0)
            abort();                   /* the harness itself is broken */
    static const char *const langs[] = { "ky", "ru", "en", "de" };
    uint8_t fl = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    const uint8_t *nl = memchr(p, '\n', n);
    size_t sl = nl ? (size_t)(nl - p) : n;
    char *state = malloc(sl + 1);
    size_t il = nl ? n - sl - 1 : 0;
    char *input = malloc(il + 1);
    if (!state || !input) {
        free(state);
        free(input);
        return 0;
    }
    memcpy(state, p, sl);
    state[sl] = '\0';
    if (nl)
        memcpy(input, nl + 1, il);
    input[il] = '\0';

    struct booking_req rq = {
        .mode = (fl & 1) ? BOOKING_MANAGE : BOOKING_BOOK,
        .horizon_days = (unsigned)(fl >> 5),
        .state = state,
        .input = (fl & 0x10) ? NULL : input,
        .phone = (fl & 8) ? "+996700987654" : "+996555123456",
        .lang = langs[(fl >> 1) & 3],
        .fallback_lang = "ky",
        .key_back = "0", .key_more = "99",
        .label_back = "0 Артка", .label_more = "99 Дагы",
        .now_ms = NOW_MS,
    };
    struct booking_res *res = malloc(sizeof *res);
    if (!res) {
        free(state);
        free(input);
        return 0;
    }
    if (booking_step(st, &rq, res) != 0)
        abort();
    check(res);
    if (res->outcome == BOOKING_FAIL && res->why[0] == '\0')
        abort();

    if (res->booking_id > 0 && res->outcome == BOOKING_END) {
        if (res->sms_id <= 0)
            abort();
        struct store_booking b;
        if (store_booking_get(st, res->booking_id, &b, NULL, 0) != STORE_OK)
            abort();
        static const char *const kinds[] = { "confirmed", "moved", "cancelled",
                                             "reminder" };
        char text[640];
        for (size_t k = 0; k < 4; k++) {
            int len = booking_sms_text(st, &b, kinds[k], NULL, "ky", text,
                                       sizeof text);
            if (len <= 0 || (size_t)len != strlen(text))
                abort();
        }
    }

    if (res->outcome == BOOKING_CON) {
        /* the state handed out must read back: a resume stays in the dialog */
        char again[BOOKING_STATE_MAX + 1];
        memcpy(again, res->state, sizeof again);
        rq.state = again;
        rq.input = NULL;
        if (booking_step(st, &rq, res) != 0)
            abort();
        check(res);
        if (res->outcome != BOOKING_CON)
            abort();
    }
    free(res);
    free(state);
    free(input);
    return 0;
}
