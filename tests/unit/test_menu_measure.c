/*
 * tests/unit/test_menu_measure.c — what the console tells an operator
 * about a text: encoding, octets of 160, characters of 80 (UCS-2) or 182
 * (GSM-7), extension characters counting twice, and where the gateway's
 * pagination splits a screen (the same pages a dialog gets).
 * May call: menus (measure, screen, load, step), libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menus/measure.h"
#include "tests/unit/menu_helper.h"

/* n copies of the UTF-8 character c into buf (NUL-terminated). */
static const char *rep(char *buf, const char *c, size_t n)
{
    size_t l = strlen(c), o = 0;
    for (size_t i = 0; i < n; i++, o += l)
        memcpy(buf + o, c, l);
    buf[o] = '\0';
    return buf;
}

static void test_cyrillic_80_fits_81_splits(void **state)
{
    (void)state;
    char t[400];
    struct menu_measure m;
    struct menu_screen_in in = { 0 };
    in.more = "99 Дагы";
    in.back_paged = "0 Артка";
    in.final = true;                       /* an end text */
    in.body = rep(t, "ж", 80);
    in.body_len = strlen(t);
    assert_int_equal(menu_measure_screen(&in, &m), 0);
    assert_int_equal(m.enc, MENU_ENC_UCS2);
    assert_int_equal(m.chars, 80);
    assert_int_equal(m.units, 80);
    assert_int_equal(m.limit, 80);
    assert_int_equal(m.octets, 160);
    assert_int_equal(m.limit_octets, 160);
    assert_int_equal(m.first_ucs2, 0);
    assert_true(m.fits);
    assert_int_equal(m.npages, 1);
    assert_int_equal(m.page[0].octets, 160);

    in.body = rep(t, "ж", 81);
    in.body_len = strlen(t);
    assert_int_equal(menu_measure_screen(&in, &m), 0);
    assert_false(m.fits);
    assert_int_equal(m.units, 81);
    assert_int_equal(m.octets, 162);
    assert_int_equal(m.npages, 2);
    assert_int_equal(m.npage_info, 2);
    /* page 1: as much as fits beside "\n99 Дагы" (8 units): 72 letters */
    assert_int_equal(m.page[0].start, 0);
    assert_int_equal(m.page[0].text_len, 72 * 2);
    assert_int_equal(m.page[0].units, 80);
    assert_int_equal(m.page[0].octets, 160);
    assert_int_equal(m.page[1].start_char, 72);
    assert_int_equal(m.page[1].start, 72 * 2);
    assert_int_equal(m.page[1].text_len, 9 * 2);
    assert_int_equal(m.page[1].text_chars, 9);
    /* every page fits one USSD message */
    for (unsigned p = 0; p < m.npage_info; p++)
        assert_true(m.page[p].octets <= MENU_SCREEN_OCTETS);
}

static void test_gsm_182_fits_183_splits(void **state)
{
    (void)state;
    char t[400];
    struct menu_measure m;
    menu_measure_text(rep(t, "a", 182), 182, &m);
    assert_int_equal(m.enc, MENU_ENC_GSM7);
    assert_int_equal(m.units, 182);
    assert_int_equal(m.limit, 182);
    assert_int_equal(m.octets, 160);       /* 182 septets packed */
    assert_true(m.fits);
    assert_int_equal(m.first_ucs2, MENU_MEASURE_NONE);
    assert_int_equal(m.npages, 0);         /* the text alone: no layout */
    menu_measure_text(rep(t, "a", 183), 183, &m);
    assert_false(m.fits);
    assert_int_equal(m.octets, 161);

    struct menu_screen_in in = { 0 };
    in.more = "99 More";
    in.final = true;
    in.body = rep(t, "a", 182);
    in.body_len = 182;
    assert_int_equal(menu_measure_screen(&in, &m), 0);
    assert_int_equal(m.npages, 1);
    in.body = rep(t, "a", 183);
    in.body_len = 183;
    assert_int_equal(menu_measure_screen(&in, &m), 0);
    assert_int_equal(m.npages, 2);
    assert_int_equal(m.page[0].text_len, 182 - 8);   /* "\n99 More" */
    assert_int_equal(m.page[1].start, 174);
    assert_int_equal(m.page[1].text_len, 9);
}

