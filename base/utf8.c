/*
 * base/utf8.c — the one UTF-8 decoder and encoder (see utf8.h).
 *
 * Owns: nothing.  May call: libc (memcpy).
 */
#include "base/utf8.h"

#include <string.h>

size_t kz_utf8_next(const uint8_t *s, size_t len, uint32_t *cp)
{
    if (len == 0)
        return 0;
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2, c = b0 & 0x1Fu, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3, c = b0 & 0x0Fu, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4, c = b0 & 0x07u, min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
    }
    if (len < n)
        return 0; /* truncated */
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0; /* overlong, out of range, encoded surrogate */
    *cp = c;
    return n;
}

size_t kz_utf8_next_lossy(const uint8_t *s, size_t len, uint32_t *cp)
{
    size_t n = kz_utf8_next(s, len, cp);
    if (n == 0 && len > 0) {
        *cp = KZ_UCS_REPLACEMENT;
        n = 1;
    }
    return n;
}

size_t kz_utf8_len(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

int kz_utf8_put(uint32_t cp, uint8_t *out, size_t cap, size_t *pos)
{
    uint8_t b[4];
    size_t n = kz_utf8_len(cp);
    switch (n) {
    case 1:
        b[0] = (uint8_t)cp;
        break;
    case 2:
        b[0] = (uint8_t)(0xC0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        break;
    case 3:
        b[0] = (uint8_t)(0xE0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        break;
    default:
        b[0] = (uint8_t)(0xF0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (uint8_t)(0x80 | (cp & 0x3F));
        break;
    }
    if (*pos > cap || cap - *pos < n)
        return -1;
    memcpy(out + *pos, b, n);
    *pos += n;
    return 0;
}

bool kz_utf8_count(const uint8_t *s, size_t len, size_t *chars, size_t *err_off)
{
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = kz_utf8_next(s + i, len - i, &cp);
        if (k == 0) {
            if (err_off)
                *err_off = i;
            return false;
        }
        i += k;
        n++;
    }
    if (chars)
        *chars = n;
    return true;
}

size_t kz_utf8_prefix(const uint8_t *s, size_t len, size_t max_chars)
{
    size_t i = 0;
    for (size_t n = 0; n < max_chars && i < len; n++) {
        uint32_t cp;
        i += kz_utf8_next_lossy(s + i, len - i, &cp);
    }
    return i;
}

size_t kz_utf8_clip(const uint8_t *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && (s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

size_t kz_utf8_text_fault(const uint8_t *s, size_t len)
{
    size_t bad = len;
    kz_utf8_valid(s, len, &bad);
    const uint8_t *nul = memchr(s, 0, bad);
    return nul ? (size_t)(nul - s) : bad;
}

void kz_utf8_line_col(const uint8_t *s, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    size_t i = 0;
    while (i < off) {
        uint32_t cp;
        size_t n = kz_utf8_next_lossy(s + i, off - i, &cp);
        if (cp == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
        i += n;
    }
    *line = l;
    *col = c;
}
