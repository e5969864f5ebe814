/*
 * tests/unit/test_menu_step.c — the step engine on the shipped example
 * (ky, ru, en) and on small inline sets: screen size and encoding of every
 * screen, pagination, back/home from every node kind, invalid input and
 * the retry limit, shortcut dial and its opt-out, resume, status and http
 * results (status from the gateway's store),
 * failures and timeouts, the app CON/END round trip, unexpected events,
 * and a timing figure.
 * May call: menus (load, step, dialog, screen), libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "menus/load.h"
#include "menus/step.h"
#include "tests/unit/menu_helper.h"

#define PHONE MH_PHONE

static struct menu_set *example;
static struct menu_output out;
static uint32_t clock_s = 1000000;

static int setup(void **state)
{
    (void)state;
    struct menu_override ov = { "backend", "http://127.0.0.1:18099" };
    return mh_load_example(&ov, &example);
}

static int teardown(void **state)
{
    (void)state;
    menu_set_unref(example);
    return 0;
}

/* Every screen the engine draws must fit one USSD message. */
static void check_screen(const char *expect_enc)
{
    if (!out.show)
        return;
    assert_true(out.octets <= MENU_SCREEN_OCTETS);
    assert_int_equal(out.octets, menu_text_octets(out.screen, out.screen_len, NULL));
    if (expect_enc && strcmp(expect_enc, "ucs2") == 0)
        assert_int_equal(out.enc, MENU_ENC_UCS2);
    else if (expect_enc && strcmp(expect_enc, "gsm") == 0)
        assert_int_equal(out.enc, MENU_ENC_GSM7);
}

static const char *enc_for_lang;

static int ev(const struct menu_set *set, struct menu_dialog *d, int event,
              const char *text, const char *lang)
{
    struct menu_input in = mh_input(event, text, lang, clock_s);
    in.session_id = "sess-1";
    int rc = menu_step(set, d, &in, &out);
    if (rc == MENU_OK)
        check_screen(enc_for_lang);
    return rc;
}

static void start(const struct menu_set *set, struct menu_dialog *d, const char *dial,
                  const char *lang)
{
    menu_dialog_init(d);
    assert_int_equal(ev(set, d, MENU_EV_START, dial, lang), MENU_OK);
}

static void input(const struct menu_set *set, struct menu_dialog *d, const char *t)
{
    assert_int_equal(ev(set, d, MENU_EV_INPUT, t, NULL), MENU_OK);
}

static const char *node_id(const struct menu_set *set, const struct menu_dialog *d)
{
    return d->node < set->nnode ? set->node[d->node].id : "-";
}

/* Dial code in lang with every screen checked for enc (see check_screen);
 * the dialog must then be at node `node` (NULL: not checked). */
static void dial(const struct menu_set *set, struct menu_dialog *d, const char *enc,
                 const char *code, const char *lang, const char *node)
{
    enc_for_lang = enc;
    start(set, d, code, lang);
    if (node)
        assert_string_equal(node_id(set, d), node);
}

/* Type t; the dialog must then be at node `node`. */
static void go(const struct menu_set *set, struct menu_dialog *d, const char *t,
              const char *node)
{
    input(set, d, t);
    assert_string_equal(node_id(set, d), node);
}

/* Feed back an effect's result (MENU_EV_HTTP_*, MENU_EV_STATUS_*). */
static void result(const struct menu_set *set, struct menu_dialog *d, int event,
                   const struct menu_kv *kv, size_t n)
{
    struct menu_input in = mh_input(event, NULL, NULL, clock_s);
    in.kv = kv;
    in.nkv = n;
    int rc = menu_step(set, d, &in, &out);
    if (rc != MENU_OK)
        fprintf(stderr, "result %d at %s wait %d: %d\n", event, node_id(set, d), d->wait, rc);
    assert_int_equal(rc, MENU_OK);
    check_screen(enc_for_lang);
}

static void http_ok(const struct menu_set *set, struct menu_dialog *d,
                    const struct menu_kv *kv, size_t n)
{
    result(set, d, MENU_EV_HTTP_OK, kv, n);
}

