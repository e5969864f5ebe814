/*
 * tests/fuzz/fuzz_mdiff.c — libFuzzer target for the menu-set line diff
 * (gateway/mdiff.h, issue 10 publish).
 *
 * Input: old text, a NUL byte, new text (no NUL: old is the whole input
 * and new is empty).  Both go in as one file "m.yaml"; the pair is also
 * diffed as an added and as a removed file.
 * Checks, with abort() on any broken property:
 *   - unbounded, the diff applied to old (a small applier here: hunk
 *     headers, ' ' and '-' lines matched against old, '+' lines taken,
 *     "\ No newline" honoured) gives new exactly, and equal texts give "";
 *   - bounded to a few hundred octets, the output is at most the bound
 *     plus the truncation line, and ends with '\n' when not empty;
 *   - nothing leaks or overruns (ASan in the fuzz build).
 * Also linked with tests/fuzz/replay.c into build/tests/replay_mdiff.
 * May call: gateway/mdiff.h, libc.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/mdiff.h"
#include "tests/fuzz/fuzz.h"

struct text {
    char *p;
    size_t n;
};

static void add(struct text *t, const char *s, size_t n)
{
    t->p = realloc(t->p, t->n + n + 1);
    CHECK(t->p != NULL);
    memcpy(t->p + t->n, s, n);
    t->n += n;
}

/* The length of old's line at *at (with its '\n'). */
static size_t line_len(const char *old, size_t olen, size_t at)
{
    const char *nl = memchr(old + at, '\n', olen - at);
    return nl ? (size_t)(nl - (old + at)) + 1 : olen - at;
}

/* Apply the unified diff d (one file) to old; the result in *out. */
static void apply(const char *d, const char *old, size_t olen, struct text *out)
{
    size_t at = 0;             /* octet offset in old */
    size_t line = 0;           /* old's lines consumed */
    char last = 0;
    unsigned long ro = 0, rn = 0;   /* lines left in the hunk */
    while (*d) {
        const char *e = strchr(d, '\n');
        CHECK(e != NULL);
        size_t n = (size_t)(e - d);
        bool in_hunk = ro || rn;
        if (!in_hunk && (!strncmp(d, "--- ", 4) || !strncmp(d, "+++ ", 4))) {
            last = 0;
        } else if (!in_hunk && !strncmp(d, "@@ -", 4)) {
            unsigned long a, b, c;
            CHECK(sscanf(d, "@@ -%lu,%lu +%*u,%lu", &a, &b, &c) == 3);
            ro = b;
            rn = c;
            size_t upto = b ? a - 1 : a;
            CHECK(upto >= line);
            while (line < upto) {
                size_t l = line_len(old, olen, at);
                add(out, old + at, l);
                at += l;
                line++;
            }
            last = 0;
        } else if (d[0] == ' ' || d[0] == '-') {
            CHECK(at < olen);
            size_t l = line_len(old, olen, at);
            bool nl = old[at + l - 1] == '\n';
            CHECK(l - nl == n - 1 && memcmp(old + at, d + 1, n - 1) == 0);
            if (d[0] == ' ')
                add(out, old + at, l);
            CHECK(ro > 0 && (d[0] == '-' || rn > 0));
            ro--;
            rn -= d[0] == ' ';
            at += l;
            line++;
            last = d[0];
        } else if (d[0] == '+') {
            CHECK(rn > 0);
            rn--;
            add(out, d + 1, n - 1);
            add(out, "\n", 1);
            last = '+';
        } else {
            CHECK(!strncmp(d, "\\ No newline at end of file", n));
            if (last == '+') {
                CHECK(out->n > 0 && out->p[out->n - 1] == '\n');
                out->n--;
            }
        }
        d = e + 1;
    }
    CHECK(ro == 0 && rn == 0);
    add(out, old + at, olen - at);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *z = memchr(s, 0, size);
    size_t na = z ? (size_t)(z - s) : size;
    const char *b = z ? z + 1 : "";
    size_t nb = z ? size - na - 1 : 0;
    struct mdiff_file fa = { "m.yaml", s, na }, fb = { "m.yaml", b, nb };
    char *out = NULL;
    if (mdiff_sets(&fa, 1, &fb, 1, 0, &out) != 0)
        return 0;              /* out of memory */
    CHECK(out != NULL);
    /* lines holding a NUL cannot be shown as text (mdiff.h: texts hold
     * none; the output is a C string), so only check texts without one */
    if (!memchr(b, 0, nb)) {
        struct text t = { NULL, 0 };
        add(&t, "", 0);
        apply(out, s, na, &t);
        CHECK(t.n == nb && memcmp(t.p, b, nb) == 0);
        free(t.p);
    }
    if (na == nb && memcmp(s, b, na) == 0)
        CHECK(out[0] == '\0');
    free(out);
    size_t max = 64 + (size ? data[0] : 0);
    CHECK(mdiff_sets(&fa, 1, &fb, 1, max, &out) == 0 || out == NULL);
    if (out) {
        size_t n = strlen(out);
        CHECK(n <= max + strlen("... diff truncated\n"));
        CHECK(n == 0 || out[n - 1] == '\n' || memchr(b, 0, nb));
        free(out);
    }
    /* added and removed whole */
    if (mdiff_sets(NULL, 0, &fb, 1, 4096, &out) == 0)
        free(out);
    if (mdiff_sets(&fa, 1, NULL, 0, 4096, &out) == 0)
        free(out);
    return 0;
}
