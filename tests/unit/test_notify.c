/*
 * tests/unit/test_notify.c — the status-notification use case
 * (gateway/notify.h) on a real store in a fresh mkdtemp directory: the
 * change and its history, the template lookup with its fallbacks, who is
 * told (owner, subscribers, not the opted-out, not a muted owner, not the
 * owner twice), the built-in text when no template applies, the fan-out
 * cap, the refusal of a new application without owner; numbers per
 * agency (issue 14 item 6): another agency's change of the same number is
 * its own application, told to its own people; a citizen's number found
 * plain or with the agency's code, and the answer when it is ambiguous.
 *
 * Owns: its temp directory and store (through tests/unit/tmpdb.h).
 * May call: gateway/notify.h, gateway/store.h, tests/unit/tmpdb.h, libc,
 * cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/notify.h"
#include "gateway/store.h"
#include "tests/unit/tmpdb.h"

#define T0 1700000000000LL
#define OWNER "996700000001"

struct fx {
    struct tmpdb db;            /* first: tmpdb_setup/teardown */
    int64_t agency, other;
};

static int seed(void *fx)
{
    struct fx *f = fx;
    return store_agency_put(f->db.st, "tax", "Tax", &f->agency) == STORE_OK &&
        store_agency_put(f->db.st, "mvd", "MVD", &f->other) == STORE_OK ? 0 : -1;
}

static int fx_setup(void **state)
{
    return tmpdb_setup(state, sizeof(struct fx), "kznotify", seed);
}

/* The topic of agency's application A-1 (a static buffer). */
static const char *topic_a1(int64_t agency)
{
    static char t[NOTIFY_TOPIC_MAX];
    notify_topic(agency, "A-1", t, sizeof t);
    return t;
}

static struct notify_change change(const struct fx *f, const char *status,
                                   const char *owner)
{
    struct notify_change c = {
        .number = "A-1", .agency_id = f->agency, .owner = owner,
        .status = status, .note = "Кабинет 5", .lang = "ky", .notify = true,
        .client = "agency:1", .now = T0, .expiry_ms = 60000,
    };
    return c;
}

/* The message with id, or fail. */
static struct store_msg *msg(struct fx *f, int64_t id)
{
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, id, &m), STORE_OK);
    return m;
}

static void test_topic_and_text(void **state)
{
    struct fx *f = *state;
    char topic[NOTIFY_TOPIC_MAX];
    notify_topic(f->agency, "A-1", topic, sizeof topic);
    char want[64];
    snprintf(want, sizeof want, "app:%lld/A-1", (long long)f->agency);
    assert_string_equal(topic, want);
    char *text = (char *)"x";
    assert_int_equal(notify_status_text(f->db.st, f->agency, "A-1", "ready", "ky",
                                        NULL, &text), STORE_NOTFOUND);
    assert_null(text);
    /* the agency's "*" is the fallback for a status without its own */
    assert_int_equal(store_template_set(f->db.st, f->agency, "*", "ky",
                                        "{number}: {status}{note}"), STORE_OK);
    assert_int_equal(notify_status_text(f->db.st, f->agency, "A-1", "ready", "ky",
                                        NULL, &text), STORE_OK);
    assert_string_equal(text, "A-1: ready");
    free(text);
    assert_int_equal(store_template_set(f->db.st, f->agency, "ready", "ky",
                                        "Даяр {number}. {note}"), STORE_OK);
    assert_int_equal(notify_status_text(f->db.st, f->agency, "A-1", "ready", "ky",
                                        "Кабинет 5", &text), STORE_OK);
    assert_string_equal(text, "Даяр A-1. Кабинет 5");
    free(text);
    assert_int_equal(notify_status_text(f->db.st, f->other, "A-1", "ready", "ky",
                                        NULL, &text), STORE_NOTFOUND);
}

