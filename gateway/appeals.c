/*
 * gateway/appeals.c — citizens' appeals: states, filing with its limit
 * and reference, replies, the citizen's status check (see appeals.h).
 *
 * Owns nothing between calls.  May call: gateway/store,
 * gateway/appeal_ref, gateway/template, libevent
 * (evutil_secure_rng_get_bytes), base/sha256, libc.
 */
#include "gateway/appeals.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/util.h>

#include "base/metrics.h"
#include "base/sha256.h"
#include "gateway/template.h"

#define DAY_MS (24 * 3600 * 1000LL)
#define REF_TRIES 8                /* draws before giving up (1e8 refs) */

static const char *const state_names[APPEAL_STATE_COUNT] = {
    "new", "in_progress", "answered", "closed", "rejected"
};

/* The transition table: next[from] has bit `to` set when allowed. */
static const unsigned next_states[APPEAL_STATE_COUNT] = {
    [APPEAL_NEW] = 1u << APPEAL_IN_PROGRESS | 1u << APPEAL_ANSWERED |
                   1u << APPEAL_REJECTED | 1u << APPEAL_CLOSED,
    [APPEAL_IN_PROGRESS] = 1u << APPEAL_ANSWERED | 1u << APPEAL_REJECTED |
                           1u << APPEAL_CLOSED,
    [APPEAL_ANSWERED] = 1u << APPEAL_IN_PROGRESS | 1u << APPEAL_CLOSED,
    [APPEAL_CLOSED] = 0,
    [APPEAL_REJECTED] = 0,
};

const char *appeals_state_name(int state)
{
    return state >= 0 && state < APPEAL_STATE_COUNT ? state_names[state]
                                                    : NULL;
}

int appeals_state_parse(const char *s)
{
    for (int i = 0; s && i < APPEAL_STATE_COUNT; i++)
        if (strcmp(s, state_names[i]) == 0)
            return i;
    return -1;
}

bool appeals_next_ok(int from, int to)
{
    return from >= 0 && from < APPEAL_STATE_COUNT && to >= 0 &&
           to < APPEAL_STATE_COUNT && (next_states[from] >> to & 1u);
}

bool appeals_can_reply(int s)
{
    return s == APPEAL_NEW || s == APPEAL_IN_PROGRESS || s == APPEAL_ANSWERED;
}

/* ---- texts ------------------------------------------------------------------ */

static const char *const texts[APPEALS_T_COUNT][TEMPLATE_LANG_COUNT] = {
    /* ky, ru, en */
    [APPEALS_T_FILED] = {
        "Кайрылууңуз кабыл алынды. Номери: {ref}. Абалын билүү: "
        "КАЙРЫЛУУ {ref}",
        "Ваше обращение принято. Номер: {ref}. Узнать статус: "
        "ОБРАЩЕНИЕ {ref}",
        "Your appeal is received. Reference: {ref}. To check it: "
        "APPEAL {ref}" },
    [APPEALS_T_LIMITED] = {
        "Бүгүнкү кайрылуулардын чегине жеттиңиз. Эртең кайра жазыңыз.",
        "Вы достигли дневного предела обращений. Напишите завтра.",
        "You have reached today's limit of appeals. Please write again "
        "tomorrow." },
    [APPEALS_T_BAD_REF] = {
        "Кайрылуунун номери туура эмес. Текшерип, кайра жөнөтүңүз.",
        "Неверный номер обращения. Проверьте его и отправьте снова.",
        "Not a valid reference. Please check it and send it again." },
    [APPEALS_T_NOT_FOUND] = {
        "Мындай номер менен сиздин кайрылууңуз жок.",
        "Вашего обращения с таким номером нет.",
        "No appeal of yours has this reference." },
    [APPEALS_T_STATUS] = {
        "Кайрылуу {ref}: {state}",
        "Обращение {ref}: {state}",
        "Appeal {ref}: {state}" },
    [APPEALS_T_REPLY] = {
        "Кайрылуу {ref}: {text}",
        "Обращение {ref}: {text}",
        "Appeal {ref}: {text}" },
    [APPEALS_T_USAGE] = {
        "Кайрылуу жөнөтүү: КАЙРЫЛУУ жана текст. Абалы: КАЙРЫЛУУ жана номери.",
        "Обращение: ОБРАЩЕНИЕ и текст. Статус: ОБРАЩЕНИЕ и номер.",
        "To appeal: APPEAL and your text. Its state: APPEAL and the "
        "reference." },
};