static void test_extension_counts_twice(void **state)
{
    (void)state;
    char t[400];
    struct menu_measure m;
    menu_measure_text(rep(t, "{", 91), 91, &m);
    assert_int_equal(m.enc, MENU_ENC_GSM7);
    assert_int_equal(m.chars, 91);
    assert_int_equal(m.ext, 91);
    assert_int_equal(m.units, 182);
    assert_true(m.fits);
    rep(t, "€", 92);
    menu_measure_text(t, strlen(t), &m);
    assert_int_equal(m.chars, 92);
    assert_int_equal(m.ext, 92);
    assert_int_equal(m.units, 184);
    assert_false(m.fits);
    /* one Kyrgyz letter turns the whole text into UCS-2, and says where */
    strcpy(t, "Salam {ң}");
    menu_measure_text(t, strlen(t), &m);
    assert_int_equal(m.enc, MENU_ENC_UCS2);
    assert_int_equal(m.first_ucs2, 7);
    assert_int_equal(m.first_ucs2_char, 7);
    strcpy(t, "ңa");
    menu_measure_text(t, strlen(t), &m);
    assert_int_equal(m.first_ucs2_char, 0);
    strcpy(t, "Жa`");                     /* a backtick is not GSM either */
    menu_measure_text(t, strlen(t), &m);
    assert_int_equal(m.first_ucs2, 0);
    strcpy(t, "ab`");
    menu_measure_text(t, strlen(t), &m);
    assert_int_equal(m.first_ucs2_char, 2);
    strcpy(t, "Salam {ң}");
    menu_measure_text(t, strlen(t), &m);
    assert_int_equal(m.units, 9);
    assert_int_equal(m.octets, 18);
    assert_int_equal(m.limit, 80);
}

static void test_split_at_a_space(void **state)
{
    (void)state;
    /* 10 words of 9 letters: breaks fall after a space, never inside a word */
    char t[400] = "";
    for (int i = 0; i < 10; i++)
        strcat(t, i ? " абвгдежзи" : "абвгдежзи");
    struct menu_screen_in in = { 0 };
    in.body = t;
    in.body_len = strlen(t);
    in.more = "99 Дагы";
    in.final = true;
    struct menu_measure m;
    assert_int_equal(menu_measure_screen(&in, &m), 0);
    assert_int_equal(m.npages, 2);
    assert_int_equal(m.page[1].start_char % 10, 0);   /* a word's first letter */
    assert_int_equal(m.page[0].text_len + 1, m.page[1].start);  /* the space skipped */
    assert_int_equal(m.page[1].start + m.page[1].text_len, strlen(t));
}

static const char set_yaml[] =
    "settings:\n"
    "  languages: [ky, ru, en]\n"
    "codes:\n"
    "  \"*1#\": m\n"
    "nodes:\n"
    "  - id: m\n"
    "    type: menu\n"
    "    text: { ky: \"Меню\", ru: \"Меню\", en: \"Menu {phone}\" }\n"
    "    options:\n"
    "      - { label: { ky: \"Биринчи\", ru: \"Первый\", en: \"First\" }, next: e }\n"
    "      - { label: { ky: \"Экинчи\", ru: \"Второй\", en: \"Second\" }, next: s }\n"
    "  - id: e\n"
    "    type: end\n"
    "    text: \"Bye\"\n"
    "  - id: s\n"
    "    type: switch\n"
    "    cases: [ { var: lang, equals: en, next: e } ]\n"
    "    default: e\n";

static void test_node_measure(void **state)
{
    (void)state;
    struct menu_set *set = mh_load_text("a.yaml", set_yaml);
    struct menu_measure m;
    /* en: "Menu " (the variable is empty), 2 options, the widest footer */
    assert_int_equal(menu_measure_node(set, menu_set_find_node(set, "m", 1), 2, &m), 0);
    assert_int_equal(m.enc, MENU_ENC_GSM7);
    assert_int_equal(m.chars, 5);
    assert_int_equal(m.npages, 1);
    const char *want = "Menu \n1. First\n2. Second\n0 Back, 00 Home";
    assert_int_equal(m.page[0].len, strlen(want));
    assert_int_equal(m.page[0].units, strlen(want));
    /* ru: UCS-2 */
    assert_int_equal(menu_measure_node(set, menu_set_find_node(set, "m", 1), 1, &m), 0);
    assert_int_equal(m.enc, MENU_ENC_UCS2);
    assert_int_equal(m.page[0].enc, MENU_ENC_UCS2);
    /* a switch has no screen; a bad language is refused */
    assert_int_equal(menu_measure_node(set, menu_set_find_node(set, "s", 1), 0, &m), 1);
    assert_int_equal(menu_measure_node(set, 0, 3, &m), -1);
    /* a typed text with the set's footer */
    assert_int_equal(menu_measure_set_text(set, 0, "Салам", strlen("Салам"), false, &m), 0);
    assert_int_equal(m.units, 5);
    assert_int_equal(m.npages, 1);
    assert_string_equal(menu_enc_name(m.enc), "UCS-2");
    menu_set_unref(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cyrillic_80_fits_81_splits),
        cmocka_unit_test(test_gsm_182_fits_183_splits),
        cmocka_unit_test(test_extension_counts_twice),
        cmocka_unit_test(test_split_at_a_space),
        cmocka_unit_test(test_node_measure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