static void test_change_tells_owner_and_subscribers(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_template_set(f->db.st, f->agency, "ready", "ky",
                                        "Арыз {number}: {status}. {note}"),
                     STORE_OK);
    assert_int_equal(store_sub_add(f->db.st, "996700000002", topic_a1(f->agency), 1),
                     STORE_OK);
    assert_int_equal(store_sub_add(f->db.st, "996700000003", topic_a1(f->agency), 1),
                     STORE_OK);
    assert_int_equal(store_sub_add(f->db.st, OWNER, topic_a1(f->agency), 1),
                     STORE_OK);
    assert_int_equal(store_optout_set(f->db.st, "996700000004", 1), STORE_OK);
    assert_int_equal(store_sub_add(f->db.st, "996700000004", topic_a1(f->agency), 1),
                     STORE_OK);
    struct notify_change c = change(f, "ready", OWNER);
    struct notify_result res;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    assert_true(res.have_template);
    assert_int_equal(res.queued, 3);       /* owner once, 2 and 3 */
    assert_int_equal(res.opted_out, 1);
    assert_int_equal(res.muted, 0);
    struct store_msg *m = msg(f, 1);
    assert_string_equal(m->to, OWNER);
    assert_string_equal(m->text, "Арыз A-1: ready. Кабинет 5");
    assert_string_equal(m->client, "agency:1");
    assert_string_equal(m->lang, "ky");
    assert_int_equal(m->expires_at, T0 + 60000);
    store_msg_free(m);
    m = msg(f, 3);
    assert_string_equal(m->to, "996700000003");
    store_msg_free(m);
    struct store_msg *none = NULL;
    assert_int_equal(store_msg_get(f->db.st, 4, &none), STORE_NOTFOUND);
    struct store_app app;
    assert_int_equal(store_app_get(f->db.st, f->agency, "A-1", &app), STORE_OK);
    assert_string_equal(app.owner, OWNER);
    assert_string_equal(app.status, "ready");

    /* the owner muted this application: subscribers only */
    assert_int_equal(store_sub_mute(f->db.st, OWNER, topic_a1(f->agency), true,
                                    2), STORE_OK);
    c.owner = NULL;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    assert_int_equal(res.muted, 1);
    assert_int_equal(res.queued, 2);
    /* record only; no template; history grows each time */
    c.notify = false;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    assert_false(res.have_template);
    assert_int_equal(res.queued, 0);
    assert_false(res.builtin);
    /* no template for "lost": the built-in text goes to the same people
     * (it used to reach nobody: issue 14 item 13) */
    c.notify = true;
    c.status = "lost";
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    assert_false(res.have_template);
    assert_true(res.builtin);
    assert_int_equal(res.muted, 1);
    assert_int_equal(res.queued, 2);
    assert_int_equal(res.opted_out, 1);
    m = msg(f, 6);
    assert_string_equal(m->to, "996700000002");
    assert_string_equal(m->text, "Арыз A-1: абалы «lost». Кабинет 5");
    store_msg_free(m);
    struct store_app_event ev[8];
    size_t n = 0;
    assert_int_equal(store_app_history(f->db.st, f->agency, "A-1", ev, 8, &n), STORE_OK);
    assert_int_equal(n, 4);
    assert_string_equal(ev[0].status, "lost");
}

/* The built-in status SMS per language; an empty note leaves no
 * dangling space; an unknown language gets Kyrgyz. */
static void test_default_text(void **state)
{
    (void)state;
    static const struct { const char *lang, *note, *want; } cases[] = {
        { "ky", "Кабинет 5", "Арыз A-1: абалы «ready». Кабинет 5" },
        { "ru", "Окно 3.", "Заявление A-1: статус «ready». Окно 3." },
        { "en", "Desk 2.", "Application A-1: status \"ready\". Desk 2." },
        { "ky", NULL, "Арыз A-1: абалы «ready»." },
        { "ru", "", "Заявление A-1: статус «ready»." },
        { "en", NULL, "Application A-1: status \"ready\"." },
        { "kg", NULL, "Арыз A-1: абалы «ready»." },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = notify_default_text("A-1", "ready", cases[i].lang,
                                      cases[i].note);
        assert_non_null(t);
        assert_string_equal(t, cases[i].want);
        free(t);
    }
}