static const struct menu_effect *fx_of(int kind)
{
    for (size_t i = 0; i < out.nfx; i++)
        if (out.fx[i].kind == kind)
            return &out.fx[i];
    return NULL;
}

/* ---- the example, per language ---- */

/* The branches of the example's main menu, walked in language lang (the
 * main menu's encoding enc). */
static void walk_status(const struct menu_set *set, const char *lang)
{
    struct menu_dialog d;
    /* 1. status: input -> status (the store) -> switch -> end */
    start(set, &d, "*100#", lang);
    assert_string_equal(node_id(set, &d), "main");
    go(set, &d, "1", "status_number");
    input(set, &d, "1234567");
    assert_false(out.show);
    assert_false(out.end);
    const struct menu_effect *fx = fx_of(MENU_FX_STATUS);
    assert_non_null(fx);
    assert_string_equal(fx->number, "1234567");
    assert_string_equal(fx->phone, PHONE);
    assert_string_equal(fx->lang, lang);
    struct menu_kv kv[2] = { { "status", "ready" }, { "updated", "05.03.2025" } };
    result(set, &d, MENU_EV_STATUS_OK, kv, 2);
    assert_true(out.show && out.end);
    assert_string_equal(node_id(set, &d), "status_ready");
    assert_non_null(strstr(out.screen, "1234567"));
    assert_non_null(strstr(out.screen, "05.03.2025"));
    /* a code the menu has no words for is shown as it is */
    start(set, &d, "*100*1#", lang);
    input(set, &d, "1234567");
    struct menu_kv odd[2] = { { "status", "archived" }, { "updated", "01.01.2025" } };
    result(set, &d, MENU_EV_STATUS_OK, odd, 2);
    assert_string_equal(node_id(set, &d), "status_show");
    assert_non_null(strstr(out.screen, "archived"));
    /* not found and locked branches */
    start(set, &d, "*100*1#", lang);
    input(set, &d, "55555");
    result(set, &d, MENU_EV_STATUS_NOT_FOUND, NULL, 0);
    assert_string_equal(node_id(set, &d), "status_notfound");
    assert_true(out.end);
    start(set, &d, "*100*1#", lang);
    input(set, &d, "55555");
    result(set, &d, MENU_EV_STATUS_LOCKED, NULL, 0);
    assert_string_equal(node_id(set, &d), "status_locked");
    assert_true(out.end);
}

static void walk_booking(const struct menu_set *set, const char *lang, const char *enc)
{
    struct menu_dialog d;
    char want[200];
    /* 2. booking: service -> offices -> day -> time -> POST -> sms + end */
    start(set, &d, "*100#", lang);
    go(set, &d, "2", "book_service");
    input(set, &d, "2");
    const struct menu_effect *fx = fx_of(MENU_FX_HTTP);
    assert_non_null(fx);
    snprintf(want, sizeof want, "http://127.0.0.1:18099/offices?service=idcard&lang=%s", lang);
    assert_string_equal(fx->url, want);
    bool latin = strcmp(enc, "gsm") == 0;
    struct menu_kv off[1] = { { "offices", latin ? "1. Bishkek-1\n2. Osh-2" : "1. Бишкек-1\n2. Ош-2" } };
    http_ok(set, &d, off, 1);
    assert_string_equal(node_id(set, &d), "book_office");
    assert_non_null(strstr(out.screen, latin ? "2. Osh-2" : "2. Ош-2"));
    input(set, &d, "2");
    struct menu_kv days[1] = { { "days", "1. 01.12\n2. 02.12" } };
    http_ok(set, &d, days, 1);
    assert_string_equal(node_id(set, &d), "book_day");
    input(set, &d, "1");
    struct menu_kv times[1] = { { "times", "1. 09:00\n2. 10:30" } };
    http_ok(set, &d, times, 1);
    assert_string_equal(node_id(set, &d), "book_time");
    input(set, &d, "2");
    fx = fx_of(MENU_FX_HTTP);
    assert_non_null(fx);
    assert_string_equal(fx->method, "POST");
    assert_string_equal(fx->url, "http://127.0.0.1:18099/book");
    snprintf(want, sizeof want,
             "service=idcard&office=2&day=1&time=2&phone=%%2B996555123456&lang=%s", lang);
    assert_string_equal(fx->body, want);
    assert_string_equal(fx->content_type, "application/x-www-form-urlencoded");
    struct menu_kv booked[2] = { { "ticket", "A-17" }, { "when", "01.12 10:30" } };
    http_ok(set, &d, booked, 2);
    assert_true(out.end);
    assert_string_equal(node_id(set, &d), "book_done");
    fx = fx_of(MENU_FX_SMS);
    assert_non_null(fx);
    assert_string_equal(fx->to, PHONE);
    assert_string_equal(fx->lang, lang);
    assert_non_null(strstr(fx->text, "A-17"));
}

