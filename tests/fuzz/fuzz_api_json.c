/*
 * tests/fuzz/fuzz_api_json.c — libFuzzer target for the HTTP API's pure
 * request-body validation (gateway/api_parse.h: api_parse_message,
 * api_message_render, api_parse_app_status, api_parse_office, api_parse_slot,
 * api_parse_template) and the phone number rule (gateway/phone.h:
 * phone_canon).
 *
 * Input: the whole input is one request body, given to every parser.
 * Checks, with abort() on any broken property:
 *   - each parser returns 0 or -1; on -1 the error has a 4xx status
 *     (500 only for out of memory) and a NUL-terminated message;
 *   - a body that is not valid UTF-8 is always refused;
 *   - on success every string is valid UTF-8 within its limit, phone
 *     numbers are canonical (phone_canon of the result is itself),
 *     the language is ky/ru/en, exactly one of text and template is set,
 *     and a text counts at least one SMS part in every split mode (one
 *     with message_payload);
 *   - the same body parses the same way twice (no hidden state), with
 *     the same idempotency digest (api_message_digest);
 *   - a templated message rendered against a fixed text
 *     (api_message_render): a valid UTF-8 text within the limit, or a
 *     well-formed refusal;
 *   - a template body, tried for an application status, "*" and a
 *     booking status: on success every {name} in the text is one of the
 *     kind's placeholders (template_placeholders), and rendering it
 *     gives valid UTF-8; the status/lang key is what was asked.
 * The input's first 20 bytes, as a NUL-terminated string, also go through
 * phone_canon: a success is 8..15 digits and idempotent.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_api_json.
 *
 * May call: gateway/api_parse.h, gateway/phone.h, gateway/template.h,
 * smpp/text.h, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/api_parse.h"
#include "gateway/phone.h"
#include "gateway/template.h"
#include "smpp/text.h"
#include "tests/fuzz/fuzz.h"

static void check_err(const struct api_error *e)
{
    CHECK((e->status >= 400 && e->status < 500) || e->status == 500);
    CHECK(memchr(e->msg, 0, sizeof e->msg) != NULL && e->msg[0]);
    CHECK(memchr(e->field, 0, sizeof e->field) != NULL);
}

/* A parser's answer rc: 0, and then the body was UTF-8, or -1 with a
 * well-formed error.  True when the body was accepted. */
static bool accepted(int rc, bool utf8, const struct api_error *e)
{
    CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        check_err(e);
        return false;
    }
    CHECK(utf8);
    return true;
}

/* A rendered text is valid UTF-8. */
static void check_rendered(char *txt)
{
    CHECK(txt && smpp_text_utf8_validate((const uint8_t *)txt, strlen(txt), NULL) ==
                     SMPP_TEXT_OK);
    free(txt);
}

static void check_str(const char *s, size_t max)
{
    if (!s)
        return;
    size_t n = strlen(s);
    CHECK(n > 0 && n <= max);
    CHECK(smpp_text_utf8_validate((const uint8_t *)s, n, NULL) == SMPP_TEXT_OK);
}

/* A code and its names by language (ky, ru, en), at least one given. */
static void check_named(const char *code, char *const name[3])
{
    CHECK(code[0]);
    CHECK(name[0] || name[1] || name[2]);
    for (int i = 0; i < 3; i++)
        check_str(name[i], STORE_NAME_MAX - 1);
}

static void check_phone(const char *p, bool required)
{
    char again[STORE_MSISDN_MAX];
    if (!p[0]) {
        CHECK(!required);
        return;
    }
    CHECK(phone_canon(p, again, sizeof again) == 0);
    CHECK(strcmp(again, p) == 0);
    size_t n = strlen(p);
    CHECK(n >= 8 && n <= 15 && p[0] != '0');
}

static void fuzz_message(const uint8_t *data, size_t size, bool utf8)
{
    struct api_error e;
    struct api_message m, m2;
    int rc = api_parse_message(data, size, &m, &e);
    if (accepted(rc, utf8, &e)) {
        check_phone(m.to, true);
        CHECK(template_lang_index(m.lang) >= 0);
        CHECK(!m.text != !m.tmpl);
        check_str(m.text, API_TEXT_MAX_BYTES);
        check_str(m.tmpl, STORE_CODE_MAX - 1);
        check_str(m.vars, API_VARS_MAX);
        CHECK(!m.vars || m.tmpl);
        check_str(m.idem_key, API_KEY_MAX);
        check_str(m.callback_url, API_URL_MAX);
        for (int mode = SMPP_SPLIT_UDH8; m.text && mode <= SMPP_SPLIT_PAYLOAD;
             mode++) {
            unsigned parts = api_sms_parts(m.text, strlen(m.text), mode,
                                           SMPP_TEXT_ALLOW_LATIN1);
            CHECK(parts >= 1 && (mode != SMPP_SPLIT_PAYLOAD || parts == 1));
        }
    }
    int rc2 = api_parse_message(data, size, &m2, &e);
    CHECK(rc2 == rc);
    if (rc == 0) {
        CHECK(strcmp(m.to, m2.to) == 0);
        CHECK(!m.text || strcmp(m.text, m2.text) == 0);
        CHECK(!m.vars || strcmp(m.vars, m2.vars) == 0);
        /* the idempotency digest (issue 14 item 8) is the same too, and
         * does not depend on a rendered text */
        uint8_t d1[32], d2[32];
        CHECK(api_message_digest(&m, d1) == 0 && api_message_digest(&m2, d2) == 0);
        CHECK(memcmp(d1, d2, sizeof d1) == 0);
    }
    if (rc == 0 && m.tmpl) {
        /* rendered with its variables, or refused naming why */
        int rr = api_message_render(&m, "Visit {day} at {time}.", &e);
        CHECK(rr == 0 || rr == -1);
        if (rr == 0)
            check_str(m.text, API_TEXT_MAX_BYTES);
        else
            check_err(&e);
    }
    api_message_clear(&m);
    api_message_clear(&m2);
}

