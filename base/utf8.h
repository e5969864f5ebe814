/*
 * base/utf8.h — the one UTF-8 decoder and encoder of kyzmat.
 *
 * Contract: strict RFC 3629 decoding (no overlongs, no surrogates, nothing
 * above U+10FFFF, no lead bytes C0/C1/F5-FF).  Pure functions on caller
 * buffers: no allocation, no I/O, no global state; safe from any thread.
 *
 * Owns: nothing.  May call: libc.  Included by smpp/, menus/ and gateway/;
 * includes nothing of the project (the floor, see `make check-deps`).
 */
#ifndef KZ_BASE_UTF8_H
#define KZ_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KZ_UCS_REPLACEMENT 0xFFFDu

/* Decode one character at s[0..len).  Returns its length in bytes (1-4)
 * and stores the code point in *cp; returns 0 (and leaves *cp alone) when
 * len is 0 or the bytes are not valid UTF-8 (also when truncated). */
size_t kz_utf8_next(const uint8_t *s, size_t len, uint32_t *cp);

/* Like kz_utf8_next() for display: never fails on len > 0.  An invalid
 * byte reads as U+FFFD of length 1, so a walk always advances. */
size_t kz_utf8_next_lossy(const uint8_t *s, size_t len, uint32_t *cp);

/* Append code point cp (a Unicode scalar value) as UTF-8 at out[*pos],
 * never past cap.  Returns 0 and advances *pos, or -1 when it does not
 * fit (out and *pos unchanged). */
int kz_utf8_put(uint32_t cp, uint8_t *out, size_t cap, size_t *pos);

/* Bytes of code point cp in UTF-8 (1-4). */
size_t kz_utf8_len(uint32_t cp);

/* true when s[0..len) is valid UTF-8; *chars (may be NULL) gets the
 * number of characters.  On false, *err_off (may be NULL) gets the offset
 * of the first bad byte. */
bool kz_utf8_count(const uint8_t *s, size_t len, size_t *chars, size_t *err_off);

static inline bool kz_utf8_valid(const uint8_t *s, size_t len, size_t *err_off)
{
    return kz_utf8_count(s, len, NULL, err_off);
}

/* Bytes of the longest prefix of s[0..len) holding at most max_chars whole
 * characters (an invalid byte counts as one character of one byte), so a
 * cut never splits a character. */
size_t kz_utf8_prefix(const uint8_t *s, size_t len, size_t max_chars);

/* Bytes of the longest prefix of s[0..len) no longer than max bytes that
 * does not end inside a character: a cut at max backs off over the
 * continuation bytes (10xxxxxx) found there.  For text kept in a field of
 * max bytes (dialog values, rendered screens). */
size_t kz_utf8_clip(const uint8_t *s, size_t len, size_t max);

/* Offset of the first byte that keeps s[0..len) from being text: the
 * start of an invalid sequence, or a NUL; len when there is none.  For
 * files checked before a parser sees them (config, menus). */
size_t kz_utf8_text_fault(const uint8_t *s, size_t len);

/* Where byte offset off of s lies as a 1-based line and column, the
 * column counted in characters (an invalid byte counts as one): the
 * position that "file:line:column" messages name.  Reads s[0..off). */
void kz_utf8_line_col(const uint8_t *s, size_t off, int *line, int *col);

#endif
