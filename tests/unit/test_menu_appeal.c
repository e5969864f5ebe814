/*
 * tests/unit/test_menu_appeal.c — the `appeal` node (issue 12): the step
 * engine's side (the MENU_FX_APPEAL effect with the node's categories and
 * their titles in the dialog's language, the sub-dialog's state kept
 * between turns, the final screen, back out of the node, resume
 * re-emitting the turn, unexpected events), the loader's checks with
 * their file:line:column, and the gateway's pure screens
 * (gateway/appeal_screens: category -> text over several screens ->
 * confirm -> file; the status mode; back; a text too long; every screen
 * within one UCS-2 USSD message).
 * May call: menus (load, step, dialog), gateway/appeal_screens, base/utf8,
 * libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "gateway/appeal_screens.h"
#include "menus/load.h"
#include "menus/step.h"
#include "tests/unit/menu_helper.h"

static const char SET[] =
    "settings:\n"
    "  languages: [ky, en]\n"
    "codes:\n"
    "  \"*1#\": main\n"
    "nodes:\n"
    "  - id: main\n"
    "    type: menu\n"
    "    text: { ky: \"Башкы\", en: \"Main\" }\n"
    "    options:\n"
    "      - { label: { ky: \"Кайрылуу\", en: \"Appeal\" }, next: file }\n"
    "      - { label: { ky: \"Абалы\", en: \"State\" }, next: state }\n"
    "  - id: file\n"
    "    type: appeal\n"
    "    categories:\n"
    "      - { id: roads, agency: mvd, title: { ky: \"Жолдор\", en: \"Roads\" } }\n"
    "      - id: corruption\n"
    "        agency: akk\n"
    "        anonymous: true\n"
    "        title: { ky: \"Коррупция\", en: \"Corruption\" }\n"
    "    on_error: down\n"
    "  - id: state\n"
    "    type: appeal\n"
    "    mode: status\n"
    "  - id: down\n"
    "    type: end\n"
    "    text: { ky: \"Иштебей турат\", en: \"Down\" }\n";

static struct menu_output out;

static int step(const struct menu_set *set, struct menu_dialog *d, int event,
                const char *text, const struct menu_kv *kv, size_t nkv)
{
    struct menu_input in = mh_input(event, text, NULL, 100);
    in.kv = kv;
    in.nkv = nkv;
    return menu_step(set, d, &in, &out);
}

/* Dial *1# in lang and choose option `opt` of the main menu (an appeal
 * node): the loaded set, the dialog waiting for the node's first turn. */
static struct menu_set *enter_node(struct menu_dialog *d, const char *lang,
                                   const char *opt)
{
    struct menu_set *set = mh_load_text("t.yaml", SET);
    menu_dialog_init(d);
    struct menu_input in = mh_input(MENU_EV_START, "*1#", lang, 100);
    assert_int_equal(menu_step(set, d, &in, &out), MENU_OK);
    assert_int_equal(step(set, d, MENU_EV_INPUT, opt, NULL, 0), MENU_OK);
    return set;
}

static void test_engine(void **state)
{
    (void)state;
    struct menu_dialog d;
    struct menu_set *set = enter_node(&d, "en", "1");
    /* entering the node: one turn to draw, with the categories */
    assert_false(out.show);
    assert_int_equal(out.nfx, 1);
    const struct menu_effect *fx = &out.fx[0];
    assert_int_equal(fx->kind, MENU_FX_APPEAL);
    assert_int_equal(fx->mode, MENU_APPEAL_FILE);
    assert_null(fx->input);
    assert_string_equal(fx->state, "");
    assert_string_equal(fx->lang, "en");
    assert_string_equal(fx->phone, MH_PHONE);
    assert_int_equal(fx->appeal_ncats, 2);
    assert_string_equal(fx->appeal_cats[1].id, "corruption");
    assert_string_equal(fx->appeal_cats[1].agency, "akk");
    assert_true(fx->appeal_cats[1].anonymous);
    assert_false(fx->appeal_cats[0].anonymous);
    assert_string_equal(fx->appeal_titles, "Roads\nCorruption");
    assert_string_equal(fx->key_back, "0");
    assert_int_equal(d.wait, MENU_W_BOOKING);
    /* the gateway's screen and state */
    struct menu_kv kv = { "state", "C-" };
    assert_int_equal(step(set, &d, MENU_EV_BOOKING_CON, "Choose\n1 Roads", &kv,
                          1), MENU_OK);
    assert_true(out.show);
    assert_false(out.end);
    assert_string_equal(out.screen, "Choose\n1 Roads");
    assert_int_equal(d.wait, MENU_W_BOOKING_INPUT);
    /* an answer: the next turn carries it and the state */
    assert_int_equal(step(set, &d, MENU_EV_INPUT, "2", NULL, 0), MENU_OK);
    assert_int_equal(out.nfx, 1);
    assert_int_equal(out.fx[0].kind, MENU_FX_APPEAL);
    assert_string_equal(out.fx[0].input, "2");
    assert_string_equal(out.fx[0].state, "C-");
    /* a waiting dialog survives its byte form; resume draws again */
    uint8_t blob[MENU_DIALOG_BLOB_MAX];
    int bl = menu_dialog_encode(set, &d, blob, sizeof blob);
    assert_true(bl > 0);
    struct menu_dialog d2;
    assert_int_equal(menu_dialog_decode(set, blob, (size_t)bl, &d2), MENU_OK);
    assert_int_equal(d2.wait, MENU_W_BOOKING);
    /* the wrong result kind is unexpected */
    assert_int_equal(step(set, &d, MENU_EV_STATUS_OK, NULL, NULL, 0),
                     MENU_EUNEXPECTED);
    assert_int_equal(step(set, &d, MENU_EV_BOOKING_END, "Filed: 1234-5678-9",
                          NULL, 0), MENU_OK);
    assert_true(out.end);
    assert_string_equal(out.screen, "Filed: 1234-5678-9");
    menu_set_unref(set);
}

