/*
 * gateway/api_parse.h — the HTTP API's pure part: request bodies (bytes)
 * -> structs, or an error naming the offending field and the HTTP status
 * to answer with; template keys and texts; SMS part counts.
 *
 * Pure: no I/O, no logging, no global state; safe from any thread.  Fuzzed
 * by tests/fuzz/fuzz_api_json.c.  Phone numbers are canonicalised by
 * gateway/phone.h (phone_canon(), the one rule); template kinds and
 * placeholders are gateway/template.h's.
 *
 * Ownership: parsed structs own their strings (free them with
 * api_*_clear(), also after a failed parse).
 * May call: jansson, gateway/phone, gateway/template, smpp/text,
 * base/sha256, base/netaddr, base/xroad, libc.
 * Used by gateway/api.c (the routes' body kinds), the unit tests and the
 * fuzz target.
 */
#ifndef KYZMAT_GATEWAY_API_PARSE_H
#define KYZMAT_GATEWAY_API_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/store.h"
#include "smpp/text.h"

/* ---- pure request-body validation --------------------------------------- */

/* A refused body: HTTP status (400, 413, 415, 422), message, field. */
struct api_error {
    int status;
    char msg[200];
    char field[64];           /* "" when not about one field */
};

/* Fill e (status, field or NULL, printf message) and return -1: the one
 * way a parser (or a handler of gateway/api.c) refuses. */
