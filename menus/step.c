/*
 * menus/step.c — the step engine (see step.h for the contract).
 *
 * Shape: menu_step() dispatches on (event, what the dialog waits for);
 * enter() runs the node chain that needs no input (switch, sms) until a
 * node shows a screen (menu, input, end) or waits for an effect (http,
 * app, status); draw() renders the current node's page through menus/screen.
 * Everything is written into the caller's struct menu_output.
 * Transition table (event x wait -> handler):
 *   START    x any                  -> start (resume offer or fresh)
 *   INPUT    x INPUT                -> on_input (keys, option, validation)
 *   INPUT    x APP_INPUT            -> on_app_input
 *   INPUT    x RESUME               -> on_resume
 *   HTTP_*   x HTTP                 -> on_http
 *   APP_*    x APP                  -> on_app
 *   STATUS_* x STORE (status, subscribe) -> on_status (AMBIGUOUS: its
 *                                    text as the final screen)
 *   INPUT    x BOOKING_INPUT        -> on_booking_input
 *   BOOKING_* x BOOKING             -> on_booking (booking and appeal
 *                                    nodes: a sub-dialog the gateway draws)
 *   anything else                   -> MENU_EUNEXPECTED, d untouched
 * (the INPUT rows are on_typed(), the effect rows the table results[]).
 * May call: menus/menu, menus/screen, menus/dialog, base/utf8, libc.
 */
#include "menus/step.h"

#include <string.h>

#include "base/utf8.h"

#define MAX_HOPS 32          /* nodes without input per step (loader forbids loops) */
#define BODY_MAX 3072
#define OPT_BUF 2048

struct ctx {
    const struct menu_set *set;
    struct menu_dialog *d;
    const struct menu_input *in;
    struct menu_output *out;
};

/* ---- small helpers ---- */

static uint8_t lang_of(const struct ctx *c)
{
    return c->d->lang < c->set->nlang ? c->d->lang : c->set->default_lang;
}

static const struct menu_tmpl *text_of(const struct ctx *c,
                                       const struct menu_text *t)
{
    if (!t)
        return NULL;
    const struct menu_tmpl *r = t->t[lang_of(c)];
    return r ? r : t->t[c->set->default_lang];
}

static const char *var_value(const struct ctx *c, uint16_t var)
{
    const struct menu_set *set = c->set;
    if (var == MENU_VAR_PHONE)
        return c->in->phone ? c->in->phone : "";
    if (var == MENU_VAR_CODE)
        return c->d->code < set->ncode ? set->code[c->d->code].code : "";
    if (var == MENU_VAR_LANG)
        return set->lang[lang_of(c)];
    if (var < set->nvar && set->var[var].constant)
        return set->var[var].constant;
    const char *v = menu_dialog_get(c->d, var);
    return v ? v : "";
}

/* Append len bytes to buf (capacity cap, *n used), truncating. */
static void app(char *buf, size_t cap, size_t *n, const char *s, size_t len)
{
    if (*n + 1 >= cap)
        return;
    /* never cut inside a UTF-8 character */
    len = kz_utf8_clip((const uint8_t *)s, len, cap - 1 - *n);
    memcpy(buf + *n, s, len);
    *n += len;
    buf[*n] = '\0';
}

static void app_pct(char *buf, size_t cap, size_t *n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
            (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
            app(buf, cap, n, (const char *)&ch, 1);
        } else {
            char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
            app(buf, cap, n, e, 3);
        }
    }
}

/* Render a template into buf; pct: percent-encode dialog values and
 * built-ins (not settings constants) — for URLs and form bodies. */
static size_t render(const struct ctx *c, const struct menu_tmpl *t, char *buf,
                     size_t cap, bool pct)
{
    size_t n = 0;
    buf[0] = '\0';
    if (!t)
        return 0;
    for (uint16_t i = 0; i < t->nseg; i++) {
        const struct menu_seg *s = &t->seg[i];
        if (s->lit) {
            app(buf, cap, &n, s->lit, s->len);
        } else {
            const char *v = var_value(c, s->var);
            if (pct && !(s->var < c->set->nvar && c->set->var[s->var].constant))
                app_pct(buf, cap, &n, v);
            else
                app(buf, cap, &n, v, strlen(v));
        }
    }
    return n;
}

/* Copy into the output arena; returns the copy ("" when full). */
static const char *keep(struct menu_output *out, const char *s, size_t len)
{
    if (out->arena_used + len + 1 > sizeof out->arena)
        return "";
    char *p = out->arena + out->arena_used;
    memcpy(p, s, len);
    p[len] = '\0';
    out->arena_used += len + 1;
    return p;
}

static const char *keep_str(struct menu_output *out, const char *s)
{
    return keep(out, s, strlen(s));
}

/* The caller's phone, copied into the output arena ("" when none). */
static const char *keep_phone(struct ctx *c)
{
    return c->in->phone ? keep_str(c->out, c->in->phone) : "";
}

/* A template rendered (see render) straight into the output arena. */
static const char *keep_render(struct ctx *c, const struct menu_tmpl *t, bool pct)
{
    char buf[BODY_MAX];
    size_t l = render(c, t, buf, sizeof buf, pct);
    return keep(c->out, buf, l);
}

