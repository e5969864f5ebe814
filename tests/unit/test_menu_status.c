/*
 * tests/unit/test_menu_status.c — the `status` node kind of the step
 * engine: the effect it emits (number from the node's variable, the
 * caller's phone, the language), each result fed back (found with the
 * saved status/updated, not found, locked, store failure with and without
 * on_error, several agencies' numbers: the gateway's screen), unexpected
 * events, resume re-emitting the effect, the dialog
 * byte form round trip while waiting, and the loader's checks of the kind.
 * May call: menus (load, step, dialog), libc, cmocka.
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

#define PHONE MH_PHONE

static const char SET[] =
    "settings:\n"
    "  languages: [en, ru]\n"
    "codes:\n"
    "  \"*1#\": ask\n"
    "nodes:\n"
    "  - id: ask\n"
    "    type: input\n"
    "    text: { en: \"Number:\", ru: \"Номер:\" }\n"
    "    kind: digits\n"
    "    min: 5\n"
    "    max: 10\n"
    "    var: app_no\n"
    "    next: look\n"
    "  - id: look\n"
    "    type: status\n"
    "    var: app_no\n"
    "    save: { st: status, upd: updated }\n"
    "    next: show\n"
    "    on_not_found: nf\n"
    "    on_locked: locked\n"
    "%s"
    "  - id: show\n"
    "    type: end\n"
    "    text: { en: \"{app_no}: {st} since {upd}\", ru: \"{app_no}: {st} с {upd}\" }\n"
    "  - id: nf\n"
    "    type: end\n"
    "    text: { en: \"Not found for this phone.\", ru: \"Не найдено для этого номера.\" }\n"
    "  - id: locked\n"
    "    type: end\n"
    "    text: { en: \"Too many tries. Try later.\", ru: \"Слишком много попыток.\" }\n"
    "  - id: down\n"
    "    type: end\n"
    "    text: { en: \"Down.\", ru: \"Не работает.\" }\n";

static struct menu_output out;

static struct menu_set *load_with(const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text, SET, extra);
    /* without on_error the "down" node is unreachable: loader refuses */
    return mh_load_text("t.yaml", text);
}

static struct menu_set *load(bool with_on_error)
{
    return load_with(with_on_error ? "    on_error: down\n" : "");
}

static int step(const struct menu_set *set, struct menu_dialog *d, int event,
                const char *text, const struct menu_kv *kv, size_t nkv, uint32_t now)
{
    struct menu_input in = mh_input(event, text, NULL, now);
    in.kv = kv;
    in.nkv = nkv;
    return menu_step(set, d, &in, &out);
}

/* Dial, type the number; the step must wait for exactly one status effect. */
static void to_lookup(const struct menu_set *set, struct menu_dialog *d, const char *lang)
{
    menu_dialog_init(d);
    struct menu_input in = mh_input(MENU_EV_START, "*1#", lang, 100);
    assert_int_equal(menu_step(set, d, &in, &out), MENU_OK);
    assert_true(out.show);
    assert_int_equal(step(set, d, MENU_EV_INPUT, "1234567", NULL, 0, 101), MENU_OK);
    assert_false(out.show);
    assert_false(out.end);
    assert_int_equal(out.nfx, 1);
    assert_int_equal(out.fx[0].kind, MENU_FX_STATUS);
    assert_string_equal(out.fx[0].number, "1234567");
    assert_string_equal(out.fx[0].phone, PHONE);
    assert_string_equal(out.fx[0].lang, lang ? lang : "en");
    assert_int_equal(d->wait, MENU_W_STORE);
}

/* A fresh lookup answered with a result that ends the dialog: its screen. */
static const char *lookup_ends(const struct menu_set *set, struct menu_dialog *d, int event)
{
    to_lookup(set, d, NULL);
    assert_int_equal(step(set, d, event, NULL, NULL, 0, 102), MENU_OK);
    assert_true(out.end);
    return out.screen;
}