static const char *const state_words[APPEAL_STATE_COUNT][TEMPLATE_LANG_COUNT] = {
    [APPEAL_NEW] = { "кабыл алынды", "принято", "received" },
    [APPEAL_IN_PROGRESS] = { "каралууда", "на рассмотрении", "in progress" },
    [APPEAL_ANSWERED] = { "жооп берилди", "дан ответ", "answered" },
    [APPEAL_CLOSED] = { "жабылды", "закрыто", "closed" },
    [APPEAL_REJECTED] = { "четке кагылды", "отклонено", "rejected" },
};

static int lang_index(const char *lang)
{
    int li = template_lang_index(lang);
    return li < 0 ? 2 : li;        /* en */
}

const char *appeals_text(enum appeals_text t, const char *lang)
{
    return (unsigned)t < APPEALS_T_COUNT ? texts[t][lang_index(lang)] : "";
}

const char *appeals_state_word(int state, const char *lang)
{
    return state >= 0 && state < APPEAL_STATE_COUNT
               ? state_words[state][lang_index(lang)] : "";
}

/* ---- SMS -------------------------------------------------------------------- */

static int64_t expiry(const struct appeals_opts *o)
{
    return o && o->expiry_ms > 0 ? o->expiry_ms : 6 * 3600 * 1000LL;
}

/* Queue text to `to` (an answer to the citizen's own request). */
static int queue_sms(struct store *st, const struct store_msg_new *base,
                     const char *to, const char *text, const char *lang,
                     const struct appeals_opts *o, int64_t now, int64_t *id)
{
    struct store_msg_new m = base ? *base : (struct store_msg_new){ 0 };
    m.to = to;
    m.text = text;
    m.lang = lang;
    m.law_required = true;
    m.not_before = now;
    m.expires_at = now + expiry(o);
    return store_enqueue(st, &m, now, id);
}

/* ---- filing -------------------------------------------------------------------- */

struct file_job {
    const struct appeal_filing *f;
    const struct appeals_opts *o;
    bool sms_refusal;
    int64_t now;
    struct appeal_filed *res;
};

static int file_limited(struct store *st, struct file_job *j)
{
    j->res->outcome = APPEAL_LIMITED;
    if (j->o && j->o->stats)
        j->o->stats->limited++;
    if (!j->sms_refusal)
        return STORE_OK;
    struct store_msg_new b = { .sender = j->f->sender, .via = j->f->via };
    return queue_sms(st, &b, j->f->msisdn,
                     appeals_text(APPEALS_T_LIMITED, j->f->lang), j->f->lang,
                     j->o, j->now, &j->res->sms_id);
}

/* Insert under a fresh reference, drawing again on a collision. */
static int file_insert(struct store *st, struct file_job *j, int64_t agency_id)
{
    const struct appeal_filing *f = j->f;
    int rc = STORE_CONFLICT;
    for (int k = 0; k < REF_TRIES && rc == STORE_CONFLICT; k++) {
        uint8_t rnd[APPEAL_REF_DIGITS];
        evutil_secure_rng_get_bytes(rnd, sizeof rnd);
        appeal_ref_make(rnd, j->res->ref);
        struct store_appeal_new a = {
            .ref = j->res->ref, .agency_id = agency_id,
            .category = f->category, .anonymous = f->anonymous,
            .msisdn = f->msisdn, .text = f->text, .lang = f->lang,
            .channel = f->channel,
        };
        rc = store_appeal_add(st, &a, j->now, &j->res->id);
    }
    return rc;
}

static int file_fn(struct store *st, void *arg)
{
    struct file_job *j = arg;
    const struct appeal_filing *f = j->f;
    unsigned limit = j->o && j->o->per_day ? j->o->per_day : APPEALS_PER_DAY;
    unsigned n = 0;
    int rc = store_appeals_since(st, f->msisdn, j->now - DAY_MS, &n);
    if (rc != STORE_OK)
        return rc;
    if (n >= limit)
        return file_limited(st, j);
    int64_t agency_id = 0;
    rc = store_agency_by_code(st, f->agency, &agency_id);
    if (rc == STORE_NOTFOUND)
        rc = store_agency_put(st, f->agency, f->agency, &agency_id);
    if (rc == STORE_OK)
        rc = file_insert(st, j, agency_id);
    if (rc != STORE_OK)
        return rc;
    char shown[APPEAL_REF_SHOW_MAX], text[400];
    appeal_ref_show(j->res->ref, shown);
    struct template_var v[] = { { "ref", shown } };
    template_render(appeals_text(APPEALS_T_FILED, f->lang), v, 1, text,
                    sizeof text);
    struct store_msg_new b = { .sender = f->sender, .via = f->via };
    rc = queue_sms(st, &b, f->msisdn, text, f->lang, j->o, j->now,
                   &j->res->sms_id);
    if (rc == STORE_OK && j->o && j->o->stats)
        j->o->stats->filed++;
    return rc;
}