/* The next effect slot, zeroed, of this kind and in the dialog's language
 * (NULL when the output holds MENU_FX_MAX already). */
static struct menu_effect *add_fx(struct ctx *c, int kind)
{
    struct menu_output *out = c->out;
    if (out->nfx >= MENU_FX_MAX)
        return NULL;
    struct menu_effect *fx = &out->fx[out->nfx++];
    memset(fx, 0, sizeof *fx);
    fx->kind = kind;
    fx->lang = c->set->lang[lang_of(c)];
    return fx;
}

/* "key label" for a footer entry into buf. */
static const char *key_entry(const struct ctx *c, int k, char *buf, size_t cap)
{
    char lab[160];
    render(c, text_of(c, c->set->key_label[k]), lab, sizeof lab, false);
    size_t n = 0;
    buf[0] = '\0';
    app(buf, cap, &n, c->set->key[k], strlen(c->set->key[k]));
    app(buf, cap, &n, " ", 1);
    app(buf, cap, &n, lab, strlen(lab));
    return buf;
}

/* ---- screens ---- */

/* Put a finished page into out. */
static void emit_page(struct ctx *c, const struct menu_screen_in *si,
                      unsigned page, unsigned *npages, unsigned *shown)
{
    struct menu_output *out = c->out;
    size_t len;
    int enc;
    if (menu_screen_page(si, page, out->screen, sizeof out->screen, &len,
                         &enc, npages, shown) != 0) {
        len = 0;
        enc = MENU_ENC_GSM7;
        *npages = 1;
        *shown = 0;
        out->screen[0] = '\0';
    }
    out->screen_len = len;
    out->enc = enc;
    out->octets = menu_text_octets(out->screen, len, NULL);
    out->page = *shown;
    out->npages = *npages;
    out->show = true;
}

/* A text shown alone on one page, without a footer (a message, or a
 * screen whose keys belong to an app or the booking), after which the
 * dialog waits for `wait`. */
static void one_page(struct ctx *c, const char *text, size_t len, uint8_t wait)
{
    struct menu_screen_in si = { 0 };
    si.body = text;
    si.body_len = len;
    si.final = true;
    unsigned np, sh;
    emit_page(c, &si, 0, &np, &sh);
    c->d->wait = wait;
}

/* A one-screen text that ends the dialog (messages, app END). */
static void finish_text(struct ctx *c, const char *text, size_t len)
{
    one_page(c, text, len, MENU_W_END);
    c->out->end = true;
}

static void finish_msg(struct ctx *c, int msg)
{
    char buf[BODY_MAX];
    size_t n = render(c, text_of(c, c->set->msg[msg]), buf, sizeof buf, false);
    finish_text(c, buf, n);
}

/* Draw page d->page of the current node (menu, input or end), with
 * the error text on top when err is set. */
static void draw(struct ctx *c, bool err)
{
    const struct menu_set *set = c->set;
    struct menu_dialog *d = c->d;
    const struct menu_node *n = &set->node[d->node];
    char body[BODY_MAX];
    size_t bl = 0;
    body[0] = '\0';
    if (err) {
        const struct menu_text *et = n->error ? n->error : set->msg[MENU_MSG_INVALID];
        bl = render(c, text_of(c, et), body, sizeof body, false);
        if (bl)
            app(body, sizeof body, &bl, "\n", 1);
    }
    bl += render(c, text_of(c, n->text), body + bl, sizeof body - bl, false);

    char obuf[OPT_BUF];
    const char *opt[MENU_OPTIONS_MAX];
    size_t optl[MENU_OPTIONS_MAX];
    size_t used = 0, nopt = 0;
    for (uint16_t i = 0; n->kind == MENU_K_MENU && i < n->nopt && i < MENU_OPTIONS_MAX; i++) {
        char line[400];
        size_t ll = 0;
        char num[8];
        int k = (int)(i + 1);
        size_t nl = 0;
        if (k >= 10)
            num[nl++] = (char)('0' + k / 10);
        num[nl++] = (char)('0' + k % 10);
        num[nl++] = '.';
        num[nl++] = ' ';
        line[0] = '\0';
        app(line, sizeof line, &ll, num, nl);
        ll += render(c, text_of(c, n->opt[i].label), line + ll, sizeof line - ll, false);
        if (used + ll + 1 > sizeof obuf)
            break;
        memcpy(obuf + used, line, ll);
        opt[nopt] = obuf + used;
        optl[nopt] = ll;
        used += ll;
        nopt++;
    }
    char more[80], back[80], home[80];
    struct menu_screen_in si = { 0 };
    si.body = body;
    si.body_len = bl;
    si.opt = opt;
    si.opt_len = optl;
    si.nopt = nopt;
    si.more = key_entry(c, MENU_KEY_MORE, more, sizeof more);
    si.back_paged = key_entry(c, MENU_KEY_BACK, back, sizeof back);
    si.back = d->depth > 0 ? si.back_paged : NULL;
    si.home = d->depth > 1 ? key_entry(c, MENU_KEY_HOME, home, sizeof home) : NULL;
    si.final = n->kind == MENU_K_END;
    unsigned np, sh;
    emit_page(c, &si, d->page, &np, &sh);
    d->page = (uint16_t)sh;
    if (n->kind == MENU_K_END && sh + 1 >= np) {
        c->out->end = true;
        d->wait = MENU_W_END;
    } else {
        d->wait = MENU_W_INPUT;
    }
}

