/*
 * gateway/mdiff.c — a line diff between two menu sets; see mdiff.h.
 *
 * Per file: split both texts into lines (each keeps its '\n'; the last
 * may lack one), trim the common head and tail, match the middle with a
 * longest-common-subsequence table (suffix lengths, MDIFF_CELLS at most)
 * and walk it into an edit script (' ', '-', '+' per line), then print
 * the script's changes in hunks with MDIFF_CONTEXT lines around them
 * (hunks closer than twice that merge).  Output goes to one growing
 * buffer that stops taking lines at its bound.
 * Owns: nothing between calls.
 * May call: libc.
 */
#include "gateway/mdiff.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
    char *p;
    size_t n, cap, max;
    bool full, oom;
};

struct line {
    const char *p;
    size_t n;                  /* with its '\n' when it has one */
};

struct op {
    char kind;                 /* ' ', '-', '+' */
    size_t a, b;               /* line index in old (' ', '-'), new (' ', '+') */
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->oom)
        return;
    if (o->max && o->n + n > o->max) {
        o->full = true;
        return;
    }
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* text -> lines (malloc'd array in *out); returns the count, or
 * SIZE_MAX when out of memory. */
static size_t split(const char *t, size_t len, struct line **out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (t[i] == '\n')
            n++;
    if (len && t[len - 1] != '\n')
        n++;
    *out = malloc((n ? n : 1) * sizeof **out);
    if (!*out)
        return SIZE_MAX;
    size_t k = 0, start = 0;
    for (size_t i = 0; i < len; i++)
        if (t[i] == '\n') {
            (*out)[k++] = (struct line){ t + start, i + 1 - start };
            start = i + 1;
        }
    if (start < len)
        (*out)[k++] = (struct line){ t + start, len - start };
    return n;
}

static bool same(const struct line *x, const struct line *y)
{
    return x->n == y->n && memcmp(x->p, y->p, x->n) == 0;
}

/* The middle a[0..n) x b[0..m) as ops appended at *k. */
static int middle(const struct line *a, size_t n, const struct line *b,
                  size_t m, size_t a0, size_t b0, struct op *ops, size_t *k)
{
    uint32_t *t = NULL;
    if (n && m && (n + 1) <= MDIFF_CELLS / (m + 1))
        t = calloc((n + 1) * (m + 1), sizeof *t);
    if (!t) {                  /* too big (or nothing to match): whole */
        for (size_t i = 0; i < n; i++)
            ops[(*k)++] = (struct op){ '-', a0 + i, b0 };
        for (size_t j = 0; j < m; j++)
            ops[(*k)++] = (struct op){ '+', a0 + n, b0 + j };
        return 0;
    }
#define T(i, j) t[(size_t)(i) * (m + 1) + (j)]
    for (size_t i = n; i-- > 0;)
        for (size_t j = m; j-- > 0;)
            T(i, j) = same(&a[i], &b[j]) ? T(i + 1, j + 1) + 1
                      : T(i + 1, j) >= T(i, j + 1) ? T(i + 1, j) : T(i, j + 1);
    size_t i = 0, j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && same(&a[i], &b[j])) {
            ops[(*k)++] = (struct op){ ' ', a0 + i++, b0 + j++ };
        } else if (i < n && (j == m || T(i + 1, j) >= T(i, j + 1))) {
            ops[(*k)++] = (struct op){ '-', a0 + i++, b0 + j };   /* '-' first */
        } else {
            ops[(*k)++] = (struct op){ '+', a0 + i, b0 + j++ };
        }
    }
#undef T
    free(t);
    return 0;
}

static void put_line(struct out *o, char kind, const struct line *l)
{
    char k[1] = { kind };
    put(o, k, 1);
    put(o, l->p, l->n);
    if (!l->n || l->p[l->n - 1] != '\n')
        puts_(o, "\n\\ No newline at end of file\n");
}