static void test_found_saves_status_and_date(void **state)
{
    (void)state;
    struct menu_set *set = load(true);
    struct menu_dialog d;
    to_lookup(set, &d, "ru");
    struct menu_kv kv[2] = { { "status", "ready" }, { "updated", "05.03.2025" } };
    assert_int_equal(step(set, &d, MENU_EV_STATUS_OK, NULL, kv, 2, 102), MENU_OK);
    assert_true(out.show && out.end);
    assert_string_equal(out.screen, "1234567: ready с 05.03.2025");
    assert_true(out.octets <= MENU_SCREEN_OCTETS);
    menu_set_unref(set);
}

/* A live status node (node keys `extra`): dial, type the number; the
 * effect is a GET of want_url within 1500 ms.  The set, d waiting. */
static struct menu_set *live_lookup(const char *extra, const char *want_url,
                                    struct menu_dialog *d)
{
    struct menu_set *set = load_with(extra);
    to_lookup(set, d, "en");
    assert_int_equal(out.nfx, 1);
    assert_int_equal(out.fx[0].kind, MENU_FX_STATUS);
    assert_string_equal(out.fx[0].url, want_url);
    assert_string_equal(out.fx[0].method, "GET");
    assert_int_equal(out.fx[0].timeout_ms, 1500);
    return set;
}

/* live mode: the same effect with the agency's URL (values encoded) */
static void test_live_status_effect(void **state)
{
    (void)state;
    struct menu_dialog d;
    struct menu_set *set = live_lookup(
        "    on_error: down\n"
        "    url: \"http://agency.example/apps/{app_no}?phone={phone}\"\n"
        "    timeout_ms: 1500\n",
        "http://agency.example/apps/1234567?phone=%2B996555123456", &d);
    assert_string_equal(out.fx[0].number, "1234567");
    /* the answer is fed back like a local one */
    struct menu_kv kv[2] = { { "status", "ready" }, { "updated", "20.11.2026" } };
    assert_int_equal(step(set, &d, MENU_EV_STATUS_OK, NULL, kv, 2, 102), MENU_OK);
    assert_string_equal(out.screen, "1234567: ready since 20.11.2026");
    menu_set_unref(set);
}

/* issue 13 xroad: live through a security server, the call compiled into
 * the url ("xroad:/r1/<service>" path "#" issue, values encoded) */
static void test_live_status_xroad_effect(void **state)
{
    (void)state;
    struct menu_dialog d;
    struct menu_set *set = live_lookup(
        "    on_error: down\n"
        "    xroad: { service: \"KG/GOV/70000001/tax sub/getStatus\",\n"
        "             path: \"/status/{app_no}?phone={phone}\", issue: \"APP {app_no}\" }\n"
        "    timeout_ms: 1500\n",
        "xroad:/r1/KG/GOV/70000001/tax%20sub/getStatus"
        "/status/1234567?phone=%2B996555123456#APP 1234567", &d);
    menu_set_unref(set);
    /* without path and issue: the service alone, an empty issue */
    set = load_with("    xroad: { service: KG/GOV/1/sub/get }\n"
                    "    on_error: down\n");
    to_lookup(set, &d, "en");
    assert_string_equal(out.fx[0].url, "xroad:/r1/KG/GOV/1/sub/get#");
    menu_set_unref(set);
}

static void test_not_found_locked_and_failure(void **state)
{
    (void)state;
    struct menu_set *set = load(true);
    struct menu_dialog d;
    assert_string_equal(lookup_ends(set, &d, MENU_EV_STATUS_NOT_FOUND), "Not found for this phone.");
    /* nothing about the application leaked into the dialog */
    uint16_t st = menu_set_find_var(set, "st", 2);
    assert_null(menu_dialog_get(&d, st));

    assert_string_equal(lookup_ends(set, &d, MENU_EV_STATUS_LOCKED), "Too many tries. Try later.");
    assert_string_equal(lookup_ends(set, &d, MENU_EV_STATUS_FAIL), "Down.");
    menu_set_unref(set);
}

