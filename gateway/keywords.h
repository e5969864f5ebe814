/*
 * gateway/keywords.h — SMS keywords a citizen sends to the gateway's number:
 * STATUS <application number>, STOP, START and HELP, in English, Russian
 * and Kyrgyz, answered through the durable outbox.
 *
 * What it does: kw_parse() (pure, no I/O, fuzzed by
 * tests/fuzz/fuzz_keywords.c) turns an MO text into (keyword, argument,
 * reply language); kw_text() (pure) gives the fixed reply texts;
 * keywords_handle() carries a parsed keyword out against the store
 * (applications, status templates, lookup lock-out, opt-outs) and enqueues
 * the one reply with store_enqueue(); keywords_mo() does the same from a
 * deliver_sm (decoding its text first).
 *
 * Keywords (any case, extra blanks, the word must be the first thing in
 * the message; Latin look-alike letters inside a Cyrillic word, as in a
 * "СТОП" typed with a Latin C or O, count as Cyrillic):
 *   STATUS  СТАТУС (ru)  АБАЛ (ky)     + application number
 *   STOP    СТОП (ru)    ТОКТОТ (ky)   opt out of everything
 *   START   СТАРТ (ru)   БАШТА (ky)    opt back in
 *   HELP    ПОМОЩЬ (ru)  ЖАРДАМ (ky)   the short help
 * Language of the reply: the Kyrgyz words answer in Kyrgyz.  The Russian
 * words (also common in Kyrgyz SMS) answer in Russian unless the phone's
 * remembered language is Kyrgyz; Latin words answer in the remembered
 * language when there is one, else English.  (The store keeps no language
 * per phone yet, so the daemon passes none: see keywords_mo().)
 * The number may be written "12345", "№12345", "#12345", "№ 12345" or
 * "STATUS:12345" (1..63 of A-Z a-z 0-9 . _ : -, as the API accepts).
 *
 * The owner's answer: the agency's status template for (status, reply
 * language) when there is one (set with PUT /v1/templates/{status}/{lang};
 * the same lookup, fallbacks and placeholders {number} {status} {note} as
 * the status SMS the API sends on a change), else the built-in line
 * (KW_T_STATUS) with the raw status code, followed by the latest note.  So
 * an agency that words its statuses ("ready" -> "your passport is ready")
 * has them worded the same by SMS as in its pushes and USSD menus.
 *
 * Privacy: STATUS n answers with the status only when the sender's number
 * (canonical form, gateway/phone) is the application's owner.  Anyone
 * else gets the neutral answer, the same text whether the application
 * exists or not, and a failed attempt is counted; at max_failures within
 * window_ms the phone is locked out for lock_ms and every STATUS in that
 * time (the owner's too: the lock is checked first) gets "too many
 * attempts, try again in N minutes".  A STATUS without a number gets the
 * usage line and counts nothing.
 *
 * Numbers are per agency (issue 14 item 6): STATUS 12345 finds the
 * sender's own application 12345 whichever agency has it
 * (notify_app_find).  When the sender has 12345 with several agencies the
 * answer (notify_ambiguous_text, KW_O_AMBIGUOUS, not counted as a miss)
 * asks for the agency's code and lists the forms to send ("STATUS
 * MVD-12345"); a prefixed number finds that agency's application, and a
 * prefixed number that finds nothing is a miss like any other.
 *
 * Opt-out rule (documented choice): a keyword reply answers the sender's
 * own request, one reply per MO; it is not a message the opt-out covers,
 * so every reply is enqueued with law_required set.  This is what lets the
 * STOP confirmation out (the number is opted out by then) and lets an
 * opted-out phone still ask for its application's status or for help.
 * Nothing else is sent because of a keyword.
 *
 * Durability: the writes of one MO (lookup counters, opt-out, the reply)
 * are one atomic group (store_atomic) in the store's batch: all of them or
 * none.  They are durable when the store commits (gateway/store.h), so an
 * MO is acknowledged only then: keywords_deliver() defers the
 * deliver_sm_resp and sends it from the commit waiter, ESME_ROK once the
 * writes are durable, ESME_RX_T_APPN when the commit failed (the SMSC
 * delivers the MO again).  The SMSC never redelivers an acknowledged MO,
 * so a STOP answered ROK is a STOP kept.
 *
 * Ownership: nothing is kept between calls but keywords_deliver()'s commit
 * waiters; inputs are only read during the call; struct kw_result is the
 * caller's.  Not re-entrant with the
 * store (no store call may be in progress).
 *
 * May call: gateway/store, gateway/phone, gateway/template,
 * gateway/notify, gateway/log, smpp/esme, smpp/text, smpp/pdu, base/utf8,
 * libc.
 */
