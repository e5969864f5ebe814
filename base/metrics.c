/*
 * base/metrics.c — the metrics registry and its Prometheus text rendering
 * (the contract is in base/metrics.h).
 *
 * Layout: an array of families in registration order; each family keeps
 * its name, help, type and label names, and an array of series pointers.
 * Each series is one allocation whose address never moves, so the
 * kz_counter / kz_gauge / kz_hist handed out stay valid until
 * kz_metrics_free().  Rendering walks the families into an open_memstream
 * buffer.
 *
 * Owns: families, series, copies of every string and bound.
 * May call: base/utf8.h, libc.
 */
#include "base/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

enum kind { K_COUNTER, K_GAUGE, K_HIST, K_GAUGE_FN };

struct series {
    char *values[KZ_METRICS_LABELS_MAX];
    bool retired;
    struct kz_counter c;
    struct kz_gauge g;
    struct kz_hist h;
    kz_gauge_fn *fn;
    void *arg;
    const uint64_t *u64;        /* kz_metrics_counter_u64: read at scrape */
};

struct family {
    char *name, *help;
    enum kind kind;            /* K_GAUGE_FN renders as a gauge */
    char *labels[KZ_METRICS_LABELS_MAX];
    size_t n_labels;
    struct series **s;
    size_t n, cap;
};

struct kz_metrics {
    struct family **f;
    size_t n, cap;
};

struct kz_metrics *kz_metrics_new(void)
{
    return calloc(1, sizeof(struct kz_metrics));
}

static void series_free(struct series *s, size_t n_labels)
{
    for (size_t i = 0; i < n_labels; i++)
        free(s->values[i]);
    free((void *)s->h.le);
    free(s->h.counts);
    free(s);
}

static void family_free(struct family *f)
{
    for (size_t i = 0; i < f->n; i++)
        series_free(f->s[i], f->n_labels);
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->s);
    free(f->name);
    free(f->help);
    free(f);
}

void kz_metrics_free(struct kz_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        family_free(m->f[i]);
    free(m->f);
    free(m);
}

/* ---- registration ----------------------------------------------------- */

static int refuse(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool name_char(char c, bool first, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

/* A metric name (colon allowed) or a label name (no colon, not "__..."). */
static bool valid_name(const char *s, bool metric)
{
    if (!s || !*s || (!metric && strncmp(s, "__", 2) == 0))
        return false;
    for (const char *p = s; *p; p++)
        if (!name_char(*p, p == s, metric))
            return false;
    return true;
}

static int check_labels(const struct kz_label *l, size_t n, enum kind k,
                        char *err, size_t errlen)
{
    if (n > KZ_METRICS_LABELS_MAX || (n && !l))
        return refuse(err, errlen, "at most %d labels",
                      KZ_METRICS_LABELS_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!valid_name(l[i].name, false))
            return refuse(err, errlen, "bad label name \"%s\"",
                          l[i].name ? l[i].name : "");
        if (k == K_HIST && strcmp(l[i].name, "le") == 0)
            return refuse(err, errlen, "a histogram may not have the label "
                          "\"le\"");
        if (!l[i].value ||
            !kz_utf8_valid((const uint8_t *)l[i].value, strlen(l[i].value),
                           NULL))
            return refuse(err, errlen, "label %s: the value is not UTF-8",
                          l[i].name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(l[i].name, l[j].name) == 0)
                return refuse(err, errlen, "label %s given twice",
                              l[i].name);
    }
    return 0;
}

static bool same_kind(enum kind a, enum kind b)
{
    bool ga = a == K_GAUGE || a == K_GAUGE_FN, gb = b == K_GAUGE || b == K_GAUGE_FN;
    return a == b || (ga && gb);
}

/* Room for one more of n elements of size sz in *arr (capacity *cap,
 * doubling from first).  0, or -1 (out of memory, *arr unchanged). */
static int grow(void **arr, size_t *cap, size_t n, size_t sz, size_t first)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : first;
    void *p = realloc(*arr, c * sz);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* The family name, created when new; NULL (err) when it clashes. */
static struct family *family_get(struct kz_metrics *m, const char *name,
                                 const char *help, enum kind k,
                                 const struct kz_label *l, size_t n,
                                 char *err, size_t errlen)
{
    for (size_t i = 0; i < m->n; i++) {
        struct family *f = m->f[i];
        if (strcmp(f->name, name) != 0)
            continue;
        bool same = same_kind(f->kind, k) && strcmp(f->help, help) == 0 &&
                    f->n_labels == n;
        for (size_t j = 0; same && j < n; j++)
            same = strcmp(f->labels[j], l[j].name) == 0;
        if (!same)
            refuse(err, errlen, "%s: registered before with another type, "
                   "help or label names", name);
        return same ? f : NULL;
    }
    if (grow((void **)&m->f, &m->cap, m->n, sizeof *m->f, 16) != 0)
        return NULL;
    struct family *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->kind = k;
    f->name = strdup(name);
    f->help = strdup(help);
    bool ok = f->name && f->help;
    for (size_t j = 0; j < n; j++, f->n_labels++)
        ok = ok && (f->labels[j] = strdup(l[j].name)) != NULL;
    if (!ok) {
        family_free(f);
        return NULL;
    }
    m->f[m->n++] = f;
    return f;
}

static bool same_values(const struct series *s, const struct kz_label *l,
                        size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], l[i].value) != 0)
            return false;
    return true;
}

