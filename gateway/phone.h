/*
 * gateway/phone.h — the one phone-number rule of the gateway: what a
 * citizen's number looks like once it is stored.
 *
 * What it does: phone_canon() turns a number as an agency, an SMSC or a
 * USSD dialect writes it into the canonical form every table keys on:
 * international digits without '+' ("996555123456").  "+996555123456"
 * and the Kyrgyz local form "0555123456" map to it; other numbers are
 * E.164 (8..15 digits, no leading 0).  A Kyrgyz number (996...) must have
 * exactly 12 digits.  Used by the HTTP API (every "to" and "owner"), the
 * SMS keywords (the sender of STATUS/STOP/...), USSD (the dialling phone
 * against an application's owner) and the booking dialog.
 *
 * Masking a number for the log is not here: gateway/log.h's log_mask()
 * is the one masking rule.
 *
 * Owns nothing; pure (no I/O, no allocation, no state); re-entrant.
 * May call: libc only.
 */
#ifndef KYZMAT_GATEWAY_PHONE_H
#define KYZMAT_GATEWAY_PHONE_H

#include <stddef.h>

/* Bytes of the longest canonical number with its NUL (15 digits). */
#define PHONE_CANON_MAX 16

/*
 * phone_canon — the canonical form of s (see top) into out[0..cap);
 * returns 0, or -1 when s is not a phone number or out is too small (out
 * is then "" when cap > 0).  s may be NULL (-1).  Idempotent: the
 * canonical form of a canonical number is itself.
 */
int phone_canon(const char *s, char *out, size_t cap);

#endif
