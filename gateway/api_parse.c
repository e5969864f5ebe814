/*
 * gateway/api_parse.c — the HTTP API's pure request-body parsers and
 * validators (the contract is at the top of api_parse.h).
 *
 * Design.  A body goes through load_object() once (non-empty, valid UTF-8,
 * one JSON object without duplicate keys, only the keys its schema
 * allows), then each field through one typed getter (get_str, get_code,
 * get_lang, get_bool, get_phone, get_by_lang) that names the field in the
 * error it fills; the first refusal wins.  The parsed structs own copies
 * of their strings, so the JSON tree is freed before returning.
 *
 * Owns: nothing between calls (no state; the same body parses the same
 * way twice).  Pure: no I/O, no logging, no clock; fuzzed by
 * tests/fuzz/fuzz_api_json.c.
 * May call: jansson, gateway/phone, gateway/template, smpp/text,
 * base/sha256, base/netaddr, base/xroad, libc.
 */
#include "gateway/api_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/netaddr.h"
#include "base/sha256.h"
#include "base/xroad.h"
#include "gateway/phone.h"
#include "gateway/template.h"
#include "smpp/text.h"

/* ---- small pure helpers -------------------------------------------------- */

unsigned api_sms_parts(const char *text, size_t len,
                       enum smpp_text_split_mode mode, unsigned allow)
{
    const uint8_t *u = (const uint8_t *)text;
    struct smpp_text_choice ch;
    if (smpp_text_choose(u, len, allow, &ch, NULL) != SMPP_TEXT_OK)
        return 0;
    struct smpp_text_split_req req = {
        .enc = ch.enc, .mode = mode ? mode : SMPP_SPLIT_UDH8,
    };
    if (req.mode == SMPP_SPLIT_PAYLOAD) {
        /* the whole text goes into one message_payload: encoded, to be
         * sure it can be, into a scratch buffer of its exact size */
        req.payload_cap = ch.octets + 1;
        if (!(req.payload = malloc(req.payload_cap)))
            return 0;
    }
    struct smpp_text_part part;   /* only the count is wanted */
    size_t n = 0;
    int rc = smpp_text_split(u, len, &req, &part, 1, &n, NULL);
    free(req.payload);
    return rc == SMPP_TEXT_OK || rc == SMPP_TEXT_ETOOMANY ? (unsigned)n : 0;
}

/* ---- pure body validation ------------------------------------------------ */

int api_fail(struct api_error *e, int status, const char *field,
             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->status = status;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    return -1;
}

/* 0 when every key of object o is among allowed; else -1 naming it. */
static int only_keys(json_t *o, const char *const *allowed, struct api_error *e)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char k[48];
            snprintf(k, sizeof k, "%s", key);
            return api_fail(e, 400, k, "unknown field \"%s\"", k);
        }
    }
    return 0;
}

