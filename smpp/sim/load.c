/*
 * smpp/sim/load.c — the load generator of kyzmat-smsc (see load.h).
 *
 * Subscribers are MSISDNs from --from on (base + index, so an event's
 * MSISDN finds its subscriber by subtraction).  A 1 ms tick times steps
 * out and starts open-loop steps; a pacing timer wakes exactly when the
 * next open-loop step is due.  Latencies go to a log-bucket histogram.
 *
 * Owns: struct load and what hangs off it, for one sim_load_run.
 * May call: smpp/sim/smsc.h, smpp/sim/loop.h, libevent, libc, libm.
 */
#include "base/clock.h"
#include "smpp/sim/load.h"

#include "smpp/sim/loop.h"
#include "smpp/sim/smsc.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

void sim_load_defaults(struct sim_load_opts *o)
{
    memset(o, 0, sizeof *o);
    o->window = 10;
    o->msisdns = 100;
    o->from = "996555000000";
    o->to = "100";
    o->text = "load test";
    o->service = "*100#";
    o->answer = "1";
    o->step_timeout_ms = 10000;
    o->bind_wait_s = 60;
}

/*
 * Latency histogram: microseconds in log buckets, 64 linear sub-buckets per
 * power of two (HdrHistogram-like, under 1.6 % error), so N can be large.
 */
#define HIST_SUB 64
#define HIST_BUCKETS (HIST_SUB + 58 * HIST_SUB)

struct hist {
    uint64_t count, max;
    uint64_t b[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);      /* >= 6 */
    uint64_t m = v >> (e - 6);                            /* 64..127 */
    unsigned i = HIST_SUB + (e - 6) * HIST_SUB + (unsigned)(m - HIST_SUB);
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static uint64_t hist_value(unsigned i)
{
    if (i < HIST_SUB)
        return i;
    unsigned e = (i - HIST_SUB) / HIST_SUB + 6;
    uint64_t m = (i - HIST_SUB) % HIST_SUB + HIST_SUB;
    uint64_t w = 1ull << (e - 6);
    return (m << (e - 6)) + w / 2;
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

static uint64_t hist_pct(const struct hist *h, double pct)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)ceil(pct / 100.0 * (double)h->count), seen = 0;
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

struct subscriber {
    char msisdn[22];
    int busy;                    /* a step in flight */
    int in_dialog;               /* next step answers instead of dialling */
    uint64_t t0;                 /* the step's intended start (us) */
};

struct load {
    struct event_base *base;
    struct smsc *s;
    const struct sim_load_opts *o;
    unsigned long n, started, finished, ok, errors;
    unsigned window, in_flight;
    double rate;
    uint64_t t_start, t_end, bind_deadline;
    struct hist *h;
    struct subscriber *subs;
    unsigned n_subs, next_sub;
    struct event *tick;
    struct event *pace;         /* open loop: fires at the next intended start */
    int bound;
    int done;
};

static void load_finish(struct load *L)
{
    if (L->done)
        return;
    L->done = 1;
    L->t_end = kz_mono_us();
    smsc_set_observer(L->s, NULL, NULL);
    event_base_loopexit(L->base, NULL);
}

static void load_complete(struct load *L, uint64_t t0, int ok)
{
    uint64_t t = kz_mono_us();
    L->finished++;
    if (L->in_flight)
        L->in_flight--;
    if (ok) {
        L->ok++;
        hist_add(L->h, t > t0 ? t - t0 : 0);
    } else {
        L->errors++;
    }
    if (L->finished >= L->n)
        load_finish(L);
}

static struct subscriber *find_sub(struct load *L, const char *msisdn)
{
    /* MSISDNs are base + index, so the index is the difference. */
    unsigned long long base = strtoull(L->subs[0].msisdn, NULL, 10);
    unsigned long long v = strtoull(msisdn, NULL, 10);
    if (v < base || v - base >= L->n_subs)
        return NULL;
    struct subscriber *u = &L->subs[v - base];
    return strcmp(u->msisdn, msisdn) == 0 ? u : NULL;
}

/* Start one step whose intended start time is t0. 0 = started, -1 = no
 * free subscriber (USSD) right now. */
static int load_start_one(struct load *L, uint64_t t0)
{
    char err[128];
    if (!L->o->ussd && !L->o->reply) {
        char from[24];
        unsigned long long base = strtoull(L->o->from, NULL, 10);
        snprintf(from, sizeof from, "%llu",
                 base + (unsigned long long)(L->started % L->n_subs));
        L->started++;
        L->in_flight++;
        int n = smsc_mo(L->s, from, L->o->to, L->o->text, t0, err,
                        sizeof err);
        if (n > 1) {
            fprintf(stderr, "[load] --text must fit one SMS\n");
            load_finish(L);
        } else if (n < 0) {
            load_complete(L, t0, 0);
        }
        return 0;
    }
    struct subscriber *u = NULL;
    for (unsigned k = 0; k < L->n_subs; k++) {
        struct subscriber *c = &L->subs[(L->next_sub + k) % L->n_subs];
        if (!c->busy) {
            u = c;
            L->next_sub = (L->next_sub + k + 1) % L->n_subs;
            break;
        }
    }
    if (!u)
        return -1;
    L->started++;
    L->in_flight++;
    u->busy = 1;
    u->t0 = t0;
    if (L->o->reply) {
        /* the tag names the subscriber, so a refused deliver_sm ends its step */
        int n = smsc_mo(L->s, u->msisdn, L->o->to, L->o->text,
                        (uint64_t)(u - L->subs), err, sizeof err);
        if (n > 1) {
            fprintf(stderr, "[load] --text must fit one SMS\n");
            load_finish(L);
        } else if (n < 0) {
            u->busy = 0;
            load_complete(L, t0, 0);
        }
        return 0;
    }
    int rc;
    if (u->in_dialog) {
        rc = smsc_ussd(L->s, u->msisdn, "-", L->o->answer, err, sizeof err);
    } else {
        char svc[24];
        smsc_dial_service(L->o->service, svc, sizeof svc);
        rc = smsc_ussd(L->s, u->msisdn, svc, L->o->service, err, sizeof err);
    }
    if (rc != 0) {
        u->busy = 0;
        u->in_dialog = 0;
        smsc_ussd_abort(L->s, u->msisdn, err, sizeof err);
        load_complete(L, t0, 0);
    }
    return 0;
}

/* Closed loop: fill the window.  Open loop: start every step whose time
 * has come (as far as the window allows). */
static void load_pump(struct load *L)
{
    if (!L->bound || L->done)
        return;
    uint64_t t = kz_mono_us();
    while (L->started < L->n && L->in_flight < L->window && !L->done) {
        uint64_t t0 = t;
        if (L->rate > 0) {
            t0 = L->t_start + (uint64_t)((double)L->started * 1e6 / L->rate);
            if (t0 > t)
                break;
        }
        if (load_start_one(L, t0) != 0)
            break;
    }
    /* Open loop: wake exactly when the next step is due (the 1 ms tick
     * alone would start steps up to a tick late, which the latency, counted
     * from the intended time, would then show as the gateway's). */
    if (L->rate > 0 && L->pace && L->started < L->n && L->in_flight < L->window &&
        !L->done) {
        uint64_t next = L->t_start + (uint64_t)((double)L->started * 1e6 / L->rate);
        struct timeval tv = sim_tv_us(next > t ? next - t : 0);
        event_del(L->pace);
        event_add(L->pace, &tv);
    }
}

static void load_pace_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    load_pump(arg);
}

