/*
 * base/sha256.h — SHA-256 (FIPS 180-4) of a buffer in one call.
 *
 * Used for API tokens (only their hash is stored) and anything else that
 * needs a digest.  Pure: no allocation, no I/O, safe from any thread.
 *
 * Owns: nothing.  May call: libc (memcpy, memmove).
 */
#ifndef KZ_BASE_SHA256_H
#define KZ_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define KZ_SHA256_LEN 32

void kz_sha256(const void *data, size_t len, uint8_t out[KZ_SHA256_LEN]);

#endif