/* Issue 14 item 6: the phone has that number with several agencies: the
 * gateway's screen (asking for the agency's code) ends the dialog; an
 * empty one is a failure.  Nothing is saved. */
static void test_ambiguous_shows_the_gateways_screen(void **state)
{
    (void)state;
    struct menu_set *set = load(true);
    struct menu_dialog d;
    to_lookup(set, &d, NULL);
    static const char t[] = "This number is with several agencies. Type it "
                            "with the agency's code: MVD-1234567, GRS-1234567";
    assert_int_equal(step(set, &d, MENU_EV_STATUS_AMBIGUOUS, t, NULL, 0, 102),
                     MENU_OK);
    assert_true(out.show && out.end);
    assert_string_equal(out.screen, t);
    uint16_t st = menu_set_find_var(set, "st", 2);
    assert_null(menu_dialog_get(&d, st));
    to_lookup(set, &d, NULL);
    assert_int_equal(step(set, &d, MENU_EV_STATUS_AMBIGUOUS, "", NULL, 0, 102),
                     MENU_OK);
    assert_true(out.end);
    assert_string_equal(out.screen, "Down.");
    menu_set_unref(set);
}

static void test_failure_without_on_error_is_the_set_message(void **state)
{
    (void)state;
    /* a set without on_error: "down" would be unreachable, so drop it */
    char text[4096];
    snprintf(text, sizeof text, SET, "");
    char *p = strstr(text, "  - id: down\n");
    assert_non_null(p);
    *p = '\0';
    struct menu_set *set = mh_load_text("t.yaml", text);
    struct menu_dialog d;
    assert_non_null(strstr(lookup_ends(set, &d, MENU_EV_STATUS_FAIL), "unavailable"));
    menu_set_unref(set);
}

static void test_unexpected_events(void **state)
{
    (void)state;
    struct menu_set *set = load(true);
    struct menu_dialog d;
    to_lookup(set, &d, NULL);
    /* waiting for the store: typed input and http results are refused */
    struct menu_dialog before = d;
    assert_int_equal(step(set, &d, MENU_EV_INPUT, "1", NULL, 0, 102), MENU_EUNEXPECTED);
    assert_int_equal(step(set, &d, MENU_EV_HTTP_OK, NULL, NULL, 0, 102), MENU_EUNEXPECTED);
    assert_memory_equal(&before, &d, sizeof d);
    /* at an input screen, a status result is refused */
    menu_dialog_init(&d);
    struct menu_input in = mh_input(MENU_EV_START, "*1#", NULL, 100);
    assert_int_equal(menu_step(set, &d, &in, &out), MENU_OK);
    assert_int_equal(step(set, &d, MENU_EV_STATUS_OK, NULL, NULL, 0, 101), MENU_EUNEXPECTED);
    menu_set_unref(set);
}

static void test_waiting_dialog_round_trip_and_resume(void **state)
{
    (void)state;
    struct menu_set *set = load(true);
    struct menu_dialog d, back;
    to_lookup(set, &d, NULL);
    uint8_t blob[MENU_DIALOG_BLOB_MAX];
    int n = menu_dialog_encode(set, &d, blob, sizeof blob);
    assert_true(n > 0);
    assert_int_equal(menu_dialog_decode(set, blob, (size_t)n, &back), MENU_OK);
    assert_int_equal(back.wait, MENU_W_STORE);
    /* dropped while waiting, dialled again: offer to resume, "1" re-asks the store */
    struct menu_input in = mh_input(MENU_EV_START, "*1#", NULL, 110);
    assert_int_equal(menu_step(set, &back, &in, &out), MENU_OK);
    assert_int_equal(back.wait, MENU_W_RESUME);
    assert_int_equal(step(set, &back, MENU_EV_INPUT, "1", NULL, 0, 111), MENU_OK);
    assert_int_equal(out.nfx, 1);
    assert_int_equal(out.fx[0].kind, MENU_FX_STATUS);
    assert_string_equal(out.fx[0].number, "1234567");
    assert_int_equal(back.wait, MENU_W_STORE);
    menu_set_unref(set);
}

