/*
 * gateway/appeal_screens.c — a USSD appeal node's screens and sub-dialog
 * (see appeal_screens.h).  Owns nothing; pure.
 * May call: base/utf8, gateway/template, libc.
 */
#include "gateway/appeal_screens.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/utf8.h"
#include "gateway/template.h"

#define TEXT_MIN 3                  /* characters, as appeals.h's */
#define SCREEN_CHARS 80             /* one UCS-2 USSD screen */

enum scr {
    S_CATEGORY = 0, S_WRITE, S_MORE, S_SEND, S_CONFIRM, S_YES, S_REWRITE,
    S_TOO_LONG, S_SHORT, S_INVALID, S_REF, S_COUNT
};

/* ky, ru, en */
static const char *const scr_text[S_COUNT][3] = {
    [S_CATEGORY] = { "Кайрылуунун темасын тандаңыз:", "Выберите тему обращения:",
                     "Choose the subject:" },
    [S_WRITE] = { "Кайрылууңузду жазыңыз (бөлүктөп жазса болот):",
                  "Напишите обращение (можно по частям):",
                  "Write your appeal (you may send it in parts):" },
    [S_MORE] = { "Кошулду ({n} белги). Улантыңыз же:",
                 "Добавлено ({n} зн.). Дальше или:",
                 "Added ({n} characters). More, or:" },
    [S_SEND] = { "1 Жөнөтүү", "1 Отправить", "1 Send" },
    [S_CONFIRM] = { "Кайрылууну жөнөтөбүзбү?", "Отправить обращение?",
                    "Send the appeal?" },
    [S_YES] = { "1 Ооба", "1 Да", "1 Yes" },
    [S_REWRITE] = { "2 Кайра жазуу", "2 Написать заново", "2 Write again" },
    [S_TOO_LONG] = { "Өтө узун.", "Слишком длинно.", "Too long." },
    [S_SHORT] = { "Өтө кыска.", "Слишком коротко.", "Too short." },
    [S_INVALID] = { "Туура эмес тандоо.", "Неверный выбор.", "Not a choice." },
    [S_REF] = { "Кайрылуунун номерин жазыңыз:", "Введите номер обращения:",
                "Type the appeal's reference:" },
};

static const char *const final_text[APPEAL_SCR_COUNT_FINAL][3] = {
    [APPEAL_SCR_DONE] = {
        "Кайрылууңуз кабыл алынды. Номери: {ref}. SMS жөнөтүлдү.",
        "Обращение принято. Номер: {ref}. Отправлено SMS.",
        "Your appeal is received. Reference: {ref}. An SMS follows." },
};

static int li(const char *lang)
{
    if (lang && !strcmp(lang, "ky"))
        return 0;
    if (lang && !strcmp(lang, "ru"))
        return 1;
    return 2;
}

const char *appeal_scr_final(enum appeal_scr_final t, const char *lang)
{
    return (unsigned)t < APPEAL_SCR_COUNT_FINAL ? final_text[t][li(lang)] : "";
}

/* Append s to the screen (cut at a character, never past the buffer). */
static void put(struct appeal_scr_res *r, const char *s)
{
    size_t n = strlen(r->screen), cap = sizeof r->screen - 1 - n;
    size_t l = kz_utf8_clip((const uint8_t *)s, strlen(s), cap);
    memcpy(r->screen + n, s, l);
    r->screen[n + l] = '\0';
}

static void line(struct appeal_scr_res *r, const char *s)
{
    if (r->screen[0])
        put(r, "\n");
    put(r, s);
}

static size_t chars(const char *s)
{
    size_t n = 0;
    return kz_utf8_count((const uint8_t *)s, strlen(s), &n, NULL) ? n
                                                                   : strlen(s);
}

/* Set the state: phase, category, text. */
static void set_state(struct appeal_scr_res *r, char phase, int cat,
                      const char *text)
{
    snprintf(r->state, sizeof r->state, "%c%c%s", phase,
             cat >= 0 ? (char)('0' + cat) : '-', text ? text : "");
    r->outcome = APPEAL_SCR_CON;
}