static void walk_subscribe(const struct menu_set *set, const char *lang)
{
    struct menu_dialog d;
    /* 3. subscribe: input -> POST -> sms -> end */
    start(set, &d, "*100*3#", lang);
    assert_string_equal(node_id(set, &d), "sub_number");
    input(set, &d, "7654321");
    const struct menu_effect *fx = fx_of(MENU_FX_HTTP);
    assert_non_null(fx);
    assert_string_equal(fx->method, "POST");
    http_ok(set, &d, NULL, 0);
    assert_true(out.end);
    fx = fx_of(MENU_FX_SMS);
    assert_non_null(fx);
    assert_non_null(strstr(fx->text, "7654321"));
}

static void walk_help(const struct menu_set *set, const char *lang, const char *enc)
{
    struct menu_dialog d;
    /* 4. help: paged end text; the last page ends the dialog */
    start(set, &d, "*100#", lang);
    go(set, &d, "4", "help");
    unsigned pages = out.npages;
    assert_true(pages >= 2);
    for (unsigned p = 1; p < pages; p++) {
        assert_false(out.end);
        input(set, &d, "99");
        assert_int_equal(out.page, p);
    }
    assert_true(out.end);
    printf("%s: help has %u pages, main menu %s\n", lang, pages, enc);
}

static void walk_language(const char *lang, int option, const char *enc)
{
    const struct menu_set *set = example;
    struct menu_dialog d;
    /* unknown language: the language menu, then the choice is remembered */
    dial(set, &d, NULL, "*100#", NULL, "language");
    assert_true(out.show && !out.end);
    assert_int_equal(out.enc, MENU_ENC_UCS2);
    char opt[4];
    snprintf(opt, sizeof opt, "%d", option);
    input(set, &d, opt);
    const struct menu_effect *fx = fx_of(MENU_FX_STORE_LANG);
    assert_non_null(fx);
    assert_string_equal(fx->lang, lang);
    assert_string_equal(fx->phone, PHONE);
    assert_string_equal(node_id(set, &d), "main");
    enc_for_lang = enc;

    walk_status(set, lang);
    walk_booking(set, lang, enc);
    walk_subscribe(set, lang);
    walk_help(set, lang, enc);

    /* 5. language menu from the main menu (its text is in all three) */
    dial(set, &d, "ucs2", "*100*5#", lang, "language");
}

static void test_walk_ky(void **state)
{
    (void)state;
    walk_language("ky", 1, "ucs2");
}

static void test_walk_ru(void **state)
{
    (void)state;
    walk_language("ru", 2, "ucs2");
}

static void test_walk_en(void **state)
{
    (void)state;
    walk_language("en", 3, "gsm");
}

