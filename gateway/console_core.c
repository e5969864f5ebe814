/*
 * gateway/console_core.c — the console's pure parts; see console_core.h.
 * No I/O, no clock: every time is the caller's.
 * May call: libc.
 */
#include "gateway/console_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const role_names[] = {
    [CONSOLE_NOBODY] = "nobody", [CONSOLE_VIEWER] = "viewer",
    [CONSOLE_EDITOR] = "editor", [CONSOLE_PUBLISHER] = "publisher",
    [CONSOLE_ADMIN] = "admin",
};

int console_role_parse(const char *s)
{
    for (int r = CONSOLE_VIEWER; s && r <= CONSOLE_ADMIN; r++)
        if (strcmp(s, role_names[r]) == 0)
            return r;
    return -1;
}

const char *console_role_name(int role)
{
    return role >= CONSOLE_NOBODY && role <= CONSOLE_ADMIN ? role_names[role]
                                                          : "?";
}

bool console_role_allows(int have, int need)
{
    return need <= CONSOLE_NOBODY || (have >= CONSOLE_VIEWER && have >= need);
}

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool console_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > 64 || !lower_alnum(name[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum(name[i]) && !strchr("._-@", name[i]))
            return false;
    return true;
}

const char *console_password_problem(const char *pw)
{
    size_t n = pw ? strlen(pw) : 0;
    if (n < CONSOLE_PASSWORD_MIN)
        return "too short: at least 10 characters";
    if (n > 1024)
        return "too long: at most 1024 bytes";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f)
            return "control characters are not allowed";
    return NULL;
}

void console_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

bool console_token_ok(const char *s)
{
    if (!s || strlen(s) != CONSOLE_TOKEN_HEX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

bool console_secret_eq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t n = strlen(a);
    if (n != strlen(b))
        return false;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

bool console_cookie_get(const char *header, const char *name, char *out,
                        size_t cap)
{
    size_t nl = strlen(name);
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && p[nl] == '=' && strncmp(p, name, nl) == 0) {
            size_t vl = len - nl - 1;
            while (vl && (p[nl + vl] == ' ' || p[nl + vl] == '\t'))
                vl--;           /* p[nl + vl]: the value's last byte */
            if (vl >= cap)
                return false;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

int console_cookie_format(char *out, size_t cap, const char *name,
                          const char *value, bool secure, long max_age_s)
{
    int n = snprintf(out, cap, "%s=%s; Path=/console; HttpOnly; "
                     "SameSite=Strict; Max-Age=%ld%s", name,
                     max_age_s < 0 ? "" : value, max_age_s < 0 ? 0 : max_age_s,
                     secure ? "; Secure" : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

bool console_session_live(int64_t now, int64_t last_seen, int64_t expires_at,
                          int64_t idle_ms)
{
    return now < expires_at && now - last_seen < idle_ms;
}

bool console_path_safe(const char *rel)
{
    size_t n = rel ? strlen(rel) : 0;
    if (n < 1 || n > 128)
        return false;
    bool seg_start = true;
    for (size_t i = 0; i < n; i++) {
        char c = rel[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                  c == '/';
        if (!ok)
            return false;               /* %, \, NUL-ish, spaces, ... */
        if (seg_start && (c == '/' || c == '.'))
            return false;               /* "//", "/x", ".." and ".hidden" */
        seg_start = c == '/';
    }
    return !seg_start;                  /* no trailing '/' */
}

const char *console_content_type(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".json", "application/json; charset=utf-8" },
        { ".svg", "image/svg+xml; charset=utf-8" },
        { ".txt", "text/plain; charset=utf-8" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
    };
    const char *dot = path ? strrchr(path, '.') : NULL;
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

char *console_csv_cell(const char *in)
{
    if (!in)
        in = "";
    bool formula = in[0] && strchr("=+-@\t\r", in[0]);
    bool quote = formula || strpbrk(in, ",\"\r\n") != NULL;
    size_t n = strlen(in), q = 0;
    for (size_t i = 0; i < n; i++)
        q += in[i] == '"';
    char *out = malloc(n + q + 4);
    if (!out)
        return NULL;
    char *o = out;
    if (quote)
        *o++ = '"';
    if (formula)
        *o++ = '\'';
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '"')
            *o++ = '"';
        *o++ = in[i];
    }
    if (quote)
        *o++ = '"';
    *o = '\0';
    return out;
}

/* ---- the failed-login limiter ---------------------------------------------- */

void console_limit_init(struct console_limiter *l, unsigned max,
                        uint64_t window_ms)
{
    memset(l, 0, sizeof *l);
    l->max = max ? max : 5;
    l->window_ms = window_ms ? window_ms : 15 * 60 * 1000;
}

static int limit_find(const struct console_limiter *l, const char *key)
{
    for (int i = 0; i < CONSOLE_LIMIT_SLOTS; i++)
        if (l->slot[i].n && strncmp(l->slot[i].key, key,
                                    CONSOLE_LIMIT_KEY - 1) == 0)
            return i;
    return -1;
}

uint64_t console_limit_wait(const struct console_limiter *l, const char *key,
                            uint64_t now)
{
    int i = limit_find(l, key);
    if (i < 0 || l->slot[i].n < l->max)
        return 0;
    uint64_t end = l->slot[i].start + l->window_ms;
    return now < end ? end - now : 0;
}

void console_limit_fail(struct console_limiter *l, const char *key,
                        uint64_t now)
{
    int i = limit_find(l, key);
    if (i >= 0 && now >= l->slot[i].start + l->window_ms)
        l->slot[i].n = 0;               /* its window is over: a new one */
    if (i < 0 || l->slot[i].n == 0) {
        if (i < 0) {
            i = 0;                      /* a free slot, else the oldest */
            for (int k = 0; k < CONSOLE_LIMIT_SLOTS; k++) {
                if (!l->slot[k].n) {
                    i = k;
                    break;
                }
                if (l->slot[k].start < l->slot[i].start)
                    i = k;
            }
        }
        snprintf(l->slot[i].key, sizeof l->slot[i].key, "%s", key);
        l->slot[i].start = now;
        l->slot[i].n = 0;
    }
    l->slot[i].n++;
}

void console_limit_clear(struct console_limiter *l, const char *key)
{
    int i = limit_find(l, key);
    if (i >= 0)
        memset(&l->slot[i], 0, sizeof l->slot[i]);
}

int64_t console_parse_time(const char *s, bool end_of_day)
{
    if (!s || !*s)
        return -1;
    int y, m, d;
    char tail;
    if (strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 &&
        m >= 1 && m <= 12 && d >= 1 && d <= 31 && y >= 1970 && y <= 9999) {
        struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
        int64_t ms = (int64_t)timegm(&tm) * 1000;
        return end_of_day ? ms + 86400000 - 1 : ms;
    }
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end || v < 0 ? -1 : (int64_t)v;
}