static void load_observer(void *arg, const struct smsc_event *ev)
{
    struct load *L = arg;
    switch (ev->kind) {
    case SMSC_EV_BIND:
        if (!L->bound && smsc_receivers(L->s) > 0) {
            L->bound = 1;
            L->t_start = kz_mono_us();
            fprintf(stderr, "[load] %s bound, starting %lu %s\n",
                    ev->system_id ? ev->system_id : "?", L->n,
                    L->o->ussd ? "USSD steps" :
                    L->o->reply ? "MO messages (each until its reply MT)" :
                    "MO messages");
        }
        break;
    case SMSC_EV_DELIVER_RESP:
        if (L->o->reply) {
            struct subscriber *u = ev->tag < L->n_subs ? &L->subs[ev->tag] : NULL;
            if (ev->status != 0 && u && u->busy) {
                u->busy = 0;
                load_complete(L, u->t0, 0);
            }
        } else if (!L->o->ussd) {
            load_complete(L, ev->tag, ev->status == 0);
        }
        break;
    case SMSC_EV_SMS: {
        if (!L->o->reply || !ev->to)
            break;
        /* the reply's destination is the MO's sender (a '+' may be added) */
        struct subscriber *u = find_sub(L, ev->to[0] == '+' ? ev->to + 1 : ev->to);
        if (u && u->busy) {
            u->busy = 0;
            load_complete(L, u->t0, 1);
        }
        break;
    }
    case SMSC_EV_USSD:
    case SMSC_EV_USSD_TIMEOUT: {
        if (!L->o->ussd)
            break;
        struct subscriber *u = find_sub(L, ev->to);
        if (!u || !u->busy) {
            if (u && ev->kind == SMSC_EV_USSD_TIMEOUT)
                u->in_dialog = 0;
            break;
        }
        u->busy = 0;
        u->in_dialog = ev->kind == SMSC_EV_USSD &&
                       ev->ussd == SMSC_USSD_CONTINUE;
        load_complete(L, u->t0, ev->kind == SMSC_EV_USSD);
        break;
    }
    default:
        break;
    }
    load_pump(L);
}