/* ---- effects ---- */

static void fx_http(struct ctx *c, const struct menu_node *n)
{
    struct menu_effect *fx = add_fx(c, MENU_FX_HTTP);
    if (!fx)
        return;
    fx->url = keep_render(c, n->url, true);
    fx->method = n->method;
    if (n->body) {
        fx->body = keep_render(c, n->body, true);
        fx->content_type = "application/x-www-form-urlencoded";
    }
    fx->timeout_ms = n->timeout_ms;
    for (uint16_t i = 0; i < n->nsave && i < MENU_SAVE_MAX; i++) {
        fx->save_var[i] = c->set->var[n->save[i].var].name;
        fx->save_field[i] = n->save[i].field;
        fx->nsave++;
    }
    fx->phone = c->in->phone;
}

static void fx_app(struct ctx *c, const struct menu_node *n)
{
    struct menu_effect *fx = add_fx(c, MENU_FX_APP);
    if (!fx)
        return;
    fx->url = keep_render(c, n->url, true);
    fx->method = "POST";
    fx->content_type = "application/x-www-form-urlencoded";
    fx->timeout_ms = n->timeout_ms;
    fx->session_id = c->in->session_id ? c->in->session_id : "";
    fx->service_code = c->d->code < c->set->ncode ? c->set->code[c->d->code].code : "";
    fx->phone = c->in->phone ? c->in->phone : "";
    fx->app_text = keep(c->out, c->d->app, c->d->app_len);
}

static void fx_sms(struct ctx *c, const struct menu_node *n)
{
    struct menu_effect *fx = add_fx(c, MENU_FX_SMS);
    if (!fx)
        return;
    fx->to = n->to ? keep_render(c, n->to, false) : keep_phone(c);
    fx->text = keep_render(c, text_of(c, n->text), false);
    fx->phone = fx->to;
}

/* A store effect about an application: the number from the node's
 * variable, the caller's phone and language. */
static struct menu_effect *fx_app_number(struct ctx *c, const struct menu_node *n,
                                         int kind)
{
    struct menu_effect *fx = add_fx(c, kind);
    if (!fx)
        return NULL;
    fx->number = keep_str(c->out, var_value(c, n->var));
    fx->phone = keep_phone(c);
    return fx;
}

/* Status lookup, from the store or (url) live from the agency's API. */
static void fx_status(struct ctx *c, const struct menu_node *n)
{
    struct menu_effect *fx = fx_app_number(c, n, MENU_FX_STATUS);
    if (fx && n->url) {
        fx->url = keep_render(c, n->url, true);
        fx->method = "GET";
        fx->timeout_ms = n->timeout_ms;
    }
}

/* Subscribe / unsubscribe: like a status lookup, with the node's action. */
static void fx_subscribe(struct ctx *c, const struct menu_node *n)
{
    struct menu_effect *fx = fx_app_number(c, n, MENU_FX_SUBSCRIBE);
    if (fx)
        fx->mode = n->mode;
}

/* One turn of a sub-dialog the gateway draws (booking, appeal): the
 * state kept in d->app, the answer (NULL: draw), the caller, the back key
 * and its label.  NULL when the output has no room for another effect. */
static struct menu_effect *fx_turn(struct ctx *c, int kind,
                                   const struct menu_node *n,
                                   const char *input, size_t len)
{
    struct menu_effect *fx = add_fx(c, kind);
    if (!fx)
        return NULL;
    fx->mode = n->mode;
    fx->state = keep(c->out, c->d->app, c->d->app_len);
    fx->input = input ? keep(c->out, input, len) : NULL;
    fx->phone = keep_phone(c);
    fx->session_id = c->in->session_id ? c->in->session_id : "";
    fx->key_back = c->set->key[MENU_KEY_BACK];
    char b[200];
    fx->label_back = keep_str(c->out, key_entry(c, MENU_KEY_BACK, b, sizeof b));
    return fx;
}

/* One booking turn (fx_turn) with the node's services and days. */
static void fx_booking(struct ctx *c, const struct menu_node *n,
                       const char *input, size_t len)
{
    struct menu_effect *fx = fx_turn(c, MENU_FX_BOOKING, n, input, len);
    if (!fx)
        return;
    fx->services = n->services;
    fx->days = n->days;
    fx->fallback_lang = c->set->lang[c->set->default_lang];
    fx->key_more = c->set->key[MENU_KEY_MORE];
    fx->booking_texts = c->set->booking_text[lang_of(c)];
    char b[200];
    fx->label_more = keep_str(c->out, key_entry(c, MENU_KEY_MORE, b, sizeof b));
}

/* issue 12 appeals: one turn of an appeal node (fx_turn), with the
 * node's categories and their titles in the dialog's language. */
