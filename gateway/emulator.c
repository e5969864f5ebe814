/*
 * gateway/emulator.c — the console's phone emulator (see emulator.h).
 *
 * One session = one struct menu_dialog driven by menu_step() over a set
 * the session holds a reference to.  After each step the effects are
 * answered at once from the table in answer_fx() (nothing leaves the
 * process), and the step engine is called again with the result until
 * it shows a screen: the same loop gateway/ussd runs, with the outside
 * world replaced by fixed, stated answers.
 * Owns: the sessions (a TAILQ, bounded), their set references.
 * May call: menus (step, dialog, measure), gateway/workspace, jansson,
 * libc, getrandom(2).
 */
#include "gateway/emulator.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>

#include "gateway/workspace.h"
#include "menus/dialog.h"
#include "menus/measure.h"
#include "menus/step.h"

#define DEFAULT_MAX   64
#define DEFAULT_IDLE  (10u * 60u * 1000u)
#define ID_HEX        32                 /* 128 random bits */
#define PHONE_DEFAULT "+996700000000"
#define CHAIN_MAX     8                  /* effect results fed back per request */

struct session {
    TAILQ_ENTRY(session) link;
    char id[ID_HEX + 1];
    struct menu_set *set;                /* one reference */
    struct menu_dialog d;
    char phone[20];
    char lang[4];                        /* remembered language, "" none */
    char sim_status[MENU_VAL_MAX + 1];   /* simulated application, "" none */
    char sim_updated[MENU_VAL_MAX + 1];
    int64_t last_ms;
};

TAILQ_HEAD(session_list, session);

struct emulator {
    struct session_list sessions;
    size_t n, max;
    uint32_t idle_ms;
};

struct emulator *emulator_new(size_t max_sessions, uint32_t idle_ms)
{
    struct emulator *em = calloc(1, sizeof *em);
    if (!em)
        return NULL;
    TAILQ_INIT(&em->sessions);
    em->max = max_sessions ? max_sessions : DEFAULT_MAX;
    em->idle_ms = idle_ms ? idle_ms : DEFAULT_IDLE;
    return em;
}

static void drop(struct emulator *em, struct session *s)
{
    TAILQ_REMOVE(&em->sessions, s, link);
    em->n--;
    menu_set_unref(s->set);
    free(s);
}

void emulator_free(struct emulator *em)
{
    if (!em)
        return;
    struct session *s;
    while ((s = TAILQ_FIRST(&em->sessions)) != NULL)
        drop(em, s);
    free(em);
}

size_t emulator_sweep(struct emulator *em, int64_t now_ms)
{
    struct session *s = TAILQ_FIRST(&em->sessions), *next;
    for (; s; s = next) {
        next = TAILQ_NEXT(s, link);
        if (now_ms - s->last_ms >= (int64_t)em->idle_ms)
            drop(em, s);
    }
    return em->n;
}

static json_t *fail(int *status, int code, const char *msg)
{
    *status = code;
    return json_pack("{s:s}", "error", msg);
}

