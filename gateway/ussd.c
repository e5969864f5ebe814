/*
 * gateway/ussd.c — USSD dialogs over SMPP; see ussd.h for what and why.
 *
 * One struct ussd_call per USSD PDU being answered.  Its life:
 *
 *   LOAD     dialog (and, on a dial, language) GETs outstanding
 *   STEP     menu_step ran; effects started
 *   WAIT     a back-end or app call is outstanding (fetch)
 *   COMMIT   the turn wrote to the SQL store (a booking, a menu SMS, a
 *            subscription, a lock-out counter): the screen waits for the
 *            store's commit (store_on_commit), which makes it durable
 *   SAVE     the dialog SET is outstanding; the screen waits for it
 *   DONE     answered; freed when no store request is outstanding
 *
 * Owns: the calls (a list on the service, so ussd_free can reach them),
 * the menu-set references they hold, one scratch struct menu_output (the
 * engine's output is consumed before the next step can run, and the loop
 * is single-threaded).  The dialog store has no cancel, so a call whose
 * store request (or SQL commit waiter) is outstanding is never freed
 * under it: `pending` counts them and the last callback frees a finished
 * call.  Fetch requests are cancelled (no callback follows).
 * May call: smpp/dialect, gateway/dialogs, gateway/fetch, gateway/store,
 * gateway/booking, gateway/appeals and gateway/appeal_screens (issue 12),
 * gateway/phone, gateway/notify, gateway/log, menus/step,
 * menus/dialog, menus/menu, smpp/pdu, libevent, libc.
 */
#include "gateway/ussd.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/queue.h>

#include "base/clock.h"
#include "base/metrics.h"
#include "gateway/appeal_screens.h"
#include "gateway/appeals.h"
#include "gateway/booking.h"
#include "gateway/dialogs.h"
#include "gateway/fetch.h"
#include "gateway/log.h"
#include "gateway/notify.h"
#include "gateway/phone.h"
#include "gateway/store.h"
#include "gateway/template.h"
#include "menus/dialog.h"
#include "menus/menu.h"
#include "menus/step.h"
#include "smpp/text.h"

#define CALL_DEADLINE_MS 20000      /* nothing a call waits for is longer */
#define LANG_TTL_MS (30u * 24 * 3600 * 1000)  /* language remembered 30 days */
#define WRAP_VERSION 1
#define SID_MAX 40
#define MENU_SMS_EXPIRY_MS (6 * 3600 * 1000LL)   /* a menu SMS, as a booking's */

enum call_state { C_LOAD = 0, C_STEP, C_WAIT, C_COMMIT, C_SAVE, C_DONE };

struct ussd_call {
    struct ussd_service *s;       /* NULL: the service is gone */
    LIST_ENTRY(ussd_call) entry;  /* on s->calls while c->s is set */
    enum call_state st;
    char link[40];
    const struct ussd_dialect *dialect;
    unsigned ttl_ms;
    struct ussd_in in;
    uint64_t t0_us;               /* arrival (kz_mono_us), for metrics */
    char phone[24];               /* "+" MSISDN, for the engine and apps */
    char dkey[DIALOGS_KEY_MAX + 1], lkey[DIALOGS_KEY_MAX + 1];
    int dkey_len, lkey_len;
    struct menu_set *set;         /* reference */
    struct menu_dialog dlg;
    char sid[SID_MAX];
    char lang[8];                 /* remembered language code, "" unknown */
    int pending;                  /* store requests outstanding */
    /* results of the loads */
    enum dialogs_status dst;
    uint8_t *blob;                /* copy of the stored value */
    size_t blob_len;
    /* back-end or app call */
    bool fetch_pending;
    fetch_id fid;
    int fx_kind;                  /* MENU_FX_HTTP or MENU_FX_APP */
    size_t nsave;
    const char *save_var[MENU_SAVE_MAX];   /* point into set */
    const char *save_field[MENU_SAVE_MAX];
    /* the screen waiting for the commit or the save */
    char screen[MENU_SCREEN_BUF];
    size_t screen_len;
    bool ucs2;
    bool end_screen;              /* it is a final screen */
    bool wrote;                   /* this turn wrote to the SQL store */
    struct event *deadline;
    struct booking_again *bk;     /* a booking turn to run again, or NULL */
};

/*
 * A booking turn that found the write lock held by another gateway
 * (BOOKING_BUSY: nothing changed) runs again from a timer, up to
 * BOOKING_TRIES times a few milliseconds apart: the loop never waits,
 * and the citizen who confirmed gets the booking or "just taken", not
 * "try again", unless the database stays locked.  The request's strings
 * are copied (the engine's output they came from is reused).
 */
#define BOOKING_TRIES 60
struct booking_again {
    struct event *ev;
    int tries;
    struct booking_req rq;        /* its strings point into this struct */
    char state[BOOKING_STATE_MAX + 1], input[MENU_APP_TEXT_MAX + 1];
    char phone[24], lang[8], fb[8], kb[MENU_KEY_MAX + 1], km[MENU_KEY_MAX + 1];
    char lb[200], lm[200];
};

struct ussd_service {
    struct event_base *base;
    struct dialogs *store;
    struct fetch *fetch;
    struct menu_set *set;
    struct ussd_ops ops;
    struct store *db;             /* status lookups; may be NULL */
    struct appeals_opts appeals;  /* issue 12: limit, expiry, counts */
    LIST_HEAD(, ussd_call) calls;
    struct ussd_stats st;
    struct kz_metrics *metrics;   /* ussd_metrics(); NULL: none */
    struct kz_hist *step_seconds; /* arrival to screen, each step */
    struct node_counts {          /* per node of a set: [0] the set in use,
                                   * [1] the one before (calls still on it) */
        const struct menu_set *set;
        struct kz_counter **visits, **answers;   /* nnode each */
        uint16_t n;
    } nc[2];
    uint64_t sid_counter;
    unsigned sid_salt;
    struct menu_output out;       /* scratch, see the top */
};

/* ---- texts the gateway itself says -------------------------------------- */

enum { T_UNAVAILABLE = 0, T_EXPIRED, T_FAILURE, T_COUNT };
static const struct {
    const char *lang;
    const char *text[T_COUNT];
} builtin_texts[] = {
    { "ky", { "Кызмат убактылуу иштебей турат. Кийинчерээк кайра териңиз.",
              "Сеанстын убактысы бүттү. Кызматты кайра териңиз.",
              "Ката кетти. Кийинчерээк кайра териңиз." } },
    { "ru", { "Сервис временно недоступен. Наберите позже.",
              "Время сеанса истекло. Наберите номер услуги снова.",
              "Произошла ошибка. Наберите позже." } },
    { "en", { "The service is temporarily unavailable. Please dial again later.",
              "Your session has expired. Please dial the service again.",
              "Something went wrong. Please dial again later." } },
};

static const char *builtin_text(const char *lang, int which)
{
    for (size_t i = 0; i < sizeof builtin_texts / sizeof builtin_texts[0]; i++)
        if (lang && strcmp(builtin_texts[i].lang, lang) == 0)
            return builtin_texts[i].text[which];
    return NULL;
}

/* The text in the call's language, else the set's default, else English. */
static const char *call_text(const struct ussd_call *c, int which)
{
    const char *t = builtin_text(c->lang, which);
    if (!t && c->dlg.lang != 0xFF && c->set && c->dlg.lang < c->set->nlang)
        t = builtin_text(c->set->lang[c->dlg.lang], which);
    if (!t && c->set)
        t = builtin_text(c->set->lang[c->set->default_lang], which);
    return t ? t : builtin_texts[2].text[which];
}

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* ---- call life ------------------------------------------------------------- */

static void call_unlink(struct ussd_call *c)
{
    struct ussd_service *s = c->s;
    if (!s)
        return;
    LIST_REMOVE(c, entry);
    if (s->st.in_flight > 0)
        s->st.in_flight--;
}

static void call_free(struct ussd_call *c)
{
    call_unlink(c);
    if (c->deadline)
        event_free(c->deadline);
    if (c->bk) {
        if (c->bk->ev)
            event_free(c->bk->ev);
        free(c->bk);
    }
    free(c->blob);
    menu_set_unref(c->set);
    free(c);
}

