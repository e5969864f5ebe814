/*
 * tests/unit/test_keywords.c — the SMS keywords (gateway/keywords.c): the
 * pure parser on a table of texts (cases, blanks, scripts, mixed Latin and
 * Cyrillic, numbers written several ways, things that must not match), and
 * the handlers against a real store in a fresh mkdtemp directory: the
 * owner's status (built-in line and the agency's template), the neutral
 * answer that is the same for a stranger and for a number that does not
 * exist, the lock-out and its end, STOP / START / HELP, the batch rule and
 * a deliver_sm in UCS-2.
 *
 * Owns: its temp directories (made and removed by tests/unit/tmpdb.h).
 * May call: gateway/keywords.h, gateway/store.h, smpp/pdu.h,
 * tests/unit/tmpdb.h, libc, POSIX, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "tests/unit/tmpdb.h"
#include "gateway/keywords.h"
#include "gateway/store.h"
#include "smpp/pdu.h"

/* ---- the parser ------------------------------------------------------------ */

struct pcase {
    const char *text;
    const char *remembered;
    enum kw_keyword kw;
    const char *arg;
    enum kw_lang lang;
};

static const struct pcase pcases[] = {
    { "STATUS 12345", NULL, KW_STATUS, "12345", KW_EN },
    { "  status    12345  \r\n", NULL, KW_STATUS, "12345", KW_EN },
    { "Status12345", NULL, KW_STATUS, "12345", KW_EN },
    { "Статус 12345", NULL, KW_STATUS, "12345", KW_RU },
    { "СТАТУС №12345", NULL, KW_STATUS, "12345", KW_RU },
    { "статус № 12345.", NULL, KW_STATUS, "12345", KW_RU },
    { "абал 12345", NULL, KW_STATUS, "12345", KW_KY },
    { "АБАЛ:A-77.", NULL, KW_STATUS, "A-77", KW_KY },
    { "STATUS #ab_1:2", NULL, KW_STATUS, "ab_1:2", KW_EN },
    { "STATUS\xc2\xa0" "12345", NULL, KW_STATUS, "12345", KW_EN },
    { "STATUS 12345 please", NULL, KW_STATUS, "12345", KW_EN },
    { "status", NULL, KW_STATUS, "", KW_EN },
    { "status 12345абв", NULL, KW_STATUS, "", KW_EN },
    { "status ---", NULL, KW_STATUS, "", KW_EN },
    { "status 1234567890123456789012345678901234567890123456789012345678901234",
      NULL, KW_STATUS, "", KW_EN },
    { "STATUS 12345", "ru", KW_STATUS, "12345", KW_RU },
    { "STATUS 12345", "ky", KW_STATUS, "12345", KW_KY },
    { "STATUS 12345", "de", KW_STATUS, "12345", KW_EN },
    { "СТАТУС 12345", "ky", KW_STATUS, "12345", KW_KY },
    { "АБАЛ 12345", "ru", KW_STATUS, "12345", KW_KY },
    { "stop", NULL, KW_STOP, "", KW_EN },
    { "Stop!", NULL, KW_STOP, "", KW_EN },
    { "СТОП", NULL, KW_STOP, "", KW_RU },
    { "C\xd0\xa2OП", NULL, KW_STOP, "", KW_RU },   /* Latin C, O */
    { "cтоп", NULL, KW_STOP, "", KW_RU },          /* Latin c */
    { "Токтот", NULL, KW_STOP, "", KW_KY },
    { "ТОКТОТ бардыгын", NULL, KW_STOP, "", KW_KY },
    { "start", NULL, KW_START, "", KW_EN },
    { "СТАРТ", NULL, KW_START, "", KW_RU },
    { "башта", NULL, KW_START, "", KW_KY },
    { "HELP", NULL, KW_HELP, "", KW_EN },
    { "помощь", NULL, KW_HELP, "", KW_RU },
    { "ЖАРДАМ", NULL, KW_HELP, "", KW_KY },
    /* no keyword */
    { "", NULL, KW_NONE, "", KW_EN },
    { "   ", NULL, KW_NONE, "", KW_EN },
    { "PING", NULL, KW_NONE, "", KW_EN },
    { "STOPPED", NULL, KW_NONE, "", KW_EN },
    { "stop\xc3\xa9", NULL, KW_NONE, "", KW_EN },        /* stopé */
    { "\xff stop", NULL, KW_NONE, "", KW_EN },
    { "stop\xff", NULL, KW_NONE, "", KW_EN },
    { "please STOP", NULL, KW_NONE, "", KW_EN },
    { "12345", NULL, KW_NONE, "", KW_EN },
    { "ёлка", NULL, KW_NONE, "", KW_EN },
    { "statusstatusstatusstatus", NULL, KW_NONE, "", KW_EN },
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pcases / sizeof pcases[0]; i++) {
        const struct pcase *c = &pcases[i];
        struct kw_parsed p;
        enum kw_keyword kw = kw_parse((const uint8_t *)c->text, strlen(c->text),
                                      c->remembered, &p);
        if (kw != c->kw || p.kw != c->kw || strcmp(p.arg, c->arg) != 0 ||
            (c->kw != KW_NONE && p.lang != c->lang))
            fail_msg("case %zu \"%s\": got %s \"%s\" %s, wanted %s \"%s\" %s", i,
                     c->text, kw_name(kw), p.arg, kw_lang_code(p.lang),
                     kw_name(c->kw), c->arg, kw_lang_code(c->lang));
    }
}

