/*
 * bench/bench_dialogs.c — figures for the dialog store (gateway/dialogs).
 *
 * What it measures: USSD-like steps per second, one step = GET of the
 * subscriber's dialog, then (from the GET's callback, as the gateway does)
 * SET of a VALUE-byte blob with the session TTL.  N steps are kept in
 * flight on N distinct subscribers (N = 1, 16, 128, 1024), for SECONDS
 * each, against the memory back-end and against a redis-server that the
 * benchmark starts on a free 127.0.0.1 port (or REDIS_URL, if set, e.g.
 * redis://127.0.0.1:6379/0).  Printed per run: steps/s, store ops/s, step
 * latency p50/p99/max, failures, and the CPU seconds used by this process
 * and by the redis-server it started (so "steps per core" can be read off:
 * the target is 25,000 steps/s for the whole gateway on 2 cores).
 * Figures only; asserts nothing.
 *
 * Usage: bench_dialogs [SECONDS [VALUE]] — defaults 2 and 200.
 * Owns: the redis-server it starts (stopped by pid at the end).
 * May call: gateway/dialogs.h, tests/unit/redis_helper.h, libevent, libc.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/event.h>

#include "base/clock.h"
#include "gateway/dialogs.h"
#include "tests/unit/redis_helper.h"

#define MAX_LAT 4000000

struct run;

struct slot {
    struct run *run;
    char key[DIALOGS_KEY_MAX + 1];
    size_t keylen;
    uint64_t t0_us;
};

struct run {
    struct dialogs *d;
    struct event_base *base;
    const uint8_t *value;
    size_t vlen;
    uint64_t end_us;
    uint64_t steps, failures;
    int active;
    uint32_t *lat;
    size_t nlat;
};

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime+stime of another process from /proc, in seconds; 0 if unknown. */
static double cpu_of(pid_t pid)
{
    if (pid <= 0)
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long ut = 0, st = 0;
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void start_step(struct slot *s);

static void set_done(void *arg, const struct dialogs_result *res)
{
    struct slot *s = arg;
    struct run *r = s->run;
    if (res->status == DIALOGS_OK) {
        r->steps++;
        if (r->nlat < MAX_LAT) {
            uint64_t l = kz_mono_us() - s->t0_us;
            r->lat[r->nlat++] = l > UINT32_MAX ? UINT32_MAX : (uint32_t)l;
        }
    } else {
        r->failures++;
    }
    start_step(s);
}

static void get_done(void *arg, const struct dialogs_result *res)
{
    struct slot *s = arg;
    struct run *r = s->run;
    if (res->status != DIALOGS_OK && res->status != DIALOGS_NOT_FOUND) {
        r->failures++;
        start_step(s);
        return;
    }
    if (dialogs_set(r->d, s->key, s->keylen, r->value, r->vlen, 180000,
                    set_done, s) != 0) {
        r->failures++;
        r->active--;
    }
}

static void start_step(struct slot *s)
{
    struct run *r = s->run;
    uint64_t t = kz_mono_us();
    if (t >= r->end_us) {
        r->active--;
        if (r->active == 0)
            event_base_loopbreak(r->base);
        return;
    }
    s->t0_us = t;
    if (dialogs_get(r->d, s->key, s->keylen, get_done, s) != 0) {
        r->failures++;
        r->active--;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool wait_up(struct event_base *base, struct dialogs *d)
{
    uint64_t end = kz_mono_us() + 5000000u;
    while (dialogs_state(d) != DIALOGS_UP && kz_mono_us() < end) {
        struct timeval tv = { 0, 10000 };
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    return dialogs_state(d) == DIALOGS_UP;
}

static void bench(const char *what, const char *url, pid_t server, int inflight,
                  double seconds, const uint8_t *value, size_t vlen,
                  uint32_t *lat)
{
    struct event_base *base = event_base_new();
    char err[256];
    struct dialogs *d = dialogs_new(base, url, NULL, err, sizeof err);
    if (!d) {
        fprintf(stderr, "bench_dialogs: %s\n", err);
        event_base_free(base);
        return;
    }
    if (!wait_up(base, d)) {
        printf("%-8s %5d  store never came up\n", what, inflight);
        dialogs_free(d);
        event_base_free(base);
        return;
    }
    struct slot *slots = calloc((size_t)inflight, sizeof *slots);
    struct run r = { d, base, value, vlen, 0, 0, 0, inflight, lat, 0 };
    for (int i = 0; i < inflight; i++) {
        slots[i].run = &r;
        char msisdn[24];
        snprintf(msisdn, sizeof msisdn, "99655%07d", i);
        slots[i].keylen = (size_t)dialogs_key(slots[i].key, sizeof slots[i].key,
                                              DIALOGS_KEY_DIALOG, msisdn, NULL);
    }
    double c0 = cpu_self(), s0 = cpu_of(server);
    uint64_t t0 = kz_mono_us();
    r.end_us = t0 + (uint64_t)(seconds * 1e6);
    for (int i = 0; i < inflight; i++)
        start_step(&slots[i]);
    event_base_dispatch(base);
    double el = (double)(kz_mono_us() - t0) / 1e6;
    double cpu = cpu_self() - c0, scpu = cpu_of(server) - s0;
    qsort(lat, r.nlat, sizeof *lat, cmp_u32);
    uint32_t p50 = r.nlat ? lat[r.nlat / 2] : 0;
    uint32_t p99 = r.nlat ? lat[r.nlat * 99 / 100] : 0;
    uint32_t mx = r.nlat ? lat[r.nlat - 1] : 0;
    double sps = (double)r.steps / el;
    printf("%-8s %5d %10.0f %10.0f %8u %8u %8u %6llu %6.2f %6.2f %10.0f\n", what,
           inflight, sps, 2 * sps, p50, p99, mx, (unsigned long long)r.failures,
           cpu, scpu, cpu + scpu > 0 ? (double)r.steps / (cpu + scpu) : 0.0);
    free(slots);
    dialogs_free(d);
    event_base_free(base);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    size_t vlen = argc > 2 ? (size_t)atol(argv[2]) : 200;
    if (seconds <= 0)
        seconds = 2.0;
    if (vlen > DIALOGS_VALUE_MAX)
        vlen = DIALOGS_VALUE_MAX;
    uint8_t *value = malloc(vlen ? vlen : 1);
    for (size_t i = 0; i < vlen; i++)
        value[i] = (uint8_t)(i * 31 + 7);
    uint32_t *lat = malloc(sizeof *lat * MAX_LAT);

    const char *env = getenv("REDIS_URL");
    char url[128];
    pid_t pid = -1;
    if (env && *env) {
        snprintf(url, sizeof url, "%s", env);
    } else {
        int port = -1;
        for (int i = 0; i < 5 && pid <= 0; i++) {
            port = rh_free_port();
            pid = rh_start(port);
        }
        if (pid <= 0) {
            fprintf(stderr, "bench_dialogs: cannot start redis-server\n");
            return 1;
        }
        snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    }
    printf("dialog store: one step = GET + SET of %zu bytes; %.1f s per run; redis at %s\n",
           vlen, seconds, url + 8);
    printf("%-8s %5s %10s %10s %8s %8s %8s %6s %6s %6s %10s\n", "store", "N",
           "steps/s", "ops/s", "p50 us", "p99 us", "max us", "fail", "cpu", "rcpu",
           "steps/cpu-s");
    const int ns[] = { 1, 16, 128, 1024 };
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        bench("memory", "", -1, ns[i], seconds, value, vlen, lat);
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        bench("redis", url, pid, ns[i], seconds, value, vlen, lat);
    printf("cpu = this process, rcpu = the redis-server (only when started here), "
           "steps/cpu-s = steps per CPU second of both\n");
    rh_stop(pid);
    free(lat);
    free(value);
    return 0;
}
