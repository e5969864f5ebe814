/*
 * menus/screen.c — screen measure, encoding choice and pagination.
 *
 * See screen.h for the layout rules.  Everything here works on caller
 * buffers and a fixed-size atom table on the stack: no allocation, no I/O.
 * Characters are measured with the floor's GSM 03.38 table and UTF-8
 * decoder (base/), the same ones the SMS codec uses.
 * May call: base/, libc.
 */
#include "menus/screen.h"

#include <stdint.h>
#include <string.h>

#include "base/gsm0338.h"
#include "base/utf8.h"
#include "menus/menu.h"

void menu_text_cost(const char *s, size_t len, size_t *septets, size_t *units,
                    bool *gsm)
{
    size_t sp = 0, un = 0;
    bool g = true;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        if (p[i] < 0x80) {             /* fast path: ASCII */
            cp = p[i++];
        } else if ((p[i] & 0xE0) == 0xC0 && i + 1 < len && (p[i + 1] & 0xC0) == 0x80 &&
                   p[i] >= 0xC2) {      /* fast path: two-byte (Cyrillic) */
            cp = (uint32_t)(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F);
            i += 2;
        } else {
            i += kz_utf8_next_lossy(p + i, len - i, &cp);
        }
        unsigned k = kz_gsm_septets(cp);
        if (k == 0)
            g = false;
        sp += k;
        un += cp > 0xFFFF ? 2 : 1;
    }
    *septets = sp;
    *units = un;
    *gsm = g;
}

size_t menu_text_octets(const char *s, size_t len, int *enc)
{
    size_t sp, un;
    bool g;
    menu_text_cost(s, len, &sp, &un, &g);
    if (g) {
        if (enc)
            *enc = MENU_ENC_GSM7;
        return (sp * 7 + 7) / 8;
    }
    if (enc)
        *enc = MENU_ENC_UCS2;
    return un * 2;
}

/* The footer for one page into buf; returns its length (0: none). */
static size_t footer(const struct menu_screen_in *in, unsigned page, bool last,
                     char *buf, size_t cap)
{
    const char *e[3];
    size_t n = 0;
    buf[0] = '\0';
    if (last && in->final)
        return 0;
    if (!last && in->more)
        e[n++] = in->more;
    const char *back = page == 0 ? in->back : in->back_paged;
    if (back)
        e[n++] = back;
    if (in->home)
        e[n++] = in->home;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(e[i]);
        if (len + l + 3 >= cap)
            break;
        if (i) {
            buf[len++] = ',';
            buf[len++] = ' ';
        }
        memcpy(buf + len, e[i], l);
        len += l;
    }
    buf[len] = '\0';
    return len;
}

/* Where a page starts: a byte offset into the body, then an option index. */
struct cursor {
    size_t body;
    size_t opt;
};

struct fill {
    struct cursor from, to;
    size_t body_take;          /* body bytes shown on this page */
    size_t opt_cut;            /* bytes of the first option when it is cut, else 0 */
};

static size_t char_cost(uint32_t cp, bool gsm)
{
    if (gsm)
        return kz_gsm_septets(cp);
    return cp > 0xFFFF ? 2 : 1;
}

/*
 * Fill one page from cursor c with `room` characters (septets/units)
 * available for content.  Body text first: the longest prefix that fits,
 * broken after the last newline or space when the body does not end on
 * this page; then whole option lines, one per line.
 */
static void fill_page(const struct menu_screen_in *in, const size_t *ocost,
                      struct cursor c, size_t room, bool gsm, struct fill *f)
{
    f->from = c;
    f->body_take = 0;
    f->opt_cut = 0;
    size_t used = 0;
    const unsigned char *b = (const unsigned char *)in->body;
    if (c.body < in->body_len) {
        size_t i = c.body, cost = 0, brk = 0, brk_skip = 0;
        while (i < in->body_len) {
            uint32_t cp;
            size_t n = kz_utf8_next_lossy(b + i, in->body_len - i, &cp);
            size_t k = char_cost(cp, gsm);
            if (cost + k > room)
                break;
            if ((cp == ' ' || cp == '\n') && i > c.body) {
                brk = i;
                brk_skip = 1;
            }
            cost += k;
            i += n;
        }
        if (i >= in->body_len) {
            f->body_take = in->body_len - c.body;
            c.body = in->body_len;
            used = cost;
        } else {
            if (brk == 0) {                 /* no break: cut between characters */
                brk = i > c.body ? i : c.body + kz_utf8_next_lossy(b + c.body, in->body_len - c.body, &(uint32_t){ 0 });
                brk_skip = 0;
            }
            f->body_take = brk - c.body;
            c.body = brk + brk_skip;
            f->to = c;
            return;                         /* the page is full of body text */
        }
    }
    while (c.opt < in->nopt) {
        size_t k = ocost[c.opt] + (used ? 1 : 0);
        if (used + k > room) {
            if (used == 0) {                /* alone and still too long: cut it */
                const unsigned char *o = (const unsigned char *)in->opt[c.opt];
                size_t j = 0, cost = 0;
                while (j < in->opt_len[c.opt]) {
                    uint32_t cp;
                    size_t n = kz_utf8_next_lossy(o + j, in->opt_len[c.opt] - j, &cp);
                    if (cost + char_cost(cp, gsm) > room)
                        break;
                    cost += char_cost(cp, gsm);
                    j += n;
                }
                f->opt_cut = j ? j : 1;
                c.opt++;
            }
            break;
        }
        used += k;
        c.opt++;
    }
    f->to = c;
}

