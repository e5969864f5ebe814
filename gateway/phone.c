/*
 * gateway/phone.c — the canonical phone number (see phone.h for the rule
 * and who uses it).  Moved out of gateway/api.c so that the keywords,
 * USSD and booking call the rule itself rather than the HTTP edge.
 *
 * Owns nothing.  May call: libc only.
 */
#include "gateway/phone.h"

#include <stdbool.h>
#include <string.h>

int phone_canon(const char *s, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    if (!s)
        return -1;
    bool plus = false;
    const char *p = s;
    if (*p == '+') {
        plus = true;
        p++;
    }
    size_t n = strlen(p);
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return -1;
    if (!plus && n == 10 && p[0] == '0') {   /* Kyrgyz local: 0XXXXXXXXX */
        if (cap < 13)
            return -1;
        memcpy(out, "996", 3);
        memcpy(out + 3, p + 1, 9);
        out[12] = '\0';
        return 0;
    }
    if (n < 8 || n > 15 || p[0] == '0')
        return -1;
    if (strncmp(p, "996", 3) == 0 && n != 12)
        return -1;
    if (cap < n + 1)
        return -1;
    memcpy(out, p, n + 1);
    return 0;
}