/* The text need not be NUL-terminated: only len bytes are read. */
static void test_parse_length(void **state)
{
    (void)state;
    const char buf[] = "STATUS 12345XYZ";
    struct kw_parsed p;
    assert_int_equal(kw_parse((const uint8_t *)buf, 9, NULL, &p), KW_STATUS);
    assert_string_equal(p.arg, "12");
    assert_int_equal(kw_parse((const uint8_t *)buf, 3, NULL, &p), KW_NONE);
    /* a Cyrillic letter cut in half */
    const char *ru = "СТОП";
    assert_int_equal(kw_parse((const uint8_t *)ru, strlen(ru) - 1, NULL, &p),
                     KW_NONE);
    assert_int_equal(kw_parse(NULL, 0, NULL, &p), KW_NONE);
}

static void test_texts(void **state)
{
    (void)state;
    for (int t = 0; t < KW_T_COUNT; t++)
        for (int l = KW_EN; l <= KW_KY; l++)
            assert_true(strlen(kw_text((enum kw_text)t, (enum kw_lang)l)) > 10);
    assert_string_equal(kw_text(KW_T_COUNT, KW_EN), "");
    /* the neutral answer never names a number */
    for (int l = KW_EN; l <= KW_KY; l++)
        assert_null(strpbrk(kw_text(KW_T_NEUTRAL, (enum kw_lang)l), "0123456789{"));
}

/* ---- handlers against a real store ------------------------------------------ */

#define OWNER "996555123456"
#define STRANGER "996700111222"
#define T0 1700000000000LL

struct fx {
    struct tmpdb db;            /* first: tmpdb_setup/teardown */
    int64_t agency;
};

static int seed(void *fx)
{
    struct fx *f = fx;
    return store_agency_put(f->db.st, "tax", "Tax service", &f->agency) == STORE_OK &&
        store_app_status(f->db.st, "12345", f->agency, 0, OWNER, "ready",
                         "Come to office 3.", T0) == STORE_OK ? 0 : -1;
}

static int fx_setup(void **state)
{
    return tmpdb_setup(state, sizeof(struct fx), "kzkw", seed);
}

static int send_kw(struct fx *f, const char *from, const char *text, int64_t now,
                   const struct kw_opts *o, struct kw_result *r)
{
    return keywords_handle(f->db.st, from, (const uint8_t *)text, strlen(text), now,
                           o, r);
}