static void fx_appeal(struct ctx *c, const struct menu_node *n,
                      const char *input, size_t len)
{
    struct menu_effect *fx = fx_turn(c, MENU_FX_APPEAL, n, input, len);
    if (!fx)
        return;
    fx->appeal_cats = n->cats;
    fx->appeal_ncats = n->ncats;
    char titles[1024], one[256];
    size_t tn = 0;
    titles[0] = '\0';
    for (uint16_t i = 0; i < n->ncats; i++) {
        size_t l = render(c, text_of(c, n->cats[i].title), one, sizeof one,
                          false);
        if (i)
            app(titles, sizeof titles, &tn, "\n", 1);
        app(titles, sizeof titles, &tn, one, l);
    }
    fx->appeal_titles = keep(c->out, titles, tn);
}

static void fx_store_lang(struct ctx *c)
{
    struct menu_effect *fx = add_fx(c, MENU_FX_STORE_LANG);
    if (!fx)
        return;
    fx->phone = keep_phone(c);
}

/* ---- moving ---- */

static bool var_equals(const struct ctx *c, uint16_t var, const char *want)
{
    return strcmp(var_value(c, var), want) == 0;
}

/* The step ends waiting for an effect: nothing drawn on the way counts. */
static void no_screen(struct menu_output *out)
{
    out->show = false;
    out->end = false;
    out->screen[0] = '\0';
    out->screen_len = 0;
    out->octets = 0;
    out->page = out->npages = 0;
}

static uint16_t root_of(const struct ctx *c)
{
    return c->d->code < c->set->ncode ? c->set->code[c->d->code].root : 0;
}

/* Emit the effect of an effect node (http, status, subscribe, app,
 * booking) from the dialog as it is; returns what the dialog then waits
 * for (MENU_W_NONE for another kind).  Used on entry and on resume. */
static uint8_t emit_effect(struct ctx *c, const struct menu_node *n)
{
    switch (n->kind) {
    case MENU_K_HTTP:
        fx_http(c, n);
        return MENU_W_HTTP;
    case MENU_K_STATUS:
        fx_status(c, n);
        return MENU_W_STORE;
    case MENU_K_SUBSCRIBE:
        fx_subscribe(c, n);
        return MENU_W_STORE;
    case MENU_K_APP:
        fx_app(c, n);
        return MENU_W_APP;
    case MENU_K_BOOKING:
        fx_booking(c, n, NULL, 0);
        return MENU_W_BOOKING;
    case MENU_K_APPEAL:                 /* issue 12: a booking's events */
        fx_appeal(c, n, NULL, 0);
        return MENU_W_BOOKING;
    default:
        return MENU_W_NONE;
    }
}

/* Enter node ix and run every node that needs no input. */
static void enter(struct ctx *c, uint16_t ix)
{
    const struct menu_set *set = c->set;
    struct menu_dialog *d = c->d;
    for (int hop = 0; hop < MAX_HOPS; hop++) {
        if (ix >= set->nnode) {
            finish_msg(c, MENU_MSG_FAILURE);
            return;
        }
        const struct menu_node *n = &set->node[ix];
        if (ix == root_of(c))
            d->depth = 0;        /* the code's root is home: nothing behind it */
        d->node = ix;
        d->page = 0;
        d->retries = 0;
        switch (n->kind) {
        case MENU_K_MENU:
        case MENU_K_INPUT:
        case MENU_K_END:
            draw(c, false);
            return;
        case MENU_K_SWITCH: {
            uint16_t next = n->dflt;
            for (uint16_t i = 0; i < n->ncases; i++)
                if (var_equals(c, n->cases[i].var, n->cases[i].equals)) {
                    next = n->cases[i].next;
                    break;
                }
            ix = next;
            continue;
        }
        case MENU_K_SMS:
            fx_sms(c, n);
            ix = n->next;
            continue;
        case MENU_K_APP:
        case MENU_K_BOOKING:
        case MENU_K_APPEAL:
            d->app_len = 0;         /* a new app dialog / booking state */
            d->app[0] = '\0';
            /* fall through */
        case MENU_K_HTTP:
        case MENU_K_STATUS:
        case MENU_K_SUBSCRIBE:
            no_screen(c->out);
            d->wait = emit_effect(c, n);
            return;
        default:
            finish_msg(c, MENU_MSG_FAILURE);
            return;
        }
    }
    finish_msg(c, MENU_MSG_FAILURE);   /* unreachable with a checked set */
}

static void push(struct menu_dialog *d, uint16_t ix)
{
    if (d->depth == MENU_STACK_MAX) {
        memmove(&d->stack[0], &d->stack[1], (MENU_STACK_MAX - 1) * sizeof d->stack[0]);
        d->depth--;
    }
    d->stack[d->depth++] = ix;
}

/* Move forward from the current screen node to ix. */
static void forward(struct ctx *c, uint16_t ix)
{
    push(c->d, c->d->node);
    enter(c, ix);
}

static void go_home(struct ctx *c)
{
    c->d->depth = 0;
    enter(c, root_of(c));
}

