/*
 * gateway/notify.c — the status-notification use case (see notify.h for
 * who is told what).  Moved out of the HTTP handler of POST
 * /v1/applications/{n}/status so that the API only turns HTTP into a
 * struct notify_change and the result back into JSON.
 *
 * Design: the subscribers are read in pages of SUB_PAGE (keyset by id),
 * so one change costs bounded store calls however many people follow the
 * application; the owner is told first and never twice.  A citizen's
 * typed number is resolved here too (notify_app_find), once for the
 * keyword and the USSD nodes: the plain number among the citizen's own
 * applications, else the agency-code prefix.
 *
 * Owns nothing.  May call: gateway/store, gateway/template, gateway/phone,
 * libc.
 */
#include "gateway/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/phone.h"
#include "gateway/template.h"

#define SUB_PAGE 100

/*
 * The built-in status SMS by language (template_langs' order: ky, ru,
 * en), as the booking screens have theirs: sent when neither the agency
 * nor agency 0 has a template for the status or "*" in that language.  An
 * agency's template overrides it.  " {note}" is added only when there is
 * a note, so an empty one leaves no dangling space.
 */
static const char *const default_status[TEMPLATE_LANG_COUNT] = {
    "Арыз {number}: абалы «{status}».",
    "Заявление {number}: статус «{status}».",
    "Application {number}: status \"{status}\".",
};

/*
 * The built-in answer to a citizen who has applications of the same
 * number with several agencies (issue 14 item 6), by language (ky, ru,
 * en): {choices} are the prefixed forms to type instead.  Short, so that
 * with two choices of 12-character codes-and-numbers it fits one USSD
 * screen (80 UCS-2 characters; the SMS carries any length).
 */
static const char *const ambiguous_text[TEMPLATE_LANG_COUNT] = {
    "Номур бир нече мекемеде бар. Коду менен териңиз: {choices}",
    "Номер в нескольких ведомствах. Наберите с кодом: {choices}",
    "This number is with several agencies. Type it with the agency's code: "
    "{choices}",
};

void notify_topic(int64_t agency_id, const char *number, char *out,
                  size_t cap)
{
    snprintf(out, cap, "app:%lld/%s", (long long)agency_id, number);
}

/* Add the applications in got[0..n) whose agency's code is code[0..len)
 * (any case; every one when code is NULL) to out, counting past the cap. */
static void found_add(struct notify_found *out, const struct store_app *got,
                      size_t n, const char *code, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (code && (strlen(got[i].agency) != len ||
                     strncasecmp(got[i].agency, code, len) != 0))
            continue;
        if (out->n < NOTIFY_FOUND_MAX)
            out->app[out->n] = got[i];
        out->n++;
    }
}

int notify_app_find(struct store *st, const char *typed, const char *owner,
                    struct notify_found *out)
{
    struct store_app got[NOTIFY_FOUND_MAX];
    size_t n = 0;
    memset(out, 0, sizeof *out);
    int rc = store_app_find(st, typed, owner, got, NOTIFY_FOUND_MAX, &n);
    if (rc != STORE_OK)
        return rc;
    found_add(out, got, n, NULL, 0);
    /* none: "CODE-NUMBER", at each of the first dashes (codes and numbers
     * may hold dashes themselves) */
    const char *d = typed;
    for (int k = 0; out->n == 0 && k < NOTIFY_SPLITS_MAX &&
                    (d = strchr(d, '-')) != NULL; k++, d++) {
        if (d == typed || d[1] == '\0')
            continue;
        rc = store_app_find(st, d + 1, owner, got, NOTIFY_FOUND_MAX, &n);
        if (rc != STORE_OK)
            return rc;
        found_add(out, got, n, typed, (size_t)(d - typed));
    }
    return STORE_OK;
}

char *notify_ambiguous_text(const struct notify_found *f, const char *lang)
{
    char choices[NOTIFY_FOUND_MAX * (2 * STORE_CODE_MAX + 2)] = "";
    size_t used = 0, n = f->n < NOTIFY_FOUND_MAX ? f->n : NOTIFY_FOUND_MAX;
    for (size_t i = 0; i < n && used < sizeof choices; i++)
        used += (size_t)snprintf(choices + used, sizeof choices - used,
                                 "%s%s-%s", i ? ", " : "", f->app[i].agency,
                                 f->app[i].number);
    int li = template_lang_index(lang);
    const struct template_var var = { "choices", choices };
    return template_render_dup(ambiguous_text[li < 0 ? 0 : li], &var, 1);
}