static void test_every_screen_fits(void **state)
{
    (void)state;
    /* Every page of every screen node in every language, including the
     * error variant and a value of maximal length in every variable. */
    const struct menu_set *set = example;
    char big[MENU_VAL_MAX + 1];
    memset(big, 0, sizeof big);
    for (int i = 0; i < MENU_VAL_MAX / 2; i++)
        strcat(big, "ө");
    for (uint8_t li = 0; li < set->nlang; li++) {
        for (uint16_t n = 0; n < set->nnode; n++) {
            uint8_t k = set->node[n].kind;
            if (k != MENU_K_MENU && k != MENU_K_INPUT && k != MENU_K_END)
                continue;
            for (int depth = 0; depth < 3; depth++) {
                struct menu_dialog d;
                menu_dialog_init(&d);
                d.code = 0;
                d.lang = li;
                d.node = n;
                d.wait = MENU_W_INPUT;
                d.depth = (uint8_t)depth;
                for (int i = 0; i < depth; i++)
                    d.stack[i] = 0;
                for (uint16_t v = MENU_VAR_BUILTINS; v < set->nvar; v++)
                    if (!set->var[v].constant)
                        menu_dialog_set(&d, v, big, strlen(big));
                /* page through; an invalid answer (a letter) shows the error */
                for (int p = 0; p < 40 && d.wait == MENU_W_INPUT; p++) {
                    enc_for_lang = NULL;
                    if (k == MENU_K_END)
                        break;
                    assert_int_equal(ev(set, &d, MENU_EV_INPUT, "x", NULL), MENU_OK);
                    if (d.wait != MENU_W_INPUT)
                        break;
                    assert_int_equal(ev(set, &d, MENU_EV_INPUT, "99", NULL), MENU_OK);
                    if (out.page + 1 >= out.npages)
                        break;
                }
            }
        }
    }
}

static void test_pagination_forward_back(void **state)
{
    (void)state;
    const struct menu_set *set = example;
    struct menu_dialog d;
    dial(set, &d, "ucs2", "*100#", "ru", "main");
    unsigned pages = out.npages;
    assert_true(pages >= 2);
    assert_non_null(strstr(out.screen, "99 Далее"));
    assert_null(strstr(out.screen, "0 Назад"));   /* root page 0: nothing behind */
    input(set, &d, "99");
    assert_int_equal(out.page, 1);
    assert_non_null(strstr(out.screen, "0 Назад"));
    /* options on page 2 keep their numbers */
    assert_non_null(strstr(out.screen, "5. Язык"));
    input(set, &d, "0");
    assert_int_equal(out.page, 0);
    /* options of a later page can be chosen from any page */
    go(set, &d, "4", "help");
    /* "more" past the last page of a menu is an invalid answer */
    start(set, &d, "*100#", "ru");
    for (unsigned p = 1; p < pages; p++)
        input(set, &d, "99");
    input(set, &d, "99");
    assert_non_null(strstr(out.screen, "Неверный ввод"));
    assert_int_equal(out.page, 0);
}

static void test_back_and_home_everywhere(void **state)
{
    (void)state;
    const struct menu_set *set = example;
    struct menu_dialog d;
    /* from a menu */
    dial(set, &d, "gsm", "*100*2#", "en", "book_service");
    assert_non_null(strstr(out.screen, "0 Back"));
    go(set, &d, "0", "main");
    /* from an input */
    go(set, &d, "1", "status_number");
    go(set, &d, "0", "main");
    /* from an input reached through an http node: back to the menu before */
    input(set, &d, "2");
    input(set, &d, "1");
    struct menu_kv off[1] = { { "offices", "1. Bishkek-1" } };
    http_ok(set, &d, off, 1);
    assert_string_equal(node_id(set, &d), "book_office");
    go(set, &d, "0", "book_service");
    /* home from two levels down */
    input(set, &d, "1");
    http_ok(set, &d, off, 1);
    input(set, &d, "1");
    struct menu_kv days[1] = { { "days", "1. Monday" } };
    http_ok(set, &d, days, 1);
    assert_string_equal(node_id(set, &d), "book_day");
    assert_non_null(strstr(out.screen, "00 Home"));
    go(set, &d, "00", "main");
    assert_int_equal(d.depth, 0);
    /* from a paged end text (Kyrgyz help: 6 pages): back pages, then leaves */
    dial(set, &d, "ucs2", "*100*4#", "ky", NULL);
    assert_true(out.npages > 2);
    input(set, &d, "99");
    assert_int_equal(out.page, 1);
    input(set, &d, "0");
    assert_int_equal(out.page, 0);
    assert_string_equal(node_id(set, &d), "help");
    go(set, &d, "0", "main");
    /* home on the root re-shows it */
    go(set, &d, "00", "main");
    assert_true(out.show && !out.end);
}