/* ---- input ---- */

static bool eq(const char *a, size_t al, const char *b)
{
    return strlen(b) == al && memcmp(a, b, al) == 0;
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return len > 0;
}

static bool valid_date(const char *s, size_t len)
{
    if (len != 10 || s[2] != '.' || s[5] != '.')
        return false;
    if (!all_digits(s, 2) || !all_digits(s + 3, 2) || !all_digits(s + 6, 4))
        return false;
    int dd = (s[0] - '0') * 10 + (s[1] - '0');
    int mm = (s[3] - '0') * 10 + (s[4] - '0');
    int yy = (s[6] - '0') * 1000 + (s[7] - '0') * 100 + (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (yy < 1900 || yy > 2199 || mm < 1 || mm > 12 || dd < 1)
        return false;
    int max = mdays[mm - 1];
    if (mm == 2 && ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0))
        max = 29;
    return dd <= max;
}

static bool input_ok(const struct menu_node *n, const char *s, size_t len)
{
    size_t chars;
    if (len == 0 || len > MENU_VAL_MAX || memchr(s, '\0', len) ||
        !kz_utf8_count((const uint8_t *)s, len, &chars, NULL))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20)
            return false;
    if (n->min_len && chars < n->min_len)
        return false;
    if (n->max_len && chars > n->max_len)
        return false;
    switch (n->in_kind) {
    case MENU_IN_DIGITS:
        return all_digits(s, len);
    case MENU_IN_DATE:
        return valid_date(s, len);
    case MENU_IN_REGEX: {
        char z[MENU_VAL_MAX + 1];
        memcpy(z, s, len);
        z[len] = '\0';
        return n->re && regexec(n->re, z, 0, NULL, 0) == 0;
    }
    default:
        return true;
    }
}

/* An invalid answer: re-show with the error, or give up after the limit. */
static void invalid(struct ctx *c)
{
    const struct menu_node *n = &c->set->node[c->d->node];
    unsigned limit = n->retries ? n->retries : c->set->retries;
    c->d->retries++;
    if (c->d->retries >= limit) {
        if (n->on_fail != MENU_NONE) {
            forward(c, n->on_fail);
        } else {
            finish_msg(c, MENU_MSG_TOO_MANY);
        }
        return;
    }
    c->d->page = 0;
    draw(c, true);
}

/* Pick option number s of a menu node; false when it is not one. */
static bool choose(struct ctx *c, const char *s, size_t len)
{
    const struct menu_node *n = &c->set->node[c->d->node];
    if (len == 0 || len > 2 || !all_digits(s, len))
        return false;
    unsigned k = 0;
    for (size_t i = 0; i < len; i++)
        k = k * 10 + (unsigned)(s[i] - '0');
    if (k < 1 || k > n->nopt || (len == 2 && s[0] == '0'))
        return false;
    const struct menu_option *o = &n->opt[k - 1];
    if (o->set_lang >= 0 && o->set_lang < c->set->nlang) {
        c->d->lang = (uint8_t)o->set_lang;
        fx_store_lang(c);
    }
    if (o->value && n->var != MENU_NONE)
        menu_dialog_set(c->d, n->var, o->value, strlen(o->value));
    forward(c, o->next);
    return true;
}

static void on_input(struct ctx *c, const char *s, size_t len)
{
    const struct menu_set *set = c->set;
    struct menu_dialog *d = c->d;
    const struct menu_node *n = &set->node[d->node];
    if (eq(s, len, set->key[MENU_KEY_MORE])) {
        uint16_t was = d->page;
        d->page++;
        draw(c, false);
        if (d->page != was)
            return;
        /* no further page: fall through to the node's own handling */
    } else if (eq(s, len, set->key[MENU_KEY_BACK])) {
        if (d->page > 0) {
            d->page--;
            draw(c, false);
        } else if (d->depth > 0) {
            uint16_t ix = d->stack[--d->depth];
            d->node = ix;
            d->page = 0;
            d->retries = 0;
            draw(c, false);
        } else {
            draw(c, false);
        }
        return;
    } else if (eq(s, len, set->key[MENU_KEY_HOME])) {
        go_home(c);
        return;
    }
    c->out->show = false;
    c->out->end = false;
    switch (n->kind) {
    case MENU_K_MENU:
        if (!choose(c, s, len))
            invalid(c);
        return;
    case MENU_K_INPUT:
        if (input_ok(n, s, len)) {
            menu_dialog_set(d, n->var, s, len);
            forward(c, n->next);
        } else {
            invalid(c);
        }
        return;
    default: /* a paged end text: anything else re-shows the page */
        draw(c, false);
        return;
    }
}

/* An effect failed: the node's on_error, else the message msg. */
static void failed(struct ctx *c, const struct menu_node *n, int msg)
{
    if (n->on_error != MENU_NONE)
        enter(c, n->on_error);
    else
        finish_msg(c, msg);
}

/* Keep the values of a result that the node saves: an http result's
 * fields are named by variable (the gateway mapped the JSON paths), a
 * status result's by field. */