/* Mark c answered; free it now unless a store request still holds it. */
static void call_done(struct ussd_call *c)
{
    c->st = C_DONE;
    if (c->fetch_pending && c->s) {
        fetch_cancel(c->s->fetch, c->fid);
        c->fetch_pending = false;
    }
    if (c->deadline)
        event_del(c->deadline);
    if (c->bk && c->bk->ev)
        event_del(c->bk->ev);
    if (c->pending == 0)
        call_free(c);
}

static void log_call(const struct ussd_call *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_call(const struct ussd_call *c, int level, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg(level, c->link, "USSD %s: %s", log_mask(c->in.msisdn).s, msg);
}

/* Send a screen on the call's link. */
static void send_screen(struct ussd_call *c, const char *utf8, size_t len,
                        bool ucs2, bool end)
{
    struct ussd_service *s = c->s;
    if (!s)
        return;
    struct smpp_pdu pdu;
    struct ussd_reply_buf buf;
    char err[160];
    if (ussd_reply(c->dialect, &c->in, (const uint8_t *)utf8, len, ucs2, end,
                   &pdu, &buf, err, sizeof err) != 0) {
        s->st.errors++;
        log_call(c, KLOG_ERROR, "cannot build the screen: %s", err);
        if (!end)
            return;
        /* a final screen must still close the dialog on the network */
        const char *t = call_text(c, T_FAILURE);
        if (ussd_reply(c->dialect, &c->in, (const uint8_t *)t, strlen(t),
                       !is_ascii(t), true, &pdu, &buf, err, sizeof err) != 0)
            return;
    }
    if (s->ops.send(s->ops.ud, c->link, &pdu) != 0) {
        s->st.errors++;
        log_call(c, KLOG_WARN, "link gone; screen not sent");
        return;
    }
    if (end)
        s->st.ends++;
    else
        s->st.screens++;
    if (s->step_seconds && c->t0_us) {
        kz_hist_observe(s->step_seconds, (double)(kz_mono_us() - c->t0_us) / 1e6);
        c->t0_us = 0;           /* one observation per step */
    }
}

/* A built-in final screen (unavailable, expired, failure) and the end. */
static void end_with(struct ussd_call *c, int which)
{
    const char *t = call_text(c, which);
    send_screen(c, t, strlen(t), !is_ascii(t), true);
    call_done(c);
}

static void noop_cb(void *arg, const struct dialogs_result *r)
{
    const char *what = arg;
    if (r->status != DIALOGS_OK && r->status != DIALOGS_NOT_FOUND)
        log_msg(KLOG_WARN, NULL, "dialog store: %s failed: %s", what,
                r->error ? r->error : "?");
}

/* ---- the wrapped value ------------------------------------------------------ */
/* u8 version | u8 keylen | key | u8 sidlen | sid | engine blob */

static int wrap_encode(const struct ussd_call *c, uint8_t *out, size_t cap)
{
    size_t kl = strlen(c->in.key), sl = strlen(c->sid);
    if (3 + kl + sl > cap)
        return -1;
    size_t n = 0;
    out[n++] = WRAP_VERSION;
    out[n++] = (uint8_t)kl;
    memcpy(out + n, c->in.key, kl);
    n += kl;
    out[n++] = (uint8_t)sl;
    memcpy(out + n, c->sid, sl);
    n += sl;
    int bl = menu_dialog_encode(c->set, &c->dlg, out + n, cap - n);
    if (bl < 0)
        return -1;
    return (int)(n + (size_t)bl);
}

/* Decode c->blob into c->dlg, c->sid; *same_key says whether the stored
 * session key is the PDU's.  Returns MENU_OK or a MENU_E* value. */
static int wrap_decode(struct ussd_call *c, bool *same_key)
{
    const uint8_t *p = c->blob;
    size_t n = c->blob_len;
    if (n < 3 || p[0] != WRAP_VERSION)
        return MENU_ECORRUPT;
    size_t kl = p[1];
    if (2 + kl + 1 > n)
        return MENU_ECORRUPT;
    *same_key = kl == strlen(c->in.key) && memcmp(p + 2, c->in.key, kl) == 0;
    size_t sl = p[2 + kl];
    if (3 + kl + sl > n || sl >= SID_MAX)
        return MENU_ECORRUPT;
    memcpy(c->sid, p + 3 + kl, sl);
    c->sid[sl] = '\0';
    size_t off = 3 + kl + sl;
    return menu_dialog_decode(c->set, p + off, n - off, &c->dlg);
}

static void new_sid(struct ussd_service *s, struct ussd_call *c)
{
    snprintf(c->sid, sizeof c->sid, "kz-%x-%lx-%llx", s->sid_salt,
             (long)time(NULL), (unsigned long long)++s->sid_counter);
}

/* ---- stepping ----------------------------------------------------------------- */

static void run_step(struct ussd_call *c, struct menu_input *in);
static const struct node_counts *node_counts_of(const struct ussd_service *s,
                                                const struct menu_set *set);
static void node_counts_swap(struct ussd_service *s);
static void node_counts_retire(struct ussd_service *s, struct node_counts *nc);
static void node_counts_free(struct node_counts *nc);

/* A store request of c came back.  Returns true when c is finished (and
 * freed if this was its last request): the caller must not touch it. */
static bool call_settle(struct ussd_call *c)
{
    c->pending--;
    if (c->st != C_DONE && c->s)
        return false;
    if (c->pending == 0)
        call_free(c);
    return true;
}

static void on_saved(void *arg, const struct dialogs_result *r)
{
    struct ussd_call *c = arg;
    if (call_settle(c))
        return;
    if (r->status != DIALOGS_OK) {
        c->s->st.unavailable++;
        log_call(c, KLOG_WARN, "dialog not saved (%s); ending it",
                 r->error ? r->error : "store error");
        end_with(c, T_UNAVAILABLE);
        return;
    }
    send_screen(c, c->screen, c->screen_len, c->ucs2, false);
    call_done(c);
}

static void count_miss(struct ussd_call *c, const char *me);
static void live_date(const char *in, char *out, size_t cap);

/*
 * The answer of an agency's API to a live status node: 2xx with a JSON
 * "status" (and optionally "updated") is the application of this phone;
 * 404 is "none for this phone" (counted towards the lock-out like a local
 * miss); anything else is a failure of the service.
 */
static void live_status_result(struct ussd_call *c, const struct fetch_result *r,
                               struct menu_input *in, struct menu_kv *kv,
                               char *vals, size_t vcap, char *date, size_t dcap)
{
    in->event = MENU_EV_STATUS_FAIL;
    if (r->status == FETCH_HTTP_ERROR && r->http_code == 404) {
        in->event = MENU_EV_STATUS_NOT_FOUND;
        char me[STORE_MSISDN_MAX];
        if (phone_canon(c->phone, me, sizeof me) == 0)
            count_miss(c, me);
        return;
    }
    if (r->status != FETCH_DONE_OK) {
        log_call(c, KLOG_WARN, "live status: %s (HTTP %ld)%s%s",
                 fetch_status_name(r->status), r->http_code,
                 r->error && *r->error ? ": " : "", r->error ? r->error : "");
        return;
    }
    static const char *const fields[2] = { "status", "updated" };
    struct fetch_json_value jv[2];
    char err[160];
    if (fetch_json_map(r->body, r->body_len, fields, 2, MENU_VAL_MAX, vals, vcap,
                       jv, err, sizeof err) != FETCH_OK) {
        log_call(c, KLOG_WARN, "live status: answer unusable: %s", err);
        return;
    }
    if (jv[0].found != FETCH_JSON_FOUND || !jv[0].value[0]) {
        log_call(c, KLOG_WARN, "live status: answer without a \"status\"");
        return;
    }
    live_date(jv[1].found == FETCH_JSON_FOUND ? jv[1].value : "", date, dcap);
    kv[0].name = "status";
    kv[0].value = jv[0].value;
    kv[1].name = "updated";
    kv[1].value = date;
    in->kv = kv;
    in->nkv = 2;
    /* a success forgets no misses: the lock-out counts a sliding window */
    in->event = MENU_EV_STATUS_OK;
}

static void on_fetched(void *arg, const struct fetch_result *r)
{
    struct ussd_call *c = arg;
    c->fetch_pending = false;
    if (c->st == C_DONE || !c->s)
        return;
    struct menu_input in;
    memset(&in, 0, sizeof in);
    in.phone = c->phone;
    in.session_id = c->sid;
    in.lang = c->lang[0] ? c->lang : NULL;
    in.now = (uint32_t)time(NULL);
    struct menu_kv kv[MENU_SAVE_MAX];
    char vals[MENU_SAVE_MAX * (MENU_VAL_MAX + 1) + 64];
    char text[MENU_SCREEN_BUF];
    char date[48];
    if (c->fx_kind == MENU_FX_STATUS) {
        live_status_result(c, r, &in, kv, vals, sizeof vals, date, sizeof date);
    } else if (c->fx_kind == MENU_FX_HTTP) {
        if (r->status == FETCH_TIMEOUT) {
            in.event = MENU_EV_HTTP_TIMEOUT;
            log_call(c, KLOG_WARN, "back-end timed out after %u ms", r->elapsed_ms);
        } else if (r->status != FETCH_DONE_OK) {
            in.event = MENU_EV_HTTP_FAIL;
            log_call(c, KLOG_WARN, "back-end failed: %s (HTTP %ld): %s",
                     fetch_status_name(r->status), r->http_code,
                     r->error ? r->error : "");
        } else {
            struct fetch_json_value jv[MENU_SAVE_MAX];
            char err[160];
            int rc = fetch_json_map(r->body, r->body_len, c->save_field, c->nsave,
                                    MENU_VAL_MAX, vals, sizeof vals, jv, err, sizeof err);
            if (rc != FETCH_OK) {
                in.event = MENU_EV_HTTP_FAIL;
                log_call(c, KLOG_WARN, "back-end answer unusable: %s", err);
            } else {
                in.event = MENU_EV_HTTP_OK;
                size_t k = 0;
                for (size_t i = 0; i < c->nsave; i++)
                    if (jv[i].found == FETCH_JSON_FOUND) {
                        kv[k].name = c->save_var[i];
                        kv[k].value = jv[i].value;
                        k++;
                    }
                in.kv = kv;
                in.nkv = k;
            }
        }
    } else {
        struct fetch_app_reply ar;
        char err[160];
        if (r->status != FETCH_DONE_OK) {
            in.event = MENU_EV_APP_FAIL;
            log_call(c, KLOG_WARN, "app failed: %s (HTTP %ld): %s",
                     fetch_status_name(r->status), r->http_code,
                     r->error ? r->error : "");
        } else if (fetch_app_reply_parse(r->body, r->body_len, text, sizeof text, &ar,
                                         err, sizeof err) != FETCH_OK) {
            in.event = MENU_EV_APP_FAIL;
            log_call(c, KLOG_WARN, "app answer without CON/END: %s", err);
        } else {
            in.event = ar.end ? MENU_EV_APP_END : MENU_EV_APP_CON;
            in.text = text;
            in.len = ar.len;
        }
    }
    run_step(c, &in);
}

static int start_fetch(struct ussd_call *c, const struct menu_effect *fx)
{
    struct ussd_service *s = c->s;
    struct fetch_req req;
    memset(&req, 0, sizeof req);
    char form[1024];
    if (fx->kind == MENU_FX_APP) {
        /* The Africa's Talking-style contract, see protocol.md. */
        struct fetch_field f[] = {
            { "sessionId", fx->session_id }, { "serviceCode", fx->service_code },
            { "phoneNumber", fx->phone }, { "networkCode", c->link },
            { "text", fx->app_text },
        };
        size_t fl = 0;
        if (fetch_form_encode(f, 5, form, sizeof form, &fl) != FETCH_OK)
            return -1;
        req.method = "POST";
        req.body = form;
        req.body_len = fl;
        req.content_type = "application/x-www-form-urlencoded";
        s->st.app_calls++;
    } else if (fx->kind == MENU_FX_STATUS) {
        req.method = "GET";
        s->st.http_calls++;
    } else {
        req.method = fx->method;
        req.body = fx->body;
        req.body_len = fx->body ? strlen(fx->body) : 0;
        req.content_type = fx->content_type;
        c->nsave = fx->nsave;
        for (size_t i = 0; i < fx->nsave && i < MENU_SAVE_MAX; i++) {
            c->save_var[i] = fx->save_var[i];
            c->save_field[i] = fx->save_field[i];
        }
        s->st.http_calls++;
    }
    req.url = fx->url;
    req.timeout_ms = fx->timeout_ms ? fx->timeout_ms : 4000;
    c->fx_kind = fx->kind;
    int rc = fetch_start(s->fetch, &req, on_fetched, c, &c->fid);
    if (rc != FETCH_OK) {
        log_call(c, KLOG_WARN, "cannot call %s: %s", fx->url, fetch_strerror(rc));
        return -1;
    }
    c->fetch_pending = true;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a status lookup hands the engine: the buffers its result's kv and
 * text point into, the caller's until the result is fed. */
struct status_buf {
    struct menu_kv kv[2];
    struct store_app app;
    char date[48];
    char text[512];     /* the "several agencies" screen */
};

/*
 * The number typed at a status or subscribe node, among this phone's own
 * applications (notify_app_find: the plain number, else "CODE-number").
 * 1 with b->app when exactly one; 0 when none (not counted here); -1 when
 * *in is set: several (the screen asking for the agency's code, issue 14
 * item 6; no miss: they are all the phone's own) or a store failure.
 */
static int find_app(struct ussd_call *c, const struct menu_effect *fx,
                    const char *me, struct menu_input *in,
                    struct status_buf *b)
{
    const char *num = fx->number ? fx->number : "";
    if (!*num || strlen(num) >= STORE_CODE_MAX)
        return 0;
    struct notify_found found;
    int rc = notify_app_find(c->s->db, num, me, &found);
    if (rc != STORE_OK) {
        log_call(c, KLOG_WARN, "status: store: %s", store_rc_name(rc));
        return -1;      /* in->event is STATUS_FAIL */
    }
    if (found.n == 1) {
        b->app = found.app[0];
        return 1;
    }
    if (found.n == 0)
        return 0;
    char *t = notify_ambiguous_text(&found, fx->lang);
    if (!t)
        return -1;
    snprintf(b->text, sizeof b->text, "%s", t);
    free(t);
    in->event = MENU_EV_STATUS_AMBIGUOUS;
    in->text = b->text;
    in->len = strlen(b->text);
    return -1;
}

/*
 * The status effect, carried out at once against the SQLite store (see
 * ussd.h: short local calls).  Fills *in with the result event; its kv
 * and text point into b (the caller's).
 */
static void do_status(struct ussd_call *c, const struct menu_effect *fx,
                      struct menu_input *in, struct status_buf *b)
{
    struct ussd_service *s = c->s;
    s->st.status_lookups++;
    in->event = MENU_EV_STATUS_FAIL;
    if (!s->db) {
        log_call(c, KLOG_WARN, "status node but no store configured");
        return;
    }
    char me[STORE_MSISDN_MAX];
    if (phone_canon(fx->phone ? fx->phone : c->phone, me, sizeof me) < 0) {
        in->event = MENU_EV_STATUS_NOT_FOUND;
        return;
    }
    int64_t now = now_ms(), until = 0;
    int rc = store_lookup_locked(s->db, me, now, &until);
    if (rc != STORE_OK) {
        log_call(c, KLOG_WARN, "status: store: %s", store_rc_name(rc));
        return;
    }
    if (until > 0) {
        in->event = MENU_EV_STATUS_LOCKED;
        return;
    }
    memset(&b->app, 0, sizeof b->app);
    int found = find_app(c, fx, me, in, b);
    if (found < 0)
        return;
    if (found == 1) {
        /* a success forgets no misses: the lock-out counts a sliding window */
        time_t t = (time_t)(b->app.updated_at / 1000);
        struct tm tm;
        if (localtime_r(&t, &tm))
            snprintf(b->date, sizeof b->date, "%02d.%02d.%04d", tm.tm_mday,
                     tm.tm_mon + 1, tm.tm_year + 1900);
        else
            snprintf(b->date, sizeof b->date, "-");
        b->kv[0].name = "status";
        b->kv[0].value = b->app.status;
        b->kv[1].name = "updated";
        b->kv[1].value = b->date;
        in->kv = b->kv;
        in->nkv = 2;
        in->event = MENU_EV_STATUS_OK;
        return;
    }
    /* Not there, or not this phone's: the same answer, counted. */
    count_miss(c, me);
    in->event = MENU_EV_STATUS_NOT_FOUND;
}

/* A lookup that found nothing for this phone counts towards its lock-out. */
static void count_miss(struct ussd_call *c, const char *me)
{
    struct ussd_service *s = c->s;
    if (!s->db)
        return;
    int fails = 0;
    int64_t until = 0;
    int rc = store_lookup_failed(s->db, me, now_ms(), USSD_LOOKUP_WINDOW_MS,
                                 USSD_LOOKUP_MAX, USSD_LOOKUP_LOCK_MS, &fails, &until);
    if (rc != STORE_OK)
        log_call(c, KLOG_WARN, "status: failed lookup not counted: %s", store_rc_name(rc));
    else
        c->wrote = true;
    if (rc == STORE_OK && until > 0)
        log_call(c, KLOG_INFO, "status: %d failed lookups; locked out", fails);
}

/* "2026-11-20..." -> "20.11.2026"; anything else as it is (bounded). */
static void live_date(const char *in, char *out, size_t cap)
{
    int y, m, d;
    if (strlen(in) >= 10 && sscanf(in, "%4d-%2d-%2d", &y, &m, &d) == 3 &&
        in[4] == '-' && in[7] == '-' && m >= 1 && m <= 12 && d >= 1 && d <= 31)
        snprintf(out, cap, "%02d.%02d.%04d", d, m, y);
    else
        snprintf(out, cap, "%s", in);
}

/*
 * A live status node: the lock-out is the gateway's (the store), the
 * answer the agency's.  Returns 0 when the call is under way (the result
 * comes to on_fetched), or 1 with *in filled (locked out, or no call).
 */
static int live_status(struct ussd_call *c, const struct menu_effect *fx,
                       struct menu_input *in)
{
    struct ussd_service *s = c->s;
    s->st.status_lookups++;
    in->event = MENU_EV_STATUS_FAIL;
    char me[STORE_MSISDN_MAX];
    if (phone_canon(fx->phone ? fx->phone : c->phone, me, sizeof me) < 0) {
        in->event = MENU_EV_STATUS_NOT_FOUND;
        return 1;
    }
    int64_t until = 0;
    if (s->db && store_lookup_locked(s->db, me, now_ms(), &until) == STORE_OK &&
        until > 0) {
        in->event = MENU_EV_STATUS_LOCKED;
        return 1;
    }
    return start_fetch(c, fx) == 0 ? 0 : 1;
}

/*
 * The subscribe effect: only the owner of application `number` may turn
 * its SMS on or off; anyone else gets the status node's neutral "not
 * found", counted against the same lock-out.
 */
static void do_subscribe(struct ussd_call *c, const struct menu_effect *fx,
                         struct menu_input *in, struct status_buf *b)
{
    struct ussd_service *s = c->s;
    in->event = MENU_EV_STATUS_FAIL;
    if (!s->db) {
        log_call(c, KLOG_WARN, "subscribe node but no store configured");
        return;
    }
    /* the same ownership check and counting as a status lookup */
    do_status(c, fx, in, b);
    in->kv = NULL;
    in->nkv = 0;
    if (in->event != MENU_EV_STATUS_OK)
        return;
    char me[STORE_MSISDN_MAX], topic[NOTIFY_TOPIC_MAX];
    if (phone_canon(fx->phone ? fx->phone : c->phone, me, sizeof me) < 0) {
        in->event = MENU_EV_STATUS_NOT_FOUND;
        return;
    }
    /* the topic of that agency's application (issue 14 item 6) */
    notify_topic(b->app.agency_id, b->app.number, topic, sizeof topic);
    bool off = fx->mode == MENU_SUB_OFF;
    int rc = store_sub_mute(s->db, me, topic, off, now_ms());
    if (rc != STORE_OK) {
        log_call(c, KLOG_WARN, "subscribe: store: %s", store_rc_name(rc));
        in->event = MENU_EV_STATUS_FAIL;
        return;
    }
    c->wrote = true;
    s->st.subscribe_changes++;
    log_call(c, KLOG_INFO, "SMS of application %s turned %s by its owner",
             b->app.number, off ? "off" : "on");
}

/* A booking result as the engine's next event (strings stay in res). */
static void booking_event(struct ussd_call *c, struct booking_res *res,
                          struct menu_input *in, struct menu_kv *kv)
{
    struct ussd_service *s = c->s;
    switch (res->outcome) {
    case BOOKING_CON:
        in->event = MENU_EV_BOOKING_CON;
        in->text = res->screen;
        in->len = res->screen_len;
        kv->name = "state";
        kv->value = res->state;
        in->kv = kv;
        in->nkv = 1;
        break;
    case BOOKING_END:
    case BOOKING_BUSY:            /* given up: its "try again" text */
        in->event = MENU_EV_BOOKING_END;
        in->text = res->screen;
        in->len = res->screen_len;
        break;
    case BOOKING_BACK:
        in->event = MENU_EV_BOOKING_BACK;
        break;
    default:
        in->event = MENU_EV_BOOKING_FAIL;
        log_call(c, KLOG_WARN, "booking: %s", res->why[0] ? res->why : "failed");
        break;
    }
    if (res->booking_id)
        c->wrote = true;          /* its screen waits for the commit */
    if (res->booking_id && res->outcome == BOOKING_END) {
        s->st.bookings_made++;
        log_call(c, KLOG_INFO, "booking %" PRId64 " written", res->booking_id);
    }
    if (res->sms_id && s->ops.outbox_kick)
        s->ops.outbox_kick(s->ops.ud);
}

static void on_booking_again(evutil_socket_t fd, short what, void *arg);

/* One booking turn.  Returns 1 when it will run again from a timer (the
 * call waits), else 0 with res and *in filled. */
static int run_booking(struct ussd_call *c, const struct booking_req *rq,
                       struct booking_res *res, struct menu_input *in,
                       struct menu_kv *kv)
{
    struct ussd_service *s = c->s;
    s->st.booking_turns++;
    struct booking_req now = *rq;
    now.now_ms = now_ms();
    booking_step(s->db, &now, res);
    if (res->outcome == BOOKING_BUSY &&
        (!c->bk || c->bk->tries < BOOKING_TRIES)) {
        struct booking_again *b = c->bk;
        if (!b && (b = c->bk = calloc(1, sizeof *b)) != NULL) {
#define KEEP(dst, src) (snprintf((dst), sizeof (dst), "%s", (src) ? (src) : ""), (dst))
            b->rq = *rq;
            b->rq.state = KEEP(b->state, rq->state);
            b->rq.input = rq->input ? KEEP(b->input, rq->input) : NULL;
            b->rq.phone = KEEP(b->phone, rq->phone);
            b->rq.lang = KEEP(b->lang, rq->lang);
            b->rq.fallback_lang = KEEP(b->fb, rq->fallback_lang);
            b->rq.key_back = KEEP(b->kb, rq->key_back);
            b->rq.key_more = KEEP(b->km, rq->key_more);
            b->rq.label_back = KEEP(b->lb, rq->label_back);
            b->rq.label_more = KEEP(b->lm, rq->label_more);
#undef KEEP
            /* rq->services points into the menu set c holds */
            b->ev = evtimer_new(s->base, on_booking_again, c);
        }
        if (b && b->ev) {
            struct timeval tv = { 0, (3 + (long)(rand() % 15)) * 1000 };
            b->tries++;
            evtimer_add(b->ev, &tv);
            c->st = C_WAIT;
            return 1;
        }
    }
    if (res->outcome == BOOKING_BUSY)
        log_call(c, KLOG_WARN, "booking: the database stayed locked by another "
                 "process; the citizen is asked to try again");
    booking_event(c, res, in, kv);
    return 0;
}

/* The timer of a booking turn that found the database locked. */
static void on_booking_again(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ussd_call *c = arg;
    if (c->st == C_DONE || !c->s || !c->bk)
        return;
    struct booking_res *res = malloc(sizeof *res);
    struct menu_input in;
    memset(&in, 0, sizeof in);
    struct menu_kv kv;
    if (!res)
        in.event = MENU_EV_BOOKING_FAIL;
    else if (run_booking(c, &c->bk->rq, res, &in, &kv))
        goto out;                        /* again later */
    in.phone = c->phone;
    in.session_id = c->sid;
    in.now = (uint32_t)time(NULL);
    if (c->bk->tries > 1)
        log_call(c, KLOG_DEBUG, "booking turn done after %d tries", c->bk->tries);
    c->bk->tries = 0;
    run_step(c, &in);
out:
    free(res);
}

/* One turn of a booking node from the engine's effect.  Returns 1 when it
 * will run again from a timer, else 0 with *in filled. */
static int do_booking(struct ussd_call *c, const struct menu_effect *fx,
                      struct menu_input *in, struct menu_kv *kv,
                      struct booking_res *res)
{
    struct booking_req rq = {
        .mode = fx->mode == MENU_BOOK_MANAGE ? BOOKING_MANAGE : BOOKING_BOOK,
        .services = fx->services, .horizon_days = fx->days,
        .state = fx->state, .input = fx->input,
        .phone = fx->phone && *fx->phone ? fx->phone : c->phone,
        .lang = fx->lang, .fallback_lang = fx->fallback_lang,
        .key_back = fx->key_back, .key_more = fx->key_more,
        .label_back = fx->label_back, .label_more = fx->label_more,
        .texts = fx->booking_texts,
    };
    if (c->bk)
        c->bk->tries = 0;
    return run_booking(c, &rq, res, in, kv);
}

/* ---- appeals (issue 12) ------------------------------------------------------ */

/* A confirmed appeal: filed (its SMS with the reference queued) and the
 * final screen, shown once durable; or the daily limit's polite refusal.
 * The log names the category, never the text or (masked or not, for an
 * anonymous one) more of the phone than every USSD line does. */
static void appeal_file(struct ussd_call *c, const struct menu_effect *fx,
                        struct appeal_scr_res *r, struct menu_input *in)
{
    struct ussd_service *s = c->s;
    char me[STORE_MSISDN_MAX];
    in->event = MENU_EV_BOOKING_FAIL;
    if (!s->db || r->cat < 0 || (size_t)r->cat >= fx->appeal_ncats ||
        phone_canon(fx->phone && *fx->phone ? fx->phone : c->phone, me,
                    sizeof me) != 0)
        return;
    const struct menu_appeal_cat *cat = &fx->appeal_cats[r->cat];
    struct appeal_filing f = {
        .msisdn = me, .agency = cat->agency, .category = cat->id,
        .anonymous = cat->anonymous, .text = r->text, .lang = fx->lang,
        .channel = "ussd", .sender = c->in.service[0] ? c->in.service : NULL,
        .via = c->link,
    };
    struct appeal_filed res;
    int rc = appeals_file(s->db, &f, &s->appeals, false, now_ms(), &res);
    if (rc != STORE_OK) {
        log_call(c, KLOG_WARN, "appeal not filed: %s (%s)", store_rc_name(rc),
                 store_errmsg(s->db));
        return;
    }
    in->event = MENU_EV_BOOKING_END;
    if (res.outcome == APPEAL_LIMITED) {
        log_call(c, KLOG_INFO, "appeal refused: the daily limit");
        snprintf(r->screen, sizeof r->screen, "%s",
                 appeals_text(APPEALS_T_LIMITED, fx->lang));
    } else {
        char shown[APPEAL_REF_SHOW_MAX];
        appeal_ref_show(res.ref, shown);
        struct template_var v[] = { { "ref", shown } };
        template_render(appeal_scr_final(APPEAL_SCR_DONE, fx->lang), v, 1,
                        r->screen, sizeof r->screen);
        c->wrote = true;
        log_call(c, KLOG_INFO, "appeal filed in category %s (agency %s)",
                 cat->id, cat->agency);
        if (s->ops.outbox_kick)
            s->ops.outbox_kick(s->ops.ud);
    }
    in->text = r->screen;
    in->len = strlen(r->screen);
}

/* A reference typed on an appeal node in mode status: the caller's own
 * appeal's state, else the same answer as for one nobody has. */
static void appeal_status(struct ussd_call *c, const struct menu_effect *fx,
                          struct appeal_scr_res *r, struct menu_input *in)
{
    struct ussd_service *s = c->s;
    char me[STORE_MSISDN_MAX];
    bool found = false;
    in->event = MENU_EV_BOOKING_FAIL;
    if (!s->db || !fx->input ||
        phone_canon(fx->phone && *fx->phone ? fx->phone : c->phone, me,
                    sizeof me) != 0 ||
        appeals_status_text(s->db, me, fx->input, strlen(fx->input), fx->lang,
                            &s->appeals, r->screen, sizeof r->screen,
                            &found) != STORE_OK)
        return;
    in->event = MENU_EV_BOOKING_END;
    in->text = r->screen;
    in->len = strlen(r->screen);
}

/* One turn of an appeal node: the screens are gateway/appeal_screens'
 * (pure); a confirmed appeal or a typed reference goes to the store. */
static void do_appeal(struct ussd_call *c, const struct menu_effect *fx,
                      struct menu_input *in, struct menu_kv *kv,
                      struct appeal_scr_res *r)
{
    struct appeal_scr_req rq = {
        .status_mode = fx->mode == MENU_APPEAL_STATUS, .state = fx->state,
        .input = fx->input, .lang = fx->lang, .ncats = fx->appeal_ncats,
        .titles = fx->appeal_titles, .key_back = fx->key_back,
        .label_back = fx->label_back,
    };
    appeal_scr_turn(&rq, r);
    switch (r->outcome) {
    case APPEAL_SCR_CON:
        in->event = MENU_EV_BOOKING_CON;
        in->text = r->screen;
        in->len = strlen(r->screen);
        kv->name = "state";
        kv->value = r->state;
        in->kv = kv;
        in->nkv = 1;
        return;
    case APPEAL_SCR_BACK:
        in->event = MENU_EV_BOOKING_BACK;
        return;
    case APPEAL_SCR_FILE:
        appeal_file(c, fx, r, in);
        return;
    default:
        appeal_status(c, fx, r, in);
        return;
    }
}

/* The dialog of an ended call was dropped from the store. */
static void on_saved_del(void *arg, const struct dialogs_result *r)
{
    struct ussd_call *c = arg;
    c->pending--;
    if (r->status != DIALOGS_OK && r->status != DIALOGS_NOT_FOUND)
        log_call(c, KLOG_WARN, "ended dialog not removed from the store: %s",
                 r->error ? r->error : "?");
    if (c->st == C_DONE && c->pending == 0)
        call_free(c);
}

/* Feed an event back into the engine for the call (the next step). */
static void feed(struct ussd_call *c, struct menu_input *in)
{
    in->phone = c->phone;
    in->session_id = c->sid;
    in->now = (uint32_t)time(NULL);
    run_step(c, in);
}

/* A status node: the store's answer (or the agency's, later) fed back.
 * The next step overwrites s->out: nothing after this effect is read (a
 * status node is the last thing a step does). */
static void effect_status(struct ussd_call *c, const struct menu_effect *fx,
                          bool waiting)
{
    struct menu_input in;
    memset(&in, 0, sizeof in);
    struct status_buf b;
    if (waiting) {
        in.event = MENU_EV_STATUS_FAIL;
    } else if (fx->url) {
        if (live_status(c, fx, &in) == 0) {
            c->st = C_WAIT;   /* the agency's answer comes later */
            return;
        }
    } else {
        do_status(c, fx, &in, &b);
    }
    feed(c, &in);
}

/* A subscribe or booking node: its result fed back (as for status, the
 * last thing the step did). */
static void effect_write(struct ussd_call *c, const struct menu_effect *fx,
                         bool waiting)
{
    struct menu_input in;
    memset(&in, 0, sizeof in);
    struct menu_kv kv;
    struct status_buf b;
    struct booking_res *res = NULL;
    struct appeal_scr_res *ar = NULL;
    if (waiting) {
        in.event = fx->kind != MENU_FX_SUBSCRIBE ? MENU_EV_BOOKING_FAIL
                                                 : MENU_EV_STATUS_FAIL;
    } else if (fx->kind == MENU_FX_SUBSCRIBE) {
        do_subscribe(c, fx, &in, &b);
    } else if (fx->kind == MENU_FX_APPEAL) {           /* issue 12 */
        if ((ar = malloc(sizeof *ar)) == NULL)
            in.event = MENU_EV_BOOKING_FAIL;
        else
            do_appeal(c, fx, &in, &kv, ar);
    } else if ((res = malloc(sizeof *res)) == NULL) {
        in.event = MENU_EV_BOOKING_FAIL;
    } else if (do_booking(c, fx, &in, &kv, res)) {
        free(res);            /* runs again from its timer */
        return;
    }
    feed(c, &in);
    free(res);
    free(ar);
}

/*
 * A menu `sms` node: the SMS goes into the durable outbox like every other
 * (sent, retried and its receipt tracked there), from the dialled service
 * code and preferably on the link the dialog came in on; the screen after
 * it waits for the commit that makes it durable (c->wrote).  It answers
 * the citizen's own dialog, so the opt-out does not hold it back (as for
 * a keyword's reply).
 */
static void effect_sms(struct ussd_call *c, const struct menu_effect *fx)
{
    struct ussd_service *s = c->s;
    char to[STORE_MSISDN_MAX];
    if (!s->db) {
        log_call(c, KLOG_WARN, "SMS from the menu not sent: no store");
        return;
    }
    if (!fx->to || !fx->text ||
        phone_canon(fx->to, to, sizeof to) != 0) {
        log_call(c, KLOG_WARN, "SMS from the menu not sent: no number");
        return;
    }
    int64_t now = now_ms();
    struct store_msg_new m = {
        .client = "kyzmat", .to = to, .text = fx->text,
        .lang = c->lang[0] ? c->lang : NULL, .law_required = true,
        .not_before = now, .expires_at = now + MENU_SMS_EXPIRY_MS,
        .sender = c->in.service[0] ? c->in.service : NULL, .via = c->link,
    };
    int64_t id = 0;
    int rc = store_enqueue(s->db, &m, now, &id);
    if (rc != STORE_OK) {
        log_call(c, KLOG_WARN, "SMS from the menu not queued: %s (%s)",
                 store_rc_name(rc), store_errmsg(s->db));
        return;
    }
    c->wrote = true;
    log_call(c, KLOG_DEBUG, "SMS from the menu queued as message %" PRId64, id);
    if (s->ops.outbox_kick)
        s->ops.outbox_kick(s->ops.ud);
}

/* Show c->screen: a final one (and drop the dialog), or save first, then
 * show: the answer to this screen may reach another gateway, which must
 * find the state. */
static void show(struct ussd_call *c, bool end)
{
    struct ussd_service *s = c->s;
    if (end) {
        send_screen(c, c->screen, c->screen_len, c->ucs2, true);
        c->pending++;
        dialogs_del(s->store, c->dkey, (size_t)c->dkey_len, on_saved_del, c);
        call_done(c);
        return;
    }
    uint8_t blob[MENU_DIALOG_BLOB_MAX + 128];
    int bl = wrap_encode(c, blob, sizeof blob);
    if (bl < 0) {
        s->st.errors++;
        log_call(c, KLOG_ERROR, "dialog does not encode");
        end_with(c, T_FAILURE);
        return;
    }
    c->st = C_SAVE;
    c->pending++;
    if (dialogs_set(s->store, c->dkey, (size_t)c->dkey_len, blob, (size_t)bl,
                    c->ttl_ms, on_saved, c) != 0) {
        c->pending--;
        s->st.unavailable++;
        end_with(c, T_UNAVAILABLE);
    }
}

/* The store's commit waiter of a turn that wrote: show its screen once the
 * writes are durable, else say the service is unavailable. */
static void on_committed(void *arg, int rc)
{
    struct ussd_call *c = arg;
    if (call_settle(c))
        return;
    c->wrote = false;
    if (rc != STORE_OK) {
        c->s->st.unavailable++;
        log_call(c, KLOG_WARN, "not stored (%s: the commit failed); ending "
                 "the dialog", store_rc_name(rc));
        end_with(c, T_UNAVAILABLE);
        return;
    }
    show(c, c->end_screen);
}

/* The step's screen: shown now, or once the turn's writes are durable. */
static void show_output(struct ussd_call *c, const struct menu_output *out)
{
    struct ussd_service *s = c->s;
    if (!out->show) {
        s->st.errors++;
        log_call(c, KLOG_ERROR, "menu step gave no screen and waits for nothing");
        end_with(c, T_FAILURE);
        return;
    }
    memcpy(c->screen, out->screen, out->screen_len);
    c->screen_len = out->screen_len;
    c->ucs2 = out->enc == MENU_ENC_UCS2;
    c->end_screen = out->end;
    if (!c->wrote) {
        show(c, out->end);
        return;
    }
    /* what the screen confirms (a booking, an SMS, a setting) must be
     * durable before it is shown */
    c->st = C_COMMIT;
    c->pending++;
    if (store_on_commit(s->db, on_committed, c) != STORE_OK) {
        c->pending--;
        s->st.unavailable++;
        end_with(c, T_UNAVAILABLE);
    }
}

/* Carry out the engine's output in s->out. */
static void handle_output(struct ussd_call *c)
{
    struct ussd_service *s = c->s;
    struct menu_output *out = &s->out;
    bool waiting = false;
    for (size_t i = 0; i < out->nfx; i++) {
        const struct menu_effect *fx = &out->fx[i];
        switch (fx->kind) {
        case MENU_FX_STORE_LANG:
            if (fx->lang && c->lkey_len > 0) {
                snprintf(c->lang, sizeof c->lang, "%s", fx->lang);
                dialogs_set(s->store, c->lkey, (size_t)c->lkey_len, fx->lang,
                            strlen(fx->lang), LANG_TTL_MS, noop_cb,
                            (void *)"saving a language");
            }
            break;
        case MENU_FX_SMS:
            effect_sms(c, fx);
            break;
        case MENU_FX_STATUS:
            effect_status(c, fx, waiting);
            return;
        case MENU_FX_SUBSCRIBE:
        case MENU_FX_BOOKING:
        case MENU_FX_APPEAL:            /* issue 12 */
            effect_write(c, fx, waiting);
            return;
        case MENU_FX_HTTP:
        case MENU_FX_APP:
            if (waiting || start_fetch(c, fx) != 0) {
                /* fed back as a failure: the menu's fallback applies;
                 * later effects of this output are dropped with it */
                struct menu_input in;
                memset(&in, 0, sizeof in);
                in.event = fx->kind == MENU_FX_APP ? MENU_EV_APP_FAIL
                                                   : MENU_EV_HTTP_FAIL;
                feed(c, &in);
                return;
            }
            waiting = true;
            break;
        default:
            break;
        }
    }
    if (waiting) {
        c->st = C_WAIT;
        return;
    }
    show_output(c, out);
}

static void run_step(struct ussd_call *c, struct menu_input *in)
{
    c->st = C_STEP;
    const struct node_counts *nc = node_counts_of(c->s, c->set);
    if (nc && in->event == MENU_EV_INPUT && c->dlg.node < nc->n)
        kz_counter_add(nc->answers[c->dlg.node], 1);
    uint16_t was = c->dlg.node;
    int rc = menu_step(c->set, &c->dlg, in, &c->s->out);
    if (nc && rc == MENU_OK && c->dlg.node < nc->n &&
        (c->dlg.node != was || in->event != MENU_EV_INPUT))
        kz_counter_add(nc->visits[c->dlg.node], 1);
    if (rc != MENU_OK) {
        c->s->st.errors++;
        log_call(c, rc == MENU_EUNEXPECTED ? KLOG_INFO : KLOG_ERROR,
                 "menu step refused the event (%d)", rc);
        end_with(c, rc == MENU_EUNEXPECTED ? T_EXPIRED : T_FAILURE);
        return;
    }
    handle_output(c);
}

/* ---- loading -------------------------------------------------------------------- */

/* The language arrived for an "expired" answer: say it in that language. */
static void on_lang_expired(void *arg, const struct dialogs_result *r)
{
    struct ussd_call *c = arg;
    if (call_settle(c))
        return;
    if (r->status == DIALOGS_OK && r->len > 0 && r->len < sizeof c->lang) {
        memcpy(c->lang, r->value, r->len);
        c->lang[r->len] = '\0';
    }
    end_with(c, T_EXPIRED);
}

static void after_load(struct ussd_call *c)
{
    struct ussd_service *s = c->s;
    if (c->dst == DIALOGS_UNAVAILABLE || c->dst == DIALOGS_TIMEOUT ||
        c->dst == DIALOGS_ERROR) {
        s->st.unavailable++;
        log_call(c, KLOG_WARN, "dialog store unavailable; told the subscriber");
        end_with(c, T_UNAVAILABLE);
        return;
    }
    bool found = false;
    if (c->dst == DIALOGS_OK) {
        bool same_key = false;
        int rc = wrap_decode(c, &same_key);
        if (rc == MENU_OK && (same_key || c->in.kind == USSD_START))
            found = true;
        else if (rc != MENU_OK)
            log_call(c, KLOG_INFO, "stored dialog unusable (%s); starting over",
                     rc == MENU_ESTALE ? "menu changed" : "corrupt");
    }
    if (!found) {
        if (c->in.kind == USSD_CONTINUE) {
            s->st.expired++;
            log_call(c, KLOG_INFO, "answer to an expired dialog");
            c->pending++;
            if (c->lang[0] || c->lkey_len <= 0 ||
                dialogs_get(s->store, c->lkey, (size_t)c->lkey_len, on_lang_expired,
                            c) != 0) {
                c->pending--;
                end_with(c, T_EXPIRED);
            }
            return;
        }
        menu_dialog_init(&c->dlg);
        new_sid(s, c);
    }
    struct menu_input in;
    memset(&in, 0, sizeof in);
    in.event = c->in.kind == USSD_START ? MENU_EV_START : MENU_EV_INPUT;
    in.text = (const char *)c->in.text;
    in.len = c->in.text_len;
    in.phone = c->phone;
    in.session_id = c->sid;
    in.lang = c->lang[0] ? c->lang : NULL;
    in.now = (uint32_t)time(NULL);
    run_step(c, &in);
}

static void on_loaded(struct ussd_call *c)
{
    if (--c->pending > 0)
        return;
    if (c->st == C_DONE || !c->s) {
        call_free(c);
        return;
    }
    after_load(c);
}

static void on_dialog(void *arg, const struct dialogs_result *r)
{
    struct ussd_call *c = arg;
    c->dst = r->status;
    if (r->status == DIALOGS_OK && r->len > 0 && c->st != C_DONE) {
        c->blob = malloc(r->len);
        if (c->blob) {
            memcpy(c->blob, r->value, r->len);
            c->blob_len = r->len;
        } else {
            c->dst = DIALOGS_ERROR;
        }
    } else if (r->status == DIALOGS_OK) {
        c->dst = DIALOGS_NOT_FOUND;
    }
    on_loaded(c);
}

static void on_lang(void *arg, const struct dialogs_result *r)
{
    struct ussd_call *c = arg;
    if (r->status == DIALOGS_OK && r->len > 0 && r->len < sizeof c->lang) {
        memcpy(c->lang, r->value, r->len);
        c->lang[r->len] = '\0';
    }
    on_loaded(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ussd_call *c = arg;
    if (c->st == C_DONE)
        return;
    c->s->st.errors++;
    log_call(c, KLOG_WARN, "no answer within %d ms; ending the dialog", CALL_DEADLINE_MS);
    end_with(c, T_FAILURE);
}

int ussd_deliver(struct ussd_service *s, const char *link,
                 const struct ussd_dialect *dialect,
                 unsigned session_timeout_ms, const struct smpp_pdu *pdu)
{
    struct ussd_call *c = calloc(1, sizeof *c);
    if (!c) {
        log_msg(KLOG_ERROR, link, "USSD: out of memory");
        return smpp_tlv_find(pdu, SMPP_TLV_USSD_SERVICE_OP) ? 1 : 0;
    }
    c->t0_us = s->step_seconds ? kz_mono_us() : 0;
    char err[160];
    if (ussd_classify(dialect, pdu, &c->in, err, sizeof err) != 0) {
        s->st.errors++;
        log_msg(KLOG_WARN, link, "USSD from %s ignored: %s",
                log_mask(pdu->source_addr).s, err);
        free(c);
        return 1;
    }
    if (c->in.kind == USSD_NOT) {
        free(c);
        return 0;
    }
    snprintf(c->link, sizeof c->link, "%s", link);
    c->s = s;
    c->dialect = dialect;
    c->ttl_ms = session_timeout_ms ? session_timeout_ms : DIALOGS_DEFAULT_TTL_MS;
    snprintf(c->phone, sizeof c->phone, "+%s",
             c->in.msisdn[0] == '+' ? c->in.msisdn + 1 : c->in.msisdn);
    c->dkey_len = dialogs_key(c->dkey, sizeof c->dkey, DIALOGS_KEY_DIALOG,
                              c->in.msisdn, NULL);
    c->lkey_len = dialogs_key(c->lkey, sizeof c->lkey, DIALOGS_KEY_LANG,
                              c->in.msisdn, NULL);
    if (c->dkey_len < 0) {
        s->st.errors++;
        log_msg(KLOG_WARN, link, "USSD from %s ignored: not a phone number",
                log_mask(c->in.msisdn).s);
        free(c);
        return 1;
    }
    if (c->in.kind == USSD_OTHER) {
        free(c);
        return 1;
    }
    if (c->in.kind == USSD_ABORT) {
        s->st.aborts++;
        /* Nothing is sent.  The saved dialog is left to its TTL: a
         * citizen whose call dropped and who dials again soon is offered
         * to continue (the menu set's resume_seconds). */
        log_msg(KLOG_INFO, link, "USSD %s: released by the network (op %u)",
                log_mask(c->in.msisdn).s, c->in.op);
        free(c);
        return 1;
    }
    if (c->in.kind == USSD_START)
        s->st.starts++;
    else
        s->st.continues++;
    c->set = menu_set_ref(s->set);
    LIST_INSERT_HEAD(&s->calls, c, entry);
    s->st.in_flight++;
    c->deadline = evtimer_new(s->base, on_deadline, c);
    if (c->deadline) {
        struct timeval tv = { CALL_DEADLINE_MS / 1000, (CALL_DEADLINE_MS % 1000) * 1000 };
        evtimer_add(c->deadline, &tv);
    }
    c->st = C_LOAD;
    c->pending = 1;
    if (c->in.kind == USSD_START && c->lkey_len > 0)
        c->pending = 2;
    int rc = dialogs_get(s->store, c->dkey, (size_t)c->dkey_len, on_dialog, c);
    if (rc != 0) {
        c->pending = 0;
        s->st.unavailable++;
        end_with(c, T_UNAVAILABLE);
        return 1;
    }
    if (c->pending == 2 &&
        dialogs_get(s->store, c->lkey, (size_t)c->lkey_len, on_lang, c) != 0)
        c->pending--;
    return 1;
}

/* ---- USSN push ------------------------------------------------------------------- */

int ussd_push(struct ussd_service *s, const char *link,
              const struct ussd_dialect *dialect, const char *from,
              const char *msisdn, const char *utf8, char *err, size_t errlen)
{
    size_t len = strlen(utf8);
    struct smpp_text_choice ch;
    size_t off = 0;
    if (smpp_text_choose((const uint8_t *)utf8, len, 0, &ch, &off) != SMPP_TEXT_OK) {
        snprintf(err, errlen, "text is not valid UTF-8 (byte %zu)", off);
        return -1;
    }
    struct smpp_pdu pdu;
    struct ussd_reply_buf buf;
    if (ussd_notice(dialect, msisdn, from, (const uint8_t *)utf8, len,
                    ch.enc == SMPP_ENC_UCS2, &pdu, &buf, err, errlen) != 0)
        return -1;
    if (s->ops.send(s->ops.ud, link, &pdu) != 0) {
        snprintf(err, errlen, "link %s is not there", link);
        return -1;
    }
    s->st.pushes++;
    log_msg(KLOG_INFO, link, "USSD notice to %s (%zu characters)",
            log_mask(msisdn).s, ch.chars);
    return 0;
}

/* ---- the service ----------------------------------------------------------------- */

struct ussd_service *ussd_new(struct event_base *base, struct dialogs *store,
                              struct fetch *fetch, struct menu_set *set,
                              const struct ussd_ops *ops)
{
    struct ussd_service *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    LIST_INIT(&s->calls);
    s->base = base;
    s->store = store;
    s->fetch = fetch;
    s->set = menu_set_ref(set);
    s->ops = *ops;
    s->sid_salt = (unsigned)getpid() ^ (unsigned)time(NULL);
    return s;
}

void ussd_set_menus(struct ussd_service *s, struct menu_set *set)
{
    struct menu_set *old = s->set;
    s->set = menu_set_ref(set);
    if (s->metrics)
        node_counts_swap(s);
    menu_set_unref(old);
}

void ussd_set_store(struct ussd_service *s, struct store *st)
{
    s->db = st;
}

void ussd_set_appeals(struct ussd_service *s, const struct appeals_opts *o)
{
    s->appeals = *o;
}

void ussd_get_stats(const struct ussd_service *s, struct ussd_stats *out)
{
    *out = s->st;
}

void ussd_free(struct ussd_service *s)
{
    if (!s)
        return;
    struct ussd_call *c = LIST_FIRST(&s->calls);
    while (c) {
        struct ussd_call *next = LIST_NEXT(c, entry);
        if (c->fetch_pending) {
            fetch_cancel(s->fetch, c->fid);
            c->fetch_pending = false;
        }
        c->s = NULL;              /* off the list: call_unlink leaves it */
        c->st = C_DONE;
        if (c->deadline) {
            event_free(c->deadline);
            c->deadline = NULL;
        }
        if (c->bk && c->bk->ev) {
            event_free(c->bk->ev);
            c->bk->ev = NULL;
        }
        /* a call with a store request outstanding is freed by its
         * callback (dialogs_free answers every request) */
        if (c->pending == 0)
            call_free(c);
        c = next;
    }
    LIST_INIT(&s->calls);
    menu_set_unref(s->set);
    if (s->metrics) {
        kz_metrics_retire_range(s->metrics, s, sizeof *s);
        kz_metrics_retire(s->metrics, s->step_seconds);
        node_counts_retire(s, &s->nc[0]);
    }
    for (int k = 0; k < 2; k++)
        node_counts_free(&s->nc[k]);
    free(s);
}

/* ---- metrics (issue 11) ------------------------------------------------ */

static double m_in_flight(void *a) { return ((struct ussd_service *)a)->st.in_flight; }

/* The node counters of set (the one in use, or the one before), or NULL
 * (no metrics, or a call on an older set: not counted). */
static const struct node_counts *node_counts_of(const struct ussd_service *s,
                                                const struct menu_set *set)
{
    for (int k = 0; k < 2; k++)
        if (s->nc[k].set && s->nc[k].set == set)
            return &s->nc[k];
    return NULL;
}

static void node_counts_free(struct node_counts *nc)
{
    free(nc->visits);
    free(nc->answers);
    memset(nc, 0, sizeof *nc);
}

static void node_counts_retire(struct ussd_service *s, struct node_counts *nc)
{
    for (uint16_t i = 0; i < nc->n; i++) {
        kz_metrics_retire(s->metrics, nc->visits[i]);
        kz_metrics_retire(s->metrics, nc->answers[i]);
    }
}

/* Register the counters of s->set's nodes (a node kept across a reload,
 * by id, keeps its counts: the registry revives its series); the old
 * set's move to nc[1] (their series are left out of scrapes unless the
 * new set has the node too).  A refusal costs the counts, logged. */
static void node_counts_swap(struct ussd_service *s)
{
    node_counts_free(&s->nc[1]);
    node_counts_retire(s, &s->nc[0]);
    s->nc[1] = s->nc[0];
    memset(&s->nc[0], 0, sizeof s->nc[0]);
    struct node_counts *nc = &s->nc[0];
    uint16_t n = s->set->nnode;
    nc->visits = calloc(n ? n : 1, sizeof *nc->visits);
    nc->answers = calloc(n ? n : 1, sizeof *nc->answers);
    char err[160] = "out of memory";
    bool ok = nc->visits && nc->answers;
    for (uint16_t i = 0; ok && i < n; i++) {
        struct kz_label l = { "node", s->set->node[i].id };
        nc->visits[i] = kz_metrics_counter(s->metrics, "kyzmat_ussd_node_visits_total",
                                           "Times a dialog came to the menu node.",
                                           &l, 1, err, sizeof err);
        nc->answers[i] = kz_metrics_counter(s->metrics, "kyzmat_ussd_node_answers_total",
                                            "Answers citizens typed at the menu node "
                                            "(visits less answers: drop-offs).",
                                            &l, 1, err, sizeof err);
        ok = nc->visits[i] && nc->answers[i];
        nc->n = (uint16_t)(i + 1);
    }
    if (!ok) {
        log_msg(KLOG_WARN, "ussd", "menu node metrics: %s", err);
        node_counts_retire(s, nc);
        node_counts_free(nc);
        return;
    }
    nc->set = s->set;
}

int ussd_metrics(struct ussd_service *s, struct kz_metrics *m,
                 const char *menu_set, char *err, size_t errlen)
{
    const struct {
        const char *outcome;
        const uint64_t *count;
    } ends[] = {
        { "started", &s->st.starts }, { "completed", &s->st.ends },
        { "timed_out", &s->st.expired }, { "aborted", &s->st.aborts },
        { "unavailable", &s->st.unavailable }, { "error", &s->st.errors },
    };
    static const double le[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
    s->metrics = m;
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        struct kz_label l[] = { { "menu_set", menu_set },
                                { "event", ends[i].outcome } };
        if (kz_metrics_counter_u64(m, "kyzmat_ussd_dialogs_total", "USSD dialogs "
                                   "by menu set and event: started (a dial), "
                                   "completed (a final screen), timed_out, "
                                   "aborted (by the network), unavailable (told "
                                   "to dial later), error.", l, 2, ends[i].count,
                                   err, errlen) != 0)
            return -1;
    }
    if (kz_metrics_counter_u64(m, "kyzmat_ussd_screens_total", "USSD screens "
                               "sent that wait for an answer.", NULL, 0,
                               &s->st.screens, err, errlen) != 0 ||
        kz_metrics_gauge_fn(m, "kyzmat_ussd_in_flight", "USSD steps being "
                            "answered now.", NULL, 0, m_in_flight, s, err,
                            errlen) != 0)
        return -1;
    node_counts_swap(s);
    s->step_seconds = kz_metrics_histogram(m, "kyzmat_ussd_step_seconds",
                                           "From a USSD PDU's arrival to the "
                                           "screen that answers it.", NULL, 0,
                                           le, sizeof le / sizeof le[0], err,
                                           errlen);
    return s->step_seconds ? 0 : -1;
}