static void test_invalid_and_retry_limit(void **state)
{
    (void)state;
    const struct menu_set *set = example;
    struct menu_dialog d;
    dial(set, &d, "ucs2", "*100*1#", "ky", "status_number");
    input(set, &d, "12");   /* too short */
    assert_true(out.show && !out.end);
    assert_non_null(strstr(out.screen, "Номер 5-10 сандан турушу керек."));
    assert_non_null(strstr(out.screen, "Арыздын номерин"));
    input(set, &d, "12ab5");  /* not digits */
    assert_non_null(strstr(out.screen, "Номер 5-10"));
    input(set, &d, "12345678901");  /* too long: third strike ends */
    assert_true(out.end);
    assert_non_null(strstr(out.screen, "Өтө көп"));
    /* a menu: invalid choice re-shows with the set's message */
    start(set, &d, "*100#", "ky");
    input(set, &d, "9");
    assert_non_null(strstr(out.screen, "Туура эмес жооп"));
    assert_string_equal(node_id(set, &d), "main");
    go(set, &d, "1", "status_number");
}

static void test_shortcut_dial(void **state)
{
    (void)state;
    const struct menu_set *set = example;
    struct menu_dialog d;
    dial(set, &d, NULL, "*100*2*1#", "en", NULL);
    /* main -> 2 (booking) -> 1 (passport) -> http effect, no screen yet */
    assert_string_equal(node_id(set, &d), "book_offices");
    assert_false(out.show);
    const struct menu_effect *fx = fx_of(MENU_FX_HTTP);
    assert_non_null(fx);
    assert_string_equal(fx->url, "http://127.0.0.1:18099/offices?service=passport&lang=en");
    /* back from the input after the http node returns to the service menu */
    struct menu_kv off[1] = { { "offices", "1. A" } };
    http_ok(set, &d, off, 1);
    go(set, &d, "0", "book_service");
    go(set, &d, "0", "main");
    /* an invalid shortcut digit stops at that menu */
    start(set, &d, "*100*9*1#", "en");
    assert_string_equal(node_id(set, &d), "main");
    assert_true(out.show);
    /* stops at an input node (needs real input) */
    start(set, &d, "*100*1*12345#", "en");
    assert_string_equal(node_id(set, &d), "status_number");
    /* an unknown code */
    start(set, &d, "*555#", "en");
    assert_true(out.end);
    assert_non_null(strstr(out.screen, "not served"));

    /* opt-out: a menu with shortcut: false stops the walk */
    const char *t = "settings:\n"
                    "  languages: [en]\n"
                    "codes:\n"
                    "  \"*7#\": root\n"
                    "nodes:\n"
                    "  - id: root\n"
                    "    type: menu\n"
                    "    text: Root\n"
                    "    options: [{label: Secure, next: pin_menu}]\n"
                    "  - id: pin_menu\n"
                    "    type: menu\n"
                    "    shortcut: false\n"
                    "    text: Confirm\n"
                    "    options: [{label: Yes, next: done}]\n"
                    "  - id: done\n"
                    "    type: end\n"
                    "    text: Done\n";
    struct menu_set *s2 = mh_load_text("s.yaml", t);
    start(s2, &d, "*7*1*1#", NULL);
    assert_string_equal(node_id(s2, &d), "pin_menu");
    assert_true(out.show && !out.end);
    go(s2, &d, "1", "done");
    assert_true(out.end);
    menu_set_unref(s2);
}

