/*
 * base/gsm0338.h — the one GSM 03.38 default alphabet (3GPP TS 23.038
 * §6.2.1) and its extension table (§6.2.1.1), both directions.
 *
 * Contract: septet <-> Unicode code point, one character at a time.  The
 * SMS codec (smpp/text.c) and the USSD screen fitter (menus/screen.c) both
 * ask this table, so what a screen is measured at is what the link sends.
 * Pure, const tables: no allocation, no I/O, safe from any thread.
 *
 * Owns: nothing.  May call: nothing.  Includes nothing of the project.
 */
#ifndef KZ_BASE_GSM0338_H
#define KZ_BASE_GSM0338_H

#include <stdint.h>

#define KZ_GSM_ESC 0x1B /* escape to the extension table */
#define KZ_GSM_CR 0x0D

/* Code point of septet s (0x00-0x7F) in the default alphabet.  0x1B (ESC)
 * reads as a space, as it shows when it stands alone. */
uint32_t kz_gsm_to_ucs(uint8_t s);

/* Code point of the septet c after ESC, or 0 when c is not in the
 * extension table (the receiver then shows kz_gsm_to_ucs(c)). */
uint32_t kz_gsm_ext_to_ucs(uint8_t c);

/* Septets for code point cp: 1 (out[0]), 2 (out[0] = ESC, out[1] = code),
 * or 0 when GSM 03.38 cannot write it (out untouched). */
unsigned kz_gsm_from_ucs(uint32_t cp, uint8_t out[2]);

/* Septets for code point cp (0, 1 or 2) without writing them. */
unsigned kz_gsm_septets(uint32_t cp);

#endif
