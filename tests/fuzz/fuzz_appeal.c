/*
 * tests/fuzz/fuzz_appeal.c — libFuzzer target for the parsers of issue
 * 12's appeals: the reference a citizen or agency types
 * (gateway/appeal_ref.h: appeal_ref_parse), the API bodies of POST
 * /v1/appeals/{ref}/state and /reply (gateway/api_parse.h), the config's
 * SMS word and category items (gateway/appeals.h), and the USSD node's
 * sub-dialog (gateway/appeal_screens.h), whose state comes back from the
 * dialog store.
 *
 * Input: the whole input, copied into a buffer of exactly its size (so
 * ASan sees any read past len), goes to every parser.  Checks, with
 * abort() on any broken property:
 *   - a reference parses to OK with a canonical form of 9 digits whose
 *     Damm check is 0, that parses to itself and shows as 4-4-1 digits;
 *     or to FORMAT / CHECK with an empty output; the same input parses
 *     the same way twice;
 *   - every single-digit change of an accepted reference is refused by
 *     its check digit;
 *   - each body parser returns 0 or -1; on -1 a 4xx (500 only for out
 *     of memory) with a NUL-terminated message; on 0 the strings are
 *     within their limits (state under 16 bytes, text 1..1000 bytes, the
 *     key printable ASCII);
 *   - a config item parses to a language of ky/ru/en and a non-empty
 *     word, or fails with a reason; a category to two codes or fails;
 *   - the sub-dialog, with the input as its state (and as the answer,
 *     split at the first newline), gives a known outcome, a state that
 *     fits the dialog (at most 160 bytes), a NUL-terminated screen, and
 *     a category in range when it files.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_appeal.
 *
 * May call: gateway/appeal_ref.h, gateway/api_parse.h, gateway/appeals.h,
 * gateway/appeal_screens.h, libc.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/api_parse.h"
#include "gateway/appeal_ref.h"
#include "gateway/appeal_screens.h"
#include "gateway/appeals.h"
#include "tests/fuzz/fuzz.h"

static void check_ref(const char *in, size_t n)
{
    char out[APPEAL_REF_MAX], again[APPEAL_REF_MAX];
    int rc = appeal_ref_parse(in, n, out);
    CHECK(appeal_ref_parse(in, n, again) == rc);
    if (rc != APPEAL_REF_OK) {
        CHECK(rc == APPEAL_REF_FORMAT || rc == APPEAL_REF_CHECK);
        CHECK(out[0] == '\0');
        return;
    }
    CHECK(strlen(out) == APPEAL_REF_LEN && strcmp(out, again) == 0);
    for (size_t i = 0; i < APPEAL_REF_LEN; i++)
        CHECK(out[i] >= '0' && out[i] <= '9');
    CHECK(appeal_ref_damm(out, APPEAL_REF_LEN) == 0);
    CHECK(appeal_ref_parse(out, APPEAL_REF_LEN, again) == APPEAL_REF_OK);
    char shown[APPEAL_REF_SHOW_MAX];
    appeal_ref_show(out, shown);
    CHECK(strlen(shown) == 11 && shown[4] == '-' && shown[9] == '-');
    CHECK(appeal_ref_parse(shown, strlen(shown), again) == APPEAL_REF_OK &&
          strcmp(out, again) == 0);
    for (size_t i = 0; i < APPEAL_REF_LEN; i++) {
        char typo[APPEAL_REF_MAX];
        memcpy(typo, out, sizeof typo);
        typo[i] = (char)('0' + (out[i] - '0' + 1) % 10);
        CHECK(appeal_ref_parse(typo, APPEAL_REF_LEN, again) ==
              APPEAL_REF_CHECK);
    }
}

static void check_body(int rc, const struct api_appeal *a,
                       const struct api_error *e, bool reply)
{
    CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        CHECK((e->status >= 400 && e->status < 500) || e->status == 500);
        CHECK(memchr(e->msg, 0, sizeof e->msg) && e->msg[0]);
        return;
    }
    CHECK(memchr(a->state, 0, sizeof a->state));
    CHECK(memchr(a->idem_key, 0, sizeof a->idem_key));
    for (const char *p = a->idem_key; *p; p++)
        CHECK(*p > 0x20 && *p < 0x7f);
    if (reply)
        CHECK(a->text && strlen(a->text) >= 1 &&
              strlen(a->text) <= API_APPEAL_REPLY_MAX);
    else
        CHECK(a->state[0] && (!a->text || strlen(a->text) <= API_NOTE_MAX));
}

static void check_config(const char *buf, size_t size)
{
    struct appeals_kw kw;
    char why[200] = "", ag[STORE_CODE_MAX], ca[STORE_CODE_MAX];
    if (appeals_kw_item(buf, size, &kw, why, sizeof why) == 0)
        CHECK((!strcmp(kw.lang, "ky") || !strcmp(kw.lang, "ru") ||
               !strcmp(kw.lang, "en")) && kw.word[0] &&
              (kw.agency[0] != 0) == (kw.category[0] != 0));
    else
        CHECK(why[0] && memchr(why, 0, sizeof why));
    if (appeals_category_item(buf, size, ag, ca) == 0)
        CHECK(ag[0] && ca[0] && !strchr(ag, '/') && !strchr(ca, '/'));
}

static void check_screens(const char *buf, size_t size)
{
    /* state = the input up to its first newline, answer = the rest */
    char st[APPEAL_SCR_STATE_MAX + 1], in[256];
    const char *nl = memchr(buf, '\n', size);
    size_t sl = nl ? (size_t)(nl - buf) : size;
    snprintf(st, sizeof st, "%.*s", (int)(sl < APPEAL_SCR_STATE_MAX ? sl
                                         : APPEAL_SCR_STATE_MAX), buf);
    snprintf(in, sizeof in, "%.*s", nl ? (int)(size - sl - 1 < 255
                                               ? size - sl - 1 : 255) : 0,
             nl ? nl + 1 : "");
    for (size_t ncats = 1; ncats <= 3; ncats += 2) {
        struct appeal_scr_req rq = {
            .status_mode = size & 1, .state = st, .input = nl ? in : NULL,
            .lang = "ky", .ncats = ncats, .titles = "A\nB\nC",
            .key_back = "0", .label_back = "0 Артка",
        };
        struct appeal_scr_res r;
        appeal_scr_turn(&rq, &r);
        CHECK(r.outcome >= APPEAL_SCR_CON && r.outcome <= APPEAL_SCR_STATUS);
        CHECK(memchr(r.screen, 0, sizeof r.screen));
        CHECK(strlen(r.state) <= APPEAL_SCR_STATE_MAX);
        if (r.outcome == APPEAL_SCR_CON)
            CHECK(r.screen[0] && r.state[0]);
        if (r.outcome == APPEAL_SCR_FILE)
            CHECK(r.cat >= 0 && (size_t)r.cat < ncats && r.text[0]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    check_ref(buf, size);
    struct api_appeal a;
    struct api_error e;
    check_body(api_parse_appeal_state((const uint8_t *)buf, size, &a, &e), &a,
               &e, false);
    api_appeal_clear(&a);
    check_body(api_parse_appeal_reply((const uint8_t *)buf, size, &a, &e), &a,
               &e, true);
    api_appeal_clear(&a);
    check_config(buf, size);
    check_screens(buf, size);
    free(buf);
    return 0;
}
