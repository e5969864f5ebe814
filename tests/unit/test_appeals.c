/*
 * tests/unit/test_appeals.c — citizens' appeals (issue 12): the reference
 * (gateway/appeal_ref: the Damm check digit catches every single-digit
 * error and every adjacent transposition, checked exhaustively over a
 * sample of references; the accepted and refused forms), the transition
 * table and texts (gateway/appeals), the store's appeal functions and
 * filing with its daily limit, replies with their idempotency key, the
 * citizen's status check (only the filing phone learns anything), and the
 * API body parsers (gateway/api_parse).  The HTTP routes are in
 * tests/unit/test_api.c.
 *
 * Owns: its temp directories (tests/unit/tmpdb.h).
 * May call: gateway/appeal_ref.h, gateway/appeals.h, gateway/api_parse.h,
 * gateway/keywords.h, gateway/store.h, tests/unit/tmpdb.h, libc, cmocka.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/api_parse.h"
#include "gateway/appeal_ref.h"
#include "gateway/appeals.h"
#include "gateway/keywords.h"
#include "gateway/store.h"
#include "tests/unit/tmpdb.h"

/* ---- the reference ------------------------------------------------------------ */

/* A deterministic sample of references (xorshift over the 8 digits). */
static void sample_ref(uint32_t *seed, char out[APPEAL_REF_MAX])
{
    uint8_t rnd[APPEAL_REF_DIGITS];
    for (size_t i = 0; i < sizeof rnd; i++) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        rnd[i] = (uint8_t)(*seed >> 8);
    }
    appeal_ref_make(rnd, out);
}

static void test_ref_catches_typos(void **state)
{
    (void)state;
    uint32_t seed = 2463534242u;
    unsigned singles = 0, swaps = 0;
    for (int k = 0; k < 2000; k++) {
        char ref[APPEAL_REF_MAX], out[APPEAL_REF_MAX];
        sample_ref(&seed, ref);
        assert_int_equal(strlen(ref), APPEAL_REF_LEN);
        assert_int_equal(appeal_ref_parse(ref, APPEAL_REF_LEN, out),
                         APPEAL_REF_OK);
        assert_string_equal(out, ref);
        /* every single-digit error, in every position (the check too) */
        for (int i = 0; i < APPEAL_REF_LEN; i++)
            for (char d = '0'; d <= '9'; d++) {
                if (d == ref[i])
                    continue;
                char bad[APPEAL_REF_MAX];
                memcpy(bad, ref, sizeof bad);
                bad[i] = d;
                assert_int_equal(appeal_ref_parse(bad, APPEAL_REF_LEN, out),
                                 APPEAL_REF_CHECK);
                assert_string_equal(out, "");
                singles++;
            }
        /* every transposition of two adjacent, different digits */
        for (int i = 0; i + 1 < APPEAL_REF_LEN; i++) {
            if (ref[i] == ref[i + 1])
                continue;
            char bad[APPEAL_REF_MAX];
            memcpy(bad, ref, sizeof bad);
            bad[i] = ref[i + 1];
            bad[i + 1] = ref[i];
            assert_int_equal(appeal_ref_parse(bad, APPEAL_REF_LEN, out),
                             APPEAL_REF_CHECK);
            swaps++;
        }
    }
    assert_true(singles == 2000u * 9 * 9);
    assert_true(swaps > 2000u * 7);
}

