/*
 * gateway/keywords.c — SMS keywords (STATUS, STOP, START, HELP): the pure
 * parser and reply texts, and the handlers that answer through the store's
 * outbox.  The contract, the keyword table, the language rule, the privacy
 * rule and the opt-out choice are in keywords.h.
 *
 * Parser: the first word of the text is read as code points up to a
 * separator (blank, ASCII punctuation, digit, '№', end).  Letters are
 * folded to lower case (ASCII, Russian and the Kyrgyz ң ө ү); when the
 * word holds any Cyrillic letter, Latin look-alikes (a c e o p x y k m t
 * h b) become their Cyrillic twins, so a mixed-keyboard "СТОП" still
 * matches.  A word with anything else in it (é, emoji, invalid UTF-8)
 * matches nothing.  Bounded: words over KW_WORD_MAX code points are no
 * keyword, and the argument scan stops at its first blank.
 *
 * Owns nothing between calls but the commit waiters of keywords_deliver()
 * (one small struct per keyword MO, freed by the waiter).  May call:
 * gateway/store, gateway/phone, gateway/template, gateway/notify,
 * gateway/log, smpp/esme (deferred answers), smpp/text, smpp/pdu,
 * base/utf8, libc.
 */
#include "gateway/keywords.h"

#include "base/utf8.h"
#include "gateway/log.h"
#include "gateway/notify.h"
#include "gateway/phone.h"
#include "gateway/template.h"
#include "smpp/esme.h"
#include "smpp/pdu.h"
#include "smpp/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KW_WORD_MAX 16      /* code points in a keyword word, at most */

static int is_blank(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n' || cp == 0xa0 ||
           cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200b);
}