/* send_kw, answered STORE_OK with the given outcome. */
static void send_expect(struct fx *f, const char *from, const char *text, int64_t now,
                        const struct kw_opts *o, struct kw_result *r, int outcome)
{
    assert_int_equal(send_kw(f, from, text, now, o, r), STORE_OK);
    assert_int_equal(r->outcome, outcome);
}

/* The reply the handler queued, as stored (caller frees). */
static struct store_msg *reply_of(struct fx *f, const struct kw_result *r)
{
    assert_true(r->reply_id > 0);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, r->reply_id, &m), STORE_OK);
    assert_int_equal(m->state, STORE_MSG_QUEUED);
    assert_true(m->law_required);
    return m;
}

static void expect_reply(struct fx *f, const struct kw_result *r, const char *to,
                         const char *text, const char *lang)
{
    struct store_msg *m = reply_of(f, r);
    assert_string_equal(m->to, to);
    assert_string_equal(m->text, text);
    assert_string_equal(m->lang, lang);
    store_msg_free(m);
}

static void test_status_owner(void **state)
{
    struct fx *f = *state;
    struct kw_result r;
    /* any form of the owner's number */
    send_expect(f, "+" OWNER, "АБАЛ 12345", T0, NULL, &r, KW_O_STATUS);
    expect_reply(f, &r, OWNER, "Арыз №12345: ready. Come to office 3.", "ky");
    send_expect(f, "0555123456", "status 12345", T0, NULL, &r, KW_O_STATUS);
    expect_reply(f, &r, OWNER, "Application 12345: ready. Come to office 3.", "en");
    /* the agency's template wins over the built-in line */
    assert_int_equal(store_template_set(f->db.st, f->agency, "ready", "ru",
                                        "Заявление {number} готово. {note}"),
                     STORE_OK);
    send_expect(f, OWNER, "Статус 12345", T0, NULL, &r, KW_O_STATUS);
    expect_reply(f, &r, OWNER, "Заявление 12345 готово. Come to office 3.", "ru");
    /* the agency's "*" template words every status it has no text for */
    assert_int_equal(store_template_set(f->db.st, f->agency, "*", "ky",
                                        "№{number}: {status} ({note})"),
                     STORE_OK);
    assert_int_equal(send_kw(f, OWNER, "абал 12345", T0, NULL, &r), STORE_OK);
    expect_reply(f, &r, OWNER, "№12345: ready (Come to office 3.)", "ky");
    /* a template that renders blank is not sent: the built-in line is */
    assert_int_equal(store_app_status(f->db.st, "12345", f->agency, 0, NULL,
                                      "issued", NULL, T0 + 1), STORE_OK);
    assert_int_equal(store_template_set(f->db.st, f->agency, "issued", "en",
                                        " {note} "), STORE_OK);
    assert_int_equal(send_kw(f, OWNER, "status 12345", T0 + 2, NULL, &r),
                     STORE_OK);
    expect_reply(f, &r, OWNER, "Application 12345: issued.", "en");
    /* a stranger gets the neutral answer, never the template's words */
    send_expect(f, STRANGER, "абал 12345", T0 + 3, NULL, &r, KW_O_NEUTRAL);
    expect_reply(f, &r, STRANGER, kw_text(KW_T_NEUTRAL, KW_KY), "ky");
    /* no batch left open: not attached, the MO is durable on return */
    struct store *other = tmpdb_connect(&f->db);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(other, r.reply_id, &m), STORE_OK);
    store_msg_free(m);
    store_close(other);
}

