/*
 * gateway/template.c — agency SMS templates: kinds, placeholders and the
 * one renderer (see template.h for the rules and who uses them).
 *
 * Design.  A placeholder is recognised the same way by the check
 * (template_unknown) and by the renderer (placeholder_len), so what the
 * API accepts is exactly what gets filled.  Rendering writes through a
 * small sink that either counts (to size template_render_dup's string) or
 * copies, and stops at the first piece that does not fit, cutting it
 * before a UTF-8 continuation byte.
 *
 * Owns nothing.  May call: libc only.
 */
#include "gateway/template.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

const char *const template_langs[TEMPLATE_LANG_COUNT] = { "ky", "ru", "en" };

static const char *const status_placeholders[] = { "number", "status", "note",
                                                   NULL };
static const char *const booking_placeholders[] = {
    "service", "office", "address", "place", "day", "date", "time", "ticket",
    NULL
};

int template_lang_index(const char *lang)
{
    for (int i = 0; i < TEMPLATE_LANG_COUNT; i++)
        if (lang && strcmp(lang, template_langs[i]) == 0)
            return i;
    return -1;
}

bool template_is_booking(const char *status)
{
    return status && strncmp(status, TEMPLATE_BOOKING_PREFIX,
                             strlen(TEMPLATE_BOOKING_PREFIX)) == 0;
}

const char *const *template_placeholders(const char *status)
{
    return template_is_booking(status) ? booking_placeholders
                                       : status_placeholders;
}

static bool is_placeholder_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Length of the name when p (at a '{') starts a {name}; else 0. */
static size_t placeholder_len(const char *p)
{
    size_t n = 0;
    while (n <= TEMPLATE_PLACEHOLDER_MAX && is_placeholder_char(p[1 + n]))
        n++;
    if (n == 0 || n > TEMPLATE_PLACEHOLDER_MAX || p[1 + n] != '}')
        return 0;
    return n;
}

const char *template_next(const char *text, size_t *len)
{
    for (const char *p = text; (p = strchr(p, '{')) != NULL; p++)
        if ((*len = placeholder_len(p)) > 0)
            return p + 1;
    return NULL;   /* any other brace is ordinary text */
}

const char *template_unknown(const char *status, const char *text,
                             size_t *len)
{
    const char *const *ok = template_placeholders(status);
    size_t n;
    for (const char *p = text; (p = template_next(p, &n)) != NULL; p += n) {
        bool known = false;
        for (size_t i = 0; ok[i] && !known; i++)
            known = strlen(ok[i]) == n && strncmp(p, ok[i], n) == 0;
        if (!known) {
            *len = n;
            return p;
        }
    }
    return NULL;
}

/* Where rendered text goes: out == NULL only counts. */
struct sink {
    char *out;
    size_t cap, n;
    bool full;
};

static void emit(struct sink *k, const char *s, size_t len)
{
    if (k->full)
        return;
    if (!k->out) {
        k->n += len;
        return;
    }
    if (len > k->cap - 1 - k->n) {
        len = k->cap - 1 - k->n;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;                 /* never cut a UTF-8 character */
        k->full = true;
    }
    memcpy(k->out + k->n, s, len);
    k->n += len;
    k->out[k->n] = '\0';
}

static const char *value_of(const struct template_var *vars, size_t nv,
                            const char *name, size_t len)
{
    for (size_t i = 0; i < nv; i++)
        if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
            return vars[i].value ? vars[i].value : "";
    return NULL;
}

static void render(const char *tmpl, const struct template_var *vars,
                   size_t nv, struct sink *k)
{
    const char *lit = tmpl;
    for (const char *p = tmpl; (p = strchr(p, '{')) != NULL;) {
        size_t n = placeholder_len(p);
        const char *val = n ? value_of(vars, nv, p + 1, n) : NULL;
        if (!val) {
            p++;                   /* kept as it is */
            continue;
        }
        emit(k, lit, (size_t)(p - lit));
        emit(k, val, strlen(val));
        p += n + 2;
        lit = p;
    }
    emit(k, lit, strlen(lit));
}

size_t template_render(const char *tmpl, const struct template_var *vars,
                       size_t n, char *out, size_t cap)
{
    if (!out || cap == 0)
        return 0;
    struct sink k = { out, cap, 0, false };
    out[0] = '\0';
    render(tmpl, vars, n, &k);
    return k.n;
}

char *template_render_dup(const char *tmpl, const struct template_var *vars,
                          size_t n)
{
    struct sink count = { NULL, 0, 0, false };
    render(tmpl, vars, n, &count);
    char *out = malloc(count.n + 1);
    if (out)
        template_render(tmpl, vars, n, out, count.n + 1);
    return out;
}

char *template_render_status(const char *tmpl, const char *number,
                             const char *status, const char *note)
{
    const struct template_var v[] = {
        { "number", number }, { "status", status }, { "note", note },
    };
    return template_render_dup(tmpl, v, sizeof v / sizeof v[0]);
}
