/*
 * base/metrics.h — a registry of counters, gauges and histograms, written
 * out in the Prometheus text exposition format (version 0.0.4).
 *
 * What it does: modules register their series once (at start-up or when a
 * link or menu set appears) and get a pointer back; an event then costs a
 * plain add through that pointer: no lock, no allocation, no lookup.  A
 * scrape renders every family with its HELP and TYPE lines, series in
 * registration order, label values escaped, histogram buckets cumulative
 * with +Inf, _sum and _count.
 *
 * Names follow Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*, label names without
 * ':' and not starting "__".  Registration refuses a bad name, a family
 * registered again with another type, help or label names, and a series
 * registered twice, and a label value that is not UTF-8 (NULL and a
 * reason in err).  What label VALUES say is the caller's business: never
 * a phone number or free text (they would make one series per citizen);
 * quotes, backslashes and newlines in them are escaped as the format asks.
 *
 * Gauges are either set (kz_gauge_set) or read at scrape time from a
 * function (kz_metrics_gauge_fn: queue depth, resident memory), so a value
 * that is costly to keep current costs nothing between scrapes.
 *
 * Ownership: the registry owns every family, series and label string; the
 * pointers it hands out live until kz_metrics_free().  A series can be
 * retired (kz_metrics_retire: a link removed on reload) and is then left
 * out of scrapes; its memory stays until kz_metrics_free(), so a pointer a
 * module still holds never dangles.  Registering a retired series again
 * (the link back) revives it, with its counts: a counter never goes down.
 *
 * Threads: one registry belongs to one thread (the event loop).
 *
 * Owns: the registry.  May call: libc (allocation, formatting).
 */
#ifndef KZ_BASE_METRICS_H
#define KZ_BASE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct kz_metrics;

/* A counter: only ever goes up (kz_counter_add).  Read with ->v. */
struct kz_counter {
    uint64_t v;
};

/* A gauge that is set (kz_gauge_set / add). */
struct kz_gauge {
    double v;
};

/* A histogram: observations counted in buckets by upper bound. */
struct kz_hist {
    const double *le;          /* n upper bounds, increasing */
    size_t n;
    uint64_t *counts;          /* n + 1: the last is above every bound */
    uint64_t count;
    double sum;
};

/* One label: name="value". */
struct kz_label {
    const char *name;
    const char *value;
};

#define KZ_METRICS_LABELS_MAX 6

struct kz_metrics *kz_metrics_new(void);
void kz_metrics_free(struct kz_metrics *m);

/* Register a series; labels[0..n_labels) (n_labels <= KZ_METRICS_LABELS_MAX,
 * the same names in the same order for every series of a family).  NULL on
 * a refusal (the reason in err[0..errlen)) or no memory. */
struct kz_counter *kz_metrics_counter(struct kz_metrics *m, const char *name,
                                      const char *help,
                                      const struct kz_label *labels,
                                      size_t n_labels, char *err,
                                      size_t errlen);
struct kz_gauge *kz_metrics_gauge(struct kz_metrics *m, const char *name,
                                  const char *help,
                                  const struct kz_label *labels,
                                  size_t n_labels, char *err, size_t errlen);
/* le[0..n) strictly increasing and finite, n >= 1; the registry keeps its
 * own copy. */
struct kz_hist *kz_metrics_histogram(struct kz_metrics *m, const char *name,
                                     const char *help,
                                     const struct kz_label *labels,
                                     size_t n_labels, const double *le,
                                     size_t n, char *err, size_t errlen);
/* A gauge read at scrape time: fn(arg).  0, or -1 (err says why). */
typedef double kz_gauge_fn(void *arg);
int kz_metrics_gauge_fn(struct kz_metrics *m, const char *name,
                        const char *help, const struct kz_label *labels,
                        size_t n_labels, kz_gauge_fn *fn, void *arg,
                        char *err, size_t errlen);
/* A counter read at scrape time from a count the module keeps anyway (a
 * stats struct): fn(arg) must never go down while the series lives. */
int kz_metrics_counter_fn(struct kz_metrics *m, const char *name,
                          const char *help, const struct kz_label *labels,
                          size_t n_labels, kz_gauge_fn *fn, void *arg,
                          char *err, size_t errlen);

/* A counter read at scrape time from *p, a count a module keeps in its
 * stats struct (which must outlive the series or retire it first). */
int kz_metrics_counter_u64(struct kz_metrics *m, const char *name,
                           const char *help, const struct kz_label *labels,
                           size_t n_labels, const uint64_t *p, char *err,
                           size_t errlen);

/* Leave out of scrapes every series read through a pointer into
 * [base, base + size) (a u64 counter's count, a function series' arg):
 * what a module registered over its own struct.  0, or -1 when none. */
int kz_metrics_retire_range(struct kz_metrics *m, const void *base,
                            size_t size);

/* Leave the series whose value pointer is p (any of the above; for
 * function gauges, every one whose arg is p) out of scrapes from now on.
 * 0, or -1 when p is no series of m. */
int kz_metrics_retire(struct kz_metrics *m, const void *p);

static inline void kz_counter_add(struct kz_counter *c, uint64_t n)
{
    c->v += n;
}

static inline void kz_gauge_set(struct kz_gauge *g, double v)
{
    g->v = v;
}

/* Count one observation: a scan of the bounds, no allocation. */
static inline void kz_hist_observe(struct kz_hist *h, double v)
{
    if (v != v)
        return;                 /* NaN: not an observation */
    size_t i = 0;
    while (i < h->n && v > h->le[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

/* The exposition: a NUL-terminated malloc'd text (*len_out its length, may
 * be NULL), or NULL when out of memory.  The caller frees it. */
char *kz_metrics_render(const struct kz_metrics *m, size_t *len_out);

#endif