static void save_result(struct ctx *c, const struct menu_node *n, bool by_field)
{
    for (size_t i = 0; i < c->in->nkv; i++) {
        const struct menu_kv *kv = &c->in->kv[i];
        if (!kv->name || !kv->value)
            continue;
        for (uint16_t k = 0; k < n->nsave; k++) {
            const char *name = by_field ? n->save[k].field : c->set->var[n->save[k].var].name;
            if (strcmp(name, kv->name) == 0)
                menu_dialog_set(c->d, n->save[k].var, kv->value, strlen(kv->value));
        }
    }
}

static void on_http(struct ctx *c)
{
    const struct menu_node *n = &c->set->node[c->d->node];
    switch (c->in->event) {
    case MENU_EV_HTTP_OK:
        save_result(c, n, false);
        enter(c, n->next);
        return;
    case MENU_EV_HTTP_TIMEOUT:
        if (n->on_timeout != MENU_NONE)
            enter(c, n->on_timeout);
        else
            failed(c, n, MENU_MSG_TIMEOUT);
        return;
    default:
        failed(c, n, MENU_MSG_FAILURE);
        return;
    }
}

/* The text an app, booking or ambiguous status result carries ("" when
 * none), cut at a NUL. */
static const char *result_text(const struct ctx *c, size_t *len)
{
    *len = c->in->text ? strnlen(c->in->text, c->in->len) : 0;
    return c->in->text ? c->in->text : "";
}

/* A status result: save what it carries, go to the node's matching target. */
static void on_status(struct ctx *c)
{
    const struct menu_node *n = &c->set->node[c->d->node];
    switch (c->in->event) {
    case MENU_EV_STATUS_OK:
        save_result(c, n, true);
        enter(c, n->next);
        return;
    case MENU_EV_STATUS_NOT_FOUND:
        enter(c, n->on_notfound);
        return;
    case MENU_EV_STATUS_LOCKED:
        enter(c, n->on_locked);
        return;
    case MENU_EV_STATUS_AMBIGUOUS: {
        size_t tl;
        const char *t = result_text(c, &tl);
        if (tl)
            finish_text(c, t, tl);
        else
            failed(c, n, MENU_MSG_FAILURE);
        return;
    }
    default:
        failed(c, n, MENU_MSG_FAILURE);
        return;
    }
}

static void on_app(struct ctx *c)
{
    size_t tl;
    const char *t = result_text(c, &tl);
    if (c->in->event == MENU_EV_APP_CON)
        one_page(c, t, tl, MENU_W_APP_INPUT);     /* the app owns its keys */
    else if (c->in->event == MENU_EV_APP_END)
        finish_text(c, t, tl);
    else
        failed(c, &c->set->node[c->d->node], MENU_MSG_FAILURE);
}

static void on_app_input(struct ctx *c, const char *s, size_t len)
{
    struct menu_dialog *d = c->d;
    size_t need = len + (d->app_len ? 1 : 0);
    if (d->app_len + need > MENU_APP_TEXT_MAX || memchr(s, '\0', len)) {
        finish_msg(c, MENU_MSG_FAILURE);
        return;
    }
    if (d->app_len)
        d->app[d->app_len++] = '*';
    memcpy(d->app + d->app_len, s, len);
    d->app_len = (uint16_t)(d->app_len + len);
    d->app[d->app_len] = '\0';
    fx_app(c, &c->set->node[d->node]);
    d->wait = MENU_W_APP;
}

/* Leave the current node backwards, as the back key does on page 0. */
static void leave_back(struct ctx *c)
{
    struct menu_dialog *d = c->d;
    if (d->depth == 0) {
        go_home(c);
        return;
    }
    d->node = d->stack[--d->depth];
    d->page = 0;
    d->retries = 0;
    draw(c, false);
}

/* A booking turn's result. */
static void on_booking(struct ctx *c)
{
    size_t tl;
    const char *t = result_text(c, &tl);
    switch (c->in->event) {
    case MENU_EV_BOOKING_CON: {
        const char *state = NULL;
        for (size_t i = 0; i < c->in->nkv; i++)
            if (c->in->kv[i].name && strcmp(c->in->kv[i].name, "state") == 0)
                state = c->in->kv[i].value;
        size_t sl = state ? strlen(state) : 0;
        if (!state || sl > MENU_APP_TEXT_MAX || tl == 0) {
            finish_msg(c, MENU_MSG_FAILURE);
            return;
        }
        memcpy(c->d->app, state, sl);
        c->d->app[sl] = '\0';
        c->d->app_len = (uint16_t)sl;
        one_page(c, t, tl, MENU_W_BOOKING_INPUT); /* it carries its footer */
        return;
    }
    case MENU_EV_BOOKING_END:
        finish_text(c, t, tl);
        return;
    case MENU_EV_BOOKING_BACK:
        leave_back(c);
        return;
    default:
        failed(c, &c->set->node[c->d->node], MENU_MSG_FAILURE);
        return;
    }
}