static void test_engine_back_and_failure(void **state)
{
    (void)state;
    struct menu_dialog d;
    struct menu_set *set = enter_node(&d, "ky", "2");
    assert_int_equal(out.fx[0].mode, MENU_APPEAL_STATUS);
    assert_int_equal(out.fx[0].appeal_ncats, 0);
    /* back from its first screen: the menu again */
    assert_int_equal(step(set, &d, MENU_EV_BOOKING_BACK, NULL, NULL, 0), MENU_OK);
    assert_true(out.show);
    assert_non_null(strstr(out.screen, "Башкы"));
    /* a store failure: on_error */
    assert_int_equal(step(set, &d, MENU_EV_INPUT, "1", NULL, 0), MENU_OK);
    assert_int_equal(step(set, &d, MENU_EV_BOOKING_FAIL, NULL, NULL, 0), MENU_OK);
    assert_true(out.end);
    assert_string_equal(out.screen, "Иштебей турат");
    menu_set_unref(set);
}

/* The set with the file node's body replaced: its errors must hold want. */
static void expect_error(const char *node, const char *want)
{
    char text[2048];
    snprintf(text, sizeof text,
             "settings:\n  languages: [en]\ncodes:\n  \"*1#\": a\nnodes:\n%s", node);
    struct menu_source src = { "t.yaml", text, strlen(text) };
    struct menu_errors errs = { 0 };
    struct menu_set *set = NULL;
    assert_int_not_equal(menu_set_load_sources(&src, 1, NULL, 0, &set, &errs), 0);
    bool seen = false;
    for (size_t i = 0; i < errs.n; i++) {
        char b[400];
        menu_error_format(&errs.v[i], b, sizeof b);
        if (strstr(b, want))
            seen = true;
    }
    if (!seen) {
        for (size_t i = 0; i < errs.n; i++) {
            char b[400];
            fprintf(stderr, "  %s\n", menu_error_format(&errs.v[i], b, sizeof b));
        }
        fprintf(stderr, "missing: %s\n", want);
    }
    menu_errors_free(&errs);
    assert_true(seen);
}

static void test_loader_checks(void **state)
{
    (void)state;
    expect_error("  - id: a\n    type: appeal\n",
                 "t.yaml:6:9: appeal node 'a' needs 'categories'");
    expect_error("  - id: a\n    type: appeal\n    categories:\n"
                 "      - { id: x, title: X }\n",
                 "t.yaml:9:11: a category needs 'agency'");
    expect_error("  - id: a\n    type: appeal\n    categories:\n"
                 "      - { id: \"b a d\", agency: mvd, title: X }\n",
                 "t.yaml:9:16: category id 'b a d' must be");
    expect_error("  - id: a\n    type: appeal\n    categories:\n"
                 "      - { id: x, agency: mvd, title: X }\n"
                 "      - { id: x, agency: tax, title: Y }\n",
                 "t.yaml:10:11: category 'x' is listed twice");
    expect_error("  - id: a\n    type: appeal\n    categories:\n"
                 "      - { id: x, agency: mvd, titel: X }\n", "titel");
    expect_error("  - id: a\n    type: appeal\n    categories:\n"
                 "      - { id: x, agency: mvd, title: X, anonymous: maybe }\n",
                 "anonymous must be true or false");
    expect_error("  - id: a\n    type: appeal\n    mode: status\n"
                 "    categories: []\n", "categories apply to mode file only");
    expect_error("  - id: a\n    type: appeal\n    mode: later\n",
                 "mode must be file");
    expect_error("  - id: a\n    type: appeal\n    text: hi\n    mode: status\n",
                 "draws its own screens");
}

/* ---- the gateway's screens ---------------------------------------------------------- */

static struct appeal_scr_res res;