static void draw_category(const struct appeal_scr_req *rq,
                          struct appeal_scr_res *r, const char *pre)
{
    int l = li(rq->lang);
    if (pre)
        line(r, pre);
    line(r, scr_text[S_CATEGORY][l]);
    const char *t = rq->titles ? rq->titles : "";
    for (size_t i = 0; i < rq->ncats; i++) {
        const char *e = strchr(t, '\n');
        size_t n = e ? (size_t)(e - t) : strlen(t);
        char opt[128];
        snprintf(opt, sizeof opt, "%zu %.*s", i + 1, (int)n, t);
        line(r, opt);
        t = e ? e + 1 : t + n;
    }
    line(r, rq->label_back);
    set_state(r, 'C', -1, NULL);
}

static void draw_write(const struct appeal_scr_req *rq,
                       struct appeal_scr_res *r, int cat, const char *text,
                       const char *pre)
{
    int l = li(rq->lang);
    if (pre)
        line(r, pre);
    if (!text[0]) {
        line(r, scr_text[S_WRITE][l]);
    } else {
        char more[160], n[16];
        snprintf(n, sizeof n, "%zu", chars(text));
        struct template_var v[] = { { "n", n } };
        template_render(scr_text[S_MORE][l], v, 1, more, sizeof more);
        line(r, more);
        line(r, scr_text[S_SEND][l]);
    }
    line(r, rq->label_back);
    set_state(r, 'T', cat, text);
}

/* The confirmation: the text's head, cut so the screen fits. */
static void draw_confirm(const struct appeal_scr_req *rq,
                         struct appeal_scr_res *r, int cat, const char *text,
                         const char *pre)
{
    int l = li(rq->lang);
    const char *fixed[] = { pre, scr_text[S_CONFIRM][l], scr_text[S_YES][l],
                            scr_text[S_REWRITE][l], rq->label_back };
    size_t used = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        used += fixed[i] ? chars(fixed[i]) + 1 : 0;
    size_t room = used + 4 < SCREEN_CHARS ? SCREEN_CHARS - used - 4 : 0;
    char head[APPEAL_SCR_STATE_MAX + 8];
    size_t tl = strlen(text), take = 0, k = 0;
    while (take < tl && k < room) {     /* room characters of text */
        uint32_t cp;
        size_t step = kz_utf8_next_lossy((const uint8_t *)text + take,
                                         tl - take, &cp);
        take += step ? step : 1;
        k++;
    }
    snprintf(head, sizeof head, "\"%.*s%s\"", (int)take, text,
             take < tl ? "…" : "");
    if (pre)
        line(r, pre);
    line(r, scr_text[S_CONFIRM][l]);
    line(r, head);
    line(r, scr_text[S_YES][l]);
    line(r, scr_text[S_REWRITE][l]);
    line(r, rq->label_back);
    set_state(r, 'K', cat, text);
}

static bool is(const char *in, const char *want)
{
    return want && strcmp(in, want) == 0;
}

/* A typed part: no control characters. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return false;
    return true;
}

/* Typing the text: "1" sends, anything else is appended. */
static void on_text(const struct appeal_scr_req *rq, struct appeal_scr_res *r,
                    int cat, const char *text)
{
    int l = li(rq->lang);
    const char *in = rq->input;
    if (is(in, rq->key_back)) {
        if (rq->ncats > 1)
            draw_category(rq, r, NULL);
        else
            r->outcome = APPEAL_SCR_BACK;
        return;
    }
    if (is(in, "1") && text[0]) {
        if (chars(text) < TEXT_MIN)
            draw_write(rq, r, cat, "", scr_text[S_SHORT][l]);
        else
            draw_confirm(rq, r, cat, text, NULL);
        return;
    }
    if (!in[0] || !printable(in)) {
        draw_write(rq, r, cat, text, scr_text[S_INVALID][l]);
        return;
    }
    size_t have = strlen(text), add = strlen(in);
    if (have + (have ? 1 : 0) + add > APPEAL_SCR_TEXT_MAX) {
        draw_write(rq, r, cat, text, scr_text[S_TOO_LONG][l]);
        return;
    }
    char joined[APPEAL_SCR_STATE_MAX + 1];
    snprintf(joined, sizeof joined, "%s%s%s", text, have ? " " : "", in);
    draw_write(rq, r, cat, joined, NULL);
}