/* A change in a language without any template is sent in the built-in
 * text of that language; the agency's template then overrides it. */
static void test_default_then_template(void **state)
{
    struct fx *f = *state;
    struct notify_change c = change(f, "ready", OWNER);
    c.lang = "ru";
    c.note = NULL;
    struct notify_result res;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    assert_true(res.builtin);
    assert_false(res.have_template);
    assert_int_equal(res.queued, 1);
    struct store_msg *m = msg(f, 1);
    assert_string_equal(m->to, OWNER);
    assert_string_equal(m->text, "Заявление A-1: статус «ready».");
    assert_string_equal(m->lang, "ru");
    store_msg_free(m);
    assert_int_equal(store_template_set(f->db.st, f->agency, "ready", "ru",
                                        "Готово: {number}."), STORE_OK);
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    assert_false(res.builtin);
    assert_true(res.have_template);
    m = msg(f, 2);
    assert_string_equal(m->text, "Готово: A-1.");
    store_msg_free(m);
}

static void test_refusals(void **state)
{
    struct fx *f = *state;
    struct notify_change c = change(f, "ready", NULL);
    struct notify_result res;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_INVALID);
    c.owner = OWNER;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    /* another agency's "A-1" is its own (issue 14 item 6): no conflict,
     * and the first agency's application keeps its one history entry */
    c.agency_id = f->other;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    struct store_app_event ev[4];
    size_t n = 0;
    assert_int_equal(store_app_history(f->db.st, f->agency, "A-1", ev, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
}

static void test_fanout_cap(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_template_set(f->db.st, f->agency, "ready", "ru", "{number}"),
                     STORE_OK);
    /* one batch for the 1,050 writes (committed by store_flush) */
    assert_int_equal(store_attach(f->db.st, NULL), STORE_OK);
    for (int i = 0; i < NOTIFY_FANOUT_MAX + 50; i++) {
        char to[STORE_MSISDN_MAX];
        snprintf(to, sizeof to, "99677%07d", i);
        assert_int_equal(store_sub_add(f->db.st, to, topic_a1(f->agency), 1),
                     STORE_OK);
    }
    struct notify_change c = change(f, "ready", OWNER);
    c.lang = "ru";
    struct notify_result res;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    assert_int_equal(store_flush(f->db.st), STORE_OK);
    assert_int_equal(res.queued, 1 + NOTIFY_FANOUT_MAX);
}

/* Issue 14 item 6: two agencies' "A-1"; a change of one tells that
 * application's owner and subscribers, never the other's. */
static void test_fanout_follows_own_application(void **state)
{
    struct fx *f = *state;
    const char *other_owner = "996700000005";
    struct notify_change c = change(f, "ready", OWNER);
    c.notify = false;
    struct notify_result res;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    c.agency_id = f->other;
    c.owner = other_owner;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    assert_int_equal(store_sub_add(f->db.st, "996700000002",
                                   topic_a1(f->agency), 1), STORE_OK);
    assert_int_equal(store_sub_add(f->db.st, "996700000003",
                                   topic_a1(f->other), 1), STORE_OK);
    /* the other agency's change: its owner and its subscriber */
    c.status = "closed";
    c.notify = true;
    c.owner = NULL;
    assert_int_equal(notify_status_change(f->db.st, &c, &res), STORE_OK);
    assert_int_equal(res.queued, 2);
    struct store_msg *m = msg(f, 1);
    assert_string_equal(m->to, other_owner);
    store_msg_free(m);
    m = msg(f, 2);
    assert_string_equal(m->to, "996700000003");
    store_msg_free(m);
    /* and the first agency's application did not change */
    struct store_app app;
    assert_int_equal(store_app_get(f->db.st, f->agency, "A-1", &app), STORE_OK);
    assert_string_equal(app.status, "ready");
    assert_string_equal(app.owner, OWNER);
    assert_int_equal(store_app_get(f->db.st, f->other, "A-1", &app), STORE_OK);
    assert_string_equal(app.status, "closed");
    assert_string_equal(app.owner, other_owner);
}