/* A new series of family name (created when new), or NULL (err). */
static struct series *add(struct kz_metrics *m, const char *name,
                          const char *help, enum kind k,
                          const struct kz_label *l, size_t n, char *err,
                          size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!m || !valid_name(name, true)) {
        refuse(err, errlen, "bad metric name \"%s\"", name ? name : "");
        return NULL;
    }
    if (check_labels(l, n, k, err, errlen) != 0)
        return NULL;
    struct family *f = family_get(m, name, help ? help : "", k, l, n, err,
                                  errlen);
    if (!f)
        goto nomem;
    for (size_t i = 0; i < f->n; i++) {
        struct series *old = f->s[i];
        if (!same_values(old, l, n))
            continue;
        if (old->retired && (k == K_HIST) == (old->h.counts != NULL)) {
            old->retired = false;   /* back (a link re-added on reload):
                                     * its counts go on, never down */
            return old;
        }
        refuse(err, errlen, "%s: this series is registered already", name);
        return NULL;
    }
    if (grow((void **)&f->s, &f->cap, f->n, sizeof *f->s, 4) != 0)
        goto nomem;
    struct series *s = calloc(1, sizeof *s);
    bool ok = s != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s->values[i] = strdup(l[i].value)) != NULL;
    if (!ok) {
        if (s)
            series_free(s, n);
        goto nomem;
    }
    f->s[f->n++] = s;
    return s;
nomem:
    if (err && errlen && !err[0])
        refuse(err, errlen, "out of memory");
    return NULL;
}

struct kz_counter *kz_metrics_counter(struct kz_metrics *m, const char *name,
                                      const char *help,
                                      const struct kz_label *labels,
                                      size_t n_labels, char *err,
                                      size_t errlen)
{
    struct series *s = add(m, name, help, K_COUNTER, labels, n_labels, err,
                           errlen);
    return s ? &s->c : NULL;
}

struct kz_gauge *kz_metrics_gauge(struct kz_metrics *m, const char *name,
                                  const char *help,
                                  const struct kz_label *labels,
                                  size_t n_labels, char *err, size_t errlen)
{
    struct series *s = add(m, name, help, K_GAUGE, labels, n_labels, err,
                           errlen);
    return s ? &s->g : NULL;
}

