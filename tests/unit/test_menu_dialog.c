/*
 * tests/unit/test_menu_dialog.c — the dialog state's byte form: round
 * trips, the size of typical idle dialogs (printed and bounded), mapping
 * by node id onto a reloaded set, and corrupt or stale blobs rejected
 * (every truncation, every single-byte change, bad versions, bad ranges).
 * May call: menus (load, dialog, step), libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menus/load.h"
#include "menus/step.h"
#include "tests/unit/menu_helper.h"

static struct menu_set *example;
static struct menu_output out;

static int setup(void **state)
{
    (void)state;
    return mh_load_example(NULL, &example);
}

static int teardown(void **state)
{
    (void)state;
    menu_set_unref(example);
    return 0;
}

static void step(struct menu_dialog *d, int event, const char *text,
                 const struct menu_kv *kv, size_t nkv)
{
    struct menu_input in = mh_input(event, text, "ky", 1700000000);
    in.kv = kv;
    in.nkv = nkv;
    assert_int_equal(menu_step(example, d, &in, &out), MENU_OK);
}

static void assert_same(const struct menu_dialog *a, const struct menu_dialog *b)
{
    assert_int_equal(a->generation, b->generation);
    assert_int_equal(a->last_active, b->last_active);
    assert_int_equal(a->node, b->node);
    assert_int_equal(a->page, b->page);
    assert_int_equal(a->code, b->code);
    assert_int_equal(a->lang, b->lang);
    assert_int_equal(a->retries, b->retries);
    assert_int_equal(a->wait, b->wait);
    assert_int_equal(a->resume_wait, b->resume_wait);
    assert_int_equal(a->depth, b->depth);
    assert_memory_equal(a->stack, b->stack, a->depth * sizeof a->stack[0]);
    assert_int_equal(a->nvars, b->nvars);
    for (uint8_t i = 0; i < a->nvars; i++) {
        assert_int_equal(a->vars[i].var, b->vars[i].var);
        assert_string_equal(a->vars[i].val, b->vars[i].val);
    }
    assert_int_equal(a->app_len, b->app_len);
    assert_string_equal(a->app, b->app);
}

static int round_trip(const struct menu_dialog *d, uint8_t *blob, size_t cap)
{
    int n = menu_dialog_encode(example, d, blob, cap);
    assert_true(n > 0);
    struct menu_dialog back;
    assert_int_equal(menu_dialog_decode(example, blob, (size_t)n, &back), MENU_OK);
    assert_same(d, &back);
    uint8_t again[MENU_DIALOG_BLOB_MAX];
    int m = menu_dialog_encode(example, &back, again, sizeof again);
    assert_int_equal(m, n);
    assert_memory_equal(blob, again, (size_t)n);
    return n;
}

/* A dialog in the middle of a booking: 3 levels deep, 4 variables. */
static void mid_booking(struct menu_dialog *d)
{
    menu_dialog_init(d);
    step(d, MENU_EV_START, "*100*2*3#", NULL, 0);
    struct menu_kv off[1] = { { "offices", "1. Бишкек-1\n2. Ош-2" } };
    step(d, MENU_EV_HTTP_OK, NULL, off, 1);
    step(d, MENU_EV_INPUT, "1", NULL, 0);
    struct menu_kv days[1] = { { "days", "1. 01.12\n2. 02.12\n3. 03.12" } };
    step(d, MENU_EV_HTTP_OK, NULL, days, 1);
    assert_string_equal(example->node[d->node].id, "book_day");
}

/* mid_booking's dialog in its byte form into blob: the length. */
static int mid_booking_blob(uint8_t *blob, size_t cap)
{
    struct menu_dialog d;
    mid_booking(&d);
    int n = menu_dialog_encode(example, &d, blob, cap);
    assert_true(n > 0);
    return n;
}