static void test_status_stranger_and_lockout(void **state)
{
    struct fx *f = *state;
    struct kw_opts o = { .window_ms = 60000, .max_failures = 3,
                         .lock_ms = 10 * 60000 };
    struct kw_result r;
    /* an existing application of someone else, and one that does not exist:
     * the same answer */
    send_expect(f, STRANGER, "STATUS 12345", T0, &o, &r, KW_O_NEUTRAL);
    assert_int_equal(r.failures, 1);
    expect_reply(f, &r, STRANGER, kw_text(KW_T_NEUTRAL, KW_EN), "en");
    send_expect(f, STRANGER, "STATUS 99999", T0 + 1, &o, &r, KW_O_NEUTRAL);
    assert_int_equal(r.failures, 2);
    expect_reply(f, &r, STRANGER, kw_text(KW_T_NEUTRAL, KW_EN), "en");
    /* no number: usage, not counted */
    send_expect(f, STRANGER, "СТАТУС", T0 + 2, &o, &r, KW_O_USAGE);
    expect_reply(f, &r, STRANGER, kw_text(KW_T_USAGE, KW_RU), "ru");
    /* the third failure locks */
    send_expect(f, STRANGER, "абал 55555", T0 + 3, &o, &r, KW_O_LOCKED);
    assert_int_equal(r.locked_until, T0 + 3 + 10 * 60000);
    expect_reply(f, &r, STRANGER,
                 "Өтө көп аракет. 10 мүнөттөн кийин кайра аракет кылыңыз.", "ky");
    /* locked: even a right guess gets the lock-out answer, nothing leaks */
    send_expect(f, STRANGER, "STATUS 12345", T0 + 5 * 60000, &o, &r, KW_O_LOCKED);
    expect_reply(f, &r, STRANGER, "Too many attempts. Try again in 6 minutes.", "en");
    /* the owner is not affected by a stranger's lock */
    send_expect(f, OWNER, "STATUS 12345", T0 + 5 * 60000, &o, &r, KW_O_STATUS);
    /* after the lock: neutral again */
    send_expect(f, STRANGER, "STATUS 12345", T0 + 11 * 60000, &o, &r, KW_O_NEUTRAL);
}

/* Issue 14 item 7: the owner's own application, looked up between
 * guesses, used to forget the misses and so gave unlimited guesses.  Now
 * the misses of the window count whatever succeeds in between. */
static void test_owner_success_does_not_clear_failures(void **state)
{
    struct fx *f = *state;
    struct kw_opts o = { .window_ms = 60000, .max_failures = 3, .lock_ms = 60000 };
    struct kw_result r;
    for (int i = 0; i < 2; i++) {
        send_expect(f, OWNER, "STATUS 1", T0 + i, &o, &r, KW_O_NEUTRAL);
        assert_int_equal(r.failures, i + 1);
    }
    send_expect(f, OWNER, "STATUS 12345", T0 + 2, &o, &r, KW_O_STATUS);
    /* the third miss of the window locks, the success notwithstanding */
    send_expect(f, OWNER, "STATUS 1", T0 + 3, &o, &r, KW_O_LOCKED);
    assert_int_equal(r.failures, 3);
    assert_int_equal(r.locked_until, T0 + 3 + 60000);
    /* the lock holds for the owner's own application too */
    send_expect(f, OWNER, "STATUS 12345", T0 + 4, &o, &r, KW_O_LOCKED);
    /* after the lock the misses have left the window: counting from 1 */
    send_expect(f, OWNER, "STATUS 1", T0 + 3 + 60000, &o, &r, KW_O_NEUTRAL);
    assert_int_equal(r.failures, 1);
}

/* Issue 14 item 6: numbers per agency.  Another agency's 12345 of
 * another owner changes nothing for the owner; two of the owner's own
 * 12345 get the answer asking for the agency's code (not a miss), and
 * the prefixed number finds that agency's; a prefixed miss is a miss. */