/* Body bytes -> JSON object with only the allowed keys. */
static json_t *load_object(const uint8_t *body, size_t len,
                           const char *const *allowed, struct api_error *e)
{
    memset(e, 0, sizeof *e);
    if (len == 0) {
        api_fail(e, 400, NULL, "empty body: a JSON object is required");
        return NULL;
    }
    size_t off = 0;
    if (smpp_text_utf8_validate(body, len, &off) != SMPP_TEXT_OK) {
        api_fail(e, 400, NULL, "invalid UTF-8 at byte %zu", off);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES,
                              &jerr);
    if (!root) {
        api_fail(e, 400, NULL, "invalid JSON at line %d column %d: %s", jerr.line,
             jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        api_fail(e, 400, NULL, "the body must be a JSON object");
        return NULL;
    }
    if (only_keys(root, allowed, e) < 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* The fields of one body object (keys already checked) -> out: 0, or -1
 * with e filled. */
typedef int fields_fn(json_t *root, void *out, struct api_error *e);

/* Every api_parse_*(): body -> object with only the allowed keys -> its
 * fields (fn); the tree is freed here, whatever fn answered. */
static int parse_object(const uint8_t *body, size_t len,
                        const char *const *allowed, fields_fn *fn, void *out,
                        size_t size, struct api_error *e)
{
    memset(out, 0, size);
    json_t *root = load_object(body, len, allowed, e);
    if (!root)
        return -1;
    int rc = fn(root, out, e);
    json_decref(root);
    return rc;
}

/* String field: NULL out when absent and not required. */
static int get_str(json_t *root, const char *key, bool required, size_t maxb,
                   const char **out, struct api_error *e)
{
    json_t *v = json_object_get(root, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return api_fail(e, 400, key, "missing field \"%s\"", key);
        return 0;
    }
    if (!json_is_string(v))
        return api_fail(e, 400, key, "field \"%s\" must be a string", key);
    size_t n = json_string_length(v);
    if (n == 0)
        return api_fail(e, 400, key, "field \"%s\" must not be empty", key);
    if (n > maxb)
        return api_fail(e, 400, key, "field \"%s\" is longer than %zu bytes", key,
                    maxb);
    if (strlen(json_string_value(v)) != n)
        return api_fail(e, 400, key, "field \"%s\" contains a NUL", key);
    *out = json_string_value(v);
    return 0;
}

bool api_is_code(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= STORE_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._:-", s[i]))
            return false;
    return true;
}

static int get_code(json_t *root, const char *key, bool required, char *out,
                    struct api_error *e)
{
    const char *s;
    out[0] = '\0';
    if (get_str(root, key, required, STORE_CODE_MAX - 1, &s, e) < 0)
        return -1;
    if (!s)
        return 0;
    if (!api_is_code(s))
        return api_fail(e, 400, key,
                    "field \"%s\" must be 1..63 of A-Z a-z 0-9 . _ : -", key);
    strcpy(out, s);
    return 0;
}

static int get_lang(json_t *root, const char *key, char *out,
                    struct api_error *e)
{
    const char *s;
    if (get_str(root, key, false, 8, &s, e) < 0)
        return -1;
    if (!s)
        s = "ky";
    if (template_lang_index(s) < 0)
        return api_fail(e, 400, key, "field \"%s\" must be one of ky, ru, en", key);
    strcpy(out, s);
    return 0;
}

static int get_bool(json_t *root, const char *key, bool dflt, bool *out,
                    struct api_error *e)
{
    json_t *v = json_object_get(root, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return api_fail(e, 400, key, "field \"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int get_phone(json_t *root, const char *key, bool required, char *out,
                     struct api_error *e)
{
    const char *s;
    out[0] = '\0';
    if (get_str(root, key, required, 32, &s, e) < 0)
        return -1;
    if (s && phone_canon(s, out, STORE_MSISDN_MAX) < 0)
        return api_fail(e, 400, key,
                    "field \"%s\" is not a phone number (E.164: optional +, "
                    "8..15 digits; or 0 and 9 digits in Kyrgyzstan)", key);
    return 0;
}

/* Free text: no control characters but tab / newline / CR. */
static int check_text(const char *key, const char *s, size_t max_chars,
                      struct api_error *e)
{
    size_t chars = 0, off = 0;
    if (smpp_text_utf8_chars((const uint8_t *)s, strlen(s), &chars, &off) !=
        SMPP_TEXT_OK)
        return api_fail(e, 400, key, "field \"%s\" is not valid UTF-8", key);
    if (chars > max_chars)
        return api_fail(e, 400, key, "field \"%s\" has %zu characters, at most %zu",
                    key, chars, max_chars);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f)
            return api_fail(e, 400, key, "field \"%s\" contains a control character",
                        key);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void api_message_clear(struct api_message *m)
{
    free(m->text);
    free(m->tmpl);
    free(m->vars);
    free(m->idem_key);
    free(m->callback_url);
    memset(m, 0, sizeof *m);
}

static int notice_from(json_t *root, void *out, struct api_error *e)
{
    struct api_notice *n = out;
    const char *text, *from;
    if (get_phone(root, "to", true, n->to, e) < 0 ||
        get_str(root, "text", true, API_NOTICE_MAX_BYTES, &text, e) < 0 ||
        get_str(root, "from", false, sizeof n->from - 1, &from, e) < 0 ||
        get_bool(root, "law_required", false, &n->law_required, e) < 0 ||
        check_text("text", text, 182, e) < 0)
        return -1;
    if (from) {
        for (const char *p = from; *p; p++)
            if (!isdigit((unsigned char)*p) && *p != '*' && *p != '#')
                return api_fail(e, 400, "from", "field \"from\" must be a service code (digits, * and #)");
        strcpy(n->from, from);
    }
    strcpy(n->text, text);
    return 0;
}

static const char *const notice_keys[] = { "to", "text", "from",
                                           "law_required", NULL };

int api_parse_notice(const uint8_t *body, size_t len, struct api_notice *n,
                     struct api_error *e)
{
    return parse_object(body, len, notice_keys, notice_from, n, sizeof *n, e);
}

static const char *const message_keys[] = {
    "to", "text", "template", "variables", "language", "idempotency_key",
    "callback_url", "law_required", NULL
};

static int message_from(json_t *root, void *out, struct api_error *e);

int api_parse_message(const uint8_t *body, size_t len, struct api_message *m,
                      struct api_error *e)
{
    return parse_object(body, len, message_keys, message_from, m, sizeof *m, e);
}

void api_batch_clear(struct api_batch *b)
{
    for (size_t i = 0; b->m && i < b->n; i++)
        api_message_clear(&b->m[i]);
    free(b->m);
    memset(b, 0, sizeof *b);
}

static int batch_from(json_t *root, void *out, struct api_error *e)
{
    struct api_batch *b = out;
    json_t *arr = json_object_get(root, "messages");
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (!json_is_array(arr) || n == 0 || n > API_BATCH_MAX)
        return api_fail(e, 400, "messages", "\"messages\" must be an array of 1..%d messages",
             API_BATCH_MAX);
    if (!(b->m = calloc(n, sizeof *b->m)))
        return api_fail(e, 500, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        b->n = i + 1;
        struct api_error ie = { 0 };
        if (!json_is_object(o))
            api_fail(&ie, 400, NULL, "must be a JSON object");
        if ((!json_is_object(o) || only_keys(o, message_keys, &ie) < 0 ||
             message_from(o, &b->m[i], &ie) < 0)) {
            /* "messages[3].to: ..." names the element and its field */
            char f[64];
            snprintf(f, sizeof f, "messages[%zu]%s%.40s", i, ie.field[0] ? "." : "",
                     ie.field);
            return api_fail(e, ie.status ? ie.status : 400, f,
                            "messages[%zu]: %.160s", i, ie.msg);
        }
    }
    return 0;
}

static const char *const batch_keys[] = { "messages", NULL };

int api_parse_batch(const uint8_t *body, size_t len, struct api_batch *b,
                    struct api_error *e)
{
    return parse_object(body, len, batch_keys, batch_from, b, sizeof *b, e);
}

/* The fields of one message object (keys already checked). */
static int message_from(json_t *root, void *out, struct api_error *e)
{
    struct api_message *m = out;
    memset(m, 0, sizeof *m);
    int rc = -1;
    const char *text, *tmpl, *key, *url;
    if (get_phone(root, "to", true, m->to, e) < 0 ||
        get_str(root, "text", false, API_TEXT_MAX_BYTES, &text, e) < 0 ||
        get_str(root, "template", false, STORE_CODE_MAX - 1, &tmpl, e) < 0 ||
        get_lang(root, "language", m->lang, e) < 0 ||
        get_str(root, "idempotency_key", false, API_KEY_MAX, &key, e) < 0 ||
        get_str(root, "callback_url", false, API_URL_MAX, &url, e) < 0 ||
        get_bool(root, "law_required", false, &m->law_required, e) < 0)
        goto out;
    if (!text == !tmpl) {
        api_fail(e, 400, text ? "template" : "text",
             "exactly one of \"text\" and \"template\" is required");
        goto out;
    }
    if (text && check_text("text", text, API_TEXT_MAX_CHARS, e) < 0)
        goto out;
    if (tmpl && !api_is_code(tmpl)) {
        api_fail(e, 400, "template",
             "field \"template\" must be 1..63 of A-Z a-z 0-9 . _ : -");
        goto out;
    }
    json_t *vars = json_object_get(root, "variables");
    if (vars && !json_is_null(vars)) {
        if (!tmpl) {
            api_fail(e, 400, "variables", "\"variables\" needs \"template\"");
            goto out;
        }
        if (!json_is_object(vars)) {
            api_fail(e, 400, "variables", "field \"variables\" must be an object");
            goto out;
        }
        const char *k;
        json_t *v;
        json_object_foreach(vars, k, v) {
            if (!json_is_string(v) && !json_is_number(v)) {
                api_fail(e, 400, "variables",
                     "template variables must be strings or numbers");
                goto out;
            }
        }
        m->vars = json_dumps(vars, JSON_COMPACT | JSON_SORT_KEYS);
        if (!m->vars) {
            api_fail(e, 500, NULL, "out of memory");
            goto out;
        }
        if (strlen(m->vars) > API_VARS_MAX) {
            api_fail(e, 400, "variables", "\"variables\" is longer than %d bytes",
                 API_VARS_MAX);
            goto out;
        }
    }
    if (key) {
        for (const char *p = key; *p; p++)
            if (*p < 0x21 || *p > 0x7e) {
                api_fail(e, 400, "idempotency_key",
                     "\"idempotency_key\" must be printable ASCII without spaces");
                goto out;
            }
    }
    if (url && strncmp(url, XROAD_SCHEME, strlen(XROAD_SCHEME)) == 0) {
        /* issue 13: the agency's callback service through X-Road */
        char conv[API_URL_MAX + 64], why[160];
        if (xroad_callback_url(url, NULL, conv, sizeof conv, why, sizeof why) < 0) {
            api_fail(e, 400, "callback_url", "\"callback_url\": %s", why);
            goto out;
        }
    } else if (url) {
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            api_fail(e, 400, "callback_url",
                 "\"callback_url\" must start with http://, https:// or "
                 "xroad: (an X-Road service)");
            goto out;
        }
        for (const char *p = url; *p; p++)
            if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
                api_fail(e, 400, "callback_url",
                     "\"callback_url\" contains a space or control character");
                goto out;
            }
    }
    m->text = dup_or_null(text);
    m->tmpl = dup_or_null(tmpl);
    m->idem_key = dup_or_null(key);
    m->callback_url = dup_or_null(url);
    if ((text && !m->text) || (tmpl && !m->tmpl) || (key && !m->idem_key) ||
        (url && !m->callback_url)) {
        api_fail(e, 500, NULL, "out of memory");
        goto out;
    }
    rc = 0;
out:
    return rc;
}

/* issue 14 item 8.  The canonical content is a JSON object with sorted
 * keys and no spaces, holding only what decides what is sent: so key
 * order and white space of the request, an explicit default ("language":
 * "ky", "law_required": false) and the phone number's spelling do not
 * matter, and a rendered text (a template's) is not part of it. */
int api_message_digest(const struct api_message *m, uint8_t out[32])
{
    json_t *o = json_object();
    json_t *vars = m->vars ? json_loads(m->vars, 0, NULL) : NULL;
    int bad = !o || (m->vars && !vars);
    bad |= json_object_set_new(o, "to", json_string(m->to));
    bad |= json_object_set_new(o, "language", json_string(m->lang));
    bad |= json_object_set_new(o, "law_required", json_boolean(m->law_required));
    if (m->tmpl)
        bad |= json_object_set_new(o, "template", json_string(m->tmpl));
    else if (m->text)
        bad |= json_object_set_new(o, "text", json_string(m->text));
    if (vars)
        bad |= json_object_set(o, "variables", vars);
    if (m->callback_url)
        bad |= json_object_set_new(o, "callback_url", json_string(m->callback_url));
    char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(vars);
    json_decref(o);
    if (!s)
        return -1;
    kz_sha256(s, strlen(s), out);
    free(s);
    return 0;
}

int api_callback_check(const char *url, const struct kz_netallow *allow, bool xroad,
                       struct api_error *e)
{
    if (url && strncmp(url, XROAD_SCHEME, strlen(XROAD_SCHEME)) == 0)
        return xroad ? 0 : api_fail(e, 422, "callback_url",
                                    "an xroad: \"callback_url\" needs the gateway's "
                                    "xroad.security_server, which is not set");
    if (!url || kz_netallow_url(allow, url) == 0)
        return 0;
    return api_fail(e, 422, "callback_url",
                    "\"callback_url\" may not reach a loopback, link-local or "
                    "metadata address (or localhost) unless the gateway's "
                    "callbacks.allow names it");
}

/* name[0..len) for a message: at most 40 bytes, never cut inside a UTF-8
 * character. */
static int name_len(const char *name, size_t len)
{
    if (len > 40) {
        len = 40;
        while (len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80)
            len--;
    }
    return (int)len;
}

/* Does body have the placeholder {name}? */
static bool uses_var(const char *body, const char *name)
{
    size_t n, want = strlen(name);
    for (const char *p = body; (p = template_next(p, &n)) != NULL; p += n)
        if (n == want && memcmp(p, name, n) == 0)
            return true;
    return false;
}

/* vars (a JSON object of strings and numbers) -> tv[0..nv) with the
 * numbers' text in num[] (caller frees); 0 or -1 (out of memory). */
static int vars_of(json_t *vars, struct template_var *tv, char **num)
{
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(vars, k, v) {
        tv[i].name = k;
        if (json_is_string(v))
            tv[i].value = json_string_value(v);
        else if (!(tv[i].value = num[i] = json_dumps(v, JSON_ENCODE_ANY)))
            return -1;
        i++;
    }
    return 0;
}

/* Every placeholder of body has a variable and every variable a
 * placeholder: 0, or -1 with e (422, field "variables"). */
static int vars_match(const struct api_message *m, const char *body,
                      const struct template_var *tv, size_t nv,
                      struct api_error *e)
{
    size_t n;
    for (const char *p = body; (p = template_next(p, &n)) != NULL; p += n) {
        bool have = false;
        for (size_t i = 0; i < nv && !have; i++)
            have = strlen(tv[i].name) == n && memcmp(tv[i].name, p, n) == 0;
        if (!have)
            return api_fail(e, 422, "variables",
                            "template \"%s\" (%s) needs the variable \"%.*s\"",
                            m->tmpl, m->lang, (int)n, p);
    }
    for (size_t i = 0; i < nv; i++)
        if (!uses_var(body, tv[i].name))
            return api_fail(e, 422, "variables",
                            "template \"%s\" (%s) has no placeholder {%.*s}",
                            m->tmpl, m->lang,
                            name_len(tv[i].name, strlen(tv[i].name)),
                            tv[i].name);
    return 0;
}

int api_message_render(struct api_message *m, const char *body,
                       struct api_error *e)
{
    json_t *vars = m->vars ? json_loads(m->vars, 0, NULL) : json_object();
    if (!json_is_object(vars)) {
        json_decref(vars);
        return api_fail(e, 500, NULL, "out of memory");
    }
    size_t nv = json_object_size(vars);
    struct template_var *tv = calloc(nv + 1, sizeof *tv);
    char **num = calloc(nv + 1, sizeof *num);
    char *text = NULL;
    int rc = -1;
    if (!tv || !num || vars_of(vars, tv, num) < 0)
        api_fail(e, 500, NULL, "out of memory");
    else if (vars_match(m, body, tv, nv, e) == 0) {
        if (!(text = template_render_dup(body, tv, nv)))
            api_fail(e, 500, NULL, "out of memory");
        else if (check_text("variables", text, API_TEXT_MAX_CHARS, e) == 0)
            rc = 0;
    }
    if (rc == 0) {
        free(m->text);
        m->text = text;
    } else {
        free(text);
    }
    for (size_t i = 0; num && i < nv; i++)
        free(num[i]);
    free(num);
    free(tv);
    json_decref(vars);
    return rc;
}

void api_app_status_clear(struct api_app_status *a)
{
    free(a->note);
    memset(a, 0, sizeof *a);
}

static int app_status_from(json_t *root, void *out, struct api_error *e)
{
    struct api_app_status *a = out;
    const char *note;
    if (get_code(root, "status", true, a->status, e) < 0 ||
        get_phone(root, "owner", false, a->owner, e) < 0 ||
        get_code(root, "service", false, a->service, e) < 0 ||
        get_str(root, "note", false, API_NOTE_MAX, &note, e) < 0 ||
        get_lang(root, "language", a->lang, e) < 0 ||
        get_bool(root, "notify", true, &a->notify, e) < 0)
        return -1;
    if (note && check_text("note", note, API_NOTE_MAX, e) < 0)
        return -1;
    if (note && !(a->note = strdup(note)))
        return api_fail(e, 500, NULL, "out of memory");
    return 0;
}

static const char *const app_status_keys[] = {
        "status", "owner", "service", "note", "language", "notify", NULL
    };

int api_parse_app_status(const uint8_t *body, size_t len,
                         struct api_app_status *a, struct api_error *e)
{
    return parse_object(body, len, app_status_keys, app_status_from, a,
                        sizeof *a, e);
}

/* ---- appeals (issue 12 appeals) ------------------------------------------- */

void api_appeal_clear(struct api_appeal *a)
{
    free(a->text);
    memset(a, 0, sizeof *a);
}

/* POST /v1/appeals/{ref}/state: {"state", "note"} */
static int appeal_state_from(json_t *root, void *out, struct api_error *e)
{
    struct api_appeal *a = out;
    const char *note;
    if (get_str(root, "state", true, 15, &note, e) < 0)
        return -1;
    snprintf(a->state, sizeof a->state, "%s", note);
    if (get_str(root, "note", false, API_NOTE_MAX, &note, e) < 0)
        return -1;
    if (note && check_text("note", note, API_NOTE_MAX, e) < 0)
        return -1;
    if (note && !(a->text = strdup(note)))
        return api_fail(e, 500, NULL, "out of memory");
    return 0;
}

static const char *const appeal_state_keys[] = { "state", "note", NULL };

int api_parse_appeal_state(const uint8_t *body, size_t len,
                           struct api_appeal *a, struct api_error *e)
{
    return parse_object(body, len, appeal_state_keys, appeal_state_from, a,
                        sizeof *a, e);
}

/* POST /v1/appeals/{ref}/reply: {"text", "idempotency_key"} */
static int appeal_reply_from(json_t *root, void *out, struct api_error *e)
{
    struct api_appeal *a = out;
    const char *text, *key;
    if (get_str(root, "text", true, API_APPEAL_REPLY_MAX, &text, e) < 0 ||
        get_str(root, "idempotency_key", false, API_KEY_MAX, &key, e) < 0)
        return -1;
    if (check_text("text", text, API_APPEAL_REPLY_MAX, e) < 0)
        return -1;
    for (const char *p = key; p && *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return api_fail(e, 400, "idempotency_key", "\"idempotency_key\" "
                            "must be printable ASCII without spaces");
    if (key)
        snprintf(a->idem_key, sizeof a->idem_key, "%s", key);
    if (!(a->text = strdup(text)))
        return api_fail(e, 500, NULL, "out of memory");
    return 0;
}

static const char *const appeal_reply_keys[] = { "text", "idempotency_key",
                                                 NULL };

int api_parse_appeal_reply(const uint8_t *body, size_t len,
                           struct api_appeal *a, struct api_error *e)
{
    return parse_object(body, len, appeal_reply_keys, appeal_reply_from, a,
                        sizeof *a, e);
}

void api_office_clear(struct api_office *o)
{
    for (int i = 0; i < 3; i++) {
        free(o->name[i]);
        free(o->address[i]);
    }
    memset(o, 0, sizeof *o);
}

/* {"ky": "...", ...} -> out[3]; every key a language, every value text. */
static int get_by_lang(json_t *root, const char *key, bool required,
                       char *out[3], struct api_error *e)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required)
            return api_fail(e, 400, key, "missing field \"%s\"", key);
        return 0;
    }
    if (!json_is_object(v) || json_object_size(v) == 0)
        return api_fail(e, 400, key,
                    "field \"%s\" must be an object of language -> text", key);
    const char *k;
    json_t *s;
    json_object_foreach(v, k, s) {
        int li = template_lang_index(k);
        if (li < 0)
            return api_fail(e, 400, key, "\"%s\": language must be ky, ru or en",
                        key);
        const char *txt;
        if (get_str(v, k, true, STORE_NAME_MAX - 1, &txt, e) < 0) {
            snprintf(e->field, sizeof e->field, "%s.%s", key, k);
            return -1;
        }
        if (check_text(key, txt, STORE_NAME_MAX - 1, e) < 0)
            return -1;
        if (!(out[li] = strdup(txt)))
            return api_fail(e, 500, NULL, "out of memory");
    }
    return 0;
}

static int office_from(json_t *root, void *out, struct api_error *e)
{
    struct api_office *o = out;
    if (get_code(root, "code", true, o->code, e) < 0 ||
        get_by_lang(root, "name", true, o->name, e) < 0 ||
        get_by_lang(root, "address", false, o->address, e) < 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (o->address[i] && !o->name[i])
            return api_fail(e, 400, "address",
                            "address in %s given without a name in %s",
                            template_langs[i], template_langs[i]);
    return 0;
}

static const char *const office_keys[] = { "code", "name", "address", NULL };

int api_parse_office(const uint8_t *body, size_t len, struct api_office *o,
                     struct api_error *e)
{
    return parse_object(body, len, office_keys, office_from, o, sizeof *o, e);
}

static int service_from(json_t *root, void *out, struct api_error *e)
{
    struct api_service *sv = out;
    if (get_code(root, "code", true, sv->code, e) < 0 ||
        get_by_lang(root, "name", true, sv->name, e) < 0)
        return -1;
    return 0;
}

static const char *const service_keys[] = { "code", "name", NULL };

int api_parse_service(const uint8_t *body, size_t len, struct api_service *sv,
                      struct api_error *e)
{
    return parse_object(body, len, service_keys, service_from, sv,
                        sizeof *sv, e);
}

void api_service_clear(struct api_service *sv)
{
    for (int i = 0; i < 3; i++) {
        free(sv->name[i]);
        sv->name[i] = NULL;
    }
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool api_day_ok(const char *day)
{
    return strlen(day) == 10 && day[4] == '-' && day[7] == '-' &&
           digits(day, 4) && digits(day + 5, 2) && digits(day + 8, 2) &&
           atoi(day + 5) >= 1 && atoi(day + 5) <= 12 && atoi(day + 8) >= 1 &&
           atoi(day + 8) <= 31;
}

static int slot_from(json_t *root, void *out, struct api_error *e)
{
    struct api_slot *s = out;
    const char *day, *tm;
    if (get_code(root, "office", true, s->office, e) < 0 ||
        get_code(root, "service", true, s->service, e) < 0 ||
        get_str(root, "day", true, 10, &day, e) < 0 ||
        get_str(root, "time", true, 5, &tm, e) < 0)
        return -1;
    if (!api_day_ok(day))
        return api_fail(e, 400, "day", "\"day\" must be YYYY-MM-DD");
    if (strlen(tm) != 5 || tm[2] != ':' || !digits(tm, 2) ||
        !digits(tm + 3, 2) || atoi(tm) > 23 || atoi(tm + 3) > 59)
        return api_fail(e, 400, "time", "\"time\" must be HH:MM");
    strcpy(s->day, day);
    strcpy(s->time, tm);
    json_t *c = json_object_get(root, "capacity");
    if (!c)
        return api_fail(e, 400, "capacity", "missing field \"capacity\"");
    if (!json_is_integer(c) || json_integer_value(c) < 0 ||
        json_integer_value(c) > 100000)
        return api_fail(e, 400, "capacity",
                        "\"capacity\" must be an integer 0..100000");
    s->capacity = (int)json_integer_value(c);
    return 0;
}

static const char *const slot_keys[] = {
        "office", "service", "day", "time", "capacity", NULL
    };

int api_parse_slot(const uint8_t *body, size_t len, struct api_slot *s,
                   struct api_error *e)
{
    return parse_object(body, len, slot_keys, slot_from, s, sizeof *s, e);
}

/* ---- status templates (PUT /v1/templates/{status}/{lang}) ----------------- */

int api_template_key(const char *status, const char *lang,
                     struct api_error *e)
{
    memset(e, 0, sizeof *e);
    if (!status || (strcmp(status, "*") != 0 && !api_is_code(status)))
        return api_fail(e, 400, "status",
                    "template status must be \"*\" or 1..63 of A-Z a-z 0-9 "
                    ". _ : -");
    if (template_is_booking(status) &&
        strlen(status) == strlen(TEMPLATE_BOOKING_PREFIX))
        return api_fail(e, 400, "status",
                    "a booking template needs a name after \"booking.\"");
    if (!lang || template_lang_index(lang) < 0)
        return api_fail(e, 400, "language",
                    "template language must be one of ky, ru, en");
    return 0;
}

int api_template_check(const char *status, const char *text,
                       struct api_error *e)
{
    if (check_text("text", text, API_TEXT_MAX_CHARS, e) < 0)
        return -1;
    size_t n = 0;
    const char *bad = template_unknown(status, text, &n);
    if (!bad)
        return 0;
    const char *const *ok = template_placeholders(status);
    char allowed[96] = "";
    for (size_t i = 0; ok[i]; i++) {
        size_t l = strlen(allowed);
        snprintf(allowed + l, sizeof allowed - l, "%s{%s}", i ? " " : "", ok[i]);
    }
    return api_fail(e, 400, "text",
                "unknown placeholder {%.*s} in \"text\"; a %s template "
                "may use %s", (int)n, bad,
                template_is_booking(status) ? "booking" : "status", allowed);
}

void api_template_clear(struct api_template *t)
{
    free(t->text);
    memset(t, 0, sizeof *t);
}

/* A template body and the key it is for (from the path). */
struct template_in {
    struct api_template *t;
    const char *status, *lang;
};

static int template_from(json_t *root, void *out, struct api_error *e)
{
    struct template_in *in = out;
    struct api_template *t = in->t;
    const char *text;
    if (get_str(root, "text", true, API_TEXT_MAX_BYTES, &text, e) < 0 ||
        api_template_check(in->status, text, e) < 0)
        return -1;
    snprintf(t->status, sizeof t->status, "%s", in->status);
    snprintf(t->lang, sizeof t->lang, "%s", in->lang);
    if (!(t->text = strdup(text)))
        return api_fail(e, 500, NULL, "out of memory");
    return 0;
}

int api_parse_template(const uint8_t *body, size_t len, const char *status,
                       const char *lang, struct api_template *t,
                       struct api_error *e)
{
    static const char *const allowed[] = { "text", NULL };
    memset(t, 0, sizeof *t);
    if (api_template_key(status, lang, e) < 0)
        return -1;
    struct template_in in = { t, status, lang };
    return parse_object(body, len, allowed, template_from, &in, 0, e);
}