static void test_round_trip_and_size(void **state)
{
    (void)state;
    uint8_t blob[MENU_DIALOG_BLOB_MAX];
    struct menu_dialog d;
    /* idle at the main menu */
    menu_dialog_init(&d);
    step(&d, MENU_EV_START, "*100#", NULL, 0);
    int idle_main = round_trip(&d, blob, sizeof blob);
    /* idle at an input after one answer */
    step(&d, MENU_EV_INPUT, "1", NULL, 0);
    step(&d, MENU_EV_INPUT, "12", NULL, 0);   /* invalid: retries 1 */
    int idle_input = round_trip(&d, blob, sizeof blob);
    /* idle mid-booking with its lists */
    mid_booking(&d);
    int idle_booking = round_trip(&d, blob, sizeof blob);
    /* waiting for an http result */
    step(&d, MENU_EV_INPUT, "2", NULL, 0);
    assert_int_equal(d.wait, MENU_W_HTTP);
    round_trip(&d, blob, sizeof blob);
    printf("idle dialog bytes: main menu %d, status input %d, mid-booking %d (limit 250)\n",
           idle_main, idle_input, idle_booking);
    assert_true(idle_main <= 250);
    assert_true(idle_input <= 250);
    assert_true(idle_booking <= 250);
    /* too small a buffer is an error, never an overflow */
    assert_int_equal(menu_dialog_encode(example, &d, blob, 10), MENU_ENOSPACE);
}

static void test_every_truncation_rejected(void **state)
{
    (void)state;
    uint8_t blob[MENU_DIALOG_BLOB_MAX];
    struct menu_dialog back;
    int n = mid_booking_blob(blob, sizeof blob);
    for (int len = 0; len < n; len++) {
        uint8_t *exact = malloc((size_t)len + 1);   /* exact size: ASan sees overreads */
        memcpy(exact, blob, (size_t)len);
        assert_int_equal(menu_dialog_decode(example, exact, (size_t)len, &back), MENU_ECORRUPT);
        assert_int_equal(back.wait, MENU_W_NONE);   /* reset to fresh */
        free(exact);
    }
    /* trailing garbage */
    blob[n] = 0;
    assert_int_equal(menu_dialog_decode(example, blob, (size_t)n + 1, &back), MENU_ECORRUPT);
    /* another version */
    uint8_t v = blob[0];
    blob[0] = 2;
    assert_int_equal(menu_dialog_decode(example, blob, (size_t)n, &back), MENU_ECORRUPT);
    blob[0] = 0;
    assert_int_equal(menu_dialog_decode(example, blob, (size_t)n, &back), MENU_ECORRUPT);
    blob[0] = v;
    /* wait out of range */
    uint8_t w = blob[1];
    blob[1] = 99;
    assert_int_equal(menu_dialog_decode(example, blob, (size_t)n, &back), MENU_ECORRUPT);
    blob[1] = w;
    assert_int_equal(menu_dialog_decode(example, blob, (size_t)n, &back), MENU_OK);
    assert_int_equal(menu_dialog_decode(example, NULL, 0, &back), MENU_ECORRUPT);
}

static void test_every_byte_change_is_safe(void **state)
{
    (void)state;
    uint8_t blob[MENU_DIALOG_BLOB_MAX];
    struct menu_dialog back;
    int n = mid_booking_blob(blob, sizeof blob);
    size_t ok = 0, corrupt = 0, stale = 0;
    for (int i = 0; i < n; i++) {
        for (int b = 0; b < 256; b += 7) {
            uint8_t *m = malloc((size_t)n);
            memcpy(m, blob, (size_t)n);
            m[i] = (uint8_t)b;
            int rc = menu_dialog_decode(example, m, (size_t)n, &back);
            if (rc == MENU_OK) {
                ok++;
                /* a decoded dialog is always safe to step and re-encode */
                uint8_t again[MENU_DIALOG_BLOB_MAX];
                assert_true(menu_dialog_encode(example, &back, again, sizeof again) > 0);
                struct menu_input in = mh_input(MENU_EV_INPUT, "1", NULL, 0);
                int r = menu_step(example, &back, &in, &out);
                assert_true(r == MENU_OK || r == MENU_EUNEXPECTED);
                if (r == MENU_OK && out.show)
                    assert_true(out.octets <= 160);
            } else if (rc == MENU_ECORRUPT) {
                corrupt++;
            } else {
                assert_int_equal(rc, MENU_ESTALE);
                stale++;
            }
            free(m);
        }
    }
    printf("single-byte changes: %zu decoded, %zu corrupt, %zu stale\n", ok, corrupt, stale);
    assert_true(corrupt > 0 && stale > 0);
}

static const char *SET_A = "settings:\n"
                           "  languages: [en]\n"
                           "codes: {\"*1#\": top}\n"
                           "nodes:\n"
                           "  - id: top\n"
                           "    type: menu\n"
                           "    text: Top\n"
                           "    options: [{label: Ask, next: ask}]\n"
                           "  - id: ask\n"
                           "    type: input\n"
                           "    text: Name?\n"
                           "    var: name\n"
                           "    next: bye\n"
                           "  - id: bye\n"
                           "    type: end\n"
                           "    text: \"Bye {name}\"\n";

