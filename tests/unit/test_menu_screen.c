/*
 * tests/unit/test_menu_screen.c — screen cost, encoding choice and
 * pagination at their boundaries: exactly 182 septets / 80 UCS-2 units,
 * extension characters, surrogate pairs, long words, option lines never
 * split, footers per page, nothing lost or duplicated across pages.
 * May call: menus/screen, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menus/menu.h"
#include "menus/screen.h"

static void test_cost(void **state)
{
    (void)state;
    size_t sp, un;
    bool g;
    menu_text_cost("Hello @£$", strlen("Hello @£$"), &sp, &un, &g);
    assert_true(g);
    assert_int_equal(sp, 9);
    menu_text_cost("[]{}€", strlen("[]{}€"), &sp, &un, &g);
    assert_true(g);
    assert_int_equal(sp, 10);
    assert_int_equal(un, 5);
    menu_text_cost("ңөү", strlen("ңөү"), &sp, &un, &g);
    assert_false(g);
    assert_int_equal(un, 3);
    menu_text_cost("a`b", 3, &sp, &un, &g);    /* backtick is not GSM */
    assert_false(g);
    menu_text_cost("\xf0\x9f\x98\x80", 4, &sp, &un, &g);   /* U+1F600: a surrogate pair */
    assert_false(g);
    assert_int_equal(un, 2);
    menu_text_cost("\xff\xfe", 2, &sp, &un, &g);   /* invalid bytes: one unit each */
    assert_false(g);
    assert_int_equal(un, 2);
    int enc;
    char a182[183];
    memset(a182, 'a', 182);
    assert_int_equal(menu_text_octets(a182, 182, &enc), 160);
    assert_int_equal(enc, MENU_ENC_GSM7);
    char z80[161] = "";
    for (int i = 0; i < 80; i++)
        strcat(z80, "ж");
    assert_int_equal(menu_text_octets(z80, strlen(z80), &enc), 160);
    assert_int_equal(enc, MENU_ENC_UCS2);
}

static unsigned pages_of(const struct menu_screen_in *in, char pages[][MENU_SCREEN_BUF],
                         unsigned max)
{
    unsigned np = 0, shown;
    size_t len;
    int enc;
    for (unsigned p = 0; p < max; p++) {
        assert_int_equal(menu_screen_page(in, p, pages[p], MENU_SCREEN_BUF, &len, &enc, &np,
                                          &shown), 0);
        assert_int_equal(shown, p);
        assert_true(menu_text_octets(pages[p], len, NULL) <= MENU_SCREEN_OCTETS);
        if (p + 1 == np)
            break;
    }
    return np;
}

static void test_exact_fit(void **state)
{
    (void)state;
    char buf[MENU_SCREEN_BUF];
    size_t len;
    int enc;
    unsigned np, sh;
    char a[200];
    memset(a, 'a', sizeof a);
    struct menu_screen_in in = { 0 };
    in.body = a;
    in.body_len = 182;
    in.final = true;
    in.more = "99 More";
    assert_int_equal(menu_screen_page(&in, 0, buf, sizeof buf, &len, &enc, &np, &sh), 0);
    assert_int_equal(np, 1);
    assert_int_equal(len, 182);
    assert_int_equal(enc, MENU_ENC_GSM7);
    in.body_len = 183;    /* one more: two pages, the first with "99 More" */
    assert_int_equal(menu_screen_page(&in, 0, buf, sizeof buf, &len, &enc, &np, &sh), 0);
    assert_int_equal(np, 2);
    assert_int_equal(len, 182);
    assert_string_equal(buf + 175, "99 More");
    assert_int_equal(menu_text_octets(buf, len, NULL), 160);
    /* asked beyond the end: the last page */
    assert_int_equal(menu_screen_page(&in, 9, buf, sizeof buf, &len, &enc, &np, &sh), 0);
    assert_int_equal(sh, 1);
    /* a too-small buffer is refused */
    assert_int_equal(menu_screen_page(&in, 0, buf, 10, &len, &enc, &np, &sh), -1);
}

