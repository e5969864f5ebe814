/*
 * gateway/notify.h — an application's status changes, and the people who
 * are told: the status-notification use case.
 *
 * What it does: notify_status_change() records an agency's status change
 * of application `number` (store_app_status: the application row and one
 * history entry) and, when asked, queues the status SMS in the durable
 * outbox: the agency's template for (status, language) rendered with
 * {number} {status} {note} (gateway/template.h; the store applies the
 * fallbacks: agency 0, status "*"), sent to
 *   - the owner, unless the owner muted this application's SMS (the USSD
 *     subscribe node, store_sub_mute on notify_topic()), and
 *   - every subscriber of notify_topic(number) but the owner, at most
 *     NOTIFY_FANOUT_MAX of them,
 * each skipped when that number opted out (STOP).  No template for the
 * status in that language: the built-in text of notify_default_text() is
 * sent instead (res->builtin; the one place the default wording lives).
 * notify_status_text() is the agency's lookup and rendering alone, for
 * the owner's own question (the STATUS keyword, gateway/keywords).
 * notify_topic() names the subscription topic of an application, shared
 * with the USSD subscribe node (gateway/ussd).
 *
 * Numbers are per agency (issue 14 item 6): a change, its history, its
 * topic and its SMS are the changing agency's own application.  A citizen
 * types a number without saying whose: notify_app_find() looks it up
 * among the citizen's own applications of every agency, and where two
 * agencies' numbers clash the citizen adds the agency's code and a dash
 * ("MVD-12345"), as notify_ambiguous_text() says in ky, ru or en.  Shared
 * by the STATUS keyword (gateway/keywords) and the USSD status and
 * subscribe nodes (gateway/ussd).
 *
 * Durability: every write goes through the store as it is; the caller
 * decides the transaction (the API opens its pass's batch first, so the
 * change and all its SMS commit together or not at all).
 *
 * Ownership: inputs are only read during the call; nothing is kept.
 * Strings handed back are malloc'd (caller frees).  Not re-entrant with
 * the store (no store call may be in progress).  Never logs: the caller
 * does, once, with its peer's name.
 * May call: gateway/store, gateway/template, gateway/phone, libc.
 */
#ifndef KYZMAT_GATEWAY_NOTIFY_H
#define KYZMAT_GATEWAY_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/store.h"

#define NOTIFY_FANOUT_MAX 1000            /* subscribers told per change */
#define NOTIFY_TOPIC_MAX (STORE_CODE_MAX + 28)
/* Out of memory (distinct from every STORE_* code, which are >= 0). */
#define NOTIFY_NOMEM (-1)

/* The subscription topic of agency_id's application number:
 * "app:AGENCY_ID/NUMBER" into out[0..cap) (cut to fit).  The store's
 * migration "issue 14 item 6" rewrote the older "app:NUMBER" topics into
 * this form. */
void notify_topic(int64_t agency_id, const char *number, char *out,
                  size_t cap);

/* ---- a citizen's number (issue 14 item 6) ---- */

#define NOTIFY_FOUND_MAX 4        /* applications told apart in one answer */

/* What notify_app_find() found: n 0 (none of the citizen's), 1 (app[0]),
 * or more (ambiguous: the first NOTIFY_FOUND_MAX in app[]). */
struct notify_found {
    size_t n;
    struct store_app app[NOTIFY_FOUND_MAX];
};

/*
 * notify_app_find — the citizen's (owner: canonical phone) application
 * typed as `typed`.  First the plain number: every agency's application
 * `typed` owned by owner.  When there is none, `typed` read as an
 * agency's code (any case), '-' and a number, at each of its first dashes
 * ("MVD-12345", "MVD-PAS-2026-001").  Applications of other owners are
 * never found, so nothing here tells a stranger whether a number exists
 * (the caller counts the miss).  STORE_OK with *out filled, or a store
 * error.  Bounded: at most NOTIFY_SPLITS_MAX + 1 indexed reads.
 */
#define NOTIFY_SPLITS_MAX 4
int notify_app_find(struct store *st, const char *typed, const char *owner,
                    struct notify_found *out);

/*
 * notify_ambiguous_text — the built-in answer in lang (ky, ru, en; any
 * other: ky) when the citizen has several applications of the number
 * typed (f->n > 1): "This number is with several agencies. Type it with
 * the agency's code: MVD-12345, GRS-12345", the prefixed forms of f's
 * applications, all the citizen's own.  Malloc'd (caller frees); NULL
 * when out of memory.
 */
char *notify_ambiguous_text(const struct notify_found *f, const char *lang);

/*
 * notify_status_text — the agency's status SMS for application number in
 * status (lang: "ky", "ru", "en"), its template rendered with number,
 * status and note (NULL: none).  STORE_OK with *text malloc'd (caller
 * frees); STORE_NOTFOUND when no template applies; NOTIFY_NOMEM; or a
 * store error.  *text is NULL unless STORE_OK.
 */
int notify_status_text(struct store *st, int64_t agency_id, const char *number,
                       const char *status, const char *lang, const char *note,
                       char **text);

/*
 * notify_default_text — the built-in status SMS in lang (ky, ru, en; any
 * other: ky), for a status without a template: "Арыз {number}: абалы
 * «{status}».", "Заявление {number}: статус «{status}».", "Application
 * {number}: status "{status}".", followed by " " and the note when note is
 * neither NULL nor "".  Malloc'd (caller frees); NULL when out of memory.
 */
char *notify_default_text(const char *number, const char *status,
                          const char *lang, const char *note);

/* One status change, as the agency made it. */
struct notify_change {
    const char *number;       /* the application number (a code) */
    int64_t agency_id;        /* the agency changing it */
    int64_t service_id;       /* 0: keep what is recorded */
    const char *owner;        /* canonical phone; NULL: keep (a new
                                 application needs one: STORE_INVALID) */
    const char *status;
    const char *note;         /* NULL: none */
    const char *lang;         /* language of the SMS */
    bool notify;              /* queue the SMS (false: record only) */
    const char *client;       /* outbox client the SMS are queued under */
    int64_t now;              /* ms, wall clock */
    int64_t expiry_ms;        /* an SMS not sent by now + this expires */
};

/* What notify_status_change() did. */
struct notify_result {
    bool have_template;       /* a stored template applied */
    bool builtin;             /* none did: notify_default_text() was sent */
    int queued;               /* SMS queued */
    int opted_out;            /* recipients skipped: opted out */
    int muted;                /* owners skipped: this application muted */
};

/*
 * notify_status_change — record change c to the agency's own application
 * and tell who should be told (see top).  Returns STORE_OK (res filled);
 * STORE_INVALID for a new application without owner; NOTIFY_NOMEM; or a
 * store error.  On an error
 * part of the writes may have been made: the caller rolls its batch back
 * or answers that nothing is guaranteed.
 */
int notify_status_change(struct store *st, const struct notify_change *c,
                         struct notify_result *res);

#endif
