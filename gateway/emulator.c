/*
 * gateway/emulator.c — the console's phone emulator (see emulator.h).
 *
 * One session = one struct menu_dialog driven by menu_step() over a set
 * the session holds a reference to.  After each step the effects are
 * answered (answer_fx): an http node's call goes out through gateway/fetch
 * when the owner gave a client and the request a done callback (the step
 * then waits in the session, and on_fetched goes on with the result);
 * every other effect gets a fixed, stated answer at once.  The step engine
 * is called again with each result until it shows a screen: the loop
 * gateway/ussd runs for a real dial.
 * Owns: the sessions (a TAILQ, bounded), their set references, their
 * calls in flight (cancelled in drop()).
 * May call: menus (step, dialog, measure), gateway/workspace,
 * gateway/fetch, jansson, libc, getrandom(2).
 */
#include "gateway/emulator.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>

#include "gateway/fetch.h"
#include "gateway/workspace.h"
#include "menus/dialog.h"
#include "menus/measure.h"
#include "menus/step.h"

#define DEFAULT_MAX   64
#define DEFAULT_IDLE  (10u * 60u * 1000u)
#define ID_HEX        32                 /* 128 random bits */
#define PHONE_DEFAULT "+996700000000"
#define CHAIN_MAX     8                  /* effect results fed back per request */
#define HTTP_TIMEOUT  5000u              /* an http node's default (menus/README) */

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
    /* a back-end call in flight (http node, emulator_new with a fetch) */
    struct emulator *em;
    bool pending;
    fetch_id fid;
    emulator_done_fn done;               /* the request that waits for it */
    void *arg;
    json_t *notes, *sms;                 /* what the answer has so far */
    const char *save_var[MENU_SAVE_MAX], *save_field[MENU_SAVE_MAX]; /* in set */
    size_t nsave;
    char url[400];                       /* for the note */
    bool guard;                          /* issue 10 console-ws: a draft's
                                          * calls use fetch's guard */
};

TAILQ_HEAD(session_list, session);

/* A waiting request whose session went away: told after the list work. */
struct gone {
    emulator_done_fn done;
    void *arg;
};

struct emulator {
    struct session_list sessions;
    size_t n, max;
    uint32_t idle_ms;
    struct fetch *fetch;                 /* NULL: back-ends are never called */
    struct gone *gone;                   /* max entries (one call per session) */
    size_t ngone;
};

struct emulator *emulator_new(size_t max_sessions, uint32_t idle_ms, struct fetch *f)
{
    struct emulator *em = calloc(1, sizeof *em);
    if (!em)
        return NULL;
    TAILQ_INIT(&em->sessions);
    em->max = max_sessions ? max_sessions : DEFAULT_MAX;
    em->idle_ms = idle_ms ? idle_ms : DEFAULT_IDLE;
    em->fetch = f;
    em->gone = calloc(em->max, sizeof *em->gone);
    if (!em->gone) {
        free(em);
        return NULL;
    }
    return em;
}

static json_t *fail(int *status, int code, const char *msg)
{
    *status = code;
    return json_pack("{s:s}", "error", msg);
}

/* Unlink and free s; a call in flight is cancelled (its done never runs)
 * and the request waiting for it is queued for tell_gone(). */
static void drop(struct emulator *em, struct session *s)
{
    if (s->pending) {
        fetch_cancel(em->fetch, s->fid);
        if (s->done && em->ngone < em->max)
            em->gone[em->ngone++] = (struct gone){ s->done, s->arg };
        json_decref(s->notes);
        json_decref(s->sms);
    }
    TAILQ_REMOVE(&em->sessions, s, link);
    em->n--;
    menu_set_unref(s->set);
    free(s);
}

/* Answer the requests whose sessions went away (one at a time: a done
 * may call the emulator again). */
static void tell_gone(struct emulator *em, int code, const char *why)
{
    while (em->ngone) {
        struct gone g = em->gone[--em->ngone];
        int st;
        json_t *j = fail(&st, code, why);
        g.done(g.arg, j, st);
    }
}

void emulator_free(struct emulator *em)
{
    if (!em)
        return;
    struct session *s;
    while ((s = TAILQ_FIRST(&em->sessions)) != NULL)
        drop(em, s);
    tell_gone(em, 503, "the emulator is shutting down");
    free(em->gone);
    free(em);
}

static size_t sweep(struct emulator *em, int64_t now_ms)
{
    struct session *s = TAILQ_FIRST(&em->sessions), *next;
    for (; s; s = next) {
        next = TAILQ_NEXT(s, link);
        if (now_ms - s->last_ms >= (int64_t)em->idle_ms)
            drop(em, s);
    }
    return em->n;
}

