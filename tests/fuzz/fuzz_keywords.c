/*
 * tests/fuzz/fuzz_keywords.c — libFuzzer target for kw_parse()
 * (gateway/keywords.c), the SMS keyword parser that reads every MO text.
 *
 * Input layout: byte 0 picks the remembered language (none, ky, ru, en,
 * an unknown one), the rest is the MO text, copied into a buffer of
 * exactly its size so ASan sees any read past len.  Checks, with abort()
 * on any broken property:
 *   - the return value equals out->kw, and kw and lang are in range;
 *   - arg is empty unless the keyword is STATUS, and otherwise is 1..63 of
 *     A-Z a-z 0-9 . _ : - (what the API accepts as an application number);
 *   - parsing is deterministic;
 *   - ASCII case does not matter: the text with every ASCII letter in
 *     upper case gives the same keyword and language, and the same number
 *     up to case;
 *   - every reply text exists for the language found.
 * Also linked with tests/fuzz/replay.c into build/tests/replay_keywords.
 *
 * May call: gateway/keywords.h, libc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/keywords.h"
#include "tests/fuzz/fuzz.h"

static void check(const struct kw_parsed *p, enum kw_keyword kw)
{
    if (kw != p->kw || (int)kw < KW_NONE || kw > KW_HELP)
        abort();
    if ((int)p->lang < KW_EN || p->lang > KW_KY)
        abort();
    size_t n = strnlen(p->arg, sizeof p->arg);
    if (n >= sizeof p->arg)
        abort();
    if (kw != KW_STATUS && n != 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p->arg[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == ':' ||
              c == '-'))
            abort();
    }
    for (int t = 0; t < KW_T_COUNT; t++)
        if (!kw_text((enum kw_text)t, p->lang)[0])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const langs[] = { NULL, "ky", "ru", "en", "de" };
    if (size < 1)
        return 0;
    const char *rem = langs[data[0] % 5];
    size_t len = size - 1;
    uint8_t *text = malloc(len ? len : 1);
    uint8_t *upper = malloc(len ? len : 1);
    if (!text || !upper) {
        free(text);
        free(upper);
        return 0;
    }
    memcpy(text, data + 1, len);
    struct kw_parsed a, b, c;
    enum kw_keyword ka = kw_parse(text, len, rem, &a);
    check(&a, ka);
    enum kw_keyword kb = kw_parse(text, len, rem, &b);
    if (kb != ka || memcmp(&a, &b, sizeof a) != 0)
        abort();
    for (size_t i = 0; i < len; i++)
        upper[i] = text[i] >= 'a' && text[i] <= 'z' ? (uint8_t)(text[i] - 32)
                                                     : text[i];
    enum kw_keyword kc = kw_parse(upper, len, rem, &c);
    check(&c, kc);
    if (kc != ka || (ka != KW_NONE && c.lang != a.lang) ||
        strcasecmp(c.arg, a.arg) != 0)
        abort();
    free(text);
    free(upper);
    return 0;
}