static void test_ref_forms(void **state)
{
    (void)state;
    char ref[APPEAL_REF_MAX], shown[APPEAL_REF_SHOW_MAX], out[APPEAL_REF_MAX];
    static const uint8_t rnd[APPEAL_REF_DIGITS] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    appeal_ref_make(rnd, ref);
    assert_memory_equal(ref, "12345678", 8);
    assert_int_equal(appeal_ref_damm(ref, APPEAL_REF_LEN), 0);
    appeal_ref_show(ref, shown);
    assert_int_equal(strlen(shown), 11);
    assert_memory_equal(shown, "1234-5678-", 10);
    /* the forms a citizen types */
    char typed[64];
    const char *pre[] = { "", "  ", "#", "\xE2\x84\x96" };
    const char *post[] = { "", " ", "", "" };
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        snprintf(typed, sizeof typed, "%s%s%s", pre[i], shown, post[i]);
        assert_int_equal(appeal_ref_parse(typed, strlen(typed), out),
                         APPEAL_REF_OK);
        assert_string_equal(out, ref);
    }
    snprintf(typed, sizeof typed, "1234 5678 %c", ref[8]);
    assert_int_equal(appeal_ref_parse(typed, strlen(typed), out), APPEAL_REF_OK);
    snprintf(typed, sizeof typed, "1234.5678.%c", ref[8]);
    assert_int_equal(appeal_ref_parse(typed, strlen(typed), out), APPEAL_REF_OK);
    /* not 9 digits, or something else in it */
    const char *bad[] = { "", "-", "12345678", "1234567890", "-123456789",
                          "123456789-", "1234x5678", "abcdefghi", "1234_5678-9",
                          "1234567８9" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(appeal_ref_parse(bad[i], strlen(bad[i]), out),
                         APPEAL_REF_FORMAT);
    assert_int_equal(appeal_ref_parse(NULL, 0, out), APPEAL_REF_FORMAT);
    /* len is honoured: the tenth byte is not read */
    snprintf(typed, sizeof typed, "%s7", ref);
    assert_int_equal(appeal_ref_parse(typed, APPEAL_REF_LEN, out), APPEAL_REF_OK);
    appeal_ref_show("123", shown);
    assert_string_equal(shown, "");
}

/* ---- states and texts ----------------------------------------------------------- */

static void test_states(void **state)
{
    (void)state;
    for (int s = 0; s < APPEAL_STATE_COUNT; s++) {
        assert_int_equal(appeals_state_parse(appeals_state_name(s)), s);
        assert_false(appeals_next_ok(s, s));
        for (int l = 0; l < 3; l++)
            assert_true(strlen(appeals_state_word(s, (const char *[]){
                "ky", "ru", "en" }[l])) > 0);
    }
    assert_int_equal(appeals_state_parse("done"), -1);
    assert_int_equal(appeals_state_parse(NULL), -1);
    assert_null(appeals_state_name(APPEAL_STATE_COUNT));
    assert_true(appeals_next_ok(APPEAL_NEW, APPEAL_IN_PROGRESS));
    assert_true(appeals_next_ok(APPEAL_IN_PROGRESS, APPEAL_ANSWERED));
    assert_true(appeals_next_ok(APPEAL_ANSWERED, APPEAL_CLOSED));
    assert_true(appeals_next_ok(APPEAL_ANSWERED, APPEAL_IN_PROGRESS));
    assert_false(appeals_next_ok(APPEAL_IN_PROGRESS, APPEAL_NEW));
    assert_false(appeals_next_ok(APPEAL_CLOSED, APPEAL_IN_PROGRESS));
    assert_false(appeals_next_ok(APPEAL_REJECTED, APPEAL_NEW));
    assert_false(appeals_next_ok(-1, APPEAL_NEW));
    assert_true(appeals_can_reply(APPEAL_NEW));
    assert_true(appeals_can_reply(APPEAL_ANSWERED));
    assert_false(appeals_can_reply(APPEAL_CLOSED));
    assert_false(appeals_can_reply(APPEAL_REJECTED));
    for (int t = 0; t < APPEALS_T_COUNT; t++) {
        assert_true(strlen(appeals_text(t, "ky")) > 0);
        assert_true(strlen(appeals_text(t, "ru")) > 0);
        /* another language: English */
        assert_string_equal(appeals_text(t, "de"), appeals_text(t, "en"));
    }
}

/* ---- store and filing ------------------------------------------------------------ */

struct fx {
    struct tmpdb db;                /* first: tmpdb_setup/teardown */
};

static int fx_setup(void **state)
{
    return tmpdb_setup(state, sizeof(struct fx), "kzappeal", NULL);
}

#define PHONE "996700000001"
#define OTHER "996700000002"
#define T0 1765000000000LL