/* Ends a word: blank, ASCII punctuation or digit, '№'. */
static int is_separator(uint32_t cp)
{
    if (is_blank(cp) || cp == 0x2116)
        return 1;
    if (cp < 0x80 && !((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z'))
        return 1;
    return 0;
}

static int is_cyrillic(uint32_t cp)
{
    return cp >= 0x400 && cp <= 0x4ff;
}

/* Lower case of an ASCII or Cyrillic letter; 0 when cp is neither. */
static uint32_t fold(uint32_t cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 0x20;
    if (cp >= 'a' && cp <= 'z')
        return cp;
    if (cp >= 0x410 && cp <= 0x42f)         /* А..Я */
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40f)         /* Ѐ..Џ (Ё) */
        return cp + 0x50;
    if (cp >= 0x430 && cp <= 0x45f)
        return cp;
    if (cp == 0x4a2 || cp == 0x4ae || cp == 0x4e8)  /* Ң Ү Ө */
        return cp + 1;
    if (cp == 0x4a3 || cp == 0x4af || cp == 0x4e9)
        return cp;
    return 0;
}

/* The Cyrillic twin of a (folded) Latin look-alike, else cp. */
static uint32_t cyr_twin(uint32_t cp)
{
    static const char lat[] = "aceopxykmthb";
    static const uint16_t cyr[] = { 0x430, 0x441, 0x435, 0x43e, 0x440, 0x445,
                                    0x443, 0x43a, 0x43c, 0x442, 0x43d, 0x432 };
    if (cp >= 0x80)
        return cp;
    const char *p = strchr(lat, (int)cp);
    return p && cp ? cyr[p - lat] : cp;
}

/* ---- the table ------------------------------------------------------------- */

struct kw_word {
    const char *word;       /* folded, UTF-8 */
    enum kw_keyword kw;
    enum kw_lang lang;      /* EN: Latin, RU: Russian (shared), KY: Kyrgyz */
};

static const struct kw_word words[] = {
    { "status", KW_STATUS, KW_EN }, { "статус", KW_STATUS, KW_RU },
    { "абал", KW_STATUS, KW_KY },
    { "stop", KW_STOP, KW_EN },     { "стоп", KW_STOP, KW_RU },
    { "токтот", KW_STOP, KW_KY },
    { "start", KW_START, KW_EN },   { "старт", KW_START, KW_RU },
    { "башта", KW_START, KW_KY },
    { "help", KW_HELP, KW_EN },     { "помощь", KW_HELP, KW_RU },
    { "жардам", KW_HELP, KW_KY },
};

const char *kw_lang_code(enum kw_lang lang)
{
    switch (lang) {
    case KW_RU: return "ru";
    case KW_KY: return "ky";
    default: return "en";
    }
}

const char *kw_name(enum kw_keyword kw)
{
    switch (kw) {
    case KW_STATUS: return "STATUS";
    case KW_STOP: return "STOP";
    case KW_START: return "START";
    case KW_HELP: return "HELP";
    case KW_APPEAL: return "APPEAL";
    default: return "none";
    }
}

/* -1 when s is not a known language code. */
static int lang_of(const char *s)
{
    if (!s || !s[0] || !s[1] || (s[2] && s[2] != '-' && s[2] != '_'))
        return -1;
    char a = (char)(s[0] | 0x20), b = (char)(s[1] | 0x20);
    if (a == 'k' && b == 'y')
        return KW_KY;
    if (a == 'r' && b == 'u')
        return KW_RU;
    if (a == 'e' && b == 'n')
        return KW_EN;
    return -1;
}

static int is_code_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

/* The application number after the keyword at s[0..n): "" when none. */
static void parse_number(const uint8_t *s, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    out[0] = '\0';
    /* blanks and one run of ':' '-' '=' '№' '#' between them */
    for (;;) {
        uint32_t cp;
        size_t l = kz_utf8_next(s + i, n - i, &cp);
        if (l == 0)
            break;
        if (is_blank(cp) || cp == 0x2116 || cp == '#' || cp == ':' ||
            cp == '-' || cp == '=' || cp == ',')
            i += l;
        else
            break;
    }
    size_t a = i;
    while (i < n && is_code_char(s[i]))
        i++;
    size_t b = i;
    /* the number must end the word: blank, end or closing punctuation */
    if (i < n) {
        uint32_t cp;
        size_t l = kz_utf8_next(s + i, n - i, &cp);
        if (l == 0 || !(is_blank(cp) || cp == ',' || cp == ';' || cp == '!' ||
                        cp == '?' || cp == ')'))
            return;
    }
    while (b > a && (s[b - 1] == '.' || s[b - 1] == ':' || s[b - 1] == '-'))
        b--;
    if (b == a || b - a >= cap)
        return;
    memcpy(out, s + a, b - a);
    out[b - a] = '\0';
}

/* The first word of text, folded as the top says, into word (NUL-ended);
 * *after: the offset just past it.  -1 when there is none (or it is no
 * word: too long, not a letter). */
static int first_word(const uint8_t *text, size_t len,
                      char word[KW_WORD_MAX * 2 + 1], size_t *after)
{
    size_t i = 0;
    uint32_t cp = 0;
    /* leading blanks */
    while (i < len) {
        size_t l = kz_utf8_next(text + i, len - i, &cp);
        if (l == 0 || !is_blank(cp))
            break;
        i += l;
    }
    /* the word, folded */
    uint32_t w[KW_WORD_MAX];
    size_t nw = 0;
    int has_cyr = 0;
    while (i < len) {
        size_t l = kz_utf8_next(text + i, len - i, &cp);
        if (l == 0)
            return -1;                  /* invalid UTF-8 inside the word */
        if (is_separator(cp))
            break;
        uint32_t f = fold(cp);
        if (!f || nw == KW_WORD_MAX)
            return -1;
        has_cyr |= is_cyrillic(f);
        w[nw++] = f;
        i += l;
    }
    if (nw == 0)
        return -1;
    size_t wl = 0;
    for (size_t k = 0; k < nw; k++)
        if (kz_utf8_put(has_cyr ? cyr_twin(w[k]) : w[k], (uint8_t *)word,
                        KW_WORD_MAX * 2, &wl) != 0)
            return -1;
    word[wl] = '\0';
    *after = i;
    return 0;
}

enum kw_keyword kw_parse(const uint8_t *text, size_t len,
                         const char *remembered, struct kw_parsed *out)
{
    memset(out, 0, sizeof *out);
    int rem = lang_of(remembered);
    out->lang = rem >= 0 ? (enum kw_lang)rem : KW_EN;
    char word[KW_WORD_MAX * 2 + 1];
    size_t i = 0;
    if (first_word(text, len, word, &i) != 0)
        return KW_NONE;
    const struct kw_word *hit = NULL;
    for (size_t k = 0; k < sizeof words / sizeof words[0] && !hit; k++)
        if (strcmp(words[k].word, word) == 0)
            hit = &words[k];
    if (!hit)
        return KW_NONE;
    out->kw = hit->kw;
    if (hit->lang == KW_KY)
        out->lang = KW_KY;
    else if (hit->lang == KW_RU)
        out->lang = rem == KW_KY ? KW_KY : KW_RU;
    else
        out->lang = rem >= 0 ? (enum kw_lang)rem : KW_EN;
    if (hit->kw == KW_STATUS)
        parse_number(text + i, len - i, out->arg, sizeof out->arg);
    return out->kw;
}

/* ---- replies --------------------------------------------------------------- */

static const char *const texts[KW_T_COUNT][3] = {
    [KW_T_NEUTRAL] = {
        "No application with that number for this phone.",
        "Для этого телефона нет заявления с таким номером.",
        "Бул телефон үчүн мындай номурдагы арыз жок.",
    },
    [KW_T_LOCKED] = {
        "Too many attempts. Try again in %d minutes.",
        "Слишком много попыток. Попробуйте снова через %d мин.",
        "Өтө көп аракет. %d мүнөттөн кийин кайра аракет кылыңыз.",
    },
    [KW_T_USAGE] = {
        "Send STATUS and your application number, e.g. STATUS 12345.",
        "Отправьте СТАТУС и номер заявления, например: СТАТУС 12345.",
        "АБАЛ жана арыздын номурун жөнөтүңүз, мисалы: АБАЛ 12345.",
    },
    [KW_T_STOP] = {
        "You will get no more messages from us except those the law "
        "requires. Send START to get them again.",
        "Вы больше не будете получать от нас сообщений, кроме обязательных "
        "по закону. Чтобы снова получать, отправьте СТАРТ.",
        "Мындан ары мыйзам талап кылгандан башка билдирүү албайсыз. Кайра "
        "алуу үчүн БАШТА деп жөнөтүңүз.",
    },
    [KW_T_START] = {
        "You will get our messages again. Send STOP to opt out.",
        "Вы снова будете получать наши сообщения. Чтобы отказаться, "
        "отправьте СТОП.",
        "Биздин билдирүүлөрдү кайра аласыз. Баш тартуу үчүн ТОКТОТ деп "
        "жөнөтүңүз.",
    },
    [KW_T_HELP] = {
        "STATUS <number>: your application's status. STOP: no more "
        "messages. START: messages again.",
        "СТАТУС <номер>: статус заявления. СТОП: отказ от сообщений. "
        "СТАРТ: снова получать.",
        "АБАЛ <номур>: арыздын абалы. ТОКТОТ: билдирүүлөрдөн баш тартуу. "
        "БАШТА: кайра алуу.",
    },
    [KW_T_STATUS] = {
        "Application {number}: {status}.",
        "Заявление №{number}: {status}.",
        "Арыз №{number}: {status}.",
    },
};

const char *kw_text(enum kw_text t, enum kw_lang lang)
{
    if ((int)t < 0 || t >= KW_T_COUNT || (int)lang < 0 || lang > KW_KY)
        return "";
    return texts[t][lang];
}

/* ---- handlers ---------------------------------------------------------------- */

#define KW_DEF_WINDOW_MS (60 * 60 * 1000LL)
#define KW_DEF_MAX_FAILURES 5
#define KW_DEF_LOCK_MS (30 * 60 * 1000LL)
#define KW_DEF_EXPIRY_MS (6 * 60 * 60 * 1000LL)

static void opts_fill(const struct kw_opts *in, struct kw_opts *o)
{
    memset(o, 0, sizeof *o);
    if (in)
        *o = *in;
    if (o->window_ms <= 0)
        o->window_ms = KW_DEF_WINDOW_MS;
    if (o->max_failures <= 0)
        o->max_failures = KW_DEF_MAX_FAILURES;
    if (o->lock_ms <= 0)
        o->lock_ms = KW_DEF_LOCK_MS;
    if (o->expiry_ms <= 0)
        o->expiry_ms = KW_DEF_EXPIRY_MS;
}

static int enqueue_reply(struct store *st, const char *to, const char *text,
                         enum kw_lang lang, const struct kw_opts *o, int64_t now,
                         int64_t *id)
{
    struct store_msg_new m = {
        .client = "keywords", .to = to, .text = text, .lang = kw_lang_code(lang),
        .law_required = true,   /* the answer to the sender's own request */
        .not_before = now, .expires_at = now + o->expiry_ms,
    };
    return store_enqueue(st, &m, now, id);
}

static int locked_reply(struct store *st, const char *to, enum kw_lang lang,
                        int64_t until, const struct kw_opts *o, int64_t now,
                        int64_t *id)
{
    int64_t left = until - now;
    int minutes = (int)((left + 59999) / 60000);
    if (minutes < 1)
        minutes = 1;
    /* the texts are data, so no printf with them as the format */
    const char *t = kw_text(KW_T_LOCKED, lang), *at = strstr(t, "%d");
    char buf[256];
    if (at)
        snprintf(buf, sizeof buf, "%.*s%d%s", (int)(at - t), t, minutes, at + 2);
    else
        snprintf(buf, sizeof buf, "%s", t);
    return enqueue_reply(st, to, buf, lang, o, now, id);
}

/* Nothing but blanks (a template like "{note}" rendered without a note). */
static int is_blank_text(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

/* The owner's status text: the agency's template for (status, lang) — the
 * same words, placeholders and fallbacks (agency 0, status "*") as the
 * status SMS of POST /v1/applications/{n}/status, so the agency's wording
 * replaces the raw status code — else the built-in line with the raw code,
 * with the latest note.  A booking template ("booking." status: other
 * placeholders) or a template that renders blank is not used.  malloc'd;
 * NULL on no memory or a store error (*rc says which). */
static char *status_text(struct store *st, const struct store_app *app,
                         enum kw_lang lang, int *rc)
{
    struct store_app_event ev[1];
    size_t n = 0;
    *rc = store_app_history(st, app->agency_id, app->number, ev, 1, &n);
    if (*rc != STORE_OK)
        return NULL;
    const char *note = n > 0 && ev[0].note[0] ? ev[0].note : NULL;
    char *text = NULL;
    *rc = template_is_booking(app->status)
              ? STORE_NOTFOUND
              : notify_status_text(st, app->agency_id, app->number, app->status,
                                   kw_lang_code(lang), note, &text);
    if (*rc == NOTIFY_NOMEM) {
        *rc = STORE_ERROR;
        return NULL;
    }
    if (*rc == STORE_OK) {
        if (!is_blank_text(text))
            return text;
        free(text);
        *rc = STORE_NOTFOUND;
    }
    if (*rc != STORE_NOTFOUND)
        return NULL;
    char *line = template_render_status(kw_text(KW_T_STATUS, lang), app->number,
                                        app->status, NULL);
    if (!line) {
        *rc = STORE_ERROR;
        return NULL;
    }
    *rc = STORE_OK;
    if (!note)
        return line;
    size_t a = strlen(line), b = strlen(note);
    char *out = malloc(a + b + 2);
    if (out) {
        memcpy(out, line, a);
        out[a] = ' ';
        memcpy(out + a + 1, note, b + 1);
    } else {
        *rc = STORE_ERROR;
    }
    free(line);
    return out;
}

static int do_status(struct store *st, const char *from, const struct kw_opts *o,
                     int64_t now, struct kw_result *res)
{
    enum kw_lang lang = res->parsed.lang;
    if (!res->parsed.arg[0]) {
        res->outcome = KW_O_USAGE;
        return enqueue_reply(st, from, kw_text(KW_T_USAGE, lang), lang, o, now,
                             &res->reply_id);
    }
    int64_t until = 0;
    int rc = store_lookup_locked(st, from, now, &until);
    if (rc != STORE_OK)
        return rc;
    if (until > 0) {
        res->outcome = KW_O_LOCKED;
        res->locked_until = until;
        return locked_reply(st, from, lang, until, o, now, &res->reply_id);
    }
    /* the sender's own applications of that number (or "CODE-number") */
    struct notify_found found;
    rc = notify_app_find(st, res->parsed.arg, from, &found);
    if (rc != STORE_OK)
        return rc;
    if (found.n > 0) {
        /* one: its status.  Several, all the sender's own (so nothing
         * leaks, and it is no miss): the forms with the agency's code.  A
         * success forgets no misses: the lock-out counts a sliding
         * window, so one's own application buys no extra guesses */
        bool several = found.n > 1;
        rc = STORE_ERROR;
        char *text = several ? notify_ambiguous_text(&found, kw_lang_code(lang))
                             : status_text(st, &found.app[0], lang, &rc);
        if (!text)
            return rc;
        rc = enqueue_reply(st, from, text, lang, o, now, &res->reply_id);
        free(text);
        res->outcome = several ? KW_O_AMBIGUOUS : KW_O_STATUS;
        return rc;
    }
    /* not yours or no such application: the same answer either way */
    rc = store_lookup_failed(st, from, now, o->window_ms, o->max_failures,
                             o->lock_ms, &res->failures, &until);
    if (rc != STORE_OK)
        return rc;
    if (until > now) {
        res->outcome = KW_O_LOCKED;
        res->locked_until = until;
        return locked_reply(st, from, lang, until, o, now, &res->reply_id);
    }
    res->outcome = KW_O_NEUTRAL;
    return enqueue_reply(st, from, kw_text(KW_T_NEUTRAL, lang), lang, o, now,
                         &res->reply_id);
}

static int dispatch(struct store *st, const char *from, const struct kw_opts *o,
                    int64_t now, struct kw_result *res)
{
    enum kw_lang lang = res->parsed.lang;
    int rc = STORE_OK;
    enum kw_text reply;   /* the confirmation, once the change is stored */
    switch (res->parsed.kw) {
    case KW_STATUS:
        return do_status(st, from, o, now, res);
    case KW_STOP:
        rc = store_optout_set(st, from, now);
        res->outcome = KW_O_STOP;
        reply = KW_T_STOP;
        break;
    case KW_START:
        rc = store_optout_clear(st, from);
        if (rc == STORE_NOTFOUND)
            rc = STORE_OK;              /* was not opted out: confirm anyway */
        res->outcome = KW_O_START;
        reply = KW_T_START;
        break;
    case KW_HELP:
        res->outcome = KW_O_HELP;
        reply = KW_T_HELP;
        break;
    default:
        res->outcome = KW_O_IGNORED;
        return STORE_OK;
    }
    if (rc == STORE_OK)
        rc = enqueue_reply(st, from, kw_text(reply, lang), lang, o, now,
                           &res->reply_id);
    return rc;
}

/* ---- appeals (issue 12) -------------------------------------------------------- */

/* The configured appeal word text starts with, if any; *after: where the
 * rest begins.  A fixed keyword is never one (the caller asks first). */
static const struct appeals_kw *appeal_word(const struct kw_appeals *a,
                                            const uint8_t *text, size_t len,
                                            size_t *after)
{
    char word[KW_WORD_MAX * 2 + 1];
    if (!a || a->n == 0 || first_word(text, len, word, after) != 0)
        return NULL;
    for (size_t i = 0; i < a->n; i++)
        if (a->folded[i][0] && strcmp(word, a->folded[i]) == 0)
            return &a->kw[i];
    return NULL;
}

void kw_appeals_init(struct kw_appeals *a, const struct appeals_kw *kw, size_t n,
                     const char *agency, const char *category,
                     const struct appeals_opts *opts)
{
    _Static_assert(KW_FOLDED_MAX == KW_WORD_MAX * 2 + 1, "folded word size");
    memset(a, 0, sizeof *a);
    a->kw = kw;
    a->n = n < APPEALS_KW_MAX ? n : APPEALS_KW_MAX;
    a->agency = agency;
    a->category = category;
    a->opts = opts;
    for (size_t i = 0; i < a->n; i++) {
        size_t skip;
        if (first_word((const uint8_t *)kw[i].word, strlen(kw[i].word), a->folded[i],
                       &skip) != 0)
            a->folded[i][0] = '\0';
    }
}

/* Only digits and the separators a reference is written with, and at
 * least 6 digits: the sender means a reference, not a text. */
static bool looks_like_ref(const char *s, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (i + 3 <= n && !memcmp(s + i, "\xE2\x84\x96", 3))
            i += 2;                     /* "№" */
        else if (c != ' ' && c != '-' && c != '.' && c != '#')
            return false;
    }
    return digits >= 6;
}

/* An appeal word's MO: file, tell a state, or the usage (see
 * struct kw_appeals); one answer, in the word's language. */
static int do_appeal(struct store *st, const char *from, const struct kw_opts *o,
                     const struct appeals_kw *ak, const char *rest, size_t n,
                     int64_t now, struct kw_result *res)
{
    const struct kw_appeals *a = o->appeals;
    while (n && (*rest == ' ' || *rest == ':' || *rest == '\n')) {
        rest++;
        n--;
    }
    while (n && (rest[n - 1] == ' ' || rest[n - 1] == '\n'))
        n--;
    const char *agency = ak->agency[0] ? ak->agency : a->agency;
    const char *category = ak->agency[0] ? ak->category : a->category;
    char out[400];
    if (n && looks_like_ref(rest, n)) {
        bool found;
        int rc = appeals_status_text(st, from, rest, n, ak->lang, a->opts, out,
                                     sizeof out, &found);
        res->outcome = KW_O_APPEAL_STATE;
        return rc != STORE_OK ? rc : enqueue_reply(st, from, out,
                                                   res->parsed.lang, o, now,
                                                   &res->reply_id);
    }
    char *text = n ? strndup(rest, n) : NULL;
    if (!text || !agency || !*agency || !category || !*category ||
        n < APPEALS_TEXT_MIN || n > APPEALS_TEXT_MAX) {
        free(text);
        res->outcome = KW_O_APPEAL_USAGE;
        return enqueue_reply(st, from, appeals_text(APPEALS_T_USAGE, ak->lang),
                             res->parsed.lang, o, now, &res->reply_id);
    }
    struct appeal_filing f = {
        .msisdn = from, .agency = agency, .category = category,
        .text = text, .lang = ak->lang, .channel = "sms",
    };
    struct appeal_filed fr;
    int rc = appeals_file(st, &f, a->opts, true, now, &fr);
    free(text);
    res->outcome = fr.outcome == APPEAL_LIMITED ? KW_O_APPEAL_LIMITED
                                                : KW_O_APPEAL_FILED;
    res->reply_id = fr.sms_id;
    return rc;
}

/* One MO for store_atomic(). */
struct kw_mo {
    const char *from;
    int64_t now;
    struct kw_result *res;
    struct kw_opts o;
    const struct appeals_kw *appeal;    /* issue 12: an appeal word's MO */
    const uint8_t *rest;                /* ... and what follows it */
    size_t rest_len;
};

static int dispatch_atomic(struct store *st, void *arg)
{
    struct kw_mo *mo = arg;
    if (mo->appeal)
        return do_appeal(st, mo->from, &mo->o, mo->appeal,
                         (const char *)mo->rest, mo->rest_len, mo->now,
                         mo->res);
    return dispatch(st, mo->from, &mo->o, mo->now, mo->res);
}

/* Is text a keyword: a fixed one (parsed into *p) or an appeal word
 * (*ak, the rest after *after)? */
static bool keyword_of(const uint8_t *text, size_t len, const struct kw_opts *o,
                       struct kw_parsed *p, const struct appeals_kw **ak,
                       size_t *after)
{
    *ak = NULL;
    if (kw_parse(text, len, NULL, p) != KW_NONE)
        return true;
    *ak = appeal_word(o ? o->appeals : NULL, text, len, after);
    if (!*ak)
        return false;
    int li = template_lang_index((*ak)->lang);
    p->kw = KW_APPEAL;
    p->lang = li == 0 ? KW_KY : li == 1 ? KW_RU : KW_EN;
    return true;
}

int keywords_handle(struct store *st, const char *from, const uint8_t *text,
                    size_t len, int64_t now, const struct kw_opts *opts,
                    struct kw_result *res)
{
    memset(res, 0, sizeof *res);
    const struct appeals_kw *ak;
    size_t after = 0;
    if (!keyword_of(text, len, opts, &res->parsed, &ak, &after))
        return STORE_OK;
    char canon[STORE_MSISDN_MAX];
    if (!from || phone_canon(from, canon, sizeof canon) != 0) {
        /* no phone number (an alphanumeric sender): nobody to answer */
        return STORE_OK;
    }
    struct kw_mo mo = { .from = canon, .now = now, .res = res, .appeal = ak,
                        .rest = text + after, .rest_len = len - after };
    opts_fill(opts, &mo.o);
    /* the MO's writes together in the store's batch, or none of them */
    int rc = store_atomic(st, dispatch_atomic, &mo);
    if (rc != STORE_OK)
        res->reply_id = 0;
    return rc;
}

/* ---- from a deliver_sm ----------------------------------------------------- */

#define KW_MO_OCTETS 320    /* a keyword SMS is short; longer is no keyword */

#define KW_TEXT_MAX SMPP_TEXT_DECODE_MAX(KW_MO_OCTETS)

/* The MO's text as UTF-8 into text[KW_TEXT_MAX] when it may be a keyword
 * (not a part of a concatenated SMS, short, decodable): 0, else -1. */
static int mo_text(const struct smpp_pdu *pdu, uint8_t *text, size_t *tlen)
{
    *tlen = 0;
    if (pdu->esm_class & SMPP_ESM_UDHI)
        return -1;                      /* a part of a concatenated SMS */
    if (smpp_tlv_uint(pdu, SMPP_TLV_SAR_TOTAL_SEGMENTS) > 1)
        return -1;
    size_t len;
    const uint8_t *data = smpp_pdu_body(pdu, &len);
    if (len == 0 || len > KW_MO_OCTETS)
        return -1;
    if (smpp_text_decode_dcs(pdu->data_coding, 0, data, len, text, KW_TEXT_MAX,
                             tlen, NULL) != SMPP_TEXT_OK)
        return -1;
    return 0;
}

int keywords_mo(struct store *st, const char *link, const struct smpp_pdu *pdu,
                int64_t now, const struct kw_opts *opts, struct kw_result *res)
{
    memset(res, 0, sizeof *res);
    uint8_t text[KW_TEXT_MAX];
    size_t tlen = 0;
    if (mo_text(pdu, text, &tlen) != 0)
        return STORE_OK;
    int rc = keywords_handle(st, pdu->source_addr, text, tlen, now, opts, res);
    struct log_masked who = log_mask(pdu->source_addr);
    if (rc != STORE_OK) {
        log_msg(KLOG_WARN, link, "keyword %s from %s: not answered: %s (%s)",
                kw_name(res->parsed.kw), who.s, store_rc_name(rc),
                store_errmsg(st));
        return rc;
    }
    static const char *const what[] = {
        [KW_O_IGNORED] = "ignored", [KW_O_STATUS] = "status sent to the owner",
        [KW_O_NEUTRAL] = "neutral answer", [KW_O_LOCKED] = "locked out",
        [KW_O_USAGE] = "no number, usage sent", [KW_O_STOP] = "opted out",
        [KW_O_START] = "opted in again", [KW_O_HELP] = "help sent",
        [KW_O_AMBIGUOUS] = "several agencies, their codes sent",
        [KW_O_APPEAL_FILED] = "appeal filed, its reference sent",
        [KW_O_APPEAL_LIMITED] = "appeal refused: the daily limit",
        [KW_O_APPEAL_STATE] = "appeal state answered",
        [KW_O_APPEAL_USAGE] = "appeal usage sent",
    };
    if (res->parsed.kw != KW_NONE)
        log_msg(KLOG_INFO, link, "keyword %s (%s) from %s: %s (failures %d, "
                "reply %lld)", kw_name(res->parsed.kw),
                kw_lang_code(res->parsed.lang), who.s, what[res->outcome],
                res->failures, (long long)res->reply_id);
    return STORE_OK;
}

/* ---- answered once durable -------------------------------------------------- */

/* A keyword MO whose deliver_sm_resp waits for the commit of its writes. */
struct kw_wait {
    struct kw_answer ans;
    uint64_t ticket;
    char who[LOG_MSISDN_MAX];
    char link[64];
};

static void kw_committed(void *arg, int rc)
{
    struct kw_wait *w = arg;
    if (rc != STORE_OK)
        log_msg(KLOG_WARN, w->link, "keyword from %s not kept (commit failed: "
                "%s): the SMSC is asked to deliver it again", w->who,
                store_rc_name(rc));
    w->ans.answer(w->ans.ud, w->link, w->ticket,
                  rc == STORE_OK ? ESME_ROK : ESME_RX_T_APPN);
    free(w);
}

uint32_t keywords_deliver(struct store *st, struct esme *e, const char *link,
                          const struct smpp_pdu *pdu, int64_t now,
                          const struct kw_opts *opts,
                          const struct kw_answer *ans, struct kw_result *res)
{
    memset(res, 0, sizeof *res);
    uint8_t text[KW_TEXT_MAX];
    size_t tlen = 0;
    struct kw_parsed parsed;
    const struct appeals_kw *ak;
    size_t after;
    if (mo_text(pdu, text, &tlen) != 0 ||
        !keyword_of(text, tlen, opts, &parsed, &ak, &after))
        return ESME_ROK;                /* no keyword: nothing written */
    struct kw_wait *w = calloc(1, sizeof *w);
    uint64_t ticket = w ? esme_defer_answer(e, ESME_RX_T_APPN) : 0;
    if (!ticket) {
        /* too many answers waiting (or no memory): nothing is written;
         * the SMSC delivers it again later */
        free(w);
        log_msg(KLOG_WARN, link, "keyword from %s refused for now: its "
                "answer cannot wait for the commit",
                log_mask(pdu->source_addr).s);
        return ESME_RX_T_APPN;
    }
    if (keywords_mo(st, link, pdu, now, opts, res) != STORE_OK ||
        store_on_commit(st, kw_committed, w) != STORE_OK) {
        free(w);
        esme_answer(e, ticket, ESME_RX_T_APPN);
        return ESME_RX_T_APPN;          /* ignored: answered already */
    }
    w->ans = *ans;
    w->ticket = ticket;
    snprintf(w->who, sizeof w->who, "%s", log_mask(pdu->source_addr).s);
    snprintf(w->link, sizeof w->link, "%s", link);
    return ESME_ROK;                    /* ignored: deferred */
}