static void test_status_numbers_per_agency(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st;
    struct kw_opts o = { .window_ms = 60000, .max_failures = 3,
                         .lock_ms = 60000 };
    struct kw_result r;
    int64_t mvd = 0, grs = 0;
    assert_int_equal(store_agency_put(st, "MVD", "Police", &mvd), STORE_OK);
    assert_int_equal(store_agency_put(st, "GRS", "Registry", &grs), STORE_OK);
    assert_int_equal(store_app_status(st, "12345", mvd, 0, STRANGER, "new",
                                      NULL, T0), STORE_OK);
    send_expect(f, OWNER, "STATUS 12345", T0, &o, &r, KW_O_STATUS);
    expect_reply(f, &r, OWNER, "Application 12345: ready. Come to office 3.",
                 "en");
    send_expect(f, STRANGER, "STATUS 12345", T0, &o, &r, KW_O_STATUS);
    expect_reply(f, &r, STRANGER, "Application 12345: new.", "en");
    /* the owner's second 12345, at GRS */
    assert_int_equal(store_app_status(st, "12345", grs, 0, OWNER, "issued",
                                      "Window 2.", T0), STORE_OK);
    send_expect(f, OWNER, "STATUS 12345", T0 + 1, &o, &r, KW_O_AMBIGUOUS);
    assert_int_equal(r.failures, 0);
    expect_reply(f, &r, OWNER, "This number is with several agencies. Type it "
                 "with the agency's code: tax-12345, GRS-12345", "en");
    send_expect(f, OWNER, "АБАЛ 12345", T0 + 1, &o, &r, KW_O_AMBIGUOUS);
    expect_reply(f, &r, OWNER, "Номур бир нече мекемеде бар. Коду менен "
                 "териңиз: tax-12345, GRS-12345", "ky");
    send_expect(f, OWNER, "status GRS-12345", T0 + 2, &o, &r, KW_O_STATUS);
    expect_reply(f, &r, OWNER, "Application 12345: issued. Window 2.", "en");
    send_expect(f, OWNER, "СТАТУС tax-12345", T0 + 2, &o, &r, KW_O_STATUS);
    expect_reply(f, &r, OWNER, "Заявление №12345: ready. Come to office 3.",
                 "ru");
    /* MVD's 12345 is not the owner's: prefixed or not, a miss, counted */
    send_expect(f, OWNER, "STATUS MVD-12345", T0 + 3, &o, &r, KW_O_NEUTRAL);
    assert_int_equal(r.failures, 1);
    expect_reply(f, &r, OWNER, kw_text(KW_T_NEUTRAL, KW_EN), "en");
    send_expect(f, OWNER, "STATUS mvd-12345", T0 + 4, &o, &r, KW_O_NEUTRAL);
    assert_int_equal(r.failures, 2);
    send_expect(f, OWNER, "STATUS XYZ-12345", T0 + 5, &o, &r, KW_O_LOCKED);
    assert_int_equal(r.failures, 3);
    send_expect(f, OWNER, "STATUS GRS-12345", T0 + 6, &o, &r, KW_O_LOCKED);
}

static void test_stop_start_help(void **state)
{
    struct fx *f = *state;
    struct kw_result r;
    bool out = false;
    send_expect(f, OWNER, "ТОКТОТ", T0, NULL, &r, KW_O_STOP);
    assert_int_equal(store_optout_get(f->db.st, OWNER, &out), STORE_OK);
    assert_true(out);
    /* the confirmation goes out although the number is opted out now */
    expect_reply(f, &r, OWNER, kw_text(KW_T_STOP, KW_KY), "ky");
    /* an opted-out phone still gets answers to its own requests */
    send_expect(f, OWNER, "HELP", T0 + 1, NULL, &r, KW_O_HELP);
    expect_reply(f, &r, OWNER, kw_text(KW_T_HELP, KW_EN), "en");
    send_expect(f, OWNER, "СТАРТ", T0 + 2, NULL, &r, KW_O_START);
    assert_int_equal(store_optout_get(f->db.st, OWNER, &out), STORE_OK);
    assert_false(out);
    expect_reply(f, &r, OWNER, kw_text(KW_T_START, KW_RU), "ru");
    /* START when not opted out: confirmed, still not opted out */
    send_expect(f, STRANGER, "start", T0 + 3, NULL, &r, KW_O_START);
}

static void test_ignored(void **state)
{
    struct fx *f = *state;
    struct kw_result r;
    send_expect(f, OWNER, "hello there", T0, NULL, &r, KW_O_IGNORED);
    assert_int_equal(r.reply_id, 0);
    /* an alphanumeric sender cannot be answered */
    send_expect(f, "INFO", "STOP", T0, NULL, &r, KW_O_IGNORED);
    bool out = true;
    assert_int_equal(store_optout_get(f->db.st, "INFO", &out), STORE_OK);
    assert_false(out);
    struct store_msg *msgs[4];
    size_t n = 9;
    assert_int_equal(store_claim_due(f->db.st, T0 + 1, 1000, msgs, 4, &n), STORE_OK);
    assert_int_equal(n, 0);
}