static void load_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct load *L = arg;
    uint64_t t = kz_mono_us();
    if (!L->bound) {
        if (t > L->bind_deadline) {
            fprintf(stderr, "[load] no ESME bound within %u s\n",
                    L->o->bind_wait_s);
            load_finish(L);
        }
        return;
    }
    if (L->o->ussd || L->o->reply) {
        /* a step without an answer in --step-timeout is an error */
        uint64_t limit = (uint64_t)L->o->step_timeout_ms * 1000u;
        char err[64];
        for (unsigned i = 0; i < L->n_subs && !L->done; i++) {
            struct subscriber *u = &L->subs[i];
            if (u->busy && t > u->t0 + limit) {
                u->busy = 0;
                u->in_dialog = 0;
                if (L->o->ussd)
                    smsc_ussd_abort(L->s, u->msisdn, err, sizeof err);
                load_complete(L, u->t0, 0);
            }
        }
    }
    load_pump(L);
}

/* The report on stdout; the last line is for scripts (bench.sh). */
static void load_report(const struct load *L)
{
    const struct sim_load_opts *o = L->o;
    double el = L->bound ? (double)(L->t_end - L->t_start) / 1e6 : 0.0;
    double tput = el > 0 ? (double)L->ok / el : 0.0;
    double p50 = (double)hist_pct(L->h, 50) / 1000.0;
    double p90 = (double)hist_pct(L->h, 90) / 1000.0;
    double p99 = (double)hist_pct(L->h, 99) / 1000.0;
    double mx = (double)L->h->max / 1000.0;
    printf("mode: %s, %s, window %u\n",
           o->ussd ? "USSD steps" : o->reply ? "MO SMS -> reply MT" : "MO SMS",
           L->rate > 0 ? "open loop" : "closed loop", L->window);
    if (L->rate > 0)
        printf("rate: %.1f /s intended\n", L->rate);
    printf("count: %lu\nok: %lu\nerrors: %lu\n", L->finished, L->ok, L->errors);
    printf("elapsed: %.3f s\nthroughput: %.1f /s\n", el, tput);
    printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", p50, p90,
           p99, mx);
    printf("RESULT n=%lu ok=%lu err=%lu elapsed_s=%.3f tput=%.1f p50_ms=%.3f "
           "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
           L->finished, L->ok, L->errors, el, tput, p50, p90, p99, mx);
    fflush(stdout);
}

int sim_load_run(struct event_base *base, struct smsc *s,
                 const struct sim_load_opts *o)
{
    struct load L;
    memset(&L, 0, sizeof L);
    L.base = base;
    L.s = s;
    L.o = o;
    L.n = o->n;
    L.window = o->window;
    L.rate = o->rate;
    L.n_subs = o->msisdns;
    L.h = calloc(1, sizeof *L.h);
    L.subs = calloc(L.n_subs, sizeof *L.subs);
    L.tick = event_new(base, -1, EV_PERSIST, load_tick_cb, &L);
    L.pace = evtimer_new(base, load_pace_cb, &L);
    if (!L.h || !L.subs || !L.tick || !L.pace) {
        fprintf(stderr, "kyzmat-smsc: out of memory\n");
        free(L.h);
        free(L.subs);
        sim_event_free(&L.tick);
        sim_event_free(&L.pace);
        return 1;
    }
    unsigned long long first = strtoull(o->from, NULL, 10);
    for (unsigned i = 0; i < L.n_subs; i++)
        snprintf(L.subs[i].msisdn, sizeof L.subs[i].msisdn, "%llu", first + i);
    L.bind_deadline = kz_mono_us() + (uint64_t)o->bind_wait_s * 1000000u;
    smsc_set_observer(s, load_observer, &L);
    /* 1 ms tick: open-loop pacing and step timeouts */
    struct timeval tv = { 0, 1000 };
    event_add(L.tick, &tv);
    if (smsc_receivers(s) > 0) {
        L.bound = 1;
        L.t_start = kz_mono_us();
    }
    fprintf(stderr, "[load] waiting for a bind (up to %u s)\n", o->bind_wait_s);
    load_pump(&L);
    event_base_dispatch(base);
    smsc_set_observer(s, NULL, NULL);
    if (!L.t_end)
        L.t_end = kz_mono_us();
    load_report(&L);
    int rc = 0;
    if (!L.bound || L.finished < L.n || L.ok == 0)
        rc = 1;                /* never bound, cut short, or nothing worked */
    event_free(L.tick);
    event_free(L.pace);
    free(L.h);
    free(L.subs);
    return rc;
}