/* Issue 14 item 6: a citizen's typed number, plain or with the agency's
 * code; only the citizen's own applications. */
static void test_app_find(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st;
    struct notify_found fd;
    assert_int_equal(store_app_status(st, "12345", f->agency, 0, OWNER, "ready",
                                      NULL, T0), STORE_OK);
    assert_int_equal(store_app_status(st, "12345", f->other, 0, "996700000009",
                                      "new", NULL, T0), STORE_OK);
    assert_int_equal(store_app_status(st, "PAS-1", f->other, 0, OWNER, "new",
                                      NULL, T0), STORE_OK);
    /* one of mine: as today */
    assert_int_equal(notify_app_find(st, "12345", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 1);
    assert_int_equal(fd.app[0].agency_id, f->agency);
    assert_int_equal(notify_app_find(st, "12345", "996700000009", &fd),
                     STORE_OK);
    assert_int_equal(fd.n, 1);
    assert_int_equal(fd.app[0].agency_id, f->other);
    /* a number with dashes of its own, plain and prefixed ("MVD" any case) */
    assert_int_equal(notify_app_find(st, "PAS-1", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 1);
    assert_int_equal(notify_app_find(st, "MVD-PAS-1", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 1);
    assert_string_equal(fd.app[0].number, "PAS-1");
    /* not mine, a wrong prefix, a bare dash: nothing */
    assert_int_equal(notify_app_find(st, "mvd-12345", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 0);
    assert_int_equal(notify_app_find(st, "tax-PAS-1", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 0);
    assert_int_equal(notify_app_find(st, "-12345", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 0);
    assert_int_equal(notify_app_find(st, "tax-", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 0);
    /* mine at both: ambiguous, until prefixed */
    assert_int_equal(store_app_status(st, "12345", f->other, 0, OWNER, "new",
                                      NULL, T0), STORE_OK);
    assert_int_equal(notify_app_find(st, "12345", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 2);
    char *t = notify_ambiguous_text(&fd, "en");
    assert_non_null(t);
    assert_string_equal(t, "This number is with several agencies. Type it "
                           "with the agency's code: tax-12345, mvd-12345");
    free(t);
    t = notify_ambiguous_text(&fd, "ky");
    assert_string_equal(t, "Номур бир нече мекемеде бар. Коду менен "
                           "териңиз: tax-12345, mvd-12345");
    free(t);
    t = notify_ambiguous_text(&fd, "ru");
    assert_string_equal(t, "Номер в нескольких ведомствах. Наберите с "
                           "кодом: tax-12345, mvd-12345");
    free(t);
    assert_int_equal(notify_app_find(st, "MVD-12345", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 1);
    assert_int_equal(fd.app[0].agency_id, f->other);
    assert_string_equal(fd.app[0].status, "new");
    assert_int_equal(notify_app_find(st, "Tax-12345", OWNER, &fd), STORE_OK);
    assert_int_equal(fd.n, 1);
    assert_int_equal(fd.app[0].agency_id, f->agency);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_topic_and_text, fx_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_change_tells_owner_and_subscribers,
                                        fx_setup, tmpdb_teardown),
        cmocka_unit_test(test_default_text),
        cmocka_unit_test_setup_teardown(test_default_then_template, fx_setup,
                                        tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, fx_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_cap, fx_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_follows_own_application,
                                        fx_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_app_find, fx_setup, tmpdb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
