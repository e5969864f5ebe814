/*
 * menus/screen.c — screen measure, encoding choice and pagination.
 *
 * See screen.h for the layout rules.  Everything here works on caller
 * buffers and a fixed-size atom table on the stack: no allocation, no I/O.
 * May call: libc.
 */
#include "menus/screen.h"

#include <stdint.h>
#include <string.h>

#include "menus/menu.h"

/* Decode one UTF-8 character at s[0..len); returns its byte length (>= 1)
 * and the code point (U+FFFD for an invalid sequence, length 1). */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        v = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        v = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        v = c & 0x07;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (n > len) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
        v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return n;
}

/* Septets of one code point in GSM 03.38 (default alphabet or extension
 * table), 0 when it has none. */
static unsigned gsm_septets(uint32_t c)
{
    if (c < 0x80) {
        if (c == '\n' || c == '\r')
            return 1;
        if (c == '\f')
            return 2;
        if (c < 0x20 || c == 0x7F || c == '`')
            return 0;
        if (strchr("[\\]^{|}~", (int)c))
            return 2;
        return 1;
    }
    static const uint16_t basic[] = {
        0x00A1, 0x00A3, 0x00A4, 0x00A5, 0x00A7, 0x00BF, 0x00C4, 0x00C5,
        0x00C6, 0x00C7, 0x00C9, 0x00D1, 0x00D6, 0x00D8, 0x00DC, 0x00DF,
        0x00E0, 0x00E4, 0x00E5, 0x00E6, 0x00E8, 0x00E9, 0x00EC, 0x00F1,
        0x00F2, 0x00F6, 0x00F8, 0x00F9, 0x00FC, 0x0393, 0x0394, 0x0398,
        0x039B, 0x039E, 0x03A0, 0x03A3, 0x03A6, 0x03A8, 0x03A9,
    };
    for (size_t i = 0; i < sizeof basic / sizeof basic[0]; i++)
        if (basic[i] == c)
            return 1;
    if (c == 0x20AC)   /* euro sign, extension table */
        return 2;
    return 0;
}