/* A series read through fn at scrape time (a gauge, or a counter). */
static int add_fn(struct kz_metrics *m, const char *name, const char *help,
                  enum kind k, const struct kz_label *labels, size_t n_labels,
                  kz_gauge_fn *fn, void *arg, char *err, size_t errlen)
{
    if (!fn)
        return refuse(err, errlen, "%s: no function", name ? name : "");
    struct series *s = add(m, name, help, k, labels, n_labels, err, errlen);
    if (!s)
        return -1;
    s->fn = fn;
    s->arg = arg;
    return 0;
}

int kz_metrics_gauge_fn(struct kz_metrics *m, const char *name,
                        const char *help, const struct kz_label *labels,
                        size_t n_labels, kz_gauge_fn *fn, void *arg,
                        char *err, size_t errlen)
{
    return add_fn(m, name, help, K_GAUGE_FN, labels, n_labels, fn, arg, err,
                  errlen);
}

int kz_metrics_counter_fn(struct kz_metrics *m, const char *name,
                          const char *help, const struct kz_label *labels,
                          size_t n_labels, kz_gauge_fn *fn, void *arg,
                          char *err, size_t errlen)
{
    return add_fn(m, name, help, K_COUNTER, labels, n_labels, fn, arg, err,
                  errlen);
}

struct kz_hist *kz_metrics_histogram(struct kz_metrics *m, const char *name,
                                     const char *help,
                                     const struct kz_label *labels,
                                     size_t n_labels, const double *le,
                                     size_t n, char *err, size_t errlen)
{
    if (!le || n == 0) {
        refuse(err, errlen, "%s: a histogram needs bucket bounds",
               name ? name : "");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(le[i]) || (i && le[i] <= le[i - 1])) {
            refuse(err, errlen, "%s: bucket bounds must be finite and "
                   "increasing", name ? name : "");
            return NULL;
        }
    struct series *s = add(m, name, help, K_HIST, labels, n_labels, err,
                           errlen);
    if (!s)
        return NULL;
    if (s->h.counts) {          /* revived: the same bounds, or refused */
        if (s->h.n == n && memcmp(s->h.le, le, n * sizeof *le) == 0)
            return &s->h;
        s->retired = true;
        refuse(err, errlen, "%s: registered before with other bounds", name);
        return NULL;
    }
    double *copy = malloc(n * sizeof *copy);
    s->h.counts = calloc(n + 1, sizeof *s->h.counts);
    if (!copy || !s->h.counts) {
        free(copy);
        free(s->h.counts);
        s->h.counts = NULL;
        s->retired = true;      /* stays owned by its family, never shown */
        refuse(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(copy, le, n * sizeof *copy);
    s->h.le = copy;
    s->h.n = n;
    return &s->h;
}

int kz_metrics_counter_u64(struct kz_metrics *m, const char *name,
                           const char *help, const struct kz_label *labels,
                           size_t n_labels, const uint64_t *p, char *err,
                           size_t errlen)
{
    if (!p)
        return refuse(err, errlen, "%s: no count", name ? name : "");
    struct series *s = add(m, name, help, K_COUNTER, labels, n_labels, err,
                           errlen);
    if (!s)
        return -1;
    s->u64 = p;
    return 0;
}

int kz_metrics_retire_range(struct kz_metrics *m, const void *base,
                            size_t size)
{
    const char *lo = base, *hi = lo + size;
    int rc = -1;
    for (size_t i = 0; m && i < m->n; i++)
        for (size_t j = 0; j < m->f[i]->n; j++) {
            struct series *s = m->f[i]->s[j];
            const char *q = s->u64 ? (const char *)s->u64
                          : s->fn ? (const char *)s->arg : NULL;
            if (q && q >= lo && q < hi) {
                s->retired = true;
                rc = 0;
            }
        }
    return rc;
}

int kz_metrics_retire(struct kz_metrics *m, const void *p)
{
    int rc = -1;
    for (size_t i = 0; m && i < m->n; i++)
        for (size_t j = 0; j < m->f[i]->n; j++) {
            struct series *s = m->f[i]->s[j];
            if (p == &s->c || p == &s->g || p == &s->h ||
                (s->fn && p == s->arg)) {
                s->retired = true;
                rc = 0;
            }
        }
    return rc;
}

/* ---- rendering -------------------------------------------------------- */

/* A float as Prometheus reads it: a whole number as one, else the
 * shortest text that reads back the same, or NaN / +Inf / -Inf. */
static void put_double(FILE *o, double v)
{
    if (isnan(v)) {
        fputs("NaN", o);
        return;
    }
    if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", o);
        return;
    }
    char b[40];
    if (v == floor(v) && fabs(v) < 1e15) {
        fprintf(o, "%.0f", v);  /* 120, not 1.2e+02 */
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v)
            break;
    }
    fputs(b, o);
}

