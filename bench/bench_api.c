/*
 * bench/bench_api.c — durable accepts per second of the HTTP API
 * (gateway/api.c): POST /v1/messages answered 202 only after the group
 * commit, with K keep-alive connections each keeping one request in
 * flight, for synchronous NORMAL and FULL.
 *
 * The server runs in a forked child (its own event_base, store and API on
 * 127.0.0.1 port 0) so the client's work is not counted against it; the
 * child reports its port and a fresh token through a pipe and is stopped
 * with SIGTERM by pid; wait4() then gives its CPU time, printed as
 * microseconds of server CPU per accept: on a shared 2-vCPU machine the
 * rate moves with other people's load, the CPU per accept much less.  The
 * client is raw sockets (see "The load side"), not evhttp, which burned
 * CPU the server needed.  At the end GET /v1/health gives the number of
 * commits, so the table shows accepts per commit too.  Prints figures;
 * asserts nothing.
 *
 * Usage: bench_api [SECONDS [K...]] (default 5 s; K = 64 then 8).  With K
 * values given, each is run for NORMAL then FULL.  Environment:
 * BENCH_API_SYNC=normal|full runs only that one; BENCH_API_PLAIN=1 gives
 * the server a plain event_base (default: epoll changelist, see serve());
 * BENCH_API_PID=1 prints the server's pid on stderr (for perf record -p).
 * The database lives in a new mkdtemp directory under /tmp (removed at
 * the end).
 * Owns: its child process and directory.  May call: bench/httpc.h, gateway/api.h,
 * gateway/store.h, gateway/log.h, libevent, jansson, libc, POSIX.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "base/clock.h"
#include "bench/httpc.h"
#include "gateway/api.h"
#include "gateway/log.h"
#include "gateway/store.h"

/* Seconds on the monotonic clock (base/clock's, in microseconds). */
static double mono(void)
{
    return (double)kz_mono_us() / 1e6;
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* The child: serve until SIGTERM. */
static int serve(const char *db, enum store_sync sync, int wfd)
{
    char err[256], tok[API_TOKEN_LEN];
    struct store *st;
    log_set_level(KLOG_ERROR);
    if (store_open(db, sync, &st, err, sizeof err) != STORE_OK ||
        api_token_create(st, "bench", "*", tok, sizeof tok, err, sizeof err) !=
            STORE_OK) {
        fprintf(stderr, "server: %s\n", err);
        return 1;
    }
    /* The epoll changelist folds the add/del/add of one socket within a
     * pass into one epoll_ctl (evhttp toggles read and write interest
     * around every request); BENCH_API_PLAIN=1 measures a plain base. */
    struct event_config *cfg = event_config_new();
    if (!getenv("BENCH_API_PLAIN"))
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!base || store_attach(st, base) != STORE_OK) {   /* one commit a pass */
        fprintf(stderr, "server: cannot attach the store\n");
        return 1;
    }
    struct api_opts o = { .listen = "127.0.0.1:0", .max_body = 65536 };
    struct api *api = api_new(base, st, &o, err, sizeof err);
    if (!api) {
        fprintf(stderr, "server: %s\n", err);
        return 1;
    }
    struct event *sig = evsignal_new(base, SIGTERM, on_term, base);
    evsignal_add(sig, NULL);
    if (getenv("BENCH_API_PID"))   /* for perf record -p / strace -p */
        fprintf(stderr, "server pid %d\n", (int)getpid());
    dprintf(wfd, "%d %s\n", api_port(api), tok);
    close(wfd);
    event_base_dispatch(base);
    event_free(sig);
    store_flush(st);
    api_free(api);
    store_close(st);
    event_base_free(base);
    return 0;
}

/*
 * The load side: K raw keep-alive sockets on one event_base, one request in
 * flight on each.  Requests are formatted with snprintf and answers parsed
 * just far enough (status, Content-Length), so the client costs a fraction
 * of an evhttp client's CPU: on a 2-vCPU machine every cycle the client
 * burns is taken from the server being measured.
 */
struct client;
struct conn {
    struct client *cl;
    struct event *ev;
    evutil_socket_t fd;
    int n;
    size_t inlen;
    char in[8192];
    char last_body[512];
};
struct client {
    struct event_base *base;
    const char *token;
    double end;
    long ok, bad, inflight;
    bool health;               /* the one request in flight is GET /v1/health */
};