#ifndef KYZMAT_GATEWAY_KEYWORDS_H
#define KYZMAT_GATEWAY_KEYWORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/appeals.h"
#include "gateway/store.h"

struct smpp_pdu;

enum kw_keyword {
    KW_NONE = 0,    /* not a keyword we answer: ignore */
    KW_STATUS,
    KW_STOP,
    KW_START,
    KW_HELP,
    KW_APPEAL       /* issue 12: a configured appeal word (never from
                       kw_parse, whose words are fixed) */
};

enum kw_lang { KW_EN = 0, KW_RU, KW_KY };

#define KW_ARG_MAX STORE_CODE_MAX   /* application number + NUL */

struct kw_parsed {
    enum kw_keyword kw;
    char arg[KW_ARG_MAX];   /* STATUS: the number, "" when absent/invalid */
    enum kw_lang lang;      /* the reply's language */
};

/* "en", "ru", "ky". */
const char *kw_lang_code(enum kw_lang lang);
/* "STATUS", "STOP", "START", "HELP", "none". */
const char *kw_name(enum kw_keyword kw);

/*
 * kw_parse — read an MO text (UTF-8, len bytes, need not be
 * NUL-terminated; invalid UTF-8 simply matches nothing).  remembered is the
 * phone's known language ("ky", "ru", "en") or NULL.  Fills *out and
 * returns out->kw.  Pure: no I/O, no allocation; linear in len.
 */
enum kw_keyword kw_parse(const uint8_t *text, size_t len,
                         const char *remembered, struct kw_parsed *out);

/* The fixed replies (UTF-8, static). */
enum kw_text {
    KW_T_NEUTRAL = 0,   /* no application with that number for this phone */
    KW_T_LOCKED,        /* "%d" marks where the minutes go */
    KW_T_USAGE,         /* STATUS without a number */
    KW_T_STOP,          /* opt-out confirmed */
    KW_T_START,         /* opt-in confirmed */
    KW_T_HELP,
    KW_T_STATUS,        /* built-in status line when no template applies:
                           a template for template_render(): {number} {status}
                           {note} */
    KW_T_COUNT
};
const char *kw_text(enum kw_text t, enum kw_lang lang);

/* issue 12 appeals: the configured SMS words (config appeals.keywords):
 * "WORD text" files an appeal in the word's category (else the default
 * one; none: the usage answer), "WORD 1234-5678-9" tells the state of the
 * sender's own appeal (anyone else: the answer for a reference nobody
 * has; a mistyped reference: "not a valid reference"), "WORD" alone the
 * usage.  Words are matched as the fixed ones are (case, look-alikes);
 * a fixed word wins over a configured one.  The answers are in the
 * word's language; the filing's limit and counts are opts'. */
#define KW_FOLDED_MAX 33     /* a matched word folded: 16 code points */
struct kw_appeals {
    const struct appeals_kw *kw;
    size_t n;
    const char *agency, *category;      /* the default; "" : none */
    const struct appeals_opts *opts;
    /* kw[i].word folded as an MO's first word is ("" : it never
     * matches), made once by kw_appeals_init, not per MO */
    char folded[APPEALS_KW_MAX][KW_FOLDED_MAX];
};
/* Fill a with kw[0..n) (at most APPEALS_KW_MAX are used) and the other
 * fields, and fold the words once.  Pure. */
void kw_appeals_init(struct kw_appeals *a, const struct appeals_kw *kw, size_t n,
                     const char *agency, const char *category,
                     const struct appeals_opts *opts);