/* HELP text: backslash and newline escaped; label values also '"'. */
static void put_escaped(FILE *o, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", o);
        else if (*s == '\n')
            fputs("\\n", o);
        else if (quote && *s == '"')
            fputs("\\\"", o);
        else
            fputc(*s, o);
    }
}

/* name{labels[,le="x"]} — suffix appended to the name, le when not NULL. */
static void put_series(FILE *o, const struct family *f,
                       const struct series *s, const char *suffix,
                       const double *le, bool inf)
{
    fputs(f->name, o);
    fputs(suffix, o);
    if (!f->n_labels && !le && !inf) {
        fputc(' ', o);
        return;
    }
    fputc('{', o);
    for (size_t i = 0; i < f->n_labels; i++) {
        fprintf(o, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_escaped(o, s->values[i], true);
        fputc('"', o);
    }
    if (le || inf) {
        fprintf(o, "%sle=\"", f->n_labels ? "," : "");
        if (inf)
            fputs("+Inf", o);
        else
            put_double(o, *le);
        fputc('"', o);
    }
    fputs("} ", o);
}

static void put_hist(FILE *o, const struct family *f, const struct series *s)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < s->h.n; i++) {
        cum += s->h.counts[i];
        put_series(o, f, s, "_bucket", &s->h.le[i], false);
        fprintf(o, "%llu\n", (unsigned long long)cum);
    }
    put_series(o, f, s, "_bucket", NULL, true);
    fprintf(o, "%llu\n", (unsigned long long)s->h.count);
    put_series(o, f, s, "_sum", NULL, false);
    put_double(o, s->h.sum);
    fputc('\n', o);
    put_series(o, f, s, "_count", NULL, false);
    fprintf(o, "%llu\n", (unsigned long long)s->h.count);
}

static void put_family(FILE *o, const struct family *f)
{
    static const char *const type[] = { "counter", "gauge", "histogram",
                                        "gauge" };
    size_t live = 0;
    for (size_t i = 0; i < f->n; i++)
        live += !f->s[i]->retired;
    if (!live)
        return;
    fprintf(o, "# HELP %s ", f->name);
    put_escaped(o, f->help, false);
    fprintf(o, "\n# TYPE %s %s\n", f->name, type[f->kind]);
    for (size_t i = 0; i < f->n; i++) {
        const struct series *s = f->s[i];
        if (s->retired)
            continue;
        if (f->kind == K_HIST) {
            put_hist(o, f, s);
            continue;
        }
        put_series(o, f, s, "", NULL, false);
        if (s->u64)
            fprintf(o, "%llu", (unsigned long long)*s->u64);
        else if (s->fn)
            put_double(o, s->fn(s->arg));
        else if (f->kind == K_COUNTER)
            fprintf(o, "%llu", (unsigned long long)s->c.v);
        else
            put_double(o, s->g.v);
        fputc('\n', o);
    }
}

char *kz_metrics_render(const struct kz_metrics *m, size_t *len_out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    if (!o)
        return NULL;
    for (size_t i = 0; m && i < m->n; i++)
        put_family(o, m->f[i]);
    bool bad = ferror(o) != 0;
    if (fclose(o) != 0 || bad) {
        free(buf);
        return NULL;
    }
    if (len_out)
        *len_out = len;
    return buf;
}
