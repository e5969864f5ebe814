/*
 * gateway/appeals.h — citizens' appeals (issue 12): the rules and the
 * writes shared by the USSD node, the SMS keywords and the agency API.
 *
 * What it does:
 *  - the states and the one transition table (appeals_next_ok): new ->
 *    in_progress | answered | rejected | closed; in_progress -> answered |
 *    rejected | closed; answered -> in_progress | closed; closed and
 *    rejected are final.  A reply is allowed while new, in_progress or
 *    answered and makes the appeal answered.
 *  - appeals_file(): the per-phone limit (appeals filed in the last 24
 *    hours; a flood is refused politely and counted), a fresh random
 *    reference (gateway/appeal_ref; drawn again on a collision), the
 *    appeal and its first history row, and the SMS with the reference,
 *    all in one atomic group (store_atomic) of the store's batch.
 *  - appeals_reply(): the agency's answer recorded in the history and
 *    sent to the phone that filed the appeal by SMS (the gateway knows
 *    the phone, an anonymous category's agency never does).
 *  - appeals_status_text(): what the phone that filed an appeal is told
 *    about it; anyone else gets the same text as for a reference nobody
 *    has (appeals_text(APPEALS_T_NOT_FOUND)).
 *  - the built-in texts in ky, ru and en (other languages: en).
 * SMS sent here are answers to the citizen's own request: like the
 * keyword replies (gateway/keywords.h) they go with law_required, so an
 * opted-out phone still gets its reference and its answer.
 *
 * Owns nothing between calls; struct appeals_stats is the caller's (the
 * daemon's, read by the metrics exporter).  Not re-entrant with the
 * store.  Logs nothing: the callers log at their boundary, phone numbers
 * masked (an anonymous appeal's phone never reaches a log line).
 * May call: gateway/store, gateway/appeal_ref, gateway/template,
 * base/metrics, base/sha256, libevent (evutil_secure_rng_get_bytes), libc.
 */
#ifndef KYZMAT_GATEWAY_APPEALS_H
#define KYZMAT_GATEWAY_APPEALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/appeal_ref.h"
#include "gateway/store.h"

enum appeal_state {
    APPEAL_NEW = 0, APPEAL_IN_PROGRESS, APPEAL_ANSWERED, APPEAL_CLOSED,
    APPEAL_REJECTED, APPEAL_STATE_COUNT
};
/* "new", "in_progress", ...; NULL when out of range. */
const char *appeals_state_name(int state);
/* The state named s, or -1. */
int appeals_state_parse(const char *s);
/* May an appeal in state from be moved to state to?  (from == to: no,
 * the caller answers that as "nothing changed".) */
bool appeals_next_ok(int from, int to);
/* May the agency reply to an appeal in state s? */
bool appeals_can_reply(int s);

#define APPEALS_PER_DAY 5          /* default per-phone limit, 24 hours */
#define APPEALS_TEXT_MIN 3         /* characters of a filed text */
#define APPEALS_TEXT_MAX 1000      /* bytes of a filed text or a reply */

/* Counted for the metrics (kyzmat_appeals_*_total). */
struct appeals_stats {
    uint64_t filed;            /* appeals stored */
    uint64_t limited;          /* refused: the phone's daily limit */
    uint64_t bad_ref;          /* a reference refused by its check digit */
    uint64_t replies;          /* agency answers sent */
};

struct appeals_opts {
    unsigned per_day;          /* 0: APPEALS_PER_DAY */
    int64_t expiry_ms;         /* an SMS not sent by then expires [6 h] */
    struct appeals_stats *stats;   /* may be NULL */
};

/* One appeal to file.  Strings are read during the call only. */
struct appeal_filing {
    const char *msisdn;        /* canonical (gateway/phone) */
    const char *agency;        /* the category's agency code */
    const char *category;      /* the category id */
    bool anonymous;
    const char *text;          /* UTF-8, APPEALS_TEXT_MIN..MAX */
    const char *lang;          /* "ky", "ru", "en" */
    const char *channel;       /* "ussd" or "sms" */
    const char *sender;        /* SMS source address; NULL: the default */
    const char *via;           /* link to prefer; NULL: the routing rule */
};

enum appeal_outcome {
    APPEAL_FILED = 0,          /* stored; ref set; the SMS queued */
    APPEAL_LIMITED             /* refused: the phone's limit; nothing stored
                                  but a polite SMS when sms_refusal */
};