static void expect_error(const char *nodes, const char *needle)
{
    char text[2048];
    snprintf(text, sizeof text,
             "settings: { languages: [en] }\ncodes: { \"*1#\": ask }\nnodes:\n"
             "  - { id: ask, type: input, text: \"N\", var: app_no, next: look }\n%s"
             "  - { id: ok, type: end, text: \"ok\" }\n"
             "  - { id: nf, type: end, text: \"nf\" }\n", nodes);
    struct menu_source src = { "t.yaml", text, strlen(text) };
    struct menu_errors errs = { 0 };
    struct menu_set *set = NULL;
    assert_int_equal(menu_set_load_sources(&src, 1, NULL, 0, &set, &errs), -1);
    bool found = false;
    for (size_t i = 0; i < errs.n; i++)
        if (strstr(errs.v[i].msg, needle))
            found = true;
    if (!found)
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "got: %s\n", errs.v[i].msg);
    assert_true(found);
    menu_errors_free(&errs);
}

static void test_loader_checks(void **state)
{
    (void)state;
    expect_error("  - { id: look, type: status, next: ok, on_not_found: nf, on_locked: nf }\n",
                 "needs 'var'");
    expect_error("  - { id: look, type: status, var: nope, next: ok, on_not_found: nf, on_locked: nf }\n",
                 "unknown variable 'nope'");
    expect_error("  - { id: look, type: status, var: app_no, next: ok, on_locked: nf }\n",
                 "on_not_found is missing");
    expect_error("  - { id: look, type: status, var: app_no, next: ok, on_not_found: nf }\n",
                 "on_locked is missing");
    expect_error("  - { id: look, type: status, var: app_no, save: { x: owner }, next: ok,"
                 " on_not_found: nf, on_locked: nf }\n", "unknown field 'owner'");
    expect_error("  - { id: look, type: status, var: app_no, text: \"t\", next: ok,"
                 " on_not_found: nf, on_locked: nf }\n", "shows no text");
    /* url makes it live; timeout_ms without url is a mistake */
    expect_error("  - { id: look, type: status, var: app_no, timeout_ms: 500, next: ok,"
                 " on_not_found: nf, on_locked: nf }\n", "live status node (with url) only");
    expect_error("  - { id: look, type: status, var: app_no, url: \"x/{nope}\", next: ok,"
                 " on_not_found: nf, on_locked: nf }\n", "nope");
    /* issue 13 xroad */
    expect_error("  - { id: look, type: status, var: app_no, url: \"http://x/\", next: ok,"
                 " xroad: { service: a/b/c/d/e }, on_not_found: nf, on_locked: nf }\n",
                 "give either 'url' or 'xroad', not both");
    expect_error("  - { id: look, type: status, var: app_no, next: ok,"
                 " xroad: { service: a/b/c/d, path: /x }, on_not_found: nf, on_locked: nf }\n",
                 "xroad.service: an identifier has too few parts");
    expect_error("  - { id: look, type: status, var: app_no, next: ok,"
                 " xroad: { service: a/b/c/d/e, path: \"/x/{nope}\" }, on_not_found: nf,"
                 " on_locked: nf }\n", "xroad.path: unknown variable {nope}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_found_saves_status_and_date),
        cmocka_unit_test(test_live_status_effect),
        cmocka_unit_test(test_live_status_xroad_effect),
        cmocka_unit_test(test_not_found_locked_and_failure),
        cmocka_unit_test(test_ambiguous_shows_the_gateways_screen),
        cmocka_unit_test(test_failure_without_on_error_is_the_set_message),
        cmocka_unit_test(test_unexpected_events),
        cmocka_unit_test(test_waiting_dialog_round_trip_and_resume),
        cmocka_unit_test(test_loader_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