static struct appeal_filing filing(const char *phone, const char *text,
                                   bool anonymous)
{
    return (struct appeal_filing){
        .msisdn = phone, .agency = "mvd", .category = anonymous ? "corruption"
        : "roads", .anonymous = anonymous, .text = text, .lang = "ky",
        .channel = "ussd",
    };
}

static void test_store_appeals(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st;
    int64_t agency;
    assert_int_equal(store_agency_put(st, "mvd", "mvd", &agency), STORE_OK);
    struct store_appeal_new n = {
        .ref = "123456786", .agency_id = agency, .category = "roads",
        .msisdn = PHONE, .text = "Жол бузук", .lang = "ky", .channel = "sms",
    };
    int64_t id = 0, id2 = 0;
    assert_int_equal(store_appeal_add(st, &n, T0, &id), STORE_OK);
    assert_true(id > 0);
    /* a taken reference: nothing stored */
    assert_int_equal(store_appeal_add(st, &n, T0, &id2), STORE_CONFLICT);
    assert_int_equal(id2, 0);
    n.text = "";
    assert_int_equal(store_appeal_add(st, &n, T0, &id2), STORE_INVALID);
    struct store_appeal a;
    assert_int_equal(store_appeal_get(st, "123456786", &a), STORE_OK);
    assert_string_equal(a.state, "new");
    assert_string_equal(a.agency, "mvd");
    assert_string_equal(a.text, "Жол бузук");
    assert_string_equal(a.msisdn, PHONE);
    assert_int_equal(a.created_at, T0);
    assert_int_equal(store_appeal_get(st, "000000000", &a), STORE_NOTFOUND);
    /* a state outside the CHECK: refused, nothing changed */
    assert_int_equal(store_appeal_change(st, id, "state", "done", NULL,
                                         "agency:mvd", T0 + 1), STORE_CONFLICT);
    assert_int_equal(store_appeal_change(st, 999, "state", "closed", NULL,
                                         "agency:mvd", T0 + 1), STORE_NOTFOUND);
    assert_int_equal(store_appeal_change(st, id, "state", "in_progress",
                                         "checking", "agency:mvd", T0 + 2),
                     STORE_OK);
    struct store_appeal_event ev[4];
    size_t k = 0;
    assert_int_equal(store_appeal_history(st, id, 0, ev, 4, &k), STORE_OK);
    assert_int_equal(k, 2);
    assert_string_equal(ev[0].who, "citizen");
    assert_string_equal(ev[0].state, "new");
    assert_string_equal(ev[1].state, "in_progress");
    assert_string_equal(ev[1].text, "checking");
    assert_int_equal(ev[1].at, T0 + 2);
    /* lists: by state and all, paged by id */
    struct store_appeal v[3];
    assert_int_equal(store_appeals_list(st, agency, "new", 0, v, 3, &k),
                     STORE_OK);
    assert_int_equal(k, 0);
    assert_int_equal(store_appeals_list(st, agency, NULL, 0, v, 3, &k),
                     STORE_OK);
    assert_int_equal(k, 1);
    assert_int_equal(store_appeals_list(st, agency, NULL, id, v, 3, &k),
                     STORE_OK);
    assert_int_equal(k, 0);
    assert_int_equal(store_appeals_list(st, agency + 1, NULL, 0, v, 3, &k),
                     STORE_OK);
    assert_int_equal(k, 0);
    unsigned c = 9;
    assert_int_equal(store_appeals_since(st, PHONE, T0, &c), STORE_OK);
    assert_int_equal(c, 1);
    assert_int_equal(store_appeals_since(st, PHONE, T0 + 1, &c), STORE_OK);
    assert_int_equal(c, 0);
}

