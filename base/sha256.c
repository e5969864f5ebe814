/*
 * base/sha256.c — SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104); see
 * sha256.h.
 *
 * Owns: nothing.  May call: libc (memcpy, memmove).
 */
#include "base/sha256.h"

#include <string.h>

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

static uint32_t ror32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha_block(uint32_t h[8], const uint8_t b[64])
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t v[8];
    memcpy(v, h, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ror32(v[4], 6) ^ ror32(v[4], 11) ^ ror32(v[4], 25);
        uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t t1 = v[7] + S1 + ch + sha_k[i] + w[i];
        uint32_t S0 = ror32(v[0], 2) ^ ror32(v[0], 13) ^ ror32(v[0], 22);
        uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        uint32_t t2 = S0 + maj;
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        h[i] += v[i];
}

void kz_sha256_init(struct kz_sha256_ctx *c)
{
    static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(c->h, h0, sizeof h0);
    c->n = 0;
    c->len = 0;
}

void kz_sha256_update(struct kz_sha256_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->len += len;
    if (c->n) {
        size_t take = 64 - c->n < len ? 64 - c->n : len;
        memcpy(c->buf + c->n, p, take);
        c->n += take;
        p += take;
        len -= take;
        if (c->n < 64)
            return;
        sha_block(c->h, c->buf);
        c->n = 0;
    }
    while (len >= 64) {
        sha_block(c->h, p);
        p += 64;
        len -= 64;
    }
    memcpy(c->buf, p, len);
    c->n = len;
}

void kz_sha256_final(struct kz_sha256_ctx *c, uint8_t out[KZ_SHA256_LEN])
{
    uint8_t last[128] = { 0 };
    memcpy(last, c->buf, c->n);
    last[c->n] = 0x80;
    size_t total = c->n + 9 <= 64 ? 64 : 128;
    uint64_t bits = c->len * 8;
    for (int i = 0; i < 8; i++)
        last[total - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha_block(c->h, last);
    if (total == 128)
        sha_block(c->h, last + 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void kz_sha256(const void *data, size_t len, uint8_t out[KZ_SHA256_LEN])
{
    struct kz_sha256_ctx c;
    kz_sha256_init(&c);
    kz_sha256_update(&c, data, len);
    kz_sha256_final(&c, out);
}

/* ---- HMAC-SHA256 (RFC 2104) ------------------------------------------------ */

void kz_hmac_sha256_init(struct kz_hmac_sha256 *m, const void *key, size_t klen)
{
    uint8_t k[64] = { 0 }, pad[64];
    if (klen > sizeof k)
        kz_sha256(key, klen, k);        /* a long key is hashed first */
    else if (klen)
        memcpy(k, key, klen);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    kz_sha256_init(&m->inner);
    kz_sha256_update(&m->inner, pad, sizeof pad);
    for (int i = 0; i < 64; i++)
        m->okey[i] = k[i] ^ 0x5c;
}

void kz_hmac_sha256_update(struct kz_hmac_sha256 *m, const void *data, size_t len)
{
    kz_sha256_update(&m->inner, data, len);
}

void kz_hmac_sha256_final(struct kz_hmac_sha256 *m, uint8_t out[KZ_SHA256_LEN])
{
    uint8_t ih[KZ_SHA256_LEN];
    kz_sha256_final(&m->inner, ih);
    struct kz_sha256_ctx o;
    kz_sha256_init(&o);
    kz_sha256_update(&o, m->okey, sizeof m->okey);
    kz_sha256_update(&o, ih, sizeof ih);
    kz_sha256_final(&o, out);
}

void kz_hmac_sha256(const void *key, size_t klen, const void *data, size_t len,
                    uint8_t out[KZ_SHA256_LEN])
{
    struct kz_hmac_sha256 m;
    kz_hmac_sha256_init(&m, key, klen);
    kz_hmac_sha256_update(&m, data, len);
    kz_hmac_sha256_final(&m, out);
}
