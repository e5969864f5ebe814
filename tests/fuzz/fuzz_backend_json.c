/*
 * tests/fuzz/fuzz_backend_json.c — libFuzzer target for fetch_json_map()
 * (gateway/fetch.h): a back-end's JSON answer mapped to dialog variables.
 *
 * Input layout: byte 0 seeds value_max (0..255) and the value buffer's
 * size; then, up to the first NUL byte, mapping paths separated by '\n'
 * (at most 8); after the NUL, the JSON body.  Without a NUL the whole rest
 * is the body and a fixed set of paths is used.  Checks, with abort() on
 * any broken property:
 *   - the result is one of FETCH_OK, FETCH_EJSON, FETCH_EPATH,
 *     FETCH_ENOSPACE, and err says why whenever it is not FETCH_OK;
 *   - on FETCH_OK every FOUND value is NUL-terminated inside the buffer,
 *     at most value_max bytes, valid UTF-8 without NUL, and no two values
 *     overlap; every other entry has no value;
 *   - a path's outcome does not depend on the other paths: each path
 *     mapped alone gives the same result;
 *   - the document re-serialised by jansson maps to the same values
 *     (reals aside: their text is only checked to read back as a number).
 * Also linked with tests/fuzz/replay.c into build/tests/replay_backend_json.
 *
 * May call: gateway/fetch.h, base/utf8 (UTF-8 check), jansson, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/utf8.h"
#include "gateway/fetch.h"
#include "tests/fuzz/fuzz.h"

#define NP_MAX 8

static const char *const fixed[] = {"$.data.status", "status", "$.items[0].n", "[1]", "$",
                                    "a.b.c"};

static char pathbuf[NP_MAX][FETCH_JSON_PATH_MAX + 2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 16))
        return 0;
    size_t value_max = data[0];
    size_t cap = ((size_t)data[0] * 7) % 600 + 1;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    const char *paths[NP_MAX];
    size_t np = 0;
    const char *body;
    size_t blen;
    const char *nul = memchr(in, '\0', n);
    if (nul) {
        const char *p = in;
        while (p < nul && np < NP_MAX) {
            const char *e = memchr(p, '\n', (size_t)(nul - p));
            if (!e)
                e = nul;
            size_t k = (size_t)(e - p);
            if (k > FETCH_JSON_PATH_MAX + 1)
                k = FETCH_JSON_PATH_MAX + 1; /* still over the limit: refused */
            memcpy(pathbuf[np], p, k);
            pathbuf[np][k] = '\0';
            paths[np] = pathbuf[np];
            np++;
            p = e + 1;
        }
        body = nul + 1;
        blen = n - (size_t)(body - in);
    } else {
        for (np = 0; np < sizeof fixed / sizeof fixed[0]; np++)
            paths[np] = fixed[np];
        body = in;
        blen = n;
    }

    char *buf = malloc(cap);
    CHECK(buf);
    struct fetch_json_value v[NP_MAX], one, again[NP_MAX];
    char err[256];
    int rc = fetch_json_map(body, blen, paths, np, value_max, buf, cap, v, err, sizeof err);
    CHECK(rc == FETCH_OK || rc == FETCH_EJSON || rc == FETCH_EPATH || rc == FETCH_ENOSPACE);
    if (rc != FETCH_OK) {
        CHECK(err[0] != '\0');
        for (size_t i = 0; i < np; i++)
            CHECK(v[i].found == FETCH_JSON_MISSING && v[i].value == NULL);
        free(buf);
        return 0;
    }
    CHECK(err[0] == '\0');
    const char *prev_end = buf;
    for (size_t i = 0; i < np; i++) {
        CHECK(v[i].found >= FETCH_JSON_FOUND && v[i].found <= FETCH_JSON_TOO_LONG);
        if (v[i].found != FETCH_JSON_FOUND) {
            CHECK(v[i].value == NULL);
            continue;
        }
        /* values are laid out in path order, without overlap */
        CHECK(v[i].value >= prev_end && v[i].value + v[i].len < buf + cap);
        CHECK(v[i].value[v[i].len] == '\0' && strlen(v[i].value) == v[i].len);
        CHECK(v[i].len <= value_max);
        CHECK(kz_utf8_valid((const uint8_t *)v[i].value, v[i].len, NULL));
        prev_end = v[i].value + v[i].len + 1;
    }

    /* each path alone, with a roomy buffer, gives the same outcome */
    static char big[4096];
    for (size_t i = 0; i < np; i++) {
        CHECK(fetch_json_map(body, blen, &paths[i], 1, value_max, big, sizeof big, &one, NULL,
                             0) == FETCH_OK);
        CHECK(one.found == v[i].found);
        if (one.found == FETCH_JSON_FOUND)
            CHECK(one.len == v[i].len && memcmp(one.value, v[i].value, one.len) == 0);
    }

    /* the same document, re-serialised, maps to the same values */
    json_error_t je;
    json_t *root = json_loadb(body, blen, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    CHECK(root);
    char *dump = json_dumps(root, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(root);
    if (dump) {
        static char buf2[4096];
        CHECK(fetch_json_map(dump, strlen(dump), paths, np, value_max, buf2, sizeof buf2, again,
                             NULL, 0) == FETCH_OK);
        for (size_t i = 0; i < np; i++) {
            if (v[i].found == FETCH_JSON_FOUND && again[i].found == FETCH_JSON_FOUND &&
                (v[i].len != again[i].len || memcmp(v[i].value, again[i].value, v[i].len))) {
                /* only a real may print differently after a round trip */
                char *end = NULL;
                (void)strtod(v[i].value, &end);
                CHECK(end && *end == '\0');
                continue;
            }
            if (v[i].found == FETCH_JSON_FOUND || again[i].found == FETCH_JSON_FOUND) {
                /* a real's text may cross value_max after re-printing */
                CHECK(v[i].found == again[i].found || v[i].found == FETCH_JSON_TOO_LONG ||
                      again[i].found == FETCH_JSON_TOO_LONG);
                continue;
            }
            CHECK(v[i].found == again[i].found);
        }
        free(dump);
    }
    free(buf);
    return 0;
}