static void test_file_limit_and_status(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st;
    struct appeals_stats stats = { 0 };
    struct appeals_opts o = { .per_day = 2, .stats = &stats };
    struct appeal_filed res[3];
    struct appeal_filing fl = filing(PHONE, "Көчөдө жарык жок", false);
    assert_int_equal(appeals_file(st, &fl, &o, true, T0, &res[0]), STORE_OK);
    assert_int_equal(res[0].outcome, APPEAL_FILED);
    assert_int_equal(appeal_ref_parse(res[0].ref, APPEAL_REF_LEN,
                                      (char[APPEAL_REF_MAX]){ 0 }),
                     APPEAL_REF_OK);
    /* the SMS carries the reference, grouped */
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(st, res[0].sms_id, &m), STORE_OK);
    char shown[APPEAL_REF_SHOW_MAX];
    appeal_ref_show(res[0].ref, shown);
    assert_non_null(strstr(m->text, shown));
    assert_string_equal(m->to, PHONE);
    assert_true(m->law_required);
    store_msg_free(m);
    assert_int_equal(appeals_file(st, &fl, &o, true, T0 + 1, &res[1]),
                     STORE_OK);
    assert_int_equal(res[1].outcome, APPEAL_FILED);
    assert_string_not_equal(res[0].ref, res[1].ref);
    /* the third within 24 hours: refused politely (by SMS), counted */
    assert_int_equal(appeals_file(st, &fl, &o, true, T0 + 2, &res[2]),
                     STORE_OK);
    assert_int_equal(res[2].outcome, APPEAL_LIMITED);
    assert_string_equal(res[2].ref, "");
    assert_int_equal(store_msg_get(st, res[2].sms_id, &m), STORE_OK);
    assert_string_equal(m->text, appeals_text(APPEALS_T_LIMITED, "ky"));
    store_msg_free(m);
    assert_int_equal(appeals_file(st, &fl, &o, false, T0 + 3, &res[2]),
                     STORE_OK);
    assert_int_equal(res[2].sms_id, 0);   /* USSD shows it on screen */
    assert_int_equal(stats.filed, 2);
    assert_int_equal(stats.limited, 2);
    /* a day later: allowed again */
    assert_int_equal(appeals_file(st, &fl, &o, false, T0 + 86400010LL,
                                  &res[2]), STORE_OK);
    assert_int_equal(res[2].outcome, APPEAL_FILED);
    struct appeal_filing shortf = filing(PHONE, "ab", false);
    assert_int_equal(appeals_file(st, &shortf, &o, true, T0, &res[2]),
                     STORE_INVALID);

    /* the status check: the filer learns the state, anyone else the same
     * text as for a reference nobody has; a typo is refused */
    char out[200], nobody[200];
    bool found;
    assert_int_equal(appeals_status_text(st, PHONE, shown, strlen(shown), "ru",
                                         &o, out, sizeof out, &found), STORE_OK);
    assert_true(found);
    assert_non_null(strstr(out, shown));
    assert_non_null(strstr(out, appeals_state_word(APPEAL_NEW, "ru")));
    assert_int_equal(appeals_status_text(st, OTHER, shown, strlen(shown), "ru",
                                         &o, out, sizeof out, &found), STORE_OK);
    assert_false(found);
    assert_int_equal(appeals_status_text(st, OTHER, "000000000", 9, "ru", &o,
                                         nobody, sizeof nobody, &found),
                     STORE_OK);
    assert_string_equal(out, nobody);
    assert_string_equal(out, appeals_text(APPEALS_T_NOT_FOUND, "ru"));
    char typo[APPEAL_REF_MAX];
    memcpy(typo, res[0].ref, sizeof typo);
    typo[3] = typo[3] == '9' ? '0' : (char)(typo[3] + 1);
    assert_int_equal(appeals_status_text(st, PHONE, typo, 9, "en", &o, out,
                                         sizeof out, &found), STORE_OK);
    assert_false(found);
    assert_string_equal(out, appeals_text(APPEALS_T_BAD_REF, "en"));
    assert_int_equal(stats.bad_ref, 1);
}