static struct session *find(struct emulator *em, const json_t *req)
{
    const char *id = json_string_value(json_object_get(req, "session"));
    struct session *s;
    if (!id)
        return NULL;
    TAILQ_FOREACH(s, &em->sessions, link)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

/* ---- effects: the outside world's fixed answers ---- */

struct chain {
    json_t *notes, *sms;
    int event;                           /* result to feed back, or -1 */
    struct menu_kv kv[2];
    size_t nkv;
};

static void note(struct chain *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct chain *c, const char *fmt, ...)
{
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_array_append_new(c->notes, workspace_string(buf, strlen(buf)));
}

/* A store lookup (status, subscribe): the simulated application if the
 * dial gave one, else the neutral "not found". */
static void answer_store(struct session *s, struct chain *c, const char *id,
                         const struct menu_effect *fx)
{
    if (s->sim_status[0]) {
        c->event = MENU_EV_STATUS_OK;
        c->kv[0] = (struct menu_kv){ "status", s->sim_status };
        c->kv[1] = (struct menu_kv){ "updated", s->sim_updated };
        c->nkv = 2;
        note(c, "%s: the store is not read in the emulator; answered with the "
                "simulated application (status %s)", id, s->sim_status);
        return;
    }
    c->event = MENU_EV_STATUS_NOT_FOUND;
    note(c, "%s: the store is not read in the emulator; answered 'not found'%s", id,
         fx->url ? " (its url is not called either)" : "");
}

static void answer_fx(struct session *s, struct chain *c, const struct menu_effect *fx)
{
    const char *id = s->set->node[s->d.node].id;
    switch (fx->kind) {
    case MENU_FX_SMS:
        json_array_append_new(c->sms, json_pack("{s:o, s:o, s:s}",
                                                "to", workspace_string(fx->to, fx->to ? strlen(fx->to) : 0),
                                                "text", workspace_string(fx->text, fx->text ? strlen(fx->text) : 0),
                                                "lang", fx->lang ? fx->lang : ""));
        note(c, "sms to %s: not sent from the emulator", fx->to ? fx->to : "");
        return;
    case MENU_FX_STORE_LANG:
        snprintf(s->lang, sizeof s->lang, "%s", fx->lang ? fx->lang : "");
        note(c, "language %s remembered for this emulator session only", s->lang);
        return;
    case MENU_FX_HTTP:
        c->event = MENU_EV_HTTP_FAIL;
        note(c, "http node %s: not called in the emulator (url: %s); its on_error path follows",
             id, fx->url ? fx->url : "");
        return;
    case MENU_FX_APP:
        c->event = MENU_EV_APP_FAIL;
        note(c, "app node %s: not called in the emulator (url: %s); its on_error path follows",
             id, fx->url ? fx->url : "");
        return;
    case MENU_FX_STATUS:
    case MENU_FX_SUBSCRIBE:
        answer_store(s, c, id, fx);
        return;
    case MENU_FX_BOOKING:
        c->event = MENU_EV_BOOKING_FAIL;
        note(c, "booking node %s: the store is not read in the emulator; its on_error path follows",
             id);
        return;
    default:
        return;
    }
}

/* Step with in, answer the effects, step again with their result, until
 * a screen (or nothing more to feed).  Returns menu_step's code. */
static int drive(struct session *s, struct menu_input *in, struct menu_output *out,
                 struct chain *c)
{
    for (int k = 0; k < CHAIN_MAX; k++) {
        int rc = menu_step(s->set, &s->d, in, out);
        if (rc != MENU_OK)
            return rc;
        c->event = -1;
        c->nkv = 0;
        for (size_t i = 0; i < out->nfx; i++)
            answer_fx(s, c, &out->fx[i]);
        if (out->show || out->end || c->event < 0)
            return MENU_OK;
        in->event = c->event;
        in->text = NULL;
        in->len = 0;
        in->kv = c->kv;
        in->nkv = c->nkv;
        in->lang = NULL;
    }
    return MENU_OK;
}

/* ---- answers ---- */

static json_t *screen_json(const struct menu_output *out)
{
    struct menu_measure m;
    menu_measure_text(out->screen, out->screen_len, &m);
    return json_pack("{s:o, s:s, s:i, s:I, s:i, s:I, s:I, s:I, s:I, s:I}",
                     "text", workspace_string(out->screen, out->screen_len),
                     "encoding", menu_enc_name(out->enc), "data_coding", out->enc,
                     "octets", (json_int_t)out->octets, "limit_octets", MENU_SCREEN_OCTETS,
                     "chars", (json_int_t)m.chars, "units", (json_int_t)m.units,
                     "limit", (json_int_t)m.limit, "page", (json_int_t)out->page + 1,
                     "pages", (json_int_t)out->npages);
}

/* One request's step on session s; the session is dropped when its
 * dialog ends. */
static json_t *step_answer(struct emulator *em, struct session *s, struct menu_input *in,
                           int *status)
{
    struct menu_output *out = malloc(sizeof *out);
    struct chain c = { json_array(), json_array(), -1, { { 0 } }, 0 };
    if (!out || !c.notes || !c.sms) {
        free(out);
        json_decref(c.notes);
        json_decref(c.sms);
        return fail(status, 500, "out of memory");
    }
    int rc = drive(s, in, out, &c);
    json_t *j;
    if (rc != MENU_OK) {
        json_decref(c.notes);
        json_decref(c.sms);
        j = fail(status, 409, "the dialog does not wait for an answer now");
    } else {
        bool end = out->end || s->d.wait == MENU_W_END;
        int li = s->d.lang < s->set->nlang ? s->d.lang : -1;
        json_t *node = s->d.node < s->set->nnode ? json_string(s->set->node[s->d.node].id)
                                                 : json_null();
        j = json_pack("{s:s, s:o, s:b, s:s, s:o, s:o, s:o}", "session", s->id, "node", node,
                      "end", end, "lang", li >= 0 ? s->set->lang[li] : "",
                      "screen", out->show ? screen_json(out) : json_null(),
                      "notes", c.notes, "sms", c.sms);
        *status = j ? 200 : 500;
        if (end)
            drop(em, s);
    }
    free(out);
    return j ? j : fail(status, 500, "out of memory");
}

static struct menu_input input_of(const struct session *s, int event, const char *text,
                                  int64_t now_ms)
{
    struct menu_input in = { 0 };
    in.event = event;
    in.text = text;
    in.len = text ? strlen(text) : 0;
    in.phone = s->phone;
    in.session_id = s->id;
    in.lang = s->lang[0] ? s->lang : NULL;
    in.now = (uint32_t)(now_ms / 1000);
    return in;
}

static bool new_id(char out[ID_HEX + 1])
{
    uint8_t r[ID_HEX / 2];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return false;
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    return true;
}

static bool phone_ok(const char *p)
{
    size_t l = strlen(p);
    if (l < 4 || l > 16 || p[0] != '+')
        return false;
    for (size_t i = 1; i < l; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* The dial's options into s; NULL or the reason they are refused. */
static const char *dial_options(struct session *s, const json_t *req)
{
    const char *lang = json_string_value(json_object_get(req, "lang"));
    const char *phone = json_string_value(json_object_get(req, "phone"));
    const json_t *st = json_object_get(req, "status");
    if (lang && menu_set_find_lang(s->set, lang) < 0)
        return "lang: not a language of this menu set";
    if (phone && !phone_ok(phone))
        return "phone: international, with + (e.g. +996700123456)";
    snprintf(s->lang, sizeof s->lang, "%s", lang ? lang : "");
    snprintf(s->phone, sizeof s->phone, "%s", phone ? phone : PHONE_DEFAULT);
    if (st && !json_is_object(st))
        return "status: {\"status\": \"ready\", \"updated\": \"20.11.2026\"}";
    const char *sv = json_string_value(json_object_get(st, "status"));
    const char *su = json_string_value(json_object_get(st, "updated"));
    if (st && (!sv || !sv[0] || strlen(sv) > MENU_VAL_MAX || (su && strlen(su) > MENU_VAL_MAX)))
        return "status.status: the application's status code (at most 120 bytes)";
    snprintf(s->sim_status, sizeof s->sim_status, "%s", sv ? sv : "");
    snprintf(s->sim_updated, sizeof s->sim_updated, "%s", su ? su : "");
    return NULL;
}

/* The set a dial runs: its draft, else the live one (a new reference). */
static struct menu_set *dial_set(const json_t *req, struct menu_set *live, json_t **errors)
{
    const json_t *files = json_object_get(req, "files");
    if (files)
        return workspace_load(files, errors);
    return menu_set_ref(live);
}

json_t *emulator_dial(struct emulator *em, const json_t *req,
                      struct menu_set *live, int64_t now_ms, int *status)
{
    const char *code = json_string_value(json_object_get(req, "code"));
    if (!code || strlen(code) < 2 || strlen(code) > 40)
        return fail(status, 400, "code: the code as dialled, e.g. \"*100#\"");
    if (emulator_sweep(em, now_ms) >= em->max)
        return fail(status, 503, "too many emulator sessions; end one or wait");
    json_t *errors = NULL;
    struct menu_set *set = dial_set(req, live, &errors);
    if (!set) {
        if (!errors)
            return fail(status, 503, "no menu set is loaded");
        json_object_set_new(errors, "error", json_string("the draft does not load"));
        *status = 422;
        return errors;
    }
    struct session *s = calloc(1, sizeof *s);
    if (!s || !new_id(s->id)) {
        free(s);
        menu_set_unref(set);
        return fail(status, 500, "cannot make a session");
    }
    s->set = set;
    const char *why = dial_options(s, req);
    if (why) {
        menu_set_unref(set);
        free(s);
        return fail(status, 400, why);
    }
    menu_dialog_init(&s->d);
    s->last_ms = now_ms;
    TAILQ_INSERT_TAIL(&em->sessions, s, link);
    em->n++;
    struct menu_input in = input_of(s, MENU_EV_START, code, now_ms);
    return step_answer(em, s, &in, status);
}

json_t *emulator_answer(struct emulator *em, const json_t *req, int64_t now_ms,
                        int *status)
{
    emulator_sweep(em, now_ms);
    struct session *s = find(em, req);
    if (!s)
        return fail(status, 404, "no such emulator session (it ended or expired)");
    const char *text = json_string_value(json_object_get(req, "text"));
    const char *key = json_string_value(json_object_get(req, "key"));
    static const char *const keys[MENU_KEY_COUNT] = { "back", "home", "more" };
    if (key) {
        text = NULL;
        for (int k = 0; k < MENU_KEY_COUNT; k++)
            if (strcmp(key, keys[k]) == 0)
                text = s->set->key[k];
        if (!text)
            return fail(status, 400, "key: back, home or more");
    }
    if (!text || strlen(text) > 182)
        return fail(status, 400, "text: the answer as typed (at most 182 characters)");
    s->last_ms = now_ms;
    struct menu_input in = input_of(s, MENU_EV_INPUT, text, now_ms);
    return step_answer(em, s, &in, status);
}

json_t *emulator_end(struct emulator *em, const json_t *req, int *status)
{
    struct session *s = find(em, req);
    if (!s)
        return fail(status, 404, "no such emulator session (it ended or expired)");
    json_t *j = json_pack("{s:s, s:b}", "session", s->id, "end", 1);
    drop(em, s);
    *status = 200;
    return j;
}
