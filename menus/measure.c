/*
 * menus/measure.c — a text's and a screen's cost on the handset (see
 * measure.h).
 *
 * The encoding and the septet/unit counts are menus/screen.c's, the pages
 * are menu_screen_page()'s own output: this file only reads them back.
 * Where a page's share of the text starts is found by matching the
 * rendered page against the text (the body is the page's first bytes, up
 * to the newline before the options or the footer), so the split shown
 * is the one the gateway makes, whatever its rules become.
 * Owns: nothing (caller buffers and a page buffer on the stack).
 * May call: menus/screen, menus/menu, base/utf8, base/gsm0338, libc.
 */
#include "menus/measure.h"

#include <stdio.h>
#include <string.h>

#include "base/gsm0338.h"
#include "base/utf8.h"

#define FOOT_MAX 200      /* one footer entry: "99 " and a label */
#define LINE_MAX_B 2100   /* one option line: "30. " and a 2000-byte label */
#define BODY_MAX_B 2100   /* a node text (2000 bytes at most) */
#define LINES_MAX_B 10240 /* a menu's option lines (each fits a screen) */

const char *menu_enc_name(int enc)
{
    return enc == MENU_ENC_UCS2 ? "UCS-2" : "GSM-7";
}

size_t menu_measure_literal(const struct menu_tmpl *t, char *buf, size_t cap)
{
    size_t n = 0;
    for (uint16_t i = 0; t && i < t->nseg && n + 1 < cap; i++) {
        if (!t->seg[i].lit)
            continue;
        size_t l = t->seg[i].len;
        if (n + l >= cap)
            l = cap - 1 - n;
        memcpy(buf + n, t->seg[i].lit, l);
        n += l;
    }
    buf[n] = '\0';
    return n;
}

/* Code points in s[0..len). */
static size_t count_chars(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, n = 0;
    uint32_t cp;
    while (i < len) {
        i += kz_utf8_next_lossy(p + i, len - i, &cp);
        n++;
    }
    return n;
}

/* One screen of s: its encoding, the units its limit counts, its octets
 * (screen.c's rule); returns whether it is GSM-7. */
static bool cost(const char *s, size_t len, int *enc, size_t *units, size_t *octets)
{
    size_t sp = 0, un = 0;
    bool gsm = true;
    if (len)
        menu_text_cost(s, len, &sp, &un, &gsm);
    *enc = MENU_ENC_GSM7;
    *octets = len ? menu_text_octets(s, len, enc) : 0;
    *units = gsm ? sp : un;
    return gsm;
}

void menu_measure_text(const char *s, size_t len, struct menu_measure *m)
{
    memset(m, 0, sizeof *m);
    if (!s)
        len = 0;
    bool gsm = cost(s, len, &m->enc, &m->units, &m->octets);
    m->limit = gsm ? MENU_GSM7_CHARS : MENU_UCS2_CHARS;
    m->limit_octets = MENU_SCREEN_OCTETS;
    m->fits = m->units <= m->limit;
    m->first_ucs2 = m->first_ucs2_char = MENU_MEASURE_NONE;
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = kz_utf8_next_lossy(p + i, len - i, &cp);
        unsigned k = kz_gsm_septets(cp);
        if (k == 2)
            m->ext++;
        if (k == 0 && m->first_ucs2 == MENU_MEASURE_NONE) {
            m->first_ucs2 = i;
            m->first_ucs2_char = m->chars;
        }
        m->chars++;
        i += n;
    }
}

/* How many bytes of body[from..] the rendered page starts with: the
 * longest run that the page repeats and that ends the page or a line of
 * it. */
static size_t body_share(const char *page, size_t plen, const char *body,
                         size_t from, size_t blen)
{
    size_t rest = blen - from, same = 0;
    while (same < rest && same < plen && page[same] == body[from + same])
        same++;
    for (size_t l = same; l > 0; l--)
        if (l == plen || page[l] == '\n')
            return l;
    return 0;
}

/* One page's numbers into pg; *from moves past the text it shows. */
static void page_info(const struct menu_screen_in *in, const char *buf,
                      size_t len, size_t *from, struct menu_measure_page *pg)
{
    size_t f = *from;
    size_t take = body_share(buf, len, in->body, f, in->body_len);
    /* the gateway skips the space or newline it broke at: the next page
     * starts after it */
    pg->start = f;
    pg->start_char = count_chars(in->body, f);
    pg->text_len = take;
    pg->text_chars = count_chars(in->body + f, take);
    pg->len = len;
    cost(buf, len, &pg->enc, &pg->units, &pg->octets);
    f += take;
    if (f < in->body_len && take && (in->body[f] == ' ' || in->body[f] == '\n'))
        f++;
    *from = f;
}