static void test_reply(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st;
    struct appeals_opts o = { 0 };
    struct appeal_filed res;
    struct appeal_filing fl = filing(PHONE, "Пара берүүнү талап кылышты",
                                     true);
    assert_int_equal(appeals_file(st, &fl, &o, false, T0, &res), STORE_OK);
    struct store_appeal a;
    assert_int_equal(store_appeal_get(st, res.ref, &a), STORE_OK);
    assert_true(a.anonymous);
    assert_string_equal(a.category, "corruption");
    int64_t sms = 0, again = 0;
    assert_int_equal(appeals_reply(st, &a, "Текшерилет", "agency:mvd",
                                   "agency:1", "k1", &o, T0 + 5, &sms),
                     STORE_OK);
    struct store_msg *m = NULL;
    assert_int_equal(store_msg_get(st, sms, &m), STORE_OK);
    assert_string_equal(m->to, PHONE);    /* the agency never saw it */
    assert_non_null(strstr(m->text, "Текшерилет"));
    store_msg_free(m);
    assert_int_equal(store_appeal_get(st, res.ref, &a), STORE_OK);
    assert_string_equal(a.state, "answered");
    /* the same key and text: a duplicate, nothing new */
    assert_int_equal(appeals_reply(st, &a, "Текшерилет", "agency:mvd",
                                   "agency:1", "k1", &o, T0 + 6, &again),
                     STORE_DUPLICATE);
    assert_int_equal(again, sms);
    /* the same key, another text: a conflict, nothing new */
    assert_int_equal(appeals_reply(st, &a, "Башка", "agency:mvd", "agency:1",
                                   "k1", &o, T0 + 7, &again), STORE_CONFLICT);
    struct store_appeal_event ev[8];
    size_t k = 0;
    assert_int_equal(store_appeal_history(st, a.id, 0, ev, 8, &k), STORE_OK);
    assert_int_equal(k, 2);
    assert_string_equal(ev[1].kind, "reply");
    assert_string_equal(ev[1].who, "agency:mvd");
    assert_string_equal(ev[1].text, "Текшерилет");
    /* without a key: each reply is sent */
    assert_int_equal(appeals_reply(st, &a, "Дагы", "agency:mvd", "agency:1",
                                   NULL, &o, T0 + 8, &again), STORE_OK);
    assert_true(again > sms);
    assert_int_equal(appeals_reply(st, &a, "", "agency:mvd", "agency:1", NULL,
                                   &o, T0 + 9, &again), STORE_INVALID);
}

/* ---- SMS words ------------------------------------------------------------------- */

/* The reply of the last keyword MO: its outbox text. */
static void reply_text(struct store *st, const struct kw_result *r, char *out,
                       size_t cap)
{
    struct store_msg *m = NULL;
    assert_true(r->reply_id > 0);
    assert_int_equal(store_msg_get(st, r->reply_id, &m), STORE_OK);
    snprintf(out, cap, "%s", m->text);
    store_msg_free(m);
}

static int sms(struct store *st, const struct kw_opts *o, const char *from,
               const char *text, struct kw_result *r)
{
    return keywords_handle(st, from, (const uint8_t *)text, strlen(text), T0,
                           o, r);
}