int notify_status_text(struct store *st, int64_t agency_id, const char *number,
                       const char *status, const char *lang, const char *note,
                       char **text)
{
    char *tmpl = NULL;
    *text = NULL;
    int rc = store_template_get(st, agency_id, status, lang, &tmpl);
    if (rc != STORE_OK)
        return rc;
    *text = template_render_status(tmpl, number, status, note);
    free(tmpl);
    return *text ? STORE_OK : NOTIFY_NOMEM;
}

char *notify_default_text(const char *number, const char *status,
                          const char *lang, const char *note)
{
    int li = template_lang_index(lang);
    char tmpl[128];
    snprintf(tmpl, sizeof tmpl, "%s%s", default_status[li < 0 ? 0 : li],
             note && *note ? " {note}" : "");
    return template_render_status(tmpl, number, status, note);
}

/* Queue the status SMS to one recipient unless opted out.  1 queued, 0
 * skipped, or a store error code (negative). */
static int queue_one(struct store *st, const struct notify_change *c,
                     const char *to, const char *text)
{
    bool out = false;
    int rc = store_optout_get(st, to, &out);
    if (rc != STORE_OK)
        return -rc;
    if (out)
        return 0;
    struct store_msg_new nm = {
        .client = c->client, .to = to, .text = text, .lang = c->lang,
        .not_before = c->now, .expires_at = c->now + c->expiry_ms,
    };
    int64_t id;
    rc = store_enqueue(st, &nm, c->now, &id);
    return rc == STORE_OK ? 1 : -rc;
}

/* Every subscriber of topic but the owner, page by page. */
static int tell_subscribers(struct store *st, const struct notify_change *c,
                            const char *topic, const char *owner,
                            const char *text, struct notify_result *res)
{
    int64_t after = 0;
    size_t total = 0;
    for (;;) {
        char msisdns[SUB_PAGE][STORE_MSISDN_MAX];
        int64_t ids[SUB_PAGE];
        size_t n = 0;
        int rc = store_sub_list(st, topic, after, msisdns, ids, SUB_PAGE, &n);
        if (rc != STORE_OK)
            return rc;
        for (size_t i = 0; i < n && total < NOTIFY_FANOUT_MAX; i++, total++) {
            if (strcmp(msisdns[i], owner) == 0)
                continue;
            int q = queue_one(st, c, msisdns[i], text);
            if (q < 0)
                return -q;
            q ? res->queued++ : res->opted_out++;
        }
        if (n < SUB_PAGE || total >= NOTIFY_FANOUT_MAX)
            return STORE_OK;
        after = ids[n - 1];
    }
}

/* The owner (unless muted), then the subscribers. */
static int tell_all(struct store *st, const struct notify_change *c,
                    const char *owner, const char *text,
                    struct notify_result *res)
{
    char topic[NOTIFY_TOPIC_MAX];
    notify_topic(c->agency_id, c->number, topic, sizeof topic);
    /* the owner gets it unless they turned this application's SMS off
     * (USSD subscribe node, action unsubscribe) */
    char canon[STORE_MSISDN_MAX];
    bool muted = false;
    int rc;
    if (phone_canon(owner, canon, sizeof canon) == 0 &&
        (rc = store_sub_muted(st, canon, topic, &muted)) != STORE_OK)
        return rc;
    int q = muted ? 0 : queue_one(st, c, owner, text);
    if (q < 0)
        return -q;
    if (muted)
        res->muted++;
    else
        q ? res->queued++ : res->opted_out++;
    return tell_subscribers(st, c, topic, owner, text, res);
}

int notify_status_change(struct store *st, const struct notify_change *c,
                         struct notify_result *res)
{
    memset(res, 0, sizeof *res);
    int rc = store_app_status(st, c->number, c->agency_id, c->service_id,
                              c->owner, c->status, c->note, c->now);
    if (rc != STORE_OK)
        return rc;
    struct store_app app;
    if ((rc = store_app_get(st, c->agency_id, c->number, &app)) != STORE_OK)
        return rc;
    if (!c->notify)
        return STORE_OK;
    char *text = NULL;
    rc = notify_status_text(st, c->agency_id, c->number, c->status, c->lang,
                            c->note, &text);
    if (rc == STORE_NOTFOUND) {
        res->builtin = true;
        text = notify_default_text(c->number, c->status, c->lang, c->note);
        rc = text ? STORE_OK : NOTIFY_NOMEM;
    } else if (rc == STORE_OK) {
        res->have_template = true;
    }
    if (rc != STORE_OK)
        return rc;
    rc = tell_all(st, c, app.owner, text, res);
    free(text);
    return rc;
}