/* Rate limit and reply lifetime (0 fields take the defaults). */
struct kw_opts {
    int64_t window_ms;      /* failures counted in this window [1 h] */
    int max_failures;       /* this many lock the phone out [5] */
    int64_t lock_ms;        /* for this long [30 min] */
    int64_t expiry_ms;      /* a reply not sent by then expires [6 h] */
    const struct kw_appeals *appeals;   /* issue 12; NULL: none */
};

/* What keywords_handle() did. */
enum kw_outcome {
    KW_O_IGNORED = 0,   /* not a keyword: nothing done */
    KW_O_STATUS,        /* owner: the status was sent */
    KW_O_NEUTRAL,       /* not the owner / no such application */
    KW_O_LOCKED,        /* locked out (now or by this attempt) */
    KW_O_USAGE,         /* STATUS without a valid number */
    KW_O_STOP,
    KW_O_START,
    KW_O_HELP,
    KW_O_AMBIGUOUS,     /* the sender has that number with several agencies:
                           asked for the agency's code (issue 14 item 6) */
    KW_O_APPEAL_FILED,  /* issue 12: filed, the reference sent */
    KW_O_APPEAL_LIMITED,/* refused by the daily limit (answered) */
    KW_O_APPEAL_STATE,  /* a state asked (answered, whoever asked) */
    KW_O_APPEAL_USAGE   /* the word alone, or no category to file in */
};

struct kw_result {
    enum kw_outcome outcome;
    struct kw_parsed parsed;
    int64_t reply_id;       /* outbox id of the reply, 0 when none */
    int failures;           /* failed lookups in the window (NEUTRAL/LOCKED) */
    int64_t locked_until;   /* 0 when not locked */
};

/*
 * keywords_handle — carry out the keyword in text (UTF-8, len bytes) sent
 * by `from` (any form; canonicalised) at `now` (ms): see the top for what
 * each keyword does.  The reply goes into the outbox addressed to the
 * canonical number; the caller should kick the outbox afterwards.
 * opts may be NULL (defaults).  Returns STORE_OK (res->outcome says what
 * happened; KW_O_IGNORED when text is no keyword): the writes joined the
 * store's batch (durable at its commit: store_on_commit); or a store error
 * code, in which case nothing of this MO is stored.
 */
int keywords_handle(struct store *st, const char *from, const uint8_t *text,
                    size_t len, int64_t now, const struct kw_opts *opts,
                    struct kw_result *res);

/*
 * keywords_mo — keywords_handle() for a deliver_sm/data_sm: takes the text
 * from short_message (or message_payload) decoded by data_coding.  Parts
 * of a concatenated message (UDH or SAR) and undecodable texts are no
 * keyword (KW_O_IGNORED).  Logs the outcome at info under peer `link`
 * (numbers masked).  Same returns as keywords_handle().
 */
int keywords_mo(struct store *st, const char *link, const struct smpp_pdu *pdu,
                int64_t now, const struct kw_opts *opts, struct kw_result *res);

/* How a deferred deliver_sm_resp is sent later: on the link named `link`
 * (its esme may be gone by then), as outbox_links.answer does. */
struct kw_answer {
    void (*answer)(void *ud, const char *link, uint64_t ticket,
                   uint32_t status);
    void *ud;
};

/*
 * keywords_deliver — keywords_mo() as esme's on_deliver handler for an MO
 * (e: the esme it came on, link: its name), answered only once durable.
 * An MO that is no keyword writes nothing: ESME_ROK at once.  For a
 * keyword the answer is deferred (esme_defer_answer) before anything is
 * written, the keyword is handled, and the store's commit waiter sends
 * ans->answer(ud, link, ticket, ESME_ROK) when its writes are durable, or
 * ESME_RX_T_APPN when the commit failed.  Returns the status for
 * on_deliver: ESME_ROK (no keyword, or deferred: then ignored) or
 * ESME_RX_T_APPN (the answer cannot be deferred: nothing written; or the
 * store refused the writes: answered already).  res as for keywords_mo()
 * (reply_id set: kick the outbox).  ans is copied; pdu read during the
 * call only.
 */
struct esme;
uint32_t keywords_deliver(struct store *st, struct esme *e, const char *link,
                          const struct smpp_pdu *pdu, int64_t now,
                          const struct kw_opts *opts,
                          const struct kw_answer *ans, struct kw_result *res);

#endif
