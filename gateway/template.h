/*
 * gateway/template.h — the SMS texts an agency words itself: their
 * languages, their two kinds, the placeholders each kind may use, and
 * rendering.
 *
 * What it does: an agency stores a text per (status, language) (PUT
 * /v1/templates/{status}/{lang}, gateway/api); this module is the one
 * place that says what such a text may contain and how it is filled:
 *   - languages: ky, ru, en (template_langs, template_lang_index());
 *   - kinds: a status starting with "booking." (booking.confirmed,
 *     booking.moved, booking.cancelled, booking.reminder, ...; looked up
 *     by the booking code) is a booking template, filled by
 *     gateway/booking with {service} {office} {address} {place} ("office,
 *     address"), {day} ("Пн 01.12"), {date} ("01.12.2026"), {time}
 *     {ticket}; any other status (and "*") is an application-status
 *     template, filled by the status SMS (gateway/notify) and the STATUS
 *     keyword (gateway/keywords) with {number} {status} {note};
 *   - placeholders are {name} with name of A-Z a-z 0-9 _ . - (1 to
 *     TEMPLATE_PLACEHOLDER_MAX); any other brace is ordinary text, kept as
 *     it is, and so is a {name} the renderer has no value for;
 *   - template_next() walks the placeholders of a text;
 *   - template_unknown() finds the first placeholder a kind does not
 *     fill (the API refuses such a text: a typo like {numbr} would
 *     otherwise reach citizens);
 *   - template_render() fills a text into a caller's buffer (cut at a
 *     character boundary when it does not fit); template_render_dup()
 *     into a malloc'd string.
 * The built-in texts (booking.c's defaults, keywords.c's status line) go
 * through the same renderer, so an agency's text and the default behave
 * alike.
 *
 * Owns nothing; pure (no I/O, no state); re-entrant.  Only
 * template_render_dup() and template_render_status() allocate (the caller
 * frees).  May call: libc only.
 */
#ifndef KYZMAT_GATEWAY_TEMPLATE_H
#define KYZMAT_GATEWAY_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#define TEMPLATE_BOOKING_PREFIX "booking."
#define TEMPLATE_PLACEHOLDER_MAX 32
#define TEMPLATE_LANG_COUNT 3

/* "ky", "ru", "en": index 0, 1, 2. */
extern const char *const template_langs[TEMPLATE_LANG_COUNT];

/* Index of lang in template_langs, or -1 (NULL and anything else). */
int template_lang_index(const char *lang);

/* true when status names a booking template ("booking." prefix). */
bool template_is_booking(const char *status);

/* The placeholder names (without braces) a template for status may use;
 * a static NULL-terminated list. */
const char *const *template_placeholders(const char *status);

/*
 * template_next — the first {name} in text (at or after text): a pointer
 * to its name (after the brace) with *len its length; NULL when none.
 * Walk every placeholder with p = template_next(p + len, &len).
 */
const char *template_next(const char *text, size_t *len);

/*
 * template_unknown — the first {name} in text that a template for status
 * may not use: returns a pointer to its name (inside text, after the
 * brace) with *len its length; NULL when every placeholder is allowed.
 */
const char *template_unknown(const char *status, const char *text,
                             size_t *len);

/* One value a text may name: {name} -> value (NULL value: ""). */
struct template_var {
    const char *name;
    const char *value;
};

/*
 * template_render — tmpl with every {name} of vars[0..n) replaced by its
 * value, into out[0..cap) (cap >= 1), NUL-terminated.  A text that does
 * not fit is cut at a UTF-8 character boundary and nothing after the cut
 * is written.  Returns the bytes written (NUL not counted).
 */
size_t template_render(const char *tmpl, const struct template_var *vars,
                       size_t n, char *out, size_t cap);

/* The same into a malloc'd string of the exact size (caller frees); NULL
 * when out of memory. */
char *template_render_dup(const char *tmpl, const struct template_var *vars,
                          size_t n);

/* An application-status template: {number}, {status}, {note} (NULL =
 * ""); malloc'd (caller frees), NULL when out of memory. */
char *template_render_status(const char *tmpl, const char *number,
                             const char *status, const char *note);

#endif