void menu_text_cost(const char *s, size_t len, size_t *septets, size_t *units,
                    bool *gsm)
{
    size_t sp = 0, un = 0;
    bool g = true;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_next(p + i, len - i, &cp);
        i += n;
        unsigned k = gsm_septets(cp);
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

/* Cost of text in the chosen encoding (septets or units). */
static size_t cost_in(const char *s, size_t len, bool gsm)
{
    size_t sp, un;
    bool g;
    menu_text_cost(s, len, &sp, &un, &g);
    return gsm ? sp : un;
}

struct atom {
    const char *s;
    size_t len;
    size_t cost;
};

#define MAX_ATOMS 400

/* The footer for one page into buf; returns its length (0: none). */
static size_t footer(const struct menu_screen_in *in, unsigned page, bool last,
                     char *buf, size_t cap)
{
    const char *e[3];
    size_t n = 0;
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
        if (len + l + 2 >= cap)
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

/* Longest prefix of s[0..len) whose cost is <= max, preferring to end
 * before a space; *skip is set to the bytes to drop after it (the space).
 * Always returns at least one character when len > 0. */
static size_t cut(const char *s, size_t len, size_t max, bool gsm, size_t *skip)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, cost = 0, last_space = 0;
    *skip = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_next(p + i, len - i, &cp);
        size_t c = gsm ? gsm_septets(cp) : (cp > 0xFFFF ? 2 : 1);
        if (cost + c > max)
            break;
        if (cp == ' ' && i > 0)
            last_space = i;
        cost += c;
        i += n;
    }
    if (i >= len)
        return len;
    if (i == 0) {               /* budget smaller than one character */
        uint32_t cp;
        return utf8_next(p, len, &cp);
    }
    if (last_space > 0 && p[i] != ' ') {
        *skip = 1;
        return last_space;
    }
    if (p[i] == ' ')
        *skip = 1;
    return i;
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
    gsm = gsm && g;
    for (size_t i = 0; i < in->nopt && gsm; i++) {
        menu_text_cost(in->opt[i], in->opt_len[i], &sp, &un, &g);
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

    /* 2. the widest footer, to size the longest piece of a body line */
    char fbuf[200];
    struct menu_screen_in wide = *in;
    wide.final = false;
    if (!wide.back || (wide.back_paged && strlen(wide.back_paged) > strlen(wide.back)))
        wide.back = wide.back_paged;
    size_t flen = footer(&wide, 0, false, fbuf, sizeof fbuf);
    size_t fmax = flen ? cost_in(fbuf, flen, gsm) + 1 : 0;
    size_t piece_max = budget > fmax + 8 ? budget - fmax : 8;

    /* 3. atoms: body lines (broken to piece_max), then option lines */
    struct atom at[MAX_ATOMS];
    size_t na = 0;
    size_t i = 0;
    while (i < in->body_len && na < MAX_ATOMS) {
        const char *nl = memchr(in->body + i, '\n', in->body_len - i);
        size_t end = nl ? (size_t)(nl - in->body) : in->body_len;
        const char *ls = in->body + i;
        size_t ll = end - i;
        do {
            size_t skip;
            size_t take = cut(ls, ll, piece_max, gsm, &skip);
            at[na].s = ls;
            at[na].len = take;
            at[na].cost = cost_in(ls, take, gsm);
            na++;
            ls += take + skip;
            ll -= take + skip;
        } while (ll > 0 && na < MAX_ATOMS);
        i = end + 1;
    }
    for (size_t k = 0; k < in->nopt && na < MAX_ATOMS; k++) {
        size_t skip;
        size_t take = cut(in->opt[k], in->opt_len[k], piece_max, gsm, &skip);
        at[na].s = in->opt[k];
        at[na].len = take;           /* a too-long option line is cut */
        at[na].cost = cost_in(in->opt[k], take, gsm);
        na++;
    }

    /* 4. greedy pages */
    unsigned p = 0;
    size_t s = 0;
    size_t page_s = 0, page_e = 0;
    bool page_last = false;
    for (;;) {
        size_t fl = footer(in, p, true, fbuf, sizeof fbuf);
        size_t total = fl ? cost_in(fbuf, fl, gsm) : 0;
        size_t nl = fl ? 1 : 0;
        bool fits = true;
        size_t cnt = 0;
        for (size_t k = s; k < na; k++) {
            total += at[k].cost + (cnt || fl ? (cnt ? 1 : nl) : 0);
            cnt++;
            if (total > budget) {
                fits = false;
                break;
            }
        }
        size_t e;
        bool last;
        if (fits) {
            e = na;
            last = true;
        } else {
            size_t fm = footer(in, p, false, fbuf, sizeof fbuf);
            total = fm ? cost_in(fbuf, fm, gsm) : 0;
            e = s;
            cnt = 0;
            while (e < na) {
                size_t add = at[e].cost + (cnt ? 1 : (fm ? 1 : 0));
                if (total + add > budget && cnt > 0)
                    break;
                total += add;
                cnt++;
                e++;
            }
            last = e >= na;
        }
        if (p == page || last) {
            page_s = s;
            page_e = e;
            page_last = last;
            if (last && p < page) {
                /* clamp: asked beyond the end */
            }
            break;
        }
        s = e;
        p++;
    }
    /* count the pages */
    unsigned count = p + 1;
    if (!page_last) {
        size_t s2 = page_e;
        unsigned p2 = p + 1;
        for (;;) {
            size_t fl = footer(in, p2, true, fbuf, sizeof fbuf);
            size_t total = fl ? cost_in(fbuf, fl, gsm) : 0;
            size_t cnt = 0;
            bool fits = true;
            for (size_t k = s2; k < na; k++) {
                total += at[k].cost + (cnt ? 1 : (fl ? 1 : 0));
                cnt++;
                if (total > budget) {
                    fits = false;
                    break;
                }
            }
            if (fits) {
                count = p2 + 1;
                break;
            }
            size_t fm = footer(in, p2, false, fbuf, sizeof fbuf);
            total = fm ? cost_in(fbuf, fm, gsm) : 0;
            cnt = 0;
            size_t e = s2;
            while (e < na) {
                size_t add = at[e].cost + (cnt ? 1 : (fm ? 1 : 0));
                if (total + add > budget && cnt > 0)
                    break;
                total += add;
                cnt++;
                e++;
            }
            s2 = e;
            p2++;
            if (s2 >= na) {
                count = p2;
                break;
            }
        }
    }

    /* 5. render */
    size_t o = 0;
    for (size_t k = page_s; k < page_e; k++) {
        if (o + at[k].len + 2 >= cap)
            break;
        if (k > page_s)
            out[o++] = '\n';
        memcpy(out + o, at[k].s, at[k].len);
        o += at[k].len;
    }
    size_t fl = footer(in, p, page_last, fbuf, sizeof fbuf);
    if (fl && o + fl + 2 < cap) {
        if (o)
            out[o++] = '\n';
        memcpy(out + o, fbuf, fl);
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
