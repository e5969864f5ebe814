/*
 * bench/bench_store.c — figures for the storage module (gateway/store.c).
 *
 * What it measures, on the disk holding the benchmark directory:
 *  1. durable enqueues per second with one commit per batch of B messages
 *     (B = 1, 10, 100, 1000), with synchronous NORMAL and FULL (one commit =
 *     one loop pass of the gateway);
 *  2. filling the outbox with ROWS queued messages in one transaction;
 *  3. restart: store_open() to the first claimed row with ROWS queued, after
 *     a clean close and after the filling process died by SIGKILL (the WAL
 *     is then recovered at open);
 *  4. store_claim_due(100) latency with ROWS queued (claim + mark_submitted
 *     of the 100 in one batch per pass, like the sender would).
 * Prints a table; asserts nothing (figures, not tests).
 *
 * Usage: bench_store [DIR] — DIR defaults to a new mkdtemp directory under
 * /tmp, removed at the end.  ROWS=N in the environment (default 1000000).
 * Owns: its database files.  May call: gateway/store.h, libc, POSIX.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "gateway/store.h"

static char dir[256];

/* Seconds on the monotonic clock (base/clock's, in microseconds). */
static double mono(void)
{
    return (double)kz_mono_us() / 1e6;
}

static void rm_db(const char *path)
{
    const char *sfx[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static struct store *open_or_die(const char *path, enum store_sync sync)
{
    struct store *st = NULL;
    char err[256];
    if (store_open(path, sync, &st, err, sizeof err) != STORE_OK ||
        store_attach(st, NULL) != STORE_OK) {   /* batches, flushed here */
        fprintf(stderr, "bench_store: %s\n", err);
        exit(1);
    }
    return st;
}

static struct store_msg_new sample(int64_t now, int64_t i)
{
    static char to[24];
    snprintf(to, sizeof to, "99670%07lld", (long long)(i % 10000000));
    struct store_msg_new m = { 0 };
    m.client = "gov";
    m.to = to;
    m.text = "Your application 2026-000123 is ready for collection at "
             "office 4. Bring your ID.";
    m.lang = "en";
    m.not_before = now;
    m.expires_at = now + 86400000;
    return m;
}

static void check(struct store *st, int rc, const char *what)
{
    if (rc != STORE_OK) {
        fprintf(stderr, "bench_store: %s: %s (%s)\n", what,
                store_rc_name(rc), store_errmsg(st));
        exit(1);
    }
}

/* Enqueue in batches of b for about `seconds`; returns messages per second. */
static double enqueue_rate(enum store_sync sync, int b, double seconds,
                           double *commits_per_s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/enq.db", dir);
    rm_db(path);
    struct store *st = open_or_die(path, sync);
    int64_t n = 0, commits = 0;
    double t0 = mono(), t;
    do {
        int64_t now = kz_wall_ms();
        for (int i = 0; i < b; i++) {
            struct store_msg_new m = sample(now, n + i);
            check(st, store_enqueue(st, &m, now, NULL), "enqueue");
        }
        check(st, store_flush(st), "commit");
        n += b;
        commits++;
        t = mono() - t0;
    } while (t < seconds);
    store_close(st);
    rm_db(path);
    *commits_per_s = (double)commits / t;
    return (double)n / t;
}

static void fill(const char *path, int64_t rows, int64_t now)
{
    struct store *st = open_or_die(path, STORE_SYNC_NORMAL);
    for (int64_t i = 0; i < rows; i++) {
        struct store_msg_new m = sample(now, i);
        /* spread due times over the last hour, all due now */
        m.not_before = 0;
        check(st, store_enqueue(st, &m, now - 3600000 + i % 3600000, NULL),
              "enqueue");
    }
    check(st, store_flush(st), "commit");
    store_close(st);
}

/* store_open() to the first claimed row; returns ms, *open_ms the open. */
static double restart_ms(const char *path, double *open_ms)
{
    double t0 = mono();
    struct store *st = open_or_die(path, STORE_SYNC_NORMAL);
    double t1 = mono();
    struct store_msg *c[100];
    size_t n = 0;
    check(st, store_claim_due(st, kz_wall_ms(), 30000, c, 100, &n), "claim");
    double t2 = mono();
    if (n == 0) {
        fprintf(stderr, "bench_store: nothing claimed after restart\n");
        exit(1);
    }
    /* give them back so the next run finds the same queue */
    for (size_t i = 0; i < n; i++) {
        check(st, store_mark_retry(st, c[i]->id, c[i]->next_attempt_at, 0,
                                   true, kz_wall_ms(), NULL), "retry");
        store_msg_free(c[i]);
    }
    store_close(st);
    *open_ms = (t1 - t0) * 1e3;
    return (t2 - t0) * 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    bool own_dir = argc < 2;
    if (own_dir) {
        snprintf(dir, sizeof dir, "/tmp/kzbench.XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    } else {
        snprintf(dir, sizeof dir, "%s", argv[1]);
    }
    int64_t rows = 1000000;
    const char *r = getenv("ROWS");
    if (r && atoll(r) > 0)
        rows = atoll(r);

    printf("bench_store: SQLite store in %s\n\n", dir);
    printf("1. durable enqueues, one commit per batch of B (about 2 s each)\n");
    printf("   %-8s %6s %14s %12s\n", "sync", "B", "messages/s", "commits/s");
    const int bs[] = { 1, 10, 100, 1000 };
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < 4; i++) {
            double cps = 0;
            double mps = enqueue_rate(s ? STORE_SYNC_FULL : STORE_SYNC_NORMAL,
                                      bs[i], 2.0, &cps);
            printf("   %-8s %6d %14.0f %12.0f\n", s ? "FULL" : "NORMAL",
                   bs[i], mps, cps);
            fflush(stdout);
        }
    }

    char path[512];
    snprintf(path, sizeof path, "%s/million.db", dir);
    rm_db(path);
    int64_t now = kz_wall_ms();
    double t0 = mono();
    fill(path, rows, now);
    double fill_s = mono() - t0;
    printf("\n2. fill: %lld queued rows in one transaction: %.2f s"
           " (%.0f rows/s)\n", (long long)rows, fill_s,
           (double)rows / fill_s);

    printf("\n3. restart with %lld queued rows: open -> first claimed row\n",
           (long long)rows);
    for (int i = 0; i < 3; i++) {
        double om = 0, tm = restart_ms(path, &om);
        printf("   clean close, run %d: open %.1f ms, first claim after"
               " %.1f ms\n", i + 1, om, tm);
    }
    /* a process that enqueues more and dies by SIGKILL: WAL recovery */
    pid_t pid = fork();
    if (pid == 0) {
        struct store *st = open_or_die(path, STORE_SYNC_NORMAL);
        for (int i = 0; i < 1000; i++) {
            struct store_msg_new m = sample(now, i);
            if (store_enqueue(st, &m, now, NULL) != STORE_OK)
                _exit(3);
        }
        if (store_flush(st) != STORE_OK)
            _exit(4);
        struct store_msg *c[100];
        size_t n = 0;
        store_claim_due(st, kz_wall_ms(), 30000, c, 100, &n);
        raise(SIGKILL);
        _exit(5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) {
        fprintf(stderr, "bench_store: child did not die by signal\n");
        return 1;
    }
    double om = 0, tm = restart_ms(path, &om);
    printf("   after kill -9 of the writer:  open %.1f ms, first claim after"
           " %.1f ms\n", om, tm);

    printf("\n4. claim_due(100) + mark_submitted in one batch, %lld rows"
           " queued\n", (long long)rows);
    struct store *st = open_or_die(path, STORE_SYNC_NORMAL);
    enum { PASSES = 500 };
    double *lat = malloc(PASSES * sizeof *lat), *pass = malloc(PASSES *
                                                              sizeof *pass);
    if (!lat || !pass)
        return 1;
    for (int i = 0; i < PASSES; i++) {
        struct store_msg *c[100];
        size_t n = 0;
        double a = mono();
        double b = mono();      /* the batch opens with the claim's write */
        check(st, store_claim_due(st, kz_wall_ms(), 30000, c, 100, &n), "claim");
        double e = mono();
        for (size_t k = 0; k < n; k++) {
            char id[24];
            snprintf(id, sizeof id, "%llx", (unsigned long long)c[k]->id);
            check(st, store_mark_submitted(st, c[k]->id, "bench", id,
                                           kz_wall_ms()), "submitted");
            store_msg_free(c[k]);
        }
        check(st, store_flush(st), "commit");
        lat[i] = (e - b) * 1e3;
        pass[i] = (mono() - a) * 1e3;
    }
    store_close(st);
    qsort(lat, PASSES, sizeof *lat, cmp_double);
    qsort(pass, PASSES, sizeof *pass, cmp_double);
    printf("   claim_due:           p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
           lat[PASSES / 2], lat[PASSES * 99 / 100], lat[PASSES - 1]);
    printf("   whole pass (commit): p50 %.3f ms  p99 %.3f ms  max %.3f ms"
           "  (%.0f messages/s)\n", pass[PASSES / 2], pass[PASSES * 99 / 100],
           pass[PASSES - 1], 100.0 / (pass[PASSES / 2] / 1e3));
    free(lat);
    free(pass);

    if (own_dir) {
        rm_db(path);
        rmdir(dir);
    }
    return 0;
}