static bool at_end(const struct menu_screen_in *in, struct cursor c)
{
    return c.body >= in->body_len && c.opt >= in->nopt;
}

static size_t fcost(const char *s, size_t len, bool gsm)
{
    size_t sp, un;
    bool g;
    menu_text_cost(s, len, &sp, &un, &g);
    return len ? (gsm ? sp : un) + 1 : 0;   /* + the newline before it */
}

/* Page p starting at c: last page (everything fits with the short footer)
 * or a full page with the "more" footer. */
static bool layout(const struct menu_screen_in *in, const size_t *ocost, unsigned p,
                   struct cursor c, size_t budget, bool gsm, struct fill *f)
{
    char fb[200];
    size_t fl = footer(in, p, true, fb, sizeof fb);
    size_t fc = fcost(fb, fl, gsm);
    fill_page(in, ocost, c, budget > fc ? budget - fc : 1, gsm, f);
    if (at_end(in, f->to))
        return true;
    fl = footer(in, p, false, fb, sizeof fb);
    fc = fcost(fb, fl, gsm);
    fill_page(in, ocost, c, budget > fc ? budget - fc : 1, gsm, f);
    return at_end(in, f->to);
}

int menu_screen_page(const struct menu_screen_in *in, unsigned page,
                     char *out, size_t cap, size_t *len, int *enc,
                     unsigned *npages, unsigned *shown)
{
    if (cap < MENU_SCREEN_BUF)
        return -1;
    /* 1. encoding of the whole logical screen */
    bool gsm = true;
    size_t sp, un;
    bool g;
    menu_text_cost(in->body, in->body_len, &sp, &un, &g);
    gsm = g;
    size_t osp[MENU_OPTIONS_MAX], oun[MENU_OPTIONS_MAX];
    size_t nopt = in->nopt < MENU_OPTIONS_MAX ? in->nopt : MENU_OPTIONS_MAX;
    struct menu_screen_in lim = *in;
    lim.nopt = nopt;
    in = &lim;
    for (size_t i = 0; i < nopt; i++) {
        menu_text_cost(in->opt[i], in->opt_len[i], &osp[i], &oun[i], &g);
        gsm = gsm && g;
    }
    const char *fe[4] = { in->more, in->back, in->back_paged, in->home };
    for (size_t i = 0; i < 4 && gsm; i++) {
        if (fe[i]) {
            menu_text_cost(fe[i], strlen(fe[i]), &sp, &un, &g);
            gsm = gsm && g;
        }
    }
    size_t budget = gsm ? MENU_GSM7_CHARS : MENU_UCS2_CHARS;
    const size_t *ocost = gsm ? osp : oun;

    /* 2. walk the pages up to the one asked for (clamped), then count */
    struct cursor c = { 0, 0 };
    struct fill f, want;
    unsigned p = 0;
    bool last = layout(in, ocost, 0, c, budget, gsm, &f);
    while (p < page && !last) {
        c = f.to;
        p++;
        last = layout(in, ocost, p, c, budget, gsm, &f);
    }
    want = f;
    bool want_last = last;
    unsigned count = p + 1;
    while (!last && count < 1000) {
        c = f.to;
        last = layout(in, ocost, count, c, budget, gsm, &f);
        count++;
    }

    /* 3. render */
    size_t o = 0;
    if (want.body_take) {
        size_t l = want.body_take < cap - 1 ? want.body_take : cap - 1;
        memcpy(out, in->body + want.from.body, l);
        o = l;
    }
    for (size_t k = want.from.opt; k < want.to.opt; k++) {
        size_t l = in->opt_len[k];
        if (k == want.from.opt && want.opt_cut)
            l = want.opt_cut;
        if (o + l + 2 >= cap)
            break;
        if (o)
            out[o++] = '\n';
        memcpy(out + o, in->opt[k], l);
        o += l;
    }
    char fb[200];
    size_t fl = footer(in, p, want_last, fb, sizeof fb);
    if (fl && o + fl + 2 < cap) {
        if (o)
            out[o++] = '\n';
        memcpy(out + o, fb, fl);
        o += fl;
    }
    out[o] = '\0';
    *len = o;
    int e2;
    menu_text_octets(out, o, &e2);
    *enc = e2;
    *npages = count;
    *shown = p;
    return 0;
}