/* The hunks of ops[0..k). */
static void hunks(struct out *o, const struct op *ops, size_t k,
                  const struct line *a, const struct line *b)
{
    size_t i = 0;
    while (i < k) {
        while (i < k && ops[i].kind == ' ')
            i++;
        if (i == k)
            return;
        size_t s = i > MDIFF_CONTEXT ? i - MDIFF_CONTEXT : 0, e = i;
        /* extend over changes closer than 2 * context */
        for (size_t gap = 0; e < k && gap <= 2 * MDIFF_CONTEXT; e++)
            gap = ops[e].kind == ' ' ? gap + 1 : 0;
        while (e > i && ops[e - 1].kind == ' ')
            e--;
        e = e + MDIFF_CONTEXT < k ? e + MDIFF_CONTEXT : k;
        size_t na = 0, nb = 0;
        for (size_t x = s; x < e; x++) {
            na += ops[x].kind != '+';
            nb += ops[x].kind != '-';
        }
        char h[96];
        snprintf(h, sizeof h, "@@ -%zu,%zu +%zu,%zu @@\n",
                 ops[s].a + (na ? 1 : 0), na, ops[s].b + (nb ? 1 : 0), nb);
        puts_(o, h);
        for (size_t x = s; x < e; x++)
            put_line(o, ops[x].kind, ops[x].kind == '+' ? &b[ops[x].b]
                                                         : &a[ops[x].a]);
        i = e;
    }
}

/* One file: old text (NULL: added) to new (NULL: removed). */
static int file_diff(struct out *o, const char *name, const char *ta,
                     size_t la, const char *tb, size_t lb)
{
    struct line *a = NULL, *b = NULL;
    size_t n = split(ta ? ta : "", ta ? la : 0, &a);
    size_t m = split(tb ? tb : "", tb ? lb : 0, &b);
    struct op *ops = n != SIZE_MAX && m != SIZE_MAX
                         ? malloc((n + m + 1) * sizeof *ops) : NULL;
    if (!ops) {
        free(a);
        free(b);
        return -1;
    }
    size_t h = 0, k = 0;
    while (h < n && h < m && same(&a[h], &b[h]))
        h++;
    size_t t = 0;
    while (t < n - h && t < m - h && same(&a[n - 1 - t], &b[m - 1 - t]))
        t++;
    for (size_t i = 0; i < h; i++)
        ops[k++] = (struct op){ ' ', i, i };
    middle(a + h, n - h - t, b + h, m - h - t, h, h, ops, &k);
    for (size_t i = 0; i < t; i++)
        ops[k++] = (struct op){ ' ', n - t + i, m - t + i };
    if (h < n || h < m) {
        char hd[2 * 80 + 32];
        snprintf(hd, sizeof hd, "--- %s%.64s\n+++ %s%.64s\n",
                 ta ? "a/" : "/dev/null", ta ? name : "",
                 tb ? "b/" : "/dev/null", tb ? name : "");
        puts_(o, hd);
        hunks(o, ops, k, a, b);
    }
    free(ops);
    free(a);
    free(b);
    return 0;
}

static const struct mdiff_file *find(const struct mdiff_file *v, size_t n,
                                     const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

/* The next name after prev (NULL: the first) in either set, or NULL. */
static const char *next_name(const struct mdiff_file *x, size_t nx,
                             const struct mdiff_file *y, size_t ny,
                             const char *prev)
{
    const char *best = NULL;
    for (size_t s = 0; s < 2; s++) {
        const struct mdiff_file *v = s ? y : x;
        size_t n = s ? ny : nx;
        for (size_t i = 0; i < n; i++)
            if ((!prev || strcmp(v[i].name, prev) > 0) &&
                (!best || strcmp(v[i].name, best) < 0))
                best = v[i].name;
    }
    return best;
}

int mdiff_sets(const struct mdiff_file *old, size_t no,
               const struct mdiff_file *new_, size_t nn, size_t max,
               char **out)
{
    struct out o = { .max = max };
    *out = NULL;
    put(&o, "", 0);
    if (!o.p && !(o.p = calloc(1, 1)))
        return -1;
    for (const char *name = next_name(old, no, new_, nn, NULL); name;
         name = next_name(old, no, new_, nn, name)) {
        const struct mdiff_file *a = find(old, no, name), *b = find(new_, nn, name);
        if (file_diff(&o, name, a ? a->text : NULL, a ? a->len : 0,
                      b ? b->text : NULL, b ? b->len : 0) != 0)
            o.oom = true;
        if (o.full || o.oom)
            break;
    }
    if (o.full) {
        o.full = false;
        o.max = 0;
        puts_(&o, "... diff truncated\n");
    }
    if (o.oom) {
        free(o.p);
        return -1;
    }
    *out = o.p;
    return 0;
}