int appeals_file(struct store *st, const struct appeal_filing *f,
                 const struct appeals_opts *o, bool sms_refusal, int64_t now,
                 struct appeal_filed *res)
{
    memset(res, 0, sizeof *res);
    if (!f->msisdn || !*f->msisdn || !f->agency || !*f->agency ||
        !f->category || !*f->category || !f->text ||
        strlen(f->text) < APPEALS_TEXT_MIN ||
        strlen(f->text) > APPEALS_TEXT_MAX || !f->lang || !f->channel)
        return STORE_INVALID;
    struct file_job j = { f, o, sms_refusal, now, res };
    int rc = store_atomic(st, file_fn, &j);
    if (rc != STORE_OK) {
        int outcome = res->outcome;
        memset(res, 0, sizeof *res);
        res->outcome = outcome;
    }
    return rc;
}

/* ---- replies --------------------------------------------------------------------- */

struct reply_job {
    const struct store_appeal *a;
    const char *text, *who, *client, *idem;
    const struct appeals_opts *o;
    int64_t now;
    int64_t *sms_id;
};

static int reply_fn(struct store *st, void *arg)
{
    struct reply_job *j = arg;
    char shown[APPEAL_REF_SHOW_MAX];
    appeal_ref_show(j->a->ref, shown);
    struct template_var v[] = { { "ref", shown }, { "text", j->text } };
    char *sms = template_render_dup(appeals_text(APPEALS_T_REPLY, j->a->lang),
                                    v, 2);
    if (!sms)
        return STORE_ERROR;
    /* the key's content: this appeal and this text */
    uint8_t hash[32];
    char idem[STORE_CODE_MAX + 32];
    struct store_msg_new b = { .client = j->client };
    if (j->idem) {
        size_t rl = strlen(j->a->ref), tl = strlen(j->text);
        char *c = malloc(rl + 1 + tl);
        if (!c) {
            free(sms);
            return STORE_ERROR;
        }
        memcpy(c, j->a->ref, rl);
        c[rl] = '\n';
        memcpy(c + rl + 1, j->text, tl);
        kz_sha256(c, rl + 1 + tl, hash);
        free(c);
        snprintf(idem, sizeof idem, "appeal:%s:%s", j->a->ref, j->idem);
        b.idem_key = idem;
        b.req_hash = hash;
    }
    int rc = queue_sms(st, &b, j->a->msisdn, sms, j->a->lang, j->o, j->now,
                       j->sms_id);
    free(sms);
    if (rc == STORE_OK)
        rc = store_appeal_change(st, j->a->id, "reply",
                                 state_names[APPEAL_ANSWERED], j->text,
                                 j->who, j->now);
    if (rc == STORE_OK && j->o && j->o->stats)
        j->o->stats->replies++;
    return rc;
}

int appeals_reply(struct store *st, const struct store_appeal *a,
                  const char *text, const char *who, const char *client,
                  const char *idem_key, const struct appeals_opts *o,
                  int64_t now, int64_t *sms_id)
{
    *sms_id = 0;
    if (!text || !*text || strlen(text) > APPEALS_TEXT_MAX || !who)
        return STORE_INVALID;
    struct reply_job j = { a, text, who, client, idem_key, o, now, sms_id };
    int64_t dup = 0;
    j.sms_id = &dup;
    int rc = store_atomic(st, reply_fn, &j);
    *sms_id = dup;
    return rc;
}

/* ---- the citizen's status check ------------------------------------------------- */