static void test_resume(void **state)
{
    (void)state;
    const struct menu_set *set = example;
    struct menu_dialog d;
    dial(set, &d, "ucs2", "*100#", "ru", NULL);
    go(set, &d, "1", "status_number");
    /* dropped; dials again 30 s later: offered to continue */
    clock_s += 30;
    assert_int_equal(ev(set, &d, MENU_EV_START, "*100#", "ru"), MENU_OK);
    assert_int_equal(d.wait, MENU_W_RESUME);
    assert_non_null(strstr(out.screen, "1. Продолжить"));
    assert_non_null(strstr(out.screen, "2. Начать заново"));
    /* the saved state survives a round trip through bytes */
    uint8_t blob[MENU_DIALOG_BLOB_MAX];
    int n = menu_dialog_encode(set, &d, blob, sizeof blob);
    assert_true(n > 0);
    assert_int_equal(menu_dialog_decode(set, blob, (size_t)n, &d), MENU_OK);
    go(set, &d, "1", "status_number");
    assert_non_null(strstr(out.screen, "Введите номер"));
    /* start over */
    clock_s += 10;
    assert_int_equal(ev(set, &d, MENU_EV_START, "*100#", "ru"), MENU_OK);
    assert_int_equal(d.wait, MENU_W_RESUME);
    go(set, &d, "2", "main");
    /* too late: a fresh start */
    input(set, &d, "1");
    clock_s += 121;
    assert_int_equal(ev(set, &d, MENU_EV_START, "*100#", "ru"), MENU_OK);
    assert_string_equal(node_id(set, &d), "main");
    /* dropped while waiting for the back-end: continuing repeats the call */
    input(set, &d, "1");
    input(set, &d, "123456");
    assert_int_equal(d.wait, MENU_W_STORE);
    clock_s += 5;
    assert_int_equal(ev(set, &d, MENU_EV_START, "*100#", "ru"), MENU_OK);
    input(set, &d, "1");
    assert_int_equal(d.wait, MENU_W_STORE);
    assert_non_null(fx_of(MENU_FX_STATUS));
    /* an ended dialog is never resumed */
    struct menu_kv kv[2] = { { "status", "ready" }, { "updated", "05.03.2025" } };
    result(set, &d, MENU_EV_STATUS_OK, kv, 2);
    assert_true(out.end);
    clock_s += 5;
    assert_int_equal(ev(set, &d, MENU_EV_START, "*100#", "ru"), MENU_OK);
    assert_string_equal(node_id(set, &d), "main");
}

static void test_http_failure_and_timeout(void **state)
{
    (void)state;
    const struct menu_set *set = example;
    struct menu_dialog d;
    dial(set, &d, "ucs2", "*100*2*1#", "ky", NULL);  /* booking: offices from the back-end */
    assert_int_equal(d.wait, MENU_W_HTTP);
    assert_int_equal(ev(set, &d, MENU_EV_HTTP_FAIL, NULL, NULL), MENU_OK);
    assert_true(out.end);
    assert_string_equal(node_id(set, &d), "service_down");
    start(set, &d, "*100*2*1#", "ky");
    assert_int_equal(ev(set, &d, MENU_EV_HTTP_TIMEOUT, NULL, NULL), MENU_OK);
    assert_string_equal(node_id(set, &d), "service_down");
    /* the status store failing takes the status node's on_error too */
    start(set, &d, "*100*1#", "ky");
    input(set, &d, "123456");
    result(set, &d, MENU_EV_STATUS_FAIL, NULL, 0);
    assert_true(out.end);
    assert_string_equal(node_id(set, &d), "service_down");
    /* no on_error: the set's failure/timeout texts end the dialog */
    const char *t = "settings:\n"
                    "  languages: [en]\n"
                    "codes: {\"*8#\": call}\n"
                    "nodes:\n"
                    "  - id: call\n"
                    "    type: http\n"
                    "    url: http://127.0.0.1:1/x?p={phone}\n"
                    "    next: done\n"
                    "  - id: done\n"
                    "    type: end\n"
                    "    text: Done\n";
    struct menu_set *s2 = mh_load_text("h.yaml", t);
    enc_for_lang = "gsm";
    start(s2, &d, "*8#", NULL);
    assert_string_equal(fx_of(MENU_FX_HTTP)->url, "http://127.0.0.1:1/x?p=%2B996555123456");
    assert_int_equal(fx_of(MENU_FX_HTTP)->timeout_ms, 5000);
    assert_int_equal(ev(s2, &d, MENU_EV_HTTP_TIMEOUT, NULL, NULL), MENU_OK);
    assert_true(out.end);
    assert_string_equal(out.screen, "No answer in time. Please try again later.");
    start(s2, &d, "*8#", NULL);
    assert_int_equal(ev(s2, &d, MENU_EV_HTTP_FAIL, NULL, NULL), MENU_OK);
    assert_string_equal(out.screen, "The service is unavailable. Please try again later.");
    /* a result nobody waits for is refused and changes nothing */
    struct menu_dialog before = d;
    assert_int_equal(ev(s2, &d, MENU_EV_HTTP_OK, NULL, NULL), MENU_EUNEXPECTED);
    assert_int_equal(ev(s2, &d, MENU_EV_INPUT, "1", NULL), MENU_EUNEXPECTED);
    assert_memory_equal(&before, &d, sizeof d);
    menu_set_unref(s2);
}