/* Same ids, other order, one more node, one more variable. */
static const char *SET_B = "settings:\n"
                           "  languages: [en]\n"
                           "codes: {\"*1#\": top}\n"
                           "nodes:\n"
                           "  - id: bye\n"
                           "    type: end\n"
                           "    text: \"Goodbye {name} {city}\"\n"
                           "  - id: city_q\n"
                           "    type: input\n"
                           "    text: City?\n"
                           "    var: city\n"
                           "    next: bye\n"
                           "  - id: ask\n"
                           "    type: input\n"
                           "    text: Your name?\n"
                           "    var: name\n"
                           "    next: city_q\n"
                           "  - id: top\n"
                           "    type: menu\n"
                           "    text: Top\n"
                           "    options: [{label: Ask, next: ask}]\n";

/* Set C lacks node 'ask'. */
static const char *SET_C = "settings:\n"
                           "  languages: [en]\n"
                           "codes: {\"*1#\": top}\n"
                           "nodes:\n"
                           "  - id: top\n"
                           "    type: end\n"
                           "    text: Closed\n";

static struct menu_set *load_text(const char *t)
{
    return mh_load_text("m.yaml", t);
}

static void test_mapped_by_id_across_reload(void **state)
{
    (void)state;
    struct menu_set *a = load_text(SET_A), *b = load_text(SET_B), *c = load_text(SET_C);
    assert_int_not_equal(a->generation, b->generation);
    struct menu_dialog d;
    menu_dialog_init(&d);
    struct menu_input in = mh_input(MENU_EV_START, "*1*1#", NULL, 0);
    assert_int_equal(menu_step(a, &d, &in, &out), MENU_OK);
    assert_string_equal(a->node[d.node].id, "ask");
    in = mh_input(MENU_EV_INPUT, "Aida", NULL, 0);
    /* save under A, answer under B */
    uint8_t blob[MENU_DIALOG_BLOB_MAX];
    int n = menu_dialog_encode(a, &d, blob, sizeof blob);
    assert_true(n > 0);
    struct menu_dialog e;
    assert_int_equal(menu_dialog_decode(b, blob, (size_t)n, &e), MENU_OK);
    assert_string_equal(b->node[e.node].id, "ask");
    assert_string_equal(b->node[e.stack[0]].id, "top");
    assert_int_equal(menu_step(b, &e, &in, &out), MENU_OK);
    assert_string_equal(b->node[e.node].id, "city_q");   /* B's flow */
    assert_int_equal(e.generation, b->generation);
    in.text = "Osh";
    in.len = 3;
    assert_int_equal(menu_step(b, &e, &in, &out), MENU_OK);
    assert_string_equal(out.screen, "Goodbye Aida Osh");
    /* under C the node is gone: stale, and the gateway starts over */
    assert_int_equal(menu_dialog_decode(c, blob, (size_t)n, &e), MENU_ESTALE);
    menu_set_unref(a);
    menu_set_unref(b);
    menu_set_unref(c);
}

static void test_variables_bounded(void **state)
{
    (void)state;
    struct menu_dialog d;
    menu_dialog_init(&d);
    /* a long value is cut at a UTF-8 boundary */
    char big[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(big, "ө");
    menu_dialog_set(&d, 5, big, strlen(big));
    assert_int_equal(d.vars[0].len, MENU_VAL_MAX);
    assert_int_equal(strlen(menu_dialog_get(&d, 5)), MENU_VAL_MAX);
    menu_dialog_set(&d, 5, "x\xd3\xa9", 3);
    assert_string_equal(menu_dialog_get(&d, 5), "x\xd3\xa9");
    /* more than MENU_VARS_MAX: the oldest goes */
    for (uint16_t v = 10; v < 10 + MENU_VARS_MAX + 2; v++)
        menu_dialog_set(&d, v, "v", 1);
    assert_int_equal(d.nvars, MENU_VARS_MAX);
    assert_null(menu_dialog_get(&d, 5));
    assert_null(menu_dialog_get(&d, 10));
    assert_non_null(menu_dialog_get(&d, 10 + MENU_VARS_MAX + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_size),
        cmocka_unit_test(test_every_truncation_rejected),
        cmocka_unit_test(test_every_byte_change_is_safe),
        cmocka_unit_test(test_mapped_by_id_across_reload),
        cmocka_unit_test(test_variables_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