static void on_confirm(const struct appeal_scr_req *rq,
                       struct appeal_scr_res *r, int cat, const char *text)
{
    const char *in = rq->input;
    if (is(in, "1")) {
        r->outcome = APPEAL_SCR_FILE;
        r->cat = cat;
        snprintf(r->text, sizeof r->text, "%s", text);
    } else if (is(in, "2")) {
        draw_write(rq, r, cat, "", NULL);
    } else if (is(in, rq->key_back)) {
        draw_write(rq, r, cat, text, NULL);
    } else {
        draw_confirm(rq, r, cat, text, scr_text[S_INVALID][li(rq->lang)]);
    }
}

static void on_category(const struct appeal_scr_req *rq,
                        struct appeal_scr_res *r)
{
    const char *in = rq->input;
    if (is(in, rq->key_back)) {
        r->outcome = APPEAL_SCR_BACK;
        return;
    }
    if (strlen(in) == 1 && in[0] >= '1' && (size_t)(in[0] - '0') <= rq->ncats)
        draw_write(rq, r, in[0] - '1', "", NULL);
    else
        draw_category(rq, r, scr_text[S_INVALID][li(rq->lang)]);
}

static void draw_ref(const struct appeal_scr_req *rq, struct appeal_scr_res *r)
{
    line(r, scr_text[S_REF][li(rq->lang)]);
    line(r, rq->label_back);
    set_state(r, 'S', -1, NULL);
}

/* Entry (or a state that is not one): the node's first screen. */
static void first(const struct appeal_scr_req *rq, struct appeal_scr_res *r)
{
    if (rq->status_mode)
        draw_ref(rq, r);
    else if (rq->ncats == 1)
        draw_write(rq, r, 0, "", NULL);
    else
        draw_category(rq, r, NULL);
}

void appeal_scr_turn(const struct appeal_scr_req *rq,
                     struct appeal_scr_res *r)
{
    memset(r, 0, sizeof *r);
    const char *st = rq->state ? rq->state : "";
    char phase = st[0];
    int cat = st[0] && st[1] >= '0' && st[1] <= '8' ? st[1] - '0' : -1;
    const char *text = st[0] && st[1] ? st + 2 : "";
    bool need_cat = phase == 'T' || phase == 'K';
    if (!strchr("CTKS", phase) || !phase || (need_cat && (cat < 0 ||
        (size_t)cat >= rq->ncats)) || (phase == 'S') != rq->status_mode ||
        (phase == 'K' && chars(text) < TEXT_MIN)) {    /* nothing to send */
        first(rq, r);
        return;
    }
    if (!rq->input) {                  /* draw again (entry, resume) */
        if (phase == 'C')
            draw_category(rq, r, NULL);
        else if (phase == 'T')
            draw_write(rq, r, cat, text, NULL);
        else if (phase == 'K')
            draw_confirm(rq, r, cat, text, NULL);
        else
            draw_ref(rq, r);
        return;
    }
    if (phase == 'C')
        on_category(rq, r);
    else if (phase == 'T')
        on_text(rq, r, cat, text);
    else if (phase == 'K')
        on_confirm(rq, r, cat, text);
    else if (is(rq->input, rq->key_back))
        r->outcome = APPEAL_SCR_BACK;
    else
        r->outcome = APPEAL_SCR_STATUS;
}
