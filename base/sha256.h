/*
 * base/sha256.h — SHA-256 (FIPS 180-4) of a buffer, in one call or in
 * pieces, and HMAC-SHA256 (RFC 2104) on top of it.
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

/* The same in pieces: init, update any number of times, final. */
struct kz_sha256_ctx {
    uint32_t h[8];
    uint8_t buf[64];
    size_t n;                 /* bytes in buf */
    uint64_t len;             /* bytes so far */
};
void kz_sha256_init(struct kz_sha256_ctx *c);
void kz_sha256_update(struct kz_sha256_ctx *c, const void *data, size_t len);
void kz_sha256_final(struct kz_sha256_ctx *c, uint8_t out[KZ_SHA256_LEN]);

/* HMAC-SHA256 (RFC 2104; RFC 4231's vectors in tests/unit/test_base.c):
 * signs the gateway's callbacks (Standard Webhooks).  A key longer than a
 * block (64 bytes) is hashed first.  One call, or in pieces. */
void kz_hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
                    uint8_t out[KZ_SHA256_LEN]);
struct kz_hmac_sha256 {
    struct kz_sha256_ctx inner;
    uint8_t okey[64];
};
void kz_hmac_sha256_init(struct kz_hmac_sha256 *m, const void *key, size_t klen);
void kz_hmac_sha256_update(struct kz_hmac_sha256 *m, const void *data, size_t len);
void kz_hmac_sha256_final(struct kz_hmac_sha256 *m, uint8_t out[KZ_SHA256_LEN]);

#endif