static void test_app_round_trip(void **state)
{
    (void)state;
    const char *t = "settings:\n"
                    "  languages: [en, ru]\n"
                    "codes: {\"*300#\": menu}\n"
                    "nodes:\n"
                    "  - id: menu\n"
                    "    type: menu\n"
                    "    text: {en: Partners, ru: Партнёры}\n"
                    "    options: [{label: {en: Taxes, ru: Налоги}, next: tax}]\n"
                    "  - id: tax\n"
                    "    type: app\n"
                    "    url: http://127.0.0.1:9/ussd\n"
                    "    timeout_ms: 8000\n"
                    "    on_error: sorry\n"
                    "  - id: sorry\n"
                    "    type: end\n"
                    "    text: {en: Partner unavailable, ru: Партнёр недоступен}\n";
    struct menu_set *set = mh_load_text("a.yaml", t);
    struct menu_dialog d;
    dial(set, &d, NULL, "*300*1#", "en", NULL);
    assert_false(out.show);
    const struct menu_effect *fx = fx_of(MENU_FX_APP);
    assert_non_null(fx);
    assert_string_equal(fx->url, "http://127.0.0.1:9/ussd");
    assert_string_equal(fx->session_id, "sess-1");
    assert_string_equal(fx->service_code, "*300#");
    assert_string_equal(fx->phone, PHONE);
    assert_string_equal(fx->app_text, "");
    assert_int_equal(fx->timeout_ms, 8000);
    assert_int_equal(ev(set, &d, MENU_EV_APP_CON, "Tax office\n1. Balance\n2. Pay", NULL), MENU_OK);
    assert_true(out.show && !out.end);
    assert_string_equal(out.screen, "Tax office\n1. Balance\n2. Pay");
    /* all input goes to the app, reserved keys included */
    input(set, &d, "1");
    assert_string_equal(fx_of(MENU_FX_APP)->app_text, "1");
    assert_int_equal(ev(set, &d, MENU_EV_APP_CON, "INN?", NULL), MENU_OK);
    input(set, &d, "0");
    assert_string_equal(fx_of(MENU_FX_APP)->app_text, "1*0");
    assert_int_equal(ev(set, &d, MENU_EV_APP_CON, "PIN?", NULL), MENU_OK);
    input(set, &d, "123456789012");
    assert_string_equal(fx_of(MENU_FX_APP)->app_text, "1*0*123456789012");
    assert_int_equal(ev(set, &d, MENU_EV_APP_END, "Balance: 0 som", NULL), MENU_OK);
    assert_true(out.show && out.end);
    assert_string_equal(out.screen, "Balance: 0 som");
    /* a failing app: on_error */
    start(set, &d, "*300*1#", "ru");
    assert_int_equal(ev(set, &d, MENU_EV_APP_FAIL, NULL, NULL), MENU_OK);
    assert_true(out.end);
    assert_string_equal(out.screen, "Партнёр недоступен");
    assert_int_equal(out.enc, MENU_ENC_UCS2);
    /* a long app text is cut to one screen */
    start(set, &d, "*300*1#", "ru");
    char longtxt[600] = "";
    for (int i = 0; i < 100; i++)
        strcat(longtxt, "ж ");
    assert_int_equal(ev(set, &d, MENU_EV_APP_CON, longtxt, NULL), MENU_OK);
    assert_true(out.octets <= 160);
    menu_set_unref(set);
}

