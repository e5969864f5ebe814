/*
 * gateway/api.h — the agencies' HTTP API (libevent evhttp on the daemon's
 * event loop).
 *
 * What it does: serves
 *     POST /v1/messages                       202 {"id", "state", "duplicate"}
 *     POST /v1/messages/batch                 202 {"results": [...]} (1..1000)
 *     GET  /v1/messages/{id}                  200 state, times, error, parts
 *     POST /v1/applications/{number}/status   201 (new) / 200, history + SMS
 *     POST /v1/offices                        200 create or rename an office
 *     POST /v1/services                       200 create or rename a service
 *     POST /v1/slots                          200 publish a slot / capacity
 *     PUT  /v1/templates/{status}/{lang}      200 set a status template
 *     GET  /v1/templates/{status}/{lang}      200 one template, 404 none
 *     DELETE /v1/templates/{status}/{lang}    200 deleted, 404 none
 *     GET  /v1/templates[?after=S/L&limit=N]  200 the agency's templates
 *     GET  /v1/health                         200 {"ok":true, counters} (no auth)
 * with `Authorization: Bearer TOKEN` (token looked up by its SHA-256 in the
 * store), strict JSON schemas, and group commit: every write of one loop
 * pass joins the store's batch, which the store commits once per pass;
 * the pass's acknowledgements are sent only from the commit's waiter
 * (store_on_commit; a failed commit turns every one of them into 503,
 * nothing acknowledged).
 *
 * Pure part: api_parse_*() turn body bytes into a struct or an error with
 * the offending field; they do no I/O and are fuzzed
 * (tests/fuzz/fuzz_api_json.c).  Phone numbers are canonicalised by
 * gateway/phone.h (phone_canon(), the one rule).
 *
 * Ownership: struct api is owned by the caller of api_new() and freed with
 * api_free() (which answers still-pending requests with 503 first).  It
 * borrows the event_base and the store; both must outlive it.  Parsed
 * structs own their strings (api_*_clear()).
 * Not re-entrant: call from the loop thread only, never from inside an
 * API callback.
 * May call: libevent (evhttp), jansson, gateway/store, gateway/notify,
 * gateway/template, gateway/phone, gateway/log, smpp/text, libc.
 */
#ifndef KYZMAT_GATEWAY_API_H
#define KYZMAT_GATEWAY_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/store.h"
#include "smpp/text.h"

struct event_base;
struct api;
struct outbox_route;

struct api_opts {
    const char *listen;      /* "host:port", numeric host; port 0 = any */
    size_t max_body;         /* bytes; bigger bodies get 413 (0: 65536) */
    int64_t expiry_ms;       /* message validity (0: 24 hours) */
    /* POST /v1/ussd/notices: push a USSN notice now (not stored; 503 when
     * it cannot go out).  from may be NULL (the gateway's service code).
     * Returns 0, or -1 with err; too_long set when the text does not fit
     * one USSD screen.  NULL: the endpoint answers 501. */
    int (*ussd_notice)(void *ud, const char *msisdn, const char *from,
                       const char *text, int *too_long, char *err, size_t errlen);
    void *ussd_ud;
    /* The route a message to msisdn takes: the outbox's router
     * (gateway/outbox.h, struct outbox_links.route).  GET
     * /v1/messages/{id} counts a message not yet submitted in the parts
     * that route's link will send (its split mode and Latin-1 permission,
     * api_sms_parts).  Returns 0 with *r filled, or non-zero when no link
     * serves the number now (then, as with NULL: UDH 8-bit, no Latin-1). */
    int (*route)(void *ud, const char *msisdn, struct outbox_route *r);
    void *route_ud;
};

/*
 * api_new — bind evhttp to opts->listen on base and serve the API from
 * store st.  Returns the API (caller owns it) or NULL with err filled
 * (bad address, bind failure, out of memory).  opts is read only during
 * the call.
 */
struct api *api_new(struct event_base *base, struct store *st,
                    const struct api_opts *opts, char *err, size_t errlen);
/* Cancel the commit waiter, answer still pending requests with 503 (flush
 * the store first to give them their real answers, as kyzmatd does at
 * shutdown), unbind, free.  NULL is fine.  Not from inside a request being
 * handled. */
void api_free(struct api *api);
/* The bound TCP port (useful when opts->listen asked for port 0). */
int api_port(const struct api *api);

/* Counters (also in GET /v1/health). */
struct api_stats {
    uint64_t requests;        /* every request seen */
    uint64_t accepted;        /* messages acknowledged after commit */
    uint64_t rejected;        /* 4xx answers */
    uint64_t commits;         /* commits that carried answers */
    uint64_t commit_failures; /* ... of which failed (-> 503s) */
    uint64_t busy;            /* 503 because the database was busy */
    uint64_t pending;         /* acknowledgements waiting for a commit now */
};
void api_get_stats(const struct api *api, struct api_stats *out);

/*
 * api_token_create — make a new random API token for the agency with code
 * `agency` (created, named after its code, when missing) with the given
 * scopes (comma-separated subset of
 * "messages,applications,offices,slots,templates", or "*" for all; NULL =
 * "*").  Only the token's SHA-256 is stored.  On
 * success writes the token ("kz_" + 64 hex digits, NUL-terminated) into
 * token[0..cap) (cap >= API_TOKEN_LEN) and returns STORE_OK; else a store
 * code with err filled.  Synchronous; for tests and `kyzmatd
 * --create-token`.  Durable on return when the store is not attached to
 * a loop; else with the pass's commit.
 */
#define API_TOKEN_LEN 68
int api_token_create(struct store *st, const char *agency, const char *scopes,
                     char *token, size_t cap, char *err, size_t errlen);

/* ---- pure request-body validation --------------------------------------- */

/* A refused body: HTTP status (400, 413, 415, 422), message, field. */
struct api_error {
    int status;
    char msg[200];
    char field[64];           /* "" when not about one field */
};

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
/* A USSN notice request: {"to": phone, "text": ..., "from": service code}. */
struct api_notice {
    char to[STORE_MSISDN_MAX];
    char from[24];            /* "" when absent */
    char text[API_NOTICE_MAX_BYTES + 1];
};
int api_parse_notice(const uint8_t *body, size_t len, struct api_notice *n,
                     struct api_error *e);

int api_parse_message(const uint8_t *body, size_t len, struct api_message *m,
                      struct api_error *e);
void api_message_clear(struct api_message *m);

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

#endif