int api_fail(struct api_error *e, int status, const char *field,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A code (agency, office, service, status, application number):
 * [A-Za-z0-9._:-]{1,63}. */
bool api_is_code(const char *s);

#define API_LANG_MAX 3
#define API_TEXT_MAX_CHARS 1000  /* characters of an SMS text */
#define API_TEXT_MAX_BYTES 4000
#define API_KEY_MAX 64           /* idempotency key, codes */
#define API_URL_MAX 512
#define API_NOTE_MAX 255
#define API_VARS_MAX 4096        /* template variables, as JSON text */
#define API_NOTICE_MAX_BYTES 800 /* a USSD screen: 182 GSM / 80 UCS-2 characters */


struct api_message {
    char to[STORE_MSISDN_MAX];
    char *text;               /* NULL when tmpl is used */
    char *tmpl;               /* NULL when text is used */
    char *vars;               /* JSON object text, NULL when none */
    char lang[API_LANG_MAX];
    char *idem_key;           /* NULL when none */
    char *callback_url;       /* NULL when none */
    bool law_required;
};
/* POST /v1/messages body -> m (clear it with api_message_clear even on
 * failure).  0, or -1 with e filled. */
/* A USSN notice request: {"to": phone, "text": ..., "from": service code,
 * "law_required": bool (default false)}. */
struct api_notice {
    char to[STORE_MSISDN_MAX];
    char from[24];            /* "" when absent */
    char text[API_NOTICE_MAX_BYTES + 1];
    bool law_required;        /* may go to an opted-out number */
};
int api_parse_notice(const uint8_t *body, size_t len, struct api_notice *n,
                     struct api_error *e);

int api_parse_message(const uint8_t *body, size_t len, struct api_message *m,
                      struct api_error *e);
void api_message_clear(struct api_message *m);

/*
 * api_message_render — a templated message's text: body (the agency's
 * template for m->tmpl in m->lang, as the store found it) filled with
 * m->vars.  Every {name} of body needs a variable and every variable a
 * {name} (422, field "variables", naming it: a typo would otherwise reach
 * citizens as "{nmae}" or vanish); the result is checked as a "text" is
 * (UTF-8, at most API_TEXT_MAX_CHARS, no control characters: 400).  0 with
 * m->text the rendered text (malloc'd, freed by api_message_clear), or -1
 * with e.  Pure.
 */
int api_message_render(struct api_message *m, const char *body,
                       struct api_error *e);

/*
 * api_message_digest — SHA-256 of m's canonical content (issue 14 item 8),
 * stored with an idempotency key so that a retry (same content: a
 * duplicate) is told apart from a reuse of the key for another message.
 * The content is what decides what is sent: to (canonical), text or
 * template and variables (as JSON values: key order ignored), language
 * (with its default), callback_url, law_required; not the key itself, not
 * the request's spelling (key order, white space).  Computed before a
 * template is rendered.  0, or -1 when out of memory.  Pure.
 */
int api_message_digest(const struct api_message *m, uint8_t out[32]);

/*
 * api_callback_check — may the gateway call url (issue 14 item 9)?  0
 * when url is NULL or kz_netallow_url(allow, url) lets it through; else
 * -1 with e (422, field "callback_url").  allow may be NULL.  The check
 * at connect time (gateway/fetch, a guarded request) covers names that
 * resolve inside.  An "xroad:" url (issue 13: through the operator's
 * security server, not a host of the agency's choosing) passes when
 * `xroad` says the gateway has one, else 422.  Pure.
 */
struct kz_netallow;
int api_callback_check(const char *url, const struct kz_netallow *allow, bool xroad,
                       struct api_error *e);

/*
 * POST /v1/messages/batch: {"messages": [message, ...]} with 1..API_BATCH_MAX
 * messages of the same form as POST /v1/messages.  All or nothing: the
 * first bad element fails the whole batch, e->field naming it
 * ("messages[3].to").  Clear b with api_batch_clear even on failure.
 */
#define API_BATCH_MAX 1000
struct api_batch {
    struct api_message *m;
    size_t n;
};
int api_parse_batch(const uint8_t *body, size_t len, struct api_batch *b,
                    struct api_error *e);
void api_batch_clear(struct api_batch *b);

struct api_app_status {
    char status[STORE_CODE_MAX];
    char owner[STORE_MSISDN_MAX];  /* "" when not given */
    char service[STORE_CODE_MAX];  /* "" when not given */
    char *note;                    /* NULL when none */
    char lang[API_LANG_MAX];       /* owner's language; "ky" by default */
    bool notify;                   /* queue SMS (default true) */
};
int api_parse_app_status(const uint8_t *body, size_t len,
                         struct api_app_status *a, struct api_error *e);
void api_app_status_clear(struct api_app_status *a);

/* issue 12 appeals: POST /v1/appeals/{ref}/state {"state", "note"} and
 * POST /v1/appeals/{ref}/reply {"text", "idempotency_key"}.  Only the
 * shape is checked here (the state's name and the transition are the
 * handler's: 400 / 409).  Pure; a->text is freed by api_appeal_clear. */
#define API_APPEAL_REPLY_MAX 1000      /* bytes of a reply */
struct api_appeal {
    char state[16];                /* state: as given ("" for reply) */
    char *text;                    /* the note (NULL when none) or reply */
    char idem_key[API_KEY_MAX + 1];    /* reply: "" when none */
};
int api_parse_appeal_state(const uint8_t *body, size_t len,
                           struct api_appeal *a, struct api_error *e);
int api_parse_appeal_reply(const uint8_t *body, size_t len,
                           struct api_appeal *a, struct api_error *e);
void api_appeal_clear(struct api_appeal *a);

struct api_office {
    char code[STORE_CODE_MAX];
    char *name[3];            /* by language: ky, ru, en; NULL when absent */
    char *address[3];
};
int api_parse_office(const uint8_t *body, size_t len, struct api_office *o,
                     struct api_error *e);
void api_office_clear(struct api_office *o);

/* POST /v1/services: {"code", "name": {"ky", "ru", "en"}} (name in at
 * least one language).  Pure; sv's strings are freed by api_service_clear. */
struct api_service {
    char code[STORE_CODE_MAX];
    char *name[3];            /* by language: ky, ru, en; NULL when absent */
};
int api_parse_service(const uint8_t *body, size_t len, struct api_service *sv,
                      struct api_error *e);
void api_service_clear(struct api_service *sv);

struct api_slot {
    char office[STORE_CODE_MAX];
    char service[STORE_CODE_MAX];
    char day[STORE_DAY_MAX];
    char time[STORE_TIME_MAX];
    int capacity;
};
int api_parse_slot(const uint8_t *body, size_t len, struct api_slot *s,
                   struct api_error *e);

/*
 * Status templates: the SMS text an agency wants for (status, language),
 * rendered when an application changes status (POST
 * /v1/applications/{n}/status, gateway/notify) and when its owner asks by
 * SMS (STATUS n, gateway/keywords).  The key comes from the path of
 * PUT/GET/DELETE /v1/templates/{status}/{lang}: status is a code (1..63 of
 * A-Z a-z 0-9 . _ : -) or "*" (the agency's text for any status without
 * its own), lang one of ky, ru, en.  The body is {"text": "..."}: valid
 * UTF-8, at most API_TEXT_MAX_CHARS characters, no control characters but
 * tab / newline / CR, and only the placeholders its kind fills (the kinds,
 * their placeholders and the renderer are gateway/template.h's), so a
 * typo ({numbr}) is refused with 400 naming it.
 */
struct api_template {
    char status[STORE_CODE_MAX];
    char lang[API_LANG_MAX];
    char *text;               /* malloc'd; NULL until parsed */
};
/* Check a template key (status, lang) from the path: 0, or -1 with e
 * (400, field "status" or "language"). Pure. */
int api_template_key(const char *status, const char *lang,
                     struct api_error *e);
/* Check a template text for status: UTF-8, length, control characters,
 * placeholders.  0, or -1 with e (400, field "text"; an unknown
 * placeholder is named in the message).  Pure. */
int api_template_check(const char *status, const char *text,
                       struct api_error *e);
/* PUT body {"text": ...} for key (status, lang) -> t (clear it with
 * api_template_clear even on failure).  0, or -1 with e.  Pure. */
int api_parse_template(const uint8_t *body, size_t len, const char *status,
                       const char *lang, struct api_template *t,
                       struct api_error *e);
void api_template_clear(struct api_template *t);

/*
 * api_sms_parts — how many SMS parts a link sends for a UTF-8 text: the
 * encoding smpp_text_choose() picks with allow (SMPP_TEXT_ALLOW_LATIN1 or
 * 0: GSM 03.38, Latin-1, else UCS-2) split by smpp_text_split() in mode
 * (0 = SMPP_SPLIT_UDH8; PAYLOAD is always one): the same choice and
 * splitter the link's MT sending uses.  0 for invalid UTF-8 (or, in
 * PAYLOAD mode, no memory for the scratch copy).  No I/O.
 */
unsigned api_sms_parts(const char *text, size_t len,
                       enum smpp_text_split_mode mode, unsigned allow);

/* A day "YYYY-MM-DD" (month 1..12, day 1..31): the slots' and the
 * read-back queries' day check. */
bool api_day_ok(const char *day);

#endif
