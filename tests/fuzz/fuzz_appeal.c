/*
 * tests/fuzz/fuzz_appeal.c — libFuzzer target for the parsers of issue
 * 12's appeals: the reference a citizen or agency types
 * (gateway/appeal_ref.h: appeal_ref_parse) and the API bodies of POST
 * /v1/appeals/{ref}/state and /reply (gateway/api_parse.h).
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
 *     key printable ASCII).
 * Also linked with tests/fuzz/replay.c into build/tests/replay_appeal.
 *
 * May call: gateway/appeal_ref.h, gateway/api_parse.h, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/api_parse.h"
#include "gateway/appeal_ref.h"
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
    free(buf);
    return 0;
}