static void test_input_kinds(void **state)
{
    (void)state;
    const char *t = "settings:\n"
                    "  languages: [en]\n"
                    "  retries: 5\n"
                    "codes: {\"*9#\": date}\n"
                    "nodes:\n"
                    "  - id: date\n"
                    "    type: input\n"
                    "    kind: date\n"
                    "    text: Date (DD.MM.YYYY)?\n"
                    "    var: d\n"
                    "    next: code\n"
                    "  - id: code\n"
                    "    type: input\n"
                    "    kind: regex\n"
                    "    pattern: \"[A-Z]{2}[0-9]{3}\"\n"
                    "    text: Code?\n"
                    "    var: c\n"
                    "    next: check\n"
                    "  - id: check\n"
                    "    type: switch\n"
                    "    cases:\n"
                    "      - {var: c, equals: AB123, next: yes}\n"
                    "    default: no\n"
                    "  - id: yes\n"
                    "    type: end\n"
                    "    text: \"Yes {d} {c}\"\n"
                    "  - id: no\n"
                    "    type: end\n"
                    "    text: \"No {{literal}} {c}\"\n";
    struct menu_set *set = mh_load_text("k.yaml", t);
    struct menu_dialog d;
    dial(set, &d, "gsm", "*9#", NULL, NULL);
    const char *bad_dates[] = { "31.02.2024", "29.02.2023", "1.1.2024", "00.01.2024", "32.01.2024" };
    for (size_t i = 0; i < 4; i++) {
        input(set, &d, bad_dates[i]);
        assert_string_equal(node_id(set, &d), "date");
        assert_non_null(strstr(out.screen, "Invalid input"));
    }
    go(set, &d, "29.02.2024", "code");
    go(set, &d, "ab123", "code");
    go(set, &d, "AB1234", "code");
    input(set, &d, "A\xff" "B12");   /* not UTF-8: refused like any invalid answer */
    assert_string_equal(node_id(set, &d), "code");
    input(set, &d, "  AB123 ");
    assert_true(out.end);
    assert_string_equal(out.screen, "Yes 29.02.2024 AB123");
    start(set, &d, "*9#", NULL);
    input(set, &d, "01.01.2000");
    input(set, &d, "XY999");
    assert_string_equal(out.screen, "No {literal} XY999");
    menu_set_unref(set);
}

static void test_step_speed(void **state)
{
    (void)state;
    const struct menu_set *set = example;
    struct menu_dialog d;
    enc_for_lang = NULL;
    struct timespec a, b;
    const int rounds = 20000;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < rounds; i++) {
        menu_dialog_init(&d);
        struct menu_input in = mh_input(MENU_EV_START, "*100#", "ky", clock_s);
        menu_step(set, &d, &in, &out);
        in = mh_input(MENU_EV_INPUT, "1", "ky", clock_s);
        menu_step(set, &d, &in, &out);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) /
                (2.0 * rounds);
    printf("step: %.2f us per step (Kyrgyz menu screen with pagination)\n", us);
    /* generous bound so sanitizer and valgrind runs pass; the figure is
     * what matters */
    assert_true(us < 500.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_ky),
        cmocka_unit_test(test_walk_ru),
        cmocka_unit_test(test_walk_en),
        cmocka_unit_test(test_every_screen_fits),
        cmocka_unit_test(test_pagination_forward_back),
        cmocka_unit_test(test_back_and_home_everywhere),
        cmocka_unit_test(test_invalid_and_retry_limit),
        cmocka_unit_test(test_shortcut_dial),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_http_failure_and_timeout),
        cmocka_unit_test(test_app_round_trip),
        cmocka_unit_test(test_input_kinds),
        cmocka_unit_test(test_step_speed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