int appeals_status_text(struct store *st, const char *msisdn,
                        const char *typed, size_t typed_len, const char *lang,
                        const struct appeals_opts *o, char *out, size_t cap,
                        bool *found)
{
    *found = false;
    char ref[APPEAL_REF_MAX];
    int prc = appeal_ref_parse(typed, typed_len, ref);
    if (prc != APPEAL_REF_OK) {
        if (o && o->stats)
            o->stats->bad_ref++;
        snprintf(out, cap, "%s", appeals_text(APPEALS_T_BAD_REF, lang));
        return STORE_OK;
    }
    struct store_appeal *a = malloc(sizeof *a);
    if (!a)
        return STORE_ERROR;
    int rc = store_appeal_get(st, ref, a);
    if (rc == STORE_OK && strcmp(a->msisdn, msisdn) == 0) {
        *found = true;
        char shown[APPEAL_REF_SHOW_MAX];
        appeal_ref_show(ref, shown);
        struct template_var v[] = {
            { "ref", shown },
            { "state", appeals_state_word(appeals_state_parse(a->state),
                                          lang) },
        };
        template_render(appeals_text(APPEALS_T_STATUS, lang), v, 2, out, cap);
    } else if (rc == STORE_OK || rc == STORE_NOTFOUND) {
        rc = STORE_OK;
        snprintf(out, cap, "%s", appeals_text(APPEALS_T_NOT_FOUND, lang));
    }
    free(a);
    return rc;
}

/* ---- configuration ------------------------------------------------------------ */

/* A code as the API accepts one: [A-Za-z0-9._:-]{1,63}. */
static bool code_ok(const char *s, size_t n)
{
    if (n == 0 || n >= STORE_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c && strchr("._:-", c))))
            return false;
    }
    return true;
}

int appeals_category_item(const char *s, size_t len, char *agency,
                          char *category)
{
    const char *slash = memchr(s, '/', len);
    if (!slash || !code_ok(s, (size_t)(slash - s)) ||
        !code_ok(slash + 1, len - (size_t)(slash - s) - 1))
        return -1;
    snprintf(agency, STORE_CODE_MAX, "%.*s", (int)(slash - s), s);
    snprintf(category, STORE_CODE_MAX, "%.*s",
             (int)(len - (size_t)(slash - s) - 1), slash + 1);
    return 0;
}

int appeals_kw_item(const char *s, size_t len, struct appeals_kw *out,
                    char *why, size_t n)
{
    memset(out, 0, sizeof *out);
    const char *eq = memchr(s, '=', len);
    size_t wl = eq ? (size_t)(eq - s) : len;
    if (wl < 4 || s[2] != ':' || template_lang_index((char[3]){ s[0], s[1], 0 })
        < 0) {
        snprintf(why, n, "must be LANG:WORD or LANG:WORD=AGENCY/CATEGORY "
                 "with LANG ky, ru or en");
        return -1;
    }
    if (wl - 3 >= sizeof out->word || memchr(s + 3, ' ', wl - 3) ||
        memchr(s + 3, '\0', wl - 3)) {
        snprintf(why, n, "must name one word of at most %zu bytes",
                 sizeof out->word - 1);
        return -1;
    }
    if (eq && appeals_category_item(eq + 1, len - wl - 1, out->agency,
                                    out->category) < 0) {
        snprintf(why, n, "must give its category as AGENCY/CATEGORY after "
                 "'='");
        return -1;
    }
    memcpy(out->lang, s, 2);
    memcpy(out->word, s + 3, wl - 3);
    return 0;
}

int appeals_metrics(struct appeals_stats *st, struct kz_metrics *m,
                    char *err, size_t errlen)
{
    static const struct { const char *name, *help; size_t off; } c[] = {
        { "kyzmat_appeals_filed_total", "Appeals filed (USSD and SMS).",
          offsetof(struct appeals_stats, filed) },
        { "kyzmat_appeals_limited_total", "Appeals refused by the per-phone "
          "daily limit.", offsetof(struct appeals_stats, limited) },
        { "kyzmat_appeals_bad_reference_total", "References refused by "
          "their check digit.", offsetof(struct appeals_stats, bad_ref) },
        { "kyzmat_appeals_replies_total", "Agency replies sent to citizens.",
          offsetof(struct appeals_stats, replies) },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (kz_metrics_counter_u64(m, c[i].name, c[i].help, NULL, 0,
                                   (const uint64_t *)((const char *)st +
                                                      c[i].off),
                                   err, errlen) != 0)
            return -1;
    return 0;
}