static int send_one(struct conn *c)
{
    char body[128], req[512];
    int blen = snprintf(body, sizeof body,
                        "{\"to\":\"+996555%06d\",\"text\":\"Арыз даяр %d\"}",
                        c->n % 1000000, c->n);
    c->n++;
    int len;
    if (c->cl->health)
        len = snprintf(req, sizeof req,
                       "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    else
        len = snprintf(req, sizeof req,
                       "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n%s",
                       c->cl->token, blen, body);
    /* A few hundred bytes into an empty socket buffer: one write does it. */
    if (send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != len)
        return -1;
    c->cl->inflight++;
    return 0;
}

/* One complete answer at the head of c->in: its length, else 0; its
 * body kept in c->last_body. */
static size_t answer_len(struct conn *c, int *status)
{
    struct http_answer a;
    size_t total = http_answer(c->in, c->inlen, &a);
    if (!total)
        return 0;
    *status = a.status;
    size_t bl = a.body_len < sizeof c->last_body ? a.body_len
                                                 : sizeof c->last_body - 1;
    memcpy(c->last_body, a.body, bl);
    c->last_body[bl] = '\0';
    return total;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    struct client *cl = c->cl;
    ssize_t r = recv(fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen, 0);
    if (r <= 0) {
        cl->bad += cl->inflight > 0;
        event_del(c->ev);
        event_base_loopbreak(cl->base);
        return;
    }
    c->inlen += (size_t)r;
    int status = 0;
    size_t n;
    while ((n = answer_len(c, &status)) > 0) {
        memmove(c->in, c->in + n, c->inlen - n);
        c->inlen -= n;
        cl->inflight--;
        if (cl->health) {
            event_base_loopbreak(cl->base);
            return;
        }
        if (status == 202)
            cl->ok++;
        else
            cl->bad++;
        if (mono() < cl->end) {
            if (send_one(c) < 0)
                cl->bad++;
        } else if (cl->inflight == 0) {
            event_base_loopbreak(cl->base);
        }
    }
}

/* A loopback connection for the event loop: non-blocking, or -1. */
static evutil_socket_t dial(int port)
{
    evutil_socket_t fd = http_dial(port);
    if (fd >= 0 && evutil_make_socket_nonblocking(fd) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void run(const char *dir, enum store_sync sync, double secs, int k)
{
    char db[300];
    snprintf(db, sizeof db, "%s/api-%d.db", dir, (int)sync);
    int fds[2];
    if (pipe(fds) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        _exit(serve(db, sync, fds[1]));
    }
    close(fds[1]);
    char line[128] = "";
    FILE *fp = fdopen(fds[0], "r");
    int port = 0;
    char token[API_TOKEN_LEN] = "";
    if (!fp || !fgets(line, sizeof line, fp) ||
        sscanf(line, "%d %67s", &port, token) != 2) {
        fprintf(stderr, "server did not start\n");
        if (fp)
            fclose(fp);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return;
    }
    fclose(fp);
    struct client cl = { .base = event_base_new(), .token = token };
    struct conn *cs = calloc((size_t)k, sizeof *cs);
    int up = 0;
    for (int i = 0; i < k; i++, up++) {
        cs[i].cl = &cl;
        cs[i].n = i * 100000;
        if ((cs[i].fd = dial(port)) < 0)
            break;
        cs[i].ev = event_new(cl.base, cs[i].fd, EV_READ | EV_PERSIST, on_read,
                             &cs[i]);
        event_add(cs[i].ev, NULL);
    }
    double c0 = cpu_self(), t0 = mono(), dt = 0, ccpu = 0;
    cl.end = t0 + secs;
    for (int i = 0; i < up; i++)
        if (send_one(&cs[i]) < 0)
            cl.bad++;
    if (up == k) {
        event_base_dispatch(cl.base);
        dt = mono() - t0;
        ccpu = cpu_self() - c0;
        cl.health = true;
        cs[0].last_body[0] = '\0';
        if (send_one(&cs[0]) == 0)
            event_base_dispatch(cl.base);
    } else {
        fprintf(stderr, "connect: only %d of %d connections\n", up, k);
    }
    json_t *j = json_loads(cs[0].last_body, 0, NULL);
    long commits = j ? (long)json_integer_value(json_object_get(j, "commits")) : 0;
    json_decref(j);
    if (dt > 0) {
        printf("%-7s K=%-4d %8.0f accepts/s  (%ld in %.2f s, %ld not 202, %ld "
               "commits, %.1f per commit; client CPU %.0f%%)\n",
               sync == STORE_SYNC_FULL ? "FULL" : "NORMAL", k, (double)cl.ok / dt,
               cl.ok, dt, cl.bad, commits,
               commits ? (double)cl.ok / (double)commits : 0.0,
               100.0 * ccpu / dt);
        fflush(stdout);
    }
    for (int i = 0; i < up; i++) {
        event_free(cs[i].ev);
        close(cs[i].fd);
    }
    free(cs);
    event_base_free(cl.base);
    kill(pid, SIGTERM);
    struct rusage ru;
    if (wait4(pid, NULL, 0, &ru) == pid && cl.ok > 0) {
        /* The server's own CPU per accept: the figure least moved by
         * other load on the machine (the rate above is not). */
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                     ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
        printf("        server CPU %.2f s = %.1f us per accept (%.0f%% of the "
               "run), %ld voluntary / %ld involuntary switches\n",
               cpu, cpu * 1e6 / (double)cl.ok, 100.0 * cpu / dt, ru.ru_nvcsw,
               ru.ru_nivcsw);
        fflush(stdout);
    }
    const char *sfx[] = { "", "-wal", "-shm" };
    for (int i = 0; i < 3; i++) {
        char p[320];
        snprintf(p, sizeof p, "%s%s", db, sfx[i]);
        unlink(p);
    }
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 5.0;
    int k = argc > 2 ? atoi(argv[2]) : 64;
    if (secs <= 0 || k <= 0)
        return 2;
    char dir[] = "/tmp/kzbenchapi.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    printf("bench_api: POST /v1/messages, durable 202s, %.0f s per run, %s\n",
           secs, dir);
    const char *only = getenv("BENCH_API_SYNC");   /* "normal" / "full" */
    if (argc > 2) {
        for (int i = 2; i < argc; i++) {
            k = atoi(argv[i]);
            if (k <= 0)
                continue;
            if (!only || strcmp(only, "normal") == 0)
                run(dir, STORE_SYNC_NORMAL, secs, k);
            if (!only || strcmp(only, "full") == 0)
                run(dir, STORE_SYNC_FULL, secs, k);
        }
    } else {
        run(dir, STORE_SYNC_NORMAL, secs, k);
        run(dir, STORE_SYNC_FULL, secs, k);
        run(dir, STORE_SYNC_NORMAL, secs, 8);
        run(dir, STORE_SYNC_FULL, secs, 8);
    }
    rmdir(dir);
    return 0;
}