static void test_sms_words(void **state)
{
    struct fx *f = *state;
    struct store *st = f->db.st;
    struct appeals_kw kw[3];
    char why[200];
    assert_int_equal(appeals_kw_item("ky:КАЙРЫЛУУ", strlen("ky:КАЙРЫЛУУ"),
                                     &kw[0], why, sizeof why), 0);
    assert_int_equal(appeals_kw_item("ru:ОБРАЩЕНИЕ", strlen("ru:ОБРАЩЕНИЕ"),
                                     &kw[1], why, sizeof why), 0);
    const char *own = "en:COMPLAINT=akk/corruption";
    assert_int_equal(appeals_kw_item(own, strlen(own), &kw[2], why, sizeof why),
                     0);
    assert_string_equal(kw[2].agency, "akk");
    assert_string_equal(kw[2].category, "corruption");
    struct appeals_stats stats = { 0 };
    struct appeals_opts ao = { .per_day = 2, .stats = &stats };
    struct kw_appeals ka;
    kw_appeals_init(&ka, kw, 3, "mvd", "general", &ao);
    struct kw_opts o = { .appeals = &ka };
    struct kw_result r;
    char text[400];
    /* file: lower case and a Latin look-alike still match */
    assert_int_equal(sms(st, &o, "+996700000001", "кайрылуу  Жол бузулган", &r),
                     STORE_OK);
    assert_int_equal(r.outcome, KW_O_APPEAL_FILED);
    assert_int_equal(r.parsed.kw, KW_APPEAL);
    assert_int_equal(r.parsed.lang, KW_KY);
    reply_text(st, &r, text, sizeof text);
    char ref[APPEAL_REF_MAX];
    const char *dash = strchr(text, '-');
    assert_non_null(dash);
    assert_int_equal(appeal_ref_parse(dash - 4, 11, ref), APPEAL_REF_OK);
    struct store_appeal a;
    assert_int_equal(store_appeal_get(st, ref, &a), STORE_OK);
    assert_string_equal(a.text, "Жол бузулган");
    assert_string_equal(a.category, "general");
    assert_string_equal(a.channel, "sms");
    /* a word with its own category */
    assert_int_equal(sms(st, &o, "+996700000002", "complaint: bribe asked", &r),
                     STORE_OK);
    assert_int_equal(r.outcome, KW_O_APPEAL_FILED);
    /* the state: the filer learns it, another phone gets "none of yours" */
    char ask[64];
    snprintf(ask, sizeof ask, "ОБРАЩЕНИЕ %.4s-%.4s-%c", ref, ref + 4, ref[8]);
    assert_int_equal(sms(st, &o, "+996700000001", ask, &r), STORE_OK);
    assert_int_equal(r.outcome, KW_O_APPEAL_STATE);
    reply_text(st, &r, text, sizeof text);
    assert_non_null(strstr(text, appeals_state_word(APPEAL_NEW, "ru")));
    assert_int_equal(sms(st, &o, "+996700000009", ask, &r), STORE_OK);
    reply_text(st, &r, text, sizeof text);
    assert_string_equal(text, appeals_text(APPEALS_T_NOT_FOUND, "ru"));
    /* a typo: not a valid reference */
    ask[strlen(ask) - 1] = ask[strlen(ask) - 1] == '9' ? '0'
                           : (char)(ask[strlen(ask) - 1] + 1);
    assert_int_equal(sms(st, &o, "+996700000001", ask, &r), STORE_OK);
    reply_text(st, &r, text, sizeof text);
    assert_string_equal(text, appeals_text(APPEALS_T_BAD_REF, "ru"));
    /* the word alone: usage */
    assert_int_equal(sms(st, &o, "+996700000001", "КАЙРЫЛУУ", &r), STORE_OK);
    assert_int_equal(r.outcome, KW_O_APPEAL_USAGE);
    /* the limit (2 a day): the third is refused with a polite SMS */
    assert_int_equal(sms(st, &o, "+996700000001", "КАЙРЫЛУУ экинчи кайрылуу",
                         &r), STORE_OK);
    assert_int_equal(r.outcome, KW_O_APPEAL_FILED);
    assert_int_equal(sms(st, &o, "+996700000001", "КАЙРЫЛУУ үчүнчү кайрылуу",
                         &r), STORE_OK);
    assert_int_equal(r.outcome, KW_O_APPEAL_LIMITED);
    reply_text(st, &r, text, sizeof text);
    assert_string_equal(text, appeals_text(APPEALS_T_LIMITED, "ky"));
    assert_int_equal(stats.limited, 1);
    /* a fixed keyword wins; without the words nothing matches */
    assert_int_equal(sms(st, &o, "+996700000001", "HELP", &r), STORE_OK);
    assert_int_equal(r.outcome, KW_O_HELP);
    assert_int_equal(sms(st, NULL, "+996700000001", "APPEAL x y z", &r),
                     STORE_OK);
    assert_int_equal(r.outcome, KW_O_IGNORED);
    /* no default category: a word without its own only tells states */
    ka.agency = "";
    assert_int_equal(sms(st, &o, "+996700000003", "КАЙРЫЛУУ Жол бузулган", &r),
                     STORE_OK);
    assert_int_equal(r.outcome, KW_O_APPEAL_USAGE);
}

