/*
 * smpp/sim/jsonw.c — compact JSON writer (see jsonw.h).
 *
 * Owns: the buffer being written.  May call: base/utf8, libc.
 */
#include "smpp/sim/jsonw.h"

#include "base/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_json_init(struct sim_json *j)
{
    memset(j, 0, sizeof *j);
}

static void put(struct sim_json *j, const char *s, size_t n)
{
    if (j->oom)
        return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->oom = 1;
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static int utf8_ok(const char *s)
{
    return s && kz_utf8_valid((const uint8_t *)s, strlen(s), NULL);
}

/* A JSON string: the escapes jansson writes, everything else as is. */
static void put_string(struct sim_json *j, const char *s)
{
    put(j, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(j, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"': put(j, "\\\"", 2); break;
        case '\\': put(j, "\\\\", 2); break;
        case '\b': put(j, "\\b", 2); break;
        case '\f': put(j, "\\f", 2); break;
        case '\n': put(j, "\\n", 2); break;
        case '\r': put(j, "\\r", 2); break;
        case '\t': put(j, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04X", c);
            put(j, esc, 6);
            break;
        }
        run = s + 1;
    }
    put(j, run, (size_t)(s - run));
    put(j, "\"", 1);
}

/* Start a member: the comma and the key.  0 when it is to be left out. */
static int member(struct sim_json *j, const char *key)
{
    if (j->skip)
        return 0;
    if (key && !utf8_ok(key))
        return 0;
    if (j->depth > 0) {
        if (j->more[j->depth - 1])
            put(j, ",", 1);
        j->more[j->depth - 1] = 1;
    }
    if (key) {
        put_string(j, key);
        put(j, ":", 1);
    }
    return 1;
}

static void open_container(struct sim_json *j, const char *key, char open,
                           char close)
{
    if (j->skip || j->depth >= SIM_JSON_DEPTH || !member(j, key)) {
        j->skip++;
        return;
    }
    put(j, &open, 1);
    j->more[j->depth] = 0;
    j->close[j->depth++] = close;
}

void sim_json_obj(struct sim_json *j, const char *key)
{
    open_container(j, key, '{', '}');
}

void sim_json_arr(struct sim_json *j, const char *key)
{
    open_container(j, key, '[', ']');
}

void sim_json_end(struct sim_json *j)
{
    if (j->skip) {
        j->skip--;
        return;
    }
    if (j->depth == 0) {
        j->oom = 1;                 /* unbalanced: a bug in the caller */
        return;
    }
    j->depth--;
    put(j, &j->close[j->depth], 1);
}

void sim_json_int(struct sim_json *j, const char *key, long long v)
{
    if (!member(j, key))
        return;
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", v);
    put(j, num, (size_t)n);
}

void sim_json_str(struct sim_json *j, const char *key, const char *s)
{
    if (!utf8_ok(s) || !member(j, key))
        return;
    put_string(j, s);
}

void sim_json_bool(struct sim_json *j, const char *key, int v)
{
    if (member(j, key))
        put(j, v ? "true" : "false", v ? 4 : 5);
}

void sim_json_null(struct sim_json *j, const char *key)
{
    if (member(j, key))
        put(j, "null", 4);
}

char *sim_json_done(struct sim_json *j)
{
    char *out = j->buf;
    if (j->oom || j->depth || j->skip || !out) {
        free(out);
        out = NULL;
    }
    j->buf = NULL;
    j->len = j->cap = 0;
    return out;
}