static void on_booking_input(struct ctx *c, const char *s, size_t len)
{
    if (eq(s, len, c->set->key[MENU_KEY_HOME])) {
        go_home(c);
        return;
    }
    if (memchr(s, '\0', len) || len > MENU_APP_TEXT_MAX) {
        finish_msg(c, MENU_MSG_FAILURE);
        return;
    }
    c->out->show = false;
    c->out->end = false;
    const struct menu_node *n = &c->set->node[c->d->node];
    if (n->kind == MENU_K_APPEAL)
        fx_appeal(c, n, s, len);
    else
        fx_booking(c, n, s, len);
    c->d->wait = MENU_W_BOOKING;
}

static void show_resume(struct ctx *c)
{
    char buf[BODY_MAX];
    size_t n = render(c, text_of(c, c->set->msg[MENU_MSG_RESUME]), buf, sizeof buf, false);
    one_page(c, buf, n, MENU_W_RESUME);
}

static void on_resume(struct ctx *c, const char *s, size_t len)
{
    struct menu_dialog *d = c->d;
    if (eq(s, len, "1")) {
        d->wait = d->resume_wait;
        d->resume_wait = MENU_W_NONE;
        const struct menu_node *n = &c->set->node[d->node];
        switch (d->wait) {
        case MENU_W_HTTP:
        case MENU_W_STORE:
        case MENU_W_BOOKING:
        case MENU_W_BOOKING_INPUT:
        case MENU_W_APP:
        case MENU_W_APP_INPUT:
            /* the same call again (an app or a booking with its state) */
            d->wait = emit_effect(c, n);
            return;
        default: {
            uint8_t k = n->kind;
            if (k == MENU_K_MENU || k == MENU_K_INPUT || k == MENU_K_END)
                draw(c, false);
            else
                go_home(c);     /* nothing to show at this node: start over */
            return;
        }
        }
    }
    if (eq(s, len, "2")) {
        d->resume_wait = MENU_W_NONE;
        d->nvars = 0;
        d->app_len = 0;
        d->app[0] = '\0';
        go_home(c);
        return;
    }
    show_resume(c);
}

/* ---- start ---- */

static bool resumable(const struct ctx *c, uint16_t code)
{
    const struct menu_dialog *d = c->d;
    if (c->set->resume_seconds == 0 || d->code != code || d->node >= c->set->nnode)
        return false;
    if (d->wait != MENU_W_INPUT && d->wait != MENU_W_HTTP &&
        d->wait != MENU_W_STORE && d->wait != MENU_W_APP && d->wait != MENU_W_APP_INPUT &&
        d->wait != MENU_W_BOOKING && d->wait != MENU_W_BOOKING_INPUT)
        return false;
    if (c->in->now < d->last_active)
        return false;
    return c->in->now - d->last_active <= c->set->resume_seconds;
}

static void start(struct ctx *c)
{
    const struct menu_set *set = c->set;
    struct menu_dialog *d = c->d;
    const char *s = c->in->text ? c->in->text : "";
    size_t len = c->in->text ? c->in->len : 0;
    /* "*100*2*1#": tokens between '*', the trailing '#' dropped */
    while (len && (s[len - 1] == '#' || s[len - 1] == ' '))
        len--;
    while (len && (*s == '*' || *s == ' ')) {
        s++;
        len--;
    }
    const char *tok[16];
    size_t tl[16];
    size_t nt = 0;
    size_t i = 0;
    while (i <= len && nt < 16) {
        const char *st = memchr(s + i, '*', len - i);
        size_t e = st ? (size_t)(st - s) : len;
        tok[nt] = s + i;
        tl[nt] = e - i;
        nt++;
        i = e + 1;
        if (!st)
            break;
    }
    /* longest declared code that is a prefix of the dialled string */
    const struct menu_code *code = NULL;
    size_t used = 0;
    for (size_t k = nt; k >= 1 && !code; k--) {
        char buf[80];
        size_t n = 0;
        buf[0] = '\0';
        app(buf, sizeof buf, &n, "*", 1);
        for (size_t j = 0; j < k; j++) {
            if (j)
                app(buf, sizeof buf, &n, "*", 1);
            app(buf, sizeof buf, &n, tok[j], tl[j]);
        }
        app(buf, sizeof buf, &n, "#", 1);
        code = menu_set_find_code(set, buf, n);
        used = k;
    }
    uint16_t ci = code ? (uint16_t)(code - set->code) : MENU_NONE;
    if (code && resumable(c, ci)) {
        d->resume_wait = d->wait;
        show_resume(c);
        return;
    }
    struct menu_dialog fresh;
    menu_dialog_init(&fresh);
    *d = fresh;
    int li = menu_set_find_lang(set, c->in->lang);
    d->lang = li >= 0 ? (uint8_t)li : 0xFF;
    if (!code) {
        finish_msg(c, MENU_MSG_UNKNOWN_CODE);
        return;
    }
    d->code = ci;
    if (li < 0 && set->language_menu != MENU_NONE) {
        enter(c, set->language_menu);   /* shortcut inputs are not applied */
        return;
    }
    if (li < 0)
        d->lang = set->default_lang;
    enter(c, code->root);
    /* shortcut dial: apply the remaining tokens as typed menu choices */
    for (size_t k = used; k < nt; k++) {
        if (d->wait != MENU_W_INPUT || d->node >= set->nnode)
            break;
        const struct menu_node *n = &set->node[d->node];
        if (n->kind != MENU_K_MENU || !n->shortcut)
            break;
        if (!choose(c, tok[k], tl[k]))
            break;
    }
}

