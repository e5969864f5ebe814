/*
 * gateway/appeal_ref.c — appeal references: Damm check digit, parse, show
 * (see appeal_ref.h for the contract).
 *
 * The Damm table is the totally anti-symmetric quasigroup of order 10
 * from H. Michael Damm's 2004 thesis (the one every implementation
 * uses): interim = T[interim][digit] over the digits, check = the digit c
 * with T[interim][c] == 0, which for this table is interim itself (its
 * diagonal is zero).  Owns nothing; pure.  May call: libc.
 */
#include "gateway/appeal_ref.h"

#include <string.h>

static const uint8_t damm[10][10] = {
    { 0, 3, 1, 7, 5, 9, 8, 6, 4, 2 },
    { 7, 0, 9, 2, 1, 5, 4, 8, 6, 3 },
    { 4, 2, 0, 6, 8, 7, 1, 3, 5, 9 },
    { 1, 7, 5, 0, 9, 8, 3, 4, 2, 6 },
    { 6, 1, 2, 3, 0, 4, 5, 9, 7, 8 },
    { 3, 6, 7, 4, 2, 0, 9, 5, 8, 1 },
    { 5, 8, 6, 9, 7, 2, 0, 1, 3, 4 },
    { 8, 9, 4, 5, 3, 6, 2, 0, 1, 7 },
    { 9, 4, 3, 8, 6, 1, 7, 2, 0, 5 },
    { 2, 5, 8, 1, 4, 3, 6, 7, 9, 0 },
};

int appeal_ref_damm(const char *s, size_t n)
{
    unsigned interim = 0;
    for (size_t i = 0; i < n; i++)
        interim = damm[interim][(unsigned)(s[i] - '0') % 10];
    return (int)interim;
}

void appeal_ref_make(const uint8_t *rnd, char out[APPEAL_REF_MAX])
{
    for (size_t i = 0; i < APPEAL_REF_DIGITS; i++)
        out[i] = (char)('0' + rnd[i] % 10);   /* bias under 3%: harmless */
    out[APPEAL_REF_DIGITS] = (char)('0' + appeal_ref_damm(out,
                                                         APPEAL_REF_DIGITS));
    out[APPEAL_REF_LEN] = '\0';
}

/* Skip one leading '#' or "№" (U+2116, E2 84 96) at *i. */
static void skip_mark(const char *t, size_t len, size_t *i)
{
    if (*i < len && t[*i] == '#')
        (*i)++;
    else if (*i + 3 <= len && memcmp(t + *i, "\xE2\x84\x96", 3) == 0)
        *i += 3;
}

int appeal_ref_parse(const char *text, size_t len, char out[APPEAL_REF_MAX])
{
    out[0] = '\0';
    if (!text)
        return APPEAL_REF_FORMAT;
    size_t i = 0, n = 0;
    while (i < len && text[i] == ' ')
        i++;
    skip_mark(text, len, &i);
    while (len > i && text[len - 1] == ' ')
        len--;
    char d[APPEAL_REF_MAX];
    int prev_sep = 1;                 /* no separator first */
    for (; i < len; i++) {
        char c = text[i];
        if (c >= '0' && c <= '9') {
            if (n == APPEAL_REF_LEN)
                return APPEAL_REF_FORMAT;
            d[n++] = c;
            prev_sep = 0;
        } else if ((c == '-' || c == ' ' || c == '.') && n > 0) {
            prev_sep = 1;             /* a run of them between digits */
        } else {
            return APPEAL_REF_FORMAT;
        }
    }
    if (n != APPEAL_REF_LEN || prev_sep)
        return APPEAL_REF_FORMAT;
    if (appeal_ref_damm(d, APPEAL_REF_LEN) != 0)
        return APPEAL_REF_CHECK;
    memcpy(out, d, APPEAL_REF_LEN);
    out[APPEAL_REF_LEN] = '\0';
    return APPEAL_REF_OK;
}

void appeal_ref_show(const char *ref, char out[APPEAL_REF_SHOW_MAX])
{
    if (!ref || strlen(ref) != APPEAL_REF_LEN) {
        out[0] = '\0';
        return;
    }
    memcpy(out, ref, 4);
    out[4] = '-';
    memcpy(out + 5, ref + 4, 4);
    out[9] = '-';
    out[10] = ref[8];
    out[11] = '\0';
}