static void test_pages_lose_nothing(void **state)
{
    (void)state;
    /* Kyrgyz words + options + every footer entry */
    char body[2000] = "";
    for (int i = 0; i < 40; i++) {
        char w[40];
        snprintf(w, sizeof w, "%sсөз%d", i ? " " : "", i);
        strcat(body, w);
    }
    const char *opt[6] = { "1. Бир", "2. Эки", "3. Үч", "4. Төрт", "5. Беш ңөү", "6. Алты" };
    size_t optl[6];
    for (int i = 0; i < 6; i++)
        optl[i] = strlen(opt[i]);
    struct menu_screen_in in = { 0 };
    in.body = body;
    in.body_len = strlen(body);
    in.opt = opt;
    in.opt_len = optl;
    in.nopt = 6;
    in.more = "99 Дагы";
    in.back = "0 Артка";
    in.back_paged = "0 Артка";
    in.home = "00 Башкы";
    static char pages[50][MENU_SCREEN_BUF];
    unsigned np = pages_of(&in, pages, 50);
    assert_true(np >= 4);
    /* rebuild: strip footers, join; every word and option exactly once, in order */
    char all[4000] = "";
    for (unsigned p = 0; p < np; p++) {
        char *f = strrchr(pages[p], '\n');
        assert_non_null(f);
        if (p + 1 < np)
            assert_string_equal(f + 1, "99 Дагы, 0 Артка, 00 Башкы");
        else
            assert_string_equal(f + 1, "0 Артка, 00 Башкы");
        *f = '\0';
        if (all[0])
            strcat(all, "\n");
        strcat(all, pages[p]);
    }
    /* words are separated by one space or one newline (the break) */
    for (char *c = all; *c; c++)
        if (*c == '\n')
            *c = ' ';
    char want[4000];
    snprintf(want, sizeof want, "%s", body);
    for (int i = 0; i < 6; i++) {
        strcat(want, " ");
        strcat(want, opt[i]);
    }
    assert_string_equal(all, want);
    /* no option line is ever split */
    for (unsigned p = 0; p < np; p++) {
        char *line = pages[p];
        for (int i = 0; i < 6; i++) {
            const char *hit = strstr(line, opt[i]);
            if (hit)
                assert_true(hit == line || hit[-1] == '\n');
        }
    }
}

static void test_long_word_cut_between_characters(void **state)
{
    (void)state;
    char body[1000] = "";
    for (int i = 0; i < 150; i++)
        strcat(body, "ө");   /* no space at all */
    struct menu_screen_in in = { 0 };
    in.body = body;
    in.body_len = strlen(body);
    in.more = "99 >";
    in.final = true;
    static char pages[10][MENU_SCREEN_BUF];
    unsigned np = pages_of(&in, pages, 10);
    assert_int_equal(np, 2);
    char all[1000] = "";
    for (unsigned p = 0; p < np; p++) {
        char *f = p + 1 < np ? strrchr(pages[p], '\n') : NULL;
        if (f)
            *f = '\0';
        strcat(all, pages[p]);
    }
    assert_string_equal(all, body);   /* cut between characters, never inside */
}

static void test_page_encoding_per_page(void **state)
{
    (void)state;
    /* Latin text, then a Cyrillic option: breaks use the UCS-2 budget,
     * and the all-Latin first page goes as GSM-7 */
    char body[400] = "";
    for (int i = 0; i < 12; i++)
        strcat(body, "Latin words ");
    const char *opt[1] = { "1. Кыргызча" };
    size_t optl[1] = { strlen(opt[0]) };
    struct menu_screen_in in = { 0 };
    in.body = body;
    in.body_len = strlen(body) - 1;
    in.opt = opt;
    in.opt_len = optl;
    in.nopt = 1;
    in.more = "99 More";
    char buf[MENU_SCREEN_BUF];
    size_t len;
    int enc;
    unsigned np, sh;
    assert_int_equal(menu_screen_page(&in, 0, buf, sizeof buf, &len, &enc, &np, &sh), 0);
    assert_int_equal(enc, MENU_ENC_GSM7);
    assert_true(len <= 80);
    assert_int_equal(menu_screen_page(&in, np - 1, buf, sizeof buf, &len, &enc, &np, &sh), 0);
    assert_int_equal(enc, MENU_ENC_UCS2);
    assert_non_null(strstr(buf, "1. Кыргызча"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_exact_fit),
        cmocka_unit_test(test_pages_lose_nothing),
        cmocka_unit_test(test_long_word_cut_between_characters),
        cmocka_unit_test(test_page_encoding_per_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