int menu_measure_screen(const struct menu_screen_in *in, struct menu_measure *m)
{
    if (!in || !m)
        return -1;
    menu_measure_text(in->body, in->body_len, m);
    char buf[MENU_SCREEN_BUF];
    size_t from = 0, len;
    int enc;
    unsigned np = 1, shown;
    for (unsigned p = 0; p < np && p < MENU_MEASURE_PAGES; p++) {
        if (menu_screen_page(in, p, buf, sizeof buf, &len, &enc, &np, &shown) != 0)
            return -1;
        page_info(in, buf, len, &from, &m->page[p]);
        m->npage_info = p + 1;
    }
    m->npages = np;
    return 0;
}

/* "99 More" for key k of the set in language li into buf. */
static const char *foot_entry(const struct menu_set *set, int k, int li,
                              char *buf, size_t cap)
{
    char lab[FOOT_MAX];
    lab[0] = '\0';
    if (set->key_label[k])
        menu_measure_literal(set->key_label[k]->t[li], lab, sizeof lab);
    snprintf(buf, cap, "%s %s", set->key[k], lab);
    return buf;
}

/* The footer entries of the widest footer into in. */
static void widest_footer(const struct menu_set *set, int li, char more[FOOT_MAX],
                          char back[FOOT_MAX], char home[FOOT_MAX],
                          struct menu_screen_in *in)
{
    in->more = foot_entry(set, MENU_KEY_MORE, li, more, FOOT_MAX);
    in->back = foot_entry(set, MENU_KEY_BACK, li, back, FOOT_MAX);
    in->back_paged = in->back;
    in->home = foot_entry(set, MENU_KEY_HOME, li, home, FOOT_MAX);
}

int menu_measure_set_text(const struct menu_set *set, int li, const char *s,
                          size_t len, bool final, struct menu_measure *m)
{
    if (!set || li < 0 || li >= set->nlang)
        return -1;
    char more[FOOT_MAX], back[FOOT_MAX], home[FOOT_MAX];
    struct menu_screen_in in = { 0 };
    in.body = s ? s : "";
    in.body_len = s ? len : 0;
    in.final = final;
    widest_footer(set, li, more, back, home, &in);
    return menu_measure_screen(&in, m);
}

/* The option lines "N. label" of a menu node into lines (one buffer). */
static size_t option_lines(const struct menu_node *n, int li, char *lines,
                           size_t cap, const char **opt, size_t *optl)
{
    size_t used = 0, k = 0;
    for (uint16_t i = 0; i < n->nopt && i < MENU_OPTIONS_MAX; i++) {
        char line[LINE_MAX_B];
        int p = snprintf(line, sizeof line, "%u. ", (unsigned)(i + 1));
        size_t l = (size_t)p;
        if (n->opt[i].label)
            l += menu_measure_literal(n->opt[i].label->t[li], line + p, sizeof line - (size_t)p);
        if (used + l + 1 > cap)
            break;
        memcpy(lines + used, line, l);
        opt[k] = lines + used;
        optl[k] = l;
        used += l;
        k++;
    }
    return k;
}

int menu_measure_node(const struct menu_set *set, uint16_t ix, int li,
                      struct menu_measure *m)
{
    if (!set || ix >= set->nnode || li < 0 || li >= set->nlang)
        return -1;
    const struct menu_node *n = &set->node[ix];
    char body[BODY_MAX_B];
    size_t bl = n->text ? menu_measure_literal(n->text->t[li], body, sizeof body) : 0;
    body[bl] = '\0';
    if (n->kind == MENU_K_SMS) {
        menu_measure_text(body, bl, m);
        return 0;
    }
    if (n->kind != MENU_K_MENU && n->kind != MENU_K_INPUT && n->kind != MENU_K_END) {
        memset(m, 0, sizeof *m);
        return 1;
    }
    char lines[LINES_MAX_B];
    const char *opt[MENU_OPTIONS_MAX];
    size_t optl[MENU_OPTIONS_MAX];
    char more[FOOT_MAX], back[FOOT_MAX], home[FOOT_MAX];
    struct menu_screen_in in = { 0 };
    in.body = body;
    in.body_len = bl;
    if (n->kind == MENU_K_MENU) {
        in.opt = opt;
        in.opt_len = optl;
        in.nopt = option_lines(n, li, lines, sizeof lines, opt, optl);
    }
    in.final = n->kind == MENU_K_END;
    widest_footer(set, li, more, back, home, &in);
    return menu_measure_screen(&in, m);
}