static void fuzz_app_status(const uint8_t *data, size_t size, bool utf8)
{
    struct api_error e;
    struct api_app_status a;
    if (accepted(api_parse_app_status(data, size, &a, &e), utf8, &e)) {
        CHECK(a.status[0]);
        check_phone(a.owner, false);
        check_str(a.note, API_NOTE_MAX);
        CHECK(template_lang_index(a.lang) >= 0);
        check_rendered(template_render_status("{number} {status}: {note}", "A-1",
                                              a.status, a.note));
    }
    api_app_status_clear(&a);
}

static void fuzz_notice(const uint8_t *data, size_t size, bool utf8)
{
    struct api_error e;
    struct api_notice nt;
    if (accepted(api_parse_notice(data, size, &nt, &e), utf8, &e)) {
        check_phone(nt.to, true);
        CHECK(nt.text[0] && strlen(nt.text) <= API_NOTICE_MAX_BYTES);
        CHECK(smpp_text_utf8_validate((const uint8_t *)nt.text, strlen(nt.text),
                                      NULL) == SMPP_TEXT_OK);
    }
}

static void fuzz_office(const uint8_t *data, size_t size, bool utf8)
{
    struct api_error e;
    struct api_office o;
    if (accepted(api_parse_office(data, size, &o, &e), utf8, &e)) {
        check_named(o.code, o.name);
        for (int i = 0; i < 3; i++) {
            check_str(o.address[i], STORE_NAME_MAX - 1);
            CHECK(!o.address[i] || o.name[i]);
        }
    }
    api_office_clear(&o);
}

static void fuzz_batch(const uint8_t *data, size_t size, bool utf8)
{
    struct api_error e;
    struct api_batch bt;
    if (accepted(api_parse_batch(data, size, &bt, &e), utf8, &e)) {
        CHECK(bt.n >= 1 && bt.n <= API_BATCH_MAX);
        for (size_t i = 0; i < bt.n; i++)
            CHECK(bt.m[i].to[0] && (!bt.m[i].text != !bt.m[i].tmpl));
    }
    api_batch_clear(&bt);
}

static void fuzz_service(const uint8_t *data, size_t size, bool utf8)
{
    struct api_error e;
    struct api_service sv;
    if (accepted(api_parse_service(data, size, &sv, &e), utf8, &e)) {
        check_named(sv.code, sv.name);
    }
    api_service_clear(&sv);
}

static void fuzz_slot(const uint8_t *data, size_t size, bool utf8)
{
    struct api_error e;
    struct api_slot s;
    if (accepted(api_parse_slot(data, size, &s, &e), utf8, &e)) {
        CHECK(strlen(s.day) == 10 && strlen(s.time) == 5);
        CHECK(s.capacity >= 0 && s.capacity <= 100000);
    }
}

static void fuzz_templates(const uint8_t *data, size_t size, bool utf8)
{
    struct api_error e;
    static const char *const tstatus[] = { "ready", "*", "booking.moved" };
    for (size_t k = 0; k < 3; k++) {
        struct api_template t;
        int rc = api_parse_template(data, size, tstatus[k],
                                    k == 2 ? "ru" : "ky", &t, &e);
        if (accepted(rc, utf8, &e)) {
            CHECK(strcmp(t.status, tstatus[k]) == 0);
            check_str(t.text, API_TEXT_MAX_BYTES);
            const char *const *ok = template_placeholders(t.status);
            for (const char *p = strchr(t.text, '{'); p; p = strchr(p + 1, '{')) {
                size_t l = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_.-");
                if (l == 0 || l > TEMPLATE_PLACEHOLDER_MAX || p[1 + l] != '}')
                    continue;
                bool known = false;
                for (size_t i = 0; ok[i] && !known; i++)
                    known = strlen(ok[i]) == l && strncmp(ok[i], p + 1, l) == 0;
                CHECK(known);
            }
            check_rendered(template_render_status(t.text, "A-1", "ready", "note"));
        }
        api_template_clear(&t);
    }
}

/* The input's first 20 bytes as a phone number. */
static void fuzz_phone(const uint8_t *data, size_t size)
{
    char num[21], out[STORE_MSISDN_MAX];
    size_t n = size < 20 ? size : 20;
    memcpy(num, data, n);
    num[n] = '\0';
    if (phone_canon(num, out, sizeof out) == 0)
        check_phone(out, true);
    else
        CHECK(out[0] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool utf8 = smpp_text_utf8_validate(data, size, NULL) == SMPP_TEXT_OK;
    fuzz_message(data, size, utf8);
    fuzz_app_status(data, size, utf8);
    fuzz_notice(data, size, utf8);
    fuzz_office(data, size, utf8);
    fuzz_batch(data, size, utf8);
    fuzz_service(data, size, utf8);
    fuzz_slot(data, size, utf8);
    fuzz_templates(data, size, utf8);
    fuzz_phone(data, size);
    return 0;
}
