/*
 * menus/measure.h — what a handset gets from a text: encoding, octets of
 * the 160, characters of the 80 (UCS-2) or 182 (GSM-7), and where the
 * gateway's pagination splits it.
 *
 * What it does: the operators' console shows, for every text of every
 * node and as the operator types, what one USSD screen of it costs.  The
 * numbers come from the code the gateway itself runs, never a copy:
 * menu_text_cost / menu_text_octets (menus/screen.c) choose the encoding
 * (GSM-7 when every character is in GSM 03.38 or its extension table,
 * extension characters counting two septets; else UCS-2, 80 units of 160
 * octets) and menu_screen_page() lays out the pages (text, option lines,
 * one footer line) exactly as a dialog would see them.
 *
 * A node's screen (menu_measure_node) is measured as first shown, with
 * the widest footer ("99 More, 0 Back, 00 Home" in the set's keys and
 * labels; the last page of an end text has none), texts with their
 * variables empty (their values come at run time) — as the loader's fit
 * check reads them.  A screen re-shown after a wrong answer also carries
 * the error text on top.
 *
 * Ownership: everything is written into the caller's struct; nothing is
 * allocated.  Pure: no I/O; re-entrant.
 * May call: menus/screen, menus/menu (reads a set), base/utf8, base/gsm0338,
 * libc.
 */
#ifndef KYZMAT_MENUS_MEASURE_H
#define KYZMAT_MENUS_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "menus/menu.h"
#include "menus/screen.h"

#define MENU_MEASURE_PAGES 16     /* pages described (npages counts all) */
#define MENU_MEASURE_NONE  SIZE_MAX

/* One page as the handset gets it. */
struct menu_measure_page {
    size_t start;              /* byte offset in the text where this page's
                                  part of it starts (= its length when the
                                  page shows no text, only options) */
    size_t start_char;         /* the same in characters (code points) */
    size_t text_len;           /* bytes of the text shown on this page */
    size_t text_chars;         /* the same in characters */
    size_t len;                /* bytes of the whole page (footer included) */
    int enc;                   /* enum menu_enc of this page */
    size_t units;              /* septets (GSM-7) or UTF-16 units (UCS-2) */
    size_t octets;             /* on the air, at most MENU_SCREEN_OCTETS */
};

struct menu_measure {
    /* the text alone, as one screen without footer */
    int enc;                   /* enum menu_enc it would go in */
    size_t chars;              /* code points */
    size_t units;              /* septets (extension characters 2) or UCS-2
                                  units (above U+FFFF 2) */
    size_t limit;              /* units of one screen: 182 or 80 */
    size_t octets;             /* octets of one screen of it */
    size_t limit_octets;       /* MENU_SCREEN_OCTETS (160) */
    size_t ext;                /* GSM extension characters (2 septets each) */
    size_t first_ucs2;         /* byte offset of the first character that
                                  forces UCS-2, or MENU_MEASURE_NONE */
    size_t first_ucs2_char;    /* the same in characters */
    bool fits;                 /* units <= limit */
    /* the screen laid out by the gateway's pagination */
    unsigned npages;
    unsigned npage_info;       /* entries of page[] filled (<= 16) */
    struct menu_measure_page page[MENU_MEASURE_PAGES];
};

/* The text alone (s, len bytes of UTF-8; invalid bytes count as one
 * non-GSM character each, as on the wire); pages are not computed
 * (npages = 0). */
void menu_measure_text(const char *s, size_t len, struct menu_measure *m);

/* The text in->body and the pages of the whole logical screen in.
 * Returns 0, or -1 when in is NULL. */
int menu_measure_screen(const struct menu_screen_in *in, struct menu_measure *m);

/*
 * A text as the body of a screen of `set` in language li (index into
 * set->lang) with the set's widest footer; final: an end text (its last
 * page has no footer).  Returns 0, or -1 for a bad language index.
 */
int menu_measure_set_text(const struct menu_set *set, int li, const char *s,
                          size_t len, bool final, struct menu_measure *m);

/*
 * The screen of node ix in language li, worst case (see the top).  A menu
 * node's options are laid out under its text.  Returns 0; 1 when the node
 * has no screen of its own (switch, http, app, status, booking, subscribe:
 * m is zeroed); an sms node's text is measured alone (npages 0: it goes
 * as an SMS, not a screen); -1 for a bad index.
 */
int menu_measure_node(const struct menu_set *set, uint16_t ix, int li,
                      struct menu_measure *m);

/* Literal text of a template, variables as empty, into buf (cap > 0;
 * always NUL-terminated); returns its length. */
size_t menu_measure_literal(const struct menu_tmpl *t, char *buf, size_t cap);

/* "UCS-2" or "GSM-7" for an enum menu_enc. */
const char *menu_enc_name(int enc);

#endif