/* The nodes that run a booking-style sub-dialog (issue 12: appeals). */
#define BOOKING_KINDS (1u << MENU_K_BOOKING | 1u << MENU_K_APPEAL)

/* Effect results: event -> what the dialog must wait for, the node kinds
 * that wait so (1 << MENU_K_*), the handler.  The lower half of the
 * transition table at the top of this file. */
static const struct result_row {
    uint8_t wait;
    uint16_t kinds;
    void (*handle)(struct ctx *c);
} results[MENU_EV_BOOKING_FAIL + 1] = {
    [MENU_EV_HTTP_OK]          = { MENU_W_HTTP, 1u << MENU_K_HTTP, on_http },
    [MENU_EV_HTTP_FAIL]        = { MENU_W_HTTP, 1u << MENU_K_HTTP, on_http },
    [MENU_EV_HTTP_TIMEOUT]     = { MENU_W_HTTP, 1u << MENU_K_HTTP, on_http },
    [MENU_EV_APP_CON]          = { MENU_W_APP, 1u << MENU_K_APP, on_app },
    [MENU_EV_APP_END]          = { MENU_W_APP, 1u << MENU_K_APP, on_app },
    [MENU_EV_APP_FAIL]         = { MENU_W_APP, 1u << MENU_K_APP, on_app },
    [MENU_EV_STATUS_OK]        = { MENU_W_STORE, 1u << MENU_K_STATUS | 1u << MENU_K_SUBSCRIBE, on_status },
    [MENU_EV_STATUS_NOT_FOUND] = { MENU_W_STORE, 1u << MENU_K_STATUS | 1u << MENU_K_SUBSCRIBE, on_status },
    [MENU_EV_STATUS_LOCKED]    = { MENU_W_STORE, 1u << MENU_K_STATUS | 1u << MENU_K_SUBSCRIBE, on_status },
    [MENU_EV_STATUS_FAIL]      = { MENU_W_STORE, 1u << MENU_K_STATUS | 1u << MENU_K_SUBSCRIBE, on_status },
    [MENU_EV_STATUS_AMBIGUOUS] = { MENU_W_STORE, 1u << MENU_K_STATUS | 1u << MENU_K_SUBSCRIBE, on_status },
    [MENU_EV_BOOKING_CON]      = { MENU_W_BOOKING, BOOKING_KINDS, on_booking },
    [MENU_EV_BOOKING_END]      = { MENU_W_BOOKING, BOOKING_KINDS, on_booking },
    [MENU_EV_BOOKING_BACK]     = { MENU_W_BOOKING, BOOKING_KINDS, on_booking },
    [MENU_EV_BOOKING_FAIL]     = { MENU_W_BOOKING, BOOKING_KINDS, on_booking },
};

/* An answer typed by the caller, by what the dialog waits for. */
static int on_typed(struct ctx *c)
{
    const char *s = c->in->text ? c->in->text : "";
    size_t len = c->in->text ? c->in->len : 0;
    /* trim surrounding spaces */
    while (len && *s == ' ') {
        s++;
        len--;
    }
    while (len && s[len - 1] == ' ')
        len--;
    switch (c->d->wait) {
    case MENU_W_INPUT:
        on_input(c, s, len);
        return MENU_OK;
    case MENU_W_APP_INPUT:
        on_app_input(c, s, len);
        return MENU_OK;
    case MENU_W_BOOKING_INPUT:
        on_booking_input(c, s, len);
        return MENU_OK;
    case MENU_W_RESUME:
        on_resume(c, s, len);
        return MENU_OK;
    default:
        return MENU_EUNEXPECTED;
    }
}

int menu_step(const struct menu_set *set, struct menu_dialog *d,
              const struct menu_input *in, struct menu_output *out)
{
    if (!set || !d || !in || !out || set->nnode == 0)
        return MENU_EINVAL;
    no_screen(out);
    out->enc = MENU_ENC_GSM7;
    out->nfx = 0;
    out->arena_used = 0;
    struct ctx c = { set, d, in, out };
    bool valid_state = d->node < set->nnode && d->code < set->ncode;
    int rc = MENU_OK;
    if (in->event == MENU_EV_START) {
        start(&c);
    } else if (in->event == MENU_EV_INPUT) {
        rc = valid_state ? on_typed(&c) : MENU_EUNEXPECTED;
    } else if (in->event > MENU_EV_INPUT && in->event <= MENU_EV_BOOKING_FAIL) {
        const struct result_row *row = &results[in->event];
        if (!valid_state || d->wait != row->wait ||
            !(row->kinds >> set->node[d->node].kind & 1u))
            return MENU_EUNEXPECTED;
        row->handle(&c);
    } else {
        return MENU_EINVAL;
    }
    if (rc != MENU_OK)
        return rc;
    d->generation = set->generation;
    d->last_active = in->now;
    return MENU_OK;
}