/* In the store's batch (attached) the MO's writes join it: not durable
 * before the commit, gone with a failed commit; without a batch (not
 * attached) they are durable on return. */
static void test_batch_rule(void **state)
{
    struct fx *f = *state;
    struct kw_result r;
    struct store *other = tmpdb_connect(&f->db);
    assert_int_equal(store_attach(f->db.st, NULL), STORE_OK);
    assert_int_equal(send_kw(f, OWNER, "STOP", T0, NULL, &r), STORE_OK);
    bool out = false;
    assert_int_equal(store_optout_get(other, OWNER, &out), STORE_OK);
    assert_false(out);                      /* in the batch, not durable */
    assert_true(r.reply_id > 0);
    store_test_fail_commits(f->db.st, 1);
    assert_int_equal(store_flush(f->db.st), STORE_ERROR);
    out = true;
    assert_int_equal(store_optout_get(f->db.st, OWNER, &out), STORE_OK);
    assert_false(out);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(f->db.st, r.reply_id, &m), STORE_NOTFOUND);
    /* without a batch the handler's own transaction is committed: durable
     * on return, seen by a second connection */
    store_close(f->db.st);
    f->db.st = tmpdb_connect(&f->db);
    assert_int_equal(send_kw(f, OWNER, "STOP", T0, NULL, &r), STORE_OK);
    assert_int_equal(store_optout_get(other, OWNER, &out), STORE_OK);
    assert_true(out);
    assert_int_equal(store_msg_get(other, r.reply_id, &m), STORE_OK);
    store_msg_free(m);
    store_close(other);
}

static void test_deliver_sm(void **state)
{
    struct fx *f = *state;
    /* "абал 12345" in UCS-2 */
    static const uint8_t ucs2[] = { 0x04, 0x30, 0x04, 0x31, 0x04, 0x30, 0x04, 0x3b,
                                    0x00, 0x20, 0x00, 0x31, 0x00, 0x32, 0x00, 0x33,
                                    0x00, 0x34, 0x00, 0x35 };
    struct smpp_pdu pdu;
    memset(&pdu, 0, sizeof pdu);
    pdu.command_id = SMPP_DELIVER_SM;
    pdu.source_addr = OWNER;
    pdu.destination_addr = "1414";
    pdu.data_coding = 0x08;
    pdu.short_message = ucs2;
    pdu.sm_length = sizeof ucs2;
    struct kw_result r;
    assert_int_equal(keywords_mo(f->db.st, "sim", &pdu, T0, NULL, &r), STORE_OK);
    assert_int_equal(r.outcome, KW_O_STATUS);
    expect_reply(f, &r, OWNER, "Арыз №12345: ready. Come to office 3.", "ky");
    /* a part of a concatenated message is no keyword */
    pdu.esm_class = 0x40;
    assert_int_equal(keywords_mo(f->db.st, "sim", &pdu, T0, NULL, &r), STORE_OK);
    assert_int_equal(r.outcome, KW_O_IGNORED);
    /* GSM 7-bit "STOP" */
    pdu.esm_class = 0;
    pdu.data_coding = 0;
    pdu.short_message = (const uint8_t *)"STOP";
    pdu.sm_length = 4;
    assert_int_equal(keywords_mo(f->db.st, "sim", &pdu, T0, NULL, &r), STORE_OK);
    assert_int_equal(r.outcome, KW_O_STOP);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, tmpdb_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_length),
        cmocka_unit_test(test_texts),
        T(test_status_owner),
        T(test_status_stranger_and_lockout),
        T(test_owner_success_does_not_clear_failures),
        T(test_status_numbers_per_agency),
        T(test_stop_start_help),
        T(test_ignored),
        T(test_batch_rule),
        T(test_deliver_sm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
