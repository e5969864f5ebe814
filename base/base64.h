/*
 * base/base64.h — standard base64 (RFC 4648 section 4, with '=' padding),
 * encoding only: the webhook secrets handed to agencies ("whsec_" +
 * base64) and the signatures of the callbacks (Standard Webhooks); and
 * the value of a hex digit (RFC 4648 section 8: percent-decoding).
 *
 * Pure: no allocation, no I/O, safe from any thread.
 * Owns: nothing.  May call: libc.
 */
#ifndef KZ_BASE_BASE64_H
#define KZ_BASE_BASE64_H

#include <stddef.h>

/* Characters the encoding of n bytes takes (without the NUL). */
#define KZ_BASE64_LEN(n) (4 * (((n) + 2) / 3))

/* in[0..n) as base64 into out[0..cap) with a NUL; the length written
 * (KZ_BASE64_LEN(n)), or -1 when cap is too small (out then "" if cap). */
int kz_base64_encode(const void *in, size_t n, char *out, size_t cap);

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int kz_hex_value(char c);

#endif