static int turn(bool status, const char *st, const char *input, size_t ncats)
{
    struct appeal_scr_req rq = {
        .status_mode = status, .state = st, .input = input, .lang = "ky",
        .ncats = ncats, .titles = "Жолдор\nКоррупция", .key_back = "0",
        .label_back = "0 Артка",
    };
    appeal_scr_turn(&rq, &res);
    size_t chars = 0;
    assert_true(kz_utf8_count((const uint8_t *)res.screen, strlen(res.screen),
                              &chars, NULL));
    if (chars > 80)
        fprintf(stderr, "too wide (%zu): %s\n", chars, res.screen);
    assert_true(chars <= 80);                 /* one UCS-2 screen */
    return res.outcome;
}

static void test_screens(void **state)
{
    (void)state;
    char st[APPEAL_SCR_STATE_MAX + 1];
    assert_int_equal(turn(false, "", NULL, 2), APPEAL_SCR_CON);
    assert_non_null(strstr(res.screen, "1 Жолдор\n2 Коррупция\n0 Артка"));
    snprintf(st, sizeof st, "%s", res.state);
    assert_int_equal(turn(false, st, "7", 2), APPEAL_SCR_CON);   /* no such */
    assert_non_null(strstr(res.screen, "Туура эмес"));
    assert_int_equal(turn(false, st, "2", 2), APPEAL_SCR_CON);
    assert_string_equal(res.state, "T1");
    /* the text over two screens, appended */
    assert_int_equal(turn(false, "T1", "Кызматкер пара сурады", 2), APPEAL_SCR_CON);
    assert_string_equal(res.state, "T1Кызматкер пара сурады");
    assert_non_null(strstr(res.screen, "1 Жөнөтүү"));
    snprintf(st, sizeof st, "%s", res.state);
    assert_int_equal(turn(false, st, "паспорт бөлүмүндө", 2), APPEAL_SCR_CON);
    assert_string_equal(res.state, "T1Кызматкер пара сурады паспорт бөлүмүндө");
    snprintf(st, sizeof st, "%s", res.state);
    /* send -> confirm -> yes: file category 1 with the whole text */
    assert_int_equal(turn(false, st, "1", 2), APPEAL_SCR_CON);
    assert_int_equal(res.state[0], 'K');
    assert_non_null(strstr(res.screen, "1 Ооба"));
    snprintf(st, sizeof st, "%s", res.state);
    assert_int_equal(turn(false, st, NULL, 2), APPEAL_SCR_CON);  /* resume */
    assert_string_equal(res.state, st);
    assert_int_equal(turn(false, st, "1", 2), APPEAL_SCR_FILE);
    assert_int_equal(res.cat, 1);
    assert_string_equal(res.text, "Кызматкер пара сурады паспорт бөлүмүндө");
    /* 2 on the confirmation: write again */
    assert_int_equal(turn(false, st, "2", 2), APPEAL_SCR_CON);
    assert_string_equal(res.state, "T1");
    /* too short to send; too long to add */
    assert_int_equal(turn(false, "T0ab", "1", 2), APPEAL_SCR_CON);
    assert_string_equal(res.state, "T0");
    memcpy(st, "T0", 2);
    memset(st + 2, 'x', 150);
    st[152] = '\0';
    assert_int_equal(turn(false, st, "more text here", 2), APPEAL_SCR_CON);
    assert_string_equal(res.state, st);
    assert_non_null(strstr(res.screen, "узун"));
    /* back: confirm -> text -> category -> out */
    assert_int_equal(turn(false, "K0abc", "0", 2), APPEAL_SCR_CON);
    assert_string_equal(res.state, "T0abc");
    assert_int_equal(turn(false, "T0abc", "0", 2), APPEAL_SCR_CON);
    assert_string_equal(res.state, "C-");
    assert_int_equal(turn(false, "C-", "0", 2), APPEAL_SCR_BACK);
    /* one category: no choice, back leaves */
    assert_int_equal(turn(false, "", NULL, 1), APPEAL_SCR_CON);
    assert_string_equal(res.state, "T0");
    assert_int_equal(turn(false, "T0", "0", 1), APPEAL_SCR_BACK);
    /* a state that is not one (or a category out of range) starts over */
    assert_int_equal(turn(false, "T7xyz", "1", 2), APPEAL_SCR_CON);
    assert_string_equal(res.state, "C-");
    /* status mode: the reference, then the gateway answers */
    assert_int_equal(turn(true, "", NULL, 0), APPEAL_SCR_CON);
    assert_string_equal(res.state, "S-");
    assert_int_equal(turn(true, "S-", "1234-5678-9", 0), APPEAL_SCR_STATUS);
    assert_int_equal(turn(true, "S-", "0", 0), APPEAL_SCR_BACK);
    assert_non_null(strstr(appeal_scr_final(APPEAL_SCR_DONE, "ru"), "{ref}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine),
        cmocka_unit_test(test_engine_back_and_failure),
        cmocka_unit_test(test_loader_checks),
        cmocka_unit_test(test_screens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
