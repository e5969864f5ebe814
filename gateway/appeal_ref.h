/*
 * gateway/appeal_ref.h — the reference of a citizen's appeal: short, typed
 * on a keypad, and refused rather than matched when mistyped.
 *
 * What it does: a reference is APPEAL_REF_DIGITS random digits followed
 * by one Damm check digit (9 digits in all), shown grouped as
 * "1234-5678-9".  The Damm check digit (a totally anti-symmetric
 * quasigroup of order 10) catches every single-digit error and every
 * transposition of two adjacent digits, so a citizen's typo never lands
 * on someone else's appeal: it is refused as "not a valid reference".
 * The random part comes from the caller (appeal_ref_make takes the bytes)
 * so that this file stays pure; uniqueness is the store's (its UNIQUE
 * key; the caller draws again on a collision).
 *
 * Parsing accepts the digits with any of '-', ' ', '.' between them (and
 * leading/trailing blanks, a leading '#' or '№'), nothing else.
 *
 * Owns nothing; pure, re-entrant, no I/O, no allocation.  Fuzzed by
 * tests/fuzz/fuzz_appeal_ref.c.
 * May call: libc.
 */
#ifndef KYZMAT_GATEWAY_APPEAL_REF_H
#define KYZMAT_GATEWAY_APPEAL_REF_H

#include <stddef.h>
#include <stdint.h>

#define APPEAL_REF_DIGITS 8          /* random digits before the check */
#define APPEAL_REF_LEN    9          /* canonical: 9 digits */
#define APPEAL_REF_MAX    10         /* canonical + NUL */
#define APPEAL_REF_SHOW_MAX 12       /* "1234-5678-9" + NUL */

enum appeal_ref_rc {
    APPEAL_REF_OK = 0,
    APPEAL_REF_FORMAT = -1,          /* not 9 digits (with separators) */
    APPEAL_REF_CHECK = -2            /* 9 digits, but the check digit fails */
};

/* The Damm check digit of the n ASCII digits at s (0..9). */
int appeal_ref_damm(const char *s, size_t n);

/* A new reference from rnd (at least APPEAL_REF_DIGITS bytes of
 * randomness) into out (canonical, 9 digits, NUL-terminated). */
void appeal_ref_make(const uint8_t *rnd, char out[APPEAL_REF_MAX]);

/* Parse what a citizen or agency typed (len bytes, need not be
 * NUL-terminated) into the canonical form.  APPEAL_REF_OK, or _FORMAT /
 * _CHECK with out = "".  */
int appeal_ref_parse(const char *text, size_t len, char out[APPEAL_REF_MAX]);

/* "123456789" -> "1234-5678-9" (out has APPEAL_REF_SHOW_MAX bytes). */
void appeal_ref_show(const char *ref, char out[APPEAL_REF_SHOW_MAX]);

#endif
