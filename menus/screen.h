/*
 * menus/screen.h — fit one USSD screen into 160 octets and paginate.
 *
 * What it does: measures UTF-8 text in GSM 03.38 septets (extension
 * characters count 2) and in UCS-2 units (characters above U+FFFF count
 * 2), picks the encoding of a screen (GSM-7 when every character of the
 * page is in the GSM default alphabet or its extension table, else UCS-2),
 * and cuts a logical screen — a body text followed by option lines — into
 * pages that each fit one USSD message: 182 septets or 80 UCS-2 units,
 * newlines and the footer included.
 *
 * Page layout: body lines, then option lines, then one footer line with
 * the reserved keys that apply ("99 More, 0 Back, 00 Home").  A body line
 * that is too long is broken at a space (or, failing that, between
 * characters, never inside one); option lines are never broken (the loader
 * guarantees they fit; a runtime value that makes one too long is cut).
 * The encoding used to choose page breaks is that of the whole logical
 * screen, so page breaks do not depend on which page is asked for; each
 * page then reports its own encoding (a Latin page of a Cyrillic screen
 * goes as GSM-7; it fits, since 80 units never exceed 182 septets).
 *
 * Why not smpp/text.h: the step engine needs only cost-and-fit of UTF-8
 * and must stay free of the SMPP library; the gateway converts the chosen
 * page to octets with smpp/text.  The GSM table here is the one of TS
 * 23.038 (default alphabet + extension), no national shift tables.
 *
 * Pure: no I/O, no allocation (works on caller buffers); re-entrant.
 * May call: libc.
 */
#ifndef KYZMAT_MENUS_SCREEN_H
#define KYZMAT_MENUS_SCREEN_H

#include <stdbool.h>
#include <stddef.h>

enum menu_enc { MENU_ENC_GSM7 = 0, MENU_ENC_UCS2 = 8 }; /* = SMPP data_coding */

/* Cost of len bytes of UTF-8: *septets in GSM-7 (meaningless when *gsm is
 * false), *units in UCS-2, *gsm = every character is GSM-7 encodable.
 * Invalid UTF-8 bytes count as one non-GSM character each. */
void menu_text_cost(const char *s, size_t len, size_t *septets, size_t *units,
                    bool *gsm);

/* Octets one screen of this text takes in the encoding it would get. */
size_t menu_text_octets(const char *s, size_t len, int *enc);

/* A logical screen to paginate. */
struct menu_screen_in {
    const char *body;          /* UTF-8; may contain '\n'; may be empty */
    size_t body_len;
    const char *const *opt;    /* option lines ("1. Status") */
    const size_t *opt_len;
    size_t nopt;               /* at most MENU_OPTIONS_MAX are shown */
    const char *more;          /* footer entries, e.g. "99 More" */
    const char *back;          /* NULL: no back entry on page 0 */
    const char *back_paged;    /* back entry on pages > 0 (NULL: none) */
    const char *home;          /* NULL: no home entry */
    bool final;                /* last page carries no footer (end text) */
};

/*
 * menu_screen_page — render page `page` (0-based; clamped to the last)
 * into out (cap >= MENU_SCREEN_BUF bytes).  Returns 0 and sets *len,
 * *enc (enum menu_enc), *npages and *shown (the page actually rendered);
 * -1 when cap is too small.
 */
int menu_screen_page(const struct menu_screen_in *in, unsigned page,
                     char *out, size_t cap, size_t *len, int *enc,
                     unsigned *npages, unsigned *shown);

#define MENU_SCREEN_BUF 800   /* 182 characters of up to 4 UTF-8 bytes + slack */

#endif