struct appeal_filed {
    int outcome;               /* enum appeal_outcome */
    char ref[APPEAL_REF_MAX];  /* canonical, when filed */
    int64_t id;                /* the appeal's id, when filed */
    int64_t sms_id;            /* the SMS's outbox id, 0 when none */
};

/*
 * appeals_file — file f at now (ms): see the top.  With sms_refusal, a
 * refusal by the limit is also answered by SMS (the SMS keyword, whose
 * only answer is an SMS; a USSD dialog shows it on screen instead).
 * STORE_OK with res filled (its writes joined the batch: durable at the
 * next commit), STORE_INVALID for a bad filing, or a store error (nothing
 * of it stored).
 */
int appeals_file(struct store *st, const struct appeal_filing *f,
                 const struct appeals_opts *o, bool sms_refusal, int64_t now,
                 struct appeal_filed *res);

/*
 * appeals_reply — the agency `who` ("agency:CODE") answers appeal a with
 * text at now: history row (kind reply, state answered) and the SMS to
 * a->msisdn, in a->lang, one atomic group.  idem_key (NULL: none) makes a
 * retry safe: the same key and text again is STORE_DUPLICATE with *sms_id
 * the first SMS (nothing new stored); the same key with another text is
 * STORE_CONFLICT.  client is the idempotency scope ("agency:ID").
 */
int appeals_reply(struct store *st, const struct store_appeal *a,
                  const char *text, const char *who, const char *client,
                  const char *idem_key, const struct appeals_opts *o,
                  int64_t now, int64_t *sms_id);

/* The built-in texts; {ref} {state} {text} are filled by the callers. */
enum appeals_text {
    APPEALS_T_FILED = 0,       /* {ref} */
    APPEALS_T_LIMITED,
    APPEALS_T_BAD_REF,         /* not a valid reference (check digit) */
    APPEALS_T_NOT_FOUND,       /* no appeal of yours with that reference */
    APPEALS_T_STATUS,          /* {ref} {state} */
    APPEALS_T_REPLY,           /* {ref} {text} */
    APPEALS_T_USAGE,           /* the keyword without a text */
    APPEALS_T_COUNT
};
/* The text t in lang ("ky", "ru", "en"; anything else: en); static. */
const char *appeals_text(enum appeals_text t, const char *lang);
/* A state's name for citizens in lang; static. */
const char *appeals_state_word(int state, const char *lang);

/*
 * appeals_status_text — what `msisdn` is told about reference `typed`
 * (as typed), in lang, into out: the state when msisdn filed it, the
 * bad-reference text when the check digit fails (counted), else the
 * not-found text (the same for a reference nobody has and another
 * phone's).  *found says whether it was msisdn's.  STORE_OK or a store
 * error.
 */
int appeals_status_text(struct store *st, const char *msisdn,
                        const char *typed, size_t typed_len, const char *lang,
                        const struct appeals_opts *o, char *out, size_t cap,
                        bool *found);

/* ---- configuration (the daemon's appeals: section) ------------------------ */

/* One SMS word that files an appeal or asks its state: "LANG:WORD" or
 * "LANG:WORD=AGENCY/CATEGORY" (a category of its own; else the default). */
#define APPEALS_KW_MAX 12
struct appeals_kw {
    char lang[4];                   /* ky, ru, en: the answers' language */
    char word[64];                  /* as written (UTF-8) */
    char agency[STORE_CODE_MAX];    /* "" : the default category's */
    char category[STORE_CODE_MAX];
};
/* Parse one such item (len bytes): 0, or -1 with why ("must be ...").
 * Pure. */
int appeals_kw_item(const char *s, size_t len, struct appeals_kw *out,
                    char *why, size_t n);
/* "AGENCY/CATEGORY" (len bytes) into agency and category (each
 * STORE_CODE_MAX): 0, or -1.  Pure. */
int appeals_category_item(const char *s, size_t len, char *agency,
                          char *category);

struct kz_metrics;
/* Register the counters of st in m (kyzmat_appeals_*_total): 0, or -1
 * with err.  st must outlive the series. */
int appeals_metrics(struct appeals_stats *st, struct kz_metrics *m,
                    char *err, size_t errlen);

#endif