size_t emulator_sweep(struct emulator *em, int64_t now_ms)
{
    size_t n = sweep(em, now_ms);
    tell_gone(em, 410, "the emulator session expired");
    return n;
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
    bool can_wait;                       /* a back-end may be called */
    bool pending;                        /* ... and one was */
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

static void on_fetched(void *arg, const struct fetch_result *r);

/* Start an http node's call (the emulator was given a fetch): 0, or -1
 * when it could not start (then the node is not called). */
static int call_http(struct session *s, const struct menu_effect *fx)
{
    struct fetch_req req = { 0 };
    req.method = fx->method ? fx->method : "GET";
    req.url = fx->url;
    req.body = fx->body;
    req.body_len = fx->body ? strlen(fx->body) : 0;
    req.content_type = fx->content_type;
    req.timeout_ms = fx->timeout_ms ? fx->timeout_ms : HTTP_TIMEOUT;
    req.guard = s->guard;   /* issue 10 console-ws: no internal address */
    if (!fx->url || fetch_start(s->em->fetch, &req, on_fetched, s, &s->fid) != FETCH_OK)
        return -1;
    s->pending = true;
    s->nsave = fx->nsave;
    for (size_t i = 0; i < fx->nsave && i < MENU_SAVE_MAX; i++) {
        s->save_var[i] = fx->save_var[i];
        s->save_field[i] = fx->save_field[i];
    }
    snprintf(s->url, sizeof s->url, "%s %s", req.method, fx->url);
    return 0;
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
        if (c->can_wait && call_http(s, fx) == 0) {
            c->pending = true;
            return;
        }
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
        if (out->show || out->end || c->event < 0 || c->pending)
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

/* The answer to a step that showed a screen (or failed); the session is
 * dropped when its dialog ends.  Takes c's arrays. */
static json_t *answer_of(struct emulator *em, struct session *s, int rc,
                         const struct menu_output *out, struct chain *c, int *status)
{
    if (rc != MENU_OK) {
        json_decref(c->notes);
        json_decref(c->sms);
        return fail(status, 409, "the dialog does not wait for an answer now");
    }
    bool end = out->end || s->d.wait == MENU_W_END;
    int li = s->d.lang < s->set->nlang ? s->d.lang : -1;
    json_t *node = s->d.node < s->set->nnode ? json_string(s->set->node[s->d.node].id)
                                             : json_null();
    json_t *j = json_pack("{s:s, s:o, s:b, s:s, s:o, s:o, s:o}", "session", s->id,
                          "node", node, "end", end, "lang", li >= 0 ? s->set->lang[li] : "",
                          "screen", out->show ? screen_json(out) : json_null(),
                          "notes", c->notes, "sms", c->sms);
    *status = j ? 200 : 500;
    if (end)
        drop(em, s);
    return j ? j : fail(status, 500, "out of memory");
}

/* Drive s with in; the answer, or NULL (*status 0) when a back-end call
 * now runs (its result continues in on_fetched). */
static json_t *run(struct emulator *em, struct session *s, struct menu_input *in,
                   struct chain *c, int *status)
{
    struct menu_output *out = malloc(sizeof *out);
    if (!out || !c->notes || !c->sms) {
        free(out);
        json_decref(c->notes);
        json_decref(c->sms);
        return fail(status, 500, "out of memory");
    }
    int rc = drive(s, in, out, c);
    json_t *j = NULL;
    if (rc == MENU_OK && c->pending) {
        s->notes = c->notes;
        s->sms = c->sms;
        *status = 0;
    } else {
        j = answer_of(em, s, rc, out, c, status);
    }
    free(out);
    return j;
}

/* One request's step on session s (done, arg: who waits if a back-end is
 * called; NULL: none is). */
static json_t *step_answer(struct emulator *em, struct session *s, struct menu_input *in,
                           int *status, emulator_done_fn done, void *arg)
{
    struct chain c = { json_array(), json_array(), -1, { { 0 } }, 0, false, false };
    c.can_wait = em->fetch && done;
    s->done = done;
    s->arg = arg;
    return run(em, s, in, &c, status);
}

/* An http node's result as the step engine's event (what gateway/ussd
 * feeds for a live dialog: timeout, failure, or the save fields found). */
static void http_event(const struct session *s, const struct fetch_result *r,
                       struct menu_input *in, struct menu_kv *kv, char *vals, size_t cap,
                       struct chain *c)
{
    in->event = r->status == FETCH_TIMEOUT ? MENU_EV_HTTP_TIMEOUT : MENU_EV_HTTP_FAIL;
    const char *id = s->set->node[s->d.node].id;
    if (r->status != FETCH_DONE_OK) {
        note(c, "http node %s: %s -> %s (HTTP %ld) after %u ms", id, s->url,
             fetch_status_name(r->status), r->http_code, r->elapsed_ms);
        return;
    }
    struct fetch_json_value jv[MENU_SAVE_MAX];
    char err[160];
    if (fetch_json_map(r->body, r->body_len, s->save_field, s->nsave, MENU_VAL_MAX, vals,
                       cap, jv, err, sizeof err) != FETCH_OK) {
        note(c, "http node %s: %s -> answer unusable: %s", id, s->url, err);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->nsave; i++)
        if (jv[i].found == FETCH_JSON_FOUND)
            kv[k++] = (struct menu_kv){ s->save_var[i], jv[i].value };
    in->event = MENU_EV_HTTP_OK;
    in->kv = kv;
    in->nkv = k;
    note(c, "http node %s: %s -> HTTP %ld in %u ms", id, s->url, r->http_code, r->elapsed_ms);
}

static void on_fetched(void *arg, const struct fetch_result *r)
{
    struct session *s = arg;
    struct emulator *em = s->em;
    s->pending = false;
    struct chain c = { s->notes, s->sms, -1, { { 0 } }, 0, true, false };
    s->notes = s->sms = NULL;
    struct menu_input in = { 0 };
    in.phone = s->phone;
    in.session_id = s->id;
    in.now = (uint32_t)(r->elapsed_ms / 1000 + (uint32_t)(s->last_ms / 1000));
    struct menu_kv kv[MENU_SAVE_MAX];
    char vals[MENU_SAVE_MAX * (MENU_VAL_MAX + 1) + 64];
    http_event(s, r, &in, kv, vals, sizeof vals, &c);
    emulator_done_fn done = s->done;
    void *darg = s->arg;
    int status;
    json_t *j = run(em, s, &in, &c, &status);     /* may drop s */
    if (j && done)
        done(darg, j, status);
    else
        json_decref(j);
    tell_gone(em, 410, "the emulator session ended before the back-end answered");
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

static json_t *dial(struct emulator *em, const json_t *req, struct menu_set *live,
                    int64_t now_ms, int *status, emulator_done_fn done, void *arg)
{
    const char *code = json_string_value(json_object_get(req, "code"));
    if (!code || strlen(code) < 2 || strlen(code) > 40)
        return fail(status, 400, "code: the code as dialled, e.g. \"*100#\"");
    if (sweep(em, now_ms) >= em->max)
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
    s->guard = json_object_get(req, "files") != NULL;   /* issue 10 console-ws */
    const char *why = dial_options(s, req);
    if (why) {
        menu_set_unref(set);
        free(s);
        return fail(status, 400, why);
    }
    menu_dialog_init(&s->d);
    s->last_ms = now_ms;
    s->em = em;
    TAILQ_INSERT_TAIL(&em->sessions, s, link);
    em->n++;
    struct menu_input in = input_of(s, MENU_EV_START, code, now_ms);
    return step_answer(em, s, &in, status, done, arg);
}

json_t *emulator_dial(struct emulator *em, const json_t *req, struct menu_set *live,
                      int64_t now_ms, int *status, emulator_done_fn done, void *arg)
{
    json_t *j = dial(em, req, live, now_ms, status, done, arg);
    tell_gone(em, 410, "the emulator session expired");
    return j;
}

static json_t *answer(struct emulator *em, const json_t *req, int64_t now_ms,
                      int *status, emulator_done_fn done, void *arg)
{
    sweep(em, now_ms);
    struct session *s = find(em, req);
    if (!s)
        return fail(status, 404, "no such emulator session (it ended or expired)");
    if (s->pending)
        return fail(status, 409, "the session waits for its back-end's answer");
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
    return step_answer(em, s, &in, status, done, arg);
}

json_t *emulator_answer(struct emulator *em, const json_t *req, int64_t now_ms,
                        int *status, emulator_done_fn done, void *arg)
{
    json_t *j = answer(em, req, now_ms, status, done, arg);
    tell_gone(em, 410, "the emulator session expired");
    return j;
}

json_t *emulator_end(struct emulator *em, const json_t *req, int *status)
{
    struct session *s = find(em, req);
    if (!s)
        return fail(status, 404, "no such emulator session (it ended or expired)");
    json_t *j = json_pack("{s:s, s:b}", "session", s->id, "end", 1);
    drop(em, s);
    *status = 200;
    tell_gone(em, 410, "the emulator session was ended");
    return j;
}