static void test_config_items(void **state)
{
    (void)state;
    struct appeals_kw kw;
    char why[200], ag[STORE_CODE_MAX], ca[STORE_CODE_MAX];
    const char *bad[] = { "КАЙРЫЛУУ", "xx:WORD", "ky:", "ky:TWO WORDS",
                          "ky:W=mvd", "ky:W=/x", "ky:W=mvd/", "k:W" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(appeals_kw_item(bad[i], strlen(bad[i]), &kw, why,
                                         sizeof why), -1);
        assert_true(strlen(why) > 0);
    }
    assert_int_equal(appeals_kw_item("ru:ЖАЛОБА", strlen("ru:ЖАЛОБА"), &kw,
                                     why, sizeof why), 0);
    assert_string_equal(kw.lang, "ru");
    assert_string_equal(kw.word, "ЖАЛОБА");
    assert_string_equal(kw.agency, "");
    assert_int_equal(appeals_category_item("mvd/roads", 9, ag, ca), 0);
    assert_string_equal(ag, "mvd");
    assert_string_equal(ca, "roads");
    assert_int_equal(appeals_category_item("mvd roads", 9, ag, ca), -1);
    assert_int_equal(appeals_category_item("a/b/c", 5, ag, ca), -1);
}

/* ---- API bodies -------------------------------------------------------------------- */

static int parse_state(const char *s, struct api_appeal *a, struct api_error *e)
{
    int rc = api_parse_appeal_state((const uint8_t *)s, strlen(s), a, e);
    return rc;
}

static void test_api_parse(void **state)
{
    (void)state;
    struct api_appeal a;
    struct api_error e;
    assert_int_equal(parse_state("{\"state\":\"in_progress\",\"note\":\"Ок\"}",
                                 &a, &e), 0);
    assert_string_equal(a.state, "in_progress");
    assert_string_equal(a.text, "Ок");
    api_appeal_clear(&a);
    assert_int_equal(parse_state("{\"state\":\"closed\"}", &a, &e), 0);
    assert_null(a.text);
    api_appeal_clear(&a);
    static const struct { const char *body, *field; } bad[] = {
        { "{}", "state" },
        { "{\"state\":5}", "state" },
        { "{\"state\":\"closed\",\"extra\":1}", "extra" },
        { "{\"state\":\"a_state_too_long_for_it\"}", "state" },
        { "{\"state\":\"closed\",\"note\":\"a\\u0001b\"}", "note" },
        { "[]", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse_state(bad[i].body, &a, &e), -1);
        assert_int_equal(e.status, 400);
        if (bad[i].field)
            assert_string_equal(e.field, bad[i].field);
        api_appeal_clear(&a);
    }
    const char *ok = "{\"text\":\"Жооп\",\"idempotency_key\":\"r-1\"}";
    assert_int_equal(api_parse_appeal_reply((const uint8_t *)ok, strlen(ok),
                                            &a, &e), 0);
    assert_string_equal(a.text, "Жооп");
    assert_string_equal(a.idem_key, "r-1");
    api_appeal_clear(&a);
    const char *badr[] = { "{}", "{\"text\":\"\"}",
                           "{\"text\":\"x\",\"idempotency_key\":\"a b\"}",
                           "{\"text\":\"x\",\"state\":\"new\"}" };
    for (size_t i = 0; i < sizeof badr / sizeof badr[0]; i++) {
        assert_int_equal(api_parse_appeal_reply((const uint8_t *)badr[i],
                                                strlen(badr[i]), &a, &e), -1);
        assert_int_equal(e.status, 400);
        api_appeal_clear(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_catches_typos),
        cmocka_unit_test(test_ref_forms),
        cmocka_unit_test(test_states),
        cmocka_unit_test_setup_teardown(test_store_appeals, fx_setup,
                                        tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_file_limit_and_status, fx_setup,
                                        tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_reply, fx_setup, tmpdb_teardown),
        cmocka_unit_test_setup_teardown(test_sms_words, fx_setup,
                                        tmpdb_teardown),
        cmocka_unit_test(test_config_items),
        cmocka_unit_test(test_api_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
